-- Order reads and writes by id also name the merchant (`WHERE id = $1 AND merchant_id = $2`,
-- and the reservation of orders for a payment: `... merchant_id = $3 AND ... id IN (...)`).
-- With the uniqueness of (merchant_id, out_trade_no) in that column order, PostgreSQL can
-- plan them on that index, where every order of a merchant shares the prefix, instead of
-- the primary key. It did, measured on a database created empty and then loaded: the
-- cached plan of the reservation walked every order of the merchant (auto_explain:
-- "Index Scan using orders_merchant_out_trade_no_key", 2-11 ms per pay and growing with the
-- table). With out_trade_no first, a condition on the merchant alone cannot use this index.
--
-- The same uniqueness, swapped in one transaction: the orders table is locked while the new
-- index is built (seconds for millions of rows). Not CONCURRENTLY: the migrator holds an
-- advisory lock that other starting instances wait on, and a concurrent build waits for
-- their transactions in turn (a deadlock when two instances start together).
CREATE UNIQUE INDEX orders_out_trade_no_merchant_key ON orders (out_trade_no, merchant_id);
ALTER TABLE orders DROP CONSTRAINT orders_merchant_out_trade_no_key;
