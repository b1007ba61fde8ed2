"""CSV exports: formula-injection safe, streamed, and the same through the CLI as on the page."""

from __future__ import annotations

import csv
import io

from core.platform import exports
from core.platform.scope import Scope


def test_dangerous_prefixes_are_neutralised():
    df_csv = exports.frame_to_csv(
        __import__("polars").DataFrame(
            {
                "a": ['=HYPERLINK("x")', "+1", "-2", "@SUM(A1)", "\tx", "\rx", "plain", None],
                "n": [-1, 2, 3, 4, 5, 6, 7, 8],
            }
        )
    ).decode()
    rows = list(csv.reader(io.StringIO(df_csv, newline="")))
    assert [r[0] for r in rows[1:]] == [
        '\'=HYPERLINK("x")',
        "'+1",
        "'-2",
        "'@SUM(A1)",
        "'\tx",
        "'\rx",
        "plain",
        "",
    ]
    assert rows[1][1] == "-1"  # numbers stay numbers


def test_every_registered_export_streams_and_respects_scope(demo_db):
    for name in exports.EXPORTS:
        buf = io.StringIO()
        n_all = exports.export(demo_db, name, Scope.all(), buf)
        assert n_all > 0 or name == "audit_log" and n_all >= 1, name
        one = io.StringIO()
        exports.export(demo_db, name, Scope.only([3]), one)
        if name not in ("audit_log",):
            client = demo_db.scalar("SELECT name FROM workspaces WHERE id = 3")
            lines = list(csv.DictReader(io.StringIO(one.getvalue())))
            assert lines, name
            key = "name" if name == "workspaces" else "client"
            assert {r[key] for r in lines} == {client}, name
        else:
            assert one.getvalue().count("\r\n") == 1  # a client sees no audit log


def test_large_export_is_written_in_chunks(demo_db):
    chunks = []

    class Sink:
        def write(self, s):
            chunks.append(len(s))

    n = exports.export(demo_db, "contacts", Scope.all(), Sink())
    assert n == 60_000 and len(chunks) > 10 and max(chunks) < 2_000_000


def test_a_trigger_after_a_separator_inside_a_cell_is_neutralised():
    """`x;=HYPERLINK(…)` opens as a formula in a spreadsheet that splits on semicolons."""
    df = __import__("polars").DataFrame(
        {
            "a": [
                'x;=HYPERLINK("http://evil.example")',
                "a,+1",
                "line\n@SUM(A1)",
                "tab\t-2",
                "a; \t=cmd",
                "Smith-Jones, Ann",
                "x'); DROP TABLE workspaces; --",
            ],
            "n": [-1, -2, 3, 4, 5, 6, 7],
            "f": [-1.5, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0],
        }
    )
    rows = list(csv.reader(io.StringIO(exports.frame_to_csv(df).decode(), newline="")))
    assert [r[0] for r in rows[1:]] == [
        'x;\'=HYPERLINK("http://evil.example")',
        "a,'+1",
        "line\n'@SUM(A1)",
        "tab\t'-2",
        "a; \t'=cmd",
        "Smith-Jones, Ann",
        "x'); DROP TABLE workspaces; --",  # a space first: text, not a formula
    ]
    assert [r[1] for r in rows[1:3]] == ["-1", "-2"] and rows[1][
        2
    ] == "-1.5"  # numbers stay numbers
    assert exports.safe_cell(-3) == -3
