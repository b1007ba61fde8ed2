"""CRM delivery end to end: a fake Email Bison reply marked interested reaches a fake CRM exactly
once, however often syncs and deliveries run; failures retry, are logged and can be retried."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from connectors.bison import BisonClient
from core.accounts import access, workspaces
from core.accounts.workspaces import WorkspaceInput
from core.bison import sync as bison_sync
from core.platform import secrets, settings
from core.replies import client_leads, crm_config, crm_delivery, crm_views, processing
from core.replies import inbox as replies
from tests import crm_fixtures
from tests.fakes.crm_server import LOCATION, TOKEN, WEBHOOK_SECRET

crm_server = crm_fixtures.crm_server
crm_fake = crm_fixtures.crm_fake
crm_url = crm_fixtures.crm_url
memory_keyring = crm_fixtures.memory_keyring

ADMIN = access.User(email="ops@agency.test", role="admin")
NO_SLEEP = {"sleep": lambda s: None}


@pytest.fixture
def world(memory_keyring, empty_db, make_bison_fake, bison_server, monkeypatch, crm_url, crm_fake):
    monkeypatch.setenv("LEADOPS_BISON_URL", bison_server.url)
    monkeypatch.setenv("LEADOPS_BISON_RATE_PER_SEC", "0")
    fake = make_bison_fake(workspaces=1, campaigns_per_ws=3, leads_per_ws=40, replies_per_ws=40)
    bid = fake.workspace_ids[0]
    wid = workspaces.create(
        empty_db, WorkspaceInput(name="Sunbelt Insurance", bison_workspace_id=bid), actor="t"
    )
    secrets.set_secret(
        empty_db, secrets.bison_token_name(wid), fake.token_for(bid), kind="bison_token", actor="t"
    )

    def factory(token):
        return BisonClient(bison_server.url, token, rate_per_sec=None, sleep=lambda s: None)

    settings.set_value(empty_db, "bison_daily_backfill_days", 1, actor="t")
    settings.set_value(empty_db, "bison_stats_backfill_days", 1, actor="t")
    return empty_db, fake, bid, wid, factory, crm_fake, crm_url


def sync(db, factory, fake):
    result = bison_sync.sync_bison(db, client_factory=factory, today=fake.state.today)
    assert result["failed"] == [], result
    # what the sync.bison job does next
    result["crm"] = processing.process_new_replies(db, result["workspace_ids"], ingest=False)
    return result


def a_reply_not_interested(db, wid):
    return db.scalar(
        "SELECT id FROM bison_replies WHERE workspace_id = ? AND NOT interested AND NOT automated_reply"
        " AND folder = 'Inbox' AND from_email NOT IN (SELECT email FROM client_leads) ORDER BY id LIMIT 1",
        [wid],
    )


def test_interested_reply_reaches_hubspot_exactly_once(world):
    db, fake, bid, wid, factory, crm, url = world
    first = sync(db, factory, fake)  # existing interested replies become leads before any CRM
    assert first["crm"]["classified"] > 0 and first["crm"]["new_leads"] > 0
    existing = sum(client_leads.stage_counts(db, ADMIN.scope).values())
    settings.set_value(db, "crm_backfill_days", 0, actor="t")
    crm_config.set_config(db, ADMIN, wid, "hubspot", url=url, token=TOKEN, create_deal=True)
    reply_id = a_reply_not_interested(db, wid)
    email = db.scalar(
        "SELECT lower(from_email) FROM bison_replies WHERE workspace_id = ? AND id = ?",
        [wid, reply_id],
    )
    new = replies.set_interested(db, ADMIN, wid, reply_id, True, client_factory=factory)
    assert new == [(wid, email)]
    assert fake.workspace(bid).replies[reply_id].interested  # written back to Email Bison
    for _ in range(3):  # repeated syncs and on-demand deliveries
        sync(db, factory, fake)
        crm_delivery.enqueue(db)
        crm_delivery.deliver_pending(db, **NO_SLEEP)
    assert list(crm.contacts) == [
        email
    ]  # only the new lead, once; old ones stayed out (backfill 0)
    assert len(crm.notes) == 1 and len(crm.deals) == 1
    assert sum(client_leads.stage_counts(db, ADMIN.scope).values()) == existing + 1
    assert db.scalar("SELECT stage FROM client_leads WHERE email = ?", [email]) == "contacted"
    row = db.query("SELECT status, attempts, crm_deal_id FROM crm_deliveries").row(0, named=True)
    assert row["status"] == "delivered" and row["attempts"] == 1
    # the deal moves in HubSpot; the next sync moves the lead
    crm.deals[row["crm_deal_id"]]["properties"]["dealstage"] = "closedwon"
    after = sync(db, factory, fake)
    assert after["crm"]["stages_changed"] == 1
    assert db.scalar("SELECT stage FROM client_leads WHERE email = ?", [email]) == "won"
    timeline = client_leads.timeline(db, ADMIN.scope, wid, email)
    assert {"reply", "stage", "crm"} <= set(timeline["kind"])
    health = crm_views.health(db, ADMIN.scope).row(0, named=True)
    assert health["delivered"] == 1 and health["failures_24h"] == 0 and health["last_success"]


def test_retries_backoff_failures_and_retry_failed(world):
    db, fake, bid, wid, factory, crm, url = world
    crm_config.set_config(db, ADMIN, wid, "gohighlevel", url=url, token=TOKEN, location_id=LOCATION)
    sync(db, factory, fake)  # with no faults the backlog is delivered
    leads = db.scalar("SELECT count(*) FROM client_leads WHERE workspace_id = ?", [wid])
    assert leads > 1 and len(crm.ghl_contacts) == leads
    # a new lead while GoHighLevel is down: 503 on every attempt -> retrying later, not failed
    reply_id = a_reply_not_interested(db, wid)
    replies.set_interested(db, ADMIN, wid, reply_id, True, client_factory=factory)
    crm_delivery.enqueue(db)
    crm.fail_next(503, count=4)
    now = dt.datetime.now(dt.UTC)
    counts = crm_delivery.deliver_pending(db, now=now, **NO_SLEEP)
    assert counts == {"delivered": 0, "retrying": 1, "failed": 0}
    row = db.query("SELECT * FROM crm_deliveries WHERE status = 'pending'").row(0, named=True)
    assert row["attempts"] == 1 and row["next_attempt_at"] > now and "503" in row["last_error"]
    log = db.query(
        "SELECT status_code, duration_ms FROM crm_attempts WHERE delivery_key = ?",
        [row["delivery_key"]],
    )
    assert log["status_code"].to_list() == [503] * 4  # every HTTP attempt logged
    assert crm_delivery.deliver_pending(db, now=now, **NO_SLEEP)["retrying"] == 0  # not due yet
    assert crm_delivery.due_count(db) == 0  # the scheduler waits for the backoff too
    # a bad token is not retried automatically
    crm.fail_next(401)
    counts = crm_delivery.deliver_pending(db, now=now + dt.timedelta(hours=1), **NO_SLEEP)
    assert counts["failed"] == 1
    assert crm_views.health(db, ADMIN.scope)["failures_24h"][0] == 5
    assert crm_delivery.retry_failed(db, ADMIN, wid) == 1
    assert crm_delivery.deliver_pending(db, **NO_SLEEP)["delivered"] == 1
    assert len(crm.ghl_contacts) == leads + 1 and len(crm.ghl_notes) == leads + 1
    excerpts = db.query("SELECT response_excerpt FROM crm_attempts")["response_excerpt"].to_list()
    assert not any(TOKEN in (e or "") for e in excerpts)


def test_webhook_config_shows_secret_once_and_test_connection(world, monkeypatch):
    db, fake, bid, wid, factory, crm, url = world
    with pytest.raises(crm_config.CrmConfigError, match="URL"):
        crm_config.set_config(db, ADMIN, wid, "webhook")
    with pytest.raises(crm_config.CrmConfigError, match="^Signing secret: "):
        crm_config.set_config(db, ADMIN, wid, "webhook", url=f"{url}/hooks/leads")
    fresh = crm_config.new_webhook_secret()  # the caller makes it and shows it once
    out = crm_config.set_config(
        db, ADMIN, wid, "webhook", url=f"{url}/hooks/leads", generated_secret=fresh
    )
    assert out == {"secret_generated": True} and fresh.startswith("whsec_")
    assert secrets.get_secret(crm_config.webhook_secret_name(wid)) == fresh
    ok, message = crm_config.test_connection(db, ADMIN, wid)
    assert not ok and "401" in message  # the fake only knows its own secret
    crm_config.set_config(
        db, ADMIN, wid, "webhook", url=f"{url}/hooks/leads", secret=WEBHOOK_SECRET
    )
    again = crm_config.set_config(  # the same URL keeps its secret; the offer goes unused
        db, ADMIN, wid, "webhook", url=f"{url}/hooks/leads", generated_secret="whsec_unused0000"
    )
    assert again == {"secret_generated": False}
    assert secrets.get_secret(crm_config.webhook_secret_name(wid)) == WEBHOOK_SECRET
    ok, message = crm_config.test_connection(db, ADMIN, wid)
    assert ok, message
    configs = crm_config.list_configs(db, ADMIN.scope)
    assert configs["signing_secret"][0] == "…" + WEBHOOK_SECRET[-4:]
    assert WEBHOOK_SECRET not in str(db.rows("SELECT * FROM crm_configs"))
    viewer = access.User(email="v@agency.test", role="viewer")
    with pytest.raises(access.PermissionDenied):
        crm_config.set_config(db, viewer, wid, "webhook", url=f"{url}/hooks/leads")
    sync(db, factory, fake)
    assert len(crm.webhook_events) == db.scalar("SELECT count(*) FROM client_leads")


def test_cli_sets_the_crm_and_delivers(world, monkeypatch):
    from typer.testing import CliRunner

    from core.cli.main import app

    db, fake, bid, wid, factory, crm, url = world
    sync(db, factory, fake)
    runner = CliRunner()
    r = runner.invoke(
        app, ["crm", "set", "Nobody", "--type", "webhook", "--url", f"{url}/hooks/leads"]
    )
    assert r.exit_code == 1 and "No client named 'Nobody'" in r.output
    monkeypatch.setenv("LEADOPS_CRM_SECRET", WEBHOOK_SECRET)
    r = runner.invoke(
        app, ["crm", "set", "Sunbelt Insurance", "--type", "webhook", "--url", f"{url}/hooks/leads"]
    )
    assert r.exit_code == 0, r.output
    assert "Connection test ok" in r.output and WEBHOOK_SECRET not in r.output
    r = runner.invoke(app, ["crm", "deliver", "--workspace", "Sunbelt Insurance"])
    assert r.exit_code == 0, r.output
    leads = db.scalar(  # the backlog within crm_backfill_days (14) of the configuration
        "SELECT count(*) FROM client_leads WHERE first_interested_at >= now() - INTERVAL 14 DAY"
    )
    assert leads >= 1 and db.scalar("SELECT count(*) FROM client_leads") > leads
    assert f"delivered {leads}" in r.output and len(crm.webhook_events) == leads
    r = runner.invoke(app, ["crm", "deliver"])
    assert "queued 0: delivered 0" in r.output and len(crm.webhook_events) == leads


def _no_trace_of(db, value: str) -> None:
    """`value` is in no job row (params, result, error) and no inbox file."""
    from core.platform import inbox, store

    assert value not in str(db.rows("SELECT * FROM jobs")), "a job row holds the secret"
    folder = inbox.inbox_dir(store.db_path_from_env())
    for path in folder.rglob("*") if folder.exists() else []:
        if path.is_file():
            assert value.encode() not in path.read_bytes(), f"{path.name} holds the secret"


def _printed_secret(output: str) -> str:
    lines = [line for line in output.splitlines() if "shown once" in line]
    assert len(lines) == 1, output
    return lines[0].rsplit(" ", 1)[1]


def test_cli_generated_webhook_secret_is_printed_once_and_kept_out_of_jobs(world, monkeypatch):
    """`crm set --type webhook` without --secret: the generated secret reaches the keyring and the
    terminal, never jobs.params/result or the inbox's status file (run here and handed over)."""
    from typer.testing import CliRunner

    from core.cli.main import app
    from core.platform import inbox, store

    db, fake, bid, wid, factory, crm, url = world
    monkeypatch.delenv("LEADOPS_CRM_SECRET", raising=False)
    runner = CliRunner()
    args = ["crm", "set", "Sunbelt Insurance", "--type", "webhook", "--url", f"{url}/hooks/leads"]
    r = runner.invoke(app, [*args, "--no-test"])
    assert r.exit_code == 0, r.output
    first = _printed_secret(r.output)
    assert first.startswith("whsec_") and r.output.count(first) == 1
    assert secrets.get_secret(crm_config.webhook_secret_name(wid)) == first
    _no_trace_of(db, first)
    result = db.scalar("SELECT result FROM jobs WHERE kind = 'crm.set'")
    assert '"secret_generated": true' in result
    assert not [k for k in memory_keyring_names() if k.startswith("pending.")]
    r = runner.invoke(app, [*args, "--no-test"])  # same URL: the stored secret stays, none printed
    assert r.exit_code == 0 and "shown once" not in r.output
    assert secrets.get_secret(crm_config.webhook_secret_name(wid)) == first
    # handed over to a running app: the status file the command reads holds no secret either
    worker = inbox.InboxWorker(db, interval=0.05)
    worker.start()

    def busy():
        raise store.DatabaseBusy(store.db_path_from_env(), None, None)

    written: list[str] = []  # every request and status document the hand-over writes
    real_write = inbox._write_json

    def write_json(path, data):
        written.append(f"{path.parent.name}/{path.name}: {json.dumps(data, default=str)}")
        real_write(path, data)

    monkeypatch.setattr(inbox, "_write_json", write_json)
    monkeypatch.setattr("core.cli.common.open_db", busy)
    monkeypatch.setattr(inbox, "app_alive", lambda path: {"pid": 1})
    try:
        r = runner.invoke(app, [*args[:-1], f"{url}/hooks/other", "--no-test"])
    finally:
        worker.stop()
    assert r.exit_code == 0, r.output
    assert "handing the job to it" in r.output
    second = _printed_secret(r.output)
    assert second != first and secrets.get_secret(crm_config.webhook_secret_name(wid)) == second
    finals = [w for w in written if w.startswith("status/") and '"succeeded"' in w]
    assert len(finals) == 1 and '"secret_generated": true' in finals[0]
    assert not [w for w in written if second in w], "a hand-over file held the secret"
    _no_trace_of(db, second)


def memory_keyring_names() -> list[str]:
    from core.platform import secrets as s

    return [name for _, name in s.backend().values]


def test_a_lead_interested_webhook_is_delivered_without_a_sync(
    memory_keyring, empty_db, crm_url, crm_fake
):
    from core.bison import receiver as webhooks
    from core.platform import inbox, jobs, store
    from core.replies.jobs import crm_deliver_job  # noqa: F401  (registers the job)
    from tests.test_webhooks import mapped_workspace, reply_event, reply_obj

    wid = mapped_workspace(empty_db)
    crm_config.set_config(
        empty_db, ADMIN, wid, "webhook", url=f"{crm_url}/hooks/leads", secret=WEBHOOK_SECRET
    )
    folder = webhooks.webhooks_dir(inbox.inbox_dir(store.db_path_from_env()))
    for n in range(2):  # Email Bison may send the same event twice
        webhooks.write_event_file(
            folder,
            "evt-int-1",
            {
                "event_id": "evt-int-1",
                "payload": reply_event("lead_interested", reply_obj(501, interested=True)),
            },
        )
        result = jobs.run(empty_db, "crm.deliver", {"actor": "cron"}, requested_by="cron")
        assert result["delivered"] == (1 - n)
    assert [e["lead"]["email"] for e in crm_fake.webhook_events] == ["lead601@example.com"]
