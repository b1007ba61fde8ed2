"""What every CRM connector shares: the lead it delivers, what a delivery produced, and a
transport that records every HTTP attempt (retries included) for the delivery log."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from connectors.http import redact

EXCERPT_CHARS = 200


@dataclass(frozen=True)
class LeadRecord:
    """An interested lead as a CRM receives it."""

    delivery_key: str
    email: str
    first_name: str | None
    last_name: str | None
    client: str
    campaign: str | None
    reply_subject: str | None
    reply_text: str | None
    replied_at: dt.datetime | None
    source: str = "Cold email (interested reply)"

    @property
    def full_name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p) or self.email

    def note_text(self) -> str:
        when = self.replied_at.strftime("%Y-%m-%d %H:%M UTC") if self.replied_at else "recently"
        lines = [
            f"Interested reply from {self.full_name} <{self.email}> on {when}.",
            f"Campaign: {self.campaign or 'unknown'}",
        ]
        if self.reply_subject:
            lines.append(f"Subject: {self.reply_subject}")
        lines += ["", (self.reply_text or "").strip()]
        return "\n".join(lines)[:60_000]


@dataclass
class DeliveryState:
    """What a delivery has created so far; kept between attempts so a retry never repeats a step."""

    contact_id: str | None = None
    note_id: str | None = None
    deal_id: str | None = None
    deal_stage: str | None = None
    steps: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Attempt:
    """One HTTP request/response (or failure to get one)."""

    at: dt.datetime
    method: str
    path: str
    status: int | None
    ok: bool
    duration_ms: int
    excerpt: str


class RecordingTransport(httpx.BaseTransport):
    """Wraps the real transport and reports every attempt to `on_attempt` (secrets redacted)."""

    def __init__(
        self,
        on_attempt: Callable[[Attempt], None] | None,
        inner: httpx.BaseTransport | None = None,
        sign: Callable[[httpx.Request], None] | None = None,
    ) -> None:
        self._inner = inner or httpx.HTTPTransport()
        self._on_attempt = on_attempt
        self._sign = sign

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self._sign is not None:
            request.read()
            self._sign(request)
        started = time.monotonic()
        at = dt.datetime.now(dt.UTC)
        path = request.url.path
        try:
            response = self._inner.handle_request(request)
        except httpx.HTTPError as exc:
            self._report(at, request.method, path, None, started, f"{type(exc).__name__}: {exc}")
            raise
        response.read()
        self._report(at, request.method, path, response.status_code, started, response.text)
        return response

    def _report(self, at, method, path, status, started, text: str) -> None:
        if self._on_attempt is None:
            return
        excerpt = redact(" ".join((text or "").split()))[:EXCERPT_CHARS]
        self._on_attempt(
            Attempt(
                at=at,
                method=method,
                path=path,
                status=status,
                ok=status is not None and status < 300,
                duration_ms=int((time.monotonic() - started) * 1000),
                excerpt=excerpt,
            )
        )

    def close(self) -> None:
        self._inner.close()
