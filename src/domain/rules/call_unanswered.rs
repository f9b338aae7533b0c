//! `call_unanswered` (叫号未应): a called ticket is neither started nor
//! marked missed.

use chrono::{DateTime, Utc};

use super::{Def, Kind, Param, Setting, due, minutes, window_finding, window_name};
use crate::domain::alert::{Facts, Finding, Rule, Severity, Subject};
use crate::domain::checks::{Aspects, Next};
use crate::domain::hall::{Hall, TicketState};

pub const RULE: Def = Def {
    name: "叫号未应",
    condition: "a called ticket has been neither started nor marked missed for this \
                much office time",
    severities: &[Severity::Notice],
    reads: Aspects::COUNTER,
    time_based: true,
    needs_person: false,
    params: &[Param {
        key: "call_unanswered_min",
        doc: "called, neither started nor missed",
        kind: Kind::Minutes,
        get: |t| Setting::Int(t.call_unanswered.after_s),
        set: |t, v| t.call_unanswered.after_s = v.int(),
    }],
    prepare: None,
};

#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Seconds from the call.
    pub after_s: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Self { after_s: 300 }
    }
}

pub fn check(hall: &Hall, now: DateTime<Utc>, out: &mut Vec<Finding>, next: &mut Next) {
    let limit = hall.spec.thresholds.call_unanswered.after_s;
    for w in 0..hall.spec.windows.len() {
        let Some(t) = hall.windows[w].current else {
            continue;
        };
        let ticket = &hall.tickets[t];
        let Some(called) = ticket
            .called_at
            .filter(|_| ticket.state == TicketState::Called)
        else {
            continue;
        };
        if let Some(at) = due(hall, called, limit, now, next) {
            let facts = Facts {
                ticket: Some(t),
                minutes: minutes(limit),
                ..Facts::default()
            };
            let mut f = window_finding(hall, w, Rule::CallUnanswered, Severity::Notice, at, facts);
            f.subject = Subject::Ticket(hall.day, ticket.no.clone());
            f.ticket = Some(ticket.no.clone());
            out.push(f);
        }
    }
}

pub fn say(hall: &Hall, f: &Finding) -> String {
    let no = f.facts.ticket.map(|i| hall.tickets[i].no.as_str()).unwrap_or_default();
    format!(
        "{no} 呼叫到{}后 {} 分钟未开始办理",
        window_name(hall, f.facts.window),
        f.facts.minutes
    )
}

#[cfg(test)]
mod tests {
    use super::super::testing::H;
    use crate::domain::*;

    #[test]
    fn call_unanswered_after_five_minutes_until_the_start() {
        let mut h = H::new();
        h.ticket("SB");
        h.op("01", WindowOp::CallNext);
        h.at(5 * 60 - 1);
        assert_eq!(h.severity(Rule::CallUnanswered), None);
        h.at(5 * 60);
        assert_eq!(h.severity(Rule::CallUnanswered), Some(Severity::Notice));
        h.op("01", WindowOp::Start); // service starts at 09:05
        assert_eq!(
            h.severity(Rule::CallUnanswered),
            None,
            "cleared by the start"
        );
    }
}
