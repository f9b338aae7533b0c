//! `repeat_finding` (屡查屡犯): over a calendar month, a staff member's
//! third lapse (迟到, 未到岗, 离岗 or 早退: the A角 late, not arrived, away
//! from post past the absence limit, or gone before the end), or a department's second 红牌 (not
//! withdrawn on appeal). Critical, and sent to the supervisors of the wider
//! scope as it opens (escalated from the start); it stays until a person
//! resolves it with a note (the 约谈 or the department's rectification).
//!
//! The month's earlier days come from the hall's tally (kept figures, so
//! it survives restarts) and the case book; today's lapses from the logins.
//! A finding is about a day: it is found on a day a lapse or a 红牌 takes
//! the month's count to the limit or past it, dated when it did, so a
//! member who lapses again on a later day is reported again.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Utc};

use super::{Def, Kind, Param, Setting, window_name};
use crate::domain::alert::{Facts, Finding, Rule, Severity, Subject};
use crate::domain::cases::{CardState, CardSubject};
use crate::domain::checks::{Aspects, Next};
use crate::domain::hall::Hall;

pub const RULE: Def = Def {
    name: "屡查屡犯",
    condition: "in a calendar month, a staff member's `repeat_lapses`th lapse (late, not \
                arrived, away from post, or left early) or a department's `repeat_reds`th red card; sent \
                to the wider scope at once",
    severities: &[Severity::Critical],
    reads: Aspects::STAFF.or(Aspects::CARDS),
    time_based: false,
    needs_person: true,
    params: &[
        Param {
            key: "repeat_lapses",
            doc: "a staff member's lapses (late, not arrived, away, left early) in a month that make a repeat",
            kind: Kind::Count,
            get: |t| Setting::Int(i64::from(t.repeat_finding.lapses)),
            set: |t, v| t.repeat_finding.lapses = u32::try_from(v.int()).unwrap_or(u32::MAX),
        },
        Param {
            key: "repeat_reds",
            doc: "a department's red cards in a month that make a repeat",
            kind: Kind::Count,
            get: |t| Setting::Int(i64::from(t.repeat_finding.reds)),
            set: |t, v| t.repeat_finding.reds = u32::try_from(v.int()).unwrap_or(u32::MAX),
        },
    ],
    prepare: None,
};

#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// A staff member's lapses in a month that make a repeat (the third).
    pub lapses: u32,
    /// A department's 红牌 in a month that make a repeat (the second).
    pub reds: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self { lapses: 3, reds: 2 }
    }
}

/// The month's count so far, and what first took it to the limit today
/// (with the count then, which a later check must not change).
type Tally<T> = (u32, Option<T>);

pub fn check(hall: &Hall, now: DateTime<Utc>, out: &mut Vec<Finding>, next: &mut Next) {
    let limits = &hall.spec.thresholds.repeat_finding;
    // Staff: the first of today's lapses that takes the month's count to
    // the limit, and the count now.
    let mut staff: BTreeMap<usize, Tally<(DateTime<Utc>, usize, u32)>> = BTreeMap::new();
    for (at, a, _, w) in hall.lapses(now, next) {
        let (count, first) = staff
            .entry(a)
            .or_insert_with(|| (hall.month.before_today(&hall.spec.staff[a].id), None));
        *count += 1;
        if *count >= limits.lapses && first.is_none() {
            *first = Some((at, w, *count));
        }
    }
    for (a, (_, first)) in staff {
        let Some((at, w, count)) = first else {
            continue;
        };
        out.push(Finding {
            rule: Rule::RepeatFinding,
            subject: Subject::Staff(hall.spec.staff[a].id.clone()),
            severity: Severity::Critical,
            since: at,
            opened: at,
            facts: Facts {
                window: Some(w),
                count: i64::from(count),
                ..Facts::default()
            },
            window: Some(hall.spec.windows[w].id.clone()),
            ticket: None,
            service: None,
        });
    }

    // Departments: their 红牌 of the month, withdrawn ones aside.
    let Some(first_day) = hall.day.with_day(1) else {
        return;
    };
    let today = hall.spec.day_start(hall.day);
    let mut reds: BTreeMap<&str, Tally<(DateTime<Utc>, u32)>> = BTreeMap::new();
    for card in hall.cases.reds_since(hall.spec.day_start(first_day)) {
        let Some(department) = card.department.as_deref() else {
            continue;
        };
        if card.issued_at > now {
            // A card of a restored book, ahead of a replay's clock.
            next.deadline(Some(card.issued_at));
            continue;
        }
        // Withdrawn by now (a restored book holds its later state too).
        if card.state == CardState::Withdrawn
            && card.closure.as_ref().is_none_or(|c| c.at <= now)
        {
            continue;
        }
        let (count, first) = reds.entry(department).or_default();
        *count += 1;
        if *count >= limits.reds && card.issued_at >= today && first.is_none() {
            *first = Some((card.issued_at, *count));
        }
    }
    for (department, (_, first)) in reds {
        let Some((at, count)) = first else {
            continue;
        };
        out.push(Finding {
            rule: Rule::RepeatFinding,
            subject: Subject::Department(department.to_owned()),
            severity: Severity::Critical,
            since: at,
            opened: at,
            facts: Facts {
                count: i64::from(count),
                ..Facts::default()
            },
            window: None,
            ticket: None,
            service: None,
        });
    }
}

pub fn say(hall: &Hall, f: &Finding) -> String {
    match &f.subject {
        Subject::Staff(id) => {
            let member = hall.spec.staff_index(id).map(|i| &hall.spec.staff[i]);
            let name = member.map_or(id.as_str(), |m| m.name.as_str());
            // What happened at the instant it was found.
            let what = hall
                .lapses(f.since, &mut Next::after(f.since))
                .into_iter()
                .find(|(at, a, _, _)| {
                    *at == f.since && hall.spec.staff.get(*a).is_some_and(|m| &m.id == id)
                })
                .map(|(_, _, kind, _)| kind.name())
                .unwrap_or("迟到或离岗");
            format!(
                "{name}（工号 {id}）本月第 {} 次迟到、未到岗、离岗或早退（{}，{what}），屡查屡犯，已报上级",
                f.facts.count,
                window_name(hall, f.facts.window),
            )
        }
        Subject::Department(code) => {
            let name = hall
                .spec
                .department(code)
                .map_or(code.as_str(), |d| d.name.as_str());
            let about = hall
                .cases
                .reds_since(f.since)
                .find(|c| c.issued_at == f.since && c.department.as_deref() == Some(code))
                .map(|c| match &c.subject {
                    CardSubject::Case { reference } => format!("：办件 {reference} 超期"),
                    CardSubject::FollowUp { id, .. } => format!("：差评整改 {id} 超期"),
                })
                .unwrap_or_default();
            format!(
                "{name}本月第 {} 张红牌{about}，屡查屡犯，已报上级",
                f.facts.count
            )
        }
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests;
