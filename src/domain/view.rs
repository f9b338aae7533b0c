//! What screens show: read-only views of a hall, ready to serialise.
//!
//! The display views carry ticket numbers, service and window names and the
//! on-duty staff member's display name and number, nothing about citizens.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, Utc};
use serde::Serialize;

use super::hall::{CallRecord, Hall, WindowStatus};
use super::ids::{HallId, ServiceCode, StaffId, TicketNo, WindowId};
use super::spec::{HallLevel, WindowKind};

/// A hall's identity.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct HallInfo {
    pub id: HallId,
    /// The hall's display name, e.g. 吉林市政务服务中心.
    pub name: String,
    pub level: HallLevel,
}

/// One window on a public screen (the display channel and the public
/// snapshot): what a citizen may see, and nothing more. A window's load and
/// counts are on the managers' channel only.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct DisplayWindow {
    pub id: WindowId,
    /// The window's display name, e.g. 5号窗口.
    pub name: String,
    /// The floor or area of the hall, when configured.
    pub zone: Option<String>,
    pub kind: WindowKind,
    pub status: WindowStatus,
    /// The current ticket, if any.
    pub ticket: Option<TicketNo>,
    /// The logged-in staff member's number (工号).
    pub staff: Option<StaffId>,
    /// The logged-in staff member's display name, when the terminal gave one.
    pub staff_name: Option<String>,
    /// When the window entered its current status.
    pub since: DateTime<FixedOffset>,
    /// The services this window serves.
    pub services: Vec<ServiceCode>,
}

/// One window as managers and devices see it: the public view and its
/// count against the benchmark.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct WindowView {
    #[serde(flatten)]
    pub display: DisplayWindow,
    /// Tickets finished at this window today.
    pub served_today: u32,
    /// Cases (件) those tickets handled: each its `items`, a consultation
    /// none.
    pub cases_today: u32,
    /// Cases (or people, by `benchmark_counts`) per day expected of this
    /// window.
    pub benchmark: u32,
    /// What `benchmark` counts: `cases`, or `people` (tickets finished).
    pub benchmark_counts: super::spec::BenchmarkUnit,
    /// `cases_today / benchmark` (`served_today / benchmark` when the
    /// benchmark counts people): 1.0 is a full day's benchmark.
    pub load: f64,
}

/// One service's queue on a screen.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct QueueView {
    pub service: ServiceCode,
    /// The service's display name, e.g. 社会保障.
    pub name: String,
    /// The ticket prefix of the service.
    #[schema(pattern = "^[A-Z]{1,3}$")]
    pub prefix: String,
    /// Tickets waiting now.
    pub waiting: usize,
    /// Seconds a ticket taken now would likely wait (docs/domain.md,
    /// "Estimated waits").
    pub estimated_wait_s: u32,
}

/// One call of a ticket to a window.
#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema, utoipa::ToSchema)]
pub struct CallView {
    pub ticket: TicketNo,
    pub window: WindowId,
    /// The window's display name, e.g. 5号窗口.
    pub window_name: String,
    pub service: ServiceCode,
    /// The service's display name, e.g. 社会保障.
    pub service_name: String,
    /// When the call was made.
    pub at: DateTime<FixedOffset>,
    /// An announcement of the same call again (recall), not a new call.
    pub recall: bool,
    /// The ticket is an appointment's (预约), checked in at a kiosk.
    pub appointment: bool,
}

/// Everything a wall or window screen needs to draw itself. Ticket numbers
/// only: no citizen data.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct DisplaySnapshot {
    pub hall: HallInfo,
    /// The hall's current local day.
    pub date: NaiveDate,
    /// Every window, in configuration order.
    pub windows: Vec<DisplayWindow>,
    /// Every service's queue, in configuration order.
    pub queues: Vec<QueueView>,
    /// The last ten calls, newest first.
    #[schema(max_items = 10)]
    pub calls: Vec<CallView>,
    /// Today's office hours, in order (`09:00-12:00`); the gaps between
    /// them are the lunch break. Empty: closed today.
    pub hours: Vec<String>,
    /// 停止取号: when walk-in tickets stop today (`17:00`); null without a
    /// cut-off.
    pub stop_issuing_at: Option<String>,
    /// When the snapshot was taken.
    pub at: DateTime<FixedOffset>,
}

/// The hall's key figures for integrations and region dashboards: the
/// retained `{prefix}/{hall}/summary` topic.
#[derive(
    Debug, Clone, Serialize, serde::Deserialize, PartialEq, schemars::JsonSchema, utoipa::ToSchema,
)]
pub struct SummaryView {
    pub hall: HallId,
    /// The hall's display name.
    pub name: String,
    /// Where the hall is in the administrative divisions, from the
    /// province down (省 / 市 / 县区 / 乡镇街道 / 村社区); empty when the
    /// configuration gives none.
    pub region: Vec<super::spec::RegionLevel>,
    /// The hall's current local day.
    pub date: NaiveDate,
    /// When the figures were taken.
    pub at: DateTime<FixedOffset>,
    /// Waiting tickets per service code.
    #[schemars(with = "std::collections::BTreeMap<String, usize>")]
    pub waiting: std::collections::BTreeMap<ServiceCode, usize>,
    /// Tickets issued today.
    pub issued_today: usize,
    /// Tickets finished today, at every window.
    pub served_today: u32,
    /// Cases (件) those tickets handled: each its `items`, a consultation
    /// none.
    pub cases_today: u32,
    /// Windows with staff logged in and not paused.
    pub windows_open: usize,
    pub windows_total: usize,
    /// Windows on duty now (that must be staffed).
    pub windows_on_duty: usize,
    /// Of those, windows with nobody logged in (空岗).
    pub windows_unattended: usize,
    /// Alerts open or acknowledged.
    pub alerts_open: usize,
    /// Active alerts per severity (`notice`, `warning`, `critical`); a
    /// severity without any is absent.
    #[schema(value_type = std::collections::BTreeMap<super::alert::Severity, usize>)]
    #[serde(deserialize_with = "severity_keys")]
    pub alerts_by_severity: std::collections::BTreeMap<&'static str, usize>,
    /// What the windows that called today finished, each in the unit its
    /// benchmark counts, ÷ their benchmarks.
    #[schema(minimum = 0)]
    pub load: Option<f64>,
    /// How long the longest-waiting ticket has waited now, in office time
    /// since it joined its queue.
    #[schema(minimum = 0)]
    pub longest_wait_s: i64,
    /// Mean wait of today's calls.
    #[schema(minimum = 0)]
    pub avg_wait_s: Option<f64>,
    /// 满意率 today.
    #[schema(minimum = 0, maximum = 1)]
    pub satisfaction_rate: Option<f64>,
    /// Staffing advice that asks for a change.
    pub advice: Vec<String>,
    /// 限时办结 cards issued this month that stand (not withdrawn), per
    /// colour (`yellow` 黄牌, `red` 红牌); a colour without any is absent.
    #[schema(value_type = std::collections::BTreeMap<String, usize>)]
    #[serde(default, deserialize_with = "card_keys")]
    pub cards_month: std::collections::BTreeMap<&'static str, usize>,
}

/// A summary's counts keyed by code, read back (a summary another
/// instance published): each key one of `codes`, any other dropped.
fn known_keys<'de, D: serde::Deserializer<'de>>(
    d: D,
    codes: impl Iterator<Item = &'static str>,
) -> Result<std::collections::BTreeMap<&'static str, usize>, D::Error> {
    let read: std::collections::BTreeMap<String, usize> = serde::Deserialize::deserialize(d)?;
    let codes: Vec<&'static str> = codes.collect();
    Ok(read
        .into_iter()
        .filter_map(|(k, n)| codes.iter().find(|c| **c == k).map(|c| (*c, n)))
        .collect())
}

fn severity_keys<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<std::collections::BTreeMap<&'static str, usize>, D::Error> {
    known_keys(d, super::alert::Severity::ALL.iter().map(|s| s.code()))
}

fn card_keys<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<std::collections::BTreeMap<&'static str, usize>, D::Error> {
    known_keys(d, super::cases::CardKind::ALL.iter().map(|k| k.code()))
}

/// A window tile on the manager's dashboard: the display view plus its
/// load and today's figures (the `load` message of the dashboard channel).
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct DashWindow {
    #[serde(flatten)]
    pub window: WindowView,
    /// Calls of a ticket to this window today.
    pub called_today: u32,
    /// Of those, how many ended 过号 (no-show).
    pub missed_today: u32,
    /// Mean service seconds today.
    #[schema(minimum = 0)]
    pub avg_service_s: Option<f64>,
    /// 满意率 today.
    #[schema(minimum = 0, maximum = 1)]
    pub satisfaction_rate: Option<f64>,
    /// 评价率 today.
    #[schema(minimum = 0)]
    pub rating_rate: Option<f64>,
    /// Office seconds today in each status, the current one up to now.
    #[schema(value_type = std::collections::BTreeMap<WindowStatus, i64>)]
    pub status_s: std::collections::BTreeMap<String, i64>,
    /// Whether the window is on duty now (must be staffed).
    pub on_duty: bool,
    /// Its rostered shift now, else its next one today, else its last one
    /// today; None when it has no rostered shift today.
    pub shift: Option<ShiftView>,
    /// How its rostered A角 kept today's shifts so far; None without one.
    pub attendance: Option<super::duty::Attendance>,
    /// The department (进驻单位) of its services, when they share one.
    pub department_name: Option<String>,
}

/// A rostered shift of a window as the dashboard shows it.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct ShiftView {
    pub start: DateTime<FixedOffset>,
    pub end: DateTime<FixedOffset>,
    /// The A角, who keeps the shift.
    pub a: Option<RosterStaff>,
    /// The B角, who covers when the A角 is away.
    pub b: Option<RosterStaff>,
}

/// A registered staff member named on a rota.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct RosterStaff {
    /// 工号.
    #[schema(value_type = String)]
    pub id: StaffId,
    pub name: String,
}

/// A service's queue on the manager's dashboard (the `queue` message).
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct DashQueue {
    #[serde(flatten)]
    pub queue: QueueView,
    /// How long the longest-waiting ticket has waited now, in office time
    /// since it joined the queue (0 when none waits).
    #[schema(minimum = 0)]
    pub longest_wait_s: i64,
    /// Since when it has waited, so a screen can count on by itself.
    pub longest_since: Option<DateTime<FixedOffset>>,
    /// Mean wait of today's calls of this service.
    #[schema(minimum = 0)]
    pub avg_wait_s: Option<f64>,
    /// Longest wait of today's calls, in seconds.
    #[schema(minimum = 0)]
    pub max_wait_s: Option<i64>,
    /// Tickets of this service issued today.
    pub issued_today: u32,
    /// Tickets of this service finished today.
    pub served_today: u32,
    /// Open windows (staffed, not paused) that serve it, each whole.
    pub windows_open: u32,
    /// The department (进驻单位) the service belongs to.
    pub department_name: Option<String>,
}

/// The hall's key figures today (the `kpi` message): the hall row of the
/// day's figures plus live counts.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct KpiView {
    #[serde(flatten)]
    pub figures: super::stats::Figures,
    /// Tickets waiting now.
    pub waiting: usize,
    /// Windows with staff logged in and not paused.
    pub windows_open: usize,
    pub windows_total: usize,
    /// Staff logged in now.
    pub staff_on_duty: usize,
    /// Alerts open or acknowledged.
    pub alerts_open: usize,
    /// Today's appointments (预约).
    pub appointments: super::booking::AppointmentFigures,
    /// Hours 0 to 23.
    #[schema(min_items = 24, max_items = 24)]
    pub hourly: Vec<super::stats::HourFigures>,
}

/// Everything a manager's dashboard needs to draw itself.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct DashboardSnapshot {
    pub hall: HallInfo,
    /// The hall's current local day.
    pub date: NaiveDate,
    /// When the snapshot was taken.
    pub at: DateTime<FixedOffset>,
    /// Every window, in configuration order.
    pub windows: Vec<DashWindow>,
    /// Every service's queue, in configuration order.
    pub queues: Vec<DashQueue>,
    /// The last ten calls, newest first.
    #[schema(max_items = 10)]
    pub calls: Vec<CallView>,
    pub staffing: super::load::StaffingAdvice,
    pub kpi: KpiView,
    /// Alerts open or acknowledged, most severe first, then oldest first;
    /// as many as a snapshot's size allows (see `alerts_omitted`).
    pub alerts: Vec<AlertView>,
    /// Open alerts left out of `alerts` to keep the snapshot under its
    /// size limit (the least urgent); the alert list of the API has them.
    pub alerts_omitted: usize,
}

/// An alert as supervisors' screens and integrations see it (the `alert`
/// message of the contract).
#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema, utoipa::ToSchema)]
pub struct AlertView {
    /// `{hall}-{YYYYMMDD}-{HHMMSS}-{rule}-{subject}`, unique.
    #[schema(examples("jl-center-20261122-093000-wait_timeout-sSB"))]
    pub id: String,
    pub rule: super::alert::Rule,
    pub severity: super::alert::Severity,
    pub state: super::alert::AlertState,
    pub hall: HallId,
    /// The hall's display name.
    pub hall_name: String,
    /// The window it is about, if any.
    pub window: Option<WindowId>,
    /// That window's display name.
    pub window_name: Option<String>,
    /// The ticket it is about, if any; for `wait_timeout`, the service's
    /// longest-waiting ticket.
    pub ticket: Option<TicketNo>,
    /// How many it is about, for the rules that tally: `wait_timeout`
    /// tickets of the service over the wait limit, `rating_integrity`
    /// ratings in doubt, `green_channel_share` green tickets today; null
    /// for other rules. It changes while the alert is open, each change an
    /// update of the same alert.
    pub count: Option<u32>,
    /// Beside `ticket`, the next tickets over the limit, longest waiting
    /// first, at most 20 (`wait_timeout`); empty otherwise.
    #[schema(max_items = 20)]
    #[schemars(length(max = 20))]
    pub tickets: Vec<TicketNo>,
    /// The service it is about, if any.
    pub service: Option<ServiceCode>,
    /// That service's display name.
    pub service_name: Option<String>,
    /// The alert in Chinese words, e.g. B023 已等候 31 分钟.
    pub message: String,
    /// When it opened: when its condition crossed the threshold.
    pub opened_at: DateTime<FixedOffset>,
    /// When it last changed.
    pub updated_at: DateTime<FixedOffset>,
    /// Sent to the supervisors of the wider scope: a critical alert nobody
    /// acknowledged in time, or a repeat finding (屡查屡犯) as it opened.
    pub escalated: bool,
    /// When it was.
    pub escalated_at: Option<DateTime<FixedOffset>>,
    /// The name of the token that acknowledged it.
    pub acked_by: Option<String>,
    /// When it was acknowledged.
    pub acked_at: Option<DateTime<FixedOffset>>,
    /// The note given with the acknowledgement.
    pub ack_note: Option<String>,
    /// The name of the token that resolved it (null when it resolved by itself).
    pub resolved_by: Option<String>,
    /// When it was resolved.
    pub resolved_at: Option<DateTime<FixedOffset>>,
    /// The note given with the resolution (回访 or 整改 for a bad review).
    pub resolve_note: Option<String>,
    /// The department (进驻单位) code of what it is about: its service's,
    /// else its window's when every service of the window belongs to one.
    #[serde(default)]
    pub department: Option<String>,
    /// That department's display name.
    #[serde(default)]
    pub department_name: Option<String>,
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

    pub fn display_window(&self, w: usize) -> DisplayWindow {
        let spec = &self.spec.windows[w];
        let state = &self.windows[w];
        DisplayWindow {
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
        }
    }

    pub fn window_view(&self, w: usize) -> WindowView {
        WindowView {
            display: self.display_window(w),
            served_today: self.windows[w].served_today,
            cases_today: self.windows[w].cases_today,
            benchmark: self.spec.windows[w].benchmark,
            benchmark_counts: self.spec.windows[w].counts,
            load: self.load(w),
        }
    }

    pub fn queue_view(&self, s: usize, now: DateTime<Utc>) -> QueueView {
        let spec = &self.spec.services[s];
        QueueView {
            service: spec.code.clone(),
            name: spec.name.clone(),
            prefix: spec.prefix.clone(),
            waiting: self.waiting(s),
            estimated_wait_s: self.estimate_wait(s, self.waiting(s), now),
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
            appointment: ticket.priority == super::event::Priority::Appointment,
        }
    }

    pub fn summary(&self, now: DateTime<Utc>) -> SummaryView {
        let figures = self.hall_figures();
        let mut alerts_by_severity = std::collections::BTreeMap::new();
        for i in self.open_alerts.values() {
            *alerts_by_severity
                .entry(self.alerts[i].severity.code())
                .or_insert(0) += 1;
        }
        let month = self.day.with_day(1).unwrap_or(self.day);
        let mut cards_month = std::collections::BTreeMap::new();
        for c in self.cases.cards() {
            if c.kind != super::cases::CardKind::Warning
                && c.state != super::cases::CardState::Withdrawn
                && self.local_time(c.issued_at).date_naive() >= month
            {
                *cards_month.entry(c.kind.code()).or_insert(0) += 1;
            }
        }
        SummaryView {
            cards_month,
            alerts_by_severity,
            load: figures.load,
            longest_wait_s: self.longest_wait(None, now).map_or(0, |(s, _)| s),
            avg_wait_s: figures.avg_wait_s,
            satisfaction_rate: figures.satisfaction_rate,
            advice: self.staffing_advice(now).advice,
            hall: self.spec.id.clone(),
            name: self.spec.name.clone(),
            region: self.spec.region.clone(),
            date: self.day,
            at: self.local_time(now),
            waiting: (0..self.spec.services.len())
                .map(|s| (self.spec.services[s].code.clone(), self.waiting(s)))
                .collect(),
            issued_today: self.tickets.len(),
            served_today: self.windows.iter().map(|w| w.served_today).sum(),
            cases_today: self
                .windows
                .iter()
                .fold(0u32, |n, w| n.saturating_add(w.cases_today)),
            windows_open: self
                .windows
                .iter()
                .filter(|w| w.staff.is_some() && w.paused.is_none())
                .count(),
            windows_total: self.windows.len(),
            windows_on_duty: (0..self.windows.len())
                .filter(|&w| self.spec.on_duty(w, now))
                .count(),
            windows_unattended: (0..self.windows.len())
                .filter(|&w| self.spec.on_duty(w, now) && self.windows[w].staff.is_none())
                .count(),
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
        let department = match &a.subject {
            super::alert::Subject::Department(code) => self.spec.department(code),
            super::alert::Subject::Staff(id) => self.spec.staff_department(id),
            _ => None,
        };
        let department = department
            .or_else(|| {
                a.service
                    .as_ref()
                    .and_then(|c| self.spec.service_index(c))
                    .and_then(|s| self.spec.service_department(s))
            })
            .or_else(|| {
                a.window
                    .as_ref()
                    .and_then(|id| self.spec.window_index(id))
                    .and_then(|w| self.spec.window_department(w))
            });
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
            count: a.count,
            tickets: a.tickets.clone(),
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
            department: department.map(|d| d.code.clone()),
            department_name: department.map(|d| d.name.clone()),
        }
    }

    /// Alerts open or acknowledged, in no particular order: read from the
    /// index of active alerts, not from the day's list, which keeps the
    /// resolved ones too.
    pub fn active_alerts(&self) -> impl Iterator<Item = &super::alert::Alert> {
        self.open_alerts.values().map(|i| &self.alerts[i])
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

    /// The longest-waiting ticket, of one service or of all: how long it
    /// has waited at `now` (office seconds since it joined its queue) and
    /// since when.
    pub fn longest_wait(
        &self,
        service: Option<usize>,
        now: DateTime<Utc>,
    ) -> Option<(i64, DateTime<Utc>)> {
        self.tickets
            .iter()
            .filter(|t| t.state == super::hall::TicketState::Waiting)
            .filter(|t| service.is_none_or(|s| t.service == s))
            .map(|t| t.queued_at)
            .min()
            .map(|since| (self.spec.office_seconds(since, now), since))
    }

    pub fn dash_window(&self, w: usize, now: DateTime<Utc>) -> DashWindow {
        let f = self.window_figures(w, now);
        DashWindow {
            window: self.window_view(w),
            called_today: f.called,
            missed_today: f.missed,
            avg_service_s: f.avg_service_s,
            satisfaction_rate: f.satisfaction_rate,
            rating_rate: f.rating_rate,
            status_s: f.status_s.unwrap_or_default(),
            on_duty: self.spec.on_duty(w, now),
            shift: self.shift_view(w, now),
            attendance: self.window_attendance(w, now),
            department_name: self.spec.window_department(w).map(|d| d.name.clone()),
        }
    }

    /// Window `w`'s shift now, else its next one today, else its last.
    fn shift_view(&self, w: usize, now: DateTime<Utc>) -> Option<ShiftView> {
        let shifts = self.spec.shifts(w, self.day);
        let shift = shifts
            .iter()
            .find(|s| now < s.end)
            .or_else(|| shifts.last())?;
        let person = |i: Option<usize>| {
            i.and_then(|i| self.spec.staff.get(i)).map(|m| RosterStaff {
                id: m.id.clone(),
                name: m.name.clone(),
            })
        };
        Some(ShiftView {
            start: self.local_time(shift.start),
            end: self.local_time(shift.end),
            a: person(shift.a),
            b: person(shift.b),
        })
    }

    pub fn dash_queue(&self, s: usize, now: DateTime<Utc>) -> DashQueue {
        let f = self.service_figures(s);
        let longest = self.longest_wait(Some(s), now);
        DashQueue {
            queue: self.queue_view(s, now),
            longest_wait_s: longest.map_or(0, |(secs, _)| secs),
            longest_since: longest.map(|(_, since)| self.local_time(since)),
            avg_wait_s: f.avg_wait_s,
            max_wait_s: f.max_wait_s,
            issued_today: f.issued.unwrap_or(0),
            served_today: f.served,
            windows_open: self.open_windows_for(s),
            department_name: self.spec.service_department(s).map(|d| d.name.clone()),
        }
    }

    pub fn kpi(&self, now: DateTime<Utc>) -> KpiView {
        KpiView {
            figures: self.hall_figures(),
            waiting: (0..self.spec.services.len()).map(|s| self.waiting(s)).sum(),
            windows_open: self
                .windows
                .iter()
                .filter(|w| w.staff.is_some() && w.paused.is_none())
                .count(),
            windows_total: self.windows.len(),
            staff_on_duty: self.windows.iter().filter(|w| w.staff.is_some()).count(),
            alerts_open: self.open_alerts.len(),
            appointments: self.appointment_figures(),
            hourly: self.hourly(now, false),
        }
    }

    pub fn dashboard_snapshot(&self, now: DateTime<Utc>) -> DashboardSnapshot {
        DashboardSnapshot {
            hall: self.info(),
            date: self.day,
            at: self.local_time(now),
            windows: (0..self.spec.windows.len())
                .map(|w| self.dash_window(w, now))
                .collect(),
            queues: (0..self.spec.services.len())
                .map(|s| self.dash_queue(s, now))
                .collect(),
            calls: self.calls.iter().map(|c| self.call_view(c)).collect(),
            staffing: self.staffing_advice(now),
            kpi: self.kpi(now),
            alerts: {
                let mut active: Vec<AlertView> = self
                    .alerts
                    .iter()
                    .filter(|a| a.is_active())
                    .map(|a| self.alert_view(a))
                    .collect();
                active.sort_by(|a, b| {
                    b.severity
                        .cmp(&a.severity)
                        .then(a.opened_at.cmp(&b.opened_at))
                });
                active
            },
            alerts_omitted: 0,
        }
    }

    /// Today's office hours as the configuration writes them
    /// (`09:00-12:00`); the gaps between them are the lunch break.
    pub fn hours_today(&self) -> Vec<String> {
        self.spec
            .hours
            .spans(self.day)
            .iter()
            .map(super::spec::Span::label)
            .collect()
    }

    pub fn display_snapshot(&self, now: DateTime<Utc>) -> DisplaySnapshot {
        DisplaySnapshot {
            hall: self.info(),
            date: self.day,
            windows: (0..self.spec.windows.len())
                .map(|w| self.display_window(w))
                .collect(),
            queues: (0..self.spec.services.len())
                .map(|s| self.queue_view(s, now))
                .collect(),
            calls: self.calls.iter().map(|c| self.call_view(c)).collect(),
            hours: self.hours_today(),
            stop_issuing_at: self
                .spec
                .stop_issuing_at(self.day)
                .map(|t| t.format("%H:%M").to_string()),
            at: self.local_time(now),
        }
    }
}
