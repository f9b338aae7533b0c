//! `device_offline`: a kiosk is offline during office hours, or a window
//! terminal or rating pad while its window is on duty.

use chrono::{DateTime, Utc};

use super::{Def, Kind, Param, Setting, due, due_on_duty, minutes, on_duty_now, window_name};
use crate::domain::alert::{Facts, Finding, Rule, Severity, Subject};
use crate::domain::checks::{Aspects, Next};
use crate::domain::hall::Hall;
use crate::domain::spec::DeviceKind;

pub const RULE: Def = Def {
    name: "设备离线",
    condition: "a kiosk has been offline for this much office time, or a window terminal \
                or rating pad for this much of its window's duty",
    severities: &[Severity::Warning],
    reads: Aspects::PRESENCE,
    time_based: true,
    needs_person: false,
    params: &[Param {
        key: "device_offline_min",
        doc: "offline this long",
        kind: Kind::Minutes,
        get: |t| Setting::Int(t.device_offline.after_s),
        set: |t, v| t.device_offline.after_s = v.int(),
    }],
    prepare: None,
};

#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Seconds offline.
    pub after_s: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Self { after_s: 120 }
    }
}

pub fn check(hall: &Hall, now: DateTime<Utc>, out: &mut Vec<Finding>, next: &mut Next) {
    let limit = hall.spec.thresholds.device_offline.after_s;
    for (device, (online, since)) in &hall.presence {
        if *online {
            continue;
        }
        // A kiosk counts the hall's office time; a window's terminal and
        // rating pad only that window's duty, so a window off duty (a spare,
        // or on a 延时服务 Saturday) never raises it.
        let window = match hall.spec.device_kind(device) {
            Some(DeviceKind::Kiosk) => None,
            Some(DeviceKind::Terminal(w) | DeviceKind::Rater(w)) => Some(w),
            None => continue,
        };
        let at = match window {
            Some(w) if !on_duty_now(hall, w, now, next) => None,
            Some(w) => due_on_duty(hall, w, *since, limit, now, next),
            None => due(hall, *since, limit, now, next),
        };
        let Some(at) = at else {
            continue;
        };
        out.push(Finding {
            rule: Rule::DeviceOffline,
            subject: Subject::Device(device.clone()),
            severity: Severity::Warning,
            since: at,
            opened: at,
            facts: Facts {
                window,
                minutes: minutes(limit).max(1),
                ..Facts::default()
            },
            window: window.map(|w| hall.spec.windows[w].id.clone()),
            ticket: None,
            service: None,
        });
    }
}

pub fn say(hall: &Hall, f: &Finding) -> String {
    let Subject::Device(device) = &f.subject else {
        return String::new();
    };
    let what = match hall.spec.device_kind(device) {
        Some(DeviceKind::Kiosk) => "取号机".to_owned(),
        Some(DeviceKind::Terminal(w)) => format!("{}窗口终端", window_name(hall, Some(w))),
        Some(DeviceKind::Rater(w)) => format!("{}评价器", window_name(hall, Some(w))),
        None => "设备".to_owned(),
    };
    format!("{what}（{device}）离线已超过 {} 分钟", f.facts.minutes)
}

#[cfg(test)]
mod tests {
    use super::super::testing::H;
    use crate::domain::*;

    #[test]
    fn device_offline_after_two_minutes() {
        let mut h = H::new();
        let p = |online| Input::Presence {
            device: DeviceId::parse("k1").unwrap(),
            online,
        };
        h.hall.apply(&p(true), h.now);
        h.hall.apply(&p(false), h.now);
        h.at(119);
        assert_eq!(h.severity(Rule::DeviceOffline), None);
        h.at(120);
        assert_eq!(h.severity(Rule::DeviceOffline), Some(Severity::Warning));
        let now = h.now;
        h.hall.apply(&p(true), now);
        assert_eq!(h.severity(Rule::DeviceOffline), None);
    }
}
