"""Leads (list, get, bulk upsert, delete) and tags."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import date
from typing import Any

from connectors.http import ApiError, ValidationError, validation_message

from ._base import MAX_BATCH, BisonBase, chunks, day
from .models import (
    ActionResult,
    Lead,
    LeadUpsertResult,
    Tag,
)
from .parsers import (
    as_list,
    parse_lead,
    parse_tag,
    unwrap,
)

_LEAD_INDEX = re.compile(r"^leads\.(\d+)(?=\.|$)")
_LEAD_INDEX_TEXT = re.compile(r"\bleads\.(\d+)(?=\.|\b)")


def _shift_lead_errors(exc: ValidationError, offset: int) -> ValidationError:
    """Re-number ``leads.N.field`` errors of one chunk to the caller's row numbers."""

    def shift_key(key: str) -> str:
        return _LEAD_INDEX.sub(lambda m: f"leads.{int(m.group(1)) + offset}", key)

    def shift_text(text: str) -> str:
        return _LEAD_INDEX_TEXT.sub(lambda m: f"leads.{int(m.group(1)) + offset}", text)

    errors = {shift_key(k): [shift_text(m) for m in v] for k, v in exc.errors.items()}
    return ValidationError(
        validation_message(errors, exc.message),
        errors=errors,
        status=exc.status,
        url=exc.url,
        method=exc.method,
        body=exc.body,
    )


def _lead_params(
    search: str | None,
    updated_since: date | str | None,
    created_since: date | str | None,
    filters: Mapping[str, Any] | None,
) -> dict[str, Any]:
    merged: dict[str, Any] = dict(filters or {})
    if updated_since is not None:
        merged["updated_at"] = {"criteria": ">=", "value": day(updated_since)}
    if created_since is not None:
        merged["created_at"] = {"criteria": ">=", "value": day(created_since)}
    return {"search": search, "filters": merged or None}


def _raw(item: dict[str, Any]) -> dict[str, Any]:
    return item


class LeadsMixin(BisonBase):
    # -- leads -------------------------------------------------------------------

    def iter_leads(
        self,
        *,
        search: str | None = None,
        updated_since: date | str | None = None,
        created_since: date | str | None = None,
        filters: Mapping[str, Any] | None = None,
    ) -> Iterator[Lead]:
        """Leads page by page (``GET /api/leads``).

        ``updated_since``/``created_since`` become ``filters[updated_at][criteria]=>=``
        and ``[value]=YYYY-MM-DD`` (the API filters by date only, so an incremental
        sync re-reads the boundary day). ``filters`` adds any other documented filter,
        e.g. ``{"lead_campaign_status": "replied", "tag_ids": [3]}``.
        """
        yield from self._iter(
            "leads", _lead_params(search, updated_since, created_since, filters), parse_lead
        )

    def iter_lead_items(
        self,
        *,
        search: str | None = None,
        updated_since: date | str | None = None,
        created_since: date | str | None = None,
        filters: Mapping[str, Any] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """The same listing as :meth:`iter_leads`, as the API's raw objects: for bulk readers
        that parse whole columns at once (:func:`connectors.bison.columns.lead_frame`)."""
        yield from self._iter(
            "leads", _lead_params(search, updated_since, created_since, filters), _raw
        )

    def list_leads(self, **filters: Any) -> list[Lead]:
        return list(self.iter_leads(**filters))

    def get_lead(self, lead_id_or_email: int | str) -> Lead:
        """``GET /api/leads/{id}`` (the API also accepts the lead's email)."""
        return parse_lead(unwrap(self._api.get(f"leads/{lead_id_or_email}")))

    def create_lead(
        self,
        email: str,
        first_name: str | None = None,
        last_name: str | None = None,
        **fields: Any,
    ) -> Lead:
        """``POST /api/leads`` (one lead; the email must be new in the workspace)."""
        body = {"email": email, "first_name": first_name, "last_name": last_name, **fields}
        data = unwrap(self._api.post("leads", {k: v for k, v in body.items() if v is not None}))
        return parse_lead(data)

    def create_or_update_leads(
        self,
        leads: Iterable[Mapping[str, Any]],
        *,
        existing_lead_behavior: str = "patch",
        chunk_size: int = MAX_BATCH,
    ) -> LeadUpsertResult:
        """Upsert by email via ``POST /api/leads/create-or-update/multiple``, ≤500 per request.

        ``patch`` (the default here) keeps fields that are not sent; the API's own
        default ``put`` clears them. Leads the instance skips (personal domains,
        unless enabled) come back in ``skipped_emails``, matched by email. A 422
        is raised with ``leads.N`` numbered by the caller's row, not the chunk's.
        Chunks sent before a failing one stay applied (upserts are idempotent,
        so sending everything again is safe).
        """
        if not 0 < chunk_size <= MAX_BATCH:
            raise ValueError(f"chunk_size must be 1..{MAX_BATCH}")
        if existing_lead_behavior not in ("patch", "put"):
            raise ValueError("existing_lead_behavior must be 'patch' or 'put'")
        result = LeadUpsertResult()
        offset = 0
        for batch in chunks((dict(lead) for lead in leads), chunk_size):
            payload = {"existing_lead_behavior": existing_lead_behavior, "leads": batch}
            try:
                body = self._api.post("leads/create-or-update/multiple", payload, idempotent=True)
            except ValidationError as exc:
                raise _shift_lead_errors(exc, offset) from None
            result.requests += 1
            returned = [parse_lead(item) for item in as_list(body) if isinstance(item, dict)]
            result.leads.extend(returned)
            seen = {lead.email.lower() for lead in returned}
            result.skipped_emails.extend(
                str(row.get("email"))
                for row in batch
                if str(row.get("email") or "").strip().lower() not in seen
            )
            offset += len(batch)
        return result

    def delete_lead(self, lead_id: int) -> ActionResult:
        """``DELETE /api/leads/{id}``: permanent, removes the lead from every campaign."""
        return self._action("DELETE", f"leads/{int(lead_id)}")

    def delete_leads(self, lead_ids: Iterable[int], *, chunk_size: int = MAX_BATCH) -> ActionResult:
        """``DELETE /api/leads/bulk`` with ``{lead_ids}``, in chunks."""
        result = ActionResult(success=True, message="no leads to delete")
        for batch in chunks((int(i) for i in lead_ids), chunk_size):
            result = self._action("DELETE", "leads/bulk", {"lead_ids": batch})
        return result

    # -- tags --------------------------------------------------------------------

    def list_tags(self) -> list[Tag]:
        """``GET /api/tags`` (all pages if the instance pages it)."""
        return list(self._iter("tags", None, parse_tag))

    def create_tag(self, name: str) -> Tag:
        """``POST /api/tags`` ``{name}``; a duplicate name is a 422."""
        data = unwrap(self._api.post("tags", {"name": name}))
        if not isinstance(data, dict) or data.get("id") is None:
            raise ApiError("create tag response did not contain the tag", status=200)
        return parse_tag(data)

    def delete_tag(self, tag_id: int) -> ActionResult:
        return self._action("DELETE", f"tags/{int(tag_id)}")

    def _tag_leads(
        self, action: str, tag_ids: Iterable[int], lead_ids: Iterable[int], skip_webhooks: bool
    ) -> ActionResult:
        tags = [int(t) for t in tag_ids]
        result = ActionResult(success=True, message="nothing to do")
        for batch in chunks((int(i) for i in lead_ids), MAX_BATCH):
            result = self._action(
                "POST",
                f"tags/{action}",
                {"tag_ids": tags, "lead_ids": batch, "skip_webhooks": skip_webhooks},
                idempotent=True,
            )
        return result

    def attach_tags_to_leads(
        self, tag_ids: Iterable[int], lead_ids: Iterable[int], *, skip_webhooks: bool = False
    ) -> ActionResult:
        """``POST /api/tags/attach-to-leads``."""
        return self._tag_leads("attach-to-leads", tag_ids, lead_ids, skip_webhooks)

    def detach_tags_from_leads(
        self, tag_ids: Iterable[int], lead_ids: Iterable[int], *, skip_webhooks: bool = False
    ) -> ActionResult:
        """``POST /api/tags/remove-from-leads`` (remove is a POST, not a DELETE)."""
        return self._tag_leads("remove-from-leads", tag_ids, lead_ids, skip_webhooks)
