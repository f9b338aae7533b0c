//! `pause_too_long`: a window has been paused (暂停服务) too long.

use chrono::{DateTime, Utc};

use super::{Def, Kind, Param, Setting, graded_window, window_name};
use crate::domain::alert::{Finding, Rule, Severity};
use crate::domain::checks::{Aspects, Next};
use crate::domain::hall::Hall;

pub const RULE: Def = Def {
    name: "暂停过长",
    condition: "a window has been paused for this much of its duty",
    severities: &[Severity::Warning, Severity::Critical],
    reads: Aspects::STAFF,
    time_based: true,
    needs_person: false,
    params: &[Param {
        key: "pause_min",
        doc: "paused this long [warning, critical]",
        kind: Kind::MinutesPair,
        get: |t| {
            let (w, c) = t.pause_too_long.limits_s;
            Setting::IntPair(w, c)
        },
        set: |t, v| t.pause_too_long.limits_s = v.int_pair(),
    }],
    prepare: None,
};

#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// (warning, critical) seconds paused.
    pub limits_s: (i64, i64),
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            limits_s: (900, 1800),
        }
    }
}

pub fn check(hall: &Hall, _: DateTime<Utc>, out: &mut Vec<Finding>, next: &mut Next) {
    let limits = hall.spec.thresholds.pause_too_long.limits_s;
    for (w, state) in hall.windows.iter().enumerate() {
        if state.staff.is_none() || state.paused.is_none() {
            continue;
        }
        out.extend(graded_window(
            hall,
            w,
            Rule::PauseTooLong,
            state.since,
            limits,
            next,
        ));
    }
}

pub fn say(hall: &Hall, f: &Finding) -> String {
    format!(
        "{}暂停服务已超过 {} 分钟",
        window_name(hall, f.facts.window),
        f.facts.minutes
    )
}

#[cfg(test)]
mod tests {
    use super::super::testing::H;
    use crate::domain::*;

    #[test]
    fn pause_too_long_at_15_and_30_minutes() {
        let mut h = H::new();
        h.pause(PauseReason::Break);
        h.at(15 * 60 - 1);
        assert_eq!(h.severity(Rule::PauseTooLong), None);
        h.at(15 * 60);
        assert_eq!(h.severity(Rule::PauseTooLong), Some(Severity::Warning));
        h.at(30 * 60);
        assert_eq!(h.severity(Rule::PauseTooLong), Some(Severity::Critical));
        h.op("01", WindowOp::Resume);
        assert_eq!(h.severity(Rule::PauseTooLong), None);
    }
}
