//! `GET /ws/display/{hall}`: the public channel for wall and window screens.
//!
//! One task per session reads the hall's broadcast of pre-serialised frames,
//! so a frame is serialised once however many screens watch. A screen that
//! falls behind gets a fresh snapshot instead of a backlog; one that stops
//! reading is closed after a send timeout, so it can never slow the hall.

use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::Session;
use tracing::{debug, info};

use super::ws::{Ended, accept, close, relay, send};
use super::{ApiError, AppState};
use crate::engine::{DisplayFrame, DisplaySub, HallHandle};

/// `?window=` (one window's screen, 窗口屏) or `?zone=` (a floor's screen).
#[derive(Debug, serde::Deserialize)]
pub struct ScreenQuery {
    window: Option<String>,
    zone: Option<String>,
}

/// Which windows' frames a screen wants: all, or those at these indexes.
#[derive(Debug, Clone)]
struct Only(Option<Vec<usize>>);

impl Only {
    fn from_query(hall: &HallHandle, q: &ScreenQuery) -> Result<Self, ApiError> {
        let spec = &hall.spec;
        if let Some(w) = &q.window {
            let i = spec
                .windows
                .iter()
                .position(|x| x.id.as_str() == w)
                .ok_or_else(|| {
                    ApiError::BadRequest(format!("hall {} has no window {w:?}", spec.id))
                })?;
            return Ok(Self(Some(vec![i])));
        }
        if let Some(z) = &q.zone {
            let ws: Vec<usize> = (0..spec.windows.len())
                .filter(|&i| spec.windows[i].zone.as_deref() == Some(z.as_str()))
                .collect();
            if ws.is_empty() {
                return Err(ApiError::BadRequest(format!(
                    "hall {} has no zone {z:?}",
                    spec.id
                )));
            }
            return Ok(Self(Some(ws)));
        }
        Ok(Self(None))
    }

    /// Frames about the whole hall reach every screen; a window's only the
    /// screens that show it.
    fn wants(&self, frame: &DisplayFrame) -> bool {
        match (&self.0, frame.window) {
            (Some(ws), Some(w)) => ws.contains(&w),
            _ => true,
        }
    }
}

pub async fn display_ws(
    req: HttpRequest,
    body: web::Payload,
    path: web::Path<String>,
    query: web::Query<ScreenQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, actix_web::Error> {
    let hall = state
        .registry
        .get_str(&path)
        .ok_or_else(|| ApiError::UnknownHall(path.clone()))?;
    let only = Only::from_query(&hall, &query)?;
    let sub = hall.display().await.ok_or(ApiError::Unavailable)?;
    let (response, session, stream) = accept(&req, body)?;
    let metrics = state.metrics.clone();
    actix_web::rt::spawn(async move {
        let _counted = metrics.ws_client("display");
        serve(hall, only, sub, session, stream).await;
    });
    Ok(response)
}

async fn serve(
    hall: HallHandle,
    only: Only,
    mut sub: DisplaySub,
    mut session: Session,
    mut stream: actix_ws::MessageStream,
) {
    let id = hall.spec.id.clone();
    debug!(hall = %id, "Display connected.");
    let mut snapshot = Some(sub.snapshot.clone());
    let mut reason = None;
    while let Some(first) = snapshot.take() {
        if !send(&mut session, first).await {
            break;
        }
        let pick = |f: &DisplayFrame| only.wants(f).then(|| f.text.clone());
        match relay(&mut session, &mut stream, &mut sub.frames, pick).await {
            Ended::Closed(r) => reason = r,
            Ended::Lagged(missed) => {
                info!(hall = %id, missed, "Display fell behind; sending a fresh snapshot.");
                if let Some(fresh) = hall.display().await {
                    sub = fresh;
                    snapshot = Some(sub.snapshot.clone());
                }
            }
        }
    }
    close(session, reason).await;
    debug!(hall = %id, "Display disconnected.");
}
