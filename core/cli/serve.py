"""`leadops serve`: the LeadOps server. The runtime (scheduler and inbox) starts first, then the
web app in the same process. The only module of core that touches Streamlit: it launches it."""

from __future__ import annotations

from pathlib import Path

import typer

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
    script = Path(__file__).resolve().parents[2] / "streamlit_app.py"
    flags = {"server.address": host, "server.port": port, "server.headless": True}
    bootstrap.load_config_options(flag_options=flags)
    bootstrap.run(str(script), False, [], flags)
