//! What a hall task hands the adapters, typed: records and what follows
//! their commit for the store, messages for the broker. The engine names
//! no topic and writes no payload: the MQTT adapter owns both.

use chrono_tz::Tz;

use crate::domain::{
    AlertView, CallView, CardView, DeviceId, HallId, Input, Reply, SummaryView, WindowId,
    WindowView,
};
use crate::store::StoreWriter;

/// A message's place in its connection's acknowledgement line, given by the
/// MQTT adapter when the message arrives and handed back after its commit,
/// so the broker hears of it in arrival order. Opaque to the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Receipt {
    seq: u64,
    connection: u64,
}

impl Receipt {
    /// The `seq`-th message of connection `connection`.
    pub fn new(seq: u64, connection: u64) -> Self {
        Self { seq, connection }
    }

    pub fn seq(self) -> u64 {
        self.seq
    }

    pub fn connection(self) -> u64 {
        self.connection
    }
}

/// The device a reply goes back to, by what it is in its hall.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyTo {
    Kiosk(DeviceId),
    Window(WindowId),
    Rater(WindowId),
    /// A back-office system, by the source it reports as.
    Backoffice(DeviceId),
}

impl ReplyTo {
    /// Where the answer to `input` goes; presence and supervisors' actions
    /// are answered nowhere.
    pub fn of(input: &Input) -> Option<Self> {
        match input {
            Input::Ticket { kiosk, .. } => Some(ReplyTo::Kiosk(kiosk.clone())),
            Input::Window { window, .. } => Some(ReplyTo::Window(window.clone())),
            Input::Rating { window, .. } => Some(ReplyTo::Rater(window.clone())),
            // Over MQTT a source is a device id; a report by REST is
            // answered on its request.
            Input::Case { event } => DeviceId::parse(&event.source).ok().map(ReplyTo::Backoffice),
            Input::Presence { .. }
            | Input::AlertAction { .. }
            | Input::CardAction { .. }
            | Input::FollowUpStep { .. }
            | Input::GiveUp { .. }
            | Input::Book { .. }
            | Input::CancelBooking { .. } => None,
        }
    }
}

/// An answer to a device, before it is put into the wire format.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceReply<'a> {
    pub hall: &'a HallId,
    pub to: &'a ReplyTo,
    /// The id of the message it answers, when it could be read.
    pub msg_id: Option<&'a str>,
    pub reply: &'a Reply,
    /// The hall's time zone, for the times it carries.
    pub tz: Tz,
    /// Where tickets' phone pages are: `[phone] public_url` and `/t/`.
    pub page_base: &'a str,
}

/// Puts a reply into the devices' wire format. The MQTT adapter's encoder,
/// given to the engine so a reply is encoded once, for the device and for
/// the event log, which keeps what was sent.
pub type EncodeReply = fn(&DeviceReply<'_>) -> String;

/// A reply ready to leave once its event is stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Sent {
    pub hall: HallId,
    pub to: ReplyTo,
    pub payload: String,
}

/// What follows a commit: the broker's acknowledgement of the message that
/// was stored, and the reply that depends on it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AfterCommit {
    pub receipt: Option<Receipt>,
    pub reply: Option<Sent>,
}

/// The store writer as the engine and ingest use it.
pub type Journal = StoreWriter<AfterCommit>;

/// A message for the broker, as it leaves a hall task.
#[derive(Debug, Clone, Copy)]
pub enum Outgoing<'a> {
    /// A window's state, kept by the broker for late subscribers.
    WindowState(&'a HallId, &'a WindowView),
    /// A ticket called to a window.
    Call(&'a HallId, &'a CallView),
    /// The hall's key figures, kept by the broker.
    Summary(&'a SummaryView),
    /// An alert that opened or changed.
    Alert(&'a AlertView),
    /// A 限时办结 card issued or changed.
    Card(&'a CardView),
    /// The head of the hall's tamper-evident chain, kept by the broker.
    AuditHead(&'a HallId, &'a crate::audit::Record),
}

/// Publishes what hall tasks say, without waiting: a hall never stalls on
/// the broker.
pub trait Publisher: Send + Sync + 'static {
    fn publish(&self, msg: Outgoing<'_>);
}
