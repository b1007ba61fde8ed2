"""Client leads → CRM delivery when no client in view has a CRM (the demo's case): Deliver now is
there but off, and the page says why nothing can be delivered and where a CRM is set up."""

from __future__ import annotations

import pytest

from core.accounts import access
from core.demo.sandbox import runtime
from core.replies import crm_config
from tests import crm_fixtures
from tests.fakes.crm_server import TOKEN as CRM_TOKEN
from tests.test_pages import run_page

memory_keyring = crm_fixtures.memory_keyring
crm_server = crm_fixtures.crm_server
crm_fake = crm_fixtures.crm_fake
crm_url = crm_fixtures.crm_url


@pytest.fixture
def sandbox(demo_db, memory_keyring, monkeypatch):
    monkeypatch.delenv("LEADOPS_BISON_URL", raising=False)
    monkeypatch.delenv("LEADOPS_BISON_SUPER_TOKEN", raising=False)
    started = runtime.start_if_wanted(demo_db)
    assert started is not None
    yield started
    runtime.stop()


def deliver_button(at):
    return next(b for b in at.button if b.label == "Deliver now")


def test_deliver_now_on_the_demo_says_why_it_cannot_deliver(sandbox, demo_db, crm_url):
    assert not demo_db.scalar("SELECT count(*) FROM crm_configs")
    at = run_page("pages/client_leads.py")
    button = deliver_button(at)
    assert button.disabled and "Settings → CRM" in button.help
    info = " ".join(i.value for i in at.info)
    assert "Nothing can be delivered: no CRM is set up for these clients" in info
    assert "The demo sandbox simulates Email Bison only, not a CRM." in info
    assert "Settings → CRM" in info and "leadops" not in info  # plain words, no command line

    # With a CRM for one client, Deliver now is the working button again.
    wid = demo_db.scalar("SELECT min(id) FROM workspaces")
    crm_config.set_config(demo_db, access.LOCAL_ADMIN, wid, "hubspot", url=crm_url, token=CRM_TOKEN)
    at = run_page("pages/client_leads.py")
    button = deliver_button(at)
    assert not button.disabled
    assert not any("Nothing can be delivered" in i.value for i in at.info)
