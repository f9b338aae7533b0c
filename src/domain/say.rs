//! What a finding says.
//!
//! On most checks nothing a rule finds is new: the same windows are still
//! over the benchmark, the same tickets still wait too long. So a finding
//! carries its figures (`Say`), put into words only when an alert opens or
//! rises.

use super::alert::{Finding, Subject};
use super::hall::Hall;
use super::spec::DeviceKind;

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
