//! The validated inputs the core accepts, and what it answers.
//!
//! Inputs are serialisable because the event log stores them exactly as they
//! were applied: replaying the log through [`super::Hall::apply`] rebuilds
//! the same state.

use serde::{Deserialize, Serialize};

use super::ids::{DeviceId, MsgId, ServiceCode, StaffId, TicketNo, TicketToken, WindowId};

/// A priority class. `call_next` serves the highest class first.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    Default,
    schemars::JsonSchema,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    #[default]
    Normal,
    Elderly,
    Disabled,
    Appointment,
    /// 绿色通道.
    Green,
}

impl Priority {
    /// Every [`Priority::rank`], lowest first.
    pub const RANKS: std::ops::RangeInclusive<u8> = 0..=3;

    /// Rank for the queue policy: higher is served first; elderly and
    /// disabled share a rank.
    pub fn rank(self) -> u8 {
        match self {
            Priority::Normal => 0,
            Priority::Elderly | Priority::Disabled => 1,
            Priority::Appointment => 2,
            Priority::Green => 3,
        }
    }
}

/// Why a window is paused (暂停服务).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PauseReason {
    Break,
    Meeting,
    Backoffice,
    Other,
}

/// How a service ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// 即办件: done on the spot.
    Completed,
    /// 承诺件: accepted for back-office approval.
    Accepted,
    /// 材料不全, 一次性告知.
    Rejected,
    /// Consultation only.
    Consulted,
}

/// A case accepted for back-office approval (承诺件).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseRef {
    #[serde(rename = "ref")]
    pub reference: String,
    pub item: Option<String>,
    pub promised_days: Option<u32>,
}

/// A kiosk's request for a ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketRequest {
    pub service: ServiceCode,
    pub priority: Priority,
    /// The booking reference of an appointment holder.
    pub appointment: Option<String>,
    /// Why a green-channel (绿色通道) ticket was granted: required with
    /// `Priority::Green`, kept with the ticket for audit. Always written
    /// to the event log (null when not given), so a request stored before
    /// the field existed is told apart: it reads as [`UNRECORDED_REASON`]
    /// and replays as it was taken then.
    #[serde(default = "unrecorded_reason")]
    pub green_reason: Option<String>,
    /// The staff member (工号) who issued the ticket at a staffed kiosk:
    /// required with `Priority::Green` (a request stored before the field
    /// existed replays without it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued_by: Option<StaffId>,
    /// The ticket's phone-page token, drawn by the server as the request
    /// reaches the hall (never sent by a kiosk) and logged with it, so a
    /// replay gives the ticket the same page. A request stored before
    /// phone pages has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<TicketToken>,
}

/// The reason a green-channel ticket stored before reasons were recorded
/// reads with.
pub const UNRECORDED_REASON: &str = "（启用登记前取号，未记录原因）";

fn unrecorded_reason() -> Option<String> {
    Some(UNRECORDED_REASON.to_owned())
}

/// A window terminal's command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum WindowOp {
    Login {
        staff: StaffId,
        staff_name: Option<String>,
    },
    Logout,
    Pause {
        reason: PauseReason,
    },
    Resume,
    CallNext,
    Call {
        ticket: TicketNo,
    },
    Recall,
    Start,
    NoShow,
    Finish {
        outcome: Outcome,
        case: Option<CaseRef>,
        /// Matters handled under the ticket (1 to [`ITEMS_MAX`]); a
        /// consultation counts no case whatever it says. Events stored
        /// before it existed read 1, and 1 is not written.
        #[serde(default = "one_item", skip_serializing_if = "is_one_item")]
        items: u32,
    },
    Transfer {
        to_service: ServiceCode,
    },
}

/// The most matters one ticket may carry in a `finish`.
pub const ITEMS_MAX: u32 = 99;

fn one_item() -> u32 {
    1
}

fn is_one_item(n: &u32) -> bool {
    *n == 1
}

impl Outcome {
    /// The cases (件) a finish with this outcome counts for `items`
    /// matters: a consultation is no case.
    pub fn cases(self, items: u32) -> u32 {
        match self {
            Outcome::Consulted => 0,
            _ => items,
        }
    }
}

impl WindowOp {
    pub fn name(&self) -> &'static str {
        match self {
            WindowOp::Login { .. } => "login",
            WindowOp::Logout => "logout",
            WindowOp::Pause { .. } => "pause",
            WindowOp::Resume => "resume",
            WindowOp::CallNext => "call_next",
            WindowOp::Call { .. } => "call",
            WindowOp::Recall => "recall",
            WindowOp::Start => "start",
            WindowOp::NoShow => "no_show",
            WindowOp::Finish { .. } => "finish",
            WindowOp::Transfer { .. } => "transfer",
        }
    }
}

/// A rating from a window's rating pad (好差评).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RatingInput {
    /// Without it, the last ticket the window finished.
    pub ticket: Option<TicketNo>,
    /// 1 非常不满意 … 5 非常满意.
    pub score: u8,
    pub comment: Option<String>,
    /// Whether a rating without a ticket must come shortly after the
    /// window's last finish. Always written; a rating stored before the
    /// limit existed reads false and replays as it was taken then.
    #[serde(default)]
    pub recent_only: bool,
}

impl RatingInput {
    /// A rating as a pad sends it today: without a ticket, it must come
    /// shortly after the window's last finish.
    pub fn new(ticket: Option<TicketNo>, score: u8, comment: Option<String>) -> Self {
        Self {
            ticket,
            score,
            comment,
            recent_only: true,
        }
    }
}

/// Everything a hall accepts from its devices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Input {
    Ticket {
        kiosk: DeviceId,
        id: MsgId,
        request: TicketRequest,
    },
    Window {
        window: WindowId,
        id: MsgId,
        #[serde(flatten)]
        op: WindowOp,
    },
    Rating {
        window: WindowId,
        id: MsgId,
        #[serde(flatten)]
        rating: RatingInput,
    },
    Presence {
        device: DeviceId,
        online: bool,
    },
    /// A supervisor acknowledges or resolves an alert (from the alert
    /// channel or the REST API). Logged like device messages, so a restart
    /// shows the same alerts in the same states.
    AlertAction {
        alert: String,
        op: super::alert::AlertOp,
        /// The token holder's name.
        by: String,
        note: Option<String>,
    },
    /// A back-office report of a case (REST or MQTT): taken once per
    /// source and id.
    Case {
        #[serde(flatten)]
        event: super::cases::CaseEvent,
    },
    /// A department explains a card, or a supervisor closes it.
    CardAction {
        card: String,
        op: super::cases::CardOp,
        by: String,
        note: String,
    },
    /// A step of a bad review's follow-up recorded as done.
    FollowUpStep {
        follow_up: String,
        step: super::cases::FollowStep,
        by: String,
        note: String,
    },
    /// The citizen gives a ticket up from its phone page (取消排队): it
    /// leaves the queue like a no-show and is counted apart.
    GiveUp {
        token: TicketToken,
    },
    /// The booking platform books, or moves, an appointment (预约).
    Book {
        #[serde(flatten)]
        booking: super::booking::BookingRequest,
        by: String,
    },
    /// The booking platform cancels an appointment.
    CancelBooking {
        reference: String,
        by: String,
    },
}

impl Input {
    /// The message id, which every input but presence carries.
    pub fn msg_id(&self) -> Option<&MsgId> {
        match self {
            Input::Ticket { id, .. } | Input::Window { id, .. } | Input::Rating { id, .. } => {
                Some(id)
            }
            Input::Presence { .. }
            | Input::AlertAction { .. }
            | Input::Case { .. }
            | Input::CardAction { .. }
            | Input::FollowUpStep { .. }
            | Input::GiveUp { .. }
            | Input::Book { .. }
            | Input::CancelBooking { .. } => None,
        }
    }

    /// The id a reply echoes: the message id, or a case report's id
    /// within its source.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Input::Case { event } => Some(&event.id),
            _ => self.msg_id().map(MsgId::as_str),
        }
    }

    /// A short name for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Input::Ticket { .. } => "ticket",
            Input::Window { op, .. } => op.name(),
            Input::Rating { .. } => "rating",
            Input::Presence { .. } => "presence",
            Input::AlertAction { .. } => "alert_action",
            Input::Case { .. } => "case_event",
            Input::CardAction { .. } => "card_action",
            Input::FollowUpStep { .. } => "follow_up_step",
            Input::GiveUp { .. } => "give_up",
            Input::Book { .. } => "book",
            Input::CancelBooking { .. } => "cancel_booking",
        }
    }
}

code_enum! {
/// Why a message was refused. The code is part of the wire contract.
pub enum Reason {
    BadJson,
    TooLarge,
    BadRequest,
    UnknownHall,
    UnknownDevice,
    UnknownOp,
    UnknownService,
    UnknownTicket,
    NotServable,
    NotLoggedIn,
    Paused,
    NotPaused,
    Busy,
    NoCurrentTicket,
    AlreadyRated,
    HallClosed,
    NoTicket,
    GreenReasonRequired,
    UnknownStaff,
    KioskRate,
    DailyCap,
    UnknownCase,
    DuplicateCase,
    OutOfOrder,
    BadCase,
    UnknownCard,
    CardOutOfOrder,
    NoteRequired,
    UnknownFollowUp,
    StepOutOfOrder,
    IdReused,
    IssuingStopped,
    BadSlot,
    SlotFull,
    UnknownAppointment,
    AppointmentClosed,
}
}

impl Reason {
    pub fn message(self) -> &'static str {
        match self {
            Reason::BadJson => "消息不是有效的 JSON 对象",
            Reason::TooLarge => "消息超过 4096 字节",
            Reason::BadRequest => "消息缺少字段或字段类型错误",
            Reason::UnknownHall => "服务大厅不存在",
            Reason::UnknownDevice => "设备未登记",
            Reason::UnknownOp => "不支持的操作",
            Reason::UnknownService => "服务类别不存在",
            Reason::UnknownTicket => "号码不存在或不可操作",
            Reason::NotServable => "本窗口不能办理该类业务",
            Reason::NotLoggedIn => "窗口未登录",
            Reason::Paused => "窗口已暂停服务",
            Reason::NotPaused => "窗口未暂停",
            Reason::Busy => "窗口正在办理业务",
            Reason::NoCurrentTicket => "当前没有已呼叫的号码",
            Reason::AlreadyRated => "该办件已评价",
            Reason::HallClosed => "现在不在办公时间",
            Reason::NoTicket => "评价须注明号码：本窗口最近办结的业务已超过可评价时间",
            Reason::GreenReasonRequired => "绿色通道取号须注明原因和经办人工号",
            Reason::UnknownStaff => "工号未登记",
            Reason::KioskRate => "取号过于频繁，请稍后再取号",
            Reason::DailyCap => "今日该业务号已发完",
            Reason::UnknownCase => "办件不存在",
            Reason::DuplicateCase => "办件编号已存在",
            Reason::OutOfOrder => "办件当前状态不能进行该操作",
            Reason::BadCase => "办件编号不能为空，承诺时限应为 1 到 3650 个工作日",
            Reason::UnknownCard => "牌示不存在",
            Reason::CardOutOfOrder => "牌示当前状态不能进行该操作",
            Reason::NoteRequired => "须填写说明",
            Reason::UnknownFollowUp => "差评整改记录不存在",
            Reason::StepOutOfOrder => "不是当前应办理的整改环节",
            Reason::IdReused => "该来源的事件编号已用于另一事件",
            Reason::IssuingStopped => "今日已停止取号",
            Reason::BadSlot => "预约时段无效",
            Reason::SlotFull => "该时段已约满",
            Reason::UnknownAppointment => "预约不存在",
            Reason::AppointmentClosed => "预约已签到、取消或爽约",
        }
    }
}

/// A refusal with its code and a Chinese sentence for the device's screen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    pub reason: Reason,
    pub message: String,
}

impl Refusal {
    pub fn new(reason: Reason) -> Self {
        Self {
            reason,
            message: reason.message().to_owned(),
        }
    }
    pub fn with(reason: Reason, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
        }
    }
}

/// What the hall answers to an input that carries a message id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply {
    Ticket {
        ticket: TicketNo,
        service: ServiceCode,
        service_name: String,
        waiting_ahead: u32,
        estimated_wait_s: u32,
        issued_at: chrono::DateTime<chrono::Utc>,
        /// The ticket's phone-page token, when the request carried one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token: Option<TicketToken>,
        /// The class the ticket took: `appointment` when its booking
        /// checked in.
        #[serde(default)]
        priority: Priority,
        /// A booking reference that did not check in, and why: the ticket
        /// is a normal one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        appointment_note: Option<String>,
    },
    /// A booking was taken, moved or cancelled (or had been: `duplicate`).
    Booked {
        reference: String,
        duplicate: bool,
    },
    /// A ticket given up from its phone page (or given up before).
    GaveUp {
        ticket: TicketNo,
    },
    /// A window op that succeeded; `ticket` is the ticket it acted on, if any.
    Window {
        ticket: Option<TicketNo>,
    },
    Rating {
        ticket: TicketNo,
        score: u8,
    },
    Refused(Refusal),
    /// A supervisor's action on an alert was done.
    AlertDone {
        alert: String,
    },
    /// A supervisor's action on an alert was refused.
    AlertRefused(super::alert::AlertRefusal),
    /// A case report, card action or follow-up step was taken (or had
    /// been: `duplicate`).
    CaseTaken {
        /// The case, card or follow-up it acted on.
        subject: String,
        duplicate: bool,
    },
    /// A case report, card action or follow-up step was refused.
    CaseRefused(super::cases::CaseRefusal),
}

impl Reply {
    /// The refusal this reply carries, a device's or a case report's.
    pub fn refusal(&self) -> Option<Refusal> {
        match self {
            Reply::Refused(r) => Some(r.clone()),
            Reply::CaseRefused(r) => Some(Refusal::new(r.reason())),
            _ => None,
        }
    }
}
