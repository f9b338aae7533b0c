//! `wait_timeout`: tickets of a service have waited past its limits. One
//! alert per service queue, however many wait too long: how many are over
//! the limit, the longest waiter, and the next ones by wait.

use chrono::{DateTime, Utc};

use super::{Def, Param, grade_at, minutes, service_finding};
use crate::domain::alert::{Facts, Finding, MAX_LISTED, Rule, Severity};
use crate::domain::checks::{Aspects, Next};
use crate::domain::hall::{Hall, TicketState};
use crate::domain::ids::TicketNo;

pub const RULE: Def = Def {
    name: "等候超时",
    condition: "tickets of a service have waited, in office time since they joined its \
                queue (the issue, or the last transfer), longer than its wait limits \
                (`wait_limit_min` of the service, or of `[defaults]`; 30 and 60 minutes): \
                one alert per service, with how many are over the limit, rising with the \
                longest wait",
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

/// When a waiting ticket's wait crosses its service's (warning, critical)
/// limits, counted in office time from when it joined the queue.
fn due(
    hall: &Hall,
    i: usize,
    limits: (i64, i64),
) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
    let t = &hall.tickets[i];
    t.wait_due.get(t.queued_at, limits, || {
        (
            hall.office_deadline(t.queued_at, limits.0),
            hall.office_deadline(t.queued_at, limits.1),
        )
    })
}

/// The waiting tickets of service `s` past its warning limit by `until`,
/// each with when it crossed it, in no particular order; `visit` sees each.
/// This runs on every event and a busy hall has hundreds waiting, so each
/// ticket's deadlines are worked out once (`DueMemo`), and the walk of each
/// priority class stops at the first ticket not yet due that joined the
/// queue when it was issued: the rest of its class were issued later, so
/// joined later and fall due later. A transferred ticket keeps its place
/// by issue time but waits from its transfer, so the walk steps over it.
fn walk(
    hall: &Hall,
    s: usize,
    until: DateTime<Utc>,
    mut next: Option<&mut Next>,
    mut visit: impl FnMut(usize, DateTime<Utc>, Option<DateTime<Utc>>),
) {
    let svc = &hall.spec.services[s];
    let limits = (i64::from(svc.wait_limit_s.0), i64::from(svc.wait_limit_s.1));
    for class in hall.queues.by_class(s) {
        for i in class {
            let t = &hall.tickets[i];
            if t.state != TicketState::Waiting {
                continue;
            }
            let (warn_at, crit_at) = due(hall, i, limits);
            match warn_at.filter(|d| *d <= until) {
                Some(first) => visit(i, first, crit_at),
                None => {
                    if let Some(next) = next.as_deref_mut() {
                        next.deadline(warn_at);
                    }
                    if t.queued_at == t.issued_at {
                        break;
                    }
                }
            }
        }
    }
}

/// A ticket past the limit as the longest wait orders them: when it crossed
/// the limit, when it joined the queue, its index.
type Waiter = (DateTime<Utc>, DateTime<Utc>, usize);

/// Per service, one finding while any ticket is past the warning limit:
/// `count` of them, `ticket` the longest waiter (who also sets the
/// severity), `at` when the last of them crossed the limit.
pub fn check(hall: &Hall, now: DateTime<Utc>, out: &mut Vec<Finding>, next: &mut Next) {
    for s in 0..hall.spec.services.len() {
        let mut count = 0i64;
        let mut newest: Option<DateTime<Utc>> = None;
        // (crossed, joined the queue, index) of the longest waiter, and its
        // critical deadline.
        let mut longest: Option<(Waiter, Option<DateTime<Utc>>)> = None;
        walk(hall, s, now, Some(next), |i, first, crit_at| {
            count += 1;
            newest = Some(newest.map_or(first, |n| n.max(first)));
            let key = (first, hall.tickets[i].queued_at, i);
            if longest.is_none_or(|(k, _)| key < k) {
                longest = Some((key, crit_at));
            }
        });
        let Some(((first, _, i), crit_at)) = longest else {
            continue;
        };
        // The longest waiter turns critical first: the others joined later.
        next.deadline(crit_at);
        let svc = &hall.spec.services[s];
        let limits = (i64::from(svc.wait_limit_s.0), i64::from(svc.wait_limit_s.1));
        let grade = grade_at(first, crit_at.filter(|d| *d <= now), limits);
        let facts = Facts {
            ticket: Some(i),
            minutes: minutes(grade.limit),
            count,
            total: hall.waiting(s) as i64,
            at: newest,
            ..Facts::default()
        };
        let mut f = service_finding(hall, s, Rule::WaitTimeout, grade.severity, grade.since, facts);
        f.opened = grade.first;
        f.ticket = Some(hall.tickets[i].no.clone());
        out.push(f);
    }
}

/// The tickets an alert lists beside its longest waiter: the next
/// [`MAX_LISTED`] past the limit, longest waiting first, as of the
/// finding's `at`.
pub fn listed(hall: &Hall, f: &Finding) -> Vec<TicketNo> {
    let (Some(s), Some(until)) = (f.facts.service, f.facts.at) else {
        return Vec::new();
    };
    let mut over: Vec<Waiter> = Vec::new();
    walk(hall, s, until, None, |i, first, _| {
        if Some(i) != f.facts.ticket {
            over.push((first, hall.tickets[i].queued_at, i));
        }
    });
    over.sort_unstable();
    over.iter()
        .take(MAX_LISTED)
        .map(|&(_, _, i)| hall.tickets[i].no.clone())
        .collect()
}

pub fn say(hall: &Hall, f: &Finding) -> String {
    let (Some(s), Some(t)) = (f.facts.service, f.facts.ticket) else {
        return String::new();
    };
    let svc = &hall.spec.services[s];
    let t = &hall.tickets[t];
    let waited = f
        .facts
        .at
        .map_or(0, |at| hall.spec.office_seconds(t.queued_at, at));
    let mut m = format!(
        "{}：{} 个号等候超过 {} 分钟，等候最久的 {} 已等候 {} 分钟",
        svc.name,
        f.facts.count,
        svc.wait_limit_s.0 / 60,
        t.no,
        minutes(waited),
    );
    if f.severity == Severity::Critical {
        m.push_str(&format!("（超过 {} 分钟）", f.facts.minutes));
    }
    m
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::super::testing::{H, office_hall, t0};
    use crate::domain::alert::MAX_LISTED;
    use crate::domain::*;

    fn no(t: &str) -> TicketNo {
        TicketNo::parse(t).unwrap()
    }

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
        assert_eq!(a.subject, Subject::Service(ServiceCode::parse("SB").unwrap()));
        assert_eq!(a.ticket, Some(no("B001")));
        assert_eq!(a.count, Some(1));
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
    fn one_alert_per_service_counts_every_ticket_past_its_limit_whatever_its_class() {
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
        let a = h.active(Rule::WaitTimeout);
        assert_eq!(a.len(), 1, "one alert for the service");
        assert_eq!(
            (a[0].ticket.clone(), a[0].count, a[0].tickets.clone()),
            (Some(no("B001")), Some(2), vec![no("B002")])
        );
        assert_eq!(a[0].updated_at, t0() + Duration::minutes(40), "B002 crossed");
        h.at(50 * 60);
        let a = h.last(Rule::WaitTimeout);
        assert_eq!((a.count, a.tickets.clone()), (Some(3), vec![no("B002"), no("B003")]));
        assert!(a.message.contains("3 个号"), "{}", a.message);
        assert!(a.message.contains("B001 已等候 50 分钟"), "{}", a.message);
        // The longest wait turns it critical at its second limit.
        h.at(60 * 60);
        let a = h.last(Rule::WaitTimeout);
        assert_eq!(a.severity, Severity::Critical);
        // The longest waiter is called: the next one is the alert's ticket.
        h.op("01", WindowOp::Resume);
        h.op("01", WindowOp::Call { ticket: no("B001") });
        let a = h.last(Rule::WaitTimeout);
        assert!(a.is_active());
        assert_eq!(
            (a.ticket.clone(), a.count, a.tickets.clone()),
            (Some(no("B002")), Some(2), vec![no("B003")])
        );
        assert_eq!(a.updated_at, h.now, "moved by the call");
    }

    #[test]
    fn a_rush_of_two_hundred_past_the_limit_is_one_alert_per_service() {
        let mut h = H::new();
        h.pause(PauseReason::Meeting);
        for n in 0..200 {
            h.at(n * 3);
            h.ticket(if n % 2 == 0 { "SB" } else { "GA" });
        }
        // A live hall looks every second through the rush and after.
        for s in (600..=45 * 60).step_by(1) {
            h.at(s);
        }
        let wait: Vec<&Alert> = h
            .hall
            .alerts()
            .iter()
            .filter(|a| a.rule == Rule::WaitTimeout)
            .collect();
        assert_eq!(wait.len(), 2, "one per service: {wait:#?}");
        for a in &wait {
            assert_eq!(a.count, Some(100));
            assert_eq!(a.tickets.len(), MAX_LISTED);
            assert!(a.is_active());
        }
        let sb = wait.iter().find(|a| a.service.as_ref().unwrap().as_str() == "SB").unwrap();
        assert_eq!(sb.ticket, Some(no("B001")));
        assert_eq!(sb.tickets[0], no("B002"));
        assert_eq!(sb.tickets[19], no("B021"));
        // A replay that sees only the inputs and the end rebuilds it.
        let mut replay = H::new();
        replay.pause(PauseReason::Meeting);
        for n in 0..200 {
            replay.at(n * 3);
            replay.ticket(if n % 2 == 0 { "SB" } else { "GA" });
        }
        replay.at(45 * 60);
        let waits = |h: &H| -> Vec<Alert> {
            h.hall
                .alerts()
                .iter()
                .filter(|a| a.rule == Rule::WaitTimeout)
                .cloned()
                .collect()
        };
        assert_eq!(waits(&replay), waits(&h));
        // And the alert message stays within an MQTT payload.
        // (the MQTT message is this view and its `"type":"alert"`).
        let view = serde_json::to_vec(&h.hall.alert_view(sb)).unwrap();
        assert!(view.len() + 16 < 4096, "{} bytes", view.len());
    }

    #[test]
    fn a_transferred_ticket_waits_from_its_requeue() {
        let mut h = H::new();
        h.ticket("SB"); // B001 at 09:00
        h.at(25 * 60);
        h.op("01", WindowOp::CallNext);
        h.op("01", WindowOp::Start);
        h.at(35 * 60);
        h.op(
            "01",
            WindowOp::Transfer {
                to_service: ServiceCode::parse("GA").unwrap(),
            },
        );
        h.pause(PauseReason::Meeting);
        h.at(35 * 60 + 1);
        assert!(
            h.active(Rule::WaitTimeout).is_empty(),
            "35 minutes since issue, but it has just joined the GA queue"
        );
        h.at(65 * 60 - 1);
        assert!(h.active(Rule::WaitTimeout).is_empty());
        h.at(65 * 60);
        let a = h.last(Rule::WaitTimeout);
        assert_eq!(a.service.as_ref().map(ServiceCode::as_str), Some("GA"));
        assert_eq!(a.opened_at, t0() + Duration::minutes(65));
        // A ticket issued later that never moved still counts from issue,
        // though it queues behind the transferred one by issue time.
        let mut h = H::new();
        h.ticket("SB"); // B001 at 09:00, to be transferred to GA
        h.at(60);
        h.ticket("GA"); // G001 at 09:01
        h.op("01", WindowOp::CallNext); // B001 (GA is not window 01's? it serves both)
        h.at(20 * 60);
        h.op(
            "01",
            WindowOp::Transfer {
                to_service: ServiceCode::parse("GA").unwrap(),
            },
        );
        h.pause(PauseReason::Meeting);
        h.at(31 * 60);
        let a = h.last(Rule::WaitTimeout);
        assert_eq!(a.count, Some(1), "G001 only: {}", a.message);
        h.at(50 * 60);
        assert_eq!(h.last(Rule::WaitTimeout).count, Some(2));
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
