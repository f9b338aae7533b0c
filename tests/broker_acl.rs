//! The broker access list `hallwatch broker-acl` generates, on a real
//! Mosquitto with a password per device: a kiosk gets its tickets, but
//! cannot publish as a window, as another kiosk or in another hall, nor
//! read another device's replies; the server's user does all it needs.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

fn passwd(file: &std::path::Path, user: &str, password: &str, create: bool) {
    let mut cmd = std::process::Command::new("mosquitto_passwd");
    if create {
        cmd.arg("-c");
    }
    let status = cmd
        .arg("-b")
        .arg(file)
        .args([user, password])
        .status()
        .expect("mosquitto_passwd (part of the mosquitto package)");
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_can_use_only_its_own_topics() {
    let auth = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings("mqtt://127.0.0.1:1", &sqlite_url(dir.path()), "hw-acl");
    // The list and the passwords, readable by the broker's own user.
    let acl = auth.path().join("acl");
    std::fs::write(
        &acl,
        hallwatch::mqtt::acl::mosquitto_acl("hallwatch", &s.halls, "hallwatch"),
    )
    .unwrap();
    let passwords = auth.path().join("passwords");
    if std::process::Command::new("mosquitto_passwd")
        .arg("-h")
        .output()
        .is_err()
    {
        if required("HALLWATCH_REQUIRE_BROKER") {
            panic!("mosquitto_passwd is missing: install mosquitto");
        }
        eprintln!("SKIPPED: mosquitto_passwd is missing");
        return;
    }
    passwd(&passwords, "hallwatch", "server-pass", true);
    for (user, pass) in [
        ("h1.k1", "k1-pass"),
        ("h1.k2", "k2-pass"),
        ("h1.w01", "w01-pass"),
    ] {
        passwd(&passwords, user, pass, false);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for p in [auth.path(), acl.as_path(), passwords.as_path()] {
            let mode = if p.is_dir() { 0o755 } else { 0o644 };
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
        }
    }
    let Some(broker) = Broker::start_with(&format!(
        "allow_anonymous false\npassword_file {}\nacl_file {}",
        passwords.display(),
        acl.display()
    )) else {
        return;
    };
    s.mqtt.broker = broker.url();
    s.mqtt.username = Some("hallwatch".into());
    s.mqtt.password = Some("server-pass".into());
    let app = TestApp::spawn(s).await;

    let mut k1 = Device::connect_as(
        broker.port,
        "k1",
        Some(("h1.k1", "k1-pass")),
        // Its own replies, and (denied) a window's.
        &[
            "hallwatch/h1/kiosk/k1/reply",
            "hallwatch/h1/window/01/reply",
        ],
    )
    .await;
    let mut k2 = Device::connect_as(
        broker.port,
        "k2",
        Some(("h1.k2", "k2-pass")),
        &["hallwatch/h1/kiosk/k2/reply"],
    )
    .await;
    let mut w01 = Device::connect_as(
        broker.port,
        "w01",
        Some(("h1.w01", "w01-pass")),
        &["hallwatch/h1/window/01/reply"],
    )
    .await;

    // The kiosk's own request: allowed, answered.
    let r = k1.request(KIOSK, json!({"service": "SB"})).await;
    assert_eq!(
        (r["ok"].as_bool(), r["ticket"].as_str()),
        (Some(true), Some("B001"))
    );

    // As a window, as the other kiosk, in another hall: the broker drops them.
    let login = json!({"id": "k1-x1", "op": "login", "staff": "S9", "staff_name": "冒名"});
    k1.publish(&window("01"), login.to_string()).await;
    let as_k2 = json!({"id": "k1-x2", "service": "SB"});
    k1.publish("hallwatch/h1/kiosk/k2/request", as_k2.to_string())
        .await;
    let elsewhere = json!({"id": "k1-x3", "service": "SB"});
    k1.publish("hallwatch/h2/kiosk/k1/request", elsewhere.to_string())
        .await;
    // A request of its own after them: once it is answered, the broker has
    // dealt with everything k1 sent before.
    let r = k1.request(KIOSK, json!({"service": "GA"})).await;
    assert_eq!(r["ticket"], "G001", "B002 was never issued for the fake k2");

    // The window never logged in: its own terminal is refused for that.
    let r = w01.request(&window("01"), json!({"op": "call_next"})).await;
    assert_eq!(r["error"], "not_logged_in", "{r}");
    // That reply went to the terminal, not to the kiosk listening in.
    k1.expect_silence("hallwatch/h1/window/01/reply", Duration::from_millis(800))
        .await;
    k2.expect_silence("hallwatch/h1/kiosk/k2/reply", Duration::from_millis(300))
        .await;
    let (_, metrics) = app.get("/metrics").await;
    assert!(
        metrics.contains("hallwatch_rejections_total{reason=\"unknown_hall\"} 0"),
        "the other hall's message never reached the server"
    );
    let snap = app.get_json("/api/halls/h1/snapshot").await.unwrap();
    assert_eq!(snap["windows"][0]["status"], "offline");
    assert_eq!(snap["queues"][0]["waiting"], 1, "B001 only");
    app.stop().await;
}
