-- Merchant API keys (several per merchant, each revocable), named operators with a role,
-- and the audit log of state-changing admin requests. Written to run unchanged on SQLite
-- and PostgreSQL.

-- A merchant's API keys. Only the SHA-256 is kept: keys are about 238 random bits, so a
-- plain hash cannot be reversed or guessed, and a lookup by hash is one index probe.
-- `prefix` is what people see to tell keys apart (`pk_Xk3a`); never enough to use.
CREATE TABLE merchant_api_keys (
    id              TEXT PRIMARY KEY,
    merchant_id     TEXT NOT NULL REFERENCES merchants (id),
    prefix          TEXT NOT NULL,
    hash            TEXT NOT NULL,
    label           TEXT,
    created_at      BIGINT NOT NULL,
    -- Written at most once a minute per key and process, not per request.
    last_used_at    BIGINT,
    revoked_at      BIGINT,
    CONSTRAINT merchant_api_keys_hash_key UNIQUE (hash)
);
CREATE INDEX merchant_api_keys_merchant ON merchant_api_keys (merchant_id, created_at);

-- Every key so far, kept working: the key a merchant got at creation becomes its first
-- row. Its prefix is unknown (only its hash was kept), so it shows as `pk_`.
-- `merchants.api_key_hash` stays (SQLite cannot drop a column under a UNIQUE constraint)
-- but is read by nothing any more; new merchants write their first key's hash there too.
INSERT INTO merchant_api_keys (id, merchant_id, prefix, hash, label, created_at)
    SELECT 'key_' || id, id, 'pk_', api_key_hash, 'created with the merchant', created_at
    FROM merchants;

-- Operators of the admin API: a token each (only its SHA-256 is kept), a role.
CREATE TABLE operators (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    role            TEXT NOT NULL CHECK (role IN ('read', 'operate', 'admin')),
    token_prefix    TEXT NOT NULL,
    token_hash      TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    created_by      TEXT NOT NULL,
    last_used_at    BIGINT,
    revoked_at      BIGINT,
    CONSTRAINT operators_token_hash_key UNIQUE (token_hash)
);
-- One live token per name: who did what stays unambiguous.
CREATE UNIQUE INDEX operators_live_name ON operators (name) WHERE revoked_at IS NULL;

-- Every state-changing admin request (POST, PUT, PATCH, DELETE under /admin), refused ones
-- included. Ids are UUIDv7: they sort by time.
CREATE TABLE audit_log (
    id              TEXT PRIMARY KEY,
    at              BIGINT NOT NULL,
    -- Who: the operator's name and the id of the token used (`bootstrap` for
    -- PAYGATE_ADMIN_TOKEN); NULL when no token was accepted.
    operator        TEXT,
    token_id        TEXT,
    method          TEXT NOT NULL,
    -- The route template (`/admin/merchants/{id}/keys`) and its parameters (JSON object).
    route           TEXT NOT NULL,
    target          TEXT NOT NULL,
    client_ip       TEXT,
    status          INTEGER NOT NULL,
    error_code      TEXT
);
