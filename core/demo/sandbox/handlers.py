"""Endpoint handlers of the simulated Email Bison: account, workspaces, campaigns, stats.

Each handler takes a :class:`~core.demo.sandbox.server.Ctx` and returns a JSON
body (or ``(status, body)``); it raises :class:`Fail` for error responses.
Schedules live in :mod:`handlers_schedules`; lead, tag, reply and sender handlers in
:mod:`handlers_inbox`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from core.demo.sandbox import handlers_inbox as inbox
from core.demo.sandbox import handlers_schedules as sched
from core.demo.sandbox.data import (
    BisonState,
    FakeWorkspace,
    days_between,
    iso,
    secret_for,
)
from core.demo.sandbox.views import (
    Fail,
    campaign_of,
    date_range,
    invalid,
    not_found,
    paginate,
    q_int,
    q_list,
    required,
    ser_campaign,
    ser_sender,
    success,
)

if TYPE_CHECKING:
    from core.demo.sandbox.server import Ctx

CAMPAIGN_STATUSES = {
    "draft",
    "launching",
    "active",
    "stopped",
    "completed",
    "paused",
    "failed",
    "queued",
    "archived",
    "pending deletion",
    "deleted",
}
SERIES = [
    ("Replied", "replied", "#f54842"),
    ("Total Opens", "total_opens", "#10B981"),
    ("Unique Opens", "unique_opens", "#6366F1"),
    ("Sent", "sent", "#3B82F6"),
    ("Bounced", "bounced", "#F59E0B"),
    ("Unsubscribed", "unsubscribed", "#6B7280"),
    ("Interested", "interested", "#22C55E"),
]


# --------------------------------------------------------------------------- account


def get_user(ctx: Ctx) -> Any:
    return {
        "data": {
            "id": 1,
            "name": "Ops Admin",
            "email": "ops@agency.example",
            "current_team_id": ctx.ws.id,
            "profile_photo_url": None,
        }
    }


def ser_workspace(ws: FakeWorkspace) -> dict[str, Any]:
    return {
        "id": ws.id,
        "name": ws.name,
        "personal_team": ws.id == 1,
        "main": ws.id == 1,
        "parent_id": None if ws.id == 1 else 1,
        "total_monthly_email_verification_credits": 0,
        "remaining_monthly_email_verification_credits": 0,
        "remaining_email_verification_credits": 0,
        "total_email_verification_credits": 0,
        "sender_email_limit": 100000,
        "warmup_limit": 100000,
        "warmup_filter_phrase": None,
        "sender_email_limit_disabled": False,
        "has_access_to_warmup": True,
        "has_access_to_healthcheck": False,
        "created_at": iso(ws.created),
        "updated_at": iso(ws.created),
    }


def list_workspaces(ctx: Ctx) -> Any:
    spaces = list(ctx.state.workspaces.values()) if ctx.admin else [ctx.ws]
    return {"data": [ser_workspace(ws) for ws in spaces]}


def _require_admin(ctx: Ctx) -> None:
    if not ctx.admin:
        raise Fail(403, {"data": {"success": False, "message": "This action is unauthorized."}})


def switch_workspace(ctx: Ctx) -> Any:
    _require_admin(ctx)
    team_id = q_int(ctx.body.get("team_id"), "team_id")
    if team_id is None:
        raise invalid({"team_id": [required("team_id")]})
    if team_id not in ctx.state.workspaces:
        raise not_found("team", team_id)
    ctx.state.current_workspace_id = team_id
    return success("Workspace switched.")


def mint_token(ctx: Ctx) -> Any:
    _require_admin(ctx)
    team_id = ctx.params["team_id"]
    if team_id not in ctx.state.workspaces:
        raise not_found("team", team_id)
    name = ctx.body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise invalid({"name": [required("name")]})
    token_id, token = ctx.state.mint_token(team_id)
    now = iso(ctx.now())
    return {
        "data": {
            "id": token_id,
            "name": name,
            "plain_text_token": token,
            "token_hash": secret_for("hash", token),
            "abilities": ["*"],
            "created_at": now,
            "updated_at": now,
        }
    }


# --------------------------------------------------------------------------- stats


def _clamped_days(state: BisonState, ws: FakeWorkspace, start: date, end: date) -> list[date]:
    first = min(
        (datetime.fromtimestamp(c["created"], UTC).date() for c in ws.campaigns.values()),
        default=state.today,
    )
    return days_between(max(start, first), min(end, state.today))


def _totals(ctx: Ctx, cids: list[int], start: date, end: date) -> dict[str, int]:
    totals = {key: 0 for _, key, _ in SERIES}
    for day in _clamped_days(ctx.state, ctx.ws, start, end):
        for cid in cids:
            for key, value in ctx.state.daily(ctx.ws, cid, day).items():
                totals[key] += value
    return totals


def _stats_body(totals: dict[str, int]) -> dict[str, Any]:
    """Top-level numbers are strings, as the reference shows."""
    contacted = totals["sent"] * 2 // 5

    def pct(value: int) -> str:
        return str(round(100 * value / contacted)) if contacted else "0"

    return {
        "emails_sent": str(totals["sent"]),
        "total_leads_contacted": str(contacted),
        "opened": str(totals["total_opens"]),
        "opened_percentage": pct(totals["unique_opens"]),
        "unique_opens_per_contact": str(totals["unique_opens"]),
        "unique_opens_per_contact_percentage": pct(totals["unique_opens"]),
        "unique_replies_per_contact": str(totals["replied"]),
        "unique_replies_per_contact_percentage": pct(totals["replied"]),
        "bounced": str(totals["bounced"]),
        "bounced_percentage": pct(totals["bounced"]),
        "unsubscribed": str(totals["unsubscribed"]),
        "unsubscribed_percentage": pct(totals["unsubscribed"]),
        "interested": str(totals["interested"]),
        "interested_percentage": pct(totals["interested"]),
    }


def _series(ctx: Ctx, cids: list[int], start: date, end: date) -> Any:
    days = days_between(start, end)
    live = set(_clamped_days(ctx.state, ctx.ws, start, end))
    per_day = []
    for day in days:
        row = {key: 0 for _, key, _ in SERIES}
        if day in live:
            for cid in cids:
                for key, value in ctx.state.daily(ctx.ws, cid, day).items():
                    row[key] += value
        per_day.append((day.isoformat(), row))
    return {
        "data": [
            {"label": label, "color": color, "dates": [[d, row[key]] for d, row in per_day]}
            for label, key, color in SERIES
        ]
    }


def workspace_stats(ctx: Ctx) -> Any:
    start, end = date_range(ctx.query)
    return {"data": _stats_body(_totals(ctx, list(ctx.ws.campaigns), start, end))}


def workspace_chart(ctx: Ctx) -> Any:
    start, end = date_range(ctx.query)
    return _series(ctx, list(ctx.ws.campaigns), start, end)


# --------------------------------------------------------------------------- campaigns


def list_campaigns(ctx: Ctx) -> Any:
    status = ctx.query.get("status")
    if status is not None and str(status).lower() not in CAMPAIGN_STATUSES:
        raise invalid({"status": ["The selected status is invalid."]})
    search = str(ctx.query.get("search") or "").lower()
    tag_ids = {int(t) for t in q_list(ctx.query.get("tag_ids")) if t.isdigit()}
    key = ("campaigns", str(status).lower() if status else None, search, tuple(sorted(tag_ids)))

    def build() -> list[dict[str, Any]]:
        return [
            c
            for c in ctx.ws.campaigns.values()
            if (status is None or str(c["status"]).lower() == str(status).lower())
            and (not search or search in c["name"].lower())
            and (not tag_ids or tag_ids & set(c["tag_ids"]))
        ]

    items = ctx.ws.view(key, build)
    return paginate(
        items, ctx.query, ctx.url, lambda c: ser_campaign(ctx.ws, c), ctx.fake.page_size
    )


def get_campaign(ctx: Ctx) -> Any:
    return {"data": ser_campaign(ctx.ws, campaign_of(ctx, ctx.params["campaign_id"]))}


def _set_status(ctx: Ctx, status: str) -> Any:
    campaign = campaign_of(ctx, ctx.params["campaign_id"])
    if status == "Active" and campaign["sequence_id"] is None:
        raise Fail(
            400,
            {
                "data": {
                    "success": False,
                    "message": f"Sequence steps do not exist for {campaign['name']}",
                }
            },
        )
    campaign["status"] = status
    campaign["updated"] = ctx.now()
    ctx.ws.touch()
    return {"data": ser_campaign(ctx.ws, campaign)}


def update_campaign(ctx: Ctx) -> Any:
    campaign = campaign_of(ctx, ctx.params["campaign_id"])
    body = ctx.body if isinstance(ctx.body, dict) else {}
    name = body.get("name")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise invalid({"name": ["The name field must be a string."]})
    for key in ("name", "max_emails_per_day", "max_new_leads_per_day"):
        if key in body:
            campaign[key] = body[key]
    campaign["updated"] = ctx.now()
    ctx.ws.touch()
    return get_campaign(ctx)


def pause_campaign(ctx: Ctx) -> Any:
    return _set_status(ctx, "Paused")


def resume_campaign(ctx: Ctx) -> Any:
    return _set_status(ctx, "Active")


def archive_campaign(ctx: Ctx) -> Any:
    return _set_status(ctx, "Archived")


def duplicate_campaign(ctx: Ctx) -> Any:
    """201 with "Copy of …"; the copy shares the original's sequence (as observed)."""
    original = campaign_of(ctx, ctx.params["campaign_id"])
    cid = ctx.ws.new_id("campaign")
    now = ctx.now()
    copy = dict(original)
    counters = (
        "emails_sent opened unique_opens replied unique_replies bounced unsubscribed "
        "interested total_leads_contacted total_leads"
    ).split()
    copy.update({k: 0 for k in counters})
    copy.update(
        id=cid,
        uuid=f"00000000-0000-4000-9000-{cid:012d}",
        name=f"Copy of {original['name']}",
        status="Draft",
        completion_percentage=0,
        strings=False,
        tag_ids=list(original["tag_ids"]),
        created=now,
        updated=now,
    )
    ctx.ws.campaigns[cid] = copy
    ctx.ws.campaign_senders[cid] = list(ctx.ws.campaign_senders.get(original["id"], []))
    ctx.ws.touch()
    return 201, {"data": ser_campaign(ctx.ws, copy)}


def campaign_stats(ctx: Ctx) -> Any:
    campaign = campaign_of(ctx, ctx.params["campaign_id"])
    start, end = date_range(ctx.body if isinstance(ctx.body, dict) else {})
    totals = _totals(ctx, [campaign["id"]], start, end)
    body = _stats_body(totals)
    steps = ctx.ws.sequences.get(campaign["sequence_id"] or -1, [])
    if ctx.ws.step_seed is not None:
        body["sequence_step_stats"] = _loaded_step_stats(ctx, campaign["id"], steps, start, end)
        return {"data": body}
    count = len({s["order"] for s in steps}) or 1
    weights = [
        (count - int(s["order"]) + 1) / sum(1 for t in steps if str(t["order"]) == str(s["order"]))
        for s in steps
    ]
    total_weight = sum(weights) or 1

    def share(value: int, weight: float) -> int:
        return int(value * weight / total_weight)

    body["sequence_step_stats"] = [
        {
            "sequence_step_id": s["id"],
            "email_subject": s["email_subject"],
            "sent": share(totals["sent"], w),
            "leads_contacted": share(totals["sent"], w),
            "unique_opens": share(totals["unique_opens"], w),
            "unique_replies": share(totals["replied"], w),
            "unsubscribed": share(totals["unsubscribed"], w),
            "bounced": share(totals["bounced"], w),
            "interested": share(totals["interested"], w),
        }
        for s, w in zip(steps, weights, strict=True)
    ]
    return {"data": body}


STEP_STAT_KEYS = ("sent", "unique_opens", "unique_replies", "interested", "bounced", "unsubscribed")


def _loaded_step_stats(
    ctx: Ctx, cid: int, steps: list[dict[str, Any]], start: date, end: date
) -> list[dict[str, Any]]:
    """Per-step counts of a loaded workspace: the sums of its recorded days in the range."""
    sums = {s["id"]: dict.fromkeys(STEP_STAT_KEYS, 0) for s in steps}
    seed = ctx.ws.step_seed or {}
    for day in days_between(start, min(end, ctx.state.today)):
        for step_id, counts in seed.get((cid, day.toordinal()), {}).items():
            if step_id in sums:
                for key, value in counts.items():
                    sums[step_id][key] += value
    return [
        {
            "sequence_step_id": s["id"],
            "email_subject": s["email_subject"],
            "leads_contacted": sums[s["id"]]["sent"],
            **sums[s["id"]],
        }
        for s in steps
    ]


def campaign_chart(ctx: Ctx) -> Any:
    campaign = campaign_of(ctx, ctx.params["campaign_id"])
    start, end = date_range(ctx.query)
    return _series(ctx, [campaign["id"]], start, end)


def sequence_steps(ctx: Ctx) -> Any:
    campaign = campaign_of(ctx, ctx.params["campaign_id"])
    steps = ctx.ws.sequences.get(campaign["sequence_id"] or -1)
    if not steps:
        message = f"Sequence steps do not exist for {campaign['name']}"
        raise Fail(400, {"data": {"success": False, "message": message}})
    shape = ctx.fake.sequence_shape
    if shape == "bare-list":
        return steps
    if shape == "data-list":
        return {"data": steps}
    return {"data": {"sequence_id": campaign["sequence_id"], "sequence_steps": steps}}


def campaign_sender_emails(ctx: Ctx) -> Any:
    """Paginated at 15 even though the spec shows a bare list (as observed)."""
    campaign = campaign_of(ctx, ctx.params["campaign_id"])
    senders = [
        ctx.ws.senders[s]
        for s in ctx.ws.campaign_senders.get(campaign["id"], [])
        if s in ctx.ws.senders
    ]
    return paginate(
        senders,
        ctx.query,
        ctx.url,
        lambda s: ser_sender(ctx.ws, s, scoped=True),
        ctx.fake.page_size,
    )


def attach_leads(ctx: Ctx) -> Any:
    campaign = campaign_of(ctx, ctx.params["campaign_id"])
    lead_ids = ctx.body.get("lead_ids") if isinstance(ctx.body, dict) else None
    if not isinstance(lead_ids, list) or not lead_ids:
        raise invalid({"lead_ids": [required("lead_ids")]})
    errors: dict[str, list[str]] = {}
    for i, lid in enumerate(lead_ids):
        if not isinstance(lid, int) or lid not in ctx.ws.leads:
            errors[f"lead_ids.{i}"] = [f"The selected lead_ids.{i} is invalid."]
    if errors:
        raise invalid(errors)
    now = ctx.now()
    added = 0
    for lid in lead_ids:
        lead = ctx.ws.leads[lid]
        entries = lead.campaigns if lead.campaigns is not None else []
        if not any(e["campaign_id"] == campaign["id"] for e in entries):
            entries.append(
                {
                    "campaign_id": campaign["id"],
                    "status": "in_sequence",
                    "emails_sent": 0,
                    "replies": 0,
                    "opens": 0,
                    "interested": False,
                }
            )
            lead.campaigns = entries
            lead.updated = now
            added += 1
    campaign["total_leads"] += added
    campaign["updated"] = now
    ctx.ws.touch()
    return success("Leads have been attached to the campaign. It may take up to 5 minutes to sync.")


def remove_leads(ctx: Ctx) -> Any:
    """``DELETE /api/campaigns/{id}/leads``: the leads leave the campaign (stats kept)."""
    campaign = campaign_of(ctx, ctx.params["campaign_id"])
    lead_ids = ctx.body.get("lead_ids") if isinstance(ctx.body, dict) else None
    if not isinstance(lead_ids, list) or not lead_ids:
        raise invalid({"lead_ids": [required("lead_ids")]})
    errors = {
        f"lead_ids.{i}": [f"The selected lead_ids.{i} is invalid."]
        for i, lid in enumerate(lead_ids)
        if not isinstance(lid, int) or lid not in ctx.ws.leads
    }
    if errors:
        raise invalid(errors)
    removed = 0
    for lid in lead_ids:
        lead = ctx.ws.leads[lid]
        before = len(lead.campaigns or [])
        lead.campaigns = [e for e in lead.campaigns or [] if e["campaign_id"] != campaign["id"]]
        if len(lead.campaigns) < before:
            removed += 1
            lead.updated = ctx.now()
    campaign["total_leads"] = max(0, campaign["total_leads"] - removed)
    campaign["updated"] = ctx.now()
    ctx.ws.touch()
    return success("Leads have been removed from the campaign.")


ROUTES: list[tuple[str, str, Any]] = [
    ("GET", "/api/users", get_user),
    ("GET", "/api/workspaces/v1.1", list_workspaces),
    ("POST", "/api/workspaces/v1.1/switch-workspace", switch_workspace),
    ("GET", "/api/workspaces/v1.1/stats", workspace_stats),
    ("GET", "/api/workspaces/v1.1/line-area-chart-stats", workspace_chart),
    ("POST", "/api/workspaces/v1.1/{team_id:int}/api-tokens", mint_token),
    ("GET", "/api/campaigns", list_campaigns),
    ("GET", "/api/campaigns/v1.1/{campaign_id}/sequence-steps", sequence_steps),
    ("GET", "/api/campaigns/{campaign_id}", get_campaign),
    ("PATCH", "/api/campaigns/{campaign_id}/update", update_campaign),
    ("PATCH", "/api/campaigns/{campaign_id}/pause", pause_campaign),
    ("PATCH", "/api/campaigns/{campaign_id}/resume", resume_campaign),
    ("PATCH", "/api/campaigns/{campaign_id}/archive", archive_campaign),
    ("POST", "/api/campaigns/{campaign_id}/duplicate", duplicate_campaign),
    ("POST", "/api/campaigns/{campaign_id}/stats", campaign_stats),
    ("GET", "/api/campaigns/{campaign_id}/line-area-chart-stats", campaign_chart),
    ("GET", "/api/campaigns/{campaign_id}/scheduled-emails", sched.scheduled_emails),
    ("GET", "/api/campaigns/{campaign_id}/schedule", sched.get_schedule),
    ("POST", "/api/campaigns/{campaign_id}/schedule", sched.create_schedule),
    ("PUT", "/api/campaigns/{campaign_id}/schedule", sched.update_schedule),
    ("GET", "/api/campaigns/{campaign_id}/sender-emails", campaign_sender_emails),
    ("POST", "/api/campaigns/{campaign_id}/leads/attach-leads", attach_leads),
    ("DELETE", "/api/campaigns/{campaign_id}/leads", remove_leads),
    *inbox.ROUTES,
]
