"""Pipeline page, Debounce credits: the balance as last read, what the next runs need, and a
button to read it again."""

from __future__ import annotations

from typing import Any

import streamlit as st

from core.pipeline import verification, verification_bulk
from core.platform import renewals
from core.platform.store import Database
from pages import ui


def credit_box(box: Any, db: Database) -> None:
    got = verification_bulk.balance(db)
    month = renewals.add_months(renewals.month_start(ui.today()), 2)
    need = verification_bulk.next_run_need(db, month)
    if got is None:
        box.caption("Debounce credits: not read yet.")
    else:
        text = (
            f"Debounce credits: **{got['balance']:,}** (read {got['checked_at']:%b %-d %H:%M} "
            f"UTC); the {month:%B} runs need about {need:,}."
        )
        (box.warning if got["balance"] < need else box.caption)(text)
    if box.button("Read the balance", key="debounce-balance", icon=":material/refresh:"):
        key = verification.debounce_key(db)
        try:
            if key:
                verification_bulk.check_balance(db, key)
        except Exception as exc:  # the service's answer, in one line
            box.error(f"Debounce did not answer: {ui.md(str(exc).splitlines()[0])}")
            return
        st.rerun()
