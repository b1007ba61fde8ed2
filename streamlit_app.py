"""LeadOps: the router. Page config, navigation, the client picker and the data-freshness footer."""

import datetime as dt

import streamlit as st

from core import overview, workspaces
from core.store import StoreError
from pages import ui

st.set_page_config(page_title="LeadOps", page_icon=":material/insights:", layout="wide")

try:
    database = ui.db()
except StoreError as exc:
    st.error(f"LeadOps cannot open its database. {exc}")
    st.stop()

pages = {
    "Daily": [
        st.Page("pages/overview.py", title="Overview", icon=":material/dashboard:", default=True),
        st.Page("pages/campaigns.py", title="Campaigns", icon=":material/campaign:"),
        st.Page(
            "pages/sending_accounts.py",
            title="Sending accounts",
            icon=":material/forward_to_inbox:",
        ),
    ],
    "Admin": [
        st.Page("pages/data_sync.py", title="Data sync", icon=":material/sync:"),
        st.Page("pages/settings.py", title="Settings", icon=":material/settings:"),
    ],
}
nav = st.navigation(pages)

with st.sidebar:
    clients = ui.cached(workspaces.names, None)
    options = [None] + [wid for wid, _ in clients if ui.user_scope().allows(wid)]
    labels = {wid: name for wid, name in clients}
    current = st.session_state.get("workspace_id")
    st.selectbox(
        "Client",
        options,
        index=options.index(current) if current in options else 0,
        format_func=lambda wid: "All clients" if wid is None else labels.get(wid, str(wid)),
        key="workspace_id",
        help="Show one client's data on every page, or the whole agency.",
    )

with ui.router_running():
    nav.run()

fresh = ui.cached(overview.data_freshness, None)
now = dt.datetime.now(dt.UTC)
parts = []
for r in fresh.iter_rows(named=True):
    age = now - r["last_success"]
    hours = age.total_seconds() / 3600
    parts.append(f"{r['source']}: {f'{hours * 60:.0f} min' if hours < 2 else f'{hours:.0f} h'} ago")
st.divider()
st.caption(
    "Data freshness — last successful sync: " + (" · ".join(parts) if parts else "no syncs yet")
)
