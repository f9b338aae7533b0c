//! What follows a commit: the store writer reports each committed item's
//! `AfterCommit`, in commit order, and this task acknowledges the message
//! to the broker (in arrival order, see `acks`) and sends the reply that
//! depends on it. So nothing is acknowledged or answered before it is
//! stored, and the store holds no MQTT client.

use std::sync::Arc;

use rumqttc::AsyncClient;
use tracing::{info, warn};

use super::acks::AckQueue;
use super::outbox::Outbox;
use super::topic;
use crate::engine::AfterCommit;
use crate::store::Committed;

/// Where what follows a commit goes.
pub struct Delivery {
    pub prefix: String,
    /// The connection the messages arrived on: their acknowledgements go
    /// back on it.
    pub ingest: AsyncClient,
    /// The connection that carries what the server publishes (see
    /// [`super::client`]).
    pub outgoing: Outbox,
    pub acks: Arc<AckQueue>,
}

impl Delivery {
    /// Runs until the writer has stopped and everything it reported is sent.
    pub async fn run(self, mut committed: Committed<AfterCommit>) {
        while let Some(after) = committed.recv().await {
            self.deliver(after).await;
        }
        info!("Acknowledgements and replies delivered; delivery stopped.");
    }

    async fn deliver(&self, after: AfterCommit) {
        if let Some(receipt) = after.receipt {
            for p in self.acks.complete(receipt) {
                if let Err(e) = self.ingest.ack(&p).await {
                    warn!(error = %e, topic = %super::topic::shown(&p.topic), "Could not acknowledge a message; the broker will redeliver it.");
                }
            }
        }
        if let Some(sent) = after.reply {
            let topic = topic::reply(&self.prefix, &sent.hall, &sent.to);
            if let Err(e) = self.outgoing.publish(topic, false, sent.payload).await {
                warn!(error = %e, topic = %e.topic(), "Could not publish a reply.");
            }
        }
    }
}
