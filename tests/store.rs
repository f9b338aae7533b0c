//! The store on both backends: SQLite (a fresh file) and PostgreSQL (a fresh
//! database on the server named by HALLWATCH_TEST_POSTGRES), and a restart
//! of a live hall on PostgreSQL.

mod common;

use chrono::{DateTime, Duration, TimeZone, Utc};
use common::*;
use hallwatch::store::{AlertFilter, AlertRow, DailyRow, EventRow, Record, RejectionRow, Store};
use serde_json::json;

fn at(s: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 1, 0, 0).unwrap() + Duration::milliseconds(s)
}

fn event(i: i64) -> Record {
    Record::Event(EventRow {
        hall: "h1".into(),
        device: Some("k1".into()),
        msg_id: Some(format!("k1-{i}").into()),
        kind: "ticket",
        input: json!({"kind": "ticket", "kiosk": "k1", "id": format!("k1-{i}"), "request": {"service": "SB", "priority": "normal", "appointment": null}}).to_string().into(),
        received_at: at(i),
        ok: true,
        reason: None,
        reply: Some(json!({"request": format!("k1-{i}"), "ok": true}).to_string().into()),
        device_at: (i == 7).then(|| "2026-11-23T09:00:00.007+08:00".to_owned()),
    })
}

fn alert(id: &str, rule: &str, state: &str, opened: i64) -> Record {
    Record::Alert(AlertRow {
        id: id.into(),
        hall: "h1".into(),
        rule: rule.into(),
        severity: "warning".into(),
        state: state.into(),
        opened_at: at(opened),
        updated_at: at(opened),
        body: serde_json::value::to_raw_value(&json!({"id": id, "rule": rule, "state": state}))
            .unwrap(),
    })
}

/// Alert history: upserts by id, filters by rule, state and time.
async fn exercise_alerts(store: &Store) {
    store
        .write(&[
            alert("h1-1", "wait_timeout", "open", 0),
            alert("h1-2", "bad_rating", "open", 10),
        ])
        .await
        .unwrap();
    store
        .write(&[alert("h1-1", "wait_timeout", "resolved", 0)])
        .await
        .unwrap();
    let all = store.alerts(&AlertFilter::default(), 100).await.unwrap();
    assert_eq!(all.len(), 2, "an alert is one row, updated in place");
    assert_eq!(all[0]["id"], "h1-2", "newest first");
    let f = AlertFilter {
        rule: Some("wait_timeout".into()),
        ..Default::default()
    };
    let rows = store.alerts(&f, 100).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["state"], "resolved");
    let f = AlertFilter {
        rule: Some("no_show_streak".into()),
        ..Default::default()
    };
    assert!(store.alerts(&f, 100).await.unwrap().is_empty());
    let f = AlertFilter {
        state: Some("open".into()),
        from: Some(at(5)),
        ..Default::default()
    };
    assert_eq!(store.alerts(&f, 100).await.unwrap().len(), 1);
    let f = AlertFilter {
        halls: Some(vec!["h2".into()]),
        ..Default::default()
    };
    assert!(store.alerts(&f, 100).await.unwrap().is_empty());
    // One transaction that opens, raises and resolves an alert, between
    // others: the last of its rows stands, as if written one by one.
    store
        .write(&[
            alert("h1-3", "long_service", "open", 20),
            alert("h1-4", "window_idle", "open", 21),
            alert("h1-3", "long_service", "acknowledged", 20),
            alert("h1-3", "long_service", "resolved", 20),
        ])
        .await
        .unwrap();
    let all = store.alerts(&AlertFilter::default(), 100).await.unwrap();
    let states: Vec<(&str, &str)> = all
        .iter()
        .map(|a| (a["id"].as_str().unwrap(), a["state"].as_str().unwrap()))
        .collect();
    assert_eq!(
        states,
        [
            ("h1-4", "open"),
            ("h1-3", "resolved"),
            ("h1-2", "open"),
            ("h1-1", "resolved")
        ]
    );
}

/// Daily figures are kept per (hall, date), replaced when kept again; one
/// hall's day and its arrivals are read back.
async fn exercise_figures(store: &Store) {
    assert_eq!(store.daily_figures("h1", "2026-11-23").await.unwrap(), None);
    let day = |issued: i64| {
        Record::Daily(DailyRow {
            hall: "h1".into(),
            date: "2026-11-23".into(),
            computed_at: at(0),
            body: json!({"date": "2026-11-23", "total": {"issued": issued, "name": "测试"}}),
        })
    };
    store.write(&[day(3)]).await.unwrap();
    store.write(&[day(4)]).await.unwrap();
    // Kept twice in one transaction: the later stands.
    store.write(&[day(9), day(4)]).await.unwrap();
    let kept = store
        .daily_figures("h1", "2026-11-23")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept["total"]["issued"], 4, "kept again, replaced");
    assert_eq!(kept["total"]["name"], "测试");
    assert_eq!(store.daily_figures("h2", "2026-11-23").await.unwrap(), None);
}

/// What every backend must do alike.
async fn exercise_sessions(store: &Store) {
    use hallwatch::store::SessionRow;
    let t0 = at(0);
    let row = SessionRow {
        id_sha256: "ab".repeat(32),
        token_sha256: "cd".repeat(32),
        name: "值班长".into(),
        client: "192.0.2.1".into(),
        created_at: t0,
        expires_at: t0 + chrono::Duration::hours(12),
        revoked_at: None,
    };
    store.session_open(&row).await.unwrap();
    assert_eq!(
        store.session(&row.id_sha256).await.unwrap(),
        Some(row.clone())
    );
    assert_eq!(store.session(&"ef".repeat(32)).await.unwrap(), None);
    let out = t0 + chrono::Duration::hours(1);
    assert!(store.session_revoke(&row.id_sha256, out).await.unwrap());
    assert!(!store.session_revoke(&row.id_sha256, out).await.unwrap());
    let got = store.session(&row.id_sha256).await.unwrap().unwrap();
    assert_eq!(got.revoked_at, Some(out));
    let hours = |h| t0 + chrono::Duration::hours(h);
    assert_eq!(store.sessions_prune(hours(11)).await.unwrap(), 0);
    assert_eq!(store.sessions_prune(hours(13)).await.unwrap(), 1);
    assert_eq!(store.session(&row.id_sha256).await.unwrap(), None);
}

/// The case book: rows replaced as things change, read back in book order.
async fn exercise_case_book(store: &Store) {
    use hallwatch::domain::{Card, Case, CaseState};
    use hallwatch::store::BookRow;
    let mut case: Case = serde_json::from_value(json!({
        "reference": "SB-0001", "service": "SB", "department": "rsj", "staff": "S001",
        "ticket": "B001", "accepted_at": "2026-11-23T02:00:00Z", "promised_days": 1,
        "state": "open", "suspensions": [], "closed_at": null,
        "due": "2026-11-24T09:30:00Z", "cards": [0]
    }))
    .unwrap();
    let card: Card = serde_json::from_value(json!({
        "id": "SB-0001-yellow", "kind": "yellow",
        "subject": {"type": "case", "reference": "SB-0001"},
        "department": "rsj", "staff": "S001", "issued_at": "2026-11-24T09:30:00Z",
        "due": "2026-11-24T09:30:00Z", "state": "issued", "explanation": null, "closure": null
    }))
    .unwrap();
    store
        .write(&[
            Record::Book(BookRow::of_case("h1", 0, &case, at(0))),
            Record::Book(BookRow::of_card("h1", 0, &card, at(0))),
        ])
        .await
        .unwrap();
    let opened = case.clone();
    case.state = CaseState::Completed;
    case.closed_at = Some(at(60_000));
    // Completed and reopened in one transaction: the last row stands.
    store
        .write(&[
            Record::Book(BookRow::of_case("h1", 0, &case, at(60_000))),
            Record::Book(BookRow::of_case("h1", 0, &opened, at(60_000))),
        ])
        .await
        .unwrap();
    assert_eq!(store.case_book("h1").await.unwrap().cases, vec![opened]);
    store
        .write(&[Record::Book(BookRow::of_case("h1", 0, &case, at(60_000)))])
        .await
        .unwrap();
    let book = store.case_book("h1").await.unwrap();
    assert_eq!(book.cases, vec![case.clone()]);
    assert_eq!(book.cards, vec![card]);
    assert!(book.follow_ups.is_empty());
    assert_eq!(store.case_book("h2").await.unwrap(), Default::default());
    // A hole in the book is named, not read past.
    store
        .write(&[Record::Book(BookRow::of_case("h1", 2, &case, at(0)))])
        .await
        .unwrap();
    let err = store.case_book("h1").await.unwrap_err().to_string();
    assert!(err.contains("case #2 where #1 was expected"), "{err}");
    store.clear_case_book("h1").await.unwrap();
    assert_eq!(store.case_book("h1").await.unwrap(), Default::default());
}

async fn exercise(store: &Store) {
    exercise_sessions(store).await;
    exercise_case_book(store).await;
    exercise_alerts(store).await;
    exercise_figures(store).await;
    assert_eq!(store.last_event_at().await.unwrap(), None);
    let mut batch: Vec<Record> = (0..1200).map(event).collect();
    batch.push(Record::Rejection(RejectionRow {
        received_at: at(5),
        topic: "hallwatch/h1/kiosk/k1/request".into(),
        payload: vec![0xff, 0x00, b'x'],
        reason: "bad_json".into(),
        detail: "not UTF-8".into(),
        hall: Some("h1".into()),
        msg_id: None,
    }));
    store.write(&batch).await.expect("write");
    let all = store.events_since(at(0)).await.unwrap();
    assert_eq!(all.len(), 1200);
    assert!(all.windows(2).all(|w| w[0].seq < w[1].seq), "log order");
    assert_eq!(all[7].received_at, at(7), "millisecond times survive");
    assert_eq!(all[7].input_json()["id"], "k1-7");
    assert_eq!(
        all[7].device_at.as_deref(),
        Some("2026-11-23T09:00:00.007+08:00"),
        "the device's own time is kept"
    );
    assert_eq!(all[8].device_at, None);
    assert_eq!(store.events_since(at(1000)).await.unwrap().len(), 200);
    let day = store.hall_log("h1", at(100), at(110)).await.unwrap();
    assert_eq!(day.len(), 10, "[from, to)");
    let entries: Vec<_> = day.entries().map(Result::unwrap).collect();
    assert_eq!(entries.len(), 10);
    assert_eq!(
        (entries[0].received_at, entries[9].received_at),
        (at(100), at(109))
    );
    assert!(entries.windows(2).all(|p| p[0].seq < p[1].seq), "log order");
    assert_eq!(
        store
            .hall_log_by_rows("h1", at(100), at(110))
            .await
            .unwrap(),
        day,
        "a log read a row at a time is the same log"
    );
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(entries[0].input).unwrap(),
        all[100].input_json(),
        "the input as stored"
    );
    assert!(
        store
            .hall_log("h2", at(0), at(2000))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.event_counts_since(at(1000)).await.unwrap(),
        vec![("h1".to_owned(), 200)]
    );
    let issued = store.tickets_issued("h1", at(0), at(5)).await.unwrap();
    assert_eq!(issued, (0..5).map(at).collect::<Vec<_>>());
    assert_eq!(store.last_event_at().await.unwrap(), Some(at(1199)));
    let rej = store.rejections_since(at(0)).await.unwrap();
    assert_eq!(rej.len(), 1);
    assert_eq!(
        rej[0].payload,
        vec![0xff, 0x00, b'x'],
        "raw bytes kept exactly"
    );
    assert_eq!(rej[0].reason, "bad_json");
}

/// Items of many halls queued at once: every one is stored and reported
/// once, and each hall's in the order queued, in the log and in the
/// reports, however the writer's lanes interleave the halls.
async fn exercise_writer_lanes(store: &Store) {
    use hallwatch::store::{WriteItem, spawn_writer};
    let (writer, mut committed, task) = spawn_writer::<(String, i64)>(
        store.clone(),
        std::sync::Arc::new(hallwatch::health::Health::default()),
        std::sync::Arc::new(hallwatch::metrics::Metrics::default()),
    );
    let halls: Vec<String> = (1..=8).map(|h| format!("lane-h{h}")).collect();
    const EACH: i64 = 300;
    for i in 0..EACH {
        for hall in &halls {
            let Record::Event(mut row) = event(i) else {
                unreachable!()
            };
            row.hall = hall.as_str().into();
            writer.send_for(
                hall,
                WriteItem {
                    records: vec![Record::Event(row)],
                    after: Some((hall.clone(), i)),
                },
            );
        }
    }
    drop(writer);
    let mut reported: std::collections::HashMap<String, Vec<i64>> = Default::default();
    while let Some((hall, i)) = committed.recv().await {
        reported.entry(hall).or_default().push(i);
    }
    task.await.unwrap();
    let stored = store.events_since(at(0)).await.unwrap();
    for hall in &halls {
        assert_eq!(
            reported[hall],
            (0..EACH).collect::<Vec<_>>(),
            "{hall}'s items reported once each, in order"
        );
        let log: Vec<i64> = stored
            .iter()
            .filter(|e| &e.hall == hall)
            .map(|e| e.received_at.timestamp_millis() - at(0).timestamp_millis())
            .collect();
        assert_eq!(
            log,
            (0..EACH).collect::<Vec<_>>(),
            "{hall}'s events stored once each, numbered in order"
        );
    }
}

#[tokio::test]
async fn the_sqlite_store_keeps_events_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&sqlite_url(dir.path()))
        .await
        .expect("open sqlite");
    assert_eq!(store.backend(), "sqlite");
    exercise(&store).await;
    store.close().await;
    // Reopening runs the migrations again without harm.
    let store = Store::open(&sqlite_url(dir.path())).await.expect("reopen");
    assert_eq!(store.events_since(at(0)).await.unwrap().len(), 1200);
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sqlite_writer_keeps_each_halls_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&sqlite_url(dir.path())).await.unwrap();
    assert_eq!(store.write_lanes(), 1, "SQLite takes one writer at a time");
    exercise_writer_lanes(&store).await;
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_postgres_writer_keeps_each_halls_order_across_its_lanes() {
    let Some(db) = PgDatabase::create().await else {
        return;
    };
    let store = Store::open(&db.url).await.expect("open postgres");
    assert!(store.write_lanes() > 1, "batches side by side");
    exercise_writer_lanes(&store).await;
    store.close().await;
    db.drop_db().await;
}

#[tokio::test]
async fn the_postgres_store_keeps_events_in_order() {
    let Some(db) = PgDatabase::create().await else {
        return;
    };
    let store = Store::open(&db.url).await.expect("open postgres");
    assert_eq!(store.backend(), "postgres");
    exercise(&store).await;
    store.close().await;
    db.drop_db().await;
}

#[tokio::test]
async fn a_bad_database_url_names_the_database() {
    let err = Store::open("postgres://nobody@127.0.0.1:1/none")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("127.0.0.1:1/none"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_hall_on_postgres_survives_a_restart() {
    let Some(db) = PgDatabase::create().await else {
        return;
    };
    let Some(broker) = Broker::start() else {
        return;
    };
    let app = TestApp::spawn(settings(&broker.url(), &db.url, "hw-pg")).await;
    let mut dev = Device::replies(broker.port, "dev").await;
    for s in ["SB", "GA", "SB"] {
        dev.request(KIOSK, json!({"service": s})).await;
    }
    dev.request(
        &window("01"),
        json!({"op": "login", "staff": "S9", "staff_name": "王芳"}),
    )
    .await;
    let r = dev.request(&window("01"), json!({"op": "call_next"})).await;
    assert_eq!(r["ticket"], "B001");
    let before = app.get_json("/api/halls/h1/snapshot").await.unwrap();
    app.stop().await;

    let app = TestApp::spawn(settings(&broker.url(), &db.url, "hw-pg")).await;
    let mut after = app.get_json("/api/halls/h1/snapshot").await.unwrap();
    let mut before = before;
    before.as_object_mut().unwrap().remove("at");
    after.as_object_mut().unwrap().remove("at");
    assert_eq!(before, after);
    app.stop().await;
    db.drop_db().await;
}
