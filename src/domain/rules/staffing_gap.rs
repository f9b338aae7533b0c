//! `staffing_gap`: a service whose remaining demand the staffed windows
//! cannot take, by this many cases, for a while: the staffing advice's
//! shortfall (`load.rs`).

use chrono::{DateTime, Utc};

use super::{Def, Kind, Param, Setting, minutes, secs, service_finding, service_name};
use crate::domain::alert::{Facts, Finding, Rule, Severity};
use crate::domain::checks::{Aspects, Next, RECHECK};
use crate::domain::hall::Hall;

pub const RULE: Def = Def {
    name: "窗口缺口",
    condition: "a service's remaining demand for the day (forecast less finished, in \
                cases) exceeds what the staffed windows can still take, pooled, by at \
                least the threshold, for a while",
    severities: &[Severity::Notice],
    // The forecast counts tickets issued, the demand what was finished,
    // the capacity who is at which window.
    reads: Aspects::ISSUED.or(Aspects::STAFF).or(Aspects::DONE),
    time_based: true,
    needs_person: false,
    params: &[
        Param {
            key: "staffing_gap_cases",
            doc: "short by this many cases (people at windows that count people)",
            kind: Kind::Count,
            get: |t| Setting::Int(t.staffing_gap.cases),
            set: |t, v| t.staffing_gap.cases = v.int(),
        },
        Param {
            key: "staffing_gap_min",
            doc: "short this long",
            kind: Kind::Minutes,
            get: |t| Setting::Int(t.staffing_gap.hold_s),
            set: |t, v| t.staffing_gap.hold_s = v.int(),
        },
    ],
    prepare: Some(track),
};

#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Cases short, at least.
    pub cases: i64,
    /// Seconds a shortfall of at least `cases` must last.
    pub hold_s: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            cases: 5,
            hold_s: 600,
        }
    }
}

/// Whether a shortfall reaches the threshold.
fn short(shortfall: f64, cases: i64) -> bool {
    shortfall >= cases as f64 - 1e-9
}

/// Notes when each service's shortfall began, or that it ended.
fn track(hall: &mut Hall, now: DateTime<Utc>) {
    let cases = hall.spec.thresholds.staffing_gap.cases;
    for (service, shortfall) in hall.shortfalls(now).into_iter().enumerate() {
        if short(shortfall, cases) {
            hall.gap_since.entry(service).or_insert(now);
        } else {
            hall.gap_since.remove(&service);
        }
    }
}

/// A service short by the threshold for the configured time, since `track`
/// saw the shortfall begin.
///
/// The demand and the windows' capacity both move with the clock (the
/// forecast falls as the day passes with no new ticket, and so does what
/// the windows can still do), so time alone can begin or end a shortfall:
/// while the hall has demand, the rule is checked again every second.
pub fn check(hall: &Hall, now: DateTime<Utc>, out: &mut Vec<Finding>, next: &mut Next) {
    let hold = hall.spec.thresholds.staffing_gap.hold_s;
    if !hall.gap_since.is_empty() || hall.seq.iter().any(|&n| n > 0) {
        next.deadline(Some(now + RECHECK));
    }
    if hall.gap_since.is_empty() {
        return;
    }
    let shortfalls = hall.shortfalls(now);
    let advice = hall.staffing_advice(now);
    let open = advice
        .open
        .as_ref()
        .and_then(|id| hall.spec.window_index(id));
    for (&service, &began) in &hall.gap_since {
        let since = began + secs(hold);
        if now < since {
            continue;
        }
        // The figures move with the clock; the message names them as the
        // alert opens, and the manager's view shows them live.
        let facts = Facts {
            minutes: minutes(hold),
            count: shortfalls.get(service).map_or(0, |x| x.round() as i64),
            window: open.filter(|&w| hall.spec.windows[w].services.contains(&service)),
            ..Facts::default()
        };
        out.push(service_finding(
            hall,
            service,
            Rule::StaffingGap,
            Severity::Notice,
            since,
            facts,
        ));
    }
}

pub fn say(hall: &Hall, f: &Finding) -> String {
    let name = service_name(hall, f.facts.service);
    let category = if name.ends_with('类') {
        name.to_owned()
    } else {
        format!("{name}类")
    };
    let mut text = format!(
        "{category}预计缺口 {} 件，已持续 {} 分钟",
        f.facts.count, f.facts.minutes
    );
    match f.facts.window {
        Some(w) => text.push_str(&format!("，建议开放 {}", hall.spec.windows[w].name)),
        None => text.push_str("，请调配窗口"),
    }
    text
}
