"""Revenue: per client and month, what the month's work bills, what was invoiced and collected
for it, the cash received in it (for this month, earlier months and later ones), costs, profit and
margin on the month's billing; how the month adds up; MRR movements, the running month's forecast,
history, snapshots and Stripe customers no client owns yet."""

import plotly.graph_objects as go
import polars as pl
import streamlit as st

from core.accounts import workspaces
from core.platform import jobs
from core.platform.renewals import add_months
from core.revenue import admin as revenue_admin
from core.revenue import months as revenue
from core.revenue import reconcile, stripe_sync
from pages import revenue_month, ui
from pages.components import secret_notice
from pages.components.job_progress import job_progress

ui.ensure_router("revenue")
st.title("Revenue")
sc = ui.scope()
database = ui.db()
today = ui.today()
current = revenue.month_start(today)
dollars = revenue_admin.to_dollars  # every money column of a frame, cents to dollars


def usd0(cents: int | None) -> str:
    return ui.usd(cents, 0)


MONEY = {
    c: st.column_config.NumberColumn(ui.label_of(c), format="dollar")
    for c in revenue_admin.CENTS_COLUMNS
}
MONEY["mrr"] = st.column_config.NumberColumn("MRR", format="dollar")
MONEY["starting_mrr"] = st.column_config.NumberColumn("Starting MRR", format="dollar")
LABELS = {
    c: st.column_config.Column(ui.label_of(c))
    for c in [
        "client",
        "customers",
        "category",
        "note",
        "figure",
        "updated_by",
        "name",
        "email",
    ]
}
MODEL = {"model": st.column_config.TextColumn("Billing model")}
MONTH_COL = {"month": st.column_config.DateColumn("Month", format="MMM YYYY")}

# -- month picker and Stripe's state ----------------------------------------------------------
months = [add_months(current, -k) for k in range(24)]
c1, c2, c3 = st.columns([2, 1, 3], vertical_alignment="bottom")
month = c1.selectbox(
    "Month",
    months,
    format_func=lambda m: f"{m:%B %Y}" + (" (running)" if m == current else ""),
    key="revenue-month",
)
stripe = stripe_sync.status(database)
running = st.session_state.get("stripe_job")
if not ui.can("sync.run"):
    sync_help = "Your role cannot start syncs."
elif not stripe["configured"]:
    sync_help = "Stripe is not connected: there is nothing to sync from."
else:
    sync_help = "Fetch what is new in Stripe."
if c2.button(
    "Sync Stripe now",
    icon=":material/sync:",
    disabled=bool(running) or not ui.can("sync.run") or not stripe["configured"],
    help=sync_help,
):
    try:
        st.session_state["stripe_job"] = jobs.start(
            database, "sync.stripe", {"actor": ui.actor()}, requested_by=ui.actor()
        )
        st.rerun()
    except jobs.JobError as exc:
        st.warning(str(exc))
if not stripe["configured"]:
    stored = (
        "The Stripe figures below are the demo's sample data."
        if stripe["sample"]
        else "The Stripe figures below are what earlier syncs stored."
    )
    secret_notice.missing_secret(f"Stripe is not connected, so nothing syncs. {stored}", c3)
elif stripe["last_sync"]:
    c3.caption(f"Stripe last synced {stripe['last_sync']:%b %-d, %Y, %H:%M} UTC")
else:
    c3.caption("Stripe is connected; no sync has finished yet.")
job_progress(
    "stripe_job",
    label=lambda job: f"Stripe: {job['message'] or job['stage'] or 'starting'}",
    on_done=lambda job: (
        ("success", "Stripe sync finished.")
        if job["status"] == "succeeded"
        else ("error", f"Stripe sync {job['status']}: {job['error']}")
    ),
    flash_key="stripe_flash",
)

# -- the month: live, or its snapshot when the month is closed and one was saved ---------------
# last month and this one in one read: the table, and the forecast when this is the running month
window = ui.cached(revenue.client_months, sc, add_months(month, -1), month, today)
live = revenue.of_month(window, month)
# a closed month's snapshot, with the same derived figures as the live table
snap = ui.cached(revenue_admin.snapshot, sc, month) if month < current else pl.DataFrame()
from_snapshot = snap.height > 0
table = snap if from_snapshot else live
if from_snapshot:
    st.info(
        f"{month:%B %Y} is closed: figures are from the snapshot saved "
        f"{snap['saved_at'].max():%b %-d, %Y} by {ui.md(snap['saved_by'][0])}. "
        "Differences against today's data are listed below the table.",
        icon=":material/lock:",
    )
if table.height == 0:
    st.info("No clients for this month yet. Add clients under Settings, or load the demo data.")
    st.stop()

# Every figure says which month it is for; the running month's are to date.
revenue_month.show(table, month, today, sc, from_snapshot)
if from_snapshot:
    diffs = revenue_admin.snapshot_differences(snap, live)
    with st.expander(f"Differences against live data ({diffs.height})", expanded=diffs.height > 0):
        if diffs.height:
            ui.table(
                dollars(
                    diffs.with_columns(
                        pl.col("figure").map_elements(ui.label_of, return_dtype=pl.Utf8)
                    )
                ),
                name=f"snapshot-differences-{month:%Y-%m}",
                key="snap-diff",
                column_config={**LABELS, **MONEY},
            )
        else:
            st.caption("Live data still matches the snapshot.")

SECTIONS = ["MRR", "Forecast", "History", "Manual costs", "Snapshots", "Stripe customers"]
# One section at a time: only the chosen one's queries run.
section = (
    st.segmented_control(
        "Section", SECTIONS, default="MRR", key="revenue-section", label_visibility="collapsed"
    )
    or "MRR"
)

if section == "MRR":
    mv = ui.cached(revenue_admin.mrr_movements, sc, 13, today)
    mv_usd = dollars(mv)
    row = mv.filter(pl.col("month") == month)
    if row.height:
        r = row.row(0, named=True)
        r_usd = dollars(row).row(0, named=True)
        parts = ["starting_mrr", *revenue_admin.mrr.MOVEMENTS, "mrr"]
        fig = go.Figure(
            go.Waterfall(
                x=["Start", *(m.capitalize() for m in revenue_admin.mrr.MOVEMENTS), "End"],
                y=[r_usd[c] for c in parts],
                measure=["absolute", *["relative"] * len(revenue_admin.mrr.MOVEMENTS), "total"],
                text=[ui.usd(r[c]) for c in parts],
                textposition="outside",
                increasing={"marker": {"color": "#2da44e"}},
                decreasing={"marker": {"color": "#cf222e"}},
                totals={"marker": {"color": "#0969da"}},
            )
        )
        fig.update_layout(
            title=f"MRR movements, {month:%B %Y}",
            height=360,
            margin={"t": 50, "b": 10},
            yaxis_tickprefix="$",
            showlegend=False,
        )
        st.plotly_chart(fig, width="stretch")
    trend = go.Figure()
    for m, colour_ in zip(
        revenue_admin.mrr.MOVEMENTS,
        ["#2da44e", "#4ac26b", "#fb8f44", "#cf222e", "#8250df"],
        strict=True,
    ):
        trend.add_bar(
            x=mv["month"].to_list(),
            y=mv_usd[m].to_list(),
            name=m.capitalize(),
            marker_color=colour_,
        )
    trend.add_scatter(
        x=mv["month"].to_list(),
        y=mv_usd["mrr"].to_list(),
        name="MRR",
        mode="lines+markers",
        line={"color": "#0969da", "width": 3},
    )
    trend.update_layout(
        barmode="relative",
        height=320,
        margin={"t": 20, "b": 10},
        yaxis_tickprefix="$",
        legend={"orientation": "h"},
    )
    st.plotly_chart(trend, width="stretch")
    st.caption(
        "Recurring revenue from Stripe subscriptions: annual plans count a twelfth a month, "
        "recurring discounts are applied, trials and per-lead usage are left out."
    )
    ui.table(
        mv_usd.sort("month", descending=True),
        name="mrr-movements",
        key="mrr",
        column_config={
            **LABELS,
            **MONEY,
            "month": st.column_config.DateColumn("Month", format="MMM YYYY"),
        },
    )

if section == "Forecast":
    fc_window = (
        window
        if month == current
        else ui.cached(revenue.client_months, sc, add_months(current, -1), current, today)
    )
    fc = revenue_admin.forecast(database, sc, today, fc_window)
    st.caption(
        f"{fc['month']:%B %Y}, day {fc['days_elapsed']} of {fc['days_in_month']}: booked recurring "
        "revenue plus per-lead usage so far and the rest of the month at each client's pace. "
        "The range is an 80% interval."
    )
    f1, f2, f3, f4 = st.columns(4)
    f1.metric(
        f"Forecast billing, {fc['month']:%b %Y} (whole month)",
        usd0(fc["forecast"]),
        ui.pct(fc["vs_last_month"]) if fc["vs_last_month"] is not None else None,
        help="What the whole running month is expected to bill; the change is against last "
        "month's billed-by-model total.",
        border=True,
    )
    f2.metric(
        "Range (80%)",
        f"{usd0(fc['low'])} – {usd0(fc['high'])}",
        help="An 80% interval, treating each client's remaining leads as Poisson counts.",
        border=True,
    )
    f3.metric(
        f"Booked recurring, {fc['month']:%b %Y}",
        usd0(fc["booked_recurring"]),
        help="Subscriptions' MRR today, or the retainer of a retainer client without one.",
        border=True,
    )
    f4.metric(
        f"Billed for {add_months(fc['month'], -1):%b %Y}",
        usd0(fc["last_month_billed"]),
        f"net cash received {usd0(fc['last_month_cash'])}",
        delta_color="off",
        delta_arrow="off",
        help=f"Billed for {add_months(fc['month'], -1):%B %Y} by the billing models; beneath it, "
        "the cash received in that month (which paid for earlier months too).",
        border=True,
    )
    ui.table(
        dollars(
            fc["per_client"]
            .with_columns(
                pl.col("billing_type")
                .map_elements(reconcile.model_label, return_dtype=pl.Utf8)
                .alias("model")
            )
            .select(
                "client", "model", pl.exclude("workspace_id", "client", "billing_type", "model")
            )
        ),
        name="revenue-forecast",
        key="forecast",
        column_config={**LABELS, **MONEY, **MODEL},
    )

# History: one row per month, each figure for the month of its row.
HISTORY_MONEY = {
    "billed_by_model": ("Billed", "What the month's work bills by the billing models."),
    "invoiced": ("Invoiced for it", "Stripe invoices for the month's work, by service period."),
    "not_yet_invoiced": ("Not yet invoiced", "Billed for the month with no invoice for it yet."),
    "invoice_difference": ("Billed less invoiced", "Discounts, plan changes, leads left off."),
    "collected": ("Collected for it", "Paid so far of the month's invoices."),
    "outstanding": ("Outstanding", "Open invoices for the month."),
    "written_off": ("Written off", "Uncollectible or paid short."),
    "cash_received": ("Cash received in it", "Invoices paid in the month, for any month."),
    "cash_for_month": ("… for that month", "Paid in the month for its own work."),
    "cash_for_earlier": ("… for earlier months", "Paid in the month for months before it."),
    "cash_in_advance": ("… in advance", "Paid in the month for months after it."),
    "refunds": ("Refunds", "Refunds made in the month."),
    "net_cash": ("Net cash", "Cash received less refunds."),
    "total_cost": ("Costs", "The month's costs."),
    "profit": ("Profit on billing", "Billed less the month's costs."),
}

if section == "History":
    hist = dollars(ui.cached(revenue.history, sc, 24, today))
    fig = go.Figure()
    fig.add_bar(
        x=hist["month"].to_list(),
        y=hist["billed_by_model"].to_list(),
        name="Billed for the month",
        marker_color="#0969da",
    )
    fig.add_bar(
        x=hist["month"].to_list(),
        y=hist["total_cost"].to_list(),
        name="Costs of the month",
        marker_color="#bf8700",
    )
    fig.add_scatter(
        x=hist["month"].to_list(),
        y=hist["profit"].to_list(),
        name="Profit on the month's billing",
        mode="lines+markers",
        line={"color": "#1a7f37", "width": 3},
    )
    fig.add_scatter(
        x=hist["month"].to_list(),
        y=hist["cash_received"].to_list(),
        name="Cash received in the month",
        mode="lines",
        line={"color": "#8250df", "width": 2, "dash": "dot"},
    )
    fig.update_layout(
        barmode="group",
        height=360,
        margin={"t": 20, "b": 10},
        yaxis_tickprefix="$",
        legend={"orientation": "h"},
    )
    st.plotly_chart(fig, width="stretch")
    ui.table(
        hist.sort("month", descending=True),
        name="revenue-history",
        key="history",
        column_config={
            **LABELS,
            **MONEY,
            **MONTH_COL,
            **{
                c: st.column_config.NumberColumn(label, format="dollar", help=help_)
                for c, (label, help_) in HISTORY_MONEY.items()
            },
            "interested": st.column_config.NumberColumn(
                "Interested", format="localized", help="Interested leads of the month."
            ),
            "margin": st.column_config.NumberColumn(
                "Margin", format="percent", help="Profit on the month's billing ÷ its billing."
            ),
            "billed_mom": st.column_config.NumberColumn(
                "Billed, change on the month before", format="percent"
            ),
            "profit_change": st.column_config.NumberColumn(
                "Profit, change on the month before", format="dollar"
            ),
        },
    )

if section == "Manual costs":
    costs = dollars(
        ui.cached(revenue_admin.manual_costs, sc, month).rename({"amount_cents": "amount"})
    )
    st.caption(
        "Costs the data cannot know (account management, one-off list purchases). Data, "
        "verification, sending and Stripe fees are computed from usage and the prices in Settings."
    )
    if ui.can("revenue.manage"):
        names = list(ui.cached(workspaces.labels, None).values())
        edited = st.data_editor(
            costs.select("client", "category", "amount", "note").to_pandas(),
            num_rows="dynamic",
            key=f"costs-{month}",
            column_config={
                "client": st.column_config.SelectboxColumn("Client", options=names, required=True),
                "category": st.column_config.TextColumn("Category", required=True),
                "amount": st.column_config.NumberColumn("Amount (USD)", format="dollar", step=0.01),
                "note": st.column_config.TextColumn("Note"),
            },
            width="stretch",
        )
        if st.button("Save cost lines", type="primary", key="save-costs"):
            try:
                changes = revenue_admin.save_manual_costs(
                    database, ui.current_user(), month, edited.to_dict("records")
                )
                st.success(
                    f"Saved: {changes['added']} added, {changes['changed']} changed, "
                    f"{changes['removed']} removed (audited)."
                )
            except revenue_admin.RevenueError as exc:
                st.error(str(exc))
    with st.expander("Saved cost lines", expanded=not ui.can("revenue.manage")):
        ui.table(
            costs,
            name=f"manual-costs-{month:%Y-%m}",
            key="costs-table",
            column_config={**LABELS, **MONEY},
        )

if section == "Snapshots":
    st.caption(
        "A snapshot keeps a month's numbers as they are now. A closed month with a snapshot is "
        "shown from it, and later changes in Stripe or costs are listed as differences."
    )
    if ui.can("revenue.manage"):
        if st.button(
            f"Save snapshot of {month:%B %Y}", icon=":material/photo_camera:", key="save-snap"
        ):
            n = revenue_admin.save_snapshot(database, ui.current_user(), month, today)
            st.success(f"Saved a snapshot of {month:%B %Y} for {n} clients.")
            st.rerun()
    ui.table(
        dollars(ui.cached(revenue_admin.snapshot_months, None)),
        name="revenue-snapshots",
        key="snapshots",
        column_config={**MONEY, "month": st.column_config.DateColumn("Month", format="MMM YYYY")},
    )

if section == "Stripe customers":
    unmapped = ui.cached(stripe_sync.unmapped_customers, None)
    st.caption(
        "Stripe customers belong to a client through their metadata `leadops_workspace` (the "
        "client's name or id) or a mapping made under Settings → Stripe customers."
    )
    ui.table(
        dollars(unmapped.rename({"paid_cents": "paid"})),
        name="stripe-unmapped-customers",
        key="unmapped",
        column_config={
            **MONEY,
            **LABELS,
            "created": st.column_config.DatetimeColumn("Created", format="MMM D, YYYY"),
            "paid": st.column_config.NumberColumn("Paid so far", format="dollar"),
        },
    )
