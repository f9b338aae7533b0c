//! Browser sessions: opened at login, ended by logout or by time.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{Store, StoreError, from_millis, millis};

/// A stored session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    /// Hex SHA-256 of the cookie's secret.
    pub id_sha256: String,
    /// Hex SHA-256 of the configured token it was opened with.
    pub token_sha256: String,
    /// The token's name at login.
    pub name: String,
    /// The client's address at login.
    pub client: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl Store {
    /// Keeps a new session.
    pub async fn session_open(&self, s: &SessionRow) -> Result<(), StoreError> {
        macro_rules! run {
            ($pool:expr, $sql:expr) => {
                sqlx::query($sql)
                    .bind(&s.id_sha256)
                    .bind(&s.token_sha256)
                    .bind(&s.name)
                    .bind(&s.client)
                    .bind(millis(s.created_at))
                    .bind(millis(s.expires_at))
                    .execute($pool)
                    .await
                    .map(|_| ())?
            };
        }
        match self {
            Store::Sqlite(p, _) => run!(
                p,
                "INSERT INTO sessions (id_sha256, token_sha256, name, client, created_at, expires_at) \
                 VALUES (?, ?, ?, ?, ?, ?)"
            ),
            Store::Postgres(p) => run!(
                p,
                "INSERT INTO sessions (id_sha256, token_sha256, name, client, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)"
            ),
        };
        Ok(())
    }

    /// The session with this id hash, revoked or not, expired or not.
    pub async fn session(&self, id_sha256: &str) -> Result<Option<SessionRow>, StoreError> {
        let row = match self {
            Store::Sqlite(p, _) => sqlx::query(
                "SELECT id_sha256, token_sha256, name, client, created_at, expires_at, \
                     revoked_at FROM sessions WHERE id_sha256 = ?",
            )
            .bind(id_sha256)
            .fetch_optional(p)
            .await?
            .map(|r| session_row(&r)),
            Store::Postgres(p) => sqlx::query(
                "SELECT id_sha256, token_sha256, name, client, created_at, expires_at, \
                     revoked_at FROM sessions WHERE id_sha256 = $1",
            )
            .bind(id_sha256)
            .fetch_optional(p)
            .await?
            .map(|r| session_row(&r)),
        };
        Ok(row.transpose()?)
    }

    /// Ends a session (a logout); true when it was open.
    pub async fn session_revoke(
        &self,
        id_sha256: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let done = match self {
            Store::Sqlite(p, _) => sqlx::query(
                "UPDATE sessions SET revoked_at = ? WHERE id_sha256 = ? AND revoked_at IS NULL",
            )
            .bind(millis(at))
            .bind(id_sha256)
            .execute(p)
            .await?
            .rows_affected(),
            Store::Postgres(p) => sqlx::query(
                "UPDATE sessions SET revoked_at = $1 WHERE id_sha256 = $2 AND revoked_at IS NULL",
            )
            .bind(millis(at))
            .bind(id_sha256)
            .execute(p)
            .await?
            .rows_affected(),
        };
        Ok(done > 0)
    }

    /// Forgets sessions that expired before `before`; how many.
    pub async fn sessions_prune(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        Ok(match self {
            Store::Sqlite(p, _) => sqlx::query("DELETE FROM sessions WHERE expires_at < ?")
                .bind(millis(before))
                .execute(p)
                .await?
                .rows_affected(),
            Store::Postgres(p) => sqlx::query("DELETE FROM sessions WHERE expires_at < $1")
                .bind(millis(before))
                .execute(p)
                .await?
                .rows_affected(),
        })
    }
}

fn session_row<R: Row>(r: &R) -> Result<SessionRow, sqlx::Error>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<i64>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    Ok(SessionRow {
        id_sha256: r.try_get("id_sha256")?,
        token_sha256: r.try_get("token_sha256")?,
        name: r.try_get("name")?,
        client: r.try_get("client")?,
        created_at: from_millis(r.try_get("created_at")?),
        expires_at: from_millis(r.try_get("expires_at")?),
        revoked_at: r.try_get::<Option<i64>, _>("revoked_at")?.map(from_millis),
    })
}
