"""`leadops inboxes …`: list sending accounts; pause, resume, set the daily limit, toggle warm-up."""

from __future__ import annotations

import typer

from core.cli.common import run_job

app = typer.Typer(
    help="Sending accounts (inboxes): pause, resume, daily limit, warm-up.", no_args_is_help=True
)
ACCOUNTS = typer.Argument(..., help="Account emails or Email Bison ids (one or more).")


def _act(action: str, accounts: list[str], **params: object) -> None:
    r = run_job("inboxes.act", {"action": action, "accounts": accounts, **params})
    for email in r["changed"]:
        typer.echo(f"  {email}")
    typer.echo(r["summary"])
    if r["failed"]:
        raise typer.Exit(1)


@app.command("list")
def inboxes_list(
    workspace: str = typer.Option(None, "--workspace", help="Only this client (by name)."),
    flagged: bool = typer.Option(False, "--flagged", help="Only accounts with a health flag."),
) -> None:
    """Every sending account: client, status (paused included), daily limit, warm-up, health."""
    r = run_job("inboxes.list", {"workspace": workspace})
    rows = [a for a in r["accounts"] if a["flags"] or not flagged]
    typer.echo(
        f"{'id':>8}  {'client':<22} {'email':<40} {'status':<12} {'limit':>5} {'warm-up':<7} flags"
    )
    for a in rows:
        limit = str(a["daily_limit"] if a["daily_limit"] is not None else "–")
        if a["resumes_with"] is not None:
            limit += f" (resumes {a['resumes_with']})"
        warm = {True: "on", False: "off"}.get(a["warmup_enabled"], "–")
        typer.echo(
            f"{a['id']:>8}  {(a['client'] or '')[:22]:<22} {a['email'][:40]:<40} "
            f"{a['status'] or '':<12} {limit:>5} {warm:<7} {a['flags'] or ''}"
        )
    typer.echo(f"{len(rows)} account(s).")


@app.command("pause")
def inboxes_pause(
    accounts: list[str] = ACCOUNTS,
    reason: str = typer.Option(..., "--reason", help="Why (kept in the audit log)."),
) -> None:
    """Stop accounts sending: their daily limit goes to 0 in Email Bison, the old one is kept."""
    _act("pause", accounts, reason=reason)


@app.command("resume")
def inboxes_resume(accounts: list[str] = ACCOUNTS) -> None:
    """Give paused accounts back the daily limit they had."""
    _act("resume", accounts)


@app.command("limit")
def inboxes_limit(
    accounts: list[str] = ACCOUNTS,
    daily: int = typer.Option(..., "--daily", help="Emails a day, 1 to 10,000."),
) -> None:
    """Set the daily limit (a paused account keeps it for when it is resumed)."""
    _act("limit", accounts, daily_limit=daily)


@app.command("warmup")
def inboxes_warmup(
    state: str = typer.Argument(..., help="on or off"),
    accounts: list[str] = ACCOUNTS,
) -> None:
    """Turn warm-up on or off."""
    if state not in ("on", "off"):
        typer.secho(f"Say on or off, not {state!r}.", fg="red", err=True)
        raise typer.Exit(2)
    _act(f"warmup_{state}", accounts)
