"""A simulated Email Bison instance as a Starlette ASGI app, written from EMAIL_BISON_API.md.

The demo sandbox serves one, loaded from the demo database (:mod:`core.demo.sandbox.runtime`);
tests and benchmarks build their own with generated data:

    fake = BisonFake(seed=1, workspaces=2)
    with serve(fake) as url:
        client = BisonClient(url, fake.token_for(1))

Stateful and seedable: workspaces with api-user tokens (``id|secret``) and one
super-admin token; campaigns (Title-case statuses, some counters as strings),
sequence steps with A/B variants, per-step stats and daily series, leads,
replies, tags, sender emails and scheduled emails. Lists page 15 at a time and
ignore ``per_page``. Tokens are scoped to their workspace (403 for another
workspace's record, 401 without or with a bad token), bad input gets Laravel
422 bodies, and mutations move ``updated_at``.

Fault injection: ``rate_limit_every`` (429 + ``Retry-After`` every Nth request),
an instance-wide request limit (:meth:`BisonFake.limit_rate`, :mod:`.ratelimit`),
``error_every``/``error_rate`` (5xx), ``delay`` (every response), and the
one-shot :meth:`BisonFake.fail_next` / :meth:`BisonFake.delay_next`. Every
request is logged in ``requests`` (method, path, query, status, body and the
workspace its token opened), so a run can be replayed request for request
(``keep_requests=False`` keeps none, for a long-running sandbox).
"""

from __future__ import annotations

import asyncio
import collections
import email.utils
import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from core.demo.sandbox import handlers as h
from core.demo.sandbox.data import BisonState, FakeWorkspace
from core.demo.sandbox.ratelimit import InstanceLimit
from core.demo.sandbox.views import UNAUTHENTICATED, Fail, parse_query

__all__ = ["BisonFake", "Ctx", "RequestRecord"]


@dataclass
class RequestRecord:
    method: str
    path: str
    query: str
    status: int | None = None
    body: bytes = b""
    workspace_id: int | None = None
    at: float = field(default_factory=time.monotonic)  # when it arrived


@dataclass
class _Fault:
    status: int | None = None
    retry_after: float | None = None
    delay: float = 0.0
    body: Any = None


@dataclass
class Ctx:
    """What a handler sees: the caller's workspace, parsed query/body, path params."""

    fake: BisonFake
    ws: FakeWorkspace
    admin: bool
    params: dict[str, Any]
    query: dict[str, Any]
    body: Any
    url: str

    @property
    def state(self) -> BisonState:
        return self.fake.state

    def now(self) -> float:
        return self.fake.clock()


class BisonFake:
    """The fake instance; an ASGI app (``await fake(scope, receive, send)``)."""

    def __init__(
        self,
        seed: int = 0,
        workspaces: int = 2,
        campaigns_per_ws: int = 4,
        leads_per_ws: int = 60,
        replies_per_ws: int = 45,
        *,
        senders_per_ws: int = 6,
        steps_per_campaign: int = 3,
        variants_per_step: int = 2,
        scheduled_per_campaign: int = 20,
        custom_tags_per_ws: int = 2,
        page_size: int = 15,
        now: datetime | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.clock = clock
        self.state = BisonState(
            seed=seed,
            workspaces=workspaces,
            campaigns_per_ws=campaigns_per_ws,
            leads_per_ws=leads_per_ws,
            replies_per_ws=replies_per_ws,
            senders_per_ws=senders_per_ws,
            steps_per_campaign=steps_per_campaign,
            variants_per_step=variants_per_step,
            scheduled_per_campaign=scheduled_per_campaign,
            custom_tags_per_ws=custom_tags_per_ws,
            now=now or datetime.fromtimestamp(int(clock()), UTC),
        )
        # behaviour knobs (plain attributes; change them at any time)
        self.page_size = page_size
        self.skip_personal_domains = True
        self.sequence_shape = "v1.1"  # or "data-list" ({data: [...]}) or "bare-list"
        self.rate_limit_every: int | None = None
        self.rate_limit: InstanceLimit | None = None  # see limit_rate
        self.retry_after: float = 1
        self.retry_after_mode = "seconds"  # "http-date", "json" or "none"
        self.error_every: int | None = None
        self.error_rate: float = 0.0
        self.error_status = 503
        self.delay: float = 0.0
        self.requests: list[RequestRecord] = []
        self.keep_requests = True
        self._served = 0
        self._faults: collections.deque[_Fault] = collections.deque()
        self.path_faults: dict[str, list[int]] = {}
        self._rng = random.Random(seed)
        self._lock = threading.RLock()
        self._app = Starlette(
            routes=[self._route(m, p, fn) for m, p, fn in h.ROUTES],
            exception_handlers={HTTPException: _http_exception},
        )

    # -- test helpers ------------------------------------------------------------

    @property
    def super_admin_token(self) -> str:
        return self.state.super_admin_token

    @property
    def workspace_ids(self) -> list[int]:
        return list(self.state.workspaces)

    def token_for(self, workspace_id: int) -> str:
        """The api-user token of a workspace."""
        return self.state.workspaces[workspace_id].token

    def workspace(self, workspace_id: int) -> FakeWorkspace:
        """The (generated) state of a workspace; hold ``fake.lock`` while mutating it."""
        with self._lock:
            ws = self.state.ws(workspace_id)
            if ws is None:
                raise KeyError(workspace_id)
            return ws

    def generate_all(self) -> None:
        """Generate every workspace now (otherwise done on first access)."""
        for wid in self.state.workspaces:
            self.workspace(wid)

    @property
    def lock(self) -> threading.RLock:
        return self._lock

    @property
    def request_count(self) -> int:
        return len(self.requests)

    def count_requests(
        self, method: str | None = None, path: str | None = None, prefix: str | None = None
    ) -> int:
        with self._lock:
            return sum(
                1
                for r in self.requests
                if (method is None or r.method == method.upper())
                and (path is None or r.path == path)
                and (prefix is None or r.path.startswith(prefix))
            )

    def reset_requests(self) -> None:
        with self._lock:
            self.requests.clear()

    def fail_next(
        self,
        count: int = 1,
        status: int = 503,
        retry_after: float | None = None,
        body: Any = None,
    ) -> None:
        """Answer the next ``count`` requests with ``status`` (429 gets a Retry-After)."""
        with self._lock:
            for _ in range(count):
                self._faults.append(_Fault(status=status, retry_after=retry_after, body=body))

    def limit_rate(self, per_sec: float | None, burst: float | None = None) -> None:
        """Limit the whole instance to ``per_sec`` requests a second (a token bucket holding
        ``burst``, default one second's worth); over it, 429 with ``Retry-After``. ``None``
        lifts the limit."""
        with self._lock:
            self.rate_limit = InstanceLimit(per_sec, burst) if per_sec else None

    def delay_next(self, count: int = 1, seconds: float = 1.0) -> None:
        """Delay the next ``count`` responses by ``seconds`` (for client timeouts)."""
        with self._lock:
            for _ in range(count):
                self._faults.append(_Fault(delay=seconds))

    def fail_path_after(
        self, path_suffix: str, succeed: int, status: int = 500, times: int = 1000
    ) -> None:
        """Let ``succeed`` requests whose path ends with ``path_suffix`` through, then fail the
        next ``times`` of them with ``status`` (an upload that breaks half-way)."""
        with self._lock:
            self.path_faults[path_suffix] = [succeed, times, status]

    def _path_fault(self, path: str) -> _Fault | None:
        for suffix, plan in self.path_faults.items():
            if path.endswith(suffix):
                if plan[0] > 0:
                    plan[0] -= 1
                    return None
                if plan[1] > 0:
                    plan[1] -= 1
                    return _Fault(status=plan[2])
        return None

    def reset_faults(self) -> None:
        with self._lock:
            self._faults.clear()
            self.path_faults.clear()
            self.rate_limit_every = self.error_every = None
            self.rate_limit = None
            self.error_rate = 0.0
            self.delay = 0.0

    # -- ASGI --------------------------------------------------------------------

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        record = RequestRecord(
            scope["method"], scope["path"], scope.get("query_string", b"").decode("latin-1")
        )
        with self._lock:
            if self.keep_requests:
                self.requests.append(record)
            self._served += 1
            fault = self._pick_fault(self._served) or self._path_fault(scope["path"])
            if fault is None and self.rate_limit is not None:
                wait = self.rate_limit.take()
                if wait is not None:
                    fault = _Fault(status=429, retry_after=wait)
        scope["bison.record"] = record
        receive = _recording(receive, record)
        delay = self.delay + (fault.delay if fault else 0.0)
        if delay > 0:
            # Read the request first, then stall: a client that times out has still
            # delivered its request, which is processed as a real server would.
            receive = await _buffered(receive)
            await asyncio.sleep(delay)
        if fault is not None and fault.status is not None:
            record.status = fault.status
            await self._fault_response(fault)(scope, receive, send)
            return

        async def send_and_record(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                record.status = message["status"]
            await send(message)

        await self._app(scope, receive, send_and_record)

    def _pick_fault(self, n: int) -> _Fault | None:
        if self._faults:
            return self._faults.popleft()
        if self.rate_limit_every and n % self.rate_limit_every == 0:
            return _Fault(status=429, retry_after=self.retry_after)
        if self.error_every and n % self.error_every == 0:
            return _Fault(status=self.error_status)
        if self.error_rate and self._rng.random() < self.error_rate:
            return _Fault(status=self.error_status)
        return None

    def _fault_response(self, fault: _Fault) -> Response:
        status = fault.status or 500
        headers: dict[str, str] = {}
        retry_after = fault.retry_after
        if status == 429 and retry_after is None:
            retry_after = self.retry_after
        if status == 429:
            body = fault.body or {"message": "Too Many Attempts."}
            limit = self.rate_limit
            per_minute = f"{limit.per_sec * 60:.0f}" if limit is not None else "3000"
            headers.update({"X-RateLimit-Limit": per_minute, "X-RateLimit-Remaining": "0"})
        elif status in (502, 504):
            text = f"<html><body><h1>{status} Gateway error</h1></body></html>"
            return Response(text, status_code=status, media_type="text/html")
        else:
            body = fault.body or {
                "message": "Service Unavailable" if status == 503 else "Server Error"
            }
        if retry_after is not None:
            if self.retry_after_mode == "seconds":
                headers["Retry-After"] = f"{retry_after:g}"
            elif self.retry_after_mode == "http-date":
                headers["Retry-After"] = email.utils.formatdate(
                    time.time() + retry_after, usegmt=True
                )
            elif self.retry_after_mode == "json":
                body = {**body, "retry_after": retry_after}
        return JSONResponse(body, status_code=status, headers=headers)

    # -- routing -----------------------------------------------------------------

    def _route(self, method: str, path: str, handler: Callable[[Ctx], Any]) -> Route:
        async def endpoint(request: Request) -> Response:
            raw = await request.body()
            try:
                body = json.loads(raw) if raw.strip() else {}
            except ValueError:
                return JSONResponse({"message": "Malformed JSON body."}, status_code=400)
            query = parse_query(request.query_params.multi_items())
            url = f"{request.url.scheme}://{request.url.netloc}{request.url.path}"
            with self._lock:
                try:
                    ws, admin = self._authenticate(request)
                    record = request.scope.get("bison.record")
                    if record is not None:
                        record.workspace_id = ws.id
                    ctx = Ctx(self, ws, admin, dict(request.path_params), query, body, url)
                    result = handler(ctx)
                except Fail as fail:
                    return JSONResponse(fail.body, status_code=fail.status, headers=fail.headers)
            status, payload = result if isinstance(result, tuple) else (200, result)
            return JSONResponse(payload, status_code=status)

        return Route(path, endpoint, methods=[method], name=f"{method} {path}")

    def _authenticate(self, request: Request) -> tuple[FakeWorkspace, bool]:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise UNAUTHENTICATED
        entry = self.state.tokens.get(token.strip())
        if entry is None:
            raise UNAUTHENTICATED
        workspace_id, admin = entry
        ws = self.state.ws(self.state.current_workspace_id if admin else workspace_id or 0)
        if ws is None:
            raise UNAUTHENTICATED
        return ws, admin


def _recording(receive: Any, record: RequestRecord) -> Any:
    """A ``receive`` that also keeps the request body in ``record``."""

    async def wrapped() -> dict[str, Any]:
        message = await receive()
        if message["type"] == "http.request" and message.get("body"):
            record.body += message["body"]
        return message

    return wrapped


async def _buffered(receive: Any) -> Any:
    """Read the whole request body now; return a ``receive`` that replays it."""
    messages = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request" or not message.get("more_body"):
            break

    async def replay() -> dict[str, Any]:
        return messages.pop(0) if messages else await receive()

    return replay


async def _http_exception(request: Request, exc: Exception) -> Response:
    """Laravel-style bodies for unknown routes (404) and wrong verbs (405)."""
    status = getattr(exc, "status_code", 500)
    route = request.url.path.lstrip("/")
    if status == 405:
        allowed = getattr(exc, "headers", None) or {}
        methods = allowed.get("Allow", allowed.get("allow", ""))
        message = (
            f"The {request.method} method is not supported for route {route}. "
            f"Supported methods: {methods}."
        )
        return JSONResponse({"message": message}, status_code=405)
    if status == 404:
        body = {
            "data": {
                "success": False,
                "message": f"The route {route} could not be found.",
                "record_not_found": None,
            }
        }
        return JSONResponse(body, status_code=404)
    return JSONResponse({"message": str(getattr(exc, "detail", "error"))}, status_code=status)
