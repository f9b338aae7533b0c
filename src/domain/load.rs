//! Load against the benchmark, the day's demand forecast and the staffing
//! advice (docs/domain.md).
//!
//! A service's demand for the day is forecast from the tickets issued so far
//! and the share of the day's arrivals that has passed: by the hall's arrival
//! profile, learnt from its earlier days, when there are enough of them,
//! else evenly over office hours; never dividing by less than the share of
//! one office hour. `windows_needed = ceil(forecast / benchmark)`,
//! `staff_needed = ceil(windows_needed × staff_per_window)`; a window that
//! serves k services counts 1/k towards each.

use std::collections::VecDeque;

use chrono::{DateTime, NaiveDate, NaiveTime, Timelike, Utc};
use serde::Serialize;

use super::hall::Hall;
use super::ids::ServiceCode;

/// Quarter hours in a day: the arrival profile's resolution.
pub const SLOTS: usize = 96;
const SLOT_S: i64 = 900;
/// Earlier days the profile learns from.
pub const PROFILE_DAYS: i64 = 28;
/// Days with tickets needed before the profile replaces the even one.
pub const PROFILE_MIN_DAYS: usize = 3;

/// Tickets issued per quarter hour of one earlier local day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayArrivals {
    pub date: NaiveDate,
    pub slots: [u32; SLOTS],
}

/// The share of a day's arrivals in each quarter hour, averaged over the
/// days it was learnt from (each day weighs the same, busy or quiet).
#[derive(Debug, Clone, PartialEq)]
pub struct ArrivalProfile {
    pub shares: [f64; SLOTS],
    pub days: usize,
}

impl ArrivalProfile {
    fn learn(history: &VecDeque<DayArrivals>) -> Option<Self> {
        let mut shares = [0.0; SLOTS];
        let mut days = 0;
        for day in history {
            let total: u32 = day.slots.iter().sum();
            if total == 0 {
                continue;
            }
            days += 1;
            for (s, n) in shares.iter_mut().zip(day.slots) {
                *s += f64::from(n) / f64::from(total);
            }
        }
        if days < PROFILE_MIN_DAYS {
            return None;
        }
        for s in &mut shares {
            *s /= days as f64;
        }
        Some(Self { shares, days })
    }
}

/// The quarter hour a local time falls in.
fn slot_of(t: NaiveTime) -> usize {
    ((t.num_seconds_from_midnight() as i64 / SLOT_S) as usize).min(SLOTS - 1)
}

/// The staffing picture of one service.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Staffing {
    #[serde(skip)]
    pub service: usize,
    #[serde(rename = "service")]
    pub code: ServiceCode,
    /// The service's display name.
    pub name: String,
    /// Tickets issued today.
    pub issued: usize,
    /// Tickets expected over the whole day.
    #[schema(minimum = 0)]
    pub forecast: f64,
    /// Windows the day's demand needs: ceil(forecast ÷ benchmark).
    pub windows_needed: u32,
    /// Staff those windows need.
    pub staff_needed: u32,
    /// Open windows now (fractional: shared windows count 1/k).
    #[schema(minimum = 0)]
    pub windows_open: f64,
    /// Windows to open (positive) or that could close (negative); 0 when
    /// the open windows fit the demand.
    pub change: i64,
    /// The advice in words a manager acts on.
    pub advice: String,
}

impl Staffing {
    /// `windows_needed − windows open ≥ 1`: the `staffing_gap` condition.
    pub fn short_of_a_window(&self) -> bool {
        short(self.windows_needed, self.windows_open)
    }
}

fn short(windows_needed: u32, windows_open: f64) -> bool {
    f64::from(windows_needed) - windows_open >= 1.0 - 1e-9
}

/// A service's demand and open windows at an instant, before any words.
struct Demand {
    issued: usize,
    forecast: f64,
    windows_needed: u32,
    windows_open: f64,
}

/// The hall's staffing advice: per service, and in total.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct StaffingAdvice {
    /// `learnt`: the arrival profile comes from `profile_days` earlier
    /// days; `even`: none yet, arrivals are taken to be even over office
    /// hours.
    #[schema(schema_with = profile_schema)]
    pub profile: &'static str,
    /// Earlier days the arrival profile was learnt from.
    pub profile_days: usize,
    /// The share of the day's arrivals taken to have passed.
    #[schema(minimum = 0, maximum = 1)]
    pub share_passed: f64,
    /// Cases per window per day.
    pub benchmark: u32,
    /// Staff needed per open window.
    #[schema(exclusive_minimum = 0)]
    pub staff_per_window: f64,
    pub services: Vec<Staffing>,
    /// Tickets expected over the whole day (one decimal).
    #[schema(minimum = 0)]
    pub forecast: f64,
    /// Windows the day needs: ceil(the whole forecast ÷ benchmark).
    pub windows_needed: u32,
    /// Staff those windows need.
    pub staff_needed: u32,
    /// Windows with staff logged in and not paused.
    pub windows_open: usize,
    /// Staff logged in now.
    pub staff_on_duty: usize,
    /// The services' advice that asks for a change, most urgent first.
    pub advice: Vec<String>,
}

/// `StaffingAdvice::profile`'s two values, for the API's schema.
fn profile_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(["learnt", "even"]))
        .description(Some(
            "`learnt`: the arrival profile comes from `profile_days` earlier days; \
             `even`: none yet, arrivals are taken to be even over office hours.",
        ))
        .build()
}

/// `社会保障` → `社会保障类`, without doubling a name that already says so.
fn category(name: &str) -> String {
    if name.ends_with('类') {
        name.to_owned()
    } else {
        format!("{name}类")
    }
}

/// How many windows to open (positive) or could close (negative).
fn change(needed: u32, open: f64) -> i64 {
    let diff = f64::from(needed) - open;
    if diff >= 1.0 - 1e-9 {
        (diff - 1e-9).ceil() as i64
    } else if -diff >= 1.0 - 1e-9 {
        -((-diff + 1e-9).floor() as i64)
    } else {
        0
    }
}

fn advice(name: &str, change: i64) -> String {
    let c = category(name);
    match change {
        n if n > 0 => format!("{c}建议增开 {n} 个窗口"),
        n if n < 0 => format!("{c}可关闭 {} 个窗口", -n),
        _ => format!("{c}窗口数合适"),
    }
}

impl Hall {
    /// Sets the earlier days' arrivals the forecast learns from: tickets
    /// issued on days before the hall's current day, at any instants (the
    /// store's record). Replaces what was known.
    pub fn learn_arrivals(&mut self, issued: &[DateTime<Utc>]) {
        let mut days: std::collections::BTreeMap<NaiveDate, [u32; SLOTS]> = Default::default();
        for &at in issued {
            let local = self.spec.local(at);
            let date = local.date_naive();
            if date >= self.day {
                continue;
            }
            days.entry(date).or_insert([0; SLOTS])[slot_of(local.time())] += 1;
        }
        self.history = days
            .into_iter()
            .map(|(date, slots)| DayArrivals { date, slots })
            .collect();
        self.trim_history();
    }

    /// Adds the current day's arrivals to the history; called as it ends.
    pub(super) fn learn_day(&mut self) {
        let mut slots = [0; SLOTS];
        for t in &self.tickets {
            slots[slot_of(self.spec.local(t.issued_at).time())] += 1;
        }
        if slots.iter().any(|&n| n > 0) {
            self.history.push_back(DayArrivals {
                date: self.day,
                slots,
            });
        }
        self.trim_history();
    }

    fn trim_history(&mut self) {
        let horizon = self.day - chrono::Duration::days(PROFILE_DAYS);
        while self.history.front().is_some_and(|d| d.date < horizon) {
            self.history.pop_front();
        }
        self.profile = ArrivalProfile::learn(&self.history);
    }

    pub fn arrival_profile(&self) -> Option<&ArrivalProfile> {
        self.profile.as_ref()
    }

    /// The arrival weight of today's office time before local time `t`:
    /// by the profile, or one per second when even.
    fn office_weight(&self, profile: Option<&ArrivalProfile>, t: NaiveTime) -> f64 {
        let mut w = 0.0;
        for span in self.spec.hours.spans(self.day) {
            let end = span.end.min(t);
            if end <= span.start {
                continue;
            }
            match profile {
                None => w += (end - span.start).num_seconds() as f64,
                Some(p) => {
                    // Piecewise over the quarter hours the span covers.
                    let (a, b) = (
                        i64::from(span.start.num_seconds_from_midnight()),
                        i64::from(end.num_seconds_from_midnight()),
                    );
                    let mut x = a;
                    while x < b {
                        let slot = (x / SLOT_S) as usize;
                        let slot_end = ((x / SLOT_S) + 1) * SLOT_S;
                        let y = slot_end.min(b);
                        w += p.shares[slot.min(SLOTS - 1)] * (y - x) as f64 / SLOT_S as f64;
                        x = y;
                    }
                }
            }
        }
        w
    }

    /// The share of today's arrivals that has passed at `now`, at least one
    /// office hour's share of the day, at most 1. A day without office hours
    /// counts as fully passed. The learnt profile is used when known and
    /// when it expects arrivals in today's hours; else arrivals are taken
    /// as even over office hours.
    pub fn share_of_day_passed(&self, now: DateTime<Utc>) -> f64 {
        let spans = self.spec.hours.spans(self.day);
        let office: i64 = spans.iter().map(|s| s.seconds()).sum();
        if office <= 0 {
            return 1.0;
        }
        let t = self.local_time_of_day(now);
        let floor = (3600.0 / office as f64).min(1.0);
        let profile = self.usable_profile();
        let total = self.office_weight(profile, super::spec::END_OF_DAY);
        if total <= 0.0 {
            return 1.0;
        }
        (self.office_weight(profile, t) / total).clamp(floor, 1.0)
    }

    /// `now` as a time of the hall's current day (its end once the day is
    /// over).
    fn local_time_of_day(&self, now: DateTime<Utc>) -> NaiveTime {
        if self.spec.local_date(now) > self.day {
            super::spec::END_OF_DAY
        } else {
            self.spec.local(now).time()
        }
    }

    /// The learnt profile, if it expects any arrivals in today's office
    /// hours (a profile learnt on weekdays says nothing about a Saturday
    /// opening that starts earlier, say).
    fn usable_profile(&self) -> Option<&ArrivalProfile> {
        let p = self.profile.as_ref()?;
        (self.office_weight(Some(p), super::spec::END_OF_DAY) > 1e-6).then_some(p)
    }

    /// The share of today's expected arrivals that falls in each local
    /// hour (24 entries), by the profile in use; for the dashboard's chart.
    pub fn hourly_profile(&self) -> [f64; 24] {
        let profile = self.usable_profile();
        let total = self.office_weight(profile, super::spec::END_OF_DAY);
        let mut out = [0.0; 24];
        if total <= 0.0 {
            return out;
        }
        let at = |h: u32| NaiveTime::from_hms_opt(h, 0, 0).unwrap_or(super::spec::END_OF_DAY);
        for (h, share) in out.iter_mut().enumerate() {
            let h = h as u32;
            let to = if h == 23 {
                super::spec::END_OF_DAY
            } else {
                at(h + 1)
            };
            *share = (self.office_weight(profile, to) - self.office_weight(profile, at(h))) / total;
        }
        out
    }

    /// Open windows serving a service; one serving k services counts 1/k.
    pub fn open_windows_for(&self, service: usize) -> f64 {
        self.spec
            .windows
            .iter()
            .enumerate()
            .filter(|(i, w)| {
                w.services.contains(&service)
                    && self.windows[*i].staff.is_some()
                    && self.windows[*i].paused.is_none()
            })
            .map(|(_, w)| 1.0 / w.services.len() as f64)
            .sum()
    }

    /// Each service's demand at `now`, in the configuration's order.
    fn demand(&self, now: DateTime<Utc>) -> impl Iterator<Item = Demand> + '_ {
        let share = self.share_of_day_passed(now);
        let benchmark = f64::from(self.spec.benchmark.max(1));
        (0..self.spec.services.len()).map(move |s| {
            // A service's daily sequence counts the tickets issued for it
            // today (a transfer moves a ticket, not its issue), without
            // walking them.
            let issued = self.seq.get(s).map_or(0, |&n| n as usize);
            let forecast = issued as f64 / share;
            Demand {
                issued,
                forecast,
                windows_needed: (forecast / benchmark - 1e-9).ceil().max(0.0) as u32,
                windows_open: self.open_windows_for(s),
            }
        })
    }

    /// Whether each service is short of at least one window at `now`.
    pub(super) fn short_of_a_window(&self, now: DateTime<Utc>) -> Vec<bool> {
        self.demand(now)
            .map(|d| short(d.windows_needed, d.windows_open))
            .collect()
    }

    /// Every service's staffing at `now`, against the benchmark and the
    /// staff-per-window ratio of the configuration.
    pub fn staffing(&self, now: DateTime<Utc>) -> Vec<Staffing> {
        // In the first office hour a forecast rests on too few tickets to
        // send anyone away: it may ask for windows, never close one.
        let may_close = self.office_weight(None, self.local_time_of_day(now)) >= 3600.0;
        self.spec
            .services
            .iter()
            .zip(self.demand(now))
            .enumerate()
            .map(|(s, (spec, d))| {
                let Demand {
                    issued,
                    forecast,
                    windows_needed,
                    windows_open,
                } = d;
                let change = match change(windows_needed, windows_open) {
                    c if c < 0 && !may_close => 0,
                    c => c,
                };
                Staffing {
                    service: s,
                    code: spec.code.clone(),
                    name: spec.name.clone(),
                    issued,
                    // Tenths: the forecast moves with every second of the
                    // day, and screens need it only to change when it shows.
                    forecast: (forecast * 10.0).round() / 10.0,
                    windows_needed,
                    staff_needed: (f64::from(windows_needed) * self.spec.staff_per_window - 1e-9)
                        .ceil()
                        .max(0.0) as u32,
                    windows_open,
                    change,
                    advice: advice(&spec.name, change),
                }
            })
            .collect()
    }

    /// The staffing advice for the manager's dashboard.
    pub fn staffing_advice(&self, now: DateTime<Utc>) -> StaffingAdvice {
        let services = self.staffing(now);
        let needed: f64 = services
            .iter()
            .map(|s| s.forecast / f64::from(self.spec.benchmark.max(1)))
            .sum();
        let windows_needed = (needed - 1e-9).ceil().max(0.0) as u32;
        let mut asks: Vec<&Staffing> = services.iter().filter(|s| s.change != 0).collect();
        // Openings before closings, the largest first.
        asks.sort_by_key(|s| (s.change < 0, -s.change.abs()));
        let profile = self.usable_profile();
        StaffingAdvice {
            profile: if profile.is_some() { "learnt" } else { "even" },
            profile_days: profile.map_or(0, |p| p.days),
            share_passed: (self.share_of_day_passed(now) * 1000.0).round() / 1000.0,
            benchmark: self.spec.benchmark,
            staff_per_window: self.spec.staff_per_window,
            forecast: (services.iter().map(|s| s.forecast).sum::<f64>() * 10.0).round() / 10.0,
            windows_needed,
            staff_needed: (f64::from(windows_needed) * self.spec.staff_per_window - 1e-9)
                .ceil()
                .max(0.0) as u32,
            windows_open: self
                .windows
                .iter()
                .filter(|w| w.staff.is_some() && w.paused.is_none())
                .count(),
            staff_on_duty: self.windows.iter().filter(|w| w.staff.is_some()).count(),
            advice: asks.iter().map(|s| s.advice.clone()).collect(),
            services,
        }
    }
}
