"""Client leads: every interested person per client with a pipeline stage, notes and an activity
timeline; counts per stage, the conversion funnel, and CRM delivery health."""

import plotly.graph_objects as go
import polars as pl
import streamlit as st

from core.replies import client_leads, crm_delivery, lead_record
from core.replies import inbox as replies
from pages import crm_panel, ui
from pages.components.job_progress import flash

ui.ensure_router("client_leads")
st.title("Client leads")
sc = ui.scope()
user = ui.current_user()

flash("leads_flash")  # notes, stage changes, and CRM delivery (crm_panel)

KIND_LABEL = {
    "email": "Email",
    "reply": "Reply",
    "note": "Note",
    "stage": "Stage",
    "crm": "CRM delivery",
}


def record_panel(wid: int, email: str, client: str) -> None:
    """How to reach the person, the home, the renewal, and who owns the ZIP."""
    rec = ui.cached(lead_record.lead_record, sc, wid, email, today=ui.today())
    if not rec:
        return
    if not rec["found"]:
        st.caption(
            "No contact row for this email in this client's contacts: only the email is known."
        )
        return
    street = ", ".join(
        str(x)
        for x in (rec["address"], rec["city"], f"{rec['state'] or ''} {rec['zip'] or ''}".strip())
        if x
    )
    if rec["renewal"] is None:
        renews = "–"
    elif rec["renewal_kind"] == "day":
        renews = f"{rec['renewal']:%b %-d, %Y}"
    else:
        renews = f"{rec['renewal']:%B %Y}"
    if rec["zip_owners"]:
        owner = ", ".join(rec["zip_owners"])
        if rec["owns_zip"] and len(rec["zip_owners"]) == 1:
            owner = f"{owner} (this client)"
    else:
        owner = "another client" if rec["zip_owned_elsewhere"] else "nobody (unassigned)"
    c1, c2, c3, c4 = st.columns([3, 2, 2, 2])
    c1.markdown(f"**Address**  \n{ui.md(street or '–')}")
    digits = "".join(ch for ch in str(rec["phone"] or "") if ch.isdigit())
    phone = (
        f"({digits[-10:-7]}) {digits[-7:-4]}-{digits[-4:]}"
        if len(digits) == 10 or (len(digits) == 11 and digits[0] == "1")
        else rec["phone"] or "–"
    )
    c2.markdown(f"**Phone**  \n{ui.md(phone)}")
    c3.markdown(
        f"**Renews**  \n{renews}"
        + (f"  \n:gray[bought {rec['purchase_date']:%b %-d, %Y}]" if rec["purchase_date"] else "")
    )
    c4.markdown(f"**ZIP owner**  \n{ui.md(owner)}")
    if rec["home_value"]:
        st.caption(f"Home value about ${rec['home_value']:,}.")


def timeline_panel(wid: int, email: str) -> None:
    """The lead's events newest first, each with its full text; a reply can be marked handled."""
    events = ui.cached(client_leads.timeline, sc, wid, email)
    if events.height == 0:
        st.caption("Nothing yet.")
        return
    can_handle = ui.can("replies.manage")
    shown = events.head(50)
    for i, ev in enumerate(shown.iter_rows(named=True)):
        with st.container(border=True):
            head = (
                f"{ev['occurred_at']:%b %-d, %Y %H:%M} · {KIND_LABEL.get(ev['kind'], ev['kind'])}"
            )
            if ev["who"]:
                head += f" · {ui.md(ev['who'])}"
            if ev["reply_id"] is not None:
                head += " · handled" if ev["handled"] else " · not handled"
            st.caption(head)
            st.text(ev["detail"] or "")
            if ev["reply_id"] is not None and can_handle:
                rid = int(ev["reply_id"])
                if st.button(
                    "Reopen" if ev["handled"] else "Mark handled",
                    key=f"lead-handled-{wid}-{rid}-{i}",
                    icon=":material/undo:" if ev["handled"] else ":material/task_alt:",
                ):
                    try:
                        replies.mark_handled(ui.db(), user, wid, rid, not ev["handled"])
                        st.session_state["leads_flash"] = (
                            "success",
                            "Reply reopened." if ev["handled"] else "Reply marked handled.",
                        )
                        st.rerun()
                    except (replies.ReplyActionError, PermissionError) as exc:
                        st.error(ui.md(exc))
    if events.height > shown.height:
        st.caption(f"The newest 50 of {events.height:,} events.")


counts = ui.cached(client_leads.stage_counts, sc)
cols = st.columns(len(client_leads.STAGES))
for col, stage in zip(cols, client_leads.STAGES, strict=True):
    col.metric(stage.capitalize(), ui.fmt_int(counts[stage]), border=True)

tab_leads, tab_funnel, tab_crm = st.tabs(["Leads", "Funnel", "CRM delivery"])

with tab_leads:
    c1, c2 = st.columns([1, 2])
    stage = c1.selectbox(
        "Stage",
        [None, *client_leads.STAGES],
        format_func=lambda s: "All" if s is None else s.capitalize(),
        key="l-stage",
    )
    search = c2.text_input("Search name or email", max_chars=200, key="l-search")
    leads = ui.cached(client_leads.list_leads, sc, stage=stage, search=search or None)
    if leads.height == 0:
        st.info(
            "No lead matches the filters."
            if stage or search
            else "No client leads yet. A lead appears when a reply is marked interested "
            "(in Email Bison or on the Replies page) and synced."
        )
    else:
        event = st.dataframe(
            leads.drop("workspace_id").with_columns(
                pl.col("stage").str.to_titlecase(), pl.col("crm_status").str.replace_all("_", " ")
            ),
            hide_index=True,
            on_select="rerun",
            selection_mode="single-row",
            key="lead-table",
            column_config=ui.display_columns(
                leads,
                {
                    "first_interested_at": st.column_config.DatetimeColumn(
                        "Interested", format="MMM D, YYYY"
                    ),
                    "last_reply_at": st.column_config.DatetimeColumn(
                        "Last reply", format="MMM D, HH:mm"
                    ),
                    "crm_delivered_at": st.column_config.DatetimeColumn(
                        "In CRM since", format="MMM D, HH:mm"
                    ),
                    "stage_changed_at": st.column_config.DatetimeColumn(
                        "Stage changed", format="MMM D, HH:mm"
                    ),
                    "other_clients": st.column_config.NumberColumn(
                        "Other clients",
                        help="The same person is also a lead of this many other clients.",
                    ),
                },
            ),
        )
        st.download_button(
            "Download CSV",
            data=lambda: ui.frame_to_csv(leads),
            file_name=f"client-leads-{ui.today():%Y%m%d}.csv",
            mime="text/csv",
            icon=":material/download:",
            on_click="ignore",
        )
        rows = event.selection.rows if event and event.selection else []
        if not rows:
            st.caption("Select a lead to change its stage, add a note and see its timeline.")
        else:
            lead = leads.row(rows[0], named=True)
            wid, email = lead["workspace_id"], lead["email"]
            st.divider()
            st.subheader(ui.md(lead["name"] or email))
            st.caption(
                f"{ui.md(email)} · {ui.md(lead['client'])} · campaigns: {ui.md(lead['campaigns'] or '–')}"
            )
            record_panel(wid, email, lead["client"])
            left, right = st.columns([2, 3])
            with left:
                if ui.can("leads.manage"):
                    new_stage = st.selectbox(
                        "Stage",
                        client_leads.STAGES,
                        format_func=str.capitalize,
                        index=client_leads.STAGES.index(lead["stage"]),
                        key=f"stage-{wid}-{email}",
                    )
                    if st.button(
                        "Save stage", disabled=new_stage == lead["stage"], key="save-stage"
                    ):
                        try:
                            client_leads.set_stage(ui.db(), user, wid, email, new_stage)
                            st.session_state["leads_flash"] = (
                                "success",
                                f"Stage set to {new_stage.capitalize()}.",
                            )
                            st.rerun()
                        except (client_leads.LeadError, PermissionError) as exc:
                            st.error(ui.md(exc))
                    with st.form("note-form", clear_on_submit=True):
                        note = st.text_area("Add a note", max_chars=5000, height=100)
                        if st.form_submit_button("Save note"):
                            try:
                                client_leads.add_note(ui.db(), user, wid, email, note)
                                st.session_state["leads_flash"] = ("success", "Note saved.")
                                st.rerun()
                            except (client_leads.LeadError, PermissionError) as exc:
                                st.error(ui.md(exc))
                else:
                    st.markdown(f"**Stage:** {lead['stage'].capitalize()}")
            with right:
                st.markdown("**Activity**")
                timeline_panel(wid, email)

with tab_funnel:
    funnel = ui.cached(client_leads.funnel, sc)
    if funnel["leads"][0]:
        fig = go.Figure(
            go.Funnel(
                y=[s.capitalize() for s in funnel["stage"]],
                x=funnel["leads"].to_list(),
                textinfo="value+percent initial",
            )
        )
        fig.update_layout(height=300, margin=dict(l=10, r=10, t=10, b=10))
        st.plotly_chart(fig, width="stretch")
    st.caption(
        "A lead counts at every stage it has passed (a won lead was contacted and quoted). Lost leads count as new only."
    )
    ui.table(
        ui.cached(client_leads.counts_by_client, sc),
        name="leads-by-client",
        key="by-client",
        column_config={"win_rate": st.column_config.NumberColumn("Win rate", format="percent")},
    )

with tab_crm:
    crm_panel.delivery_section(sc, user)
    _ = crm_delivery  # the panel calls core.replies.crm_delivery
