//! `service_timeout`: one service (start → finish) runs past its service's
//! limits.

use chrono::{DateTime, Utc};

use super::{Def, Grade, Param, graded, minutes, service_name, window_finding, window_name};
use crate::domain::alert::{Facts, Finding, Rule, Subject};
use crate::domain::checks::{Aspects, Next};
use crate::domain::hall::{Hall, TicketState};

pub const RULE: Def = Def {
    name: "办理超时",
    condition: "a service has run, in office time from its start, longer than its service's limits \
                (`service_limit_min` of the service, or of `[defaults]`; 20 and 40 minutes)",
    severities: &[
        crate::domain::alert::Severity::Warning,
        crate::domain::alert::Severity::Critical,
    ],
    reads: Aspects::COUNTER,
    time_based: true,
    needs_person: false,
    params: &[] as &[Param],
    prepare: None,
};

/// The limits are each service's own (`ServiceSpec::service_limit_s`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Limits;

pub fn check(hall: &Hall, now: DateTime<Utc>, out: &mut Vec<Finding>, next: &mut Next) {
    for w in 0..hall.spec.windows.len() {
        let Some(t) = hall.windows[w].current else {
            continue;
        };
        let ticket = &hall.tickets[t];
        let Some(started) = ticket
            .started_at
            .filter(|_| ticket.state == TicketState::Serving)
        else {
            continue;
        };
        let svc = &hall.spec.services[ticket.service];
        let limits = (
            i64::from(svc.service_limit_s.0),
            i64::from(svc.service_limit_s.1),
        );
        if let Some(Grade {
            severity,
            since,
            limit,
            first,
        }) = graded(hall, started, now, limits, next)
        {
            let facts = Facts {
                ticket: Some(t),
                minutes: minutes(limit),
                ..Facts::default()
            };
            let mut f = window_finding(hall, w, Rule::ServiceTimeout, severity, since, facts);
            f.subject = Subject::Ticket(hall.day, ticket.no.clone());
            f.ticket = Some(ticket.no.clone());
            f.service = Some(svc.code.clone());
            f.opened = first;
            out.push(f);
        }
    }
}

pub fn say(hall: &Hall, f: &Finding) -> String {
    let Some(t) = f.facts.ticket.map(|i| &hall.tickets[i]) else {
        return String::new();
    };
    format!(
        "{}办理 {}（{}）已超过 {} 分钟",
        window_name(hall, f.facts.window),
        t.no,
        service_name(hall, Some(t.service)),
        f.facts.minutes
    )
}

#[cfg(test)]
mod tests {
    use super::super::testing::{H, finish};
    use crate::domain::*;

    #[test]
    fn service_timeout_at_20_and_40_minutes_from_the_start() {
        let mut h = H::new();
        h.ticket("SB");
        h.op("01", WindowOp::CallNext);
        h.at(5 * 60);
        h.op("01", WindowOp::Start); // service starts at 09:05
        h.at(5 * 60 + 20 * 60 - 1);
        assert_eq!(h.severity(Rule::ServiceTimeout), None);
        h.at(5 * 60 + 20 * 60);
        assert_eq!(h.severity(Rule::ServiceTimeout), Some(Severity::Warning));
        h.at(5 * 60 + 40 * 60);
        assert_eq!(h.severity(Rule::ServiceTimeout), Some(Severity::Critical));
        h.op("01", finish());
        assert_eq!(h.severity(Rule::ServiceTimeout), None);
    }
}
