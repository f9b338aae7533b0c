//! The payloads of the MQTT contract as types: what devices send (decoded
//! through these by `payload::decode`) and what the server publishes
//! (encoded from these). Their doc comments and attributes are the
//! contract's words: `hallwatch schemas` turns them into the JSON Schemas
//! of `mqtt/schemas/`, so a schema cannot drift from the code.
//!
//! Every payload is a UTF-8 JSON object of at most 4096 bytes; unknown
//! fields are ignored, so no schema forbids additional properties.

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::domain::{
    AlertView, CallView, CardView, CaseOp, Outcome, PauseReason, Priority, Reason, ServiceCode,
    StaffId, SummaryView, TicketNo, TicketToken, WindowId, WindowStatus,
};

/// A message id: 1 to 64 characters, no control characters, unique for
/// the device for at least 24 h. The server is idempotent on (hall,
/// device, id): a redelivered message changes nothing and gets the same
/// reply again.
pub fn message_id(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "description": "Message id: 1 to 64 characters, no control characters, unique for this device for at least 24 h, e.g. k1-20261122-000123. The server is idempotent on (hall, device, id): a redelivered message changes nothing and gets the same reply again.",
        "type": "string",
        "minLength": 1,
        "maxLength": 64,
        "pattern": "^[^\\u0000-\\u001F\\u007F-\\u009F]*$"
    })
}

/// The device's own clock: RFC 3339 with an offset.
pub fn device_clock(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "description": "The device's clock, RFC 3339 with offset. Recorded, never trusted for durations.",
        "type": "string",
        "format": "date-time",
        "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$"
    })
}

/// A ticket number as text, before it is checked.
fn ticket_text(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "description": "A ticket number: the service's prefix letter(s) and a daily sequence of at least three digits (B001…B999, B1000…).",
        "type": "string",
        "pattern": "^[A-Z]{1,3}[0-9]{3,7}$"
    })
}

/// A service code as text, before it is checked.
fn service_text(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "description": "A service (business category) code from the hall configuration, e.g. SB (社会保障). An unknown code is refused with unknown_service.",
        "type": "string",
        "minLength": 1
    })
}

/// The longest booking reference, in characters.
pub const APPOINTMENT_MAX: usize = 64;
/// The longest reason for a green-channel ticket, in characters.
pub const GREEN_REASON_MAX: usize = 100;
/// The longest staff display name, in characters.
pub const STAFF_NAME_MAX: usize = 32;
/// The longest rating comment, in characters.
pub const COMMENT_MAX: usize = 500;
/// The longest case reference or item name, in characters.
pub const CASE_TEXT_MAX: usize = 128;

/// Free text a person typed, at most `max` characters.
macro_rules! text {
    ($name:ident, $max:expr, $doc:expr) => {
        fn $name(_: &mut SchemaGenerator) -> Schema {
            json_schema!({"description": $doc, "type": ["string", "null"], "maxLength": $max})
        }
    };
}

text!(
    appointment_text,
    64,
    "The booking reference (预约号), at most 64 characters. Required, as a non-empty string, when priority is appointment; otherwise may be null or absent."
);
text!(
    green_reason_text,
    100,
    "Why the green-channel (绿色通道) ticket is granted, e.g. 危重病人家属, at most 100 characters. Required, as a non-blank string, when priority is green; ignored otherwise."
);
text!(
    staff_name_text,
    32,
    "Optional display name, e.g. 李敏, at most 32 characters."
);
text!(
    comment_text,
    500,
    "Optional free text from the citizen, at most 500 characters."
);

// ------------------------------------------------------------ devices → server

/// Published by a ticket kiosk (取号机) on `{prefix}/{hall}/kiosk/{kiosk}/request`,
/// QoS 1, to ask the server for a ticket. The server allocates the ticket
/// number and answers on `{prefix}/{hall}/kiosk/{kiosk}/reply`.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(
    title = "Kiosk ticket request (取号请求)",
    example = json!({"id": "k1-20261122-000123", "service": "SB", "priority": "normal", "appointment": null, "at": "2026-11-22T09:00:01+08:00"}),
    example = json!({"id": "k1-000124", "service": "GA"}),
    example = json!({"id": "k2-000001", "service": "BDC", "priority": "appointment", "appointment": "YY20261122-0031"}),
    example = json!({"id": "k1-000125", "service": "SB", "priority": "green", "green_reason": "危重病人家属", "issued_by": "D01", "at": "2026-11-22T09:02:00+08:00"}),
    // An appointment is checked in by its booking reference; a green
    // ticket carries its reason and who issued it.
    extend(
        "allOf" = [
            {
                "if": {"properties": {"priority": {"const": "appointment"}}, "required": ["priority"]},
                "then": {"required": ["appointment"], "properties": {"appointment": {"type": "string", "minLength": 1}}}
            },
            {
                "if": {"properties": {"priority": {"const": "green"}}, "required": ["priority"]},
                "then": {"required": ["green_reason", "issued_by"], "properties": {"green_reason": {"type": "string", "minLength": 1}, "issued_by": {"type": "string"}}}
            }
        ]
    )
)]
pub struct KioskRequest {
    #[schemars(schema_with = "message_id")]
    pub id: String,
    #[schemars(schema_with = "service_text")]
    pub service: String,
    /// Priority class, default normal. green (绿色通道) > appointment (预约) >
    /// elderly (老年人) = disabled (残疾人) > normal under the default queue
    /// policy. appointment requires the appointment field.
    #[serde(default)]
    pub priority: Option<Priority>,
    #[serde(default)]
    #[schemars(schema_with = "appointment_text")]
    pub appointment: Option<String>,
    #[serde(default)]
    #[schemars(schema_with = "green_reason_text")]
    pub green_reason: Option<String>,
    /// The staff id (工号) of who issued the ticket at a staffed kiosk
    /// (导办台), [A-Za-z0-9_-]{1,32}. Required when priority is green
    /// (green_reason_required otherwise); optional for other tickets.
    #[serde(default)]
    #[schemars(with = "Option<StaffId>")]
    pub issued_by: Option<String>,
    #[serde(default)]
    #[schemars(schema_with = "device_clock")]
    pub at: Option<String>,
}

/// Published by a window terminal (窗口) on `{prefix}/{hall}/window/{window}/command`,
/// QoS 1. `op` names the operation; each op carries its own fields. The
/// server answers on `{prefix}/{hall}/window/{window}/reply`.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(
    title = "Window terminal command (窗口操作)",
    example = json!({"id": "w05-000040", "op": "login", "staff": "S001", "staff_name": "李敏", "at": "2026-11-22T08:58:00+08:00"}),
    example = json!({"id": "w05-000041", "op": "pause", "reason": "break"}),
    example = json!({"id": "w05-000042", "op": "resume"}),
    example = json!({"id": "w05-000045", "op": "call_next", "at": "2026-11-22T09:03:00+08:00"}),
    example = json!({"id": "w05-000046", "op": "call", "ticket": "B020"}),
    example = json!({"id": "w05-000047", "op": "recall"}),
    example = json!({"id": "w05-000048", "op": "start"}),
    example = json!({"id": "w05-000049", "op": "no_show"}),
    example = json!({"id": "w05-000050", "op": "finish", "outcome": "completed"}),
    example = json!({"id": "w05-000051", "op": "finish", "outcome": "accepted", "case": {"ref": "BJ2026112200017", "item": "企业设立登记", "promised_days": 5}}),
    example = json!({"id": "w05-000052", "op": "transfer", "to_service": "GA"}),
    example = json!({"id": "w05-000053", "op": "logout"})
)]
pub struct WindowCommand {
    #[schemars(schema_with = "message_id")]
    pub id: String,
    #[serde(default)]
    #[schemars(schema_with = "device_clock")]
    pub at: Option<String>,
    #[serde(flatten)]
    pub op: Op,
}

/// A window operation and its own fields. Any other `op` is refused with
/// unknown_op.
#[derive(Debug, Deserialize, JsonSchema, strum::VariantNames)]
#[serde(tag = "op", rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Op {
    /// Staff takes the window.
    Login {
        /// Staff id (工号), e.g. S001: [A-Za-z0-9_-]{1,32}.
        #[schemars(with = "StaffId")]
        staff: String,
        #[serde(default)]
        #[schemars(schema_with = "staff_name_text")]
        staff_name: Option<String>,
    },
    /// Staff leaves the window (ends any pause).
    Logout,
    /// 暂停服务, for a reason.
    Pause { reason: PauseReason },
    /// Ends the pause.
    Resume,
    /// The server picks the next ticket for this window and calls it.
    CallNext,
    /// Calls a given waiting or missed ticket (an appointment holder, a
    /// returning no-show).
    Call {
        #[schemars(schema_with = "ticket_text")]
        ticket: String,
    },
    /// Announces the current ticket again.
    Recall,
    /// The citizen has arrived; service starts.
    Start,
    /// The current ticket did not come (过号); it becomes missed.
    NoShow,
    /// Service ends with an outcome; a case goes with accepted (承诺件).
    Finish {
        /// completed (即办件, done on the spot) | accepted (承诺件, goes to
        /// back-office approval) | rejected (材料不全, 一次性告知) |
        /// consulted (consultation only).
        outcome: Outcome,
        /// With accepted: the case record.
        case: Option<Case>,
        /// Matters (事项) handled under this ticket, 1 to 99; default 1. A
        /// window's `cases_today` adds them up, except for a consultation,
        /// which is no case.
        #[serde(default)]
        items: Option<Items>,
    },
    /// Hands the current ticket to another service's queue (业务流转),
    /// keeping its priority class and issue time.
    Transfer {
        #[schemars(schema_with = "service_text")]
        to_service: String,
    },
}

/// How many matters a finished ticket handled: an integer from 1 to 99.
/// JSON has one number type, so 2.0 is 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Items(pub u32);

impl<'de> Deserialize<'de> for Items {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let x = f64::deserialize(d)?;
        let max = f64::from(crate::domain::ITEMS_MAX);
        if x.fract() == 0.0 && (1.0..=max).contains(&x) {
            Ok(Items(x as u32))
        } else {
            Err(serde::de::Error::custom(format!(
                "{x} is not an integer from 1 to {}",
                crate::domain::ITEMS_MAX
            )))
        }
    }
}

impl JsonSchema for Items {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Items".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "Matters (事项) handled under this ticket; default 1.",
            "type": "integer",
            "minimum": 1,
            "maximum": crate::domain::ITEMS_MAX
        })
    }
}

/// A case accepted for back-office approval (承诺件).
#[derive(Debug, Deserialize, JsonSchema)]
pub struct Case {
    /// Case reference (办件编号), 1 to 128 characters.
    #[serde(rename = "ref")]
    #[schemars(length(min = 1, max = 128))]
    pub reference: String,
    /// The item's name (事项名称), at most 128 characters.
    #[schemars(length(max = 128))]
    pub item: Option<String>,
    /// Promised time limit in working days (承诺时限).
    pub promised_days: Option<u32>,
}

/// Published by a window's rating pad (好差评评价器) on
/// `{prefix}/{hall}/rater/{window}/rating`, QoS 1. One rating per ticket
/// (一事一评). Without `ticket` the rating belongs to the last ticket that
/// window finished. The server answers on `{prefix}/{hall}/rater/{window}/reply`.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(
    title = "Rating (好差评评价)",
    example = json!({"id": "r05-0009", "ticket": "B023", "score": 2, "comment": "等太久", "at": "2026-11-22T09:20:00+08:00"}),
    example = json!({"id": "r05-0010", "score": 5})
)]
pub struct RatingMessage {
    #[schemars(schema_with = "message_id")]
    pub id: String,
    /// The rated ticket. Optional: without it, the last ticket this window
    /// finished. A ticket not finished at this window is refused with
    /// unknown_ticket.
    #[serde(default)]
    #[schemars(schema_with = "ticket_text")]
    pub ticket: Option<String>,
    pub score: Score,
    #[serde(default)]
    #[schemars(schema_with = "comment_text")]
    pub comment: Option<String>,
    #[serde(default)]
    #[schemars(schema_with = "device_clock")]
    pub at: Option<String>,
}

/// 1 非常不满意, 2 不满意, 3 基本满意, 4 满意, 5 非常满意. 1 and 2 are bad
/// reviews (差评). JSON has one number type, so 5.0 is the score 5.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Score(pub u8);

impl<'de> Deserialize<'de> for Score {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let x = f64::deserialize(d)?;
        if x.fract() == 0.0 && (1.0..=5.0).contains(&x) {
            Ok(Score(x as u8))
        } else {
            Err(serde::de::Error::custom(format!(
                "{x} is not an integer from 1 to 5"
            )))
        }
    }
}

impl JsonSchema for Score {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Score".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "1 非常不满意, 2 不满意, 3 基本满意, 4 满意, 5 非常满意. 1 and 2 are bad reviews (差评).",
            "type": "integer",
            "minimum": 1,
            "maximum": 5
        })
    }
}

/// Published, retained, by every device on `{prefix}/{hall}/device/{device}/status`:
/// `{"online": true}` when it connects, and `{"online": false}` on the same
/// topic as its MQTT last will. `{device}` is a kiosk's id (k1), a window
/// terminal's `w{window}` (w05) or a rating pad's `r{window}` (r05), unless
/// the window's configuration names them otherwise.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(
    title = "Device presence (设备在线状态)",
    example = json!({"online": true}),
    example = json!({"online": false})
)]
pub struct DeviceStatus {
    /// true: connected; false: gone (normally published by the broker from
    /// the device's last will).
    pub online: bool,
}

/// Published by a back-office system (审批系统) on
/// `{prefix}/{hall}/case/{source}/event`, QoS 1: what became of a case a
/// window accepted (承诺件). `{source}` names the back-office system, one
/// of the hall's `backoffice` sources. `id` is unique within the source: a
/// report sent again, by MQTT or by `POST /api/halls/{hall}/cases/{ref}/events`,
/// is taken once and answered again. The server answers on
/// `{prefix}/{hall}/case/{source}/reply`.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(
    title = "Case report (办件进度报告)",
    example = json!({"id": "ywxt-000311", "ref": "SB20261123-0001", "op": "suspend", "reason": "补正：缺户口簿复印件", "at": "2026-11-24T10:02:00+08:00"}),
    example = json!({"id": "ywxt-000312", "ref": "SB20261123-0001", "op": "complete"})
)]
pub struct CaseEventMessage {
    #[schemars(schema_with = "message_id")]
    pub id: String,
    /// The case's reference (办件编号), as the window accepted it.
    #[serde(rename = "ref")]
    #[schemars(length(min = 1, max = 128))]
    pub reference: String,
    /// `suspend` (补正 or 特别程序: the clock stops; needs `reason`),
    /// `resume`, `complete` (办结), `deliver` (出件/送达, after complete) or
    /// `withdraw` (the applicant withdrew).
    pub op: CaseOp,
    /// Why; required to suspend. At most 500 characters.
    #[serde(default)]
    #[schemars(schema_with = "comment_text")]
    pub reason: Option<String>,
    #[serde(default)]
    #[schemars(schema_with = "device_clock")]
    pub at: Option<String>,
}

// ------------------------------------------------------------ server → devices

/// `true`, always: the `ok` of an answer that succeeded.
#[derive(Debug, Clone, Copy)]
pub struct Yes;

/// `false`, always: the `ok` of a refusal.
#[derive(Debug, Clone, Copy)]
pub struct No;

macro_rules! constant {
    ($t:ident, $v:expr) => {
        impl Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_bool($v)
            }
        }

        impl JsonSchema for $t {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($t).into()
            }

            fn inline_schema() -> bool {
                true
            }

            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!({"const": $v})
            }
        }
    };
}

constant!(Yes, true);
constant!(No, false);

/// A refusal: a reason code and a Chinese message a device can show as it is.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Refused {
    pub ok: No,
    pub error: Reason,
    /// Chinese text a device can show as it is, e.g. 服务类别 XX 不存在.
    #[schemars(length(min = 1))]
    pub message: String,
}

/// An answer: what succeeded, or a refusal.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum Answer<T> {
    Done(T),
    Refused(Refused),
}

/// A ticket issued.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Issued {
    pub ok: Yes,
    pub ticket: TicketNo,
    /// The service code of the ticket.
    pub service: ServiceCode,
    /// The service's display name, e.g. 社会保障.
    pub service_name: String,
    /// How many tickets are waiting ahead of this one.
    pub waiting_ahead: u32,
    /// The server's estimate of the wait, in seconds.
    pub estimated_wait_s: u32,
    /// When the server issued the ticket, on its clock (RFC 3339 with an
    /// offset and milliseconds).
    #[schemars(with = "chrono::DateTime<chrono::FixedOffset>")]
    pub issued_at: String,
    /// The ticket's phone-page token: 18 characters, unguessable, good
    /// until the hall's day ends. Absent only in a reply logged before
    /// phone pages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<TicketToken>,
    /// The ticket's phone page (`/t/{token}` under `[phone] public_url`),
    /// for the kiosk to print as a QR code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The class the ticket took: `appointment` (预约, to print on it) when
    /// the request's `appointment` checked in.
    pub priority: Priority,
    /// When the request's `appointment` did not check in, why, for the
    /// kiosk to show: the ticket is a normal one (未查到预约号 …，已按普通号取号;
    /// 预约时段 … 签到时间为 09:30-10:15 …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub appointment_note: Option<String>,
}

/// Published by the server on `{prefix}/{hall}/kiosk/{kiosk}/reply`, QoS 1,
/// not retained, in answer to a kiosk request: the ticket the server
/// allocated, or a reason code and a Chinese message the kiosk can show as
/// it is. A redelivered request (same id) gets the same reply again.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(
    title = "Kiosk reply (取号应答)",
    example = json!({"request": "k1-000123", "ok": true, "ticket": "B023", "service": "SB", "service_name": "社会保障", "waiting_ahead": 4, "estimated_wait_s": 600, "issued_at": "2026-11-22T09:00:01.532+08:00", "token": "7k2m9q4x8v1c3n5p6r", "url": "https://q.example.gov.cn/t/7k2m9q4x8v1c3n5p6r", "priority": "normal"}),
    example = json!({"request": "k1-000124", "ok": false, "error": "unknown_service", "message": "服务类别 XX 不存在"}),
    example = json!({"request": "k1-000125", "ok": false, "error": "hall_closed", "message": "大厅已下班，请在办公时间取号"})
)]
pub struct KioskReply {
    /// The id of the request this reply answers.
    pub request: Option<String>,
    #[serde(flatten)]
    pub answer: Answer<Issued>,
}

/// A window command carried out.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Done {
    pub ok: Yes,
    /// The ticket the command acted on: for call_next the ticket called,
    /// or null when no ticket was waiting; null for ops that concern no
    /// ticket (login, logout, pause, resume).
    pub ticket: Option<TicketNo>,
}

/// Published by the server on `{prefix}/{hall}/window/{window}/reply`, QoS 1,
/// not retained, in answer to a window command. call_next on an empty queue
/// is ok: true with ticket null. A redelivered command (same id) gets the
/// same reply again.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(
    title = "Window terminal reply (窗口操作应答)",
    example = json!({"command": "w05-000045", "ok": true, "ticket": "B023"}),
    example = json!({"command": "w05-000046", "ok": false, "error": "no_current_ticket", "message": "当前没有已呼叫的号码"}),
    example = json!({"command": "w05-000047", "ok": true, "ticket": null})
)]
pub struct WindowReply {
    /// The id of the command this reply answers.
    pub command: Option<String>,
    #[serde(flatten)]
    pub answer: Answer<Done>,
}

/// A rating recorded.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Rated {
    pub ok: Yes,
    /// The ticket the rating was recorded for (useful when the rating named
    /// none).
    pub ticket: TicketNo,
    /// The recorded score, 1..5.
    #[schemars(range(min = 1, max = 5))]
    pub score: u8,
}

/// Published by the server on `{prefix}/{hall}/rater/{window}/reply`, QoS 1,
/// not retained, in answer to a rating: the ticket it was recorded for, or
/// a reason code and a Chinese message the pad can show as it is. A
/// redelivered rating (same id) gets the same reply again.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(
    title = "Rating reply (评价应答)",
    example = json!({"rating": "r05-0009", "ok": true, "ticket": "B023", "score": 2}),
    example = json!({"rating": "r05-0010", "ok": false, "error": "already_rated", "message": "该号码已评价"})
)]
pub struct RatingReply {
    /// The id of the rating message this reply answers.
    pub rating: Option<String>,
    #[serde(flatten)]
    pub answer: Answer<Rated>,
}

/// Published by the server on `{prefix}/{hall}/case/{source}/reply`, QoS 1,
/// not retained, in answer to a case report. `duplicate` is true when the
/// report had been taken before (by either route). A refusal names its
/// reason: `unknown_case`, `out_of_order` (e.g. `deliver` before
/// `complete`, `resume` when not suspended), `note_required` (`suspend`
/// without a reason), `id_reused` (the id was used for another report),
/// `unknown_device` (the source is not one of the hall's).
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(
    title = "Case report reply (办件进度应答)",
    example = json!({"event": "ywxt-000311", "ok": true, "ref": "SB20261123-0001", "duplicate": false}),
    example = json!({"event": "ywxt-000313", "ok": false, "error": "out_of_order", "message": "办件当前状态不能进行该操作"})
)]
pub struct CaseReply {
    /// The id of the report this reply answers.
    pub event: Option<String>,
    #[serde(flatten)]
    pub answer: Answer<CaseDone>,
}

/// A case report taken.
#[derive(Debug, Serialize, JsonSchema)]
pub struct CaseDone {
    pub ok: Yes,
    #[serde(rename = "ref")]
    pub reference: String,
    /// Taken before: this is the same answer again.
    pub duplicate: bool,
}

// ------------------------------------------------------------ server → everyone

/// Published by the server, retained, on `{prefix}/{hall}/window/{window}/state`
/// after every change of the window: a subscriber gets the latest state at
/// once.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(
    title = "Window state (窗口状态)",
    example = json!({"window": "05", "status": "serving", "staff": "S001", "staff_name": "李敏", "ticket": "B023", "since": "2026-11-22T09:03:12+08:00", "served_today": 12, "cases_today": 14, "benchmark": 25}),
    example = json!({"window": "07", "status": "offline", "staff": null, "staff_name": null, "ticket": null, "since": "2026-11-22T00:00:00+08:00", "served_today": 0, "cases_today": 0, "benchmark": 25})
)]
pub struct WindowState<'a> {
    /// The window id from the hall configuration, e.g. 05.
    pub window: &'a WindowId,
    pub status: WindowStatus,
    /// The logged-in staff id (工号), or null when nobody is logged in.
    pub staff: Option<&'a StaffId>,
    /// The logged-in staff member's display name, or null.
    pub staff_name: Option<&'a str>,
    /// The current ticket, or null when there is none.
    pub ticket: Option<&'a TicketNo>,
    /// When the window entered this status, on the server's clock.
    pub since: chrono::DateTime<chrono::FixedOffset>,
    /// Tickets this window finished today, whatever the outcome.
    pub served_today: u32,
    /// Cases (件) those tickets handled: each finish its `items`, a
    /// consultation none.
    pub cases_today: u32,
    /// The window's daily benchmark (default 25): in cases, or in people
    /// at a window whose benchmark counts people (the guide and
    /// consultation desks by default); load = cases_today / benchmark, or
    /// served_today / benchmark there.
    #[schemars(range(min = 1))]
    pub benchmark: u32,
}

/// The `type` of a message that is also a WebSocket channel's message.
#[derive(Debug, Clone, Copy, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MessageType {
    Call,
    Alert,
    Card,
}

/// Published by the server on `{prefix}/{hall}/call`, QoS 1, not retained,
/// each time a window calls a ticket (for LED boxes, voice boxes and
/// integrations): the display channel's `call` message. Ticket numbers only,
/// no citizen data. Voice wording: 请 B023 号到 5 号窗口办理.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(
    title = "Call (叫号)",
    example = json!({"type": "call", "ticket": "B023", "window": "05", "window_name": "5号窗口", "service": "SB", "service_name": "社会保障", "at": "2026-11-22T09:03:00+08:00", "recall": false, "appointment": false})
)]
pub struct CallMessage<'a> {
    #[serde(rename = "type")]
    #[schemars(extend("const" = "call"))]
    pub kind: MessageType,
    #[serde(flatten)]
    pub call: &'a CallView,
}

/// Published by the server on `{prefix}/{hall}/alert`, QoS 1, not retained,
/// when an alert of electronic efficiency supervision opens or changes: the
/// supervisors' channel's `alert` message, for SMS gateways and platforms.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(
    title = "Alert (电子效能监察告警)",
    example = json!({"type": "alert", "id": "jl-center-20261122-093000-wait_timeout-sSB", "rule": "wait_timeout", "severity": "warning", "state": "open", "hall": "jl-center", "hall_name": "金林县政务服务中心", "window": null, "window_name": null, "ticket": "B023", "count": 3, "tickets": ["B024", "B026"], "service": "SB", "service_name": "社会保障", "message": "社会保障：3 个号等候超过 30 分钟，等候最久的 B023 已等候 34 分钟", "opened_at": "2026-11-22T09:30:00+08:00", "updated_at": "2026-11-22T09:34:10+08:00", "escalated": false, "escalated_at": null, "acked_by": null, "acked_at": null, "ack_note": null, "resolved_by": null, "resolved_at": null, "resolve_note": null, "department": "rsj", "department_name": "县人力资源和社会保障局"})
)]
pub struct AlertMessage<'a> {
    #[serde(rename = "type")]
    #[schemars(extend("const" = "alert"))]
    pub kind: MessageType,
    #[serde(flatten)]
    pub alert: &'a AlertView,
}

/// Published by the server, retained, on `{prefix}/{hall}/summary`, QoS 1,
/// at most once a second and only on change: the hall's key figures, which
/// city- and province-level dashboards aggregate.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(
    title = "Hall summary (大厅概况)",
    example = json!({"hall": "jl-center", "name": "金林县政务服务中心", "region": [{"code": "99", "name": "示例省"}, {"code": "9901", "name": "示例市"}, {"code": "990101", "name": "金林县"}], "date": "2026-11-22", "at": "2026-11-22T10:15:02+08:00", "waiting": {"SB": 7, "GA": 2}, "issued_today": 143, "served_today": 118, "cases_today": 121, "windows_open": 9, "windows_total": 12, "windows_on_duty": 10, "windows_unattended": 1, "alerts_open": 2, "alerts_by_severity": {"warning": 2}, "load": 0.52, "longest_wait_s": 1260, "avg_wait_s": 412.5, "satisfaction_rate": 0.96, "advice": ["建议开放 6号窗口（可办 社会保障、公安专项），预计缺口 14 件"], "cards_month": {"yellow": 2}})
)]
pub struct Summary<'a>(pub &'a SummaryView);

/// Published by the server on `{prefix}/{hall}/card`, QoS 1, not retained,
/// when a 限时办结 card (预警, 黄牌, 红牌) is issued or changes (explained,
/// upheld, withdrawn on appeal, lapsed): the supervisors' channel's `card`
/// message.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(
    title = "Card (限时办结预警、黄牌、红牌)",
    example = json!({"type": "card", "id": "04-888261D4-G013-yellow", "kind": "yellow", "label": "黄牌", "state": "issued", "hall": "jl-center", "hall_name": "金林县政务服务中心", "case": "04-888261D4-G013", "follow_up": null, "step": null, "service": "GA", "service_name": "公安专项", "department": "gaj", "department_name": "县公安局", "staff": "S005", "staff_name": "陈刚", "issued_at": "2026-12-08T17:30:00+08:00", "due": "2026-12-08T17:30:00+08:00", "message": "公安专项 办件 04-888261D4-G013 已超过办结时限（12月08日 17:30 到期）", "explanation": null, "closure": null})
)]
pub struct CardMessage<'a> {
    #[serde(rename = "type")]
    #[schemars(extend("const" = "card"))]
    pub kind: MessageType,
    #[serde(flatten)]
    pub card: &'a CardView,
}

/// Published by the server, retained, on `{prefix}/{hall}/audit/head`, QoS
/// 1, after each record it adds to the hall's tamper-evident chain (every
/// alert transition, card transition, case change and supervisor action):
/// the chain's last number and hash. An outside party that keeps these can
/// show a chain rewritten or cut short; `hallwatch verify-log` checks the
/// stored chain against them.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(
    title = "Audit chain head (监察记录链头)",
    example = json!({"hall": "jl-center", "seq": 1842, "hash": "9f2c4e7a1b3d5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8"})
)]
pub struct AuditHead<'a> {
    pub hall: &'a str,
    /// The number of the last record, from 1.
    #[schemars(range(min = 1))]
    pub seq: i64,
    /// Its SHA-256, hex.
    #[schemars(regex(pattern = "^[0-9a-f]{64}$"))]
    pub hash: &'a str,
}

// ------------------------------------------------------------ reason codes

/// What a reason code means for a device, and on which reply topics it is
/// seen: the contract's table of reason codes.
pub fn explain(reason: Reason) -> (&'static str, &'static str) {
    match reason {
        Reason::BadJson => (
            "the payload is not valid UTF-8 JSON, or not an object",
            "any",
        ),
        Reason::TooLarge => ("the payload is over 4096 bytes", "any"),
        Reason::BadRequest => (
            "a field is missing, mistyped or out of range (e.g. `finish` without `outcome`, `score` 6, priority `vip`, priority `appointment` without `appointment`: 预约取号需要预约号)",
            "any",
        ),
        Reason::UnknownHall => ("the topic's `{hall}` is not configured", "any"),
        Reason::UnknownDevice => (
            "the topic's kiosk or window is not in the hall configuration (取号机 k9 未登记)",
            "any",
        ),
        Reason::UnknownOp => (
            "the window command's `op` is not one of the ops above",
            "window",
        ),
        Reason::UnknownService => (
            "no such service code (kiosk `service`, `transfer` `to_service`), or a transfer to the ticket's own service (不能转到本号码当前的服务类别)",
            "kiosk, window",
        ),
        Reason::UnknownTicket => (
            "`call`: no waiting or missed ticket with that number (号码 B023 不在等候或过号状态); rating: the ticket was not finished at this window (号码 B031 未在本窗口办结，不能评价), or (without `ticket`) the window has finished nothing today",
            "window, rater",
        ),
        Reason::NotServable => (
            "`call`: the ticket's service is not one this window serves (本窗口不能办理公安业务)",
            "window",
        ),
        Reason::NotLoggedIn => (
            "`call_next`, `call`, `pause` or `logout` while nobody is logged in",
            "window",
        ),
        Reason::Paused => ("`call_next` / `call` while the window is paused", "window"),
        Reason::NotPaused => ("`resume` while the window is not paused", "window"),
        Reason::Busy => (
            "`call_next`, `call`, `login`, `pause` or `logout` while the window has a current ticket",
            "window",
        ),
        Reason::NoCurrentTicket => (
            "`recall`, `start`, `no_show` without a called ticket; `finish`, `transfer` without a called or serving ticket",
            "window",
        ),
        Reason::AlreadyRated => ("the ticket already has a rating (一事一评)", "rater"),
        Reason::HallClosed => (
            "outside office hours, in a hall configured to refuse tickets then",
            "kiosk",
        ),
        Reason::NoTicket => (
            "a rating without `ticket` later than the configured time after the window's last finish (`rating_untagged_s`, 120 s): it would land on whoever was served last (本窗口最近办结的 B031 已超过 120 秒，评价须注明号码)",
            "rater",
        ),
        Reason::GreenReasonRequired => (
            "priority `green` without a non-blank `green_reason` or without `issued_by` (绿色通道取号须注明原因和经办人工号)",
            "kiosk",
        ),
        Reason::UnknownStaff => (
            "`login`, or a green ticket's `issued_by`: the hall registers its staff (`[[halls.staff]]`) and this 工号 is not one of them (工号 S999 未登记)",
            "kiosk, window",
        ),
        Reason::KioskRate => (
            "the kiosk issues faster than the hall's `kiosk_per_minute` allows (a burst of that many, then one every 60/n seconds): a stuck button or a flood (取号过于频繁，请 3 秒后再取号)",
            "kiosk",
        ),
        Reason::DailyCap => (
            "the service has issued its `daily_cap` of walk-in tickets today (每日限号); appointments and the green channel are not capped (今日社会保障号已发完（每日 300 个），请改日再来或预约办理)",
            "kiosk",
        ),
        Reason::UnknownCase => (
            "the case report's `ref` names no case the hall's windows accepted (办件不存在)",
            "case",
        ),
        Reason::DuplicateCase => (
            "`finish` with outcome `accepted` and a `case.ref` the hall already holds (办件编号已存在)",
            "window",
        ),
        Reason::OutOfOrder => (
            "the case cannot take this report in its state: `resume` when not suspended, `deliver` before `complete`, anything after `deliver` or `withdraw` (办件当前状态不能进行该操作)",
            "case",
        ),
        Reason::BadCase => (
            "`finish` with a `case` whose `ref` is empty or whose `promised_days` is not 1 to 3650",
            "window",
        ),
        Reason::UnknownCard => ("REST only: no card with that id", "none"),
        Reason::CardOutOfOrder => (
            "REST only: the card cannot take this action in its state (a 预警 is never explained)",
            "none",
        ),
        Reason::NoteRequired => (
            "`suspend` without `reason`; over REST, a card action or follow-up step without its note (须填写说明)",
            "case",
        ),
        Reason::UnknownFollowUp => ("REST only: no follow-up with that id", "none"),
        Reason::StepOutOfOrder => (
            "REST only: the step is not the follow-up's current one",
            "none",
        ),
        Reason::IdReused => (
            "the report's `id` was already used by its source for a different report (该来源的事件编号已用于另一事件)",
            "case",
        ),
        Reason::BadSlot => (
            "REST only: a booking's slot is not one of the hall's (on the slot grid, one slot long, within office hours, not over)",
            "none",
        ),
        Reason::SlotFull => (
            "REST only: the service's slot has its `per_slot` bookings (该时段已约满)",
            "none",
        ),
        Reason::UnknownAppointment => ("REST only: no booking with that reference", "none"),
        Reason::AppointmentClosed => (
            "REST only: the booking was checked in, cancelled or missed (爽约) and cannot change",
            "none",
        ),
        Reason::IssuingStopped => (
            "a walk-in ticket after the day's cut-off, `stop_issuing_min` before closing (停止取号); appointments and the green channel still get theirs (今日 17:00 已停止取号，请明天再来或预约办理)",
            "kiosk",
        ),
    }
}

// ------------------------------------------------------------ the schemas

/// Where the schemas say they live; `$id` of `{name}.json`.
pub const SCHEMA_ID_BASE: &str = "https://hallwatch.invalid/schemas/";

/// Every payload's JSON Schema (draft 2020-12), by its file name in
/// `mqtt/schemas/`, in the contract's order.
pub fn schemas() -> Vec<(&'static str, serde_json::Value)> {
    /// `read`: what devices send, where an optional field may be left out;
    /// otherwise what the server sends, which writes every field (null
    /// when it has no value).
    fn one<T: JsonSchema>(name: &'static str, read: bool) -> (&'static str, serde_json::Value) {
        let settings = schemars::generate::SchemaSettings::draft2020_12();
        let settings = if read {
            settings.for_deserialize()
        } else {
            settings.for_serialize()
        };
        let generator = settings.into_generator();
        let mut schema = generator.into_root_schema_for::<T>();
        unwrap_lines(&mut schema);
        schema.insert("$id".into(), json!(format!("{SCHEMA_ID_BASE}{name}.json")));
        (name, schema.to_value())
    }
    vec![
        one::<KioskRequest>("kiosk-request", true),
        one::<KioskReply>("kiosk-reply", false),
        one::<WindowCommand>("window-command", true),
        one::<WindowReply>("window-reply", false),
        one::<WindowState<'static>>("window-state", false),
        one::<RatingMessage>("rating", true),
        one::<RatingReply>("rating-reply", false),
        one::<DeviceStatus>("device-status", true),
        one::<CallMessage<'static>>("call", false),
        one::<Summary<'static>>("summary", false),
        one::<AlertMessage<'static>>("alert", false),
        one::<CaseEventMessage>("case-event", true),
        one::<CaseReply>("case-reply", false),
        one::<CardMessage<'static>>("card", false),
        one::<AuditHead<'static>>("audit-head", false),
    ]
}

/// Doc comments are wrapped at 80 columns; a description reads as one line
/// per paragraph.
fn unwrap_lines(schema: &mut Schema) {
    fn walk(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, v) in m.iter_mut() {
                    match (k.as_str(), &mut *v) {
                        ("description", serde_json::Value::String(text)) => {
                            *text = text
                                .split("\n\n")
                                .map(|p| p.split('\n').map(str::trim).collect::<Vec<_>>().join(" "))
                                .collect::<Vec<_>>()
                                .join("\n\n");
                        }
                        (_, v) => walk(v),
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(walk),
            _ => {}
        }
    }
    if let Some(v) = schema.as_object_mut() {
        for v in v.values_mut() {
            walk(v);
        }
        if let Some(serde_json::Value::String(d)) = v.get_mut("description") {
            let mut one = serde_json::json!({"description": d.clone()});
            walk(&mut one);
            *d = one["description"].as_str().unwrap_or_default().to_owned();
        }
    }
}
