"""GoHighLevel (LeadConnector) API v2: upsert the contact into a sub-account, add the reply as a note.

* ``Authorization: Bearer <token>`` (a sub-account Private Integration Token or OAuth access
  token) and the required ``Version: 2021-07-28`` header.
* ``POST /contacts/upsert`` with ``locationId`` deduplicates by the location's duplicate-contact
  setting (email here), so a retried delivery updates rather than duplicates.
* Tags are never sent: on upsert they *replace* the contact's existing tags, which would wipe
  the client's own tagging.
* The note (``POST /contacts/{id}/notes``) is not idempotent; its id is kept by the caller.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import httpx

from connectors.http import ApiError, make_client

from ._base import Attempt, DeliveryState, LeadRecord, RecordingTransport

ENV_URL = "LEADOPS_GHL_URL"
DEFAULT_URL = "https://services.leadconnectorhq.com"
API_VERSION = "2021-07-28"


class GoHighLevelClient:
    def __init__(
        self,
        token: str,
        location_id: str,
        *,
        base_url: str | None = None,
        on_attempt: Callable[[Attempt], None] | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 15.0,
        max_retries: int = 3,
        rate_per_sec: float = 8.0,
        sleep: Callable[[float], None] = time.sleep,
        max_retry_after: float = 30.0,
    ) -> None:
        if not (location_id or "").strip():
            raise ValueError("GoHighLevel needs the sub-account's location id.")
        self.location_id = location_id.strip()
        url = base_url or os.environ.get(ENV_URL) or DEFAULT_URL
        self._api = make_client(
            url,
            token,
            timeout=timeout,
            max_retries=max_retries,
            rate_per_sec=rate_per_sec,
            transport=RecordingTransport(on_attempt, transport),
            sleep=sleep,
            max_retry_after=max_retry_after,
            public_only=True,
            headers={"Version": API_VERSION, "Content-Type": "application/json"},
        )

    def close(self) -> None:
        self._api.close()

    def check(self) -> str:
        self._api.get("contacts/", {"locationId": self.location_id, "limit": 1})
        return "GoHighLevel accepted the token for this location."

    def upsert_contact(self, lead: LeadRecord) -> str:
        body = {
            "locationId": self.location_id,
            "email": lead.email,
            "firstName": lead.first_name,
            "lastName": lead.last_name,
            "source": lead.source,
        }
        data = self._api.post(
            "contacts/upsert", {k: v for k, v in body.items() if v is not None}, idempotent=True
        )
        contact = (data or {}).get("contact") or {}
        if not contact.get("id"):
            raise ApiError("GoHighLevel did not return the contact id", status=200)
        return str(contact["id"])

    def add_note(self, contact_id: str, lead: LeadRecord) -> str:
        data = self._api.post(f"contacts/{contact_id}/notes", {"body": lead.note_text()})
        note = (data or {}).get("note") or data or {}
        return str(note.get("id") or "")

    def deliver(self, lead: LeadRecord, state: DeliveryState, **_: object) -> DeliveryState:
        state.contact_id = self.upsert_contact(lead)
        state.steps.append("contact")
        if not state.note_id:
            state.note_id = self.add_note(state.contact_id, lead) or "created"
            state.steps.append("note")
        return state
