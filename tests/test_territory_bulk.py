"""Bulk territory files (both layouts, hostile input), bulk delete, and the `leadops territories` CLI."""

from __future__ import annotations

import csv
import io
import json

import pytest
from typer.testing import CliRunner

from core.accounts.access import User
from core.cli.main import app
from core.platform import settings
from core.territories import assignments as territories
from core.territories.bulk import apply_file, check_file, delete_listed, zips_in_file
from core.territories.geo import TerritoryError

ADMIN = User(email="ops@agency.test", role="admin")


@pytest.fixture
def db(empty_db):
    empty_db.execute(
        "INSERT INTO workspaces (id, name) VALUES (1, 'Alpha Agency'), (2, 'Bravo Insurance')"
    )
    return empty_db


def by_line(check):
    return {r["line"]: r for r in check.rows.iter_rows(named=True)}


def test_pairs_file_is_validated_row_by_row(db):
    territories.assign(db, ADMIN, 2, ["78705", "78745"])
    data = (
        b"zip,client\n"
        b"78701,Alpha Agency\n"  # 2 new
        b"78702,alpha agency \n"  # 3 new (name matched without case or spaces)
        b"78701,Alpha Agency\n"  # 4 duplicate of 2
        b"99999,Alpha Agency\n"  # 5 not a US ZIP
        b"78703,Nobody Inc\n"  # 6 unknown client
        b"7870x,Alpha Agency\n"  # 7 not a ZIP
        b"78705,Alpha Agency\n"  # 8 owned by Bravo
        b"78702,Bravo Insurance\n"  # 9 same ZIP to a second client in the file
        b",Alpha Agency\n"  # 10 empty ZIP
        b"78704,\n"  # 11 empty client
        b"\n"
        b"501,Bravo Insurance\n"  # 13 leading zeros dropped by a spreadsheet: 00501
        b"78745,Bravo Insurance\n"  # 14 already owned
    )
    check = check_file(db, data)
    rows = by_line(check)
    assert check.layout == "zip,client"
    assert rows[2]["status"] == "new" and rows[3]["status"] == "new"
    assert rows[4]["status"] == "rejected" and "duplicate of line 2" in rows[4]["reason"]
    assert "99999 is not a US ZIP code" in rows[5]["reason"]
    assert "no client named 'Nobody Inc'" in rows[6]["reason"]
    assert "'7870x' is not a 5-digit ZIP" in rows[7]["reason"]
    assert rows[8]["status"] == "conflict" and "owned by Bravo Insurance" in rows[8]["reason"]
    assert (
        rows[9]["status"] == "rejected"
        and "also given to Alpha Agency on line 3" in rows[9]["reason"]
    )
    assert "ZIP is empty" in rows[10]["reason"] and "client is empty" in rows[11]["reason"]
    assert rows[13]["status"] == "new" and rows[13]["zip"] == "00501"
    assert rows[14]["status"] == "already", rows[14]["reason"]
    assert check.counts == {"new": 3, "already": 1, "conflict": 1, "rejected": 7}

    report = list(csv.DictReader(io.StringIO(check.report_csv().decode())))
    assert [int(r["line"]) for r in report] == [4, 5, 6, 7, 8, 9, 10, 11]
    assert report[0]["reason"].startswith("Line 4:")
    assert {r["status"] for r in report} == {"rejected", "conflict"}

    res = apply_file(db, ADMIN, check, name="upload.csv")
    assert (res.added, res.removed) == (3, 0)
    assert db.rows("SELECT zip, workspace_id FROM zip_assignments ORDER BY zip") == [
        ("00501", 2),
        ("78701", 1),
        ("78702", 1),
        ("78705", 2),
        ("78745", 2),
    ]
    assert db.scalar("SELECT count(*) FROM audit_log WHERE action = 'territory.import'") == 1
    territories.undo_last(db, ADMIN)
    assert db.rows("SELECT zip FROM zip_assignments ORDER BY zip") == [("78705",), ("78745",)]


def test_taking_conflicts_from_a_file_moves_them_and_undo_returns_them(db):
    territories.assign(db, ADMIN, 2, ["78705"])
    check = check_file(db, b"zip,client\n78705,Alpha Agency\n")
    assert len(check.report()) == 1 and len(check.report(take_conflicts=True)) == 0
    res = apply_file(db, ADMIN, check, take_conflicts=True)
    assert (res.added, res.removed) == (1, 1)
    assert db.rows("SELECT zip, workspace_id FROM zip_assignments") == [("78705", 1)]
    territories.undo_last(db, ADMIN)
    assert db.rows("SELECT zip, workspace_id FROM zip_assignments") == [("78705", 2)]


def test_shared_mode_lists_file_conflicts_and_applies_them(db):
    settings.set_value(db, "territory_shared_zips", True, actor="t")
    territories.assign(db, ADMIN, 2, ["78705"])
    check = check_file(
        db, b"zip,client\n78705,Alpha Agency\n78745,Alpha Agency\n78745,Bravo Insurance\n"
    )
    assert check.counts == {"new": 2, "already": 0, "conflict": 1, "rejected": 0}
    assert check.report().height == 0
    res = apply_file(db, ADMIN, check)
    assert res.added == 3
    assert db.scalar("SELECT count(*) FROM zip_assignments WHERE zip = '78705'") == 2


def test_master_list_layout_one_column_per_client(db):
    data = (
        "\ufeffAlpha Agency;Bravo Insurance;Ghost Agency;\n"
        "78701;10001;30301;\n"
        "78702;;30302;\n"
        "78703;10001;;\n"
        ";;;02134\n"
    ).encode("utf-8")
    check = check_file(db, data)
    assert check.layout == "master list"
    ok = check.rows.filter(check.rows["status"] == "new")
    assert sorted(zip(ok["zip"], ok["client"], strict=True)) == [
        ("10001", "Bravo Insurance"),
        ("78701", "Alpha Agency"),
        ("78702", "Alpha Agency"),
        ("78703", "Alpha Agency"),
    ]
    reasons = " | ".join(check.rows["reason"].drop_nulls())
    assert "no client named 'Ghost Agency'" in reasons
    assert "duplicate of line 2" in reasons  # 10001 twice under Bravo
    assert any("Column 4" in n for n in check.notes)  # ZIPs under a blank header are reported


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"   \n\n", "empty"),
        (b"zip,client\n", "header but no rows"),
        (b"zip,client,zip\n78701,Alpha Agency,78702\n", "appears twice"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "binary"),
        (bytes(range(1, 32)) * 20, "control characters"),
        (b"zip,notes\n78701,hello\n", "no client column"),
    ],
)
def test_hostile_files_get_a_clear_message(db, data, message):
    with pytest.raises(TerritoryError, match=message):
        check_file(db, data)


def test_garbage_text_is_rejected_row_by_row_and_nothing_is_written(db):
    check = check_file(db, b"zip;client\n=cmd|' /C calc'!A0;Alpha Agency\n\xff\xfe;\xc3\x28\n")
    assert check.counts["rejected"] == 2 and check.counts["new"] == 0
    report = check.report_csv().decode()
    assert "'=cmd" in report  # formula-looking cells are escaped in the report
    assert apply_file(db, ADMIN, check).change_id is None
    assert db.scalar("SELECT count(*) FROM zip_assignments") == 0


def test_bulk_delete_from_an_uploaded_list(db):
    territories.assign(db, ADMIN, 1, ["78701", "78702", "78703"])
    territories.assign(db, ADMIN, 2, ["78704"])
    assert zips_in_file(b"ZIP Code\n78701\n78704\nnope\n") == (["78701", "78704"], ["nope"])
    res, bad = delete_listed(db, ADMIN, b"78701;78704\n78702\n", workspace_id=1)
    assert res.removed == 2 and bad == []
    assert db.rows("SELECT zip FROM zip_assignments ORDER BY zip") == [("78703",), ("78704",)]
    with pytest.raises(TerritoryError, match="no ZIP codes"):
        delete_listed(db, ADMIN, b"hello\n")


# -- CLI --------------------------------------------------------------------------------------------


def test_cli_import_with_report_then_export(db, tmp_path):
    db.close()  # the CLI opens the database itself, as it would with no app running
    from core.platform import store

    store.close_all()
    f = tmp_path / "territories.csv"
    f.write_text("zip,client\n78701,Alpha Agency\n78702,Alpha Agency\n12,Alpha Agency\n")
    runner = CliRunner()
    res = runner.invoke(app, ["territories", "import", str(f), "--dry-run"])
    assert res.exit_code == 0, res.output
    assert "2 new" in res.output and "1 rejected" in res.output and "Dry run" in res.output
    report = tmp_path / "rejected.csv"
    res = runner.invoke(app, ["territories", "import", str(f), "--report", str(report)])
    assert res.exit_code == 0, res.output
    assert "2 assigned" in res.output
    assert "Line 4" in report.read_text()
    res = runner.invoke(
        app, ["territories", "export", "--format", "json", "--workspace", "Alpha Agency"]
    )
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert [d["zip"] for d in data] == ["78701", "78702"]
    res = runner.invoke(app, ["territories", "export", "--format", "csv"])
    assert res.stdout.splitlines()[0] == "zip,client,city,county,state,assigned_at,assigned_by"
    assert runner.invoke(app, ["territories", "export", "--format", "xml"]).exit_code == 1
    res = runner.invoke(app, ["territories", "import", str(tmp_path / "missing.csv")])
    assert res.exit_code == 1 and "no such file" in res.output
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"")
    res = runner.invoke(app, ["territories", "import", str(bad)])
    assert res.exit_code == 1 and "bad.csv: File: it is empty." in res.output
