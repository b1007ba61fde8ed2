"""`leadops crm …`: configure a client's CRM and deliver pending interested leads (for cron)."""

from __future__ import annotations

import uuid

import typer

from core.cli.common import run_job
from core.platform import secrets

app = typer.Typer(help="Deliver interested leads to clients' CRMs.", no_args_is_help=True)


@app.callback()
def crm() -> None:
    """Deliver interested leads to clients' CRMs."""


def _pending(value: str | None) -> str | None:
    if not value or not value.strip():
        return None
    name = f"pending.{uuid.uuid4().hex}"
    try:
        secrets.backend().set_password(secrets.SERVICE, name, value.strip())
    except secrets.SecretsUnavailable as exc:
        typer.secho(str(exc), fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None
    return name


@app.command("set")
def set_crm(
    workspace: str = typer.Argument(..., help="The client's name."),
    crm_type: str = typer.Option(..., "--type", help="hubspot, gohighlevel or webhook."),
    url: str = typer.Option(None, help="Webhook URL (or an API base URL override)."),
    token: str = typer.Option(
        None,
        envvar="LEADOPS_CRM_TOKEN",
        show_default=False,
        help="HubSpot/GoHighLevel access token (prefer the environment variable).",
    ),
    secret: str = typer.Option(
        None,
        envvar="LEADOPS_CRM_SECRET",
        show_default=False,
        help="Webhook signing secret; one is generated and shown once when the webhook has none"
        " for this URL.",
    ),
    location_id: str = typer.Option(None, "--location-id", help="GoHighLevel location id."),
    deal: bool = typer.Option(False, "--deal/--no-deal", help="HubSpot: also create a deal."),
    deal_stage: str = typer.Option(None, "--deal-stage", help="HubSpot deal stage id."),
    test: bool = typer.Option(True, "--test/--no-test", help="Test the connection afterwards."),
) -> None:
    """Configure (or change) a client's CRM. Tokens and secrets go to the keyring."""

    if crm_type not in ("hubspot", "gohighlevel", "webhook"):
        typer.secho(
            "--type must be hubspot, gohighlevel or webhook.", fg=typer.colors.RED, err=True
        )
        raise typer.Exit(2)
    # A webhook without --secret may need a new signing secret. It is made here and handed over
    # in the keyring like the others, so the job's params, result and status file never hold
    # it; the job says whether it was used, and only then is it printed (once).
    generated = secrets.generate("whsec_") if crm_type == "webhook" and not secret else None
    result = run_job(
        "crm.set",
        {
            "workspace": workspace,
            "crm_type": crm_type,
            "url": url,
            "location_id": location_id,
            "create_deal": deal,
            "deal_stage": deal_stage,
            "pending_token": _pending(token),
            "pending_secret": _pending(secret),
            "pending_generated_secret": _pending(generated),
            "test": test,
        },
    )
    typer.echo(f"{workspace}: CRM set to {crm_type}.")
    if generated and result.get("secret_generated"):
        typer.echo(f"Webhook signing secret (shown once, store it now): {generated}")
    if result.get("test_ok") is not None:
        status = "ok" if result["test_ok"] else "FAILED"
        typer.echo(f"Connection test {status}: {result['test_message']}")
        if not result["test_ok"]:
            raise typer.Exit(1)


@app.command()
def deliver(
    workspace: str = typer.Option(None, "--workspace", help="Only this client (by name)."),
) -> None:
    """Take in webhook events, queue newly interested leads, deliver what is due; print counts."""

    r = run_job("crm.deliver", {"workspace": workspace}, partial=True)
    typer.echo(
        f"New leads {r['new_leads']}, queued {r['queued']}: delivered {r['delivered']},"
        f" retrying later {r['retrying']}, failed {r['failed']}."
    )
    if r["failed"] or r.get("partial"):
        raise typer.Exit(1)
