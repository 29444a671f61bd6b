-- While one request asks the provider to open a payment's trade, it holds the payment until
-- `opening_until` (ms): concurrent identical requests, in any process, wait for its answer
-- instead of calling the provider again. A holder that dies lets the lease lapse.
ALTER TABLE payments ADD COLUMN opening_until BIGINT;
