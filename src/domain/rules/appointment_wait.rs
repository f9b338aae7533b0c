//! `appointment_wait` (预约超时): a checked-in appointment holder still
//! waits this long after the start of the slot they booked.

use chrono::{DateTime, Utc};

use super::{Def, Kind, Param, Setting, due, minutes};
use crate::domain::alert::{Facts, Finding, Rule, Severity, Subject};
use crate::domain::checks::{Aspects, Next};
use crate::domain::event::Priority;
use crate::domain::hall::Hall;

pub const RULE: Def = Def {
    name: "预约超时",
    condition: "a checked-in appointment holder still waits this much office time after \
                the start of the slot they booked",
    severities: &[Severity::Warning],
    reads: Aspects::QUEUE,
    time_based: true,
    needs_person: false,
    params: &[Param {
        key: "appointment_wait_min",
        doc: "waiting past the booked slot's start",
        kind: Kind::Minutes,
        get: |t| Setting::Int(t.appointment_wait.after_s),
        set: |t, v| t.appointment_wait.after_s = v.int(),
    }],
    prepare: None,
};

#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Seconds past the slot's start.
    pub after_s: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Self { after_s: 900 }
    }
}

pub fn check(hall: &Hall, now: DateTime<Utc>, out: &mut Vec<Finding>, next: &mut Next) {
    let limit = hall.spec.thresholds.appointment_wait.after_s;
    for s in 0..hall.spec.services.len() {
        for key in hall.queues.iter(s) {
            let t = key.ticket();
            let ticket = &hall.tickets[t];
            if ticket.priority != Priority::Appointment {
                continue;
            }
            let Some((_, booking)) = ticket
                .appointment
                .as_deref()
                .and_then(|r| hall.bookings.get(r))
            else {
                continue;
            };
            if let Some(at) = due(hall, booking.slot_start, limit, now, next) {
                let code = hall.spec.services[s].code.clone();
                out.push(Finding {
                    rule: Rule::AppointmentWait,
                    subject: Subject::Ticket(hall.day, ticket.no.clone()),
                    severity: Severity::Warning,
                    since: at,
                    opened: at,
                    facts: Facts {
                        ticket: Some(t),
                        service: Some(s),
                        minutes: minutes(limit),
                        ..Facts::default()
                    },
                    window: None,
                    ticket: Some(ticket.no.clone()),
                    service: Some(code),
                });
            }
        }
    }
}

pub fn say(hall: &Hall, f: &Finding) -> String {
    let Some(ticket) = f.facts.ticket.map(|i| &hall.tickets[i]) else {
        return String::new();
    };
    let slot = ticket
        .appointment
        .as_deref()
        .and_then(|r| hall.bookings.get(r))
        .map(|(_, b)| {
            format!(
                "（预约 {}-{}）",
                hall.spec.local(b.slot_start).format("%H:%M"),
                hall.spec.local(b.slot_end).format("%H:%M")
            )
        })
        .unwrap_or_default();
    format!(
        "预约号 {}{slot}已过约定时间 {} 分钟仍在等候",
        ticket.no, f.facts.minutes
    )
}

#[cfg(test)]
mod tests {
    use super::super::testing::H;
    use crate::domain::*;

    #[test]
    fn an_appointment_holder_waiting_fifteen_minutes_past_the_slot_raises_a_warning() {
        let mut h = H::new();
        // Booked 09:30-10:00; checked in at 09:10.
        h.at(10 * 60);
        h.book("YY-1", "SB", 30 * 60);
        h.appointment("SB", "YY-1");
        h.at(45 * 60 - 1);
        assert_eq!(h.severity(Rule::AppointmentWait), None);
        h.at(45 * 60);
        assert_eq!(h.severity(Rule::AppointmentWait), Some(Severity::Warning));
        h.op("01", WindowOp::CallNext);
        assert_eq!(h.severity(Rule::AppointmentWait), None, "called");
    }
}
