-- Each event of an order carries its place in the order's sequence (1, 2, 3, ...): a
-- merchant puts deliveries that arrive out of order back in order by it, and paygate holds
-- a later event back while an earlier one of the same order is being retried.
--
-- The event's INSERT assigns it (the order's highest number + 1, in the same statement);
-- the unique index makes two concurrent inserts that computed the same number a conflict,
-- which the writer retries (store::batch). It also serves the order's event list and the
-- ordering rule's look-ups, so it replaces the index on (order_id, created_at).
--
-- Existing events are numbered in the order they were written (created_at, then id). Those
-- still pending get the sequence in their body too; events already sent keep the body they
-- were sent with. (Same steps as migrations/sqlite/0015_event_sequence.sql.)
ALTER TABLE order_events ADD COLUMN seq BIGINT;
UPDATE order_events SET seq = (
    SELECT COUNT(*) FROM order_events e
    WHERE e.order_id = order_events.order_id
      AND (e.created_at < order_events.created_at
           OR (e.created_at = order_events.created_at AND e.id <= order_events.id)));
UPDATE order_events
SET payload = substr(payload, 1, length(payload) - 1) || ',"sequence":' || CAST(seq AS TEXT) || '}'
WHERE delivery = 'pending' AND payload LIKE '{"%}';
ALTER TABLE order_events ALTER COLUMN seq SET NOT NULL;
ALTER TABLE order_events ADD CONSTRAINT order_events_seq_check CHECK (seq >= 1);
CREATE UNIQUE INDEX order_events_order_seq ON order_events (order_id, seq);
DROP INDEX order_events_order_id;
