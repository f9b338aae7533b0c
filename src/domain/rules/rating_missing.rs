//! `rating_missing`: too few of a window's finished tickets are rated today
//! (评价率).

use chrono::{DateTime, Utc};

use super::{Def, Kind, Param, Setting, window_finding, window_name};
use crate::domain::alert::{Facts, Finding, Rule, Severity};
use crate::domain::checks::{Aspects, Next};
use crate::domain::hall::Hall;

pub const RULE: Def = Def {
    name: "评价率低",
    condition: "the share of a window's finished tickets rated today is below the \
                limit, once it has finished enough",
    severities: &[Severity::Notice],
    reads: Aspects::DONE.or(Aspects::RATINGS),
    time_based: false,
    needs_person: false,
    params: &[
        Param {
            key: "rating_share",
            doc: "rated share below this...",
            kind: Kind::Share,
            get: |t| Setting::Num(t.rating_missing.share),
            set: |t, v| t.rating_missing.share = v.num(),
        },
        Param {
            key: "rating_after",
            doc: "...after this many finished tickets",
            kind: Kind::Count,
            get: |t| Setting::Int(i64::from(t.rating_missing.after)),
            set: |t, v| t.rating_missing.after = u32::try_from(v.int()).unwrap_or(u32::MAX),
        },
    ],
    prepare: None,
};

#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Rated share below this...
    pub share: f64,
    /// ...once a window has finished this many tickets.
    pub after: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            share: 0.5,
            after: 20,
        }
    }
}

pub fn check(hall: &Hall, now: DateTime<Utc>, out: &mut Vec<Finding>, _: &mut Next) {
    let limits = &hall.spec.thresholds.rating_missing;
    for w in 0..hall.spec.windows.len() {
        let state = &hall.windows[w];
        if state.served_today < limits.after {
            continue;
        }
        let share = f64::from(state.rated_today) / f64::from(state.served_today);
        if share < limits.share {
            let facts = Facts {
                count: i64::from(state.rated_today),
                total: i64::from(state.served_today),
                ratio: share,
                ..Facts::default()
            };
            out.push(window_finding(
                hall,
                w,
                Rule::RatingMissing,
                Severity::Notice,
                now,
                facts,
            ));
        }
    }
}

pub fn say(hall: &Hall, f: &Finding) -> String {
    format!(
        "{}今日评价率 {:.0}%（{}/{}），低于 {:.0}%",
        window_name(hall, f.facts.window),
        f.facts.ratio * 100.0,
        f.facts.count,
        f.facts.total,
        hall.spec.thresholds.rating_missing.share * 100.0
    )
}

#[cfg(test)]
mod tests {
    use super::super::testing::H;
    use crate::domain::*;

    #[test]
    fn rating_missing_after_twenty_finished_with_under_half_rated() {
        let mut h = H::new();
        for i in 0..20 {
            h.serve("SB");
            if i < 9 {
                h.rate("01", 5);
            }
        }
        assert_eq!(
            h.severity(Rule::RatingMissing),
            Some(Severity::Notice),
            "9 of 20"
        );
        h.serve("SB");
        h.rate("01", 5);
        h.serve("SB");
        h.rate("01", 5);
        assert_eq!(h.severity(Rule::RatingMissing), None, "11 of 22");
    }
}
