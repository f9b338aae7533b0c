//! A day of events in the log, written the way the server writes them:
//! each message decoded as ingest decodes it, applied to its hall, and
//! stored with its reply. The server then replays it at start.

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use hallwatch::config::Settings;
use hallwatch::domain::{Hall, Reply, checkpoint_key};
use hallwatch::mqtt::{payload, topic};
use hallwatch::store::{CheckpointRow, EventRow, Record, Store};

use crate::load::{Layout, script};

/// What `write_day` wrote.
pub struct Day {
    pub events: u64,
    /// Events after the halls' checkpoints.
    pub tail: u64,
}

/// Writes `cycles` citizens per window of `layout` (plus each window's
/// login), spread over yesterday's office day in every hall, into the
/// store at `database_url`. With `checkpoint_before_end`, each hall's
/// checkpoint is kept that long before its last event, as a server taking
/// them at that interval leaves it when killed just before its next one:
/// the most log a start from checkpoints folds.
pub async fn write_day(
    layout: Layout,
    config: &str,
    database_url: &str,
    cycles: usize,
    checkpoint_before_end: Option<ChronoDuration>,
) -> anyhow::Result<Day> {
    let settings =
        Settings::parse(config).map_err(|e| anyhow::anyhow!("bench configuration: {e}"))?;
    let store = Store::open(database_url).await?;
    let mut written = 0u64;
    let mut tail = 0u64;
    let mut batch: Vec<Record> = Vec::with_capacity(10_000);
    let today: DateTime<Utc> = DateTime::parse_from_rfc3339(crate::T0)?.to_utc();
    for (h, spec) in settings.halls.iter().enumerate() {
        let day_start: DateTime<Utc> = spec
            .day_start(spec.local_date(today - ChronoDuration::days(1)))
            + ChronoDuration::minutes(8 * 60 + 30);
        let mut hall = Hall::new(spec.clone(), day_start);
        let scripts: Vec<_> = (0..layout.windows)
            .map(|j| script("day", h, j, cycles, true))
            .collect();
        let total: usize = scripts.iter().map(Vec::len).sum();
        // Nine office hours for the whole hall's messages, in round robin;
        // at most 100 s between one window's messages, so a rating without
        // a ticket number follows its finish within the 120 s it is taken in.
        let step_ms = (9 * 3600 * 1000 / total.max(1) as i64)
            .min(100_000 / scripts.len().max(1) as i64)
            .max(1);
        let mut cursors = vec![0usize; scripts.len()];
        let mut now = day_start;
        let end = day_start + ChronoDuration::milliseconds(step_ms * total as i64);
        let mut checkpoint_at = checkpoint_before_end.map(|d| end - d);
        for k in (0..total).map(|i| i % scripts.len()) {
            let Some(m) = scripts[k].get(cursors[k]) else {
                continue;
            };
            cursors[k] += 1;
            now += ChronoDuration::milliseconds(step_ms);
            if checkpoint_at.is_some_and(|at| now > at) {
                // Stored with the events before it, as the server's writer
                // ends a batch with a checkpoint.
                checkpoint_at = None;
                batch.push(Record::Checkpoint(CheckpointRow {
                    hall: spec.id.to_string(),
                    key: checkpoint_key(spec),
                    taken_at: now - ChronoDuration::milliseconds(step_ms),
                    state: hall.checkpoint()?,
                }));
                written += (batch.len() - 1) as u64;
                store.write(&batch).await?;
                batch.clear();
            }
            if checkpoint_before_end.is_some() && checkpoint_at.is_none() {
                tail += 1;
            }
            let inbound = topic::parse("hallwatch", &m.topic)
                .map_err(|e| anyhow::anyhow!("bench topic {}: {e:?}", m.topic))?;
            let input = payload::decode(&inbound, &m.payload)
                .map_err(|e| anyhow::anyhow!("bench message {}: {e:?}", m.id))?;
            let applied = hall.apply(&input, now);
            let refusal = applied.reply.as_ref().and_then(Reply::refusal);
            if let Some(r) = refusal {
                anyhow::bail!("bench message {} was refused: {}", m.id, r.reason.code());
            }
            let msg_id = input.msg_id().map(|m| m.as_str().to_owned());
            let to = inbound.reply_to();
            let reply =
                applied.reply.as_ref().zip(to.as_ref()).map(|(r, to)| {
                    payload::reply_json(to, msg_id.as_deref(), r, spec.tz).to_string()
                });
            let mut row = EventRow::of(&spec.id, spec.device_of(&input), &input, now);
            row.reply = reply.map(Into::into);
            batch.push(Record::Event(row));
            if batch.len() == batch.capacity() {
                store.write(&batch).await?;
                written += batch.len() as u64;
                batch.clear();
            }
        }
    }
    store.write(&batch).await?;
    written += batch.len() as u64;
    store.close().await;
    Ok(Day {
        events: written,
        tail,
    })
}

/// The server's own report of its replay: (events, milliseconds).
pub fn replay_line(log: &str) -> Option<(u64, u64)> {
    let line = log.lines().find(|l| l.contains("Replayed the event log"))?;
    let field = |name: &str| {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(name))
            .and_then(|v| v.trim_matches('"').parse::<u64>().ok())
    };
    Some((field("events=")?, field("elapsed_ms=")?))
}

/// How many halls the server's replay started from their checkpoints.
pub fn halls_from_checkpoints(log: &str) -> Option<u64> {
    log.lines()
        .find(|l| l.contains("Replayed the event log"))?
        .split_whitespace()
        .find_map(|w| w.strip_prefix("from_checkpoints="))
        .and_then(|v| v.parse().ok())
}
