"""The Overview's numbers, checked against hand-built data."""

from __future__ import annotations

import datetime as dt

from core import overview
from core.accounts import workspaces
from core.accounts.workspaces import WorkspaceInput
from core.platform import settings
from core.platform.scope import Scope

AS_OF = dt.date(2026, 11, 15)  # day 15 of 30: expected = half the target


def _reply(db, wid, rid, lead, when, interested=True, automated=False):
    db.execute(
        "INSERT INTO bison_replies (workspace_id, id, lead_id, folder, interested, automated_reply, date_received, text_body)"
        " VALUES (?, ?, ?, 'Inbox', ?, ?, ?, 'x')",
        [
            wid,
            rid,
            lead,
            interested,
            automated,
            dt.datetime.combine(when, dt.time(12), tzinfo=dt.UTC),
        ],
    )


def test_pacing_bands_and_single_source_of_truth(empty_db):
    db = empty_db
    a = workspaces.create(db, WorkspaceInput(name="On Track"), actor="t")  # target 100, expected 50
    b = workspaces.create(db, WorkspaceInput(name="Warning"), actor="t")
    c = workspaces.create(db, WorkspaceInput(name="Danger"), actor="t")
    rid = 0
    for wid, n in ((a, 46), (b, 40), (c, 20)):
        for i in range(n):
            rid += 1
            _reply(db, wid, rid, lead=i, when=AS_OF - dt.timedelta(days=i % 10))
    # noise that must not count: a second interested reply from the same lead, an automated
    # reply, a not-interested reply, and last month's interested lead
    _reply(db, a, 9001, lead=0, when=AS_OF)
    _reply(db, a, 9002, lead=500, when=AS_OF, automated=True)
    _reply(db, a, 9003, lead=501, when=AS_OF, interested=False)
    _reply(db, a, 9004, lead=502, when=dt.date(2026, 10, 31))
    board = overview.client_board(db, Scope.all(), AS_OF)
    got = {
        r["client"]: (r["interested_mtd"], r["expected_by_today"], r["status"])
        for r in board.iter_rows(named=True)
    }
    assert got == {
        "On Track": (46, 50.0, "on track"),
        "Warning": (40, 50.0, "warning"),
        "Danger": (20, 50.0, "danger"),
    }
    assert board["client"].to_list() == ["Danger", "Warning", "On Track"]  # worst first
    settings.set_value(db, "kpi_danger_ratio", 0.3, actor="t")
    board = overview.client_board(db, Scope.all(), AS_OF)
    assert dict(zip(board["client"], board["status"], strict=True))["Danger"] == "warning"
    k = overview.agency_kpis(db, Scope.all(), AS_OF)
    assert k["mtd"]["interested"] == 106 and k["target"]["monthly_target"] == 300
    assert overview.agency_kpis(db, Scope.only([c]), AS_OF)["mtd"]["interested"] == 20


def test_scope_limits_every_query(demo_db):
    as_of = dt.date(2026, 11, 23)
    only = Scope.only([2])
    assert set(overview.client_board(demo_db, only, as_of)["workspace_id"]) == {2}
    assert overview.client_board(demo_db, Scope.only([]), as_of).height == 0
    total = overview.daily_series(demo_db, Scope.all(), as_of - dt.timedelta(days=30), as_of)[
        "sent"
    ].sum()
    part = overview.daily_series(demo_db, only, as_of - dt.timedelta(days=30), as_of)["sent"].sum()
    assert 0 < part < total
    f = overview.funnel(demo_db, only, as_of - dt.timedelta(days=120), as_of)
    counts = f["count"].to_list()
    assert counts[:4] == sorted(counts[:4], reverse=True) and counts[5] <= counts[4]
    feed = overview.activity_feed(demo_db, only, 20)
    names = set(feed["client"].drop_nulls())
    assert names == {demo_db.scalar("SELECT name FROM workspaces WHERE id = 2")}


def test_scope_never_widens():
    s = Scope.only([1, 2])
    assert s.narrow(2).key == (2,)
    assert s.narrow(3).key == ()
    assert Scope.all().narrow(None).key == ("all",)
    assert Scope.only([]).filter() == "false"
