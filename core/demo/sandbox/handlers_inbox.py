"""Endpoint handlers of the simulated Email Bison: leads, tags, replies, sender emails."""

from __future__ import annotations

import operator
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from core.demo.sandbox.data import PERSONAL_DOMAINS, FakeLead, FakeReply
from core.demo.sandbox.views import (
    EMAIL_RE,
    FORBIDDEN,
    invalid,
    not_found,
    paginate,
    q_bool,
    q_date,
    q_int,
    q_list,
    required,
    ser_lead,
    ser_reply,
    ser_sender,
    ser_tag,
    success,
)

if TYPE_CHECKING:
    from core.demo.sandbox.server import Ctx

CRITERIA: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
}
LEAD_FIELDS = ("first_name", "last_name", "title", "company", "notes")
MAX_LEADS = 500


def _day(ts: float) -> date:
    return datetime.fromtimestamp(ts, UTC).date()


# --------------------------------------------------------------------------- leads


def _lead_predicate(ctx: Ctx) -> tuple[Any, Callable[[FakeLead], bool]]:
    filters = ctx.query.get("filters")
    filters = filters if isinstance(filters, dict) else {}
    search = str(ctx.query.get("search") or "").strip().lower()
    errors: dict[str, list[str]] = {}
    checks: list[Callable[[FakeLead], bool]] = []
    for key, attr in (("created_at", "created"), ("updated_at", "updated")):
        spec = filters.get(key)
        if not isinstance(spec, dict):
            continue
        criteria = str(spec.get("criteria") or "=")
        if criteria not in CRITERIA:
            errors[f"filters.{key}.criteria"] = [f"The selected filters.{key}.criteria is invalid."]
            continue
        value = q_date(spec.get("value"), f"filters.{key}.value", errors)
        if value is not None:
            op = CRITERIA[criteria]
            checks.append(lambda lead, a=attr, o=op, v=value: o(_day(getattr(lead, a)), v))
    for key in ("emails_sent", "opens", "replies"):
        spec = filters.get(key)
        if isinstance(spec, dict) and spec.get("value") not in (None, ""):
            op = CRITERIA.get(str(spec.get("criteria") or "="), operator.eq)
            number = q_int(spec.get("value"), f"filters.{key}.value", errors)
            if number is not None:
                checks.append(lambda lead, k=key, o=op, n=number: o(getattr(lead, k), n))
    statuses = set(q_list(filters.get("verification_statuses")))
    if statuses:
        checks.append(lambda lead: lead.status in statuses)
    campaign_status = filters.get("lead_campaign_status")
    if campaign_status:
        checks.append(
            lambda lead: any(c["status"] == campaign_status for c in lead.campaigns or [])
        )
    tag_ids = {int(t) for t in q_list(filters.get("tag_ids")) if t.isdigit()}
    if tag_ids:
        checks.append(lambda lead: bool(tag_ids & set(lead.tag_ids or [])))
    excluded = {int(t) for t in q_list(filters.get("excluded_tag_ids")) if t.isdigit()}
    if excluded:
        checks.append(lambda lead: not excluded & set(lead.tag_ids or []))
    if q_bool(filters.get("without_tags")):
        checks.append(lambda lead: not lead.tag_ids)
    if search:
        checks.append(
            lambda lead: (
                search in lead.email
                or search in f"{lead.first_name or ''} {lead.last_name or ''}".lower()
            )
        )
    if errors:
        raise invalid(errors)
    key = ("leads", search, repr(sorted(filters.items())))
    return key, lambda lead: all(check(lead) for check in checks)


def list_leads(ctx: Ctx) -> Any:
    key, keep = _lead_predicate(ctx)
    items = ctx.ws.view(key, lambda: [lead for lead in ctx.ws.leads.values() if keep(lead)])
    return paginate(
        items, ctx.query, ctx.url, lambda lead: ser_lead(ctx.ws, lead), ctx.fake.page_size
    )


def lead_of(ctx: Ctx, ref: Any) -> FakeLead:
    """A lead by id or email; 404 if unknown, 403 if another workspace owns the id."""
    text = str(ref)
    if "@" in text:
        lid = ctx.ws.lead_ids_by_email.get(text.lower())
        if lid is None:
            raise not_found("lead", text)
        return ctx.ws.leads[lid]
    lid = q_int(text, "lead_id")
    if lid is None:
        raise not_found("lead", text)
    if lid in ctx.ws.leads:
        return ctx.ws.leads[lid]
    if ctx.state.owner("leads", lid) is None:
        raise not_found("lead", lid)
    raise FORBIDDEN


def get_lead(ctx: Ctx) -> Any:
    return {"data": ser_lead(ctx.ws, lead_of(ctx, ctx.params["lead_id"]))}


def _validate_lead(row: Any, prefix: str, errors: dict[str, list[str]], names: bool) -> None:
    if not isinstance(row, dict):
        errors[prefix.rstrip(".") or "lead"] = [f"The {prefix.rstrip('.')} field must be an array."]
        return
    email = row.get("email")
    if not email or not isinstance(email, str):
        errors[f"{prefix}email"] = [required(f"{prefix}email")]
    elif not EMAIL_RE.match(email.strip()):
        errors[f"{prefix}email"] = [f"The {prefix}email field must be a valid email address."]
    if names:
        for field in ("first_name", "last_name"):
            if not row.get(field):
                errors[f"{prefix}{field}"] = [required(f"{prefix}{field}")]


def _variables(row: dict[str, Any]) -> dict[str, str] | None:
    custom = row.get("custom_variables")
    if isinstance(custom, list):
        return {str(v["name"]): str(v.get("value")) for v in custom if isinstance(v, dict)}
    return None


def _upsert(ctx: Ctx, row: dict[str, Any], behaviour: str, now: float) -> FakeLead:
    email = row["email"].strip().lower()
    lid = ctx.ws.lead_ids_by_email.get(email)
    if lid is None:
        lead = FakeLead(
            id=ctx.ws.new_id("lead"),
            email=email,
            first_name=row.get("first_name"),
            last_name=row.get("last_name"),
            status="unverified",
            created=now,
            updated=now,
            title=row.get("title"),
            company=row.get("company"),
            notes=row.get("notes"),
            variables=_variables(row),
        )
        ctx.ws.leads[lead.id] = lead
        ctx.ws.lead_ids_by_email[email] = lead.id
        return lead
    lead = ctx.ws.leads[lid]
    for field in LEAD_FIELDS:
        if field in row or behaviour == "put":
            setattr(lead, field, row.get(field))
    variables = _variables(row)
    if variables is not None:
        lead.variables = (
            variables if behaviour == "put" else {**(lead.variables or {}), **variables}
        )
    elif behaviour == "put":
        lead.variables = None
    lead.updated = now
    return lead


def create_lead(ctx: Ctx) -> Any:
    errors: dict[str, list[str]] = {}
    _validate_lead(ctx.body, "", errors, names=True)
    if not errors and ctx.body["email"].strip().lower() in ctx.ws.lead_ids_by_email:
        errors["email"] = ["The email has already been taken."]
    if errors:
        raise invalid(errors)
    lead = _upsert(ctx, ctx.body, "patch", ctx.now())
    ctx.ws.touch()
    return 201, {"data": ser_lead(ctx.ws, lead)}


def upsert_leads(ctx: Ctx) -> Any:
    body = ctx.body if isinstance(ctx.body, dict) else {}
    rows = body.get("leads")
    if not isinstance(rows, list) or not rows:
        raise invalid({"leads": [required("leads")]})
    if len(rows) > MAX_LEADS:
        raise invalid({"leads": [f"The leads field must not have more than {MAX_LEADS} items."]})
    behaviour = body.get("existing_lead_behavior", "put")
    errors: dict[str, list[str]] = {}
    if behaviour not in ("put", "patch"):
        errors["existing_lead_behavior"] = ["The selected existing lead behavior is invalid."]
    for i, row in enumerate(rows):
        _validate_lead(row, f"leads.{i}.", errors, names=False)
    if errors:
        raise invalid(errors)
    now = ctx.now()
    out = []
    for row in rows:
        domain = row["email"].strip().lower().rsplit("@", 1)[-1]
        if ctx.fake.skip_personal_domains and domain in PERSONAL_DOMAINS:
            continue
        out.append(ser_lead(ctx.ws, _upsert(ctx, row, behaviour, now)))
    ctx.ws.touch()
    return {"data": out}


def _drop_lead(ctx: Ctx, lead: FakeLead) -> None:
    ctx.ws.leads.pop(lead.id, None)
    ctx.ws.lead_ids_by_email.pop(lead.email, None)


def delete_lead(ctx: Ctx) -> Any:
    lead = lead_of(ctx, ctx.params["lead_id"])
    _drop_lead(ctx, lead)
    ctx.ws.touch()
    return success("Lead has been deleted.")


def delete_leads(ctx: Ctx) -> Any:
    ids = ctx.body.get("lead_ids") if isinstance(ctx.body, dict) else None
    if not isinstance(ids, list) or not ids:
        raise invalid({"lead_ids": [required("lead_ids")]})
    for lid in ids:
        if lid in ctx.ws.leads:
            _drop_lead(ctx, ctx.ws.leads[lid])
    ctx.ws.touch()
    return success("Leads have been deleted.")


# --------------------------------------------------------------------------- tags


def list_tags(ctx: Ctx) -> Any:
    return {"data": [ser_tag(t) for t in ctx.ws.tags.values()]}


def create_tag(ctx: Ctx) -> Any:
    name = ctx.body.get("name") if isinstance(ctx.body, dict) else None
    if not isinstance(name, str) or not name.strip():
        raise invalid({"name": [required("name")]})
    if any(t["name"].lower() == name.strip().lower() for t in ctx.ws.tags.values()):
        raise invalid({"name": ["The name has already been taken."]})
    now = ctx.now()
    tid = ctx.ws.new_id("tag")
    ctx.ws.tags[tid] = {
        "id": tid,
        "name": name.strip(),
        "default": False,
        "created": now,
        "updated": now,
    }
    ctx.ws.touch()
    return 201, {"data": ser_tag(ctx.ws.tags[tid])}


def delete_tag(ctx: Ctx) -> Any:
    tid = ctx.params["tag_id"]
    if tid not in ctx.ws.tags:
        raise not_found("tag", tid)
    del ctx.ws.tags[tid]
    for lead in ctx.ws.leads.values():
        if lead.tag_ids and tid in lead.tag_ids:
            lead.tag_ids = [t for t in lead.tag_ids if t != tid]
    ctx.ws.touch()
    return success("Tag has been deleted.")


def _tag_leads(ctx: Ctx, attach: bool) -> Any:
    body = ctx.body if isinstance(ctx.body, dict) else {}
    errors: dict[str, list[str]] = {}
    tag_ids, lead_ids = body.get("tag_ids"), body.get("lead_ids")
    for name, values, pool in (
        ("tag_ids", tag_ids, ctx.ws.tags),
        ("lead_ids", lead_ids, ctx.ws.leads),
    ):
        if not isinstance(values, list) or not values:
            errors[name] = [required(name)]
            continue
        for i, value in enumerate(values):
            if value not in pool:
                errors[f"{name}.{i}"] = [f"The selected {name}.{i} is invalid."]
    if errors:
        raise invalid(errors)
    now = ctx.now()
    for lid in lead_ids:
        lead = ctx.ws.leads[lid]
        current = list(lead.tag_ids or [])
        if attach:
            current += [t for t in tag_ids if t not in current]
        else:
            current = [t for t in current if t not in tag_ids]
        lead.tag_ids = current or None
        lead.updated = now
    ctx.ws.touch()
    verb = "attached to" if attach else "removed from"
    return success(f"Tags have been {verb} the leads.")


def attach_tags(ctx: Ctx) -> Any:
    return _tag_leads(ctx, attach=True)


def remove_tags(ctx: Ctx) -> Any:
    return _tag_leads(ctx, attach=False)


# --------------------------------------------------------------------------- replies


def reply_of(ctx: Ctx, reply_id: int) -> FakeReply:
    if reply_id in ctx.ws.replies:
        return ctx.ws.replies[reply_id]
    if ctx.state.owner("replies", reply_id) is None:
        raise not_found("reply", reply_id)
    raise FORBIDDEN


def list_replies(ctx: Ctx) -> Any:
    q = ctx.query
    folder = str(q.get("folder") or "all").lower()
    if folder not in ("inbox", "sent", "spam", "bounced", "all"):
        raise invalid({"folder": ["The selected folder is invalid."]})
    status = q.get("status")
    if status is not None and status not in (
        "interested",
        "automated_reply",
        "not_automated_reply",
    ):
        raise invalid({"status": ["The selected status is invalid."]})
    errors: dict[str, list[str]] = {}
    ids = {k: q_int(q.get(k), k, errors) for k in ("campaign_id", "lead_id", "sender_email_id")}
    if errors:
        raise invalid(errors)
    read = q_bool(q.get("read"))
    search = str(q.get("search") or "").lower()
    tag_ids = {int(t) for t in q_list(q.get("tag_ids")) if t.isdigit()}

    def keep(r: FakeReply) -> bool:
        if folder != "all" and r.folder.lower() != folder:
            return False
        if status == "interested" and not r.interested:
            return False
        if status == "automated_reply" and not r.automated:
            return False
        if status == "not_automated_reply" and r.automated:
            return False
        if read is not None and r.read != read:
            return False
        if any(v is not None and getattr(r, k) != v for k, v in ids.items()):
            return False
        if search and search not in r.subject.lower() and search not in r.from_email:
            return False
        if tag_ids:
            lead = ctx.ws.leads.get(r.lead_id or -1)
            return bool(lead and tag_ids & set(lead.tag_ids or []))
        return True

    key = ("replies", folder, status, read, tuple(ids.values()), search, tuple(sorted(tag_ids)))
    items = ctx.ws.view(key, lambda: [r for r in reversed(ctx.ws.replies.values()) if keep(r)])
    return paginate(items, q, ctx.url, ser_reply, ctx.fake.page_size)


def get_reply(ctx: Ctx) -> Any:
    return {"data": ser_reply(reply_of(ctx, ctx.params["reply_id"]))}


def _mark(ctx: Ctx, interested: bool) -> Any:
    reply = reply_of(ctx, ctx.params["reply_id"])
    now = ctx.now()
    if reply.interested != interested:
        reply.interested = interested
        delta = 1 if interested else -1
        campaign = ctx.ws.campaigns.get(reply.campaign_id or -1)
        if campaign is not None:
            campaign["interested"] = max(0, int(campaign["interested"]) + delta)
            campaign["updated"] = now
            ctx.state.record_daily(ctx.ws, campaign["id"], "interested", delta)
        lead = ctx.ws.leads.get(reply.lead_id or -1)
        if lead is not None:
            for entry in lead.campaigns or []:
                if entry["campaign_id"] == reply.campaign_id:
                    entry["interested"] = interested
            lead.updated = now
    reply.updated = now
    ctx.ws.touch()
    return {"data": ser_reply(reply)}


def mark_interested(ctx: Ctx) -> Any:
    return _mark(ctx, True)


def mark_not_interested(ctx: Ctx) -> Any:
    return _mark(ctx, False)


def send_reply(ctx: Ctx) -> Any:
    parent = reply_of(ctx, ctx.params["reply_id"])
    body = ctx.body if isinstance(ctx.body, dict) else {}
    errors: dict[str, list[str]] = {}
    if not body.get("message"):
        errors["message"] = [required("message")]
    if body.get("content_type", "html") not in ("html", "text"):
        errors["content_type"] = ["The selected content type is invalid."]
    reply_all = bool(body.get("reply_all"))
    sender_id = body.get("sender_email_id")
    recipients = body.get("to_emails") or []
    if not reply_all and sender_id is None:
        errors["sender_email_id"] = [required("sender_email_id")]
    if not reply_all and not recipients:
        errors["to_emails"] = [required("to_emails")]
    if sender_id is not None and sender_id not in ctx.ws.senders:
        errors["sender_email_id"] = ["The selected sender email id is invalid."]
    for i, item in enumerate(recipients if isinstance(recipients, list) else []):
        if not isinstance(item, dict) or not item.get("email_address"):
            errors[f"to_emails.{i}.email_address"] = [required(f"to_emails.{i}.email_address")]
    if errors:
        raise invalid(errors)
    sender = ctx.ws.senders.get(sender_id or parent.sender_email_id or -1)
    to_email = recipients[0]["email_address"] if recipients else parent.from_email
    now = ctx.now()
    sent = FakeReply(
        id=ctx.ws.new_id("reply"),
        campaign_id=parent.campaign_id,
        lead_id=parent.lead_id,
        sender_email_id=sender["id"] if sender else None,
        folder="Sent",
        type="Reply",
        subject=parent.subject if parent.subject.startswith("Re:") else f"Re: {parent.subject}",
        text=str(body["message"]),
        from_name=str(sender["name"]) if sender else "Agency",
        from_email=str(sender["email"]) if sender else "rep@example.com",
        to_email=to_email,
        received=now,
        updated=now,
        read=True,
        parent_id=parent.id,
    )
    ctx.ws.replies[sent.id] = sent
    ctx.ws.touch()
    return success("Successfully sent email", reply=ser_reply(sent))


# --------------------------------------------------------------------------- sender emails


def list_sender_emails(ctx: Ctx) -> Any:
    search = str(ctx.query.get("search") or "").lower()
    status = str(ctx.query.get("status") or "").lower()
    tag_ids = {int(t) for t in q_list(ctx.query.get("tag_ids")) if t.isdigit()}
    items = [
        s
        for s in ctx.ws.senders.values()
        if (not search or search in s["email"] or search in s["name"].lower())
        and (not status or str(s["status"]).lower() == status)
        and (not tag_ids or tag_ids & set(s["tag_ids"]))
    ]
    return paginate(items, ctx.query, ctx.url, lambda s: ser_sender(ctx.ws, s), ctx.fake.page_size)


def get_sender_email(ctx: Ctx) -> Any:
    sid = ctx.params["sender_email_id"]
    if sid in ctx.ws.senders:
        return {"data": ser_sender(ctx.ws, ctx.ws.senders[sid])}
    raise not_found("sender_email", sid)


def _sender_ids(ctx: Ctx) -> list[int]:
    """The ``sender_email_ids`` of a bulk body, each one an account of this workspace (422 else)."""
    ids = ctx.body.get("sender_email_ids") if isinstance(ctx.body, dict) else None
    if not isinstance(ids, list) or not ids:
        raise invalid({"sender_email_ids": [required("sender_email_ids")]})
    errors = {
        f"sender_email_ids.{i}": [f"The selected sender_email_ids.{i} is invalid."]
        for i, sid in enumerate(ids)
        if not isinstance(sid, int) or sid not in ctx.ws.senders
    }
    if errors:
        raise invalid(errors)
    return ids


def _daily_limit(ctx: Ctx) -> int:
    limit = ctx.body.get("daily_limit") if isinstance(ctx.body, dict) else None
    if limit is None:
        raise invalid({"daily_limit": [required("daily_limit")]})
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
        raise invalid({"daily_limit": ["The daily limit field must be an integer of 0 or more."]})
    return limit


def update_sender_email(ctx: Ctx) -> Any:
    sid = ctx.params["sender_email_id"]
    if sid not in ctx.ws.senders:
        raise not_found("sender_email", sid)
    sender = ctx.ws.senders[sid]
    body = ctx.body if isinstance(ctx.body, dict) else {}
    if "daily_limit" in body:
        sender["daily_limit"] = _daily_limit(ctx)
    for key in ("name", "email_signature"):
        if key in body:
            sender[key] = str(body[key])
    sender["updated"] = ctx.now()
    ctx.ws.touch()
    return {"data": ser_sender(ctx.ws, sender)}


def bulk_daily_limits(ctx: Ctx) -> Any:
    ids, limit = _sender_ids(ctx), _daily_limit(ctx)
    for sid in ids:
        ctx.ws.senders[sid]["daily_limit"] = limit
        ctx.ws.senders[sid]["updated"] = ctx.now()
    ctx.ws.touch()
    return success("Daily limits have been updated.")


def _warmup(ctx: Ctx, enabled: bool) -> Any:
    for sid in _sender_ids(ctx):
        ctx.ws.senders[sid]["warmup_enabled"] = enabled
        ctx.ws.senders[sid]["updated"] = ctx.now()
    ctx.ws.touch()
    return success(f"Warmup has been {'enabled' if enabled else 'disabled'}.")


def enable_warmup(ctx: Ctx) -> Any:
    return _warmup(ctx, True)


def disable_warmup(ctx: Ctx) -> Any:
    return _warmup(ctx, False)


ROUTES: list[tuple[str, str, Any]] = [
    ("GET", "/api/leads", list_leads),
    ("POST", "/api/leads", create_lead),
    ("POST", "/api/leads/create-or-update/multiple", upsert_leads),
    ("DELETE", "/api/leads/bulk", delete_leads),
    ("GET", "/api/leads/{lead_id}", get_lead),
    ("DELETE", "/api/leads/{lead_id:int}", delete_lead),
    ("GET", "/api/tags", list_tags),
    ("POST", "/api/tags", create_tag),
    ("POST", "/api/tags/attach-to-leads", attach_tags),
    ("POST", "/api/tags/remove-from-leads", remove_tags),
    ("DELETE", "/api/tags/{tag_id:int}", delete_tag),
    ("GET", "/api/replies", list_replies),
    ("GET", "/api/replies/{reply_id:int}", get_reply),
    ("PATCH", "/api/replies/{reply_id:int}/mark-as-interested", mark_interested),
    ("PATCH", "/api/replies/{reply_id:int}/mark-as-not-interested", mark_not_interested),
    ("POST", "/api/replies/{reply_id:int}/reply", send_reply),
    ("GET", "/api/sender-emails", list_sender_emails),
    ("GET", "/api/sender-emails/{sender_email_id:int}", get_sender_email),
    ("PATCH", "/api/sender-emails/{sender_email_id:int}", update_sender_email),
    ("PATCH", "/api/sender-emails/daily-limits/bulk", bulk_daily_limits),
    ("PATCH", "/api/warmup/sender-emails/enable", enable_warmup),
    ("PATCH", "/api/warmup/sender-emails/disable", disable_warmup),
]
