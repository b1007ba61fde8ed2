"""The real PostgreSQL behind the master-database tests, defined once for the whole run.

The server: one already listening on 127.0.0.1:5432 (user postgres), else a throw-away one that
pytest-postgresql starts from Debian's binaries (`make test` installs them when missing). Each
test gets a fresh database (`pg`); `master` fills it with a `people` table of its own layout.
Defined here, not in a test module, so that two test files on one worker share one session
server instead of each creating the same template database.
"""

from __future__ import annotations

import glob
import os
import socket

import pytest
from pytest_postgresql import factories

from core.pipeline import master_db


def _listening(port: int = 5432) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


# Databases named per test run: on a shared server, what a killed run left behind (its
# template database, say) must not make the next run fail with "already exists".
RUN_DB = f"leadops_test_{os.getpid()}"

if _listening() or not glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"):
    pg_server = factories.postgresql_noproc(
        host="127.0.0.1",
        port=5432,
        user="postgres",
        password=os.environ.get("LEADOPS_TEST_PG_PASSWORD", "postgres"),
        dbname=RUN_DB,
    )
else:  # pragma: no cover - machines without a running server
    pg_server = factories.postgresql_proc(
        executable=sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))[-1]
    )
pg = factories.postgresql("pg_server", dbname=f"{RUN_DB}_master")


@pytest.fixture
def master(pg, monkeypatch):
    """A `people` table with a custom layout: 2,500 contacts in 75201, 300 in 75204, 40 in 75205."""
    info = pg.info
    url = f"postgresql+psycopg://{info.user}:{info.password or ''}@{info.host}:{info.port}/{info.dbname}"
    monkeypatch.setenv(master_db.ENV_URL, url)
    with pg.cursor() as cur:
        cur.execute(
            "CREATE TABLE people (pid BIGSERIAL PRIMARY KEY, email_address TEXT, fname TEXT,"
            " lname TEXT, zip5 TEXT, sale_date DATE, value BIGINT)"
        )
        cur.execute(
            """INSERT INTO people (email_address, fname, lname, zip5, sale_date, value)
               SELECT 'm' || g || '@example.com', 'F' || g, 'L' || g,
                      CASE WHEN g <= 2500 THEN '75201' WHEN g <= 2800 THEN '75204' ELSE '75205' END,
                      DATE '2015-03-01' + (g % 28), 250000
               FROM generate_series(1, 2840) g"""
        )
        cur.execute("INSERT INTO people (email_address, zip5) VALUES (NULL, '75201')")
    pg.commit()
    engine = master_db.engine(url)
    yield engine
    engine.dispose()
