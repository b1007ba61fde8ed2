"""`leadops territories …`: import assignment files and export assignments."""

from __future__ import annotations

import sys
import tempfile
import uuid
from pathlib import Path

import typer

from core.cli.common import fail as _fail
from core.cli.common import run_job

app = typer.Typer(help="Client territories (ZIP code assignments).", no_args_is_help=True)


@app.callback()
def territories() -> None:
    """Client territories (ZIP code assignments)."""


@app.command("import")
def import_file(
    file: Path = typer.Argument(
        ..., help="CSV of zip,client rows, or a master list (one column per client)."
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Check the file and report; change nothing."
    ),
    take_conflicts: bool = typer.Option(
        False, "--take-conflicts", help="Move ZIPs another client owns to the client in the file."
    ),
    report: Path = typer.Option(
        None, "--report", help="Write the rejected rows and why to this CSV."
    ),
) -> None:
    """Assign ZIP codes to clients from a file, as one change set (undo it on the Territories page)."""

    if not file.is_file():
        _fail(f"{file}: no such file.")
    result = run_job(
        "territories.import",
        {
            "path": str(file.resolve()),
            "dry_run": dry_run,
            "take_conflicts": take_conflicts,
            "report": str(report.resolve()) if report else None,
        },
    )
    c = result["counts"]
    typer.echo(
        f"{file.name} ({result['layout']}, {result.get('encoding', 'utf-8')}): {c['new']:,} new,"
        f" {c['already']:,} already owned, "
        f"{c['conflict']:,} owned by another client, {c['rejected']:,} rejected."
    )
    for note in result.get("notes", []):
        typer.secho(note, fg=typer.colors.YELLOW)
    for r in result.get("rejected", [])[:20]:
        typer.echo(f"  not applied: {r['reason']}", err=True)
    more = result.get("rejected_total", 0) - 20
    if more > 0:
        typer.echo(f"  … and {more:,} more" + ("" if report else " (use --report FILE)"), err=True)
    if dry_run:
        typer.echo("Dry run: nothing changed.")
    elif result.get("change_id"):
        typer.echo(
            f"Applied change #{result['change_id']}: {result['added']:,} assigned"
            + (f", {result['removed']:,} taken from other clients" if result["removed"] else "")
            + "."
        )
    else:
        typer.echo("Nothing to change.")


@app.command("export")
def export(
    workspace: str = typer.Option(None, "--workspace", help="Only this client (by name)."),
    fmt: str = typer.Option("csv", "--format", help="csv or json."),
    out: Path = typer.Option(None, "--out", help="File to write; default standard output."),
) -> None:
    """Export ZIP assignments (zip, client, city, county, state, assigned_at, assigned_by)."""

    if fmt not in ("csv", "json"):
        _fail(f"--format {fmt!r}: use csv or json.")
    target = (
        out.resolve()
        if out
        else Path(tempfile.gettempdir()) / f"leadops-territories-{uuid.uuid4().hex}.{fmt}"
    )
    result = run_job(
        "territories.export", {"workspace": workspace, "format": fmt, "out": str(target)}
    )
    if out:
        typer.echo(f"Wrote {result['rows']:,} assignments to {out}", err=True)
    else:
        with target.open(encoding="utf-8") as fh:
            for chunk in iter(lambda: fh.read(1 << 16), ""):
                sys.stdout.write(chunk)
        target.unlink(missing_ok=True)
