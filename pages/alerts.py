"""Alerts: what the guardrail checks found, acknowledge and snooze, history, delivery, client reports."""

import datetime as dt

import streamlit as st

from core.guardrails import alerts as guardrails
from core.guardrails import delivery as alert_delivery
from core.guardrails import next_steps
from core.platform import jobs
from pages import alerts_parts, ui
from pages.components.job_progress import job_progress

ui.ensure_router("alerts")
st.title("Alerts")
sc = ui.scope()
database = ui.db()
user = ui.current_user()

counts = ui.cached(guardrails.open_count, sc)
last = ui.cached(guardrails.last_run, None)
m1, m2, m3, m4 = st.columns(4)
m1.metric("Danger", counts["danger"], border=True)
m2.metric("Warning", counts["warning"], border=True)
m3.metric("Info", counts["info"], border=True)
m4.metric(
    "Last check",
    alerts_parts.ago(last["started_at"], dt.datetime.now(dt.UTC)) if last else "never",
    help="Checks run after every sync, and when you press Run checks now.",
    border=True,
)

running = st.session_state.get("alerts_job")
if st.button(
    "Run checks now",
    icon=":material/rule:",
    disabled=bool(running) or not ui.can("alerts.run"),
    help=None if ui.can("alerts.run") else "Your role cannot run the checks.",
):
    try:
        st.session_state["alerts_job"] = jobs.start(
            database, "alerts.check", {"actor": ui.actor()}, requested_by=ui.actor()
        )
        st.rerun()
    except jobs.JobError as exc:
        st.warning(str(exc))


def checks_done(job: dict) -> tuple[str, str]:
    r = job["result"]
    if job["status"] != "succeeded":
        return "error", ui.md(f"Checks {job['status']}: {job['error']}")
    return "success", ui.md(
        f"Checks done: {r.get('opened', 0)} opened, {r.get('resolved', 0)} resolved, "
        f"{r.get('open', 0)} open; {r.get('messages_sent', 0)} message(s) sent."
    )


# also shows the flash of an acknowledge or snooze (alerts_parts)
job_progress(
    "alerts_job",
    label="Running the checks…",
    on_done=checks_done,
    flash_key="alerts_flash",
    counted=False,
)

tab_open, tab_history, tab_delivery, tab_thresholds, tab_reports = st.tabs(
    ["Open", "History", "Delivery", "Thresholds", "Client reports"]
)

with tab_open:
    show_snoozed = st.toggle("Show snoozed alerts", key="show-snoozed")
    table = ui.cached(guardrails.open_alerts, sc, include_snoozed=show_snoozed)
    if table.height == 0:
        st.success(
            "No open alerts." if last else "No checks have run yet. Run them now, or sync first."
        )
    else:
        with st.expander("By client", icon=":material/groups:"):
            ui.table(
                ui.cached(guardrails.open_by_client, sc), name="alerts-by-client", key="by-client"
            )
        sev = st.segmented_control(
            "Severity",
            ["danger", "warning", "info"],
            selection_mode="multi",
            default=["danger", "warning", "info"],
            key="sev-filter",
        )
        shown = next_steps.with_steps(table.filter(table["severity"].is_in(sev or [])))
        alerts_parts.open_alerts_table(database, user, shown)


with tab_history:
    hist = ui.cached(guardrails.history, sc)
    ui.table(
        hist,
        name="alert-history",
        key="history",
        column_config={
            "happened_at": st.column_config.DatetimeColumn("When", format="MMM D, HH:mm"),
        },
    )

with tab_delivery:
    alerts_parts.delivery(database, user)
    st.subheader("Messages sent")
    ui.table(
        ui.cached(alert_delivery.deliveries, None),
        name="alert-messages",
        key="messages",
        column_config={"sent_at": st.column_config.DatetimeColumn("Sent", format="MMM D, HH:mm")},
    )

with tab_thresholds:
    st.caption(
        "Defaults are set under Settings → General; a client may have its own value here. "
        "Each check and the thresholds it reads:"
    )
    ui.table(
        alerts_parts.checks_frame(),
        name="guardrail-checks",
        key="checks",
        column_config={"what": st.column_config.TextColumn("What it watches", width="large")},
    )
    alerts_parts.thresholds(database, user, sc)

with tab_reports:
    alerts_parts.client_reports_tab(database, user, sc, ui.today())
