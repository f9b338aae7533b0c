//! Killing the server mid-stream loses nothing: after SIGKILLs and restarts,
//! the hall equals an uninterrupted fold of the same messages, and every
//! message is in the log exactly once.

mod common;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use common::*;
use hallwatch::domain::{Hall, Reply};
use hallwatch::mqtt::{payload, topic};
use hallwatch::store::Store;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rumqttc::QoS;
use serde_json::{Value, json};

/// A scripted stream of device messages: kiosks issuing tickets, windows
/// working through them (with some commands out of order), rating pads.
fn script(n: usize, seed: u64) -> Vec<(String, Vec<u8>)> {
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
                (k, json!({"service": s, "priority": p}))
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

/// The hall after the script, applied in order without interruption.
fn uninterrupted(script: &[(String, Vec<u8>)], settings: &hallwatch::config::Settings) -> Value {
    let spec = settings.halls[0].clone();
    let mut now = Utc::now();
    let mut hall = Hall::new(spec, now);
    for (t, p) in script {
        let inbound = topic::parse("hallwatch", t).expect("script topic");
        let input = payload::decode(&inbound, p).expect("script payload");
        now += chrono::Duration::milliseconds(1);
        let applied = hall.apply(&input, now);
        assert!(applied.reply.is_some_and(
            |r| !matches!(r, Reply::Refused(ref f) if f.reason.code() == "unknown_device")
        ));
    }
    comparable(serde_json::to_value(hall.display_snapshot(now)).unwrap())
}

/// The parts of a snapshot that do not depend on when things happened.
fn comparable(snap: Value) -> Value {
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

/// The server as a child process, killed if the test ends early.
struct Server(Child);

impl Server {
    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

fn start_server(config: &std::path::Path) -> Server {
    Server(
        Command::new(env!("CARGO_BIN_EXE_hallwatch"))
            .args(["serve", "--config"])
            .arg(config)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start hallwatch"),
    )
}

async fn wait_healthy(port: u16) {
    eventually(20, async || {
        let (status, body) = http_get(port, "/healthz").await;
        (status == 200 && body.contains("\"connected\"")).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_stream_loses_nothing_and_applies_nothing_twice() {
    let Some(broker) = Broker::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_url(dir.path());
    let port = free_port();
    let mut text = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\ndatabase_url = \"{db}\"\n\
         [mqtt]\nbroker = \"{}\"\nclient_id = \"hw-crash\"\nprefix = \"hallwatch\"\n",
        broker.url()
    );
    text.push_str(TEST_HALLS);
    let config = dir.path().join("hallwatch.toml");
    std::fs::write(&config, &text).unwrap();
    let settings = hallwatch::config::Settings::parse(&text).unwrap();

    const N: usize = 3000;
    let script = Arc::new(script(N, 7));
    let expected = uninterrupted(&script, &settings);

    let mut server = start_server(&config);
    wait_healthy(port).await;

    // One device connection publishes the whole stream in order, paced,
    // while the server is killed and restarted under it.
    let publisher = Device::connect(broker.port, "stream", &[]).await;
    let s = script.clone();
    let feeding = tokio::spawn(async move {
        for (i, (t, p)) in s.iter().enumerate() {
            publisher
                .client
                .publish(t, QoS::AtLeastOnce, false, p.clone())
                .await
                .unwrap();
            if i % 20 == 0 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        publisher
    });

    let store = Store::open(&db).await.unwrap();
    let since = chrono::DateTime::UNIX_EPOCH;
    let mut kills = 0;
    for at in [N / 5, N / 2, 4 * N / 5] {
        // Kill once the log has reached this point of the stream.
        eventually(30, async || {
            (store.events_since(since).await.unwrap().len() >= at).then_some(())
        })
        .await;
        server.kill(); // SIGKILL: no shutdown path runs
        kills += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
        server = start_server(&config);
        wait_healthy(port).await;
    }
    let _publisher = feeding.await.unwrap();

    let started = Instant::now();
    let events = eventually(60, async || {
        let e = store.events_since(since).await.unwrap();
        (e.len() >= N).then_some(e)
    })
    .await;
    // Give a late duplicate the chance to show itself.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let events_after = store.events_since(since).await.unwrap();
    assert_eq!(
        events_after.len(),
        N,
        "every message stored exactly once (no duplicates)"
    );
    let mut ids: Vec<String> = events
        .iter()
        .map(|e| e.input["id"].as_str().unwrap_or("").to_owned())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), N, "no message applied twice");

    let snap = eventually(10, async || {
        let (status, body) = http_get(port, "/api/halls/h1/snapshot").await;
        (status == 200).then(|| serde_json::from_str::<Value>(&body).unwrap())
    })
    .await;
    assert_eq!(
        comparable(snap),
        expected,
        "the hall after {kills} kills equals the uninterrupted run"
    );
    println!(
        "crash test: {N} messages, {kills} SIGKILLs, 0 lost, 0 doubled; caught up {:.1} s after the stream ended",
        started.elapsed().as_secs_f64()
    );
    server.kill();
    store.close().await;
}
