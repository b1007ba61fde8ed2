"""Parts of the Alerts page: alert actions, delivery channels, thresholds and client reports."""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
import streamlit as st

from core.accounts import access, workspaces
from core.guardrails import alerts as guardrails
from core.guardrails import client_reports, mailer
from core.guardrails import delivery as alert_delivery
from core.guardrails.checks import CHECKS, GUARD_SETTINGS, SEVERITIES
from core.platform import settings
from core.platform.scope import Scope
from core.platform.store import Database
from pages import ui


def ago(when: dt.datetime, now: dt.datetime) -> str:
    minutes = max((now - when).total_seconds() / 60, 0)
    if minutes < 90:
        return f"{minutes:.0f} min ago"
    if minutes < 48 * 60:
        return f"{minutes / 60:.0f} h ago"
    return f"{minutes / 1440:.0f} days ago"


def checks_frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "check": [c.label for c in CHECKS.values()],
            "name": list(CHECKS),
            "severity": [c.severity for c in CHECKS.values()],
            "thresholds": [", ".join(c.settings) or "–" for c in CHECKS.values()],
            "what": [c.what for c in CHECKS.values()],
        }
    )


def open_alerts_table(db: Database, user: access.User, shown: pl.DataFrame) -> None:
    """The open alerts, each with its next step and a link to it; select a row to act on it (or
    arrive with `?alert=<id>`)."""
    can_see = user.can_see
    links = [
        ui.fix_link(page, wid, tab) if page and can_see(page) else None
        for page, wid, tab in zip(
            shown["fix_page"], shown["workspace_id"], shown["fix_tab"], strict=True
        )
    ]
    view = shown.with_columns(pl.Series("fix_link", links, dtype=pl.Utf8)).select(
        "severity",
        "client",
        "title",
        "fix_link",
        "next_step",
        "explanation",
        "first_seen",
        "last_seen",
        "acknowledged_by",
        "snoozed_until",
        "check",
    )
    wanted = st.query_params.get("alert", "")
    ids = shown["id"].to_list()
    pre = [ids.index(int(wanted))] if wanted.isdigit() and int(wanted) in ids else []
    event = st.dataframe(
        view,
        key="open-table",
        hide_index=True,
        on_select="rerun",
        selection_mode="single-row",
        selection_default={"selection": {"rows": pre, "columns": []}} if pre else None,
        column_config=ui.display_columns(
            view,
            {
                "client": st.column_config.TextColumn("Client", pinned=True),
                "severity": st.column_config.TextColumn("Severity", width="small"),
                "title": st.column_config.TextColumn("Alert", width="large"),
                "next_step": st.column_config.TextColumn("Next step", width="large"),
                "fix_link": st.column_config.LinkColumn(
                    "Fix it", display_text="Open ›", help="The page where the next step is done"
                ),
                "explanation": st.column_config.TextColumn("Explanation", width="large"),
                "first_seen": st.column_config.DatetimeColumn("First seen", format="MMM D, HH:mm"),
                "last_seen": st.column_config.DatetimeColumn("Last seen", format="MMM D, HH:mm"),
                "snoozed_until": st.column_config.DatetimeColumn(
                    "Snoozed until", format="MMM D, HH:mm"
                ),
            },
        ),
    )
    st.download_button(
        "Download CSV",
        data=lambda: ui.frame_to_csv(view),
        file_name=f"alerts-open-{dt.date.today():%Y%m%d}.csv",
        mime="text/csv",
        key="dl-open-table",
        icon=":material/download:",
        on_click="ignore",
    )
    rows = (event.selection.rows if event else []) or pre  # a row picked, else the linked one
    if not rows:
        st.caption("Select an alert's row to act on it: go to its fix, acknowledge or snooze it.")
        return
    row = shown.row(rows[0], named=True)
    with st.container(border=True, key="alert-actions"):
        act_on_alert(db, user, row)


def act_on_alert(db: Database, user: access.User, row: dict[str, Any]) -> None:
    st.markdown(f"**{ui.md(row['title'])}** · {ui.md(row['client'] or 'Agency')}")
    st.write(ui.md(row["explanation"]))
    if row.get("next_step"):
        st.markdown(f"**Next step:** {ui.md(row['next_step'])}")
        if row.get("fix_page") and user.can_see(row["fix_page"]):
            params = {"client": row["workspace_id"]} if row["workspace_id"] is not None else {}
            if row.get("fix_tab"):
                params["tab"] = row["fix_tab"]
            st.page_link(
                f"pages/{row['fix_page']}.py",
                label=f"Go to {row['fix_where']}",
                icon=":material/arrow_forward:",
                query_params=params or None,
            )
    if row["acknowledged_by"]:
        st.caption(
            f"Acknowledged by {ui.md(row['acknowledged_by'])}: {ui.md(row['ack_reason'] or '')}"
        )
    if row["auto_action"]:
        st.info(ui.md(row["auto_action"]))
    if str(row.get("check_name") or "").startswith("sender_") and row.get("subject_id"):
        st.page_link(
            "pages/sending_accounts.py",
            label="Pause this inbox or lower its daily limit on Sending accounts",
            icon=":material/forward_to_inbox:",
            query_params={"inbox": str(row["subject_id"])},
        )
    if not user.can("alerts.ack"):
        st.caption("Your role cannot acknowledge or snooze alerts.")
        return
    c1, c2 = st.columns(2)
    with c1.form(f"ack-{row['id']}"):
        reason = st.text_input("Why acknowledge?", max_chars=500, key=f"ack-reason-{row['id']}")
        if st.form_submit_button("Acknowledge", icon=":material/done:"):
            try:
                guardrails.acknowledge(db, user, row["id"], reason)
                st.session_state["alerts_flash"] = ("success", "Acknowledged.")
                st.rerun()
            except (guardrails.GuardrailError, PermissionError) as exc:
                st.error(ui.md(exc))
    with c2.form(f"snooze-{row['id']}"):
        hours = st.selectbox(
            "Snooze for",
            [4, 24, 72, 168],
            index=1,
            format_func=lambda h: f"{h} hours" if h < 48 else f"{h // 24} days",
            key=f"snooze-hours-{row['id']}",
        )
        reason = st.text_input("Why snooze?", max_chars=500, key=f"snooze-reason-{row['id']}")
        if st.form_submit_button("Snooze", icon=":material/snooze:"):
            try:
                until = dt.datetime.now(dt.UTC) + dt.timedelta(hours=int(hours))
                guardrails.snooze(db, user, row["id"], until, reason)
                st.session_state["alerts_flash"] = ("success", f"Snoozed for {hours} hours.")
                st.rerun()
            except (guardrails.GuardrailError, PermissionError) as exc:
                st.error(ui.md(exc))


def delivery(db: Database, user: access.User) -> None:
    st.caption(
        "Each channel gets one message when an alert opens and one when it resolves, for alerts "
        "of its client (or all) at or above its minimum severity. Slack webhook URLs and the SMTP "
        "password are kept in the secret store."
    )
    chans = ui.cached(alert_delivery.channels, None)
    ui.table(chans, name="alert-channels", key="channels")
    if not mailer.configured(db):
        st.caption("E-mail is off until the SMTP server is set under Settings → Connections.")
    if user.can("secrets.manage"):
        with st.form("smtp-password"):
            pw = st.text_input("SMTP password (kept in the secret store)", type="password")
            if st.form_submit_button("Save SMTP password"):
                try:
                    st.success(f"Saved: {mailer.set_password(db, user, pw)}")
                except (mailer.MailError, PermissionError) as exc:
                    st.error(ui.md(exc))
    if not user.can("alerts.configure"):
        return
    names = ui.cached(workspaces.labels, None)
    with st.expander("Add a channel", icon=":material/add:"):
        with st.form("add-channel", clear_on_submit=False):
            c1, c2, c3 = st.columns(3)
            name = c1.text_input("Name", max_chars=40, placeholder="ops-alerts")
            kind = c2.selectbox("Kind", ["slack", "email"])
            sev = c3.selectbox("Minimum severity", SEVERITIES, index=1)
            wid = st.selectbox(
                "Client",
                [None, *names],
                format_func=lambda w: "All clients" if w is None else names[w],
            )
            url = st.text_input("Slack webhook URL (Slack channels)", type="password")
            to = st.text_input("E-mail to (e-mail channels, comma-separated)")
            if st.form_submit_button("Add channel", type="primary"):
                try:
                    shown = alert_delivery.add_channel(
                        db,
                        user,
                        name,
                        kind,
                        workspace_id=wid,
                        min_severity=sev,
                        webhook_url=url,
                        email_to=to,
                    )
                    st.success(f"Added {ui.md(name)} ({ui.md(shown)}).")
                except (alert_delivery.ChannelError, PermissionError, ValueError) as exc:
                    st.error(ui.md(exc))
    if chans.height:
        c1, c2 = st.columns([2, 1])
        victim = c1.selectbox("Channel", chans["name"].to_list(), key="remove-channel")
        if c2.button("Remove channel", icon=":material/delete:"):
            _confirm_remove(db, user, victim)


@st.dialog("Remove channel")
def _confirm_remove(db: Database, user: access.User, name: str) -> None:
    st.write(f"Remove the alert channel **{ui.md(name)}** and its stored webhook URL?")
    if st.button("Yes, remove", type="primary"):
        try:
            alert_delivery.remove_channel(db, user, name)
        except (alert_delivery.ChannelError, PermissionError) as exc:
            st.error(ui.md(exc))
            return
        st.rerun()


def thresholds(db: Database, user: access.User, sc: Scope) -> None:
    st.subheader("Client thresholds")
    ui.table(ui.cached(guardrails.overrides, None, sc), name="guardrail-overrides", key="ovr")
    if not user.can("alerts.configure"):
        return
    names = ui.cached(workspaces.labels, sc)
    if not names:
        return
    defaults = settings.get_all(db)
    with st.form("override"):
        c1, c2, c3 = st.columns(3)
        wid = c1.selectbox("Client", list(names), format_func=lambda w: names[w])
        name = c2.selectbox("Threshold", GUARD_SETTINGS)
        value = c3.text_input("Value (empty: back to the default)")
        st.caption(
            "Defaults: "
            + ", ".join(f"{n} = {defaults[n]}" for n in GUARD_SETTINGS if n in defaults)
        )
        if st.form_submit_button("Save threshold"):
            try:
                v = guardrails.set_override(db, user, wid, name, value.strip() or None)
                st.success(
                    f"{names[wid]}: {name} = {v}" if v is not None else "Back to the default."
                )
            except (guardrails.GuardrailError, settings.SettingError, PermissionError) as exc:
                st.error(ui.md(exc))


def client_reports_tab(db: Database, user: access.User, sc: Scope, today: dt.date) -> None:
    names = ui.cached(workspaces.labels, sc)
    if not names:
        st.info("No clients yet.")
        return
    conf = settings.get_all(db)
    st.caption(
        (
            f"Sent every {conf['client_report_weekday'].capitalize()} from "
            f"{conf['client_report_hour']}:00 to each client's contact e-mail."
            if conf["client_reports_enabled"]
            else "Scheduled sending is off (Settings → General: weekly client reports)."
        )
        + " Send one by hand below."
    )
    c1, c2 = st.columns([2, 1])
    default = st.session_state.get("workspace_id")
    wid = c1.selectbox(
        "Client",
        list(names),
        index=list(names).index(default) if default in names else 0,
        format_func=lambda w: names[w],
        key="report-client",
    )
    as_of = c2.date_input("Week before", today, key="report-as-of")
    data = ui.cached(client_reports.report_data, None, wid, as_of)
    html = client_reports.render_html(data)
    stem = client_reports.file_stem(data)
    d1, d2, d3 = st.columns(3)
    d1.download_button(
        "Download HTML",
        html,
        file_name=f"{stem}.html",
        mime="text/html",
        icon=":material/download:",
        on_click="ignore",
    )
    d2.download_button(
        "Download PDF",
        lambda: client_reports.render_pdf(data),
        file_name=f"{stem}.pdf",
        mime="application/pdf",
        icon=":material/picture_as_pdf:",
        on_click="ignore",
    )
    if d3.button(
        "Send to client now",
        icon=":material/send:",
        disabled=not user.can("reports.send") or not data["contact_email"],
        help="Sends to the client's contact e-mail through the SMTP settings.",
    ):
        try:
            out = client_reports.send_reports(
                db, user, as_of=as_of, workspace=names[wid], force=True
            )
            r = out[0]
            (st.success if r["status"] == "sent" else st.error)(
                ui.md(f"{r['client']}: {r['status']} {r['detail']}")
            )
        except (client_reports.ReportError, PermissionError) as exc:
            st.error(ui.md(exc))
    st.iframe(html, height=520)
    st.subheader("Reports sent")
    ui.table(ui.cached(client_reports.sends, sc), name="client-report-sends", key="report-sends")
