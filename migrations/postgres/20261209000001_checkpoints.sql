-- Each hall's latest checkpoint: its state as of the last of its events
-- written before it, so a start folds only the log after `through_seq`.
-- `key` names the build's state format and the hall's configuration; a
-- checkpoint of another key is not used (the whole log is folded instead).
CREATE TABLE checkpoints (
    hall        TEXT   PRIMARY KEY,
    key         TEXT   NOT NULL,
    through_seq BIGINT NOT NULL, -- the hall's last event the state holds
    taken_at    BIGINT NOT NULL, -- the hall's clock, Unix milliseconds
    state       BYTEA  NOT NULL
);
-- Kept out of line but not compressed: a start reads every hall's checkpoint,
-- and decompressing them would cost it more than the bytes saved.
ALTER TABLE checkpoints ALTER COLUMN state SET STORAGE EXTERNAL;
-- A hall's log after a checkpoint.
CREATE INDEX events_hall_seq ON events (hall, seq);
