-- An operator's resolution of a payment's flag: who resolved which flag, when, and why.
-- Resolving takes the flag off the payment in the same transaction (only if the payment
-- still carries that flag); these rows keep what it was.
CREATE TABLE flag_resolutions (
    id              TEXT PRIMARY KEY,
    payment_no      TEXT NOT NULL REFERENCES payments (payment_no),
    merchant_id     TEXT NOT NULL,
    -- The flag names of domain::PaymentFlag, as payments.flag allows them.
    flag            TEXT NOT NULL CHECK (flag IN ('amount_mismatch', 'unexpected_refund',
                    'late_payment', 'double_payment', 'refund_failed', 'provider_refuses_queries')),
    note            TEXT NOT NULL,
    -- The operator's name, as in the audit log.
    resolved_by     TEXT NOT NULL,
    resolved_at     BIGINT NOT NULL
);
CREATE INDEX flag_resolutions_payment ON flag_resolutions (payment_no, resolved_at);
CREATE INDEX flag_resolutions_at ON flag_resolutions (resolved_at);
