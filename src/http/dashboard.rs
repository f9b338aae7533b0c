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

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use bytestring::ByteString;

use super::auth::{self, Principal};
use super::openapi::{Forbidden, Unauthorized, Unavailable};
use super::ws::{Channel, Subscription, open};
use super::{AppState, ErrorBody, HallPath, frames};
use crate::domain::SummaryView;
use crate::engine::{DashMsg, Frame, HallFrame, HallHandle, SummaryFrames};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/ws/dashboard/{hall}", web::get().to(dashboard_ws))
        .route("/ws/region", web::get().to(region_ws))
        .route("/api/regions", web::get().to(regions));
}

/// A manager's view of one hall.
struct Dashboard {
    hall: HallHandle,
    /// Who watches, for the log.
    who: String,
    clock_rate: f64,
}

impl Channel for Dashboard {
    type Item = Arc<Frame<DashMsg>>;

    async fn subscribe(&mut self) -> Option<Subscription<Self::Item>> {
        let sub = self.hall.dashboard().await?;
        Some((
            frames::dashboard_snapshot(&sub.snapshot, self.clock_rate),
            sub.frames,
        ))
    }

    fn pick(&self, f: &Self::Item) -> Option<ByteString> {
        let rate = self.clock_rate;
        Some(f.text(|m| frames::dash(m, rate)))
    }

    fn describe(&self) -> String {
        format!("dashboard {} for {}", self.hall.spec.id, self.who)
    }
}

/// WebSocket: a hall manager's dashboard
///
/// Role `manager` (or `admin`), within the hall scope; the token is checked
/// before the upgrade, so a refused client gets a plain 401 or 403. Server
/// to client (`DashboardMessage`): first a `snapshot`
/// (`DashboardSnapshotMessage`: everything on the display channel plus
/// window load and figures, queue figures, staffing advice, KPIs and active
/// alerts), then deltas: `load` (a window tile), `queue`, `staffing`,
/// `kpi`, `alert`, `call`, and `ping` every 15 s. A new `snapshot` comes
/// when a new day starts or when the client fell behind. Read-only.
#[utoipa::path(
    get,
    path = "/ws/dashboard/{hall}",
    tag = "websocket",
    operation_id = "dashboardChannel",
    params(HallPath),
    security(("bearerAuth" = []), ("queryToken" = []), ("cookieAuth" = [])),
    responses(
        (status = 400,
            description = "Not a valid WebSocket handshake (a plain GET without the upgrade \
                headers).",
            body = ErrorBody,
            example = json!({"error": "bad_request", "message": "/ws/region is a WebSocket channel; open it with a WebSocket client (No WebSocket Upgrade header found)"})),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "No such hall (checked after the token and the handshake).", body = ErrorBody,
            example = json!({"error": "unknown_hall", "message": "hall \"nope\" is not served here"})),
        (status = 503, response = Unavailable),
    )
)]
pub(super) async fn dashboard_ws(
    req: HttpRequest,
    body: web::Payload,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, actix_web::Error> {
    let who = auth::require(&req, auth::DASHBOARD, Some(path.as_str())).await?;
    super::ws::handshake(&req)?;
    let hall = state.hall(&path)?;
    let dashboard = Dashboard {
        hall,
        who: who.name,
        clock_rate: state.clock.rate(),
    };
    open(&req, body, &state.metrics, "dashboard", dashboard).await
}

/// The summaries of the halls in a token's scope.
struct Region {
    who: Principal,
    halls: Vec<HallHandle>,
    /// With `[cluster]`: every hall's last summary.
    board: Option<Arc<crate::board::Board>>,
    summaries: SummaryFrames,
    clock_rate: f64,
}

impl Channel for Region {
    type Item = HallFrame<SummaryView>;

    /// Subscribes before it reads the snapshot: a summary is whole, so one
    /// seen twice does no harm and none is missed in between.
    async fn subscribe(&mut self) -> Option<Subscription<Self::Item>> {
        let frames = self.summaries.subscribe();
        let mut rows = Vec::with_capacity(self.halls.len());
        for h in &self.halls {
            rows.extend(h.summary().await);
        }
        // With [cluster], the halls of the scope that other instances run,
        // as they last published them.
        if let Some(board) = &self.board {
            let here: std::collections::HashSet<&str> =
                self.halls.iter().map(|h| h.spec.id.as_str()).collect();
            rows.extend(board.summaries(|h| self.who.may_see(h) && !here.contains(&h)));
        }
        Some((frames::region_snapshot(&rows, self.clock_rate), frames))
    }

    fn pick(&self, f: &Self::Item) -> Option<ByteString> {
        self.who
            .may_see(f.hall.as_str())
            .then(|| f.frame.text(frames::summary))
    }

    fn describe(&self) -> String {
        format!("region of {} ({} halls)", self.who.name, self.halls.len())
    }
}

/// WebSocket: every hall of the token's scope at a glance
///
/// Any role; the halls of the token's scope (none is an empty list, not an
/// error). Server to client (`RegionMessage`): first a `snapshot`
/// (`RegionSnapshotMessage`) with every hall's summary, then each hall's
/// `summary` (`SummaryMessage`) as it changes, at most once a second per
/// hall, and `ping` every 15 s. Read-only.
#[utoipa::path(
    get,
    path = "/ws/region",
    tag = "websocket",
    operation_id = "regionChannel",
    security(("bearerAuth" = []), ("queryToken" = []), ("cookieAuth" = [])),
    responses(
        (status = 400,
            description = "Not a valid WebSocket handshake (a plain GET without the upgrade \
                headers).",
            body = ErrorBody,
            example = json!({"error": "bad_request", "message": "/ws/region is a WebSocket channel; open it with a WebSocket client (No WebSocket Upgrade header found)"})),
        (status = 401, response = Unauthorized),
    )
)]
pub(super) async fn region_ws(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, actix_web::Error> {
    let who = auth::require(&req, auth::ANY_ROLE, None).await?;
    super::ws::handshake(&req)?;
    let halls: Vec<HallHandle> = state
        .registry
        .all()
        .into_iter()
        .filter(|h| who.may_see(h.spec.id.as_str()))
        .collect();
    let region = Region {
        who,
        halls,
        board: state.directory.is_some().then(|| state.board.clone()),
        summaries: state.summaries.clone(),
        clock_rate: state.clock.rate(),
    };
    open(&req, body, &state.metrics, "region", region).await
}

/// `GET /api/regions`: the roll-up.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct RegionsBody {
    /// When it was taken.
    pub at: chrono::DateTime<chrono::FixedOffset>,
    /// Every region on the paths of the halls in scope, from the province
    /// down (by depth, then code). A hall without a configured path counts
    /// in none.
    pub regions: Vec<crate::domain::RegionRow>,
}

/// The roll-up along the administrative levels
///
/// Any role; the halls of the token's scope, whichever instance runs them.
/// Per region (省 / 市 / 县区 / 乡镇街道 / 村社区) of their configured paths:
/// the halls and how many have reported, the waiting and the longest wait
/// now, today's tickets, windows open, on duty and empty, open alerts by
/// severity, 满意率, this month's standing 黄牌 and 红牌, and the halls whose
/// staffing advice asks for a change. Built from each hall's last summary
/// (at most a second old; with `[cluster]`, as its instance published it).
#[utoipa::path(
    get,
    path = "/api/regions",
    tag = "stats",
    operation_id = "regions",
    security(("bearerAuth" = []), ("cookieAuth" = [])),
    responses(
        (status = 200, description = "The roll-up.", body = RegionsBody),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
    )
)]
pub(super) async fn regions(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, actix_web::Error> {
    let who = auth::require(&req, auth::ANY_ROLE, None).await?;
    // This instance's halls as they are now.
    for h in state.registry.all() {
        if who.may_see(h.spec.id.as_str())
            && let Some(s) = h.summary().await
        {
            state.board.put(&s);
        }
    }
    let body = RegionsBody {
        at: state.clock.now().fixed_offset(),
        regions: state.board.roll_up(|h| who.may_see(h)),
    };
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(body))
}
