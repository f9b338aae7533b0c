//! Electronic efficiency supervision end to end: a ticket left waiting past
//! its limit reaches the supervisors' console and MQTT, is acknowledged
//! there, is listed by the REST API, and survives a restart; only a
//! supervisor token in scope gets in. Time moves on an injected clock.

mod common;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::*;
use futures_util::SinkExt;
use hallwatch::clock::{Clock, ManualClock};
use hallwatch::config::{Role, Settings};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

fn supervised(broker: &Broker, db: &str, client: &str) -> Settings {
    let mut s = settings(&broker.url(), db, client);
    s.tokens = vec![
        token("值班长", Role::Manager, &["h1"], "m-secret"),
        token("效能监察室", Role::Supervisor, &["*"], "s-secret"),
        token(
            "镇监察员",
            Role::Supervisor,
            &["elsewhere-not-h1"],
            "x-secret",
        ),
    ];
    s
}

/// A clock that moves only when told to, from the hall's opening.
fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(t0()))
}

async fn console(port: u16, query: &str) -> Result<Ws, u16> {
    ws_connect(port, &format!("/ws/alerts{query}")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_wait_reaches_the_console_is_acknowledged_and_survives_a_restart() {
    let Some(broker) = Broker::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_url(dir.path());
    let clock = clock();
    let app = TestApp::spawn_with_clock(supervised(&broker, &db, "sup-a"), clock.clone()).await;
    let contract = ContractWatch::start(broker.port).await;

    let mut ws = console(app.port, "?token=s-secret")
        .await
        .expect("supervisor gets in");
    let snap = next_of(&mut ws, "snapshot", |_| true).await;
    assert_eq!(snap["halls"][0]["id"], "h1");
    let mut dev = Device::connect(
        broker.port,
        "dev",
        &["hallwatch/h1/kiosk/k1/reply", "hallwatch/h1/alert"],
    )
    .await;
    assert_eq!(
        dev.request(KIOSK, json!({"service": "SB"})).await["ticket"],
        "B001"
    );
    let issued = clock.now();

    // One second before the limit: nothing. At it: a warning, within the
    // hall's one-second tick.
    clock.set(issued + chrono::Duration::seconds(30 * 60 - 1));
    tokio::time::sleep(Duration::from_millis(1300)).await;
    clock.set(issued + chrono::Duration::minutes(30));
    let alert = next_of(&mut ws, "alert", |a| a["rule"] == "wait_timeout").await;
    assert_eq!(alert["severity"], "warning");
    assert_eq!(alert["state"], "open");
    assert_eq!(alert["ticket"], "B001");
    assert_eq!(alert["hall_name"], "测试县政务服务中心");
    assert!(alert["message"].as_str().unwrap().contains("30 分钟"));
    let id = alert["id"].as_str().unwrap().to_owned();
    let opened: DateTime<Utc> = alert["opened_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        opened,
        issued + chrono::Duration::minutes(30),
        "dated at the threshold, not at the tick"
    );
    let on_mqtt = dev
        .expect_where("hallwatch/h1/alert", |v| v["id"] == id.as_str())
        .await;
    assert_eq!(on_mqtt["rule"], "wait_timeout");

    // Acknowledged from the console, with a note.
    ws.send(Message::Text(
        json!({"op": "ack", "alert": id, "note": "已安排导办"})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    let acked = next_of(&mut ws, "alert", |a| {
        a["id"] == id.as_str() && a["state"] == "acknowledged"
    })
    .await;
    assert_eq!(acked["acked_by"], "效能监察室");
    assert_eq!(acked["ack_note"], "已安排导办");
    ws.send(Message::Text(
        json!({"op": "ack", "alert": id}).to_string().into(),
    ))
    .await
    .unwrap();
    let err = next_of(&mut ws, "error", |_| true).await;
    assert_eq!(err["error"], "already_acknowledged");

    // Past the critical limit the same alert rises.
    clock.set(issued + chrono::Duration::minutes(60));
    let critical = next_of(&mut ws, "alert", |a| {
        a["id"] == id.as_str() && a["severity"] == "critical"
    })
    .await;
    assert_eq!(
        critical["state"], "open",
        "a red card must be acknowledged in its own right"
    );
    assert_eq!(
        critical["acked_by"], "效能监察室",
        "the earlier acknowledgement stays on record"
    );
    ws.send(Message::Text(
        json!({"op": "ack", "alert": id, "note": "已调配窗口"})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    next_of(&mut ws, "alert", |a| {
        a["id"] == id.as_str() && a["state"] == "acknowledged"
    })
    .await;

    // The REST history has it, filtered (the store is written just after).
    let body = eventually(5, async || {
        let (status, body) = http_request_json(
            app.port,
            "/api/alerts?rule=wait_timeout&state=acknowledged",
            "s-secret",
        )
        .await;
        (status == 200 && body[0]["id"] == id.as_str() && body[0]["severity"] == "critical")
            .then_some(body)
    })
    .await;
    assert_eq!(body[0]["ack_note"], "已调配窗口");
    let (status, body) =
        http_request_json(app.port, "/api/alerts?rule=no_show_streak", "s-secret").await;
    assert_eq!((status, body), (200, json!([])), "filters filter");
    let before = collect_alerts(&mut ws, app.port).await;
    app.stop().await;

    // After a restart the console sees the same alert in the same state.
    let app = TestApp::spawn_with_clock(supervised(&broker, &db, "sup-a"), clock.clone()).await;
    let mut ws = console(app.port, "?token=s-secret").await.unwrap();
    let snap = next_of(&mut ws, "snapshot", |_| true).await;
    assert_eq!(snap["alerts"], before, "the same alerts in the same states");

    // Calling the ticket resolves the alert by itself, with a note.
    let mut term = Device::connect(broker.port, "term", &["hallwatch/h1/window/+/reply"]).await;
    term.request(&window("02"), json!({"op": "login", "staff": "S1"}))
        .await;
    term.request(&window("02"), json!({"op": "call_next"}))
        .await;
    let done = next_of(&mut ws, "alert", |a| {
        a["id"] == id.as_str() && a["state"] == "resolved"
    })
    .await;
    assert!(done["resolve_note"].as_str().unwrap().contains("自动"));
    contract.check(&["alert"]);
    app.stop().await;
}

/// The snapshot's alerts, read on a fresh console connection.
async fn collect_alerts(_ws: &mut Ws, port: u16) -> Value {
    let mut fresh = console(port, "?token=s-secret").await.unwrap();
    next_of(&mut fresh, "snapshot", |_| true).await["alerts"].clone()
}

async fn http_request_json(port: u16, path: &str, token: &str) -> (u16, Value) {
    let auth = format!("Bearer {token}");
    let answer = http_request(port, "GET", path, &[("Authorization", auth.as_str())], "").await;
    (
        answer.status,
        serde_json::from_str(&answer.body).unwrap_or(Value::Null),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_supervisor_in_scope_opens_the_console() {
    let Some(broker) = Broker::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::spawn_with_clock(
        supervised(&broker, &sqlite_url(dir.path()), "sup-b"),
        clock(),
    )
    .await;
    assert_eq!(console(app.port, "").await.err(), Some(401), "no token");
    assert_eq!(
        console(app.port, "?token=wrong").await.err(),
        Some(401),
        "wrong token"
    );
    assert_eq!(
        console(app.port, "?token=m-secret").await.err(),
        Some(403),
        "a manager"
    );
    assert_eq!(
        console(app.port, "?token=x-secret&hall=h1").await.err(),
        Some(403),
        "out of scope"
    );
    assert!(console(app.port, "?token=s-secret&hall=h1").await.is_ok());
    // A narrow supervisor's console shows none of h1's alerts.
    let mut ws = console(app.port, "?token=x-secret")
        .await
        .expect("in, with no halls");
    let snap = next_of(&mut ws, "snapshot", |_| true).await;
    assert_eq!(snap["halls"], json!([]));
    let answer = http_request(app.port, "POST", "/api/alerts/h1-20260101-1/ack", &[], "").await;
    assert_eq!(answer.status, 401);
    let answer = http_request(
        app.port,
        "POST",
        "/api/alerts/h1-20260101-1/ack",
        &[("Authorization", "Bearer s-secret")],
        "",
    )
    .await;
    assert_eq!(answer.status, 404, "{}", answer.body);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_review_is_resolved_only_with_a_note_on_the_follow_up() {
    let Some(broker) = Broker::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::spawn_with_clock(
        supervised(&broker, &sqlite_url(dir.path()), "sup-c"),
        clock(),
    )
    .await;
    let mut ws = console(app.port, "?token=s-secret&hall=h1").await.unwrap();
    next_of(&mut ws, "snapshot", |_| true).await;
    let mut dev = Device::replies(broker.port, "dev").await;
    bad_review(&mut dev).await;
    let alert = next_of(&mut ws, "alert", |a| a["rule"] == "bad_rating").await;
    assert_eq!(alert["severity"], "critical");
    assert_eq!(alert["window_name"], "2号窗口");
    assert!(alert["message"].as_str().unwrap().contains("材料要求"));
    let id = alert["id"].as_str().unwrap().to_owned();

    ws.send(Message::Text(
        json!({"op": "resolve", "alert": id, "note": "  "})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    let err = next_of(&mut ws, "error", |_| true).await;
    assert_eq!(
        (err["error"].as_str(), err["alert"].as_str()),
        (Some("note_required"), Some(id.as_str()))
    );

    // The REST API does the same with a note, and the console hears of it.
    let path = format!("/api/alerts/{id}/resolve");
    let answer = http_request(
        app.port,
        "POST",
        &path,
        &[
            ("Authorization", "Bearer s-secret"),
            ("Content-Type", "application/json"),
        ],
        &json!({"note": "已回访，一次性告知清单已更新"}).to_string(),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let done = next_of(&mut ws, "alert", |a| {
        a["id"] == id.as_str() && a["state"] == "resolved"
    })
    .await;
    assert_eq!(done["resolved_by"], "效能监察室");
    assert_eq!(done["resolve_note"], "已回访，一次性告知清单已更新");
    let again = http_request(
        app.port,
        "POST",
        &path,
        &[
            ("Authorization", "Bearer s-secret"),
            ("Content-Type", "application/json"),
        ],
        &json!({"note": "x"}).to_string(),
    )
    .await;
    assert_eq!(again.status, 409, "{}", again.body);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_that_came_due_while_the_server_was_down_is_published_on_restart() {
    let Some(broker) = Broker::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_url(dir.path());
    let clock = clock();
    let app = TestApp::spawn_with_clock(supervised(&broker, &db, "sup-d"), clock.clone()).await;
    let mut dev = Device::connect(
        broker.port,
        "dev",
        &["hallwatch/h1/kiosk/k1/reply", "hallwatch/h1/alert"],
    )
    .await;
    dev.request(KIOSK, json!({"service": "GA"})).await;
    app.stop().await;

    clock.advance(chrono::Duration::minutes(31));
    let app = TestApp::spawn_with_clock(supervised(&broker, &db, "sup-d"), clock.clone()).await;
    let alert = dev
        .expect_where("hallwatch/h1/alert", |a| a["rule"] == "wait_timeout")
        .await;
    assert_eq!(alert["ticket"], "G001");
    let id = alert["id"].as_str().unwrap().to_owned();
    eventually(5, async || {
        let (_, body) =
            http_request_json(app.port, "/api/alerts?rule=wait_timeout", "s-secret").await;
        (body[0]["id"] == id.as_str()).then_some(())
    })
    .await;
    app.stop().await;
}

/// A morning rush: 200 citizens, none called, all past the 30-minute
/// limit. Over MQTT that is one `wait_timeout` alert per service queue,
/// updated as its count grows, never an alert per ticket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rush_past_the_wait_limit_is_one_alert_per_service_not_per_ticket() {
    let Some(broker) = Broker::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_url(dir.path());
    let clock = clock();
    let app = TestApp::spawn_with_clock(supervised(&broker, &db, "sup-rush"), clock.clone()).await;
    let contract = ContractWatch::start(broker.port).await;
    let mut dev = Device::connect(
        broker.port,
        "rush",
        &["hallwatch/h1/kiosk/k1/reply", "hallwatch/h1/alert"],
    )
    .await;
    let start = clock.now();
    for n in 0..200i64 {
        clock.set(start + chrono::Duration::seconds(n));
        let service = if n % 2 == 0 { "SB" } else { "GA" };
        let reply = dev.request(KIOSK, json!({"service": service})).await;
        assert_eq!(reply["ok"], true, "{reply}");
    }
    // The limits pass one ticket after another, and the hall looks each second.
    for s in [30 * 60, 30 * 60 + 60, 30 * 60 + 120, 30 * 60 + 200] {
        clock.set(start + chrono::Duration::seconds(s));
        tokio::time::sleep(Duration::from_millis(1300)).await;
    }
    let alerts: Vec<Value> = dev
        .drain("hallwatch/h1/alert", Duration::from_millis(1500))
        .await
        .into_iter()
        .filter(|a| a["rule"] == "wait_timeout")
        .collect();
    let mut ids: Vec<&str> = alerts.iter().filter_map(|a| a["id"].as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 2, "one alert per service: {ids:?}");
    for service in ["SB", "GA"] {
        let last = alerts
            .iter()
            .rev()
            .find(|a| a["service"] == service)
            .expect("an alert for each service");
        assert_eq!(last["count"], 100, "{last}");
        assert_eq!(last["tickets"].as_array().map(Vec::len), Some(20));
        assert_eq!(last["state"], "open");
    }
    contract.check(&["alert"]);
    app.stop().await;
}
