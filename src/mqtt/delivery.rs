//! What follows a commit: the store writer reports each committed item's
//! `AfterCommit`, each hall's in the order it applied them (the writer's
//! lanes commit side by side, so halls interleave), and this task marks the
//! message stored in the acknowledgement line (see `acks`; the ingest
//! connection writes the acknowledgements, in arrival order) and sends the
//! reply that depends on it. So nothing is acknowledged or answered before
//! it is stored, and the store holds no MQTT client.

use std::sync::Arc;

use tracing::{info, warn};

use super::acks::AckQueue;
use super::outbox::Outbox;
use super::topic;
use crate::engine::AfterCommit;
use crate::store::Committed;

/// Where what follows a commit goes.
pub struct Delivery {
    pub prefix: String,
    /// The connection that carries what the server publishes (see
    /// [`super::client`]).
    pub outgoing: Outbox,
    /// The line the ingest connection acknowledges from.
    pub acks: Arc<AckQueue>,
}

impl Delivery {
    /// Runs until the writer has stopped and everything it reported is sent.
    pub async fn run(self, mut committed: Committed<AfterCommit>) {
        while let Some(after) = committed.recv().await {
            self.deliver(after).await;
            // And whatever else is committed by now, so that their
            // acknowledgements leave in one write.
            while let Ok(after) = committed.try_recv() {
                self.deliver(after).await;
            }
            self.acks.wake();
        }
        info!("Acknowledgements and replies delivered; delivery stopped.");
    }

    async fn deliver(&self, after: AfterCommit) {
        if let Some(receipt) = after.receipt {
            self.acks.complete(receipt);
        }
        if let Some(sent) = after.reply {
            let topic = topic::reply(&self.prefix, &sent.hall, &sent.to);
            if !self.outgoing.has_room() {
                // The reply will wait for room (the outgoing connection is
                // down or behind): the acknowledgements due need not.
                self.acks.wake();
            }
            if let Err(e) = self.outgoing.publish(topic, false, sent.payload).await {
                warn!(error = %e, topic = %e.topic(), "Could not publish a reply.");
            }
        }
    }
}
