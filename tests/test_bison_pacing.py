"""A sync at Email Bison's rate limit: the fake's instance-wide limit, and the sync pacing itself
to it (known limit, learned limit, Retry-After), over real HTTP."""

from __future__ import annotations

import time

import httpx
import pytest

from connectors.bison import BisonClient
from connectors.http import InstancePacer
from core.accounts import workspaces
from core.accounts.workspaces import WorkspaceInput
from core.bison import sync as bison_sync
from core.platform import secrets, settings
from core.platform.settings import SettingError

SMALL = {"campaigns_per_ws": 2, "leads_per_ws": 30, "replies_per_ws": 20}


@pytest.fixture
def setup(empty_db, make_bison_fake, bison_server, monkeypatch):
    """Three clients on the fake's three workspaces, tokens in the secret store."""
    monkeypatch.setenv("LEADOPS_BISON_URL", bison_server.url)
    fake = make_bison_fake(workspaces=3, **SMALL)
    for bid in fake.workspace_ids:
        wid = workspaces.create(
            empty_db, WorkspaceInput(name=f"Client {bid}", bison_workspace_id=bid), actor="t"
        )
        secrets.set_secret(
            empty_db,
            secrets.bison_token_name(wid),
            fake.token_for(bid),
            kind="bison_token",
            actor="t",
        )

    def factory(token):
        # no client-side limit and no sleeping of its own: only the sync's pacer slows it down
        return BisonClient(bison_server.url, token, rate_per_sec=None, sleep=lambda s: None)

    return empty_db, fake, factory


def mirrored(db) -> tuple[int, int, int]:
    return db.rows(
        "SELECT (SELECT count(*) FROM bison_campaigns), (SELECT count(*) FROM bison_leads),"
        " (SELECT count(*) FROM bison_replies)"
    )[0]


def in_fake(fake) -> tuple[int, int, int]:
    spaces = [fake.workspace(b) for b in fake.workspace_ids]
    return (
        sum(len(w.campaigns) for w in spaces),
        sum(len(w.leads) for w in spaces),
        sum(
            1
            for w in spaces
            for r in w.replies.values()
            if (getattr(r, "folder", "Inbox") or "").lower() != "sent"
        ),
    )


def refused(fake) -> list:
    return [r for r in fake.requests if r.status == 429]


def test_the_fake_limits_the_whole_instance_not_each_token(make_bison_fake, bison_server):
    fake = make_bison_fake(workspaces=2, **SMALL)
    fake.limit_rate(5, burst=4)
    tokens = [fake.token_for(b) for b in fake.workspace_ids]
    with httpx.Client(base_url=bison_server.url) as http:
        answers = [
            http.get("/api/tags", headers={"Authorization": f"Bearer {tokens[n % 2]}"})
            for n in range(8)
        ]
        statuses = [a.status_code for a in answers]
        assert statuses[:4] == [200] * 4 and statuses[4:] == [429] * 4, statuses
        wait = float(answers[-1].headers["Retry-After"])
        assert 0 < wait <= 0.25
        assert answers[-1].json()["message"] == "Too Many Attempts."
        assert answers[-1].headers["X-RateLimit-Limit"] == "300"  # per minute
        time.sleep(wait + 0.01)
        assert http.get("/api/tags", headers={"Authorization": f"Bearer {tokens[1]}"}).is_success
    assert fake.rate_limit.refused == 4 and fake.rate_limit.passed == 5
    fake.limit_rate(None)
    with httpx.Client(base_url=bison_server.url) as http:
        got = [
            http.get("/api/tags", headers={"Authorization": f"Bearer {tokens[0]}"}).status_code
            for _ in range(10)
        ]
    assert got == [200] * 10


def test_with_the_limit_known_the_sync_runs_at_it_without_429s(setup):
    db, fake, factory = setup
    settings.set_value(db, "bison_rate_limit_per_sec", 40, actor="t")
    fake.limit_rate(40)
    started = time.perf_counter()
    result = bison_sync.sync_bison(
        db, client_factory=factory, concurrency=3, today=fake.state.today
    )
    elapsed = time.perf_counter() - started
    assert result["failed"] == [], result
    assert mirrored(db) == in_fake(fake)
    answered = fake.request_count - len(refused(fake))
    assert len(refused(fake)) <= 1, [(r.path, r.at) for r in refused(fake)]
    # at the limit, not far under it: the fake's bucket starts with a second's worth (40)
    assert elapsed >= (answered - 40) / 40 * 0.95
    assert elapsed <= answered / 40 * 1.5 + 1.0, (elapsed, answered)
    assert result["pacing"]["limit"] == 40 and result["pacing"]["requests"] >= answered


def test_without_a_known_limit_the_sync_finds_it_and_slows_down(setup):
    db, fake, factory = setup
    fake.limit_rate(25, burst=5)
    result = bison_sync.sync_bison(
        db, client_factory=factory, concurrency=3, today=fake.state.today
    )
    assert result["failed"] == [], result
    assert mirrored(db) == in_fake(fake)
    pacing = result["pacing"]
    refusals = len(refused(fake))
    assert pacing["throttled"] == refusals > 0
    # it slowed down to about the limit rather than retrying into a storm
    assert pacing["rate"] is not None and pacing["rate"] <= 25 * 1.5, pacing
    assert refusals < 0.15 * fake.request_count, (refusals, fake.request_count)


def test_retry_after_holds_back_every_workspace(setup):
    db, fake, factory = setup
    settings.set_value(db, "bison_rate_limit_per_sec", 500, actor="t")
    fake.delay = 0.002
    fake.fail_next(1, status=429, retry_after=0.6)
    result = bison_sync.sync_bison(
        db, client_factory=factory, concurrency=3, today=fake.state.today
    )
    assert result["failed"] == [], result
    assert mirrored(db) == in_fake(fake)
    (first,) = refused(fake)
    # requests already on their way when the 429 came back may arrive just after it; none
    # else until Retry-After has passed, whichever workspace it is for
    early = [r for r in fake.requests if first.at + 0.1 < r.at < first.at + 0.6 - 0.02]
    assert early == [], [(r.path, round(r.at - first.at, 3)) for r in early]
    assert any(r.at >= first.at + 0.58 for r in fake.requests)
    assert result["pacing"]["throttled"] == 1


def test_the_pacer_cuts_on_429_and_creeps_back_up():
    clock = [100.0]
    pacer = InstancePacer(
        40, max_in_flight=8, decrease=0.5, clock=lambda: clock[0], sleep=lambda s: None
    )
    assert pacer.rate == 40 and pacer.window == 8
    for _ in range(3):
        pacer.acquire()
    pacer.release(429, 2.0)
    pacer.release(429, 2.0)  # the same overrun: cut once
    pacer.release(200)
    assert pacer.rate == 20 and pacer.throttled == 2
    assert pacer.window < 8
    # nothing goes before Retry-After has passed
    waited = pacer.acquire()
    assert waited == 0  # the fake clock does not move; the slot it was given tells
    assert pacer._sent[-1] >= 102.0
    pacer.release(200)
    clock[0] += 30.0  # idle: an unused rate does not grow
    pacer.acquire()
    pacer.release(200)
    assert pacer.rate == 20
    for _ in range(1500):  # half a minute using what it has: back to the limit, never above
        clock[0] += 1 / pacer.rate
        pacer.acquire()
        pacer.release(200)
    assert pacer.rate == 40 and pacer.window == 8
    with pytest.raises(ValueError):
        InstancePacer(-1)


def test_without_a_limit_the_pacer_starts_unpaced_and_settles_below_what_was_refused():
    clock = [5.0]
    pacer = InstancePacer(None, clock=lambda: clock[0], sleep=lambda s: None)
    for _ in range(30):  # 30 requests within the last second, unpaced
        pacer.acquire()
        pacer.release(200)
        clock[0] += 1 / 30
    assert pacer.rate is None
    pacer.acquire()
    pacer.release(429, 0.5)
    assert pacer.rate == pytest.approx(0.7 * 30, abs=1.0)
    until = clock[0] + 1.0
    while clock[0] < until:  # a second using the rate it has
        clock[0] += 1 / pacer.rate
        pacer.acquire()
        pacer.release(200)
    # back quickly to nine tenths of the refused rate (in under a second), then slowly above it
    assert 0.9 * 30 - 1 <= pacer.rate <= 0.9 * 31 + 1


def test_the_limit_setting_is_checked(empty_db):
    assert settings.get(empty_db, "bison_rate_limit_per_sec") == 0
    with pytest.raises(SettingError):
        settings.set_value(empty_db, "bison_rate_limit_per_sec", -5, actor="t")
    assert settings.set_value(empty_db, "bison_rate_limit_per_sec", "50", actor="t") == 50
    assert isinstance(bison_sync.instance_pacer(empty_db, 4), InstancePacer)
    assert bison_sync.instance_pacer(empty_db, 4).limit == 50
