-- Partitions of halls shared by several instances ([cluster]). A partition
-- has one owner at a time: the instance whose lease has not expired. Every
-- take of a lease raises its token; a write carries the token it was made
-- under and is refused once the token has moved on (fencing).
CREATE TABLE partition_leases (
    name       TEXT        PRIMARY KEY,
    owner      TEXT,
    token      BIGINT      NOT NULL DEFAULT 0,
    expires_at TIMESTAMPTZ NOT NULL DEFAULT 'epoch'
);

-- The instances alive, each until it stops renewing: a partition's fair
-- share is the partitions over the instances alive.
CREATE TABLE cluster_members (
    owner      TEXT        PRIMARY KEY,
    seen_until TIMESTAMPTZ NOT NULL
);

-- The lease token each event was written under (NULL without [cluster]).
ALTER TABLE events ADD COLUMN fence BIGINT;
