//! The monthly 考评 over REST: per department or per staff member, as JSON
//! or as CSV for Excel, for one hall or rolled up across the halls of the
//! token's scope.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{Datelike, NaiveDate};
use serde::Deserialize;
use utoipa::IntoParams;

use super::auth;
use super::openapi::{Forbidden, Unauthorized, Unavailable};
use super::stats::{field, pct as num};
use super::{ApiError, AppState, ErrorBody};
use crate::clock::now_ms;
use crate::domain::{Appraisal, AppraisalBy, DayFigures, HallId};
use crate::engine::HallHandle;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/halls/{hall}/appraisal", web::get().to(hall_appraisal))
        .route("/api/appraisal", web::get().to(region_appraisal));
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct AppraisalQuery {
    /// The month, `YYYY-MM`; default the current month of the (first) hall.
    #[param(value_type = Option<String>, pattern = "^[0-9]{4}-(0[1-9]|1[0-2])$", example = "2026-11")]
    month: Option<String>,
    /// `department` (default) or `staff`.
    #[param(value_type = Option<AppraisalBy>)]
    by: Option<String>,
    /// `json` (default) or `csv` (UTF-8 with a byte-order mark, for Excel).
    #[param(value_type = Option<String>, pattern = "^(json|csv)$")]
    format: Option<String>,
}

struct Asked {
    month: Option<(i32, u32)>,
    by: AppraisalBy,
    csv: bool,
}

impl AppraisalQuery {
    fn read(&self) -> Result<Asked, ApiError> {
        let month = match self.month.as_deref() {
            None => None,
            Some(m) => {
                let date = NaiveDate::parse_from_str(&format!("{m}-01"), "%Y-%m-%d")
                    .map_err(|_| ApiError::BadRequest(format!("month {m:?} is not YYYY-MM")))?;
                Some((date.year(), date.month()))
            }
        };
        let by = match self.by.as_deref() {
            None | Some("department") => AppraisalBy::Department,
            Some("staff") => AppraisalBy::Staff,
            Some(b) => {
                return Err(ApiError::BadRequest(format!(
                    "by {b:?} is not department or staff"
                )));
            }
        };
        let csv = match self.format.as_deref() {
            None | Some("json") => false,
            Some("csv") => true,
            Some(f) => {
                return Err(ApiError::BadRequest(format!(
                    "format {f:?} is not json or csv"
                )));
            }
        };
        Ok(Asked { month, by, csv })
    }
}

/// A hall's month: the days before today from the store (counted again
/// from the log where none were kept), today from the hall itself.
async fn appraise(
    state: &AppState,
    hall: &HallHandle,
    month: Option<(i32, u32)>,
    by: AppraisalBy,
) -> Result<Appraisal, ApiError> {
    let now = now_ms(&*state.clock);
    let today = hall.spec.local_date(now);
    let (year, month) = month.unwrap_or((today.year(), today.month()));
    let (first, last) = crate::domain::month_bounds(year, month)
        .ok_or_else(|| ApiError::BadRequest(format!("{year}-{month:02} is not a month")))?;
    let mut days: Vec<DayFigures> = Vec::new();
    let mut d = first;
    while d <= last && d < today {
        let f = crate::figures::past_day(&state.store, hall.spec.clone(), d, now)
            .await
            .map_err(|e| ApiError::Store(e.to_string()))?;
        days.push(f);
        d = match d.succ_opt() {
            Some(n) => n,
            None => break,
        };
    }
    hall.appraisal((year, month), by, days)
        .await
        .ok_or(ApiError::Unavailable)?
        .ok_or_else(|| ApiError::BadRequest(format!("{year}-{month:02} is not a month")))
}

/// The appraisals as one CSV table, a row per hall and department (or
/// staff member), headed in Chinese for the 通报.
pub fn csv(appraisals: &[Appraisal]) -> String {
    let mut out = String::from("\u{feff}");
    out.push_str(
        "大厅,月份,编码,名称,所属部门,受理承诺件,按时办结,超期办结,按时办结率,超期未办结,\
         预警,黄牌,红牌,维持,申诉撤销,未结牌,即办件,即办率,评价数,满意率,差评,\
         整改超期环节,按时整改,应到班次,迟到,未到岗,早退,离岗,离岗分钟,得分\r\n",
    );
    for a in appraisals {
        for r in &a.rows {
            let cells = [
                field(&a.hall_name),
                a.month.clone(),
                field(&r.key),
                field(&r.name),
                field(r.department.as_deref().unwrap_or("")),
                r.cases_accepted.to_string(),
                r.completed_on_time.to_string(),
                r.completed_late.to_string(),
                num(r.on_time_rate),
                r.overdue.to_string(),
                r.cards.warning.to_string(),
                r.cards.yellow.to_string(),
                r.cards.red.to_string(),
                r.cards.upheld.to_string(),
                r.cards.withdrawn.to_string(),
                r.cards.open.to_string(),
                r.on_the_spot.to_string(),
                num(r.on_the_spot_rate),
                r.ratings.to_string(),
                num(r.satisfaction_rate),
                r.bad_reviews.to_string(),
                r.late_steps.to_string(),
                r.followed_up_on_time.to_string(),
                r.attendance.shifts.to_string(),
                r.attendance.late.to_string(),
                r.attendance.not_arrived.to_string(),
                r.attendance.early_leave.to_string(),
                r.attendance.absences.to_string(),
                (r.attendance.absent_s / 60).to_string(),
                format!("{:.1}", r.score),
            ];
            out.push_str(&cells.join(","));
            out.push_str("\r\n");
        }
    }
    out
}

fn answer(appraisals: Vec<Appraisal>, csv_wanted: bool, name: &str) -> HttpResponse {
    if csv_wanted {
        super::stats::csv_attachment(&format!("{name}.csv"), csv(&appraisals))
    } else if appraisals.len() == 1 && !name.starts_with("appraisal-all") {
        HttpResponse::Ok().json(&appraisals[0])
    } else {
        HttpResponse::Ok().json(appraisals)
    }
}

/// A hall's monthly 考评
///
/// Per department (or staff member): cases accepted, completed on time and
/// late (按时办结率), overdue, cards by colour and state, 即办件 and 即办率,
/// 满意率, bad reviews and their follow-up, attendance, and a score out of
/// 100 less the configured deductions (`[cases.deductions]`). A month not
/// over counts up to now. `format=csv` gives the same as a CSV table for
/// Excel. Any role within the hall scope.
#[utoipa::path(
    get,
    path = "/api/halls/{hall}/appraisal",
    tag = "cases",
    operation_id = "hallAppraisal",
    params(("hall" = HallId, Path, description = "The hall's id."), AppraisalQuery),
    security(("bearerAuth" = []), ("cookieAuth" = [])),
    responses(
        (status = 200, description = "The month's 考评 (JSON), or the CSV table with `format=csv` \
            (UTF-8 with a byte-order mark and CRLF, a row per department or staff member, the hall \
            first).",
            content(
                (Appraisal = "application/json"),
                (String = "text/csv; charset=utf-8"),
            )),
        (status = 400, description = "`month`, `by` or `format` is not one of its values.", body = ErrorBody,
            example = json!({"error": "bad_request", "message": "month \"2026-13\" is not YYYY-MM"})),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "No such hall here.", body = ErrorBody,
            example = json!({"error": "unknown_hall", "message": "hall \"nope\" is not served here"})),
        (status = 503, response = Unavailable),
    )
)]
pub(super) async fn hall_appraisal(
    req: HttpRequest,
    path: web::Path<String>,
    q: web::Query<AppraisalQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, actix_web::Error> {
    let id = path.into_inner();
    auth::require(&req, auth::ANY_ROLE, Some(&id)).await?;
    let hall = state
        .registry
        .get_str(&id)
        .ok_or_else(|| ApiError::UnknownHall(id.clone()))?;
    let asked = q.read()?;
    let a = appraise(&state, &hall, asked.month, asked.by).await?;
    let name = format!("appraisal-{id}-{}", a.month);
    Ok(answer(vec![a], asked.csv, &name))
}

/// The monthly 考评 of every hall in scope
///
/// The region's roll-up: one 考评 per hall of the token's scope, in
/// configuration order (a JSON array), or one CSV table with the hall in
/// its first column. Any role.
#[utoipa::path(
    get,
    path = "/api/appraisal",
    tag = "cases",
    operation_id = "regionAppraisal",
    params(AppraisalQuery),
    security(("bearerAuth" = []), ("cookieAuth" = [])),
    responses(
        (status = 200, description = "A 考评 per hall (JSON), or the CSV table.",
            content(
                (Vec<Appraisal> = "application/json"),
                (String = "text/csv; charset=utf-8"),
            )),
        (status = 400, description = "`month`, `by` or `format` is not one of its values.", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 503, response = Unavailable),
    )
)]
pub(super) async fn region_appraisal(
    req: HttpRequest,
    q: web::Query<AppraisalQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, actix_web::Error> {
    let who = auth::require(&req, auth::ANY_ROLE, None).await?;
    let asked = q.read()?;
    let mut out = Vec::new();
    for hall in state.registry.all() {
        if who.may_see(hall.spec.id.as_str()) {
            out.push(appraise(&state, &hall, asked.month, asked.by).await?);
        }
    }
    let month = out.first().map(|a| a.month.clone()).unwrap_or_default();
    Ok(answer(out, asked.csv, &format!("appraisal-all-{month}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_csv_has_a_row_per_department_under_its_header() {
        let a = Appraisal {
            hall: "h1".into(),
            hall_name: "测试,中心".into(),
            month: "2026-11".into(),
            by: AppraisalBy::Department,
            days: 30,
            until: chrono::Utc::now(),
            rows: vec![crate::domain::AppraisalRow {
                key: "gaj".into(),
                name: "=县公安局".into(),
                cases_accepted: 3,
                on_time_rate: Some(0.5),
                score: 97.5,
                ..Default::default()
            }],
        };
        let text = csv(&[a]);
        let lines: Vec<&str> = text.trim_start_matches('\u{feff}').split("\r\n").collect();
        let header = lines[0].split(',').count();
        assert_eq!(
            lines[1].split(',').count(),
            header + 1,
            "the hall name is quoted: {}",
            lines[1]
        );
        assert!(
            lines[1].starts_with("\"测试,中心\",2026-11,gaj,'=县公安局,,3,"),
            "{}",
            lines[1]
        );
        assert!(lines[1].contains(",50.0,"), "{}", lines[1]);
        assert!(lines[1].ends_with(",97.5"), "{}", lines[1]);
    }

    #[test]
    fn queries_are_read_or_named() {
        let q = |m: Option<&str>, b: Option<&str>, f: Option<&str>| AppraisalQuery {
            month: m.map(str::to_owned),
            by: b.map(str::to_owned),
            format: f.map(str::to_owned),
        };
        let a = q(Some("2026-11"), Some("staff"), Some("csv"))
            .read()
            .unwrap();
        assert_eq!(
            (a.month, a.by, a.csv),
            (Some((2026, 11)), AppraisalBy::Staff, true)
        );
        assert!(q(Some("2026-13"), None, None).read().is_err());
        assert!(q(None, Some("window"), None).read().is_err());
        assert!(q(None, None, Some("xls")).read().is_err());
    }
}
