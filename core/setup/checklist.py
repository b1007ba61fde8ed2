"""The setup checklist: what an install still needs before its first upload, for the agency and for
each active client. Every item is done, missing or failing, with the reason in words and where it
is fixed (a page, and the command when there is one).

Cheap to compute on every page run: it reads the store and the app's heartbeat file and never
calls a service. A connection's state is the stored outcome of its last Test (Settings →
Connections); a client's token or CRM counts as tested by a Test or by real use (a sync, a
delivery) since it was saved, whichever is newer.
"""

from __future__ import annotations

import datetime as dt
import os
import tomllib
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from core.pipeline import notices, verification
from core.platform import connections, inbox, settings
from core.platform.connections import ago
from core.platform.store import Database
from core.revenue import stripe_sync
from core.setup import client_checks
from core.setup.items import DONE, FAILING, MISSING, Item, from_test

ROOT = Path(__file__).resolve().parents[2]
SUPER_ADMIN_SECRET = "bison.super_admin"
SMTP_PASSWORD_SECRET = "smtp.password"
MASTER_DB_PASSWORD_SECRET = "master_db.password"
CONNECTIONS_TAB = "Settings → Connections"

__all__ = ["DONE", "FAILING", "MISSING", "Checklist", "Item", "build"]


@dataclass
class Checklist:
    agency: list[Item]
    clients: dict[str, list[Item]] = field(default_factory=dict)  # client name -> its items

    def items(self) -> Iterator[Item]:
        yield from self.agency
        for items in self.clients.values():
            yield from items

    def counts(self) -> dict[str, int]:
        out = {DONE: 0, MISSING: 0, FAILING: 0}
        for item in self.items():
            out[item.status] += 1
        return out

    @property
    def complete(self) -> bool:
        return all(item.status == DONE for item in self.items())

    def as_dict(self) -> dict[str, Any]:
        return {
            "agency": [asdict(i) for i in self.agency],
            "clients": {name: [asdict(i) for i in items] for name, items in self.clients.items()},
            "counts": self.counts(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Checklist:
        return cls(
            [Item(**i) for i in data.get("agency", [])],
            {n: [Item(**i) for i in items] for n, items in data.get("clients", {}).items()},
        )


def build(
    db: Database,
    *,
    auth_configured: bool | None = None,
    remote_text: bool = False,
    now: dt.datetime | None = None,
) -> Checklist:
    """The whole checklist. `auth_configured` is what the web app knows of its sign-in (None:
    read .streamlit/secrets.toml); `remote_text` lets a CRM test's message quote the remote
    server (for admins only, as everywhere)."""
    now = now or dt.datetime.now(dt.UTC)
    return Checklist(
        agency_items(db, auth_configured=auth_configured, now=now),
        client_checks.client_items(db, remote_text=remote_text, now=now),
    )


# what the checklist looks up -> (the credential kind it may be saved as, the name it had before
# credentials were found by kind); None: found by its name only
SECRETS: dict[str, str | None] = {
    stripe_sync.SECRET_NAME: "stripe_key",
    verification.DEBOUNCE_SECRET: "debounce_key",
    notices.WEBHOOK_SECRET: None,  # kind slack_webhook is shared with the alert channels
    SMTP_PASSWORD_SECRET: "smtp_password",
    MASTER_DB_PASSWORD_SECRET: "master_db_password",
}


def _secret_refs(db: Database) -> dict[str, dict[str, Any]]:
    """The newest stored credential for each of SECRETS (by its kind, else its old name)."""
    out: dict[str, dict[str, Any]] = {}
    for name, kind in SECRETS.items():
        df = db.query(
            "SELECT name, last4, updated_at, last_tested_at, last_test_ok, last_test_message"
            " FROM secret_refs WHERE name = ? OR kind = ? ORDER BY updated_at DESC LIMIT 1",
            [name, kind],
        )
        if df.height:
            out[name] = df.row(0, named=True)
    return out


def agency_items(
    db: Database, *, auth_configured: bool | None = None, now: dt.datetime | None = None
) -> list[Item]:
    now = now or dt.datetime.now(dt.UTC)
    tests = connections.last_tests(db)
    refs = _secret_refs(db)
    conf = settings.get_all(db)
    return [
        _bison(db, tests, now),
        _stripe(db, refs, now),
        _debounce(refs, now),
        _slack(refs, tests, conf, now),
        _smtp(refs, tests, conf, now),
        _master_db(db, refs, tests, now),
        _sign_in(db, auth_configured),
        _schedule(db, now),
    ]


def _via(source: str) -> str:
    return (
        f" (set by {source}, which overrides the setting)" if source.startswith("LEADOPS_") else ""
    )


def _bison(db: Database, tests: dict, now: dt.datetime) -> Item:
    url, source = connections.resolve(db, "bison_url")
    item = Item("bison", "Email Bison reachable", MISSING, "", "settings", CONNECTIONS_TAB)
    if not url:
        return item.but(
            reason="No Email Bison address: set it (https://send.youragency.com) or "
            "LEADOPS_BISON_URL. Nothing syncs or uploads until it is set.",
            command="leadops settings set bison_url https://send.youragency.com",
        )
    return from_test(item, tests.get("bison"), url, None, now, what=url + _via(source))


def _stripe(db: Database, refs: dict, now: dt.datetime) -> Item:
    item = Item("stripe", "Stripe key", MISSING, "", "settings", "Settings → Credentials")
    if not stripe_sync.configured(db):
        return item.but(
            reason="No Stripe key: save one (kind Stripe secret key) or set STRIPE_API_KEY. "
            "Revenue and billing stay empty without it."
        )
    ref = refs.get(stripe_sync.SECRET_NAME)
    key = f"Key …{ref['last4']}" if ref else "STRIPE_API_KEY"
    last = db.query(
        "SELECT status, error, coalesce(finished_at, started_at) AS at FROM sync_runs"
        " WHERE source = 'stripe' AND status IN ('succeeded', 'failed')"
        " ORDER BY started_at DESC LIMIT 1"
    )
    run = last.row(0, named=True) if last.height else None
    if run and run["status"] == "failed":
        return item.but(
            status=FAILING,
            reason=f"{key}: the last Stripe sync ({ago(run['at'], now)}) failed: {run['error']}",
            command="leadops sync stripe",
        )
    if ref and ref["last_test_ok"] is False and (run is None or ref["last_tested_at"] > run["at"]):
        return item.but(
            status=FAILING,
            reason=f"{key}: its last Test ({ago(ref['last_tested_at'], now)}) failed: "
            f"{ref['last_test_message']}",
        )
    synced = f"last sync succeeded {ago(run['at'], now)}" if run else "not synced yet"
    return item.but(status=DONE, reason=f"{key}; {synced}.")


def _debounce(refs: dict, now: dt.datetime) -> Item:
    item = Item("debounce", "Debounce key", MISSING, "", "settings", "Settings → Credentials")
    ref = refs.get(verification.DEBOUNCE_SECRET)
    if not ref:
        return item.but(
            reason="No Debounce key (a credential of kind Debounce): verification runs local "
            "checks only (syntax, disposable domains, role accounts)."
        )
    if ref["last_test_ok"] is False and ref["last_tested_at"] >= ref["updated_at"]:
        return item.but(
            status=FAILING,
            reason=f"Key …{ref['last4']}: its last Test ({ago(ref['last_tested_at'], now)}) "
            f"failed: {ref['last_test_message']}",
        )
    return item.but(status=DONE, reason=f"Key …{ref['last4']} is stored.")


def _slack(refs: dict, tests: dict, conf: dict, now: dt.datetime) -> Item:
    item = Item("slack", "Slack", MISSING, "", "settings", CONNECTIONS_TAB)
    ref = refs.get(notices.WEBHOOK_SECRET)
    channel = str(conf.get("slack_channel") or "").strip()
    if not ref:
        return item.but(
            reason="No Slack incoming webhook: milestones (pull done, refinement done, batches "
            "uploaded, evergreen updated) are not posted."
        )
    what = f"Webhook …{ref['last4']}" + (f" ({channel})" if channel else "")
    return from_test(item, tests.get("slack"), f"…{ref['last4']}", ref["updated_at"], now, what)


def smtp_target(conf: dict) -> str:
    """What an SMTP Test tests, in words (no password)."""
    user = str(conf.get("smtp_username") or "").strip()
    target = f"{str(conf['smtp_host']).strip()}:{conf['smtp_port']} ({conf['smtp_security']}"
    return target + (f", as {user})" if user else ")")


def _smtp(refs: dict, tests: dict, conf: dict, now: dt.datetime) -> Item:
    item = Item("smtp", "SMTP (e-mail)", MISSING, "", "settings", CONNECTIONS_TAB)
    if not str(conf.get("smtp_host") or "").strip():
        return item.but(
            reason="No SMTP server: alert e-mails and weekly client reports are off.",
            command="leadops settings set smtp_host smtp.youragency.com",
        )
    password = refs.get(SMTP_PASSWORD_SECRET)
    changed = password["updated_at"] if password else None
    target = smtp_target(conf)
    return from_test(item, tests.get("smtp"), target, changed, now, target)


def master_db_target(url: str) -> str:
    return connections.without_password(url)


def _master_db(db: Database, refs: dict, tests: dict, now: dt.datetime) -> Item:
    item = Item("master_db", "Master contacts database", MISSING, "", "settings", CONNECTIONS_TAB)
    url, source = connections.resolve(db, "master_db_url")
    if not url:
        return item.but(
            reason="No master database address: pulls and 'Fill the gap' are off (file imports "
            "still work).",
            command="leadops settings set master_db_url postgresql+psycopg://leadops@host/contacts",
        )
    password = refs.get(MASTER_DB_PASSWORD_SECRET)
    changed = password["updated_at"] if password else None
    target = master_db_target(url)
    return from_test(item, tests.get("master_db"), target, changed, now, target + _via(source))


def secrets_toml_has_auth(folders: list[Path] | None = None) -> bool:
    """Whether a .streamlit/secrets.toml Streamlit reads (the project's, the working folder's, the
    user's) has an [auth] section: sign-in as the web app would see it."""
    folders = folders or [ROOT, Path.cwd(), Path.home()]
    for folder in folders:
        path = folder / ".streamlit" / "secrets.toml"
        try:
            if "auth" in tomllib.loads(path.read_text(encoding="utf-8")):
                return True
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
            continue
    return False


def _sign_in(db: Database, auth_configured: bool | None) -> Item:
    item = Item("sign_in", "Sign-in configured", MISSING, "", "settings", "Settings → Users")
    if auth_configured is None:
        auth_configured = secrets_toml_has_auth()
    if not auth_configured:
        return item.but(
            reason="Local single-user mode: no sign-in, and only this machine can reach LeadOps. "
            "Add an [auth] section to .streamlit/secrets.toml (see README, Sign-in and roles) to "
            "let staff sign in."
        )
    admins = db.scalar("SELECT count(*) FROM users WHERE role = 'admin' AND active")
    bootstrap = [e for e in os.environ.get("LEADOPS_ADMIN_EMAILS", "").split(",") if e.strip()]
    if not admins and not bootstrap:
        return item.but(
            status=FAILING,
            reason="Sign-in is configured but nobody can sign in as admin: set "
            "LEADOPS_ADMIN_EMAILS to the first admins' addresses.",
        )
    users = db.scalar("SELECT count(*) FROM users WHERE active")
    return item.but(
        status=DONE,
        reason=f"OpenID Connect sign-in; {admins} admin(s), {users} active user(s)"
        + (
            f", {len(bootstrap)} bootstrap admin(s) from LEADOPS_ADMIN_EMAILS."
            if bootstrap
            else "."
        ),
    )


def _schedule(db: Database, now: dt.datetime) -> Item:
    item = Item("schedule", "Schedule running", MISSING, "", "data_sync", "Data sync")
    beat = inbox.app_alive(db.path)
    if not beat:
        return item.but(
            reason="No LeadOps server is running for this database, so nothing syncs, checks or "
            "delivers on its own. Start it: `leadops serve` (or docs/leadops.service).",
            command="leadops serve",
        )
    failed = db.query(
        """
        SELECT kind, arg_max(error, created_at) AS error, max(created_at) AS at FROM jobs j
        WHERE requested_by = 'schedule' AND status = 'failed'
          AND created_at >= now() - INTERVAL 24 HOUR
          AND NOT EXISTS (SELECT 1 FROM jobs k WHERE k.kind = j.kind AND k.status = 'succeeded'
                          AND k.requested_by = 'schedule' AND k.created_at > j.created_at)
        GROUP BY kind ORDER BY kind
        """
    )
    if failed.height:
        first = failed.row(0, named=True)
        return item.but(
            status=FAILING,
            reason=f"The server (pid {beat.get('pid')}) runs the schedule, but {failed.height} "
            f"scheduled step(s) failed and have not succeeded since: {first['kind']} "
            f"({ago(first['at'], now)}): {first['error']}",
            page="alerts",
            where="Alerts",
        )
    return item.but(
        status=DONE,
        reason=f"The server (pid {beat.get('pid')}) runs the schedule: syncs, checks, CRM "
        "retries, reports and the Monday evergreen step.",
    )
