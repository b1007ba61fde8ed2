"""Contacts: find any contact across clients, read its story, fix it, move it, delete it, or carry
out a deletion request; the suppression list, searchable, with single additions and removals."""

import datetime as dt

import streamlit as st

from core.accounts import workspaces
from core.contacts import search
from pages import contact_view, suppression_view, ui

ui.ensure_router("contacts")
st.title("Contacts")
database = ui.db()
user = ui.current_user()
sc = ui.scope()
labels = ui.cached(workspaces.labels, ui.user_scope())

TABS = ["Find", "Contact", "Suppression list"]
tab_find, tab_one, tab_supp = st.tabs(TABS, default=ui.linked_tab(*TABS))


def find_tab() -> None:
    """Search, one page at a time, pick a row, download every match."""
    with st.form("find"):
        c1, c2, c3, c4 = st.columns(4)
        email = c1.text_input("Email contains", key="f_email")
        name = c2.text_input("Name contains", key="f_name")
        phone = c3.text_input("Phone digits", key="f_phone")
        zip_code = c4.text_input("ZIP (or its first digits)", key="f_zip")
        c5, c6, c7, c8 = st.columns(4)
        client = c5.selectbox(
            "Client",
            [None, *labels],
            format_func=lambda w: "Every client" if w is None else labels.get(w, str(w)),
            key="f_client",
            help="The sidebar's client picker narrows this too.",
        )
        status = c6.selectbox(
            "Status", [None, *search.STATUSES], format_func=lambda s: s or "Any", key="f_status"
        )
        month = c7.text_input("Renewal month (YYYY-MM)", key="f_month")
        batch = c8.number_input(
            "Batch number (0: any)", min_value=0, step=1, value=0, key="f_batch"
        )
        size = st.select_slider("Rows a page", [25, 50, 100, 250, 500], value=50, key="f_size")
        if st.form_submit_button("Search", icon=":material/search:"):
            st.session_state["f_page"] = 1
    try:
        flt = search.ContactFilter(
            email=email,
            name=name,
            phone=phone,
            zip=zip_code,
            workspace_id=client,
            status=status,
            renewal_month=search.parse_month(month),
            batch_id=int(batch) or None,
        )
        page_no = max(1, int(st.session_state.get("f_page") or 1))
        found, total = ui.cached(search.search, sc, flt, limit=size, offset=(page_no - 1) * size)
    except search.SearchError as exc:
        st.error(ui.md(exc))
        return
    pages = max(1, -(-total // size))
    if page_no > pages:  # the filter changed under a later page: show its last one
        page_no = st.session_state["f_page"] = pages
        found, total = ui.cached(search.search, sc, flt, limit=size, offset=(page_no - 1) * size)
    p1, p2 = st.columns([1, 4])
    p1.number_input("Page", 1, pages, key="f_page")
    p2.markdown(f"**{total:,}** contacts match · page {page_no:,} of {pages:,}")
    picked = st.dataframe(
        found,
        hide_index=True,
        column_config=ui.display_columns(found),
        on_select="rerun",
        selection_mode="single-row",
        key="found",
    )
    rows = picked.selection.rows if picked and picked.selection else []
    if rows:
        st.session_state["contact_id"] = int(found["id"][rows[0]])
        st.info(f"Contact {found['id'][rows[0]]} chosen: open the Contact tab for its story.")
    sql, params = search.export_sql(sc, flt)
    st.download_button(
        f"Download all {total:,} matches (CSV)",
        data=lambda: search.csv_file(database, sql, params).read(),
        file_name=f"contacts-{dt.date.today():%Y%m%d}.csv",
        mime="text/csv",
        icon=":material/download:",
        on_click="ignore",
        disabled=not total,
    )


with tab_find:
    find_tab()

with tab_one:
    contact_view.render(database, user, sc, labels)

with tab_supp:
    suppression_view.render(database, user)
