//! The TCP socket under an HTTP connection, for the one thing the HTTP
//! layer cannot do by itself: drop a WebSocket client that stopped reading.
//!
//! When a session ends, actix still tries to write what is queued for the
//! client before it lets the connection go; a client that never reads
//! keeps that write, and the server's file handle, waiting for as long as
//! it stays connected. [`Socket::reset`] ends such a connection at once.

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use socket2::{SockAddr, SockRef};

/// The connection's socket, as [`remember`] put it in the connection's data.
#[derive(Clone, Copy)]
pub struct ConnFd(RawFd);

/// For `HttpServer::on_connect`: keeps the socket's descriptor with the
/// connection, so its requests can find it.
pub fn remember(tcp: &actix_web::rt::net::TcpStream, data: &mut actix_web::dev::Extensions) {
    data.insert(ConnFd(tcp.as_raw_fd()));
}

/// A WebSocket session's connection, known by its descriptor and by its
/// two ends. It holds no descriptor of its own: a session costs the server
/// one open file, not two, so a limit of N open files holds about N
/// screens. The ends tell this connection from a later one given the same
/// descriptor after it closed.
pub struct Socket {
    fd: RawFd,
    local: SockAddr,
    peer: SockAddr,
}

impl Socket {
    /// The socket under `req`'s connection. Taken while the request is being
    /// served, when its connection, and so the descriptor, is open.
    pub fn of(req: &actix_web::HttpRequest) -> Option<Self> {
        let ConnFd(fd) = *req.conn_data::<ConnFd>()?;
        // SAFETY: `fd` is the descriptor of the connection `req` arrived on,
        // stored when it was accepted; that connection is serving `req` now,
        // so the descriptor is open and still names its socket. It is only
        // borrowed here, to read the connection's two addresses.
        let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
        let socket = SockRef::from(&borrowed);
        Some(Self {
            fd,
            local: socket.local_addr().ok()?,
            peer: socket.peer_addr().ok()?,
        })
    }

    /// A descriptor of our own for the connection, if it is still open: the
    /// descriptor is copied (an error if it was closed meanwhile) and the
    /// copy is checked to have the same two ends, since a closed
    /// descriptor's number goes to the next socket opened.
    fn reopen(&self) -> Option<socket2::Socket> {
        // SAFETY: F_DUPFD_CLOEXEC only reads the number; on a number that is
        // no longer open it fails with EBADF and creates nothing.
        let copy = unsafe { libc::fcntl(self.fd, libc::F_DUPFD_CLOEXEC, 0) };
        if copy < 0 {
            return None;
        }
        // SAFETY: `copy` is a descriptor fcntl has just created for us; no
        // one else holds it, so it is ours to own and close.
        let socket = socket2::Socket::from(unsafe { OwnedFd::from_raw_fd(copy) });
        let same = socket.local_addr().ok().as_ref() == Some(&self.local)
            && socket.peer_addr().ok().as_ref() == Some(&self.peer);
        same.then_some(socket)
    }

    /// Ends the connection with a reset: whatever is queued for the client
    /// is dropped, and the server's handle goes with the connection.
    /// A connection that has closed meanwhile is left alone.
    pub fn reset(self) {
        let Some(socket) = self.reopen() else {
            return;
        };
        // Linger 0: the last close sends RST instead of waiting to deliver
        // the queue; the shutdown wakes actix's writer, which then closes.
        let _ = socket.set_linger(Some(std::time::Duration::ZERO));
        let _ = socket.shutdown(std::net::Shutdown::Both);
    }
}
