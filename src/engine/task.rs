//! The task that owns one hall: it applies inputs in arrival order, ticks
//! the hall every second, and turns the effects into records, replies,
//! broker messages and screen messages.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{broadcast, mpsc, oneshot};
use tracing::{debug, info, warn};

use super::frames::{
    ConsoleMsg, DashMsg, DashboardSub, DisplaySub, Frame, HallFrame, ScreenFrame, ScreenMsg,
};
use super::out::{AfterCommit, DeviceReply, Outgoing, ReplyTo, Sent};
use super::{CaseAnswer, Casework, EngineContext, HallMsg, Origin};
use crate::clock::now_ms;
use crate::domain::{
    AlertOp, AlertRefusal, AlertView, Applied, CaseEffect, CheckpointError, DayFigures, Effect,
    Hall, Input, KpiView, Reason, Refusal, Reply, StaffingAdvice, TicketPage, TicketToken,
    checkpoint_key,
};
use crate::domain::{Rule, Severity};
use crate::store::{
    AlertRow, AuditRow, BookRow, CheckpointRow, DailyRow, EventRow, Record, RejectionRow, WriteItem,
};

/// Screen messages buffered per hall for slow screens before they lag.
const SCREEN_BUFFER: usize = 1024;

/// Active alerts of a hall by rule and severity (their enums' order).
type OpenCounts = [[u64; Severity::ALL.len()]; Rule::ALL.len()];

pub(super) struct HallTask {
    hall: Hall,
    ctx: Arc<EngineContext>,
    screens: broadcast::Sender<ScreenFrame>,
    dashboards: broadcast::Sender<Arc<Frame<DashMsg>>>,
    /// Something changed since the last retained summary.
    summary_due: bool,
    /// The last staffing advice and KPIs sent, to send only changes.
    last_staffing: Option<StaffingAdvice>,
    last_kpi: Option<KpiView>,
    /// The open alerts per rule and severity last given to `/metrics`.
    last_open: Option<OpenCounts>,
    /// The hall's tamper-evident chain, and whether its head changed since
    /// it was last published.
    chain: crate::audit::Chain,
    head_due: bool,
    /// Each service's estimated wait as screens last saw it, in minutes.
    shown_waits: Vec<u32>,
    /// The hall's stored events its kept checkpoint lacks, and when the
    /// next checkpoint is due.
    unsaved: usize,
    checkpoint_due: DateTime<Utc>,
    /// The checkpoint being serialized off the task, if one is.
    serializing: Option<Serializing>,
}

/// A checkpoint being serialized from a copy of the hall, and what the
/// task stored meanwhile: it waits, so that the checkpoint is stored after
/// every event the copy holds and before any it lacks.
struct Serializing {
    bytes: oneshot::Receiver<Result<Vec<u8>, CheckpointError>>,
    taken_at: DateTime<Utc>,
    /// The events it holds that the last checkpoint lacked.
    events: usize,
    held: Vec<WriteItem<AfterCommit>>,
}

/// The serializer's answer, or why there is none.
fn flatten(
    bytes: Result<Result<Vec<u8>, CheckpointError>, oneshot::error::RecvError>,
) -> Result<Vec<u8>, String> {
    match bytes {
        Ok(b) => b.map_err(|e| e.to_string()),
        Err(_) => Err("the serializing thread ended without an answer".into()),
    }
}

impl HallTask {
    pub(super) fn new(
        hall: Hall,
        chain: crate::audit::Chain,
        ctx: Arc<EngineContext>,
        unsaved: usize,
    ) -> Self {
        let services = hall.spec().services.len();
        Self {
            hall,
            ctx,
            screens: broadcast::channel(SCREEN_BUFFER).0,
            dashboards: broadcast::channel(SCREEN_BUFFER).0,
            summary_due: true,
            last_staffing: None,
            last_kpi: None,
            last_open: None,
            head_due: chain.head().is_some(),
            shown_waits: vec![u32::MAX; services],
            chain,
            unsaved,
            checkpoint_due: DateTime::<Utc>::MAX_UTC,
            serializing: None,
        }
        .with_first_checkpoint()
    }

    /// Halls keep their checkpoints at different moments of the interval,
    /// each at its own (from its id), so that no tick serializes them all:
    /// at start, when they have all just been folded, least of all.
    fn with_first_checkpoint(mut self) -> Self {
        if let Some(every) = self.ctx.checkpoint_every {
            let phase = crate::spread(self.hall.spec().id.as_str());
            let ms = u64::try_from(every.num_milliseconds()).unwrap_or(1).max(1);
            let offset = i64::try_from(phase % ms).unwrap_or(0);
            self.checkpoint_due = self.now() + chrono::Duration::milliseconds(offset);
        }
        self
    }

    /// Queues records to store, counting the events a checkpoint would lack.
    fn journal(&mut self, item: WriteItem<AfterCommit>) {
        self.unsaved += item
            .records
            .iter()
            .filter(|r| matches!(r, Record::Event(_)))
            .count();
        self.send(item);
    }

    /// Queues records to store, in the hall's order: behind a checkpoint
    /// still being serialized, if there is one.
    fn send(&mut self, item: WriteItem<AfterCommit>) {
        match &mut self.serializing {
            Some(s) => s.held.push(item),
            None => self
                .ctx
                .journal
                .send_for(self.hall.spec().id.as_str(), item),
        }
    }

    /// Keeps a checkpoint of the hall when it has events its last one
    /// lacks and one is due: every `checkpoint_every`, at the hall's own
    /// phase. It is serialized from a copy, off this task, so that screens
    /// do not wait for it; what the task stores meanwhile waits behind it.
    fn keep_checkpoint(&mut self) {
        let Some(every) = self.ctx.checkpoint_every else {
            return;
        };
        let now = self.now();
        if now < self.checkpoint_due || self.serializing.is_some() {
            return;
        }
        // The next one falls a whole interval on, taken or not.
        self.checkpoint_due = now + every;
        if self.unsaved == 0 {
            return;
        }
        let copy = self.hall.clone();
        let (tx, bytes) = oneshot::channel();
        tokio::task::spawn_blocking(move || {
            let _ = tx.send(copy.checkpoint());
        });
        self.serializing = Some(Serializing {
            bytes,
            taken_at: now,
            events: std::mem::take(&mut self.unsaved),
            held: Vec::new(),
        });
    }

    /// Stores the checkpoint being serialized, once its bytes are there,
    /// then what waited behind it.
    fn checkpoint_serialized(&mut self, bytes: Result<Vec<u8>, String>) {
        let Some(s) = self.serializing.take() else {
            return;
        };
        self.store_checkpoint(bytes, s.taken_at, s.events);
        let hall = self.hall.spec().id.as_str();
        for item in s.held {
            self.ctx.journal.send_for(hall, item);
        }
    }

    /// Journals a checkpoint holding `events` more events, or, when it
    /// could not be serialized, counts them as still lacking.
    fn store_checkpoint(
        &mut self,
        bytes: Result<Vec<u8>, String>,
        taken_at: DateTime<Utc>,
        events: usize,
    ) {
        let spec = self.hall.spec();
        match bytes {
            Ok(state) => {
                debug!(hall = %spec.id, bytes = state.len(), events, "Checkpoint taken.");
                let row = CheckpointRow {
                    hall: spec.id.to_string(),
                    key: checkpoint_key(spec),
                    taken_at,
                    state,
                };
                self.ctx.journal.send_for(
                    spec.id.as_str(),
                    WriteItem::records(vec![Record::Checkpoint(row)]),
                );
            }
            Err(error) => {
                // The log still holds everything: the next start folds more.
                warn!(hall = %spec.id, %error, "The hall's checkpoint could not be taken.");
                self.unsaved += events;
            }
        }
    }

    /// When the task stops: the checkpoint being serialized is stored,
    /// and one more of the hall as it stops, serialized here, if it has
    /// events that one lacks.
    async fn checkpoint_at_stop(&mut self) {
        if let Some(s) = &mut self.serializing {
            let bytes = (&mut s.bytes).await;
            self.checkpoint_serialized(flatten(bytes));
        }
        if self.ctx.checkpoint_every.is_some() && self.unsaved > 0 {
            let now = self.now();
            let bytes = self.hall.checkpoint().map_err(|e| e.to_string());
            let events = std::mem::take(&mut self.unsaved);
            self.store_checkpoint(bytes, now, events);
        }
    }

    fn now(&self) -> DateTime<Utc> {
        now_ms(&*self.ctx.clock)
    }

    pub(super) async fn run(mut self, mut rx: mpsc::Receiver<HallMsg>, pending: Vec<Effect>) {
        let hall = self.hall.spec().id.clone();
        info!(%hall, "Hall task started.");
        self.publish_window_states();
        for t in self.hall.tickets() {
            if let Some(token) = &t.token {
                self.ctx.pages.insert(token.clone(), hall.clone());
            }
        }
        self.emit(pending);
        self.publish_audit_head();
        self.count_open_alerts();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                msg = rx.recv() => match msg {
                    Some(HallMsg::Stop) | None => break,
                    Some(msg) => self.handle(msg),
                },
                _ = tick.tick() => self.tick(),
                bytes = async {
                    match &mut self.serializing {
                        Some(s) => (&mut s.bytes).await,
                        None => std::future::pending().await,
                    }
                }, if self.serializing.is_some() => self.checkpoint_serialized(flatten(bytes)),
            }
        }
        // The next start (or the next owner) goes on from here.
        self.checkpoint_at_stop().await;
        info!(%hall, "Hall task stopped.");
    }

    fn handle(&mut self, msg: HallMsg) {
        let now = self.now();
        match msg {
            // The run loop ends the task on it.
            HallMsg::Stop => {}
            HallMsg::Device { input, origin } => self.handle_device(*input, origin),
            HallMsg::Display { reply } => {
                let _ = reply.send(DisplaySub {
                    snapshot: self.hall.display_snapshot(now),
                    frames: self.screens.subscribe(),
                });
            }
            HallMsg::Alerts { reply } => {
                let _ = reply.send(self.hall.alert_views());
            }
            HallMsg::AlertAction {
                alert,
                op,
                by,
                note,
                reply,
            } => {
                let _ = reply.send(self.handle_alert_action(alert, op, by, note));
            }
            HallMsg::Case { reference, reply } => {
                let view = self
                    .hall
                    .cases()
                    .case(&reference)
                    .map(|c| self.hall.case_view(c, now));
                let _ = reply.send(view);
            }
            HallMsg::Appraisal {
                month,
                by,
                mut days,
                reply,
            } => {
                let today = self.hall.figures(now, false);
                days.retain(|d| d.date != today.date);
                days.push(today);
                let spec = self.hall.spec().clone();
                let a = crate::domain::appraise(
                    &spec,
                    &spec.deductions,
                    month,
                    by,
                    &days,
                    self.hall.cases(),
                    now,
                );
                let _ = reply.send(a);
            }
            HallMsg::Cards { reply } => {
                let _ = reply.send(self.hall.recent_cards(now));
            }
            HallMsg::CaseBoard { reply } => {
                let _ = reply.send(self.hall.case_board(now));
            }
            HallMsg::TicketPage { token, near, reply } => {
                let _ = reply.send(self.hall.ticket_page(&token, now, near));
            }
            HallMsg::GiveUp { token, near, reply } => {
                let _ = reply.send(self.handle_give_up(token, near));
            }
            HallMsg::Booking { input, reply } => {
                let _ = reply.send(self.handle_booking(*input));
            }
            HallMsg::Casework { input, reply } => {
                let _ = reply.send(self.handle_casework(*input));
            }
            HallMsg::Republish => {
                self.head_due = self.chain.head().is_some();
                self.publish_audit_head();
                self.publish_window_states();
                self.summary_due = true;
            }
            HallMsg::Snapshot { reply } => {
                let _ = reply.send(self.hall.display_snapshot(now));
            }
            HallMsg::Dashboard { reply } => {
                let _ = reply.send(DashboardSub {
                    snapshot: self.hall.dashboard_snapshot(now),
                    frames: self.dashboards.subscribe(),
                });
            }
            HallMsg::Figures { reply } => {
                let _ = reply.send(self.hall.figures(now, false));
            }
            HallMsg::Summary { reply } => {
                let _ = reply.send(self.hall.summary(now));
            }
        }
    }

    fn tick(&mut self) {
        let effects = self.hall.tick(self.now());
        self.emit(effects);
        self.publish_audit_head();
        // The contract's rate: at most once a second, and only on change.
        if self.summary_due {
            self.summary_due = false;
            self.publish_summary();
        }
        self.refresh_dashboards();
        self.keep_checkpoint();
    }

    fn handle_device(&mut self, mut input: Input, origin: Origin) {
        let now = self.now();
        // A ticket's phone page gets its token here, drawn from the
        // operating system's generator, and the log keeps it with the
        // request: the core draws nothing, and a replay gives the same page.
        if let Input::Ticket { request, .. } = &mut input {
            request.token = Some(TicketToken::from_random(rand::random()));
        }
        let applied = self.hall.apply(&input, now);
        if let Some(Reply::Ticket {
            token: Some(token), ..
        }) = &applied.reply
            && !applied.duplicate
        {
            self.ctx
                .pages
                .insert(token.clone(), self.hall.spec().id.clone());
        }
        self.ctx.metrics.applied(input.kind());
        let spec = self.hall.spec();
        let device = spec.device_of(&input);
        let msg_id = input.request_id();
        let to = ReplyTo::of(&input);
        // Encoded once, for the device and for the log.
        let reply = match (&applied.reply, &to) {
            (Some(reply), Some(to)) => Some((self.ctx.encode_reply)(&DeviceReply {
                hall: &spec.id,
                to,
                msg_id,
                reply,
                tz: spec.tz,
                page_base: &self.ctx.page_base,
            })),
            _ => None,
        };
        let refusal = applied.reply.as_ref().and_then(Reply::refusal);

        let mut records = Vec::new();
        if applied.record {
            let mut row = EventRow::of(&spec.id, device, &input, now);
            row.ok = refusal.is_none();
            row.reason = refusal.as_ref().map(|r| r.reason.code().to_owned());
            row.reply = reply.as_deref().map(Arc::from);
            row.device_at = origin.device_at;
            records.push(Record::Event(row));
        }
        if applied.duplicate {
            self.ctx.metrics.duplicate();
            debug!(hall = %spec.id, device = ?device, msg_id = ?msg_id, "Redelivered message answered again.");
        } else if let Some(r) = refusal {
            self.ctx.metrics.rejected(r.reason);
            info!(hall = %spec.id, device = ?device, msg_id = ?msg_id, reason = r.reason.code(), "Message refused.");
            records.push(Record::Rejection(RejectionRow {
                received_at: now,
                topic: origin.topic,
                payload: origin.payload,
                reason: r.reason.code().to_owned(),
                detail: format!("{} refused: {}", input.kind(), r.message),
                hall: Some(spec.id.to_string()),
                msg_id: msg_id.map(str::to_owned),
            }));
        }
        let sent = match (to, reply) {
            (Some(to), Some(payload)) => Some(Sent {
                hall: spec.id.clone(),
                to,
                payload,
            }),
            _ => None,
        };
        self.journal(WriteItem {
            records,
            after: Some(AfterCommit {
                receipt: origin.receipt,
                reply: sent,
            }),
        });
        self.emit(applied.effects);
        self.publish_audit_head();
        if let Some(at) = origin.received {
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
        let now = self.now();
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
            let row = EventRow::of(&self.hall.spec().id, None, &input, now);
            self.journal(WriteItem::records(vec![Record::Event(row)]));
            info!(hall = %self.hall.spec().id, %alert, ?op, %by, "Supervisor acted on an alert.");
            self.audit_action(&input, now);
        }
        self.emit(applied.effects);
        self.publish_audit_head();
        result
    }

    /// Applies a case report, card action or follow-up step that came by
    /// REST as a logged input, and answers with what it acted on.
    /// Applies an input that comes by REST or from a page rather than from
    /// a device (casework, bookings, giving a ticket up), logging it with
    /// the reply when it changed something.
    fn apply_action(&mut self, input: &Input, now: chrono::DateTime<chrono::Utc>) -> Applied {
        let applied = self.hall.apply(input, now);
        self.ctx.metrics.applied(input.kind());
        if applied.record {
            let mut row = EventRow::of(&self.hall.spec().id, None, input, now);
            row.reply = applied
                .reply
                .as_ref()
                .and_then(|r| serde_json::to_string(r).ok())
                .map(Arc::from);
            self.journal(WriteItem::records(vec![Record::Event(row)]));
        }
        applied
    }

    /// The citizen gives a ticket up from its page: logged like a device's
    /// message, answered with the page after.
    fn handle_give_up(&mut self, token: TicketToken, near: usize) -> Result<TicketPage, Refusal> {
        let now = self.now();
        let input = Input::GiveUp {
            token: token.clone(),
        };
        let applied = self.apply_action(&input, now);
        let hall = self.hall.spec().id.clone();
        let answer = match applied.reply {
            Some(Reply::GaveUp { ticket }) => {
                info!(%hall, %ticket, duplicate = applied.duplicate, "Ticket given up from its page.");
                self.hall
                    .ticket_page(&token, now, near)
                    .ok_or_else(|| Refusal::new(Reason::UnknownTicket))
            }
            reply => {
                let refusal = reply
                    .as_ref()
                    .and_then(Reply::refusal)
                    .unwrap_or_else(|| Refusal::new(Reason::BadRequest));
                self.ctx.metrics.rejected(refusal.reason);
                Err(refusal)
            }
        };
        self.emit(applied.effects);
        answer
    }

    /// A booking or cancellation from the booking platform: logged like a
    /// device's message, answered with the booking after.
    fn handle_booking(&mut self, input: Input) -> Result<(crate::domain::Booking, bool), Refusal> {
        let now = self.now();
        let applied = self.apply_action(&input, now);
        let hall = self.hall.spec().id.clone();
        let answer = match &applied.reply {
            Some(Reply::Booked {
                reference,
                duplicate,
            }) => {
                info!(%hall, booking = %reference, kind = input.kind(), duplicate, "Booking taken.");
                self.hall
                    .bookings()
                    .get(reference)
                    .map(|(_, b)| (b.clone(), *duplicate))
                    .ok_or_else(|| Refusal::new(Reason::UnknownAppointment))
            }
            reply => {
                let refusal = reply
                    .as_ref()
                    .and_then(Reply::refusal)
                    .unwrap_or_else(|| Refusal::new(Reason::BadRequest));
                self.ctx.metrics.rejected(refusal.reason);
                info!(%hall, kind = input.kind(), reason = refusal.reason.code(), "Booking refused.");
                Err(refusal)
            }
        };
        self.emit(applied.effects);
        answer
    }

    fn handle_casework(&mut self, input: Input) -> CaseAnswer {
        let now = self.now();
        let applied = self.apply_action(&input, now);
        let hall = self.hall.spec().id.clone();
        if applied.record {
            self.audit_action(&input, now);
        }
        let answer = match &applied.reply {
            Some(Reply::CaseTaken { subject, duplicate }) => {
                let book = self.hall.cases();
                let view = match &input {
                    Input::Case { .. } => book
                        .case(subject)
                        .map(|c| Casework::Case(Box::new(self.hall.case_view(c, now)))),
                    Input::CardAction { .. } => book
                        .card(subject)
                        .map(|c| Casework::Card(Box::new(self.hall.card_view_of(c)))),
                    _ => book
                        .follow_up(subject)
                        .map(|f| Casework::FollowUp(Box::new(self.hall.follow_up_view(f, now)))),
                };
                view.map(|v| (v, *duplicate))
                    .ok_or_else(|| Refusal::new(Reason::BadRequest))
            }
            Some(reply) => Err(reply
                .refusal()
                .unwrap_or_else(|| Refusal::new(Reason::BadRequest))),
            None => Err(Refusal::new(Reason::BadRequest)),
        };
        match &answer {
            Ok((_, duplicate)) => {
                info!(%hall, kind = input.kind(), id = ?input.request_id(), duplicate, "Casework taken.")
            }
            Err(r) => {
                self.ctx.metrics.rejected(r.reason);
                info!(%hall, kind = input.kind(), id = ?input.request_id(), reason = r.reason.code(), "Casework refused.")
            }
        }
        self.emit(applied.effects);
        self.publish_audit_head();
        answer
    }

    /// Adds a record to the hall's chain and keeps it.
    fn audit(&mut self, kind: &str, subject: Option<&str>, content: String) {
        if let Some(record) = self.chain.append(kind, subject, content) {
            self.head_due = true;
            let hall = self.hall.spec().id.to_string();
            self.send(WriteItem::records(vec![Record::Audit(AuditRow {
                hall,
                record,
            })]));
        }
    }

    /// A supervisor's (or back office's) action, as the chain records it.
    fn audit_action(&mut self, input: &Input, now: chrono::DateTime<chrono::Utc>) {
        let content = serde_json::json!({"at": now, "input": input}).to_string();
        self.audit("action", None, content);
    }

    /// The retained head of the chain, when it moved.
    fn publish_audit_head(&mut self) {
        if !std::mem::take(&mut self.head_due) {
            return;
        }
        if let Some(head) = self.chain.head() {
            let hall = self.hall.spec().id.clone();
            let head = head.clone();
            self.publish(Outgoing::AuditHead(&hall, &head));
        }
    }

    /// Turns effects into screen and broker messages.
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
        let now = self.now();
        let mut alerts_changed = false;
        let mut book = Vec::new();
        let dashboards = self.dashboards.receiver_count() > 0;
        for effect in effects {
            match effect {
                Effect::Called(call) => {
                    let view = self.hall.call_view(&call);
                    info!(hall = %hall_id, ticket = %view.ticket, window = %view.window, recall = view.recall, "Ticket called.");
                    self.publish(Outgoing::Call(&hall_id, &view));
                    if dashboards {
                        self.to_dashboards(DashMsg::Call(view.clone()));
                    }
                    self.to_screens(Some(call.window), ScreenMsg::Call(view));
                }
                Effect::WindowChanged(w) => {
                    self.to_screens(Some(w), ScreenMsg::Window(self.hall.display_window(w)));
                    // A window opening, pausing or closing moves the waits of
                    // its services: screens hear of a change of a minute.
                    for s in self.hall.spec().windows[w].services.clone() {
                        let view = self.hall.queue_view(s, now);
                        if self.shown_waits[s] != view.estimated_wait_s / 60 {
                            self.shown_waits[s] = view.estimated_wait_s / 60;
                            self.to_screens(None, ScreenMsg::Queue(view));
                        }
                    }
                    self.publish_window_state(w);
                    if dashboards {
                        self.to_dashboards(DashMsg::Load(self.hall.dash_window(w, now)));
                    }
                }
                Effect::QueueChanged(s) => {
                    let view = self.hall.queue_view(s, now);
                    self.shown_waits[s] = view.estimated_wait_s / 60;
                    self.to_screens(None, ScreenMsg::Queue(view));
                    if dashboards {
                        self.to_dashboards(DashMsg::Queue(self.hall.dash_queue(s, now)));
                    }
                }
                Effect::DayEnded(figures) => self.keep_day(&figures),
                Effect::DayStarted(day) => {
                    info!(hall = %hall_id, %day, "A new day started; the hall's day state was reset.");
                    // Yesterday's phone pages are gone with its tickets.
                    self.ctx.pages.retain(|_, hall| *hall != hall_id);
                    let snapshot = self.hall.display_snapshot(now);
                    self.to_screens(None, ScreenMsg::Snapshot(Box::new(snapshot)));
                    self.publish_window_states();
                    let snapshot = self.hall.dashboard_snapshot(now);
                    self.to_dashboards(DashMsg::Snapshot(Box::new(snapshot)));
                }
                Effect::AlertChanged(id) => {
                    self.publish_alert(&id);
                    alerts_changed = true;
                }
                Effect::PresenceChanged { device, online } => {
                    info!(hall = %hall_id, %device, online, "Device presence changed.");
                }
                Effect::Case(change) => book.push(change),
            }
        }
        if alerts_changed {
            self.count_open_alerts();
        }
        if !book.is_empty() {
            self.keep_book(&book);
        }
    }

    /// Keeps the cases, cards and follow-ups that changed, as they now
    /// stand; a restart loads them.
    fn keep_book(&mut self, changes: &[CaseEffect]) {
        let hall_id = self.hall.spec().id.clone();
        let hall = hall_id.as_str();
        let mut audited: Vec<(&'static str, String, String)> = Vec::new();
        let book = self.hall.cases();
        let now = self.now();
        let mut rows = Vec::with_capacity(changes.len());
        for change in changes {
            match change {
                CaseEffect::Case(reference) => {
                    if let Some((n, case)) = book.case_at(reference) {
                        info!(%hall, case = %reference, state = ?case.state, due = ?case.due, "Case changed.");
                        let row = BookRow::of_case(hall, n, case, now);
                        audited.push(("case", reference.clone(), row.body.to_string()));
                        rows.push(Record::Book(row));
                    }
                }
                CaseEffect::Card(n) => {
                    let card = book.card_at(*n);
                    info!(%hall, card = %card.id, kind = card.kind.label(), state = ?card.state,
                          department = ?card.department, "Card changed.");
                    let row = BookRow::of_card(hall, *n, card, now);
                    audited.push(("card", card.id.clone(), row.body.to_string()));
                    rows.push(Record::Book(row));
                    let view = self.hall.card_view(*n);
                    // Its notifications go in the same transaction.
                    if crate::notify::Plan::card_settled(&view) {
                        rows.push(Record::Withdraw {
                            hall: hall.to_owned(),
                            subject: view.id.clone(),
                            at: now,
                        });
                    } else {
                        outbox(&mut rows, self.ctx.notify.card(&view, now), now);
                    }
                    self.publish(Outgoing::Card(&view));
                    let _ = self.ctx.alerts.send(HallFrame {
                        hall: view.hall.clone(),
                        frame: Frame::new(ConsoleMsg::Card(Box::new(view))),
                    });
                }
                CaseEffect::Booking(n) => {
                    let b = self.hall.bookings().at(*n);
                    info!(%hall, booking = %b.reference, state = ?b.state, "Appointment changed.");
                    rows.push(Record::Book(BookRow::of_booking(hall, *n, b, now)));
                }
                CaseEffect::FollowUp(n) => {
                    let f = book.follow_up_at(*n);
                    info!(%hall, follow_up = %f.id, step = ?f.current().map(|s| s.step), "Follow-up changed.");
                    let row = BookRow::of_follow_up(hall, *n, f, now);
                    audited.push(("follow_up", f.id.clone(), row.body.to_string()));
                    rows.push(Record::Book(row));
                }
            }
        }
        self.journal(WriteItem::records(rows));
        for (kind, subject, content) in audited {
            self.audit(kind, Some(&subject), content);
        }
    }

    /// A message for the hall's screens; no screen connected is no error.
    fn to_screens(&self, window: Option<usize>, msg: ScreenMsg) {
        if self.screens.receiver_count() > 0 {
            let _ = self.screens.send(ScreenFrame {
                window,
                frame: Frame::new(msg),
            });
        }
    }

    fn to_dashboards(&self, msg: DashMsg) {
        if self.dashboards.receiver_count() > 0 {
            let _ = self.dashboards.send(Frame::new(msg));
        }
    }

    /// Sends the dashboards' staffing advice and KPIs when they changed:
    /// they move with time as well as with events, so the tick looks each
    /// second.
    fn refresh_dashboards(&mut self) {
        if self.dashboards.receiver_count() == 0 {
            return;
        }
        let now = self.now();
        let staffing = self.hall.staffing_advice(now);
        if self.last_staffing.as_ref() != Some(&staffing) {
            self.to_dashboards(DashMsg::Staffing(staffing.clone()));
            self.last_staffing = Some(staffing);
        }
        let kpi = self.hall.kpi(now);
        if self.last_kpi.as_ref() != Some(&kpi) {
            self.to_dashboards(DashMsg::Kpi(Box::new(kpi.clone())));
            self.last_kpi = Some(kpi);
        }
    }

    /// The retained summary, and the same to region screens.
    fn publish_summary(&self) {
        let summary = self.hall.summary(self.now());
        self.publish(Outgoing::Summary(&summary));
        if self.ctx.summaries.receiver_count() > 0 {
            let _ = self.ctx.summaries.send(HallFrame {
                hall: summary.hall.clone(),
                frame: Frame::new(summary),
            });
        }
    }

    /// Keeps a finished day's figures in the store.
    fn keep_day(&mut self, figures: &DayFigures) {
        info!(hall = %figures.hall, date = %figures.date, issued = figures.total.issued.unwrap_or(0),
              served = figures.total.served, "A day ended; its figures are kept.");
        let row = DailyRow::of(figures, self.now());
        self.send(WriteItem::records(vec![Record::Daily(row)]));
    }

    /// Active alerts per rule and severity, for `/metrics`, when they
    /// changed. Counted into an array, not a map keyed by the codes: a busy
    /// hall has hundreds open, counted again whenever one changes.
    fn count_open_alerts(&mut self) {
        let mut counts: OpenCounts = [[0; Severity::ALL.len()]; Rule::ALL.len()];
        for a in self.hall.active_alerts() {
            counts[a.rule as usize][a.severity as usize] += 1;
        }
        if self.last_open == Some(counts) {
            return;
        }
        self.last_open = Some(counts);
        let open = Rule::ALL.iter().flat_map(|&rule| {
            Severity::ALL.iter().filter_map(move |&severity| {
                let n = counts[rule as usize][severity as usize];
                (n > 0).then(|| ((rule.code(), severity.code()), n))
            })
        });
        self.ctx
            .metrics
            .set_open_alerts(self.hall.spec().id.as_str(), open);
    }

    /// An alert that opened or changed: to every console and dashboard, to
    /// the broker for integrations (SMS gateways), and to the store for
    /// history.
    fn publish_alert(&mut self, id: &str) {
        let Some(alert) = self.hall.alert(id) else {
            return;
        };
        let view = self.hall.alert_view(alert);
        let content = serde_json::to_string(&view).unwrap_or_default();
        let row = AlertRow::of(&view, &content, alert.opened_at, alert.updated_at);
        self.audit("alert", Some(id), content);
        info!(hall = %view.hall, alert = %view.id, rule = view.rule.code(), severity = ?view.severity,
              state = ?view.state, escalated = view.escalated, "Alert changed.");
        self.publish(Outgoing::Alert(&view));
        // Its notifications go in the same transaction as the alert.
        let mut records = vec![Record::Alert(row)];
        let now = self.now();
        if crate::notify::Plan::alert_settled(&view) {
            records.push(Record::Withdraw {
                hall: view.hall.to_string(),
                subject: view.id.clone(),
                at: now,
            });
        } else {
            outbox(&mut records, self.ctx.notify.alert(&view, now), now);
        }
        self.journal(WriteItem::records(records));
        self.to_dashboards(DashMsg::Alert(view.clone()));
        let _ = self.ctx.alerts.send(HallFrame {
            hall: view.hall.clone(),
            frame: Frame::new(ConsoleMsg::Alert(Box::new(view))),
        });
    }

    fn publish_window_states(&self) {
        for w in 0..self.hall.windows().len() {
            self.publish_window_state(w);
        }
    }

    /// The retained state of a window.
    fn publish_window_state(&self, w: usize) {
        if self.ctx.publisher.is_some() {
            let view = self.hall.window_view(w);
            self.publish(Outgoing::WindowState(&self.hall.spec().id, &view));
        }
    }

    fn publish(&self, msg: Outgoing<'_>) {
        if let Some(p) = &self.ctx.publisher {
            p.publish(msg);
        }
    }
}

/// What an alert or card does to the outbox, as records written with it:
/// first what it takes the place of, then what it adds.
fn outbox(
    records: &mut Vec<Record>,
    q: crate::notify::Queueing,
    at: chrono::DateTime<chrono::Utc>,
) {
    records.extend(
        q.supersede
            .into_iter()
            .map(|key| Record::Supersede { key, at }),
    );
    records.extend(q.queue.into_iter().map(Record::Notify));
}
