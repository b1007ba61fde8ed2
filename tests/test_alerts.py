"""Alerts: open/resolve across runs, de-duplicated Slack and e-mail messages against local
receivers, acknowledge and snooze, auto-pause through the fake Email Bison, client reports,
the CLI and the page."""

from __future__ import annotations

import datetime as dt

import pytest
from streamlit.testing.v1 import AppTest
from typer.testing import CliRunner

from connectors.bison import BisonClient
from core.accounts import access
from core.accounts import workspaces as ws_core
from core.bison import sync as bison_sync
from core.demo.sandbox import serve
from core.guardrails import alerts as guardrails
from core.guardrails import client_reports, next_steps
from core.guardrails import delivery as alert_delivery
from core.platform import secrets, settings
from tests.fakes.receivers import SlackReceiver, SmtpReceiver
from tests.test_guardrails import NOW, TODAY, add_campaign, add_client, add_daily
from tests.test_pages import APP

ADMIN = access.User("admin@agency.com", "admin")


@pytest.fixture
def slack(monkeypatch):
    monkeypatch.setenv("LEADOPS_ALLOW_PRIVATE_URLS", "1")  # the receiver is on 127.0.0.1
    receiver = SlackReceiver()
    with serve(receiver) as url:
        receiver.url = url
        yield receiver


@pytest.fixture
def smtp(empty_db):
    receiver = SmtpReceiver()
    port = receiver.start()
    for name, value in (
        ("smtp_host", "127.0.0.1"),
        ("smtp_port", port),
        ("smtp_security", "none"),
        ("smtp_from", "alerts@agency.com"),
    ):
        settings.set_value(empty_db, name, value, actor="t")
    yield receiver
    receiver.stop()


def test_smtp_login_uses_the_stored_password(empty_db, smtp):
    from core.guardrails import mailer

    settings.set_value(empty_db, "smtp_username", "alerts", actor="t")
    with pytest.raises(mailer.MailError, match="no smtp.password"):
        mailer.send(empty_db, ["a@b.com"], "s", "t")
    with pytest.raises(access.PermissionDenied):
        mailer.set_password(empty_db, access.User("o@a.com", "operator"), "pw-123456")
    assert mailer.set_password(empty_db, ADMIN, "pw-123456") == "…3456"
    with pytest.raises(mailer.MailError, match="did not take the message"):  # no AUTH offered
        mailer.send(empty_db, ["a@b.com"], "s", "t")
    assert "pw-123456" not in str(empty_db.rows("SELECT * FROM secret_refs"))


def bouncing_campaign(db, wid=1, cid=101, bounced=20, today=TODAY):
    add_campaign(db, wid, cid)
    add_daily(db, wid, cid, today - dt.timedelta(days=1), 400, bounced=bounced)


def only_bounces(db, now=NOW):
    return guardrails.run_checks(db, now=now)


def test_alerts_open_once_resolve_and_message_once_per_event(empty_db, slack, smtp):
    db = empty_db
    add_client(db, 1)
    add_client(db, 2)
    bouncing_campaign(db, 1, 101)
    bouncing_campaign(db, 2, 201)
    settings.set_value(db, "guard_plan_use_ratio", 0.0, actor="t")  # keep the board to bounces
    settings.set_value(db, "kpi_warning_ratio", 0.0, actor="t")
    settings.set_value(db, "kpi_danger_ratio", 0.0, actor="t")
    alert_delivery.add_channel(
        db, ADMIN, "ops", "slack", webhook_url=f"{slack.url}/services/T1/B1/secretpart"
    )
    alert_delivery.add_channel(
        db, ADMIN, "client-1", "email", workspace_id=1, email_to="owner@client1.com"
    )
    alert_delivery.add_channel(
        db, ADMIN, "quiet", "slack", min_severity="danger", webhook_url=f"{slack.url}/services/q"
    )
    db.execute("UPDATE alert_channels SET created_at = ?", [NOW - dt.timedelta(days=1)])
    db.execute("UPDATE alert_channels SET active = false WHERE name = 'quiet'")

    r = only_bounces(db)
    assert (r["opened"], r["resolved"], r["open"]) == (2, 0, 2)
    assert len(slack.messages) == 2 and len(smtp.messages) == 1  # e-mail routes client 1 only
    assert all(m["path"].startswith("/services/T1/B1/") for m in slack.messages)
    assert "Bounce rate 5.00% on campaign Campaign 101" in smtp.messages[0]["Subject"]
    assert smtp.messages[0]["To"] == "owner@client1.com"
    step = next_steps.step_for("campaign_bounce_rate")  # each message says what to do next
    assert all(
        f"Next step: {step.text} ({step.where} in LeadOps)" in m["text"] for m in slack.messages
    )
    assert f"Next step: {step.text}" in smtp.messages[0].get_payload()
    for _ in range(3):  # still open: no repeats
        r = only_bounces(db, now=NOW + dt.timedelta(minutes=15))
        assert (r["opened"], r["resolved"], r["open"], r["messages_sent"]) == (0, 0, 2, 0)
    assert len(slack.messages) == 2 and len(smtp.messages) == 1
    last_seen = db.scalar("SELECT max(last_seen) FROM alerts")
    assert last_seen == NOW + dt.timedelta(minutes=15)

    db.execute("UPDATE bison_campaign_daily SET bounced = 1 WHERE campaign_id = 101")
    r = only_bounces(db, now=NOW + dt.timedelta(hours=1))
    assert (r["opened"], r["resolved"], r["open"]) == (0, 1, 1)
    assert len(slack.messages) == 3 and slack.messages[-1]["text"].startswith(":white_check_mark:")
    assert len(smtp.messages) == 2 and smtp.messages[-1]["Subject"].startswith("Resolved:")
    only_bounces(db, now=NOW + dt.timedelta(hours=2))
    assert len(slack.messages) == 3 and len(smtp.messages) == 2
    # it comes back: a new alert, one new message
    db.execute("UPDATE bison_campaign_daily SET bounced = 30 WHERE campaign_id = 101")
    r = only_bounces(db, now=NOW + dt.timedelta(hours=3))
    assert r["opened"] == 1 and len(slack.messages) == 4 and len(smtp.messages) == 3
    events = db.rows("SELECT kind, count(*) FROM alert_events GROUP BY ALL ORDER BY 1")
    assert events == [("opened", 3), ("resolved", 1)]
    assert db.scalar("SELECT count(*) FROM alert_notifications WHERE status <> 'sent'") == 0
    assert "secretpart" not in str(alert_delivery.channels(db).rows())


def test_a_failed_message_is_retried_on_the_next_run_only(empty_db, slack):
    db = empty_db
    add_client(db, 1)
    bouncing_campaign(db)
    alert_delivery.add_channel(db, ADMIN, "ops", "slack", webhook_url=f"{slack.url}/services/x")
    db.execute("UPDATE alert_channels SET created_at = ?", [NOW - dt.timedelta(days=1)])
    slack.fail_next = 1
    r = guardrails.run_checks(db, now=NOW)
    opened = r["opened"]
    assert (r["messages_failed"], r["messages_sent"]) == (1, opened - 1)
    assert len(slack.messages) == opened - 1
    r = guardrails.run_checks(db, now=NOW + dt.timedelta(minutes=15))
    assert (r["messages_failed"], r["messages_sent"]) == (0, 1)
    assert db.rows("SELECT status, attempts FROM alert_notifications WHERE attempts > 1") == [
        ("sent", 2)
    ]
    guardrails.run_checks(db, now=NOW + dt.timedelta(minutes=30))
    assert len(slack.messages) == opened


def test_acknowledge_and_snooze_are_recorded(empty_db):
    db = empty_db
    add_client(db, 1)
    bouncing_campaign(db)
    guardrails.run_checks(db, now=NOW)
    aid = db.scalar("SELECT id FROM alerts WHERE check_name = 'campaign_bounce_rate'")
    with pytest.raises(guardrails.GuardrailError, match="Reason"):
        guardrails.acknowledge(db, ADMIN, aid, "  ")
    with pytest.raises(access.PermissionDenied):
        guardrails.acknowledge(db, access.User("v@a.com", "viewer"), aid, "seen")
    guardrails.acknowledge(db, ADMIN, aid, "List vendor swapped; watching")
    until = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    with pytest.raises(guardrails.GuardrailError, match="future"):
        guardrails.snooze(db, ADMIN, aid, dt.datetime(2020, 1, 1, tzinfo=dt.UTC), "later")
    guardrails.snooze(db, ADMIN, aid, until, "Client on holiday")
    open_now = guardrails.open_alerts(db, access.LOCAL_ADMIN.scope)
    assert aid not in open_now["id"].to_list()
    assert aid in guardrails.open_alerts(db, access.LOCAL_ADMIN.scope, include_snoozed=True)["id"]
    by_client = guardrails.open_by_client(db, access.LOCAL_ADMIN.scope)
    counts = guardrails.open_count(db, access.LOCAL_ADMIN.scope)
    assert by_client.select("danger", "warning", "info").sum().row(0) == (
        counts["danger"],
        counts["warning"],
        counts["info"],
    )
    hist = guardrails.history(db, access.LOCAL_ADMIN.scope)
    assert {"opened", "acknowledged", "snoozed"} <= set(hist["event"])
    assert db.scalar("SELECT count(*) FROM audit_log WHERE entity = 'alert'") == 2
    with pytest.raises(access.PermissionDenied):  # a client user may not act on alerts
        guardrails.acknowledge(db, access.User("c@x.com", "client", workspace_id=2), aid, "x")


@pytest.fixture
def bison_setup(empty_db, make_bison_fake, bison_server, monkeypatch):
    monkeypatch.setenv("LEADOPS_BISON_URL", bison_server.url)
    monkeypatch.setenv("LEADOPS_BISON_RATE_PER_SEC", "0")
    fake = make_bison_fake(workspaces=1, campaigns_per_ws=3, leads_per_ws=20, replies_per_ws=5)
    bid = fake.workspace_ids[0]
    wid = ws_core.create(
        empty_db, ws_core.WorkspaceInput(name="Client A", bison_workspace_id=bid), actor="t"
    )
    secrets.set_secret(
        empty_db, secrets.bison_token_name(wid), fake.token_for(bid), kind="bison_token", actor="t"
    )

    def factory(token):
        return BisonClient(bison_server.url, token, rate_per_sec=None, sleep=lambda s: None)

    bison_sync.sync_bison(empty_db, client_factory=factory, today=fake.state.today)
    return empty_db, fake, wid, factory


def test_auto_pause_is_off_by_default_then_calls_email_bison_once_and_is_audited(bison_setup):
    db, fake, wid, factory = bison_setup
    cid = db.scalar(
        "SELECT min(id) FROM bison_campaigns WHERE workspace_id = ? AND status = 'active'", [wid]
    )
    db.execute("DELETE FROM bison_campaign_daily WHERE workspace_id = ?", [wid])
    add_daily(db, wid, cid, TODAY, 1000, bounced=80)
    fake.reset_requests()
    guardrails.run_checks(db, now=NOW, client_factory=factory)  # off by default: alert only
    assert fake.count_requests("PATCH") == 0
    assert (
        db.scalar("SELECT auto_action FROM alerts WHERE check_name = 'campaign_bounce_rate'")
        is None
    )
    db.execute("DELETE FROM alerts")
    guardrails.set_override(db, ADMIN, wid, "guard_auto_pause", True)
    for k in range(3):
        guardrails.run_checks(db, now=NOW + dt.timedelta(minutes=k + 1), client_factory=factory)
    assert fake.count_requests("PATCH") == 1
    assert db.scalar(
        "SELECT status FROM bison_campaigns WHERE workspace_id = ? AND id = ?", [wid, cid]
    ) == ("paused")
    log = db.rows("SELECT actor, action FROM audit_log WHERE entity = 'campaign'")
    assert log == [("system:guardrails", "campaign.pause")]
    alert = db.query(
        "SELECT auto_action, explanation FROM alerts WHERE check_name = 'campaign_bounce_rate'"
    ).row(0, named=True)
    assert "Paused the campaign in Email Bison" in alert["auto_action"]
    assert "Paused the campaign in Email Bison" in alert["explanation"]
    events = db.rows("SELECT kind FROM alert_events WHERE kind LIKE 'auto%'")
    assert events == [("auto_paused",)]
    # a sync from the command line runs the checks after it
    from core.cli.main import app

    runs = db.scalar("SELECT count(*) FROM check_runs")
    r = CliRunner().invoke(app, ["sync", "bison"])
    assert r.exit_code == 0, r.output
    assert "Guardrails:" in r.output and db.scalar("SELECT count(*) FROM check_runs") == runs + 1
    assert fake.count_requests("PATCH") == 1  # still one pause


def test_the_scheduler_runs_the_checks_after_a_successful_sync(empty_db):
    import time

    from core.app import Scheduler

    db = empty_db
    add_client(db, 1)
    bouncing_campaign(db, today=dt.datetime.now(dt.UTC).date())  # the scheduler checks as of now
    sched = Scheduler(db)
    assert not guardrails.checks_due(db)  # no sync yet
    db.execute(
        "INSERT INTO sync_runs (source, workspace_id, started_at, finished_at, status)"
        " VALUES ('bison', 1, now(), now(), 'succeeded')"
    )
    assert guardrails.checks_due(db)
    sched.after_sync()
    deadline = time.time() + 30
    while time.time() < deadline and not db.scalar(
        "SELECT count(*) FROM jobs WHERE kind = 'alerts.check' AND status = 'succeeded'"
    ):
        time.sleep(0.1)
    assert db.scalar("SELECT count(*) FROM check_runs WHERE triggered_by = 'schedule'") == 1
    assert db.scalar("SELECT count(*) FROM alerts WHERE check_name = 'campaign_bounce_rate'") == 1
    assert not guardrails.checks_due(db)


def test_report_for_a_client_with_no_data_renders_and_sends(empty_db, smtp):
    db = empty_db
    add_client(db, 1, email="agent@client1.com")
    data = client_reports.report_data(db, 1, TODAY)
    assert data["sent"] == 0 and not data["has_data"] and data["best_subject"] is None
    assert (data["week_start"], data["week_end"]) == (dt.date(2026, 11, 16), dt.date(2026, 11, 22))
    html = client_reports.render_html(data)
    assert "<!doctype html>" in html and "No emails were sent" in html and "Client 1" in html
    assert "January 1st–7th renewals" in html  # next window: mailing from Monday Nov 30
    pdf = client_reports.render_pdf(data)
    assert pdf.startswith(b"%PDF") and len(pdf) > 1000
    out = client_reports.send_reports(db, ADMIN, as_of=TODAY)
    assert [(r["client"], r["status"]) for r in out] == [("Client 1", "sent")]
    msg = smtp.messages[0]
    assert msg["To"] == "agent@client1.com"
    parts = {p.get_content_type(): p for p in msg.walk()}
    assert "application/pdf" in parts and "text/html" in parts
    again = client_reports.send_reports(db, ADMIN, as_of=TODAY)
    assert again[0]["status"] == "skipped" and len(smtp.messages) == 1
    dry = client_reports.send_reports(db, ADMIN, as_of=TODAY, dry_run=True, force=True)
    assert dry[0]["status"] == "dry run" and len(smtp.messages) == 1
    escaped = client_reports.render_html({**data, "client": "<script>x</script>"})
    assert "<script>x" not in escaped


def test_reports_are_due_on_the_weekday_until_sent(empty_db, smtp):
    db = empty_db
    add_client(db, 1, email="agent@client1.com")
    settings.set_value(db, "display_timezone", "UTC", actor="t")
    monday_9 = dt.datetime(2026, 11, 23, 9, tzinfo=dt.UTC)
    assert not client_reports.reports_due(db, monday_9)  # off by default
    settings.set_value(db, "client_reports_enabled", True, actor="t")
    assert client_reports.reports_due(db, monday_9)
    assert not client_reports.reports_due(db, monday_9.replace(hour=7))
    assert not client_reports.reports_due(db, monday_9 + dt.timedelta(days=1))
    client_reports.send_reports(db, ADMIN, as_of=monday_9.date())
    assert not client_reports.reports_due(db, monday_9)


def test_cli_alerts_check_and_reports_dry_run(empty_db):
    from core.cli.main import app

    add_client(empty_db, 1, email="agent@client1.com")
    bouncing_campaign(empty_db)
    runner = CliRunner()
    r = runner.invoke(app, ["alerts", "check"])
    assert r.exit_code == 0, r.output
    assert "opened" in r.output and "open in all" in r.output
    r = runner.invoke(app, ["reports", "send", "--dry-run", "--as-of", "2026-11-23"])
    assert r.exit_code == 0, r.output
    assert "Client 1: dry run to agent@client1.com" in r.output
    r = runner.invoke(app, ["reports", "send", "--workspace", "Nobody"])
    assert r.exit_code == 1 and "no active client named 'Nobody'" in r.output
    r = runner.invoke(app, ["reports", "send", "--workspace", "client 1"])
    assert r.exit_code == 1 and "E-mail is not set up" in r.output


def test_alerts_page_shows_open_alerts_and_the_sidebar_badge(demo_db):
    guardrails.run_checks(demo_db, now=NOW, deliver=False)
    n = demo_db.scalar("SELECT count(*) FROM alerts WHERE status = 'open'")
    assert n > 0
    at = AppTest.from_file(APP, default_timeout=90)
    at.run()
    at.switch_page("pages/alerts.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "Alerts"
    metrics = {m.label: m.value for m in at.metric}
    danger = demo_db.scalar(
        "SELECT count(*) FROM alerts WHERE status = 'open' AND severity = 'danger'"
    )
    assert metrics["Danger"] == str(danger)
    table = at.dataframe[1].value  # after the per-client summary
    assert table.shape[0] == n
    # every alert says its next step; those with a page to go to link to it, for its client
    assert table["next_step"].notna().all()
    assert table["fix_link"].dropna().str.match(r"^[a-z_]+(\?client=\d+)?(&tab=.+)?$").all()
    assert not [s for s in at.selectbox if s.key == "alert-pick"]  # acted on from the row
    # acknowledge one from its row (a link to the alert selects it), with a reason
    aid = demo_db.scalar("SELECT min(id) FROM alerts WHERE status = 'open'")
    at.query_params["alert"] = str(aid)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(m.value.startswith("**Next step:**") for m in at.markdown)
    at.text_input(key=f"ack-reason-{aid}").input("Vendor list swapped; watching")
    at.button(key=f"FormSubmitter:ack-{aid}-Acknowledge").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert demo_db.scalar("SELECT ack_reason FROM alerts WHERE id = ?", [aid]) == (
        "Vendor list swapped; watching"
    )
    assert any("Acknowledged" in s.value for s in at.success)


def test_run_checks_now_shows_progress_then_what_the_checks_did(demo_db):
    """The job's result (kept as JSON) words the flash; the button is usable again after."""
    import time

    at = AppTest.from_file(APP, default_timeout=90)
    at.run()
    at.switch_page("pages/alerts.py")
    at.run()
    [b for b in at.button if b.label == "Run checks now"][0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    deadline = time.time() + 60
    done = []
    while time.time() < deadline and not done:
        time.sleep(0.2)
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        done = [s.value for s in at.success if "Checks done" in s.value]
    assert done and "opened" in done[0] and "message\\(s\\) sent" in done[0], done
    assert "alerts_job" not in at.session_state
    assert not [b for b in at.button if b.label == "Run checks now"][0].disabled
    opened = demo_db.scalar("SELECT count(*) FROM alerts WHERE status = 'open'")
    assert f"{opened} open" in done[0]
