"""Jobs for guardrails and client reports (shared by the CLI, the scheduler and the pages)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from core.accounts import access
from core.platform import jobs
from core.platform.store import Database


def _user(params: dict[str, Any]) -> access.User:
    """The CLI runs as the local operator; the scheduler as the system."""
    actor = params.get("actor") or "system"
    return access.User(email=actor, role="admin", name=actor)


@jobs.job("alerts.check")
def alerts_check_job(
    db: Database, params: dict[str, Any], progress: jobs.Progress
) -> dict[str, Any]:
    from core.guardrails import alerts as guardrails

    progress.update("checking", 0, None, "running every guardrail check")
    now = dt.datetime.fromisoformat(params["now"]) if params.get("now") else None
    return guardrails.run_checks(
        db,
        now=now,
        triggered_by=params.get("actor", "system"),
        deliver=not params.get("no_deliver"),
    )


@jobs.job("reports.send")
def reports_send_job(
    db: Database, params: dict[str, Any], progress: jobs.Progress
) -> dict[str, Any]:
    from core.guardrails import client_reports

    progress.update("reports", 0, None, "rendering weekly client reports")
    as_of = dt.date.fromisoformat(params["as_of"]) if params.get("as_of") else None
    try:
        out = client_reports.send_reports(
            db,
            _user(params),
            as_of=as_of,
            workspace=params.get("workspace"),
            dry_run=bool(params.get("dry_run")),
            force=bool(params.get("force")),
        )
    except client_reports.ReportError as exc:
        raise jobs.JobError(str(exc)) from None
    return {"reports": [{**r, "week_start": str(r["week_start"])} for r in out]}
