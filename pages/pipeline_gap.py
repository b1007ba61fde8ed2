"""The Pipeline page's Gap to goal tab: the plan capped at what the territory can supply, the
pass rates and the recommended pull, the ways to close the gap, and Fill the gap (greyed with
its reason)."""

from __future__ import annotations

import datetime as dt

import polars as pl
import streamlit as st

from core.pipeline import gap, master_db
from core.platform import jobs
from core.platform.store import Database
from pages import ui


def render(database: Database, wid: int, month: dt.date, no_run: str | None) -> None:
    can_run = no_run is None
    master_on = master_db.configured(database)
    available, master_error = None, None
    if master_on:
        try:
            avail = master_db.availability(database, wid)
            available = int(avail["available"].sum())
        except Exception as exc:  # the health check on the Import tab says what is wrong
            master_error = str(exc).splitlines()[0]
    g = gap.capped_plan(database, wid, month, available)
    m1, m2, m3, m4, m5 = st.columns(5)
    m1.metric("Needed", ui.fmt_int(g["needed"]), help="Refined contacts the package needs")
    m2.metric(
        "Plan",
        ui.fmt_int(g["plan"]),
        help="What the territory can supply, at most what the package needs",
    )
    m3.metric("Refined", ui.fmt_int(g["refined"]), help="Verified, batched or uploaded")
    m4.metric("Gap", ui.fmt_int(g["gap"]), help="Needed − refined")
    m5.metric("Recommended pull", ui.fmt_int(g["recommended_pull"]))
    if g["capped"]:
        st.warning(ui.md(g["capped_reason"]), icon=":material/fence:")
    st.caption(ui.md(g["arithmetic"]))
    if g["over_target"]:
        st.info(
            f"{g['over_target']:,} refined contacts over the package: a candidate for an upsell."
        )
    st.dataframe(
        pl.DataFrame(
            [
                {"stage": k, "pass rate": f"{v['rate']:.1%}", "basis": v["basis"]}
                for k, v in g["rates"].items()
            ]
        ),
        hide_index=True,
    )
    st.markdown("**Ways to close the gap**")
    ui.table(gap.ways_to_close(database, wid, month), name="gap-ways", key="gap-ways")
    if available is not None:
        st.caption(f"Master database: {available:,} contacts available in this client's ZIPs.")
    elif master_error:
        st.caption(f"Master database unavailable: {ui.md(master_error)}")
    if not can_run:
        fill_why = no_run
    elif not master_on:
        fill_why = (
            "Pulling needs the master contacts database: set it under Settings → Connections."
        )
    elif master_error:
        fill_why = (
            "The master database cannot be reached now; check its connection on the Import tab."
        )
    elif not g["recommended_pull"]:
        fill_why = (
            "The territory has nothing more to pull: add ZIPs or widen the filters."
            if g["capped"]
            else "Nothing to pull: the contacts in hand cover the plan."
        )
    else:
        fill_why = None
    if fill_why:
        st.caption(f"Fill the gap is off: {ui.md(fill_why)}")
    if st.button(
        f"Fill the gap: pull {g['recommended_pull']:,} and run the pipeline",
        disabled=bool(fill_why),
        help=fill_why,
    ):
        try:
            jobs.start(
                database,
                "pipeline.fill_gap",
                {
                    "workspace_id": wid,
                    "month": str(month),
                    "count": g["recommended_pull"],
                    "actor": ui.actor(),
                },
                requested_by=ui.actor(),
            )
            st.success("Pulling; the run shows on the Run tab.")
        except jobs.JobError as exc:
            st.warning(str(exc))
