//! The server rides out a broker restart, and the demo comes alive quickly.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_reconnects_and_resubscribes_after_a_broker_restart() {
    let Some(mut broker) = Broker::start() else {
        return;
    };
    let (_dir, app) = TestApp::fresh(&broker, "hw-restart").await;
    let mut dev = Device::connect(broker.port, "dev", &["hallwatch/h1/kiosk/k1/reply"]).await;
    assert_eq!(
        dev.request(KIOSK, json!({"service": "SB"})).await["ticket"],
        "B001"
    );

    // A fresh broker: it knows neither the server's subscriptions nor the
    // retained window states, so the server must bring both back itself.
    broker.restart(Duration::from_millis(300), true);
    let back = Instant::now();
    let health = eventually(10, async || {
        let h = app.get_json("/healthz").await.ok()?;
        (h["mqtt"] == "connected").then_some(h)
    })
    .await;
    let reconnect = back.elapsed();
    assert_eq!(health["status"], "ok");
    assert!(
        reconnect < Duration::from_secs(2),
        "reconnected {reconnect:?} after the broker came back"
    );

    // A device that connects after the restart is served: the subscriptions are back.
    let mut dev = Device::connect(broker.port, "dev2", &["hallwatch/h1/kiosk/k1/reply"]).await;
    assert_eq!(
        dev.request(KIOSK, json!({"service": "SB"})).await["ticket"],
        "B002"
    );
    println!(
        "broker restart: server reconnected {:.0} ms after the broker was back",
        reconnect.as_secs_f64() * 1000.0
    );
    app.stop().await;
}

/// `hallwatch demo` as a newcomer runs it: calls on the wall screen's channel
/// within ten seconds of start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_calls_tickets_within_ten_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let (http, mqtt) = (free_port(), free_port());
    let started = Instant::now();
    let mut demo = Command::new(env!("CARGO_BIN_EXE_hallwatch"))
        .args([
            "demo",
            "--listen",
            &format!("127.0.0.1:{http}"),
            "--broker-port",
            &mqtt.to_string(),
        ])
        .arg("--database")
        .arg(dir.path().join("demo.db"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the demo");
    let first_call = eventually(15, async || {
        let (status, body) = http_get(http, "/api/halls/jl-center/snapshot").await;
        if status != 200 {
            return None;
        }
        let snap: serde_json::Value = serde_json::from_str(&body).ok()?;
        snap["calls"]
            .as_array()
            .filter(|c| !c.is_empty())
            .map(|c| c[0].clone())
    })
    .await;
    let elapsed = started.elapsed();
    let _ = Command::new("kill")
        .arg("-INT")
        .arg(demo.id().to_string())
        .status();
    let status = demo.wait().unwrap();
    println!(
        "demo: first call {} at {} after {:.1} s",
        first_call["ticket"],
        first_call["window_name"],
        elapsed.as_secs_f64()
    );
    assert!(
        elapsed < Duration::from_secs(10),
        "first call after {elapsed:?}"
    );
    assert!(status.success(), "Ctrl-C stops the demo cleanly: {status}");
    let (_, halls) = http_get(http, "/api/halls").await;
    assert!(halls.is_empty(), "the demo's server is gone after Ctrl-C");
}
