//! Each supervision rule with an injected clock: silent one second before
//! its threshold, firing at it, rising in severity, and clearing when its
//! condition clears. Then deduplication, office hours, escalation and
//! supervisors' actions.

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};

use super::tests::spec;
use super::*;

/// 09:00 Beijing time on Monday 2026-11-23.
fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 1, 0, 0).unwrap()
}

struct H {
    hall: Hall,
    now: DateTime<Utc>,
    n: u32,
}

impl H {
    /// A hall open all day, with every window logged in at 09:00 so that
    /// only the rule under test fires.
    fn new() -> Self {
        let mut s = spec();
        // Only window 01 is on the rota, so absence of the others is no alert.
        for w in &mut s.windows[1..] {
            w.on_rota = false;
        }
        let mut h = Self {
            hall: Hall::new(Arc::new(s), t0()),
            now: t0(),
            n: 0,
        };
        h.op(
            "01",
            WindowOp::Login {
                staff: StaffId::parse("S1").unwrap(),
                staff_name: None,
            },
        );
        h
    }
    fn at(&mut self, secs: i64) {
        self.now = t0() + Duration::seconds(secs);
        self.hall.tick(self.now);
    }
    fn id(&mut self) -> MsgId {
        self.n += 1;
        MsgId::parse(&format!("m{}", self.n)).unwrap()
    }
    fn op(&mut self, window: &str, op: WindowOp) -> Reply {
        let id = self.id();
        let input = Input::Window {
            window: WindowId::parse(window).unwrap(),
            id,
            op,
        };
        self.hall.apply(&input, self.now).reply.unwrap()
    }
    fn ticket(&mut self, service: &str) {
        self.ticket_with(service, Priority::Normal);
    }
    fn ticket_with(&mut self, service: &str, priority: Priority) {
        let id = self.id();
        let input = Input::Ticket {
            kiosk: DeviceId::parse("k1").unwrap(),
            id,
            request: TicketRequest {
                service: ServiceCode::parse(service).unwrap(),
                priority,
                appointment: None,
            },
        };
        self.hall.apply(&input, self.now);
    }
    fn rate(&mut self, window: &str, score: u8) {
        let id = self.id();
        let input = Input::Rating {
            window: WindowId::parse(window).unwrap(),
            id,
            rating: RatingInput {
                ticket: None,
                score,
                comment: Some("等太久".into()),
            },
        };
        self.hall.apply(&input, self.now);
    }
    /// Window 01 pauses for a reason.
    fn pause(&mut self, reason: PauseReason) {
        self.op("01", WindowOp::Pause { reason });
    }

    /// A supervisor acts on the latest alert of `rule`; its id.
    fn act(&mut self, rule: Rule, op: AlertOp, note: Option<&str>) -> String {
        let id = self.last(rule).id.clone();
        self.hall
            .act_on_alert(&id, op, "监察员", note, self.now)
            .unwrap();
        id
    }

    /// A ticket of `service` issued, called and finished at window 01.
    fn serve(&mut self, service: &str) {
        self.ticket(service);
        self.op("01", WindowOp::CallNext);
        self.op("01", finish());
    }

    /// The active alerts of a rule.
    fn active(&self, rule: Rule) -> Vec<&Alert> {
        self.hall
            .alerts()
            .iter()
            .filter(|a| a.rule == rule && a.is_active())
            .collect()
    }
    fn severity(&self, rule: Rule) -> Option<Severity> {
        let a = self.active(rule);
        assert!(a.len() <= 1, "at most one active alert per subject: {a:?}");
        a.first().map(|a| a.severity)
    }
    fn last(&self, rule: Rule) -> &Alert {
        self.hall
            .alerts()
            .iter()
            .rev()
            .find(|a| a.rule == rule)
            .expect("an alert")
    }
}

fn finish() -> WindowOp {
    WindowOp::Finish {
        outcome: Outcome::Completed,
        case: None,
    }
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
fn pause_too_long_at_15_and_30_minutes() {
    let mut h = H::new();
    h.pause(PauseReason::Break);
    h.at(15 * 60 - 1);
    assert_eq!(h.severity(Rule::PauseTooLong), None);
    h.at(15 * 60);
    assert_eq!(h.severity(Rule::PauseTooLong), Some(Severity::Warning));
    h.at(30 * 60);
    assert_eq!(h.severity(Rule::PauseTooLong), Some(Severity::Critical));
    h.op("01", WindowOp::Resume);
    assert_eq!(h.severity(Rule::PauseTooLong), None);
}

#[test]
fn call_unanswered_and_service_timeout() {
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
    h.at(5 * 60 + 20 * 60 - 1);
    assert_eq!(h.severity(Rule::ServiceTimeout), None);
    h.at(5 * 60 + 20 * 60);
    assert_eq!(h.severity(Rule::ServiceTimeout), Some(Severity::Warning));
    h.at(5 * 60 + 40 * 60);
    assert_eq!(h.severity(Rule::ServiceTimeout), Some(Severity::Critical));
    h.op("01", finish());
    assert_eq!(h.severity(Rule::ServiceTimeout), None);
}

#[test]
fn window_unattended_counts_from_opening_time_for_windows_on_the_rota() {
    let mut s = spec();
    s.hours = OfficeHours::default();
    for day in 0..5 {
        s.hours.weekly[day] = vec![
            Span::parse("09:00-12:00").unwrap(),
            Span::parse("13:30-17:30").unwrap(),
        ];
    }
    s.windows[1].on_rota = false;
    s.windows[2].on_rota = false;
    let mut h = H {
        hall: Hall::new(Arc::new(s), t0()),
        now: t0(),
        n: 0,
    };
    // Offline since midnight, but the hall opened at 09:00.
    h.at(15 * 60 - 1);
    assert_eq!(h.severity(Rule::WindowUnattended), None);
    h.at(15 * 60);
    assert_eq!(h.severity(Rule::WindowUnattended), Some(Severity::Warning));
    assert_eq!(
        h.active(Rule::WindowUnattended).len(),
        1,
        "only the window on the rota"
    );
    h.at(30 * 60);
    assert_eq!(h.severity(Rule::WindowUnattended), Some(Severity::Critical));
    h.op(
        "01",
        WindowOp::Login {
            staff: StaffId::parse("S1").unwrap(),
            staff_name: None,
        },
    );
    assert_eq!(h.severity(Rule::WindowUnattended), None);
    // Absence counts office time only: 11:50 to 12:00, then from 13:30.
    h.at(2 * 3600 + 50 * 60); // 11:50
    h.op("01", WindowOp::Logout);
    h.at(3 * 3600 + 20 * 60); // 12:20
    assert_eq!(h.severity(Rule::WindowUnattended), None, "closed for lunch");
    h.at(4 * 3600 + 30 * 60 + 5 * 60 - 1); // 13:34:59: 14:59 of office time
    assert_eq!(h.severity(Rule::WindowUnattended), None);
    h.at(4 * 3600 + 30 * 60 + 5 * 60); // 13:35: 15 minutes of office time
    assert_eq!(h.severity(Rule::WindowUnattended), Some(Severity::Warning));
    assert_eq!(
        h.last(Rule::WindowUnattended).opened_at,
        t0() + Duration::minutes(4 * 60 + 35)
    );
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

#[test]
fn queue_backlog_above_ten_per_open_window() {
    let mut h = H::new();
    // Window 01 serves SB and GA: half a window for SB.
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
    // Window 02 opens: 1.5 windows for SB, 11 / 1.5 is about 7.
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
fn window_overload_at_100_and_120_percent() {
    let mut h = H::new();
    let serve = |h: &mut H, n: usize| {
        for _ in 0..n {
            h.serve("SB");
        }
    };
    serve(&mut h, 24);
    assert_eq!(h.severity(Rule::WindowOverload), None);
    serve(&mut h, 1);
    assert_eq!(
        h.severity(Rule::WindowOverload),
        Some(Severity::Notice),
        "25 of 25"
    );
    serve(&mut h, 5);
    assert_eq!(
        h.severity(Rule::WindowOverload),
        Some(Severity::Warning),
        "30 of 25"
    );
}

#[test]
fn no_show_streak_of_three_within_fifteen_minutes() {
    let mut h = H::new();
    for i in 0..3 {
        h.ticket("SB");
        h.at(i * 60);
        h.op("01", WindowOp::CallNext);
        h.op("01", WindowOp::NoShow);
        if i < 2 {
            assert_eq!(h.severity(Rule::NoShowStreak), None);
        }
    }
    assert_eq!(h.severity(Rule::NoShowStreak), Some(Severity::Warning));
    h.serve("SB");
    assert_eq!(
        h.severity(Rule::NoShowStreak),
        None,
        "a served ticket ends the streak"
    );
}

#[test]
fn a_slow_no_show_streak_is_not_suspicious() {
    let mut h = H::new();
    for i in 0..3 {
        h.ticket("SB");
        h.at(i * 8 * 60); // 0, 8 and 16 minutes
        h.op("01", WindowOp::CallNext);
        h.op("01", WindowOp::NoShow);
    }
    assert_eq!(h.severity(Rule::NoShowStreak), None);
}

#[test]
fn a_bad_rating_stays_until_a_person_resolves_it_with_a_note() {
    let mut h = H::new();
    h.serve("SB");
    h.rate("01", 1);
    assert_eq!(h.severity(Rule::BadRating), Some(Severity::Critical));
    let id = h.last(Rule::BadRating).id.clone();
    assert!(h.last(Rule::BadRating).message.contains("等太久"));
    let now = h.now;
    assert_eq!(
        h.hall
            .act_on_alert(&id, AlertOp::Resolve, "监察员", Some("  "), now),
        Err(AlertRefusal::NoteRequired)
    );
    h.hall
        .act_on_alert(&id, AlertOp::Ack, "监察员", None, now)
        .unwrap();
    assert_eq!(h.last(Rule::BadRating).state, AlertState::Acknowledged);
    assert_eq!(
        h.hall.act_on_alert(&id, AlertOp::Ack, "监察员", None, now),
        Err(AlertRefusal::AlreadyAcknowledged)
    );
    h.at(3600);
    assert_eq!(
        h.severity(Rule::BadRating),
        Some(Severity::Critical),
        "no self-resolution"
    );
    h.hall
        .act_on_alert(
            &id,
            AlertOp::Resolve,
            "监察员",
            Some("已回访，群众表示理解"),
            h.now,
        )
        .unwrap();
    let a = h.last(Rule::BadRating);
    assert_eq!(a.state, AlertState::Resolved);
    assert_eq!(a.resolved.as_ref().unwrap().by, "监察员");
    h.at(3601);
    assert!(
        h.active(Rule::BadRating).is_empty(),
        "a resolved review does not reopen"
    );
    assert_eq!(
        h.hall.act_on_alert(&id, AlertOp::Ack, "x", None, h.now),
        Err(AlertRefusal::AlreadyResolved)
    );
    assert_eq!(
        h.hall.act_on_alert("nope", AlertOp::Ack, "x", None, h.now),
        Err(AlertRefusal::UnknownAlert)
    );
}

#[test]
fn a_rating_of_two_is_a_warning_and_three_is_fine() {
    let mut h = H::new();
    for score in [3, 2] {
        h.serve("SB");
        h.rate("01", score);
    }
    assert_eq!(h.severity(Rule::BadRating), Some(Severity::Warning));
    assert_eq!(h.active(Rule::BadRating).len(), 1);
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
fn device_offline_after_two_minutes() {
    let mut h = H::new();
    let p = |online| Input::Presence {
        device: DeviceId::parse("k1").unwrap(),
        online,
    };
    h.hall.apply(&p(true), h.now);
    h.hall.apply(&p(false), h.now);
    h.at(119);
    assert_eq!(h.severity(Rule::DeviceOffline), None);
    h.at(120);
    assert_eq!(h.severity(Rule::DeviceOffline), Some(Severity::Warning));
    let now = h.now;
    h.hall.apply(&p(true), now);
    assert_eq!(h.severity(Rule::DeviceOffline), None);
}

#[test]
fn rating_missing_after_twenty_finished_with_under_half_rated() {
    let mut h = H::new();
    for i in 0..20 {
        h.serve("SB");
        if i < 9 {
            h.rate("01", 5);
        }
    }
    assert_eq!(
        h.severity(Rule::RatingMissing),
        Some(Severity::Notice),
        "9 of 20"
    );
    h.serve("SB");
    h.rate("01", 5);
    h.serve("SB");
    h.rate("01", 5);
    assert_eq!(h.severity(Rule::RatingMissing), None, "11 of 22");
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

/// A hall open 09:00-12:00 and 13:30-17:30 on weekdays: seven office hours.
fn office_hall() -> H {
    let mut s = spec();
    s.hours = OfficeHours::default();
    for day in 0..5 {
        s.hours.weekly[day] = vec![
            Span::parse("09:00-12:00").unwrap(),
            Span::parse("13:30-17:30").unwrap(),
        ];
    }
    for w in &mut s.windows {
        w.on_rota = false;
    }
    H {
        hall: Hall::new(Arc::new(s), t0()),
        now: t0(),
        n: 0,
    }
}

#[test]
fn the_forecast_divides_by_the_share_of_office_time_passed() {
    let mut h = office_hall();
    h.at(3600); // 10:00: one of seven hours passed
    for _ in 0..30 {
        h.ticket("SB");
    }
    let sb = &h.hall.staffing(h.now)[0];
    assert_eq!(sb.issued, 30);
    assert!(
        (sb.forecast - 210.0).abs() < 1e-9,
        "30 / (1/7) = {}",
        sb.forecast
    );
    assert_eq!(sb.windows_needed, 9, "ceil(210 / 25)");
    assert_eq!(sb.staff_needed, 14, "ceil(9 × 1.5)");
    // 15:30: 3 + 2 of 7 hours.
    h.at(6 * 3600 + 30 * 60);
    let sb = &h.hall.staffing(h.now)[0];
    assert!(
        (sb.forecast - 30.0 * 7.0 / 5.0).abs() < 1e-9,
        "{}",
        sb.forecast
    );
}

#[test]
fn early_in_the_morning_the_forecast_never_divides_by_less_than_an_hour() {
    let mut h = office_hall();
    h.at(10 * 60); // 09:10
    assert!((h.hall.share_of_day_passed(h.now) - 1.0 / 7.0).abs() < 1e-9);
    for _ in 0..5 {
        h.ticket("GA");
    }
    let ga = &h.hall.staffing(h.now)[1];
    assert!(
        (ga.forecast - 35.0).abs() < 1e-9,
        "5 / (1/7), not 5 / (1/42)"
    );
    assert_eq!(ga.windows_needed, 2);
    // A window serving SB and GA counts one half towards GA.
    h.op(
        "01",
        WindowOp::Login {
            staff: StaffId::parse("S1").unwrap(),
            staff_name: None,
        },
    );
    assert!(
        (h.hall.staffing(h.now)[1].windows_open - 0.5).abs() < 1e-9,
        "01 counts half; 03 is offline"
    );
}

#[test]
fn staffing_gap_after_ten_minutes_short_of_a_window() {
    let mut h = office_hall();
    h.at(3600); // 10:00
    for _ in 0..10 {
        h.ticket("SB"); // forecast 70: 3 windows needed, none open
    }
    assert_eq!(h.severity(Rule::StaffingGap), None);
    h.at(3600 + 10 * 60 - 1);
    assert_eq!(h.severity(Rule::StaffingGap), None, "not yet ten minutes");
    h.at(3600 + 10 * 60);
    assert_eq!(h.severity(Rule::StaffingGap), Some(Severity::Notice));
    assert!(
        h.last(Rule::StaffingGap).message.contains("建议增开"),
        "{}",
        h.last(Rule::StaffingGap).message
    );
    for w in ["01", "02", "03"] {
        h.op(
            w,
            WindowOp::Login {
                staff: StaffId::parse("S1").unwrap(),
                staff_name: None,
            },
        );
    }
    // SB now has 01 (half) and 02 (whole): 1.5 of 3 windows. Still short.
    assert_eq!(h.severity(Rule::StaffingGap), Some(Severity::Notice));
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

/// A small deterministic generator, so a failing day can be replayed.
struct Dice(u64);

impl Dice {
    fn roll(&mut self, n: u64) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
    fn pick<T: Copy>(&mut self, of: &[T]) -> T {
        of[self.roll(of.len() as u64) as usize]
    }
}

/// One input of a busy, untidy day: every kind of device message and every
/// window operation, valid or not, and now and then a supervisor's action
/// on an alert the hall has.
fn any_input(d: &mut Dice, n: u32, hall: &Hall) -> Input {
    let id = MsgId::parse(&format!("m{n}")).unwrap();
    let window = WindowId::parse(d.pick(&["01", "02", "03"])).unwrap();
    let service = ServiceCode::parse(d.pick(&["SB", "GA", "QY"])).unwrap();
    match d.roll(100) {
        0..35 => Input::Ticket {
            kiosk: DeviceId::parse("k1").unwrap(),
            id,
            request: TicketRequest {
                service,
                priority: d.pick(&[Priority::Normal, Priority::Normal, Priority::Elderly]),
                appointment: None,
            },
        },
        35..80 => {
            let op = match d.roll(14) {
                0 => WindowOp::Login {
                    staff: StaffId::parse(&format!("S{window}")).unwrap(),
                    staff_name: None,
                },
                1 => WindowOp::Logout,
                2 => WindowOp::Pause {
                    reason: d.pick(&[PauseReason::Break, PauseReason::Meeting]),
                },
                3 => WindowOp::Resume,
                4 | 5 => WindowOp::CallNext,
                6 => WindowOp::Recall,
                7 => WindowOp::Start,
                8..=10 => WindowOp::NoShow,
                11 | 12 => WindowOp::Finish {
                    outcome: d.pick(&[Outcome::Completed, Outcome::Accepted]),
                    case: None,
                },
                _ => WindowOp::Transfer {
                    to_service: service,
                },
            };
            Input::Window { window, id, op }
        }
        80..93 => Input::Rating {
            window,
            id,
            rating: RatingInput {
                ticket: None,
                score: d.roll(5) as u8 + 1,
                comment: None,
            },
        },
        93..97 => Input::Presence {
            device: DeviceId::parse(d.pick(&["k1", "w01", "r02", "w03"])).unwrap(),
            online: d.roll(2) == 0,
        },
        _ => {
            let active: Vec<&Alert> = hall.alerts().iter().filter(|a| a.is_active()).collect();
            let alert = if active.is_empty() {
                "none".to_owned()
            } else {
                d.pick(&active).id.clone()
            };
            Input::AlertAction {
                alert,
                op: d.pick(&[AlertOp::Ack, AlertOp::Resolve]),
                by: "监察员".into(),
                note: Some("已回访".into()),
            }
        }
    }
}

/// Supervision checks a rule only when an input changed what it reads
/// (`Rule::reads`, `Input::changes`) or time reached a deadline in what it
/// found last (`Checks`). Over three busy days of every kind of input, with
/// limits low enough that every rule fires, a hall that does so keeps
/// exactly the alerts of one that checks every rule before and after every
/// event: a wrong reading, a wrong change or a missed deadline would part
/// them.
#[test]
fn checking_only_what_an_input_changes_keeps_the_alerts_of_checking_everything() {
    let mut s = spec();
    s.thresholds = Thresholds {
        backlog_per_window: 3.0,
        staffing_gap_s: 120,
        unattended_s: (300, 900),
        idle_with_queue_s: 120,
        pause_s: (300, 600),
        call_unanswered_s: 120,
        no_show_streak: 2,
        no_show_within_s: 1800,
        device_offline_s: 60,
        rating_share: 0.8,
        rating_after: 3,
        escalate_after_s: 300,
        ..Thresholds::default()
    };
    for w in &mut s.windows {
        w.benchmark = 4;
    }
    for svc in &mut s.services {
        svc.wait_limit_s = (600, 1200);
        svc.service_limit_s = (300, 900);
    }
    let spec = Arc::new(s);
    let mut lean = Hall::new(spec.clone(), t0());
    let mut full = Hall::new(spec, t0());
    let mut d = Dice(0x9e37_79b9_7f4a_7c15);
    let mut now = t0();
    let mut rules = std::collections::BTreeSet::new();
    for n in 0..2500 {
        now += Duration::seconds(1 + d.roll(90) as i64);
        let input = any_input(&mut d, n, &lean);
        full.checks = Default::default();
        let a = lean.apply(&input, now);
        let b = full.apply(&input, now);
        assert_eq!(a.reply, b.reply, "event {n}: {input:?}");
        assert_eq!(a.effects, b.effects, "event {n}: {input:?}");
        full.checks = Default::default();
        assert_eq!(
            full.tick(now),
            vec![],
            "event {n} changed more than it says: {input:?}"
        );
        assert_eq!(lean.alerts(), full.alerts(), "event {n}: {input:?}");
        rules.extend(lean.alerts().iter().map(|a| a.rule));
    }
    assert!(lean.day() > t0().date_naive(), "the run spans days");
    // Every rule fired at least once, so every rule's choice was tested.
    let missing: Vec<_> = Rule::ALL.iter().filter(|r| !rules.contains(r)).collect();
    assert!(missing.is_empty(), "rules that never fired: {missing:?}");
}
