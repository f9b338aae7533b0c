//! What screens show: read-only views of a hall, ready to serialise.
//!
//! The display views carry ticket numbers, service and window names and the
//! on-duty staff member's display name and number, nothing about citizens.

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use serde::Serialize;

use super::hall::{CallRecord, Hall, WindowStatus};
use super::ids::{HallId, ServiceCode, StaffId, TicketNo, WindowId};
use super::spec::{HallLevel, WindowKind};

/// A hall's identity.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct HallInfo {
    pub id: HallId,
    pub name: String,
    pub level: HallLevel,
}

/// One window on a screen.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct WindowView {
    pub id: WindowId,
    pub name: String,
    pub zone: Option<String>,
    pub kind: WindowKind,
    pub status: WindowStatus,
    pub ticket: Option<TicketNo>,
    pub staff: Option<StaffId>,
    pub staff_name: Option<String>,
    pub since: DateTime<FixedOffset>,
    pub services: Vec<ServiceCode>,
    pub served_today: u32,
    pub benchmark: u32,
    /// `served_today / benchmark`: 1.0 is a full day's benchmark.
    pub load: f64,
}

/// One service's queue on a screen.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct QueueView {
    pub service: ServiceCode,
    pub name: String,
    pub prefix: String,
    pub waiting: usize,
}

/// One call on a screen.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CallView {
    pub ticket: TicketNo,
    pub window: WindowId,
    pub window_name: String,
    pub service: ServiceCode,
    pub service_name: String,
    pub at: DateTime<FixedOffset>,
    pub recall: bool,
}

/// Everything a wall or window screen needs to draw itself.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DisplaySnapshot {
    pub hall: HallInfo,
    pub date: NaiveDate,
    pub windows: Vec<WindowView>,
    pub queues: Vec<QueueView>,
    /// The last ten calls, newest first.
    pub calls: Vec<CallView>,
    pub at: DateTime<FixedOffset>,
}

/// The hall's key figures for integrations and region dashboards: the
/// retained `{prefix}/{hall}/summary` topic.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SummaryView {
    pub hall: HallId,
    pub name: String,
    pub date: NaiveDate,
    pub at: DateTime<FixedOffset>,
    /// Waiting tickets per service code.
    pub waiting: std::collections::BTreeMap<ServiceCode, usize>,
    /// Tickets issued today.
    pub issued_today: usize,
    /// Tickets finished today, at every window.
    pub served_today: u32,
    /// Windows with staff logged in and not paused.
    pub windows_open: usize,
    pub windows_total: usize,
    /// Alerts open or acknowledged.
    pub alerts_open: usize,
}

/// An alert as supervisors' screens and integrations see it (the `alert`
/// message of the contract).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AlertView {
    pub id: String,
    pub rule: super::alert::Rule,
    pub severity: super::alert::Severity,
    pub state: super::alert::AlertState,
    pub hall: HallId,
    pub hall_name: String,
    pub window: Option<WindowId>,
    pub window_name: Option<String>,
    pub ticket: Option<TicketNo>,
    pub service: Option<ServiceCode>,
    pub service_name: Option<String>,
    pub message: String,
    pub opened_at: DateTime<FixedOffset>,
    pub updated_at: DateTime<FixedOffset>,
    pub escalated: bool,
    pub escalated_at: Option<DateTime<FixedOffset>>,
    pub acked_by: Option<String>,
    pub acked_at: Option<DateTime<FixedOffset>>,
    pub ack_note: Option<String>,
    pub resolved_by: Option<String>,
    pub resolved_at: Option<DateTime<FixedOffset>>,
    pub resolve_note: Option<String>,
}

impl Hall {
    fn local_time(&self, at: DateTime<Utc>) -> DateTime<FixedOffset> {
        self.spec.local(at).fixed_offset()
    }

    pub fn info(&self) -> HallInfo {
        HallInfo {
            id: self.spec.id.clone(),
            name: self.spec.name.clone(),
            level: self.spec.level,
        }
    }

    pub fn window_view(&self, w: usize) -> WindowView {
        let spec = &self.spec.windows[w];
        let state = &self.windows[w];
        WindowView {
            id: spec.id.clone(),
            name: spec.name.clone(),
            zone: spec.zone.clone(),
            kind: spec.kind,
            status: self.window_status(w),
            ticket: state.current.map(|t| self.tickets[t].no.clone()),
            staff: state.staff.as_ref().map(|s| s.id.clone()),
            staff_name: state.staff.as_ref().and_then(|s| s.name.clone()),
            since: self.local_time(state.since),
            services: spec
                .services
                .iter()
                .map(|&s| self.spec.services[s].code.clone())
                .collect(),
            served_today: state.served_today,
            benchmark: spec.benchmark,
            load: self.load(w),
        }
    }

    pub fn queue_view(&self, s: usize) -> QueueView {
        let spec = &self.spec.services[s];
        QueueView {
            service: spec.code.clone(),
            name: spec.name.clone(),
            prefix: spec.prefix.clone(),
            waiting: self.waiting(s),
        }
    }

    pub fn call_view(&self, call: &CallRecord) -> CallView {
        let ticket = &self.tickets[call.ticket];
        let window = &self.spec.windows[call.window];
        let service = &self.spec.services[ticket.service];
        CallView {
            ticket: ticket.no.clone(),
            window: window.id.clone(),
            window_name: window.name.clone(),
            service: service.code.clone(),
            service_name: service.name.clone(),
            at: self.local_time(call.at),
            recall: call.recall,
        }
    }

    pub fn summary(&self, now: DateTime<Utc>) -> SummaryView {
        SummaryView {
            hall: self.spec.id.clone(),
            name: self.spec.name.clone(),
            date: self.day,
            at: self.local_time(now),
            waiting: (0..self.spec.services.len())
                .map(|s| (self.spec.services[s].code.clone(), self.waiting(s)))
                .collect(),
            issued_today: self.tickets.len(),
            served_today: self.windows.iter().map(|w| w.served_today).sum(),
            windows_open: self
                .windows
                .iter()
                .filter(|w| w.staff.is_some() && w.paused.is_none())
                .count(),
            windows_total: self.windows.len(),
            alerts_open: self.open_alerts.len(),
        }
    }

    pub fn alert_view(&self, a: &super::alert::Alert) -> AlertView {
        let t = |at: DateTime<Utc>| self.local_time(at);
        let window = a
            .window
            .as_ref()
            .and_then(|id| self.spec.window_index(id))
            .map(|w| &self.spec.windows[w]);
        let service = a
            .service
            .as_ref()
            .and_then(|c| self.spec.service_index(c))
            .map(|s| &self.spec.services[s]);
        AlertView {
            id: a.id.clone(),
            rule: a.rule,
            severity: a.severity,
            state: a.state,
            hall: self.spec.id.clone(),
            hall_name: self.spec.name.clone(),
            window: a.window.clone(),
            window_name: window.map(|w| w.name.clone()),
            ticket: a.ticket.clone(),
            service: a.service.clone(),
            service_name: service.map(|s| s.name.clone()),
            message: a.message.clone(),
            opened_at: t(a.opened_at),
            updated_at: t(a.updated_at),
            escalated: a.escalated_at.is_some(),
            escalated_at: a.escalated_at.map(t),
            acked_by: a.acknowledged.as_ref().map(|x| x.by.clone()),
            acked_at: a.acknowledged.as_ref().map(|x| t(x.at)),
            ack_note: a.acknowledged.as_ref().and_then(|x| x.note.clone()),
            resolved_by: a.resolved.as_ref().map(|x| x.by.clone()),
            resolved_at: a.resolved.as_ref().map(|x| t(x.at)),
            resolve_note: a.resolved.as_ref().and_then(|x| x.note.clone()),
        }
    }

    /// Alerts for the supervisors' console: active ones, and those resolved
    /// on the hall's current day.
    pub fn alert_views(&self) -> Vec<AlertView> {
        self.alerts
            .iter()
            .filter(|a| {
                a.is_active()
                    || a.resolved
                        .as_ref()
                        .is_some_and(|r| self.spec.local_date(r.at) == self.day)
            })
            .map(|a| self.alert_view(a))
            .collect()
    }

    pub fn display_snapshot(&self, now: DateTime<Utc>) -> DisplaySnapshot {
        DisplaySnapshot {
            hall: self.info(),
            date: self.day,
            windows: (0..self.spec.windows.len())
                .map(|w| self.window_view(w))
                .collect(),
            queues: (0..self.spec.services.len())
                .map(|s| self.queue_view(s))
                .collect(),
            calls: self.calls.iter().map(|c| self.call_view(c)).collect(),
            at: self.local_time(now),
        }
    }
}
