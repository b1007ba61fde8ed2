"""A generic webhook: the lead as JSON, POSTed to the client's URL and signed with HMAC-SHA256.

Headers sent with every request:

* ``X-LeadOps-Timestamp``: Unix seconds when it was signed.
* ``X-LeadOps-Signature``: ``sha256=<hex>`` of HMAC-SHA256(secret, ``"{timestamp}.{raw body}"``).
  Receivers recompute it over the raw body bytes and compare in constant time (see
  :func:`verify_signature`), and may reject timestamps older than a few minutes.
* ``X-LeadOps-Delivery``: the delivery key, the same on every retry of one lead for one client —
  receivers use it to drop duplicates.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from connectors.http import make_client

from ._base import Attempt, DeliveryState, LeadRecord, RecordingTransport

SIGNATURE_HEADER = "X-LeadOps-Signature"
TIMESTAMP_HEADER = "X-LeadOps-Timestamp"
DELIVERY_HEADER = "X-LeadOps-Delivery"


def sign_body(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_signature(
    secret: str, timestamp: str | None, body: bytes, signature: str | None, *, max_age: float = 300
) -> bool:
    if not timestamp or not signature:
        return False
    try:
        if abs(time.time() - float(timestamp)) > max_age:
            return False
    except ValueError:
        return False
    return hmac.compare_digest(sign_body(secret, timestamp, body), signature)


def payload(lead: LeadRecord) -> dict[str, Any]:
    return {
        "event": "lead.interested",
        "delivery_id": lead.delivery_key,
        "client": lead.client,
        "lead": {"email": lead.email, "first_name": lead.first_name, "last_name": lead.last_name},
        "reply": {
            "campaign": lead.campaign,
            "subject": lead.reply_subject,
            "text": lead.reply_text,
            "received_at": lead.replied_at.isoformat() if lead.replied_at else None,
        },
        "source": lead.source,
    }


class WebhookClient:
    def __init__(
        self,
        url: str,
        secret: str,
        *,
        on_attempt: Callable[[Attempt], None] | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 15.0,
        max_retries: int = 3,
        sleep: Callable[[float], None] = time.sleep,
        max_retry_after: float = 30.0,
    ) -> None:
        parts = urlsplit((url or "").strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"Webhook URL: {url!r} is not an http(s) URL.")
        if not secret:
            raise ValueError("Webhook: a signing secret is required.")
        self._secret = secret
        self._path = urlunsplit(("", "", parts.path.lstrip("/"), parts.query, ""))
        self._api = make_client(
            urlunsplit((parts.scheme, parts.netloc, "/", "", "")),
            None,
            timeout=timeout,
            max_retries=max_retries,
            rate_per_sec=None,
            transport=RecordingTransport(on_attempt, transport, sign=self._sign),
            sleep=sleep,
            max_retry_after=max_retry_after,
            public_only=True,
            secrets=[secret],
            headers={"Content-Type": "application/json"},
        )

    def _sign(self, request: httpx.Request) -> None:
        ts = str(int(time.time()))
        request.headers[TIMESTAMP_HEADER] = ts
        request.headers[SIGNATURE_HEADER] = sign_body(self._secret, ts, request.content)
        try:
            key = json.loads(request.content or b"{}").get("delivery_id")
        except ValueError:
            key = None
        if key:
            request.headers[DELIVERY_HEADER] = str(key)

    def close(self) -> None:
        self._api.close()

    def check(self) -> str:
        self._api.post(self._path, {"event": "test", "delivery_id": None}, idempotent=True)
        return "The webhook answered the signed test event with a success status."

    def deliver(self, lead: LeadRecord, state: DeliveryState, **_: object) -> DeliveryState:
        body = self._api.post(self._path, payload(lead), idempotent=True)
        state.contact_id = (
            str((body or {}).get("id") or lead.email) if isinstance(body, dict) else lead.email
        )
        state.steps.append("webhook")
        return state
