"""Email Bison webhooks: a small receiver that stores events as files, and `ingest`, which the app
runs on its sync to move them into the store.

Email Bison posts each subscribed event to a URL we give it (EMAIL_BISON_API.md §13). Bison signs
nothing (§13.5), so the URL carries a shared secret: ``https://hooks.example.com/webhooks/bison/
<secret>`` (``POST /webhooks/bison?secret=<secret>`` works too). With a secret configured, a
request without it, or with a wrong one, gets 401 and nothing is stored. Without a secret the
receiver serves a loopback address only (`serve` refuses anything else).

The receiver never opens the DuckDB file (only one process may, and that is the app). It writes
each accepted event durably (temporary name, fsync, rename) to ``<db>.inbox/webhooks/
<event id>.json`` (readable by its owner only) and answers 200 at once, so events are kept while
the app is down, busy or restarting. The event id is the idempotency key (see
`core/bison/payloads.py`): a redelivered event lands on the same file, and `ingest` stores each id
once (``ON CONFLICT DO NOTHING``), unless it is a genuine repeat (`core/bison/ingest.py`).

Limits (`core/bison/receiver_guard.py`): a request head must arrive within 5 s and its body within
10 s (408), open connections are capped below the open-file limit (the longest-idle one makes
room), and over ``webhook_folder_max_mb`` of waiting events it answers 503 with Retry-After.

Request logging is our own: uvicorn's access log is off because it prints the URL, and the
URL holds the secret. Our log line shows the path as ``/webhooks/bison/***``.

Payload assumptions and what each event type does to the mirror are in `core/bison/payloads.py`.
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import hashlib
import hmac
import json
import logging
import os
import re
import time
import uuid
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from core.bison import receiver_guard as guard
from core.bison.ingest import ingest, webhooks_dir
from core.bison.payloads import PayloadError, event_id_for, loads_strict, parse_envelope
from core.platform import inbox
from core.platform.store import db_path_from_env

log = logging.getLogger("leadops.webhooks")

MAX_BODY_BYTES = 1024 * 1024
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8787
_SAFE_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}")


def file_name_for(event_id: str) -> str:
    """The event file's name: the id itself when it is filename-safe, else its SHA-256."""
    if _SAFE_NAME.fullmatch(event_id):
        return f"{event_id}.json"
    return hashlib.sha256(event_id.encode()).hexdigest() + ".json"


def write_event_file(folder: Path, event_id: str, document: dict[str, Any]) -> Path:
    """Write one event durably: temporary name, fsync, rename over any earlier copy, fsync dir.
    The file is readable by its owner only (0600), the folder 0700."""
    inbox.private_dir(folder)
    target = folder / file_name_for(event_id)
    tmp = folder / f".{target.name}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(json.dumps(document).encode())  # ASCII: lone surrogates stay escaped
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return target


# -- the receiver ------------------------------------------------------------------------------


class _BodyTooLarge(Exception):
    pass


class _BodyTooSlow(Exception):
    pass


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"ok": False, "error": message}, status_code=status, headers=headers)


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode()).digest()


def _authorised(secret: str, *given: str | None) -> bool:
    """Every secret the request carries must match (constant time); at least one must be given."""
    offered = [g for g in given if g is not None]
    return bool(offered) and all(hmac.compare_digest(_digest(g), _digest(secret)) for g in offered)


async def _read_body(request: Request, timeout: float) -> bytes:
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_BODY_BYTES:
        raise _BodyTooLarge
    body = bytearray()
    try:
        async with asyncio.timeout(timeout):
            async for chunk in request.stream():
                body += chunk
                if len(body) > MAX_BODY_BYTES:
                    raise _BodyTooLarge
    except TimeoutError:
        raise _BodyTooSlow from None
    return bytes(body)


def redact(path: str, query: str, secret: str | None) -> str:
    """The request target as it may be logged: the path token and ?secret= are masked."""
    path = re.sub(r"^(/webhooks/bison/)[^/]+", r"\1***", path)
    query = re.sub(r"(^|&)(secret=)[^&]*", r"\1\2***", query)
    line = f"{path}?{query}" if query else path
    if secret:
        line = line.replace(secret, "***")
    return line


class _RequestLog:
    """Logs one line per request with the secret masked (replaces uvicorn's access log)."""

    def __init__(self, app: Any, secret: str | None) -> None:
        self.app = app
        self.secret = secret

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        state = scope.setdefault("state", {})
        logged = False

        def write_line(status: int) -> None:
            nonlocal logged
            logged = True
            client = scope.get("client") or ("-", 0)
            query = scope.get("query_string", b"").decode("latin-1")
            note = state.get("log_note")
            log.info(
                "%s %s %s %d %.1f ms%s",
                client[0],
                scope.get("method", "-"),
                redact(scope.get("path", ""), query, self.secret),
                status,
                (time.perf_counter() - started) * 1000,
                f" {note}" if note else "",
            )

        async def send_logged(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                write_line(message["status"])  # before the body, so the line is never late
            await send(message)

        try:
            await self.app(scope, receive, send_logged)
        finally:
            if not logged:
                write_line(500)


def make_app(
    inbox_dir: Path,
    secret: str | None = None,
    *,
    folder_max_bytes: int | None = None,
    body_timeout: float = guard.BODY_TIMEOUT_S,
) -> Starlette:
    """The webhook receiver (an ASGI app). Events go to ``inbox_dir / "webhooks"``; over
    `folder_max_bytes` waiting there (default: ``webhook_folder_max_mb`` as the app last wrote
    it) it answers 503."""
    folder = webhooks_dir(inbox_dir)
    secret = secret or None
    gauge = guard.FolderGauge(inbox_dir, folder, folder_max_bytes)
    status = guard.ReceiverStatus(inbox_dir)
    writes = asyncio.Semaphore(guard.MAX_PARALLEL_WRITES)  # each write holds two descriptors
    retry = {"Retry-After": str(guard.RETRY_AFTER_S)}

    def store(event_id: str, document: dict[str, Any]) -> None:
        path = write_event_file(folder, event_id, document)
        gauge.add(path.stat().st_size)
        status.accepted()

    async def receive_event(request: Request) -> JSONResponse:
        if secret is not None and not _authorised(
            secret, request.path_params.get("token"), request.query_params.get("secret")
        ):
            return _error(401, "Missing or wrong webhook secret.")
        fits, waiting, limit = await run_in_threadpool(gauge.room)
        if not fits:
            await run_in_threadpool(status.refused, waiting, limit)
            request.state.log_note = "refused: the event folder is full"
            return _error(
                503,
                f"Too many events are waiting ({waiting / guard.MB:.1f} MB, the most is"
                f" {limit / guard.MB:.0f} MB); please send it again later.",
                retry,
            )
        try:
            body = await _read_body(request, body_timeout)
        except _BodyTooLarge:
            return _error(413, f"The body is over {MAX_BODY_BYTES // 1024} KB.")
        except _BodyTooSlow:
            return _error(
                408, f"The body did not arrive within {body_timeout:g} s.", {"Connection": "close"}
            )
        if not body.strip():
            return _error(400, "The body is empty; expected a JSON webhook event.")
        try:
            payload = loads_strict(body.decode("utf-8"))
        except UnicodeDecodeError:
            return _error(400, "The body is not UTF-8 text; expected a JSON webhook event.")
        except (ValueError, RecursionError) as exc:
            return _error(400, f"The body is not valid JSON: {exc}")
        try:
            env = parse_envelope(payload)
        except PayloadError as exc:
            return _error(422, f"Not an Email Bison webhook event: {exc}")
        event_id = event_id_for(payload)
        document = {
            "event_id": event_id,
            "received_at": dt.datetime.now(dt.UTC).isoformat(),
            "event_type": env.event_type,
            "bison_workspace_id": env.bison_workspace_id,
            "payload": payload,
        }
        try:
            async with writes:
                await run_in_threadpool(store, event_id, document)
        except OSError as exc:
            log.error("could not store webhook event %s: %s", event_id, exc.strerror or exc)
            return _error(503, "The event could not be stored; please send it again.", retry)
        request.state.log_note = f"{env.event_type} {event_id}"
        return JSONResponse({"ok": True, "event_id": event_id})

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        detail = exc.detail if isinstance(exc, HTTPException) else "Internal error."
        return _error(status, str(detail))

    return Starlette(
        routes=[
            Route("/webhooks/bison", receive_event, methods=["POST"]),
            Route("/webhooks/bison/{token}", receive_event, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ],
        middleware=[Middleware(_RequestLog, secret=secret)],
        exception_handlers={HTTPException: http_error, Exception: http_error},
    )


def server_config(
    app: Any,
    host: str,
    port: int,
    *,
    fd_limit: int,
    header_timeout: float = guard.HEADER_TIMEOUT_S,
    max_connections: int = guard.MAX_CONNECTIONS,
    log_config: dict[str, Any] | None = None,
) -> Any:
    """uvicorn's configuration of the receiver: the guarded h11 protocol (request-head deadline,
    connection cap under `fd_limit`), short keep-alive, a small header limit, no access log."""
    import uvicorn

    cap = guard.connection_cap(fd_limit, max_connections)
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=guard.guarded_protocol(header_timeout, cap),
        limit_concurrency=cap + 1,  # a backstop: the protocol keeps connections at the cap
        timeout_keep_alive=guard.KEEP_ALIVE_S,
        h11_max_incomplete_event_size=guard.MAX_HEADER_BYTES,
        backlog=guard.BACKLOG,
        access_log=False,
        log_config=log_config,
        lifespan="off",
        server_header=False,
        timeout_graceful_shutdown=5,
    )


def serve(
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    inbox_dir: Path | None = None,
    secret: str | None = None,
) -> None:
    """Run the receiver with uvicorn until interrupted (access log off: it would print secrets).
    Raises `receiver_guard.ExposedWithoutSecret` for a non-loopback host without a secret."""
    import uvicorn

    guard.check_exposure(host, secret)
    folder = Path(inbox_dir) if inbox_dir else inbox.inbox_dir(db_path_from_env())
    log_config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    log_config["loggers"]["leadops.webhooks"] = {
        "handlers": ["default"],
        "level": "INFO",
        "propagate": False,
    }
    config = server_config(
        make_app(folder, secret),
        host,
        port,
        fd_limit=guard.raise_fd_limit(),
        log_config=log_config,
    )
    uvicorn.Server(config).run()


__all__ = [
    "file_name_for",
    "ingest",
    "make_app",
    "redact",
    "serve",
    "server_config",
    "webhooks_dir",
    "write_event_file",
]
