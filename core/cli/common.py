"""What every command group shares: running a job here or handing it to the app, and failing
with a message (never a traceback).

Importing this module imports the catalog, so every job kind a command names is registered.
"""

from __future__ import annotations

from typing import Any

import typer

from core import catalog  # noqa: F401  (registers every job)
from core.platform import audit, inbox, jobs, store


class _Settings:
    """Options of the whole command line (set by the main callback)."""

    wait_timeout: float | None = None


settings = _Settings()


def fail(message: str, code: int = 1) -> None:
    typer.secho(message, fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def open_db() -> store.Database:
    return store.get_db()


def print_progress(stage: str, done: int, total: int | None, message: str | None) -> None:
    frac = f" {done}/{total}" if total else ""
    typer.echo(f"  … {stage}{frac}{' — ' + message if message else ''}", err=True)


def run_job(kind: str, params: dict[str, Any], *, partial: bool = False) -> dict[str, Any]:
    """Run a job here, or hand it to the app that holds the database. A job that partly failed
    exits 1 with its message, or, with `partial`, prints the message and returns its result so
    the command can show what did succeed (and then exit 1 itself)."""
    actor = audit.current_actor()
    params = {**params, "actor": actor}
    path = store.db_path_from_env()
    try:
        db = open_db()
    except store.DatabaseBusy as busy:
        if inbox.app_alive(path):
            typer.echo(f"The LeadOps app has {path} open; handing the job to it.", err=True)
            request_id = inbox.submit(path, kind, params, actor)

            def show(st: dict[str, Any]) -> None:
                if st.get("state") == "running":
                    print_progress(
                        st.get("stage") or "",
                        st.get("done") or 0,
                        st.get("total"),
                        st.get("message"),
                    )

            try:
                st = inbox.wait(path, request_id, on_progress=show, timeout=settings.wait_timeout)
            except inbox.HandOverError as exc:
                fail(str(exc))
            if st["state"] == "partial":
                if not partial:
                    fail(f"Partly failed: {st.get('error')}")
                typer.secho(f"Partly failed: {st.get('error')}", fg=typer.colors.RED, err=True)
                return {**(st.get("result") or {}), "partial": True}
            if st["state"] != "succeeded":
                fail(f"{st['state'].capitalize()}: {st.get('error') or st['state']}")
            return st.get("result") or {}
        fail(
            f"{busy} It is not a running LeadOps app, so the job cannot be handed over. "
            "Wait for that process to finish (or stop it) and run the command again."
        )
    except store.StoreError as exc:
        fail(str(exc))
    try:
        return jobs.run(db, kind, params, requested_by=actor, listener=print_progress)
    except jobs.PartialFailure as exc:
        if not partial:
            fail(f"Partly failed: {exc}")
        typer.secho(f"Partly failed: {exc}", fg=typer.colors.RED, err=True)
        return {**exc.result, "partial": True}
    except jobs.JobError as exc:
        fail(str(exc))
    except jobs.JobCancelled:
        fail("Cancelled.")
    raise AssertionError("unreachable")
