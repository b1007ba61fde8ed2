"""A fake OpenAI-compatible endpoint: ``POST /v1/chat/completions`` (records prompts) and
``GET /v1/models`` (the models the key may use)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

KEY = "sk-fake-llm-key-7788"
MODELS = ("gpt-4o-mini", "gpt-4o")


@dataclass
class LlmFake:
    prompts: list[dict[str, Any]] = field(default_factory=list)
    fail_with: int | None = None

    def __post_init__(self) -> None:
        self.app = Starlette(
            routes=[
                Route("/v1/chat/completions", self.chat, methods=["POST"]),
                Route("/v1/models", self.models, methods=["GET"]),
            ]
        )

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)

    async def models(self, request: Request) -> JSONResponse:
        if request.headers.get("authorization") != f"Bearer {KEY}":
            return JSONResponse({"error": {"message": "Incorrect API key provided"}}, 401)
        return JSONResponse(
            {
                "object": "list",
                "data": [
                    {"id": m, "object": "model", "created": 1715367049, "owned_by": "system"}
                    for m in MODELS
                ],
            }
        )

    async def chat(self, request: Request) -> JSONResponse:
        if request.headers.get("authorization") != f"Bearer {KEY}":
            return JSONResponse({"error": {"message": "Incorrect API key provided"}}, 401)
        if self.fail_with:
            return JSONResponse({"error": {"message": "overloaded"}}, self.fail_with)
        body = await request.json()
        if not body.get("model") or not body.get("messages"):
            return JSONResponse({"error": {"message": "model and messages are required"}}, 400)
        self.prompts.append(body)
        user = body["messages"][-1]["content"]
        first_line = user.splitlines()[0]
        return JSONResponse(
            {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": {
                            "role": "assistant",
                            "content": f"Hi there,\n\nThanks for your reply. ({first_line})\n\nBest,\nMark",
                        },
                        "finish_reason": "stop",
                    }
                ],
            }
        )
