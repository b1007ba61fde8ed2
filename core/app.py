"""What the app process starts once: the database, migrations, and the inbox worker."""

from __future__ import annotations

import datetime as dt
import os
import threading
import traceback

from core import catalog  # noqa: F401  (every job the inbox and the scheduler may start)
from core.platform import jobs, settings
from core.platform.inbox import InboxWorker
from core.platform.store import Database, get_db
from core.replies import crm_delivery as _crm
from core.revenue import stripe_sync

_lock = threading.Lock()
_workers: dict[str, InboxWorker] = {}
_schedulers: dict[str, Scheduler] = {}


class Scheduler(threading.Thread):
    """Runs the Email Bison sync every `bison_sync_interval_minutes` and the Stripe sync every
    `stripe_sync_interval_minutes` while the app is up (each only when it is configured), the
    guardrail checks after every successful sync, the weekly client reports when due, and CRM
    deliveries whose retry time has come in between."""

    def __init__(self, db: Database, check_every: float = 30.0) -> None:
        super().__init__(name="leadops-scheduler", daemon=True)
        self.db = db
        self.check_every = check_every
        self.stop_event = threading.Event()

    def _interval_passed(self, source: str, setting: str) -> bool:
        minutes = settings.get(self.db, setting)
        last = self.db.scalar(
            "SELECT max(started_at) FROM sync_runs WHERE source = ? AND triggered_by = 'schedule'",
            [source],
        )
        return last is None or (dt.datetime.now(dt.UTC) - last).total_seconds() >= minutes * 60

    def due(self) -> bool:
        if not os.environ.get("LEADOPS_BISON_URL"):
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

    def run(self) -> None:
        while not self.stop_event.wait(self.check_every):
            for kind, due in (("sync.bison", self.due), ("sync.stripe", self.stripe_due)):
                try:
                    if due() and not jobs.running(self.db, kind):
                        jobs.start(self.db, kind, {"actor": "schedule"}, requested_by="schedule")
                except Exception:  # the next check tries again
                    traceback.print_exc()
            try:
                self.after_sync()
            except Exception:
                traceback.print_exc()
            try:
                if _crm.due_count(self.db) and not jobs.running(self.db, "crm.deliver"):
                    jobs.start(  # CRM deliveries whose retry time has come
                        self.db, "crm.deliver", {"actor": "schedule"}, requested_by="schedule"
                    )
            except Exception:  # the next check tries again
                traceback.print_exc()
            try:
                if self.evergreen_due():
                    jobs.start(
                        self.db,
                        "pipeline.evergreen",
                        {"actor": "schedule"},
                        requested_by="schedule",
                    )
            except Exception:
                traceback.print_exc()

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
        from core.guardrails import alerts as guardrails
        from core.guardrails import client_reports

        if guardrails.checks_due(self.db) and not jobs.running(self.db, "alerts.check"):
            jobs.start(self.db, "alerts.check", {"actor": "schedule"}, requested_by="schedule")
        if client_reports.reports_due(self.db) and not jobs.running(self.db, "reports.send"):
            jobs.start(self.db, "reports.send", {"actor": "schedule"}, requested_by="schedule")


def start_app_runtime() -> Database:
    """Open (and migrate) the database, mark jobs a dead process left running, start the inbox."""
    db = get_db()
    with _lock:
        key = str(db.path.resolve())
        worker = _workers.get(key)
        if worker is None or not worker.is_alive() or worker.db is not db:
            jobs.mark_interrupted(db)
            worker = InboxWorker(db)
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
