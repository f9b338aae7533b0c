//! The ingest loop: polls the broker connection, keeps the subscriptions,
//! decodes each message and hands it to its hall. Anything that cannot reach
//! a hall is stored as a rejection, answered and acknowledged here.

use std::sync::Arc;
use std::time::Duration;

use rumqttc::{AsyncClient, Event, EventLoop, Packet, Publish, QoS};
use tokio_util::sync::CancellationToken;
use tracing::{info, info_span, warn};

use super::acks::{AckQueue, AckTicket};
use super::payload::{self, Rejection};
use super::topic::{self, Inbound};
use crate::clock::Clock;
use crate::domain::Reason;
use crate::engine::{Origin, Registry, cut};
use crate::health::Health;
use crate::metrics::Metrics;
use crate::store::{Record, RejectionRow, StoreWriter, WriteItem};

/// What the ingest loop needs.
pub struct Ingest {
    pub prefix: String,
    pub client: AsyncClient,
    pub registry: Registry,
    pub writer: StoreWriter,
    pub health: Arc<Health>,
    pub metrics: Arc<Metrics>,
    pub clock: Arc<dyn Clock>,
    pub acks: Arc<AckQueue>,
}

/// The longest pause between reconnection attempts, so that the server is
/// back within about a second of the broker's return.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

impl Ingest {
    /// Runs until `stop` is cancelled.
    pub async fn run(self, mut eventloop: EventLoop, stop: CancellationToken) {
        let mut backoff = Duration::from_millis(100);
        loop {
            let event = tokio::select! {
                _ = stop.cancelled() => break,
                e = eventloop.poll() => e,
            };
            match event {
                Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                    backoff = Duration::from_millis(100);
                    self.health.set_mqtt(true);
                    self.acks.reset();
                    info!(
                        session_present = ack.session_present,
                        "Connected to the MQTT broker."
                    );
                    // Subscribe on every connection: it is harmless when the
                    // session was resumed, and it makes the broker send the
                    // retained presence messages again.
                    for filter in topic::subscriptions(&self.prefix) {
                        if let Err(e) = self.client.try_subscribe(filter.clone(), QoS::AtLeastOnce)
                        {
                            warn!(error = %e, %filter, "Could not subscribe.");
                        }
                    }
                }
                Ok(Event::Incoming(Packet::Publish(p))) => self.handle(p).await,
                Ok(_) => {}
                Err(e) => {
                    if self.health.set_mqtt(false) {
                        warn!(error = %e, "Lost the MQTT broker; reconnecting.");
                    }
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
        let _ = self.client.try_disconnect();
        info!("Ingest stopped.");
    }

    async fn handle(&self, p: Publish) {
        let topic_name = p.topic.clone();
        let span = info_span!("mqtt", topic = %topic_name);
        let _guard = span.enter();
        let inbound = match topic::parse(&self.prefix, &topic_name) {
            Ok(i) => i,
            Err(e) => {
                self.metrics.received("unknown");
                let r = Rejection {
                    reason: e.reason,
                    detail: e.detail,
                    msg_id: payload::peek_id(&p.payload),
                };
                drop(_guard);
                return self.reject(None, topic_name, p, r);
            }
        };
        self.metrics.received(match inbound {
            Inbound::KioskRequest { .. } => "kiosk",
            Inbound::WindowCommand { .. } => "window",
            Inbound::Rating { .. } => "rating",
            Inbound::DeviceStatus { .. } => "status",
        });
        let Some(hall) = self.registry.get(inbound.hall()) else {
            let r = Rejection {
                reason: Reason::UnknownHall,
                detail: format!("hall {:?} is not configured", inbound.hall().as_str()),
                msg_id: payload::peek_id(&p.payload),
            };
            drop(_guard);
            return self.reject(Some(inbound), topic_name, p, r);
        };
        match payload::decode(&inbound, &p.payload) {
            Err(r) => {
                drop(_guard);
                self.reject(Some(inbound), topic_name, p, r)
            }
            Ok(input) => {
                let payload = p.payload.to_vec();
                let origin = Origin {
                    inbound,
                    topic: topic_name,
                    payload,
                    ack: self.ticket(p),
                };
                drop(_guard);
                if !hall.device(input, origin).await {
                    warn!("A hall task has stopped; the message stays unacknowledged.");
                }
            }
        }
    }

    /// Stores, counts and answers a message no hall could take.
    fn reject(&self, inbound: Option<Inbound>, topic: String, p: Publish, r: Rejection) {
        self.metrics.rejected(r.reason);
        info!(%topic, reason = r.reason.code(), detail = %r.detail, "Message rejected.");
        let mut item = WriteItem::default();
        item.records.push(Record::Rejection(RejectionRow {
            received_at: self.clock.now(),
            topic,
            payload: cut(&p.payload),
            reason: r.reason.code().to_owned(),
            detail: r.detail.clone(),
            hall: inbound.as_ref().map(|i| i.hall().to_string()),
            msg_id: r.msg_id.clone(),
        }));
        // Answered where the device and the request id can be read (contract).
        if let Some(inbound) = &inbound
            && r.msg_id.is_some()
            && let Some(reply_topic) = inbound.reply_topic(&self.prefix)
        {
            let json = payload::rejection_json(inbound, &r, r.reason.message());
            item.after
                .publish
                .push((reply_topic, json.to_string().into_bytes()));
        }
        item.after.ack = self.ticket(p);
        self.writer.send(item);
    }

    /// A place in the acknowledgement line, for messages that need one.
    fn ticket(&self, p: Publish) -> Option<AckTicket> {
        (p.qos != QoS::AtMostOnce).then(|| self.acks.register(p))
    }
}
