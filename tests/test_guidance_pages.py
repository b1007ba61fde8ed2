"""The pages that say what to do, rendered: the Overview's main reason and its links, a new client
shown as onboarding, a link that opens a page for one client, and the Pipeline's greyed Run."""

from __future__ import annotations

import re
from pathlib import Path

from streamlit.testing.v1 import AppTest

from core.accounts import workspaces
from core.accounts.workspaces import WorkspaceInput
from core.pipeline import run_check

APP = str(Path(__file__).resolve().parent.parent / "streamlit_app.py")


def run(page: str | None = None, **query: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=90)
    for k, v in query.items():
        at.query_params[k] = v
    at.run()
    if page:
        at.switch_page(page)
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_overview_says_the_main_reason_and_links_to_the_fix(demo_db):
    new = workspaces.create(demo_db, WorkspaceInput(name="Brand New Agency"), actor="t")
    at = run()
    board = at.dataframe[0].value
    assert list(board.columns[:4]) == ["client", "status", "reason_label", "fix_link"]
    rows = {r["client"]: r for r in board.to_dict("records")}
    fresh = rows["Brand New Agency"]
    assert fresh["status"] == "onboarding"  # not "danger, 0 %"
    assert fresh["reason_label"].startswith("Setting up")
    assert fresh["fix_link"] == f"settings?client={new}&tab=Setup"
    behind = [r for r in rows.values() if r["status"] in ("danger", "warning")]
    assert behind and all(r["reason_label"] and r["fix_link"] for r in behind)
    for r in behind:
        page = r["fix_link"].split("?")[0]
        assert (Path(APP).parent / "pages" / f"{page}.py").exists(), r["fix_link"]
    # the worst clients' reasons as links, worst first
    links = at.get("page_link")
    assert 0 < len(links) <= 5
    assert links[0].proto.label.startswith(f"{board.iloc[0]['client']} — ")
    assert "onboarding" in at.caption[1].value or "onboarding" in " ".join(
        c.value for c in at.caption
    )


def test_a_link_opens_a_page_for_its_client(demo_db):
    wid = workspaces.id_by_name(demo_db, "Dana Tran Insurance Partners")
    at = run("pages/pipeline.py", client=str(wid), tab="Gap to goal")
    assert at.session_state["workspace_id"] == wid
    assert "client" not in at.query_params  # applied once; the picker is free again
    picker = next(s for s in at.selectbox if s.label == "Client" and s.key != "workspace_id")
    assert picker.value == wid  # the page's own client picker follows
    other = workspaces.id_by_name(demo_db, "Greg Harlow Insurance Partners")
    at.selectbox(key="workspace_id").set_value(other).run()
    assert at.session_state["workspace_id"] == other
    # a client id the user may not see is ignored
    at = run("pages/pipeline.py", client="999")
    assert at.session_state["workspace_id"] is None


def test_run_is_greyed_with_the_reason(demo_db, monkeypatch):
    monkeypatch.delenv("LEADOPS_BISON_URL", raising=False)
    at = run("pages/pipeline.py")
    button = next(b for b in at.button if b.label == "Run pipeline")
    assert button.disabled
    picker = next(s for s in at.selectbox if s.label == "Client" and s.key != "workspace_id")
    month = next(s for s in at.selectbox if s.label == "Renewal month").value
    reason = run_check.why_not(demo_db, picker.value, month)
    assert reason and button.proto.help == reason
    # with contacts to process, the next reason: Email Bison is not connected here
    demo_db.execute(
        "INSERT INTO contacts (workspace_id, email, status, renewal_month) VALUES (?, 'n@x.com', 'raw', ?)",
        [picker.value, month],
    )
    at.run()
    button = next(b for b in at.button if b.label == "Run pipeline")
    assert button.disabled and button.proto.help.startswith("Email Bison is not connected")
    assert any("Run pipeline is off" in i.value for i in at.info)
    # page text names no environment variables or commands
    text = " ".join(
        e.value for e in [*at.caption, *at.info, *at.warning] if isinstance(e.value, str)
    )
    assert not re.search(r"LEADOPS_|leadops ", text), text
