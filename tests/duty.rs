//! A 延时服务 Saturday end to end over MQTT, on an injected clock: only the
//! window on duty raises 空岗 (naming its A角 and asking for its B角) and
//! device alerts; the windows off duty and the spare raise nothing; an
//! unregistered 工号 is refused.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use hallwatch::clock::ManualClock;
use hallwatch::config::Settings;
use serde_json::{Value, json};

const DUTY_HALL: &str = r#"
[[departments]]
code = "gaj"
name = "县公安局"

[calendar]
holidays = ["2026-10-01..2026-10-07"]

[[halls]]
id = "h1"
name = "测试镇便民服务中心"
level = "township"
kiosks = ["k1"]
hours = { weekdays = ["09:00-12:00", "13:30-17:30"] }

[[halls.staff]]
id = "S001"
name = "张三"
department = "gaj"

[[halls.staff]]
id = "S002"
name = "李四"
department = "gaj"

[[halls.services]]
code = "GA"
name = "公安"
prefix = "G"
department = "gaj"

[[halls.windows]]
id = "01"
name = "1号窗口"
kind = "domain"
services = ["GA"]

[[halls.windows.duty]]
days = ["weekdays"]
hours = ["09:00-12:00", "13:30-17:30"]
a = "S002"
b = "S001"

[[halls.windows.duty]]
days = ["sat"]
hours = ["09:00-12:00"]
a = "S001"
b = "S002"

[[halls.windows]]
id = "02"
name = "2号窗口"
kind = "comprehensive"
services = ["GA"]

[[halls.windows]]
id = "03"
name = "3号窗口"
kind = "comprehensive"
services = ["GA"]
on_rota = false
"#;

fn duty_settings(broker: &Broker, db: &str) -> Settings {
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\ndatabase_url = \"{db}\"\n\
         [mqtt]\nbroker = \"{}\"\nclient_id = \"duty-sat\"\nprefix = \"hallwatch\"\n{DUTY_HALL}",
        broker.url()
    );
    Settings::parse(&text).expect("duty settings")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_service_saturday_only_the_window_on_duty_raises_unattended_and_device_alerts() {
    let Some(broker) = Broker::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_url(dir.path());
    // Saturday 2026-11-28, 09:00 in the hall.
    let saturday = t0() + chrono::Duration::days(5);
    let clock = Arc::new(ManualClock::new(saturday));
    let app = TestApp::spawn_with_clock(duty_settings(&broker, &db), clock.clone()).await;
    let mut dev = Device::connect(
        broker.port,
        "duty-dev",
        &["hallwatch/h1/alert", "hallwatch/h1/window/02/reply"],
    )
    .await;
    // Every window's terminal, and 02's rating pad, switched off.
    for device in ["w01", "w02", "r02", "w03", "r03"] {
        for online in [true, false] {
            dev.publish(
                &format!("hallwatch/h1/device/{device}/status"),
                json!({ "online": online }).to_string(),
            )
            .await;
        }
    }
    // An unregistered 工号 is refused.
    let reply = dev
        .request(&window("02"), json!({"op": "login", "staff": "S999"}))
        .await;
    assert!(reply.to_string().contains("unknown_staff"), "{reply}");

    // 40 minutes into the Saturday duty.
    clock.set(saturday + chrono::Duration::minutes(40));
    let unattended = dev
        .expect_where("hallwatch/h1/alert", |a| {
            a["rule"] == "window_unattended" && a["window"] == "01"
        })
        .await;
    let message = unattended["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("A角 张三 未到岗，请 B角 李四 顶岗"),
        "{unattended}"
    );
    assert_eq!(unattended["department"], "gaj", "{unattended}");
    dev.expect_where("hallwatch/h1/alert", |a| {
        a["rule"] == "device_offline" && a["window"] == "01"
    })
    .await;
    // Nothing about the windows off duty: 02 (the hall's weekday hours) and
    // the spare 03, though the centre is open.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    let mut seen: Vec<Value> = Vec::new();
    while tokio::time::Instant::now() < deadline {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let got = tokio::time::timeout(
            left,
            dev.expect_within("hallwatch/h1/alert", left + Duration::from_secs(5), |_| {
                true
            }),
        )
        .await;
        match got {
            Ok(v) => seen.push(v),
            Err(_) => break,
        }
    }
    for a in &seen {
        assert!(
            a["window"] != "02" && a["window"] != "03",
            "an alert about a window off duty: {a}"
        );
    }
    app.stop().await;
}

/// A staff member's third lapse of the month, counted across a restart:
/// 李四 (A角 of window 01 on weekdays) is not there at 09:05 on Monday and
/// on Tuesday (and arrives late, staying the day); the server restarts on Wednesday replaying one day, so
/// Monday's lapse comes from its kept figures; Wednesday's third lapse
/// raises a critical `repeat_finding` escalated at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_third_lapse_in_a_month_is_counted_across_a_restart() {
    let Some(broker) = Broker::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_url(dir.path());
    let settings = || {
        let mut s = duty_settings(&broker, &db);
        s.server.replay_days = 1;
        s
    };
    let monday = t0();
    let minutes = chrono::Duration::minutes;
    let clock = Arc::new(ManualClock::new(monday));
    let app = TestApp::spawn_with_clock(settings(), clock.clone()).await;
    let mut dev = Device::connect(
        broker.port,
        "repeat-dev",
        &["hallwatch/h1/alert", "hallwatch/h1/window/01/reply"],
    )
    .await;
    let login = json!({"op": "login", "staff": "S002"});
    for day in 0..2 {
        let morning = monday + chrono::Duration::days(day);
        clock.set(morning + minutes(6));
        // Not arrived at 09:05: the unattended alert follows at 09:15.
        clock.set(morning + minutes(16));
        dev.expect_where("hallwatch/h1/alert", |a| {
            a["rule"] == "window_unattended" && a["state"] == "open"
        })
        .await;
        // Late, and then at the window for the rest of the day.
        let reply = dev.request(&window("01"), login.clone()).await;
        assert!(!reply.to_string().contains("refused"), "{reply}");
    }
    // Tuesday's end, then a restart on Wednesday morning.
    clock.set(monday + chrono::Duration::days(2) - minutes(1));
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.stop().await;
    let wednesday = monday + chrono::Duration::days(2);
    clock.set(wednesday);
    let app = TestApp::spawn_with_clock(settings(), clock.clone()).await;
    clock.set(wednesday + minutes(5));
    let repeat = dev
        .expect_where("hallwatch/h1/alert", |a| a["rule"] == "repeat_finding")
        .await;
    assert_eq!(repeat["severity"], "critical", "{repeat}");
    assert_eq!(repeat["escalated"], true, "{repeat}");
    assert_eq!(repeat["department"], "gaj", "{repeat}");
    // Wednesday's, not one of the two days before.
    assert_eq!(repeat["opened_at"], "2026-11-25T09:05:00+08:00", "{repeat}");
    let message = repeat["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("李四（工号 S002）本月第 3 次") && message.contains("未到岗"),
        "{repeat}"
    );
    app.stop().await;
}

/// A new store watches from its first day: the weekdays before it, which
/// the replay window covers, are not ended as days every rostered staff
/// member missed (that would be a 屡查屡犯 for everyone on the third day).
/// The day it watched is kept, with its A角 not arrived at either shift.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_store_counts_no_absence_before_its_first_day() {
    let Some(broker) = Broker::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_url(dir.path());
    // Wednesday 2026-11-25, 09:00 in the hall; the replay window (two
    // days) reaches back to Monday.
    let wednesday = t0() + chrono::Duration::days(2);
    let clock = Arc::new(ManualClock::new(wednesday));
    let settings = duty_settings(&broker, &db);
    assert_eq!(settings.server.replay_days, 2);
    let app = TestApp::spawn_with_clock(settings, clock.clone()).await;
    // Thursday's opening: Wednesday has ended.
    clock.set(wednesday + chrono::Duration::days(1));
    let store = hallwatch::store::Store::open(&db).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let kept = loop {
        let kept = store
            .daily_figures_between("h1", "2026-11-01", "2026-11-30")
            .await
            .unwrap();
        if !kept.is_empty() || tokio::time::Instant::now() > deadline {
            break kept;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    app.stop().await;
    let dates: Vec<&str> = kept.iter().filter_map(|f| f["date"].as_str()).collect();
    assert_eq!(dates, ["2026-11-25"], "{kept:?}");
    let li_si = kept[0]["staff"]
        .as_array()
        .and_then(|s| s.iter().find(|f| f["key"] == "S002"))
        .cloned()
        .unwrap_or_default();
    // Neither of Wednesday's two shifts (morning, afternoon) was arrived at.
    assert_eq!(li_si["attendance"]["shifts"], 2, "{li_si}");
    assert_eq!(li_si["attendance"]["not_arrived"], 2, "{li_si}");
    store.close().await;
}
