//! The latest summary of every hall, for the views above the hall
//! (province, city, county): from this instance's own halls as they
//! change, and with `[cluster]` from the broker, where every instance's
//! halls publish theirs (retained `{prefix}/{hall}/summary`). A summary of
//! a hall another instance runs also goes out on this instance's summary
//! channel, so a region screen sees every hall of its scope whichever
//! instance it reached. The roll-up itself is the domain's
//! ([`crate::domain::roll_up`]).

use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use rumqttc::{Event, Packet, QoS};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::config::Settings;
use crate::domain::{RegionLevel, RegionRow, SummaryView, roll_up};
use crate::engine::{Frame, HallFrame, Registry, SummaryFrames};

/// Each hall's last summary.
#[derive(Debug, Default)]
pub struct Board {
    /// Every configured hall with its region path, in configuration order.
    expected: Vec<(String, Vec<RegionLevel>)>,
    summaries: DashMap<String, SummaryView>,
}

impl Board {
    /// A board for the configured halls, empty until they report.
    pub fn new(settings: &Settings) -> Self {
        Self {
            expected: settings
                .halls
                .iter()
                .map(|h| (h.id.as_str().to_owned(), h.region.clone()))
                .collect(),
            summaries: DashMap::new(),
        }
    }

    pub fn put(&self, s: &SummaryView) {
        self.summaries.insert(s.hall.as_str().to_owned(), s.clone());
    }

    /// The last summary of each configured hall that `wanted` accepts, in
    /// configuration order.
    pub fn summaries(&self, wanted: impl Fn(&str) -> bool) -> Vec<SummaryView> {
        self.expected
            .iter()
            .filter(|(h, _)| wanted(h))
            .filter_map(|(h, _)| self.summaries.get(h).map(|s| s.clone()))
            .collect()
    }

    /// The roll-up of the configured halls that `in_scope` accepts.
    pub fn roll_up(&self, in_scope: impl Fn(&str) -> bool) -> Vec<RegionRow> {
        let expected: Vec<(String, Vec<RegionLevel>)> = self
            .expected
            .iter()
            .filter(|(h, _)| in_scope(h))
            .cloned()
            .collect();
        roll_up(&expected, &self.summaries(in_scope))
    }

    /// Keeps the board up to date with the summary channel until `stop`.
    pub async fn follow_local(self: Arc<Self>, summaries: SummaryFrames, stop: CancellationToken) {
        let mut rx = summaries.subscribe();
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                m = rx.recv() => match m {
                    Ok(f) => self.put(&f.frame.msg),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                },
            }
        }
    }

    /// With `[cluster]`: the summaries of the halls other instances run,
    /// from the broker, onto the board and this instance's summary channel,
    /// until `stop`.
    pub async fn follow_broker(
        self: Arc<Self>,
        settings: Arc<Settings>,
        registry: Registry,
        channel: SummaryFrames,
        stop: CancellationToken,
    ) {
        let (client, mut eventloop) =
            match crate::mqtt::client::watch(&settings.mqtt, &settings.mqtt.client_id) {
                Ok(c) => c,
                Err(e) => {
                    warn!(error = %e, "Cannot watch the halls' summaries on the broker.");
                    return;
                }
            };
        let filter = format!("{}/+/summary", settings.mqtt.prefix);
        loop {
            let event = tokio::select! {
                _ = stop.cancelled() => break,
                e = eventloop.poll() => e,
            };
            match event {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    if let Err(e) = client.subscribe(&filter, QoS::AtMostOnce).await {
                        warn!(error = %e, "Cannot subscribe to the halls' summaries.");
                    } else {
                        info!(%filter, "Watching every hall's summary for the region views.");
                    }
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let view: SummaryView = match serde_json::from_slice(&p.payload) {
                        Ok(v) => v,
                        Err(e) => {
                            debug!(topic = %p.topic, error = %e, "A summary the region views cannot read.");
                            continue;
                        }
                    };
                    // This instance's own halls are on the channel already,
                    // fresher than the broker's copy.
                    let configured = self.expected.iter().any(|(h, _)| h == view.hall.as_str());
                    if !configured || registry.get(&view.hall).is_some() {
                        continue;
                    }
                    self.put(&view);
                    let _ = channel.send(HallFrame {
                        hall: view.hall.clone(),
                        frame: Frame::new(view),
                    });
                }
                Ok(_) => {}
                Err(e) => {
                    debug!(error = %e, "The summaries' broker connection failed; reconnecting.");
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
            }
        }
        let _ = client.disconnect().await;
    }
}
