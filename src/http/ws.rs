//! What every WebSocket session does alike: bounded sends and keep-alive.

use std::time::{Duration, Instant};

use actix_ws::Session;
use bytestring::ByteString;

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
