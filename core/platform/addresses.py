"""Checks of the addresses typed into the connection settings (bison_url, master_db_url)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit


def parse_http_url(value: str) -> str:
    """'' or an http(s) address with a host (Email Bison's instance)."""
    text = str(value or "").strip()
    if text and not re.match(r"^https?://[^/\s:@]+(:\d+)?(/\S*)?$", text):
        raise ValueError("must be an http(s) address like https://send.youragency.com")
    return text


def parse_database_url(value: str) -> str:
    """'' or a database URL (dialect[+driver]://user@host/db) that carries no password."""
    text = str(value or "").strip()
    if not text:
        return text
    parts = urlsplit(text)
    if not re.fullmatch(r"[a-z][a-z0-9+_]*", parts.scheme) or not (
        parts.hostname or parts.path.strip("/")
    ):
        raise ValueError("must look like postgresql+psycopg://user@host/database")
    if parts.password is not None:
        raise ValueError(
            "leave the password out of the address; it goes to the secret store as "
            "master_db.password (Settings → Connections)"
        )
    return text
