//! HTTP and WebSockets: the REST API, the display channel and the embedded
//! screens. Handlers translate; the halls decide.

mod alerts;
pub mod auth;
mod dashboard;
mod display;
mod pages;
mod stats;
mod ws;

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError, web};
use serde_json::json;

use crate::clock::Clock;
use crate::engine::{Registry, frame};
use crate::health::Health;
use crate::metrics::Metrics;

/// What handlers share.
#[derive(Clone)]
pub struct AppState {
    /// Alert messages of every hall, for the supervisors' consoles.
    pub alerts: tokio::sync::broadcast::Sender<crate::engine::HallFrame>,
    /// Summary messages of every hall, for region screens.
    pub summaries: tokio::sync::broadcast::Sender<crate::engine::HallFrame>,
    /// For alert history.
    pub store: crate::store::Store,
    pub registry: Registry,
    pub health: Arc<Health>,
    pub metrics: Arc<Metrics>,
    pub clock: Arc<dyn Clock>,
    /// Configured tokens and the wrong-token limiter.
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
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::UnknownHall(_) => StatusCode::NOT_FOUND,
            ApiError::Unavailable | ApiError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let code = match self {
            ApiError::UnknownHall(_) => "unknown_hall",
            ApiError::Unavailable | ApiError::Store(_) => "unavailable",
            ApiError::BadRequest(_) => "bad_request",
        };
        HttpResponse::build(self.status_code())
            .json(json!({"error": code, "message": self.to_string()}))
    }
}

/// Every route.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/metrics", web::get().to(metrics))
        .route("/api/halls", web::get().to(halls))
        .route("/api/halls/{hall}/snapshot", web::get().to(snapshot))
        .route("/api/openapi.json", web::get().to(openapi))
        .route("/ws/display/{hall}", web::get().to(display::display_ws))
        .configure(dashboard::routes)
        .configure(stats::routes)
        .configure(alerts::routes)
        .configure(auth::routes)
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
        .body(frame("snapshot", snap).to_string()))
}
