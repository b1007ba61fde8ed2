"""The Test buttons of Settings → Connections (and `leadops setup --test`): one cheap, harmless
call to each system the agency connects to, kept in `connection_tests` for the setup checklist.

| Connection | The call |
|---|---|
| Email Bison | `GET /api/users` with the super-admin token when there is one, else without a token (any answer from Email Bison, 401 included, proves the address) |
| Master database | `SELECT count(*)` of the master table and a `LIMIT 0` of its mapped columns |
| Slack | a short test message to the team's channel |
| SMTP | connect, STARTTLS when set, log in when there is a user, NOOP (sends nothing) |

Client tokens are tested one by one through the credentials vault (the result is kept on the
secret's row, where Settings → Credentials shows it too).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from connectors import slack, smtp
from connectors.bison import BisonClient
from connectors.http import ApiError, AuthError, NetworkError, NotFoundError, redact
from core.accounts import access, credentials
from core.bison import admin as bison_admin
from core.pipeline import master_db, notices
from core.platform import connections, secrets, settings
from core.platform.store import Database
from core.setup import checklist

TIMEOUT = 10.0
BisonFactory = Callable[[str, str | None], BisonClient]
Outcome = tuple[bool, str]


def _bison_client(url: str, token: str | None) -> BisonClient:
    return BisonClient(url, token, timeout=TIMEOUT, max_retries=0, rate_per_sec=None)


def stored_secret(db: Database, name: str, kind: str | None) -> str | None:
    """The newest stored credential of `kind` (whatever name it was saved under), else the
    secret called `name` (as the checklist finds it)."""
    return secrets.get_by_kind(db, kind, name) if kind else secrets.get_secret(name)


def _super_admin_token(db: Database) -> str | None:
    try:
        return os.environ.get("LEADOPS_BISON_SUPER_TOKEN") or secrets.get_by_kind(
            db, bison_admin.SUPER_ADMIN_KIND, bison_admin.SUPER_ADMIN_SECRET
        )
    except secrets.SecretsUnavailable:
        return None


def test_bison(db: Database, user: access.User, *, factory: BisonFactory | None = None) -> Outcome:
    """Is the configured Email Bison instance there (and does it take the super-admin token)?"""
    access.require(user, "settings.manage")
    url = connections.require_bison_url(db)
    token = _super_admin_token(db)
    client = (factory or _bison_client)(url, token)
    try:
        me = client.check()
        who = me.get("email") or me.get("name") or "ok"
        ok, message = True, f"Email Bison answered and took the super-admin token (user {who})."
    except AuthError as exc:
        ok = True
        message = (
            f"Email Bison answered, but refused the super-admin token (HTTP {exc.status}): "
            "replace it before minting tokens."
            if token
            else "Email Bison answered (no super-admin token to sign in with yet)."
        )
    except NotFoundError:
        ok, message = False, "This address answered 404 for /api/users: is it Email Bison's?"
    except NetworkError as exc:
        ok, message = False, f"No answer: {exc}"
    except (ApiError, ValueError) as exc:
        ok, message = False, f"Unexpected answer: {exc}"
    finally:
        client.close()
    message = _clean(message, token)
    connections.record_test(db, "bison", ok, message, target=url, actor=user.email)
    return ok, message


def _clean(message: str, *values: str | None) -> str:
    out = redact(str(message))
    for value in values:
        if value:
            out = out.replace(value, "[REDACTED]")
    return out[:500]


def test_master_db(db: Database, user: access.User, *, eng: Any = None) -> Outcome:
    """Connect to the master contacts database and read its table as the pulls will."""
    access.require(user, "settings.manage")
    url = connections.master_db_url(db)
    if not url:
        raise connections.NotConfigured(
            "The master contacts database is not configured: set its address first."
        )
    h = master_db.health(db, eng)
    message = _clean(
        f"{h['message']} ({h['ms']} ms)" if h["ok"] else f"{h['message']}",
        None
        if h["ok"]
        else stored_secret(db, checklist.MASTER_DB_PASSWORD_SECRET, "master_db_password"),
    )
    target = checklist.master_db_target(url)
    connections.record_test(db, "master_db", h["ok"], message, target=target, actor=user.email)
    return h["ok"], message


def test_slack(
    db: Database, user: access.User, *, post: Callable[[str, str], None] | None = None
) -> Outcome:
    """Post a short test message through the team's incoming webhook."""
    access.require(user, "settings.manage")
    url = secrets.get_secret(notices.WEBHOOK_SECRET)
    last4 = notices.webhook_last4(db)
    if not url or not last4:
        raise connections.NotConfigured("No Slack incoming webhook yet: save one first.")
    channel = str(settings.get(db, "slack_channel") or "").strip()
    text = "LeadOps connection test: milestone notices will come here" + (
        f" ({channel})." if channel else "."
    )
    try:
        (post or (lambda u, t: slack.post_message(u, t, timeout=TIMEOUT)))(url, text)
        ok, message = True, "Slack took a test message; look for it in the channel."
    except (slack.SlackError, ApiError, OSError) as exc:
        ok, message = False, f"Slack refused it: {exc}"
    message = _clean(message, url)
    connections.record_test(db, "slack", ok, message, target=f"…{last4}", actor=user.email)
    return ok, message


def test_smtp(
    db: Database, user: access.User, *, check: Callable[[smtp.SmtpServer], str] | None = None
) -> Outcome:
    """Connect to the SMTP server and log in, sending nothing."""
    access.require(user, "settings.manage")
    conf = settings.get_all(db)
    host = str(conf["smtp_host"]).strip()
    if not host:
        raise connections.NotConfigured("No SMTP server yet: fill smtp_host first.")
    username = str(conf["smtp_username"]).strip()
    password = (
        stored_secret(db, checklist.SMTP_PASSWORD_SECRET, "smtp_password") if username else None
    )
    server = smtp.SmtpServer(
        host, int(conf["smtp_port"]), conf["smtp_security"], username=username, password=password
    )
    if username and not password:
        ok, message = False, "smtp_username is set but no password is stored (smtp.password)."
    else:
        try:
            done = (check or (lambda s: smtp.check(s, timeout=TIMEOUT)))(server)
            ok, message = True, f"{done}."
        except smtp.SmtpError as exc:
            ok, message = False, str(exc)
    message = _clean(message, password)
    target = checklist.smtp_target(conf)
    connections.record_test(db, "smtp", ok, message, target=target, actor=user.email)
    return ok, message


TESTS: dict[str, Callable[..., Outcome]] = {
    "bison": test_bison,
    "master_db": test_master_db,
    "slack": test_slack,
    "smtp": test_smtp,
}


def test_configured(db: Database, user: access.User) -> dict[str, Outcome]:
    """Test every connection that has an address (what `leadops setup --test` runs)."""
    out: dict[str, Outcome] = {}
    for name, fn in TESTS.items():
        try:
            out[name] = fn(db, user)
        except connections.NotConfigured:
            continue
    return out


def test_client_tokens(
    db: Database,
    user: access.User,
    workspace_ids: list[int] | None = None,
    *,
    factory: BisonFactory | None = None,
) -> dict[str, tuple[bool | None, str]]:
    """Test each chosen (default: every active) client's Email Bison token against the
    configured instance; the outcome is kept on the token's row (Settings → Credentials)."""
    access.require(user, "secrets.manage")
    url = connections.require_bison_url(db)
    rows = db.rows(
        "SELECT w.id, w.name FROM workspaces w JOIN secret_refs r"
        " ON r.name = 'bison.workspace.' || w.id WHERE w.active ORDER BY w.name"
    )
    make = factory or _bison_client
    out: dict[str, tuple[bool | None, str]] = {}
    for wid, name in rows:
        if workspace_ids is not None and wid not in workspace_ids:
            continue
        out[name] = credentials.test(
            db, user, secrets.bison_token_name(wid), bison_factory=lambda t: make(url, t)
        )
    return out
