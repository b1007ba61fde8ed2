"""The process runtime: what a LeadOps server starts once, at start-up, not at the first page view.

`start_app_runtime()` opens (and migrates) the database, reports what a dead process left behind
(jobs, sync runs and handed-over requests it was running become `interrupted`), and starts two
threads: the inbox worker (runs commands the CLI hands over, writes the heartbeat) and the
scheduler (syncs, alert checks, CRM retries, reports, the Monday evergreen step). `leadops serve`
calls it before it starts the web server, so the schedule runs when nobody has a page open; the
pages call it too and get the same runtime back. This module is the only place threads start
for the life of the process.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
from collections.abc import Callable

from core import catalog  # noqa: F401  (every job the inbox and the scheduler may start)
from core.guardrails import alerts as guardrails
from core.guardrails import client_reports
from core.platform import connections, jobs, settings, sync_status
from core.platform.inbox import InboxWorker
from core.platform.store import Database, get_db
from core.replies import crm_delivery as _crm
from core.revenue import stripe_sync

log = logging.getLogger("leadops.scheduler")

_lock = threading.Lock()
_workers: dict[str, InboxWorker] = {}
_schedulers: dict[str, Scheduler] = {}


def check_every_seconds() -> float:
    """How often the scheduler looks for due work (`LEADOPS_SCHEDULER_SECONDS`, default 30)."""
    try:
        return max(0.2, float(os.environ.get("LEADOPS_SCHEDULER_SECONDS") or 30))
    except ValueError:
        return 30.0


class Scheduler(threading.Thread):
    """Runs the Email Bison sync every `bison_sync_interval_minutes` and the Stripe sync every
    `stripe_sync_interval_minutes` while the app is up (each only when it is configured), the
    guardrail checks after every successful sync, the weekly client reports when due, CRM
    deliveries whose retry time has come, and the evergreen step on Mondays.

    A step that cannot start is recorded as a failed job of its kind, so it shows on the Alerts
    page ("Email Bison sync failed: scheduled sync could not start: …"), not only in the log."""

    def __init__(self, db: Database, check_every: float | None = None) -> None:
        super().__init__(name="leadops-scheduler", daemon=True)
        self.db = db
        self.check_every = check_every if check_every is not None else check_every_seconds()
        self.stop_event = threading.Event()

    def _interval_passed(self, source: str, setting: str) -> bool:
        minutes = settings.get(self.db, setting)
        last = self.db.scalar(
            "SELECT max(started_at) FROM sync_runs WHERE source = ? AND triggered_by = 'schedule'",
            [source],
        )
        return last is None or (dt.datetime.now(dt.UTC) - last).total_seconds() >= minutes * 60

    def due(self) -> bool:
        if not connections.bison_url(self.db):
            return False
        if not self.db.scalar(
            "SELECT count(*) FROM secret_refs WHERE name LIKE 'bison.workspace.%'"
        ):
            return False
        return self._interval_passed("bison", "bison_sync_interval_minutes")

    def stripe_due(self) -> bool:
        return stripe_sync.configured(self.db) and self._interval_passed(
            "stripe", "stripe_sync_interval_minutes"
        )

    def crm_due(self) -> bool:
        return bool(_crm.due_count(self.db))

    def steps(self) -> list[tuple[str, Callable[[], bool]]]:
        return [
            ("sync.bison", self.due),
            ("sync.stripe", self.stripe_due),
            ("alerts.check", lambda: guardrails.checks_due(self.db)),
            ("reports.send", lambda: client_reports.reports_due(self.db)),
            ("crm.deliver", self.crm_due),
            ("pipeline.evergreen", self.evergreen_due),
        ]

    def tick(self) -> list[str]:
        """Start every step that is due and not running; returns the kinds started."""
        started = []
        for kind, due in self.steps():
            try:
                if due() and not jobs.running(self.db, kind):
                    jobs.start(self.db, kind, {"actor": "schedule"}, requested_by="schedule")
                    started.append(kind)
            except jobs.JobError as exc:  # already running (started by someone else): fine
                if "already running" not in str(exc):
                    self._record(kind, exc)
            except Exception as exc:  # the next tick tries again
                self._record(kind, exc)
        return started

    def _record(self, kind: str, exc: Exception) -> None:
        log.exception("scheduled %s could not start", kind)
        try:
            jobs.record_failure(
                self.db,
                kind,
                f"scheduled {kind} could not start: {type(exc).__name__}: {exc}",
                requested_by="schedule",
            )
        except Exception:  # the store itself is in trouble; the log has it
            log.exception("could not record the failure")

    def run(self) -> None:
        while not self.stop_event.wait(self.check_every):
            self.tick()

    def evergreen_due(self, now: dt.datetime | None = None) -> bool:
        """Mondays, once a day, when some client has an evergreen campaign."""
        now = now or dt.datetime.now(dt.UTC)
        if now.weekday() != 0:
            return False
        if not self.db.scalar(
            "SELECT count(*) FROM pipeline_settings WHERE evergreen_campaign_id IS NOT NULL"
        ):
            return False
        return not self.db.scalar(
            "SELECT count(*) FROM jobs WHERE kind = 'pipeline.evergreen' AND requested_by = 'schedule'"
            " AND CAST(created_at AS DATE) = ?",
            [now.date()],
        )

    def after_sync(self) -> None:
        """The alert check and the weekly reports, when due (also part of every tick)."""
        for kind, due in self.steps()[2:4]:
            if due() and not jobs.running(self.db, kind):
                jobs.start(self.db, kind, {"actor": "schedule"}, requested_by="schedule")


def start_app_runtime(path: str | None = None) -> Database:
    """Open (and migrate) the database, report what a dead process left running, and start the
    inbox worker and the scheduler once per process (again only if they died)."""
    db = get_db(path)
    with _lock:
        key = str(db.path.resolve())
        worker = _workers.get(key)
        if worker is None or not worker.is_alive() or worker.db is not db:
            old = _schedulers.pop(key, None)
            if old is not None:  # a replaced worker never leaves its scheduler behind
                old.stop_event.set()
            jobs.mark_interrupted(db)
            sync_status.mark_interrupted(db)
            worker = InboxWorker(db)
            worker.recover()
            worker.beat()
            worker.start()
            _workers[key] = worker
            scheduler = Scheduler(db)
            scheduler.start()
            _schedulers[key] = scheduler
    return db


def stop_app_runtime() -> None:
    with _lock:
        for w in _workers.values():
            w.stop()
        for s in _schedulers.values():
            s.stop_event.set()
        _workers.clear()
        _schedulers.clear()
