//! `GET /api/halls/{hall}/stats?date=YYYY-MM-DD&by=window|service|staff&format=csv`:
//! a day's figures, as JSON or CSV. Today's are counted live by the hall; a
//! past day's come from `figures`.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, FixedOffset, NaiveDate};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth;
use super::openapi::{Forbidden, Unauthorized, Unavailable, UnknownHall};
use super::{ApiError, AppState, ErrorBody, HallPath};
use crate::clock::now_ms;
use crate::domain::{DayFigures, Figures, HallId};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/halls/{hall}/stats", web::get().to(stats));
}

/// The query of `GET /api/halls/{hall}/stats`. Read as text and checked by
/// the handler, after the token, so that a bad value is named.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// The local day in the hall's time zone, `YYYY-MM-DD`; today when
    /// absent. A day that has not begun is refused.
    #[param(value_type = Option<String>, format = Date, example = json!("2026-11-22"))]
    date: Option<String>,
    /// Only the rows of one kind (a `StatsRows`); the whole `DayFigures`
    /// when absent.
    #[param(value_type = Option<Rows>, inline)]
    by: Option<String>,
    /// `json` (the default when absent) or `csv`.
    #[param(value_type = Option<Format>, inline)]
    format: Option<String>,
}

/// Which rows of a day's figures to give.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Rows {
    Window,
    Service,
    Staff,
}

impl Rows {
    /// `by`: None for all of them.
    fn parse(s: Option<&str>) -> Result<Option<Self>, ApiError> {
        Ok(match s {
            None => None,
            Some("service") => Some(Rows::Service),
            Some("window") => Some(Rows::Window),
            Some("staff") => Some(Rows::Staff),
            Some(other) => {
                return Err(ApiError::BadRequest(format!(
                    "by: {other:?} is not one of window, service, staff"
                )));
            }
        })
    }

    fn code(self) -> &'static str {
        match self {
            Rows::Service => "service",
            Rows::Window => "window",
            Rows::Staff => "staff",
        }
    }
}

/// How to give the figures.
#[derive(Debug, Clone, Copy, PartialEq, ToSchema)]
#[schema(rename_all = "snake_case", default = "json")]
pub enum Format {
    Json,
    Csv,
}

impl Format {
    fn parse(s: Option<&str>) -> Result<Self, ApiError> {
        match s {
            None | Some("json") => Ok(Format::Json),
            Some("csv") => Ok(Format::Csv),
            Some(other) => Err(ApiError::BadRequest(format!(
                "format: {other:?} is not one of json, csv"
            ))),
        }
    }
}

/// A day's figures narrowed to one kind of row (`by=window|service|staff`).
#[derive(Debug, Serialize, ToSchema)]
pub struct StatsRows<'a> {
    #[schema(value_type = HallId)]
    hall: &'a str,
    /// The hall's display name.
    hall_name: &'a str,
    /// The local day.
    date: NaiveDate,
    /// The day has ended: these figures are final.
    complete: bool,
    /// When the figures were counted.
    at: DateTime<FixedOffset>,
    /// The `by` asked for.
    by: Rows,
    /// The rows of that kind only.
    rows: Vec<&'a Figures>,
}

/// The figures as JSON: `DayFigures` without `by`, `StatsRows` with it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum StatsAnswer<'a> {
    Day(&'a DayFigures),
    Rows(StatsRows<'a>),
}

/// The CSV's first lines, as the document's example.
fn csv_example() -> String {
    format!(
        "\u{feff}{}\r\n2026-11-22,窗口,01,1号窗口,,12,11,1,8.3,6.5,21.0,7.9,25,44.0,9,81.8,8,7,1,87.5,72.7,1,1,2.0,,6.5,21.0,当日实时,,2,0,0,0,0,11,2,0\r\n",
        CSV_HEADER.join(",")
    )
}

/// A day's figures of a hall
///
/// Today's figures are counted live by the hall; a past day's are read from
/// the store, where they are kept when the day ends, or counted again from
/// that day's event log (and then kept). Any role, within the token's hall
/// scope. The hall is looked up before the token is checked, so an unknown
/// hall is 404 even without a token.
#[utoipa::path(
    get,
    path = "/api/halls/{hall}/stats",
    tag = "stats",
    operation_id = "getHallStats",
    params(HallPath, StatsQuery),
    security(("bearerAuth" = []), ("cookieAuth" = [])),
    responses(
        (status = 200,
            description = "The figures. As CSV: UTF-8 with a byte-order mark and CRLF line ends (so \
                Excel opens the Chinese text by a double click), a Chinese header row of 38 columns \
                (日期, 类别, 编号, 名称, 取号数, 叫号数, 办结数, 过号数, 过号率(%), 平均等候(分钟), \
                最长等候(分钟), 平均办理(分钟), 基准(件/日), 负荷(%), 即办件, 即办率(%), 评价数, 满意数, \
                差评数, 满意率(%), 评价率(%), 告警数, 已确认告警, 平均确认用时(分钟), 绿色通道取号数, \
                平均总等候(分钟), 最长总等候(分钟), 数据状态, \
                部门 (the department's code), 值班班次, 迟到, 未到岗, 早退, 离岗次数 (the A角's \
                attendance, window and staff rows with a rostered A角), 办结件数 (the cases the finished tickets \
                handled: each its `items`, a consultation none), 承诺件 (finished `accepted`), \
                未登记承诺件 (of them, without a case reference and promised days), 取消排队 (tickets \
                given up from their phone page; hall and service rows)), then one \
                row per hall (全厅), service (服务类别), window (窗口) and staff member (工作人员), or of \
                the `by` kind only. Rates are percentages and durations minutes with one decimal; an \
                unknown value is an empty cell; waits and service times count office time, and the \
                total wait adds a transferred ticket's waits in every queue; 数据状态 is 日终 (final) or 当日实时 (live). Text cells \
                that could be read as a formula are prefixed with `'`.",
            headers(
                ("Content-Disposition" = String, description = "CSV only: `attachment; \
                    filename=\"hallwatch-{hall}-{date}.csv\"`, or `hallwatch-{hall}-{date}-{by}.csv` \
                    with `by`."),
            ),
            content(
                (StatsAnswer = "application/json"),
                (String = "text/csv; charset=utf-8", example = json!(csv_example())),
            ),
        ),
        (status = 400,
            description = "`date` is not `YYYY-MM-DD` or has not begun in the hall, or `by` or \
                `format` is not one of its values.",
            body = ErrorBody,
            example = json!({"error": "bad_request", "message": "date: \"2026-13-01\" is not a date like 2026-11-22"})),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = UnknownHall),
        (status = 503, response = Unavailable),
    )
)]
pub(super) async fn stats(
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<StatsQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, actix_web::Error> {
    let hall = state.hall(&path)?;
    auth::require(&req, auth::ANY_ROLE, Some(hall.spec.id.as_str())).await?;
    let by = Rows::parse(query.by.as_deref())?;
    let format = Format::parse(query.format.as_deref())?;
    let now = now_ms(state.clock.as_ref());
    let today = hall.spec.local_date(now);
    let date = match query.date.as_deref() {
        None => today,
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
    Ok(match format {
        Format::Json => json_response(&figures, by),
        Format::Csv => csv_response(&figures, by),
    })
}

/// The rows of `by`'s kind, or every row (None).
fn rows(f: &DayFigures, by: Option<Rows>) -> Vec<(&'static str, &Figures)> {
    let mut out = Vec::new();
    if by.is_none() {
        out.push(("hall", &f.total));
    }
    if matches!(by, None | Some(Rows::Service)) {
        out.extend(f.services.iter().map(|r| ("service", r)));
    }
    if matches!(by, None | Some(Rows::Window)) {
        out.extend(f.windows.iter().map(|r| ("window", r)));
    }
    if matches!(by, None | Some(Rows::Staff)) {
        out.extend(f.staff.iter().map(|r| ("staff", r)));
    }
    out
}

fn json_response(f: &DayFigures, by: Option<Rows>) -> HttpResponse {
    let body = match by {
        None => StatsAnswer::Day(f),
        Some(kind) => StatsAnswer::Rows(StatsRows {
            hall: &f.hall,
            hall_name: &f.hall_name,
            date: f.date,
            complete: f.complete,
            at: f.at,
            by: kind,
            rows: rows(f, by).into_iter().map(|(_, r)| r).collect(),
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

const CSV_HEADER: [&str; 38] = [
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
    "告警数",
    "已确认告警",
    "平均确认用时(分钟)",
    "绿色通道取号数",
    "平均总等候(分钟)",
    "最长总等候(分钟)",
    "数据状态",
    "部门",
    "值班班次",
    "迟到",
    "未到岗",
    "早退",
    "离岗次数",
    "办结件数",
    "承诺件",
    "未登记承诺件",
    "取消排队",
];

/// A field as a spreadsheet should read it: quoted when it holds a comma,
/// quote or line break, and never taken for a formula (a staff name comes
/// from a device and could start with `=`).
pub(super) fn field(s: &str) -> String {
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

pub(super) fn pct(x: Option<f64>) -> String {
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
fn csv_response(f: &DayFigures, by: Option<Rows>) -> HttpResponse {
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
            opt(r.green),
            minutes(r.avg_total_wait_s),
            minutes(r.max_total_wait_s.map(|s| s as f64)),
            state.to_owned(),
            opt(r.department.as_deref().map(field)),
            opt(r.attendance.map(|a| a.shifts)),
            opt(r.attendance.map(|a| a.late)),
            opt(r.attendance.map(|a| a.not_arrived)),
            opt(r.attendance.map(|a| a.early_leave)),
            opt(r.attendance.map(|a| a.absences)),
            r.cases.to_string(),
            r.accepted.to_string(),
            r.unregistered.to_string(),
            opt(r.cancelled),
        ];
        out.push_str(&cells.join(","));
        out.push_str("\r\n");
    }
    let name = match by.map(Rows::code) {
        Some(b) => format!("hallwatch-{}-{}-{b}.csv", f.hall, f.date),
        None => format!("hallwatch-{}-{}.csv", f.hall, f.date),
    };
    csv_attachment(&name, out)
}

/// A CSV text as a download named `name`.
pub(super) fn csv_attachment(name: &str, text: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}\""),
        ))
        .body(text)
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
