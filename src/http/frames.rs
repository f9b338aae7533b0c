//! The WebSocket channels' messages: JSON objects with a `type`, as screens
//! read them. Hall tasks hand over typed messages; they are put into text
//! here, once per message however many screens show it.
//!
//! Each channel's messages are one type ([`DisplayMessage`],
//! [`DashboardMessage`], [`RegionMessage`], [`AlertsMessage`]), so a
//! channel can only send what its schema in the API document says.

use bytestring::ByteString;
use chrono::{DateTime, FixedOffset};
use serde::Serialize;
use serde_json::Value;
use tracing::warn;
use utoipa::ToSchema;

use crate::domain::{
    AlertOp, AlertRefusal, AlertView, CallView, CardView, DashQueue, DashWindow, DashboardSnapshot,
    DisplaySnapshot, DisplayWindow, HallId, KpiView, QueueView, ServiceCode, StaffId,
    StaffingAdvice, SummaryView, TicketNo, WindowId, WindowStatus,
};
use crate::engine::{ConsoleMsg, DashMsg, ScreenMsg};

/// The keep-alive every channel sends between WebSocket pings; what
/// [`PingMessage`] serialises to.
pub const PING: &str = r#"{"type":"ping"}"#;

/// A message's `type`: a unit type per value, serialised as its text and
/// described as that constant, so a message struct carries its own tag.
macro_rules! kinds {
    ($($kind:ident = $text:literal,)+) => {
        pub mod kind {
            $(
                #[derive(Debug, Clone, Copy, Default)]
                pub struct $kind;

                impl serde::Serialize for $kind {
                    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                        s.serialize_str($text)
                    }
                }

                impl utoipa::PartialSchema for $kind {
                    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                        super::super::openapi::fixed($text).into()
                    }
                }

                impl utoipa::ToSchema for $kind {}
            )+
        }
    };
}

kinds! {
    Snapshot = "snapshot",
    Call = "call",
    Window = "window",
    Queue = "queue",
    Load = "load",
    Staffing = "staffing",
    Kpi = "kpi",
    Alert = "alert",
    Card = "card",
    Delivery = "delivery",
    Summary = "summary",
    Error = "error",
    Ping = "ping",
}

/// A message that is a view with its `type` in front.
macro_rules! typed {
    ($(#[doc = $doc:literal])* $name:ident: $kind:ident, $field:ident: $view:ty) => {
        $(#[doc = $doc])*
        #[derive(Debug, Serialize, ToSchema)]
        pub struct $name<'a> {
            #[serde(rename = "type")]
            #[schema(inline)]
            kind: kind::$kind,
            #[serde(flatten)]
            $field: &'a $view,
        }

        impl<'a> $name<'a> {
            pub fn new($field: &'a $view) -> Self {
                Self {
                    kind: kind::$kind,
                    $field,
                }
            }
        }
    };
}

typed!(
    /// A ticket was called (or recalled) to a window.
    CallMessage: Call, call: CallView
);
typed!(
    /// A window tile of the dashboard changed.
    LoadMessage: Load, window: DashWindow
);
typed!(
    /// A service's queue on the dashboard changed.
    DashQueueMessage: Queue, queue: DashQueue
);
typed!(
    /// The staffing advice changed (checked every second).
    StaffingMessage: Staffing, advice: StaffingAdvice
);
typed!(
    /// The hall's key figures changed (checked every second).
    KpiMessage: Kpi, kpi: KpiView
);
typed!(
    /// An alert opened or changed: the whole alert, so one seen twice does
    /// no harm.
    AlertMessage: Alert, alert: AlertView
);
typed!(
    /// A 限时办结 card was issued or changed (explained, upheld, withdrawn on
    /// appeal, lapsed): the whole card.
    CardMessage: Card, card: CardView
);
typed!(
    /// A notification of an alert or card on a channel (DingTalk, WeCom,
    /// webhook, SMS) was sent, is retried, failed or was merged into a
    /// digest: the console shows it beside the alert.
    DeliveryMessage: Delivery, delivery: crate::store::Delivery
);
typed!(
    /// A hall's summary changed (at most once a second per hall).
    SummaryMessage: Summary, summary: SummaryView
);
typed!(
    /// The body of `GET /api/halls/{hall}/snapshot`: the display snapshot
    /// with its `type` (unlike the display channel's snapshot, without
    /// `clock_rate`).
    SnapshotResponse: Snapshot, snapshot: DisplaySnapshot
);

/// Sent on every channel every 15 s (besides a WebSocket ping), so page
/// code can notice a dead link. A client silent for 45 s (no message, ping
/// or pong) is disconnected.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct PingMessage {
    #[serde(rename = "type")]
    #[schema(inline)]
    kind: kind::Ping,
}

/// The first message of `/ws/display/{hall}`, enough to draw the whole
/// screen; sent again when a new day starts or when the client fell behind
/// (instead of a backlog).
#[derive(Debug, Serialize, ToSchema)]
pub struct DisplaySnapshotMessage<'a> {
    #[serde(rename = "type")]
    #[schema(inline)]
    kind: kind::Snapshot,
    #[serde(flatten)]
    snapshot: &'a DisplaySnapshot,
    /// How fast the server's clock runs against real time (1 except in the
    /// demo), so a page can count times on by itself between messages.
    #[schema(exclusive_minimum = 0)]
    clock_rate: f64,
}

/// One window's new status and ticket.
#[derive(Debug, Serialize, ToSchema)]
pub struct WindowMessage<'a> {
    #[serde(rename = "type")]
    #[schema(inline)]
    kind: kind::Window,
    window: &'a WindowId,
    status: WindowStatus,
    /// The current ticket, if any.
    ticket: &'a Option<TicketNo>,
    /// The logged-in staff member's number (工号).
    staff: &'a Option<StaffId>,
    /// The logged-in staff member's display name, when the terminal gave one.
    staff_name: &'a Option<String>,
    /// When the window entered this status.
    since: DateTime<FixedOffset>,
}

impl<'a> WindowMessage<'a> {
    fn new(w: &'a DisplayWindow) -> Self {
        Self {
            kind: kind::Window,
            window: &w.id,
            status: w.status,
            ticket: &w.ticket,
            staff: &w.staff,
            staff_name: &w.staff_name,
            since: w.since,
        }
    }
}

/// One service's new waiting count.
#[derive(Debug, Serialize, ToSchema)]
pub struct QueueCountMessage<'a> {
    #[serde(rename = "type")]
    #[schema(inline)]
    kind: kind::Queue,
    service: &'a ServiceCode,
    /// Tickets waiting now.
    waiting: usize,
    /// Seconds a ticket taken now would likely wait.
    estimated_wait_s: u32,
}

/// The first message of `/ws/dashboard/{hall}`: everything on the display
/// channel plus window load and figures, queue figures, staffing advice,
/// KPIs and active alerts. Sent again when a new day starts or when the
/// client fell behind.
#[derive(Debug, Serialize, ToSchema)]
pub struct DashboardSnapshotMessage<'a> {
    #[serde(rename = "type")]
    #[schema(inline)]
    kind: kind::Snapshot,
    #[serde(flatten)]
    snapshot: &'a DashboardSnapshot,
    /// How fast the server's clock runs against real time (1 except in the
    /// demo), so a page can count times on by itself between messages.
    #[schema(exclusive_minimum = 0)]
    clock_rate: f64,
}

/// The first message of `/ws/region`; sent again when the client fell behind.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegionSnapshotMessage<'a> {
    #[serde(rename = "type")]
    #[schema(inline)]
    kind: kind::Snapshot,
    /// The summary of every hall in the token's scope, in configuration order.
    halls: &'a [SummaryView],
    /// How fast the server's clock runs against real time (1 except in the
    /// demo), so a page can count times on by itself between messages.
    #[schema(exclusive_minimum = 0)]
    clock_rate: f64,
}

/// A hall of the supervisors' console.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsoleHall<'a> {
    id: &'a HallId,
    /// The hall's display name.
    name: &'a str,
}

impl<'a> ConsoleHall<'a> {
    pub fn new(id: &'a HallId, name: &'a str) -> Self {
        Self { id, name }
    }
}

/// The first message of `/ws/alerts`; sent again when the client fell behind.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertsSnapshotMessage<'a> {
    #[serde(rename = "type")]
    #[schema(inline)]
    kind: kind::Snapshot,
    /// Now, at the offset of the first hall in scope.
    at: DateTime<FixedOffset>,
    /// The halls in scope (narrowed by `hall=`), in configuration order.
    halls: &'a [ConsoleHall<'a>],
    /// Alerts open or acknowledged, most severe first, then oldest first;
    /// then those resolved on the hall's current day, newest first. As many
    /// as the snapshot's size allows: `alerts_omitted` says how many more
    /// there are (the oldest resolved first), which the alert list of the
    /// API gives.
    alerts: &'a [AlertView],
    /// Alerts in scope left out of `alerts` to keep the snapshot under its
    /// size limit.
    alerts_omitted: usize,
    /// 限时办结 cards of the halls in scope: every card still open, and
    /// those closed in the last 30 days, newest first (at most 200).
    cards: &'a [CardView],
    /// How fast the server's clock runs against real time (1 except in the
    /// demo), so a page can count times on by itself between messages.
    #[schema(exclusive_minimum = 0)]
    clock_rate: f64,
}

/// Why the server refused a console's request: `bad_json`, the message is
/// not JSON; `unknown_op`, `op` is neither `ack` nor `resolve`;
/// `bad_request`, `alert` is not a string or the note is over 500
/// characters; `unavailable`, the hall is restarting (try again); the
/// others as `POST /api/alerts/{id}/{op}` answers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConsoleError {
    BadJson,
    UnknownOp,
    BadRequest,
    UnknownAlert,
    AlreadyResolved,
    AlreadyAcknowledged,
    NoteRequired,
    NoteTooLong,
    Unavailable,
}

impl From<AlertRefusal> for ConsoleError {
    fn from(r: AlertRefusal) -> Self {
        match r {
            AlertRefusal::UnknownAlert => ConsoleError::UnknownAlert,
            AlertRefusal::AlreadyResolved => ConsoleError::AlreadyResolved,
            AlertRefusal::AlreadyAcknowledged => ConsoleError::AlreadyAcknowledged,
            AlertRefusal::NoteRequired => ConsoleError::NoteRequired,
            AlertRefusal::NoteTooLong => ConsoleError::NoteTooLong,
        }
    }
}

/// The answer to an `AlertOpRequest` the server refused. An alert of a hall
/// outside the token's scope (or the `hall=` filter) is `unknown_alert`.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertErrorMessage<'a> {
    #[serde(rename = "type")]
    #[schema(inline)]
    kind: kind::Error,
    /// The `alert` of the refused request as it was sent (any JSON value),
    /// or null.
    alert: &'a Value,
    error: ConsoleError,
    /// A Chinese explanation a console can show as it is.
    message: &'a str,
}

/// Client to server on `/ws/alerts`: acknowledge or resolve an alert.
/// Answered with the updated alert as an `alert` message (which every
/// console in scope also gets) or an `error` message.
// The console's handler reads a request field by field rather than through
// this type, so that each mistake gets its own error code: the type is its
// schema only.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct AlertOpRequest {
    op: AlertOp,
    /// The alert's id.
    alert: String,
    /// Optional, at most 500 characters; required to resolve a `bad_rating`
    /// alert. A value that is not a string is ignored.
    note: Option<String>,
}

/// A message of `/ws/display/{hall}`. A screen opened with `window=` or
/// `zone=` gets the `call` and `window` messages of its windows only;
/// snapshots, queues and pings reach every screen.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
#[schema(discriminator(property_name = "type", mapping(
    ("snapshot" = "#/components/schemas/DisplaySnapshotMessage"),
    ("call" = "#/components/schemas/CallMessage"),
    ("window" = "#/components/schemas/WindowMessage"),
    ("queue" = "#/components/schemas/QueueCountMessage"),
    ("ping" = "#/components/schemas/PingMessage")
)))]
pub enum DisplayMessage<'a> {
    Snapshot(DisplaySnapshotMessage<'a>),
    Call(CallMessage<'a>),
    Window(WindowMessage<'a>),
    Queue(QueueCountMessage<'a>),
    // Sent by the sessions' keep-alive as the prebuilt text `PING`, which
    // a test holds equal to this variant's.
    #[allow(dead_code)]
    Ping(PingMessage),
}

/// A message of `/ws/dashboard/{hall}`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
#[schema(discriminator(property_name = "type", mapping(
    ("snapshot" = "#/components/schemas/DashboardSnapshotMessage"),
    ("load" = "#/components/schemas/LoadMessage"),
    ("queue" = "#/components/schemas/DashQueueMessage"),
    ("staffing" = "#/components/schemas/StaffingMessage"),
    ("kpi" = "#/components/schemas/KpiMessage"),
    ("alert" = "#/components/schemas/AlertMessage"),
    ("call" = "#/components/schemas/CallMessage"),
    ("ping" = "#/components/schemas/PingMessage")
)))]
pub enum DashboardMessage<'a> {
    Snapshot(DashboardSnapshotMessage<'a>),
    Load(LoadMessage<'a>),
    Queue(DashQueueMessage<'a>),
    Staffing(StaffingMessage<'a>),
    Kpi(KpiMessage<'a>),
    Alert(AlertMessage<'a>),
    Call(CallMessage<'a>),
    // Sent by the sessions' keep-alive as the prebuilt text `PING`, which
    // a test holds equal to this variant's.
    #[allow(dead_code)]
    Ping(PingMessage),
}

/// A message of `/ws/region`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
#[schema(discriminator(property_name = "type", mapping(
    ("snapshot" = "#/components/schemas/RegionSnapshotMessage"),
    ("summary" = "#/components/schemas/SummaryMessage"),
    ("ping" = "#/components/schemas/PingMessage")
)))]
pub enum RegionMessage<'a> {
    Snapshot(RegionSnapshotMessage<'a>),
    Summary(SummaryMessage<'a>),
    // Sent by the sessions' keep-alive as the prebuilt text `PING`, which
    // a test holds equal to this variant's.
    #[allow(dead_code)]
    Ping(PingMessage),
}

/// A message of `/ws/alerts`, server to client.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
#[schema(discriminator(property_name = "type", mapping(
    ("snapshot" = "#/components/schemas/AlertsSnapshotMessage"),
    ("alert" = "#/components/schemas/AlertMessage"),
    ("card" = "#/components/schemas/CardMessage"),
    ("delivery" = "#/components/schemas/DeliveryMessage"),
    ("error" = "#/components/schemas/AlertErrorMessage"),
    ("ping" = "#/components/schemas/PingMessage")
)))]
pub enum AlertsMessage<'a> {
    Snapshot(AlertsSnapshotMessage<'a>),
    Alert(AlertMessage<'a>),
    Card(CardMessage<'a>),
    Delivery(DeliveryMessage<'a>),
    Error(AlertErrorMessage<'a>),
    // Sent by the sessions' keep-alive as the prebuilt text `PING`, which
    // a test holds equal to this variant's.
    #[allow(dead_code)]
    Ping(PingMessage),
}

/// A message's text.
pub fn encode<T: Serialize>(message: &T) -> ByteString {
    match serde_json::to_string(message) {
        Ok(s) => ByteString::from(s),
        Err(e) => {
            warn!(error = %e, "Could not serialise a frame.");
            ByteString::from_static("{}")
        }
    }
}

/// The display channel's first message.
pub fn display_snapshot(snapshot: &DisplaySnapshot, clock_rate: f64) -> ByteString {
    encode(&DisplayMessage::Snapshot(DisplaySnapshotMessage {
        kind: kind::Snapshot,
        snapshot,
        clock_rate,
    }))
}

/// A message of the public display channel.
pub fn screen(msg: &ScreenMsg, clock_rate: f64) -> ByteString {
    match msg {
        ScreenMsg::Snapshot(s) => display_snapshot(s, clock_rate),
        ScreenMsg::Call(c) => encode(&DisplayMessage::Call(CallMessage::new(c))),
        ScreenMsg::Window(w) => encode(&DisplayMessage::Window(WindowMessage::new(w))),
        ScreenMsg::Queue(q) => encode(&DisplayMessage::Queue(queue_count(q))),
    }
}

fn queue_count(q: &QueueView) -> QueueCountMessage<'_> {
    QueueCountMessage {
        kind: kind::Queue,
        service: &q.service,
        waiting: q.waiting,
        estimated_wait_s: q.estimated_wait_s,
    }
}

/// The most bytes a snapshot frame takes, whatever happened today: what a
/// screen must read before it can show anything.
pub const SNAPSHOT_MAX: usize = 256 * 1024;

/// How many of `alerts`, in their order, fit in a snapshot whose other
/// fields take `rest` bytes: all of them when the whole fits.
fn alerts_that_fit(alerts: &[AlertView], rest: usize) -> usize {
    let mut used = rest;
    for (n, a) in alerts.iter().enumerate() {
        // Its text and the comma before it.
        used += serde_json::to_vec(a).map_or(0, |v| v.len()) + 1;
        if used > SNAPSHOT_MAX {
            return n;
        }
    }
    alerts.len()
}

/// The dashboard's first message, at most [`SNAPSHOT_MAX`] bytes: the least
/// urgent alerts give way first.
pub fn dashboard_snapshot(snapshot: &DashboardSnapshot, clock_rate: f64) -> ByteString {
    let whole = |snapshot: &DashboardSnapshot| {
        encode(&DashboardMessage::Snapshot(DashboardSnapshotMessage {
            kind: kind::Snapshot,
            snapshot,
            clock_rate,
        }))
    };
    let text = whole(snapshot);
    if text.len() <= SNAPSHOT_MAX {
        return text;
    }
    let mut trimmed = DashboardSnapshot {
        alerts: Vec::new(),
        ..snapshot.clone()
    };
    let rest = whole(&trimmed).len() + 32;
    let keep = alerts_that_fit(&snapshot.alerts, rest);
    trimmed.alerts = snapshot.alerts[..keep].to_vec();
    trimmed.alerts_omitted = snapshot.alerts_omitted + snapshot.alerts.len() - keep;
    whole(&trimmed)
}

/// A message of a manager's dashboard.
pub fn dash(msg: &DashMsg, clock_rate: f64) -> ByteString {
    match msg {
        DashMsg::Snapshot(s) => dashboard_snapshot(s, clock_rate),
        DashMsg::Call(c) => encode(&DashboardMessage::Call(CallMessage::new(c))),
        DashMsg::Load(w) => encode(&DashboardMessage::Load(LoadMessage::new(w))),
        DashMsg::Queue(q) => encode(&DashboardMessage::Queue(DashQueueMessage::new(q))),
        DashMsg::Staffing(s) => encode(&DashboardMessage::Staffing(StaffingMessage::new(s))),
        DashMsg::Kpi(k) => encode(&DashboardMessage::Kpi(KpiMessage::new(k))),
        DashMsg::Alert(a) => encode(&DashboardMessage::Alert(AlertMessage::new(a))),
    }
}

/// The region channel's first message.
pub fn region_snapshot(halls: &[SummaryView], clock_rate: f64) -> ByteString {
    encode(&RegionMessage::Snapshot(RegionSnapshotMessage {
        kind: kind::Snapshot,
        halls,
        clock_rate,
    }))
}

/// A hall's summary on the region channel.
pub fn summary(s: &SummaryView) -> ByteString {
    encode(&RegionMessage::Summary(SummaryMessage::new(s)))
}

/// The console's first message.
pub fn alerts_snapshot(
    at: DateTime<FixedOffset>,
    halls: &[ConsoleHall<'_>],
    alerts: &[AlertView],
    cards: &[CardView],
    clock_rate: f64,
) -> ByteString {
    let cards = &cards[..cards.len().min(CARDS_MAX)];
    let whole = |alerts: &[AlertView], alerts_omitted: usize| {
        encode(&AlertsMessage::Snapshot(AlertsSnapshotMessage {
            kind: kind::Snapshot,
            at,
            halls,
            alerts,
            alerts_omitted,
            cards,
            clock_rate,
        }))
    };
    let text = whole(alerts, 0);
    if text.len() <= SNAPSHOT_MAX {
        return text;
    }
    let rest = whole(&[], 0).len() + 32;
    let keep = alerts_that_fit(alerts, rest);
    whole(&alerts[..keep], alerts.len() - keep)
}

/// An alert on the console.
pub fn alert(a: &AlertView) -> ByteString {
    encode(&AlertsMessage::Alert(AlertMessage::new(a)))
}

/// The most cards a console's snapshot carries.
const CARDS_MAX: usize = 200;

/// An alert or a card on the console.
pub fn console(msg: &ConsoleMsg) -> ByteString {
    match msg {
        ConsoleMsg::Alert(a) => alert(a),
        ConsoleMsg::Card(c) => encode(&AlertsMessage::Card(CardMessage::new(c))),
        ConsoleMsg::Delivery(d) => encode(&AlertsMessage::Delivery(DeliveryMessage::new(d))),
    }
}

/// A console's request refused.
pub fn alert_error(alert: &Value, error: ConsoleError, message: &str) -> ByteString {
    encode(&AlertsMessage::Error(AlertErrorMessage {
        kind: kind::Error,
        alert,
        error,
        message,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_keep_alive_is_every_channels_ping() {
        let ping = PingMessage::default;
        assert_eq!(encode(&DisplayMessage::Ping(ping())), PING);
        assert_eq!(encode(&DashboardMessage::Ping(ping())), PING);
        assert_eq!(encode(&RegionMessage::Ping(ping())), PING);
        assert_eq!(encode(&AlertsMessage::Ping(ping())), PING);
    }

    /// A hall's snapshot with `n` copies of a real alert, each with a long
    /// message, as a day of floods could leave it.
    fn crowded(n: usize) -> (DashboardSnapshot, Vec<AlertView>) {
        use crate::domain::{DeviceId, Hall, Input, test_spec};
        let t0 = chrono::DateTime::parse_from_rfc3339("2026-11-23T09:00:00+08:00")
            .unwrap()
            .to_utc();
        let mut hall = Hall::new(std::sync::Arc::new(test_spec()), t0);
        let offline = Input::Presence {
            device: DeviceId::parse("k1").unwrap(),
            online: false,
        };
        let _ = hall.apply(&offline, t0);
        let later = t0 + chrono::Duration::hours(1);
        let _ = hall.supervise(later);
        let one = hall.alert_views().pop().expect("an alert");
        let alerts: Vec<AlertView> = (0..n)
            .map(|i| AlertView {
                id: format!("{}-{i}", one.id),
                message: format!("{}{}", one.message, "等".repeat(300)),
                ..one.clone()
            })
            .collect();
        let mut snapshot = hall.dashboard_snapshot(later);
        snapshot.alerts = alerts.clone();
        (snapshot, alerts)
    }

    #[test]
    fn snapshots_stay_under_their_limit_whatever_the_day_held() {
        let (snapshot, alerts) = crowded(5000);
        let text = dashboard_snapshot(&snapshot, 1.0);
        assert!(text.len() <= SNAPSHOT_MAX, "{} bytes", text.len());
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let kept = v["alerts"].as_array().unwrap();
        assert!(kept.len() > 100, "as many as fit: {}", kept.len());
        assert_eq!(v["alerts_omitted"], 5000 - kept.len());
        assert_eq!(kept[0]["id"], alerts[0].id.as_str(), "the first kept first");

        let at = chrono::DateTime::parse_from_rfc3339("2026-11-23T10:00:00+08:00").unwrap();
        let halls = [ConsoleHall::new(&snapshot.hall.id, &snapshot.hall.name)];
        let text = alerts_snapshot(at, &halls, &alerts, &[], 1.0);
        assert!(text.len() <= SNAPSHOT_MAX, "{} bytes", text.len());
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let kept = v["alerts"].as_array().unwrap().len();
        assert_eq!(v["alerts_omitted"], 5000 - kept);

        // A day that fits is sent whole.
        let (small, _) = crowded(3);
        let v: serde_json::Value = serde_json::from_str(&dashboard_snapshot(&small, 1.0)).unwrap();
        assert_eq!(
            (v["alerts"].as_array().unwrap().len(), &v["alerts_omitted"]),
            (3, &serde_json::json!(0))
        );
    }

    #[test]
    fn console_errors_keep_the_refusals_codes() {
        for r in [
            AlertRefusal::UnknownAlert,
            AlertRefusal::AlreadyResolved,
            AlertRefusal::AlreadyAcknowledged,
            AlertRefusal::NoteRequired,
            AlertRefusal::NoteTooLong,
        ] {
            assert_eq!(
                serde_json::to_value(ConsoleError::from(r)).unwrap(),
                r.code()
            );
        }
    }
}
