"""Sync the Stripe account into the store: customers, products, prices, subscriptions with items,
invoices with lines, charges, refunds and balance transactions (fees).

Per resource a cursor (the highest `created` seen, epoch seconds) lives in `sync_cursors`
(source `stripe`, workspace 0 = the whole account) and is committed in the same transaction as
the rows it covers; rows are upserted by Stripe id, so a sync killed half-way and run again
neither duplicates nor loses anything. Each run lists objects created since the cursor (less
ten minutes of overlap) and re-reads, one by one, the stored objects that can still change:
subscriptions not yet ended and invoices still draft or open. A full sync re-lists everything.

A customer belongs to the client its metadata `leadops_workspace` names (a client's name or
id) unless staff mapped it in Settings (`stripe_customer_map`), which wins.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from collections.abc import Callable
from typing import Any

import polars as pl

from connectors.http import redact
from connectors.stripe import (
    StripeConnector,
    StripeConnectorError,
    parse_balance_transaction,
    parse_charge,
    parse_customer,
    parse_invoice,
    parse_price,
    parse_product,
    parse_refund,
    parse_subscription,
)
from core.accounts import access
from core.platform import audit, secrets
from core.platform.store import Database
from core.platform.sync_store import TS, get_cursor, set_cursor, upsert

SOURCE = "stripe"
ACCOUNT = 0  # sync_cursors.workspace_id for account-wide Stripe cursors
SECRET_NAME = "stripe.main"  # the name it had before credentials were found by kind
SECRET_KIND = "stripe_key"
OVERLAP_SECONDS = 600
OPEN_SUBSCRIPTION = "status NOT IN ('canceled', 'incomplete_expired')"
OPEN_INVOICE = "status IN ('draft', 'open')"

S, I64, I32, B, F = pl.Utf8, pl.Int64, pl.Int32, pl.Boolean, pl.Float64
SCHEMAS: dict[str, dict[str, Any]] = {
    "stripe_customers": {
        "id": S,
        "email": S,
        "name": S,
        "metadata": S,
        "currency": S,
        "delinquent": B,
        "deleted": B,
        "created": TS,
    },
    "stripe_products": {"id": S, "name": S, "active": B, "metadata": S, "created": TS},
    "stripe_prices": {
        "id": S,
        "kind": S,
        "product_id": S,
        "nickname": S,
        "currency": S,
        "unit_amount": I64,
        "interval": S,
        "interval_count": I32,
        "usage_type": S,
        "active": B,
        "created": TS,
    },
    "stripe_subscriptions": {
        "id": S,
        "customer_id": S,
        "status": S,
        "created": TS,
        "start_date": TS,
        "trial_start": TS,
        "trial_end": TS,
        "current_period_start": TS,
        "current_period_end": TS,
        "cancel_at_period_end": B,
        "cancel_at": TS,
        "canceled_at": TS,
        "ended_at": TS,
        "discount_percent_off": F,
        "discount_amount_off": I64,
        "discount_duration": S,
        "discount_end": TS,
        "metadata": S,
    },
    "stripe_subscription_items": {
        "id": S,
        "subscription_id": S,
        "price_id": S,
        "unit_amount": I64,
        "currency": S,
        "interval": S,
        "interval_count": I32,
        "usage_type": S,
        "quantity": I64,
        "current_period_start": TS,
        "current_period_end": TS,
    },
    "stripe_invoices": {
        "id": S,
        "customer_id": S,
        "subscription_id": S,
        "status": S,
        "currency": S,
        "amount_due": I64,
        "amount_paid": I64,
        "amount_remaining": I64,
        "subtotal": I64,
        "total": I64,
        "tax": I64,
        "billing_reason": S,
        "period_start": TS,
        "period_end": TS,
        "created": TS,
        "paid_at": TS,
        "description": S,
    },
    "stripe_invoice_lines": {
        "id": S,
        "invoice_id": S,
        "subscription_id": S,
        "price_id": S,
        "description": S,
        "amount": I64,
        "discount_amount": I64,
        "quantity": I64,
        "proration": B,
        "line_type": S,
        "interval": S,
        "interval_count": I32,
        "period_start": TS,
        "period_end": TS,
    },
    "stripe_charges": {
        "id": S,
        "customer_id": S,
        "amount": I64,
        "amount_captured": I64,
        "amount_refunded": I64,
        "currency": S,
        "status": S,
        "paid": B,
        "refunded": B,
        "balance_transaction_id": S,
        "payment_intent_id": S,
        "invoice_id": S,
        "created": TS,
    },
    "stripe_refunds": {
        "id": S,
        "charge_id": S,
        "payment_intent_id": S,
        "amount": I64,
        "currency": S,
        "status": S,
        "balance_transaction_id": S,
        "created": TS,
    },
    "stripe_balance_transactions": {
        "id": S,
        "amount": I64,
        "fee": I64,
        "net": I64,
        "currency": S,
        "type": S,
        "reporting_category": S,
        "source_id": S,
        "status": S,
        "created": TS,
        "available_on": TS,
    },
}
# resource -> (table, parser of one listed object to (row, child rows))
TABLES = {
    "customers": "stripe_customers",
    "products": "stripe_products",
    "prices": "stripe_prices",
    "subscriptions": "stripe_subscriptions",
    "invoices": "stripe_invoices",
    "charges": "stripe_charges",
    "refunds": "stripe_refunds",
    "balance_transactions": "stripe_balance_transactions",
}
CHILDREN = {"subscriptions": "stripe_subscription_items", "invoices": "stripe_invoice_lines"}
CHILD_KEY = {"subscriptions": "subscription_id", "invoices": "invoice_id"}


class StripeSyncError(RuntimeError):
    pass


def api_key(db: Database | None = None) -> str | None:
    """The Stripe key: the newest stored credential of kind Stripe secret key (whatever its
    name; without `db`, the one named `stripe.main`), else `STRIPE_API_KEY`."""
    try:
        if db is not None:
            stored = secrets.get_by_kind(db, SECRET_KIND, SECRET_NAME)
        else:
            stored = secrets.get_secret(SECRET_NAME)
    except Exception:  # no usable keyring: the environment may still have a key
        stored = None
    return stored or os.environ.get("STRIPE_API_KEY") or None


def configured(db: Database) -> bool:
    """Whether a key is there, without reading the secret store (cheap enough for every page run)."""
    return bool(os.environ.get("STRIPE_API_KEY")) or secrets.has_kind(db, SECRET_KIND, SECRET_NAME)


def connector(db: Database | None = None, **kwargs: Any) -> StripeConnector:
    key = api_key(db)
    if not key:
        raise StripeSyncError(
            "No Stripe API key: save one under Settings → Credentials (kind Stripe secret key), "
            "or set STRIPE_API_KEY."
        )
    return StripeConnector(key, **kwargs)


def _frame(rows: list[dict], schema: dict[str, Any]) -> pl.DataFrame:
    """Typed rows; epoch-second timestamps become UTC timestamps, dicts become JSON."""
    plain = {name: pl.Int64 if dtype == TS else dtype for name, dtype in schema.items()}
    data = {
        name: [
            json.dumps(r.get(name)) if isinstance(r.get(name), dict) else r.get(name) for r in rows
        ]
        for name in schema
    }
    df = pl.DataFrame(data, schema=plain)
    return df.with_columns(
        [(pl.col(n) * 1_000_000).cast(TS) for n, dtype in schema.items() if dtype == TS]
    )


def _parse(conn: StripeConnector, resource: str, obj: dict) -> tuple[dict, list[dict]]:
    if resource == "customers":
        return parse_customer(obj), []
    if resource == "products":
        return parse_product(obj), []
    if resource == "prices":
        return parse_price(obj), []
    if resource == "subscriptions":
        return parse_subscription(obj, conn.subscription_items(obj))
    if resource == "invoices":
        return parse_invoice(obj, conn.invoice_lines(obj))
    if resource == "charges":
        return parse_charge(obj), []
    if resource == "refunds":
        return parse_refund(obj), []
    return parse_balance_transaction(obj), []


def _refresh_ids(db: Database, resource: str, seen: set[str]) -> list[str]:
    """Stored objects that may have changed since they were created."""
    where = {"subscriptions": OPEN_SUBSCRIPTION, "invoices": OPEN_INVOICE}.get(resource)
    if where is None:
        return []
    ids = [r[0] for r in db.rows(f"SELECT id FROM {TABLES[resource]} WHERE {where}")]
    return [i for i in ids if i not in seen]


def _write(
    db: Database, resource: str, rows: list[dict], children: list[dict], cursor: int | None
) -> None:
    table = TABLES[resource]
    df = _frame(rows, SCHEMAS[table])
    now = dt.datetime.now(dt.UTC)
    with db.transaction() as cur:
        if df.height:
            upsert(cur, table, df.with_columns(pl.lit(now).cast(TS).alias("synced_at")), ["id"])
        if resource in CHILDREN and df.height:
            child_table, key = CHILDREN[resource], CHILD_KEY[resource]
            cur.register("_parent_ids", df.select("id").to_arrow())
            cur.execute(f"DELETE FROM {child_table} WHERE {key} IN (SELECT id FROM _parent_ids)")
            cdf = _frame(children, SCHEMAS[child_table])
            if cdf.height:
                upsert(
                    cur,
                    child_table,
                    cdf.with_columns(pl.lit(now).cast(TS).alias("synced_at")),
                    ["id"],
                )
            if resource == "invoices":
                cur.execute(
                    """
                    UPDATE stripe_invoices i SET service_month = date_trunc('month', coalesce(
                        (SELECT min(l.period_start) FROM stripe_invoice_lines l
                         WHERE l.invoice_id = i.id AND l.period_end > l.period_start AND NOT l.proration),
                        i.period_start, i.created) AT TIME ZONE 'UTC')::DATE
                    WHERE i.id IN (SELECT id FROM _parent_ids)
                    """
                )
            cur.unregister("_parent_ids")
        if resource == "customers" and df.height:
            cur.register("_customer_ids", df.select("id").to_arrow())
            cur.execute(
                """
                UPDATE stripe_customers c SET workspace_id = (
                    SELECT min(w.id) FROM workspaces w
                    WHERE lower(w.name) = lower(trim(json_extract_string(c.metadata, '$.leadops_workspace')))
                       OR CAST(w.id AS VARCHAR) = trim(json_extract_string(c.metadata, '$.leadops_workspace')))
                WHERE c.id IN (SELECT id FROM _customer_ids)
                """
            )
            cur.unregister("_customer_ids")
        if cursor is not None:
            set_cursor(cur, ACCOUNT, resource, str(cursor), source=SOURCE)


def sync_resource(db: Database, conn: StripeConnector, resource: str, *, full: bool) -> int:
    stored = None if full else get_cursor(db, ACCOUNT, resource, source=SOURCE)
    since = None if stored is None else max(0, int(stored) - OVERLAP_SECONDS)
    rows: list[dict] = []
    children: list[dict] = []
    newest = int(stored) if stored is not None else None
    for obj in conn.list(resource, since):
        row, kids = _parse(conn, resource, obj)
        rows.append(row)
        children += kids
        if row.get("created") is not None:
            newest = max(newest or 0, int(row["created"]))
    if not full:
        seen = {r["id"] for r in rows}
        for object_id in _refresh_ids(db, resource, seen):
            obj = conn.retrieve(resource, object_id)
            if obj is not None:
                row, kids = _parse(conn, resource, obj)
                rows.append(row)
                children += kids
    _write(db, resource, rows, children, newest)
    return len(rows)


def sync_stripe(
    db: Database,
    *,
    conn: StripeConnector | None = None,
    full: bool = False,
    triggered_by: str = "system",
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, Any]:
    """Sync every resource; one `sync_runs` row. Raises StripeSyncError when the run fails."""
    conn = conn or connector(db)
    run_id = db.scalar(
        "INSERT INTO sync_runs (source, status, triggered_by) VALUES (?, 'running', ?) RETURNING id",
        [SOURCE, triggered_by],
    )
    started = time.perf_counter()
    counts: dict[str, int] = {}
    status, error = "succeeded", None
    try:
        for i, resource in enumerate(TABLES):
            if progress:
                progress(resource, i, len(TABLES))
            counts[resource] = sync_resource(db, conn, resource, full=full)
    except (StripeConnectorError, ValueError, KeyError, TypeError) as exc:
        status, error = "failed", redact(f"{type(exc).__name__}: {exc}")
    except BaseException as exc:
        status, error = "failed", redact(f"{type(exc).__name__}: {exc}")
        _finish(db, run_id, status, counts, conn.requests, error)
        raise
    _finish(db, run_id, status, counts, conn.requests, error)
    result = {
        "status": status,
        "counts": counts,
        "requests": conn.requests,
        "error": error,
        "seconds": round(time.perf_counter() - started, 2),
        "unmapped": int(
            db.scalar("SELECT count(*) FROM stripe_customer_workspace WHERE workspace_id IS NULL")
        ),
    }
    if status == "failed":
        raise StripeSyncError(error or "Stripe sync failed.")
    return result


def _finish(db, run_id, status, counts, requests, error) -> None:
    with db.transaction() as cur:
        cur.execute(
            "UPDATE sync_runs SET finished_at = now(), status = ?, counts = ?, requests = ?, error = ? WHERE id = ?",
            [status, json.dumps(counts), requests, error, run_id],
        )


# -- customer -> client mapping ---------------------------------------------------------------


def last_success(db: Database) -> dt.datetime | None:
    """When the last Stripe sync that succeeded finished (None: never). Only runs that really
    read Stripe count: the demo's sample history is not a sync."""
    return db.scalar(
        "SELECT max(finished_at) FROM sync_runs WHERE source = ? AND status = 'succeeded'"
        " AND triggered_by <> 'demo'",
        [SOURCE],
    )


def status(db: Database) -> dict[str, Any]:
    """What the Revenue page says about Stripe: `configured` (a key is there now), `last_sync`
    (when the last real sync succeeded; None without a key, since nothing syncs then), and
    `sample` (the Stripe data stored is the demo's sample, not read from an account)."""
    is_configured = configured(db)
    return {
        "configured": is_configured,
        "last_sync": last_success(db) if is_configured else None,
        "sample": bool(
            db.scalar(
                "SELECT count(*) FROM sync_runs WHERE source = ? AND triggered_by = 'demo'",
                [SOURCE],
            )
        )
        and last_success(db) is None,
    }


def unmapped_customers(db: Database) -> pl.DataFrame:
    """Stripe customers that belong to no client yet, with what they paid so far."""
    return db.query(
        """
        SELECT c.id AS customer_id, c.name, c.email,
               json_extract_string(c.metadata, '$.leadops_workspace') AS metadata_workspace,
               c.created,
               coalesce((SELECT sum(amount_paid) FROM stripe_invoices i WHERE i.customer_id = c.id), 0)
                   AS paid_cents
        FROM stripe_customers c JOIN stripe_customer_workspace m ON m.customer_id = c.id
        WHERE m.workspace_id IS NULL AND NOT coalesce(c.deleted, false)
        ORDER BY c.created DESC NULLS LAST, c.id
        """
    )


def customer_mapping(db: Database) -> pl.DataFrame:
    return db.query(
        """
        SELECT c.id AS customer_id, c.name, c.email, w.name AS client, m.mapped_by
        FROM stripe_customers c JOIN stripe_customer_workspace m ON m.customer_id = c.id
        LEFT JOIN workspaces w ON w.id = m.workspace_id
        ORDER BY w.name NULLS FIRST, c.name
        """
    )


def map_customer(
    db: Database, user: access.User, customer_id: str, workspace_id: int | None
) -> None:
    """Map a Stripe customer to a client (None removes the Settings mapping); audited."""
    access.require(user, "revenue.manage")
    if not db.scalar("SELECT count(*) FROM stripe_customers WHERE id = ?", [customer_id]):
        raise StripeSyncError(f"Customer: no Stripe customer {customer_id!r} has been synced.")
    if workspace_id is not None and not db.scalar(
        "SELECT count(*) FROM workspaces WHERE id = ?", [workspace_id]
    ):
        raise StripeSyncError(f"Client: no client with id {workspace_id}.")
    before = db.scalar(
        "SELECT workspace_id FROM stripe_customer_map WHERE customer_id = ?", [customer_id]
    )
    with db.transaction() as cur:
        if workspace_id is None:
            cur.execute("DELETE FROM stripe_customer_map WHERE customer_id = ?", [customer_id])
        else:
            cur.execute(
                "INSERT INTO stripe_customer_map (customer_id, workspace_id, updated_by) VALUES (?, ?, ?)"
                " ON CONFLICT (customer_id) DO UPDATE SET workspace_id = excluded.workspace_id,"
                " updated_by = excluded.updated_by, updated_at = now()",
                [customer_id, workspace_id, user.email],
            )
        audit.record(
            cur,
            actor=user.email,
            action="stripe.map_customer",
            entity="stripe_customer",
            entity_id=customer_id,
            before={"workspace_id": before},
            after={"workspace_id": workspace_id},
        )
