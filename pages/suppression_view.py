"""The Contacts page's Suppression list tab: search, counts per reason, CSV, add and remove."""

from __future__ import annotations

import datetime as dt

import streamlit as st

from core.accounts import access
from core.contacts.search import csv_file
from core.pipeline import suppression
from core.platform import suppression_store
from core.platform.store import Database
from pages import ui

SIZE = 100


def render(database: Database, user: access.User) -> None:
    st.caption(
        "Addresses never to contact again. Unsubscribes and hard bounces from Email Bison and"
        " replies asking to be removed are added by themselves after every sync."
    )
    counts = ui.cached(suppression_store.counts_by_reason, None)
    reasons = sorted(set(counts["reason"].to_list())) if counts.height else []
    sources = sorted(set(counts["source"].to_list())) if counts.height else []
    s1, s2, s3, s4 = st.columns([3, 2, 2, 1])
    text = s1.text_input("Address (or part of it, or of where it came from)", key="s_text")
    reason = s2.selectbox("Reason", [None, *reasons], format_func=lambda r: r or "Any")
    source = s3.selectbox("Source", [None, *sources], format_func=lambda r: r or "Any")
    _, total = suppression.search(database, text, reason=reason, source=source, limit=1)
    pages = max(1, -(-total // SIZE))
    page_no = s4.number_input("Page", 1, pages, 1, key="s_page")
    page, total = suppression.search(
        database, text, reason=reason, source=source, limit=SIZE, offset=(page_no - 1) * SIZE
    )
    st.markdown(f"**{total:,}** addresses match · page {page_no:,} of {pages:,}")
    st.dataframe(page, hide_index=True, column_config=ui.display_columns(page))
    sql, params = suppression.search_sql(text, reason=reason, source=source)
    st.download_button(
        f"Download all {total:,} (CSV)",
        data=lambda: csv_file(database, sql, params).read(),
        file_name=f"suppression-{dt.date.today():%Y%m%d}.csv",
        mime="text/csv",
        icon=":material/download:",
        on_click="ignore",
        key="supp-csv",
    )
    with st.expander("Addresses per reason and source"):
        ui.table(counts, name="suppression-by-reason", key="supp-counts")
    if not user.can("pipeline.rules"):
        st.caption("Only admins add addresses to the list or take them off.")
        return
    a, r = st.columns(2)
    with a.form("supp-add", clear_on_submit=True):
        st.markdown("**Add addresses**")
        emails = st.text_area("Addresses, one a line or separated by commas")
        why = st.text_input("Reason (required; kept in the audit log)")
        if st.form_submit_button("Add"):
            try:
                out = suppression.add_addresses(database, user, _split(emails), why)
                st.success(f"{out['added']:,} added, {out['already']:,} already listed.")
                if out["invalid"]:
                    st.warning("Not addresses, left out: " + ui.md(", ".join(out["invalid"][:10])))
            except suppression.SuppressionError as exc:
                st.error(ui.md(exc))
    with r.form("supp-remove", clear_on_submit=True):
        st.markdown("**Take addresses off the list**")
        emails = st.text_area("Addresses to remove")
        why = st.text_input("Reason for removing (required; kept in the audit log)")
        if st.form_submit_button("Remove"):
            try:
                out = suppression.remove_addresses(database, user, _split(emails), why)
                st.success(f"{out['removed']:,} removed.")
                if out["not_listed"]:
                    st.info("Not on the list: " + ui.md(", ".join(out["not_listed"][:10])))
            except suppression.SuppressionError as exc:
                st.error(ui.md(exc))


def _split(text: str) -> list[str]:
    return [p for p in text.replace(",", "\n").replace(";", "\n").split() if p]
