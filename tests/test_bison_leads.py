"""Email Bison leads against the fake over real HTTP: search the mirror, a lead's campaigns and
tags read live, remove it from a campaign, attach and remove tags; audited; command line; page."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest
from typer.testing import CliRunner

from core.accounts import access
from core.campaigns import leads
from core.platform import store
from core.platform.scope import Scope
from tests.test_alerts import bison_setup  # noqa: F401  (one client synced from the fake)
from tests.test_pages import APP

OPS = access.User("ops@agency.com", "operator")


def a_lead_in_a_campaign(fake, db, wid):
    bid = db.scalar("SELECT bison_workspace_id FROM workspaces WHERE id = ?", [wid])
    ws = fake.workspace(bid)
    lead = next(x for x in ws.leads.values() if x.campaigns)
    return ws, lead


def test_search_detail_remove_and_tags_reach_email_bison(bison_setup):  # noqa: F811
    db, fake, wid, factory = bison_setup
    ws, lead = a_lead_in_a_campaign(fake, db, wid)
    found = leads.search_leads(db, Scope.all(), lead.email.upper()[:12])
    assert lead.id in found["id"].to_list()
    assert leads.search_leads(db, Scope.only([wid + 1]), lead.email).height == 0  # other client
    detail = leads.lead_detail(db, OPS, wid, lead.id, client_factory=factory)
    cid = lead.campaigns[0]["campaign_id"]
    assert cid in [c["campaign_id"] for c in detail["campaigns"]]
    out = leads.lead_action(
        db, OPS, wid, lead.id, "remove_from_campaign", campaign_id=cid, client_factory=factory
    )
    assert cid not in out["campaigns"]
    assert cid not in [e["campaign_id"] for e in ws.leads[lead.id].campaigns]
    tag = db.scalar("SELECT min(id) FROM bison_tags WHERE workspace_id = ?", [wid])
    out = leads.lead_action(
        db, OPS, wid, lead.id, "attach_tags", tag_ids=[tag], client_factory=factory
    )
    assert tag in out["tags"] and tag in ws.leads[lead.id].tag_ids
    out = leads.lead_action(
        db, OPS, wid, lead.id, "remove_tags", tag_ids=[tag], client_factory=factory
    )
    assert tag not in out["tags"] and tag not in ws.leads[lead.id].tag_ids
    assert db.rows("SELECT action FROM audit_log WHERE entity = 'bison_lead' ORDER BY id") == [
        ("bison_lead.remove_from_campaign",),
        ("bison_lead.attach_tags",),
        ("bison_lead.remove_tags",),
    ]
    with pytest.raises(leads.LeadActionError, match="No tag 999999"):
        leads.lead_action(db, OPS, wid, lead.id, "attach_tags", tag_ids=[999999])
    with pytest.raises(leads.LeadActionError, match="Pick at least one tag"):
        leads.lead_action(db, OPS, wid, lead.id, "attach_tags", tag_ids=[])
    with pytest.raises(leads.LeadActionError, match="No lead 1 for this client"):
        leads.lead_action(db, OPS, wid, 1, "remove_tags", tag_ids=[tag])
    with pytest.raises(access.PermissionDenied):
        leads.lead_action(
            db, access.User("v@a.com", "viewer"), wid, lead.id, "attach_tags", tag_ids=[tag]
        )


def test_leads_from_the_command_line(bison_setup):  # noqa: F811
    db, fake, wid, factory = bison_setup
    ws, lead = a_lead_in_a_campaign(fake, db, wid)
    cid = lead.campaigns[0]["campaign_id"]
    tag = db.query(
        "SELECT id, name FROM bison_tags WHERE workspace_id = ? ORDER BY id LIMIT 1", [wid]
    ).row(0)
    db.close()
    store.close_all()
    from core.cli.main import app

    run = CliRunner().invoke
    r = run(app, ["leads", "find", lead.email])
    assert r.exit_code == 0 and lead.email in r.output and "1 lead(s)." in r.output
    r = run(app, ["leads", "tag", lead.email, tag[1]])
    assert r.exit_code == 0, r.output
    assert tag[0] in ws.leads[lead.id].tag_ids
    r = run(app, ["leads", "remove", str(lead.id), "--campaign", str(cid)])
    assert r.exit_code == 0, r.output
    assert cid not in [e["campaign_id"] for e in ws.leads[lead.id].campaigns]
    r = run(app, ["leads", "untag", lead.email, "no such tag"])
    assert r.exit_code == 1 and "'no such tag' names no tag(s)" in r.output


def test_the_campaigns_page_finds_a_lead(bison_setup):  # noqa: F811
    db, fake, wid, factory = bison_setup
    ws, lead = a_lead_in_a_campaign(fake, db, wid)
    db.close()
    store.close_all()
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page("pages/campaigns.py")
    at.run()
    at.text_input(key="lead-search").set_value(lead.email).run()
    assert not at.exception, at.exception
    assert any(
        "email" in df.value.columns and lead.email in list(df.value["email"]) for df in at.dataframe
    )
    assert at.selectbox(key="lead-pick").options
