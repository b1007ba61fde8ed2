"""The Replies and Client leads pages, and the reply/lead queries behind them, on the demo data."""

from __future__ import annotations

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
    total = at.dataframe[0].value.shape[0]
    assert total == 500  # newest 500
    at.selectbox(key="r-cat").set_value("interested").run()
    assert not at.exception
    shown = at.dataframe[0].value
    assert set(shown["category"]) == {"Interested"} and 0 < shown.shape[0] <= 500
    at.selectbox(key="r-cat").set_value("unsubscribe").run()
    assert set(at.dataframe[0].value["category"]) == {"Unsubscribe request"}
    assert not at.dataframe[0].value["interested"].any()
    labels = [m.label for m in at.metric]
    assert labels[:3] == ["Replies shown", "Interested", "Unread"]


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
    assert any("overridden by local" in m.value for m in at.markdown)
    at.selectbox(key=f"tpl-{rid}").set_value("Question: who we are").run()
    at.button(key=f"use-{rid}").click().run()
    draft = at.text_area(key=f"draft-{wid}-{rid}").value
    assert draft.startswith(f"Hi {name},") and "{" not in draft
    at.button(key=f"handled-{rid}").click().run()
    assert (
        demo_db.scalar(
            "SELECT handled_by FROM reply_labels WHERE workspace_id = ? AND reply_id = ?",
            [wid, rid],
        )
        == "local"
    )


def test_client_leads_page_counts_and_client_scope(demo_db):
    at = run_page("pages/client_leads.py")
    assert at.title[0].value == "Client leads"
    metrics = {m.label: int(m.value.replace(",", "")) for m in at.metric}
    assert sum(metrics.values()) == demo_db.scalar("SELECT count(*) FROM client_leads") > 0
    at.selectbox(key="l-stage").set_value("won").run()
    assert set(at.dataframe[0].value["stage"]) == {"won"}
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
