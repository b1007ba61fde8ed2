"""Files from outside, read safely: hostile headers never reach SQL unquoted and a call runs one
statement; Excel zip bombs and long sheets are refused by their limits and uploads leave no
files behind; binary files and overlong lines get one sentence or a reported row; encodings are
chosen from the whole sample."""

from __future__ import annotations

import csv
import io
import time
import zipfile
from pathlib import Path

import pytest
from openpyxl import Workbook
from typer.testing import CliRunner

from core.accounts import access
from core.accounts.access import User
from core.cli.main import app
from core.pipeline import contact_import, import_files, master_db, suppression
from core.pipeline.contact_import import ContactImportError, import_file, inspect_file
from core.platform import settings, store, textfiles
from core.territories.bulk import apply_file, check_file
from core.territories.geo import TerritoryError
from tests.test_pipeline import ws  # noqa: F401  (the two-client fixture)

ADMIN = access.LOCAL_ADMIN
TERRITORY_ADMIN = User(email="ops@agency.test", role="admin")


@pytest.fixture
def tmpdir_(tmp_path, monkeypatch):
    """The temporary folder LeadOps writes to, private to the test (to count what is left)."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(folder))
    return folder


def leftovers(folder: Path) -> list[str]:
    """What LeadOps left in the temporary folder (its names start with leadops-)."""
    paths = (p.relative_to(folder) for p in folder.rglob("*"))
    return sorted(str(p) for p in paths if p.parts[0].startswith("leadops"))


def hostile_headers(tmp_path: Path) -> tuple[list[str], Path]:
    """Header names that would run SQL of their own if pasted into a query unquoted."""
    secret = tmp_path / "env.sh"
    secret.write_text("LEADOPS_KEYRING_PASSWORD=hunter2\n")
    out = tmp_path / "out.txt"
    copy = f"COPY (SELECT content FROM read_text('{secret}')) TO '{out}'"
    return [
        f'a", NULL FROM (SELECT 1 AS "a"); {copy}; SELECT \'victim@example.com\', NULL --',
        f"x'); {copy}; --",
        f"x': 'VARCHAR'}}); {copy}; --",
        "just \"quotes\" and 'apostrophes'",
        "$1 ? ${wid} %s",
    ], out


# -- 1. names from files reach SQL quoted; one statement per call ------------------------------


def test_suppression_header_cannot_run_sql(ws, tmp_path):  # noqa: F811
    """The reported attack: a tab-separated file whose first header closes the quote."""
    headers, out = hostile_headers(tmp_path)
    f = tmp_path / "supp.csv"
    f.write_text(headers[0] + "\tx\ty\tz\nfoo@example.com\ty\t\t\n")
    report = suppression.import_file(ws, ADMIN, f)
    assert report["added"] == 1
    assert ws.rows("SELECT email_key, reason FROM suppression_list") == [
        ("foo@example.com", "unsubscribed")
    ]
    assert not out.exists()


@pytest.mark.parametrize("which", range(5))
def test_hostile_headers_in_every_file_import(ws, tmp_path, which):  # noqa: F811
    headers, out = hostile_headers(tmp_path)
    h = headers[which]
    # contacts: the hostile column mapped to a field, so its name is used in the SQL
    buf = io.StringIO()
    w = csv.writer(buf, delimiter="\t")
    w.writerow(["email", "zip", h, "n1", "n2", "n3", "n4", "n5", "n6", "n7", "n8"])
    w.writerow(["ann@example.com", "75201", "Ann"] + [""] * 8)
    contacts = tmp_path / "contacts.csv"
    contacts.write_text(buf.getvalue())
    info = inspect_file(ws, contacts)
    assert h in info.headers
    r = import_file(
        ws, 1, contacts, actor="t", mapping={"email": "email", "zip": "zip", "first_name": h}
    )
    assert r["imported"] == 1
    assert ws.rows("SELECT email, first_name FROM contacts") == [("ann@example.com", "Ann")]
    # suppression: the hostile column is the first, the email column is found by name
    supp = tmp_path / "supp.csv"
    buf = io.StringIO()
    w = csv.writer(buf, delimiter="\t")
    w.writerow([h, "email", "reason", "n1", "n2", "n3", "n4", "n5", "n6", "n7", "n8"])
    w.writerow(["x", "bob@example.com", "bounced"] + [""] * 8)
    supp.write_text(buf.getvalue())
    assert suppression.import_file(ws, ADMIN, supp)["added"] == 1
    # territories: a master list whose second client column is the hostile name
    ws.execute("INSERT INTO workspaces (id, name) VALUES (3, 'Alpha Agency')")
    buf = io.StringIO()
    csv.writer(buf, delimiter="\t").writerows(
        [["Alpha Agency", h, "", "", "", "", ""], ["78701", "78702", "", "", "", "", ""]]
    )
    check = check_file(ws, buf.getvalue().encode())
    apply_file(ws, TERRITORY_ADMIN, check)
    assert ws.rows("SELECT zip, workspace_id FROM zip_assignments WHERE zip LIKE '787%'") == [
        ("78701", 3)
    ]
    assert ws.rows("SELECT email_key FROM suppression_list") == [("bob@example.com",)]
    assert ws.scalar("SELECT count(*) FROM contacts") == 1
    assert not out.exists()


def test_the_store_runs_one_statement_per_call(empty_db, tmp_path):
    out = tmp_path / "out.txt"
    attack = f"SELECT 1; COPY (SELECT 42) TO '{out}'"
    with pytest.raises(store.MultipleStatements):
        empty_db.execute(attack)
    with pytest.raises(store.MultipleStatements):
        empty_db.query(attack)
    with empty_db.cursor() as cur, pytest.raises(store.MultipleStatements):
        cur.sql(attack)
    with empty_db.transaction() as cur, pytest.raises(store.MultipleStatements):
        cur.execute(f"INSERT INTO settings (name, value) VALUES ('a', '1'); {attack}")
    assert not out.exists()
    assert empty_db.scalar("SELECT count(*) FROM settings WHERE name = 'a'") == 0
    # a ; inside a literal or a comment is one statement; a trailing ; is fine
    assert empty_db.scalar("SELECT 'a;b' -- c; d") == "a;b"
    assert empty_db.scalar("SELECT 2;") == 2
    assert store.quote_ident('a"b') == '"a""b"'
    assert store.quote_literal("it's") == "'it''s'"


def test_master_db_names_are_checked_and_quoted(empty_db):
    settings.set_value(empty_db, "master_db_table", "crm.People", actor="t")
    settings.set_value(empty_db, "master_db_columns", '{"email": "EmailAddress"}', actor="t")
    table, cols = master_db.layout(empty_db)
    assert table == '"crm"."people"' and cols["email"] == '"emailaddress"'
    assert cols["zip"] == '"zip"'
    for bad in ('{"email": "email\\"; DROP TABLE x; --"}', '{"email": "a b"}', "[1]"):
        settings.set_value(empty_db, "master_db_columns", bad, actor="t")
        with pytest.raises(master_db.MasterDbError):
            master_db.layout(empty_db)
    settings.set_value(empty_db, "master_db_columns", "{}", actor="t")
    settings.set_value(empty_db, "master_db_table", "people\n", actor="t")
    with pytest.raises(master_db.MasterDbError):
        master_db.layout(empty_db)


# -- 2. Excel limits, one conversion per upload, no files left behind --------------------------


def workbook(path: Path, rows: int = 2, pad_rows: int = 0, pad: str = "") -> Path:
    """A workbook of contacts; `pad_rows` inline-string rows of `pad` make it unzip large."""
    wb = Workbook()
    sheet = wb.active
    sheet.append(["Email", "Zip"])
    for i in range(rows):
        sheet.append([f"x{i}@example.com", "75201"])
    wb.save(path)
    if not pad_rows:
        return path
    with zipfile.ZipFile(path) as zf:
        members = {i.filename: zf.read(i.filename) for i in zf.infolist()}
    sheet_xml = members["xl/worksheets/sheet1.xml"].decode()
    extra = "".join(
        f'<row r="{rows + 2 + i}"><c r="A{rows + 2 + i}" t="inlineStr"><is><t>{pad}</t></is></c></row>'
        for i in range(pad_rows)
    )
    members["xl/worksheets/sheet1.xml"] = sheet_xml.replace(
        "</sheetData>", extra + "</sheetData>"
    ).encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def test_an_excel_zip_bomb_is_refused_by_its_unzipped_size(ws, tmp_path, tmpdir_):  # noqa: F811
    settings.set_value(ws, "import_excel_max_mb", 1, actor="t")
    bomb = workbook(tmp_path / "bomb.xlsx", pad_rows=20_000, pad="A" * 200)
    assert bomb.stat().st_size < 200_000
    t = time.monotonic()
    with pytest.raises(
        ContactImportError, match=r"unzips to \d+ MB, over the 1 MB.*import_excel_max_mb"
    ):
        inspect_file(ws, bomb)
    with pytest.raises(ContactImportError, match="import_excel_max_mb"):
        import_files.stage_upload(ws, bomb.read_bytes(), "bomb.xlsx")
    assert time.monotonic() - t < 5
    assert leftovers(tmpdir_) == ["leadops-uploads"]
    assert ws.scalar("SELECT count(*) FROM contacts") == 0


def test_an_excel_sheet_over_the_row_limit_is_refused(ws, tmp_path, tmpdir_):  # noqa: F811
    settings.set_value(ws, "import_excel_max_rows", 100, actor="t")
    book = workbook(tmp_path / "long.xlsx", rows=150)
    with pytest.raises(ContactImportError, match="more than 100 rows.*import_excel_max_rows"):
        import_file(ws, 1, book, actor="t")
    assert ws.scalar("SELECT count(*) FROM contacts") == 0
    assert leftovers(tmpdir_) == []
    settings.set_value(ws, "import_excel_max_rows", 150, actor="t")
    assert import_file(ws, 1, book, actor="t")["imported"] == 150
    assert leftovers(tmpdir_) == []


def test_an_upload_is_converted_once_and_deleted_when_done(ws, tmp_path, tmpdir_, monkeypatch):  # noqa: F811
    calls = []
    real = import_files.excel_to_csv
    monkeypatch.setattr(
        import_files, "excel_to_csv", lambda *a, **k: calls.append(a) or real(*a, **k)
    )
    data = workbook(tmp_path / "list.xlsx").read_bytes()
    first = import_files.stage_upload(ws, data, "list.xlsx")
    for _ in range(3):  # page reruns
        again = import_files.stage_upload(ws, data, "list.xlsx")
        assert again.path == first.path
    assert len(calls) == 1
    assert leftovers(tmpdir_) == sorted(
        [
            "leadops-uploads",
            f"leadops-uploads/{first.digest}",
            f"leadops-uploads/{first.digest}/contacts.csv",
        ]
    )
    assert import_files.staged_digest(first.path) == first.digest
    import_files.release(first.digest)
    assert leftovers(tmpdir_) == ["leadops-uploads"]
    other = import_files.stage_upload(ws, b"email,zip\na@example.com,75201\n", "a.csv")
    assert import_files.sweep(max_age=3600) == 0 and other.path.exists()
    assert import_files.sweep(max_age=-1) == 1 and not other.path.exists()


def test_the_import_page_converts_once_and_leaves_no_files(ws, tmp_path, tmpdir_, monkeypatch):  # noqa: F811
    from streamlit.testing.v1 import AppTest

    calls = []
    real = import_files.excel_to_csv
    monkeypatch.setattr(
        import_files, "excel_to_csv", lambda *a, **k: calls.append(a) or real(*a, **k)
    )
    data = workbook(tmp_path / "list.xlsx", rows=3).read_bytes()
    at = AppTest.from_file("../streamlit_app.py", default_timeout=90).run()
    at.switch_page("pages/pipeline.py").run()
    uploader = next(u for u in at.file_uploader if u.label.startswith("Contact file"))
    uploader.set_value(("list.xlsx", data, "application/octet-stream"))
    at.run()
    for _ in range(3):  # reruns, as every click on the page makes
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Read as utf-8" in c.value for c in at.caption)
    assert len(calls) == 1
    staged = [p for p in leftovers(tmpdir_) if p.endswith(".csv")]
    assert len(staged) == 1, leftovers(tmpdir_)
    next(b for b in at.button if b.label == "Import").click().run()
    # a quick job may have ended within that run, whose rerun already showed the outcome once
    shown = [s.value for s in at.success]
    deadline = time.monotonic() + 30
    running = (
        "SELECT count(*) FROM jobs WHERE kind = 'contacts.import'"
        " AND status IN ('queued', 'running')"
    )
    while ws.scalar(running) and time.monotonic() < deadline:
        time.sleep(0.1)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert ws.scalar("SELECT count(*) FROM contacts") == 3
    assert any("3 imported" in v for v in shown + [s.value for s in at.success])
    assert [p for p in leftovers(tmpdir_) if p != "leadops-uploads"] == []
    # a file that cannot be read: one message, nothing kept
    uploader = next(u for u in at.file_uploader if u.label.startswith("Contact file"))
    uploader.set_value(("bin.csv", bytes(range(256)) * 40, "text/csv"))
    at.run()
    assert any("not a text file" in e.value for e in at.error)
    assert [p for p in leftovers(tmpdir_) if p != "leadops-uploads"] == []


def test_a_command_line_excel_import_leaves_no_file(ws, tmp_path, tmpdir_):  # noqa: F811
    folder = tmp_path / "in"
    folder.mkdir()
    book = workbook(folder / "list.xlsx", rows=4)
    ws.close()
    res = CliRunner().invoke(
        app, ["import", "contacts", str(book), "--workspace", "Acme Insurance"]
    )
    assert res.exit_code == 0, res.output
    assert "4 imported" in res.output and "read as utf-8" in res.output
    assert sorted(p.name for p in folder.iterdir()) == ["list.xlsx"]
    assert leftovers(tmpdir_) == []


# -- 3. bad files: one sentence and nothing written, or good rows in and the rest reported -------

BINARY = [
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 20,
    bytes((i * 37 + 11) % 256 for i in range(5000)),
    b"PK\x03\x04" + bytes(200),
]


@pytest.mark.parametrize("data", BINARY)
def test_binary_files_are_refused_in_one_sentence(ws, tmp_path, data):  # noqa: F811
    f = tmp_path / "list.csv"
    f.write_bytes(data)
    with pytest.raises(ContactImportError, match="list.csv is not a text file") as exc:
        import_file(ws, 1, f, actor="t")
    assert "\n" not in str(exc.value)
    with pytest.raises(ContactImportError, match="not a text file"):
        suppression.import_file(ws, ADMIN, f)
    with pytest.raises(TerritoryError, match="not a text file"):
        check_file(ws, data)
    assert ws.scalar("SELECT count(*) FROM contacts") == 0
    assert ws.scalar("SELECT count(*) FROM suppression_list") == 0


def test_the_command_line_says_why_a_binary_file_is_refused(ws, tmp_path):  # noqa: F811
    f = tmp_path / "list.csv"
    f.write_bytes(BINARY[1])
    ws.close()
    runner = CliRunner()
    for args in (
        ["import", "contacts", str(f), "--workspace", "Acme Insurance"],
        ["suppression", "import", str(f)],
        ["territories", "import", str(f)],
    ):
        res = runner.invoke(app, args)
        assert res.exit_code == 1, res.output
        assert "is not a text file" in res.output and "Traceback" not in res.output
        assert res.exception is None or isinstance(res.exception, SystemExit)


def test_a_30_mb_line_is_reported_and_the_good_rows_import(ws, tmp_path):  # noqa: F811
    f = tmp_path / "long.csv"
    long_row = "a@example.com,75201," + "x" * 30_000_000
    f.write_text(
        f"email,zip,notes\n{long_row}\nb@example.com,75201,ok\nc@example.com,75201,ok\nbad,75201,ok\n"
    )
    r = import_file(ws, 1, f, actor="t")
    assert (r["rows_read"], r["imported"], r["rejected"]) == (4, 2, 2)
    rejects = dict(contact_import.rejects(ws, r["import_id"]).select("row_number", "reason").rows())
    assert rejects[1].startswith("line 2 is 30.0 MB long")
    assert rejects[4] == "bad email 'bad'"  # rows after the long line keep their numbers
    rep = suppression.import_file(ws, ADMIN, f)
    assert (rep["added"], rep["rejected"]) == (2, 2)
    assert rep["rejected_rows"] == [
        {
            "row": 1,
            "reason": "line 2 is 30.0 MB long, over the 1.0 MB a row may have; it was left out",
        },
        {"row": 4, "reason": "'bad' is not an email address"},
    ]
    # territories (files up to 20 MB): a 1 MB line is one rejected row
    ws.execute("INSERT INTO workspaces (id, name) VALUES (3, 'Alpha Agency')")
    long_line = b"7" * 1_000_000 + b",Alpha Agency"
    check = check_file(ws, b"zip,client\n" + long_line + b"\n78701,Alpha Agency\n")
    assert check.counts == {"new": 1, "already": 0, "conflict": 0, "rejected": 1}
    assert f"Line 2: {len(long_line):,} characters long" in check.report()["reason"][0]


def test_a_row_that_cannot_be_read_stops_the_import_with_one_sentence(ws, tmp_path):  # noqa: F811
    f = tmp_path / "multi.csv"
    value = "\n".join(["y" * 500_000] * 6)  # one quoted value of 3 MB over six lines
    f.write_text(f'email,zip,notes\na@example.com,75201,"{value}"\nb@example.com,75201,ok\n')
    with pytest.raises(ContactImportError, match="has a row longer than 2 MB") as exc:
        import_file(ws, 1, f, actor="t")
    assert "\n" not in str(exc.value)
    assert ws.scalar("SELECT count(*) FROM contacts") == 0
    assert ws.scalar("SELECT status FROM import_reports") == "failed"
    quoted = tmp_path / "header.csv"
    quoted.write_text("email," + "z" * 200_000 + "\na@example.com,75201\n")
    with pytest.raises(ContactImportError, match="header row of header.csv is not valid CSV"):
        import_file(ws, 1, quoted, actor="t")


# -- 4. encodings from the whole sample -----------------------------------------------------------


def test_one_latin_1_byte_does_not_garble_a_utf_8_file(ws, tmp_path):  # noqa: F811
    f = tmp_path / "mixed.csv"
    rows = "".join(f"jose{i}@example.com,José,75201\n" for i in range(200))
    f.write_bytes(("email,first_name,zip\n" + rows).encode() + b"rene@example.com,Ren\xe9,75201\n")
    r = import_file(ws, 1, f, actor="t")
    assert r["imported"] == 201
    assert r["encoding"] == "utf-8 (1 stray byte read as windows-1252)"
    names = dict(ws.rows("SELECT first_name, count(*) FROM contacts GROUP BY 1"))
    assert names == {"José": 200, "René": 1}
    rep = suppression.import_file(ws, ADMIN, f)
    assert rep["encoding"].startswith("utf-8 (1 stray byte") and rep["added"] == 201
    # the same in a territory file: the client's name still matches
    ws.execute("INSERT INTO workspaces (id, name) VALUES (3, 'José Agency')")
    data = "zip,client\n78701,José Agency\n78702,José Agency\n".encode() + b"78703,Ren\xe9\n"
    check = check_file(ws, data)
    assert check.counts["new"] == 2 and check.encoding.startswith("utf-8 (1 stray byte")
    assert "no client named 'René'" in check.report()["reason"][0]


def test_windows_1252_and_utf_16_files(ws, tmp_path):  # noqa: F811
    f = tmp_path / "cp.csv"
    f.write_bytes(
        b"email,first_name,zip\n"
        + "".join(f"a{i}@example.com,Zoë “Z” Müller €,75201\n" for i in range(30)).encode("cp1252")
    )
    r = import_file(ws, 1, f, actor="t")
    assert r["encoding"] == "windows-1252" and r["imported"] == 30
    assert ws.scalar("SELECT DISTINCT first_name FROM contacts") == "Zoë “Z” Müller €"
    text = "email\tzip\nu@example.com\t75201\n"
    assert textfiles.decode_bytes(text.encode("utf-16-le")) == (text, "utf-16")
    assert textfiles.decode_bytes(text.encode("utf-16")) == (text, "utf-16")
    assert textfiles.decode_bytes("\ufeff".encode() + text.encode()) == (text, "utf-8")
