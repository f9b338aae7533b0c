//! The devices' side: the day published on the accelerated clock, and every
//! reply counted under the message it answers.
//!
//! Each partition's halls publish on one connection, so a hall's messages
//! reach the partition's session in the order they were sent (as one
//! device's do), and one connection takes every reply.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use rumqttc::{AsyncClient, QoS};
use serde::Deserialize;

use crate::day::{DAY_S, Event};
use crate::load::{Conn, connect};
use crate::region::Province;

/// The replies received, by the index of the message they answer.
pub struct Tally {
    /// Replies per message.
    pub count: Vec<u8>,
    /// When the first reply came, µs from the start of the stream.
    pub first: Vec<u64>,
    /// Replies with ok false, and the first few of them.
    pub refused: u64,
    pub refusals: Vec<String>,
    /// Replies to no message of the day or the probes.
    pub strays: u64,
    /// Each probe's reply: when, and the reason given.
    pub probes: HashMap<String, (Instant, String)>,
    /// Messages with at least one reply.
    pub answered: usize,
    start: Instant,
}

#[derive(Deserialize)]
struct Reply<'a> {
    #[serde(default)]
    ok: bool,
    #[serde(borrow, default)]
    request: Option<&'a str>,
    #[serde(borrow, default)]
    command: Option<&'a str>,
    #[serde(borrow, default)]
    rating: Option<&'a str>,
    #[serde(borrow, default)]
    error: Option<&'a str>,
}

impl Tally {
    /// Times replies from `start` on.
    pub fn restart(&mut self, start: Instant) {
        self.start = start;
    }
}

/// Message ids are `{device}-{index}` (unique for the whole day), probes
/// `probe-…`.
pub fn message_id(e: &Event, index: usize) -> String {
    format!("{}-{index}", e.device_id())
}

/// Subscribes to every reply topic.
pub async fn replies(
    port: u16,
    events: usize,
    start: Instant,
) -> anyhow::Result<(Conn, Arc<Mutex<Tally>>)> {
    let tally = Arc::new(Mutex::new(Tally {
        count: vec![0; events],
        first: vec![0; events],
        refused: 0,
        refusals: Vec::new(),
        strays: 0,
        probes: HashMap::new(),
        answered: 0,
        start,
    }));
    let t = tally.clone();
    let conn = connect(port, "province-replies", 1000, move |p| {
        let now = Instant::now();
        let mut t = t.lock().unwrap();
        let Ok(r) = serde_json::from_slice::<Reply>(&p.payload) else {
            t.strays += 1;
            return;
        };
        let Some(id) = r.request.or(r.command).or(r.rating) else {
            t.strays += 1;
            return;
        };
        if id.starts_with("probe-") {
            t.probes
                .insert(id.to_owned(), (now, r.error.unwrap_or("").to_owned()));
            return;
        }
        if !r.ok {
            t.refused += 1;
            if t.refusals.len() < 5 {
                let text = String::from_utf8_lossy(&p.payload).into_owned();
                t.refusals.push(format!("{}: {text}", p.topic));
            }
        }
        let Some(i) = id
            .rsplit('-')
            .next()
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|i| *i < t.count.len())
        else {
            t.strays += 1;
            return;
        };
        if t.count[i] == 0 {
            t.first[i] = now.duration_since(t.start).as_micros() as u64;
            t.answered += 1;
        }
        t.count[i] = t.count[i].saturating_add(1);
    })
    .await?;
    conn.client
        .subscribe("hallwatch/+/+/+/reply", QoS::AtLeastOnce)
        .await?;
    Ok((conn, tally))
}

/// One publishing connection per partition.
pub async fn publishers(port: u16, partitions: usize) -> anyhow::Result<Vec<Conn>> {
    let mut out = Vec::with_capacity(partitions);
    for p in 0..partitions {
        out.push(
            connect(port, &format!("province-devices-{p}"), 1000, |_| {})
                .await
                .with_context(|| format!("publisher of partition {p}"))?,
        );
    }
    Ok(out)
}

/// Publishes the day, `day_s` wall seconds for the nine hours; returns when
/// each message was published, µs from `start`.
pub async fn stream(
    province: Arc<Province>,
    events: Arc<Vec<Event>>,
    clients: Vec<AsyncClient>,
    day_s: f64,
    start: Instant,
) -> anyhow::Result<Vec<u64>> {
    let mut sent = Vec::with_capacity(events.len());
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let pace = day_s / DAY_S;
    while sent.len() < events.len() {
        tick.tick().await;
        let now = start.elapsed().as_secs_f64();
        while let Some(e) = events.get(sent.len()) {
            if e.at * pace > now {
                break;
            }
            let i = sent.len();
            let (topic, payload) = e.wire(&province, &message_id(e, i));
            let p = province.halls[e.hall as usize].partition;
            clients[p]
                .publish(topic, QoS::AtLeastOnce, false, payload)
                .await?;
            sent.push(start.elapsed().as_micros() as u64);
        }
    }
    Ok(sent)
}

/// Waits until every message has a reply or none came for `quiet`.
pub async fn wait_answered(tally: &Mutex<Tally>, quiet: Duration) {
    let progress = || {
        let t = tally.lock().unwrap();
        (t.answered as u64, t.count.len() as u64)
    };
    crate::load::wait_done_or_quiet(progress, quiet, Duration::from_millis(20)).await;
}
