-- The event log: every device message a hall applied (refused ones too, so a
-- replay answers their redelivery the same way). State is a fold of it.
CREATE TABLE events (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    hall        TEXT    NOT NULL,
    device      TEXT,
    msg_id      TEXT,
    kind        TEXT    NOT NULL,
    input       JSONB   NOT NULL, -- the domain input
    received_at BIGINT  NOT NULL, -- server clock, Unix milliseconds
    ok          BOOLEAN NOT NULL,
    reason      TEXT,
    reply       JSONB
);
CREATE INDEX events_hall_time ON events (hall, received_at);
CREATE INDEX events_time ON events (received_at);

-- Every message the server could not accept, with why.
CREATE TABLE rejections (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    received_at BIGINT NOT NULL,
    topic       TEXT   NOT NULL,
    payload     BYTEA  NOT NULL, -- cut at 4096 bytes
    reason      TEXT   NOT NULL,
    detail      TEXT   NOT NULL,
    hall        TEXT,
    msg_id      TEXT
);
CREATE INDEX rejections_time ON rejections (received_at);
