"""`leadops board`: the month board (every client's pipeline for a renewal month), and Fill the
gap with its pull plan shown first."""

from __future__ import annotations

import datetime as dt

import typer

from core.cli.common import fail, run_job
from core.platform.renewals import add_months, month_start


def _default_month() -> str:
    return f"{add_months(month_start(dt.date.today()), 2):%Y-%m}"


def _print_plan(p: dict, client: str, month: str) -> None:
    typer.echo(
        f"Fill the gap for {client}, {month}: pull {p['want']:,} from the master database "
        f"({p['available']:,} available in {p['zips']} ZIPs), "
        f"{p['query_count']} source queries of at most {p['row_limit']:,} rows:"
    )
    for q in p["queries"]:
        typer.echo(f"  {q['contacts']:>7,} contacts in {q['queries']} query(ies): {q['zips']}")
    if p["short_by"]:
        typer.echo(f"The territory is {p['short_by']:,} contacts short of the recommended pull.")


def board(
    month: str = typer.Option(
        None, "--month", help="Renewal month, YYYY-MM (default: in 2 months)."
    ),
    plan: str = typer.Option(
        None, "--plan", help="Show what Fill the gap would pull for this client."
    ),
    fill: str = typer.Option(
        None, "--fill", help="Fill the gap for this client: show the plan, pull, run the pipeline."
    ),
    yes: bool = typer.Option(False, "--yes", help="With --fill: go ahead without asking."),
    today: str = typer.Option(None, "--today", help="Day the board is read on (YYYY-MM-DD)."),
) -> None:
    """The month board: per client the need, imported/pulled, filtered, verified, the four
    renewal batches with their upload state, this Monday's evergreen, the gap and the
    recommended pull; worst first."""
    month = month or _default_month()
    client = fill or plan
    if client:
        p = run_job("pipeline.pull_plan", {"workspace": client, "month": month})
        _print_plan(p, client, month)
        if not fill:
            return
        if not p["want"]:
            typer.echo("No gap to fill.")
            return
        if not yes and not typer.confirm("Pull and run the pipeline?", default=False):
            fail("Nothing pulled.")
        r = run_job("pipeline.fill_gap", {"workspace": fill, "month": month})
        typer.echo(f"Pulled {r.get('pulled', 0):,}, imported {r.get('imported', 0):,}; run done.")
        return
    r = run_job("pipeline.board", {"month": month, "today": today})
    m = dt.date.fromisoformat(r["month"])
    typer.echo(f"Month board, renewals of {m:%B %Y} (worst first)")
    head = (
        f"{'client':<24} {'need':>6} {'import':>7} {'pulled':>7} {'filter':>7} {'verif':>6} "
        f"{'1–7':<20} {'8–14':<20} {'15–21':<20} {'22–end':<20} {'gap':>6} {'pull':>6}  next"
    )
    typer.echo(head)
    for row in r["rows"]:
        typer.echo(
            f"{row['client'][:24]:<24} {row['needed']:>6,} {row['imported']:>7,} "
            f"{row['pulled']:>7,} {row['filtered']:>7,} {row['verified']:>6,} "
            f"{row['w1'][:20]:<20} {row['w2'][:20]:<20} {row['w3'][:20]:<20} {row['w4'][:20]:<20} "
            f"{row['gap']:>6,} {row['recommended_pull']:>6,}  {row['next_step']}"
        )
        typer.echo(f"{'':<24} evergreen this Monday: {row['evergreen']}")
    typer.echo(f"{len(r['rows'])} client(s).")
