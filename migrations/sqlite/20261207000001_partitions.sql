-- Partitions need PostgreSQL (the configuration refuses them on SQLite);
-- the tables are here so that both stores have one schema.
CREATE TABLE partition_leases (
    name       TEXT    PRIMARY KEY,
    owner      TEXT,
    token      INTEGER NOT NULL DEFAULT 0,
    expires_at INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE cluster_members (
    owner      TEXT    PRIMARY KEY,
    seen_until INTEGER NOT NULL
);

-- The lease token each event was written under (NULL without [cluster]).
ALTER TABLE events ADD COLUMN fence INTEGER;
