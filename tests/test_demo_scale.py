"""The demo grown in SQL (`leadops demo --scale 10x` copies each client nine times): every copy
is its original under new ids, nothing points across clients, and rows added later never collide
with a copy's."""

from __future__ import annotations

import datetime as dt

import pytest

from core import overview
from core.demo import scale as demo_scale
from core.demo.loader import DemoError, load_demo
from core.platform.scope import Scope

AS_OF = dt.date(2026, 11, 23)


def counts(db) -> dict[str, int]:
    return {
        t: db.scalar(f"SELECT count(*) FROM {t}")
        for t in ("workspaces", *demo_scale.COPIED, "interested_leads")
    }


def test_each_client_copied_with_its_rows_under_new_ids(demo_db):
    db = demo_db
    before = counts(db)
    stages = overview.contacts_by_stage(db, Scope.all())
    grown = demo_scale.grow(db, 3)
    after = counts(db)
    for table, n in before.items():
        assert after[table] == 3 * n, table
        if table in grown:
            assert grown[table] == after[table]
    assert db.scalar("SELECT count(DISTINCT id) FROM contacts") == after["contacts"]
    assert db.scalar("SELECT count(DISTINCT name) FROM workspaces") == after["workspaces"]
    # a copy's leads point at the copy's own contacts, its contacts at its own batches
    assert (
        db.scalar(
            "SELECT count(*) FROM bison_leads l JOIN contacts c ON c.id = l.contact_id"
            " WHERE c.workspace_id <> l.workspace_id"
        )
        == 0
    )
    assert db.scalar(
        "SELECT count(*) FROM bison_leads WHERE contact_id IS NOT NULL"
    ) == 3 * db.scalar(
        "SELECT count(*) FROM bison_leads l JOIN workspaces w ON w.id = l.workspace_id"
        " WHERE l.contact_id IS NOT NULL AND w.name NOT LIKE '% 2' AND w.name NOT LIKE '% 3'"
    )
    assert (
        db.scalar(
            "SELECT count(*) FROM contacts c JOIN batches b ON b.id = c.batch_id"
            " WHERE b.workspace_id <> c.workspace_id"
        )
        == 0
    )
    # a copy is its original: the same figures, three times over
    grown_stages = overview.contacts_by_stage(db, Scope.all())
    assert grown_stages.sort(grown_stages.columns[0]).to_dicts() == [
        {**r, **{k: 3 * v for k, v in r.items() if isinstance(v, int)}}
        for r in stages.sort(stages.columns[0]).to_dicts()
    ]
    # ids drawn from the sequences: a contact added now does not collide with a copy
    db.execute(
        "INSERT INTO contacts (workspace_id, email, zip) SELECT min(id), 'new@example.com', '75001'"
        " FROM workspaces"
    )
    assert db.scalar("SELECT count(DISTINCT id) FROM contacts") == after["contacts"] + 1


def test_the_10x_scale_is_known_and_a_wrong_one_is_refused(empty_db):
    assert demo_scale.GROWN["10x"] == ("tenfold", 10)
    with pytest.raises(DemoError, match="small, full or 10x"):
        load_demo(empty_db, scale="huge", seed=1, as_of=AS_OF)
