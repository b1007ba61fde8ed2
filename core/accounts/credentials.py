"""The credentials vault: every secret LeadOps uses, kept in the keyring (core/platform/secrets.py), with
what is safe to show (kind, label, username, covered states, last 4 characters, last test)."""

from __future__ import annotations

import re
from collections.abc import Callable

import polars as pl

from connectors.bison import BisonClient
from connectors.http import ApiError, redact
from core.accounts import access
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
}
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,80}$")


class CredentialError(ValueError):
    pass


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
    name = (name or "").strip().lower()
    if not _NAME_RE.match(name):
        raise CredentialError("Name: 2–81 characters, lower-case letters, digits, '.', '_' or '-'.")
    if kind not in KINDS:
        raise CredentialError(f"Kind: must be one of {', '.join(KINDS)}.")
    if not (value or "").strip():
        raise CredentialError("Secret: paste the value to store.")
    bad = [s for s in (states or []) if s not in STATES]
    if bad:
        raise CredentialError(f"States: unknown code(s) {', '.join(bad)}.")
    if kind == "lead_source" and not states:
        raise CredentialError("States: a lead-list source account covers at least one state.")
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
) -> tuple[bool, str]:
    """Call the service with the credential and record the outcome."""
    access.require(user, "secrets.manage")
    kind = db.scalar("SELECT kind FROM secret_refs WHERE name = ?", [name])
    if kind is None:
        raise CredentialError(f"No credential named {name!r}.")
    value = secrets.get_secret(name)
    if not value:
        ok, message = False, "The secret store has no value for it; save it again."
    elif kind in ("bison_token", "bison_super_admin"):
        client = (bison_factory or (lambda t: BisonClient(token=t)))(value)
        try:
            me = client.check()
            ok, message = (
                True,
                f"Email Bison accepted it (user {me.get('email') or me.get('name') or 'ok'}).",
            )
        except (ApiError, ValueError) as exc:
            ok, message = False, redact(f"Email Bison refused it: {exc}")
        finally:
            client.close()
    else:
        ok, message = False, f"No automatic test for {KINDS[kind].lower()} yet; it is stored."
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
