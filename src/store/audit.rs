//! Reading a hall's tamper-evident chain back, for the hall task's head at
//! start and for `hallwatch verify-log`.

use super::{Store, StoreError};
use crate::audit::Record;

type Row = (i64, String, String, String, String);

impl Store {
    /// A hall's chain, in order of its numbers.
    pub async fn audit_log(&self, hall: &str) -> Result<Vec<Record>, StoreError> {
        let rows: Vec<Row> = match self {
            Store::Sqlite(p, _) => sqlx::query_as(
                "SELECT seq, kind, content, prev, hash FROM audit_log WHERE hall = ? ORDER BY seq",
            )
            .bind(hall)
            .fetch_all(p)
            .await?,
            Store::Postgres(p) => sqlx::query_as(
                "SELECT seq, kind, content, prev, hash FROM audit_log WHERE hall = $1 ORDER BY seq",
            )
            .bind(hall)
            .fetch_all(p)
            .await?,
        };
        Ok(rows
            .into_iter()
            .map(|(seq, kind, content, prev, hash)| Record {
                seq,
                kind,
                content,
                prev,
                hash,
            })
            .collect())
    }

    /// The halls with a chain.
    pub async fn audit_halls(&self) -> Result<Vec<String>, StoreError> {
        let sql = "SELECT DISTINCT hall FROM audit_log ORDER BY hall";
        let rows: Vec<(String,)> = match self {
            Store::Sqlite(p, _) => sqlx::query_as(sql).fetch_all(p).await?,
            Store::Postgres(p) => sqlx::query_as(sql).fetch_all(p).await?,
        };
        Ok(rows.into_iter().map(|r| r.0).collect())
    }
}
