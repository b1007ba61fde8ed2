"""Campaigns page, Email Bison leads: find a lead in the synced leads, see its campaigns and tags
as Email Bison has them now, remove it from a campaign, attach or remove tags (asks first)."""

from __future__ import annotations

import streamlit as st

from core.campaigns import leads
from pages import ui


@st.dialog("Confirm")
def _confirm(wid: int, lead_id: int, action: str, text: str, **kw: object) -> None:
    st.write(text)
    if st.button("Yes, go ahead", type="primary", key="lead-yes"):
        try:
            leads.lead_action(ui.db(), ui.current_user(), wid, lead_id, action, **kw)
        except (leads.LeadActionError, PermissionError) as exc:
            st.error(ui.md(exc))
            return
        st.session_state["lead_flash"] = "Done in Email Bison."
        st.rerun()


def section() -> None:
    with st.expander("Find a lead in Email Bison", icon=":material/person_search:"):
        flash = st.session_state.pop("lead_flash", None)
        if flash:
            st.success(flash)
        text = st.text_input(
            "Email, name or company", key="lead-search", placeholder="e.g. jane@example.com"
        )
        if not text.strip():
            st.caption("Searches the leads of the last sync, every client you can see.")
            return
        found = ui.cached(leads.search_leads, ui.scope(), text)
        if found.height == 0:
            st.info("No synced lead matches.")
            return
        labels = {
            f"{r['workspace_id']}:{r['id']}": f"{r['email']} · {r['client']} ({r['campaign_status'] or 'no campaign status'})"
            for r in found.iter_rows(named=True)
        }
        ui.table(found.drop("workspace_id"), name="bison-leads", key="bison-leads")
        picked = st.selectbox(
            "Lead",
            list(labels),
            format_func=labels.get,
            index=None,
            key="lead-pick",
            placeholder="Pick a lead to see its campaigns and tags",
        )
        if picked is None:
            return
        wid, lead_id = (int(p) for p in picked.split(":"))
        try:
            lead = leads.lead_detail(ui.db(), ui.current_user(), wid, lead_id)
        except leads.LeadActionError as exc:
            st.error(ui.md(exc))
            return
        st.markdown(
            "**Campaigns:** "
            + (
                ", ".join(ui.md(f"{c['campaign']} ({c['status']})") for c in lead["campaigns"])
                or "none"
            )
            + " · **Tags:** "
            + (", ".join(ui.md(t) for t in lead["tags"].values()) or "none")
        )
        if not ui.can("campaign.act"):
            return
        c1, c2 = st.columns(2)
        camps = {c["campaign_id"]: c["campaign"] for c in lead["campaigns"]}
        cid = c1.selectbox("Campaign", list(camps), format_func=camps.get, key="lead-camp")
        if c1.button("Remove from the campaign…", disabled=cid is None, key="lead-remove"):
            _confirm(
                wid,
                lead_id,
                "remove_from_campaign",
                f"Remove {lead['email']} from {camps[cid]} in Email Bison? It gets no more emails "
                "from it; adding it again starts its sequence over.",
                campaign_id=cid,
            )
        all_tags = lead["all_tags"]
        tags = c2.multiselect("Tags", list(all_tags), format_func=all_tags.get, key="lead-tags")
        t1, t2 = c2.columns(2)
        if t1.button("Attach…", disabled=not tags, key="lead-tag-add"):
            _confirm(
                wid,
                lead_id,
                "attach_tags",
                f"Attach {len(tags)} tag(s) to {lead['email']}?",
                tag_ids=tags,
            )
        if t2.button("Remove…", disabled=not tags, key="lead-tag-del"):
            _confirm(
                wid,
                lead_id,
                "remove_tags",
                f"Remove {len(tags)} tag(s) from {lead['email']}?",
                tag_ids=tags,
            )
