//! The manager's numbers, worked by hand: the forecast with and without a
//! learnt arrival profile, the staffing advice in words, and every daily
//! figure of a scripted day.

use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};

use super::tests::spec;
use super::*;

/// 09:00 Beijing time on Monday 2026-11-23, plus `s` seconds.
fn at(s: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 1, 0, 0).unwrap() + Duration::seconds(s)
}

/// Local time `hh:mm` Beijing on a November 2026 day.
fn local(day: u32, hh: u32, mm: u32) -> DateTime<Utc> {
    chrono_tz::Asia::Shanghai
        .with_ymd_and_hms(2026, 11, day, hh, mm, 0)
        .unwrap()
        .with_timezone(&Utc)
}

/// Open 09:00-12:00 and 13:30-17:30 on weekdays (seven office hours);
/// no window on the rota, so absence raises nothing.
fn office_spec() -> HallSpec {
    let mut s = spec();
    for w in &mut s.windows {
        w.on_rota = false;
    }
    s
}

struct D {
    hall: Hall,
    now: DateTime<Utc>,
    n: u32,
}

impl D {
    fn new(spec: HallSpec) -> Self {
        Self {
            hall: Hall::new(Arc::new(spec), at(0)),
            now: at(0),
            n: 0,
        }
    }
    fn at(&mut self, s: i64) {
        self.now = at(s);
        self.hall.tick(self.now);
    }
    fn id(&mut self) -> MsgId {
        self.n += 1;
        MsgId::parse(&format!("m{}", self.n)).unwrap()
    }
    fn apply(&mut self, input: Input) -> Reply {
        self.hall.apply(&input, self.now).reply.unwrap()
    }
    fn ticket(&mut self, service: &str) -> Reply {
        let id = self.id();
        self.apply(Input::Ticket {
            kiosk: DeviceId::parse("k1").unwrap(),
            id,
            request: TicketRequest {
                service: ServiceCode::parse(service).unwrap(),
                priority: Priority::Normal,
                appointment: None,
                green_reason: None,
                issued_by: None,
                token: None,
            },
        })
    }
    fn op(&mut self, window: &str, op: WindowOp) -> Reply {
        let id = self.id();
        let reply = self.apply(Input::Window {
            window: WindowId::parse(window).unwrap(),
            id,
            op,
        });
        assert!(reply.refusal().is_none(), "{window}: {reply:?}");
        reply
    }
    fn login(&mut self, window: &str, staff: &str, name: &str) {
        self.op(
            window,
            WindowOp::Login {
                staff: StaffId::parse(staff).unwrap(),
                staff_name: Some(name.into()),
            },
        );
    }
    fn finish(&mut self, window: &str, outcome: Outcome) {
        self.op(
            window,
            WindowOp::Finish {
                outcome,
                case: None,
                items: 1,
            },
        );
    }
    fn rate(&mut self, window: &str, score: u8) {
        let id = self.id();
        let r = self.apply(Input::Rating {
            window: WindowId::parse(window).unwrap(),
            id,
            rating: RatingInput::new(None, score, None),
        });
        assert!(r.refusal().is_none(), "{r:?}");
    }
    fn sb(&self) -> Staffing {
        self.hall.staffing(self.now)[0].clone()
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-6
}

/// Three earlier weekdays, each with 10 tickets at 09:05 and 30 at 14:05:
/// a quarter of the arrivals in the 09:00 quarter hour, three quarters in
/// the 14:00 one.
fn three_days_of_history() -> Vec<DateTime<Utc>> {
    let mut times = Vec::new();
    for day in [16, 17, 18] {
        times.extend(std::iter::repeat_n(local(day, 9, 5), 10));
        times.extend(std::iter::repeat_n(local(day, 14, 5), 30));
    }
    times
}

#[test]
fn with_no_history_arrivals_are_even_over_office_hours() {
    let mut d = D::new(office_spec());
    assert!(d.hall.arrival_profile().is_none());
    d.at(3600); // 10:00: one of seven office hours
    for _ in 0..10 {
        d.ticket("SB");
    }
    let sb = d.sb();
    assert!(close(sb.forecast, 70.0), "10 / (1/7) = {}", sb.forecast);
    assert_eq!(sb.windows_needed, 3, "ceil(70 / 25)");
    assert_eq!(sb.staff_needed, 5, "ceil(3 × 1.5) = ceil(4.5)");
    let advice = d.hall.staffing_advice(d.now);
    assert_eq!(advice.profile, "even");
    assert_eq!(advice.profile_days, 0);
}

#[test]
fn the_learnt_profile_weighs_the_day_by_its_arrivals() {
    let mut d = D::new(office_spec());
    d.hall.learn_arrivals(&three_days_of_history());
    let p = d.hall.arrival_profile().expect("three days learnt");
    assert_eq!(p.days, 3);
    assert!(close(p.shares[36], 0.25), "09:00 quarter: {}", p.shares[36]);
    assert!(close(p.shares[56], 0.75), "14:00 quarter: {}", p.shares[56]);

    // 10:00: the 09:00 quarter has passed, a quarter of the day's arrivals.
    d.at(3600);
    assert!(close(d.hall.share_of_day_passed(d.now), 0.25));
    for _ in 0..10 {
        d.ticket("SB");
    }
    let sb = d.sb();
    assert!(close(sb.forecast, 40.0), "10 / 0.25 = {}", sb.forecast);
    assert_eq!((sb.windows_needed, sb.staff_needed), (2, 3));

    // 14:10: two thirds of the 14:00 quarter: 0.25 + 0.75 × 2/3 = 0.75.
    d.at(5 * 3600 + 10 * 60);
    assert!(close(d.hall.share_of_day_passed(d.now), 0.75));
    // 17:00 and after: the whole day.
    d.at(8 * 3600);
    assert!(close(d.hall.share_of_day_passed(d.now), 1.0));
    let advice = d.hall.staffing_advice(d.now);
    assert_eq!((advice.profile, advice.profile_days), ("learnt", 3));
}

#[test]
fn early_in_the_morning_a_learnt_profile_still_divides_by_at_least_an_hour() {
    let mut d = D::new(office_spec());
    d.hall.learn_arrivals(&three_days_of_history());
    // 09:05: the profile says 0.25 × 5/15 = 1/12 has passed; an office
    // hour's share is 1/7, which is more.
    d.at(5 * 60);
    assert!(close(d.hall.share_of_day_passed(d.now), 1.0 / 7.0));
    d.ticket("SB");
    d.ticket("SB");
    assert!(close(d.sb().forecast, 14.0), "2 × 7");
    // 08:00, before opening: nothing passed, nothing issued, nothing needed.
    let mut early = D::new(office_spec());
    early.now = at(-3600);
    assert!(close(early.hall.share_of_day_passed(early.now), 1.0 / 7.0));
    assert_eq!(early.sb().windows_needed, 0);
}

#[test]
fn two_days_are_too_few_to_learn_from() {
    let mut d = D::new(office_spec());
    let two: Vec<_> = three_days_of_history()
        .into_iter()
        .filter(|t| t.date_naive() != NaiveDate::from_ymd_opt(2026, 11, 18).unwrap())
        .collect();
    d.hall.learn_arrivals(&two);
    assert!(d.hall.arrival_profile().is_none());
    d.at(3600);
    assert!(close(d.hall.share_of_day_passed(d.now), 1.0 / 7.0));
}

#[test]
fn a_profile_that_expects_nobody_in_todays_hours_is_set_aside() {
    let mut d = D::new(office_spec());
    // Learnt on evenings only (a 延时 service), say.
    let evenings: Vec<_> = [16, 17, 18].iter().map(|&day| local(day, 19, 0)).collect();
    d.hall.learn_arrivals(&evenings);
    assert!(d.hall.arrival_profile().is_some());
    d.at(3600);
    assert!(close(d.hall.share_of_day_passed(d.now), 1.0 / 7.0));
    assert_eq!(d.hall.staffing_advice(d.now).profile, "even");
}

#[test]
fn a_hall_learns_each_day_as_it_ends_as_the_store_would_teach_it() {
    // Three days of tickets folded live...
    let mut live = D::new(office_spec());
    for day in 0..3 {
        live.now = at(day * 86_400 + 5 * 60);
        live.ticket("SB");
        live.now = at(day * 86_400 + 5 * 3600);
        live.ticket("GA");
        live.ticket("GA");
    }
    live.at(3 * 86_400);
    let learnt = live.hall.arrival_profile().cloned().expect("learnt");
    assert_eq!(learnt.days, 3);
    // ...equal the same tickets read back from a store.
    let mut rebuilt = D::new(office_spec());
    rebuilt.hall = Hall::new(Arc::new(office_spec()), at(3 * 86_400));
    let issued: Vec<_> = live_issue_times();
    rebuilt.hall.learn_arrivals(&issued);
    assert_eq!(rebuilt.hall.arrival_profile(), Some(&learnt));
    assert!(close(learnt.shares[36], 1.0 / 3.0));
    assert!(close(learnt.shares[56], 2.0 / 3.0));
}

fn live_issue_times() -> Vec<DateTime<Utc>> {
    (0..3)
        .flat_map(|day| {
            [
                at(day * 86_400 + 5 * 60),
                at(day * 86_400 + 5 * 3600),
                at(day * 86_400 + 5 * 3600),
            ]
        })
        .collect()
}

/// A window of the test hall, off the rota (never 空岗).
fn spare(id: &str, kind: WindowKind, services: Vec<usize>) -> WindowSpec {
    WindowSpec {
        id: WindowId::parse(id).unwrap(),
        name: format!("{}号窗口", id.trim_start_matches('0')),
        kind,
        services,
        zone: None,
        on_rota: false,
        duty: None,
        roster: Vec::new(),
        benchmark: 25,
        counts: kind.default_unit(),
        mandatory: false,
        terminal: DeviceId::parse(&format!("w{id}")).unwrap(),
        rater: DeviceId::parse(&format!("r{id}")).unwrap(),
    }
}

impl D {
    /// A ticket of `service` issued, called and finished at `window`.
    fn serve(&mut self, window: &str, service: &str) {
        self.ticket(service);
        self.op(window, WindowOp::CallNext);
        self.finish(window, Outcome::Completed);
    }
}

/// The township's four 无差别 windows serve every service; under a 公安
/// rush they take it all, where counting each as a third of a window per
/// service asked for two more 公安 windows.
///
/// 10:00, one of seven office hours passed: each window can still do
/// 25 × 6/7 = 21.4 cases, 85.7 together. 10 公安 tickets forecast 70 for the
/// day, 2 社会保障 tickets 14: 84 in all, within 85.7.
#[test]
fn pooled_windows_cover_a_rush_with_no_advice_to_open_another() {
    let mut s = office_spec();
    s.windows = ["01", "02", "03", "04"]
        .into_iter()
        .map(|id| spare(id, WindowKind::Comprehensive, vec![0, 1, 2]))
        .collect();
    s.windows.push(spare("05", WindowKind::Domain, vec![1]));
    let mut d = D::new(s);
    d.at(3600);
    for (i, w) in ["01", "02", "03", "04"].into_iter().enumerate() {
        d.login(w, &format!("S00{i}"), "窗口人员");
    }
    for _ in 0..10 {
        d.ticket("GA");
    }
    d.ticket("SB");
    d.ticket("SB");
    let a = d.hall.staffing_advice(d.now);
    let ga = &a.services[1];
    assert!(close(ga.forecast, 70.0) && close(ga.demand, 70.0), "{ga:?}");
    assert_eq!(ga.windows_open, 4, "each shared window counts whole");
    assert_eq!(ga.shortfall, 0.0);
    assert_eq!(
        (ga.windows_needed, ga.staff_needed),
        (3, 5),
        "ceil(70/25), ceil(3 × 1.5)"
    );
    assert!(close(a.capacity, 85.7) && close(a.demand, 84.0), "{a:?}");
    assert_eq!(a.shortfall, 0.0);
    assert_eq!(a.open, None);
    assert!(a.advice.is_empty(), "{:?}", a.advice);
    assert_eq!(ga.advice, "公安专项类窗口够用");
    assert_eq!(d.hall.shortfalls(d.now)[1], 0.0);

    // Four more 公安 tickets: 112 against 85.7. The shortfall is shared by
    // the share of demand (社会保障 3.3, 公安 23.0), and the 公安 window 05,
    // closed, would take 21.4 of it.
    for _ in 0..4 {
        d.ticket("GA");
    }
    let a = d.hall.staffing_advice(d.now);
    assert!(close(a.shortfall, 26.3), "{}", a.shortfall);
    assert!(close(a.services[0].shortfall, 3.3), "{:?}", a.services[0]);
    assert!(close(a.services[1].shortfall, 23.0), "{:?}", a.services[1]);
    assert_eq!(a.open, Some(WindowId::parse("05").unwrap()));
    assert_eq!(a.windows[4].gain, Some(21.4));
    assert_eq!(
        a.advice,
        vec![
            "建议开放 5号窗口（可办 公安专项），预计缺口 23 件",
            "社会保障类预计缺口 3 件，没有可开放的窗口能办理",
        ]
    );
}

/// 登记注册 has one window (03). 10:00: 5 tickets forecast 35; 03 can still
/// do 25 × 6/7 = 21.4: short by 13.6, which the closed spare window 04
/// (登记注册 and 社会保障) would cover.
#[test]
fn a_service_that_outgrows_its_only_window_asks_for_the_window_that_covers_it() {
    let mut s = office_spec();
    s.windows
        .push(spare("04", WindowKind::Comprehensive, vec![2, 0]));
    let mut d = D::new(s);
    d.at(3600);
    d.login("03", "S003", "张伟");
    for _ in 0..5 {
        d.ticket("QY");
    }
    let a = d.hall.staffing_advice(d.now);
    let qy = &a.services[2];
    assert!(close(qy.demand, 35.0) && close(qy.covered, 21.4), "{qy:?}");
    assert!(close(qy.shortfall, 13.6), "{qy:?}");
    assert_eq!(qy.advice, "登记注册类预计缺口 14 件");
    assert_eq!(a.windows[0].gain, Some(0.0), "01 serves no 登记注册");
    assert_eq!(a.windows[3].gain, Some(13.6));
    assert_eq!(
        a.advice,
        vec!["建议开放 4号窗口（可办 登记注册、社会保障），预计缺口 14 件"]
    );
    // Finished cases leave the demand: 3 tickets of 2 matters each make
    // 2 cases a ticket, so the day's 35 tickets are 70 cases, 6 done.
    for _ in 0..3 {
        d.op("03", WindowOp::CallNext);
        d.op(
            "03",
            WindowOp::Finish {
                outcome: Outcome::Completed,
                case: None,
                items: 2,
            },
        );
    }
    let qy = &d.hall.staffing_advice(d.now).services[2];
    assert_eq!((qy.unit, qy.served), (BenchmarkUnit::Cases, 6));
    assert!(close(qy.expected, 70.0) && close(qy.demand, 64.0), "{qy:?}");
    // Without 04 no window could help.
    let mut d = D::new(office_spec());
    d.at(3600);
    d.login("03", "S003", "张伟");
    for _ in 0..5 {
        d.ticket("QY");
    }
    assert_eq!(
        d.hall.staffing_advice(d.now).advice,
        vec!["登记注册类预计缺口 14 件，没有可开放的窗口能办理"]
    );
}

/// 15:00, 4.5 of 7 office hours passed: 9 社会保障 tickets forecast 14, all
/// 9 finished: 5 remain. Each window can still do 25 × 2.5/7 = 8.9.
#[test]
fn on_a_quiet_afternoon_a_window_may_close_with_the_margin_never_a_mandatory_one() {
    let quiet = |margin: f64| {
        let mut s = office_spec();
        s.windows[2].kind = WindowKind::Complaint; // 03: 登记注册, mandatory
        s.staffing_margin = margin;
        let mut d = D::new(s);
        d.at(6 * 3600);
        d.login("01", "S001", "李敏");
        d.login("02", "S002", "王芳");
        d.login("03", "S003", "张伟");
        for _ in 0..9 {
            d.serve("02", "SB");
        }
        d
    };
    let d = quiet(1.2);
    let a = d.hall.staffing_advice(d.now);
    assert!(close(a.services[0].demand, 5.0), "{:?}", a.services[0]);
    // 02 may close: 01 still serves 社会保障 with 8.9 ≥ 5 × 1.2. 01 may
    // not (the last 公安 window), nor 03 (a complaint window).
    assert_eq!(a.close, Some(WindowId::parse("02").unwrap()));
    assert_eq!(
        a.advice,
        vec!["可关闭 2号窗口：其余窗口仍能办完余下需求的 1.2 倍"]
    );
    assert!(a.windows[2].mandatory);
    // With a margin of 2, 8.9 < 5 × 2: nothing closes.
    let d = quiet(2.0);
    assert_eq!(d.hall.staffing_advice(d.now).close, None);
    // In the first office hour nothing closes, however quiet.
    let mut d = D::new(office_spec());
    d.login("01", "S001", "李敏");
    d.login("02", "S002", "王芳");
    d.at(59 * 60);
    assert_eq!(d.hall.staffing_advice(d.now).close, None, "09:59");
    d.at(3600);
    assert_eq!(
        d.hall.staffing_advice(d.now).close,
        Some(WindowId::parse("02").unwrap()),
        "10:00: nobody came; 01 is the last 公安 window"
    );
}

/// An on-duty window with nobody logged in is 空岗, named first.
#[test]
fn a_vacant_window_on_duty_is_named_first() {
    let mut d = D::new(spec());
    d.at(3600);
    d.login("01", "S001", "李敏");
    d.login("03", "S003", "张伟");
    let a = d.hall.staffing_advice(d.now);
    assert!(a.windows[1].vacant && !a.windows[0].vacant);
    assert_eq!(a.advice[0], "2号窗口空岗：值班时间内无人在岗，请安排到岗");
}

#[test]
fn a_scripted_day_gives_the_hand_counted_figures() {
    let mut d = D::new(office_spec());
    d.login("01", "S001", "李敏");
    d.login("02", "S002", "王芳");
    d.ticket("SB"); // B001 at 0
    d.now = at(60);
    d.ticket("SB"); // B002
    d.now = at(120);
    d.ticket("GA"); // A001
    d.now = at(180);
    d.ticket("SB"); // B003

    d.now = at(240);
    d.op("01", WindowOp::CallNext); // B001, waited 240
    d.now = at(250);
    d.op("02", WindowOp::CallNext); // B002, waited 190
    d.now = at(360);
    d.op("01", WindowOp::Start);
    d.now = at(400);
    d.op("02", WindowOp::NoShow); // B002 missed
    d.now = at(410);
    d.op("02", WindowOp::CallNext); // B003, waited 230
    d.now = at(420);
    d.op("02", WindowOp::Start);
    d.now = at(960);
    d.finish("01", Outcome::Completed); // B001: 600 s
    d.now = at(970);
    d.rate("01", 5);
    d.now = at(1000);
    d.op("01", WindowOp::CallNext); // A001, waited 880
    d.now = at(1020);
    d.finish("02", Outcome::Accepted); // B003: 600 s
    d.now = at(1030);
    d.rate("02", 2); // a bad review
    d.now = at(1100);
    d.op(
        "02",
        WindowOp::Call {
            ticket: TicketNo::parse("B002").unwrap(),
        },
    ); // the no-show came back: no new wait
    d.now = at(1110);
    d.op("02", WindowOp::Start);
    d.now = at(1290);
    d.finish("01", Outcome::Consulted); // A001, never started: 290 s from the call
    d.now = at(1410);
    d.finish("02", Outcome::Completed); // B002: 300 s
    d.now = at(1420);
    d.rate("02", 4);
    d.now = at(1630);
    let bad = d
        .hall
        .alerts()
        .iter()
        .find(|a| a.rule == Rule::BadRating)
        .expect("the bad review's alert")
        .id
        .clone();
    d.hall
        .act_on_alert(&bad, AlertOp::Ack, "监察员", None, d.now)
        .unwrap();
    d.at(1800);

    let f = d.hall.figures(d.now, false);
    assert_eq!(f.date, NaiveDate::from_ymd_opt(2026, 11, 23).unwrap());
    assert!(!f.complete);

    let h = &f.total;
    assert_eq!(h.issued, Some(4));
    assert_eq!((h.called, h.served, h.missed), (5, 4, 1));
    assert_eq!(h.missed_rate, Some(0.2));
    assert_eq!(h.avg_wait_s, Some(385.0), "(240 + 190 + 230 + 880) / 4");
    assert_eq!(h.max_wait_s, Some(880));
    assert_eq!(h.avg_service_s, Some(447.5), "(600 + 600 + 290 + 300) / 4");
    assert_eq!(h.benchmark, Some(50), "01 and 02 worked");
    assert_eq!(h.cases, 3, "the consultation is no case");
    assert_eq!(h.load, Some(0.06), "3 cases / 50");
    assert_eq!(h.completed, 2, "即办件");
    assert_eq!(
        (h.accepted, h.unregistered),
        (1, 1),
        "B003 accepted without a case reference: a 未登记承诺件"
    );
    assert!(
        close(h.on_the_spot_rate.unwrap(), 2.0 / 3.0),
        "consulted left out"
    );
    assert_eq!((h.ratings, h.satisfied, h.bad_ratings), (3, 2, 1));
    assert!(close(h.satisfaction_rate.unwrap(), 2.0 / 3.0));
    assert_eq!(h.rating_rate, Some(0.75));
    assert_eq!((h.alerts, h.alerts_acknowledged), (Some(1), Some(1)));
    assert_eq!(h.avg_ack_s, Some(600.0), "opened 1030, acknowledged 1630");

    let sb = &f.services[0];
    assert_eq!((sb.key.as_str(), sb.name.as_str()), ("SB", "社会保障"));
    assert_eq!(sb.issued, Some(3));
    assert_eq!((sb.called, sb.served, sb.missed), (4, 3, 1));
    assert_eq!(sb.avg_wait_s, Some(220.0), "(240 + 190 + 230) / 3");
    assert_eq!(sb.max_wait_s, Some(240));
    assert_eq!(sb.avg_service_s, Some(500.0));
    assert!(close(sb.on_the_spot_rate.unwrap(), 2.0 / 3.0));
    assert_eq!((sb.ratings, sb.satisfied), (3, 2));
    assert_eq!(sb.alerts, Some(1), "the bad review was about SB");
    assert_eq!((sb.benchmark, sb.load), (None, None));

    let ga = &f.services[1];
    assert_eq!((ga.issued, ga.called, ga.served), (Some(1), 1, 1));
    assert_eq!(ga.avg_wait_s, Some(880.0));
    assert_eq!(ga.on_the_spot_rate, None, "only a consultation");
    assert_eq!((ga.satisfaction_rate, ga.rating_rate), (None, Some(0.0)));
    assert_eq!(f.services[2].issued, Some(0));
    assert_eq!(f.services[2].called, 0);

    let w1 = &f.windows[0];
    assert_eq!((w1.key.as_str(), w1.name.as_str()), ("01", "1号窗口"));
    assert_eq!((w1.called, w1.served, w1.missed), (2, 2, 0));
    assert_eq!(w1.avg_wait_s, Some(560.0));
    assert_eq!(w1.avg_service_s, Some(445.0));
    assert_eq!(
        (w1.served, w1.cases),
        (2, 1),
        "B001, and A001 a consultation"
    );
    assert_eq!((w1.benchmark, w1.load), (Some(25), Some(0.04)));
    assert_eq!(w1.on_the_spot_rate, Some(1.0));
    assert_eq!((w1.ratings, w1.rating_rate), (1, Some(0.5)));
    assert_eq!(w1.alerts, Some(0));
    let status = w1.status_s.as_ref().unwrap();
    assert_eq!(status["offline"], 0, "logged in at opening");
    assert_eq!(status["idle"], 790, "0–240, 960–1000, 1290–1800");
    assert_eq!(status["calling"], 410, "240–360, 1000–1290");
    assert_eq!(status["serving"], 600, "360–960");
    assert_eq!(status["paused"], 0);

    let w2 = &f.windows[1];
    assert_eq!((w2.called, w2.served, w2.missed), (3, 2, 1));
    assert!(close(w2.missed_rate.unwrap(), 1.0 / 3.0));
    assert_eq!(w2.avg_wait_s, Some(210.0));
    assert_eq!(w2.on_the_spot_rate, Some(0.5));
    assert_eq!((w2.ratings, w2.satisfied, w2.bad_ratings), (2, 1, 1));
    assert_eq!(w2.rating_rate, Some(1.0));
    assert_eq!((w2.alerts, w2.alerts_acknowledged), (Some(1), Some(1)));
    assert_eq!(f.windows[2].called, 0);
    assert_eq!(f.windows[2].status_s.as_ref().unwrap()["offline"], 1800);

    assert_eq!(f.staff.len(), 2);
    let (s1, s2) = (&f.staff[0], &f.staff[1]);
    assert_eq!((s1.key.as_str(), s1.name.as_str()), ("S001", "李敏"));
    assert_eq!((s1.served, s1.cases, s1.load), (2, 1, Some(0.04)));
    assert_eq!((s2.key.as_str(), s2.name.as_str()), ("S002", "王芳"));
    assert_eq!((s2.called, s2.missed, s2.served), (3, 1, 2));
    assert_eq!(s2.alerts, None, "alerts are not kept per person");

    assert_eq!(f.alerts.opened, 1);
    assert_eq!(f.alerts.acknowledged, 1);
    assert_eq!(
        (f.alerts.avg_ack_s, f.alerts.max_ack_s),
        (Some(600.0), Some(600))
    );
    assert_eq!(
        f.alerts.by_rule,
        vec![AlertCount {
            rule: Rule::BadRating,
            severity: Severity::Warning,
            count: 1
        }]
    );

    assert_eq!(f.hourly.len(), 24);
    assert_eq!((f.hourly[9].arrivals, f.hourly[9].served), (4, 4));
    assert_eq!(f.hourly.iter().map(|h| h.arrivals).sum::<u32>(), 4);
    // Even profile, 4 issued by 09:30 → forecast 28 over seven hours: 4 an hour.
    assert_eq!(f.hourly[9].expected, 4.0);
    assert_eq!(f.hourly[12].expected, 0.0, "12:00–13:30 is lunch");
    assert_eq!(f.hourly[13].expected, 2.0, "open half of the 13:00 hour");
    assert_eq!(f.hourly[8].expected, 0.0);

    // At midnight the day ends with the same counts, now final.
    let effects = d.hall.tick(at(15 * 3600));
    let Some(Effect::DayEnded(ended)) = effects.first() else {
        panic!("{effects:?}");
    };
    assert!(ended.complete);
    assert_eq!((ended.date, &ended.total.served), (f.date, &4));
    assert_eq!(ended.windows[1].missed_rate, w2.missed_rate);
    assert_eq!(ended.staff, f.staff);
}

#[test]
fn the_day_that_ends_is_handed_over_with_its_final_figures() {
    let mut d = D::new(office_spec());
    d.login("01", "S001", "李敏");
    d.ticket("SB");
    d.op("01", WindowOp::CallNext);
    d.finish("01", Outcome::Completed);
    // Midnight Beijing is 15 h after 09:00.
    let effects = d.hall.tick(at(15 * 3600));
    let Some(Effect::DayEnded(f)) = effects.first() else {
        panic!("{effects:?}");
    };
    assert!(f.complete);
    assert_eq!(f.date, NaiveDate::from_ymd_opt(2026, 11, 23).unwrap());
    assert_eq!((f.total.issued, f.total.served), (Some(1), 1));
    assert_eq!(f.at, d.hall.spec().local(at(15 * 3600)).fixed_offset());
    // The new day starts empty.
    assert_eq!(d.hall.figures(at(15 * 3600), false).total.issued, Some(0));
}

#[test]
fn a_dashboard_snapshot_carries_load_queues_staffing_and_kpis() {
    let mut d = D::new(office_spec());
    d.login("01", "S001", "李敏");
    d.ticket("SB");
    d.now = at(60);
    d.ticket("SB");
    d.op("01", WindowOp::CallNext);
    d.finish("01", Outcome::Completed);
    d.now = at(600);
    let s = d.hall.dashboard_snapshot(d.now);
    assert_eq!(s.windows[0].window.served_today, 1);
    assert_eq!(s.windows[0].window.load, 0.04);
    assert_eq!(s.queues[0].queue.waiting, 1);
    assert_eq!(s.queues[0].longest_wait_s, 540, "B002 since 60");
    assert_eq!(s.queues[0].avg_wait_s, Some(60.0), "B001 waited a minute");
    assert_eq!(s.kpi.figures.issued, Some(2));
    assert_eq!(s.kpi.waiting, 1);
    assert_eq!(s.staffing.services.len(), 3);
    let json = serde_json::to_value(&s).unwrap();
    assert_eq!(json["windows"][0]["served_today"], 1, "flattened");
    assert_eq!(json["queues"][0]["service"], "SB");
    assert_eq!(json["staffing"]["services"][0]["service"], "SB");
    assert!(json["kpi"]["hourly"].is_array());
}
