//! The outbox: notifications due, claimed by a sender, settled one by one,
//! merged into a digest under a channel's limit, and read back for the
//! console and `/metrics`. Rows go in with the alert or card that causes
//! them (`Record::Notify`, in the writer's transaction).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;

use super::{Store, StoreError, from_millis, millis};
use crate::notify::Queued;

/// A notification as the outbox holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxRow {
    pub key: String,
    pub channel: String,
    pub hall: String,
    pub subject: String,
    pub about: String,
    pub state: String,
    pub created_at: DateTime<Utc>,
    pub next_at: DateTime<Utc>,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub body: serde_json::Value,
}

/// One channel's delivery of an alert or card, as the console shows it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Delivery {
    /// The alert or card id.
    pub subject: String,
    pub channel: String,
    /// `queued` (waiting: quiet hours or the channel's limit), `retrying`,
    /// `sent`, `failed` (every attempt spent), `merged` (sent in a digest;
    /// see `digest_state`) or `withdrawn` (acknowledged or resolved before
    /// it left).
    pub state: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    /// The last attempt or change.
    pub at: Option<DateTime<Utc>>,
    /// When it is tried next, while queued or retrying.
    pub next_at: Option<DateTime<Utc>>,
    /// For a merged one: the digest's own state.
    pub digest_state: Option<String>,
}

/// What one channel has due and undelivered at an instant.
#[derive(Debug, Clone, PartialEq)]
pub struct Backlog {
    pub channel: String,
    pub queued: u64,
    /// Since the oldest became due.
    pub oldest_due: Option<DateTime<Utc>>,
}

/// A notification into the outbox, unless its key is there.
pub(super) const OUTBOX_INSERT: &str = "INSERT INTO outbox \
    (key, channel, hall, subject, about, state, created_at, due_at, next_at, body) \
    VALUES ($1, $2, $3, $4, $5, 'queued', $6, $7, $8, $9) ON CONFLICT (key) DO NOTHING";

/// A due row no other sender holds, merged into a digest.
const MERGE_ROW: &str = "UPDATE outbox SET state = 'merged', merged_into = $1, last_at = $2, \
    claimed_until = NULL WHERE key = $3 AND state IN ('queued', 'retrying') \
    AND (claimed_until IS NULL OR claimed_until <= $2)";

/// A merged row pointed at the digest that holds it.
const MERGE_INTO: &str = "UPDATE outbox SET merged_into = $1 WHERE key = $2";

/// `$1`-style placeholders as SQLite's numbered `?1`: one text for both.
pub(super) fn sqlite(sql: &str) -> String {
    sql.replace('$', "?")
}

/// Runs one query on either backend, the SQL written once with `$n`
/// placeholders; `then` turns each backend's own result into one type.
/// Every SQL text here is made of constants (values are bound), which is
/// what `AssertSqlSafe` asserts.
macro_rules! on_store {
    ($store:expr, $sql:expr, |$q:ident| $bind:expr, $run:ident, |$out:ident| $then:expr) => {
        match $store {
            Store::Sqlite(p, _) => {
                let $q = sqlx::query(sqlx::AssertSqlSafe(sqlite($sql)));
                let $out = $bind.$run(p).await?;
                $then
            }
            Store::Postgres(p) => {
                let $q = sqlx::query(sqlx::AssertSqlSafe(String::from($sql)));
                let $out = $bind.$run(p).await?;
                $then
            }
        }
    };
}

const ROW: &str =
    "key, channel, hall, subject, about, state, created_at, next_at, attempts, last_error";

impl Store {
    /// Notifications due at `now` that no sender holds, oldest due first.
    pub async fn outbox_due(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        let body = match self {
            Store::Sqlite(..) => "body",
            Store::Postgres(_) => "body::text AS body",
        };
        let sql = format!(
            "SELECT {ROW}, {body} FROM outbox WHERE state IN ('queued', 'retrying') \
             AND next_at <= $1 AND (claimed_until IS NULL OR claimed_until <= $1) \
             ORDER BY next_at, key LIMIT $2"
        );
        on_store!(
            self,
            &sql,
            |q| q.bind(millis(now)).bind(limit),
            fetch_all,
            |rows| rows.iter().map(outbox_row).collect()
        )
    }

    /// Takes a due notification for one sender until `until`: false when
    /// another sender has it or it is no longer due.
    pub async fn outbox_claim(
        &self,
        key: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let claimed: u64 = on_store!(
            self,
            "UPDATE outbox SET claimed_until = $1 WHERE key = $2 \
             AND state IN ('queued', 'retrying') \
             AND (claimed_until IS NULL OR claimed_until <= $3)",
            |q| q.bind(millis(until)).bind(key).bind(millis(now)),
            execute,
            |done| done.rows_affected()
        );
        Ok(claimed == 1)
    }

    /// Settles an attempt: `sent`, `retrying` (with when next) or `failed`.
    /// A notification withdrawn while it was being sent stays withdrawn
    /// unless it went out.
    pub async fn outbox_settle(
        &self,
        key: &str,
        state: &str,
        attempts: i64,
        error: Option<&str>,
        at: DateTime<Utc>,
        next_at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        let keep_withdrawn = if state == "sent" {
            ""
        } else {
            " AND state <> 'withdrawn'"
        };
        let sql = format!(
            "UPDATE outbox SET state = $1, attempts = $2, last_error = $3, last_at = $4, \
             next_at = COALESCE($5, next_at), claimed_until = NULL WHERE key = $6{keep_withdrawn}"
        );
        on_store!(
            self,
            &sql,
            |q| q
                .bind(state)
                .bind(attempts)
                .bind(error)
                .bind(millis(at))
                .bind(next_at.map(millis))
                .bind(key),
            execute,
            |_done| ()
        );
        Ok(())
    }

    /// Merges the rows of `keys` that are still due and held by no other
    /// sender into one digest that `make` writes for them, in one
    /// transaction: they become `merged` into it, nothing dropped. None
    /// when none of them could be merged (acknowledged or taken meanwhile).
    pub async fn outbox_merge(
        &self,
        keys: &[String],
        at: DateTime<Utc>,
        make: impl FnOnce(&[String]) -> Queued,
    ) -> Result<Option<Queued>, StoreError> {
        macro_rules! merge {
            ($pool:expr, $sql:expr) => {{
                let mut tx = $pool.begin().await?;
                let mut merged = Vec::new();
                let mut make = Some(make);
                for key in keys {
                    // The digest's key is made from the first row merged,
                    // which no other digest can hold.
                    let into = format!("{key}/digest");
                    let done = sqlx::query($sql(MERGE_ROW))
                        .bind(&into)
                        .bind(millis(at))
                        .bind(key)
                        .execute(&mut *tx)
                        .await?;
                    if done.rows_affected() == 1 {
                        merged.push((key.clone(), into));
                    }
                }
                let Some((_, into)) = merged.first().cloned() else {
                    tx.rollback().await?;
                    return Ok(None);
                };
                // Every merged row names the first one's digest.
                let keys: Vec<String> = merged.into_iter().map(|(k, _)| k).collect();
                for key in &keys[1..] {
                    sqlx::query($sql(MERGE_INTO))
                        .bind(&into)
                        .bind(key)
                        .execute(&mut *tx)
                        .await?;
                }
                let Some(make) = make.take() else {
                    return Ok(None);
                };
                let mut d = make(&keys);
                d.key = into;
                let done = sqlx::query($sql(OUTBOX_INSERT))
                    .bind(&d.key)
                    .bind(&d.channel)
                    .bind(&d.hall)
                    .bind(&d.subject)
                    .bind(d.about)
                    .bind(millis(d.created_at))
                    .bind(millis(d.send_at))
                    .bind(millis(d.send_at))
                    .bind(sqlx::types::Json(&d.body))
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() != 1 {
                    tx.rollback().await?;
                    return Err(StoreError::Corrupt(format!(
                        "the outbox already holds a digest {}",
                        d.key
                    )));
                }
                tx.commit().await?;
                Ok(Some(d))
            }};
        }
        match self {
            Store::Sqlite(p, _) => merge!(p, |s: &str| sqlx::AssertSqlSafe(sqlite(s))),
            Store::Postgres(p) => merge!(p, |s: &'static str| s),
        }
    }

    /// Per channel, what is due at `now` and not delivered, with the time
    /// the oldest became due.
    pub async fn outbox_backlog(&self, now: DateTime<Utc>) -> Result<Vec<Backlog>, StoreError> {
        on_store!(
            self,
            "SELECT channel, COUNT(*) AS n, MIN(due_at) AS oldest FROM outbox \
             WHERE state IN ('queued', 'retrying') AND due_at <= $1 GROUP BY channel",
            |q| q.bind(millis(now)),
            fetch_all,
            |rows| {
                let mut out = Vec::with_capacity(rows.len());
                for r in &rows {
                    let n: i64 = r.try_get("n")?;
                    let oldest: Option<i64> = r.try_get("oldest")?;
                    out.push(Backlog {
                        channel: r.try_get("channel")?,
                        queued: n.max(0) as u64,
                        oldest_due: oldest.map(from_millis),
                    });
                }
                Ok(out)
            }
        )
    }

    /// How each channel's notifications of a hall's alerts and cards stand,
    /// of those made at or after `since`, in the order they were made.
    pub async fn deliveries(
        &self,
        hall: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<Delivery>, StoreError> {
        on_store!(
            self,
            "SELECT o.subject, o.channel, o.state, o.attempts, o.last_error, o.last_at, o.next_at, \
             d.state AS digest_state FROM outbox o LEFT JOIN outbox d ON d.key = o.merged_into \
             WHERE o.hall = $1 AND o.created_at >= $2 AND o.about <> 'digest' \
             ORDER BY o.created_at DESC, o.key DESC LIMIT 5000",
            |q| q.bind(hall).bind(millis(since)),
            fetch_all,
            |rows| {
                let mut out = Vec::with_capacity(rows.len());
                for r in &rows {
                    let state: String = r.try_get("state")?;
                    let next_at: i64 = r.try_get("next_at")?;
                    let last_at: Option<i64> = r.try_get("last_at")?;
                    out.push(Delivery {
                        subject: r.try_get("subject")?,
                        channel: r.try_get("channel")?,
                        next_at: matches!(state.as_str(), "queued" | "retrying")
                            .then(|| from_millis(next_at)),
                        state,
                        attempts: r.try_get("attempts")?,
                        last_error: r.try_get("last_error")?,
                        at: last_at.map(from_millis),
                        digest_state: r.try_get("digest_state")?,
                    });
                }
                // The newest 5,000, oldest first.
                out.reverse();
                Ok(out)
            }
        )
    }

    /// Every notification, in the order they were made (tests, tools).
    pub async fn outbox_all(&self) -> Result<Vec<OutboxRow>, StoreError> {
        let body = match self {
            Store::Sqlite(..) => "body",
            Store::Postgres(_) => "body::text AS body",
        };
        let sql = format!("SELECT {ROW}, {body} FROM outbox ORDER BY created_at, key");
        on_store!(self, &sql, |q| q, fetch_all, |rows| rows
            .iter()
            .map(outbox_row)
            .collect())
    }
}

fn outbox_row<R: Row>(r: &R) -> Result<OutboxRow, StoreError>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<String>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    let body: String = r.try_get("body")?;
    Ok(OutboxRow {
        key: r.try_get("key")?,
        channel: r.try_get("channel")?,
        hall: r.try_get("hall")?,
        subject: r.try_get("subject")?,
        about: r.try_get("about")?,
        state: r.try_get("state")?,
        created_at: from_millis(r.try_get("created_at")?),
        next_at: from_millis(r.try_get("next_at")?),
        attempts: r.try_get("attempts")?,
        last_error: r.try_get("last_error")?,
        body: serde_json::from_str(&body)
            .map_err(|e| StoreError::Corrupt(format!("outbox body of {}: {e}", body.len())))?,
    })
}
