//! The OpenAPI document served at `/api/openapi.json`: valid OpenAPI 3.1,
//! complete against the routes in `src/http`, and true to what the server
//! answers, over HTTP and on every WebSocket channel. The code generates it;
//! `docs/openapi.json` holds a copy for readers and clients, which must be
//! what the code generates.
//!
//! The validity check and the schema checks run Python's
//! `openapi-spec-validator` (and the `jsonschema` it depends on); without
//! them the test says SKIPPED, unless `HALLWATCH_REQUIRE_BROKER=1` (CI),
//! where it fails. `scripts/setup.sh` installs them.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use common::*;
use futures_util::{SinkExt, StreamExt};
use hallwatch::clock::ManualClock;
use hallwatch::config::{Role, Settings};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

const ADMIN: &str = "Bearer a-secret";
const MANAGER: &str = "Bearer m-secret";

/// The prefixes of the API's own routes (the pages' catch-all aside).
const API_PREFIXES: [&str; 4] = ["/api/", "/ws/", "/healthz", "/metrics"];

fn with_tokens(broker: &Broker, dir: &tempfile::TempDir, client: &str) -> Settings {
    let mut s = settings(&broker.url(), &sqlite_url(dir.path()), client);
    s.tokens = vec![
        token("值班长", Role::Manager, &["h1"], "m-secret"),
        token("效能监察室", Role::Supervisor, &["*"], "s-secret"),
        token("管理员", Role::Admin, &["*"], "a-secret"),
    ];
    s
}

const DOC_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.json");

fn doc_on_disk() -> String {
    std::fs::read_to_string(DOC_FILE).expect("read docs/openapi.json")
}

async fn served_doc(port: u16) -> (String, Value) {
    let r = http_request(port, "GET", "/api/openapi.json", &[], "").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let doc = r.json();
    (r.body, doc)
}

/// Whether `python3` can import `modules`; when it cannot, the test fails
/// under `HALLWATCH_REQUIRE_BROKER=1` and otherwise says it skips.
fn python_has(modules: &str) -> bool {
    let ok = Command::new("python3")
        .args(["-c", &format!("import {modules}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        let hint = "python3 -m pip install openapi-spec-validator (scripts/setup.sh does)";
        if required("HALLWATCH_REQUIRE_BROKER") {
            panic!("python3 cannot import {modules} and HALLWATCH_REQUIRE_BROKER=1: {hint}");
        }
        eprintln!("SKIPPED: python3 cannot import {modules}: {hint}");
    }
    ok
}

// ------------------------------------------------------------ the document

/// Follows local `$ref`s (`#/…`) until a value that is not one.
fn resolve<'a>(doc: &'a Value, mut v: &'a Value) -> &'a Value {
    for _ in 0..16 {
        let Some(r) = v.get("$ref").and_then(Value::as_str) else {
            return v;
        };
        let pointer = r.strip_prefix('#').expect("only local references");
        v = doc
            .pointer(pointer)
            .unwrap_or_else(|| panic!("dangling reference {r}"));
    }
    panic!("reference chain too long");
}

fn operation<'a>(doc: &'a Value, path: &str, method: &str) -> &'a Value {
    doc["paths"][path]
        .get(method)
        .unwrap_or_else(|| panic!("{} {path} is not documented", method.to_uppercase()))
}

/// `/api/halls/{hall}/stats` → `/api/halls/{}/stats`; `{file:.*}` → `{}`.
fn shape(path: &str) -> String {
    let mut out = String::new();
    let mut depth = 0;
    for c in path.chars() {
        match c {
            '{' => {
                if depth == 0 {
                    out.push_str("{}");
                }
                depth += 1;
            }
            '}' => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// Every documented (method, path).
fn documented(doc: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for m in METHODS {
            if item.get(m).is_some() {
                out.push((m.to_owned(), path.clone()));
            }
        }
    }
    out
}

/// Every `.route("…", web::method()…)` in `src/http/*.rs`, test modules
/// aside: (method, path).
fn routes_in_source() -> Vec<(String, String)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/http");
    let mut out = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("read src/http")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .collect();
    files.sort();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read source");
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        let mut rest = code;
        while let Some(i) = rest.find(".route(") {
            rest = &rest[i + ".route(".len()..];
            let Some(lit) = rest.trim_start().strip_prefix('"') else {
                continue;
            };
            let path = lit.split('"').next().unwrap_or("").to_owned();
            let method = lit
                .split_once("web::")
                .map(|(_, m)| m.split('(').next().unwrap_or("").to_owned())
                .unwrap_or_default();
            assert!(
                METHODS.contains(&method.as_str()),
                "cannot read the method of route {path:?} in {}",
                file.display()
            );
            out.push((method, path));
        }
    }
    out
}

/// A value for a path parameter: `h1` for the hall, a dummy alert id, else
/// the parameter's first enum value or example.
fn path_value(doc: &Value, op: &Value, name: &str) -> String {
    match name {
        "hall" => return "h1".into(),
        "id" => return "dummy".into(),
        _ => {}
    }
    let param = op["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| resolve(doc, p))
        .find(|p| p["name"] == name && p["in"] == "path")
        .unwrap_or_else(|| panic!("path parameter {name} is not described"));
    let schema = resolve(doc, &param["schema"]);
    let candidates = [
        schema["enum"][0].as_str(),
        param["example"].as_str(),
        param["examples"]
            .as_object()
            .and_then(|e| e.values().next())
            .and_then(|e| e["value"].as_str()),
    ];
    candidates
        .into_iter()
        .flatten()
        .next()
        .unwrap_or("x")
        .to_owned()
}

fn concrete(doc: &Value, op: &Value, path: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some((before, after)) = rest.split_once('{') {
        let (name, tail) = after.split_once('}').expect("closed parameter");
        out.push_str(before);
        out.push_str(&path_value(doc, op, name));
        rest = tail;
    }
    out.push_str(rest);
    out
}

// ------------------------------------------------------------ answers vs schemas

/// Schema checks to hand to Python's `jsonschema` in one go.
#[derive(Default)]
struct Cases(Vec<Value>);

impl Cases {
    fn push(&mut self, what: impl Into<String>, schema: &Value, instance: Value) {
        self.0
            .push(json!({"what": what.into(), "schema": schema, "instance": instance}));
    }
}

fn essence(media: &str) -> String {
    media
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Checks an HTTP answer against the operation's documented responses: the
/// status is documented, the media type too, each documented header with a
/// fixed value carries it, and a JSON body joins `cases` for its schema.
fn check_answer(doc: &Value, cases: &mut Cases, method: &str, path: &str, r: &HttpAnswer) -> Value {
    let op = operation(doc, path, method);
    let what = format!("{} {path} → {}", method.to_uppercase(), r.status);
    let resp = resolve(
        doc,
        op["responses"]
            .get(r.status.to_string())
            .unwrap_or_else(|| panic!("{what}: status not documented: {}", r.body)),
    );
    for (name, h) in resp["headers"].as_object().into_iter().flatten() {
        let h = resolve(doc, h);
        if let Some(fixed) = resolve(doc, &h["schema"])["const"].as_str() {
            assert_eq!(
                r.header(&name.to_ascii_lowercase()),
                Some(fixed),
                "{what}: header {name}"
            );
        }
    }
    let Some(content) = resp["content"].as_object() else {
        assert!(r.body.is_empty(), "{what}: undocumented body {}", r.body);
        return Value::Null;
    };
    if r.body.is_empty() {
        return Value::Null;
    }
    let served = essence(r.header("content-type").unwrap_or(""));
    let (_, media) = content
        .iter()
        .find(|(k, _)| essence(k) == served)
        .unwrap_or_else(|| panic!("{what}: content type {served} not documented"));
    if served != "application/json" {
        return Value::Null;
    }
    let body: Value = serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("{what}: {e}"));
    cases.push(what, &media["schema"], body.clone());
    body
}

const VALIDATE: &str = r#"
import json, sys
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match
doc = json.load(open(sys.argv[1], encoding="utf-8"))
cases = json.load(open(sys.argv[2], encoding="utf-8"))
bad = 0
for case in cases:
    schema = dict(case["schema"])
    schema["components"] = doc["components"]
    v = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    errors = list(v.iter_errors(case["instance"]))
    if errors:
        bad += 1
        e = best_match(errors)
        where = "/".join(map(str, e.absolute_path))
        print(f"{case['what']}: {len(errors)} error(s), e.g. at /{where}: {e.message[:400]}")
print(f"{len(cases)} answers checked against the document, {bad} do not match")
sys.exit(1 if bad else 0)
"#;

/// Runs the schema checks; false when Python cannot (and that is allowed).
fn validate_cases(doc: &Value, cases: &Cases) -> bool {
    if !python_has("jsonschema") {
        return false;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let doc_path = dir.path().join("openapi.json");
    let cases_path = dir.path().join("cases.json");
    std::fs::write(&doc_path, doc.to_string()).expect("write doc");
    std::fs::write(&cases_path, Value::Array(cases.0.clone()).to_string()).expect("write cases");
    let out = Command::new("python3")
        .args(["-c", VALIDATE])
        .arg(&doc_path)
        .arg(&cases_path)
        .output()
        .expect("run python3");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "answers that do not match the document:\n{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{}", text.trim());
    true
}

// ------------------------------------------------------------ WebSockets

async fn ws(port: u16, path: &str) -> Ws {
    match tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}{path}")).await {
        Ok((ws, _)) => ws,
        Err(e) => panic!("{path}: {e}"),
    }
}

/// Messages from `ws` until every type in `want` has come (5 s at most).
async fn collect(ws: &mut Ws, channel: &str, want: &[&str]) -> Vec<Value> {
    let mut seen = Vec::new();
    let mut missing: BTreeSet<&str> = want.iter().copied().collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !missing.is_empty() {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let Ok(Some(Ok(msg))) = tokio::time::timeout(left, ws.next()).await else {
            panic!("{channel}: no {missing:?} message within 5 s; got {seen:?}");
        };
        if let Message::Text(t) = msg {
            let v: Value = serde_json::from_str(&t).expect("JSON message");
            if let Some(kind) = v["type"].as_str() {
                missing.remove(kind);
            }
            seen.push(v);
        }
    }
    seen
}

/// The schema of what the server sends on a documented WebSocket channel.
fn server_messages(doc: &Value, path: &str) -> Value {
    let op = operation(doc, path, "get");
    assert!(
        op["responses"].get("101").is_some(),
        "{path}: no 101 response"
    );
    let schema = &op["x-websocket"]["serverMessages"];
    assert!(schema.is_object(), "{path}: no x-websocket.serverMessages");
    schema.clone()
}

/// Local time in the hall (Asia/Shanghai) on 23 November 2026.
fn local(hh: u32, mm: u32) -> DateTime<Utc> {
    chrono_tz::Asia::Shanghai
        .with_ymd_and_hms(2026, 11, 23, hh, mm, 0)
        .unwrap()
        .with_timezone(&Utc)
}

// ------------------------------------------------------------ the tests

#[test]
fn the_committed_document_is_the_generated_one() {
    let generated = hallwatch::http::openapi_json();
    let on_disk = doc_on_disk();
    if on_disk != generated {
        let line = on_disk
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| on_disk.lines().count().min(generated.lines().count()))
            + 1;
        panic!(
            "docs/openapi.json is not the document the code generates (first difference at \
             line {line}): run `cargo run -- schemas --out .` and commit docs/openapi.json"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_served_document_is_valid_openapi_3_1() {
    let Some(broker) = Broker::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::spawn(with_tokens(&broker, &dir, "openapi-valid")).await;
    let (text, doc) = served_doc(app.port).await;
    app.stop().await;

    assert_eq!(text, doc_on_disk(), "served verbatim");
    assert_eq!(doc["openapi"], "3.1.0");
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearerAuth"]["scheme"], "bearer");
    assert_eq!(schemes["cookieAuth"]["in"], "cookie");
    assert_eq!(schemes["cookieAuth"]["name"], "hallwatch_session");
    assert_eq!(schemes["queryToken"]["in"], "query");
    assert_eq!(schemes["queryToken"]["name"], "token");

    if !python_has("openapi_spec_validator") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("openapi.json");
    std::fs::write(&file, &text).unwrap();
    let out = Command::new("python3")
        .args(["-m", "openapi_spec_validator"])
        .arg(&file)
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "openapi-spec-validator refuses the document:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_is_documented_and_every_documented_path_is_served() {
    let Some(broker) = Broker::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::spawn(with_tokens(&broker, &dir, "openapi-complete")).await;
    let (_, doc) = served_doc(app.port).await;

    let api = |p: &str| API_PREFIXES.iter().any(|x| p.starts_with(x));
    let in_source: BTreeSet<(String, String)> = routes_in_source()
        .into_iter()
        .filter(|(_, p)| api(p))
        .map(|(m, p)| (m, shape(&p)))
        .collect();
    for known in [
        "/api/login",
        "/ws/alerts",
        "/api/halls/{}/stats",
        "/healthz",
    ] {
        assert!(
            in_source.iter().any(|(_, p)| p == known),
            "the route reader missed {known}: {in_source:?}"
        );
    }
    let in_doc: BTreeMap<(String, String), String> = documented(&doc)
        .into_iter()
        .map(|(m, p)| ((m, shape(&p)), p))
        .collect();
    for route in &in_source {
        assert!(
            in_doc.contains_key(route),
            "{} {} is served but not documented",
            route.0.to_uppercase(),
            route.1
        );
    }
    for ((m, shaped), path) in &in_doc {
        if api(path) {
            assert!(
                in_source.contains(&(m.clone(), shaped.clone())),
                "{} {path} is documented but no route serves it",
                m.to_uppercase()
            );
        }
    }

    // Every documented operation reaches its handler (no 404 without a
    // token) and answers only documented statuses, with and without one.
    let mut cases = Cases::default();
    for ((method, _), path) in &in_doc {
        let op = operation(&doc, path, method);
        let url = concrete(&doc, op, path);
        let verb = method.to_uppercase();
        let anonymous = http_request(app.port, &verb, &url, &[], "").await;
        // A phone page's example token holds no ticket: 404 is its answer.
        if !path.starts_with("/t/{token}") {
            assert_ne!(anonymous.status, 404, "{verb} {url}: {}", anonymous.body);
        }
        check_answer(&doc, &mut cases, method, path, &anonymous);
        let admin = http_request(app.port, &verb, &url, &[("Authorization", ADMIN)], "").await;
        check_answer(&doc, &mut cases, method, path, &admin);
        if path.starts_with("/ws/") {
            assert!(
                matches!(anonymous.status, 400 | 401),
                "{verb} {url} without an upgrade: {}",
                anonymous.status
            );
        }
        // A method the path is not served with: 405, in JSON, naming the
        // methods it is served with.
        let served: Vec<String> = ["get", "post", "put", "patch", "delete"]
            .iter()
            .filter(|m| doc["paths"][path.as_str()].get(**m).is_some())
            .map(|m| m.to_uppercase())
            .collect();
        for other in ["DELETE", "PUT", "PATCH", "TRACE"] {
            if served.iter().any(|m| m == other) {
                continue;
            }
            let r = http_request(app.port, other, &url, &[("Authorization", ADMIN)], "").await;
            assert_eq!(r.status, 405, "{other} {url}: {}", r.body);
            assert_eq!(r.json()["error"], "method_not_allowed", "{other} {url}");
            let allow = r.header("allow").unwrap_or_default();
            assert!(allow.contains(&verb), "{other} {url}: Allow {allow:?}");
        }
    }
    app.stop().await;
    validate_cases(&doc, &cases);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documented_schemas_match_real_answers() {
    let Some(broker) = Broker::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(local(10, 0)));
    let app =
        TestApp::spawn_with_clock(with_tokens(&broker, &dir, "openapi-real"), clock.clone()).await;
    let port = app.port;
    let (_, doc) = served_doc(port).await;
    let mut cases = Cases::default();

    // The channels first, so they see the morning's traffic.
    let mut display = ws(port, "/ws/display/h1").await;
    let mut dashboard = ws(port, "/ws/dashboard/h1?token=m-secret").await;
    let mut region = ws(port, "/ws/region?token=m-secret").await;
    let mut console = ws(port, "/ws/alerts?token=s-secret").await;

    let mut dev = Device::replies(broker.port, "openapi").await;
    let login = json!({"op": "login", "staff": "S001", "staff_name": "李敏"});
    assert_eq!(dev.request(&window("01"), login).await["ok"], true);
    assert_eq!(
        dev.request(KIOSK, json!({"service": "SB"})).await["ok"],
        true
    );
    assert_eq!(
        dev.request(KIOSK, json!({"service": "GA"})).await["ok"],
        true
    );
    clock.advance(chrono::Duration::seconds(90));
    for body in [
        json!({"op": "call_next"}),
        json!({"op": "start"}),
        json!({"op": "finish", "outcome": "completed"}),
    ] {
        let r = dev.request(&window("01"), body).await;
        assert_eq!(r["ok"], true, "{r}");
    }
    let r = dev
        .request(&rater("01"), json!({"score": 1, "comment": "太慢"}))
        .await;
    assert_eq!(r["ok"], true, "{r}");

    // HTTP, as documented for each operation.
    let get = |path: &'static str, auth: &'static str| async move {
        let headers: &[(&str, &str)] = if auth.is_empty() {
            &[]
        } else {
            &[("Authorization", auth)]
        };
        http_request(port, "GET", path, headers, "").await
    };
    let r = get("/healthz", "").await;
    check_answer(&doc, &mut cases, "get", "/healthz", &r);
    let r = get("/metrics", "").await;
    check_answer(&doc, &mut cases, "get", "/metrics", &r);
    let r = get("/api/halls", "").await;
    check_answer(&doc, &mut cases, "get", "/api/halls", &r);
    for url in ["/api/halls/h1/snapshot", "/api/halls/nope/snapshot"] {
        let r = get(url, "").await;
        check_answer(&doc, &mut cases, "get", "/api/halls/{hall}/snapshot", &r);
    }
    for (url, auth) in [("/api/me", MANAGER), ("/api/me", "")] {
        let r = get(url, auth).await;
        check_answer(&doc, &mut cases, "get", "/api/me", &r);
    }
    let r = http_request(
        port,
        "POST",
        "/api/login",
        &[("Content-Type", "application/json")],
        r#"{"token": "s-secret"}"#,
    )
    .await;
    check_answer(&doc, &mut cases, "post", "/api/login", &r);
    let r = http_request(port, "POST", "/api/logout", &[], "").await;
    check_answer(&doc, &mut cases, "post", "/api/logout", &r);

    // (c) The day's figures: the DayFigures schema's required keys are there.
    let stats = "/api/halls/{hall}/stats";
    let r = get("/api/halls/h1/stats", MANAGER).await;
    let figures = check_answer(&doc, &mut cases, "get", stats, &r);
    let required = doc["components"]["schemas"]["DayFigures"]["required"]
        .as_array()
        .expect("DayFigures has required keys");
    assert!(required.len() >= 10, "{required:?}");
    for key in required {
        let key = key.as_str().unwrap();
        assert!(
            figures.get(key).is_some(),
            "DayFigures.{key} missing in {figures}"
        );
    }
    assert_eq!(figures["total"]["served"], 1);
    assert_eq!(figures["staff"][0]["key"], "S001");
    for url in [
        "/api/halls/h1/stats?by=window",
        "/api/halls/h1/stats?by=service",
        "/api/halls/h1/stats?by=staff",
        "/api/halls/h1/stats?date=2026-11-22",
        "/api/halls/h1/stats?by=x",
        "/api/halls/h1/stats?date=2026-11-24",
        "/api/halls/nope/stats",
        "/api/halls/h1/stats",
    ] {
        let auth = if url == "/api/halls/h1/stats" {
            ""
        } else {
            MANAGER
        };
        let r = get(url, auth).await;
        check_answer(&doc, &mut cases, "get", stats, &r);
    }
    let r = get("/api/halls/h1/stats?format=csv&by=window", ADMIN).await;
    check_answer(&doc, &mut cases, "get", stats, &r);
    assert!(r.body.starts_with('\u{feff}'), "CSV with a byte-order mark");
    assert!(r.body.contains("\r\n"), "CSV with CRLF line ends");

    // Alerts: history, an action, and its refusals.
    let r = get("/api/alerts", ADMIN).await;
    let list = check_answer(&doc, &mut cases, "get", "/api/alerts", &r);
    let open = list
        .as_array()
        .expect("a list")
        .iter()
        .find(|a| a["rule"] == "window_unattended" && a["state"] == "open")
        .unwrap_or_else(|| panic!("an open window_unattended alert in {list}"))["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for url in [
        "/api/alerts?limit=x",
        "/api/alerts?date=22-11-2026",
        "/api/alerts?hall=nope",
    ] {
        let r = get(url, ADMIN).await;
        check_answer(&doc, &mut cases, "get", "/api/alerts", &r);
    }
    let r = get("/api/alerts", MANAGER).await;
    check_answer(&doc, &mut cases, "get", "/api/alerts", &r);
    let act = "/api/alerts/{id}/{op}";
    let ack = format!("/api/alerts/{open}/ack");
    let auth = [
        ("Authorization", ADMIN),
        ("Content-Type", "application/json"),
    ];
    let note = r#"{"note": "已电话联系窗口负责人"}"#;
    for (url, body, status) in [
        (ack.as_str(), note, 200),
        (ack.as_str(), "", 409),
        (ack.as_str(), r#"{"note": 5}"#, 400),
        ("/api/alerts/h1-nope/resolve", "", 404),
    ] {
        let r = http_request(port, "POST", url, &auth, body).await;
        assert_eq!(r.status, status, "POST {url}: {}", r.body);
        check_answer(&doc, &mut cases, "post", act, &r);
    }
    // Refused before anything is done: a body not declared JSON, a
    // session cookie from another site's page.
    let session = session_cookie(port, "a-secret").await;
    for (headers, status) in [
        (
            vec![("Authorization", ADMIN), ("Content-Type", "text/plain")],
            415,
        ),
        (
            vec![
                ("Cookie", session.as_str()),
                ("Origin", "http://evil.example"),
            ],
            403,
        ),
    ] {
        let r = http_request(port, "POST", &ack, &headers, note).await;
        assert_eq!(r.status, status, "POST {ack} {headers:?}: {}", r.body);
        check_answer(&doc, &mut cases, "post", act, &r);
    }

    // The channels: every message against the channel's documented schema.
    let mut bad_rating = String::new();
    for (path, socket, want) in [
        (
            "/ws/display/{hall}",
            &mut display,
            &["snapshot", "call", "window", "queue"][..],
        ),
        (
            "/ws/dashboard/{hall}",
            &mut dashboard,
            &[
                "snapshot", "load", "queue", "staffing", "kpi", "alert", "call",
            ][..],
        ),
        ("/ws/region", &mut region, &["snapshot", "summary"][..]),
        ("/ws/alerts", &mut console, &["snapshot", "alert"][..]),
    ] {
        let schema = server_messages(&doc, path);
        for m in collect(socket, path, want).await {
            if m["type"] == "alert" && m["rule"] == "bad_rating" {
                bad_rating = m["id"].as_str().unwrap().to_owned();
            }
            cases.push(format!("{path} {}", m["type"]), &schema, m);
        }
    }
    assert!(!bad_rating.is_empty(), "the bad review raised an alert");
    // The console's own requests, answered with an error or the alert.
    let op_schema = &operation(&doc, "/ws/alerts", "get")["x-websocket"]["clientMessages"];
    let requests = [
        json!({"op": "resolve", "alert": bad_rating}),
        json!({"op": "close", "alert": bad_rating}),
        json!({"op": "ack", "alert": "h1-nope"}),
        json!({"op": "resolve", "alert": bad_rating, "note": "已回访，群众表示理解"}),
    ];
    let schema = server_messages(&doc, "/ws/alerts");
    for (i, request) in requests.into_iter().enumerate() {
        if request["op"] != "close" {
            cases.push(
                format!("/ws/alerts request {i}"),
                op_schema,
                request.clone(),
            );
        }
        console
            .send(Message::Text(request.to_string().into()))
            .await
            .unwrap();
        let want = if i == 3 { "alert" } else { "error" };
        let answer = collect(&mut console, "/ws/alerts", &[want]).await;
        for m in answer {
            cases.push(format!("/ws/alerts answer {i} {}", m["type"]), &schema, m);
        }
    }
    app.stop().await;
    assert!(cases.0.len() > 40, "{} answers", cases.0.len());
    validate_cases(&doc, &cases);
}
