-- Notifications to supervisors' phones, written in the same transaction
-- as the alert or card that causes them, and sent from here at least once
-- across restarts and receiver outages. The key is the idempotency key a
-- receiver may drop repeats by; a restart that meets the same alert again
-- finds its key here and adds nothing.
CREATE TABLE outbox (
    key           TEXT   PRIMARY KEY,
    channel       TEXT   NOT NULL,
    hall          TEXT   NOT NULL,
    subject       TEXT   NOT NULL, -- the alert or card id, or digest
    about         TEXT   NOT NULL, -- alert | card | digest
    state         TEXT   NOT NULL, -- queued | retrying | sent | failed | merged | withdrawn
    created_at    BIGINT NOT NULL, -- Unix milliseconds
    due_at        BIGINT NOT NULL, -- first due: now, or the end of quiet hours
    next_at       BIGINT NOT NULL, -- not before this: due_at, then each retry
    attempts      BIGINT NOT NULL DEFAULT 0,
    last_error    TEXT,
    last_at       BIGINT,          -- the last attempt or change
    merged_into   TEXT,            -- the digest it went out in
    claimed_until BIGINT,          -- a sender is on it until then
    body          JSONB  NOT NULL  -- { message, data }
);
CREATE INDEX outbox_due ON outbox (state, next_at);
CREATE INDEX outbox_subject ON outbox (hall, subject);
