-- Core tables: merchants, their provider configurations, orders, payments, idempotency.
-- Timestamps are BIGINT milliseconds since the Unix epoch; amounts BIGINT minor units.
-- Written to run unchanged on PostgreSQL.

CREATE TABLE merchants (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    -- SHA-256 of the API key: keys are 190-bit random, so a plain hash suffices.
    api_key_hash    TEXT NOT NULL,
    -- Encrypted under the master key; signs this merchant's webhooks.
    webhook_secret  TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    CONSTRAINT merchants_api_key_hash_key UNIQUE (api_key_hash)
);

CREATE TABLE provider_configs (
    merchant_id     TEXT NOT NULL REFERENCES merchants (id),
    provider        TEXT NOT NULL,
    -- JSON object of setting name -> value.
    settings        TEXT NOT NULL,
    -- JSON object of secret name -> {kind, sealed}; sealed is AES-256-GCM under the master key.
    secrets         TEXT NOT NULL,
    updated_at      BIGINT NOT NULL,
    PRIMARY KEY (merchant_id, provider)
);

CREATE TABLE orders (
    id              TEXT PRIMARY KEY,
    merchant_id     TEXT NOT NULL REFERENCES merchants (id),
    out_trade_no    TEXT NOT NULL,
    amount          BIGINT NOT NULL CHECK (amount > 0),
    currency        TEXT NOT NULL,
    subject         TEXT NOT NULL,
    notify_url      TEXT,
    state           TEXT NOT NULL,
    -- The payment currently open for this order; set and cleared by conditional updates, so
    -- an order is never in two open payments.
    open_payment_no TEXT,
    -- The payment that paid the order.
    paid_by         TEXT,
    version         BIGINT NOT NULL DEFAULT 0,
    expires_at      BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    paid_at         BIGINT,
    CONSTRAINT orders_merchant_out_trade_no_key UNIQUE (merchant_id, out_trade_no)
);

CREATE TABLE payments (
    payment_no      TEXT PRIMARY KEY,
    merchant_id     TEXT NOT NULL REFERENCES merchants (id),
    provider        TEXT NOT NULL,
    channel         TEXT NOT NULL,
    amount          BIGINT NOT NULL CHECK (amount > 0),
    currency        TEXT NOT NULL,
    state           TEXT NOT NULL,
    -- The deadline sent to the provider (the orders' expires_at + grace), milliseconds.
    provider_deadline BIGINT NOT NULL,
    -- The last pay action (JSON) the provider returned; reused on repay while valid.
    action          TEXT,
    provider_trade_id TEXT,
    -- Why an operator must look at this payment (amount_mismatch, late_payment...).
    flag            TEXT,
    paid_amount     BIGINT,
    version         BIGINT NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    paid_at         BIGINT
);

CREATE TABLE payment_orders (
    payment_no      TEXT NOT NULL REFERENCES payments (payment_no),
    order_id        TEXT NOT NULL REFERENCES orders (id),
    PRIMARY KEY (payment_no, order_id)
);
CREATE INDEX payment_orders_order_id ON payment_orders (order_id);

CREATE TABLE idempotency_keys (
    merchant_id     TEXT NOT NULL REFERENCES merchants (id),
    idempotency_key TEXT NOT NULL,
    -- Which operation and SHA-256 of the request body: a key reused with another body is refused.
    fingerprint     TEXT NOT NULL,
    status          INTEGER NOT NULL,
    body            TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (merchant_id, idempotency_key)
);

-- Every notification paygate received, verified or not: what a provider said is evidence.
CREATE TABLE provider_notifications (
    id              TEXT PRIMARY KEY,
    provider        TEXT NOT NULL,
    merchant_id     TEXT NOT NULL,
    payment_no      TEXT,
    verified        INTEGER NOT NULL,
    outcome         TEXT NOT NULL,
    received_at     BIGINT NOT NULL
);
