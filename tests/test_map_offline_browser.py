"""In Chromium, with the base map's tiles unreachable: the ZIP map still draws every point on a
plain background and says, in one line, that the base map could not load."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, running_app, wait_for_script
from tests.test_territories_browser import MAP_READY, MAP_STATE

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def tiled_app(tmp_path_factory, demo_template):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}.")
    from core.platform import settings, store
    from core.platform.scope import Scope
    from core.territories.geo import ZipFilter, zip_table

    work = tmp_path_factory.mktemp("map-offline")
    db_path = work / "leadops.duckdb"
    shutil.copy(demo_template, db_path)
    db = store.Database(db_path)
    settings.set_value(db, "territory_map_style", "carto-positron", actor="test")
    expected = zip_table(db, Scope.all(), ZipFilter()).height
    db.close()
    with running_app(work, db_path) as (url, _env):
        yield url, expected


def test_points_draw_without_tiles_with_a_notice(tiled_app):
    from playwright.sync_api import sync_playwright

    from pages.components import territory_maps

    url, expected = tiled_app
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1440, "height": 1400})
        tiles: list[str] = []

        def no_internet(route):  # the tile servers are unreachable, as on an offline machine
            tiles.append(route.request.url)
            route.abort("internetdisconnected")

        page.context.route("**/*basemaps.cartocdn.com/**", no_internet)
        page.goto(f"{url}/territories")
        wait_for_script(page)
        page.locator('[data-testid="stPlotlyChart"]').first.wait_for(timeout=60_000)
        try:
            page.wait_for_function(MAP_READY, arg=expected, timeout=120_000)
        except Exception:
            pytest.fail("the map did not draw: " + page.evaluate(MAP_STATE, expected))
        assert tiles, "the map asked for no tile at all"
        background = page.evaluate(
            """() => document.querySelector('[data-testid="stPlotlyChart"] .js-plotly-plot')
                ._fullLayout.map._subplot.map.getStyle().layers[0].type"""
        )
        assert background == "background"
        notice = page.locator("iframe").first.content_frame.get_by_text(territory_maps.NO_TILES)
        notice.wait_for(state="visible", timeout=30_000)
        browser.close()
