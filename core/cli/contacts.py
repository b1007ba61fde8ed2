"""`leadops contacts …`: the Contacts page from the shell — find, show, edit, move, delete and
deletion requests — through the same core code (core/contacts/), each run as a job here or handed
to the running app."""

from __future__ import annotations

import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

import typer

from core.cli.common import fail, run_job

app = typer.Typer(help="Find any contact, read its story, fix or delete it.", no_args_is_help=True)

SHOWN = ("id", "client", "email", "first_name", "last_name", "zip", "status", "renewal_month")


@app.callback()
def contacts() -> None:
    """Find any contact across clients, read its story, fix or delete it."""


@app.command("find")
def find(
    email: str = typer.Option(None, "--email", help="Part of the address."),
    name: str = typer.Option(None, "--name", help="Part of the first or last name."),
    phone: str = typer.Option(None, "--phone", help="Digits of the phone number."),
    zip_code: str = typer.Option(None, "--zip", help="A ZIP, or its first digits."),
    workspace: str = typer.Option(None, "--workspace", help="One client (by name)."),
    status: str = typer.Option(None, "--status", help="raw, filtered, rejected, verified, …"),
    month: str = typer.Option(None, "--month", help="Renewal month, YYYY-MM."),
    batch: int = typer.Option(None, "--batch", help="Batch number."),
    page: int = typer.Option(1, "--page", min=1, help="Which page of results."),
    limit: int = typer.Option(50, "--limit", min=1, max=1000, help="Rows a page."),
    csv_out: bool = typer.Option(False, "--csv", help="Every match as CSV on standard output."),
    out: Path = typer.Option(None, "--out", help="Write every match as CSV to this file."),
) -> None:
    """Search contacts across clients; prints a page and the total, or every match as CSV."""
    params: dict[str, Any] = {
        "email": email,
        "name": name,
        "phone": phone,
        "zip": zip_code,
        "workspace": workspace,
        "status": status,
        "month": month,
        "batch": batch,
        "page": page,
        "limit": limit,
    }
    if out or csv_out:
        target = (
            out.resolve()
            if out
            else Path(tempfile.gettempdir()) / f"leadops-contacts-{uuid.uuid4().hex}.csv"
        )
        try:
            r = run_job("contacts.find", {**params, "out": str(target)})
            if out:
                typer.echo(f"Wrote {r['total']:,} contacts to {out}", err=True)
                return
            with target.open(encoding="utf-8") as fh:
                for chunk in iter(lambda: fh.read(1 << 16), ""):
                    sys.stdout.write(chunk)
        finally:
            if not out:
                target.unlink(missing_ok=True)
        return
    r = run_job("contacts.find", params)
    pages = max(1, -(-r["total"] // r["limit"]))
    typer.echo(f"{r['total']:,} contacts match; page {r['page']:,} of {pages:,}.")
    for row in r["rows"]:
        typer.echo("  ".join(str(row.get(k) if row.get(k) is not None else "–") for k in SHOWN))


@app.command("show")
def show(contact: str = typer.Argument(..., help="The contact's number, or its address.")) -> None:
    """A contact's story: where it came from, every decision, batch, upload, replies, CRM."""
    r = run_job("contacts.show", {"contact": contact})
    c = r["contact"]
    typer.echo(f"Contact {c['id']}: {c['first_name'] or ''} {c['last_name'] or ''} <{c['email']}>")
    typer.echo(
        f"  client {c['client']}, status {c['status']}, ZIP {c['zip']}, phone {c['cell_phone']}"
    )
    o = r["origin"]
    if o.get("file") or o.get("kind"):
        typer.echo(
            f"  came from: {o.get('kind')} {o.get('file') or ''} row {o.get('row') or '–'},"
            f" {o.get('at')} by {o.get('by')}"
        )
    else:
        typer.echo(f"  came from: {o['source']}, {o['imported_at']}")
    typer.echo("  decisions:" if r["decisions"] else "  decisions: none recorded")
    for d in r["decisions"]:
        typer.echo(f"    {d['at']}  {d['kind']}  {d['rule'] or ''}: {d['reason'] or ''}")
    if r["batch"]:
        b = r["batch"]
        typer.echo(f"  batch {b['id']}: {b['name']} ({b['status']})")
    if c.get("bison_lead_id"):
        typer.echo(f"  Email Bison lead {c['bison_lead_id']}, uploaded {c['uploaded_at']}")
    typer.echo(f"  replies: {len(r['replies'])}; CRM deliveries: {len(r['crm'])}")
    for d in r["crm"]:
        typer.echo(f"    {d['crm_type']}: {d['status']} ({d['attempts']} attempts)")
    if r["suppressed"]:
        s = r["suppressed"]
        typer.echo(f"  suppressed since {s['added_at']}: {s['reason']} ({s['source']})")


@app.command("edit")
def edit(
    contact: str = typer.Argument(..., help="The contact's number, or its address."),
    field: str = typer.Option(..., "--field", help="first_name, last_name, email, zip, …"),
    value: str = typer.Option(..., "--value", help="The new value."),
    outside_territory: bool = typer.Option(
        False, "--outside-territory", help="Accept a ZIP outside the client's territory."
    ),
) -> None:
    """Change one field of a contact (audited)."""
    r = run_job(
        "contacts.edit",
        {
            "contact": contact,
            "field": field,
            "value": value,
            "outside_territory": outside_territory,
        },
    )
    typer.echo(f"{r['field']}: {r['before']} → {r['after']}" + ("" if r["changed"] else " (same)"))


@app.command("move")
def move(
    contact: str = typer.Argument(..., help="The contact's number, or its address."),
    to: str = typer.Option(..., "--to", help="The client to move it to (by name)."),
    outside_territory: bool = typer.Option(
        False, "--outside-territory", help="Move it even though its ZIP is not that client's."
    ),
) -> None:
    """Move a contact to another client; its pipeline starts again there (audited)."""
    r = run_job(
        "contacts.move", {"contact": contact, "to": to, "outside_territory": outside_territory}
    )
    typer.echo(f"Moved from {r['from']} to {r['to']}.")


@app.command("delete")
def delete(
    contact: str = typer.Argument(
        ..., help="The contact's number, or (with --request) its address."
    ),
    request: bool = typer.Option(
        False,
        "--request",
        help="A deletion request: the person goes everywhere, their Email Bison leads are"
        " deleted and the address is suppressed.",
    ),
    yes: bool = typer.Option(False, "--yes", help="Do not ask first."),
) -> None:
    """Delete one contact record, or carry out a deletion request (asks first)."""
    if request:
        p = run_job("contacts.delete", {"contact": contact, "request": True, "dry_run": True})
        if not p["clients"]:
            typer.echo(f"Nothing about {p['email']} is held; the address will still be suppressed.")
        for c in p["clients"]:
            typer.echo(
                f"  {c['client']}: {c['contacts']} contact(s), {len(c['lead_ids'])} Email Bison"
                f" lead(s), {c['replies']} replies, {c['client_leads']} client lead(s)"
            )
        if not yes and not typer.confirm(f"Delete everything about {p['email']}?"):
            fail("Nothing deleted.")
        r = run_job("contacts.delete", {"contact": contact, "request": True})
        typer.echo(
            f"Deleted {sum(c['contacts'] for c in r['clients']):,} contact(s) and"
            f" {r['deleted_in_bison']} Email Bison lead(s); {r['email']} is suppressed."
        )
        return
    if not yes and not typer.confirm(f"Delete contact {contact}?"):
        fail("Nothing deleted.")
    r = run_job("contacts.delete", {"contact": contact})
    typer.echo(f"Deleted contact {r['deleted']} of {r['client']}.")
