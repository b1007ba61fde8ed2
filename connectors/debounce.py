"""Debounce email verification: single checks (at most 5 in flight), bulk lists, balance.

Every value in Debounce's answers is a string; decisions key on `code`, not on `result`
(codes 1-8, see `CODES`). The key goes as the `api` query parameter and is redacted from logs
and errors by the shared HTTP client. Base URL: `LEADOPS_DEBOUNCE_URL` (default the public API).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from connectors.http import ApiError, make_client

ENV_URL = "LEADOPS_DEBOUNCE_URL"
DEFAULT_URL = "https://api.debounce.io"
MAX_CONCURRENCY = 5

# code -> (verdict, reason). Only code 5 is safe to send for cold outreach.
CODES: dict[str, tuple[str, str]] = {
    "1": ("invalid", "syntax error"),
    "2": ("invalid", "spam trap"),
    "3": ("invalid", "disposable"),
    "4": ("risky", "accept-all"),
    "5": ("safe", "deliverable"),
    "6": ("invalid", "mailbox does not exist"),
    "7": ("unknown", "server unreachable"),
    "8": ("risky", "role account"),
}


class DebounceError(ApiError):
    pass


@dataclass(frozen=True)
class Verification:
    email: str
    code: str
    verdict: str  # safe, risky, invalid, unknown
    reason: str
    free_email: bool
    role: bool
    balance: int | None


def _flag(value: Any) -> bool:
    return str(value).strip().lower() in ("true", "1", "yes")


def _int(value: Any) -> int | None:
    try:
        return int(float(str(value)))
    except (TypeError, ValueError):
        return None


def parse_single(body: Any, email: str) -> Verification:
    if not isinstance(body, dict) or str(body.get("success", "0")) != "1":
        err = (body or {}).get("debounce", {}) if isinstance(body, dict) else {}
        raise DebounceError(
            f"Debounce refused {email!r}: {err.get('error') or 'unexpected answer'}", status=200
        )
    d = body.get("debounce") or {}
    code = str(d.get("code", "7")).strip()
    verdict, reason = CODES.get(code, ("unknown", f"code {code}"))
    return Verification(
        email=email,
        code=code,
        verdict=verdict,
        reason=str(d.get("reason") or reason),
        free_email=_flag(d.get("free_email")),
        role=_flag(d.get("role")),
        balance=_int(body.get("balance")),
    )


class DebounceClient:
    """Client for one Debounce account. Thread-safe; `verify_many` keeps ≤ 5 calls in flight."""

    def __init__(
        self,
        api_key: str,
        base_url: str | None = None,
        *,
        bulk_url: str | None = None,
        concurrency: int = MAX_CONCURRENCY,
        timeout: float = 30.0,
        max_retries: int = 4,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        if not api_key:
            raise ValueError("Debounce API key missing.")
        url = (base_url or os.environ.get(ENV_URL) or DEFAULT_URL).rstrip("/")
        self.key = api_key
        self.concurrency = max(1, min(int(concurrency), MAX_CONCURRENCY))
        opts: dict[str, Any] = {
            "timeout": timeout,
            "max_retries": max_retries,
            "rate_per_sec": None,
            "secrets": [api_key],
        }
        if sleep is not None:
            opts["sleep"] = sleep
        self._api = make_client(url + "/v1", None, **opts)
        self._bulk = make_client((bulk_url or url).rstrip("/") + "/v1", None, **opts)
        self._slots = threading.BoundedSemaphore(self.concurrency)

    def close(self) -> None:
        self._api.close()
        self._bulk.close()

    def __enter__(self) -> DebounceClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def request_count(self) -> int:
        return self._api.request_count + self._bulk.request_count

    def verify(self, email: str) -> Verification:
        """`GET /v1/?api=KEY&email=…` (one credit)."""
        with self._slots:
            body = self._api.get("", {"api": self.key, "email": email})
        return parse_single(body, email)

    def verify_many(
        self,
        emails: Iterable[str],
        on_result: Callable[[Verification], None] | None = None,
    ) -> list[Verification]:
        """Verify addresses with at most `concurrency` calls in flight; results in input order."""
        items = list(emails)
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            out = []
            for v in pool.map(self.verify, items):
                out.append(v)
                if on_result:
                    on_result(v)
        return out

    def balance(self) -> int | None:
        body = self._api.get("balance/", {"api": self.key})
        return _int((body or {}).get("balance"))

    # -- bulk lists -------------------------------------------------------------------------

    def bulk_upload(self, list_url: str) -> str:
        """Start a bulk list (a CSV of addresses at `list_url`); returns its list id."""
        body = self._bulk.get("upload/", {"api": self.key, "url": list_url})
        if str((body or {}).get("success")) != "1":
            err = (body or {}).get("debounce", {}).get("error", "upload refused")
            raise DebounceError(f"Debounce bulk upload failed: {err}", status=200)
        return str(body["debounce"]["list_id"])

    def bulk_status(self, list_id: str) -> dict[str, Any]:
        """`{status, percentage, download_link}`; a non-empty download link means done."""
        body = self._bulk.get("status/", {"api": self.key, "list_id": list_id})
        if str((body or {}).get("success")) != "1":
            err = (body or {}).get("debounce", {}).get("error", "status refused")
            raise DebounceError(f"Debounce bulk status failed: {err}", status=200)
        d = body.get("debounce") or {}
        return {
            "list_id": str(d.get("list_id") or list_id),
            "status": str(d.get("status") or ""),
            "percentage": _int(d.get("percentage")) or 0,
            "download_link": str(d.get("download_link") or ""),
        }

    def bulk_results(self, download_link: str) -> list[Verification]:
        """Read a finished list's CSV (columns mirror the single answer: email, code, …)."""
        import csv
        import io

        text = self._bulk._http.get(download_link).text
        out = []
        for row in csv.DictReader(io.StringIO(text)):
            low = {k.strip().lower(): v for k, v in row.items() if k}
            code = str(low.get("code") or low.get("debounce_code") or "7").strip()
            verdict, reason = CODES.get(code, ("unknown", f"code {code}"))
            out.append(
                Verification(
                    str(low.get("email", "")),
                    code,
                    verdict,
                    str(low.get("reason") or reason),
                    _flag(low.get("free_email")),
                    _flag(low.get("role")),
                    None,
                )
            )
        return out
