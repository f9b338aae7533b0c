//! The request budget of each client for `/api/*` and the WebSocket
//! handshakes of `/ws/*`: a token bucket per address, refilled at
//! [`PER_MINUTE`] and holding [`BURST`].
//!
//! A bucket is kept as one instant per client, the moment it will be full
//! again (the "theoretical arrival time" of GCRA): a request pushes it one
//! [`INTERVAL`] later and is refused when that would put it more than
//! `BURST` intervals ahead of now. So a check is one map lookup and no
//! allocation, and a client whose bucket is full again is the same as one
//! never seen, which is what the sweep forgets.
//!
//! Time comes from the caller (a monotonic `Instant` in the server), so
//! tests move it by hand; no map guard is held beyond these synchronous
//! methods.

use std::net::{IpAddr, Ipv6Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dashmap::DashMap;

/// Requests a client may make a minute, sustained: 600, one every 100 ms.
/// A screen makes one request when it (re)connects; a console or dashboard a
/// few when it opens; nobody polls.
pub const PER_MINUTE: u32 = 600;
/// Requests a quiet client may make at once. Room for a hall's screens
/// behind one address (a NAT or proxy) all reconnecting together after a
/// server restart, each with its WebSocket and perhaps `/api/me`: 200
/// covers 100 screens. A screen refused anyway is told when to come back
/// (`Retry-After`, at most a second or two) and its page reconnects by
/// itself, so nothing stays locked out.
pub const BURST: u32 = 200;
/// The time one request's token takes to come back.
pub const INTERVAL: Duration = Duration::from_millis(60_000 / PER_MINUTE as u64);
/// How far ahead of now a client's bucket may be: a full bucket's worth.
const HORIZON: Duration = Duration::from_millis(60_000 / PER_MINUTE as u64 * BURST as u64);
/// Past this many tracked clients a new one shares [`OVERFLOW`]'s bucket
/// (after a sweep, at most once a second, found nothing to forget). About
/// 64 bytes a client: well under a megabyte at the cap.
pub const MAX_TRACKED: usize = 10_000;
/// The shared key of clients that arrive while the map is full. `::` is
/// never a peer's address.
const OVERFLOW: IpAddr = IpAddr::V6(Ipv6Addr::UNSPECIFIED);
const SWEEP_EVERY: Duration = Duration::from_secs(60);
const SWEEP_AT_CAP_EVERY: Duration = Duration::from_secs(1);

/// Per-client request budgets; shared by every worker through
/// [`super::auth::Auth`].
#[derive(Debug)]
pub struct RequestLimiter {
    /// When each client's bucket is full again.
    full_at: DashMap<IpAddr, Instant>,
    /// The origin of `last_sweep_ms`.
    started: Instant,
    last_sweep_ms: AtomicU64,
}

impl Default for RequestLimiter {
    fn default() -> Self {
        Self {
            full_at: DashMap::new(),
            started: Instant::now(),
            last_sweep_ms: AtomicU64::new(0),
        }
    }
}

impl RequestLimiter {
    /// Takes one request from `client`'s bucket, or says how long until it
    /// may ask again. A refused request takes nothing, so a client that
    /// keeps knocking still gets in at the sustained rate.
    pub fn check(&self, client: IpAddr, now: Instant) -> Result<(), Duration> {
        if self.since_sweep(now) >= SWEEP_EVERY {
            self.sweep(now);
        }
        let mut key = client;
        // `len` visits every shard: only a client not yet tracked pays it.
        if !self.full_at.contains_key(&client) && self.full_at.len() >= MAX_TRACKED {
            if self.since_sweep(now) >= SWEEP_AT_CAP_EVERY {
                self.sweep(now);
            }
            if self.full_at.len() >= MAX_TRACKED {
                key = OVERFLOW;
            }
        }
        let mut full_at = self.full_at.entry(key).or_insert(now);
        let next = (*full_at).max(now) + INTERVAL;
        let ahead = next.saturating_duration_since(now);
        if ahead > HORIZON {
            return Err(ahead - HORIZON);
        }
        *full_at = next;
        Ok(())
    }

    fn since_sweep(&self, now: Instant) -> Duration {
        let now_ms = u64::try_from(now.saturating_duration_since(self.started).as_millis())
            .unwrap_or(u64::MAX);
        Duration::from_millis(now_ms.saturating_sub(self.last_sweep_ms.load(Ordering::Relaxed)))
    }

    /// Forgets clients whose bucket is full again.
    fn sweep(&self, now: Instant) {
        let now_ms = u64::try_from(now.saturating_duration_since(self.started).as_millis())
            .unwrap_or(u64::MAX);
        self.last_sweep_ms.store(now_ms, Ordering::Relaxed);
        self.full_at.retain(|_, full_at| *full_at > now);
    }

    /// How many clients are being tracked.
    pub fn tracked(&self) -> usize {
        self.full_at.len()
    }
}

/// Whole seconds to tell a refused client (`Retry-After`): rounded up, and
/// never 0, since "try again now" would be a lie.
pub fn retry_after_s(wait: Duration) -> u64 {
    u64::try_from(wait.as_millis().div_ceil(1000))
        .unwrap_or(u64::MAX)
        .max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([192, 0, 2, last])
    }

    fn v4(n: u32) -> IpAddr {
        IpAddr::V4(std::net::Ipv4Addr::from(n))
    }

    #[test]
    fn a_quiet_client_gets_its_burst_then_the_sustained_rate() {
        let limiter = RequestLimiter::default();
        let t0 = Instant::now();
        for i in 0..BURST {
            assert_eq!(limiter.check(ip(1), t0), Ok(()), "request {i}");
        }
        let wait = limiter.check(ip(1), t0).unwrap_err();
        assert_eq!(wait, INTERVAL);
        assert_eq!(retry_after_s(wait), 1);
        // Refusals take nothing: one interval later exactly one more passes.
        assert!(limiter.check(ip(1), t0 + INTERVAL / 2).is_err());
        assert_eq!(limiter.check(ip(1), t0 + INTERVAL), Ok(()));
        assert!(limiter.check(ip(1), t0 + INTERVAL).is_err());
        // A minute of the sustained rate passes in full.
        let mut t = t0 + INTERVAL;
        for _ in 0..PER_MINUTE {
            t += INTERVAL;
            assert_eq!(limiter.check(ip(1), t), Ok(()));
        }
        // Another client is not affected.
        assert_eq!(limiter.check(ip(2), t0), Ok(()));
    }

    #[test]
    fn a_bucket_refills_to_the_burst_and_no_further() {
        let limiter = RequestLimiter::default();
        let t0 = Instant::now();
        for _ in 0..BURST {
            limiter.check(ip(1), t0).unwrap();
        }
        // Quiet for an hour: a full bucket again, but only one.
        let later = t0 + Duration::from_secs(3600);
        for _ in 0..BURST {
            assert_eq!(limiter.check(ip(1), later), Ok(()));
        }
        assert!(limiter.check(ip(1), later).is_err());
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_s(Duration::ZERO), 1);
        assert_eq!(retry_after_s(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_s(Duration::from_millis(1000)), 1);
        assert_eq!(retry_after_s(Duration::from_millis(1001)), 2);
    }

    #[test]
    fn clients_with_a_full_bucket_are_forgotten() {
        let limiter = RequestLimiter::default();
        let t0 = Instant::now();
        for i in 0..200u8 {
            limiter.check(ip(i), t0).unwrap();
        }
        assert_eq!(limiter.tracked(), 200);
        limiter.check(ip(250), t0 + SWEEP_EVERY).unwrap();
        assert_eq!(limiter.tracked(), 1);
    }

    #[test]
    fn past_the_cap_new_clients_share_one_bucket() {
        let limiter = RequestLimiter::default();
        let t0 = Instant::now();
        for i in 0..MAX_TRACKED as u32 {
            limiter.check(v4(0x0a00_0000u32 + i), t0).unwrap();
        }
        assert_eq!(limiter.tracked(), MAX_TRACKED);
        // Every bucket is still refilling: nothing to forget, so newcomers
        // share the overflow bucket and the map stops growing.
        for i in 0..BURST {
            let newcomer = v4(0x0b00_0000u32 + i);
            assert_eq!(limiter.check(newcomer, t0), Ok(()));
        }
        assert!(limiter.check(v4(0x0c00_0000u32), t0).is_err());
        assert_eq!(limiter.tracked(), MAX_TRACKED + 1);
        // A tracked client keeps its own bucket.
        assert_eq!(limiter.check(v4(0x0a00_0001u32), t0), Ok(()));
        // Once the buckets are full again the sweep makes room.
        let later = t0 + Duration::from_secs(30);
        assert_eq!(limiter.check(v4(0x0c00_0000u32), later), Ok(()));
        assert_eq!(limiter.tracked(), 1);
    }
}
