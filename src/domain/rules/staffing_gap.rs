//! `staffing_gap`: a service whose remaining demand the staffed windows
//! cannot take, by this many cases, for a while: the staffing advice's
//! shortfall (`load.rs`).

use chrono::{DateTime, Utc};

use super::{Def, Kind, Param, Setting, minutes, secs, service_finding, service_name};
use crate::domain::alert::{Facts, Finding, Rule, Severity};
use crate::domain::checks::{Aspects, Next, RECHECK};
use crate::domain::hall::Hall;

pub const RULE: Def = Def {
    name: "窗口缺口",
    condition: "a service's remaining demand for the day (forecast less finished, in \
                cases) exceeds what the staffed windows can still take, pooled, by at \
                least the threshold, for a while",
    severities: &[Severity::Notice],
    // The forecast counts tickets issued, the demand what was finished,
    // the capacity who is at which window.
    reads: Aspects::ISSUED.or(Aspects::STAFF).or(Aspects::DONE),
    time_based: true,
    needs_person: false,
    params: &[
        Param {
            key: "staffing_gap_cases",
            doc: "short by this many cases (people at windows that count people)",
            kind: Kind::Count,
            get: |t| Setting::Int(t.staffing_gap.cases),
            set: |t, v| t.staffing_gap.cases = v.int(),
        },
        Param {
            key: "staffing_gap_min",
            doc: "short this long",
            kind: Kind::Minutes,
            get: |t| Setting::Int(t.staffing_gap.hold_s),
            set: |t, v| t.staffing_gap.hold_s = v.int(),
        },
    ],
    prepare: Some(track),
};

#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Cases short, at least.
    pub cases: i64,
    /// Seconds a shortfall of at least `cases` must last.
    pub hold_s: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            cases: 5,
            hold_s: 600,
        }
    }
}

/// Whether a shortfall reaches the threshold.
fn short(shortfall: f64, cases: i64) -> bool {
    shortfall >= cases as f64 - 1e-9
}

/// Notes when each service's shortfall began, or that it ended.
fn track(hall: &mut Hall, now: DateTime<Utc>) {
    let cases = hall.spec.thresholds.staffing_gap.cases;
    for (service, shortfall) in hall.shortfalls(now).into_iter().enumerate() {
        if short(shortfall, cases) {
            hall.gap_since.entry(service).or_insert(now);
        } else {
            hall.gap_since.remove(&service);
        }
    }
}

/// A service short by the threshold for the configured time, since `track`
/// saw the shortfall begin.
///
/// The demand and the windows' capacity both move with the clock (the
/// forecast falls as the day passes with no new ticket, and so does what
/// the windows can still do), so time alone can begin or end a shortfall:
/// while the hall has demand, the rule is checked again every second.
pub fn check(hall: &Hall, now: DateTime<Utc>, out: &mut Vec<Finding>, next: &mut Next) {
    let hold = hall.spec.thresholds.staffing_gap.hold_s;
    if !hall.gap_since.is_empty() || hall.seq.iter().any(|&n| n > 0) {
        next.deadline(Some(now + RECHECK));
    }
    // The figures are worked out only once a shortfall has lasted: until
    // then `track` alone looks at them.
    if hall.gap_since.values().all(|&began| now < began + secs(hold)) {
        return;
    }
    let (open, shortfalls) = hall.opening_and_shortfalls(now);
    for (&service, &began) in &hall.gap_since {
        let since = began + secs(hold);
        if now < since {
            continue;
        }
        // The figures move with the clock; the message names them as the
        // alert opens, and the manager's view shows them live.
        let facts = Facts {
            minutes: minutes(hold),
            count: shortfalls.get(service).map_or(0, |x| x.round() as i64),
            window: open.filter(|&w| hall.spec.windows[w].services.contains(&service)),
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
    let name = service_name(hall, f.facts.service);
    let category = if name.ends_with('类') {
        name.to_owned()
    } else {
        format!("{name}类")
    };
    let mut text = format!(
        "{category}预计缺口 {} 件，已持续 {} 分钟",
        f.facts.count, f.facts.minutes
    );
    match f.facts.window {
        Some(w) => text.push_str(&format!("，建议开放 {}", hall.spec.windows[w].name)),
        None => text.push_str("，请调配窗口"),
    }
    text
}

#[cfg(test)]
mod tests {
    use super::super::testing::office_hall;
    use crate::domain::*;

    fn login(h: &mut super::super::testing::H, w: &str) {
        h.op(
            w,
            WindowOp::Login {
                staff: StaffId::parse("S1").unwrap(),
                staff_name: None,
            },
        );
    }

    #[test]
    fn staffing_gap_after_ten_minutes_short_by_five_cases() {
        let mut h = office_hall();
        h.at(3600); // 10:00: 03 (登记注册 alone) can still do 25 × 6/7 = 21.4
        login(&mut h, "03");
        for _ in 0..3 {
            h.ticket("QY"); // forecast 21: within 21.4
        }
        h.at(3600 + 60);
        assert_eq!(h.hall.shortfalls(h.now)[2], 0.0);
        h.ticket("QY");
        h.ticket("QY"); // 10:01: 5 / (61/420) = 34.4 against 21.3: short by 13.1
        assert!(h.hall.shortfalls(h.now)[2] >= 5.0);
        assert_eq!(h.severity(Rule::StaffingGap), None);
        h.at(3600 + 60 + 10 * 60 - 1);
        assert_eq!(h.severity(Rule::StaffingGap), None, "not yet ten minutes");
        h.at(3600 + 60 + 10 * 60);
        assert_eq!(h.severity(Rule::StaffingGap), Some(Severity::Notice));
        let message = &h.last(Rule::StaffingGap).message;
        assert!(
            message.starts_with("登记注册类预计缺口 ") && message.contains("已持续 10 分钟"),
            "{message}"
        );
        // Finishing cases takes them off the demand: 8 tickets of 2
        // matters each are 16 cases done, 2 a ticket: the day's 31.5
        // tickets are 63 cases, 47 left... still short. A window that
        // serves 登记注册 ends it only with the capacity to match.
        for _ in 0..5 {
            h.op("03", WindowOp::CallNext);
            h.op(
                "03",
                WindowOp::Finish {
                    outcome: Outcome::Consulted,
                    case: None,
                    items: 1,
                },
            );
        }
        // Consultations are no cases: 登记注册 expects none any more.
        assert_eq!(h.hall.shortfalls(h.now)[2], 0.0);
        assert_eq!(h.severity(Rule::StaffingGap), None);
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
    }
}
