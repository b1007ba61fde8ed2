"""What the app process starts once: the database, migrations, and the inbox worker."""

from __future__ import annotations

import threading

from core import commands as _commands  # noqa: F401  (registers the jobs the inbox may run)
from core import jobs
from core.inbox import InboxWorker
from core.store import Database, get_db

_lock = threading.Lock()
_workers: dict[str, InboxWorker] = {}


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
    return db


def stop_app_runtime() -> None:
    with _lock:
        for w in _workers.values():
            w.stop()
        _workers.clear()
