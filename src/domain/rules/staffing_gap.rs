//! `staffing_gap`: a service short of at least one window for a while, by
//! the staffing advice's arithmetic.

use chrono::{DateTime, Utc};

use super::{Def, Kind, Param, Setting, minutes, secs, service_finding, service_name};
use crate::domain::alert::{Facts, Finding, Rule, Severity};
use crate::domain::checks::{Aspects, Next, RECHECK};
use crate::domain::hall::Hall;

pub const RULE: Def = Def {
    name: "窗口缺口",
    condition: "the windows a service needs by the day's forecast exceed the windows \
                open for it by at least one, for a while",
    severities: &[Severity::Notice],
    // The forecast counts tickets issued, not those still waiting.
    reads: Aspects::ISSUED.or(Aspects::STAFF),
    time_based: true,
    needs_person: false,
    params: &[Param {
        key: "staffing_gap_min",
        doc: "short of a window this long",
        kind: Kind::Minutes,
        get: |t| Setting::Int(t.staffing_gap.hold_s),
        set: |t, v| t.staffing_gap.hold_s = v.int(),
    }],
    prepare: Some(track),
};

#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Seconds a gap of at least one window must last.
    pub hold_s: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Self { hold_s: 600 }
    }
}

/// Notes when each service's shortfall of windows began, or that it ended.
fn track(hall: &mut Hall, now: DateTime<Utc>) {
    for (service, short) in hall.short_of_a_window(now).into_iter().enumerate() {
        if short {
            hall.gap_since.entry(service).or_insert(now);
        } else {
            hall.gap_since.remove(&service);
        }
    }
}

/// A service short of at least one window for the configured time, since
/// `track` saw the gap begin.
///
/// The forecast falls as the day passes with no new ticket, so time alone
/// can end a gap, never begin one: while one lasts, the rule is checked
/// again every second.
pub fn check(hall: &Hall, now: DateTime<Utc>, out: &mut Vec<Finding>, next: &mut Next) {
    let hold = hall.spec.thresholds.staffing_gap.hold_s;
    if !hall.gap_since.is_empty() {
        next.deadline(Some(now + RECHECK));
    }
    for (&service, &began) in &hall.gap_since {
        let since = began + secs(hold);
        if now < since {
            continue;
        }
        // The figures move with the clock; the message names the shortfall,
        // and the manager's view shows the numbers.
        let facts = Facts {
            minutes: minutes(hold),
            ..Facts::default()
        };
        out.push(service_finding(
            hall,
            service,
            Rule::StaffingGap,
            Severity::Notice,
            since,
            facts,
        ));
    }
}

pub fn say(hall: &Hall, f: &Finding) -> String {
    format!(
        "{}类窗口不足已持续 {} 分钟，建议增开窗口",
        service_name(hall, f.facts.service),
        f.facts.minutes
    )
}

#[cfg(test)]
mod tests {
    use super::super::testing::office_hall;
    use crate::domain::*;

    #[test]
    fn staffing_gap_after_ten_minutes_short_of_a_window() {
        let mut h = office_hall();
        h.at(3600); // 10:00
        for _ in 0..10 {
            h.ticket("SB"); // forecast 70: 3 windows needed, none open
        }
        assert_eq!(h.severity(Rule::StaffingGap), None);
        h.at(3600 + 10 * 60 - 1);
        assert_eq!(h.severity(Rule::StaffingGap), None, "not yet ten minutes");
        h.at(3600 + 10 * 60);
        assert_eq!(h.severity(Rule::StaffingGap), Some(Severity::Notice));
        assert!(
            h.last(Rule::StaffingGap).message.contains("建议增开"),
            "{}",
            h.last(Rule::StaffingGap).message
        );
        for w in ["01", "02", "03"] {
            h.op(
                w,
                WindowOp::Login {
                    staff: StaffId::parse("S1").unwrap(),
                    staff_name: None,
                },
            );
        }
        // SB now has 01 (half) and 02 (whole): 1.5 of 3 windows. Still short.
        assert_eq!(h.severity(Rule::StaffingGap), Some(Severity::Notice));
    }

    #[test]
    fn the_forecast_divides_by_the_share_of_office_time_passed() {
        let mut h = office_hall();
        h.at(3600); // 10:00: one of seven hours passed
        for _ in 0..30 {
            h.ticket("SB");
        }
        let sb = &h.hall.staffing(h.now)[0];
        assert_eq!(sb.issued, 30);
        assert!(
            (sb.forecast - 210.0).abs() < 1e-9,
            "30 / (1/7) = {}",
            sb.forecast
        );
        assert_eq!(sb.windows_needed, 9, "ceil(210 / 25)");
        assert_eq!(sb.staff_needed, 14, "ceil(9 × 1.5)");
        // 15:30: 3 + 2 of 7 hours.
        h.at(6 * 3600 + 30 * 60);
        let sb = &h.hall.staffing(h.now)[0];
        assert!(
            (sb.forecast - 30.0 * 7.0 / 5.0).abs() < 1e-9,
            "{}",
            sb.forecast
        );
    }

    #[test]
    fn early_in_the_morning_the_forecast_never_divides_by_less_than_an_hour() {
        let mut h = office_hall();
        h.at(10 * 60); // 09:10
        assert!((h.hall.share_of_day_passed(h.now) - 1.0 / 7.0).abs() < 1e-9);
        for _ in 0..5 {
            h.ticket("GA");
        }
        let ga = &h.hall.staffing(h.now)[1];
        assert!(
            (ga.forecast - 35.0).abs() < 1e-9,
            "5 / (1/7), not 5 / (1/42)"
        );
        assert_eq!(ga.windows_needed, 2);
        // A window serving SB and GA counts one half towards GA.
        h.op(
            "01",
            WindowOp::Login {
                staff: StaffId::parse("S1").unwrap(),
                staff_name: None,
            },
        );
        assert!(
            (h.hall.staffing(h.now)[1].windows_open - 0.5).abs() < 1e-9,
            "01 counts half; 03 is offline"
        );
    }
}
