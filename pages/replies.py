"""Replies: every client's synced replies with their category, a conversation view, the interested
toggle (written to Email Bison), drafts from templates or a language model, send or mark handled."""

import datetime as dt

import plotly.graph_objects as go
import polars as pl
import streamlit as st

from core.replies import classifier as reply_classifier
from core.replies import drafts as reply_drafts
from core.replies import inbox as replies
from pages import ui

ui.ensure_router("replies")
st.title("Replies")
sc = ui.scope()
user = ui.current_user()
staff = ui.can("replies.manage")
CATS = reply_classifier.CATEGORIES

flash = st.session_state.pop("replies_flash", None)
if flash:
    getattr(st, flash[0])(flash[1])

tab_inbox, tab_stats, tab_templates, tab_rules = st.tabs(
    ["Inbox", "Stats", "Templates", "Classification rules"]
)

with tab_inbox:
    f1, f2, f3, f4 = st.columns([2, 1, 1, 1])
    search = f1.text_input("Search name, email, subject or text", max_chars=200, key="r-search")
    category = f2.selectbox(
        "Category",
        [None, *CATS],
        format_func=lambda c: "All" if c is None else CATS[c],
        key="r-cat",
    )
    interested = f3.selectbox(
        "Interested",
        [None, True, False],
        format_func=lambda v: {None: "All", True: "Interested", False: "Not interested"}[v],
        key="r-int",
    )
    folder = f4.selectbox(
        "Folder", [None, *replies.FOLDERS], format_func=lambda v: v or "All", key="r-folder"
    )
    g1, g2, g3, g4, g5 = st.columns([2, 1, 1, 1, 1])
    camp_options = ui.cached(replies.campaigns, sc)
    camp_labels = dict(camp_options)
    campaign = g1.selectbox(
        "Campaign",
        [None, *camp_labels],
        format_func=lambda c: "All" if c is None else camp_labels.get(c, str(c)),
        key="r-camp",
    )
    sentiment = g2.selectbox(
        "Sentiment",
        [None, "positive", "neutral", "negative"],
        format_func=lambda v: "All" if v is None else v.capitalize(),
        key="r-sent",
    )
    WHEN = {None: "Any time", "today": "Today", "week": "Last 7 days", "since": "Since a day…"}
    when = g3.selectbox("Received", list(WHEN), format_func=WHEN.get, key="r-when")
    today = ui.today()
    since = until = None
    if when == "today":
        since = until = today
    elif when == "week":
        since = today - dt.timedelta(days=6)
    elif when == "since":
        picked = g3.date_input(
            "From",
            value=today - dt.timedelta(days=30),
            max_value=today,
            key="r-since",
            format="YYYY-MM-DD",
            label_visibility="collapsed",
        )
        since = picked if isinstance(picked, dt.date) else None
    unread = g4.checkbox("Unread only", key="r-unread")
    unhandled = g5.checkbox("Not handled", key="r-unhandled")
    filters = dict(
        search=search or None,
        category=category,
        sentiment=sentiment,
        interested=interested,
        folder=folder,
        campaign_id=campaign,
        since=since,
        until=until,
        unread=unread,
        unhandled=unhandled,
    )
    counts = ui.cached(replies.inbox_count, sc, **filters)
    total = counts["total"]
    pages = max(1, -(-total // replies.PAGE_SIZE))
    filter_key = abs(hash(tuple(sorted((k, str(v)) for k, v in filters.items())))) % 10**8
    page = 1
    pager = st.container()
    if pages > 1:
        with pager:
            p1, _ = st.columns([1, 4])
            page = int(
                p1.number_input(
                    f"Page (of {pages:,})",
                    min_value=1,
                    max_value=pages,
                    value=1,
                    step=1,
                    key=f"r-page-{filter_key}",
                )
            )
    offset = (page - 1) * replies.PAGE_SIZE
    table_key = f"reply-table-{filter_key}-{page}"

    def load():
        return ui.cached(replies.inbox, sc, limit=replies.PAGE_SIZE, offset=offset, **filters)

    table = load()
    # opening a reply marks it read at once, so its row and the counts change in this run
    chosen = st.session_state.get(table_key)
    rows = chosen.selection.rows if chosen is not None and chosen.selection else []
    if rows and rows[0] < table.height:
        picked_row = table.row(rows[0], named=True)
        if not picked_row["read"]:
            try:
                if replies.mark_opened(ui.db(), user, picked_row["workspace_id"], picked_row["id"]):
                    if not unread:  # with "Unread only" the row stays until the next change
                        table = load()
                    counts = ui.cached(replies.inbox_count, sc, **filters)
            except replies.ReplyActionError as exc:
                st.warning(ui.md(exc))
    m1, m2, m3, m4 = st.columns(4)
    m1.metric("Replies", ui.fmt_int(counts["total"]), help="Matching the filters", border=True)
    m2.metric("Interested", ui.fmt_int(counts["interested"]), border=True)
    m3.metric(
        "Unread",
        ui.fmt_int(counts["unread"]),
        help="Neither read in Email Bison nor opened here",
        border=True,
    )
    m4.metric("Not handled", ui.fmt_int(counts["unhandled"]), border=True)
    if table.height == 0:
        st.info(
            "No replies match the filters."
            if any(
                [
                    search,
                    category,
                    interested is not None,
                    folder,
                    campaign,
                    unread,
                    unhandled,
                    when,
                ]
            )
            else "No replies yet. They appear after an Email Bison sync (Data sync page)."
        )
    else:
        st.caption(
            f"Showing {offset + 1:,}–{offset + table.height:,} of {total:,}, newest first."
            + (" Older ones are on the next pages." if pages > 1 else "")
        )
        FIRST = ["received", "client", "name", "category", "interested", "read", "handled"]
        shown = (
            table.drop("workspace_id", "id", "campaign_id", "from_email")
            .with_columns(pl.col("category").replace(CATS), pl.col("sentiment").str.to_titlecase())
            .pipe(lambda d: d.select(FIRST + [c for c in d.columns if c not in FIRST]))
        )
        event = st.dataframe(
            shown,
            hide_index=True,
            on_select="rerun",
            selection_mode="single-row",
            key=table_key,
            column_config=ui.display_columns(
                shown,
                {
                    "received": st.column_config.DatetimeColumn(
                        "Received", format="MMM D, HH:mm", pinned=True
                    ),
                    "client": st.column_config.TextColumn("Client", pinned=True),
                    "name": st.column_config.TextColumn("Name", pinned=True),
                    "category": st.column_config.TextColumn("Category"),
                    "preview": st.column_config.TextColumn("Reply", width="large"),
                    "read": st.column_config.CheckboxColumn("Read"),
                    "handled": st.column_config.CheckboxColumn("Handled"),
                    "overridden": st.column_config.CheckboxColumn(
                        "Category changed", help="Staff changed the classifier's category"
                    ),
                },
            ),
        )
        st.download_button(
            "Download CSV",
            data=lambda: ui.frame_to_csv(table),
            file_name=f"replies-{ui.today():%Y%m%d}.csv",
            mime="text/csv",
            icon=":material/download:",
            on_click="ignore",
        )
        rows = event.selection.rows if event and event.selection else []
        if rows:
            sel = table.row(rows[0], named=True)
            from pages import reply_view

            reply_view.render(sel["workspace_id"], sel["id"], user, staff)
        else:
            st.caption("Select a reply to read the conversation, classify, draft and answer it.")

with tab_stats:
    by = st.radio(
        "Per", ["client", "campaign"], horizontal=True, format_func=str.capitalize, key="r-stats-by"
    )
    stats = ui.cached(replies.stats, sc, by=by)
    if stats.height:
        totals = {c: int(stats[c].sum()) for c in CATS}
        fig = go.Figure(go.Bar(x=[CATS[c] for c in totals], y=list(totals.values())))
        fig.update_layout(height=260, margin=dict(l=10, r=10, t=10, b=10))
        st.plotly_chart(fig, width="stretch")
    ui.table(
        stats,
        name=f"reply-stats-{by}",
        key="r-stats",
        column_config={
            "interested_rate": st.column_config.NumberColumn("Interested share", format="percent")
        },
    )

with tab_templates:
    templates = ui.cached(reply_drafts.list_templates, None)
    st.caption("Merge fields: " + " ".join(f"`{{{f}}}`" for f in reply_drafts.MERGE_FIELDS))
    ui.table(templates, name="reply-templates", key="t-table")
    if staff:
        with st.form("template-form"):
            names = templates["name"].to_list() if templates.height else []
            pick = st.selectbox("Edit", ["(new template)", *names], key="t-pick")
            current = (
                templates.filter(templates["name"] == pick)["body"][0] if pick in names else ""
            )
            name = st.text_input("Name", value="" if pick not in names else pick, max_chars=80)
            body = st.text_area("Body", value=current, height=220)
            if st.form_submit_button("Save template", type="primary"):
                try:
                    reply_drafts.save_template(ui.db(), user, name, body)
                    st.session_state["replies_flash"] = ("success", f"Saved template {name}.")
                    st.rerun()
                except (replies.ReplyActionError, PermissionError) as exc:
                    st.error(ui.md(exc))

with tab_rules:
    st.write(
        "Each reply gets the category of the **first** rule that matches its own text (quoted "
        "history is ignored). Staff can override a category on any reply; the override is kept "
        "with who and when, and syncs never undo it."
    )
    ui.table(
        pl.DataFrame(reply_classifier.rules_table()),
        name="reply-rules",
        key="rules-table",
        column_config={"patterns": st.column_config.TextColumn("Patterns", width="large")},
    )
