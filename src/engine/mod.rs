//! The runtime around the core: one task per hall owns its `Hall`, applies
//! inputs in arrival order, and hands the adapters what follows, typed:
//! records and replies to the store writer (`out`), messages for the broker
//! to a `Publisher`, and messages for screens (`frames`). Everything else
//! talks to a hall through its `HallHandle`.
//!
//! The engine depends on the domain and the store's records only; the MQTT
//! and HTTP adapters depend on it, never the other way round.

mod frames;
mod out;
mod task;

pub use frames::{
    AlertFrames, ConsoleMsg, DashMsg, DashboardSub, DisplaySub, Frame, HallFrame, ScreenFrame,
    ScreenMsg, SummaryFrames,
};
pub use out::{
    AfterCommit, DeviceReply, EncodeReply, Journal, Outgoing, Publisher, Receipt, ReplyTo, Sent,
};

use std::sync::Arc;
use std::time::Instant;

use dashmap::DashMap;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::clock::Clock;
use crate::domain::{
    AlertOp, AlertRefusal, AlertView, Appraisal, AppraisalBy, CardView, CaseBoard, CaseView,
    DayFigures, DisplaySnapshot, Effect, FollowUpView, Hall, HallId, HallSpec, Input, Refusal,
    SummaryView, TicketPage, TicketToken,
};
use crate::metrics::Metrics;

/// Messages queued per hall before senders wait.
const INBOX: usize = 4096;

/// Where a device message came from, to log, answer and acknowledge it.
#[derive(Debug)]
pub struct Origin {
    /// The topic and raw bytes it came as (at most the contract's limit),
    /// for the rejection log.
    pub topic: String,
    pub payload: Vec<u8>,
    /// The device's own time of the message, as it sent it.
    pub device_at: Option<String>,
    /// Its place in the acknowledgement line, once stored.
    pub receipt: Option<Receipt>,
    /// When ingest read it, for the ingest-to-broadcast latency.
    pub received: Option<Instant>,
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
    /// The hall's summary.
    Summary {
        reply: oneshot::Sender<SummaryView>,
    },
    /// Publish the retained window states again (the broker lost them).
    Republish,
    /// Finish what is queued before this, then stop: this instance no
    /// longer runs the hall. Screens still watching it are let go.
    Stop,
    /// The hall's alerts for a supervisors' console.
    Alerts {
        reply: oneshot::Sender<Vec<AlertView>>,
    },
    /// One case as it stands.
    Case {
        reference: String,
        reply: oneshot::Sender<Option<CaseView>>,
    },
    /// The month's 考评, with the days before today's figures.
    Appraisal {
        month: (i32, u32),
        by: AppraisalBy,
        days: Vec<DayFigures>,
        reply: oneshot::Sender<Option<Appraisal>>,
    },
    /// The hall's cards open or closed lately, for a console's snapshot.
    Cards {
        reply: oneshot::Sender<Vec<CardView>>,
    },
    /// The hall's 限时办结 view.
    CaseBoard {
        reply: oneshot::Sender<CaseBoard>,
    },
    /// The page of the ticket holding a token, with `near` the most ahead
    /// that tells the citizen to come back.
    TicketPage {
        token: TicketToken,
        near: usize,
        reply: oneshot::Sender<Option<TicketPage>>,
    },
    /// The citizen gives the ticket up from its page.
    GiveUp {
        token: TicketToken,
        near: usize,
        reply: oneshot::Sender<Result<TicketPage, Refusal>>,
    },
    /// A booking or cancellation from the booking platform.
    Booking {
        input: Box<Input>,
        reply: oneshot::Sender<Result<(crate::domain::Booking, bool), Refusal>>,
    },
    /// A case report, card action or follow-up step by REST.
    Casework {
        input: Box<Input>,
        reply: oneshot::Sender<CaseAnswer>,
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

/// What became of a case report, card action or follow-up step: what it
/// acted on as it now stands, and whether it had been taken before; or why
/// it was refused.
pub type CaseAnswer = Result<(Casework, bool), Refusal>;

/// A case, card or follow-up as it stands after an action.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(untagged)]
pub enum Casework {
    Case(Box<CaseView>),
    Card(Box<CardView>),
    FollowUp(Box<FollowUpView>),
}

/// The way to a hall's task.
#[derive(Clone)]
pub struct HallHandle {
    pub spec: Arc<HallSpec>,
    tx: mpsc::Sender<HallMsg>,
}

impl HallHandle {
    /// Asks the hall task to stop once it has handled what is queued.
    pub async fn stop(&self) {
        let _ = self.tx.send(HallMsg::Stop).await;
    }

    /// Hands a device message to the hall. If the hall has stopped, gives
    /// back the message's place in the acknowledgement line.
    pub async fn device(&self, input: Input, origin: Origin) -> Result<(), Option<Receipt>> {
        self.tx
            .send(HallMsg::Device {
                input: Box::new(input),
                origin,
            })
            .await
            .map_err(|e| match e.0 {
                HallMsg::Device { origin, .. } => origin.receipt,
                _ => None,
            })
    }

    /// The hall's active alerts and those resolved today.
    pub async fn alerts(&self) -> Vec<AlertView> {
        self.ask(|reply| HallMsg::Alerts { reply })
            .await
            .unwrap_or_default()
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
        self.ask(|reply| HallMsg::AlertAction {
            alert,
            op,
            by,
            note,
            reply,
        })
        .await
    }

    /// One case as it stands (Some(None): no such case); None if the
    /// hall has stopped.
    pub async fn case(&self, reference: String) -> Option<Option<CaseView>> {
        self.ask(|reply| HallMsg::Case { reference, reply }).await
    }

    /// The 考评 of `month`, given the figures of its days before today
    /// (today's the hall counts itself); None if the hall has stopped,
    /// Some(None) for no such month.
    pub async fn appraisal(
        &self,
        month: (i32, u32),
        by: AppraisalBy,
        days: Vec<DayFigures>,
    ) -> Option<Option<Appraisal>> {
        self.ask(|reply| HallMsg::Appraisal {
            month,
            by,
            days,
            reply,
        })
        .await
    }

    /// The hall's cards still open and those closed in the last 30 days,
    /// newest first; none if the hall has stopped.
    pub async fn recent_cards(&self) -> Vec<CardView> {
        self.ask(|reply| HallMsg::Cards { reply })
            .await
            .unwrap_or_default()
    }

    /// The hall's 限时办结 view; None if the hall has stopped.
    pub async fn case_board(&self) -> Option<CaseBoard> {
        self.ask(|reply| HallMsg::CaseBoard { reply }).await
    }

    /// A case report, card action or follow-up step; None if the hall has
    /// stopped.
    pub async fn casework(&self, input: Input) -> Option<CaseAnswer> {
        self.ask(|reply| HallMsg::Casework {
            input: Box::new(input),
            reply,
        })
        .await
    }

    /// The page of today's ticket holding `token`; None for no such
    /// ticket, or if the hall has stopped.
    pub async fn ticket_page(&self, token: TicketToken, near: usize) -> Option<TicketPage> {
        self.ask(|reply| HallMsg::TicketPage { token, near, reply })
            .await
            .flatten()
    }

    /// Gives up the ticket holding `token`: its page after, or why not;
    /// None if the hall has stopped.
    pub async fn give_up(
        &self,
        token: TicketToken,
        near: usize,
    ) -> Option<Result<TicketPage, Refusal>> {
        self.ask(|reply| HallMsg::GiveUp { token, near, reply })
            .await
    }

    /// A booking or cancellation: the booking after, and whether it was
    /// one already taken; None if the hall has stopped.
    pub async fn booking(
        &self,
        input: Input,
    ) -> Option<Result<(crate::domain::Booking, bool), Refusal>> {
        self.ask(|reply| HallMsg::Booking {
            input: Box::new(input),
            reply,
        })
        .await
    }

    /// Asks the hall to publish its retained window states again.
    pub async fn republish(&self) {
        let _ = self.tx.send(HallMsg::Republish).await;
    }

    /// Asks the hall task something; None if the hall has stopped.
    async fn ask<T>(&self, msg: impl FnOnce(oneshot::Sender<T>) -> HallMsg) -> Option<T> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(msg(reply)).await.ok()?;
        rx.await.ok()
    }

    /// Subscribes a screen.
    pub async fn display(&self) -> Option<DisplaySub> {
        self.ask(|reply| HallMsg::Display { reply }).await
    }

    /// The hall as screens see it now.
    pub async fn snapshot(&self) -> Option<DisplaySnapshot> {
        self.ask(|reply| HallMsg::Snapshot { reply }).await
    }

    /// Subscribes a manager's dashboard.
    pub async fn dashboard(&self) -> Option<DashboardSub> {
        self.ask(|reply| HallMsg::Dashboard { reply }).await
    }

    /// Today's figures so far.
    pub async fn figures(&self) -> Option<DayFigures> {
        self.ask(|reply| HallMsg::Figures { reply }).await
    }

    /// The hall's summary.
    pub async fn summary(&self) -> Option<SummaryView> {
        self.ask(|reply| HallMsg::Summary { reply }).await
    }
}

/// Every hall this process serves.
#[derive(Clone, Default)]
pub struct Registry {
    halls: Arc<DashMap<HallId, HallHandle>>,
    order: Arc<std::sync::RwLock<Vec<HallId>>>,
    pages: PageIndex,
}

/// Which hall holds today's ticket of each phone-page token: filled by the
/// hall tasks as they issue tickets (and as they start, from the tickets
/// they replayed), emptied of a hall's tokens as its day ends.
pub type PageIndex = Arc<DashMap<TicketToken, HallId>>;

impl Registry {
    /// The index of phone-page tokens the hall tasks keep.
    pub fn pages(&self) -> PageIndex {
        self.pages.clone()
    }

    /// The hall of today's ticket holding `token`.
    pub fn hall_of_page(&self, token: &TicketToken) -> Option<HallHandle> {
        let hall = self.pages.get(token).map(|h| h.value().clone())?;
        self.get(&hall)
    }

    pub fn insert(&self, handle: HallHandle) {
        let id = handle.spec.id.clone();
        self.halls.insert(id.clone(), handle);
        if let Ok(mut o) = self.order.write() {
            o.push(id);
        }
    }

    /// Takes a hall out: its task stops once the last handle is let go.
    /// Its phone-page tokens go with it (the instance that runs it next
    /// indexes them again).
    /// Returns its handle, if it was there.
    pub fn remove(&self, id: &HallId) -> Option<HallHandle> {
        let handle = self.halls.remove(id).map(|(_, h)| h);
        if let Ok(mut o) = self.order.write() {
            o.retain(|h| h != id);
        }
        self.pages.retain(|_, hall| hall != id);
        handle
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
    pub journal: Journal,
    /// What the hall tasks publish on the broker; None: no broker.
    pub publisher: Option<Arc<dyn Publisher>>,
    /// The devices' wire format for replies.
    pub encode_reply: EncodeReply,
    /// Where tickets' phone pages are: `[phone] public_url` and `/t/`.
    pub page_base: String,
    pub clock: Arc<dyn Clock>,
    pub metrics: Arc<Metrics>,
    pub alerts: AlertFrames,
    pub summaries: SummaryFrames,
    /// Which alerts and cards go to which notification channels.
    pub notify: Arc<crate::notify::Plan>,
    /// The hall of each phone-page token ([`Registry::pages`]).
    pub pages: PageIndex,
    /// How often a hall with new events keeps a checkpoint (`[server]
    /// checkpoint_every_s`); None: never.
    pub checkpoint_every: Option<chrono::Duration>,
}

/// Starts the task that owns `hall`. `pending` are effects that arose while
/// the hall was rebuilt (alerts that came due while the server was down):
/// passed on once the task runs.
pub fn spawn_hall(
    hall: Hall,
    pending: Vec<Effect>,
    ctx: Arc<EngineContext>,
) -> (HallHandle, JoinHandle<()>) {
    let replayed = crate::replay::ReplayedHall {
        hall,
        pending,
        unsaved: 0,
    };
    spawn_hall_on(replayed, crate::audit::Chain::default(), ctx)
}

/// [`spawn_hall`] of a replayed hall, going on with its checkpoint and its
/// tamper-evident chain as the store holds them.
pub fn spawn_hall_on(
    replayed: crate::replay::ReplayedHall,
    chain: crate::audit::Chain,
    ctx: Arc<EngineContext>,
) -> (HallHandle, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(INBOX);
    let crate::replay::ReplayedHall {
        hall,
        pending,
        unsaved,
    } = replayed;
    let spec = Arc::new(hall.spec().clone());
    let join = tokio::spawn(task::HallTask::new(hall, chain, ctx, unsaved).run(rx, pending));
    (HallHandle { spec, tx }, join)
}
