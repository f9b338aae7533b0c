//! The supervision rules of electronic efficiency supervision (电子效能监察),
//! one file each: what the rule reads, its thresholds and their defaults,
//! what it finds, its words and its tests.
//!
//! A rule is a function of the hall and the time that says what is wrong
//! now, as findings; `lifecycle.rs` turns findings into alerts. Adding a
//! rule is its file (the shape of any file here: `RULE`, `Limits`, `check`,
//! `say`, tests) and one line in `rules!` below. Its configuration keys are
//! its `RULE.params`: `[defaults.rules]` and `[halls.rules]` take them, and
//! `hallwatch schemas` writes them into the example configuration and the
//! docs, with every list of rule codes the pages and schemas need.

use chrono::{DateTime, Duration, Utc};

use super::alert::{Facts, Finding, Severity, Subject};
use super::checks::{Aspects, Next};
use super::hall::Hall;

/// Declares every rule: the `Rule` enum, `Rule::ALL` in this order (the
/// order findings of the same instant open in), each rule's module, and
/// `Thresholds` with each rule's `Limits`.
macro_rules! rules {
    ($($rule:ident => $module:ident,)+) => {
        $(mod $module;)+

        /// A supervision rule. Its wire name (`wait_timeout`) is its
        /// module's name.
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
            serde::Serialize, serde::Deserialize, schemars::JsonSchema, utoipa::ToSchema,
        )]
        #[serde(rename_all = "snake_case")]
        #[schema(description = schema_description())]
        pub enum Rule {
            $($rule,)+
        }

        impl Rule {
            /// Every rule, in declaration order: `ALL[r as usize] == r`.
            pub const ALL: [Rule; [$(Rule::$rule),+].len()] = [$(Rule::$rule),+];

            /// What the rule is, reads and takes.
            pub fn def(self) -> &'static Def {
                match self {
                    $(Rule::$rule => &$module::RULE,)+
                }
            }

            /// The wire name: `wait_timeout`.
            pub fn code(self) -> &'static str {
                match self {
                    $(Rule::$rule => stringify!($module),)+
                }
            }

            /// What the rule finds wrong in `hall` at `now`, added to `out`;
            /// deadlines ahead in what it read go to `next`.
            pub(in crate::domain) fn check(
                self,
                hall: &Hall,
                now: DateTime<Utc>,
                out: &mut Vec<Finding>,
                next: &mut Next,
            ) {
                match self {
                    $(Rule::$rule => $module::check(hall, now, out, next),)+
                }
            }

            /// A finding of this rule in words, as supervisors read it.
            pub(in crate::domain) fn say(self, hall: &Hall, f: &Finding) -> String {
                match self {
                    $(Rule::$rule => $module::say(hall, f),)+
                }
            }
        }

        /// The thresholds of every rule for one hall, and of the alerts'
        /// escalation; per-service limits live on the service.
        #[derive(Debug, Clone, PartialEq, Default)]
        pub struct Thresholds {
            $(pub $module: $module::Limits,)+
            pub escalation: super::lifecycle::Limits,
        }
    };
}

rules! {
    WaitTimeout => wait_timeout,
    QueueBacklog => queue_backlog,
    StaffingGap => staffing_gap,
    WindowOverload => window_overload,
    WindowUnattended => window_unattended,
    IdleWithQueue => idle_with_queue,
    PauseTooLong => pause_too_long,
    ServiceTimeout => service_timeout,
    CallUnanswered => call_unanswered,
    NoShowStreak => no_show_streak,
    BadRating => bad_rating,
    DeviceOffline => device_offline,
    RatingMissing => rating_missing,
    RatingIntegrity => rating_integrity,
    GreenChannelShare => green_channel_share,
    RepeatFinding => repeat_finding,
    AppointmentWait => appointment_wait,
}

/// The `rating_integrity` limits, which also say how long a rating
/// without a ticket number is taken (`Hall::rate`).
pub use rating_integrity::Limits as RatingLimits;

/// What a rule is: the facts every list, page and document takes from it.
#[derive(Debug)]
pub struct Def {
    /// Its name on screens: 等候超时.
    pub name: &'static str,
    /// When it fires, in a sentence (English, for the docs).
    pub condition: &'static str,
    /// The severities it can reach, lowest first.
    pub severities: &'static [Severity],
    /// The parts of the hall it reads: an input that changes none of them
    /// cannot change what it finds.
    pub reads: Aspects,
    /// About time passing: silent while the hall is closed, and counted on
    /// office time.
    pub time_based: bool,
    /// Its alert stays until a person resolves it with a note, instead of
    /// closing by itself when the condition clears (a bad review needs its
    /// follow-up, 回访 and 整改, on record).
    pub needs_person: bool,
    /// Its keys in `[defaults.rules]` and `[halls.rules]`.
    pub params: &'static [Param],
    /// For a rule that keeps state of its own in the hall (since when a
    /// condition has lasted): brings it up to date, just before each check.
    pub prepare: Option<fn(&mut Hall, DateTime<Utc>)>,
}

impl Rule {
    /// Whether the alert closes by itself when its condition clears.
    pub fn resolves_itself(self) -> bool {
        !self.def().needs_person
    }

    /// Rules about time passing, silent outside office hours.
    pub fn time_based(self) -> bool {
        self.def().time_based
    }

    /// What of the hall the rule reads.
    pub fn reads(self) -> Aspects {
        self.def().reads
    }

    /// Whether the rule's alert keeps a tally (`Alert::count`): one alert
    /// for many tickets or ratings, whose count, ticket, list and words
    /// follow what the rule finds while it is open (each change is an
    /// update of the same alert), instead of an alert for each.
    pub fn tallies(self) -> bool {
        matches!(
            self,
            Rule::WaitTimeout | Rule::RatingIntegrity | Rule::GreenChannelShare
        )
    }

    /// Whether the rule's alert goes to the supervisors of the wider scope
    /// as it opens (escalated from the start), not only when nobody
    /// acknowledges it in time.
    pub fn goes_wider(self) -> bool {
        matches!(self, Rule::RepeatFinding)
    }

    /// The tickets an alert of this rule lists beside its own `ticket`.
    pub(in crate::domain) fn listed(
        self,
        hall: &Hall,
        f: &Finding,
    ) -> Vec<crate::domain::ids::TicketNo> {
        match self {
            Rule::WaitTimeout => wait_timeout::listed(hall, f),
            _ => Vec::new(),
        }
    }
}

/// What the API's schema of [`Rule`] says: every rule, what raises it and
/// how its alert ends, from the rules' own definitions.
fn schema_description() -> String {
    let mut out = String::from(
        "The supervision rule that raised an alert. An alert resolves by itself when its \
         condition clears (at the latest when the hall's day ends), unless its rule needs a \
         person: then it stays until a supervisor resolves it with a note (回访 or 整改).\n",
    );
    for rule in Rule::ALL {
        let def = rule.def();
        let severities: Vec<&str> = def.severities.iter().map(|s| s.code()).collect();
        out.push_str(&format!(
            "\n- `{}` {}: {} ({}{}).",
            rule.code(),
            def.name,
            def.condition,
            severities.join(", "),
            if def.needs_person {
                "; needs a person"
            } else {
                ""
            },
        ));
    }
    out
}

/// A configuration key of a rule (or of the alerts' escalation).
#[derive(Debug)]
pub struct Param {
    /// The key, e.g. `pause_min`.
    pub key: &'static str,
    /// What it sets, in a few words (English, for the docs and the example
    /// configuration).
    pub doc: &'static str,
    pub kind: Kind,
    /// Its value in a hall's thresholds (seconds for minutes).
    pub get: fn(&Thresholds) -> Setting,
    /// Sets it; the value has been checked against `kind`.
    pub set: fn(&mut Thresholds, Setting),
}

/// What a configuration key takes, and how it is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Whole minutes, 1 to a week: kept as seconds.
    Minutes,
    /// `[warning, critical]` minutes with 0 < warning <= critical <= a week.
    MinutesPair,
    /// A positive number.
    Number,
    /// `[notice, warning]` numbers with 0 < notice <= warning.
    NumberPair,
    /// A share from 0 to 1.
    Share,
    /// A whole number, at least 1.
    Count,
}

/// A configuration value, checked against its `Kind`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Setting {
    /// Seconds (`Minutes`) or a count (`Count`).
    Int(i64),
    /// Seconds (`MinutesPair`).
    IntPair(i64, i64),
    Num(f64),
    NumPair(f64, f64),
}

impl Setting {
    pub fn int(self) -> i64 {
        match self {
            Setting::Int(v) => v,
            Setting::IntPair(a, _) => a,
            Setting::Num(x) | Setting::NumPair(x, _) => x as i64,
        }
    }

    pub fn int_pair(self) -> (i64, i64) {
        match self {
            Setting::IntPair(a, b) => (a, b),
            other => (other.int(), other.int()),
        }
    }

    pub fn num(self) -> f64 {
        match self {
            Setting::Num(x) | Setting::NumPair(x, _) => x,
            Setting::Int(v) | Setting::IntPair(v, _) => v as f64,
        }
    }

    pub fn num_pair(self) -> (f64, f64) {
        match self {
            Setting::NumPair(a, b) => (a, b),
            other => (other.num(), other.num()),
        }
    }
}

impl Thresholds {
    /// Every configuration key, each rule's in rule order, then the
    /// escalation's.
    pub fn params() -> impl Iterator<Item = &'static Param> {
        Rule::ALL
            .into_iter()
            .flat_map(|r| r.def().params)
            .chain(super::lifecycle::PARAMS)
    }

    /// The configuration key `key`, if there is one.
    pub fn param(key: &str) -> Option<&'static Param> {
        Self::params().find(|p| p.key == key)
    }
}

// What the rules share: time counted on office hours, graded severities,
// findings about a window.

fn secs(s: i64) -> Duration {
    Duration::seconds(s)
}

fn minutes(s: i64) -> i64 {
    s / 60
}

/// A severity reached over office time: which, since when, at which
/// limit, and when the first (warning) limit was crossed.
struct Grade {
    severity: Severity,
    since: DateTime<Utc>,
    limit: i64,
    first: DateTime<Utc>,
}

/// The grade of a condition whose warning limit fell due at `first` and
/// whose critical one at `crit_due`, if it has.
fn grade_at(
    first: DateTime<Utc>,
    crit_due: Option<DateTime<Utc>>,
    (warn, crit): (i64, i64),
) -> Grade {
    match crit_due {
        Some(since) => Grade {
            severity: Severity::Critical,
            since,
            limit: crit,
            first,
        },
        None => Grade {
            severity: Severity::Warning,
            since: first,
            limit: warn,
            first,
        },
    }
}

/// When `secs` of office time will have passed since `base`, if by `now`;
/// a deadline still ahead goes to `next`.
fn due(
    hall: &Hall,
    base: DateTime<Utc>,
    secs: i64,
    now: DateTime<Utc>,
    next: &mut Next,
) -> Option<DateTime<Utc>> {
    let at = hall.office_deadline(base, secs);
    next.deadline(at);
    at.filter(|d| *d <= now)
}

/// `due`, counting only window `w`'s duty: the window rules apply only
/// while that window is on duty.
fn due_on_duty(
    hall: &Hall,
    w: usize,
    base: DateTime<Utc>,
    secs: i64,
    now: DateTime<Utc>,
    next: &mut Next,
) -> Option<DateTime<Utc>> {
    let at = hall.duty_deadline(w, base, secs);
    next.deadline(at);
    at.filter(|d| *d <= now)
}

/// Whether window `w` is on duty at `now`. A window rule finds nothing
/// outside its window's duty (a lunch it does not keep, the end of its
/// 延时服务 morning), so the end of the current duty span, or the start of
/// the next, goes to `next`.
fn on_duty_now(hall: &Hall, w: usize, now: DateTime<Utc>, next: &mut Next) -> bool {
    for span in hall.spec.duty(w).spans(hall.day) {
        let (Some(start), Some(end)) = (
            hall.spec.instant(hall.day, span.start),
            hall.spec.instant(hall.day, span.end),
        ) else {
            continue;
        };
        if start <= now && now < end {
            next.deadline(Some(end));
            return true;
        }
        if now < start {
            next.deadline(Some(start));
        }
    }
    false
}

/// The severity reached at `now`, counting office time from `base` against
/// (warning, critical) seconds.
fn graded(
    hall: &Hall,
    base: DateTime<Utc>,
    now: DateTime<Utc>,
    (warn, crit): (i64, i64),
    next: &mut Next,
) -> Option<Grade> {
    // The critical limit comes after the warning: ahead of it only once the
    // warning has passed.
    let first = due(hall, base, warn, now, next)?;
    Some(grade_at(
        first,
        due(hall, base, crit, now, next),
        (warn, crit),
    ))
}

/// `graded`, counting only window `w`'s duty.
fn graded_on_duty(
    hall: &Hall,
    w: usize,
    base: DateTime<Utc>,
    now: DateTime<Utc>,
    (warn, crit): (i64, i64),
    next: &mut Next,
) -> Option<Grade> {
    let first = due_on_duty(hall, w, base, warn, now, next)?;
    Some(grade_at(
        first,
        due_on_duty(hall, w, base, crit, now, next),
        (warn, crit),
    ))
}

/// A finding about window `w`, at `since`.
fn window_finding(
    hall: &Hall,
    w: usize,
    rule: Rule,
    severity: Severity,
    since: DateTime<Utc>,
    facts: Facts,
) -> Finding {
    let id = hall.spec.windows[w].id.clone();
    Finding {
        rule,
        subject: Subject::Window(id.clone()),
        severity,
        since,
        opened: since,
        facts: Facts {
            window: Some(w),
            ..facts
        },
        window: Some(id),
        ticket: None,
        service: None,
    }
}

/// A finding about service `s`, at `since`.
fn service_finding(
    hall: &Hall,
    s: usize,
    rule: Rule,
    severity: Severity,
    since: DateTime<Utc>,
    facts: Facts,
) -> Finding {
    let code = hall.spec.services[s].code.clone();
    Finding {
        rule,
        subject: Subject::Service(code.clone()),
        severity,
        since,
        opened: since,
        facts: Facts {
            service: Some(s),
            ..facts
        },
        window: None,
        ticket: None,
        service: Some(code),
    }
}

/// A window's finding for a rule graded by office time since `base`, if due.
fn graded_window(
    hall: &Hall,
    w: usize,
    rule: Rule,
    base: DateTime<Utc>,
    limits: (i64, i64),
    next: &mut Next,
) -> Option<Finding> {
    if !on_duty_now(hall, w, next.now(), next) {
        return None;
    }
    let g = graded_on_duty(hall, w, base, next.now(), limits, next)?;
    let facts = Facts {
        minutes: minutes(g.limit),
        ..Facts::default()
    };
    let mut f = window_finding(hall, w, rule, g.severity, g.since, facts);
    f.opened = g.first;
    Some(f)
}

/// The name of window `w`.
fn window_name(hall: &Hall, w: Option<usize>) -> &str {
    w.map_or("", |w| hall.spec.windows[w].name.as_str())
}

/// The name of service `s`.
fn service_name(hall: &Hall, s: Option<usize>) -> &str {
    s.map_or("", |s| hall.spec.services[s].name.as_str())
}

#[cfg(test)]
pub(super) mod testing;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_is_in_all_at_its_own_index_with_its_wire_name() {
        for (i, rule) in Rule::ALL.into_iter().enumerate() {
            assert_eq!(rule as usize, i, "{rule:?}");
            assert_eq!(
                serde_json::to_value(rule).unwrap(),
                serde_json::json!(rule.code())
            );
            assert_eq!(
                serde_json::from_value::<Rule>(serde_json::json!(rule.code())).unwrap(),
                rule
            );
            let def = rule.def();
            assert!(
                !def.name.is_empty() && !def.condition.is_empty(),
                "{rule:?}"
            );
            assert!(!def.severities.is_empty(), "{rule:?}");
            assert!(def.severities.windows(2).all(|s| s[0] < s[1]), "{rule:?}");
            assert_ne!(def.reads, Aspects::NONE, "{rule:?} reads nothing");
        }
    }

    #[test]
    fn configuration_keys_are_unique_and_read_back_what_they_set() {
        let mut keys: Vec<&str> = Thresholds::params().map(|p| p.key).collect();
        let n = keys.len();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), n, "a key is declared twice");
        for p in Thresholds::params() {
            let mut t = Thresholds::default();
            let value = match p.kind {
                Kind::Minutes => Setting::Int(7 * 60),
                Kind::MinutesPair => Setting::IntPair(7 * 60, 9 * 60),
                Kind::Number => Setting::Num(7.5),
                Kind::NumberPair => Setting::NumPair(1.5, 2.5),
                Kind::Share => Setting::Num(0.25),
                Kind::Count => Setting::Int(7),
            };
            assert_ne!((p.get)(&t), value, "{}: pick another test value", p.key);
            (p.set)(&mut t, value);
            assert_eq!((p.get)(&t), value, "{}", p.key);
        }
    }
}
