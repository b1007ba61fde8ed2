"""A fake Debounce API (single validation, balance, bulk upload/status/download) as an ASGI app.

Answers the documented shapes with every value a string. Bulk lists: one active list per
account (a second upload gets the documented refusal), done after `polls_to_finish` status polls,
when the list is read from its URL (`list_fetches` counts the reads). The code an address gets comes from its
local part: `invalid…` → 6, `risky…`/`catchall…` → 4, `unknown…` → 7, `trap…` → 2, `bad…` with no
dot in the domain → 1, otherwise 5. More than 5 calls in flight get the documented 429
"Maximum concurrent calls reached". Knobs: `fail_next(n, status)`, `delay` (seconds per call),
`credits`, and `max_in_flight` (the most calls seen at once).
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

RESULTS = {
    "1": ("Invalid", "Syntax Error"),
    "2": ("Invalid", "Spam Trap"),
    "3": ("Risky", "Disposable"),
    "4": ("Risky", "Accept-All"),
    "5": ("Safe to Send", "Deliverable"),
    "6": ("Invalid", "Bounce"),
    "7": ("Unknown", "Unknown"),
    "8": ("Risky", "Role"),
}


def code_for(email: str) -> str:
    local, _, domain = email.lower().partition("@")
    if not domain or "." not in domain:
        return "1"
    for prefix, code in (("invalid", "6"), ("risky", "4"), ("catchall", "4"), ("unknown", "7"),
                         ("trap", "2"), ("info", "8")):  # fmt: skip
        if local.startswith(prefix):
            return code
    return "5"


class DebounceFake:
    def __init__(self, api_key: str = "test-debounce-key", credits: int = 100_000) -> None:
        self.api_key = api_key
        self.credits = credits
        self.delay = 0.0
        self.calls = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.lists: dict[str, dict[str, Any]] = {}
        self.polls_to_finish = 2  # status polls before a list is done
        self.list_fetches = 0  # how many times a list was downloaded from its URL
        self.list_contents: dict[str, str] = {}
        self._faults: list[int] = []
        self._lock = threading.Lock()
        self.app = Starlette(
            routes=[
                Route("/v1/", self.single),
                Route("/v1/balance/", self.balance),
                Route("/v1/upload/", self.upload),
                Route("/v1/status/", self.status),
                Route("/download/{list_id}.csv", self.download),
            ]
        )

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)

    def fail_next(self, count: int = 1, status: int = 500) -> None:
        with self._lock:
            self._faults.extend([status] * count)

    def _error(self, status: int, text: str) -> JSONResponse:
        return JSONResponse({"debounce": {"error": text, "code": "0"}, "success": "0"}, status)

    def _auth(self, request: Request) -> JSONResponse | None:
        if request.query_params.get("api") != self.api_key:
            return self._error(401, "Wrong API")
        return None

    async def single(self, request: Request) -> JSONResponse:
        if (err := self._auth(request)) is not None:
            return err
        with self._lock:
            self.calls += 1
            fault = self._faults.pop(0) if self._faults else None
            if self.in_flight >= 5:
                return self._error(429, "Maximum concurrent calls reached")
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            if fault:
                text = "Maximum concurrent calls reached" if fault == 429 else "Server Error"
                return self._error(fault, text)
            with self._lock:
                if self.credits <= 0:
                    return self._error(402, "Credits Low")
                self.credits -= 1
                left = self.credits
            email = request.query_params.get("email", "")
            code = code_for(email)
            result, reason = RESULTS[code]
            local = email.split("@")[0].lower()
            return JSONResponse(
                {
                    "debounce": {
                        "email": email,
                        "code": code,
                        "role": "true" if code == "8" or local in ("info", "sales") else "false",
                        "free_email": "true" if email.endswith("@gmail.com") else "false",
                        "result": result,
                        "reason": reason,
                        "send_transactional": "1" if code in ("4", "5", "7") else "0",
                        "did_you_mean": "",
                    },
                    "success": "1",
                    "balance": str(left),
                }
            )
        finally:
            with self._lock:
                self.in_flight -= 1

    async def balance(self, request: Request) -> JSONResponse:
        if (err := self._auth(request)) is not None:
            return err
        return JSONResponse({"balance": str(self.credits)})

    async def upload(self, request: Request) -> JSONResponse:
        if (err := self._auth(request)) is not None:
            return err
        url = request.query_params.get("url", "")
        if not url.startswith(("http://", "https://")):
            return self._error(400, "URL parameter is not valid.")
        if any(not entry.get("done") for entry in self.lists.values()):
            # One active bulk list per account (the older documented answer: HTTP 200, success 0).
            return JSONResponse(
                {
                    "debounce": {
                        "error": "You have reached the maximum number of API bulk verify "
                        "requests. Please try after the existing request completes."
                    },
                    "success": "0",
                }
            )
        list_id = str(8620 + len(self.lists))
        self.lists[list_id] = {"url": url, "polls": 0, "done": False}
        return JSONResponse({"debounce": {"list_id": list_id, "list_name": "list"}, "success": "1"})

    async def status(self, request: Request) -> JSONResponse:
        if (err := self._auth(request)) is not None:
            return err
        list_id = request.query_params.get("list_id", "")
        entry = self.lists.get(list_id)
        if entry is None:
            return JSONResponse({"debounce": {"error": "List ID is not valid."}, "success": "0"})
        entry["polls"] += 1
        done = entry["polls"] >= self.polls_to_finish
        link = f"{request.base_url}download/{list_id}.csv" if done else ""
        if done and list_id not in self.list_contents:
            import httpx

            self.list_fetches += 1
            got = await asyncio.to_thread(httpx.get, entry["url"])
            if got.status_code != 200:
                entry["done"] = True
                return JSONResponse(
                    {"debounce": {"error": "List URL could not be read."}, "success": "0"}
                )
            emails = [
                line.strip() for line in got.text.splitlines() if line.strip() and "@" in line
            ]
            entry["done"] = True
            rows = ["email,code,result,reason"] + [
                f"{e},{code_for(e)},{RESULTS[code_for(e)][0]},{RESULTS[code_for(e)][1]}"
                for e in emails
            ]
            self.list_contents[list_id] = "\n".join(rows) + "\n"
            self.credits -= len(emails)
        return JSONResponse(
            {
                "debounce": {
                    "list_id": list_id,
                    "status": "completed" if done else "processing",
                    "percentage": "100" if done else "40",
                    "download_link": link,
                },
                "success": "1",
            }
        )

    async def download(self, request: Request) -> PlainTextResponse:
        return PlainTextResponse(self.list_contents.get(request.path_params["list_id"], ""))
