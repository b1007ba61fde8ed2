"""The encrypted secrets file derives its key (Argon2, about a second on purpose) once per process,
not once per secret: a dozen client tokens stored or read cost one derivation. The file stays one
that keyrings.cryptfile itself reads, and a wrong key still opens nothing."""

from __future__ import annotations

from pathlib import Path

import argon2.low_level
import pytest

from core.platform import secrets
from tests.test_first_run_secrets import first_run  # noqa: F401  (a fixture)

TOKENS = {f"bison.workspace.{i}": f"{i}|SandboxTokenValue{i:04d}abcdef" for i in range(1, 13)}


@pytest.fixture
def derivations(monkeypatch) -> list[bytes]:
    """The salt of every Argon2 key derivation made from now on."""
    calls: list[bytes] = []
    real = argon2.low_level.hash_secret_raw

    def counted(**kwargs):
        calls.append(kwargs["salt"])
        return real(**kwargs)

    monkeypatch.setattr(argon2.low_level, "hash_secret_raw", counted)
    return calls


def fresh_process() -> None:
    """What a new process starts from: no keyring object, nothing cached."""
    secrets._backend = None
    secrets._backend_key = None
    secrets._cache.clear()


def test_a_dozen_secrets_cost_one_key_derivation(first_run, empty_db, derivations):  # noqa: F811
    for name, value in TOKENS.items():
        secrets.set_secret(empty_db, name, value, kind="bison_token", actor="t")
    assert secrets.store_status().state == "key_file"
    assert len(derivations) == 1, derivations  # the new file's reference value, then every token

    fresh_process()
    derivations.clear()
    assert {name: secrets.get_secret(name) for name in TOKENS} == TOKENS
    assert len(derivations) == 1, derivations

    # The file is keyrings.cryptfile's own: its stock keyring opens it with the key and reads the
    # values (two of them: stock, each read is a derivation).
    from keyrings.cryptfile.cryptfile import CryptFileKeyring

    stock = CryptFileKeyring()
    stock.file_path = str(secrets.store_file_path())
    stock.keyring_key = Path(secrets.key_file_path()).read_text().strip()
    some = dict(list(TOKENS.items())[:2])
    assert {n: stock.get_password(secrets.SERVICE, n) for n in some} == some
    # …and what it writes (a salt of its own) this store reads.
    stock.set_password(secrets.SERVICE, "debounce.main", "DebounceKeyFromStock0001")
    fresh_process()
    assert secrets.get_secret("debounce.main") == "DebounceKeyFromStock0001"

    # A wrong key opens nothing, cached keys or not.
    other = secrets._file_keyring()
    other.file_path = str(secrets.store_file_path())
    with pytest.raises(ValueError):
        other.keyring_key = "not-the-key-" + "x" * 20
