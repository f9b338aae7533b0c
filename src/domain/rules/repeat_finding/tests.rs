//! A staff member's third lapse and a department's second 红牌 in a
//! month, on an injected clock, and both again after a restart.

use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, Utc};

use crate::domain::rules::testing::H;
use crate::domain::*;

fn date(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

/// 09:00 Beijing time on `d`.
fn nine(d: &str) -> DateTime<Utc> {
    test_spec()
        .instant(date(d), chrono::NaiveTime::from_hms_opt(9, 0, 0).unwrap())
        .unwrap()
}

/// The test hall with two departments and their staff; window 01 is on
/// the rota on weekdays 09:00-12:00 and 13:30-17:30 with A角 张三 (S1,
/// 县人社局) and B角 李四 (S2); the other windows are spares.
fn spec() -> HallSpec {
    let mut s = test_spec();
    with_departments(&mut s);
    let member = |id: &str, name: &str, department| StaffMember {
        id: StaffId::parse(id).unwrap(),
        name: name.into(),
        department: Some(department),
        roles: Vec::new(),
    };
    s.staff = vec![member("S1", "张三", 0), member("S2", "李四", 0)];
    weekday_rota(&mut s, 0, 0, 1);
    for w in &mut s.windows[1..] {
        w.on_rota = false;
    }
    s
}

fn hall(spec: &Arc<HallSpec>, at: DateTime<Utc>) -> H {
    H {
        hall: Hall::new(spec.clone(), at),
        now: at,
        n: 0,
    }
}

/// Figures of an earlier day on which S1 had `late` late arrivals and
/// `absences` absences.
fn earlier(spec: &HallSpec, d: &str, late: u32, absences: u32) -> DayFigures {
    let mut h = Hall::new(Arc::new(spec.clone()), nine(d));
    let mut f = h.tick(nine(d) + Duration::days(1));
    let Some(Effect::DayEnded(day)) = f.drain(..).find(|e| matches!(e, Effect::DayEnded(_)))
    else {
        panic!("the day ended");
    };
    let mut day = *day;
    day.staff = vec![Figures {
        key: "S1".into(),
        attendance: Some(Attendance {
            shifts: 2,
            late,
            absences,
            ..Attendance::default()
        }),
        ..Figures::default()
    }];
    day
}

fn login(h: &mut H, staff: &str) {
    h.op(
        "01",
        WindowOp::Login {
            staff: StaffId::parse(staff).unwrap(),
            staff_name: None,
        },
    );
}

fn repeats(h: &H) -> Vec<&Alert> {
    h.active(Rule::RepeatFinding)
}

#[test]
fn a_staff_members_third_lapse_of_the_month_goes_to_the_wider_scope_at_once() {
    let spec = Arc::new(spec());
    let monday = nine("2026-11-23");
    // Two lapses earlier in the month; one in October, which is over.
    let past = [
        earlier(&spec, "2026-10-30", 4, 0),
        earlier(&spec, "2026-11-05", 1, 0),
        earlier(&spec, "2026-11-12", 0, 1),
    ];
    let mut h = hall(&spec, monday);
    h.hall.keep_past_days(&past);
    // 09:05 is the start plus the grace: 张三 not there is the third lapse.
    h.now = monday + Duration::minutes(4);
    h.hall.tick(h.now);
    assert!(repeats(&h).is_empty(), "not yet a lapse");
    h.now = monday + Duration::minutes(5);
    h.hall.tick(h.now);
    let a = repeats(&h);
    assert_eq!(a.len(), 1);
    let a = a[0];
    assert_eq!(a.severity, Severity::Critical);
    assert_eq!(a.subject, Subject::Staff(StaffId::parse("S1").unwrap()));
    assert_eq!(a.opened_at, monday + Duration::minutes(5));
    assert_eq!(a.escalated_at, Some(a.opened_at), "sent wider as it opens");
    assert_eq!(a.window.as_ref().map(|w| w.as_str()), Some("01"));
    assert!(
        a.message.contains("张三（工号 S1）本月第 3 次") && a.message.contains("未到岗"),
        "{}",
        a.message
    );
    let view = h.hall.alert_view(a);
    assert_eq!(view.department.as_deref(), Some("rsj"), "the member's");
    let id = a.id.clone();
    // Arriving late changes the lapse's name, not the alert; it stays
    // until a person resolves it, through the day's end.
    login(&mut h, "S1");
    h.now = nine("2026-11-24") - Duration::hours(1);
    h.hall.tick(h.now);
    assert_eq!(repeats(&h).len(), 1);
    assert_eq!(repeats(&h)[0].id, id);

    // A restart the same morning: the tally from the kept figures and the
    // day's log give the same alert.
    let mut again = hall(&spec, monday);
    again.hall.keep_past_days(&past);
    again.now = monday + Duration::minutes(7);
    login(&mut again, "S1");
    assert_eq!(repeats(&again).len(), 1);
    assert_eq!(repeats(&again)[0].id, id);
    assert_eq!(repeats(&again)[0].message, h.hall.alert(&id).unwrap().message);
}

#[test]
fn lapses_add_up_over_the_days_the_hall_ends_itself_and_a_new_month_starts_afresh() {
    let spec = Arc::new(spec());
    let mut h = hall(&spec, nine("2026-11-25"));
    // Wednesday: 张三 on time, away 12 minutes (within the limit), then 20.
    login(&mut h, "S1");
    h.now += Duration::minutes(60);
    h.op("01", WindowOp::Logout);
    h.now += Duration::minutes(12);
    login(&mut h, "S1");
    h.now += Duration::minutes(30);
    h.op("01", WindowOp::Logout);
    h.now += Duration::minutes(20);
    login(&mut h, "S1");
    assert!(repeats(&h).is_empty(), "one lapse");
    // Thursday: late. Friday: the third, away from post from 10:00.
    h.now = nine("2026-11-26") + Duration::minutes(9);
    h.hall.tick(h.now);
    login(&mut h, "S1");
    assert!(repeats(&h).is_empty(), "two lapses");
    h.now = nine("2026-11-27");
    h.hall.tick(h.now);
    login(&mut h, "S1");
    h.now += Duration::hours(1);
    h.op("01", WindowOp::Logout);
    let left = h.now;
    h.now += Duration::minutes(15);
    h.hall.tick(h.now);
    assert!(repeats(&h).is_empty(), "away 15 minutes is within the limit");
    h.now += Duration::seconds(1);
    h.hall.tick(h.now);
    let a = repeats(&h);
    assert_eq!(a.len(), 1, "the third lapse of November");
    assert_eq!(a[0].opened_at, left + Duration::seconds(15 * 60 + 1));
    assert!(a[0].message.contains("离岗"), "{}", a[0].message);
    let id = a[0].id.clone();
    h.hall
        .act_on_alert(&id, AlertOp::Resolve, "督查室", Some("已约谈"), h.now)
        .unwrap();
    // Friday's absence became an early leave at noon (one lapse either
    // way), and the afternoon shift was not arrived: Monday's late arrival
    // is the fifth, reported again.
    h.now = nine("2026-11-30") + Duration::minutes(10);
    h.hall.tick(h.now);
    assert_eq!(repeats(&h).len(), 1);
    assert!(
        repeats(&h)[0].message.contains("第 5 次"),
        "{}",
        repeats(&h)[0].message
    );
    // December starts from nothing: one late arrival is no repeat.
    h.now = nine("2026-12-01") + Duration::minutes(10);
    h.hall.tick(h.now);
    let open: Vec<_> = repeats(&h)
        .iter()
        .filter(|a| a.opened_at >= nine("2026-12-01"))
        .map(|a| a.id.clone())
        .collect();
    assert!(open.is_empty(), "{open:?}");
}

fn case(reference: &str, department: &str) -> NewCase {
    NewCase {
        reference: reference.into(),
        service: ServiceCode::parse(if department == "rsj" { "SB" } else { "GA" }).unwrap(),
        department: Some(department.into()),
        staff: Some(StaffId::parse("S1").unwrap()),
        ticket: None,
        promised_days: 1,
    }
}

/// Ticks every hour from `h.now` to `until`.
fn hours_until(h: &mut H, until: DateTime<Utc>) {
    while h.now < until {
        h.now += Duration::hours(1);
        h.hall.tick(h.now);
    }
}

/// The repeat alerts about departments (张三, never at his window in
/// these weeks, has his own).
fn departments(h: &H) -> Vec<&Alert> {
    h.active(Rule::RepeatFinding)
        .into_iter()
        .filter(|a| matches!(a.subject, Subject::Department(_)))
        .collect()
}

fn red(h: &H, reference: &str) -> Option<Card> {
    h.hall
        .cases()
        .cards()
        .iter()
        .find(|c| c.kind == CardKind::Red && c.subject == CardSubject::Case { reference: reference.into() })
        .cloned()
}

#[test]
fn a_departments_second_red_card_of_the_month_goes_to_the_wider_scope() {
    let spec = Arc::new(spec());
    let mut h = hall(&spec, nine("2026-11-02"));
    h.hall.cases.accept(&spec, case("A", "rsj"), h.now).unwrap();
    h.hall.cases.accept(&spec, case("G", "gaj"), h.now).unwrap();
    h.now = nine("2026-11-09");
    h.hall.tick(h.now);
    h.hall.cases.accept(&spec, case("B", "rsj"), h.now).unwrap();
    hours_until(&mut h, nine("2026-11-12"));
    assert!(red(&h, "A").is_some() && red(&h, "G").is_some());
    assert!(red(&h, "B").is_none());
    assert!(departments(&h).is_empty(), "one 红牌 each");
    hours_until(&mut h, nine("2026-11-20"));
    let b = red(&h, "B").expect("B's 红牌");
    let a = departments(&h);
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].subject, Subject::Department("rsj".into()));
    assert_eq!(a[0].opened_at, b.issued_at);
    assert_eq!(a[0].escalated_at, Some(b.issued_at));
    assert_eq!(a[0].message, "县人社局本月第 2 张红牌：办件 B 超期，屡查屡犯，已报上级");
    assert_eq!(h.hall.alert_view(a[0]).department_name.as_deref(), Some("县人社局"));

    // The same month with A's 红牌 withdrawn on appeal: B's is the first.
    let mut w = hall(&spec, nine("2026-11-02"));
    w.hall.cases.accept(&spec, case("A", "rsj"), w.now).unwrap();
    w.now = nine("2026-11-09");
    w.hall.tick(w.now);
    w.hall.cases.accept(&spec, case("B", "rsj"), w.now).unwrap();
    hours_until(&mut w, nine("2026-11-12"));
    let card = red(&w, "A").unwrap().id;
    let input = Input::CardAction {
        card,
        op: CardOp::Withdraw,
        by: "督查室".into(),
        note: "系统故障，申诉成立".into(),
    };
    assert!(w.hall.apply(&input, w.now).reply.unwrap().refusal().is_none());
    hours_until(&mut w, nine("2026-11-20"));
    assert!(red(&w, "B").is_some());
    assert!(departments(&w).is_empty());

    // A restart on the day of B's 红牌, with the book as the store kept
    // it: the same alert.
    let day = spec.local_date(b.issued_at);
    let mut again = hall(&spec, spec.day_start(day));
    again.hall.restore_cases(h.hall.cases().clone());
    again.now = b.issued_at + Duration::hours(1);
    again.hall.tick(again.now);
    let r = departments(&again);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].id, departments(&h)[0].id);

    // A replay meets only events: with none between the two accepts and a
    // morning a week later, the days between still end one by one, each
    // with what came due on it, and the same alert opens.
    let mut jump = hall(&spec, nine("2026-11-02"));
    jump.hall.cases.accept(&spec, case("A", "rsj"), jump.now).unwrap();
    jump.hall.cases.accept(&spec, case("G", "gaj"), jump.now).unwrap();
    jump.now = nine("2026-11-09");
    jump.hall.tick(jump.now);
    jump.hall.cases.accept(&spec, case("B", "rsj"), jump.now).unwrap();
    jump.now = nine("2026-11-20");
    jump.hall.tick(jump.now);
    assert_eq!(departments(&jump).len(), 1);
    assert_eq!(departments(&jump)[0].id, departments(&h)[0].id);

    // A's 红牌 withdrawn on appeal a week later: a replay of the day of
    // B's 红牌 over the book as it now stands still finds what the live
    // hall found that day.
    let card = red(&h, "A").unwrap().id;
    let withdraw = Input::CardAction {
        card,
        op: CardOp::Withdraw,
        by: "督查室".into(),
        note: "申诉成立".into(),
    };
    let reply = h.hall.apply(&withdraw, h.now).reply.unwrap();
    assert!(reply.refusal().is_none());
    let mut later = hall(&spec, spec.day_start(day));
    later.hall.restore_cases(h.hall.cases().clone());
    later.now = b.issued_at - Duration::minutes(1);
    later.hall.tick(later.now);
    assert!(departments(&later).is_empty(), "B's 红牌 is not issued yet");
    // No input comes: the card's own instant is the rule's deadline.
    later.now = b.issued_at;
    later.hall.tick(later.now);
    assert_eq!(departments(&later).len(), 1);
    assert_eq!(departments(&later)[0].id, departments(&h)[0].id);
}
