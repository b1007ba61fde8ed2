"""Territory jobs the CLI runs (in its own process, or handed to the running app)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from core.accounts import workspaces
from core.accounts.access import User
from core.platform import jobs
from core.platform.scope import Scope
from core.platform.store import Database
from core.territories.assignments import TerritoryError
from core.territories.bulk import apply_file, check_file
from core.territories.reports import export_assignments


def _cli_user(params: dict[str, Any]) -> User:
    """Whoever runs the command line on the server works as a local admin (like local mode)."""
    return User(email=params.get("actor") or "local", role="admin", local=True)


@jobs.job("territories.import")
def import_job(db: Database, params: dict[str, Any], progress: jobs.Progress) -> dict[str, Any]:
    path = Path(params["path"])
    progress.update("checking", 0, None, path.name)
    try:
        check = check_file(db, path.read_bytes())
    except TerritoryError as exc:
        raise jobs.JobError(f"{path.name}: {exc}") from None
    except OSError as exc:
        raise jobs.JobError(f"Cannot read {path}: {exc.strerror or exc}") from None
    take = bool(params.get("take_conflicts"))
    report = check.report(take)
    result: dict[str, Any] = {
        "layout": check.layout,
        "encoding": check.encoding,
        "counts": check.counts,
        "notes": check.notes,
        "rejected": report.head(200).to_dicts(),
        "rejected_total": report.height,
        "change_id": None,
        "added": 0,
        "removed": 0,
    }
    if params.get("report"):
        Path(params["report"]).write_bytes(check.report_csv(take))
    if not params.get("dry_run"):
        progress.update("applying", 0, None, path.name)
        res = apply_file(db, _cli_user(params), check, take_conflicts=take, name=path.name)
        result.update(change_id=res.change_id, added=res.added, removed=res.removed)
    return result


@jobs.job("territories.export")
def export_job(db: Database, params: dict[str, Any], progress: jobs.Progress) -> dict[str, Any]:
    scope = Scope.all()
    if params.get("workspace"):
        ws = workspaces.find_by_name(db, params["workspace"])
        if ws is None:
            raise jobs.JobError(f"No client named {params['workspace']!r}.")
        scope = Scope.only([ws["id"]])
    fmt = params.get("format", "csv")
    if fmt not in ("csv", "json"):
        raise jobs.JobError(f"--format {fmt!r}: use csv or json.")
    out = Path(params["out"])
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{uuid.uuid4().hex[:6]}.part")
    progress.update("exporting", 0, None, fmt)
    with tmp.open("w", newline="", encoding="utf-8") as fh:
        n = export_assignments(db, scope, fh, fmt)
    tmp.replace(out)
    return {"rows": n, "out": str(out)}
