//! The ingest loop: polls the broker connection, keeps the subscriptions,
//! decodes each message and hands it to its hall. Anything that cannot reach
//! a hall is stored as a rejection, answered and acknowledged here.

use std::sync::Arc;
use std::time::Duration;

use rumqttc::{AsyncClient, Event, EventLoop, Packet, Publish, QoS};
use tokio_util::sync::CancellationToken;
use tracing::{info, info_span, warn};

use super::acks::AckQueue;
use super::payload::{self, Rejection};
use super::topic::{self, Inbound};
use crate::clock::Clock;
use crate::cluster::Gate;
use crate::domain::Reason;
use crate::engine::{AfterCommit, Journal, Origin, Receipt, Registry, Sent};
use crate::health::Link;
use crate::metrics::Metrics;
use crate::store::{Record, RejectionRow, WriteItem};

/// What the ingest loop needs.
pub struct Ingest {
    pub prefix: String,
    /// The broker's address as configured, for the log.
    pub broker: String,
    pub client: AsyncClient,
    /// Dropped when intake stops, so the hall tasks can finish.
    pub registry: Option<Registry>,
    /// Dropped when intake stops, so the writer can drain.
    pub writer: Option<Journal>,
    /// The subscriptions: every hall's topics, or a partition's halls'.
    pub filters: Vec<String>,
    /// The session's connection state, for `/healthz`.
    pub link: Arc<Link>,
    /// A partition's lease, as far as this instance knows: no message is
    /// taken and no reconnection made once it is shut, and the loop ends at
    /// once, without a goodbye, when the partition is lost.
    pub gate: Option<Arc<Gate>>,
    /// Cancelled once this loop takes no more messages (intake stopped, or
    /// the loop ended): only then may the halls it feeds be taken away, or
    /// a message already read would find no hall and be refused.
    pub taking_ended: CancellationToken,
    pub metrics: Arc<Metrics>,
    pub clock: Arc<dyn Clock>,
    pub acks: Arc<AckQueue>,
}

/// The longest pause between reconnection attempts, so that the server is
/// back within about half a second of the broker's return (a refused
/// connection attempt costs next to nothing).
const MAX_BACKOFF: Duration = Duration::from_millis(500);

impl Ingest {
    /// Runs until `stop` is cancelled. Once `intake` is cancelled, new
    /// messages are left unacknowledged for the broker to redeliver, and
    /// the hall and store handles are dropped so they can drain; the
    /// connection stays up so the writer's last acknowledgements and
    /// replies still go out.
    pub async fn run(
        mut self,
        mut eventloop: EventLoop,
        intake: CancellationToken,
        stop: CancellationToken,
    ) {
        let mut backoff = Duration::from_millis(100);
        let mut suback_pending = 0usize;
        let mut last_error: Option<String> = None;
        let lost = self
            .gate
            .as_ref()
            .map(|g| g.lost.clone())
            .unwrap_or_default();
        let mut connected = false;
        let _taking = self.taking_ended.clone().drop_guard();
        loop {
            let event = tokio::select! {
                biased;
                _ = stop.cancelled() => break,
                _ = lost.cancelled() => {
                    // The broker keeps the session for the new owner, who
                    // may hold it already: no goodbye under its client id.
                    info!("Partition lost: leaving its broker session to the new owner.");
                    self.link.set_mqtt(false);
                    return;
                }
                _ = intake.cancelled(), if self.registry.is_some() => {
                    info!("Intake stopped; draining.");
                    self.registry = None;
                    self.writer = None;
                    self.taking_ended.cancel();
                    continue;
                }
                e = eventloop.poll() => e,
            };
            match event {
                Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                    connected = true;
                    backoff = Duration::from_millis(100);
                    last_error = None;
                    self.acks.reset();
                    info!(
                        session_present = ack.session_present,
                        "Connected to the MQTT broker."
                    );
                    // Subscribe on every connection: harmless when the session
                    // was resumed, and it makes the broker send the retained
                    // presence messages again.
                    suback_pending = self.filters.len();
                    for filter in &self.filters {
                        if let Err(e) = self.client.try_subscribe(filter.clone(), QoS::AtLeastOnce)
                        {
                            warn!(error = %e, %filter, "Could not subscribe.");
                        }
                    }
                    // A resumed session still holds the subscriptions: the
                    // broker is delivering already (the backlog first, ahead
                    // of the SubAcks). A fresh one counts once they are back.
                    if ack.session_present && self.link.set_mqtt(true) {
                        info!("Session resumed: taking traffic.");
                    }
                }
                Ok(Event::Incoming(Packet::SubAck(_))) => {
                    suback_pending = suback_pending.saturating_sub(1);
                    if suback_pending == 0 && self.link.set_mqtt(true) {
                        info!("Subscribed: taking traffic.");
                    }
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    if let Some(gate) = self.gate.clone().filter(|g| !g.open()) {
                        // The lease may be lost: take nothing. The broker
                        // resends what a session left unacknowledged only
                        // on a new connection, so leave this one, and come
                        // back once the lease is renewed (or stop, when it
                        // was taken).
                        warn!(
                            "The partition's lease is not surely held; leaving its broker session until it is."
                        );
                        eventloop.clean();
                        eventloop
                            .state
                            .events
                            .retain(|ev| !matches!(ev, Event::Incoming(Packet::Publish(_))));
                        connected = false;
                        self.link.set_mqtt(false);
                        gate.wait_open(&stop).await;
                    } else if self.registry.is_some() {
                        self.handle(p).await;
                    }
                    // After intake stops, it is left for the broker to
                    // redeliver.
                }
                Ok(_) => {}
                Err(e) => {
                    connected = false;
                    // Said once per distinct reason, also when the broker
                    // was never reached, so a wrong address or a refused
                    // login shows in the log without flooding it.
                    let reason = e.to_string();
                    if self.link.set_mqtt(false) {
                        warn!(error = %reason, "Lost the MQTT broker; reconnecting.");
                    } else if last_error.as_deref() != Some(reason.as_str()) {
                        warn!(error = %reason, broker = %self.broker, "Cannot reach the MQTT broker; retrying.");
                    }
                    last_error = Some(reason);
                    // Publishes read before the connection broke belong to it:
                    // their packet ids mean nothing on the next connection, and
                    // the broker redelivers them.
                    eventloop
                        .state
                        .events
                        .retain(|ev| !matches!(ev, Event::Incoming(Packet::Publish(_))));
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    if let Some(gate) = &self.gate {
                        gate.wait_open(&stop).await;
                    }
                }
            }
        }
        // Say goodbye so the broker keeps the session without a last-will
        // fuss; not when disconnected, as polling would connect again
        // (under a partition's client id, perhaps its new owner's).
        if connected && self.client.try_disconnect().is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(2), async {
                while let Ok(ev) = eventloop.poll().await {
                    if matches!(ev, Event::Outgoing(rumqttc::Outgoing::Disconnect)) {
                        break;
                    }
                }
            })
            .await;
        }
        info!("Ingest stopped.");
    }

    async fn handle(&self, p: Publish) {
        let received = std::time::Instant::now();
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
            Inbound::CaseEvent { .. } => "case",
        });
        let Some(hall) = self.registry.as_ref().and_then(|r| r.get(inbound.hall())) else {
            let r = Rejection {
                reason: Reason::UnknownHall,
                detail: format!("hall {:?} is not configured", inbound.hall().as_str()),
                msg_id: payload::peek_id(&p.payload),
            };
            drop(_guard);
            return self.reject(Some(inbound), topic_name, p, r);
        };
        match payload::decode_message(&inbound, &p.payload) {
            Err(r) => {
                drop(_guard);
                self.reject(Some(inbound), topic_name, p, r)
            }
            Ok(payload::Decoded { input, device_at }) => {
                // A payload a hall gets is within the contract's limit.
                let origin = Origin {
                    topic: topic_name,
                    device_at,
                    payload: p.payload.to_vec(),
                    receipt: self.ticket(p),
                    received: Some(received),
                };
                drop(_guard);
                if let Err(receipt) = hall.device(input, origin).await {
                    // Its place in the acknowledgement line must not hold up
                    // every other hall; the broker redelivers it later.
                    warn!("A hall task has stopped; the message stays unacknowledged.");
                    if let Some(receipt) = receipt {
                        self.acks.skip(receipt);
                    }
                }
            }
        }
    }

    /// Stores, counts and answers a message no hall could take.
    fn reject(&self, inbound: Option<Inbound>, topic: String, p: Publish, r: Rejection) {
        self.metrics.rejected(r.reason);
        // A device's topic may be anything: escaped and cut, in the log and
        // in the row alike.
        let topic = super::topic::shown(&topic);
        info!(%topic, reason = r.reason.code(), detail = %r.detail, "Message rejected.");
        let records = vec![Record::Rejection(RejectionRow {
            received_at: self.clock.now(),
            topic,
            payload: payload::cut(&p.payload),
            reason: r.reason.code().to_owned(),
            detail: r.detail.clone(),
            hall: inbound.as_ref().map(|i| i.hall().to_string()),
            msg_id: r.msg_id.clone(),
        })];
        // Answered where the device and the request id can be read (contract).
        let reply = inbound
            .as_ref()
            .filter(|_| r.msg_id.is_some())
            .and_then(|i| Some((i.hall(), i.reply_to()?)))
            .map(|(hall, to)| Sent {
                hall: hall.clone(),
                payload: payload::rejection_json(&to, &r, r.reason.message()).to_string(),
                to,
            });
        let after = AfterCommit {
            receipt: self.ticket(p),
            reply,
        };
        if let Some(writer) = &self.writer {
            writer.send(WriteItem {
                records,
                after: Some(after),
            });
        }
    }

    /// A place in the acknowledgement line, for messages that need one.
    fn ticket(&self, p: Publish) -> Option<Receipt> {
        (p.qos != QoS::AtMostOnce).then(|| self.acks.register(p))
    }
}
