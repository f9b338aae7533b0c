//! Counters, gauges and histograms for `/metrics`, in the Prometheus text
//! format (`prometheus-client` writes it). Cheap to update from any task:
//! every update is atomic adds, after a brief map read lock for the
//! families labelled by kind, and nothing is held across an `.await`.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use dashmap::DashMap;
use prometheus_client::encoding::{EncodeLabelSet, EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::domain::Reason;

/// The WebSocket channels, as `/metrics` labels them.
pub const CHANNELS: [&str; 4] = ["display", "dashboard", "alerts", "region"];

/// A histogram with fixed upper bounds, Prometheus-style (cumulative when
/// rendered). `prometheus-client`'s own takes a mutex on every
/// observation; this one is a few atomic adds, and clones share counts.
#[derive(Debug, Clone)]
pub struct Histogram(Arc<Buckets>);

#[derive(Debug)]
struct Buckets {
    bounds: &'static [f64],
    counts: Vec<AtomicU64>,
    /// The sum in millionths, so it can be an atomic integer.
    sum_micro: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Self {
        Self(Arc::new(Buckets {
            bounds,
            counts: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            sum_micro: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }))
    }

    pub fn observe(&self, value: f64) {
        let h = &self.0;
        if let Some(i) = h.bounds.iter().position(|b| value <= *b) {
            h.counts[i].fetch_add(1, Ordering::Relaxed);
        }
        h.sum_micro
            .fetch_add((value.max(0.0) * 1e6) as u64, Ordering::Relaxed);
        h.count.fetch_add(1, Ordering::Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.0.count.load(Ordering::Relaxed)
    }
}

impl EncodeMetric for Histogram {
    fn encode(&self, mut encoder: MetricEncoder) -> fmt::Result {
        let h = &self.0;
        // Per bucket, not cumulative: the encoder adds them up.
        let buckets: Vec<(f64, u64)> = h
            .bounds
            .iter()
            .zip(&h.counts)
            .map(|(b, c)| (*b, c.load(Ordering::Relaxed)))
            .collect();
        let sum = h.sum_micro.load(Ordering::Relaxed) as f64 / 1e6;
        encoder.encode_histogram::<NoLabelSet>(sum, self.count(), &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

const LATENCY_S: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
];
const BATCH_SIZES: &[f64] = &[1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 512.0];
const COMMIT_S: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0,
];

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ChannelLabel {
    channel: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NotifyLabel {
    channel: String,
}

/// Notifications per configured channel.
#[derive(Debug, Default)]
struct Notifications {
    sent: Family<NotifyLabel, Counter>,
    retried: Family<NotifyLabel, Counter>,
    failed: Family<NotifyLabel, Counter>,
    queued: Family<NotifyLabel, Gauge>,
    oldest: Family<NotifyLabel, Gauge<f64, AtomicU64>>,
}

/// A family that shows its `# HELP` and `# TYPE` lines before its first
/// sample too, as `/metrics` always has; `prometheus-client` leaves an empty
/// family out altogether.
#[derive(Debug)]
struct Declared<M>(M);

impl<M: EncodeMetric> EncodeMetric for Declared<M> {
    fn encode(&self, encoder: MetricEncoder) -> fmt::Result {
        self.0.encode(encoder)
    }

    fn metric_type(&self) -> MetricType {
        self.0.metric_type()
    }
}

/// Active alerts per (hall, rule, severity). Kept as a map rather than a
/// `Family`, which cannot drop the rows of one hall without knowing them.
#[derive(Debug, Clone, Default)]
struct OpenAlerts(Arc<DashMap<(String, &'static str, &'static str), u64>>);

impl EncodeMetric for OpenAlerts {
    fn encode(&self, mut encoder: MetricEncoder) -> fmt::Result {
        // A snapshot first: no map guard is held while writing.
        let mut rows: Vec<_> = self
            .0
            .iter()
            .map(|e| (e.key().clone(), *e.value()))
            .collect();
        rows.sort();
        for ((hall, rule, severity), n) in rows {
            let labels = [
                ("hall", hall.as_str()),
                ("rule", rule),
                ("severity", severity),
            ];
            encoder.encode_family(&labels)?.encode_gauge(&n)?;
        }
        Ok(())
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Gauge
    }
}

/// Process-wide metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    received: Family<KindLabel, Counter>,
    applied: Family<KindLabel, Counter>,
    duplicates: Counter,
    /// One per [`Reason::ALL`], in its order.
    rejections: Vec<Counter>,
    /// One per [`CHANNELS`], in its order.
    ws_clients: Vec<Gauge>,
    /// API requests and WebSocket handshakes refused for the client's budget.
    rate_limited: Counter,
    alerts_open: OpenAlerts,
    notifications: Notifications,
    /// From a device message's arrival to its effects reaching the screens.
    pub ingest_to_broadcast: Histogram,
    pub store_batch_size: Histogram,
    pub store_commit: Histogram,
    /// Events folded to rebuild halls, and halls rebuilt from their checkpoint.
    pub replay_events: Counter,
    pub replay_checkpoints: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        let received = Family::<KindLabel, Counter>::default();
        let applied = Family::<KindLabel, Counter>::default();
        let duplicates = Counter::default();
        let rejections_by_reason = Family::<ReasonLabel, Counter>::default();
        // Every reason and channel is shown from the start, at 0.
        let rejections = Reason::ALL
            .iter()
            .map(|r| rejections_by_reason.get_or_create_owned(&ReasonLabel { reason: r.code() }))
            .collect();
        let clients_by_channel = Family::<ChannelLabel, Gauge>::default();
        let ws_clients = CHANNELS
            .iter()
            .map(|channel| clients_by_channel.get_or_create_owned(&ChannelLabel { channel }))
            .collect();
        let rate_limited = Counter::default();
        let alerts_open = OpenAlerts::default();
        let ingest_to_broadcast = Histogram::new(LATENCY_S);
        let store_batch_size = Histogram::new(BATCH_SIZES);
        let store_commit = Histogram::new(COMMIT_S);
        let notifications = Notifications::default();
        let replay_events = Counter::default();
        let replay_checkpoints = Counter::default();

        // Names without `_total` (the encoder adds it to counters) and help
        // without its full stop (the registry adds one).
        let mut registry = Registry::default();
        registry.register(
            "hallwatch_messages_received",
            "Device messages received, by topic kind",
            Declared(received.clone()),
        );
        registry.register(
            "hallwatch_events_applied",
            "Inputs applied to a hall, by kind (refused commands included)",
            Declared(applied.clone()),
        );
        registry.register(
            "hallwatch_duplicates",
            "Redelivered messages answered again without change",
            duplicates.clone(),
        );
        registry.register(
            "hallwatch_rejections",
            "Messages refused, by reason code",
            rejections_by_reason,
        );
        registry.register(
            "hallwatch_websocket_clients",
            "WebSocket clients connected, by channel",
            clients_by_channel,
        );
        registry.register(
            "hallwatch_http_rate_limited",
            "API requests and WebSocket handshakes refused (429) because their client was over its request budget",
            rate_limited.clone(),
        );
        registry.register(
            "hallwatch_alerts_open",
            "Alerts open or acknowledged, by hall, rule and severity",
            alerts_open.clone(),
        );
        registry.register(
            "hallwatch_ingest_to_broadcast_seconds",
            "From a device message's arrival to its effects on the screens' broadcast",
            ingest_to_broadcast.clone(),
        );
        registry.register(
            "hallwatch_store_batch_size",
            "Records per store transaction",
            store_batch_size.clone(),
        );
        registry.register(
            "hallwatch_store_commit_seconds",
            "Time to write and commit one store transaction",
            store_commit.clone(),
        );
        registry.register(
            "hallwatch_replay_events",
            "Events folded to rebuild halls at start or takeover (after their checkpoints, or the whole log)",
            replay_events.clone(),
        );
        registry.register(
            "hallwatch_replay_checkpoints",
            "Halls rebuilt from their checkpoint and the log after it, rather than from the whole log",
            replay_checkpoints.clone(),
        );
        registry.register(
            "hallwatch_notifications_sent",
            "Notifications a channel's receiver accepted, by channel",
            Declared(notifications.sent.clone()),
        );
        registry.register(
            "hallwatch_notifications_retried",
            "Sends that failed and are tried again later, by channel",
            Declared(notifications.retried.clone()),
        );
        registry.register(
            "hallwatch_notifications_failed",
            "Notifications given up after every attempt, by channel",
            Declared(notifications.failed.clone()),
        );
        registry.register(
            "hallwatch_notifications_queued",
            "Notifications due and not yet delivered (waiting or retrying), by channel",
            Declared(notifications.queued.clone()),
        );
        registry.register(
            "hallwatch_notifications_oldest_unsent_seconds",
            "Age of the oldest notification due and not yet delivered, by channel (0: none)",
            Declared(notifications.oldest.clone()),
        );
        Self {
            registry,
            received,
            applied,
            duplicates,
            rejections,
            ws_clients,
            rate_limited,
            alerts_open,
            notifications,
            ingest_to_broadcast,
            store_batch_size,
            store_commit,
            replay_events,
            replay_checkpoints,
        }
    }
}

/// A connected WebSocket client; counted until dropped.
pub struct WsGuard<'a> {
    metrics: &'a Metrics,
    channel: usize,
}

impl Drop for WsGuard<'_> {
    fn drop(&mut self) {
        self.metrics.ws_clients[self.channel].dec();
    }
}

impl Metrics {
    /// A device message arrived on a topic of this kind.
    pub fn received(&self, kind: &'static str) {
        self.received.get_or_create(&KindLabel { kind }).inc();
    }

    /// A hall applied an input of this kind.
    pub fn applied(&self, kind: &'static str) {
        self.applied.get_or_create(&KindLabel { kind }).inc();
    }

    pub fn duplicate(&self) {
        self.duplicates.inc();
    }

    pub fn rejected(&self, reason: Reason) {
        if let Some(i) = Reason::ALL.iter().position(|r| *r == reason) {
            self.rejections[i].inc();
        }
    }

    /// Counts a WebSocket client of `channel` (one of [`CHANNELS`]) while
    /// the guard lives.
    pub fn ws_client(&self, channel: &'static str) -> WsGuard<'_> {
        let channel = CHANNELS.iter().position(|c| *c == channel).unwrap_or(0);
        self.ws_clients[channel].inc();
        WsGuard {
            metrics: self,
            channel,
        }
    }

    /// A request refused because its client is over its request budget.
    pub fn rate_limited(&self) {
        self.rate_limited.inc();
    }

    /// Replaces a hall's active-alert counts.
    pub fn set_open_alerts(
        &self,
        hall: &str,
        counts: impl IntoIterator<Item = ((&'static str, &'static str), u64)>,
    ) {
        let alerts = &self.alerts_open.0;
        alerts.retain(|k, _| k.0 != hall);
        for ((rule, severity), n) in counts {
            alerts.insert((hall.to_owned(), rule, severity), n);
        }
    }

    /// Shows every configured notification channel, at 0 until it sends.
    pub fn notify_channels<'a>(&self, names: impl IntoIterator<Item = &'a str>) {
        let n = &self.notifications;
        for name in names {
            let label = NotifyLabel {
                channel: name.to_owned(),
            };
            let _ = n.sent.get_or_create(&label);
            let _ = n.retried.get_or_create(&label);
            let _ = n.failed.get_or_create(&label);
            let _ = n.queued.get_or_create(&label);
            let _ = n.oldest.get_or_create(&label);
        }
    }

    /// A notification on `channel` was delivered (`Ok`), will be tried
    /// again (`Err(true)`), or was given up (`Err(false)`).
    pub fn notified(&self, channel: &str, outcome: Result<(), bool>) {
        let n = &self.notifications;
        let family = match outcome {
            Ok(()) => &n.sent,
            Err(true) => &n.retried,
            Err(false) => &n.failed,
        };
        family
            .get_or_create(&NotifyLabel {
                channel: channel.to_owned(),
            })
            .inc();
    }

    /// What a channel has due and undelivered, and the age of the oldest.
    pub fn notify_backlog(&self, channel: &str, queued: u64, oldest: Duration) {
        let label = NotifyLabel {
            channel: channel.to_owned(),
        };
        let n = &self.notifications;
        n.queued.get_or_create(&label).set(queued as i64);
        n.oldest.get_or_create(&label).set(oldest.as_secs_f64());
    }

    pub fn observe_latency(&self, elapsed: Duration) {
        self.ingest_to_broadcast.observe(elapsed.as_secs_f64());
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail, and every metric here encodes.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry);
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

    /// The names `/metrics` exports, as a query writes them: a counter's
    /// (declared with its `_total`) as declared, a histogram's with
    /// `_bucket`, `_sum` and `_count`.
    fn exported(text: &str) -> std::collections::BTreeSet<String> {
        let mut names = std::collections::BTreeSet::new();
        for line in text.lines() {
            let mut parts = line.split_whitespace();
            if parts.next() != Some("#") || parts.next() != Some("TYPE") {
                continue;
            }
            let (Some(name), Some(kind)) = (parts.next(), parts.next()) else {
                continue;
            };
            let suffixes: &[&str] = match kind {
                "counter" if !name.ends_with("_total") => &["_total"],
                "histogram" => &["_bucket", "_sum", "_count"],
                _ => &[""],
            };
            for s in suffixes {
                names.insert(format!("{name}{s}"));
            }
        }
        names
    }

    #[test]
    fn every_query_of_the_grafana_dashboard_names_an_exported_metric() {
        let m = Metrics::default();
        let exported = exported(&m.render());
        assert!(exported.contains("hallwatch_notifications_sent_total"));
        let dashboard: serde_json::Value =
            serde_json::from_str(include_str!("../deploy/grafana-dashboard.json"))
                .expect("the dashboard is JSON");
        let mut queries = 0;
        for panel in dashboard["panels"].as_array().expect("panels") {
            for target in panel["targets"].as_array().expect("targets") {
                let expr = target["expr"].as_str().expect("expr");
                queries += 1;
                let names: Vec<&str> = expr
                    .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .filter(|w| w.starts_with("hallwatch_"))
                    .collect();
                assert!(!names.is_empty(), "{expr:?} names no hallwatch metric");
                for name in names {
                    assert!(
                        exported.contains(name),
                        "panel {:?} queries {name}, which /metrics does not export",
                        panel["title"]
                    );
                }
            }
        }
        assert!(queries >= 10, "{queries} queries");
    }

    #[test]
    fn notification_channels_show_at_zero_then_count() {
        let m = Metrics::default();
        m.notify_channels(["duty-dingtalk"]);
        let text = m.render();
        assert!(text.contains("hallwatch_notifications_sent_total{channel=\"duty-dingtalk\"} 0"));
        assert!(text.contains("hallwatch_notifications_queued{channel=\"duty-dingtalk\"} 0"));
        m.notified("duty-dingtalk", Ok(()));
        m.notified("duty-dingtalk", Err(true));
        m.notify_backlog("duty-dingtalk", 2, Duration::from_secs(90));
        let text = m.render();
        assert!(text.contains("hallwatch_notifications_sent_total{channel=\"duty-dingtalk\"} 1"));
        assert!(
            text.contains("hallwatch_notifications_retried_total{channel=\"duty-dingtalk\"} 1")
        );
        assert!(text.contains("hallwatch_notifications_queued{channel=\"duty-dingtalk\"} 2"));
        assert!(text.contains(
            "hallwatch_notifications_oldest_unsent_seconds{channel=\"duty-dingtalk\"} 90"
        ));
    }
}
