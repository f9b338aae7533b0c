//! Killing the server mid-stream loses nothing: the server is killed with
//! SIGKILL at random points of a scripted stream, many times; after each
//! restart the hall equals an uninterrupted fold of the same messages, and in
//! the end every message is in the log exactly once.
//!
//! `HALLWATCH_CRASH_KILLS` sets the number of kills (default 10) and
//! `HALLWATCH_CRASH_SEED` repeats a run's kill points.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::stream::{comparable, feed, script, uninterrupted};
use common::*;
use hallwatch::store::Store;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;

/// How many times the server is killed: `HALLWATCH_CRASH_KILLS`, default 10.
fn kills() -> usize {
    std::env::var("HALLWATCH_CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10)
        .max(1)
}

/// The seed of the kill points: `HALLWATCH_CRASH_SEED`, or a fresh one
/// (printed, so a failing run can be repeated).
fn seed() -> u64 {
    std::env::var("HALLWATCH_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(rand::random)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_points_loses_nothing_and_applies_nothing_twice() {
    let Some(broker) = Broker::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_url(dir.path());
    let port = free_port();
    let config = write_config(dir.path(), port, &db, &broker, "hw-crash");
    let settings =
        hallwatch::config::Settings::parse(&std::fs::read_to_string(&config).unwrap()).unwrap();

    const N: usize = 3000;
    let kills = kills();
    let seed = seed();
    println!("crash test: seed {seed} (HALLWATCH_CRASH_SEED={seed} repeats this run)");
    let mut rng = SmallRng::seed_from_u64(seed);
    let script = Arc::new(script(N, 7));
    // The stream is released in `kills` segments; the server is killed once
    // in each, at a random moment while the segment is being published.
    let checkpoints: Vec<usize> = (1..=kills).map(|i| i * N / kills).collect();
    let expected = uninterrupted(&script, &settings, &checkpoints);

    let mut server = ServerProcess::start(&config, port, None);
    server.wait_healthy().await;

    let (release, feeding) = feed(broker.port, script.clone()).await;

    let store = Store::open(&db).await.unwrap();
    let since = chrono::DateTime::UNIX_EPOCH;
    let mut restarts = Vec::new();
    let mut killed_at = Vec::new();
    for (round, &upto) in checkpoints.iter().enumerate() {
        let from = round.checked_sub(1).map_or(0, |r| checkpoints[r]);
        release.send_replace(upto);
        // The publisher sends about two messages a millisecond: kill
        // somewhere while this segment is on its way.
        let segment_ms = (upto - from) as u64 / 2 + 1;
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..segment_ms))).await;
        killed_at.push(store.events_since(since).await.unwrap().len());
        server.kill(); // SIGKILL: no shutdown path runs
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..300))).await;
        let started = Instant::now();
        server.restart();
        server.wait_healthy().await;
        restarts.push(started.elapsed());

        // Once the broker has redelivered what was not acknowledged, the
        // hall equals the uninterrupted run at the same point.
        let want = &expected[round];
        let mut last = Value::Null;
        let caught_up = tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                let (status, body) = http_get(port, "/api/halls/h1/snapshot").await;
                if status == 200 {
                    last = comparable(serde_json::from_str(&body).unwrap());
                    if &last == want && store.events_since(since).await.unwrap().len() == upto {
                        return;
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await;
        assert!(
            caught_up.is_ok(),
            "round {round}: after a kill at {} of {upto} messages the hall differs from the uninterrupted run\n\
             got:  {last}\nwant: {want}",
            killed_at[round]
        );
    }
    let _publisher = feeding.await.unwrap();

    // Give a late duplicate the chance to show itself.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let events = store.events_since(since).await.unwrap();
    assert_eq!(events.len(), N, "every message stored exactly once");
    let mut ids: Vec<String> = events
        .iter()
        .map(|e| e.input_json()["id"].as_str().unwrap_or("").to_owned())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), N, "no message applied twice");
    let slowest = restarts.iter().max().copied().unwrap_or_default();
    println!(
        "crash test: {N} messages, {kills} SIGKILLs at log positions {killed_at:?}; \
         after every restart the hall equalled the uninterrupted run; 0 lost, 0 doubled; \
         restart to healthy: median {:.0} ms, slowest {:.0} ms",
        median(&mut restarts).as_secs_f64() * 1000.0,
        slowest.as_secs_f64() * 1000.0
    );
    store.close().await;
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}
