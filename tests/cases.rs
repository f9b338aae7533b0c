//! 限时办结 end to end, on a real broker, the SQLite store and an injected
//! clock: a window's `accepted` finish opens a case, time issues its
//! 预警, 黄牌 and 红牌, a bad review opens its follow-up, and all of it
//! outlives a restart past the days the server replays.

mod common;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use common::*;
use hallwatch::clock::ManualClock;
use hallwatch::domain::{CardKind, CardState, CaseState, FollowStep};
use hallwatch::store::{Store, StoredBook};
use serde_json::{Value, json};

/// Local time in the test hall (Asia/Shanghai), November–December 2026.
fn local(month: u32, day: u32, hh: u32, mm: u32) -> DateTime<Utc> {
    chrono_tz::Asia::Shanghai
        .with_ymd_and_hms(2026, month, day, hh, mm, 0)
        .unwrap()
        .with_timezone(&Utc)
}

async fn op(dev: &mut Device, w: &str, body: Value) -> Value {
    let r = dev.request(&window(w), body).await;
    assert_eq!(r["ok"], true, "{r}");
    r
}

/// Waits (a few seconds at most) until the stored book satisfies `ok`.
async fn stored_until(store: &Store, what: &str, ok: impl Fn(&StoredBook) -> bool) -> StoredBook {
    for _ in 0..100 {
        let book = store.case_book("h1").await.unwrap();
        if ok(&book) {
            return book;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the stored case book never showed {what}");
}

fn cards_of(book: &StoredBook, reference: &str) -> Vec<(CardKind, CardState)> {
    book.cards
        .iter()
        .filter(|c| c.id.starts_with(&format!("{reference}-")))
        .map(|c| (c.kind, c.state))
        .collect()
}

/// Serves the next SB ticket at window 01 and finishes it with `finish`.
async fn serve(dev: &mut Device, clock: &ManualClock, finish: Value) -> Value {
    dev.request(KIOSK, json!({"service": "SB"})).await;
    op(dev, "01", json!({"op": "call_next"})).await;
    op(dev, "01", json!({"op": "start"})).await;
    clock.advance(chrono::Duration::minutes(5));
    dev.request(&window("01"), finish).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_case_runs_late_earns_its_cards_and_outlives_a_restart() {
    let Some(broker) = Broker::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_url(dir.path());
    // Monday 23 November, 10:00.
    let clock = Arc::new(ManualClock::new(local(11, 23, 10, 0)));
    let app =
        TestApp::spawn_with_clock(settings(&broker.url(), &db, "cases-a"), clock.clone()).await;
    let store = Store::open(&db).await.unwrap();
    let mut dev = Device::replies(broker.port, "cases").await;
    op(&mut dev, "01", json!({"op": "login", "staff": "S001"})).await;

    // Accepted for one working day: due Tuesday at the close (17:30).
    let r = serve(
        &mut dev,
        &clock,
        json!({"op": "finish", "outcome": "accepted",
               "case": {"ref": "SB-0001", "promised_days": 1}}),
    )
    .await;
    assert_eq!(r["ok"], true, "{r}");
    // The same reference again is refused, and the ticket stays at the
    // window so the terminal can correct it.
    let r = serve(
        &mut dev,
        &clock,
        json!({"op": "finish", "outcome": "accepted",
               "case": {"ref": "SB-0001", "promised_days": 3}}),
    )
    .await;
    assert_eq!(r["ok"], false, "{r}");
    assert_eq!(r["error"], "duplicate_case", "{r}");
    assert!(r["message"].as_str().unwrap().contains("SB-0001"), "{r}");
    // Without a case (a version 1 terminal): taken, and no case opens.
    let r = dev
        .request(
            &window("01"),
            json!({"op": "finish", "outcome": "accepted"}),
        )
        .await;
    assert_eq!(r["ok"], true, "{r}");
    // A bad review of it opens the follow-up, 核实 first.
    let r = dev
        .request(&rater("01"), json!({"score": 1, "comment": "材料说了三次"}))
        .await;
    assert_eq!(r["ok"], true, "{r}");

    let book = stored_until(&store, "the case and the follow-up", |b| {
        b.cases.len() == 1 && b.follow_ups.len() == 1
    })
    .await;
    let case = &book.cases[0];
    assert_eq!(case.reference, "SB-0001");
    assert_eq!(case.state, CaseState::Open);
    assert_eq!(case.staff.as_ref().map(|s| s.as_str()), Some("S001"));
    assert_eq!(case.due, Some(local(11, 24, 17, 30)));
    let follow_up = &book.follow_ups[0];
    assert!(follow_up.id.contains("bad_rating"), "{}", follow_up.id);
    assert_eq!(
        follow_up.current().map(|s| s.step),
        Some(FollowStep::Verify)
    );
    assert_eq!(
        follow_up.current().and_then(|s| s.due),
        Some(local(11, 24, 17, 30)),
        "核实 within one working day"
    );

    // Tuesday's opening: the 预警.
    clock.set(local(11, 24, 9, 1));
    stored_until(&store, "the 预警", |b| {
        cards_of(b, "SB-0001") == [(CardKind::Warning, CardState::Issued)]
    })
    .await;
    // Past Tuesday's close: the 黄牌 ends the 预警; the late 核实 earns
    // the department its own 黄牌.
    clock.set(local(11, 24, 17, 31));
    let book = stored_until(&store, "the 黄牌", |b| {
        cards_of(b, "SB-0001")
            == [
                (CardKind::Warning, CardState::Lapsed),
                (CardKind::Yellow, CardState::Issued),
            ]
            && b.cards.len() == 3
    })
    .await;
    let yellow = book
        .cards
        .iter()
        .find(|c| c.id == "SB-0001-yellow")
        .unwrap();
    assert_eq!(yellow.issued_at, local(11, 24, 17, 30));
    assert_eq!(yellow.staff.as_ref().map(|s| s.as_str()), Some("S001"));
    app.stop().await;

    // Two weeks on, far past the two days the server replays: the book is
    // loaded as it was, and the 红牌 that fell due on Friday 27th at the
    // close (three working days after the due day) is issued as of then.
    clock.set(local(12, 7, 10, 0));
    let app =
        TestApp::spawn_with_clock(settings(&broker.url(), &db, "cases-b"), clock.clone()).await;
    let after = stored_until(&store, "the 红牌", |b| {
        cards_of(b, "SB-0001").contains(&(CardKind::Red, CardState::Issued))
    })
    .await;
    assert_eq!(after.cases.len(), 1);
    assert_eq!(after.cases[0].due, case.due);
    assert_eq!(after.follow_ups, book.follow_ups);
    let red = after.cards.iter().find(|c| c.id == "SB-0001-red").unwrap();
    assert_eq!(red.issued_at, local(11, 27, 17, 30));
    // Nothing else was issued twice.
    let ids: Vec<&str> = after.cards.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(after.cards.len(), 4, "{ids:?}");
    app.stop().await;

    // Started again at the same moment: the book is the same, row for row.
    let app =
        TestApp::spawn_with_clock(settings(&broker.url(), &db, "cases-c"), clock.clone()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(store.case_book("h1").await.unwrap(), after);
    app.stop().await;
}

const EVENTS: &str = "hallwatch/h1/case/ywxt/event";
const CARDS: &str = "hallwatch/h1/card";

/// POSTs `body` as JSON with `token`.
async fn post(port: u16, path: &str, token: &str, body: Value) -> HttpAnswer {
    let auth = format!("Bearer {token}");
    http_request(
        port,
        "POST",
        path,
        &[
            ("Authorization", auth.as_str()),
            ("Content-Type", "application/json"),
        ],
        &body.to_string(),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_back_office_reports_by_mqtt_and_rest_as_one_and_cards_reach_everyone() {
    use hallwatch::config::Role;
    let Some(broker) = Broker::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_url(dir.path());
    // Monday 23 November, 10:00.
    let clock = Arc::new(ManualClock::new(local(11, 23, 10, 0)));
    let mut s = settings(&broker.url(), &db, "cases-bo");
    s.tokens = vec![
        token("审批系统", Role::Backoffice, &["h1"], "b-secret"),
        token("督查室", Role::Supervisor, &["h1"], "s-secret"),
        token("大厅", Role::Manager, &["h1"], "m-secret"),
    ];
    let app = TestApp::spawn_with_clock(s, clock.clone()).await;
    let mut dev = Device::replies(broker.port, "bo").await;
    let mut office = Device::connect(
        broker.port,
        "ywxt",
        &["hallwatch/h1/case/ywxt/reply", CARDS],
    )
    .await;
    op(&mut dev, "01", json!({"op": "login", "staff": "S001"})).await;
    // Accepted for two working days: due Wednesday 25th at 17:30.
    let r = serve(
        &mut dev,
        &clock,
        json!({"op": "finish", "outcome": "accepted",
               "case": {"ref": "SB-0002", "promised_days": 2}}),
    )
    .await;
    assert_eq!(r["ok"], true, "{r}");

    // Suspended over MQTT (补正) on Tuesday morning...
    clock.set(local(11, 24, 9, 30));
    let r = office
        .request_with_id(
            EVENTS,
            json!({"id": "ev-1", "ref": "SB-0002", "op": "suspend", "reason": "补正：缺户口簿"}),
        )
        .await;
    assert_eq!(
        r,
        json!({"event": "ev-1", "ok": true, "ref": "SB-0002", "duplicate": false})
    );
    // ...and the same report again by REST is the same one.
    let a = post(
        app.port,
        "/api/halls/h1/cases/SB-0002/events",
        "b-secret",
        json!({"source": "ywxt", "id": "ev-1", "op": "suspend", "reason": "补正：缺户口簿"}),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.header("hallwatch-duplicate"), Some("1"));
    let case = a.json();
    assert_eq!(case["state"], "suspended", "{case}");
    assert_eq!(case["due"], Value::Null, "the clock stands: {case}");
    assert_eq!(case["history"].as_array().unwrap().len(), 1, "{case}");
    // Out of order, unknown, without reason, unregistered source: refused
    // with their reason codes, on the reply topic and over REST.
    let r = office
        .request_with_id(
            EVENTS,
            json!({"id": "ev-2", "ref": "SB-0002", "op": "deliver"}),
        )
        .await;
    assert_eq!(r["ok"], false, "{r}");
    assert_eq!(r["error"], "out_of_order", "{r}");
    let r = office
        .request_with_id(
            EVENTS,
            json!({"id": "ev-3", "ref": "NOPE", "op": "complete"}),
        )
        .await;
    assert_eq!(r["error"], "unknown_case", "{r}");
    let r = office
        .request_with_id(
            EVENTS,
            json!({"id": "ev-4", "ref": "SB-0002", "op": "resume", "at": 5}),
        )
        .await;
    assert_eq!(r["error"], "bad_request", "{r}");
    let a = post(
        app.port,
        "/api/halls/h1/cases/SB-0002/events",
        "b-secret",
        json!({"source": "other", "id": "x-1", "op": "resume"}),
    )
    .await;
    assert_eq!(
        (a.status, a.json()["error"].clone()),
        (404, json!("unknown_device")),
        "{}",
        a.body
    );
    let a = post(
        app.port,
        "/api/halls/h1/cases/SB-0002/events",
        "m-secret",
        json!({"source": "ywxt", "id": "x-2", "op": "resume"}),
    )
    .await;
    assert_eq!(a.status, 403, "a manager does not report cases: {}", a.body);

    // Resumed Thursday 26th: the working days it stood suspended do not
    // count, so it is due again after the resume.
    clock.set(local(11, 26, 9, 0));
    let a = post(
        app.port,
        "/api/halls/h1/cases/SB-0002/events",
        "b-secret",
        json!({"source": "ywxt", "id": "ev-5", "op": "resume"}),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let due = a.json()["due"].as_str().unwrap().to_owned();
    let due = DateTime::parse_from_rfc3339(&due)
        .unwrap()
        .with_timezone(&Utc);
    assert!(
        due > local(11, 26, 9, 0),
        "due again after the resume: {due}"
    );

    // Past its deadline: the 黄牌 reaches MQTT and the console's view.
    clock.set(due + chrono::Duration::minutes(1));
    let card = office.expect_where(CARDS, |c| c["kind"] == "yellow").await;
    assert_eq!(card["type"], "card");
    assert_eq!(card["case"], "SB-0002");
    assert_eq!(card["label"], "黄牌");
    assert_eq!(card["staff"], "S001");
    assert_eq!(card["state"], "issued");
    let id = card["id"].as_str().unwrap().to_owned();
    let board = http_request(
        app.port,
        "GET",
        "/api/halls/h1/cases",
        &[("Authorization", "Bearer s-secret")],
        "",
    )
    .await
    .json();
    assert_eq!(board["open"][0]["ref"], "SB-0002", "{board}");
    assert!(
        board["open"][0]["due_in_s"].as_i64().unwrap() < 0,
        "{board}"
    );
    assert!(
        board["cards"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == id.as_str()),
        "{board}"
    );

    // Its life: explained by the department, then upheld by a supervisor;
    // a supervisor cannot be skipped, and the note is required.
    let path = |op: &str| format!("/api/halls/h1/cards/{id}/{op}");
    let a = post(app.port, &path("uphold"), "b-secret", json!({"note": "x"})).await;
    assert_eq!(a.status, 403, "{}", a.body);
    let a = post(
        app.port,
        &path("explain"),
        "b-secret",
        json!({"note": "  "}),
    )
    .await;
    assert_eq!(
        (a.status, a.json()["error"].clone()),
        (422, json!("note_required")),
        "{}",
        a.body
    );
    let a = post(
        app.port,
        &path("explain"),
        "b-secret",
        json!({"note": "申请人补正材料延迟送达"}),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.json()["state"], "explained");
    let changed = office
        .expect_where(CARDS, |c| {
            c["id"] == id.as_str() && c["state"] == "explained"
        })
        .await;
    assert_eq!(changed["explanation"]["by"], "审批系统");
    let a = post(
        app.port,
        &path("uphold"),
        "s-secret",
        json!({"note": "说明不成立，维持黄牌"}),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.json()["state"], "upheld");
    assert_eq!(a.json()["closure"]["by"], "督查室");
    let a = post(
        app.port,
        &path("withdraw"),
        "s-secret",
        json!({"note": "再议"}),
    )
    .await;
    assert_eq!(
        (a.status, a.json()["error"].clone()),
        (409, json!("card_out_of_order")),
        "{}",
        a.body
    );

    // Completed late by MQTT; the case leaves the open list.
    let r = office
        .request_with_id(
            EVENTS,
            json!({"id": "ev-6", "ref": "SB-0002", "op": "complete"}),
        )
        .await;
    assert_eq!(r["ok"], true, "{r}");
    let case = http_request(
        app.port,
        "GET",
        "/api/halls/h1/cases/SB-0002",
        &[("Authorization", "Bearer m-secret")],
        "",
    )
    .await
    .json();
    assert_eq!(case["state"], "completed", "{case}");
    assert_eq!(case["late"], true, "{case}");
    app.stop().await;

    // The store keeps every report as an event: a restart rebuilds the
    // case the same, with its history.
    let mut s = settings(&broker.url(), &db, "cases-bo2");
    s.tokens = vec![token("审批系统", Role::Backoffice, &["h1"], "b-secret")];
    let app = TestApp::spawn_with_clock(s, clock.clone()).await;
    let store = Store::open(&db).await.unwrap();
    let book = stored_until(&store, "the completed case", |b| {
        b.cases
            .iter()
            .any(|c| c.reference == "SB-0002" && c.state == CaseState::Completed)
    })
    .await;
    let c = book
        .cases
        .iter()
        .find(|c| c.reference == "SB-0002")
        .unwrap();
    let ops: Vec<&str> = c.history.iter().map(|h| h.id.as_str()).collect();
    assert_eq!(ops, ["ev-1", "ev-5", "ev-6"]);

    // The month's 考评 counts it: accepted, completed late, its 黄牌
    // upheld; as JSON and as CSV for Excel.
    let get = |path: &'static str| {
        http_request(
            app.port,
            "GET",
            path,
            &[("Authorization", "Bearer b-secret")],
            "",
        )
    };
    let a = get("/api/halls/h1/appraisal?month=2026-11&by=department").await;
    assert_eq!(a.status, 200, "{}", a.body);
    let a = a.json();
    assert_eq!(a["month"], "2026-11");
    let row = &a["rows"][0];
    assert_eq!(row["cases_accepted"], 1, "{a}");
    assert_eq!(row["completed_late"], 1, "{a}");
    assert_eq!(row["on_time_rate"], 0.0, "{a}");
    assert_eq!(row["cards"]["yellow"], 1, "{a}");
    assert_eq!(row["cards"]["upheld"], 1, "{a}");
    assert!(row["score"].as_f64().unwrap() < 100.0, "{a}");
    let c = get("/api/halls/h1/appraisal?month=2026-11&format=csv").await;
    assert_eq!(c.status, 200);
    assert!(c.header("content-type").unwrap().starts_with("text/csv"));
    let lines: Vec<&str> = c.body.trim_start_matches('\u{feff}').lines().collect();
    assert!(lines[0].starts_with("大厅,月份,编码,名称"), "{}", lines[0]);
    assert_eq!(
        lines.len(),
        1 + a["rows"].as_array().unwrap().len(),
        "{}",
        c.body
    );
    assert!(
        lines[1].starts_with("测试县政务服务中心,2026-11,"),
        "{}",
        lines[1]
    );
    let bad = get("/api/halls/h1/appraisal?month=2026-13").await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    // The region roll-up: one per hall in scope.
    let all = get("/api/appraisal?month=2026-11").await.json();
    assert_eq!(all.as_array().unwrap().len(), 1, "{all}");
    app.stop().await;

    // Rebuilt from the whole event log, the book is the one kept.
    let kept = store.case_book("h1").await.unwrap();
    let settings = settings(&broker.url(), &db, "cases-rebuild");
    let rebuilt = hallwatch::replay::rebuild(
        &store,
        &settings.halls,
        hallwatch::clock::Clock::now(&*clock),
    )
    .await
    .unwrap();
    assert_eq!(rebuilt[0].cases, kept.cases.len());
    assert_eq!(store.case_book("h1").await.unwrap(), kept);
}
