//! The manager's view end to end, on a real broker and an injected clock:
//! the dashboard channel follows a window through a ticket; the day's
//! figures are counted live, kept at midnight, counted again from the log
//! when they were not kept, and served as JSON and as a CSV that Excel
//! opens; `/metrics`, the region channel and the retained summary carry
//! the new figures.

mod common;

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use common::*;
use hallwatch::clock::ManualClock;
use hallwatch::config::{Role, Settings};
use serde_json::{Value, json};

fn managed(broker: &Broker, db: &str, client: &str) -> Settings {
    let mut s = settings(&broker.url(), db, client);
    s.tokens = vec![
        token("值班长", Role::Manager, &["h1"], "m-secret"),
        token("镇中心主任", Role::Manager, &["elsewhere"], "t-secret"),
        token("效能监察室", Role::Supervisor, &["*"], "s-secret"),
        token("管理员", Role::Admin, &["*"], "a-secret"),
    ];
    s
}

/// Local time in the hall (Asia/Shanghai) on a November 2026 day.
fn local(day: u32, hh: u32, mm: u32, ss: u32) -> DateTime<Utc> {
    chrono_tz::Asia::Shanghai
        .with_ymd_and_hms(2026, 11, day, hh, mm, ss)
        .unwrap()
        .with_timezone(&Utc)
}

async fn op(dev: &mut Device, w: &str, body: Value) -> Value {
    let r = dev.request(&window(w), body).await;
    assert_eq!(r["ok"], true, "{r}");
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_follows_a_window_through_a_ticket() {
    let Some(broker) = Broker::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(local(23, 10, 0, 0)));
    let app = TestApp::spawn_with_clock(
        managed(&broker, &sqlite_url(dir.path()), "mgr-a"),
        clock.clone(),
    )
    .await;

    // Only a manager of this hall (or an admin) gets in, before any upgrade.
    assert_eq!(
        ws_connect(app.port, "/ws/dashboard/h1").await.err(),
        Some(401)
    );
    assert_eq!(
        ws_connect(app.port, "/ws/dashboard/h1?token=s-secret")
            .await
            .err(),
        Some(403)
    );
    assert_eq!(
        ws_connect(app.port, "/ws/dashboard/h1?token=t-secret")
            .await
            .err(),
        Some(403)
    );
    // A manager learns nothing of halls that are not theirs; an admin is told
    // the hall does not exist.
    assert_eq!(
        ws_connect(app.port, "/ws/dashboard/nope?token=m-secret")
            .await
            .err(),
        Some(403)
    );
    assert_eq!(
        ws_connect(app.port, "/ws/dashboard/nope?token=a-secret")
            .await
            .err(),
        Some(404)
    );

    let mut dash = ws_connect(app.port, "/ws/dashboard/h1?token=m-secret")
        .await
        .expect("the manager gets in");
    let snap = next_of(&mut dash, "snapshot", |_| true).await;
    assert_eq!(snap["hall"]["id"], "h1");
    assert_eq!(snap["clock_rate"], 1.0);
    assert_eq!(snap["windows"].as_array().unwrap().len(), 3);
    assert_eq!(snap["windows"][0]["status"], "offline");
    assert_eq!(snap["windows"][0]["benchmark"], 25);
    assert_eq!(snap["queues"][0]["service"], "SB");
    assert_eq!(snap["staffing"]["services"].as_array().unwrap().len(), 2);
    assert_eq!(snap["staffing"]["profile"], "even");
    assert_eq!(snap["kpi"]["issued"], 0);
    assert_eq!(snap["kpi"]["hourly"].as_array().unwrap().len(), 24);
    // Windows on the rota and unstaffed since the hall opened at midnight.
    let alerts = snap["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 3);
    assert!(alerts.iter().all(|a| a["rule"] == "window_unattended"));

    let mut dev = Device::replies(broker.port, "dash").await;
    op(
        &mut dev,
        "01",
        json!({"op": "login", "staff": "S001", "staff_name": "李敏"}),
    )
    .await;
    let tile = next_of(&mut dash, "load", |v| v["id"] == "01").await;
    assert_eq!(
        (tile["status"].as_str(), tile["staff_name"].as_str()),
        (Some("idle"), Some("李敏"))
    );

    let t = dev.request(KIOSK, json!({"service": "SB"})).await;
    assert_eq!(t["ticket"], "B001");
    let q = next_of(&mut dash, "queue", |v| v["service"] == "SB").await;
    assert_eq!(q["waiting"], 1);
    assert!(q["longest_since"].is_string());
    // The advice follows within the second's tick.
    let staffing = next_of(&mut dash, "staffing", |v| v["services"][0]["issued"] == 1).await;
    assert_eq!(staffing["services"][0]["service"], "SB");
    assert_eq!(
        staffing["services"][0]["windows_open"], 1,
        "01 serves SB and GA, pooled: it counts whole for each"
    );

    clock.advance(chrono::Duration::seconds(90));
    op(&mut dev, "01", json!({"op": "call_next"})).await;
    // The queue shrinks, then the call goes out.
    let q = next_of(&mut dash, "queue", |v| v["service"] == "SB").await;
    assert_eq!(
        (q["waiting"].as_i64(), q["avg_wait_s"].as_f64()),
        (Some(0), Some(90.0))
    );
    next_of(&mut dash, "call", |v| v["ticket"] == "B001").await;
    op(&mut dev, "01", json!({"op": "start"})).await;
    next_of(&mut dash, "load", |v| v["status"] == "serving").await;
    clock.advance(chrono::Duration::seconds(600));
    op(
        &mut dev,
        "01",
        json!({"op": "finish", "outcome": "completed"}),
    )
    .await;
    let tile = next_of(&mut dash, "load", |v| v["served_today"] == 1).await;
    assert_eq!(tile["load"], 0.04, "1 of 25");
    assert_eq!(tile["avg_service_s"], 600.0);
    assert_eq!(tile["status"], "idle");

    // The hall's figures follow within the second's tick.
    let kpi = next_of(&mut dash, "kpi", |v| v["served"] == 1).await;
    assert_eq!(
        (kpi["issued"].as_i64(), kpi["on_the_spot_rate"].as_f64()),
        (Some(1), Some(1.0))
    );

    // A bad review reaches the dashboard as an alert.
    let r = dev
        .request(&rater("01"), json!({"score": 1, "comment": "太慢"}))
        .await;
    assert_eq!(r["ok"], true, "{r}");
    let alert = next_of(&mut dash, "alert", |v| v["rule"] == "bad_rating").await;
    assert_eq!(alert["severity"], "critical");

    // /metrics: the channel, the latency, the open alert, the store.
    let (status, metrics) = app.get("/metrics").await;
    assert_eq!(status, 200);
    assert!(
        metrics.contains("hallwatch_websocket_clients{channel=\"dashboard\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains(
        "hallwatch_alerts_open{hall=\"h1\",rule=\"bad_rating\",severity=\"critical\"} 1"
    ));
    assert!(metrics.contains("hallwatch_events_applied_total{kind=\"finish\"} 1"));
    let count = |name: &str| -> u64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} in {metrics}"))
    };
    assert!(count("hallwatch_ingest_to_broadcast_seconds_count") >= 6);
    assert!(count("hallwatch_store_batch_size_count") >= 1);
    assert!(count("hallwatch_store_commit_seconds_count") >= 1);

    // The region channel: the summary of every hall in the token's scope.
    let mut region = ws_connect(app.port, "/ws/region?token=m-secret")
        .await
        .unwrap();
    let snap = next_of(&mut region, "snapshot", |_| true).await;
    let halls = snap["halls"].as_array().unwrap();
    assert_eq!(halls.len(), 1);
    assert_eq!(
        (halls[0]["hall"].as_str(), halls[0]["served_today"].as_i64()),
        (Some("h1"), Some(1))
    );
    assert_eq!(
        halls[0]["alerts_by_severity"]["critical"], 3,
        "02 and 03 unattended, the bad review"
    );
    dev.request(KIOSK, json!({"service": "GA"})).await;
    let s = next_of(&mut region, "summary", |v| v["issued_today"] == 2).await;
    assert_eq!(s["waiting"]["GA"], 1);
    // Out of scope: nothing to see.
    let mut other = ws_connect(app.port, "/ws/region?token=t-secret")
        .await
        .unwrap();
    let snap = next_of(&mut other, "snapshot", |_| true).await;
    assert!(snap["halls"].as_array().unwrap().is_empty());

    // The retained summary carries the same figures.
    let mut watcher = Device::connect(broker.port, "summary", &["hallwatch/h1/summary"]).await;
    let summary = watcher
        .expect_where("hallwatch/h1/summary", |v| v["issued_today"] == 2)
        .await;
    assert_eq!(summary["satisfaction_rate"], 0.0);
    assert!(summary["advice"].is_array());
    app.stop().await;
}

async fn stats(port: u16, query: &str, token: &str) -> HttpAnswer {
    http_request(
        port,
        "GET",
        &format!("/api/halls/h1/stats{query}"),
        &[("Authorization", &format!("Bearer {token}"))],
        "",
    )
    .await
}

/// Monday: two tickets; B001 waits 2 min and is served in 5 with a 5-star
/// rating; G001 waits 7.5 min and does not come.
async fn scripted_day(broker: &Broker, clock: &ManualClock) {
    let mut dev = Device::replies(broker.port, "day").await;
    op(
        &mut dev,
        "01",
        json!({"op": "login", "staff": "S001", "staff_name": "李敏"}),
    )
    .await;
    dev.request(KIOSK, json!({"service": "SB"})).await;
    dev.request(KIOSK, json!({"service": "GA"})).await;
    clock.advance(chrono::Duration::seconds(120));
    assert_eq!(
        op(&mut dev, "01", json!({"op": "call_next"})).await["ticket"],
        "B001"
    );
    clock.advance(chrono::Duration::seconds(30));
    op(&mut dev, "01", json!({"op": "start"})).await;
    clock.advance(chrono::Duration::seconds(300));
    op(
        &mut dev,
        "01",
        json!({"op": "finish", "outcome": "completed"}),
    )
    .await;
    let r = dev.request(&rater("01"), json!({"score": 5})).await;
    assert_eq!(r["ok"], true);
    assert_eq!(
        op(&mut dev, "01", json!({"op": "call_next"})).await["ticket"],
        "G001"
    );
    clock.advance(chrono::Duration::seconds(10));
    op(&mut dev, "01", json!({"op": "no_show"})).await;
}

fn check_day(f: &Value) {
    let t = &f["total"];
    assert_eq!(
        (t["issued"].as_i64(), t["called"].as_i64()),
        (Some(2), Some(2))
    );
    assert_eq!(
        (t["served"].as_i64(), t["missed"].as_i64()),
        (Some(1), Some(1))
    );
    assert_eq!(t["missed_rate"], 0.5);
    assert_eq!(t["avg_wait_s"], 285.0, "(120 + 450) / 2");
    assert_eq!(t["max_wait_s"], 450);
    assert_eq!(t["avg_service_s"], 300.0);
    assert_eq!(t["on_the_spot_rate"], 1.0);
    assert_eq!(
        (t["satisfaction_rate"].as_f64(), t["rating_rate"].as_f64()),
        (Some(1.0), Some(1.0))
    );
    assert_eq!(t["load"], 0.04);
    assert_eq!(f["windows"][0]["served"], 1);
    assert_eq!(f["staff"][0]["key"], "S001");
    assert_eq!(f["staff"][0]["name"], "李敏");
    assert_eq!(f["services"][1]["missed"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_days_figures_are_live_kept_at_midnight_and_counted_again_from_the_log() {
    let Some(broker) = Broker::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_url(dir.path());
    let clock = Arc::new(ManualClock::new(local(23, 10, 0, 0)));
    let app = TestApp::spawn_with_clock(managed(&broker, &db, "mgr-b"), clock.clone()).await;
    scripted_day(&broker, &clock).await;

    // Today, live.
    let live = stats(app.port, "", "m-secret").await;
    assert_eq!(live.status, 200, "{}", live.body);
    let live = live.json();
    assert_eq!(
        (live["date"].as_str(), live["complete"].as_bool()),
        (Some("2026-11-23"), Some(false))
    );
    check_day(&live);
    let by = stats(app.port, "?by=window", "m-secret").await.json();
    assert_eq!(by["by"], "window");
    assert_eq!(by["rows"].as_array().unwrap().len(), 3);
    assert_eq!(by["rows"][0]["status_s"]["serving"], 300);
    let by = stats(app.port, "?date=2026-11-23&by=staff", "s-secret")
        .await
        .json();
    assert_eq!(
        by["rows"][0]["name"], "李敏",
        "supervisors read figures too"
    );

    // The CSV: a byte-order mark, CRLF, Chinese headers, a row per group.
    let csv = stats(app.port, "?format=csv", "m-secret").await;
    assert_eq!(csv.status, 200);
    assert_eq!(csv.header("content-type"), Some("text/csv; charset=utf-8"));
    assert_eq!(
        csv.header("content-disposition"),
        Some("attachment; filename=\"hallwatch-h1-2026-11-23.csv\"")
    );
    assert!(
        csv.body.starts_with('\u{feff}'),
        "a BOM so Excel reads UTF-8"
    );
    let lines: Vec<&str> = csv
        .body
        .trim_start_matches('\u{feff}')
        .split("\r\n")
        .collect();
    assert!(lines[0].starts_with("日期,类别,编号,名称,取号数,叫号数,办结数,过号数,过号率(%)"));
    assert_eq!(
        lines.len(),
        1 + 1 + 2 + 3 + 1 + 1,
        "header, hall, 2 services, 3 windows, 1 person, end"
    );
    assert!(
        lines[1]
            .starts_with("2026-11-23,全厅,h1,测试县政务服务中心,2,2,1,1,50.0,4.8,7.5,5.0,25,4.0,"),
        "{}",
        lines[1]
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("2026-11-23,工作人员,S001,李敏,,2,1,1,"))
    );
    assert_eq!(lines.last(), Some(&""));
    let csv = stats(app.port, "?format=csv&by=service", "m-secret").await;
    assert_eq!(csv.body.trim_end().split("\r\n").count(), 3);

    // Bad requests say which parameter is wrong and change nothing.
    for (query, field) in [
        ("?by=floor", "by:"),
        ("?format=xlsx", "format:"),
        ("?date=23/11/2026", "date:"),
        ("?date=2026-11-24", "date:"),
    ] {
        let r = stats(app.port, query, "m-secret").await;
        assert_eq!(r.status, 400, "{query}");
        assert_eq!(r.json()["error"], "bad_request");
        assert!(
            r.json()["message"].as_str().unwrap().starts_with(field),
            "{}",
            r.body
        );
    }
    assert_eq!(stats(app.port, "", "t-secret").await.status, 403);
    assert_eq!(stats(app.port, "", "nope").await.status, 401);
    let r = http_request(
        app.port,
        "GET",
        "/api/halls/nope/stats",
        &[("Authorization", "Bearer m-secret")],
        "",
    )
    .await;
    assert_eq!(r.status, 404);

    // Midnight: the day ends and its figures are kept.
    clock.set(local(24, 0, 0, 5));
    let kept = eventually(10, async || {
        let store = hallwatch::store::Store::open(&db).await.ok()?;
        let row = store.daily_figures("h1", "2026-11-23").await.ok()?;
        store.close().await;
        row
    })
    .await;
    assert_eq!(kept["complete"], true);
    check_day(&kept);
    let past = stats(app.port, "?date=2026-11-23", "m-secret").await.json();
    assert_eq!(past, kept, "a past day is read as it was kept");
    let today = stats(app.port, "", "m-secret").await.json();
    assert_eq!(
        (today["date"].as_str(), today["total"]["issued"].as_i64()),
        (Some("2026-11-24"), Some(0))
    );
    app.stop().await;

    // A day whose figures were never kept is counted again from its log.
    {
        let pool = sqlx::sqlite::SqlitePool::connect(&db).await.unwrap();
        sqlx::query("DELETE FROM daily_figures")
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    }
    clock.set(local(28, 10, 0, 0));
    let app = TestApp::spawn_with_clock(managed(&broker, &db, "mgr-b"), clock.clone()).await;
    let counted = stats(app.port, "?date=2026-11-23", "m-secret").await;
    assert_eq!(counted.status, 200, "{}", counted.body);
    let counted = counted.json();
    assert_eq!(counted["complete"], true);
    check_day(&counted);
    let mut a = counted.clone();
    let mut b = kept.clone();
    a["at"] = Value::Null;
    b["at"] = Value::Null;
    assert_eq!(a, b, "counted again, the same figures");
    // ...and kept this time.
    let store = hallwatch::store::Store::open(&db).await.unwrap();
    assert!(
        store
            .daily_figures("h1", "2026-11-23")
            .await
            .unwrap()
            .is_some()
    );
    store.close().await;
    app.stop().await;
}
