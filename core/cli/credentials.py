"""`leadops credentials …`: the credentials vault of Settings → Credentials, from a shell.

A value is never a command-line argument (it would land in the shell history and the process
list): it comes from `LEADOPS_CREDENTIAL_VALUE`, else standard input (piped, or typed without
echo at a terminal). It travels to the job through the secret store under a one-off pending
name, so the job's parameters, result and the inbox's files never hold it.
"""

from __future__ import annotations

import os
import sys

import typer

from core.accounts.credentials import KINDS, CredentialError, check_input
from core.cli.common import fail, run_job
from core.platform import secrets

ENV_VALUE = "LEADOPS_CREDENTIAL_VALUE"

app = typer.Typer(
    help="Credentials: API keys and passwords kept in the secret store.", no_args_is_help=True
)


def _value() -> str:
    value = os.environ.get(ENV_VALUE)
    if value is None:
        if sys.stdin.isatty():
            value = typer.prompt("Value (not shown)", hide_input=True)
        else:
            value = sys.stdin.read()
    value = value.strip()
    if not value:
        fail(f"No value: pipe it on standard input or set {ENV_VALUE}.")
    return value


def _print_test(ok: bool | None, message: str) -> None:
    label = {True: "ok", False: "FAILED", None: "not tested"}[ok]
    typer.secho(
        f"Test {label}: {message}",
        fg={True: None, False: typer.colors.RED, None: typer.colors.YELLOW}[ok],
    )


@app.command("list")
def list_credentials() -> None:
    """Every stored credential: name, kind, label, last 4 characters and the last test."""
    rows = run_job("credentials.list", {}).get("credentials", [])
    if not rows:
        typer.echo("No credentials stored.")
    for r in rows:
        test = (
            "never tested"
            if not r["last_tested_at"]
            else f"{ {True: 'ok', False: 'failed', None: 'not tested'}[r['last_test_ok']] } "
            f"{r['last_tested_at']}"
        )
        typer.echo(
            f"{r['name'][:32]:32}  {r['kind']:18}  {r['value']:>8}  {test}"
            + (f"  ({r['label']})" if r.get("label") else "")
        )


@app.command("set")
def set_credential(
    name: str = typer.Argument(..., help="Its name, e.g. debounce.main or source.tx-1."),
    kind: str = typer.Option(..., "--kind", help=f"One of: {', '.join(KINDS)}."),
    label: str = typer.Option(None, "--label", help="A label to show (optional)."),
    username: str = typer.Option(None, "--username", help="A user name to show (optional)."),
    states: str = typer.Option(
        "", "--states", help="States a lead-list source account covers, e.g. TX,OK."
    ),
    test: bool = typer.Option(False, "--test/--no-test", help="Test it once saved."),
) -> None:
    """Add or replace a credential. The value comes from standard input or
    LEADOPS_CREDENTIAL_VALUE, never from an argument."""
    if kind not in KINDS:
        fail(f"--kind must be one of {', '.join(KINDS)}.", code=2)
    value = _value()
    state_list = [s.strip().upper() for s in states.split(",") if s.strip()]
    try:  # checked here too, so a refused value is never put in the secret store
        check_input(name, kind, value, state_list)
    except CredentialError as exc:
        fail(str(exc), code=2)
    try:
        pending = secrets.put_pending(value)
    except secrets.SecretsUnavailable as exc:
        fail(str(exc))
    result = run_job(
        "credentials.set",
        {
            "name": name,
            "kind": kind,
            "label": label,
            "username": username,
            "states": state_list,
            "pending_value": pending,
            "test": test,
        },
    )
    typer.echo(f"Saved {result['name']} ({kind}): {result['value']}")
    if "test_ok" in result:
        _print_test(result["test_ok"], result["test_message"])
        if result["test_ok"] is False:
            raise typer.Exit(1)


@app.command("test")
def test_credential(name: str = typer.Argument(..., help="The credential's name.")) -> None:
    """Call the service with the credential and record the outcome (exit code 1 when it fails)."""
    result = run_job("credentials.test", {"name": name.strip().lower()})
    _print_test(result["test_ok"], result["test_message"])
    if result["test_ok"] is False:
        raise typer.Exit(1)
