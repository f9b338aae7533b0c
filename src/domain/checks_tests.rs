//! Supervision checks only what an input changed or time made due, and
//! finds exactly what checking everything would.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use super::rules::testing::t0;
use super::tests::spec;
use super::*;

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
fn any_input(d: &mut Dice, n: u32, hall: &Hall, now: DateTime<Utc>) -> Input {
    let id = MsgId::parse(&format!("m{n}")).unwrap();
    let window = WindowId::parse(d.pick(&["01", "02", "03"])).unwrap();
    let service = ServiceCode::parse(d.pick(&["SB", "GA", "QY"])).unwrap();
    // Now and then a booking for the next slot, which the next event
    // checks in with.
    if n % 25 == 4 {
        let slot = 30 * 60;
        let start =
            DateTime::from_timestamp((now.timestamp() + slot - 1).div_euclid(slot) * slot, 0)
                .unwrap_or(now);
        return Input::Book {
            booking: BookingRequest {
                reference: format!("YY{n}"),
                service: ServiceCode::parse("SB").unwrap(),
                slot_start: start,
                slot_end: start + Duration::seconds(slot),
            },
            by: "预约平台".into(),
        };
    }
    if n % 25 == 5 {
        return Input::Ticket {
            kiosk: DeviceId::parse("k1").unwrap(),
            id,
            request: TicketRequest {
                service: ServiceCode::parse("SB").unwrap(),
                priority: Priority::Appointment,
                appointment: Some(format!("YY{}", n - 1)),
                green_reason: None,
                issued_by: None,
                token: None,
            },
        };
    }
    match d.roll(100) {
        0..35 => {
            let priority = d.pick(&[Priority::Normal, Priority::Normal, Priority::Elderly]);
            // Now and then a green-channel ticket, once in a while without
            // its reason.
            let green = n.is_multiple_of(11);
            Input::Ticket {
                kiosk: DeviceId::parse("k1").unwrap(),
                id,
                request: TicketRequest {
                    service,
                    priority: if green { Priority::Green } else { priority },
                    appointment: None,
                    green_reason: (green && !n.is_multiple_of(5)).then(|| "危重病人".into()),
                    issued_by: green.then(|| StaffId::parse("D1").unwrap()),
                    token: None,
                },
            }
        }
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
                    items: 1,
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
            rating: RatingInput::new(None, d.roll(5) as u8 + 1, None),
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
    let t = &mut s.thresholds;
    t.queue_backlog.per_window = 3.0;
    t.staffing_gap.hold_s = 120;
    t.window_unattended.limits_s = (300, 900);
    t.idle_with_queue.idle_s = 120;
    t.pause_too_long.limits_s = (300, 600);
    t.call_unanswered.after_s = 120;
    t.no_show_streak.streak = 2;
    t.no_show_streak.within_s = 1800;
    t.device_offline.after_s = 60;
    t.rating_missing.share = 0.8;
    t.rating_missing.after = 3;
    // Ratings come seconds after a finish here: some count as staff's.
    t.rating_integrity.untagged_s = 600.0;
    t.rating_integrity.staff_press_s = 60.0;
    t.rating_integrity.quick_s = 90.0;
    t.rating_integrity.quick_after = 2;
    t.escalation.escalate_after_s = 300;
    t.repeat_finding.lapses = 2;
    for w in &mut s.windows {
        w.benchmark = 4;
    }
    // Registered staff, and window 01 on a weekday rota with its A角, so
    // lapses (late, not arrived, away) come and go with the logins.
    s.staff = ["S01", "S02", "S03", "D1"]
        .iter()
        .map(|id| StaffMember {
            id: StaffId::parse(id).unwrap(),
            name: id.to_string(),
            department: None,
            roles: Vec::new(),
        })
        .collect();
    weekday_rota(&mut s, 0, 0, 1);
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
        let input = any_input(&mut d, n, &lean, now);
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
