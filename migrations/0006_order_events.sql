-- The outbox: every order state change writes its event here in the same transaction as
-- the change. A dispatcher delivers each to the order's notify_url (signed, retried on the
-- delay queue) and to the Redis stream when Redis is configured.
CREATE TABLE order_events (
    id              TEXT PRIMARY KEY,
    order_id        TEXT NOT NULL REFERENCES orders (id),
    merchant_id     TEXT NOT NULL,
    -- order.paid, order.closed, order.cancelled, order.refunded
    kind            TEXT NOT NULL,
    -- The JSON body sent to the merchant.
    payload         TEXT NOT NULL,
    -- pending, delivered, failed (schedule exhausted), none (the order has no notify_url)
    delivery        TEXT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    last_status     INTEGER,
    streamed        INTEGER NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL,
    delivered_at    BIGINT
);
CREATE INDEX order_events_order_id ON order_events (order_id, created_at);
