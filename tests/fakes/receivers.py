"""Local receivers for alert delivery tests: a Slack incoming-webhook ASGI app and an SMTP server."""

from __future__ import annotations

import email
import socket
import threading
from email.message import Message
from typing import Any

from aiosmtpd.controller import Controller
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route


class SlackReceiver:
    """Accepts POST /services/<path> like Slack: JSON with `text`, answers the plain text `ok`."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.fail_next = 0
        self.app = Starlette(routes=[Route("/services/{rest:path}", self.hook, methods=["POST"])])

    async def hook(self, request: Request) -> PlainTextResponse:
        if self.fail_next:
            self.fail_next -= 1
            return PlainTextResponse("invalid_token", status_code=403)
        body = await request.json()
        if not isinstance(body, dict) or not body.get("text"):
            return PlainTextResponse("no_text", status_code=400)
        self.messages.append({"path": request.url.path, **body})
        return PlainTextResponse("ok")

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


class _Handler:
    def __init__(self, box: list[Message]) -> None:
        self.box = box
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        msg = email.message_from_bytes(envelope.content)
        with self.lock:
            self.box.append(msg)
        return "250 Message accepted for delivery"


class _Login:
    """aiosmtpd authenticator that accepts one user name and password."""

    def __init__(self, username: str, password: str) -> None:
        self.username, self.password = username, password

    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any):
        from aiosmtpd.smtp import AuthResult, LoginPassword

        ok = isinstance(auth_data, LoginPassword) and (
            auth_data.login.decode(),
            auth_data.password.decode(),
        ) == (self.username, self.password)
        return AuthResult(success=ok, handled=False)


class SmtpReceiver:
    """An aiosmtpd server on 127.0.0.1; received messages land in `messages`. With `login`
    (user name, password) it offers AUTH without TLS and accepts only that pair."""

    def __init__(self, login: tuple[str, str] | None = None) -> None:
        self.messages: list[Message] = []
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        auth = {"authenticator": _Login(*login), "auth_require_tls": False} if login else {}
        self.controller = Controller(
            _Handler(self.messages), hostname="127.0.0.1", port=self.port, **auth
        )

    def start(self) -> int:
        self.controller.start()
        return self.port

    def stop(self) -> None:
        self.controller.stop()
