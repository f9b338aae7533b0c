//! Alerts of electronic efficiency supervision (电子效能监察) and their life:
//! `open` → `acknowledged` → `resolved`.
//!
//! Rules (see `rules/`) look at the hall and say what is wrong now, as
//! findings. `Hall::supervise` (`lifecycle.rs`) reconciles findings with the alerts: at most one
//! open alert per (rule, subject); a finding of higher severity raises the
//! alert; a condition that clears resolves its alert by itself, except a bad
//! review, which needs a person's note. Times come from the findings (when a
//! threshold was crossed), never from when the check ran, so a replay of the
//! log rebuilds the same alerts.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::ids::{DeviceId, ServiceCode, StaffId, TicketNo, WindowId};
pub use super::rules::Rule;

impl Subject {
    /// A short text for ids.
    pub fn key(&self) -> String {
        match self {
            Subject::Ticket(_, no) => no.to_string(),
            Subject::Window(w) => format!("w{w}"),
            Subject::Service(s) => format!("s{s}"),
            Subject::Device(d) => format!("d{d}"),
            Subject::Hall => "hall".into(),
            Subject::Staff(id) => format!("p{id}"),
            Subject::Department(code) => format!("u{code}"),
        }
    }
}

code_enum! {
/// How serious a floor alert is: `notice` 提示, `warning` 警告, `critical`
/// 严重. (黄牌 and 红牌 are not severities: they are disciplinary cards
/// against a department or a person.)
pub enum Severity: PartialOrd, Ord {
    Notice,
    Warning,
    Critical,
}
}

impl Severity {
    /// Its name on screens.
    pub fn name(self) -> &'static str {
        match self {
            Severity::Notice => "提示",
            Severity::Warning => "警告",
            Severity::Critical => "严重",
        }
    }
}

code_enum! {
/// Where an alert is in its life: `open`, then `acknowledged` by a
/// supervisor, then `resolved`, by a supervisor or by itself when its
/// condition clears.
pub enum AlertState {
    Open,
    Acknowledged,
    Resolved,
}
}

impl AlertState {
    /// Its name on screens.
    pub fn name(self) -> &'static str {
        match self {
            AlertState::Open => "待处理",
            AlertState::Acknowledged => "已确认",
            AlertState::Resolved => "已办结",
        }
    }
}

/// What an alert is about. One open alert per rule and subject.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Subject {
    /// A ticket of a day: numbers restart every day.
    Ticket(chrono::NaiveDate, TicketNo),
    Window(WindowId),
    Service(ServiceCode),
    Device(DeviceId),
    /// The hall as a whole (a share of the day's tickets).
    Hall,
    /// A staff member, by 工号 (repeat lapses in a month).
    Staff(StaffId),
    /// A department, by code (repeat 红牌 in a month).
    Department(String),
}

/// Who did something to an alert, when, and what they wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Action {
    pub by: String,
    pub at: DateTime<Utc>,
    pub note: Option<String>,
}

/// What a rule finds wrong right now.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub rule: Rule,
    pub subject: Subject,
    pub severity: Severity,
    /// When the condition reached this severity.
    pub since: DateTime<Utc>,
    /// When the condition first reached its lowest severity: the alert's
    /// opening time, whether or not anyone looked before it rose.
    pub opened: DateTime<Utc>,
    /// Its figures, put into words (`Rule::say`) only for an alert that
    /// opens or rises.
    pub facts: Facts,
    pub window: Option<WindowId>,
    pub ticket: Option<TicketNo>,
    pub service: Option<ServiceCode>,
}

/// The figures of a finding, in the rule's own terms: on most checks
/// nothing a rule finds is new (the same windows are still over the
/// benchmark, the same tickets still wait too long), so a finding carries
/// these and its rule puts them into words only when an alert opens or
/// rises. Indexes point into the hall's spec and today's tickets, valid
/// during the check that found them.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Facts {
    pub window: Option<usize>,
    pub ticket: Option<usize>,
    pub service: Option<usize>,
    /// The limit crossed, in minutes.
    pub minutes: i64,
    /// A count: tickets waiting, cases served, no-shows, ratings.
    pub count: i64,
    /// What `count` is out of.
    pub total: i64,
    /// A ratio: load, rated share, windows open.
    pub ratio: f64,
    /// For a rule whose alert keeps a tally (`Rule::tallies`): the instant
    /// its figures are as of, when time alone moved them (the last ticket
    /// to pass a wait limit); None when only inputs move them.
    pub at: Option<DateTime<Utc>>,
}

/// The most tickets an alert lists beside its own `ticket`: the alert
/// message stays well under the 4,096 bytes of an MQTT payload.
pub const MAX_LISTED: usize = 20;

/// An alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Alert {
    /// `{hall}-{yyyymmdd}-{hhmmss}-{rule}-{subject}`: made of what the alert
    /// is, not of the order alerts opened in, so a replay gives every alert
    /// the same id even if it sees more or fewer alerts than the live run.
    pub id: String,
    pub rule: Rule,
    pub severity: Severity,
    pub state: AlertState,
    pub subject: Subject,
    pub window: Option<WindowId>,
    pub ticket: Option<TicketNo>,
    pub service: Option<ServiceCode>,
    /// For a rule that tallies (`Rule::tallies`): how many its alert is
    /// about now (tickets over the wait limit, suspicious ratings, green
    /// tickets); None for other rules.
    pub count: Option<u32>,
    /// Beside `ticket`, the next tickets the alert is about, longest
    /// waiting first, at most [`MAX_LISTED`].
    pub tickets: Vec<TicketNo>,
    pub message: String,
    pub opened_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When it became critical.
    pub critical_at: Option<DateTime<Utc>>,
    /// Critical and not acknowledged in time: sent to wider scopes.
    pub escalated_at: Option<DateTime<Utc>>,
    pub acknowledged: Option<Action>,
    pub resolved: Option<Action>,
}

impl Alert {
    pub fn is_active(&self) -> bool {
        self.state != AlertState::Resolved
    }

    pub(super) fn from_finding(id: String, f: Finding, message: String) -> Self {
        Self {
            id,
            rule: f.rule,
            severity: f.severity,
            state: AlertState::Open,
            subject: f.subject,
            window: f.window,
            ticket: f.ticket,
            service: f.service,
            count: None,
            tickets: Vec::new(),
            message,
            opened_at: f.opened,
            updated_at: f.since,
            critical_at: (f.severity == Severity::Critical).then_some(f.since),
            escalated_at: None,
            acknowledged: None,
            resolved: None,
        }
    }

    /// Whether a finding raises this alert: it is more severe.
    pub(super) fn rises(&self, f: &Finding) -> bool {
        f.severity > self.severity
    }

    /// Whether a finding moves the tally of this alert without raising
    /// it: its rule tallies, and the count or the longest waiter changed.
    pub(super) fn tally_moved(&self, f: &Finding) -> bool {
        f.rule.tallies()
            && (self.count != Some(u32::try_from(f.facts.count).unwrap_or(u32::MAX))
                || self.ticket != f.ticket)
    }

    /// A finding of higher severity raises the same alert, with the
    /// finding's `message`. An alert that turns critical is open again
    /// even if its warning was acknowledged: the red card itself must be
    /// acknowledged (or it escalates); the earlier acknowledgement stays on
    /// record.
    pub(super) fn raise(&mut self, f: &Finding, message: String) -> bool {
        if !self.rises(f) {
            return false;
        }
        self.severity = f.severity;
        self.message = message;
        self.updated_at = f.since;
        if f.severity == Severity::Critical {
            self.critical_at = Some(f.since);
            if self.state == AlertState::Acknowledged {
                self.state = AlertState::Open;
            }
        }
        true
    }

    /// Critical, open and not escalated yet: it escalates unless someone
    /// acknowledges it in time.
    pub(super) fn may_escalate(&self) -> bool {
        self.critical_at.is_some() && self.escalated_at.is_none() && self.state == AlertState::Open
    }

    /// Escalates a critical alert nobody acknowledged within `after`; true
    /// when it changed.
    pub(super) fn escalate(&mut self, now: DateTime<Utc>, after: Duration) -> bool {
        let Some(critical) = self.critical_at else {
            return false;
        };
        if self.escalated_at.is_some() || self.state != AlertState::Open {
            return false;
        }
        let due = critical + after;
        if now < due {
            return false;
        }
        self.escalated_at = Some(due);
        // A tally may have moved it later, at an instant past the due one.
        self.updated_at = self.updated_at.max(due);
        true
    }
}

/// What a supervisor does to an alert: `ack` acknowledges an open one,
/// `resolve` resolves an open or acknowledged one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlertOp {
    Ack,
    Resolve,
}

/// Why a supervisor's op was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertRefusal {
    UnknownAlert,
    AlreadyResolved,
    AlreadyAcknowledged,
    NoteRequired,
    NoteTooLong,
}

impl AlertRefusal {
    pub fn code(self) -> &'static str {
        match self {
            AlertRefusal::UnknownAlert => "unknown_alert",
            AlertRefusal::AlreadyResolved => "already_resolved",
            AlertRefusal::AlreadyAcknowledged => "already_acknowledged",
            AlertRefusal::NoteRequired => "note_required",
            AlertRefusal::NoteTooLong => "note_too_long",
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            AlertRefusal::UnknownAlert => "告警不存在",
            AlertRefusal::AlreadyResolved => "告警已办结",
            AlertRefusal::AlreadyAcknowledged => "告警已确认",
            AlertRefusal::NoteRequired => "差评告警须填写回访或整改情况",
            AlertRefusal::NoteTooLong => "备注不能超过 500 字",
        }
    }
}

/// The hall an alert id belongs to, of `halls`: alert ids start with their
/// hall's id and a `-`, so the longest hall id that fits.
pub fn hall_of_alert<T>(
    alert: &str,
    halls: impl IntoIterator<Item = T>,
    id: impl Fn(&T) -> &str,
) -> Option<T> {
    halls
        .into_iter()
        .filter(|h| {
            alert
                .strip_prefix(id(h))
                .is_some_and(|rest| rest.starts_with('-'))
        })
        .max_by_key(|h| id(h).len())
}
