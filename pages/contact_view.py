"""The Contacts page's Contact tab: one contact's story and the changes staff can make to it."""

from __future__ import annotations

from typing import Any

import polars as pl
import streamlit as st

from core.accounts import access
from core.contacts import changes, erasure, story
from core.platform.scope import Scope
from core.platform.store import Database
from pages import ui


def render(database: Database, user: access.User, sc: Scope, labels: dict[int, str]) -> None:
    cid = st.number_input(
        "Contact number",
        min_value=0,
        step=1,
        value=int(st.session_state.get("contact_id") or 0),
        help="Choose a row on the Find tab, or type the contact's number.",
    )
    if not cid:
        st.info("Choose a contact on the Find tab (click its row), or type its number here.")
        return
    try:
        s = story.story(database, sc, int(cid))
    except story.NotFound as exc:
        st.warning(ui.md(exc))
        return
    c = s["contact"]
    name = " ".join(x for x in (c["first_name"], c["last_name"]) if x) or "(no name)"
    st.subheader(f"{name} · {c['email'] or '(no email)'}")
    st.caption(
        f"{c['client']} · status **{c['status']}**"
        + (f" ({ui.md(c['reject_reason'])})" if c["reject_reason"] else "")
        + f" · ZIP {c['zip'] or '–'} · phone {ui.md(c['cell_phone'] or '–')}"
        + (f" · renews {c['renewal_month']:%B %Y}" if c["renewal_month"] else "")
    )
    if s["suppressed"]:
        sp = s["suppressed"]
        st.warning(
            f"On the suppression list since {sp['added_at']:%Y-%m-%d}: {ui.md(sp['reason'])}"
            f" (from {ui.md(sp['source'])}{', ' + ui.md(sp['detail']) if sp['detail'] else ''})."
        )
    left, right = st.columns(2)
    with left:
        st.markdown("**Where it came from**")
        st.markdown(_origin(s["origin"]))
        st.markdown("**What decided its fate**")
        if s["decisions"].height:
            ui.table(s["decisions"], name=f"contact-{cid}-decisions", key="decisions")
        else:
            st.caption(NO_DECISIONS.get(c["status"], "Nothing recorded."))
    with right:
        st.markdown("**Batch and upload**")
        st.markdown(_upload(s["upload"]))
        st.markdown("**Replies**")
        _small(s["replies"], "No replies.", f"contact-{cid}-replies")
        st.markdown("**CRM deliveries**")
        _small(s["crm"], "Not delivered to a CRM.", f"contact-{cid}-crm")
    if not user.can("contacts.manage"):
        st.caption("Your role can read contacts but not change them.")
        return
    st.divider()
    _edit(database, user, c)
    _move(database, user, c, labels)
    _delete(database, user, c)


NO_DECISIONS = {
    "raw": "Not filtered yet.",
    "filtered": "Passed every filter rule; not verified yet.",
    "verified": "Passed every filter rule and verification (the details were not kept then).",
    "batched": "Passed every filter rule and verification (the details were not kept then).",
    "uploaded": "Passed every filter rule and verification (the details were not kept then).",
}
SOURCES = {"master_db": "a master-database pull", "import": "a file import", "demo": "demo data"}


def _origin(o: dict[str, Any]) -> str:
    if o.get("file") is None and o.get("kind") is None:
        where = SOURCES.get(o["source"], ui.md(o["source"]))
        return f"From {where}, added {o['imported_at']:%Y-%m-%d %H:%M} (no file row recorded)."
    if o.get("kind") == "master_db":
        pull = o.get("pull") or {}
        return (
            f"Pulled from the master database on {o['at']:%Y-%m-%d} by {ui.md(o['by'])}"
            f" (row {o.get('row') or '–'} of the pull"
            + (f", {pull['zips']} ZIPs for {pull['month']:%B %Y})" if pull else ")")
        )
    return (
        f"File **{ui.md(o['file'])}**, row {o.get('row') or '– (not recorded then)'},"
        f" imported {o['at']:%Y-%m-%d %H:%M} by {ui.md(o['by'])}."
    )


def _upload(u: dict[str, Any]) -> str:
    parts = []
    b = u.get("batch")
    if b:
        parts.append(
            f"Batch {b['id']}: {ui.md(b['name'])} ({b['status']})"
            + (
                f", campaign {ui.md(b['campaign'] or b['bison_campaign_id'])}"
                if b["bison_campaign_id"]
                else ""
            )
        )
    else:
        parts.append("Not in a batch.")
    if u.get("bison_lead_id"):
        parts.append(
            f"Uploaded {u['uploaded_at']:%Y-%m-%d %H:%M}, Email Bison lead {u['bison_lead_id']}."
        )
    lead = u.get("lead")
    if lead:
        parts.append(
            f"In Email Bison: lead {lead['id']}, {ui.md(lead['status'] or '–')},"
            f" {lead['emails_sent']:,} emails sent, {lead['replies']:,} replies."
        )
    return "  \n".join(parts)


def _small(df: pl.DataFrame, empty: str, name: str) -> None:
    if df.height:
        ui.table(df, name=name, key=name)
    else:
        st.caption(empty)


def _edit(database: Database, user: access.User, c: dict[str, Any]) -> None:
    with st.form("edit-contact"):
        st.markdown("**Edit a field**")
        f1, f2 = st.columns([1, 2])
        field = f1.selectbox("Field", list(changes.EDITABLE), format_func=changes.EDITABLE.get)
        value = f2.text_input("New value", help="The current value is shown in the story above.")
        anyway = st.checkbox("A ZIP outside the client's territory is intended")
        if st.form_submit_button("Save"):
            try:
                r = changes.edit(database, user, c["id"], field, value, outside_territory=anyway)
                st.success(
                    f"{changes.EDITABLE[field]}: {ui.md(r['before'])} → {ui.md(r['after'])}."
                )
            except changes.OutsideTerritory as exc:
                st.warning(f"{ui.md(exc)} Tick the box to save it anyway.")
            except changes.ChangeError as exc:
                st.error(ui.md(exc))


def _move(database: Database, user: access.User, c: dict[str, Any], labels: dict[int, str]) -> None:
    others = [w for w in labels if w != c["workspace_id"]]
    if not others:
        return
    with st.form("move-contact"):
        st.markdown("**Move to another client**")
        target = st.selectbox("Client", others, format_func=labels.get)
        anyway = st.checkbox("Move it even though its ZIP is outside that client's territory")
        if st.form_submit_button("Move"):
            try:
                r = changes.move(database, user, c["id"], target, outside_territory=anyway)
                st.success(
                    f"Moved from {ui.md(r['from'])} to {ui.md(r['to'])}; its pipeline starts again."
                )
            except changes.OutsideTerritory as exc:
                st.warning(f"{ui.md(exc)} Tick the box to move it anyway.")
            except changes.ChangeError as exc:
                st.error(ui.md(exc))


def _delete(database: Database, user: access.User, c: dict[str, Any]) -> None:
    d1, d2 = st.columns(2)
    with d1.popover("Delete this record", icon=":material/delete:"):
        st.write("Removes this one contact record (a mistaken import, a duplicate).")
        if c["bison_lead_id"]:
            st.caption(
                "Its Email Bison lead stays; a person asking to be forgotten is a deletion request."
            )
        if st.button("Delete the record", type="primary", key="del-one"):
            changes.delete(database, user, c["id"])
            st.session_state.pop("contact_id", None)
            st.success("Deleted.")
    with d2.popover("Deletion request (delete my data)", icon=":material/person_remove:"):
        if not c["email"]:
            st.caption("This contact has no email address; delete the record instead.")
            return
        p = ui.cached(erasure.plan, None, user, c["email"])
        st.write(
            f"Everything about **{ui.md(p['email'])}** goes, in every client you can see, and the"
            " address joins the suppression list so no future import brings it back:"
        )
        held = (
            pl.DataFrame(p["clients"])
            .with_columns(pl.col("lead_ids").list.len().alias("email_bison_leads"))
            .drop("lead_ids", "workspace_id")
        )
        st.dataframe(held, hide_index=True, column_config=ui.display_columns(held))
        if p["bison_leads"]:
            st.caption(f"{p['bison_leads']} lead(s) will be deleted in Email Bison first.")
        if st.button("Delete everywhere", type="primary", key="del-request"):
            try:
                r = erasure.execute(database, user, c["email"])
                st.session_state.pop("contact_id", None)
                st.success(
                    f"Done: {sum(x['contacts'] for x in r['clients']):,} contact(s) and"
                    f" {r['deleted_in_bison']} Email Bison lead(s) deleted; the address is suppressed."
                )
            except erasure.ErasureError as exc:
                st.error(ui.md(exc))
