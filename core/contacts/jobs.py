"""The contacts workbench's jobs, for `leadops contacts …` (run here, or handed to the running
app): find (a page, or every match as CSV), show (a contact's story), edit, move, delete and
deletion requests. The command line works as a local admin, as every other command does."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any

from core.accounts import access, workspaces
from core.contacts import changes, erasure, search, story
from core.platform import jobs
from core.platform.store import Database


def _user(params: dict[str, Any]) -> access.User:
    return access.User(params.get("actor") or "local", "admin", local=True)


def _workspace(db: Database, name: str | None) -> int | None:
    if not name:
        return None
    ws = workspaces.find_by_name(db, name)
    if ws is None:
        raise jobs.JobError(f"No client named {name!r}.")
    return int(ws["id"])


def _filter(db: Database, params: dict[str, Any]) -> search.ContactFilter:
    try:
        return search.ContactFilter(
            email=params.get("email"),
            name=params.get("name"),
            phone=params.get("phone"),
            zip=params.get("zip"),
            workspace_id=_workspace(db, params.get("workspace")),
            status=params.get("status"),
            renewal_month=search.parse_month(params.get("month")),
            batch_id=params.get("batch"),
        )
    except search.SearchError as exc:
        raise jobs.JobError(str(exc)) from None


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


def _rows(df: Any) -> list[dict[str, Any]]:
    return [{k: _plain(v) for k, v in r.items()} for r in df.to_dicts()]


@jobs.job("contacts.find")
def find_job(db: Database, params: dict[str, Any], progress: jobs.Progress) -> dict[str, Any]:
    """One page of matches with the total; with `out`, every match written there as CSV."""
    user = _user(params)
    f = _filter(db, params)
    try:
        if params.get("out"):
            out = Path(params["out"])
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp = out.with_name(f".{out.name}.{uuid.uuid4().hex[:6]}.part")
            with tmp.open("w", newline="", encoding="utf-8") as fh:
                n = search.write_csv(db, user.scope, f, fh)
            tmp.replace(out)
            return {"total": n, "out": str(out)}
        limit = int(params.get("limit") or search.PAGE_SIZE)
        page = max(1, int(params.get("page") or 1))
        df, total = search.search(db, user.scope, f, limit=limit, offset=(page - 1) * limit)
    except search.SearchError as exc:
        raise jobs.JobError(str(exc)) from None
    return {"total": total, "page": page, "limit": limit, "rows": _rows(df)}


def _contact_id(db: Database, user: access.User, ref: str | int) -> int:
    """A contact by id, or by address when exactly one contact has it."""
    text = str(ref).strip()
    if text.isdigit():
        return int(text)
    ids = [
        r[0]
        for r in db.rows(
            f"SELECT id FROM contacts WHERE lower(trim(email)) = ? AND {user.scope.filter()}"
            " ORDER BY id",
            [text.lower()],
        )
    ]
    if len(ids) == 1:
        return ids[0]
    if not ids:
        raise jobs.JobError(f"No contact with the address {text[:80]!r}.")
    raise jobs.JobError(
        f"{len(ids)} contacts have {text[:80]!r} (ids {', '.join(map(str, ids[:10]))}): give the id."
    )


@jobs.job("contacts.show")
def show_job(db: Database, params: dict[str, Any], progress: jobs.Progress) -> dict[str, Any]:
    user = _user(params)
    try:
        s = story.story(db, user.scope, _contact_id(db, user, params["contact"]))
    except story.NotFound as exc:
        raise jobs.JobError(str(exc)) from None
    up = s["upload"]
    return {
        "contact": {k: _plain(v) for k, v in s["contact"].items()},
        "origin": {k: _plain(v) for k, v in s["origin"].items() if k != "pull"},
        "decisions": _rows(s["decisions"]),
        "batch": {k: _plain(v) for k, v in (up.get("batch") or {}).items()},
        "lead": {k: _plain(v) for k, v in (up.get("lead") or {}).items()},
        "replies": _rows(s["replies"]),
        "crm": _rows(s["crm"]),
        "suppressed": {k: _plain(v) for k, v in (s["suppressed"] or {}).items()},
    }


@jobs.job("contacts.edit")
def edit_job(db: Database, params: dict[str, Any], progress: jobs.Progress) -> dict[str, Any]:
    user = _user(params)
    try:
        out = changes.edit(
            db,
            user,
            _contact_id(db, user, params["contact"]),
            params["field"],
            params.get("value"),
            outside_territory=bool(params.get("outside_territory")),
        )
    except (changes.ChangeError, story.NotFound) as exc:
        raise jobs.JobError(str(exc)) from None
    return {k: _plain(v) for k, v in out.items()}


@jobs.job("contacts.move")
def move_job(db: Database, params: dict[str, Any], progress: jobs.Progress) -> dict[str, Any]:
    user = _user(params)
    try:
        return changes.move(
            db,
            user,
            _contact_id(db, user, params["contact"]),
            _workspace(db, params["to"]) or 0,
            outside_territory=bool(params.get("outside_territory")),
        )
    except (changes.ChangeError, story.NotFound) as exc:
        raise jobs.JobError(str(exc)) from None


@jobs.job("contacts.delete")
def delete_job(db: Database, params: dict[str, Any], progress: jobs.Progress) -> dict[str, Any]:
    """Delete one contact record, or (`request`) carry out a deletion request for an address;
    `dry_run` only says what a deletion request would remove."""
    user = _user(params)
    try:
        if params.get("request"):
            ref = str(params["contact"]).strip()
            email = ref if "@" in ref else story.contact(db, user.scope, int(ref))["email"]
            if params.get("dry_run"):
                return {"dry_run": True, **erasure.plan(db, user, email)}
            return erasure.execute(db, user, email)
        return changes.delete(db, user, _contact_id(db, user, params["contact"]))
    except (erasure.ErasureError, story.NotFound, ValueError) as exc:
        raise jobs.JobError(str(exc)) from None
