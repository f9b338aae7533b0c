//! The store fails under a running hall: a locked SQLite file, a full disk,
//! PostgreSQL gone. The server keeps serving live state, holds back its
//! acknowledgements (and the replies that follow them), says so in /healthz
//! and its log, and catches up without loss when the store returns. A server
//! killed during an outage loses nothing either: nothing it held was
//! acknowledged, so the broker redelivers it all.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use hallwatch::store::Store;
use serde_json::{Value, json};
use sqlx::Connection;

const REPLY: &str = "hallwatch/h1/kiosk/k1/reply";

/// A way for the store to fail, and to come back.
enum Fault {
    /// Another process holds SQLite's write lock.
    Locked {
        url: String,
        holder: Option<sqlx::SqliteConnection>,
    },
    /// The file system holding the database is full.
    DiskFull { mount: TmpMount, filler: PathBuf },
    /// The database server is unreachable.
    Down(Proxy),
}

impl Fault {
    async fn start(&mut self) {
        match self {
            Fault::Locked { url, holder } => {
                let mut conn = sqlx::SqliteConnection::connect(url)
                    .await
                    .expect("open the database");
                sqlx::raw_sql("BEGIN EXCLUSIVE")
                    .execute(&mut conn)
                    .await
                    .expect("take the write lock");
                *holder = Some(conn);
            }
            Fault::DiskFull { mount, filler } => {
                // SQLite rewrites a checkpointed WAL in place: on a full
                // disk the frames it already holds would still take a
                // batch. Emptied first, every write needs new space.
                let url = sqlite_url(mount.path());
                let mut conn = sqlx::SqliteConnection::connect(&url)
                    .await
                    .expect("open the database");
                let mut emptied = false;
                for _ in 0..100 {
                    let (busy, _, _): (i64, i64, i64) =
                        sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
                            .fetch_one(&mut conn)
                            .await
                            .expect("checkpoint the WAL");
                    if busy == 0 {
                        emptied = true;
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                assert!(
                    emptied,
                    "the WAL could not be emptied before the disk filled"
                );
                let _ = conn.close().await;
                mount.fill(filler);
            }
            Fault::Down(proxy) => proxy.down(),
        }
    }

    async fn end(&mut self) {
        match self {
            Fault::Locked { holder, .. } => {
                if let Some(mut conn) = holder.take() {
                    sqlx::raw_sql("ROLLBACK")
                        .execute(&mut conn)
                        .await
                        .expect("release the write lock");
                    let _ = conn.close().await;
                }
            }
            Fault::DiskFull { filler, .. } => {
                std::fs::remove_file(filler).expect("free the disk");
            }
            Fault::Down(proxy) => proxy.up().await,
        }
    }
}

/// A small tmpfs mounted for one test, unmounted on drop.
struct TmpMount {
    dir: tempfile::TempDir,
}

impl TmpMount {
    /// None (with a note) where mounting is not allowed, unless CI demands it.
    fn new(size: &str) -> Option<Self> {
        let dir = tempfile::tempdir().expect("temp dir");
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            if required("HALLWATCH_REQUIRE_BROKER") {
                panic!("cannot mount a tmpfs to fill (run the suite as root, as CI does)");
            }
            eprintln!("SKIPPED: mounting a tmpfs needs root");
            return None;
        }
        Some(Self { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `filler` until the file system has no space left.
    fn fill(&self, filler: &Path) {
        use std::io::Write;
        let mut f = std::fs::File::create(filler).expect("create the filler");
        let block = vec![0u8; 64 * 1024];
        while f.write_all(&block).is_ok() {}
        // The last partial block.
        while f.write_all(&block[..512]).is_ok() {}
        let _ = f.sync_all();
    }
}

impl Drop for TmpMount {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// The kiosk's reply to each of `ids`, within `secs`.
async fn replies(kiosk: &mut Device, ids: &[String], secs: u64) -> Vec<Value> {
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(secs);
    for id in ids {
        let left = deadline.saturating_duration_since(Instant::now());
        let reply = kiosk
            .expect_within(REPLY, left, |v| v["request"].as_str() == Some(id))
            .await;
        out.push(reply);
    }
    out
}

/// Publishes `n` ticket requests with ids `{tag}-NNN`; returns the ids.
async fn take_tickets(kiosk: &Device, tag: &str, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        let id = format!("{tag}-{i:03}");
        kiosk
            .publish(KIOSK, json!({"id": id, "service": "SB"}).to_string())
            .await;
        ids.push(id);
    }
    ids
}

/// Waits until the hall's live state shows `waiting` tickets for SB.
async fn live_waiting(port: u16, waiting: u64) {
    eventually(10, async || {
        let (status, body) = http_get(port, "/api/halls/h1/snapshot").await;
        let snap: Value = serde_json::from_str(&body).ok()?;
        let sb = snap["queues"]
            .as_array()?
            .iter()
            .find(|q| q["service"] == "SB")?
            .clone();
        (status == 200 && sb["waiting"] == waiting).then_some(())
    })
    .await;
}

/// /healthz while the store fails: 503, `degraded`, and in words what is
/// wrong; the store's error itself only for an admin.
async fn health_failing(port: u16) -> Value {
    let public = eventually(30, async || {
        let (status, body) = http_get(port, "/healthz").await;
        let v: Value = serde_json::from_str(&body).ok()?;
        (status == 503 && v["status"] == "degraded" && v["store"].as_str()?.starts_with("failing"))
            .then_some(v)
    })
    .await;
    assert_eq!(public["store"], hallwatch::http::STORE_FAILING);
    let bearer = format!("Bearer {TEST_ADMIN}");
    let r = http_request(port, "GET", "/healthz", &[("Authorization", &bearer)], "").await;
    let admin: Value = r.json();
    if admin["status"] == "degraded" {
        let detail = admin["store"].as_str().unwrap_or_default();
        assert!(detail.starts_with("failing: "), "{detail}");
        assert_ne!(
            detail,
            hallwatch::http::STORE_FAILING,
            "an admin sees the error itself"
        );
        return admin;
    }
    public
}

async fn health_ok(port: u16) {
    eventually(30, async || {
        let (status, _) = http_get(port, "/healthz").await;
        (status == 200).then_some(())
    })
    .await;
}

/// Every stored event's message id, once each.
async fn stored_ids(url: &str) -> Vec<String> {
    let store = Store::open(url).await.expect("open the store");
    let events = store
        .events_since(chrono::DateTime::UNIX_EPOCH)
        .await
        .expect("read events");
    store.close().await;
    events
        .iter()
        .map(|e| e.input_json()["id"].as_str().unwrap_or("").to_owned())
        .collect()
}

/// The whole story, for any fault: a ticket before it; tickets during an
/// outage the same server rides out; tickets during an outage the server
/// dies in.
async fn ride_out(mut fault: Fault, database_url: &str, what: &str) {
    let Some(broker) = Broker::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_config(dir.path(), port, database_url, &broker, "hw-faults");
    let log = dir.path().join("server.log");
    let mut server = ServerProcess::start(&config, port, Some(&log));
    server.wait_healthy().await;

    let mut kiosk = Device::connect(broker.port, "kiosk", &[REPLY]).await;
    let first = kiosk.request(KIOSK, json!({"service": "SB"})).await;
    assert_eq!(first["ticket"], "B001");
    let mut display = ws_connect(port, "/ws/display/h1").await.expect("display");
    next_of(&mut display, "snapshot", |_| true).await;

    // 1. The store fails; the same server rides the outage out.
    const N: usize = 20;
    fault.start().await;
    let broke = Instant::now();
    let ids = take_tickets(&kiosk, "outage1", N).await;
    // Live state goes on: the wall screen hears the last ticket at once.
    next_of(&mut display, "queue", |q| {
        q["service"] == "SB" && q["waiting"] == 1 + N as u64
    })
    .await;
    live_waiting(port, 1 + N as u64).await;
    let health = health_failing(port).await;
    let detected = broke.elapsed();
    // Replies follow the commit, like the acknowledgements: none yet.
    kiosk
        .expect_silence(REPLY, Duration::from_millis(300))
        .await;
    assert!(
        server.log_text().contains("Store write failed"),
        "the log says the store failed:\n{}",
        server.log_text()
    );
    let held_for = broke.elapsed();
    fault.end().await;
    let mended = Instant::now();
    let answered = replies(&mut kiosk, &ids, 30).await;
    let caught_up = mended.elapsed();
    let tickets: Vec<&str> = answered
        .iter()
        .map(|r| r["ticket"].as_str().unwrap_or(""))
        .collect();
    let want: Vec<String> = (2..=1 + N).map(|i| format!("B{i:03}")).collect();
    assert_eq!(tickets, want, "each request answered with its own ticket");
    health_ok(port).await;
    // Answered means committed, as another connection sees it.
    assert_eq!(
        stored_ids(database_url).await.len(),
        1 + N,
        "every answered ticket is in the store"
    );
    assert!(
        server.log_text().contains("Store is writable again"),
        "the log says the store is back"
    );

    // 2. The store fails again and the server is killed during the outage:
    // it acknowledged nothing it held, so the broker hands it all back.
    fault.start().await;
    let ids2 = take_tickets(&kiosk, "outage2", N).await;
    live_waiting(port, 1 + 2 * N as u64).await;
    health_failing(port).await;
    server.kill();
    fault.end().await;
    let restarted = Instant::now();
    server.restart();
    server.wait_healthy().await;
    let answered = replies(&mut kiosk, &ids2, 30).await;
    let redelivered = restarted.elapsed();
    let tickets: Vec<&str> = answered
        .iter()
        .map(|r| r["ticket"].as_str().unwrap_or(""))
        .collect();
    let want: Vec<String> = (2 + N..=1 + 2 * N).map(|i| format!("B{i:03}")).collect();
    assert_eq!(
        tickets, want,
        "the redelivered requests get the next tickets"
    );
    live_waiting(port, 1 + 2 * N as u64).await;

    let mut stored = stored_ids(database_url).await;
    assert_eq!(stored.len(), 1 + 2 * N, "every ticket stored");
    stored.sort();
    stored.dedup();
    assert_eq!(stored.len(), 1 + 2 * N, "none stored twice");
    println!(
        "store fault ({what}): /healthz said {:?} {:.1} s into the outage; {N} tickets held \
         {:.1} s and all answered {:.2} s after the store returned; {N} more held while the \
         server was killed: all redelivered and answered {:.2} s after the restart; 0 lost, 0 doubled",
        health["store"].as_str().unwrap_or(""),
        detected.as_secs_f64(),
        held_for.as_secs_f64(),
        caught_up.as_secs_f64(),
        redelivered.as_secs_f64(),
    );
    server.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_sqlite_file_holds_acknowledgements_until_it_is_free() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(dir.path());
    // The server creates the file; the lock is taken once it runs.
    let fault = Fault::Locked {
        url: url.clone(),
        holder: None,
    };
    ride_out(fault, &url, "SQLite file locked by another process").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_holds_acknowledgements_until_there_is_space() {
    let Some(mount) = TmpMount::new("16m") else {
        return;
    };
    let url = sqlite_url(mount.path());
    let filler = mount.path().join("filler");
    ride_out(Fault::DiskFull { mount, filler }, &url, "disk full").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_going_down_holds_acknowledgements_until_it_is_back() {
    let Some(db) = PgDatabase::create().await else {
        return;
    };
    let proxy = Proxy::start(db.host_port()).await;
    let url = db.url_via("127.0.0.1", proxy.port);
    ride_out(Fault::Down(proxy), &url, "PostgreSQL unreachable").await;
    db.drop_db().await;
}
