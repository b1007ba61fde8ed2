"""Settings → Connections: where Email Bison, the master contacts database, Slack and the SMTP
server are, each with a Test whose outcome the setup checklist shows; and the Email Bison token
of every client (mint the missing ones, test them all)."""

from __future__ import annotations

from typing import Any

import streamlit as st

from core.accounts import access
from core.bison import admin as bison_admin
from core.guardrails import mailer
from core.pipeline import notices
from core.platform import connections, jobs, secrets, settings
from core.setup import checklist, connection_tests
from pages import ui
from pages.components.job_progress import job_progress

MINT_JOB = "conn_mint_job"


def _last_test(name: str) -> None:
    test = connections.last_tests(ui.db()).get(name)
    if test is None:
        st.caption("Not tested yet.")
        return
    word = "worked" if test["ok"] else "failed"
    st.caption(
        f"Last Test {connections.ago(test['tested_at'])} by {ui.md(test['tested_by'])} {word}: "
        f"{ui.md(test['message'])}"
    )


def _test_button(name: str, label: str, key: str, user: access.User) -> None:
    if st.button(label, icon=":material/network_check:", key=key):
        with st.spinner("Testing…"):
            try:
                ok, message = connection_tests.TESTS[name](ui.db(), user)
            except (connections.NotConfigured, PermissionError) as exc:
                st.warning(ui.md(exc))
                return
        (st.success if ok else st.error)(ui.md(message))
    _last_test(name)


def _override_note(name: str) -> None:
    value = connections.override(name)
    if value:
        st.info(
            f"**{connections.OVERRIDES[name]}** is set in the server's environment "
            f"({ui.md(connections.without_password(value))}) and overrides the setting below "
            "while it is set.",
            icon=":material/info:",
        )


def _save(changes: dict[str, Any]) -> None:
    """Save the settings that changed; say what was saved (or why not)."""
    db = ui.db()
    try:
        changed = [n for n, v in changes.items() if v != settings.get(db, n)]
        for n in changed:
            settings.set_value(db, n, changes[n], actor=ui.actor())
        st.success(f"Saved {', '.join(changed)}." if changed else "Nothing changed.")
    except settings.SettingError as exc:
        st.error(ui.md(exc))


def _secret(name: str, value: str, kind: str) -> None:
    try:
        masked = secrets.set_secret(ui.db(), name, value, kind=kind, actor=ui.actor())
        st.success(f"Saved {name}: {masked}")
    except secrets.SecretsUnavailable as exc:
        st.error(ui.md(exc))


def _bison(user: access.User) -> None:
    st.subheader("Email Bison")
    _override_note("bison_url")
    with st.form("conn-bison"):
        url = st.text_input(
            "Email Bison address",
            settings.get(ui.db(), "bison_url"),
            placeholder="https://send.youragency.com",
            help=settings.REGISTRY["bison_url"].help,
        )
        if st.form_submit_button("Save address"):
            _save({"bison_url": url.strip()})
    _test_button("bison", "Test Email Bison", "conn-test-bison", user)


def _tokens(user: access.User) -> None:
    st.markdown("**Client tokens**")
    db = ui.db()
    waiting = bison_admin.clients_without_token(db)
    mintable = [name for _, name, bid in waiting if bid is not None]
    no_id = [name for _, name, bid in waiting if bid is None]
    st.caption(
        f"{len(mintable)} client(s) have an Email Bison workspace id but no token"
        + (f"; {len(no_id)} have neither (set the id under Clients)" if no_id else "")
        + ". Minting uses the agency's super-admin token"
        + (
            f" (stored: …{ui.md(bison_admin.super_admin_saved(db))})."
            if bison_admin.super_admin_saved(db)
            else " (none stored yet)."
        )
    )
    with st.form("conn-super-admin", clear_on_submit=True):
        token = st.text_input("Super-admin token", type="password", placeholder="1|AbCd…")
        if st.form_submit_button("Save super-admin token"):
            if token.strip():
                _secret(bison_admin.SUPER_ADMIN_SECRET, token, "bison_super_admin")
            else:
                st.error("Super-admin token: paste it first.")
    c1, c2 = st.columns(2)
    if c1.button(
        "Mint missing tokens",
        icon=":material/key:",
        disabled=not mintable or bool(st.session_state.get(MINT_JOB)),
        key="conn-mint",
    ):
        try:
            st.session_state[MINT_JOB] = jobs.start(
                db, "bison.tokens", {"actor": ui.actor()}, requested_by=ui.actor()
            )
        except jobs.JobError as exc:
            st.error(ui.md(exc))
    job_progress(
        MINT_JOB,
        label="Minting Email Bison tokens…",
        on_done=_minted,
        counted=False,
    )
    if c2.button("Test client tokens", icon=":material/network_check:", key="conn-test-tokens"):
        with st.spinner("Testing every client's token…"):
            try:
                results = connection_tests.test_client_tokens(db, user)
            except (connections.NotConfigured, PermissionError) as exc:
                st.warning(ui.md(exc))
                results = None
        if results is not None:
            failed = {n: m for n, (ok, m) in results.items() if not ok}
            st.write(f"Tested {len(results)} token(s); {len(failed)} did not work.")
            for name, message in failed.items():
                st.error(f"{ui.md(name)}: {ui.md(message)}")


def _minted(job: dict[str, Any]) -> tuple[str, str]:
    if job["status"] != "succeeded":
        return "error", f"Minting failed: {ui.md(job['error'])}"
    r = job["result"]
    lines = [f"Minted {len(r.get('minted', []))} token(s)."]
    lines += [f"- minted {ui.md(m)}" for m in r.get("minted", [])]
    lines += [f"- skipped {ui.md(s)}" for s in r.get("skipped", [])]
    return ("success" if r.get("minted") else "warning"), "\n".join(lines)


def _master_db(user: access.User) -> None:
    st.subheader("Master contacts database")
    _override_note("master_db_url")
    db = ui.db()
    with st.form("conn-master"):
        url = st.text_input(
            "Master database address (without the password)",
            settings.get(db, "master_db_url"),
            placeholder="postgresql+psycopg://leadops@db.internal/contacts",
            help=settings.REGISTRY["master_db_url"].help,
        )
        password = st.text_input("Master database password", type="password")
        if st.form_submit_button("Save"):
            _save({"master_db_url": url.strip()})
            if password.strip():
                _secret(checklist.MASTER_DB_PASSWORD_SECRET, password, "master_db_password")
    st.caption("The table and its columns are the settings master_db_table and master_db_columns.")
    _test_button("master_db", "Test the master database", "conn-test-master", user)


def _slack(user: access.User) -> None:
    st.subheader("Slack")
    db = ui.db()
    hook = notices.webhook_last4(db)
    st.caption(
        f"Incoming webhook: …{ui.md(hook)} (in the secret store as {notices.WEBHOOK_SECRET})."
        if hook
        else "No incoming webhook yet: milestones are not posted."
    )
    with st.form("conn-slack"):
        channel = st.text_input(
            "Slack channel",
            settings.get(db, "slack_channel"),
            placeholder="#lead-ops",
            help=settings.REGISTRY["slack_channel"].help,
        )
        webhook = st.text_input(
            "Incoming-webhook address (replaces the stored one)", type="password"
        )
        if st.form_submit_button("Save"):
            _save({"slack_channel": channel.strip()})
            if webhook.strip():
                try:
                    st.success(f"Saved the webhook: {notices.set_webhook(db, user, webhook)}")
                except (ValueError, PermissionError, secrets.SecretsUnavailable) as exc:
                    st.error(ui.md(exc))
    _test_button("slack", "Send a test message", "conn-test-slack", user)


def _smtp(user: access.User) -> None:
    st.subheader("SMTP (alert e-mails, client reports)")
    db = ui.db()
    conf = settings.get_all(db)
    with st.form("conn-smtp"):
        c1, c2, c3 = st.columns([3, 1, 1])
        host = c1.text_input("SMTP server", conf["smtp_host"], placeholder="smtp.youragency.com")
        port = c2.number_input("Port", 1, 65535, int(conf["smtp_port"]))
        choices = list(settings.REGISTRY["smtp_security"].choices or ())
        security = c3.selectbox("Security", choices, index=choices.index(conf["smtp_security"]))
        c4, c5 = st.columns(2)
        username = c4.text_input("SMTP user name (empty: no login)", conf["smtp_username"])
        sender = c5.text_input("Sender address", conf["smtp_from"])
        password = st.text_input("SMTP password (replaces the stored one)", type="password")
        if st.form_submit_button("Save"):
            _save(
                {
                    "smtp_host": host.strip(),
                    "smtp_port": int(port),
                    "smtp_security": security,
                    "smtp_username": username.strip(),
                    "smtp_from": sender.strip(),
                }
            )
            if password.strip():
                try:
                    st.success(
                        f"Saved the SMTP password: {mailer.set_password(db, user, password)}"
                    )
                except (mailer.MailError, PermissionError, secrets.SecretsUnavailable) as exc:
                    st.error(ui.md(exc))
    _test_button("smtp", "Test the SMTP server", "conn-test-smtp", user)


def connections_tab(user: access.User) -> None:
    st.caption(
        "Where the systems LeadOps talks to are. Each address is a setting; a LEADOPS_* variable "
        "in the server's environment overrides it (the section says so). Passwords and tokens go "
        f"to the secret store ({ui.md(secrets.describe_backend())}), never to the database. "
        "Test keeps its outcome for the Setup tab."
    )
    _bison(user)
    _tokens(user)
    st.divider()
    _master_db(user)
    st.divider()
    _slack(user)
    st.divider()
    _smtp(user)
