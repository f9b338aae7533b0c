//! Payloads: device JSON in, validated domain inputs out; domain replies in,
//! reply JSON out. Nothing here decides anything about a hall.

use chrono::SecondsFormat;
use chrono_tz::Tz;
use serde_json::{Map, Value, json};

use super::topic::Inbound;
use crate::domain::{
    AlertView, CallView, CaseRef, Input, MsgId, Outcome, PauseReason, Priority, RatingInput,
    Reason, Reply, ServiceCode, StaffId, SummaryView, TicketNo, TicketRequest, WindowOp,
    WindowView,
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
    let Value::Object(obj) = value else {
        return Err(Rejection::new(Reason::BadJson, "not a JSON object", None));
    };
    let f = Fields(&obj);

    if let Inbound::DeviceStatus { device, .. } = inbound {
        let online = f.bool("online")?;
        return Ok(Input::Presence {
            device: device.clone(),
            online,
        });
    }

    let id = match obj.get("id") {
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
    let id_text = id.as_str().to_owned();
    let f = Fields(&obj).with_id(&id_text);
    f.device_time()?;

    match inbound {
        Inbound::KioskRequest { kiosk, .. } => {
            let service = f.service("service")?;
            let priority = match f.opt_str("priority")? {
                None => Priority::Normal,
                Some(p) => f.enumerated(
                    "priority",
                    p,
                    &[
                        ("normal", Priority::Normal),
                        ("elderly", Priority::Elderly),
                        ("disabled", Priority::Disabled),
                        ("appointment", Priority::Appointment),
                        ("green", Priority::Green),
                    ],
                )?,
            };
            let appointment = f.opt_text("appointment", 64)?;
            if appointment.as_deref() == Some("") {
                return Err(f.bad("field `appointment` must not be empty"));
            }
            Ok(Input::Ticket {
                kiosk: kiosk.clone(),
                id,
                request: TicketRequest {
                    service,
                    priority,
                    appointment,
                },
            })
        }
        Inbound::WindowCommand { window, .. } => {
            let op = f.window_op()?;
            Ok(Input::Window {
                window: window.clone(),
                id,
                op,
            })
        }
        Inbound::Rating { window, .. } => {
            let ticket = match f.opt_str("ticket")? {
                None => None,
                Some(t) => Some(f.ticket_no("ticket", t)?),
            };
            let score = match obj.get("score") {
                // JSON has one number type: 5.0 is the integer 5.
                Some(Value::Number(n)) => n
                    .as_f64()
                    .filter(|s| s.fract() == 0.0 && (1.0..=5.0).contains(s))
                    .map(|s| s as u64)
                    .ok_or_else(|| f.bad("field `score` must be an integer from 1 to 5"))?,
                Some(_) => return Err(f.bad("field `score` must be an integer from 1 to 5")),
                None => return Err(f.bad("missing field `score`")),
            };
            Ok(Input::Rating {
                window: window.clone(),
                id,
                rating: RatingInput {
                    ticket,
                    score: score as u8,
                    comment: f.opt_text("comment", 500)?,
                },
            })
        }
        Inbound::DeviceStatus { .. } => Err(f.bad("status messages carry no id")),
    }
}

/// The device's own time of a message (`at`), checked as RFC 3339 with an
/// offset. Recorded with the event; the server never measures with it.
pub fn device_time(payload: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(payload).ok()?;
    let at = v.get("at")?.as_str()?;
    chrono::DateTime::parse_from_rfc3339(at).ok()?;
    Some(at.to_owned())
}

/// Typed access to the fields of a payload, with errors that name the field.
struct Fields<'a>(&'a Map<String, Value>);

struct IdFields<'a> {
    obj: &'a Map<String, Value>,
    id: &'a str,
}

impl<'a> Fields<'a> {
    fn with_id(self, id: &'a str) -> IdFields<'a> {
        IdFields { obj: self.0, id }
    }

    fn bool(&self, name: &str) -> Result<bool, Rejection> {
        match self.0.get(name) {
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(Rejection::new(
                Reason::BadRequest,
                format!("field `{name}` must be true or false"),
                None,
            )),
            None => Err(Rejection::new(
                Reason::BadRequest,
                format!("missing field `{name}`"),
                None,
            )),
        }
    }
}

impl IdFields<'_> {
    fn bad(&self, detail: impl Into<String>) -> Rejection {
        Rejection::new(Reason::BadRequest, detail, Some(self.id))
    }

    /// `at`, when present, must be RFC 3339 with an offset.
    fn device_time(&self) -> Result<(), Rejection> {
        if let Some(at) = self.opt_str("at")?
            && chrono::DateTime::parse_from_rfc3339(at).is_err()
        {
            return Err(self.bad(format!(
                "field `at` {at:?} is not an RFC 3339 time like \"2026-11-22T09:00:01+08:00\""
            )));
        }
        Ok(())
    }

    fn opt_str(&self, name: &str) -> Result<Option<&str>, Rejection> {
        match self.obj.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(self.bad(format!("field `{name}` must be a string"))),
        }
    }

    fn str(&self, name: &str) -> Result<&str, Rejection> {
        self.opt_str(name)?
            .ok_or_else(|| self.bad(format!("missing field `{name}`")))
    }

    /// Free text a person typed: kept, but bounded, and without control
    /// characters (PostgreSQL's JSON refuses NUL outright).
    fn opt_text(&self, name: &str, max_chars: usize) -> Result<Option<String>, Rejection> {
        match self.opt_str(name)? {
            None => Ok(None),
            Some(s) if s.chars().count() > max_chars => Err(self.bad(format!(
                "field `{name}` is longer than {max_chars} characters"
            ))),
            Some(s) if s.chars().any(|c| c.is_control() && c != '\n') => {
                Err(self.bad(format!("field `{name}` contains control characters")))
            }
            Some(s) => Ok(Some(s.to_owned())),
        }
    }

    fn service(&self, name: &str) -> Result<ServiceCode, Rejection> {
        let s = self.str(name)?;
        // A well-formed but unconfigured code is the hall's to refuse
        // (unknown_service); one that cannot be a code at all is refused here
        // with the same reason, since no hall could know it.
        ServiceCode::parse(s).map_err(|e| {
            Rejection::new(
                Reason::UnknownService,
                format!("field `{name}` {s:?} {e}"),
                Some(self.id),
            )
        })
    }

    fn ticket_no(&self, name: &str, s: &str) -> Result<TicketNo, Rejection> {
        TicketNo::parse(s).map_err(|_| {
            Rejection::new(
                Reason::UnknownTicket,
                format!("field `{name}` {s:?} is not a ticket number like B023"),
                Some(self.id),
            )
        })
    }

    fn enumerated<T: Copy>(
        &self,
        name: &str,
        value: &str,
        options: &[(&str, T)],
    ) -> Result<T, Rejection> {
        options
            .iter()
            .find(|(k, _)| *k == value)
            .map(|(_, v)| *v)
            .ok_or_else(|| {
                let names: Vec<&str> = options.iter().map(|(k, _)| *k).collect();
                self.bad(format!(
                    "field `{name}` is {value:?}, expected one of {}",
                    names.join(", ")
                ))
            })
    }

    fn window_op(&self) -> Result<WindowOp, Rejection> {
        let op = self.str("op")?;
        Ok(match op {
            "login" => {
                let staff = self.str("staff")?;
                WindowOp::Login {
                    staff: StaffId::parse(staff)
                        .map_err(|e| self.bad(format!("field `staff` {staff:?} {e}")))?,
                    staff_name: self.opt_text("staff_name", 32)?,
                }
            }
            "logout" => WindowOp::Logout,
            "pause" => {
                let r = self.str("reason")?;
                WindowOp::Pause {
                    reason: self.enumerated(
                        "reason",
                        r,
                        &[
                            ("break", PauseReason::Break),
                            ("meeting", PauseReason::Meeting),
                            ("backoffice", PauseReason::Backoffice),
                            ("other", PauseReason::Other),
                        ],
                    )?,
                }
            }
            "resume" => WindowOp::Resume,
            "call_next" => WindowOp::CallNext,
            "call" => {
                let t = self.str("ticket")?;
                WindowOp::Call {
                    ticket: self.ticket_no("ticket", t)?,
                }
            }
            "recall" => WindowOp::Recall,
            "start" => WindowOp::Start,
            "no_show" => WindowOp::NoShow,
            "finish" => {
                let o = self.str("outcome")?;
                let outcome = self.enumerated(
                    "outcome",
                    o,
                    &[
                        ("completed", Outcome::Completed),
                        ("accepted", Outcome::Accepted),
                        ("rejected", Outcome::Rejected),
                        ("consulted", Outcome::Consulted),
                    ],
                )?;
                WindowOp::Finish {
                    outcome,
                    case: self.case()?,
                }
            }
            "transfer" => WindowOp::Transfer {
                to_service: self.service("to_service")?,
            },
            other => {
                return Err(Rejection::new(
                    Reason::UnknownOp,
                    format!("op {other:?} is not a window operation"),
                    Some(self.id),
                ));
            }
        })
    }

    fn case(&self) -> Result<Option<CaseRef>, Rejection> {
        match self.obj.get("case") {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(c)) => {
                let text = |k: &str| {
                    match c.get(k) {
                    None | Some(Value::Null) => Ok(None),
                    Some(Value::String(s)) if s.chars().count() <= 128 && !s.chars().any(char::is_control) => {
                        Ok(Some(s.clone()))
                    }
                    Some(_) => Err(self.bad(format!(
                        "field `case.{k}` must be a string of at most 128 characters without control characters"
                    ))),
                }
                };
                let reference = text("ref")?
                    .filter(|r| !r.is_empty())
                    .ok_or_else(|| self.bad("field `case.ref` is missing or empty"))?;
                let promised_days = match c.get("promised_days") {
                    None | Some(Value::Null) => None,
                    Some(Value::Number(n)) => Some(
                        n.as_u64()
                            .and_then(|d| u32::try_from(d).ok())
                            .ok_or_else(|| {
                                self.bad(
                                    "field `case.promised_days` must be a whole number of days",
                                )
                            })?,
                    ),
                    Some(_) => {
                        return Err(
                            self.bad("field `case.promised_days` must be a whole number of days")
                        );
                    }
                };
                Ok(Some(CaseRef {
                    reference,
                    item: text("item")?,
                    promised_days,
                }))
            }
            Some(_) => Err(self.bad("field `case` must be an object")),
        }
    }
}

/// The reply JSON for a device, echoing its message id under the key the
/// contract gives its kind of topic.
pub fn reply_json(to: &ReplyTo, msg_id: Option<&str>, reply: &Reply, tz: Tz) -> Value {
    let key = match to {
        ReplyTo::Kiosk(_) => "request",
        ReplyTo::Window(_) => "command",
        ReplyTo::Rater(_) => "rating",
    };
    let mut v = match reply {
        Reply::Ticket {
            ticket,
            service,
            service_name,
            waiting_ahead,
            estimated_wait_s,
            issued_at,
        } => json!({
            "ok": true,
            "ticket": ticket,
            "service": service,
            "service_name": service_name,
            "waiting_ahead": waiting_ahead,
            "estimated_wait_s": estimated_wait_s,
            "issued_at": issued_at.with_timezone(&tz).to_rfc3339_opts(SecondsFormat::Millis, false),
        }),
        Reply::Window { ticket } => json!({"ok": true, "ticket": ticket}),
        Reply::Rating { ticket, score } => json!({"ok": true, "ticket": ticket, "score": score}),
        Reply::Refused(r) => json!({"ok": false, "error": r.reason.code(), "message": r.message}),
        // Supervisors' actions are answered on their own channel, not here.
        Reply::AlertDone { alert } => json!({"ok": true, "alert": alert}),
        Reply::AlertRefused(r) => json!({"ok": false, "error": r.code(), "message": r.message()}),
    };
    if let Value::Object(m) = &mut v {
        m.insert(
            key.to_owned(),
            msg_id.map_or(Value::Null, |s| Value::String(s.to_owned())),
        );
    }
    v
}

/// A reply as the device reads it: the engine's [`crate::engine::EncodeReply`].
pub fn reply_text(r: &DeviceReply<'_>) -> String {
    reply_json(r.to, r.msg_id, r.reply, r.tz).to_string()
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

/// A message of the display channel as the broker carries it too:
/// `{"type": ..., ...fields}`.
#[derive(serde::Serialize)]
struct Typed<'a, T: serde::Serialize> {
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(flatten)]
    body: &'a T,
}

fn typed<T: serde::Serialize>(kind: &str, body: &T) -> Vec<u8> {
    serde_json::to_vec(&Typed { kind, body }).unwrap_or_default()
}

/// The retained `window/{id}/state` payload.
pub fn window_state(v: &WindowView) -> Vec<u8> {
    let d = &v.display;
    json!({
        "window": d.id, "status": d.status, "staff": d.staff, "staff_name": d.staff_name,
        "ticket": d.ticket, "since": d.since, "served_today": v.served_today,
        "benchmark": v.benchmark,
    })
    .to_string()
    .into_bytes()
}

/// The `call` payload: the display channel's `call` message.
pub fn call(call: &CallView) -> Vec<u8> {
    typed("call", call)
}

/// The retained `summary` payload.
pub fn summary(s: &SummaryView) -> Vec<u8> {
    serde_json::to_vec(s).unwrap_or_default()
}

/// The `alert` payload: the alert channel's `alert` message.
pub fn alert(a: &AlertView) -> Vec<u8> {
    typed("alert", a)
}

/// Raw bytes as the rejection log keeps them: at most the contract's limit.
pub fn cut(payload: &[u8]) -> Vec<u8> {
    payload[..payload.len().min(MAX_PAYLOAD)].to_vec()
}

#[cfg(test)]
mod tests;
