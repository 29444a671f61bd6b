-- The sandbox provider (simulators/sandbox): its merchant accounts, trades and refunds, in a
-- SQLite database of the sandbox's own, never paygate's. Timestamps are BIGINT milliseconds
-- since the Unix epoch; amounts BIGINT minor units.

CREATE TABLE sandbox_accounts (
    account_id      TEXT PRIMARY KEY,
    -- Kept in clear: the sandbox verifies requests and signs notifications with HMAC, which
    -- needs the key itself (as at a real provider). The keys only guard fake money.
    api_key         TEXT NOT NULL,
    created_at      BIGINT NOT NULL
);

CREATE TABLE sandbox_trades (
    -- The merchant's number (paygate's payment_no), unique across accounts as at a provider
    -- that keys trades by out_trade_no: a second account reusing it gets PARAM_MISMATCH.
    payment_no      TEXT PRIMARY KEY,
    account_id      TEXT NOT NULL REFERENCES sandbox_accounts (account_id),
    -- The sandbox's own number for the trade.
    trade_id        TEXT NOT NULL,
    amount          BIGINT NOT NULL CHECK (amount > 0),
    currency        TEXT NOT NULL,
    subject         TEXT NOT NULL,
    channel         TEXT NOT NULL,
    notify_url      TEXT NOT NULL,
    -- open, paid, closed or refunded; every change is one conditional UPDATE on this column.
    state           TEXT NOT NULL,
    expires_at      BIGINT NOT NULL,
    -- The deadline of the first create: a repeated create may shorten the deadline but never
    -- extend it past this one.
    first_expires_at BIGINT NOT NULL,
    paid_amount     BIGINT,
    paid_at         BIGINT,
    refunded_amount BIGINT NOT NULL DEFAULT 0,
    -- How often each API call reached this trade, so tests can see what an adapter did.
    created_count   BIGINT NOT NULL DEFAULT 0,
    queried_count   BIGINT NOT NULL DEFAULT 0,
    closed_count    BIGINT NOT NULL DEFAULT 0,
    refunded_count  BIGINT NOT NULL DEFAULT 0,
    -- Paid notifications sent (each attempt) and acknowledged with 200 {"code": "SUCCESS"}.
    notify_sent_count BIGINT NOT NULL DEFAULT 0,
    notify_ack_count  BIGINT NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    CONSTRAINT sandbox_trades_trade_id_key UNIQUE (trade_id),
    -- The refund rule, enforced by the database as well as by the conditional UPDATE.
    CONSTRAINT sandbox_trades_refund_le_paid CHECK (refunded_amount <= COALESCE(paid_amount, 0))
);

CREATE TABLE sandbox_refunds (
    refund_id       TEXT PRIMARY KEY,
    payment_no      TEXT NOT NULL REFERENCES sandbox_trades (payment_no),
    refund_no       TEXT NOT NULL,
    amount          BIGINT NOT NULL CHECK (amount > 0),
    currency        TEXT NOT NULL,
    reason          TEXT,
    created_at      BIGINT NOT NULL,
    -- A refund_no is answered again rather than refunded twice; the insert relies on this.
    CONSTRAINT sandbox_refunds_payment_no_refund_no_key UNIQUE (payment_no, refund_no)
);
