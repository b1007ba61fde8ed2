"""Defensive parsers from Email Bison payloads to :mod:`connectors.bison.models` records.

Email Bison's payloads are loosely typed: counters arrive as ints or strings,
statuses as ``Active`` or ``active``, ids as ints or strings, lists bare or
wrapped in ``{data: ...}``. Everything here coerces instead of trusting types.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time
from functools import lru_cache
from typing import Any

from .models import (
    DAYS,
    ActionResult,
    Campaign,
    CampaignSchedule,
    DailyStats,
    Lead,
    LeadCampaign,
    Reply,
    ScheduledEmail,
    SenderEmail,
    SequenceStep,
    Stats,
    StepStats,
    Tag,
    Workspace,
    WorkspaceToken,
)

# --------------------------------------------------------------------------- coercion


def to_int(value: Any, default: int = 0) -> int:
    """Int from int/float/"12"/"1,234"/"12.0"; ``default`` when missing or unparseable."""
    result = to_opt_int(value)
    return default if result is None else result


def to_opt_int(value: Any) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value == value else None
    try:
        text = str(value).strip().replace(",", "")
        return int(float(text)) if "." in text or "e" in text.lower() else int(text)
    except (TypeError, ValueError):
        return None


def to_float(value: Any, default: float = 0.0) -> float:
    """Float from numbers or strings such as ``"50"`` or ``"45.2%"``."""
    if value is None or value == "" or isinstance(value, bool):
        return default
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value).strip().rstrip("%").replace(",", ""))
    except ValueError:
        return default


def to_bool(value: Any, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "y", "on", "t"}:
        return True
    if text in {"0", "false", "no", "n", "off", "f", "null", "none"}:
        return False
    return default


def to_opt_bool(value: Any) -> bool | None:
    return None if value is None else to_bool(value)


def to_str(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def to_lower(value: Any) -> str | None:
    """Case-normalised status/folder (``"Active"`` → ``"active"``)."""
    text = to_str(value)
    return text.strip().lower() if text is not None else None


def to_datetime(value: Any) -> datetime | None:
    """Aware UTC datetime from ``2025-04-14T16:59:21.000000Z`` and similar; None if unparseable."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(str(value).strip().replace(" ", "T", 1))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def to_date(value: Any) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip()
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        parsed = to_datetime(text)
        return parsed.date() if parsed else None


def unwrap(body: Any) -> Any:
    """``body["data"]`` when the body is a ``{data: ...}`` envelope, else the body."""
    if isinstance(body, dict) and "data" in body:
        return body["data"]
    return body


def as_list(body: Any) -> list[Any]:
    """The item list from a bare list or ``{data: [...]}``; ``[]`` for anything else."""
    data = unwrap(body)
    return data if isinstance(data, list) else []


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _first(raw: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        if raw.get(key) is not None:
            return raw[key]
    return None


# --------------------------------------------------------------------------- parsers


def parse_tag(raw: Any) -> Tag:
    raw = as_dict(raw)
    return Tag(
        id=to_int(raw.get("id")),
        name=to_str(raw.get("name")) or "",
        default=to_bool(raw.get("default")),
        created_at=to_datetime(raw.get("created_at")),
        updated_at=to_datetime(raw.get("updated_at")),
        raw=raw,
    )


def _tags(value: Any) -> list[Tag]:
    return [parse_tag(t) for t in value if isinstance(t, dict)] if isinstance(value, list) else []


def parse_workspace(raw: Any) -> Workspace:
    raw = as_dict(raw)
    return Workspace(
        id=to_int(raw.get("id")),
        name=to_str(raw.get("name")) or "",
        parent_id=to_opt_int(raw.get("parent_id")),
        main=to_bool(raw.get("main")),
        personal_team=to_bool(raw.get("personal_team")),
        sender_email_limit=to_opt_int(raw.get("sender_email_limit")),
        warmup_limit=to_opt_int(raw.get("warmup_limit")),
        created_at=to_datetime(raw.get("created_at")),
        updated_at=to_datetime(raw.get("updated_at")),
        raw=raw,
    )


def parse_token(raw: Any, workspace_id: int) -> WorkspaceToken:
    raw = as_dict(unwrap(raw))
    token = to_str(_first(raw, "plain_text_token", "token", "plainTextToken")) or ""
    abilities = raw.get("abilities")
    return WorkspaceToken(
        workspace_id=workspace_id,
        id=to_opt_int(raw.get("id")),
        name=to_str(raw.get("name")) or "",
        token=token,
        abilities=[str(a) for a in abilities] if isinstance(abilities, list) else [],
        created_at=to_datetime(raw.get("created_at")),
        raw=raw,
    )


def parse_campaign(raw: Any) -> Campaign:
    raw = as_dict(raw)
    label = to_str(raw.get("status"))
    return Campaign(
        id=to_int(raw.get("id")),
        name=to_str(raw.get("name")) or "",
        status=to_lower(label) or "unknown",
        status_label=label,
        uuid=to_str(raw.get("uuid")),
        type=to_lower(raw.get("type")),
        completion_percentage=to_float(raw.get("completion_percentage")),
        emails_sent=to_int(raw.get("emails_sent")),
        opened=to_int(raw.get("opened")),
        unique_opens=to_int(raw.get("unique_opens")),
        replied=to_int(raw.get("replied")),
        unique_replies=to_int(raw.get("unique_replies")),
        bounced=to_int(raw.get("bounced")),
        unsubscribed=to_int(raw.get("unsubscribed")),
        interested=to_int(raw.get("interested")),
        total_leads_contacted=to_int(raw.get("total_leads_contacted")),
        total_leads=to_int(raw.get("total_leads")),
        max_emails_per_day=to_opt_int(raw.get("max_emails_per_day")),
        max_new_leads_per_day=to_opt_int(raw.get("max_new_leads_per_day")),
        plain_text=to_opt_bool(raw.get("plain_text")),
        open_tracking=to_opt_bool(raw.get("open_tracking")),
        can_unsubscribe=to_opt_bool(raw.get("can_unsubscribe")),
        sequence_id=to_opt_int(raw.get("sequence_id")),
        tags=_tags(raw.get("tags")),
        created_at=to_datetime(raw.get("created_at")),
        updated_at=to_datetime(raw.get("updated_at")),
        raw=raw,
    )


def parse_step_stats(raw: Any) -> StepStats:
    raw = as_dict(raw)
    return StepStats(
        sequence_step_id=to_int(_first(raw, "sequence_step_id", "id")),
        email_subject=to_str(raw.get("email_subject")),
        sent=to_int(raw.get("sent")),
        leads_contacted=to_int(raw.get("leads_contacted")),
        unique_opens=to_int(raw.get("unique_opens")),
        unique_replies=to_int(raw.get("unique_replies")),
        unsubscribed=to_int(raw.get("unsubscribed")),
        bounced=to_int(raw.get("bounced")),
        interested=to_int(raw.get("interested")),
        raw=raw,
    )


def parse_stats(body: Any, start_date: date | None = None, end_date: date | None = None) -> Stats:
    raw = as_dict(unwrap(body))
    steps = raw.get("sequence_step_stats")
    return Stats(
        start_date=start_date,
        end_date=end_date,
        emails_sent=to_int(raw.get("emails_sent")),
        total_leads_contacted=to_int(raw.get("total_leads_contacted")),
        opened=to_int(raw.get("opened")),
        opened_percentage=to_float(raw.get("opened_percentage")),
        unique_opens_per_contact=to_int(raw.get("unique_opens_per_contact")),
        unique_opens_per_contact_percentage=to_float(
            raw.get("unique_opens_per_contact_percentage")
        ),
        unique_replies_per_contact=to_int(raw.get("unique_replies_per_contact")),
        unique_replies_per_contact_percentage=to_float(
            raw.get("unique_replies_per_contact_percentage")
        ),
        bounced=to_int(raw.get("bounced")),
        bounced_percentage=to_float(raw.get("bounced_percentage")),
        unsubscribed=to_int(raw.get("unsubscribed")),
        unsubscribed_percentage=to_float(raw.get("unsubscribed_percentage")),
        interested=to_int(raw.get("interested")),
        interested_percentage=to_float(raw.get("interested_percentage")),
        sequence_step_stats=[parse_step_stats(s) for s in steps if isinstance(s, dict)]
        if isinstance(steps, list)
        else [],
        raw=raw,
    )


# Series label (lower-case) → DailyStats attribute.
SERIES_FIELDS = {
    "sent": "sent",
    "emails sent": "sent",
    "replied": "replied",
    "replies": "replied",
    "unique opens": "opens",
    "total opens": "total_opens",
    "opens": "total_opens",
    "opened": "total_opens",
    "interested": "interested",
    "bounced": "bounced",
    "unsubscribed": "unsubscribed",
}


def _points(series: dict[str, Any]) -> Iterator[tuple[Any, Any]]:
    points = series.get("dates", series.get("data"))
    if isinstance(points, dict):  # {"2025-05-03": 4, ...}
        yield from points.items()
        return
    for point in points if isinstance(points, list) else []:
        if isinstance(point, list | tuple) and len(point) >= 2:
            yield point[0], point[1]
        elif isinstance(point, dict):
            yield _first(point, "date", "x", "day"), _first(point, "count", "y", "value")


@lru_cache(maxsize=4096)
def _day_of_text(text: str) -> date | None:
    """`to_date` of a string, remembered: a sync reads the same few hundred days in every
    campaign's series (a thousand campaigns × 90 days × 7 series)."""
    return to_date(text)


def parse_daily_series(body: Any, campaign_id: int | None = None) -> list[DailyStats]:
    """Line-area-chart series (matched by label, not position) → one row per day."""
    days: dict[date, dict[str, int]] = {}
    for series in as_list(body):
        if not isinstance(series, dict):
            continue
        attr = SERIES_FIELDS.get((to_str(series.get("label")) or "").strip().lower())
        if attr is None:
            continue
        for when, count in _points(series):
            day = _day_of_text(when) if type(when) is str else to_date(when)
            if day is None:
                continue
            counts = days.get(day)
            if counts is None:
                counts = days[day] = {}
            counts[attr] = counts.get(attr, 0) + (count if type(count) is int else to_int(count))
    return [DailyStats(day=d, campaign_id=campaign_id, **days[d]) for d in sorted(days)]


def parse_sequence_steps(body: Any, campaign_id: int) -> list[SequenceStep]:
    """Steps from any of the shapes seen: ``{data: {sequence_id, sequence_steps}}``,
    ``{data: {id, sequence_steps}}``, ``{data: [...]}`` or a bare list.

    The parent of a variant comes from ``variant_from_step_id`` (a step id). The
    older ``variant_from_step`` is documented as the parent's *order*; it is
    read as an order when a non-variant step has that order, else as an id. A
    variant without either points at the non-variant step of the same order.
    """
    data = unwrap(body)
    sequence_id: int | None = None
    if isinstance(data, dict):
        sequence_id = to_opt_int(_first(data, "sequence_id", "id"))
        items = data.get("sequence_steps")
        if not isinstance(items, list):
            items = data.get("steps") if isinstance(data.get("steps"), list) else []
    elif isinstance(data, list):
        items = data
    else:
        items = []
    rows = [as_dict(item) for item in items if isinstance(item, dict)]
    steps: list[SequenceStep] = []
    for raw in rows:
        steps.append(
            SequenceStep(
                id=to_int(raw.get("id")),
                campaign_id=campaign_id,
                order=to_int(raw.get("order")),
                sequence_id=to_opt_int(raw.get("sequence_id")) or sequence_id,
                email_subject=to_str(raw.get("email_subject")),
                email_body=to_str(raw.get("email_body")),
                wait_in_days=to_opt_int(raw.get("wait_in_days")),
                variant=to_bool(raw.get("variant")),
                thread_reply=to_bool(raw.get("thread_reply")),
                active=to_bool(_first(raw, "active", "is_active"), default=True),
                raw=raw,
            )
        )
    ids = {s.id for s in steps}
    base_by_order = {s.order: s.id for s in steps if not s.variant}
    for step in steps:
        parent = to_opt_int(step.raw.get("variant_from_step_id"))
        legacy = to_opt_int(step.raw.get("variant_from_step"))
        if parent is None and legacy is not None:
            parent = base_by_order.get(legacy, legacy if legacy in ids else None)
        if parent is None and step.variant:
            candidate = base_by_order.get(step.order)
            parent = candidate if candidate != step.id else None
        if parent is not None and parent != step.id:
            step.variant = True
            step.variant_of_step_id = parent
    steps.sort(key=lambda s: (s.order, s.variant, s.id))
    return steps


def parse_lead(raw: Any) -> Lead:
    raw = as_dict(raw)
    variables: dict[str, str | None] = {}
    custom = raw.get("custom_variables")
    if isinstance(custom, list):
        for item in custom:
            if isinstance(item, dict) and item.get("name") is not None:
                variables[str(item["name"])] = to_str(item.get("value"))
    elif isinstance(custom, dict):
        variables = {str(k): to_str(v) for k, v in custom.items()}
    campaigns = []
    for item in raw.get("lead_campaign_data") or []:
        if isinstance(item, dict):
            campaigns.append(
                LeadCampaign(
                    campaign_id=to_int(item.get("campaign_id")),
                    status=to_lower(item.get("status")),
                    emails_sent=to_int(item.get("emails_sent")),
                    replies=to_int(item.get("replies")),
                    opens=to_int(item.get("opens")),
                    interested=to_bool(item.get("interested")),
                )
            )
    stats = as_dict(raw.get("overall_stats"))
    return Lead(
        id=to_int(raw.get("id")),
        email=(to_str(raw.get("email")) or "").strip(),
        first_name=to_str(raw.get("first_name")),
        last_name=to_str(raw.get("last_name")),
        title=to_str(raw.get("title")),
        company=to_str(raw.get("company")),
        notes=to_str(raw.get("notes")),
        status=to_lower(raw.get("status")),
        campaign_status=campaigns[0].status if campaigns else None,
        custom_variables=variables,
        campaigns=campaigns,
        emails_sent=to_int(_first(stats, "emails_sent") or raw.get("emails_sent")),
        opens=to_int(_first(stats, "opens") or raw.get("opens")),
        unique_opens=to_int(_first(stats, "unique_opens") or raw.get("unique_opens")),
        replies=to_int(_first(stats, "replies") or raw.get("replies")),
        unique_replies=to_int(_first(stats, "unique_replies") or raw.get("unique_replies")),
        tags=_tags(raw.get("tags")),
        created_at=to_datetime(raw.get("created_at")),
        updated_at=to_datetime(raw.get("updated_at")),
        raw=raw,
    )


def parse_reply(raw: Any) -> Reply:
    raw = as_dict(raw)
    to_email = to_str(raw.get("primary_to_email_address"))
    recipients = raw.get("to")
    if to_email is None and isinstance(recipients, list) and recipients:
        first = as_dict(recipients[0])
        to_email = to_str(_first(first, "address", "email_address", "email"))
    return Reply(
        id=to_int(raw.get("id")),
        uuid=to_str(raw.get("uuid")),
        campaign_id=to_opt_int(raw.get("campaign_id")),
        lead_id=to_opt_int(raw.get("lead_id")),
        sender_email_id=to_opt_int(raw.get("sender_email_id")),
        scheduled_email_id=to_opt_int(raw.get("scheduled_email_id")),
        parent_id=to_opt_int(raw.get("parent_id")),
        folder=to_lower(raw.get("folder")),
        type=to_str(raw.get("type")),
        subject=to_str(_first(raw, "subject", "email_subject")),
        text_body=to_str(raw.get("text_body")),
        html_body=to_str(raw.get("html_body")),
        from_name=to_str(raw.get("from_name")),
        from_email=to_str(_first(raw, "from_email_address", "from_email")),
        to_email=to_email,
        read=to_bool(raw.get("read")),
        interested=to_bool(raw.get("interested")),
        automated_reply=to_bool(raw.get("automated_reply")),
        tracked_reply=to_bool(raw.get("tracked_reply")),
        raw_message_id=to_str(raw.get("raw_message_id")),
        date_received=to_datetime(_first(raw, "date_received", "created_at")),
        created_at=to_datetime(raw.get("created_at")),
        updated_at=to_datetime(raw.get("updated_at")),
        raw=raw,
    )


def parse_sender_email(raw: Any) -> SenderEmail:
    raw = as_dict(raw)
    return SenderEmail(
        id=to_int(raw.get("id")),
        email=to_str(raw.get("email")) or "",
        name=to_str(raw.get("name")),
        type=to_str(raw.get("type")),
        status=to_lower(raw.get("status")),
        daily_limit=to_opt_int(raw.get("daily_limit")),
        warmup_enabled=to_opt_bool(raw.get("warmup_enabled")),
        emails_sent_count=to_int(_first(raw, "emails_sent_count", "emails_sent")),
        total_replied_count=to_int(_first(raw, "total_replied_count", "replied")),
        total_opened_count=to_int(_first(raw, "total_opened_count", "opened")),
        unique_replied_count=to_int(_first(raw, "unique_replied_count", "unique_replies")),
        unique_opened_count=to_int(_first(raw, "unique_opened_count", "unique_opens")),
        bounced_count=to_int(_first(raw, "bounced_count", "bounced")),
        unsubscribed_count=to_int(_first(raw, "unsubscribed_count", "unsubscribed")),
        interested_leads_count=to_int(_first(raw, "interested_leads_count", "interested")),
        total_leads_contacted_count=to_int(
            _first(raw, "total_leads_contacted_count", "total_leads_contacted")
        ),
        tags=_tags(raw.get("tags")),
        created_at=to_datetime(raw.get("created_at")),
        updated_at=to_datetime(raw.get("updated_at")),
        raw=raw,
    )


def parse_scheduled_email(raw: Any, campaign_id: int | None = None) -> ScheduledEmail:
    raw = as_dict(raw)
    lead = as_dict(raw.get("lead"))
    sender = as_dict(raw.get("sender_email"))
    return ScheduledEmail(
        id=to_int(raw.get("id")),
        campaign_id=to_opt_int(raw.get("campaign_id")) or campaign_id,
        lead_id=to_opt_int(_first(raw, "lead_id") or lead.get("id")),
        lead_email=to_str(lead.get("email")),
        sender_email_id=to_opt_int(_first(raw, "sender_email_id") or sender.get("id")),
        sequence_step_id=to_opt_int(raw.get("sequence_step_id")),
        email_subject=to_str(raw.get("email_subject")),
        status=to_lower(raw.get("status")),
        thread_reply=to_bool(raw.get("thread_reply")),
        scheduled_date=to_datetime(raw.get("scheduled_date")),
        scheduled_date_local=to_datetime(raw.get("scheduled_date_local")),
        sent_at=to_datetime(raw.get("sent_at")),
        opens=to_int(raw.get("opens")),
        clicks=to_int(raw.get("clicks")),
        replies=to_int(raw.get("replies")),
        unique_opens=to_int(raw.get("unique_opens")),
        unique_replies=to_int(raw.get("unique_replies")),
        interested=to_bool(raw.get("interested")),
        raw=raw,
    )


def to_time(value: Any) -> time | None:
    """``"09:00"``, ``"9:00"``, ``"09:00:00"`` or ``"9:00 AM"``; None if unparseable."""
    text = to_str(value)
    if not text:
        return None
    text = text.strip().upper()
    for fmt in ("%H:%M", "%H:%M:%S", "%I:%M %p", "%I:%M%p", "%I %p"):
        try:
            return datetime.strptime(text, fmt).time()
        except ValueError:
            continue
    return None


def parse_schedule(body: Any, campaign_id: int) -> CampaignSchedule | None:
    """A campaign's sending schedule, or None when it has none (or one that cannot be read).

    The response shape is not documented; accepted: the POST body's own shape (``monday`` …
    ``sunday`` booleans, ``start_time``/``end_time`` "HH:MM", ``timezone``) inside ``data`` or
    bare, optionally nested under ``schedule``, with a ``days`` list instead of the booleans, and
    ``time_zone`` for ``timezone``. A schedule without a window or a time zone is unknown (None)
    rather than guessed.
    """
    raw = unwrap(body)
    if isinstance(raw, list):
        raw = raw[0] if raw else None
    if isinstance(raw, dict) and isinstance(raw.get("schedule"), dict):
        raw = raw["schedule"]
    if not isinstance(raw, dict) or not raw:
        return None
    listed = raw.get("days")
    if isinstance(listed, list | tuple):
        wanted = {str(d).strip().lower() for d in listed}
        days = [d for d in DAYS if d in wanted or d[:3] in wanted]
    else:
        days = [d for d in DAYS if to_bool(raw.get(d))]
    start = to_time(_first(raw, "start_time", "start"))
    end = to_time(_first(raw, "end_time", "end"))
    tz = to_str(_first(raw, "timezone", "time_zone", "tz"))
    if start is None or end is None or not tz or not tz.strip():
        return None
    return CampaignSchedule(
        campaign_id=int(campaign_id),
        days=days,
        start_time=start,
        end_time=end,
        timezone=tz.strip(),
        raw=raw,
    )


def parse_action(body: Any) -> ActionResult:
    """``{data: {success, message}}`` (or the same without ``data``); success defaults to True."""
    data = unwrap(body)
    holder = data if isinstance(data, dict) else as_dict(body)
    return ActionResult(
        success=to_bool(holder.get("success"), default=True),
        message=to_str(holder.get("message")),
        raw=body,
    )
