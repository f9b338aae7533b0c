//! The tamper-evident record: a live hall chains its alert transitions,
//! follow-ups and supervisors' actions; `hallwatch verify-log` finds the
//! chain intact, then names the record altered directly in the database,
//! on SQLite and on PostgreSQL. The chain's head is published retained.

mod common;

use std::process::Command;

use common::*;
use hallwatch::store::Store;
use serde_json::json;

/// `hallwatch verify-log --config CONFIG [--head …]`: its exit status and
/// output.
fn verify_log(config: &std::path::Path, head: Option<&str>) -> (i32, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hallwatch"));
    cmd.args(["verify-log", "--config"]).arg(config);
    if let Some(h) = head {
        cmd.args(["--head", h]);
    }
    let out = cmd.output().expect("run verify-log");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// Runs a hall until its chain holds an alert, its follow-up and a
/// supervisor's action; returns the published head.
async fn make_a_chain(broker: &Broker, database_url: &str, client: &str) -> serde_json::Value {
    let mut s = settings(&broker.url(), database_url, client);
    s.tokens = vec![token(
        "督查室",
        hallwatch::config::Role::Supervisor,
        &["h1"],
        "s-secret",
    )];
    let app = TestApp::spawn(s).await;
    let mut dev = Device::replies(broker.port, "audit").await;
    let mut watcher = Device::connect(broker.port, "watch", &["hallwatch/h1/audit/head"]).await;
    dev.request(&window("01"), json!({"op": "login", "staff": "S001"}))
        .await;
    dev.request(KIOSK, json!({"service": "SB"})).await;
    dev.request(&window("01"), json!({"op": "call_next"})).await;
    dev.request(
        &window("01"),
        json!({"op": "finish", "outcome": "completed"}),
    )
    .await;
    let r = dev
        .request(&rater("01"), json!({"score": 1, "comment": "态度差"}))
        .await;
    assert_eq!(r["ok"], true, "{r}");
    // The bad review's alert, acknowledged by a supervisor.
    let alert = eventually(10, async || {
        let a = http_request(
            app.port,
            "GET",
            "/api/alerts?rule=bad_rating",
            &[("Authorization", "Bearer s-secret")],
            "",
        )
        .await
        .json();
        a.as_array()?.first()?["id"].as_str().map(str::to_owned)
    })
    .await;
    let a = http_request(
        app.port,
        "POST",
        &format!("/api/alerts/{alert}/ack"),
        &[
            ("Authorization", "Bearer s-secret"),
            ("Content-Type", "application/json"),
        ],
        r#"{"note":"已联系当事窗口"}"#,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    // The head moves with each record, retained: the last one seen
    // names at least the alert, its follow-up and the action.
    let head = eventually(10, async || {
        let heads = watcher
            .drain(
                "hallwatch/h1/audit/head",
                std::time::Duration::from_millis(300),
            )
            .await;
        heads
            .last()
            .filter(|h| h["seq"].as_i64().unwrap_or(0) >= 3)
            .cloned()
    })
    .await;
    app.stop().await;
    head
}

/// Runs `sql` on the database directly, as someone with its password
/// could.
async fn raw(url: &str, sql: &str) {
    if url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    } else {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    }
}

async fn tamper_and_verify(database_url: &str, client: &str) {
    let Some(broker) = Broker::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let head = make_a_chain(&broker, database_url, client).await;
    assert_eq!(head["hall"], "h1");
    let config = write_config(dir.path(), free_port(), database_url, &broker, client);
    let store = Store::open(database_url).await.unwrap();
    let chain = store.audit_log("h1").await.unwrap();
    let kinds: Vec<&str> = chain.iter().map(|r| r.kind.as_str()).collect();
    assert!(
        kinds.contains(&"alert") && kinds.contains(&"follow_up") && kinds.contains(&"action"),
        "{kinds:?}"
    );
    let last = chain.last().unwrap();
    assert_eq!(head["seq"], last.seq);
    assert_eq!(head["hash"], last.hash.as_str());

    let kept = format!("h1={}:{}", last.seq, last.hash);
    let (code, out) = verify_log(&config, Some(&kept));
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("h1: {} records, chain intact", chain.len())),
        "{out}"
    );

    // One row altered directly in the database: named.
    let sql = "UPDATE audit_log SET content = replace(content, '态度差', '态度好') WHERE hall = 'h1' AND kind = 'follow_up'";
    raw(database_url, sql).await;
    let altered = store
        .audit_log("h1")
        .await
        .unwrap()
        .into_iter()
        .zip(&chain)
        .find(|(now, was)| now.content != was.content)
        .map(|(r, _)| r.seq)
        .expect("the follow-up's record changed");
    let (code, out) = verify_log(&config, None);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!("record {altered} was altered")),
        "{out}"
    );

    // Put back, then the last record removed: the kept head shows it.
    let put_back = "UPDATE audit_log SET content = replace(content, '态度好', '态度差') WHERE hall = 'h1' AND kind = 'follow_up'";
    raw(database_url, put_back).await;
    assert_eq!(verify_log(&config, Some(&kept)).0, 0);
    raw(
        database_url,
        &format!(
            "DELETE FROM audit_log WHERE hall = 'h1' AND seq = {}",
            last.seq
        ),
    )
    .await;
    let (code, out) = verify_log(&config, None);
    assert_eq!(code, 0, "without the head a cut tail cannot be seen: {out}");
    let (code, out) = verify_log(&config, Some(&kept));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("BROKEN"), "{out}");
    // A record removed from the middle: named.
    raw(
        database_url,
        "DELETE FROM audit_log WHERE hall = 'h1' AND seq = 2",
    )
    .await;
    let (code, out) = verify_log(&config, None);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("record 2 was removed"), "{out}");
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_altered_in_sqlite_is_named() {
    let dir = tempfile::tempdir().unwrap();
    tamper_and_verify(&sqlite_url(dir.path()), "audit-sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_altered_in_postgres_is_named() {
    let Some(db) = PgDatabase::create().await else {
        return;
    };
    tamper_and_verify(&db.url, "audit-pg").await;
    db.drop_db().await;
}
