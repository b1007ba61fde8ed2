"""Campaigns: every client's Email Bison campaigns, a campaign's day-by-day and sequence, actions."""

import datetime as dt

import plotly.graph_objects as go
import polars as pl
import streamlit as st

from core.campaigns import campaigns, periods, preflight
from pages import campaign_leads, ui

ui.ensure_router("campaigns")
st.title("Campaigns")
sc = ui.scope()
today = ui.today()

c1, c2, c3, c4 = st.columns([1, 2, 1, 1])
statuses = ui.cached(campaigns.campaign_statuses, sc)
status = c1.selectbox(
    "Status", [None, *statuses], format_func=lambda s: "All" if s is None else s.capitalize()
)
search = c2.text_input("Search campaign names", max_chars=200)
WINDOWS = {7: "Last 7 days", 30: "Last 30 days", 90: "Last 90 days", 0: "Lifetime", -1: "Custom"}
window = c3.selectbox(
    "Rates over",
    list(WINDOWS),
    index=1,
    format_func=WINDOWS.get,
    key="camp-window",
    help="Complete days only: today is still sending. Lifetime is everything since the "
    "campaign started.",
)
if window == -1:
    first, last = periods.complete_days(today, 30)
    picked = c4.date_input(
        "Days", value=(first, last), max_value=today, format="YYYY-MM-DD", key="camp-days"
    )
    if isinstance(picked, tuple) and len(picked) == 2:
        first, last = picked
elif window:
    first, last = periods.complete_days(today, window)
table = ui.cached(campaigns.list_campaigns, sc, status=status, search=search or None)

if table.height == 0:
    st.info(
        "No campaigns yet. Campaigns appear here after an Email Bison sync (Data sync page)."
        if not (status or search)
        else "No campaign matches the filters."
    )
    st.stop()

if window:
    table = periods.with_window(table, ui.cached(periods.campaign_rates, sc, first, last))
    period = periods.window_label(first, last)
    if window > 0:
        c4.caption(f"{period}")
else:
    period = "lifetime"

totals = table.select("sent", "replies", "interested", "bounced").sum().row(0, named=True)
m1, m2, m3, m4 = st.columns(4)
m1.metric("Campaigns", f"{table.height:,}", help="Matching the filters", border=True)
m2.metric(f"Emails sent ({period})", ui.fmt_int(totals["sent"]), border=True)
m3.metric(
    f"Reply rate ({period})",
    ui.pct(totals["replies"] / totals["sent"] if totals["sent"] else None, 2),
    border=True,
)
m4.metric(
    f"Bounce rate ({period})",
    ui.pct(totals["bounced"] / totals["sent"] if totals["sent"] else None, 2),
    border=True,
)

FIRST = ["client", "campaign", "status", "sent", "reply_rate", "interested_rate", "bounce_rate"]
shown = (
    table.drop("workspace_id", "id", "synced_at")
    .with_columns(pl.col("status").str.to_titlecase())
    .pipe(lambda d: d.select(FIRST + [c for c in d.columns if c not in FIRST]))
)
event = st.dataframe(
    shown,
    hide_index=True,
    on_select="rerun",
    selection_mode="single-row",
    key="campaign-table",
    column_config=ui.display_columns(
        shown,
        {
            "client": st.column_config.TextColumn("Client", pinned=True),
            "campaign": st.column_config.TextColumn("Campaign", pinned=True),
            "status": st.column_config.TextColumn("Status"),
            "sent": st.column_config.NumberColumn(
                "Sent" if window else "Sent (lifetime)", format="localized"
            ),
            "bounce_rate": st.column_config.NumberColumn(
                "Bounce rate", format="percent", help=f"Bounced per email sent, {period}"
            ),
            "reply_rate": st.column_config.NumberColumn(
                "Reply rate", format="percent", help=f"Replies per email sent, {period}"
            ),
            "interested_rate": st.column_config.NumberColumn(
                "Interested/replies", format="percent", help=f"Interested per reply, {period}"
            ),
            "updated_at": st.column_config.DatetimeColumn("Updated", format="MMM D, HH:mm"),
        },
    ),
)
st.download_button(
    "Download CSV",
    data=lambda: ui.frame_to_csv(table),
    file_name=f"campaigns-{today:%Y%m%d}.csv",
    mime="text/csv",
    icon=":material/download:",
    on_click="ignore",
)
st.caption(
    f"Sent, replies, interested, bounced and the rates are for {period}"
    + ("" if window else " (since each campaign started)")
    + "; leads, contacted, opens and unsubscribed are lifetime. Select a row to see the "
    "campaign's "
    "day-by-day, its sequence and sending accounts."
)

campaign_leads.section()  # Email Bison leads: search, remove from a campaign, tags
rows = event.selection.rows if event and event.selection else []
if not rows:
    st.stop()
sel = table.row(rows[0], named=True)
wid, cid = sel["workspace_id"], sel["id"]
st.divider()
st.subheader(ui.md(sel["campaign"]))
schedule = ui.cached(campaigns.campaign_schedule, sc, wid, cid)
st.caption(
    f"{ui.md(sel['client'])} · status **{ui.md(str(sel['status']).capitalize())}** · Email Bison id {cid} · "
    f"sends {ui.md(campaigns.describe_schedule(schedule))}"
)

flash = st.session_state.pop("campaign_flash", None)
if flash:
    st.success(flash)


@st.dialog("Confirm")
def confirm(action: str) -> None:
    st.write(
        f"{action.capitalize()} **{ui.md(sel['campaign'])}** for {ui.md(sel['client'])} in Email Bison?"
    )
    if action == "pause":
        st.caption("Sending stops until the campaign is resumed.")
    blocked = []
    if action == "resume":
        st.markdown("**Preflight**")
        items = preflight.preflight(ui.db(), ui.scope(), wid, cid)
        for item in items:
            mark = (
                ":green[:material/check_circle:]"
                if item.ok
                else (":gray[:material/help:]" if item.ok is None else ":red[:material/cancel:]")
            )
            st.markdown(f"{mark} **{ui.md(item.name)}** — {ui.md(item.detail)}")
        blocked = preflight.blocking_failures(items)
        if blocked:
            st.error(
                "Not resumed: it would sit idle until "
                + ", ".join(ui.md(i.name.lower()) for i in blocked)
                + " is fixed in Email Bison (then sync)."
            )
    yes, cancel = st.columns(2)
    if cancel.button("Cancel", key=f"cancel-{action}", width="stretch"):
        st.rerun()
    if yes.button(f"Yes, {action}", type="primary", disabled=bool(blocked), width="stretch"):
        try:
            result = campaigns.campaign_action(ui.db(), ui.current_user(), wid, cid, action)
            st.session_state["campaign_flash"] = (
                f"Done: {result['name']} is now {result['status']}."
            )
        except (campaigns.CampaignActionError, PermissionError) as exc:
            st.session_state["campaign_flash"] = None
            st.error(ui.md(exc))
            return
        st.rerun()


b1, b2, b3, _ = st.columns([1, 1, 1, 3])
if b1.button("Pause", icon=":material/pause:", disabled=sel["status"] != "active", key="pause"):
    confirm("pause")
if b2.button(
    "Resume", icon=":material/play_arrow:", disabled=sel["status"] != "paused", key="resume"
):
    confirm("resume")
if b3.button("Duplicate", icon=":material/content_copy:", key="duplicate"):
    confirm("duplicate")

tab_days, tab_seq, tab_senders, tab_sched = st.tabs(
    ["Day by day", "Sequence and variants", "Sending accounts", "Schedule"]
)
with tab_days:
    daily = ui.cached(campaigns.campaign_daily, sc, wid, cid, today - dt.timedelta(days=60), today)
    if daily.height:
        fig = go.Figure()
        fig.add_bar(x=daily["day"], y=daily["sent"], name="Sent", marker_color="#c7d2fe")
        fig.add_scatter(
            x=daily["day"], y=daily["replies"], name="Replies", yaxis="y2", mode="lines"
        )
        fig.add_scatter(
            x=daily["day"], y=daily["interested"], name="Interested", yaxis="y2", mode="lines"
        )
        fig.add_scatter(
            x=daily["day"],
            y=daily["bounced"],
            name="Bounced",
            yaxis="y2",
            mode="lines",
            line_dash="dot",
        )
        fig.update_layout(
            height=320,
            margin=dict(l=10, r=10, t=10, b=10),
            legend=dict(orientation="h", y=1.1),
            yaxis=dict(title="Sent", rangemode="tozero"),
            yaxis2=dict(
                overlaying="y",
                side="right",
                rangemode="tozero",
                tickmode="auto",
                nticks=6,
                showgrid=False,
                title="Replies, interested, bounced",
            ),
        )
        st.plotly_chart(fig, width="stretch")
    ui.table(
        daily,
        name=f"campaign-{cid}-daily",
        key="daily",
        column_config={"day": st.column_config.DateColumn("Day", format="ddd MMM D")},
    )
with tab_seq:
    steps = ui.cached(campaigns.campaign_steps, sc, wid, cid)
    st.caption(
        "Each step's variants (A is the original); stats summed over the synced days. Copy Lab tests which wins."
    )
    ui.table(
        steps.drop("body") if "body" in steps.columns else steps,
        name=f"campaign-{cid}-steps",
        key="steps",
        column_config={
            "reply_rate": st.column_config.NumberColumn("Reply rate", format="percent"),
            "interested_rate": st.column_config.NumberColumn("Interested rate", format="percent"),
            "subject": st.column_config.TextColumn("Subject", width="large"),
            "wait_in_days": st.column_config.NumberColumn("Wait (days)"),
        },
    )
    if steps.height:
        st.markdown("**The emails**")
        for i, r in enumerate(steps.iter_rows(named=True)):
            with st.expander(
                f"Step {r['step']}{r['variant']} · {r['subject'] or '(no subject)'}"
                + (f" · {r['sent']:,} sent" if r["sent"] else ""),
                expanded=i == 0,
            ):
                st.text(r["body"] or "(no body)")
with tab_senders:
    senders = ui.cached(campaigns.campaign_senders, sc, wid, cid)
    ui.table(senders, name=f"campaign-{cid}-senders", key="senders")
US_ZONES = [
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Phoenix",
    "America/Los_Angeles",
    "America/Anchorage",
    "Pacific/Honolulu",
]
with tab_sched:
    st.markdown(f"**Sending schedule:** {ui.md(campaigns.describe_schedule(schedule))}")
    if schedule is not None:
        st.caption(f"As synced from Email Bison at {schedule['synced_at']:%b %-d, %H:%M} UTC.")
    if ui.can("campaign.act"):
        with st.form(f"schedule-{wid}-{cid}"):
            st.caption("Change when this campaign may send; the change goes to Email Bison.")
            current = schedule or {
                "days": list(campaigns.WEEK[:5]),
                "start_time": dt.time(8, 0),
                "end_time": dt.time(17, 0),
                "timezone": "America/Chicago",
            }
            day_cols = st.columns(7)
            picked = [
                d
                for d, col in zip(campaigns.WEEK, day_cols, strict=True)
                if col.checkbox(
                    d[:3].title(), value=d in (current["days"] or []), key=f"sd-{wid}-{cid}-{d}"
                )
            ]
            t1, t2, t3 = st.columns([1, 1, 2])
            start = t1.time_input("From", current["start_time"], step=dt.timedelta(minutes=30))
            end = t2.time_input("Until", current["end_time"], step=dt.timedelta(minutes=30))
            zones = (
                US_ZONES if current["timezone"] in US_ZONES else [current["timezone"], *US_ZONES]
            )
            zone = t3.selectbox("Time zone", zones, index=zones.index(current["timezone"]))
            if st.form_submit_button("Save schedule in Email Bison", icon=":material/save:"):
                try:
                    saved = campaigns.set_campaign_schedule(
                        ui.db(),
                        ui.current_user(),
                        wid,
                        cid,
                        days=picked,
                        start_time=start,
                        end_time=end,
                        timezone=zone,
                    )
                except (campaigns.CampaignActionError, PermissionError) as exc:
                    st.error(ui.md(exc))
                else:
                    st.session_state["campaign_flash"] = (
                        f"Schedule saved: {campaigns.describe_schedule(saved)}."
                    )
                    st.rerun()
    st.divider()
    st.caption("What Email Bison will send next for this campaign, read live (first 300).")
    if st.button("Load scheduled emails", icon=":material/schedule:", key="load-scheduled"):
        try:
            with st.spinner("Asking Email Bison…"):
                st.session_state[f"scheduled-{wid}-{cid}"] = campaigns.scheduled_emails(
                    ui.db(), ui.current_user(), wid, cid
                )
        except campaigns.CampaignActionError as exc:
            st.error(ui.md(exc))
    sched = st.session_state.get(f"scheduled-{wid}-{cid}")
    if sched is not None:
        ui.table(
            sched,
            name=f"campaign-{cid}-scheduled",
            key="scheduled",
            column_config={
                "scheduled_for": st.column_config.DatetimeColumn(
                    "Scheduled for", format="MMM D, HH:mm"
                ),
                "sent_at": st.column_config.DatetimeColumn("Sent", format="MMM D, HH:mm"),
            },
        )
