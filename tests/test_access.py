"""Roles, scope and sign-in: enforced in core, reflected in the pages."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core import overview
from core.accounts import access
from core.accounts.access import User
from core.campaigns import campaigns

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "streamlit_app.py")
AS_OF = dt.date(2026, 11, 23)
AUTH = {
    "redirect_uri": "http://localhost:8501/oauth2callback",
    "cookie_secret": "test-cookie-secret-0123456789",
    "client_id": "leadops",
    "client_secret": "test-client-secret",
    "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration",
}
ADMIN = User("boss@agency.com", "admin")

EXPECTED = {
    "admin": set(access.ACTIONS),
    "operator": {
        "export",
        "campaign.act",
        "sync.run",
        "alerts.run",
        "alerts.ack",
        "reports.send",
        "replies.manage",
        "leads.manage",
        "crm.deliver",
        "territory.manage",
        "pipeline.run",
        "pipeline.import",
        "contacts.manage",
    },
    "viewer": {"export"},
    "client": {"export", "leads.manage"},
}


@pytest.mark.parametrize("role", access.ROLES)
def test_role_matrix(role):
    user = User(f"{role}@agency.com", role, workspace_id=1 if role == "client" else None)
    assert {a for a in access.ACTIONS if user.can(a)} == EXPECTED[role]
    pages = {p for p in access.PAGES if user.can_see(p)}
    assert ("settings" in pages) == (role == "admin")
    assert ("audit_log" in pages) == (role == "admin")
    assert "overview" in pages


def test_a_client_never_reads_another_clients_rows_even_through_a_crafted_call(demo_db):
    me = User("agent@client.com", "client", workspace_id=4)
    assert me.scope.narrow(5).key == ()  # asking for another client gives nothing
    board = overview.client_board(demo_db, me.scope.narrow(5), AS_OF)
    assert board.height == 0
    assert set(overview.client_board(demo_db, me.scope, AS_OF)["workspace_id"]) == {4}
    assert set(campaigns.list_campaigns(demo_db, me.scope)["workspace_id"]) == {4}
    assert campaigns.campaign_steps(demo_db, me.scope, 5, 1010).height == 0
    assert set(campaigns.sender_accounts(demo_db, me.scope)["workspace_id"]) == {4}
    other = demo_db.scalar("SELECT min(id) FROM bison_campaigns WHERE workspace_id = 5")
    with pytest.raises(PermissionError):
        campaigns.campaign_action(demo_db, me, 5, other, "pause")
    operator = User("ops@agency.com", "operator")
    with pytest.raises(campaigns.CampaignActionError, match="no Email Bison token"):
        campaigns.campaign_action(
            demo_db, operator, 5, other, "pause"
        )  # allowed; fails later for a token
    viewer = User("v@agency.com", "viewer")
    with pytest.raises(PermissionError):
        campaigns.campaign_action(demo_db, viewer, 5, other, "pause")


def test_users_invite_update_and_guards(demo_db, monkeypatch):
    monkeypatch.delenv("LEADOPS_ADMIN_EMAILS", raising=False)
    db = demo_db
    access.invite(db, ADMIN, "Boss@Agency.com", "admin")
    access.invite(db, ADMIN, "ops@agency.com", "operator")
    with pytest.raises(access.UserError, match="already has access"):
        access.invite(db, ADMIN, "OPS@agency.com", "viewer")
    with pytest.raises(access.UserError, match="Client"):
        access.invite(db, ADMIN, "agent@client.com", "client")
    access.invite(db, ADMIN, "agent@client.com", "client", workspace_id=3)
    with pytest.raises(access.UserError, match="Email"):
        access.invite(db, ADMIN, "not an email", "viewer")
    with pytest.raises(PermissionError):
        access.invite(db, User("ops@agency.com", "operator"), "x@y.com", "admin")
    assert access.resolve(db, "AGENT@client.com") == User(
        "agent@client.com", "client", workspace_id=3
    )
    access.update(db, ADMIN, "ops@agency.com", active=False)
    assert access.resolve(db, "ops@agency.com") is None  # deactivated users cannot sign in
    with pytest.raises(access.UserError, match="own admin"):
        access.update(db, User("boss@agency.com", "admin"), "boss@agency.com", role="viewer")
    actions = db.query("SELECT action FROM audit_log WHERE entity = 'user' ORDER BY id")[
        "action"
    ].to_list()
    assert actions == ["user.invite", "user.invite", "user.invite", "user.deactivate"]
    assert access.resolve(db, "stranger@x.com") is None


def test_bootstrap_admin_from_environment(demo_db, monkeypatch):
    monkeypatch.setenv("LEADOPS_ADMIN_EMAILS", "first@agency.com")
    assert access.resolve(demo_db, "First@Agency.com").role == "admin"
    assert demo_db.scalar("SELECT count(*) FROM audit_log WHERE action = 'user.bootstrap'") == 1


@pytest.mark.parametrize("verified", [False, "false", "FALSE", 0, "no"])
def test_sign_in_with_an_unverified_email_is_refused(demo_db, monkeypatch, verified):
    """A provider that says the address is not verified proves nothing about it: an invited
    (even bootstrap-admin) address on such an account must not get in."""
    monkeypatch.setenv("LEADOPS_ADMIN_EMAILS", "first@agency.com")
    access.invite(demo_db, ADMIN, "ops@agency.com", "operator")
    for email in ("ops@agency.com", "first@agency.com"):
        claims = {"is_logged_in": True, "email": email, "email_verified": verified}
        with pytest.raises(access.SignInRefused, match=f"{email} is not verified"):
            access.from_oidc(demo_db, claims)
    assert not demo_db.scalar("SELECT count(*) FROM users WHERE email = 'first@agency.com'")


def test_sign_in_maps_verified_or_silent_providers_to_the_invited_user(demo_db):
    access.invite(demo_db, ADMIN, "ops@agency.com", "operator")
    for extra in ({"email_verified": True}, {"email_verified": "true"}, {}):
        claims = {"is_logged_in": True, "email": "Ops@Agency.com", "name": "Ops", **extra}
        assert access.from_oidc(demo_db, claims) == User("ops@agency.com", "operator", name="Ops")
    claims = {"is_logged_in": True, "email": "stranger@x.com", "email_verified": True}
    assert access.from_oidc(demo_db, claims) is None
    assert access.from_oidc(demo_db, {"is_logged_in": True}) is None


def test_unverified_email_gets_a_clear_refusal_page(demo_db):
    access.invite(demo_db, ADMIN, "ops@agency.com", "operator")
    user = {"is_logged_in": True, "email": "ops@agency.com", "email_verified": False}
    at = app(user).run()
    assert not at.exception
    assert any("is not verified" in e.value for e in at.error), [e.value for e in at.error]
    assert any(b.label == "Sign out" for b in at.button)
    assert not at.metric and not at.dataframe
    assert not demo_db.scalar("SELECT last_seen_at FROM users WHERE email = 'ops@agency.com'")


def app(user: dict | None, *, auth: bool = True) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=90)
    if auth:
        at.secrets["auth"] = AUTH
    if user is not None:
        at.user = user
    return at


def test_sign_in_screen_and_uninvited_user(demo_db):
    at = app({"is_logged_in": False}).run()
    assert not at.exception
    assert any(b.label == "Sign in" for b in at.button)
    assert not at.metric  # nothing of the data shows
    at = app({"is_logged_in": True, "email": "stranger@x.com"}).run()
    assert any("no access" in e.value for e in at.error)
    assert not at.metric


def test_operator_sees_operational_pages_only(demo_db):
    access.invite(demo_db, ADMIN, "ops@agency.com", "operator")
    at = app({"is_logged_in": True, "email": "ops@agency.com"}).run()
    assert not at.exception and at.title[0].value == "Overview"
    assert any("ops@agency.com" in c.value for c in at.sidebar.caption)
    with pytest.raises(
        ValueError, match="Known pages"
    ) as info:  # Settings is not in their navigation
        at.switch_page("pages/settings.py")
    assert "data_sync.py" in str(info.value) and "audit_log.py" not in str(info.value)
    assert demo_db.scalar(
        "SELECT last_seen_at IS NOT NULL FROM users WHERE email = 'ops@agency.com'"
    )


def test_client_user_sees_only_their_client(demo_db):
    access.invite(demo_db, ADMIN, "agent@client.com", "client", workspace_id=6)
    at = app({"is_logged_in": True, "email": "agent@client.com"}).run()
    assert not at.exception
    board = at.dataframe[0].value
    assert board.shape[0] == 1
    name = demo_db.scalar("SELECT name FROM workspaces WHERE id = 6")
    assert list(board["client"]) == [name]
    assert not at.sidebar.selectbox  # no client picker
    at.switch_page("pages/campaigns.py").run()
    assert not at.exception
    assert set(at.dataframe[0].value["client"]) == {name}
    assert not [b for b in at.button if b.label in ("Pause", "Resume", "Duplicate")]


def test_local_mode_has_a_banner_and_refuses_a_public_bind(demo_db):
    from streamlit import config

    at = app(None, auth=False).run()
    assert any("Local single-user mode" in w.value for w in at.sidebar.warning)
    old = config.get_option("server.address")
    config.set_option("server.address", "0.0.0.0")
    try:
        at = app(None, auth=False).run()
        assert any("without sign-in configured" in e.value for e in at.error)
        assert not at.metric
    finally:
        config.set_option("server.address", old)
