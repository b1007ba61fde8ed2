"""Data sync: when each client last synced from Email Bison, the run history, and Sync now."""

import streamlit as st

from core.platform import jobs, sync_status
from pages import ui
from pages.components.job_progress import job_progress

ui.ensure_router("data_sync")
st.title("Data sync")
sc = ui.scope()
database = ui.db()

status = ui.cached(sync_status.last_sync_per_workspace, sc)
st.subheader("Email Bison")
st.caption(
    "A client shows a sync time only when a real sync ran with its Email Bison token set. "
    "Without a token it is not connected (Settings → Connections), whatever the history holds."
)
ui.table(
    status.drop("workspace_id"),
    name="sync-status",
    key="status",
    column_config={
        "connection": st.column_config.TextColumn(
            "Connection", help="Connected: the client's Email Bison token is set"
        ),
        "last_success": st.column_config.DatetimeColumn(
            "Last successful sync", format="MMM D, HH:mm"
        ),
        "last_status": st.column_config.TextColumn("Last status"),
        "last_error": st.column_config.TextColumn("Last error", width="large"),
        "token": st.column_config.TextColumn("Token", help="The last four characters"),
    },
)

running = st.session_state.get("sync_job")
c1, c2 = st.columns([1, 3])
full = c2.checkbox(
    "Full re-sync (re-read everything)", help="Normally only what changed is fetched."
)
if c1.button(
    "Sync now",
    type="primary",
    icon=":material/sync:",
    disabled=bool(running) or not ui.can("sync.run"),
    help=None if ui.can("sync.run") else "Your role cannot start syncs.",
):
    params = {"full": full, "actor": ui.actor()}
    if st.session_state.get("workspace_id"):
        params["workspace_id"] = st.session_state["workspace_id"]
    try:
        st.session_state["sync_job"] = jobs.start(
            database, "sync.bison", params, requested_by=ui.actor()
        )
        st.rerun()
    except jobs.JobError as exc:
        st.warning(str(exc))


job_progress(
    "sync_job",
    label=lambda job: f"{job['stage'] or 'starting'} — {job['message'] or ''}",
    on_done=lambda job: (
        ("success", "Sync finished.")
        if job["status"] == "succeeded"
        else ("warning", f"Sync partly failed: {ui.md(job['error'])}")
        if job["status"] == "partial"
        else ("error", f"Sync {job['status']}: {job['error']}")
    ),
    flash_key="sync_flash",
    cancel_key="cancel-sync",
)

st.subheader("Run history")
history = ui.cached(sync_status.run_history, sc, 300)
ui.table(
    history,
    name="sync-runs",
    key="history",
    column_config={
        "started_at": st.column_config.DatetimeColumn("Started", format="MMM D, HH:mm:ss"),
        "finished_at": st.column_config.DatetimeColumn("Finished", format="MMM D, HH:mm:ss"),
        "id": st.column_config.NumberColumn("Run", format="#%d"),
        "counts": st.column_config.TextColumn("Rows per resource", width="large"),
        "error": st.column_config.TextColumn("Error", width="medium"),
        "triggered_by": "Started by",
    },
)
