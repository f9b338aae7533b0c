//! The outbox's sender: every pass takes what is due, keeps each channel's
//! rate limit (merging what would exceed it into one digest), posts, and
//! settles each notification as sent, retrying (on the backoff schedule)
//! or failed. Times come from the server's clock, so tests drive the
//! schedule by hand; the store keeps everything, so a restart goes on
//! where the last run stopped.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::http::Client;
use super::{Channel, Message, Plan, Queued, RateWindow, about, body, digest, judge, request};
use crate::clock::Clock;
use crate::domain::HallId;
use crate::engine::{AlertFrames, ConsoleMsg, Frame, HallFrame};
use crate::health::{ChannelFailure, Health};
use crate::metrics::Metrics;
use crate::store::{Delivery, OutboxRow, Store, StoreError};

/// How often the outbox is looked at.
const POLL: Duration = Duration::from_millis(500);
/// Rows one pass takes at most.
const BATCH: i64 = 500;

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub key: String,
    pub channel: String,
    /// `sent`, `retrying` or `failed`.
    pub state: &'static str,
    pub error: Option<String>,
    /// When it is tried again, while retrying.
    pub next_at: Option<DateTime<Utc>>,
    /// When the attempt ended, on the server's clock.
    pub at: DateTime<Utc>,
    /// The receiver could not be reached at all (no connection, no answer
    /// in time): the channel's other rows wait for the next pass.
    pub unreachable: bool,
}

/// The outbox's sender.
pub struct Sender {
    store: Store,
    plan: Arc<Plan>,
    client: Client,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    consoles: Option<AlertFrames>,
    windows: HashMap<String, RateWindow>,
    /// Channels whose last attempt failed: since when, and the error.
    failing: BTreeMap<String, (DateTime<Utc>, String)>,
}

impl Sender {
    pub fn new(
        store: Store,
        plan: Arc<Plan>,
        client: Client,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
        health: Arc<Health>,
        consoles: Option<AlertFrames>,
    ) -> Self {
        metrics.notify_channels(plan.channels.iter().map(|c| c.name.as_str()));
        Self {
            store,
            plan,
            client,
            clock,
            metrics,
            health,
            consoles,
            windows: HashMap::new(),
            failing: BTreeMap::new(),
        }
    }

    /// Passes until `stop`.
    pub async fn run(mut self, stop: CancellationToken) {
        loop {
            // A stop cuts a pass short: a notification claimed and not yet
            // settled is tried again once its claim runs out.
            tokio::select! {
                () = stop.cancelled() => break,
                r = self.pass() => if let Err(e) = r {
                    warn!(error = %e, "The outbox could not be read or updated; trying again.");
                },
            }
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep(POLL) => {}
            }
        }
    }

    /// One pass at the clock's time: everything due is sent, merged into a
    /// digest, or left for a later pass by the channel's limit. The
    /// channels are served side by side; a channel whose receiver cannot be
    /// reached leaves the rest of its rows for the next pass, so it costs
    /// the others one time limit at most.
    pub async fn pass(&mut self) -> Result<Vec<Attempt>, StoreError> {
        let now = self.clock.now();
        let due = self.store.outbox_due(now, BATCH).await?;
        let mut by_channel: BTreeMap<String, Vec<OutboxRow>> = BTreeMap::new();
        for row in due {
            by_channel.entry(row.channel.clone()).or_default().push(row);
        }
        let mut work: Vec<(Channel, Vec<OutboxRow>)> = Vec::new();
        for (name, rows) in by_channel {
            let Some(ch) = self.plan.channel(&name).cloned() else {
                // Left alone: another server sharing the store may have the
                // channel; this one's configuration does not.
                debug!(channel = %name, rows = rows.len(), "Due notifications of a channel not configured here are left alone.");
                continue;
            };
            let free = self
                .windows
                .entry(name.clone())
                .or_insert_with(|| RateWindow::new(ch.per_minute))
                .free(now);
            if free == 0 {
                continue;
            }
            // A digest never goes into another: it is sent first.
            let (mut rows, rest): (Vec<OutboxRow>, Vec<OutboxRow>) =
                rows.into_iter().partition(|r| r.about == about::DIGEST);
            let room = free.saturating_sub(rows.len());
            if rest.len() > room && room > 0 {
                // The last free send carries everything beyond it.
                let mut rest = rest;
                let held = rest.split_off(room - 1);
                rows.extend(rest);
                if let Some(d) = self.merge(&ch, &held, now).await? {
                    rows.push(d);
                }
            } else {
                rows.extend(rest.into_iter().take(room));
            }
            rows.truncate(free);
            work.push((ch, rows));
        }
        let hold = chrono::Duration::from_std(self.plan.timeout * 2 + POLL * 4)
            .unwrap_or(chrono::Duration::minutes(1));
        let sends = work.iter().map(|(ch, rows)| {
            let store = &self.store;
            let client = &self.client;
            let plan = &self.plan;
            let clock = &self.clock;
            async move {
                let mut done = Vec::new();
                for row in rows {
                    match send_one(store, client, plan, &**clock, ch, row, hold).await {
                        Ok(Some(a)) => {
                            let unreachable = a.unreachable;
                            done.push((row, a));
                            if unreachable {
                                break;
                            }
                        }
                        Ok(None) => {}
                        Err(e) => {
                            warn!(error = %e, key = %row.key, "An attempt could not be recorded.")
                        }
                    }
                }
                done
            }
        });
        let results = futures_util::future::join_all(sends).await;
        let mut attempts = Vec::new();
        for (row, attempt) in results.into_iter().flatten() {
            // What was sent counts against the channel's limit; what a dead
            // receiver left for the next pass does not.
            if let Some(window) = self.windows.get_mut(&attempt.channel) {
                window.admit(now);
            }
            self.after(row, &attempt).await;
            attempts.push(attempt);
        }
        self.backlog(self.clock.now()).await?;
        Ok(attempts)
    }

    /// Merges `held` into one digest in the outbox, and returns its row;
    /// None when none of them could be merged any more.
    async fn merge(
        &self,
        ch: &Channel,
        held: &[OutboxRow],
        now: DateTime<Utc>,
    ) -> Result<Option<OutboxRow>, StoreError> {
        let keys: Vec<String> = held.iter().map(|r| r.key.clone()).collect();
        let plan = &self.plan;
        let make = |merged: &[String]| {
            let rows: Vec<&OutboxRow> = held.iter().filter(|r| merged.contains(&r.key)).collect();
            let messages: Vec<Message> = rows.iter().filter_map(|r| message_of(r)).collect();
            let since = rows.iter().map(|r| r.created_at).min().unwrap_or(now);
            let hall = rows.first().map(|r| r.hall.clone()).unwrap_or_default();
            let same_hall = rows.iter().all(|r| r.hall == hall);
            let local = plan.local(&hall, since);
            let m = digest(&messages, local, plan.public_url.as_deref());
            let listed: Vec<Value> = rows
                .iter()
                .map(|r| json!({"key": r.key, "hall": r.hall, "subject": r.subject}))
                .collect();
            Queued {
                key: String::new(),
                channel: ch.name.clone(),
                hall: if same_hall { hall } else { "*".to_owned() },
                subject: about::DIGEST.to_owned(),
                about: about::DIGEST,
                created_at: now,
                send_at: now,
                body: body(&m, json!({ "merged": listed })),
            }
        };
        let Some(queued) = self.store.outbox_merge(&keys, now, make).await? else {
            return Ok(None);
        };
        let merged = queued.body["data"]["merged"].as_array().map_or(0, Vec::len);
        info!(channel = %ch.name, merged, digest = %queued.key,
              "A channel's limit was reached; what it held back goes as one digest.");
        for r in held {
            if queued.body["data"]["merged"]
                .as_array()
                .is_some_and(|m| m.iter().any(|x| x["key"] == r.key.as_str()))
            {
                self.tell_console(r, "merged", r.attempts, None, now, None, None);
            }
        }
        Ok(Some(OutboxRow {
            key: queued.key,
            channel: queued.channel,
            hall: queued.hall,
            subject: queued.subject,
            about: about::DIGEST.to_owned(),
            state: "queued".to_owned(),
            created_at: now,
            next_at: now,
            attempts: 0,
            last_error: None,
            body: queued.body,
        }))
    }

    /// Metrics, health and the consoles after an attempt.
    async fn after(&mut self, row: &OutboxRow, a: &Attempt) {
        let now = a.at;
        let outcome = match a.state {
            "sent" => Ok(()),
            "retrying" => Err(true),
            _ => Err(false),
        };
        self.metrics.notified(&a.channel, outcome);
        match (&a.error, a.state) {
            (None, _) => {
                if self.failing.remove(&a.channel).is_some() {
                    info!(channel = %a.channel, "The channel delivers again.");
                }
            }
            (Some(e), state) => {
                warn!(channel = %a.channel, key = %a.key, state, error = %e, "A notification was not delivered.");
                self.failing
                    .entry(a.channel.clone())
                    .and_modify(|f| f.1 = e.clone())
                    .or_insert((now, e.clone()));
            }
        }
        // `/healthz` hears of it at the end of the pass (`backlog`).
        let attempts = row.attempts + 1;
        if row.about == about::DIGEST {
            // Each merged notification shows the digest's fate.
            let merged = row.body["data"]["merged"].as_array().cloned();
            for m in merged.unwrap_or_default() {
                let (Some(hall), Some(subject)) = (m["hall"].as_str(), m["subject"].as_str())
                else {
                    continue;
                };
                self.send_console(
                    Delivery {
                        subject: subject.to_owned(),
                        channel: a.channel.clone(),
                        state: "merged".to_owned(),
                        attempts: 0,
                        last_error: None,
                        at: Some(now),
                        next_at: None,
                        digest_state: Some(a.state.to_owned()),
                    },
                    hall,
                );
            }
        } else {
            self.tell_console(
                row,
                a.state,
                attempts,
                a.error.clone(),
                now,
                a.next_at,
                None,
            );
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn tell_console(
        &self,
        row: &OutboxRow,
        state: &str,
        attempts: i64,
        last_error: Option<String>,
        now: DateTime<Utc>,
        next_at: Option<DateTime<Utc>>,
        digest_state: Option<String>,
    ) {
        self.send_console(
            Delivery {
                subject: row.subject.clone(),
                channel: row.channel.clone(),
                state: state.to_owned(),
                attempts,
                last_error,
                at: Some(now),
                next_at,
                digest_state,
            },
            &row.hall,
        );
    }

    fn send_console(&self, d: Delivery, hall: &str) {
        let (Some(consoles), Ok(hall)) = (&self.consoles, HallId::parse(hall)) else {
            return;
        };
        if consoles.receiver_count() > 0 {
            let _ = consoles.send(HallFrame {
                hall,
                frame: Frame::new(ConsoleMsg::Delivery(Box::new(d))),
            });
        }
    }

    /// The channels failing for longer than the plan allows, for `/healthz`.
    fn publish_failing(&self, now: DateTime<Utc>) {
        let failing = self
            .failing
            .iter()
            .filter(|(_, (since, _))| now - *since >= self.plan.failing_after)
            .map(|(channel, (since, error))| ChannelFailure {
                channel: channel.clone(),
                since: *since,
                error: error.clone(),
            })
            .collect();
        self.health.set_notify_failing(failing);
    }

    /// `/metrics`: what each channel has due and undelivered.
    async fn backlog(&self, now: DateTime<Utc>) -> Result<(), StoreError> {
        let backlog = self.store.outbox_backlog(now).await?;
        for ch in &self.plan.channels {
            let b = backlog.iter().find(|b| b.channel == ch.name);
            let queued = b.map_or(0, |b| b.queued);
            let oldest = b
                .and_then(|b| b.oldest_due)
                .map_or(Duration::ZERO, |t| (now - t).to_std().unwrap_or_default());
            self.metrics.notify_backlog(&ch.name, queued, oldest);
        }
        self.publish_failing(now);
        Ok(())
    }
}

/// The message an outbox row carries.
fn message_of(row: &OutboxRow) -> Option<Message> {
    serde_json::from_value(row.body.get("message")?.clone()).ok()
}

/// Claims, posts and settles one notification, reading the clock as it
/// claims and again as it settles; None when another sender holds it or it
/// is no longer due.
async fn send_one(
    store: &Store,
    client: &Client,
    plan: &Plan,
    clock: &dyn Clock,
    ch: &Channel,
    row: &OutboxRow,
    hold: chrono::Duration,
) -> Result<Option<Attempt>, StoreError> {
    let now = clock.now();
    if !store.outbox_claim(&row.key, now, now + hold).await? {
        return Ok(None);
    }
    let attempts = row.attempts + 1;
    let mut unreachable = false;
    let outcome = match message_of(row) {
        Some(m) => {
            let data = row.body.get("data").cloned().unwrap_or(Value::Null);
            // Signed with the wall clock's time, which the receiver checks
            // against its own; the schedule runs on the server's clock.
            let req = request(ch, &row.key, &m, &data, Utc::now());
            match client.post(&req).await {
                Ok(answer) => judge(ch.kind, answer.status, &answer.body),
                Err(e) => {
                    unreachable = true;
                    Err(e)
                }
            }
        }
        None => Err("the stored message cannot be read".to_owned()),
    };
    let at = clock.now();
    let (state, next_at, error) = match outcome {
        Ok(()) => ("sent", None, None),
        Err(e) => match plan.backoff.retry_at(attempts as u32, at) {
            Some(t) => ("retrying", Some(t), Some(e)),
            None => ("failed", None, Some(e)),
        },
    };
    store
        .outbox_settle(&row.key, state, attempts, error.as_deref(), at, next_at)
        .await?;
    Ok(Some(Attempt {
        key: row.key.clone(),
        channel: ch.name.clone(),
        state,
        error,
        next_at,
        at,
        unreachable,
    }))
}

/// Sends one test message on `ch` and says what its receiver answered.
pub async fn test_send(
    client: &Client,
    ch: &Channel,
    public_url: Option<&str>,
    now: DateTime<Utc>,
    at: &str,
) -> Result<String, String> {
    let m = super::test_message(&ch.name, public_url, at);
    let key = format!("{}/test/{}", ch.name, now.timestamp_millis());
    let req = request(ch, &key, &m, &json!({ "test": true }), now);
    let answer = client.post(&req).await?;
    let short = super::cut(answer.body.trim(), 200);
    judge(ch.kind, answer.status, &answer.body).map(|()| format!("HTTP {} {short}", answer.status))
}
