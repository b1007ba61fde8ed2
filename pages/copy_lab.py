"""Copy Lab: which subject lines and bodies win, with intervals, corrected tests and plain verdicts."""

import datetime as dt

import plotly.graph_objects as go
import polars as pl
import streamlit as st

from core.campaigns import campaigns
from core.copylab import report as copylab
from pages import ui

ui.ensure_router("copy_lab")
st.title("Copy Lab")
sc = ui.scope()
today = ui.today()

c1, c2, c3, c4 = st.columns([1, 1, 1, 2])
metric = c1.radio(
    "Metric",
    ["interested", "replies"],
    horizontal=True,
    format_func=lambda m: "Interested rate" if m == "interested" else "Reply rate",
)
correction = c2.radio(
    "Correction",
    ["holm", "bh"],
    horizontal=True,
    format_func=lambda c: "Holm" if c == "holm" else "Benjamini–Hochberg",
    help="Across the variants of one step. Holm controls the chance of any false winner; "
    "Benjamini–Hochberg the share of false winners.",
)
picked = c3.date_input(
    "Sent between",
    value=(today - dt.timedelta(days=89), today),
    max_value=today,
    format="YYYY-MM-DD",
)
start, end = (
    picked
    if isinstance(picked, tuple) and len(picked) == 2
    else (today - dt.timedelta(days=89), today)
)
camp_table = ui.cached(campaigns.list_campaigns, sc)
camp_options = [None] + [(r["workspace_id"], r["id"]) for r in camp_table.iter_rows(named=True)]
camp_labels = {
    (r["workspace_id"], r["id"]): f"{r['client']} — {r['campaign']}"
    for r in camp_table.iter_rows(named=True)
}
camp = c4.selectbox(
    "Campaign", camp_options, format_func=lambda k: "All campaigns" if k is None else camp_labels[k]
)
campaign_id = camp[1] if camp else None
if camp:
    sc = sc.narrow(camp[0])

ov = ui.cached(copylab.copy_overview, sc, start=start, end=end, campaign_id=campaign_id)
if not ov.get("sent"):
    st.info(
        "No sends in this range yet. Copy Lab fills in as campaigns send (after an Email Bison sync)."
    )
    st.stop()

k1, k2, k3, k4 = st.columns(4)
k1.metric("Sent", ui.fmt_int(ov["sent"]), border=True)
k2.metric("Reply rate", ui.pct(ov["reply_rate"], 2), border=True)
k3.metric("Interested rate", ui.pct(ov["interested_rate"], 3), border=True)
k4.metric("Bounce rate", ui.pct(ov["bounce_rate"], 2), border=True)


def describe(v: dict) -> str:
    return (
        f"“{ui.md(v['subject'])}” — {ui.md(v['client'])}, {ui.md(v['campaign'])}, step {v['step']}{v['variant']}: "
        f"{ui.pct(v['rate'], 2)} interested (95% {ui.pct(v['ci_low'], 2)}–{ui.pct(v['ci_high'], 2)}, {v['sent']:,} sent)"
    )


b1, b2 = st.columns(2)
if ov.get("best"):
    b1.success(f"**Best copy:** {describe(ov['best'])}", icon=":material/trending_up:")
if ov.get("worst"):
    b2.warning(f"**Weakest copy:** {describe(ov['worst'])}", icon=":material/trending_down:")
if not ov.get("best"):
    st.caption(f"Best and weakest copy need at least {ov['min_sends']:,} sends per variant.")

tab_var, tab_subj, tab_camp, tab_tpl = st.tabs(
    ["Variants", "By subject line", "Campaign view", "Templates"]
)
RATE_CFG = {
    "rate": st.column_config.NumberColumn("Rate", format="percent"),
    "ci_low": st.column_config.NumberColumn("95% low", format="percent"),
    "ci_high": st.column_config.NumberColumn("95% high", format="percent"),
    "lift": st.column_config.NumberColumn("Lift vs A", format="percent"),
    "p": st.column_config.NumberColumn("p", format="%.4f"),
    "p_adj": st.column_config.NumberColumn("p (corrected)", format="%.4f"),
    "subject": st.column_config.TextColumn("Subject", width="medium"),
    "verdict": st.column_config.TextColumn("Verdict", width="large"),
}


def rate_chart(df: pl.DataFrame, label_col: str, title: str) -> go.Figure:
    fig = go.Figure(
        go.Bar(
            x=df[label_col].to_list(),
            y=df["rate"].to_list(),
            error_y=dict(
                type="data",
                symmetric=False,
                array=(df["ci_high"] - df["rate"]).to_list(),
                arrayminus=(df["rate"] - df["ci_low"]).to_list(),
            ),
            marker_color=[
                "#94a3b8" if v == "A" else "#2563eb"
                for v in df.get_column("variant", default=pl.Series([""] * df.height)).to_list()
            ],
        )
    )
    fig.update_layout(
        height=300, margin=dict(l=10, r=10, t=30, b=10), title=title, yaxis_tickformat=".2%"
    )
    return fig


with tab_var:
    var = ui.cached(
        copylab.variant_stats,
        sc,
        metric=metric,
        start=start,
        end=end,
        campaign_id=campaign_id,
        correction=correction,
    )
    if var.height == 0:
        st.info("No variants with sends in this range.")
    else:
        summary = copylab.variant_summary(var)
        st.caption(
            f"{summary['variants']:,} variants · {summary['winners']} significant winners after "
            f"correction · {summary['small_samples']} with samples too small for the normal "
            "approximation (treat their p-values with care)."
        )
        ui.table(
            var.drop("workspace_id", "campaign_id", "step_id", "body"),
            name="copy-variants",
            key="variants",
            column_config=RATE_CFG,
        )
        steps = var.select("workspace_id", "campaign_id", "client", "campaign", "step").unique(
            maintain_order=True
        )
        if steps.height:
            labels = [
                f"{r['client']} — {r['campaign']} — step {r['step']}"
                for r in steps.iter_rows(named=True)
            ]
            choice = st.selectbox(
                "Compare the variants of", range(len(labels)), format_func=lambda i: labels[i]
            )
            row = steps.row(choice, named=True)
            one = var.filter(
                (pl.col("workspace_id") == row["workspace_id"])
                & (pl.col("campaign_id") == row["campaign_id"])
                & (pl.col("step") == row["step"])
            )
            st.plotly_chart(
                rate_chart(one, "variant", f"{metric.capitalize()} rate with 95% Wilson intervals"),
                width="stretch",
            )
            for v in one.iter_rows(named=True):
                if v["verdict"] != "original":
                    st.write(
                        f"**{v['variant']}** — {ui.md(v['verdict'])}"
                        + (
                            f" · about {v['sends_needed_for_80pct_power']:,} more sends per arm for 80% power"
                            if v.get("sends_needed_for_80pct_power")
                            else ""
                        )
                    )

with tab_subj:
    subj = ui.cached(
        copylab.subject_stats,
        sc,
        metric=metric,
        start=start,
        end=end,
        campaign_id=campaign_id,
        correction=correction,
    )
    st.caption(
        "Subject lines merged across campaigns and clients (case, spacing and spintax ignored), ranked by the "
        "lower end of their 95% interval, so lines with more evidence rank above lucky small samples."
    )
    ui.table(subj, name="copy-subjects", key="subjects", column_config=RATE_CFG)
    top = subj.head(12)
    if top.height:
        st.plotly_chart(rate_chart(top, "subject", "Top subject lines"), width="stretch")

with tab_camp:
    if not camp:
        st.info("Pick a campaign above to see its sequence.")
    else:
        steps = ui.cached(campaigns.campaign_steps, sc, camp[0], camp[1])
        ui.table(
            steps,
            name=f"campaign-{camp[1]}-sequence",
            key="seq",
            column_config={
                "reply_rate": st.column_config.NumberColumn("Reply rate", format="percent"),
                "interested_rate": st.column_config.NumberColumn(
                    "Interested rate", format="percent"
                ),
            },
        )
        per_step = copylab.step_totals(steps)
        fig = go.Figure()
        for col, colour in (("sent", "#c7d2fe"), ("replies", "#2563eb"), ("interested", "#16a34a")):
            fig.add_bar(
                x=[f"Step {s}" for s in per_step["step"]],
                y=per_step[col],
                name=col.capitalize(),
                marker_color=colour,
            )
        fig.update_layout(
            barmode="group", height=300, margin=dict(l=10, r=10, t=10, b=10), yaxis_type="log"
        )
        st.plotly_chart(fig, width="stretch")

with tab_tpl:
    tpl = ui.cached(copylab.templates, sc, campaign_id=campaign_id)
    st.caption(
        "Every subject and body in use, its personalisation variables and spintax, and a deliverability "
        "rating (100 = clean) with the reasons."
    )
    ui.table(
        tpl,
        name="copy-templates",
        key="templates",
        column_config={
            "safety": st.column_config.ProgressColumn(
                "Safety", min_value=0, max_value=100, format="%d"
            ),
            "reasons": st.column_config.TextColumn("Reasons", width="large"),
        },
    )
