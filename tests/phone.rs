//! Tickets' phone pages over HTTP: the kiosk's reply links to the page,
//! the page and its state follow the ticket, giving up is logged and
//! survives a restart, wrong tokens are refused in bulk, a token ends
//! with its day, and `[phone] listen` serves the pages and nothing else.

mod common;

use std::sync::Arc;

use chrono::Duration;
use common::*;
use hallwatch::clock::{Clock, ManualClock};
use serde_json::{Value, json};

/// A ticket for `service` from kiosk k1: its number and token, the reply
/// checked for its page's address.
async fn ticket(dev: &mut Device, app: &TestApp, service: &str) -> (String, String) {
    let r = dev.request(KIOSK, json!({"service": service})).await;
    assert_eq!(r["ok"], true, "{r}");
    let token = r["token"].as_str().expect("a token").to_owned();
    assert_eq!(token.len(), 18, "{r}");
    assert!(
        token
            .bytes()
            .all(|b| b"0123456789abcdefghjkmnpqrstvwxyz".contains(&b)),
        "{token}"
    );
    assert_eq!(r["url"], app.url(&format!("/t/{token}")), "{r}");
    (r["ticket"].as_str().unwrap().to_owned(), token)
}

async fn state(port: u16, token: &str) -> (u16, Value) {
    let a = http_request(port, "GET", &format!("/t/{token}/state"), &[], "").await;
    (a.status, a.json())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_page_follows_its_ticket_and_giving_up_survives_a_restart() {
    let Some(broker) = Broker::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let s = settings(&broker.url(), &sqlite_url(dir.path()), "hw-phone");
    let clock = Arc::new(ManualClock::new(t0()));
    let app = TestApp::spawn_with_clock(s.clone(), clock.clone()).await;
    let mut dev = Device::replies(broker.port, "dev").await;

    let (b1, t1) = ticket(&mut dev, &app, "SB").await;
    let (b2, t2) = ticket(&mut dev, &app, "SB").await;
    assert_ne!(t1, t2);

    // The page: HTML under the screens' content security policy, never cached.
    let page = http_request(app.port, "GET", &format!("/t/{t2}"), &[], "").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("-/phone.js"), "{}", page.body);
    assert!(
        page.header("content-security-policy")
            .is_some_and(|c| c.contains("default-src 'self'")),
        "{:?}",
        page.header("content-security-policy")
    );
    assert_eq!(page.header("cache-control"), Some("no-store"));
    let js = http_request(app.port, "GET", "/t/-/phone.js", &[], "").await;
    assert_eq!(js.status, 200);
    assert!(js.header("content-type").unwrap().contains("javascript"));

    let (status, v) = state(app.port, &t2).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["ticket"], b2.as_str());
    assert_eq!(v["state"], "waiting");
    assert_eq!(v["ahead"], 1);
    assert_eq!(v["near"], true);
    assert_eq!(v["hall"]["name"], "测试县政务服务中心");
    assert_eq!(v["hours"], json!(["09:00-12:00", "13:30-17:30"]));
    assert!(v["estimated_wait_s"].as_u64().is_some(), "{v}");

    // Called at window 02: the page names it.
    dev.request(&window("02"), json!({"op": "login", "staff": "S001"}))
        .await;
    let r = dev.request(&window("02"), json!({"op": "call_next"})).await;
    assert_eq!(r["ticket"], b1.as_str());
    let (_, v) = state(app.port, &t1).await;
    assert_eq!(v["state"], "called");
    assert_eq!(v["window"]["name"], "2号窗口");
    assert_eq!(v["can_give_up"], false);
    let refused = http_request(app.port, "POST", &format!("/t/{t1}/give-up"), &[], "").await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert_eq!(refused.json()["error"], "unknown_ticket");

    // The second citizen gives up: out of the queue, and again is the same.
    let gave = http_request(app.port, "POST", &format!("/t/{t2}/give-up"), &[], "").await;
    assert_eq!(gave.status, 200, "{}", gave.body);
    assert_eq!(gave.json()["state"], "cancelled");
    let again = http_request(app.port, "POST", &format!("/t/{t2}/give-up"), &[], "").await;
    assert_eq!(again.status, 200);
    assert_eq!(again.json()["state"], "cancelled");
    let snap = app.get_json("/api/halls/h1/snapshot").await.unwrap();
    let sb = snap["queues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["service"] == "SB")
        .unwrap()
        .clone();
    assert_eq!(sb["waiting"], 0, "{sb}");
    app.stop().await;

    // A restart replays the log: the same tokens open the same tickets.
    let app = TestApp::spawn_with_clock(s, clock.clone()).await;
    let (status, v) = state(app.port, &t2).await;
    assert_eq!(
        (status, v["state"].as_str()),
        (200, Some("cancelled")),
        "{v}"
    );
    let (_, v) = state(app.port, &t1).await;
    assert_eq!(v["state"], "called");

    // At the day's end the tokens end with their tickets.
    clock.set(t0() + Duration::hours(15) + Duration::seconds(1));
    let gone = eventually(10, async || {
        let (status, v) = state(app.port, &t1).await;
        (status == 404).then_some(v)
    })
    .await;
    assert_eq!(gone["error"], "unknown_ticket");
    let page = http_request(app.port, "GET", &format!("/t/{t1}"), &[], "").await;
    assert_eq!(page.status, 404);
    assert!(page.body.contains("号码不存在或已过期"), "{}", page.body);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guessing_tokens_is_refused_and_the_public_listener_serves_only_pages() {
    let Some(broker) = Broker::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(&broker.url(), &sqlite_url(dir.path()), "hw-phone-2");
    let public = free_port();
    s.phone.listen = Some(format!("127.0.0.1:{public}").parse().unwrap());
    s.phone.public_url = Some("https://q.example.gov.cn".into());
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(t0()));
    let app = TestApp::spawn_with_clock(s, clock).await;
    let mut dev = Device::replies(broker.port, "dev").await;
    let r = dev.request(KIOSK, json!({"service": "GA"})).await;
    let token = r["token"].as_str().unwrap().to_owned();
    assert_eq!(
        r["url"],
        format!("https://q.example.gov.cn/t/{token}"),
        "{r}"
    );

    // The public listener: the page, its state and its files; nothing else.
    let (status, v) = state(public, &token).await;
    assert_eq!((status, v["ticket"].as_str()), (200, Some("G001")), "{v}");
    assert_eq!(http_get(public, &format!("/t/{token}")).await.0, 200);
    assert_eq!(http_get(public, "/t/-/phone.css").await.0, 200);
    for path in [
        "/api/halls",
        "/wall.html",
        "/healthz",
        "/ws/display/h1",
        "/",
    ] {
        assert_eq!(http_get(public, path).await.0, 404, "{path}");
    }

    // Ten wrong tokens a minute are answered 404; then 429 with a wait.
    // A token of the right shape that no ticket holds counts as wrong.
    for i in 0..10 {
        let wrong = format!("{:0>18}", i);
        let (status, v) = state(public, &wrong).await;
        assert_eq!(status, 404, "guess {i}: {v}");
    }
    let a = http_request(public, "GET", "/t/zzzzzzzzzzzzzzzzzz/state", &[], "").await;
    assert_eq!(a.status, 429, "{}", a.body);
    assert!(a.header("retry-after").is_some());
    assert_eq!(a.json()["error"], "rate_limited");
    let page = http_request(public, "GET", "/t/not-a-token", &[], "").await;
    assert_eq!(page.status, 429);
    // The holder of a right token is never locked out by others' guesses.
    let (status, _) = state(public, &token).await;
    assert_eq!(status, 200);
    app.stop().await;
}
