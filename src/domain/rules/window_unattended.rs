//! `window_unattended` (空岗): a window has no staff logged in while it is
//! on duty. The alert names the rostered A角 and asks the B角 to stand in.

use chrono::{DateTime, Utc};

use super::{Def, Kind, Param, Setting, graded_window, window_name};
use crate::domain::alert::{Finding, Rule, Severity};
use crate::domain::checks::{Aspects, Next};
use crate::domain::hall::Hall;

pub const RULE: Def = Def {
    name: "窗口空岗",
    condition: "a window has had no staff logged in for this much of its duty",
    severities: &[Severity::Warning, Severity::Critical],
    reads: Aspects::STAFF,
    time_based: true,
    needs_person: false,
    params: &[Param {
        key: "unattended_min",
        doc: "no staff on a rota window [warning, critical]",
        kind: Kind::MinutesPair,
        get: |t| {
            let (w, c) = t.window_unattended.limits_s;
            Setting::IntPair(w, c)
        },
        set: |t, v| t.window_unattended.limits_s = v.int_pair(),
    }],
    prepare: None,
};

#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// (warning, critical) seconds without staff.
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
    let limits = hall.spec.thresholds.window_unattended.limits_s;
    for (w, spec) in hall.spec.windows.iter().enumerate() {
        let state = &hall.windows[w];
        // A spare window has no duty, and a window's duty alone counts.
        if !spec.on_rota || state.staff.is_some() {
            continue;
        }
        // Nobody is expected there outside its duty: its 空岗 ends with a
        // duty span (a 延时服务 morning, a lunch it does not keep), not
        // with the hall's day, and graded_window finds nothing then.
        out.extend(graded_window(
            hall,
            w,
            Rule::WindowUnattended,
            state.since,
            limits,
            next,
        ));
    }
}

pub fn say(hall: &Hall, f: &Finding) -> String {
    let mut text = format!(
        "{}空岗已超过 {} 分钟",
        window_name(hall, f.facts.window),
        f.facts.minutes
    );
    if let Some(roster) = f.facts.window.and_then(|w| roster_words(hall, w, f.since)) {
        text.push('：');
        text.push_str(&roster);
    }
    text
}

/// 「A角 张三 未到岗，请 B角 李四 顶岗」 for the shift of window `w` at `at`.
pub fn roster_words(hall: &Hall, w: usize, at: DateTime<Utc>) -> Option<String> {
    let shift = hall.spec.shift_at(w, at)?;
    let name = |i: usize| hall.spec.staff.get(i).map(|s| s.name.as_str());
    let a = name(shift.a?)?;
    Some(match shift.b.and_then(name) {
        Some(b) => format!("A角 {a} 未到岗，请 B角 {b} 顶岗"),
        None => format!("A角 {a} 未到岗"),
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::Duration;

    use super::super::testing::{H, t0};
    use crate::domain::test_spec as spec;
    use crate::domain::*;

    #[test]
    fn window_unattended_ends_with_the_windows_last_duty_of_the_day() {
        let mut s = spec();
        // Window 01 keeps the mornings only; the hall opens again at 13:30.
        s.windows[0].duty = Some(OfficeHours::weekdays(&["09:00-12:00"]));
        s.windows[1].on_rota = false;
        s.windows[2].on_rota = false;
        let mut h = H {
            hall: Hall::new(Arc::new(s), t0()),
            now: t0(),
            n: 0,
        };
        h.at(3 * 3600 - 1); // 11:59:59
        assert_eq!(h.severity(Rule::WindowUnattended), Some(Severity::Critical));
        // 13:30: the hall opens again, but window 01's duty was over for
        // the day at 12:00: nobody is expected there.
        h.at(4 * 3600 + 30 * 60);
        assert_eq!(h.severity(Rule::WindowUnattended), None);
        assert_eq!(
            h.last(Rule::WindowUnattended).state,
            AlertState::Resolved,
            "closed by itself"
        );
    }

    #[test]
    fn window_rules_rest_through_a_windows_own_break_while_the_hall_stays_open() {
        let mut s = spec();
        // 午间值班: the hall stays open through lunch; window 01 does not.
        s.hours = OfficeHours::weekdays(&["09:00-17:00"]);
        s.windows[0].duty = Some(OfficeHours::weekdays(&["09:00-12:00", "13:30-17:00"]));
        s.windows[1].duty = s.windows[0].duty.clone();
        s.windows[2].on_rota = false;
        let mut h = H {
            hall: Hall::new(Arc::new(s), t0()),
            now: t0(),
            n: 0,
        };
        h.op(
            "02",
            WindowOp::Login {
                staff: StaffId::parse("S2").unwrap(),
                staff_name: None,
            },
        );
        // A pause that runs into the break ends with the duty.
        h.at(2 * 3600 + 40 * 60); // 11:40
        h.op(
            "02",
            WindowOp::Pause {
                reason: PauseReason::Break,
            },
        );
        h.at(2 * 3600 + 56 * 60);
        assert_eq!(h.severity(Rule::PauseTooLong), Some(Severity::Warning));
        h.at(3 * 3600 - 60); // 11:59
        assert_eq!(h.severity(Rule::WindowUnattended), Some(Severity::Critical));
        h.at(3 * 3600 + 10 * 60); // 12:10: window 01 is on its break
        assert_eq!(h.severity(Rule::WindowUnattended), None);
        assert_eq!(h.last(Rule::WindowUnattended).state, AlertState::Resolved);
        assert_eq!(h.severity(Rule::PauseTooLong), None);
        // 13:30: its duty resumes with nobody there.
        h.at(4 * 3600 + 30 * 60);
        assert_eq!(h.severity(Rule::WindowUnattended), Some(Severity::Critical));
    }

    #[test]
    fn window_unattended_counts_from_opening_time_for_windows_on_the_rota() {
        let mut s = spec();
        s.windows[1].on_rota = false;
        s.windows[2].on_rota = false;
        let mut h = H {
            hall: Hall::new(Arc::new(s), t0()),
            now: t0(),
            n: 0,
        };
        // Offline since midnight, but the hall opened at 09:00.
        h.at(15 * 60 - 1);
        assert_eq!(h.severity(Rule::WindowUnattended), None);
        h.at(15 * 60);
        assert_eq!(h.severity(Rule::WindowUnattended), Some(Severity::Warning));
        assert_eq!(
            h.active(Rule::WindowUnattended).len(),
            1,
            "only the window on the rota"
        );
        h.at(30 * 60);
        assert_eq!(h.severity(Rule::WindowUnattended), Some(Severity::Critical));
        h.op(
            "01",
            WindowOp::Login {
                staff: StaffId::parse("S1").unwrap(),
                staff_name: None,
            },
        );
        assert_eq!(h.severity(Rule::WindowUnattended), None);
        // Absence counts office time only: 11:50 to 12:00, then from 13:30.
        h.at(2 * 3600 + 50 * 60); // 11:50
        h.op("01", WindowOp::Logout);
        h.at(3 * 3600 + 20 * 60); // 12:20
        assert_eq!(h.severity(Rule::WindowUnattended), None, "closed for lunch");
        h.at(4 * 3600 + 30 * 60 + 5 * 60 - 1); // 13:34:59: 14:59 of office time
        assert_eq!(h.severity(Rule::WindowUnattended), None);
        h.at(4 * 3600 + 30 * 60 + 5 * 60); // 13:35: 15 minutes of office time
        assert_eq!(h.severity(Rule::WindowUnattended), Some(Severity::Warning));
        assert_eq!(
            h.last(Rule::WindowUnattended).opened_at,
            t0() + Duration::minutes(4 * 60 + 35)
        );
    }
}
