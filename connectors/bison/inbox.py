"""Replies (master inbox) and sender emails."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from connectors.http import ApiError

from ._base import BisonBase
from .models import (
    ActionResult,
    Reply,
    SenderEmail,
)
from .parsers import (
    parse_reply,
    parse_sender_email,
    to_int,
    unwrap,
)


def _recipients(values: Iterable[str | Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for value in values or []:
        if isinstance(value, Mapping):
            address = value.get("email_address") or value.get("email") or value.get("address")
            out.append({"name": value.get("name"), "email_address": address})
        else:
            out.append({"name": None, "email_address": str(value)})
    return out


class InboxMixin(BisonBase):
    # -- replies -----------------------------------------------------------------

    def iter_replies(
        self,
        *,
        folder: str | None = None,
        status: str | None = None,
        read: bool | None = None,
        campaign_id: int | None = None,
        lead_id: int | None = None,
        sender_email_id: int | None = None,
        tag_ids: Iterable[int] | None = None,
        search: str | None = None,
        stop_at_id: int | None = None,
        max_pages: int | None = None,
    ) -> Iterator[Reply]:
        """Replies newest first (``GET /api/replies``), page by page.

        Incremental sync: pass the highest id already stored as ``stop_at_id``.
        Only replies with a higher id are yielded; the page on which an id at
        or below it shows up is finished (in case ordering is by received date
        rather than id) and no further page is requested. Breaking out of the
        loop also stops requests.
        """
        for item in self.iter_reply_items(
            folder=folder,
            status=status,
            read=read,
            campaign_id=campaign_id,
            lead_id=lead_id,
            sender_email_id=sender_email_id,
            tag_ids=tag_ids,
            search=search,
            stop_at_id=stop_at_id,
            max_pages=max_pages,
        ):
            yield parse_reply(item)

    def iter_reply_items(
        self,
        *,
        folder: str | None = None,
        status: str | None = None,
        read: bool | None = None,
        campaign_id: int | None = None,
        lead_id: int | None = None,
        sender_email_id: int | None = None,
        tag_ids: Iterable[int] | None = None,
        search: str | None = None,
        stop_at_id: int | None = None,
        max_pages: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        """:meth:`iter_replies` as the API's raw objects, for bulk readers that parse whole
        columns at once (:func:`connectors.bison.columns.reply_frame`)."""
        params: dict[str, Any] = {
            "folder": folder,
            "status": status,
            "read": read,
            "campaign_id": campaign_id,
            "lead_id": lead_id,
            "sender_email_id": sender_email_id,
            "tag_ids": list(tag_ids) if tag_ids else None,
            "search": search,
        }
        for page in self._api.iter_page_batches("replies", params, max_pages=max_pages):
            reached = False
            for item in page.items:
                if not isinstance(item, dict):
                    continue
                if stop_at_id is not None and to_int(item.get("id")) <= stop_at_id:
                    reached = True
                    continue
                yield item
            if reached:
                return

    def list_replies(self, **filters: Any) -> list[Reply]:
        return list(self.iter_replies(**filters))

    def get_reply(self, reply_id: int) -> Reply:
        """``GET /api/replies/{id}`` with full bodies."""
        return parse_reply(unwrap(self._api.get(f"replies/{int(reply_id)}")))

    def mark_interested(self, reply_id: int, *, skip_webhooks: bool = False) -> ActionResult:
        """``PATCH /api/replies/{id}/mark-as-interested`` (no-op if already interested)."""
        return self._action(
            "PATCH",
            f"replies/{int(reply_id)}/mark-as-interested",
            {"skip_webhooks": skip_webhooks},
        )

    def mark_not_interested(self, reply_id: int, *, skip_webhooks: bool = False) -> ActionResult:
        """``PATCH /api/replies/{id}/mark-as-not-interested``."""
        return self._action(
            "PATCH",
            f"replies/{int(reply_id)}/mark-as-not-interested",
            {"skip_webhooks": skip_webhooks},
        )

    def reply_to(
        self,
        reply_id: int,
        message: str,
        *,
        content_type: str = "html",
        reply_all: bool = True,
        sender_email_id: int | None = None,
        to_emails: Iterable[str | Mapping[str, Any]] | None = None,
        cc_emails: Iterable[str | Mapping[str, Any]] | None = None,
        bcc_emails: Iterable[str | Mapping[str, Any]] | None = None,
        inject_previous_email_body: bool = True,
    ) -> Reply:
        """Send a reply in the thread (``POST /api/replies/{id}/reply``); returns the sent message.

        With ``reply_all`` the API picks sender and recipients; otherwise
        ``sender_email_id`` and ``to_emails`` are required. Never retried once it
        may have reached the server (it would send twice).
        """
        if content_type not in ("html", "text"):
            raise ValueError("content_type must be 'html' or 'text'")
        if not reply_all and (sender_email_id is None or not to_emails):
            raise ValueError("without reply_all, sender_email_id and to_emails are required")
        body: dict[str, Any] = {
            "message": message,
            "content_type": content_type,
            "reply_all": reply_all,
            "inject_previous_email_body": inject_previous_email_body,
            "to_emails": _recipients(to_emails),
            "cc_emails": _recipients(cc_emails),
            "bcc_emails": _recipients(bcc_emails),
        }
        if sender_email_id is not None:
            body["sender_email_id"] = int(sender_email_id)
        response = self._api.post(f"replies/{int(reply_id)}/reply", body, idempotent=False)
        data = unwrap(response)
        if isinstance(data, dict) and data.get("success") is False:
            raise ApiError(str(data.get("message") or "reply failed"), status=200)
        sent = data.get("reply") if isinstance(data, dict) else None
        if isinstance(sent, dict):
            return parse_reply(sent)
        if isinstance(data, dict) and data.get("id") is not None:
            return parse_reply(data)
        raise ApiError("reply response did not contain the sent message", status=200)

    # -- sender emails -----------------------------------------------------------

    def iter_sender_emails(
        self,
        *,
        search: str | None = None,
        status: str | None = None,
        tag_ids: Iterable[int] | None = None,
    ) -> Iterator[SenderEmail]:
        """Sending accounts (``GET /api/sender-emails``), page by page."""
        params = {"search": search, "status": status, "tag_ids": list(tag_ids) if tag_ids else None}
        yield from self._iter("sender-emails", params, parse_sender_email)

    def list_sender_emails(self, **filters: Any) -> list[SenderEmail]:
        return list(self.iter_sender_emails(**filters))

    def get_sender_email(self, sender_email_id: int) -> SenderEmail:
        return parse_sender_email(unwrap(self._api.get(f"sender-emails/{to_int(sender_email_id)}")))

    def update_sender_email(self, sender_email_id: int, **fields: Any) -> SenderEmail:
        """``PATCH /api/sender-emails/{id}`` (``daily_limit``, ``name``, ``email_signature``);
        returns the account (read back when the instance answers with a bare success)."""
        sid = to_int(sender_email_id)
        data = unwrap(self._api.patch(f"sender-emails/{sid}", fields))
        if isinstance(data, dict) and data.get("id") is not None:
            return parse_sender_email(data)
        return self.get_sender_email(sid)

    def set_sender_daily_limits(
        self, sender_email_ids: Iterable[int], daily_limit: int
    ) -> ActionResult:
        """``PATCH /api/sender-emails/daily-limits/bulk`` with ``{sender_email_ids, daily_limit}``."""
        ids = [to_int(i) for i in sender_email_ids]
        body = {"sender_email_ids": ids, "daily_limit": int(daily_limit)}
        return self._action("PATCH", "sender-emails/daily-limits/bulk", body)

    def set_sender_warmup(self, sender_email_ids: Iterable[int], enabled: bool) -> ActionResult:
        """``PATCH /api/warmup/sender-emails/enable`` (or ``/disable``) with ``{sender_email_ids}``."""
        ids = [to_int(i) for i in sender_email_ids]
        verb = "enable" if enabled else "disable"
        return self._action("PATCH", f"warmup/sender-emails/{verb}", {"sender_email_ids": ids})
