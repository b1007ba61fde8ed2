"""Where LeadOps finds the systems it connects to, and what their last Test said.

An address is a setting staff fill in under Settings → Connections (`bison_url`,
`master_db_url`); an environment variable (`LEADOPS_BISON_URL`, `LEADOPS_MASTER_DB_URL`), when
set, overrides it, for servers, tests and staging. One function reads each (`bison_url`,
`master_db_url`): nothing else in LeadOps reads those variables.

The outcome of the last Test of each connection is kept in `connection_tests` with what was
tested (never a secret), so the setup checklist shows it without calling anything.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Callable
from typing import Any

from connectors.bison import BisonClient
from core.platform import audit, secrets, settings
from core.platform.store import Database

# setting -> the environment variable that overrides it
OVERRIDES: dict[str, str] = {
    "bison_url": "LEADOPS_BISON_URL",
    "master_db_url": "LEADOPS_MASTER_DB_URL",
}
TESTS = ("bison", "master_db", "slack", "smtp")
_PASSWORD_IN_URL = re.compile(r"(://[^:/@]*):([^@/]*)@")


class NotConfigured(ValueError):
    """A connection has no address; the message says where to set it."""


def override(name: str) -> str | None:
    """The environment variable's value when it overrides the setting `name` (None: not set)."""
    value = os.environ.get(OVERRIDES[name], "").strip()
    return value or None


def resolve(db: Database | None, name: str) -> tuple[str, str]:
    """(address, where it comes from): the variable's name, "setting", or ("", "") when
    neither is set. Without a database only the variable counts."""
    env = override(name)
    if env:
        return env, OVERRIDES[name]
    if db is None:
        return "", ""
    value = str(settings.get(db, name) or "").strip()
    return (value, "setting") if value else ("", "")


def bison_url(db: Database | None) -> str:
    """The Email Bison instance: `LEADOPS_BISON_URL`, else the setting `bison_url` ('' if none)."""
    return resolve(db, "bison_url")[0]


def require_bison_url(db: Database | None) -> str:
    url = bison_url(db)
    if not url:
        raise NotConfigured(
            "Email Bison is not configured: set its address under Settings → Connections "
            "(or LEADOPS_BISON_URL)."
        )
    return url


def bison_client(
    db: Database | None,
    workspace_id: int,
    factory: Callable[[str], BisonClient] | None = None,
) -> BisonClient:
    """An Email Bison client holding the client's token: `factory(token)` when given, else one for
    the configured instance. Raises NotConfigured saying what is missing (the token first)."""
    token = secrets.get_secret(secrets.bison_token_name(workspace_id))
    if not token:
        raise NotConfigured(
            "This client has no Email Bison token; add it under Settings → Email Bison tokens."
        )
    if factory is not None:
        return factory(token)
    return BisonClient(require_bison_url(db), token)


def master_db_url(db: Database | None) -> str:
    """The master contacts database: `LEADOPS_MASTER_DB_URL`, else the setting `master_db_url`."""
    return resolve(db, "master_db_url")[0]


def without_password(url: str) -> str:
    """A URL fit to show or store: a password in it becomes ***."""
    return _PASSWORD_IN_URL.sub(r"\1:***@", url or "")


# -- the last Test of each connection ---------------------------------------------------------


def record_test(
    db: Database, name: str, ok: bool, message: str, *, target: str | None, actor: str
) -> None:
    """Keep the outcome of a connection's Test (audited); `target` must hold no secret."""
    if name not in TESTS:
        raise ValueError(f"Unknown connection {name!r}.")
    message = (message or "")[:500]
    with db.transaction() as cur:
        cur.execute(
            "INSERT INTO connection_tests (name, target, ok, message, tested_by)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET target = excluded.target,"
            " ok = excluded.ok, message = excluded.message, tested_at = now(),"
            " tested_by = excluded.tested_by",
            [name, target, ok, message, actor],
        )
        audit.record(
            cur,
            actor=actor,
            action="connection.test",
            entity="connection",
            entity_id=name,
            after={"ok": ok, "target": target},
        )


def last_tests(db: Database) -> dict[str, dict[str, Any]]:
    """Each tested connection's last outcome: target, ok, message, tested_at, tested_by."""
    df = db.query("SELECT * FROM connection_tests")
    return {r["name"]: r for r in df.iter_rows(named=True)}


def ago(when: dt.datetime | None, now: dt.datetime | None = None) -> str:
    """'5 min ago', '3 h ago', '2 days ago' (or 'never')."""
    if when is None:
        return "never"
    now = now or dt.datetime.now(dt.UTC)
    minutes = max(0.0, (now - when).total_seconds() / 60)
    if minutes < 90:
        return f"{minutes:.0f} min ago"
    if minutes < 48 * 60:
        return f"{minutes / 60:.0f} h ago"
    return f"{minutes / 1440:.0f} days ago"
