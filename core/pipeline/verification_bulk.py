"""Verification at scale: Debounce bulk lists, and the credit balance.

A verify stage with more addresses than `verification_bulk_threshold` (and a list address set,
`verification_list_url`) runs in bulk. Free local checks go first, as in single mode, and settle
what they can at no cost. The rest wait in `verifying`, split into lists of at most 200,000
addresses (Debounce's limit), one row each in `verification_lists`. For each list LeadOps serves
the addresses at an unguessable path on `verification_list_listen` while it waits, asks Debounce
to take the list from `verification_list_url` + that path, records Debounce's list id at once,
polls until the results are ready, downloads them and writes them like single results.

A run stopped while Debounce works (cancelled, the app restarted) leaves its list row and its
contacts in `verifying`: the next verify stage of that client and month sees the unfinished list
and polls the same Debounce list again (serving the addresses again if Debounce has not read them
yet) rather than uploading, and paying for, a second one.
"""

from __future__ import annotations

import datetime as dt
import http.server
import secrets as pysecrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from connectors.debounce import DebounceClient, DebounceError
from connectors.http import ApiError
from core.platform import settings
from core.platform.store import Database

MAX_LIST = 200_000  # Debounce's most addresses in one bulk list
POLL_SECONDS = 10.0
Tick = Callable[[int, int | None, str | None], None]


class BulkError(RuntimeError):
    pass


def list_url(db: Database) -> str:
    return str(settings.get(db, "verification_list_url") or "").strip().rstrip("/")


def wanted(db: Database, addresses: int) -> bool:
    """Whether a run with this many addresses to verify goes as bulk lists."""
    return bool(list_url(db)) and addresses > int(settings.get(db, "verification_bulk_threshold"))


def unfinished(db: Database, workspace_id: int, month: dt.date) -> bool:
    return bool(
        db.scalar(
            "SELECT count(*) FROM verification_lists WHERE workspace_id = ? AND renewal_month = ?"
            " AND status IN ('waiting', 'uploaded')",
            [workspace_id, month],
        )
    )


def record_balance(db: Database, balance: int) -> None:
    with db.cursor() as cur:
        cur.execute(
            "INSERT OR REPLACE INTO debounce_balance (id, balance, checked_at) VALUES (1, ?, now())",
            [int(balance)],
        )


def balance(db: Database) -> dict[str, Any] | None:
    """Debounce credits as last read, and when; None before any read."""
    df = db.query("SELECT balance, checked_at FROM debounce_balance WHERE id = 1")
    return df.row(0, named=True) if df.height else None


def check_balance(db: Database, key: str, client_factory: Any = None) -> int | None:
    """Ask Debounce for the balance now and keep it."""
    client = (client_factory or DebounceClient)(key)
    try:
        got = client.balance()
    finally:
        client.close()
    if got is not None:
        record_balance(db, got)
    return got


def next_run_need(db: Database, month: dt.date) -> int:
    """Addresses the next verification runs will send to Debounce for a renewal month: contacts
    still raw (expected through the filters at the past pass rate) and those filtered."""
    raw, filtered = db.rows(
        "SELECT count(*) FILTER (WHERE status = 'raw'), count(*) FILTER (WHERE status = 'filtered')"
        " FROM contacts WHERE renewal_month = ?",
        [month],
    )[0]
    row = db.rows(
        "SELECT sum(output_count), sum(input_count) FROM pipeline_stage_runs"
        " WHERE stage = 'filter' AND status = 'succeeded' AND input_count > 0"
    )[0]
    rate = row[0] / row[1] if row[1] else 0.8
    return int(round(raw * rate)) + int(filtered)


# -- serving a list ------------------------------------------------------------------------


def _listen(db: Database) -> tuple[str, int]:
    raw = str(settings.get(db, "verification_list_listen") or "")
    host, _, port = raw.rpartition(":")
    if not host or not port.isdigit():
        raise BulkError(f"The list server address {raw!r} is not like 127.0.0.1:8790.")
    return host, int(port)


@contextmanager
def serving(db: Database, path: str, body: bytes) -> Iterator[str]:
    """Serve `body` at `path` (and nothing else) while the block runs; yields the public URL."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
            if self.path.split("?")[0] != path:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/csv")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:  # no access log on stderr
            return

    host, port = _listen(db)
    try:
        server = http.server.ThreadingHTTPServer((host, port), Handler)
    except OSError as exc:
        raise BulkError(f"Cannot serve the list on {host}:{port}: {exc.strerror}.") from None
    thread = threading.Thread(target=server.serve_forever, name="debounce-list", daemon=True)
    thread.start()
    try:
        yield list_url(db) + path
    finally:
        server.shutdown()
        server.server_close()


# -- the bulk verify stage -----------------------------------------------------------------


def _plan_lists(db: Database, vrun: int, workspace_id: int, month: dt.date) -> None:
    """Mark every contact for Debounce `verifying` and cut them into lists by id range."""
    ids = [
        r[0]
        for r in db.rows(
            "SELECT id FROM contacts WHERE workspace_id = ? AND renewal_month = ?"
            " AND status = 'verifying' ORDER BY id",
            [workspace_id, month],
        )
    ]
    with db.transaction() as cur:
        for k in range(0, len(ids), MAX_LIST):
            part = ids[k : k + MAX_LIST]
            cur.execute(
                "INSERT INTO verification_lists (verification_run_id, workspace_id, renewal_month,"
                " first_contact_id, last_contact_id, addresses, path) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    vrun,
                    workspace_id,
                    month,
                    part[0],
                    part[-1],
                    len(part),
                    f"/lists/{pysecrets.token_urlsafe(24)}.csv",
                ],
            )


def _local_pass(db: Database, workspace_id: int, month: dt.date, tick: Tick, total: int) -> int:
    """Free checks first: what they settle is written at once (source 'local'); the rest goes
    to `verifying` for Debounce. Returns how many contacts were looked at."""
    from core.pipeline import verification as single

    disposable = single._disposable()
    done = 0
    while True:
        chunk = db.rows(
            "SELECT id, email FROM contacts WHERE workspace_id = ? AND renewal_month = ?"
            f" AND status = 'filtered' ORDER BY id LIMIT {single.CHUNK * 25}",
            [workspace_id, month],
        )
        if not chunk:
            return done
        ids, verdicts, codes, reasons, remote = [], [], [], [], []
        for cid, email in chunk:
            verdict, reason = single.local_check(email, disposable)
            if verdict == "invalid":
                ids.append(cid)
                verdicts.append(verdict)
                codes.append(None)
                reasons.append(reason)
            else:
                remote.append(cid)
        with db.cursor() as cur:
            cur.execute(
                "UPDATE contacts SET status = 'verifying' WHERE list_contains(?, id)",
                [[c for c, _ in chunk]],
            )
        if ids:
            single._write(db, ids, verdicts, codes, reasons, "debounce")
        done += len(chunk)
        tick(done, total, "local checks before the bulk list")


def verify_bulk(
    db: Database,
    workspace_id: int,
    month: dt.date,
    key: str,
    run_id: int | None,
    tick: Tick,
    client_factory: Callable[[str], DebounceClient] | None = None,
    *,
    poll_seconds: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """The verify stage in bulk (see the module doc). Returns the stage's counts like single mode."""
    per_1000 = settings.get(db, "debounce_cost_per_1000_cents")
    poll = POLL_SECONDS if poll_seconds is None else poll_seconds
    resumed = unfinished(db, workspace_id, month)
    if resumed:
        vrun = db.scalar(
            "SELECT max(verification_run_id) FROM verification_lists WHERE workspace_id = ?"
            " AND renewal_month = ? AND status IN ('waiting', 'uploaded')",
            [workspace_id, month],
        )
    else:
        total = int(
            db.scalar(
                "SELECT count(*) FROM contacts WHERE workspace_id = ? AND renewal_month = ?"
                " AND status = 'filtered'",
                [workspace_id, month],
            )
        )
        with db.cursor() as cur:
            vrun = cur.execute(
                "INSERT INTO verification_runs (workspace_id, pipeline_run_id, mode)"
                " VALUES (?, ?, 'debounce') RETURNING id",
                [workspace_id, run_id],
            ).fetchall()[0][0]
        _local_pass(db, workspace_id, month, tick, total)
        _plan_lists(db, vrun, workspace_id, month)
    client = (client_factory or DebounceClient)(key)
    try:
        lists = db.query(
            "SELECT * FROM verification_lists WHERE verification_run_id = ?"
            " AND status IN ('waiting', 'uploaded') ORDER BY id",
            [vrun],
        ).to_dicts()
        for item in lists:
            _run_list(db, client, item, tick, poll, sleep)
    finally:
        client.close()
    return _finish(db, vrun, workspace_id, month, per_1000, resumed)


def _contacts_of(db: Database, item: dict[str, Any]) -> list[tuple[int, str]]:
    return [
        (int(i), str(e))
        for i, e in db.rows(
            "SELECT id, email FROM contacts WHERE workspace_id = ? AND renewal_month = ?"
            " AND status = 'verifying' AND id BETWEEN ? AND ? ORDER BY id",
            [
                item["workspace_id"],
                item["renewal_month"],
                item["first_contact_id"],
                item["last_contact_id"],
            ],
        )
    ]


def _run_list(
    db: Database,
    client: DebounceClient,
    item: dict[str, Any],
    tick: Tick,
    poll: float,
    sleep: Callable[[float], None],
) -> None:
    from core.pipeline import verification as single

    contacts = _contacts_of(db, item)
    if not contacts:
        _set(db, item["id"], status="done", finished_at=dt.datetime.now(dt.UTC))
        return
    body = ("email\n" + "\n".join(e for _, e in contacts) + "\n").encode()
    path = item["path"]  # the same address again when a stopped run picks the list up
    label = f"Debounce bulk list of {len(contacts):,}"
    with serving(db, path, body) as url:
        list_id = item["list_id"]
        if list_id is None:
            try:
                list_id = client.bulk_upload(url)
            except (DebounceError, ApiError) as exc:
                _set(db, item["id"], status="failed", error=str(exc)[:500])
                raise BulkError(str(exc)) from None
            _set(
                db,
                item["id"],
                list_id=list_id,
                status="uploaded",
                uploaded_at=dt.datetime.now(dt.UTC),
            )
        while True:
            try:
                st = client.bulk_status(list_id)
            except (DebounceError, ApiError) as exc:
                _set(db, item["id"], status="failed", error=str(exc)[:500])
                raise BulkError(f"Debounce bulk list {list_id}: {exc}") from None
            _set(db, item["id"], percentage=int(st["percentage"]))
            tick(int(st["percentage"]), 100, f"{label}: {st['status'] or 'waiting'}")
            if st["download_link"]:
                break
            sleep(poll)
    results = client.bulk_results(st["download_link"])
    by_email: dict[str, Any] = {}
    for v in results:
        by_email.setdefault(v.email.strip().lower(), v)
    ids, verdicts, codes, reasons = [], [], [], []
    for cid, email in contacts:
        v = by_email.get(email.strip().lower())
        ids.append(cid)
        verdicts.append(v.verdict if v else "unknown")
        codes.append(v.code if v else "7")
        reasons.append(v.reason if v else "not in Debounce's list results")
    for k in range(0, len(ids), 5_000):
        single._write(
            db,
            ids[k : k + 5_000],
            verdicts[k : k + 5_000],
            codes[k : k + 5_000],
            reasons[k : k + 5_000],
            "debounce",
        )
    _set(db, item["id"], status="done", percentage=100, finished_at=dt.datetime.now(dt.UTC))


def _set(db: Database, list_row: int, **values: Any) -> None:
    sets = ", ".join(f"{k} = ?" for k in values)
    with db.cursor() as cur:
        cur.execute(
            f"UPDATE verification_lists SET {sets} WHERE id = ?", [*values.values(), list_row]
        )


def _finish(
    db: Database,
    vrun: int,
    workspace_id: int,
    month: dt.date,
    per_1000: int,
    resumed: bool,
) -> dict[str, Any]:
    """Totals of the run from what its contacts now say; the credits are the lists' addresses."""
    credits = int(
        db.scalar(
            "SELECT coalesce(sum(addresses), 0) FROM verification_lists"
            " WHERE verification_run_id = ? AND status = 'done'",
            [vrun],
        )
    )
    counts = dict(
        db.rows(
            "SELECT verification_result, count(*) FROM contacts WHERE workspace_id = ?"
            " AND renewal_month = ? AND verification_result IS NOT NULL"
            " AND list_contains(['debounce', 'local'], verification_source)"
            " AND updated_at >= (SELECT started_at FROM verification_runs WHERE id = ?)"
            " GROUP BY 1",
            [workspace_id, month, vrun],
        )
    )
    results = {k: int(counts.get(k, 0)) for k in ("safe", "risky", "invalid", "unknown")}
    cost = round(credits * per_1000 / 1000)
    with db.cursor() as cur:
        cur.execute(
            "UPDATE verification_runs SET checked = ?, safe = ?, risky = ?, invalid = ?,"
            " unknown = ?, credits = ?, cost_cents = ?, finished_at = now() WHERE id = ?",
            [
                sum(results.values()),
                results["safe"],
                results["risky"],
                results["invalid"],
                results["unknown"],
                credits,
                cost,
                vrun,
            ],
        )
    return {
        "input": sum(results.values()),
        "output": results["safe"],
        "mode": "debounce",
        "bulk": True,
        "resumed": resumed,
        "results": results,
        "credits": credits,
        "cost_cents": cost,
    }
