"""Revenue: per-client revenue, costs, profit and margin for a month; MRR movements, the running
month's forecast, history, snapshots and Stripe customers no client owns yet."""

import plotly.graph_objects as go
import polars as pl
import streamlit as st

from core.accounts import workspaces
from core.platform import jobs
from core.platform.renewals import add_months
from core.revenue import admin as revenue_admin
from core.revenue import months as revenue
from core.revenue import stripe_sync
from pages import ui
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
    c: st.column_config.NumberColumn(c.replace("_", " ").capitalize(), format="dollar")
    for c in revenue_admin.CENTS_COLUMNS
}
MONEY["mrr"] = st.column_config.NumberColumn("MRR", format="dollar")
MONEY["starting_mrr"] = st.column_config.NumberColumn("Starting MRR", format="dollar")
LABELS = {
    c: st.column_config.Column(c.replace("_", " ").capitalize())
    for c in [
        "client",
        "interested",
        "customers",
        "category",
        "note",
        "figure",
        "updated_by",
        "name",
        "email",
    ]
}
PCT = {
    "margin": st.column_config.NumberColumn("Margin", format="percent"),
    "kpi_progress": st.column_config.ProgressColumn(
        "Interested vs target", min_value=0.0, max_value=1.5, format="percent"
    ),
    "revenue_mom": st.column_config.NumberColumn("Revenue MoM", format="percent"),
}

# -- month picker and Sync now -----------------------------------------------------------------
months = [add_months(current, -k) for k in range(24)]
c1, c2, c3 = st.columns([2, 1, 3], vertical_alignment="bottom")
month = c1.selectbox(
    "Month",
    months,
    format_func=lambda m: f"{m:%B %Y}" + (" (running)" if m == current else ""),
    key="revenue-month",
)
running = st.session_state.get("stripe_job")
if c2.button(
    "Sync Stripe now",
    icon=":material/sync:",
    disabled=bool(running) or not ui.can("sync.run"),
    help="Fetch what is new in Stripe." if ui.can("sync.run") else "Your role cannot start syncs.",
):
    try:
        st.session_state["stripe_job"] = jobs.start(
            database, "sync.stripe", {"actor": ui.actor()}, requested_by=ui.actor()
        )
        st.rerun()
    except jobs.JobError as exc:
        st.warning(str(exc))
last_sync = stripe_sync.last_success(database)
c3.caption("Stripe last synced " + (f"{last_sync:%b %d, %H:%M} UTC" if last_sync else "never"))
if not stripe_sync.configured(database):
    secret_notice.missing_secret("No Stripe key: there is nothing to sync from.", c3)
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
        f"{snap['saved_at'].max():%b %d, %Y} by {ui.md(snap['saved_by'][0])}. "
        "Differences against today's data are listed below the table.",
        icon=":material/lock:",
    )
if table.height == 0:
    st.info("No clients for this month yet. Add clients under Settings, or load the demo data.")
    st.stop()

tot = revenue.totals(table)
k1, k2, k3 = st.columns(3)
k4, k5, k6 = st.columns(3)
k1.metric("Revenue", usd0(tot["revenue"]), help="Paid invoices less refunds.", border=True)
k2.metric("Costs", usd0(tot["total_cost"]), border=True)
k3.metric("Profit", usd0(tot["profit"]), border=True)
k4.metric("Margin", ui.pct(tot["margin"]), border=True)
k5.metric(
    "Interested vs target",
    f"{tot['interested']:,} / {tot.get('target', 0):,}",
    help="Interested leads (the Overview's count) against the clients' monthly targets.",
    border=True,
)
k6.metric(
    "Billed by model / invoiced",
    f"{usd0(tot['billed_by_model'])} / {usd0(tot['invoiced'])}",
    help="What the month should bill (leads × price, or the retainer) and what Stripe invoiced for it.",
    border=True,
)
unmapped_rev = ui.cached(revenue.unmapped_revenue, None, month)
if unmapped_rev and sc.workspace_ids is None:
    st.warning(
        f"{ui.usd(unmapped_rev)} was paid this month by Stripe customers mapped to no client; "
        "see the Stripe customers tab.",
        icon=":material/link_off:",
    )

st.subheader("Per client")
show_cols = [
    "client",
    "billing_type",
    "interested",
    "kpi_progress",
    *revenue.MONEY_COLUMNS,  # billed by model … profit, in the core's order
    "margin",
    "cost_per_interested",
    "revenue_per_interested",
    "flags",
]
view = dollars(table.select(show_cols))


def colour(pdf):
    def sign(v):
        if v is None or v != v:
            return ""
        return "color: #1a7f37" if v > 0 else ("color: #cf222e" if v < 0 else "")

    def flag(v):
        return "background-color: #fff4e5" if isinstance(v, str) and v else ""

    return pdf.style.map(sign, subset=["profit", "margin"]).map(flag, subset=["flags"])


ui.table(
    view,
    name=f"revenue-{month:%Y-%m}",
    key="per-client",
    column_config={
        **LABELS,
        **MONEY,
        **PCT,
        "billing_type": st.column_config.TextColumn("Model"),
        "flags": st.column_config.TextColumn("Flags", width="medium"),
    },
    styler=colour,
)
if from_snapshot:
    diffs = revenue_admin.snapshot_differences(snap, live)
    with st.expander(f"Differences against live data ({diffs.height})", expanded=diffs.height > 0):
        if diffs.height:
            ui.table(
                dollars(diffs),
                name=f"snapshot-differences-{month:%Y-%m}",
                key="snap-diff",
                column_config=MONEY,
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
        "Forecast",
        usd0(fc["forecast"]),
        ui.pct(fc["vs_last_month"]) if fc["vs_last_month"] is not None else None,
        help="Change against last month's billed-by-model total.",
        border=True,
    )
    f2.metric("Range", f"{usd0(fc['low'])} – {usd0(fc['high'])}", border=True)
    f3.metric("Booked recurring", usd0(fc["booked_recurring"]), border=True)
    f4.metric(
        "Last month billed",
        usd0(fc["last_month_billed"]),
        f"collected {usd0(fc['last_month_revenue'])}",
        delta_color="off",
        border=True,
    )
    ui.table(
        dollars(fc["per_client"].drop("workspace_id")),
        name="revenue-forecast",
        key="forecast",
        column_config={**LABELS, **MONEY, "billing_type": st.column_config.TextColumn("Model")},
    )

if section == "History":
    hist = dollars(ui.cached(revenue.history, sc, 24, today))
    fig = go.Figure()
    fig.add_bar(
        x=hist["month"].to_list(),
        y=hist["revenue"].to_list(),
        name="Revenue",
        marker_color="#0969da",
    )
    fig.add_bar(
        x=hist["month"].to_list(),
        y=hist["total_cost"].to_list(),
        name="Costs",
        marker_color="#bf8700",
    )
    fig.add_scatter(
        x=hist["month"].to_list(),
        y=hist["profit"].to_list(),
        name="Profit",
        mode="lines+markers",
        line={"color": "#1a7f37", "width": 3},
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
            **PCT,
            "month": st.column_config.DateColumn("Month", format="MMM YYYY"),
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
        column_config=MONEY,
    )
