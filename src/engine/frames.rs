//! What a hall task tells the screens, typed. A message is put into text
//! once, by the first session that sends it (the HTTP adapter owns the
//! format), however many screens show it; a hall task with no screen
//! connected never encodes anything.

use std::sync::{Arc, OnceLock};

use bytestring::ByteString;
use tokio::sync::broadcast;

use crate::domain::{
    AlertView, CallView, CardView, DashQueue, DashWindow, DashboardSnapshot, DisplaySnapshot,
    DisplayWindow, HallId, KpiView, QueueView, StaffingAdvice, SummaryView,
};

/// A message shared by every session that shows it, with its text once a
/// session has needed it.
#[derive(Debug)]
pub struct Frame<T> {
    pub msg: T,
    text: OnceLock<ByteString>,
}

impl<T> Frame<T> {
    pub fn new(msg: T) -> Arc<Self> {
        Arc::new(Self {
            msg,
            text: OnceLock::new(),
        })
    }

    /// Its text, encoded by `encode` the first time it is asked for.
    pub fn text(&self, encode: impl FnOnce(&T) -> ByteString) -> ByteString {
        self.text.get_or_init(|| encode(&self.msg)).clone()
    }
}

/// A message of the public display channel.
#[derive(Debug, Clone, PartialEq)]
pub enum ScreenMsg {
    /// The whole hall again (a new day began).
    Snapshot(Box<DisplaySnapshot>),
    Call(CallView),
    Window(DisplayWindow),
    Queue(QueueView),
}

/// A display message with the window it concerns (None: the whole hall),
/// so a window screen or a zone screen can skip the rest.
#[derive(Debug)]
pub struct ScreenFrame {
    pub window: Option<usize>,
    pub frame: Arc<Frame<ScreenMsg>>,
}

impl Clone for ScreenFrame {
    fn clone(&self) -> Self {
        Self {
            window: self.window,
            frame: self.frame.clone(),
        }
    }
}

/// A message of a manager's dashboard.
#[derive(Debug, Clone, PartialEq)]
pub enum DashMsg {
    Snapshot(Box<DashboardSnapshot>),
    Call(CallView),
    Load(DashWindow),
    Queue(DashQueue),
    Staffing(StaffingAdvice),
    Kpi(Box<KpiView>),
    Alert(AlertView),
}

/// A message about one hall for screens that show many (an alert for the
/// supervisors' consoles, a summary for region screens).
#[derive(Debug)]
pub struct HallFrame<T> {
    pub hall: HallId,
    pub frame: Arc<Frame<T>>,
}

impl<T> Clone for HallFrame<T> {
    fn clone(&self) -> Self {
        Self {
            hall: self.hall.clone(),
            frame: self.frame.clone(),
        }
    }
}

/// What a supervisors' console hears of a hall as it happens.
#[derive(Debug, Clone, PartialEq)]
pub enum ConsoleMsg {
    Alert(Box<AlertView>),
    /// A 限时办结 card issued or changed.
    Card(Box<CardView>),
    /// A notification of an alert or card was sent, retried, failed or
    /// merged into a digest.
    Delivery(Box<crate::store::Delivery>),
}

/// Alerts and cards of every hall, for the supervisors' consoles.
pub type AlertFrames = broadcast::Sender<HallFrame<ConsoleMsg>>;
/// Summaries of every hall, for region screens.
pub type SummaryFrames = broadcast::Sender<HallFrame<SummaryView>>;

/// A display subscription: the snapshot and the messages that follow it,
/// with nothing lost or repeated in between.
pub struct DisplaySub {
    pub snapshot: DisplaySnapshot,
    pub frames: broadcast::Receiver<ScreenFrame>,
}

/// A dashboard subscription: the snapshot and the messages after it.
pub struct DashboardSub {
    pub snapshot: DashboardSnapshot,
    pub frames: broadcast::Receiver<Arc<Frame<DashMsg>>>,
}
