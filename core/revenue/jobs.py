"""Revenue jobs: the Stripe sync."""

from __future__ import annotations

from typing import Any

from core.platform import jobs
from core.platform.store import Database
from core.revenue.stripe_sync import StripeSyncError, sync_stripe


@jobs.job("sync.stripe")
def sync_stripe_job(
    db: Database, params: dict[str, Any], progress: jobs.Progress
) -> dict[str, Any]:
    progress.update("starting", 0, None, "Stripe")
    try:
        return sync_stripe(
            db,
            full=bool(params.get("full")),
            triggered_by=params.get("actor", "system"),
            progress=lambda msg, i, n: progress.update("syncing", i, n, msg),
        )
    except StripeSyncError as exc:
        raise jobs.JobError(str(exc)) from None
