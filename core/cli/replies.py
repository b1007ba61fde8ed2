"""`leadops replies …`: the replies inbox a page at a time, and Mark handled / Reopen."""

from __future__ import annotations

import typer

from core.cli.common import run_job

app = typer.Typer(help="The replies inbox: list, mark handled.", no_args_is_help=True)
WORKSPACE = typer.Option(None, "--workspace", help="Only this client (by name).")


@app.command("list")
def list_replies(
    workspace: str = WORKSPACE,
    today: bool = typer.Option(False, "--today", help="Only replies received today (UTC)."),
    since: str = typer.Option(None, help="Received on or after this day (YYYY-MM-DD)."),
    category: str = typer.Option(None, help="interested, question, not_interested, …"),
    unread: bool = typer.Option(False, "--unread", help="Only unread replies."),
    unhandled: bool = typer.Option(False, "--unhandled", help="Only replies not handled."),
    search: str = typer.Option(None, help="Name, email, subject or text contains."),
    page: int = typer.Option(1, min=1, help="Page number (newest first)."),
    limit: int = typer.Option(100, min=1, max=1000, help="Replies per page."),
) -> None:
    """Replies newest first with their client, category, read and handled state, and the total."""
    import datetime as dt

    params = {
        "workspace": workspace,
        "category": category,
        "unread": unread,
        "unhandled": unhandled,
        "search": search,
        "page": page,
        "limit": limit,
        "since": since,
    }
    if today:
        params["since"] = params["until"] = dt.datetime.now(dt.UTC).date().isoformat()
    r = run_job("replies.list", params)
    c = r["counts"]
    typer.echo(
        f"{c['total']:,} replies ({c['unread']:,} unread, {c['unhandled']:,} not handled); "
        f"page {r['page']:,} of {r['pages']:,}."
    )
    for x in r["replies"]:
        flags = ("" if x["read"] else "unread ") + ("handled" if x["handled"] else "open")
        typer.echo(
            f"{x['received'][:16].replace('T', ' ')}  {x['client']}  #{x['id']}  {x['name']}  "
            f"[{x['category']}] {flags}  {x['preview'][:80]}"
        )


@app.command("handled")
def handled(
    reply_id: int = typer.Argument(..., help="The reply's Email Bison id."),
    workspace: str = typer.Option(..., "--workspace", help="Client (by name)."),
    reopen: bool = typer.Option(False, "--reopen", help="Mark it not handled again."),
) -> None:
    """Mark a reply handled (audited), or reopen it."""
    r = run_job("replies.handled", {"reply_id": reply_id, "workspace": workspace, "reopen": reopen})
    typer.echo(f"Reply {r['reply_id']} is {'handled' if r['handled'] else 'open again'}.")
