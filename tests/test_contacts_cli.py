"""`leadops contacts find | show | edit | move | delete` and `leadops suppression list --search |
counts`: the workbench from the shell, a deletion request reaching the fake Email Bison."""

from __future__ import annotations

import csv
import io

from typer.testing import CliRunner

from core.accounts import access
from core.cli.main import app
from core.pipeline import batching, uploads
from core.platform import secrets, store
from tests.test_contacts import loaded  # noqa: F401  (fixture)
from tests.test_pipeline import MONTH, bison_factory, ws  # noqa: F401

runner = CliRunner()


def cli(*args: str, input: str | None = None):
    return runner.invoke(app, list(args), input=input)


def test_find_show_edit_move_and_delete(loaded):  # noqa: F811
    loaded.close()
    store.close_all()
    r = cli("contacts", "find", "--zip", "75204", "--limit", "10", "--page", "2")
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines()[0] == "40 contacts match; page 2 of 4."
    assert len(r.stdout.splitlines()) == 11
    r = cli("contacts", "find", "--email", "p11", "--csv")
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert [x["email"] for x in rows] == ["p11@example.com"] + [
        f"p11{i}@example.com" for i in range(9)
    ]
    r = cli("contacts", "find", "--zip", "75x")
    assert r.exit_code == 1 and "is not a ZIP code" in r.output
    r = cli("contacts", "show", "info@acme-example.com")
    assert r.exit_code == 0, r.output
    assert "march.csv row 120" in r.stdout and "filter  role account: rejected" in r.stdout
    r = cli("contacts", "edit", "p5@example.com", "--field", "zip", "--value", "75206")
    assert r.exit_code == 1 and "75206 is not in Acme Insurance's territory" in r.output
    r = cli("contacts", "move", "p5@example.com", "--to", "Lone Star HNW")
    assert r.exit_code == 1 and "belongs to Acme Insurance" in r.output
    r = cli("contacts", "move", "p5@example.com", "--to", "Lone Star HNW", "--outside-territory")
    assert r.exit_code == 0 and "Moved from Acme Insurance to Lone Star HNW." in r.stdout
    r = cli("contacts", "delete", "p6@example.com", input="n\n")
    assert r.exit_code == 1 and "Nothing deleted." in r.output
    r = cli("contacts", "delete", "p6@example.com", "--yes")
    assert r.exit_code == 0 and "of Acme Insurance" in r.stdout
    db = store.get_db()
    assert db.scalar("SELECT count(*) FROM contacts WHERE email = 'p6@example.com'") == 0
    actions = {a for (a,) in db.rows("SELECT action FROM audit_log")}
    assert {"contact.move", "contact.delete"} <= actions


def test_deletion_request_from_the_shell_deletes_the_lead_in_email_bison(
    loaded,  # noqa: F811
    bison_fake,
    bison_server,
    bison_factory,  # noqa: F811
    monkeypatch,
):
    db = loaded
    db.execute("UPDATE package_tiers SET refined_contacts = 100 WHERE tier = '100'")
    batching.batch_stage(db, 1, MONTH)
    campaign = min(bison_fake.workspace(1).campaigns)
    uploads.set_campaigns(
        db, access.LOCAL_ADMIN, 1, upload_campaign_id=campaign, evergreen_campaign_id=None
    )
    uploads.upload_stage(db, 1, MONTH, client_factory=bison_factory)
    email, lead_id = db.query(
        "SELECT email, bison_lead_id FROM contacts WHERE status = 'uploaded' ORDER BY id LIMIT 1"
    ).row(0)
    monkeypatch.setenv("LEADOPS_BISON_URL", bison_server.url)
    monkeypatch.setenv("LEADOPS_BISON_RATE_PER_SEC", "0")
    secrets.set_secret(
        db, secrets.bison_token_name(1), bison_fake.token_for(1), kind="bison_token", actor="t"
    )
    db.close()
    store.close_all()
    r = cli("contacts", "delete", email, "--request", input="n\n")
    assert r.exit_code == 1 and "1 contact(s), 1 Email Bison lead(s)" in r.output
    assert lead_id in bison_fake.workspace(1).leads
    r = cli("contacts", "delete", email, "--request", input="y\n")
    assert r.exit_code == 0, r.output
    assert f"Deleted 1 contact(s) and 1 Email Bison lead(s); {email} is suppressed." in r.stdout
    assert lead_id not in bison_fake.workspace(1).leads
    r = cli("suppression", "list", "--reason", "deletion request")
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert [(x["email"], x["source"]) for x in rows] == [(email, "privacy")]
    r = cli("suppression", "counts")
    assert r.exit_code == 0 and "1  deletion request (privacy)" in r.stdout
