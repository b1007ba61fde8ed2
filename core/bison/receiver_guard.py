"""What keeps the webhook receiver standing when someone leans on it.

* **Who may listen where.** `check_exposure` refuses a receiver bound to anything but a loopback
  address without a secret: Email Bison signs nothing (EMAIL_BISON_API.md §13.5), so the secret
  in the URL is all that tells its events from anyone else's.
* **Connections.** `guarded_protocol` is uvicorn's h11 protocol with two additions. Each request
  head must arrive within `HEADER_TIMEOUT_S` of the connection opening (or of its last response);
  otherwise the connection is closed. Open connections are capped (`connection_cap`, kept well
  under the process's open-file limit, which `raise_fd_limit` lifts to the hard limit first): at
  the cap, the connection that has waited longest without sending a request head is closed to
  make room, so idle sockets cannot lock out a real event and can never take the file
  descriptors an event file needs. uvicorn's own `limit_concurrency` only answers requests with
  503; sockets that never send one are ours to close. Bodies have their own deadline in the app
  (`BODY_TIMEOUT_S`, 408).
* **The folder.** `FolderGauge` knows how many bytes wait in ``<db>.inbox/webhooks/`` (its
  ``rejected/`` included) against ``webhook_folder_max_mb``; over it the receiver answers 503
  with Retry-After. The receiver cannot read settings (it never opens the database), so ingest,
  which runs in the app, writes the limit to ``<db>.inbox/webhook_limits.json``
  (`write_limits`), and the gauge reads it when it changes.
* **Refusals seen by the app.** `ReceiverStatus` keeps ``<db>.inbox/webhook_receiver.json``:
  refusals since start, and since when it has been refusing (cleared by the next accepted event).
  Ingest records it in `webhook_receiver_status`, where the ``webhook_folder_full`` check sees it.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

from core.platform import inbox
from core.platform.settings import REGISTRY

log = logging.getLogger("leadops.webhooks")

MB = 1024 * 1024
HEADER_TIMEOUT_S = 5.0  # from connect (or the last response) to a complete request head
BODY_TIMEOUT_S = 10.0  # from the request head to the whole body (at most 1 MB)
KEEP_ALIVE_S = 5  # an idle keep-alive connection is closed after this
MAX_HEADER_BYTES = 16 * 1024  # h11's limit on an incomplete request head
MAX_CONNECTIONS = 256
BACKLOG = 64  # also how many connections asyncio accepts in one go
FD_RESERVE = 160  # descriptors kept free of connections: the process itself, event files, accepts
MAX_PARALLEL_WRITES = 8
RETRY_AFTER_S = 120
LIMITS_FILE = "webhook_limits.json"
STATUS_FILE = "webhook_receiver.json"
DEFAULT_FOLDER_MAX_BYTES = REGISTRY["webhook_folder_max_mb"].default * MB


class ExposedWithoutSecret(ValueError):
    """The receiver was asked to listen beyond this machine without a secret."""


def is_loopback(host: str) -> bool:
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


def check_exposure(host: str, secret: str | None) -> None:
    if not (secret or "").strip() and not is_loopback(host):
        raise ExposedWithoutSecret(
            f"Refusing to receive webhooks on {host} without a secret: anyone who can reach it"
            " could post events (a forged lead-interested event becomes an interested lead)."
            " Set LEADOPS_WEBHOOK_SECRET (or --secret) to a long random string and register"
            " https://<your host>/webhooks/bison/<secret> in Email Bison, or bind to 127.0.0.1."
        )


# -- connections -------------------------------------------------------------------------------


def raise_fd_limit() -> int:
    """Lift the soft open-file limit to the hard one (at most 65,536); returns the soft limit."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on POSIX
        return 1024
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 65_536 if hard == resource.RLIM_INFINITY else min(hard, 65_536)
    if soft != resource.RLIM_INFINITY and soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
            soft = want
        except (ValueError, OSError):
            pass
    return 65_536 if soft == resource.RLIM_INFINITY else soft


def connection_cap(fd_limit: int, wanted: int = MAX_CONNECTIONS) -> int:
    """Most open connections: `wanted`, but never so many that events could not be written."""
    return max(8, min(wanted, fd_limit - FD_RESERVE))


class _Tally:
    """Counts closed connections and logs them at most every `every` seconds, so a flood of
    sockets cannot flood the log too."""

    def __init__(self, every: float = 10.0) -> None:
        self.every = every
        self.counts: dict[str, int] = {}
        self.logged_at = float("-inf")

    def add(self, reason: str, now: float) -> None:
        self.counts[reason] = self.counts.get(reason, 0) + 1
        if now - self.logged_at >= self.every:
            self.logged_at = now
            log.warning(
                "closed connections: %s",
                ", ".join(f"{n} {why}" for why, n in sorted(self.counts.items())),
            )
            self.counts.clear()


def guarded_protocol(header_timeout: float, max_connections: int) -> type:
    """uvicorn's h11 protocol with a request-head deadline and a cap on open connections."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    tally = _Tally()

    class GuardedH11Protocol(H11Protocol):
        _head_timer: Any = None
        _head_cycle: Any = None
        _waiting_since = 0.0

        def connection_made(self, transport: Any) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._await_head()
            if len(self.connections) > max_connections:
                self._make_room()

        def _await_head(self) -> None:
            """From now on a request head is due within `header_timeout`."""
            self._stop_timer()
            self._head_cycle = self.cycle  # a new request replaces the cycle
            self._waiting_since = self.loop.time()
            self._head_timer = self.loop.call_later(header_timeout, self._head_overdue)

        def waiting_for_head(self) -> bool:
            return self.cycle is self._head_cycle and not self.transport.is_closing()

        def _head_overdue(self) -> None:
            self._head_timer = None
            if self.waiting_for_head():
                tally.add(f"sent no complete request within {header_timeout:g} s", self.loop.time())
                self.transport.close()

        def _stop_timer(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _make_room(self) -> None:
            idle = [
                c
                for c in self.connections
                if c is not self and getattr(c, "waiting_for_head", None) and c.waiting_for_head()
            ]
            victim = min(idle, key=lambda c: c._waiting_since) if idle else self
            why = "idle longest" if idle else "new, all busy"
            tally.add(f"{why} at the cap of {max_connections} connections", self.loop.time())
            victim.transport.close()

        def on_response_complete(self) -> None:
            self._await_head()  # before a pipelined request may start its cycle
            super().on_response_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop_timer()
            super().connection_lost(exc)

    return GuardedH11Protocol


# -- the folder --------------------------------------------------------------------------------


def _folder_bytes(folder: Path) -> int:
    total = 0
    for where in (folder, folder / "rejected"):
        try:
            with os.scandir(where) as entries:
                for entry in entries:
                    try:
                        if entry.is_file(follow_symlinks=False):
                            total += entry.stat(follow_symlinks=False).st_size
                    except FileNotFoundError:
                        continue
        except (FileNotFoundError, NotADirectoryError):
            continue
    return total


def write_limits(inbox_dir: Path, folder_max_bytes: int) -> bool:
    """The app's side: tell the receiver the folder limit (written only when it changed)."""
    path = Path(inbox_dir) / LIMITS_FILE
    current = inbox.read_json(path) or {}
    if current.get("folder_max_bytes") == folder_max_bytes:
        return False
    inbox.write_json(path, {"folder_max_bytes": folder_max_bytes})
    return True


class FolderGauge:
    """Bytes waiting in the event folder against the limit (rescanned at most every
    `rescan_s`; what the receiver writes in between is added as it goes)."""

    def __init__(
        self, inbox_dir: Path, folder: Path, max_bytes: int | None = None, rescan_s: float = 1.0
    ) -> None:
        self.folder = folder
        self.limits_path = Path(inbox_dir) / LIMITS_FILE
        self.fixed = max_bytes
        self.rescan_s = rescan_s
        self._lock = threading.Lock()
        self._bytes = 0
        self._scanned_at = float("-inf")
        self._limit = max_bytes or DEFAULT_FOLDER_MAX_BYTES
        self._limits_mtime: int | None = None

    def max_bytes(self) -> int:
        if self.fixed:
            return self.fixed
        try:
            mtime = self.limits_path.stat().st_mtime_ns
        except FileNotFoundError:
            return self._limit
        if mtime != self._limits_mtime:
            self._limits_mtime = mtime
            value = (inbox.read_json(self.limits_path) or {}).get("folder_max_bytes")
            if isinstance(value, int) and value > 0:
                self._limit = value
        return self._limit

    def room(self) -> tuple[bool, int, int]:
        """(whether an event may be written, bytes waiting, the limit)."""
        with self._lock:
            limit = self.max_bytes()
            age = time.monotonic() - self._scanned_at
            # over the limit by our count: look again soon, ingest may have emptied the folder
            if age > self.rescan_s or (self._bytes >= limit and age > 0.2):
                self._bytes = _folder_bytes(self.folder)
                self._scanned_at = time.monotonic()
            return self._bytes < limit, self._bytes, limit

    def add(self, size: int) -> None:
        with self._lock:
            self._bytes += size


# -- refusals, as the app sees them ------------------------------------------------------------


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


class ReceiverStatus:
    """``<db>.inbox/webhook_receiver.json``: what ingest records for the alert check."""

    def __init__(self, inbox_dir: Path) -> None:
        self.path = Path(inbox_dir) / STATUS_FILE
        self._lock = threading.Lock()
        before = inbox.read_json(self.path) or {}
        self.state: dict[str, Any] = {
            "pid": os.getpid(),
            "refused": 0,
            "refusing_since": before.get("refusing_since"),  # an episode a restart left open
            "episode_refused": int(before.get("episode_refused") or 0),
            "last_refused_at": before.get("last_refused_at"),
            "last_accepted_at": before.get("last_accepted_at"),
            "folder_bytes": before.get("folder_bytes"),
            "folder_max_bytes": before.get("folder_max_bytes"),
        }

    def _write(self) -> None:
        self.state["updated_at"] = _now()
        try:
            inbox.write_json(self.path, dict(self.state))
        except OSError as exc:  # the 503 goes out regardless; the log has it
            log.error("could not write %s: %s", self.path.name, exc.strerror or exc)

    def refused(self, folder_bytes: int, max_bytes: int) -> None:
        with self._lock:
            now = _now()
            first = self.state["refusing_since"] is None
            self.state.update(
                refused=self.state["refused"] + 1,
                refusing_since=self.state["refusing_since"] or now,
                episode_refused=self.state["episode_refused"] + 1,
                last_refused_at=now,
                folder_bytes=folder_bytes,
                folder_max_bytes=max_bytes,
            )
            self._write()  # a few hundred bytes; refusals need the secret, so no flood of them
        if first:
            log.warning(
                "webhook folder holds %.1f MB, over its %.0f MB: answering 503 until it empties",
                folder_bytes / MB,
                max_bytes / MB,
            )

    def accepted(self) -> None:
        with self._lock:
            self.state["last_accepted_at"] = _now()
            if self.state["refusing_since"] is not None:
                self.state.update(refusing_since=None, episode_refused=0)
                self._write()


def read_status(inbox_dir: Path) -> dict[str, Any] | None:
    """The app's side: what the receiver last reported, or None."""
    return inbox.read_json(Path(inbox_dir) / STATUS_FILE)
