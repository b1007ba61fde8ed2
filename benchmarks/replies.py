"""Replies, client leads and CRM delivery.

1. The queries behind the Replies and Client leads pages on the full demo dataset (≈100k
   replies) vs the same aggregates as bare SQL on the mirror tables.
2. Classifying every reply of the full dataset (rule-based, no network).
3. Delivering 300 new leads to a fake HubSpot served on 127.0.0.1 (contact upsert + note each,
   every attempt logged, one transaction per lead) vs replaying the same 600 requests with a
   bare httpx loop that commits one row per lead (the least a durable delivery record costs). The client-side HubSpot rate limit is lifted for this measurement; with the
   default 90 requests per 10 s, 600 requests take about a minute by design.

Run: .venv/bin/python benchmarks/replies.py   (builds the full demo dataset on first run)
Targets: page queries <= 2.5x the floor and < 1 s; classification < 10 s; delivery <= 1.5x the floor.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import httpx
from common import Report, best_of, full_db

from core.accounts import workspaces
from core.accounts.access import User
from core.accounts.workspaces import WorkspaceInput
from core.demo.sandbox.serving import serve
from core.platform.scope import Scope
from core.platform.store import Database
from core.replies import client_leads, crm_config, crm_delivery, crm_views
from core.replies import inbox as replies
from tests.fakes.crm_server import TOKEN, CrmFake

LEADS = 300


def page_queries(db: Database, scope: Scope) -> None:
    replies.inbox(db, scope)
    replies.inbox(db, scope, category="interested", unread=True)
    replies.inbox_count(db, scope)  # the page's total, unread and not-handled counts
    replies.stats(db, scope, by="client")
    replies.stats(db, scope, by="campaign")
    client_leads.stage_counts(db, scope)
    client_leads.list_leads(db, scope)
    client_leads.funnel(db, scope)
    client_leads.counts_by_client(db, scope)
    crm_views.health(db, scope)


FLOOR_SQL = [
    "SELECT r.id, r.date_received, r.from_name, r.subject, r.text_body, x.category, r.interested"
    " FROM bison_replies r LEFT JOIN reply_labels x ON x.workspace_id = r.workspace_id AND x.reply_id = r.id"
    " ORDER BY r.date_received DESC LIMIT 500",
    "SELECT r.id FROM bison_replies r JOIN reply_labels x ON x.workspace_id = r.workspace_id AND x.reply_id = r.id"
    " WHERE x.category = 'interested' AND NOT r.read ORDER BY r.date_received DESC LIMIT 500",
    "SELECT count(*), count(*) FILTER (WHERE r.interested), count(*) FILTER (WHERE NOT r.read),"
    " count(*) FILTER (WHERE x.handled_at IS NULL) FROM bison_replies r"
    " LEFT JOIN reply_labels x ON x.workspace_id = r.workspace_id AND x.reply_id = r.id",
    "SELECT r.workspace_id, x.category, r.interested, count(*) FROM bison_replies r"
    " JOIN reply_labels x ON x.workspace_id = r.workspace_id AND x.reply_id = r.id GROUP BY ALL",
    "SELECT r.workspace_id, r.campaign_id, x.category, r.interested, count(*) FROM bison_replies r"
    " JOIN reply_labels x ON x.workspace_id = r.workspace_id AND x.reply_id = r.id GROUP BY ALL",
    "SELECT stage, count(*) FROM client_leads GROUP BY 1",
    "SELECT c.*, r.n FROM client_leads c LEFT JOIN (SELECT workspace_id, lower(from_email) e, count(*) n"
    " FROM bison_replies GROUP BY ALL) r ON r.workspace_id = c.workspace_id AND r.e = c.email",
    "SELECT workspace_id, stage, count(*) FROM client_leads GROUP BY ALL",
]


def floor(db: Database) -> None:
    with db.cursor() as cur:
        for sql in FLOOR_SQL:
            cur.execute(sql).fetchall()


def delivery_bench(report: Report) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="leadops-crm-bench-"))
    os.environ["LEADOPS_KEYRING"] = "cryptfile"
    os.environ["LEADOPS_KEYRING_FILE"] = str(tmp / "secrets.cfg")
    os.environ["LEADOPS_KEYRING_PASSWORD"] = "bench"
    # measure our overhead, not HubSpot's 10-second budget (90 requests per 10 s by default)
    os.environ["LEADOPS_HUBSPOT_RATE_PER_10S"] = "1000000"
    os.environ["LEADOPS_ALLOW_PRIVATE_URLS"] = "1"  # the fake HubSpot listens on 127.0.0.1
    db = Database(tmp / "crm.duckdb")
    db.migrate()
    try:
        wid = workspaces.create(db, WorkspaceInput(name="Bench Agency"), actor="bench")
        now = dt.datetime.now(dt.UTC)
        with db.transaction() as cur:
            cur.executemany(
                "INSERT INTO bison_replies (workspace_id, id, from_name, from_email, subject, text_body,"
                " interested, date_received) VALUES (?, ?, ?, ?, 'Re: your renewal', 'Yes please send a quote.', true, ?)",
                [(wid, i, f"Lead {i}", f"lead{i}@example.com", now) for i in range(1, LEADS + 1)],
            )
        admin = User("bench@agency", "admin")
        fake = CrmFake()
        with serve(fake) as url:
            crm_config.set_config(db, admin, wid, "hubspot", url=url, token=TOKEN)
            client_leads.refresh(db)
            crm_delivery.enqueue(db)
            fake.requests.clear()
            counts = crm_delivery.deliver_pending(db)  # the first delivery creates the contacts
            assert counts["delivered"] == LEADS, counts

            def ours() -> None:
                # the same leads again as if never delivered (the contacts stay: upsert updates them)
                db.execute(
                    "UPDATE crm_deliveries SET status = 'pending', attempts = 0, crm_note_id = NULL,"
                    " delivered_at = NULL, next_attempt_at = now() - INTERVAL 1 MINUTE"
                )
                assert crm_delivery.deliver_pending(db)["delivered"] == LEADS

            took = best_of(ours, repeat=3)
            # the floor: the same requests with a bare client, each response parsed as JSON
            bodies = [
                (
                    "crm/v3/objects/contacts/batch/upsert",
                    {
                        "inputs": [
                            {"idProperty": "email", "id": f"lead{i}@example.com", "properties": {}}
                        ]
                    },
                )
                for i in range(1, LEADS + 1)
            ]
            ids = [c["id"] for c in fake.contacts.values()]
            notes = [
                (
                    "crm/v3/objects/notes",
                    {
                        "properties": {"hs_timestamp": now.isoformat(), "hs_note_body": "x" * 200},
                        "associations": [
                            {
                                "to": {"id": cid},
                                "types": [
                                    {
                                        "associationCategory": "HUBSPOT_DEFINED",
                                        "associationTypeId": 202,
                                    }
                                ],
                            }
                        ],
                    },
                )
                for cid in ids
            ]

            keys = [
                r[0] for r in db.rows("SELECT delivery_key FROM crm_deliveries ORDER BY created_at")
            ]
            db.execute(
                "CREATE TABLE bench_deliveries (delivery_key VARCHAR PRIMARY KEY, status VARCHAR,"
                " attempts INTEGER, next_attempt_at TIMESTAMPTZ, last_error VARCHAR, crm_contact_id VARCHAR,"
                " crm_note_id VARCHAR, delivered_at TIMESTAMPTZ)"
            )
            db.execute(
                "INSERT INTO bench_deliveries (delivery_key, attempts) SELECT delivery_key, 0 FROM crm_deliveries"
            )
            sql_attempts = (
                "INSERT INTO crm_attempts (delivery_key, workspace_id, attempted_at, method, path,"
                " status_code, ok, duration_ms, response_excerpt) VALUES"
                " (?, ?, ?, 'POST', ?, ?, true, 1, ?), (?, ?, ?, 'POST', ?, ?, true, 1, ?)"
            )
            sql_delivery = (
                "UPDATE bench_deliveries SET status = 'delivered', attempts = attempts + 1,"
                " next_attempt_at = now(), crm_contact_id = ?, crm_note_id = ?, delivered_at = now()"
                " WHERE delivery_key = ?"
            )

            def bare() -> None:
                headers = {"Authorization": f"Bearer {TOKEN}"}
                with httpx.Client(base_url=url + "/", headers=headers) as c:
                    for key, (p1, b1), (p2, b2) in zip(keys, bodies, notes, strict=True):
                        t1 = dt.datetime.now(dt.UTC)
                        r1 = c.post(p1, json=b1)
                        r1.json()
                        t2 = dt.datetime.now(dt.UTC)
                        r2 = c.post(p2, json=b2)
                        note_id = r2.json()["id"]
                        # the same durable record: the delivery row and its attempts, one transaction
                        with db.transaction() as cur:
                            cur.execute(
                                sql_attempts,
                                [key, wid, t1, p1, r1.status_code, r1.text[:300]]
                                + [key, wid, t2, p2, r2.status_code, r2.text[:300]],
                            )
                            cur.execute(sql_delivery, [b1["inputs"][0]["id"], note_id, key])

            f = best_of(bare, repeat=3)
        report.ratio("replies.crm_delivery", took, f, 1.5)
        report.info("replies.crm_delivery_per_lead_ms", took / LEADS * 1000, "ms")
    finally:
        db.close()
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> int:
    db = full_db()
    n = db.scalar("SELECT count(*) FROM bison_replies")
    print(
        f"# dataset: {n:,} replies, {db.scalar('SELECT count(*) FROM client_leads'):,} client leads"
    )
    report = Report()
    f = best_of(lambda: floor(db))
    t_all = best_of(lambda: page_queries(db, Scope.all()))
    t_one = best_of(lambda: page_queries(db, Scope.only([3])))
    report.ratio("replies.page_queries", t_all, f, 2.5)
    report.absolute("replies.page_total", t_all, 1.0)
    report.absolute("replies.page_one_client", t_one, 1.0)
    with db.transaction() as cur:
        cur.execute("DELETE FROM reply_labels")
    t = time.perf_counter()
    labelled = replies.classify_pending(db)
    report.absolute(f"replies.classify_{labelled}", time.perf_counter() - t, 10.0)
    db.close()
    delivery_bench(report)
    return report.finish()


if __name__ == "__main__":
    sys.exit(main())
