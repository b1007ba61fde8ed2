"""Settings: client workspaces, package tiers, Email Bison tokens, general settings, connections,
the setup checklist."""

import polars as pl
import streamlit as st

from core.accounts import access, workspaces
from core.platform import secrets, settings
from core.platform.geo_data import STATES
from core.revenue import reconcile, stripe_sync
from pages import ui

ui.ensure_router("settings")
st.title("Settings")
database = ui.db()
(
    tab_clients,
    tab_tiers,
    tab_tokens,
    tab_vault,
    tab_users,
    tab_stripe,
    tab_crm,
    tab_general,
    tab_connections,
    tab_setup,
) = st.tabs(
    [
        "Clients",
        "Package tiers",
        "Email Bison tokens",
        "Credentials",
        "Users",
        "Stripe customers",
        "CRM",
        "General",
        "Connections",
        "Setup",
    ],
    default=ui.linked_tab("Setup", "Connections", "Stripe customers", "CRM"),
)
user = ui.current_user()
STATE_CODES = sorted(STATES)


def _flash() -> None:
    msg = st.session_state.pop("settings_flash", None)
    if msg:
        st.success(msg)


def _money(label: str, cents: int, key: str) -> int:
    return int(
        round(
            st.number_input(
                label, min_value=0.0, value=cents / 100, step=5.0, format="%.2f", key=key
            )
            * 100
        )
    )


# -- clients ---------------------------------------------------------------------------------
with tab_clients:
    _flash()
    tiers = ui.cached(workspaces.tiers, None)
    tier_names = tiers["tier"].to_list()
    clients = ui.cached(workspaces.list_workspaces, None)
    if clients.height == 0:
        st.info("No clients yet. Add the first one below.")
    else:
        ui.table(
            clients.with_columns(pl.col("billing_type").replace(reconcile.BILLING_MODELS)),
            name="clients",
            column_config={
                "name": "Client",
                "monthly_target": st.column_config.NumberColumn(
                    "Monthly target", help="Interested replies a month", format="localized"
                ),
                "billing_type": "Billing",
                "price_per_lead": st.column_config.NumberColumn("Price/lead", format="dollar"),
                "retainer": st.column_config.NumberColumn("Retainer", format="dollar"),
                "home_value_cap": st.column_config.NumberColumn("Home value cap", format="dollar"),
                "bison_workspace_id": "Email Bison workspace",
                "zips": st.column_config.NumberColumn("ZIP codes", format="localized"),
                "bison_token_last4": st.column_config.TextColumn("Bison token (last 4)"),
                "created_at": st.column_config.DatetimeColumn("Added", format="MMM D, YYYY"),
            },
        )

    with st.expander("Add a client", icon=":material/person_add:", expanded=clients.height == 0):
        with st.form("add-client", clear_on_submit=False):
            name = st.text_input(
                "Client name", placeholder="Jane Doe Insurance Agency", max_chars=200
            )
            email = st.text_input("Contact email")
            states = st.multiselect("Licensed states", STATE_CODES)
            c1, c2 = st.columns(2)
            tier = c1.selectbox(
                "Package tier", tier_names, help="Monthly target of interested replies"
            )
            billing = c2.radio(
                "Billing",
                ["per_lead", "retainer"],
                horizontal=True,
                format_func=lambda b: "Per lead" if b == "per_lead" else "Retainer",
            )
            c3, c4 = st.columns(2)
            price = _money("Price per lead ($)", 6000, "new-price")
            retainer = _money("Monthly retainer ($)", 0, "new-retainer")
            bison_id = c3.text_input(
                "Email Bison workspace id", help="The team id in Email Bison (optional)."
            )
            if st.form_submit_button("Add client", type="primary"):
                try:
                    new_id = workspaces.create(
                        database,
                        workspaces.WorkspaceInput(
                            name=name,
                            contact_email=email or None,
                            licensed_states=states,
                            tier=tier,
                            billing_type=billing,
                            price_per_lead_cents=price,
                            retainer_cents=retainer,
                            bison_workspace_id=bison_id or None,
                        ),
                        actor=ui.actor(),
                    )
                    st.session_state["settings_flash"] = (
                        f"Added {ui.md(name.strip())} (id {new_id})."
                    )
                    st.rerun()
                except workspaces.WorkspaceError as exc:
                    st.error(ui.md(exc))

    if clients.height:
        with st.expander("Edit a client", icon=":material/edit:"):
            ids = clients["id"].to_list()
            names = dict(zip(ids, clients["name"].to_list(), strict=True))
            wid = st.selectbox("Client", ids, format_func=lambda i: names[i], key="edit-client")
            current = workspaces.get(database, wid)
            with st.form(f"edit-client-{wid}"):
                name = st.text_input("Client name", current["name"], max_chars=200)
                email = st.text_input("Contact email", current["contact_email"] or "")
                states = st.multiselect(
                    "Licensed states",
                    STATE_CODES,
                    default=[s for s in current["licensed_states"] if s in STATES],
                )
                c1, c2 = st.columns(2)
                tier = c1.selectbox(
                    "Package tier",
                    tier_names,
                    index=tier_names.index(current["tier"]) if current["tier"] in tier_names else 0,
                )
                target = c2.number_input(
                    "Monthly target (interested replies)",
                    min_value=1,
                    value=int(current["monthly_target"]),
                )
                billing = st.radio(
                    "Billing",
                    ["per_lead", "retainer"],
                    index=0 if current["billing_type"] == "per_lead" else 1,
                    horizontal=True,
                    format_func=lambda b: "Per lead" if b == "per_lead" else "Retainer",
                )
                price = _money(
                    "Price per lead ($)", current["price_per_lead_cents"], f"price-{wid}"
                )
                retainer = _money("Monthly retainer ($)", current["retainer_cents"], f"ret-{wid}")
                cap = st.number_input(
                    "Home value cap ($)",
                    min_value=0,
                    value=int(current["home_value_cap"]),
                    step=50_000,
                )
                hnw = st.checkbox(
                    "High-net-worth client (receives contacts above other clients' caps)",
                    current["high_net_worth"],
                )
                bison_id = st.text_input(
                    "Email Bison workspace id",
                    ""
                    if current["bison_workspace_id"] is None
                    else str(current["bison_workspace_id"]),
                )
                if st.form_submit_button("Save changes", type="primary"):
                    try:
                        diff = workspaces.update(
                            database,
                            wid,
                            {
                                "name": name,
                                "contact_email": email or None,
                                "licensed_states": states,
                                "tier": tier,
                                "monthly_target": target,
                                "billing_type": billing,
                                "price_per_lead_cents": price,
                                "retainer_cents": retainer,
                                "home_value_cap": cap,
                                "high_net_worth": hnw,
                                "bison_workspace_id": bison_id or None,
                            },
                            actor=ui.actor(),
                        )
                        st.session_state["settings_flash"] = (
                            f"Saved: {', '.join(diff)}." if diff else "Nothing changed."
                        )
                        st.rerun()
                    except workspaces.WorkspaceError as exc:
                        st.error(ui.md(exc))
            if current["active"]:
                confirm = st.checkbox(
                    f"I want to deactivate {current['name']} (its data stays; it leaves the board and the schedules)",
                    key=f"confirm-deact-{wid}",
                )
                if st.button(
                    "Deactivate client",
                    disabled=not confirm,
                    key=f"deact-{wid}",
                    icon=":material/block:",
                ):
                    workspaces.update(database, wid, {"active": False}, actor=ui.actor())
                    st.session_state["settings_flash"] = f"Deactivated {ui.md(current['name'])}."
                    st.rerun()
            elif st.button("Reactivate client", key=f"react-{wid}", icon=":material/restart_alt:"):
                workspaces.update(database, wid, {"active": True}, actor=ui.actor())
                st.session_state["settings_flash"] = f"Reactivated {ui.md(current['name'])}."
                st.rerun()

# -- package tiers ---------------------------------------------------------------------------
with tab_tiers:
    st.caption(
        "Each tier's monthly target of interested replies implies a volume plan: refined contacts "
        "uploaded a month and emails sent a day. The Overview measures clients against these."
    )
    tiers = ui.cached(workspaces.tiers, None)
    edited = st.data_editor(
        tiers.select("tier", "monthly_target", "refined_contacts", "emails_per_day").to_pandas(),
        hide_index=True,
        num_rows="dynamic",
        column_config={
            "tier": st.column_config.TextColumn("Tier", required=True, max_chars=40),
            "monthly_target": st.column_config.NumberColumn(
                "Monthly target", min_value=1, step=1, required=True
            ),
            "refined_contacts": st.column_config.NumberColumn(
                "Refined contacts / month", min_value=1, step=1, required=True
            ),
            "emails_per_day": st.column_config.NumberColumn(
                "Emails / day", min_value=1, step=1, required=True
            ),
        },
        key="tiers-editor",
    )
    if st.button("Save tiers", type="primary"):
        try:
            changed = 0
            before = {r["tier"]: r for r in tiers.iter_rows(named=True)}
            for r in edited.to_dict("records"):
                if not r.get("tier"):
                    continue
                vals = {
                    k: int(r[k]) for k in ("monthly_target", "refined_contacts", "emails_per_day")
                }
                old = before.get(str(r["tier"]))
                if old and all(old[k] == v for k, v in vals.items()):
                    continue
                workspaces.update_tier(database, str(r["tier"]), **vals, actor=ui.actor())
                changed += 1
            st.success(f"Saved {changed} tier(s)." if changed else "Nothing changed.")
        except (workspaces.WorkspaceError, TypeError, ValueError) as exc:
            st.error(f"Not saved: {ui.md(exc)}")
    ui.table(tiers, name="package-tiers", key="tiers-table")

# -- tokens ----------------------------------------------------------------------------------
with tab_tokens:
    st.caption(
        "Each client's Email Bison API token is kept in the secret store "
        f"({secrets.describe_backend()}), never in the database. After saving, only its last 4 characters are shown."
    )
    clients = ui.cached(workspaces.list_workspaces, None)
    if clients.height == 0:
        st.info("Add a client first.")
    else:
        st.dataframe(
            clients.select("name", "bison_workspace_id", "bison_token_last4"),
            hide_index=True,
            column_config={"bison_token_last4": st.column_config.TextColumn("Token (last 4)")},
        )
        with st.form("token-form", clear_on_submit=True):
            ids = clients["id"].to_list()
            names = dict(zip(ids, clients["name"].to_list(), strict=True))
            wid = st.selectbox("Client", ids, format_func=lambda i: names[i])
            token = st.text_input("Email Bison API token", type="password", placeholder="12|AbCd…")
            if st.form_submit_button("Save token", type="primary"):
                if not token.strip():
                    st.error("Token: paste the client's Email Bison API token.")
                else:
                    try:
                        masked = secrets.set_secret(
                            database,
                            secrets.bison_token_name(wid),
                            token,
                            kind="bison_token",
                            actor=ui.actor(),
                        )
                        st.success(f"Saved the token for {ui.md(names[wid])}: {masked}")
                    except secrets.SecretsUnavailable as exc:
                        st.error(ui.md(exc))

# -- general ---------------------------------------------------------------------------------
with tab_general:
    values = settings.get_all(database)
    with st.form("general-settings"):
        new = {}
        for s in settings.REGISTRY.values():
            if s.type is bool:
                new[s.name] = st.checkbox(s.name, values[s.name], help=s.help)
            elif s.type in (int, float):
                new[s.name] = st.number_input(
                    s.name,
                    value=values[s.name],
                    help=s.help,
                    min_value=s.type(s.minimum) if s.minimum is not None else None,
                    max_value=s.type(s.maximum) if s.maximum is not None else None,
                )
            else:
                new[s.name] = st.text_input(s.name, values[s.name], help=s.help)
            st.caption(s.help)
        if st.form_submit_button("Save settings", type="primary"):
            try:
                changed = [n for n, v in new.items() if v != values[n]]
                for n in changed:
                    settings.set_value(database, n, new[n], actor=ui.actor())
                st.success(f"Saved {', '.join(changed)}." if changed else "Nothing changed.")
            except settings.SettingError as exc:
                st.error(ui.md(exc))

# -- credentials vault -----------------------------------------------------------------------
with tab_vault:
    from pages import settings_vault

    settings_vault.render(database, user)

# -- users -----------------------------------------------------------------------------------
with tab_users:
    st.caption(
        "Who may sign in, and as what: **admin** (everything), **operator** (campaigns, syncs, the daily work; "
        "no credentials, users or settings), **viewer** (reads and exports), **client** (one client's own data)."
    )
    users = ui.cached(access.list_users, None)
    ui.table(
        users,
        name="users",
        key="users",
        column_config={
            "invited_at": st.column_config.DatetimeColumn("Invited", format="MMM D, YYYY"),
            "last_seen_at": st.column_config.DatetimeColumn("Last seen", format="MMM D, HH:mm"),
        },
    )
    client_names = workspaces.labels(database)
    with st.form("invite", clear_on_submit=True):
        st.markdown("**Invite someone**")
        c1, c2, c3 = st.columns(3)
        email = c1.text_input("Email", max_chars=320)
        role = c2.selectbox("Role", access.ROLES, index=1)
        ws_for = c3.selectbox(
            "Client (for client users)",
            [None, *client_names],
            format_func=lambda w: "—" if w is None else client_names[w],
        )
        if st.form_submit_button("Invite", type="primary"):
            try:
                access.invite(database, user, email, role, workspace_id=ws_for)
                st.success(
                    f"Invited {ui.md(email.strip().lower())} as {role}. They sign in with that address."
                )
            except (access.UserError, PermissionError) as exc:
                st.error(ui.md(exc))
    if users.height:
        c1, c2, c3 = st.columns([2, 1, 1])
        who = c1.selectbox("User", users["email"].to_list(), key="user-pick")
        new_role = c2.selectbox("New role", access.ROLES, key="user-role")
        if c3.button("Change role", key="user-change"):
            try:
                access.update(database, user, who, role=new_role)
                st.rerun()
            except (access.UserError, PermissionError) as exc:
                st.error(ui.md(exc))
        active = users.filter(users["email"] == who)["active"].to_list()[0]
        if st.button("Deactivate" if active else "Reactivate", key="user-active"):
            try:
                access.update(database, user, who, active=not active)
                st.rerun()
            except (access.UserError, PermissionError) as exc:
                st.error(ui.md(exc))

# -- Stripe customers -> clients ---------------------------------------------------------------
with tab_stripe:
    st.caption(
        "A Stripe customer belongs to the client named (or numbered) in its metadata "
        "`leadops_workspace`; a mapping made here wins. Unmapped customers' payments count for no client."
    )
    mapping = stripe_sync.customer_mapping(database)
    if mapping.height == 0:
        st.info("No Stripe customers yet: save a Stripe key under Credentials and sync Stripe.")
    else:
        unmapped = mapping.filter(mapping["client"].is_null())
        if unmapped.height:
            st.warning(f"{unmapped.height} Stripe customer(s) belong to no client.")
        client_label = workspaces.labels(database)
        with st.form("stripe-map"):
            c1, c2 = st.columns(2)
            labels = {
                r[
                    "customer_id"
                ]: f"{r['name'] or r['email'] or r['customer_id']} ({r['customer_id']})"
                for r in mapping.iter_rows(named=True)
            }
            order = unmapped["customer_id"].to_list() + [
                c for c in mapping["customer_id"].to_list() if c not in set(unmapped["customer_id"])
            ]
            cust = c1.selectbox("Stripe customer", order, format_func=lambda c: labels[c])
            wid = c2.selectbox(
                "Client",
                [None, *client_label],
                format_func=lambda w: "— use the metadata —" if w is None else client_label[w],
            )
            if st.form_submit_button("Save mapping", type="primary"):
                try:
                    stripe_sync.map_customer(database, user, cust, wid)
                    st.success(
                        f"{ui.md(labels[cust])} → {ui.md(client_label[wid]) if wid else 'its metadata'}."
                    )
                    mapping = stripe_sync.customer_mapping(database)
                except (stripe_sync.StripeSyncError, PermissionError) as exc:
                    st.error(ui.md(exc))
        ui.table(mapping, name="stripe-customers", key="stripe-customers")
with tab_crm:
    from pages import crm_panel

    crm_panel.settings_section(user)
with tab_connections:
    from pages import settings_connections

    settings_connections.connections_tab(user)
with tab_setup:
    from pages import settings_setup

    settings_setup.setup_tab(user)
