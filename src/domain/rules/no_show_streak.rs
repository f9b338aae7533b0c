//! `no_show_streak`: a window marks several tickets missed in a row within
//! a short time (possible 刷号).

use chrono::{DateTime, Utc};

use super::{Def, Kind, Param, Setting, minutes, secs, window_finding, window_name};
use crate::domain::alert::{Facts, Finding, Rule, Severity};
use crate::domain::checks::{Aspects, Next};
use crate::domain::hall::Hall;

pub const RULE: Def = Def {
    name: "连续过号",
    condition: "a window marks this many tickets missed in a row within this many minutes",
    severities: &[Severity::Warning],
    reads: Aspects::DONE,
    time_based: false,
    needs_person: false,
    params: &[
        Param {
            key: "no_show_streak",
            doc: "this many no-shows in a row...",
            kind: Kind::Count,
            get: |t| Setting::Int(t.no_show_streak.streak as i64),
            set: |t, v| t.no_show_streak.streak = usize::try_from(v.int()).unwrap_or(1),
        },
        Param {
            key: "no_show_within_min",
            doc: "...within this many minutes (possible 刷号)",
            kind: Kind::Minutes,
            get: |t| Setting::Int(t.no_show_streak.within_s),
            set: |t, v| t.no_show_streak.within_s = v.int(),
        },
    ],
    prepare: None,
};

#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// This many no-shows in a row...
    pub streak: usize,
    /// ...within this many seconds.
    pub within_s: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            streak: 3,
            within_s: 900,
        }
    }
}

pub fn check(hall: &Hall, _: DateTime<Utc>, out: &mut Vec<Finding>, _: &mut Next) {
    let limits = &hall.spec.thresholds.no_show_streak;
    let n = limits.streak.max(1);
    for w in 0..hall.spec.windows.len() {
        let run = &hall.windows[w].no_show_run;
        if run.len() < n {
            continue;
        }
        // Any n in a row within the window of time.
        let hit = run
            .windows(n)
            .find(|r| r[n - 1] - r[0] <= secs(limits.within_s));
        if let Some(r) = hit {
            let facts = Facts {
                minutes: minutes(limits.within_s),
                count: n as i64,
                ..Facts::default()
            };
            out.push(window_finding(
                hall,
                w,
                Rule::NoShowStreak,
                Severity::Warning,
                r[n - 1],
                facts,
            ));
        }
    }
}

pub fn say(hall: &Hall, f: &Finding) -> String {
    format!(
        "{} {} 分钟内连续过号 {} 次，请核实",
        window_name(hall, f.facts.window),
        f.facts.minutes,
        f.facts.count
    )
}

#[cfg(test)]
mod tests {
    use super::super::testing::H;
    use crate::domain::*;

    #[test]
    fn no_show_streak_of_three_within_fifteen_minutes() {
        let mut h = H::new();
        for i in 0..3 {
            h.ticket("SB");
            h.at(i * 60);
            h.op("01", WindowOp::CallNext);
            h.op("01", WindowOp::NoShow);
            if i < 2 {
                assert_eq!(h.severity(Rule::NoShowStreak), None);
            }
        }
        assert_eq!(h.severity(Rule::NoShowStreak), Some(Severity::Warning));
        h.serve("SB");
        assert_eq!(
            h.severity(Rule::NoShowStreak),
            None,
            "a served ticket ends the streak"
        );
    }

    #[test]
    fn a_slow_no_show_streak_is_not_suspicious() {
        let mut h = H::new();
        for i in 0..3 {
            h.ticket("SB");
            h.at(i * 8 * 60); // 0, 8 and 16 minutes
            h.op("01", WindowOp::CallNext);
            h.op("01", WindowOp::NoShow);
        }
        assert_eq!(h.severity(Rule::NoShowStreak), None);
    }
}
