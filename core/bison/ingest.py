"""Ingest: the app moves waiting Email Bison webhook event files into the store.

The receiver (`core/bison/receiver.py`) leaves each accepted event as a JSON file in
``<db>.inbox/webhooks/``. `ingest` (run by the app on its sync, in the process that holds the
database) reads them oldest first, and per batch, in one transaction, records each event in
bison_webhook_events (``ON CONFLICT (event_id) DO NOTHING``, so a redelivered event is stored
once) and applies the new ones to the bison_* mirror tables (`core/bison/payloads.py`). A file
is deleted only after its transaction commits; a file that cannot be read as an event is moved to
``webhooks/rejected/`` beside a ``.reason.txt`` and never holds back the rest. Rejected files
are deleted after ``webhook_retention_days`` (temporary files a crash left, after an hour); the
rows in bison_webhook_events stay.

An event whose body is identical to one stored before is a redelivery, counted as a duplicate,
unless it sets a state that another event about the same reply, lead or sender set back in the
meantime (`payloads.state_subject`): interested, not interested, interested again. Then it is
stored as ``<key>@<received at>`` and applied.

Each run also tells the receiver the folder limit (``webhook_folder_max_mb``, through
``<db>.inbox/webhook_limits.json``) and records what the receiver reported about refusing events
in webhook_receiver_status, which the ``webhook_folder_full`` alert check reads.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

import duckdb

from core.bison import receiver_guard
from core.bison.payloads import (
    Envelope,
    PayloadError,
    apply_event,
    as_timestamp,
    event_id_for,
    loads_strict,
    own_event_id,
    parse_envelope,
    state_subject,
)
from core.platform import inbox, settings
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
    inbox.private_dir(rejected)
    try:
        os.replace(path, rejected / path.name)
    except FileNotFoundError:
        return
    stamp = dt.datetime.now(dt.UTC).isoformat()
    inbox.write_private(rejected / f"{path.name}.reason.txt", f"{stamp} {reason}\n".encode())
    log.warning("rejected webhook event file %s: %s", path.name, reason)


def prune(folder: Path, retention_days: float) -> int:
    """Delete rejected event files (and their reasons) older than `retention_days`, and
    temporary files a crash left in the folder more than an hour ago. Returns how many."""
    now = time.time()
    old = [
        (folder / "rejected", now - retention_days * 86_400, "*"),
        (folder, now - 3600, ".*.tmp"),
    ]
    removed = 0
    for where, cutoff, pattern in old:
        for path in where.glob(pattern):
            try:
                if path.is_file() and path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:
                continue
    return removed


def _workspace_map(cur: duckdb.DuckDBPyConnection) -> dict[int, int]:
    rows = cur.execute(
        "SELECT bison_workspace_id, id FROM workspaces WHERE bison_workspace_id IS NOT NULL"
        " ORDER BY active DESC, id"
    ).fetchall()
    mapping: dict[int, int] = {}
    for bison, ours in rows:  # an active client first, then the lowest id
        mapping.setdefault(bison, ours)
    return mapping


def _insert(cur: duckdb.DuckDBPyConnection, event_id: str, ev: _EventFile, ws: int | None) -> bool:
    return bool(
        cur.execute(
            "INSERT INTO bison_webhook_events (event_id, workspace_id, bison_workspace_id,"
            " event_type, received_at, payload, error) VALUES (?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
            [
                event_id,
                ws,
                ev.env.bison_workspace_id,
                ev.env.event_type,
                ev.received_at,
                json.dumps(ev.payload),
                None if ws is not None else "unmapped workspace",
            ],
        ).fetchall()
    )


def _repeat_id(cur: duckdb.DuckDBPyConnection, ev: _EventFile) -> str | None:
    """The id under which an event whose key is already stored is stored again, when it is a
    genuine repeat: it sets a state, and since its last copy an event of the other kind about the
    same subject was received. None when it is a redelivery."""
    subject = state_subject(ev.env)
    if subject is None or own_event_id(ev.payload) is not None:
        return None  # an id of its own: a repeat would have another one
    family, about = subject
    last = cur.execute(
        "SELECT max(received_at) FROM bison_webhook_events"
        " WHERE event_id = ? OR starts_with(event_id, ?)",
        [ev.event_id, f"{ev.event_id}@"],
    ).fetchone()[0]
    if last is None or last >= ev.received_at:
        return None
    matches = " OR ".join("json_extract_string(payload, ?) = ?" for _ in about)
    between = cur.execute(
        "SELECT count(*) FROM bison_webhook_events"
        f" WHERE event_type IN ({', '.join('?' for _ in family)})"
        " AND bison_workspace_id IS NOT DISTINCT FROM ? AND received_at > ? AND received_at <= ?"
        " AND event_id <> ? AND NOT starts_with(event_id, ?)"
        f" AND ({matches})",
        [
            *family,
            ev.env.bison_workspace_id,
            last,
            ev.received_at,
            ev.event_id,
            f"{ev.event_id}@",
            *[v for pair in about for v in pair],
        ],
    ).fetchone()[0]
    if not between:
        return None
    return f"{ev.event_id}@{ev.received_at.astimezone(dt.UTC):%Y-%m-%dT%H:%M:%S.%fZ}"


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
    event_id = ev.event_id
    if not _insert(cur, event_id, ev, workspace_id):
        event_id = _repeat_id(cur, ev)
        if event_id is None or not _insert(cur, event_id, ev, workspace_id):
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
            "UPDATE bison_webhook_events SET error = ? WHERE event_id = ?", [problem, event_id]
        )
        return "failed"
    cur.execute("UPDATE bison_webhook_events SET applied_at = now() WHERE event_id = ?", [event_id])
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


def _receiver_state(db: Database, inbox_path: Path) -> None:
    """Tell the receiver the folder limit and record what it reported about refusing events."""
    max_bytes = int(settings.get(db, "webhook_folder_max_mb")) * receiver_guard.MB
    try:
        receiver_guard.write_limits(inbox_path, max_bytes)
    except OSError as exc:
        log.error("could not write the webhook folder limit: %s", exc.strerror or exc)
    st = receiver_guard.read_status(inbox_path)
    reported = as_timestamp((st or {}).get("updated_at"))
    if reported is None:
        return
    recorded = db.scalar("SELECT reported_at FROM webhook_receiver_status WHERE id = 1")
    if recorded is not None and recorded >= reported:
        return
    with db.transaction() as cur:
        cur.execute(
            "INSERT OR REPLACE INTO webhook_receiver_status (id, reported_at, recorded_at, refused,"
            " refusing_since, episode_refused, last_refused_at, last_accepted_at, folder_bytes,"
            " folder_max_bytes) VALUES (1, ?, now(), ?, ?, ?, ?, ?, ?, ?)",
            [
                reported,
                int(st.get("refused") or 0),
                as_timestamp(st.get("refusing_since")),
                int(st.get("episode_refused") or 0),
                as_timestamp(st.get("last_refused_at")),
                as_timestamp(st.get("last_accepted_at")),
                st.get("folder_bytes"),
                st.get("folder_max_bytes"),
            ],
        )


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
    inbox_path = inbox.inbox_dir(db.path)
    folder = webhooks_dir(inbox_path)
    with _ingest_lock:
        _receiver_state(db, inbox_path)  # before the folder empties: a refusal is seen first
        if not folder.is_dir():
            return counts
        _drain(db, folder, counts)
        try:
            prune(folder, settings.get(db, "webhook_retention_days"))
        except OSError as exc:
            log.error("could not prune old webhook event files: %s", exc.strerror or exc)
    return counts


def _drain(db: Database, folder: Path, counts: dict[str, int]) -> None:
    """Move the waiting files into the store, a batch per transaction, oldest first."""
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
