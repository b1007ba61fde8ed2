"""First run to first upload from the browser alone, in headless Chromium.

A fresh install (a migrated, empty database; no secret store, no Email Bison address in the
environment) served by `leadops serve`, and an Email Bison instance (the project's simulation)
on the loopback. In the browser only: set the Email Bison address and test it, add a client,
save and test its Email Bison token, sync, choose its upload and evergreen campaigns, import a
contacts file and run the pipeline to the upload. After each step the Setup checklist shows the
line that step completes turn done; at the end the Email Bison instance holds the leads.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from core.demo.sandbox import BisonFake, serve
from core.platform import renewals
from tests.conftest import find_leaked_secrets
from tests.test_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, ROOT, free_port, wait_for_script

pytestmark = pytest.mark.browser

CLIENT = "Harbor Point Insurance"
BISON_ID = 1
CONTACTS = 40
ZIPS = ("75201", "75204", "75205")  # Dallas
DOMAIN = "harborpoint-leads.example"
TITLES = {"": "Overview", "pipeline": "Pipeline", "data_sync": "Data sync", "settings": "Settings"}
ICONS = {"check_circle": "done", "radio_button_unchecked": "missing", "error": "failing"}


@pytest.fixture(scope="module")
def bison():
    """The Email Bison instance: one workspace with a few campaigns, served over real HTTP."""
    fake = BisonFake(seed=11, workspaces=1, campaigns_per_ws=2, leads_per_ws=5, replies_per_ws=4)
    with serve(fake) as url:
        yield fake, url


@pytest.fixture(scope="module")
def fresh_app(tmp_path_factory, migrated_template):
    """`leadops serve` on a migrated, empty database with nothing about secrets or Email Bison
    in its environment (as a fresh clone on a headless server has)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}.")
    work = tmp_path_factory.mktemp("first-run")
    db_path = work / "leadops.duckdb"
    shutil.copy(migrated_template, db_path)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LEADOPS_", "STRIPE_", "DEBOUNCE_"))
    }
    # No OS keyring here as on a headless server (and never the desktop's one of whoever runs
    # the tests); no master password, no key file: the first secret saved sets the store up.
    env.update({"LEADOPS_DB": str(db_path), "LEADOPS_KEYRING": "cryptfile"})
    port = free_port()
    log_path = work / "serve.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "core.cli.main", "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log_path.open("w"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                break
        except OSError:
            assert proc.poll() is None, log_path.read_text()[-3000:]
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail("leadops serve did not start: " + log_path.read_text()[-3000:])
    yield url, work
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


# -- driving the page ---------------------------------------------------------------------------


def settle(page) -> None:
    wait_for_script(page)
    assert page.locator('[data-testid="stException"]').count() == 0, page.locator(
        '[data-testid="stException"]'
    ).all_inner_texts()


def open_page(page, url: str, path: str, tab: str | None = None) -> None:
    """Go to a page through the sidebar (the same session, as a user does; the first time by
    its address), then to one of its tabs."""
    title = TITLES[path]
    heading = page.locator('[data-testid="stMainBlockContainer"] h1')
    if not page.url.startswith(url):
        page.goto(f"{url}/{path}")
    elif heading.first.inner_text().strip() != title:
        nav = page.locator('[data-testid="stSidebarNav"] a')
        link = (
            nav.and_(page.locator(f'a[href$="/{path}"]'))
            if path
            else nav.filter(has_text="Overview")
        )
        link.first.click()
    heading.filter(has_text=re.compile(rf"^{title}$")).first.wait_for(timeout=60_000)
    settle(page)
    if tab:
        page.get_by_role("tab", name=tab, exact=True).click()
        time.sleep(0.3)


def field(scope, label: str):
    """The text (or password) input labelled `label` inside `scope`."""
    return scope.locator(f'input[aria-label="{label}"]')


def choose(page, label: str, option: str) -> None:
    """Pick `option` in the select box labelled `label`."""
    box = page.locator('[data-testid="stSelectbox"]').filter(has_text=label).first
    box.locator("input").click()
    page.get_by_role("option", name=option, exact=True).click()
    time.sleep(0.3)


def expect_text(page, pattern: str, timeout: float = 60_000):
    loc = page.get_by_text(re.compile(pattern)).first
    loc.wait_for(timeout=timeout)
    return loc


def checklist(page, url: str) -> dict[str, str]:
    """Settings → Setup as the page draws it: each line's label -> done, missing or failing
    (the agency's lines, then the client's)."""
    open_page(page, url, "settings", "Setup")
    panel = page.locator('[role="tabpanel"]:visible')
    lines: dict[str, str] = {}
    for md in panel.locator('[data-testid="stMarkdownContainer"]').all():
        text = (md.text_content() or "").strip()
        icon = next((i for i in ICONS if text.startswith(i)), None)
        if icon and " — " in text:
            label = text[len(icon) :].split(" — ", 1)[0].strip()
            lines[label] = ICONS[icon]
    return lines


def contacts_file(path: Path, month: dt.date) -> Path:
    """A contacts file whose policies renew in `month` (bought that month, years ago)."""
    rows = [
        f"owner{i}.{month:%b%Y}@{DOMAIN},Pat{i},Lee{i},{ZIPS[i % len(ZIPS)]},"
        f"{month.year - 7}-{month.month:02d}-{i % 28 + 1:02d},{250_000 + i * 1000}"
        for i in range(CONTACTS)
    ]
    path.write_text(
        "Email,First Name,Last Name,Zip,Purchase Date,Home Value\n" + "\n".join(rows) + "\n",
        encoding="utf-8",
    )
    return path


# -- the path -----------------------------------------------------------------------------------


@pytest.mark.timeout(900)  # a long walk; on a machine shared by many workers it takes minutes
def test_first_run_to_first_upload_in_the_browser(fresh_app, bison, tmp_path):
    from playwright.sync_api import sync_playwright

    url, work = fresh_app
    fake, bison_url = bison
    leads_before = len(fake.workspace(BISON_ID).leads)
    token = fake.token_for(BISON_ID)  # what staff copy from the client's workspace in Email Bison
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_context(viewport={"width": 1440, "height": 1400}).new_page()

        try:
            # An empty install: every page renders; the checklist has nothing done about Email Bison.
            for path in ("", "pipeline", "data_sync", "settings"):
                open_page(page, url, path)
            lines = checklist(page, url)
            assert lines["Email Bison reachable"] == "missing", lines
            assert "Email Bison token tested" not in lines  # no client yet
            assert not (work / "secrets.key").exists() and not (work / "secrets.cfg").exists()

            # 1. Settings → Connections: the Email Bison address, and its Test.
            open_page(page, url, "settings", "Connections")
            field(page, "Email Bison address").fill(bison_url)
            page.get_by_role("button", name="Save address").click()
            expect_text(page, r"^Saved bison_url\.$")
            page.get_by_role("button", name="Test Email Bison").click()
            expect_text(page, r"Last Test .* worked")
            assert checklist(page, url)["Email Bison reachable"] == "done"

            # 2. Settings → Clients: add the client, with its Email Bison workspace id.
            open_page(page, url, "settings", "Clients")
            form = page.locator('[data-testid="stForm"]').filter(has_text="Add client")
            field(form, "Client name").fill(CLIENT)
            field(form, "Contact email").fill("owner@harborpoint.example")
            field(form, "Email Bison workspace id").fill(str(BISON_ID))
            form.get_by_role("button", name="Add client").click()
            expect_text(page, rf"Added {CLIENT} \(id \d+\)")
            lines = checklist(page, url)
            assert lines["Tier and target"] == "done", lines
            assert lines["Email Bison token tested"] == "missing", lines
            assert lines["Upload and evergreen campaigns chosen"] == "missing", lines

            # 3. Settings → Email Bison tokens: save its token (the first secret: the store sets
            # itself up), then Settings → Connections: test it against Email Bison.
            open_page(page, url, "settings", "Email Bison tokens")
            tokens = page.locator('[data-testid="stForm"]').filter(has_text="Save token")
            field(tokens, "Email Bison API token").fill(token)
            tokens.get_by_role("button", name="Save token").click()
            expect_text(page, rf"Saved the token for {CLIENT}: …{re.escape(token[-4:])}")
            key = work / "secrets.key"
            assert key.exists() and stat.S_IMODE(key.stat().st_mode) == 0o600
            assert (work / "secrets.cfg").exists()
            assert (
                checklist(page, url)["Email Bison token tested"] == "missing"
            )  # saved, not tested
            open_page(page, url, "settings", "Connections")
            page.get_by_role("button", name="Test client tokens").click()
            expect_text(page, r"^Tested 1 token\(s\); 0 did not work\.$")
            assert checklist(page, url)["Email Bison token tested"] == "done"

            # 4. Data sync: Sync now brings the client's campaigns in.
            open_page(page, url, "data_sync")
            page.get_by_role("button", name="Sync now").click()
            expect_text(page, r"^Sync finished\.$", timeout=120_000)

            # 5. Pipeline → Run: choose the upload and evergreen campaigns.
            names = sorted(c["name"] for c in fake.workspace(BISON_ID).campaigns.values())
            open_page(page, url, "pipeline")
            choose(page, "Batches are attached to", names[0])
            choose(page, "Evergreen campaign (Mondays)", names[1])
            page.locator('[data-testid="stForm"]').filter(
                has_text="Batches are attached to"
            ).get_by_role("button", name="Save").click()
            expect_text(page, r"^Saved\.$")
            assert checklist(page, url)["Upload and evergreen campaigns chosen"] == "done"

            # 6. Pipeline → Import: the contacts file, staged, inspected, imported.
            month = renewals.add_months(renewals.month_start(dt.date.today()), 2)
            source = contacts_file(tmp_path / "harbor-point-contacts.csv", month)
            open_page(page, url, "pipeline", "Import")
            page.locator('[data-testid="stFileUploader"]').filter(has_text="Contact file").locator(
                'input[type="file"]'
            ).set_input_files(str(source))
            expect_text(page, r"^Read as utf-8")
            page.get_by_role("button", name="Import", exact=True).click()
            expect_text(
                page, rf"{CONTACTS} rows read, {CONTACTS} imported, 0 duplicates, 0 rejected"
            )

            # 7. Pipeline → Run: the whole pipeline, through the upload.
            open_page(page, url, "pipeline", "Run")
            assert (
                month.strftime("%B %Y")
                == page.locator('[data-testid="stSelectbox"]')
                .filter(has_text="Renewal month")
                .locator("input")
                .input_value()
            )
            page.get_by_role("button", name="Run pipeline").click()
            expect_text(page, r"Last run #\d+ .*: succeeded", timeout=180_000)
            page.screenshot(path=str(ARTIFACTS / "first-run-uploaded.png"), full_page=True)
            lines = checklist(page, url)
            page.screenshot(path=str(ARTIFACTS / "first-run-checklist.png"), full_page=True)
            for done in (
                "Email Bison reachable",
                "Tier and target",
                "Email Bison token tested",
                "Upload and evergreen campaigns chosen",
            ):
                assert lines[done] == "done", (done, lines)
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "first-run-failure.png"), full_page=True)
            shutil.copy(work / "serve.log", ARTIFACTS / "first-run-serve.txt")
            raise
        browser.close()

    # Email Bison holds the uploaded leads, in the chosen campaign.
    ws = fake.workspace(BISON_ID)
    campaign = next(cid for cid, c in ws.campaigns.items() if c["name"] == names[0])
    with fake.lock:
        new = [lead for lead in ws.leads.values() if lead.email.endswith(f"@{DOMAIN}")]
        in_campaign = [
            lead for lead in new if campaign in [c["campaign_id"] for c in lead.campaigns or []]
        ]
    assert len(ws.leads) - leads_before == len(new) == CONTACTS
    assert len(in_campaign) == len(new), (len(in_campaign), len(new))
    # The token reached the secret store only: not the database, its log, or the server's log.
    assert not find_leaked_secrets(work, {token})
