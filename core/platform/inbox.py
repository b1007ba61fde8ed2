"""The durable inbox through which a CLI command hands its job to the running app.

DuckDB lets one process open the database file. When the LeadOps app has it, a CLI command
writes a request file into `<db>.inbox/pending/`, the app's inbox worker runs the job in its
own process and writes progress and the outcome to `<db>.inbox/status/<id>.json`, and the CLI
prints that progress until the job ends. Files are written to a temporary name and renamed,
so a reader never sees half a file.

A request is never lost: the worker moves it from pending/ to running/ when it starts it and
removes it only after its outcome is written. A request still in pending/ when the app stops
runs when the app starts again; one left in running/ by an app that died is reported
`interrupted` on the next start (it may have half-run, so it is not repeated behind anyone's
back). Requests run side by side, each in its own thread; two of the same exclusive kind (two
syncs) run one after the other. The waiting command stops with a message when the app dies or
its `--timeout` passes.

The app also writes `<db>.inbox/app.json` every second as a heartbeat, so the CLI can tell a
running LeadOps app (hand over) from any other process holding the file (clear message).

Every file here is created readable by its owner only (0600; folders 0700): requests carry
parameters and outcomes, and the webhook receiver keeps Email Bison's events beside them. A
status file nobody collected (its command died or gave up) is removed after `STATUS_KEEP_DAYS`.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.platform import jobs
from core.platform.store import Database

log = logging.getLogger("leadops.inbox")

HEARTBEAT_STALE_S = 10.0
STATUS_KEEP_DAYS = 7  # a status file is read while its command waits; then it is litter
PRUNE_EVERY_S = 3600.0
FINAL_STATES = ("succeeded", "failed", "cancelled", "partial", "interrupted")


class HandOverError(RuntimeError):
    """Waiting for the app ended without an outcome (the app stopped, or the wait timed out)."""


def inbox_dir(db_path: Path) -> Path:
    return db_path.parent / f"{db_path.name}.inbox"


def private_dir(folder: Path) -> Path:
    """Create `folder` and any missing parent readable by its owner only (0700)."""
    missing, parent = [], folder
    while not parent.exists():
        missing.append(parent)
        parent = parent.parent
    for path in reversed(missing):
        path.mkdir(mode=0o700, exist_ok=True)
    return folder


def write_private(path: Path, data: bytes) -> None:
    """Write a file only its owner can read (0600), under a temporary name then renamed, so a
    reader never sees half of it. Missing folders are created 0700."""
    private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:6]}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _write_json(path: Path, data: dict[str, Any]) -> None:
    write_private(path, json.dumps(data, default=str).encode())


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


write_json = _write_json
read_json = _read_json


def prune_status(db_path: Path, keep_days: float = STATUS_KEEP_DAYS) -> int:
    """Remove status files nobody collected that are older than `keep_days`: finished ones, and
    any whose request is neither pending nor running; also temporary files a crash left."""
    folder = inbox_dir(db_path)
    cutoff = time.time() - keep_days * 86_400
    live = {
        str(req.get("id"))
        for sub in ("pending", "running")
        for path in (folder / sub).glob("*.json")
        if (req := _read_json(path))
    }
    removed = 0
    for sub in ("status", "pending", "running"):
        for path in (folder / sub).glob("*"):
            try:
                if path.stat().st_mtime >= cutoff:
                    continue
            except FileNotFoundError:
                continue
            if path.suffix == ".json":
                if sub != "status":
                    continue  # a request is never dropped; it runs or is reported
                st = _read_json(path) or {}
                if st.get("state") not in FINAL_STATES and path.stem in live:
                    continue
            elif not path.name.endswith(".tmp"):
                continue
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def app_alive(db_path: Path) -> dict[str, Any] | None:
    """The app's heartbeat if a LeadOps app is serving this database now."""
    beat = _read_json(inbox_dir(db_path) / "app.json")
    if not beat:
        return None
    if time.time() - float(beat.get("beat_at", 0)) > HEARTBEAT_STALE_S:
        return None
    if not _pid_alive(int(beat.get("pid", -1))):
        return None
    return beat


def submit(db_path: Path, kind: str, params: dict[str, Any], requested_by: str) -> str:
    request_id = uuid.uuid4().hex[:12]
    _write_json(
        inbox_dir(db_path) / "pending" / f"{time.time():.6f}-{request_id}.json",
        {"id": request_id, "kind": kind, "params": params, "requested_by": requested_by},
    )
    _write_json(inbox_dir(db_path) / "status" / f"{request_id}.json", {"state": "queued"})
    return request_id


def wait(
    db_path: Path,
    request_id: str,
    *,
    on_progress: Callable[[dict[str, Any]], None] | None = None,
    timeout: float | None = None,
    poll: float = 0.2,
) -> dict[str, Any]:
    """Block until the app has run the request; returns the final status document. Raises
    `HandOverError` when the app stops before the outcome is written, or on `timeout`."""
    path = inbox_dir(db_path) / "status" / f"{request_id}.json"
    deadline = time.monotonic() + timeout if timeout else None
    last = None
    while True:
        st = _read_json(path) or {"state": "queued"}
        if st != last and on_progress:
            on_progress(st)
        last = st
        if st.get("state") in FINAL_STATES:
            path.unlink(missing_ok=True)
            return st
        if not app_alive(db_path):
            if st.get("state") == "queued":
                raise HandOverError(
                    "The LeadOps app stopped before it ran the request; it is kept and runs when"
                    " the app starts again."
                )
            raise HandOverError(
                "The LeadOps app stopped while it ran the request, so it did not finish. Start"
                " the app again (it reports the request as interrupted) and run the command again."
            )
        if deadline and time.monotonic() > deadline:
            raise HandOverError(
                f"Gave up waiting after {timeout:g} s; the app goes on with the request"
                f" ({request_id}) and keeps its outcome in {path}."
            )
        time.sleep(poll)


class InboxWorker(threading.Thread):
    """Runs in the app process: heartbeat, then each pending request in arrival order."""

    def __init__(self, db: Database, interval: float = 0.5) -> None:
        super().__init__(name="leadops-inbox", daemon=True)
        self.db = db
        self.dir = inbox_dir(db.path)
        self.interval = interval
        self.stop_event = threading.Event()
        self.started_at = time.time()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def beat(self) -> None:
        _write_json(
            self.dir / "app.json",
            {"pid": os.getpid(), "started_at": self.started_at, "beat_at": time.time()},
        )

    def run(self) -> None:
        self.recover()
        pruned_at = time.monotonic() - PRUNE_EVERY_S - 1  # first pass at start
        while not self.stop_event.is_set():
            try:
                self.beat()
                self.drain()
                if time.monotonic() - pruned_at > PRUNE_EVERY_S:
                    pruned_at = time.monotonic()
                    prune_status(self.db.path)
            except Exception:  # never let the worker die; the next loop retries
                log.exception("inbox worker")
            self.stop_event.wait(self.interval)

    def recover(self) -> int:
        """Requests a dead app left running: reported interrupted, never silently repeated.
        Called once at start, before the worker takes new requests."""
        folder = self.dir / "running"
        n = 0
        for path in sorted(folder.glob("*.json")) if folder.exists() else []:
            req = _read_json(path)
            if req:
                _write_json(
                    self.dir / "status" / f"{req['id']}.json",
                    {
                        "state": "interrupted",
                        "error": f"Interrupted: the app stopped while it ran this {req.get('kind')}"
                        " request. Run the command again.",
                    },
                )
                n += 1
            path.unlink(missing_ok=True)
        return n

    def drain(self) -> int:
        pending = (
            sorted((self.dir / "pending").glob("*.json")) if (self.dir / "pending").exists() else []
        )
        started = 0
        for path in pending:
            claimed = self.dir / "running" / path.name
            private_dir(claimed.parent)
            try:
                os.replace(path, claimed)  # claimed: kept until its outcome is written
            except FileNotFoundError:
                continue
            req = _read_json(claimed)
            if not req:
                claimed.unlink(missing_ok=True)
                continue
            thread = threading.Thread(
                target=self.handle,
                args=(req, claimed),
                name=f"inbox-{req.get('kind')}-{req.get('id')}",
                daemon=True,
            )
            with self._lock:
                self._threads = [t for t in self._threads if t.is_alive()] + [thread]
            thread.start()
            started += 1
        return started

    def handle(self, req: dict[str, Any], claimed: Path | None = None) -> None:
        status_path = self.dir / "status" / f"{req['id']}.json"

        def listener(stage: str, done: int, total: int | None, message: str | None) -> None:
            state = "queued" if stage == "waiting" else "running"
            _write_json(
                status_path,
                {"state": state, "stage": stage, "done": done, "total": total, "message": message},
            )

        _write_json(status_path, {"state": "running", "stage": "starting"})
        try:
            result = jobs.run(
                self.db,
                req["kind"],
                req.get("params") or {},
                requested_by=req["requested_by"],
                listener=listener,
                exclusive=True,
            )
            outcome: dict[str, Any] = {"state": "succeeded", "result": result}
        except jobs.JobCancelled:
            outcome = {"state": "cancelled"}
        except jobs.PartialFailure as exc:
            outcome = {"state": "partial", "error": str(exc), "result": exc.result}
        except Exception as exc:
            outcome = {"state": "failed", "error": str(exc) or type(exc).__name__}
        _write_json(status_path, outcome)
        if claimed is not None:
            claimed.unlink(missing_ok=True)  # only now that the outcome is written

    def join_requests(self, timeout: float | None = None) -> None:
        """Wait for the requests started so far (tests, shutdown)."""
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout)

    def stop(self) -> None:
        self.stop_event.set()
        (self.dir / "app.json").unlink(missing_ok=True)
