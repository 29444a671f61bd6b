-- Reconciliation against the providers' bills (issue 17). A day is a provider's bill day
-- (YYYY-MM-DD, Beijing time for WeChat Pay and Alipay), reconciled per merchant and
-- provider. The provider's books are the final word: each run replaces the day's totals
-- with what the bill says, and adds the differences it finds that are not recorded yet, so
-- running a day twice changes nothing the first run did not.

-- The latest run of each (merchant, provider, day).
CREATE TABLE bill_runs (
    merchant_id     TEXT NOT NULL REFERENCES merchants (id),
    provider        TEXT NOT NULL,
    bill_day        TEXT NOT NULL,
    -- reconciled: the bill was read and matched; not_ready: the provider has not produced
    -- it yet (asked again later); failed: it could not be fetched (the error says why).
    state           TEXT NOT NULL CHECK (state IN ('reconciled', 'not_ready', 'failed')),
    attempts        BIGINT NOT NULL,
    -- The bill's rows: payments and refunds.
    payment_rows    BIGINT NOT NULL DEFAULT 0,
    refund_rows     BIGINT NOT NULL DEFAULT 0,
    -- Rows that agree with paygate's record, at the latest run.
    matched         BIGINT NOT NULL DEFAULT 0,
    error           TEXT,
    first_run_at    BIGINT NOT NULL,
    last_run_at     BIGINT NOT NULL,
    reconciled_at   BIGINT,
    PRIMARY KEY (merchant_id, provider, bill_day)
);
CREATE INDEX bill_runs_day ON bill_runs (bill_day, state);

-- What a reconciled bill says per currency: collected, refunded and charged in fees
-- (minor units), from its succeeded rows. Replaced by each reconciled run.
CREATE TABLE bill_totals (
    merchant_id     TEXT NOT NULL,
    provider        TEXT NOT NULL,
    bill_day        TEXT NOT NULL,
    currency        TEXT NOT NULL,
    collected       BIGINT NOT NULL,
    refunded        BIGINT NOT NULL,
    fees            BIGINT NOT NULL,
    rows_counted    BIGINT NOT NULL,
    PRIMARY KEY (merchant_id, provider, bill_day, currency)
);

-- Each difference found, once: the kind and the payment or refund number it is about name
-- it within its day. Waits for an operator until resolved (who, when, why).
CREATE TABLE bill_differences (
    id              TEXT PRIMARY KEY,
    merchant_id     TEXT NOT NULL,
    provider        TEXT NOT NULL,
    bill_day        TEXT NOT NULL,
    -- domain::reconcile::Difference::kind
    kind            TEXT NOT NULL CHECK (kind IN ('paid_only_at_provider', 'unknown_trade',
                    'missing_from_bill', 'amount_differs', 'refund_state_differs',
                    'refund_amount_differs')),
    -- The payment number (or the refund number, for a refund's difference).
    subject_no      TEXT NOT NULL,
    payment_no      TEXT NOT NULL,
    refund_no       TEXT,
    currency        TEXT,
    -- What the bill and paygate say, in minor units or states, where they apply.
    billed_minor    BIGINT,
    recorded_minor  BIGINT,
    billed_state    TEXT,
    recorded_state  TEXT,
    -- What paygate did about it (the late-payment rules' outcome), if anything.
    action          TEXT,
    found_at        BIGINT NOT NULL,
    resolved_at     BIGINT,
    resolved_by     TEXT,
    note            TEXT,
    CONSTRAINT bill_differences_once UNIQUE (merchant_id, provider, bill_day, kind, subject_no)
);
CREATE INDEX bill_differences_day ON bill_differences (bill_day, merchant_id);
-- What waits for an operator.
CREATE INDEX bill_differences_open ON bill_differences (found_at) WHERE resolved_at IS NULL;
-- (The day's refunds are found by refunds_merchant_created, migration 0020.)
