-- Revenue: the Stripe mirror (subscriptions, items, prices, invoice lines, charges, refunds,
-- balance transactions), the customer-to-client mapping, manual cost lines and month snapshots.
-- Money in integer cents; times UTC.

ALTER TABLE stripe_customers ADD COLUMN currency VARCHAR;
ALTER TABLE stripe_customers ADD COLUMN delinquent BOOLEAN;
ALTER TABLE stripe_customers ADD COLUMN deleted BOOLEAN DEFAULT false;

ALTER TABLE stripe_invoices ADD COLUMN subtotal BIGINT;
ALTER TABLE stripe_invoices ADD COLUMN total BIGINT;
ALTER TABLE stripe_invoices ADD COLUMN tax BIGINT;
ALTER TABLE stripe_invoices ADD COLUMN billing_reason VARCHAR;
-- First day of the month the invoice bills for (its lines' service period, else its period).
ALTER TABLE stripe_invoices ADD COLUMN service_month DATE;

CREATE TABLE stripe_products (
    id          VARCHAR PRIMARY KEY,
    name        VARCHAR,
    active      BOOLEAN,
    metadata    JSON,
    created     TIMESTAMPTZ,
    synced_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Prices and legacy plans in one table (kind = 'price' | 'plan').
CREATE TABLE stripe_prices (
    id              VARCHAR PRIMARY KEY,
    kind            VARCHAR NOT NULL DEFAULT 'price',
    product_id      VARCHAR,
    nickname        VARCHAR,
    currency        VARCHAR,
    unit_amount     BIGINT,
    interval        VARCHAR,            -- day, week, month, year; NULL for one-time prices
    interval_count  INTEGER,
    usage_type      VARCHAR,            -- licensed, metered
    active          BOOLEAN,
    created         TIMESTAMPTZ,
    synced_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE stripe_subscriptions (
    id                      VARCHAR PRIMARY KEY,
    customer_id             VARCHAR NOT NULL,
    status                  VARCHAR NOT NULL,
    created                 TIMESTAMPTZ,
    start_date              TIMESTAMPTZ,
    trial_start             TIMESTAMPTZ,
    trial_end               TIMESTAMPTZ,
    current_period_start    TIMESTAMPTZ,
    current_period_end      TIMESTAMPTZ,
    cancel_at_period_end    BOOLEAN NOT NULL DEFAULT false,
    cancel_at               TIMESTAMPTZ,
    canceled_at             TIMESTAMPTZ,
    ended_at                TIMESTAMPTZ,
    discount_percent_off    DOUBLE,
    discount_amount_off     BIGINT,
    discount_duration       VARCHAR,     -- once, repeating, forever
    discount_end            TIMESTAMPTZ,
    metadata                JSON,
    synced_at               TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE stripe_subscription_items (
    id                      VARCHAR PRIMARY KEY,
    subscription_id         VARCHAR NOT NULL,
    price_id                VARCHAR,
    unit_amount             BIGINT,
    currency                VARCHAR,
    interval                VARCHAR,
    interval_count          INTEGER,
    usage_type              VARCHAR,
    quantity                BIGINT,
    current_period_start    TIMESTAMPTZ,
    current_period_end      TIMESTAMPTZ,
    synced_at               TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE stripe_invoice_lines (
    id              VARCHAR PRIMARY KEY,
    invoice_id      VARCHAR NOT NULL,
    subscription_id VARCHAR,
    price_id        VARCHAR,
    description     VARCHAR,
    amount          BIGINT NOT NULL,     -- before discounts
    discount_amount BIGINT NOT NULL DEFAULT 0,
    quantity        BIGINT,
    proration       BOOLEAN NOT NULL DEFAULT false,
    line_type       VARCHAR,             -- subscription, invoiceitem
    interval        VARCHAR,
    interval_count  INTEGER,
    period_start    TIMESTAMPTZ,
    period_end      TIMESTAMPTZ,
    synced_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE stripe_charges (
    id                      VARCHAR PRIMARY KEY,
    customer_id             VARCHAR,
    amount                  BIGINT NOT NULL,
    amount_captured         BIGINT NOT NULL DEFAULT 0,
    amount_refunded         BIGINT NOT NULL DEFAULT 0,
    currency                VARCHAR,
    status                  VARCHAR,
    paid                    BOOLEAN,
    refunded                BOOLEAN,
    balance_transaction_id  VARCHAR,
    payment_intent_id       VARCHAR,
    invoice_id              VARCHAR,
    created                 TIMESTAMPTZ NOT NULL,
    synced_at               TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE stripe_refunds (
    id                      VARCHAR PRIMARY KEY,
    charge_id               VARCHAR,
    payment_intent_id       VARCHAR,
    amount                  BIGINT NOT NULL,
    currency                VARCHAR,
    status                  VARCHAR,
    balance_transaction_id  VARCHAR,
    created                 TIMESTAMPTZ NOT NULL,
    synced_at               TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE stripe_balance_transactions (
    id                  VARCHAR PRIMARY KEY,
    amount              BIGINT NOT NULL,     -- gross, signed, settlement currency
    fee                 BIGINT NOT NULL DEFAULT 0,
    net                 BIGINT NOT NULL,
    currency            VARCHAR,
    type                VARCHAR,
    reporting_category  VARCHAR,
    source_id           VARCHAR,             -- ch_..., re_..., ...
    status              VARCHAR,
    created             TIMESTAMPTZ NOT NULL,
    available_on        TIMESTAMPTZ,
    synced_at           TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Staff's mapping of Stripe customers to clients; it wins over the customer's metadata.
CREATE TABLE stripe_customer_map (
    customer_id     VARCHAR PRIMARY KEY,
    workspace_id    INTEGER NOT NULL,
    updated_by      VARCHAR NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- The client each Stripe customer belongs to: the Settings mapping, else the metadata.
CREATE VIEW stripe_customer_workspace AS
SELECT c.id AS customer_id, coalesce(m.workspace_id, c.workspace_id) AS workspace_id,
       CASE WHEN m.workspace_id IS NOT NULL THEN 'mapping'
            WHEN c.workspace_id IS NOT NULL THEN 'metadata' END AS mapped_by
FROM stripe_customers c LEFT JOIN stripe_customer_map m ON m.customer_id = c.id;

-- Manual cost lines keep who last changed them (every change is in the audit log too).
ALTER TABLE workspace_costs ADD COLUMN updated_by VARCHAR DEFAULT 'system';
ALTER TABLE workspace_costs ADD COLUMN updated_at TIMESTAMPTZ DEFAULT now();

-- "Save snapshot": a month's per-client numbers as they were when saved.
CREATE TABLE revenue_snapshots (
    month               DATE NOT NULL,
    workspace_id        INTEGER NOT NULL,
    client              VARCHAR NOT NULL,
    billing_type        VARCHAR,
    interested          BIGINT NOT NULL,
    billed_by_model     BIGINT NOT NULL,
    invoiced            BIGINT NOT NULL,
    collected           BIGINT NOT NULL,
    revenue             BIGINT NOT NULL,
    refunds             BIGINT NOT NULL,
    data_cost           BIGINT NOT NULL,
    verification_cost   BIGINT NOT NULL,
    sending_cost        BIGINT NOT NULL,
    stripe_fees         BIGINT NOT NULL,
    manual_cost         BIGINT NOT NULL,
    total_cost          BIGINT NOT NULL,
    profit              BIGINT NOT NULL,
    saved_at            TIMESTAMPTZ NOT NULL DEFAULT now(),
    saved_by            VARCHAR NOT NULL,
    PRIMARY KEY (month, workspace_id)
);
