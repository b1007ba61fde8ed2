"""Verification at scale against the fake Debounce over real HTTP: bulk lists above the threshold
(upload, poll, download), single calls below it, a run stopped while Debounce works picked up
again without a second list, the credit balance, one Debounce price, free local checks."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from core.pipeline import filters, verification
from core.pipeline import verification_bulk as bulk
from core.pipeline.contact_import import import_file
from core.platform import settings
from tests.test_pipeline import MONTH, debounce, month_rows, write_contacts, ws  # noqa: F401

MIGRATION = Path(__file__).resolve().parent.parent / "core/platform/migrations"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def bulk_on(ws, debounce, monkeypatch):  # noqa: F811
    port = free_port()
    settings.set_value(ws, "verification_list_url", f"http://127.0.0.1:{port}", actor="t")
    settings.set_value(ws, "verification_list_listen", f"127.0.0.1:{port}", actor="t")
    settings.set_value(ws, "verification_bulk_threshold", 5, actor="t")
    monkeypatch.setattr(bulk, "POLL_SECONDS", 0.01)
    return ws, debounce


def load(db, tmp_path, extra=()):
    rows = month_rows(6) + [f"{e},A,B,75201,2019-03-02,1" for e in extra]
    import_file(db, 1, write_contacts(tmp_path / "a.csv", rows), actor="t")
    filters.filter_stage(db, 1, MONTH)


def test_a_big_run_goes_as_one_bulk_list_and_local_checks_are_free(bulk_on, tmp_path):
    db, fake = bulk_on
    # with the disposable-domain rule off, the free local check is what catches it
    db.execute("UPDATE filter_rules SET enabled = false WHERE operator = 'disposable_domain'")
    load(db, tmp_path, ["invalid9@example.com", "risky9@example.com", "x1@mailinator.com"])
    out = verification.verify_stage(db, 1, MONTH)
    assert out["bulk"] is True and fake.calls == 0 and len(fake.lists) == 1
    assert out["results"] == {"safe": 6, "risky": 1, "invalid": 2, "unknown": 0}
    assert out["credits"] == 8  # the disposable address never went to Debounce
    assert out["cost_cents"] == round(8 * settings.get(db, "debounce_cost_per_1000_cents") / 1000)
    rows = dict(db.rows("SELECT email, verification_source FROM contacts"))
    assert rows["x1@mailinator.com"] == "local" and rows["risky9@example.com"] == "debounce"
    risky = db.query("SELECT * FROM contacts WHERE email = 'risky9@example.com'").row(0, named=True)
    assert (risky["status"], risky["verification_code"]) == ("invalid", "4")
    assert db.rows("SELECT status, addresses, list_id FROM verification_lists") == [
        ("done", 8, "8620")
    ]
    run = db.query("SELECT * FROM verification_runs").row(0, named=True)
    assert (run["credits"], run["safe"], run["finished_at"] is not None) == (8, 6, True)
    assert verification.verify_stage(db, 1, MONTH)["input"] == 0  # nothing left to verify


def test_below_the_threshold_or_without_a_list_address_single_calls(bulk_on, tmp_path):
    db, fake = bulk_on
    settings.set_value(db, "verification_bulk_threshold", 100, actor="t")
    load(db, tmp_path)
    out = verification.verify_stage(db, 1, MONTH)
    assert "bulk" not in out and fake.calls == 6 and not fake.lists
    assert bulk.balance(db)["balance"] == fake.credits  # each single answer carries the balance


def test_a_stopped_run_picks_up_the_same_list_again(bulk_on, tmp_path):
    db, fake = bulk_on
    load(db, tmp_path, ["unknown3@example.com"])
    fake.polls_to_finish = 1000

    class Stopped(Exception):
        pass

    polls = []

    def tick(done, total, message):
        if message and "bulk list" in message:
            polls.append(done)
            if len(polls) == 2:
                raise Stopped  # the job cancelled, or the app going down

    with pytest.raises(Stopped):
        verification.verify_stage(db, 1, MONTH, tick=tick)
    assert db.rows("SELECT status, list_id FROM verification_lists") == [("uploaded", "8620")]
    assert db.scalar("SELECT count(*) FROM contacts WHERE status = 'verifying'") == 7
    assert bulk.unfinished(db, 1, MONTH)
    fake.polls_to_finish = 0  # Debounce finished meanwhile
    out = verification.verify_stage(db, 1, MONTH)
    assert out["resumed"] is True and len(fake.lists) == 1 and fake.list_fetches == 1
    assert out["results"]["unknown"] == 1 and out["results"]["safe"] == 6
    assert db.scalar("SELECT count(*) FROM contacts WHERE status = 'verifying'") == 0
    assert not bulk.unfinished(db, 1, MONTH)


def test_debounce_refusing_the_list_fails_the_stage_and_says_why(bulk_on, tmp_path):
    db, fake = bulk_on
    load(db, tmp_path)
    fake.lists["1"] = {"url": "http://x", "polls": 0, "done": False}  # another list running
    with pytest.raises(bulk.BulkError, match="maximum number of API bulk verify requests"):
        verification.verify_stage(db, 1, MONTH)
    assert db.rows("SELECT status FROM verification_lists") == [("failed",)]


def test_the_list_server_address_is_checked(bulk_on, tmp_path):
    db, _ = bulk_on
    settings.set_value(db, "verification_list_listen", "nowhere", actor="t")
    load(db, tmp_path)
    with pytest.raises(bulk.BulkError, match="not like 127.0.0.1:8790"):
        verification.verify_stage(db, 1, MONTH)


def test_one_debounce_price_the_old_setting_moves_over(empty_db):
    db = empty_db
    assert "verification_cost_per_1000_cents" not in settings.REGISTRY
    text = (MIGRATION / "0016_verification_bulk.sql").read_text().split("CREATE SEQUENCE")[0]
    sql = "\n".join(line for line in text.splitlines() if not line.startswith("--"))
    db.execute(
        "INSERT INTO settings (name, value, updated_by) VALUES"
        " ('verification_cost_per_1000_cents', '150', 'admin@a.com')"
    )
    with db.transaction() as cur:
        for statement in [x for x in sql.split(";") if x.strip()]:
            cur.execute(statement)
    assert settings.get(db, "debounce_cost_per_1000_cents") == 150
    assert db.scalar("SELECT count(*) FROM settings WHERE name LIKE 'verification_cost%'") == 0
    # a price set under the kept name wins
    db.execute(
        "INSERT INTO settings (name, value, updated_by) VALUES"
        " ('verification_cost_per_1000_cents', '999', 'admin@a.com')"
    )
    with db.transaction() as cur:
        for statement in [x for x in sql.split(";") if x.strip()]:
            cur.execute(statement)
    assert settings.get(db, "debounce_cost_per_1000_cents") == 150


def test_credits_too_low_for_the_next_runs_raise_an_alert(bulk_on, tmp_path):
    import datetime as dt

    from core.guardrails import alerts as guardrails
    from core.guardrails import next_steps

    db, fake = bulk_on
    load(db, tmp_path)  # six contacts filtered, waiting for verification
    guardrails.run_checks(db, deliver=False)
    assert db.scalar("SELECT count(*) FROM alerts WHERE check_name = 'debounce_credits_low'") == 0
    fake.credits = 4
    assert bulk.check_balance(db, fake.api_key) == 4
    assert bulk.next_run_need(db, MONTH) == 6
    guardrails.run_checks(db, deliver=False)
    row = db.query("SELECT * FROM alerts WHERE check_name = 'debounce_credits_low'").row(
        0, named=True
    )
    assert row["status"] == "open" and row["workspace_id"] is None
    assert "4 left, about 6 needed" in row["title"] and "6 contacts filtered" in row["explanation"]
    assert next_steps.step_for("debounce_credits_low").page == "pipeline"
    fake.credits = 100
    bulk.check_balance(db, fake.api_key)
    guardrails.run_checks(db, now=dt.datetime.now(dt.UTC), deliver=False)
    assert db.scalar("SELECT status FROM alerts WHERE check_name = 'debounce_credits_low'") == (
        "resolved"
    )


def test_revenue_charges_debounce_checks_only_never_free_local_ones(demo_db):
    import datetime as dt

    from core.platform.scope import Scope
    from core.revenue import months as revenue

    month, as_of = dt.date(2026, 10, 1), dt.date(2026, 11, 15)
    wid = demo_db.scalar("SELECT min(id) FROM workspaces")

    def cost():
        df = revenue.client_month(demo_db, Scope.all(), month, as_of)
        return int(df.filter(df["workspace_id"] == wid)["verification_cost"][0])

    ids = [
        r[0]
        for r in demo_db.rows(
            "SELECT id FROM contacts WHERE workspace_id = ? AND imported_at >= ? AND imported_at < ?"
            " AND verification_result IS NOT NULL ORDER BY id LIMIT 1000",
            [wid, month, dt.date(2026, 11, 1)],
        )
    ]
    assert len(ids) == 1000
    before = cost()
    price = settings.get(demo_db, "debounce_cost_per_1000_cents")
    demo_db.execute(
        "UPDATE contacts SET verification_source = 'local' WHERE list_contains(?, id)", [ids]
    )
    after = cost()
    assert before - after in (price - 1, price, price + 1)  # rounding of the total
    settings.set_value(demo_db, "debounce_cost_per_1000_cents", price * 2, actor="t")
    assert abs(cost() - 2 * after) <= 1  # the one Debounce price is the one Revenue uses
