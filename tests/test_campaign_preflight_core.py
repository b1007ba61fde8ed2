"""Campaign preflight is enforced in core `campaign_action`: the page, the command line and any
schedule get the same refusal for a resume that would sit idle (fake Email Bison, real HTTP)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from core.accounts import access
from core.campaigns import campaigns
from core.platform import store
from tests.test_alerts import bison_setup  # noqa: F401  (one client synced from the fake)

OPS = access.User("ops@agency.com", "operator")


def active_campaign(db, wid):
    return db.scalar(
        "SELECT min(id) FROM bison_campaigns WHERE workspace_id = ? AND status = 'active'", [wid]
    )


def test_resume_is_refused_by_core_when_the_campaign_would_sit_idle(bison_setup):  # noqa: F811
    db, fake, wid, factory = bison_setup
    cid = active_campaign(db, wid)
    db.execute("UPDATE bison_campaigns SET total_leads_contacted = 0 WHERE id = ?", [cid])
    campaigns.campaign_action(db, OPS, wid, cid, "pause", client_factory=factory)
    senders = db.rows(
        "SELECT * FROM bison_campaign_sender_emails WHERE workspace_id = ? AND campaign_id = ?",
        [wid, cid],
    )
    db.execute("DELETE FROM bison_campaign_sender_emails WHERE campaign_id = ?", [cid])
    fake.reset_requests()
    with pytest.raises(campaigns.CampaignActionError, match="Not resumed: it would sit idle"):
        campaigns.campaign_action(db, OPS, wid, cid, "resume", client_factory=factory)
    assert fake.count_requests("PATCH") == 0  # Email Bison was never asked
    with db.transaction() as cur:
        cur.executemany(
            "INSERT INTO bison_campaign_sender_emails VALUES ("
            + ", ".join("?" * len(senders[0]))
            + ")",
            senders,
        )
    row = campaigns.campaign_action(db, OPS, wid, cid, "resume", client_factory=factory)
    assert row["status"] == "active"


def test_campaign_actions_from_the_command_line_go_through_the_preflight(bison_setup):  # noqa: F811
    db, fake, wid, factory = bison_setup
    cid = active_campaign(db, wid)
    name = db.scalar("SELECT name FROM bison_campaigns WHERE id = ?", [cid])
    db.close()
    store.close_all()
    from core.cli.main import app

    run = CliRunner().invoke
    r = run(app, ["campaigns", "pause", name, "--workspace", "Client A"])
    assert r.exit_code == 0, r.output
    assert f"(id {cid}) is now paused." in r.output
    db = store.get_db()
    db.execute("DELETE FROM bison_campaign_sender_emails WHERE campaign_id = ?", [cid])
    db.close()
    store.close_all()
    r = run(app, ["campaigns", "resume", str(cid), "--workspace", "Client A"])
    assert r.exit_code == 1 and "Not resumed: it would sit idle" in r.output
    r = run(app, ["campaigns", "resume", "No such campaign", "--workspace", "Client A"])
    assert r.exit_code == 1 and "names no campaign" in r.output
