//! `idle_with_queue` (有号不叫): a logged-in window, not paused, has not
//! called while a ticket it may serve waits.

use chrono::{DateTime, Utc};

use super::{
    Def, Kind, Param, Setting, due_on_duty, minutes, on_duty_now, window_finding, window_name,
};
use crate::domain::alert::{Facts, Finding, Rule, Severity};
use crate::domain::checks::{Aspects, Next};
use crate::domain::hall::Hall;

pub const RULE: Def = Def {
    name: "有号不叫",
    condition: "a logged-in window, not paused and with no ticket at it, has not \
                called for this much office time while a ticket it may serve waits",
    severities: &[Severity::Warning],
    reads: Aspects::QUEUE.or(Aspects::STAFF).or(Aspects::COUNTER),
    time_based: true,
    needs_person: false,
    params: &[Param {
        key: "idle_with_queue_min",
        doc: "no call while a ticket waits",
        kind: Kind::Minutes,
        get: |t| Setting::Int(t.idle_with_queue.idle_s),
        set: |t, v| t.idle_with_queue.idle_s = v.int(),
    }],
    prepare: None,
};

#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Seconds without a call while a ticket waits.
    pub idle_s: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Self { idle_s: 300 }
    }
}

pub fn check(hall: &Hall, now: DateTime<Utc>, out: &mut Vec<Finding>, next: &mut Next) {
    let limit = hall.spec.thresholds.idle_with_queue.idle_s;
    // Each service's oldest waiting ticket, looked up once: windows share
    // services.
    let oldest: Vec<Option<DateTime<Utc>>> = (0..hall.spec.services.len())
        .map(|s| hall.queues.oldest(s))
        .collect();
    for (w, spec) in hall.spec.windows.iter().enumerate() {
        let state = &hall.windows[w];
        if state.staff.is_none()
            || state.paused.is_some()
            || state.current.is_some()
            || !on_duty_now(hall, w, now, next)
        {
            continue;
        }
        // The oldest ticket it may serve, by when it was issued.
        let Some(first_waiting) = spec
            .services
            .iter()
            .filter_map(|&s| oldest.get(s).copied().flatten())
            .min()
        else {
            continue;
        };
        let base = state.since.max(first_waiting);
        if let Some(at) = due_on_duty(hall, w, base, limit, now, next) {
            let facts = Facts {
                minutes: minutes(limit),
                ..Facts::default()
            };
            out.push(window_finding(
                hall,
                w,
                Rule::IdleWithQueue,
                Severity::Warning,
                at,
                facts,
            ));
        }
    }
}

pub fn say(hall: &Hall, f: &Finding) -> String {
    format!(
        "{}有群众等候但已 {} 分钟未叫号",
        window_name(hall, f.facts.window),
        f.facts.minutes
    )
}

#[cfg(test)]
mod tests {
    use super::super::testing::H;
    use crate::domain::*;

    #[test]
    fn idle_with_queue_after_five_minutes_without_a_call() {
        let mut h = H::new();
        h.at(60);
        h.ticket("SB"); // waiting since 09:01; window idle since 09:00
        h.at(60 + 5 * 60 - 1);
        assert_eq!(h.severity(Rule::IdleWithQueue), None);
        h.at(60 + 5 * 60);
        assert_eq!(h.severity(Rule::IdleWithQueue), Some(Severity::Warning));
        h.op("01", WindowOp::CallNext);
        assert_eq!(h.severity(Rule::IdleWithQueue), None);
    }
}
