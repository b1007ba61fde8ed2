"""Overview page: time of every query behind it vs the same aggregates as bare DuckDB SQL.

Run: .venv/bin/python benchmarks/overview.py   (builds the full demo dataset on first run)
Target: <= 1.5x the floor, and under 1 s in all.
"""

from __future__ import annotations

import datetime as dt
import sys

from common import AS_OF, Report, best_of, full_db

from core import overview
from core.platform.scope import Scope


def page_queries(db, scope: Scope) -> None:
    start = AS_OF - dt.timedelta(days=29)
    overview.client_board(db, scope, AS_OF)
    overview.agency_kpis(db, scope, AS_OF)
    overview.daily_series(db, scope, start, AS_OF)
    overview.funnel(db, scope, start, AS_OF)
    overview.contacts_by_stage(db, scope)
    overview.activity_feed(db, scope, 40)
    overview.data_freshness(db)


# The floor: the same numbers, each aggregate as one bare SQL statement fetched as raw tuples.
FLOOR_SQL = [
    # board + KPI cards: interested per client this month and the comparison windows
    "SELECT workspace_id, count(*) FILTER (WHERE interested_at >= DATE '2026-11-01'),"
    " count(*) FILTER (WHERE interested_at >= DATE '2026-10-01' AND interested_at < DATE '2026-10-24'),"
    " count(*) FILTER (WHERE interested_at >= DATE '2026-11-10') FROM interested_leads"
    " WHERE interested_at >= DATE '2026-10-01' GROUP BY 1",
    # board + KPI cards: sending per client this month, last month, this and last week
    "SELECT workspace_id, sum(sent) FILTER (WHERE day >= DATE '2026-11-01'), sum(replies) FILTER (WHERE day >= DATE '2026-11-01'),"
    " sum(sent) FILTER (WHERE day >= DATE '2026-11-16'), sum(sent) FILTER (WHERE day < DATE '2026-10-24'),"
    " sum(sent) FILTER (WHERE day >= DATE '2026-11-10' AND day < DATE '2026-11-17')"
    " FROM bison_campaign_daily WHERE day >= DATE '2026-10-01' GROUP BY 1",
    # board: next month's ready contacts; contacts by stage
    "SELECT workspace_id, status, count(*), count(*) FILTER (WHERE campaign_month = DATE '2026-12-01') FROM contacts GROUP BY ALL",
    "SELECT id, tier, monthly_target FROM workspaces WHERE active",
    # series
    "SELECT day, sum(sent), sum(replies) FROM bison_campaign_daily WHERE day BETWEEN DATE '2026-10-25' AND DATE '2026-11-23' GROUP BY 1",
    "SELECT interested_at::DATE, count(*) FROM interested_leads WHERE interested_at >= DATE '2026-10-25' GROUP BY 1",
    # funnel of the range's contacts
    "SELECT status, count(*) FROM contacts WHERE imported_at >= DATE '2026-10-25' GROUP BY 1",
    "SELECT count(DISTINCT (r.workspace_id, r.lead_id)) FROM bison_replies r JOIN bison_leads l"
    " ON l.workspace_id = r.workspace_id AND l.id = r.lead_id JOIN contacts c ON c.id = l.contact_id"
    " WHERE c.imported_at >= DATE '2026-10-25' AND NOT r.automated_reply",
    "SELECT count(*) FROM interested_leads i JOIN bison_leads l ON l.workspace_id = i.workspace_id"
    " AND CAST(l.id AS VARCHAR) = i.lead_key JOIN contacts c ON c.id = l.contact_id WHERE c.imported_at >= DATE '2026-10-25'",
    # activity feed and freshness
    "SELECT date_received, from_name, text_body FROM bison_replies WHERE interested ORDER BY date_received DESC LIMIT 40",
    "SELECT name, uploaded_at FROM batches WHERE uploaded_at IS NOT NULL ORDER BY uploaded_at DESC LIMIT 40",
    "SELECT source, finished_at, counts FROM sync_runs WHERE finished_at IS NOT NULL ORDER BY finished_at DESC LIMIT 40",
    "SELECT source, max(finished_at) FROM sync_runs WHERE status = 'succeeded' GROUP BY 1",
]


def floor(db) -> None:
    with db.cursor() as cur:
        for sql in FLOOR_SQL:
            cur.execute(sql).fetchall()


def main() -> int:
    db = full_db()
    rows = db.scalar("SELECT count(*) FROM contacts")
    print(
        f"# dataset: {rows:,} contacts, {db.scalar('SELECT count(*) FROM bison_replies'):,} replies, "
        f"{db.scalar('SELECT count(*) FROM workspaces')} clients"
    )
    report = Report()
    f = best_of(lambda: floor(db))
    t_all = best_of(lambda: page_queries(db, Scope.all()))
    t_one = best_of(lambda: page_queries(db, Scope.only([3])))
    report.ratio("overview.queries", t_all, f, 1.5)
    report.absolute("overview.total", t_all, 1.0)
    report.absolute("overview.one_client", t_one, 1.0)
    return report.finish()


if __name__ == "__main__":
    sys.exit(main())
