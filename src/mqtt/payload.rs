//! Payloads: device JSON in, validated domain inputs out; domain replies in,
//! reply JSON out. Nothing here decides anything about a hall.

use chrono::SecondsFormat;
use chrono_tz::Tz;
use serde_json::Value;
use strum::VariantNames;

use super::topic::Inbound;
use super::wire;
use crate::domain::{
    AlertView, CallView, CardView, CaseEvent, CaseRef, Input, MsgId, RatingInput, Reason, Reply,
    ServiceCode, StaffId, SummaryView, TicketNo, TicketRequest, WindowOp, WindowView,
};
use crate::engine::{DeviceReply, ReplyTo};

/// The contract's payload limit.
pub const MAX_PAYLOAD: usize = 4096;

/// Why a payload was refused before it reached a hall.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub reason: Reason,
    /// What exactly was wrong, for the store and the logs (English).
    pub detail: String,
    /// The message id, when it could be read.
    pub msg_id: Option<String>,
}

impl Rejection {
    fn new(reason: Reason, detail: impl Into<String>, msg_id: Option<&str>) -> Self {
        Self {
            reason,
            detail: detail.into(),
            msg_id: msg_id.map(str::to_owned),
        }
    }
}

/// Reads the `id` of a payload that may be otherwise unacceptable, so that a
/// refusal can still name the request it answers.
pub fn peek_id(payload: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(payload).ok()?;
    let id = v.get("id")?.as_str()?;
    MsgId::parse(id).ok().map(|m| m.as_str().to_owned())
}

/// Decodes a device message into a domain input.
pub fn decode(inbound: &Inbound, payload: &[u8]) -> Result<Input, Rejection> {
    decode_message(inbound, payload).map(|m| m.input)
}

/// A device message as a domain input, with the device's own time of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    pub input: Input,
    /// The device's `at`, when it is RFC 3339 with an offset: recorded with
    /// the event, never used to measure.
    pub device_at: Option<String>,
}

/// Decodes a device message: the payload's shape through its type in
/// [`super::wire`], then each field's content through the domain's own
/// parsers, so a refusal names the field and the reason the contract gives
/// for it. The fields whose content has a reason of its own (a service
/// code, a ticket number) are read first, as a device's message is checked
/// field by field in the contract's order.
pub fn decode_message(inbound: &Inbound, payload: &[u8]) -> Result<Decoded, Rejection> {
    if payload.len() > MAX_PAYLOAD {
        return Err(Rejection::new(
            Reason::TooLarge,
            format!(
                "payload has {} bytes, the limit is {MAX_PAYLOAD}",
                payload.len()
            ),
            peek_id(payload).as_deref(),
        ));
    }
    let text = std::str::from_utf8(payload)
        .map_err(|e| Rejection::new(Reason::BadJson, format!("not UTF-8: {e}"), None))?;
    let value: Value = serde_json::from_str(text)
        .map_err(|e| Rejection::new(Reason::BadJson, format!("not JSON: {e}"), None))?;
    if !value.is_object() {
        return Err(Rejection::new(Reason::BadJson, "not a JSON object", None));
    }
    let device_at = device_at(&value);
    let decoded = |input| Decoded { input, device_at };

    if let Inbound::DeviceStatus { device, .. } = inbound {
        let status: wire::DeviceStatus = shape(value, None)?;
        return Ok(decoded(Input::Presence {
            device: device.clone(),
            online: status.online,
        }));
    }

    let id = match value.get("id") {
        Some(Value::String(s)) => MsgId::parse(s)
            .map_err(|e| Rejection::new(Reason::BadRequest, format!("field `id` {e}"), None))?,
        Some(_) => {
            return Err(Rejection::new(
                Reason::BadRequest,
                "field `id` must be a string",
                None,
            ));
        }
        None => {
            return Err(Rejection::new(
                Reason::BadRequest,
                "missing field `id`",
                None,
            ));
        }
    };
    let f = Fields(id.as_str());
    f.device_time(value.get("at"))?;

    match inbound {
        Inbound::KioskRequest { kiosk, .. } => {
            let service = match value.get("service") {
                Some(Value::String(s)) => Some(f.service("service", s)?),
                _ => None,
            };
            let m: wire::KioskRequest = shape(value, Some(&id))?;
            let service = match service {
                Some(s) => s,
                None => f.service("service", &m.service)?,
            };
            let appointment = f.text("appointment", m.appointment, wire::APPOINTMENT_MAX)?;
            if appointment.as_deref() == Some("") {
                return Err(f.bad("field `appointment` must not be empty"));
            }
            let green_reason = f.text("green_reason", m.green_reason, wire::GREEN_REASON_MAX)?;
            // The words a request logged before reasons were recorded reads
            // with are no reason a kiosk may give.
            if green_reason.as_deref() == Some(crate::domain::UNRECORDED_REASON) {
                return Err(f.bad("field `green_reason` must give a reason"));
            }
            let issued_by = m
                .issued_by
                .map(|s| {
                    StaffId::parse(&s).map_err(|e| f.bad(format!("field `issued_by` {s:?} {e}")))
                })
                .transpose()?;
            Ok(decoded(Input::Ticket {
                kiosk: kiosk.clone(),
                request: TicketRequest {
                    service,
                    priority: m.priority.unwrap_or_default(),
                    appointment,
                    green_reason,
                    issued_by,
                    token: None,
                },
                id,
            }))
        }
        Inbound::WindowCommand { window, .. } => {
            match value.get("op") {
                Some(Value::String(op)) if !wire::Op::VARIANTS.contains(&op.as_str()) => {
                    return Err(Rejection::new(
                        Reason::UnknownOp,
                        format!("op {op:?} is not a window operation"),
                        Some(id.as_str()),
                    ));
                }
                Some(Value::String(_)) => {}
                Some(_) => return Err(f.bad("field `op` must be a string")),
                None => return Err(f.bad("missing field `op`")),
            }
            let m: wire::WindowCommand = shape(value, Some(&id))?;
            Ok(decoded(Input::Window {
                window: window.clone(),
                op: f.window_op(m.op)?,
                id,
            }))
        }
        Inbound::Rating { window, .. } => {
            let ticket = match value.get("ticket") {
                Some(Value::String(t)) => Some(f.ticket_no("ticket", t)?),
                _ => None,
            };
            let m: wire::RatingMessage = shape(value, Some(&id))?;
            let ticket = match ticket {
                Some(t) => Some(t),
                None => m.ticket.map(|t| f.ticket_no("ticket", &t)).transpose()?,
            };
            Ok(decoded(Input::Rating {
                window: window.clone(),
                rating: RatingInput::new(
                    ticket,
                    m.score.0,
                    f.text("comment", m.comment, wire::COMMENT_MAX)?,
                ),
                id,
            }))
        }
        Inbound::CaseEvent { source, .. } => {
            let m: wire::CaseEventMessage = shape(value, Some(&id))?;
            let reference = f
                .text("ref", Some(m.reference), wire::CASE_TEXT_MAX)?
                .map(|r| r.trim().to_owned())
                .filter(|r| !r.is_empty())
                .ok_or_else(|| f.bad("field `ref` is missing or empty"))?;
            let reason = f
                .text("reason", m.reason, wire::COMMENT_MAX)?
                .map(|r| r.trim().to_owned())
                .filter(|r| !r.is_empty());
            Ok(decoded(Input::Case {
                event: CaseEvent {
                    source: source.to_string(),
                    id: id.as_str().to_owned(),
                    reference,
                    op: m.op,
                    reason,
                },
            }))
        }
        // Status messages were decoded above: they carry no id.
        Inbound::DeviceStatus { .. } => Err(f.bad("status messages carry no id")),
    }
}

/// A payload read as its type in [`super::wire`]: a field missing or of the
/// wrong type is refused with bad_request, naming the field.
fn shape<T: serde::de::DeserializeOwned>(value: Value, id: Option<&MsgId>) -> Result<T, Rejection> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let detail = if path == "." {
            e.inner().to_string()
        } else {
            format!("field `{path}`: {}", e.inner())
        };
        Rejection::new(Reason::BadRequest, detail, id.map(MsgId::as_str))
    })
}

/// The device's own time of a message (`at`), checked as RFC 3339 with an
/// offset. Recorded with the event; the server never measures with it.
pub fn device_time(payload: &[u8]) -> Option<String> {
    device_at(&serde_json::from_slice(payload).ok()?)
}

fn device_at(value: &Value) -> Option<String> {
    let at = value.get("at")?.as_str()?;
    chrono::DateTime::parse_from_rfc3339(at).ok()?;
    Some(at.to_owned())
}

/// The content of a payload's fields, checked once its shape is known, with
/// errors that name the field and carry the message id.
struct Fields<'a>(&'a str);

impl Fields<'_> {
    fn bad(&self, detail: impl Into<String>) -> Rejection {
        Rejection::new(Reason::BadRequest, detail, Some(self.0))
    }

    /// `at`, when present, must be RFC 3339 with an offset.
    fn device_time(&self, at: Option<&Value>) -> Result<(), Rejection> {
        match at {
            None | Some(Value::Null) => Ok(()),
            Some(Value::String(at)) if chrono::DateTime::parse_from_rfc3339(at).is_ok() => Ok(()),
            Some(Value::String(at)) => Err(self.bad(format!(
                "field `at` {at:?} is not an RFC 3339 time like \"2026-11-22T09:00:01+08:00\""
            ))),
            Some(_) => Err(self.bad("field `at` must be a string")),
        }
    }

    /// Free text a person typed: kept, but bounded, and without control
    /// characters (PostgreSQL's JSON refuses NUL outright).
    fn text(
        &self,
        name: &str,
        value: Option<String>,
        max_chars: usize,
    ) -> Result<Option<String>, Rejection> {
        match value {
            Some(s) if s.chars().count() > max_chars => Err(self.bad(format!(
                "field `{name}` is longer than {max_chars} characters"
            ))),
            Some(s) if s.chars().any(|c| c.is_control() && c != '\n') => {
                Err(self.bad(format!("field `{name}` contains control characters")))
            }
            other => Ok(other),
        }
    }

    fn service(&self, name: &str, s: &str) -> Result<ServiceCode, Rejection> {
        // A well-formed but unconfigured code is the hall's to refuse
        // (unknown_service); one that cannot be a code at all is refused here
        // with the same reason, since no hall could know it.
        ServiceCode::parse(s).map_err(|e| {
            Rejection::new(
                Reason::UnknownService,
                format!("field `{name}` {s:?} {e}"),
                Some(self.0),
            )
        })
    }

    fn ticket_no(&self, name: &str, s: &str) -> Result<TicketNo, Rejection> {
        TicketNo::parse(s).map_err(|_| {
            Rejection::new(
                Reason::UnknownTicket,
                format!("field `{name}` {s:?} is not a ticket number like B023"),
                Some(self.0),
            )
        })
    }

    fn window_op(&self, op: wire::Op) -> Result<WindowOp, Rejection> {
        use wire::Op;
        Ok(match op {
            Op::Login { staff, staff_name } => WindowOp::Login {
                staff: StaffId::parse(&staff)
                    .map_err(|e| self.bad(format!("field `staff` {staff:?} {e}")))?,
                staff_name: self.text("staff_name", staff_name, wire::STAFF_NAME_MAX)?,
            },
            Op::Logout => WindowOp::Logout,
            Op::Pause { reason } => WindowOp::Pause { reason },
            Op::Resume => WindowOp::Resume,
            Op::CallNext => WindowOp::CallNext,
            Op::Call { ticket } => WindowOp::Call {
                ticket: self.ticket_no("ticket", &ticket)?,
            },
            Op::Recall => WindowOp::Recall,
            Op::Start => WindowOp::Start,
            Op::NoShow => WindowOp::NoShow,
            Op::Finish {
                outcome,
                case,
                items,
            } => WindowOp::Finish {
                outcome,
                case: case.map(|c| self.case(c)).transpose()?,
                items: items.map_or(1, |n| n.0),
            },
            Op::Transfer { to_service } => WindowOp::Transfer {
                to_service: self.service("to_service", &to_service)?,
            },
        })
    }

    fn case(&self, c: wire::Case) -> Result<CaseRef, Rejection> {
        let text = |k: &str, v: Option<String>| {
            match v {
            Some(s)
                if s.chars().count() > wire::CASE_TEXT_MAX || s.chars().any(char::is_control) =>
            {
                Err(self.bad(format!(
                    "field `case.{k}` must be a string of at most {} characters without control characters",
                    wire::CASE_TEXT_MAX
                )))
            }
            other => Ok(other),
        }
        };
        let reference = text("ref", Some(c.reference))?
            .filter(|r| !r.is_empty())
            .ok_or_else(|| self.bad("field `case.ref` is missing or empty"))?;
        Ok(CaseRef {
            reference,
            item: text("item", c.item)?,
            promised_days: c.promised_days,
        })
    }
}

/// The reply for a device as its type in [`super::wire`], echoing its
/// message id under the key the contract gives its kind of topic.
pub fn reply_json(to: &ReplyTo, msg_id: Option<&str>, reply: &Reply, tz: Tz) -> Value {
    reply_json_with(to, msg_id, reply, tz, None)
}

/// [`reply_json`], a ticket's phone page under `page_base` (the public
/// URL's `/t/`).
pub fn reply_json_with(
    to: &ReplyTo,
    msg_id: Option<&str>,
    reply: &Reply,
    tz: Tz,
    page_base: Option<&str>,
) -> Value {
    let id = msg_id.map(str::to_owned);
    let refused = |reason: Reason, message: &str| wire::Refused {
        ok: wire::No,
        error: reason,
        message: message.to_owned(),
    };
    // A device is answered with its own kind of success or a refusal.
    // Supervisors' actions are answered on their own channel and never
    // reach a device; any other pairing is a bug, answered as bad_request.
    let value = match (to, reply) {
        (_, Reply::Refused(r)) => refusal(to, id, refused(r.reason, &r.message)),
        (_, Reply::CaseRefused(r)) => refusal(to, id, refused(r.reason(), r.message())),
        (ReplyTo::Backoffice(_), Reply::CaseTaken { subject, duplicate }) => {
            serde_json::to_value(wire::CaseReply {
                event: id,
                answer: wire::Answer::Done(wire::CaseDone {
                    ok: wire::Yes,
                    reference: subject.clone(),
                    duplicate: *duplicate,
                }),
            })
        }
        (
            ReplyTo::Kiosk(_),
            Reply::Ticket {
                ticket,
                service,
                service_name,
                waiting_ahead,
                estimated_wait_s,
                issued_at,
                token,
                priority,
                appointment_note,
            },
        ) => serde_json::to_value(wire::KioskReply {
            request: id,
            answer: wire::Answer::Done(wire::Issued {
                ok: wire::Yes,
                ticket: ticket.clone(),
                service: service.clone(),
                service_name: service_name.clone(),
                waiting_ahead: *waiting_ahead,
                estimated_wait_s: *estimated_wait_s,
                issued_at: issued_at
                    .with_timezone(&tz)
                    .to_rfc3339_opts(SecondsFormat::Millis, false),
                url: token
                    .as_ref()
                    .zip(page_base)
                    .map(|(t, base)| format!("{base}{t}")),
                token: token.clone(),
                priority: *priority,
                appointment_note: appointment_note.clone(),
            }),
        }),
        (ReplyTo::Window(_), Reply::Window { ticket }) => serde_json::to_value(wire::WindowReply {
            command: id,
            answer: wire::Answer::Done(wire::Done {
                ok: wire::Yes,
                ticket: ticket.clone(),
            }),
        }),
        (ReplyTo::Rater(_), Reply::Rating { ticket, score }) => {
            serde_json::to_value(wire::RatingReply {
                rating: id,
                answer: wire::Answer::Done(wire::Rated {
                    ok: wire::Yes,
                    ticket: ticket.clone(),
                    score: *score,
                }),
            })
        }
        (to, reply) => {
            // A hall answers a device only with its own kind of reply.
            debug_assert!(false, "{reply:?} is no reply for {to:?}");
            tracing::warn!(
                ?reply,
                ?to,
                "A reply of the wrong kind for its device; refusing instead."
            );
            refusal(
                to,
                id,
                refused(Reason::BadRequest, Reason::BadRequest.message()),
            )
        }
    };
    value.unwrap_or_default()
}

/// A refusal on the reply topic of `to`.
fn refusal(
    to: &ReplyTo,
    id: Option<String>,
    refused: wire::Refused,
) -> Result<Value, serde_json::Error> {
    match to {
        ReplyTo::Kiosk(_) => serde_json::to_value(wire::KioskReply {
            request: id,
            answer: wire::Answer::Refused(refused),
        }),
        ReplyTo::Window(_) => serde_json::to_value(wire::WindowReply {
            command: id,
            answer: wire::Answer::Refused(refused),
        }),
        ReplyTo::Rater(_) => serde_json::to_value(wire::RatingReply {
            rating: id,
            answer: wire::Answer::Refused(refused),
        }),
        ReplyTo::Backoffice(_) => serde_json::to_value(wire::CaseReply {
            event: id,
            answer: wire::Answer::Refused(refused),
        }),
    }
}

/// A reply as the device reads it: the engine's [`crate::engine::EncodeReply`].
pub fn reply_text(r: &DeviceReply<'_>) -> String {
    reply_json_with(r.to, r.msg_id, r.reply, r.tz, Some(r.page_base)).to_string()
}

/// The reply JSON for a message refused before it reached a hall.
pub fn rejection_json(to: &ReplyTo, rejection: &Rejection, message: &str) -> Value {
    let refusal = crate::domain::Refusal::with(rejection.reason, message);
    reply_json(
        to,
        rejection.msg_id.as_deref(),
        &Reply::Refused(refusal),
        chrono_tz::UTC,
    )
}

fn bytes<T: serde::Serialize>(payload: &T) -> Vec<u8> {
    serde_json::to_vec(payload).unwrap_or_default()
}

/// The retained `audit/head` payload.
pub fn audit_head(hall: &crate::domain::HallId, r: &crate::audit::Record) -> Vec<u8> {
    bytes(&wire::AuditHead {
        hall: hall.as_str(),
        seq: r.seq,
        hash: &r.hash,
    })
}

/// The `card` payload.
pub fn card(card: &CardView) -> Vec<u8> {
    bytes(&wire::CardMessage {
        kind: wire::MessageType::Card,
        card,
    })
}

/// The retained `window/{id}/state` payload.
pub fn window_state(v: &WindowView) -> Vec<u8> {
    let d = &v.display;
    bytes(&wire::WindowState {
        window: &d.id,
        status: d.status,
        staff: d.staff.as_ref(),
        staff_name: d.staff_name.as_deref(),
        ticket: d.ticket.as_ref(),
        since: d.since,
        served_today: v.served_today,
        cases_today: v.cases_today,
        benchmark: v.benchmark,
    })
}

/// The `call` payload: the display channel's `call` message.
pub fn call(call: &CallView) -> Vec<u8> {
    bytes(&wire::CallMessage {
        kind: wire::MessageType::Call,
        call,
    })
}

/// The retained `summary` payload.
pub fn summary(s: &SummaryView) -> Vec<u8> {
    bytes(&wire::Summary(s))
}

/// The `alert` payload: the alert channel's `alert` message.
pub fn alert(alert: &AlertView) -> Vec<u8> {
    bytes(&wire::AlertMessage {
        kind: wire::MessageType::Alert,
        alert,
    })
}

/// Raw bytes as the rejection log keeps them: at most the contract's limit.
pub fn cut(payload: &[u8]) -> Vec<u8> {
    payload[..payload.len().min(MAX_PAYLOAD)].to_vec()
}

#[cfg(test)]
mod tests;
