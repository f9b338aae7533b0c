//! `GET /api/halls/{hall}/stats?date=YYYY-MM-DD&by=window|service|staff&format=csv`:
//! a day's figures, as JSON or CSV. Today's are counted live by the hall; a
//! past day's come from `figures`.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::json;

use super::auth;
use super::{ApiError, AppState};
use crate::clock::now_ms;
use crate::domain::{DayFigures, Figures};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/halls/{hall}/stats", web::get().to(stats));
}

#[derive(Debug, Deserialize)]
pub struct StatsQuery {
    date: Option<String>,
    by: Option<String>,
    format: Option<String>,
}

/// Which rows to give.
#[derive(Debug, Clone, Copy, PartialEq)]
enum By {
    All,
    Service,
    Window,
    Staff,
}

impl By {
    fn parse(s: Option<&str>) -> Result<Self, ApiError> {
        Ok(match s {
            None | Some("") => By::All,
            Some("service") => By::Service,
            Some("window") => By::Window,
            Some("staff") => By::Staff,
            Some(other) => {
                return Err(ApiError::BadRequest(format!(
                    "by: {other:?} is not one of window, service, staff"
                )));
            }
        })
    }

    fn code(self) -> Option<&'static str> {
        match self {
            By::All => None,
            By::Service => Some("service"),
            By::Window => Some("window"),
            By::Staff => Some("staff"),
        }
    }
}

async fn stats(
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<StatsQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, actix_web::Error> {
    let hall = state
        .registry
        .get_str(&path)
        .ok_or_else(|| ApiError::UnknownHall(path.clone()))?;
    auth::require(&req, auth::ANY_ROLE, Some(hall.spec.id.as_str()))?;
    let by = By::parse(query.by.as_deref())?;
    let csv = match query.format.as_deref() {
        None | Some("" | "json") => false,
        Some("csv") => true,
        Some(other) => {
            return Err(
                ApiError::BadRequest(format!("format: {other:?} is not one of json, csv")).into(),
            );
        }
    };
    let now = now_ms(state.clock.as_ref());
    let today = hall.spec.local_date(now);
    let date = match query.date.as_deref() {
        None | Some("") => today,
        Some(d) => NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(|_| {
            ApiError::BadRequest(format!("date: {d:?} is not a date like 2026-11-22"))
        })?,
    };
    if date > today {
        return Err(ApiError::BadRequest(format!(
            "date: {date} has not begun yet in this hall (today is {today})"
        ))
        .into());
    }
    let figures = if date == today {
        hall.figures().await.ok_or(ApiError::Unavailable)?
    } else {
        crate::figures::past_day(&state.store, hall.spec.clone(), date, now)
            .await
            .map_err(|e| ApiError::Store(e.to_string()))?
    };
    Ok(if csv {
        csv_response(&figures, by)
    } else {
        json_response(&figures, by)
    })
}

fn rows(f: &DayFigures, by: By) -> Vec<(&'static str, &Figures)> {
    let mut out = Vec::new();
    if by == By::All {
        out.push(("hall", &f.total));
    }
    if matches!(by, By::All | By::Service) {
        out.extend(f.services.iter().map(|r| ("service", r)));
    }
    if matches!(by, By::All | By::Window) {
        out.extend(f.windows.iter().map(|r| ("window", r)));
    }
    if matches!(by, By::All | By::Staff) {
        out.extend(f.staff.iter().map(|r| ("staff", r)));
    }
    out
}

fn json_response(f: &DayFigures, by: By) -> HttpResponse {
    let body = match by {
        By::All => serde_json::to_value(f).unwrap_or_default(),
        _ => json!({
            "hall": f.hall, "hall_name": f.hall_name, "date": f.date, "complete": f.complete,
            "at": f.at, "by": by.code(),
            "rows": rows(f, by).into_iter().map(|(_, r)| r).collect::<Vec<_>>(),
        }),
    };
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(body)
}

/// The kinds of row, as a spreadsheet reader sees them.
fn kind_name(kind: &str) -> &'static str {
    match kind {
        "hall" => "全厅",
        "service" => "服务类别",
        "window" => "窗口",
        _ => "工作人员",
    }
}

const CSV_HEADER: [&str; 25] = [
    "日期",
    "类别",
    "编号",
    "名称",
    "取号数",
    "叫号数",
    "办结数",
    "过号数",
    "过号率(%)",
    "平均等候(分钟)",
    "最长等候(分钟)",
    "平均办理(分钟)",
    "基准(件/日)",
    "负荷(%)",
    "即办件",
    "即办率(%)",
    "评价数",
    "满意数",
    "差评数",
    "满意率(%)",
    "评价率(%)",
    "预警数",
    "已确认预警",
    "平均确认用时(分钟)",
    "数据状态",
];

/// A field as a spreadsheet should read it: quoted when it holds a comma,
/// quote or line break, and never taken for a formula (a staff name comes
/// from a device and could start with `=`).
fn field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_owned()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

fn pct(x: Option<f64>) -> String {
    x.map(|v| format!("{:.1}", v * 100.0)).unwrap_or_default()
}

fn minutes(x: Option<f64>) -> String {
    x.map(|v| format!("{:.1}", v / 60.0)).unwrap_or_default()
}

fn opt<T: ToString>(x: Option<T>) -> String {
    x.map(|v| v.to_string()).unwrap_or_default()
}

/// UTF-8 with a byte-order mark and CRLF line ends: what Excel needs to
/// open Chinese text correctly by a double click.
fn csv_response(f: &DayFigures, by: By) -> HttpResponse {
    let mut out = String::from("\u{feff}");
    out.push_str(&CSV_HEADER.join(","));
    out.push_str("\r\n");
    let state = if f.complete { "日终" } else { "当日实时" };
    for (kind, r) in rows(f, by) {
        let cells = [
            f.date.to_string(),
            kind_name(kind).to_owned(),
            field(&r.key),
            field(&r.name),
            opt(r.issued),
            r.called.to_string(),
            r.served.to_string(),
            r.missed.to_string(),
            pct(r.missed_rate),
            minutes(r.avg_wait_s),
            minutes(r.max_wait_s.map(|s| s as f64)),
            minutes(r.avg_service_s),
            opt(r.benchmark),
            pct(r.load),
            r.completed.to_string(),
            pct(r.on_the_spot_rate),
            r.ratings.to_string(),
            r.satisfied.to_string(),
            r.bad_ratings.to_string(),
            pct(r.satisfaction_rate),
            pct(r.rating_rate),
            opt(r.alerts),
            opt(r.alerts_acknowledged),
            minutes(r.avg_ack_s),
            state.to_owned(),
        ];
        out.push_str(&cells.join(","));
        out.push_str("\r\n");
    }
    let name = match by.code() {
        Some(b) => format!("hallwatch-{}-{}-{b}.csv", f.hall, f.date),
        None => format!("hallwatch-{}-{}.csv", f.hall, f.date),
    };
    HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}\""),
        ))
        .body(out)
}

#[cfg(test)]
mod tests {
    use super::field;

    #[test]
    fn csv_fields_are_quoted_and_never_formulas() {
        assert_eq!(field("李敏"), "李敏");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(field("-1"), "'-1");
    }
}
