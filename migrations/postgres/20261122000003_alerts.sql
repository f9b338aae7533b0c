-- Alerts as supervisors last saw them: a projection for history queries.
-- The event log stays the source of truth (alerts are rebuilt on replay).
CREATE TABLE alerts (
    id          TEXT PRIMARY KEY,
    hall        TEXT   NOT NULL,
    rule        TEXT   NOT NULL,
    severity    TEXT   NOT NULL,
    state       TEXT   NOT NULL,
    opened_at   BIGINT NOT NULL, -- Unix milliseconds
    updated_at  BIGINT NOT NULL,
    body        JSONB  NOT NULL  -- the alert message
);
CREATE INDEX alerts_hall_opened ON alerts (hall, opened_at);
