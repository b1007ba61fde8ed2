"""Overview: the morning board. Who is behind on interested replies, sending and next month's list."""

import datetime as dt

import plotly.graph_objects as go
import polars as pl
import streamlit as st

from core import overview
from core.accounts import workspaces
from core.platform import jobs
from pages import ui

ui.ensure_router("overview")
st.title("Overview")
sc = ui.scope()
today = ui.today()
month_start, _, days_in_month = overview.month_bounds(today)

board = ui.cached(overview.client_board, sc, today)

if board.height == 0:
    st.info(
        "No clients yet. Add your first client under **Settings → Clients**, or load the demo "
        "dataset to look around: twelve insurance agents with territories, campaigns, replies and invoices."
    )
    if (
        ui.can("demo.load")
        and ui.cached(workspaces.none_yet, None)
        and st.button("Load demo data", type="primary", icon=":material/play_arrow:")
    ):
        with st.spinner("Loading the demo dataset…"):
            jobs.run(
                ui.db(), "demo", {"scale": "small", "actor": ui.actor()}, requested_by=ui.actor()
            )
        st.rerun()
    if ui.can("settings.manage") and ui.cached(workspaces.none_yet, None):
        from pages import settings_setup  # a new install: what it still needs, first

        st.subheader("Setting up")
        settings_setup.render(ui.current_user(), agency_only=True)
        st.page_link("pages/settings.py", label="Settings → Setup: the whole checklist")
    st.stop()

st.caption(
    f"{today:%A, %B} {today.day} — day {today.day} of {days_in_month}. "
    "Interested replies month-to-date against each client's target and where they should be by today."
)

# -- KPI cards -------------------------------------------------------------------------------
k = ui.cached(overview.agency_kpis, sc, today)
target = k["target"]["monthly_target"]
expected = target * today.day / days_in_month
mtd, prev = k["mtd"], k["prev_mtd"]
week, prev_week = k["week"], k["prev_week"]
c1, c2, c3, c4, c5 = st.columns(5)
c1.metric(
    "Interested MTD",
    f"{mtd['interested']:,}",
    ui.delta_pct(mtd["interested"], prev["interested"]),
    help="Interested replies this month against the clients' total target; delta against the same days last month.",
    border=True,
)
c2.metric(
    f"Pace to target {target:,}",
    ui.pct(mtd["interested"] / expected if expected else None, 0),
    f"{mtd['interested'] - expected:+,.0f} leads",
    help=f"Expected by today: {expected:,.0f} ({today.day}/{days_in_month} of the month's target).",
    border=True,
)
c3.metric(
    "Emails sent (7 days)",
    ui.fmt_int(week["sent"]),
    ui.delta_pct(week["sent"], prev_week["sent"]),
    help="Delta against the 7 days before.",
    border=True,
)
c4.metric(
    "Replies (7 days)",
    ui.fmt_int(week["replies"]),
    ui.delta_pct(week["replies"], prev_week["replies"]),
    help="Delta against the 7 days before.",
    border=True,
)
c5.metric(
    "Reply rate MTD",
    ui.pct(mtd["replies"] / mtd["sent"] if mtd["sent"] else None, 2),
    f"{(mtd['replies'] / mtd['sent'] - prev['replies'] / prev['sent']) * 100:+.2f} pts"
    if mtd["sent"] and prev["sent"]
    else None,
    help="Replies per email sent this month; delta in points against the same days last month.",
    border=True,
)

# -- per-client board ------------------------------------------------------------------------
counts = board["status"].value_counts()
n = {r["status"]: r["count"] for r in counts.iter_rows(named=True)}
st.subheader("Clients by risk")
st.caption(
    f":red-badge[{n.get('danger', 0)} danger] :orange-badge[{n.get('warning', 0)} warning] "
    f":green-badge[{n.get('on track', 0)} on track] — sorted worst first; click a header to sort."
)
STATUS_COLOURS = {"danger": "#fde2e1", "warning": "#fff1d6", "on track": "#e3f5e1"}


def _style(pdf):
    def row_colour(row):
        colour = STATUS_COLOURS.get(row["status"], "")
        return [f"background-color: {colour}" if c == "status" else "" for c in row.index]

    def ratio_colour(v):
        if v is None or v != v:
            return ""
        return "color: #b42318" if v < 0.7 else ("color: #b54708" if v < 0.9 else "")

    return pdf.style.apply(row_colour, axis=1).map(ratio_colour, subset=["pace", "sending_vs_plan"])


shown = board.drop("workspace_id")
ui.table(
    shown,
    name="client-board",
    styler=_style,
    column_config={
        "client": st.column_config.TextColumn("Client", width="medium"),
        "tier": st.column_config.TextColumn("Tier"),
        "target": st.column_config.NumberColumn(
            "Target", help="Interested replies a month", format="localized"
        ),
        "interested_mtd": st.column_config.NumberColumn("Interested MTD", format="localized"),
        "expected_by_today": st.column_config.NumberColumn("Expected by today", format="%.0f"),
        "pace": st.column_config.ProgressColumn(
            "Pace",
            min_value=0,
            max_value=1.5,
            format="percent",
            help="Interested MTD ÷ expected by today",
        ),
        "status": st.column_config.TextColumn("Status"),
        "sent_per_day": st.column_config.NumberColumn("Sent/day (7d)", format="%d"),
        "plan_per_day": st.column_config.NumberColumn("Plan/day", format="localized"),
        "sending_vs_plan": st.column_config.NumberColumn("Sending vs plan", format="percent"),
        "ready_next_month": st.column_config.NumberColumn(
            "Ready for next month",
            format="localized",
            help="Refined contacts (verified, batched or uploaded) for next month's campaigns",
        ),
        "plan_contacts": st.column_config.NumberColumn("Volume plan", format="localized"),
        "ready_vs_plan": st.column_config.ProgressColumn(
            "Next month ready", min_value=0, max_value=1, format="percent"
        ),
        "reply_rate": st.column_config.NumberColumn("Reply rate", format="percent"),
        "interested_rate": st.column_config.NumberColumn("Interested/replies", format="percent"),
    },
)

# -- trends, funnel, stages, activity --------------------------------------------------------
st.subheader("Trends")
default_start = today - dt.timedelta(days=29)
picked = st.date_input(
    "Date range",
    value=(default_start, today),
    max_value=today,
    format="YYYY-MM-DD",
    help="For the chart and the funnel. KPI cards and the board are always month-to-date.",
)
start, end = picked if isinstance(picked, tuple) and len(picked) == 2 else (default_start, today)

tab_series, tab_funnel, tab_stages, tab_activity = st.tabs(
    ["Sent, replies, interested", "Funnel", "Contacts by stage", "Activity"]
)
with tab_series:
    series = ui.cached(overview.daily_series, sc, start, end)
    fig = go.Figure()
    fig.add_bar(x=series["day"], y=series["sent"], name="Sent", marker_color="#c7d2fe", yaxis="y")
    fig.add_scatter(
        x=series["day"],
        y=series["replies"],
        name="Replies",
        mode="lines+markers",
        yaxis="y2",
        line_color="#2563eb",
    )
    fig.add_scatter(
        x=series["day"],
        y=series["interested"],
        name="Interested",
        mode="lines+markers",
        yaxis="y2",
        line_color="#16a34a",
    )
    fig.update_layout(
        height=360,
        margin=dict(l=10, r=10, t=10, b=10),
        legend=dict(orientation="h", y=1.08),
        yaxis=dict(title="Sent", rangemode="tozero"),
        yaxis2=dict(title="Replies / interested", overlaying="y", side="right", rangemode="tozero"),
    )
    st.plotly_chart(fig, width="stretch")
    ui.table(
        series,
        name="daily-series",
        key="series",
        column_config={"day": st.column_config.DateColumn("Day", format="ddd MMM D")},
    )
with tab_funnel:
    f = ui.cached(overview.funnel, sc, start, end)
    fig = go.Figure(
        go.Funnel(y=f["stage"].to_list(), x=f["count"].to_list(), textinfo="value+percent initial")
    )
    fig.update_layout(height=360, margin=dict(l=10, r=10, t=10, b=10))
    st.caption("Contacts imported in the date range, and how far they got.")
    st.plotly_chart(fig, width="stretch")
    ui.table(f, name="funnel", key="funnel")
with tab_stages:
    stages = ui.cached(overview.contacts_by_stage, sc)
    st.bar_chart(stages.to_pandas().set_index("status"), horizontal=True, height=280)
    ui.table(stages, name="contacts-by-stage", key="stages")
with tab_activity:
    feed = ui.cached(overview.activity_feed, sc, 40)
    ui.table(
        feed.with_columns(pl.col("happened_at")),
        name="activity",
        key="activity",
        column_config={
            "happened_at": st.column_config.DatetimeColumn("When", format="MMM D, HH:mm"),
            "detail": st.column_config.TextColumn("Detail", width="large"),
        },
    )
