"""Jobs of the accounts domain: add a client, export a table (scoped to one client), and the
credentials vault's writes for the command line (set, test; list, so it works while the app
holds the database)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from core.accounts import access, credentials, workspaces
from core.platform import exports, jobs, secrets
from core.platform.scope import Scope
from core.platform.store import Database


@jobs.job("export")
def export_job(db: Database, params: dict[str, Any], progress: jobs.Progress) -> dict[str, Any]:
    name = params["name"]
    if name not in exports.EXPORTS:
        raise jobs.JobError(f"No export named {name!r}. Run `leadops export --list` for the names.")
    scope = Scope.all()
    if params.get("workspace"):
        ws = workspaces.find_by_name(db, params["workspace"])
        if ws is None:
            raise jobs.JobError(f"No client named {params['workspace']!r}.")
        scope = Scope.only([ws["id"]])
    out = Path(params["out"])
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{uuid.uuid4().hex[:6]}.part")
    progress.update("exporting", 0, None, name)
    with tmp.open("w", newline="", encoding="utf-8") as fh:
        n = exports.export(db, name, scope, fh)
    tmp.replace(out)
    return {"rows": n, "out": str(out)}


@jobs.job("workspace.add")
def add_workspace_job(
    db: Database, params: dict[str, Any], progress: jobs.Progress
) -> dict[str, Any]:
    """Create a client; a Bison token, if any, waits in the keyring under a pending name."""
    data = workspaces.WorkspaceInput(
        name=params["name"],
        bison_workspace_id=params.get("bison_workspace_id"),
        monthly_target=params.get("goal"),
        tier=str(params.get("tier") or "100"),
        licensed_states=params.get("states") or [],
    )
    try:
        new_id = workspaces.create(db, data, actor=params["actor"])
    except workspaces.WorkspaceError as exc:
        raise jobs.JobError(str(exc)) from None
    masked = None
    pending = params.get("pending_token")
    if pending:
        token = secrets.get_secret(pending)
        if token:
            masked = secrets.set_secret(
                db,
                secrets.bison_token_name(new_id),
                token,
                kind="bison_token",
                actor=params["actor"],
            )
        try:
            secrets.backend().delete_password(secrets.SERVICE, pending)
        except Exception:
            pass
    return {"workspace_id": new_id, "bison_token": masked}


def _cli_admin(params: dict[str, Any]) -> access.User:
    """Whoever runs the command line on the server is trusted as an admin (as for `crm set`)."""
    return access.User(email=params.get("actor", "cli"), role="admin", local=True)


@jobs.job("credentials.set")
def credentials_set_job(
    db: Database, params: dict[str, Any], progress: jobs.Progress
) -> dict[str, Any]:
    """Add or replace a credential. The value arrives only as the name of a pending keyring
    entry (the CLI put it there), never in the params; the result holds the last 4 only."""
    value = secrets.take_pending(params.get("pending_value"))
    if not value:
        raise jobs.JobError("The value did not reach the secret store; run the command again.")
    try:
        masked = credentials.save(
            db,
            _cli_admin(params),
            params["name"],
            params["kind"],
            value,
            label=params.get("label"),
            username=params.get("username"),
            states=params.get("states") or None,
        )
    except (credentials.CredentialError, secrets.SecretsUnavailable) as exc:
        raise jobs.JobError(str(exc)) from None
    result: dict[str, Any] = {"name": params["name"].strip().lower(), "value": masked}
    if params.get("test"):
        ok, message = credentials.test(db, _cli_admin(params), result["name"])
        result |= {"test_ok": ok, "test_message": message}
    return result


@jobs.job("credentials.test")
def credentials_test_job(
    db: Database, params: dict[str, Any], progress: jobs.Progress
) -> dict[str, Any]:
    """Test a stored credential against its service and record the outcome."""
    progress.update("testing", 0, None, params["name"])
    try:
        ok, message = credentials.test(db, _cli_admin(params), params["name"])
    except (credentials.CredentialError, secrets.SecretsUnavailable) as exc:
        raise jobs.JobError(str(exc)) from None
    return {"name": params["name"], "test_ok": ok, "test_message": message}


@jobs.job("credentials.list")
def credentials_list_job(
    db: Database, params: dict[str, Any], progress: jobs.Progress
) -> dict[str, Any]:
    """Every stored credential as the page lists it: name, kind, label, last 4, last test."""
    rows = credentials.list_credentials(db).to_dicts()
    for r in rows:
        for k in ("updated_at", "last_tested_at"):
            r[k] = r[k].isoformat(timespec="seconds") if r[k] else None
    return {"credentials": rows}


# `leadops workspaces edit` option -> the workspace column it changes
EDIT_FIELDS = {
    "name": "name",
    "email": "contact_email",
    "goal": "monthly_target",
    "tier": "tier",
    "states": "licensed_states",
    "bison_workspace_id": "bison_workspace_id",
    "billing": "billing_type",
    "price_per_lead_cents": "price_per_lead_cents",
    "retainer_cents": "retainer_cents",
    "home_value_cap": "home_value_cap",
    "high_net_worth": "high_net_worth",
    "timezone": "timezone",
    "active": "active",
}


@jobs.job("workspace.edit")
def edit_workspace_job(
    db: Database, params: dict[str, Any], progress: jobs.Progress
) -> dict[str, Any]:
    """Change a client (named in `workspace`) as Settings → Clients does; only what is given."""
    ws = workspaces.find_by_name(db, params.get("workspace") or "")
    if ws is None:
        raise jobs.JobError(f"No client named {params.get('workspace')!r}.")
    changes = {col: params[key] for key, col in EDIT_FIELDS.items() if params.get(key) is not None}
    if not changes:
        raise jobs.JobError("Nothing to change: give at least one option (see --help).")
    try:
        diff = workspaces.update(db, int(ws["id"]), changes, actor=params["actor"])
    except workspaces.WorkspaceError as exc:
        raise jobs.JobError(str(exc)) from None
    return {
        "workspace_id": int(ws["id"]),
        "name": diff.get("name", ws["name"]),
        "changed": {k: {"before": ws[k], "after": v} for k, v in diff.items()},
    }
