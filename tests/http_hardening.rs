//! The HTTP layer against faults, bad input and intruders: security headers
//! on every answer, tokens kept out of REST URLs, JSON errors for whatever
//! is asked of `/api`, size limits on bodies and WebSocket frames, and a
//! request budget per client that a hall's screens reconnecting at once
//! stay within.

mod common;

use std::time::{Duration, Instant};

use common::*;
use futures_util::{SinkExt, StreamExt};
use hallwatch::config::{Role, Settings};
use hallwatch::http::limit::BURST;
use hallwatch::http::{CONTENT_SECURITY_POLICY, MAX_BODY, PERMISSIONS_POLICY};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

const MANAGER: (&str, &str) = ("Authorization", "Bearer m-secret");
const SUPERVISOR: (&str, &str) = ("Authorization", "Bearer s-secret");

/// The test hall with a manager of `h1` (`m-secret`) and an all-halls
/// supervisor (`s-secret`).
fn with_tokens(broker: &Broker, dir: &tempfile::TempDir, client: &str) -> Settings {
    let mut s = settings(&broker.url(), &sqlite_url(dir.path()), client);
    s.tokens = vec![
        token("值班长", Role::Manager, &["h1"], "m-secret"),
        token("效能监察室", Role::Supervisor, &["*"], "s-secret"),
    ];
    s
}

async fn get(port: u16, path: &str, headers: &[(&str, &str)]) -> HttpAnswer {
    http_request(port, "GET", path, headers, "").await
}

/// The security headers every answer carries.
fn assert_secured(r: &HttpAnswer, what: &str) {
    assert_eq!(
        r.header("content-security-policy"),
        Some(CONTENT_SECURITY_POLICY),
        "{what}"
    );
    assert_eq!(
        r.header("x-content-type-options"),
        Some("nosniff"),
        "{what}"
    );
    assert_eq!(r.header("referrer-policy"), Some("no-referrer"), "{what}");
    assert_eq!(r.header("x-frame-options"), Some("DENY"), "{what}");
    assert_eq!(
        r.header("permissions-policy"),
        Some(PERMISSIONS_POLICY),
        "{what}"
    );
}

/// `{"error": code, "message": …}` with this code.
fn assert_error(r: &HttpAnswer, status: u16, code: &str, what: &str) -> String {
    assert_eq!(r.status, status, "{what}: {}", r.body);
    assert_eq!(
        r.header("content-type"),
        Some("application/json"),
        "{what}: {}",
        r.body
    );
    let body = r.json();
    assert_eq!(body["error"], code, "{what}: {body}");
    let message = body["message"].as_str().unwrap_or_default().to_owned();
    assert!(!message.is_empty(), "{what}: no message in {body}");
    message
}

/// The close code the server ends `ws` with, within 5 s.
async fn close_code(ws: &mut Ws) -> u16 {
    loop {
        match tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
            Ok(Some(Ok(Message::Close(Some(frame))))) => return u16::from(frame.code),
            Ok(Some(Ok(Message::Close(None)))) => return 1005,
            Ok(Some(Ok(_))) => continue,
            other => panic!("no close frame: {other:?}"),
        }
    }
}

/// Whether `ws` still answers: a ping comes back as a pong.
async fn answers_pings(ws: &mut Ws) -> bool {
    if ws
        .send(Message::Ping(b"still-there".to_vec().into()))
        .await
        .is_err()
    {
        return false;
    }
    loop {
        match tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
            Ok(Some(Ok(Message::Pong(p)))) if p.as_ref() == b"still-there" => return true,
            Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Ok(Some(Err(_))) | Err(_) => {
                return false;
            }
            Ok(Some(Ok(_))) => continue,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_carries_the_security_headers_and_token_data_is_never_cached() {
    let Some(broker) = Broker::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::spawn(with_tokens(&broker, &dir, "hard-headers")).await;
    let port = app.port;

    for (path, headers, status) in [
        ("/", vec![], 200),
        ("/wall.html", vec![], 200),
        ("/dashboard.js", vec![], 200),
        ("/common.css", vec![], 200),
        ("/nope.html", vec![], 404),
        ("/healthz", vec![], 200),
        ("/metrics", vec![], 200),
        ("/api/halls", vec![], 200),
        ("/api/halls/h1/snapshot", vec![], 200),
        ("/api/openapi.json", vec![], 200),
        ("/api/me", vec![], 401),
        ("/api/me", vec![MANAGER], 200),
        ("/api/halls/h1/stats", vec![MANAGER], 200),
        ("/api/halls/h1/stats?format=csv", vec![MANAGER], 200),
        ("/api/alerts", vec![SUPERVISOR], 200),
        ("/api/alerts", vec![MANAGER], 403),
        ("/api/nope", vec![], 404),
        ("/ws/display/h1", vec![], 400),
    ] {
        let r = get(port, path, &headers).await;
        let what = format!("GET {path} {headers:?}");
        assert_eq!(r.status, status, "{what}: {}", r.body);
        assert_secured(&r, &what);
        if path.starts_with("/api/") {
            assert_eq!(r.header("cache-control"), Some("no-store"), "{what}");
        }
    }
    // Pages revalidate (an upgrade reaches screens that run all day).
    let r = get(port, "/wall.html", &[]).await;
    assert_eq!(r.header("cache-control"), Some("no-cache"));
    app.stop().await;
}

/// The policy allows exactly what the embedded pages use: no inline script
/// or style, no handler attributes, nothing from another origin. (The
/// browser tests run the pages under it.)
#[test]
fn the_pages_need_nothing_the_content_security_policy_forbids() {
    for part in [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "img-src 'self' data:",
        "object-src 'none'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'self'",
    ] {
        assert!(
            CONTENT_SECURITY_POLICY.contains(part),
            "{part} missing from {CONTENT_SECURITY_POLICY}"
        );
    }
    assert!(!CONTENT_SECURITY_POLICY.contains("unsafe"));
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("displays");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        // An XML namespace names, it does not load.
        let lower = text
            .to_ascii_lowercase()
            .replace("'http://www.w3.org/2000/svg'", "");
        let mut forbidden = vec!["http://", "https://", "//cdn", "eval(", "new function("];
        if name.ends_with(".html") {
            forbidden.extend(["<style", " style=", " onclick=", " onload=", " onerror="]);
            // Every script is a file of its own.
            for tag in lower.split("<script").skip(1) {
                let head = tag.split('>').next().unwrap_or("");
                assert!(head.contains(" src="), "{name}: an inline script");
            }
        }
        if name.ends_with(".js") {
            forbidden.extend(["setattribute('style'", "setattribute(\"style\"", "cssText"]);
        }
        for f in forbidden {
            assert!(
                !lower.contains(&f.to_ascii_lowercase()),
                "{name} uses {f:?}, which the content security policy refuses"
            );
        }
        checked += 1;
    }
    assert!(checked >= 18, "{checked} files");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_refuses_a_token_in_the_url_and_websockets_still_take_one() {
    let Some(broker) = Broker::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::spawn(with_tokens(&broker, &dir, "hard-url-token")).await;
    let port = app.port;
    let session = session_cookie(port, "s-secret").await;

    for (method, path) in [
        ("GET", "/api/me?token=m-secret"),
        ("GET", "/api/halls/h1/stats?token=m-secret"),
        ("GET", "/api/alerts?token=s-secret"),
        ("POST", "/api/alerts/h1-x/ack?token=s-secret"),
    ] {
        let r = http_request(port, method, path, &[], "").await;
        let what = format!("{method} {path}");
        let message = assert_error(&r, 401, "token_in_url", &what);
        assert!(message.contains("Authorization"), "{what}: {message}");
        assert_eq!(r.header("www-authenticate"), Some("Bearer"), "{what}");
        // A login cookie does not make the URL right.
        let r = http_request(port, method, path, &[("Cookie", &session)], "").await;
        assert_error(&r, 401, "token_in_url", &what);
    }
    // The same tokens in the header pass; and the refusals above were not
    // counted as guesses, so nothing is rate limited.
    for _ in 0..12 {
        let r = get(port, "/api/me?token=x", &[]).await;
        assert_eq!(r.status, 401);
    }
    let r = get(port, "/api/me", &[MANAGER]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = get(port, "/api/alerts", &[SUPERVISOR]).await;
    assert_eq!(r.status, 200, "{}", r.body);

    // Browsers cannot set headers on a WebSocket: there the URL is fine.
    for path in [
        "/ws/dashboard/h1?token=m-secret",
        "/ws/region?token=m-secret",
        "/ws/alerts?token=s-secret",
    ] {
        let mut ws = ws_connect(port, path)
            .await
            .unwrap_or_else(|s| panic!("{path}: {s}"));
        next_of(&mut ws, "snapshot", |_| true).await;
    }
    assert_eq!(
        ws_connect(port, "/ws/dashboard/h1?token=nope").await.err(),
        Some(401)
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_api_paths_and_wrong_methods_answer_json() {
    let Some(broker) = Broker::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::spawn(with_tokens(&broker, &dir, "hard-404")).await;
    let port = app.port;

    for (method, path) in [
        ("GET", "/api/nope"),
        ("POST", "/api/nope"),
        ("GET", "/api/halls/h1"),
        ("GET", "/api/halls/h1/stats/extra"),
        ("DELETE", "/api/"),
    ] {
        let r = http_request(port, method, path, &[], "").await;
        let what = format!("{method} {path}");
        let message = assert_error(&r, 404, "not_found", &what);
        assert!(message.contains("/api/openapi.json"), "{what}: {message}");
        assert_eq!(r.header("cache-control"), Some("no-store"), "{what}");
        assert_secured(&r, &what);
    }
    for (method, path, allow) in [
        ("GET", "/api/login", "POST"),
        ("PUT", "/api/logout", "POST"),
        ("POST", "/api/halls", "GET"),
        ("DELETE", "/api/halls/h1/snapshot", "GET"),
        ("POST", "/api/me", "GET"),
        ("GET", "/api/alerts/h1-x/ack", "POST"),
        ("PATCH", "/api/halls/h1/stats", "GET"),
    ] {
        let r = http_request(port, method, path, &[], "").await;
        let what = format!("{method} {path}");
        let message = assert_error(&r, 405, "method_not_allowed", &what);
        assert!(message.contains(allow), "{what}: {message}");
        assert_eq!(r.header("allow"), Some(allow), "{what}");
    }
    // Pages keep their own page-like 404.
    let r = get(port, "/nope.html", &[]).await;
    assert_eq!(r.status, 404);
    assert!(r.body.contains("没有这个页面"), "{}", r.body);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_query_strings_answer_json_naming_the_parameter_after_the_token() {
    let Some(broker) = Broker::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::spawn(with_tokens(&broker, &dir, "hard-query")).await;
    let port = app.port;

    let r = get(port, "/api/alerts?limit=abc", &[]).await;
    assert_error(&r, 401, "unauthorized", "no token, bad limit");
    let r = get(port, "/api/alerts?limit=abc", &[SUPERVISOR]).await;
    let message = assert_error(&r, 400, "bad_request", "limit=abc");
    assert!(
        message.contains("limit") && message.contains("abc"),
        "{message}"
    );
    let r = get(port, "/api/alerts?limit=20", &[SUPERVISOR]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = get(port, "/api/alerts?hall=h1&hall=h1", &[SUPERVISOR]).await;
    let message = assert_error(&r, 400, "bad_request", "hall twice");
    assert!(message.contains("hall"), "{message}");
    let r = get(port, "/api/halls/h1/stats?date=2026-13-01", &[MANAGER]).await;
    let message = assert_error(&r, 400, "bad_request", "a bad date");
    assert!(message.contains("date"), "{message}");
    let r = get(port, "/ws/display/h1?window=01&window=02", &[]).await;
    let message = assert_error(&r, 400, "bad_request", "window twice");
    assert!(message.contains("window"), "{message}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_action_checks_the_token_before_the_request() {
    let Some(broker) = Broker::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::spawn(with_tokens(&broker, &dir, "hard-order")).await;
    let port = app.port;
    let post = |path: &'static str, headers: Vec<(&'static str, &'static str)>, body| async move {
        http_request(port, "POST", path, &headers, body).await
    };

    // No token: 401, whatever else is wrong.
    let r = post("/api/alerts/h1-x/close", vec![], "not json").await;
    assert_error(&r, 401, "unauthorized", "no token, bad op and body");
    let r = post("/api/alerts/h1-x/ack", vec![], r#"{"note": 5}"#).await;
    assert_error(&r, 401, "unauthorized", "no token, bad body");
    // The wrong role: 403, still before the request is looked at.
    let r = post("/api/alerts/h1-x/close", vec![MANAGER], "not json").await;
    assert_error(&r, 403, "forbidden", "a manager");
    // A supervisor hears what is wrong with the request.
    let r = post("/api/alerts/h1-x/close", vec![SUPERVISOR], "").await;
    let message = assert_error(&r, 400, "bad_request", "a bad op");
    assert!(message.contains("close"), "{message}");
    let r = post("/api/alerts/h1-x/ack", vec![SUPERVISOR], r#"{"note": 5}"#).await;
    assert_error(
        &r,
        415,
        "unsupported_media_type",
        "a body not declared JSON",
    );
    let json = ("Content-Type", "application/json");
    let r = post(
        "/api/alerts/h1-x/ack",
        vec![SUPERVISOR, json],
        r#"{"note": 5}"#,
    )
    .await;
    let message = assert_error(&r, 400, "bad_request", "a bad body");
    assert!(message.contains("note"), "{message}");
    let r = post("/api/alerts/h1-x/ack", vec![SUPERVISOR], "").await;
    assert_error(&r, 404, "unknown_alert", "no such alert");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_the_limit_are_refused_with_json_413() {
    let Some(broker) = Broker::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::spawn(with_tokens(&broker, &dir, "hard-413")).await;
    let port = app.port;
    assert_eq!(MAX_BODY, 16 * 1024);
    let json = [("Content-Type", "application/json")];
    // A login body of exactly the limit is read (and its token refused).
    let padding = MAX_BODY - r#"{"token": ""}"#.len();
    let at_limit = format!(r#"{{"token": "{}"}}"#, "x".repeat(padding));
    assert_eq!(at_limit.len(), MAX_BODY);
    let r = http_request(port, "POST", "/api/login", &json, &at_limit).await;
    assert_error(&r, 401, "bad_token", "a body of 16 KiB");

    let over = format!("{at_limit} ");
    let r = http_request(port, "POST", "/api/login", &json, &over).await;
    let message = assert_error(&r, 413, "payload_too_large", "login, 16 KiB + 1");
    assert!(message.contains("16 KiB"), "{message}");
    assert_secured(&r, "413");
    let note = json!({ "note": "很".repeat(MAX_BODY / 3 + 1) }).to_string();
    let r = http_request(port, "POST", "/api/alerts/h1-x/ack", &[SUPERVISOR], &note).await;
    assert_error(&r, 413, "payload_too_large", "a long note");
    // Nothing read, nothing to check: even without a token the size decides.
    let r = http_request(port, "POST", "/api/alerts/h1-x/ack", &[], &note).await;
    assert_error(&r, 413, "payload_too_large", "a long note without a token");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_frame_over_4_kib_closes_the_session_with_1009() {
    let Some(broker) = Broker::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::spawn(with_tokens(&broker, &dir, "hard-frames")).await;
    let port = app.port;

    for path in [
        "/ws/display/h1",
        "/ws/display/h1?window=01",
        "/ws/dashboard/h1?token=m-secret",
        "/ws/region?token=m-secret",
        "/ws/alerts?token=s-secret",
    ] {
        // A frame of exactly 4 KiB is taken.
        let mut ws = ws_connect(port, path).await.unwrap();
        next_of(&mut ws, "snapshot", |_| true).await;
        ws.send(Message::Text("x".repeat(4096).into()))
            .await
            .unwrap();
        assert!(answers_pings(&mut ws).await, "{path}: closed by 4 KiB");
        // One byte more ends the session, saying why.
        ws.send(Message::Text("x".repeat(4097).into()))
            .await
            .unwrap();
        assert_eq!(close_code(&mut ws).await, 1009, "{path}");
    }

    // The longest real console message fits: a 500-character note.
    let mut console = ws_connect(port, "/ws/alerts?token=s-secret").await.unwrap();
    next_of(&mut console, "snapshot", |_| true).await;
    let op = json!({"op": "resolve", "alert": "h1-20261123-093000-bad_rating-B001", "note": "\u{1F600}".repeat(500)});
    assert!(op.to_string().len() > 2000);
    console
        .send(Message::Text(op.to_string().into()))
        .await
        .unwrap();
    let answer: Value = next_of(&mut console, "error", |_| true).await;
    assert_eq!(answer["error"], "unknown_alert", "{answer}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_over_its_request_budget_gets_429_until_it_refills() {
    let Some(broker) = Broker::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::spawn(with_tokens(&broker, &dir, "hard-budget")).await;
    let port = app.port;

    let started = Instant::now();
    let mut passed = 0usize;
    let limited = loop {
        let r = get(port, "/api/halls", &[]).await;
        if r.status != 200 {
            break r;
        }
        passed += 1;
        assert!(passed < 1000, "never limited");
    };
    let took = started.elapsed();
    eprintln!(
        "{passed} requests passed in {} ms before the first 429",
        took.as_millis()
    );
    // The burst, plus what refilled meanwhile (one every 100 ms).
    let refilled = (took.as_millis() / 100) as usize + 1;
    assert!(
        passed >= BURST as usize && passed <= BURST as usize + refilled,
        "{passed} passed in {took:?}"
    );
    let message = assert_error(&limited, 429, "rate_limited", "over the budget");
    let retry_after: u64 = limited
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .expect("a Retry-After in whole seconds");
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    assert!(message.contains("秒"), "{message}");
    assert_eq!(limited.header("cache-control"), Some("no-store"));
    assert_secured(&limited, "429");

    // WebSocket handshakes count too; health, metrics and pages do not.
    // The bucket keeps refilling (one every 100 ms) while the test runs, so
    // on a slow machine a try may find a fresh token: a few may pass, but a
    // refusal must follow at once.
    let mut handshakes = Vec::new();
    for _ in 0..3 {
        let answer = ws_connect(port, "/ws/display/h1").await.err();
        handshakes.push(answer);
        if answer == Some(429) {
            break;
        }
    }
    assert_eq!(handshakes.last(), Some(&Some(429)), "{handshakes:?}");
    let mut me = Vec::new();
    for _ in 0..3 {
        let status = get(port, "/api/me", &[MANAGER]).await.status;
        me.push(status);
        if status == 429 {
            break;
        }
    }
    assert_eq!(me.last(), Some(&429), "{me:?}");
    for path in ["/healthz", "/", "/wall.html"] {
        assert_eq!(get(port, path, &[]).await.status, 200, "{path}");
    }
    let metrics = get(port, "/metrics", &[]).await;
    let refused: u64 = metrics
        .body
        .lines()
        .find_map(|l| l.strip_prefix("hallwatch_http_rate_limited_total "))
        .and_then(|v| v.parse().ok())
        .expect("the refusals are counted");
    assert!(refused >= 3, "{refused}");

    // Told to wait, the client gets in after the wait.
    tokio::time::sleep(Duration::from_secs(retry_after)).await;
    assert_eq!(get(port, "/api/halls", &[]).await.status, 200);
    let mut screen = ws_connect(port, "/ws/display/h1").await.unwrap();
    next_of(&mut screen, "snapshot", |_| true).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hall_of_screens_reconnecting_at_once_all_get_in() {
    let Some(broker) = Broker::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::spawn(with_tokens(&broker, &dir, "hard-storm")).await;
    let port = app.port;

    // After a server restart every screen behind the hall's one address
    // reconnects within its first back-off: 150 handshakes at once.
    let screens = 150;
    let started = Instant::now();
    let attempts = (0..screens).map(|i| async move {
        let path = if i % 3 == 0 {
            "/ws/display/h1?window=01"
        } else {
            "/ws/display/h1"
        };
        ws_connect(port, path).await
    });
    let results = futures_util::future::join_all(attempts).await;
    let refused: Vec<u16> = results
        .iter()
        .filter_map(|r| r.as_ref().err().copied())
        .collect();
    assert!(refused.is_empty(), "refused: {refused:?}");
    eprintln!(
        "{screens} screens reconnected at once in {} ms",
        started.elapsed().as_millis()
    );
    let mut sockets: Vec<Ws> = results.into_iter().map(Result::unwrap).collect();
    for ws in sockets.iter_mut().take(10) {
        next_of(ws, "snapshot", |_| true).await;
    }
    // And the screens' pages, dashboards and consoles still have room.
    assert_eq!(get(port, "/api/me", &[MANAGER]).await.status, 200);
    drop(sockets);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_need_no_token_and_carry_no_citizen_data() {
    let Some(broker) = Broker::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::spawn(with_tokens(&broker, &dir, "hard-metrics")).await;

    let mut dev = Device::replies(broker.port, "hard-metrics").await;
    let ok = |r: Value| assert_eq!(r["ok"], true, "{r}");
    ok(dev
        .request(
            &window("01"),
            json!({"op": "login", "staff": "S001", "staff_name": "李敏"}),
        )
        .await);
    let ticket = dev
        .request(
            KIOSK,
            json!({"service": "SB", "priority": "appointment", "appointment": "YY-SECRET-7"}),
        )
        .await;
    let ticket = ticket["ticket"].as_str().expect("a ticket").to_owned();
    for op in ["call_next", "start"] {
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
    // A refused message does not carry its payload into a label either.
    let refused = dev
        .request(KIOSK, json!({"service": "SECRET-SERVICE"}))
        .await;
    assert_eq!(refused["ok"], false, "{refused}");

    let r = get(app.port, "/metrics", &[]).await;
    assert_eq!(r.status, 200);
    assert!(
        r.body.contains("hallwatch_messages_received_total{kind="),
        "{}",
        r.body
    );
    for secret in [
        ticket.as_str(),
        "李敏",
        "S001",
        "YY-SECRET-7",
        "CASE-SECRET-9",
        "社保转移",
        "COMMENT-SECRET",
        "SECRET-SERVICE",
        "m-secret",
    ] {
        assert!(!r.body.contains(secret), "/metrics shows {secret:?}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_body_sent_too_slowly_is_cut_off_and_its_socket_closed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Some(broker) = Broker::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut s = with_tokens(&broker, &dir, "hard-slow-body");
    s.server.body_timeout_s = 1;
    let app = TestApp::spawn(s).await;
    let port = app.port;
    // Twenty clients announce a 16,000-byte login body and send one byte
    // of it, as an attacker trickling a byte every few seconds would.
    let mut clients = Vec::new();
    for _ in 0..20 {
        let mut c = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        let head = format!(
            "POST /api/login HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
             Content-Type: application/json\r\nContent-Length: 16000\r\n\r\n{{"
        );
        c.write_all(head.as_bytes()).await.unwrap();
        clients.push(c);
    }
    let started = Instant::now();
    for mut c in clients {
        let mut answer = Vec::new();
        // read_to_end returns only once the server has closed the socket.
        tokio::time::timeout(Duration::from_secs(5), c.read_to_end(&mut answer))
            .await
            .expect("the server closes a slow body's connection")
            .expect("read");
        let text = String::from_utf8_lossy(&answer);
        assert!(text.starts_with("HTTP/1.1 408"), "{text}");
        assert!(text.contains("\"error\":\"request_timeout\""), "{text}");
    }
    let took = started.elapsed();
    assert!(took < Duration::from_secs(4), "cut off after {took:?}");
    println!(
        "20 bodies trickling in: all answered 408 and closed {:.2} s after their first byte \
         (body_timeout_s = 1)",
        took.as_secs_f64()
    );
    // A body sent in time is read as ever.
    let r = http_request(
        port,
        "POST",
        "/api/login",
        &[("Content-Type", "application/json")],
        r#"{"token": "m-secret"}"#,
    )
    .await;
    assert_eq!(r.status, 200);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_is_well_framed_whatever_the_request_headers() {
    let Some(broker) = Broker::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::spawn(with_tokens(&broker, &dir, "hard-framing")).await;
    let port = app.port;
    let upgrade = [("Upgrade", "websocket"), ("Connection", "Upgrade")];
    let gzip = [("Accept-Encoding", "gzip")];
    let both = [upgrade.as_slice(), gzip.as_slice()].concat();
    let plain: [(&str, &str); 0] = [];
    for (path, auth, status) in [
        ("/api/me", None, 401),
        ("/api/me", Some(MANAGER), 200),
        ("/api/halls", None, 200),
        ("/api/openapi.json", None, 200),
        ("/wall.html", None, 200),
        ("/common.js", None, 200),
        ("/healthz", None, 200),
        ("/ws/alerts", None, 401),
        ("/ws/dashboard/h1", Some(SUPERVISOR), 403),
        ("/ws/dashboard/nope", Some(MANAGER), 403),
        ("/ws/region", Some(MANAGER), 400),
        ("/api/nope", None, 404),
    ] {
        for extra in [plain.as_slice(), &gzip, &upgrade, &both] {
            let mut headers: Vec<(&str, &str)> = extra.to_vec();
            headers.extend(auth);
            let what = format!("GET {path} with {headers:?}");
            let r = strict_request(port, "GET", path, &headers)
                .await
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(r.status, status, "{what}: {}", r.body);
            assert!(!r.body.is_empty(), "{what}: an empty body");
            if r.header("content-type")
                .is_some_and(|t| t.starts_with("application/json"))
            {
                serde_json::from_str::<Value>(&r.body)
                    .unwrap_or_else(|e| panic!("{what}: {e} in {}", r.body));
            }
        }
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_websocket_frame_is_closed_with_words_not_internals() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Some(broker) = Broker::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::spawn(with_tokens(&broker, &dir, "hard-close")).await;
    let port = app.port;
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let handshake = format!(
        "GET /ws/display/h1 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n\r\n"
    );
    s.write_all(handshake.as_bytes()).await.unwrap();
    // A masked frame of reserved opcode 3: no valid client sends it.
    s.write_all(&[0x83, 0x80, 1, 2, 3, 4]).await.unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut buf)).await;
    let start = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a handshake answer")
        + 4;
    assert!(
        buf.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&buf[..start])
    );
    // The server's frames (unmasked): the snapshot, then the close.
    let mut at = &buf[start..];
    let mut close = None;
    while at.len() >= 2 {
        let opcode = at[0] & 0x0f;
        let (len, head) = match at[1] & 0x7f {
            126 => (usize::from(u16::from_be_bytes([at[2], at[3]])), 4),
            127 => (
                usize::try_from(u64::from_be_bytes(at[2..10].try_into().unwrap())).unwrap(),
                10,
            ),
            n => (usize::from(n), 2),
        };
        let payload = &at[head..head + len];
        if opcode == 8 {
            close = Some(payload.to_vec());
        }
        at = &at[head + len..];
    }
    let close = close.expect("a close frame");
    assert_eq!(u16::from_be_bytes([close[0], close[1]]), 1002);
    assert_eq!(
        std::str::from_utf8(&close[2..]).unwrap(),
        "not a valid WebSocket frame"
    );
    app.stop().await;
}
