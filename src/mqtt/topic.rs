//! Topic names of the wire contract, parsed and built in one place.

use crate::domain::{DeviceId, HallId, Reason, WindowId};
use crate::engine::ReplyTo;

/// What an incoming topic addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    /// `{prefix}/{hall}/kiosk/{kiosk}/request`
    KioskRequest { hall: HallId, kiosk: DeviceId },
    /// `{prefix}/{hall}/window/{window}/command`
    WindowCommand { hall: HallId, window: WindowId },
    /// `{prefix}/{hall}/rater/{window}/rating`
    Rating { hall: HallId, window: WindowId },
    /// `{prefix}/{hall}/device/{device}/status`
    DeviceStatus { hall: HallId, device: DeviceId },
    /// `{prefix}/{hall}/case/{source}/event`: a back-office system's
    /// report of a case.
    CaseEvent { hall: HallId, source: DeviceId },
}

/// Why a topic could not be read. The raw hall or device text is kept where
/// it was readable, so the rejection can still be answered or stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicError {
    /// `unknown_hall` or `unknown_device` for a malformed id, else `bad_request`.
    pub reason: Reason,
    pub detail: String,
}

impl Inbound {
    pub fn hall(&self) -> &HallId {
        match self {
            Inbound::KioskRequest { hall, .. }
            | Inbound::WindowCommand { hall, .. }
            | Inbound::Rating { hall, .. }
            | Inbound::DeviceStatus { hall, .. }
            | Inbound::CaseEvent { hall, .. } => hall,
        }
    }

    /// The device that reads the replies, if it has a reply topic.
    pub fn reply_to(&self) -> Option<ReplyTo> {
        match self {
            Inbound::KioskRequest { kiosk, .. } => Some(ReplyTo::Kiosk(kiosk.clone())),
            Inbound::WindowCommand { window, .. } => Some(ReplyTo::Window(window.clone())),
            Inbound::Rating { window, .. } => Some(ReplyTo::Rater(window.clone())),
            Inbound::CaseEvent { source, .. } => Some(ReplyTo::Backoffice(source.clone())),
            Inbound::DeviceStatus { .. } => None,
        }
    }

    /// The topic the device reads its replies on, if it has one.
    pub fn reply_topic(&self, prefix: &str) -> Option<String> {
        self.reply_to().map(|to| reply(prefix, self.hall(), &to))
    }
}

/// The topic a device reads its replies on: `{prefix}/{hall}/kiosk/{kiosk}/reply`,
/// `…/window/{window}/reply`, `…/rater/{window}/reply` or
/// `…/case/{source}/reply`.
pub fn reply(prefix: &str, hall: &HallId, to: &ReplyTo) -> String {
    match to {
        ReplyTo::Backoffice(source) => format!("{prefix}/{hall}/case/{source}/reply"),
        ReplyTo::Kiosk(kiosk) => format!("{prefix}/{hall}/kiosk/{kiosk}/reply"),
        ReplyTo::Window(window) => format!("{prefix}/{hall}/window/{window}/reply"),
        ReplyTo::Rater(window) => format!("{prefix}/{hall}/rater/{window}/reply"),
    }
}

/// The subscriptions the server needs under `prefix`.
pub fn subscriptions(prefix: &str) -> [String; 5] {
    [
        format!("{prefix}/+/kiosk/+/request"),
        format!("{prefix}/+/window/+/command"),
        format!("{prefix}/+/rater/+/rating"),
        format!("{prefix}/+/device/+/status"),
        format!("{prefix}/+/case/+/event"),
    ]
}

/// The subscriptions of one hall's devices, for a partition's session.
pub fn hall_subscriptions(prefix: &str, hall: &HallId) -> [String; 5] {
    let h = hall.as_str();
    [
        format!("{prefix}/{h}/kiosk/+/request"),
        format!("{prefix}/{h}/window/+/command"),
        format!("{prefix}/{h}/rater/+/rating"),
        format!("{prefix}/{h}/device/+/status"),
        format!("{prefix}/{h}/case/+/event"),
    ]
}

/// The most of a device's topic (or part of one) that logs and stored rows
/// keep, in characters.
pub const SHOWN_MAX: usize = 200;

/// A topic, or a level of one, as logs and stored rows show it: control
/// characters and backslashes escaped (a newline or a terminal escape in a
/// topic can neither forge a log line nor reach a terminal), and cut to
/// [`SHOWN_MAX`] characters, saying how long it was.
pub fn shown(topic: &str) -> String {
    let mut out = String::with_capacity(topic.len().min(SHOWN_MAX) + 24);
    for (count, c) in topic.chars().enumerate() {
        if count == SHOWN_MAX {
            let total = topic.chars().count();
            out.push_str(&format!("… ({total} characters)"));
            break;
        }
        if c.is_control() || c == '\\' {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Parses an incoming topic under `prefix`.
pub fn parse(prefix: &str, topic: &str) -> Result<Inbound, TopicError> {
    let bad = |detail: String| TopicError {
        reason: Reason::BadRequest,
        detail,
    };
    let rest = topic
        .strip_prefix(prefix)
        .and_then(|r| r.strip_prefix('/'))
        .ok_or_else(|| {
            bad(format!(
                "topic \"{}\" is not under {prefix:?}",
                shown(topic)
            ))
        })?;
    let parts: Vec<&str> = rest.split('/').collect();
    let [hall, kind, device, leaf] = parts[..] else {
        return Err(bad(format!(
            "topic \"{}\" has the wrong number of levels",
            shown(topic)
        )));
    };
    let hall = HallId::parse(hall).map_err(|e| TopicError {
        reason: Reason::UnknownHall,
        detail: format!("hall id \"{}\" {e}", shown(hall)),
    })?;
    let unknown = |s: &str, e| TopicError {
        reason: Reason::UnknownDevice,
        detail: format!("device id \"{}\" {e}", shown(s)),
    };
    let window = |s: &str| WindowId::parse(s).map_err(|e| unknown(s, e));
    let device_id = |s: &str| DeviceId::parse(s).map_err(|e| unknown(s, e));
    match (kind, leaf) {
        ("kiosk", "request") => Ok(Inbound::KioskRequest {
            hall,
            kiosk: device_id(device)?,
        }),
        ("window", "command") => Ok(Inbound::WindowCommand {
            hall,
            window: window(device)?,
        }),
        ("rater", "rating") => Ok(Inbound::Rating {
            hall,
            window: window(device)?,
        }),
        ("device", "status") => Ok(Inbound::DeviceStatus {
            hall,
            device: device_id(device)?,
        }),
        ("case", "event") => Ok(Inbound::CaseEvent {
            hall,
            source: device_id(device)?,
        }),
        _ => Err(bad(format!(
            "topic \"{}\" is not a device topic",
            shown(topic)
        ))),
    }
}

/// `{prefix}/{hall}/window/{window}/state`, retained.
pub fn window_state(prefix: &str, hall: &HallId, window: &WindowId) -> String {
    format!("{prefix}/{hall}/window/{window}/state")
}

/// `{prefix}/{hall}/summary`, retained.
pub fn summary(prefix: &str, hall: &HallId) -> String {
    format!("{prefix}/{hall}/summary")
}

/// `{prefix}/{hall}/alert`.
pub fn alert(prefix: &str, hall: &HallId) -> String {
    format!("{prefix}/{hall}/alert")
}

/// `{prefix}/{hall}/card`: a 限时办结 card issued or changed.
pub fn card(prefix: &str, hall: &HallId) -> String {
    format!("{prefix}/{hall}/card")
}

/// `{prefix}/{hall}/audit/head`, retained: the head of the hall's
/// tamper-evident record.
pub fn audit_head(prefix: &str, hall: &HallId) -> String {
    format!("{prefix}/{hall}/audit/head")
}

/// `{prefix}/{hall}/call`.
pub fn call(prefix: &str, hall: &HallId) -> String {
    format!("{prefix}/{hall}/call")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_device_topic_parses() {
        let k = parse("hallwatch", "hallwatch/jl-center/kiosk/k1/request").unwrap();
        assert_eq!(k.hall().as_str(), "jl-center");
        assert_eq!(
            k.reply_topic("hallwatch").unwrap(),
            "hallwatch/jl-center/kiosk/k1/reply"
        );
        assert!(matches!(
            parse("hw", "hw/h/window/05/command").unwrap(),
            Inbound::WindowCommand { .. }
        ));
        assert_eq!(
            parse("hw", "hw/h/rater/05/rating")
                .unwrap()
                .reply_topic("hw")
                .unwrap(),
            "hw/h/rater/05/reply"
        );
        let s = parse("a/b", "a/b/h/device/w05/status").unwrap();
        assert!(s.reply_topic("a/b").is_none());
        assert_eq!(
            parse("hw", "hw/h/case/ywxt/event")
                .unwrap()
                .reply_topic("hw")
                .unwrap(),
            "hw/h/case/ywxt/reply"
        );
    }

    #[test]
    fn foreign_and_malformed_topics_are_refused() {
        for t in [
            "other/h/kiosk/k1/request",
            "hallwatch/h/kiosk/k1",
            "hallwatch/h/kiosk/k1/request/x",
            "hallwatch/h/kiosk/k1/reply",
            "hallwatch/h/printer/p1/request",
            "hallwatch/h h/kiosk/k1/request",
            "hallwatch//kiosk/k1/request",
            "hallwatchx/h/kiosk/k1/request",
        ] {
            assert!(parse("hallwatch", t).is_err(), "{t}");
        }
    }

    #[test]
    fn topics_are_shown_escaped_and_cut() {
        let forged =
            "hallwatch/h1/kiosk/k1\n2026-12-05T01:00:00Z ERROR FORGED LINE\x1b[31m\n/request";
        let shown = shown(forged);
        assert!(!shown.chars().any(char::is_control), "{shown}");
        assert!(
            shown.contains("\\n2026") && shown.contains("\\u{1b}[31m"),
            "{shown}"
        );
        assert_eq!(super::shown("a\\b"), "a\\\\b");
        assert_eq!(super::shown("hallwatch/h1/大厅"), "hallwatch/h1/大厅");
        let long = "x".repeat(60_000);
        let cut = super::shown(&long);
        assert!(cut.starts_with(&"x".repeat(SHOWN_MAX)), "{cut}");
        assert!(cut.ends_with("… (60000 characters)"), "{cut}");
        assert!(cut.len() < 300);
        // The refusal's detail carries it the same way.
        let e = parse("hallwatch", &format!("hallwatch/{long}")).unwrap_err();
        assert!(e.detail.len() < 400, "{}", e.detail.len());
        let e = parse("hallwatch", forged).unwrap_err();
        assert!(!e.detail.chars().any(char::is_control), "{}", e.detail);
    }
}
