"""The Territories page in AppTest: edit panel with preview, conflicts and apply, undo, the other tabs."""

from __future__ import annotations

import pytest

from core.platform import settings
from tests.test_pages import run_page

PAGE = "pages/territories.py"


@pytest.fixture
def page_db(demo_db):
    settings.set_value(demo_db, "territory_map_style", "white-bg", actor="test")
    return demo_db


def owner_of(db, z):
    return [r[0] for r in db.rows("SELECT workspace_id FROM zip_assignments WHERE zip = ?", [z])]


def test_typed_zips_preview_conflict_then_take_over_and_undo(page_db):
    db = page_db
    owned = db.rows("SELECT zip, workspace_id FROM zip_assignments ORDER BY zip LIMIT 1")[0]
    other = db.scalar("SELECT min(id) FROM workspaces WHERE id <> ? AND active", [owned[1]])
    free = [
        r[0]
        for r in db.rows(
            "SELECT zip FROM us_zip_codes WHERE state = 'WY' AND zip NOT IN"
            " (SELECT zip FROM zip_assignments) ORDER BY zip LIMIT 3"
        )
    ]
    before = db.rows("SELECT * FROM zip_assignments ORDER BY zip, workspace_id")

    at = run_page(PAGE)
    assert at.title[0].value == "Territories"
    at.radio(key="terr_source").set_value("typed").run()
    at.text_area(key="terr_typed").input(" ".join([*free, owned[0], "hello"])).run()
    at.selectbox(key="terr_target_assign").set_value(other).run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["New"] == "3" and metrics["Owned by another client"] == "1"
    assert any("Conflict" in e.value and "exclusive" in e.value for e in at.error)
    assert any("hello" in w.value for w in at.warning)
    apply = at.button(key="terr_apply")
    assert apply.label == "Assign 3 ZIP(s)"
    at.checkbox(key="terr_take").check().run()
    assert at.button(key="terr_apply").label == "Assign 4 ZIP(s)"
    at.button(key="terr_apply").click().run()
    assert not at.exception
    assert owner_of(db, owned[0]) == [other]
    assert all(owner_of(db, z) == [other] for z in free)
    assert any("Change #" in s.value for s in at.success)

    at.button(key="terr_undo").click().run()
    assert not at.exception
    assert db.rows("SELECT * FROM zip_assignments ORDER BY zip, workspace_id") == before
    assert any("Undid" in s.value for s in at.success)


def test_viewer_sees_the_map_but_no_edit_panel(page_db, monkeypatch):
    from core.accounts import access

    viewer = access.User(email="v@agency.test", role="viewer")
    monkeypatch.setattr(access, "LOCAL_ADMIN", viewer)
    at = run_page(PAGE)
    assert any("cannot" in i.value or "not change" in i.value for i in at.info)
    assert not [b for b in at.button if b.key == "terr_apply"]


def test_coverage_search_bulk_and_history_tabs(page_db):
    at = run_page(PAGE)

    def open_tab(name):
        at.session_state["terr_tab"] = name
        at.run()
        assert not at.exception, [e.value for e in at.exception]

    open_tab("Coverage")
    per_state = at.dataframe[0].value
    assert per_state.shape[0] == page_db.scalar("SELECT count(DISTINCT state) FROM us_zip_codes")
    assert per_state["assigned"].sum() == page_db.scalar(
        "SELECT count(DISTINCT zip) FROM zip_assignments"
    )
    assert at.dataframe[1].value.shape[0] == 12  # one row per active client
    assert any(m.label == "ZIPs assigned" for m in at.metric)

    open_tab("Search")
    at.text_input(key="terr_q").input("Holtsville").run()
    assert "00501" in at.dataframe[0].value["zip"].to_list()
    at.button[0].click().run()
    assert at.session_state["terr_tab"] == "Map"
    assert at.session_state["terr_focus"][3].startswith("00501")
    open_tab("Search")
    at.text_area(key="terr_lookup").input("00501 99999").run()
    assert at.dataframe[-1].value["owner"].to_list() == ["unassigned", "unknown ZIP"]

    open_tab("Bulk")
    at.radio(key="terr_del_how").set_value("client").run()
    at.selectbox(key="terr_del_client_client").set_value(1).run()
    assert at.button(key="terr_del").disabled  # asks first
    at.checkbox(key="terr_del_sure").check().run()
    at.button(key="terr_del").click().run()
    assert not at.exception
    assert page_db.scalar("SELECT count(*) FROM zip_assignments WHERE workspace_id = 1") == 0

    open_tab("History")
    assert at.dataframe[0].value["kind"].to_list()[0] == "delete"


def test_maps_draw_without_tiles_and_the_page_does_not_scroll_zoom(page_db):
    """The base maps are raster tiles under a plain background in a style the app holds itself, so
    points draw when the tiles cannot load; the state map and the density view ignore the wheel."""
    import json
    from pathlib import Path

    import polars as pl

    from pages.components import territory_maps as tm

    root = Path(__file__).resolve().parent.parent
    for style in [*tm.TILES, "white-bg"]:
        served = json.loads((root / "static" / "map" / f"{style}.json").read_text())
        assert served == tm.base_style(style), f"static/map/{style}.json is out of date"
        assert served["layers"][0]["type"] == "background"
        assert tm.style_url(style) == f"app/static/map/{style}.json"
    assert [lyr["id"] for lyr in tm.base_style("white-bg")["layers"]] == ["background"]
    assert tm.tile_notice_html("white-bg") is None
    notice = tm.tile_notice_html("carto-positron")
    assert tm.NO_TILES in notice and "onerror" in notice and "basemaps.cartocdn.com" in notice
    assert tm.style_url("no-such-style") == "app/static/map/white-bg.json"

    df = pl.DataFrame(
        {
            "zip": ["78701"],
            "city": ["AUSTIN"],
            "county": ["Travis"],
            "state": ["TX"],
            "lat": [30.27],
            "lon": [-97.74],
            "owner": [None],
            "owner_id": [None],
            "owners": [0],
            "contacts": [12],
        },
        schema_overrides={"owner": pl.Utf8, "owner_id": pl.Int64},
    )
    fig, _ = tm.zip_map(df, style="carto-positron")
    assert fig.layout.map.style == tm.base_style("carto-positron")  # inline: nothing to fetch
    deck = json.loads(tm.density_deck(df, style="carto-positron").to_json())
    assert deck["mapStyle"] == "app/static/map/carto-positron.json"
    assert deck["views"][0]["controller"]["scrollZoom"] is False
    hexagons = deck["layers"][0]
    assert "elevationAggregation" not in hexagons and "colorAggregation" not in hexagons

    at = run_page(PAGE)
    at.session_state["terr_tab"] = "Coverage"
    at.run()
    assert not at.exception
    configs = [json.loads(c.proto.config) for c in at.get("plotly_chart")]
    assert configs and all(c.get("scrollZoom") is False for c in configs)
