-- The master key's verifier: a fixed text sealed with PAYGATE_MASTER_KEY, one row, written
-- at the first start (on a database from before this migration: at the first start whose
-- key opens the secrets already stored). Every start opens it before binding the port, so
-- a wrong key stops start-up with a message instead of failing the first payment.
CREATE TABLE master_key_verifier (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    sealed      TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
