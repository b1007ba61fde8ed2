"""The credentials vault: API tokens and passwords live in a keyring, never in the DuckDB file.

Backends, in order:

* ``LEADOPS_KEYRING=system`` (or auto, when the OS offers one): the OS keyring through `keyring`
  (macOS Keychain, Windows Credential Locker, Secret Service on a Linux desktop).
* ``LEADOPS_KEYRING=cryptfile`` (or auto on a headless server with no OS keyring): an encrypted
  file (`keyrings.cryptfile`, AES-GCM with an Argon2-derived key) at ``LEADOPS_KEYRING_FILE``
  (default ``data/secrets.cfg``), unlocked with ``LEADOPS_KEYRING_PASSWORD``.

The store keeps only a reference per secret (name, kind, last 4 characters) in `secret_refs`, so
pages can show "…a1b2" without ever reading the value.
"""

from __future__ import annotations

import os
import secrets as pysecrets
import threading
from pathlib import Path

import keyring
import keyring.backend
import polars as pl

from core.platform import audit
from core.platform.store import Database, fetch_one

SERVICE = "leadops"


class SecretsUnavailable(RuntimeError):
    """No keyring can be used; the message says how to configure one."""


_lock = threading.Lock()
_backend: keyring.backend.KeyringBackend | None = None
_backend_key: tuple | None = None
_cache: dict[str, str] = {}


def _config_key() -> tuple:
    return (
        os.environ.get("LEADOPS_KEYRING", "auto"),
        os.environ.get("LEADOPS_KEYRING_FILE", str(Path("data") / "secrets.cfg")),
        os.environ.get("LEADOPS_KEYRING_PASSWORD"),
    )


def _system_backend() -> keyring.backend.KeyringBackend | None:
    """The OS keyring (Keychain, Credential Locker, Secret Service, KWallet) if one works here.

    File-based backends that register themselves with `keyring` (such as keyrings.cryptfile,
    which would prompt for a password) are not OS keyrings and are skipped.
    """
    from keyring.backends import chainer, fail

    kr = keyring.get_keyring()
    candidates = kr.backends if isinstance(kr, chainer.ChainerBackend) else [kr]
    for b in candidates:
        if isinstance(b, fail.Keyring | chainer.ChainerBackend):
            continue
        if type(b).__module__.startswith("keyring.backends.") and b.priority > 0:
            return b
    return None


def _cryptfile(path: str, password: str | None) -> keyring.backend.KeyringBackend:
    if not password:
        raise SecretsUnavailable(
            "No OS keyring is available on this machine. Set LEADOPS_KEYRING_PASSWORD (the "
            "master password of the encrypted secrets file) and optionally LEADOPS_KEYRING_FILE "
            "(default data/secrets.cfg) to use the encrypted-file keyring."
        )
    from keyrings.cryptfile.cryptfile import CryptFileKeyring

    kr = CryptFileKeyring()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    kr.file_path = str(Path(path).resolve())
    kr.keyring_key = password
    return kr


def backend() -> keyring.backend.KeyringBackend:
    global _backend, _backend_key
    key = _config_key()
    with _lock:
        if _backend is not None and _backend_key == key:
            return _backend
        mode, path, password = key
        system = _system_backend() if mode in ("system", "auto") else None
        if mode == "system" and system is None:
            raise SecretsUnavailable("LEADOPS_KEYRING=system, but this machine has no OS keyring.")
        if system is not None:
            _backend = system
        elif mode in ("cryptfile", "auto"):
            _backend = _cryptfile(path, password)
        else:
            raise SecretsUnavailable(
                f"LEADOPS_KEYRING must be auto, system or cryptfile, not {mode!r}."
            )
        _backend_key = key
        _cache.clear()
        return _backend


def describe_backend() -> str:
    try:
        kr = backend()
    except SecretsUnavailable as exc:
        return f"unavailable: {exc}"
    name = type(kr).__name__
    path = getattr(kr, "file_path", None)
    return f"{name} ({path})" if path else name


def generate(prefix: str = "", nbytes: int = 32) -> str:
    """A new random secret (`nbytes` of randomness, URL-safe), e.g. a webhook signing secret.
    Whoever generates it shows it once and stores it with :func:`set_secret`."""
    return prefix + pysecrets.token_urlsafe(nbytes)


def last4(value: str) -> str:
    return value[-4:] if len(value) >= 8 else "****"


def mask(last_four: str) -> str:
    return f"…{last_four}"


def set_secret(db: Database, name: str, value: str, *, kind: str, actor: str) -> str:
    """Store a secret and its reference; returns the masked form to show from now on."""
    value = value.strip()
    if not value:
        raise ValueError(f"The secret for {name} is empty.")
    kr = backend()
    kr.set_password(SERVICE, name, value)
    with _lock:
        _cache[name] = value
    tail = last4(value)
    with db.transaction() as cur:
        before = fetch_one(cur, "SELECT last4 FROM secret_refs WHERE name = ?", [name])
        cur.execute(
            "INSERT INTO secret_refs (name, kind, last4, updated_by) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, last4 = excluded.last4,"
            " updated_at = now(), updated_by = excluded.updated_by",
            [name, kind, tail, actor],
        )
        audit.record(
            cur,
            actor=actor,
            action="secret.replace" if before else "secret.add",
            entity="secret",
            entity_id=name,
            before={"last4": mask(before[0])} if before else None,
            after={"kind": kind, "last4": mask(tail)},
        )
    return mask(tail)


def get_secret(name: str) -> str | None:
    kr = backend()  # first: a changed configuration empties the cache
    with _lock:
        if name in _cache:
            return _cache[name]
    value = kr.get_password(SERVICE, name)
    if value is not None:
        with _lock:
            _cache[name] = value
    return value


def delete_secret(db: Database, name: str, *, actor: str) -> None:
    try:
        backend().delete_password(SERVICE, name)
    except keyring.errors.PasswordDeleteError:
        pass
    with _lock:
        _cache.pop(name, None)
    with db.transaction() as cur:
        before = fetch_one(cur, "SELECT kind, last4 FROM secret_refs WHERE name = ?", [name])
        cur.execute("DELETE FROM secret_refs WHERE name = ?", [name])
        audit.record(
            cur,
            actor=actor,
            action="secret.delete",
            entity="secret",
            entity_id=name,
            before={"kind": before[0], "last4": mask(before[1])} if before else None,
        )


def list_refs(db: Database) -> pl.DataFrame:
    return db.query(
        "SELECT name, kind, '…' || last4 AS value, updated_at, updated_by FROM secret_refs ORDER BY name"
    )


def known_values() -> list[str]:
    """Secret values this process has seen (for redaction in logs and error messages)."""
    with _lock:
        return [v for v in _cache.values() if v]


def bison_token_name(workspace_id: int) -> str:
    return f"bison.workspace.{workspace_id}"
