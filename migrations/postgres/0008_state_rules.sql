-- The state machines' states, kinds and flags as CHECK constraints (the names in
-- host/src/domain; a store test checks both sides accept the same names), the `version`
-- columns dropped (every state change is a conditional update on the from-state), and a
-- payment's order ids kept on the payment itself, so that creating one is one INSERT.

ALTER TABLE orders DROP COLUMN version;
ALTER TABLE payments DROP COLUMN version;

ALTER TABLE payments ADD COLUMN order_ids TEXT NOT NULL DEFAULT '';
UPDATE payments SET order_ids = COALESCE(
    (SELECT string_agg(order_id, ',' ORDER BY order_id) FROM payment_orders po WHERE po.payment_no = payments.payment_no), '');
DROP TABLE payment_orders;

CREATE INDEX orders_open_payment_no ON orders (open_payment_no);
CREATE INDEX orders_paid_by ON orders (paid_by);

ALTER TABLE orders ADD CONSTRAINT orders_state_check
    CHECK (state IN ('pending', 'paid', 'closed', 'cancelled', 'refunded'));
ALTER TABLE payments ADD CONSTRAINT payments_state_check
    CHECK (state IN ('open', 'paid', 'closed', 'failed', 'refunded'));
ALTER TABLE payments ADD CONSTRAINT payments_flag_check
    CHECK (flag IS NULL OR flag IN ('amount_mismatch', 'unexpected_refund', 'late_payment',
        'double_payment', 'refund_failed', 'provider_refuses_queries'));
ALTER TABLE refunds ADD CONSTRAINT refunds_state_check
    CHECK (state IN ('pending', 'succeeded', 'failed'));
ALTER TABLE refunds ADD CONSTRAINT refunds_kind_check
    CHECK (kind IN ('merchant', 'late_payment', 'double_payment'));
ALTER TABLE order_events ADD CONSTRAINT order_events_delivery_check
    CHECK (delivery IN ('pending', 'delivered', 'failed', 'none'));
