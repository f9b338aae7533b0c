-- The device's own `at`, as it sent it: recorded, never trusted for durations.
ALTER TABLE events ADD COLUMN device_at TEXT;
