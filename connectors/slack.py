"""Slack incoming webhooks: post one message (the URL is a secret; it is redacted in errors)."""

from __future__ import annotations

from urllib.parse import urlsplit

from connectors.http import make_client


def post_message(webhook_url: str, text: str, *, timeout: float = 10.0) -> None:
    """POST `{"text": …}` to an incoming-webhook URL; raises ApiError on failure."""
    parts = urlsplit(webhook_url)
    base = f"{parts.scheme}://{parts.netloc}"
    client = make_client(base, None, timeout=timeout, max_retries=2, rate_per_sec=None,
                         secrets=[parts.path])  # fmt: skip
    try:
        client.request("POST", parts.path.lstrip("/"), json={"text": text}, idempotent=False)
    finally:
        client.close()
