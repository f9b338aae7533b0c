//! The single writer: batches records into transactions and, only after a
//! batch is committed, acknowledges its messages to the broker and sends the
//! replies that depend on them. A crash therefore loses no acknowledged event;
//! the broker redelivers the rest.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, QoS};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{debug, error, info, warn};

use super::{Record, Store, StoreError};
use crate::health::Health;
use crate::metrics::Metrics;
use crate::mqtt::acks::{AckQueue, AckTicket};

/// Records per transaction at most.
const MAX_BATCH: usize = 512;

/// What to do once an item's records are committed.
#[derive(Debug, Default)]
pub struct AfterCommit {
    /// The broker message to acknowledge, by its place in line.
    pub ack: Option<AckTicket>,
    /// Messages to publish (topic, payload), QoS 1, not retained.
    pub publish: Vec<(String, Vec<u8>)>,
}

/// Records to store and what follows their commit.
#[derive(Debug, Default)]
pub struct WriteItem {
    pub records: Vec<Record>,
    pub after: AfterCommit,
}

/// A handle for queueing writes. Cheap to clone; the writer stops once every
/// handle is dropped and the queue is drained.
#[derive(Clone, Debug)]
pub struct StoreWriter {
    tx: mpsc::UnboundedSender<WriteItem>,
}

impl StoreWriter {
    /// Queues an item. The queue is unbounded on purpose: the broker bounds
    /// what is in flight unacknowledged, and a stalled database must not
    /// stall live screens.
    pub fn send(&self, item: WriteItem) {
        if self.tx.send(item).is_err() {
            error!("Store writer has stopped; a write was not queued.");
        }
    }
}

/// A handle whose items are kept in a channel and never written: for unit
/// tests that need a hall task without a database.
#[cfg(test)]
pub(super) fn detached() -> (StoreWriter, mpsc::UnboundedReceiver<WriteItem>) {
    let (tx, rx) = mpsc::unbounded_channel();
    (StoreWriter { tx }, rx)
}

/// Where what follows a commit goes.
#[derive(Clone, Debug)]
pub struct Outbound {
    /// The connection the messages arrived on: their acknowledgements go
    /// back on it.
    pub ingest: AsyncClient,
    /// The connection that carries what the server publishes (see
    /// [`crate::mqtt::client`]).
    pub outgoing: AsyncClient,
    pub acks: Arc<AckQueue>,
}

/// Starts the writer task.
pub fn spawn_writer(
    store: Store,
    mqtt: Option<Outbound>,
    health: Arc<Health>,
    metrics: Arc<Metrics>,
) -> (StoreWriter, JoinHandle<()>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(run(store, mqtt, health, metrics, rx));
    (StoreWriter { tx }, task)
}

async fn run(
    store: Store,
    mqtt: Option<Outbound>,
    health: Arc<Health>,
    metrics: Arc<Metrics>,
    mut rx: mpsc::UnboundedReceiver<WriteItem>,
) {
    let mut batch: Vec<WriteItem> = Vec::new();
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(item) => batch.push(item),
                Err(_) => break,
            }
        }
        // References, not copies: the batch keeps the records for a retry.
        let records: Vec<&Record> = batch.iter().flat_map(|i| &i.records).collect();
        let started = Instant::now();
        let result = commit(&store, &records, &health).await;
        if !records.is_empty() {
            metrics.store_batch_size.observe(records.len() as f64);
            metrics
                .store_commit
                .observe(started.elapsed().as_secs_f64());
        }
        if let Err(e) = result {
            // One record the database refuses must not stop the others:
            // write item by item and set the refused ones aside, loudly.
            error!(error = %e, "A batch holds a record the database refuses; writing it item by item.");
            for item in &batch {
                let one: Vec<&Record> = item.records.iter().collect();
                if let Err(e) = commit(&store, &one, &health).await {
                    error!(error = %e, records = ?item.records, "The database refuses this record; it is not stored.");
                }
            }
        }
        for item in batch.drain(..) {
            after_commit(mqtt.as_ref(), item.after).await;
        }
    }
    info!("Store writer drained and stopped.");
}

/// Writes until it succeeds: nothing is acknowledged before that, so the
/// broker keeps every unstored message for us. Returns the error only when
/// retrying cannot help (the data itself is refused).
async fn commit(store: &Store, records: &[&Record], health: &Health) -> Result<(), StoreError> {
    let mut backoff = Duration::from_millis(100);
    loop {
        let started = Instant::now();
        match store.write_refs(records).await {
            Ok(()) => {
                if health.set_store_ok() {
                    info!("Store is writable again; acknowledgements resume.");
                }
                debug!(
                    records = records.len(),
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "Batch committed."
                );
                return Ok(());
            }
            Err(e) if e.is_permanent() => return Err(e),
            Err(e) => {
                if health.set_store_failed(&e.to_string()) {
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

async fn after_commit(mqtt: Option<&Outbound>, after: AfterCommit) {
    let Some(out) = mqtt else { return };
    if let Some(ticket) = after.ack {
        for p in out.acks.complete(ticket) {
            if let Err(e) = out.ingest.ack(&p).await {
                warn!(error = %e, topic = %p.topic, "Could not acknowledge a message; the broker will redeliver it.");
            }
        }
    }
    for (topic, payload) in after.publish {
        if let Err(e) = out
            .outgoing
            .publish(topic.clone(), QoS::AtLeastOnce, false, payload)
            .await
        {
            warn!(error = %e, %topic, "Could not publish a reply.");
        }
    }
}
