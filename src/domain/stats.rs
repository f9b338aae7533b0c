//! The figures a manager reads every day (docs/domain.md), per hall, service,
//! window and staff member, counted from the day's tickets, visits and
//! alerts: a fold of the event log, so a past day's figures are the same
//! whether kept when the day ended or counted again from its events.
//!
//! Definitions:
//! - `called`: calls of a ticket to a window (a recall is not a new call);
//!   `served`: calls that ended in a finish, whatever the outcome;
//!   `missed`: calls that ended 过号. 过号率 = missed ÷ called.
//! - `cases`: the cases those finishes handled, each its `items`, a
//!   consultation none; load = cases ÷ benchmark (served ÷ benchmark at a
//!   window whose benchmark counts people).
//! - wait: from joining the queue (the issue, or the last transfer) to the
//!   call, in office time (a lunch break or a night does not count, as the
//!   wait alerts count); a missed ticket called again adds no wait. The
//!   total wait adds up a transferred ticket's waits in every queue.
//! - service time: from the start, or from the call when never started, to
//!   the finish, in office time.
//! - green: green-channel (绿色通道) tickets issued; cancelled: tickets
//!   given up from their phone page (取消排队), counted apart from 过号.
//! - 即办率 = completed ÷ finished with an outcome other than `consulted`;
//!   满意率 = ratings of 4–5 ÷ ratings; 评价率 = rated ÷ finished.
//! - alerts: those opened that day; how fast they were acknowledged.

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset, NaiveDate, Timelike, Utc};
use serde::{Deserialize, Serialize};

use super::alert::{Alert, Rule, Severity};
use super::event::{Outcome, Priority};
use super::hall::{Hall, TicketState, Visit, VisitEnd, WindowStatus};
use super::ids::StaffId;

/// The figures of one hall, service, window or staff member for a day.
/// Rates are fractions (0.25 is 25 %).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Figures {
    /// The hall's id, a service code, a window id or a staff number (工号).
    pub key: String,
    /// The display name of the hall, service, window or staff member.
    pub name: String,
    /// Tickets issued (hall and service rows only; null otherwise).
    pub issued: Option<u32>,
    /// Green-channel (绿色通道) tickets issued (hall and service rows
    /// only; null otherwise).
    #[serde(default)]
    pub green: Option<u32>,
    /// Tickets given up from their phone page (取消排队), apart from the
    /// no-shows (hall and service rows only; null otherwise, and in day
    /// figures kept before it was counted).
    #[serde(default)]
    pub cancelled: Option<u32>,
    /// Calls of a ticket to a window (a recall is not a new call).
    pub called: u32,
    /// Calls that ended in a finish, whatever the outcome.
    pub served: u32,
    /// Cases (件) those finishes handled: each its `items`, a
    /// consultation none.
    #[serde(default)]
    pub cases: u32,
    /// Calls that ended 过号 (no-show).
    pub missed: u32,
    /// 过号率: missed ÷ called; null without calls.
    #[schema(minimum = 0, maximum = 1)]
    pub missed_rate: Option<f64>,
    /// Mean office seconds from joining the queue (the issue, or the last
    /// transfer) to the call; null without calls.
    #[schema(minimum = 0)]
    pub avg_wait_s: Option<f64>,
    /// Longest wait in office seconds; null without calls.
    #[schema(minimum = 0)]
    pub max_wait_s: Option<i64>,
    /// Mean office seconds a called ticket had waited in every queue it
    /// joined (the same as `avg_wait_s` unless tickets were transferred);
    /// null without calls.
    #[serde(default)]
    #[schema(minimum = 0)]
    pub avg_total_wait_s: Option<f64>,
    /// Longest total wait in office seconds; null without calls.
    #[serde(default)]
    #[schema(minimum = 0)]
    pub max_total_wait_s: Option<i64>,
    /// Mean office seconds of service, from the start (or the call, when
    /// never started) to the finish; null without finishes.
    #[schema(minimum = 0)]
    pub avg_service_s: Option<f64>,
    /// Cases per day expected: the window's or staff member's; for the
    /// hall the sum over the windows that called that day; null for
    /// services or when none applies.
    #[schema(minimum = 1)]
    pub benchmark: Option<u32>,
    /// cases ÷ benchmark (served ÷ benchmark for a window whose benchmark
    /// counts people, and for the hall each window in its own unit); null
    /// without a benchmark.
    #[schema(minimum = 0)]
    pub load: Option<f64>,
    /// Tickets finished `completed` (即办件).
    pub completed: u32,
    /// Tickets finished `accepted` (承诺件). Day figures stored before it
    /// was counted read 0.
    #[serde(default)]
    pub accepted: u32,
    /// Of those, accepted without a case reference and promised days (a
    /// version 1 terminal): 未登记承诺件, which no deadline follows.
    #[serde(default)]
    pub unregistered: u32,
    /// Tickets finished with an outcome other than `consulted`: what 即办率
    /// is out of. Day figures stored before it was counted read 0.
    #[serde(default)]
    pub decided: u32,
    /// 即办率: completed ÷ finished with an outcome other than `consulted`;
    /// null without such finishes.
    #[schema(minimum = 0, maximum = 1)]
    pub on_the_spot_rate: Option<f64>,
    /// Ratings received.
    pub ratings: u32,
    /// Ratings of 4 or 5.
    pub satisfied: u32,
    /// Ratings of 1 or 2 (差评).
    pub bad_ratings: u32,
    /// 满意率: satisfied ÷ ratings; null without ratings.
    #[schema(minimum = 0, maximum = 1)]
    pub satisfaction_rate: Option<f64>,
    /// 评价率: rated ÷ finished; null without finishes.
    #[schema(minimum = 0)]
    pub rating_rate: Option<f64>,
    /// Alerts opened that day about it (null for staff rows: not kept per
    /// staff member).
    pub alerts: Option<u32>,
    /// Of those, how many were acknowledged (null for staff rows).
    pub alerts_acknowledged: Option<u32>,
    /// Mean seconds from opening to acknowledgement; null when none was
    /// acknowledged (and for staff rows).
    #[schema(minimum = 0)]
    pub avg_ack_s: Option<f64>,
    /// Window rows only (absent otherwise): office seconds in each window
    /// status; `offline` is 空岗 time during office hours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = BTreeMap<WindowStatus, i64>)]
    pub status_s: Option<BTreeMap<String, i64>>,
    /// The department (进驻单位) code: of a service, of a staff member, of
    /// a window whose services all belong to one; null otherwise.
    #[serde(default)]
    pub department: Option<String>,
    /// Window and staff rows with a rostered A角 today: how the A角 kept
    /// the duty (late arrivals, early leaves, absences from post); null
    /// otherwise.
    #[serde(default)]
    pub attendance: Option<super::duty::Attendance>,
}

/// Alerts opened in a day with one rule and severity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AlertCount {
    pub rule: Rule,
    pub severity: Severity,
    /// Alerts opened.
    #[schema(minimum = 1)]
    pub count: u32,
}

/// The day's alerts at a glance.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AlertFigures {
    /// Alerts opened that day.
    pub opened: u32,
    /// Of those, how many were acknowledged.
    pub acknowledged: u32,
    /// Mean seconds from opening to acknowledgement; null when none was
    /// acknowledged.
    #[schema(minimum = 0)]
    pub avg_ack_s: Option<f64>,
    /// Longest seconds from opening to acknowledgement; null when none was
    /// acknowledged.
    #[schema(minimum = 0)]
    pub max_ack_s: Option<i64>,
    /// Alerts opened, by rule and severity.
    pub by_rule: Vec<AlertCount>,
}

/// One local hour of the day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HourFigures {
    /// The local hour.
    #[schema(maximum = 23)]
    pub hour: u32,
    /// Tickets issued in that hour.
    pub arrivals: u32,
    /// Tickets finished in that hour.
    pub served: u32,
    /// Arrivals the forecast expects in this hour, by the arrival profile
    /// (one decimal).
    #[schema(minimum = 0)]
    pub expected: f64,
}

/// A hall's figures for one local day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DayFigures {
    #[schema(value_type = super::ids::HallId)]
    pub hall: String,
    /// The hall's display name.
    pub hall_name: String,
    /// The local day.
    pub date: NaiveDate,
    /// The day has ended: these figures are final. False for today's live
    /// figures.
    pub complete: bool,
    /// When they were counted.
    pub at: DateTime<FixedOffset>,
    /// The whole hall.
    pub total: Figures,
    /// One row per service.
    pub services: Vec<Figures>,
    /// One row per window, with `status_s`.
    pub windows: Vec<Figures>,
    /// One row per staff member who worked that day.
    pub staff: Vec<Figures>,
    pub alerts: AlertFigures,
    /// Hours 0 to 23.
    #[schema(min_items = 24, max_items = 24)]
    pub hourly: Vec<HourFigures>,
    /// Appointments (预约) of the day's slots. Figures kept before they
    /// were counted read zeros.
    #[serde(default)]
    pub appointments: super::booking::AppointmentFigures,
}

/// Sums behind one row.
#[derive(Default)]
struct Acc {
    issued: Option<u32>,
    green: Option<u32>,
    cancelled: Option<u32>,
    called: u32,
    served: u32,
    cases: u32,
    missed: u32,
    waits: u32,
    wait_sum: i64,
    max_wait: Option<i64>,
    total_wait_sum: i64,
    max_total_wait: Option<i64>,
    serviced_s: i64,
    completed: u32,
    with_outcome: u32,
    ratings: u32,
    satisfied: u32,
    bad: u32,
    accepted: u32,
    unregistered: u32,
    alerts: Option<(u32, u32, i64)>,
}

fn ratio(a: u32, b: u32) -> Option<f64> {
    (b > 0).then(|| f64::from(a) / f64::from(b))
}

impl Acc {
    fn visit(&mut self, v: &Visit, rating: Option<u8>) {
        self.called += 1;
        if let Some(w) = v.waited_s {
            self.waits += 1;
            self.wait_sum += w;
            self.max_wait = Some(self.max_wait.map_or(w, |m| m.max(w)));
            let total = v.total_wait_s.unwrap_or(w);
            self.total_wait_sum += total;
            self.max_total_wait = Some(self.max_total_wait.map_or(total, |m| m.max(total)));
        }
        match v.end {
            Some(VisitEnd::Served {
                outcome,
                service_s,
                cases,
                registered,
                ..
            }) => {
                if outcome == Outcome::Accepted {
                    self.accepted += 1;
                    self.unregistered += u32::from(!registered);
                }
                self.served += 1;
                self.cases = self.cases.saturating_add(cases);
                self.serviced_s += service_s;
                if outcome != Outcome::Consulted {
                    self.with_outcome += 1;
                }
                if outcome == Outcome::Completed {
                    self.completed += 1;
                }
                if let Some(score) = rating {
                    self.ratings += 1;
                    self.satisfied += u32::from(score >= 4);
                    self.bad += u32::from(score <= 2);
                }
            }
            Some(VisitEnd::Missed { .. }) => self.missed += 1,
            Some(VisitEnd::Transferred { .. }) | None => {}
        }
    }

    fn alerts<'a>(&mut self, alerts: impl Iterator<Item = &'a Alert>) {
        let (mut n, mut acked, mut sum) = (0, 0, 0);
        for a in alerts {
            n += 1;
            if let Some(ack) = &a.acknowledged {
                acked += 1;
                sum += (ack.at - a.opened_at).num_seconds().max(0);
            }
        }
        self.alerts = Some((n, acked, sum));
    }

    fn figures(self, key: String, name: String, benchmark: Option<u32>) -> Figures {
        let benchmark = benchmark.filter(|&b| b > 0);
        Figures {
            key,
            name,
            issued: self.issued,
            green: self.green,
            cancelled: self.cancelled,
            called: self.called,
            served: self.served,
            cases: self.cases,
            missed: self.missed,
            missed_rate: ratio(self.missed, self.called),
            avg_wait_s: (self.waits > 0).then(|| self.wait_sum as f64 / f64::from(self.waits)),
            max_wait_s: self.max_wait,
            avg_total_wait_s: (self.waits > 0)
                .then(|| self.total_wait_sum as f64 / f64::from(self.waits)),
            max_total_wait_s: self.max_total_wait,
            avg_service_s: (self.served > 0)
                .then(|| self.serviced_s as f64 / f64::from(self.served)),
            benchmark,
            load: benchmark.map(|b| f64::from(self.cases) / f64::from(b)),
            completed: self.completed,
            accepted: self.accepted,
            unregistered: self.unregistered,
            decided: self.with_outcome,
            on_the_spot_rate: ratio(self.completed, self.with_outcome),
            ratings: self.ratings,
            satisfied: self.satisfied,
            bad_ratings: self.bad,
            satisfaction_rate: ratio(self.satisfied, self.ratings),
            rating_rate: ratio(self.ratings, self.served),
            alerts: self.alerts.map(|a| a.0),
            alerts_acknowledged: self.alerts.map(|a| a.1),
            avg_ack_s: self
                .alerts
                .and_then(|(_, acked, sum)| (acked > 0).then(|| sum as f64 / f64::from(acked))),
            status_s: None,
            department: None,
            attendance: None,
        }
    }
}

impl Hall {
    /// The rating of a visit's ticket, when the visit finished it.
    fn rating_of(&self, v: &Visit) -> Option<u8> {
        matches!(v.end, Some(VisitEnd::Served { .. }))
            .then(|| self.tickets[v.ticket].rating)
            .flatten()
    }

    /// Alerts opened on the hall's current day.
    fn alerts_of_day(&self) -> impl Iterator<Item = &Alert> {
        self.alerts
            .iter()
            .filter(|a| self.spec.local_date(a.opened_at) == self.day)
    }

    /// Office seconds window `w` has spent in each status today, up to `now`.
    pub fn status_seconds(&self, w: usize, now: DateTime<Utc>) -> [i64; WindowStatus::COUNT] {
        let win = &self.windows[w];
        let mut out = win.status_s;
        out[self.window_status(w).index()] += self.spec.office_seconds(win.since, now);
        out
    }

    /// One service's figures for today.
    pub fn service_figures(&self, s: usize) -> Figures {
        let spec = &self.spec.services[s];
        let mut acc = Acc {
            issued: Some(self.tickets.iter().filter(|t| t.issued_for == s).count() as u32),
            green: Some(
                self.tickets
                    .iter()
                    .filter(|t| t.issued_for == s && t.priority == Priority::Green)
                    .count() as u32,
            ),
            cancelled: Some(
                self.tickets
                    .iter()
                    .filter(|t| t.service == s && t.state == TicketState::Cancelled)
                    .count() as u32,
            ),
            ..Acc::default()
        };
        for v in self.visits.iter().filter(|v| v.service == s) {
            acc.visit(v, self.rating_of(v));
        }
        acc.alerts(
            self.alerts_of_day()
                .filter(|a| a.service.as_ref() == Some(&spec.code)),
        );
        let mut f = acc.figures(spec.code.to_string(), spec.name.clone(), None);
        f.department = self.spec.service_department(s).map(|d| d.code.clone());
        f
    }

    /// One window's figures for today.
    pub fn window_figures(&self, w: usize, now: DateTime<Utc>) -> Figures {
        let spec = &self.spec.windows[w];
        let mut acc = Acc::default();
        for v in self.visits.iter().filter(|v| v.window == w) {
            acc.visit(v, self.rating_of(v));
        }
        acc.alerts(
            self.alerts_of_day()
                .filter(|a| a.window.as_ref() == Some(&spec.id)),
        );
        let people = spec.counts == super::spec::BenchmarkUnit::People;
        let served = acc.served;
        let mut f = acc.figures(spec.id.to_string(), spec.name.clone(), Some(spec.benchmark));
        if people {
            f.load = f.benchmark.map(|b| f64::from(served) / f64::from(b));
        }
        let secs = self.status_seconds(w, now);
        f.status_s = Some(
            WindowStatus::ALL
                .iter()
                .map(|s| (s.code().to_owned(), secs[s.index()]))
                .collect(),
        );
        f.department = self.spec.window_department(w).map(|d| d.code.clone());
        f.attendance = self.window_attendance(w, now);
        f
    }

    /// The hall's figures for today.
    pub fn hall_figures(&self) -> Figures {
        let mut acc = Acc {
            issued: Some(self.tickets.len() as u32),
            green: Some(
                self.tickets
                    .iter()
                    .filter(|t| t.priority == Priority::Green)
                    .count() as u32,
            ),
            cancelled: Some(
                self.tickets
                    .iter()
                    .filter(|t| t.state == TicketState::Cancelled)
                    .count() as u32,
            ),
            ..Acc::default()
        };
        let mut worked = vec![false; self.spec.windows.len()];
        // What each window finished, in the unit its benchmark counts.
        let mut counted = 0u32;
        for v in &self.visits {
            acc.visit(v, self.rating_of(v));
            worked[v.window] = true;
            if let Some(VisitEnd::Served { cases, .. }) = v.end {
                counted = counted.saturating_add(match self.spec.windows[v.window].counts {
                    super::spec::BenchmarkUnit::Cases => cases,
                    super::spec::BenchmarkUnit::People => 1,
                });
            }
        }
        acc.alerts(self.alerts_of_day());
        let benchmark: u32 = (0..worked.len())
            .filter(|&w| worked[w])
            .map(|w| self.spec.windows[w].benchmark)
            .sum();
        let mut f = acc.figures(
            self.spec.id.to_string(),
            self.spec.name.clone(),
            Some(benchmark),
        );
        f.load = f.benchmark.map(|b| f64::from(counted) / f64::from(b));
        f
    }

    /// Every figure of the hall's current day, counted at `now`;
    /// `complete` when the day has ended.
    pub fn figures(&self, now: DateTime<Utc>, complete: bool) -> DayFigures {
        // Staff members, by number, in the order they first called.
        let mut staff: Vec<(String, String, Acc)> = Vec::new();
        for v in &self.visits {
            let Some(who) = &v.staff else { continue };
            let i = match staff.iter().position(|(id, _, _)| id == who.id.as_str()) {
                Some(i) => i,
                None => {
                    staff.push((who.id.to_string(), String::new(), Acc::default()));
                    staff.len() - 1
                }
            };
            if let Some(name) = &who.name {
                staff[i].1 = name.clone();
            }
            staff[i].2.visit(v, self.rating_of(v));
        }
        // And the staff rostered as A角 today who have served nobody yet.
        let attendance = self.staff_attendance(now);
        for &m in attendance.keys() {
            let member = &self.spec.staff[m];
            if !staff.iter().any(|(id, _, _)| id == member.id.as_str()) {
                staff.push((member.id.to_string(), member.name.clone(), Acc::default()));
            }
        }
        let mut alerts = AlertFigures::default();
        let mut by_rule: BTreeMap<(&'static str, &'static str), AlertCount> = BTreeMap::new();
        for a in self.alerts_of_day() {
            alerts.opened += 1;
            if let Some(ack) = &a.acknowledged {
                let s = (ack.at - a.opened_at).num_seconds().max(0);
                alerts.acknowledged += 1;
                alerts.max_ack_s = Some(alerts.max_ack_s.map_or(s, |m| m.max(s)));
                *alerts.avg_ack_s.get_or_insert(0.0) += s as f64;
            }
            by_rule
                .entry((a.rule.code(), a.severity.code()))
                .or_insert(AlertCount {
                    rule: a.rule,
                    severity: a.severity,
                    count: 0,
                })
                .count += 1;
        }
        if let Some(sum) = alerts.avg_ack_s.as_mut() {
            *sum /= f64::from(alerts.acknowledged.max(1));
        }
        alerts.by_rule = by_rule.into_values().collect();

        DayFigures {
            hall: self.spec.id.to_string(),
            hall_name: self.spec.name.clone(),
            date: self.day,
            complete,
            at: self.spec.local(now).fixed_offset(),
            total: self.hall_figures(),
            services: (0..self.spec.services.len())
                .map(|s| self.service_figures(s))
                .collect(),
            windows: (0..self.spec.windows.len())
                .map(|w| self.window_figures(w, now))
                .collect(),
            staff: staff
                .into_iter()
                .map(|(id, name, acc)| {
                    let mut f = acc.figures(id, name, Some(self.spec.benchmark));
                    if let Some(m) = StaffId::parse(&f.key)
                        .ok()
                        .and_then(|id| self.spec.staff_index(&id))
                    {
                        f.department = self.spec.staff[m]
                            .department
                            .and_then(|d| self.spec.departments.get(d))
                            .map(|d| d.code.clone());
                        if f.name.is_empty() {
                            f.name = self.spec.staff[m].name.clone();
                        }
                        f.attendance = attendance.get(&m).copied();
                    }
                    f
                })
                .collect(),
            alerts,
            hourly: self.hourly(now, complete),
            appointments: self.appointment_figures(),
        }
    }

    /// Arrivals and services per local hour, against the profile's
    /// expectation: of the forecast today, of the arrivals on a past day.
    pub fn hourly(&self, now: DateTime<Utc>, complete: bool) -> Vec<HourFigures> {
        let mut arrivals = [0u32; 24];
        let mut served = [0u32; 24];
        for t in &self.tickets {
            arrivals[self.spec.local(t.issued_at).hour() as usize] += 1;
        }
        for v in &self.visits {
            if let Some(VisitEnd::Served { at, .. }) = v.end {
                served[self.spec.local(at).hour() as usize] += 1;
            }
        }
        let total = if complete {
            self.tickets.len() as f64
        } else {
            self.tickets.len() as f64 / self.share_of_day_passed(now)
        };
        let shares = self.hourly_profile();
        (0..24)
            .map(|h| HourFigures {
                hour: h as u32,
                arrivals: arrivals[h],
                served: served[h],
                expected: (shares[h] * total * 10.0).round() / 10.0,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::rules::testing::{H, finish};
    use crate::domain::*;

    fn service<'a>(f: &'a DayFigures, code: &str) -> &'a Figures {
        f.services.iter().find(|s| s.key == code).unwrap()
    }

    #[test]
    fn waits_and_service_times_count_office_time_not_the_lunch_break() {
        let mut h = H::new(); // open 09:00-12:00 and 13:30-17:30
        h.at(2 * 3600 + 50 * 60); // 11:50
        h.ticket("SB"); // B001
        h.ticket("SB"); // B002
        h.at(2 * 3600 + 55 * 60); // 11:55
        h.op("01", WindowOp::CallNext); // B001 waited 5 minutes
        h.op("01", WindowOp::Start);
        h.at(4 * 3600 + 35 * 60); // 13:35: 5 + 5 minutes of service
        h.op("01", finish());
        h.op("01", WindowOp::CallNext); // B002: 10 + 5 minutes of waiting
        let f = h.hall.figures(h.now, false);
        let sb = service(&f, "SB");
        assert_eq!(sb.max_wait_s, Some(15 * 60), "not 1 h 45 min");
        assert_eq!(sb.avg_wait_s, Some(10.0 * 60.0));
        assert_eq!(sb.avg_service_s, Some(10.0 * 60.0), "not 1 h 40 min");
        assert_eq!(f.total.max_wait_s, Some(15 * 60));
        // The live longest wait counts office time too.
        h.ticket("GA");
        h.at(4 * 3600 + 45 * 60);
        assert_eq!(h.hall.summary(h.now).longest_wait_s, 10 * 60);
    }

    #[test]
    fn a_transferred_ticket_reports_its_wait_in_the_new_queue_and_in_all() {
        let mut h = H::new();
        h.ticket("SB"); // B001 at 09:00
        h.at(10 * 60);
        h.op("01", WindowOp::CallNext); // waited 10 minutes for SB
        h.at(20 * 60);
        h.op(
            "01",
            WindowOp::Transfer {
                to_service: ServiceCode::parse("GA").unwrap(),
            },
        );
        h.at(50 * 60);
        h.op("01", WindowOp::CallNext); // 30 more minutes for GA
        h.op("01", finish());
        let f = h.hall.figures(h.now, false);
        let (sb, ga) = (service(&f, "SB"), service(&f, "GA"));
        assert_eq!(sb.avg_wait_s, Some(600.0));
        assert_eq!(sb.avg_total_wait_s, Some(600.0));
        assert_eq!(ga.avg_wait_s, Some(1800.0), "in the new queue");
        assert_eq!(ga.avg_total_wait_s, Some(2400.0), "in both queues");
        assert_eq!(ga.max_total_wait_s, Some(2400));
        assert_eq!(f.total.max_wait_s, Some(1800));
        assert_eq!(f.total.max_total_wait_s, Some(2400));
    }

    #[test]
    fn green_channel_tickets_are_counted_per_day_and_per_service() {
        let mut h = H::new();
        let green = |h: &mut H, service: &str| {
            let id = h.id();
            let input = Input::Ticket {
                kiosk: DeviceId::parse("k1").unwrap(),
                id,
                request: TicketRequest {
                    service: ServiceCode::parse(service).unwrap(),
                    priority: Priority::Green,
                    appointment: None,
                    green_reason: Some("残疾人陪同".into()),
                    issued_by: Some(StaffId::parse("D01").unwrap()),
                    token: None,
                },
            };
            h.hall.apply(&input, h.now);
        };
        green(&mut h, "SB");
        green(&mut h, "GA");
        h.ticket("SB");
        let f = h.hall.figures(h.now, false);
        assert_eq!(f.total.green, Some(2));
        assert_eq!(service(&f, "SB").green, Some(1));
        assert_eq!(service(&f, "GA").green, Some(1));
        assert_eq!(service(&f, "QY").green, Some(0));
        assert!(f.windows.iter().all(|w| w.green.is_none()));
        // Figures kept before green tickets were counted still read.
        let mut old = serde_json::to_value(&f.total).unwrap();
        for key in ["green", "avg_total_wait_s", "max_total_wait_s"] {
            old.as_object_mut().unwrap().remove(key);
        }
        let back: Figures = serde_json::from_value(old).unwrap();
        assert_eq!(back.green, None);
    }
}
