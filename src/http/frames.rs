//! The WebSocket channels' frames: JSON objects with a `type`, as screens
//! read them. Hall tasks hand over typed messages; they are put into text
//! here, once per message however many screens show it.

use bytestring::ByteString;
use serde::Serialize;
use serde_json::json;
use tracing::warn;

use crate::engine::{DashMsg, ScreenMsg};

/// A frame: `{"type": kind, ...fields of body}`.
#[derive(Serialize)]
struct Typed<'a, T: Serialize> {
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(flatten)]
    body: &'a T,
}

/// A snapshot frame, with how fast the server's clock runs, so a page can
/// count times on by itself between messages (1 except in the demo).
#[derive(Serialize)]
struct Snapshot<'a, T: Serialize> {
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(flatten)]
    body: &'a T,
    clock_rate: f64,
}

fn text<T: Serialize>(value: &T, kind: &str) -> ByteString {
    match serde_json::to_string(value) {
        Ok(s) => ByteString::from(s),
        Err(e) => {
            warn!(error = %e, kind, "Could not serialise a frame.");
            ByteString::from_static("{}")
        }
    }
}

/// `{"type": kind, ...body}`.
pub fn frame<T: Serialize>(kind: &str, body: &T) -> ByteString {
    text(&Typed { kind, body }, kind)
}

/// `{"type": "snapshot", ...body, "clock_rate": …}`.
pub fn snapshot<T: Serialize>(body: &T, clock_rate: f64) -> ByteString {
    text(
        &Snapshot {
            kind: "snapshot",
            body,
            clock_rate,
        },
        "snapshot",
    )
}

/// A message of the public display channel.
pub fn screen(msg: &ScreenMsg, clock_rate: f64) -> ByteString {
    match msg {
        ScreenMsg::Snapshot(s) => snapshot(s, clock_rate),
        ScreenMsg::Call(c) => frame("call", c),
        ScreenMsg::Window(v) => frame(
            "window",
            &json!({
                "window": v.id, "status": v.status, "ticket": v.ticket,
                "staff": v.staff, "staff_name": v.staff_name, "since": v.since,
            }),
        ),
        ScreenMsg::Queue(q) => frame(
            "queue",
            &json!({"service": q.service, "waiting": q.waiting}),
        ),
    }
}

/// A message of a manager's dashboard.
pub fn dash(msg: &DashMsg, clock_rate: f64) -> ByteString {
    match msg {
        DashMsg::Snapshot(s) => snapshot(s, clock_rate),
        DashMsg::Call(c) => frame("call", c),
        DashMsg::Load(w) => frame("load", w),
        DashMsg::Queue(q) => frame("queue", q),
        DashMsg::Staffing(s) => frame("staffing", s),
        DashMsg::Kpi(k) => frame("kpi", k),
        DashMsg::Alert(a) => frame("alert", a),
    }
}
