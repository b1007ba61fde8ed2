"""First run to first upload without a shell: connection addresses as settings with environment
overrides, the setup checklist (each line done, missing or failing), the Connections and Setup
tabs, and the commands that do the same from a shell."""

from __future__ import annotations

import datetime as dt
import json
import os
import time

import pytest
from typer.testing import CliRunner

from core.accounts import access, workspaces
from core.accounts.workspaces import WorkspaceInput
from core.platform import connections, inbox, secrets, settings
from core.setup import checklist, connection_tests
from core.setup.checklist import DONE, FAILING, MISSING

ADMIN = access.LOCAL_ADMIN
runner = CliRunner()


def cli(*args: str):
    from core.cli.main import app

    return runner.invoke(app, list(args))


def agency(db, key: str, **kwargs) -> checklist.Item:
    return {i.key: i for i in checklist.agency_items(db, **kwargs)}[key]


def client(db, name: str, key: str, **kwargs) -> checklist.Item:
    items = checklist.build(db, auth_configured=False, **kwargs).clients[name]
    return {i.key: i for i in items}[key]


def heartbeat(db) -> None:
    """What a running LeadOps server writes: its heartbeat (this process stands in for it)."""
    folder = inbox.inbox_dir(db.path)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "app.json").write_text(json.dumps({"pid": os.getpid(), "beat_at": time.time()}))


# -- env override else setting ------------------------------------------------------------------


def test_addresses_come_from_the_setting_unless_the_variable_overrides(empty_db, monkeypatch):
    db = empty_db
    monkeypatch.delenv("LEADOPS_BISON_URL", raising=False)
    monkeypatch.delenv("LEADOPS_MASTER_DB_URL", raising=False)
    assert connections.bison_url(db) == "" and connections.master_db_url(db) == ""
    with pytest.raises(connections.NotConfigured, match="Settings → Connections"):
        connections.require_bison_url(db)
    settings.set_value(db, "bison_url", "https://send.example.com", actor="t")
    settings.set_value(
        db, "master_db_url", "postgresql+psycopg://ops@db.example/contacts", actor="t"
    )
    assert connections.resolve(db, "bison_url") == ("https://send.example.com", "setting")
    assert connections.master_db_url(db) == "postgresql+psycopg://ops@db.example/contacts"
    monkeypatch.setenv("LEADOPS_BISON_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("LEADOPS_MASTER_DB_URL", "postgresql+psycopg://u:pw@h/db")
    assert connections.resolve(db, "bison_url") == ("http://127.0.0.1:9", "LEADOPS_BISON_URL")
    assert connections.master_db_url(db) == "postgresql+psycopg://u:pw@h/db"
    assert connections.master_db_url(None) == "postgresql+psycopg://u:pw@h/db"  # no db: env only
    assert connections.without_password("postgresql+psycopg://u:pw@h/db") == (
        "postgresql+psycopg://u:***@h/db"
    )


def test_connection_settings_refuse_bad_addresses_and_passwords(empty_db):
    with pytest.raises(settings.SettingError, match="http"):
        settings.set_value(empty_db, "bison_url", "send.example.com", actor="t")
    with pytest.raises(settings.SettingError, match="password") as info:
        settings.set_value(empty_db, "master_db_url", "postgresql://u:hunter22@h/db", actor="t")
    assert "hunter22" not in str(info.value)
    assert settings.get(empty_db, "master_db_url") == ""


def test_every_reader_goes_through_the_one_function(empty_db, monkeypatch):
    """Uploads, the scheduler, the master database and the sync read the setting."""
    from connectors.bison import BisonClient
    from core.app import Scheduler
    from core.bison import sync as bison_sync
    from core.pipeline import master_db, uploads

    db = empty_db
    monkeypatch.delenv("LEADOPS_BISON_URL", raising=False)
    monkeypatch.delenv("LEADOPS_MASTER_DB_URL", raising=False)
    wid = workspaces.create(db, WorkspaceInput(name="Acme"), actor="t")
    secrets.set_secret(
        db, secrets.bison_token_name(wid), "9|TokenValue1234", kind="bison_token", actor="t"
    )
    scheduler = Scheduler(db, check_every=3600)
    assert not scheduler.due()
    with pytest.raises(uploads.UploadError, match="Settings → Connections"):
        uploads.bison_client_for(db, wid)
    with pytest.raises(bison_sync.SyncError, match="not configured"):
        bison_sync.sync_bison(db)
    assert not master_db.configured(db)
    assert "LEADOPS_MASTER_DB_URL" in master_db.health(db)["message"]

    settings.set_value(db, "bison_url", "https://send.example.com/", actor="t")
    assert scheduler.due()
    client = uploads.bison_client_for(db, wid)
    assert isinstance(client, BisonClient) and client.base_url == "https://send.example.com"
    client.close()
    settings.set_value(db, "master_db_url", "postgresql+psycopg://ops@db.example/x", actor="t")
    assert master_db.configured(db)

    monkeypatch.setenv("LEADOPS_BISON_URL", "https://override.example.com")
    client = uploads.bison_client_for(db, wid)
    assert client.base_url == "https://override.example.com"
    client.close()


# -- the checklist: the agency ------------------------------------------------------------------


def test_email_bison_line_follows_the_address_and_its_last_test(empty_db, monkeypatch):
    db = empty_db
    monkeypatch.delenv("LEADOPS_BISON_URL", raising=False)
    assert agency(db, "bison").status == MISSING
    settings.set_value(db, "bison_url", "https://send.example.com", actor="t")
    item = agency(db, "bison")
    assert item.status == MISSING and "not tested" in item.reason
    connections.record_test(
        db, "bison", True, "answered", target="https://send.example.com", actor="t"
    )
    assert agency(db, "bison").status == DONE
    connections.record_test(
        db, "bison", False, "No answer", target="https://send.example.com", actor="t"
    )
    item = agency(db, "bison")
    assert item.status == FAILING and "No answer" in item.reason
    settings.set_value(db, "bison_url", "https://other.example.com", actor="t")
    item = agency(db, "bison")
    assert item.status == MISSING and "changed" in item.reason
    monkeypatch.setenv("LEADOPS_BISON_URL", "https://send.example.com")
    item = agency(db, "bison")  # the override is what counts, and the line says so
    assert item.status == FAILING and "LEADOPS_BISON_URL" in item.reason


def test_stripe_and_debounce_lines(empty_db, monkeypatch):
    db = empty_db
    monkeypatch.delenv("STRIPE_API_KEY", raising=False)
    assert agency(db, "stripe").status == MISSING
    monkeypatch.setenv("STRIPE_API_KEY", "sk_test_abcdefgh1234")
    item = agency(db, "stripe")
    assert item.status == DONE and "not synced yet" in item.reason
    db.execute(
        "INSERT INTO sync_runs (source, status, error, finished_at) VALUES ('stripe', 'failed',"
        " 'Invalid API key', now())"
    )
    item = agency(db, "stripe")
    assert item.status == FAILING and "Invalid API key" in item.reason

    assert agency(db, "debounce").status == MISSING
    # found by its kind, whatever name it was saved under
    secrets.set_secret(db, "debounce.main", "debounce-key-5678", kind="debounce_key", actor="t")
    assert agency(db, "debounce").status == DONE
    db.execute(
        "UPDATE secret_refs SET last_tested_at = now() + INTERVAL 1 SECOND, last_test_ok = false,"
        " last_test_message = 'Debounce refused it' WHERE name = 'debounce.main'"
    )
    item = agency(db, "debounce")
    assert item.status == FAILING and "refused" in item.reason


def test_slack_smtp_and_master_database_lines(empty_db, monkeypatch):
    db = empty_db
    monkeypatch.delenv("LEADOPS_MASTER_DB_URL", raising=False)
    for key in ("slack", "smtp", "master_db"):
        assert agency(db, key).status == MISSING
    secrets.set_secret(
        db,
        "slack.webhook",
        "https://hooks.slack.com/services/T/B/abcd1234",
        kind="slack_webhook",
        actor="t",
    )
    assert "not tested" in agency(db, "slack").reason
    connections.record_test(db, "slack", True, "Slack took it", target="…1234", actor="t")
    assert agency(db, "slack").status == DONE
    time.sleep(0.01)
    secrets.set_secret(
        db,
        "slack.webhook",
        "https://hooks.slack.com/services/T/B/efgh1234",
        kind="slack_webhook",
        actor="t",
    )
    assert "changed" in agency(db, "slack").reason  # same last 4, but replaced after the Test

    settings.set_value(db, "smtp_host", "smtp.example.com", actor="t")
    target = checklist.smtp_target(settings.get_all(db))
    connections.record_test(db, "smtp", False, "refused the login", target=target, actor="t")
    assert agency(db, "smtp").status == FAILING
    connections.record_test(db, "smtp", True, "answered", target=target, actor="t")
    assert agency(db, "smtp").status == DONE
    settings.set_value(db, "smtp_port", 465, actor="t")
    assert agency(db, "smtp").status == MISSING

    settings.set_value(db, "master_db_url", "postgresql+psycopg://ops@db.example/c", actor="t")
    connections.record_test(
        db,
        "master_db",
        True,
        "consumers: 10 contacts",
        target="postgresql+psycopg://ops@db.example/c",
        actor="t",
    )
    assert agency(db, "master_db").status == DONE


def test_sign_in_and_schedule_lines(empty_db, monkeypatch, tmp_path):
    db = empty_db
    monkeypatch.delenv("LEADOPS_ADMIN_EMAILS", raising=False)
    assert agency(db, "sign_in", auth_configured=False).status == MISSING
    assert agency(db, "sign_in", auth_configured=True).status == FAILING  # nobody can be admin
    access.invite(db, ADMIN, "boss@agency.example", "admin")
    assert agency(db, "sign_in", auth_configured=True).status == DONE
    (tmp_path / ".streamlit").mkdir()
    (tmp_path / ".streamlit" / "secrets.toml").write_text('[auth]\nclient_id = "x"\n')
    assert checklist.secrets_toml_has_auth([tmp_path])
    assert not checklist.secrets_toml_has_auth([tmp_path / "nowhere"])

    assert agency(db, "schedule").status == MISSING
    heartbeat(db)
    assert agency(db, "schedule").status == DONE
    db.execute(
        "INSERT INTO jobs (id, kind, status, error, requested_by) VALUES"
        " ('j1', 'sync.bison', 'failed', 'boom', 'schedule')"
    )
    item = agency(db, "schedule")
    assert item.status == FAILING and "sync.bison" in item.reason and item.page == "alerts"
    db.execute(
        "INSERT INTO jobs (id, kind, status, requested_by, created_at) VALUES"
        " ('j2', 'sync.bison', 'succeeded', 'schedule', now() + INTERVAL 1 SECOND)"
    )
    assert agency(db, "schedule").status == DONE


# -- the checklist: each client -----------------------------------------------------------------


@pytest.fixture
def acme(empty_db):
    wid = workspaces.create(
        empty_db,
        WorkspaceInput(name="Acme", bison_workspace_id=7, price_per_lead_cents=5000),
        actor="t",
    )
    return empty_db, wid


def test_token_line(acme):
    db, wid = acme
    item = client(db, "Acme", "token")
    assert item.status == MISSING and "--generate" in (item.command or "")
    workspaces.update(db, wid, {"bison_workspace_id": None}, actor="t")
    assert "--bison-workspace-id" in (client(db, "Acme", "token").command or "")
    secrets.set_secret(
        db, secrets.bison_token_name(wid), "7|TokenValueWxyz", kind="bison_token", actor="t"
    )
    item = client(db, "Acme", "token")
    assert item.status == MISSING and "not tested" in item.reason
    db.execute(
        "INSERT INTO sync_runs (source, workspace_id, status, started_at) VALUES"
        " ('bison', ?, 'succeeded', now() + INTERVAL 1 SECOND)",
        [wid],
    )
    assert client(db, "Acme", "token").status == DONE
    db.execute(
        "UPDATE secret_refs SET last_tested_at = now() + INTERVAL 2 SECOND, last_test_ok = false,"
        " last_test_message = 'HTTP 401' WHERE name = ?",
        [secrets.bison_token_name(wid)],
    )
    item = client(db, "Acme", "token")  # the newest evidence wins
    assert item.status == FAILING and "HTTP 401" in item.reason


def test_campaigns_line(acme):
    from core.pipeline import uploads

    db, wid = acme
    assert client(db, "Acme", "campaigns").status == MISSING
    uploads.set_campaigns(db, ADMIN, wid, upload_campaign_id=11, evergreen_campaign_id=None)
    item = client(db, "Acme", "campaigns")
    assert item.status == MISSING and "evergreen" in item.reason
    uploads.set_campaigns(db, ADMIN, wid, upload_campaign_id=11, evergreen_campaign_id=12)
    assert client(db, "Acme", "campaigns").status == DONE  # not synced yet: taken as given
    db.execute(
        "INSERT INTO bison_campaigns (workspace_id, id, name, status) VALUES"
        " (?, 11, 'Renewals', 'active'), (?, 13, 'Other', 'active')",
        [wid, wid],
    )
    item = client(db, "Acme", "campaigns")
    assert item.status == FAILING and "#12" in item.reason


def test_territory_package_crm_and_stripe_lines(acme):
    db, wid = acme
    assert client(db, "Acme", "territory").status == MISSING
    db.execute("INSERT INTO zip_assignments (zip, workspace_id) VALUES ('75201', ?)", [wid])
    assert client(db, "Acme", "territory").status == DONE

    assert client(db, "Acme", "package").status == DONE
    workspaces.update(db, wid, {"price_per_lead_cents": 0}, actor="t")
    assert client(db, "Acme", "package").status == MISSING
    db.execute("UPDATE workspaces SET tier = 'gone' WHERE id = ?", [wid])
    assert client(db, "Acme", "package").status == FAILING

    assert client(db, "Acme", "crm").status == MISSING
    db.execute(
        "INSERT INTO crm_configs (workspace_id, crm_type, updated_by) VALUES (?, 'hubspot', 't')",
        [wid],
    )
    assert "not tested" in client(db, "Acme", "crm").reason
    db.execute(
        "UPDATE crm_configs SET last_test_at = now() + INTERVAL 1 SECOND, last_test_ok = false,"
        " last_test_message = 'remote said 401' WHERE workspace_id = ?",
        [wid],
    )
    item = client(db, "Acme", "crm")
    assert item.status == FAILING and "remote said" not in item.reason  # for admins only
    assert "remote said 401" in client(db, "Acme", "crm", remote_text=True).reason
    db.execute("UPDATE crm_configs SET last_test_ok = true WHERE workspace_id = ?", [wid])
    assert client(db, "Acme", "crm").status == DONE

    assert "sync Stripe" in client(db, "Acme", "stripe_customer").reason
    db.execute("INSERT INTO stripe_customers (id, name) VALUES ('cus_1', 'Acme Inc')")
    assert "None of the 1" in client(db, "Acme", "stripe_customer").reason
    db.execute("UPDATE stripe_customers SET workspace_id = ? WHERE id = 'cus_1'", [wid])
    assert client(db, "Acme", "stripe_customer").status == DONE


# -- connection tests ---------------------------------------------------------------------------


def test_connection_tests_record_their_outcome(
    empty_db, bison_server, make_bison_fake, monkeypatch
):
    db = empty_db
    monkeypatch.delenv("LEADOPS_BISON_URL", raising=False)
    monkeypatch.delenv("LEADOPS_BISON_SUPER_TOKEN", raising=False)
    fake = make_bison_fake()
    assert connection_tests.test_configured(db, ADMIN) == {}  # nothing configured: nothing called
    settings.set_value(db, "bison_url", bison_server.url, actor="t")
    ok, message = connection_tests.test_bison(db, ADMIN)
    assert ok and "no super-admin token" in message
    monkeypatch.setenv("LEADOPS_BISON_SUPER_TOKEN", fake.super_admin_token)
    ok, message = connection_tests.test_bison(db, ADMIN)
    assert ok and "took the super-admin token" in message
    assert agency(db, "bison").status == DONE

    settings.set_value(db, "smtp_host", "smtp.example.com", actor="t")
    ok, _ = connection_tests.test_smtp(
        db, ADMIN, check=lambda server: "smtp.example.com:587 answered"
    )
    assert ok and agency(db, "smtp").status == DONE

    def refuse(server):
        from connectors import smtp

        raise smtp.SmtpError("The SMTP server smtp.example.com:587 refused the check: 535")

    ok, message = connection_tests.test_smtp(db, ADMIN, check=refuse)
    assert not ok and agency(db, "smtp").status == FAILING and "535" in message

    secrets.set_secret(
        db,
        "slack.webhook",
        "https://hooks.slack.com/services/T/B/secretxyz9",
        kind="slack_webhook",
        actor="t",
    )
    sent = []
    ok, _ = connection_tests.test_slack(db, ADMIN, post=lambda url, text: sent.append(text))
    assert ok and sent and agency(db, "slack").status == DONE

    wid = workspaces.create(
        db, WorkspaceInput(name="Acme", bison_workspace_id=fake.workspace_ids[0]), actor="t"
    )
    secrets.set_secret(
        db,
        secrets.bison_token_name(wid),
        fake.token_for(fake.workspace_ids[0]),
        kind="bison_token",
        actor="t",
    )
    results = connection_tests.test_client_tokens(db, ADMIN)
    assert results["Acme"][0] is True
    assert client(db, "Acme", "token").status == DONE


def test_minting_uses_the_configured_instance(empty_db, bison_server, make_bison_fake, monkeypatch):
    from core.bison import admin

    db = empty_db
    monkeypatch.delenv("LEADOPS_BISON_URL", raising=False)
    fake = make_bison_fake()
    monkeypatch.setenv("LEADOPS_BISON_SUPER_TOKEN", fake.super_admin_token)
    wid = workspaces.create(
        db, WorkspaceInput(name="Acme", bison_workspace_id=fake.workspace_ids[0]), actor="t"
    )
    assert [r[1] for r in admin.clients_without_token(db)] == ["Acme"]
    with pytest.raises(connections.NotConfigured):
        admin.generate_missing_tokens(db, None, actor="t")
    settings.set_value(db, "bison_url", bison_server.url, actor="t")
    result = admin.generate_missing_tokens(db, None, actor="t")
    assert len(result["minted"]) == 1 and admin.clients_without_token(db) == []
    assert secrets.get_secret(secrets.bison_token_name(wid))


# -- the command line ---------------------------------------------------------------------------


def test_cli_settings_list_get_set(empty_db, monkeypatch):
    monkeypatch.delenv("LEADOPS_BISON_URL", raising=False)
    res = cli("settings", "set", "bison_url", "https://send.example.com")
    assert res.exit_code == 0 and "→ https://send.example.com" in res.output
    assert settings.get(empty_db, "bison_url") == "https://send.example.com"
    res = cli("settings", "set", "kpi_warning_ratio", "7")
    assert res.exit_code == 1 and "at most" in res.output
    res = cli("settings", "set", "nope", "1")
    assert res.exit_code == 1 and "Unknown setting" in res.output
    monkeypatch.setenv("LEADOPS_BISON_URL", "https://override.example.com")
    res = cli("settings", "get", "bison_url")
    assert res.exit_code == 0 and "overridden by LEADOPS_BISON_URL" in res.output
    assert "Email Bison instance" in res.output  # the help
    res = cli("settings", "list")
    assert res.exit_code == 0
    assert all(f"{name} = " in res.output for name in settings.REGISTRY)
    assert empty_db.scalar("SELECT count(*) FROM audit_log WHERE action = 'settings.update'") == 1


def test_cli_workspaces_edit(empty_db):
    wid = workspaces.create(
        empty_db, WorkspaceInput(name="Acme", licensed_states=["TX"]), actor="t"
    )
    res = cli(
        "workspaces",
        "edit",
        "acme",
        "--goal",
        "150",
        "--tier",
        "200",
        "--states",
        "TX,OK",
        "--bison-workspace-id",
        "42",
        "--price-per-lead",
        "55.5",
        "--inactive",
        "--name",
        "Acme Co",
    )
    assert res.exit_code == 0, res.output
    ws = workspaces.get(empty_db, wid)
    assert (ws["monthly_target"], ws["tier"], ws["licensed_states"]) == (150, "200", ["OK", "TX"])
    assert (ws["bison_workspace_id"], ws["price_per_lead_cents"], ws["active"]) == (42, 5550, False)
    assert ws["name"] == "Acme Co" and "monthly_target: 100 → 150" in res.output
    assert cli("workspaces", "edit", "Acme Co", "--active").exit_code == 0
    assert workspaces.get(empty_db, wid)["active"]
    res = cli("workspaces", "edit", "Acme Co", "--tier", "999")
    assert res.exit_code == 1 and "Tier" in res.output
    assert cli("workspaces", "edit", "Nobody", "--goal", "3").exit_code == 1
    assert "Nothing to change" in cli("workspaces", "edit", "Acme Co").output


def test_cli_pipeline_campaigns_lets_a_headless_install_upload(empty_db):
    from core.pipeline import uploads

    db = empty_db
    wid = workspaces.create(db, WorkspaceInput(name="Acme"), actor="t")
    res = cli("pipeline", "campaigns", "--workspace", "Acme")
    assert res.exit_code == 0 and "No campaigns synced" in res.output
    db.execute(
        "INSERT INTO bison_campaigns (workspace_id, id, name, status) VALUES"
        " (?, 11, 'Renewals March', 'active'), (?, 12, 'Evergreen', 'active'),"
        " (?, 13, 'Twin', 'draft'), (?, 14, 'Twin', 'draft')",
        [wid] * 4,
    )
    res = cli(
        "pipeline", "campaigns", "--workspace", "Acme", "--upload", "11", "--evergreen", "evergreen"
    )
    assert res.exit_code == 0, res.output
    chosen = uploads.campaign_settings(db, wid)
    assert (chosen["upload_campaign_id"], chosen["evergreen_campaign_id"]) == (11, 12)
    res = cli("pipeline", "campaigns", "--workspace", "Acme", "--upload", "Renewals March")
    assert res.exit_code == 0 and "Evergreen (#12)" in res.output  # the other is kept
    for bad, said in (("99", "not among"), ("Twin", "give the id"), ("Nope", "No campaign named")):
        res = cli("pipeline", "campaigns", "--workspace", "Acme", "--upload", bad)
        assert res.exit_code == 1 and said in res.output, res.output
    res = cli("pipeline", "campaigns", "--workspace", "Acme", "--evergreen", "none")
    assert (
        res.exit_code == 0 and uploads.campaign_settings(db, wid)["evergreen_campaign_id"] is None
    )
    assert db.scalar("SELECT count(*) FROM audit_log WHERE action = 'pipeline.campaigns'") == 3


def test_cli_filters(empty_db):
    db = empty_db
    workspaces.create(db, WorkspaceInput(name="Acme"), actor="t")
    res = cli("filters", "list")
    assert res.exit_code == 0 and "role account" in res.output
    res = cli(
        "filters",
        "add",
        "no gmail",
        "--field",
        "email_domain",
        "--operator",
        "equals",
        "--value",
        "gmail.com",
        "--workspace",
        "Acme",
    )
    assert res.exit_code == 0, res.output
    rule_id = db.scalar("SELECT id FROM filter_rules WHERE name = 'no gmail'")
    assert db.scalar("SELECT workspace_id FROM filter_rules WHERE id = ?", [rule_id]) is not None
    assert "now off" in cli("filters", "disable", "no gmail").output
    assert "already off" in cli("filters", "disable", str(rule_id)).output
    assert db.scalar("SELECT enabled FROM filter_rules WHERE id = ?", [rule_id]) is False
    assert "now on" in cli("filters", "enable", "no gmail").output
    res = cli("filters", "add", "bad", "--field", "shoe_size", "--operator", "equals")
    assert res.exit_code == 1 and "Field" in res.output
    assert cli("filters", "enable", "9999").exit_code == 1
    res = cli("filters", "remove", "no gmail")
    assert res.exit_code == 0 and not db.scalar(
        "SELECT count(*) FROM filter_rules WHERE id = ?", [rule_id]
    )


def test_cli_setup_prints_the_checklist_and_exits_1_until_done(
    empty_db, monkeypatch, bison_server, make_bison_fake
):
    db = empty_db
    for var in (
        "LEADOPS_BISON_URL",
        "LEADOPS_MASTER_DB_URL",
        "STRIPE_API_KEY",
        "LEADOPS_BISON_SUPER_TOKEN",
    ):
        monkeypatch.delenv(var, raising=False)
    res = cli("setup")
    assert res.exit_code == 1
    assert "[MISSING] Email Bison reachable" in res.output and "No clients yet" in res.output
    assert "leadops settings set bison_url" in res.output

    # Everything in place: the checklist is complete and the command says so with exit code 0.
    make_bison_fake()
    settings.set_value(db, "bison_url", bison_server.url, actor="t")
    monkeypatch.setenv("STRIPE_API_KEY", "sk_test_abcdefgh1234")
    secrets.set_secret(db, "debounce", "debounce-key-5678", kind="debounce_key", actor="t")
    secrets.set_secret(
        db,
        "slack.webhook",
        "https://hooks.slack.com/services/T/B/abcd1234",
        kind="slack_webhook",
        actor="t",
    )
    settings.set_value(db, "smtp_host", "smtp.example.com", actor="t")
    settings.set_value(db, "master_db_url", "postgresql+psycopg://ops@db.example/c", actor="t")
    monkeypatch.setattr(checklist, "secrets_toml_has_auth", lambda folders=None: True)
    monkeypatch.setenv("LEADOPS_ADMIN_EMAILS", "boss@agency.example")
    heartbeat(db)
    now = dt.datetime.now(dt.UTC)
    for name, target in (
        ("slack", "…1234"),
        ("smtp", checklist.smtp_target(settings.get_all(db))),
        ("master_db", "postgresql+psycopg://ops@db.example/c"),
    ):
        connections.record_test(db, name, True, "fine", target=target, actor="t")
    # --test calls every configured connection; here only Email Bison (the fake) answers for real
    monkeypatch.setattr(connection_tests, "TESTS", {"bison": connection_tests.test_bison})
    res = cli("setup", "--test")
    assert "tested bison: ok" in res.output, res.output
    assert res.exit_code == 0, res.output
    assert "8 done, 0 missing, 0 failing." in res.output
    assert db.scalar("SELECT tested_at FROM connection_tests WHERE name = 'bison'") >= now


def test_cli_setup_per_client(empty_db):
    workspaces.create(empty_db, WorkspaceInput(name="Acme"), actor="t")
    res = cli("setup", "--workspace", "acme")
    assert res.exit_code == 1
    assert "Acme" in res.output and "[MISSING] Territory assigned" in res.output
    assert "leadops pipeline campaigns --workspace Acme" in res.output
    assert cli("setup", "--workspace", "Nobody").exit_code == 1


# -- the pages ----------------------------------------------------------------------------------


def _markdown(at) -> str:
    return "\n".join(m.value for m in at.markdown)


def test_setup_and_connections_tabs_render_on_demo_data(demo_db, monkeypatch):
    from tests.test_pages import run_page

    monkeypatch.delenv("LEADOPS_BISON_URL", raising=False)
    at = run_page("pages/settings.py")
    labels = [t.label for t in at.tabs]
    assert "Connections" in labels and "Setup" in labels
    text = _markdown(at)
    assert "Email Bison reachable" in text and "Stripe customer mapped" in text
    links = at.get("page_link")
    assert links, "the checklist links to where each line is fixed"
    assert [b for b in at.button if b.label == "Mint missing tokens"]
    assert [t for t in at.text_input if t.label == "Email Bison address"]


def test_connections_tab_saves_tests_and_the_setup_tab_shows_it(
    empty_db, bison_server, make_bison_fake, monkeypatch
):
    from tests.test_pages import run_page

    monkeypatch.delenv("LEADOPS_BISON_URL", raising=False)
    monkeypatch.delenv("LEADOPS_BISON_SUPER_TOKEN", raising=False)
    make_bison_fake()
    at = run_page("pages/settings.py")
    [t for t in at.text_input if t.label == "Email Bison address"][0].input(bison_server.url)
    at.button(key="FormSubmitter:conn-bison-Save address").click().run()
    assert not at.exception and settings.get(empty_db, "bison_url") == bison_server.url
    at.button(key="conn-test-bison").click().run()
    assert not at.exception
    assert any("Email Bison answered" in s.value for s in at.success)
    assert empty_db.scalar("SELECT ok FROM connection_tests WHERE name = 'bison'") is True
    line = [m.value for m in at.markdown if "Email Bison reachable" in m.value][0]
    assert "check_circle" in line  # done

    monkeypatch.setenv("LEADOPS_BISON_URL", "http://127.0.0.1:9")
    at.run()
    assert any("LEADOPS_BISON_URL" in i.value for i in at.info)  # the override is in force


def test_an_empty_install_shows_the_agency_checklist_on_the_overview(empty_db):
    from tests.test_pages import run_page

    at = run_page()
    assert "No clients yet" in at.info[0].value  # the demo offer stays first
    text = _markdown(at)
    assert "Email Bison reachable" in text and "Schedule running" in text
    assert "Territory assigned" not in text  # no clients, no client lines
