"""Audit log: every change made through LeadOps — who, when, what, before and after."""

import datetime as dt

import streamlit as st

from core.platform import audit
from pages import ui

ui.ensure_router("audit_log")
st.title("Audit log")
c1, c2, c3, c4 = st.columns(4)
entity = c1.selectbox(
    "Entity",
    [None, "workspace", "package_tier", "secret", "setting", "user", "campaign", "database"],
    format_func=lambda e: "All" if e is None else e,
)
actor = c2.text_input("Who (exact)", max_chars=320)
search = c3.text_input("Action contains", max_chars=100)
days = c4.number_input("Last days", min_value=1, max_value=3650, value=90)
since = dt.datetime.now(dt.UTC) - dt.timedelta(days=int(days))
log = audit.recent(
    ui.db(),
    limit=5000,
    entity=entity,
    actor=actor.strip() or None,
    action_contains=search or None,
    since=since,
)
st.caption(f"{log.height:,} {'entry' if log.height == 1 else 'entries'}")
ui.table(
    log,
    name="audit-log",
    column_config={
        "occurred_at": st.column_config.DatetimeColumn("When", format="YYYY-MM-DD HH:mm:ss"),
        "actor": "Who",
        "before": st.column_config.TextColumn("Before", width="medium"),
        "after": st.column_config.TextColumn("After", width="medium"),
    },
)
