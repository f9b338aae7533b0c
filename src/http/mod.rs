//! HTTP and WebSockets: the REST API, the display channel and the embedded
//! screens. Handlers translate; the halls decide.

mod alerts;
mod appointments;
mod appraisal;
pub mod auth;
mod cases;
pub mod client;
pub mod codes;
pub mod conn;
mod console_fan_in;
mod dashboard;
mod display;
mod forward;
mod frames;
mod framing;
mod guard;
pub mod limit;
mod openapi;
pub mod origin;
mod pages;
pub mod phone;
mod stats;
mod ws;

pub use forward::forward;
pub use framing::framing;
pub use guard::api_guard;
pub use openapi::openapi_json;

use std::borrow::Cow;
use std::sync::Arc;

use actix_web::http::{StatusCode, header};
use actix_web::middleware::DefaultHeaders;
use actix_web::{HttpResponse, ResponseError, web};
use serde::Serialize;
use utoipa::ToSchema;

use self::frames::SnapshotResponse;
use crate::clock::Clock;
use crate::domain::HallInfo;
use crate::engine::{AlertFrames, Registry, SummaryFrames};
use crate::health::Health;
use crate::metrics::Metrics;

/// What handlers share.
#[derive(Clone)]
pub struct AppState {
    /// Alerts of every hall, for the supervisors' consoles.
    pub alerts: AlertFrames,
    /// Summaries of every hall, for region screens.
    pub summaries: SummaryFrames,
    /// For alert history.
    pub store: crate::store::Store,
    pub registry: Registry,
    pub health: Arc<Health>,
    pub metrics: Arc<Metrics>,
    pub clock: Arc<dyn Clock>,
    /// Configured tokens, the wrong-token limiter and the request budgets.
    pub auth: Arc<auth::Auth>,
    /// A ticket's phone page says to come back at most this many ahead
    /// (`[phone] near_ahead`).
    pub near_ahead: usize,
    /// With `[cluster]`: which instance runs each hall, to forward the
    /// requests of halls another instance runs.
    pub directory: Option<Arc<crate::cluster::Directory>>,
    /// Every hall's last summary, for the region roll-up.
    pub board: Arc<crate::board::Board>,
    /// Every configured hall, whichever instance runs it, for `/api/halls`.
    pub configured: Arc<Vec<HallInfo>>,
}

impl AppState {
    /// The hall `id` names, or the API's 404 for it.
    pub fn hall(&self, id: &str) -> Result<crate::engine::HallHandle, ApiError> {
        self.registry
            .get_str(id)
            .ok_or_else(|| ApiError::UnknownHall(id.to_owned()))
    }
}

/// An error an API client can act on.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("hall {0:?} is not served here")]
    UnknownHall(String),
    #[error("the hall is restarting; try again")]
    Unavailable,
    #[error("{0}")]
    BadRequest(String),
    /// The store failed; the error is logged, never answered.
    #[error("the store cannot answer; try again")]
    Store(String),
    /// An `/api/*` path no route serves.
    #[error("no API at {0}: GET /api/openapi.json lists them")]
    NotFound(String),
    /// An API path served with other methods (`allow`, as in `Allow`).
    #[error("{method} is not served on {path}; use {allow}")]
    MethodNotAllowed {
        method: String,
        path: String,
        allow: String,
    },
    /// A body over [`MAX_BODY`].
    #[error("the request body is over the {} KiB limit", MAX_BODY / 1024)]
    PayloadTooLarge,
    /// A body not sent whole within `[server] body_timeout_s` (its seconds).
    #[error("the request body was not sent within {0} s")]
    RequestTimeout(u64),
    /// A body that is not declared `application/json`.
    #[error("the body must be JSON, sent with Content-Type: application/json")]
    NotJson,
    /// Over the client's request budget ([`limit`]).
    #[error("请求过于频繁，请 {retry_after_s} 秒后再试")]
    RateLimited { retry_after_s: u64 },
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::UnknownHall(_) | ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Unavailable | ApiError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::NotJson => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Store(e) = self {
            tracing::error!(error = %e, "The store cannot answer a request.");
        }
        let mut res = HttpResponse::build(self.status_code());
        match self {
            ApiError::MethodNotAllowed { allow, .. } => {
                res.insert_header((header::ALLOW, allow.as_str()));
            }
            ApiError::RateLimited { retry_after_s } => {
                res.insert_header((header::RETRY_AFTER, retry_after_s.to_string()))
                    .insert_header((header::CACHE_CONTROL, "no-store"));
            }
            _ => {}
        }
        res.json(ErrorBody::new(self.code(), self.to_string()))
    }
}

impl ApiError {
    /// The `error` code of its answer.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::UnknownHall(_) => "unknown_hall",
            ApiError::Unavailable | ApiError::Store(_) => "unavailable",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed { .. } => "method_not_allowed",
            ApiError::PayloadTooLarge => "payload_too_large",
            ApiError::NotJson => "unsupported_media_type",
            ApiError::RequestTimeout(_) => "request_timeout",
            ApiError::RateLimited { .. } => "rate_limited",
        }
    }
}

/// An error an API client can act on, as every `/api/…` path answers it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    /// A machine-readable code. `bad_request`: a parameter or body the server
    /// cannot use (the message names it); `unknown_hall`: no such hall here;
    /// `unavailable`: the hall is restarting or the store cannot answer;
    /// `unauthorized`: no valid token; `token_in_url`: a token in a REST
    /// request's URL, refused (send it as `Authorization: Bearer`);
    /// `forbidden`: the token's role or hall scope does not allow this;
    /// `bad_token`: the login's token matches nothing; `rate_limited`: too
    /// many wrong tokens, or too many requests, from this client;
    /// `not_found`: no such `/api/…` path; `method_not_allowed`: the path is
    /// served with other methods (see `Allow`); `payload_too_large`: a body
    /// over the limit; `request_timeout`: a body not sent whole in time;
    /// `unsupported_media_type`: a body not declared
    /// `application/json`; `origin_refused`: a browser request from a page
    /// that is not one of the server's own; `internal_error`: a fault of
    /// the server;
    /// `unknown_alert`, `already_resolved`, `already_acknowledged`,
    /// `note_required`, `note_too_long`: an alert action refused. Any other
    /// status the server answers by itself has its reason phrase in snake
    /// case as its code.
    #[schema(examples("bad_request", "unauthorized", "rate_limited"))]
    pub error: Cow<'static, str>,
    /// A human-readable explanation: Chinese for the login, token,
    /// rate-limit and alert errors (a screen can show it as it is), English
    /// for parameter, path and size errors.
    pub message: String,
}

impl ErrorBody {
    pub fn new(error: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self {
            error: error.into(),
            message: message.into(),
        }
    }
}

/// The largest request body the API reads: 16 KiB. The largest real one is
/// an alert note of 500 characters (at most 3 KB as escaped JSON).
pub const MAX_BODY: usize = 16 * 1024;

/// Refuses a request body not declared `Content-Type: application/json`:
/// `text/plain` is what another site's page may send without asking, so
/// taking it would let that page act with a browser's login.
pub fn require_json(req: &actix_web::HttpRequest) -> Result<(), ApiError> {
    let json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if json { Ok(()) } else { Err(ApiError::NotJson) }
}

/// What the embedded screens may load: their own scripts, styles and
/// WebSockets (`'self'` covers `ws:`/`wss:` to the same host), the `data:`
/// favicon, and the login form posting to its own origin. No inline code,
/// no plugins, no framing. Speech and the alert chime need no permission.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self'; connect-src 'self'; img-src 'self' data:; object-src 'none'; \
    frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// Powerful features no screen uses, off for the page and anything it embeds.
pub const PERMISSIONS_POLICY: &str = "camera=(), microphone=(), geolocation=(), payment=(), usb=()";

/// Security headers on every answer, pages and API alike, where the handler
/// set none of its own: the page policy above, no MIME sniffing, no
/// referrer (a page URL may carry `?token=` until the page drops it), and
/// no framing for browsers that predate `frame-ancestors`.
pub fn security_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .add((header::REFERRER_POLICY, "no-referrer"))
        .add((header::X_FRAME_OPTIONS, "DENY"))
        .add(("permissions-policy", PERMISSIONS_POLICY))
}

/// Extractor settings: bodies up to [`MAX_BODY`], and query, path and JSON
/// errors answered as [`ApiError`]s that name what could not be read.
fn extractors(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::PayloadConfig::new(MAX_BODY))
        .app_data(
            web::JsonConfig::default()
                .limit(MAX_BODY)
                .error_handler(|e, _| {
                    if e.status_code() == StatusCode::PAYLOAD_TOO_LARGE {
                        ApiError::PayloadTooLarge.into()
                    } else {
                        ApiError::BadRequest(format!("the body is not the expected JSON: {e}"))
                            .into()
                    }
                }),
        )
        .app_data(web::QueryConfig::default().error_handler(|e, _| {
            let e = match e {
                actix_web::error::QueryPayloadError::Deserialize(e) => e.to_string(),
                e => e.to_string(),
            };
            ApiError::BadRequest(format!("the query string cannot be read: {e}")).into()
        }))
        .app_data(web::PathConfig::default().error_handler(|e, req| {
            ApiError::BadRequest(format!("the path {} cannot be read: {e}", req.path())).into()
        }));
}

/// Every route.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.configure(extractors)
        .route("/healthz", web::get().to(healthz))
        .route("/metrics", web::get().to(metrics))
        .route("/api/halls", web::get().to(halls))
        .route("/api/halls/{hall}/snapshot", web::get().to(snapshot))
        .route("/api/openapi.json", web::get().to(openapi::serve))
        .route("/ws/display/{hall}", web::get().to(display::display_ws))
        .configure(dashboard::routes)
        .configure(stats::routes)
        .configure(alerts::routes)
        .configure(cases::routes)
        .configure(appointments::routes)
        .configure(appraisal::routes)
        .configure(auth::routes)
        .configure(phone::routes)
        // After every API route and before the pages' catch-all: JSON 404
        // and 405 for whatever else is asked of /api.
        .service(web::resource("/api/{rest:.*}").to(guard::api_fallback))
        .configure(pages::routes);
}

/// Whether this process can serve: what `/healthz` answers.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Health)]
pub struct HealthReport {
    pub status: Readiness,
    pub mqtt: MqttLink,
    /// `ok`, or `failing: ` and what is wrong in words; an admin's token or
    /// session also gets the store's last error itself.
    #[schema(examples(
        "ok",
        "failing: events cannot be stored; the server log has the details"
    ))]
    pub store: String,
    /// How many halls this process serves.
    pub halls: usize,
    /// Notification channels failing for longer than `[notify]
    /// failing_after_s`: each with the time of its first failed attempt
    /// since it last delivered. They do not make the answer a 503: a
    /// notification outage must not take a serving server out of a load
    /// balancer. Empty when every channel delivers.
    pub notify: Vec<ChannelHealth>,
}

/// A notification channel that fails.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelHealth {
    /// The channel's name in `[[notify.channels]]`.
    pub channel: String,
    pub failing_since: chrono::DateTime<chrono::Utc>,
    /// Its last error, for an admin's token or session only (it may name
    /// addresses inside the network).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `ok`: ready, connected to the broker, and the store answers; `degraded`:
/// ready, but the broker is disconnected or the store is failing;
/// `starting`: the halls are still being rebuilt from the event log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Readiness {
    Ok,
    Degraded,
    Starting,
}

/// Whether the MQTT connection to the broker is up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MqttLink {
    Connected,
    Disconnected,
}

/// What `/healthz` says of a failing store to anyone: the error itself
/// (paths, addresses, database messages) is for the log and for admins.
pub const STORE_FAILING: &str = "failing: events cannot be stored; the server log has the details";

/// Liveness and readiness
///
/// For load balancers and monitoring. No token needed; with an admin's
/// token or session, a failing store's answer carries its last error.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    operation_id = "getHealth",
    responses(
        (status = 200, description = "Ready, connected to the broker, and the store answers.",
            body = HealthReport,
            example = json!({"status": "ok", "mqtt": "connected", "store": "ok", "halls": 2,
                "notify": [{"channel": "duty-dingtalk", "failing_since": "2026-11-23T01:15:00Z"}]})),
        (status = 503, description = "Still starting, or the broker or the store is failing.",
            body = HealthReport,
            example = json!({"status": "degraded", "mqtt": "disconnected", "store": "ok", "halls": 2, "notify": []})),
    )
)]
pub(super) async fn healthz(
    req: actix_web::HttpRequest,
    state: web::Data<AppState>,
) -> HttpResponse {
    let h = &state.health;
    let store_error = h.store_error();
    let failing = h.notify_failing();
    let admin = (store_error.is_some() || !failing.is_empty())
        && auth::require(&req, &[crate::config::Role::Admin], None)
            .await
            .is_ok();
    let ok = h.ready() && h.mqtt_connected() && store_error.is_none();
    let body = HealthReport {
        status: if ok {
            Readiness::Ok
        } else if h.ready() {
            Readiness::Degraded
        } else {
            Readiness::Starting
        },
        mqtt: if h.mqtt_connected() {
            MqttLink::Connected
        } else {
            MqttLink::Disconnected
        },
        store: match store_error {
            None => "ok".to_owned(),
            Some(e) if admin => format!("failing: {e}"),
            Some(_) => STORE_FAILING.to_owned(),
        },
        halls: state.registry.all().len(),
        notify: failing
            .into_iter()
            .map(|f| ChannelHealth {
                channel: f.channel,
                failing_since: f.since,
                error: admin.then_some(f.error),
            })
            .collect(),
    };
    if ok {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// Prometheus metrics
///
/// Counters, gauges and histograms in the Prometheus text exposition format:
/// `hallwatch_messages_received_total`, `hallwatch_events_applied_total{kind}`,
/// `hallwatch_duplicates_total`, `hallwatch_rejections_total{reason}`,
/// `hallwatch_alerts_open{hall,rule,severity}`, `hallwatch_websocket_clients{channel}`
/// (`display`, `dashboard`, `alerts`, `region`), `hallwatch_ingest_to_broadcast_seconds`,
/// `hallwatch_store_commit_seconds`, `hallwatch_store_batch_size`. No token needed.
///
/// It holds no citizen data: its labels are fixed kinds, reason codes and
/// channels, and configured hall ids, rules and severities, never a value a
/// device sent.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    operation_id = "getMetrics",
    responses(
        (status = 200, description = "The metrics.", body = String,
            content_type = "text/plain; version=0.0.4; charset=utf-8"),
    )
)]
// Open like /healthz, so Prometheus scrapes it without a token;
// tests/http_hardening.rs checks that no label carries a device's value.
pub(super) async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render())
}

/// A hall in a request's path, as the document describes it. The handlers
/// read it as text and look it up, so that an id no hall has is 404
/// whatever its shape.
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct HallPath {
    /// A hall id, as `GET /api/halls` lists them.
    pub hall: crate::domain::HallId,
}

/// The halls served here
///
/// Every hall this process serves, in configuration order. No token needed.
#[utoipa::path(
    get,
    path = "/api/halls",
    tag = "halls",
    operation_id = "listHalls",
    responses(
        (status = 200, description = "The halls.", body = Vec<HallInfo>,
            example = json!([{"id": "jl-center", "name": "吉林市政务服务中心", "level": "city"}])),
    )
)]
pub(super) async fn halls(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(&*state.configured)
}

/// What a hall's screens show now
///
/// The public display snapshot of a hall, as the first message of
/// `/ws/display/{hall}` carries it (without `clock_rate`). No token needed;
/// no citizen data.
#[utoipa::path(
    get,
    path = "/api/halls/{hall}/snapshot",
    tag = "halls",
    operation_id = "getHallSnapshot",
    params(HallPath),
    responses(
        (status = 200, description = "The snapshot.", body = SnapshotResponse),
        (status = 404, response = openapi::UnknownHall),
        (status = 503, response = openapi::Unavailable),
    )
)]
pub(super) async fn snapshot(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let hall = state.hall(&path)?;
    let snap = hall.snapshot().await.ok_or(ApiError::Unavailable)?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(frames::encode(&SnapshotResponse::new(&snap))))
}
