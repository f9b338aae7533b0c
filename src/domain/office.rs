//! A hall's office hours of one local day as instants, worked out once.
//!
//! Supervision asks "when will this much office time have passed?" on every
//! check of a time-based rule, and turning local times into instants
//! through the time zone is the costliest part of the answer. Nearly every
//! such question starts on the hall's current day, so that day's spans are
//! kept as instants; any other question goes to `HallSpec` as before, and
//! both give the same answer.

use chrono::{DateTime, Duration, NaiveDate, Utc};

use super::spec::HallSpec;

/// One local day's office spans as instants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfficeDay {
    /// The instants the local day runs over, [start, end); None where the
    /// time zone makes them inexact (a day that begins in a gap), when
    /// every question goes to `HallSpec`.
    bounds: Option<(DateTime<Utc>, DateTime<Utc>)>,
    /// The day's office spans, in order, as `HallSpec` turns them into
    /// instants (a span that does not exist in the time zone is skipped).
    spans: Vec<(DateTime<Utc>, DateTime<Utc>)>,
}

impl OfficeDay {
    pub fn new(spec: &HallSpec, date: NaiveDate) -> Self {
        let spans = spec
            .hours
            .spans(date)
            .iter()
            .filter_map(|span| {
                Some((
                    spec.instant(date, span.start)?,
                    spec.instant(date, span.end)?,
                ))
            })
            .collect();
        let bounds = date.succ_opt().and_then(|next| {
            let (start, end) = (spec.day_start(date), spec.day_start(next));
            let ms = Duration::milliseconds(1);
            // The day's first and last instants, exactly.
            let exact = spec.local_date(start) == date
                && spec.local_date(start - ms) < date
                && spec.local_date(end - ms) == date
                && spec.local_date(end) == next;
            exact.then_some((start, end))
        });
        Self { bounds, spans }
    }

    /// `HallSpec::office_deadline`: when `secs` seconds of office time
    /// have passed since `base`, up to a week ahead.
    pub fn deadline(
        &self,
        spec: &HallSpec,
        base: DateTime<Utc>,
        secs: i64,
    ) -> Option<DateTime<Utc>> {
        let Some((start, end)) = self.bounds.filter(|(s, e)| *s <= base && base < *e) else {
            return spec.office_deadline(base, secs);
        };
        let mut left = secs.max(0);
        for &(open, close) in &self.spans {
            let from = open.max(base);
            if close <= from {
                continue;
            }
            let available = (close - from).num_seconds();
            if left <= available {
                return Some(from + Duration::seconds(left));
            }
            left -= available;
        }
        // Past this day: the next days as `HallSpec` counts them, from the
        // next local midnight, for the rest of its week.
        debug_assert!(start <= base);
        spec.office_deadline_within(end, left, 7)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::spec::{OfficeHours, Span};
    use std::sync::Arc;

    fn hall(tz: chrono_tz::Tz) -> Arc<HallSpec> {
        let mut spec = crate::domain::test_spec();
        spec.tz = tz;
        let day = vec![
            Span::parse("08:30-12:00").unwrap(),
            Span::parse("14:00-17:30").unwrap(),
        ];
        let mut weekly: [Vec<Span>; 7] = Default::default();
        for (i, w) in weekly.iter_mut().enumerate() {
            // Closed on Sundays, a short Saturday, and a night span on Fridays.
            *w = match i {
                6 => vec![],
                5 => vec![Span::parse("09:00-12:00").unwrap()],
                4 => vec![day[0], day[1], Span::parse("19:00-24:00").unwrap()],
                _ => day.clone(),
            };
        }
        spec.hours = OfficeHours {
            weekly,
            exceptions: Default::default(),
        };
        Arc::new(spec)
    }

    /// The kept day answers every question as `HallSpec` does: bases all
    /// over the day and around it, limits from nothing to
    /// past the eight days it looks at.
    #[test]
    fn the_kept_day_answers_as_the_hall_does() {
        for tz in [chrono_tz::Asia::Shanghai, chrono_tz::America::New_York] {
            let spec = hall(tz);
            // Around the spring and autumn clock changes in New York too.
            for date in [
                "2026-11-23",
                "2026-11-27",
                "2026-11-28",
                "2026-03-08",
                "2026-11-01",
            ] {
                let date: NaiveDate = date.parse().unwrap();
                let day = OfficeDay::new(&spec, date);
                let start = spec.day_start(date) - Duration::hours(3);
                for step in 0..(30 * 4) {
                    let base = start + Duration::minutes(15 * step) + Duration::seconds(step % 7);
                    for secs in [0, 1, 59, 600, 1800]
                        .into_iter()
                        .chain([3, 7, 30, 45, 52, 56, 400].map(|h| h * 3600))
                    {
                        assert_eq!(
                            day.deadline(&spec, base, secs),
                            spec.office_deadline(base, secs),
                            "{tz} {date} base {base} secs {secs}"
                        );
                    }
                }
            }
        }
    }
}
