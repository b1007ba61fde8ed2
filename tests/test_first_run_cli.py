"""First run to first upload from the command line alone, and credentials found by their kind.

The path a headless install scripts: a fresh database with no secret store, `leadops settings
set bison_url`, `leadops workspaces add` (the token from the environment, never an argument),
`leadops credentials test`, `leadops sync bison`, `leadops pipeline campaigns`, `leadops
territories import`, `leadops import contacts`, `leadops pipeline run`; `leadops setup
--workspace` says what is left (exit code 1) until the client is set up (exit code 0). Every
command is the real `leadops` entry point, against Email Bison, CRM and Stripe fakes over HTTP.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from core.platform import secrets, settings
from core.setup import checklist, connection_tests
from tests import crm_fixtures
from tests.fakes.crm_server import TOKEN as CRM_TOKEN

crm_server = crm_fixtures.crm_server
crm_fake = crm_fixtures.crm_fake
crm_url = crm_fixtures.crm_url
memory_keyring = crm_fixtures.memory_keyring  # Argon2 costs seconds a secret; not what is tested

CLIENT = "Harbor Point Insurance"
MONTH = "2027-03"
ZIPS = ("75201", "75204", "75205")
CONTACTS = 30
runner = CliRunner()


def leadops(*args: str, code: int = 0) -> str:
    from core.cli.main import app

    res = runner.invoke(app, list(args))
    assert res.exit_code == code, (args, res.exit_code, res.output)
    return res.output


def lines(output: str) -> dict[str, str]:
    """`leadops setup`'s lines: label -> done, MISSING or FAILING."""
    out = {}
    for line in output.splitlines():
        line = line.strip()
        if line.startswith("[") and "]" in line:
            mark, rest = line[1:].split("]", 1)
            out[rest.strip().split(":", 1)[0]] = mark.strip()
    return out


@pytest.fixture
def no_store(monkeypatch):
    """A headless server's first run: no OS keyring, no master password, no key file yet."""
    monkeypatch.delenv("LEADOPS_KEYRING_PASSWORD", raising=False)
    monkeypatch.delenv("LEADOPS_KEYRING_FILE", raising=False)
    for var in ("LEADOPS_BISON_URL", "LEADOPS_BISON_SUPER_TOKEN", "LEADOPS_MASTER_DB_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("LEADOPS_BISON_RATE_PER_SEC", "0")
    assert secrets.store_status().state == "not_set_up"


def test_first_run_to_first_upload_from_the_command_line(
    empty_db, no_store, bison_server, make_bison_fake, crm_fake, crm_url, sdk, monkeypatch, tmp_path
):
    db = empty_db
    fake = make_bison_fake(workspaces=1, campaigns_per_ws=2, leads_per_ws=5, replies_per_ws=4)
    bison_id = fake.workspace_ids[0]
    out = leadops("setup", code=1)
    assert "[MISSING] Email Bison reachable" in out and "No clients yet" in out

    # Email Bison's address, tested.
    leadops("settings", "set", "bison_url", bison_server.url)
    assert "tested bison: ok" in leadops("setup", "--test", code=1)

    # The client, its token from the environment: the first secret sets the store up.
    monkeypatch.setenv("LEADOPS_NEW_BISON_TOKEN", fake.token_for(bison_id))
    out = leadops("workspaces", "add", CLIENT, "--bison-workspace-id", str(bison_id))
    monkeypatch.delenv("LEADOPS_NEW_BISON_TOKEN")
    wid = db.scalar("SELECT id FROM workspaces WHERE name = ?", [CLIENT])
    assert f"(id {wid}), Email Bison token …{fake.token_for(bison_id)[-4:]}" in out
    key = Path(os.environ["LEADOPS_DB"]).parent / secrets.KEY_FILE_NAME
    assert key.exists() and stat.S_IMODE(key.stat().st_mode) == 0o600
    assert secrets.store_status().state == "key_file"
    before = lines(leadops("setup", "--workspace", CLIENT, code=1))
    assert "Email Bison reachable" not in before  # the client's lines only
    assert before["Email Bison token tested"] == "MISSING"
    assert before["Upload and evergreen campaigns chosen"] == "MISSING"
    assert before["Territory assigned"] == "MISSING"

    # Its token tested against Email Bison.
    assert "Test ok" in leadops("credentials", "test", secrets.bison_token_name(wid))
    assert lines(leadops("setup", "--workspace", CLIENT, code=1))["Email Bison token tested"] == (
        "done"
    )

    # Its campaigns, synced, then chosen by name.
    leadops("sync", "bison", "--workspace", CLIENT)
    names = sorted(c["name"] for c in fake.workspace(bison_id).campaigns.values())
    leadops(
        "pipeline",
        "campaigns",
        "--workspace",
        CLIENT,
        "--upload",
        names[0],
        "--evergreen",
        names[1],
    )
    assert (
        lines(leadops("setup", "--workspace", CLIENT, code=1))[
            "Upload and evergreen campaigns chosen"
        ]
        == "done"
    )

    # Its territory, its price, its CRM (tested when set), its Stripe customer.
    zips = tmp_path / "zips.csv"
    zips.write_text("zip,client\n" + "".join(f"{z},{CLIENT}\n" for z in ZIPS), encoding="utf-8")
    leadops("territories", "import", str(zips))
    leadops("workspaces", "edit", CLIENT, "--price-per-lead", "65")
    monkeypatch.setenv("LEADOPS_CRM_TOKEN", CRM_TOKEN)
    leadops("crm", "set", CLIENT, "--type", "hubspot", "--url", crm_url)
    monkeypatch.delenv("LEADOPS_CRM_TOKEN")
    sdk.v1.customers.create(params={"name": CLIENT, "metadata": {"leadops_workspace": CLIENT}})
    leadops("sync", "stripe")

    # The contacts file, imported, and the pipeline run through the upload.
    source = tmp_path / "contacts.csv"
    source.write_text(
        "email,first_name,last_name,zip,purchase_date,home_value\n"
        + "".join(
            f"owner{i}@harborpoint-leads.example,Pat{i},Lee{i},{ZIPS[i % 3]},2019-03-{i % 28 + 1:02d},"
            f"{250_000 + i * 1000}\n"
            for i in range(CONTACTS)
        ),
        encoding="utf-8",
    )
    leads_before = len(fake.workspace(bison_id).leads)
    out = leadops("import", "contacts", str(source), "--workspace", CLIENT)
    assert f"{CONTACTS} rows read, {CONTACTS} imported, 0 duplicates, 0 rejected" in out
    leadops("pipeline", "run", "--workspace", CLIENT, "--month", MONTH)
    uploaded = db.scalar(
        "SELECT count(*) FROM contacts WHERE workspace_id = ? AND status = 'uploaded'", [wid]
    )
    ws = fake.workspace(bison_id)
    campaign = next(cid for cid, c in ws.campaigns.items() if c["name"] == names[0])
    with fake.lock:
        new = [
            lead for lead in ws.leads.values() if lead.email.endswith("@harborpoint-leads.example")
        ]
        attached = [lead for lead in new if campaign in [c["campaign_id"] for c in lead.campaigns]]
    assert uploaded > 0 and len(new) == uploaded == len(ws.leads) - leads_before == len(attached)

    # The client is set up: every one of its lines is done, and the exit code says so.
    after = lines(leadops("setup", "--workspace", CLIENT))
    assert set(after.values()) == {"done"} and len(after) == len(before), after


# -- credentials are found by their kind, whatever name they were saved under -------------------


def test_credentials_are_found_by_kind_whatever_their_name(
    empty_db, memory_keyring, bison_server, make_bison_fake, monkeypatch
):
    from core.accounts import access
    from core.pipeline import verification

    db = empty_db
    monkeypatch.delenv("LEADOPS_BISON_URL", raising=False)
    monkeypatch.delenv("LEADOPS_BISON_SUPER_TOKEN", raising=False)

    def item(key: str) -> checklist.Item:
        return {i.key: i for i in checklist.agency_items(db)}[key]

    # Debounce: an older key under the old fixed name, a newer one saved as debounce.main.
    assert item("debounce").status == checklist.MISSING
    assert not verification.debounce_configured(db)
    secrets.set_secret(db, "debounce", "old-debounce-key-1111", kind="debounce_key", actor="t")
    db.execute("UPDATE secret_refs SET updated_at = now() - INTERVAL 1 DAY WHERE name = 'debounce'")
    secrets.set_secret(db, "debounce.main", "new-debounce-key-2222", kind="debounce_key", actor="t")
    assert verification.debounce_configured(db)
    assert item("debounce").status == checklist.DONE and "…2222" in item("debounce").reason
    assert verification.debounce_key(db) == "new-debounce-key-2222"
    # …and only the label: with nothing under the old name, the key still counts.
    secrets.delete_secret(db, "debounce", actor="t")
    assert item("debounce").status == checklist.DONE and verification.debounce_configured(db)

    # The connection tests read the passwords and the super-admin token by kind too.
    secrets.set_secret(db, "smtp.office", "smtp-password-3333", kind="smtp_password", actor="t")
    secrets.set_secret(
        db, "pg.replica", "master-db-pass-4444", kind="master_db_password", actor="t"
    )
    assert connection_tests.stored_secret(db, checklist.SMTP_PASSWORD_SECRET, "smtp_password") == (
        "smtp-password-3333"
    )
    assert (
        connection_tests.stored_secret(
            db, checklist.MASTER_DB_PASSWORD_SECRET, "master_db_password"
        )
        == "master-db-pass-4444"
    )
    fake = make_bison_fake(workspaces=1)
    settings.set_value(db, "bison_url", bison_server.url, actor="t")
    ok, message = connection_tests.test_bison(db, access.LOCAL_ADMIN)
    assert ok and "no super-admin token" in message
    secrets.set_secret(
        db, "bison.agency-admin", fake.super_admin_token, kind="bison_super_admin", actor="t"
    )
    ok, message = connection_tests.test_bison(db, access.LOCAL_ADMIN)
    assert ok and "took the super-admin token" in message, message
