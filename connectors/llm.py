"""Any OpenAI-compatible chat endpoint (OpenAI, Azure-compatible gateways, vLLM, Ollama, LiteLLM):
``POST {base}/chat/completions`` with a bearer key, returning the first choice's text;
``GET {base}/models`` lists the models the key may use (a cheap check that the key works)."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from connectors.http import ApiError, make_client


class ChatClient:
    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        *,
        model: str,
        timeout: float = 60.0,
        max_retries: int = 2,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.model = model
        self._api = make_client(
            base_url.rstrip("/"),
            api_key,
            timeout=timeout,
            max_retries=max_retries,
            rate_per_sec=None,
            transport=transport,
            sleep=sleep,
            headers={"Content-Type": "application/json"},
        )

    def close(self) -> None:
        self._api.close()

    def complete(self, system: str, user: str, *, temperature: float = 0.4) -> str:
        body = self._api.post(
            "chat/completions",
            {
                "model": self.model,
                "temperature": temperature,
                "messages": [
                    {"role": "system", "content": system},
                    {"role": "user", "content": user},
                ],
            },
        )
        try:
            text = body["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise ApiError(
                "the model's answer had no choices[0].message.content", status=200
            ) from None
        return str(text or "").strip()

    def models(self) -> list[str]:
        """The ids of the models the key may use (`GET {base}/models`)."""
        body = self._api.get("models")
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list):
            raise ApiError("the model list had no data array", status=200)
        return [str(m.get("id")) for m in data if isinstance(m, dict) and m.get("id")]
