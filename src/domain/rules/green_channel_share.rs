//! `green_channel_share`: green-channel (绿色通道) tickets pass their
//! configured share of the day's tickets. A notice to the supervisor: the
//! green channel jumps the queue, so its use is audited (each green ticket
//! carries its reason and who issued it).

use chrono::{DateTime, Utc};

use super::{Def, Kind, Param, Setting};
use crate::domain::alert::{Facts, Finding, Rule, Severity, Subject};
use crate::domain::checks::{Aspects, Next};
use crate::domain::event::Priority;
use crate::domain::hall::Hall;

pub const RULE: Def = Def {
    name: "绿色通道占比高",
    condition: "green-channel tickets are more than `green_share` of the day's tickets, \
                once there are `green_min` of them",
    severities: &[Severity::Notice],
    reads: Aspects::ISSUED,
    time_based: false,
    needs_person: false,
    params: &[
        Param {
            key: "green_share",
            doc: "green-channel tickets above this share of the day's tickets...",
            kind: Kind::Share,
            get: |t| Setting::Num(t.green_channel_share.share),
            set: |t, v| t.green_channel_share.share = v.num(),
        },
        Param {
            key: "green_min",
            doc: "...once there are this many green-channel tickets",
            kind: Kind::Count,
            get: |t| Setting::Int(i64::from(t.green_channel_share.min)),
            set: |t, v| t.green_channel_share.min = u32::try_from(v.int()).unwrap_or(u32::MAX),
        },
    ],
    prepare: None,
};

#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Green tickets above this share of the day's tickets...
    pub share: f64,
    /// ...once there are this many (two early in the morning are no
    /// pattern).
    pub min: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            share: 0.05,
            min: 5,
        }
    }
}

pub fn check(hall: &Hall, now: DateTime<Utc>, out: &mut Vec<Finding>, _: &mut Next) {
    let limits = &hall.spec.thresholds.green_channel_share;
    let total = hall.tickets.len();
    let green = hall
        .tickets
        .iter()
        .filter(|t| t.priority == Priority::Green)
        .count();
    if total == 0 || green < limits.min as usize {
        return;
    }
    let share = green as f64 / total as f64;
    if share <= limits.share {
        return;
    }
    out.push(Finding {
        rule: Rule::GreenChannelShare,
        subject: Subject::Hall,
        severity: Severity::Notice,
        since: now,
        opened: now,
        facts: Facts {
            count: green as i64,
            total: total as i64,
            ratio: share,
            ..Facts::default()
        },
        window: None,
        ticket: None,
        service: None,
    });
}

pub fn say(hall: &Hall, f: &Finding) -> String {
    format!(
        "今日绿色通道取号 {} 张，占全部 {} 张的 {:.1}%，超过 {}%",
        f.facts.count,
        f.facts.total,
        f.facts.ratio * 100.0,
        hall.spec.thresholds.green_channel_share.share * 100.0
    )
}

#[cfg(test)]
mod tests {
    use super::super::testing::H;
    use crate::domain::*;

    fn green(h: &mut H) -> Reply {
        let id = h.id();
        let input = Input::Ticket {
            kiosk: DeviceId::parse("k1").unwrap(),
            id,
            request: TicketRequest {
                service: ServiceCode::parse("SB").unwrap(),
                priority: Priority::Green,
                appointment: None,
                green_reason: Some("危重病人家属".into()),
                issued_by: Some(StaffId::parse("D01").unwrap()),
                token: None,
            },
        };
        h.hall.apply(&input, h.now).reply.unwrap()
    }

    #[test]
    fn a_few_green_tickets_early_in_the_morning_are_no_notice() {
        let mut h = H::new();
        green(&mut h);
        green(&mut h);
        h.ticket("SB");
        assert!(h.active(Rule::GreenChannelShare).is_empty());
    }

    #[test]
    fn green_tickets_past_five_percent_of_the_day_are_a_notice_that_follows_them() {
        let mut h = H::new();
        for _ in 0..95 {
            h.ticket("SB");
        }
        for _ in 0..5 {
            green(&mut h);
        }
        assert!(
            h.active(Rule::GreenChannelShare).is_empty(),
            "5 of 100 is not past 5 %"
        );
        green(&mut h);
        let a = h.last(Rule::GreenChannelShare);
        assert_eq!((a.severity, a.count), (Severity::Notice, Some(6)));
        assert!(a.message.contains("6 张"), "{}", a.message);
        green(&mut h);
        assert_eq!(h.active(Rule::GreenChannelShare).len(), 1);
        assert_eq!(h.last(Rule::GreenChannelShare).count, Some(7));
        // The day fills with ordinary tickets: the share falls back.
        for _ in 0..50 {
            h.ticket("SB");
        }
        assert!(h.active(Rule::GreenChannelShare).is_empty());
    }

    #[test]
    fn a_green_ticket_needs_a_reason_and_who_issued_it() {
        let mut h = H::new();
        for (reason, by) in [
            (None, Some("D01")),
            (Some("危重病人"), None),
            (Some("  "), Some("D01")),
        ] {
            let id = h.id();
            let input = Input::Ticket {
                kiosk: DeviceId::parse("k1").unwrap(),
                id,
                request: TicketRequest {
                    service: ServiceCode::parse("SB").unwrap(),
                    priority: Priority::Green,
                    appointment: None,
                    green_reason: reason.map(str::to_owned),
                    issued_by: by.map(|s| StaffId::parse(s).unwrap()),
                    token: None,
                },
            };
            let before = h.hall.tickets().len();
            let reply = h.hall.apply(&input, h.now).reply.unwrap();
            assert_eq!(
                reply.refusal().map(|r| r.reason),
                Some(Reason::GreenReasonRequired),
                "{reason:?} {by:?}"
            );
            assert_eq!(h.hall.tickets().len(), before, "nothing issued");
        }
        assert!(green(&mut h).refusal().is_none());
        let t = &h.hall.tickets()[0];
        assert_eq!(t.green_reason.as_deref(), Some("危重病人家属"));
        assert_eq!(t.issued_by.as_ref().map(StaffId::as_str), Some("D01"));
        assert_eq!(h.hall.hall_figures().green, Some(1));
    }
}

#[cfg(test)]
mod replay {
    use crate::domain::*;

    #[test]
    fn a_green_ticket_stored_before_reasons_were_recorded_still_replays() {
        let stored = serde_json::json!({"kind": "ticket", "kiosk": "k1", "id": "m1",
            "request": {"service": "SB", "priority": "green", "appointment": null}});
        let input: Input = serde_json::from_value(stored).unwrap();
        let mut hall = Hall::new(
            std::sync::Arc::new(crate::domain::test_spec()),
            super::super::testing::t0(),
        );
        let reply = hall.apply(&input, super::super::testing::t0()).reply.unwrap();
        assert!(reply.refusal().is_none(), "{reply:?}");
        assert_eq!(
            hall.tickets()[0].green_reason.as_deref(),
            Some(UNRECORDED_REASON)
        );
        // A request stored now keeps its null reason, and is refused again.
        let now = Input::Ticket {
            kiosk: DeviceId::parse("k1").unwrap(),
            id: MsgId::parse("m2").unwrap(),
            request: TicketRequest {
                service: ServiceCode::parse("SB").unwrap(),
                priority: Priority::Green,
                appointment: None,
                green_reason: None,
                issued_by: Some(StaffId::parse("D01").unwrap()),
                token: None,
            },
        };
        let back: Input = serde_json::from_value(serde_json::to_value(&now).unwrap()).unwrap();
        assert_eq!(back, now);
        let reply = hall.apply(&back, super::super::testing::t0()).reply.unwrap();
        assert_eq!(
            reply.refusal().map(|r| r.reason),
            Some(Reason::GreenReasonRequired)
        );
    }
}
