"""The Revenue page's month: its figures, each named with its period, how they add up, and the
per-client table (pages/revenue.py shows it above its sections)."""

from __future__ import annotations

import datetime as dt

import polars as pl
import streamlit as st

from core.platform.scope import Scope
from core.revenue import admin as revenue_admin
from core.revenue import months as revenue
from core.revenue import reconcile
from pages import ui

dollars = revenue_admin.to_dollars
LABELS = {"client": st.column_config.TextColumn("Client")}
MODEL = {"model": st.column_config.TextColumn("Billing model")}


def usd0(cents: int | None) -> str:
    return ui.usd(cents, 0)


def show(
    table: pl.DataFrame, month: dt.date, today: dt.date, sc: Scope, from_snapshot: bool
) -> None:
    """The month's metrics, "How <month> adds up" and the per-client table. `table` is the
    month's live table or its snapshot."""
    current = revenue.month_start(today)
    M = f"{month:%b %Y}"  # noqa: N806 - the month as every label names it
    span = reconcile.window(month, today)
    to_date = " to date" if month == current else ""
    tot = revenue.totals(table)
    k1, k2, k3, k4 = st.columns(4)
    k1.metric(
        f"Billed for {M}{to_date}",
        usd0(tot["billed_by_model"]),
        help=f"What the work of {span} bills by each client's billing model: per-lead clients, "
        "interested leads × their price per lead; retainer clients, the monthly retainer.",
        border=True,
    )
    k2.metric(
        f"Costs of {M}{to_date}",
        usd0(tot["total_cost"]),
        help=f"Costs of {span}: contact data, verification, sending infrastructure (mailboxes and "
        "domains, shared by emails sent), Stripe fees charged in the month and manual cost lines.",
        border=True,
    )
    k3.metric(
        f"Profit on {M}'s billing",
        usd0(tot["profit"]),
        help=f"Billed for {M} less the costs of {M}, both for {span}. Cash received in the month "
        "(which pays for other months too) is not used.",
        border=True,
    )
    k4.metric(
        f"Margin, {M}",
        ui.pct(tot["margin"]),
        help=f"Profit on {M}'s billing ÷ billed for {M}; both for {span}.",
        border=True,
    )
    k5, k6, k7 = st.columns(3)
    k5.metric(
        f"Invoiced for {M}",
        usd0(tot["invoiced"]),
        f"{usd0(tot['collected'])} collected",
        delta_color="off",
        delta_arrow="off",
        help=f"Stripe invoices for the work of {M} (by the service period they bill, not the day "
        "they were sent), whenever sent, and how much of them has been paid so far.",
        border=True,
    )
    k6.metric(
        f"Cash received in {M}{to_date}",
        usd0(tot["cash_received"]),
        f"{usd0(tot['cash_for_earlier'])} of it for earlier months",
        delta_color="off",
        delta_arrow="off",
        help=f"Invoices paid {span}, whatever month they are for. How it splits is under "
        f"“How {M} adds up”.",
        border=True,
    )
    target = tot.get("target", 0)
    k7.metric(
        "Interested vs full-month target" if month == current else f"Interested vs {M} target",
        f"{tot['interested']:,} of {target:,}",
        f"{ui.pct(tot['interested'] / target)} of the target" if target else None,
        delta_color="off",
        delta_arrow="off",
        help=f"Interested leads of {span} (the Overview's count) against the clients' targets for "
        "the whole month. The Overview's pace compares the month so far with the target so far.",
        border=True,
    )
    unmapped_rev = ui.cached(revenue.unmapped_revenue, None, month)
    if unmapped_rev and sc.workspace_ids is None:
        st.warning(
            f"{ui.usd(unmapped_rev)} was paid in {M} by Stripe customers mapped to no client; "
            "see the Stripe customers section.",
            icon=":material/link_off:",
        )
    if not from_snapshot and (faults := reconcile.broken(tot)):
        st.error("These figures do not add up: " + "; ".join(faults), icon=":material/error:")

    with st.expander(f"How {M} adds up", expanded=True):
        cash = ui.cached(revenue.cash_by_service_month, sc, month)
        recon = reconcile.lines(tot, cash, month, today)
        st.caption(
            f"{span}. Each total equals the lines under it"
            + (", from the snapshot (cash by month from live data)." if from_snapshot else ".")
        )
        ui.table(
            recon.select(
                pl.when(pl.col("part"))
                .then(pl.lit("\u2003") + pl.col("figure"))
                .otherwise(pl.col("figure"))
                .alias("figure"),
                pl.col("amount") / 100,
            ),
            name=f"revenue-reconciliation-{month:%Y-%m}",
            key="reconcile",
            height=35 * (recon.height + 1) + 3,  # every line in view, no scrolling
            column_config={
                "figure": st.column_config.TextColumn("Figure", width="large"),
                "amount": st.column_config.NumberColumn("Amount", format="dollar"),
            },
        )
        if cash.height:
            by_month = (
                cash.with_columns(
                    pl.when(pl.col("for_month") > month)
                    .then(pl.lit("In advance, later months"))
                    .otherwise(pl.col("for_month").dt.strftime("For %b %Y"))
                    .alias("for")
                )
                .sort("for_month", descending=True)
                .pivot("for", index="client", values="cash", aggregate_function="sum")
                .fill_null(0)
            )
            st.caption(f"Cash received in {M}, per client, by the month it pays for")
            ui.table(
                by_month.with_columns(pl.exclude("client") / 100),
                name=f"revenue-cash-by-month-{month:%Y-%m}",
                key="cash-by-month",
                column_config={
                    "client": st.column_config.TextColumn("Client"),
                    **{
                        c: st.column_config.NumberColumn(c, format="dollar")
                        for c in by_month.columns
                        if c != "client"
                    },
                },
            )

    st.subheader(f"Per client, {M}{to_date}")
    show_cols = [
        "client",
        "model",
        "interested",
        "kpi_progress",
        *revenue.MONEY_COLUMNS,  # billed … profit, in the core's order
        "margin",
        "cost_per_interested",
        "billed_per_interested",
        "flags",
    ]
    view = dollars(
        table.with_columns(
            pl.col("billing_type")
            .map_elements(reconcile.model_label, return_dtype=pl.Utf8)
            .alias("model")
        ).select(show_cols)
    )

    def money(label: str, help_: str) -> st.column_config.NumberColumn:
        return st.column_config.NumberColumn(label, format="dollar", help=help_)

    PER_CLIENT = {
        "interested": st.column_config.NumberColumn(
            f"Interested, {M}{to_date}",
            format="localized",
            help=f"Interested leads of {span}, the Overview's count.",
        ),
        "kpi_progress": st.column_config.ProgressColumn(
            "Interested, of the full-month target",
            min_value=0.0,
            max_value=1.5,
            format="percent",
            help="Interested leads so far ÷ the client's target for the whole month.",
        ),
        "billed_by_model": money(
            f"Billed for {M}", "Interested leads × price per lead, or the monthly retainer."
        ),
        "invoiced": money(
            f"Invoiced for {M}", f"Stripe invoices for the work of {M}, by their service period."
        ),
        "not_yet_invoiced": money(
            "Not yet invoiced", f"Billed for {M} with no invoice for {M} yet."
        ),
        "invoice_difference": money(
            "Billed less invoiced",
            f"Billed for {M} less invoiced for it, where an invoice exists: discounts, plan "
            "changes, leads left off the invoice. Negative: Stripe invoiced more than the model.",
        ),
        "collected": money(f"Collected for {M}", f"Paid so far of the invoices for {M}."),
        "outstanding": money("Outstanding", f"Open invoices for {M}, not yet paid."),
        "written_off": money(
            "Written off", f"Invoices for {M} marked uncollectible or paid short."
        ),
        "cash_received": money(
            f"Cash received in {M}", f"Invoices paid {span}, whatever month they are for."
        ),
        "cash_for_month": money(f"… of it for {M}", f"Paid {span} for the work of {M}."),
        "cash_for_earlier": money(
            "… for earlier months", f"Paid {span} for months before {M} (by service period)."
        ),
        "cash_in_advance": money("… in advance", f"Paid {span} for months after {M}."),
        "refunds": money(f"Refunds in {M}", f"Refunds made {span}."),
        "net_cash": money(f"Net cash, {M}", "Cash received less refunds."),
        "data_cost": money("Contact data", f"Contacts pulled {span} × the price of their source."),
        "verification_cost": money(
            "Verification", f"Contacts verified {span} × the Debounce price."
        ),
        "sending_cost": money(
            "Sending", "Mailboxes' and domains' monthly price, shared by emails sent in the month."
        ),
        "stripe_fees": money("Stripe fees", f"Fees of the client's charges and refunds, {span}."),
        "manual_cost": money("Manual costs", f"Cost lines entered for {M}."),
        "total_cost": money(f"Costs of {M}", "The five costs before it."),
        "profit": money(f"Profit on {M}'s billing", f"Billed for {M} less the costs of {M}."),
        "margin": st.column_config.NumberColumn(
            f"Margin, {M}", format="percent", help=f"Profit ÷ billed for {M}."
        ),
        "cost_per_interested": money("Cost per interested lead", f"Costs ÷ interested, {span}."),
        "billed_per_interested": money(
            "Billed per interested lead", f"Billed ÷ interested, {span}."
        ),
        "flags": st.column_config.TextColumn(
            "Flags", width="medium", help="What does not add up in a closed month."
        ),
    }

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
        column_config={**LABELS, **MODEL, **PER_CLIENT},
        styler=colour,
    )
