"""The morning check in Chromium: the Overview names each client's main reason; following the
worst client's link opens the page that fixes it, for that client (and the right tab). Also the
Pipeline's greyed Run with its reason, and an alert acted on from its row."""

from __future__ import annotations

import re

import pytest

from tests.test_browser import ARTIFACTS, app_url, browser, wait_for_script  # noqa: F401

pytestmark = pytest.mark.browser
TITLES = {
    "Settings → Setup": "Settings",
    "Campaigns": "Campaigns",
    "Sending accounts": "Sending accounts",
    "Pipeline → Gap to goal": "Pipeline",
    "Copy Lab": "Copy Lab",
    "Replies": "Replies",
}


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_morning_check_worst_client_to_its_fix(app_url, browser):  # noqa: F811
    page = browser.new_page(viewport={"width": 1440, "height": 1400})
    page.goto(app_url)
    wait_for_script(page)
    page.wait_for_selector('[data-testid="stDataFrame"]', timeout=30_000)
    assert page.get_by_text("What to do first").count() == 1
    links = page.locator('[data-testid="stPageLink"]')
    assert links.count() >= 1
    first = links.first.inner_text().strip()
    m = re.match(r"^(?:\S+\s+)?(.+?) — (.+) → (.+)$", first, re.S)
    assert m, first
    client, reason, where = (g.strip() for g in m.groups())
    assert where in TITLES, first
    shot(page, "morning-overview")
    links.first.click()
    wait_for_script(page)
    page.wait_for_function(
        "t => document.querySelector('[data-testid=\"stMainBlockContainer\"] h1')"
        "?.innerText.trim() === t",
        arg=TITLES[where],
        timeout=60_000,
    )
    assert page.locator('[data-testid="stException"]').count() == 0
    picker = page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"] input').first
    assert client in picker.input_value(), (client, picker.input_value())
    if "→" in where:  # the tab named in the link is the one open
        tab = where.split("→")[1].strip()
        selected = page.locator('[role="tab"][aria-selected="true"]').first.inner_text()
        assert tab in selected, (tab, selected)
    assert "client=" not in page.url  # the link's client is applied once, not pinned
    shot(page, "morning-fix-page")
    page.close()


def test_pipeline_run_greyed_with_its_reason(app_url, browser):  # noqa: F811
    page = browser.new_page(viewport={"width": 1440, "height": 1400})
    page.goto(f"{app_url}/pipeline")
    wait_for_script(page)
    run = page.get_by_role("button", name="Run pipeline")
    assert run.is_disabled()
    assert page.get_by_text("Run pipeline is off:").count() == 1
    body = page.locator('[data-testid="stMainBlockContainer"]').inner_text()
    assert "LEADOPS_" not in body and "leadops " not in body
    shot(page, "pipeline-run")
    page.get_by_role("tab", name="Gap to goal").click()
    wait_for_script(page)
    assert page.get_by_text("Fill the gap is off:").count() == 1
    shot(page, "pipeline-gap")
    page.close()


def test_alert_acted_on_from_its_row(app_url, browser):  # noqa: F811
    page = browser.new_page(viewport={"width": 1440, "height": 1400})
    page.goto(f"{app_url}/alerts")
    wait_for_script(page)
    page.get_by_role("button", name="Run checks now").click()
    page.get_by_text("Checks done").wait_for(timeout=90_000)
    wait_for_script(page)
    grid = page.locator(".st-key-open-table [data-testid='stDataFrame']")
    grid.wait_for(timeout=30_000)
    assert page.get_by_text("Select an alert's row to act on it").count() == 1
    # the first row's selection box: the grid draws on a canvas, so click where it is
    box = grid.bounding_box()
    page.mouse.click(box["x"] + 15, box["y"] + 35 + 18)
    page.get_by_text("Next step:").wait_for(timeout=30_000)
    wait_for_script(page)
    shot(page, "alerts-row-actions")
    actions = page.locator(".st-key-alert-actions")
    assert actions.get_by_role("button", name="Acknowledge").count() == 1
    assert actions.locator("[data-testid='stPageLink']").count() == 1, actions.inner_text()
    page.close()
