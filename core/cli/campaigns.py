"""`leadops campaigns …`: pause, resume (after the preflight) or duplicate a campaign."""

from __future__ import annotations

import typer

from core.cli.common import run_job

app = typer.Typer(help="Email Bison campaigns: pause, resume, duplicate.", no_args_is_help=True)
CAMPAIGN = typer.Argument(..., help="The campaign's Email Bison id or its name.")
WORKSPACE = typer.Option(..., "--workspace", help="Client (by name).")


def _act(action: str, campaign: str, workspace: str) -> None:
    r = run_job("campaigns.act", {"action": action, "campaign": campaign, "workspace": workspace})
    typer.echo(f"{r['name']} (id {r['id']}) is now {r['status']}.")


@app.command("pause")
def pause(campaign: str = CAMPAIGN, workspace: str = WORKSPACE) -> None:
    """Pause a campaign in Email Bison (audited)."""
    _act("pause", campaign, workspace)


@app.command("resume")
def resume(campaign: str = CAMPAIGN, workspace: str = WORKSPACE) -> None:
    """Resume a campaign, after the same preflight as the page: refused if it would sit idle."""
    _act("resume", campaign, workspace)


@app.command("duplicate")
def duplicate(campaign: str = CAMPAIGN, workspace: str = WORKSPACE) -> None:
    """Duplicate a campaign in Email Bison ("Copy of …")."""
    _act("duplicate", campaign, workspace)
