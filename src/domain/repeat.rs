//! The calendar month's tally behind the repeat findings (屡查屡犯): each
//! staff member's lapses (迟到, 未到岗, 离岗, 早退) on the month's earlier days.
//!
//! Today's lapses the hall counts from its logins; earlier days' come from
//! their figures: those the hall ended itself, and those kept in the store
//! that a start hands over (`Hall::keep_past_days`), so the tally survives
//! restarts. A department's 红牌 need no tally here: the case book keeps
//! every card.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};

use super::ids::StaffId;
use super::stats::DayFigures;

/// Lapses per staff member on each day kept of the current month (and
/// any later: a start hands over every kept day, some of which its replay
/// then ends again, each replacing itself).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MonthTally {
    days: BTreeMap<NaiveDate, BTreeMap<StaffId, u32>>,
    /// The sum over the days of the month before today, per staff member.
    totals: BTreeMap<StaffId, u32>,
}

fn month_start(d: NaiveDate) -> NaiveDate {
    d.with_day(1).unwrap_or(d)
}

impl MonthTally {
    /// Keeps the lapses of a day of `today`'s month or later (a day kept
    /// again replaces itself; an earlier month's is over).
    pub fn keep(&mut self, figures: &DayFigures, today: NaiveDate) {
        if figures.date < month_start(today) {
            return;
        }
        let lapses: BTreeMap<StaffId, u32> = figures
            .staff
            .iter()
            .filter_map(|f| {
                let n = f.attendance?.lapses();
                let id = StaffId::parse(&f.key).ok()?;
                (n > 0).then_some((id, n))
            })
            .collect();
        self.days.insert(figures.date, lapses);
        self.total(today);
    }

    /// A new day: what is not of its month is over.
    pub fn start(&mut self, today: NaiveDate) {
        self.days.retain(|d, _| *d >= month_start(today));
        self.total(today);
    }

    fn total(&mut self, today: NaiveDate) {
        self.totals.clear();
        for day in self.days.range(month_start(today)..today).map(|(_, d)| d) {
            for (id, n) in day {
                *self.totals.entry(id.clone()).or_default() += n;
            }
        }
    }

    /// A staff member's lapses on the month's earlier days.
    pub fn before_today(&self, id: &StaffId) -> u32 {
        self.totals.get(id).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Attendance, Figures};

    fn day(date: &str, staff: &[(&str, u32, u32, u32)]) -> DayFigures {
        let mut f = DayFigures {
            hall: "h".into(),
            hall_name: "h".into(),
            date: date.parse().unwrap(),
            complete: true,
            at: chrono::DateTime::parse_from_rfc3339("2026-11-02T00:00:00+08:00").unwrap(),
            total: Figures::default(),
            services: Vec::new(),
            windows: Vec::new(),
            staff: Vec::new(),
            alerts: Default::default(),
            hourly: Vec::new(),
            appointments: Default::default(),
        };
        f.staff = staff
            .iter()
            .map(|&(id, late, not_arrived, absences)| Figures {
                key: id.into(),
                attendance: Some(Attendance {
                    shifts: 2,
                    late,
                    not_arrived,
                    early_leave: 1,
                    absences,
                    absent_s: 0,
                }),
                ..f.total.clone()
            })
            .collect();
        f
    }

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn counts_the_lapses_of_the_months_earlier_days_once_each() {
        let mut t = MonthTally::default();
        let today = date("2026-11-20");
        let s1 = StaffId::parse("S1").unwrap();
        t.keep(
            &day("2026-11-02", &[("S1", 1, 0, 1), ("S2", 0, 0, 0)]),
            today,
        );
        // The same day kept again (a start after a roll) replaces itself.
        t.keep(&day("2026-11-02", &[("S1", 1, 0, 1)]), today);
        t.keep(&day("2026-11-03", &[("S1", 0, 1, 0)]), today);
        // Not the month's, or not before today: not counted today.
        t.keep(&day("2026-10-31", &[("S1", 5, 0, 0)]), today);
        t.keep(&day("2026-11-20", &[("S1", 5, 0, 0)]), today);
        assert_eq!(t.before_today(&s1), 5, "an early leave each day too");
        // The next day, today's is counted.
        t.start(date("2026-11-21"));
        assert_eq!(t.before_today(&s1), 11);
        assert_eq!(t.before_today(&StaffId::parse("S2").unwrap()), 0);
        // A new month starts from nothing.
        t.start(date("2026-12-01"));
        assert_eq!(t.before_today(&s1), 0);
    }
}
