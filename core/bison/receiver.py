"""Email Bison webhooks: a small receiver that stores events as files, and `ingest`, which the app
runs on its sync to move them into the store.

Email Bison posts each subscribed event to a URL we give it (EMAIL_BISON_API.md §13). Bison signs
nothing (§13.5), so the URL carries a shared secret: ``https://hooks.example.com/webhooks/bison/
<secret>`` (``POST /webhooks/bison?secret=<secret>`` works too). With a secret configured, a
request without it, or with a wrong one, gets 401 and nothing is stored.

The receiver never opens the DuckDB file (only one process may, and that is the app). It writes
each accepted event durably (temporary name, fsync, rename) to ``<db>.inbox/webhooks/
<event id>.json`` and answers 200 at once, so events are kept while the app is down, busy or
restarting. The event id is the idempotency key (see `core/bison/payloads.py`): a redelivered
event lands on the same file, and `ingest` stores each id once (``ON CONFLICT DO NOTHING``).

Request logging is our own: uvicorn's access log is off because it prints the URL, and the
URL holds the secret. Our log line shows the path as ``/webhooks/bison/***``.

Payload assumptions and what each event type does to the mirror are in `core/bison/payloads.py`.
"""

from __future__ import annotations

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
    """Write one event durably: temporary name, fsync, rename over any earlier copy, fsync dir."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / file_name_for(event_id)
    tmp = folder / f".{target.name}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        with open(tmp, "wb") as fh:
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


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"ok": False, "error": message}, status_code=status)


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode()).digest()


def _authorised(secret: str, *given: str | None) -> bool:
    """Every secret the request carries must match (constant time); at least one must be given."""
    offered = [g for g in given if g is not None]
    return bool(offered) and all(hmac.compare_digest(_digest(g), _digest(secret)) for g in offered)


async def _read_body(request: Request) -> bytes:
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_BODY_BYTES:
        raise _BodyTooLarge
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise _BodyTooLarge
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


def make_app(inbox_dir: Path, secret: str | None = None) -> Starlette:
    """The webhook receiver (an ASGI app). Events go to ``inbox_dir / "webhooks"``."""
    folder = webhooks_dir(inbox_dir)
    secret = secret or None

    async def receive_event(request: Request) -> JSONResponse:
        if secret is not None and not _authorised(
            secret, request.path_params.get("token"), request.query_params.get("secret")
        ):
            return _error(401, "Missing or wrong webhook secret.")
        try:
            body = await _read_body(request)
        except _BodyTooLarge:
            return _error(413, f"The body is over {MAX_BODY_BYTES // 1024} KB.")
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
            await run_in_threadpool(write_event_file, folder, event_id, document)
        except OSError as exc:
            log.error("could not store webhook event %s: %s", event_id, exc.strerror or exc)
            return _error(503, "The event could not be stored; please send it again.")
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


def serve(
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    inbox_dir: Path | None = None,
    secret: str | None = None,
) -> None:
    """Run the receiver with uvicorn until interrupted (access log off: it would print secrets)."""
    import uvicorn

    folder = Path(inbox_dir) if inbox_dir else inbox.inbox_dir(db_path_from_env())
    log_config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    log_config["loggers"]["leadops.webhooks"] = {
        "handlers": ["default"],
        "level": "INFO",
        "propagate": False,
    }
    uvicorn.run(
        make_app(folder, secret),
        host=host,
        port=port,
        access_log=False,
        log_config=log_config,
        lifespan="off",
        server_header=False,
        timeout_graceful_shutdown=5,
    )


__all__ = [
    "file_name_for",
    "ingest",
    "make_app",
    "redact",
    "serve",
    "webhooks_dir",
    "write_event_file",
]
