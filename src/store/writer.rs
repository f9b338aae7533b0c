//! The writer: batches records into transactions and, only after a batch
//! is committed, reports what each item asked to follow its commit on the
//! channel `spawn_writer` returns. Whoever reads it sends the broker's
//! acknowledgements and the replies that depend on the commit (see
//! `mqtt::delivery`), so a crash loses no acknowledged event and the broker
//! redelivers the rest. The store itself knows nothing of MQTT.
//!
//! It writes in lanes ([`Store::write_lanes`]): each hall's records go to
//! one lane, by its id, and a lane commits its batches one after another,
//! so a hall's events are stored, numbered and reported in the order it
//! applied them. Lanes commit side by side: on PostgreSQL a batch's round
//! trips and its commit's flush overlap with the other lanes' work. SQLite
//! takes one writer at a time, so it has one lane, as has each partition
//! of a cluster (their writers already commit side by side).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};
use tracing::{debug, error, info, warn};

use tokio_util::sync::CancellationToken;

use super::{Fence, Record, Store, StoreError};
use crate::health::Health;
use crate::metrics::Metrics;

/// Records per transaction at most.
const MAX_BATCH: usize = 512;

/// Records to store, and what follows their commit (reported on the
/// writer's `Committed` channel once they are stored).
#[derive(Debug)]
pub struct WriteItem<A> {
    pub records: Vec<Record>,
    pub after: Option<A>,
}

impl<A> WriteItem<A> {
    /// Records with nothing to follow their commit.
    pub fn records(records: Vec<Record>) -> Self {
        Self {
            records,
            after: None,
        }
    }
}

/// A handle for queueing writes. Cheap to clone; the writer stops once every
/// handle is dropped and the queues are drained.
#[derive(Debug)]
pub struct StoreWriter<A> {
    lanes: Arc<[mpsc::UnboundedSender<WriteItem<A>>]>,
}

impl<A> Clone for StoreWriter<A> {
    fn clone(&self) -> Self {
        Self {
            lanes: self.lanes.clone(),
        }
    }
}

impl<A> StoreWriter<A> {
    /// Queues an item of no hall, or of one whose order with its other
    /// items does not matter (a message refused before it reached a hall).
    /// The queues are unbounded on purpose: the broker bounds what is in
    /// flight unacknowledged, and a stalled database must not stall live
    /// screens.
    pub fn send(&self, item: WriteItem<A>) {
        self.queue(0, item);
    }

    /// Queues an item of `hall`, behind the hall's earlier items: they are
    /// committed, and reported, before it.
    pub fn send_for(&self, hall: &str, item: WriteItem<A>) {
        self.queue(lane_of(hall, self.lanes.len()), item);
    }

    fn queue(&self, lane: usize, item: WriteItem<A>) {
        if self.lanes[lane].send(item).is_err() {
            error!("Store writer has stopped; a write was not queued.");
        }
    }

    /// A handle whose items are kept in a channel and never written: for
    /// tests that need a hall task without a database.
    pub fn detached() -> (Self, mpsc::UnboundedReceiver<WriteItem<A>>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Self { lanes: [tx].into() }, rx)
    }
}

/// The lane of a hall's items, of `lanes`: the number its id spreads to
/// (the same on every start), mixed so that every bit of it counts (its low
/// bits follow the id's last bytes' low bits alone).
fn lane_of(hall: &str, lanes: usize) -> usize {
    let mut hash = crate::spread(hall);
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
    hash ^= hash >> 33;
    (hash % lanes.max(1) as u64) as usize
}

/// What followed each commit: a lane's in its commit order, so each hall's
/// in the order of its items.
pub type Committed<A> = mpsc::UnboundedReceiver<A>;

/// Starts the writer task.
pub fn spawn_writer<A: Send + Sync + 'static>(
    store: Store,
    health: Arc<Health>,
    metrics: Arc<Metrics>,
) -> (StoreWriter<A>, Committed<A>, JoinHandle<()>) {
    spawn_fenced_writer(store, health, metrics, None)
}

/// The lease a partition's writer writes under, and what it cancels when
/// the store refuses a write because another instance has taken the lease.
#[derive(Debug, Clone)]
pub struct Fencing {
    pub fence: Fence,
    pub lost: CancellationToken,
}

/// Starts the writer task of a partition: every transaction checks, and
/// holds, the partition's lease. Once fenced it stores nothing more and
/// reports nothing more: the broker redelivers what it held to the new
/// owner.
pub fn spawn_fenced_writer<A: Send + Sync + 'static>(
    store: Store,
    health: Arc<Health>,
    metrics: Arc<Metrics>,
    fencing: Option<Fencing>,
) -> (StoreWriter<A>, Committed<A>, JoinHandle<()>) {
    let (done_tx, done) = mpsc::unbounded_channel();
    // A partition of a cluster writes in one lane: the partitions already
    // commit side by side, sharing the pool's connections.
    let lanes = if fencing.is_some() {
        1
    } else {
        store.write_lanes()
    };
    let failing = Arc::new(AtomicUsize::new(0));
    // The lanes belong to the returned task: aborting it drops the set,
    // which aborts them.
    let mut tasks = JoinSet::new();
    let lanes: Vec<_> = (0..lanes)
        .map(|_| {
            let (tx, rx) = mpsc::unbounded_channel();
            tasks.spawn(run(
                Lane {
                    store: store.clone(),
                    health: health.clone(),
                    failing: failing.clone(),
                },
                metrics.clone(),
                fencing.clone(),
                rx,
                done_tx.clone(),
            ));
            tx
        })
        .collect();
    let task = tokio::spawn(async move {
        while let Some(ended) = tasks.join_next().await {
            if let Err(e) = ended {
                error!(error = %e, "A store writer lane ended abnormally.");
            }
        }
        info!("Store writer drained and stopped.");
    });
    (
        StoreWriter {
            lanes: lanes.into(),
        },
        done,
        task,
    )
}

/// What a lane writes to, and how the store's health is told: the store is
/// reported writable again only once no lane is failing.
struct Lane {
    store: Store,
    health: Arc<Health>,
    /// Lanes whose last commit failed and that are retrying it.
    failing: Arc<AtomicUsize>,
}

/// One lane: takes what is queued, commits it as one batch, reports what
/// follows each item, and so on until every handle is dropped.
async fn run<A: Send + Sync>(
    lane: Lane,
    metrics: Arc<Metrics>,
    fencing: Option<Fencing>,
    mut rx: mpsc::UnboundedReceiver<WriteItem<A>>,
    committed: mpsc::UnboundedSender<A>,
) {
    let fence = fencing.as_ref().map(|f| &f.fence);
    let mut batch: Vec<WriteItem<A>> = Vec::new();
    while let Some(first) = rx.recv().await {
        let mut ends = holds_checkpoint(&first);
        batch.push(first);
        // A checkpoint ends its batch: it holds its hall as of the hall's
        // last event stored before it, so none of the hall's later events
        // may share its transaction.
        while batch.len() < MAX_BATCH && !ends {
            match rx.try_recv() {
                Ok(item) => {
                    ends = holds_checkpoint(&item);
                    batch.push(item);
                }
                Err(_) => break,
            }
        }
        // References, not copies: the batch keeps the records for a retry.
        let records: Vec<&Record> = batch.iter().flat_map(|i| &i.records).collect();
        let started = Instant::now();
        let result = commit(&lane, &records, fence).await;
        if !records.is_empty() {
            metrics.store_batch_size.observe(records.len() as f64);
            metrics
                .store_commit
                .observe(started.elapsed().as_secs_f64());
        }
        // How many items of the batch were dealt with (stored, or refused
        // for good) before the partition was found fenced, if it was.
        let mut fenced_at = matches!(result, Err(StoreError::Fenced { .. })).then_some(0);
        if let Err(e) = &result
            && fenced_at.is_none()
        {
            // One record the database refuses must not stop the others:
            // write item by item and set the refused ones aside, loudly.
            error!(error = %e, "A batch holds a record the database refuses; writing it item by item.");
            for (n, item) in batch.iter().enumerate() {
                let one: Vec<&Record> = item.records.iter().collect();
                match commit(&lane, &one, fence).await {
                    Ok(()) => {}
                    Err(StoreError::Fenced { .. }) => {
                        fenced_at = Some(n);
                        break;
                    }
                    Err(e) => {
                        error!(error = %e, records = ?item.records, "The database refuses this record; it is not stored.");
                    }
                }
            }
        }
        drop(records);
        // Nobody listening (a store without a broker) is no error.
        let done = fenced_at.unwrap_or(batch.len());
        for after in batch.drain(..).take(done).filter_map(|i| i.after) {
            let _ = committed.send(after);
        }
        if fenced_at.is_some() {
            error!("Another instance owns this partition now; storing nothing more.");
            if let Some(f) = &fencing {
                f.lost.cancel();
            }
            // Nothing more is acknowledged; what still comes is dropped the
            // same way until the senders let go.
            while rx.recv().await.is_some() {}
            break;
        }
    }
}

fn holds_checkpoint<A>(item: &WriteItem<A>) -> bool {
    item.records
        .iter()
        .any(|r| matches!(r, Record::Checkpoint(_)))
}

/// Writes until it succeeds: nothing is acknowledged before that, so the
/// broker keeps every unstored message for us. Returns the error only when
/// retrying cannot help (the data itself is refused).
async fn commit(lane: &Lane, records: &[&Record], fence: Option<&Fence>) -> Result<(), StoreError> {
    let mut backoff = Duration::from_millis(100);
    // Whether this lane counts itself among the failing ones.
    let mut failing = false;
    let stop_failing = |failing: &mut bool| {
        if std::mem::take(failing) {
            lane.failing.fetch_sub(1, Ordering::SeqCst);
        }
    };
    loop {
        let started = Instant::now();
        match lane.store.write_refs(records, fence).await {
            Ok(()) => {
                stop_failing(&mut failing);
                if lane.failing.load(Ordering::SeqCst) == 0 && lane.health.set_store_ok() {
                    info!("Store is writable again; acknowledgements resume.");
                }
                debug!(
                    records = records.len(),
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "Batch committed."
                );
                return Ok(());
            }
            Err(e) if e.is_permanent() || matches!(e, StoreError::Fenced { .. }) => {
                stop_failing(&mut failing);
                return Err(e);
            }
            Err(e) => {
                if !failing {
                    failing = true;
                    lane.failing.fetch_add(1, Ordering::SeqCst);
                }
                if lane.health.set_store_failed(&e.to_string()) {
                    error!(error = %e, "Store write failed; holding acknowledgements and retrying.");
                } else {
                    warn!(error = %e, "Store write failed again.");
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::lane_of;

    #[test]
    fn halls_spread_over_every_lane_the_same_way_each_time() {
        let halls: Vec<String> = (1..=20).map(|h| format!("h{h}")).collect();
        let lanes: Vec<usize> = halls.iter().map(|h| lane_of(h, 4)).collect();
        assert!(lanes.iter().all(|&l| l < 4));
        for lane in 0..4 {
            assert!(lanes.contains(&lane), "lane {lane} unused: {lanes:?}");
        }
        // Ids four apart differ only in bits that FNV alone leaves out of
        // the low two.
        let apart: Vec<usize> = ["hall-1", "hall-5", "hall-9", "a", "e", "i", "m", "q"]
            .iter()
            .map(|h| lane_of(h, 4))
            .collect();
        assert!(
            apart.iter().any(|&l| l != apart[0]),
            "all in one lane: {apart:?}"
        );
        assert_eq!(
            lanes,
            halls.iter().map(|h| lane_of(h, 4)).collect::<Vec<_>>()
        );
        assert!(halls.iter().all(|h| lane_of(h, 1) == 0));
    }
}
