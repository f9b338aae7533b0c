//! 考评: a month of a hall, per department or per staff member, with a
//! score out of 100 less a deduction per finding.
//!
//! What it counts, each in the month: cases accepted, completed on time
//! and late (按时办结率), cases overdue and still pending at its end, cards
//! issued by colour and how they were closed, 即办件 and 即办率, ratings and
//! 满意率, bad reviews and the follow-up steps done late, and attendance
//! (late arrivals, shifts not arrived, early leaves, absences). The score
//! deducts, per [`Deductions`]: each 黄牌 and 红牌 not withdrawn on appeal,
//! each overdue case, each follow-up step late, each bad review, and each
//! attendance finding; it is never below 0.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::Serialize;

use super::cases::{CardKind, CardState, CaseBook, CaseState};
use super::duty::Attendance;
use super::spec::HallSpec;
use super::stats::DayFigures;

/// What one finding costs out of 100: `[cases.deductions]` in the
/// configuration, each field defaulting to the value below.
#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Deductions {
    /// Per 黄牌 or 红牌 not withdrawn on appeal.
    pub yellow: f64,
    pub red: f64,
    /// Per case overdue (completed late, or pending past its deadline).
    pub overdue_case: f64,
    /// Per follow-up step done late.
    pub late_step: f64,
    /// Per bad review (差评).
    pub bad_review: f64,
    /// Per late arrival, shift not arrived, early leave, absence from post.
    pub late: f64,
    pub not_arrived: f64,
    pub early_leave: f64,
    pub absence: f64,
}

impl Default for Deductions {
    fn default() -> Self {
        Self {
            yellow: 2.0,
            red: 5.0,
            overdue_case: 1.0,
            late_step: 1.0,
            bad_review: 1.0,
            late: 0.5,
            not_arrived: 2.0,
            early_leave: 0.5,
            absence: 1.0,
        }
    }
}

/// Rows per department or per staff member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AppraisalBy {
    Department,
    Staff,
}

/// Cards issued in the month, by colour, and how they stand.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CardCounts {
    /// 预警.
    pub warning: u32,
    /// 黄牌.
    pub yellow: u32,
    /// 红牌.
    pub red: u32,
    /// 黄牌 and 红牌 upheld by a supervisor.
    pub upheld: u32,
    /// 黄牌 and 红牌 withdrawn on appeal: they cost nothing.
    pub withdrawn: u32,
    /// 黄牌 and 红牌 not yet closed.
    pub open: u32,
}

/// One department's or staff member's month.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AppraisalRow {
    /// The department's code, or the staff member's 工号; empty for work
    /// that names no department.
    pub key: String,
    pub name: String,
    /// A staff member's department code.
    pub department: Option<String>,
    /// Cases (承诺件) accepted in the month.
    pub cases_accepted: u32,
    /// Cases completed in the month by their deadline.
    pub completed_on_time: u32,
    /// Cases completed in the month after it.
    pub completed_late: u32,
    /// 按时办结率: on time ÷ completed; null without completions.
    pub on_time_rate: Option<f64>,
    /// Cases pending past their deadline at the month's end (or now).
    pub overdue: u32,
    pub cards: CardCounts,
    /// 即办件: tickets completed at the window.
    pub on_the_spot: u32,
    /// 即办率: 即办件 ÷ tickets finished with an outcome other than a
    /// consultation; null without any.
    pub on_the_spot_rate: Option<f64>,
    pub ratings: u32,
    /// 满意率: ratings of 4 or 5 ÷ ratings; null without ratings.
    pub satisfaction_rate: Option<f64>,
    /// 差评.
    pub bad_reviews: u32,
    /// Follow-up steps (核实, 整改, 回访) of the month's bad reviews done
    /// late or overdue.
    pub late_steps: u32,
    /// Bad reviews whose follow-up was done with every step on time.
    pub followed_up_on_time: u32,
    pub attendance: Attendance,
    /// 100 less the deductions, never below 0 (one decimal).
    pub score: f64,
    /// The deductions, by finding, for the 通报.
    pub deducted: BTreeMap<String, f64>,
}

/// A month of a hall.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Appraisal {
    pub hall: String,
    pub hall_name: String,
    /// `YYYY-MM`.
    pub month: String,
    pub by: AppraisalBy,
    /// The days of the month with figures.
    pub days: u32,
    /// Counted up to this instant: the month's end, or now for the current
    /// month.
    pub until: DateTime<Utc>,
    pub rows: Vec<AppraisalRow>,
}

#[derive(Default)]
struct Counts {
    ratings: u32,
    satisfied: u32,
    decided: u32,
    withdrawn_yellow: u32,
    withdrawn_red: u32,
    row: AppraisalRow,
}

/// The first and last dates of a month.
pub fn month_bounds(year: i32, month: u32) -> Option<(NaiveDate, NaiveDate)> {
    let first = NaiveDate::from_ymd_opt(year, month, 1)?;
    let next = if month == 12 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)?
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)?
    };
    Some((first, next.pred_opt()?))
}

/// The appraisal of `year`-`month` for a hall: its day figures of the
/// month, its case book, and `now` (a month not over counts up to now).
pub fn appraise(
    spec: &HallSpec,
    deductions: &Deductions,
    (year, month): (i32, u32),
    by: AppraisalBy,
    days: &[DayFigures],
    book: &CaseBook,
    now: DateTime<Utc>,
) -> Option<Appraisal> {
    let (first, last) = month_bounds(year, month)?;
    let end = last.succ_opt().map_or(now, |d| spec.day_start(d)).min(now);
    let in_month = |at: DateTime<Utc>| {
        let d = spec.local_date(at);
        first <= d && d <= last && at <= end
    };
    let mut rows: BTreeMap<String, Counts> = BTreeMap::new();
    // Every department, or every registered staff member, has a row, in
    // the configuration's order (kept by an index prefix).
    let mut order: Vec<String> = Vec::new();
    let mut row = |key: &str, rows: &mut BTreeMap<String, Counts>| -> String {
        if !rows.contains_key(key) {
            order.push(key.to_owned());
            let (name, department) = match by {
                AppraisalBy::Department => (
                    spec.department(key)
                        .map_or_else(|| "未归属单位".to_owned(), |d| d.name.clone()),
                    None,
                ),
                AppraisalBy::Staff => {
                    let member = spec.staff.iter().find(|m| m.id.as_str() == key);
                    (
                        member.map_or_else(|| key.to_owned(), |m| m.name.clone()),
                        member
                            .and_then(|m| m.department)
                            .and_then(|d| spec.departments.get(d))
                            .map(|d| d.code.clone()),
                    )
                }
            };
            rows.insert(
                key.to_owned(),
                Counts {
                    row: AppraisalRow {
                        key: key.to_owned(),
                        name,
                        department,
                        ..AppraisalRow::default()
                    },
                    ..Counts::default()
                },
            );
        }
        key.to_owned()
    };
    match by {
        AppraisalBy::Department => {
            for d in &spec.departments {
                row(&d.code, &mut rows);
            }
        }
        AppraisalBy::Staff => {
            for m in &spec.staff {
                row(m.id.as_str(), &mut rows);
            }
        }
    }
    let key_of = |department: Option<&str>, staff: Option<&str>| -> String {
        match by {
            AppraisalBy::Department => department.unwrap_or_default().to_owned(),
            AppraisalBy::Staff => staff.unwrap_or_default().to_owned(),
        }
    };

    for case in book.cases() {
        let key = key_of(
            case.department.as_deref(),
            case.staff.as_ref().map(|s| s.as_str()),
        );
        if key.is_empty() && by == AppraisalBy::Staff {
            continue;
        }
        let k = row(&key, &mut rows);
        let r = &mut rows.get_mut(&k).expect("just made").row;
        if in_month(case.accepted_at) {
            r.cases_accepted += 1;
        }
        match case.state {
            CaseState::Completed | CaseState::Delivered if case.closed_at.is_some_and(in_month) => {
                if case.is_late(end) {
                    r.completed_late += 1;
                } else {
                    r.completed_on_time += 1;
                }
            }
            CaseState::Open if case.accepted_at <= end && case.is_late(end) => r.overdue += 1,
            _ => {}
        }
    }
    for card in book.cards() {
        if !in_month(card.issued_at) {
            continue;
        }
        let key = key_of(
            card.department.as_deref(),
            card.staff.as_ref().map(|s| s.as_str()),
        );
        if key.is_empty() && by == AppraisalBy::Staff {
            continue;
        }
        let k = row(&key, &mut rows);
        let counts = rows.get_mut(&k).expect("just made");
        let c = &mut counts.row.cards;
        match card.kind {
            CardKind::Warning => {
                c.warning += 1;
                continue;
            }
            CardKind::Yellow => c.yellow += 1,
            CardKind::Red => c.red += 1,
        }
        match card.state {
            CardState::Upheld => c.upheld += 1,
            CardState::Withdrawn => {
                c.withdrawn += 1;
                if card.kind == CardKind::Yellow {
                    counts.withdrawn_yellow += 1;
                } else {
                    counts.withdrawn_red += 1;
                }
            }
            _ => c.open += 1,
        }
    }
    for f in book.follow_ups() {
        if !in_month(f.opened_at) {
            continue;
        }
        let key = key_of(
            f.department.as_deref(),
            f.staff.as_ref().map(|s| s.as_str()),
        );
        if key.is_empty() && by == AppraisalBy::Staff {
            continue;
        }
        let k = row(&key, &mut rows);
        let r = &mut rows.get_mut(&k).expect("just made").row;
        let overdue = f.current().and_then(|s| s.due).is_some_and(|due| due < end);
        let late = f.late_steps() as u32 + u32::from(overdue);
        r.late_steps += late;
        if f.is_done() && late == 0 {
            r.followed_up_on_time += 1;
        }
    }
    let mut counted_days = 0;
    for day in days.iter().filter(|d| first <= d.date && d.date <= last) {
        counted_days += 1;
        let figures: Vec<(String, &super::stats::Figures)> = match by {
            // A department's tickets are its services'; its attendance is
            // its staff's.
            AppraisalBy::Department => day
                .services
                .iter()
                .map(|f| (f.department.clone().unwrap_or_default(), f))
                .collect(),
            AppraisalBy::Staff => day.staff.iter().map(|f| (f.key.clone(), f)).collect(),
        };
        for (key, f) in figures {
            let k = row(&key, &mut rows);
            let c = rows.get_mut(&k).expect("just made");
            c.row.on_the_spot += f.completed;
            c.decided += if f.decided > 0 {
                f.decided
            } else {
                // Figures stored before `decided` was counted: from the rate.
                f.on_the_spot_rate
                    .filter(|r| *r > 0.0)
                    .map_or(0, |r| (f64::from(f.completed) / r).round() as u32)
            };
            c.ratings += f.ratings;
            c.satisfied += f.satisfied;
            c.row.bad_reviews += f.bad_ratings;
            if by == AppraisalBy::Staff
                && let Some(a) = &f.attendance
            {
                c.row.attendance.add(a);
            }
        }
        if by == AppraisalBy::Department {
            for f in &day.staff {
                if let Some(a) = &f.attendance {
                    let k = row(f.department.as_deref().unwrap_or_default(), &mut rows);
                    rows.get_mut(&k).expect("just made").row.attendance.add(a);
                }
            }
        }
    }

    let rows = order
        .iter()
        .filter_map(|k| rows.remove(k))
        .map(|c| finish(c, deductions))
        .collect();
    Some(Appraisal {
        hall: spec.id.to_string(),
        hall_name: spec.name.clone(),
        month: format!("{:04}-{:02}", first.year(), first.month()),
        by,
        days: counted_days,
        until: end,
        rows,
    })
}

fn ratio(a: u32, b: u32) -> Option<f64> {
    (b > 0).then(|| f64::from(a) / f64::from(b))
}

/// The rates and the score of a row.
fn finish(c: Counts, d: &Deductions) -> AppraisalRow {
    let mut r = c.row;
    r.on_time_rate = ratio(r.completed_on_time, r.completed_on_time + r.completed_late);
    r.on_the_spot_rate = ratio(r.on_the_spot, c.decided);
    r.ratings = c.ratings;
    r.satisfaction_rate = ratio(c.satisfied, c.ratings);
    let kept = |kind: u32| f64::from(kind);
    // Cards withdrawn on appeal cost nothing.
    let (withdrawn_yellow, withdrawn_red) = (c.withdrawn_yellow, c.withdrawn_red);
    let mut deducted = BTreeMap::new();
    let mut take = |what: &str, n: f64, each: f64| {
        if n > 0.0 && each > 0.0 {
            deducted.insert(what.to_owned(), n * each);
        }
    };
    take("黄牌", kept(r.cards.yellow - withdrawn_yellow), d.yellow);
    take("红牌", kept(r.cards.red - withdrawn_red), d.red);
    take("超期未办结", kept(r.overdue), d.overdue_case);
    take("整改超时", kept(r.late_steps), d.late_step);
    take("差评", kept(r.bad_reviews), d.bad_review);
    take("迟到", kept(r.attendance.late), d.late);
    take("未到岗", kept(r.attendance.not_arrived), d.not_arrived);
    take("早退", kept(r.attendance.early_leave), d.early_leave);
    take("离岗", kept(r.attendance.absences), d.absence);
    let total: f64 = deducted.values().sum();
    r.score = ((100.0 - total).max(0.0) * 10.0).round() / 10.0;
    r.deducted = deducted;
    r
}

#[cfg(test)]
mod tests;
