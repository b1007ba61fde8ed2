"""Browser smoke test: the real app in headless Chromium, every page, a screenshot each."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("LEADOPS_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"
# A deep link first: a fresh server must still route it through the app's navigation.
PAGES = [
    ("data_sync", "Data sync"),
    ("", "Overview"),
    ("pipeline", "Pipeline"),
    ("contacts", "Contacts"),
    ("month_board", "Month board"),
    ("campaigns", "Campaigns"),
    ("replies", "Replies"),
    ("client_leads", "Client leads"),
    ("copy_lab", "Copy Lab"),
    ("territories", "Territories"),
    ("sending_accounts", "Sending accounts"),
    ("alerts", "Alerts"),
    ("revenue", "Revenue"),
    ("audit_log", "Audit log"),
    ("settings", "Settings"),
]
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]

pytestmark = pytest.mark.browser


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_app(work: Path, db: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """`streamlit run` of the app on `db` (its secrets in an encrypted file under `work`), until
    the block ends; yields its URL and its environment. Fails with the log if it does not start."""
    port = free_port()
    env = {
        **os.environ,
        "LEADOPS_DB": str(db),
        "LEADOPS_KEYRING": "cryptfile",
        "LEADOPS_KEYRING_FILE": str(work / "secrets.cfg"),
        "LEADOPS_KEYRING_PASSWORD": "browser-test",
    }
    log = (work / "streamlit.log").open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(ROOT / "streamlit_app.py"),
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--server.headless",
            "true",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                break
        except OSError:
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail("Streamlit did not start: " + (work / "streamlit.log").read_text()[-2000:])
    try:
        yield url, env
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.fixture(scope="module")
def app_url(tmp_path_factory, demo_template):
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"Chromium not found at {CHROMIUM}; `make test` installs it (Debian package chromium)."
        )
    work = tmp_path_factory.mktemp("browser")
    db = work / "leadops.duckdb"
    shutil.copy(demo_template, db)
    with running_app(work, db) as (url, _env):
        yield url


def wait_for_script(page) -> None:
    page.wait_for_selector('[data-testid="stApp"]', timeout=60_000)
    page.wait_for_selector('[data-testid="stMainBlockContainer"] h1', timeout=60_000)
    deadline = time.time() + 60
    while time.time() < deadline:
        running = page.locator('[data-testid="stStatusWidget"]').all_inner_texts()
        if not any("Running" in t or "Stop" in t for t in running):
            break
        time.sleep(0.25)
    time.sleep(1.0)  # let charts and tables paint


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.mark.parametrize(("path", "title"), PAGES)
def test_page_loads_in_chromium(app_url, browser, path, title):
    page = browser.new_page(viewport={"width": 1440, "height": 1400})
    page.goto(f"{app_url}/{path}")
    wait_for_script(page)
    assert page.locator('[data-testid="stException"]').count() == 0, page.locator(
        '[data-testid="stException"]'
    ).all_inner_texts()
    assert page.locator("h1").first.inner_text().strip() == title
    nav = page.locator('[data-testid="stSidebarNav"]').inner_text()
    assert "Overview" in nav and "Settings" in nav and "streamlit app" not in nav.lower(), nav
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / f"{path or 'overview'}.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    if not path:
        docs = ROOT / "docs"
        docs.mkdir(exist_ok=True)
        page.screenshot(path=str(docs / "overview.png"), full_page=False)
    page.close()


def test_client_picker_and_csv_download(app_url, browser):
    page = browser.new_page(viewport={"width": 1440, "height": 1400}, accept_downloads=True)
    page.goto(app_url)
    wait_for_script(page)
    page.wait_for_selector('[data-testid="stDataFrame"]', timeout=30_000)
    board_download = page.locator(".st-key-dl-client-board").get_by_role("button")
    board_download.wait_for(timeout=30_000)
    with page.expect_download() as dl:
        board_download.click()
    text = Path(dl.value.path()).read_text()
    assert text.startswith("client,status,reason_label,fix_link,tier,target"), text[:300]
    assert len(text.strip().splitlines()) == 13, text[:300]
    page.close()


def test_state_maps_draw_offline_from_the_apps_own_outlines(app_url, browser):
    """The state choropleths load their outlines from the app, never from plotly's CDN."""
    page = browser.new_page(viewport={"width": 1440, "height": 1400})
    asked: list[str] = []

    def refuse(route):
        asked.append(route.request.url)
        route.abort()

    page.route("**/cdn.plot.ly/**", refuse)
    page.goto(f"{app_url}/territories")
    wait_for_script(page)
    page.get_by_role("tab", name="Coverage").click()
    wait_for_script(page)
    states = page.locator('[data-testid="stPlotlyChart"] path.choroplethlocation')
    deadline = time.time() + 60
    while time.time() < deadline and states.count() < 50:
        time.sleep(0.5)
    assert states.count() >= 50, f"{states.count()} state outlines drawn; CDN asked: {asked}"
    assert not asked
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "territories-coverage.png"), full_page=True)
    page.close()
