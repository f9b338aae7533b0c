//! `GET /ws/display/{hall}`: the public channel for wall and window screens.
//!
//! One task per session reads the hall's broadcast (see `ws::serve`); a
//! message is put into text once however many screens watch.

use actix_web::{HttpRequest, HttpResponse, web};
use bytestring::ByteString;

use super::ws::{Channel, Subscription, accept, serve};
use super::{ApiError, AppState, frames};
use crate::engine::{HallHandle, ScreenFrame};

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
    fn wants(&self, frame: &ScreenFrame) -> bool {
        match (&self.0, frame.window) {
            (Some(ws), Some(w)) => ws.contains(&w),
            _ => true,
        }
    }
}

/// One screen's view of its hall.
struct Screen {
    hall: HallHandle,
    only: Only,
    clock_rate: f64,
}

impl Channel for Screen {
    type Item = ScreenFrame;

    async fn subscribe(&mut self) -> Option<Subscription<ScreenFrame>> {
        let sub = self.hall.display().await?;
        Some((frames::snapshot(&sub.snapshot, self.clock_rate), sub.frames))
    }

    fn pick(&self, f: &ScreenFrame) -> Option<ByteString> {
        let rate = self.clock_rate;
        self.only
            .wants(f)
            .then(|| f.frame.text(|m| frames::screen(m, rate)))
    }

    fn describe(&self) -> String {
        format!("display {}", self.hall.spec.id)
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
    let mut screen = Screen {
        hall,
        only,
        clock_rate: state.clock.rate(),
    };
    let first = screen.subscribe().await.ok_or(ApiError::Unavailable)?;
    let (response, session, stream) = accept(&req, body)?;
    let metrics = state.metrics.clone();
    actix_web::rt::spawn(async move {
        let _counted = metrics.ws_client("display");
        serve(screen, first, session, stream).await;
    });
    Ok(response)
}
