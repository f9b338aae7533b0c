-- The event log: every device message a hall applied (refused ones too, so a
-- replay answers their redelivery the same way). State is a fold of it.
CREATE TABLE events (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    hall        TEXT    NOT NULL,
    device      TEXT,
    msg_id      TEXT,
    kind        TEXT    NOT NULL,
    input       TEXT    NOT NULL, -- the domain input as JSON
    received_at INTEGER NOT NULL, -- server clock, Unix milliseconds
    ok          INTEGER NOT NULL,
    reason      TEXT,
    reply       TEXT
);
CREATE INDEX events_hall_time ON events (hall, received_at);
CREATE INDEX events_time ON events (received_at);

-- Every message the server could not accept, with why.
CREATE TABLE rejections (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at INTEGER NOT NULL,
    topic       TEXT    NOT NULL,
    payload     BLOB    NOT NULL, -- cut at 4096 bytes
    reason      TEXT    NOT NULL,
    detail      TEXT    NOT NULL,
    hall        TEXT,
    msg_id      TEXT
);
CREATE INDEX rejections_time ON rejections (received_at);
