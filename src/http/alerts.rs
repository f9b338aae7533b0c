//! Supervisors (电子效能监察): the `/ws/alerts` channel and the REST API over
//! alerts. Both check the token before anything else: 401 without a valid
//! one, 403 outside its role or hall scope, before any WebSocket upgrade.

use actix_web::{HttpRequest, HttpResponse, web};
use bytestring::ByteString;
use chrono::{NaiveDate, TimeZone};
use serde::Deserialize;
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::auth::{self, AuthError, Principal};
use super::frames::{AlertMessage, ConsoleError, ConsoleHall};
use super::openapi::{Forbidden, PayloadTooLarge, Unauthorized, Unavailable};
use super::ws::{Channel, Subscription, open};
use super::{ApiError, AppState, ErrorBody, frames};
use crate::clock::now_ms;
use crate::domain::{
    AlertOp, AlertRefusal, AlertState, AlertView, HallId, MAX_NOTE, Rule, Severity,
};
use crate::engine::{ConsoleMsg, HallFrame, HallHandle};
use crate::store::AlertFilter;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/ws/alerts", web::get().to(alerts_ws))
        .route("/api/alerts", web::get().to(list))
        .route("/api/deliveries", web::get().to(deliveries))
        .route("/api/alerts/{id}/{op}", web::post().to(act_route));
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ScopeQuery {
    /// Only this hall; it must be in the token's scope (403 otherwise).
    #[param(value_type = Option<HallId>)]
    hall: Option<String>,
}

/// The halls a principal sees, narrowed to `hall` when one is asked for.
fn halls_in_scope(
    state: &AppState,
    who: &Principal,
    hall: Option<&str>,
) -> Result<Vec<HallHandle>, ApiError> {
    if let Some(h) = hall
        && state.registry.get_str(h).is_none()
    {
        return Err(ApiError::UnknownHall(h.to_owned()));
    }
    Ok(state
        .registry
        .all()
        .into_iter()
        .filter(|h| who.may_see(h.spec.id.as_str()) && hall.is_none_or(|x| x == h.spec.id.as_str()))
        .collect())
}

/// The hall an alert id belongs to: ids begin with `{hall}-`; the longest
/// matching hall id wins, so `jl` and `jl-center` can both exist.
fn hall_of<'a>(alert: &str, halls: &'a [HallHandle]) -> Option<&'a HallHandle> {
    crate::domain::hall_of_alert(alert, halls, |h| h.spec.id.as_str())
}

/// Active alerts of the halls, most urgent first, then those resolved
/// today, newest first: what a snapshot too large to hold them all keeps.
async fn collect(halls: &[HallHandle]) -> Vec<AlertView> {
    let mut all = Vec::new();
    for h in halls {
        all.extend(h.alerts().await);
    }
    all.sort_by(|a, b| {
        let resolved = |x: &AlertView| x.state == AlertState::Resolved;
        resolved(a).cmp(&resolved(b)).then_with(|| {
            if resolved(a) {
                b.updated_at.cmp(&a.updated_at)
            } else {
                b.severity
                    .cmp(&a.severity)
                    .then(a.opened_at.cmp(&b.opened_at))
            }
        })
    });
    all
}

/// A supervisors' console: the alerts of the halls in its scope, and the
/// supervisor's actions on them.
struct Console {
    state: web::Data<AppState>,
    who: Principal,
    halls: Vec<HallHandle>,
}

impl Channel for Console {
    type Item = HallFrame<ConsoleMsg>;

    /// Subscribes before it reads the snapshot: an alert message is a whole
    /// alert, so one seen twice does no harm, and none is missed in between.
    async fn subscribe(&mut self) -> Option<Subscription<Self::Item>> {
        let frames = self.state.alerts.subscribe();
        let now = now_ms(&*self.state.clock);
        let tz = self
            .halls
            .first()
            .map_or(chrono_tz::Asia::Shanghai, |h| h.spec.tz);
        let at = tz.from_utc_datetime(&now.naive_utc()).fixed_offset();
        let halls: Vec<ConsoleHall<'_>> = self
            .halls
            .iter()
            .map(|h| ConsoleHall::new(&h.spec.id, &h.spec.name))
            .collect();
        let alerts = collect(&self.halls).await;
        let mut cards = Vec::new();
        for h in &self.halls {
            cards.extend(h.recent_cards().await);
        }
        cards.sort_by_key(|c| std::cmp::Reverse(c.issued_at));
        let snapshot =
            frames::alerts_snapshot(at, &halls, &alerts, &cards, self.state.clock.rate());
        Some((snapshot, frames))
    }

    fn pick(&self, f: &Self::Item) -> Option<ByteString> {
        self.halls
            .iter()
            .any(|h| h.spec.id == f.hall)
            .then(|| f.frame.text(frames::console))
    }

    async fn answer(&mut self, text: &str) -> Option<ByteString> {
        Some(handle_op(&self.who, &self.halls, text).await)
    }

    fn describe(&self) -> String {
        format!("alerts of {} ({} halls)", self.who.name, self.halls.len())
    }
}

/// WebSocket: the supervisors' alert console (电子效能监察)
///
/// Role `supervisor` (or `admin`); the halls of the token's scope, narrowed
/// by `hall=`. Server to client (`AlertsMessage`): first a `snapshot`
/// (`AlertsSnapshotMessage`), then an `alert` (`AlertMessage`) whenever an
/// alert in scope opens or changes, and `ping` every 15 s; a new `snapshot`
/// when the client fell behind. Client to server (`AlertOpRequest`):
/// `{"op": "ack" | "resolve", "alert": "<id>", "note": "…"}`, answered with
/// the updated `alert` or an `error` (`AlertErrorMessage`).
#[utoipa::path(
    get,
    path = "/ws/alerts",
    tag = "websocket",
    operation_id = "alertsChannel",
    params(ScopeQuery),
    security(("bearerAuth" = []), ("queryToken" = []), ("cookieAuth" = [])),
    responses(
        (status = 400,
            description = "`hall` is given twice, or the request is not a valid WebSocket \
                handshake (a plain GET without the upgrade headers).",
            body = ErrorBody,
            example = json!({"error": "bad_request", "message": "the query string cannot be read: duplicate field `hall`"})),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "`hall` names no hall served here.", body = ErrorBody,
            example = json!({"error": "unknown_hall", "message": "hall \"nope\" is not served here"})),
    )
)]
pub(super) async fn alerts_ws(
    req: HttpRequest,
    body: web::Payload,
    query: web::Query<ScopeQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, actix_web::Error> {
    let who = auth::require(&req, auth::ALERTS, query.hall.as_deref()).await?;
    super::ws::handshake(&req)?;
    let halls = halls_in_scope(&state, &who, query.hall.as_deref())?;
    let metrics = state.metrics.clone();
    open(
        &req,
        body,
        &metrics,
        "alerts",
        Console { state, who, halls },
    )
    .await
}

/// A console's `{"op":"ack"|"resolve","alert":…,"note":…}`, answered with
/// the updated alert or an error message.
async fn handle_op(who: &Principal, halls: &[HallHandle], text: &str) -> ByteString {
    let Ok(v) = serde_json::from_str::<Value>(text) else {
        return frames::alert_error(
            &Value::Null,
            ConsoleError::BadJson,
            crate::domain::Reason::BadJson.message(),
        );
    };
    let alert = v.get("alert").cloned().unwrap_or(Value::Null);
    let op = match v.get("op").and_then(Value::as_str) {
        Some("ack") => AlertOp::Ack,
        Some("resolve") => AlertOp::Resolve,
        _ => return frames::alert_error(&alert, ConsoleError::UnknownOp, "不支持的操作"),
    };
    let Some(id) = alert.as_str() else {
        return frames::alert_error(&alert, ConsoleError::BadRequest, "缺少告警编号");
    };
    let note = v.get("note").and_then(Value::as_str).map(str::to_owned);
    if note.as_ref().is_some_and(|n| n.chars().count() > MAX_NOTE) {
        return frames::alert_error(&alert, ConsoleError::BadRequest, "备注不能超过 500 字");
    }
    let refused = |r: AlertRefusal| frames::alert_error(&alert, r.into(), r.message());
    let Some(hall) = hall_of(id, halls) else {
        return refused(AlertRefusal::UnknownAlert);
    };
    match hall
        .alert_action(id.to_owned(), op, who.name.clone(), note)
        .await
    {
        Some(Ok(view)) => frames::alert(&view),
        Some(Err(r)) => refused(r),
        None => frames::alert_error(
            &alert,
            ConsoleError::Unavailable,
            "服务正在重启，请稍后再试",
        ),
    }
}

/// The query of `GET /api/alerts`. Read as text and checked by the handler,
/// after the token, so that a bad value is named.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ListQuery {
    /// Only this hall's alerts; it must be in the token's scope (403
    /// otherwise).
    #[param(value_type = Option<HallId>)]
    hall: Option<String>,
    /// Only alerts of this rule (another value is 400).
    #[param(value_type = Option<Rule>)]
    rule: Option<String>,
    /// Only alerts of this severity (another value is 400).
    #[param(value_type = Option<Severity>)]
    severity: Option<String>,
    /// Only alerts in this state now (another value is 400).
    #[param(value_type = Option<AlertState>)]
    state: Option<String>,
    /// Only alerts opened on this local day, `YYYY-MM-DD`, in the time zone
    /// of the (first) hall in scope.
    #[param(value_type = Option<String>, format = Date)]
    date: Option<String>,
    /// At most this many alerts: a whole number; values outside 1–5000 are
    /// clamped into it, anything else is 400.
    #[param(value_type = Option<i64>, default = json!(500))]
    limit: Option<String>,
}

/// A filter that must be one of `T`'s values, as its JSON spells them.
fn one_of<T: serde::de::DeserializeOwned>(
    name: &str,
    value: Option<&str>,
) -> Result<Option<String>, ApiError> {
    let Some(v) = value else { return Ok(None) };
    serde_json::from_value::<T>(Value::String(v.to_owned()))
        .map(|_| Some(v.to_owned()))
        .map_err(|_| {
            ApiError::BadRequest(format!(
                "{name}: {:?} is not one of the values GET /api/openapi.json lists",
                v.chars().take(100).collect::<String>()
            ))
        })
}

/// `limit`: a whole number, clamped into 1..=5000; 500 when absent.
fn parse_limit(limit: Option<&str>) -> Result<i64, ApiError> {
    match limit.map(str::trim) {
        None | Some("") => Ok(500),
        Some(l) => l.parse::<i64>().map(|n| n.clamp(1, 5000)).map_err(|_| {
            ApiError::BadRequest(format!("limit: {l:?} is not a whole number (1 to 5000)"))
        }),
    }
}

/// Alert history
///
/// Stored alerts of the halls in the token's scope, each as its last `alert`
/// message, newest opened first. Role `supervisor` (or `admin`): alerts carry
/// citizens' comments and follow-up notes.
#[utoipa::path(
    get,
    path = "/api/alerts",
    tag = "alerts",
    operation_id = "listAlerts",
    params(ListQuery),
    security(("bearerAuth" = []), ("cookieAuth" = [])),
    responses(
        (status = 200, description = "The alerts, newest opened first.", body = Vec<AlertMessage>),
        (status = 400,
            description = "`date` is not `YYYY-MM-DD`, `limit` is not a whole number, `rule`, \
                `severity` or `state` is not one of its values, or a parameter is given twice; \
                the message names it.",
            body = ErrorBody,
            examples(
                ("bad_request" = (value = json!({"error": "bad_request", "message": "date \"22-11-2026\" is not YYYY-MM-DD"}))),
                ("bad_limit" = (value = json!({"error": "bad_request", "message": "limit: \"x\" is not a whole number (1 to 5000)"}))),
            )),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "`hall` names no hall served here.", body = ErrorBody,
            example = json!({"error": "unknown_hall", "message": "hall \"nope\" is not served here"})),
        (status = 503, response = Unavailable),
    )
)]
pub(super) async fn list(
    req: HttpRequest,
    q: web::Query<ListQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, actix_web::Error> {
    // Supervisors only: alerts carry citizens' comments and follow-up notes.
    let who = auth::require(&req, auth::ALERTS, q.hall.as_deref()).await?;
    let halls = halls_in_scope(&state, &who, q.hall.as_deref())?;
    let limit = parse_limit(q.limit.as_deref())?;
    let (from, to) = match &q.date {
        None => (None, None),
        Some(d) => {
            let date = NaiveDate::parse_from_str(d, "%Y-%m-%d")
                .map_err(|_| ApiError::BadRequest(format!("date {d:?} is not YYYY-MM-DD")))?;
            let tz = halls
                .first()
                .map_or(chrono_tz::Asia::Shanghai, |h| h.spec.tz);
            let start = |d: NaiveDate| {
                tz.from_local_datetime(&d.and_time(chrono::NaiveTime::MIN))
                    .earliest()
                    .map(|t| t.with_timezone(&chrono::Utc))
            };
            (start(date), date.succ_opt().and_then(start))
        }
    };
    let filter = AlertFilter {
        halls: Some(halls.iter().map(|h| h.spec.id.to_string()).collect()),
        rule: one_of::<Rule>("rule", q.rule.as_deref())?,
        severity: one_of::<Severity>("severity", q.severity.as_deref())?,
        state: one_of::<AlertState>("state", q.state.as_deref())?,
        from,
        to,
    };
    let rows = state
        .store
        .alerts(&filter, limit)
        .await
        .map_err(|e| ApiError::Store(e.to_string()))?;
    Ok(HttpResponse::Ok().json(rows))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct DeliveriesQuery {
    /// Only this hall; it must be in the token's scope (403 otherwise).
    #[param(value_type = Option<HallId>)]
    hall: Option<String>,
    /// Notifications made in the last this many days: a whole number from
    /// 1 to 31 (default 2); anything else is 400.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 31, default = json!(2))]
    days: Option<String>,
}

/// Notification deliveries
///
/// How each notification of the alerts and cards of the halls in scope
/// stands on its channel (DingTalk, WeCom, webhook, SMS): `queued`,
/// `retrying` with its last error and next attempt, `sent`, `failed`,
/// `merged` into a digest, or `withdrawn` because the alert was
/// acknowledged or resolved first. The console shows them beside each
/// alert; `/ws/alerts` sends each change as a `delivery` message. Role
/// `supervisor` (or `admin`).
#[utoipa::path(
    get,
    path = "/api/deliveries",
    tag = "alerts",
    operation_id = "listDeliveries",
    params(DeliveriesQuery),
    security(("bearerAuth" = []), ("cookieAuth" = [])),
    responses(
        (status = 200, description = "The deliveries, oldest made first.", body = Vec<crate::store::Delivery>),
        (status = 400, description = "`days` is not a whole number from 1 to 31.", body = ErrorBody,
            example = json!({"error": "bad_request", "message": "days: \"x\" is not a whole number (1 to 31)"})),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "`hall` names no hall served here.", body = ErrorBody,
            example = json!({"error": "unknown_hall", "message": "hall \"nope\" is not served here"})),
        (status = 503, response = Unavailable),
    )
)]
pub(super) async fn deliveries(
    req: HttpRequest,
    q: web::Query<DeliveriesQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, actix_web::Error> {
    let who = auth::require(&req, auth::ALERTS, q.hall.as_deref()).await?;
    let halls = halls_in_scope(&state, &who, q.hall.as_deref())?;
    let days = match q.days.as_deref().map(str::trim) {
        None | Some("") => 2,
        Some(d) => d
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=31).contains(n))
            .ok_or_else(|| {
                ApiError::BadRequest(format!("days: {d:?} is not a whole number (1 to 31)"))
            })?,
    };
    let since = state.clock.now() - chrono::Duration::days(days);
    let mut out = Vec::new();
    for h in &halls {
        out.extend(
            state
                .store
                .deliveries(h.spec.id.as_str(), since)
                .await
                .map_err(|e| ApiError::Store(e.to_string()))?,
        );
    }
    Ok(HttpResponse::Ok().json(out))
}

/// The optional body of an alert action. Other fields are ignored.
#[derive(Debug, Deserialize, Default, ToSchema)]
pub struct NoteRequest {
    /// A note on the action (回访 or 整改 for a bad review), at most 500
    /// characters after trimming; blank is no note.
    note: Option<String>,
}

/// Acknowledge or resolve an alert
///
/// `POST /api/alerts/{id}/ack` acknowledges an open alert; `POST
/// /api/alerts/{id}/resolve` resolves an open or acknowledged one (a resolved
/// alert is not reopened while its condition lasts, unless it grows worse).
/// Role `supervisor` (or `admin`), within the hall scope. The change reaches
/// every supervisors' console and dashboard as an `alert` message. The token
/// is checked first: without a valid one the answer is 401 (403 for the
/// wrong role or hall) whatever the `op` or body, so a client without a
/// valid token learns nothing about what else is wrong with its request;
/// only a body over 16 KiB is refused (413) before it.
#[utoipa::path(
    post,
    path = "/api/alerts/{id}/{op}",
    tag = "alerts",
    operation_id = "actOnAlert",
    params(
        ("id" = String, Path,
            description = "The alert's id (`{hall}-{YYYYMMDD}-{HHMMSS}-{rule}-{subject}`); its \
                hall is the longest hall id it begins with followed by `-`.",
            example = json!("jl-center-20261122-093000-wait_timeout-sSB")),
        ("op" = AlertOp, Path, description = "`ack` or `resolve`."),
    ),
    request_body(
        content = Option<NoteRequest>,
        description = "Optional. An empty (or all-whitespace) body is no note; any other body \
            must be this JSON object. The `Content-Type` is not checked. At most 16 KiB.",
        example = json!({"note": "已回访，群众表示理解"}),
    ),
    security(("bearerAuth" = []), ("cookieAuth" = [])),
    responses(
        (status = 200, description = "The updated alert.", body = AlertView),
        (status = 400,
            description = "`op` is neither `ack` nor `resolve`, or the body is not \
                `{\"note\": \"…\"}`.",
            body = ErrorBody,
            example = json!({"error": "bad_request", "message": "\"close\" is not ack or resolve"})),
        (status = 401, response = Unauthorized),
        (status = 403,
            description = "Not a supervisor or admin, or the alert's hall is outside the token's \
                scope (`forbidden`); or a browser request from a page that is not the server's \
                own (`origin_refused`).",
            body = ErrorBody,
            examples(
                ("forbidden" = (value = json!({"error": "forbidden", "message": "无权访问该大厅"}))),
                ("origin_refused" = (value = json!(ErrorBody::new(AuthError::OriginRefused.code(), AuthError::OriginRefused.to_string())))),
            )),
        (status = 404,
            description = "No such alert (also when the id names no hall served here).",
            body = ErrorBody,
            example = json!(refusal_body(AlertRefusal::UnknownAlert))),
        (status = 409,
            description = "The alert is already resolved, or (for `ack`) already acknowledged.",
            body = ErrorBody,
            examples(
                ("already_resolved" = (value = json!(refusal_body(AlertRefusal::AlreadyResolved)))),
                ("already_acknowledged" = (value = json!(refusal_body(AlertRefusal::AlreadyAcknowledged)))),
            )),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = super::openapi::NotJson),
        (status = 422,
            description = "Resolving a `bad_rating` alert needs a note (回访 or 整改), or the note \
                is over 500 characters.",
            body = ErrorBody,
            examples(
                ("note_required" = (value = json!(refusal_body(AlertRefusal::NoteRequired)))),
                ("note_too_long" = (value = json!(refusal_body(AlertRefusal::NoteTooLong)))),
            )),
        (status = 503, description = "The hall is restarting; try again.", body = ErrorBody,
            example = json!({"error": "unavailable", "message": "the hall is restarting; try again"})),
    )
)]
pub(super) async fn act_route(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, actix_web::Error> {
    let (id, op) = path.into_inner();
    let halls = state.registry.all();
    let hall = hall_of(&id, &halls).cloned();
    let who = auth::require(
        &req,
        auth::ALERTS,
        hall.as_ref().map(|h| h.spec.id.as_str()),
    )
    .await?;
    let op = match op.as_str() {
        "ack" => AlertOp::Ack,
        "resolve" => AlertOp::Resolve,
        _ => return Err(ApiError::BadRequest(format!("{op:?} is not ack or resolve")).into()),
    };
    // No body is no note; a body that is not the expected JSON is an error,
    // never a silently dropped note.
    let note = if body.iter().all(u8::is_ascii_whitespace) {
        NoteRequest::default()
    } else {
        super::require_json(&req)?;
        serde_json::from_slice::<NoteRequest>(&body).map_err(|e| {
            ApiError::BadRequest(format!("the body must be {{\"note\": \"...\"}}: {e}"))
        })?
    };
    let Some(hall) = hall else {
        return Ok(refused(AlertRefusal::UnknownAlert));
    };
    match hall.alert_action(id, op, who.name, note.note).await {
        Some(Ok(view)) => Ok(HttpResponse::Ok().json(view)),
        Some(Err(r)) => Ok(refused(r)),
        None => Err(ApiError::Unavailable.into()),
    }
}

/// The answer's body when an action is refused.
fn refusal_body(r: AlertRefusal) -> ErrorBody {
    ErrorBody::new(r.code(), r.message())
}

fn refused(r: AlertRefusal) -> HttpResponse {
    let body = refusal_body(r);
    match r {
        AlertRefusal::UnknownAlert => HttpResponse::NotFound().json(body),
        AlertRefusal::NoteRequired | AlertRefusal::NoteTooLong => {
            HttpResponse::UnprocessableEntity().json(body)
        }
        AlertRefusal::AlreadyResolved | AlertRefusal::AlreadyAcknowledged => {
            HttpResponse::Conflict().json(body)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::TimeZone;

    use crate::config::Settings;
    use crate::engine::Registry;

    /// 09:00 Beijing time on Monday 2026-11-23.
    fn t0() -> chrono::DateTime<chrono::Utc> {
        chrono::Utc.with_ymd_and_hms(2026, 11, 23, 1, 0, 0).unwrap()
    }

    #[tokio::test]
    async fn alert_ids_name_their_hall_by_the_longest_prefix() {
        let text = crate::EXAMPLE_CONFIG.replace("\"jl-town\"", "\"jl\"");
        let settings = Settings::parse(&text).unwrap();
        let registry = Registry::default();
        let (journal, _w) = crate::engine::Journal::detached();
        for spec in &settings.halls {
            let hall = crate::domain::Hall::new(spec.clone(), t0());
            let ctx = Arc::new(crate::engine::EngineContext {
                journal: journal.clone(),
                publisher: None,
                encode_reply: |_| String::new(),
                page_base: String::new(),
                pages: Default::default(),
                clock: Arc::new(crate::clock::ManualClock::new(t0())),
                metrics: Default::default(),
                alerts: tokio::sync::broadcast::channel(1).0,
                summaries: tokio::sync::broadcast::channel(1).0,
                notify: Default::default(),
                checkpoint_every: None,
            });
            registry.insert(crate::engine::spawn_hall(hall, Vec::new(), ctx).0);
        }
        let halls = registry.all();
        let of = |id: &str| super::hall_of(id, &halls).map(|h| h.spec.id.to_string());
        assert_eq!(
            of("jl-center-20261122-093000-wait_timeout-sSB").as_deref(),
            Some("jl-center")
        );
        assert_eq!(
            of("jl-20261122-093000-bad_rating-G001").as_deref(),
            Some("jl")
        );
        assert_eq!(of("nope-1"), None);
    }
}
