"""Slack incoming webhooks: post one message to the channel a webhook URL belongs to.

The URL itself is the credential (it is kept in the secret store and redacted from logs and
errors). Slack answers a good post with the plain text ``ok``. The URL is typed by a user, so the
request goes only to a public address (:func:`check_webhook_url` when it is saved, and again
when it is sent; ``LEADOPS_ALLOW_PRIVATE_URLS=1`` relaxes it).
"""

from __future__ import annotations

from typing import Any

import httpx

from connectors.http import ApiError, BlockedDestination, check_url, make_client


class SlackError(RuntimeError):
    pass


def check_webhook_url(webhook_url: str) -> None:
    """Refuse a webhook URL that is not http(s) or points at a non-public address (on saving)."""
    try:
        check_url(webhook_url)
    except BlockedDestination as exc:
        raise SlackError(exc.message) from None


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
        root,
        timeout=timeout,
        rate_per_sec=None,
        transport=transport,
        secrets=[webhook_url],
        public_only=True,
    ) as api:
        try:
            api.post(url.raw_path.decode(), json=payload)
        except BlockedDestination as exc:
            raise SlackError(f"Slack webhook: {exc.message}") from None
        except ApiError as exc:
            if getattr(exc, "status", None) == 200:  # Slack's plain-text "ok"
                return
            raise SlackError(f"Slack refused the message: {exc}") from None
