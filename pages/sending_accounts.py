"""Sending accounts: every inbox the agency sends from, its use, warm-up and health."""

import streamlit as st

from core import campaigns
from pages import ui

ui.ensure_router("sending_accounts")
st.title("Sending accounts")
sc = ui.scope()
summary = ui.cached(campaigns.sender_summary, sc)
if not summary["accounts"]:
    st.info("No sending accounts yet. They appear after an Email Bison sync (**Data sync** page).")
    st.stop()

c1, c2, c3, c4, c5 = st.columns(5)
c1.metric("Accounts", ui.fmt_int(summary["accounts"]), border=True)
c2.metric(
    "Disconnected",
    ui.fmt_int(summary["disconnected"]),
    border=True,
    delta=None if not summary["disconnected"] else "needs attention",
    delta_color="inverse",
)
c3.metric(
    "Daily capacity",
    ui.fmt_int(summary["daily_capacity"]),
    help="Sum of connected accounts' daily limits",
    border=True,
)
c4.metric(
    "Bounce rate", ui.pct(summary["bounce_rate"], 2), help="Bounced ÷ sent, lifetime", border=True
)
c5.metric(
    "Average warm-up",
    "–" if summary["avg_warmup"] is None else f"{summary['avg_warmup']:.0f}",
    border=True,
)

threshold = st.slider("Flag bounce rates above", 0.5, 10.0, 3.0, 0.5, format="%.1f%%") / 100
only_flagged = st.toggle("Only accounts with a flag")
accounts = ui.cached(campaigns.sender_accounts, sc, bounce_threshold=threshold)
if only_flagged:
    accounts = accounts.filter(accounts["flags"] != "")
ui.table(
    accounts.drop("workspace_id", "id", "synced_at"),
    name="sending-accounts",
    column_config={
        "bounce_rate": st.column_config.NumberColumn("Bounce rate", format="percent"),
        "warmup_score": st.column_config.ProgressColumn(
            "Warm-up", min_value=0, max_value=100, format="%.0f"
        ),
        "flags": st.column_config.TextColumn("Health flags", width="medium"),
    },
)
