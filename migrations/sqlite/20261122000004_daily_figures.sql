-- A hall's figures for a day that has ended, kept once the day is over
-- (and counted again from the event log when a day is asked for that was
-- not kept). Today's figures are always counted live.
CREATE TABLE daily_figures (
    hall        TEXT    NOT NULL,
    date        TEXT    NOT NULL, -- local date, YYYY-MM-DD
    computed_at INTEGER NOT NULL, -- Unix milliseconds
    body        TEXT    NOT NULL, -- the figures as JSON
    PRIMARY KEY (hall, date)
);
