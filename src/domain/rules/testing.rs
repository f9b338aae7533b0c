//! What the rules' tests share: a hall on an injected clock, driven one
//! input or one tick at a time.

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};

use crate::domain::test_spec as spec;
use crate::domain::*;

/// 09:00 Beijing time on Monday 2026-11-23.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 1, 0, 0).unwrap()
}

pub struct H {
    pub hall: Hall,
    pub now: DateTime<Utc>,
    pub n: u32,
}

impl H {
    /// A hall open all day, with every window logged in at 09:00 so that
    /// only the rule under test fires.
    pub fn new() -> Self {
        Self::with_spec(spec())
    }

    /// `H::new` on a given spec.
    pub fn with_spec(mut s: HallSpec) -> Self {
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
    pub fn at(&mut self, secs: i64) {
        self.now = t0() + Duration::seconds(secs);
        self.hall.tick(self.now);
    }
    pub fn id(&mut self) -> MsgId {
        self.n += 1;
        MsgId::parse(&format!("m{}", self.n)).unwrap()
    }
    pub fn op(&mut self, window: &str, op: WindowOp) -> Reply {
        let id = self.id();
        let input = Input::Window {
            window: WindowId::parse(window).unwrap(),
            id,
            op,
        };
        self.hall.apply(&input, self.now).reply.unwrap()
    }
    pub fn ticket(&mut self, service: &str) {
        self.ticket_with(service, Priority::Normal);
    }
    pub fn ticket_with(&mut self, service: &str, priority: Priority) {
        let id = self.id();
        let input = Input::Ticket {
            kiosk: DeviceId::parse("k1").unwrap(),
            id,
            request: TicketRequest {
                service: ServiceCode::parse(service).unwrap(),
                priority,
                appointment: None,
                green_reason: None,
                issued_by: None,
                token: None,
            },
        };
        self.hall.apply(&input, self.now);
    }
    /// The booking platform books `reference` for the 30-minute slot
    /// starting `slot_s` seconds after 09:00.
    pub fn book(&mut self, reference: &str, service: &str, slot_s: i64) {
        let start = t0() + Duration::seconds(slot_s);
        let input = Input::Book {
            booking: BookingRequest {
                reference: reference.into(),
                service: ServiceCode::parse(service).unwrap(),
                slot_start: start,
                slot_end: start + Duration::minutes(30),
            },
            by: "预约平台".into(),
        };
        let r = self.hall.apply(&input, self.now).reply;
        assert!(matches!(r, Some(Reply::Booked { .. })), "{r:?}");
    }
    /// A kiosk ticket checking in with booking `reference`.
    pub fn appointment(&mut self, service: &str, reference: &str) {
        let id = self.id();
        let input = Input::Ticket {
            kiosk: DeviceId::parse("k1").unwrap(),
            id,
            request: TicketRequest {
                service: ServiceCode::parse(service).unwrap(),
                priority: Priority::Appointment,
                appointment: Some(reference.into()),
                green_reason: None,
                issued_by: None,
                token: None,
            },
        };
        let r = self.hall.apply(&input, self.now).reply;
        assert!(
            matches!(
                r,
                Some(Reply::Ticket {
                    priority: Priority::Appointment,
                    ..
                })
            ),
            "{r:?}"
        );
    }
    pub fn rate(&mut self, window: &str, score: u8) {
        let id = self.id();
        let input = Input::Rating {
            window: WindowId::parse(window).unwrap(),
            id,
            rating: RatingInput::new(None, score, Some("等太久".into())),
        };
        self.hall.apply(&input, self.now);
    }
    /// Window 01 pauses for a reason.
    pub fn pause(&mut self, reason: PauseReason) {
        self.op("01", WindowOp::Pause { reason });
    }

    /// A supervisor acts on the latest alert of `rule`; its id.
    pub fn act(&mut self, rule: Rule, op: AlertOp, note: Option<&str>) -> String {
        let id = self.last(rule).id.clone();
        self.hall
            .act_on_alert(&id, op, "监察员", note, self.now)
            .unwrap();
        id
    }

    /// A ticket of `service` issued, called and finished at window 01.
    pub fn serve(&mut self, service: &str) {
        self.ticket(service);
        self.op("01", WindowOp::CallNext);
        self.op("01", finish());
    }

    /// The active alerts of a rule.
    pub fn active(&self, rule: Rule) -> Vec<&Alert> {
        self.hall
            .alerts()
            .iter()
            .filter(|a| a.rule == rule && a.is_active())
            .collect()
    }
    pub fn severity(&self, rule: Rule) -> Option<Severity> {
        let a = self.active(rule);
        assert!(a.len() <= 1, "at most one active alert per subject: {a:?}");
        a.first().map(|a| a.severity)
    }
    pub fn last(&self, rule: Rule) -> &Alert {
        self.hall
            .alerts()
            .iter()
            .rev()
            .find(|a| a.rule == rule)
            .expect("an alert")
    }
}

pub fn finish() -> WindowOp {
    WindowOp::Finish {
        outcome: Outcome::Completed,
        case: None,
        items: 1,
    }
}

/// The test hall (open 09:00-12:00 and 13:30-17:30 on weekdays: seven
/// office hours) with no window on the rota, so absence raises nothing.
pub fn office_hall() -> H {
    let mut s = spec();
    for w in &mut s.windows {
        w.on_rota = false;
    }
    H {
        hall: Hall::new(Arc::new(s), t0()),
        now: t0(),
        n: 0,
    }
}
