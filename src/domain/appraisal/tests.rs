//! A scripted November, checked figure by figure.

use chrono::{NaiveDate, NaiveTime};

use super::*;
use crate::domain::cases::{CardOp, CaseOp, FollowStep, NewCase, NewFollowUp};
use crate::domain::stats::{AlertFigures, Figures};
use crate::domain::{ServiceCode, StaffId, StaffMember, TicketNo, test_spec, with_departments};

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn at(spec: &HallSpec, d: &str, t: &str) -> DateTime<Utc> {
    spec.instant(date(d), NaiveTime::parse_from_str(t, "%H:%M").unwrap())
        .unwrap()
}

/// The test hall with two departments, 人社 (SB) and 公安 (GA), and a
/// staff member of each.
fn spec() -> HallSpec {
    let mut s = test_spec();
    with_departments(&mut s);
    s.staff = vec![
        StaffMember {
            id: StaffId::parse("S001").unwrap(),
            name: "李敏".into(),
            department: Some(0),
            roles: Vec::new(),
        },
        StaffMember {
            id: StaffId::parse("S002").unwrap(),
            name: "王强".into(),
            department: Some(1),
            roles: Vec::new(),
        },
    ];
    s
}

fn case(reference: &str, service: &str, department: &str, staff: &str, days: u32) -> NewCase {
    NewCase {
        reference: reference.into(),
        service: ServiceCode::parse(service).unwrap(),
        department: Some(department.into()),
        staff: Some(StaffId::parse(staff).unwrap()),
        ticket: None,
        promised_days: days,
    }
}

fn figures(key: &str, department: &str, f: impl FnOnce(&mut Figures)) -> Figures {
    let mut x = Figures {
        key: key.into(),
        department: Some(department.into()),
        ..Figures::default()
    };
    f(&mut x);
    x
}

fn day(spec: &HallSpec, d: &str, services: Vec<Figures>, staff: Vec<Figures>) -> DayFigures {
    DayFigures {
        hall: spec.id.to_string(),
        hall_name: spec.name.clone(),
        date: date(d),
        complete: true,
        at: at(spec, d, "17:30").fixed_offset(),
        total: Figures::default(),
        services,
        windows: Vec::new(),
        staff,
        alerts: AlertFigures::default(),
        hourly: Vec::new(),
        appointments: Default::default(),
    }
}

/// November 2026 of the test hall:
/// - 人社 (S001) accepts C1 (3 days, Mon 11-02), completed Wed 11-04: on
///   time; C2 (1 day, Mon 11-09, due Tue 11-10), completed Thu 11-12: late,
///   a 黄牌 that is explained and upheld; C3 (2 days, Thu 11-26, due Mon
///   11-30) still open at the month's end: overdue since 11-30 17:30, a
///   黄牌 left open.
/// - 公安 (S002) accepts C4 (1 day, Mon 11-16, due Tue 11-17), completed
///   Fri 11-20: late, a 黄牌 withdrawn on appeal; C5 (1 day, Tue 10-27,
///   October) completed Mon 11-02: late, its 黄牌 issued in October.
/// - A 1-star review of S002 on Mon 11-23: 核实 on time Tue 11-24, 整改 due
///   Tue 12-01: not overdue at the month's end.
/// - Two days of figures.
fn november() -> (HallSpec, CaseBook, Vec<DayFigures>) {
    let s = spec();
    let mut book = CaseBook::default();
    book.accept(
        &s,
        case("C5", "GA", "gaj", "S002", 1),
        at(&s, "2026-10-27", "10:00"),
    )
    .unwrap();
    book.accept(
        &s,
        case("C1", "SB", "rsj", "S001", 3),
        at(&s, "2026-11-02", "10:00"),
    )
    .unwrap();
    book.report(&s, "C5", CaseOp::Complete, at(&s, "2026-11-02", "11:00"))
        .unwrap();
    book.report(&s, "C1", CaseOp::Complete, at(&s, "2026-11-04", "15:00"))
        .unwrap();
    book.accept(
        &s,
        case("C2", "SB", "rsj", "S001", 1),
        at(&s, "2026-11-09", "10:00"),
    )
    .unwrap();
    book.report(&s, "C2", CaseOp::Complete, at(&s, "2026-11-12", "09:30"))
        .unwrap();
    book.act_on_card(
        "C2-yellow",
        CardOp::Explain,
        "县人社局",
        "系统升级",
        at(&s, "2026-11-13", "10:00"),
    )
    .unwrap();
    book.act_on_card(
        "C2-yellow",
        CardOp::Uphold,
        "监察员",
        "维持",
        at(&s, "2026-11-13", "15:00"),
    )
    .unwrap();
    book.accept(
        &s,
        case("C4", "GA", "gaj", "S002", 1),
        at(&s, "2026-11-16", "10:00"),
    )
    .unwrap();
    book.report(&s, "C4", CaseOp::Complete, at(&s, "2026-11-20", "10:00"))
        .unwrap();
    book.act_on_card(
        "C4-yellow",
        CardOp::Withdraw,
        "监察员",
        "系统故障，撤销",
        at(&s, "2026-11-20", "16:00"),
    )
    .unwrap();
    book.open_follow_up(
        &s,
        NewFollowUp {
            id: "R1".into(),
            ticket: TicketNo::parse("A009").unwrap(),
            service: ServiceCode::parse("GA").unwrap(),
            department: Some("gaj".into()),
            staff: Some(StaffId::parse("S002").unwrap()),
            score: 1,
            comment: None,
        },
        at(&s, "2026-11-23", "11:00"),
    );
    book.record_step(
        &s,
        "R1",
        FollowStep::Verify,
        "县公安局",
        "属实",
        at(&s, "2026-11-24", "10:00"),
    )
    .unwrap();
    book.accept(
        &s,
        case("C3", "SB", "rsj", "S001", 2),
        at(&s, "2026-11-26", "10:00"),
    )
    .unwrap();
    book.tick(&s, at(&s, "2026-12-01", "00:00"));

    let attendance = |late, early| Attendance {
        shifts: 2,
        late,
        early_leave: early,
        ..Attendance::default()
    };
    let days = vec![
        day(
            &s,
            "2026-11-02",
            vec![
                figures("SB", "rsj", |f| {
                    (f.completed, f.decided, f.ratings, f.satisfied) = (8, 10, 10, 9);
                }),
                figures("GA", "gaj", |f| {
                    (f.completed, f.decided, f.ratings, f.satisfied) = (3, 4, 4, 3);
                    f.bad_ratings = 1;
                }),
            ],
            vec![
                figures("S001", "rsj", |f| {
                    (f.completed, f.decided, f.ratings, f.satisfied) = (8, 10, 10, 9);
                    f.attendance = Some(attendance(1, 0));
                }),
                figures("S002", "gaj", |f| {
                    (f.completed, f.decided, f.ratings, f.satisfied) = (3, 4, 4, 3);
                    f.bad_ratings = 1;
                    f.attendance = Some(attendance(0, 1));
                }),
            ],
        ),
        // Stored before `decided` was counted: from the rate (6 of 8).
        day(
            &s,
            "2026-11-03",
            vec![figures("SB", "rsj", |f| {
                f.completed = 6;
                f.on_the_spot_rate = Some(0.75);
                (f.ratings, f.satisfied) = (5, 5);
            })],
            vec![figures("S001", "rsj", |f| {
                f.completed = 6;
                f.on_the_spot_rate = Some(0.75);
                (f.ratings, f.satisfied) = (5, 5);
                f.attendance = Some(attendance(1, 0));
            })],
        ),
        // October's figures are not November's.
        day(
            &s,
            "2026-10-30",
            vec![figures("SB", "rsj", |f| f.bad_ratings = 7)],
            Vec::new(),
        ),
    ];
    (s, book, days)
}

#[test]
fn a_scripted_month_by_department_figure_by_figure() {
    let (s, book, days) = november();
    let now = at(&s, "2026-12-04", "10:00");
    let a = appraise(
        &s,
        &Deductions::default(),
        (2026, 11),
        AppraisalBy::Department,
        &days,
        &book,
        now,
    )
    .unwrap();
    assert_eq!((a.month.as_str(), a.days), ("2026-11", 2));
    assert_eq!(a.until, at(&s, "2026-12-01", "00:00"));
    let keys: Vec<&str> = a.rows.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(keys, ["rsj", "gaj"], "the configuration's order");

    let rsj = &a.rows[0];
    assert_eq!(rsj.name, "县人社局");
    assert_eq!(rsj.cases_accepted, 3, "C1, C2, C3");
    assert_eq!((rsj.completed_on_time, rsj.completed_late), (1, 1));
    assert_eq!(rsj.on_time_rate, Some(0.5));
    assert_eq!(rsj.overdue, 1, "C3, due 11-30 17:30");
    assert_eq!(
        rsj.cards,
        CardCounts {
            warning: 2,
            yellow: 2,
            red: 0,
            upheld: 1,
            withdrawn: 0,
            open: 1
        },
        "预警 of C2 and C3 (C1 was done before its last day); 黄牌 of C2 (upheld) and C3 (open)"
    );
    assert_eq!(
        (rsj.on_the_spot, rsj.on_the_spot_rate),
        (14, Some(14.0 / 18.0))
    );
    assert_eq!(
        (rsj.ratings, rsj.satisfaction_rate),
        (15, Some(14.0 / 15.0))
    );
    assert_eq!(rsj.bad_reviews, 0, "October's seven are not November's");
    assert_eq!((rsj.attendance.late, rsj.attendance.shifts), (2, 4));
    // 100 − 2 黄牌 × 2 − 1 overdue × 1 − 2 late × 0.5 = 94.
    assert_eq!(rsj.score, 94.0);
    assert_eq!(rsj.deducted.get("黄牌"), Some(&4.0));

    let gaj = &a.rows[1];
    assert_eq!(gaj.cases_accepted, 1, "C4; C5 was October's");
    assert_eq!(
        (gaj.completed_on_time, gaj.completed_late),
        (0, 2),
        "C4 and C5"
    );
    assert_eq!(gaj.overdue, 0);
    assert_eq!(
        (gaj.cards.yellow, gaj.cards.withdrawn, gaj.cards.warning),
        (1, 1, 1),
        "C4's; C5's were issued in October"
    );
    assert_eq!(
        (gaj.late_steps, gaj.followed_up_on_time),
        (0, 0),
        "整改 under way"
    );
    assert_eq!(gaj.bad_reviews, 1);
    assert_eq!(gaj.attendance.early_leave, 1);
    // 100 − 1 bad review × 1 − 1 early leave × 0.5; the withdrawn 黄牌 costs nothing.
    assert_eq!(gaj.score, 98.5);
    assert_eq!(gaj.deducted.get("黄牌"), None);
}

#[test]
fn a_scripted_month_by_staff_member() {
    let (s, book, days) = november();
    let a = appraise(
        &s,
        &Deductions::default(),
        (2026, 11),
        AppraisalBy::Staff,
        &days,
        &book,
        at(&s, "2026-12-04", "10:00"),
    )
    .unwrap();
    let li = &a.rows[0];
    assert_eq!(
        (li.key.as_str(), li.name.as_str(), li.department.as_deref()),
        ("S001", "李敏", Some("rsj"))
    );
    assert_eq!((li.cases_accepted, li.overdue, li.cards.yellow), (3, 1, 2));
    assert_eq!(li.score, 94.0);
    let wang = &a.rows[1];
    assert_eq!((wang.key.as_str(), wang.bad_reviews), ("S002", 1));
    assert_eq!(wang.score, 98.5);
}

#[test]
fn the_current_month_counts_up_to_now_and_a_bad_month_scores_no_less_than_zero() {
    let (s, book, days) = november();
    let now = at(&s, "2026-11-27", "12:00");
    let a = appraise(
        &s,
        &Deductions::default(),
        (2026, 11),
        AppraisalBy::Department,
        &days,
        &book,
        now,
    )
    .unwrap();
    assert_eq!(a.until, now);
    assert_eq!(a.rows[0].overdue, 0, "C3 is not due until 11-30");
    let harsh = Deductions {
        yellow: 120.0,
        ..Deductions::default()
    };
    let a = appraise(
        &s,
        &harsh,
        (2026, 11),
        AppraisalBy::Department,
        &days,
        &book,
        now,
    )
    .unwrap();
    assert_eq!(a.rows[0].score, 0.0);
    assert!(
        appraise(
            &s,
            &harsh,
            (2026, 13),
            AppraisalBy::Department,
            &days,
            &book,
            now
        )
        .is_none()
    );
}
