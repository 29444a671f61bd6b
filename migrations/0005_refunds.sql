-- Refunds: asked by a merchant, or made by paygate itself for money that arrived for a
-- payment it had closed (late payment) or for orders already paid (double payment).
-- `payments.refunded_amount` is reserved in the same transaction as the refund row, with a
-- conditional update, so refunds never exceed what was paid.
CREATE TABLE refunds (
    refund_no       TEXT PRIMARY KEY,
    payment_no      TEXT NOT NULL REFERENCES payments (payment_no),
    merchant_id     TEXT NOT NULL,
    amount          BIGINT NOT NULL CHECK (amount > 0),
    currency        TEXT NOT NULL,
    reason          TEXT,
    -- merchant, late_payment, double_payment
    kind            TEXT NOT NULL,
    -- pending (asked, no final answer yet), succeeded, failed
    state           TEXT NOT NULL,
    provider_refund_id TEXT,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX refunds_payment_no ON refunds (payment_no);

ALTER TABLE payments ADD COLUMN refunded_amount BIGINT NOT NULL DEFAULT 0;
