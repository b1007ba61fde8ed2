"""CRM connectors against fake HubSpot, GoHighLevel and webhook receivers over real HTTP."""

from __future__ import annotations

import datetime as dt

import pytest

from connectors.crm import (
    DeliveryState,
    GoHighLevelClient,
    HubSpotClient,
    LeadRecord,
    WebhookClient,
)
from connectors.http import AuthError, RateLimited, RequestTimeout
from tests import crm_fixtures
from tests.fakes.crm_server import LOCATION, TOKEN, WEBHOOK_SECRET

crm_server = crm_fixtures.crm_server
crm_fake = crm_fixtures.crm_fake
crm_url = crm_fixtures.crm_url

LEAD = LeadRecord(
    delivery_key="k-1",
    email="dana.ruiz@example.com",
    first_name="Dana",
    last_name="Ruiz",
    client="Sunbelt Insurance",
    campaign="Evergreen, Last Upload: March 1st-7th",
    reply_subject="Re: your home insurance renews soon",
    reply_text="Yes please send me a quote.",
    replied_at=dt.datetime(2026, 11, 20, 15, 4, tzinfo=dt.UTC),
)


def hubspot(url, attempts=None, sleeps=None, **kw):
    return HubSpotClient(
        TOKEN,
        base_url=url,
        on_attempt=(attempts.append if attempts is not None else None),
        sleep=(sleeps.append if sleeps is not None else lambda s: None),
        **kw,
    )


def test_hubspot_upsert_note_and_deal_are_idempotent_across_retries(crm_url, crm_fake):
    attempts, sleeps = [], []
    client = hubspot(crm_url, attempts, sleeps)
    state = DeliveryState()
    crm_fake.fail_next(429, retry_after="2")
    crm_fake.fail_next(502)
    client.deliver(LEAD, state, create_deal=True, stage="appointmentscheduled")
    assert sleeps[0] == 2.0  # Retry-After honoured
    assert [a.status for a in attempts][:3] == [429, 502, 200]
    assert all(TOKEN not in a.excerpt for a in attempts)
    assert state.contact_id and state.note_id and state.deal_id
    # the same delivery again (a retry after a crash): no second contact, note or deal
    client.deliver(LEAD, state, create_deal=True)
    assert len(crm_fake.contacts) == 1 and len(crm_fake.notes) == 1 and len(crm_fake.deals) == 1
    note = crm_fake.notes[0]
    assert note["contact_id"] == state.contact_id and "send me a quote" in note["body"]
    assert client.deal_stages([state.deal_id]) == {state.deal_id: "appointmentscheduled"}
    client.close()


def test_hubspot_errors_401_429_and_timeouts(crm_url, crm_fake):
    bad = HubSpotClient("wrong-token-123456", base_url=crm_url, sleep=lambda s: None)
    with pytest.raises(AuthError):
        bad.check()
    attempts = []
    client = hubspot(crm_url, attempts, max_retries=1)
    crm_fake.fail_next(429, count=2, retry_after="1")
    with pytest.raises(RateLimited):
        client.upsert_contact(LEAD)
    assert len(attempts) == 2 and not crm_fake.contacts
    slow = hubspot(crm_url, attempts, timeout=0.2, max_retries=0)
    crm_fake.delay_next(1.0)
    with pytest.raises(RequestTimeout):
        slow.upsert_contact(LEAD)
    assert attempts[-1].status is None and "Timeout" in attempts[-1].excerpt
    assert "accepted" in client.check()
    limiter = hubspot(crm_url)._api.rate_limiter  # 90 requests per 10 s, bursts up to 90
    assert limiter.rate == 9.0 and limiter.capacity == 90.0


def test_gohighlevel_sends_version_location_and_no_tags(crm_url, crm_fake):
    attempts = []
    client = GoHighLevelClient(
        TOKEN, LOCATION, base_url=crm_url, on_attempt=attempts.append, sleep=lambda s: None
    )
    assert "accepted" in client.check()
    crm_fake.fail_next(503)
    state = client.deliver(LEAD, DeliveryState())
    client.deliver(LEAD, state)
    contact = crm_fake.ghl_contacts[LEAD.email]
    assert contact["locationId"] == LOCATION and "tags" in contact
    assert contact["tags"] == ["client-own-tag"]  # never replaced by ours
    assert len(crm_fake.ghl_contacts) == 1 and len(crm_fake.ghl_notes) == 1
    wrong = GoHighLevelClient(TOKEN, "other-location", base_url=crm_url, sleep=lambda s: None)
    with pytest.raises(AuthError):
        wrong.check()


def test_webhook_is_signed_and_deduplicated_by_delivery_key(crm_url, crm_fake):
    attempts = []
    client = WebhookClient(
        f"{crm_url}/hooks/leads", WEBHOOK_SECRET, on_attempt=attempts.append, sleep=lambda s: None
    )
    assert "success" in client.check()
    crm_fake.fail_next(500)
    client.deliver(LEAD, DeliveryState())
    client.deliver(LEAD, DeliveryState())
    assert len(crm_fake.webhook_events) == 1
    event = crm_fake.webhook_events[0]
    assert event["lead"]["email"] == LEAD.email and event["delivery_id"] == "k-1"
    assert all(WEBHOOK_SECRET not in a.excerpt for a in attempts)
    wrong = WebhookClient(f"{crm_url}/hooks/leads", "not-the-secret-123", sleep=lambda s: None)
    with pytest.raises(AuthError):
        wrong.deliver(LEAD, DeliveryState())
    with pytest.raises(ValueError, match="Webhook URL"):
        WebhookClient("ftp://x", "s")
