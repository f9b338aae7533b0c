//! Counters, gauges and histograms for `/metrics`, in the Prometheus text
//! format. Cheap to update from any task: atomics, and a map entry per label.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use dashmap::DashMap;

use crate::domain::Reason;

/// The WebSocket channels, as `/metrics` labels them.
pub const CHANNELS: [&str; 4] = ["display", "dashboard", "alerts", "region"];

/// A histogram with fixed upper bounds, Prometheus-style (cumulative when
/// rendered).
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    counts: Vec<AtomicU64>,
    /// The sum in millionths, so it can be an atomic integer.
    sum_micro: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            counts: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            sum_micro: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, value: f64) {
        if let Some(i) = self.bounds.iter().position(|b| value <= *b) {
            self.counts[i].fetch_add(1, Ordering::Relaxed);
        }
        self.sum_micro
            .fetch_add((value.max(0.0) * 1e6) as u64, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (b, c) in self.bounds.iter().zip(&self.counts) {
            cumulative += c.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{b}\"}} {cumulative}");
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let sum = self.sum_micro.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum {sum}\n{name}_count {count}");
    }
}

const LATENCY_S: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
];
const BATCH_SIZES: &[f64] = &[1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 512.0];
const COMMIT_S: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0,
];

/// Process-wide metrics.
#[derive(Debug)]
pub struct Metrics {
    received: DashMap<&'static str, AtomicU64>,
    applied: DashMap<&'static str, AtomicU64>,
    duplicates: AtomicU64,
    rejections: [AtomicU64; Reason::ALL.len()],
    ws_clients: [AtomicU64; CHANNELS.len()],
    /// API requests and WebSocket handshakes refused for the client's budget.
    rate_limited: AtomicU64,
    /// Active alerts per (hall, rule, severity).
    alerts_open: DashMap<(String, &'static str, &'static str), u64>,
    /// From a device message's arrival to its effects reaching the screens.
    pub ingest_to_broadcast: Histogram,
    pub store_batch_size: Histogram,
    pub store_commit: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            received: DashMap::new(),
            applied: DashMap::new(),
            duplicates: AtomicU64::new(0),
            rejections: Default::default(),
            ws_clients: Default::default(),
            rate_limited: AtomicU64::new(0),
            alerts_open: DashMap::new(),
            ingest_to_broadcast: Histogram::new(LATENCY_S),
            store_batch_size: Histogram::new(BATCH_SIZES),
            store_commit: Histogram::new(COMMIT_S),
        }
    }
}

fn bump(map: &DashMap<&'static str, AtomicU64>, key: &'static str) {
    if let Some(c) = map.get(key) {
        c.fetch_add(1, Ordering::Relaxed);
        return;
    }
    map.entry(key).or_default().fetch_add(1, Ordering::Relaxed);
}

/// A connected WebSocket client; counted until dropped.
pub struct WsGuard<'a> {
    metrics: &'a Metrics,
    channel: usize,
}

impl Drop for WsGuard<'_> {
    fn drop(&mut self) {
        self.metrics.ws_clients[self.channel].fetch_sub(1, Ordering::Relaxed);
    }
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

    /// Counts a WebSocket client of `channel` (one of [`CHANNELS`]) while
    /// the guard lives.
    pub fn ws_client(&self, channel: &'static str) -> WsGuard<'_> {
        let channel = CHANNELS.iter().position(|c| *c == channel).unwrap_or(0);
        self.ws_clients[channel].fetch_add(1, Ordering::Relaxed);
        WsGuard {
            metrics: self,
            channel,
        }
    }

    /// A request refused because its client is over its request budget.
    pub fn rate_limited(&self) {
        self.rate_limited.fetch_add(1, Ordering::Relaxed);
    }

    /// Replaces a hall's active-alert counts.
    pub fn set_open_alerts(
        &self,
        hall: &str,
        counts: impl IntoIterator<Item = ((&'static str, &'static str), u64)>,
    ) {
        self.alerts_open.retain(|k, _| k.0 != hall);
        for ((rule, severity), n) in counts {
            self.alerts_open
                .insert((hall.to_owned(), rule, severity), n);
        }
    }

    pub fn observe_latency(&self, elapsed: Duration) {
        self.ingest_to_broadcast.observe(elapsed.as_secs_f64());
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
            "# HELP hallwatch_websocket_clients WebSocket clients connected, by channel.\n\
             # TYPE hallwatch_websocket_clients gauge"
        );
        for (i, c) in CHANNELS.iter().enumerate() {
            let _ = writeln!(
                out,
                "hallwatch_websocket_clients{{channel=\"{c}\"}} {}",
                self.ws_clients[i].load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP hallwatch_http_rate_limited_total API requests and WebSocket handshakes refused (429) because their client was over its request budget.\n\
             # TYPE hallwatch_http_rate_limited_total counter\nhallwatch_http_rate_limited_total {}",
            self.rate_limited.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP hallwatch_alerts_open Alerts open or acknowledged, by hall, rule and severity.\n\
             # TYPE hallwatch_alerts_open gauge"
        );
        let mut rows: Vec<_> = self
            .alerts_open
            .iter()
            .map(|e| (e.key().clone(), *e.value()))
            .collect();
        rows.sort();
        for ((hall, rule, severity), n) in rows {
            let _ = writeln!(
                out,
                "hallwatch_alerts_open{{hall=\"{hall}\",rule=\"{rule}\",severity=\"{severity}\"}} {n}"
            );
        }
        self.ingest_to_broadcast.render(
            &mut out,
            "hallwatch_ingest_to_broadcast_seconds",
            "From a device message's arrival to its effects on the screens' broadcast.",
        );
        self.store_batch_size.render(
            &mut out,
            "hallwatch_store_batch_size",
            "Records per store transaction.",
        );
        self.store_commit.render(
            &mut out,
            "hallwatch_store_commit_seconds",
            "Time to write and commit one store transaction.",
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_render_cumulative_buckets() {
        let m = Metrics::default();
        m.observe_latency(Duration::from_micros(800));
        m.observe_latency(Duration::from_millis(30));
        m.observe_latency(Duration::from_secs(3));
        let text = m.render();
        assert!(text.contains("hallwatch_ingest_to_broadcast_seconds_bucket{le=\"0.001\"} 1"));
        assert!(text.contains("hallwatch_ingest_to_broadcast_seconds_bucket{le=\"0.05\"} 2"));
        assert!(text.contains("hallwatch_ingest_to_broadcast_seconds_bucket{le=\"1\"} 2"));
        assert!(text.contains("hallwatch_ingest_to_broadcast_seconds_bucket{le=\"+Inf\"} 3"));
        assert!(text.contains("hallwatch_ingest_to_broadcast_seconds_count 3"));
    }

    #[test]
    fn websocket_clients_are_counted_per_channel_while_connected() {
        let m = Metrics::default();
        let a = m.ws_client("dashboard");
        let _b = m.ws_client("dashboard");
        let _c = m.ws_client("display");
        assert!(
            m.render()
                .contains("hallwatch_websocket_clients{channel=\"dashboard\"} 2")
        );
        drop(a);
        let text = m.render();
        assert!(text.contains("hallwatch_websocket_clients{channel=\"dashboard\"} 1"));
        assert!(text.contains("hallwatch_websocket_clients{channel=\"display\"} 1"));
    }

    #[test]
    fn open_alerts_are_replaced_per_hall() {
        let m = Metrics::default();
        m.set_open_alerts("h1", [(("wait_timeout", "warning"), 2)]);
        m.set_open_alerts("h2", [(("bad_rating", "critical"), 1)]);
        m.set_open_alerts("h1", []);
        let text = m.render();
        assert!(!text.contains("hall=\"h1\""));
        assert!(text.contains(
            "hallwatch_alerts_open{hall=\"h2\",rule=\"bad_rating\",severity=\"critical\"} 1"
        ));
    }
}
