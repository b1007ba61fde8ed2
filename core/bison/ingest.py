"""Ingest: the app moves waiting Email Bison webhook event files into the store.

The receiver (`core/bison/receiver.py`) leaves each accepted event as a JSON file in
``<db>.inbox/webhooks/``. `ingest` (run by the app on its sync, in the process that holds the
database) reads them oldest first, and per batch, in one transaction, records each event in
bison_webhook_events (``ON CONFLICT (event_id) DO NOTHING``, so a redelivered event is stored
once) and applies the new ones to the bison_* mirror tables (`core/bison/payloads.py`). A file
is deleted only after its transaction commits; a file that cannot be read as an event is moved to
``webhooks/rejected/`` beside a ``.reason.txt`` and never holds back the rest.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

import duckdb

from core.bison.payloads import (
    Envelope,
    PayloadError,
    apply_event,
    as_timestamp,
    event_id_for,
    loads_strict,
    parse_envelope,
)
from core.platform import inbox
from core.platform.store import Database, StoreError

log = logging.getLogger("leadops.webhooks")

INGEST_BATCH = 200
# Errors that say the store is unusable, not that one event is bad: ingest stops, files stay.
_SYSTEMIC = (
    StoreError,
    MemoryError,
    duckdb.IOException,
    duckdb.ConnectionException,
    duckdb.FatalException,
    duckdb.InternalException,
    duckdb.OutOfMemoryException,
    duckdb.InterruptException,
    duckdb.TransactionException,  # a write conflict is not the event's fault: keep it, retry
)


def webhooks_dir(inbox_path: Path) -> Path:
    """Where accepted events wait for the app: ``<db>.inbox/webhooks``."""
    return Path(inbox_path) / "webhooks"


_ingest_lock = threading.Lock()


class _EventFile:
    __slots__ = ("path", "event_id", "received_at", "payload", "env")

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            doc = loads_strict(path.read_bytes())
        except (ValueError, RecursionError) as exc:
            raise PayloadError(f"not valid JSON: {exc}") from None
        if not isinstance(doc, dict):
            raise PayloadError("not a JSON object")
        payload = doc.get("payload") if "payload" in doc else doc  # a bare Bison body also works
        self.env: Envelope = parse_envelope(payload)
        self.payload: dict[str, Any] = payload
        event_id = doc.get("event_id") if "payload" in doc else None
        self.event_id = str(event_id) if event_id else event_id_for(payload)
        self.received_at = as_timestamp(doc.get("received_at")) or dt.datetime.fromtimestamp(
            path.stat().st_mtime, dt.UTC
        )


def _pending(folder: Path) -> list[Path]:
    """Event files oldest first (by when they were written), skipping temporary files."""
    found = []
    for path in folder.glob("*.json"):
        try:
            found.append((path.stat().st_mtime_ns, path.name, path))
        except FileNotFoundError:
            continue
    return [p for _, _, p in sorted(found)]


def _reject(path: Path, reason: str) -> None:
    rejected = path.parent / "rejected"
    rejected.mkdir(exist_ok=True)
    try:
        os.replace(path, rejected / path.name)
    except FileNotFoundError:
        return
    stamp = dt.datetime.now(dt.UTC).isoformat()
    (rejected / f"{path.name}.reason.txt").write_text(f"{stamp} {reason}\n")
    log.warning("rejected webhook event file %s: %s", path.name, reason)


def _workspace_map(cur: duckdb.DuckDBPyConnection) -> dict[int, int]:
    rows = cur.execute(
        "SELECT bison_workspace_id, id FROM workspaces WHERE bison_workspace_id IS NOT NULL"
        " ORDER BY active DESC, id"
    ).fetchall()
    mapping: dict[int, int] = {}
    for bison, ours in rows:  # an active client first, then the lowest id
        mapping.setdefault(bison, ours)
    return mapping


def _store(
    cur: duckdb.DuckDBPyConnection,
    ev: _EventFile,
    mapping: dict[int, int],
    failure: str | None = None,
) -> str:
    """Record one event and apply it (or, given `failure`, record why it was not); returns the
    count it belongs to."""
    env = ev.env
    workspace_id = mapping.get(env.bison_workspace_id)
    new = cur.execute(
        "INSERT INTO bison_webhook_events (event_id, workspace_id, bison_workspace_id, event_type,"
        " received_at, payload, error) VALUES (?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
        [
            ev.event_id,
            workspace_id,
            env.bison_workspace_id,
            env.event_type,
            ev.received_at,
            json.dumps(ev.payload),
            None if workspace_id is not None else "unmapped workspace",
        ],
    ).fetchall()
    if not new:
        return "duplicates"
    if workspace_id is None:
        return "unmapped"
    problem = failure
    if problem is None:
        try:
            problem = apply_event(cur, workspace_id, env, ev.received_at)
        except PayloadError as exc:
            problem = str(exc)
    if problem:
        cur.execute(
            "UPDATE bison_webhook_events SET error = ? WHERE event_id = ?", [problem, ev.event_id]
        )
        return "failed"
    cur.execute(
        "UPDATE bison_webhook_events SET applied_at = now() WHERE event_id = ?", [ev.event_id]
    )
    return "applied"


def _commit(db: Database, events: list[_EventFile], failure: str | None = None) -> list[str]:
    with db.transaction() as cur:
        mapping = _workspace_map(cur)
        outcomes = [_store(cur, ev, mapping, failure) for ev in events]
    for ev in events:  # only now that the rows are committed
        ev.path.unlink(missing_ok=True)
    return outcomes


def _commit_alone(db: Database, ev: _EventFile) -> str:
    """One event in its own transaction; if it cannot be applied, it is kept with the reason."""
    try:
        return _commit(db, [ev])[0]
    except _SYSTEMIC:
        raise
    except Exception as exc:
        log.exception("webhook event %s could not be applied", ev.event_id)
        problem = f"could not be applied: {type(exc).__name__}: {exc}"
    try:
        return _commit(db, [ev], problem)[0]
    except _SYSTEMIC:
        raise
    except Exception as exc:
        _reject(ev.path, f"could not be stored: {type(exc).__name__}: {exc}")
        return "rejected"


def ingest(db: Database) -> dict[str, int]:
    """Move every waiting event file into bison_webhook_events and apply new events to the mirror.

    Counts: received (event files read), applied, duplicates (already stored), unmapped (no client
    has that Email Bison workspace id; stored, not applied), failed (stored with the reason in
    `error`, e.g. a reply event without a reply id), rejected (unreadable files, moved to
    ``webhooks/rejected/`` with a ``.reason.txt``). Event types that change nothing in the mirror
    count as applied.
    """
    counts = dict.fromkeys(
        ("received", "applied", "duplicates", "unmapped", "rejected", "failed"), 0
    )
    folder = webhooks_dir(inbox.inbox_dir(db.path))
    if not folder.is_dir():
        return counts
    with _ingest_lock:
        files = _pending(folder)
        for start in range(0, len(files), INGEST_BATCH):
            events: list[_EventFile] = []
            for path in files[start : start + INGEST_BATCH]:
                try:
                    events.append(_EventFile(path))
                except FileNotFoundError:
                    continue
                except PayloadError as exc:
                    _reject(path, str(exc))
                    counts["rejected"] += 1
            if not events:
                continue
            counts["received"] += len(events)
            try:
                outcomes = _commit(db, events)
            except _SYSTEMIC:
                raise  # the store itself is in trouble: keep every file for the next run
            except Exception:  # one event spoiled the batch: go one by one
                outcomes = [_commit_alone(db, ev) for ev in events]
            for outcome in outcomes:
                counts[outcome] += 1
            counts["received"] -= outcomes.count("rejected")
    return counts
