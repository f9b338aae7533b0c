//! The request budget of each client for `/api/*` and the WebSocket
//! handshakes of `/ws/*`: a token bucket per address, refilled at
//! [`PER_MINUTE`] and holding [`BURST`].
//!
//! `governor` keeps the buckets (GCRA: one atomic instant per client, the
//! moment its bucket is full again), so a check is one map lookup and no
//! allocation, and a refused request takes nothing. What it leaves to us is
//! memory: clients whose bucket is full again are the same as ones never
//! seen, and are forgotten once a minute; past [`MAX_TRACKED`] clients a
//! new one shares a single bucket instead of growing the map.
//!
//! Time comes from the limiter's clock: in the server a monotonic one read
//! from the CPU's counter (half the cost of `Instant::now`, and a check reads
//! it twice), in tests one moved by hand. No map guard is held beyond these
//! synchronous methods.

use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::{Clock, QuantaClock, Reference};
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::StateStore;
use governor::state::keyed::{DashMapStateStore, ShrinkableKeyedStateStore};
use governor::{Quota, RateLimiter};

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
const QUOTA: Quota = Quota::per_minute(NonZeroU32::new(PER_MINUTE).unwrap())
    .allow_burst(NonZeroU32::new(BURST).unwrap());
/// Requests a minute of one address to tickets' phone pages (`/t/`),
/// sustained. A hall's Wi-Fi puts every citizen's phone behind one
/// address: 1,000 phones each asking every 20 s on average, or 200
/// asking every 4 s while few are ahead of them.
pub const PAGE_PER_MINUTE: u32 = 3000;
/// Phone-page requests one address may make at once: a hall's phones all
/// asking again as the network comes back.
pub const PAGE_BURST: u32 = 1000;
const PAGE_QUOTA: Quota = Quota::per_minute(NonZeroU32::new(PAGE_PER_MINUTE).unwrap())
    .allow_burst(NonZeroU32::new(PAGE_BURST).unwrap());
/// Past this many tracked clients a new one shares [`OVERFLOW`]'s bucket
/// (after a sweep, at most once a second, found nothing to forget). About
/// 64 bytes a client: well under a megabyte at the cap.
pub const MAX_TRACKED: usize = 10_000;
/// The shared key of clients that arrive while the map is full. `::` is
/// never a peer's address.
const OVERFLOW: IpAddr = IpAddr::V6(Ipv6Addr::UNSPECIFIED);
const SWEEP_EVERY: Duration = Duration::from_secs(60);
const SWEEP_AT_CAP_EVERY: Duration = Duration::from_secs(1);

/// `governor`'s map of buckets, shared with [`RequestLimiter`] so that it can
/// tell a tracked client from a new one before the check adds it.
#[derive(Debug, Clone, Default)]
struct Buckets(Arc<DashMapStateStore<IpAddr>>);

impl StateStore for Buckets {
    type Key = IpAddr;

    fn measure_and_replace<T, F, E>(&self, key: &IpAddr, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        self.0.measure_and_replace(key, f)
    }
}

impl ShrinkableKeyedStateStore<IpAddr> for Buckets {
    fn retain_recent(&self, drop_below: Nanos) {
        ShrinkableKeyedStateStore::retain_recent(&*self.0, drop_below);
    }

    fn shrink_to_fit(&self) {
        ShrinkableKeyedStateStore::shrink_to_fit(&*self.0);
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Per-client request budgets; shared by every worker through
/// [`super::auth::Auth`].
#[derive(Debug)]
pub struct RequestLimiter<C: Clock = QuantaClock> {
    limiter: RateLimiter<IpAddr, Buckets, C, NoOpMiddleware<C::Instant>>,
    /// The same map the limiter updates.
    buckets: Buckets,
    /// The origin of `last_sweep_ns`.
    started: C::Instant,
    last_sweep_ns: AtomicU64,
}

impl Default for RequestLimiter {
    fn default() -> Self {
        Self::with_clock(QuantaClock::default())
    }
}

impl RequestLimiter {
    /// The budget of tickets' phone pages ([`PAGE_PER_MINUTE`]).
    pub fn pages() -> Self {
        Self::with_quota(PAGE_QUOTA, QuantaClock::default())
    }
}

impl<C: Clock> RequestLimiter<C> {
    pub fn with_clock(clock: C) -> Self {
        Self::with_quota(QUOTA, clock)
    }

    fn with_quota(quota: Quota, clock: C) -> Self {
        let buckets = Buckets::default();
        let limiter = RateLimiter::new(quota, buckets.clone(), clock);
        let started = limiter.clock().now();
        Self {
            limiter,
            buckets,
            started,
            last_sweep_ns: AtomicU64::new(0),
        }
    }

    /// Takes one request from `client`'s bucket, or says how long until it
    /// may ask again. A refused request takes nothing, so a client that
    /// keeps knocking still gets in at the sustained rate.
    pub fn check(&self, client: IpAddr) -> Result<(), Duration> {
        let now = self.limiter.clock().now();
        let now_ns = self.since_start(now);
        if self.since_sweep(now_ns) >= SWEEP_EVERY {
            self.sweep(now_ns);
            // Otherwise the map keeps the capacity a flood of clients gave it.
            self.limiter.shrink_to_fit();
        }
        let mut key = client;
        // `len` visits every shard: only a client not yet tracked pays it.
        if !self.buckets.0.contains_key(&client) && self.buckets.0.len() >= MAX_TRACKED {
            if self.since_sweep(now_ns) >= SWEEP_AT_CAP_EVERY {
                self.sweep(now_ns);
            }
            if self.buckets.0.len() >= MAX_TRACKED {
                key = OVERFLOW;
            }
        }
        self.limiter
            .check_key(&key)
            .map_err(|refused| refused.wait_time_from(now))
    }

    fn since_start(&self, now: C::Instant) -> u64 {
        now.duration_since(self.started).as_u64()
    }

    fn since_sweep(&self, now_ns: u64) -> Duration {
        Duration::from_nanos(now_ns.saturating_sub(self.last_sweep_ns.load(Ordering::Relaxed)))
    }

    /// Forgets clients whose bucket is full again.
    fn sweep(&self, now_ns: u64) {
        self.last_sweep_ns.store(now_ns, Ordering::Relaxed);
        self.limiter.retain_recent();
    }

    /// How many clients are being tracked.
    pub fn tracked(&self) -> usize {
        self.limiter.len()
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
    use governor::clock::FakeRelativeClock;

    use super::*;

    fn limiter() -> (RequestLimiter<FakeRelativeClock>, FakeRelativeClock) {
        let clock = FakeRelativeClock::default();
        (RequestLimiter::with_clock(clock.clone()), clock)
    }

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([192, 0, 2, last])
    }

    fn v4(n: u32) -> IpAddr {
        IpAddr::V4(std::net::Ipv4Addr::from(n))
    }

    #[test]
    fn a_quiet_client_gets_its_burst_then_the_sustained_rate() {
        let (limiter, clock) = limiter();
        for i in 0..BURST {
            assert_eq!(limiter.check(ip(1)), Ok(()), "request {i}");
        }
        let wait = limiter.check(ip(1)).unwrap_err();
        assert_eq!(wait, INTERVAL);
        assert_eq!(retry_after_s(wait), 1);
        // Refusals take nothing: one interval later exactly one more passes.
        clock.advance(INTERVAL / 2);
        assert!(limiter.check(ip(1)).is_err());
        clock.advance(INTERVAL / 2);
        assert_eq!(limiter.check(ip(1)), Ok(()));
        assert!(limiter.check(ip(1)).is_err());
        // A minute of the sustained rate passes in full.
        for _ in 0..PER_MINUTE {
            clock.advance(INTERVAL);
            assert_eq!(limiter.check(ip(1)), Ok(()));
        }
        // Another client is not affected.
        assert_eq!(limiter.check(ip(2)), Ok(()));
    }

    #[test]
    fn a_bucket_refills_to_the_burst_and_no_further() {
        let (limiter, clock) = limiter();
        for _ in 0..BURST {
            limiter.check(ip(1)).unwrap();
        }
        // Quiet for an hour: a full bucket again, but only one.
        clock.advance(Duration::from_secs(3600));
        for _ in 0..BURST {
            assert_eq!(limiter.check(ip(1)), Ok(()));
        }
        assert!(limiter.check(ip(1)).is_err());
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
        let (limiter, clock) = limiter();
        for i in 0..200u8 {
            limiter.check(ip(i)).unwrap();
        }
        assert_eq!(limiter.tracked(), 200);
        clock.advance(SWEEP_EVERY);
        limiter.check(ip(250)).unwrap();
        assert_eq!(limiter.tracked(), 1);
    }

    #[test]
    fn past_the_cap_new_clients_share_one_bucket() {
        let (limiter, clock) = limiter();
        for i in 0..MAX_TRACKED as u32 {
            limiter.check(v4(0x0a00_0000u32 + i)).unwrap();
        }
        assert_eq!(limiter.tracked(), MAX_TRACKED);
        // Every bucket is still refilling: nothing to forget, so newcomers
        // share the overflow bucket and the map stops growing.
        for i in 0..BURST {
            let newcomer = v4(0x0b00_0000u32 + i);
            assert_eq!(limiter.check(newcomer), Ok(()));
        }
        assert!(limiter.check(v4(0x0c00_0000u32)).is_err());
        assert_eq!(limiter.tracked(), MAX_TRACKED + 1);
        // A tracked client keeps its own bucket.
        assert_eq!(limiter.check(v4(0x0a00_0001u32)), Ok(()));
        // Once the buckets are full again the sweep makes room.
        clock.advance(Duration::from_secs(30));
        assert_eq!(limiter.check(v4(0x0c00_0000u32)), Ok(()));
        assert_eq!(limiter.tracked(), 1);
    }
}
