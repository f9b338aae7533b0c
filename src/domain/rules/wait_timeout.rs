//! `wait_timeout`: a waiting ticket has waited past its service's limits.

use chrono::{DateTime, Utc};

use super::{Def, Grade, Param, grade_at, minutes, service_name};
use crate::domain::alert::{Facts, Finding, Rule, Severity, Subject};
use crate::domain::checks::{Aspects, Next};
use crate::domain::hall::{Hall, TicketState};

pub const RULE: Def = Def {
    name: "等候超时",
    condition: "a ticket has waited, in office time, longer than its service's wait \
                limits (`wait_limit_min` of the service, or of `[defaults]`; 30 and 60 minutes)",
    severities: &[Severity::Warning, Severity::Critical],
    reads: Aspects::QUEUE,
    time_based: true,
    needs_person: false,
    params: &[] as &[Param],
    prepare: None,
};

/// The limits are each service's own (`ServiceSpec::wait_limit_s`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Limits;

/// Waiting tickets past their service's limits. This runs on every event
/// and a busy hall has hundreds waiting, so each ticket's deadlines are
/// worked out once, and the walk of each priority class stops at the first
/// ticket not yet due: the rest of its class were issued later, so fall due
/// later (the limits are the queue's own).
pub fn check(hall: &Hall, now: DateTime<Utc>, out: &mut Vec<Finding>, next: &mut Next) {
    for (s, svc) in hall.spec.services.iter().enumerate() {
        let limits = (i64::from(svc.wait_limit_s.0), i64::from(svc.wait_limit_s.1));
        for class in hall.queues.by_class(s) {
            for i in class {
                let t = &hall.tickets[i];
                if t.state != TicketState::Waiting {
                    continue;
                }
                let (warn_at, crit_at) = t.wait_due.get(limits, || {
                    (
                        hall.office_deadline(t.issued_at, limits.0),
                        hall.office_deadline(t.issued_at, limits.1),
                    )
                });
                next.deadline(crit_at);
                let Some(first) = warn_at.filter(|d| *d <= now) else {
                    next.deadline(warn_at);
                    break;
                };
                let grade = grade_at(first, crit_at.filter(|d| *d <= now), limits);
                out.push(finding(hall, i, grade));
            }
        }
    }
}

fn finding(hall: &Hall, ticket: usize, grade: Grade) -> Finding {
    let t = &hall.tickets[ticket];
    let svc = &hall.spec.services[t.service];
    Finding {
        rule: Rule::WaitTimeout,
        subject: Subject::Ticket(hall.day, t.no.clone()),
        severity: grade.severity,
        since: grade.since,
        opened: grade.first,
        facts: Facts {
            ticket: Some(ticket),
            minutes: minutes(grade.limit),
            ..Facts::default()
        },
        window: None,
        ticket: Some(t.no.clone()),
        service: Some(svc.code.clone()),
    }
}

pub fn say(hall: &Hall, f: &Finding) -> String {
    let Some(t) = f.facts.ticket.map(|i| &hall.tickets[i]) else {
        return String::new();
    };
    format!(
        "{}（{}）已等候超过 {} 分钟",
        t.no,
        service_name(hall, Some(t.service)),
        f.facts.minutes
    )
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::super::testing::{H, office_hall, t0};
    use crate::domain::*;

    #[test]
    fn wait_timeout_fires_at_its_limits_and_clears_when_called() {
        let mut h = H::new();
        h.pause(PauseReason::Meeting);
        h.ticket("SB"); // issued at 09:00:00, limits 30 and 60 min
        h.at(30 * 60 - 1);
        assert_eq!(
            h.severity(Rule::WaitTimeout),
            None,
            "silent one second before"
        );
        h.at(30 * 60);
        assert_eq!(h.severity(Rule::WaitTimeout), Some(Severity::Warning));
        let a = h.last(Rule::WaitTimeout);
        assert_eq!(a.opened_at, t0() + Duration::minutes(30));
        assert_eq!(a.ticket.as_ref().map(TicketNo::as_str), Some("B001"));
        assert!(a.message.contains("B001"), "{}", a.message);
        h.at(60 * 60 - 1);
        assert_eq!(h.severity(Rule::WaitTimeout), Some(Severity::Warning));
        h.at(60 * 60);
        assert_eq!(
            h.severity(Rule::WaitTimeout),
            Some(Severity::Critical),
            "the same alert rises"
        );
        assert_eq!(
            h.hall
                .alerts()
                .iter()
                .filter(|a| a.rule == Rule::WaitTimeout)
                .count(),
            1
        );
        h.op("01", WindowOp::Resume);
        h.op("01", WindowOp::CallNext);
        assert_eq!(h.severity(Rule::WaitTimeout), None);
        let a = h.last(Rule::WaitTimeout);
        assert_eq!(a.state, AlertState::Resolved);
        assert!(
            a.resolved
                .as_ref()
                .unwrap()
                .note
                .as_deref()
                .unwrap()
                .contains("自动")
        );
    }

    #[test]
    fn every_waiting_ticket_past_its_limit_is_found_whatever_its_class() {
        let mut h = H::new();
        h.pause(PauseReason::Meeting);
        // Two normal tickets, then an elderly one that queues ahead of them
        // but has waited least.
        h.ticket("SB"); // B001 at 09:00
        h.at(10 * 60);
        h.ticket("SB"); // B002 at 09:10
        h.at(20 * 60);
        h.ticket_with("SB", Priority::Elderly); // B003 at 09:20
        h.at(40 * 60);
        let waiting: Vec<&str> = h
            .active(Rule::WaitTimeout)
            .iter()
            .filter_map(|a| a.ticket.as_ref().map(TicketNo::as_str))
            .collect();
        assert_eq!(waiting, ["B001", "B002"]);
        h.at(50 * 60);
        assert_eq!(h.active(Rule::WaitTimeout).len(), 3);
        // The longest wait rises to critical at its second limit, alone.
        h.at(60 * 60);
        let critical: Vec<&str> = h
            .active(Rule::WaitTimeout)
            .iter()
            .filter(|a| a.severity == Severity::Critical)
            .filter_map(|a| a.ticket.as_ref().map(TicketNo::as_str))
            .collect();
        assert_eq!(critical, ["B001"]);
    }

    #[test]
    fn a_wait_across_lunch_keeps_its_alert_and_turns_critical_on_office_time() {
        let mut h = office_hall();
        h.at(2 * 3600 + 15 * 60); // 11:15
        h.ticket("SB");
        h.at(2 * 3600 + 45 * 60); // 11:45: warning
        assert_eq!(h.severity(Rule::WaitTimeout), Some(Severity::Warning));
        let id = h.last(Rule::WaitTimeout).id.clone();
        // 45 office minutes before lunch; 60 are reached at 13:45.
        h.at(4 * 3600 + 44 * 60 + 59); // 13:44:59
        assert_eq!(
            h.severity(Rule::WaitTimeout),
            Some(Severity::Warning),
            "not resolved by the lunch break"
        );
        h.at(4 * 3600 + 45 * 60); // 13:45
        assert_eq!(h.severity(Rule::WaitTimeout), Some(Severity::Critical));
        assert_eq!(
            h.last(Rule::WaitTimeout).id,
            id,
            "the same alert throughout"
        );
    }
}
