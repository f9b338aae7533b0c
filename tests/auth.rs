//! Logging in to the protected screens: sessions and their cookie, the ways
//! to present a token, the login rate limit, foreign pages refused, and the
//! public routes that stay open.

mod common;

use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};
use common::*;
use hallwatch::clock::ManualClock;
use hallwatch::config::{Role, Settings};

/// The test hall with a manager of `h1` (`m-secret`) and an all-halls
/// supervisor (`s-secret`).
fn settings_with_tokens(broker: &Broker, dir: &tempfile::TempDir, client: &str) -> Settings {
    let mut s = settings(&broker.url(), &sqlite_url(dir.path()), client);
    s.tokens = vec![
        token("值班长", Role::Manager, &["h1"], "m-secret"),
        token("效能监察室", Role::Supervisor, &["*"], "s-secret"),
    ];
    s
}

async fn login(port: u16, token: &str, extra: &[(&str, &str)]) -> HttpAnswer {
    let mut headers = vec![("Content-Type", "application/json")];
    headers.extend_from_slice(extra);
    let body = serde_json::json!({ "token": token }).to_string();
    http_request(port, "POST", "/api/login", &headers, &body).await
}

async fn me(port: u16, path: &str, headers: &[(&str, &str)]) -> HttpAnswer {
    http_request(port, "GET", path, headers, "").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logging_in_opens_a_session_in_an_http_only_strict_cookie() {
    let Some(broker) = Broker::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::spawn(settings_with_tokens(&broker, &dir, "auth-login")).await;

    let r = login(app.port, "m-secret", &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let body = r.json();
    assert_eq!(body["name"], "值班长");
    assert_eq!(body["role"], "manager");
    assert_eq!(body["halls"], serde_json::json!(["h1"]));
    let cookie = r.header("set-cookie").expect("a cookie");
    // A random secret, never the token itself.
    let secret = cookie
        .strip_prefix("hallwatch_session=")
        .and_then(|c| c.split(';').next())
        .expect("the session cookie first");
    assert!(
        secret.len() == 64 && secret.bytes().all(|b| b.is_ascii_hexdigit()),
        "{cookie}"
    );
    for part in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(cookie.contains(part), "{part} missing in {cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");
    assert_eq!(r.header("cache-control"), Some("no-store"));
    // Two logins, two sessions.
    let again = session_cookie(app.port, "m-secret").await;
    assert_ne!(again, format!("hallwatch_session={secret}"));

    // Anyone can write X-Forwarded-Proto: from a client that is not a
    // configured proxy it changes nothing.
    let r = login(app.port, "s-secret", &[("X-Forwarded-Proto", "https")]).await;
    assert_eq!(r.status, 200);
    assert!(!r.header("set-cookie").unwrap().contains("Secure"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_token_is_refused_and_sets_no_cookie() {
    let Some(broker) = Broker::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::spawn(settings_with_tokens(&broker, &dir, "auth-wrong")).await;

    let r = login(app.port, "m-secret ", &[]).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"], "bad_token");
    assert_eq!(r.json()["message"], "令牌无效");
    assert!(r.header("set-cookie").is_none());

    // Not JSON (an HTML form on another site): refused before any check.
    for content_type in ["application/x-www-form-urlencoded", "text/plain"] {
        let r = http_request(
            app.port,
            "POST",
            "/api/login",
            &[("Content-Type", content_type)],
            "token=m-secret",
        )
        .await;
        assert_eq!(r.status, 415, "{content_type}");
        assert_eq!(r.json()["error"], "unsupported_media_type");
        assert!(r.header("set-cookie").is_none());
    }
    // JSON, but from another site's page.
    let r = login(app.port, "m-secret", &[("Origin", "http://evil.example")]).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["error"], "origin_refused");
    assert!(r.header("set-cookie").is_none());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn me_knows_the_token_from_a_header_or_the_cookie_but_not_the_url() {
    let Some(broker) = Broker::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::spawn(settings_with_tokens(&broker, &dir, "auth-me")).await;
    let port = app.port;

    let r = me(port, "/api/me", &[("Authorization", "Bearer s-secret")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["role"], "supervisor");
    assert_eq!(r.json()["halls"], serde_json::json!(["*"]));

    // URLs end up in logs: on REST a token there is refused, even a right
    // one (WebSockets, which cannot send the header, still take it).
    let r = me(port, "/api/me?token=m-secret", &[]).await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert_eq!(r.json()["error"], "token_in_url");
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));

    // The cookie exactly as the login set it.
    let cookie = login(port, "m-secret", &[]).await;
    let cookie = cookie
        .header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap();
    let r = me(port, "/api/me", &[("Cookie", cookie)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["role"], "manager");

    for (path, headers) in [
        ("/api/me", vec![]),
        ("/api/me", vec![("Authorization", "Bearer nope")]),
        ("/api/me", vec![("Cookie", "hallwatch_token=m-secret")]),
        ("/api/me", vec![("Cookie", "hallwatch_session=m-secret")]),
    ] {
        let r = me(port, path, &headers).await;
        assert_eq!(r.status, 401, "{path} {headers:?}");
        assert_eq!(r.header("www-authenticate"), Some("Bearer"));
        assert_eq!(r.json()["error"], "unauthorized");
        assert_eq!(r.json()["message"], "需要登录");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_eleventh_failed_login_in_a_minute_waits_for_the_clock() {
    let Some(broker) = Broker::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap(),
    ));
    let app = TestApp::spawn_with_clock(
        settings_with_tokens(&broker, &dir, "auth-limit"),
        clock.clone(),
    )
    .await;

    for i in 0..10 {
        let r = login(app.port, &format!("guess-{i}"), &[]).await;
        assert_eq!(r.status, 401, "attempt {}", i + 1);
    }
    let r = login(app.port, "guess-10", &[]).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.json()["error"], "rate_limited");
    assert_eq!(r.json()["message"], "尝试过于频繁，请稍后再试");
    assert_eq!(r.header("retry-after"), Some("60"));
    let r = me(app.port, "/api/me", &[("Authorization", "Bearer guess-12")]).await;
    assert_eq!(r.status, 429);
    // The right token is never locked out: behind one proxy or NAT a
    // guesser would otherwise lock out the whole hall.
    assert_eq!(login(app.port, "m-secret", &[]).await.status, 200);
    let r = me(app.port, "/api/me", &[("Authorization", "Bearer m-secret")]).await;
    assert_eq!(r.status, 200);

    clock.advance(Duration::seconds(61));
    assert_eq!(login(app.port, "guess-11", &[]).await.status, 401);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_survives_a_restart_and_ends_at_logout() {
    let Some(broker) = Broker::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::spawn(settings_with_tokens(&broker, &dir, "auth-logout")).await;
    let cookie = session_cookie(app.port, "m-secret").await;
    let copy = cookie.clone();
    app.stop().await;

    // Kept by the server: a restart logs nobody out.
    let app = TestApp::spawn(settings_with_tokens(&broker, &dir, "auth-logout")).await;
    let origin = format!("http://127.0.0.1:{}", app.port);
    let r = me(app.port, "/api/me", &[("Cookie", &cookie)]).await;
    assert_eq!(r.status, 200, "{}", r.body);

    // Logging out from another site's page is refused.
    let foreign = [
        ("Cookie", cookie.as_str()),
        ("Origin", "http://evil.example"),
    ];
    let r = http_request(app.port, "POST", "/api/logout", &foreign, "").await;
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["error"], "origin_refused");

    let r = http_request(
        app.port,
        "POST",
        "/api/logout",
        &[("Cookie", &cookie), ("Origin", &origin)],
        "",
    )
    .await;
    assert_eq!(r.status, 204);
    let cleared = r.header("set-cookie").expect("a cookie");
    assert!(cleared.starts_with("hallwatch_session=;"), "{cleared}");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    assert!(cleared.contains("Path=/"), "{cleared}");
    // Revoked on the server: a copy of the cookie is worth nothing now.
    let r = me(app.port, "/api/me", &[("Cookie", &copy)]).await;
    assert_eq!(r.status, 401);
    // Logging out without a session is harmless.
    let r = http_request(app.port, "POST", "/api/logout", &[], "").await;
    assert_eq!(r.status, 204);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_clients_are_told_apart_and_cookies_are_secure() {
    let Some(broker) = Broker::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings_with_tokens(&broker, &dir, "auth-proxy");
    s.server.trusted_proxies = vec!["127.0.0.1".into()];
    let app = TestApp::spawn(s).await;
    let from = |ip: &'static str| [("X-Forwarded-For", ip)];

    // Served through the proxy: the cookie is Secure.
    let r = login(app.port, "m-secret", &from("203.0.113.1")).await;
    assert_eq!(r.status, 200);
    assert!(r.header("set-cookie").unwrap().contains("; Secure"));
    let r = login(
        app.port,
        "m-secret",
        &[
            ("X-Forwarded-For", "203.0.113.1"),
            ("X-Forwarded-Proto", "http"),
        ],
    )
    .await;
    assert!(!r.header("set-cookie").unwrap().contains("Secure"));

    // Ten wrong tokens from one citizen's address lock out only that address.
    for i in 0..10 {
        let r = login(app.port, &format!("guess-{i}"), &from("203.0.113.9")).await;
        assert_eq!(r.status, 401);
    }
    assert_eq!(
        login(app.port, "guess", &from("203.0.113.9")).await.status,
        429
    );
    assert_eq!(
        login(app.port, "guess", &from("203.0.113.10")).await.status,
        401
    );
    assert_eq!(
        login(app.port, "m-secret", &from("203.0.113.9"))
            .await
            .status,
        200
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_of_other_origins_cannot_use_a_browsers_session() {
    let Some(broker) = Broker::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::spawn(settings_with_tokens(&broker, &dir, "auth-origin")).await;
    let port = app.port;
    let ours = format!("http://127.0.0.1:{port}");
    let admin = session_cookie(port, "s-secret").await;
    let manager = session_cookie(port, "m-secret").await;

    // Every channel: a foreign page's handshake is refused, ours is taken.
    for (path, cookie) in [
        ("/ws/display/h1", &admin),
        ("/ws/dashboard/h1", &manager),
        ("/ws/alerts", &admin),
        ("/ws/region", &manager),
    ] {
        for evil in ["http://evil.example", "http://127.0.0.1:1", "null"] {
            let r = ws_connect_with(port, path, &[("Cookie", cookie), ("Origin", evil)]).await;
            assert_eq!(r.err(), Some(403), "{path} from {evil}");
        }
        let ok = ws_connect_with(port, path, &[("Cookie", cookie), ("Origin", &ours)]).await;
        assert!(ok.is_ok(), "{path}: {:?}", ok.err());
    }

    // Every route that changes something: refused from a foreign page,
    // without an Origin, or with a body that is not declared JSON.
    for path in ["/api/alerts/h1-x-1/ack", "/api/alerts/h1-x-1/resolve"] {
        let evil = [
            ("Cookie", admin.as_str()),
            ("Origin", "http://evil.example"),
            ("Content-Type", "text/plain"),
        ];
        let r = http_request(port, "POST", path, &evil, r#"{"note":"x"}"#).await;
        assert_eq!(
            (r.status, r.json()["error"].clone()),
            (403, "origin_refused".into()),
            "{path}"
        );
        let r = http_request(port, "POST", path, &[("Cookie", admin.as_str())], "").await;
        assert_eq!(r.status, 403, "{path} without an Origin");
        let sec = [
            ("Cookie", admin.as_str()),
            ("Sec-Fetch-Site", "same-origin"),
        ];
        let r = http_request(port, "POST", path, &sec, "").await;
        assert_eq!(r.status, 404, "{path} same-origin: {}", r.body);
        let plain = [
            ("Cookie", admin.as_str()),
            ("Origin", ours.as_str()),
            ("Content-Type", "text/plain"),
        ];
        let r = http_request(port, "POST", path, &plain, r#"{"note":"x"}"#).await;
        assert_eq!(
            (r.status, r.json()["error"].clone()),
            (415, "unsupported_media_type".into()),
            "{path}"
        );
        // A program with a bearer token sends no Origin and is not affected.
        let bearer = [
            ("Authorization", "Bearer s-secret"),
            ("Content-Type", "application/json"),
        ];
        let r = http_request(port, "POST", path, &bearer, r#"{"note":"x"}"#).await;
        assert_eq!(r.status, 404, "{path}: {}", r.body);
    }
    // Reading is not changing: a GET with the cookie from anywhere is fine
    // (the browser keeps the answer from the foreign page).
    let r = me(
        port,
        "/api/me",
        &[("Cookie", &manager), ("Origin", "http://evil.example")],
    )
    .await;
    assert_eq!(r.status, 200);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_public_routes_need_no_token() {
    let Some(broker) = Broker::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::spawn(settings_with_tokens(&broker, &dir, "auth-public")).await;

    for path in [
        "/healthz",
        "/metrics",
        "/api/halls",
        "/api/halls/h1/snapshot",
        "/",
    ] {
        let (status, _) = app.get(path).await;
        assert_eq!(status, 200, "{path}");
    }
    let (ws, _) =
        tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{}/ws/display/h1", app.port))
            .await
            .expect("the display channel is open");
    drop(ws);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_tokens_of_the_example_configuration_log_in() {
    let Some(broker) = Broker::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut s = Settings::parse(hallwatch::EXAMPLE_CONFIG).expect("example configuration");
    s.server.listen = "127.0.0.1:0".into();
    s.server.database_url = sqlite_url(dir.path());
    s.mqtt.broker = broker.url();
    s.mqtt.client_id = "auth-example".into();
    let app = TestApp::spawn(s).await;

    for (token, role, halls) in [
        ("demo-manager", "manager", serde_json::json!(["jl-center"])),
        ("demo-supervisor", "supervisor", serde_json::json!(["*"])),
        ("demo-admin", "admin", serde_json::json!(["*"])),
        (
            "demo-town-manager",
            "manager",
            serde_json::json!(["jl-town"]),
        ),
    ] {
        let r = login(app.port, token, &[]).await;
        assert_eq!(r.status, 200, "{token}: {}", r.body);
        assert_eq!(r.json()["role"], role, "{token}");
        assert_eq!(r.json()["halls"], halls, "{token}");
    }
    app.stop().await;
}
