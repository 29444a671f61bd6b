-- The embedded delay queue: timed work (deadlines, status queries, webhook retries) when no
-- Redis is configured. A task is keyed by (queue, task_key): scheduling a key again replaces
-- it. `ready_at` is when it may next be claimed: its due time, or, once claimed, the end of
-- its lease, so a task whose worker died is due again when the lease lapses. `token` is a
-- fresh random number at every schedule and claim: only the current holder can ack.
CREATE TABLE delay_tasks (
    queue           TEXT NOT NULL,
    task_key        TEXT NOT NULL,
    payload         TEXT NOT NULL,
    due_at          BIGINT NOT NULL,
    ready_at        BIGINT NOT NULL,
    leased          INTEGER NOT NULL DEFAULT 0,
    token           BIGINT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (queue, task_key)
);
CREATE INDEX delay_tasks_ready ON delay_tasks (queue, ready_at);
