//! The wall screen in a real browser: headless Debian Chromium driven by
//! playwright-core sees a ticket called over MQTT.

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::*;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

/// Whether node, Chromium and the npm packages are there; CI requires them.
fn browser_ready() -> bool {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let missing: Vec<&str> = [
        (!Path::new(&chromium).exists()).then_some("chromium (apt-get install chromium)"),
        (!root
            .join("tests/browser/node_modules/playwright-core")
            .exists())
        .then_some("playwright-core (cd tests/browser && npm ci)"),
        std::process::Command::new("node")
            .arg("--version")
            .output()
            .is_err()
            .then_some("node"),
    ]
    .into_iter()
    .flatten()
    .collect();
    if missing.is_empty() {
        return true;
    }
    if required("HALLWATCH_REQUIRE_BROWSER") {
        panic!("browser test needs {missing:?}: run scripts/setup.sh");
    }
    eprintln!("SKIPPED: browser test needs {missing:?} (scripts/setup.sh installs them)");
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wall_screen_shows_a_ticket_called_over_mqtt() {
    if !browser_ready() {
        return;
    }
    let Some(broker) = Broker::start() else {
        return;
    };
    let (_dir, app) = TestApp::fresh(&broker, "hw-browser").await;
    let shot = std::env::temp_dir().join("hallwatch-wall.png");

    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut node = Command::new("node")
        .arg(root.join("tests/browser/wall.mjs"))
        .args([
            "--url",
            &app.url("/wall.html?hall=h1"),
            "--expect",
            "B001",
            "--expect-window",
            "2号窗口",
        ])
        .arg("--screenshot")
        .arg(&shot)
        .args(["--timeout-ms", "20000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("run node");
    let mut lines = BufReader::new(node.stdout.take().unwrap()).lines();
    let ready = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("page ready within 30 s")
        .unwrap();
    assert_eq!(ready.as_deref(), Some("READY"));

    // The page is live: now a kiosk issues a ticket and window 02 calls it.
    let mut dev = Device::replies(broker.port, "dev").await;
    dev.request(KIOSK, json!({"service": "SB"})).await;
    dev.request(
        &window("02"),
        json!({"op": "login", "staff": "S001", "staff_name": "李敏"}),
    )
    .await;
    let r = dev.request(&window("02"), json!({"op": "call_next"})).await;
    assert_eq!(r["ticket"], "B001");

    let seen = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("the call on the page within 30 s")
        .unwrap();
    assert_eq!(seen.as_deref(), Some("SEEN B001"));
    let status = node.wait().await.unwrap();
    assert!(status.success(), "wall.mjs failed: {status}");
    assert!(shot.exists(), "screenshot taken");
    app.stop().await;
}

/// The supervisor console in a real browser: log in with a token, see a
/// wait_timeout alert appear, acknowledge it with a note.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_timeout_alert_appears_on_the_console_and_is_acknowledged_there() {
    use chrono::{DateTime, Utc};
    use hallwatch::clock::{Clock, ManualClock};
    use hallwatch::config::Role;
    use std::sync::Arc;

    if !browser_ready() {
        return;
    }
    let Some(broker) = Broker::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(&broker.url(), &sqlite_url(dir.path()), "hw-console");
    s.tokens = vec![token("效能监察室", Role::Supervisor, &["*"], "s-secret")];
    let clock = Arc::new(ManualClock::new(
        DateTime::from_timestamp(Utc::now().timestamp(), 0).unwrap(),
    ));
    let app = TestApp::spawn_with_clock(s, clock.clone()).await;

    let mut dev = Device::connect(
        broker.port,
        "dev",
        &["hallwatch/h1/kiosk/k1/reply", "hallwatch/h1/alert"],
    )
    .await;
    dev.request(KIOSK, json!({"service": "GA"})).await;
    clock.advance(chrono::Duration::minutes(31));
    dev.expect_where("hallwatch/h1/alert", |a| a["rule"] == "wait_timeout")
        .await;

    let shot = std::env::temp_dir().join("hallwatch-console.png");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("node")
        .arg(root.join("tests/browser/console.mjs"))
        .args([
            "--base",
            &app.url(""),
            "--token",
            "s-secret",
            "--expect-rule",
            "wait_timeout",
        ])
        .arg("--screenshot")
        .arg(&shot)
        .args(["--timeout-ms", "20000"])
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .output()
        .await
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "console.mjs failed: {stdout}");
    assert!(
        stdout.contains("READY") && stdout.contains("ACKED"),
        "{stdout}"
    );

    // The server agrees: acknowledged, by the token's holder, with the note.
    let acked = dev
        .expect_where("hallwatch/h1/alert", |a| a["state"] == "acknowledged")
        .await;
    assert_eq!(acked["acked_by"], "效能监察室");
    assert!(acked["ack_note"].as_str().is_some_and(|n| !n.is_empty()));
    let _ = clock.now();
    app.stop().await;
}

/// The window screen (窗口屏) in a real browser: the staff member and the
/// called ticket of its own window appear live; a paused window reads
/// 暂停服务 when the screen (re)connects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_window_screen_shows_its_staff_its_ticket_and_a_pause() {
    if !browser_ready() {
        return;
    }
    let Some(broker) = Broker::start() else {
        return;
    };
    let (_dir, app) = TestApp::fresh(&broker, "hw-window").await;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let page = |selector: &str, expect: &str, other: &str, other_text: &str| {
        let mut cmd = Command::new("node");
        cmd.arg(root.join("tests/browser/wall.mjs"))
            .args(["--url", &app.url("/window.html?hall=h1&window=02")])
            .args(["--viewport", "1280x360", "--timeout-ms", "20000"])
            .args(["--selector", selector, "--expect", expect])
            .args(["--window-selector", other, "--expect-window", other_text])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        cmd.spawn().expect("run node")
    };
    let mut node = page("#w-ticket", "B001", "#w-staff-name", "李敏");
    let mut lines = BufReader::new(node.stdout.take().unwrap()).lines();
    let ready = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("page ready within 30 s")
        .unwrap();
    assert_eq!(ready.as_deref(), Some("READY"));

    let mut dev = Device::replies(broker.port, "win").await;
    dev.request(KIOSK, json!({"service": "SB"})).await;
    dev.request(
        &window("02"),
        json!({"op": "login", "staff": "S007", "staff_name": "李敏"}),
    )
    .await;
    let r = dev.request(&window("02"), json!({"op": "call_next"})).await;
    assert_eq!(r["ticket"], "B001");
    let seen = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("the call on the window screen within 30 s")
        .unwrap();
    assert_eq!(seen.as_deref(), Some("SEEN B001"));
    assert!(node.wait().await.unwrap().success());

    dev.request(
        &window("02"),
        json!({"op": "finish", "outcome": "completed"}),
    )
    .await;
    let r = dev
        .request(&window("02"), json!({"op": "pause", "reason": "break"}))
        .await;
    assert_eq!(r["ok"], true, "{r}");
    let node = page("#w-state", "暂停服务", "#w-staff-no", "S007");
    let out = node.wait_with_output().await.unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("SEEN 暂停服务"), "{text}");
    app.stop().await;
}
