"""Typed records returned by the Email Bison client.

Each keeps the original payload in ``raw`` (left out of ``repr``, ``==`` and
``as_dict``); :mod:`connectors.bison.parsers` builds them from API payloads.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import date, datetime, time
from typing import Any


class Record:
    """Base for records: ``as_dict()`` gives the typed fields without ``raw``."""

    __slots__ = ()

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):  # type: ignore[arg-type]
            if f.name == "raw":
                continue
            value = getattr(self, f.name)
            if isinstance(value, list):
                value = [v.as_dict() if isinstance(v, Record) else v for v in value]
            elif isinstance(value, Record):
                value = value.as_dict()
            out[f.name] = value
        return out


def _raw() -> Any:
    return field(default_factory=dict, repr=False, compare=False)


@dataclass(slots=True)
class Tag(Record):
    id: int
    name: str
    default: bool = False
    created_at: datetime | None = None
    updated_at: datetime | None = None
    raw: dict[str, Any] = _raw()


@dataclass(slots=True)
class Workspace(Record):
    id: int
    name: str
    parent_id: int | None = None
    main: bool = False
    personal_team: bool = False
    sender_email_limit: int | None = None
    warmup_limit: int | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    raw: dict[str, Any] = _raw()


@dataclass(slots=True)
class WorkspaceToken(Record):
    """A freshly minted api-user token; ``token`` is only ever returned once."""

    workspace_id: int
    id: int | None
    name: str
    token: str = field(repr=False)
    abilities: list[str] = field(default_factory=list)
    created_at: datetime | None = None
    raw: dict[str, Any] = _raw()


@dataclass(slots=True)
class Campaign(Record):
    """Campaign with lifetime counters; ``status`` lower-case, ``status_label`` as sent."""

    id: int
    name: str
    status: str
    status_label: str | None = None
    uuid: str | None = None
    type: str | None = None
    completion_percentage: float = 0.0
    emails_sent: int = 0
    opened: int = 0
    unique_opens: int = 0
    replied: int = 0
    unique_replies: int = 0
    bounced: int = 0
    unsubscribed: int = 0
    interested: int = 0
    total_leads_contacted: int = 0
    total_leads: int = 0
    max_emails_per_day: int | None = None
    max_new_leads_per_day: int | None = None
    plain_text: bool | None = None
    open_tracking: bool | None = None
    can_unsubscribe: bool | None = None
    sequence_id: int | None = None
    tags: list[Tag] = field(default_factory=list)
    created_at: datetime | None = None
    updated_at: datetime | None = None
    raw: dict[str, Any] = _raw()


@dataclass(slots=True)
class StepStats(Record):
    """Per step *and* per variant (variants have their own step id)."""

    sequence_step_id: int
    email_subject: str | None = None
    sent: int = 0
    leads_contacted: int = 0
    unique_opens: int = 0
    unique_replies: int = 0
    unsubscribed: int = 0
    bounced: int = 0
    interested: int = 0
    raw: dict[str, Any] = _raw()


@dataclass(slots=True)
class Stats(Record):
    """Workspace or campaign stats for a date range (numbers arrive as strings)."""

    start_date: date | None = None
    end_date: date | None = None
    emails_sent: int = 0
    total_leads_contacted: int = 0
    opened: int = 0
    opened_percentage: float = 0.0
    unique_opens_per_contact: int = 0
    unique_opens_per_contact_percentage: float = 0.0
    unique_replies_per_contact: int = 0
    unique_replies_per_contact_percentage: float = 0.0
    bounced: int = 0
    bounced_percentage: float = 0.0
    unsubscribed: int = 0
    unsubscribed_percentage: float = 0.0
    interested: int = 0
    interested_percentage: float = 0.0
    sequence_step_stats: list[StepStats] = field(default_factory=list)
    raw: dict[str, Any] = _raw()


@dataclass(slots=True)
class DailyStats(Record):
    """One day of a line-area-chart series; ``opens`` is unique opens."""

    day: date
    campaign_id: int | None = None
    sent: int = 0
    replied: int = 0
    opens: int = 0
    total_opens: int = 0
    interested: int = 0
    bounced: int = 0
    unsubscribed: int = 0


@dataclass(slots=True)
class SequenceStep(Record):
    """A step or an A/B variant; variants point at their original via ``variant_of_step_id``."""

    id: int
    campaign_id: int
    order: int
    sequence_id: int | None = None
    email_subject: str | None = None
    email_body: str | None = None
    wait_in_days: int | None = None
    variant: bool = False
    variant_of_step_id: int | None = None
    thread_reply: bool = False
    active: bool = True
    raw: dict[str, Any] = _raw()


@dataclass(slots=True)
class LeadCampaign(Record):
    campaign_id: int
    status: str | None = None
    emails_sent: int = 0
    replies: int = 0
    opens: int = 0
    interested: bool = False


@dataclass(slots=True)
class Lead(Record):
    id: int
    email: str
    first_name: str | None = None
    last_name: str | None = None
    title: str | None = None
    company: str | None = None
    notes: str | None = None
    status: str | None = None
    campaign_status: str | None = None
    custom_variables: dict[str, str | None] = field(default_factory=dict)
    campaigns: list[LeadCampaign] = field(default_factory=list)
    emails_sent: int = 0
    opens: int = 0
    unique_opens: int = 0
    replies: int = 0
    unique_replies: int = 0
    tags: list[Tag] = field(default_factory=list)
    created_at: datetime | None = None
    updated_at: datetime | None = None
    raw: dict[str, Any] = _raw()


@dataclass(slots=True)
class Reply(Record):
    """A master-inbox message; ``folder`` lower-case (``inbox``, ``sent``, ``spam``, ``bounced``)."""

    id: int
    uuid: str | None = None
    campaign_id: int | None = None
    lead_id: int | None = None
    sender_email_id: int | None = None
    scheduled_email_id: int | None = None
    parent_id: int | None = None
    folder: str | None = None
    type: str | None = None
    subject: str | None = None
    text_body: str | None = None
    html_body: str | None = None
    from_name: str | None = None
    from_email: str | None = None
    to_email: str | None = None
    read: bool = False
    interested: bool = False
    automated_reply: bool = False
    tracked_reply: bool = False
    raw_message_id: str | None = None
    date_received: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    raw: dict[str, Any] = _raw()


@dataclass(slots=True)
class SenderEmail(Record):
    """A sending account; counters are lifetime totals, ``status`` lower-case."""

    id: int
    email: str
    name: str | None = None
    type: str | None = None
    status: str | None = None
    daily_limit: int | None = None
    warmup_enabled: bool | None = None
    emails_sent_count: int = 0
    total_replied_count: int = 0
    total_opened_count: int = 0
    unique_replied_count: int = 0
    unique_opened_count: int = 0
    bounced_count: int = 0
    unsubscribed_count: int = 0
    interested_leads_count: int = 0
    total_leads_contacted_count: int = 0
    tags: list[Tag] = field(default_factory=list)
    created_at: datetime | None = None
    updated_at: datetime | None = None
    raw: dict[str, Any] = _raw()


@dataclass(slots=True)
class ScheduledEmail(Record):
    id: int
    campaign_id: int | None = None
    lead_id: int | None = None
    lead_email: str | None = None
    sender_email_id: int | None = None
    sequence_step_id: int | None = None
    email_subject: str | None = None
    status: str | None = None
    thread_reply: bool = False
    scheduled_date: datetime | None = None
    scheduled_date_local: datetime | None = None
    sent_at: datetime | None = None
    opens: int = 0
    clicks: int = 0
    replies: int = 0
    unique_opens: int = 0
    unique_replies: int = 0
    interested: bool = False
    raw: dict[str, Any] = _raw()


DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass(slots=True)
class CampaignSchedule(Record):
    """When a campaign may send: the days (lower-case names, Monday first) and the daily window
    in its time zone."""

    campaign_id: int
    days: list[str]
    start_time: time
    end_time: time
    timezone: str
    raw: Any = _raw()


@dataclass(slots=True)
class ActionResult(Record):
    """``{data: {success, message}}`` of an action endpoint."""

    success: bool
    message: str | None = None
    raw: Any = _raw()


@dataclass(slots=True)
class LeadUpsertResult(Record):
    """Leads returned by create-or-update; ``skipped_emails`` were sent but not returned
    (e.g. personal-domain addresses the instance refuses)."""

    leads: list[Lead] = field(default_factory=list)
    skipped_emails: list[str] = field(default_factory=list)
    requests: int = 0
