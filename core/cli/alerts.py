"""`leadops alerts …` and `leadops reports …`: run the guardrail checks, send client reports."""

from __future__ import annotations

import typer

from core.cli.common import run_job

alerts_app = typer.Typer(help="Guardrail checks and alerts.", no_args_is_help=True)
reports_app = typer.Typer(help="Weekly client reports.", no_args_is_help=True)


@alerts_app.command("check")
def alerts_check(
    no_deliver: bool = typer.Option(
        False, "--no-deliver", help="Update the alerts but send no Slack or e-mail messages."
    ),
) -> None:
    """Run every guardrail check now: open, refresh and resolve alerts, and send the messages."""

    r = run_job("alerts.check", {"no_deliver": no_deliver})
    typer.echo(
        f"{r['findings']} finding(s): {r['opened']} opened, {r['resolved']} resolved, "
        f"{r['open']} open in all; {r['auto_paused']} campaign(s) paused; "
        f"{r['messages_sent']} message(s) sent, {r['messages_failed']} failed; {r['seconds']} s."
    )
    for name, error in (r.get("errors") or {}).items():
        typer.secho(f"check {name} failed: {error}", fg=typer.colors.RED, err=True)
    if r.get("errors"):
        raise typer.Exit(1)


@reports_app.command("send")
def reports_send(
    workspace: str = typer.Option(None, "--workspace", help="Only this client (by name)."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Render every report and say what would be sent; send nothing."
    ),
    force: bool = typer.Option(False, "--force", help="Send again if already sent this week."),
    as_of: str = typer.Option(
        None, "--as-of", help="Report for the week before this date (YYYY-MM-DD); default today."
    ),
) -> None:
    """E-mail each client its weekly report (HTML with the PDF attached) to its contact e-mail."""
    import datetime as dt

    if as_of:
        try:
            dt.date.fromisoformat(as_of)
        except ValueError:
            typer.secho(f"--as-of {as_of!r} is not a date like 2026-11-23.", fg="red", err=True)
            raise typer.Exit(1) from None
    r = run_job(
        "reports.send",
        {"workspace": workspace, "dry_run": dry_run, "force": force, "as_of": as_of},
    )
    failed = False
    for rep in r["reports"]:
        failed |= rep["status"] == "failed"
        typer.echo(
            f"{rep['client']}: {rep['status']}"
            + (f" to {rep['to']}" if rep.get("to") else "")
            + (f" — {rep['detail']}" if rep.get("detail") else "")
        )
    if failed:
        raise typer.Exit(1)
