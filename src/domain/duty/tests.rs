//! The calendar, duty periods with their A角 and B角, the window rules on
//! duty only, and attendance.

use std::sync::Arc;

use chrono::{Duration, NaiveDate};

use super::*;
use crate::domain::rules::testing::{H, t0};
use crate::domain::*;

fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn national() -> NationalCalendar {
    let mut n = NationalCalendar::default();
    let mut day = d("2026-10-01");
    while day <= d("2026-10-07") {
        n.holidays.insert(day);
        day = day.succ_opt().unwrap();
    }
    n.working_days.insert(d("2026-10-10"), Weekday::Mon);
    n
}

#[test]
fn working_days_are_the_national_ones_minus_the_halls_closures() {
    let closures: BTreeSet<NaiveDate> = [d("2026-10-09")].into();
    let n = national();
    assert!(is_working_day(&n, &closures, d("2026-09-30")));
    assert!(!is_working_day(&n, &closures, d("2026-10-01")), "国庆");
    assert!(!is_working_day(&n, &closures, d("2026-10-07")));
    assert!(is_working_day(&n, &closures, d("2026-10-08")));
    assert!(!is_working_day(&n, &closures, d("2026-10-09")), "closure");
    assert!(
        is_working_day(&n, &closures, d("2026-10-10")),
        "调休 Saturday"
    );
    assert!(!is_working_day(&n, &closures, d("2026-10-11")), "Sunday");
    // A 延时服务 Saturday is a service day, not a working day.
    let cal = HallCalendar {
        national: n.clone(),
        closures: closures.clone(),
        service_days: [(d("2026-11-28"), vec![Span::parse("09:00-12:00").unwrap()])].into(),
    };
    assert!(!cal.is_working_day(d("2026-11-28")));
    assert!(matches!(cal.day(d("2026-11-28")), Day::Service(_)));
    // Deadlines in working days: 3 working days after 09-30 skip the
    // holiday week and the closure.
    assert_eq!(
        add_working_days(&n, &closures, d("2026-09-30"), 1),
        Some(d("2026-10-08"))
    );
    assert_eq!(
        add_working_days(&n, &closures, d("2026-09-30"), 2),
        Some(d("2026-10-10"))
    );
    assert_eq!(
        add_working_days(&n, &closures, d("2026-09-30"), 3),
        Some(d("2026-10-12"))
    );
    assert_eq!(
        add_working_days(&n, &closures, d("2026-10-03"), 0),
        Some(d("2026-10-08"))
    );
}

fn staff(id: &str, name: &str) -> StaffMember {
    StaffMember {
        id: StaffId::parse(id).unwrap(),
        name: name.into(),
        department: None,
        roles: vec![],
    }
}

fn period(days: &[usize], dates: &[&str], spans: &[&str], a: usize, b: usize) -> DutyPeriod {
    let mut set = DaySet::default();
    for &i in days {
        set.weekdays[i] = true;
    }
    set.dates = dates.iter().map(|x| d(x)).collect();
    DutyPeriod {
        days: set,
        spans: spans.iter().map(|s| Span::parse(s).unwrap()).collect(),
        a: Some(a),
        b: Some(b),
    }
}

/// The test hall with registered staff, window 01 on weekdays 09:00-12:00
/// and 13:30-17:30 (A 张三, B 李四) and on Saturdays 09:00-12:00 (A 李四,
/// B 张三); 02 on the hall's hours; 03 a spare; the national calendar.
fn duty_spec() -> HallSpec {
    let mut s = crate::domain::test_spec();
    s.staff = vec![
        staff("S1", "张三"),
        staff("S2", "李四"),
        staff("S3", "王五"),
    ];
    s.calendar.national = national();
    s.windows[0].roster = vec![
        period(&[0, 1, 2, 3, 4], &[], &["09:00-12:00", "13:30-17:30"], 0, 1),
        period(&[5], &[], &["09:00-12:00"], 1, 0),
    ];
    s.windows[0].duty = Some(duty_hours(&s.windows[0].roster, &s.calendar));
    s.windows[1].duty = Some(s.calendar.hall_hours(&s.hours.weekly));
    s.windows[2].on_rota = false;
    let own = s.calendar.hall_hours(&s.hours.weekly);
    s.hours = union_hours(vec![&own, s.windows[0].duty.as_ref().unwrap()]);
    s
}

fn hall_at(spec: HallSpec, at: DateTime<Utc>) -> H {
    H {
        hall: Hall::new(Arc::new(spec), at),
        now: at,
        n: 0,
    }
}

#[test]
fn office_time_is_the_union_of_the_windows_duty() {
    let s = duty_spec();
    let sat = t0() + Duration::days(5); // Saturday 2026-11-28 09:00
    assert!(s.is_open(sat), "window 01 is on duty on Saturday mornings");
    assert!(s.on_duty(0, sat));
    assert!(!s.on_duty(1, sat), "02 keeps the hall's weekday hours");
    assert!(!s.on_duty(2, t0()), "a spare window is never on duty");
    let holiday = t0() - Duration::days(53); // 2026-10-01
    assert!(!s.is_open(holiday) && !s.on_duty(0, holiday));
    // The 调休 Saturday follows Monday: both windows, the whole day.
    let tiaoxiu = t0() - Duration::days(44); // Saturday 2026-10-10 09:00
    assert!(s.on_duty(0, tiaoxiu) && s.on_duty(1, tiaoxiu));
    assert!(
        s.on_duty(0, tiaoxiu + Duration::hours(5)),
        "14:00, Monday's hours"
    );
    assert_eq!(s.shift_at(0, tiaoxiu).unwrap().a, Some(0), "Monday's A角");
    assert_eq!(s.shift_at(0, sat).unwrap().a, Some(1), "Saturday's A角");
}

#[test]
fn an_unregistered_staff_number_is_refused() {
    let mut h = hall_at(duty_spec(), t0());
    let login = |id: &str| WindowOp::Login {
        staff: StaffId::parse(id).unwrap(),
        staff_name: None,
    };
    let r = h.op("02", login("S9"));
    assert_eq!(r.refusal().map(|r| r.reason), Some(Reason::UnknownStaff));
    assert!(
        h.hall.windows()[1].staff.is_none(),
        "a refusal changes nothing"
    );
    assert!(h.hall.sessions().is_empty());
    assert!(h.op("02", login("S3")).refusal().is_none());
    assert_eq!(
        h.hall.windows()[1].staff.as_ref().unwrap().name.as_deref(),
        Some("王五"),
        "the registered name"
    );
    // A hall with no registered staff takes any 工号.
    let mut open = hall_at(crate::domain::test_spec(), t0());
    assert!(open.op("02", login("S9")).refusal().is_none());
}

#[test]
fn a_green_ticket_granted_by_an_unregistered_staff_number_is_refused() {
    let mut h = hall_at(duty_spec(), t0());
    let mut green = |by: &str| {
        let input = Input::Ticket {
            kiosk: DeviceId::parse("k1").unwrap(),
            id: MsgId::parse(&format!("g-{by}")).unwrap(),
            request: TicketRequest {
                service: ServiceCode::parse("SB").unwrap(),
                priority: Priority::Green,
                appointment: None,
                green_reason: Some("危重病人".into()),
                issued_by: Some(StaffId::parse(by).unwrap()),
                token: None,
            },
        };
        h.hall.apply(&input, h.now).reply.unwrap()
    };
    let r = green("S9");
    assert_eq!(r.refusal().map(|r| r.reason), Some(Reason::UnknownStaff));
    assert!(green("S3").refusal().is_none(), "a registered 工号");
    assert_eq!(h.hall.tickets().len(), 1, "the refusal issued nothing");
}

#[test]
fn on_a_service_saturday_only_the_windows_on_duty_raise_unattended_or_device_alerts() {
    let sat = t0() + Duration::days(5);
    let mut h = hall_at(duty_spec(), sat);
    for dev in ["w01", "w02", "r02", "w03"] {
        let p = |online| Input::Presence {
            device: DeviceId::parse(dev).unwrap(),
            online,
        };
        h.hall.apply(&p(true), sat);
        h.hall.apply(&p(false), sat);
    }
    h.now = sat + Duration::minutes(40);
    h.hall.tick(h.now);
    let unattended = h.active(Rule::WindowUnattended);
    assert_eq!(unattended.len(), 1, "{unattended:?}");
    assert_eq!(unattended[0].window.as_ref().unwrap().as_str(), "01");
    assert!(
        unattended[0]
            .message
            .contains("A角 李四 未到岗，请 B角 张三 顶岗"),
        "{}",
        unattended[0].message
    );
    let offline: Vec<String> = h
        .active(Rule::DeviceOffline)
        .iter()
        .map(|a| format!("{:?}", a.subject))
        .collect();
    assert_eq!(offline.len(), 1, "only 01's terminal: {offline:?}");
}

#[test]
fn attendance_counts_late_arrival_absence_and_early_leave_of_the_a_role() {
    let mut h = hall_at(duty_spec(), t0());
    let login = |id: &str| WindowOp::Login {
        staff: StaffId::parse(id).unwrap(),
        staff_name: None,
    };
    // 张三 (A角 of 01) arrives at 09:06: late by more than the 5-minute grace.
    h.now = t0() + Duration::minutes(6);
    h.op("01", login("S1"));
    // Away 10:00-10:20: absence from post (离岗) over 15 minutes.
    h.now = t0() + Duration::minutes(60);
    h.op("01", WindowOp::Logout);
    h.now = t0() + Duration::minutes(80);
    h.op("01", login("S1"));
    // Leaves at 11:50, ten minutes before the end: early.
    h.now = t0() + Duration::minutes(170);
    h.op("01", WindowOp::Logout);
    // Nobody in the afternoon.
    let at = t0() + Duration::hours(9); // 18:00
    let a = h.hall.window_attendance(0, at).unwrap();
    assert_eq!(
        a,
        Attendance {
            shifts: 2,
            late: 1,
            not_arrived: 1,
            early_leave: 1,
            absences: 1,
            absent_s: 20 * 60,
        }
    );
    assert_eq!(h.hall.staff_attendance(at).get(&0), Some(&a));
    assert_eq!(h.hall.window_attendance(1, at), None, "no A角 rostered");
    // A pause is no absence, and a login on time is not late.
    let mut h = hall_at(duty_spec(), t0());
    h.now = t0() + Duration::minutes(4);
    h.op("01", login("S1"));
    h.op(
        "01",
        WindowOp::Pause {
            reason: PauseReason::Meeting,
        },
    );
    let a = h
        .hall
        .window_attendance(0, t0() + Duration::hours(2))
        .unwrap();
    assert_eq!((a.late, a.absences, a.not_arrived), (0, 0, 0));
}

#[test]
fn the_days_figures_carry_departments_and_the_a_roles_attendance() {
    let mut s = duty_spec();
    s.departments = vec![Department {
        code: "rsj".into(),
        name: "县人力资源和社会保障局".into(),
    }];
    s.services[0].department = Some(0);
    s.staff[1].department = Some(0);
    let mut h = hall_at(s, t0());
    let at = t0() + Duration::hours(1);
    let f = h.hall.figures(at, false);
    assert_eq!(f.services[0].department.as_deref(), Some("rsj"));
    assert_eq!(
        f.windows[1].department.as_deref(),
        Some("rsj"),
        "02 serves SB only"
    );
    assert_eq!(
        f.windows[0].department, None,
        "01 serves two departments' services"
    );
    let a = f.windows[0].attendance.expect("01 has a rostered A角");
    assert_eq!((a.shifts, a.not_arrived), (1, 1));
    // 张三, rostered today, has a row before serving anyone.
    let row = f
        .staff
        .iter()
        .find(|r| r.key == "S1")
        .expect("a row for 张三");
    assert_eq!(row.name, "张三");
    assert_eq!(row.attendance, Some(a));
    // A login is no longer "not arrived", but late.
    h.now = at;
    h.op(
        "01",
        WindowOp::Login {
            staff: StaffId::parse("S1").unwrap(),
            staff_name: None,
        },
    );
    let a = h.hall.figures(at, false).windows[0].attendance.unwrap();
    assert_eq!((a.late, a.not_arrived), (1, 0));
}
