"""A client user sees their own client and nothing else, on every page their role opens.

Every query a client user's pages call (the router's sidebar and footer, Overview, Campaigns,
and the Replies and Client leads pages their role also has) runs with the client's scope on the
demo data, with a few hostile rows added (another client with the same lead, an agency-wide
alert). Two checks: every `client` / `workspace_id` column names only that client (an
agency-wide row, such as a Stripe sync's customer and invoice counts, has none and fails), and
every result is exactly what it is when the database holds nothing but that client (every other
client's rows and every agency-wide row deleted), which also catches a leak hidden in a count.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from core import overview
from core.accounts import workspaces
from core.accounts.access import User
from core.campaigns import campaigns, periods, preflight
from core.guardrails import alerts as guardrails
from core.replies import client_leads, crm_views
from core.replies import inbox as replies

ROOT = Path(__file__).resolve().parent.parent
AS_OF = dt.date(2026, 11, 23)
ME = 4  # the client user's workspace
OTHER = 5  # another client
SHARED = "shared.person@example.com"  # a lead of both (added by _add_hostile_rows)

# What the scanned pages call that is not a read of client rows.
NOT_QUERIES = {
    "campaigns.campaign_action",  # a write: refuses another client (test_access)
    "campaigns.set_campaign_schedule",  # a write
    "campaigns.scheduled_emails",  # read live from Email Bison; refuses another client (below)
    "campaigns.describe_schedule",  # formats a schedule already read
    "jobs.run",  # Load demo data: admin only
    "workspaces.none_yet",  # behind Load demo data: admin only
    "overview.month_bounds",  # date arithmetic
    "preflight.blocking_failures",  # filters the preflight's items
}


def _page_calls(path: Path) -> set[str]:
    """`module.function` of every core call a page makes: through ui.cached or with ui.db()."""
    text = path.read_text()
    cached = re.findall(r"ui\.cached\(\s*(\w+\.\w+)", text)
    direct = re.findall(r"\b(\w+\.\w+)\(\s*(?:ui\.db\(\)|database)\b", text)
    plain = re.findall(r"\b((?:overview|campaigns|preflight)\.\w+)\(", text)
    return {c for c in [*cached, *direct, *plain] if not c.startswith(("st.", "ui.", "dt."))}


def _picks(db) -> dict[str, list[tuple[int, int]]]:
    """Campaigns and replies to open: three of the client's own and one of another client's."""
    sql = "SELECT workspace_id, id FROM {} WHERE workspace_id = ? {} ORDER BY id LIMIT ?"
    return {
        "campaigns": db.rows(sql.format("bison_campaigns", ""), [ME, 3])
        + db.rows(sql.format("bison_campaigns", ""), [OTHER, 1]),
        "replies": db.rows(sql.format("bison_replies", "AND interested"), [ME, 3])
        + db.rows(sql.format("bison_replies", "AND interested"), [OTHER, 1]),
    }


def client_page_queries(db, user: User, as_of: dt.date, picks: dict) -> dict[str, Any]:
    """Everything a client user's pages read, by `module.function` (plus a label)."""
    sc = user.scope
    start = as_of - dt.timedelta(days=29)
    out: dict[str, Any] = {
        # the router: sidebar badge and client caption, data-freshness footer
        "guardrails.open_count": guardrails.open_count(db, sc),
        "workspaces.labels": workspaces.labels(db, sc),
        "overview.data_freshness": overview.data_freshness(db, sc),
        # Overview
        "overview.client_board": overview.client_board(db, sc, as_of),
        "overview.guided_board": overview.guided_board(db, sc, as_of),
        "overview.agency_kpis": overview.agency_kpis(db, sc, as_of),
        "overview.daily_series": overview.daily_series(db, sc, start, as_of),
        "overview.funnel": overview.funnel(db, sc, start, as_of),
        "overview.contacts_by_stage": overview.contacts_by_stage(db, sc),
        "overview.activity_feed": overview.activity_feed(db, sc, 40),
        # Campaigns
        "campaigns.campaign_statuses": campaigns.campaign_statuses(db, sc),
        "campaigns.list_campaigns": campaigns.list_campaigns(db, sc),
        "campaigns.list_campaigns active": campaigns.list_campaigns(db, sc, status="active"),
        "periods.campaign_rates": periods.campaign_rates(db, sc, start, as_of),
        # Replies
        "replies.campaigns": replies.campaigns(db, sc),
        "replies.inbox": replies.inbox(db, sc),
        "replies.stats client": replies.stats(db, sc, by="client"),
        "replies.stats campaign": replies.stats(db, sc, by="campaign"),
        # Client leads
        "client_leads.stage_counts": client_leads.stage_counts(db, sc),
        "client_leads.list_leads": client_leads.list_leads(db, sc),
        "client_leads.funnel": client_leads.funnel(db, sc),
        "client_leads.counts_by_client": client_leads.counts_by_client(db, sc),
        "crm_views.health": crm_views.health(db, sc),
        "crm_views.deliveries": crm_views.deliveries(db, sc),
        "crm_views.attempts_log": crm_views.attempts_log(db, sc),
    }
    # A campaign, a lead and a reply selected on their pages: the client's own, and crafted
    # calls for another client's.
    for wid, cid in picks["campaigns"]:
        key = f"{wid}:{cid}"
        out[f"campaigns.campaign_schedule {key}"] = campaigns.campaign_schedule(db, sc, wid, cid)
        out[f"campaigns.campaign_daily {key}"] = campaigns.campaign_daily(
            db, sc, wid, cid, as_of - dt.timedelta(days=60), as_of
        )
        out[f"campaigns.campaign_steps {key}"] = campaigns.campaign_steps(db, sc, wid, cid)
        out[f"campaigns.campaign_senders {key}"] = campaigns.campaign_senders(db, sc, wid, cid)
        out[f"preflight.preflight {key}"] = preflight.preflight(db, sc, wid, cid)
    for wid in (ME, OTHER):
        out[f"client_leads.timeline {wid}"] = client_leads.timeline(db, sc, wid, SHARED)
        out[f"client_leads.notes {wid}"] = client_leads.notes(db, sc, wid, SHARED)
    for wid, rid in picks["replies"]:
        out[f"replies.conversation {wid}:{rid}"] = replies.conversation(db, sc, wid, rid)
    return out


def _comparable(value: Any) -> Any:
    if isinstance(value, pl.DataFrame):
        rows = [tuple(str(v) for v in r) for r in value.iter_rows()]
        return (tuple(value.columns), sorted(rows))
    if isinstance(value, dict):
        return {k: _comparable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_comparable(v) for v in value]
    if dataclasses.is_dataclass(value):
        return dataclasses.astuple(value)
    return value


def _frames(value: Any):
    if isinstance(value, pl.DataFrame):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _frames(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _frames(v)


def _add_hostile_rows(db) -> None:
    """Another client with one of our leads (and a private note on it), an agency-wide open
    alert, and an agency-wide Stripe sync with its customer and invoice counts (the demo data
    has one such run too)."""
    with db.transaction() as cur:
        cur.execute(
            "UPDATE client_leads SET email = ? WHERE workspace_id = ?"
            " AND email = (SELECT min(email) FROM client_leads WHERE workspace_id = ?)",
            [SHARED, ME, ME],
        )
        cur.execute(
            "INSERT INTO client_leads (workspace_id, email, first_name, first_interested_at)"
            " VALUES (?, ?, 'Shared', now())",
            [OTHER, SHARED],
        )
        cur.execute(
            "INSERT INTO client_lead_notes (workspace_id, email, body, created_by)"
            " VALUES (?, ?, 'their private note', 'them@other.example')",
            [OTHER, SHARED],
        )
        cur.execute(
            "INSERT INTO alerts (alert_key, check_name, severity, subject_kind, title, explanation,"
            " first_seen, last_seen) VALUES ('agency:test', 'sync_stale', 'danger', 'source',"
            " 'Stripe sync failing', 'agency-wide', now(), now())"
        )
        cur.execute(
            "INSERT INTO sync_runs (source, started_at, finished_at, status, counts, requests,"
            " triggered_by) VALUES ('stripe', now(), now(), 'succeeded', ?, 3, 'test')",
            ['{"customers": 99, "invoices": 990}'],
        )


def _keep_only(db, workspace_id: int) -> None:
    """Delete every other client's rows and every agency-wide row (no workspace)."""
    tables = [
        r[0]
        for r in db.rows(
            "SELECT c.table_name FROM information_schema.columns c JOIN information_schema.tables t"
            " USING (table_schema, table_name) WHERE c.column_name = 'workspace_id'"
            " AND t.table_type = 'BASE TABLE' AND c.table_schema = 'main' ORDER BY 1"
        )
    ]
    assert {"sync_runs", "client_leads", "bison_campaigns", "contacts", "alerts"} <= set(tables)
    with db.transaction() as cur:
        for table in tables:
            cur.execute(
                f"DELETE FROM {table} WHERE workspace_id IS DISTINCT FROM ?", [workspace_id]
            )
        cur.execute("DELETE FROM workspaces WHERE id <> ?", [workspace_id])


def test_every_query_of_a_client_users_pages_shows_only_their_client(demo_db):
    db = demo_db
    _add_hostile_rows(db)
    me = User("agent@client.example", "client", workspace_id=ME)
    name = db.scalar("SELECT name FROM workspaces WHERE id = ?", [ME])
    picks = _picks(db)
    seen = client_page_queries(db, me, AS_OF, picks)

    leaks = []
    for label, value in seen.items():
        for frame in _frames(value):
            if "workspace_id" in frame.columns and set(frame["workspace_id"]) - {ME}:
                leaks.append(f"{label}: workspace_id {sorted(set(frame['workspace_id']) - {ME})}")
            if "client" in frame.columns and set(frame["client"]) - {name}:
                leaks.append(f"{label}: client {sorted(set(frame['client']) - {name}, key=str)}")
    assert not leaks, leaks
    assert seen["overview.client_board"].height == 1  # the check had rows to look at
    assert seen["overview.activity_feed"].height > 0
    assert seen["campaigns.list_campaigns"].height > 0
    assert seen["client_leads.list_leads"].height > 0

    _keep_only(db, ME)
    alone = client_page_queries(db, me, AS_OF, picks)
    assert alone.keys() == seen.keys()
    differ = [k for k in seen if _comparable(seen[k]) != _comparable(alone[k])]
    assert not differ, differ


def test_the_check_covers_every_query_the_pages_call():
    """A new query on the router, Overview or Campaigns must be added to client_page_queries."""
    source = Path(__file__).read_text()
    calls = set()
    for page in ("streamlit_app.py", "pages/overview.py", "pages/campaigns.py"):
        calls |= _page_calls(ROOT / page)
    assert {"overview.activity_feed", "campaigns.campaign_steps", "preflight.preflight"} <= calls
    missing = sorted(c for c in calls - NOT_QUERIES if f'"{c}' not in source)
    assert not missing, f"the pages call {missing}: add them to client_page_queries"


def test_a_stripe_sync_is_not_in_a_clients_activity_feed_or_footer(demo_db):
    me = User("agent@client.example", "client", workspace_id=ME)
    feed = overview.activity_feed(demo_db, me.scope, 200)
    assert not feed.filter(pl.col("kind").str.starts_with("stripe")).height
    assert feed["client"].null_count() == 0
    assert "stripe" not in overview.data_freshness(demo_db, me.scope)["source"].to_list()
    # staff still see the agency-wide runs
    staff = overview.activity_feed(demo_db, User("ops@agency.example", "operator").scope, 200)
    assert staff.filter(pl.col("kind").str.starts_with("stripe")).height == 1
    assert "stripe" in overview.data_freshness(demo_db)["source"].to_list()


def test_other_clients_leads_are_not_counted_for_a_client(demo_db):
    _add_hostile_rows(demo_db)
    me = User("agent@client.example", "client", workspace_id=ME)
    mine = client_leads.list_leads(demo_db, me.scope, search="shared.person")
    assert mine.height == 1 and mine["other_clients"].to_list() == [0]
    assert mine["notes"].to_list() == [0]
    staff = client_leads.list_leads(demo_db, User("o@agency.example", "operator").scope)
    shared = staff.filter(pl.col("email") == "shared.person@example.com")
    assert shared["other_clients"].to_list() == [1, 1]


def test_a_client_cannot_read_another_clients_scheduled_emails(demo_db):
    me = User("agent@client.example", "client", workspace_id=ME)
    cid = demo_db.scalar("SELECT min(id) FROM bison_campaigns WHERE workspace_id = ?", [OTHER])
    with pytest.raises(campaigns.CampaignActionError, match="cannot see"):
        campaigns.scheduled_emails(demo_db, me, OTHER, cid)
