"""Campaigns, their sequence steps, stats, scheduled emails and sender emails."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date, time
from typing import Any

from connectors.http import ApiError

from ._base import MAX_BATCH, BisonBase, chunks, day
from .models import (
    DAYS,
    ActionResult,
    Campaign,
    CampaignSchedule,
    DailyStats,
    ScheduledEmail,
    SenderEmail,
    SequenceStep,
    Stats,
)
from .parsers import (
    parse_action,
    parse_campaign,
    parse_daily_series,
    parse_schedule,
    parse_scheduled_email,
    parse_sender_email,
    parse_sequence_steps,
    parse_stats,
    to_date,
    unwrap,
)


class CampaignsMixin(BisonBase):
    def iter_campaigns(
        self,
        status: str | None = None,
        *,
        search: str | None = None,
        tag_ids: Iterable[int] | None = None,
    ) -> Iterator[Campaign]:
        """Campaigns page by page (``GET /api/campaigns``); ``status`` is matched lower-case."""
        params: dict[str, Any] = {
            "status": status.strip().lower() if status else None,
            "search": search,
            "tag_ids": list(tag_ids) if tag_ids else None,
        }
        yield from self._iter("campaigns", params, parse_campaign)

    def list_campaigns(
        self,
        status: str | None = None,
        *,
        search: str | None = None,
        tag_ids: Iterable[int] | None = None,
    ) -> list[Campaign]:
        """All campaigns (every page)."""
        return list(self.iter_campaigns(status, search=search, tag_ids=tag_ids))

    def get_campaign(self, campaign_id: int) -> Campaign:
        """One campaign with lifetime counters (``GET /api/campaigns/{id}``)."""
        return parse_campaign(unwrap(self._api.get(f"campaigns/{int(campaign_id)}")))

    def _campaign_action(self, campaign_id: int, action: str, method: str = "PATCH") -> Campaign:
        body = self._api.request(method, f"campaigns/{int(campaign_id)}/{action}")
        data = unwrap(body)
        if isinstance(data, dict) and data.get("id") is not None:
            return parse_campaign(data)
        result = parse_action(body)
        if not result.success:
            raise ApiError(result.message or f"{action} failed", status=200)
        # Some instances answer actions with {success, message}; read the campaign back.
        return self.get_campaign(campaign_id)

    def update_campaign(self, campaign_id: int, **fields: Any) -> Campaign:
        """``PATCH /api/campaigns/{id}/update`` (name, max_emails_per_day, …); returns it."""
        body = self._api.patch(f"campaigns/{int(campaign_id)}/update", fields)
        data = unwrap(body)
        if isinstance(data, dict) and data.get("id") is not None:
            return parse_campaign(data)
        return self.get_campaign(campaign_id)

    def pause_campaign(self, campaign_id: int) -> Campaign:
        """``PATCH /api/campaigns/{id}/pause``; returns the campaign (status ``paused``)."""
        return self._campaign_action(campaign_id, "pause")

    def resume_campaign(self, campaign_id: int) -> Campaign:
        """``PATCH /api/campaigns/{id}/resume`` (also launches a draft); returns the campaign."""
        return self._campaign_action(campaign_id, "resume")

    def archive_campaign(self, campaign_id: int) -> Campaign:
        """``PATCH /api/campaigns/{id}/archive``."""
        return self._campaign_action(campaign_id, "archive")

    def duplicate_campaign(self, campaign_id: int) -> Campaign:
        """``POST /api/campaigns/{id}/duplicate``; returns the copy ("Copy of …").

        Reported: the copy shares the original's ``sequence_id`` and a custom name
        is ignored, so none is sent. Not retried after it may have been processed.
        """
        body = self._api.post(f"campaigns/{int(campaign_id)}/duplicate", idempotent=False)
        data = unwrap(body)
        if not isinstance(data, dict) or data.get("id") is None:
            raise ApiError("duplicate response did not contain the new campaign", status=200)
        return parse_campaign(data)

    def campaign_stats(
        self, campaign_id: int, start_date: date | str, end_date: date | str
    ) -> Stats:
        """Totals and ``sequence_step_stats`` for a date range (``POST …/stats``, a read)."""
        body = self._api.post(
            f"campaigns/{int(campaign_id)}/stats",
            {"start_date": day(start_date), "end_date": day(end_date)},
            idempotent=True,
        )
        return parse_stats(body, to_date(start_date), to_date(end_date))

    def campaign_daily_stats(
        self, campaign_id: int, start_date: date | str, end_date: date | str
    ) -> list[DailyStats]:
        """Per-day rows (sent, replied, unique opens, interested, bounced, unsubscribed)."""
        params = {"start_date": day(start_date), "end_date": day(end_date)}
        body = self._api.get(f"campaigns/{int(campaign_id)}/line-area-chart-stats", params)
        return parse_daily_series(body, campaign_id=int(campaign_id))

    def get_sequence_steps(self, campaign_id: int) -> list[SequenceStep]:
        """Steps and A/B variants (``GET /api/campaigns/v1.1/{id}/sequence-steps``).

        A campaign without a sequence (drafts) answers 400 ``success: false``;
        that is returned as an empty list.
        """
        try:
            body = self._api.get(f"campaigns/v1.1/{int(campaign_id)}/sequence-steps")
        except ApiError as exc:
            if exc.status == 400 and "sequence" in (exc.message or "").lower():
                return []
            raise
        data = unwrap(body)
        if isinstance(data, dict) and data.get("success") is False:
            return []
        return parse_sequence_steps(body, int(campaign_id))

    def get_campaign_schedule(self, campaign_id: int) -> CampaignSchedule | None:
        """The days and hours a campaign may send (``GET /api/campaigns/{id}/schedule``).

        None when the campaign has no schedule: a 404 or an empty ``data`` (which of the two the
        API answers is not documented, so both are read that way).
        """
        try:
            body = self._api.get(f"campaigns/{int(campaign_id)}/schedule")
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise
        return parse_schedule(body, int(campaign_id))

    def set_campaign_schedule(
        self,
        campaign_id: int,
        *,
        days: Iterable[str],
        start_time: time | str,
        end_time: time | str,
        timezone: str,
    ) -> CampaignSchedule | None:
        """Set a campaign's schedule: ``PUT`` when it has one, else ``POST`` to create it.

        ``days`` are day names (``monday`` … or ``mon`` …); all seven are sent, as the API
        requires. Returns the schedule as Email Bison then reports it.
        """
        names = {str(d).strip().lower() for d in days}
        unknown = sorted(n for n in names if n not in DAYS and n not in {d[:3] for d in DAYS})
        if unknown:
            raise ValueError(f"unknown day(s): {', '.join(unknown)}; use monday … sunday")
        wanted = {n[:3] for n in names}

        def hhmm(value: time | str) -> str:
            return value.strftime("%H:%M") if isinstance(value, time) else str(value).strip()

        body: dict[str, Any] = {d: d[:3] in wanted for d in DAYS}
        body.update(start_time=hhmm(start_time), end_time=hhmm(end_time), timezone=timezone)
        body["save_as_template"] = False
        path = f"campaigns/{int(campaign_id)}/schedule"
        if self.get_campaign_schedule(campaign_id) is not None:
            self._api.put(path, body)
        else:
            self._api.post(path, body, idempotent=True)
        return self.get_campaign_schedule(campaign_id)

    def iter_scheduled_emails(
        self,
        campaign_id: int,
        *,
        status: str | None = None,
        scheduled_date: date | str | None = None,
    ) -> Iterator[ScheduledEmail]:
        """Scheduled emails of a campaign, paginated (filters sent as query parameters)."""
        params = {
            "status": status,
            "scheduled_date": day(scheduled_date) if scheduled_date else None,
        }
        cid = int(campaign_id)
        yield from self._iter(
            f"campaigns/{cid}/scheduled-emails",
            params,
            lambda raw: parse_scheduled_email(raw, campaign_id=cid),
        )

    def list_scheduled_emails(self, campaign_id: int, **filters: Any) -> list[ScheduledEmail]:
        return list(self.iter_scheduled_emails(campaign_id, **filters))

    def iter_campaign_sender_emails(self, campaign_id: int) -> Iterator[SenderEmail]:
        """Sender emails attached to a campaign; always paged (15/page in practice)."""
        yield from self._iter(
            f"campaigns/{int(campaign_id)}/sender-emails", None, parse_sender_email
        )

    def list_campaign_sender_emails(self, campaign_id: int) -> list[SenderEmail]:
        return list(self.iter_campaign_sender_emails(campaign_id))

    def attach_leads_to_campaign(
        self,
        campaign_id: int,
        lead_ids: Iterable[int],
        *,
        allow_parallel_sending: bool = False,
        chunk_size: int = MAX_BATCH,
    ) -> ActionResult:
        """``POST /api/campaigns/{id}/leads/attach-leads`` in chunks (idempotent).

        Active campaigns pick new leads up within about five minutes.
        """
        if not 0 < chunk_size <= MAX_BATCH:
            raise ValueError(f"chunk_size must be 1..{MAX_BATCH}")
        result = ActionResult(success=True, message="no leads to attach")
        for batch in chunks((int(i) for i in lead_ids), chunk_size):
            result = self._action(
                "POST",
                f"campaigns/{int(campaign_id)}/leads/attach-leads",
                {"lead_ids": batch, "allow_parallel_sending": allow_parallel_sending},
                idempotent=True,
            )
            if not result.success:
                raise ApiError(result.message or "attach-leads failed", status=200)
        return result

    def remove_leads_from_campaign(self, campaign_id: int, lead_ids: Iterable[int]) -> ActionResult:
        """``DELETE /api/campaigns/{id}/leads`` with ``{lead_ids}``: the leads leave the campaign
        for good (its stats are kept; adding one again starts its sequence over)."""
        ids = [int(i) for i in lead_ids]
        result = self._action("DELETE", f"campaigns/{int(campaign_id)}/leads", {"lead_ids": ids})
        if not result.success:
            raise ApiError(result.message or "removing leads failed", status=200)
        return result
