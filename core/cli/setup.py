"""`leadops setup` (the setup checklist) and `leadops settings …` (the settings registry), through
the same core code as Settings → Setup and Settings → General. Each runs as a job, here or
handed to the running app."""

from __future__ import annotations

import json
from typing import Any

import typer

from core.cli.common import fail, run_job

settings_app = typer.Typer(
    help="Settings (Settings → General and → Connections).", no_args_is_help=True
)
MARK = {"done": "done", "missing": "MISSING", "failing": "FAILING"}
COLOUR = {"done": typer.colors.GREEN, "missing": typer.colors.YELLOW, "failing": typer.colors.RED}


def _print_item(item: dict[str, Any]) -> None:
    typer.secho(f"  [{MARK[item['status']]:^7}] ", fg=COLOUR[item["status"]], nl=False)
    typer.echo(f"{item['label']}: {item['reason']}")
    if item["status"] != "done":
        fix = f"fix: {item['where']}" + (f"  ·  {item['command']}" if item.get("command") else "")
        typer.echo(f"            {fix}")


def setup(
    test: bool = typer.Option(
        False, "--test", help="Test every configured connection and client token first."
    ),
    workspace: str = typer.Option(
        None,
        "--workspace",
        help="Only this client's lines (not the agency's); the exit code is theirs.",
    ),
) -> None:
    """Print the setup checklist, the agency's lines then each client's; exit code 1 while
    something is missing or failing.

    Each line is done, MISSING or FAILING with the reason, and where (and how) it is fixed.
    With --workspace, only that client's lines: exit code 0 once the client is set up."""
    r = run_job("setup.check", {"test": test})
    for name, (ok, message) in r.get("tested", {}).items():
        state = "ok" if ok else ("not tested" if ok is None else "FAILED")
        typer.echo(f"tested {name}: {state} — {message}")
    clients = r["clients"]
    agency = [] if workspace else r["agency"]
    if workspace:
        wanted = {
            n: v for n, v in clients.items() if n.strip().lower() == workspace.strip().lower()
        }
        if not wanted:
            fail(f"No active client named {workspace!r}.")
        clients = wanted
    else:
        typer.echo("Agency")
        for item in agency:
            _print_item(item)
        if not clients:
            typer.echo("No clients yet: add the first with `leadops workspaces add NAME`.")
    for name, items in clients.items():
        typer.echo(name)
        for item in items:
            _print_item(item)
    shown = list(agency) + [i for items in clients.values() for i in items]
    counts = {s: sum(1 for i in shown if i["status"] == s) for s in MARK}
    typer.echo(f"{counts['done']} done, {counts['missing']} missing, {counts['failing']} failing.")
    if counts["missing"] or counts["failing"]:
        raise typer.Exit(1)


def _value(v: Any) -> str:
    return json.dumps(v) if isinstance(v, bool) or v is None or v == "" else str(v)


def _print_setting(s: dict[str, Any], *, verbose: bool) -> None:
    default = "" if s["value"] == s["default"] else f"   (default {_value(s['default'])})"
    typer.echo(f"{s['name']} = {_value(s['value'])}{default}")
    if s.get("override"):
        o = s["override"]
        typer.secho(
            f"    overridden by {o['variable']} = {o['value']} (in force while it is set)",
            fg=typer.colors.YELLOW,
        )
    if verbose:
        typer.echo(f"    {s['type']}: {s['help']}")
        if s.get("choices"):
            typer.echo(f"    one of: {', '.join(s['choices'])}")


@settings_app.command("list")
def settings_list() -> None:
    """Every setting with its value (and its default when changed)."""
    for s in run_job("settings.show", {})["settings"]:
        _print_setting(s, verbose=False)


@settings_app.command("get")
def settings_get(name: str = typer.Argument(..., help="The setting, e.g. bison_url.")) -> None:
    """One setting: value, default, type and what it means."""
    for s in run_job("settings.show", {"name": name})["settings"]:
        _print_setting(s, verbose=True)


@settings_app.command("set")
def settings_set(
    name: str = typer.Argument(..., help="The setting, e.g. smtp_host."),
    value: str = typer.Argument(..., help="Its new value ('' to empty a text setting)."),
) -> None:
    """Change a setting (checked as the Settings page checks it; audited)."""
    s = run_job("settings.set", {"name": name, "value": value})
    if s["before"] == s["value"]:
        typer.echo(f"{name} is already {_value(s['value'])}.")
    else:
        typer.echo(f"{name}: {_value(s['before'])} → {_value(s['value'])}")
    if s.get("override"):
        o = s["override"]
        typer.secho(
            f"Note: {o['variable']} is set ({o['value']}) and overrides this setting.",
            fg=typer.colors.YELLOW,
        )
