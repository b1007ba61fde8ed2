"""Settings → Credentials (not a page of its own): which secret store is in use, every stored
credential with its last test, add or replace, test, delete, and lead-list source coverage."""

from __future__ import annotations

import plotly.express as px
import streamlit as st

from core.accounts import access, credentials
from core.platform import secrets
from core.platform.geo_data import STATES
from core.platform.store import Database
from pages import ui


def store_line() -> None:
    """Which secret store is in use, in one line (an error when it cannot be opened)."""
    status = secrets.store_status()
    if status.state == "unavailable":
        st.error(f"Secret store: {ui.md(status.problem)}", icon=":material/key_off:")
    elif status.state == "not_set_up":
        st.info(
            f"Secret store: {ui.md(status.summary)}. On a server keep that key like an SSH key "
            "(README, Secrets); set LEADOPS_KEYRING_PASSWORD instead to keep the key elsewhere.",
            icon=":material/key:",
        )
    else:
        st.caption(f"Secret store: {ui.md(status.summary)}.")
        if status.problem:
            st.warning(ui.md(status.problem))


def _coverage_map() -> None:
    st.markdown("**Lead-list source coverage by state**")
    cov = ui.cached(credentials.state_coverage, None)
    fig = px.choropleth(
        cov.to_pandas(),
        locations="state",
        locationmode="USA-states",
        scope="usa",
        color="accounts",
        hover_name="name",
        hover_data={"covered_by": True, "state": False},
        color_continuous_scale="Blues",
        range_color=(0, max(1, int(cov["accounts"].max() or 1))),
    )
    fig.update_layout(height=380, margin=dict(l=0, r=0, t=0, b=0))
    st.plotly_chart(fig, width="stretch", config=ui.GEO_CONFIG)
    gaps = cov.filter(cov["accounts"] == 0)["state"].to_list()
    st.caption(f"States with no source account: {', '.join(gaps) if gaps else 'none'}")


def _add_form(database: Database, user: access.User) -> None:
    with st.form("vault-add", clear_on_submit=True):
        st.markdown("**Add or replace a credential**")
        c1, c2 = st.columns(2)
        kind = c1.selectbox(
            "Kind", list(credentials.KINDS), format_func=lambda k: credentials.KINDS[k]
        )
        cname = c2.text_input(
            "Name",
            placeholder="stripe.main or source.tx-1",
            max_chars=81,
            help="Any name you like: LeadOps finds a Stripe, Debounce, language model, SMTP or "
            "master database credential by its kind (the newest when there are several).",
        )
        label = c1.text_input("Label (optional)", max_chars=200)
        username = c2.text_input("Username (optional)", max_chars=200)
        cstates = st.multiselect("States covered (lead-list sources)", sorted(STATES))
        value = st.text_input("Secret", type="password")
        if st.form_submit_button("Save credential", type="primary"):
            try:
                masked = credentials.save(
                    database,
                    user,
                    cname,
                    kind,
                    value,
                    label=label,
                    username=username,
                    states=cstates,
                )
                st.success(f"Saved {ui.md(cname.strip().lower())}: {masked}")
            except (
                credentials.CredentialError,
                secrets.SecretsUnavailable,
                PermissionError,
            ) as exc:
                st.error(ui.md(exc))


def _show_outcome(ok: bool | None, message: str) -> None:
    if ok:
        st.success(ui.md(message))
    elif ok is None:
        st.info(ui.md(message))
    else:
        st.warning(ui.md(message))


def render(database: Database, user: access.User) -> None:
    store_line()
    st.caption(
        "Every other secret LeadOps uses: Stripe, Debounce, the language model, Slack and SMTP, CRM "
        "tokens, the master database password, lead-list source accounts per state. Values go to "
        "the secret store and are shown once, as their last 4 characters. Test calls the service "
        "with the value and keeps the outcome."
    )
    creds = ui.cached(credentials.list_credentials, None)
    ui.table(
        creds,
        name="credentials",
        key="creds",
        column_config={
            "last_tested_at": st.column_config.DatetimeColumn("Last test", format="MMM D, HH:mm"),
            "last_test_ok": st.column_config.CheckboxColumn("Test OK"),
        },
    )
    _add_form(database, user)
    if creds.height:
        c1, c2, c3 = st.columns([2, 1, 1])
        chosen = c1.selectbox("Credential", creds["name"].to_list(), key="vault-pick")
        if c2.button("Test", icon=":material/network_check:", key="vault-test"):
            try:
                with st.spinner(f"Testing {chosen}…"):
                    ok, message = credentials.test(database, user, chosen)
                _show_outcome(ok, message)
            except (
                credentials.CredentialError,
                secrets.SecretsUnavailable,
                PermissionError,
            ) as exc:
                st.error(ui.md(exc))
        confirm = st.checkbox(f"I want to delete {ui.md(chosen)}", key="vault-confirm")
        if c3.button("Delete", icon=":material/delete:", disabled=not confirm, key="vault-delete"):
            try:
                credentials.delete(database, user, chosen)
                st.session_state["settings_flash"] = f"Deleted {ui.md(chosen)}."
                st.rerun()
            except (secrets.SecretsUnavailable, PermissionError) as exc:
                st.error(ui.md(exc))
    _coverage_map()
