//! The deadline arithmetic, worked out by hand against a calendar, and a
//! card's whole life.

use chrono::{Duration, NaiveDate, NaiveTime, Weekday};

use super::*;
use crate::domain::test_spec;
use crate::domain::{HallCalendar, NationalCalendar, Span};

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn time(s: &str) -> NaiveTime {
    NaiveTime::parse_from_str(s, "%H:%M").unwrap()
}

/// The test hall (09:00–12:00 and 13:30–17:30 on weekdays) under a
/// calendar with the National Day week closed and Saturday 10-10 a 调休
/// working day that keeps Friday's hours.
fn spec() -> HallSpec {
    let mut s = test_spec();
    let mut national = NationalCalendar::default();
    let mut d = date("2026-10-01");
    while d <= date("2026-10-07") {
        national.holidays.insert(d);
        d = d.succ_opt().unwrap();
    }
    national
        .working_days
        .insert(date("2026-10-10"), Weekday::Fri);
    s.calendar = HallCalendar {
        national,
        ..HallCalendar::default()
    };
    s.hours = s.calendar.hall_hours(&s.hours.weekly);
    s
}

fn at(spec: &HallSpec, d: &str, t: &str) -> DateTime<Utc> {
    spec.instant(date(d), time(t)).unwrap()
}

fn new_case(reference: &str, days: u32) -> NewCase {
    NewCase {
        reference: reference.into(),
        service: ServiceCode::parse("SB").unwrap(),
        department: Some("rsj".into()),
        staff: Some(StaffId::parse("S001").unwrap()),
        ticket: Some(TicketNo::parse("B001").unwrap()),
        promised_days: days,
    }
}

fn kinds(book: &CaseBook, reference: &str) -> Vec<(CardKind, CardState)> {
    book.case(reference)
        .unwrap()
        .cards
        .iter()
        .map(|&c| (book.cards()[c].kind, book.cards()[c].state))
        .collect()
}

#[test]
fn a_case_accepted_on_a_monday_for_three_days_is_due_at_thursdays_close() {
    let s = spec();
    let mut book = CaseBook::default();
    book.accept(&s, new_case("C1", 3), at(&s, "2026-11-23", "10:00"))
        .unwrap();
    let due = book.case("C1").unwrap().due;
    assert_eq!(due, Some(at(&s, "2026-11-26", "17:30")));
    // 预警 at Thursday's opening, 黄牌 at its close, 红牌 at the close of
    // the third working day after: Fri 11-27, Mon 11-30, Tue 12-01.
    assert!(book.tick(&s, at(&s, "2026-11-26", "08:59")).is_empty());
    assert_eq!(book.next_due(), Some(at(&s, "2026-11-26", "09:00")));
    book.tick(&s, at(&s, "2026-11-26", "09:00"));
    assert_eq!(kinds(&book, "C1"), [(CardKind::Warning, CardState::Issued)]);
    book.tick(&s, at(&s, "2026-11-26", "17:30"));
    assert_eq!(
        kinds(&book, "C1"),
        [
            (CardKind::Warning, CardState::Lapsed),
            (CardKind::Yellow, CardState::Issued)
        ]
    );
    book.tick(&s, at(&s, "2026-12-01", "17:29"));
    assert_eq!(kinds(&book, "C1").len(), 2);
    book.tick(&s, at(&s, "2026-12-01", "17:30"));
    assert_eq!(kinds(&book, "C1")[2], (CardKind::Red, CardState::Issued));
    assert_eq!(book.next_due(), None, "nothing more to come");
    let red = &book.cards()[2];
    assert_eq!(
        (
            red.id.as_str(),
            red.department.as_deref(),
            red.staff.as_ref().map(|s| s.as_str())
        ),
        ("C1-red", Some("rsj"), Some("S001"))
    );
}

#[test]
fn a_case_accepted_before_national_day_runs_on_after_it_to_the_tiaoxiu_saturday() {
    let mut s = spec();
    s.cards = CardLimits {
        warn_days: 2,
        red_days: 3,
    };
    let mut book = CaseBook::default();
    // Wednesday 09-30, 3 working days: 10-01..10-07 are holidays; Thursday
    // 10-08 is the first, Friday 10-09 the second, the 调休 Saturday 10-10
    // the third.
    book.accept(&s, new_case("C2", 3), at(&s, "2026-09-30", "16:00"))
        .unwrap();
    assert_eq!(
        book.case("C2").unwrap().due,
        Some(at(&s, "2026-10-10", "17:30"))
    );
    // warn_days 2: from the opening of Friday 10-09.
    assert_eq!(book.next_due(), Some(at(&s, "2026-10-09", "09:00")));
    // 红牌: Mon 10-12, Tue 10-13, Wed 10-14.
    book.tick(&s, at(&s, "2026-10-14", "17:30"));
    assert_eq!(
        kinds(&book, "C2"),
        [
            (CardKind::Warning, CardState::Lapsed),
            (CardKind::Yellow, CardState::Issued),
            (CardKind::Red, CardState::Issued)
        ],
        "a tick that comes late issues each card once"
    );
}

#[test]
fn a_suspension_stops_the_clock_from_the_day_it_starts_to_the_day_it_ends() {
    let s = spec();
    let mut book = CaseBook::default();
    // Monday 11-02, 5 working days: Tue 11-03 counts; suspended Wed 11-04
    // to Thu 11-05; then Fri 11-06, Mon 11-09, Tue 11-10, Wed 11-11.
    book.accept(&s, new_case("C3", 5), at(&s, "2026-11-02", "11:00"))
        .unwrap();
    assert_eq!(
        book.case("C3").unwrap().due,
        Some(at(&s, "2026-11-09", "17:30"))
    );
    book.report(&s, "C3", CaseOp::Suspend, at(&s, "2026-11-04", "10:00"))
        .unwrap();
    assert_eq!(book.case("C3").unwrap().due, None, "the clock stands");
    assert_eq!(book.next_due(), None);
    assert!(book.tick(&s, at(&s, "2026-11-05", "12:00")).is_empty());
    book.report(&s, "C3", CaseOp::Resume, at(&s, "2026-11-05", "15:00"))
        .unwrap();
    assert_eq!(
        book.case("C3").unwrap().due,
        Some(at(&s, "2026-11-11", "17:30"))
    );
    // Completed on its last day: on time, no card but the 预警, which lapses.
    book.tick(&s, at(&s, "2026-11-11", "09:30"));
    book.report(&s, "C3", CaseOp::Complete, at(&s, "2026-11-11", "16:00"))
        .unwrap();
    assert_eq!(kinds(&book, "C3"), [(CardKind::Warning, CardState::Lapsed)]);
    assert!(
        !book
            .case("C3")
            .unwrap()
            .is_late(at(&s, "2026-11-20", "09:00"))
    );
    assert!(book.tick(&s, at(&s, "2026-12-31", "09:00")).is_empty());
    book.report(&s, "C3", CaseOp::Deliver, at(&s, "2026-11-12", "10:00"))
        .unwrap();
    assert_eq!(book.case("C3").unwrap().state, CaseState::Delivered);
}

#[test]
fn reports_that_cannot_happen_are_refused_and_change_nothing() {
    let s = spec();
    let mut book = CaseBook::default();
    let now = at(&s, "2026-11-23", "10:00");
    assert_eq!(
        book.accept(&s, new_case("C4", 0), now),
        Err(CaseRefusal::BadCase)
    );
    assert_eq!(
        book.accept(&s, new_case(" ", 3), now),
        Err(CaseRefusal::BadCase)
    );
    book.accept(&s, new_case("C4", 3), now).unwrap();
    // The same acceptance replayed over a stored book is already held; the
    // reference taken again later is a duplicate.
    let held = book.clone();
    assert_eq!(book.accept(&s, new_case("C4", 3), now), Ok(Vec::new()));
    assert_eq!(book, held);
    assert_eq!(
        book.accept(&s, new_case("C4", 3), now + chrono::Duration::minutes(5)),
        Err(CaseRefusal::DuplicateCase)
    );
    let before = book.clone();
    for op in [CaseOp::Resume, CaseOp::Deliver] {
        assert_eq!(
            book.report(&s, "C4", op, now),
            Err(CaseRefusal::OutOfOrder),
            "{op:?}"
        );
    }
    assert_eq!(
        book.report(&s, "C9", CaseOp::Complete, now),
        Err(CaseRefusal::UnknownCase)
    );
    assert_eq!(book, before);
    book.report(&s, "C4", CaseOp::Withdraw, now).unwrap();
    for op in [
        CaseOp::Suspend,
        CaseOp::Resume,
        CaseOp::Complete,
        CaseOp::Withdraw,
    ] {
        assert_eq!(book.report(&s, "C4", op, now), Err(CaseRefusal::OutOfOrder));
    }
    assert_eq!(book.next_due(), None, "a withdrawn case earns nothing");
}

#[test]
fn a_cards_whole_life() {
    let s = spec();
    let mut book = CaseBook::default();
    book.accept(&s, new_case("C5", 1), at(&s, "2026-11-23", "10:00"))
        .unwrap();
    // Due Tuesday 11-24 at 17:30; completed Wednesday: late, 黄牌.
    book.tick(&s, at(&s, "2026-11-24", "17:30"));
    book.report(&s, "C5", CaseOp::Complete, at(&s, "2026-11-25", "10:00"))
        .unwrap();
    assert!(
        book.case("C5")
            .unwrap()
            .is_late(at(&s, "2026-11-25", "10:00"))
    );
    let yellow = "C5-yellow";
    assert_eq!(book.card(yellow).unwrap().state, CardState::Issued);
    // No 红牌 for a case completed, however long one waits.
    book.tick(&s, at(&s, "2026-12-31", "17:30"));
    assert_eq!(kinds(&book, "C5").len(), 2);

    let now = at(&s, "2026-11-25", "11:00");
    assert_eq!(
        book.act_on_card(yellow, CardOp::Explain, "县人社局", "  ", now),
        Err(CaseRefusal::NoteRequired)
    );
    assert_eq!(
        book.act_on_card("C5-warning", CardOp::Explain, "县人社局", "说明", now),
        Err(CaseRefusal::CardOutOfOrder),
        "a 预警 needs no explanation"
    );
    book.act_on_card(
        yellow,
        CardOp::Explain,
        "县人社局",
        "系统故障，次日补办",
        now,
    )
    .unwrap();
    assert_eq!(
        book.act_on_card(yellow, CardOp::Explain, "县人社局", "再说明", now),
        Err(CaseRefusal::CardOutOfOrder)
    );
    let later = now + Duration::hours(2);
    book.act_on_card(
        yellow,
        CardOp::Withdraw,
        "监察员",
        "经核实为系统故障，撤销",
        later,
    )
    .unwrap();
    let card = book.card(yellow).unwrap();
    assert_eq!(card.state, CardState::Withdrawn);
    assert_eq!(
        card.explanation.as_ref().unwrap().text,
        "系统故障，次日补办"
    );
    assert_eq!(card.closure.as_ref().unwrap().by, "监察员");
    assert_eq!(
        book.act_on_card(yellow, CardOp::Uphold, "监察员", "维持", later),
        Err(CaseRefusal::CardOutOfOrder),
        "a closed card stays closed"
    );
    assert_eq!(book.cards().len(), 2, "cards are never deleted");
    assert_eq!(
        book.act_on_card("C9-red", CardOp::Uphold, "监察员", "维持", later),
        Err(CaseRefusal::UnknownCard)
    );
}

#[test]
fn a_tick_costs_the_cases_due_not_the_cases_open() {
    let s = spec();
    let mut book = CaseBook::default();
    let monday = at(&s, "2026-11-23", "10:00");
    for n in 0..2_000 {
        // One case in a hundred is due tomorrow, the rest in 20 days.
        let days = if n % 100 == 0 { 1 } else { 20 };
        book.accept(&s, new_case(&format!("K{n}"), days), monday)
            .unwrap();
    }
    assert_eq!(book.pending(), 2_000);
    // Tuesday's opening: the 20 due that day get their 预警; the index
    // hands over exactly those.
    let effects = book.tick(&s, at(&s, "2026-11-24", "09:00"));
    let cards = effects
        .iter()
        .filter(|e| matches!(e, CaseEffect::Card(_)))
        .count();
    assert_eq!(cards, 20);
    // Each case holding its new card changed too.
    assert_eq!(effects.len(), 40);
    assert_eq!(book.next_due(), Some(at(&s, "2026-11-24", "17:30")));
}

#[test]
fn the_hours_of_a_day_with_none_end_at_midnight() {
    // A hall closed on a working day still counts it: the case is due at
    // that day's end.
    let mut s = spec();
    s.hours
        .exceptions
        .insert(date("2026-11-24"), Vec::<Span>::new());
    let mut book = CaseBook::default();
    book.accept(&s, new_case("C6", 1), at(&s, "2026-11-23", "10:00"))
        .unwrap();
    assert_eq!(
        book.case("C6").unwrap().due,
        Some(at(&s, "2026-11-25", "00:00"))
    );
}

fn bad_review(id: &str) -> NewFollowUp {
    NewFollowUp {
        id: id.into(),
        ticket: TicketNo::parse("B007").unwrap(),
        service: ServiceCode::parse("SB").unwrap(),
        department: Some("rsj".into()),
        staff: Some(StaffId::parse("S001").unwrap()),
        score: 1,
        comment: Some("等太久".into()),
    }
}

#[test]
fn a_bad_review_is_verified_rectified_and_called_back_each_in_its_working_days() {
    let s = spec();
    let mut book = CaseBook::default();
    // A 1-star review on Friday 11-27 at 16:00: 核实 due Monday 11-30 close.
    let friday = at(&s, "2026-11-27", "16:00");
    book.open_follow_up(&s, bad_review("R1"), friday);
    assert_eq!(book.open_follow_up(&s, bad_review("R1"), friday), []);
    let f = book.follow_up("R1").unwrap();
    assert_eq!(
        f.current().unwrap().due,
        Some(at(&s, "2026-11-30", "17:30"))
    );
    assert_eq!(
        book.record_step(&s, "R1", FollowStep::Rectify, "县人社局", "已整改", friday),
        Err(CaseRefusal::StepOutOfOrder)
    );
    assert_eq!(
        book.record_step(&s, "R1", FollowStep::Verify, "县人社局", " ", friday),
        Err(CaseRefusal::NoteRequired)
    );
    // Verified Monday 10:00, on time: 整改 due 5 working days on, Mon 12-07.
    let monday = at(&s, "2026-11-30", "10:00");
    book.record_step(
        &s,
        "R1",
        FollowStep::Verify,
        "县人社局",
        "调取录像，属实",
        monday,
    )
    .unwrap();
    let f = book.follow_up("R1").unwrap();
    assert_eq!(f.current().unwrap().step, FollowStep::Rectify);
    assert_eq!(
        f.current().unwrap().due,
        Some(at(&s, "2026-12-07", "17:30"))
    );
    // Not rectified in time: a 黄牌 for the department at the due close.
    assert!(book.tick(&s, at(&s, "2026-12-07", "17:29")).is_empty());
    book.tick(&s, at(&s, "2026-12-07", "17:30"));
    let card = book.card("R1-rectify-yellow").unwrap();
    assert_eq!(
        (card.kind, card.department.as_deref(), &card.subject),
        (
            CardKind::Yellow,
            Some("rsj"),
            &CardSubject::FollowUp {
                id: "R1".into(),
                step: FollowStep::Rectify
            }
        )
    );
    // Rectified late, then called back: done, one step late.
    let tuesday = at(&s, "2026-12-08", "09:00");
    book.record_step(
        &s,
        "R1",
        FollowStep::Rectify,
        "县人社局",
        "窗口增设导办",
        tuesday,
    )
    .unwrap();
    book.record_step(
        &s,
        "R1",
        FollowStep::CallBack,
        "监察员",
        "群众表示满意",
        tuesday,
    )
    .unwrap();
    let f = book.follow_up("R1").unwrap();
    assert!(f.is_done());
    assert_eq!(f.late_steps(), 1);
    assert_eq!(book.cards().len(), 1);
    assert_eq!(book.next_due(), None);
}

#[test]
fn a_step_recorded_after_its_deadline_without_a_tick_still_earns_its_card() {
    let s = spec();
    let mut book = CaseBook::default();
    book.open_follow_up(&s, bad_review("R2"), at(&s, "2026-11-23", "10:00"));
    // 核实 was due Tuesday 11-24 17:30; recorded Wednesday with no tick between.
    book.record_step(
        &s,
        "R2",
        FollowStep::Verify,
        "县人社局",
        "属实",
        at(&s, "2026-11-25", "09:00"),
    )
    .unwrap();
    let card = book.card("R2-verify-yellow").unwrap();
    assert_eq!(card.issued_at, at(&s, "2026-11-24", "17:30"));
}

fn event(id: &str, reference: &str, op: CaseOp, reason: Option<&str>) -> CaseEvent {
    CaseEvent {
        source: "审批系统".into(),
        id: id.into(),
        reference: reference.into(),
        op,
        reason: reason.map(str::to_owned),
    }
}

#[test]
fn a_report_is_taken_once_by_its_source_and_id() {
    let s = spec();
    let mut book = CaseBook::default();
    book.accept(&s, new_case("C7", 3), at(&s, "2026-11-23", "10:00"))
        .unwrap();
    let t = at(&s, "2026-11-24", "10:00");
    // A suspension needs its reason.
    assert_eq!(
        book.report_event(&s, &event("e1", "C7", CaseOp::Suspend, Some(" ")), t),
        Err(CaseRefusal::NoteRequired)
    );
    let first = book
        .report_event(&s, &event("e1", "C7", CaseOp::Suspend, Some("补正材料")), t)
        .unwrap();
    assert!(!first.duplicate);
    let after = book.clone();
    // Sent again (by MQTT after REST, say): one report.
    let again = book
        .report_event(
            &s,
            &event("e1", "C7", CaseOp::Suspend, Some("补正材料")),
            t + Duration::minutes(1),
        )
        .unwrap();
    assert!(again.duplicate && again.effects.is_empty());
    assert_eq!(book, after);
    // The id used again for something else is refused.
    assert_eq!(
        book.report_event(&s, &event("e1", "C7", CaseOp::Resume, None), t),
        Err(CaseRefusal::IdReused)
    );
    let history = &book.case("C7").unwrap().history;
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].reason.as_deref(), Some("补正材料"));
    assert_eq!(history[0].at, t);
}

#[test]
fn a_book_restored_from_its_parts_goes_on_as_the_original() {
    let s = spec();
    let mut book = CaseBook::default();
    book.accept(&s, new_case("C8", 1), at(&s, "2026-11-23", "10:00"))
        .unwrap();
    book.accept(&s, new_case("C9", 3), at(&s, "2026-11-23", "11:00"))
        .unwrap();
    book.report_event(
        &s,
        &event("e2", "C9", CaseOp::Suspend, Some("特别程序")),
        at(&s, "2026-11-23", "15:00"),
    )
    .unwrap();
    book.open_follow_up(
        &s,
        NewFollowUp {
            id: "bad-1".into(),
            ticket: TicketNo::parse("B002").unwrap(),
            service: ServiceCode::parse("SB").unwrap(),
            department: Some("rsj".into()),
            staff: None,
            score: 1,
            comment: None,
        },
        at(&s, "2026-11-23", "16:00"),
    );
    book.tick(&s, at(&s, "2026-11-24", "09:30"));
    // Through JSON, as the store keeps them.
    let json = |v: &serde_json::Value| v.clone();
    let cases: Vec<Case> = book
        .cases()
        .iter()
        .map(|c| serde_json::from_value(json(&serde_json::to_value(c).unwrap())).unwrap())
        .collect();
    let cards: Vec<Card> = book
        .cards()
        .iter()
        .map(|c| serde_json::from_value(serde_json::to_value(c).unwrap()).unwrap())
        .collect();
    let follow_ups: Vec<FollowUp> = book
        .follow_ups()
        .iter()
        .map(|f| serde_json::from_value(serde_json::to_value(f).unwrap()).unwrap())
        .collect();
    let mut restored = CaseBook::restore(&s, cases, cards, follow_ups);
    assert_eq!(restored, book);
    // Both go on alike: the 黄牌 and 红牌 of C8 and the late 核实.
    let later = at(&s, "2026-11-27", "18:00");
    assert_eq!(restored.tick(&s, later), book.tick(&s, later));
    assert_eq!(restored, book);
    assert_eq!(kinds(&book, "C8").len(), 3, "预警, 黄牌 and 红牌 by then");
    // A report already taken stays taken after the restore.
    assert!(
        restored
            .report_event(
                &s,
                &event("e2", "C9", CaseOp::Suspend, Some("特别程序")),
                later
            )
            .unwrap()
            .duplicate
    );
}
