"""Month board: every client's pipeline for one renewal month on one screen, worst first, with
Run pipeline, Upload pending and Fill the gap (its pull plan shown before it runs) per client."""

import polars as pl
import streamlit as st

from core.pipeline import board, master_db
from core.platform import jobs, renewals
from pages import ui
from pages.components.job_progress import job_progress

ui.ensure_router("month_board")
st.title("Month board")
database = ui.db()
sc = ui.scope()

default_month = renewals.add_months(renewals.month_start(ui.today()), 2)
months = [renewals.add_months(default_month, i) for i in range(-3, 4)]
c1, c2 = st.columns([2, 5])
month = c1.selectbox(
    "Renewal month",
    months,
    index=3,
    format_func=lambda m: f"{m:%B %Y}",
    help="The month the policies renew; its batches are mailed the month before.",
    key="board-month",
)
c2.caption(
    f"Every client's contacts for {month:%B %Y} renewals: what the package needs, what came in, "
    "what passed, the four weekly batches and their upload, this Monday's evergreen batch, and "
    "what it takes to close the gap. Worst first."
)

table = ui.cached(board.month_board, sc, month, today=ui.today())
if table.height == 0:
    st.info("No clients yet. Add one under Settings, or load the demo from the Overview page.")
    st.stop()

behind = table.filter(pl.col("gap") > 0)
m1, m2, m3, m4 = st.columns(4)
m1.metric("Clients", ui.fmt_int(table.height), border=True)
m2.metric("Behind the goal", ui.fmt_int(behind.height), border=True)
m3.metric("Refined contacts missing", ui.fmt_int(int(table["gap"].sum())), border=True)
m4.metric(
    "Batches waiting for upload", ui.fmt_int(int(table["batches_pending"].sum())), border=True
)

window_cols = {
    w: st.column_config.TextColumn(f"Renewals {label}", help="Contacts · upload state")
    for w, label in zip(board.WINDOWS, board.WINDOW_LABELS, strict=True)
}
# What to do first sits next to the client; the counts behind it follow, left to right.
shown = table.select(
    "workspace_id",
    "client",
    "missing_share",
    "gap",
    "recommended_pull",
    "next_step",
    "needed",
    "imported",
    "pulled",
    "filtered",
    "verified",
    *board.WINDOWS,
    "evergreen",
)
event = st.dataframe(
    shown,
    hide_index=True,
    on_select="rerun",
    selection_mode="single-row",
    # A new key after each action: the rows move when the counts change, and a selection kept
    # by row number would point at another client.
    key=f"board-table-{st.session_state.get('board_gen', 0)}",
    height=min(36 * (table.height + 1) + 3, 800),
    column_config=ui.display_columns(
        shown,
        {
            "workspace_id": None,
            "missing_share": st.column_config.ProgressColumn(
                "Missing",
                min_value=0,
                max_value=1,
                format="percent",
                help="Share of the need not refined yet",
            ),
            "needed": st.column_config.NumberColumn(
                "Needed", help="Refined contacts the package needs", format="localized"
            ),
            "imported": st.column_config.NumberColumn(
                "Imported", help="From contact files", format="localized"
            ),
            "pulled": st.column_config.NumberColumn(
                "Pulled", help="From the master database", format="localized"
            ),
            "filtered": st.column_config.NumberColumn("Passed filters", format="localized"),
            "verified": st.column_config.NumberColumn("Verified", format="localized"),
            **window_cols,
            "evergreen": st.column_config.TextColumn("Evergreen this Monday"),
            "gap": st.column_config.NumberColumn("Gap", format="localized"),
            "recommended_pull": st.column_config.NumberColumn(
                "Recommended pull",
                help="From the master database, with the pass rates of past runs",
                format="localized",
            ),
            "next_step": st.column_config.TextColumn("Next step"),
        },
    ),
)
st.download_button(
    "Download CSV",
    data=lambda: ui.frame_to_csv(table.drop("workspace_id")),
    file_name=f"month-board-{month:%Y-%m}.csv",
    mime="text/csv",
    icon=":material/download:",
    on_click="ignore",
)

# -- acting on one client --------------------------------------------------------------------


def done(job: dict) -> tuple[str, str]:
    if job["status"] == "succeeded":
        r = job["result"]
        pulled = f"pulled {r['pulled']:,}, " if "pulled" in r else ""
        return "success", f"Done: {pulled}the board shows the new counts."
    return "error", f"{job['status'].capitalize()}: {ui.md(job.get('error') or '')}"


job_progress("board_job", label="Working…", on_done=done, flash_key="board_flash")

labels = dict(zip(table["workspace_id"].to_list(), table["client"].to_list(), strict=True))
rows = event.selection.rows if event and event.selection else []
chosen = table["workspace_id"][rows[0]] if rows else st.session_state.get("board_wid")
wid = st.selectbox(
    "Act for",
    list(labels),
    index=list(labels).index(chosen) if chosen in labels else None,
    format_func=labels.get,
    placeholder="Select a row in the board, or pick a client",
    key=f"board-client-{chosen}",
)
if wid is None:
    st.stop()
row = table.filter(pl.col("workspace_id") == wid).row(0, named=True)
can_run = ui.can("pipeline.run")
no_run = None if can_run else "Your role cannot run the pipeline."
st.markdown(
    f"**{ui.md(row['client'])}** · need {row['needed']:,} · verified {row['verified']:,} · "
    f"gap {row['gap']:,} · next step: **{ui.md(row['next_step'])}**"
)


def start(kind: str, params: dict, message: str) -> None:
    st.session_state["board_wid"] = wid  # stays the client acted for after the board re-sorts
    st.session_state["board_gen"] = st.session_state.get("board_gen", 0) + 1
    try:
        st.session_state["board_job"] = jobs.start(
            database, kind, {**params, "actor": ui.actor()}, requested_by=ui.actor()
        )
        st.session_state["board_flash"] = ("success", message)
    except jobs.JobError as exc:
        st.session_state["board_flash"] = ("error", str(exc))
    st.rerun()


b1, b2, b3 = st.columns(3)
if b1.button("Run pipeline", icon=":material/play_arrow:", disabled=not can_run, help=no_run):
    start(
        "pipeline.run",
        {"workspace_id": wid, "month": str(month)},
        f"Running the pipeline for {row['client']}; the Pipeline page shows each stage.",
    )
if b2.button(
    "Upload pending",
    icon=":material/cloud_upload:",
    disabled=not can_run or not row["batches_pending"],
    help=no_run or ("No batch waiting for upload." if not row["batches_pending"] else None),
):
    start(
        "pipeline.run",
        {"workspace_id": wid, "month": str(month), "from_stage": "upload"},
        f"Uploading {row['client']}'s pending batches.",
    )
show_plan = b3.toggle(
    "Fill the gap…",
    disabled=not can_run or not row["recommended_pull"],
    help=no_run or (None if row["recommended_pull"] else "No gap to fill."),
    key=f"board-plan-{wid}",
)
if show_plan:
    if not master_db.configured(database):
        st.warning("Set up the master contacts database under Settings → Connections first.")
        st.stop()
    try:
        plan = board.pull_plan(database, wid, month)
    except Exception as exc:  # unreachable server, bad layout: said in plain words
        st.error(f"The master database cannot be read: {ui.md(str(exc).splitlines()[0])}")
        st.stop()
    st.markdown(
        f"**The pull plan.** {plan['want']:,} contacts from the master database "
        f"({plan['available']:,} available in {plan['zips']} ZIPs), in "
        f"{plan['query_count']} source queries of at most {plan['row_limit']:,} rows each; "
        "then the pipeline runs on them."
    )
    ui.table(pl.DataFrame(plan["queries"]), name="pull-plan", key="pull-plan")
    if plan["short_by"]:
        st.warning(
            f"The territory has {plan['short_by']:,} fewer contacts than the recommended pull: "
            "the Pipeline page's gap tab lists other ways to close it."
        )
    if st.button(f"Pull {plan['want']:,} and run the pipeline", type="primary", key="board-fill"):
        start(
            "pipeline.fill_gap",
            {"workspace_id": wid, "month": str(month), "count": plan["want"]},
            f"Pulling for {row['client']}; the run shows on the Pipeline page.",
        )
