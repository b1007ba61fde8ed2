"""Pipeline: one-click runs per client and month with live progress, cancel and retry; run history
with a funnel; contact import with mapping preview; renewal batches; gap to goal; filter rules."""

import io
import json
import tempfile
import uuid
from pathlib import Path

import plotly.graph_objects as go
import polars as pl
import streamlit as st

from core.accounts import workspaces
from core.pipeline import (
    batching,
    contact_import,
    filters,
    import_outcome,
    master_db,
    notices,
    run_check,
    suppression,
    uploads,
    verification,
)
from core.pipeline import runs as pipeline
from core.platform import jobs, renewals, suppression_store
from pages import pipeline_gap, ui
from pages.components import secret_notice, staged_upload
from pages.components.job_progress import job_progress
from pages.debounce_credits import credit_box
from pages.filter_rule_edit import edit_rules

ui.ensure_router("pipeline")
st.title("Pipeline")
database = ui.db()
user = ui.current_user()
sc = ui.user_scope()
labels = ui.cached(workspaces.labels, sc)
if not labels:
    st.info("No clients yet. Add one under Settings, or load the demo from the Overview page.")
    st.stop()
ids = list(labels)
picked = st.session_state.get("workspace_id")

c1, c2, c3 = st.columns([3, 2, 2])
wid = c1.selectbox(
    "Client", ids, index=ids.index(picked) if picked in ids else 0, format_func=labels.get
)
default_month = renewals.add_months(renewals.month_start(ui.today()), 2)
months = [renewals.add_months(default_month, i) for i in range(-6, 7)]
month = c2.selectbox(
    "Renewal month",
    months,
    index=6,
    format_func=lambda m: f"{m:%B %Y}",
    help="The month the policies renew; its campaigns start about 30 days earlier.",
)
if verification.debounce_configured(database):
    c3.success("Verification: Debounce", icon=":material/verified:")
    credit_box(c3, database)
else:
    secret_notice.missing_secret(
        "Verification: local checks only (no Debounce key) — mailboxes are not verified.", c3
    )
can_run = ui.can("pipeline.run")
no_run = None if can_run else "Your role cannot run the pipeline."

TABS = ["Run", "History", "Import", "Batches", "Gap to goal", "Rules & suppression"]
tab_run, tab_hist, tab_imp, tab_batch, tab_gap, tab_rules = st.tabs(
    TABS, default=ui.linked_tab(*TABS)
)

# -- run -------------------------------------------------------------------------------------
with tab_run:
    r1, r2, r3, r4 = st.columns([2, 2, 2, 2])
    from_stage = r1.selectbox("Start at stage", pipeline.STAGES, key="from_stage")
    blocked = run_check.why_not(database, wid, month, from_stage)
    if r2.button(
        "Run pipeline",
        type="primary",
        icon=":material/play_arrow:",
        disabled=not can_run or bool(blocked),
        help=no_run or blocked,
    ):
        try:
            pipeline.start_run(database, user, wid, month, from_stage)
            st.rerun()
        except jobs.JobError as exc:
            st.warning(str(exc))
    no_bulk = run_check.why_not_all(database, month)
    if r3.button(
        "Process all pending", disabled=not can_run or bool(no_bulk), help=no_run or no_bulk
    ):
        try:
            st.session_state["bulk_job"] = jobs.start(
                database,
                "pipeline.process_all",
                {"month": str(month), "actor": ui.actor()},
                requested_by=ui.actor(),
            )
        except jobs.JobError as exc:
            st.warning(str(exc))
    no_upload = run_check.why_not_all(database, month, "upload")
    if r4.button(
        "Upload all pending", disabled=not can_run or bool(no_upload), help=no_run or no_upload
    ):
        try:
            st.session_state["bulk_job"] = jobs.start(
                database,
                "pipeline.process_all",
                {"month": str(month), "from_stage": "upload", "actor": ui.actor()},
                requested_by=ui.actor(),
            )
        except jobs.JobError as exc:
            st.warning(str(exc))

    if blocked and can_run:
        st.info(f"Run pipeline is off: {ui.md(blocked)}", icon=":material/block:")
    job_progress(
        "bulk_job",
        label=lambda job: f"All clients: {job['message'] or job['stage'] or ''}",
        on_done=lambda job: (
            "info" if job["status"] == "succeeded" else "warning",
            f"All clients: {job['status']}. "
            + "; ".join(f"{k}: {len(v)}" for k, v in job["result"].items())
            + (f" — {ui.md(job['error'])}" if job["error"] else ""),
        ),
    )
    live = pipeline.active_run(database, wid)

    # the runs of the bulk job show here as they go
    @st.fragment(run_every=1.0 if live or st.session_state.get("bulk_job") else None)
    def progress() -> None:
        run = pipeline.active_run(database, wid)
        if not run:
            last = pipeline.runs(database, sc.narrow(wid), 1)
            if last.height:
                r = last.row(0, named=True)
                msg = f"Last run #{r['id']} ({r['month']:%B %Y}, from {r['from_stage']}): {r['status']}"
                if r["status"] == "succeeded":
                    st.success(msg)
                elif r["status"] in ("failed", "cancelled"):
                    st.error(f"{msg} — {r['error'] or ''}")
                    if st.button(
                        "Retry from the failed stage",
                        icon=":material/replay:",
                        disabled=not can_run,
                        key=f"retry-{r['id']}",
                    ):
                        try:
                            pipeline.retry_run(database, user, r["id"])
                            st.rerun()
                        except jobs.JobError as exc:
                            st.warning(str(exc))
                show_stages(r["id"])
            else:
                st.caption("No runs yet for this client.")
            return
        st.markdown(f"**Run #{run['id']} in progress**")
        show_stages(run["id"], live=True)
        if st.button("Cancel run", icon=":material/stop:", disabled=not can_run):
            pipeline.cancel_run(database, user, run["id"])

    def show_stages(run_id: int, live: bool = False) -> None:
        stages = pipeline.stages(database, run_id)
        for s in stages.iter_rows(named=True):
            total, done = s["total"], s["done"] or 0
            secs = float(s["seconds"] or 0)
            rate = done / secs if secs and done else 0
            eta = (total - done) / rate if rate and total else None
            text = (
                f"{s['stage']}: {s['status']} — {done:,}/{total:,}"
                if total
                else f"{s['stage']}: {s['status']}"
            )
            if s["status"] == "running" and rate:
                text += f" · {rate:,.0f}/s" + (f" · ETA {eta:,.0f} s" if eta else "")
            if s["status"] == "succeeded" and s["input_count"] is not None:
                text += f" · {s['input_count']:,} in → {s['output_count']:,} out in {secs:.1f} s"
                carried = json.loads(s["counts"] or "{}").get("carried_in") or 0
                if carried:
                    text += f" (incl. {carried:,} already past this stage, carried along)"
                if held := json.loads(s["counts"] or "{}").get("held_back"):
                    text += f" · {held:,} held back: suppressed after batching"
            if s["error"]:
                text += f" · {s['error']}"
            frac = 1.0 if s["status"] == "succeeded" else (done / total if total else 0.0)
            st.progress(min(frac, 1.0), text=text)

    progress()

    st.subheader("Upload campaigns")
    camp = uploads.campaign_settings(database, wid)
    known = uploads.known_campaigns(database, wid)
    opts = [None] + known["id"].to_list()
    names = dict(zip(known["id"].to_list(), known["name"].to_list(), strict=True))
    with st.form("campaigns"):
        f1, f2 = st.columns(2)
        up = f1.selectbox(
            "Batches are attached to",
            opts,
            index=opts.index(camp["upload_campaign_id"])
            if camp["upload_campaign_id"] in opts
            else 0,
            format_func=lambda c: "(choose a campaign)" if c is None else names.get(c, str(c)),
        )
        ev = f2.selectbox(
            "Evergreen campaign (Mondays)",
            opts,
            index=opts.index(camp["evergreen_campaign_id"])
            if camp["evergreen_campaign_id"] in opts
            else 0,
            format_func=lambda c: "(none)" if c is None else names.get(c, str(c)),
        )
        if st.form_submit_button("Save", disabled=not can_run):
            uploads.set_campaigns(
                database, user, wid, upload_campaign_id=up, evergreen_campaign_id=ev
            )
            st.success("Saved.")
    if not known.height:
        st.caption("No Email Bison campaigns synced for this client yet (Data sync).")

# -- history ---------------------------------------------------------------------------------
with tab_hist:
    hist = ui.cached(pipeline.runs, sc.narrow(wid), 100)
    when = "MMM D, YYYY HH:mm"
    ui.table(
        hist.drop("workspace_id"),
        name="pipeline-runs",
        key="runs",
        column_config={
            "id": st.column_config.NumberColumn("Run", format="#%d"),
            "month": st.column_config.DateColumn("Renewal month", format="MMMM YYYY"),
            "created_at": st.column_config.DatetimeColumn("Requested", format=when),
            "finished_at": st.column_config.DatetimeColumn("Finished", format=when),
            "retry_of": st.column_config.NumberColumn("Retry of", format="#%d"),
        },
    )
    if hist.height:
        run_labels = {
            r["id"]: f"#{r['id']} · {r['month']:%B %Y} · {r['status']}"
            for r in hist.iter_rows(named=True)
        }
        run_id = st.selectbox("Run", hist["id"].to_list(), format_func=run_labels.get)
        stages = pipeline.stages(database, run_id)
        ui.table(
            stages.drop("counts"),
            name=f"run-{run_id}-stages",
            key="stages",
            column_config={
                "input_count": st.column_config.NumberColumn(
                    "In",
                    help="What reached the stage: the previous stage's Out. Contacts already "
                    "past it before the run count here and in Out (carried along).",
                    format="localized",
                ),
                "output_count": st.column_config.NumberColumn(
                    "Out", help="What it passed on to the next stage", format="localized"
                ),
                "started_at": st.column_config.DatetimeColumn("Started", format=when),
                "finished_at": st.column_config.DatetimeColumn("Finished", format=when),
                "seconds": st.column_config.NumberColumn("Seconds", format="%.1f"),
            },
        )
        rows = {s["stage"]: s for s in stages.iter_rows(named=True)}
        steps, values = [], []
        if rows["filter"]["input_count"] is not None:
            steps.append("Raw")
            values.append(rows["filter"]["input_count"])
        for stage, label in (
            ("filter", "Filtered"),
            ("verify", "Verified"),
            ("batch", "Batched"),
            ("upload", "Uploaded"),
        ):
            if rows[stage]["output_count"] is not None:
                steps.append(label)
                values.append(rows[stage]["output_count"])
        if steps:
            fig = go.Figure(go.Funnel(y=steps, x=values, textinfo="value+percent initial"))
            fig.update_layout(height=300, margin=dict(l=10, r=10, t=10, b=10))
            st.plotly_chart(fig, width="stretch")
        removed = json.loads(rows["filter"]["counts"] or "{}").get("removed_by_rule") or {}
        if removed:
            st.markdown("**Removed by each rule**")
            removed_df = pl.DataFrame({"rule": list(removed), "contacts": list(removed.values())})
            st.dataframe(removed_df, hide_index=True, column_config=ui.display_columns(removed_df))

# -- import ----------------------------------------------------------------------------------
with tab_imp:
    can_import = ui.can("pipeline.import")

    # Polled before the uploader: an import that has ended clears it (the job released its
    # file) before the file could be staged again.
    def imported(job: dict) -> tuple[str, str]:
        staged_upload.clear()  # the job has released the file; the uploader starts afresh
        if job["status"] != "succeeded":
            return "error", f"Import failed: {ui.md(job['error'] or '')}"
        r = job["result"]
        told = import_outcome.summary(import_outcome.outcome(database, r["import_id"]))
        return "success", (
            f"Import {r['import_id']}: {r['rows_read']:,} rows read, {r['imported']:,} "
            f"imported, {r['duplicates']:,} duplicates, {r['rejected']:,} rejected "
            f"(read as {ui.md(r.get('encoding', 'utf-8'))}; rejected rows below). {ui.md(told)}"
        )

    job_progress(
        "import_job",
        label=lambda job: f"Importing: {job['stage'] or 'starting'}",
        on_done=imported,
        flash_key="import_flash",
        counted=False,
    )
    up_file = st.file_uploader(
        "Contact file (CSV or Excel)",
        type=["csv", "txt", "xlsx"],
        disabled=not can_import,
        key=staged_upload.uploader_key(),
    )
    held = staged_upload.hold(database, up_file, busy=bool(st.session_state.get("import_job")))
    if held is not None and held.error:
        st.error(ui.md(held.error))
    elif held is not None and held.info is not None:
        info = held.info
        st.caption(
            f"Read as {ui.md(info.encoding)}, delimiter {info.delimiter!r}, "
            f"{len(info.headers)} columns."
        )
        mapping = {}
        cols = st.columns(4)
        for i, fld in enumerate(contact_import.FIELDS):
            choice = cols[i % 4].selectbox(
                fld.replace("_", " ").capitalize(),
                [None, *info.headers],
                index=(
                    [None, *info.headers].index(info.mapping[fld]) if fld in info.mapping else 0
                ),
                format_func=lambda h: "(not in file)" if h is None else h,
                key=f"map-{fld}",
            )
            if choice:
                mapping[fld] = choice
        st.dataframe(info.preview, hide_index=True)
        st.caption(
            f"Rows without a purchase date are given the renewal month chosen above "
            f"({month:%B %Y})."
        )
        if st.button(
            "Import",
            type="primary",
            disabled=not can_import or bool(st.session_state.get("import_job")),
        ):
            st.session_state["import_job"] = jobs.start(
                database,
                "contacts.import",
                {
                    "workspace_id": wid,
                    "path": held.path,
                    "mapping": mapping,
                    "actor": ui.actor(),
                    "filename": held.name,
                    "month": str(month),
                },
                requested_by=ui.actor(),
                exclusive=False,
            )
            st.rerun()  # the progress above polls from the next run on

    st.subheader("Master contacts database")
    if master_db.configured(database):
        if st.button("Check connection"):
            h = master_db.health(database)
            (st.success if h["ok"] else st.error)(f"{ui.md(h['message'])} ({h['ms']} ms)")
        ui.table(ui.cached(master_db.pull_history, sc.narrow(wid)), name="pulls", key="pulls")
    else:
        st.caption("Not configured: set its address under Settings → Connections.")
    st.subheader("Import history")
    imports = ui.cached(contact_import.history, sc.narrow(wid))
    ui.table(imports, name="imports", key="imports")
    if imports.height:
        imp = st.selectbox(
            "Rejected rows of import", imports["id"].to_list(), format_func=lambda i: f"#{i}"
        )
        st.info(
            ui.md(import_outcome.summary(ui.cached(import_outcome.outcome, None, imp))),
            icon=":material/fact_check:",
        )
        ui.table(contact_import.rejects(database, imp), name=f"import-{imp}-rejects", key="rejects")

# -- batches ---------------------------------------------------------------------------------
with tab_batch:
    bl = ui.cached(batching.list_batches, sc.narrow(wid), month)
    ui.table(bl, name="batches", key="batches")
    if bl.height:
        b = st.selectbox(
            "Batch",
            bl["id"].to_list(),
            format_func=dict(zip(bl["id"].to_list(), bl["name"].to_list(), strict=True)).get,
        )
        buf = io.StringIO()
        batching.export_batch(database, sc, b, buf)
        st.download_button(
            "Download batch CSV",
            buf.getvalue(),
            file_name=f"batch-{b}.csv",
            mime="text/csv",
            icon=":material/download:",
        )
        sure = st.checkbox("I understand: this cannot be undone", key="batch-sure")
        d1, d2, d3 = st.columns(3)
        if d1.button("Delete this batch", disabled=not (can_run and sure)):
            try:
                batching.delete_batches(database, user, batch_id=b)
                st.rerun()
            except ValueError as exc:
                st.error(str(exc))
        if d2.button(f"Delete all of {month:%B}", disabled=not (can_run and sure)):
            try:
                batching.delete_batches(database, user, workspace_id=wid, month=month)
                st.rerun()
            except ValueError as exc:
                st.error(str(exc))
        if d3.button(
            "Revert upload (delete leads in Email Bison)", disabled=not (can_run and sure)
        ):
            try:
                n = uploads.revert_upload(database, user, b)
                st.success(f"Deleted {n:,} leads in Email Bison.")
            except uploads.UploadError as exc:
                st.error(str(exc))

# -- gap to goal -----------------------------------------------------------------------------
with tab_gap:
    pipeline_gap.render(database, wid, month, no_run)

# -- rules -----------------------------------------------------------------------------------
with tab_rules:
    ui.table(ui.cached(filters.list_rules, None), name="filter-rules", key="rules")
    admin = ui.can("pipeline.rules")
    with st.form("rule"):
        st.markdown("**Add a rule**")
        a1, a2, a3, a4 = st.columns(4)
        rname = a1.text_input("Name (the reject reason)")
        field = a2.selectbox("Field", list(filters.FIELDS))
        op = a3.selectbox(
            "Operator", list(filters.OPERATORS), format_func=lambda o: filters.OPERATORS[o][0]
        )
        value = a4.text_input("Value")
        scope_ws = st.selectbox(
            "Applies to",
            [None, *ids],
            format_func=lambda w: "All clients" if w is None else labels[w],
        )
        if st.form_submit_button("Add rule", disabled=not admin):
            try:
                filters.save_rule(
                    database,
                    user,
                    name=rname,
                    field=field,
                    operator=op,
                    value=value or None,
                    workspace_id=scope_ws,
                )
                st.rerun()
            except filters.RuleError as exc:
                st.error(str(exc))
    rules = filters.list_rules(database)
    if admin and rules.height:
        t1, t2 = st.columns(2)
        rid = t1.selectbox(
            "Rule",
            rules["id"].to_list(),
            format_func=dict(zip(rules["id"].to_list(), rules["name"].to_list(), strict=True)).get,
        )
        row = rules.filter(pl.col("id") == rid).row(0, named=True)
        if t2.button("Disable" if row["enabled"] else "Enable"):
            filters.set_enabled(database, user, rid, not row["enabled"])
            st.rerun()
    edit_rules(database, user, labels)
    st.subheader("Suppression list")
    supp = st.file_uploader(
        "Add addresses from a CSV or Excel file (unsubscribed, bounced, complaints)",
        type=["csv", "txt", "xlsx"],
        disabled=not admin,
        key="supp",
    )
    if supp is not None and st.button("Add to the suppression list", disabled=not admin):
        suffix = ".xlsx" if supp.name.lower().endswith(".xlsx") else ".csv"
        path = Path(tempfile.gettempdir()) / f"leadops-supp-{uuid.uuid4().hex}{suffix}"
        try:
            path.write_bytes(supp.getbuffer())
            rep = suppression.import_file(database, user, path, name=supp.name)
            st.success(
                f"{rep['added']:,} new addresses suppressed, {rep['already']:,} already listed, "
                f"{rep['rejected']:,} rejected (read as {ui.md(rep['encoding'])})."
            )
            if rep["rejected_rows"]:
                st.dataframe(pl.DataFrame(rep["rejected_rows"]), hide_index=True)
        except contact_import.ContactImportError as exc:
            st.error(ui.md(exc))
        finally:
            path.unlink(missing_ok=True)
    st.caption("Addresses per reason and source (search, add, remove: the Contacts page)")
    ui.table(ui.cached(suppression_store.counts_by_reason, None), name="supp-reasons")
    ui.table(ui.cached(filters.suppression_list, None), name="suppression", key="supp-list")
    st.subheader("Slack notices")
    hook = notices.webhook_last4(database)
    st.caption(
        f"Incoming webhook: …{ui.md(hook)}"
        if hook
        else "No Slack webhook: milestones are not posted."
    )
    if ui.can("secrets.manage"):
        with st.form("slack"):
            url = st.text_input("Incoming-webhook URL", type="password")
            if st.form_submit_button("Save webhook"):
                try:
                    st.success(f"Saved ({notices.set_webhook(database, user, url)}).")
                except ValueError as exc:
                    st.error(str(exc))
    st.dataframe(notices.recent(database, 20), hide_index=True)
    if can_run and st.button("Reset contacts stuck in 'verifying'"):
        st.info(f"{verification.reset_stuck(database, user, wid):,} contacts reset.")
