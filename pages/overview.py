"""Overview: the morning board. Who is behind on interested replies, sending and next month's list."""

import datetime as dt

import plotly.graph_objects as go
import polars as pl
import streamlit as st

from core import overview
from core.accounts import workspaces
from core.platform import jobs, periods
from pages import ui

ui.ensure_router("overview")
st.title("Overview")
sc = ui.scope()
today = ui.today()
month_start, _, days_in_month = overview.month_bounds(today)

board = ui.cached(overview.guided_board, sc, today)

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
w_mtd, w_prev_mtd = periods.month_to_date(today), periods.same_days_last_month(today)
w_week, w_prev_week = periods.last_7_days(today), periods.previous_7_days(today)
target = k["target"]["monthly_target"]
expected = target * today.day / days_in_month
mtd, prev = k["mtd"], k["prev_mtd"]
week, prev_week = k["week"], k["prev_week"]
c1, c2, c3, c4, c5 = st.columns(5)
c1.metric(
    "Interested this month",
    f"{mtd['interested']:,}",
    ui.delta_pct(mtd["interested"], prev["interested"]),
    help=f"Interested leads {w_mtd.label}, today included; delta against {w_prev_mtd.span}.",
    border=True,
)
c2.metric(
    "Pace to date",
    ui.pct(mtd["interested"] / expected if expected else None, 0),
    f"{mtd['interested'] - expected:+,.0f} leads",
    help=(
        f"Interested leads so far against what the month's target of {target:,} calls for by "
        f"today: {expected:,.0f} ({today.day}/{days_in_month} of it). To date, not the whole month."
    ),
    border=True,
)
c3.metric(
    "Sent, last 7 days",
    ui.fmt_int(week["sent"]),
    ui.delta_pct(week["sent"], prev_week["sent"]),
    help=f"Emails sent {w_week.label}: complete days, ending yesterday; delta against {w_prev_week.span}.",
    border=True,
)
c4.metric(
    "Replies, last 7 days",
    ui.fmt_int(week["replies"]),
    ui.delta_pct(week["replies"], prev_week["replies"]),
    help=f"Replies received {w_week.label}: complete days, ending yesterday; delta against {w_prev_week.span}.",
    border=True,
)
c5.metric(
    "Reply rate this month",
    ui.pct(mtd["replies"] / mtd["sent"] if mtd["sent"] else None, 2),
    f"{(mtd['replies'] / mtd['sent'] - prev['replies'] / prev['sent']) * 100:+.2f} pts"
    if mtd["sent"] and prev["sent"]
    else None,
    help=f"Replies per email sent {w_mtd.label}; delta in points against {w_prev_mtd.span}.",
    border=True,
)

# -- per-client board ------------------------------------------------------------------------
counts = board["status"].value_counts()
n = {r["status"]: r["count"] for r in counts.iter_rows(named=True)}
st.subheader("Clients by risk")
st.caption(
    f":red-badge[{n.get('danger', 0)} danger] :orange-badge[{n.get('warning', 0)} warning] "
    f":green-badge[{n.get('on track', 0)} on track]"
    + (f" :blue-badge[{n['onboarding']} onboarding]" if n.get("onboarding") else "")
    + " — sorted worst first; the status counts this month's pace and next month's list."
)
STATUS_COLOURS = {
    "danger": "#fde2e1",
    "warning": "#fff1d6",
    "on track": "#e3f5e1",
    "onboarding": "#e0ecff",
}


def _style(pdf):
    def row_colour(row):
        colour = STATUS_COLOURS.get(row["status"], "")
        return [f"background-color: {colour}" if c == "status" else "" for c in row.index]

    def ratio_colour(v):
        if v is None or v != v:
            return ""
        return "color: #b42318" if v < 0.7 else ("color: #b54708" if v < 0.9 else "")

    return pdf.style.apply(row_colour, axis=1).map(ratio_colour, subset=["pace", "sending_vs_plan"])


can_see = ui.current_user().can_see
shown = board.with_columns(
    pl.struct("fix_page", "workspace_id", "fix_tab")
    .map_elements(
        lambda r: (
            ui.fix_link(r["fix_page"], r["workspace_id"], r["fix_tab"])
            if r["fix_page"] and can_see(r["fix_page"])
            else None
        ),
        return_dtype=pl.Utf8,
    )
    .alias("fix_link")
).drop("workspace_id", "ready_status", "reason", "fix_page", "fix_tab", "fix_where")
FIRST = ["client", "status", "reason_label", "fix_link"]
shown = shown.select(*FIRST, pl.exclude(FIRST))
ui.table(
    shown,
    name="client-board",
    styler=_style,
    column_config={
        "client": st.column_config.TextColumn("Client", width=250, pinned=True),
        "reason_label": st.column_config.TextColumn(
            "Main reason",
            width="large",
            help="The first thing to fix: setup, a campaign not sending, then whichever of this "
            "month's pace and next month's list is worse, by its likely cause.",
        ),
        "fix_link": st.column_config.LinkColumn(
            "Fix it", display_text="Open ›", help="The page where the main reason is fixed"
        ),
        "tier": st.column_config.TextColumn("Tier"),
        "target": st.column_config.NumberColumn(
            "Target", help="Interested replies a month", format="localized"
        ),
        "interested_mtd": st.column_config.NumberColumn(
            "Interested this month", help=f"Interested leads {w_mtd.label}", format="localized"
        ),
        "expected_by_today": st.column_config.NumberColumn("Expected by today", format="%.0f"),
        "pace": st.column_config.ProgressColumn(
            "Pace to date",
            min_value=0,
            max_value=1.5,
            format="percent",
            help="To date: interested this month ÷ expected by today (target × days gone ÷ days in the month)",
        ),
        "status": st.column_config.TextColumn("Status"),
        "sent_per_day": st.column_config.NumberColumn(
            "Sent/day, last 7 days",
            help=f"Emails sent a day on average {w_week.label}: complete days, ending yesterday",
            format="localized",
        ),
        "plan_per_day": st.column_config.NumberColumn("Plan/day", format="localized"),
        "sending_vs_plan": st.column_config.NumberColumn(
            "Sending vs plan",
            help=f"Sent/day {w_week.label} ÷ the package's emails a day",
            format="percent",
        ),
        "ready_next_month": st.column_config.NumberColumn(
            "Ready for next month",
            format="localized",
            help="Refined contacts (verified, batched or uploaded) for next month's campaigns",
        ),
        "plan_contacts": st.column_config.NumberColumn("Volume plan", format="localized"),
        "ready_vs_plan": st.column_config.ProgressColumn(
            "Next month ready", min_value=0, max_value=1, format="percent"
        ),
        "reply_rate": st.column_config.NumberColumn(
            "Reply rate this month",
            help="Replies per email sent this month so far",
            format="percent",
        ),
        "interested_rate": st.column_config.NumberColumn(
            "Interested/replies this month", format="percent"
        ),
    },
)

# -- what to do first: the worst clients' main reasons, each a link to where it is fixed ---------
todo = board.filter(
    pl.col("reason").is_not_null()
    & (pl.col("status") != "on track")
    & pl.col("fix_page").map_elements(can_see, return_dtype=pl.Boolean)
).head(5)
if todo.height:
    st.markdown("**What to do first**")
    for r in todo.iter_rows(named=True):
        st.page_link(
            f"pages/{r['fix_page']}.py",
            label=f"{r['client']} — {r['reason_label']} → {r['fix_where']}",
            icon=":material/arrow_forward:",
            query_params={"client": r["workspace_id"]}
            | ({"tab": r["fix_tab"]} if r["fix_tab"] else {}),
        )

# -- trends, funnel, stages, activity --------------------------------------------------------
st.subheader("Trends")
default_start = today - dt.timedelta(days=29)
picked = st.date_input(
    "Date range",
    value=(default_start, today),
    max_value=today,
    format="YYYY-MM-DD",
    help="For the chart, the funnel and contacts by stage. The cards and the board use the window each label names.",
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
    st.caption(
        f"Contacts imported {start:%b} {start.day}–{end:%b} {end.day}, and how far they got: "
        "each stage counts the contacts that reached it (replied: contacts with at least one "
        "reply that is not an auto-reply; interested: those among them that are interested "
        "leads). Uploaded here is Uploaded under Contacts by stage for the same range."
    )
    st.plotly_chart(fig, width="stretch")
    ui.table(f, name="funnel", key="funnel")
with tab_stages:
    stages = ui.cached(overview.contacts_by_stage, sc, start, end)
    st.caption(
        f"Contacts imported {start:%b} {start.day}–{end:%b} {end.day} by the stage they stand "
        "at now, in pipeline order (rejected and invalid: removed by the rules or verification)."
    )
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
