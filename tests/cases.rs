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
    assert_eq!(r["error"], "bad_request", "{r}");
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
