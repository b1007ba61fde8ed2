"""Sending accounts: every inbox the agency sends from, its use, warm-up and health."""

import polars as pl
import streamlit as st

from core.campaigns import campaigns
from core.platform import settings
from pages import inbox_actions, ui

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

# Starts at the alerts' threshold (Settings → guard_bounce_rate), so the page and the alerts agree.
default_pct = min(
    max(round(ui.cached(settings.get, None, "guard_bounce_rate") * 200) / 2, 0.5), 10.0
)
threshold = (
    st.slider(
        "Flag bounce rates above",
        0.5,
        10.0,
        default_pct,
        0.5,
        format="%.1f%%",
        help="Starts at the alerts' bounce-rate threshold (Settings); lifetime bounced ÷ sent.",
    )
    / 100
)
only_flagged = st.toggle("Only accounts with a flag")
accounts = ui.cached(campaigns.sender_accounts, sc, bounce_threshold=threshold)
if only_flagged:
    accounts = accounts.filter(accounts["flags"] != "")
linked = st.query_params.get("inbox")  # an alert's link to the account it is about
if linked and linked.isdigit():
    accounts = accounts.filter(accounts["id"] == int(linked))
    st.info("Showing the account the alert is about.", icon=":material/filter_alt:")
    if st.button("Show every account", key="inbox-unlink"):
        del st.query_params["inbox"]
        st.rerun()
if accounts["resumes_with"].null_count() == accounts.height:  # nothing paused: no empty column
    accounts = accounts.drop("resumes_with")
# The health flags right after the account, where a glance finds them.
shown = accounts.select(
    "client",
    "email",
    "status",
    "flags",
    pl.exclude("client", "email", "status", "flags", "synced_at"),
)
event = st.dataframe(
    shown,
    hide_index=True,
    on_select="rerun" if ui.can("campaign.act") else "ignore",
    selection_mode="multi-row",
    key="sending-accounts",
    column_config=ui.display_columns(
        shown,
        {
            "workspace_id": None,
            "id": None,
            "client": st.column_config.TextColumn("Client"),
            "email": st.column_config.TextColumn("Email"),
            "name": st.column_config.TextColumn("Sender name"),
            "status": st.column_config.TextColumn("Status"),
            "daily_limit": st.column_config.NumberColumn("Daily limit", format="%d"),
            "resumes_with": st.column_config.NumberColumn(
                "Limit on resume", format="%d", help="A paused account's daily limit when resumed"
            ),
            "warmup_enabled": st.column_config.CheckboxColumn("Warm-up on"),
            "sent": st.column_config.NumberColumn("Sent", format="localized"),
            "replies": st.column_config.NumberColumn("Replies", format="localized"),
            "bounced": st.column_config.NumberColumn("Bounced", format="localized"),
            "campaigns": st.column_config.NumberColumn("Campaigns"),
            "active_campaigns": st.column_config.NumberColumn("Active campaigns"),
            "bounce_rate": st.column_config.NumberColumn("Bounce rate", format="percent"),
            "warmup_score": st.column_config.ProgressColumn(
                "Warm-up", min_value=0, max_value=100, format="%.0f"
            ),
            "flags": st.column_config.TextColumn("Health flags", width="medium"),
        },
    ),
)
st.download_button(
    "Download CSV",
    data=lambda: ui.frame_to_csv(shown.drop("workspace_id", "id")),
    file_name="sending-accounts.csv",
    mime="text/csv",
    icon=":material/download:",
    on_click="ignore",
)
if ui.can("campaign.act"):
    inbox_actions.actions(shown, event.selection.rows if event and event.selection else [])
