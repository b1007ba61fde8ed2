"""Background jobs: what a caller records about a job is in place before the job runs."""

from __future__ import annotations

import json
import time

from core.platform import jobs


def test_on_created_runs_before_the_job_writes_the_same_row(empty_db):
    """A caller that records the job id on a row the job also updates must not race it (DuckDB
    refuses one of two concurrent updates of a row: a pipeline retry failed that way)."""
    db = empty_db
    db.execute("CREATE TABLE job_probe (id INTEGER PRIMARY KEY, job_id VARCHAR, seen VARCHAR)")
    db.execute("INSERT INTO job_probe VALUES (1, NULL, NULL)")

    @jobs.job("test.probe")
    def probe(db, params, progress):
        seen = db.scalar("SELECT job_id FROM job_probe WHERE id = 1")
        db.execute("UPDATE job_probe SET seen = ? WHERE id = 1", [seen])
        return {"seen": seen}

    def record(job_id: str) -> None:  # a slow caller: the job must still wait for it
        time.sleep(0.1)
        db.execute("UPDATE job_probe SET job_id = ? WHERE id = 1", [job_id])

    try:
        for _ in range(5):  # one after another: the jobs themselves never overlap
            job_id = jobs.start(
                db,
                "test.probe",
                {},
                requested_by="test",
                exclusive=False,
                on_created=record,
            )
            deadline = time.monotonic() + 30
            while jobs.status(db, job_id)["status"] in ("queued", "running"):
                assert time.monotonic() < deadline, "job did not finish"
                time.sleep(0.01)
            job = jobs.status(db, job_id)
            assert job["status"] == "succeeded", job["error"]
            assert json.loads(job["result"])["seen"] == job_id  # recorded before it ran
    finally:
        jobs.REGISTRY.pop("test.probe", None)
