//! The case book in the store: each case, card and follow-up as it stands,
//! loaded at start so cases outlive the days the hall replays.

use chrono::{DateTime, Utc};
use sqlx::types::Json;

use super::{BookRow, Store, StoreError, StoredBook};
use crate::domain::{Booking, Card, Case, FollowUp};

impl BookRow {
    pub fn of_case(hall: &str, n: usize, case: &Case, at: DateTime<Utc>) -> Self {
        Self::of(
            hall,
            "case",
            n,
            &case.reference,
            state_code(&case.state),
            at,
            case,
        )
    }

    pub fn of_card(hall: &str, n: usize, card: &Card, at: DateTime<Utc>) -> Self {
        Self::of(hall, "card", n, &card.id, state_code(&card.state), at, card)
    }

    pub fn of_follow_up(hall: &str, n: usize, f: &FollowUp, at: DateTime<Utc>) -> Self {
        let state = f.current().map_or("done", |s| s.step.code());
        Self::of(hall, "follow_up", n, &f.id, state.to_owned(), at, f)
    }

    pub fn of_booking(hall: &str, n: usize, b: &Booking, at: DateTime<Utc>) -> Self {
        Self::of(
            hall,
            "booking",
            n,
            &b.reference,
            state_code(&b.state),
            at,
            b,
        )
    }

    fn of(
        hall: &str,
        kind: &'static str,
        n: usize,
        key: &str,
        state: String,
        at: DateTime<Utc>,
        body: &impl serde::Serialize,
    ) -> Self {
        Self {
            hall: hall.to_owned(),
            kind,
            n: i64::try_from(n).unwrap_or(i64::MAX),
            key: key.to_owned(),
            state,
            updated_at: at,
            body: serde_json::to_value(body).unwrap_or_default(),
        }
    }
}

/// A state enum's snake_case code, as serde writes it.
fn state_code(state: &impl serde::Serialize) -> String {
    match serde_json::to_value(state) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

impl Store {
    /// Hall `hall`'s case book as stored, in book order. A row that cannot
    /// be read is an error: a book with a hole would renumber its cards.
    pub async fn case_book(&self, hall: &str) -> Result<StoredBook, StoreError> {
        let rows: Vec<(String, i64, Json<serde_json::Value>)> = match self {
            Store::Sqlite(p, _) => {
                sqlx::query_as(
                    "SELECT kind, n, body FROM case_book WHERE hall = ? ORDER BY kind, n",
                )
                .bind(hall)
                .fetch_all(p)
                .await?
            }
            Store::Postgres(p) => {
                sqlx::query_as(
                    "SELECT kind, n, body FROM case_book WHERE hall = $1 ORDER BY kind, n",
                )
                .bind(hall)
                .fetch_all(p)
                .await?
            }
        };
        let mut book = StoredBook::default();
        for (kind, n, Json(body)) in rows {
            let bad = |e: serde_json::Error| {
                StoreError::Corrupt(format!("case book of {hall}: {kind} #{n}: {e}"))
            };
            let expected = match kind.as_str() {
                "case" => book.cases.len(),
                "card" => book.cards.len(),
                "booking" => book.bookings.len(),
                _ => book.follow_ups.len(),
            };
            if usize::try_from(n).ok() != Some(expected) {
                return Err(StoreError::Corrupt(format!(
                    "case book of {hall}: {kind} #{n} where #{expected} was expected"
                )));
            }
            match kind.as_str() {
                "case" => book.cases.push(serde_json::from_value(body).map_err(bad)?),
                "card" => book.cards.push(serde_json::from_value(body).map_err(bad)?),
                "follow_up" => book
                    .follow_ups
                    .push(serde_json::from_value(body).map_err(bad)?),
                "booking" => book
                    .bookings
                    .push(serde_json::from_value(body).map_err(bad)?),
                other => {
                    return Err(StoreError::Corrupt(format!(
                        "case book of {hall}: unknown kind {other:?}"
                    )));
                }
            }
        }
        Ok(book)
    }

    /// Forgets hall `hall`'s case book, before it is rebuilt from the log.
    pub async fn clear_case_book(&self, hall: &str) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(p, _) => {
                sqlx::query("DELETE FROM case_book WHERE hall = ?")
                    .bind(hall)
                    .execute(p)
                    .await?;
            }
            Store::Postgres(p) => {
                sqlx::query("DELETE FROM case_book WHERE hall = $1")
                    .bind(hall)
                    .execute(p)
                    .await?;
            }
        }
        Ok(())
    }
}
