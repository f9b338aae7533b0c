//! The configured channels and routes, what each alert or card puts in the
//! outbox, and the HTTP request each channel wants and the answer it counts
//! as delivered. Pure: the sender does the I/O.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{
    Backoff, Message, Route, alert_message, card_message, dingtalk_body, dingtalk_sign, render,
    webhook_signature, wecom_body,
};
use crate::domain::{AlertState, AlertView, CardState, CardView, Severity};

/// How a channel is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    /// A DingTalk (政务钉钉) group robot, signed (加签) when it has a secret.
    Dingtalk,
    /// A WeCom (企业微信) group robot.
    Wecom,
    /// Any HTTPS endpoint taking JSON, signed with HMAC-SHA256 in a header.
    Webhook,
    /// An SMS gateway reached over HTTP, the text filled from a template.
    Sms,
}

impl ChannelKind {
    pub const ALL: [ChannelKind; 4] = [
        ChannelKind::Dingtalk,
        ChannelKind::Wecom,
        ChannelKind::Webhook,
        ChannelKind::Sms,
    ];

    pub fn code(self) -> &'static str {
        match self {
            ChannelKind::Dingtalk => "dingtalk",
            ChannelKind::Wecom => "wecom",
            ChannelKind::Webhook => "webhook",
            ChannelKind::Sms => "sms",
        }
    }

    /// Messages a minute when the configuration sets none: what the robots
    /// document as their own limit, and a calm pace for the others.
    pub fn default_per_minute(self) -> u32 {
        match self {
            ChannelKind::Dingtalk | ChannelKind::Wecom => super::DINGTALK_PER_MINUTE,
            ChannelKind::Webhook => 60,
            ChannelKind::Sms => 10,
        }
    }
}

/// A configured channel.
#[derive(Debug, Clone, PartialEq)]
pub struct Channel {
    pub name: String,
    pub kind: ChannelKind,
    pub url: String,
    /// DingTalk: the robot's signing secret (SEC…); webhook and SMS: the
    /// HMAC key of the signature header.
    pub secret: Option<String>,
    pub per_minute: u32,
    /// SMS: the numbers it goes to.
    pub phones: Vec<String>,
    /// SMS: the text, with `{placeholders}` (see `Facts::NAMES`).
    pub template: String,
}

/// The default SMS text.
pub const SMS_TEMPLATE: &str = "{title}：{what}，自{since}起。{link}";

/// Every notification setting, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The console's address as supervisors open it: links start with it.
    pub public_url: Option<String>,
    pub channels: Vec<Channel>,
    pub routes: Vec<Route>,
    pub backoff: Backoff,
    /// How long one send may take.
    pub timeout: std::time::Duration,
    /// A channel failing this long is named by `/healthz`.
    pub failing_after: chrono::Duration,
    /// Each hall's time zone, for the times a digest names.
    pub zones: Vec<(String, chrono_tz::Tz)>,
}

impl Default for Plan {
    fn default() -> Self {
        Self {
            public_url: None,
            channels: Vec::new(),
            routes: Vec::new(),
            backoff: Backoff::default(),
            timeout: std::time::Duration::from_secs(10),
            failing_after: chrono::Duration::minutes(5),
            zones: Vec::new(),
        }
    }
}

/// What a notification is about.
pub mod about {
    pub const ALERT: &str = "alert";
    pub const CARD: &str = "card";
    /// Several held back by a channel's limit, merged into one.
    pub const DIGEST: &str = "digest";
}

/// A notification to put in the outbox, written with the alert or card
/// that causes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Queued {
    /// The idempotency key: `{channel}/{subject}/{severity or card kind}`,
    /// or `{channel}/{subject}/wider` for the wider list. The same alert
    /// gives the same key after a restart, so the outbox keeps one, and a
    /// receiver can drop a repeat by it.
    pub key: String,
    pub channel: String,
    pub hall: String,
    /// The alert or card id, or `digest`.
    pub subject: String,
    /// `alert`, `card` or `digest` (see [`about`]).
    pub about: &'static str,
    pub created_at: DateTime<Utc>,
    /// Not before: the end of quiet hours, or now.
    pub send_at: DateTime<Utc>,
    /// `{ "message": Message, "data": … }`: the words and what they are
    /// about (the alert or card as the console shows it).
    pub body: Value,
}

/// What an alert or card that changed does to the outbox: notifications to
/// add (unless their key is there), and the keys of those still waiting
/// that they take the place of.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Queueing {
    pub queue: Vec<Queued>,
    pub supersede: Vec<String>,
}

/// What is notified, for [`Plan::queue`].
struct Subject<'a> {
    id: &'a str,
    hall: &'a str,
    about: &'static str,
    /// The severity (or card kind) the key ends in.
    level: &'a str,
    /// The severities below it, whose notifications it replaces.
    lower: &'a [&'a str],
}

/// The outbox's body for a message and what it is about.
pub fn body(message: &Message, data: Value) -> Value {
    json!({ "message": message, "data": data })
}

impl Plan {
    pub fn channel(&self, name: &str) -> Option<&Channel> {
        self.channels.iter().find(|c| c.name == name)
    }

    /// The hall's time zone (China Standard Time for a hall not known).
    pub fn zone(&self, hall: &str) -> chrono_tz::Tz {
        self.zones
            .iter()
            .find(|(h, _)| h == hall)
            .map_or(chrono_tz::Asia::Shanghai, |(_, tz)| *tz)
    }

    /// `t` in the hall's time.
    pub fn local(&self, hall: &str, t: DateTime<Utc>) -> chrono::DateTime<chrono::FixedOffset> {
        t.with_timezone(&self.zone(hall)).fixed_offset()
    }

    /// What an alert that changed puts in the outbox: for each channel a
    /// route gives it to, one notification per severity it reaches while
    /// open (its key ends in the severity), so a warning that turns
    /// critical goes out again at once, and the warning still waiting (held
    /// by quiet hours, or retrying) is withdrawn. A channel that has the
    /// alert on its wider list as well gets only the wider message.
    pub fn alert(&self, a: &AlertView, now: DateTime<Utc>) -> Queueing {
        if a.state != AlertState::Open || self.routes.is_empty() {
            return Queueing::default();
        }
        let message = alert_message(a, self.public_url.as_deref());
        let data = serde_json::to_value(a).unwrap_or_default();
        let lower: Vec<&str> = Severity::ALL
            .iter()
            .filter(|s| **s < a.severity)
            .map(|s| s.code())
            .collect();
        self.queue(
            |r| r.alert(a, self.zone(a.hall.as_str())),
            Subject {
                id: &a.id,
                hall: a.hall.as_str(),
                about: about::ALERT,
                level: a.severity.code(),
                lower: &lower,
            },
            &message,
            &data,
            now,
        )
    }

    /// What a card puts in the outbox, once, as it is issued.
    pub fn card(&self, c: &CardView, now: DateTime<Utc>) -> Queueing {
        if c.state != CardState::Issued || self.routes.is_empty() {
            return Queueing::default();
        }
        let message = card_message(c, self.public_url.as_deref());
        let data = serde_json::to_value(c).unwrap_or_default();
        self.queue(
            |r| r.card(c, self.zone(c.hall.as_str())),
            Subject {
                id: &c.id,
                hall: c.hall.as_str(),
                about: about::CARD,
                level: c.kind.code(),
                lower: &[],
            },
            &message,
            &data,
            now,
        )
    }

    fn queue(
        &self,
        send_at: impl Fn(&Route) -> Option<chrono::DateTime<chrono::FixedOffset>>,
        subject: Subject<'_>,
        message: &Message,
        data: &Value,
        now: DateTime<Utc>,
    ) -> Queueing {
        let id = subject.id;
        let taken: Vec<(&Route, DateTime<Utc>)> = self
            .routes
            .iter()
            .filter_map(|r| send_at(r).map(|t| (r, t.with_timezone(&Utc).max(now))))
            .collect();
        let mut out = Queueing::default();
        for (route, at) in &taken {
            let ch = &route.channel;
            let wider_too = !route.wider && taken.iter().any(|(r, _)| r.wider && r.channel == *ch);
            if wider_too {
                continue;
            }
            let key = if route.wider {
                // It takes the place of whatever of the normal list waits.
                for level in subject.lower.iter().chain([&subject.level]) {
                    out.supersede.push(format!("{ch}/{id}/{level}"));
                }
                format!("{ch}/{id}/wider")
            } else {
                for level in subject.lower {
                    out.supersede.push(format!("{ch}/{id}/{level}"));
                }
                format!("{ch}/{id}/{}", subject.level)
            };
            if out.queue.iter().any(|q| q.key == key) {
                continue;
            }
            out.queue.push(Queued {
                key,
                channel: ch.clone(),
                hall: subject.hall.to_owned(),
                subject: id.to_owned(),
                about: subject.about,
                created_at: now,
                send_at: *at,
                body: body(message, data.clone()),
            });
        }
        out.supersede.sort();
        out.supersede.dedup();
        out
    }

    /// Whether an alert in this state no longer needs what is still
    /// waiting for it: someone acknowledged or resolved it.
    pub fn alert_settled(a: &AlertView) -> bool {
        a.state != AlertState::Open
    }

    /// Whether a card is past being issued (explained, closed or lapsed).
    pub fn card_settled(c: &CardView) -> bool {
        c.state != CardState::Issued
    }
}

/// An HTTP request to send: POST, JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

/// The header carrying the generic webhook's and the SMS gateway's
/// signature.
pub const SIGNATURE_HEADER: &str = "X-Hallwatch-Signature";
/// The header carrying the idempotency key.
pub const KEY_HEADER: &str = "Idempotency-Key";

/// The request that delivers `message` (key `key`, about `data`) on `ch`,
/// signed as made at `now` (the wall clock's time: a receiver checks it
/// against its own).
pub fn request(
    ch: &Channel,
    key: &str,
    message: &Message,
    data: &Value,
    now: DateTime<Utc>,
) -> Request {
    let mut headers = vec![("Content-Type", "application/json".to_owned())];
    let (url, body) = match ch.kind {
        ChannelKind::Dingtalk => {
            let url = match &ch.secret {
                Some(secret) => {
                    let ts = now.timestamp_millis();
                    let sep = if ch.url.contains('?') { '&' } else { '?' };
                    format!(
                        "{}{sep}timestamp={ts}&sign={}",
                        ch.url,
                        dingtalk_sign(secret, ts)
                    )
                }
                None => ch.url.clone(),
            };
            (url, dingtalk_body(message))
        }
        ChannelKind::Wecom => (ch.url.clone(), wecom_body(message)),
        ChannelKind::Webhook => (
            ch.url.clone(),
            json!({
                "key": key,
                "channel": ch.name,
                "title": message.title,
                "text": message.text(),
                "facts": message.facts,
                "data": data,
            }),
        ),
        ChannelKind::Sms => (
            ch.url.clone(),
            json!({
                "key": key,
                "phones": ch.phones,
                "text": render(&ch.template, message),
                "facts": message.facts,
            }),
        ),
    };
    let body = body.to_string();
    if matches!(ch.kind, ChannelKind::Webhook | ChannelKind::Sms) {
        headers.push((KEY_HEADER, key.to_owned()));
        if let Some(secret) = &ch.secret {
            headers.push((
                SIGNATURE_HEADER,
                webhook_signature(secret, now.timestamp(), &body),
            ));
        }
    }
    Request { url, headers, body }
}

/// Whether an answer means delivered: a 2xx, and for the robots an
/// `errcode` of 0 (they answer 200 to a refused message). Otherwise what
/// to show as the last error.
pub fn judge(kind: ChannelKind, status: u16, body: &str) -> Result<(), String> {
    let short = super::cut(body.trim(), 200);
    if !(200..300).contains(&status) {
        return Err(if short.is_empty() {
            format!("HTTP {status}")
        } else {
            format!("HTTP {status}: {short}")
        });
    }
    if matches!(kind, ChannelKind::Dingtalk | ChannelKind::Wecom) {
        let answer: Value = serde_json::from_str(body)
            .map_err(|_| format!("the robot's answer is not JSON: {short}"))?;
        match answer.get("errcode").and_then(Value::as_i64) {
            Some(0) => {}
            Some(code) => {
                let msg = answer.get("errmsg").and_then(Value::as_str).unwrap_or("");
                return Err(format!("errcode {code}: {msg}"));
            }
            None => return Err(format!("the robot's answer has no errcode: {short}")),
        }
    }
    Ok(())
}

/// A test message for `hallwatch notify-test`.
pub fn test_message(channel: &str, public_url: Option<&str>, at: &str) -> Message {
    let link = public_url
        .map(|u| format!("{}/supervisor.html", u.trim_end_matches('/')))
        .unwrap_or_default();
    let mut m = super::message(
        super::Facts {
            severity: "测试".to_owned(),
            hall: "hallwatch".to_owned(),
            place: channel.to_owned(),
            what: "这是一条测试消息：收到即表示告警能送达本群或本手机。".to_owned(),
            since: at.to_owned(),
            link,
        },
        None,
    );
    m.title = format!("【测试】hallwatch 通知通道 {channel}");
    m
}

/// The demo's plan: one signed webhook to `url` taking every warning and
/// critical alert and every 黄牌 and 红牌 of `halls`, linking to `public_url`.
pub fn demo_plan(
    halls: &[std::sync::Arc<crate::domain::HallSpec>],
    url: &str,
    secret: &str,
    public_url: &str,
) -> Plan {
    Plan {
        public_url: Some(public_url.to_owned()),
        channels: vec![Channel {
            name: "demo-webhook".to_owned(),
            kind: ChannelKind::Webhook,
            url: url.to_owned(),
            secret: Some(secret.to_owned()),
            per_minute: ChannelKind::Webhook.default_per_minute(),
            phones: Vec::new(),
            template: SMS_TEMPLATE.to_owned(),
        }],
        routes: vec![Route {
            channel: "demo-webhook".to_owned(),
            halls: Vec::new(),
            rules: Vec::new(),
            min_severity: crate::domain::Severity::Warning,
            cards: vec![
                crate::domain::CardKind::Yellow,
                crate::domain::CardKind::Red,
            ],
            quiet: None,
            wider: false,
        }],
        zones: halls.iter().map(|h| (h.id.to_string(), h.tz)).collect(),
        ..Plan::default()
    }
}
