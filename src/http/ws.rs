//! What every WebSocket session does alike: bounded sends and keep-alive.

use std::time::{Duration, Instant};

use actix_ws::{Message, MessageStream, Session};
use bytestring::ByteString;
use tokio::sync::broadcast::{self, error::RecvError};

/// How often a session is pinged.
pub const PING_EVERY: Duration = Duration::from_secs(15);
/// A client silent this long is gone.
const IDLE_LIMIT: Duration = Duration::from_secs(45);
/// A client that takes longer to accept a frame is too slow to keep: it
/// must never hold up the hall's broadcast.
const SEND_TIMEOUT: Duration = Duration::from_secs(5);

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
    /// The client or the source is gone.
    Closed,
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
                    return Ended::Closed;
                },
                Err(RecvError::Lagged(missed)) => return Ended::Lagged(missed),
                Err(RecvError::Closed) => return Ended::Closed,
            },
            msg = stream.recv() => match msg {
                Some(Ok(Message::Ping(bytes))) => {
                    last_seen = Instant::now();
                    if session.pong(&bytes).await.is_err() {
                        return Ended::Closed;
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return Ended::Closed,
                Some(Ok(_)) => last_seen = Instant::now(),
            },
            _ = ping.tick() => if !keep_alive(session, last_seen).await {
                return Ended::Closed;
            },
        }
    }
}
