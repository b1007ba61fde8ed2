"""The setup checklist (Settings → Setup, and what an empty install's Overview shows): every line
done, missing or failing with the reason, and a link to where it is fixed."""

from __future__ import annotations

import streamlit as st

from core.accounts import access
from core.setup import checklist
from core.setup.items import Item
from pages import ui

ICON = {
    "done": ":green[:material/check_circle:]",
    "missing": ":orange[:material/radio_button_unchecked:]",
    "failing": ":red[:material/error:]",
}
WORD = {"done": "done", "missing": "missing", "failing": "failing"}


def _line(item: Item, user: access.User) -> None:
    text, link = st.columns([4, 1], vertical_alignment="center")
    text.markdown(f"{ICON[item.status]} **{ui.md(item.label)}** — {ui.md(item.reason)}")
    if item.status == "done":
        return
    if user.can_see(item.page):
        link.page_link(f"pages/{item.page}.py", label=item.where, icon=":material/arrow_forward:")
    else:
        link.caption(ui.md(item.where))


def _worst(items: list[Item]) -> str:
    statuses = {i.status for i in items}
    return "failing" if "failing" in statuses else "missing" if "missing" in statuses else "done"


def _summary(items: list[Item]) -> str:
    counts = {s: sum(1 for i in items if i.status == s) for s in WORD}
    parts = [f"{n} {WORD[s]}" for s, n in counts.items() if n]
    return ", ".join(parts)


def render(user: access.User, *, agency_only: bool = False) -> checklist.Checklist:
    """Draw the checklist; `agency_only` leaves out the clients (the empty install's view)."""
    cl = checklist.build(
        ui.db(), auth_configured=ui.auth_configured(), remote_text=user.role == "admin"
    )
    items = cl.agency if agency_only else list(cl.items())
    done = sum(1 for i in items if i.status == "done")
    st.progress(
        done / len(items) if items else 1.0,
        text=f"Setup: {done} of {len(items)} done ({_summary(items)})",
    )
    st.markdown("**The agency**")
    for item in cl.agency:
        _line(item, user)
    if agency_only:
        return cl
    if not cl.clients:
        st.caption("No clients yet: add the first under Settings → Clients.")
    for name, client_items in cl.clients.items():
        icon = ICON[_worst(client_items)]
        with st.expander(f"{icon} {ui.md(name)} — {_summary(client_items)}"):
            for item in client_items:
                _line(item, user)
    return cl


def setup_tab(user: access.User) -> None:
    st.caption(
        "What this install still needs before its first upload. Nothing here calls a service: "
        "connections show the outcome of their last Test (Connections tab); a client's token "
        "or CRM also counts as tested by a sync or a delivery since it was saved."
    )
    render(user)
