//! The managers' channels.
//!
//! `GET /ws/dashboard/{hall}` (role manager, hall scope): a snapshot, then
//! `load` (a window tile), `queue`, `staffing`, `kpi`, `alert` and `call`
//! deltas, from the hall task's broadcast of pre-serialised frames.
//!
//! `GET /ws/region` (any role; the halls of the token's scope): a snapshot
//! of every hall's summary, then each hall's `summary` as it changes (at
//! most once a second per hall), for the region page of a manager whose
//! scope covers several halls.

use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::{MessageStream, Session};
use bytestring::ByteString;
use serde_json::Value;
use tracing::{debug, info};

use super::auth::{self, Principal};
use super::ws::{Ended, accept, close, relay, send};
use super::{ApiError, AppState};
use crate::engine::{DashboardSub, HallFrame, HallHandle};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/ws/dashboard/{hall}", web::get().to(dashboard_ws))
        .route("/ws/region", web::get().to(region_ws));
}

async fn dashboard_ws(
    req: HttpRequest,
    body: web::Payload,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, actix_web::Error> {
    let hall = state
        .registry
        .get_str(&path)
        .ok_or_else(|| ApiError::UnknownHall(path.clone()))?;
    let who = auth::require(&req, auth::DASHBOARD, Some(hall.spec.id.as_str()))?;
    let sub = hall.dashboard().await.ok_or(ApiError::Unavailable)?;
    let (response, session, stream) = accept(&req, body)?;
    let metrics = state.metrics.clone();
    actix_web::rt::spawn(async move {
        let _counted = metrics.ws_client("dashboard");
        info!(who = %who.name, hall = %hall.spec.id, "Dashboard connected.");
        serve_dashboard(hall, sub, session, stream).await;
    });
    Ok(response)
}

async fn serve_dashboard(
    hall: HallHandle,
    mut sub: DashboardSub,
    mut session: Session,
    mut stream: MessageStream,
) {
    let id = hall.spec.id.clone();
    let mut snapshot = Some(sub.snapshot.clone());
    let mut reason = None;
    while let Some(first) = snapshot.take() {
        if !send(&mut session, first).await {
            break;
        }
        match relay(&mut session, &mut stream, &mut sub.frames, |f| {
            Some(f.clone())
        })
        .await
        {
            Ended::Closed(r) => reason = r,
            Ended::Lagged(missed) => {
                info!(hall = %id, missed, "Dashboard fell behind; sending a fresh snapshot.");
                if let Some(fresh) = hall.dashboard().await {
                    sub = fresh;
                    snapshot = Some(sub.snapshot.clone());
                }
            }
        }
    }
    close(session, reason).await;
    debug!(hall = %id, "Dashboard disconnected.");
}

async fn region_ws(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, actix_web::Error> {
    let who = auth::require(&req, auth::ANY_ROLE, None)?;
    let halls: Vec<HallHandle> = state
        .registry
        .all()
        .into_iter()
        .filter(|h| who.may_see(h.spec.id.as_str()))
        .collect();
    // Subscribe before the snapshot: a summary is whole, so one seen twice
    // does no harm and none is missed in between.
    let frames = state.summaries.subscribe();
    let rate = state.clock.rate();
    let first = region_snapshot(&halls, rate).await;
    let (response, session, stream) = accept(&req, body)?;
    let metrics = state.metrics.clone();
    actix_web::rt::spawn(async move {
        let _counted = metrics.ws_client("region");
        info!(who = %who.name, halls = halls.len(), "Region screen connected.");
        serve_region(who, halls, rate, first, frames, session, stream).await;
    });
    Ok(response)
}

/// `{"type":"snapshot","halls":[summary, …],"clock_rate":…}` in
/// configuration order.
async fn region_snapshot(halls: &[HallHandle], clock_rate: f64) -> ByteString {
    let mut rows = Vec::with_capacity(halls.len());
    for h in halls {
        if let Some(frame) = h.summary().await
            && let Ok(mut v) = serde_json::from_str::<Value>(&frame)
        {
            if let Some(o) = v.as_object_mut() {
                o.remove("type");
            }
            rows.push(v);
        }
    }
    crate::engine::frame(
        "snapshot",
        serde_json::json!({ "halls": rows, "clock_rate": clock_rate }),
    )
}

async fn serve_region(
    who: Principal,
    halls: Vec<HallHandle>,
    clock_rate: f64,
    first: ByteString,
    mut frames: tokio::sync::broadcast::Receiver<HallFrame>,
    mut session: Session,
    mut stream: MessageStream,
) {
    let mut snapshot = Some(first);
    let mut reason = None;
    while let Some(first) = snapshot.take() {
        if !send(&mut session, first).await {
            break;
        }
        let pick = |f: &HallFrame| who.may_see(f.hall.as_str()).then(|| f.frame.clone());
        match relay(&mut session, &mut stream, &mut frames, pick).await {
            Ended::Closed(r) => reason = r,
            Ended::Lagged(_) => {
                frames = frames.resubscribe();
                snapshot = Some(region_snapshot(&halls, clock_rate).await);
            }
        }
    }
    close(session, reason).await;
    debug!(who = %who.name, "Region screen disconnected.");
}
