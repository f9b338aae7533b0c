//! Notifications to supervisors' phones: what a message says, how each
//! channel wants it, how it is signed, when a failed send is tried again,
//! and how a channel's own rate limit is kept.
//!
//! Pure: every function takes the time it needs, so the schedule and the
//! limits are tested on an injected clock. Sending is the outbox's work.

use std::collections::VecDeque;

use base64::Engine;
use chrono::{DateTime, Duration, FixedOffset, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::domain::{AlertView, CardKind, CardView, Rule, Severity};

pub mod http;
mod plan;
pub mod receiver;
pub mod sender;

pub use plan::*;

/// What a query value escapes: everything but letters, digits and the
/// unreserved `-._~` (so a hall id reads as written in a link).
const QUERY_VALUE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The most a WeCom group robot takes in a markdown message, in bytes.
pub const WECOM_MAX_BYTES: usize = 4096;

/// The most a DingTalk group robot takes a minute.
pub const DINGTALK_PER_MINUTE: u32 = 20;

/// A message as a person reads it on a phone: a title for the lock screen
/// and the lines under it, with the facts an SMS template is filled from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub title: String,
    pub lines: Vec<String>,
    #[serde(default)]
    pub facts: Facts,
}

/// What a message is about, field by field: the placeholders of an SMS
/// gateway's template (`{severity}`, `{hall}`, …).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Facts {
    /// 严重, 警告, 提示, 红牌, 黄牌, 预警 or 汇总.
    pub severity: String,
    pub hall: String,
    /// The window, service or department it is about; may be empty.
    pub place: String,
    /// What happened, in words.
    pub what: String,
    /// Since when, `MM-DD HH:MM` in the hall's time.
    pub since: String,
    /// The link to it on the console; empty without a public address.
    pub link: String,
}

impl Facts {
    /// The placeholders a template may use.
    pub const NAMES: [&'static str; 7] = [
        "title", "severity", "hall", "place", "what", "since", "link",
    ];

    fn get<'a>(&'a self, name: &str, title: &'a str) -> Option<&'a str> {
        Some(match name {
            "title" => title,
            "severity" => &self.severity,
            "hall" => &self.hall,
            "place" => &self.place,
            "what" => &self.what,
            "since" => &self.since,
            "link" => &self.link,
            _ => return None,
        })
    }
}

/// The placeholders of `template` that no message fills, if any: a
/// template is checked against them when the configuration is read.
pub fn unknown_placeholders(template: &str) -> Vec<String> {
    placeholders(template)
        .filter(|n| !Facts::NAMES.contains(n))
        .map(str::to_owned)
        .collect()
}

fn placeholders(template: &str) -> impl Iterator<Item = &str> {
    template
        .split('{')
        .skip(1)
        .filter_map(|s| s.split_once('}').map(|(n, _)| n))
}

/// `template` with each `{name}` filled from the message.
pub fn render(template: &str, m: &Message) -> String {
    let mut out = String::with_capacity(template.len() + 64);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after
            .split_once('}')
            .and_then(|(name, tail)| m.facts.get(name, &m.title).map(|v| (v, tail)))
        {
            Some((value, tail)) => {
                out.push_str(value);
                rest = tail;
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

impl Message {
    /// The lines as one text.
    pub fn text(&self) -> String {
        self.lines.join("\n")
    }
}

/// The link to an alert (`what` = `alert`) or a card (`card`) on the
/// supervisors' console, under the server's public address (no trailing
/// slash needed).
pub fn alert_link(public_url: &str, hall: &str, what: &str, id: &str) -> String {
    let base = public_url.trim_end_matches('/');
    let enc = |s: &str| percent_encoding::utf8_percent_encode(s, QUERY_VALUE).to_string();
    format!(
        "{base}/supervisor.html?hall={}&{what}={}",
        enc(hall),
        enc(id)
    )
}

/// What an alert says on a lock screen: severity, hall and where in it,
/// what happened, since when, and the link to act on it.
pub fn alert_message(a: &AlertView, public_url: Option<&str>) -> Message {
    let severity = match a.severity {
        Severity::Critical => "严重",
        Severity::Warning => "警告",
        Severity::Notice => "提示",
    };
    let place = a
        .window_name
        .as_deref()
        .or(a.service_name.as_deref())
        .or(a.department_name.as_deref())
        .unwrap_or_default();
    let link = public_url
        .map(|url| alert_link(url, a.hall.as_str(), "alert", &a.id))
        .unwrap_or_default();
    message(
        Facts {
            severity: severity.to_owned(),
            hall: a.hall_name.clone(),
            place: place.to_owned(),
            what: a.message.clone(),
            since: a.opened_at.format("%m-%d %H:%M").to_string(),
            link,
        },
        a.escalated.then_some("已上报上级"),
    )
}

/// What a card (预警, 黄牌, 红牌) says on a lock screen: the card, the
/// department it is against, the case and the deadline, and its link.
pub fn card_message(c: &CardView, public_url: Option<&str>) -> Message {
    let place = c
        .department_name
        .as_deref()
        .or(c.service_name.as_deref())
        .unwrap_or_default();
    let link = public_url
        .map(|url| alert_link(url, c.hall.as_str(), "card", &c.id))
        .unwrap_or_default();
    let due = format!("期限 {}", c.due.format("%m-%d %H:%M"));
    message(
        Facts {
            severity: c.kind.label().to_owned(),
            hall: c.hall_name.clone(),
            place: place.to_owned(),
            what: c.message.clone(),
            since: c.issued_at.format("%m-%d %H:%M").to_string(),
            link,
        },
        Some(&due),
    )
}

/// The title and lines from the facts: 【severity】hall · place, then what
/// happened, since when, an extra line, and the link.
fn message(facts: Facts, extra: Option<&str>) -> Message {
    let mut title = format!("【{}】{}", facts.severity, facts.hall);
    if !facts.place.is_empty() {
        title.push_str(" · ");
        title.push_str(&facts.place);
    }
    let mut lines = vec![facts.what.clone(), format!("自 {} 起", facts.since)];
    lines.extend(extra.map(str::to_owned));
    if !facts.link.is_empty() {
        lines.push(format!("处理：{}", facts.link));
    }
    Message {
        title,
        lines,
        facts,
    }
}

/// The most titles a digest lists; the rest are counted.
pub const DIGEST_LISTED: usize = 20;

/// Messages a channel's limit held back, merged into one: the count and
/// the titles (the first [`DIGEST_LISTED`], then how many more), so an SMS
/// filled from `{what}` and a robot cut to its size both still name them.
pub fn digest(held: &[Message], since: DateTime<FixedOffset>, public_url: Option<&str>) -> Message {
    let mut titles: Vec<String> = held
        .iter()
        .take(DIGEST_LISTED)
        .map(|m| m.title.clone())
        .collect();
    if held.len() > DIGEST_LISTED {
        titles.push(format!("…另有 {} 条，见控制台", held.len() - DIGEST_LISTED));
    }
    let head = format!(
        "{} 起共 {} 条告警（发送频率受限，合并为一条）",
        since.format("%H:%M"),
        held.len()
    );
    let mut lines = vec![format!("{head}：")];
    lines.extend(titles.iter().map(|t| format!("· {t}")));
    let link = public_url
        .map(|u| format!("{}/supervisor.html", u.trim_end_matches('/')))
        .unwrap_or_default();
    if !link.is_empty() {
        lines.push(format!("处理：{link}"));
    }
    let mut halls: Vec<&str> = held.iter().map(|m| m.facts.hall.as_str()).collect();
    halls.sort_unstable();
    halls.dedup();
    Message {
        title: format!("告警汇总（{} 条）", held.len()),
        lines,
        facts: Facts {
            severity: "汇总".to_owned(),
            hall: if halls.len() == 1 {
                halls[0].to_owned()
            } else {
                String::new()
            },
            place: String::new(),
            what: format!("{head}：{}", titles.join("；")),
            since: since.format("%m-%d %H:%M").to_string(),
            link,
        },
    }
}

/// A DingTalk group robot's body: markdown, the title for the lock screen.
pub fn dingtalk_body(m: &Message) -> Value {
    json!({
        "msgtype": "markdown",
        "markdown": {
            "title": m.title,
            "text": format!("#### {}\n\n{}", m.title, m.lines.join("\n\n")),
        },
    })
}

/// A WeCom group robot's body: markdown, cut to what it takes.
pub fn wecom_body(m: &Message) -> Value {
    let text = format!("**{}**\n{}", m.title, m.text());
    json!({
        "msgtype": "markdown",
        "markdown": { "content": cut(&text, WECOM_MAX_BYTES) },
    })
}

/// `text` cut to at most `max` bytes on a character boundary, ending in
/// an ellipsis when cut.
pub fn cut(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let ellipsis = "…";
    let mut end = max.saturating_sub(ellipsis.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{ellipsis}", &text[..end])
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC-SHA256 takes a key of any length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// A DingTalk robot's `sign` query parameter for `timestamp_ms`: the
/// base64 HMAC-SHA256 of "{timestamp}\n{secret}" keyed by the secret,
/// URL-encoded, as DingTalk's robot security settings (加签) document.
pub fn dingtalk_sign(secret: &str, timestamp_ms: i64) -> String {
    let to_sign = format!("{timestamp_ms}\n{secret}");
    let raw = hmac_sha256(secret.as_bytes(), to_sign.as_bytes());
    let b64 = base64::engine::general_purpose::STANDARD.encode(raw);
    percent_encoding::utf8_percent_encode(&b64, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// The generic webhook's signature header value, `t={timestamp},v1={hex}`:
/// the HMAC-SHA256, keyed by the channel's secret, of "{timestamp}.{body}",
/// so a receiver can check the body and refuse an old one replayed.
pub fn webhook_signature(secret: &str, timestamp_s: i64, body: &str) -> String {
    let raw = hmac_sha256(
        secret.as_bytes(),
        format!("{timestamp_s}.{body}").as_bytes(),
    );
    let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    format!("t={timestamp_s},v1={hex}")
}

/// Which alerts and cards go to a channel, and when.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// The channel's name.
    pub channel: String,
    /// Halls by id; empty: every hall.
    pub halls: Vec<String>,
    /// Rules; empty: every rule.
    pub rules: Vec<Rule>,
    /// The least severity that goes.
    pub min_severity: Severity,
    /// Card kinds that go; empty: none.
    pub cards: Vec<CardKind>,
    /// Local quiet hours `[from, to)` (may wrap past midnight): what is not
    /// critical waits for their end, it is not dropped.
    pub quiet: Option<(NaiveTime, NaiveTime)>,
    /// A wider list: only escalated alerts and 红牌 go to it.
    pub wider: bool,
}

impl Route {
    fn takes_hall(&self, hall: &str) -> bool {
        self.halls.is_empty() || self.halls.iter().any(|h| h == hall)
    }

    /// When a message made at `at` may leave: at once, or at the end of the
    /// quiet hours (in the hall's zone `tz`) it falls in. The end is found
    /// in the zone, so quiet hours that span a change of its clocks still
    /// end at their local time.
    fn send_at(&self, at: DateTime<FixedOffset>, urgent: bool, tz: Tz) -> DateTime<FixedOffset> {
        let Some((from, to)) = self.quiet.filter(|_| !urgent) else {
            return at;
        };
        let local = at.with_timezone(&tz);
        let t = local.time();
        let quiet = if from <= to {
            from <= t && t < to
        } else {
            t >= from || t < to
        };
        if !quiet {
            return at;
        }
        // The end is today's `to`, or tomorrow's when it is still ahead.
        let today_end = local.date_naive().and_time(to);
        let end = if t < to {
            today_end
        } else {
            today_end + Duration::days(1)
        };
        // A time the clocks skip is read an hour on: the instant it would
        // have been.
        tz.from_local_datetime(&end)
            .earliest()
            .or_else(|| {
                tz.from_local_datetime(&(end + Duration::hours(1)))
                    .earliest()
            })
            .map_or(at, |t| t.fixed_offset())
    }

    /// When an alert's message goes to this channel, if it does; `tz` is
    /// the hall's zone.
    pub fn alert(&self, a: &AlertView, tz: Tz) -> Option<DateTime<FixedOffset>> {
        let goes = self.takes_hall(a.hall.as_str())
            && (self.rules.is_empty() || self.rules.contains(&a.rule))
            && a.severity >= self.min_severity
            && (!self.wider || a.escalated);
        goes.then(|| self.send_at(a.updated_at, a.severity == Severity::Critical, tz))
    }

    /// When a card's message goes to this channel, if it does; `tz` is the
    /// hall's zone.
    pub fn card(&self, c: &CardView, tz: Tz) -> Option<DateTime<FixedOffset>> {
        let goes = self.takes_hall(c.hall.as_str())
            && self.cards.contains(&c.kind)
            && (!self.wider || c.kind == CardKind::Red);
        goes.then(|| self.send_at(c.issued_at, c.kind == CardKind::Red, tz))
    }
}

/// When a send that failed is tried again: `first`, then each wait
/// `factor` times the last, at most `max`, for at most `attempts` tries
/// in all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub first_s: i64,
    pub factor: i64,
    pub max_s: i64,
    pub attempts: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            first_s: 5,
            factor: 2,
            max_s: 600,
            attempts: 12,
        }
    }
}

impl Backoff {
    /// When to try again after the `tried`th attempt (1 for the first)
    /// failed at `at`; None once every attempt is spent (the message is
    /// failed, and stays in the outbox for a person to see).
    pub fn retry_at(&self, tried: u32, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if tried >= self.attempts {
            return None;
        }
        let mut wait = self.first_s.max(1);
        for _ in 1..tried {
            wait = wait.saturating_mul(self.factor.max(1)).min(self.max_s);
        }
        Some(at + Duration::seconds(wait.min(self.max_s)))
    }
}

/// A channel's rate limit: at most `per_minute` sends in any minute.
#[derive(Debug, Clone, Default)]
pub struct RateWindow {
    per_minute: u32,
    sent: VecDeque<DateTime<Utc>>,
}

impl RateWindow {
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_minute: per_minute.max(1),
            sent: VecDeque::new(),
        }
    }

    fn forget(&mut self, now: DateTime<Utc>) {
        while self
            .sent
            .front()
            .is_some_and(|t| *t <= now - Duration::minutes(1))
        {
            self.sent.pop_front();
        }
    }

    /// Whether a send may leave at `now`; if so it is counted.
    pub fn admit(&mut self, now: DateTime<Utc>) -> bool {
        self.forget(now);
        if self.sent.len() >= self.per_minute as usize {
            return false;
        }
        self.sent.push_back(now);
        true
    }

    /// How many sends may leave at `now`.
    pub fn free(&mut self, now: DateTime<Utc>) -> usize {
        self.forget(now);
        (self.per_minute as usize).saturating_sub(self.sent.len())
    }

    /// When the next send may leave, from `now`.
    pub fn free_at(&mut self, now: DateTime<Utc>) -> DateTime<Utc> {
        self.forget(now);
        if self.sent.len() < self.per_minute as usize {
            return now;
        }
        self.sent.front().map_or(now, |t| *t + Duration::minutes(1))
    }
}

#[cfg(test)]
mod tests;
