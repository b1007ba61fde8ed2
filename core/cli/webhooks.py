"""`leadops webhooks …`: run the Email Bison webhook receiver.

The receiver stores events as files in the database's inbox (``<db>.inbox/webhooks/``) and never
opens the database, so it runs beside the app; the app ingests the files on its next sync. Bound
to anything but a loopback address it needs a secret, or it refuses to start (exit code 1).
"""

from __future__ import annotations

import typer

from core.bison.receiver_guard import ExposedWithoutSecret, check_exposure, is_loopback
from core.platform import inbox
from core.platform.store import db_path_from_env

app = typer.Typer(help="Receive Email Bison webhooks.", no_args_is_help=True)


@app.callback()
def webhooks() -> None:
    """Receive Email Bison webhooks."""


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to bind (0.0.0.0 for every interface)."),
    port: int = typer.Option(8787, help="Port to listen on."),
    secret: str | None = typer.Option(
        None,
        envvar="LEADOPS_WEBHOOK_SECRET",
        show_default=False,
        help="Shared secret Email Bison must send in the URL: /webhooks/bison/<secret> or"
        " ?secret=<secret>. Prefer the environment variable, which stays out of the shell"
        " history and the process list.",
    ),
) -> None:
    """Accept Email Bison webhooks and keep each event as a file until the app ingests it."""
    from core.bison import receiver as webhooks

    try:
        check_exposure(host, secret)
    except ExposedWithoutSecret as exc:
        typer.secho(str(exc), fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None
    db_path = db_path_from_env()
    folder = inbox.inbox_dir(db_path)
    path = "/webhooks/bison/<secret>" if secret else "/webhooks/bison"
    typer.echo(f"Email Bison webhooks: POST http://{host}:{port}{path}", err=True)
    typer.echo(f"Events are kept in {webhooks.webhooks_dir(folder)} for {db_path}.", err=True)
    if not secret:
        typer.secho(
            "No secret set (LEADOPS_WEBHOOK_SECRET or --secret): anything that reaches this"
            " address, a reverse proxy in front of it included, can post events. Bound to"
            " another address the receiver would refuse to start.",
            fg=typer.colors.YELLOW,
            err=True,
        )
    if not is_loopback(host):
        typer.echo("Put HTTPS in front of it (a reverse proxy) before exposing it.", err=True)
    webhooks.serve(host=host, port=port, inbox_dir=folder, secret=secret)


if __name__ == "__main__":
    app()
