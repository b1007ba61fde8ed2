"""The credentials vault: API tokens and passwords live in a keyring, never in the DuckDB file.

Backends, in order:

* ``LEADOPS_KEYRING=system`` (or auto, when the OS offers one): the OS keyring through `keyring`
  (macOS Keychain, Windows Credential Locker, Secret Service on a Linux desktop).
* ``LEADOPS_KEYRING=cryptfile`` (or auto on a headless server with no OS keyring): an encrypted
  file (`keyrings.cryptfile`, AES-GCM with an Argon2-derived key) at ``LEADOPS_KEYRING_FILE``
  (default ``secrets.cfg`` beside the database). Its master password is
  ``LEADOPS_KEYRING_PASSWORD`` when set; otherwise a random key kept in ``secrets.key`` beside
  the database (mode 0600), written once by the first secret saved. Until then there is no
  store: reads find nothing ("not set") and nothing is created on disk.

The store keeps only a reference per secret (name, kind, last 4 characters) in `secret_refs`, so
pages can show "…a1b2" without ever reading the value, and can tell whether a credential of a
kind exists without opening the keyring (:func:`has_kind`).
"""

from __future__ import annotations

import json
import os
import secrets as pysecrets
import stat
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

import keyring
import keyring.backend
import keyring.errors
import polars as pl

from core.platform import audit
from core.platform.store import Database, db_path_from_env, fetch_one

SERVICE = "leadops"
KEY_FILE_NAME = "secrets.key"
STORE_FILE_NAME = "secrets.cfg"
LEGACY_STORE_FILE = Path("data") / STORE_FILE_NAME  # the default before it followed the database


class SecretsUnavailable(RuntimeError):
    """No keyring can be used; the message says how to configure one."""


_lock = threading.Lock()
_backend: object | None = None
_backend_key: tuple | None = None
_cache: dict[str, str] = {}


def key_file_path() -> Path:
    """Where the generated master key of the encrypted file lives: beside the database."""
    return db_path_from_env().resolve().parent / KEY_FILE_NAME


def store_file_path() -> Path:
    """The encrypted secrets file: `LEADOPS_KEYRING_FILE`, else `secrets.cfg` beside the database.
    With a master password, a file at the older default (`data/secrets.cfg` under the working
    folder, which only a password could have made) is used when it is the only one."""
    explicit = os.environ.get("LEADOPS_KEYRING_FILE")
    if explicit:
        return Path(explicit).resolve()
    beside = db_path_from_env().resolve().parent / STORE_FILE_NAME
    legacy = LEGACY_STORE_FILE.resolve()
    if os.environ.get("LEADOPS_KEYRING_PASSWORD") and not beside.exists() and legacy.exists():
        return legacy
    return beside


def _config_key() -> tuple:
    key_path = key_file_path()
    return (
        os.environ.get("LEADOPS_KEYRING", "auto"),
        str(store_file_path()),
        os.environ.get("LEADOPS_KEYRING_PASSWORD"),
        str(key_path),
        key_path.exists(),
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


def _file_keyring() -> keyring.backend.KeyringBackend:
    """keyrings.cryptfile's encrypted file, deriving each key once per process.

    The file keeps every value encrypted (AES-GCM) under a key Argon2 derives from the master
    password and a salt, one derivation taking about a second on purpose. Stock, each value gets
    its own salt, so storing or reading a dozen client tokens takes a dozen derivations. Here the
    values one process writes share one salt (each still has its own nonce and tag) and a key,
    once derived, is kept in memory beside the password it came from: a dozen tokens cost one
    derivation. The file stays one keyrings.cryptfile reads, and guessing the master password
    from it costs the same derivation per guess as before."""
    from base64 import encodebytes

    from argon2.low_level import Type, hash_secret_raw
    from Crypto.Cipher import AES
    from keyrings.cryptfile.cryptfile import CryptFileKeyring

    class FileKeyring(CryptFileKeyring):
        def __init__(self) -> None:
            super().__init__()
            self._salt = os.urandom(16)
            self._keys: dict[tuple[str, bytes], bytes] = {}

        def _create_cipher(self, password, salt, nonce=None):
            found = (password, bytes(salt))
            key = self._keys.get(found)
            if key is None:
                key = hash_secret_raw(
                    secret=password.encode(self.password_encoding),
                    salt=salt,
                    time_cost=self.time_cost,
                    memory_cost=self.memory_cost,
                    parallelism=self.parallelism,
                    hash_len=16,
                    type=Type.ID,
                )
                self._keys[found] = key
            return AES.new(key, self._get_mode(self.aesmode), nonce)

        def encrypt(self, password, assoc=None):
            """As keyrings.cryptfile encrypts, with this process's salt."""
            cipher = self._create_cipher(self.keyring_key, self._salt)
            if assoc is not None:
                cipher.update(assoc)
            data, mac = cipher.encrypt_and_digest(password)
            parts = {"salt": self._salt, "data": data, "mac": mac, "nonce": cipher.nonce}
            return json.dumps({k: encodebytes(v).decode()[:-1] for k, v in parts.items()}).encode()

    return FileKeyring()


def _open_cryptfile(path: Path, password: str, source: str) -> keyring.backend.KeyringBackend:
    """The encrypted file at `path`, unlocked (or created) with `password` (`source` names where
    the password came from, for the message when it is the wrong one)."""
    kr = _file_keyring()
    path.parent.mkdir(parents=True, exist_ok=True)
    kr.file_path = str(path)
    try:
        kr.keyring_key = password
    except ValueError:
        raise SecretsUnavailable(
            f"The encrypted secrets file {path} cannot be opened with {source}: it was written "
            "with another password or key. Set the right LEADOPS_KEYRING_PASSWORD, or restore "
            "the key file it was made with."
        ) from None
    return kr


def _read_key_file(path: Path) -> str:
    key = path.read_text(encoding="ascii").strip()
    if not key:
        raise SecretsUnavailable(f"The secrets key file {path} is empty; restore it from a backup.")
    return key


def _create_key_file(path: Path) -> str:
    """Write a new random master key to `path` (mode 0600), once: when another process got
    there first, its key is the one used."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(pysecrets.token_urlsafe(32) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)  # atomic, and never replaces a key that is already there
        except FileExistsError:
            pass
    finally:
        tmp.unlink(missing_ok=True)
    return _read_key_file(path)


class _NotSetUp:
    """No store yet (no OS keyring, no master password, no key file): every secret reads as not
    set, and the first one saved sets up the encrypted file with a generated key."""

    def __init__(self, path: Path, key_path: Path) -> None:
        self.path = path
        self.key_path = key_path

    def get_password(self, service: str, name: str) -> str | None:
        return None

    def set_password(self, service: str, name: str, value: str) -> None:
        global _backend, _backend_key
        with _lock:
            key = _create_key_file(self.key_path)
            kr = _open_cryptfile(self.path, key, f"the key in {self.key_path}")
            _backend, _backend_key = kr, _config_key()
        kr.set_password(service, name, value)

    def delete_password(self, service: str, name: str) -> None:
        raise keyring.errors.PasswordDeleteError("No secret store yet.")


def _build(mode: str, path: Path, password: str | None, key_path: Path) -> object:
    if mode not in ("auto", "system", "cryptfile"):
        raise SecretsUnavailable(
            f"LEADOPS_KEYRING must be auto, system or cryptfile, not {mode!r}."
        )
    system = _system_backend() if mode in ("system", "auto") else None
    if mode == "system" and system is None:
        raise SecretsUnavailable("LEADOPS_KEYRING=system, but this machine has no OS keyring.")
    if system is not None:
        return system
    if password:
        return _open_cryptfile(path, password, "LEADOPS_KEYRING_PASSWORD")
    if key_path.exists():
        return _open_cryptfile(path, _read_key_file(key_path), f"the key in {key_path}")
    if path.exists():
        raise SecretsUnavailable(
            f"The encrypted secrets file {path} exists, but LEADOPS_KEYRING_PASSWORD is not set "
            f"and there is no key file {key_path} to open it. Set LEADOPS_KEYRING_PASSWORD to "
            "the password it was made with, or restore the key file."
        )
    return _NotSetUp(path, key_path)


def backend() -> keyring.backend.KeyringBackend:
    """The keyring secrets are read from and written to. With no store set up yet it reads
    nothing and its first write sets up the encrypted file (see the module's docstring)."""
    global _backend, _backend_key
    key = _config_key()
    with _lock:
        if _backend is not None and _backend_key == key:
            return _backend  # type: ignore[return-value]
        mode, path, password, key_path, _ = key
        _backend = _build(mode, Path(path), password, Path(key_path))
        _backend_key = key
        _cache.clear()
        return _backend  # type: ignore[return-value]


@dataclass(frozen=True)
class StoreStatus:
    """Which secret store is in use, in one line for pages and `leadops status`."""

    state: str  # system, password, key_file, not_set_up, unavailable
    summary: str
    problem: str | None = None

    @property
    def usable(self) -> bool:
        return self.state != "unavailable"


def store_status() -> StoreStatus:
    try:
        kr = backend()
    except SecretsUnavailable as exc:
        return StoreStatus("unavailable", "unavailable", str(exc))
    if isinstance(kr, _NotSetUp):
        return StoreStatus(
            "not_set_up",
            f"not set up yet: the first secret saved creates the encrypted file {kr.path} "
            f"with a generated key in {kr.key_path}",
        )
    path = getattr(kr, "file_path", None)
    if path is None:
        return StoreStatus("system", f"the OS keyring ({type(kr).__name__})")
    if os.environ.get("LEADOPS_KEYRING_PASSWORD"):
        return StoreStatus(
            "password", f"encrypted file {path}, unlocked with LEADOPS_KEYRING_PASSWORD"
        )
    key_path = key_file_path()
    problem = None
    try:
        if stat.S_IMODE(key_path.stat().st_mode) & 0o077:
            problem = f"{key_path} is readable by other users: chmod 600 {key_path}"
    except OSError:
        pass
    return StoreStatus("key_file", f"encrypted file {path}, key in {key_path}", problem)


def describe_backend() -> str:
    st = store_status()
    return st.summary + (f" ({st.problem})" if st.problem else "")


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


def names_of_kind(db: Database, kind: str) -> list[str]:
    """The stored credentials of `kind`, newest first (whatever name each was saved under)."""
    return [
        r[0]
        for r in db.rows(
            "SELECT name FROM secret_refs WHERE kind = ? ORDER BY updated_at DESC, name", [kind]
        )
    ]


def has_kind(db: Database, kind: str, default_name: str | None = None) -> bool:
    """Whether a credential of `kind` (or one named `default_name`) is stored, from the database
    alone: cheap, and it works whatever state the keyring is in (for pages)."""
    return bool(
        db.scalar(
            "SELECT count(*) FROM secret_refs WHERE kind = ? OR name = ?", [kind, default_name]
        )
    )


def get_by_kind(db: Database, kind: str, default_name: str | None = None) -> str | None:
    """The value of the newest stored credential of `kind`, else of the secret `default_name`
    (the name LeadOps used before credentials were found by kind), else None."""
    for name in names_of_kind(db, kind):
        value = get_secret(name)
        if value:
            return value
    return get_secret(default_name) if default_name else None


def put_pending(value: str | None) -> str | None:
    """Keep `value` in the keyring under a one-off name and return that name, so a job can be
    handed it without the value ever appearing in the job's parameters. None for no value."""
    if not value or not value.strip():
        return None
    name = f"pending.{uuid.uuid4().hex}"
    backend().set_password(SERVICE, name, value.strip())
    return name


def take_pending(name: str | None) -> str | None:
    """The value :func:`put_pending` kept under `name`, removed from the keyring once read."""
    if not name:
        return None
    if not name.startswith("pending."):
        raise ValueError("Not a pending secret name.")
    value = get_secret(name)
    try:
        backend().delete_password(SERVICE, name)
    except keyring.errors.PasswordDeleteError:
        pass
    with _lock:
        _cache.pop(name, None)
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
