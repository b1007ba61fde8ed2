"""The Replies and Client leads pages, and the reply/lead queries behind them, on the demo data."""

from __future__ import annotations

import datetime as dt

import pytest
from streamlit.testing.v1 import AppTest

from core.accounts import access
from core.accounts.access import User
from core.platform.scope import Scope
from core.replies import client_leads
from core.replies import inbox as replies
from tests import crm_fixtures
from tests.test_access import AUTH
from tests.test_pages import APP, run_page

ADMIN = User("ops@agency.com", "admin")
memory_keyring = crm_fixtures.memory_keyring


def test_replies_page_filters_and_stats(demo_db):
    at = run_page("pages/replies.py")
    assert at.title[0].value == "Replies"
    total = demo_db.scalar(
        "SELECT count(*) FROM bison_replies WHERE coalesce(folder, 'Inbox') <> 'Sent'"
    )
    assert total > 500  # more than the inbox used to show
    first = at.dataframe[0].value
    assert first.shape[0] == replies.PAGE_SIZE
    metrics = {m.label: m.value for m in at.metric}
    assert list(metrics)[:4] == ["Replies", "Interested", "Unread", "Not handled"]
    assert metrics["Replies"] == f"{total:,}"
    pages = -(-total // replies.PAGE_SIZE)
    pager = [n for n in at.number_input if n.label.startswith("Page")][0]
    assert pager.label == f"Page (of {pages:,})"
    assert any(f"Showing 1–100 of {total:,}" in c.value for c in at.caption)
    pager.set_value(pages).run()
    assert not at.exception
    last = at.dataframe[0].value
    assert last.shape[0] == total - replies.PAGE_SIZE * (pages - 1)
    assert set(last["name"]).isdisjoint(set(first["name"])) or not last.equals(first)
    assert "Handled" in [str(c) for c in last.columns] or "handled" in last.columns
    at.selectbox(key="r-cat").set_value("interested").run()
    assert not at.exception
    shown = at.dataframe[0].value
    assert set(shown["category"]) == {"Interested"} and 0 < shown.shape[0] <= replies.PAGE_SIZE
    at.selectbox(key="r-cat").set_value("unsubscribe").run()
    assert set(at.dataframe[0].value["category"]) == {"Unsubscribe request"}
    assert not at.dataframe[0].value["interested"].any()
    # Today: only replies received today, counted in full
    at.selectbox(key="r-cat").set_value(None).run()
    at.selectbox(key="r-when").set_value("today").run()
    assert not at.exception
    from pages import ui

    today = ui.today()
    count = demo_db.scalar(
        "SELECT count(*) FROM bison_replies WHERE coalesce(folder, 'Inbox') <> 'Sent'"
        " AND date_received >= ? AND date_received < ?",
        [
            dt.datetime.combine(today, dt.time(), dt.UTC),
            dt.datetime.combine(today + dt.timedelta(days=1), dt.time(), dt.UTC),
        ],
    )
    assert {m.label: m.value for m in at.metric}["Replies"] == f"{count:,}"
    if count:
        got = at.dataframe[0].value["received"]
        assert {d.date() for d in got} == {today}


def conversation_app(wid: int, reply_id: int) -> AppTest:
    def script(wid: int, reply_id: int) -> None:
        import streamlit as st

        from core.accounts.access import LOCAL_ADMIN
        from pages import reply_view

        flash = st.session_state.pop("replies_flash", None)
        if flash:
            st.success(flash[1])
        reply_view.render(wid, reply_id, LOCAL_ADMIN, True)

    return AppTest.from_function(script, args=(wid, reply_id), default_timeout=60)


def test_conversation_view_overrides_category_and_drafts_from_a_template(demo_db):
    wid, rid, name = demo_db.rows(
        "SELECT r.workspace_id, r.id, split_part(r.from_name, ' ', 1) FROM bison_replies r"
        " JOIN reply_labels x ON x.workspace_id = r.workspace_id AND x.reply_id = r.id"
        " WHERE x.category = 'question' ORDER BY r.id LIMIT 1"
    )[0]
    at = conversation_app(wid, rid).run()
    assert not at.exception
    assert any("Question" in m.value and "rule" in m.value for m in at.markdown)
    at.selectbox(key=f"ovr-{wid}-{rid}").set_value("interested").run()
    at.button(key=f"savecat-{rid}").click().run()
    assert not at.exception
    row = demo_db.rows(
        "SELECT override_category, override_by, override_at IS NOT NULL FROM reply_labels"
        " WHERE workspace_id = ? AND reply_id = ?",
        [wid, rid],
    )[0]
    assert row == ("interested", "local", True)
    assert any("changed by local" in m.value for m in at.markdown)
    at.selectbox(key=f"tpl-{rid}").set_value("Question: who we are").run()
    at.button(key=f"use-{rid}").click().run()
    draft = at.text_area(key=f"draft-{wid}-{rid}").value
    assert draft.startswith(f"Hi {name},") and "{" not in draft
    assert any("Not handled yet" in m.value for m in at.markdown)
    at.button(key=f"handled-{rid}").click().run()
    assert (
        demo_db.scalar(
            "SELECT handled_by FROM reply_labels WHERE workspace_id = ? AND reply_id = ?",
            [wid, rid],
        )
        == "local"
    )
    assert [s.value for s in at.success] == ["Marked handled."]
    assert any("**Handled** by local" in m.value for m in at.markdown)
    assert at.button(key=f"handled-{rid}").label == "Reopen"


def test_client_leads_page_counts_and_client_scope(demo_db):
    at = run_page("pages/client_leads.py")
    assert at.title[0].value == "Client leads"
    metrics = {m.label: int(m.value.replace(",", "")) for m in at.metric}
    assert sum(metrics.values()) == demo_db.scalar("SELECT count(*) FROM client_leads") > 0
    at.selectbox(key="l-stage").set_value("won").run()
    assert set(at.dataframe[0].value["stage"]) == {"Won"}
    # a client-role user sees only their own leads and replies
    access.invite(demo_db, ADMIN, "agent@client.com", "client", workspace_id=6)
    at = AppTest.from_file(APP, default_timeout=90)
    at.secrets["auth"] = AUTH
    at.user = {"is_logged_in": True, "email": "agent@client.com"}
    at.run()
    name = demo_db.scalar("SELECT name FROM workspaces WHERE id = 6")
    at.switch_page("pages/client_leads.py").run()
    assert not at.exception and set(at.dataframe[0].value["client"]) == {name}
    at.switch_page("pages/replies.py").run()
    assert not at.exception and set(at.dataframe[0].value["client"]) == {name}
    assert not [b for b in at.button if b.label.startswith("Mark")]


def test_lead_actions_are_audited_and_scoped(demo_db):
    wid, email = demo_db.rows("SELECT workspace_id, email FROM client_leads ORDER BY ALL LIMIT 1")[
        0
    ]
    client = User("agent@client.com", "client", workspace_id=wid)
    other = User("x@client.com", "client", workspace_id=wid + 1)
    client_leads.set_stage(demo_db, client, wid, email.upper(), "quoted")
    client_leads.add_note(demo_db, client, wid, email, "Quote sent, $2,780 with Travelers.")
    with pytest.raises(access.PermissionDenied):
        client_leads.set_stage(demo_db, other, wid, email, "won")
    with pytest.raises(client_leads.LeadError, match="Stage"):
        client_leads.set_stage(demo_db, client, wid, email, "maybe")
    timeline = client_leads.timeline(demo_db, client.scope, wid, email)
    assert {"stage", "note", "reply"} <= set(timeline["kind"])
    assert client_leads.timeline(demo_db, other.scope, wid, email).height == 0
    funnel = client_leads.funnel(demo_db, Scope.all())
    assert funnel["leads"].to_list() == sorted(funnel["leads"].to_list(), reverse=True)
    viewer = User("v@agency.com", "viewer")
    with pytest.raises(access.PermissionDenied):
        replies.set_category(demo_db, viewer, wid, 1, "interested")
    stats = replies.stats(demo_db, Scope.only([wid]), by="campaign")
    assert stats["replies"].sum() == demo_db.scalar(
        "SELECT count(*) FROM bison_replies WHERE workspace_id = ?", [wid]
    )


def test_settings_crm_tab_shows_a_generated_secret_once(demo_db, memory_keyring):
    at = run_page("pages/settings.py")
    wid = at.selectbox(key="crm-client").value
    form_select = [s for s in at.selectbox if s.label == "CRM"][0]
    form_select.set_value("webhook")
    [t for t in at.text_input if t.label.startswith("URL")][0].input(
        "https://hooks.example.com/leads"
    )
    at.button(key="FormSubmitter:crm-form-Save CRM").click().run()
    assert not at.exception
    shown = [w.value for w in at.warning if "signing secret" in w.value]
    assert len(shown) == 1 and "whsec_" in shown[0]
    secret = shown[0].split("`")[1]
    assert demo_db.scalar("SELECT url FROM crm_configs WHERE workspace_id = ?", [wid]).startswith(
        "https://"
    )
    at.run()  # the next run shows only the last 4 characters
    assert not [w for w in at.warning if "signing secret" in w.value]
    masked = "…" + secret[-4:]
    assert any(masked in df.value.to_string() for df in at.dataframe)
    assert not any(secret in df.value.to_string() for df in at.dataframe)


def test_lead_record_has_what_an_agent_needs(demo_db):
    from core.replies import lead_record

    row = demo_db.rows(
        "SELECT cl.workspace_id, cl.email, ct.cell_phone, ct.address, ct.zip, ct.purchase_date,"
        " ct.renewal_month FROM client_leads cl JOIN contacts ct ON ct.workspace_id = cl.workspace_id"
        " AND lower(trim(ct.email)) = cl.email WHERE ct.address IS NOT NULL ORDER BY cl.email LIMIT 1"
    )
    assert row, "the demo has client leads that came from contacts"
    wid, email, phone, address, zip_code, bought, renewal_month = row[0]
    today = dt.date(2026, 12, 7)
    rec = lead_record.lead_record(demo_db, Scope.all(), wid, email.upper(), today=today)
    assert rec["found"] and rec["phone"] == phone and rec["address"] == address
    assert rec["zip"] == zip_code
    owners = [
        r[0]
        for r in demo_db.rows(
            "SELECT w.name FROM zip_assignments a JOIN workspaces w ON w.id = a.workspace_id"
            " WHERE a.zip = ? ORDER BY w.name",
            [zip_code],
        )
    ]
    assert rec["zip_owners"] == owners
    assert rec["owns_zip"] == (
        demo_db.scalar(
            "SELECT count(*) FROM zip_assignments WHERE zip = ? AND workspace_id = ?",
            [zip_code, wid],
        )
        > 0
    )
    assert rec["renewal"] is not None and rec["renewal"] >= today
    if bought is not None:
        assert (rec["renewal"].month, rec["renewal_kind"]) == (bought.month, "day")
    else:
        assert (rec["renewal"], rec["renewal_kind"]) == (renewal_month, "month")
    # out of scope, or not a lead: nothing
    assert lead_record.lead_record(demo_db, Scope.only([wid + 1]), wid, email) == {}
    assert lead_record.lead_record(demo_db, Scope.all(), wid, "nobody@nowhere.test") == {}


def test_next_renewal_dates():
    from core.replies.lead_record import next_renewal

    today = dt.date(2026, 12, 7)
    assert next_renewal(dt.date(2019, 12, 20), None, today) == (dt.date(2026, 12, 20), "day")
    assert next_renewal(dt.date(2019, 3, 2), None, today) == (dt.date(2027, 3, 2), "day")
    assert next_renewal(dt.date(2020, 2, 29), None, today) == (dt.date(2027, 2, 28), "day")
    assert next_renewal(None, dt.date(2027, 1, 1), today) == (dt.date(2027, 1, 1), "month")
    assert next_renewal(None, None, today) == (None, "")


def test_timeline_has_full_notes_and_reply_handling(demo_db):
    wid, email = demo_db.rows(
        "SELECT cl.workspace_id, cl.email FROM client_leads cl ORDER BY ALL LIMIT 1"
    )[0]
    long_note = "Called back. " + "Discussed the bundle and the deductible options. " * 12
    assert len(long_note) > 500
    client_leads.add_note(demo_db, ADMIN, wid, email, long_note)
    tl = client_leads.timeline(demo_db, Scope.all(), wid, email)
    assert {"reply_id", "handled"} <= set(tl.columns)
    assert long_note.strip() in tl.filter(tl["kind"] == "note")["detail"].to_list()
    reply_rows = tl.filter(tl["kind"] == "reply")
    assert reply_rows.height > 0 and reply_rows["reply_id"].null_count() == 0
    rid = int(reply_rows["reply_id"][0])
    replies.mark_handled(demo_db, ADMIN, wid, rid)
    tl = client_leads.timeline(demo_db, Scope.all(), wid, email)
    assert tl.filter(tl["reply_id"] == rid)["handled"].to_list() == [True]
    full = demo_db.scalar(
        "SELECT text_body FROM bison_replies WHERE workspace_id = ? AND id = ?", [wid, rid]
    )
    assert full in tl.filter(tl["reply_id"] == rid)["detail"][0]
