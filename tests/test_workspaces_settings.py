"""Client workspaces, package tiers, the settings registry, the secret store and the audit log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.accounts import workspaces
from core.accounts.workspaces import WorkspaceError, WorkspaceInput
from core.platform import audit, secrets, settings

ROOT = Path(__file__).resolve().parent.parent


def test_create_validates_and_audits(empty_db):
    db = empty_db
    wid = workspaces.create(
        db,
        WorkspaceInput(
            name="  Acme Insurance  ",
            contact_email="a@acme.com",
            licensed_states=["tx", "OK"],
            tier="200",
            billing_type="retainer",
            retainer_cents=600000,
        ),
        actor="alice",
    )
    ws = workspaces.get(db, wid)
    assert ws["name"] == "Acme Insurance" and ws["licensed_states"] == ["OK", "TX"]
    assert ws["monthly_target"] == 200  # from the tier
    entry = db.query("SELECT * FROM audit_log WHERE action = 'workspace.create'").row(0, named=True)
    assert entry["actor"] == "alice" and entry["entity_id"] == str(wid)
    assert json.loads(entry["after"])["name"] == "Acme Insurance"
    for bad, msg in [
        (WorkspaceInput(name=""), "Name"),
        (WorkspaceInput(name="acme insurance"), "already exists"),
        (WorkspaceInput(name="X", contact_email="not-an-email"), "Contact email"),
        (WorkspaceInput(name="X", licensed_states=["QQ"]), "QQ"),
        (WorkspaceInput(name="X", tier="999"), "Tier"),
        (WorkspaceInput(name="X", billing_type="barter"), "Billing type"),
        (WorkspaceInput(name="X", price_per_lead_cents=-5), "cannot be negative"),
        (WorkspaceInput(name="X" * 201), "200 characters"),
    ]:
        with pytest.raises(WorkspaceError, match=msg):
            workspaces.create(db, bad, actor="alice")
    assert db.scalar("SELECT count(*) FROM workspaces") == 1  # nothing half-created


def test_hostile_names_are_stored_verbatim(empty_db):
    name = "Robert'); DROP TABLE workspaces;-- <b>bold</b> **md** ünïcödé"
    wid = workspaces.create(empty_db, WorkspaceInput(name=name), actor="t")
    assert workspaces.get(empty_db, wid)["name"] == name
    assert empty_db.table_exists("workspaces")


def test_update_rename_deactivate_are_audited_with_before_and_after(empty_db):
    wid = workspaces.create(empty_db, WorkspaceInput(name="Old Name"), actor="t")
    assert workspaces.update(empty_db, wid, {"name": "New Name"}, actor="bob") == {
        "name": "New Name"
    }
    assert (
        workspaces.update(empty_db, wid, {"name": "New Name"}, actor="bob") == {}
    )  # no-op writes nothing
    workspaces.update(empty_db, wid, {"active": False}, actor="bob")
    log = audit.recent(empty_db, entity="workspace")
    assert log["action"].to_list() == [
        "workspace.deactivate",
        "workspace.rename",
        "workspace.create",
    ]
    rename = log.row(1, named=True)
    assert json.loads(rename["before"]) == {"name": "Old Name"} and json.loads(rename["after"]) == {
        "name": "New Name"
    }
    with pytest.raises(WorkspaceError, match="Cannot change"):
        workspaces.update(empty_db, wid, {"id": 5}, actor="bob")


def test_client_pickers_labels_and_the_lookup_by_name(empty_db):
    from core.platform.scope import Scope

    db = empty_db
    b = workspaces.create(db, WorkspaceInput(name="Beta"), actor="t")
    a = workspaces.create(db, WorkspaceInput(name="Acme"), actor="t")
    c = workspaces.create(db, WorkspaceInput(name="Calm"), actor="t")
    workspaces.update(db, c, {"active": False}, actor="t")
    assert list(workspaces.labels(db).items()) == [(a, "Acme"), (b, "Beta")]  # name order
    assert workspaces.labels(db, Scope.only([b, c])) == {b: "Beta"}
    assert workspaces.labels(db, Scope.all(), active_only=False) == {
        a: "Acme",
        b: "Beta",
        c: "Calm",
    }
    assert workspaces.id_by_name(db, "  acme ") == a
    assert workspaces.id_by_name(db, "Calm") == c  # inactive clients are still found
    assert workspaces.id_by_name(db, "Nobody") is None


def test_tiers_are_editable_settings(empty_db):
    workspaces.update_tier(
        empty_db, "100", monthly_target=100, refined_contacts=16000, emails_per_day=1800, actor="t"
    )
    row = empty_db.rows(
        "SELECT refined_contacts, emails_per_day FROM package_tiers WHERE tier = '100'"
    )[0]
    assert row == (16000, 1800)
    with pytest.raises(WorkspaceError, match="positive"):
        workspaces.update_tier(
            empty_db, "100", monthly_target=0, refined_contacts=1, emails_per_day=1, actor="t"
        )
    assert empty_db.scalar("SELECT count(*) FROM audit_log WHERE action = 'tier.update'") == 1


def test_settings_registry_types_defaults_and_audit(empty_db):
    assert settings.get(empty_db, "kpi_warning_ratio") == 0.9
    settings.set_value(empty_db, "kpi_warning_ratio", "0.85", actor="t")
    assert settings.get(empty_db, "kpi_warning_ratio") == 0.85
    with pytest.raises(settings.SettingError, match="at most"):
        settings.set_value(empty_db, "kpi_warning_ratio", 3, actor="t")
    with pytest.raises(settings.SettingError, match="not a valid int"):
        settings.set_value(empty_db, "source_row_limit", "lots", actor="t")
    with pytest.raises(settings.SettingError, match="Unknown setting"):
        settings.set_value(empty_db, "nope", 1, actor="t")
    assert empty_db.scalar("SELECT count(*) FROM audit_log WHERE action = 'settings.update'") == 1


def test_readme_documents_every_setting_and_environment_variable():
    readme = (ROOT / "README.md").read_text()
    for name in settings.REGISTRY:
        assert f"`{name}`" in readme, f"README does not document the setting {name}"
    import re

    used = set()
    for path in (
        list((ROOT / "core").rglob("*.py"))
        + list((ROOT / "connectors").rglob("*.py"))
        + [ROOT / "streamlit_app.py"]
    ):
        used |= set(re.findall(r"\b(LEADOPS_[A-Z_]+)\b", path.read_text()))
    for var in sorted(used):
        assert f"`{var}`" in readme, f"README does not document {var}"


def test_secrets_live_in_the_keyring_never_in_the_database(empty_db, tmp_path):
    token = "42|SuperSecretBisonToken9f3a"
    masked = secrets.set_secret(empty_db, "bison.workspace.1", token, kind="bison_token", actor="t")
    assert masked == "…9f3a"
    assert secrets.get_secret("bison.workspace.1") == token
    secrets._cache.clear()  # read back from the encrypted file
    assert secrets.get_secret("bison.workspace.1") == token
    refs = secrets.list_refs(empty_db)
    assert refs["value"].to_list() == ["…9f3a"]
    keyring_file = Path(secrets.backend().file_path)
    assert token.encode() not in keyring_file.read_bytes()
    empty_db.execute("CHECKPOINT")
    for f in Path(empty_db.path).parent.glob("leadops.duckdb*"):
        if f.is_file():
            assert token.encode() not in f.read_bytes()
    assert token not in str(audit.recent(empty_db).rows())
    secrets.delete_secret(empty_db, "bison.workspace.1", actor="t")
    assert secrets.get_secret("bison.workspace.1") is None
    assert secrets.list_refs(empty_db).height == 0


def test_a_password_store_without_its_password_gives_a_clear_message(monkeypatch, empty_db):
    secrets.set_secret(empty_db, "x", "value-1234", kind="k", actor="t")  # made with the password
    monkeypatch.delenv("LEADOPS_KEYRING_PASSWORD")
    with pytest.raises(secrets.SecretsUnavailable, match="LEADOPS_KEYRING_PASSWORD"):
        secrets.set_secret(empty_db, "x", "value-5678", kind="k", actor="t")
    with pytest.raises(secrets.SecretsUnavailable, match="LEADOPS_KEYRING_PASSWORD"):
        secrets.get_secret("x")
    assert secrets.store_status().state == "unavailable"
    assert not secrets.key_file_path().exists()  # no key is made for a file it cannot open
