"""HubSpot CRM: upsert the contact by email, add the reply as a note on it, optionally a deal.

* Auth: ``Authorization: Bearer <token>`` — a service key, a (legacy) private-app token or an
  OAuth access token all work the same way.
* Contacts: ``POST /crm/v3/objects/contacts/batch/upsert`` with ``idProperty: email`` is
  idempotent, so a retried delivery never creates a second contact.
* Notes: ``POST /crm/v3/objects/notes`` associated to the contact (type 202, note → contact);
  deals: ``POST /crm/v3/objects/deals`` associated to the contact (type 3, deal → contact). These
  are not idempotent, so the caller keeps their ids (:class:`DeliveryState`) and never repeats them.
* Rate limits: HubSpot allows 100 (Free/Starter) to 190 requests per 10 seconds per app. The
  client keeps to ``rate_per_10s`` (default ``$LEADOPS_HUBSPOT_RATE_PER_10S`` or 90) with a token bucket, and a 429 is retried after
  ``Retry-After`` when sent, otherwise after a backoff.
* Deal stages flow back: :meth:`deal_stages` reads the stage of delivered deals in one batch call.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import httpx

from connectors.http import ApiError, make_client

from ._base import Attempt, DeliveryState, LeadRecord, RecordingTransport

ENV_URL = "LEADOPS_HUBSPOT_URL"
ENV_RATE = "LEADOPS_HUBSPOT_RATE_PER_10S"
DEFAULT_RATE_PER_10S = 90.0
DEFAULT_URL = "https://api.hubapi.com"
NOTE_TO_CONTACT = 202
DEAL_TO_CONTACT = 3

# HubSpot's default sales pipeline stage ids -> our lead stages.
HUBSPOT_STAGE_MAP: dict[str, str] = {
    "appointmentscheduled": "contacted",
    "qualifiedtobuy": "contacted",
    "presentationscheduled": "quoted",
    "decisionmakerboughtin": "quoted",
    "contractsent": "quoted",
    "closedwon": "won",
    "closedlost": "lost",
}


class HubSpotClient:
    def __init__(
        self,
        token: str,
        *,
        base_url: str | None = None,
        on_attempt: Callable[[Attempt], None] | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 15.0,
        max_retries: int = 3,
        rate_per_10s: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
        max_retry_after: float = 30.0,
    ) -> None:
        url = base_url or os.environ.get(ENV_URL) or DEFAULT_URL
        if rate_per_10s is None:
            rate_per_10s = float(os.environ.get(ENV_RATE) or DEFAULT_RATE_PER_10S)
        self._api = make_client(
            url,
            token,
            timeout=timeout,
            max_retries=max_retries,
            rate_per_sec=rate_per_10s / 10,
            burst=rate_per_10s,
            transport=RecordingTransport(on_attempt, transport),
            sleep=sleep,
            max_retry_after=max_retry_after,
            public_only=True,
            headers={"Content-Type": "application/json"},
        )

    def close(self) -> None:
        self._api.close()

    def check(self) -> str:
        """One cheap authenticated read; raises ApiError (AuthError on a bad token)."""
        body = self._api.get("crm/v3/objects/contacts", {"limit": 1, "properties": "email"})
        total = len(body.get("results", [])) if isinstance(body, dict) else 0
        return f"HubSpot accepted the token (contacts readable{'' if total else ', none yet'})."

    def upsert_contact(self, lead: LeadRecord) -> str:
        props = {"email": lead.email, "lifecyclestage": "lead", "hs_lead_status": "NEW"}
        if lead.first_name:
            props["firstname"] = lead.first_name
        if lead.last_name:
            props["lastname"] = lead.last_name
        body = self._api.post(
            "crm/v3/objects/contacts/batch/upsert",
            {"inputs": [{"idProperty": "email", "id": lead.email, "properties": props}]},
            idempotent=True,
        )
        errors = body.get("errors") if isinstance(body, dict) else None
        results = body.get("results") if isinstance(body, dict) else None
        if errors or not results:
            message = (errors or [{}])[0].get("message") if errors else "no result returned"
            raise ApiError(f"HubSpot did not upsert the contact: {message}", status=207)
        return str(results[0]["id"])

    def add_note(self, contact_id: str, lead: LeadRecord) -> str:
        when = lead.replied_at.isoformat() if lead.replied_at else None
        body = self._api.post(
            "crm/v3/objects/notes",
            {
                "properties": {
                    "hs_timestamp": when or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "hs_note_body": lead.note_text(),
                },
                "associations": [_association(contact_id, NOTE_TO_CONTACT)],
            },
        )
        return str(body["id"])

    def create_deal(
        self, contact_id: str, lead: LeadRecord, pipeline: str | None, stage: str | None
    ) -> tuple[str, str | None]:
        props: dict[str, Any] = {
            "dealname": f"{lead.full_name} – home insurance (cold email)",
            "pipeline": pipeline or "default",
            "dealstage": stage or "appointmentscheduled",
        }
        body = self._api.post(
            "crm/v3/objects/deals",
            {"properties": props, "associations": [_association(contact_id, DEAL_TO_CONTACT)]},
        )
        return str(body["id"]), (body.get("properties") or {}).get("dealstage") or props[
            "dealstage"
        ]

    def deliver(
        self,
        lead: LeadRecord,
        state: DeliveryState,
        *,
        create_deal: bool = False,
        pipeline: str | None = None,
        stage: str | None = None,
    ) -> DeliveryState:
        """Contact (always upserted), then the note and deal unless `state` says they exist."""
        state.contact_id = self.upsert_contact(lead)
        state.steps.append("contact")
        if not state.note_id:
            state.note_id = self.add_note(state.contact_id, lead)
            state.steps.append("note")
        if create_deal and not state.deal_id:
            state.deal_id, state.deal_stage = self.create_deal(
                state.contact_id, lead, pipeline, stage
            )
            state.steps.append("deal")
        return state

    def deal_stages(self, deal_ids: list[str]) -> dict[str, str]:
        """Current `dealstage` of each deal id (100 per request)."""
        out: dict[str, str] = {}
        for start in range(0, len(deal_ids), 100):
            chunk = deal_ids[start : start + 100]
            body = self._api.post(
                "crm/v3/objects/deals/batch/read",
                {"inputs": [{"id": d} for d in chunk], "properties": ["dealstage"]},
                idempotent=True,
            )
            for r in (body or {}).get("results", []):
                stage = (r.get("properties") or {}).get("dealstage")
                if stage:
                    out[str(r["id"])] = stage
        return out


def _association(to_id: str, type_id: int) -> dict[str, Any]:
    return {
        "to": {"id": to_id},
        "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}],
    }
