"""`leadops suppression import | add | remove | list`: the page's core code, run as jobs, with a
reason for every single change and an audit entry for each."""

from __future__ import annotations

import csv
import io
import json

from typer.testing import CliRunner

from core.cli.main import app
from core.pipeline import suppression
from core.platform import store
from tests.test_pipeline import ws  # noqa: F401  (the two-client fixture)


def audit(db, action):
    return [
        json.loads(a)
        for (a,) in db.rows(
            "SELECT CAST(after AS VARCHAR) FROM audit_log WHERE action = ? ORDER BY id", [action]
        )
    ]


def test_import_add_remove_and_list_from_the_command_line(ws, tmp_path):  # noqa: F811
    f = tmp_path / "bounces.csv"
    f.write_text(
        "Email Address;Reason\nA@Example.com;bounced\nb@example.com;\nnot-an-address;bounced\n"
    )
    ws.close()
    store.close_all()
    runner = CliRunner()
    res = runner.invoke(app, ["suppression", "import", str(f), "--reason", "complaint"])
    assert res.exit_code == 0, res.output
    assert "bounces.csv (utf-8): 3 rows read, 2 added, 0 already listed, 1 rejected." in res.output
    assert "row 3: 'not-an-address' is not an email address" in res.output

    res = runner.invoke(app, ["suppression", "add", "c@example.com", "b@example.com"])
    assert res.exit_code == 1 and "--reason" in res.output  # a single change needs a reason
    res = runner.invoke(
        app, ["suppression", "add", "C@example.com", "b@example.com", "oops", "--reason", "phoned"]
    )
    assert res.exit_code == 0, res.output
    assert "1 added, 1 already listed." in res.output and "left out: oops" in res.output

    res = runner.invoke(app, ["suppression", "remove", "a@example.com", "zed@example.com"])
    assert res.exit_code == 1 and "--reason" in res.output
    res = runner.invoke(
        app,
        [
            "suppression",
            "remove",
            "a@example.com",
            "zed@example.com",
            "--reason",
            "added by mistake",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "1 removed." in res.output and "not on the list: zed@example.com" in res.output

    out = tmp_path / "list.csv"
    res = runner.invoke(app, ["suppression", "list", "--out", str(out)])
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(io.StringIO(out.read_text(), newline="")))
    assert [(r["email"], r["reason"], r["source"]) for r in rows] == [
        ("b@example.com", "complaint", "csv"),
        ("c@example.com", "phoned", "manual"),
    ]
    res = runner.invoke(app, ["suppression", "list"])
    assert res.exit_code == 0 and res.stdout.splitlines()[0].startswith("email,reason,source")

    db = store.get_db()
    added = audit(db, "suppression.add")
    assert added[0]["file"] == "bounces.csv" and added[0]["rejected"] == 1
    assert added[1]["reason"] == "phoned" and added[1]["emails"] == [
        "b@example.com",
        "c@example.com",
    ]
    assert audit(db, "suppression.remove") == [
        {"emails": ["a@example.com"], "reason": "added by mistake", "removed": 1}
    ]
    assert db.scalar("SELECT actor FROM audit_log WHERE action = 'suppression.remove'") == (
        "test:runner"
    )
    kinds = {
        k for (k,) in db.rows("SELECT DISTINCT kind FROM jobs WHERE kind LIKE 'suppression.%'")
    }
    assert kinds == {
        "suppression.import",
        "suppression.add",
        "suppression.remove",
        "suppression.list",
    }


def test_core_refuses_a_change_without_a_reason(ws):  # noqa: F811
    admin = suppression.access.LOCAL_ADMIN
    for change in (suppression.add_addresses, suppression.remove_addresses):
        try:
            change(ws, admin, ["x@example.com"], "  ")
        except suppression.SuppressionError as exc:
            assert "Reason" in str(exc)
        else:
            raise AssertionError(f"{change.__name__} took no reason")
    assert ws.scalar("SELECT count(*) FROM audit_log WHERE action LIKE 'suppression.%'") == 0
