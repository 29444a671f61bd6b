-- The state machines' states, kinds and flags as checks (the names in host/src/domain; a
-- store test checks both sides accept the same names), the `version` columns dropped (every
-- state change is a conditional update on the from-state), and a payment's order ids kept
-- on the payment itself, so that creating one is one INSERT.
--
-- SQLite cannot add a CHECK constraint to an existing table without rebuilding it (and the
-- tables it is referenced from); triggers named like PostgreSQL's constraints raise the
-- same "CHECK constraint failed" error instead.

ALTER TABLE orders DROP COLUMN version;
ALTER TABLE payments DROP COLUMN version;

ALTER TABLE payments ADD COLUMN order_ids TEXT NOT NULL DEFAULT '';
UPDATE payments SET order_ids = COALESCE(
    (SELECT group_concat(order_id, ',') FROM (SELECT order_id FROM payment_orders po
     WHERE po.payment_no = payments.payment_no ORDER BY order_id)), '');
DROP TABLE payment_orders;

CREATE INDEX orders_open_payment_no ON orders (open_payment_no);
CREATE INDEX orders_paid_by ON orders (paid_by);

CREATE TRIGGER orders_state_check_insert BEFORE INSERT ON orders
WHEN NEW.state NOT IN ('pending', 'paid', 'closed', 'cancelled', 'refunded')
BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: orders_state_check'); END;

CREATE TRIGGER orders_state_check_update BEFORE UPDATE OF state ON orders
WHEN NEW.state NOT IN ('pending', 'paid', 'closed', 'cancelled', 'refunded')
BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: orders_state_check'); END;

CREATE TRIGGER payments_state_check_insert BEFORE INSERT ON payments
WHEN NEW.state NOT IN ('open', 'paid', 'closed', 'failed', 'refunded')
BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: payments_state_check'); END;

CREATE TRIGGER payments_state_check_update BEFORE UPDATE OF state ON payments
WHEN NEW.state NOT IN ('open', 'paid', 'closed', 'failed', 'refunded')
BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: payments_state_check'); END;

CREATE TRIGGER payments_flag_check_insert BEFORE INSERT ON payments
WHEN NEW.flag IS NOT NULL AND NEW.flag NOT IN ('amount_mismatch', 'unexpected_refund', 'late_payment', 'double_payment', 'refund_failed', 'provider_refuses_queries')
BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: payments_flag_check'); END;

CREATE TRIGGER payments_flag_check_update BEFORE UPDATE OF flag ON payments
WHEN NEW.flag IS NOT NULL AND NEW.flag NOT IN ('amount_mismatch', 'unexpected_refund', 'late_payment', 'double_payment', 'refund_failed', 'provider_refuses_queries')
BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: payments_flag_check'); END;

CREATE TRIGGER refunds_state_check_insert BEFORE INSERT ON refunds
WHEN NEW.state NOT IN ('pending', 'succeeded', 'failed')
BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: refunds_state_check'); END;

CREATE TRIGGER refunds_state_check_update BEFORE UPDATE OF state ON refunds
WHEN NEW.state NOT IN ('pending', 'succeeded', 'failed')
BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: refunds_state_check'); END;

CREATE TRIGGER refunds_kind_check_insert BEFORE INSERT ON refunds
WHEN NEW.kind NOT IN ('merchant', 'late_payment', 'double_payment')
BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: refunds_kind_check'); END;

CREATE TRIGGER refunds_kind_check_update BEFORE UPDATE OF kind ON refunds
WHEN NEW.kind NOT IN ('merchant', 'late_payment', 'double_payment')
BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: refunds_kind_check'); END;

CREATE TRIGGER order_events_delivery_check_insert BEFORE INSERT ON order_events
WHEN NEW.delivery NOT IN ('pending', 'delivered', 'failed', 'none')
BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: order_events_delivery_check'); END;

CREATE TRIGGER order_events_delivery_check_update BEFORE UPDATE OF delivery ON order_events
WHEN NEW.delivery NOT IN ('pending', 'delivered', 'failed', 'none')
BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: order_events_delivery_check'); END;
