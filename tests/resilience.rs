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

    // The fresh broker holds the windows' retained states again.
    let mut screen = Device::connect(broker.port, "screen", &["hallwatch/h1/window/+/state"]).await;
    let state = screen.expect("hallwatch/h1/window/01/state").await;
    assert_eq!(state["window"], "01", "{state}");
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
        .env("RUST_LOG", "warn,rumqttd=off")
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

/// The broker is restarted (as an operator does, SIGTERM, state kept) while
/// kiosks stream tickets: the server is back within two seconds of the
/// broker, and once the devices have resent what the broker had not
/// acknowledged, every ticket is in the log once and the queues hold each
/// once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_restart_mid_stream_loses_nothing_and_doubles_nothing() {
    let Some(mut broker) = Broker::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_url(dir.path());
    let port = free_port();
    let config = write_config(dir.path(), port, &db, &broker, "hw-broker-restart");
    let server = ServerProcess::start(&config, port, Some(&dir.path().join("server.log")));
    server.wait_healthy().await;

    const N: usize = 2000;
    let service = |i: usize| if i.is_multiple_of(3) { "GA" } else { "SB" };
    // Kiosks keep their session, so they resend what the broker had not
    // acknowledged when it went down.
    let publisher = Device::connect_persistent(broker.port, "stream", &[]).await;
    let feeding = tokio::spawn(async move {
        for i in 0..N {
            publisher
                .publish(
                    KIOSK,
                    json!({"id": format!("s{i:05}"), "service": service(i)}).to_string(),
                )
                .await;
            if i % 20 == 19 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        publisher
    });

    let store = hallwatch::store::Store::open(&db).await.unwrap();
    let since = chrono::DateTime::UNIX_EPOCH;
    let stored = async || store.events_since(since).await.unwrap();
    eventually(30, async || (stored().await.len() >= N / 3).then_some(())).await;
    let at = stored().await.len();
    broker.restart(Duration::from_millis(500), false);
    let back = Instant::now();
    eventually(10, async || {
        let (status, body) = http_get(port, "/healthz").await;
        (status == 200 && body.contains("\"connected\"")).then_some(())
    })
    .await;
    let reconnect = back.elapsed();
    let _publisher = feeding.await.unwrap();

    let caught_up = Instant::now();
    let all = tokio::time::timeout(Duration::from_secs(30), async {
        while stored().await.len() < N {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    if all.is_err() {
        let have: std::collections::HashSet<String> = stored()
            .await
            .iter()
            .map(|e| e.input_json()["id"].as_str().unwrap_or("").to_owned())
            .collect();
        let missing: Vec<String> = (0..N)
            .map(|i| format!("s{i:05}"))
            .filter(|id| !have.contains(id))
            .collect();
        panic!(
            "{} of {N} tickets never arrived (restart after {at}): {missing:?}",
            missing.len()
        );
    }
    let catch_up = caught_up.elapsed();
    // Give a late duplicate the chance to show itself.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let events = stored().await;
    let mut ids: Vec<String> = events
        .iter()
        .map(|e| e.input_json()["id"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(ids.len(), N, "every ticket stored once");
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), N, "no ticket applied twice");
    let (_, body) = http_get(port, "/api/halls/h1/snapshot").await;
    let snap: serde_json::Value = serde_json::from_str(&body).unwrap();
    for code in ["SB", "GA"] {
        let want = (0..N).filter(|&i| service(i) == code).count();
        let q = snap["queues"]
            .as_array()
            .unwrap()
            .iter()
            .find(|q| q["service"] == code)
            .unwrap();
        assert_eq!(q["waiting"], want, "{code} holds each ticket once");
    }
    assert!(
        reconnect < Duration::from_secs(2),
        "reconnected {reconnect:?} after the broker came back; the server's log:\n{}",
        server.log_text()
    );
    println!(
        "broker restart mid-stream: restarted after {at} of {N} tickets; server reconnected \
         {:.0} ms after the broker was back; all {N} stored {:.1} s after the stream ended; \
         0 lost, 0 doubled",
        reconnect.as_secs_f64() * 1000.0,
        catch_up.as_secs_f64()
    );
    store.close().await;
}
