"""Territory rules: distances and filters, exclusive and shared assignment, conflicts, exact undo,
coverage, search, exports and access."""

from __future__ import annotations

import io
import json
import math

import pytest

from core.accounts import access
from core.accounts.access import User
from core.platform import settings
from core.platform.scope import Scope
from core.territories import assignments as territories
from core.territories.geo import (
    TerritoryError,
    ZipFilter,
    haversine_miles,
    resolve_center,
    zip_table,
)
from core.territories.reports import (
    client_coverage,
    export_assignments,
    owner_lookup,
    search_zips,
    state_coverage,
)

ADMIN = User(email="ops@agency.test", role="admin")
OPERATOR = User(email="op@agency.test", role="operator")
VIEWER = User(email="viewer@agency.test", role="viewer")


@pytest.fixture
def db(empty_db):
    empty_db.execute(
        "INSERT INTO workspaces (id, name) VALUES (1, 'Alpha Agency'), (2, 'Bravo Insurance'),"
        " (3, '=Formula Agency')"
    )
    return empty_db


def owners(db, zips):
    return sorted(
        db.rows(
            "SELECT zip, workspace_id FROM zip_assignments WHERE zip IN (SELECT unnest(?))",
            [list(zips)],
        )
    )


def all_rows(db):
    return sorted(
        db.rows("SELECT zip, workspace_id, assigned_at, assigned_by FROM zip_assignments")
    )


# -- distances and filters ------------------------------------------------------------------------


def test_haversine_matches_known_distances():
    # Nashville BNA to Los Angeles LAX, the textbook haversine example: 2,886.4 km = 1,793.6 mi.
    assert haversine_miles(36.12, -86.67, 33.94, -118.40) == pytest.approx(1793.6, abs=0.5)
    # One degree of latitude on the mean-radius sphere: 69.09 miles.
    assert haversine_miles(40.0, -100.0, 41.0, -100.0) == pytest.approx(69.09, abs=0.01)
    # New York City Hall to Los Angeles City Hall: about 2,445 miles.
    assert haversine_miles(40.7128, -74.0060, 34.0522, -118.2437) == pytest.approx(2445.6, abs=1)
    assert haversine_miles(30.0, -90.0, 30.0, -90.0) == 0.0


def test_radius_filter_keeps_exactly_the_zips_within_the_distance(db):
    center = resolve_center(db, "37214")  # Nashville airport area
    got = zip_table(db, Scope.all(), ZipFilter(center="37214", radius_miles=30))
    every = db.rows(
        "SELECT zip, lat, lon FROM us_zip_codes WHERE lat IS NOT NULL AND NOT (lat = 0 AND lon = 0)"
    )
    expected = {
        z for z, lat, lon in every if haversine_miles(center.lat, center.lon, lat, lon) <= 30
    }
    assert set(got["zip"]) == expected
    assert 30 < len(expected) < 400
    assert "37214" in expected and "90045" not in expected
    # Known: downtown Nashville (37219) is about 8 miles from 37214; Murfreesboro (37130) ~ 27.
    one = haversine_miles(
        center.lat, center.lon, *db.rows("SELECT lat, lon FROM us_zip_codes WHERE zip = '37219'")[0]
    )
    assert 5 < one < 11


def test_center_by_city_and_clear_errors(db):
    austin = resolve_center(db, "Austin, TX")
    assert austin.label == "Austin, TX" and 30.0 < austin.lat < 30.6
    assert resolve_center(db, "austin tx").label == "Austin, TX"
    with pytest.raises(TerritoryError, match="add the state"):
        resolve_center(db, "Springfield")
    with pytest.raises(TerritoryError, match="no ZIP code or city matches"):
        resolve_center(db, "Atlantis, ZZ")
    with pytest.raises(TerritoryError, match="Center"):
        zip_table(db, Scope.all(), ZipFilter(center="99999", radius_miles=10))


def test_state_county_owner_and_unassigned_filters(db):
    territories.assign(db, ADMIN, 1, ["78701", "78702"])
    tx = zip_table(db, Scope.all(), ZipFilter(states=("TX",), county="Travis"))
    assert set(tx["state"]) == {"TX"} and all("Travis" in c for c in tx["county"])
    mine = zip_table(db, Scope.all(), ZipFilter(owner_ids=(1,)))
    assert sorted(mine["zip"]) == ["78701", "78702"] and set(mine["owner"]) == {"Alpha Agency"}
    free = zip_table(
        db, Scope.all(), ZipFilter(states=("TX",), county="Travis", only_unassigned=True)
    )
    assert free.height == tx.height - 2 and "78701" not in set(free["zip"])


def test_zip_normalisation():
    n = territories.normalize_zip
    assert n("78701") == "78701" and n(" 78701 ") == "78701"
    assert n("501") == "00501" and n("1001") == "01001" and n("1001.0") == "01001"
    assert n("78701-1234") == "78701" and n("'02134") == "02134"
    assert n("7870") == "07870" and n("12a45") is None and n("") is None and n("123456") is None
    zips, bad = territories.parse_zip_list("78701, 78702;78701\n1001 hello 9")
    assert zips == ["78701", "78702", "01001"] and bad == ["hello", "9"]


# -- assignment rules -----------------------------------------------------------------------------


def test_exclusive_assignment_conflicts_are_left_out_unless_taken(db):
    r = territories.assign(db, ADMIN, 1, ["78701", "78702", "78703"])
    assert (r.added, r.removed) == (3, 0)
    p = territories.preview_assign(db, 2, ["78703", "78704", "99999", "78701"])
    assert p.counts["new"] == 1 and p.counts["conflict"] == 2 and p.counts["unknown"] == 1
    assert set(p.of("conflict")["owners"]) == {"Alpha Agency"}
    assert p.will_change() == 1 and p.will_change(take_conflicts=True) == 3
    r = territories.assign(db, ADMIN, 2, ["78703", "78704", "99999"])
    assert (r.added, r.removed) == (1, 0) and r.skipped == {
        "already": 0,
        "unknown": 1,
        "conflict": 1,
    }
    assert owners(db, ["78703", "78704"]) == [("78703", 1), ("78704", 2)]
    r = territories.assign(db, OPERATOR, 2, ["78703"], take_conflicts=True)
    assert (r.added, r.removed) == (1, 1)
    assert owners(db, ["78703"]) == [("78703", 2)]  # moved, never owned twice
    assert territories.preview_assign(db, 2, ["78703"]).counts["already"] == 1


def test_shared_zips_list_conflicts_and_add_beside_the_owner(db):
    settings.set_value(db, "territory_shared_zips", True, actor="t")
    territories.assign(db, ADMIN, 1, ["78701"])
    p = territories.preview_assign(db, 2, ["78701", "78702"])
    assert p.shared and p.counts["conflict"] == 1 and p.will_change() == 2
    r = territories.assign(db, ADMIN, 2, ["78701", "78702"])
    assert (r.added, r.removed) == (2, 0)
    assert owners(db, ["78701"]) == [("78701", 1), ("78701", 2)]
    shown = zip_table(db, Scope.all(), ZipFilter(owner_ids=(1,)))
    assert shown.row(0, named=True)["owners"] == 2
    assert shown.row(0, named=True)["owner"] == "Alpha Agency, Bravo Insurance"


def test_one_audit_entry_per_change_set_and_exact_undo(db):
    territories.assign(db, ADMIN, 1, ["78701", "78702"])
    before = all_rows(db)
    audits = db.scalar("SELECT count(*) FROM audit_log WHERE action LIKE 'territory.%'")
    big = [
        z
        for (z,) in db.rows(
            "SELECT zip FROM us_zip_codes WHERE state = 'TX' ORDER BY zip LIMIT 300"
        )
    ]
    r = territories.assign(db, OPERATOR, 2, big + ["78701"], take_conflicts=True)
    assert r.added == 301 and r.removed == 1
    assert db.scalar("SELECT count(*) FROM audit_log WHERE action LIKE 'territory.%'") == audits + 1
    entry = json.loads(
        db.scalar(
            "SELECT after FROM audit_log WHERE action = 'territory.assign' ORDER BY id DESC LIMIT 1"
        )
    )
    assert entry["added"] == 301 and entry["client"] == "Bravo Insurance"
    last = territories.last_change(db)
    assert last["id"] == r.change_id and "taken from other clients" in last["summary"]

    undone = territories.undo_last(db, OPERATOR)
    assert undone.change_id == r.change_id
    assert all_rows(db) == before  # including the original assigned_at and assigned_by
    assert db.scalar("SELECT count(*) FROM audit_log WHERE action = 'territory.undo'") == 1
    # the next undo reverts the change before it; then there is nothing left to undo
    territories.undo_last(db, ADMIN)
    assert all_rows(db) == []
    assert territories.undo_last(db, ADMIN) is None
    hist = territories.history(db, Scope.all())
    assert hist["undone_at"].null_count() == 0 and hist.height == 2


def test_unassign_and_bulk_delete_by_client_undo_exactly(db):
    territories.assign(db, ADMIN, 1, ["78701", "78702", "78703"])
    territories.assign(db, ADMIN, 2, ["78704", "78705"])
    before = all_rows(db)
    p = territories.preview_unassign(db, ["78701", "78704", "78710"], workspace_id=1)
    assert p.counts["remove"] == 1 and p.counts["not_owned"] == 2
    r = territories.unassign(db, ADMIN, ["78701", "78704"])  # from every owner
    assert r.removed == 2
    territories.undo_last(db, ADMIN)
    assert all_rows(db) == before
    r = territories.unassign_client(db, ADMIN, 1)
    assert r.removed == 3 and owners(db, ["78701", "78702", "78703"]) == []
    assert owners(db, ["78704", "78705"]) == [("78704", 2), ("78705", 2)]
    territories.undo_last(db, ADMIN)
    assert all_rows(db) == before
    assert territories.unassign(db, ADMIN, ["78790"]).change_id is None  # nothing to remove


def test_writes_need_the_manage_action_and_the_clients_scope(db):
    with pytest.raises(access.PermissionDenied):
        territories.assign(db, VIEWER, 1, ["78701"])
    with pytest.raises(access.PermissionDenied):
        territories.undo_last(db, VIEWER)
    client = User(email="c@client.test", role="client", workspace_id=1)
    with pytest.raises(access.PermissionDenied):
        territories.unassign(db, client, ["78701"], workspace_id=1)
    with pytest.raises(TerritoryError, match="no client"):
        territories.assign(db, ADMIN, 99, ["78701"])
    assert all_rows(db) == []


# -- reads ----------------------------------------------------------------------------------------


def test_coverage_per_state_and_per_client(db):
    territories.assign(db, ADMIN, 1, ["78701", "78702", "37214"])
    territories.assign(db, ADMIN, 2, ["10001"])
    db.execute(
        "INSERT INTO contacts (workspace_id, zip, verification_result) VALUES"
        " (1, '78701', 'safe'), (1, '78701', 'invalid'), (1, '37214', 'safe'), (2, '90045', 'safe')"
    )
    states = state_coverage(db, Scope.all())
    tx = states.filter(states["state"] == "TX").row(0, named=True)
    assert tx["assigned"] == 2 and tx["total"] == db.scalar(
        "SELECT count(*) FROM us_zip_codes WHERE state = 'TX'"
    )
    assert math.isclose(tx["share"], 2 / tx["total"])
    assert state_coverage(db, Scope.only([2]))["assigned"].sum() == 1
    per = {r["client"]: r for r in client_coverage(db, Scope.all()).iter_rows(named=True)}
    assert per["Alpha Agency"]["zips"] == 3 and per["Alpha Agency"]["states"] == 2
    assert per["Alpha Agency"]["counties"] == 2
    assert per["Alpha Agency"]["contacts_available"] == 3
    assert per["Alpha Agency"]["contacts_verified"] == 2
    assert per["Bravo Insurance"]["contacts_available"] == 0
    assert per["=Formula Agency"]["zips"] == 0


def test_search_and_owner_lookup(db):
    territories.assign(db, ADMIN, 1, ["78701"])
    by_zip = search_zips(db, Scope.all(), "7870")
    assert set(by_zip["zip"]) >= {"78701", "78702"}
    assert by_zip.filter(by_zip["zip"] == "78701")["owner"][0] == "Alpha Agency"
    assert "Travis County" in set(search_zips(db, Scope.all(), "travis")["county"])
    assert set(search_zips(db, Scope.all(), "Holtsville")["zip"]) >= {"00501"}
    table, bad = owner_lookup(db, Scope.all(), "78702\n78701, 99999 xyz")
    assert table["zip"].to_list() == ["78702", "78701", "99999"]
    assert table["owner"].to_list() == ["unassigned", "Alpha Agency", "unknown ZIP"]
    assert bad == ["xyz"]
    # a client-role scope never sees another client's name
    other, _ = owner_lookup(db, Scope.only([2]), "78701")
    assert other["owner"].to_list() == ["unassigned"]


def test_export_csv_and_json_all_or_one_client(db):
    territories.assign(db, ADMIN, 1, ["78701", "78702"])
    territories.assign(db, ADMIN, 3, ["10001"])
    buf = io.StringIO()
    assert export_assignments(db, Scope.all(), buf, "csv") == 3
    lines = buf.getvalue().splitlines()
    assert lines[0] == "zip,client,city,county,state,assigned_at,assigned_by"
    assert any(line.startswith("10001,'=Formula Agency,") for line in lines)  # formula-safe
    buf = io.StringIO()
    assert export_assignments(db, Scope.only([1]), buf, "json") == 2
    data = json.loads(buf.getvalue())
    assert [d["zip"] for d in data] == ["78701", "78702"] and data[0]["client"] == "Alpha Agency"
    buf = io.StringIO()
    assert export_assignments(db, Scope.only([2]), buf, "json") == 0
    assert json.loads(buf.getvalue()) == []
