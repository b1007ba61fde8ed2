"""A client's CRM configuration: which CRM, where, with which credentials, and the connection test.

* One row per client in `crm_configs`; the token (`crm.workspace.<id>`) and the webhook signing
  secret (`crm.webhook.<id>`) live in the secret store, never in a job's params, result or
  status file. A generated signing secret is made by the caller (`new_webhook_secret`), who
  shows it once.
* A URL is checked when saved (http(s), and a public internet address: `connectors/http`
  refuses loopback, private, link-local and reserved destinations unless
  LEADOPS_ALLOW_PRIVATE_URLS=1) and again on every request.
* A stored token or signing secret is only used again for the destination it was entered for:
  a changed URL (or CRM type) needs it entered again.
* The connection test's message keeps at most `REMOTE_TEXT_CHARS` of what the CRM answered; it
  is shown to admins only (the only role that may configure or test a CRM).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import polars as pl

from connectors.crm import Attempt, GoHighLevelClient, HubSpotClient, WebhookClient
from connectors.http import ApiError, BlockedDestination, redact
from connectors.http import check_url as guard_url
from core.accounts import access
from core.platform import audit, secrets
from core.platform.scope import Scope
from core.platform.store import Database

CRM_TYPES = ("hubspot", "gohighlevel", "webhook")
REMOTE_TEXT_CHARS = 200
WEBHOOK_SECRET_PREFIX = "whsec_"


class CrmConfigError(ValueError):
    pass


def token_name(workspace_id: int) -> str:
    return f"crm.workspace.{workspace_id}"


def webhook_secret_name(workspace_id: int) -> str:
    return f"crm.webhook.{workspace_id}"


def new_webhook_secret() -> str:
    """A fresh webhook signing secret. The caller shows it once (the CLI prints it, the page shows
    it) and hands it to :func:`set_config` as `generated_secret`; it never enters a job's params,
    result or status file."""
    return secrets.generate(WEBHOOK_SECRET_PREFIX)


def check_url(url: str | None) -> str | None:
    """The URL trimmed, or None; refuses (CrmConfigError) one that is not http(s) or points at a
    loopback, private, link-local or otherwise non-public address (see connectors/http)."""
    url = (url or "").strip() or None
    if url is None:
        return None
    if not url.startswith(("https://", "http://")):
        raise CrmConfigError(f"URL: {url!r} must start with https:// (or http:// for testing).")
    try:
        guard_url(url)
    except BlockedDestination as exc:
        raise CrmConfigError(f"URL: {exc.message}") from None
    return url


def set_config(
    db: Database,
    user: access.User,
    workspace_id: int,
    crm_type: str,
    *,
    url: str | None = None,
    token: str | None = None,
    secret: str | None = None,
    generated_secret: str | None = None,
    location_id: str | None = None,
    create_deal: bool = False,
    deal_pipeline: str | None = None,
    deal_stage: str | None = None,
    enabled: bool = True,
) -> dict[str, Any]:
    """Save a client's CRM. Returns {'secret_generated': True when `generated_secret` became the
    webhook's signing secret} (the caller, who made it, shows it once).

    A stored token (or signing secret) is used again only for the destination it was entered
    for: a new URL, or another CRM type, needs it entered again, so changing a URL can never
    send the stored credential somewhere else. A webhook without a secret of its own takes
    `generated_secret`."""
    access.require(user, "crm.manage")
    if crm_type not in CRM_TYPES:
        raise CrmConfigError(f"Type: must be one of {', '.join(CRM_TYPES)}.")
    if not db.scalar("SELECT count(*) FROM workspaces WHERE id = ?", [workspace_id]):
        raise CrmConfigError(f"Client: no client with id {workspace_id}.")
    url = check_url(url)
    token = (token or "").strip() or None
    secret = (secret or "").strip() or None
    before = db.query(
        "SELECT crm_type, url, enabled FROM crm_configs WHERE workspace_id = ?", [workspace_id]
    )
    previous = before.row(0, named=True) if before.height else None
    same_destination = previous is not None and (previous["crm_type"], previous["url"]) == (
        crm_type,
        url,
    )
    if crm_type in ("hubspot", "gohighlevel") and not token:
        if not secrets.get_secret(token_name(workspace_id)):
            raise CrmConfigError(
                "Token: paste the access token (HubSpot service key or private-app/OAuth token; "
                "GoHighLevel private integration token)."
            )
        if not same_destination:
            raise CrmConfigError(
                "Token: the CRM's address changed, so paste its access token again; the stored "
                "token is only ever sent where it was entered for."
            )
    if crm_type == "gohighlevel" and not (location_id or "").strip():
        raise CrmConfigError("Location id: GoHighLevel needs the sub-account's location id.")
    if crm_type == "webhook" and not url:
        raise CrmConfigError("URL: a webhook needs the URL to POST leads to.")
    generated = False
    if crm_type == "webhook" and not secret:
        stored = secrets.get_secret(webhook_secret_name(workspace_id))
        if not (stored and same_destination):
            if not generated_secret:
                raise CrmConfigError(
                    "Signing secret: "
                    + (
                        "the webhook URL changed, so enter its signing secret again (or leave it "
                        "empty where a new one is generated and shown once)."
                        if stored
                        else "enter the webhook's signing secret (or leave it empty where a new "
                        "one is generated and shown once)."
                    )
                )
            secret, generated = generated_secret, True
    if token:
        secrets.set_secret(db, token_name(workspace_id), token, kind="crm_token", actor=user.email)
    if secret:
        secrets.set_secret(
            db, webhook_secret_name(workspace_id), secret, kind="crm_token", actor=user.email
        )
    row = {
        "crm_type": crm_type,
        "url": url,
        "location_id": (location_id or "").strip() or None,
        "create_deal": bool(create_deal),
        "deal_pipeline": (deal_pipeline or "").strip() or None,
        "deal_stage": (deal_stage or "").strip() or None,
        "enabled": bool(enabled),
    }
    with db.transaction() as cur:
        cur.execute(
            "INSERT INTO crm_configs (workspace_id, crm_type, url, location_id, create_deal, deal_pipeline,"
            " deal_stage, enabled, updated_by) VALUES ($w, $crm_type, $url, $location_id, $create_deal,"
            " $deal_pipeline, $deal_stage, $enabled, $by) ON CONFLICT (workspace_id) DO UPDATE SET"
            " crm_type = excluded.crm_type, url = excluded.url, location_id = excluded.location_id,"
            " create_deal = excluded.create_deal, deal_pipeline = excluded.deal_pipeline,"
            " deal_stage = excluded.deal_stage, enabled = excluded.enabled, updated_at = now(),"
            " updated_by = excluded.updated_by",
            {**row, "w": workspace_id, "by": user.email},
        )
        audit.record(
            cur,
            actor=user.email,
            action="crm.configure",
            entity="crm_config",
            entity_id=workspace_id,
            before=previous,
            after={**row, "token": "set" if token else None, "secret": "set" if secret else None},
        )
    return {"secret_generated": generated}


def delete_config(db: Database, user: access.User, workspace_id: int) -> None:
    access.require(user, "crm.manage")
    for name in (token_name(workspace_id), webhook_secret_name(workspace_id)):
        if db.scalar("SELECT count(*) FROM secret_refs WHERE name = ?", [name]):
            secrets.delete_secret(db, name, actor=user.email)
    with db.transaction() as cur:
        cur.execute("DELETE FROM crm_configs WHERE workspace_id = ?", [workspace_id])
        audit.record(
            cur, actor=user.email, action="crm.remove", entity="crm_config", entity_id=workspace_id
        )


def list_configs(db: Database, scope: Scope, *, remote_text: bool = False) -> pl.DataFrame:
    """Each client's CRM. `remote_text` (admins only) keeps the last test's message, which may
    quote what the CRM answered; otherwise only whether it passed."""
    message = "c.last_test_message" if remote_text else "CAST(NULL AS VARCHAR)"
    return db.query(
        f"""
        SELECT c.workspace_id, w.name AS client, c.crm_type, c.url, c.location_id, c.create_deal,
               c.deal_pipeline, c.deal_stage, c.enabled, '…' || t.last4 AS token, '…' || s.last4 AS signing_secret,
               c.last_test_at, c.last_test_ok, {message} AS last_test_message, c.updated_at, c.updated_by
        FROM crm_configs c JOIN workspaces w ON w.id = c.workspace_id
        LEFT JOIN secret_refs t ON t.name = 'crm.workspace.' || c.workspace_id
        LEFT JOIN secret_refs s ON s.name = 'crm.webhook.' || c.workspace_id
        WHERE {scope.filter("c.workspace_id")} ORDER BY w.name
        """
    )


def config(db: Database, workspace_id: int) -> dict[str, Any] | None:
    df = db.query("SELECT * FROM crm_configs WHERE workspace_id = ?", [workspace_id])
    return df.row(0, named=True) if df.height else None


Connector = HubSpotClient | GoHighLevelClient | WebhookClient


def connector_for(
    conf: dict[str, Any],
    on_attempt: Callable[[Attempt], None] | None,
    *,
    transport: httpx.BaseTransport | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Connector:
    wid = conf["workspace_id"]
    kw: dict[str, Any] = {"on_attempt": on_attempt, "transport": transport, "sleep": sleep}
    if conf["crm_type"] == "webhook":
        secret = secrets.get_secret(webhook_secret_name(wid))
        if not secret:
            raise CrmConfigError("The webhook's signing secret is missing from the secret store.")
        return WebhookClient(conf["url"], secret, **kw)
    token = secrets.get_secret(token_name(wid))
    if not token:
        raise CrmConfigError("The CRM token is missing from the secret store; save it again.")
    if conf["crm_type"] == "hubspot":
        return HubSpotClient(token, base_url=conf["url"], **kw)
    return GoHighLevelClient(token, conf["location_id"] or "", base_url=conf["url"], **kw)


def write_attempts(cur, workspace_id: int, key: str | None, attempts: list[Attempt]) -> None:
    if attempts:
        cur.executemany(
            "INSERT INTO crm_attempts (delivery_key, workspace_id, attempted_at, method, path, status_code, ok,"
            " duration_ms, response_excerpt) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                [
                    key,
                    workspace_id,
                    a.at,
                    a.method,
                    a.path,
                    a.status,
                    a.ok,
                    a.duration_ms,
                    a.excerpt,
                ]
                for a in attempts
            ],
        )


def failure_text(exc: Exception) -> str:
    """What a failed test says: the status and address, and at most REMOTE_TEXT_CHARS of the
    CRM's own answer (redacted). Only admins see it."""
    if isinstance(exc, BlockedDestination):
        return redact(f"Failed: {exc.message}")
    if isinstance(exc, ApiError):
        head = f"HTTP {exc.status}" if exc.status is not None else "no response"
        where = " ".join(p for p in (exc.method, exc.url) if p)
        remote = " ".join(exc.message.split())
        if len(remote) > REMOTE_TEXT_CHARS:
            remote = remote[:REMOTE_TEXT_CHARS] + "…"
        return redact(f"Failed: {head}{' ' + where if where else ''}: {remote}")
    return redact(f"Failed: {exc}")


def test_connection(
    db: Database,
    user: access.User,
    workspace_id: int,
    *,
    transport: httpx.BaseTransport | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[bool, str]:
    access.require(user, "crm.manage")
    conf = config(db, workspace_id)
    if conf is None:
        raise CrmConfigError("This client has no CRM configured.")
    attempts: list[Attempt] = []
    try:
        client = connector_for(conf, attempts.append, transport=transport, sleep=sleep)
        try:
            ok, message = True, client.check()
        finally:
            client.close()
    except (ApiError, CrmConfigError, ValueError) as exc:
        ok, message = False, failure_text(exc)
    with db.transaction() as cur:
        write_attempts(cur, workspace_id, None, attempts)
        cur.execute(
            "UPDATE crm_configs SET last_test_at = now(), last_test_ok = ?, last_test_message = ? WHERE workspace_id = ?",
            [ok, message[:500], workspace_id],
        )
        audit.record(
            cur,
            actor=user.email,
            action="crm.test",
            entity="crm_config",
            entity_id=workspace_id,
            after={"ok": ok},
        )
    return ok, message
