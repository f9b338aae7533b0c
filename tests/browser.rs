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

/// Settings for a console test: the test hall on `broker`, a fresh SQLite
/// file in `dir`, and the supervisor token `s-secret` for every hall.
fn supervised(broker: &Broker, dir: &Path, client: &str) -> hallwatch::config::Settings {
    let mut s = settings(&broker.url(), &sqlite_url(dir), client);
    s.tokens = vec![token(
        "效能监察室",
        hallwatch::config::Role::Supervisor,
        &["*"],
        "s-secret",
    )];
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wall_screen_shows_a_ticket_called_over_mqtt() {
    if !browser_ready() {
        return;
    }
    let Some(broker) = Broker::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(&broker.url(), &sqlite_url(dir.path()), "hw-browser");
    // 停止取号 30 minutes before the 17:30 close.
    std::sync::Arc::make_mut(&mut s.halls[0]).stop_issuing_min = Some(30);
    let app = TestApp::spawn(s).await;
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
            "--expect-issuing",
            "17:00 停止取号",
            "--expect-wait",
            "SB",
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
    let issuing = lines.next_line().await.unwrap();
    assert_eq!(issuing.as_deref(), Some("ISSUING 17:00 停止取号"));
    let wait = lines.next_line().await.unwrap().unwrap_or_default();
    assert!(
        wait == "WAIT 随到随办" || wait.starts_with("WAIT 约 "),
        "the queue shows its wait: {wait}"
    );
    let status = node.wait().await.unwrap();
    assert!(status.success(), "wall.mjs failed: {status}");
    assert!(shot.exists(), "screenshot taken");
    app.stop().await;
}

/// The supervisor console in a real browser: log in with a token, see a
/// wait_timeout alert appear, acknowledge it with a note.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_timeout_alert_appears_on_the_console_and_is_acknowledged_there() {
    use hallwatch::clock::{Clock, ManualClock};
    use std::sync::Arc;

    if !browser_ready() {
        return;
    }
    let Some(broker) = Broker::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut s = supervised(&broker, dir.path(), "hw-console");
    // 预警 two working days ahead: a case accepted today for one day
    // earns its 预警 at once.
    Arc::make_mut(&mut s.halls[0]).cards.warn_days = 2;
    let clock = Arc::new(ManualClock::new(t0()));
    let app = TestApp::spawn_with_clock(s, clock.clone()).await;

    let mut dev = Device::connect(
        broker.port,
        "dev",
        &[
            "hallwatch/h1/kiosk/k1/reply",
            "hallwatch/h1/window/02/reply",
            "hallwatch/h1/alert",
        ],
    )
    .await;
    // A case accepted at window 02 (承诺件, one working day).
    dev.request(&window("02"), json!({"op": "login", "staff": "S002"}))
        .await;
    dev.request(KIOSK, json!({"service": "SB"})).await;
    dev.request(&window("02"), json!({"op": "call_next"})).await;
    let r = dev
        .request(
            &window("02"),
            json!({"op": "finish", "outcome": "accepted",
                   "case": {"ref": "SB-0001", "promised_days": 1}}),
        )
        .await;
    assert_eq!(r["ok"], true, "{r}");
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
            "--expect-card",
            "warning",
            "--expect-case",
            "SB-0001",
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
    assert!(stdout.contains("CASES 预警 剩余"), "{stdout}");

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

/// A window command that must be accepted.
async fn op(dev: &mut Device, w: &str, body: serde_json::Value) -> serde_json::Value {
    let r = dev.request(&window(w), body).await;
    assert_eq!(r["ok"], true, "{r}");
    r
}

/// The manager's dashboard in a real browser: after logging in, a window's
/// tile follows a ticket from the login through call, start and finish to a
/// served bar of 1/25; KPIs and the staffing advice are drawn; a wait_timeout
/// alert appears; when the server restarts the page says so (badge, banner),
/// comes back by itself and keeps following the hall.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_follows_a_window_through_a_ticket_and_recovers_after_a_restart() {
    use chrono::TimeZone;
    use hallwatch::clock::ManualClock;
    use hallwatch::config::Role;
    use std::sync::Arc;

    if !browser_ready() {
        return;
    }
    let Some(broker) = Broker::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(&broker.url(), &sqlite_url(dir.path()), "hw-dashboard");
    // A fixed port, so that the restarted server is where the page left it.
    s.server.listen = format!("127.0.0.1:{}", free_port());
    s.tokens = vec![token("值班长", Role::Manager, &["h1"], "m-secret")];
    let at = chrono_tz::Asia::Shanghai
        .with_ymd_and_hms(2026, 11, 23, 10, 0, 0)
        .unwrap()
        .with_timezone(&chrono::Utc);
    let clock = Arc::new(ManualClock::new(at));
    let app = TestApp::spawn_with_clock(s.clone(), clock.clone()).await;

    let shot = std::env::temp_dir().join("hallwatch-dashboard.png");
    let base = app.url("");
    let shot_arg = shot.to_string_lossy().into_owned();
    let mut page = Steps::spawn(
        "dashboard.mjs",
        &[
            ("--base", &base),
            ("--token", "m-secret"),
            ("--hall", "h1"),
            ("--window", "02"),
            ("--staff-name", "李敏"),
            ("--staff-no", "S001"),
            ("--ticket", "B001"),
            // The server's day in the hall's time zone, not this machine's.
            ("--clock-date", "2026年11月23日 星期一"),
            ("--screenshot", &shot_arg),
            ("--timeout-ms", "30000"),
        ],
    );
    page.expect("READY").await;

    let mut dev = Device::replies(broker.port, "dash").await;
    dev.request(KIOSK, json!({"service": "SB"})).await;
    op(
        &mut dev,
        "02",
        json!({"op": "login", "staff": "S001", "staff_name": "李敏"}),
    )
    .await;
    page.expect("STAFFED").await;
    let r = op(&mut dev, "02", json!({"op": "call_next"})).await;
    assert_eq!(r["ticket"], "B001");
    page.expect("CALLING B001").await;
    op(&mut dev, "02", json!({"op": "start"})).await;
    page.expect("SERVING B001").await;
    op(
        &mut dev,
        "02",
        json!({"op": "finish", "outcome": "completed"}),
    )
    .await;
    page.expect("SERVED 1/25").await;

    // A public-security ticket that no open window serves waits past 30 minutes.
    dev.request(KIOSK, json!({"service": "GA"})).await;
    clock.advance(chrono::Duration::minutes(31));
    page.expect("ALERT wait_timeout").await;

    // The server restarts: the page says so, then recovers by itself.
    app.stop().await;
    page.expect("OFFLINE").await;
    let app = TestApp::spawn_with_clock(s, clock.clone()).await;
    page.expect("RECOVERED").await;
    op(&mut dev, "02", json!({"op": "pause", "reason": "break"})).await;
    page.expect("PAUSED").await;
    page.finish().await;
    assert!(shot.exists(), "screenshot taken");
    app.stop().await;
}

/// The window screen (窗口屏) in a real browser, live: 暂停服务 while no one is
/// at the window, the staff member and 工号 after a login, 「请 B001 号办理」 on
/// a call (fitting an 800×480 panel and a 1280×360 strip), and 暂停服务 again
/// on a pause.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_window_screen_follows_its_window_live_from_login_to_pause() {
    if !browser_ready() {
        return;
    }
    let Some(broker) = Broker::start() else {
        return;
    };
    let (_dir, app) = TestApp::fresh(&broker, "hw-window-live").await;
    let url = app.url("/window.html?hall=h1&window=02");
    let prefix = std::env::temp_dir().join("hallwatch-window");
    let prefix_arg = prefix.to_string_lossy().into_owned();
    let mut page = Steps::spawn(
        "window.mjs",
        &[
            ("--url", &url),
            ("--staff-name", "李敏"),
            ("--staff-no", "S001"),
            ("--ticket", "B001"),
            ("--screenshot", &prefix_arg),
            ("--timeout-ms", "20000"),
        ],
    );
    page.expect("READY").await;

    let mut dev = Device::replies(broker.port, "win-live").await;
    op(
        &mut dev,
        "02",
        json!({"op": "login", "staff": "S001", "staff_name": "李敏"}),
    )
    .await;
    page.expect("STAFF 李敏 S001").await;
    dev.request(KIOSK, json!({"service": "SB"})).await;
    let r = op(&mut dev, "02", json!({"op": "call_next"})).await;
    assert_eq!(r["ticket"], "B001");
    page.expect("CALLED B001").await;
    page.expect("FITS 800x480").await;
    page.expect("FITS 1280x360").await;
    op(
        &mut dev,
        "02",
        json!({"op": "finish", "outcome": "completed"}),
    )
    .await;
    op(&mut dev, "02", json!({"op": "pause", "reason": "break"})).await;
    page.expect("PAUSED").await;
    page.finish().await;
    app.stop().await;
}

/// The monthly 通报 in a real browser: after a login, the sheet counts the
/// month's case per department, and prints to one A4 page of PDF without
/// its controls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_monthly_appraisal_prints_to_an_a4_page() {
    use hallwatch::clock::ManualClock;
    use std::sync::Arc;

    if !browser_ready() {
        return;
    }
    let Some(broker) = Broker::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let s = supervised(&broker, dir.path(), "hw-appraisal");
    let app = TestApp::spawn_with_clock(s, Arc::new(ManualClock::new(t0()))).await;
    let mut dev = Device::replies(broker.port, "dev").await;
    dev.request(&window("02"), json!({"op": "login", "staff": "S002"}))
        .await;
    dev.request(KIOSK, json!({"service": "SB"})).await;
    dev.request(&window("02"), json!({"op": "call_next"})).await;
    let r = dev
        .request(
            &window("02"),
            json!({"op": "finish", "outcome": "accepted",
                   "case": {"ref": "SB-0009", "promised_days": 3}}),
        )
        .await;
    assert_eq!(r["ok"], true, "{r}");

    let pdf = dir.path().join("tongbao.pdf");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("node")
        .arg(root.join("tests/browser/appraisal.mjs"))
        .args(["--base", &app.url(""), "--token", "s-secret"])
        .args(["--path", "/appraisal.html?hall=h1&month=2026-11"])
        .args(["--expect-key", ""])
        .arg("--pdf")
        .arg(&pdf)
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .output()
        .await
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "appraisal.mjs failed: {stdout}");
    assert!(
        stdout.contains("READY 测试县政务服务中心 2026年11月效能考评通报"),
        "{stdout}"
    );
    let row = stdout.lines().find(|l| l.starts_with("ROW ")).unwrap();
    let cells: Vec<&str> = row[4..].split('|').collect();
    assert_eq!(cells[1], "1", "one case accepted: {row}");
    assert_eq!(cells.last(), Some(&"100.0"), "nothing deducted yet: {row}");
    let pdf_line = stdout.lines().find(|l| l.starts_with("PDF ")).unwrap();
    assert!(pdf_line.ends_with(" 1"), "one A4 page: {pdf_line}");
    app.stop().await;
}

/// A notification's delivery beside its alert on the console, in a real
/// browser: retrying while its receiver refuses, then sent once the
/// receiver is up and the backoff's time has come (on the test's clock).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alerts_notification_shows_retrying_then_sent_on_the_console() {
    use hallwatch::clock::ManualClock;
    use hallwatch::notify::{Backoff, Channel, ChannelKind, Plan, Route};
    use std::sync::Arc;

    if !browser_ready() {
        return;
    }
    let Some(broker) = Broker::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut s = supervised(&broker, dir.path(), "hw-deliv");
    let receiver_port = free_port();
    s.notify = Arc::new(Plan {
        channels: vec![Channel {
            name: "值班群".into(),
            kind: ChannelKind::Webhook,
            url: format!("http://127.0.0.1:{receiver_port}/hook"),
            secret: Some("k".into()),
            per_minute: 60,
            phones: Vec::new(),
            template: String::new(),
        }],
        routes: vec![Route {
            channel: "值班群".into(),
            halls: Vec::new(),
            rules: Vec::new(),
            min_severity: hallwatch::domain::Severity::Warning,
            cards: Vec::new(),
            quiet: None,
            wider: false,
        }],
        backoff: Backoff {
            first_s: 60,
            factor: 2,
            max_s: 600,
            attempts: 10,
        },
        timeout: Duration::from_secs(2),
        ..Plan::default()
    });
    let clock = Arc::new(ManualClock::new(t0()));
    let app = TestApp::spawn_with_clock(s, clock.clone()).await;
    let mut dev = Device::replies(broker.port, "dev").await;
    dev.request(KIOSK, json!({"service": "SB"})).await;
    clock.advance(chrono::Duration::minutes(31));

    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut node = Command::new("node")
        .arg(root.join("tests/browser/console.mjs"))
        .args([
            "--base",
            &app.url(""),
            "--token",
            "s-secret",
            "--expect-rule",
            "wait_timeout",
            "--expect-delivery",
            "retrying,sent",
            "--timeout-ms",
            "20000",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("run node");
    let mut lines = BufReader::new(node.stdout.take().unwrap()).lines();
    let mut next = async || {
        tokio::time::timeout(Duration::from_secs(40), lines.next_line())
            .await
            .expect("a line within 40 s")
            .unwrap()
            .unwrap_or_default()
    };
    assert_eq!(next().await, "READY");
    assert!(next().await.starts_with("ALERT "));
    let retrying = next().await;
    assert!(
        retrying.starts_with("DELIVERY retrying 值班群 重试中：第 1 次未送达"),
        "{retrying}"
    );
    // The receiver comes up; the retry is due a minute later.
    let got = Arc::new(std::sync::Mutex::new(Vec::new()));
    let listener = std::net::TcpListener::bind(("127.0.0.1", receiver_port)).unwrap();
    let seen = got.clone();
    let server = hallwatch::notify::receiver::serve(listener, Some("k".into()), move |m| {
        seen.lock().unwrap().push(m);
    })
    .unwrap();
    let receiver = server.handle();
    tokio::spawn(server);
    clock.advance(chrono::Duration::seconds(61));
    let sent = next().await;
    assert!(sent.starts_with("DELIVERY sent 值班群 已送达"), "{sent}");
    assert!(next().await.starts_with("ACKED "));
    let status = node.wait().await.unwrap();
    assert!(status.success(), "console.mjs failed: {status}");
    let got = got.lock().unwrap().clone();
    let keys: Vec<&str> = got.iter().map(|m| m.key.as_str()).collect();
    let wait: Vec<_> = got
        .iter()
        .filter(|m| m.key.contains("wait_timeout"))
        .collect();
    assert_eq!(wait.len(), 1, "{keys:?}");
    assert!(wait[0].signed);
    assert!(
        wait[0].title.contains("测试县政务服务中心"),
        "{:?}",
        wait[0]
    );
    let mut unique = keys.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), keys.len(), "each key once: {keys:?}");
    receiver.stop(true).await;
    app.stop().await;
}

/// A ticket's phone page in Chromium at a phone's size, followed from its
/// issue to its call and to 过号, through a network drop, to 取消排队; and a
/// wrong token's page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_page_on_a_phone_follows_the_ticket_to_its_call_and_past_it() {
    if !browser_ready() {
        return;
    }
    let Some(broker) = Broker::start() else {
        return;
    };
    let (_dir, app) = TestApp::fresh(&broker, "hw-phone-page").await;
    let mut dev = Device::replies(broker.port, "dev").await;
    let r = dev.request(KIOSK, json!({"service": "SB"})).await;
    let url = r["url"].as_str().expect("the page's address").to_owned();
    assert_eq!(r["ticket"], "B001");

    let shot = std::env::temp_dir().join("hallwatch-phone.png");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut node = Command::new("node")
        .arg(root.join("tests/browser/phone.mjs"))
        .args(["--url", &url, "--ticket", "B001", "--window", "2号窗口"])
        .arg("--screenshot")
        .arg(&shot)
        .args(["--timeout-ms", "20000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("run node");
    let mut lines = BufReader::new(node.stdout.take().unwrap()).lines();
    let mut next = async || {
        tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("the page's next step within 30 s")
            .unwrap()
            .unwrap_or_default()
    };
    assert_eq!(next().await, "WAITING");

    dev.request(&window("02"), json!({"op": "login", "staff": "S001"}))
        .await;
    let r = dev.request(&window("02"), json!({"op": "call_next"})).await;
    assert_eq!(r["ticket"], "B001");
    let called = next().await;
    assert!(called.starts_with("CALLED 2号窗口 "), "{called}");
    let vibrations: u32 = called.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(vibrations >= 1, "the phone vibrated at the call: {called}");

    dev.request(&window("02"), json!({"op": "no_show"})).await;
    for step in ["MISSED", "RECOVERED", "CANCELLED", "GONE"] {
        assert_eq!(next().await, step);
    }
    let status = node.wait().await.unwrap();
    assert!(status.success(), "phone.mjs failed: {status}");
    assert!(shot.exists(), "screenshot taken");

    // The server agrees: the ticket was given up, not served.
    let snap = app.get_json("/api/halls/h1/snapshot").await.unwrap();
    assert!(snap["calls"].as_array().is_some(), "{snap}");
    app.stop().await;
}

/// The region page in a real browser: above the halls, the roll-up along
/// the administrative levels, the province first, counting a waiting ticket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_region_page_rolls_its_halls_up_by_province_and_city() {
    if !browser_ready() {
        return;
    }
    let Some(broker) = Broker::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(&broker.url(), &sqlite_url(dir.path()), "hw-region");
    std::sync::Arc::make_mut(&mut s.halls[0]).region = vec![
        hallwatch::domain::RegionLevel {
            code: "99".into(),
            name: "示例省".into(),
        },
        hallwatch::domain::RegionLevel {
            code: "9901".into(),
            name: "示例市".into(),
        },
    ];
    s.tokens = vec![token(
        "市政务服务管理办",
        hallwatch::config::Role::Manager,
        &["h1"],
        "r-secret",
    )];
    let app = TestApp::spawn(s).await;
    let mut dev = Device::replies(broker.port, "dev").await;
    let r = dev.request(KIOSK, json!({"service": "SB"})).await;
    assert_eq!(r["ok"], true, "{r}");

    let mut page = Steps::spawn(
        "wall.mjs",
        &[
            ("--url", &app.url("/region.html?token=r-secret")),
            (
                "--selector",
                "#rollup-body tr[data-region=\"9901\"] td:nth-of-type(2)",
            ),
            ("--expect", "1"),
            (
                "--window-selector",
                "#rollup-body tr[data-region=\"99\"] th",
            ),
            ("--expect-window", "示例省"),
            ("--timeout-ms", "20000"),
        ],
    );
    page.expect("READY").await;
    page.expect("SEEN 1").await;
    page.finish().await;
    app.stop().await;
}
