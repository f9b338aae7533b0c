//! 限时办结 at scale: what a hall's tick costs with many open cases, and
//! the start-up replay of a day over a case book that holds them.
//!
//! The cases are accepted at the start of the measured day with 5 to 60
//! promised working days, so none falls due while the ticks are timed: the
//! figure is what holding them costs a tick (the deadline index answers
//! "is anything due?" from its first entry), not the cost of issuing cards.

use std::time::Instant;

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use hallwatch::config::Settings;
use hallwatch::domain::{CaseBook, Effect, Hall, HallSpec, NewCase, ServiceCode};
use hallwatch::store::{BookRow, Record, Store};

use crate::load::SERVICES;

/// A book of `n` open cases of `spec`'s hall, accepted at `at`.
pub fn book(spec: &HallSpec, n: usize, at: DateTime<Utc>) -> anyhow::Result<CaseBook> {
    let mut book = CaseBook::default();
    for i in 0..n {
        let service = SERVICES[i % SERVICES.len()].0;
        book.accept(
            spec,
            NewCase {
                reference: format!("BJ{:08}", i + 1),
                service: ServiceCode::parse(service)
                    .map_err(|e| anyhow::anyhow!("bench service {service}: {e:?}"))?,
                department: None,
                staff: None,
                ticket: None,
                promised_days: 5 + (i % 56) as u32,
            },
            at,
        )
        .map_err(|e| anyhow::anyhow!("bench case {i}: {}", e.code()))?;
    }
    Ok(book)
}

/// Microseconds per tick of the first hall of `config` holding `open`
/// cases, over `ticks` ticks a second apart from `t0`, after as many
/// uncounted ones.
pub fn tick_cost(
    config: &str,
    open: usize,
    ticks: usize,
    t0: DateTime<Utc>,
) -> anyhow::Result<f64> {
    let settings =
        Settings::parse(config).map_err(|e| anyhow::anyhow!("bench configuration: {e}"))?;
    let spec = settings
        .halls
        .first()
        .ok_or_else(|| anyhow::anyhow!("bench configuration has no hall"))?
        .clone();
    let mut hall = Hall::new(spec.clone(), t0);
    hall.restore_cases(book(&spec, open, t0)?);
    let mut now = t0;
    for _ in 0..ticks {
        now += ChronoDuration::seconds(1);
        std::hint::black_box(hall.tick(now));
    }
    let started = Instant::now();
    for _ in 0..ticks {
        now += ChronoDuration::seconds(1);
        let effects = hall.tick(now);
        if effects.iter().any(|e| matches!(e, Effect::Case(_))) {
            anyhow::bail!(
                "a case fell due during the timed ticks: the figure would not be a tick's"
            );
        }
        std::hint::black_box(effects);
    }
    Ok(started.elapsed().as_secs_f64() * 1e6 / ticks as f64)
}

/// Writes `open` open cases of the first hall of `config`, accepted on
/// the morning before `today`, into the case book of the store at
/// `database_url`, as the server keeps them.
pub async fn write_book(
    config: &str,
    database_url: &str,
    open: usize,
    today: DateTime<Utc>,
) -> anyhow::Result<()> {
    let settings =
        Settings::parse(config).map_err(|e| anyhow::anyhow!("bench configuration: {e}"))?;
    let spec = settings
        .halls
        .first()
        .ok_or_else(|| anyhow::anyhow!("bench configuration has no hall"))?;
    let at = today - ChronoDuration::days(1);
    let book = book(spec, open, at)?;
    let store = Store::open(database_url).await?;
    let rows: Vec<Record> = book
        .cases()
        .iter()
        .enumerate()
        .map(|(n, c)| Record::Book(BookRow::of_case(spec.id.as_str(), n, c, at)))
        .collect();
    for chunk in rows.chunks(10_000) {
        store.write(chunk).await?;
    }
    store.close().await;
    Ok(())
}
