//! What a partition's broker session checks before it takes a message or
//! reconnects: that this instance still owns the partition, as far as it
//! knows without asking the database.
//!
//! The lease loop extends the gate after each renewal, to the renewal's
//! start plus the lease (the database's clock may only be later). An
//! instance that was frozen past that point finds the gate shut when it
//! wakes, before its lease loop has asked the database: it neither takes a
//! message nor reconnects under the partition's client id (which would
//! throw the new owner off the broker). The store's fencing makes a late
//! write harmless whatever the gate says; the gate keeps the new owner's
//! session from being disturbed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

#[derive(Debug)]
pub struct Gate {
    origin: Instant,
    /// Milliseconds after `origin` until which the lease is surely held.
    until_ms: AtomicU64,
    /// Cancelled once the partition is lost: fenced by the store, or the
    /// lease found taken, or not renewed in time.
    pub lost: CancellationToken,
}

impl Gate {
    /// A gate open until `asked + lease`, for a lease taken by a request
    /// sent at `asked`.
    pub fn new(asked: Instant, lease: Duration) -> Self {
        let gate = Self {
            origin: asked,
            until_ms: AtomicU64::new(0),
            lost: CancellationToken::new(),
        };
        gate.extend(asked, lease);
        gate
    }

    /// After a renewal sent at `asked`.
    pub fn extend(&self, asked: Instant, lease: Duration) {
        let until = asked.saturating_duration_since(self.origin) + lease;
        self.until_ms
            .fetch_max(until.as_millis() as u64, Ordering::Relaxed);
    }

    /// Waits until the gate is open again (a renewal came through), the
    /// partition is lost, or `stop` is cancelled: for a connection about
    /// to reconnect under the partition's client id.
    pub async fn wait_open(&self, stop: &CancellationToken) {
        while !self.open() && !self.lost.is_cancelled() && !stop.is_cancelled() {
            tokio::select! {
                _ = self.lost.cancelled() => {}
                _ = stop.cancelled() => {}
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
        }
    }

    /// Still surely this instance's.
    pub fn open(&self) -> bool {
        !self.lost.is_cancelled()
            && (self.origin.elapsed().as_millis() as u64) < self.until_ms.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gate_shuts_when_its_lease_runs_out_or_is_lost() {
        let asked = Instant::now();
        let gate = Gate::new(asked, Duration::from_secs(60));
        assert!(gate.open());
        gate.lost.cancel();
        assert!(!gate.open());
        let gate = Gate::new(asked - Duration::from_secs(10), Duration::from_secs(3));
        assert!(!gate.open(), "a lease asked for 10 s ago for 3 s is over");
        gate.extend(Instant::now(), Duration::from_secs(3));
        assert!(gate.open(), "a renewal opens it again");
    }
}
