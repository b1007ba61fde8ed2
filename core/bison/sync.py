"""Incremental sync of Email Bison into the store, one client workspace at a time.

Per workspace and resource a cursor lives in `sync_cursors` and is committed in the same
transaction as the rows it covers, so a sync killed half-way and run again neither duplicates
nor loses anything (rows are upserted by (workspace_id, id)). What a no-change sync asks for:

* campaigns: the list (lifetime counters and `updated_at`). A campaign whose signature (status,
  counters, updated_at) equals the stored one has no new steps, stats or sending accounts, so
  nothing more is fetched for it. Changed campaigns get their sequence steps with variants,
  sending accounts, per-day series since their last synced day, per-step stats per day and
  the sending schedule of one that can still send (draft, active, paused …). A schedule can
  change without touching the campaign, so the schedules of active and paused campaigns are also
  read again once a day (the first sync of the day).
* replies: newest first until the highest stored id (`cursor`), plus the first page of
  interested replies, to see replies marked interested later.
* leads: those updated since the last sync's date (the API filters by date only).
* sending accounts and tags: the full lists (they are short and have no change filter).

Every request of a sync goes through one pacer shared by all its workspaces
(:class:`connectors.http.InstancePacer`): Email Bison limits the instance, not the token, so the
sync spends that budget (`bison_rate_limit_per_sec`, or what it learns from 429s when that is
0) across the workspaces it fetches at once, slows down and waits out `Retry-After` when told
to, and speeds up again after.

Changed campaigns' details are written a batch of campaigns at a time, each batch in one
transaction with those campaigns' cursors. Long listings (leads, replies) are copied into typed
columns a few records at a time as the pages arrive, never held as a list of records.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import polars as pl

from connectors.bison import BisonClient
from connectors.bison.columns import lead_frame, reply_frame
from connectors.bison.parsers import to_int
from connectors.http import InstancePacer, redact
from core.bison import mirror
from core.bison.mirror import (
    CAMPAIGN_SENDER_SCHEMA,
    DAILY_SCHEMA,
    SCHEDULE_SCHEMA,
    STEP_SCHEMA,
    STEP_STATS_SCHEMA,
)
from core.bison.pacing import MAX_AT_ONCE, WorkspaceGate
from core.platform import connections, secrets, settings
from core.platform.store import Database
from core.platform.sync_store import Columns, get_cursor, set_cursor, set_cursors

SOURCE = "bison"
DETAIL_BATCH = 50  # changed campaigns whose details are written in one transaction
SCHEDULED_STATUSES = {"active", "paused", "launching", "queued"}  # whose schedules matter daily
ClientFactory = Callable[[str], BisonClient]


class SyncError(RuntimeError):
    pass


@dataclass
class Target:
    workspace_id: int
    name: str
    token: str


class DetailBatch:
    """Changed campaigns' steps, series, stats and senders, gathered for one transaction."""

    def __init__(self) -> None:
        self.steps = Columns(STEP_SCHEMA)
        self.daily = Columns(DAILY_SCHEMA)
        self.step_stats = Columns(STEP_STATS_SCHEMA)
        self.senders = Columns(CAMPAIGN_SENDER_SCHEMA)
        self.schedules = Columns(SCHEDULE_SCHEMA)
        self.cursors: dict[int, str] = {}  # campaign id -> its cursor

    def __len__(self) -> int:
        return len(self.cursors)

    def __contains__(self, campaign_id: int) -> bool:
        return campaign_id in self.cursors


def campaign_signature(c) -> str:
    return json.dumps(
        [
            c.status,
            c.emails_sent,
            c.replied,
            c.interested,
            c.bounced,
            c.unsubscribed,
            c.total_leads,
            c.updated_at.isoformat() if c.updated_at else None,
        ]
    )


# -- one workspace ---------------------------------------------------------------------------


class WorkspaceSync:
    def __init__(
        self,
        db: Database,
        target: Target,
        client: BisonClient,
        *,
        full: bool,
        today: dt.date,
        write_lock: threading.Lock,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.db = db
        self.t = target
        self.client = client
        self.full = full
        self.today = today
        self.lock = write_lock
        self.counts: dict[str, int] = {}
        self.now = dt.datetime.now(dt.UTC)
        self.progress = progress or (lambda msg: None)
        conf = settings.get_all(db)
        self.daily_backfill = int(conf["bison_daily_backfill_days"])
        self.stats_backfill = int(conf["bison_stats_backfill_days"])

    def add(self, key: str, n: int) -> None:
        self.counts[key] = self.counts.get(key, 0) + n

    def write(self, fn: Callable[[Any], None]) -> None:
        """One transaction, serialised with the other workspaces' writes."""
        with self.lock, self.db.transaction() as cur:
            fn(cur)

    def run(self) -> dict[str, int]:
        self.campaigns()
        self.replies()
        self.leads()
        self.senders()
        self.tags()
        return self.counts

    # campaigns and everything hanging off a changed campaign
    def campaigns(self) -> None:
        wid = self.t.workspace_id
        self.progress("campaigns")
        listed = list(self.client.iter_campaigns())
        rows = [mirror.campaign_row(c, wid, self.now) for c in listed]
        stored = dict(
            self.db.rows(
                "SELECT resource, cursor_value FROM sync_cursors WHERE source = ? AND workspace_id = ?"
                " AND resource LIKE 'campaign:%'",
                [SOURCE, wid],
            )
        )
        listed_ids = [c.id for c in listed]

        def write_list(cur) -> None:
            mirror.upsert_campaigns(cur, rows)
            mirror.mark_campaigns_deleted(cur, wid, listed_ids, self.now)

        self.write(write_list)
        self.add("campaigns", len(rows))
        batch = DetailBatch()
        stale: list[tuple[Any, dict]] = []  # unchanged campaigns whose schedule is a day old
        try:
            for c in listed:
                prev = json.loads(stored.get(f"campaign:{c.id}") or "null")
                sig = campaign_signature(c)
                if not self.full and prev and prev.get("sig") == sig:
                    if (
                        prev.get("schedule_day") != self.today.isoformat()
                        and (c.status or "").lower() in SCHEDULED_STATUSES
                    ):
                        stale.append((c, prev))
                    continue
                if c.id in batch or len(batch) >= DETAIL_BATCH:
                    self.write_details(batch)
                    batch = DetailBatch()
                self.campaign_detail(c, prev, sig, batch)
        except Exception:
            self.write_details(batch)  # the campaigns fetched in full are kept
            raise
        self.write_details(batch)
        self.refresh_schedules(stale)

    def schedule_rows(self, batch: DetailBatch, campaign_id: int) -> None:
        schedule = self.client.get_campaign_schedule(campaign_id)
        if schedule is not None:
            batch.schedules.add(
                [schedule],
                workspace_id=self.t.workspace_id,
                campaign_id=campaign_id,
                days=[list(schedule.days)],
                synced_at=self.now,
            )

    def refresh_schedules(self, stale: list[tuple[Any, dict]]) -> None:
        """Today's schedules of unchanged campaigns, with their cursors, a batch at a time."""
        wid = self.t.workspace_id
        for start in range(0, len(stale), DETAIL_BATCH):
            part = stale[start : start + DETAIL_BATCH]
            batch = DetailBatch()
            for c, _ in part:
                self.progress(f"schedule of {c.name}")
                self.schedule_rows(batch, c.id)
            ids = [int(c.id) for c, _ in part]
            schedules = batch.schedules.frame()
            cursors = {
                f"campaign:{c.id}": json.dumps({**prev, "schedule_day": self.today.isoformat()})
                for c, prev in part
            }

            def write(cur, ids=ids, schedules=schedules, cursors=cursors) -> None:
                mirror.replace_schedules(cur, wid, ids, schedules)
                set_cursors(cur, wid, cursors)

            self.write(write)
            self.add("schedules", schedules.height)

    def campaign_detail(self, c, prev: dict | None, sig: str, batch: DetailBatch) -> None:
        """Fetch what hangs off a changed campaign into `batch` (stored by `write_details`)."""
        self.progress(f"campaign {c.name}")
        last_day = (
            dt.date.fromisoformat(prev["last_day"])
            if prev and prev.get("last_day") and not self.full
            else None
        )
        steps = self.client.get_sequence_steps(c.id)
        senders = list(self.client.iter_campaign_sender_emails(c.id))
        created = (
            c.created_at.date()
            if c.created_at
            else self.today - dt.timedelta(days=self.daily_backfill)
        )
        start = max(
            last_day - dt.timedelta(days=1)
            if last_day
            else self.today - dt.timedelta(days=self.daily_backfill),
            created,
        )
        start = min(start, self.today)
        daily = self.client.campaign_daily_stats(c.id, start, self.today) if steps else []
        stats_from = max(
            last_day - dt.timedelta(days=1)
            if last_day
            else self.today - dt.timedelta(days=self.stats_backfill - 1),
            created,
        )
        stats_days: list[dt.date] = []
        step_stats: list[Any] = []
        if steps:
            d = min(stats_from, self.today)
            while d <= self.today:
                day_stats = self.client.campaign_stats(c.id, d, d).sequence_step_stats
                stats_days += [d] * len(day_stats)
                step_stats += day_stats
                d += dt.timedelta(days=1)
        wid = self.t.workspace_id
        batch.steps.add(
            steps,
            workspace_id=wid,
            campaign_id=c.id,
            step_order=[s.order for s in steps],
            synced_at=self.now,
        )
        batch.daily.add(
            daily, workspace_id=wid, campaign_id=c.id, replies=[r.replied for r in daily]
        )
        batch.step_stats.add(
            step_stats,
            workspace_id=wid,
            campaign_id=c.id,
            step_id=[s.sequence_step_id for s in step_stats],
            day=stats_days,
            opened=[s.unique_opens for s in step_stats],
            replied=[s.unique_replies for s in step_stats],
        )
        sender_ids = sorted({s.id for s in senders})
        batch.senders.add(
            sender_ids, workspace_id=wid, campaign_id=c.id, sender_email_id=sender_ids
        )
        if (c.status or "").lower() in SCHEDULED_STATUSES | {"draft"}:  # one that can send
            self.schedule_rows(batch, c.id)
        today = self.today.isoformat()
        batch.cursors[c.id] = json.dumps({"sig": sig, "last_day": today, "schedule_day": today})

    def write_details(self, batch: DetailBatch) -> None:
        """A batch of campaigns' details with their cursors, in one transaction."""
        if not batch:
            return
        wid = self.t.workspace_id
        ids = [int(i) for i in batch.cursors]
        steps = batch.steps.frame()
        daily = batch.daily.frame()
        step_stats = batch.step_stats.frame()
        senders = batch.senders.frame()
        schedules = batch.schedules.frame()
        cursors = {f"campaign:{cid}": value for cid, value in batch.cursors.items()}

        def write(cur) -> None:
            mirror.replace_campaign_details(
                cur,
                wid,
                ids,
                steps=steps,
                daily=daily,
                step_stats=step_stats,
                senders=senders,
                schedules=schedules,
            )
            set_cursors(cur, wid, cursors)

        self.write(write)
        self.add("schedules", schedules.height)
        self.add("sequence_steps", steps.height)
        self.add("daily_rows", daily.height)
        self.add("step_stats", step_stats.height)

    def replies(self) -> None:
        wid = self.t.workspace_id
        self.progress("replies")
        cursor = None if self.full else get_cursor(self.db, wid, "replies")
        top = int(cursor) if cursor else 0

        def tracked(items: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
            nonlocal top
            for item in items:
                top = max(top, to_int(item.get("id")))
                yield item

        new = reply_frame(
            tracked(self.client.iter_reply_items(stop_at_id=int(cursor) if cursor else None)),
            workspace_id=wid,
            synced_at=self.now,
        )
        # replies marked interested after they were synced: the newest interested page tells
        flipped = []
        if cursor:
            known_interested = {
                r[0]
                for r in self.db.rows(
                    "SELECT id FROM bison_replies WHERE workspace_id = ? AND interested", [wid]
                )
            }
            for item in self.client.iter_reply_items(status="interested", max_pages=1):
                rid = to_int(item.get("id"))
                if rid not in known_interested and rid <= int(cursor):
                    flipped.append(item)
        rows = (
            pl.concat([new, reply_frame(flipped, workspace_id=wid, synced_at=self.now)])
            if flipped
            else new
        )

        def write(cur) -> None:
            mirror.upsert_replies(cur, rows, interested=mirror.INTERESTED_SOURCE)
            set_cursor(cur, wid, "replies", str(top))

        self.write(write)
        self.add("replies", rows.height)

    def leads(self) -> None:
        wid = self.t.workspace_id
        self.progress("leads")
        cursor = None if self.full else get_cursor(self.db, wid, "leads")
        items = (
            self.client.iter_lead_items(updated_since=cursor)
            if cursor
            else self.client.iter_lead_items()
        )
        rows = lead_frame(items, workspace_id=wid, synced_at=self.now)

        def write(cur) -> None:
            mirror.upsert_leads(cur, rows)
            set_cursor(cur, wid, "leads", self.now.date().isoformat())

        self.write(write)
        self.add("leads", rows.height)

    def senders(self) -> None:
        wid = self.t.workspace_id
        self.progress("sending accounts")
        rows = [
            {
                "workspace_id": wid,
                "id": s.id,
                "email": s.email,
                "name": s.name,
                "type": s.type,
                "status": (s.status or "").lower() or None,
                "daily_limit": s.daily_limit,
                "warmup_enabled": s.warmup_enabled,
                "emails_sent_count": s.emails_sent_count,
                "total_replied_count": s.total_replied_count,
                "bounced_count": s.bounced_count,
                "unsubscribed_count": s.unsubscribed_count,
                "interested_leads_count": s.interested_leads_count,
                "created_at": s.created_at,
                "updated_at": s.updated_at,
                "synced_at": self.now,
            }
            for s in self.client.iter_sender_emails()
        ]
        self.write(lambda cur: mirror.upsert_senders(cur, rows))
        self.add("sender_emails", len(rows))

    def tags(self) -> None:
        wid = self.t.workspace_id
        tags = self.client.list_tags()
        tag_frame = pl.DataFrame(
            {
                "workspace_id": [wid] * len(tags),
                "id": [t.id for t in tags],
                "name": [t.name for t in tags],
                "is_default": [bool(getattr(t, "default", False)) for t in tags],
                "synced_at": [self.now] * len(tags),
            },
            schema=mirror.TAG_SCHEMA,
        )

        self.write(lambda cur: mirror.replace_tags(cur, wid, tag_frame))
        self.add("tags", tag_frame.height)


# -- the whole sync --------------------------------------------------------------------------


def targets(db: Database, workspace_ids: list[int] | None = None) -> tuple[list[Target], list[str]]:
    """Active workspaces to sync and, for the ones that cannot be, why."""
    where = (
        "active"
        if workspace_ids is None
        else f"id IN ({', '.join(str(int(i)) for i in workspace_ids) or 'NULL'})"
    )
    out, problems = [], []
    for wid, name in db.rows(f"SELECT id, name FROM workspaces WHERE {where} ORDER BY name"):
        token = secrets.get_secret(secrets.bison_token_name(wid))
        if token:
            out.append(Target(wid, name, token))
        else:
            problems.append(
                f"{name}: no Email Bison token (add it under Settings → Email Bison tokens)."
            )
    return out, problems


def default_client_factory(db: Database) -> ClientFactory:
    """Clients of the configured Email Bison instance (setting, or LEADOPS_BISON_URL).

    With a known instance limit the sync's pacer alone spaces the requests (a per-client
    limit would leave the budget unused once few workspaces are left); without one each client
    keeps its own limit too."""
    try:
        url = connections.require_bison_url(db)
    except connections.NotConfigured as exc:
        raise SyncError(str(exc)) from None
    if float(settings.get(db, "bison_rate_limit_per_sec")) > 0:
        return lambda token: BisonClient(url, token, rate_per_sec=None)
    return lambda token: BisonClient(url, token)


def instance_pacer(db: Database, concurrency: int) -> InstancePacer:
    """The pacer every request of one sync goes through (see the module docstring)."""
    limit = float(settings.get(db, "bison_rate_limit_per_sec"))
    return InstancePacer(limit or None, max_in_flight=max(1, concurrency))


def sync_bison(
    db: Database,
    *,
    workspace_ids: list[int] | None = None,
    full: bool = False,
    triggered_by: str = "system",
    client_factory: ClientFactory | None = None,
    concurrency: int | None = None,
    today: dt.date | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    pacer: InstancePacer | None = None,
) -> dict[str, Any]:
    """Sync the given workspaces (default: every active one with a token), a bounded number at once.

    Every request goes through `pacer` (default: one built from the settings for this sync),
    unless the client factory gave a client its own."""
    chosen, problems = targets(db, workspace_ids)
    if not chosen and len(problems) == 1:
        raise SyncError(problems[0])
    if not chosen and problems:
        raise SyncError(
            f"None of the {len(problems)} clients has an Email Bison token; add them under Settings → "
            "Email Bison tokens or mint them with `leadops bison tokens --generate`."
        )
    factory = client_factory
    if factory is None and chosen:  # the address is needed only when there is work
        factory = default_client_factory(db)
    ingested = _ingest_webhooks(db)
    today = today or dt.datetime.now(dt.UTC).date()
    lock = threading.Lock()
    n = concurrency or int(settings.get(db, "bison_sync_concurrency"))
    pacer = pacer or instance_pacer(db, MAX_AT_ONCE)
    gate = WorkspaceGate(pacer, n, MAX_AT_ONCE if concurrency is None else n)
    done = {"n": 0}
    results: dict[str, Any] = {}

    def one(t: Target) -> None:
        gate.enter()
        try:
            run(t)
        finally:
            gate.leave()

    def run(t: Target) -> None:
        run_id = db.scalar(
            "INSERT INTO sync_runs (source, workspace_id, status, triggered_by) VALUES (?, ?, 'running', ?) RETURNING id",
            [SOURCE, t.workspace_id, triggered_by],
        )
        started = time.perf_counter()
        client = factory(t.token)
        if client.api.pacer is None:
            client.api.pacer = pacer
        status, error, counts = "succeeded", None, {}
        try:
            ws = WorkspaceSync(db, t, client, full=full, today=today, write_lock=lock)
            counts = ws.run()
        except Exception as exc:  # one client's failure never stops the others
            status, error = "failed", redact(f"{type(exc).__name__}: {exc}")
            counts = locals().get("ws").counts if "ws" in locals() else {}
        finally:
            requests = client.request_count
            client.close()
        with lock, db.transaction() as cur:
            cur.execute(
                "UPDATE sync_runs SET finished_at = now(), status = ?, counts = ?, requests = ?, error = ? WHERE id = ?",
                [status, json.dumps(counts), requests, error, run_id],
            )
        results[t.name] = {
            "status": status,
            "counts": counts,
            "requests": requests,
            "error": error,
            "seconds": round(time.perf_counter() - started, 2),
        }
        done["n"] += 1
        if progress:
            progress(f"{t.name}: {status}", done["n"], len(chosen))

    with ThreadPoolExecutor(max_workers=gate.ceiling, thread_name_prefix="bison-sync") as pool:
        list(pool.map(one, chosen))
    failed = [name for name, r in results.items() if r["status"] != "succeeded"]
    return {
        "workspaces": results,
        "skipped": problems,
        "failed": failed,
        "webhooks": ingested,
        "workspace_ids": [t.workspace_id for t in chosen],
        "requests": sum(r["requests"] for r in results.values()),
        "pacing": {**pacer.snapshot(), "workspaces_at_once": gate.most},
    }


def _ingest_webhooks(db: Database) -> dict[str, int] | None:
    try:
        from core.bison import receiver as webhooks
    except ImportError:  # pragma: no cover - the receiver is optional
        return None
    return webhooks.ingest(db)
