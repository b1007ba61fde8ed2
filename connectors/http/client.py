"""The shared HTTP client every HTTP connector is built on.

One place for: timeouts, retries with capped exponential backoff that honours
``Retry-After``, a client-side token-bucket rate limiter, Laravel-style page
iteration, typed errors, and secret redaction in logs, errors and reprs.

    client = make_client("https://send.agency.com/api", token)
    for lead in client.iter_pages("leads"):
        ...

Retry policy: 429 and 503 (the request was refused, not processed) and
connection failures (nothing was sent) are always retried. 500/502/504 and read
timeouts are retried for idempotent methods (GET, HEAD, OPTIONS, PUT, PATCH,
DELETE) and for any request sent with ``idempotent=True``; a POST that may have
been processed (sending an email, duplicating a campaign) is not repeated
unless the caller says it is safe.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import urlencode

import httpx
import orjson

from .destinations import DestinationGuard
from .errors import (
    ApiError,
    AuthError,
    NetworkError,
    NotFoundError,
    RateLimited,
    RequestTimeout,
    ServerError,
    ValidationError,
    extract_message,
    parse_retry_after,
    validation_errors,
    validation_message,
)
from .pacing import InstancePacer
from .paging import Page, encode_params, parse_page
from .redaction import install_log_redaction, register_secret, safe_url

log = logging.getLogger("connectors.http")

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE"})
RETRY_ALWAYS_STATUSES = frozenset({429, 503})
RETRY_IDEMPOTENT_STATUSES = frozenset({500, 502, 504})
DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_RETRIES = 4
DEFAULT_RATE_PER_SEC = 20.0
MAX_PAGES = 100_000
MAX_PACED_THROTTLES = 50  # 429s a paced request waits out before its retries count them


class RateLimiter:
    """Token bucket shared by every thread using one client.

    ``rate_per_sec`` tokens are added per second up to ``burst``; each request
    takes one. Callers that find the bucket empty reserve a future token and
    sleep until it is due, so concurrent callers are served in arrival order.
    """

    def __init__(
        self,
        rate_per_sec: float,
        burst: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate_per_sec <= 0:
            raise ValueError("rate_per_sec must be positive")
        self.rate = float(rate_per_sec)
        self.capacity = max(1.0, float(burst if burst is not None else rate_per_sec))
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = self.capacity
        self._stamp = clock()

    def acquire(self) -> float:
        """Take one token, sleeping if needed; returns the seconds waited."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            self._tokens -= 1.0
            wait = 0.0 if self._tokens >= 0 else -self._tokens / self.rate
        if wait > 0:
            self._sleep(wait)
        return wait


# --------------------------------------------------------------------------- client


class _NoCookies(httpx.Cookies):
    """A cookie jar that keeps nothing. These APIs authenticate by token on every request; a
    session cookie a server sets (Laravel's, say) is not ours to send back, and reading
    Set-Cookie into a jar costs a tenth of each request's client time."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None

    def set_cookie_header(self, request: httpx.Request) -> None:
        return None


class ApiClient:
    """A small, thread-safe wrapper around :class:`httpx.Client`.

    Methods return decoded JSON (``None`` for an empty body) and raise
    :class:`ApiError` subclasses. ``request_count`` counts HTTP attempts,
    retries included; ``retry_count`` counts the retries alone.
    """

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        rate_per_sec: float | None = DEFAULT_RATE_PER_SEC,
        burst: float | None = None,
        headers: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        max_retry_after: float = 120.0,
        secrets: Iterable[str] = (),
        user_agent: str = "leadops",
        public_only: bool = False,
        pacer: InstancePacer | None = None,
    ) -> None:
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        install_log_redaction()
        register_secret(token)
        for secret in secrets:
            register_secret(secret)
        self.base_url = str(base_url).rstrip("/") + "/"
        self.max_retries = int(max_retries)
        self.backoff_base = float(backoff_base)
        self.backoff_max = float(backoff_max)
        self.max_retry_after = float(max_retry_after)
        self._token = token
        self._sleep = sleep
        self._random = random.Random()
        self._limiter = RateLimiter(rate_per_sec, burst) if rate_per_sec else None
        # shared with the other clients of the same instance (pacing.py); settable later
        self.pacer: InstancePacer | None = pacer
        self._count_lock = threading.Lock()
        self._requests = 0
        self._retries = 0
        merged = {"Accept": "application/json", "User-Agent": user_agent}
        merged.update(headers or {})
        if token:
            merged["Authorization"] = f"Bearer {token}"
        self._http = httpx.Client(
            base_url=self.base_url,
            headers=merged,
            timeout=timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout),
            # a URL a user typed: every request goes only to a public address (destinations.py)
            transport=DestinationGuard(transport) if public_only else transport,
            follow_redirects=False,
        )
        self._http._cookies = (
            _NoCookies()
        )  # httpx takes no jar class; see tests/test_http_client.py

    # -- bookkeeping -------------------------------------------------------

    @property
    def request_count(self) -> int:
        """HTTP requests sent by this client (each retry counts)."""
        return self._requests

    @property
    def retry_count(self) -> int:
        return self._retries

    @property
    def rate_limiter(self) -> RateLimiter | None:
        return self._limiter

    def reset_counts(self) -> None:
        with self._count_lock:
            self._requests = 0
            self._retries = 0

    def __repr__(self) -> str:
        token = "set" if self._token else "none"
        return f"ApiClient(base_url={safe_url(self.base_url)!r}, token={token}, requests={self._requests})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- requests ----------------------------------------------------------

    def get(self, path: str, params: Mapping[str, Any] | None = None, **kw: Any) -> Any:
        return self.request("GET", path, params=params, **kw)

    def post(self, path: str, json: Any = None, **kw: Any) -> Any:
        return self.request("POST", path, json=json, **kw)

    def put(self, path: str, json: Any = None, **kw: Any) -> Any:
        return self.request("PUT", path, json=json, **kw)

    def patch(self, path: str, json: Any = None, **kw: Any) -> Any:
        return self.request("PATCH", path, json=json, **kw)

    def delete(self, path: str, json: Any = None, **kw: Any) -> Any:
        return self.request("DELETE", path, json=json, **kw)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        idempotent: bool | None = None,
    ) -> Any:
        """Send one request with retries; return decoded JSON or raise :class:`ApiError`.

        ``idempotent`` overrides the method-based guess of whether a request that
        may have reached the server can be repeated.
        """
        method = method.upper()
        retry_unsure = idempotent if idempotent is not None else method in IDEMPOTENT_METHODS
        query = encode_params(params) if params else None
        # The query goes on the path as one string: httpx then parses the URL once, where a
        # params argument costs it a second parse and merge on every request.
        target = f"{path}?{urlencode(query)}" if query else path
        attempt = throttled = 0
        while True:
            if self._limiter is not None:
                self._limiter.acquire()
            with self._count_lock:
                self._requests += 1
            started = time.monotonic()
            error: ApiError
            cause: BaseException | None = None
            retry_after: float | None = None
            try:
                response = self._send(method, target, json)
            except httpx.TimeoutException as exc:
                cause = exc
                url = self._url_for(path, query)
                error = RequestTimeout(f"timed out ({type(exc).__name__})", url=url, method=method)
                retryable = retry_unsure or isinstance(
                    exc, httpx.ConnectTimeout | httpx.PoolTimeout
                )
            except httpx.TransportError as exc:
                cause = exc
                url = self._url_for(path, query)
                error = NetworkError(f"{type(exc).__name__}: {exc}", url=url, method=method)
                retryable = retry_unsure or isinstance(exc, httpx.ConnectError)
            else:
                status = response.status_code
                if log.isEnabledFor(logging.DEBUG):  # safe_url is not free: only when logged
                    log.debug(
                        "%s %s -> %s (%.3fs)",
                        method,
                        safe_url(response.request.url),
                        status,
                        time.monotonic() - started,
                    )
                if status < 300:
                    return self._decode(response)
                if status < 400:
                    location = safe_url(response.headers.get("location", "?"))
                    raise ApiError(
                        f"unexpected redirect to {location}; is the base URL right?",
                        status=status,
                        url=str(response.request.url),
                        method=method,
                    )
                body = _body_of(response)
                retry_after = _retry_after_of(response, body)
                error = self._error_for(response, body, retry_after)
                retryable = status in RETRY_ALWAYS_STATUSES or (
                    retry_unsure and status in RETRY_IDEMPOTENT_STATUSES
                )
                if retry_after is not None and retry_after > self.max_retry_after:
                    retryable = False
            if not retryable or attempt >= self.max_retries:
                if cause is not None:
                    raise error from cause
                raise error
            wait = retry_after if retry_after is not None else self._backoff(attempt)
            if self.pacer is not None and isinstance(error, RateLimited):
                # the pacer holds every request back until Retry-After and slows down; a paced
                # request waits its turn again rather than using up its retries
                throttled += 1
                if throttled <= MAX_PACED_THROTTLES:
                    with self._count_lock:
                        self._retries += 1
                    continue
            attempt += 1
            with self._count_lock:
                self._retries += 1
            log.warning(
                "retrying %s %s in %.2fs (attempt %d of %d): %s",
                method,
                error.url,
                wait,
                attempt,
                self.max_retries,
                error.message,
            )
            self._sleep(wait)

    def _send(self, method: str, target: str, json: Any) -> httpx.Response:
        """One HTTP exchange, through the instance pacer when there is one."""
        pacer = self.pacer
        if pacer is None:
            return self._http.request(method, target, json=json)
        pacer.acquire()
        status: int | None = None
        retry_after: float | None = None
        try:
            response = self._http.request(method, target, json=json)
            status = response.status_code
            if status == 429:
                retry_after = _retry_after_of(response, _body_of(response))
            return response
        finally:
            pacer.release(status, retry_after)

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with equal jitter, capped at ``backoff_max``."""
        ceiling = min(self.backoff_max, self.backoff_base * (2**attempt))
        return ceiling / 2 + self._random.uniform(0, ceiling / 2)

    def _url_for(self, path: str, query: list[tuple[str, str]] | None) -> str:
        url = self._http.base_url.join(path.lstrip("/"))
        if query:
            url = url.copy_with(query=urlencode(query).encode())
        return str(url)

    def _decode(self, response: httpx.Response) -> Any:
        if response.status_code == 204 or not response.content:
            return None
        try:
            return loads_json(response.content)
        except ValueError:
            kind = response.headers.get("content-type", "unknown content type")
            raise ApiError(
                f"expected JSON but got {kind}; is the base URL right?",
                status=response.status_code,
                url=str(response.request.url),
                method=response.request.method,
            ) from None

    def _error_for(
        self, response: httpx.Response, body: Any, retry_after: float | None
    ) -> ApiError:
        status = response.status_code
        message = extract_message(body) or response.reason_phrase or "error"
        kwargs: dict[str, Any] = {
            "status": status,
            "url": str(response.request.url),
            "method": response.request.method,
            "body": body,
            "retry_after": retry_after,
        }
        if status == 422:
            errors = validation_errors(body)
            return ValidationError(validation_message(errors, message), errors=errors, **kwargs)
        if status in (401, 403):
            return AuthError(message, **kwargs)
        if status == 404:
            data = body.get("data") if isinstance(body, Mapping) else None
            missing = data.get("record_not_found") if isinstance(data, Mapping) else None
            if isinstance(missing, Mapping) and missing:
                detail = ", ".join(f"{k} {v}" for k, v in missing.items())
                message = f"{message} ({detail})"
            return NotFoundError(message, record_not_found=missing, **kwargs)
        if status == 429:
            return RateLimited(f"rate limited: {message}", **kwargs)
        if status >= 500:
            return ServerError(message, **kwargs)
        return ApiError(message, **kwargs)

    # -- pagination --------------------------------------------------------

    def iter_page_batches(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        start_page: int = 1,
        max_pages: int | None = None,
    ) -> Iterator[Page]:
        """Yield :class:`Page` objects for ``?page=N`` until ``meta.last_page``.

        Without ``meta.last_page`` it continues while ``links.next`` is set; a bare
        list or ``{data: [...]}`` without meta is one page. Pages are fetched
        lazily, so breaking out of the loop stops the requests.
        """
        page = max(1, int(start_page))
        fetched = 0
        previous: tuple[Any, ...] | None = None
        while True:
            body = self.get(path, {**(params or {}), "page": page})
            items, last_page, has_next, total = parse_page(body)
            signature = _signature(items)
            if previous is not None and signature is not None and signature == previous:
                raise ApiError(
                    f"pagination did not advance at page {page} (server ignores ?page?)",
                    url=self._url_for(path, None),
                    method="GET",
                )
            yield Page(items=list(items), number=page, last_page=last_page, total=total)
            fetched += 1
            if not items:
                return
            if last_page is not None:
                if page >= last_page:
                    return
            elif not has_next:
                return
            if (max_pages is not None and fetched >= max_pages) or fetched >= MAX_PAGES:
                return
            previous = signature
            page += 1

    def iter_pages(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        start_page: int = 1,
        max_pages: int | None = None,
    ) -> Iterator[Any]:
        """Yield every item across pages (see :meth:`iter_page_batches`); break to stop early."""
        for page in self.iter_page_batches(
            path, params, start_page=start_page, max_pages=max_pages
        ):
            yield from page.items


def _signature(items: list[Any]) -> tuple[Any, ...] | None:
    if not items:
        return None

    def key(item: Any) -> Any:
        if isinstance(item, Mapping) and "id" in item:
            return item["id"]
        return repr(item)  # only for items without an id: a lead's repr is a kilobyte

    return (len(items), key(items[0]), key(items[-1]))


# bytes -> "0" for a digit, " " otherwise: a run of 20 digits is then a plain substring search
# (a regex for it costs four times the decoding itself)
_DIGITS_ONLY = bytes(48 if 48 <= b <= 57 else 32 for b in range(256))
_TWENTY_DIGITS = b"0" * 20


def loads_json(content: bytes) -> Any:
    """Decode a JSON body: orjson (a third of the standard library's time on a page of leads,
    and a sync decodes tens of thousands of pages), with the standard library as the fallback
    for what orjson refuses but servers send (NaN, integers beyond 64 bits, a BOM, bad UTF-8
    escapes). orjson turns integers beyond 64 bits into floats, silently losing digits, so a
    body with a run of 20 digits anywhere goes to the standard library too. Raises ValueError
    when neither can read it."""
    if _TWENTY_DIGITS in content.translate(_DIGITS_ONLY):
        return json.loads(content)
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError:
        return json.loads(content)


def _body_of(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return loads_json(response.content)
    except ValueError:
        return response.text[:500]


def _retry_after_of(response: httpx.Response, body: Any) -> float | None:
    header = parse_retry_after(response.headers.get("Retry-After"))
    if header is not None:
        return header
    if isinstance(body, Mapping):
        for holder in (body, body.get("data")):
            if isinstance(holder, Mapping) and "retry_after" in holder:
                return parse_retry_after(holder["retry_after"])
    return None


def make_client(
    base_url: str,
    token: str | None = None,
    *,
    timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
    max_retries: int = DEFAULT_MAX_RETRIES,
    rate_per_sec: float | None = DEFAULT_RATE_PER_SEC,
    headers: Mapping[str, str] | None = None,
    transport: httpx.BaseTransport | None = None,
    **options: Any,
) -> ApiClient:
    """Build the standard :class:`ApiClient` (see its docstring for ``options``).

    ``rate_per_sec=None`` (or 0) disables client-side rate limiting. ``public_only=True`` is
    for URLs a user typed (CRM, webhook, Slack): requests go only to public internet addresses
    (see :mod:`.destinations`).
    """
    return ApiClient(
        base_url,
        token,
        timeout=timeout,
        max_retries=max_retries,
        rate_per_sec=rate_per_sec,
        headers=headers,
        transport=transport,
        **options,
    )
