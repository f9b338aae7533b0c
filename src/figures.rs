//! A hall's figures of a past day: kept in the store when the day ended,
//! or, for a day that never was (the server was down at its end, or an
//! older version kept it in another shape), counted again from that day's
//! event log and then kept. Today's figures are counted live by the hall.

use std::sync::Arc;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use tracing::{info, warn};

use crate::domain::{DayFigures, HallSpec};
use crate::store::{DailyRow, Record, Store, StoreError};

/// The kept figures of the days from the first of `start`'s month (a
/// replay's start) to yesterday: what the repeat findings count, for the
/// days the replay does not fold and for those it folds without events
/// (which it ends again alike). A day not kept had no events and ended
/// while the server was down; kept figures that cannot be read (an older
/// version's) are counted again from the log.
pub async fn month_before(
    store: &Store,
    spec: &Arc<HallSpec>,
    start: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Vec<DayFigures>, StoreError> {
    let Some(first) = spec.local_date(start).with_day(1) else {
        return Ok(Vec::new());
    };
    let Some(last) = spec.local_date(now).pred_opt().filter(|d| *d >= first) else {
        return Ok(Vec::new());
    };
    let kept = store
        .daily_figures_between(spec.id.as_str(), &first.to_string(), &last.to_string())
        .await?;
    let mut out = Vec::with_capacity(kept.len());
    for body in kept {
        match serde_json::from_value::<DayFigures>(body.clone()) {
            Ok(f) => out.push(f),
            Err(_) => {
                let date = body
                    .get("date")
                    .and_then(|d| d.as_str())
                    .and_then(|d| d.parse::<NaiveDate>().ok());
                if let Some(d) = date {
                    out.push(past_day(store, spec.clone(), d, now).await?);
                }
            }
        }
    }
    Ok(out)
}

/// The figures of `date`, a day before today in the hall.
pub async fn past_day(
    store: &Store,
    spec: Arc<HallSpec>,
    date: NaiveDate,
    now: DateTime<Utc>,
) -> Result<DayFigures, StoreError> {
    let id = spec.id.as_str();
    if let Some(body) = store.daily_figures(id, &date.to_string()).await? {
        match serde_json::from_value::<DayFigures>(body) {
            Ok(f) => return Ok(f),
            // Kept by an older version: count it again below.
            Err(e) => {
                warn!(hall = id, %date, error = %e, "Kept figures cannot be read; counting again.")
            }
        }
    }
    let start = spec.day_start(date);
    let end = date.succ_opt().map_or(start, |d| spec.day_start(d));
    let log = store.hall_log(id, start, end).await?;
    let figures = crate::replay::count_day(spec.clone(), &log, date);
    info!(hall = id, %date, events = log.len(), "Counted a past day's figures from the event log.");
    store
        .write(&[Record::Daily(DailyRow::of(&figures, now))])
        .await?;
    Ok(figures)
}
