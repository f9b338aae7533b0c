//! `rating_integrity`: a window's ratings (好差评) look given by someone
//! other than the citizen it served. A notice to the supervisor, one per
//! window, whatever the reasons:
//! - a rating arrived under `rating_staff_press_s` (1 s) after the finish:
//!   too soon for the citizen, so a press by staff;
//! - every rating of the day at the window arrived within `rating_quick_s`
//!   (2 s) of the finish, once it has `rating_quick_after` (10) ratings;
//! - the window's pad rated while nobody was logged in at the window.
//!
//! Each rating is weighed once, when it is taken (`Hall::rate`), into the
//! window's `RatingAudit`; this rule reads the tallies. The same rule's
//! `rating_untagged_s` says how long after a window's last finish a rating
//! without a ticket number is still taken (else `no_ticket`).

use chrono::{DateTime, Utc};

use super::{Def, Kind, Param, Setting, window_finding, window_name};
use crate::domain::alert::{Facts, Finding, Rule, Severity};
use crate::domain::checks::{Aspects, Next};
use crate::domain::hall::Hall;

pub const RULE: Def = Def {
    name: "评价异常",
    condition: "a window's ratings look given by staff, not the citizen: one arrived \
                under `rating_staff_press_s` after the finish, every one of the day \
                arrived within `rating_quick_s` of it (once there are \
                `rating_quick_after`), or its pad rated while nobody was logged in",
    severities: &[Severity::Notice],
    reads: Aspects::RATINGS,
    time_based: false,
    needs_person: false,
    params: &[
        Param {
            key: "rating_untagged_s",
            doc: "a rating without a ticket number is taken this many seconds after the window's last finish, no later",
            kind: Kind::Number,
            get: |t| Setting::Num(t.rating_integrity.untagged_s),
            set: |t, v| t.rating_integrity.untagged_s = v.num(),
        },
        Param {
            key: "rating_staff_press_s",
            doc: "a rating sooner than this many seconds after the finish is taken for a press by staff",
            kind: Kind::Number,
            get: |t| Setting::Num(t.rating_integrity.staff_press_s),
            set: |t, v| t.rating_integrity.staff_press_s = v.num(),
        },
        Param {
            key: "rating_quick_s",
            doc: "every rating of a window's day within this many seconds of the finish...",
            kind: Kind::Number,
            get: |t| Setting::Num(t.rating_integrity.quick_s),
            set: |t, v| t.rating_integrity.quick_s = v.num(),
        },
        Param {
            key: "rating_quick_after",
            doc: "...once the window has this many ratings",
            kind: Kind::Count,
            get: |t| Setting::Int(i64::from(t.rating_integrity.quick_after)),
            set: |t, v| t.rating_integrity.quick_after = u32::try_from(v.int()).unwrap_or(u32::MAX),
        },
    ],
    prepare: None,
};

#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Seconds after a window's last finish during which a rating without
    /// a ticket number is taken for that ticket.
    pub untagged_s: f64,
    /// A rating sooner than this after the finish is a press by staff.
    pub staff_press_s: f64,
    /// Every rating of the day within this of the finish...
    pub quick_s: f64,
    /// ...once the window has this many ratings.
    pub quick_after: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            untagged_s: 120.0,
            staff_press_s: 1.0,
            quick_s: 2.0,
            quick_after: 10,
        }
    }
}

impl Limits {
    /// Milliseconds, for comparing with the time from finish to rating.
    pub fn ms(s: f64) -> i64 {
        (s * 1000.0).round().clamp(0.0, i64::MAX as f64) as i64
    }
}

/// Whether window `w`'s ratings of the day all came quickly: at least
/// `quick_after` of them, each within `quick_s` of its finish.
fn all_quick(hall: &Hall, w: usize) -> bool {
    let state = &hall.windows[w];
    let after = hall.spec.thresholds.rating_integrity.quick_after;
    state.rated_today >= after.max(1) && state.rating_audit.quick >= state.rated_today
}

/// A finding per window with any doubtful rating today; its `count` is
/// the ratings in doubt (all of the day's, when they all came quickly).
pub fn check(hall: &Hall, now: DateTime<Utc>, out: &mut Vec<Finding>, _: &mut Next) {
    for w in 0..hall.spec.windows.len() {
        let state = &hall.windows[w];
        let audit = &state.rating_audit;
        let quick = all_quick(hall, w);
        if audit.suspect == 0 && !quick {
            continue;
        }
        let facts = Facts {
            count: i64::from(if quick {
                state.rated_today
            } else {
                audit.suspect
            }),
            total: i64::from(state.rated_today),
            ..Facts::default()
        };
        out.push(window_finding(
            hall,
            w,
            Rule::RatingIntegrity,
            Severity::Notice,
            now,
            facts,
        ));
    }
}

pub fn say(hall: &Hall, f: &Finding) -> String {
    let Some(w) = f.facts.window else {
        return String::new();
    };
    let limits = &hall.spec.thresholds.rating_integrity;
    let state = &hall.windows[w];
    let audit = &state.rating_audit;
    let mut why = Vec::new();
    if audit.pressed > 0 {
        why.push(format!(
            "{} 次评价在办结后 {} 秒内提交，疑为工作人员代评",
            audit.pressed, limits.staff_press_s
        ));
    }
    if audit.logged_out > 0 {
        why.push(format!(
            "{} 次评价在窗口无人登录时提交",
            audit.logged_out
        ));
    }
    if all_quick(hall, w) {
        why.push(format!(
            "今日 {} 次评价全部在办结后 {} 秒内提交",
            state.rated_today, limits.quick_s
        ));
    }
    format!("{}评价异常：{}", window_name(hall, Some(w)), why.join("；"))
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::super::testing::{H, finish};
    use crate::domain::*;

    fn rate_at(h: &mut H, ms: i64, ticket: Option<&str>) -> Reply {
        h.now += Duration::milliseconds(ms);
        let id = h.id();
        let input = Input::Rating {
            window: WindowId::parse("01").unwrap(),
            id,
            rating: RatingInput::new(ticket.map(|t| TicketNo::parse(t).unwrap()), 5, None),
        };
        h.hall.apply(&input, h.now).reply.unwrap()
    }

    /// A ticket served at window 01, finished at the harness's `now`.
    fn served(h: &mut H) {
        h.ticket("SB");
        h.op("01", WindowOp::CallNext);
        h.op("01", finish());
    }

    #[test]
    fn a_rating_under_a_second_after_the_finish_is_a_notice() {
        let mut h = H::new();
        served(&mut h);
        rate_at(&mut h, 1500, None);
        assert!(h.active(Rule::RatingIntegrity).is_empty(), "1.5 s: a citizen");
        h.at(60);
        served(&mut h);
        rate_at(&mut h, 999, None);
        let a = h.last(Rule::RatingIntegrity);
        assert_eq!((a.severity, a.count), (Severity::Notice, Some(1)));
        assert!(a.message.contains("代评"), "{}", a.message);
        // A second one is the same notice, counted.
        h.at(120);
        served(&mut h);
        rate_at(&mut h, 200, None);
        assert_eq!(h.active(Rule::RatingIntegrity).len(), 1);
        assert_eq!(h.last(Rule::RatingIntegrity).count, Some(2));
    }

    #[test]
    fn a_window_whose_every_rating_comes_at_once_is_a_notice_after_ten() {
        let mut h = H::new();
        for n in 0..10 {
            h.at(n * 60);
            served(&mut h);
            assert!(h.active(Rule::RatingIntegrity).is_empty(), "rating {n}");
            rate_at(&mut h, 1800, None);
        }
        let a = h.last(Rule::RatingIntegrity);
        assert_eq!(a.count, Some(10));
        assert!(a.message.contains("全部"), "{}", a.message);
        // One citizen who takes their time clears it.
        h.at(11 * 60);
        served(&mut h);
        rate_at(&mut h, 30_000, None);
        assert!(h.active(Rule::RatingIntegrity).is_empty());
    }

    #[test]
    fn a_pad_that_rates_while_its_window_is_logged_out_is_taken_and_noticed() {
        let mut h = H::new();
        served(&mut h);
        h.now += Duration::seconds(5);
        h.op("01", WindowOp::Logout);
        let reply = rate_at(&mut h, 5000, None);
        assert!(reply.refusal().is_none(), "{reply:?}");
        let a = h.last(Rule::RatingIntegrity);
        assert!(a.message.contains("无人登录"), "{}", a.message);
    }

    #[test]
    fn a_rating_without_a_ticket_is_taken_only_shortly_after_the_last_finish() {
        let mut h = H::new();
        served(&mut h); // B001 finished at 09:00:00
        let late = rate_at(&mut h, 120_001, None);
        assert_eq!(
            late.refusal().map(|r| r.reason),
            Some(Reason::NoTicket),
            "{late:?}"
        );
        assert!(h.hall.ticket(&TicketNo::parse("B001").unwrap()).unwrap().rating.is_none());
        // With its number it is still taken.
        let named = rate_at(&mut h, 0, Some("B001"));
        assert!(named.refusal().is_none(), "{named:?}");
        h.at(600);
        served(&mut h);
        let on_time = rate_at(&mut h, 120_000, None);
        assert!(on_time.refusal().is_none(), "{on_time:?}");
    }

    #[test]
    fn a_late_rating_stored_before_the_limit_existed_replays_as_taken() {
        let mut h = H::new();
        served(&mut h);
        h.now += Duration::minutes(10);
        let stored = r#"{"kind":"rating","window":"01","id":"old-1","ticket":null,"score":4,"comment":null}"#;
        let input: Input = serde_json::from_str(stored).unwrap();
        let reply = h.hall.apply(&input, h.now).reply.unwrap();
        assert!(reply.refusal().is_none(), "{reply:?}");
        let b001 = h.hall.ticket(&TicketNo::parse("B001").unwrap()).unwrap();
        assert_eq!(b001.rating, Some(4));
        // What is stored today keeps the limit on replay.
        let today = serde_json::to_value(RatingInput::new(None, 4, None)).unwrap();
        assert_eq!(today["recent_only"], true);
    }

    #[test]
    fn the_time_for_a_rating_without_a_ticket_is_configurable() {
        let mut h = H::new();
        let mut spec = h.hall.spec().clone();
        spec.thresholds.rating_integrity.untagged_s = 30.0;
        let spec = std::sync::Arc::new(spec);
        h.hall = Hall::new(spec, h.now);
        h.op(
            "01",
            WindowOp::Login {
                staff: StaffId::parse("S1").unwrap(),
                staff_name: None,
            },
        );
        served(&mut h);
        let late = rate_at(&mut h, 31_000, None);
        assert_eq!(late.refusal().map(|r| r.reason), Some(Reason::NoTicket));
    }
}
