"""Sending accounts page, actions: pause, resume, daily limit and warm-up for a selection."""

from __future__ import annotations

import polars as pl
import streamlit as st

from core.campaigns import inboxes
from pages import ui


def _key(row: dict) -> str:
    return f"{row['workspace_id']}:{row['id']}"


@st.dialog("Confirm")
def _confirm(
    action: str, picked: list[str], labels: dict[str, str], limit: int, reason: str
) -> None:
    words = {
        "pause": "Pause",
        "resume": "Resume",
        "limit": f"Set the daily limit to {limit:,} for",
        "warmup_on": "Turn warm-up on for",
        "warmup_off": "Turn warm-up off for",
    }[action]
    st.write(f"{words} {len(picked)} sending account(s) in Email Bison?")
    st.markdown("\n".join(f"- {ui.md(labels[k])}" for k in picked[:20]))
    if len(picked) > 20:
        st.caption(f"… and {len(picked) - 20} more.")
    if action == "pause":
        st.caption(
            "Email Bison has no pause for one inbox: its daily limit goes to 0 and the current "
            "limit is kept here for Resume."
        )
    if st.button("Yes, go ahead", type="primary", key="inbox-yes"):
        accounts = [tuple(int(p) for p in k.split(":")) for k in picked]
        try:
            result = inboxes.inbox_action(
                ui.db(),
                ui.current_user(),
                accounts,
                action,
                daily_limit=limit if action == "limit" else None,
                reason=reason,
            )
        except (inboxes.InboxActionError, PermissionError) as exc:
            st.error(ui.md(exc))
            return
        kind = "error" if result.failed else "success"
        st.session_state["inbox_flash"] = (kind, result.summary())
        st.rerun()


def actions(shown: pl.DataFrame, selected_rows: list[int]) -> None:
    """The action bar under the table: the accounts to act on (the table's selected rows, or
    picked here), the action, its value, and a confirmation before anything changes."""
    flash = st.session_state.pop("inbox_flash", None)
    if flash:
        (st.error if flash[0] == "error" else st.success)(ui.md(flash[1]))
    st.subheader("Act on accounts")
    rows = list(shown.iter_rows(named=True))
    labels = {_key(r): f"{r['email']} · {r['client']} ({r['status']})" for r in rows}
    default = [_key(rows[i]) for i in selected_rows if i < len(rows)]
    if not default and len(rows) == 1:
        default = [_key(rows[0])]
    picked = st.multiselect(
        "Accounts",
        list(labels),
        default=default,
        format_func=labels.get,
        placeholder="Select rows in the table above, or pick accounts here",
    )
    c1, c2, c3 = st.columns([2, 1, 3])
    action = c1.selectbox(
        "Action", list(inboxes.LABELS), format_func=inboxes.LABELS.get, key="inbox-action"
    )
    current = [r["daily_limit"] for r in rows if _key(r) in picked and r["daily_limit"]]
    limit = int(
        c2.number_input(
            "Daily limit",
            min_value=1,
            max_value=inboxes.MAX_DAILY_LIMIT,
            value=int(max(current)) if current else 30,
            step=5,
            disabled=action != "limit",
            key="inbox-limit",
        )
    )
    reason = c3.text_input(
        "Why pause?",
        max_chars=300,
        disabled=action != "pause",
        placeholder="e.g. bounce rate over 5 %",
        key="inbox-reason",
    )
    if st.button(
        f"{inboxes.LABELS[action]}…",
        disabled=not picked or (action == "pause" and not reason.strip()),
        key="inbox-go",
        icon=":material/bolt:",
    ):
        _confirm(action, picked, labels, limit, reason)
    st.caption(
        "Pausing keeps the account's daily limit for Resume; a paused account given a new limit "
        "stays paused and resumes with it. Every change is in the audit log."
    )
