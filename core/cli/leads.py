"""`leadops leads …`: Email Bison leads: find, remove from a campaign, attach or remove tags."""

from __future__ import annotations

import typer

from core.cli.common import run_job

app = typer.Typer(help="Email Bison leads (the synced ones).", no_args_is_help=True)
LEAD = typer.Argument(..., help="The lead's email or Email Bison id.")


def _done(r: dict) -> None:
    typer.echo(f"{r['email']}: campaigns {r['campaigns'] or 'none'}, tags {r['tags'] or 'none'}.")


@app.command("find")
def find(text: str = typer.Argument(..., help="Part of an email, name or company.")) -> None:
    """Synced leads matching the text (at most 100, newest first)."""
    rows = run_job("bison_leads.find", {"text": text})["leads"]
    for r in rows:
        typer.echo(
            f"{r['id']:>10}  {r['client'][:24]:<24} {r['email']:<40} {r['campaign_status'] or ''}"
        )
    typer.echo(f"{len(rows)} lead(s).")


@app.command("remove")
def remove(
    lead: str = LEAD,
    campaign: str = typer.Option(..., "--campaign", help="The campaign's id or name."),
) -> None:
    """Remove the lead from a campaign in Email Bison (audited)."""
    _done(
        run_job(
            "bison_leads.act",
            {"action": "remove_from_campaign", "lead": lead, "campaign": campaign},
        )
    )


@app.command("tag")
def tag(lead: str = LEAD, tags: list[str] = typer.Argument(..., help="Tag ids or names.")) -> None:
    """Attach tags to the lead in Email Bison (audited)."""
    _done(run_job("bison_leads.act", {"action": "attach_tags", "lead": lead, "tags": tags}))


@app.command("untag")
def untag(
    lead: str = LEAD, tags: list[str] = typer.Argument(..., help="Tag ids or names.")
) -> None:
    """Remove tags from the lead in Email Bison (audited)."""
    _done(run_job("bison_leads.act", {"action": "remove_tags", "lead": lead, "tags": tags}))
