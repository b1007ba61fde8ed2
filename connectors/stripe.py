"""Stripe: list and read the objects revenue needs, through the official `stripe` SDK.

`StripeConnector(api_key, api_base=...)` wraps `stripe.StripeClient` (retries with backoff on
429/5xx/connection errors are the SDK's `max_network_retries`; it sends the API version the SDK
is built for). Listings use the SDK's auto-pagination and yield plain dicts; the `parse_*`
functions flatten each object into a record of plain values, reading both the current shapes
(invoice `parent.subscription_details`, line `pricing.price_details.price`, item-level billing
periods) and the legacy ones (invoice `subscription`, line `price`/`plan`, subscription-level
periods). Fields they do not know are ignored.

Incremental listings pass `created[gte]`. A server that refuses that filter (a fake, or an
endpoint without it) gets the unfiltered listing, filtered here, and the connector remembers
that for the rest of its life. `/v1/prices` falls back to the legacy `/v1/plans`.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from typing import Any

import stripe

DEFAULT_API_BASE = "https://api.stripe.com"
RESOURCES = (
    "customers",
    "products",
    "prices",
    "subscriptions",
    "invoices",
    "charges",
    "refunds",
    "balance_transactions",
)


class StripeConnectorError(RuntimeError):
    """A Stripe request failed; the message names the resource and Stripe's reason."""


def api_base_from_env() -> str:
    return (os.environ.get("LEADOPS_STRIPE_URL") or DEFAULT_API_BASE).rstrip("/")


class StripeConnector:
    def __init__(
        self,
        api_key: str,
        *,
        api_base: str | None = None,
        max_network_retries: int = 3,
        page_size: int = 100,
    ) -> None:
        if not api_key:
            raise StripeConnectorError("No Stripe API key.")
        self.api_base = (api_base or api_base_from_env()).rstrip("/")
        self.client = stripe.StripeClient(
            api_key,
            base_addresses={"api": self.api_base},
            max_network_retries=max_network_retries,
        )
        self.page_size = page_size
        self.requests = 0
        self.unfiltered: set[str] = set()  # resources whose listing refused `created` filters
        self.plans_only = False

    def check(self) -> dict[str, Any]:
        """Read the account's balance (`GET /v1/balance`): the cheapest call that proves the key
        works. Returns `{"livemode": bool}`; raises StripeConnectorError with Stripe's reason."""
        try:
            self.requests += 1
            balance = self.client.v1.balance.retrieve().to_dict()
        except stripe.StripeError as exc:
            raise StripeConnectorError(f"Stripe balance: {_reason(exc)}") from None
        return {"livemode": bool(balance.get("livemode"))}

    # -- listings ----------------------------------------------------------------------------

    def _service(self, resource: str):
        if resource == "prices" and self.plans_only:
            return self.client.v1.plans
        return getattr(self.client.v1, resource)

    def _pages(self, resource: str, params: dict[str, Any]) -> Iterator[dict]:
        """The SDK's auto-pagination (`starting_after` while `has_more`), as plain dicts."""
        listing = self._service(resource).list(params=params)
        self.requests += 1
        for n, obj in enumerate(listing.auto_paging_iter(), start=1):
            if n % self.page_size == 0:
                self.requests += 1
            yield obj.to_dict()

    def list(self, resource: str, created_gte: int | None = None) -> Iterator[dict]:
        """Every object of `resource` (created at or after `created_gte`, epoch seconds)."""
        if resource not in RESOURCES:
            raise StripeConnectorError(f"Unknown Stripe resource {resource!r}.")
        base: dict[str, Any] = {"limit": self.page_size}
        if resource == "subscriptions":
            base["status"] = "all"
        filtered = created_gte is not None and resource not in self.unfiltered
        params = {**base, "created": {"gte": int(created_gte)}} if filtered else base
        try:
            it = self._pages(resource, params)
            try:
                first = next(it, None)
            except (stripe.InvalidRequestError, stripe.APIError) as exc:
                if resource == "prices" and _not_found(exc) and not self.plans_only:
                    self.plans_only = True  # no /v1/prices: the legacy plans
                    yield from self.list(resource, created_gte)
                    return
                if not filtered:
                    raise
                self.unfiltered.add(resource)  # the filter was refused: filter here instead
                yield from self.list(resource, created_gte)
                return
            if first is None:
                return
            for obj in itertools.chain([first], it):
                if filtered or created_gte is None or int(obj.get("created") or 0) >= created_gte:
                    yield obj
        except stripe.StripeError as exc:
            raise StripeConnectorError(f"Stripe {resource}: {_reason(exc)}") from None

    def retrieve(self, resource: str, object_id: str) -> dict | None:
        """One object by id, or None when Stripe no longer has it."""
        try:
            self.requests += 1
            return getattr(self.client.v1, resource).retrieve(object_id).to_dict()
        except stripe.InvalidRequestError as exc:
            if _not_found(exc):
                return None
            raise StripeConnectorError(f"Stripe {resource} {object_id}: {_reason(exc)}") from None
        except stripe.StripeError as exc:
            raise StripeConnectorError(f"Stripe {resource} {object_id}: {_reason(exc)}") from None

    def subscription_items(self, subscription: dict) -> list[dict]:
        """All items of a subscription (the embedded list holds the first page only)."""
        items = subscription.get("items") or {}
        data = list(items.get("data") or [])
        if items.get("has_more"):
            page = self.client.v1.subscription_items.list(
                params={"subscription": subscription["id"], "limit": 100}
            )
            self.requests += 1
            data = [o.to_dict() for o in page.auto_paging_iter()]
        return data

    def invoice_lines(self, invoice: dict) -> list[dict]:
        """All lines of an invoice (the embedded list holds the first page only)."""
        lines = invoice.get("lines") or {}
        data = list(lines.get("data") or [])
        if lines.get("has_more"):
            page = self.client.v1.invoices.line_items.list(invoice["id"], params={"limit": 100})
            self.requests += 1
            data = [o.to_dict() for o in page.auto_paging_iter()]
        return data


def _not_found(exc: stripe.StripeError) -> bool:
    return getattr(exc, "http_status", None) == 404 or "not found" in str(exc).lower()


def _reason(exc: stripe.StripeError) -> str:
    status = getattr(exc, "http_status", None)
    msg = getattr(exc, "user_message", None) or str(exc).splitlines()[0][:200]
    return f"{type(exc).__name__}{f' (HTTP {status})' if status else ''}: {msg}"


# -- parsers: Stripe objects (either API shape) to flat records -------------------------------


def _id(value: Any) -> str | None:
    """An id, whether the field holds the id or the expanded object."""
    if isinstance(value, dict):
        return value.get("id")
    return value


def _int(value: Any, default: int | None = 0) -> int | None:
    return default if value is None else int(value)


def parse_customer(d: dict) -> dict:
    return {
        "id": d["id"],
        "email": d.get("email"),
        "name": d.get("name"),
        "metadata": d.get("metadata") or {},
        "currency": d.get("currency"),
        "delinquent": d.get("delinquent"),
        "deleted": bool(d.get("deleted")),
        "created": d.get("created"),
    }


def parse_product(d: dict) -> dict:
    return {
        "id": d["id"],
        "name": d.get("name"),
        "active": d.get("active"),
        "metadata": d.get("metadata") or {},
        "created": d.get("created"),
    }


def parse_price(d: dict) -> dict:
    """A price, or a legacy plan (`amount`, `interval` at the top level)."""
    recurring = d.get("recurring") or {}
    is_plan = d.get("object") == "plan"
    amount = d.get("amount") if is_plan else d.get("unit_amount")
    if amount is None and d.get("unit_amount_decimal") not in (None, ""):
        amount = round(float(d["unit_amount_decimal"]))
    return {
        "id": d["id"],
        "kind": "plan" if is_plan else "price",
        "product_id": _id(d.get("product")),
        "nickname": d.get("nickname"),
        "currency": d.get("currency"),
        "unit_amount": amount,
        "interval": d.get("interval") if is_plan else recurring.get("interval"),
        "interval_count": (d.get("interval_count") if is_plan else recurring.get("interval_count"))
        or (1 if (d.get("interval") or recurring.get("interval")) else None),
        "usage_type": d.get("usage_type") if is_plan else recurring.get("usage_type"),
        "active": d.get("active"),
        "created": d.get("created"),
    }


def _discount(d: dict) -> dict:
    """The subscription's (first) discount: `discounts[]` (expanded) or the legacy `discount`."""
    disc = d.get("discount")
    if not disc:
        for x in d.get("discounts") or []:
            if isinstance(x, dict):
                disc = x
                break
    coupon = (disc or {}).get("coupon") or {}
    if not disc and isinstance((disc or {}).get("source"), dict):
        coupon = disc["source"].get("coupon") or {}
    return {
        "discount_percent_off": coupon.get("percent_off"),
        "discount_amount_off": coupon.get("amount_off"),
        "discount_duration": coupon.get("duration"),
        "discount_end": (disc or {}).get("end"),
    }


def parse_subscription_item(item: dict, subscription_id: str) -> dict:
    price = parse_price(item.get("price") or item.get("plan") or {"id": None})
    return {
        "id": item["id"],
        "subscription_id": subscription_id,
        "price_id": price["id"],
        "unit_amount": price["unit_amount"],
        "currency": price["currency"],
        "interval": price["interval"],
        "interval_count": price["interval_count"],
        "usage_type": price["usage_type"],
        "quantity": _int(item.get("quantity"), 1),
        "current_period_start": item.get("current_period_start"),
        "current_period_end": item.get("current_period_end"),
    }


def parse_subscription(d: dict, items: list[dict]) -> tuple[dict, list[dict]]:
    parsed_items = [parse_subscription_item(i, d["id"]) for i in items]
    # Since 2025-03-31 the billing period lives on each item; older versions keep it here.
    starts = [i["current_period_start"] for i in parsed_items if i["current_period_start"]]
    ends = [i["current_period_end"] for i in parsed_items if i["current_period_end"]]
    sub = {
        "id": d["id"],
        "customer_id": _id(d.get("customer")),
        "status": d.get("status") or "active",
        "created": d.get("created"),
        "start_date": d.get("start_date") or d.get("created"),
        "trial_start": d.get("trial_start"),
        "trial_end": d.get("trial_end"),
        "current_period_start": d.get("current_period_start") or (min(starts) if starts else None),
        "current_period_end": d.get("current_period_end") or (max(ends) if ends else None),
        "cancel_at_period_end": bool(d.get("cancel_at_period_end")),
        "cancel_at": d.get("cancel_at"),
        "canceled_at": d.get("canceled_at"),
        "ended_at": d.get("ended_at"),
        "metadata": d.get("metadata") or {},
        **_discount(d),
    }
    for it in parsed_items:
        it["current_period_start"] = it["current_period_start"] or sub["current_period_start"]
        it["current_period_end"] = it["current_period_end"] or sub["current_period_end"]
    return sub, parsed_items


def invoice_subscription(d: dict) -> str | None:
    parent = d.get("parent") or {}
    details = parent.get("subscription_details") or {}
    return _id(details.get("subscription")) or _id(d.get("subscription"))


def parse_invoice_line(line: dict, invoice_id: str) -> dict:
    pricing = line.get("pricing") or {}
    price_obj = line.get("price") or line.get("plan")
    price_id = _id((pricing.get("price_details") or {}).get("price")) or _id(price_obj)
    price = parse_price(price_obj) if isinstance(price_obj, dict) else {}
    period = line.get("period") or {}
    parent = line.get("parent") or {}
    sub_details = parent.get("subscription_item_details") or {}
    proration = line.get("proration")
    if proration is None:
        proration = bool(sub_details.get("proration"))
    discounts = sum(int(x.get("amount") or 0) for x in line.get("discount_amounts") or [])
    line_type = line.get("type") or (
        "subscription" if parent.get("type") == "subscription_item_details" else "invoiceitem"
    )
    return {
        "id": line["id"],
        "invoice_id": invoice_id,
        "subscription_id": _id(line.get("subscription")) or _id(sub_details.get("subscription")),
        "price_id": price_id,
        "description": line.get("description"),
        "amount": _int(line.get("amount")),
        "discount_amount": discounts,
        "quantity": _int(line.get("quantity"), None),
        "proration": bool(proration),
        "line_type": line_type,
        "interval": price.get("interval"),
        "interval_count": price.get("interval_count"),
        "period_start": period.get("start"),
        "period_end": period.get("end"),
    }


def parse_invoice(d: dict, lines: list[dict]) -> tuple[dict, list[dict]]:
    transitions = d.get("status_transitions") or {}
    paid_at = transitions.get("paid_at")
    if paid_at is None and d.get("status") == "paid":
        paid_at = d.get("created")
    tax = d.get("tax")
    if tax is None and d.get("total_taxes") is not None:
        tax = sum(int(t.get("amount") or 0) for t in d["total_taxes"])
    parsed = [parse_invoice_line(x, d["id"]) for x in lines]
    return (
        {
            "id": d["id"],
            "customer_id": _id(d.get("customer")),
            "subscription_id": invoice_subscription(d),
            "status": d.get("status") or "draft",
            "currency": d.get("currency") or "usd",
            "amount_due": _int(d.get("amount_due")),
            "amount_paid": _int(d.get("amount_paid")),
            "amount_remaining": _int(d.get("amount_remaining")),
            "subtotal": _int(d.get("subtotal"), None),
            "total": _int(d.get("total"), None),
            "tax": _int(tax, None),
            "billing_reason": d.get("billing_reason"),
            "period_start": d.get("period_start"),
            "period_end": d.get("period_end"),
            "created": d.get("created"),
            "paid_at": paid_at,
            "description": d.get("description"),
        },
        parsed,
    )


def parse_charge(d: dict) -> dict:
    return {
        "id": d["id"],
        "customer_id": _id(d.get("customer")),
        "amount": _int(d.get("amount")),
        "amount_captured": _int(
            d.get("amount_captured"), _int(d.get("amount")) if d.get("captured") else 0
        ),
        "amount_refunded": _int(d.get("amount_refunded")),
        "currency": d.get("currency"),
        "status": d.get("status"),
        "paid": d.get("paid"),
        "refunded": d.get("refunded"),
        "balance_transaction_id": _id(d.get("balance_transaction")),
        "payment_intent_id": _id(d.get("payment_intent")),
        "invoice_id": _id(d.get("invoice")),
        "created": d.get("created"),
    }


def parse_refund(d: dict) -> dict:
    return {
        "id": d["id"],
        "charge_id": _id(d.get("charge")),
        "payment_intent_id": _id(d.get("payment_intent")),
        "amount": _int(d.get("amount")),
        "currency": d.get("currency"),
        "status": d.get("status"),
        "balance_transaction_id": _id(d.get("balance_transaction")),
        "created": d.get("created"),
    }


def parse_balance_transaction(d: dict) -> dict:
    amount = _int(d.get("amount"))
    fee = _int(d.get("fee"))
    return {
        "id": d["id"],
        "amount": amount,
        "fee": fee,
        "net": _int(d.get("net"), amount - fee),
        "currency": d.get("currency"),
        "type": d.get("type"),
        "reporting_category": d.get("reporting_category") or d.get("type"),
        "source_id": _id(d.get("source")),
        "status": d.get("status"),
        "created": d.get("created"),
        "available_on": d.get("available_on"),
    }
