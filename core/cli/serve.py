"""`leadops serve`: the LeadOps server. The runtime (scheduler and inbox) starts first, then (on a
demo database without an Email Bison address) the demo sandbox, then the web app in the same
process. The only module of core that touches Streamlit: it launches it."""

from __future__ import annotations

from pathlib import Path

import typer

from core import catalog
from core.cli.common import fail as _fail
from core.platform import store


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8501, "--port", help="Port to listen on."),
) -> None:
    """Run the LeadOps server: the runtime (scheduler and inbox) starts at once, then the web app.

    This is what `make run` and a service manager start (docs/leadops.service): syncs, alert
    checks, CRM retries and the Monday evergreen step run whether or not anyone has a page open.
    """
    from streamlit.web import bootstrap

    from core.app import start_app_runtime

    try:
        db = start_app_runtime()
    except store.DatabaseBusy as busy:
        _fail(f"{busy} Stop the other process first; only one LeadOps server can run per database.")
    except store.StoreError as exc:
        _fail(str(exc))
    typer.echo(f"LeadOps runtime started on {db.path} (scheduler and inbox running).", err=True)
    try:
        sandbox = catalog.start_demo_sandbox(db, lambda message: typer.echo(message, err=True))
    except Exception as exc:  # the app runs without it; Email Bison is then unconfigured
        sandbox = None
        typer.echo(f"The demo sandbox did not start: {type(exc).__name__}: {exc}", err=True)
    if sandbox:
        typer.echo(
            f"Demo sandbox: Email Bison here is a local simulation at {sandbox} (the demo's data; "
            "configure a real Email Bison address to use that instead).",
            err=True,
        )
    script = Path(__file__).resolve().parents[2] / "streamlit_app.py"
    # A server never reloads code under running sessions (the file watcher would drop modules
    # from sys.modules while other sessions import them): restart it to deploy a change.
    flags = {
        "server.address": host,
        "server.port": port,
        "server.headless": True,
        "server.fileWatcherType": "none",
        "server.runOnSave": False,
    }
    bootstrap.load_config_options(flag_options=flags)
    bootstrap.run(str(script), False, [], flags)
