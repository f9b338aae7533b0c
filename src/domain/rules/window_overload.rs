//! `window_overload`: a window has served at or above its benchmark today:
//! a notice to the manager that others are underused, not a finding
//! against the window.

use chrono::{DateTime, Utc};

use super::{Def, Kind, Param, Setting, window_finding, window_name};
use crate::domain::alert::{Facts, Finding, Rule, Severity};
use crate::domain::checks::{Aspects, Next};
use crate::domain::hall::Hall;

pub const RULE: Def = Def {
    name: "窗口超负荷",
    condition: "a window's tickets finished today, over its benchmark, reach the \
                notice and then the warning ratio",
    severities: &[Severity::Notice, Severity::Warning],
    reads: Aspects::DONE,
    time_based: false,
    needs_person: false,
    params: &[Param {
        key: "overload",
        doc: "served / benchmark [notice, warning]",
        kind: Kind::NumberPair,
        get: |t| {
            let (n, w) = t.window_overload.ratios;
            Setting::NumPair(n, w)
        },
        set: |t, v| t.window_overload.ratios = v.num_pair(),
    }],
    prepare: None,
};

#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Served ÷ benchmark at or above (notice, warning).
    pub ratios: (f64, f64),
}

impl Default for Limits {
    fn default() -> Self {
        Self { ratios: (1.0, 1.2) }
    }
}

pub fn check(hall: &Hall, now: DateTime<Utc>, out: &mut Vec<Finding>, _: &mut Next) {
    let (notice, warning) = hall.spec.thresholds.window_overload.ratios;
    for w in 0..hall.spec.windows.len() {
        let load = hall.load(w);
        let severity = if load >= warning {
            Severity::Warning
        } else if load >= notice {
            Severity::Notice
        } else {
            continue;
        };
        let facts = Facts {
            count: i64::from(hall.windows[w].served_today),
            ratio: load,
            ..Facts::default()
        };
        out.push(window_finding(
            hall,
            w,
            Rule::WindowOverload,
            severity,
            now,
            facts,
        ));
    }
}

pub fn say(hall: &Hall, f: &Finding) -> String {
    let benchmark = f.facts.window.map_or(0, |w| hall.spec.windows[w].benchmark);
    format!(
        "{}今日已办 {} 件，为基准 {benchmark} 件的 {:.0}%",
        window_name(hall, f.facts.window),
        f.facts.count,
        f.facts.ratio * 100.0
    )
}

#[cfg(test)]
mod tests {
    use super::super::testing::H;
    use crate::domain::*;

    #[test]
    fn window_overload_at_100_and_120_percent() {
        let mut h = H::new();
        let serve = |h: &mut H, n: usize| {
            for _ in 0..n {
                h.serve("SB");
            }
        };
        serve(&mut h, 24);
        assert_eq!(h.severity(Rule::WindowOverload), None);
        serve(&mut h, 1);
        assert_eq!(
            h.severity(Rule::WindowOverload),
            Some(Severity::Notice),
            "25 of 25"
        );
        serve(&mut h, 5);
        assert_eq!(
            h.severity(Rule::WindowOverload),
            Some(Severity::Warning),
            "30 of 25"
        );
    }
}
