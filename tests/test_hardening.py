"""Hostile input is stored and shown verbatim; every write is audited; secrets never leak."""

from __future__ import annotations

import csv
import io
import logging
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.accounts import access, credentials, workspaces
from core.accounts.access import User
from core.accounts.workspaces import WorkspaceInput
from core.platform import audit, exports, secrets, settings
from core.platform.scope import Scope

ROOT = Path(__file__).resolve().parent.parent
HOSTILE = [
    'O\'Brien "Quotes" Agency',
    "x'); DROP TABLE workspaces; --",
    "**bold** _it_ [link](http://evil.example) :red[alarm] <script>alert(1)</script>",
    "Ünïcødé 保险 \u200b zero-width",
    '=HYPERLINK("http://evil.example")',
    "A" * 10_000,
]
ADMIN = User("boss@agency.com", "admin")


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_is_stored_verbatim_through_core(empty_db, text):
    if len(text) > 200:
        with pytest.raises(workspaces.WorkspaceError, match="200 characters"):
            workspaces.create(empty_db, WorkspaceInput(name=text), actor="t")
        return
    wid = workspaces.create(empty_db, WorkspaceInput(name=text), actor="t")
    assert workspaces.get(empty_db, wid)["name"] == text
    assert workspaces.find_by_name(empty_db, text)["id"] == wid
    assert empty_db.table_exists("workspaces")
    buf = io.StringIO()
    exports.export(empty_db, "workspaces", Scope.all(), buf)
    (row,) = list(csv.DictReader(io.StringIO(buf.getvalue(), newline="")))
    assert row["name"] == ("'" + text if text.startswith("=") else text)


def test_hostile_text_through_the_settings_form_is_shown_not_rendered(empty_db):
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=90).run()
    at.switch_page("pages/settings.py").run()
    text = HOSTILE[2]
    at.text_input[0].input(text)
    at.button(key="FormSubmitter:add-client-Add client").click().run()
    assert not at.exception
    assert empty_db.scalar("SELECT name FROM workspaces") == text
    flash = at.success[0].value
    assert (
        "\\*\\*bold\\*\\*" in flash and "\\<script\\>" in flash
    )  # escaped Markdown: shown as typed
    at.text_input[0].input(HOSTILE[1])
    at.button(key="FormSubmitter:add-client-Add client").click().run()
    assert empty_db.scalar("SELECT count(*) FROM workspaces") == 2


def test_search_boxes_take_hostile_text(demo_db):
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=90).run()
    at.switch_page("pages/campaigns.py").run()
    for text in HOSTILE[:4]:
        at.text_input[0].input(text).run()
        assert not at.exception
        assert any("No campaign matches" in i.value for i in at.info)
    at.switch_page("pages/audit_log.py").run()
    for box in at.text_input:
        box.input(HOSTILE[1])
    at.run()
    assert not at.exception


def test_every_write_function_leaves_an_audit_entry(demo_db):
    db = demo_db
    writes = [
        lambda: workspaces.create(db, WorkspaceInput(name="Audit Agency"), actor="t"),
        lambda: workspaces.update(db, 1, {"monthly_target": 150}, actor="t"),
        lambda: workspaces.update_tier(
            db, "100", monthly_target=100, refined_contacts=15500, emails_per_day=1750, actor="t"
        ),
        lambda: settings.set_value(db, "kpi_warning_ratio", 0.8, actor="t"),
        lambda: secrets.set_secret(
            db, "bison.workspace.1", "1|abcdefghijkl", kind="bison_token", actor="t"
        ),
        lambda: credentials.save(
            db, ADMIN, "stripe.main", "stripe_key", "sk_test_abcdefgh12345678"
        ),
        lambda: credentials.test(db, ADMIN, "stripe.main"),
        lambda: credentials.delete(db, ADMIN, "stripe.main"),
        lambda: secrets.delete_secret(db, "bison.workspace.1", actor="t"),
        lambda: access.invite(db, ADMIN, "new@agency.com", "viewer"),
        lambda: access.update(db, ADMIN, "new@agency.com", role="operator"),
    ]
    for write in writes:
        before = db.scalar("SELECT count(*) FROM audit_log")
        write()
        assert db.scalar("SELECT count(*) FROM audit_log") == before + 1, write


def test_credentials_vault_validates_and_masks(demo_db):
    with pytest.raises(credentials.CredentialError, match="States"):
        credentials.save(demo_db, ADMIN, "source.tx", "lead_source", "pw-123456789")
    with pytest.raises(credentials.CredentialError, match="Name"):
        credentials.save(demo_db, ADMIN, "Bad Name!", "stripe_key", "x")
    with pytest.raises(PermissionError):
        credentials.save(
            demo_db, User("ops@a.com", "operator"), "stripe.main", "stripe_key", "sk_1234567890"
        )
    masked = credentials.save(
        demo_db,
        ADMIN,
        "source.tx-1",
        "lead_source",
        "hunter2-secret-pw",
        label="Cole TX",
        username="agency",
        states=["TX", "OK"],
    )
    assert masked == "…t-pw"
    cov = credentials.state_coverage(demo_db)
    assert cov.filter(cov["state"] == "TX")["covered_by"].to_list() == ["Cole TX"]
    assert cov.filter(cov["state"] == "CA")["accounts"].to_list() == [0]
    listed = credentials.list_credentials(demo_db)
    assert "hunter2-secret-pw" not in str(listed.rows())


def test_no_secret_reaches_logs_the_database_or_exports(
    demo_db, caplog, tmp_path, make_bison_fake, bison_server, monkeypatch
):
    """A sync with real tokens, then every export: the token values appear nowhere."""
    from connectors.bison import BisonClient
    from core.bison import sync as bison_sync

    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("LEADOPS_BISON_URL", bison_server.url)
    fake = make_bison_fake(workspaces=2, campaigns_per_ws=3, leads_per_ws=30, replies_per_ws=20)
    db = demo_db
    tokens = []
    for wid, bid in ((1, 1), (2, 2)):
        workspaces.update(db, wid, {"bison_workspace_id": bid}, actor="t")
        tokens.append(fake.token_for(bid))
        secrets.set_secret(
            db, secrets.bison_token_name(wid), tokens[-1], kind="bison_token", actor="t"
        )
    stripe_key = "sk_live_TopSecretStripeKey987"
    credentials.save(db, ADMIN, "stripe.main", "stripe_key", stripe_key)
    fake.fail_next(1, status=429, retry_after=0)

    def factory(token):
        return BisonClient(bison_server.url, token, rate_per_sec=None, sleep=lambda s: None)

    result = bison_sync.sync_bison(
        db, workspace_ids=[1, 2], client_factory=factory, today=fake.state.today
    )
    assert not result["failed"], result
    out = []
    for name in exports.EXPORTS:
        buf = io.StringIO()
        exports.export(db, name, Scope.all(), buf)
        out.append(buf.getvalue())
    db.execute("CHECKPOINT")
    raw_db = b"".join(
        p.read_bytes() for p in Path(db.path).parent.glob("leadops.duckdb*") if p.is_file()
    )
    everything = caplog.text + "".join(out) + str(audit.recent(db, limit=10_000).rows())
    for secret in [*tokens, stripe_key]:
        body = secret.split("|")[-1]
        assert body not in everything, secret[:4]
        assert body.encode() not in raw_db, secret[:4]
