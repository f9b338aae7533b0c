//! Behaviour of the hall state machine: every op, every refusal, the queue
//! policy, idempotency and the day boundary; then properties over random
//! command sequences.

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use proptest::prelude::*;

use super::*;

/// Gives the test hall's first two services their departments: 县人社局
/// (`rsj`, SB) and 县公安局 (`gaj`, GA).
pub(crate) fn with_departments(s: &mut HallSpec) {
    s.departments = vec![
        Department {
            code: "rsj".into(),
            name: "县人社局".into(),
        },
        Department {
            code: "gaj".into(),
            name: "县公安局".into(),
        },
    ];
    s.services[0].department = Some(0);
    s.services[1].department = Some(1);
}

/// Puts window `w` on a weekday rota, 09:00-12:00 and 13:30-17:30, with
/// A角 and B角 by index into the staff, and its duty to match.
pub(crate) fn weekday_rota(s: &mut HallSpec, w: usize, a: usize, b: usize) {
    let mut days = DaySet::default();
    days.weekdays[..5].fill(true);
    s.windows[w].roster = vec![DutyPeriod {
        days,
        spans: ["09:00-12:00", "13:30-17:30"]
            .iter()
            .map(|x| Span::parse(x).unwrap())
            .collect(),
        a: Some(a),
        b: Some(b),
    }];
    s.windows[w].duty = Some(duty_hours(&s.windows[w].roster, &s.calendar));
}

pub(crate) fn spec() -> HallSpec {
    let svc = |code: &str, name: &str, prefix: &str| ServiceSpec {
        code: ServiceCode::parse(code).unwrap(),
        name: name.into(),
        prefix: prefix.into(),
        expected_service_s: 600,
        wait_limit_s: (1800, 3600),
        service_limit_s: (1200, 2400),
        department: None,
        daily_cap: None,
    };
    let win = |id: &str, services: Vec<usize>| WindowSpec {
        id: WindowId::parse(id).unwrap(),
        name: format!("{}号窗口", id.trim_start_matches('0')),
        kind: WindowKind::Comprehensive,
        services,
        zone: None,
        on_rota: true,
        duty: None,
        roster: Vec::new(),
        benchmark: 25,
        counts: BenchmarkUnit::Cases,
        mandatory: false,
        terminal: DeviceId::parse(&format!("w{id}")).unwrap(),
        rater: DeviceId::parse(&format!("r{id}")).unwrap(),
    };
    HallSpec {
        id: HallId::parse("h").unwrap(),
        name: "测试大厅".into(),
        level: HallLevel::County,
        region: Vec::new(),
        tz: chrono_tz::Asia::Shanghai,
        hours: OfficeHours::weekdays(&["09:00-12:00", "13:30-17:30"]),
        refuse_outside_hours: false,
        services: vec![
            svc("SB", "社会保障", "B"),
            svc("GA", "公安专项", "A"),
            svc("QY", "登记注册", "Q"),
        ],
        windows: vec![
            win("01", vec![0, 1]),
            win("02", vec![0]),
            win("03", vec![2]),
        ],
        kiosks: vec![DeviceId::parse("k1").unwrap()],
        backoffice: vec![DeviceId::parse("ywxt").unwrap()],
        thresholds: Thresholds::default(),
        benchmark: 25,
        staff_per_window: 1.5,
        staffing_margin: 1.2,
        departments: Vec::new(),
        staff: Vec::new(),
        calendar: HallCalendar::default(),
        attendance: AttendanceLimits::default(),
        kiosk_per_minute: None,
        stop_issuing_min: None,
        bookings: Default::default(),
        cards: Default::default(),
        follow_up: Default::default(),
        deductions: Default::default(),
    }
}

/// 09:00 Beijing time on Monday 2026-11-23, plus `s` seconds.
fn at(s: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 1, 0, 0).unwrap() + Duration::seconds(s)
}

struct T {
    hall: Hall,
    n: u32,
    now: i64,
}

impl T {
    fn new() -> Self {
        Self::with(spec())
    }
    fn with(spec: HallSpec) -> Self {
        Self {
            hall: Hall::new(Arc::new(spec), at(0)),
            n: 0,
            now: 0,
        }
    }
    fn id(&mut self) -> MsgId {
        self.n += 1;
        MsgId::parse(&format!("m{}", self.n)).unwrap()
    }
    fn advance(&mut self, s: i64) {
        self.now += s;
    }
    fn apply(&mut self, input: Input) -> Reply {
        self.hall.apply(&input, at(self.now)).reply.unwrap()
    }
    fn ticket(&mut self, service: &str, priority: Priority) -> Reply {
        if priority == Priority::Appointment {
            // Booked for the slot starting now or next, so it checks in.
            let slot = 30 * 60;
            let start = (self.now + slot - 1).div_euclid(slot) * slot;
            let booking = BookingRequest {
                reference: format!("YY-{}", self.n + 1),
                service: ServiceCode::parse(service).unwrap(),
                slot_start: at(start),
                slot_end: at(start + slot),
            };
            let r = self.apply(Input::Book {
                booking,
                by: "预约平台".into(),
            });
            assert!(matches!(r, Reply::Booked { .. }), "{r:?}");
        }
        let id = self.id();
        self.apply(Input::Ticket {
            kiosk: DeviceId::parse("k1").unwrap(),
            id,
            request: TicketRequest {
                service: ServiceCode::parse(service).unwrap(),
                priority,
                appointment: (priority == Priority::Appointment).then(|| format!("YY-{}", self.n)),
                green_reason: (priority == Priority::Green).then(|| "危重病人".into()),
                issued_by: (priority == Priority::Green).then(|| StaffId::parse("D01").unwrap()),
                token: None,
            },
        })
    }
    fn op(&mut self, window: &str, op: WindowOp) -> Reply {
        let id = self.id();
        self.apply(Input::Window {
            window: WindowId::parse(window).unwrap(),
            id,
            op,
        })
    }
    fn login(&mut self, window: &str) -> Reply {
        self.op(
            window,
            WindowOp::Login {
                staff: StaffId::parse("S001").unwrap(),
                staff_name: Some("李敏".into()),
            },
        )
    }
    fn rate(&mut self, window: &str, ticket: Option<&str>, score: u8) -> Reply {
        let id = self.id();
        self.apply(Input::Rating {
            window: WindowId::parse(window).unwrap(),
            id,
            rating: RatingInput::new(ticket.map(|t| TicketNo::parse(t).unwrap()), score, None),
        })
    }
    fn status(&self, window: usize) -> WindowStatus {
        self.hall.window_status(window)
    }
}

fn ticket_of(r: &Reply) -> Option<&str> {
    match r {
        Reply::Ticket { ticket, .. } => Some(ticket.as_str()),
        Reply::Window { ticket } => ticket.as_ref().map(TicketNo::as_str),
        Reply::Rating { ticket, .. } | Reply::GaveUp { ticket } => Some(ticket.as_str()),
        Reply::Refused(_)
        | Reply::AlertDone { .. }
        | Reply::AlertRefused(_)
        | Reply::CaseTaken { .. }
        | Reply::CaseRefused(_)
        | Reply::Booked { .. } => None,
    }
}

fn refused(r: &Reply) -> Option<Reason> {
    r.refusal().map(|r| r.reason)
}

fn finish() -> WindowOp {
    WindowOp::Finish {
        outcome: Outcome::Completed,
        case: None,
        items: 1,
    }
}

#[test]
fn tickets_are_numbered_per_service_from_001() {
    let mut t = T::new();
    assert_eq!(ticket_of(&t.ticket("SB", Priority::Normal)), Some("B001"));
    assert_eq!(ticket_of(&t.ticket("SB", Priority::Normal)), Some("B002"));
    assert_eq!(ticket_of(&t.ticket("GA", Priority::Normal)), Some("A001"));
    let r = t.ticket("SB", Priority::Normal);
    let Reply::Ticket {
        waiting_ahead,
        estimated_wait_s,
        service_name,
        ..
    } = r
    else {
        panic!("{r:?}")
    };
    assert_eq!(waiting_ahead, 2);
    // Nobody is logged in: windows 01 (SB and GA) and 02 (SB) as they will
    // be, each at the expected 600 s a ticket; 01 gives SB the 3 of its 4
    // waiting, so 1.75 windows: (2 ahead + 0.5) × 600 ÷ 1.75 = 857 s.
    assert_eq!(estimated_wait_s, 857);
    assert_eq!(service_name, "社会保障");
}

#[test]
fn numbers_pass_999_and_restart_each_local_day() {
    let mut t = T::new();
    for _ in 0..999 {
        t.ticket("QY", Priority::Normal);
    }
    assert_eq!(ticket_of(&t.ticket("QY", Priority::Normal)), Some("Q1000"));
    // 2026-11-24 00:00 Beijing time is 16:00 UTC on the 23rd: 15 h after 09:00.
    t.advance(15 * 3600 - 1);
    assert_eq!(ticket_of(&t.ticket("QY", Priority::Normal)), Some("Q1001"));
    t.advance(1);
    assert_eq!(ticket_of(&t.ticket("QY", Priority::Normal)), Some("Q001"));
    assert_eq!(t.hall.tickets().len(), 1);
}

#[test]
fn a_new_day_logs_everyone_out() {
    let mut t = T::new();
    t.login("01");
    let effects = t.hall.tick(at(15 * 3600));
    assert!(matches!(&effects[0], Effect::DayEnded(f) if f.complete));
    assert!(matches!(effects[1], Effect::DayStarted(_)));
    assert_eq!(t.status(0), WindowStatus::Offline);
}

#[test]
fn kiosk_refusals() {
    let mut t = T::new();
    let id = t.id();
    let r = t.apply(Input::Ticket {
        kiosk: DeviceId::parse("k1").unwrap(),
        id,
        request: TicketRequest {
            service: ServiceCode::parse("XX").unwrap(),
            priority: Priority::Normal,
            appointment: None,
            green_reason: None,
            issued_by: None,
            token: None,
        },
    });
    assert_eq!(refused(&r), Some(Reason::UnknownService));
    assert!(r.refusal().unwrap().message.contains("XX"));

    let id = t.id();
    let r = t.apply(Input::Ticket {
        kiosk: DeviceId::parse("k9").unwrap(),
        id,
        request: TicketRequest {
            service: ServiceCode::parse("SB").unwrap(),
            priority: Priority::Normal,
            appointment: None,
            green_reason: None,
            issued_by: None,
            token: None,
        },
    });
    assert_eq!(refused(&r), Some(Reason::UnknownDevice));

    let id = t.id();
    let r = t.apply(Input::Ticket {
        kiosk: DeviceId::parse("k1").unwrap(),
        id,
        request: TicketRequest {
            service: ServiceCode::parse("SB").unwrap(),
            priority: Priority::Appointment,
            appointment: None,
            green_reason: None,
            issued_by: None,
            token: None,
        },
    });
    assert_eq!(refused(&r), Some(Reason::BadRequest));
    assert!(t.hall.tickets().is_empty(), "refusals issue nothing");
}

#[test]
fn a_closed_hall_refuses_tickets_only_when_configured_to() {
    let mut s = spec();
    s.hours = OfficeHours::default(); // never open
    let mut t = T::with(s.clone());
    assert_eq!(ticket_of(&t.ticket("SB", Priority::Normal)), Some("B001"));
    s.refuse_outside_hours = true;
    let mut t = T::with(s);
    assert_eq!(
        refused(&t.ticket("SB", Priority::Normal)),
        Some(Reason::HallClosed)
    );
}

#[test]
fn walk_in_tickets_stop_at_the_cut_off_before_closing_and_appointments_still_come() {
    let mut s = spec();
    s.stop_issuing_min = Some(30);
    let mut t = T::with(s);
    // The test day closes at 17:30: the cut-off is 17:00. t starts at 09:00.
    t.advance(8 * 3600 - 1);
    assert!(ticket_of(&t.ticket("SB", Priority::Normal)).is_some());
    t.advance(1);
    let r = t.ticket("SB", Priority::Elderly);
    assert_eq!(refused(&r), Some(Reason::IssuingStopped));
    assert_eq!(
        r.refusal().unwrap().message,
        "今日 17:00 已停止取号，请明天再来或预约办理"
    );
    assert_eq!(t.hall.waiting(0), 1, "a refusal issues nothing");
    assert!(ticket_of(&t.ticket("SB", Priority::Appointment)).is_some());
    assert!(ticket_of(&t.ticket("SB", Priority::Green)).is_some());
    let view = t.hall.display_snapshot(at(t.now));
    assert_eq!(view.stop_issuing_at.as_deref(), Some("17:00"));
    assert_eq!(view.hours, ["09:00-12:00", "13:30-17:30"]);
}

#[test]
fn a_service_issues_its_daily_cap_of_walk_ins_and_no_more() {
    let mut s = spec();
    s.services[0].daily_cap = Some(3);
    let mut t = T::with(s);
    for _ in 0..3 {
        assert!(ticket_of(&t.ticket("SB", Priority::Normal)).is_some());
        t.advance(60);
    }
    let r = t.ticket("SB", Priority::Elderly);
    assert_eq!(refused(&r), Some(Reason::DailyCap));
    let Reply::Refused(refusal) = &r else {
        unreachable!()
    };
    assert!(
        refusal
            .message
            .contains("今日社会保障号已发完（每日 3 个）"),
        "{}",
        refusal.message
    );
    assert_eq!(t.hall.waiting(0), 3, "a refusal issues nothing");
    // Appointments and the green channel are never capped; other services
    // have their own count.
    assert_eq!(
        ticket_of(&t.ticket("SB", Priority::Appointment)),
        Some("B004")
    );
    assert_eq!(ticket_of(&t.ticket("SB", Priority::Green)), Some("B005"));
    assert_eq!(ticket_of(&t.ticket("GA", Priority::Normal)), Some("A001"));
    // A new day issues again.
    t.advance(24 * 3600);
    assert_eq!(ticket_of(&t.ticket("SB", Priority::Normal)), Some("B001"));
}

#[test]
fn a_kiosk_issues_a_burst_then_at_its_rate() {
    let mut s = spec();
    s.kiosk_per_minute = Some(6); // a burst of 6, then one every 10 s
    let mut t = T::with(s);
    for n in 0..6 {
        assert!(
            ticket_of(&t.ticket("SB", Priority::Normal)).is_some(),
            "{n}"
        );
    }
    let r = t.ticket("SB", Priority::Normal);
    assert_eq!(refused(&r), Some(Reason::KioskRate));
    let Reply::Refused(refusal) = &r else {
        unreachable!()
    };
    assert_eq!(refusal.message, "取号过于频繁，请 10 秒后再取号");
    t.advance(9);
    assert_eq!(
        refused(&t.ticket("GA", Priority::Normal)),
        Some(Reason::KioskRate)
    );
    t.advance(1);
    assert_eq!(ticket_of(&t.ticket("GA", Priority::Normal)), Some("A001"));
    assert_eq!(
        refused(&t.ticket("GA", Priority::Normal)),
        Some(Reason::KioskRate)
    );
    // A quiet minute fills the burst again.
    t.advance(60);
    for n in 0..6 {
        assert!(
            ticket_of(&t.ticket("QY", Priority::Normal)).is_some(),
            "{n}"
        );
    }
    assert_eq!(t.hall.tickets().len(), 13);
}

#[test]
fn the_whole_life_of_a_ticket() {
    let mut t = T::new();
    assert_eq!(t.status(0), WindowStatus::Offline);
    t.ticket("SB", Priority::Normal);
    assert!(matches!(t.login("01"), Reply::Window { ticket: None }));
    assert_eq!(t.status(0), WindowStatus::Idle);
    assert_eq!(ticket_of(&t.op("01", WindowOp::CallNext)), Some("B001"));
    assert_eq!(t.status(0), WindowStatus::Calling);
    assert_eq!(t.hall.waiting(0), 0);
    assert_eq!(ticket_of(&t.op("01", WindowOp::Recall)), Some("B001"));
    assert_eq!(t.hall.recent_calls().count(), 2);
    t.advance(60);
    assert_eq!(ticket_of(&t.op("01", WindowOp::Start)), Some("B001"));
    assert_eq!(t.status(0), WindowStatus::Serving);
    t.advance(300);
    assert_eq!(ticket_of(&t.op("01", finish())), Some("B001"));
    assert_eq!(t.status(0), WindowStatus::Idle);
    let w = &t.hall.windows()[0];
    assert_eq!((w.served_today, w.service_s_today), (1, 300));
    let ticket = t.hall.ticket(&TicketNo::parse("B001").unwrap()).unwrap();
    assert_eq!(ticket.state, TicketState::Done);
    assert_eq!(ticket.outcome, Some(Outcome::Completed));
    assert_eq!(ticket_of(&t.rate("01", None, 5)), Some("B001"));
    assert_eq!(
        refused(&t.rate("01", Some("B001"), 4)),
        Some(Reason::AlreadyRated)
    );
    assert!(matches!(t.op("01", WindowOp::Logout), Reply::Window { .. }));
    assert_eq!(t.status(0), WindowStatus::Offline);
}

#[test]
fn finishing_a_called_ticket_counts_from_the_call() {
    let mut t = T::new();
    t.ticket("SB", Priority::Normal);
    t.login("02");
    t.op("02", WindowOp::CallNext);
    t.advance(120);
    t.op("02", finish());
    assert_eq!(t.hall.windows()[1].service_s_today, 120);
}

#[test]
fn call_next_follows_the_default_policy() {
    let mut t = T::new();
    t.ticket("SB", Priority::Normal); // B001
    t.advance(1);
    t.ticket("GA", Priority::Normal); // A001
    t.advance(1);
    t.ticket("SB", Priority::Elderly); // B002
    t.advance(1);
    t.ticket("GA", Priority::Disabled); // A002
    t.advance(1);
    t.ticket("QY", Priority::Green); // Q001, not served by window 01
    t.advance(1);
    t.ticket("SB", Priority::Appointment); // B003
    t.login("01");
    let mut order = vec![];
    for _ in 0..6 {
        let r = t.op("01", WindowOp::CallNext);
        match ticket_of(&r) {
            Some(no) => order.push(no.to_owned()),
            None => break,
        }
        t.op("01", finish());
    }
    assert_eq!(order, ["B003", "B002", "A002", "B001", "A001"]);
    assert!(matches!(
        t.op("01", WindowOp::CallNext),
        Reply::Window { ticket: None }
    ));
}

#[test]
fn a_transferred_ticket_keeps_its_class_and_place() {
    let mut t = T::new();
    t.ticket("QY", Priority::Elderly); // Q001 at 0
    t.advance(10);
    t.ticket("SB", Priority::Elderly); // B001 at 10
    t.login("03");
    assert_eq!(ticket_of(&t.op("03", WindowOp::CallNext)), Some("Q001"));
    t.op("03", WindowOp::Start);
    t.advance(100);
    let to_sb = WindowOp::Transfer {
        to_service: ServiceCode::parse("SB").unwrap(),
    };
    assert_eq!(ticket_of(&t.op("03", to_sb)), Some("Q001"));
    assert_eq!(t.status(2), WindowStatus::Idle);
    assert_eq!(t.hall.waiting(0), 2);
    t.login("02");
    // Q001 was issued before B001, so it is called first at the SB window.
    assert_eq!(ticket_of(&t.op("02", WindowOp::CallNext)), Some("Q001"));
    let q = t.hall.ticket(&TicketNo::parse("Q001").unwrap()).unwrap();
    assert_eq!((q.service, q.issued_for, q.transfers), (0, 2, 1));
}

#[test]
fn transfer_refusals() {
    let mut t = T::new();
    t.ticket("SB", Priority::Normal);
    t.login("02");
    let to = |s: &str| WindowOp::Transfer {
        to_service: ServiceCode::parse(s).unwrap(),
    };
    assert_eq!(
        refused(&t.op("02", to("GA"))),
        Some(Reason::NoCurrentTicket)
    );
    t.op("02", WindowOp::CallNext);
    assert_eq!(refused(&t.op("02", to("XX"))), Some(Reason::UnknownService));
    assert_eq!(refused(&t.op("02", to("SB"))), Some(Reason::UnknownService));
    assert_eq!(
        t.status(1),
        WindowStatus::Calling,
        "refusals change nothing"
    );
}

#[test]
fn missed_tickets_wait_aside_and_can_be_called_again() {
    let mut t = T::new();
    t.ticket("SB", Priority::Normal);
    t.ticket("SB", Priority::Normal);
    t.login("02");
    t.op("02", WindowOp::CallNext);
    assert_eq!(ticket_of(&t.op("02", WindowOp::NoShow)), Some("B001"));
    assert_eq!(t.status(1), WindowStatus::Idle);
    // call_next does not pick a missed ticket...
    assert_eq!(ticket_of(&t.op("02", WindowOp::CallNext)), Some("B002"));
    t.op("02", finish());
    assert!(matches!(
        t.op("02", WindowOp::CallNext),
        Reply::Window { ticket: None }
    ));
    // ...but `call` brings a returning no-show back.
    let call = WindowOp::Call {
        ticket: TicketNo::parse("B001").unwrap(),
    };
    assert_eq!(ticket_of(&t.op("02", call)), Some("B001"));
    assert_eq!(
        t.hall
            .ticket(&TicketNo::parse("B001").unwrap())
            .unwrap()
            .no_shows,
        1
    );
}

#[test]
fn call_refusals() {
    let mut t = T::new();
    t.ticket("SB", Priority::Normal);
    t.ticket("QY", Priority::Normal);
    let call = |n: &str| WindowOp::Call {
        ticket: TicketNo::parse(n).unwrap(),
    };
    assert_eq!(
        refused(&t.op("02", WindowOp::CallNext)),
        Some(Reason::NotLoggedIn)
    );
    assert_eq!(
        refused(&t.op("02", call("B001"))),
        Some(Reason::NotLoggedIn)
    );
    t.login("02");
    assert_eq!(
        refused(&t.op("02", call("B999"))),
        Some(Reason::UnknownTicket)
    );
    assert_eq!(
        refused(&t.op("02", call("Q001"))),
        Some(Reason::NotServable)
    );
    t.op(
        "02",
        WindowOp::Pause {
            reason: PauseReason::Break,
        },
    );
    assert_eq!(t.status(1), WindowStatus::Paused);
    assert_eq!(
        refused(&t.op("02", WindowOp::CallNext)),
        Some(Reason::Paused)
    );
    t.op("02", WindowOp::Resume);
    assert_eq!(ticket_of(&t.op("02", call("B001"))), Some("B001"));
    assert_eq!(refused(&t.op("02", WindowOp::CallNext)), Some(Reason::Busy));
    t.login("01");
    assert_eq!(
        refused(&t.op("01", call("B001"))),
        Some(Reason::UnknownTicket),
        "already called"
    );
}

#[test]
fn ops_that_need_a_current_ticket() {
    let mut t = T::new();
    t.login("02");
    for op in [
        WindowOp::Recall,
        WindowOp::Start,
        WindowOp::NoShow,
        finish(),
    ] {
        assert_eq!(refused(&t.op("02", op)), Some(Reason::NoCurrentTicket));
    }
    t.ticket("SB", Priority::Normal);
    t.op("02", WindowOp::CallNext);
    t.op("02", WindowOp::Start);
    // Once serving, the ticket can no longer be recalled, started or missed.
    for op in [WindowOp::Recall, WindowOp::Start, WindowOp::NoShow] {
        assert_eq!(refused(&t.op("02", op)), Some(Reason::NoCurrentTicket));
    }
}

#[test]
fn pause_logout_and_login_rules() {
    let mut t = T::new();
    let pause = || WindowOp::Pause {
        reason: PauseReason::Meeting,
    };
    assert_eq!(
        refused(&t.op("02", WindowOp::Logout)),
        Some(Reason::NotLoggedIn)
    );
    assert_eq!(refused(&t.op("02", pause())), Some(Reason::NotLoggedIn));
    assert_eq!(
        refused(&t.op("02", WindowOp::Resume)),
        Some(Reason::NotPaused)
    );
    t.login("02");
    assert_eq!(
        refused(&t.op("02", WindowOp::Resume)),
        Some(Reason::NotPaused)
    );
    t.ticket("SB", Priority::Normal);
    t.op("02", WindowOp::CallNext);
    assert_eq!(refused(&t.op("02", pause())), Some(Reason::Busy));
    assert_eq!(refused(&t.op("02", WindowOp::Logout)), Some(Reason::Busy));
    assert_eq!(refused(&t.login("02")), Some(Reason::Busy));
    t.op("02", finish());
    t.op("02", pause());
    // Logout ends the pause.
    t.op("02", WindowOp::Logout);
    t.login("02");
    assert_eq!(t.status(1), WindowStatus::Idle);
}

#[test]
fn status_since_moves_only_when_the_status_changes() {
    let mut t = T::new();
    let midnight = Utc.with_ymd_and_hms(2026, 11, 22, 16, 0, 0).unwrap();
    assert_eq!(
        t.hall.windows()[1].since,
        midnight,
        "offline since the day began"
    );
    t.advance(5);
    t.login("02");
    assert_eq!(t.hall.windows()[1].since, at(5));
    t.advance(5);
    t.op("02", WindowOp::CallNext); // empty queue: still idle
    assert_eq!(t.hall.windows()[1].since, at(5));
}

#[test]
fn ratings_belong_to_the_window_that_finished_the_ticket() {
    let mut t = T::new();
    assert_eq!(refused(&t.rate("02", None, 5)), Some(Reason::UnknownTicket));
    t.ticket("SB", Priority::Normal);
    t.ticket("SB", Priority::Normal);
    t.login("02");
    t.op("02", WindowOp::CallNext);
    assert_eq!(
        refused(&t.rate("02", Some("B001"), 5)),
        Some(Reason::UnknownTicket),
        "not finished"
    );
    t.op("02", finish());
    assert_eq!(
        refused(&t.rate("01", Some("B001"), 5)),
        Some(Reason::UnknownTicket),
        "other window"
    );
    assert_eq!(
        refused(&t.rate("02", Some("B001"), 6)),
        Some(Reason::BadRequest)
    );
    assert_eq!(
        refused(&t.rate("02", Some("B001"), 0)),
        Some(Reason::BadRequest)
    );
    assert_eq!(ticket_of(&t.rate("02", Some("B001"), 1)), Some("B001"));
    let b = t.hall.ticket(&TicketNo::parse("B001").unwrap()).unwrap();
    assert_eq!(b.rating, Some(1));
}

#[test]
fn a_redelivered_message_changes_nothing_and_gets_the_same_reply() {
    let mut t = T::new();
    let input = Input::Ticket {
        kiosk: DeviceId::parse("k1").unwrap(),
        id: MsgId::parse("k1-000123").unwrap(),
        request: TicketRequest {
            service: ServiceCode::parse("SB").unwrap(),
            priority: Priority::Normal,
            appointment: None,
            green_reason: None,
            issued_by: None,
            token: None,
        },
    };
    let first = t.hall.apply(&input, at(0));
    assert!(first.record && !first.duplicate);
    let again = t.hall.apply(&input, at(5));
    assert!(again.duplicate && !again.record && again.effects.is_empty());
    assert_eq!(again.reply, first.reply);
    assert_eq!(t.hall.tickets().len(), 1);
    // The same id from another device is another message.
    let other = Input::Window {
        window: WindowId::parse("02").unwrap(),
        id: MsgId::parse("k1-000123").unwrap(),
        op: WindowOp::Resume,
    };
    assert!(!t.hall.apply(&other, at(6)).duplicate);
    // After the dedup window an id may be reused by its device.
    let later = t.hall.apply(&input, at(0) + DEDUP_WINDOW);
    assert!(!later.duplicate);
}

#[test]
fn refused_commands_are_remembered_too() {
    let mut t = T::new();
    let call = Input::Window {
        window: WindowId::parse("02").unwrap(),
        id: MsgId::parse("w02-1").unwrap(),
        op: WindowOp::CallNext,
    };
    let first = t.hall.apply(&call, at(0));
    assert_eq!(
        refused(first.reply.as_ref().unwrap()),
        Some(Reason::NotLoggedIn)
    );
    assert!(first.record);
    t.login("02");
    let again = t.hall.apply(&call, at(1));
    assert!(again.duplicate);
    assert_eq!(again.reply, first.reply);
}

#[test]
fn presence_is_recorded_only_when_it_changes() {
    let mut t = T::new();
    let p = |online| Input::Presence {
        device: DeviceId::parse("w01").unwrap(),
        online,
    };
    let a = t.hall.apply(&p(true), at(0));
    assert!(a.record && a.reply.is_none());
    assert!(!t.hall.apply(&p(true), at(1)).record);
    assert!(t.hall.apply(&p(false), at(2)).record);
    let unknown = Input::Presence {
        device: DeviceId::parse("zz").unwrap(),
        online: true,
    };
    assert!(!t.hall.apply(&unknown, at(3)).record);
}

#[test]
fn the_display_snapshot_shows_calls_newest_first_and_at_most_ten() {
    let mut t = T::new();
    t.login("02");
    for _ in 0..12 {
        t.ticket("SB", Priority::Normal);
        t.op("02", WindowOp::CallNext);
        t.op("02", finish());
    }
    let snap = t.hall.display_snapshot(at(t.now));
    assert_eq!(snap.calls.len(), RECENT_CALLS);
    assert_eq!(snap.calls[0].ticket.as_str(), "B012");
    assert_eq!(snap.calls[0].window_name, "2号窗口");
    assert_eq!(snap.at.offset().local_minus_utc(), 8 * 3600);
    // A window's load is for managers, not for the public screens.
    let managers = t.hall.window_view(1);
    assert_eq!((managers.served_today, managers.benchmark), (12, 25));
    assert!((managers.load - 0.48).abs() < 1e-9, "12 of 25");
    assert_eq!(t.hall.window_view(0).load, 0.0);
}

// ---- properties ----

fn arb_op() -> impl Strategy<Value = (u8, u8, u8)> {
    (0u8..14, 0u8..3, 0u8..5)
}

/// Turns three small numbers into a device message: a kiosk request, any
/// window op on any window, or a rating.
fn build(t: &mut T, (what, window, arg): (u8, u8, u8)) -> Input {
    let windows = ["01", "02", "03"];
    let services = ["SB", "GA", "QY"];
    let priorities = [
        Priority::Normal,
        Priority::Elderly,
        Priority::Disabled,
        Priority::Appointment,
        Priority::Green,
    ];
    let w = WindowId::parse(windows[window as usize]).unwrap();
    let id = t.id();
    let op = match what {
        0..=2 => {
            let p = priorities[arg as usize];
            return Input::Ticket {
                kiosk: DeviceId::parse("k1").unwrap(),
                id,
                request: TicketRequest {
                    service: ServiceCode::parse(services[(arg % 3) as usize]).unwrap(),
                    priority: p,
                    appointment: (p == Priority::Appointment).then(|| "YY".into()),
                    green_reason: (p == Priority::Green).then(|| "危重病人".into()),
                    issued_by: (p == Priority::Green).then(|| StaffId::parse("D01").unwrap()),
                    token: None,
                },
            };
        }
        3 => WindowOp::Login {
            staff: StaffId::parse("S1").unwrap(),
            staff_name: None,
        },
        4 => WindowOp::Logout,
        5 => WindowOp::Pause {
            reason: PauseReason::Other,
        },
        6 => WindowOp::Resume,
        7 => WindowOp::CallNext,
        8 => WindowOp::Call {
            ticket: TicketNo::new(["B", "A", "Q"][(arg % 3) as usize], u32::from(arg) + 1),
        },
        9 => WindowOp::Recall,
        10 => WindowOp::Start,
        11 => WindowOp::NoShow,
        12 => finish(),
        _ => {
            if window == 2 || arg >= 3 {
                // Ratings of every score, for the last ticket or a named one.
                return Input::Rating {
                    window: w,
                    id,
                    rating: RatingInput::new(
                        (arg == 4).then(|| TicketNo::new("B", 1)),
                        1 + (arg + window) % 5,
                        None,
                    ),
                };
            }
            WindowOp::Transfer {
                to_service: ServiceCode::parse(services[(arg % 3) as usize]).unwrap(),
            }
        }
    };
    Input::Window { window: w, id, op }
}

/// Invariants that hold after any sequence of messages.
fn check_invariants(h: &Hall) {
    let mut numbers = std::collections::HashSet::new();
    for (i, t) in h.tickets().iter().enumerate() {
        assert!(numbers.insert(t.no.clone()), "{} numbered twice", t.no);
        let holders = h.windows().iter().filter(|w| w.current == Some(i)).count();
        match t.state {
            TicketState::Called | TicketState::Serving => {
                assert_eq!(
                    holders, 1,
                    "{} {:?} held by {holders} windows",
                    t.no, t.state
                )
            }
            _ => assert_eq!(holders, 0, "{} {:?} still at a window", t.no, t.state),
        }
    }
    // Every waiting ticket is in exactly one queue, and nothing else is.
    let waiting = h
        .tickets()
        .iter()
        .filter(|t| t.state == TicketState::Waiting)
        .count();
    let queued: usize = (0..h.spec().services.len()).map(|s| h.waiting(s)).sum();
    assert_eq!(waiting, queued, "lost or doubled in the queues");
    assert_eq!(h.waiting_tickets().len(), waiting);
    let served: u32 = h.windows().iter().map(|w| w.served_today).sum();
    let done = h
        .tickets()
        .iter()
        .filter(|t| t.state == TicketState::Done)
        .count();
    assert_eq!(
        served as usize, done,
        "a ticket served twice or not counted"
    );
    for w in h.windows() {
        if w.staff.is_none() {
            assert!(w.current.is_none() && w.paused.is_none());
        }
    }
    // The index of active alerts holds exactly the day's alerts that are
    // not resolved.
    let mut indexed: Vec<&str> = h.active_alerts().map(|a| a.id.as_str()).collect();
    let mut listed: Vec<&str> = h
        .alerts
        .iter()
        .filter(|a| a.is_active())
        .map(|a| a.id.as_str())
        .collect();
    indexed.sort_unstable();
    listed.sort_unstable();
    assert_eq!(indexed, listed, "the index of active alerts is off");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn no_ticket_is_lost_served_twice_or_numbered_twice(ops in prop::collection::vec(arb_op(), 1..300)) {
        let mut t = T::new();
        for op in ops {
            let input = build(&mut t, op);
            let before = t.hall.clone();
            let applied = t.hall.apply(&input, at(t.now));
            if applied.reply.as_ref().and_then(Reply::refusal).is_some() {
                // A refusal changes nothing but the memory of the message id
                // (and the alerts, which follow time, not the input).
                let mut after = t.hall.clone();
                after.seen = before.seen.clone();
                after.alerts = before.alerts.clone();
                after.alert_ids = before.alert_ids.clone();
                after.open_alerts = before.open_alerts.clone();
                after.silenced = before.silenced.clone();
                after.gap_since = before.gap_since.clone();
                prop_assert!(after == before, "refused {input:?} changed the hall");
            }
            check_invariants(&t.hall);
            t.advance(7);
        }
    }

    #[test]
    fn replaying_the_same_messages_rebuilds_the_same_hall(ops in prop::collection::vec(arb_op(), 1..200)) {
        let mut t = T::new();
        let mut log = vec![];
        for op in ops {
            let input = build(&mut t, op);
            let applied = t.hall.apply(&input, at(t.now));
            if applied.record {
                log.push((input, at(t.now)));
            }
            t.advance(11);
        }
        let mut replayed = Hall::new(Arc::new(spec()), at(0));
        for (input, when) in &log {
            // Through JSON, as the event log keeps it.
            let stored = serde_json::to_value(input).unwrap();
            let input: Input = serde_json::from_value(stored).unwrap();
            replayed.apply(&input, *when);
        }
        prop_assert!(replayed == t.hall);
    }

    /// A checkpoint taken at any point, restored, and the log after it
    /// applied, is the hall the whole log rebuilds: across days too (a gap
    /// of seven hours now and then).
    #[test]
    fn a_checkpoint_and_the_log_after_it_rebuild_the_same_hall(
        ops in prop::collection::vec((arb_op(), prop::sample::select(vec![11i64, 11, 11, 11, 25_200])), 1..200),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut t = T::new();
        let cut = cut.index(ops.len());
        let mut checkpoint = None;
        let mut tail = vec![];
        for (n, (op, gap)) in ops.into_iter().enumerate() {
            if n == cut {
                let bytes = t.hall.checkpoint().unwrap();
                let restored = Hall::restore(Arc::new(spec()), &bytes).unwrap();
                prop_assert!(restored == t.hall, "the restored hall differs from the one checkpointed");
                checkpoint = Some(bytes);
            }
            let input = build(&mut t, op);
            let applied = t.hall.apply(&input, at(t.now));
            if applied.record && n >= cut {
                tail.push((input, at(t.now)));
            }
            t.advance(gap);
        }
        let mut restored = Hall::restore(Arc::new(spec()), &checkpoint.unwrap()).unwrap();
        for (input, when) in &tail {
            restored.apply(input, *when);
        }
        restored.tick(at(t.now));
        t.hall.tick(at(t.now));
        prop_assert!(restored == t.hall);
    }
}

#[test]
fn a_checkpoint_of_another_shape_is_refused_not_misread() {
    let hall = Hall::new(Arc::new(spec()), at(0));
    let bytes = hall.checkpoint().unwrap();
    assert!(Hall::restore(Arc::new(spec()), &bytes[..bytes.len() / 2]).is_err());
    assert!(Hall::restore(Arc::new(spec()), b"{}").is_err());
}

#[test]
fn the_checkpoint_key_follows_the_spec() {
    let a = spec();
    let mut b = spec();
    assert_eq!(super::checkpoint_key(&a), super::checkpoint_key(&b));
    b.benchmark += 1;
    assert_ne!(super::checkpoint_key(&a), super::checkpoint_key(&b));
}

#[test]
fn a_finish_with_items_out_of_range_is_refused_and_changes_nothing() {
    let mut t = T::new();
    t.login("01");
    t.ticket("SB", Priority::Normal);
    t.op("01", WindowOp::CallNext);
    let before = t.hall.clone();
    for items in [0, ITEMS_MAX + 1] {
        let r = t.op(
            "01",
            WindowOp::Finish {
                outcome: Outcome::Completed,
                case: None,
                items,
            },
        );
        assert_eq!(r.refusal().map(|r| r.reason), Some(Reason::BadRequest));
    }
    assert_eq!(t.hall.windows(), before.windows());
    let r = t.op(
        "01",
        WindowOp::Finish {
            outcome: Outcome::Completed,
            case: None,
            items: 3,
        },
    );
    assert!(r.refusal().is_none());
    let w = &t.hall.windows()[0];
    assert_eq!((w.served_today, w.cases_today), (1, 3));
}

#[test]
fn a_stored_finish_without_items_reads_one_and_one_is_not_written() {
    let old = r#"{"kind":"window","window":"01","id":"m1","op":"finish","outcome":"completed","case":null}"#;
    let input: Input = serde_json::from_str(old).unwrap();
    let Input::Window { op, .. } = &input else {
        panic!("{input:?}")
    };
    assert_eq!(
        op,
        &WindowOp::Finish {
            outcome: Outcome::Completed,
            case: None,
            items: 1
        }
    );
    assert_eq!(serde_json::to_string(&input).unwrap(), old);
}

#[test]
fn the_summary_carries_the_halls_region_path() {
    let mut s = spec();
    s.region = vec![
        super::RegionLevel {
            code: "33".into(),
            name: "浙江省".into(),
        },
        super::RegionLevel {
            code: "3301".into(),
            name: "杭州市".into(),
        },
    ];
    let hall = Hall::new(Arc::new(s), at(0));
    let summary = hall.summary(at(0));
    assert_eq!(summary.region.len(), 2);
    assert_eq!(summary.region[1].name, "杭州市");
    let json = serde_json::to_value(&summary).unwrap();
    assert_eq!(json["region"][0]["code"], "33");
    // Without a configured path, an empty one.
    let plain = Hall::new(Arc::new(spec()), at(0));
    assert!(plain.summary(at(0)).region.is_empty());
}
