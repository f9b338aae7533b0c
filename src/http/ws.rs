//! What every WebSocket session does alike: the handshake with its frame
//! limit, bounded sends, keep-alive, and a close that says why.

use std::time::{Duration, Instant};

use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::{CloseCode, CloseReason, Message, MessageStream, ProtocolError, Session};
use bytestring::ByteString;
use tokio::sync::broadcast::{self, error::RecvError};

/// How often a session is pinged.
pub const PING_EVERY: Duration = Duration::from_secs(15);
/// A client silent this long is gone.
const IDLE_LIMIT: Duration = Duration::from_secs(45);
/// A client that takes longer to accept a frame is too slow to keep: it
/// must never hold up the hall's broadcast.
const SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// The largest frame a client may send: 4 KiB. Screens send nothing but
/// pongs; the largest real message is a console's alert action with a
/// 500-character note (at most about 3.2 KB even with every character
/// escaped). A bigger frame closes the session with 1009 (message too big)
/// before its payload is buffered.
pub const MAX_FRAME: usize = 4 * 1024;

/// Accepts a WebSocket handshake, with [`MAX_FRAME`] on what the client
/// sends. Every channel opens its sessions here.
pub fn accept(
    req: &HttpRequest,
    body: web::Payload,
) -> Result<(HttpResponse, Session, MessageStream), actix_web::Error> {
    let (response, session, stream) = actix_ws::handle(req, body)?;
    Ok((response, session, stream.max_frame_size(MAX_FRAME)))
}

/// What to tell a client whose stream failed: 1009 for a frame over
/// [`MAX_FRAME`], 1002 for anything else it got wrong.
pub fn close_reason(err: &ProtocolError) -> CloseReason {
    match err {
        ProtocolError::Overflow => CloseReason {
            code: CloseCode::Size,
            description: Some(format!("frames are limited to {} KiB", MAX_FRAME / 1024)),
        },
        other => CloseReason {
            code: CloseCode::Protocol,
            description: Some(other.to_string()),
        },
    }
}

/// Closes a session, giving up after the send timeout: a client that
/// stopped reading has a full queue, and waiting for room there would keep
/// its task, and everything it holds, alive for good.
pub async fn close(session: Session, reason: Option<CloseReason>) {
    let _ = tokio::time::timeout(SEND_TIMEOUT, session.close(reason)).await;
}

/// Sends a text frame; false when the session is closed or stuck.
pub async fn send(session: &mut Session, text: ByteString) -> bool {
    matches!(
        tokio::time::timeout(SEND_TIMEOUT, session.text(text)).await,
        Ok(Ok(()))
    )
}

/// The ping tick: false when the client has been silent too long or the
/// session is gone. A protocol ping keeps proxies and the browser's socket
/// alive; the JSON ping lets page code notice a dead link.
pub async fn keep_alive(session: &mut Session, last_seen: Instant) -> bool {
    last_seen.elapsed() <= IDLE_LIMIT
        && session.ping(b"").await.is_ok()
        && send(session, ByteString::from_static(r#"{"type":"ping"}"#)).await
}

/// Why [`relay`] stopped.
pub enum Ended {
    /// The client fell this many frames behind: send it a fresh snapshot
    /// and relay again.
    Lagged(u64),
    /// The client or the source is gone; with what to tell the client
    /// when it broke the protocol.
    Closed(Option<CloseReason>),
}

/// Relays a broadcast to one client, `pick` choosing and rendering the
/// frames it wants, while answering pings and keeping the link alive. What
/// the client sends is only a sign of life (read-only channels).
pub async fn relay<T: Clone>(
    session: &mut Session,
    stream: &mut MessageStream,
    frames: &mut broadcast::Receiver<T>,
    pick: impl Fn(&T) -> Option<ByteString>,
) -> Ended {
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.reset();
    let mut last_seen = Instant::now();
    loop {
        tokio::select! {
            frame = frames.recv() => match frame {
                Ok(f) => if let Some(text) = pick(&f)
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
