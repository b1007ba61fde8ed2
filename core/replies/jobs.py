"""Jobs for CRM delivery, shared by the CLI and the app (the app runs them for the CLI when it
holds the database)."""

from __future__ import annotations

from typing import Any

from core.accounts import access, workspaces
from core.platform import jobs, secrets
from core.platform.store import Database
from core.replies import crm_config, processing


def _workspace_id(db: Database, name: str | None) -> int | None:
    if not name:
        return None
    ws = workspaces.find_by_name(db, name)
    if ws is None:
        raise jobs.JobError(f"No client named {name!r}.")
    return int(ws["id"])


def _take_pending(name: str | None) -> str | None:
    """A value the CLI left in the keyring under a one-off name; removed once read."""
    if not name:
        return None
    value = secrets.get_secret(name)
    try:
        secrets.backend().delete_password(secrets.SERVICE, name)
    except Exception:
        pass
    return value


def _cli_user(params: dict[str, Any]) -> access.User:
    return access.User(email=params.get("actor", "cli"), role="admin", local=True)


@jobs.job("crm.set")
def crm_set_job(db: Database, params: dict[str, Any], progress: jobs.Progress) -> dict[str, Any]:
    """Configure a client's CRM. Credentials arrive only as the names of pending keyring entries
    (the CLI put them there), never as values; a generated signing secret stays with the CLI,
    which prints it once when the result says it was used. Nothing secret goes into the result."""
    token = _take_pending(params.get("pending_token"))
    secret = _take_pending(params.get("pending_secret"))
    generated = _take_pending(params.get("pending_generated_secret"))
    wid = _workspace_id(db, params["workspace"])
    try:
        out = crm_config.set_config(
            db,
            _cli_user(params),
            wid,
            params["crm_type"],
            url=params.get("url"),
            token=token,
            secret=secret,
            generated_secret=generated,
            location_id=params.get("location_id"),
            create_deal=bool(params.get("create_deal")),
            deal_pipeline=params.get("deal_pipeline"),
            deal_stage=params.get("deal_stage"),
        )
    except crm_config.CrmConfigError as exc:
        raise jobs.JobError(str(exc)) from None
    ok, message = (None, None)
    if params.get("test"):
        ok, message = crm_config.test_connection(db, _cli_user(params), wid)
    return {
        "workspace_id": wid,
        "secret_generated": out["secret_generated"],
        "test_ok": ok,
        "test_message": message,
    }


@jobs.job("crm.deliver")
def crm_deliver_job(
    db: Database, params: dict[str, Any], progress: jobs.Progress
) -> dict[str, Any]:
    wid = _workspace_id(db, params.get("workspace"))
    ids = [wid] if wid is not None else None
    out = processing.process_new_replies(
        db, ids, deal_stages=False, progress=lambda step: progress.update(step)
    )
    errors = {k: v for k, v in out.items() if k.endswith("_error")}
    if errors:
        raise jobs.JobError(
            "; ".join(f"{k.removesuffix('_error')}: {v}" for k, v in errors.items())
        )
    result = {"new_leads": out["new_leads"], "queued": out["queued"], **out["delivery"]}
    if result["failed"]:
        raise jobs.PartialFailure(
            f"{result['failed']} CRM deliver(ies) failed for good ({result['delivered']} delivered,"
            f" {result['retrying']} retrying later); the attempt log on the Client leads page says"
            " why, and Retry failed sends them again.",
            result,
        )
    return result


@jobs.job("replies.process")
def process_replies_job(
    db: Database, params: dict[str, Any], progress: jobs.Progress
) -> dict[str, Any]:
    """After an Email Bison sync: webhook events, classification, leads, deal stages, CRM."""
    ids = params.get("workspace_ids")
    return processing.process_new_replies(
        db, ids, ingest=bool(params.get("ingest", True)), progress=lambda s: progress.update(s)
    )


@jobs.job("replies.list")
def replies_list_job(
    db: Database, params: dict[str, Any], progress: jobs.Progress
) -> dict[str, Any]:
    """One page of the replies inbox with the same filters as the page, and the total."""
    import datetime as dt

    from core.platform.scope import Scope
    from core.replies import inbox

    wid = _workspace_id(db, params.get("workspace"))
    scope = Scope.all() if wid is None else Scope.only([wid])
    filters: dict[str, Any] = {
        "category": params.get("category") or None,
        "unread": bool(params.get("unread")),
        "unhandled": bool(params.get("unhandled")),
        "search": params.get("search") or None,
    }
    if params.get("interested") is not None:
        filters["interested"] = bool(params["interested"])
    for key in ("since", "until"):
        if params.get(key):
            filters[key] = dt.date.fromisoformat(str(params[key]))
    size = int(params.get("limit") or inbox.PAGE_SIZE)
    page = int(params.get("page") or 1)
    if size < 1 or page < 1:
        raise jobs.JobError("--page and --limit must be 1 or more.")
    rows = inbox.inbox(db, scope, limit=size, offset=(page - 1) * size, **filters)
    counts = inbox.inbox_count(db, scope, **filters)
    cols = ["workspace_id", "id", "received", "client", "name", "category", "interested"]
    cols += ["read", "handled", "preview"]
    return {
        "counts": counts,
        "page": page,
        "pages": max(1, -(-counts["total"] // size)),
        "replies": [
            {**r, "received": r["received"].isoformat() if r["received"] else None}
            for r in rows.select(cols).to_dicts()
        ],
    }


@jobs.job("replies.handled")
def replies_handled_job(
    db: Database, params: dict[str, Any], progress: jobs.Progress
) -> dict[str, Any]:
    """Mark a reply handled (or reopen it), as the page's Mark handled / Reopen."""
    from core.replies import inbox

    wid = _workspace_id(db, params.get("workspace"))
    if wid is None:
        raise jobs.JobError("Name the client the reply belongs to.")
    handled = not params.get("reopen")
    try:
        inbox.mark_handled(db, _cli_user(params), wid, int(params["reply_id"]), handled)
    except inbox.ReplyActionError as exc:
        raise jobs.JobError(str(exc)) from None
    return {"reply_id": int(params["reply_id"]), "handled": handled}
