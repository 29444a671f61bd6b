-- What operators act on (issue 15): webhook deliveries sent again, failed refunds retried.

-- The history of an event's webhook delivery: every attempt (its HTTP status, 0 when the
-- endpoint did not answer) and every re-delivery an operator asked for (who), numbered
-- 1, 2, 3, ... per event. The event's own `attempts` counts the attempts of the current
-- round, which the retry schedule follows; a re-delivery starts a new round.
CREATE TABLE delivery_attempts (
    event_id        TEXT NOT NULL REFERENCES order_events (id),
    n               BIGINT NOT NULL,
    at              BIGINT NOT NULL,
    -- attempt, redelivery
    kind            TEXT NOT NULL CHECK (kind IN ('attempt', 'redelivery')),
    -- An attempt's HTTP status (0: no answer); NULL for a re-delivery.
    status          INTEGER,
    -- The operator who asked for a re-delivery; NULL for an attempt.
    operator        TEXT,
    PRIMARY KEY (event_id, n)
);

-- An operator re-delivers every failed delivery of a merchant: a partial index holds only
-- those, so the look-up costs the same beside millions of delivered events.
CREATE INDEX order_events_failed ON order_events (merchant_id, created_at) WHERE delivery = 'failed';

-- Failed refunds wait for an operator (`GET /admin/flags`, retried with
-- `POST /admin/refunds/{refund_no}/retry`): a partial index holds only those.
CREATE INDEX refunds_failed ON refunds (updated_at) WHERE state = 'failed';
