"""Connection setup, account and workspace calls shared by every Email Bison resource."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import date, datetime
from typing import Any, Literal, Self, TypeVar

import httpx

from connectors.http import (
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
    ApiClient,
    ApiError,
    make_client,
    register_secret,
    safe_url,
)

from .models import (
    ActionResult,
    DailyStats,
    Stats,
    Workspace,
    WorkspaceToken,
)
from .parsers import (
    parse_action,
    parse_daily_series,
    parse_stats,
    parse_token,
    parse_workspace,
    to_date,
    unwrap,
)

ENV_URL = "LEADOPS_BISON_URL"
ENV_RATE = "LEADOPS_BISON_RATE_PER_SEC"
DEFAULT_RATE_PER_SEC = 20.0
MAX_BATCH = 500

T = TypeVar("T")


def api_root(base_url: str) -> str:
    """The instance host root without a trailing ``/`` or ``/api``."""
    root = base_url.strip().rstrip("/")
    if root.endswith("/api"):
        root = root[: -len("/api")]
    return root


def day(value: date | datetime | str) -> str:
    """``YYYY-MM-DD`` for a date, datetime or ISO string (raises ValueError otherwise)."""
    parsed = to_date(value)
    if parsed is None:
        raise ValueError(f"not a date: {value!r}")
    return parsed.isoformat()


def chunks(values: Iterable[T], size: int) -> Iterator[list[T]]:
    batch: list[T] = []
    for value in values:
        batch.append(value)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _rate_from_env() -> float | None:
    text = os.environ.get(ENV_RATE, "").strip()
    if not text:
        return DEFAULT_RATE_PER_SEC
    try:
        rate = float(text)
    except ValueError:
        raise ValueError(f"{ENV_RATE} must be requests per second (0 = unlimited)") from None
    return rate if rate > 0 else None


class BisonBase:
    """Holds the HTTP client; resource mixins add the endpoint methods.

    ``base_url`` is the instance root (``https://send.agency.com``; ``/api`` is
    added) and defaults to ``$LEADOPS_BISON_URL``. ``rate_per_sec`` defaults to
    ``$LEADOPS_BISON_RATE_PER_SEC`` or 20 (Email Bison is said to allow about
    3,000 requests/minute per instance; unconfirmed); ``0``/``None`` disables
    client-side limiting. Further keyword options go to :func:`make_client`.
    """

    _api: ApiClient

    def __init__(
        self,
        base_url: str | None = None,
        token: str | None = None,
        *,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        rate_per_sec: float | None | Literal["env"] = "env",
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        **http_options: Any,
    ) -> None:
        url = base_url or os.environ.get(ENV_URL, "")
        if not url.strip():
            raise ValueError(f"Email Bison URL missing: pass base_url or set {ENV_URL}")
        self.base_url = api_root(url)
        rate = _rate_from_env() if rate_per_sec == "env" else rate_per_sec
        self._options: dict[str, Any] = {
            "timeout": timeout,
            "max_retries": max_retries,
            "rate_per_sec": rate,
            "transport": transport,
            "sleep": sleep,
            **http_options,
        }
        self._api = make_client(f"{self.base_url}/api", token, **self._options)

    # -- plumbing ------------------------------------------------------------

    @property
    def api(self) -> ApiClient:
        """The underlying :class:`ApiClient` (for counters and raw calls)."""
        return self._api

    @property
    def request_count(self) -> int:
        """HTTP requests sent by this client so far (retries included)."""
        return self._api.request_count

    def with_token(self, token: str) -> Self:
        """A new client for the same instance and options, using ``token``."""
        return type(self)(self.base_url, token, **self._options)

    def close(self) -> None:
        self._api.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={safe_url(self.base_url)!r})"

    def _action(self, method: str, path: str, body: Any = None, **kw: Any) -> ActionResult:
        return parse_action(self._api.request(method, path, json=body, **kw))

    def _iter(
        self,
        path: str,
        params: Mapping[str, Any] | None,
        parse: Callable[[Any], T],
        max_pages: int | None = None,
    ) -> Iterator[T]:
        for item in self._api.iter_pages(path, params, max_pages=max_pages):
            if isinstance(item, dict):
                yield parse(item)

    # -- account & workspaces ---------------------------------------------------

    def check(self) -> dict[str, Any]:
        """Smoke test (``GET /api/users``): the current user, or raises ApiError/AuthError."""
        body = self._api.get("users")
        data = unwrap(body)
        if not isinstance(data, dict):
            raise ApiError("unexpected /api/users response (no data object)", status=200)
        return data

    def list_workspaces(self) -> list[Workspace]:
        """Workspaces the token can see (``GET /api/workspaces/v1.1``; paginated or not)."""
        return list(self._iter("workspaces/v1.1", None, parse_workspace))

    def create_workspace_token(self, workspace_id: int, name: str = "leadops") -> WorkspaceToken:
        """Mint an api-user token for a workspace; needs a super-admin token.

        The plain token is returned only here; it is registered for redaction at once.
        """
        body = self._api.post(f"workspaces/v1.1/{int(workspace_id)}/api-tokens", {"name": name})
        token = parse_token(body, int(workspace_id))
        if not token.token:
            raise ApiError("token response had no plain_text_token", status=200)
        register_secret(token.token)
        return token

    def workspace_stats(self, start_date: date | str, end_date: date | str) -> Stats:
        """Workspace totals for a date range (``GET /api/workspaces/v1.1/stats``)."""
        params = {"start_date": day(start_date), "end_date": day(end_date)}
        body = self._api.get("workspaces/v1.1/stats", params)
        return parse_stats(body, to_date(start_date), to_date(end_date))

    def workspace_daily_stats(
        self, start_date: date | str, end_date: date | str
    ) -> list[DailyStats]:
        """Per-day workspace series (``GET /api/workspaces/v1.1/line-area-chart-stats``)."""
        params = {"start_date": day(start_date), "end_date": day(end_date)}
        return parse_daily_series(self._api.get("workspaces/v1.1/line-area-chart-stats", params))
