//! HTTP and WebSockets: the REST API, the display channel and the embedded
//! screens. Handlers translate; the halls decide.

mod alerts;
pub mod auth;
pub mod codes;
mod dashboard;
mod display;
mod frames;
mod guard;
pub mod limit;
mod pages;
mod stats;
mod ws;

pub use guard::api_guard;

use std::sync::Arc;

use actix_web::http::{StatusCode, header};
use actix_web::middleware::DefaultHeaders;
use actix_web::{HttpResponse, ResponseError, web};
use serde_json::json;

use crate::clock::Clock;
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
    #[error("the store cannot answer: {0}")]
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
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let code = match self {
            ApiError::UnknownHall(_) => "unknown_hall",
            ApiError::Unavailable | ApiError::Store(_) => "unavailable",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed { .. } => "method_not_allowed",
            ApiError::PayloadTooLarge => "payload_too_large",
            ApiError::RateLimited { .. } => "rate_limited",
        };
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
        res.json(json!({"error": code, "message": self.to_string()}))
    }
}

/// The largest request body the API reads: 16 KiB. The largest real one is
/// an alert note of 500 characters (at most 3 KB as escaped JSON).
pub const MAX_BODY: usize = 16 * 1024;

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
        .route("/api/openapi.json", web::get().to(openapi))
        .route("/ws/display/{hall}", web::get().to(display::display_ws))
        .configure(dashboard::routes)
        .configure(stats::routes)
        .configure(alerts::routes)
        .configure(auth::routes)
        // After every API route and before the pages' catch-all: JSON 404
        // and 405 for whatever else is asked of /api.
        .service(web::resource("/api/{rest:.*}").to(guard::api_fallback))
        .configure(pages::routes);
}

async fn healthz(state: web::Data<AppState>) -> HttpResponse {
    let h = &state.health;
    let store_error = h.store_error();
    let ok = h.ready() && h.mqtt_connected() && store_error.is_none();
    let body = json!({
        "status": if ok { "ok" } else if h.ready() { "degraded" } else { "starting" },
        "mqtt": if h.mqtt_connected() { "connected" } else { "disconnected" },
        "store": store_error.map_or_else(|| "ok".to_owned(), |e| format!("failing: {e}")),
        "halls": state.registry.all().len(),
    });
    if ok {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// The OpenAPI document of the whole HTTP API.
pub const OPENAPI: &str = include_str!("openapi.json");

async fn openapi() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(OPENAPI)
}

/// Open like `/healthz`, so Prometheus scrapes it without a token. It holds
/// no citizen data: its labels are fixed kinds, reason codes and channels,
/// and configured hall ids, rules and severities, never a value a device
/// sent (`tests/http_hardening.rs` looks for them).
async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render())
}

async fn halls(state: web::Data<AppState>) -> HttpResponse {
    let list: Vec<_> = state
        .registry
        .all()
        .iter()
        .map(|h| json!({"id": h.spec.id, "name": h.spec.name, "level": h.spec.level}))
        .collect();
    HttpResponse::Ok().json(list)
}

async fn snapshot(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let hall = state
        .registry
        .get_str(&path)
        .ok_or_else(|| ApiError::UnknownHall(path.clone()))?;
    let snap = hall.snapshot().await.ok_or(ApiError::Unavailable)?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(frames::frame("snapshot", &snap)))
}
