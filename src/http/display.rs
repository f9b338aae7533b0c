//! `GET /ws/display/{hall}`: the public channel for wall and window screens.
//!
//! One task per session reads the hall's broadcast (see `ws::open`); a
//! message is put into text once however many screens watch.

use actix_web::{HttpRequest, HttpResponse, web};
use bytestring::ByteString;

use super::openapi::{Unavailable, UnknownHall};
use super::ws::{Channel, Subscription, open};
use super::{ApiError, AppState, ErrorBody, HallPath, frames};
use crate::domain::WindowId;
use crate::engine::{HallHandle, ScreenFrame};

/// `?window=` (one window's screen, 窗口屏) or `?zone=` (a floor's screen).
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ScreenQuery {
    /// One window's screen (窗口屏): only that window's `call` and `window`
    /// messages. Takes precedence over `zone`.
    #[param(value_type = Option<WindowId>)]
    window: Option<String>,
    /// A floor's or area's screen: only the `call` and `window` messages of
    /// the windows in that zone.
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
        Some((
            frames::display_snapshot(&sub.snapshot, self.clock_rate),
            sub.frames,
        ))
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

    fn announce(&self) -> bool {
        false
    }
}

/// WebSocket: a hall's public screens (综合屏, 窗口屏)
///
/// Public: no token needed, and no citizen data is ever sent (ticket numbers
/// only). Server to client, JSON text messages (`DisplayMessage`): first a
/// `snapshot` (`DisplaySnapshotMessage`) that alone draws the whole screen,
/// then deltas: `call` (`CallMessage`), `window` (`WindowMessage`), `queue`
/// (`QueueCountMessage`), and `ping` every 15 s. A
/// new `snapshot` comes when a new day starts or when the client fell
/// behind. A client that reconnects gets a new snapshot, so no delta is ever
/// needed to recover. The channel is read-only.
#[utoipa::path(
    get,
    path = "/ws/display/{hall}",
    tag = "websocket",
    operation_id = "displayChannel",
    params(HallPath, ScreenQuery),
    responses(
        (status = 400,
            description = "The hall has no such `window` or `zone`, or a parameter is given \
                twice, or the request is not a valid WebSocket handshake.",
            body = ErrorBody,
            example = json!({"error": "bad_request", "message": "hall jl-center has no window \"99\""})),
        (status = 403, response = super::openapi::OriginRefused),
        (status = 404, response = UnknownHall),
        (status = 503, response = Unavailable),
    )
)]
pub async fn display_ws(
    req: HttpRequest,
    body: web::Payload,
    path: web::Path<String>,
    query: web::Query<ScreenQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, actix_web::Error> {
    super::auth::check_public_origin(&req)?;
    super::ws::handshake(&req)?;
    let hall = state.hall(&path)?;
    let only = Only::from_query(&hall, &query)?;
    let screen = Screen {
        hall,
        only,
        clock_rate: state.clock.rate(),
    };
    open(&req, body, &state.metrics, "display", screen).await
}
