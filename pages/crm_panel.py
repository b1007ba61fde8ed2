"""CRM delivery panels (not a page of its own): delivery health and logs for the Client leads
page, and the per-client configuration form for Settings."""

from __future__ import annotations

import streamlit as st

from core.accounts import access, workspaces
from core.platform import bison_sandbox, jobs
from core.platform.scope import Scope
from core.replies import crm_config, crm_delivery, crm_views
from pages import ui
from pages.components.job_progress import job_progress


def delivery_section(sc: Scope, user: access.User) -> None:
    health = ui.cached(crm_views.health, sc)
    if health.height == 0:
        _no_crm(user)
        return
    st.markdown("**Health per client**")
    ui.table(
        health.drop("workspace_id"),
        name="crm-health",
        key="crm-health",
        column_config={
            "last_success": st.column_config.DatetimeColumn("Last delivery", format="MMM D, HH:mm"),
            "failures_24h": st.column_config.NumberColumn("Failed attempts (24 h)"),
            "last_test_ok": st.column_config.CheckboxColumn("Last test ok"),
        },
    )
    if ui.can("crm.deliver"):
        running = st.session_state.get("crm_job")
        c1, c2, _ = st.columns([1, 1, 3])
        if c1.button("Deliver now", type="primary", icon=":material/send:", disabled=bool(running)):
            params = {"actor": ui.actor()}
            wid = st.session_state.get("workspace_id")
            if wid:
                params["workspace"] = ui.cached(workspaces.labels, None).get(wid)
            try:
                st.session_state["crm_job"] = jobs.start(
                    ui.db(), "crm.deliver", params, requested_by=ui.actor()
                )
                st.rerun()
            except jobs.JobError as exc:
                st.warning(str(exc))
        failed = int(health["failed"].sum())
        if c2.button(f"Retry failed ({failed})", disabled=not failed, icon=":material/replay:"):
            n = crm_delivery.retry_failed(ui.db(), user, st.session_state.get("workspace_id"))
            st.session_state["leads_flash"] = (
                "success",
                f"{n} failed deliveries queued again; press Deliver now.",
            )
            st.rerun()
        # the outcome shows at the top of Client leads, with its other messages
        job_progress(
            "crm_job",
            label=lambda job: f"{job['stage'] or 'starting'} …",
            on_done=_delivered,
            flash_key="leads_flash",
            counted=False,
            show_flash=False,
        )
    status = st.selectbox(
        "Deliveries", [None, "pending", "delivered", "failed"], format_func=lambda s: s or "All"
    )
    # what the CRMs answered is for admins; others see status codes and outcomes
    remote_text = crm_views.sees_remote_text(user)
    ui.table(
        ui.cached(crm_views.deliveries, sc, status=status, remote_text=remote_text),
        name="crm-deliveries",
        key="crm-deliveries",
    )
    st.markdown("**Attempt log** (every HTTP request, retries included)")
    ui.table(
        ui.cached(crm_views.attempts_log, sc, remote_text=remote_text),
        name="crm-attempts",
        key="crm-attempts",
        column_config={
            "attempted_at": st.column_config.DatetimeColumn("When", format="MMM D, HH:mm:ss"),
            "response_excerpt": st.column_config.TextColumn("Response", width="large"),
        },
    )


NO_CRM = (
    "Nothing can be delivered: no CRM is set up for these clients, so their interested leads "
    "stay here on Client leads."
)
HOW_TO_SET_UP = (
    "An admin sets up a client's CRM (HubSpot, GoHighLevel or a signed webhook) under "
    "Settings → CRM; it is tested when saved, and from then on interested leads are delivered "
    "after every sync and on Deliver now."
)


def _no_crm(user: access.User) -> None:
    """No client in view has a CRM: Deliver now is there but off, saying why and what to do."""
    sandbox = " The demo sandbox simulates Email Bison only, not a CRM."
    why = NO_CRM + (sandbox if bison_sandbox.in_use() else "")
    st.button(
        "Deliver now",
        type="primary",
        icon=":material/send:",
        disabled=True,
        help="No CRM is set up for these clients: set one up under Settings → CRM.",
        key="crm-deliver-off",
    )
    st.info(f"{why} {HOW_TO_SET_UP}", icon=":material/info:")
    if user.can_see("settings"):
        st.page_link(
            "pages/settings.py",
            label="Set up a CRM under Settings → CRM",
            icon=":material/arrow_forward:",
        )


def _delivered(job: dict) -> tuple[str, str]:
    r = job["result"]
    if job["status"] == "partial":
        return "warning", f"Delivery partly failed: {ui.md(job['error'])}"
    if job["status"] != "succeeded":
        return "error", f"Delivery {job['status']}: {job['error']}"
    return "success", (
        f"Delivered {r.get('delivered', 0)}, retrying later {r.get('retrying', 0)}, "
        f"failed {r.get('failed', 0)}."
    )


def settings_section(user: access.User) -> None:
    """The per-client CRM form (admins)."""
    st.caption(
        "Each client's interested leads go to its CRM after every sync. Tokens and signing "
        "secrets are kept in the secret store; only their last 4 characters are shown."
    )
    configs = ui.cached(
        crm_config.list_configs, Scope.all(), remote_text=crm_views.sees_remote_text(user)
    )
    ui.table(configs.drop("workspace_id"), name="crm-configs", key="crm-configs")
    shown = st.session_state.pop("crm_secret_once", None)
    if shown:
        st.warning(f"Webhook signing secret — copy it now, it is not shown again: `{shown}`")
    labels = ui.cached(workspaces.labels, None)
    if not labels:
        st.info("Add a client first.")
        return
    wid = st.selectbox("Client", list(labels), format_func=lambda i: labels[i], key="crm-client")
    current = configs.filter(configs["workspace_id"] == wid)
    cur = current.row(0, named=True) if current.height else {}
    types = list(crm_config.CRM_TYPES)
    with st.form("crm-form"):
        crm_type = st.selectbox(
            "CRM",
            types,
            index=types.index(cur["crm_type"]) if cur else 0,
            format_func={
                "hubspot": "HubSpot",
                "gohighlevel": "GoHighLevel",
                "webhook": "Webhook (signed JSON)",
            }.get,
        )
        url = st.text_input(
            "URL (webhook URL, or API base URL override)", value=cur.get("url") or ""
        )
        token = st.text_input(
            "Access token (HubSpot service key / private app / OAuth; GoHighLevel private integration)",
            type="password",
            help=(
                f"Stored: {cur.get('token')}. Leave empty to keep it for the same URL; a new URL "
                "needs the token entered again."
                if cur.get("token")
                else "Needed for HubSpot and GoHighLevel."
            ),
        )
        signing = st.text_input(
            "Webhook signing secret",
            type="password",
            help=(
                f"Stored: {cur.get('signing_secret')}. Leave empty to keep it (for the same URL)."
                if cur.get("signing_secret")
                else "Leave empty and one is generated and shown once."
            ),
        )
        location = st.text_input("GoHighLevel location id", value=cur.get("location_id") or "")
        deal = st.checkbox("HubSpot: also create a deal", value=bool(cur.get("create_deal")))
        stage = st.text_input(
            "HubSpot deal stage id",
            value=cur.get("deal_stage") or "",
            placeholder="appointmentscheduled",
        )
        enabled = st.checkbox(
            "Deliver (after every sync and on Deliver now)", value=cur.get("enabled", True)
        )
        if st.form_submit_button("Save CRM", type="primary"):
            # a new signing secret is made here and shown once from the session, if it is used
            generated = (
                crm_config.new_webhook_secret() if crm_type == "webhook" and not signing else None
            )
            try:
                out = crm_config.set_config(
                    ui.db(),
                    user,
                    wid,
                    crm_type,
                    url=url,
                    token=token or None,
                    secret=signing or None,
                    generated_secret=generated,
                    location_id=location,
                    create_deal=deal,
                    deal_stage=stage,
                    enabled=enabled,
                )
                if out["secret_generated"]:
                    st.session_state["crm_secret_once"] = generated
                st.rerun()
            except (crm_config.CrmConfigError, PermissionError) as exc:
                st.error(ui.md(exc))
    if cur:
        c1, c2, _ = st.columns([1, 1, 3])
        if c1.button("Test connection", key="crm-test", icon=":material/network_check:"):
            ok, message = crm_config.test_connection(ui.db(), user, wid)
            (st.success if ok else st.error)(ui.md(message))
        if c2.button("Remove CRM", key="crm-remove"):
            st.session_state["crm_confirm_remove"] = wid
        if st.session_state.get("crm_confirm_remove") == wid:
            st.warning(
                f"Remove the CRM of {ui.md(labels[wid])} and delete its token? Deliveries stop."
            )
            if st.button("Yes, remove", type="primary", key="crm-remove-yes"):
                crm_config.delete_config(ui.db(), user, wid)
                st.session_state.pop("crm_confirm_remove", None)
                st.rerun()
