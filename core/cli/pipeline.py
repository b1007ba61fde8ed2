"""`leadops import …` and `leadops pipeline …`: contact imports and pipeline runs from the shell."""

from __future__ import annotations

from pathlib import Path

import typer

from core.cli.common import run_job
from core.pipeline.runs import STAGES

import_app = typer.Typer(help="Import contacts.", no_args_is_help=True)
pipeline_app = typer.Typer(
    help="Lead pipeline: filter, verify, batch, upload.", no_args_is_help=True
)


@import_app.command("contacts")
def import_contacts(
    file: Path = typer.Argument(..., help="CSV or Excel (.xlsx) file of contacts."),
    workspace: str = typer.Option(..., "--workspace", help="Client (by name)."),
    month: str = typer.Option(
        None, "--month", help="Renewal month (YYYY-MM) for contacts without a purchase date."
    ),
) -> None:
    """Import a contact file for a client; prints the import report."""
    if not file.exists():
        typer.secho(f"No such file: {file}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)
    r = run_job(
        "contacts.import", {"workspace": workspace, "path": str(file.resolve()), "month": month}
    )
    typer.echo(
        f"Import {r['import_id']}: {r['rows_read']:,} rows read, {r['imported']:,} imported, "
        f"{r['duplicates']:,} duplicates, {r['rejected']:,} rejected in {r['seconds']} s"
        f" (read as {r['encoding']})."
    )
    if r.get("outcome"):
        typer.echo(r["outcome"])
    if r["rejected"] or r["duplicates"]:
        typer.echo("Rejected rows: the Pipeline page's import history has the CSV report.")


def _print_run(result: dict) -> None:
    for stage, out in result.get("stages", {}).items():
        extra = ""
        if stage == "filter" and out.get("removed_by_rule"):
            extra = " (" + ", ".join(f"{k} {v:,}" for k, v in out["removed_by_rule"].items()) + ")"
        if stage == "verify":
            extra = f" ({out.get('mode')} checks, {out.get('credits', 0):,} credits)"
        if stage == "upload" and out.get("held_back"):
            extra = f" ({out['held_back']:,} held back: suppressed since batching)"
        typer.echo(f"{stage:>7}: {out.get('input', 0):,} in → {out.get('output', 0):,} out{extra}")


@pipeline_app.command("run")
def run(
    workspace: str = typer.Option(..., "--workspace", help="Client (by name)."),
    month: str = typer.Option(..., "--month", help="Renewal month, YYYY-MM."),
    from_stage: str = typer.Option(
        "filter", "--from-stage", help="filter, verify, batch or upload."
    ),
) -> None:
    """Run the pipeline for one client and renewal month."""
    if from_stage not in STAGES:
        typer.secho(f"--from-stage must be one of {', '.join(STAGES)}.", fg="red", err=True)
        raise typer.Exit(2)
    result = run_job(
        "pipeline.run", {"workspace": workspace, "month": month, "from_stage": from_stage}
    )
    typer.echo(f"Run {result['run_id']} succeeded.")
    _print_run(result)


@pipeline_app.command("process-all")
def process_all(
    month: str = typer.Option(..., "--month", help="Renewal month, YYYY-MM."),
    upload_only: bool = typer.Option(False, "--upload-only", help="Only upload pending batches."),
) -> None:
    """Run the pipeline for every client with pending work in a month."""
    r = run_job(
        "pipeline.process_all",
        {"month": month, "from_stage": "upload" if upload_only else "filter"},
    )
    for name in r["succeeded"]:
        typer.echo(f"ok       {name}")
    for line in r["skipped"]:
        typer.echo(f"skipped  {line}")
    for line in r["failed"]:
        typer.secho(f"failed   {line}", fg=typer.colors.RED)
    if r["failed"]:
        raise typer.Exit(1)


@pipeline_app.command("evergreen")
def evergreen(
    workspace: str = typer.Option(None, "--workspace", help="Only this client."),
    today: str = typer.Option(None, "--today", help="Run as if today were this date (YYYY-MM-DD)."),
) -> None:
    """Attach the batch whose renewal window starts in 28 days to each evergreen campaign."""
    r = run_job("pipeline.evergreen", {"workspace": workspace, "today": today})
    for key in ("updated", "skipped", "failed"):
        for line in r[key]:
            typer.echo(f"{key:8} {line}")
    if r["failed"]:
        raise typer.Exit(1)


@pipeline_app.command("campaigns")
def campaigns(
    workspace: str = typer.Option(..., "--workspace", help="Client (by name)."),
    upload: str = typer.Option(
        None,
        "--upload",
        help="Campaign the batches are attached to: its id or name ('none' clears).",
    ),
    evergreen: str = typer.Option(
        None, "--evergreen", help="The weekly evergreen campaign: its id or name ('none' clears)."
    ),
) -> None:
    """Choose a client's upload and evergreen campaigns, as the Pipeline page does; without
    --upload or --evergreen, show the choice and the client's synced campaigns."""
    r = run_job(
        "pipeline.campaigns", {"workspace": workspace, "upload": upload, "evergreen": evergreen}
    )

    def shown(c: dict) -> str:
        if c["id"] is None:
            return "(none)"
        return f"{c['name']} (#{c['id']})" if c["name"] else f"#{c['id']} (not synced yet)"

    typer.echo(f"{r['workspace']}{': saved' if r['changed'] else ''}")
    typer.echo(f"  upload:    {shown(r['upload'])}")
    typer.echo(f"  evergreen: {shown(r['evergreen'])}")
    if not r["changed"]:
        if r["known"]:
            typer.echo("Synced campaigns:")
            for c in r["known"]:
                typer.echo(f"  {c['id']:>8}  {c['name']}")
        else:
            typer.echo("No campaigns synced for this client yet (leadops sync bison).")
