//! `[notify]`: the channels alerts and cards reach supervisors' phones by,
//! and the routes that choose them. Checked into a `notify::Plan`; every
//! refusal names its field.

use std::collections::HashSet;

use chrono::NaiveTime;
use serde::Deserialize;

use super::{ConfigError, err};
use crate::domain::{CardKind, HallSpec, Rule, Severity};
use crate::notify::{Backoff, Channel, ChannelKind, Plan, Route, SMS_TEMPLATE};

/// `[notify]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifySettings {
    /// The address supervisors open the console at, as their phones reach
    /// it (`https://zwfw.example.gov.cn/hallwatch`): every message links to
    /// its alert there. Unset: messages carry no link.
    pub public_url: Option<String>,
    /// Seconds one send may take before it counts as failed. Default 10.
    pub timeout_s: u64,
    /// Seconds a channel may fail before `/healthz` names it (still
    /// answering 200). Default 300.
    pub failing_after_s: u64,
    /// PEM file of the CA certificate(s) that signed receivers' HTTPS
    /// certificates, for a gateway inside a government network. Unset: the
    /// system's CA certificates.
    pub ca_file: Option<std::path::PathBuf>,
    /// `[notify.retry]`: when a failed send is tried again.
    pub retry: RetrySettings,
    /// `[[notify.channels]]`.
    pub channels: Vec<ChannelSettings>,
    /// `[[notify.routes]]`: which alerts and cards go to which channel.
    pub routes: Vec<RouteSettings>,
}

impl Default for NotifySettings {
    fn default() -> Self {
        Self {
            public_url: None,
            timeout_s: 10,
            failing_after_s: 300,
            ca_file: None,
            retry: RetrySettings::default(),
            channels: Vec::new(),
            routes: Vec::new(),
        }
    }
}

/// `[notify.retry]`: the first wait, multiplied by `factor` after each
/// failure up to `max_s`, for `attempts` tries in all; then the
/// notification is `failed` and stays in the outbox for a person to see.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetrySettings {
    /// Default 5.
    pub first_s: i64,
    /// Default 2.
    pub factor: i64,
    /// Default 600.
    pub max_s: i64,
    /// Default 12 (with the defaults, about 51 minutes of trying).
    pub attempts: u32,
}

impl Default for RetrySettings {
    fn default() -> Self {
        let b = Backoff::default();
        Self {
            first_s: b.first_s,
            factor: b.factor,
            max_s: b.max_s,
            attempts: b.attempts,
        }
    }
}

/// `[[notify.channels]]`: one robot, webhook or SMS gateway.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelSettings {
    /// Routes name it; `/metrics` and `/healthz` show it.
    pub name: String,
    /// `dingtalk`, `wecom`, `webhook` or `sms`.
    pub kind: String,
    /// The robot's webhook address with its access token, or the
    /// receiver's address: `https://` (or `http://` inside a trusted
    /// network).
    pub url: String,
    /// `dingtalk`: the robot's signing secret (加签, `SEC…`); `webhook` and
    /// `sms`: the key of the `X-Hallwatch-Signature` header.
    pub secret: Option<String>,
    /// Messages a minute at most; more are merged into one digest.
    /// Default: 20 for the robots (their own limit), 60 for a webhook, 10
    /// for SMS.
    pub per_minute: Option<u32>,
    /// `sms`: the phone numbers it goes to.
    #[serde(default)]
    pub phones: Vec<String>,
    /// `sms`: the text, with `{title}`, `{severity}`, `{hall}`, `{place}`,
    /// `{what}`, `{since}` and `{link}`. Default
    /// `{title}：{what}，自{since}起。{link}`.
    pub template: Option<String>,
}

/// `[[notify.routes]]`: what goes to a channel.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSettings {
    /// The channel's name.
    pub channel: String,
    /// Hall ids; empty (default): every hall.
    #[serde(default)]
    pub halls: Vec<String>,
    /// Rule codes; empty (default): every rule.
    #[serde(default)]
    pub rules: Vec<String>,
    /// `notice`, `warning` (default) or `critical`.
    #[serde(default = "warning")]
    pub min_severity: String,
    /// Card kinds: `warning` (预警), `yellow` (黄牌), `red` (红牌).
    /// Default none.
    #[serde(default)]
    pub cards: Vec<String>,
    /// Quiet hours `["22:00", "07:30"]` in the hall's time: what is not
    /// critical (and no 红牌) waits for their end. Default none.
    pub quiet: Option<[String; 2]>,
    /// The wider list: only escalated alerts (a critical alert nobody
    /// acknowledged in time, a repeat finding) and 红牌 go to it.
    #[serde(default)]
    pub wider: bool,
}

fn warning() -> String {
    "warning".to_owned()
}

impl NotifySettings {
    /// Checked against the halls, as the plan the server runs.
    pub fn resolve(&self, halls: &[std::sync::Arc<HallSpec>]) -> Result<Plan, ConfigError> {
        if let Some(url) = &self.public_url {
            check_url(url, "notify.public_url")?;
            if url.contains(['?', '#']) {
                return Err(err(
                    "notify.public_url",
                    "must be the console's base address, without a query or fragment",
                ));
            }
        }
        if !(1..=120).contains(&self.timeout_s) {
            return Err(err("notify.timeout_s", "must be 1 to 120"));
        }
        if !(1..=86_400).contains(&self.failing_after_s) {
            return Err(err("notify.failing_after_s", "must be 1 to 86400 (a day)"));
        }
        let r = &self.retry;
        if !(1..=3600).contains(&r.first_s) {
            return Err(err("notify.retry.first_s", "must be 1 to 3600"));
        }
        if !(1..=10).contains(&r.factor) {
            return Err(err("notify.retry.factor", "must be 1 to 10"));
        }
        if r.max_s < r.first_s || r.max_s > 86_400 {
            return Err(err(
                "notify.retry.max_s",
                "must be at least first_s and at most 86400 (a day)",
            ));
        }
        if !(1..=100).contains(&r.attempts) {
            return Err(err("notify.retry.attempts", "must be 1 to 100"));
        }
        let mut names = HashSet::new();
        let mut channels = Vec::new();
        for (i, c) in self.channels.iter().enumerate() {
            let at = format!("notify.channels[{i}]");
            if c.name.trim().is_empty() || c.name.contains(['/', ' ']) {
                return Err(err(
                    format!("{at}.name"),
                    "must be a name without spaces or '/'",
                ));
            }
            if !names.insert(c.name.clone()) {
                return Err(err(
                    format!("{at}.name"),
                    format!("duplicate channel {:?}", c.name),
                ));
            }
            let kind = ChannelKind::ALL
                .into_iter()
                .find(|k| k.code() == c.kind)
                .ok_or_else(|| {
                    err(
                        format!("{at}.kind"),
                        format!("{:?} is not dingtalk, wecom, webhook or sms", c.kind),
                    )
                })?;
            check_url(&c.url, &format!("{at}.url"))?;
            if c.secret.as_deref().is_some_and(|s| s.trim().is_empty()) {
                return Err(err(
                    format!("{at}.secret"),
                    "must not be empty (leave it out for none)",
                ));
            }
            if kind == ChannelKind::Wecom && c.secret.is_some() {
                return Err(err(
                    format!("{at}.secret"),
                    "a WeCom robot has no signing secret: its key is in the url",
                ));
            }
            let per_minute = c.per_minute.unwrap_or(kind.default_per_minute());
            let most = match kind {
                ChannelKind::Dingtalk | ChannelKind::Wecom => kind.default_per_minute(),
                _ => 6000,
            };
            if !(1..=most).contains(&per_minute) {
                return Err(err(
                    format!("{at}.per_minute"),
                    format!("must be 1 to {most} for a {} channel", kind.code()),
                ));
            }
            if kind == ChannelKind::Sms {
                if c.phones.is_empty() {
                    return Err(err(format!("{at}.phones"), "list the numbers it goes to"));
                }
                for (j, p) in c.phones.iter().enumerate() {
                    let digits = p.strip_prefix('+').unwrap_or(p);
                    if digits.len() < 5
                        || digits.len() > 15
                        || !digits.bytes().all(|b| b.is_ascii_digit())
                    {
                        return Err(err(
                            format!("{at}.phones[{j}]"),
                            format!("{p:?} is not a phone number (digits, + in front allowed)"),
                        ));
                    }
                }
            } else if !c.phones.is_empty() {
                return Err(err(format!("{at}.phones"), "is for an sms channel"));
            } else if c.template.is_some() {
                return Err(err(format!("{at}.template"), "is for an sms channel"));
            }
            let template = c
                .template
                .clone()
                .unwrap_or_else(|| SMS_TEMPLATE.to_owned());
            let unknown = crate::notify::unknown_placeholders(&template);
            if !unknown.is_empty() {
                return Err(err(
                    format!("{at}.template"),
                    format!(
                        "{{{}}} is not one of {{{}}}",
                        unknown.join("}, {"),
                        crate::notify::Facts::NAMES.join("}, {")
                    ),
                ));
            }
            channels.push(Channel {
                name: c.name.clone(),
                kind,
                url: c.url.clone(),
                secret: c.secret.clone(),
                per_minute,
                phones: c.phones.clone(),
                template,
            });
        }
        let mut routes = Vec::new();
        for (i, r) in self.routes.iter().enumerate() {
            routes.push(route(r, &format!("notify.routes[{i}]"), &names, halls)?);
        }
        if !channels.is_empty() && routes.is_empty() {
            return Err(err(
                "notify.routes",
                "channels are configured but no [[notify.routes]] sends anything to them",
            ));
        }
        for (i, c) in channels.iter().enumerate() {
            if !routes.iter().any(|r| r.channel == c.name) {
                return Err(err(
                    format!("notify.channels[{i}].name"),
                    format!("no [[notify.routes]] sends to {:?}", c.name),
                ));
            }
        }
        Ok(Plan {
            public_url: self.public_url.clone(),
            channels,
            routes,
            backoff: Backoff {
                first_s: r.first_s,
                factor: r.factor,
                max_s: r.max_s,
                attempts: r.attempts,
            },
            timeout: std::time::Duration::from_secs(self.timeout_s),
            failing_after: chrono::Duration::seconds(self.failing_after_s as i64),
            zones: halls.iter().map(|h| (h.id.to_string(), h.tz)).collect(),
        })
    }
}

fn check_url(url: &str, field: &str) -> Result<(), ConfigError> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| err(field, "must start with https:// (or http://)"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    // The address is not echoed: it may hold an access token.
    if authority.contains('@') {
        return Err(err(
            field,
            "must not carry a user name or password before the host",
        ));
    }
    if authority.is_empty() || url.parse::<hyper::Uri>().is_err() {
        return Err(err(field, "is not an address like https://host/path"));
    }
    Ok(())
}

fn route(
    r: &RouteSettings,
    at: &str,
    channels: &HashSet<String>,
    halls: &[std::sync::Arc<HallSpec>],
) -> Result<Route, ConfigError> {
    if !channels.contains(&r.channel) {
        return Err(err(
            format!("{at}.channel"),
            format!("no [[notify.channels]] is named {:?}", r.channel),
        ));
    }
    for h in &r.halls {
        if !halls.iter().any(|s| s.id.as_str() == h) {
            return Err(err(format!("{at}.halls"), format!("unknown hall {h:?}")));
        }
    }
    let rules = r
        .rules
        .iter()
        .map(|code| {
            Rule::ALL
                .into_iter()
                .find(|r| r.code() == code)
                .ok_or_else(|| {
                    err(
                        format!("{at}.rules"),
                        format!("{code:?} is not a rule code"),
                    )
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let min_severity = Severity::ALL
        .iter()
        .copied()
        .find(|v| v.code() == r.min_severity)
        .ok_or_else(|| {
            err(
                format!("{at}.min_severity"),
                format!("{:?} is not notice, warning or critical", r.min_severity),
            )
        })?;
    let cards = r
        .cards
        .iter()
        .map(|k| {
            CardKind::ALL
                .iter()
                .copied()
                .find(|c| c.code() == k)
                .ok_or_else(|| {
                    err(
                        format!("{at}.cards"),
                        format!("{k:?} is not warning, yellow or red"),
                    )
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let quiet = match &r.quiet {
        None => None,
        Some([from, to]) => {
            let t = |s: &str| {
                NaiveTime::parse_from_str(s, "%H:%M").map_err(|_| {
                    err(
                        format!("{at}.quiet"),
                        format!("{s:?} is not a time like \"22:00\""),
                    )
                })
            };
            let (from, to) = (t(from)?, t(to)?);
            if from == to {
                return Err(err(
                    format!("{at}.quiet"),
                    "the quiet hours must not start and end at the same time",
                ));
            }
            Some((from, to))
        }
    };
    Ok(Route {
        channel: r.channel.clone(),
        halls: r.halls.clone(),
        rules,
        min_severity,
        cards,
        quiet,
        wider: r.wider,
    })
}

/// The TLS settings the channels are reached with: `notify.ca_file`, or the
/// system's CA certificates.
pub(super) fn client_tls(
    n: &NotifySettings,
) -> Result<std::sync::Arc<rustls::ClientConfig>, ConfigError> {
    let needed = n.channels.iter().any(|c| c.url.starts_with("https://"));
    super::tls::https_client_config(n.ca_file.as_deref(), "notify.ca_file", needed)
}
