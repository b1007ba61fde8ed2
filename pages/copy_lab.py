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

c1, c3, c4, c5 = st.columns([1.1, 1.4, 2, 0.8])
metric = c1.radio(
    "Measure",
    ["interested", "replies"],
    horizontal=True,
    format_func=lambda m: "Interested replies" if m == "interested" else "All replies",
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
advanced = c5.toggle(
    "Advanced",
    key="copy-advanced",
    help="Show the statistics behind the verdicts: intervals, p-values and the correction used.",
)
correction = "holm"
if advanced:
    correction = st.radio(
        "Correction for several variants",
        ["holm", "bh"],
        horizontal=True,
        format_func=lambda c: "Holm" if c == "holm" else "Benjamini–Hochberg",
        help="Across the variants of one step. Holm controls the chance of any false winner; "
        "Benjamini–Hochberg the share of false winners.",
    )
campaign_id = camp[1] if camp else None
if camp:
    sc = sc.narrow(camp[0])

ov = ui.cached(copylab.copy_overview, sc, start=start, end=end, campaign_id=campaign_id)
if not ov.get("sent"):
    st.info("No emails sent in this range yet. Copy Lab fills in as campaigns send.")
    st.stop()

k1, k2, k3, k4 = st.columns(4)
k1.metric("Emails sent", ui.fmt_int(ov["sent"]), border=True)
k2.metric("Reply rate", ui.pct(ov["reply_rate"], 2), border=True)
k3.metric("Interested rate", ui.pct(ov["interested_rate"], 2), border=True)
k4.metric("Bounce rate", ui.pct(ov["bounce_rate"], 2), border=True)


def describe(v: dict) -> str:
    where = (
        f"{v['campaigns']:,} campaigns of {v['clients']:,} clients"
        if v["campaigns"] > 1
        else "1 campaign"
    )
    text = (
        f"“{ui.md(v['subject'])}” — {ui.pct(v['rate'], 2)} interested "
        f"({v['interested']:,} of {v['sent']:,} sent, {where})"
    )
    if advanced:
        text += f"; 95% interval {ui.pct(v['ci_low'], 2)}–{ui.pct(v['ci_high'], 2)}"
    return text


st.markdown("**First-email subject lines** (follow-ups are compared among themselves below)")
b1, b2 = st.columns(2)
if ov.get("best"):
    b1.success(f"**Best:** {describe(ov['best'])}", icon=":material/trending_up:")
if ov.get("worst"):
    b2.warning(f"**Weakest:** {describe(ov['worst'])}", icon=":material/trending_down:")
if ov.get("verdict"):
    st.info(ui.md(ov["verdict"]) + ".", icon=":material/balance:")
elif ov.get("best"):
    st.caption("Only one first-email subject line has enough sends to rank; nothing to compare.")
else:
    st.caption(
        f"Best and weakest need at least {ov['min_sends']:,} first emails sent per subject line."
    )

tab_subj, tab_var, tab_camp, tab_tpl = st.tabs(
    ["By subject line", "Variants", "Campaign view", "Templates"]
)
PCT = "%.2f%%"
RATE_CFG = {
    "rate": st.column_config.NumberColumn(
        "Interested rate" if metric == "interested" else "Reply rate", format=PCT
    ),
    "ci_low": st.column_config.NumberColumn("95% low", format=PCT),
    "ci_high": st.column_config.NumberColumn("95% high", format=PCT),
    "lift": st.column_config.NumberColumn("Lift", format="%+.1f%%"),
    "p": st.column_config.NumberColumn("p", format="%.4f"),
    "p_adj": st.column_config.NumberColumn("p (corrected)", format="%.4f"),
    "subject": st.column_config.TextColumn("Subject", width="medium", pinned=True),
    "client": st.column_config.TextColumn("Client", pinned=True),
    "verdict": st.column_config.TextColumn("Verdict", width="large"),
    "test_result": st.column_config.TextColumn("Test", width="large"),
    "sends_needed_for_80pct_power": st.column_config.NumberColumn(
        "More sends for 80% power", format="localized"
    ),
}
PLAIN = ["verdict", "rate", "sent", "interested", "replies"]
STATS = ["ci_low", "ci_high", "lift", "z", "p", "p_adj", "significant", "small_sample"]
STATS += ["sends_needed_for_80pct_power", "test_result"]


def shown(df: pl.DataFrame, first: list[str]) -> pl.DataFrame:
    """The columns for this view: the plain ones, plus the statistics when Advanced is on;
    rates as percentages (0.21 for 0.21%), as the table shows them."""
    cols = first + PLAIN + (STATS if advanced else [])
    pct = [c for c in ("rate", "ci_low", "ci_high", "lift") if c in cols]
    return df.select(cols).with_columns(pl.col(c) * 100 for c in pct)


def rate_chart(df: pl.DataFrame, label_col: str, title: str) -> go.Figure:
    fig = go.Figure(
        go.Bar(
            x=[str(v) if len(str(v)) <= 40 else str(v)[:39] + "…" for v in df[label_col]],
            y=df["rate"].to_list(),
            hovertext=df[label_col].to_list(),
            error_y=dict(
                type="data",
                symmetric=False,
                array=(df["ci_high"] - df["rate"]).to_list(),
                arrayminus=(df["rate"] - df["ci_low"]).to_list(),
                visible=advanced,
            ),
            marker_color=[
                "#94a3b8" if v == "A" else "#2563eb"
                for v in df.get_column("variant", default=pl.Series([""] * df.height)).to_list()
            ],
        )
    )
    fig.update_layout(
        height=320,
        margin=dict(l=10, r=10, t=40, b=10),
        title=title,
        yaxis=dict(tickformat=".2%", rangemode="tozero", nticks=6),
        xaxis=dict(automargin=True),
    )
    return fig


with tab_subj:
    emails = st.radio(
        "Emails",
        list(copylab.EMAILS),
        horizontal=True,
        format_func=lambda e: {"first": "First emails", "follow-up": "Follow-ups"}[e],
        key="copy-emails",
        help="First emails are compared with first emails, follow-ups with follow-ups: "
        "a follow-up answers a thread and is read differently.",
    )
    subj = ui.cached(
        copylab.subject_stats,
        sc,
        metric=metric,
        start=start,
        end=end,
        campaign_id=campaign_id,
        correction=correction,
        emails=emails,
    )
    st.caption(
        "Subject lines merged across campaigns and clients (case, spacing and spintax ignored), "
        "each compared with the others of its kind. Ranked by what the evidence supports, so a "
        "line with many sends ranks above a lucky small sample."
    )
    if subj.height == 0:
        st.info("No subject lines of this kind in this range.")
    else:
        ui.table(
            shown(subj, ["rank", "subject"]).with_columns(subj.select("campaigns", "clients")),
            name="copy-subjects",
            key="subjects",
            column_config=RATE_CFG,
        )
        top = subj.head(12)
        what = "Interested rate" if metric == "interested" else "Reply rate"
        st.plotly_chart(
            rate_chart(top, "subject", f"{what} by subject line"),
            width="stretch",
            config={"displayModeBar": False},
        )

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
            "Each variant is compared with the original (A) of the same step of the same "
            f"campaign. {summary['winners']:,} of {summary['variants']:,} variants get clearly "
            "more than their original so far."
            + (
                f" {summary['small_samples']:,} have too few replies for the test to be reliable."
                if advanced
                else ""
            )
        )
        ui.table(
            shown(var, ["client", "campaign", "step", "variant", "subject"]),
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
            what = "Interested rate" if metric == "interested" else "Reply rate"
            st.plotly_chart(
                rate_chart(
                    one,
                    "variant",
                    f"{what}" + (" with 95% intervals" if advanced else "") + " by variant",
                ),
                width="stretch",
                config={"displayModeBar": False},
            )
            for v in one.iter_rows(named=True):
                if v["variant"] != "A":
                    line = f"**{v['variant']}** — {ui.md(v['verdict'])}."
                    if advanced:
                        line += f" ({ui.md(v['test_result'])})"
                    st.write(line)

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
    tpl = ui.cached(copylab.templates, sc, campaign_id=campaign_id).with_columns(
        pl.col("rating").str.to_titlecase()
    )
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
