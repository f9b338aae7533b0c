//! The TCP socket under an HTTP connection, for the one thing the HTTP
//! layer cannot do by itself: drop a WebSocket client that stopped reading.
//!
//! When a session ends, actix still tries to write what is queued for the
//! client before it lets the connection go; a client that never reads
//! keeps that write, and the server's file handle, waiting for as long as
//! it stays connected. [`Socket::reset`] ends such a connection at once.

use std::os::fd::{AsRawFd, BorrowedFd, RawFd};

/// The connection's socket, as [`remember`] put it in the connection's data.
#[derive(Clone, Copy)]
pub struct ConnFd(RawFd);

/// For `HttpServer::on_connect`: keeps the socket's descriptor with the
/// connection, so its requests can find it.
pub fn remember(tcp: &actix_web::rt::net::TcpStream, data: &mut actix_web::dev::Extensions) {
    data.insert(ConnFd(tcp.as_raw_fd()));
}

/// A socket of this process's own, sharing the connection's.
pub struct Socket(socket2::Socket);

impl Socket {
    /// The socket under `req`'s connection. Taken while the request is being
    /// served, when its connection, and so the descriptor, is open.
    pub fn of(req: &actix_web::HttpRequest) -> Option<Self> {
        let ConnFd(fd) = *req.conn_data::<ConnFd>()?;
        // SAFETY: `fd` is the descriptor of the connection `req` arrived on,
        // stored when it was accepted; that connection is serving `req` now,
        // so the descriptor is open and still names its socket. It is only
        // borrowed to duplicate it: the copy is ours to keep and close.
        let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
        let owned = borrowed.try_clone_to_owned().ok()?;
        Some(Self(socket2::Socket::from(owned)))
    }

    /// Ends the connection with a reset: whatever is queued for the client
    /// is dropped, and the server's handle goes with the connection.
    pub fn reset(self) {
        // Linger 0: the last close sends RST instead of waiting to deliver
        // the queue; the shutdown wakes actix's writer, which then closes.
        let _ = self.0.set_linger(Some(std::time::Duration::ZERO));
        let _ = self.0.shutdown(std::net::Shutdown::Both);
    }
}
