-- The operator console (issue 15): sign-in sessions, the provider calls a payment's story
-- shows, and the look-ups its overview and search make.

-- A console session: the cookie holds a random id, this table its SHA-256 (a copy of the
-- table signs nobody in). The session re-authenticates by the operator token's SHA-256 on
-- every request, so revoking the operator (or changing PAYGATE_ADMIN_TOKEN) ends it.
CREATE TABLE console_sessions (
    id_hash         TEXT PRIMARY KEY,
    token_hash      TEXT NOT NULL,
    -- The name the operator signed in with (the bootstrap admin's is chosen at sign-in).
    operator        TEXT NOT NULL,
    -- The synchronizer token every state-changing request of the session must carry.
    csrf            TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL
);
CREATE INDEX console_sessions_expires ON console_sessions (expires_at);

-- Every adapter call paygate made about a trade: what the operator reads in a payment's
-- story, and what the overview counts as adapter errors. Written off the request path.
CREATE TABLE provider_calls (
    id              TEXT PRIMARY KEY,
    at              BIGINT NOT NULL,
    merchant_id     TEXT NOT NULL,
    provider        TEXT NOT NULL,
    -- pay, query, close, refund, query-refund
    op              TEXT NOT NULL,
    payment_no      TEXT,
    refund_no       TEXT,
    -- What `paygate_adapter_calls_total` counts: ok, rejected, unreachable, misconfigured,
    -- unsupported, failed (the adapter itself: trap, CPU budget, timeout).
    outcome         TEXT NOT NULL CHECK (outcome IN ('ok', 'rejected', 'unreachable', 'misconfigured', 'unsupported', 'failed')),
    -- What the provider or the runtime said, for people; NULL when all went well.
    message         TEXT,
    elapsed_ms      BIGINT NOT NULL
);
CREATE INDEX provider_calls_payment ON provider_calls (payment_no, at);
CREATE INDEX provider_calls_at ON provider_calls (at);

-- The overview counts the last hour's orders, payments and payments paid; the search finds
-- an order by out_trade_no whatever its merchant, and a payment's notifications.
CREATE INDEX orders_created_at ON orders (created_at);
CREATE INDEX payments_created_at ON payments (created_at);
CREATE INDEX payments_paid_at ON payments (paid_at) WHERE paid_at IS NOT NULL;
CREATE INDEX orders_out_trade_no ON orders (out_trade_no);
CREATE INDEX provider_notifications_payment ON provider_notifications (payment_no, received_at);

-- Flagged payments wait for an operator (`GET /admin/flags`, the overview's count): a
-- partial index holds only those, as migration 0018 does for failed refunds and webhooks.
CREATE INDEX payments_flagged ON payments (updated_at) WHERE flag IS NOT NULL;
