"""The `leadops` command line. Every command that writes runs as a job: in this process when the
database is free, or handed to the running app through the inbox when the app holds it."""

from __future__ import annotations

import datetime as dt
import os
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

import typer

from core.cli.alerts import alerts_app, reports_app
from core.cli.board import board
from core.cli.campaigns import app as campaigns_app
from core.cli.common import fail as _fail
from core.cli.common import open_db as _open_db
from core.cli.common import run_job
from core.cli.common import settings as cli_settings
from core.cli.contacts import app as contacts_app
from core.cli.credentials import app as credentials_app
from core.cli.crm import app as crm_app
from core.cli.filters import app as filters_app
from core.cli.inboxes import app as inboxes_app
from core.cli.leads import app as leads_app
from core.cli.pipeline import import_app, pipeline_app
from core.cli.replies import app as replies_app
from core.cli.serve import serve
from core.cli.setup import settings_app, setup
from core.cli.suppression import app as suppression_app
from core.cli.territories import app as territories_app
from core.cli.webhooks import app as webhooks_app
from core.cli.workspaces import workspaces_edit
from core.platform import inbox, secrets, store

app = typer.Typer(
    help="LeadOps: operations console for a cold-email lead-generation agency.",
    no_args_is_help=True,
)


@app.callback()
def _options(
    timeout: float | None = typer.Option(
        None,
        "--timeout",
        min=1,
        help="When the app runs the job for this command, stop waiting after this many seconds"
        " (exit code 1; the app goes on with it).",
    ),
) -> None:
    """LeadOps: operations console for a cold-email lead-generation agency."""
    cli_settings.wait_timeout = timeout


workspaces_app = typer.Typer(help="Client workspaces.", no_args_is_help=True)
app.command()(serve)
app.add_typer(workspaces_app, name="workspaces")
sync_app = typer.Typer(help="Sync data from external systems.", no_args_is_help=True)
app.add_typer(sync_app, name="sync")
bison_app = typer.Typer(help="Email Bison administration.", no_args_is_help=True)
app.add_typer(bison_app, name="bison")
app.add_typer(webhooks_app, name="webhooks", help="Receive Email Bison webhooks.")

app.add_typer(alerts_app, name="alerts")
app.add_typer(reports_app, name="reports")
app.add_typer(crm_app, name="crm", help="Deliver interested leads to clients' CRMs.")
app.add_typer(replies_app, name="replies")
app.add_typer(credentials_app, name="credentials")

app.add_typer(territories_app, name="territories", help="Client territories (ZIP codes).")

app.add_typer(import_app, name="import")
app.add_typer(pipeline_app, name="pipeline")
app.add_typer(suppression_app, name="suppression")
app.add_typer(contacts_app, name="contacts")
app.add_typer(filters_app, name="filters")
app.add_typer(inboxes_app, name="inboxes")
app.add_typer(campaigns_app, name="campaigns")
app.add_typer(leads_app, name="leads")
app.add_typer(settings_app, name="settings")
app.command("setup")(setup)
app.command("board")(board)
workspaces_app.command("edit")(workspaces_edit)


@app.command()
def migrate() -> None:
    """Apply database migrations (also done automatically on every start)."""
    try:
        db = store.Database(store.db_path_from_env())
    except store.DatabaseBusy as busy:
        if inbox.app_alive(busy.path):
            typer.echo(
                "The LeadOps app has the database open; it applied migrations when it started."
            )
            return
        _fail(str(busy))
    applied = db.migrate()
    typer.echo(
        f"Applied {len(applied)} migration(s): {', '.join(applied)}"
        if applied
        else "Schema is up to date."
    )
    db.close()


@app.command()
def demo(
    scale: str = typer.Option(
        "small",
        help="small (about 60k contacts), full (about 1M contacts, benchmark scale) or 10x"
        " (200 clients, about 10M contacts).",
    ),
    seed: int = typer.Option(
        42, help="Random seed; the same seed and as-of date give the same data."
    ),
    as_of: str = typer.Option(
        None, "--as-of", help="The date the data is 'today' for (YYYY-MM-DD); default today."
    ),
    replace: bool = typer.Option(False, "--replace", help="Wipe existing clients and data first."),
    if_empty: bool = typer.Option(
        False, "--if-empty", help="Do nothing when the database already has clients."
    ),
) -> None:
    """Load the demo dataset."""
    if scale not in ("small", "full", "10x"):
        _fail("--scale must be small, full or 10x.")
    if as_of:
        try:
            dt.date.fromisoformat(as_of)
        except ValueError:
            _fail(f"--as-of {as_of!r} is not a date like 2026-02-15.")
    if if_empty:
        try:
            db = _open_db()
        except store.StoreError:
            db = None
        if db is not None:
            from core.accounts.workspaces import none_yet

            if not none_yet(db):
                typer.echo("The database already has clients; demo not loaded.")
                return
    result = run_job("demo", {"scale": scale, "seed": seed, "as_of": as_of, "replace": replace})
    rows = result.get("rows", {})
    typer.echo(
        f"Demo loaded: {rows.get('workspaces', 0)} clients, {rows.get('contacts', 0):,} contacts, "
        f"{rows.get('bison_replies', 0):,} replies."
    )


@app.command()
def export(
    name: str = typer.Argument(None, help="What to export; see --list."),
    workspace: str = typer.Option(None, "--workspace", help="Only this client (by name)."),
    out: Path = typer.Option(None, "--out", help="File to write; default standard output."),
    list_: bool = typer.Option(False, "--list", help="List the exports and exit."),
) -> None:
    """Export a table as CSV (the same file a page's download button gives)."""
    from core.platform.exports import EXPORTS

    if list_ or not name:
        for e in EXPORTS.values():
            typer.echo(f"{e.name:20} {e.description}")
        return
    if name not in EXPORTS:
        _fail(f"No export named {name!r}. Run `leadops export --list` for the names.")
    target = (
        out.resolve()
        if out
        else Path(tempfile.gettempdir()) / f"leadops-export-{uuid.uuid4().hex}.csv"
    )
    result = run_job("export", {"name": name, "workspace": workspace, "out": str(target)})
    if out:
        typer.echo(f"Wrote {result['rows']:,} rows to {out}", err=True)
    else:
        with target.open(encoding="utf-8") as fh:
            for chunk in iter(lambda: fh.read(1 << 16), ""):
                sys.stdout.write(chunk)
        target.unlink(missing_ok=True)


@app.command()
def status() -> None:
    """Where the database is, its schema version, and whether the app has it open."""
    path = store.db_path_from_env()
    typer.echo(f"Database: {path.resolve()}")
    beat = inbox.app_alive(path)
    typer.echo(f"App: {'running (pid ' + str(beat['pid']) + ')' if beat else 'not running'}")
    typer.echo(f"Secrets: {secrets.describe_backend()}")
    try:
        db = store.Database(path, read_only=True) if path.exists() else None
    except store.DatabaseBusy:
        typer.echo("Schema: (database in use)")
        return
    if db is None:
        typer.echo("Schema: no database yet (it is created on first start)")
        return
    versions = db.applied_migrations()
    typer.echo(f"Schema: {len(versions)} migration(s), latest {max(versions) if versions else '-'}")
    if db.table_exists("workspaces"):
        typer.echo(f"Clients: {db.scalar('SELECT count(*) FROM workspaces')}")
    db.close()


@workspaces_app.command("list")
def workspaces_list() -> None:
    """List client workspaces."""
    from core.accounts import workspaces as ws

    try:
        db = _open_db()
    except store.StoreError as exc:
        _fail(str(exc))
    df = ws.list_workspaces(db)
    for r in df.iter_rows(named=True):
        token = f"…{r['bison_token_last4']}" if r["bison_token_last4"] else "-"
        typer.echo(
            f"{r['id']:>4}  {r['name'][:40]:40}  tier {r['tier']:>3}  target {r['monthly_target']:>4}  "
            f"bison {r['bison_workspace_id'] or '-':>6}  token {token:>6}  {'active' if r['active'] else 'inactive'}"
        )


@workspaces_app.command("add")
def workspaces_add(
    name: str = typer.Argument(..., help="Client name, e.g. 'Jane Doe Insurance Agency'."),
    bison_token: str = typer.Option(
        None,
        "--bison-token",
        help="The client's Email Bison workspace API token.",
        envvar="LEADOPS_NEW_BISON_TOKEN",
        show_envvar=False,
    ),
    bison_workspace_id: int = typer.Option(
        None, "--bison-workspace-id", help="Email Bison workspace (team) id."
    ),
    goal: int = typer.Option(
        None, "--goal", help="Monthly target of interested replies (default: the tier's)."
    ),
    tier: str = typer.Option("100", "--tier", help="Package tier."),
    states: str = typer.Option(
        "", "--states", help="Licensed states, comma-separated (e.g. TX,OK)."
    ),
) -> None:
    """Register a client workspace; the token goes to the secret store, never the database."""
    params: dict[str, Any] = {
        "name": name,
        "bison_workspace_id": bison_workspace_id,
        "goal": goal,
        "tier": tier,
        "states": [s for s in states.split(",") if s.strip()],
    }
    if bison_token:
        pending = f"pending.{uuid.uuid4().hex}"
        try:
            secrets.backend().set_password(secrets.SERVICE, pending, bison_token.strip())
        except secrets.SecretsUnavailable as exc:
            _fail(str(exc))
        params["pending_token"] = pending
    result = run_job("workspace.add", params)
    typer.echo(
        f"Added client {name!r} (id {result['workspace_id']})"
        + (f", Email Bison token {result['bison_token']}" if result.get("bison_token") else "")
    )


@sync_app.command("bison")
def sync_bison(
    workspace: str = typer.Option(None, "--workspace", help="Only this client (by name)."),
    full: bool = typer.Option(False, "--full", help="Re-read everything instead of what changed."),
) -> None:
    """Sync campaigns, sequences, stats, replies, leads, sending accounts and tags from Email Bison."""
    result = run_job("sync.bison", {"workspace": workspace, "full": full}, partial=True)
    for name, r in result.get("workspaces", {}).items():
        counts = ", ".join(f"{k} {v:,}" for k, v in r["counts"].items())
        line = f"{name}: {r['status']} in {r['seconds']} s, {r['requests']} requests ({counts})"
        typer.secho(
            line + (f" — {r['error']}" if r["error"] else ""),
            fg=None if r["status"] == "succeeded" else typer.colors.RED,
        )
    for s in result.get("skipped", []):
        typer.secho(f"skipped {s}", fg=typer.colors.YELLOW)
    if any(r["status"] == "succeeded" for r in result.get("workspaces", {}).values()):
        checked = run_job("alerts.check", {})
        typer.echo(
            f"Guardrails: {checked['opened']} alert(s) opened, {checked['resolved']} resolved, "
            f"{checked['open']} open."
        )
    if result.get("failed"):
        raise typer.Exit(1)


@sync_app.command("stripe")
def sync_stripe(
    full: bool = typer.Option(False, "--full", help="Re-read everything instead of what is new."),
) -> None:
    """Sync customers, prices, subscriptions, invoices, charges, refunds and fees from Stripe."""
    result = run_job("sync.stripe", {"full": full})
    counts = ", ".join(f"{k} {v:,}" for k, v in result.get("counts", {}).items())
    typer.echo(
        f"Stripe: {result.get('status')} in {result.get('seconds')} s, "
        f"{result.get('requests')} requests ({counts})"
    )
    if result.get("unmapped"):
        typer.secho(
            f"{result['unmapped']} Stripe customer(s) belong to no client yet: map them under "
            "Settings → Stripe customers.",
            fg=typer.colors.YELLOW,
        )


@bison_app.command("tokens")
def bison_tokens(
    generate: bool = typer.Option(False, "--generate", help="Mint missing workspace tokens."),
    workspace: str = typer.Option(None, "--workspace", help="Only this client."),
    all_: bool = typer.Option(False, "--all", help="Every active client (the default)."),
    super_admin_token: str = typer.Option(
        None, "--super-admin-token", help="Kept in the secret store for next time."
    ),
) -> None:
    """Mint Email Bison API tokens for clients that have a Bison workspace id but no token."""
    if not generate:
        _fail("Say --generate to mint missing workspace tokens.")
    if workspace and all_:
        _fail("Use --workspace NAME or --all, not both.")
    if super_admin_token:
        try:
            secrets.backend().set_password(
                secrets.SERVICE, "bison.super_admin", super_admin_token.strip()
            )
        except secrets.SecretsUnavailable as exc:
            _fail(str(exc))
    result = run_job("bison.tokens", {"workspace": workspace})
    for line in result.get("minted", []):
        typer.echo(f"minted  {line}")
    for line in result.get("skipped", []):
        typer.echo(f"skipped {line}")


def main() -> None:  # pragma: no cover
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
