//! Load against the benchmark, the day's demand forecast and the staffing
//! advice (docs/domain.md).
//!
//! A service's demand for the day is forecast from the tickets issued so far
//! and the share of the day's arrivals that has passed: by the hall's arrival
//! profile, learnt from its earlier days, when there are enough of them,
//! else evenly over office hours; never dividing by less than the share of
//! one office hour. It is counted in the unit the benchmark counts (cases,
//! or people at windows that count people), less what was finished today,
//! and set against what the staffed windows can still do today, each by its
//! own benchmark and the share of its duty day still ahead: a flow from the
//! services to the windows that may serve them (`flow.rs`), so a shared
//! window is pooled, not split. Beside it, the county plan's planning
//! figure: `windows_needed = ceil(the day's cases / benchmark)`,
//! `staff_needed = ceil(windows_needed × staff_per_window)`.

use std::collections::VecDeque;

use chrono::{DateTime, NaiveDate, NaiveTime, Timelike, Utc};
use serde::Serialize;

use super::flow::Network;
use super::hall::Hall;
use super::ids::{ServiceCode, WindowId};
use super::spec::BenchmarkUnit;

/// Quarter hours in a day: the arrival profile's resolution.
pub const SLOTS: usize = 96;
const SLOT_S: i64 = 900;
/// Earlier days the profile learns from.
pub const PROFILE_DAYS: i64 = 28;
/// Days with tickets needed before the profile replaces the even one.
pub const PROFILE_MIN_DAYS: usize = 3;

/// Tickets issued per quarter hour of one earlier local day.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DayArrivals {
    pub date: NaiveDate,
    #[serde(with = "quarter_hours")]
    pub slots: [u32; SLOTS],
}

/// The share of a day's arrivals in each quarter hour, averaged over the
/// days it was learnt from (each day weighs the same, busy or quiet).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ArrivalProfile {
    #[serde(with = "quarter_hours")]
    pub shares: [f64; SLOTS],
    pub days: usize,
}

/// A day's quarter hours in a snapshot: serde's arrays stop at 32.
mod quarter_hours {
    use super::SLOTS;
    use serde::{Deserialize, Deserializer, Serialize, Serializer, de::Error};

    pub fn serialize<T: Serialize, S: Serializer>(
        slots: &[T; SLOTS],
        s: S,
    ) -> Result<S::Ok, S::Error> {
        slots.as_slice().serialize(s)
    }

    pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
        d: D,
    ) -> Result<[T; SLOTS], D::Error> {
        let all = Vec::<T>::deserialize(d)?;
        let n = all.len();
        all.try_into()
            .map_err(|_| D::Error::invalid_length(n, &"one value per quarter hour of the day"))
    }
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

/// Each service's remaining demand that its fair share leaves untaken.
fn shortfalls_of(p: &Picture, shares: &[f64]) -> Vec<f64> {
    p.services
        .iter()
        .zip(shares)
        .map(|(s, &got)| (s.demand - got).max(0.0))
        .collect()
}

/// The quarter hour a local time falls in.
fn slot_of(t: NaiveTime) -> usize {
    ((t.num_seconds_from_midnight() as i64 / SLOT_S) as usize).min(SLOTS - 1)
}

/// Tickets finished today for a service, by the service each was issued
/// for, and the cases they counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Done {
    pub tickets: u32,
    pub cases: u32,
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
    /// Tickets expected over the whole day (one decimal).
    #[schema(minimum = 0)]
    pub forecast: f64,
    /// What its demand is counted in: `people` when every window that
    /// serves it counts people, else `cases`.
    pub unit: BenchmarkUnit,
    /// The day's demand in `unit` (one decimal): the forecast, times the
    /// cases per ticket finished today in cases (1 before any finish).
    #[schema(minimum = 0)]
    pub expected: f64,
    /// Finished today, in `unit`.
    pub served: u32,
    /// Remaining demand: `expected − served`, at least 0 (one decimal).
    #[schema(minimum = 0)]
    pub demand: f64,
    /// Of it, what the staffed windows can take in the rest of their day
    /// (one decimal).
    #[schema(minimum = 0)]
    pub covered: f64,
    /// `demand − covered` (one decimal): what the staffed windows cannot
    /// take. The `staffing_gap` condition.
    #[schema(minimum = 0)]
    pub shortfall: f64,
    /// Staffed windows that may serve it, each counted whole: a shared
    /// window counts for every service it serves.
    pub windows_open: u32,
    /// The county plan's planning figure: ceil(expected ÷ benchmark).
    pub windows_needed: u32,
    /// Staff those windows need: ceil(windows_needed × staff_per_window).
    pub staff_needed: u32,
    /// The service's picture in words.
    pub advice: String,
}

/// One window in the staffing advice: what it can still do today.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct WindowCapacity {
    pub window: WindowId,
    /// The window's display name, e.g. 6号窗口.
    pub name: String,
    /// Staff logged in (a pause does not close a window).
    pub staffed: bool,
    /// On duty now.
    pub on_duty: bool,
    /// On duty and not staffed: 空岗.
    pub vacant: bool,
    /// The share of its duty day still ahead (of the hall's office hours
    /// when it has no duty today).
    #[schema(minimum = 0, maximum = 1)]
    pub share_ahead: f64,
    /// Benchmark × share ahead, in what its benchmark counts (one
    /// decimal): what it can still do today, or could if opened now.
    #[schema(minimum = 0)]
    pub capacity: f64,
    /// What its benchmark counts.
    pub counts: BenchmarkUnit,
    /// A closed window: how much more of the remaining demand the windows
    /// would take with it open (one decimal); null when staffed.
    #[schema(minimum = 0)]
    pub gain: Option<f64>,
    /// The advice never closes it.
    pub mandatory: bool,
}

/// The hall's staffing advice: per service and per window, and in total.
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
    /// Cases per window per day, for the planning figure.
    pub benchmark: u32,
    /// Staff needed per open window.
    #[schema(exclusive_minimum = 0)]
    pub staff_per_window: f64,
    /// A window may close only when the capacity left without it is at
    /// least the remaining demand × this.
    #[schema(minimum = 1)]
    pub margin: f64,
    pub services: Vec<Staffing>,
    /// Every window, in configuration order.
    pub windows: Vec<WindowCapacity>,
    /// Tickets expected over the whole day (one decimal).
    #[schema(minimum = 0)]
    pub forecast: f64,
    /// The day's expected cases, each service in its unit (one decimal).
    #[schema(minimum = 0)]
    pub expected: f64,
    /// The county plan's planning figure: ceil(expected ÷ benchmark).
    pub windows_needed: u32,
    /// Staff those windows need.
    pub staff_needed: u32,
    /// Remaining demand of all services (one decimal).
    #[schema(minimum = 0)]
    pub demand: f64,
    /// What the staffed windows can still do today (one decimal).
    #[schema(minimum = 0)]
    pub capacity: f64,
    /// What they cannot take of the demand, all services (one decimal).
    #[schema(minimum = 0)]
    pub shortfall: f64,
    /// The closed window that would take most of the shortfall.
    pub open: Option<WindowId>,
    /// A staffed window the hall could do without (never a mandatory one,
    /// never in the first office hour).
    pub close: Option<WindowId>,
    /// Windows with staff logged in and not paused.
    pub windows_open: usize,
    /// Staff logged in now.
    pub staff_on_duty: usize,
    /// The advice in words, 空岗 windows first, then the window to open
    /// and the services short, then a window that could close.
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
    /// Open windows (staffed, not paused) that serve a service, each whole.
    pub fn open_windows_for(&self, service: usize) -> u32 {
        self.open_windows_serving(service).count() as u32
    }

    /// How many open windows' work a service's queue can count on now: a
    /// window serving several services shares itself among their queues
    /// by their length, so four 无差别 windows with only 公安 waiting are
    /// four windows for 公安, and one serving two equal queues is half for
    /// each (an even split when nothing waits).
    pub fn window_share_for(&self, service: usize) -> f64 {
        self.open_windows_serving(service)
            .map(|w| self.queue_share(w, service))
            .sum()
    }

    pub(super) fn open_windows_serving(&self, service: usize) -> impl Iterator<Item = usize> + '_ {
        (0..self.spec.windows.len()).filter(move |&w| {
            self.spec.windows[w].services.contains(&service)
                && self.windows[w].staff.is_some()
                && self.windows[w].paused.is_none()
        })
    }

    /// Each service's remaining demand and each window's capacity at `now`.
    fn picture(&self, now: DateTime<Utc>) -> Picture {
        let share = self.share_of_day_passed(now);
        let services = (0..self.spec.services.len())
            .map(|s| {
                // A service's daily sequence counts the tickets issued for it
                // today (a transfer moves a ticket, not its issue), without
                // walking them.
                let issued = self.seq.get(s).map_or(0, |&n| n as usize);
                let forecast = issued as f64 / share;
                let done = self.done_for.get(s).copied().unwrap_or_default();
                let people = self
                    .spec
                    .windows
                    .iter()
                    .filter(|w| w.services.contains(&s))
                    .all(|w| w.counts == BenchmarkUnit::People);
                let (unit, per_ticket, served) = if people {
                    (BenchmarkUnit::People, 1.0, done.tickets)
                } else if done.tickets > 0 {
                    (
                        BenchmarkUnit::Cases,
                        f64::from(done.cases) / f64::from(done.tickets),
                        done.cases,
                    )
                } else {
                    (BenchmarkUnit::Cases, 1.0, done.cases)
                };
                let expected = forecast * per_ticket;
                ServiceDemand {
                    issued,
                    forecast,
                    unit,
                    expected,
                    served,
                    demand: (expected - f64::from(served)).max(0.0),
                }
            })
            .collect();
        let windows = (0..self.spec.windows.len())
            .map(|w| {
                let share_ahead = self.duty_share_ahead(w, now);
                WindowPicture {
                    staffed: self.windows[w].staff.is_some(),
                    on_duty: self.spec.on_duty(w, now),
                    share_ahead,
                    capacity: f64::from(self.spec.windows[w].benchmark) * share_ahead,
                }
            })
            .collect();
        Picture {
            share,
            services,
            windows,
        }
    }

    /// The share of window `w`'s duty today still ahead at `now`
    /// (`OfficeDay::duty_share_ahead`).
    fn duty_share_ahead(&self, w: usize, now: DateTime<Utc>) -> f64 {
        self.office.duty_share_ahead(&self.spec, self.day, w, now)
    }

    /// The network of `p` with the windows `open` says are staffed, and
    /// each service's demand times `scale`.
    fn network(&self, p: &Picture, scale: f64, open: impl Fn(usize) -> bool) -> Network {
        Network {
            demand: p.services.iter().map(|s| s.demand * scale).collect(),
            capacity: p
                .windows
                .iter()
                .enumerate()
                .map(|(w, x)| if open(w) { x.capacity } else { 0.0 })
                .collect(),
            serves: self
                .spec
                .windows
                .iter()
                .map(|w| w.services.clone())
                .collect(),
        }
    }

    /// Each service's shortfall at `now`, in its unit: the remaining demand
    /// the staffed windows cannot take (the `staffing_gap` condition).
    pub fn shortfalls(&self, now: DateTime<Utc>) -> Vec<f64> {
        let (p, shares) = self.staffed_shares(now);
        shortfalls_of(&p, &shares)
    }

    /// The picture at `now`, and the fair shares of its demand that the
    /// staffed windows take.
    fn staffed_shares(&self, now: DateTime<Utc>) -> (Picture, Vec<f64>) {
        let p = self.picture(now);
        let shares = self
            .network(&p, 1.0, |w| p.windows[w].staffed)
            .fair_shares();
        (p, shares)
    }

    /// Every service's staffing at `now`.
    pub fn staffing(&self, now: DateTime<Utc>) -> Vec<Staffing> {
        self.staffing_advice(now).services
    }

    /// The staffing advice for the manager's dashboard.
    pub fn staffing_advice(&self, now: DateTime<Utc>) -> StaffingAdvice {
        let spec = &self.spec;
        let (p, shares) = self.staffed_shares(now);
        let shortfalls = shortfalls_of(&p, &shares);
        let staffed = |w: usize| p.windows[w].staffed;
        let plan = f64::from(spec.benchmark.max(1));
        let services: Vec<Staffing> = spec
            .services
            .iter()
            .zip(&p.services)
            .zip(shares.iter().zip(&shortfalls))
            .enumerate()
            .map(|(s, ((svc, d), (&got, &shortfall)))| {
                let windows_needed = ceil(d.expected / plan);
                Staffing {
                    service: s,
                    code: svc.code.clone(),
                    name: svc.name.clone(),
                    issued: d.issued,
                    // Tenths: the forecast moves with every second of the
                    // day, and screens need it only to change when it shows.
                    forecast: tenth(d.forecast),
                    unit: d.unit,
                    expected: tenth(d.expected),
                    served: d.served,
                    demand: tenth(d.demand),
                    covered: tenth(got),
                    shortfall: tenth(shortfall),
                    windows_open: (0..spec.windows.len())
                        .filter(|&w| staffed(w) && spec.windows[w].services.contains(&s))
                        .count() as u32,
                    windows_needed,
                    staff_needed: ceil(f64::from(windows_needed) * spec.staff_per_window),
                    advice: if shortfall >= ADVISE_FROM {
                        format!(
                            "{}预计缺口 {} {}",
                            category(&svc.name),
                            whole(shortfall),
                            unit_word(d.unit)
                        )
                    } else {
                        format!("{}窗口够用", category(&svc.name))
                    },
                }
            })
            .collect();
        let short: f64 = services.iter().map(|s| s.shortfall).sum();

        let (open, gains) = self.to_open(&p, &shares);
        let vacant = |w: usize| p.windows[w].on_duty && !staffed(w);
        let close = if short < ADVISE_FROM && !self.in_first_office_hour(now) {
            self.window_to_close(&p)
        } else {
            None
        };

        let mut advice: Vec<String> = (0..spec.windows.len())
            .filter(|&w| vacant(w))
            .map(|w| {
                format!(
                    "{}空岗：值班时间内无人在岗，请安排到岗",
                    spec.windows[w].name
                )
            })
            .collect();
        if let Some(w) = open {
            let window = &spec.windows[w];
            let names: Vec<&str> = window
                .services
                .iter()
                .map(|&s| spec.services[s].name.as_str())
                .collect();
            let gap: f64 = window.services.iter().map(|&s| services[s].shortfall).sum();
            let people = window
                .services
                .iter()
                .filter(|&&s| services[s].shortfall >= ADVISE_FROM)
                .all(|&s| services[s].unit == BenchmarkUnit::People);
            advice.push(format!(
                "建议开放 {}（可办 {}），预计缺口 {} {}",
                window.name,
                names.join("、"),
                whole(gap).max(1),
                if people { "人次" } else { "件" }
            ));
        }
        for (s, st) in services.iter().enumerate() {
            let helped = open.is_some_and(|w| spec.windows[w].services.contains(&s));
            if st.shortfall < ADVISE_FROM || helped {
                continue;
            }
            let any = (0..spec.windows.len()).any(|w| {
                gains[w].is_some_and(|g| tenth(g) > 0.0) && spec.windows[w].services.contains(&s)
            });
            advice.push(if any {
                st.advice.clone()
            } else {
                format!("{}，没有可开放的窗口能办理", st.advice)
            });
        }
        if let Some(w) = close {
            advice.push(format!(
                "可关闭 {}：其余窗口仍能办完余下需求的 {} 倍",
                spec.windows[w].name, spec.staffing_margin
            ));
        }

        let expected: f64 = p.services.iter().map(|s| s.expected).sum();
        let windows_needed = ceil(expected / plan);
        let profile = self.usable_profile();
        StaffingAdvice {
            profile: if profile.is_some() { "learnt" } else { "even" },
            profile_days: profile.map_or(0, |p| p.days),
            share_passed: (p.share * 1000.0).round() / 1000.0,
            benchmark: spec.benchmark,
            staff_per_window: spec.staff_per_window,
            margin: spec.staffing_margin,
            forecast: tenth(p.services.iter().map(|s| s.forecast).sum::<f64>()),
            expected: tenth(expected),
            windows_needed,
            staff_needed: ceil(f64::from(windows_needed) * spec.staff_per_window),
            demand: tenth(p.services.iter().map(|s| s.demand).sum::<f64>()),
            capacity: tenth(
                p.windows
                    .iter()
                    .filter(|w| w.staffed)
                    .map(|w| w.capacity)
                    .sum::<f64>(),
            ),
            shortfall: tenth(short),
            open: open.map(|w| spec.windows[w].id.clone()),
            close: close.map(|w| spec.windows[w].id.clone()),
            windows: (0..spec.windows.len())
                .map(|w| {
                    let x = &p.windows[w];
                    WindowCapacity {
                        window: spec.windows[w].id.clone(),
                        name: spec.windows[w].name.clone(),
                        staffed: x.staffed,
                        on_duty: x.on_duty,
                        vacant: vacant(w),
                        share_ahead: (x.share_ahead * 1000.0).round() / 1000.0,
                        capacity: tenth(x.capacity),
                        counts: spec.windows[w].counts,
                        gain: gains[w].map(tenth),
                        mandatory: spec.windows[w].is_mandatory(),
                    }
                })
                .collect(),
            windows_open: self
                .windows
                .iter()
                .filter(|w| w.staff.is_some() && w.paused.is_none())
                .count(),
            staff_on_duty: self.windows.iter().filter(|w| w.staff.is_some()).count(),
            advice,
            services,
        }
    }

    /// The window the advice asks to open when the staffed windows fall
    /// short, and what each closed window would add if staffed now, from
    /// the picture and the fair shares of its staffed windows.
    fn to_open(&self, p: &Picture, shares: &[f64]) -> (Option<usize>, Vec<Option<f64>>) {
        let spec = &self.spec;
        let staffed = |w: usize| p.windows[w].staffed;
        let taken: f64 = shares.iter().sum();
        let short: f64 = shortfalls_of(p, shares).into_iter().map(tenth).sum();
        // What each closed window would add if staffed now.
        let gains: Vec<Option<f64>> = (0..spec.windows.len())
            .map(|c| {
                (!staffed(c) && p.windows[c].capacity > 0.0).then(|| {
                    let with = self.network(p, 1.0, |w| staffed(w) || w == c).max_flow();
                    (with - taken).max(0.0)
                })
            })
            .collect();
        let vacant = |w: usize| p.windows[w].on_duty && !staffed(w);
        let open = if short >= ADVISE_FROM {
            (0..spec.windows.len())
                .filter(|&w| gains[w].is_some_and(|g| tenth(g) > 0.0))
                // The most gained, a vacant window before a spare one, then
                // in the configuration's order.
                .min_by(|&a, &b| {
                    let (ga, gb) = (
                        tenth(gains[a].unwrap_or(0.0)),
                        tenth(gains[b].unwrap_or(0.0)),
                    );
                    gb.total_cmp(&ga)
                        .then(vacant(b).cmp(&vacant(a)))
                        .then(a.cmp(&b))
                })
        } else {
            None
        };
        (open, gains)
    }

    /// The window the advice would ask to open (`StaffingAdvice::open`),
    /// and each service's shortfall as `shortfalls` gives it, from one
    /// computation of the shares and no advice written out: what the
    /// staffing rule's check needs.
    pub fn opening_and_shortfalls(&self, now: DateTime<Utc>) -> (Option<usize>, Vec<f64>) {
        let (p, shares) = self.staffed_shares(now);
        (self.to_open(&p, &shares).0, shortfalls_of(&p, &shares))
    }

    /// In the first office hour a forecast rests on too few tickets to send
    /// anyone away: the advice may ask for windows, never close one.
    fn in_first_office_hour(&self, now: DateTime<Utc>) -> bool {
        self.office_weight(None, self.local_time_of_day(now)) < 3600.0
    }

    /// A staffed window the hall could do without: not mandatory, not the
    /// last staffed window of a service it serves, and with the capacity
    /// left without it still taking the remaining demand × the margin. Of
    /// those, the one serving the fewest services, then the last in the
    /// configuration.
    fn window_to_close(&self, p: &Picture) -> Option<usize> {
        let spec = &self.spec;
        let staffed = |w: usize| p.windows[w].staffed;
        (0..spec.windows.len())
            .rev()
            .filter(|&w| staffed(w) && !spec.windows[w].is_mandatory())
            .filter(|&w| {
                spec.windows[w].services.iter().all(|s| {
                    (0..spec.windows.len())
                        .any(|o| o != w && staffed(o) && spec.windows[o].services.contains(s))
                })
            })
            .filter(|&w| {
                let n = self.network(p, spec.staffing_margin, |o| o != w && staffed(o));
                let want: f64 = n.demand.iter().sum();
                n.max_flow() >= want - 1e-6 * (1.0 + want)
            })
            .min_by_key(|&w| spec.windows[w].services.len())
    }
}

/// A service's demand at an instant, before any words.
struct ServiceDemand {
    issued: usize,
    /// Tickets expected over the day.
    forecast: f64,
    unit: BenchmarkUnit,
    /// The day's demand in `unit`.
    expected: f64,
    /// Finished today in `unit`.
    served: u32,
    /// `expected − served`, at least 0.
    demand: f64,
}

/// A window's part at an instant.
struct WindowPicture {
    staffed: bool,
    on_duty: bool,
    share_ahead: f64,
    /// Benchmark × share ahead: what it can do today, staffed or opened.
    capacity: f64,
}

/// The hall's demand and windows at an instant.
struct Picture {
    share: f64,
    services: Vec<ServiceDemand>,
    windows: Vec<WindowPicture>,
}

/// Shortfalls from which the advice speaks: half a case, which shows as one.
const ADVISE_FROM: f64 = 0.5;

fn tenth(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn whole(x: f64) -> i64 {
    x.round() as i64
}

/// `ceil`, forgiving the last bit of rounding, and never below 0.
fn ceil(x: f64) -> u32 {
    (x - 1e-9).ceil().clamp(0.0, f64::from(u32::MAX)) as u32
}

fn unit_word(unit: BenchmarkUnit) -> &'static str {
    match unit {
        BenchmarkUnit::Cases => "件",
        BenchmarkUnit::People => "人次",
    }
}
