-- The uniqueness of (merchant_id, out_trade_no) is kept by 0014's index, with out_trade_no
-- first; the old constraint, with the merchant first, only misled the planner (see 0014).
-- A concurrent build that failed leaves an invalid index behind (which `IF NOT EXISTS` then
-- kept): in that case only, build it again here, in this transaction (the table is locked
-- while it builds), so the old constraint is never dropped without its replacement.
DO $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        WHERE c.relname = 'orders_out_trade_no_merchant_key' AND i.indisvalid AND i.indisunique
    ) THEN
        DROP INDEX IF EXISTS orders_out_trade_no_merchant_key;
        CREATE UNIQUE INDEX orders_out_trade_no_merchant_key ON orders (out_trade_no, merchant_id);
    END IF;
END $$;
ALTER TABLE orders DROP CONSTRAINT IF EXISTS orders_merchant_out_trade_no_key;
