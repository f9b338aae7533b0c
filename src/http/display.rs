//! `GET /ws/display/{hall}`: the public channel for wall and window screens.
//!
//! One task per session reads the hall's broadcast of pre-serialised frames,
//! so a frame is serialised once however many screens watch. A screen that
//! falls behind gets a fresh snapshot instead of a backlog; one that stops
//! reading is closed after a send timeout, so it can never slow the hall.

use std::time::Instant;

use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::{Message, Session};
use tokio::sync::broadcast::error::RecvError;
use tracing::{debug, info};

use super::ws::{PING_EVERY, keep_alive, send};
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
    let (response, session, stream) = actix_ws::handle(&req, body)?;
    let metrics = state.metrics.clone();
    actix_web::rt::spawn(async move {
        metrics.ws_connected();
        serve(hall, only, sub, session, stream).await;
        metrics.ws_disconnected();
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
    if !send(&mut session, sub.snapshot.clone()).await {
        return;
    }
    let mut ping = tokio::time::interval(PING_EVERY);
    let mut last_seen = Instant::now();
    loop {
        tokio::select! {
            frame = sub.frames.recv() => match frame {
                Ok(f) if only.wants(&f) => if !send(&mut session, f.text).await { break },
                Ok(_) => {}
                Err(RecvError::Lagged(missed)) => {
                    info!(hall = %id, missed, "Display fell behind; sending a fresh snapshot.");
                    match hall.display().await {
                        Some(fresh) => {
                            sub = fresh;
                            if !send(&mut session, sub.snapshot.clone()).await { break }
                        }
                        None => break,
                    }
                }
                Err(RecvError::Closed) => break,
            },
            msg = stream.recv() => match msg {
                Some(Ok(Message::Ping(bytes))) => {
                    last_seen = Instant::now();
                    if session.pong(&bytes).await.is_err() { break }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => last_seen = Instant::now(),
            },
            _ = ping.tick() => if !keep_alive(&mut session, last_seen).await { break },
        }
    }
    let _ = session.close(None).await;
    debug!(hall = %id, "Display disconnected.");
}
