//! A ticket flood from one kiosk, as an attacker on the hall network would
//! send it: 20,000 requests in 20 s on `hallwatch/jl-center/kiosk/k1/request`
//! against the example configuration, with ten dashboards open. The kiosk's
//! issuing rate refuses all but what a kiosk could print, every request is
//! answered, the snapshots a screen reads on connecting stay under
//! 256 KiB, and the server's memory is back within twice its pre-flood
//! level once the flood is served.
//!
//! The server runs as production runs it: the binary as a child process, on
//! a real Mosquitto and a SQLite file. Run with `--nocapture` for the
//! figures.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::*;
use futures_util::StreamExt;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

const REQUESTS: usize = 20_000;
const FLOOD_FOR: Duration = Duration::from_secs(20);
const SNAPSHOT_MAX: usize = 256 * 1024;
const SECRET: &str = "flood-admin-secret";

/// The example configuration on this test's port, database and broker,
/// with an admin token.
fn config_text(port: u16, database_url: &str, broker: &Broker) -> String {
    use sha2::{Digest, Sha256};
    let hash: String = Sha256::digest(SECRET.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut text = hallwatch::EXAMPLE_CONFIG
        .replace(
            "listen = \"127.0.0.1:8080\"",
            &format!("listen = \"127.0.0.1:{port}\""),
        )
        .replace(
            "database_url = \"sqlite://hallwatch.db\"",
            &format!("database_url = \"{database_url}\""),
        )
        .replace(
            "broker = \"mqtt://127.0.0.1:1883\"",
            &format!("broker = \"{}\"", broker.url()),
        )
        .replace(
            "client_id = \"hallwatch-server\"",
            "client_id = \"hw-flood\"",
        );
    text.push_str(&format!(
        "\n[[tokens]]\nname = \"监察员\"\nrole = \"admin\"\nhalls = [\"*\"]\nsha256 = \"{hash}\"\n"
    ));
    text
}

/// The resident memory of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// The first frame of a channel: the snapshot a screen reads on connecting.
async fn snapshot_len(port: u16, path: &str) -> usize {
    let mut ws = ws_connect(port, path).await.expect("upgrade");
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(30), ws.next())
            .await
            .expect("a snapshot within 30 s")
            .expect("open")
            .expect("frame");
        if let Message::Text(t) = msg {
            let v: Value = serde_json::from_str(&t).expect("JSON");
            assert_eq!(v["type"], "snapshot", "the first message");
            return t.len();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_flood_is_refused_and_leaves_snapshots_and_memory_bounded() {
    let Some(broker) = Broker::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = dir.path().join("hallwatch.toml");
    std::fs::write(&config, config_text(port, &sqlite_url(dir.path()), &broker)).unwrap();
    let server = ServerProcess::start(&config, port, None);
    server.wait_healthy().await;

    // Ten managers' dashboards, read as a browser reads them.
    let dash = format!("/ws/dashboard/jl-center?token={SECRET}");
    let mut readers = Vec::new();
    for _ in 0..10 {
        let mut ws = ws_connect(port, &dash).await.expect("dashboard");
        // Each has its snapshot before the level is read.
        next_of(&mut ws, "snapshot", |_| true).await;
        readers.push(tokio::spawn(async move {
            while let Some(Ok(_)) = ws.next().await {}
        }));
    }
    let before = rss_kib(server.pid());
    let before_dash = snapshot_len(port, &dash).await;

    // The flood, paced over 20 s, on one connection.
    let mut opts = MqttOptions::new(format!("flood-{}", free_port()), "127.0.0.1", broker.port);
    opts.set_keep_alive(Duration::from_secs(30));
    opts.set_inflight(1000);
    let (client, mut eventloop) = AsyncClient::new(opts, 4096);
    let request = "hallwatch/jl-center/kiosk/k1/request";
    client
        .subscribe(reply_topic(request), QoS::AtLeastOnce)
        .await
        .unwrap();
    let (replies_tx, mut replies) = tokio::sync::mpsc::unbounded_channel::<Value>();
    let (subscribed_tx, subscribed) = tokio::sync::oneshot::channel();
    let pump = tokio::spawn(async move {
        let mut subscribed_tx = Some(subscribed_tx);
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::SubAck(_))) => {
                    if let Some(tx) = subscribed_tx.take() {
                        let _ = tx.send(());
                    }
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    if let Ok(v) = serde_json::from_slice(&p.payload) {
                        let _ = replies_tx.send(v);
                    }
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    });
    tokio::time::timeout(Duration::from_secs(5), subscribed)
        .await
        .expect("subscribed")
        .unwrap();
    let started = Instant::now();
    let sender = {
        let client = client.clone();
        tokio::spawn(async move {
            for n in 0..REQUESTS {
                let due = FLOOD_FOR.mul_f64(n as f64 / REQUESTS as f64);
                if let Some(wait) = due.checked_sub(started.elapsed()) {
                    tokio::time::sleep(wait).await;
                }
                let body = json!({"id": format!("f{n}"), "service": "ZX"}).to_string();
                client
                    .publish(request, QoS::AtLeastOnce, false, body)
                    .await
                    .expect("publish");
            }
        })
    };

    // Every request is answered once.
    let mut by_outcome: BTreeMap<String, usize> = BTreeMap::new();
    let mut answered = std::collections::HashSet::new();
    let mut peak = before;
    let deadline = Instant::now() + FLOOD_FOR + Duration::from_secs(120);
    while answered.len() < REQUESTS {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(Some(reply)) =
            tokio::time::timeout(left.min(Duration::from_secs(1)), replies.recv()).await
        else {
            assert!(
                Instant::now() < deadline,
                "{} of {REQUESTS} answered in time",
                answered.len()
            );
            peak = peak.max(rss_kib(server.pid()));
            continue;
        };
        if answered.insert(reply["request"].as_str().unwrap_or_default().to_owned()) {
            let outcome = if reply["ok"] == true {
                "ticket".to_owned()
            } else {
                reply["error"].as_str().unwrap_or("?").to_owned()
            };
            *by_outcome.entry(outcome).or_default() += 1;
        }
        if answered.len() % 1000 == 0 {
            peak = peak.max(rss_kib(server.pid()));
        }
    }
    sender.await.unwrap();
    let served_in = started.elapsed();
    println!("answered {REQUESTS} in {served_in:.1?}: {by_outcome:?}");

    // The example's kiosk prints 20 a minute: a burst of 20, then one every
    // 3 s of the flood (and of the time its replies took).
    let issued = by_outcome.get("ticket").copied().unwrap_or(0);
    let most = 20 + (served_in.as_secs() as usize) / 3 + 1;
    assert!(
        (20..=most).contains(&issued),
        "{issued} tickets issued, at most {most} expected"
    );
    assert_eq!(
        by_outcome.get("kiosk_rate").copied().unwrap_or(0),
        REQUESTS - issued,
        "every other request refused for the kiosk's rate: {by_outcome:?}"
    );

    // What a screen reads on connecting, after the flood.
    let after_dash = snapshot_len(port, &dash).await;
    let after_alerts = snapshot_len(port, &format!("/ws/alerts?token={SECRET}")).await;
    println!(
        "snapshots: dashboard {before_dash} → {after_dash} bytes, alerts {after_alerts} bytes"
    );
    assert!(
        after_dash <= SNAPSHOT_MAX,
        "dashboard snapshot {after_dash} bytes"
    );
    assert!(
        after_alerts <= SNAPSHOT_MAX,
        "alerts snapshot {after_alerts} bytes"
    );

    // Memory once the flood is served: allocators give pages back lazily,
    // so the level is read over a few seconds.
    let mut after = rss_kib(server.pid());
    for _ in 0..10 {
        if after <= 2 * before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        after = rss_kib(server.pid());
    }
    println!("RSS: {before} KiB before, {peak} KiB peak, {after} KiB after");
    assert!(before > 0, "the server's memory is readable");
    assert!(
        after <= 2 * before,
        "RSS {after} KiB after the flood, {before} KiB before"
    );

    pump.abort();
    for r in readers {
        r.abort();
    }
}
