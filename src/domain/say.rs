//! What a finding says, and which part of a hall each rule reads.
//!
//! Supervision runs on every event, and on most events nothing it finds is
//! new: the same windows are still over the benchmark, the same bad reviews
//! still stand. So a finding carries its figures (`Say`), put into words
//! only when an alert opens or rises; and each rule names the parts of the
//! hall it reads (`Aspects`), so an event re-checks only the rules it can
//! change, and time alone re-checks the time-based ones once a second.

use chrono::{DateTime, Duration, Utc};

use super::alert::{Finding, Rule, Subject};
use super::event::Input;
use super::hall::Hall;
use super::spec::DeviceKind;

/// How often time alone re-checks a time-based rule: the contract's
/// alerts are due within a second of their limit.
pub const RECHECK: Duration = Duration::seconds(1);

/// The parts of a hall's state a rule reads and an input changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Aspects(u8);

impl Aspects {
    pub const NONE: Aspects = Aspects(0);
    /// Waiting tickets and what was issued today.
    pub const QUEUE: Aspects = Aspects(1);
    /// Who is at each window, and whether it is paused.
    pub const STAFF: Aspects = Aspects(1 << 1);
    /// The ticket at each window, called or being served.
    pub const COUNTER: Aspects = Aspects(1 << 2);
    /// What each window finished or missed today.
    pub const DONE: Aspects = Aspects(1 << 3);
    pub const RATINGS: Aspects = Aspects(1 << 4);
    pub const PRESENCE: Aspects = Aspects(1 << 5);
    pub const ALL: Aspects = Aspects(u8::MAX);
    /// Everything a window's terminal can change.
    pub const WINDOW: Aspects =
        Aspects(Self::QUEUE.0 | Self::STAFF.0 | Self::COUNTER.0 | Self::DONE.0);

    pub const fn or(self, other: Aspects) -> Aspects {
        Aspects(self.0 | other.0)
    }

    pub const fn meets(self, other: Aspects) -> bool {
        self.0 & other.0 != 0
    }
}

impl Input {
    /// What of the hall this input may change, accepted or not.
    pub fn changes(&self) -> Aspects {
        match self {
            Input::Ticket { .. } => Aspects::QUEUE,
            Input::Window { .. } => Aspects::WINDOW,
            Input::Rating { .. } => Aspects::RATINGS,
            Input::Presence { .. } => Aspects::PRESENCE,
            // A person acts on alerts as they stand at this moment, so every
            // rule is brought up to date first (as a replay does).
            Input::AlertAction { .. } => Aspects::ALL,
        }
    }
}

impl Rule {
    /// What of the hall the rule reads: an input that changes none of it
    /// cannot change the rule's findings.
    pub fn reads(self) -> Aspects {
        use Aspects as A;
        match self {
            Rule::WaitTimeout => A::QUEUE,
            Rule::QueueBacklog | Rule::StaffingGap => A::QUEUE.or(A::STAFF),
            Rule::WindowOverload | Rule::NoShowStreak => A::DONE,
            Rule::WindowUnattended | Rule::PauseTooLong => A::STAFF,
            Rule::IdleWithQueue => A::QUEUE.or(A::STAFF).or(A::COUNTER),
            Rule::ServiceTimeout | Rule::CallUnanswered => A::COUNTER,
            Rule::BadRating => A::RATINGS,
            Rule::DeviceOffline => A::PRESENCE,
            Rule::RatingMissing => A::DONE.or(A::RATINGS),
        }
    }
}

/// When each rule was last checked. Bookkeeping, not state: two halls are
/// equal whatever either has checked (a live hall is also checked on the
/// second's tick, a replayed one only at its events).
#[derive(Debug, Clone, Default)]
pub struct Checks([Option<DateTime<Utc>>; Rule::ALL.len()]);

impl Checks {
    /// Whether `rule` must be looked at again at `now` after an input that
    /// changed `changed`: it reads what changed, it was never checked (a
    /// new hall or day), or it is about time and a second has passed.
    pub fn due(&self, rule: Rule, changed: Aspects, now: DateTime<Utc>) -> bool {
        rule.reads().meets(changed)
            || match self.0[rule as usize] {
                None => true,
                Some(at) => rule.time_based() && (now - at >= RECHECK || now < at),
            }
    }

    pub fn mark(&mut self, rule: Rule, now: DateTime<Utc>) {
        self.0[rule as usize] = Some(now);
    }
}

impl PartialEq for Checks {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// A finding's figures, in the order its words need them.
#[derive(Debug, Clone, PartialEq)]
pub enum Say {
    /// A ticket (by index) waited past `minutes`.
    Wait {
        ticket: usize,
        minutes: i64,
    },
    Backlog {
        service: usize,
        waiting: usize,
        open: f64,
    },
    StaffingGap {
        service: usize,
        minutes: i64,
    },
    Overload {
        window: usize,
        served: u32,
        load: f64,
    },
    Unattended {
        window: usize,
        minutes: i64,
    },
    IdleWithQueue {
        window: usize,
        minutes: i64,
    },
    Paused {
        window: usize,
        minutes: i64,
    },
    ServiceLong {
        window: usize,
        ticket: usize,
        minutes: i64,
    },
    CallUnanswered {
        window: usize,
        ticket: usize,
        minutes: i64,
    },
    NoShows {
        window: usize,
        minutes: i64,
        n: usize,
    },
    BadRating {
        ticket: usize,
    },
    /// The device is the finding's subject.
    Offline {
        minutes: i64,
    },
    RatingMissing {
        window: usize,
        rated: u32,
        served: u32,
        share: f64,
    },
}

impl Hall {
    /// A finding in words, as supervisors read it. Called in the same
    /// check that found it, so every index still points where it did.
    pub(super) fn say(&self, f: &Finding) -> String {
        let window = |w: usize| self.spec.windows[w].name.as_str();
        let service = |s: usize| self.spec.services[s].name.as_str();
        match f.say {
            Say::Wait { ticket, minutes } => {
                let t = &self.tickets[ticket];
                format!(
                    "{}（{}）已等候超过 {minutes} 分钟",
                    t.no,
                    service(t.service)
                )
            }
            Say::Backlog {
                service: s,
                waiting,
                open,
            } => format!("{}排队 {waiting} 人，开放窗口 {open:.1} 个", service(s)),
            Say::StaffingGap {
                service: s,
                minutes,
            } => format!(
                "{}类窗口不足已持续 {minutes} 分钟，建议增开窗口",
                service(s)
            ),
            Say::Overload {
                window: w,
                served,
                load,
            } => format!(
                "{}今日已办 {served} 件，为基准 {} 件的 {:.0}%",
                window(w),
                self.spec.windows[w].benchmark,
                load * 100.0
            ),
            Say::Unattended { window: w, minutes } => {
                format!("{}空岗已超过 {minutes} 分钟", window(w))
            }
            Say::IdleWithQueue { window: w, minutes } => {
                format!("{}有群众等候但已 {minutes} 分钟未叫号", window(w))
            }
            Say::Paused { window: w, minutes } => {
                format!("{}暂停服务已超过 {minutes} 分钟", window(w))
            }
            Say::ServiceLong {
                window: w,
                ticket,
                minutes,
            } => {
                let t = &self.tickets[ticket];
                format!(
                    "{}办理 {}（{}）已超过 {minutes} 分钟",
                    window(w),
                    t.no,
                    service(t.service)
                )
            }
            Say::CallUnanswered {
                window: w,
                ticket,
                minutes,
            } => format!(
                "{} 呼叫到{}后 {minutes} 分钟未开始办理",
                self.tickets[ticket].no,
                window(w)
            ),
            Say::NoShows {
                window: w,
                minutes,
                n,
            } => format!("{} {minutes} 分钟内连续过号 {n} 次，请核实", window(w)),
            Say::BadRating { ticket } => {
                let t = &self.tickets[ticket];
                let comment = t
                    .rating_comment
                    .as_deref()
                    .map(|c| format!("：{c}"))
                    .unwrap_or_default();
                format!(
                    "{}办理的 {} 收到差评（{} 分）{comment}",
                    t.window.map_or("", window),
                    t.no,
                    t.rating.unwrap_or_default(),
                )
            }
            Say::Offline { minutes } => {
                let Subject::Device(device) = &f.subject else {
                    return String::new();
                };
                let what = match self.spec.device_kind(device) {
                    Some(DeviceKind::Kiosk) => "取号机".to_owned(),
                    Some(DeviceKind::Terminal(w)) => format!("{}窗口终端", window(w)),
                    Some(DeviceKind::Rater(w)) => format!("{}评价器", window(w)),
                    None => "设备".to_owned(),
                };
                format!("{what}（{device}）离线已超过 {minutes} 分钟")
            }
            Say::RatingMissing {
                window: w,
                rated,
                served,
                share,
            } => format!(
                "{}今日评价率 {:.0}%（{rated}/{served}），低于 {:.0}%",
                window(w),
                share * 100.0,
                self.spec.thresholds.rating_share * 100.0
            ),
        }
    }
}
