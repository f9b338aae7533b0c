//! What a hall is made of, as the configuration describes it: its services,
//! windows, kiosks and office hours. Built once at start from validated
//! settings and shared read-only by the hall's state.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, TimeZone, Timelike, Utc, Weekday};
use chrono_tz::Tz;

use super::ids::{DeviceId, HallId, ServiceCode, WindowId};

/// One level of a hall's region path: a division's code (行政区划代码,
/// e.g. `330000` or `33`) and its name (浙江省).
#[derive(
    Debug,
    Clone,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
    utoipa::ToSchema,
)]
pub struct RegionLevel {
    pub code: String,
    pub name: String,
}

code_enum! {
/// The level of a hall in the four-level service system (四级政务服务体系):
/// `province` 省级, `city` 市级, `county` 县级, `township` 乡镇（街道）,
/// `village` 村（社区）.
pub enum HallLevel {
    Province,
    City,
    County,
    Township,
    Village,
}
}

code_enum! {
/// The kind of a window (窗口类型), as halls use the words: `comprehensive`
/// 综合服务窗口, `domain` 分领域综合窗口, `professional` 专业办理窗口,
/// `one_thing` 一件事一次办专窗, `guide` 协调导办, `consult` 咨询填表,
/// `transfer` 业务流转, `cashier` 代理收费, `complaint` 办不成事反映窗口.
pub enum WindowKind {
    /// 综合服务窗口 / 无差别综合窗口: many services (一窗通办).
    Comprehensive,
    /// 分领域综合窗口: one field (公安, 市场监管, 人社, 医保).
    Domain,
    /// 专业办理窗口: one department.
    Professional,
    /// 一件事一次办专窗.
    OneThing,
    /// 协调导办.
    Guide,
    /// 咨询填表.
    Consult,
    /// 业务流转.
    Transfer,
    /// 代理收费.
    Cashier,
    /// 办不成事反映窗口.
    Complaint,
}
}

impl HallLevel {
    /// Its name on screens.
    pub fn name(self) -> &'static str {
        match self {
            HallLevel::Province => "省级",
            HallLevel::City => "市级",
            HallLevel::County => "县级",
            HallLevel::Township => "乡镇（街道）",
            HallLevel::Village => "村（社区）",
        }
    }
}

impl WindowKind {
    /// Its name in a hall.
    pub fn name(self) -> &'static str {
        match self {
            WindowKind::Comprehensive => "综合服务窗口",
            WindowKind::Domain => "分领域综合窗口",
            WindowKind::Professional => "专业办理窗口",
            WindowKind::OneThing => "一件事一次办专窗",
            WindowKind::Guide => "协调导办",
            WindowKind::Consult => "咨询填表",
            WindowKind::Transfer => "业务流转",
            WindowKind::Cashier => "代理收费",
            WindowKind::Complaint => "办不成事反映窗口",
        }
    }
}

code_enum! {
/// What a window's benchmark counts: `cases` (件, the matters a finished
/// ticket handled; a consultation is none), or `people` (人次, tickets
/// served, whatever they were: the guide and consultation desks).
pub enum BenchmarkUnit {
    Cases,
    People,
}
}

impl WindowKind {
    /// A window a hall must keep open (协调导办, 咨询填表, 办不成事反映,
    /// 一件事一次办专窗): the staffing advice never closes one.
    pub fn mandatory(self) -> bool {
        matches!(
            self,
            WindowKind::Guide | WindowKind::Consult | WindowKind::Complaint | WindowKind::OneThing
        )
    }

    /// What its benchmark counts unless the window says: people at the
    /// guide and consultation desks, cases elsewhere.
    pub fn default_unit(self) -> BenchmarkUnit {
        match self {
            WindowKind::Guide | WindowKind::Consult => BenchmarkUnit::People,
            _ => BenchmarkUnit::Cases,
        }
    }
}

/// A service (business category, 业务类别) of a hall.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceSpec {
    pub code: ServiceCode,
    /// Display name, e.g. 社会保障.
    pub name: String,
    /// Ticket prefix letters, e.g. `B`.
    pub prefix: String,
    /// Expected service time, used for wait estimates before the day has figures.
    pub expected_service_s: u32,
    /// How long a ticket may wait: (warning, critical), in seconds.
    pub wait_limit_s: (u32, u32),
    /// How long one service may run: (warning, critical), in seconds.
    pub service_limit_s: (u32, u32),
    /// The department that handles it (index into `HallSpec::departments`).
    pub department: Option<usize>,
    /// Walk-in tickets it issues per day (每日限号); None: no cap.
    pub daily_cap: Option<u32>,
}

/// A window of a hall.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowSpec {
    pub id: WindowId,
    /// Display name, e.g. 5号窗口.
    pub name: String,
    pub kind: WindowKind,
    /// Indexes into the hall's services that this window may serve.
    pub services: Vec<usize>,
    pub zone: Option<String>,
    /// Expected to be staffed through office hours.
    pub on_rota: bool,
    /// When the window must be staffed, when it has duty periods of its
    /// own; None: the hall's office hours when on the rota, never otherwise.
    /// Read through [`HallSpec::duty`].
    pub duty: Option<OfficeHours>,
    /// Its duty periods with their A角 and B角; empty: the default duty.
    pub roster: Vec<super::duty::DutyPeriod>,
    /// Cases (or people, by `counts`) per day this window is measured against.
    pub benchmark: u32,
    /// What `benchmark` counts.
    pub counts: BenchmarkUnit,
    /// Never closed by the staffing advice, whatever its kind
    /// (`WindowSpec::is_mandatory`).
    pub mandatory: bool,
    /// Device id of the window terminal (default `w{id}`).
    pub terminal: DeviceId,
    /// Device id of the rating pad (default `r{id}`).
    pub rater: DeviceId,
}

impl WindowSpec {
    /// A window the hall must keep open: `mandatory = true`, or a kind
    /// that is (`WindowKind::mandatory`).
    pub fn is_mandatory(&self) -> bool {
        self.mandatory || self.kind.mandatory()
    }
}

/// The last instant of a day, for ranges that end at midnight (`24:00`).
pub const END_OF_DAY: NaiveTime = match NaiveTime::from_hms_nano_opt(23, 59, 59, 999_999_999) {
    Some(t) => t,
    None => NaiveTime::MIN,
};

/// A time range within a day, `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub start: NaiveTime,
    pub end: NaiveTime,
}

impl Span {
    /// Parses `08:30-12:00`; `24:00` ends a range at midnight.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (a, b) = s
            .split_once('-')
            .ok_or_else(|| format!("{s:?} is not a time range like \"08:30-12:00\""))?;
        let t = |x: &str| {
            if x.trim() == "24:00" {
                return Ok(END_OF_DAY);
            }
            NaiveTime::parse_from_str(x.trim(), "%H:%M")
                .map_err(|_| format!("{x:?} is not a time like \"08:30\""))
        };
        let (start, end) = (t(a)?, t(b)?);
        if end <= start {
            return Err(format!("{s:?} ends before it starts"));
        }
        Ok(Self { start, end })
    }

    pub fn contains(&self, t: NaiveTime) -> bool {
        self.start <= t && t < self.end
    }

    pub fn seconds(&self) -> i64 {
        (self.end - self.start).num_seconds()
    }

    /// As the configuration writes it: `08:30-12:00`, `24:00` at midnight.
    pub fn label(&self) -> String {
        let end = if self.end == END_OF_DAY {
            "24:00".to_owned()
        } else {
            self.end.format("%H:%M").to_string()
        };
        format!("{}-{end}", self.start.format("%H:%M"))
    }
}

/// Opening hours per weekday plus dated exceptions (holidays, 调休 working
/// weekends, 延时 service days).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OfficeHours {
    /// Monday first.
    pub weekly: [Vec<Span>; 7],
    /// Dates with their own hours; an empty list means closed all day.
    pub exceptions: BTreeMap<NaiveDate, Vec<Span>>,
}

impl OfficeHours {
    /// These ranges on Monday to Friday, closed at the weekend.
    #[cfg(test)]
    pub fn weekdays(ranges: &[&str]) -> Self {
        let day: Vec<Span> = ranges.iter().filter_map(|r| Span::parse(r).ok()).collect();
        let mut hours = Self::default();
        for d in hours.weekly.iter_mut().take(5) {
            *d = day.clone();
        }
        hours
    }

    /// The spans of a local date.
    pub fn spans(&self, date: NaiveDate) -> &[Span] {
        match self.exceptions.get(&date) {
            Some(s) => s,
            None => &self.weekly[weekday_index(date.weekday())],
        }
    }

    /// Whether the hall is open at a local date and time.
    pub fn is_open(&self, date: NaiveDate, time: NaiveTime) -> bool {
        self.spans(date).iter().any(|s| s.contains(time))
    }
}

fn weekday_index(d: Weekday) -> usize {
    d.num_days_from_monday() as usize
}

/// A hall as configured. Read-only while the server runs.
///
/// Its debug form is what `checkpoint_key` digests, so it must come out
/// the same in every process: ordered maps (`BTreeMap`), never `HashMap`,
/// anywhere in it, or no start would find its checkpoints usable.
#[derive(Debug, Clone, PartialEq)]
pub struct HallSpec {
    pub id: HallId,
    pub name: String,
    pub level: HallLevel,
    /// Where the hall is in the administrative divisions (行政区划), from
    /// the province down: empty when not configured.
    pub region: Vec<RegionLevel>,
    pub tz: Tz,
    pub hours: OfficeHours,
    /// Refuse tickets outside office hours with `hall_closed`.
    pub refuse_outside_hours: bool,
    pub services: Vec<ServiceSpec>,
    pub windows: Vec<WindowSpec>,
    pub kiosks: Vec<DeviceId>,
    /// Back-office systems that report the hall's cases, by source id.
    pub backoffice: Vec<DeviceId>,
    /// Thresholds of the supervision rules.
    pub thresholds: super::rules::Thresholds,
    /// Cases per window per day for the staffing forecast (25).
    pub benchmark: u32,
    /// Staff per window (1.5).
    pub staff_per_window: f64,
    /// The staffing advice closes a window only when the capacity left
    /// without it is at least the remaining demand times this (1.2).
    pub staffing_margin: f64,
    /// Departments stationed in the hall (进驻单位).
    pub departments: Vec<super::duty::Department>,
    /// Registered staff; empty: any 工号 may log in.
    pub staff: Vec<super::duty::StaffMember>,
    /// The national calendar with the hall's closures and extra service days.
    pub calendar: super::duty::HallCalendar,
    /// Attendance graces and the absence limit.
    pub attendance: super::duty::AttendanceLimits,
    /// Tickets one kiosk may issue per minute; None: no limit.
    pub kiosk_per_minute: Option<u32>,
    /// 停止取号: walk-in tickets stop this many minutes before the day's
    /// closing time; None: they are issued until it.
    pub stop_issuing_min: Option<u32>,
    /// How the hall takes appointments (预约).
    pub bookings: super::booking::BookingLimits,
    /// When a case earns its 预警, 黄牌 and 红牌.
    pub cards: super::cases::CardLimits,
    /// Working days each step of a bad review's follow-up may take.
    pub follow_up: super::cases::FollowUpLimits,
    /// What a finding costs in the monthly 考评.
    pub deductions: super::appraisal::Deductions,
}

impl HallSpec {
    pub fn service_index(&self, code: &ServiceCode) -> Option<usize> {
        self.services.iter().position(|s| &s.code == code)
    }

    pub fn window_index(&self, id: &WindowId) -> Option<usize> {
        self.windows.iter().position(|w| &w.id == id)
    }

    /// The local calendar date at an instant.
    pub fn local_date(&self, at: DateTime<Utc>) -> NaiveDate {
        at.with_timezone(&self.tz).date_naive()
    }

    /// The instant a local date begins (local midnight).
    pub fn day_start(&self, date: NaiveDate) -> DateTime<Utc> {
        self.tz
            .from_local_datetime(&date.and_time(NaiveTime::MIN))
            .earliest()
            .map_or_else(
                || date.and_time(NaiveTime::MIN).and_utc(),
                |t| t.with_timezone(&Utc),
            )
    }

    /// A local date and time of this hall as an instant.
    pub(super) fn instant(&self, date: NaiveDate, time: NaiveTime) -> Option<DateTime<Utc>> {
        self.tz
            .from_local_datetime(&date.and_time(time))
            .earliest()
            .map(|t| t.with_timezone(&Utc))
    }

    /// The instant when `secs` seconds of office time have passed since
    /// `base`, counting only open hours (a lunch break or a night does not
    /// count), looking up to a week ahead.
    pub fn office_deadline(&self, base: DateTime<Utc>, secs: i64) -> Option<DateTime<Utc>> {
        self.office_deadline_within(base, secs, 8)
    }

    /// `office_deadline`, looking at `days` local days from `base`'s.
    pub(super) fn office_deadline_within(
        &self,
        base: DateTime<Utc>,
        secs: i64,
        days: usize,
    ) -> Option<DateTime<Utc>> {
        self.deadline_in(&self.hours, base, secs, days)
    }

    /// When `secs` seconds of window `w`'s duty have passed since `base`,
    /// looking up to a week ahead: `office_deadline` for one window.
    pub fn duty_deadline(&self, w: usize, base: DateTime<Utc>, secs: i64) -> Option<DateTime<Utc>> {
        self.deadline_in(self.duty(w), base, secs, 8)
    }

    fn deadline_in(
        &self,
        hours: &OfficeHours,
        base: DateTime<Utc>,
        secs: i64,
        days: usize,
    ) -> Option<DateTime<Utc>> {
        let mut left = secs.max(0);
        let mut date = base.with_timezone(&self.tz).date_naive();
        for _ in 0..days {
            for span in hours.spans(date) {
                let (Some(start), Some(end)) =
                    (self.instant(date, span.start), self.instant(date, span.end))
                else {
                    continue;
                };
                let from = start.max(base);
                if end <= from {
                    continue;
                }
                let available = (end - from).num_seconds();
                if left <= available {
                    return Some(from + chrono::Duration::seconds(left));
                }
                left -= available;
            }
            date = date.succ_opt()?;
        }
        None
    }

    /// Seconds of office time between two instants (0 when `to <= from`).
    /// Windows' status durations count only these, so a night offline is
    /// no absence.
    pub fn office_seconds(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
        self.seconds_within(&self.hours, from, to)
    }

    /// When window `w` must be staffed: its own duty periods, else the
    /// hall's office hours when it is on the rota, else never (a spare
    /// window opened only in a rush).
    pub fn duty(&self, w: usize) -> &OfficeHours {
        static NEVER: std::sync::LazyLock<OfficeHours> = std::sync::LazyLock::new(Default::default);
        match self.windows.get(w) {
            Some(window) => match &window.duty {
                Some(duty) => duty,
                None if window.on_rota => &self.hours,
                None => &NEVER,
            },
            None => &NEVER,
        }
    }

    /// Whether window `w` is on duty at an instant.
    pub fn on_duty(&self, w: usize, at: DateTime<Utc>) -> bool {
        let local = at.with_timezone(&self.tz);
        self.duty(w).is_open(local.date_naive(), local.time())
    }

    /// Seconds window `w` is on duty between two instants.
    pub fn duty_seconds(&self, w: usize, from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
        self.seconds_within(self.duty(w), from, to)
    }

    /// Seconds between two instants that fall within `hours`.
    pub fn seconds_within(
        &self,
        hours: &OfficeHours,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> i64 {
        if to <= from {
            return 0;
        }
        let mut total = 0;
        let mut date = self.local_date(from);
        let last = self.local_date(to);
        while date <= last {
            for span in hours.spans(date) {
                if let (Some(start), Some(end)) =
                    (self.instant(date, span.start), self.instant(date, span.end))
                {
                    let (a, b) = (start.max(from), end.min(to));
                    if b > a {
                        total += (b - a).num_seconds();
                    }
                }
            }
            let Some(next) = date.succ_opt() else { break };
            date = next;
        }
        total
    }

    /// When the open span that contains `at` began, or None when the hall
    /// is closed at `at`. Time-based rules count from here, so the lunch
    /// break or the night never counts as waiting or absence.
    pub fn open_since(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = at.with_timezone(&self.tz);
        let date = local.date_naive();
        let span = self
            .hours
            .spans(date)
            .iter()
            .find(|s| s.contains(local.time()))?;
        self.tz
            .from_local_datetime(&date.and_time(span.start))
            .earliest()
            .map(|t| t.with_timezone(&Utc))
    }

    /// Whether the hall is open at an instant, by its own clock and calendar.
    pub fn is_open(&self, at: DateTime<Utc>) -> bool {
        let local = at.with_timezone(&self.tz);
        self.hours.is_open(local.date_naive(), local.time())
    }

    /// When walk-in tickets stop on local date `date` (停止取号): the
    /// cut-off before the close of its last span; None without a cut-off
    /// or on a closed day.
    pub fn stop_issuing_at(&self, date: NaiveDate) -> Option<NaiveTime> {
        let min = self.stop_issuing_min?;
        let last = self.hours.spans(date).last()?;
        let close_s = if last.end == END_OF_DAY {
            86_400
        } else {
            i64::from(last.end.num_seconds_from_midnight())
        };
        let at_s = (close_s - i64::from(min) * 60).max(0);
        NaiveTime::from_num_seconds_from_midnight_opt(u32::try_from(at_s).ok()?, 0)
    }

    /// Whether walk-in tickets have stopped for the day at `at`.
    pub fn issuing_stopped(&self, at: DateTime<Utc>) -> bool {
        let local = at.with_timezone(&self.tz);
        self.stop_issuing_at(local.date_naive())
            .is_some_and(|stop| local.time() >= stop)
    }

    /// An instant as the hall's local time, for messages that people read.
    pub fn local(&self, at: DateTime<Utc>) -> DateTime<Tz> {
        self.tz.from_utc_datetime(&at.naive_utc())
    }

    /// The device an input names: the kiosk as given, a window's terminal or
    /// rating pad, the device of a presence message; None for a window this
    /// hall does not have, or a supervisor's action.
    pub fn device_of<'a>(&'a self, input: &'a super::Input) -> Option<&'a DeviceId> {
        use super::Input;
        match input {
            Input::Ticket { kiosk, .. } => Some(kiosk),
            Input::Presence { device, .. } => Some(device),
            Input::Window { window, .. } => {
                self.window_index(window).map(|w| &self.windows[w].terminal)
            }
            Input::Rating { window, .. } => {
                self.window_index(window).map(|w| &self.windows[w].rater)
            }
            Input::AlertAction { .. }
            | Input::Case { .. }
            | Input::CardAction { .. }
            | Input::FollowUpStep { .. }
            | Input::GiveUp { .. }
            | Input::Book { .. }
            | Input::CancelBooking { .. } => None,
        }
    }

    /// Whether a device id belongs to this hall, and as what.
    pub fn device_kind(&self, device: &DeviceId) -> Option<DeviceKind> {
        if self.kiosks.contains(device) {
            return Some(DeviceKind::Kiosk);
        }
        self.windows.iter().enumerate().find_map(|(i, w)| {
            if &w.terminal == device {
                Some(DeviceKind::Terminal(i))
            } else if &w.rater == device {
                Some(DeviceKind::Rater(i))
            } else {
                None
            }
        })
    }
}

/// What a configured device is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceKind {
    Kiosk,
    /// The terminal of the window at this index.
    Terminal(usize),
    /// The rating pad of the window at this index.
    Rater(usize),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }
    fn t(s: &str) -> NaiveTime {
        NaiveTime::parse_from_str(s, "%H:%M").unwrap()
    }

    #[test]
    fn spans_parse_and_refuse_nonsense() {
        let s = Span::parse("08:30-12:00").unwrap();
        assert!(s.contains(t("08:30")));
        assert!(!s.contains(t("12:00")));
        assert!(Span::parse("12:00-08:30").is_err());
        assert!(Span::parse("8h-9h").is_err());
        assert!(Span::parse("08:30").is_err());
        let night = Span::parse("18:00-24:00").unwrap();
        assert!(night.contains(NaiveTime::from_hms_opt(23, 59, 59).unwrap()));
    }

    #[test]
    fn lunch_breaks_weekends_and_exceptions_close_the_hall() {
        let morning = Span::parse("08:30-12:00").unwrap();
        let afternoon = Span::parse("13:30-17:30").unwrap();
        let mut hours = OfficeHours::default();
        for day in 0..5 {
            hours.weekly[day] = vec![morning, afternoon];
        }
        // 2026-11-23 is a Monday.
        assert!(hours.is_open(d("2026-11-23"), t("09:00")));
        assert!(!hours.is_open(d("2026-11-23"), t("12:30")));
        assert!(!hours.is_open(d("2026-11-22"), t("09:00")), "Sunday");
        hours.exceptions.insert(d("2026-11-23"), vec![]);
        hours
            .exceptions
            .insert(d("2026-11-22"), vec![Span::parse("09:00-12:00").unwrap()]);
        assert!(!hours.is_open(d("2026-11-23"), t("09:00")), "holiday");
        assert!(hours.is_open(d("2026-11-22"), t("09:00")), "working Sunday");
    }
}
