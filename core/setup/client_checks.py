"""The setup checklist's lines for each active client: Email Bison token tested, upload and
evergreen campaigns chosen, territory assigned, tier and target, CRM configured and tested,
Stripe customer mapped. One query for every client at once."""

from __future__ import annotations

import datetime as dt
import shlex
from typing import Any

from core.platform.connections import ago
from core.platform.store import Database
from core.setup.items import DONE, FAILING, MISSING, Item

FACTS_SQL = """
WITH last_sync AS (
    SELECT workspace_id, max(started_at) AS at, arg_max(status, started_at) AS status,
           arg_max(error, started_at) AS error
    FROM sync_runs WHERE source = 'bison' AND workspace_id IS NOT NULL
      AND status IN ('succeeded', 'failed')
    GROUP BY workspace_id),
delivered AS (
    SELECT workspace_id, max(delivered_at) AS at FROM crm_deliveries
    WHERE status = 'delivered' GROUP BY workspace_id),
zips AS (SELECT workspace_id, count(*) AS n FROM zip_assignments GROUP BY workspace_id),
camps AS (SELECT workspace_id, count(*) AS n FROM bison_campaigns GROUP BY workspace_id),
customers AS (
    SELECT workspace_id, count(*) AS n, string_agg(customer_id, ', ' ORDER BY customer_id) AS ids
    FROM stripe_customer_workspace WHERE workspace_id IS NOT NULL GROUP BY workspace_id)
SELECT w.id, w.name, w.tier, w.monthly_target, w.billing_type, w.price_per_lead_cents,
       w.retainer_cents, w.bison_workspace_id, t.tier IS NOT NULL AS tier_known,
       r.last4 AS token_last4, r.updated_at AS token_saved_at, r.last_tested_at AS token_tested_at,
       r.last_test_ok AS token_test_ok, r.last_test_message AS token_test_message,
       s.at AS sync_at, s.status AS sync_status, s.error AS sync_error,
       p.upload_campaign_id, p.evergreen_campaign_id, uc.name AS upload_name,
       ec.name AS evergreen_name, coalesce(camps.n, 0) AS campaigns, coalesce(zips.n, 0) AS zips,
       c.crm_type, c.enabled AS crm_enabled, c.updated_at AS crm_saved_at,
       c.last_test_at AS crm_tested_at, c.last_test_ok AS crm_test_ok,
       c.last_test_message AS crm_test_message, d.at AS crm_delivered_at,
       coalesce(customers.n, 0) AS stripe_customers, customers.ids AS stripe_ids
FROM workspaces w
LEFT JOIN package_tiers t ON t.tier = w.tier
LEFT JOIN secret_refs r ON r.name = 'bison.workspace.' || w.id
LEFT JOIN last_sync s ON s.workspace_id = w.id
LEFT JOIN pipeline_settings p ON p.workspace_id = w.id
LEFT JOIN bison_campaigns uc ON uc.workspace_id = w.id AND uc.id = p.upload_campaign_id
LEFT JOIN bison_campaigns ec ON ec.workspace_id = w.id AND ec.id = p.evergreen_campaign_id
LEFT JOIN camps ON camps.workspace_id = w.id
LEFT JOIN zips ON zips.workspace_id = w.id
LEFT JOIN crm_configs c ON c.workspace_id = w.id
LEFT JOIN delivered d ON d.workspace_id = w.id
LEFT JOIN customers ON customers.workspace_id = w.id
WHERE w.active
ORDER BY w.name, w.id
"""


def client_items(
    db: Database, *, remote_text: bool = False, now: dt.datetime | None = None
) -> dict[str, list[Item]]:
    """Each active client's lines, by client name (in name order)."""
    now = now or dt.datetime.now(dt.UTC)
    all_customers = int(db.scalar("SELECT count(*) FROM stripe_customers") or 0)
    out: dict[str, list[Item]] = {}
    for f in db.query(FACTS_SQL).iter_rows(named=True):
        out[f["name"]] = [
            _token(f, now),
            _campaigns(f),
            _territory(f),
            _package(f),
            _crm(f, remote_text, now),
            _stripe_customer(f, all_customers),
        ]
    return out


def _q(name: str) -> str:
    return shlex.quote(name)


def _latest(*evidence: tuple[Any, bool | None, str | None, str] | None) -> tuple | None:
    """The newest (when, ok, message, what) of the evidence given (None entries skipped)."""
    found = [e for e in evidence if e is not None and e[0] is not None and e[1] is not None]
    return max(found, key=lambda e: e[0]) if found else None


def _token(f: dict[str, Any], now: dt.datetime) -> Item:
    item = Item("token", "Email Bison token tested", MISSING, "", "settings", "")
    if not f["token_last4"]:
        if f["bison_workspace_id"] is not None:
            return item.but(
                reason=f"No Email Bison token. Its Bison workspace id is {f['bison_workspace_id']}:"
                " mint one, or paste it under Settings → Email Bison tokens.",
                where="Settings → Connections (Mint missing tokens)",
                command=f"leadops bison tokens --generate --workspace {_q(f['name'])}",
            )
        return item.but(
            reason="No Email Bison token and no Bison workspace id: set the id to mint a token, "
            "or paste a token under Settings → Email Bison tokens.",
            where="Settings → Clients",
            command=f"leadops workspaces edit {_q(f['name'])} --bison-workspace-id N",
        )
    saved = f["token_saved_at"]
    test = (
        (f["token_tested_at"], f["token_test_ok"], f["token_test_message"], "Test")
        if f["token_tested_at"] and f["token_tested_at"] >= saved
        else None
    )
    sync = (
        (f["sync_at"], f["sync_status"] == "succeeded", f["sync_error"], "sync")
        if f["sync_at"] and f["sync_at"] >= saved
        else None
    )
    latest = _latest(test, sync)
    token = f"Token …{f['token_last4']}"
    item = item.but(where="Settings → Connections (Test client tokens)")
    if latest is None:
        return item.but(
            reason=f"{token} is saved but not tested yet: test it, or sync Email Bison.",
            command=f"leadops sync bison --workspace {_q(f['name'])}",
        )
    when, ok, message, what = latest
    if ok:
        return item.but(status=DONE, reason=f"{token}: the last {what} ({ago(when, now)}) worked.")
    return item.but(
        status=FAILING,
        reason=f"{token}: the last {what} ({ago(when, now)}) failed: {message}",
    )


def _campaign_name(f: dict[str, Any], which: str) -> str:
    cid = f[f"{which}_campaign_id"]
    return f"{f[f'{which}_name']} (#{cid})" if f[f"{which}_name"] else f"#{cid}"


def _campaigns(f: dict[str, Any]) -> Item:
    item = Item(
        "campaigns",
        "Upload and evergreen campaigns chosen",
        MISSING,
        "",
        "pipeline",
        "Pipeline → Run (Upload campaigns)",
        f"leadops pipeline campaigns --workspace {_q(f['name'])} --upload ID --evergreen ID",
    )
    up, ev = f["upload_campaign_id"], f["evergreen_campaign_id"]
    none_synced = " No campaigns synced for this client yet: sync Email Bison first."
    if up is None and ev is None:
        return item.but(
            reason="No upload or evergreen campaign chosen: batches cannot be uploaded."
            + (none_synced if not f["campaigns"] else "")
        )
    gone = [
        f"the {which} campaign #{f[f'{which}_campaign_id']}"
        for which in ("upload", "evergreen")
        if f[f"{which}_campaign_id"] is not None and not f[f"{which}_name"]
    ]
    if gone and f["campaigns"]:
        return item.but(
            status=FAILING,
            reason=f"{' and '.join(gone).capitalize()} is not among the client's "
            f"{f['campaigns']} synced campaigns (deleted in Email Bison?): choose again.",
        )
    if up is None:
        return item.but(
            reason=f"No upload campaign chosen (evergreen: {_campaign_name(f, 'evergreen')}): "
            "batches cannot be uploaded."
        )
    if ev is None:
        return item.but(
            reason=f"No evergreen campaign chosen (upload: {_campaign_name(f, 'upload')}): the "
            "Monday evergreen step skips this client."
        )
    return item.but(
        status=DONE,
        reason=f"Upload: {_campaign_name(f, 'upload')}; evergreen: {_campaign_name(f, 'evergreen')}.",
        command=None,
    )


def _territory(f: dict[str, Any]) -> Item:
    item = Item(
        "territory",
        "Territory assigned",
        MISSING,
        "",
        "territories",
        "Territories",
        "leadops territories import FILE",
    )
    if not f["zips"]:
        return item.but(reason="No ZIP codes assigned: there is nothing to pull or import for.")
    return item.but(status=DONE, reason=f"{f['zips']:,} ZIP code(s).", command=None)


def _package(f: dict[str, Any]) -> Item:
    name = _q(f["name"])
    item = Item(
        "package",
        "Tier and target",
        MISSING,
        "",
        "settings",
        "Settings → Clients",
        f"leadops workspaces edit {name} --tier T --goal N",
    )
    if not f["tier_known"]:
        return item.but(
            status=FAILING,
            reason=f"Tier {f['tier']!r} is not a package tier (Settings → Package tiers): choose one.",
        )
    if not f["monthly_target"]:
        return item.but(reason="No monthly target of interested replies.")
    if f["billing_type"] == "per_lead" and not f["price_per_lead_cents"]:
        return item.but(
            reason=f"Tier {f['tier']}, target {f['monthly_target']:,}, but billed per lead at "
            "$0.00: set the price per lead.",
            command=f"leadops workspaces edit {name} --price-per-lead DOLLARS",
        )
    if f["billing_type"] == "retainer" and not f["retainer_cents"]:
        return item.but(
            reason=f"Tier {f['tier']}, target {f['monthly_target']:,}, but a $0.00 retainer: "
            "set the retainer.",
            command=f"leadops workspaces edit {name} --retainer DOLLARS",
        )
    price = (
        f"${f['price_per_lead_cents'] / 100:,.2f} per lead"
        if f["billing_type"] == "per_lead"
        else f"${f['retainer_cents'] / 100:,.2f} retainer"
    )
    return item.but(
        status=DONE,
        reason=f"Tier {f['tier']}, target {f['monthly_target']:,} interested replies a month, "
        f"{price}.",
        command=None,
    )


def _crm(f: dict[str, Any], remote_text: bool, now: dt.datetime) -> Item:
    item = Item(
        "crm",
        "CRM configured and tested",
        MISSING,
        "",
        "settings",
        "Settings → CRM",
        f"leadops crm set {_q(f['name'])} --type hubspot|gohighlevel|webhook",
    )
    if not f["crm_type"]:
        return item.but(reason="No CRM: interested leads stay in LeadOps (Client leads page).")
    if not f["crm_enabled"]:
        return item.but(reason=f"The {f['crm_type']} CRM is switched off: nothing is delivered.")
    saved = f["crm_saved_at"]
    test = (
        (f["crm_tested_at"], f["crm_test_ok"], f["crm_test_message"], "connection test")
        if f["crm_tested_at"] and f["crm_tested_at"] >= saved
        else None
    )
    delivered = (
        (f["crm_delivered_at"], True, None, "delivery")
        if f["crm_delivered_at"] and f["crm_delivered_at"] >= saved
        else None
    )
    latest = _latest(test, delivered)
    if latest is None:
        return item.but(reason=f"{f['crm_type']}: configured, not tested yet.")
    when, ok, message, what = latest
    if ok:
        return item.but(
            status=DONE,
            reason=f"{f['crm_type']}: the last {what} ({ago(when, now)}) worked.",
            command=None,
        )
    said = message if remote_text and message else "admins see what the CRM answered"
    return item.but(
        status=FAILING,
        reason=f"{f['crm_type']}: the last {what} ({ago(when, now)}) failed ({said}).",
    )


def _stripe_customer(f: dict[str, Any], all_customers: int) -> Item:
    item = Item(
        "stripe_customer",
        "Stripe customer mapped",
        MISSING,
        "",
        "settings",
        "Settings → Stripe customers",
    )
    if f["stripe_customers"]:
        return item.but(status=DONE, reason=f"Stripe customer(s): {f['stripe_ids']}.")
    if not all_customers:
        return item.but(
            reason="No Stripe customers synced yet: sync Stripe, then map this client's customer.",
            command="leadops sync stripe",
        )
    return item.but(
        reason=f"None of the {all_customers:,} Stripe customers belongs to this client: map one, "
        "or set the metadata leadops_workspace on the customer in Stripe."
    )
