"""The demo-data job: load the demo dataset into the store."""

from __future__ import annotations

import datetime as dt
from typing import Any

from core.demo import loader as demo
from core.platform import jobs
from core.platform.store import Database


@jobs.job("demo")
def demo_job(db: Database, params: dict[str, Any], progress: jobs.Progress) -> dict[str, Any]:
    as_of = dt.date.fromisoformat(params["as_of"]) if params.get("as_of") else None
    try:
        counts = demo.load_demo(
            db,
            scale=params.get("scale", "small"),
            seed=int(params.get("seed", 42)),
            as_of=as_of,
            replace=bool(params.get("replace")),
            actor=params.get("actor", "demo"),
            progress=lambda msg, i, n: progress.update(msg, i, n),
        )
    except demo.DemoError as exc:
        raise jobs.JobError(str(exc)) from None
    from core.demo.sandbox import runtime as sandbox  # loads the web server only when used

    sandbox.after_demo_load(db)
    return {"rows": counts}
