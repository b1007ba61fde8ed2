"""Slack incoming webhooks: post one message to the channel a webhook URL belongs to.

The URL itself is the credential (it is kept in the secret store and redacted from logs and
errors). Slack answers a good post with the plain text ``ok``.
"""

from __future__ import annotations

from typing import Any

import httpx

from connectors.http import ApiError, make_client


class SlackError(RuntimeError):
    pass


def post_message(
    webhook_url: str,
    text: str,
    *,
    blocks: list[dict[str, Any]] | None = None,
    timeout: float = 10.0,
    transport: httpx.BaseTransport | None = None,
) -> None:
    """Send `text` (and optional Block Kit `blocks`) to a Slack incoming webhook."""
    url = httpx.URL(webhook_url)
    if url.scheme not in ("http", "https") or not url.host:
        raise SlackError("The Slack webhook URL must start with https://")
    root = f"{url.scheme}://{url.netloc.decode()}"
    payload: dict[str, Any] = {"text": text}
    if blocks:
        payload["blocks"] = blocks
    with make_client(
        root, timeout=timeout, rate_per_sec=None, transport=transport, secrets=[webhook_url]
    ) as api:
        try:
            api.post(url.raw_path.decode(), json=payload)
        except ApiError as exc:
            if getattr(exc, "status", None) == 200:  # Slack's plain-text "ok"
                return
            raise SlackError(f"Slack refused the message: {exc}") from None
