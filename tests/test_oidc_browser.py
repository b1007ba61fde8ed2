"""OpenID Connect sign-in end to end: a local OIDC provider, the real app, headless Chromium."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from tests.test_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, ROOT, free_port, wait_for_script

pytestmark = pytest.mark.browser

OPERATOR = "ops@agency.example"
STRANGER = "stranger@agency.example"
UNVERIFIED = "unverified@agency.example"  # invited as admin; the provider has not verified it
OPERATOR_PAGES = ("Overview", "Campaigns", "Sending accounts", "Data sync")
ADMIN_ONLY_PAGES = ("Settings", "Audit log")
TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def oidc_provider():
    """The mock OIDC provider on 127.0.0.1: its login form takes any subject and issues it as
    the `email` claim."""
    import werkzeug.serving
    from oidc_provider_mock import app as oidc_app

    server = werkzeug.serving.make_server(
        "127.0.0.1", 0, oidc_app(require_client_registration=False), threaded=True
    )
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}"
    try:
        with urllib.request.urlopen(f"{url}/.well-known/openid-configuration", timeout=10) as r:
            assert b"authorization_endpoint" in r.read()
        yield url
    finally:
        server.shutdown()
        thread.join(10)
        server.server_close()


@pytest.fixture(scope="module")
def app_url(tmp_path_factory, demo_template, oidc_provider):
    """The app with `[auth]` pointing at the mock provider, on a copy of the demo data in which
    OPERATOR is invited as an operator."""
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"Chromium not found at {CHROMIUM}; `make test` installs it (Debian package chromium)."
        )
    from core.accounts import access
    from core.platform import store

    work = tmp_path_factory.mktemp("oidc")
    db_path = work / "leadops.duckdb"
    shutil.copy(demo_template, db_path)
    db = store.Database(db_path)
    try:
        setup = access.User("setup@agency.example", "admin")
        access.invite(db, setup, OPERATOR, "operator")
        access.invite(db, setup, UNVERIFIED, "admin")
    finally:
        db.close()

    port = free_port()
    secrets = work / "secrets.toml"
    secrets.write_text(
        "[auth]\n"
        f'redirect_uri = "http://localhost:{port}/oauth2callback"\n'
        'cookie_secret = "oidc-browser-test-cookie-secret-0123456789"\n'
        'client_id = "leadops-test"\n'
        'client_secret = "leadops-test-secret"\n'
        f'server_metadata_url = "{oidc_provider}/.well-known/openid-configuration"\n'
    )
    env = {k: v for k, v in os.environ.items() if k != "LEADOPS_ADMIN_EMAILS"}
    env.update(
        LEADOPS_DB=str(db_path),
        LEADOPS_KEYRING="cryptfile",
        LEADOPS_KEYRING_FILE=str(work / "secrets.cfg"),
        LEADOPS_KEYRING_PASSWORD="oidc-browser-test",
    )
    log_path = work / "streamlit.log"
    with log_path.open("w") as log:
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
                "--secrets.files",
                str(secrets),
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://localhost:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        if proc.poll() is not None:
            pytest.fail("Streamlit exited: " + log_path.read_text()[-2000:])
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                if r.read() == b"ok":
                    break
        except OSError:
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail("Streamlit did not start: " + log_path.read_text()[-2000:])
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


def _no_exception(page) -> None:
    errors = page.locator('[data-testid="stException"]')
    assert errors.count() == 0, errors.all_inner_texts()


def _sign_in(page, app_url: str, oidc_provider: str, email: str, path: str = "") -> None:
    """Open the app at `path`, check the sign-in screen, sign in at the provider as `email`,
    come back."""
    from playwright.sync_api import expect

    page.goto(f"{app_url}/{path}")
    wait_for_script(page)
    _no_exception(page)
    expect(page.locator("h1").first).to_have_text("LeadOps")
    assert "not found" not in page.locator("body").inner_text().lower()
    button = page.get_by_role("button", name="Sign in")
    expect(button).to_be_visible()
    assert page.locator('[data-testid="stMetric"]').count() == 0
    assert page.locator('[data-testid="stDataFrame"]').count() == 0
    assert page.locator('[data-testid="stSidebarNav"]').count() == 0

    button.click()
    page.wait_for_url(
        re.compile(re.escape(f"{oidc_provider}/oauth2/authorize")), timeout=TIMEOUT_MS
    )
    page.locator('input[name="sub"]').fill(email)
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(re.compile("^" + re.escape(app_url) + r"/?(\?.*)?$"), timeout=TIMEOUT_MS)
    wait_for_script(page)


def test_invited_operator_signs_in(app_url, oidc_provider, browser):
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 1440, "height": 1400})
    try:
        _sign_in(page, app_url, oidc_provider, OPERATOR)
        expect(page.locator("h1").first).to_have_text("Overview", timeout=TIMEOUT_MS)
        page.wait_for_selector('[data-testid="stMetric"]', timeout=TIMEOUT_MS)
        wait_for_script(page)
        _no_exception(page)

        sidebar = page.locator('[data-testid="stSidebar"]')
        expect(sidebar).to_contain_text(f"Signed in as {OPERATOR} (operator)")
        expect(sidebar.get_by_role("button", name="Sign out")).to_be_visible()
        nav = page.locator('[data-testid="stSidebarNav"]').inner_text()
        for title in OPERATOR_PAGES:
            assert title in nav, nav
        for title in ADMIN_ONLY_PAGES:
            assert title not in nav, nav
        assert "Local single-user mode" not in page.locator("body").inner_text()

        ARTIFACTS.mkdir(exist_ok=True)
        shot = ARTIFACTS / "oidc-signed-in.png"
        page.screenshot(path=str(shot), full_page=False)
        assert shot.stat().st_size > 10_000
    finally:
        page.close()


def test_uninvited_user_gets_no_access(app_url, oidc_provider, browser):
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 1440, "height": 1000})
    try:
        # A deep link to an admin page gets the same sign-in screen.
        _sign_in(page, app_url, oidc_provider, STRANGER, path="settings")
        _no_exception(page)
        main = page.locator('[data-testid="stMainBlockContainer"]')
        expect(main).to_contain_text(
            f"You are signed in as {STRANGER}, but you have no access to LeadOps",
            timeout=TIMEOUT_MS,
        )
        expect(page.locator("h1").first).to_have_text("LeadOps")
        expect(main.get_by_role("button", name="Sign out")).to_be_visible()
        assert page.locator('[data-testid="stMetric"]').count() == 0
        assert page.locator('[data-testid="stDataFrame"]').count() == 0
        assert page.locator('[data-testid="stSidebarNav"]').count() == 0
        assert "Signed in as" not in page.locator("body").inner_text().replace(
            "You are signed in as", ""
        )
    finally:
        page.close()


def test_unverified_email_is_refused(app_url, oidc_provider, browser):
    """An invited address on a provider account whose email is not verified gets no access."""
    from playwright.sync_api import expect

    claims = json.dumps({"email": UNVERIFIED, "email_verified": False}).encode()
    request = urllib.request.Request(
        f"{oidc_provider}/users/{UNVERIFIED}",
        data=claims,
        method="PUT",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as r:
        assert r.status == 204
    page = browser.new_page(viewport={"width": 1440, "height": 1000})
    try:
        _sign_in(page, app_url, oidc_provider, UNVERIFIED)
        _no_exception(page)
        main = page.locator('[data-testid="stMainBlockContainer"]')
        expect(main).to_contain_text(
            f"says the email address {UNVERIFIED} is not verified", timeout=TIMEOUT_MS
        )
        expect(page.locator("h1").first).to_have_text("LeadOps")
        expect(main.get_by_role("button", name="Sign out")).to_be_visible()
        assert page.locator('[data-testid="stMetric"]').count() == 0
        assert page.locator('[data-testid="stDataFrame"]').count() == 0
        assert page.locator('[data-testid="stSidebarNav"]').count() == 0
    finally:
        page.close()
