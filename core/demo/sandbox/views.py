"""Serialisers (sandbox state → Email Bison JSON) and request helpers of the simulated server."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

from core.demo.sandbox.data import FakeLead, FakeReply, FakeWorkspace, iso

if TYPE_CHECKING:
    from core.demo.sandbox.server import Ctx

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class Fail(Exception):
    """Abort a request with this status and JSON body."""

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}


def invalid(errors: dict[str, list[str]]) -> Fail:
    """A Laravel 422 body: first message, "(and N more errors)", and the errors dict."""
    messages = [m for msgs in errors.values() for m in msgs]
    message = messages[0] if messages else "The given data was invalid."
    extra = len(messages) - 1
    if extra > 0:
        message += f" (and {extra} more error{'s' if extra > 1 else ''})"
    return Fail(422, {"message": message, "errors": errors})


def label(field: str) -> str:
    """Laravel's attribute name in messages: ``start_date`` → ``start date``."""
    return field.replace("_", " ") if "." not in field else field


def required(field: str) -> str:
    return f"The {label(field)} field is required."


def not_found(kind: str, record_id: object) -> Fail:
    return Fail(
        404,
        {
            "data": {
                "success": False,
                "message": "Record not found.",
                "record_not_found": {kind: str(record_id)},
            }
        },
    )


FORBIDDEN = Fail(
    403,
    {
        "data": {
            "success": False,
            "message": "This action is unauthorized. The api key does not match the workspace "
            "the record is on.",
        }
    },
)
UNAUTHENTICATED = Fail(401, {"message": "Unauthenticated."})


def campaign_of(ctx: Ctx, campaign_id: Any) -> dict[str, Any]:
    """The campaign, or 404 if it does not exist, or 403 if another workspace owns it."""
    cid = q_int(campaign_id, "campaign_id")
    if cid is None:
        raise not_found("campaign", campaign_id)
    if cid in ctx.ws.campaigns:
        return ctx.ws.campaigns[cid]
    if ctx.state.owner("campaigns", cid) is None:
        raise not_found("campaign", cid)
    raise FORBIDDEN


def success(message: str, **extra: Any) -> dict[str, Any]:
    return {"data": {"success": True, "message": message, **extra}}


# --------------------------------------------------------------------------- query parsing


def parse_query(items: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """Nested dict from ``a[b][c]=1``, ``a.b.c=1``, ``ids[]=1&ids[]=2``, ``ids[0]=1``."""
    root: dict[str, Any] = {}
    for key, value in items:
        parts = key.replace("]", "").replace("[", ".").split(".")
        node: Any = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if isinstance(node, list):
                if last:
                    node.append(value)
                break
            if last:
                node[part] = value
                break
            following = parts[i + 1]
            if part not in node or not isinstance(node[part], dict | list):
                node[part] = [] if following == "" or following.isdigit() else {}
            node = node[part]
    return root


def q_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v) for v in value]
    if isinstance(value, dict):
        return [str(v) for _, v in sorted(value.items())]
    return [str(value)]


def q_int(value: Any, field: str, errors: dict[str, list[str]] | None = None) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(str(value))
    except ValueError:
        if errors is not None:
            errors[field] = [f"The {label(field)} field must be an integer."]
        return None


def q_bool(value: Any) -> bool | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    text = str(value).lower()
    if text in ("1", "true"):
        return True
    if text in ("0", "false"):
        return False
    raise invalid({"read": ["The read field must be true or false."]})


def q_date(value: Any, field: str, errors: dict[str, list[str]]) -> date | None:
    if value is None or value == "":
        errors[field] = [required(field)]
        return None
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        errors[field] = [f"The {label(field)} field must be a valid date."]
        return None


def date_range(source: dict[str, Any]) -> tuple[date, date]:
    errors: dict[str, list[str]] = {}
    start = q_date(source.get("start_date"), "start_date", errors)
    end = q_date(source.get("end_date"), "end_date", errors)
    if start and end and end < start:
        errors["end_date"] = ["The end date field must be a date after or equal to start date."]
    if errors:
        raise invalid(errors)
    assert start is not None and end is not None
    return start, end


def paginate(
    items: Sequence[Any],
    query: dict[str, Any],
    url: str,
    serialize: Callable[[Any], dict[str, Any]],
    page_size: int,
) -> dict[str, Any]:
    """Laravel resource envelope; ``per_page`` is ignored like the real API."""
    page = q_int(query.get("page"), "page") or 1
    page = max(1, page)
    total = len(items)
    last = max(1, math.ceil(total / page_size))
    start = (page - 1) * page_size
    chunk = items[start : start + page_size]

    def link(n: int) -> str:
        return f"{url}?page={n}"

    return {
        "data": [serialize(item) for item in chunk],
        "links": {
            "first": link(1),
            "last": link(last),
            "prev": link(page - 1) if page > 1 else None,
            "next": link(page + 1) if page < last else None,
        },
        "meta": {
            "current_page": page,
            "from": start + 1 if chunk else None,
            "last_page": last,
            "links": [],
            "path": url,
            "per_page": page_size,
            "to": start + len(chunk) if chunk else None,
            "total": total,
        },
    }


# --------------------------------------------------------------------------- serialisers


def ser_tag(tag: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": tag["id"],
        "name": tag["name"],
        "default": tag["default"],
        "created_at": iso(tag["created"]),
        "updated_at": iso(tag["updated"]),
    }


def _tag_refs(ws: FakeWorkspace, tag_ids: list[int] | None) -> list[dict[str, Any]]:
    return [
        {"id": t, "name": ws.tags[t]["name"], "default": ws.tags[t]["default"]}
        for t in tag_ids or []
        if t in ws.tags
    ]


_STRING_COUNTERS = ("emails_sent", "replied", "interested", "total_leads")
_CAMPAIGN_FIELDS = (
    "id uuid name type status completion_percentage emails_sent opened unique_opens replied "
    "unique_replies bounced unsubscribed interested total_leads_contacted total_leads "
    "max_emails_per_day max_new_leads_per_day plain_text open_tracking can_unsubscribe "
    "unsubscribe_text sequence_id"
).split()


def ser_campaign(ws: FakeWorkspace, c: dict[str, Any]) -> dict[str, Any]:
    out = {k: c[k] for k in _CAMPAIGN_FIELDS}
    if c["strings"]:
        for key in _STRING_COUNTERS:
            out[key] = str(out[key])
    out["tags"] = _tag_refs(ws, c["tag_ids"])
    out["created_at"] = iso(c["created"])
    out["updated_at"] = iso(c["updated"])
    return out


def ser_sender(ws: FakeWorkspace, s: dict[str, Any], scoped: bool = False) -> dict[str, Any]:
    out = {k: v for k, v in s.items() if k not in ("tag_ids", "created", "updated")}
    if scoped:  # the campaign-scoped list omits these in the spec example
        out.pop("email_signature", None)
        out.pop("warmup_enabled", None)
    out["tags"] = _tag_refs(ws, s["tag_ids"])
    out["created_at"] = iso(s["created"])
    out["updated_at"] = iso(s["updated"])
    return out


def ser_lead(ws: FakeWorkspace, lead: FakeLead) -> dict[str, Any]:
    return {
        "id": lead.id,
        "first_name": lead.first_name,
        "last_name": lead.last_name,
        "email": lead.email,
        "title": lead.title,
        "company": lead.company,
        "notes": lead.notes,
        "status": lead.status,
        "custom_variables": [{"name": k, "value": v} for k, v in (lead.variables or {}).items()],
        "lead_campaign_data": [dict(c) for c in lead.campaigns or []],
        "overall_stats": {
            "emails_sent": lead.emails_sent,
            "opens": lead.opens,
            "replies": lead.replies,
            "unique_replies": lead.replies,
            "unique_opens": lead.opens,
        },
        "tags": _tag_refs(ws, lead.tag_ids),
        "created_at": iso(lead.created),
        "updated_at": iso(lead.updated),
    }


def ser_reply(r: FakeReply) -> dict[str, Any]:
    campaign_id: int | str | None = r.campaign_id
    if r.campaign_id_as_string and campaign_id is not None:
        campaign_id = str(campaign_id)
    return {
        "id": r.id,
        "uuid": r.uuid or f"00000000-0000-4000-8000-{r.id:012d}",
        "folder": r.folder,
        "subject": r.subject,
        "read": r.read,
        "interested": r.interested,
        "automated_reply": r.automated,
        "html_body": f"<div>{r.text}</div>",
        "text_body": r.text,
        "raw_body": None,
        "headers": None,
        "date_received": iso(r.received),
        "type": r.type,
        "tracked_reply": r.type == "Tracked Reply",
        "scheduled_email_id": r.scheduled_email_id,
        "campaign_id": campaign_id,
        "lead_id": r.lead_id,
        "sender_email_id": r.sender_email_id,
        "raw_message_id": f"<{r.id}@mail.example>",
        "from_name": r.from_name,
        "from_email_address": r.from_email,
        "primary_to_email_address": r.to_email,
        "to": [{"name": None, "address": r.to_email}],
        "cc": None,
        "bcc": None,
        "parent_id": r.parent_id,
        "attachments": [],
        "created_at": iso(r.received),
        "updated_at": iso(r.updated),
    }
