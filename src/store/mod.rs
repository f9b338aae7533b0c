//! The store: the event log and the rejections, in SQLite (the embedded
//! default, WAL) or PostgreSQL (production), chosen by the URL scheme.
//!
//! Runtime queries on concrete pools rather than sqlx's `Any` driver, which
//! has no chrono types; the SQL differs only where the backends do.

mod audit;
mod book;
mod lease;
mod log;
mod outbox;
mod sessions;
mod writer;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::value::RawValue;
use sqlx::Row;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::types::Json;

use crate::domain::{AlertView, DayFigures, DeviceId, HallId, Input};

pub use lease::LeaseRow;
pub use log::{HallLog, LogEntry};
pub use outbox::{Backlog, Delivery, OutboxRow};
pub use sessions::SessionRow;
pub use writer::{Committed, Fencing, StoreWriter, WriteItem, spawn_fenced_writer, spawn_writer};

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("failed to open the database {url}: {source}")]
    Connect { url: String, source: sqlx::Error },
    #[error("failed to run migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
    /// Stored data that cannot be read back as it was written.
    #[error("stored data cannot be read: {0}")]
    Corrupt(String),
    /// A write under a partition's lease that another instance has taken
    /// since (or that was never taken): nothing of it was stored.
    #[error(
        "partition {partition:?} is fenced: this write holds token {token}, the lease is at {current:?}"
    )]
    Fenced {
        partition: String,
        token: i64,
        current: Option<i64>,
    },
}

/// The lease a write is made under: the partition and the token its owner
/// was given when it took the lease. Every event row keeps the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    pub partition: String,
    pub token: i64,
    /// The lease's length. A transaction under the lease that stands idle
    /// this long (its instance frozen mid-write) is ended by the database,
    /// so the lock it holds on the lease cannot keep a standby waiting.
    pub idle_ms: i64,
}

/// One applied device message, as the event log keeps it.
///
/// Its texts are shared (`Arc<str>`): the writer binds them to its
/// statement without a copy each.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRow {
    pub hall: Arc<str>,
    pub device: Option<Arc<str>>,
    pub msg_id: Option<Arc<str>>,
    pub kind: &'static str,
    /// The domain input, JSON text.
    pub input: Arc<str>,
    pub received_at: DateTime<Utc>,
    pub ok: bool,
    pub reason: Option<String>,
    /// The answer sent on the reply topic, JSON text.
    pub reply: Option<Arc<str>>,
    /// The device's own `at`, as sent.
    pub device_at: Option<String>,
}

impl EventRow {
    /// An accepted input of `hall` received at `received_at`, as the log
    /// keeps it; the caller adds the reply and the outcome.
    pub fn of(
        hall: &HallId,
        device: Option<&DeviceId>,
        input: &Input,
        received_at: DateTime<Utc>,
    ) -> Self {
        Self {
            hall: hall.shared(),
            device: device.map(DeviceId::shared),
            msg_id: input.msg_id().map(|m| m.shared()),
            kind: input.kind(),
            input: input_text(input).into(),
            received_at,
            ok: true,
            reason: None,
            reply: None,
            device_at: None,
        }
    }
}

/// An input as the event log keeps it: JSON text that `replay` reads back.
pub fn input_text(input: &Input) -> String {
    serde_json::to_string(input).unwrap_or_else(|e| {
        tracing::warn!(error = %e, "Could not serialise an input for the log.");
        "null".to_owned()
    })
}

/// A message the server could not accept.
#[derive(Debug, Clone, PartialEq)]
pub struct RejectionRow {
    pub received_at: DateTime<Utc>,
    pub topic: String,
    pub payload: Vec<u8>,
    pub reason: String,
    pub detail: String,
    pub hall: Option<String>,
    pub msg_id: Option<String>,
}

/// An alert's latest state, for history queries.
#[derive(Debug, Clone)]
pub struct AlertRow {
    pub id: String,
    pub hall: String,
    pub rule: String,
    pub severity: String,
    pub state: String,
    pub opened_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// JSON text, stored as it is.
    pub body: Box<RawValue>,
}

impl PartialEq for AlertRow {
    fn eq(&self, other: &Self) -> bool {
        (
            &self.id,
            &self.hall,
            &self.rule,
            &self.severity,
            &self.state,
            self.opened_at,
            self.updated_at,
            self.body.get(),
        ) == (
            &other.id,
            &other.hall,
            &other.rule,
            &other.severity,
            &other.state,
            other.opened_at,
            other.updated_at,
            other.body.get(),
        )
    }
}

impl AlertRow {
    /// An alert's latest state as the history keeps it: the `alert` message
    /// the consoles and the broker carry, whole. `view_json` is the view as
    /// JSON text, which the caller has already written for the audit chain.
    pub fn of(
        view: &AlertView,
        view_json: &str,
        opened_at: DateTime<Utc>,
        updated_at: DateTime<Utc>,
    ) -> Self {
        let body = match view_json.strip_prefix('{') {
            Some(fields) if fields.trim_start() != "}" => format!(r#"{{"type":"alert",{fields}"#),
            _ => r#"{"type":"alert"}"#.to_owned(),
        };
        // Text serde_json wrote is valid; should it not be, the row says so
        // rather than losing the alert.
        let body = RawValue::from_string(body).unwrap_or_else(|e| {
            tracing::warn!(alert = %view.id, error = %e, "An alert's JSON could not be kept whole.");
            serde_json::value::to_raw_value(&serde_json::json!({"type": "alert", "id": view.id}))
                .unwrap_or_else(|_| RawValue::NULL.to_owned())
        });
        Self {
            id: view.id.clone(),
            hall: view.hall.to_string(),
            rule: view.rule.code().to_owned(),
            severity: view.severity.code().to_owned(),
            state: view.state.code().to_owned(),
            opened_at,
            updated_at,
            body,
        }
    }
}

/// A hall's figures for a day that ended.
#[derive(Debug, Clone, PartialEq)]
pub struct DailyRow {
    pub hall: String,
    /// Local date, `YYYY-MM-DD`.
    pub date: String,
    pub computed_at: DateTime<Utc>,
    pub body: serde_json::Value,
}

impl DailyRow {
    /// A day's figures, counted at `computed_at`.
    pub fn of(figures: &DayFigures, computed_at: DateTime<Utc>) -> Self {
        Self {
            hall: figures.hall.clone(),
            date: figures.date.to_string(),
            computed_at,
            body: serde_json::to_value(figures).unwrap_or_default(),
        }
    }
}

/// Something to write.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Event(EventRow),
    Rejection(RejectionRow),
    /// Inserted or, when the id exists, replaced.
    Alert(AlertRow),
    /// Inserted or, when the (hall, date) exists, replaced.
    Daily(DailyRow),
    /// A case, card or follow-up as it now stands: inserted or replaced.
    Book(BookRow),
    /// A record of the hall's tamper-evident chain: appended.
    Audit(AuditRow),
    /// A notification for the outbox: inserted unless its key is there.
    Notify(crate::notify::Queued),
    /// What still waits to be sent about a hall's alert or card is no
    /// longer wanted (someone acknowledged or resolved it): withdrawn.
    Withdraw {
        hall: String,
        subject: String,
        at: DateTime<Utc>,
    },
    /// The notification of this key, if it still waits, is replaced by
    /// another (a warning by its alert turned critical): withdrawn.
    Supersede {
        key: String,
        at: DateTime<Utc>,
    },
    /// A hall's state as of the last of its events written before it:
    /// replaces the hall's checkpoint. The writer ends a batch with it, so
    /// no event of the hall that came after it shares its transaction.
    Checkpoint(CheckpointRow),
}

/// A hall's checkpoint, to keep (see `Hall::checkpoint`).
#[derive(Debug, Clone, PartialEq)]
pub struct CheckpointRow {
    pub hall: String,
    /// What the state is valid for (`checkpoint_key`).
    pub key: String,
    /// The hall's clock when it was taken.
    pub taken_at: DateTime<Utc>,
    pub state: Vec<u8>,
}

/// Which of a hall's events a log read takes.
#[derive(Debug, Clone, Copy)]
enum LogSpan {
    /// Received in [from, to).
    Received(DateTime<Utc>, DateTime<Utc>),
    /// Numbered after this one, whenever received.
    After(i64),
}

impl LogSpan {
    /// The `WHERE` condition, in SQLite's placeholders or PostgreSQL's.
    fn filter(self, pg: bool) -> &'static str {
        match (self, pg) {
            (LogSpan::Received(..), false) => "hall = ? AND received_at >= ? AND received_at < ?",
            (LogSpan::Received(..), true) => "hall = $1 AND received_at >= $2 AND received_at < $3",
            (LogSpan::After(_), false) => "hall = ? AND seq > ?",
            (LogSpan::After(_), true) => "hall = $1 AND seq > $2",
        }
    }

    /// Binds the hall and the span to `filter`'s placeholders.
    fn bind<'q, DB: sqlx::Database, O>(
        self,
        q: sqlx::query::QueryAs<'q, DB, O, <DB as sqlx::Database>::Arguments>,
        hall: &'q str,
    ) -> sqlx::query::QueryAs<'q, DB, O, <DB as sqlx::Database>::Arguments>
    where
        &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
        i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    {
        let q = q.bind(hall);
        match self {
            LogSpan::Received(from, to) => q.bind(millis(from)).bind(millis(to)),
            LogSpan::After(seq) => q.bind(seq),
        }
    }
}

/// A hall's kept checkpoint: its state holds every event of the hall up to
/// and including `through_seq`.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredCheckpoint {
    pub key: String,
    pub through_seq: i64,
    pub taken_at: DateTime<Utc>,
    pub state: Vec<u8>,
}

/// A record of a hall's tamper-evident chain.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRow {
    pub hall: String,
    pub record: crate::audit::Record,
}

/// One entry of a hall's case book as it now stands.
#[derive(Debug, Clone, PartialEq)]
pub struct BookRow {
    pub hall: String,
    /// `case`, `card` or `follow_up`.
    pub kind: &'static str,
    /// Its place in the hall's book.
    pub n: i64,
    /// The case reference, card id or follow-up id.
    pub key: String,
    pub state: String,
    pub updated_at: DateTime<Utc>,
    pub body: serde_json::Value,
}

/// A hall's case book as the store keeps it, in book order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoredBook {
    pub cases: Vec<crate::domain::Case>,
    pub cards: Vec<crate::domain::Card>,
    pub follow_ups: Vec<crate::domain::FollowUp>,
    /// Appointments (预约), kept in the same table as kind `booking`.
    pub bookings: Vec<crate::domain::Booking>,
}

/// Filters for alert history.
#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    pub halls: Option<Vec<String>>,
    pub rule: Option<String>,
    pub severity: Option<String>,
    pub state: Option<String>,
    /// Opened in [from, to).
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// A stored event read back for replay, in log order.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub seq: i64,
    pub hall: String,
    /// The domain input as stored, JSON text: a replay parses it on the
    /// core that folds its hall.
    pub input: String,
    pub received_at: DateTime<Utc>,
    /// The device's own `at`, as sent.
    pub device_at: Option<String>,
}

impl StoredEvent {
    /// The input as a JSON value (Null if it is not JSON).
    pub fn input_json(&self) -> serde_json::Value {
        serde_json::from_str(&self.input).unwrap_or_default()
    }
}

/// The database, SQLite or PostgreSQL.
#[derive(Debug, Clone)]
pub enum Store {
    /// Reads and the occasional write, and the event log's writer.
    Sqlite(SqlitePool, SqliteWriter),
    Postgres(PgPool),
}

/// The connection that writes the event log's batches on SQLite: a pool
/// of exactly one, so every batch runs on the same connection. SQLite
/// drops a connection's whole page cache when another connection has
/// written since its last transaction; the shared pool hands out its idle
/// connections in turn, so each batch began cold and read again the pages
/// of the tables' ends and of each hall's index entries. The statement
/// journal that a statement of many rows keeps, to undo itself alone,
/// stays in memory on it (`temp_store`): it never outlives the batch, and
/// a failed batch is undone whole anyway.
#[derive(Debug, Clone)]
pub struct SqliteWriter(SqlitePool);

/// Write-ahead log pages after which a commit copies the log into the
/// database file (SQLite's default is 1,000, about 4 MB). A copy writes
/// each page once however many commits wrote it since the last, and the
/// last index page of each hall is written by nearly every batch: with a
/// longer log it is copied far fewer times, for a log file of about 40 MB.
const WAL_AUTOCHECKPOINT_PAGES: u32 = 10_000;

fn millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

fn from_millis(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// The events insert: the rows' VALUES are added per statement, and
/// nothing follows them.
const EVENTS_INSERT: (&str, &str) = (
    "INSERT INTO events (hall, device, msg_id, kind, input, received_at, ok, reason, reply, device_at, fence) ",
    "",
);

/// The audit chain's insert, as the events'.
const AUDIT_INSERT: (&str, &str) = (
    "INSERT INTO audit_log (hall, seq, kind, content, prev, hash) ",
    "",
);

/// The alerts' upsert: the insert, the rows' VALUES, then what a row
/// whose id exists replaces.
const ALERTS_UPSERT: (&str, &str) = (
    "INSERT INTO alerts (id, hall, rule, severity, state, opened_at, updated_at, body) ",
    " ON CONFLICT (id) DO UPDATE SET severity = excluded.severity, state = excluded.state, \
     updated_at = excluded.updated_at, body = excluded.body",
);

/// A day's figures' upsert, as the alerts'.
const DAILY_UPSERT: (&str, &str) = (
    "INSERT INTO daily_figures (hall, date, computed_at, body) ",
    " ON CONFLICT (hall, date) DO UPDATE SET computed_at = excluded.computed_at, body = excluded.body",
);

/// The case book's upsert, as the alerts'.
const BOOK_UPSERT: (&str, &str) = (
    "INSERT INTO case_book (hall, kind, n, key, state, updated_at, body) ",
    " ON CONFLICT (hall, kind, n) DO UPDATE SET key = excluded.key, state = excluded.state, \
     updated_at = excluded.updated_at, body = excluded.body",
);

/// The last row of each key among `rows`, in the order of those last rows.
fn last_of_each<'a, T, K: Eq + std::hash::Hash>(
    rows: impl Iterator<Item = &'a T>,
    key: impl Fn(&'a T) -> K,
) -> Vec<&'a T> {
    let rows: Vec<&'a T> = rows.collect();
    let mut seen = std::collections::HashSet::with_capacity(rows.len());
    let mut last: Vec<&'a T> = rows
        .into_iter()
        .rev()
        .filter(|&r| seen.insert(key(r)))
        .collect();
    last.reverse();
    last
}

/// Rows in one statement at the most: at eleven parameters a row this stays far below
/// SQLite's and PostgreSQL's limits on parameters. A power of two (see
/// [`runs`]).
const EVENT_ROWS: usize = 256;

/// `rows` in runs whose lengths are powers of two, longest first, none
/// longer than [`EVENT_ROWS`]: a batch of 300 rows is written as 256, 32,
/// 8 and 4. A statement's text depends only on its number of rows, so the
/// connection's cache holds a few statements of each table, prepared once;
/// with a statement for every length, each batch prepared a new one (a
/// tenth of SQLite's thread under ingest), and the cache held dozens of
/// large ones (about 40 MB under the benchmark's ingest). On PostgreSQL a
/// run is a round trip, at most nine for a table's rows of a batch, each
/// with a statement prepared once (ingest there was quicker with them, see
/// BENCHMARKS.md).
fn runs<T>(mut rows: &[T]) -> impl Iterator<Item = &[T]> {
    std::iter::from_fn(move || {
        if rows.is_empty() {
            return None;
        }
        let len = EVENT_ROWS.min(1 << rows.len().ilog2());
        let (run, rest) = rows.split_at(len);
        rows = rest;
        Some(run)
    })
}

/// Inserts records in one transaction; the SQL differs per backend only in
/// its placeholders, and in the cast (`$json`) that turns an event's JSON
/// text into the column's type.
macro_rules! write_records {
    ($pool:expr, $records:expr, $fence:expr, $pg:expr, $fence_sql:expr, $json:expr, $rejections_sql:expr, $notify_sql:expr, $withdraw_sql:expr, $supersede_sql:expr, $checkpoint_sql:expr) => {{
        // A connection whose write failed is closed, never reused: after a
        // failed COMMIT (SQLite on a full disk, say) the database may still
        // hold the transaction open, and the next batch on that connection
        // would only seem to commit.
        let mut conn = $pool.acquire().await?;
        let fence: Option<&Fence> = $fence;
        let written: Result<(), StoreError> = async {
            let mut tx = sqlx::Connection::begin(&mut *conn).await?;
            // The partition's lease is read, and held against a new owner,
            // until this transaction ends: a write under a lease another
            // instance has taken since is refused as a whole.
            if let Some(f) = fence {
                if $pg {
                    sqlx::query("SELECT set_config('idle_in_transaction_session_timeout', $1, true)")
                        .bind(f.idle_ms.to_string())
                        .execute(&mut *tx)
                        .await?;
                }
                let current: Option<i64> = sqlx::query_scalar($fence_sql)
                    .bind(&f.partition)
                    .fetch_optional(&mut *tx)
                    .await?;
                if current != Some(f.token) {
                    return Err(StoreError::Fenced {
                        partition: f.partition.clone(),
                        token: f.token,
                        current,
                    });
                }
            }
            let token = fence.map(|f| f.token);
            write_records!(@each tx, $records, token, $json, $rejections_sql, $notify_sql, $withdraw_sql, $supersede_sql, $checkpoint_sql);
            tx.commit().await?;
            Ok(())
        }
        .await;
        if let Err(e) = written {
            let _ = sqlx::Connection::close(conn.detach()).await;
            return Err(e);
        }
    }};
    // The records of one kind.
    (@rows $records:expr, $kind:path) => {
        $records.iter().filter_map(|r| match r {
            $kind(row) => Some(row),
            _ => None,
        })
    };
    // Rows of one table in statements of a few lengths (see `runs`): the
    // insert, the rows' VALUES bound by `$bind`, then what follows them.
    (@runs $tx:ident, $rows:expr, $sql:expr, |$b:ident, $row:ident| $bind:expr) => {
        for run in runs(&$rows) {
            let mut q = sqlx::QueryBuilder::new($sql.0);
            q.push_values(run, |mut $b, $row| {
                $bind;
            });
            q.push($sql.1);
            q.build().execute(&mut *$tx).await?;
        }
    };
    (@each $tx:ident, $records:expr, $token:expr, $json:expr, $rejections_sql:expr, $notify_sql:expr, $withdraw_sql:expr, $supersede_sql:expr, $checkpoint_sql:expr) => {
        let records: &[&Record] = $records;
        // Events, the audit chain, alerts, days' figures and the case book
        // go in as statements of many rows, table by table: a round trip to
        // the database for hundreds of rows, not one per row. Rejections
        // and the outbox's records follow one by one, in their order. Each
        // table's rows keep their order, and no table's rows depend on
        // another's, so the transaction stores the same either way.
        let events: Vec<_> = write_records!(@rows records, Record::Event)
            .collect();
        write_records!(@runs $tx, events, EVENTS_INSERT, |b, e| b
            .push_bind(e.hall.clone())
            .push_bind(e.device.clone())
            .push_bind(e.msg_id.clone())
            .push_bind(e.kind)
            .push_bind(e.input.clone())
            .push_unseparated($json)
            .push_bind(millis(e.received_at))
            .push_bind(e.ok)
            .push_bind(&e.reason)
            .push_bind(e.reply.clone())
            .push_unseparated($json)
            .push_bind(&e.device_at)
            .push_bind($token));
        let audit: Vec<_> = write_records!(@rows records, Record::Audit)
            .collect();
        write_records!(@runs $tx, audit, AUDIT_INSERT, |b, a| b
            .push_bind(&a.hall)
            .push_bind(a.record.seq)
            .push_bind(&a.record.kind)
            .push_bind(&a.record.content)
            .push_bind(&a.record.prev)
            .push_bind(&a.record.hash));
        // Alerts, days' figures and the case book are upserts: within one
        // transaction a key's last row replaces its earlier ones whole
        // (the columns an update keeps, the key's hall, rule, kind and
        // opening, do not change), so only the last is written, with the
        // others of its table in statements of many rows.
        let alerts = last_of_each(
            write_records!(@rows records, Record::Alert),
            |a| a.id.as_str(),
        );
        write_records!(@runs $tx, alerts, ALERTS_UPSERT, |b, a| b
            .push_bind(&a.id)
            .push_bind(&a.hall)
            .push_bind(&a.rule)
            .push_bind(&a.severity)
            .push_bind(&a.state)
            .push_bind(millis(a.opened_at))
            .push_bind(millis(a.updated_at))
            .push_bind(Json(&a.body)));
        let days = last_of_each(
            write_records!(@rows records, Record::Daily),
            |d| (d.hall.as_str(), d.date.as_str()),
        );
        write_records!(@runs $tx, days, DAILY_UPSERT, |b, d| b
            .push_bind(&d.hall)
            .push_bind(&d.date)
            .push_bind(millis(d.computed_at))
            .push_bind(Json(&d.body)));
        let book = last_of_each(
            write_records!(@rows records, Record::Book),
            |b| (b.hall.as_str(), b.kind, b.n),
        );
        write_records!(@runs $tx, book, BOOK_UPSERT, |q, b| q
            .push_bind(&b.hall)
            .push_bind(b.kind)
            .push_bind(b.n)
            .push_bind(&b.key)
            .push_bind(&b.state)
            .push_bind(millis(b.updated_at))
            .push_bind(Json(&b.body)));
        for r in records {
            match r {
                Record::Event(_)
                | Record::Audit(_)
                | Record::Alert(_)
                | Record::Daily(_)
                | Record::Book(_)
                | Record::Checkpoint(_) => {}
                Record::Rejection(r) => {
                    sqlx::query($rejections_sql)
                        .bind(millis(r.received_at))
                        .bind(&r.topic)
                        .bind(&r.payload)
                        .bind(&r.reason)
                        .bind(&r.detail)
                        .bind(&r.hall)
                        .bind(&r.msg_id)
                        .execute(&mut *$tx)
                        .await?;
                }
                Record::Notify(n) => {
                    sqlx::query($notify_sql)
                        .bind(&n.key)
                        .bind(&n.channel)
                        .bind(&n.hall)
                        .bind(&n.subject)
                        .bind(n.about)
                        .bind(millis(n.created_at))
                        .bind(millis(n.send_at))
                        .bind(millis(n.send_at))
                        .bind(Json(&n.body))
                        .execute(&mut *$tx)
                        .await?;
                }
                Record::Withdraw { hall, subject, at } => {
                    sqlx::query($withdraw_sql)
                        .bind(millis(*at))
                        .bind(hall)
                        .bind(subject)
                        .execute(&mut *$tx)
                        .await?;
                }
                Record::Supersede { key, at } => {
                    sqlx::query($supersede_sql)
                        .bind(millis(*at))
                        .bind(key)
                        .execute(&mut *$tx)
                        .await?;
                }
            }
        }
        // Checkpoints last, each after every event of its hall in the
        // transaction: the hall's newest event is the last one it holds.
        let checkpoints = last_of_each(
            write_records!(@rows records, Record::Checkpoint),
            |c| c.hall.as_str(),
        );
        for c in checkpoints {
            sqlx::query($checkpoint_sql)
                .bind(&c.hall)
                .bind(&c.key)
                .bind(&c.hall)
                .bind(millis(c.taken_at))
                .bind(&c.state)
                .execute(&mut *$tx)
                .await?;
        }
    };
}

/// Runs a query with one time bound and maps its rows.
macro_rules! select_rows {
    ($pool:expr, $sql:expr, $since:expr, $map:expr) => {
        sqlx::query($sql)
            .bind(millis($since))
            .fetch_all($pool)
            .await?
            .iter()
            .map($map)
            .collect::<Result<Vec<_>, sqlx::Error>>()?
    };
}

impl StoreError {
    /// A data error that retrying cannot fix (SQLSTATE classes 22 and 23:
    /// bad data, constraint violations), as opposed to a database that is
    /// down, locked or full.
    pub fn is_permanent(&self) -> bool {
        match self {
            StoreError::Sql(sqlx::Error::Database(e)) => e
                .code()
                .is_some_and(|c| c.starts_with("22") || c.starts_with("23")),
            StoreError::Sql(sqlx::Error::Encode(_)) => true,
            _ => false,
        }
    }
}

impl Store {
    /// Opens the database named by `url` and brings its schema up to date.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let connect = |source| StoreError::Connect {
            url: redact(url),
            source,
        };
        let store = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = PgPoolOptions::new()
                .max_connections(8)
                .acquire_timeout(Duration::from_secs(5))
                .connect(url)
                .await
                .map_err(connect)?;
            Store::Postgres(pool)
        } else {
            // FULL: a commit is on disk before the broker hears an ack, even
            // through a power cut; batching keeps the cost small.
            let opts = SqliteConnectOptions::from_str(url)
                .map_err(connect)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .busy_timeout(Duration::from_secs(5))
                .pragma("wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES.to_string());
            let writer = SqlitePoolOptions::new()
                .max_connections(1)
                .connect_lazy_with(opts.clone().pragma("temp_store", "memory"));
            let pool = SqlitePoolOptions::new()
                .max_connections(4)
                .connect_with(opts)
                .await
                .map_err(connect)?;
            Store::Sqlite(pool, SqliteWriter(writer))
        };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(p, _) => sqlx::migrate!("migrations/sqlite").run(p).await?,
            Store::Postgres(p) => sqlx::migrate!("migrations/postgres").run(p).await?,
        }
        Ok(())
    }

    /// How many batches the writer commits side by side (see
    /// `writer`): one on SQLite, which takes one writer at a time; on
    /// PostgreSQL enough to keep the database busy while each batch waits
    /// on its round trips and its commit's flush.
    pub fn write_lanes(&self) -> usize {
        match self {
            Store::Sqlite(..) => 1,
            Store::Postgres(_) => 4,
        }
    }

    pub fn backend(&self) -> &'static str {
        match self {
            Store::Sqlite(..) => "sqlite",
            Store::Postgres(_) => "postgres",
        }
    }

    /// Writes records in one transaction, in order.
    pub async fn write(&self, records: &[Record]) -> Result<(), StoreError> {
        self.write_refs(&records.iter().collect::<Vec<_>>(), None)
            .await
    }

    /// Writes records in one transaction, in order, without owning them (the
    /// writer keeps its batch for a retry); under `fence`, only while that
    /// lease is still the partition's. On SQLite it runs on the writer's
    /// own connection ([`SqliteWriter`]).
    pub async fn write_refs(
        &self,
        records: &[&Record],
        fence: Option<&Fence>,
    ) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(_, SqliteWriter(pool)) => write_records!(
                pool,
                records,
                fence,
                false,
                "SELECT token FROM partition_leases WHERE name = ?",
                "",
                "INSERT INTO rejections (received_at, topic, payload, reason, detail, hall, msg_id) \
                 VALUES (?, ?, ?, ?, ?, ?, ?)",
                sqlx::AssertSqlSafe(outbox::sqlite(outbox::OUTBOX_INSERT)),
                "UPDATE outbox SET state = 'withdrawn', last_at = ?, claimed_until = NULL \
                 WHERE hall = ? AND subject = ? AND state IN ('queued', 'retrying')",
                "UPDATE outbox SET state = 'withdrawn', last_at = ?, claimed_until = NULL \
                 WHERE key = ? AND state IN ('queued', 'retrying')",
                "INSERT INTO checkpoints (hall, key, through_seq, taken_at, state) \
                 VALUES (?, ?, (SELECT COALESCE(MAX(seq), 0) FROM events WHERE hall = ?), ?, ?) \
                 ON CONFLICT (hall) DO UPDATE SET key = excluded.key, \
                 through_seq = excluded.through_seq, taken_at = excluded.taken_at, state = excluded.state"
            ),
            Store::Postgres(pool) => write_records!(
                pool,
                records,
                fence,
                true,
                "SELECT token FROM partition_leases WHERE name = $1 FOR SHARE",
                "::jsonb",
                "INSERT INTO rejections (received_at, topic, payload, reason, detail, hall, msg_id) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                outbox::OUTBOX_INSERT,
                "UPDATE outbox SET state = 'withdrawn', last_at = $1, claimed_until = NULL \
                 WHERE hall = $2 AND subject = $3 AND state IN ('queued', 'retrying')",
                "UPDATE outbox SET state = 'withdrawn', last_at = $1, claimed_until = NULL \
                 WHERE key = $2 AND state IN ('queued', 'retrying')",
                "INSERT INTO checkpoints (hall, key, through_seq, taken_at, state) \
                 VALUES ($1, $2, (SELECT COALESCE(MAX(seq), 0) FROM events WHERE hall = $3), $4, $5) \
                 ON CONFLICT (hall) DO UPDATE SET key = excluded.key, \
                 through_seq = excluded.through_seq, taken_at = excluded.taken_at, state = excluded.state"
            ),
        }
        Ok(())
    }

    /// Every event received at or after `since`, in log order.
    pub async fn events_since(&self, since: DateTime<Utc>) -> Result<Vec<StoredEvent>, StoreError> {
        Ok(match self {
            Store::Sqlite(p, _) => select_rows!(
                p,
                "SELECT seq, hall, input, received_at, device_at FROM events WHERE received_at >= ? ORDER BY seq",
                since,
                stored_event
            ),
            Store::Postgres(p) => select_rows!(
                p,
                "SELECT seq, hall, input::text AS input, received_at, device_at FROM events WHERE received_at >= $1 ORDER BY seq",
                since,
                stored_event
            ),
        })
    }

    /// Rejections received at or after `since`, oldest first.
    pub async fn rejections_since(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<RejectionRow>, StoreError> {
        Ok(match self {
            Store::Sqlite(p, _) => select_rows!(
                p,
                "SELECT received_at, topic, payload, reason, detail, hall, msg_id FROM rejections \
                 WHERE received_at >= ? ORDER BY id",
                since,
                rejection_row
            ),
            Store::Postgres(p) => select_rows!(
                p,
                "SELECT received_at, topic, payload, reason, detail, hall, msg_id FROM rejections \
                 WHERE received_at >= $1 ORDER BY id",
                since,
                rejection_row
            ),
        })
    }

    /// Alerts matching `filter`, newest first, at most `limit`. The hall
    /// scope is applied in SQL, before the limit.
    pub async fn alerts(
        &self,
        filter: &AlertFilter,
        limit: i64,
    ) -> Result<Vec<serde_json::Value>, StoreError> {
        let halls: Vec<Option<String>> = match &filter.halls {
            Some(hs) => hs.iter().cloned().map(Some).collect(),
            None => vec![None],
        };
        let mut rows = Vec::new();
        for hall in &halls {
            rows.extend(self.alerts_of(hall.as_deref(), filter, limit).await?);
        }
        rows.sort_by_key(|r| std::cmp::Reverse(r.0));
        rows.truncate(usize::try_from(limit).unwrap_or(0));
        Ok(rows.into_iter().map(|(_, body)| body).collect())
    }

    async fn alerts_of(
        &self,
        hall: Option<&str>,
        filter: &AlertFilter,
        limit: i64,
    ) -> Result<Vec<(i64, serde_json::Value)>, StoreError> {
        let from = filter.from.map_or(i64::MIN, millis);
        let to = filter.to.map_or(i64::MAX, millis);
        let rows: Vec<(i64, Json<serde_json::Value>)> =
            match self {
                Store::Sqlite(p, _) => {
                    sqlx::query_as(
                        "SELECT opened_at, body FROM alerts WHERE opened_at >= ? AND opened_at < ? \
                 AND (? IS NULL OR hall = ?) AND (? IS NULL OR rule = ?) \
                 AND (? IS NULL OR severity = ?) AND (? IS NULL OR state = ?) \
                 ORDER BY opened_at DESC LIMIT ?",
                    )
                    .bind(from)
                    .bind(to)
                    .bind(hall)
                    .bind(hall)
                    .bind(&filter.rule)
                    .bind(&filter.rule)
                    .bind(&filter.severity)
                    .bind(&filter.severity)
                    .bind(&filter.state)
                    .bind(&filter.state)
                    .bind(limit)
                    .fetch_all(p)
                    .await?
                }
                Store::Postgres(p) => sqlx::query_as(
                    "SELECT opened_at, body FROM alerts WHERE opened_at >= $1 AND opened_at < $2 \
                 AND ($3::TEXT IS NULL OR hall = $3) AND ($4::TEXT IS NULL OR rule = $4) \
                 AND ($5::TEXT IS NULL OR severity = $5) AND ($6::TEXT IS NULL OR state = $6) \
                 ORDER BY opened_at DESC LIMIT $7",
                )
                .bind(from)
                .bind(to)
                .bind(hall)
                .bind(&filter.rule)
                .bind(&filter.severity)
                .bind(&filter.state)
                .bind(limit)
                .fetch_all(p)
                .await?,
            };
        Ok(rows.into_iter().map(|(at, body)| (at, body.0)).collect())
    }

    /// The kept figures of a hall's day, if that day was kept.
    pub async fn daily_figures(
        &self,
        hall: &str,
        date: &str,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        let row: Option<(Json<serde_json::Value>,)> = match self {
            Store::Sqlite(p, _) => {
                sqlx::query_as("SELECT body FROM daily_figures WHERE hall = ? AND date = ?")
                    .bind(hall)
                    .bind(date)
                    .fetch_optional(p)
                    .await?
            }
            Store::Postgres(p) => {
                sqlx::query_as("SELECT body FROM daily_figures WHERE hall = $1 AND date = $2")
                    .bind(hall)
                    .bind(date)
                    .fetch_optional(p)
                    .await?
            }
        };
        Ok(row.map(|r| r.0.0))
    }

    /// The kept figures of a hall's days from `from` to `to` (inclusive,
    /// `YYYY-MM-DD`), in date order; a day not kept is absent.
    pub async fn daily_figures_between(
        &self,
        hall: &str,
        from: &str,
        to: &str,
    ) -> Result<Vec<serde_json::Value>, StoreError> {
        let rows: Vec<(Json<serde_json::Value>,)> =
            match self {
                Store::Sqlite(p, _) => {
                    sqlx::query_as(
                        "SELECT body FROM daily_figures WHERE hall = ? AND date >= ? AND date <= ? \
                     ORDER BY date",
                    )
                    .bind(hall)
                    .bind(from)
                    .bind(to)
                    .fetch_all(p)
                    .await?
                }
                Store::Postgres(p) => sqlx::query_as(
                    "SELECT body FROM daily_figures WHERE hall = $1 AND date >= $2 AND date <= $3 \
                     ORDER BY date",
                )
                .bind(hall)
                .bind(from)
                .bind(to)
                .fetch_all(p)
                .await?,
            };
        Ok(rows.into_iter().map(|r| r.0.0).collect())
    }

    /// A hall's events received in [from, to), in log order, as one text
    /// (see `HallLog`): a replay's day, or a past day to count again. A log
    /// the database cannot put into one value is read a row at a time.
    pub async fn hall_log(
        &self,
        hall: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<HallLog, StoreError> {
        self.log_of(hall, LogSpan::Received(from, to)).await
    }

    /// A hall's events after the one numbered `seq` (a checkpoint's last),
    /// in log order, as `hall_log` reads them.
    pub async fn hall_log_after(&self, hall: &str, seq: i64) -> Result<HallLog, StoreError> {
        self.log_of(hall, LogSpan::After(seq)).await
    }

    async fn log_of(&self, hall: &str, span: LogSpan) -> Result<HallLog, StoreError> {
        // The log as one text, the database's aggregate in log order.
        macro_rules! whole {
            ($pool:expr, $aggregate:expr, $pg:expr) => {
                span.bind(
                    sqlx::query_as::<_, (i64, Option<String>)>(sqlx::AssertSqlSafe(format!(
                        "SELECT count(*), {} FROM events WHERE {}",
                        $aggregate,
                        span.filter($pg)
                    ))),
                    hall,
                )
                .fetch_one($pool)
                .await
            };
        }
        let whole = match self {
            Store::Sqlite(p, _) => whole!(
                p,
                "group_concat(seq || ' ' || received_at || ' ' || input, char(30) ORDER BY seq)",
                false
            ),
            Store::Postgres(p) => whole!(
                p,
                "string_agg(seq::text || ' ' || received_at::text || ' ' || input::text, E'\\x1e' ORDER BY seq)",
                true
            ),
        };
        match whole {
            Ok((len, text)) => Ok(HallLog::new(text, len)),
            Err(sqlx::Error::Database(e)) => {
                tracing::info!(hall, error = %e, "A hall's log is read a row at a time.");
                self.log_by_rows(hall, span).await
            }
            Err(e) => Err(e.into()),
        }
    }

    /// `hall_log`, a row at a time.
    pub async fn hall_log_by_rows(
        &self,
        hall: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<HallLog, StoreError> {
        self.log_by_rows(hall, LogSpan::Received(from, to)).await
    }

    async fn log_by_rows(&self, hall: &str, span: LogSpan) -> Result<HallLog, StoreError> {
        use futures_util::TryStreamExt;
        let mut log = HallLog::default();
        macro_rules! fetch {
            ($pool:expr, $sql:expr) => {{
                let sql = format!(
                    "SELECT seq, received_at, {} FROM events WHERE {} ORDER BY seq",
                    $sql.0, $sql.1
                );
                let mut rows = span
                    .bind(
                        sqlx::query_as::<_, (i64, i64, String)>(sqlx::AssertSqlSafe(sql)),
                        hall,
                    )
                    .fetch($pool);
                while let Some((seq, received_at, input)) = rows.try_next().await? {
                    log.push(seq, received_at, &input);
                }
            }};
        }
        match self {
            Store::Sqlite(p, _) => fetch!(p, ("input", span.filter(false))),
            Store::Postgres(p) => fetch!(p, ("input::text", span.filter(true))),
        }
        Ok(log)
    }

    /// A hall's kept checkpoint, if it has one.
    pub async fn checkpoint(&self, hall: &str) -> Result<Option<StoredCheckpoint>, StoreError> {
        let row: Option<(String, i64, i64, Vec<u8>)> = match self {
            Store::Sqlite(p, _) => {
                sqlx::query_as(
                    "SELECT key, through_seq, taken_at, state FROM checkpoints WHERE hall = ?",
                )
                .bind(hall)
                .fetch_optional(p)
                .await?
            }
            Store::Postgres(p) => {
                sqlx::query_as(
                    "SELECT key, through_seq, taken_at, state FROM checkpoints WHERE hall = $1",
                )
                .bind(hall)
                .fetch_optional(p)
                .await?
            }
        };
        Ok(
            row.map(|(key, through_seq, taken_at, state)| StoredCheckpoint {
                key,
                through_seq,
                taken_at: from_millis(taken_at),
                state,
            }),
        )
    }

    /// Forgets a hall's checkpoint: its next start folds the whole log.
    pub async fn clear_checkpoint(&self, hall: &str) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(p, _) => {
                sqlx::query("DELETE FROM checkpoints WHERE hall = ?")
                    .bind(hall)
                    .execute(p)
                    .await?;
            }
            Store::Postgres(p) => {
                sqlx::query("DELETE FROM checkpoints WHERE hall = $1")
                    .bind(hall)
                    .execute(p)
                    .await?;
            }
        }
        Ok(())
    }

    /// When a hall's tickets were issued in [from, to): what its arrival
    /// profile is learnt from.
    pub async fn tickets_issued(
        &self,
        hall: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<DateTime<Utc>>, StoreError> {
        let rows: Vec<(i64,)> = match self {
            Store::Sqlite(p, _) => {
                sqlx::query_as(
                    "SELECT received_at FROM events WHERE hall = ? AND kind = 'ticket' AND ok \
                     AND received_at >= ? AND received_at < ? ORDER BY received_at",
                )
                .bind(hall)
                .bind(millis(from))
                .bind(millis(to))
                .fetch_all(p)
                .await?
            }
            Store::Postgres(p) => {
                sqlx::query_as(
                    "SELECT received_at FROM events WHERE hall = $1 AND kind = 'ticket' AND ok \
                     AND received_at >= $2 AND received_at < $3 ORDER BY received_at",
                )
                .bind(hall)
                .bind(millis(from))
                .bind(millis(to))
                .fetch_all(p)
                .await?
            }
        };
        Ok(rows.into_iter().map(|(ms,)| from_millis(ms)).collect())
    }

    /// The time of the newest stored event, if any.
    pub async fn last_event_at(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let row: (Option<i64>,) = match self {
            Store::Sqlite(p, _) => {
                sqlx::query_as("SELECT MAX(received_at) FROM events")
                    .fetch_one(p)
                    .await?
            }
            Store::Postgres(p) => {
                sqlx::query_as("SELECT MAX(received_at) FROM events")
                    .fetch_one(p)
                    .await?
            }
        };
        Ok(row.0.map(from_millis))
    }

    /// How many events each hall has received at or after `since`.
    pub async fn event_counts_since(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        Ok(match self {
            Store::Sqlite(p, _) => {
                sqlx::query_as("SELECT hall, count(*) FROM events WHERE received_at >= ? GROUP BY hall ORDER BY hall")
                    .bind(millis(since))
                    .fetch_all(p)
                    .await?
            }
            Store::Postgres(p) => {
                sqlx::query_as("SELECT hall, count(*) FROM events WHERE received_at >= $1 GROUP BY hall ORDER BY hall")
                    .bind(millis(since))
                    .fetch_all(p)
                    .await?
            }
        })
    }

    /// Closes the pools, waiting for connections to finish.
    pub async fn close(&self) {
        match self {
            Store::Sqlite(p, SqliteWriter(w)) => {
                w.close().await;
                p.close().await;
            }
            Store::Postgres(p) => p.close().await,
        }
    }
}

fn stored_event<R: Row>(r: &R) -> Result<StoredEvent, sqlx::Error>
where
    for<'c> &'c str: sqlx::ColumnIndex<R>,
    for<'q> i64: sqlx::Decode<'q, R::Database> + sqlx::Type<R::Database>,
    for<'q> String: sqlx::Decode<'q, R::Database> + sqlx::Type<R::Database>,
    for<'q> Option<String>: sqlx::Decode<'q, R::Database> + sqlx::Type<R::Database>,
{
    Ok(StoredEvent {
        seq: r.try_get("seq")?,
        hall: r.try_get("hall")?,
        input: r.try_get("input")?,
        received_at: from_millis(r.try_get("received_at")?),
        device_at: r.try_get("device_at")?,
    })
}

fn rejection_row<R: Row>(r: &R) -> Result<RejectionRow, sqlx::Error>
where
    for<'c> &'c str: sqlx::ColumnIndex<R>,
    for<'q> i64: sqlx::Decode<'q, R::Database> + sqlx::Type<R::Database>,
    for<'q> String: sqlx::Decode<'q, R::Database> + sqlx::Type<R::Database>,
    for<'q> Option<String>: sqlx::Decode<'q, R::Database> + sqlx::Type<R::Database>,
    for<'q> Vec<u8>: sqlx::Decode<'q, R::Database> + sqlx::Type<R::Database>,
{
    Ok(RejectionRow {
        received_at: from_millis(r.try_get("received_at")?),
        topic: r.try_get("topic")?,
        payload: r.try_get("payload")?,
        reason: r.try_get("reason")?,
        detail: r.try_get("detail")?,
        hall: r.try_get("hall")?,
        msg_id: r.try_get("msg_id")?,
    })
}

/// A database URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_are_kept_out_of_messages() {
        assert_eq!(
            super::redact("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(super::redact("sqlite://x.db"), "sqlite://x.db");
    }

    #[test]
    fn rows_go_in_runs_of_a_few_lengths_in_order() {
        let lens = |n: usize| {
            let rows: Vec<usize> = (0..n).collect();
            let runs: Vec<&[usize]> = super::runs(&rows).collect();
            assert_eq!(runs.concat(), rows, "every row once, in order");
            runs.iter().map(|r| r.len()).collect::<Vec<_>>()
        };
        assert!(lens(0).is_empty());
        assert_eq!(lens(1), [1]);
        assert_eq!(lens(300), [256, 32, 8, 4]);
        assert_eq!(lens(700), [256, 256, 128, 32, 16, 8, 4]);
        // However a day's batches vary, the statements come in 9 lengths.
        let shapes: std::collections::BTreeSet<usize> = (1..2000).flat_map(lens).collect();
        assert_eq!(shapes.len(), 9);
    }
}
