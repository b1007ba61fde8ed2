"""Fake HubSpot, GoHighLevel and webhook receivers in one ASGI app, with fault knobs.

Written from the vendors' docs (see CONNECTORS_REFERENCE.md): HubSpot batch upsert by email,
notes and deals with associations, batch read of deals; GoHighLevel v2 upsert (requires the
``Version`` header and ``locationId``) and notes; a webhook that checks the HMAC signature.
Faults: ``fail_next(status, count, retry_after)`` answers the next requests with an error,
``delay_next(seconds, count)`` makes them slow (for client timeouts).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from connectors.crm import verify_signature

TOKEN = "pat-na1-fake-crm-token-0001"
WEBHOOK_SECRET = "whsec-fake-signing-secret-42"
LOCATION = "loc-ve9EPM428h8vShlRW1KT"


@dataclass
class Fault:
    status: int
    retry_after: str | None = None
    delay: float = 0.0


@dataclass
class CrmFake:
    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)  # hubspot: email -> contact
    notes: list[dict[str, Any]] = field(default_factory=list)
    deals: dict[str, dict[str, Any]] = field(default_factory=dict)
    ghl_contacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    ghl_notes: list[dict[str, Any]] = field(default_factory=list)
    webhook_events: list[dict[str, Any]] = field(default_factory=list)
    webhook_deliveries: set[str] = field(default_factory=set)
    requests: list[tuple[str, str, int]] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._ids = itertools.count(1001)
        self._lock = threading.Lock()
        self.app = Starlette(
            routes=[
                Route("/crm/v3/objects/contacts", self.hs_list_contacts, methods=["GET"]),
                Route("/crm/v3/objects/contacts/batch/upsert", self.hs_upsert, methods=["POST"]),
                Route("/crm/v3/objects/notes", self.hs_note, methods=["POST"]),
                Route("/crm/v3/objects/deals", self.hs_deal, methods=["POST"]),
                Route("/crm/v3/objects/deals/batch/read", self.hs_read_deals, methods=["POST"]),
                Route("/contacts/", self.ghl_list, methods=["GET"]),
                Route("/contacts/upsert", self.ghl_upsert, methods=["POST"]),
                Route("/contacts/{cid}/notes", self.ghl_note, methods=["POST"]),
                Route("/hooks/leads", self.webhook, methods=["POST"]),
            ]
        )

    # -- knobs -----------------------------------------------------------------------------

    def fail_next(self, status: int, count: int = 1, retry_after: str | None = None) -> None:
        self.faults += [Fault(status, retry_after) for _ in range(count)]

    def delay_next(self, seconds: float, count: int = 1) -> None:
        self.faults += [Fault(0, None, seconds) for _ in range(count)]

    def new_id(self) -> str:
        with self._lock:
            return str(next(self._ids))

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        fault = self.faults.pop(0) if self.faults else None
        if fault and fault.delay:
            await asyncio.sleep(fault.delay)
            fault = None
        if fault:
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else None
            body = {"status": "error", "message": f"fake failure {fault.status}"}
            if fault.status == 429:
                body.update(errorType="RATE_LIMIT", policyName="TEN_SECONDLY_ROLLING")
            if fault.status == 401:
                body.update(
                    category="INVALID_AUTHENTICATION",
                    message="Authentication credentials not found.",
                )
            self.requests.append((scope["method"], scope["path"], fault.status))
            await JSONResponse(body, fault.status, headers)(scope, receive, send)
            return
        self.requests.append((scope["method"], scope["path"], 0))
        await self.app(scope, receive, send)

    # -- HubSpot ---------------------------------------------------------------------------

    @staticmethod
    def _bearer_ok(request: Request) -> bool:
        return request.headers.get("authorization") == f"Bearer {TOKEN}"

    def _unauth(self) -> JSONResponse:
        return JSONResponse(
            {
                "status": "error",
                "message": "Authentication credentials not found.",
                "category": "INVALID_AUTHENTICATION",
            },
            401,
        )

    async def hs_list_contacts(self, request: Request) -> JSONResponse:
        if not self._bearer_ok(request):
            return self._unauth()
        return JSONResponse({"results": [{"id": c["id"]} for c in self.contacts.values()][:1]})

    async def hs_upsert(self, request: Request) -> JSONResponse:
        if not self._bearer_ok(request):
            return self._unauth()
        body = await request.json()
        results = []
        for item in body.get("inputs", []):
            if item.get("idProperty") != "email" or "@" not in str(item.get("id", "")):
                return JSONResponse(
                    {
                        "status": "error",
                        "category": "VALIDATION_ERROR",
                        "message": "idProperty email and an email id are required",
                    },
                    400,
                )
            email = item["id"].lower()
            existing = self.contacts.get(email)
            if existing:
                existing["properties"].update(item.get("properties", {}))
                results.append(
                    {"id": existing["id"], "new": False, "properties": existing["properties"]}
                )
            else:
                contact = {
                    "id": self.new_id(),
                    "properties": {**item.get("properties", {}), "email": email},
                }
                self.contacts[email] = contact
                results.append(
                    {"id": contact["id"], "new": True, "properties": contact["properties"]}
                )
        return JSONResponse({"status": "COMPLETE", "results": results})

    def _check_assoc(self, body: dict, type_id: int) -> str | None:
        for a in body.get("associations", []):
            if any(t.get("associationTypeId") == type_id for t in a.get("types", [])):
                return str(a["to"]["id"])
        return None

    async def hs_note(self, request: Request) -> JSONResponse:
        if not self._bearer_ok(request):
            return self._unauth()
        body = await request.json()
        props = body.get("properties", {})
        contact = self._check_assoc(body, 202)
        if not props.get("hs_timestamp") or contact is None:
            return JSONResponse(
                {
                    "status": "error",
                    "category": "VALIDATION_ERROR",
                    "message": "hs_timestamp and a contact association are required",
                },
                400,
            )
        note = {"id": self.new_id(), "contact_id": contact, "body": props.get("hs_note_body")}
        self.notes.append(note)
        return JSONResponse({"id": note["id"], "properties": props}, 201)

    async def hs_deal(self, request: Request) -> JSONResponse:
        if not self._bearer_ok(request):
            return self._unauth()
        body = await request.json()
        props = body.get("properties", {})
        deal = {"id": self.new_id(), "contact_id": self._check_assoc(body, 3), "properties": props}
        self.deals[deal["id"]] = deal
        return JSONResponse({"id": deal["id"], "properties": props}, 201)

    async def hs_read_deals(self, request: Request) -> JSONResponse:
        if not self._bearer_ok(request):
            return self._unauth()
        body = await request.json()
        results = [
            {
                "id": i["id"],
                "properties": {"dealstage": self.deals[i["id"]]["properties"].get("dealstage")},
            }
            for i in body.get("inputs", [])
            if i["id"] in self.deals
        ]
        return JSONResponse({"status": "COMPLETE", "results": results})

    # -- GoHighLevel -----------------------------------------------------------------------

    def _ghl_problem(self, request: Request) -> JSONResponse | None:
        if not self._bearer_ok(request):
            return JSONResponse({"statusCode": 401, "message": "Invalid JWT"}, 401)
        if request.headers.get("version") != "2021-07-28":
            return JSONResponse({"statusCode": 400, "message": "Version header was not found"}, 400)
        return None

    async def ghl_list(self, request: Request) -> JSONResponse:
        problem = self._ghl_problem(request)
        if problem:
            return problem
        if request.query_params.get("locationId") != LOCATION:
            return JSONResponse(
                {"statusCode": 403, "message": "The token does not have access to this location."},
                403,
            )
        return JSONResponse({"contacts": [], "meta": {"total": len(self.ghl_contacts)}})

    async def ghl_upsert(self, request: Request) -> JSONResponse:
        problem = self._ghl_problem(request)
        if problem:
            return problem
        body = await request.json()
        if body.get("locationId") != LOCATION:
            return JSONResponse(
                {"statusCode": 422, "message": ["locationId should not be empty"]}, 422
            )
        email = (body.get("email") or "").lower()
        existing = self.ghl_contacts.get(email)
        if existing:
            tags = existing.get("tags", [])
            existing.update(body)
            if "tags" not in body:
                existing["tags"] = tags
            return JSONResponse({"new": False, "contact": existing, "traceId": "t"})
        contact = {"id": f"ghl{self.new_id()}", "tags": ["client-own-tag"], **body}
        self.ghl_contacts[email] = contact
        return JSONResponse({"new": True, "contact": contact, "traceId": "t"})

    async def ghl_note(self, request: Request) -> JSONResponse:
        problem = self._ghl_problem(request)
        if problem:
            return problem
        body = await request.json()
        note = {
            "id": f"n{self.new_id()}",
            "contactId": request.path_params["cid"],
            "body": body.get("body"),
        }
        self.ghl_notes.append(note)
        return JSONResponse({"note": note}, 201)

    # -- webhook ---------------------------------------------------------------------------

    async def webhook(self, request: Request) -> JSONResponse:
        raw = await request.body()
        if not verify_signature(
            WEBHOOK_SECRET,
            request.headers.get("x-leadops-timestamp"),
            raw,
            request.headers.get("x-leadops-signature"),
        ):
            return JSONResponse({"error": "bad signature"}, 401)
        event = json.loads(raw)
        key = request.headers.get("x-leadops-delivery")
        if event.get("event") == "lead.interested":
            if key in self.webhook_deliveries:
                return JSONResponse({"ok": True, "duplicate": True})
            self.webhook_deliveries.add(key)
            self.webhook_events.append(event)
        return JSONResponse({"ok": True})
