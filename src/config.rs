//! Settings: one TOML file, typed, documented and validated at start.
//!
//! Every field below is documented because these comments are the user's
//! reference (see `hallwatch.example.toml`). A bad file is refused with an
//! error that names the field and the reason, before anything starts.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::NaiveDate;
use chrono_tz::Tz;
use serde::Deserialize;

use crate::domain::{
    AttendanceLimits, BenchmarkUnit, DaySet, Department, DeviceId, DutyPeriod, HallCalendar,
    HallId, HallLevel, HallSpec, Kind, NationalCalendar, OfficeHours, RegionLevel, ServiceCode,
    ServiceSpec, Setting, Span, StaffId, StaffMember, Thresholds, WindowId, WindowKind, WindowSpec,
    duty_hours, union_hours,
};

/// A configuration problem: which field, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Where in the file, e.g. `halls[jl-center].windows[05].services`.
    pub field: String,
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}", self.reason)
        } else {
            write!(f, "{}: {}", self.field, self.reason)
        }
    }
}

impl std::error::Error for ConfigError {}

fn err(field: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        field: field.into(),
        reason: reason.into(),
    }
}

/// The file as written. Validated into [`Settings`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSettings {
    #[serde(default)]
    pub server: ServerSettings,
    #[serde(default)]
    pub mqtt: MqttSettings,
    #[serde(default)]
    pub defaults: Defaults,
    #[serde(default)]
    pub tokens: Vec<TokenSettings>,
    #[serde(default)]
    pub halls: Vec<RawHall>,
    /// `[[departments]]`: departments stationed in the halls (进驻单位).
    #[serde(default)]
    pub departments: Vec<RawDepartment>,
    /// `[calendar]`: the national calendar every hall inherits.
    #[serde(default)]
    pub calendar: RawCalendar,
    /// `[cases]`: 限时办结 cards, bad-review follow-up and the monthly 考评.
    #[serde(default)]
    pub cases: CaseSettings,
    /// `[notify]`: alerts and cards on supervisors' phones.
    #[serde(default)]
    pub notify: notify::NotifySettings,
    /// `[phone]`: citizens' phone pages of their tickets.
    #[serde(default)]
    pub phone: phone::PhoneSettings,
    /// `[appointments]`: how the halls take bookings (预约).
    #[serde(default)]
    pub appointments: booking::BookingSettings,
    /// `[cluster]`: partitions of halls shared by several instances.
    #[serde(default)]
    pub cluster: cluster::ClusterSettings,
}

/// A level of `[[halls]] region` as written in the file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRegionLevel {
    pub code: String,
    pub name: String,
}

/// A hall's region path: up to five levels, each code digits (at most 12,
/// as 行政区划代码 with their village part) extending its parent's, each
/// with a name.
fn region_path(levels: &[RawRegionLevel], at: &str) -> Result<Vec<RegionLevel>, ConfigError> {
    if levels.len() > 5 {
        return Err(err(
            format!("{at}.region"),
            "at most five levels: 省 / 市 / 县区 / 乡镇街道 / 村社区",
        ));
    }
    let mut path: Vec<RegionLevel> = Vec::new();
    for (i, l) in levels.iter().enumerate() {
        let field = format!("{at}.region[{i}]");
        if l.code.is_empty() || l.code.len() > 12 || !l.code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err(format!("{field}.code"), "must be 1 to 12 digits"));
        }
        if let Some(parent) = path.last()
            && !(l.code.len() > parent.code.len() && l.code.starts_with(&parent.code))
        {
            return Err(err(
                format!("{field}.code"),
                format!(
                    "{:?} must extend its parent's code {:?}",
                    l.code, parent.code
                ),
            ));
        }
        if l.name.trim().is_empty() {
            return Err(err(format!("{field}.name"), "must not be empty"));
        }
        path.push(RegionLevel {
            code: l.code.clone(),
            name: l.name.trim().to_owned(),
        });
    }
    Ok(path)
}

/// `[cases]`: when cards are issued, how long each follow-up step may
/// take, and what a finding costs in the monthly 考评, for every hall.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CaseSettings {
    /// 预警 when this many working days remain (1: on the due day). 0: none.
    pub warn_days: u32,
    /// 红牌 when overdue by this many working days.
    pub red_days: u32,
    /// Working days for 核实 (verify), 整改 (rectify) and 回访 (call back)
    /// of a bad review.
    pub verify_days: u32,
    pub rectify_days: u32,
    pub call_back_days: u32,
    /// `[cases.deductions]`: points out of 100 per finding.
    pub deductions: crate::domain::Deductions,
}

impl Default for CaseSettings {
    fn default() -> Self {
        let cards = crate::domain::CardLimits::default();
        let steps = crate::domain::FollowUpLimits::default();
        Self {
            warn_days: cards.warn_days,
            red_days: cards.red_days,
            verify_days: steps.verify_days,
            rectify_days: steps.rectify_days,
            call_back_days: steps.call_back_days,
            deductions: crate::domain::Deductions::default(),
        }
    }
}

impl CaseSettings {
    /// Checked, as the domain's limits.
    fn resolve(
        &self,
    ) -> Result<
        (
            crate::domain::CardLimits,
            crate::domain::FollowUpLimits,
            crate::domain::Deductions,
        ),
        ConfigError,
    > {
        let days = |v: u32, field: &str, min: u32| {
            if (min..=365).contains(&v) {
                Ok(v)
            } else {
                Err(err(
                    format!("cases.{field}"),
                    format!("must be {min} to 365 working days"),
                ))
            }
        };
        let cards = crate::domain::CardLimits {
            warn_days: days(self.warn_days, "warn_days", 0)?,
            red_days: days(self.red_days, "red_days", 1)?,
        };
        let steps = crate::domain::FollowUpLimits {
            verify_days: days(self.verify_days, "verify_days", 1)?,
            rectify_days: days(self.rectify_days, "rectify_days", 1)?,
            call_back_days: days(self.call_back_days, "call_back_days", 1)?,
        };
        let d = &self.deductions;
        let points = |v: f64, field: &str| {
            if v.is_finite() && (0.0..=100.0).contains(&v) {
                Ok(v)
            } else {
                Err(err(
                    format!("cases.deductions.{field}"),
                    "must be a number of points from 0 to 100",
                ))
            }
        };
        let deductions = crate::domain::Deductions {
            yellow: points(d.yellow, "yellow")?,
            red: points(d.red, "red")?,
            overdue_case: points(d.overdue_case, "overdue_case")?,
            late_step: points(d.late_step, "late_step")?,
            bad_review: points(d.bad_review, "bad_review")?,
            late: points(d.late, "late")?,
            not_arrived: points(d.not_arrived, "not_arrived")?,
            early_leave: points(d.early_leave, "early_leave")?,
            absence: points(d.absence, "absence")?,
        };
        Ok((cards, steps, deductions))
    }
}

/// `[[departments]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDepartment {
    /// Short code services and staff name it by, e.g. `gaj`.
    pub code: String,
    /// Display name, e.g. 县公安局.
    pub name: String,
}

/// `[calendar]`: the national calendar (the State Council's holiday
/// notice for the year): `holidays` are closed in every hall; each of
/// `working_days` is a 调休 working day that follows the named weekday's
/// hours and duty, e.g. `"2026-10-10" = "mon"`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCalendar {
    /// Dates like `"2026-10-01"`, or ranges like `"2026-10-01..2026-10-07"`.
    #[serde(default)]
    pub holidays: Vec<String>,
    /// Date = weekday (`mon`..`sun`).
    #[serde(default)]
    pub working_days: BTreeMap<String, String>,
}

/// `[[halls.staff]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStaff {
    /// 工号, as window terminals log in with it.
    pub id: String,
    pub name: String,
    /// A `[[departments]]` code.
    pub department: Option<String>,
    /// e.g. `["首席代表"]`.
    #[serde(default)]
    pub roles: Vec<String>,
}

/// `[[halls.windows.duty]]`: a duty period of a window.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDuty {
    /// `weekdays`, `mon`..`sun` or dates like `"2026-11-28"`.
    pub days: Vec<String>,
    /// Time ranges like `["08:30-12:00"]`.
    pub hours: Vec<String>,
    /// 工号 of the A角 (who staffs it).
    pub a: Option<String>,
    /// 工号 of the B角 (who stands in).
    pub b: Option<String>,
}

/// `[halls.attendance]`: how punctual the A角 must be.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawAttendance {
    /// A first login later than the duty start plus this is late. Default 5.
    pub late_grace_min: u32,
    /// A last logout earlier than the duty end minus this is early. Default 5.
    pub early_grace_min: u32,
    /// Logged out during duty longer than this is absence from post (离岗). Default 15.
    pub absence_min: u32,
}

impl Default for RawAttendance {
    fn default() -> Self {
        Self {
            late_grace_min: 5,
            early_grace_min: 5,
            absence_min: 15,
        }
    }
}

/// `[server]`: where the server listens and where it stores events.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    /// Address for HTTP and WebSockets. Default `127.0.0.1:8080`.
    pub listen: String,
    /// `sqlite://FILE` (created if missing, WAL) or `postgres://…`.
    /// Default `sqlite://hallwatch.db`.
    pub database_url: String,
    /// How many days of events to replay on start at most (today's are
    /// always replayed; older ones only refill idempotency memory). Default 2.
    pub replay_days: u32,
    /// Seconds between checkpoints of each hall's state in the store, taken
    /// while its events come in (and when the hall stops): a start folds
    /// only the log after a hall's checkpoint. 0: none are taken, and every
    /// start folds the whole log. Default 300.
    pub checkpoint_every_s: u64,
    /// PEM file of the HTTPS certificate: the server's certificate first,
    /// then any intermediate CA certificates. With `tls_key`, the server
    /// speaks only HTTPS and WSS on `listen`. Unset: plain HTTP.
    /// Relative paths are read from the working directory.
    pub tls_cert: Option<PathBuf>,
    /// PEM file of the private key of `tls_cert` (PKCS#8, PKCS#1 or SEC1).
    pub tls_key: Option<PathBuf>,
    /// The origins the screens are served from, as a browser writes them
    /// (`https://hall.example.gov.cn`, with a port when not the default).
    /// A request authenticated by the session cookie that changes something,
    /// and every WebSocket handshake that carries an `Origin`, must come from
    /// one of them. Empty (default): the origin must name the host the
    /// request was sent to.
    pub public_origins: Vec<String>,
    /// Addresses (`10.0.0.5`) or networks (`10.0.0.0/8`) of reverse proxies
    /// whose `X-Forwarded-For` and `X-Forwarded-Proto` are believed. A
    /// request from anywhere else is its socket's address. Default none.
    pub trusted_proxies: Vec<String>,
    /// How long a login lasts, in hours (1 to 168). Default 12.
    pub session_hours: u32,
    /// Seconds a client may take to send a request body. Default 10.
    pub body_timeout_s: u64,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            database_url: "sqlite://hallwatch.db".into(),
            replay_days: 2,
            checkpoint_every_s: 300,
            tls_cert: None,
            tls_key: None,
            public_origins: Vec::new(),
            trusted_proxies: Vec::new(),
            session_hours: 12,
            body_timeout_s: 10,
        }
    }
}

/// `[mqtt]`: the broker the devices talk to.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MqttSettings {
    /// `mqtt://host:port` (port 1883 by default), or `mqtts://host:port`
    /// for TLS (port 8883 by default). Default `mqtt://127.0.0.1:1883`.
    pub broker: String,
    /// Fixed client id: the broker keeps this session (clean session off)
    /// and redelivers what was not acknowledged. What the server publishes
    /// leaves on a second connection, `{client_id}-out`. Default
    /// `hallwatch-server`.
    pub client_id: String,
    /// Topic prefix. Default `hallwatch`.
    pub prefix: String,
    pub username: Option<String>,
    pub password: Option<String>,
    /// Keep-alive in seconds. Default 30.
    pub keep_alive_s: u64,
    /// With `mqtts://`: PEM file of the CA certificate(s) that signed the
    /// broker's certificate. Unset: the system's CA certificates. The
    /// broker's certificate must name the host of `broker`.
    pub ca_file: Option<PathBuf>,
    /// With `mqtts://`, for brokers that require client certificates: PEM
    /// file of the server's certificate (then any intermediates).
    pub cert_file: Option<PathBuf>,
    /// PEM file of the private key of `cert_file` (PKCS#8, PKCS#1 or SEC1).
    pub key_file: Option<PathBuf>,
}

impl Default for MqttSettings {
    fn default() -> Self {
        Self {
            broker: "mqtt://127.0.0.1:1883".into(),
            client_id: "hallwatch-server".into(),
            prefix: "hallwatch".into(),
            username: None,
            password: None,
            keep_alive_s: 30,
            ca_file: None,
            cert_file: None,
            key_file: None,
        }
    }
}

/// `[defaults]`: values every hall, service and window inherits.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Defaults {
    /// Cases per window per day (the county plan's 25).
    pub benchmark: u32,
    /// Staff per comprehensive window (the county plan's 1.5).
    pub staff_per_window: f64,
    /// The staffing advice suggests closing a window only when the
    /// capacity left without it is at least the remaining demand times
    /// this. Default 1.2; a hall's `staffing_margin` overrides it.
    pub staffing_margin: f64,
    /// IANA time zone of halls that do not set one. Default `Asia/Shanghai`.
    pub timezone: String,
    /// Expected minutes of one service, before the day has its own figures. Default 10.
    pub expected_service_min: u32,
    /// A ticket waiting this long raises a warning, then a critical alert. Default [30, 60].
    pub wait_limit_min: [u32; 2],
    /// One service running this long raises a warning, then a critical alert. Default [20, 40].
    pub service_limit_min: [u32; 2],
    /// Tickets one kiosk may issue per minute (a burst of this many, then
    /// one every 60/n seconds); more are refused with `kiosk_rate`. Off
    /// unless set; a hall's `kiosk_per_minute` overrides it.
    pub kiosk_per_minute: Option<u32>,
    /// 停止取号: walk-in tickets stop this many minutes (1 to 240) before
    /// the day's closing time, and are refused with `issuing_stopped`;
    /// appointments and the green channel still check in. Off unless set;
    /// a hall's `stop_issuing_min` overrides it.
    pub stop_issuing_min: Option<u32>,
    /// Walk-in tickets a service issues per day (每日限号); more are
    /// refused with `daily_cap` (appointments and the green channel are
    /// never capped). Off unless set; a service's `daily_cap` overrides it.
    pub daily_cap: Option<u32>,
    /// Thresholds of the supervision rules; a hall's `[halls.rules]` overrides any of them.
    pub rules: RawRules,
}

impl Default for Defaults {
    fn default() -> Self {
        Self {
            benchmark: 25,
            staff_per_window: 1.5,
            staffing_margin: 1.2,
            timezone: "Asia/Shanghai".into(),
            expected_service_min: 10,
            wait_limit_min: [30, 60],
            service_limit_min: [20, 40],
            kiosk_per_minute: None,
            stop_issuing_min: None,
            daily_cap: None,
            rules: RawRules::default(),
        }
    }
}

/// `[defaults.rules]` and `[halls.rules]`: thresholds of the supervision
/// rules, by the keys each rule declares (its `params`; the example
/// configuration lists them all with their defaults). Unset keys keep the
/// rule's default, or for a hall the `[defaults.rules]` value. An unknown
/// key is refused as the file is read, at its line.
#[derive(Debug, Clone, Default)]
pub struct RawRules(Vec<(String, toml::Value)>);

impl<'de> Deserialize<'de> for RawRules {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Keys;
        impl<'de> serde::de::Visitor<'de> for Keys {
            type Value = RawRules;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a table of supervision rule thresholds")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<RawRules, A::Error> {
                let mut out = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    if Thresholds::param(&key).is_none() {
                        return Err(serde::de::Error::unknown_field(&key, rule_keys()));
                    }
                    out.push((key, map.next_value()?));
                }
                Ok(RawRules(out))
            }
        }
        d.deserialize_map(Keys)
    }
}

/// Every key `[defaults.rules]` takes.
fn rule_keys() -> &'static [&'static str] {
    static KEYS: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    KEYS.get_or_init(|| Thresholds::params().map(|p| p.key).collect())
}

impl RawRules {
    /// These keys over `base`, validated; `at` names the section in errors.
    fn resolve(&self, base: &Thresholds, at: &str) -> Result<Thresholds, ConfigError> {
        let mut t = base.clone();
        for (key, value) in &self.0 {
            // Every key was checked against the rules as the file was read.
            if let Some(p) = Thresholds::param(key) {
                let setting = setting(p.kind, value).map_err(|r| err(format!("{at}.{key}"), r))?;
                (p.set)(&mut t, setting);
            }
        }
        Ok(t)
    }
}

/// A rule threshold as `kind` takes it; minutes become seconds.
fn setting(kind: Kind, v: &toml::Value) -> Result<Setting, String> {
    use toml::Value as V;
    let int = |v: &V| v.as_integer();
    let num = |v: &V| v.as_float().or_else(|| v.as_integer().map(|i| i as f64));
    let pair = |v: &V| match v.as_array().map(Vec::as_slice) {
        Some([a, b]) => Some((a.clone(), b.clone())),
        _ => None,
    };
    let max = i64::from(MAX_MINUTES);
    match kind {
        Kind::Minutes => int(v)
            .filter(|m| (1..=max).contains(m))
            .map(|m| Setting::Int(m * 60))
            .ok_or_else(|| format!("must be from 1 to {MAX_MINUTES} minutes")),
        Kind::MinutesPair => pair(v)
            .and_then(|(a, b)| Some((int(&a)?, int(&b)?)))
            .filter(|&(w, c)| w > 0 && c >= w && c <= max)
            .map(|(w, c)| Setting::IntPair(w * 60, c * 60))
            .ok_or_else(|| {
                format!(
                    "must be [warning, critical] minutes with 0 < warning <= critical <= {MAX_MINUTES}"
                )
            }),
        Kind::Number => num(v)
            .filter(|x| *x > 0.0 && x.is_finite())
            .map(Setting::Num)
            .ok_or_else(|| "must be a positive number".to_owned()),
        Kind::NumberPair => pair(v)
            .and_then(|(a, b)| Some((num(&a)?, num(&b)?)))
            .filter(|&(n, w)| n > 0.0 && w >= n && w.is_finite())
            .map(|(n, w)| Setting::NumPair(n, w))
            .ok_or_else(|| "must be [notice, warning] with 0 < notice <= warning".to_owned()),
        Kind::Share => num(v)
            .filter(|x| (0.0..=1.0).contains(x))
            .map(Setting::Num)
            .ok_or_else(|| "must be a share from 0 to 1".to_owned()),
        Kind::Count => int(v)
            .filter(|n| (1..=i64::from(u32::MAX)).contains(n))
            .map(Setting::Int)
            .ok_or_else(|| format!("must be a whole number, at least 1 and at most {}", u32::MAX)),
    }
}

/// `[[tokens]]`: who may open the protected screens.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenSettings {
    /// Who holds it, for logs and records.
    pub name: String,
    /// `manager`, `supervisor`, `backoffice`, `booking` or `admin`.
    pub role: Role,
    /// Halls in scope; `["*"]` for all.
    #[serde(default)]
    pub halls: Vec<String>,
    /// Regions in scope, by their code (行政区划代码) as the halls' `region`
    /// paths give it: every hall whose path runs through one, from a
    /// province (`"99"`) down to a township. With `halls`, both count.
    #[serde(default)]
    pub regions: Vec<String>,
    /// For `backoffice`: the department codes whose cases it reports
    /// (`[[halls.departments]]`); left out, every department of its halls.
    #[serde(default)]
    pub departments: Option<Vec<String>>,
    /// Hex SHA-256 of the token (`hallwatch hash-token TOKEN` prints it).
    /// Tokens are never stored in plain text.
    pub sha256: String,
}

/// A token's role. `manager`: the dashboards of the halls in scope;
/// `supervisor`: the alert console and the alert APIs; `backoffice`: a
/// back-office system reporting the life of its departments' cases
/// (受理后的补正、办结、送达) and explaining their cards; `booking`: the
/// booking platform (一网通办预约) booking and cancelling appointments;
/// `admin`: everything.
/// Every role may read the day's figures and the region channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Manager,
    Supervisor,
    Backoffice,
    /// The booking platform (预约平台): books and cancels appointments.
    Booking,
    Admin,
}

/// `[[halls]]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHall {
    /// `[A-Za-z0-9_-]{1,32}`, used in topics and URLs.
    pub id: String,
    /// Display name, e.g. 某某县政务服务中心.
    pub name: String,
    /// `province`, `city`, `county`, `township` or `village`.
    pub level: HallLevel,
    /// Where the hall is in the administrative divisions, from the
    /// province down: `[{ code = "33", name = "浙江省" }, { code = "3301",
    /// name = "杭州市" }, …]`. Each code extends its parent's, up to five
    /// levels (省 / 市 / 县区 / 乡镇街道 / 村社区).
    #[serde(default)]
    pub region: Vec<RawRegionLevel>,
    /// IANA time zone; default from `[defaults]`.
    pub timezone: Option<String>,
    /// Refuse tickets outside office hours with `hall_closed`. Default false.
    #[serde(default)]
    pub refuse_outside_hours: bool,
    /// Kiosk (取号机) device ids.
    #[serde(default)]
    pub kiosks: Vec<String>,
    /// Back-office systems (审批系统) that report the hall's cases, by the
    /// source id they report as (over MQTT, `{prefix}/{hall}/case/{source}/event`).
    #[serde(default)]
    pub backoffice: Vec<String>,
    /// Opening hours per weekday: keys `mon`..`sun`, or `weekdays` for
    /// Monday to Friday; values like `["08:30-12:00", "13:30-17:30"]`.
    #[serde(default)]
    pub hours: BTreeMap<String, Vec<String>>,
    /// The hall's own dates over the national `[calendar]`:
    /// `"2026-10-02" = []` closes the hall that day, `"2026-11-28" =
    /// ["09:00-12:00"]` makes an extra service day with those hours.
    #[serde(default)]
    pub calendar: BTreeMap<String, Vec<String>>,
    /// Registered staff; none: any 工号 may log in.
    #[serde(default)]
    pub staff: Vec<RawStaff>,
    #[serde(default)]
    pub attendance: RawAttendance,
    pub services: Vec<RawService>,
    pub windows: Vec<RawWindow>,
    /// Thresholds of the supervision rules for this hall, over `[defaults.rules]`.
    #[serde(default)]
    pub rules: RawRules,
    /// The staffing advice's margin for closing a window; default from
    /// `[defaults]`.
    pub staffing_margin: Option<f64>,
    /// Tickets one kiosk may issue per minute; default from `[defaults]`.
    pub kiosk_per_minute: Option<u32>,
    /// 停止取号 this many minutes before closing; default from `[defaults]`.
    pub stop_issuing_min: Option<u32>,
}

/// `[[halls.services]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawService {
    /// Service code used by kiosks, e.g. `SB`.
    pub code: String,
    /// Display name, e.g. 社会保障.
    pub name: String,
    /// Ticket prefix: one to three capital letters, unique in the hall.
    pub prefix: String,
    pub expected_service_min: Option<u32>,
    pub wait_limit_min: Option<[u32; 2]>,
    pub service_limit_min: Option<[u32; 2]>,
    /// The `[[departments]]` code of the department that handles it.
    pub department: Option<String>,
    /// Walk-in tickets per day; default from `[defaults]`.
    pub daily_cap: Option<u32>,
}

/// `[[halls.windows]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWindow {
    pub id: String,
    /// Display name, e.g. 5号窗口.
    pub name: String,
    /// `comprehensive`, `domain`, `professional`, `one_thing`, `guide`,
    /// `consult`, `transfer`, `cashier` or `complaint`.
    pub kind: WindowKind,
    /// Codes of the services it serves.
    pub services: Vec<String>,
    pub zone: Option<String>,
    /// Expected to be staffed through office hours. Default true.
    #[serde(default = "yes")]
    pub on_rota: bool,
    /// Cases per day for this window; default from `[defaults]`.
    pub benchmark: Option<u32>,
    /// What `benchmark` counts: `cases` (件: a finished ticket counts its
    /// `items`, a consultation none) or `people` (人次: tickets finished).
    /// Default `people` for `guide` and `consult` windows, else `cases`.
    pub benchmark_counts: Option<BenchmarkUnit>,
    /// A window the hall must keep open: the staffing advice never closes
    /// it. Default false; `guide`, `consult`, `complaint` and `one_thing`
    /// windows are always kept open.
    #[serde(default)]
    pub mandatory: bool,
    /// Terminal device id; default `w{id}`.
    pub terminal: Option<String>,
    /// Rating pad device id; default `r{id}`.
    pub rater: Option<String>,
    /// Duty periods; none: the hall's hours when on the rota.
    #[serde(default)]
    pub duty: Vec<RawDuty>,
}

fn yes() -> bool {
    true
}

/// Validated settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub server: ServerSettings,
    pub mqtt: MqttSettings,
    pub defaults: Defaults,
    pub tokens: Vec<TokenSettings>,
    pub halls: Vec<Arc<HallSpec>>,
    /// The plan of `[notify]` the server runs, and the TLS settings its
    /// channels are reached with (built once, as the file is checked).
    pub notify: Arc<crate::notify::Plan>,
    pub notify_tls: Arc<rustls::ClientConfig>,
    /// `[phone]`, checked.
    pub phone: phone::Phone,
    /// `[cluster]`, checked: `None` when one instance runs every hall.
    pub cluster: Option<cluster::Cluster>,
}

impl Settings {
    /// Reads and validates a file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| err("", format!("cannot read {}: {e}", path.display())))?;
        Self::parse(&text).map_err(|mut e| {
            e.reason = format!("{} (in {})", e.reason, path.display());
            e
        })
    }

    /// Parses and validates TOML text.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let raw: RawSettings = toml::from_str(text).map_err(|e| {
            let field = e
                .span()
                .map(|s| {
                    let start = s.start.min(text.len());
                    let line = text.as_bytes()[..start]
                        .iter()
                        .filter(|&&b| b == b'\n')
                        .count()
                        + 1;
                    format!("line {line}")
                })
                .unwrap_or_default();
            err(field, e.message().to_owned())
        })?;
        raw.validate()
    }
}

impl RawSettings {
    pub fn validate(mut self) -> Result<Settings, ConfigError> {
        let d = &self.defaults;
        if d.benchmark == 0 {
            return Err(err("defaults.benchmark", "must be at least 1"));
        }
        if !(d.staff_per_window > 0.0 && d.staff_per_window.is_finite()) {
            return Err(err(
                "defaults.staff_per_window",
                "must be a positive number",
            ));
        }
        check_margin(d.staffing_margin, "defaults.staffing_margin")?;
        parse_tz(&d.timezone).map_err(|r| err("defaults.timezone", r))?;
        check_limits(d.wait_limit_min, "defaults.wait_limit_min")?;
        check_limits(d.service_limit_min, "defaults.service_limit_min")?;
        if self.mqtt.prefix.is_empty()
            || self.mqtt.prefix.contains(['+', '#'])
            || self.mqtt.prefix.starts_with('/')
            || self.mqtt.prefix.ends_with('/')
        {
            return Err(err(
                "mqtt.prefix",
                "must be a topic level without '+', '#' or a leading or trailing '/'",
            ));
        }
        if self.mqtt.client_id.is_empty() {
            return Err(err(
                "mqtt.client_id",
                "must not be empty: the broker keeps its session",
            ));
        }
        broker::BrokerUrl::parse(&self.mqtt.broker).map_err(|r| err("mqtt.broker", r))?;
        tls::mqtt_client_config(&self.mqtt)?;
        if !(self.server.database_url.starts_with("sqlite:")
            || self.server.database_url.starts_with("postgres://")
            || self.server.database_url.starts_with("postgresql://"))
        {
            return Err(err(
                "server.database_url",
                "must start with sqlite:// or postgres://",
            ));
        }
        if self.server.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(err(
                "server.listen",
                "must be an address like 127.0.0.1:8080",
            ));
        }
        tls::server_config(&self.server)?;
        for (i, o) in self.server.public_origins.iter().enumerate() {
            crate::http::origin::Origin::parse(o)
                .map_err(|r| err(format!("server.public_origins[{i}]"), r))?;
        }
        for (i, p) in self.server.trusted_proxies.iter().enumerate() {
            crate::http::client::Network::parse(p)
                .map_err(|r| err(format!("server.trusted_proxies[{i}]"), r))?;
        }
        if !(1..=168).contains(&self.server.session_hours) {
            return Err(err("server.session_hours", "must be 1 to 168 (a week)"));
        }
        if self.server.checkpoint_every_s != 0
            && !(10..=86_400).contains(&self.server.checkpoint_every_s)
        {
            return Err(err(
                "server.checkpoint_every_s",
                "must be 0 (none) or 10 to 86400 (a day)",
            ));
        }
        if !(1..=300).contains(&self.server.body_timeout_s) {
            return Err(err("server.body_timeout_s", "must be 1 to 300"));
        }
        if self.halls.is_empty() {
            return Err(err("halls", "at least one [[halls]] is needed"));
        }

        let departments = departments(&self.departments)?;
        let national = national_calendar(&self.calendar)?;
        let cases = self.cases.resolve()?;
        let bookings = self.appointments.resolve()?;
        let mut ids = HashSet::new();
        let mut halls = Vec::new();
        for (i, raw) in self.halls.into_iter().enumerate() {
            let at = format!(
                "halls[{}]",
                if raw.id.is_empty() {
                    i.to_string()
                } else {
                    raw.id.clone()
                }
            );
            if !ids.insert(raw.id.clone()) {
                return Err(err(
                    format!("{at}.id"),
                    format!("duplicate hall id {:?}", raw.id),
                ));
            }
            let mut hall = raw.validate(&at, &self.defaults, &departments, &national, cases)?;
            hall.bookings = bookings;
            halls.push(Arc::new(hall));
        }
        for (i, t) in self.tokens.iter().enumerate() {
            let at = format!("tokens[{i}]");
            if t.name.trim().is_empty() {
                return Err(err(format!("{at}.name"), "must not be empty"));
            }
            if t.sha256.len() != 64 || !t.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(err(
                    format!("{at}.sha256"),
                    "must be 64 hex digits (hallwatch hash-token TOKEN prints them)",
                ));
            }
            if t.halls.is_empty() && t.regions.is_empty() {
                return Err(err(
                    format!("{at}.halls"),
                    "list the halls in scope, or [\"*\"], or give tokens.regions",
                ));
            }
            for h in &t.halls {
                if h != "*" && !ids.contains(h) {
                    return Err(err(format!("{at}.halls"), format!("unknown hall {h:?}")));
                }
            }
        }
        // A region scope is its halls, known from here on.
        for (i, t) in self.tokens.iter_mut().enumerate() {
            for (j, code) in t.regions.iter().enumerate() {
                let inside: Vec<String> = halls
                    .iter()
                    .filter(|h| h.region.iter().any(|l| l.code == *code))
                    .map(|h| h.id.as_str().to_owned())
                    .collect();
                if inside.is_empty() {
                    return Err(err(
                        format!("tokens[{i}].regions[{j}]"),
                        format!("no hall's region path runs through {code:?}"),
                    ));
                }
                for h in inside {
                    if !t.halls.contains(&h) {
                        t.halls.push(h);
                    }
                }
            }
        }
        let notify = Arc::new(self.notify.resolve(&halls)?);
        let notify_tls = notify::client_tls(&self.notify)?;
        let phone = self.phone.resolve(&self.server)?;
        let hall_ids: Vec<_> = halls.iter().map(|h| h.id.clone()).collect();
        let cluster = self.cluster.resolve(&hall_ids, &self.server)?;
        Ok(Settings {
            phone,
            cluster,
            server: self.server,
            mqtt: self.mqtt,
            defaults: self.defaults,
            tokens: self.tokens,
            halls,
            notify_tls,
            notify,
        })
    }
}

fn parse_tz(name: &str) -> Result<Tz, String> {
    name.parse::<Tz>()
        .map_err(|_| format!("{name:?} is not an IANA time zone like \"Asia/Shanghai\""))
}

/// The staffing margin: at least 1 (demand met), at most 10.
fn check_margin(m: f64, field: &str) -> Result<(), ConfigError> {
    if !(1.0..=10.0).contains(&m) {
        return Err(err(field, "must be a number from 1 to 10"));
    }
    Ok(())
}

/// A week: no limit of a working day is longer.
const MAX_MINUTES: u32 = 7 * 24 * 60;

fn check_limits(l: [u32; 2], field: &str) -> Result<(), ConfigError> {
    if l[0] == 0 || l[1] < l[0] || l[1] > MAX_MINUTES {
        return Err(err(
            field,
            format!(
                "must be [warning, critical] minutes with 0 < warning <= critical <= {MAX_MINUTES}"
            ),
        ));
    }
    Ok(())
}

fn id<T>(
    parse: impl Fn(&str) -> Result<T, crate::domain::IdError>,
    s: &str,
    field: &str,
) -> Result<T, ConfigError> {
    parse(s).map_err(|e| err(field, format!("{s:?} {e}")))
}

impl RawHall {
    fn validate(
        self,
        at: &str,
        d: &Defaults,
        departments: &[Department],
        national: &NationalCalendar,
        (cards, follow_up, deductions): (
            crate::domain::CardLimits,
            crate::domain::FollowUpLimits,
            crate::domain::Deductions,
        ),
    ) -> Result<HallSpec, ConfigError> {
        let department = |code: &Option<String>, f: String| -> Result<Option<usize>, ConfigError> {
            let Some(code) = code else { return Ok(None) };
            departments
                .iter()
                .position(|x| &x.code == code)
                .map(Some)
                .ok_or_else(|| {
                    err(
                        f,
                        format!("unknown department {code:?} (see [[departments]])"),
                    )
                })
        };
        let mut staff: Vec<StaffMember> = Vec::new();
        for (i, p) in self.staff.iter().enumerate() {
            let f = format!("{at}.staff[{i}]");
            let sid = id(StaffId::parse, &p.id, &format!("{f}.id"))?;
            if staff.iter().any(|x| x.id == sid) {
                return Err(err(format!("{f}.id"), format!("duplicate 工号 {:?}", p.id)));
            }
            if p.name.trim().is_empty() {
                return Err(err(format!("{f}.name"), "must not be empty"));
            }
            staff.push(StaffMember {
                id: sid,
                name: p.name.clone(),
                department: department(&p.department, format!("{f}.department"))?,
                roles: p.roles.clone(),
            });
        }
        let a = &self.attendance;
        for (v, key) in [
            (a.late_grace_min, "late_grace_min"),
            (a.early_grace_min, "early_grace_min"),
            (a.absence_min, "absence_min"),
        ] {
            if v > MAX_MINUTES {
                return Err(err(
                    format!("{at}.attendance.{key}"),
                    format!("must be at most {MAX_MINUTES} minutes"),
                ));
            }
        }
        let attendance = AttendanceLimits {
            late_grace_s: i64::from(a.late_grace_min) * 60,
            early_grace_s: i64::from(a.early_grace_min) * 60,
            absence_s: i64::from(a.absence_min) * 60,
        };
        let hall_id = id(HallId::parse, &self.id, &format!("{at}.id"))?;
        if self.name.trim().is_empty() {
            return Err(err(format!("{at}.name"), "must not be empty"));
        }
        let tz_name = self.timezone.as_deref().unwrap_or(&d.timezone);
        let tz = parse_tz(tz_name).map_err(|r| err(format!("{at}.timezone"), r))?;

        let mut services = Vec::new();
        let mut codes = HashSet::new();
        let mut prefixes = HashSet::new();
        for (i, s) in self.services.iter().enumerate() {
            let f = format!(
                "{at}.services[{}]",
                if s.code.is_empty() {
                    i.to_string()
                } else {
                    s.code.clone()
                }
            );
            let code = id(ServiceCode::parse, &s.code, &format!("{f}.code"))?;
            if !codes.insert(code.clone()) {
                return Err(err(
                    format!("{f}.code"),
                    format!("duplicate service code {:?}", s.code),
                ));
            }
            if s.prefix.is_empty()
                || s.prefix.len() > 3
                || !s.prefix.bytes().all(|b| b.is_ascii_uppercase())
            {
                return Err(err(
                    format!("{f}.prefix"),
                    "must be one to three capital letters",
                ));
            }
            if !prefixes.insert(s.prefix.clone()) {
                return Err(err(
                    format!("{f}.prefix"),
                    format!(
                        "prefix {:?} is used by another service of this hall",
                        s.prefix
                    ),
                ));
            }
            if s.name.trim().is_empty() {
                return Err(err(format!("{f}.name"), "must not be empty"));
            }
            let wait = s.wait_limit_min.unwrap_or(d.wait_limit_min);
            check_limits(wait, &format!("{f}.wait_limit_min"))?;
            let service = s.service_limit_min.unwrap_or(d.service_limit_min);
            check_limits(service, &format!("{f}.service_limit_min"))?;
            let expected = s.expected_service_min.unwrap_or(d.expected_service_min);
            if expected == 0 || expected > MAX_MINUTES {
                return Err(err(
                    format!("{f}.expected_service_min"),
                    format!("must be from 1 to {MAX_MINUTES} minutes"),
                ));
            }
            let daily_cap = match s.daily_cap.or(d.daily_cap) {
                Some(0) => {
                    let field = if s.daily_cap.is_some() {
                        format!("{f}.daily_cap")
                    } else {
                        "defaults.daily_cap".to_owned()
                    };
                    return Err(err(field, "must be at least 1 (leave it out for no cap)"));
                }
                cap => cap,
            };
            services.push(ServiceSpec {
                daily_cap,
                code,
                name: s.name.clone(),
                prefix: s.prefix.clone(),
                expected_service_s: expected * 60,
                wait_limit_s: (wait[0] * 60, wait[1] * 60),
                service_limit_s: (service[0] * 60, service[1] * 60),
                department: department(&s.department, format!("{f}.department"))?,
            });
        }
        if services.is_empty() {
            return Err(err(
                format!("{at}.services"),
                "a hall needs at least one service",
            ));
        }

        let mut devices: HashSet<DeviceId> = HashSet::new();
        let mut device = |s: &str, f: &str| -> Result<DeviceId, ConfigError> {
            let d = id(DeviceId::parse, s, f)?;
            if !devices.insert(d.clone()) {
                return Err(err(
                    f,
                    format!("device id {s:?} is used twice in this hall"),
                ));
            }
            Ok(d)
        };
        let mut kiosks = Vec::new();
        for (i, k) in self.kiosks.iter().enumerate() {
            kiosks.push(device(k, &format!("{at}.kiosks[{i}]"))?);
        }

        let mut backoffice = Vec::new();
        for (i, b) in self.backoffice.iter().enumerate() {
            backoffice.push(device(b, &format!("{at}.backoffice[{i}]"))?);
        }

        let mut windows = Vec::new();
        let mut window_ids = HashSet::new();
        for (i, w) in self.windows.iter().enumerate() {
            let f = format!(
                "{at}.windows[{}]",
                if w.id.is_empty() {
                    i.to_string()
                } else {
                    w.id.clone()
                }
            );
            let wid = id(WindowId::parse, &w.id, &format!("{f}.id"))?;
            if !window_ids.insert(wid.clone()) {
                return Err(err(
                    format!("{f}.id"),
                    format!("duplicate window id {:?}", w.id),
                ));
            }
            if w.name.trim().is_empty() {
                return Err(err(format!("{f}.name"), "must not be empty"));
            }
            let mut served = Vec::new();
            for s in &w.services {
                let idx = services
                    .iter()
                    .position(|x| x.code.as_str() == s)
                    .ok_or_else(|| {
                        let known: Vec<&str> = services.iter().map(|x| x.code.as_str()).collect();
                        err(
                            format!("{f}.services"),
                            format!("unknown service {s:?} (this hall has {})", known.join(", ")),
                        )
                    })?;
                if served.contains(&idx) {
                    return Err(err(
                        format!("{f}.services"),
                        format!("{s:?} is listed twice"),
                    ));
                }
                served.push(idx);
            }
            if served.is_empty() {
                return Err(err(
                    format!("{f}.services"),
                    "a window serves at least one service",
                ));
            }
            let benchmark = w.benchmark.unwrap_or(d.benchmark);
            if benchmark == 0 {
                return Err(err(format!("{f}.benchmark"), "must be at least 1"));
            }
            let mut roster = Vec::new();
            for (j, p) in w.duty.iter().enumerate() {
                roster.push(duty_period(p, &format!("{f}.duty[{j}]"), &staff)?);
            }
            if !roster.is_empty() && !w.on_rota {
                return Err(err(
                    format!("{f}.duty"),
                    "a spare window (on_rota = false) has no duty periods",
                ));
            }
            check_roster(&roster, &format!("{f}.duty"))?;
            let terminal = w.terminal.clone().unwrap_or_else(|| format!("w{}", w.id));
            let rater = w.rater.clone().unwrap_or_else(|| format!("r{}", w.id));
            windows.push(WindowSpec {
                id: wid,
                name: w.name.clone(),
                kind: w.kind,
                services: served,
                zone: w.zone.clone(),
                on_rota: w.on_rota,
                duty: None,
                roster,
                benchmark,
                counts: w.benchmark_counts.unwrap_or_else(|| w.kind.default_unit()),
                mandatory: w.mandatory,
                terminal: device(&terminal, &format!("{f}.terminal"))?,
                rater: device(&rater, &format!("{f}.rater"))?,
            });
        }
        if windows.is_empty() {
            return Err(err(
                format!("{at}.windows"),
                "a hall needs at least one window",
            ));
        }

        let mut calendar = HallCalendar {
            national: national.clone(),
            ..HallCalendar::default()
        };
        for (date, list) in &self.calendar {
            let f = format!("{at}.calendar.\"{date}\"");
            let day = parse_date(date).map_err(|r| err(&f, r))?;
            let spans = spans(list, &f)?;
            if spans.is_empty() {
                calendar.closures.insert(day);
            } else {
                calendar.service_days.insert(day, spans);
            }
        }
        // The hall's own hours are the duty of a window on the rota with no
        // duty periods; its office time is the union of them and every
        // window's duty.
        let own = calendar.hall_hours(&office_hours(&self.hours, at)?.weekly);
        for w in &mut windows {
            if !w.roster.is_empty() {
                w.duty = Some(duty_hours(&w.roster, &calendar));
            } else if w.on_rota {
                w.duty = Some(own.clone());
            }
        }
        let hours = union_hours(
            std::iter::once(&own)
                .chain(windows.iter().filter_map(|w| w.duty.as_ref()))
                .collect::<Vec<_>>(),
        );
        Ok(HallSpec {
            id: hall_id,
            name: self.name,
            level: self.level,
            region: region_path(&self.region, at)?,
            tz,
            hours,
            refuse_outside_hours: self.refuse_outside_hours,
            services,
            windows,
            kiosks,
            thresholds: self.rules.resolve(
                &d.rules.resolve(&Thresholds::default(), "defaults.rules")?,
                &format!("{at}.rules"),
            )?,
            benchmark: d.benchmark,
            staff_per_window: d.staff_per_window,
            staffing_margin: match self.staffing_margin {
                Some(m) => {
                    check_margin(m, &format!("{at}.staffing_margin"))?;
                    m
                }
                None => d.staffing_margin,
            },
            departments: departments.to_vec(),
            staff,
            calendar,
            attendance,
            kiosk_per_minute: match self.kiosk_per_minute.or(d.kiosk_per_minute) {
                Some(n @ (0 | 601..)) => {
                    let field = if self.kiosk_per_minute.is_some() {
                        format!("{at}.kiosk_per_minute")
                    } else {
                        "defaults.kiosk_per_minute".to_owned()
                    };
                    return Err(err(
                        field,
                        format!("{n} is not from 1 to 600 (leave it out for no limit)"),
                    ));
                }
                n => n,
            },
            bookings: Default::default(),
            stop_issuing_min: match self.stop_issuing_min.or(d.stop_issuing_min) {
                Some(n @ (0 | 241..)) => {
                    let field = if self.stop_issuing_min.is_some() {
                        format!("{at}.stop_issuing_min")
                    } else {
                        "defaults.stop_issuing_min".to_owned()
                    };
                    return Err(err(
                        field,
                        format!("{n} is not from 1 to 240 (leave it out to issue until closing)"),
                    ));
                }
                n => n,
            },
            backoffice,
            cards,
            follow_up,
            deductions,
        })
    }
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn parse_date(s: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| format!("{s:?}: dates are written 2026-10-01"))
}

fn departments(raw: &[RawDepartment]) -> Result<Vec<Department>, ConfigError> {
    let mut out: Vec<Department> = Vec::new();
    for (i, d) in raw.iter().enumerate() {
        let f = format!("departments[{i}]");
        if d.code.is_empty()
            || d.code.len() > 32
            || !d
                .code
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(err(
                format!("{f}.code"),
                "must be 1 to 32 of A-Z a-z 0-9 _ -",
            ));
        }
        if out.iter().any(|x| x.code == d.code) {
            return Err(err(
                format!("{f}.code"),
                format!("duplicate department {:?}", d.code),
            ));
        }
        if d.name.trim().is_empty() {
            return Err(err(format!("{f}.name"), "must not be empty"));
        }
        out.push(Department {
            code: d.code.clone(),
            name: d.name.clone(),
        });
    }
    Ok(out)
}

fn national_calendar(raw: &RawCalendar) -> Result<NationalCalendar, ConfigError> {
    let mut out = NationalCalendar::default();
    for (i, h) in raw.holidays.iter().enumerate() {
        let f = format!("calendar.holidays[{i}]");
        let (a, b) = match h.split_once("..") {
            Some((a, b)) => (a, b),
            None => (h.as_str(), h.as_str()),
        };
        let (a, b) = (
            parse_date(a.trim()).map_err(|r| err(&f, r))?,
            parse_date(b.trim()).map_err(|r| err(&f, r))?,
        );
        if b < a || (b - a).num_days() > 31 {
            return Err(err(&f, "a range runs forward, at most a month"));
        }
        let mut d = a;
        while d <= b {
            out.holidays.insert(d);
            let Some(n) = d.succ_opt() else { break };
            d = n;
        }
    }
    for (date, day) in &raw.working_days {
        let f = format!("calendar.working_days.\"{date}\"");
        let d = parse_date(date).map_err(|r| err(&f, r))?;
        let Some(w) = DAYS.iter().position(|x| x == day) else {
            return Err(err(
                &f,
                "name the weekday it follows: mon, tue, wed, thu, fri, sat or sun",
            ));
        };
        if out.holidays.contains(&d) {
            return Err(err(&f, "is also a holiday"));
        }
        out.working_days.insert(d, weekday(w));
    }
    Ok(out)
}

fn weekday(i: usize) -> chrono::Weekday {
    [
        chrono::Weekday::Mon,
        chrono::Weekday::Tue,
        chrono::Weekday::Wed,
        chrono::Weekday::Thu,
        chrono::Weekday::Fri,
        chrono::Weekday::Sat,
        chrono::Weekday::Sun,
    ][i % 7]
}

fn duty_period(p: &RawDuty, f: &str, staff: &[StaffMember]) -> Result<DutyPeriod, ConfigError> {
    let mut days = DaySet::default();
    if p.days.is_empty() {
        return Err(err(format!("{f}.days"), "name at least one day"));
    }
    for d in &p.days {
        if d == "weekdays" {
            for x in days.weekdays.iter_mut().take(5) {
                *x = true;
            }
        } else if let Some(i) = DAYS.iter().position(|x| x == d) {
            days.weekdays[i] = true;
        } else {
            let date = parse_date(d).map_err(|_| {
                err(
                    format!("{f}.days"),
                    format!("{d:?} is not weekdays, mon..sun or a date like 2026-11-28"),
                )
            })?;
            days.dates.insert(date);
        }
    }
    let spans = spans(&p.hours, &format!("{f}.hours"))?;
    if spans.is_empty() {
        return Err(err(
            format!("{f}.hours"),
            "set the duty hours, e.g. [\"08:30-12:00\"]",
        ));
    }
    let who = |x: &Option<String>, key: &str| -> Result<Option<usize>, ConfigError> {
        let Some(x) = x else { return Ok(None) };
        staff
            .iter()
            .position(|s| s.id.as_str() == x)
            .map(Some)
            .ok_or_else(|| {
                err(
                    format!("{f}.{key}"),
                    format!("{x:?} is not in [[halls.staff]]"),
                )
            })
    };
    let (a, b) = (who(&p.a, "a")?, who(&p.b, "b")?);
    if a.is_some() && a == b {
        return Err(err(
            format!("{f}.b"),
            "the B角 must be someone other than the A角",
        ));
    }
    Ok(DutyPeriod { days, spans, a, b })
}

/// Periods of one window must not overlap on any day: one A角 at a time.
fn check_roster(roster: &[DutyPeriod], f: &str) -> Result<(), ConfigError> {
    let overlap = |list: Vec<&DutyPeriod>| {
        let mut all: Vec<Span> = list.iter().flat_map(|p| p.spans.iter().copied()).collect();
        all.sort_by_key(|s| s.start);
        all.windows(2).any(|x| x[1].start < x[0].end)
    };
    for (i, day) in DAYS.iter().enumerate() {
        if overlap(roster.iter().filter(|p| p.days.weekdays[i]).collect()) {
            return Err(err(f, format!("duty periods overlap on {day}")));
        }
    }
    let dates: HashSet<NaiveDate> = roster
        .iter()
        .flat_map(|p| p.days.dates.iter().copied())
        .collect();
    for d in dates {
        if overlap(
            roster
                .iter()
                .filter(|p| p.days.dates.contains(&d))
                .collect(),
        ) {
            return Err(err(f, format!("duty periods overlap on {d}")));
        }
    }
    Ok(())
}

fn spans(list: &[String], field: &str) -> Result<Vec<Span>, ConfigError> {
    let mut out: Vec<Span> = list
        .iter()
        .map(|s| Span::parse(s).map_err(|r| err(field, r)))
        .collect::<Result<_, _>>()?;
    out.sort_by_key(|s| s.start);
    if out.windows(2).any(|p| p[1].start < p[0].end) {
        return Err(err(field, "time ranges overlap"));
    }
    Ok(out)
}

fn office_hours(
    hours: &BTreeMap<String, Vec<String>>,
    at: &str,
) -> Result<OfficeHours, ConfigError> {
    let mut out = OfficeHours::default();
    if hours.is_empty() {
        return Err(err(
            format!("{at}.hours"),
            "set opening hours, e.g. weekdays = [\"08:30-12:00\", \"13:30-17:30\"]",
        ));
    }
    if let Some(list) = hours.get("weekdays") {
        let s = spans(list, &format!("{at}.hours.weekdays"))?;
        for day in out.weekly.iter_mut().take(5) {
            *day = s.clone();
        }
    }
    for (key, list) in hours {
        if key == "weekdays" {
            continue;
        }
        let Some(i) = DAYS.iter().position(|d| d == key) else {
            return Err(err(
                format!("{at}.hours.{key}"),
                "unknown day: use weekdays, mon, tue, wed, thu, fri, sat or sun",
            ));
        };
        out.weekly[i] = spans(list, &format!("{at}.hours.{key}"))?;
    }
    Ok(out)
}

pub mod booking;
pub mod broker;
pub mod cluster;
pub mod notify;
pub mod phone;
pub mod tls;

#[cfg(test)]
mod tests;
