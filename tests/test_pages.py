"""Every page renders without an exception, on the demo data and on an empty database."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "streamlit_app.py")
PAGES = [
    "pages/overview.py",
    "pages/pipeline.py",
    "pages/contacts.py",
    "pages/month_board.py",
    "pages/campaigns.py",
    "pages/replies.py",
    "pages/client_leads.py",
    "pages/territories.py",
    "pages/copy_lab.py",
    "pages/sending_accounts.py",
    "pages/alerts.py",
    "pages/revenue.py",
    "pages/data_sync.py",
    "pages/audit_log.py",
    "pages/settings.py",
]


def run_page(page: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=90)
    at.run()
    if page:
        at.switch_page(page)
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.mark.parametrize("page", PAGES)
def test_page_renders_on_demo_data(demo_db, page):
    at = run_page(page)
    assert at.title[0].value in (
        "Overview",
        "Pipeline",
        "Contacts",
        "Month board",
        "Campaigns",
        "Replies",
        "Client leads",
        "Copy Lab",
        "Territories",
        "Sending accounts",
        "Alerts",
        "Revenue",
        "Data sync",
        "Audit log",
        "Settings",
    )


@pytest.mark.parametrize("page", PAGES)
def test_page_renders_on_an_empty_database(empty_db, page):
    run_page(page)


def test_overview_shows_kpis_and_board(demo_db):
    at = run_page()
    labels = [m.label for m in at.metric]
    assert any(label.startswith("Interested this month") for label in labels)
    assert at.dataframe[0].value.shape[0] == 12  # one row per active client
    # picking one client narrows every table
    at.selectbox(key="workspace_id").set_value(3).run()
    assert not at.exception
    assert at.dataframe[0].value.shape[0] == 1


def test_empty_overview_offers_the_demo(empty_db):
    at = run_page()
    assert "No clients yet" in at.info[0].value
    at.button[0].click().run()
    assert not at.exception
    assert empty_db.scalar("SELECT count(*) FROM workspaces") == 12
    assert at.dataframe[0].value.shape[0] == 12


def test_settings_add_client_form_reports_bad_input_and_keeps_it(empty_db):
    at = run_page("pages/settings.py")
    at.text_input[0].input("")  # name missing
    at.button(key="FormSubmitter:add-client-Add client").click().run()
    assert any("Name" in e.value for e in at.error)
    at.text_input[0].input("Sunbelt Insurance Group")
    at.text_input[1].input("not-an-email")
    at.button(key="FormSubmitter:add-client-Add client").click().run()
    assert any("Contact email" in e.value for e in at.error)
    assert at.text_input[0].value == "Sunbelt Insurance Group"  # what was typed is kept
    at.text_input[1].input("ops@sunbelt.com")
    at.button(key="FormSubmitter:add-client-Add client").click().run()
    assert not at.exception
    assert (
        empty_db.scalar("SELECT count(*) FROM workspaces WHERE name = 'Sunbelt Insurance Group'")
        == 1
    )
    assert empty_db.scalar("SELECT count(*) FROM audit_log WHERE action = 'workspace.create'") == 1


def test_settings_token_is_shown_only_as_last_four(demo_db):
    at = run_page("pages/settings.py")
    token = "77|TopSecretTokenValueXYZ1"
    pw = [t for t in at.text_input if t.label == "Email Bison API token"][0]
    pw.input(token)
    at.button(key="FormSubmitter:token-form-Save token").click().run()
    assert not at.exception
    assert any("…XYZ1" in s.value for s in at.success)
    rendered = str([e for e in at.main])
    assert token not in rendered
    assert demo_db.scalar("SELECT count(*) FROM secret_refs WHERE last4 = 'XYZ1'") == 1


def test_sync_now_runs_a_job_and_reports_its_outcome(demo_db, monkeypatch):
    """With no Email Bison token the sync fails fast; the page says why instead of crashing."""
    import time

    monkeypatch.setenv("LEADOPS_BISON_URL", "http://127.0.0.1:9")
    at = run_page("pages/data_sync.py")
    [b for b in at.button if b.label == "Sync now"][0].click().run()
    assert not at.exception
    deadline = time.time() + 30
    while time.time() < deadline:
        at.run()
        if any("has an Email Bison token" in e.value for e in at.error):
            break
        time.sleep(0.2)
    assert any("has an Email Bison token" in e.value for e in at.error), [e.value for e in at.error]
    assert (
        demo_db.scalar("SELECT count(*) FROM jobs WHERE kind = 'sync.bison' AND status = 'failed'")
        == 1
    )


def test_tables_show_plain_headers_and_counts_with_thousands_separators():
    import polars as pl

    from pages import ui

    df = pl.DataFrame(
        {
            "id": [1001],
            "workspace_id": [3],
            "Email Bison id": [1001],
            "zip": [89101],
            "zips": [41917],
            "year": [2026],
            "sent": [253354],
            "replies": [3496],
            "rate": [0.5],
            "contact_email": ["a@b.c"],
            "mrr_change": [1.0],
        }
    )
    config = ui.display_columns(
        df, {"replies": "Replies", "rate": {"kept": "as given"}, "year": None}
    )
    assert config["rate"] == {"kept": "as given"}
    assert config["year"] is None  # None hides a column: it stays hidden
    assert config["replies"]["label"] == "Replies"
    for counted in ("replies", "sent", "zips"):
        assert config[counted]["type_config"]["format"] == "localized", counted
    assert config["sent"]["label"] == "Sent" and config["zips"]["label"] == "ZIPs"
    assert config["contact_email"] == "Contact email" and config["mrr_change"] == "MRR change"
    assert config["workspace_id"] == "Workspace id" and config["zip"] == "ZIP"
    assert config["id"] == "Id"
    assert "Email Bison id" not in config  # already a header
    assert ui.label_of("") == "" and ui.label_of("Already Fine") == "Already Fine"


def _job_progress_app() -> AppTest:
    def script() -> None:
        from pages import ui
        from pages.components.job_progress import job_progress

        ui.db()  # as a page does first: the app runtime, which fails jobs a restart orphaned
        job_progress(
            "demo_job",
            label=lambda job: f"Working: {job['stage']}",
            on_done=lambda job: (
                ("success", f"Done: {job['result']['n']} rows.")
                if job["status"] == "succeeded"
                else ("error", f"Failed: {job['error']}")
            ),
            cancel_key="cancel-demo",
        )

    return AppTest.from_function(script, default_timeout=60)


def test_job_progress_shows_the_bar_then_the_outcome_once(empty_db):
    at = _job_progress_app()
    at.run()  # no job: nothing shows
    assert not at.exception and not at.get("progress") and not at.button
    empty_db.execute(
        "INSERT INTO jobs (id, kind, status, stage, done, total, requested_by)"
        " VALUES ('j1', 'demo', 'running', 'reading', 1, 4, 't')"
    )
    at.session_state["demo_job"] = "j1"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    bar = at.get("progress")[0]
    assert bar.proto.value == 25 and bar.proto.text == "Working: reading"
    assert [b.label for b in at.button] == ["Cancel"]
    empty_db.execute("UPDATE jobs SET status = 'succeeded', result = '{\"n\": 3}' WHERE id = 'j1'")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert [s.value for s in at.success] == ["Done: 3 rows."]
    assert "demo_job" not in at.session_state and not at.get("progress")
    at.run()  # shown once
    assert not at.success


def test_job_progress_words_a_failure_and_drops_a_vanished_job(empty_db):
    empty_db.execute(
        "INSERT INTO jobs (id, kind, status, error, requested_by)"
        " VALUES ('j2', 'demo', 'failed', 'no token', 't')"
    )
    at = _job_progress_app()
    at.session_state["demo_job"] = "j2"
    at.run()
    assert [e.value for e in at.error] == ["Failed: no token"]
    at.session_state["demo_job"] = "gone"
    at.run()
    assert not at.exception and "demo_job" not in at.session_state and not at.error
