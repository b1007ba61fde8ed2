"""The credentials vault: every secret LeadOps uses, kept in the keyring (core/platform/secrets.py), with
what is safe to show (kind, label, username, covered states, last 4 characters, last test)."""

from __future__ import annotations

import re
from collections.abc import Callable

import polars as pl

from connectors.bison import BisonClient
from core.accounts import access
from core.accounts import credential_checks as checks
from core.platform import audit, secrets
from core.platform.geo_data import STATES
from core.platform.store import Database

KINDS: dict[str, str] = {
    "bison_token": "Email Bison workspace token",
    "bison_super_admin": "Email Bison super-admin token",
    "stripe_key": "Stripe secret key",
    "debounce_key": "Debounce API key",
    "crm_token": "CRM API token (HubSpot / GoHighLevel)",
    "master_db_password": "Master contacts database password",
    "lead_source": "Lead-list source account (per state)",
    "llm_key": "Language model API key",
    "slack_webhook": "Slack incoming-webhook URL",
    "smtp_password": "SMTP password",
}
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,80}$")


class CredentialError(ValueError):
    pass


def check_input(name: str, kind: str, value: str, states: list[str] | None = None) -> str:
    """What :func:`save` checks before storing anything; returns the name as it is stored."""
    name = (name or "").strip().lower()
    if not _NAME_RE.match(name):
        raise CredentialError("Name: 2–81 characters, lower-case letters, digits, '.', '_' or '-'.")
    if name.startswith("pending."):
        raise CredentialError(
            "Name: names starting with 'pending.' are kept for values in transit."
        )
    if kind not in KINDS:
        raise CredentialError(f"Kind: must be one of {', '.join(KINDS)}.")
    if not (value or "").strip():
        raise CredentialError("Secret: paste the value to store.")
    bad = [s for s in (states or []) if s not in STATES]
    if bad:
        raise CredentialError(f"States: unknown code(s) {', '.join(bad)}.")
    if kind == "lead_source" and not states:
        raise CredentialError("States: a lead-list source account covers at least one state.")
    return name


def save(
    db: Database,
    user: access.User,
    name: str,
    kind: str,
    value: str,
    *,
    label: str | None = None,
    username: str | None = None,
    states: list[str] | None = None,
) -> str:
    """Add or replace a credential; returns the masked value (the secret is never shown again)."""
    access.require(user, "secrets.manage")
    name = check_input(name, kind, value, states)
    masked = secrets.set_secret(db, name, value, kind=kind, actor=user.email)
    with db.transaction() as cur:
        cur.execute(
            "UPDATE secret_refs SET label = ?, username = ?, states = ?, last_tested_at = NULL,"
            " last_test_ok = NULL, last_test_message = NULL WHERE name = ?",
            [label or None, username or None, sorted(set(states or [])) or None, name],
        )
    return masked


def delete(db: Database, user: access.User, name: str) -> None:
    access.require(user, "secrets.manage")
    secrets.delete_secret(db, name, actor=user.email)


def list_credentials(db: Database) -> pl.DataFrame:
    return db.query(
        "SELECT name, kind, label, username, array_to_string(states, ' ') AS states, '…' || last4 AS value,"
        " updated_at, updated_by, last_tested_at, last_test_ok, last_test_message FROM secret_refs ORDER BY kind, name"
    )


def test(
    db: Database,
    user: access.User,
    name: str,
    *,
    bison_factory: Callable[[str], BisonClient] | None = None,
) -> tuple[bool | None, str]:
    """Call the service with the credential (core/accounts/credential_checks.py) and record the
    outcome: ok, failed, or None when it could not be tested (say, no address configured)."""
    access.require(user, "secrets.manage")
    kind = db.scalar("SELECT kind FROM secret_refs WHERE name = ?", [name])
    if kind is None:
        raise CredentialError(f"No credential named {name!r}.")
    ok, message = _check(db, kind, secrets.get_secret(name), bison_factory)
    with db.transaction() as cur:
        cur.execute(
            "UPDATE secret_refs SET last_tested_at = now(), last_test_ok = ?, last_test_message = ? WHERE name = ?",
            [ok, message, name],
        )
        audit.record(
            cur,
            actor=user.email,
            action="secret.test",
            entity="secret",
            entity_id=name,
            after={"ok": ok},
        )
    return ok, message


def _check(
    db: Database,
    kind: str,
    value: str | None,
    bison_factory: Callable[[str], BisonClient] | None,
) -> tuple[bool | None, str]:
    if not value:
        return False, "The secret store has no value for it; save it again."
    if kind in ("bison_token", "bison_super_admin"):
        return checks.bison(db, value, bison_factory)
    if kind == "stripe_key":
        return checks.stripe_key(value)
    if kind == "debounce_key":
        return checks.debounce_key(value)
    if kind == "llm_key":
        return checks.llm_key(value)
    if kind == "slack_webhook":
        return checks.slack_webhook(value)
    if kind == "smtp_password":
        return checks.smtp_password(db, value)
    if kind == "master_db_password":
        return checks.master_db_password(db, value)
    if kind == "crm_token":
        return None, "Not tested here: test it with its client under Settings → CRM."
    return (
        None,
        f"Not tested: a {KINDS.get(kind, kind).lower()} has no service to call; it is stored.",
    )


def state_coverage(db: Database) -> pl.DataFrame:
    """Every state with the lead-list source accounts that cover it (none: a gap)."""
    return db.query(
        """
        WITH c AS (SELECT unnest(states) AS state, coalesce(label, name) AS account FROM secret_refs
                   WHERE kind = 'lead_source' AND states IS NOT NULL)
        SELECT s.code AS state, s.name, count(c.account) AS accounts, string_agg(c.account, ', ') AS covered_by
        FROM us_states s LEFT JOIN c ON c.state = s.code
        WHERE s.region NOT IN ('Military', 'Territory') GROUP BY ALL ORDER BY s.code
        """
    )
