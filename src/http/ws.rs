//! What every WebSocket session does alike: the handshake with its frame
//! limit, bounded sends, keep-alive, and a close that says why.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::{CloseCode, CloseReason, Message, MessageStream, ProtocolError, Session};
use bytestring::ByteString;
use tokio::sync::broadcast::{self, error::RecvError};
use tracing::{debug, info};

use super::ApiError;
use super::conn::Socket;
use crate::metrics::Metrics;

/// How often a session is pinged.
pub(super) const PING_EVERY: Duration = Duration::from_secs(15);
/// A client silent this long is gone.
pub(super) const IDLE_LIMIT: Duration = Duration::from_secs(45);
/// A client that takes longer to accept a frame is too slow to keep: it
/// must never hold up the hall's broadcast.
pub(super) const SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// The largest frame a client may send: 4 KiB. Screens send nothing but
/// pongs; the largest real message is a console's alert action with a
/// 500-character note (at most about 3.2 KB even with every character
/// escaped). A bigger frame closes the session with 1009 (message too big)
/// before its payload is buffered.
pub const MAX_FRAME: usize = 4 * 1024;

/// Refuses a request that is not a valid WebSocket handshake, naming what
/// is wrong: every channel asks this after the token and before anything
/// else, so a plain GET gets its JSON 400 whatever its path holds.
pub(super) fn handshake(req: &HttpRequest) -> Result<(), ApiError> {
    actix_http::ws::verify_handshake(req.head()).map_err(|e| {
        ApiError::BadRequest(format!(
            "{} is a WebSocket channel; open it with a WebSocket client ({e})",
            req.path()
        ))
    })
}

/// Accepts a WebSocket handshake, with [`MAX_FRAME`] on what the client
/// sends. Every channel opens its sessions here.
fn accept(
    req: &HttpRequest,
    body: web::Payload,
) -> Result<(HttpResponse, Session, MessageStream), actix_web::Error> {
    handshake(req)?;
    let (response, session, stream) = actix_ws::handle(req, body)?;
    Ok((response, session, stream.max_frame_size(MAX_FRAME)))
}

/// What to tell a client whose stream failed: 1009 for a frame over
/// [`MAX_FRAME`], 1002 for anything else it got wrong.
fn close_reason(err: &ProtocolError) -> CloseReason {
    match err {
        ProtocolError::Overflow => CloseReason {
            code: CloseCode::Size,
            description: Some(format!("frames are limited to {} KiB", MAX_FRAME / 1024)),
        },
        other => {
            // The error's own text is for the log, not for the client.
            debug!(error = %other, "A WebSocket client broke the protocol.");
            CloseReason {
                code: CloseCode::Protocol,
                description: Some("not a valid WebSocket frame".to_owned()),
            }
        }
    }
}

/// Closes a session, giving up after the send timeout: a client that
/// stopped reading has a full queue, and waiting for room there would keep
/// its task, and everything it holds, alive for good.
async fn close(session: Session, reason: Option<CloseReason>) -> bool {
    tokio::time::timeout(SEND_TIMEOUT, session.close(reason))
        .await
        .is_ok()
}

/// Sends a text frame; false when the session is closed or stuck.
async fn send(session: &mut Session, text: ByteString) -> bool {
    matches!(
        tokio::time::timeout(SEND_TIMEOUT, session.text(text)).await,
        Ok(Ok(()))
    )
}

/// The ping tick: false when the client has been silent too long or the
/// session is gone. A protocol ping keeps proxies and the browser's socket
/// alive; the JSON ping lets page code notice a dead link.
async fn keep_alive(session: &mut Session, last_seen: Instant) -> bool {
    last_seen.elapsed() <= IDLE_LIMIT
        && session.ping(b"").await.is_ok()
        && send(session, ByteString::from_static(super::frames::PING)).await
}

/// A source a channel's sessions relay: what a client starts from, what
/// it wants of the broadcast, and how it answers what the client sends.
pub(super) trait Channel {
    type Item: Clone;

    /// A fresh start: the snapshot, and the broadcast that follows it with
    /// nothing lost or repeated in between. Asked again when a client falls
    /// behind. None when the source has gone.
    async fn subscribe(&mut self) -> Option<Subscription<Self::Item>>;

    /// The frame a client wants of an item, if it wants it.
    fn pick(&self, item: &Self::Item) -> Option<ByteString>;

    /// The answer to a text message from the client. Screens send nothing
    /// but signs of life: by default, no answer.
    async fn answer(&mut self, _text: &str) -> Option<ByteString> {
        None
    }

    /// What the channel is, and for whom, for the log.
    fn describe(&self) -> String;

    /// Whether its sessions are worth a line in the log at `info` (a
    /// person's screen), or only at `debug` (the hall's public screens,
    /// which come and go by the dozen).
    fn announce(&self) -> bool {
        true
    }
}

/// Opens a session of `channel`: subscribes first, so a source that cannot
/// answer gets a 503 and never an upgrade, then accepts the handshake and
/// serves the session on its own task, counted in `/metrics` as `label`.
pub(super) async fn open<C: Channel + 'static>(
    req: &HttpRequest,
    body: web::Payload,
    metrics: &Arc<Metrics>,
    label: &'static str,
    mut channel: C,
) -> Result<HttpResponse, actix_web::Error> {
    let first = channel.subscribe().await.ok_or(ApiError::Unavailable)?;
    let (response, session, stream) = accept(req, body)?;
    let socket = Socket::of(req);
    let metrics = metrics.clone();
    actix_web::rt::spawn(async move {
        let _counted = metrics.ws_client(label);
        serve(channel, first, session, stream, socket).await;
    });
    Ok(response)
}

/// A snapshot and the broadcast after it.
pub(super) type Subscription<T> = (ByteString, broadcast::Receiver<T>);

/// Serves one session of a channel from `first`: the snapshot, then the
/// frames the client wants, answering its messages and keeping the link
/// alive; a client that falls behind gets a fresh snapshot instead of a
/// backlog, and one that stops reading is let go after the send timeout:
/// its connection is reset, since actix would otherwise keep it open trying
/// to deliver what is queued for it.
async fn serve<C: Channel>(
    mut channel: C,
    first: Subscription<C::Item>,
    mut session: Session,
    mut stream: MessageStream,
    socket: Option<Socket>,
) {
    if channel.announce() {
        info!(channel = %channel.describe(), "Connected.");
    } else {
        debug!(channel = %channel.describe(), "Connected.");
    }
    let mut next = Some(first);
    let mut reason = None;
    while let Some((snapshot, mut frames)) = next.take() {
        if !send(&mut session, snapshot).await {
            break;
        }
        match relay(&mut channel, &mut session, &mut stream, &mut frames).await {
            Ended::Closed(r) => reason = r,
            Ended::Lagged(missed) => {
                info!(channel = %channel.describe(), missed, "A client fell behind; sending a fresh snapshot.");
                next = channel.subscribe().await;
            }
        }
    }
    if !close(session, reason).await
        && let Some(socket) = socket
    {
        debug!(channel = %channel.describe(), "A client that stopped reading; resetting its connection.");
        socket.reset();
    }
    debug!(channel = %channel.describe(), "Disconnected.");
}

/// Why [`relay`] stopped.
enum Ended {
    /// The client fell this many frames behind.
    Lagged(u64),
    /// The client or the source is gone; with what to tell the client
    /// when it broke the protocol.
    Closed(Option<CloseReason>),
}

/// Relays the broadcast to one client, answering its messages and pings,
/// and keeping the link alive.
async fn relay<C: Channel>(
    channel: &mut C,
    session: &mut Session,
    stream: &mut MessageStream,
    frames: &mut broadcast::Receiver<C::Item>,
) -> Ended {
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.reset();
    let mut last_seen = Instant::now();
    loop {
        tokio::select! {
            frame = frames.recv() => match frame {
                Ok(f) => if let Some(text) = channel.pick(&f)
                    && !send(session, text).await {
                    return Ended::Closed(None);
                },
                Err(RecvError::Lagged(missed)) => return Ended::Lagged(missed),
                Err(RecvError::Closed) => return Ended::Closed(None),
            },
            msg = stream.recv() => match msg {
                Some(Ok(Message::Ping(bytes))) => {
                    last_seen = Instant::now();
                    if session.pong(&bytes).await.is_err() {
                        return Ended::Closed(None);
                    }
                }
                Some(Ok(Message::Text(text))) => {
                    last_seen = Instant::now();
                    if let Some(answer) = channel.answer(&text).await
                        && !send(session, answer).await {
                        return Ended::Closed(None);
                    }
                }
                Some(Ok(Message::Close(_))) | None => return Ended::Closed(None),
                Some(Err(e)) => return Ended::Closed(Some(close_reason(&e))),
                Some(Ok(_)) => last_seen = Instant::now(),
            },
            _ = ping.tick() => if !keep_alive(session, last_seen).await {
                return Ended::Closed(None);
            },
        }
    }
}
