"""Typed API errors and the helpers that read error bodies and ``Retry-After``."""

from __future__ import annotations

import email.utils
import math
import time
from collections.abc import Iterable, Mapping
from datetime import UTC
from typing import Any

from .redaction import redact, safe_url


class ApiError(Exception):
    """An HTTP API call failed. ``status`` is None when no response arrived."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        url: str | None = None,
        method: str | None = None,
        body: Any = None,
        retry_after: float | None = None,
    ) -> None:
        self.message = redact(message)
        self.status = status
        self.url = safe_url(url) if url else None
        self.method = method
        self.body = body
        self.retry_after = retry_after
        super().__init__(str(self))

    def __str__(self) -> str:
        where = " ".join(p for p in (self.method, self.url) if p)
        head = f"HTTP {self.status}" if self.status is not None else "request failed"
        return f"{head}{' ' + where if where else ''}: {self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status!r}, message={self.message!r}, url={self.url!r})"


class AuthError(ApiError):
    """401/403: the token is wrong, expired, for another instance or another workspace."""


class NotFoundError(ApiError):
    """404: record (``record_not_found`` maps model → id, when the API says) or route missing."""

    def __init__(self, message: str, *, record_not_found: Any = None, **kwargs: Any) -> None:
        self.record_not_found = record_not_found
        super().__init__(message, **kwargs)


class ValidationError(ApiError):
    """422: Laravel validation failed; ``errors`` maps field → messages."""

    def __init__(self, message: str, *, errors: dict[str, list[str]] | None = None, **kwargs: Any):
        self.errors = errors or {}
        super().__init__(message, **kwargs)

    @property
    def fields(self) -> list[str]:
        return list(self.errors)


class RateLimited(ApiError):
    """429 after all retries (or a ``Retry-After`` longer than the client will wait)."""


class ServerError(ApiError):
    """5xx after all retries."""


class NetworkError(ApiError):
    """No usable response: connection refused/reset, protocol error."""


class RequestTimeout(NetworkError):
    """The request timed out (after retries, when retrying was allowed)."""


# --------------------------------------------------------------------------- helpers


def extract_message(body: Any) -> str | None:
    """Error text from a response body: ``message`` → ``error`` → ``data.message``."""
    if isinstance(body, Mapping):
        for key in ("message", "error"):
            value = body.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()
            if isinstance(value, Mapping) and isinstance(value.get("message"), str):
                return value["message"].strip()
        data = body.get("data")
        if isinstance(data, Mapping) and isinstance(data.get("message"), str):
            return data["message"].strip()
    elif isinstance(body, str) and body.strip():
        return body.strip()[:300]
    return None


def validation_errors(body: Any) -> dict[str, list[str]]:
    """Laravel's ``errors`` dict normalised to ``{field: [message, ...]}``."""
    if not isinstance(body, Mapping):
        return {}
    errors = body.get("errors")
    if not isinstance(errors, Mapping) and isinstance(body.get("data"), Mapping):
        errors = body["data"].get("errors")
    if not isinstance(errors, Mapping):
        return {}
    out: dict[str, list[str]] = {}
    for field, messages in errors.items():
        if isinstance(messages, str):
            messages = [messages]
        elif not isinstance(messages, Iterable):
            messages = [str(messages)]
        out[str(field)] = [str(m) for m in messages]
    return out


def validation_message(
    errors: Mapping[str, list[str]], fallback: str | None, limit: int = 10
) -> str:
    """``"email: The email field is required.; name: ..."`` (first ``limit`` fields)."""
    if not errors:
        return fallback or "validation failed"
    parts = [f"{field}: {' '.join(msgs)}" for field, msgs in list(errors.items())[:limit]]
    if len(errors) > limit:
        parts.append(f"(and {len(errors) - limit} more fields)")
    return "; ".join(parts)


def parse_retry_after(value: object, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta-seconds or HTTP date)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return max(0.0, float(value)) if math.isfinite(value) else None
    text = str(value).strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))
