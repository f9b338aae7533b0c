//! A set of halls run together: replayed from the log, each in its own hall
//! task, fed by one broker session, written by one writer. Without
//! `[cluster]` one such set holds every hall for the whole life of the
//! process; with it, each partition is one, started when this instance takes
//! the partition's lease and stopped when it hands the partition over or
//! loses it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{error, info};

use crate::clock::Clock;
use crate::cluster::Gate;
use crate::config::Settings;
use crate::domain::{Hall, HallId, HallSpec, PROFILE_DAYS, checkpoint_key};
use crate::engine::{AfterCommit, AlertFrames, EngineContext, Registry, SummaryFrames};
use crate::health::Health;
use crate::metrics::Metrics;
use crate::mqtt::acks::AckQueue;
use crate::mqtt::delivery::Delivery;
use crate::mqtt::outgoing::MqttPublisher;
use crate::mqtt::{client, ingest::Ingest, payload, topic};
use crate::replay::{Base, Before, Replay, Replayed, hall_replay_start};
use crate::store::{DailyRow, Fence, Fencing, Record, Store, spawn_fenced_writer};

/// What every running set of halls shares with the rest of the instance.
#[derive(Clone)]
pub struct Shared {
    pub settings: Arc<Settings>,
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub health: Arc<Health>,
    pub metrics: Arc<Metrics>,
    pub registry: Registry,
    pub alerts: AlertFrames,
    pub summaries: SummaryFrames,
    /// Where tickets' phone pages are.
    pub page_base: String,
}

/// A partition's lease, as its set runs under it.
#[derive(Debug, Clone)]
pub struct Lease {
    pub fence: Fence,
    pub gate: Arc<Gate>,
}

/// Which set this is: every hall of the configuration, or a partition.
#[derive(Debug, Clone)]
pub enum Scope {
    Everything,
    Partition { name: String, lease: Lease },
}

impl Scope {
    /// The name `/healthz` and the log know its broker session by.
    fn name(&self) -> &str {
        match self {
            Scope::Everything => "",
            Scope::Partition { name, .. } => name,
        }
    }

    fn lease(&self) -> Option<&Lease> {
        match self {
            Scope::Everything => None,
            Scope::Partition { lease, .. } => Some(lease),
        }
    }
}

/// The halls of a set, folded from the log and ready to run.
pub struct Folded {
    pub replayed: Replayed,
    /// Events folded: the logs after the checkpoints, and the whole logs
    /// of halls without one.
    pub events: usize,
    /// Halls rebuilt from their checkpoint.
    pub from_checkpoints: usize,
}

/// How many halls a replay reads at once.
const READ_AT_ONCE: usize = 4;

/// What the replay of one hall reads: with `checkpoints`, its checkpoint
/// and the log after it, when it has one this build can use that was taken
/// since `start`; otherwise its log since `start`, the earlier days'
/// arrivals and kept figures, and its case book.
async fn read_hall(
    store: &Store,
    spec: &Arc<HallSpec>,
    start: DateTime<Utc>,
    now: DateTime<Utc>,
    checkpoints: bool,
) -> anyhow::Result<(Base, crate::store::HallLog)> {
    let id = spec.id.as_str();
    let kept = if checkpoints {
        store
            .checkpoint(id)
            .await
            .context("Failed to read the hall's checkpoint")?
    } else {
        None
    };
    if let Some(kept) = kept {
        let key = checkpoint_key(spec);
        if kept.key != key {
            info!(hall = id, kept = %kept.key, this = %key, "The hall's checkpoint is of another build or configuration; the log is folded from the start.");
        } else if kept.taken_at < start {
            info!(hall = id, taken_at = %kept.taken_at, "The hall's checkpoint is outside the days replayed; the log is folded from the start.");
        } else {
            let restore_spec = spec.clone();
            let state = kept.state;
            // The log after it is read while the hall is restored.
            let (restored, log) = tokio::join!(
                tokio::task::spawn_blocking(move || Hall::restore(restore_spec, &state)),
                store.hall_log_after(id, kept.through_seq)
            );
            match restored.context("Restoring the hall's checkpoint failed")? {
                Ok(hall) => {
                    let log = log.context("Failed to read the event log after the checkpoint")?;
                    return Ok((Base::Checkpoint(Box::new(hall)), log));
                }
                Err(e) => {
                    error!(hall = id, error = %e, "The hall's checkpoint cannot be read; the log is folded from the start.");
                }
            }
        }
    }
    let log = store
        .hall_log(spec.id.as_str(), start, DateTime::<Utc>::MAX_UTC)
        .await
        .context("Failed to read the event log for replay")?;
    let arrivals = store
        .tickets_issued(
            spec.id.as_str(),
            start - chrono::Duration::days(PROFILE_DAYS),
            start,
        )
        .await
        .context("Failed to read earlier days' arrivals for the forecast")?;
    // Cases outlive the days replayed: the book as it stood, with the
    // days' log applied over it (what it holds is kept).
    let book = store
        .case_book(spec.id.as_str())
        .await
        .context("Failed to read the case book")?;
    let days = crate::figures::month_before(store, spec, start, now)
        .await
        .context("Failed to read the month's kept figures")?;
    let before = Before { arrivals, days };
    Ok((
        Base::Start {
            start,
            before,
            book,
        },
        log,
    ))
}

/// Reads and folds the log of `specs`: each hall is folded as soon as its
/// log is read, and brought up to now. The figures of days that ended
/// while nobody ran the hall are kept (under the lease, when there is one).
pub async fn fold(
    shared: &Shared,
    specs: &[Arc<HallSpec>],
    scope: &Scope,
) -> anyhow::Result<Folded> {
    let store = &shared.store;
    let now = shared.clock.now();
    let replay = Replay::start(now);
    // A few halls are read at once: a partition of a hundred halls is
    // hundreds of queries, and one after another they make a takeover wait
    // on round trips. Few enough that the writers and the lease renewals
    // still find a connection in the pool.
    let replay_days = shared.settings.server.replay_days;
    let checkpoints = shared.settings.server.checkpoint_every_s > 0;
    let mut reads = futures_util::stream::iter(specs.iter().cloned().map(|spec| {
        let store = store.clone();
        async move {
            let start = hall_replay_start(&spec, replay_days, now);
            let read = read_hall(&store, &spec, start, now, checkpoints).await;
            (spec, read)
        }
    }))
    .buffered(READ_AT_ONCE);
    let mut events = 0;
    let mut from_checkpoints = 0;
    let mut i = 0;
    while let Some((spec, read)) = reads.next().await {
        let (base, log) = read?;
        events += log.len();
        from_checkpoints += usize::from(matches!(base, Base::Checkpoint(_)));
        replay.fold(i, spec, base, log);
        i += 1;
    }
    let replayed = tokio::task::spawn_blocking(move || replay.finish())
        .await
        .context("The replay failed")?;
    shared.metrics.replay_events.inc_by(events as u64);
    shared
        .metrics
        .replay_checkpoints
        .inc_by(from_checkpoints as u64);
    if !replayed.days.is_empty() {
        // Days that ended while the halls were not run, or before the
        // figures were kept: keep them now (the same figures again are
        // harmless: they replace themselves).
        let rows: Vec<Record> = replayed
            .days
            .iter()
            .map(|d| Record::Daily(DailyRow::of(d, now)))
            .collect();
        store
            .write_refs(
                &rows.iter().collect::<Vec<_>>(),
                scope.lease().map(|l| &l.fence),
            )
            .await
            .context("Failed to keep the figures of ended days")?;
    }
    Ok(Folded {
        replayed,
        events,
        from_checkpoints,
    })
}

/// A running set of halls.
pub struct Running {
    scope: Scope,
    halls: Vec<HallId>,
    intake: CancellationToken,
    /// Cancelled by ingest once it takes no more messages.
    taking_ended: CancellationToken,
    stop: CancellationToken,
    ingest: JoinHandle<()>,
    outgoing: JoinHandle<()>,
    hall_tasks: Vec<JoinHandle<()>>,
    writer: JoinHandle<()>,
    delivery: JoinHandle<()>,
}

impl Running {
    /// Starts the hall tasks of `folded`, its writer, and its broker
    /// session. Nothing is taken from the broker before the halls run.
    pub async fn start(shared: &Shared, folded: Folded, scope: Scope) -> anyhow::Result<Self> {
        let settings = &shared.settings;
        let halls: Vec<HallId> = folded
            .replayed
            .halls
            .iter()
            .map(|r| r.hall.spec().id.clone())
            .collect();
        let (filters, client_id, only) = match &scope {
            Scope::Everything => (
                topic::subscriptions(&settings.mqtt.prefix).to_vec(),
                settings.mqtt.client_id.clone(),
                None,
            ),
            Scope::Partition { name, .. } => (
                halls
                    .iter()
                    .flat_map(|h| topic::hall_subscriptions(&settings.mqtt.prefix, h))
                    .collect(),
                format!("{}-{name}", settings.mqtt.client_id),
                Some(halls.clone()),
            ),
        };
        // Everything that can fail comes before anything is started.
        let chains: Vec<crate::audit::Chain> =
            futures_util::stream::iter(halls.clone().into_iter().map(|hall| {
                let store = shared.store.clone();
                async move { store.audit_log(hall.as_str()).await }
            }))
            .buffered(READ_AT_ONCE)
            .map(|chain| chain.map(crate::audit::Chain::resume))
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<Result<_, _>>()
            .context("Failed to read the audit chain")?;
        let gate = scope.lease().map(|l| l.gate.clone());
        let client::Connections {
            ingest: endpoint,
            outgoing: (outgoing, outgoing_queue),
        } = client::connect(&settings.mqtt, &client_id)
            .map_err(|e| anyhow!("configuration error: {e}"))?;
        let link = shared.health.link(scope.name());
        let acks = Arc::new(AckQueue::default());
        let fencing = scope.lease().map(|l| Fencing {
            fence: l.fence.clone(),
            lost: l.gate.lost.clone(),
        });
        let (journal, committed, writer) = spawn_fenced_writer::<AfterCommit>(
            shared.store.clone(),
            shared.health.clone(),
            shared.metrics.clone(),
            fencing,
        );
        // Acknowledgements and replies leave once what they answer is stored.
        let delivery = tokio::spawn(
            Delivery {
                prefix: settings.mqtt.prefix.clone(),
                outgoing: outgoing.clone(),
                acks: acks.clone(),
            }
            .run(committed),
        );
        let ctx = Arc::new(EngineContext {
            pages: shared.registry.pages(),
            alerts: shared.alerts.clone(),
            summaries: shared.summaries.clone(),
            journal: journal.clone(),
            publisher: Some(Arc::new(MqttPublisher::new(
                outgoing.clone(),
                settings.mqtt.prefix.clone(),
            ))),
            encode_reply: payload::reply_text,
            page_base: shared.page_base.clone(),
            clock: shared.clock.clone(),
            metrics: shared.metrics.clone(),
            notify: settings.notify.clone(),
            checkpoint_every: (settings.server.checkpoint_every_s > 0).then(|| {
                chrono::Duration::seconds(
                    i64::try_from(settings.server.checkpoint_every_s).unwrap_or(i64::MAX),
                )
            }),
        });
        let mut hall_tasks = Vec::new();
        for (replayed, chain) in folded.replayed.halls.into_iter().zip(chains) {
            let (handle, task) = crate::engine::spawn_hall_on(replayed, chain, ctx.clone());
            shared.registry.insert(handle);
            hall_tasks.push(task);
        }
        drop(ctx);

        let stop = CancellationToken::new();
        let intake = CancellationToken::new();
        let taking_ended = CancellationToken::new();
        let ingest = Ingest {
            prefix: settings.mqtt.prefix.clone(),
            broker: settings.mqtt.broker.clone(),
            endpoint,
            registry: Some(shared.registry.clone()),
            writer: Some(journal),
            filters,
            link: link.clone(),
            gate: gate.clone(),
            taking_ended: taking_ended.clone(),
            metrics: shared.metrics.clone(),
            clock: shared.clock.clone(),
            acks,
            room: outgoing.room(),
        };
        let ingest = tokio::spawn(ingest.run(intake.clone(), stop.clone()));
        let outgoing = tokio::spawn(crate::mqtt::outgoing::run(
            outgoing_queue,
            settings.mqtt.broker.clone(),
            crate::mqtt::outgoing::Session {
                registry: Some(shared.registry.clone()),
                halls: only,
                link,
                gate,
            },
            intake.clone(),
            stop.clone(),
        ));
        Ok(Self {
            scope,
            halls,
            intake,
            taking_ended,
            stop,
            ingest,
            outgoing,
            hall_tasks,
            writer,
            delivery,
        })
    }

    /// Takes its halls out of the registry and asks each hall task to stop
    /// once it has handled what is queued. Screens, dashboards and consoles
    /// still holding a hall's handle do not keep its task alive.
    async fn stop_halls(&self, registry: &Registry) {
        // A message ingest has read but not yet handed to its hall must
        // still find the hall.
        if tokio::time::timeout(Duration::from_secs(10), self.taking_ended.cancelled())
            .await
            .is_err()
        {
            error!("Ingest did not stop taking messages within 10 s; stopping the halls anyway.");
        }
        for id in &self.halls {
            if let Some(hall) = registry.remove(id) {
                hall.stop().await;
            }
        }
    }

    /// Stops cleanly: no new messages (the broker keeps them for whoever
    /// runs these halls next), every received one stored and acknowledged,
    /// then the broker session closed.
    pub async fn stop(mut self, registry: &Registry, health: &Health) {
        self.intake.cancel();
        self.stop_halls(registry).await;
        // The hall tasks (with ingest, which let go at intake's end) were
        // the last senders to the writer.
        for task in std::mem::take(&mut self.hall_tasks) {
            let _ = task.await;
        }
        // The connections are still up, so the last acks and replies go out.
        let drained = tokio::time::timeout(Duration::from_secs(30), async {
            let _ = (&mut self.writer).await;
            let _ = (&mut self.delivery).await;
        })
        .await;
        if drained.is_err() {
            error!(
                "The store writer and what follows its commits did not finish within 30 s; unstored or unacknowledged messages will be redelivered by the broker."
            );
        }
        self.close_session(health).await;
    }

    /// Ends both broker connections' loops and forgets the session's link.
    async fn close_session(&mut self, health: &Health) {
        self.stop.cancel();
        let _ = (&mut self.ingest).await;
        let _ = (&mut self.outgoing).await;
        health.drop_link(self.scope.name());
    }

    /// Drops everything at once after the partition was lost: nothing more
    /// is stored or acknowledged, and the broker session is left as it is
    /// for the new owner.
    pub async fn abandon(mut self, registry: &Registry, health: &Health) {
        if let Some(lease) = self.scope.lease() {
            lease.gate.lost.cancel();
        }
        self.intake.cancel();
        self.stop_halls(registry).await;
        let started = Instant::now();
        let done = tokio::time::timeout(Duration::from_secs(5), async {
            for task in &mut self.hall_tasks {
                let _ = task.await;
            }
            let _ = (&mut self.writer).await;
            let _ = (&mut self.delivery).await;
        })
        .await;
        if done.is_err() {
            for task in &self.hall_tasks {
                task.abort();
            }
            self.writer.abort();
            self.delivery.abort();
        }
        self.close_session(health).await;
        info!(
            partition = self.scope.name(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "Stood down from a lost partition."
        );
    }
}
