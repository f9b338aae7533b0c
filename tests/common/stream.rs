//! A scripted stream of device messages for hall h1, and the hall it
//! makes when applied without interruption: what a test that kills the
//! server compares with.

use hallwatch::domain::{Hall, Reply};
use hallwatch::mqtt::{payload, topic};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use std::sync::Arc;
use std::time::Duration;

use rumqttc::QoS;

use super::{Device, KIOSK, rater, t0, window};

/// A scripted stream of device messages: kiosks issuing tickets, windows
/// working through them (with some commands out of order), rating pads.
pub fn script(n: usize, seed: u64) -> Vec<(String, Vec<u8>)> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut out = Vec::with_capacity(n);
    let windows = ["01", "02", "03"];
    for (i, w) in windows.iter().enumerate() {
        out.push((
            window(w),
            json!({"id": format!("w{w}-login"), "op": "login", "staff": format!("S{i}")}),
        ));
    }
    while out.len() < n {
        let i = out.len();
        let w = windows[rng.random_range(0..windows.len())];
        let (t, mut body) = match rng.random_range(0..100) {
            0..30 => {
                let k = if rng.random_bool(0.5) {
                    KIOSK.to_owned()
                } else {
                    "hallwatch/h1/kiosk/k2/request".to_owned()
                };
                let s = if rng.random_bool(0.6) { "SB" } else { "GA" };
                let p = ["normal", "normal", "normal", "elderly", "green"][rng.random_range(0..5)];
                let mut body = json!({"service": s, "priority": p});
                if p == "green" {
                    body["green_reason"] = json!("危重病人");
                    body["issued_by"] = json!("D01");
                }
                (k, body)
            }
            30..50 => (window(w), json!({"op": "call_next"})),
            50..62 => (window(w), json!({"op": "start"})),
            62..80 => (window(w), json!({"op": "finish", "outcome": "completed"})),
            80..85 => (window(w), json!({"op": "no_show"})),
            85..88 => (window(w), json!({"op": "transfer", "to_service": "GA"})),
            88..90 => (window(w), json!({"op": "pause", "reason": "break"})),
            90..93 => (window(w), json!({"op": "resume"})),
            _ => (rater(w), json!({"score": rng.random_range(1..=5)})),
        };
        body["id"] = Value::String(format!("m{i:06}"));
        out.push((t, body));
    }
    out.into_iter()
        .map(|(t, b)| (t, b.to_string().into_bytes()))
        .collect()
}

/// The hall after each of `checkpoints` messages of the script, applied in
/// order without interruption.
pub fn uninterrupted(
    script: &[(String, Vec<u8>)],
    settings: &hallwatch::config::Settings,
    checkpoints: &[usize],
) -> Vec<Value> {
    let spec = settings.halls[0].clone();
    let mut now = t0();
    let mut hall = Hall::new(spec, now);
    let mut out = Vec::new();
    for (i, (t, p)) in script.iter().enumerate() {
        let inbound = topic::parse("hallwatch", t).expect("script topic");
        let input = payload::decode(&inbound, p).expect("script payload");
        now += chrono::Duration::milliseconds(1);
        let applied = hall.apply(&input, now);
        assert!(applied.reply.is_some_and(
            |r| !matches!(r, Reply::Refused(ref f) if f.reason.code() == "unknown_device")
        ));
        if checkpoints.contains(&(i + 1)) {
            out.push(comparable(
                serde_json::to_value(hall.display_snapshot(now)).unwrap(),
            ));
        }
    }
    out
}

/// The parts of a snapshot that do not depend on when things happened.
pub fn comparable(snap: Value) -> Value {
    let windows: Vec<Value> = snap["windows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            json!([
                w["id"],
                w["status"],
                w["ticket"],
                w["staff"],
                w["served_today"]
            ])
        })
        .collect();
    let queues: Vec<Value> = snap["queues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| json!([q["service"], q["waiting"]]))
        .collect();
    let calls: Vec<Value> = snap["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| json!([c["ticket"], c["window"], c["recall"]]))
        .collect();
    json!({"windows": windows, "queues": queues, "calls": calls})
}

/// One device connection that publishes `script` in order, paced (about
/// two messages a millisecond), up to the count the returned sender
/// releases; the task hands the device back when the script is done.
pub async fn feed(
    broker_port: u16,
    script: Arc<Vec<(String, Vec<u8>)>>,
) -> (
    tokio::sync::watch::Sender<usize>,
    tokio::task::JoinHandle<Device>,
) {
    let (release, mut released) = tokio::sync::watch::channel(0usize);
    let publisher = Device::connect(broker_port, "stream", &[]).await;
    let feeding = tokio::spawn(async move {
        let mut i = 0;
        while i < script.len() {
            while i >= *released.borrow_and_update() {
                if released.changed().await.is_err() {
                    return publisher;
                }
            }
            let (t, p) = &script[i];
            publisher
                .client
                .publish(t, QoS::AtLeastOnce, false, p.clone())
                .await
                .unwrap();
            i += 1;
            if i % 20 == 0 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        publisher
    });
    (release, feeding)
}
