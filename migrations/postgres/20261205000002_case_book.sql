-- 限时办结: each hall's cases, cards and bad-review follow-ups as they
-- stand, one row each, written in the same transaction as the event that
-- changed them. A restart loads them as they were; the event log stays the
-- record they are rebuilt from (`hallwatch rebuild`). Cards are never
-- deleted.
CREATE TABLE case_book (
    hall        TEXT   NOT NULL,
    kind        TEXT   NOT NULL, -- case | card | follow_up
    n           BIGINT NOT NULL, -- its place in the hall's book, from 0
    key         TEXT   NOT NULL, -- the case reference, card id or follow-up id
    state       TEXT   NOT NULL,
    updated_at  BIGINT NOT NULL, -- Unix milliseconds
    body        JSONB NOT NULL,
    PRIMARY KEY (hall, kind, n)
);
CREATE INDEX case_book_key ON case_book (hall, kind, key);
