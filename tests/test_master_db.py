"""The master contacts database against a real PostgreSQL: health, availability per ZIP, the pull
planner under the row limit, and pulls that skip recently pulled contacts.

The server and the `pg` and `master` fixtures live in tests/conftest_pg.py: each test gets a
fresh database, which `master` fills with its own schema.
"""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from core.accounts import access
from core.pipeline import master_db
from core.platform import settings
from tests.test_pipeline import ws  # noqa: F401  (the two-client fixture)

pytestmark = pytest.mark.postgres

ADMIN = access.LOCAL_ADMIN
MONTH = dt.date(2027, 3, 1)


def configure(db):
    settings.set_value(db, "master_db_table", "people", actor="t")
    settings.set_value(
        db,
        "master_db_columns",
        '{"id": "pid", "email": "email_address", "first_name": "fname", "last_name": "lname",'
        ' "zip": "zip5", "purchase_date": "sale_date", "home_value": "value",'
        ' "address": null, "city": null, "state": null, "cell_phone": null,'
        ' "head_of_household": null, "income": null, "date_of_birth": null}',
        actor="t",
    )


def test_health_availability_and_plan(ws, master):  # noqa: F811
    assert not master_db.health(ws, master)["ok"]  # default table "consumers" does not exist
    configure(ws)
    h = master_db.health(ws, master)
    assert h["ok"] and h["rows"] == 2841
    avail = master_db.availability(ws, 1, master)
    assert dict(avail.iter_rows()) == {"75201": 2500, "75204": 300, "75205": 40}
    plan = master_db.plan_pulls(avail, 1000)
    assert plan == [
        {"zips": ["75201"], "rows": 2500, "queries": 3},
        {"zips": ["75204", "75205"], "rows": 340, "queries": 1},
    ]
    assert all(q["rows"] <= 1000 or q["queries"] * 1000 >= q["rows"] for q in plan)


def test_pull_imports_and_skips_recently_pulled(ws, master):  # noqa: F811
    configure(ws)
    settings.set_value(ws, "source_row_limit", 1000, actor="t")
    r = master_db.pull(ws, ADMIN, 1, 1200, MONTH, eng=master)
    assert r["pulled"] == 1200 and r["imported"] == 1200 and r["queries"] == 2
    assert ws.scalar("SELECT count(*) FROM contacts WHERE source = 'master_db'") == 1200
    hist = master_db.pull_history(ws, ADMIN.scope)
    assert hist.row(0, named=True)["pulled"] == 1200
    # The same people are skipped next time, for any client.
    again = master_db.pull(ws, ADMIN, 2, 5000, MONTH, eng=master)
    assert again["pulled"] == 0  # client 2 owns 75206 only: nothing available there
    more = master_db.pull(ws, ADMIN, 1, 5000, MONTH, eng=master)
    assert more["pulled"] == 2840 - 1200
    emails = ws.rows("SELECT lower(email), count(*) FROM contacts GROUP BY 1 HAVING count(*) > 1")
    assert emails == []
    # With the window at 0 months nobody is skipped, but the import still refuses duplicates.
    settings.set_value(ws, "master_pull_exclude_months", 0, actor="t")
    ws.execute("UPDATE master_pulled SET pulled_at = now() - INTERVAL 1 DAY")
    r = master_db.pull(ws, ADMIN, 1, 100, MONTH, eng=master)
    assert r["pulled"] == 100 and r["imported"] == 0 and r["duplicates"] == 100


def test_unconfigured_master_db_says_what_to_set(ws, monkeypatch):  # noqa: F811
    monkeypatch.delenv(master_db.ENV_URL, raising=False)
    h = master_db.health(ws)
    assert not h["ok"] and "LEADOPS_MASTER_DB_URL" in h["message"]
    with pytest.raises(master_db.MasterDbError):
        master_db.engine()
    assert isinstance(sa.__version__, str)


def test_fill_the_gap_pulls_and_runs(ws, master):  # noqa: F811
    from core.pipeline import runs as pipeline
    from core.platform import jobs

    configure(ws)
    ws.execute("UPDATE package_tiers SET refined_contacts = 500 WHERE tier = '100'")
    with pytest.raises(pipeline.PipelineError, match="upload: No upload campaign"):
        jobs.run(ws, "pipeline.fill_gap", {"workspace_id": 1, "month": "2027-03", "actor": "t"},
                 requested_by="t")  # fmt: skip
    # No runs yet: default pass rates 80 % and 90 %, margin 15 %: ceil(500 / 0.72 * 1.15) = 799.
    assert master_db.pull_history(ws, ADMIN.scope).row(0, named=True)["pulled"] == 799
    run_id = pipeline.runs(ws, ADMIN.scope)["id"][0]
    stages = {r["stage"]: r for r in pipeline.stages(ws, run_id).iter_rows(named=True)}
    assert stages["filter"]["input_count"] == 799 and stages["batch"]["output_count"] == 500


def test_the_master_database_password_credential_is_tested_with_select_1(empty_db, pg, monkeypatch):
    """Settings → Credentials' Test of a master database password: SELECT 1 on a new connection
    with that password, the outcome kept; no address configured is 'not tested', not failed."""
    import psycopg

    from core.accounts import credentials

    info = pg.info

    def test(name: str, value: str):
        credentials.save(empty_db, ADMIN, name, "master_db_password", value)
        ok, message = credentials.test(empty_db, ADMIN, name)
        kept = empty_db.rows(
            "SELECT last_test_ok, last_test_message FROM secret_refs WHERE name = ?", [name]
        )
        assert kept == [(ok, message)] and value not in message
        return ok, message

    monkeypatch.delenv(master_db.ENV_URL, raising=False)
    ok, message = test("master_db.password", "pg-password-0001")
    assert ok is None and "not set" in message
    url = f"postgresql+psycopg://{info.user}@{info.host}:{info.port}/{info.dbname}"
    monkeypatch.setenv(master_db.ENV_URL, url)
    ok, message = test("master_db.password", info.password or "no-password-needed")
    assert ok is True and "SELECT 1" in message and info.dbname in message
    try:  # does this server check passwords at all (a trust setup lets anyone in)?
        psycopg.connect(
            host=info.host, port=info.port, user=info.user, dbname=info.dbname, password="nope"
        ).close()
    except psycopg.OperationalError:
        ok, message = test("master_db.other", "wrong-pg-pass-01")
        assert ok is False and "master database refused it" in message
    monkeypatch.setenv(master_db.ENV_URL, f"postgresql://{info.user}@127.0.0.1:1/nowhere")
    ok, message = test("master_db.password", "pg-password-0001")
    assert ok is False and "master database refused it" in message
