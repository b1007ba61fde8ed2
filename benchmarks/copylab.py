"""Copy Lab: per-variant statistics for 50,000 step variants vs the bare per-variant aggregate.

Builds a synthetic store (20 clients, 12,500 sequence steps x 4 variants = 50,000 variants, 10
days of stats each = 500,000 bison_step_stats rows), then times `copylab.variant_stats` (the
aggregate plus Wilson intervals, z-tests, Holm correction, power and verdicts) against the floor:
one bare SQL query returning the same rows with the same descriptive columns (client and campaign
names, subject, body, per-variant counts) in display order, without labels or statistics. The
bare per-variant counts alone (no names, no copy, no order) are timed too, for information.

Run: .venv/bin/python benchmarks/copylab.py
Target: under 0.5 s, and <= 2x the floor.
"""

from __future__ import annotations

import datetime as dt
import sys
import tempfile
from pathlib import Path

import numpy as np
import polars as pl
from common import Report, best_of

from core.copylab import report as copylab
from core.platform import store
from core.platform.scope import Scope

CLIENTS = 20
STEPS = 12_500
VARIANTS = 4
DAYS = 10
END = dt.date(2026, 11, 22)

COUNTS_SQL = """
WITH t AS (
    SELECT workspace_id, step_id, sum(sent) AS sent, sum(replied) AS replies,
           sum(interested) AS interested
    FROM bison_step_stats GROUP BY ALL
)
SELECT s.workspace_id, s.campaign_id, s.step_order, s.id, t.sent, t.replies, t.interested
FROM bison_sequence_steps s LEFT JOIN t ON t.workspace_id = s.workspace_id AND t.step_id = s.id
"""

FLOOR_SQL = """
WITH t AS (
    SELECT workspace_id, step_id, sum(sent) AS sent, sum(replied) AS replies,
           sum(interested) AS interested, sum(bounced) AS bounced
    FROM bison_step_stats GROUP BY ALL
)
SELECT s.workspace_id, w.name AS client, s.campaign_id, c.name AS campaign, s.step_order, s.id,
       s.email_subject, s.email_body, t.sent, t.replies, t.interested, t.bounced
FROM bison_sequence_steps s
LEFT JOIN workspaces w ON w.id = s.workspace_id
LEFT JOIN bison_campaigns c ON c.workspace_id = s.workspace_id AND c.id = s.campaign_id
LEFT JOIN t ON t.workspace_id = s.workspace_id AND t.step_id = s.id
ORDER BY s.workspace_id, s.campaign_id, s.step_order, s.variant, s.id
"""


def build(db: store.Database, seed: int = 7) -> None:
    """12,500 steps of 4 variants over 20 clients and 2,500 campaigns, with daily stats."""
    rng = np.random.default_rng(seed)
    n = STEPS * VARIANTS
    step = np.repeat(np.arange(STEPS), VARIANTS)
    campaign = 1000 + step // 5
    ws = 1 + campaign % CLIENTS
    var = np.tile(np.arange(VARIANTS), STEPS)
    ids = np.arange(1, n + 1, dtype=np.int64)
    steps = pl.DataFrame(
        {
            "workspace_id": ws.astype(np.int32),
            "id": ids,
            "campaign_id": campaign.astype(np.int64),
            "step_order": (1 + step % 5).astype(np.int32),
            "email_subject": [f"Subject {i % 400} for {{FIRST_NAME}}" for i in range(n)],
            "email_body": "Hi {FIRST_NAME}, quick note.",
            "variant": var > 0,
            "variant_of_step_id": pl.Series(ids - var).set(pl.Series(var == 0), None),
        }
    )
    daily_sent = rng.integers(20, 400, size=(n, DAYS))
    rate = rng.uniform(0.005, 0.03, size=(n, 1))
    replied = rng.binomial(daily_sent, rate)
    interested = rng.binomial(replied, 0.2)
    stats = pl.DataFrame(
        {
            "workspace_id": np.repeat(ws, DAYS).astype(np.int32),
            "campaign_id": np.repeat(campaign, DAYS).astype(np.int64),
            "step_id": np.repeat(ids, DAYS),
            "day": np.tile(
                np.array([END - dt.timedelta(days=d) for d in range(DAYS)], dtype="datetime64[D]"),
                n,
            ),
            "sent": daily_sent.reshape(-1),
            "replied": replied.reshape(-1),
            "interested": interested.reshape(-1),
            "bounced": rng.binomial(daily_sent, 0.01).reshape(-1),
        }
    )
    workspaces = pl.DataFrame(
        {
            "id": np.arange(1, CLIENTS + 1, dtype=np.int32),
            "name": [f"Client {i}" for i in range(1, CLIENTS + 1)],
        }
    )
    camp_ids = np.unique(campaign)
    campaigns = pl.DataFrame(
        {
            "workspace_id": (1 + camp_ids % CLIENTS).astype(np.int32),
            "id": camp_ids.astype(np.int64),
            "name": [f"Campaign {c}" for c in camp_ids],
            "status": "active",
        }
    )
    with db.transaction() as cur:
        for table, frame in (
            ("workspaces", workspaces),
            ("bison_campaigns", campaigns),
            ("bison_sequence_steps", steps),
            ("bison_step_stats", stats),
        ):
            store.insert_frame(cur, table, frame)


def bare(db: store.Database, sql: str) -> None:
    with db.cursor() as cur:
        cur.sql(sql).pl()


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        db = store.Database(Path(tmp) / "copylab_bench.duckdb")
        db.migrate()
        build(db)
        variants = db.scalar("SELECT count(*) FROM bison_sequence_steps")
        rows = db.scalar("SELECT count(*) FROM bison_step_stats")
        print(f"# dataset: {variants:,} variants, {rows:,} step-stat rows, {CLIENTS} clients")
        out = copylab.variant_stats(db, Scope.all())
        assert out.height == variants, out.height
        report = Report()
        f = best_of(lambda: bare(db, FLOOR_SQL), 15)
        counts_only = best_of(lambda: bare(db, COUNTS_SQL), 15)
        t_all = best_of(lambda: copylab.variant_stats(db, Scope.all()), 15)
        t_one = best_of(lambda: copylab.variant_stats(db, Scope.only([3])))
        t_counts = best_of(lambda: copylab.variant_counts(db, Scope.all()))
        t_subj = best_of(lambda: copylab.subject_stats(db, Scope.all()))
        report.ratio("copylab.variant_stats", t_all, f, 2.0)
        report.absolute("copylab.variant_stats.total", t_all, 0.5)
        report.absolute("copylab.variant_stats.one_client", t_one, 0.5)
        report.info("copylab.floor.bare_counts (no names, no copy, unordered)", counts_only)
        report.info("copylab.variant_counts (labelled, sorted rows; no statistics)", t_counts)
        report.info("copylab.subject_stats", t_subj)
        db.close()
        return report.finish()


if __name__ == "__main__":
    sys.exit(main())
