-- Reconciliation reads the open work a page at a time, in key order: the pending orders
-- (their deadlines), the open payments with a trade at the provider (their status
-- queries), the pending refunds and the undelivered events. These partial indexes hold
-- only the open rows, so a page costs the same with a million settled orders beside them.
CREATE INDEX orders_pending ON orders (id) WHERE state = 'pending';
CREATE INDEX payments_open_with_action ON payments (payment_no)
    WHERE state = 'open' AND action IS NOT NULL;
CREATE INDEX refunds_pending ON refunds (refund_no) WHERE state = 'pending';
CREATE INDEX order_events_undelivered ON order_events (id)
    WHERE delivery = 'pending' OR streamed = 0;
