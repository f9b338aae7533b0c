//! A live hall end to end: devices over a real Mosquitto, the hall's state,
//! the display channel, the store.

mod common;

use std::time::Duration;

use common::*;
use futures_util::StreamExt;
use hallwatch::store::Store;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn open_display(port: u16, hall: &str) -> Ws {
    let (ws, _) =
        tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/ws/display/{hall}"))
            .await
            .expect("display websocket");
    ws
}

async fn next_frame(ws: &mut Ws) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("a frame within 5 s")
            .expect("open socket")
            .expect("frame");
        if let Message::Text(t) = msg {
            return serde_json::from_str(&t).expect("JSON frame");
        }
    }
}

async fn frame_of_type(ws: &mut Ws, kind: &str) -> Value {
    loop {
        let f = next_frame(ws).await;
        if f["type"] == kind {
            return f;
        }
    }
}

async fn login(dev: &mut Device, w: &str) {
    let r = dev
        .request(
            &window(w),
            json!({"op": "login", "staff": "S001", "staff_name": "李敏"}),
        )
        .await;
    assert_eq!(r["ok"], true, "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_called_ticket_reaches_the_wall_screen_and_the_devices() {
    let Some(broker) = Broker::start() else {
        return;
    };
    let (_dir, app) = TestApp::fresh(&broker, "hw-a").await;
    let contract = ContractWatch::start(broker.port).await;

    let mut ws = open_display(app.port, "h1").await;
    let snap = next_frame(&mut ws).await;
    assert_eq!(snap["type"], "snapshot");
    assert_eq!(snap["hall"]["name"], "测试县政务服务中心");
    assert_eq!(snap["windows"].as_array().unwrap().len(), 3);
    assert_eq!(snap["queues"][0]["waiting"], 0);

    let mut dev = Device::connect(
        broker.port,
        "dev",
        &[
            "hallwatch/h1/kiosk/k1/reply",
            "hallwatch/h1/window/+/reply",
            "hallwatch/h1/call",
        ],
    )
    .await;
    let r = dev.request(KIOSK, json!({"service": "SB"})).await;
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["ticket"], "B001");
    assert_eq!(r["service_name"], "社会保障");
    assert_eq!(r["waiting_ahead"], 0);
    assert!(r["issued_at"].as_str().unwrap().ends_with("+08:00"));
    let mut queue = frame_of_type(&mut ws, "queue").await;
    // With the wait a ticket taken now would have.
    assert!(queue["estimated_wait_s"].is_u64(), "{queue}");
    queue.as_object_mut().unwrap().remove("estimated_wait_s");
    assert_eq!(
        queue,
        json!({"type": "queue", "service": "SB", "waiting": 1})
    );

    login(&mut dev, "02").await;
    let w = frame_of_type(&mut ws, "window").await;
    assert_eq!(
        (w["window"].as_str(), w["status"].as_str()),
        (Some("02"), Some("idle"))
    );
    assert_eq!(w["staff_name"], "李敏");

    let r = dev.request(&window("02"), json!({"op": "call_next"})).await;
    assert_eq!(
        r,
        json!({"command": r["command"], "ok": true, "ticket": "B001"})
    );
    let call = frame_of_type(&mut ws, "call").await;
    assert_eq!(call["ticket"], "B001");
    assert_eq!(call["window_name"], "2号窗口");
    assert_eq!(call["recall"], false);
    let mqtt_call = dev.expect("hallwatch/h1/call").await;
    assert_eq!(mqtt_call["ticket"], "B001");

    // The retained window state is there for a box that connects later.
    let mut led = Device::connect(broker.port, "led", &["hallwatch/h1/window/02/state"]).await;
    let state = led
        .expect_where("hallwatch/h1/window/02/state", |v| v["status"] == "calling")
        .await;
    assert_eq!(state["ticket"], "B001");
    assert_eq!(state["staff"], "S001");
    assert_eq!(state["benchmark"], 25);

    // The REST snapshot agrees with the screen.
    let snap = app.get_json("/api/halls/h1/snapshot").await.unwrap();
    assert_eq!(snap["calls"][0]["ticket"], "B001");
    assert_eq!(snap["windows"][1]["status"], "calling");
    let halls = app.get_json("/api/halls").await.unwrap();
    assert_eq!(
        halls,
        json!([{"id": "h1", "name": "测试县政务服务中心", "level": "county"}])
    );
    // Every message the server published validates against its schema.
    contract.check(&["kiosk-reply", "window-reply", "window-state", "call"]);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_service_is_counted_and_rated_once() {
    let Some(broker) = Broker::start() else {
        return;
    };
    let (_dir, app) = TestApp::fresh(&broker, "hw-b").await;
    let contract = ContractWatch::start(broker.port).await;
    let mut dev = Device::replies(broker.port, "dev").await;
    dev.request(KIOSK, json!({"service": "GA", "priority": "elderly"}))
        .await;
    login(&mut dev, "01").await;
    for op in [
        json!({"op": "call_next"}),
        json!({"op": "start"}),
        json!({"op": "finish", "outcome": "completed"}),
    ] {
        let r = dev.request(&window("01"), op).await;
        assert_eq!(r["ticket"], "G001", "{r}");
    }
    let r = dev
        .request(&rater("01"), json!({"score": 2, "comment": "等太久"}))
        .await;
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["ticket"], "G001");
    let r = dev
        .request(&rater("01"), json!({"ticket": "G001", "score": 5}))
        .await;
    assert_eq!(
        (r["ok"].clone(), r["error"].clone()),
        (json!(false), json!("already_rated"))
    );
    assert!(r["message"].as_str().unwrap().contains("一事一评"));
    let snap = app.get_json("/api/halls/h1/snapshot").await.unwrap();
    assert_eq!(snap["windows"][0]["status"], "idle");
    assert!(
        snap["windows"][0].get("served_today").is_none(),
        "a window's count is for managers, not the public snapshot"
    );
    // Every message the server published validates against its schema.
    contract.check(&["rating-reply", "window-reply", "window-state"]);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_messages_are_refused_answered_stored_and_counted() {
    let Some(broker) = Broker::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_url(dir.path());
    let app = TestApp::spawn(settings(&broker.url(), &db, "hw-c")).await;
    let contract = ContractWatch::start(broker.port).await;
    let mut dev = Device::connect(
        broker.port,
        "dev",
        &[
            "hallwatch/+/kiosk/+/reply",
            "hallwatch/h1/window/+/reply",
            "hallwatch/h1/rater/+/reply",
        ],
    )
    .await;

    // Each refusal names its reason on the device's reply topic.
    let cases = [
        (
            KIOSK.to_owned(),
            json!({"service": "XX"}),
            "unknown_service",
        ),
        (
            KIOSK.to_owned(),
            json!({"priority": "normal"}),
            "bad_request",
        ),
        (
            KIOSK.to_owned(),
            json!({"service": "SB", "priority": "vip"}),
            "bad_request",
        ),
        (
            "hallwatch/nowhere/kiosk/k1/request".to_owned(),
            json!({"service": "SB"}),
            "unknown_hall",
        ),
        (
            "hallwatch/h1/kiosk/k9/request".to_owned(),
            json!({"service": "SB"}),
            "unknown_device",
        ),
        (
            window("99"),
            json!({"op": "login", "staff": "S1"}),
            "unknown_device",
        ),
        (window("01"), json!({"op": "dance"}), "unknown_op"),
        (window("01"), json!({"op": "call_next"}), "not_logged_in"),
        (window("01"), json!({"op": "finish"}), "bad_request"),
    ];
    for (topic, body, code) in &cases {
        let r = dev.request(topic, body.clone()).await;
        assert_eq!(r["ok"], false, "{topic} {body}: {r}");
        assert_eq!(r["error"], *code, "{topic} {body}: {r}");
        assert!(
            !r["message"].as_str().unwrap_or("").is_empty(),
            "a message to show: {r}"
        );
    }
    // Not JSON at all: no id to answer, but stored and counted.
    dev.publish(KIOSK, b"\xff\xfe not json".to_vec()).await;
    dev.publish(KIOSK, vec![b' '; 5000]).await;
    // Far over the limit, but readable: answered, and ingest carries on.
    let mut big =
        json!({"id": "k1-big", "service": "SB", "pad": "x".repeat(300 * 1024)}).to_string();
    let r = dev
        .request_with_id(KIOSK, serde_json::from_str(&big).unwrap())
        .await;
    assert_eq!(
        r["error"],
        "too_large",
        "{}",
        &r.to_string()[..100.min(r.to_string().len())]
    );
    big.clear();
    // A NUL in free text would poison a PostgreSQL batch: refused at the edge.
    let r = dev
        .request(&rater("01"), json!({"score": 1, "comment": "bad\u{0}text"}))
        .await;
    assert_eq!(r["error"], "bad_request");
    dev.expect_silence("hallwatch/h1/kiosk/k1/reply", Duration::from_millis(300))
        .await;

    let store = Store::open(&db).await.unwrap();
    let rows = eventually(5, async || {
        let rows = store
            .rejections_since(chrono::DateTime::UNIX_EPOCH)
            .await
            .unwrap();
        (rows.len() >= cases.len() + 4).then_some(rows)
    })
    .await;
    let reasons: Vec<&str> = rows.iter().map(|r| r.reason.as_str()).collect();
    for (_, _, code) in &cases {
        assert!(reasons.contains(code), "{code} stored: {reasons:?}");
    }
    assert_eq!(reasons.iter().filter(|r| **r == "bad_json").count(), 1);
    assert_eq!(reasons.iter().filter(|r| **r == "too_large").count(), 2);
    let big = rows.iter().find(|r| r.reason == "too_large").unwrap();
    assert_eq!(big.payload.len(), 4096, "raw bytes are cut at 4096");
    assert_eq!(
        rows.iter()
            .find(|r| r.reason == "bad_json")
            .unwrap()
            .payload,
        b"\xff\xfe not json"
    );

    // A topic is a device's to choose: one of 60,000 characters, and one
    // with a forged log line and a terminal escape in it (Mosquitto refuses
    // control characters in topics, other brokers may not), are stored
    // escaped and cut, as the log shows them.
    let forged = "hallwatch/h1/kiosk/k1\n2026-12-05T01:00:00Z ERROR FORGED LINE\x1b[2J\n/request";
    let long = format!("hallwatch/h1/kiosk/{}/request", "k".repeat(60_000));
    let odd_device = Device::connect(broker.port, "odd-topics", &[]).await;
    odd_device
        .publish(&long, json!({"id": "t-1", "service": "SB"}).to_string())
        .await;
    odd_device
        .publish(forged, json!({"id": "t-2", "service": "SB"}).to_string())
        .await;
    let odd = eventually(5, async || {
        let rows = store
            .rejections_since(chrono::DateTime::UNIX_EPOCH)
            .await
            .unwrap();
        let odd: Vec<_> = rows
            .into_iter()
            .filter(|r| r.topic.contains("FORGED") || r.topic.contains("kkkk"))
            .collect();
        odd.iter().any(|r| r.topic.contains("kkkk")).then_some(odd)
    })
    .await;
    for r in &odd {
        assert_eq!(r.reason, "unknown_device");
        assert!(!r.topic.chars().any(char::is_control), "{:?}", r.topic);
        assert!(!r.detail.chars().any(char::is_control), "{:?}", r.detail);
        assert!(
            r.topic.chars().count() < 260,
            "{} characters",
            r.topic.len()
        );
        assert!(
            r.detail.chars().count() < 400,
            "{} characters",
            r.detail.len()
        );
    }
    let told = format!("({} characters)", long.chars().count());
    assert!(odd.iter().any(|r| r.topic.ends_with(&told)), "{told}");

    let (_, metrics) = app.get("/metrics").await;
    assert!(
        metrics.contains("hallwatch_rejections_total{reason=\"bad_json\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("hallwatch_rejections_total{reason=\"unknown_op\"} 1"),
        "{metrics}"
    );

    // None of it changed the hall.
    let snap = app.get_json("/api/halls/h1/snapshot").await.unwrap();
    assert!(
        snap["queues"]
            .as_array()
            .unwrap()
            .iter()
            .all(|q| q["waiting"] == 0)
    );
    assert!(
        snap["windows"]
            .as_array()
            .unwrap()
            .iter()
            .all(|w| w["status"] == "offline")
    );
    // Every message the server published validates against its schema.
    contract.check(&["kiosk-reply", "window-reply"]);
    app.stop().await;
    store.close().await;
}

/// Wrong types and ops out of order, against a hall in the middle of its
/// work: each refused with its reason code, stored as a rejection, and the
/// hall's snapshot is the same before and after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_types_and_ops_out_of_order_are_refused_and_change_nothing() {
    let Some(broker) = Broker::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_url(dir.path());
    let app = TestApp::spawn(settings(&broker.url(), &db, "hw-order")).await;
    let contract = ContractWatch::start(broker.port).await;
    let mut dev = Device::replies(broker.port, "dev").await;

    // A hall at work: window 01 served B001 (rated), and is calling B002;
    // window 02 is logged in and idle; G001 waits.
    login(&mut dev, "01").await;
    login(&mut dev, "02").await;
    for service in ["SB", "SB", "GA"] {
        let r = dev.request(KIOSK, json!({"service": service})).await;
        assert_eq!(r["ok"], true, "{r}");
    }
    for op in [
        json!({"op": "call_next"}),
        json!({"op": "start"}),
        json!({"op": "finish", "outcome": "completed"}),
    ] {
        let r = dev.request(&window("01"), op).await;
        assert_eq!(r["ok"], true, "{r}");
    }
    let r = dev.request(&rater("01"), json!({"score": 5})).await;
    assert_eq!(r["ok"], true, "{r}");
    let r = dev
        .request(&window("01"), json!({"op": "call", "ticket": "B002"}))
        .await;
    assert_eq!(r["ticket"], "B002", "{r}");
    let before = app.get_json("/api/halls/h1/snapshot").await.unwrap();

    let cases = [
        // Wrong types.
        (KIOSK.to_owned(), json!({"service": 5}), "bad_request"),
        (KIOSK.to_owned(), json!({"service": ["SB"]}), "bad_request"),
        (window("02"), json!({"op": 1}), "bad_request"),
        (
            window("02"),
            json!({"op": "call", "ticket": 2}),
            "bad_request",
        ),
        (rater("01"), json!({"score": "five"}), "bad_request"),
        (rater("01"), json!({"score": 9}), "bad_request"),
        (
            rater("01"),
            json!({"score": 3, "comment": 7}),
            "bad_request",
        ),
        // Out of order.
        (window("02"), json!({"op": "start"}), "no_current_ticket"),
        (
            window("02"),
            json!({"op": "finish", "outcome": "completed"}),
            "no_current_ticket",
        ),
        (window("02"), json!({"op": "no_show"}), "no_current_ticket"),
        (window("02"), json!({"op": "resume"}), "not_paused"),
        (window("01"), json!({"op": "call_next"}), "busy"),
        (window("01"), json!({"op": "logout"}), "busy"),
        (
            window("01"),
            json!({"op": "pause", "reason": "break"}),
            "busy",
        ),
        (
            window("02"),
            json!({"op": "call", "ticket": "G001"}),
            "not_servable",
        ),
        (
            window("02"),
            json!({"op": "call", "ticket": "B999"}),
            "unknown_ticket",
        ),
        (
            window("01"),
            json!({"op": "transfer", "to_service": "SB"}),
            "unknown_service",
        ),
        // A rating for another window's ticket, and a second rating.
        (
            rater("02"),
            json!({"ticket": "B001", "score": 1}),
            "unknown_ticket",
        ),
        (
            rater("01"),
            json!({"ticket": "B001", "score": 1}),
            "already_rated",
        ),
        (
            rater("01"),
            json!({"ticket": "B002", "score": 1}),
            "unknown_ticket",
        ),
    ];
    for (topic, body, code) in &cases {
        let r = dev.request(topic, body.clone()).await;
        assert_eq!(r["ok"], false, "{topic} {body}: {r}");
        assert_eq!(r["error"], *code, "{topic} {body}: {r}");
        assert!(
            !r["message"].as_str().unwrap_or("").is_empty(),
            "a message to show: {r}"
        );
    }
    // A replayed id gets its first answer again, whatever the body says now.
    let first = dev
        .request_with_id(KIOSK, json!({"id": "k1-again", "service": "GA"}))
        .await;
    let again = dev
        .request_with_id(KIOSK, json!({"id": "k1-again", "service": "SB"}))
        .await;
    assert_eq!(first, again, "a replayed id gets the same reply");
    let after_replay = app.get_json("/api/halls/h1/snapshot").await.unwrap();

    let store = Store::open(&db).await.unwrap();
    let rows = eventually(5, async || {
        let rows = store
            .rejections_since(chrono::DateTime::UNIX_EPOCH)
            .await
            .unwrap();
        (rows.len() >= cases.len()).then_some(rows)
    })
    .await;
    assert_eq!(rows.len(), cases.len(), "each refusal stored once");
    for ((_, body, code), row) in cases.iter().zip(&rows) {
        assert_eq!(row.reason, *code, "{body} stored as {}", row.reason);
    }
    // Nothing refused changed the hall; the replay added only its first ticket.
    let strip = |mut v: Value| {
        for key in ["at", "server_time", "generated_at"] {
            v.as_object_mut().map(|o| o.remove(key));
        }
        v
    };
    let mut want = strip(before);
    let after = strip(after_replay);
    let ga = |s: &Value| {
        s["queues"]
            .as_array()
            .unwrap()
            .iter()
            .find(|q| q["service"] == "GA")
            .unwrap()["waiting"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(
        ga(&after),
        ga(&want) + 1,
        "the replayed id issued one ticket"
    );
    want["queues"] = after["queues"].clone();
    assert_eq!(want, after, "no refusal changed the hall");
    // Every message the server published validates against its schema.
    contract.check(&["kiosk-reply", "window-reply", "rating-reply"]);
    app.stop().await;
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivered_message_gets_the_same_reply_and_changes_nothing() {
    let Some(broker) = Broker::start() else {
        return;
    };
    let (_dir, app) = TestApp::fresh(&broker, "hw-d").await;
    let mut dev = Device::connect(broker.port, "dev", &["hallwatch/h1/kiosk/k1/reply"]).await;
    let body = json!({"id": "k1-000123", "service": "SB"});
    let first = dev.request_with_id(KIOSK, body.clone()).await;
    let again = dev.request_with_id(KIOSK, body).await;
    assert_eq!(first, again);
    let snap = app.get_json("/api/halls/h1/snapshot").await.unwrap();
    assert_eq!(snap["queues"][0]["waiting"], 1);
    let (_, metrics) = app.get("/metrics").await;
    assert!(
        metrics.contains("hallwatch_duplicates_total 1"),
        "{metrics}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_rebuilds_the_same_hall_from_the_store() {
    let Some(broker) = Broker::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_url(dir.path());
    let app = TestApp::spawn(settings(&broker.url(), &db, "hw-e")).await;
    let mut dev = Device::replies(broker.port, "dev").await;
    for s in ["SB", "GA", "SB", "SB", "GA"] {
        dev.request(KIOSK, json!({"service": s})).await;
    }
    login(&mut dev, "01").await;
    login(&mut dev, "02").await;
    dev.request(&window("01"), json!({"op": "call_next"})).await;
    dev.request(&window("02"), json!({"op": "call_next"})).await;
    dev.request(&window("02"), json!({"op": "no_show"})).await;
    dev.request(&window("01"), json!({"op": "start"})).await;
    let before = app.get_json("/api/halls/h1/snapshot").await.unwrap();
    app.stop().await;

    let app = TestApp::spawn(settings(&broker.url(), &db, "hw-e")).await;
    let after = app.get_json("/api/halls/h1/snapshot").await.unwrap();
    assert_eq!(without_at(before), without_at(after));
    // Numbering goes on where it stopped.
    let r = dev.request(KIOSK, json!({"service": "SB"})).await;
    assert_eq!(r["ticket"], "B004");
    app.stop().await;
}

/// A start from a hall's checkpoint and the log after it rebuilds the hall
/// a start from the whole log does. The checkpoint is taken when a hall
/// stops; a server with checkpoints off neither takes nor reads them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_from_a_checkpoint_and_the_log_after_it_rebuilds_the_same_hall() {
    let Some(broker) = Broker::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_url(dir.path());
    let with = |every: u64| {
        let mut s = settings(&broker.url(), &db, "hw-cp");
        s.server.checkpoint_every_s = every;
        s
    };
    let mut dev = Device::replies(broker.port, "dev").await;

    // The first run's stop keeps a checkpoint holding all its events.
    let app = TestApp::spawn(with(300)).await;
    for s in ["SB", "GA", "SB", "SB", "GA"] {
        dev.request(KIOSK, json!({"service": s})).await;
    }
    login(&mut dev, "01").await;
    dev.request(&window("01"), json!({"op": "call_next"})).await;
    app.stop().await;
    let store = Store::open(&db).await.unwrap();
    let first = store
        .checkpoint("h1")
        .await
        .unwrap()
        .expect("a checkpoint on stop");
    assert_eq!(
        store
            .hall_log_after("h1", first.through_seq)
            .await
            .unwrap()
            .len(),
        0
    );
    assert_eq!(store.hall_log_after("h1", 0).await.unwrap().len(), 7);

    // Checkpoints off: the whole log is folded, events come in, none is kept.
    let app = TestApp::spawn(with(0)).await;
    let (_, metrics) = app.get("/metrics").await;
    assert_eq!(
        metric(&metrics, "hallwatch_replay_checkpoints_total"),
        Some(0.0)
    );
    assert_eq!(metric(&metrics, "hallwatch_replay_events_total"), Some(7.0));
    dev.request(KIOSK, json!({"service": "GA"})).await;
    login(&mut dev, "02").await;
    dev.request(&window("02"), json!({"op": "call_next"})).await;
    dev.request(&window("01"), json!({"op": "start"})).await;
    dev.request(&window("02"), json!({"op": "no_show"})).await;
    let live = without_at(app.get_json("/api/halls/h1/snapshot").await.unwrap());
    app.stop().await;
    assert_eq!(store.checkpoint("h1").await.unwrap(), Some(first.clone()));

    // From the checkpoint: only the five events after it are folded.
    let app = TestApp::spawn(with(300)).await;
    let (_, metrics) = app.get("/metrics").await;
    assert_eq!(
        metric(&metrics, "hallwatch_replay_checkpoints_total"),
        Some(1.0)
    );
    assert_eq!(metric(&metrics, "hallwatch_replay_events_total"), Some(5.0));
    let from_checkpoint = without_at(app.get_json("/api/halls/h1/snapshot").await.unwrap());
    app.stop().await;
    assert_eq!(from_checkpoint, live);
    // The new checkpoint holds all twelve.
    let second = store.checkpoint("h1").await.unwrap().unwrap();
    assert!(second.through_seq > first.through_seq);
    assert_eq!(
        store
            .hall_log_after("h1", second.through_seq)
            .await
            .unwrap()
            .len(),
        0
    );

    // From the whole log again: the same hall, and numbering goes on.
    let app = TestApp::spawn(with(0)).await;
    let from_log = without_at(app.get_json("/api/halls/h1/snapshot").await.unwrap());
    assert_eq!(from_log, live);
    let r = dev.request(KIOSK, json!({"service": "SB"})).await;
    assert_eq!(r["ticket"], "B004");
    app.stop().await;
    store.close().await;
}

/// A checkpoint due while the hall runs is serialized off its task; it
/// holds the events before it and none after, and what the hall stores
/// meanwhile follows it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_taken_while_the_hall_runs_holds_the_events_before_it() {
    let Some(broker) = Broker::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_url(dir.path());
    let mut s = settings(&broker.url(), &db, "hw-cp-live");
    s.server.checkpoint_every_s = 10;
    let clock = std::sync::Arc::new(hallwatch::clock::ManualClock::new(t0()));
    let app = TestApp::spawn_with_clock(s, clock.clone()).await;
    let mut dev = Device::replies(broker.port, "dev").await;
    for s in ["SB", "GA", "SB"] {
        dev.request(KIOSK, json!({"service": s})).await;
    }
    login(&mut dev, "01").await;
    let store = Store::open(&db).await.unwrap();
    assert!(store.checkpoint("h1").await.unwrap().is_none());
    // Past the hall's phase of the 10 s interval: its next tick takes one.
    clock.advance(chrono::Duration::seconds(11));
    let first = eventually(10, async || store.checkpoint("h1").await.unwrap()).await;
    assert_eq!(store.hall_log_after("h1", 0).await.unwrap().len(), 4);
    assert_eq!(
        store
            .hall_log_after("h1", first.through_seq)
            .await
            .unwrap()
            .len(),
        0
    );
    dev.request(&window("01"), json!({"op": "call_next"})).await;
    dev.request(KIOSK, json!({"service": "GA"})).await;
    assert_eq!(
        store
            .hall_log_after("h1", first.through_seq)
            .await
            .unwrap()
            .len(),
        2
    );
    let live = app.get_json("/api/halls/h1/snapshot").await.unwrap();
    app.stop().await;
    // The stop kept another, holding all six.
    let last = store.checkpoint("h1").await.unwrap().unwrap();
    assert_eq!(
        store
            .hall_log_after("h1", last.through_seq)
            .await
            .unwrap()
            .len(),
        0
    );
    assert!(last.through_seq > first.through_seq);
    let mut s = settings(&broker.url(), &db, "hw-cp-live");
    s.server.checkpoint_every_s = 10;
    let app = TestApp::spawn_with_clock(s, clock.clone()).await;
    let again = app.get_json("/api/halls/h1/snapshot").await.unwrap();
    assert_eq!(without_at(again), without_at(live));
    app.stop().await;
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_halls_and_pages_say_so() {
    let Some(broker) = Broker::start() else {
        return;
    };
    let (_dir, app) = TestApp::fresh(&broker, "hw-f").await;
    let (status, body) = app.get("/api/halls/nope/snapshot").await;
    assert_eq!(status, 404);
    assert!(body.contains("unknown_hall"));
    assert!(
        tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{}/ws/display/nope", app.port))
            .await
            .is_err()
    );
    let (status, body) = app.get("/").await;
    assert_eq!(status, 200);
    assert!(body.contains("hallwatch"));
    let (status, _) = app.get("/wall.html").await;
    assert_eq!(status, 200);
    let (status, _) = app.get("/no-such-page.html").await;
    assert_eq!(status, 404);
    let health = app.get_json("/healthz").await.unwrap();
    assert_eq!(health["status"], "ok");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_retained_summary_follows_the_hall() {
    let Some(broker) = Broker::start() else {
        return;
    };
    let (_dir, app) = TestApp::fresh(&broker, "hw-g").await;
    let contract = ContractWatch::start(broker.port).await;
    let mut dev = Device::replies(broker.port, "dev").await;
    dev.request(KIOSK, json!({"service": "GA"})).await;
    dev.request(KIOSK, json!({"service": "GA"})).await;
    login(&mut dev, "03").await;
    // A region dashboard that connects later reads the retained figures.
    let mut region = Device::connect(broker.port, "region", &["hallwatch/+/summary"]).await;
    let s = region
        .expect_where("hallwatch/h1/summary", |v| {
            v["issued_today"] == 2 && v["windows_open"] == 1
        })
        .await;
    assert_eq!(s["waiting"], json!({"SB": 0, "GA": 2}));
    assert_eq!(s["served_today"], 0);
    assert_eq!(s["windows_total"], 3);
    assert!(s["at"].as_str().unwrap().ends_with("+08:00"));
    // Every message the server published validates against its schema.
    contract.check(&["summary"]);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_screen_hears_only_its_own_window() {
    let Some(broker) = Broker::start() else {
        return;
    };
    let (_dir, app) = TestApp::fresh(&broker, "hw-screen").await;
    let (mut screen, _) = tokio_tungstenite::connect_async(format!(
        "ws://127.0.0.1:{}/ws/display/h1?window=01",
        app.port
    ))
    .await
    .expect("window screen");
    assert_eq!(next_frame(&mut screen).await["type"], "snapshot");
    let mut dev = Device::replies(broker.port, "dev").await;
    dev.request(KIOSK, json!({"service": "SB"})).await;
    dev.request(KIOSK, json!({"service": "SB"})).await;
    login(&mut dev, "02").await;
    dev.request(&window("02"), json!({"op": "call_next"})).await; // B001 to window 02
    login(&mut dev, "01").await;
    dev.request(&window("01"), json!({"op": "call_next"})).await; // B002 to window 01
    // The screen above window 01 sees queues and its own window, never window 02.
    let mut seen = vec![];
    loop {
        let f = next_frame(&mut screen).await;
        assert_ne!(
            f["window"], "02",
            "window 02's frames do not reach window 01's screen: {f}"
        );
        seen.push(f["type"].as_str().unwrap_or("").to_owned());
        if f["type"] == "call" {
            assert_eq!(f["ticket"], "B002");
            break;
        }
    }
    assert!(
        seen.contains(&"queue".to_owned()),
        "the hall's queues still reach it: {seen:?}"
    );
    let refused = tokio_tungstenite::connect_async(format!(
        "ws://127.0.0.1:{}/ws/display/h1?window=99",
        app.port
    ))
    .await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status().as_u16(), 400),
        other => panic!("an unknown window is refused before the upgrade: {other:?}"),
    }
    app.stop().await;
}
