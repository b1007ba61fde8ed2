"""`leadops suppression …`: the suppression list from the shell, through the same core code as the
Pipeline page (core/pipeline/suppression.py). Every command runs as a job, here or handed to the
running app."""

from __future__ import annotations

import sys
import tempfile
import uuid
from pathlib import Path

import typer

from core.cli.common import fail, run_job

app = typer.Typer(
    help="The suppression list: addresses never to contact again.", no_args_is_help=True
)


@app.callback()
def suppression() -> None:
    """The suppression list: addresses never to contact again."""


def _reason(reason: str | None) -> str:
    if not reason or not reason.strip():
        fail("Say why with --reason (e.g. --reason 'asked by phone to stop'); it is audited.")
    return reason.strip()


@app.command("import")
def import_file(
    file: Path = typer.Argument(
        ..., help="CSV or Excel file: an email column (or the first column), optionally a reason."
    ),
    reason: str = typer.Option(
        None, "--reason", help="Reason for rows without one (default: unsubscribed)."
    ),
) -> None:
    """Add every address of a file to the suppression list; prints what was added and rejected."""
    if not file.is_file():
        fail(f"{file}: no such file.")
    r = run_job("suppression.import", {"path": str(file.resolve()), "reason": reason})
    typer.echo(
        f"{file.name} ({r['encoding']}): {r['rows_read']:,} rows read, {r['added']:,} added,"
        f" {r['already']:,} already listed, {r['rejected']:,} rejected."
    )
    for row in r["rejected_rows"]:
        typer.echo(f"  row {row['row']}: {row['reason']}", err=True)
    more = r["rejected"] - len(r["rejected_rows"])
    if more > 0:
        typer.echo(f"  … and {more:,} more", err=True)


@app.command("add")
def add(
    emails: list[str] = typer.Argument(..., help="Addresses to suppress."),
    reason: str = typer.Option(None, "--reason", help="Why (required; audited)."),
) -> None:
    """Suppress addresses, with the reason."""
    r = run_job("suppression.add", {"emails": emails, "reason": _reason(reason)})
    typer.echo(f"{r['added']:,} added, {r['already']:,} already listed.")
    for bad in r["invalid"]:
        typer.secho(f"  not an email address, left out: {bad}", fg=typer.colors.YELLOW, err=True)


@app.command("remove")
def remove(
    emails: list[str] = typer.Argument(..., help="Addresses to take off the list."),
    reason: str = typer.Option(None, "--reason", help="Why (required; audited)."),
) -> None:
    """Take addresses off the suppression list, with the reason."""
    r = run_job("suppression.remove", {"emails": emails, "reason": _reason(reason)})
    typer.echo(f"{r['removed']:,} removed.")
    for key in r["not_listed"]:
        typer.echo(f"  not on the list: {key}", err=True)


@app.command("list")
def list_(
    out: Path = typer.Option(None, "--out", help="CSV file to write; default standard output."),
    search: str = typer.Option(None, "--search", help="Only addresses containing this text."),
    reason: str = typer.Option(None, "--reason", help="Only this reason (e.g. bounced)."),
    source: str = typer.Option(None, "--source", help="Only this source (e.g. reply)."),
) -> None:
    """The suppression list as CSV (email, reason, source, added_by, added_at), all of it or
    what matches --search, --reason and --source (then with where each came from)."""
    target = (
        out.resolve()
        if out
        else Path(tempfile.gettempdir()) / f"leadops-suppression-{uuid.uuid4().hex}.csv"
    )
    try:
        filters = {"search": search, "reason": reason, "source": source}
        result = run_job("suppression.list", {"out": str(target), **filters})
        if out:
            typer.echo(f"Wrote {result['rows']:,} addresses to {out}", err=True)
            return
        with target.open(encoding="utf-8") as fh:
            for chunk in iter(lambda: fh.read(1 << 16), ""):
                sys.stdout.write(chunk)
    finally:
        if not out:
            target.unlink(missing_ok=True)


@app.command("counts")
def counts() -> None:
    """How many addresses are listed per reason and source."""
    rows = run_job("suppression.counts", {})["counts"]
    if not rows:
        typer.echo("The suppression list is empty.")
    for r in rows:
        typer.echo(
            f"{r['addresses']:>9,}  {r['reason']} ({r['source']}), newest {r['newest'][:10]}"
        )
