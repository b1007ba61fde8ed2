"""Secret redaction: registered secrets and bearer tokens never reach logs, errors or reprs."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

REDACTED = "[REDACTED]"
_SECRET_PARAM_NAMES = frozenset(
    {
        "token",
        "api_token",
        "api_key",
        "apikey",
        "key",
        "secret",
        "client_secret",
        "password",
        "access_token",
        "signature",
        "sig",
    }
)
_BEARER_RE = re.compile(r"(?i)\b(bearer\s+)(?!\[REDACTED\])[^\s'\",;)]+")
_MIN_SECRET_LEN = 6


class _SecretRegistry:
    """Process-wide set of values that must never be printed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def add(self, value: str | None) -> None:
        if not value or not isinstance(value, str):
            return
        candidates = {value.strip()}
        # Sanctum tokens are "<id>|<secret>": the secret half alone is also secret.
        if "|" in value:
            candidates.add(value.split("|", 1)[1].strip())
        candidates = {c for c in candidates if len(c) >= _MIN_SECRET_LEN}
        if not candidates - self._values:
            return
        with self._lock:
            self._values |= candidates
            ordered = sorted(self._values, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(v) for v in ordered))

    def redact(self, text: str) -> str:
        pattern = self._pattern
        if pattern is not None:
            text = pattern.sub(REDACTED, text)
        return text


_SECRETS = _SecretRegistry()


def register_secret(value: str | None) -> None:
    """Mark ``value`` as secret: it is replaced by ``[REDACTED]`` wherever redaction runs."""
    _SECRETS.add(value)


def redact(text: object) -> str:
    """Return ``text`` as a string with every registered secret and bearer token removed."""
    out = text if isinstance(text, str) else str(text)
    out = _SECRETS.redact(out)
    return _BEARER_RE.sub(lambda m: m.group(1) + REDACTED, out)


def safe_url(url: object) -> str:
    """A URL fit for logs: no userinfo, secret-looking query values and secrets redacted."""
    if url is None:
        return ""
    text = str(url)
    try:
        parts = urlsplit(text)
    except ValueError:
        return redact(text)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        cleaned = [
            (k, REDACTED if k.lower().strip("[]") in _SECRET_PARAM_NAMES else v) for k, v in pairs
        ]
        query = urlencode(cleaned, safe="[]")
    return redact(urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment)))


class RedactingFilter(logging.Filter):
    """Logging filter that rewrites a record's message (and traceback) without secrets.

    Attach it to a handler to cover every logger, or let :func:`install_log_redaction`
    attach it to the loggers HTTP traffic is logged on.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is still logged, as-is
            return True
        cleaned = redact(message)
        if cleaned != message or record.args:
            record.msg = cleaned
            record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


_REDACTION_LOGGERS = (
    "connectors",
    "connectors.http",
    "connectors.bison",
    "httpx",
    "httpcore",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
)
_install_lock = threading.Lock()


def install_log_redaction(logger_names: Iterable[str] = _REDACTION_LOGGERS) -> None:
    """Attach one :class:`RedactingFilter` to each named logger (idempotent)."""
    with _install_lock:
        for name in logger_names:
            target = logging.getLogger(name)
            if not any(isinstance(f, RedactingFilter) for f in target.filters):
                target.addFilter(RedactingFilter())
