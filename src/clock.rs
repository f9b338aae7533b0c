//! Where the server reads the time. The domain never does; the engine asks a
//! `Clock`, so tests can drive time by hand.

use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};

/// A source of the current time.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;

    /// Seconds of this clock per real second: 1, except in the demo, whose
    /// hall days pass faster. Screens count durations on with it.
    fn rate(&self) -> f64 {
        1.0
    }
}

/// The time as the event log keeps it: whole milliseconds. The engine reads
/// the clock through this, so a replay sees exactly the times the live run saw.
pub fn now_ms(clock: &dyn Clock) -> DateTime<Utc> {
    let t = clock.now();
    DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap_or(t)
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that moves only when told to.
#[derive(Debug)]
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    pub fn new(at: DateTime<Utc>) -> Self {
        Self(Mutex::new(at))
    }

    pub fn set(&self, at: DateTime<Utc>) {
        if let Ok(mut t) = self.0.lock() {
            *t = at;
        }
    }

    pub fn advance(&self, by: Duration) {
        if let Ok(mut t) = self.0.lock() {
            *t += by;
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        // A poisoned lock still holds a valid time.
        match self.0.lock() {
            Ok(t) => *t,
            Err(p) => *p.into_inner(),
        }
    }
}
