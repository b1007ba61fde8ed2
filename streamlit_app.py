"""LeadOps: the router. Sign-in, navigation by role, the client picker and the data-freshness footer."""

import datetime as dt

import streamlit as st

from core import (
    catalog,  # noqa: F401  (every job kind, whichever page runs first)
    overview,
)
from core.accounts import access, workspaces
from core.guardrails import alerts as guardrails
from core.platform.store import StoreError
from pages import ui

st.set_page_config(page_title="LeadOps", page_icon=":material/insights:", layout="wide")

try:
    database = ui.db()
except StoreError as exc:
    st.error(f"LeadOps cannot open its database. {exc}")
    st.stop()

user = ui.sign_in()  # stops the script with a sign-in or refusal screen when needed

PAGES = [
    ("Daily", "overview", "Overview", ":material/dashboard:"),
    ("Daily", "pipeline", "Pipeline", ":material/filter_alt:"),
    ("Daily", "contacts", "Contacts", ":material/contacts:"),
    ("Daily", "month_board", "Month board", ":material/calendar_view_month:"),
    ("Daily", "campaigns", "Campaigns", ":material/campaign:"),
    ("Daily", "replies", "Replies", ":material/inbox:"),
    ("Daily", "client_leads", "Client leads", ":material/person_check:"),
    ("Daily", "territories", "Territories", ":material/map:"),
    ("Daily", "copy_lab", "Copy Lab", ":material/science:"),
    ("Daily", "sending_accounts", "Sending accounts", ":material/forward_to_inbox:"),
    ("Daily", "alerts", "Alerts", ":material/notifications:"),
    ("Money", "revenue", "Revenue", ":material/payments:"),
    ("Admin", "data_sync", "Data sync", ":material/sync:"),
    ("Admin", "audit_log", "Audit log", ":material/history:"),
    ("Admin", "settings", "Settings", ":material/settings:"),
]
sections: dict[str, list] = {}
open_alerts = sum(ui.cached(guardrails.open_count, user.scope).values())
for section, key, title, icon in PAGES:
    if key == "alerts" and open_alerts:  # the sidebar badge: how many alerts are open
        title, icon = f"{title} ({open_alerts})", ":material/notifications_active:"
    if user.can_see(key):
        sections.setdefault(section, []).append(
            st.Page(f"pages/{key}.py", title=title, icon=icon, default=key == "overview")
        )
nav = st.navigation(sections, expanded=True)  # every page listed, no "View more"

with st.sidebar:
    ui.sandbox_label()
    labels = ui.cached(workspaces.labels, user.scope)
    if user.role == "client":
        st.session_state["workspace_id"] = next(iter(labels), None)
        st.caption(next(iter(labels.values()), "No client workspace"))
    else:
        options = [None, *labels]
        wanted = st.query_params.get("client", "")  # a link to a page for one client
        if wanted.isdigit() and int(wanted) in labels:
            st.session_state["workspace_id"] = int(wanted)
        if "client" in st.query_params:
            del st.query_params["client"]
        current = st.session_state.get("workspace_id")
        st.selectbox(
            "Client",
            options,
            index=options.index(current) if current in options else 0,
            format_func=lambda wid: "All clients" if wid is None else labels.get(wid, str(wid)),
            key="workspace_id",
            help="Show one client's data on every page, or the whole agency.",
        )
    ui.account_box(user)

with ui.router_running():
    nav.run()

fresh = ui.cached(overview.data_freshness, user.scope)
now = dt.datetime.now(dt.UTC)
parts = []
for r in fresh.iter_rows(named=True):
    # synced only when a real sync ran with a configured connection
    if not r["connected"]:
        parts.append(f"{r['name']}: not connected")
        continue
    some = f" ({r['connected']} of {r['clients']} clients)" if r["connected"] < r["clients"] else ""
    if r["last_success"] is None:
        parts.append(f"{r['name']}{some}: not synced yet")
        continue
    hours = (now - r["last_success"]).total_seconds() / 3600
    ago = f"{hours * 60:.0f} min" if hours < 2 else f"{hours:.0f} h"
    parts.append(f"{r['name']}{some}: {ago} ago")
st.divider()
st.caption(
    "Data freshness — last successful sync: "
    + (" · ".join(parts) if parts else "no sources yet")
    + ui.sandbox_footer()
)
_ = access  # roles are defined in core.accounts.access
