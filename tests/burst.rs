//! A morning rush is absorbed without loss: 10,000 ticket requests from the
//! kiosks of ten halls, all sent at once (the figure is 10,000 in a
//! minute), each answered exactly once with a ticket, the numbers of every
//! service consecutive, every request in the log once, and the halls'
//! queues, `/metrics` and the log agreeing.
//!
//! The server runs as production runs it: the binary as a child process, on
//! a real Mosquitto and a SQLite file. Run with `--nocapture` for the
//! figures (rate, latencies, peak memory, store batches);
//! `HALLWATCH_BURST_REQUESTS` changes the number of requests.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use hallwatch::store::Store;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

const HALLS: usize = 10;
const KIOSKS_PER_HALL: usize = 3;
/// The promise: a minute's rush, answered within the minute.
const DEADLINE: Duration = Duration::from_secs(60);
/// Services a hall may offer: code, name, ticket prefix.
const SERVICES: [(&str, &str, &str); 3] = [
    ("SB", "社会保障", "B"),
    ("GA", "公安专项", "G"),
    ("BDC", "不动产登记", "D"),
];
/// Priorities and how often a kiosk issues them, in hundredths.
const PRIORITIES: [(&str, u32); 5] = [
    ("normal", 80),
    ("elderly", 8),
    ("disabled", 5),
    ("appointment", 4),
    ("green", 3),
];

/// How many requests: `HALLWATCH_BURST_REQUESTS`, default 10,000.
fn requests() -> usize {
    std::env::var("HALLWATCH_BURST_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
        .max(1)
}

fn hall_id(h: usize) -> String {
    format!("rush{:02}", h + 1)
}

fn kiosk_id(k: usize) -> String {
    format!("k{}", k + 1)
}

/// Even halls offer three services, odd ones two.
fn services_of(h: usize) -> &'static [(&'static str, &'static str, &'static str)] {
    if h.is_multiple_of(2) {
        &SERVICES
    } else {
        &SERVICES[..2]
    }
}

/// The configuration: ten township halls, open on weekdays with a lunch
/// break (the rush comes at [`t0`], their opening), with their kiosks
/// and two windows each (nobody logs in, so every ticket keeps waiting).
fn config_text(port: u16, database_url: &str, broker: &Broker) -> String {
    let mut text = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\ndatabase_url = \"{database_url}\"\n\
         [mqtt]\nbroker = \"{}\"\nclient_id = \"hw-burst\"\nprefix = \"hallwatch\"\n",
        broker.url()
    );

    for h in 0..HALLS {
        let kiosks: Vec<String> = (0..KIOSKS_PER_HALL)
            .map(|k| format!("\"{}\"", kiosk_id(k)))
            .collect();
        text.push_str(&format!(
            "\n[[halls]]\nid = \"{}\"\nname = \"第{}便民服务中心\"\nlevel = \"township\"\nkiosks = [{}]\n\
             hours = {{ weekdays = [\"09:00-12:00\", \"13:30-17:30\"] }}\n",
            hall_id(h),
            h + 1,
            kiosks.join(", ")
        ));
        let services = services_of(h);
        for (code, name, prefix) in services {
            text.push_str(&format!(
                "\n[[halls.services]]\ncode = \"{code}\"\nname = \"{name}\"\nprefix = \"{prefix}\"\n"
            ));
        }
        let all: Vec<String> = services.iter().map(|s| format!("\"{}\"", s.0)).collect();
        text.push_str(&format!(
            "\n[[halls.windows]]\nid = \"01\"\nname = \"1号窗口\"\nkind = \"comprehensive\"\nservices = [{}]\n\
             \n[[halls.windows]]\nid = \"02\"\nname = \"2号窗口\"\nkind = \"domain\"\nservices = [\"{}\"]\n",
            all.join(", "),
            services[0].0
        ));
    }
    text
}

/// One kiosk request of the rush.
struct Request {
    hall: usize,
    kiosk: usize,
    id: String,
    service: &'static str,
    topic: String,
    payload: Vec<u8>,
}

/// The rush: spread over the halls and their kiosks in turn, services and
/// priorities drawn at random (seeded, so every run sends the same).
fn rush(n: usize) -> Vec<Request> {
    let mut rng = SmallRng::seed_from_u64(2026);
    let at = t0().to_rfc3339();
    (0..n)
        .map(|i| {
            let hall = i % HALLS;
            let kiosk = (i / HALLS) % KIOSKS_PER_HALL;
            let services = services_of(hall);
            let service = services[rng.random_range(0..services.len())].0;
            let mut roll = rng.random_range(0..100);
            let priority = PRIORITIES
                .iter()
                .find(|(_, share)| {
                    let hit = roll < *share;
                    roll = roll.saturating_sub(*share);
                    hit
                })
                .map_or("normal", |(p, _)| *p);
            let id = format!("{}-{}-{i:06}", hall_id(hall), kiosk_id(kiosk));
            let mut body = json!({"id": id, "service": service, "priority": priority, "at": at});
            if priority == "appointment" {
                body["appointment"] = Value::String(format!("YY{i:08}"));
            }
            if priority == "green" {
                body["green_reason"] = Value::String("危重病人".into());
                body["issued_by"] = Value::String("D01".into());
            }
            Request {
                hall,
                kiosk,
                id,
                service,
                topic: format!(
                    "hallwatch/{}/kiosk/{}/request",
                    hall_id(hall),
                    kiosk_id(kiosk)
                ),
                payload: body.to_string().into_bytes(),
            }
        })
        .collect()
}

/// A reply as a kiosk received it.
struct Arrived {
    at: Instant,
    topic: String,
    body: Value,
}

/// What a kiosk's connection saw besides replies.
#[derive(Default)]
struct Wire {
    /// Requests the broker acknowledged (PUBACK), and when the last came.
    acked: AtomicU64,
    last_ack: Mutex<Option<Instant>>,
    /// Connection errors: a kiosk that lost its connection mid-rush.
    errors: AtomicU64,
}

/// One kiosk: its own MQTT connection, subscribed to its reply topic.
struct Kiosk {
    client: AsyncClient,
    wire: Arc<Wire>,
}

impl Kiosk {
    async fn connect(
        broker: u16,
        hall: usize,
        kiosk: usize,
        out: mpsc::UnboundedSender<Arrived>,
    ) -> Self {
        let name = format!("{}-{}", hall_id(hall), kiosk_id(kiosk));
        let mut o = MqttOptions::new(format!("burst-{name}-{}", free_port()), "127.0.0.1", broker);
        o.set_keep_alive(Duration::from_secs(30));
        let (client, mut eventloop) = AsyncClient::new(o, 2048);
        let reply = format!(
            "hallwatch/{}/kiosk/{}/reply",
            hall_id(hall),
            kiosk_id(kiosk)
        );
        let wire = Arc::new(Wire::default());
        let (ready_tx, ready_rx) = oneshot::channel();
        let (c, w) = (client.clone(), wire.clone());
        tokio::spawn(async move {
            let mut ready = Some(ready_tx);
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        let _ = c.try_subscribe(reply.clone(), QoS::AtLeastOnce);
                    }
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        if let Some(r) = ready.take() {
                            let _ = r.send(());
                        }
                    }
                    Ok(Event::Incoming(Packet::PubAck(_))) => {
                        w.acked.fetch_add(1, Ordering::Relaxed);
                        *w.last_ack.lock().unwrap() = Some(Instant::now());
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let at = Instant::now();
                        let body = serde_json::from_slice(&p.payload).unwrap_or(Value::Null);
                        if out
                            .send(Arrived {
                                at,
                                topic: p.topic,
                                body,
                            })
                            .is_err()
                        {
                            break;
                        }
                    }
                    Ok(_) => {}
                    Err(_) => {
                        w.errors.fetch_add(1, Ordering::Relaxed);
                        if out.is_closed() {
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
        });
        tokio::time::timeout(Duration::from_secs(10), ready_rx)
            .await
            .expect("kiosk subscribed within 10 s")
            .expect("kiosk connection");
        Self { client, wire }
    }
}

/// The peak and current resident memory of a process, in KiB.
fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The number of a ticket of the service with `prefix`: `B023` is 23.
fn ticket_number(ticket: &str, prefix: &str) -> Option<u32> {
    ticket.strip_prefix(prefix)?.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_morning_rush_of_ten_thousand_tickets_is_absorbed_without_loss() {
    let Some(broker) = Broker::start() else {
        return;
    };
    let n = requests();
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_url(dir.path());
    let port = free_port();
    let config = dir.path().join("hallwatch.toml");
    std::fs::write(&config, config_text(port, &db, &broker)).unwrap();
    let log = dir.path().join("server.log");
    let server = ServerProcess::start(&config, port, Some(&log));
    server.wait_healthy().await;
    let (rss_before, _) = memory_kib(server.pid());

    let requests = Arc::new(rush(n));
    let by_id: HashMap<&str, usize> = requests
        .iter()
        .enumerate()
        .map(|(i, r)| (r.id.as_str(), i))
        .collect();
    assert_eq!(by_id.len(), n, "request ids are unique");

    // Every kiosk of every hall on its own connection, all subscribed
    // before the rush starts.
    let (out, mut replies) = mpsc::unbounded_channel();
    let mut kiosks = Vec::new();
    for h in 0..HALLS {
        for k in 0..KIOSKS_PER_HALL {
            kiosks.push(Kiosk::connect(broker.port, h, k, out.clone()).await);
        }
    }
    drop(out);

    // The rush: every kiosk sends its share as fast as its connection takes it.
    let started = Instant::now();
    let mut senders = Vec::new();
    for (c, kiosk) in kiosks.iter().enumerate() {
        let client = kiosk.client.clone();
        let requests = requests.clone();
        senders.push(tokio::spawn(async move {
            let mut sent = Vec::new();
            for (i, r) in requests.iter().enumerate() {
                if r.hall * KIOSKS_PER_HALL + r.kiosk != c {
                    continue;
                }
                sent.push((i, Instant::now()));
                client
                    .publish(&r.topic, QoS::AtLeastOnce, false, r.payload.clone())
                    .await
                    .expect("publish");
            }
            sent
        }));
    }
    let mut sent_at = vec![None; n];
    for s in senders {
        for (i, at) in s.await.unwrap() {
            sent_at[i] = Some(at);
        }
    }
    let handed_over = started.elapsed();

    // Every reply, until each request has one or the minute is over.
    let mut answers: Vec<Vec<Arrived>> = (0..n).map(|_| Vec::new()).collect();
    let mut strays = Vec::new();
    let mut answered = 0;
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while answered < n {
        match tokio::time::timeout_at(deadline, replies.recv()).await {
            Ok(Some(a)) => match a.body["request"].as_str().and_then(|id| by_id.get(id)) {
                Some(&i) => {
                    if answers[i].is_empty() {
                        answered += 1;
                    }
                    answers[i].push(a);
                }
                None => strays.push(a.body),
            },
            _ => break,
        }
    }
    let last_reply = answers
        .iter()
        .flatten()
        .map(|a| a.at - started)
        .max()
        .unwrap_or_else(|| started.elapsed());
    let acked_by_broker: u64 = kiosks
        .iter()
        .map(|k| k.wire.acked.load(Ordering::Relaxed))
        .sum();
    let last_broker_ack = kiosks
        .iter()
        .filter_map(|k| *k.wire.last_ack.lock().unwrap())
        .max()
        .map(|t| t - started)
        .unwrap_or_default();
    assert_eq!(
        answered,
        n,
        "{} of {n} requests unanswered after {:.1} s (the broker acknowledged {acked_by_broker} of them)",
        n - answered,
        started.elapsed().as_secs_f64()
    );
    assert!(last_reply < DEADLINE);

    // A late second reply has the chance to show itself.
    tokio::time::sleep(Duration::from_millis(500)).await;
    while let Ok(a) = replies.try_recv() {
        match a.body["request"].as_str().and_then(|id| by_id.get(id)) {
            Some(&i) => answers[i].push(a),
            None => strays.push(a.body),
        }
    }
    assert!(strays.is_empty(), "replies to no request: {strays:?}");
    let errors: u64 = kiosks
        .iter()
        .map(|k| k.wire.errors.load(Ordering::Relaxed))
        .sum();
    assert_eq!(errors, 0, "no kiosk lost its connection");
    assert_eq!(acked_by_broker, n as u64);

    // Exactly one reply each, with a ticket of the service asked for, on
    // the kiosk's own reply topic.
    let mut latencies = Vec::with_capacity(n);
    let mut numbers: BTreeMap<(usize, &str), Vec<u32>> = BTreeMap::new();
    for (i, r) in requests.iter().enumerate() {
        let got = &answers[i];
        assert_eq!(got.len(), 1, "{}: {} replies", r.id, got.len());
        let a = &got[0];
        assert_eq!(
            a.topic,
            format!(
                "hallwatch/{}/kiosk/{}/reply",
                hall_id(r.hall),
                kiosk_id(r.kiosk)
            )
        );
        assert_eq!(a.body["ok"], true, "{}: {}", r.id, a.body);
        assert_eq!(a.body["service"], r.service, "{}", a.body);
        let prefix = SERVICES
            .iter()
            .find(|s| s.0 == r.service)
            .map(|s| s.2)
            .unwrap();
        let ticket = a.body["ticket"].as_str().unwrap_or_default();
        let no = ticket_number(ticket, prefix)
            .unwrap_or_else(|| panic!("{}: ticket {ticket:?} is not a {prefix} ticket", r.id));
        numbers.entry((r.hall, r.service)).or_default().push(no);
        latencies.push(a.at - sent_at[i].expect("sent"));
    }

    // Replies flow while the rush is being taken in, not after it: were
    // they queued behind the incoming stream, nearly all would come at the end.
    latencies.sort_unstable();
    let (p50, slowest) = (percentile(&latencies, 0.50), percentile(&latencies, 1.0));
    assert!(
        p50.as_secs_f64() < 0.8 * slowest.as_secs_f64(),
        "replies held back: half the requests waited {:.0} ms or more, the slowest {:.0} ms",
        ms(p50),
        ms(slowest)
    );

    // Within each hall and service: 1, 2, 3 ... with no gap and no double.
    let mut asked: BTreeMap<(usize, &str), usize> = BTreeMap::new();
    for r in requests.iter() {
        *asked.entry((r.hall, r.service)).or_default() += 1;
    }
    for ((h, service), mut got) in numbers {
        got.sort_unstable();
        let want: Vec<u32> = (1..=got.len() as u32).collect();
        assert!(
            got == want,
            "{} {service}: ticket numbers are not 1..={} without gaps or doubles",
            hall_id(h),
            got.len()
        );
        assert_eq!(got.len(), asked[&(h, service)]);
    }

    // The log holds every request once.
    let store = Store::open(&db).await.unwrap();
    let events = store
        .events_since(chrono::DateTime::UNIX_EPOCH)
        .await
        .unwrap();
    assert_eq!(events.len(), n, "the store holds every request once");
    let mut stored: HashMap<String, usize> = HashMap::new();
    for e in &events {
        let id = e.input_json()["id"].as_str().unwrap_or_default().to_owned();
        let i = *by_id
            .get(id.as_str())
            .unwrap_or_else(|| panic!("a stored event that was never sent: {}", e.input));
        assert_eq!(e.hall, hall_id(requests[i].hall));
        *stored.entry(id).or_default() += 1;
    }
    assert_eq!(stored.len(), n, "each request stored once");
    store.close().await;

    // Each hall's queues show every ticket waiting.
    for h in 0..HALLS {
        let (status, body) = http_get(port, &format!("/api/halls/{}/snapshot", hall_id(h))).await;
        assert_eq!(status, 200, "{body}");
        let snap: Value = serde_json::from_str(&body).unwrap();
        let queues = snap["queues"].as_array().unwrap();
        assert_eq!(queues.len(), services_of(h).len());
        for q in queues {
            let service = q["service"].as_str().unwrap();
            let want = asked.get(&(h, service)).copied().unwrap_or(0);
            assert_eq!(q["waiting"], want, "{} {service}", hall_id(h));
        }
    }

    // /metrics counts the same, with nothing refused and nothing doubled.
    let (status, text) = http_get(port, "/metrics").await;
    assert_eq!(status, 200);
    let count = |name: &str| metric(&text, name).unwrap_or(-1.0);
    assert_eq!(
        count("hallwatch_messages_received_total{kind=\"kiosk\"}"),
        n as f64
    );
    assert_eq!(
        count("hallwatch_events_applied_total{kind=\"ticket\"}"),
        n as f64
    );
    assert_eq!(count("hallwatch_duplicates_total"), 0.0);
    let refused: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("hallwatch_rejections_total{") && !l.ends_with(" 0"))
        .collect();
    assert!(refused.is_empty(), "rejections: {refused:?}");
    let batches = count("hallwatch_store_batch_size_count");
    let batched = count("hallwatch_store_batch_size_sum");
    let commit_s = count("hallwatch_store_commit_seconds_sum");
    let largest_bucket = text
        .lines()
        .filter_map(|l| l.strip_prefix("hallwatch_store_batch_size_bucket{le=\""))
        .filter_map(|l| l.split_once("\"} "))
        .filter(|(le, _)| *le != "+Inf")
        .scan(0.0, |below, (le, c)| {
            let c: f64 = c.parse().unwrap_or(0.0);
            let step = c - *below;
            *below = c;
            Some((le.to_owned(), step))
        })
        .filter(|(_, step)| *step > 0.0)
        .last()
        .map(|(le, _)| le)
        .unwrap_or_default();

    // The server said nothing was dropped or failed.
    let warnings: Vec<String> = server
        .log_text()
        .lines()
        .filter(|l| l.contains(" WARN ") || l.contains(" ERROR "))
        .map(str::to_owned)
        .collect();
    assert!(
        warnings.is_empty(),
        "the server warned:\n{}",
        warnings.join("\n")
    );

    let (rss_peak, rss_now) = memory_kib(server.pid());
    let rate = n as f64 / last_broker_ack.as_secs_f64().max(1e-3);
    println!(
        "burst: {n} ticket requests from {} kiosks of {HALLS} halls; all handed to the broker in {:.2} s \
         ({rate:.0} requests/s, the issue asks for 167/s); the last reply after {:.2} s",
        kiosks.len(),
        last_broker_ack.as_secs_f64(),
        last_reply.as_secs_f64()
    );
    println!(
        "burst: request -> reply p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms \
         (from the kiosk's publish call, {:.2} s to queue them all)",
        ms(p50),
        ms(percentile(&latencies, 0.99)),
        ms(slowest),
        handed_over.as_secs_f64()
    );
    println!(
        "burst: 0 lost, 0 doubled, 0 refused; ticket numbers consecutive in all {} queues; \
         {} events stored once each",
        asked.len(),
        events.len()
    );
    println!(
        "burst: store {batches:.0} commits, {:.1} records each on average (largest bucket le {largest_bucket}), \
         {:.1} ms per commit on average; server RSS {} MiB before, peak {} MiB, {} MiB after",
        batched / batches.max(1.0),
        commit_s * 1000.0 / batches.max(1.0),
        rss_before / 1024,
        rss_peak / 1024,
        rss_now / 1024
    );
}
