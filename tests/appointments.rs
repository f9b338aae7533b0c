//! Appointments over REST and at the kiosk: the booking platform books and
//! cancels (role `booking`), the API's refusals, check-in at the kiosk
//! inside and outside the window, bookings that outlive a restart, and 爽约
//! in the day's figures.

mod common;

use std::sync::Arc;

use chrono::Duration;
use common::*;
use hallwatch::clock::ManualClock;
use serde_json::{Value, json};

const PLATFORM: (&str, &str) = ("Authorization", "Bearer p-secret");

fn slot(h: u32, m: u32) -> Value {
    let end = if m == 30 { (h + 1, 0) } else { (h, 30) };
    json!({
        "service": "SB",
        "slot_start": format!("2026-11-23T{h:02}:{m:02}:00+08:00"),
        "slot_end": format!("2026-11-23T{:02}:{:02}:00+08:00", end.0, end.1),
    })
}

async fn put(app: &TestApp, reference: &str, body: &Value, auth: (&str, &str)) -> HttpAnswer {
    http_request(
        app.port,
        "PUT",
        &format!("/api/halls/h1/appointments/{reference}"),
        &[auth, ("Content-Type", "application/json")],
        &body.to_string(),
    )
    .await
}

async fn delete(app: &TestApp, reference: &str) -> HttpAnswer {
    http_request(
        app.port,
        "DELETE",
        &format!("/api/halls/h1/appointments/{reference}"),
        &[PLATFORM],
        "",
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_booking_platform_books_and_kiosks_check_in_within_the_window() {
    let Some(broker) = Broker::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(&broker.url(), &sqlite_url(dir.path()), "hw-booking");
    s.tokens = vec![
        token(
            "一网通办预约平台",
            hallwatch::config::Role::Booking,
            &["h1"],
            "p-secret",
        ),
        token(
            "值班主任",
            hallwatch::config::Role::Manager,
            &["h1"],
            "m-secret",
        ),
    ];
    let clock = Arc::new(ManualClock::new(t0()));
    let app = TestApp::spawn_with_clock(s.clone(), clock.clone()).await;

    // Booked, and the same booking again is one.
    let a = put(&app, "YY-1", &slot(10, 0), PLATFORM).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.json()["state"], "booked");
    assert_eq!(a.header("hallwatch-duplicate"), Some("0"));
    let again = put(&app, "YY-1", &slot(10, 0), PLATFORM).await;
    assert_eq!(again.header("hallwatch-duplicate"), Some("1"));

    // Refusals: the wrong role, a slot off the grid or in the lunch break,
    // an unknown service, a full slot, an unknown booking, a bad body.
    let manager = put(
        &app,
        "YY-9",
        &slot(10, 0),
        ("Authorization", "Bearer m-secret"),
    )
    .await;
    assert_eq!(manager.status, 403);
    let nobody = put(&app, "YY-9", &slot(10, 0), ("X-Nobody", "1")).await;
    assert_eq!(nobody.status, 401);
    let mut off = slot(10, 0);
    off["slot_start"] = json!("2026-11-23T10:10:00+08:00");
    off["slot_end"] = json!("2026-11-23T10:40:00+08:00");
    let r = put(&app, "YY-9", &off, PLATFORM).await;
    assert_eq!(
        (r.status, r.json()["error"].clone()),
        (409, json!("bad_slot"))
    );
    let r = put(&app, "YY-9", &slot(12, 0), PLATFORM).await;
    assert_eq!(r.json()["error"], "bad_slot", "lunch");
    let mut unknown = slot(10, 0);
    unknown["service"] = json!("XX");
    let r = put(&app, "YY-9", &unknown, PLATFORM).await;
    assert_eq!(
        (r.status, r.json()["error"].clone()),
        (404, json!("unknown_service"))
    );
    for n in 2..=4 {
        let r = put(&app, &format!("YY-{n}"), &slot(10, 0), PLATFORM).await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let r = put(&app, "YY-5", &slot(10, 0), PLATFORM).await;
    assert_eq!(
        (r.status, r.json()["error"].clone()),
        (409, json!("slot_full"))
    );
    let r = delete(&app, "YY-404").await;
    assert_eq!(
        (r.status, r.json()["error"].clone()),
        (404, json!("unknown_appointment"))
    );
    let r = put(&app, "YY-9", &json!({"service": "SB"}), PLATFORM).await;
    assert_eq!(r.status, 400, "{}", r.body);

    // At the kiosk: too early is a normal ticket that says why.
    let mut dev = Device::replies(broker.port, "dev").await;
    let early = dev
        .request(
            KIOSK,
            json!({"service": "SB", "priority": "appointment", "appointment": "YY-1"}),
        )
        .await;
    assert_eq!(early["ok"], true, "{early}");
    assert_eq!(early["priority"], "normal");
    assert!(
        early["appointment_note"]
            .as_str()
            .unwrap()
            .contains("签到时间为 09:30-10:15"),
        "{early}"
    );
    clock.advance(Duration::minutes(40));
    let on_time = dev
        .request(
            KIOSK,
            json!({"service": "SB", "priority": "appointment", "appointment": "YY-1"}),
        )
        .await;
    assert_eq!(on_time["priority"], "appointment", "{on_time}");
    assert!(on_time.get("appointment_note").is_none(), "{on_time}");
    // Checked in: it cannot be cancelled; another one can.
    let r = delete(&app, "YY-1").await;
    assert_eq!(
        (r.status, r.json()["error"].clone()),
        (409, json!("appointment_closed"))
    );
    let r = delete(&app, "YY-2").await;
    assert_eq!(
        (r.status, r.json()["state"].clone()),
        (200, json!("cancelled"))
    );
    app.stop().await;

    // Bookings outlive a restart: the store keeps them.
    let app = TestApp::spawn_with_clock(s, clock.clone()).await;
    let r = put(&app, "YY-3", &slot(10, 0), PLATFORM).await;
    assert_eq!(r.header("hallwatch-duplicate"), Some("1"), "{}", r.body);
    let r = delete(&app, "YY-2").await;
    assert_eq!(r.header("hallwatch-duplicate"), Some("1"), "{}", r.body);

    // At 10:15 the two not checked in are 爽约.
    clock.advance(Duration::minutes(35));
    let figures = eventually(10, async || {
        let a = http_request(app.port, "GET", "/api/halls/h1/stats", &[PLATFORM], "").await;
        let f = a.json()["appointments"].clone();
        (f["no_show"] == 2).then_some(f)
    })
    .await;
    assert_eq!(figures["booked"], 4, "{figures}");
    assert_eq!(figures["cancelled"], 1);
    assert_eq!(figures["checked_in"], 1);
    assert_eq!(figures["on_time"], 1);
    app.stop().await;
}
