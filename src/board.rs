//! The latest summary of every hall, for the views above the hall
//! (province, city, county): from this instance's own halls as they
//! change, and with `[cluster]` from the broker, where every instance's
//! halls publish theirs (retained `{prefix}/{hall}/summary`). The roll-up
//! itself is the domain's ([`crate::domain::roll_up`]).

use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use rumqttc::{Event, Packet, QoS};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::config::Settings;
use crate::domain::{HallReport, RegionRow, ReportedLevel, SummaryView, roll_up};
use crate::engine::SummaryFrames;

/// Each hall's last summary as the roll-up reads it.
#[derive(Debug, Default)]
pub struct Board {
    /// Every configured hall with its region path.
    expected: Vec<(String, Vec<ReportedLevel>)>,
    reports: DashMap<String, HallReport>,
}

impl Board {
    /// A board for the configured halls, empty until they report.
    pub fn new(settings: &Settings) -> Self {
        let expected = settings
            .halls
            .iter()
            .map(|h| {
                let path = h
                    .region
                    .iter()
                    .map(|l| ReportedLevel {
                        code: l.code.clone(),
                        name: l.name.clone(),
                    })
                    .collect();
                (h.id.as_str().to_owned(), path)
            })
            .collect();
        Self {
            expected,
            reports: DashMap::new(),
        }
    }

    /// A summary as published (the MQTT payload's JSON).
    pub fn put_json(&self, payload: &[u8]) -> Result<(), serde_json::Error> {
        let r: HallReport = serde_json::from_slice(payload)?;
        self.reports.insert(r.hall.clone(), r);
        Ok(())
    }

    /// A summary of one of this instance's halls.
    pub fn put(&self, s: &SummaryView) {
        if let Ok(json) = serde_json::to_vec(s) {
            let _ = self.put_json(&json);
        }
    }

    /// The roll-up of the configured halls that `in_scope` accepts.
    pub fn roll_up(&self, in_scope: impl Fn(&str) -> bool) -> Vec<RegionRow> {
        let expected: Vec<(String, Vec<ReportedLevel>)> = self
            .expected
            .iter()
            .filter(|(h, _)| in_scope(h))
            .cloned()
            .collect();
        let reports: Vec<HallReport> = expected
            .iter()
            .filter_map(|(h, _)| self.reports.get(h).map(|r| r.clone()))
            .collect();
        roll_up(&expected, &reports)
    }

    /// Keeps the board up to date with this instance's halls until `stop`.
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

    /// With `[cluster]`: keeps the board up to date with every instance's
    /// halls through the broker until `stop`.
    pub async fn follow_broker(self: Arc<Self>, settings: Arc<Settings>, stop: CancellationToken) {
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
                    if let Err(e) = self.put_json(&p.payload) {
                        debug!(topic = %p.topic, error = %e, "A summary the region views cannot read.");
                    }
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
