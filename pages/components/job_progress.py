"""A background job's progress while it runs, and its outcome once it has finished.

A page starts a job (core/platform/jobs.py) and keeps its id in `st.session_state[key]`.
`job_progress(key, ...)` then polls the job from a fragment once a second: a progress bar (the
job's done / total, or half full for a job that does not count its work), and a Cancel button
where the page offers one. Once the job has finished, its id is dropped, `on_done(job)` words the
outcome as a flash message, and the whole page reruns, so its data reflect what the job did. The
flash shows under the bar on that rerun (or wherever the page shows `flash_key` itself).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import streamlit as st

from core.platform import jobs
from pages import ui

Flash = tuple[str, str]  # (kind: "success", "error", "warning" or "info"; Markdown)
RUNNING = ("queued", "running")


def job_progress(
    key: str,
    *,
    label: str | Callable[[dict[str, Any]], str],
    on_done: Callable[[dict[str, Any]], Flash],
    flash_key: str | None = None,
    counted: bool = True,
    cancel_key: str | None = None,
    show_flash: bool = True,
) -> None:
    """Poll the job whose id is `st.session_state[key]` (nothing shows when there is none).

    `label` is the text by the bar (or makes it from the job's row); `on_done(job)` gives the
    flash for a finished job, whose `result` is already a dict. The flash waits in
    `st.session_state[flash_key]` (`<key>_flash` unless given) and, with `show_flash`, shows
    under the bar; a page whose flash shows elsewhere passes `show_flash=False`. `counted=False`
    keeps the bar half full, for jobs that report stages but no counts. `cancel_key` adds a
    Cancel button with that widget key.
    """
    flash_key = flash_key or f"{key}_flash"

    @st.fragment(run_every=1.0 if st.session_state.get(key) else None)
    def poll() -> None:
        job_id = st.session_state.get(key)
        if not job_id:
            return
        job = jobs.status(ui.db(), job_id)
        if job is None:  # the store was replaced under it: nothing left to report
            st.session_state.pop(key, None)
            return
        if job["status"] in RUNNING:
            text = label(job) if callable(label) else label
            st.progress(_fraction(job) if counted else 0.5, text=text)
            if cancel_key and st.button("Cancel", key=cancel_key):
                jobs.cancel(job_id)
            return
        st.session_state.pop(key, None)
        st.session_state[flash_key] = on_done({**job, "result": _result(job)})
        st.rerun()

    poll()
    if show_flash:
        flash(flash_key)


def flash(flash_key: str) -> None:
    """Show, once, the flash message waiting under `flash_key`. Its text is Markdown: `on_done`
    passes text from outside (names, messages) through `ui.md` where it must show as typed."""
    message = st.session_state.pop(flash_key, None)
    if message:
        kind, text = message
        getattr(st, kind)(text)


def _fraction(job: dict[str, Any]) -> float:
    return min(job["done"] / job["total"], 1.0) if job["total"] else 0.0


def _result(job: dict[str, Any]) -> dict[str, Any]:
    """The job's result as a dict (the store keeps it as JSON text)."""
    result = job.get("result")
    if isinstance(result, str):
        result = json.loads(result)
    return result if isinstance(result, dict) else {}
