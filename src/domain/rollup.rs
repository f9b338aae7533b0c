//! Roll-up along the administrative levels (省 / 市 / 县区 / 乡镇街道 /
//! 村社区): the halls' summaries, as every hall publishes them (the
//! retained `{prefix}/{hall}/summary`), added up per region of their
//! paths. Pure: it reads summaries, whichever instance made them.

use std::collections::BTreeMap;

use serde::Serialize;

use super::spec::RegionLevel;
use super::view::SummaryView;

/// One region's figures: every hall whose path passes through it.
#[derive(Debug, Clone, Default, Serialize, PartialEq, utoipa::ToSchema)]
pub struct RegionRow {
    /// The division's code (行政区划代码).
    pub code: String,
    pub name: String,
    /// 1 for the province, 2 for a city, 3 a county, 4 a township, 5 a
    /// village.
    pub depth: usize,
    /// The code of the region above; None at the top.
    pub parent: Option<String>,
    /// Halls here, and of those how many have reported a summary.
    pub halls: usize,
    pub reporting: usize,
    /// Tickets waiting now, and the longest wait now of any hall.
    pub waiting: usize,
    pub longest_wait_s: i64,
    pub issued_today: usize,
    pub served_today: u32,
    pub cases_today: u32,
    pub windows_open: usize,
    pub windows_on_duty: usize,
    /// Windows on duty with nobody logged in (空岗).
    pub windows_unattended: usize,
    pub alerts_open: usize,
    #[schema(value_type = BTreeMap<String, usize>)]
    pub alerts_by_severity: BTreeMap<String, usize>,
    /// 满意率 over the halls that have one, weighted by what each served.
    #[schema(minimum = 0, maximum = 1)]
    pub satisfaction_rate: Option<f64>,
    /// This month's standing 黄牌 / 红牌 (`yellow`, `red`).
    #[schema(value_type = BTreeMap<String, usize>)]
    pub cards_month: BTreeMap<String, usize>,
    /// Halls whose staffing advice asks for a change, with that advice.
    pub advice: Vec<HallAdvice>,
}

/// A hall's staffing advice, in its region's row.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct HallAdvice {
    pub hall: String,
    pub name: String,
    pub advice: Vec<String>,
}

/// Every region on the paths of `halls` (each hall's configured path and,
/// when it has reported, its summary), from the top down in code order.
/// `expected` lists every hall in scope with its path, so a hall that has
/// not reported yet still counts in `halls`.
pub fn roll_up(expected: &[(String, Vec<RegionLevel>)], reports: &[SummaryView]) -> Vec<RegionRow> {
    let mut rows: BTreeMap<String, RegionRow> = BTreeMap::new();
    let mut weighted: BTreeMap<String, (f64, u32)> = BTreeMap::new();
    for (hall, path) in expected {
        let report = reports.iter().find(|r| r.hall.as_str() == hall);
        for (depth, level) in path.iter().enumerate() {
            let row = rows.entry(level.code.clone()).or_insert_with(|| RegionRow {
                code: level.code.clone(),
                name: level.name.clone(),
                depth: depth + 1,
                parent: depth.checked_sub(1).map(|d| path[d].code.clone()),
                ..RegionRow::default()
            });
            row.halls += 1;
            let Some(r) = report else { continue };
            row.reporting += 1;
            row.waiting += r.waiting.values().sum::<usize>();
            row.longest_wait_s = row.longest_wait_s.max(r.longest_wait_s);
            row.issued_today += r.issued_today;
            row.served_today = row.served_today.saturating_add(r.served_today);
            row.cases_today = row.cases_today.saturating_add(r.cases_today);
            row.windows_open += r.windows_open;
            row.windows_on_duty += r.windows_on_duty;
            row.windows_unattended += r.windows_unattended;
            row.alerts_open += r.alerts_open;
            for (k, n) in &r.alerts_by_severity {
                *row.alerts_by_severity.entry((*k).to_owned()).or_insert(0) += n;
            }
            for (k, n) in &r.cards_month {
                *row.cards_month.entry((*k).to_owned()).or_insert(0) += n;
            }
            if let Some(rate) = r.satisfaction_rate {
                let w = weighted.entry(level.code.clone()).or_insert((0.0, 0));
                let served = r.served_today.max(1);
                w.0 += rate * f64::from(served);
                w.1 = w.1.saturating_add(served);
            }
            if !r.advice.is_empty() {
                row.advice.push(HallAdvice {
                    hall: r.hall.as_str().to_owned(),
                    name: r.name.clone(),
                    advice: r.advice.clone(),
                });
            }
        }
    }
    for (code, (sum, n)) in weighted {
        if let Some(row) = rows.get_mut(&code) {
            row.satisfaction_rate = (n > 0).then(|| sum / f64::from(n));
        }
    }
    let mut rows: Vec<RegionRow> = rows.into_values().collect();
    rows.sort_by(|a, b| a.depth.cmp(&b.depth).then_with(|| a.code.cmp(&b.code)));
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{HallId, ServiceCode};

    fn path(levels: &[(&str, &str)]) -> Vec<RegionLevel> {
        levels
            .iter()
            .map(|(code, name)| RegionLevel {
                code: (*code).into(),
                name: (*name).into(),
            })
            .collect()
    }

    fn report(hall: &str, waiting: usize, served: u32, rate: f64) -> SummaryView {
        let at = chrono::DateTime::parse_from_rfc3339("2026-11-22T10:00:00+08:00").unwrap();
        SummaryView {
            hall: HallId::parse(hall).unwrap(),
            name: format!("{hall}大厅"),
            region: Vec::new(),
            date: at.date_naive(),
            at,
            waiting: BTreeMap::from([(ServiceCode::parse("SB").unwrap(), waiting)]),
            issued_today: 0,
            served_today: served,
            cases_today: 0,
            windows_open: 3,
            windows_total: 5,
            windows_on_duty: 4,
            windows_unattended: 1,
            alerts_open: 0,
            alerts_by_severity: BTreeMap::new(),
            load: None,
            longest_wait_s: i64::from(served) * 10,
            avg_wait_s: None,
            satisfaction_rate: Some(rate),
            advice: Vec::new(),
            cards_month: BTreeMap::from([("yellow", 1)]),
        }
    }

    #[test]
    fn halls_add_up_along_their_paths() {
        let county_a = path(&[("99", "示例省"), ("9901", "示例市"), ("990101", "金林县")]);
        let town = path(&[
            ("99", "示例省"),
            ("9901", "示例市"),
            ("990101", "金林县"),
            ("990101001", "城关镇"),
        ]);
        let county_b = path(&[("99", "示例省"), ("9902", "北市"), ("990201", "北县")]);
        let expected = vec![
            ("a".to_owned(), county_a),
            ("t".to_owned(), town),
            ("b".to_owned(), county_b),
            ("silent".to_owned(), path(&[("99", "示例省")])),
        ];
        let mut t = report("t", 2, 10, 1.0);
        t.advice = vec!["增开 1 个窗口".into()];
        t.cards_month.insert("red", 1);
        let rows = roll_up(
            &expected,
            &[report("a", 5, 30, 0.9), t, report("b", 1, 20, 0.5)],
        );
        let codes: Vec<_> = rows.iter().map(|r| r.code.as_str()).collect();
        assert_eq!(
            codes,
            ["99", "9901", "9902", "990101", "990201", "990101001"]
        );
        let province = &rows[0];
        assert_eq!((province.depth, province.parent.as_deref()), (1, None));
        assert_eq!((province.halls, province.reporting), (4, 3));
        assert_eq!(province.waiting, 8);
        assert_eq!(province.served_today, 60);
        assert_eq!(province.windows_unattended, 3);
        assert_eq!(province.longest_wait_s, 300);
        assert_eq!(province.cards_month["yellow"], 3);
        assert_eq!(province.cards_month["red"], 1);
        // Weighted by what each hall served: (0.9×30 + 1×10 + 0.5×20) / 60.
        let rate = province.satisfaction_rate.unwrap();
        assert!((rate - 47.0 / 60.0).abs() < 1e-9, "{rate}");
        let county = rows.iter().find(|r| r.code == "990101").unwrap();
        assert_eq!((county.halls, county.waiting), (2, 7));
        assert_eq!(county.parent.as_deref(), Some("9901"));
        assert_eq!(county.advice.len(), 1);
        assert_eq!(county.advice[0].hall, "t");
        let north = rows.iter().find(|r| r.code == "9902").unwrap();
        assert!(north.advice.is_empty() && !north.cards_month.contains_key("red"));
    }

    #[test]
    fn a_summary_read_back_is_the_summary_published() {
        let mut s = report("a", 5, 30, 0.9);
        s.alerts_by_severity.insert("critical", 2);
        let json = serde_json::to_vec(&s).unwrap();
        let back: SummaryView = serde_json::from_slice(&json).unwrap();
        assert_eq!(back, s);
    }
}
