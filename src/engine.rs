//! The runtime around the core: one task per hall owns its `Hall`, applies
//! inputs in arrival order, and turns the effects into stored records,
//! replies, MQTT messages and display frames. Everything else talks to a
//! hall through its `HallHandle`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytestring::ByteString;
use dashmap::DashMap;
use rumqttc::{AsyncClient, QoS};
use serde::Serialize;
use serde_json::json;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use crate::clock::{Clock, now_ms};
use crate::domain::{
    AlertOp, AlertRefusal, AlertView, DayFigures, DisplaySnapshot, Effect, Hall, HallId, HallSpec,
    Input, Reply,
};
use crate::metrics::Metrics;
use crate::mqtt::acks::AckTicket;
use crate::mqtt::payload::{self, MAX_PAYLOAD};
use crate::mqtt::topic::{self, Inbound};
use crate::store::{AlertRow, DailyRow, EventRow, Record, RejectionRow, StoreWriter, WriteItem};

/// Display frames buffered per hall for slow screens before they lag.
const DISPLAY_BUFFER: usize = 1024;
/// Messages queued per hall before senders wait.
const INBOX: usize = 4096;

/// Where a device message came from, to answer and acknowledge it.
#[derive(Debug)]
pub struct Origin {
    pub inbound: Inbound,
    pub topic: String,
    pub payload: Vec<u8>,
    /// The broker message to acknowledge once stored.
    pub ack: Option<AckTicket>,
    /// When ingest read it, for the ingest-to-broadcast latency.
    pub received: Option<Instant>,
}

/// A display frame, serialised once, with the window it concerns (None:
/// the whole hall), so a window screen or a zone screen can skip the rest.
#[derive(Debug, Clone)]
pub struct DisplayFrame {
    pub window: Option<usize>,
    pub text: ByteString,
}

/// A display subscription: the snapshot and the deltas that follow it, with
/// nothing lost or repeated in between.
pub struct DisplaySub {
    pub snapshot: ByteString,
    pub frames: broadcast::Receiver<DisplayFrame>,
}

/// A dashboard subscription: the snapshot and the deltas after it.
pub struct DashboardSub {
    pub snapshot: ByteString,
    pub frames: broadcast::Receiver<ByteString>,
}

/// What a hall task is asked to do.
pub enum HallMsg {
    Device {
        input: Box<Input>,
        origin: Origin,
    },
    Display {
        reply: oneshot::Sender<DisplaySub>,
    },
    Snapshot {
        reply: oneshot::Sender<DisplaySnapshot>,
    },
    Dashboard {
        reply: oneshot::Sender<DashboardSub>,
    },
    /// Today's figures, counted now.
    Figures {
        reply: oneshot::Sender<DayFigures>,
    },
    /// The hall's summary message.
    Summary {
        reply: oneshot::Sender<ByteString>,
    },
    /// Publish the retained window states again (the broker lost them).
    Republish,
    /// The hall's alerts for a supervisors' console.
    Alerts {
        reply: oneshot::Sender<Vec<AlertView>>,
    },
    /// A supervisor acknowledges or resolves an alert.
    AlertAction {
        alert: String,
        op: AlertOp,
        by: String,
        note: Option<String>,
        reply: oneshot::Sender<Result<AlertView, AlertRefusal>>,
    },
}

/// A message about one hall (an alert, a summary), serialised once for
/// every console or region screen that shows it.
#[derive(Debug, Clone)]
pub struct HallFrame {
    pub hall: HallId,
    pub frame: ByteString,
}

/// The way to a hall's task.
#[derive(Clone)]
pub struct HallHandle {
    pub spec: Arc<HallSpec>,
    tx: mpsc::Sender<HallMsg>,
}

impl HallHandle {
    /// Hands a device message to the hall. If the hall has stopped, gives
    /// back the message's place in the acknowledgement line.
    pub async fn device(&self, input: Input, origin: Origin) -> Result<(), Option<AckTicket>> {
        self.tx
            .send(HallMsg::Device {
                input: Box::new(input),
                origin,
            })
            .await
            .map_err(|e| match e.0 {
                HallMsg::Device { origin, .. } => origin.ack,
                _ => None,
            })
    }

    /// The hall's active alerts and those resolved today.
    pub async fn alerts(&self) -> Vec<AlertView> {
        let (reply, rx) = oneshot::channel();
        if self.tx.send(HallMsg::Alerts { reply }).await.is_err() {
            return Vec::new();
        }
        rx.await.unwrap_or_default()
    }

    /// A supervisor's action on one of this hall's alerts; None if the hall
    /// has stopped.
    pub async fn alert_action(
        &self,
        alert: String,
        op: AlertOp,
        by: String,
        note: Option<String>,
    ) -> Option<Result<AlertView, AlertRefusal>> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(HallMsg::AlertAction {
                alert,
                op,
                by,
                note,
                reply,
            })
            .await
            .ok()?;
        rx.await.ok()
    }

    /// Asks the hall to publish its retained window states again.
    pub async fn republish(&self) {
        let _ = self.tx.send(HallMsg::Republish).await;
    }

    /// Subscribes a screen.
    pub async fn display(&self) -> Option<DisplaySub> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(HallMsg::Display { reply }).await.ok()?;
        rx.await.ok()
    }

    /// The hall as screens see it now.
    pub async fn snapshot(&self) -> Option<DisplaySnapshot> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(HallMsg::Snapshot { reply }).await.ok()?;
        rx.await.ok()
    }

    /// Subscribes a manager's dashboard.
    pub async fn dashboard(&self) -> Option<DashboardSub> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(HallMsg::Dashboard { reply }).await.ok()?;
        rx.await.ok()
    }

    /// Today's figures so far.
    pub async fn figures(&self) -> Option<DayFigures> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(HallMsg::Figures { reply }).await.ok()?;
        rx.await.ok()
    }

    /// The hall's summary message (`{"type":"summary",...}`).
    pub async fn summary(&self) -> Option<ByteString> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(HallMsg::Summary { reply }).await.ok()?;
        rx.await.ok()
    }
}

/// Every hall this process serves.
#[derive(Clone, Default)]
pub struct Registry {
    halls: Arc<DashMap<HallId, HallHandle>>,
    order: Arc<std::sync::RwLock<Vec<HallId>>>,
}

impl Registry {
    pub fn insert(&self, handle: HallHandle) {
        let id = handle.spec.id.clone();
        self.halls.insert(id.clone(), handle);
        if let Ok(mut o) = self.order.write() {
            o.push(id);
        }
    }

    /// A hall's handle. The map guard is dropped before this returns, so no
    /// caller can hold it across an await.
    pub fn get(&self, id: &HallId) -> Option<HallHandle> {
        self.halls.get(id).map(|h| h.value().clone())
    }

    pub fn get_str(&self, id: &str) -> Option<HallHandle> {
        HallId::parse(id).ok().and_then(|id| self.get(&id))
    }

    /// Every hall, in configuration order.
    pub fn all(&self) -> Vec<HallHandle> {
        let order = self.order.read().map(|o| o.clone()).unwrap_or_default();
        order.iter().filter_map(|id| self.get(id)).collect()
    }
}

/// What every hall task shares.
pub struct EngineContext {
    pub prefix: String,
    pub writer: StoreWriter,
    /// The outgoing connection: window states, calls, summaries, alerts.
    pub mqtt: Option<AsyncClient>,
    pub clock: Arc<dyn Clock>,
    pub metrics: Arc<Metrics>,
    /// Alert messages for every supervisors' console.
    pub alerts: broadcast::Sender<HallFrame>,
    /// Summary messages for region screens.
    pub summaries: broadcast::Sender<HallFrame>,
}

/// Starts the task that owns `hall`. `pending` are effects that arose while
/// the hall was rebuilt (alerts that came due while the server was down):
/// published once the task runs.
pub fn spawn_hall(
    hall: Hall,
    pending: Vec<Effect>,
    ctx: Arc<EngineContext>,
) -> (HallHandle, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(INBOX);
    let spec = Arc::new(hall.spec().clone());
    let (display, _) = broadcast::channel(DISPLAY_BUFFER);
    let (dashboard, _) = broadcast::channel(DISPLAY_BUFFER);
    let task = HallTask {
        hall,
        ctx,
        display,
        dashboard,
        summary_due: true,
        last_staffing: ByteString::new(),
        last_kpi: ByteString::new(),
    };
    let join = tokio::spawn(task.run(rx, pending));
    (HallHandle { spec, tx }, join)
}

struct HallTask {
    hall: Hall,
    ctx: Arc<EngineContext>,
    display: broadcast::Sender<DisplayFrame>,
    /// Frames for managers' dashboards.
    dashboard: broadcast::Sender<ByteString>,
    /// Something changed since the last retained summary.
    summary_due: bool,
    /// The last `staffing` and `kpi` frames sent, to send only changes.
    last_staffing: ByteString,
    last_kpi: ByteString,
}

/// An input as the event log keeps it, JSON text.
fn input_json(input: &Input) -> String {
    serde_json::to_string(input).unwrap_or_else(|e| {
        warn!(error = %e, "Could not serialise an input for the log.");
        "null".to_owned()
    })
}

/// A display message: `{"type": ..., ...fields}`.
#[derive(Serialize)]
struct Frame<'a, T: Serialize> {
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(flatten)]
    body: T,
}

pub fn frame<T: Serialize>(kind: &str, body: T) -> ByteString {
    match serde_json::to_string(&Frame { kind, body }) {
        Ok(s) => ByteString::from(s),
        Err(e) => {
            warn!(error = %e, kind, "Could not serialise a display frame.");
            ByteString::from_static("{}")
        }
    }
}

impl HallTask {
    async fn run(mut self, mut rx: mpsc::Receiver<HallMsg>, pending: Vec<Effect>) {
        let hall = self.hall.spec().id.clone();
        info!(%hall, "Hall task started.");
        for w in 0..self.hall.windows().len() {
            self.publish_window_state(w);
        }
        self.emit(pending);
        self.count_open_alerts();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                msg = rx.recv() => match msg {
                    Some(HallMsg::Device { input, origin }) => self.handle_device(*input, origin),
                    Some(HallMsg::Display { reply }) => {
                        let snapshot = self.display_snapshot();
                        let _ = reply.send(DisplaySub { snapshot, frames: self.display.subscribe() });
                    }
                    Some(HallMsg::Alerts { reply }) => {
                        let _ = reply.send(self.hall.alert_views());
                    }
                    Some(HallMsg::AlertAction { alert, op, by, note, reply }) => {
                        let _ = reply.send(self.handle_alert_action(alert, op, by, note));
                    }
                    Some(HallMsg::Republish) => {
                        for w in 0..self.hall.windows().len() {
                            self.publish_window_state(w);
                        }
                        self.summary_due = true;
                    }
                    Some(HallMsg::Snapshot { reply }) => {
                        let _ = reply.send(self.hall.display_snapshot(now_ms(&*self.ctx.clock)));
                    }
                    Some(HallMsg::Dashboard { reply }) => {
                        let snapshot = self.dashboard_snapshot();
                        let _ = reply.send(DashboardSub { snapshot, frames: self.dashboard.subscribe() });
                    }
                    Some(HallMsg::Figures { reply }) => {
                        let _ = reply.send(self.hall.figures(now_ms(&*self.ctx.clock), false));
                    }
                    Some(HallMsg::Summary { reply }) => {
                        let _ = reply.send(frame("summary", self.hall.summary(now_ms(&*self.ctx.clock))));
                    }
                    None => break,
                },
                _ = tick.tick() => {
                    let effects = self.hall.tick(now_ms(&*self.ctx.clock));
                    self.emit(effects);
                    // The contract's rate: at most once a second, and only on change.
                    if self.summary_due {
                        self.summary_due = false;
                        self.publish_summary();
                    }
                    self.refresh_dashboard();
                }
            }
        }
        info!(%hall, "Hall task stopped.");
    }

    fn handle_device(&mut self, input: Input, origin: Origin) {
        let now = now_ms(&*self.ctx.clock);
        let spec = self.hall.spec();
        let hall_id = spec.id.to_string();
        let tz = spec.tz;
        let device = spec.device_of(&input).map(ToString::to_string);
        let received = origin.received;

        let applied = self.hall.apply(&input, now);
        self.ctx.metrics.applied(input.kind());
        let msg_id = input.msg_id().map(|m| m.as_str().to_owned());
        // Serialised once, for the device and for the log.
        let reply_json = applied
            .reply
            .as_ref()
            .map(|r| payload::reply_json(&origin.inbound, msg_id.as_deref(), r, tz).to_string());
        let refusal = applied.reply.as_ref().and_then(Reply::refusal);

        let mut item = WriteItem::default();
        item.after.ack = origin.ack;
        if applied.record {
            item.records.push(Record::Event(EventRow {
                hall: hall_id.clone(),
                device: device.clone(),
                msg_id: msg_id.clone(),
                kind: input.kind().to_owned(),
                input: input_json(&input),
                received_at: now,
                ok: refusal.is_none(),
                reason: refusal.map(|r| r.reason.code().to_owned()),
                reply: reply_json.clone(),
                device_at: payload::device_time(&origin.payload),
            }));
        }
        if applied.duplicate {
            self.ctx.metrics.duplicate();
            debug!(hall = %hall_id, device = ?device, msg_id = ?msg_id, "Redelivered message answered again.");
        } else if let Some(r) = refusal {
            self.ctx.metrics.rejected(r.reason);
            info!(hall = %hall_id, device = ?device, msg_id = ?msg_id, reason = r.reason.code(), "Message refused.");
            item.records.push(Record::Rejection(RejectionRow {
                received_at: now,
                topic: origin.topic.clone(),
                payload: cut(&origin.payload),
                reason: r.reason.code().to_owned(),
                detail: format!("{} refused: {}", input.kind(), r.message),
                hall: Some(hall_id.clone()),
                msg_id: msg_id.clone(),
            }));
        }
        if let (Some(topic), Some(json)) =
            (origin.inbound.reply_topic(&self.ctx.prefix), reply_json)
        {
            item.after.publish.push((topic, json.into_bytes()));
        }
        self.ctx.writer.send(item);
        self.emit(applied.effects);
        if let Some(at) = received {
            self.ctx.metrics.observe_latency(at.elapsed());
        }
    }

    /// Applies a supervisor's action as a logged input, so a restart shows
    /// the same alerts in the same states.
    fn handle_alert_action(
        &mut self,
        alert: String,
        op: AlertOp,
        by: String,
        note: Option<String>,
    ) -> Result<AlertView, AlertRefusal> {
        let now = now_ms(&*self.ctx.clock);
        let input = Input::AlertAction {
            alert: alert.clone(),
            op,
            by: by.clone(),
            note,
        };
        let applied = self.hall.apply(&input, now);
        let result = match &applied.reply {
            Some(Reply::AlertRefused(r)) => Err(*r),
            _ => self
                .hall
                .alert(&alert)
                .map(|a| self.hall.alert_view(a))
                .ok_or(AlertRefusal::UnknownAlert),
        };
        if applied.record {
            let mut item = WriteItem::default();
            item.records.push(Record::Event(EventRow {
                hall: self.hall.spec().id.to_string(),
                device: None,
                msg_id: None,
                kind: input.kind().to_owned(),
                input: input_json(&input),
                received_at: now,
                ok: true,
                reason: None,
                reply: None,
                device_at: None,
            }));
            self.ctx.writer.send(item);
            info!(hall = %self.hall.spec().id, %alert, ?op, %by, "Supervisor acted on an alert.");
        }
        self.emit(applied.effects);
        result
    }

    /// Turns effects into display frames and MQTT messages.
    fn emit(&mut self, mut effects: Vec<Effect>) {
        self.summary_due |= !effects.is_empty();
        // One apply can touch a window or queue twice; screens need it once.
        let mut seen = Vec::with_capacity(effects.len());
        effects.retain(|e| match e {
            Effect::WindowChanged(_) | Effect::QueueChanged(_) => {
                if seen.contains(e) {
                    false
                } else {
                    seen.push(e.clone());
                    true
                }
            }
            _ => true,
        });
        let hall_id = self.hall.spec().id.clone();
        let now = now_ms(&*self.ctx.clock);
        let mut alerts_changed = false;
        for effect in effects {
            match effect {
                Effect::Called(call) => {
                    let view = self.hall.call_view(&call);
                    info!(hall = %hall_id, ticket = %view.ticket, window = %view.window, recall = view.recall, "Ticket called.");
                    let f = frame("call", &view);
                    self.publish(
                        topic::call(&self.ctx.prefix, &hall_id),
                        f.as_bytes().to_vec(),
                        false,
                    );
                    self.to_dashboards(f.clone());
                    self.to_screens(Some(call.window), f);
                }
                Effect::WindowChanged(w) => {
                    let v = self.hall.display_window(w);
                    self.to_screens(
                        Some(w),
                        frame(
                            "window",
                            json!({
                                "window": v.id, "status": v.status, "ticket": v.ticket,
                                "staff": v.staff, "staff_name": v.staff_name, "since": v.since,
                            }),
                        ),
                    );
                    self.publish_window_state(w);
                    if self.dashboard.receiver_count() > 0 {
                        self.to_dashboards(frame("load", self.hall.dash_window(w, now)));
                    }
                }
                Effect::QueueChanged(s) => {
                    let v = self.hall.queue_view(s);
                    self.to_screens(
                        None,
                        frame("queue", json!({"service": v.service, "waiting": v.waiting})),
                    );
                    if self.dashboard.receiver_count() > 0 {
                        self.to_dashboards(frame("queue", self.hall.dash_queue(s, now)));
                    }
                }
                Effect::DayEnded(figures) => self.keep_day(&figures),
                Effect::DayStarted(day) => {
                    info!(hall = %hall_id, %day, "A new day started; the hall's day state was reset.");
                    self.to_screens(None, self.display_snapshot());
                    for w in 0..self.hall.windows().len() {
                        self.publish_window_state(w);
                    }
                    let snapshot = self.dashboard_snapshot();
                    self.to_dashboards(snapshot);
                }
                Effect::AlertChanged(id) => {
                    self.publish_alert(&id);
                    alerts_changed = true;
                }
                Effect::PresenceChanged { device, online } => {
                    info!(hall = %hall_id, %device, online, "Device presence changed.");
                }
            }
        }
        if alerts_changed {
            self.count_open_alerts();
        }
    }

    /// A frame for the hall's screens; no screen connected is no error.
    fn to_screens(&self, window: Option<usize>, text: ByteString) {
        let _ = self.display.send(DisplayFrame { window, text });
    }

    fn to_dashboards(&self, text: ByteString) {
        let _ = self.dashboard.send(text);
    }

    /// A snapshot frame with how fast the server's clock runs, so a page
    /// can count times on by itself between messages (1 except in the demo).
    fn snapshot_frame(&self, snap: impl Serialize) -> ByteString {
        match serde_json::to_value(&snap) {
            Ok(serde_json::Value::Object(mut body)) => {
                body.insert("clock_rate".into(), json!(self.ctx.clock.rate()));
                frame("snapshot", body)
            }
            _ => frame("snapshot", snap),
        }
    }

    fn dashboard_snapshot(&self) -> ByteString {
        self.snapshot_frame(self.hall.dashboard_snapshot(now_ms(&*self.ctx.clock)))
    }

    fn display_snapshot(&self) -> ByteString {
        self.snapshot_frame(self.hall.display_snapshot(now_ms(&*self.ctx.clock)))
    }

    /// Sends the dashboards' `staffing` and `kpi` when they changed: they
    /// move with time as well as with events, so the tick looks each second.
    fn refresh_dashboard(&mut self) {
        if self.dashboard.receiver_count() == 0 {
            return;
        }
        let now = now_ms(&*self.ctx.clock);
        let staffing = frame("staffing", self.hall.staffing_advice(now));
        if staffing != self.last_staffing {
            self.to_dashboards(staffing.clone());
            self.last_staffing = staffing;
        }
        let kpi = frame("kpi", self.hall.kpi(now));
        if kpi != self.last_kpi {
            self.to_dashboards(kpi.clone());
            self.last_kpi = kpi;
        }
    }

    /// The retained summary, and the same to region screens.
    fn publish_summary(&self) {
        let body = self.hall.summary(now_ms(&*self.ctx.clock));
        match serde_json::to_vec(&body) {
            Ok(payload) => {
                self.publish(topic::summary(&self.ctx.prefix, &body.hall), payload, true)
            }
            Err(e) => warn!(error = %e, "Could not serialise the summary."),
        }
        let _ = self.ctx.summaries.send(HallFrame {
            hall: body.hall.clone(),
            frame: frame("summary", &body),
        });
    }

    /// Keeps a finished day's figures in the store.
    fn keep_day(&self, figures: &DayFigures) {
        info!(hall = %figures.hall, date = %figures.date, issued = figures.total.issued.unwrap_or(0),
              served = figures.total.served, "A day ended; its figures are kept.");
        let mut item = WriteItem::default();
        item.records
            .push(Record::Daily(daily_row(figures, now_ms(&*self.ctx.clock))));
        self.ctx.writer.send(item);
    }

    /// Active alerts per rule and severity, for `/metrics`.
    fn count_open_alerts(&self) {
        let mut counts = std::collections::BTreeMap::new();
        for a in self.hall.active_alerts() {
            *counts
                .entry((a.rule.code(), a.severity.code()))
                .or_insert(0u64) += 1;
        }
        self.ctx
            .metrics
            .set_open_alerts(self.hall.spec().id.as_str(), counts);
    }

    /// An alert that opened or changed: to every console, to MQTT for
    /// integrations (SMS gateways), and to the store for history.
    fn publish_alert(&self, id: &str) {
        let Some(alert) = self.hall.alert(id) else {
            return;
        };
        let view = self.hall.alert_view(alert);
        info!(hall = %view.hall, alert = %view.id, rule = view.rule.code(), severity = ?view.severity,
              state = ?view.state, escalated = view.escalated, "Alert changed.");
        let f = frame("alert", &view);
        self.to_dashboards(f.clone());
        self.publish(
            topic::alert(&self.ctx.prefix, &view.hall),
            f.as_bytes().to_vec(),
            false,
        );
        let mut item = WriteItem::default();
        item.records.push(Record::Alert(AlertRow {
            id: view.id.clone(),
            hall: view.hall.to_string(),
            rule: view.rule.code().to_owned(),
            severity: view.severity.code().to_owned(),
            state: view.state.code().to_owned(),
            opened_at: alert.opened_at,
            updated_at: alert.updated_at,
            body: serde_json::from_str(&f).unwrap_or_default(),
        }));
        self.ctx.writer.send(item);
        let _ = self.ctx.alerts.send(HallFrame {
            hall: view.hall.clone(),
            frame: f,
        });
    }

    /// The retained `window/{id}/state` message of the contract.
    fn publish_window_state(&self, w: usize) {
        let v = self.hall.window_view(w);
        let d = &v.display;
        let body = json!({
            "window": d.id, "status": d.status, "staff": d.staff, "staff_name": d.staff_name,
            "ticket": d.ticket, "since": d.since, "served_today": v.served_today,
            "benchmark": v.benchmark,
        });
        let topic = topic::window_state(&self.ctx.prefix, &self.hall.spec().id, &d.id);
        self.publish(topic, body.to_string().into_bytes(), true);
    }

    fn publish(&self, topic: String, payload: Vec<u8>, retain: bool) {
        if let Some(client) = &self.ctx.mqtt
            && let Err(e) = client.try_publish(topic.clone(), QoS::AtLeastOnce, retain, payload)
        {
            warn!(error = %e, %topic, "Could not queue an MQTT message.");
        }
    }
}

/// A day's figures as the store keeps them.
pub fn daily_row(figures: &DayFigures, now: chrono::DateTime<chrono::Utc>) -> DailyRow {
    DailyRow {
        hall: figures.hall.clone(),
        date: figures.date.to_string(),
        computed_at: now,
        body: serde_json::to_value(figures).unwrap_or_default(),
    }
}

/// Raw bytes as the rejection log keeps them: at most the contract's limit.
pub fn cut(payload: &[u8]) -> Vec<u8> {
    payload[..payload.len().min(MAX_PAYLOAD)].to_vec()
}
