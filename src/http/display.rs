//! `GET /ws/display/{hall}`: the public channel for wall and window screens.
//!
//! One task per session reads the hall's broadcast of pre-serialised frames,
//! so a frame is serialised once however many screens watch. A screen that
//! falls behind gets a fresh snapshot instead of a backlog; one that stops
//! reading is closed after a send timeout, so it can never slow the hall.

use std::time::{Duration, Instant};

use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::{Message, Session};
use tokio::sync::broadcast::error::RecvError;
use tracing::{debug, info};

use super::{ApiError, AppState};
use crate::engine::{DisplaySub, HallHandle};

const PING_EVERY: Duration = Duration::from_secs(15);
const IDLE_LIMIT: Duration = Duration::from_secs(45);
const SEND_TIMEOUT: Duration = Duration::from_secs(5);

pub async fn display_ws(
    req: HttpRequest,
    body: web::Payload,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, actix_web::Error> {
    let hall = state
        .registry
        .get_str(&path)
        .ok_or_else(|| ApiError::UnknownHall(path.clone()))?;
    let sub = hall.display().await.ok_or(ApiError::Unavailable)?;
    let (response, session, stream) = actix_ws::handle(&req, body)?;
    let metrics = state.metrics.clone();
    actix_web::rt::spawn(async move {
        metrics.ws_connected();
        serve(hall, sub, session, stream).await;
        metrics.ws_disconnected();
    });
    Ok(response)
}

async fn send(session: &mut Session, text: bytestring::ByteString) -> bool {
    matches!(
        tokio::time::timeout(SEND_TIMEOUT, session.text(text)).await,
        Ok(Ok(()))
    )
}

async fn serve(
    hall: HallHandle,
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
                Ok(f) => if !send(&mut session, f).await { break },
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
            _ = ping.tick() => {
                // A protocol ping keeps proxies and the browser's socket
                // alive; the JSON ping lets page code notice a dead link.
                if last_seen.elapsed() > IDLE_LIMIT
                    || session.ping(b"").await.is_err()
                    || !send(&mut session, bytestring::ByteString::from_static(r#"{"type":"ping"}"#)).await
                {
                    break;
                }
            }
        }
    }
    let _ = session.close(None).await;
    debug!(hall = %id, "Display disconnected.");
}
