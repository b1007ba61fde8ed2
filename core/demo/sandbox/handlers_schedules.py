"""Endpoint handlers of the simulated Email Bison: a campaign's sending schedule and its
scheduled emails (the rest of the campaign endpoints live in :mod:`handlers`)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from core.demo.sandbox.data import SCHEDULED_STRIDE, iso, mix
from core.demo.sandbox.views import (
    campaign_of,
    invalid,
    not_found,
    paginate,
    required,
    ser_lead,
    ser_sender,
)

if TYPE_CHECKING:
    from core.demo.sandbox.server import Ctx

WEEK = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _schedule(ctx: Ctx, campaign: dict[str, Any]) -> dict[str, Any] | None:
    """The campaign's schedule, made on first use: weekdays 8–17 in Chicago for most campaigns,
    none for drafts and for every tenth campaign."""
    cid = campaign["id"]
    if cid not in ctx.ws.schedules:
        if campaign["sequence_id"] is None or cid % 10 == 9:
            ctx.ws.schedules[cid] = None
        else:
            ctx.ws.schedules[cid] = {
                "id": cid,
                "campaign_id": cid,
                **{d: d not in ("saturday", "sunday") for d in WEEK},
                "start_time": "08:00",
                "end_time": "17:00",
                "timezone": "America/Chicago",
                "created_at": iso(campaign["created"]),
                "updated_at": iso(campaign["created"]),
            }
    return ctx.ws.schedules[cid]


def get_schedule(ctx: Ctx) -> Any:
    campaign = campaign_of(ctx, ctx.params["campaign_id"])
    schedule = _schedule(ctx, campaign)
    if schedule is None:
        raise not_found("schedule", campaign["id"])
    return {"data": schedule}


def _save_schedule(ctx: Ctx, *, update: bool) -> Any:
    """Validated like the spec's fields: every day a boolean, H:i times, a known time zone. Like
    the real API (as far as is known), it does not touch the campaign's ``updated_at``."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    campaign = campaign_of(ctx, ctx.params["campaign_id"])
    body = ctx.body if isinstance(ctx.body, dict) else {}
    errors: dict[str, list[str]] = {}
    for d in WEEK:
        if d not in body:
            errors[d] = [required(d)]
        elif not isinstance(body[d], bool):
            errors[d] = [f"The {d} field must be true or false."]
    for f in ("start_time", "end_time"):
        value = body.get(f)
        if value in (None, ""):
            errors[f] = [required(f)]
            continue
        try:
            datetime.strptime(str(value), "%H:%M")
        except ValueError:
            errors[f] = [f"The {f.replace('_', ' ')} field must match the format H:i."]
    tz = body.get("timezone")
    if not tz:
        errors["timezone"] = [required("timezone")]
    else:
        try:
            ZoneInfo(str(tz))
        except (ZoneInfoNotFoundError, ValueError):
            errors["timezone"] = ["The selected timezone is invalid."]
    if update and "save_as_template" not in body:
        errors["save_as_template"] = [required("save_as_template")]
    if errors:
        raise invalid(errors)
    old = _schedule(ctx, campaign)
    if update and old is None:
        raise not_found("schedule", campaign["id"])
    now = iso(ctx.now())
    schedule = {
        "id": campaign["id"],
        "campaign_id": campaign["id"],
        **{d: body[d] for d in WEEK},
        "start_time": body["start_time"],
        "end_time": body["end_time"],
        "timezone": tz,
        "created_at": old["created_at"] if old else now,
        "updated_at": now,
    }
    ctx.ws.schedules[campaign["id"]] = schedule
    return {"data": schedule}


def create_schedule(ctx: Ctx) -> Any:
    return _save_schedule(ctx, update=False)


def update_schedule(ctx: Ctx) -> Any:
    return _save_schedule(ctx, update=True)


def _scheduled(ctx: Ctx, campaign: dict[str, Any]) -> list[dict[str, Any]]:
    cid = campaign["id"]
    if cid not in ctx.ws.scheduled:
        items: list[dict[str, Any]] = []
        steps = ctx.ws.sequences.get(campaign["sequence_id"] or -1, [])
        lead_ids = list(ctx.ws.leads)
        senders = ctx.ws.campaign_senders.get(cid) or list(ctx.ws.senders)
        statuses = ["scheduled", "sent", "sent", "sent", "bounced", "paused"]
        n = ctx.state.sizes["scheduled"] if steps and lead_ids else 0
        for k in range(n):
            x = mix(cid, k)
            step = steps[k % len(steps)]
            status = statuses[x % len(statuses)]
            when = ctx.state.now + (k - n // 2) * 3600
            items.append(
                {
                    "id": cid * SCHEDULED_STRIDE + k + 1,
                    "lead_id": lead_ids[x % len(lead_ids)],
                    "sender_id": senders[k % len(senders)] if senders else None,
                    "sequence_step_id": step["id"],
                    "thread_reply": step["thread_reply"],
                    "email_subject": step["email_subject"],
                    "email_body": step["email_body"],
                    "status": status,
                    "scheduled": when,
                    "sent_at": when if status in ("sent", "bounced") else None,
                    "opens": (x >> 8) % 3 if status == "sent" else 0,
                    "replies": 1 if status == "sent" and (x >> 12) % 10 == 0 else 0,
                }
            )
        ctx.ws.scheduled[cid] = items
    return ctx.ws.scheduled[cid]


def scheduled_emails(ctx: Ctx) -> Any:
    campaign = campaign_of(ctx, ctx.params["campaign_id"])
    status = ctx.query.get("status")
    items = [
        s for s in _scheduled(ctx, campaign) if status is None or s["status"] == str(status).lower()
    ]

    def ser(s: dict[str, Any]) -> dict[str, Any]:
        lead = ctx.ws.leads.get(s["lead_id"])
        sender = ctx.ws.senders.get(s["sender_id"]) if s["sender_id"] else None
        return {
            "id": s["id"],
            "thread_reply": s["thread_reply"],
            "email_subject": s["email_subject"],
            "email_body": s["email_body"],
            "status": s["status"],
            "scheduled_date": iso(s["scheduled"]),
            "scheduled_date_local": iso(s["scheduled"]),
            "sent_at": iso(s["sent_at"]),
            "opens": s["opens"],
            "clicks": 0,
            "replies": s["replies"],
            "interested": False,
            "unique_replies": s["replies"],
            "unique_opens": min(1, s["opens"]),
            "sequence_step_id": s["sequence_step_id"],
            "lead": ser_lead(ctx.ws, lead) if lead else None,
            "sender_email": ser_sender(ctx.ws, sender, scoped=True) if sender else None,
        }

    return paginate(items, ctx.query, ctx.url, ser, ctx.fake.page_size)
