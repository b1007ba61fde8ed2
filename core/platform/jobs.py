"""Background jobs: a registry of named jobs, each run recorded in the `jobs` table with progress.

The app runs jobs in worker threads (`start`); the CLI runs them in its own process (`run`) or,
when the app holds the database, hands them to the app through the inbox (core/platform/inbox.py).
Progress updates are single auto-committed statements that do not bump the data version, so a
running job does not invalidate every page cache each second.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import uuid
from collections.abc import Callable
from typing import Any

import polars as pl

from core.platform.store import Database

log = logging.getLogger("leadops.jobs")

ProgressFn = Callable[[str, int, int | None, str | None], None]


class JobCancelled(Exception):
    pass


class JobError(RuntimeError):
    """A job failed in a way users can act on; the message is shown as is."""


class PartialFailure(JobError):
    """The job did its work but some of it failed (a client's sync, a delivery): it ends
    'partial' with its result kept and the message naming what failed and why."""

    def __init__(self, message: str, result: dict[str, Any]) -> None:
        super().__init__(message)
        self.result = result


class Progress:
    def __init__(self, db: Database, job_id: str, listener: ProgressFn | None = None) -> None:
        self.db = db
        self.job_id = job_id
        self.listener = listener
        self.cancel_event = threading.Event()

    def update(
        self, stage: str, done: int = 0, total: int | None = None, message: str | None = None
    ) -> None:
        with self.db.cursor() as cur:
            cur.execute(
                "UPDATE jobs SET stage = ?, done = ?, total = ?, message = ? WHERE id = ?",
                [stage, done, total, message, self.job_id],
            )
        if self.listener:
            self.listener(stage, done, total, message)
        if self.cancel_event.is_set():
            raise JobCancelled()

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()


JobFn = Callable[[Database, dict[str, Any], Progress], dict[str, Any]]
REGISTRY: dict[str, JobFn] = {}
_running: dict[str, Progress] = {}
_running_lock = threading.Lock()
# Exclusive jobs running now, as (kind, workspace_id or None for every client). A claim
# conflicts with one of the same kind for the same client or for all of them.
_claims: set[tuple[str, int | None]] = set()
_claims_changed = threading.Condition()


def _conflicts(kind: str, wid: int | None) -> bool:
    return any(k == kind and (wid is None or w is None or w == wid) for k, w in _claims)


def _claim(kind: str, wid: int | None, *, wait: bool, on_wait: Callable[[], None] | None = None):
    """Claim the right to run `kind` for `wid`; returns the claim, or None when taken and not
    waiting. Checking and claiming are one step, so two callers can never both pass."""
    with _claims_changed:
        if _conflicts(kind, wid):
            if not wait:
                return None
            if on_wait:
                on_wait()
            while _conflicts(kind, wid):
                _claims_changed.wait()
        _claims.add((kind, wid))
        return (kind, wid)


def _release(claim: tuple[str, int | None] | None) -> None:
    if claim is None:
        return
    with _claims_changed:
        _claims.discard(claim)
        _claims_changed.notify_all()


def _workspace_of(params: dict[str, Any]) -> int | None:
    wid = params.get("workspace_id")
    return int(wid) if wid not in (None, "") else None


def job(kind: str) -> Callable[[JobFn], JobFn]:
    def register(fn: JobFn) -> JobFn:
        REGISTRY[kind] = fn
        return fn

    return register


def call(db: Database, kind: str, params: dict[str, Any], progress: Progress) -> dict[str, Any]:
    """Run another job's work inside the calling job (same row, same progress): how one domain
    hands on to the next without importing it. The catalog makes sure `kind` is registered."""
    if kind not in REGISTRY:
        raise JobError(f"Unknown job {kind!r}.")
    return REGISTRY[kind](db, params, progress) or {}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _create(
    db: Database, kind: str, params: dict[str, Any], requested_by: str, job_id: str | None
) -> str:
    if kind not in REGISTRY:
        raise JobError(f"Unknown job {kind!r}.")
    job_id = job_id or uuid.uuid4().hex[:12]
    with db.cursor() as cur:
        cur.execute(
            "INSERT INTO jobs (id, kind, params, workspace_id, status, requested_by) VALUES (?, ?, ?, ?, 'queued', ?)",
            [
                job_id,
                kind,
                json.dumps(params, default=str),
                params.get("workspace_id"),
                requested_by,
            ],
        )
    return job_id


def _execute(
    db: Database, job_id: str, kind: str, params: dict[str, Any], progress: Progress
) -> dict[str, Any]:
    with _running_lock:
        _running[job_id] = progress
    with db.cursor() as cur:
        cur.execute(
            "UPDATE jobs SET status = 'running', started_at = ? WHERE id = ?", [_now(), job_id]
        )
    try:
        result = REGISTRY[kind](db, params, progress) or {}
    except JobCancelled:
        _finish(db, job_id, "cancelled", None, "Cancelled by a user.")
        raise
    except PartialFailure as exc:
        _finish(db, job_id, "partial", exc.result, str(exc))
        raise
    except JobError as exc:
        _finish(db, job_id, "failed", None, str(exc))
        raise
    except Exception as exc:
        _finish(db, job_id, "failed", None, f"{type(exc).__name__}: {exc}")
        raise
    finally:
        with _running_lock:
            _running.pop(job_id, None)
    _finish(db, job_id, "succeeded", result, None)
    return result


def _finish(db: Database, job_id: str, status: str, result: dict | None, error: str | None) -> None:
    with db.cursor() as cur:
        cur.execute(
            "UPDATE jobs SET status = ?, result = ?, error = ?, finished_at = ? WHERE id = ?",
            [
                status,
                json.dumps(result, default=str) if result is not None else None,
                error,
                _now(),
                job_id,
            ],
        )
    db.bump_version()


def run(
    db: Database,
    kind: str,
    params: dict[str, Any],
    *,
    requested_by: str,
    listener: ProgressFn | None = None,
    job_id: str | None = None,
    exclusive: bool = False,
) -> dict[str, Any]:
    """Run a job in this thread and return its result; raises on failure. With `exclusive`, wait
    while another job of the same kind runs in this process, then run (handed-over commands)."""
    if kind not in REGISTRY:
        raise JobError(f"Unknown job {kind!r}.")
    claim = None
    if exclusive:

        def waiting() -> None:
            if listener:
                listener("waiting", 0, None, f"another {kind} job is running")

        claim = _claim(kind, _workspace_of(params), wait=True, on_wait=waiting)
    try:
        job_id = _create(db, kind, params, requested_by, job_id)
        return _execute(db, job_id, kind, params, Progress(db, job_id, listener))
    finally:
        _release(claim)


def running(db: Database, kind: str, workspace_id: int | None = None) -> str | None:
    """The id of a job of this kind (for this workspace, or for all) running in this process."""
    with _running_lock:
        ids = list(_running)
    if not ids:
        return None
    rows = db.rows(
        f"SELECT id, workspace_id FROM jobs WHERE kind = ? AND status IN ('queued', 'running')"
        f" AND id IN ({', '.join('?' for _ in ids)})",
        [kind, *ids],
    )
    for job_id, wid in rows:
        if workspace_id is None or wid is None or wid == workspace_id:
            return job_id
    return None


def start(
    db: Database,
    kind: str,
    params: dict[str, Any],
    *,
    requested_by: str,
    exclusive: bool = True,
    on_created: Callable[[str], None] | None = None,
) -> str:
    """Run a job in a background thread; returns its id at once.

    With `exclusive`, a second job of the same kind for the same workspace (or for all) is
    refused while one runs, with a message saying so. `on_created(job_id)` runs before the
    thread starts: what records the job id elsewhere must not race the job's own writes to
    the same rows (DuckDB refuses one of two concurrent updates of a row).
    """
    claim = None
    if exclusive:
        claim = _claim(kind, _workspace_of(params), wait=False)
        if claim is None:
            other = running(db, kind, _workspace_of(params))
            raise JobError(
                f"A {kind} job is already running"
                + (f" (job {other})" if other else "")
                + "; wait for it to finish."
            )
    try:
        job_id = _create(db, kind, params, requested_by, None)
    except BaseException:
        _release(claim)
        raise
    progress = Progress(db, job_id)
    with _running_lock:
        _running[job_id] = progress
    if on_created is not None:
        on_created(job_id)

    def target() -> None:
        try:
            _execute(db, job_id, kind, params, progress)
        except (JobError, JobCancelled):  # expected; recorded in the jobs row
            pass
        except Exception:  # recorded in the jobs row; the trace goes to the server log
            log.exception("job %s (%s) failed", job_id, kind)
        finally:
            _release(claim)

    threading.Thread(target=target, name=f"job-{kind}-{job_id}", daemon=True).start()
    return job_id


def cancel(job_id: str) -> bool:
    with _running_lock:
        p = _running.get(job_id)
    if p:
        p.cancel_event.set()
    return p is not None


def status(db: Database, job_id: str) -> dict[str, Any] | None:
    df = db.query("SELECT * FROM jobs WHERE id = ?", [job_id])
    return df.row(0, named=True) if df.height else None


def recent(db: Database, limit: int = 50) -> pl.DataFrame:
    return db.query(
        "SELECT id, kind, status, stage, done, total, message, error, requested_by, created_at, finished_at"
        " FROM jobs ORDER BY created_at DESC LIMIT ?",
        [limit],
    )


def record_failure(db: Database, kind: str, error: str, *, requested_by: str) -> str:
    """A job of `kind` that could not even start (the scheduler's own errors), recorded as a
    failed run so it is seen where failed runs are seen (jobs, Alerts)."""
    job_id = uuid.uuid4().hex[:12]
    db.execute(
        "INSERT INTO jobs (id, kind, params, status, requested_by, error, finished_at)"
        " VALUES (?, ?, '{}', 'failed', ?, ?, ?)",
        [job_id, kind, requested_by, error, _now()],
    )
    return job_id


def mark_interrupted(db: Database) -> int:
    """Jobs left 'running' by a process that died are marked failed at start-up."""
    with db.cursor() as cur:
        n = cur.execute(
            "UPDATE jobs SET status = 'failed', error = 'Interrupted: the process running it stopped.',"
            " finished_at = ? WHERE status IN ('running', 'queued')",
            [_now()],
        ).fetchall()
    return n[0][0] if n else 0
