-- A merchant's lists (GET /v1/orders, /v1/payments, /v1/refunds): newest first by
-- (created_at, id), one index each, so a page costs the same beside millions of rows.
CREATE INDEX orders_merchant_created ON orders (merchant_id, created_at, id);
CREATE INDEX payments_merchant_created ON payments (merchant_id, created_at, payment_no);
CREATE INDEX refunds_merchant_created ON refunds (merchant_id, created_at, refund_no);
