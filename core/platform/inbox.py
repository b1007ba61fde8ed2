"""The durable inbox through which a CLI command hands its job to the running app.

DuckDB lets one process open the database file. When the LeadOps app has it, a CLI command
writes a request file into `<db>.inbox/pending/`, the app's inbox worker runs the job in its
own process and writes progress and the outcome to `<db>.inbox/status/<id>.json`, and the CLI
prints that progress until the job ends. Files are written to a temporary name and renamed,
so a reader never sees half a file; a request survives an app restart (it stays in pending/).

The app also writes `<db>.inbox/app.json` every second as a heartbeat, so the CLI can tell a
running LeadOps app (hand over) from any other process holding the file (clear message).
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.platform import jobs
from core.platform.store import Database

HEARTBEAT_STALE_S = 10.0


def inbox_dir(db_path: Path) -> Path:
    return db_path.parent / f"{db_path.name}.inbox"


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:6]}.tmp")
    tmp.write_text(json.dumps(data, default=str))
    os.replace(tmp, path)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


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
    """Block until the app has run the request; returns the final status document."""
    path = inbox_dir(db_path) / "status" / f"{request_id}.json"
    deadline = time.monotonic() + timeout if timeout else None
    last = None
    while True:
        st = _read_json(path) or {"state": "queued"}
        if st != last and on_progress:
            on_progress(st)
        last = st
        if st.get("state") in ("succeeded", "failed", "cancelled"):
            path.unlink(missing_ok=True)
            return st
        if st.get("state") == "queued" and not app_alive(db_path):
            raise TimeoutError(
                "The LeadOps app stopped before it ran the request; it is kept and runs when the app starts again."
            )
        if deadline and time.monotonic() > deadline:
            raise TimeoutError("Timed out waiting for the app to run the request.")
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

    def beat(self) -> None:
        _write_json(
            self.dir / "app.json",
            {"pid": os.getpid(), "started_at": self.started_at, "beat_at": time.time()},
        )

    def run(self) -> None:
        while not self.stop_event.is_set():
            try:
                self.beat()
                self.drain()
            except Exception:  # never let the worker die; the next loop retries
                import traceback

                traceback.print_exc()
            self.stop_event.wait(self.interval)

    def drain(self) -> int:
        pending = (
            sorted((self.dir / "pending").glob("*.json")) if (self.dir / "pending").exists() else []
        )
        for path in pending:
            req = _read_json(path)
            path.unlink(missing_ok=True)
            if not req:
                continue
            self.handle(req)
        return len(pending)

    def handle(self, req: dict[str, Any]) -> None:
        status_path = self.dir / "status" / f"{req['id']}.json"

        def listener(stage: str, done: int, total: int | None, message: str | None) -> None:
            _write_json(
                status_path,
                {
                    "state": "running",
                    "stage": stage,
                    "done": done,
                    "total": total,
                    "message": message,
                },
            )
            self.beat()

        _write_json(status_path, {"state": "running", "stage": "starting"})
        try:
            result = jobs.run(
                self.db,
                req["kind"],
                req.get("params") or {},
                requested_by=req["requested_by"],
                listener=listener,
            )
            _write_json(status_path, {"state": "succeeded", "result": result})
        except jobs.JobCancelled:
            _write_json(status_path, {"state": "cancelled"})
        except Exception as exc:
            _write_json(status_path, {"state": "failed", "error": str(exc) or type(exc).__name__})

    def stop(self) -> None:
        self.stop_event.set()
        (self.dir / "app.json").unlink(missing_ok=True)
