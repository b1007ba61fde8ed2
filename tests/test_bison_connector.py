"""Contract tests: connectors.bison against the fake Email Bison served over real HTTP."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from connectors.bison import (
    ApiError,
    AuthError,
    BisonClient,
    NotFoundError,
    RateLimited,
    RequestTimeout,
    ServerError,
    ValidationError,
)
from connectors.bison.parsers import parse_daily_series, parse_schedule, parse_sequence_steps
from core.demo.sandbox import BisonFake

pytest_plugins = ["tests.conftest_bison"]

TODAY = datetime.now(UTC).date()
START = TODAY - timedelta(days=60)


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def client_for(
    bison_url: str, bison_fake: BisonFake, sleeps: Sleeps
) -> Iterator[Callable[..., BisonClient]]:
    made: list[BisonClient] = []

    def make(
        ws: int = 1, *, token: str | None = None, fake: BisonFake | None = None, **kw: Any
    ) -> BisonClient:
        options: dict[str, Any] = {
            "rate_per_sec": None,
            "timeout": 5.0,
            "sleep": sleeps,
            "max_retries": 3,
        }
        options.update(kw)
        source = fake or bison_fake
        made.append(BisonClient(bison_url, token or source.token_for(ws), **options))
        return made[-1]

    yield make
    for client in made:
        client.close()


# --------------------------------------------------------------------------- account & workspaces


def test_check_and_auth_errors(client_for: Callable[..., BisonClient]) -> None:
    assert client_for().check()["id"] == 1
    with pytest.raises(AuthError) as bad:
        client_for(token="1|not-a-real-token-value").check()
    assert bad.value.status == 401 and bad.value.message == "Unauthenticated."
    with pytest.raises(AuthError):
        BisonClient(client_for().base_url, None, rate_per_sec=None).check()


def test_base_url_from_env_and_api_suffix(
    monkeypatch: pytest.MonkeyPatch, bison_url: str, bison_fake: BisonFake
) -> None:
    monkeypatch.setenv("LEADOPS_BISON_URL", bison_url + "/api/")
    with BisonClient(token=bison_fake.token_for(1), rate_per_sec=None) as client:
        assert client.base_url == bison_url
        assert client.check()["current_team_id"] == 1
    monkeypatch.delenv("LEADOPS_BISON_URL")
    with pytest.raises(ValueError, match="LEADOPS_BISON_URL"):
        BisonClient(token="x")


def test_workspaces_and_minted_token(
    client_for: Callable[..., BisonClient], bison_fake: BisonFake
) -> None:
    admin = client_for(token=bison_fake.super_admin_token)
    spaces = admin.list_workspaces()
    assert [w.id for w in spaces] == [1, 2] and spaces[0].name
    assert [w.id for w in client_for(2).list_workspaces()] == [2]

    minted = admin.create_workspace_token(2, "leadops-sync")
    assert minted.workspace_id == 2 and minted.token.count("|") == 1
    assert minted.token not in repr(minted)
    ws2 = admin.with_token(minted.token)
    assert {c.id // 100_000 for c in ws2.list_campaigns()} == {2}

    with pytest.raises(AuthError) as denied:
        client_for(1).create_workspace_token(2)
    assert denied.value.status == 403


def test_workspace_stats_match_campaign_series(client_for: Callable[..., BisonClient]) -> None:
    client = client_for()
    stats = client.workspace_stats(START, TODAY)
    daily = client.workspace_daily_stats(START, TODAY)
    assert len(daily) == 61 and daily[0].day == START
    assert stats.emails_sent == sum(d.sent for d in daily) > 0
    assert stats.interested == sum(d.interested for d in daily)
    assert isinstance(stats.opened_percentage, float)
    with pytest.raises(ValidationError) as bad:
        client.workspace_stats(TODAY, START)
    assert bad.value.fields == ["end_date"]


# --------------------------------------------------------------------------- campaigns


def test_list_campaigns_normalises_types(
    client_for: Callable[..., BisonClient], bison_url: str, bison_fake: BisonFake
) -> None:
    client = client_for()
    campaigns = client.list_campaigns()
    assert len(campaigns) == 4
    assert [c.status for c in campaigns] == ["active", "paused", "active", "completed"]
    assert campaigns[3].status_label == "completed" and campaigns[0].status_label == "Active"
    raw = httpx.get(
        f"{bison_url}/api/campaigns/{campaigns[2].id}",
        headers={"Authorization": f"Bearer {bison_fake.token_for(1)}"},
    ).json()["data"]
    assert isinstance(raw["emails_sent"], str)  # the fake sends this one as a string
    assert campaigns[2].emails_sent == int(raw["emails_sent"]) > 0
    assert [c.id for c in client.list_campaigns(status="Active")] == [
        campaigns[0].id,
        campaigns[2].id,
    ]
    with pytest.raises(ValidationError, match="status: The selected status is invalid"):
        client.list_campaigns(status="sleeping")


def test_campaign_pagination_across_pages(
    make_bison_fake: Callable[..., BisonFake], client_for: Callable[..., BisonClient]
) -> None:
    fake = make_bison_fake(campaigns_per_ws=40, leads_per_ws=0, replies_per_ws=0)
    client = client_for(fake=fake)
    campaigns = client.list_campaigns()
    assert len({c.id for c in campaigns}) == 40
    assert fake.count_requests("GET", "/api/campaigns") == 3
    assert client.request_count == 3


def test_get_campaign_scoping(client_for: Callable[..., BisonClient]) -> None:
    client = client_for(1)
    other = client_for(2).list_campaigns()[0]
    with pytest.raises(AuthError) as forbidden:
        client.get_campaign(other.id)
    assert forbidden.value.status == 403
    assert "does not match the workspace" in str(forbidden.value)
    with pytest.raises(NotFoundError) as missing:
        client.get_campaign(199_999)
    assert missing.value.record_not_found == {"campaign": "199999"}
    assert client.get_campaign(100_001).name


def test_pause_resume_round_trip(
    client_for: Callable[..., BisonClient], bison_fake: BisonFake
) -> None:
    client = client_for()
    before = client.get_campaign(100_001)
    assert before.status == "active"
    time.sleep(0.002)
    paused = client.pause_campaign(before.id)
    assert paused.status == "paused" and paused.status_label == "Paused"
    assert paused.updated_at and before.updated_at and paused.updated_at > before.updated_at
    assert client.get_campaign(before.id).status == "paused"
    assert [c.id for c in client.list_campaigns(status="paused")].count(before.id) == 1
    resumed = client.resume_campaign(before.id)
    assert resumed.status == "active"
    assert client.get_campaign(before.id).status == "active"
    assert bison_fake.count_requests("PATCH") == 2


def test_duplicate_campaign(client_for: Callable[..., BisonClient]) -> None:
    client = client_for()
    original = client.get_campaign(100_002)
    copy = client.duplicate_campaign(original.id)
    assert copy.id != original.id and copy.name == f"Copy of {original.name}"
    assert copy.status == "draft" and copy.emails_sent == 0
    assert copy.sequence_id == original.sequence_id
    assert len(client.list_campaigns()) == 5
    steps = client.get_sequence_steps(copy.id)
    assert [s.id for s in steps] == [s.id for s in client.get_sequence_steps(original.id)]


def test_campaign_stats_and_daily_rows(client_for: Callable[..., BisonClient]) -> None:
    client = client_for()
    cid = 100_001
    stats = client.campaign_stats(cid, START, TODAY)
    steps = client.get_sequence_steps(cid)
    assert len(steps) == 6  # 3 steps x (original + 1 variant)
    assert {s.sequence_step_id for s in stats.sequence_step_stats} == {s.id for s in steps}
    assert all(isinstance(s.sent, int) for s in stats.sequence_step_stats)
    assert stats.start_date == START and stats.end_date == TODAY

    daily = client.campaign_daily_stats(cid, START, TODAY)
    assert [d.day for d in daily] == [START + timedelta(days=i) for i in range(61)]
    assert all(d.campaign_id == cid for d in daily)
    assert sum(d.sent for d in daily) == stats.emails_sent
    assert sum(d.replied for d in daily) == stats.unique_replies_per_contact
    assert sum(d.opens for d in daily) == stats.unique_opens_per_contact
    assert sum(d.bounced for d in daily) == stats.bounced
    assert sum(d.unsubscribed for d in daily) == stats.unsubscribed
    assert sum(d.total_opens for d in daily) == stats.opened
    with pytest.raises(ValidationError, match="start_date: The start date field is required"):
        client.api.post(f"campaigns/{cid}/stats", {"end_date": "2025-01-01"})


def test_sequence_steps_variants_and_shapes(
    client_for: Callable[..., BisonClient], bison_fake: BisonFake
) -> None:
    client = client_for()
    for cid in (100_001, 100_004):  # 100_004 uses the legacy variant_from_step + string order
        steps = client.get_sequence_steps(cid)
        bases = {s.order: s.id for s in steps if not s.variant}
        assert sorted(bases) == [1, 2, 3]
        variants = [s for s in steps if s.variant]
        assert len(variants) == 3
        assert all(v.variant_of_step_id == bases[v.order] for v in variants)
        assert all(s.sequence_id == cid and s.campaign_id == cid for s in steps)
    expected = [s.as_dict() for s in client.get_sequence_steps(100_001)]
    for shape in ("data-list", "bare-list"):
        bison_fake.sequence_shape = shape
        assert [s.as_dict() for s in client.get_sequence_steps(100_001)] == [
            {**row, "sequence_id": None} for row in expected
        ]


def test_sequence_step_parser_shapes() -> None:
    # docs example: the variant has its own order and names its parent by order
    legacy = [
        {"id": 11, "order": 1, "variant": False, "variant_from_step": None},
        {"id": 12, "order": "2", "variant": True, "variant_from_step": 1},
        {"id": 13, "order": 3, "variant": False},
    ]
    steps = {s.id: s for s in parse_sequence_steps(legacy, 5)}
    assert steps[12].variant_of_step_id == 11 and steps[12].order == 2
    assert steps[13].variant_of_step_id is None and not steps[13].variant
    current = {
        "data": {
            "id": 9,
            "sequence_steps": [
                {"id": 21, "order": 1, "variant": "0"},
                {"id": 22, "order": 1, "variant": "1", "variant_from_step_id": "21"},
            ],
        }
    }
    parsed = parse_sequence_steps(current, 5)
    assert [(s.id, s.variant, s.variant_of_step_id, s.sequence_id) for s in parsed] == [
        (21, False, None, 9),
        (22, True, 21, 9),
    ]


def test_draft_campaign_has_no_steps(
    make_bison_fake: Callable[..., BisonFake], client_for: Callable[..., BisonClient]
) -> None:
    fake = make_bison_fake(campaigns_per_ws=5, leads_per_ws=5, replies_per_ws=0)
    client = client_for(fake=fake)
    draft = client.list_campaigns(status="draft")[0]
    assert draft.sequence_id is None
    assert client.get_sequence_steps(draft.id) == []
    with pytest.raises(ApiError) as err:
        client.resume_campaign(draft.id)
    assert err.value.status == 400 and "Sequence steps do not exist" in err.value.message


def test_campaign_schedule_read_created_and_changed(
    make_bison_fake: Callable[..., BisonFake], client_for: Callable[..., BisonClient]
) -> None:
    fake = make_bison_fake(campaigns_per_ws=10, leads_per_ws=5, replies_per_ws=0)
    client = client_for(fake=fake)
    campaigns = {c.id: c for c in client.list_campaigns()}
    sending = next(c for c in campaigns.values() if c.sequence_id and c.id % 10 != 9)
    schedule = client.get_campaign_schedule(sending.id)
    assert schedule is not None and schedule.campaign_id == sending.id
    assert schedule.days == ["monday", "tuesday", "wednesday", "thursday", "friday"]
    assert (schedule.start_time.hour, schedule.end_time.hour) == (8, 17)
    assert schedule.timezone == "America/Chicago"
    unscheduled = next(c for c in campaigns.values() if c.sequence_id and c.id % 10 == 9)
    assert client.get_campaign_schedule(unscheduled.id) is None  # 404: no schedule
    # create (POST) where there is none, change (PUT) where there is one
    made = client.set_campaign_schedule(
        unscheduled.id, days=["sat", "sunday"], start_time="10:00", end_time="14:30",
        timezone="America/Denver",
    )  # fmt: skip
    assert made is not None and made.days == ["saturday", "sunday"]
    assert str(made.end_time) == "14:30:00" and made.timezone == "America/Denver"
    assert fake.count_requests(method="POST", path=f"/api/campaigns/{unscheduled.id}/schedule") == 1
    changed = client.set_campaign_schedule(
        sending.id, days=["monday"], start_time="09:00", end_time="12:00",
        timezone="America/New_York",
    )  # fmt: skip
    assert changed is not None and changed.days == ["monday"]
    assert fake.count_requests(method="PUT", path=f"/api/campaigns/{sending.id}/schedule") == 1
    # a refusal names the field; a bad day name is refused before any request
    with pytest.raises(ValidationError, match="timezone"):
        client.set_campaign_schedule(
            sending.id, days=["monday"], start_time="09:00", end_time="12:00", timezone="Mars/Base"
        )
    with pytest.raises(ValueError, match="funday"):
        client.set_campaign_schedule(
            sending.id, days=["funday"], start_time="09:00", end_time="12:00", timezone="UTC"
        )
    assert client.get_campaign_schedule(sending.id).timezone == "America/New_York"


def test_schedule_parser_shapes() -> None:
    bare = {"monday": 1, "tuesday": "true", "friday": True, "saturday": False,
            "start_time": "9:00 AM", "end_time": "17:00:00", "time_zone": "US/Central"}  # fmt: skip
    s = parse_schedule(bare, 7)
    assert s is not None and s.days == ["monday", "tuesday", "friday"]
    assert (str(s.start_time), str(s.end_time), s.timezone) == (
        "09:00:00",
        "17:00:00",
        "US/Central",
    )
    nested = {"data": {"schedule": {"days": ["Sun", "wednesday"], "start": "07:30",
                                    "end": "11:00", "timezone": "UTC"}}}  # fmt: skip
    assert parse_schedule(nested, 7).days == ["wednesday", "sunday"]
    listed = {"data": [{"days": [], "start_time": "08:00", "end_time": "09:00", "timezone": "UTC"}]}
    assert parse_schedule(listed, 7).days == []  # a schedule with no sending day is still one
    for unknown in ({"data": None}, {"data": []}, {"data": {}}, "", None,
                    {"data": {"monday": True, "start_time": "08:00", "end_time": "09:00"}},
                    {"data": {"monday": True, "start_time": "8 o'clock", "end_time": "09:00",
                              "timezone": "UTC"}}):  # fmt: skip
        assert parse_schedule(unknown, 7) is None, unknown


def test_scheduled_emails_and_campaign_senders_paginate(
    make_bison_fake: Callable[..., BisonFake], client_for: Callable[..., BisonClient]
) -> None:
    fake = make_bison_fake(
        campaigns_per_ws=1, senders_per_ws=40, scheduled_per_campaign=40, replies_per_ws=0
    )
    client = client_for(fake=fake)
    scheduled = client.list_scheduled_emails(100_001)
    assert len({s.id for s in scheduled}) == 40
    assert all(s.campaign_id == 100_001 and s.lead_id and s.sender_email_id for s in scheduled)
    assert fake.count_requests(path="/api/campaigns/100001/scheduled-emails") == 3
    sent = client.list_scheduled_emails(100_001, status="sent")
    assert sent and all(s.status == "sent" and s.sent_at for s in sent)

    senders = client.list_campaign_sender_emails(100_001)
    connected = [s for s in client.list_sender_emails() if s.status == "connected"]
    assert len(senders) == len(connected) > 15
    assert fake.count_requests(path="/api/campaigns/100001/sender-emails") == 3


# --------------------------------------------------------------------------- replies


def test_replies_newest_first_filters_and_incremental_stop(
    client_for: Callable[..., BisonClient], bison_fake: BisonFake
) -> None:
    client = client_for()
    replies = client.list_replies()
    assert len(replies) == 45
    ids = [r.id for r in replies]
    assert ids == sorted(ids, reverse=True)
    assert all(r.folder == "inbox" for r in client.list_replies(folder="inbox"))
    interested = client.list_replies(status="interested")
    assert interested and all(r.interested for r in interested)
    assert any(isinstance(r.raw["campaign_id"], str) for r in replies)  # sent as strings
    assert all(isinstance(r.campaign_id, int | None) for r in replies)

    bison_fake.reset_requests()
    known = ids[19]  # on page 2
    new = list(client.iter_replies(stop_at_id=known))
    assert [r.id for r in new] == ids[:19]
    assert bison_fake.count_requests(path="/api/replies") == 2

    sent = client.reply_to(ids[0], "<p>Tuesday works.</p>")
    assert sent.folder == "sent" and sent.parent_id == ids[0]
    bison_fake.reset_requests()
    assert [r.id for r in client.iter_replies(stop_at_id=ids[0])] == [sent.id]
    assert bison_fake.count_requests() == 1


def test_mark_interested_changes_state(
    client_for: Callable[..., BisonClient], bison_fake: BisonFake
) -> None:
    client = client_for()
    target = next(
        r for r in client.list_replies(folder="inbox") if not r.interested and r.campaign_id
    )
    campaign_before = client.get_campaign(target.campaign_id or 0).interested
    time.sleep(0.002)
    assert client.mark_interested(target.id).success
    after = client.get_reply(target.id)
    assert after.interested and after.updated_at and target.updated_at
    assert after.updated_at > target.updated_at
    client.mark_interested(target.id)  # no double count
    assert client.get_campaign(target.campaign_id or 0).interested == campaign_before + 1
    client.mark_not_interested(target.id)
    assert not client.get_reply(target.id).interested
    assert client.get_campaign(target.campaign_id or 0).interested == campaign_before
    assert bison_fake.count_requests("PATCH", prefix="/api/replies/") == 3


def test_reply_validation(client_for: Callable[..., BisonClient]) -> None:
    client = client_for()
    reply_id = client.list_replies()[0].id
    with pytest.raises(ValidationError) as err:
        client.reply_to(reply_id, "")
    assert err.value.fields == ["message"]
    assert "message: The message field is required." in str(err.value)
    with pytest.raises(ValueError, match="sender_email_id and to_emails"):
        client.reply_to(reply_id, "hi", reply_all=False)
    sender = client.list_sender_emails()[0]
    sent = client.reply_to(
        reply_id, "hi", reply_all=False, sender_email_id=sender.id, to_emails=["x@example.com"]
    )
    assert sent.to_email == "x@example.com" and sent.sender_email_id == sender.id


# --------------------------------------------------------------------------- leads & tags


def test_leads_pages_get_and_updated_filter(
    client_for: Callable[..., BisonClient], bison_fake: BisonFake
) -> None:
    client = client_for()
    leads = client.list_leads()
    assert len({lead.id for lead in leads}) == 60
    assert bison_fake.count_requests(path="/api/leads") == 4
    first = leads[0]
    assert client.get_lead(first.id) == first
    assert client.get_lead(first.email).id == first.id
    assert first.custom_variables.keys() == {"zip", "home_value"}

    result = client.create_or_update_leads(
        [{"email": f"new{i}@homeowner.example", "first_name": "New"} for i in range(3)]
    )
    recent = client.list_leads(updated_since=TODAY)
    assert {lead.email for lead in result.leads} <= {lead.email for lead in recent}
    assert all(lead.updated_at and lead.updated_at.date() >= TODAY for lead in recent)
    old = client.list_leads(filters={"updated_at": {"criteria": "<", "value": START.isoformat()}})
    assert all(lead.updated_at and lead.updated_at.date() < START for lead in old)
    assert len(old) + len(client.list_leads(updated_since=START)) == 63
    with pytest.raises(ValidationError, match=r"filters\.updated_at\.value"):
        client.list_leads(filters={"updated_at": {"criteria": ">=", "value": "not-a-date"}})


def test_create_or_update_chunks_at_500(
    client_for: Callable[..., BisonClient], bison_fake: BisonFake
) -> None:
    client = client_for()
    rows = [{"email": f"owner{i}@homes.example", "first_name": "Pat"} for i in range(1203)]
    rows[7]["email"] = "someone@gmail.com"  # personal domain: skipped by the instance
    result = client.create_or_update_leads(rows)
    assert result.requests == 3
    assert bison_fake.count_requests("POST", "/api/leads/create-or-update/multiple") == 3
    assert len(result.leads) == 1202 and result.skipped_emails == ["someone@gmail.com"]
    assert len(client.list_leads()) == 60 + 1202

    with pytest.raises(ValueError):
        client.create_or_update_leads(rows, chunk_size=501)
    with pytest.raises(ValidationError, match="leads: The leads field must not have more than"):
        client.api.post("leads/create-or-update/multiple", {"leads": rows[:501]})


def test_upsert_validation_names_the_callers_row(client_for: Callable[..., BisonClient]) -> None:
    client = client_for()
    rows: list[dict[str, Any]] = [{"email": f"a{i}@homes.example"} for i in range(600)]
    rows[502] = {"first_name": "No email"}
    with pytest.raises(ValidationError) as err:
        client.create_or_update_leads(rows)
    assert err.value.fields == ["leads.502.email"]
    assert "leads.502.email: The leads.502.email field is required." in str(err.value)
    with pytest.raises(ValidationError) as single:
        client.create_lead("", "Jo", "Doe")
    assert str(single.value).endswith("email: The email field is required.")


def test_upsert_patch_keeps_fields_and_put_clears(client_for: Callable[..., BisonClient]) -> None:
    client = client_for()
    lead = client.list_leads()[0]
    client.create_or_update_leads([{"email": lead.email, "company": "Acme Home"}])
    patched = client.get_lead(lead.id)
    assert patched.company == "Acme Home" and patched.first_name == lead.first_name
    client.create_or_update_leads([{"email": lead.email}], existing_lead_behavior="put")
    assert client.get_lead(lead.id).first_name is None


def test_attach_delete_leads(client_for: Callable[..., BisonClient], bison_fake: BisonFake) -> None:
    client = client_for()
    new = client.create_or_update_leads(
        [{"email": f"batch{i}@homes.example"} for i in range(700)]
    ).leads
    campaign = client.get_campaign(100_003)
    result = client.attach_leads_to_campaign(campaign.id, [lead.id for lead in new])
    assert result.success and "attached" in (result.message or "")
    assert bison_fake.count_requests("POST", "/api/campaigns/100003/leads/attach-leads") == 2
    assert client.get_campaign(campaign.id).total_leads == campaign.total_leads + 700
    assert client.get_lead(new[0].id).campaigns[0].campaign_id == campaign.id
    with pytest.raises(ValidationError, match="lead_ids.0"):
        client.attach_leads_to_campaign(campaign.id, [999])

    assert client.delete_lead(new[0].id).success
    with pytest.raises(NotFoundError):
        client.get_lead(new[0].id)
    client.delete_leads([lead.id for lead in new[1:]])
    assert len(client.list_leads()) == 60


def test_tags_create_attach_detach(client_for: Callable[..., BisonClient]) -> None:
    client = client_for()
    tags = client.list_tags()
    assert sum(t.default for t in tags) == 10 and len(tags) == 12
    tag = client.create_tag("February 1st-7th renewals")
    assert tag.name == "February 1st-7th renewals" and not tag.default
    with pytest.raises(ValidationError, match="name: The name has already been taken"):
        client.create_tag("February 1st-7th renewals")
    lead = client.list_leads()[1]
    client.attach_tags_to_leads([tag.id], [lead.id])
    tagged = client.get_lead(lead.id)
    assert tag.id in {t.id for t in tagged.tags}
    assert tagged.updated_at and lead.updated_at and tagged.updated_at > lead.updated_at
    assert [x.id for x in client.list_leads(filters={"tag_ids": [tag.id]})] == [lead.id]
    client.detach_tags_from_leads([tag.id], [lead.id])
    assert tag.id not in {t.id for t in client.get_lead(lead.id).tags}
    assert client.delete_tag(tag.id).success
    assert len(client.list_tags()) == 12


def test_sender_emails(
    make_bison_fake: Callable[..., BisonFake], client_for: Callable[..., BisonClient]
) -> None:
    fake = make_bison_fake(senders_per_ws=20, leads_per_ws=0, replies_per_ws=0)
    client = client_for(fake=fake)
    senders = client.list_sender_emails()
    assert len(senders) == 20 and fake.count_requests(path="/api/sender-emails") == 2
    assert {s.status for s in senders} == {"connected", "disconnected"}
    assert all(s.daily_limit == 30 for s in senders)  # some arrive as "30"
    assert all(s.emails_sent_count > 0 and s.bounced_count >= 0 for s in senders)
    assert {s.warmup_enabled for s in senders} == {True, False}
    assert client.get_sender_email(senders[0].id) == senders[0]
    assert len(client.list_sender_emails(status="disconnected")) == 2


# --------------------------------------------------------------------------- faults over HTTP


def test_429_with_retry_after_is_retried_and_honoured(
    client_for: Callable[..., BisonClient], bison_fake: BisonFake, sleeps: Sleeps
) -> None:
    client = client_for()
    bison_fake.fail_next(1, status=429, retry_after=3)
    assert len(client.list_campaigns()) == 4
    assert sleeps == [3.0]
    bison_fake.retry_after_mode = "http-date"
    bison_fake.fail_next(1, status=429, retry_after=5)
    client.check()
    assert 3.0 <= sleeps[1] <= 5.0
    bison_fake.retry_after_mode = "json"
    bison_fake.fail_next(1, status=429, retry_after=2)
    client.check()
    assert sleeps[2] == 2.0


def test_periodic_rate_limits_do_not_lose_items(
    client_for: Callable[..., BisonClient], bison_fake: BisonFake, sleeps: Sleeps
) -> None:
    bison_fake.rate_limit_every = 3
    bison_fake.retry_after = 2
    client = client_for()
    leads = client.list_leads()
    assert len({lead.id for lead in leads}) == 60
    assert sleeps and set(sleeps) == {2.0}
    assert client.request_count == 4 + len(sleeps)
    assert bison_fake.count_requests() == client.request_count


def test_5xx_retried_then_succeeds(
    client_for: Callable[..., BisonClient], bison_fake: BisonFake, sleeps: Sleeps
) -> None:
    client = client_for()
    bison_fake.fail_next(1, status=502)
    bison_fake.fail_next(1, status=503)
    assert client.get_campaign(100_001).id == 100_001
    assert bison_fake.count_requests() == 3 and len(sleeps) == 2
    assert [r.status for r in bison_fake.requests] == [502, 503, 200]


def test_exhausted_retries_raise_clear_error(
    client_for: Callable[..., BisonClient], bison_fake: BisonFake, bison_url: str
) -> None:
    client = client_for(max_retries=2)
    bison_fake.fail_next(5, status=500)
    with pytest.raises(ServerError) as err:
        client.list_campaigns()
    assert bison_fake.count_requests() == 3
    assert str(err.value) == f"HTTP 500 GET {bison_url}/api/campaigns?page=1: Server Error"
    bison_fake.reset_faults()
    bison_fake.fail_next(5, status=429, retry_after=1)
    with pytest.raises(RateLimited):
        client.check()


def test_timeout_is_retried_but_not_for_a_sent_reply(
    client_for: Callable[..., BisonClient], bison_fake: BisonFake
) -> None:
    client = client_for(timeout=0.25)
    bison_fake.delay_next(1, seconds=1.0)
    assert client.check()["id"] == 1
    assert client.api.retry_count >= 1

    reply_id = client.list_replies()[0].id
    bison_fake.reset_requests()
    bison_fake.delay_next(1, seconds=1.0)
    with pytest.raises(RequestTimeout):
        client.reply_to(reply_id, "<p>once only</p>")
    assert bison_fake.count_requests("POST") == 1


def test_token_never_logged_or_in_errors(
    client_for: Callable[..., BisonClient],
    bison_fake: BisonFake,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    token = bison_fake.token_for(1)
    client = client_for()
    errors: list[Exception] = []
    bison_fake.fail_next(4, status=503)
    for call in (
        client.list_campaigns,
        lambda: client.get_campaign(200_001),
        lambda: client.create_lead("", "a", "b"),
    ):
        try:
            call()
        except ApiError as exc:
            errors.append(exc)
    assert len(errors) == 3
    minted = client_for(token=bison_fake.super_admin_token).create_workspace_token(1)
    logging.getLogger("connectors.bison").info("minted %s for %s", minted.token, token)
    texts = [caplog.text, repr(client), repr(client.api), repr(minted)]
    texts += [str(e) for e in errors] + [repr(e) for e in errors]
    for secret in (token, token.split("|")[1], minted.token, bison_fake.super_admin_token):
        assert all(secret not in text for text in texts)
    assert "retrying GET" in caplog.text and "minted [REDACTED]" in caplog.text


def test_rate_limiter_bounds_request_rate(
    client_for: Callable[..., BisonClient], bison_fake: BisonFake
) -> None:
    client = client_for(rate_per_sec=40, burst=1)
    started = time.monotonic()
    for _ in range(13):
        client.check()
    elapsed = time.monotonic() - started
    assert elapsed >= 12 / 40 - 0.01
    assert bison_fake.count_requests() == 13


def test_many_pages_stay_fast(
    make_bison_fake: Callable[..., BisonFake], client_for: Callable[..., BisonClient]
) -> None:
    fake = make_bison_fake(workspaces=1, leads_per_ws=3000, replies_per_ws=1500)
    client = client_for(fake=fake)
    started = time.monotonic()
    assert sum(1 for _ in client.iter_leads()) == 3000
    assert sum(1 for _ in client.iter_replies()) == 1500
    assert client.request_count == 200 + 100
    assert time.monotonic() - started < 10


# --------------------------------------------------------------------------- the fake itself


def test_fake_protocol_details(bison_url: str, bison_fake: BisonFake) -> None:
    auth = {"Authorization": f"Bearer {bison_fake.token_for(1)}", "Accept": "application/json"}
    with httpx.Client(base_url=bison_url, headers=auth) as http:
        page = http.get("/api/leads", params={"page": 2, "per_page": 100}).json()
        assert len(page["data"]) == 15 and page["meta"]["per_page"] == 15
        assert page["meta"]["last_page"] == 4 and page["meta"]["current_page"] == 2
        assert page["links"]["next"].endswith("page=3")
        last = http.get("/api/leads", params={"page": 4}).json()
        assert last["links"]["next"] is None
        wrong = http.post("/api/campaigns/100001/pause")
        assert wrong.status_code == 405 and "Supported methods" in wrong.json()["message"]
        missing = http.get("/api/webhooks")
        assert missing.status_code == 404 and missing.json()["data"]["record_not_found"] is None
    assert httpx.get(f"{bison_url}/api/users").json() == {"message": "Unauthenticated."}
    assert bison_fake.requests[-1].status == 401
    assert bison_fake.requests[0].query == "page=2&per_page=100"


def test_fake_is_deterministic_per_seed() -> None:
    a, b = BisonFake(seed=3), BisonFake(seed=3)
    assert a.token_for(1) == b.token_for(1) != BisonFake(seed=4).token_for(1)
    leads_a = [lead.email for lead in a.workspace(1).leads.values()]
    assert leads_a == [lead.email for lead in b.workspace(1).leads.values()]
    assert a.workspace(2).campaigns.keys() == b.workspace(2).campaigns.keys()


def test_day_parameters_are_checked(client_for: Callable[..., BisonClient]) -> None:
    with pytest.raises(ValueError, match="not a date"):
        client_for().workspace_stats("yesterday", date.today())


def test_daily_series_parser_shapes() -> None:
    """Series are matched by label in any case; points come as pairs, as objects or as a
    date-keyed object; counts as numbers or text with thousands separators; unreadable
    dates are skipped and days come out in order."""
    body = {
        "data": [
            {"label": "Sent", "dates": {"2026-01-03T10:00:00Z": 3, "2026-01-02": "1,234"}},
            {
                "label": "REPLIED",
                "data": [
                    {"date": "2026-01-02", "count": 2.0},
                    {"x": "2026-01-02 05:00:00", "y": "7"},
                    ["not a date", 3],
                    [None, 4],
                ],
            },
            {"label": "Unique Opens", "dates": [["2026-01-03", 5]]},
            {"label": "something new", "dates": [["2026-01-01", 1]]},
            "junk",
        ]
    }
    rows = parse_daily_series(body, 7)
    assert [(r.day, r.sent, r.replied, r.opens, r.campaign_id) for r in rows] == [
        (date(2026, 1, 2), 1234, 9, 0, 7),
        (date(2026, 1, 3), 3, 0, 5, 7),
    ]
    assert parse_daily_series({"data": []}) == [] and parse_daily_series(None) == []
