//! `window_overload`: a window far above its benchmark today (cases, or
//! people where its benchmark counts people): a notice to the manager that
//! the other windows are underused, not a finding against the window.

use chrono::{DateTime, Utc};

use super::{Def, Kind, Param, Setting, window_finding};
use crate::domain::alert::{Facts, Finding, Rule, Severity};
use crate::domain::checks::{Aspects, Next};
use crate::domain::hall::Hall;
use crate::domain::spec::BenchmarkUnit;

pub const RULE: Def = Def {
    name: "窗口负荷不均",
    condition: "a window's cases finished today (people, where its benchmark counts \
                people) reach this ratio of its benchmark: a notice to the manager that \
                other windows are underused, not a finding against the window",
    severities: &[Severity::Notice],
    reads: Aspects::DONE,
    time_based: false,
    needs_person: false,
    params: &[Param {
        key: "overload",
        doc: "cases / benchmark at or above this",
        kind: Kind::Number,
        get: |t| Setting::Num(t.window_overload.ratio),
        set: |t, v| t.window_overload.ratio = v.num(),
    }],
    prepare: None,
};

#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Load (cases ÷ benchmark) at or above which the manager is told.
    pub ratio: f64,
}

impl Default for Limits {
    fn default() -> Self {
        Self { ratio: 1.2 }
    }
}

pub fn check(hall: &Hall, now: DateTime<Utc>, out: &mut Vec<Finding>, _: &mut Next) {
    let ratio = hall.spec.thresholds.window_overload.ratio;
    for w in 0..hall.spec.windows.len() {
        let load = hall.load(w);
        if load < ratio {
            continue;
        }
        let facts = Facts {
            count: i64::from(hall.counted_today(w)),
            ratio: load,
            ..Facts::default()
        };
        let mut f = window_finding(
            hall,
            w,
            Rule::WindowOverload,
            Severity::Notice,
            now,
            facts,
        );
        // About the hall's balance, not against the window: the alert
        // names the window in its words only, and counts in no window's
        // figures.
        f.window = None;
        out.push(f);
    }
}

pub fn say(hall: &Hall, f: &Finding) -> String {
    let Some(w) = f.facts.window else {
        return String::new();
    };
    let spec = &hall.spec.windows[w];
    let unit = match spec.counts {
        BenchmarkUnit::Cases => "件",
        BenchmarkUnit::People => "人次",
    };
    let mut text = format!(
        "{}今日已办 {} {unit}，为基准 {} {unit}的 {:.0}%，其他窗口负荷偏低",
        spec.name,
        f.facts.count,
        spec.benchmark,
        f.facts.ratio * 100.0
    );
    // The least loaded staffed window that shares a service with it.
    let other = (0..hall.spec.windows.len())
        .filter(|&o| o != w && hall.windows[o].staff.is_some())
        .filter(|&o| {
            hall.spec.windows[o]
                .services
                .iter()
                .any(|s| spec.services.contains(s))
        })
        .min_by(|&a, &b| hall.load(a).total_cmp(&hall.load(b)).then(a.cmp(&b)));
    match other {
        Some(o) => text.push_str(&format!(
            "，可引导群众到 {}（负荷 {:.0}%）办理",
            hall.spec.windows[o].name,
            hall.load(o) * 100.0
        )),
        None => text.push_str("，请调配窗口分流"),
    }
    text
}

#[cfg(test)]
mod tests {
    use super::super::testing::H;
    use crate::domain::*;

    fn finish(h: &mut H, outcome: Outcome, items: u32) {
        h.ticket("SB");
        h.op("01", WindowOp::CallNext);
        h.op(
            "01",
            WindowOp::Finish {
                outcome,
                case: None,
                items,
            },
        );
    }

    #[test]
    fn window_overload_is_a_notice_at_120_percent_of_the_benchmark_in_cases() {
        let mut h = H::new();
        for _ in 0..29 {
            h.serve("SB");
        }
        assert_eq!(h.severity(Rule::WindowOverload), None, "29 of 25");
        h.serve("SB");
        assert_eq!(
            h.severity(Rule::WindowOverload),
            Some(Severity::Notice),
            "30 of 25"
        );
        for _ in 0..30 {
            h.serve("SB");
        }
        assert_eq!(
            h.severity(Rule::WindowOverload),
            Some(Severity::Notice),
            "never more than a notice"
        );
        let a = h.last(Rule::WindowOverload);
        assert_eq!(a.window, None, "not against the window");
        assert_eq!(a.subject, Subject::Window(WindowId::parse("01").unwrap()));
        assert!(
            a.message.starts_with("1号窗口今日已办 30 件，为基准 25 件的 120%，其他窗口负荷偏低"),
            "{}",
            a.message
        );
    }

    #[test]
    fn cases_count_items_and_consultations_count_none() {
        let mut h = H::new();
        // 10 consultations: 10 tickets, no case.
        for _ in 0..10 {
            finish(&mut h, Outcome::Consulted, 1);
        }
        assert_eq!(h.hall.windows()[0].served_today, 10);
        assert_eq!(h.hall.windows()[0].cases_today, 0);
        assert_eq!(h.hall.load(0), 0.0);
        // 10 tickets of 3 matters each: 30 cases, 120 % of 25.
        for _ in 0..9 {
            finish(&mut h, Outcome::Completed, 3);
        }
        assert_eq!(h.severity(Rule::WindowOverload), None, "27 cases");
        finish(&mut h, Outcome::Accepted, 3);
        assert_eq!(h.hall.windows()[0].served_today, 20);
        assert_eq!(h.hall.windows()[0].cases_today, 30);
        assert_eq!(h.severity(Rule::WindowOverload), Some(Severity::Notice));
    }

    #[test]
    fn a_window_whose_benchmark_counts_people_counts_tickets() {
        let mut s = crate::domain::test_spec();
        s.windows[0].counts = BenchmarkUnit::People;
        s.windows[0].benchmark = 10;
        let mut h = H::with_spec(s);
        for _ in 0..12 {
            finish(&mut h, Outcome::Consulted, 1);
        }
        assert!((h.hall.load(0) - 1.2).abs() < 1e-9, "12 people of 10");
        assert_eq!(h.severity(Rule::WindowOverload), Some(Severity::Notice));
        assert!(
            h.last(Rule::WindowOverload).message.contains("已办 12 人次"),
            "{}",
            h.last(Rule::WindowOverload).message
        );
    }
}
