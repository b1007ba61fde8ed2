"""What "Test" does for each kind of credential: one cheap, harmless call to the service with the
value, answering (ok, message). ok is None when there is nothing to call the service with yet
(its address is not configured) or the kind has no test of its own; that is not a failure.

| Kind | The call |
|---|---|
| Email Bison tokens | `GET /api/users` (who the token belongs to) |
| Stripe key | `GET /v1/balance` |
| Debounce key | `GET /v1/balance/` (credits left; costs none) |
| Language model key | `GET {LEADOPS_LLM_URL}/models` |
| Slack webhook | a short test message to its channel |
| SMTP password | connect, STARTTLS when set, log in, NOOP (sends nothing) |
| Master database password | `SELECT 1` on a new connection |

Messages never hold the value: it is cut out of whatever a server or driver said.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from connectors import master_db as master_db_connector
from connectors import slack, smtp
from connectors.bison import BisonClient
from connectors.debounce import DebounceClient
from connectors.http import ApiError, redact
from connectors.llm import ChatClient
from connectors.stripe import StripeConnector, StripeConnectorError
from core.platform import connections, settings
from core.platform.store import Database

Outcome = tuple[bool | None, str]
TIMEOUT = 15.0
LLM_URL_ENV = "LEADOPS_LLM_URL"


def _clean(text: object, value: str) -> str:
    out = redact(str(text))
    return out.replace(value, "[REDACTED]") if value else out


def bison(db: Database, value: str, factory: Callable[[str], BisonClient] | None = None) -> Outcome:
    if factory is None:
        url = connections.bison_url(db)
        if not url:
            return None, (
                "Not tested: Email Bison's address is not set (Settings → Connections, or "
                "LEADOPS_BISON_URL), so there is no instance to ask."
            )
        factory = lambda t: BisonClient(url, t)  # noqa: E731
    client = factory(value)
    try:
        me = client.check()
        who = me.get("email") or me.get("name") or "ok"
        return True, f"Email Bison accepted it (user {who})."
    except (ApiError, ValueError) as exc:
        return False, _clean(f"Email Bison refused it: {exc}", value)
    finally:
        client.close()


def stripe_key(value: str) -> Outcome:
    try:
        conn = StripeConnector(value, max_network_retries=0)
        mode = "live" if conn.check()["livemode"] else "test"
    except StripeConnectorError as exc:
        return False, _clean(f"Stripe refused it: {exc}", value)
    return True, f"Stripe accepted it ({mode} mode; the balance could be read)."


def debounce_key(value: str) -> Outcome:
    try:
        with DebounceClient(value, max_retries=0, timeout=TIMEOUT) as client:
            credits = client.balance()
    except (ApiError, ValueError) as exc:
        return False, _clean(f"Debounce refused it: {exc}", value)
    left = f"{credits:,} credits left" if credits is not None else "balance not given"
    return True, f"Debounce accepted it ({left})."


def llm_key(value: str) -> Outcome:
    url = os.environ.get(LLM_URL_ENV, "").strip()
    if not url:
        return None, (
            f"Not tested: {LLM_URL_ENV} is not set, so there is no endpoint to ask. Set it to the "
            "OpenAI-compatible base URL (…/v1) and test again."
        )
    client = ChatClient(url, value, model="-", timeout=TIMEOUT, max_retries=0)
    try:
        models = client.models()
    except ApiError as exc:
        return False, _clean(f"The language model endpoint refused it: {exc}", value)
    finally:
        client.close()
    wanted = os.environ.get("LEADOPS_LLM_MODEL", "").strip()
    note = f"; {wanted} is not among them" if wanted and wanted not in models else ""
    return True, f"The language model endpoint accepted it ({len(models)} model(s) listed{note})."


def slack_webhook(value: str) -> Outcome:
    try:
        slack.post_message(
            value,
            "LeadOps credential test: this channel will receive LeadOps messages.",
            timeout=TIMEOUT,
        )
    except (slack.SlackError, ApiError, OSError) as exc:
        return False, _clean(f"Slack refused it: {exc}", value)
    return True, "Slack took a test message; look for it in the channel."


def smtp_password(db: Database, value: str) -> Outcome:
    conf = settings.get_all(db)
    host = str(conf["smtp_host"]).strip()
    if not host:
        return (
            None,
            "Not tested: smtp_host is empty (Settings → General), so there is no server to ask.",
        )
    user = str(conf["smtp_username"]).strip()
    server = smtp.SmtpServer(
        host, int(conf["smtp_port"]), conf["smtp_security"], username=user, password=value
    )
    try:
        done = smtp.check(server, timeout=TIMEOUT)
    except smtp.SmtpError as exc:
        return False, _clean(exc, value)
    if not user:
        return None, f"{done}, but smtp_username is empty, so this password is never used."
    return True, f"{done}."


def master_db_password(db: Database, value: str) -> Outcome:
    url = connections.master_db_url(db)
    if not url:
        return None, (
            "Not tested: the master database's address is not set (Settings → Connections, or "
            "LEADOPS_MASTER_DB_URL), so there is no database to ask."
        )
    try:
        where = master_db_connector.ping(url, value, timeout=int(TIMEOUT))
    except Exception as exc:  # the driver's own errors (refused, bad password, no such database)
        first = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        return False, _clean(f"The master database refused it: {first[0] if first else exc}", value)
    return True, _clean(f"The master database answered SELECT 1 ({where}).", value)
