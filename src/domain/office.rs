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
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OfficeDay {
    /// The instants the local day runs over, [start, end); None where the
    /// time zone makes them inexact (a day that begins in a gap), when
    /// every question goes to `HallSpec`.
    bounds: Option<(DateTime<Utc>, DateTime<Utc>)>,
    /// The day's office spans, in order, as `HallSpec` turns them into
    /// instants (a span that does not exist in the time zone is skipped).
    spans: Vec<(DateTime<Utc>, DateTime<Utc>)>,
    /// Each window's duty spans of the day (`HallSpec::duty`), likewise.
    duty: Vec<Vec<(DateTime<Utc>, DateTime<Utc>)>>,
}

/// Spans of a local day as instants, as `HallSpec::seconds_within` makes them.
fn instants(
    spec: &HallSpec,
    hours: &super::spec::OfficeHours,
    date: NaiveDate,
) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    hours
        .spans(date)
        .iter()
        .filter_map(|span| {
            Some((
                spec.instant(date, span.start)?,
                spec.instant(date, span.end)?,
            ))
        })
        .collect()
}

/// Seconds of `spans` between `from` and `to`, counted as
/// `HallSpec::seconds_within` counts them.
fn seconds_of(
    spans: &[(DateTime<Utc>, DateTime<Utc>)],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> i64 {
    spans
        .iter()
        .map(|&(start, end)| {
            let (a, b) = (start.max(from), end.min(to));
            if b > a { (b - a).num_seconds() } else { 0 }
        })
        .sum()
}

impl OfficeDay {
    pub fn new(spec: &HallSpec, date: NaiveDate) -> Self {
        let spans = instants(spec, &spec.hours, date);
        let duty = (0..spec.windows.len())
            .map(|w| instants(spec, spec.duty(w), date))
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
        Self {
            bounds,
            spans,
            duty,
        }
    }

    /// The share of window `w`'s duty on `date` (this day) still ahead at
    /// `now`: of its duty periods, or of the hall's office hours when it
    /// has no duty that day (a spare window opened in a rush serves the
    /// hall's hours). From the kept spans; through `HallSpec` when the
    /// day's bounds are inexact in the time zone.
    pub fn duty_share_ahead(
        &self,
        spec: &HallSpec,
        date: NaiveDate,
        w: usize,
        now: DateTime<Utc>,
    ) -> f64 {
        let (Some((start, end)), Some(duty)) = (self.bounds, self.duty.get(w)) else {
            return duty_share_by_spec(spec, date, w, now);
        };
        let from = now.clamp(start, end);
        share(match seconds_of(duty, start, end) {
            0 => (
                seconds_of(&self.spans, start, end),
                seconds_of(&self.spans, from, end),
            ),
            total => (total, seconds_of(duty, from, end)),
        })
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

/// `ahead` of `total` seconds, as a share from 0 to 1.
fn share((total, ahead): (i64, i64)) -> f64 {
    if total <= 0 {
        0.0
    } else {
        (ahead as f64 / total as f64).clamp(0.0, 1.0)
    }
}

/// `OfficeDay::duty_share_ahead`, through the time zone for every span.
fn duty_share_by_spec(spec: &HallSpec, date: NaiveDate, w: usize, now: DateTime<Utc>) -> f64 {
    let start = spec.day_start(date);
    let end = date
        .succ_opt()
        .map_or(start + Duration::days(1), |d| spec.day_start(d));
    let from = now.clamp(start, end);
    share(match spec.duty_seconds(w, start, end) {
        0 => (
            spec.office_seconds(start, end),
            spec.office_seconds(from, end),
        ),
        total => (total, spec.duty_seconds(w, from, end)),
    })
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

    /// The kept day's share of each window's duty still ahead is the one
    /// `HallSpec` counts: a window with duty periods of its own, one on the
    /// rota, and a spare one, over the day and around it.
    #[test]
    fn the_kept_day_shares_duty_as_the_hall_does() {
        for tz in [chrono_tz::Asia::Shanghai, chrono_tz::America::New_York] {
            let mut spec = (*hall(tz)).clone();
            spec.windows.truncate(3);
            assert_eq!(spec.windows.len(), 3, "the test hall has three windows");
            let mut duty = spec.hours.clone();
            duty.weekly = std::array::from_fn(|_| vec![Span::parse("10:00-15:00").unwrap()]);
            spec.windows[0].duty = Some(duty);
            spec.windows[1].duty = None;
            spec.windows[1].on_rota = true;
            spec.windows[2].duty = None;
            spec.windows[2].on_rota = false;
            for date in ["2026-11-23", "2026-11-27", "2026-11-29", "2026-03-08"] {
                let date: NaiveDate = date.parse().unwrap();
                let day = OfficeDay::new(&spec, date);
                let start = spec.day_start(date) - Duration::hours(2);
                for step in 0..(28 * 4) {
                    let now = start + Duration::minutes(15 * step) + Duration::seconds(step % 7);
                    for w in 0..3 {
                        let kept = day.duty_share_ahead(&spec, date, w, now);
                        let counted = duty_share_by_spec(&spec, date, w, now);
                        assert!(
                            (kept - counted).abs() < 1e-12,
                            "{tz} {date} {now} window {w}: {kept} against {counted}"
                        );
                    }
                }
            }
        }
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
