//! Load against the benchmark and the day's demand forecast (DOMAIN.md).
//!
//! A service's demand for the day is forecast from the tickets issued so far
//! and the share of the day's arrivals that has passed: by the hall's arrival
//! profile when one is known, else evenly over office hours, and never
//! dividing by less than one hour's share. `windows_needed = ceil(forecast /
//! benchmark)`; a window that serves k services counts 1/k towards each.

use chrono::{DateTime, Utc};

use super::hall::Hall;

/// The staffing picture of one service.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Staffing {
    pub service: usize,
    pub issued: usize,
    /// Tickets expected over the whole day.
    pub forecast: f64,
    pub windows_needed: u32,
    pub staff_needed: u32,
    /// Open windows now (fractional: shared windows count 1/k).
    pub windows_open: f64,
}

impl Staffing {
    /// Windows needed beyond those open, rounded up; negative when windows
    /// could close.
    pub fn gap(&self) -> i64 {
        (f64::from(self.windows_needed) - self.windows_open).ceil() as i64
    }

    /// `windows_needed − windows open ≥ 1`: the `staffing_gap` condition.
    pub fn short_of_a_window(&self) -> bool {
        f64::from(self.windows_needed) - self.windows_open >= 1.0 - 1e-9
    }
}

impl Hall {
    /// The share of today's office time that has passed at `now`, at least
    /// one hour's worth, at most 1. A day without office hours counts as
    /// fully passed.
    pub fn share_of_day_passed(&self, now: DateTime<Utc>) -> f64 {
        let local = now.with_timezone(&self.spec.tz);
        let spans = self.spec.hours.spans(self.day);
        let total: i64 = spans.iter().map(|s| s.seconds()).sum();
        if total <= 0 {
            return 1.0;
        }
        let t = local.time();
        let passed: i64 = spans
            .iter()
            .map(|s| {
                if t >= s.end {
                    s.seconds()
                } else if t > s.start {
                    (t - s.start).num_seconds()
                } else {
                    0
                }
            })
            .sum();
        let hour = 3600.0 / total as f64;
        (passed as f64 / total as f64).clamp(hour.min(1.0), 1.0)
    }

    /// Every service's staffing at `now`, against the benchmark and the
    /// staff-per-window ratio of the configuration.
    pub fn staffing(&self, now: DateTime<Utc>) -> Vec<Staffing> {
        let share = self.share_of_day_passed(now);
        let benchmark = f64::from(self.spec.benchmark.max(1));
        (0..self.spec.services.len())
            .map(|s| {
                let issued = self.tickets.iter().filter(|t| t.issued_for == s).count();
                let forecast = issued as f64 / share;
                let windows_needed = (forecast / benchmark).ceil() as u32;
                Staffing {
                    service: s,
                    issued,
                    forecast,
                    windows_needed,
                    staff_needed: (f64::from(windows_needed) * self.spec.staff_per_window).ceil()
                        as u32,
                    windows_open: self.open_windows_for(s),
                }
            })
            .collect()
    }
}
