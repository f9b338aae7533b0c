//! The outgoing connection: what hall tasks publish (window states,
//! calls, summaries, alerts), put into topics and payloads here, and the
//! connection's loop, which only has to be polled for them to leave and
//! reconnects by itself. Nothing arrives on it but the broker's
//! acknowledgements.

use std::time::Duration;

use rumqttc::{AsyncClient, Event, EventLoop, Outgoing, Packet, QoS};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::{payload, topic};
use crate::engine::{self, Publisher, Registry};
use crate::health::Link;

/// Publishes what hall tasks say on the outgoing connection.
pub struct MqttPublisher {
    pub client: AsyncClient,
    pub prefix: String,
}

impl Publisher for MqttPublisher {
    fn publish(&self, msg: engine::Outgoing<'_>) {
        use engine::Outgoing as O;
        let p = &self.prefix;
        let (topic, payload, retain) = match msg {
            O::WindowState(hall, w) => (
                topic::window_state(p, hall, &w.display.id),
                payload::window_state(w),
                true,
            ),
            O::Call(hall, call) => (topic::call(p, hall), payload::call(call), false),
            O::Summary(s) => (topic::summary(p, &s.hall), payload::summary(s), true),
            O::Alert(a) => (topic::alert(p, &a.hall), payload::alert(a), false),
            O::Card(c) => (topic::card(p, &c.hall), payload::card(c), false),
            O::AuditHead(hall, r) => (
                topic::audit_head(p, hall),
                payload::audit_head(hall, r),
                true,
            ),
        };
        // Never waits: a full request queue drops the message with a warning
        // rather than stall the hall (the next state or summary follows).
        if let Err(e) = self
            .client
            .try_publish(topic.clone(), QoS::AtLeastOnce, retain, payload)
        {
            warn!(error = %e, %topic, "Could not queue an MQTT message.");
        }
    }
}

/// What the outgoing loop publishes for, besides its connection.
pub struct Session {
    /// Let go once intake is cancelled, so the halls can stop.
    pub registry: Option<Registry>,
    /// The halls whose retained states it publishes again on every
    /// connection: a partition's, or (`None`) every hall of the registry.
    pub halls: Option<Vec<crate::domain::HallId>>,
    pub link: std::sync::Arc<Link>,
    /// A partition's lease, as for ingest.
    pub gate: Option<std::sync::Arc<crate::cluster::Gate>>,
}

/// The longest pause between reconnection attempts, as for ingest.
const MAX_BACKOFF: Duration = Duration::from_millis(500);

/// Polls the outgoing connection until `stop` is cancelled, then sends what
/// is still queued (the writer's last replies) and disconnects. On every
/// connection the halls publish their retained window states again: a
/// broker that lost its state lost them too, and what was queued while the
/// connection was down is dropped when the broker starts a fresh session.
/// `registry` is let go once `intake` is cancelled, so the halls can stop.
pub async fn run(
    client: AsyncClient,
    mut eventloop: EventLoop,
    broker: String,
    session: Session,
    intake: CancellationToken,
    stop: CancellationToken,
) {
    let Session {
        mut registry,
        halls,
        link: health,
        gate,
    } = session;
    let lost = gate.as_ref().map(|g| g.lost.clone()).unwrap_or_default();
    let mut backoff = Duration::from_millis(100);
    let mut connected = false;
    let mut last_error: Option<String> = None;
    loop {
        let event = tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            _ = lost.cancelled() => {
                health.set_outgoing(false);
                info!("Partition lost: its outgoing connection is dropped.");
                return;
            }
            _ = intake.cancelled(), if registry.is_some() => {
                registry = None;
                continue;
            }
            e = eventloop.poll() => e,
        };
        match event {
            Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                backoff = Duration::from_millis(100);
                last_error = None;
                connected = true;
                health.set_outgoing(true);
                info!(
                    session_present = ack.session_present,
                    "Outgoing connection to the MQTT broker is up."
                );
                if let Some(registry) = &registry {
                    for hall in registry.all() {
                        if halls.as_ref().is_none_or(|h| h.contains(&hall.spec.id)) {
                            hall.republish().await;
                        }
                    }
                }
            }
            Ok(_) => {}
            Err(e) => {
                // Once per distinct reason, like ingest; what is queued waits
                // in the client and goes out after the reconnection.
                let reason = e.to_string();
                if connected {
                    warn!(error = %reason, "Lost the outgoing MQTT connection; replies wait until it is back.");
                } else if last_error.as_deref() != Some(reason.as_str()) {
                    warn!(error = %reason, %broker, "Cannot open the outgoing MQTT connection; retrying.");
                }
                connected = false;
                health.set_outgoing(false);
                last_error = Some(reason);
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
                if let Some(gate) = &gate {
                    gate.wait_open(&stop).await;
                }
            }
        }
    }
    // The disconnect queues behind everything already published, so the
    // writer's last replies leave first.
    if connected && client.try_disconnect().is_ok() {
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            while let Ok(ev) = eventloop.poll().await {
                if matches!(ev, Event::Outgoing(Outgoing::Disconnect)) {
                    break;
                }
            }
        })
        .await;
    }
    info!("Outgoing connection closed.");
}
