//! A hall's event log read back for a fold: a replay at start, or a past
//! day counted again.
//!
//! The database assembles a hall's events into one text, so a day of a
//! hall crosses the driver as one value: read a row at a time, a million
//! events cost the driver several seconds, more than folding them. A log
//! too long for one value (both databases stop near 1 GB) is read a row at
//! a time into several texts instead.

use chrono::{DateTime, Utc};

/// Between two events of a `HallLog`: the ASCII record separator, which
/// JSON text never holds (control characters are escaped inside strings
/// and are no whitespace outside them).
pub(super) const SEPARATOR: char = '\u{1e}';

/// A hall's events in log order: `seq received_at input` per event
/// (received_at in Unix milliseconds, input as JSON text), events apart by
/// `SEPARATOR`, in one text or, for a long log read a row at a time, in
/// several.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HallLog {
    texts: Vec<String>,
    len: usize,
}

/// Where a log read a row at a time starts a new text.
const TEXT_BYTES: usize = 64 << 20;

/// One event of a `HallLog`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogEntry<'a> {
    pub seq: i64,
    pub received_at: DateTime<Utc>,
    /// The domain input as stored, JSON text.
    pub input: &'a str,
}

impl HallLog {
    /// A log as the database assembled it: `text` (None for no events)
    /// and how many events it holds.
    pub(super) fn new(text: Option<String>, len: i64) -> Self {
        Self {
            texts: text.into_iter().collect(),
            len: usize::try_from(len).unwrap_or(0),
        }
    }

    /// Adds an event read on its own, after the others.
    pub(super) fn push(&mut self, seq: i64, received_at: i64, input: &str) {
        use std::fmt::Write;
        if self.texts.last().is_none_or(|t| t.len() >= TEXT_BYTES) {
            self.texts.push(String::new());
        }
        if let Some(text) = self.texts.last_mut() {
            if !text.is_empty() {
                text.push(SEPARATOR);
            }
            // Writing to a String cannot fail.
            let _ = write!(text, "{seq} {received_at} {input}");
        }
        self.len += 1;
    }

    /// How many events it holds.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The events in log order; an entry that cannot be read gives its
    /// text back as the error (the database wrote every entry, so this
    /// means damage).
    pub fn entries(&self) -> impl Iterator<Item = Result<LogEntry<'_>, &str>> {
        self.texts
            .iter()
            .flat_map(|text| text.split(SEPARATOR))
            .filter(|e| !e.is_empty())
            .map(|entry| {
                let mut fields = entry.splitn(3, ' ');
                let seq = fields.next().and_then(|s| s.parse().ok());
                let at = fields
                    .next()
                    .and_then(|s| s.parse().ok())
                    .and_then(DateTime::from_timestamp_millis);
                match (seq, at, fields.next()) {
                    (Some(seq), Some(received_at), Some(input)) => Ok(LogEntry {
                        seq,
                        received_at,
                        input,
                    }),
                    _ => Err(entry),
                }
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_gives_its_events_back_in_order_and_names_a_damaged_one() {
        let text = format!(
            "7 1000 {{\"a\":\"x y\"}}{SEPARATOR}9 2000 {{}}{SEPARATOR}bad{SEPARATOR}10 3000 []"
        );
        let log = HallLog::new(Some(text), 4);
        assert_eq!(log.len(), 4);
        let got: Vec<_> = log.entries().collect();
        assert_eq!(got.len(), 4);
        assert_eq!(
            got[0],
            Ok(LogEntry {
                seq: 7,
                received_at: DateTime::from_timestamp_millis(1000).unwrap(),
                input: "{\"a\":\"x y\"}",
            })
        );
        assert_eq!(got[1].map(|e| e.seq), Ok(9));
        assert_eq!(got[2], Err("bad"));
        assert_eq!(got[3].map(|e| e.input), Ok("[]"));
        assert!(HallLog::new(None, 0).is_empty());
        assert_eq!(HallLog::new(None, 0).entries().count(), 0);
    }

    #[test]
    fn a_log_read_a_row_at_a_time_reads_back_alike() {
        let whole = HallLog::new(Some(format!("7 1000 {{\"a\":1}}{SEPARATOR}9 2000 {{}}")), 2);
        let mut rows = HallLog::default();
        rows.push(7, 1000, "{\"a\":1}");
        rows.push(9, 2000, "{}");
        assert_eq!(rows, whole, "the same text, as the database writes it");
    }
}
