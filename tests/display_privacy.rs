//! The public display channel says nothing it should not: every message type
//! it can send, through every window op, a priority ticket with a booking
//! reference, a rating with a comment and a transfer, is walked field by
//! field, and any field outside the allowed set (or a value carrying the
//! booking reference, the rating, its comment or a token) fails the test.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use futures_util::StreamExt;
use hallwatch::config::Role;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

/// The allowed field paths of each message type; `[]` is an array element.
fn allowed(kind: &str) -> BTreeSet<&'static str> {
    let window = [
        "windows[].id",
        "windows[].name",
        "windows[].zone",
        "windows[].kind",
        "windows[].status",
        "windows[].ticket",
        "windows[].staff",
        "windows[].staff_name",
        "windows[].since",
        "windows[].services",
        "windows[].services[]",
    ];
    let call = [
        "appointment",
        "ticket",
        "window",
        "window_name",
        "service",
        "service_name",
        "at",
        "recall",
    ];
    let mut set: BTreeSet<&'static str> = ["type"].into();
    match kind {
        "snapshot" => {
            set.extend([
                "hall",
                "hall.id",
                "hall.name",
                "hall.level",
                "date",
                "at",
                "clock_rate",
                "windows",
                "queues",
                "calls",
                "hours",
                "hours[]",
                "stop_issuing_at",
            ]);
            set.extend(window);
            set.extend([
                "queues[].service",
                "queues[].name",
                "queues[].prefix",
                "queues[].waiting",
                "queues[].estimated_wait_s",
            ]);
            set.extend([
                "calls[].ticket",
                "calls[].window",
                "calls[].window_name",
                "calls[].service",
                "calls[].service_name",
                "calls[].at",
                "calls[].recall",
                "calls[].appointment",
            ]);
        }
        "call" => set.extend(call),
        "window" => set.extend(["window", "status", "ticket", "staff", "staff_name", "since"]),
        "queue" => set.extend(["service", "waiting", "estimated_wait_s"]),
        "ping" => {}
        other => panic!("the display channel sent an unknown message type {other:?}"),
    }
    set
}

/// Every field path of a JSON value, with its leaf values.
fn walk(v: &Value, path: &str, out: &mut Vec<(String, Value)>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                out.push((p.clone(), x.clone()));
                walk(x, &p, out);
            }
        }
        Value::Array(a) => {
            for x in a {
                let p = format!("{path}[]");
                // An object in a list is judged by its fields.
                if !x.is_object() {
                    out.push((p.clone(), x.clone()));
                }
                walk(x, &p, out);
            }
        }
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_display_channel_carries_only_what_a_citizen_may_see() {
    let Some(broker) = Broker::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(&broker.url(), &sqlite_url(dir.path()), "hw-privacy");
    s.tokens = vec![
        token("值班长", Role::Manager, &["h1"], "m-secret"),
        token("预约平台", Role::Booking, &["h1"], "p-secret"),
    ];
    let app = TestApp::spawn(s).await;
    // The booking the kiosk checks in with: its reference is no screen's.
    let booked = http_request(
        app.port,
        "PUT",
        "/api/halls/h1/appointments/YY-SECRET-7",
        &[
            ("Authorization", "Bearer p-secret"),
            ("Content-Type", "application/json"),
        ],
        &json!({"service": "SB", "slot_start": "2026-11-23T09:00:00+08:00",
                "slot_end": "2026-11-23T09:30:00+08:00"})
        .to_string(),
    )
    .await;
    assert_eq!(booked.status, 200, "{}", booked.body);
    let mut screen = ws_connect(app.port, "/ws/display/h1").await.unwrap();

    let mut dev = Device::replies(broker.port, "privacy").await;
    let ok = |r: Value| assert_eq!(r["ok"], true, "{r}");
    ok(dev
        .request(
            &window("01"),
            json!({"op": "login", "staff": "S001", "staff_name": "李敏"}),
        )
        .await);
    ok(dev
        .request(
            KIOSK,
            json!({"service": "SB", "priority": "appointment", "appointment": "YY-SECRET-7"}),
        )
        .await);
    ok(dev
        .request(KIOSK, json!({"service": "GA", "priority": "elderly"}))
        .await);
    for op in ["call_next", "recall", "start"] {
        ok(dev.request(&window("01"), json!({"op": op})).await);
    }
    ok(dev
        .request(
            &window("01"),
            json!({"op": "finish", "outcome": "accepted",
                   "case": {"ref": "CASE-SECRET-9", "item": "社保转移", "promised_days": 5}}),
        )
        .await);
    ok(dev
        .request(
            &rater("01"),
            json!({"score": 1, "comment": "COMMENT-SECRET"}),
        )
        .await);
    ok(dev.request(&window("01"), json!({"op": "call_next"})).await);
    ok(dev
        .request(&window("01"), json!({"op": "transfer", "to_service": "SB"}))
        .await);
    ok(dev.request(&window("01"), json!({"op": "call_next"})).await);
    ok(dev.request(&window("01"), json!({"op": "no_show"})).await);
    ok(dev
        .request(&window("01"), json!({"op": "pause", "reason": "meeting"}))
        .await);
    ok(dev.request(&window("01"), json!({"op": "resume"})).await);
    ok(dev.request(&window("01"), json!({"op": "logout"})).await);

    // A second screen gets a snapshot of the busy hall.
    let mut late = ws_connect(app.port, "/ws/display/h1").await.unwrap();
    let mut frames = Vec::new();
    for ws in [&mut screen, &mut late] {
        while let Ok(Some(Ok(msg))) =
            tokio::time::timeout(Duration::from_millis(800), ws.next()).await
        {
            if let Message::Text(t) = msg {
                frames.push(serde_json::from_str::<Value>(&t).unwrap());
            }
        }
    }

    let mut kinds = BTreeSet::new();
    let forbidden = [
        "YY-SECRET-7",
        "CASE-SECRET-9",
        "COMMENT-SECRET",
        "m-secret",
        "社保转移",
    ];
    for f in &frames {
        let kind = f["type"].as_str().expect("a type").to_owned();
        let allow = allowed(&kind);
        let mut fields = Vec::new();
        walk(f, "", &mut fields);
        for (path, value) in fields {
            assert!(
                allow.contains(path.as_str()),
                "{kind} carries {path} = {value}: not for a public screen\n{f}"
            );
            if let Value::String(s) = &value {
                assert!(
                    !forbidden.iter().any(|x| s.contains(x)),
                    "{kind}.{path} leaks {s:?}"
                );
            }
        }
        kinds.insert(kind);
    }
    let walked: Vec<&str> = kinds.iter().map(String::as_str).collect();
    assert_eq!(
        walked,
        ["call", "queue", "snapshot", "window"],
        "every message type but the 15 s ping was seen"
    );
    assert!(
        frames
            .iter()
            .any(|f| f["type"] == "call" && f["recall"] == true),
        "a recall was walked too"
    );
    app.stop().await;
}
