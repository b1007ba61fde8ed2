"""`leadops workspaces edit`: change a client from the shell, through the same core code as
Settings → Clients (core/accounts/workspaces.py: update), as a job here or in the running app."""

from __future__ import annotations

from typing import Any

import typer

from core.cli.common import fail, run_job


def _cents(dollars: float | None, option: str) -> int | None:
    if dollars is None:
        return None
    if dollars < 0:
        fail(f"{option} cannot be negative.")
    return int(round(dollars * 100))


def workspaces_edit(
    workspace: str = typer.Argument(..., help="The client's current name."),
    name: str = typer.Option(None, "--name", help="New name."),
    email: str = typer.Option(None, "--email", help="Contact e-mail (weekly reports go there)."),
    goal: int = typer.Option(None, "--goal", help="Monthly target of interested replies."),
    tier: str = typer.Option(None, "--tier", help="Package tier, e.g. 100 or 200."),
    states: str = typer.Option(None, "--states", help="Licensed states, comma-separated (TX,OK)."),
    bison_workspace_id: int = typer.Option(
        None, "--bison-workspace-id", help="Email Bison workspace (team) id."
    ),
    billing: str = typer.Option(None, "--billing", help="per_lead or retainer."),
    price_per_lead: float = typer.Option(None, "--price-per-lead", help="Dollars per lead."),
    retainer: float = typer.Option(None, "--retainer", help="Monthly retainer in dollars."),
    home_value_cap: int = typer.Option(None, "--home-value-cap", help="Dollars."),
    high_net_worth: bool = typer.Option(
        None,
        "--high-net-worth/--not-high-net-worth",
        help="Receives contacts above other clients' caps.",
        show_default=False,
    ),
    timezone: str = typer.Option(None, "--timezone", help="e.g. America/Chicago."),
    active: bool = typer.Option(
        None, "--active/--inactive", help="Reactivate or deactivate.", show_default=False
    ),
) -> None:
    """Change a client: only the options given change (checked and audited, as on the page)."""
    params: dict[str, Any] = {
        "workspace": workspace,
        "name": name,
        "email": email,
        "goal": goal,
        "tier": tier,
        "states": None if states is None else [s for s in states.split(",") if s.strip()],
        "bison_workspace_id": bison_workspace_id,
        "billing": billing,
        "price_per_lead_cents": _cents(price_per_lead, "--price-per-lead"),
        "retainer_cents": _cents(retainer, "--retainer"),
        "home_value_cap": home_value_cap,
        "high_net_worth": high_net_worth,
        "timezone": timezone,
        "active": active,
    }
    if all(v is None for k, v in params.items() if k != "workspace"):
        fail("Nothing to change: give at least one option (see --help).")
    r = run_job("workspace.edit", params)
    if not r["changed"]:
        typer.echo(f"{r['name']}: nothing changed.")
        return
    typer.echo(f"Saved {r['name']}:")
    for field, c in r["changed"].items():
        typer.echo(f"  {field}: {c['before']} → {c['after']}")
