"""The conversation view of one reply (used by the Replies page; not a page of its own)."""

from __future__ import annotations

import streamlit as st

from core.accounts import access
from core.replies import classifier as reply_classifier
from core.replies import crm_config
from core.replies import drafts as reply_drafts
from core.replies import inbox as replies
from pages import ui

CATS = reply_classifier.CATEGORIES


def _flash(kind: str, text: str) -> None:
    st.session_state["replies_flash"] = (kind, text)
    st.rerun()


def render(wid: int, reply_id: int, user: access.User, staff: bool) -> None:
    conv = ui.cached(replies.conversation, ui.scope(), wid, reply_id)
    if not conv:
        st.warning("That reply is no longer available.")
        return
    r = conv["reply"]
    st.divider()
    st.subheader(ui.md(r["subject"] or "(no subject)"))
    st.caption(
        f"{ui.md(r['from_name'] or '')} <{ui.md(r['from_email'] or '')}> · {ui.md(r['client'])}"
        f" · {ui.md(r['campaign'] or 'no campaign')} · received {r['date_received']:%b %-d, %Y %H:%M} UTC"
    )
    left, right = st.columns([3, 2])
    with left:
        original = conv["original"]
        if original:
            with st.expander(
                f"Our email (step {original['step_order']}): {original['email_subject'] or ''}"
            ):
                st.text(original["email_body"] or "")
        st.markdown("**Their reply**")
        st.text(r["text_body"] or "(empty)")
        if conv["thread"].height:
            st.markdown("**Other replies from this person**")
            ui.table(conv["thread"], name="reply-thread", key="thread")
        if conv["sent"].height:
            st.markdown("**Answers sent from LeadOps**")
            ui.table(conv["sent"], name="reply-answers", key="answers")
    with right:
        cat = r["effective_category"]
        why = (
            f"changed by {ui.md(r['override_by'])} on {r['override_at']:%b %-d, %H:%M}"
            if r["override_category"]
            else f"rule: {ui.md(r['rule'] or 'from the sync')}"
        )
        st.markdown(f"**Category:** {CATS.get(cat, cat or 'unclassified')} ({why})")
        st.markdown(f"**Interested in Email Bison:** {'yes' if r['interested'] else 'no'}")
        if r["handled_at"]:
            st.markdown(
                f":green[:material/task_alt:] **Handled** by {ui.md(r['handled_by'])} on "
                f"{r['handled_at']:%b %-d, %H:%M}"
            )
        else:
            st.markdown(":orange[:material/pending:] **Not handled yet**")
        if not staff:
            return
        options = [None, *CATS]
        new_cat = st.selectbox(
            "Override category",
            options,
            index=options.index(r["override_category"]) if r["override_category"] in CATS else 0,
            format_func=lambda c: "(classifier's choice)" if c is None else CATS[c],
            key=f"ovr-{wid}-{reply_id}",
        )
        if st.button("Save category", key=f"savecat-{reply_id}"):
            try:
                replies.set_category(ui.db(), user, wid, reply_id, new_cat)
                _flash("success", "Category saved.")
            except (replies.ReplyActionError, PermissionError) as exc:
                st.error(ui.md(exc))
        label = "Mark not interested" if r["interested"] else "Mark interested"
        b2, b3 = st.columns(2)
        if b2.button(
            label, key=f"int-{reply_id}", type="primary" if not r["interested"] else "secondary"
        ):
            try:
                new = replies.set_interested(ui.db(), user, wid, reply_id, not r["interested"])
                _flash(
                    "success",
                    "Marked interested in Email Bison" + (_new_lead(wid) if new else ".")
                    if not r["interested"]
                    else "Marked not interested in Email Bison.",
                )
            except (replies.ReplyActionError, PermissionError) as exc:
                st.error(ui.md(exc))
        if b3.button(
            "Reopen" if r["handled_at"] else "Mark handled",
            key=f"handled-{reply_id}",
            icon=":material/undo:" if r["handled_at"] else ":material/task_alt:",
        ):
            try:
                replies.mark_handled(ui.db(), user, wid, reply_id, not r["handled_at"])
                _flash(
                    "success",
                    "Reopened: it shows as not handled again."
                    if r["handled_at"]
                    else "Marked handled.",
                )
            except (replies.ReplyActionError, PermissionError) as exc:
                st.error(ui.md(exc))
        _draft(wid, reply_id, user)


def _draft(wid: int, reply_id: int, user: access.User) -> None:
    st.markdown("**Answer**")
    key = f"draft-{wid}-{reply_id}"
    templates = ui.cached(reply_drafts.list_templates, None)
    names = templates["name"].to_list() if templates.height else []
    t1, t2 = st.columns([3, 1])
    pick = t1.selectbox("Template", names, key=f"tpl-{reply_id}") if names else None
    if t2.button("Use", key=f"use-{reply_id}", disabled=not pick):
        try:
            st.session_state[key] = reply_drafts.draft_from_template(
                ui.db(), ui.scope(), wid, reply_id, pick
            )
        except replies.ReplyActionError as exc:
            st.error(ui.md(exc))
    if reply_drafts.llm_configured() and st.button(
        "Draft with the language model", key=f"llm-{reply_id}", icon=":material/edit_note:"
    ):
        with st.spinner("Asking the model…"):
            try:
                st.session_state[key] = reply_drafts.draft_from_model(
                    ui.db(), ui.scope(), wid, reply_id
                )
            except replies.ReplyActionError as exc:
                st.error(ui.md(exc))
    st.text_area("Message (plain text)", key=key, height=220)

    @st.dialog("Send this answer?")
    def confirm() -> None:
        st.write("It is sent from the original sending account, in the same thread, right away.")
        if st.button("Yes, send", type="primary"):
            try:
                replies.send_reply(ui.db(), user, wid, reply_id, st.session_state.get(key, ""))
            except (replies.ReplyActionError, PermissionError) as exc:
                st.error(ui.md(exc))
                return
            st.session_state.pop(key, None)
            _flash("success", "Answer sent through Email Bison; the reply is marked handled.")

    if st.button("Send through Email Bison", key=f"send-{reply_id}", icon=":material/send:"):
        confirm()


def _new_lead(wid: int) -> str:
    """What happens to a lead just marked interested: its CRM gets it, or it stays here."""
    cfg = crm_config.config(ui.db(), wid)
    if cfg is not None and cfg["enabled"]:
        return " — a new client lead, queued for the CRM on the next delivery."
    return (
        " — a new client lead. It stays on Client leads: no CRM is set up for this client "
        "(an admin sets one up under Settings → CRM)."
    )
