-- The tamper-evident record of supervision, chained per hall: every alert
-- transition, card transition, case change and supervisor action. Each row
-- carries the SHA-256 of the previous row's hash with its own number, kind
-- and content; `hallwatch verify-log` recomputes the chain and names the
-- first row altered, removed or inserted. Rows are only ever appended.
CREATE TABLE audit_log (
    hall     TEXT   NOT NULL,
    seq      BIGINT NOT NULL, -- 1, 2, 3… per hall
    kind     TEXT   NOT NULL, -- alert | card | case | follow_up | action
    content  TEXT   NOT NULL, -- JSON, hashed exactly as stored
    prev     TEXT   NOT NULL, -- the previous row's hash (hex)
    hash     TEXT   NOT NULL, -- this row's hash (hex)
    PRIMARY KEY (hall, seq)
);
