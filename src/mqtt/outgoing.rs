//! The outgoing connection: what hall tasks publish (window states,
//! calls, summaries, alerts), put into topics and payloads here, and the
//! connection's loop, which only has to be polled for them to leave and
//! reconnects by itself. Nothing arrives on it but the broker's
//! acknowledgements.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::link;
use super::outbox::{Outbox, Queue, QueueError, Step};
use super::{payload, topic};
use crate::engine::{self, Publisher, Registry};
use crate::health::Link;

/// Publishes what hall tasks say on the outgoing connection.
pub struct MqttPublisher {
    client: Outbox,
    prefix: String,
    /// Messages dropped since the queue last took one: the first is
    /// logged, and the count once the queue has room again.
    dropped: AtomicU64,
}

impl MqttPublisher {
    pub fn new(client: Outbox, prefix: String) -> Self {
        Self {
            client,
            prefix,
            dropped: AtomicU64::new(0),
        }
    }
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
        // Never waits: a full queue drops the message rather than stall the
        // hall. It fills only when the broker is out of reach for long:
        // under load ingest stops taking messages while the queue has no
        // room (half of what refuses this one), and a retained state takes
        // the place of its waiting one.
        match self.client.try_publish(topic, retain, payload) {
            // A retained message is taken even when the queue is full.
            Ok(()) if retain => {}
            Ok(()) => {
                if self.dropped.load(Ordering::Relaxed) > 0 {
                    let dropped = self.dropped.swap(0, Ordering::Relaxed);
                    if dropped > 0 {
                        info!(dropped, "The outgoing MQTT queue has room again.");
                    }
                }
            }
            // The connection's loop has stopped: the server is stopping.
            Err(e @ QueueError::Closed(_)) => {
                debug!(error = %e, topic = %e.topic(), "A message was not queued.");
            }
            Err(e) => {
                if self.dropped.fetch_add(1, Ordering::Relaxed) == 0 {
                    warn!(error = %e, topic = %e.topic(),
                          "Could not queue an MQTT message; those that follow are dropped until the queue has room.");
                }
            }
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

/// How a connection ended.
enum Ended {
    Stop,
    Lost,
    Failed(String),
}

/// Runs the outgoing connection until `stop` is cancelled, then sends what
/// is still queued (the writer's last replies) and disconnects. On every
/// connection the halls publish their retained window states again: a
/// broker that lost its state lost them too. What was queued while the
/// connection was down goes out first, and what the broker had not
/// acknowledged is sent again. `registry` is let go once `intake` is
/// cancelled, so the halls can stop.
pub async fn run(
    mut queue: Queue,
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
    let mut last_error: Option<String> = None;
    loop {
        let opened = tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            _ = lost.cancelled() => return partition_lost(&health),
            _ = intake.cancelled(), if registry.is_some() => {
                registry = None;
                continue;
            }
            o = queue.connect() => o,
        };
        let ended = match opened {
            Ok(mut link) => {
                backoff = Duration::from_millis(100);
                health.set_outgoing(true);
                info!(
                    session_present = link.session_present,
                    "Outgoing connection to the MQTT broker is up."
                );
                if let Some(registry) = &registry {
                    for hall in registry.all() {
                        if halls.as_ref().is_none_or(|h| h.contains(&hall.spec.id)) {
                            hall.republish().await;
                        }
                    }
                }
                let ended = serve(
                    &mut queue,
                    &mut link,
                    &mut registry,
                    [&intake, &stop, &lost],
                )
                .await;
                match ended {
                    Ended::Stop => {
                        // Everything already queued leaves before the
                        // goodbye, so the writer's last replies go out.
                        let close = queue.close(link);
                        if let Ok(Err(e)) =
                            tokio::time::timeout(Duration::from_secs(2), close).await
                        {
                            warn!(error = %e, "Could not send the last messages before disconnecting.");
                        }
                        break;
                    }
                    Ended::Lost => return partition_lost(&health),
                    Ended::Failed(reason) => {
                        warn!(error = %reason, "Lost the outgoing MQTT connection; replies wait until it is back.");
                        reason
                    }
                }
            }
            Err(reason) => {
                // Once per distinct reason, like ingest; what is queued waits
                // and goes out after the reconnection.
                if last_error.as_deref() != Some(reason.as_str()) {
                    warn!(error = %reason, %broker, "Cannot open the outgoing MQTT connection; retrying.");
                }
                reason
            }
        };
        health.set_outgoing(false);
        last_error = Some(ended);
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
        if let Some(gate) = &gate {
            gate.wait_open(&stop).await;
        }
    }
    info!("Outgoing connection closed.");
}

fn partition_lost(health: &Link) {
    health.set_outgoing(false);
    info!("Partition lost: its outgoing connection is dropped.");
}

/// Sends what is queued and reads the broker's acknowledgements until the
/// connection fails, `stop` is cancelled or the partition is lost; pings
/// the broker every keep-alive interval.
async fn serve(
    queue: &mut Queue,
    link: &mut link::Link,
    registry: &mut Option<Registry>,
    [intake, stop, lost]: [&CancellationToken; 3],
) -> Ended {
    let mut ping = link::ping_interval(queue.endpoint.keep_alive);
    loop {
        let result = tokio::select! {
            biased;
            _ = stop.cancelled() => return Ended::Stop,
            _ = lost.cancelled() => return Ended::Lost,
            _ = intake.cancelled(), if registry.is_some() => {
                *registry = None;
                continue;
            }
            _ = ping.tick() => link.ping().await,
            step = queue.next(link) => match step {
                Ok(Step::Queued(Some(p))) => queue.send(link, p).await,
                // Every publisher has gone: nothing more will come.
                Ok(Step::Queued(None)) => return Ended::Stop,
                Ok(Step::Read) => Ok(()),
                Err(e) => Err(e),
            },
        };
        if let Err(e) = result {
            return Ended::Failed(e);
        }
    }
}
