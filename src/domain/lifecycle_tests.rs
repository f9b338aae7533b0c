//! The alert lifecycle with an injected clock: when an alert is dated,
//! acknowledged, resolved, raised again and escalated; the day boundary;
//! and that a replay rebuilds the same alerts.

use chrono::Duration;

use super::rules::testing::{H, t0};
use super::*;

#[test]
fn a_late_tick_still_dates_the_alert_at_its_threshold() {
    let mut h = H::new();
    h.pause(PauseReason::Break);
    h.ticket("GA");
    h.at(45 * 60); // nothing ticked in between, as in a replay
    assert_eq!(
        h.last(Rule::WaitTimeout).opened_at,
        t0() + Duration::minutes(30)
    );
}

#[test]
fn a_ticket_number_of_a_new_day_is_a_new_subject() {
    let mut h = H::new();
    h.serve("SB");
    h.rate("01", 2);
    h.at(24 * 3600); // the next day: B001 again
    h.op(
        "01",
        WindowOp::Login {
            staff: StaffId::parse("S1").unwrap(),
            staff_name: None,
        },
    );
    h.serve("SB");
    h.rate("01", 1);
    let reviews = h.active(Rule::BadRating);
    assert_eq!(
        reviews.len(),
        2,
        "yesterday's B001 and today's B001 are two alerts"
    );
    assert_ne!(reviews[0].id, reviews[1].id);
}

#[test]
fn an_acknowledged_warning_that_turns_critical_must_be_acknowledged_again() {
    let mut h = H::new();
    h.pause(PauseReason::Other);
    h.at(15 * 60);
    h.act(Rule::PauseTooLong, AlertOp::Ack, None);
    h.at(30 * 60);
    let a = h.last(Rule::PauseTooLong);
    assert_eq!(
        (a.severity, a.state),
        (Severity::Critical, AlertState::Open)
    );
    assert!(
        a.acknowledged.is_some(),
        "the earlier acknowledgement stays on record"
    );
    h.at(40 * 60);
    assert!(h.last(Rule::PauseTooLong).escalated_at.is_some());
}

#[test]
fn a_resolved_warning_speaks_again_when_it_turns_critical() {
    let mut h = H::new();
    h.pause(PauseReason::Other);
    h.at(15 * 60);
    h.act(Rule::PauseTooLong, AlertOp::Resolve, Some("已提醒"));
    h.at(20 * 60);
    assert!(
        h.active(Rule::PauseTooLong).is_empty(),
        "not reopened as a warning"
    );
    h.at(30 * 60);
    assert_eq!(
        h.severity(Rule::PauseTooLong),
        Some(Severity::Critical),
        "but as a red card"
    );
}

#[test]
fn an_unacknowledged_critical_alert_escalates_after_ten_minutes() {
    let mut h = H::new();
    h.pause(PauseReason::Other);
    h.at(30 * 60); // critical
    h.at(40 * 60 - 1);
    assert!(h.last(Rule::PauseTooLong).escalated_at.is_none());
    h.at(40 * 60);
    assert_eq!(
        h.last(Rule::PauseTooLong).escalated_at,
        Some(t0() + Duration::minutes(40))
    );
}

#[test]
fn an_acknowledged_critical_alert_does_not_escalate() {
    let mut h = H::new();
    h.pause(PauseReason::Other);
    h.at(30 * 60);
    h.act(Rule::PauseTooLong, AlertOp::Ack, None);
    h.at(60 * 60);
    assert!(h.last(Rule::PauseTooLong).escalated_at.is_none());
}

#[test]
fn a_new_day_closes_yesterdays_alerts_but_not_bad_reviews() {
    let mut h = H::new();
    h.pause(PauseReason::Break);
    h.at(20 * 60);
    assert_eq!(h.severity(Rule::PauseTooLong), Some(Severity::Warning));
    h.op("01", WindowOp::Resume);
    h.serve("SB");
    h.rate("01", 2);
    h.at(15 * 3600); // midnight in Beijing
    assert!(h.active(Rule::WaitTimeout).is_empty());
    assert_eq!(
        h.severity(Rule::BadRating),
        Some(Severity::Warning),
        "kept until followed up"
    );
    assert!(h.last(Rule::BadRating).id.contains("20261123"));
}

#[test]
fn alerts_replay_to_the_same_ids_and_times() {
    let mut live = H::new();
    live.op(
        "01",
        WindowOp::Pause {
            reason: PauseReason::Break,
        },
    );
    live.ticket("GA");
    let mut log = vec![];
    // A live run ticks every second...
    for s in (0..=3600).step_by(1) {
        live.at(s);
    }
    log.push(live.hall.alerts().to_vec());
    // ...a replay only sees the inputs and the final time.
    let mut replay = H::new();
    replay.op(
        "01",
        WindowOp::Pause {
            reason: PauseReason::Break,
        },
    );
    replay.ticket("GA");
    replay.at(3600);
    assert_eq!(replay.hall.alerts(), &log[0][..]);
}

#[test]
fn severity_and_state_codes_are_their_wire_names() {
    for s in [Severity::Notice, Severity::Warning, Severity::Critical] {
        assert_eq!(serde_json::to_value(s).unwrap(), s.code());
    }
    for s in [
        AlertState::Open,
        AlertState::Acknowledged,
        AlertState::Resolved,
    ] {
        assert_eq!(serde_json::to_value(s).unwrap(), s.code());
    }
    for r in Rule::ALL {
        assert_eq!(serde_json::to_value(r).unwrap(), r.code());
    }
}
