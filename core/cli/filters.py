"""`leadops filters …`: the pipeline's filter rules from the shell, through the same core code as
the Pipeline page's Rules tab (core/pipeline/filters.py). Every command runs as a job, here or
handed to the running app."""

from __future__ import annotations

from typing import Any

import typer

from core.cli.common import run_job

app = typer.Typer(
    help="Filter rules: which contacts the pipeline's filter stage removes.", no_args_is_help=True
)


def _print_rules(rules: list[dict[str, Any]]) -> None:
    if not rules:
        typer.echo("No filter rules.")
        return
    for r in rules:
        value = f" {r['value']}" if r["value"] not in (None, "") else ""
        state = "on " if r["enabled"] else "off"
        typer.echo(
            f"{r['id']:>4}  {state}  {r['name'][:32]:32}  {r['field']} {r['operator']}{value}"
            f"  [{r['applies_to']}, position {r['position']}]"
        )


@app.command("list")
def list_rules() -> None:
    """Every rule: id, on/off, name (the reject reason), condition, client and position."""
    _print_rules(run_job("filters.list", {})["rules"])


@app.command("add")
def add(
    name: str = typer.Argument(..., help="The rule's name: the reject reason contacts show."),
    field: str = typer.Option(..., "--field", help="email, email_domain, state, zip, home_value…"),
    operator: str = typer.Option(
        ..., "--operator", help="equals, not_equals, in, not_in, gt, lt, contains, ends_with…"
    ),
    value: str = typer.Option(None, "--value", help="The value, for operators that take one."),
    workspace: str = typer.Option(
        None, "--workspace", help="Only for this client (default: all clients)."
    ),
    position: int = typer.Option(100, "--position", help="Rules apply in this order."),
    disabled: bool = typer.Option(False, "--disabled", help="Add it switched off."),
) -> None:
    """Add a rule (checked by building its condition; audited)."""
    r = run_job(
        "filters.add",
        {
            "name": name,
            "field": field,
            "operator": operator,
            "value": value,
            "workspace": workspace,
            "position": position,
            "enabled": not disabled,
        },
    )
    typer.echo(f"Added rule {r['id']}.")


def _switch(rule: str, enabled: bool) -> None:
    r = run_job("filters.enable", {"rule": rule, "enabled": enabled})
    word = "on" if enabled else "off"
    typer.echo(f"Rule {r['id']} is {'now' if r['changed'] else 'already'} {word}.")


@app.command("enable")
def enable(rule: str = typer.Argument(..., help="The rule's id or name.")) -> None:
    """Switch a rule on."""
    _switch(rule, True)


@app.command("disable")
def disable(rule: str = typer.Argument(..., help="The rule's id or name.")) -> None:
    """Switch a rule off."""
    _switch(rule, False)


@app.command("edit")
def edit(
    rule: str = typer.Argument(..., help="The rule's id or name."),
    name: str = typer.Option(None, "--name", help="A new name (the reject reason)."),
    field: str = typer.Option(None, "--field", help="A new field."),
    operator: str = typer.Option(None, "--operator", help="A new operator."),
    value: str = typer.Option(None, "--value", help="A new value."),
    workspace: str = typer.Option(
        None, "--workspace", help="Only for this client, or 'all' for every client."
    ),
    position: int = typer.Option(None, "--position", help="A new place in the order."),
) -> None:
    """Change a rule: only the parts given change (checked and audited)."""
    r = run_job(
        "filters.edit",
        {
            "rule": rule,
            "name": name,
            "field": field,
            "operator": operator,
            "value": value,
            "workspace": workspace,
            "position": position,
        },
    )
    x = r["rule"]
    value_text = f" {x['value']}" if x["value"] not in (None, "") else ""
    typer.echo(f"Rule {r['id']} is now: {x['name']} ({x['field']} {x['operator']}{value_text}).")


@app.command("remove")
def remove(rule: str = typer.Argument(..., help="The rule's id or name.")) -> None:
    """Delete a rule (audited)."""
    r = run_job("filters.remove", {"rule": rule})
    typer.echo(f"Removed rule {r['id']} ({r['name']}).")
