//! `queue_backlog`: too many tickets waiting per open window of a service.

use chrono::{DateTime, Utc};

use super::{Def, Kind, Param, Setting, service_finding, service_name};
use crate::domain::alert::{Facts, Finding, Rule, Severity};
use crate::domain::checks::{Aspects, Next};
use crate::domain::hall::Hall;

pub const RULE: Def = Def {
    name: "排队积压",
    condition: "tickets waiting for a service, per window open for it (a window \
                serving several services shares itself among their queues by \
                their length), are more than the limit",
    severities: &[Severity::Warning],
    reads: Aspects::QUEUE.or(Aspects::STAFF),
    time_based: true,
    needs_person: false,
    params: &[Param {
        key: "backlog_per_window",
        doc: "waiting per open window above this",
        kind: Kind::Number,
        get: |t| Setting::Num(t.queue_backlog.per_window),
        set: |t, v| t.queue_backlog.per_window = v.num(),
    }],
    prepare: None,
};

#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Waiting tickets per open window above this.
    pub per_window: f64,
}

impl Default for Limits {
    fn default() -> Self {
        Self { per_window: 10.0 }
    }
}

pub fn check(hall: &Hall, now: DateTime<Utc>, out: &mut Vec<Finding>, _: &mut Next) {
    let limit = hall.spec.thresholds.queue_backlog.per_window;
    for s in 0..hall.spec.services.len() {
        let waiting = hall.waiting(s);
        let open = hall.window_share_for(s);
        // A shared window counts by its queues' share; with none open, the
        // queue itself counts.
        let per_window = if open > 0.0 {
            waiting as f64 / open
        } else {
            waiting as f64
        };
        if per_window > limit {
            let facts = Facts {
                count: waiting as i64,
                total: i64::from(hall.open_windows_for(s)),
                ratio: open,
                ..Facts::default()
            };
            out.push(service_finding(
                hall,
                s,
                Rule::QueueBacklog,
                Severity::Warning,
                now,
                facts,
            ));
        }
    }
}

pub fn say(hall: &Hall, f: &Finding) -> String {
    format!(
        "{}排队 {} 人，可办窗口 {} 个",
        service_name(hall, f.facts.service),
        f.facts.count,
        f.facts.total
    )
}

#[cfg(test)]
mod tests {
    use super::super::testing::H;
    use crate::domain::*;

    #[test]
    fn queue_backlog_above_ten_per_open_window() {
        let mut h = H::new();
        // Window 01 serves SB and GA; with only SB waiting, all of it is SB's.
        for _ in 0..5 {
            h.ticket("SB");
        }
        assert_eq!(h.severity(Rule::QueueBacklog), None, "5 per window");
        for _ in 0..6 {
            h.ticket("SB");
        }
        assert_eq!(
            h.severity(Rule::QueueBacklog),
            Some(Severity::Warning),
            "11 waiting, 1 window"
        );
        // Window 02 opens: 2 windows for SB, 11 / 2 is 5.5.
        h.op(
            "02",
            WindowOp::Login {
                staff: StaffId::parse("S2").unwrap(),
                staff_name: None,
            },
        );
        assert_eq!(h.severity(Rule::QueueBacklog), None);
    }

    #[test]
    fn a_shared_window_counts_by_the_length_of_the_queues_it_serves() {
        let mut h = H::new();
        // Window 01 serves SB and GA: 14 SB and 14 GA share it half and half.
        for _ in 0..14 {
            h.ticket("SB");
            h.ticket("GA");
        }
        assert!(h.hall.window_share_for(0) > 0.49 && h.hall.window_share_for(0) < 0.51);
        assert_eq!(h.active(Rule::QueueBacklog).len(), 2, "14 / 0.5 each");
        assert!(
            h.last(Rule::QueueBacklog).message.contains("可办窗口 1 个"),
            "{}",
            h.last(Rule::QueueBacklog).message
        );
    }
}
