-- The adapter registry: every adapter component paygate has accepted (uploaded by an
-- operator, or bundled in the binary), identified by its sha256, with at most one active
-- version per provider; and the log of activations, whose last row per provider says what
-- a roll back returns to. The component's bytes live here so that every paygate process
-- sharing the database can load the version an operator activated on another.
CREATE TABLE adapter_versions (
    sha256            TEXT PRIMARY KEY,
    provider          TEXT NOT NULL,
    version           TEXT NOT NULL,
    contract_version  TEXT NOT NULL,
    size_bytes        BIGINT NOT NULL,
    component         BLOB NOT NULL,
    uploaded_at       BIGINT NOT NULL,
    uploaded_by       TEXT NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('active', 'inactive')),
    UNIQUE (provider, version)
);
CREATE UNIQUE INDEX adapter_versions_one_active ON adapter_versions (provider) WHERE status = 'active';

CREATE TABLE adapter_activations (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    provider         TEXT NOT NULL,
    sha256           TEXT NOT NULL REFERENCES adapter_versions (sha256),
    previous_sha256  TEXT REFERENCES adapter_versions (sha256),
    reason           TEXT NOT NULL CHECK (reason IN ('bundled', 'activate', 'rollback')),
    activated_at     BIGINT NOT NULL,
    activated_by     TEXT NOT NULL
);
CREATE INDEX adapter_activations_provider ON adapter_activations (provider, id);
