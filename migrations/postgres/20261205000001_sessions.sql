-- Browser logins: one row per session. The cookie holds a random secret;
-- only its SHA-256 is kept here, so a copy of the database logs nobody in.
-- A session names the configured token it was opened with by that token's
-- hash: remove the token from the configuration and its sessions end.
CREATE TABLE sessions (
    id_sha256    TEXT    NOT NULL PRIMARY KEY, -- hex SHA-256 of the cookie's secret
    token_sha256 TEXT    NOT NULL,             -- hex SHA-256 of the token logged in with
    name         TEXT    NOT NULL,             -- the token's name at login, for the record
    client       TEXT    NOT NULL,             -- the client's address at login
    created_at   BIGINT NOT NULL,             -- Unix milliseconds
    expires_at   BIGINT NOT NULL,             -- Unix milliseconds
    revoked_at   BIGINT                       -- Unix milliseconds of the logout, if any
);
CREATE INDEX sessions_expiry ON sessions (expires_at);
