//! Departments (进驻单位), staff, the calendar and the duty rota: which
//! days are working days, when each window must be staffed and by whom
//! (its A角, with a B角 to stand in), and how punctually the A角 kept
//! the duty (attendance).
//!
//! The calendar is the national one (法定节假日 and 调休 working days, each
//! borrowing a named weekday's hours and duty) that every hall inherits,
//! with the hall's own closures and extra service days over it.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, NaiveDate, Utc, Weekday};

use serde::{Deserialize, Serialize};

use super::hall::Hall;
use super::ids::StaffId;
use super::spec::{HallSpec, OfficeHours, Span};

/// A department stationed in the hall (进驻单位), e.g. 县公安局.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Department {
    /// Short code, e.g. `gaj`.
    pub code: String,
    /// Display name, e.g. 县公安局.
    pub name: String,
}

/// A registered member of staff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffMember {
    /// 工号.
    pub id: StaffId,
    pub name: String,
    /// Index into `HallSpec::departments`.
    pub department: Option<usize>,
    /// Roles, e.g. 首席代表.
    pub roles: Vec<String>,
}

/// The national calendar every hall inherits: statutory holidays (closed)
/// and 调休 working days, each following a named weekday's hours and duty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NationalCalendar {
    pub holidays: BTreeSet<NaiveDate>,
    pub working_days: BTreeMap<NaiveDate, Weekday>,
}

/// A hall's calendar: the national one, with the hall's closures and its
/// extra service days (with their hours) over it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HallCalendar {
    pub national: NationalCalendar,
    /// Days the hall is closed whatever else says.
    pub closures: BTreeSet<NaiveDate>,
    /// Extra service days and their hours (延时服务 on a given date).
    pub service_days: BTreeMap<NaiveDate, Vec<Span>>,
}

/// What a date is to a hall.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Day<'a> {
    /// Closed: a hall closure or a national holiday.
    Closed,
    /// An extra service day of the hall, with the hall's hours that day.
    Service(&'a [Span]),
    /// A day that follows this weekday's hours and duty: its own, or the
    /// weekday a 调休 working day borrows.
    Like(Weekday),
}

/// Whether `date` is a working day (工作日, the unit of every deadline):
/// a weekday or a 调休 working day of the national calendar, not a
/// national holiday, and not one of the hall's `closures`. An extra
/// service day (延时服务 on a Saturday) is a service day, not a working day.
pub fn is_working_day(
    national: &NationalCalendar,
    closures: &BTreeSet<NaiveDate>,
    date: NaiveDate,
) -> bool {
    if closures.contains(&date) || national.holidays.contains(&date) {
        return false;
    }
    national.working_days.contains_key(&date)
        || !matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
}

/// The `n`th working day after `date` (`n = 0`: `date` itself when it is
/// one, else the next), looking no further than two years ahead.
pub fn add_working_days(
    national: &NationalCalendar,
    closures: &BTreeSet<NaiveDate>,
    date: NaiveDate,
    n: u32,
) -> Option<NaiveDate> {
    let mut d = date;
    let mut left = n;
    if n > 0 {
        d = d.succ_opt()?;
    }
    for _ in 0..(2 * 366 + n as usize * 3) {
        if is_working_day(national, closures, d) {
            if left <= 1 {
                return Some(d);
            }
            left -= 1;
        }
        d = d.succ_opt()?;
    }
    None
}

impl HallCalendar {
    /// What `date` is: a closure of the hall first, then its extra service
    /// days, then national holidays, then 调休 working days, then the
    /// date's own weekday.
    pub fn day(&self, date: NaiveDate) -> Day<'_> {
        if self.closures.contains(&date) {
            Day::Closed
        } else if let Some(spans) = self.service_days.get(&date) {
            Day::Service(spans)
        } else if self.national.holidays.contains(&date) {
            Day::Closed
        } else if let Some(w) = self.national.working_days.get(&date) {
            Day::Like(*w)
        } else {
            Day::Like(date.weekday())
        }
    }

    /// [`is_working_day`] for this hall.
    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        is_working_day(&self.national, &self.closures, date)
    }

    /// [`add_working_days`] for this hall.
    pub fn add_working_days(&self, date: NaiveDate, n: u32) -> Option<NaiveDate> {
        add_working_days(&self.national, &self.closures, date, n)
    }

    /// Every date the calendar names.
    pub fn dates(&self) -> BTreeSet<NaiveDate> {
        let n = &self.national;
        n.holidays
            .iter()
            .chain(n.working_days.keys())
            .chain(&self.closures)
            .chain(self.service_days.keys())
            .copied()
            .collect()
    }

    /// The hall's own hours, `weekly` by weekday, with the calendar applied.
    pub fn hall_hours(&self, weekly: &[Vec<Span>; 7]) -> OfficeHours {
        let mut out = OfficeHours {
            weekly: weekly.clone(),
            exceptions: Default::default(),
        };
        for date in self.dates() {
            let spans = match self.day(date) {
                Day::Closed => Vec::new(),
                Day::Service(s) => s.to_vec(),
                Day::Like(w) => weekly[w.num_days_from_monday() as usize].clone(),
            };
            out.exceptions.insert(date, spans);
        }
        out
    }
}

/// Days of a duty period: weekdays and dates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DaySet {
    /// Monday first.
    pub weekdays: [bool; 7],
    pub dates: BTreeSet<NaiveDate>,
}

/// A duty period of a window (值班): on these days, these hours, with its
/// A角 (who staffs it) and B角 (who stands in), as indexes into
/// `HallSpec::staff`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DutyPeriod {
    pub days: DaySet,
    pub spans: Vec<Span>,
    pub a: Option<usize>,
    pub b: Option<usize>,
}

/// The duty periods that apply to a window with `periods` on `date`:
/// none on a closure of the hall; those that name the date, if any (duty
/// on a holiday too); none on a national holiday; else those of the
/// weekday the date follows (on an extra service day, its own weekday).
pub fn periods_on<'a>(
    periods: &'a [DutyPeriod],
    calendar: &HallCalendar,
    date: NaiveDate,
) -> Vec<&'a DutyPeriod> {
    if calendar.closures.contains(&date) {
        return Vec::new();
    }
    let named: Vec<&DutyPeriod> = periods
        .iter()
        .filter(|p| p.days.dates.contains(&date))
        .collect();
    if !named.is_empty() {
        return named;
    }
    let weekday = match calendar.day(date) {
        Day::Closed => return Vec::new(),
        Day::Service(_) => date.weekday(),
        Day::Like(w) => w,
    };
    periods
        .iter()
        .filter(|p| p.days.weekdays[weekday.num_days_from_monday() as usize])
        .collect()
}

/// Spans in order, overlapping and touching ones merged.
pub fn union(mut spans: Vec<Span>) -> Vec<Span> {
    spans.sort_by_key(|s| s.start);
    let mut out: Vec<Span> = Vec::with_capacity(spans.len());
    for s in spans {
        match out.last_mut() {
            Some(last) if s.start <= last.end => last.end = last.end.max(s.end),
            _ => out.push(s),
        }
    }
    out
}

/// The duty hours of a window with these periods under `calendar`.
pub fn duty_hours(periods: &[DutyPeriod], calendar: &HallCalendar) -> OfficeHours {
    let mut out = OfficeHours::default();
    for (i, day) in out.weekly.iter_mut().enumerate() {
        *day = union(
            periods
                .iter()
                .filter(|p| p.days.weekdays[i])
                .flat_map(|p| p.spans.iter().copied())
                .collect(),
        );
    }
    let mut dates = calendar.dates();
    dates.extend(periods.iter().flat_map(|p| p.days.dates.iter().copied()));
    for date in dates {
        let spans = periods_on(periods, calendar, date)
            .into_iter()
            .flat_map(|p| p.spans.iter().copied())
            .collect();
        out.exceptions.insert(date, union(spans));
    }
    out
}

/// The union of several hours: open whenever any of them is.
pub fn union_hours<'a>(all: impl IntoIterator<Item = &'a OfficeHours> + Clone) -> OfficeHours {
    let mut out = OfficeHours::default();
    for (i, day) in out.weekly.iter_mut().enumerate() {
        *day = union(
            all.clone()
                .into_iter()
                .flat_map(|h| h.weekly[i].iter().copied())
                .collect(),
        );
    }
    let dates: BTreeSet<NaiveDate> = all
        .clone()
        .into_iter()
        .flat_map(|h| h.exceptions.keys().copied())
        .collect();
    for date in dates {
        let spans = all
            .clone()
            .into_iter()
            .flat_map(|h| h.spans(date).iter().copied())
            .collect();
        out.exceptions.insert(date, union(spans));
    }
    out
}

/// One rostered stretch of a window's duty on a day: a span of a duty
/// period, as instants, with its A角 and B角.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shift {
    pub window: usize,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub a: Option<usize>,
    pub b: Option<usize>,
}

/// How punctual the A角 must be: graces and the longest absence from post.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttendanceLimits {
    /// A first login later than the duty start plus this is late (5 min).
    pub late_grace_s: i64,
    /// A last logout earlier than the duty end minus this is early (5 min).
    pub early_grace_s: i64,
    /// Logged out during duty longer than this is absence from post (离岗, 15 min).
    pub absence_s: i64,
}

impl Default for AttendanceLimits {
    fn default() -> Self {
        Self {
            late_grace_s: 300,
            early_grace_s: 300,
            absence_s: 900,
        }
    }
}

impl HallSpec {
    /// The registered staff member with this 工号.
    pub fn staff_index(&self, id: &StaffId) -> Option<usize> {
        self.staff.iter().position(|s| &s.id == id)
    }

    /// Whether a login with this 工号 is accepted: any is, in a hall that
    /// registers no staff; else only a registered one.
    pub fn knows_staff(&self, id: &StaffId) -> bool {
        self.staff.is_empty() || self.staff_index(id).is_some()
    }

    /// The department of a service, by index.
    pub fn service_department(&self, s: usize) -> Option<&Department> {
        self.departments.get(self.services.get(s)?.department?)
    }

    /// The department of a window: the one every service it serves belongs
    /// to; none for a window serving several departments.
    pub fn window_department(&self, w: usize) -> Option<&Department> {
        let window = self.windows.get(w)?;
        let mut deps = window.services.iter().map(|&s| self.services[s].department);
        let first = deps.next()??;
        deps.all(|d| d == Some(first))
            .then(|| self.departments.get(first))
            .flatten()
    }

    /// A department, by its code.
    pub fn department(&self, code: &str) -> Option<&Department> {
        self.departments.iter().find(|d| d.code == code)
    }

    /// The department of a staff member, by 工号.
    pub fn staff_department(&self, id: &StaffId) -> Option<&Department> {
        self.departments
            .get(self.staff.get(self.staff_index(id)?)?.department?)
    }

    /// Whether `date` is a working day of this hall ([`is_working_day`]).
    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        self.calendar.is_working_day(date)
    }

    /// Window `w`'s rostered shifts on a local date, in order.
    pub fn shifts(&self, w: usize, date: NaiveDate) -> Vec<Shift> {
        let Some(window) = self.windows.get(w) else {
            return Vec::new();
        };
        let mut out: Vec<Shift> = periods_on(&window.roster, &self.calendar, date)
            .into_iter()
            .flat_map(|p| {
                p.spans.iter().filter_map(move |s| {
                    Some(Shift {
                        window: w,
                        start: self.instant(date, s.start)?,
                        end: self.instant(date, s.end)?,
                        a: p.a,
                        b: p.b,
                    })
                })
            })
            .collect();
        out.sort_by_key(|s| s.start);
        out
    }

    /// The shift of window `w` at an instant, if it is rostered then.
    pub fn shift_at(&self, w: usize, at: DateTime<Utc>) -> Option<Shift> {
        self.shifts(w, self.local_date(at))
            .into_iter()
            .find(|s| s.start <= at && at < s.end)
    }
}

/// A login at a window: who, from when, until when (None: still logged in).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Session {
    pub window: usize,
    pub staff: StaffId,
    #[serde(with = "super::checkpoint::instant")]
    pub from: DateTime<Utc>,
    #[serde(with = "super::checkpoint::instant_opt")]
    pub to: Option<DateTime<Utc>>,
}

/// How the rostered A角 kept their duty, over the shifts begun by the time
/// it is counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Attendance {
    /// Rostered shifts (a span of a duty period) begun so far.
    pub shifts: u32,
    /// Shifts whose A角 first logged in later than the start plus the grace (迟到).
    pub late: u32,
    /// Shifts past their start plus the grace with no login of their A角 (未到岗).
    pub not_arrived: u32,
    /// Ended shifts whose A角 last logged out earlier than the end minus the grace (早退).
    pub early_leave: u32,
    /// Times the A角 was logged out during a shift longer than the absence
    /// limit (离岗); a pause is not an absence.
    pub absences: u32,
    /// Seconds of those absences.
    pub absent_s: i64,
}

/// A lapse of a rostered A角 that the repeat findings count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Lapse {
    /// 迟到: arrived after the start plus the grace.
    Late,
    /// 未到岗: not arrived by then.
    NotArrived,
    /// 离岗 (空岗): away from post longer than the absence limit.
    Absent,
    /// 早退: gone before the end less the grace, and not back.
    EarlyLeave,
}

impl Lapse {
    /// Its name on screens.
    pub fn name(self) -> &'static str {
        match self {
            Lapse::Late => "迟到",
            Lapse::NotArrived => "未到岗",
            Lapse::Absent => "离岗",
            Lapse::EarlyLeave => "早退",
        }
    }
}

impl Attendance {
    /// The lapses the repeat findings count: late arrivals, shifts not
    /// arrived, absences from post and early leaves.
    pub fn lapses(&self) -> u32 {
        self.late + self.not_arrived + self.absences + self.early_leave
    }

    pub(super) fn add(&mut self, o: &Attendance) {
        self.shifts += o.shifts;
        self.late += o.late;
        self.not_arrived += o.not_arrived;
        self.early_leave += o.early_leave;
        self.absences += o.absences;
        self.absent_s += o.absent_s;
    }
}

impl Hall {
    /// A login at window `w`: a new session (closing one still open).
    pub(super) fn attendance_login(&mut self, w: usize, staff: &StaffId, now: DateTime<Utc>) {
        self.attendance_logout(w, now);
        self.sessions.push(Session {
            window: w,
            staff: staff.clone(),
            from: now,
            to: None,
        });
    }

    /// A logout at window `w`: its open session ends.
    pub(super) fn attendance_logout(&mut self, w: usize, now: DateTime<Utc>) {
        if let Some(s) = self
            .sessions
            .iter_mut()
            .rev()
            .find(|s| s.window == w && s.to.is_none())
        {
            s.to = Some(now);
        }
    }

    /// Today's logins, in order.
    pub fn sessions(&self) -> &[Session] {
        &self.sessions
    }

    /// How the A角 of one shift kept it, counted at `now`.
    pub fn shift_attendance(&self, shift: &Shift, now: DateTime<Utc>) -> Attendance {
        self.shift_record(shift, now, &mut |_, _| {})
    }

    /// [`Hall::shift_attendance`], handing each lapse of the A角 to
    /// `lapse` with the instant it became one: 未到岗 (and a late arrival,
    /// which is one that arrived after all) at the start plus the grace, a
    /// 离岗 when it outlasted the absence limit.
    fn shift_record(
        &self,
        shift: &Shift,
        now: DateTime<Utc>,
        lapse: &mut dyn FnMut(Lapse, DateTime<Utc>),
    ) -> Attendance {
        let mut out = Attendance::default();
        let Some(a) = shift.a else { return out };
        if now < shift.start {
            return out;
        }
        let limits = self.spec.attendance;
        let who = &self.spec.staff[a].id;
        let until = now.min(shift.end);
        // The A角's logins at this window over the shift, clipped to it.
        let mut covered: Vec<(DateTime<Utc>, DateTime<Utc>, bool)> = self
            .sessions
            .iter()
            .filter(|s| s.window == shift.window && &s.staff == who)
            .filter_map(|s| {
                let to = s.to.unwrap_or(now);
                let (from, to_c) = (s.from.max(shift.start), to.min(until));
                (s.from < shift.end && to > shift.start && from <= to_c).then_some((
                    from,
                    to_c,
                    s.to.is_some_and(|t| t < shift.end),
                ))
            })
            .collect();
        covered.sort();
        out.shifts = 1;
        let grace = chrono::Duration::seconds(limits.late_grace_s);
        let Some(first) = covered.first() else {
            if now >= shift.start + grace {
                out.not_arrived = 1;
                lapse(Lapse::NotArrived, shift.start + grace);
            }
            return out;
        };
        if first.0 > shift.start + grace {
            out.late = 1;
            lapse(Lapse::Late, shift.start + grace);
        }
        // A gap counts once longer than the limit in whole seconds.
        let over = chrono::Duration::seconds(limits.absence_s + 1);
        let mut absent = |from: DateTime<Utc>, to: DateTime<Utc>| {
            let gap = (to - from).num_seconds();
            if gap > limits.absence_s {
                out.absences += 1;
                out.absent_s += gap;
                lapse(Lapse::Absent, from + over);
            }
        };
        for pair in covered.windows(2) {
            absent(pair[0].1, pair[1].0);
        }
        let last = covered[covered.len() - 1];
        if last.2 {
            // Logged out before the end and not back.
            if now >= shift.end {
                if last.1 < shift.end - chrono::Duration::seconds(limits.early_grace_s) {
                    out.early_leave = 1;
                    // A lapse since the absence limit passed, if it did
                    // before the end (it was one while the shift ran).
                    let away = (shift.end - last.1).num_seconds() > limits.absence_s;
                    lapse(
                        Lapse::EarlyLeave,
                        if away { last.1 + over } else { shift.end },
                    );
                }
            } else {
                absent(last.1, now);
            }
        }
        out
    }

    /// Today's lapses of the rostered A角 by `now` (迟到, 未到岗, 离岗, 早退:
    /// what the repeat findings count), each with the instant it became
    /// one, the staff member's index into `HallSpec::staff` and the
    /// window's, in time order. The instants at which time alone would
    /// make or change one go to `next`: a shift's start plus the grace, an
    /// absence's limit, a shift's end.
    pub fn lapses(
        &self,
        now: DateTime<Utc>,
        next: &mut super::checks::Next,
    ) -> Vec<(DateTime<Utc>, usize, Lapse, usize)> {
        let limits = self.spec.attendance;
        let mut out = Vec::new();
        for w in 0..self.spec.windows.len() {
            for s in self.spec.shifts(w, self.day) {
                let Some(a) = s.a else { continue };
                self.shift_record(&s, now, &mut |kind, at| out.push((at, a, kind, w)));
                next.deadline(Some(
                    s.start + chrono::Duration::seconds(limits.late_grace_s),
                ));
                if now < s.end {
                    // An absence becomes an early leave at the end.
                    next.deadline(Some(s.end));
                    // The A角 logged out during the shift: away too long at.
                    let who = &self.spec.staff[a].id;
                    if let Some(to) = self
                        .sessions
                        .iter()
                        .filter(|x| x.window == w && &x.staff == who)
                        .filter_map(|x| x.to)
                        .filter(|to| *to >= s.start && *to < s.end)
                        .max()
                    {
                        next.deadline(Some(to + chrono::Duration::seconds(limits.absence_s + 1)));
                    }
                }
            }
        }
        out.sort();
        out
    }

    /// Attendance of window `w` today (every A角 rostered there), at `now`;
    /// None for a window with no rostered A角 today.
    pub fn window_attendance(&self, w: usize, now: DateTime<Utc>) -> Option<Attendance> {
        let shifts: Vec<Shift> = self
            .spec
            .shifts(w, self.day)
            .into_iter()
            .filter(|s| s.a.is_some())
            .collect();
        if shifts.is_empty() {
            return None;
        }
        let mut out = Attendance::default();
        for s in &shifts {
            out.add(&self.shift_attendance(s, now));
        }
        Some(out)
    }

    /// Attendance of each registered staff member rostered as A角 today,
    /// by index into `HallSpec::staff`, at `now`.
    pub fn staff_attendance(&self, now: DateTime<Utc>) -> BTreeMap<usize, Attendance> {
        let mut out: BTreeMap<usize, Attendance> = BTreeMap::new();
        for w in 0..self.spec.windows.len() {
            for s in self.spec.shifts(w, self.day) {
                if let Some(a) = s.a {
                    out.entry(a)
                        .or_default()
                        .add(&self.shift_attendance(&s, now));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests;
