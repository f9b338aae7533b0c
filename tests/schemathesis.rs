//! The served OpenAPI document and the server agree, as an outside tool
//! sees it: schemathesis generates requests from the document (its
//! examples, the edges of every parameter and body, and random ones) with
//! and without a token, and checks every answer against the document: its
//! status, headers and body schema, that bad input is refused, that a
//! protected route refuses a missing token, that an unsupported method is
//! 405 with `Allow`, and that nothing answers 5xx.
//!
//! The WebSocket channels are left out: an HTTP client cannot follow a
//! handshake it made valid into the protocol it switches to (it waits for a
//! body that never ends). Their plain-HTTP answers (400, 401, 403, 404)
//! are checked against the document by tests/openapi.rs.
//!
//! Bounded: a fixed number of examples per operation and phase, and a
//! deadline for the whole run.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;
use hallwatch::config::Role;

/// Examples per operation and phase.
const EXAMPLES: &str = "15";

/// Each request comes from another client, as the server's trusted proxy
/// (loopback, in this test) names it: hundreds of requests a minute, many
/// with made-up tokens, would otherwise meet the per-client budgets, and
/// the answers would test the budgets rather than the routes.
const HOOKS: &str = r#"
import itertools

import schemathesis

_client = itertools.count(1)


@schemathesis.hook
def before_call(context, case, kwargs):
    n = next(_client)
    headers = dict(case.headers or {})
    headers["X-Forwarded-For"] = f"198.18.{(n // 250) % 250}.{n % 250 + 1}"
    case.headers = headers
"#;

/// Whether the `schemathesis` command is here; in CI its absence is an
/// error, elsewhere a skip that says how to install it.
fn schemathesis_installed() -> bool {
    let ok = Command::new("schemathesis")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        let hint = "python3 -m pip install schemathesis (scripts/setup.sh does)";
        if required("HALLWATCH_REQUIRE_BROKER") {
            panic!("schemathesis is not installed and HALLWATCH_REQUIRE_BROKER=1: {hint}");
        }
        eprintln!("SKIPPED: schemathesis is not installed: {hint}");
    }
    ok
}

/// One schemathesis run against the server on `port`; its report when it
/// found a failure.
async fn run(port: u16, headers: &[&str], dir: &std::path::Path) -> Result<String, String> {
    let mut cmd = tokio::process::Command::new("schemathesis");
    cmd.arg("run")
        .arg(format!("http://127.0.0.1:{port}/api/openapi.json"))
        .args(["--url", &format!("http://127.0.0.1:{port}")])
        .args(["--checks", "all"])
        .args(["--exclude-path-regex", "^/ws/"])
        .args(["--phases", "examples,coverage,fuzzing"])
        .args(["--max-examples", EXAMPLES])
        .args(["--seed", "20261205"])
        .args(["--request-timeout", "10"])
        .args(["--no-color"])
        .env("SCHEMATHESIS_HOOKS", "hallwatch_hooks")
        .env("PYTHONPATH", dir)
        .current_dir(dir)
        .kill_on_drop(true);
    for h in headers {
        cmd.args(["--header", h]);
    }
    let out = tokio::time::timeout(Duration::from_secs(240), cmd.output())
        .await
        .map_err(|_| "schemathesis took over 240 s".to_owned())?
        .map_err(|e| format!("schemathesis did not run: {e}"))?;
    let report = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(report)
    } else {
        Err(report)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_the_server_as_its_document_says() {
    if !schemathesis_installed() {
        return;
    }
    let Some(broker) = Broker::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(&broker.url(), &sqlite_url(dir.path()), "schemathesis");
    s.tokens = vec![
        token("值班长", Role::Manager, &["h1"], "m-secret"),
        token("效能监察室", Role::Supervisor, &["*"], "s-secret"),
        token("运维", Role::Admin, &["*"], "a-secret"),
    ];
    s.server.trusted_proxies = vec!["127.0.0.1".into()];
    let app = TestApp::spawn(s).await;
    let port = app.port;
    // A hall with something in it: a ticket, so the snapshot and figures
    // are not empty.
    let mut kiosk =
        Device::connect(broker.port, "st-kiosk", &["hallwatch/h1/kiosk/k1/reply"]).await;
    let r = kiosk
        .request(
            "hallwatch/h1/kiosk/k1/request",
            serde_json::json!({"service": "SB"}),
        )
        .await;
    assert_eq!(r["ok"], true, "{r}");

    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("hallwatch_hooks.py"), HOOKS).unwrap();
    for (who, headers) in [
        ("without a token", vec![]),
        (
            "with an admin token",
            vec!["Authorization: Bearer a-secret"],
        ),
    ] {
        match run(port, &headers, work.path()).await {
            Ok(report) => {
                let summary: Vec<&str> = report
                    .lines()
                    .filter(|l| l.contains("passed") || l.contains("generated"))
                    .collect();
                println!("schemathesis {who}: {}", summary.join(" / "));
            }
            Err(report) => panic!("schemathesis {who} found failures:\n{report}"),
        }
    }
    app.stop().await;
}
