//! Counters for `/metrics`, in the Prometheus text format.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use dashmap::DashMap;

use crate::domain::Reason;

/// Process-wide counters. Cheap to update from any task.
#[derive(Debug, Default)]
pub struct Metrics {
    received: DashMap<&'static str, AtomicU64>,
    applied: DashMap<&'static str, AtomicU64>,
    duplicates: AtomicU64,
    rejections: [AtomicU64; Reason::ALL.len()],
    ws_clients: AtomicU64,
}

fn bump(map: &DashMap<&'static str, AtomicU64>, key: &'static str) {
    if let Some(c) = map.get(key) {
        c.fetch_add(1, Ordering::Relaxed);
        return;
    }
    map.entry(key).or_default().fetch_add(1, Ordering::Relaxed);
}

impl Metrics {
    /// A device message arrived on a topic of this kind.
    pub fn received(&self, kind: &'static str) {
        bump(&self.received, kind);
    }

    /// A hall applied an input of this kind.
    pub fn applied(&self, kind: &'static str) {
        bump(&self.applied, kind);
    }

    pub fn duplicate(&self) {
        self.duplicates.fetch_add(1, Ordering::Relaxed);
    }

    pub fn rejected(&self, reason: Reason) {
        if let Some(i) = Reason::ALL.iter().position(|r| *r == reason) {
            self.rejections[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn ws_connected(&self) {
        self.ws_clients.fetch_add(1, Ordering::Relaxed);
    }

    pub fn ws_disconnected(&self) {
        self.ws_clients.fetch_sub(1, Ordering::Relaxed);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut family = |name: &str, help: &str, map: &DashMap<&'static str, AtomicU64>| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            let mut rows: Vec<(&str, u64)> = map
                .iter()
                .map(|e| (*e.key(), e.value().load(Ordering::Relaxed)))
                .collect();
            rows.sort();
            for (k, v) in rows {
                let _ = writeln!(out, "{name}{{kind=\"{k}\"}} {v}");
            }
        };
        family(
            "hallwatch_messages_received_total",
            "Device messages received, by topic kind.",
            &self.received,
        );
        family(
            "hallwatch_events_applied_total",
            "Inputs applied to a hall, by kind (refused commands included).",
            &self.applied,
        );
        let _ = writeln!(
            out,
            "# HELP hallwatch_duplicates_total Redelivered messages answered again without change.\n\
             # TYPE hallwatch_duplicates_total counter\nhallwatch_duplicates_total {}",
            self.duplicates.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP hallwatch_rejections_total Messages refused, by reason code.\n\
             # TYPE hallwatch_rejections_total counter"
        );
        for (i, r) in Reason::ALL.iter().enumerate() {
            let _ = writeln!(
                out,
                "hallwatch_rejections_total{{reason=\"{}\"}} {}",
                r.code(),
                self.rejections[i].load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP hallwatch_websocket_clients WebSocket clients connected.\n\
             # TYPE hallwatch_websocket_clients gauge\nhallwatch_websocket_clients {}",
            self.ws_clients.load(Ordering::Relaxed)
        );
        out
    }
}
