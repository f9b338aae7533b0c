//! Supervisors (电子效能监察): the `/ws/alerts` channel and the REST API over
//! alerts. Both check the token before anything else: 401 without a valid
//! one, 403 outside its role or hall scope, before any WebSocket upgrade.

use std::time::Instant;

use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::{Message, Session};
use bytestring::ByteString;
use chrono::{NaiveDate, TimeZone};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;
use tracing::{debug, info};

use super::auth::{self, Principal};
use super::ws::{PING_EVERY, accept, close, close_reason, keep_alive, send};
use super::{ApiError, AppState};
use crate::clock::now_ms;
use crate::domain::{AlertOp, AlertRefusal, AlertView};
use crate::engine::HallHandle;
use crate::store::AlertFilter;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/ws/alerts", web::get().to(alerts_ws))
        .route("/api/alerts", web::get().to(list))
        .route("/api/alerts/{id}/{op}", web::post().to(act_route));
}

#[derive(Debug, Deserialize)]
struct ScopeQuery {
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
    halls
        .iter()
        .filter(|h| {
            alert
                .strip_prefix(h.spec.id.as_str())
                .is_some_and(|rest| rest.starts_with('-'))
        })
        .max_by_key(|h| h.spec.id.as_str().len())
}

/// Active alerts of the halls and those resolved today: most urgent first.
async fn collect(halls: &[HallHandle]) -> Vec<AlertView> {
    let mut all = Vec::new();
    for h in halls {
        all.extend(h.alerts().await);
    }
    all.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(a.opened_at.cmp(&b.opened_at))
    });
    all
}

async fn snapshot(state: &AppState, halls: &[HallHandle]) -> ByteString {
    let now = now_ms(&*state.clock);
    let tz = halls
        .first()
        .map_or(chrono_tz::Asia::Shanghai, |h| h.spec.tz);
    let body = json!({
        "type": "snapshot",
        "at": tz.from_utc_datetime(&now.naive_utc()).fixed_offset(),
        "clock_rate": state.clock.rate(),
        "halls": halls.iter().map(|h| json!({"id": h.spec.id, "name": h.spec.name})).collect::<Vec<_>>(),
        "alerts": collect(halls).await,
    });
    ByteString::from(body.to_string())
}

async fn alerts_ws(
    req: HttpRequest,
    body: web::Payload,
    query: web::Query<ScopeQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, actix_web::Error> {
    let who = auth::require(&req, auth::ALERTS, query.hall.as_deref())?;
    let halls = halls_in_scope(&state, &who, query.hall.as_deref())?;
    // Subscribe before the snapshot: an alert message is a whole alert, so
    // one seen twice does no harm, and none is missed in between.
    let frames = state.alerts.subscribe();
    let first = snapshot(&state, &halls).await;
    let (response, session, stream) = accept(&req, body)?;
    let state = state.into_inner();
    actix_web::rt::spawn(async move {
        let _counted = state.metrics.ws_client("alerts");
        info!(who = %who.name, halls = halls.len(), "Supervisor console connected.");
        serve(&state, who, halls, first, frames, session, stream).await;
    });
    Ok(response)
}

async fn serve(
    state: &AppState,
    who: Principal,
    halls: Vec<HallHandle>,
    first: ByteString,
    mut frames: tokio::sync::broadcast::Receiver<crate::engine::HallFrame>,
    mut session: Session,
    mut stream: actix_ws::MessageStream,
) {
    if !send(&mut session, first).await {
        return;
    }
    let in_scope = |hall: &str| halls.iter().any(|h| h.spec.id.as_str() == hall);
    let mut ping = tokio::time::interval(PING_EVERY);
    let mut last_seen = Instant::now();
    let mut reason = None;
    loop {
        tokio::select! {
            f = frames.recv() => match f {
                Ok(f) if in_scope(f.hall.as_str()) => if !send(&mut session, f.frame).await { break },
                Ok(_) => {}
                Err(RecvError::Lagged(missed)) => {
                    info!(missed, "Supervisor console fell behind; sending a fresh snapshot.");
                    if !send(&mut session, snapshot(state, &halls).await).await { break }
                }
                Err(RecvError::Closed) => break,
            },
            msg = stream.recv() => match msg {
                Some(Ok(Message::Text(text))) => {
                    last_seen = Instant::now();
                    let answer = handle_op(&who, &halls, &text).await;
                    if !send(&mut session, answer).await { break }
                }
                Some(Ok(Message::Ping(bytes))) => {
                    last_seen = Instant::now();
                    if session.pong(&bytes).await.is_err() { break }
                }
                Some(Ok(Message::Close(_))) | None => break,
                Some(Err(e)) => {
                    reason = Some(close_reason(&e));
                    break;
                }
                Some(Ok(_)) => last_seen = Instant::now(),
            },
            _ = ping.tick() => if !keep_alive(&mut session, last_seen).await { break },
        }
    }
    close(session, reason).await;
    debug!(who = %who.name, "Supervisor console disconnected.");
}

/// A console's `{"op":"ack"|"resolve","alert":…,"note":…}`, answered with
/// the updated alert or an error message.
async fn handle_op(who: &Principal, halls: &[HallHandle], text: &str) -> ByteString {
    let error = |alert: &Value, code: &str, message: &str| {
        ByteString::from(
            json!({"type": "error", "alert": alert, "error": code, "message": message}).to_string(),
        )
    };
    let Ok(v) = serde_json::from_str::<Value>(text) else {
        return error(&Value::Null, "bad_json", "消息不是有效的 JSON 对象");
    };
    let alert = v.get("alert").cloned().unwrap_or(Value::Null);
    let op = match v.get("op").and_then(Value::as_str) {
        Some("ack") => AlertOp::Ack,
        Some("resolve") => AlertOp::Resolve,
        _ => return error(&alert, "unknown_op", "不支持的操作"),
    };
    let Some(id) = alert.as_str() else {
        return error(&alert, "bad_request", "缺少告警编号");
    };
    let note = v.get("note").and_then(Value::as_str).map(str::to_owned);
    if note.as_ref().is_some_and(|n| n.chars().count() > 500) {
        return error(&alert, "bad_request", "备注不能超过 500 字");
    }
    let Some(hall) = hall_of(id, halls) else {
        return error(
            &alert,
            AlertRefusal::UnknownAlert.code(),
            AlertRefusal::UnknownAlert.message(),
        );
    };
    match hall
        .alert_action(id.to_owned(), op, who.name.clone(), note)
        .await
    {
        Some(Ok(view)) => ByteString::from(crate::engine::frame("alert", &view).to_string()),
        Some(Err(r)) => error(&alert, r.code(), r.message()),
        None => error(&alert, "unavailable", "服务正在重启，请稍后再试"),
    }
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    hall: Option<String>,
    rule: Option<String>,
    severity: Option<String>,
    state: Option<String>,
    /// `YYYY-MM-DD`, in the hall's time zone.
    date: Option<String>,
    /// Read by the handler, after the token, so a bad one is named.
    limit: Option<String>,
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

/// `GET /api/alerts`: alert history with filters, newest first.
async fn list(
    req: HttpRequest,
    q: web::Query<ListQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, actix_web::Error> {
    // Supervisors only: alerts carry citizens' comments and follow-up notes.
    let who = auth::require(&req, auth::ALERTS, q.hall.as_deref())?;
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
        rule: q.rule.clone(),
        severity: q.severity.clone(),
        state: q.state.clone(),
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

#[derive(Debug, Deserialize, Default)]
struct NoteBody {
    note: Option<String>,
}

/// `POST /api/alerts/{id}/ack` and `/resolve`, with an optional `{"note": …}`.
/// The token is checked first: a client without a valid one learns nothing
/// about what else is wrong with its request.
async fn act_route(
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
    )?;
    let op = match op.as_str() {
        "ack" => AlertOp::Ack,
        "resolve" => AlertOp::Resolve,
        _ => return Err(ApiError::BadRequest(format!("{op:?} is not ack or resolve")).into()),
    };
    // No body is no note; a body that is not the expected JSON is an error,
    // never a silently dropped note.
    let note = if body.iter().all(u8::is_ascii_whitespace) {
        NoteBody::default()
    } else {
        serde_json::from_slice::<NoteBody>(&body).map_err(|e| {
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

fn refused(r: AlertRefusal) -> HttpResponse {
    let body = json!({"error": r.code(), "message": r.message()});
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

    use crate::config::Settings;
    use crate::engine::Registry;

    #[tokio::test]
    async fn alert_ids_name_their_hall_by_the_longest_prefix() {
        let text = crate::EXAMPLE_CONFIG.replace("\"jl-town\"", "\"jl\"");
        let settings = Settings::parse(&text).unwrap();
        let registry = Registry::default();
        let (writer, _w) = crate::store::test_writer();
        for spec in &settings.halls {
            let hall = crate::domain::Hall::new(spec.clone(), chrono::Utc::now());
            let ctx = Arc::new(crate::engine::EngineContext {
                prefix: "hallwatch".into(),
                writer: writer.clone(),
                mqtt: None,
                clock: Arc::new(crate::clock::SystemClock),
                metrics: Default::default(),
                alerts: tokio::sync::broadcast::channel(1).0,
                summaries: tokio::sync::broadcast::channel(1).0,
            });
            registry.insert(crate::engine::spawn_hall(hall, Vec::new(), ctx).0);
        }
        let halls = registry.all();
        let of = |id: &str| super::hall_of(id, &halls).map(|h| h.spec.id.to_string());
        assert_eq!(
            of("jl-center-20261122-093000-wait_timeout-B023").as_deref(),
            Some("jl-center")
        );
        assert_eq!(
            of("jl-20261122-093000-bad_rating-G001").as_deref(),
            Some("jl")
        );
        assert_eq!(of("nope-1"), None);
    }
}
