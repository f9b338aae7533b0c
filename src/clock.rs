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

impl std::fmt::Debug for dyn Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Clock({})", self.now())
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

/// A clock that starts at a given instant and runs at real speed: what the
/// tests run on (and `serve --test-clock-start`), so that a run does not
/// depend on the hour of the day it happens to start at.
#[derive(Debug)]
pub struct StartedClock {
    start: DateTime<Utc>,
    origin: std::time::Instant,
}

impl StartedClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        Self {
            start,
            origin: std::time::Instant::now(),
        }
    }
}

impl Clock for StartedClock {
    fn now(&self) -> DateTime<Utc> {
        let elapsed = Duration::from_std(self.origin.elapsed()).unwrap_or(Duration::MAX);
        self.start.checked_add_signed(elapsed).unwrap_or(self.start)
    }
}

/// The demo's clock: it starts at an office instant and runs `speed` times
/// faster than real time through the hall's office hours, stepping over
/// the hours the hall is closed. So a demo day is a working day at speed,
/// with its morning peak, its lunch break, and its figures kept at
/// midnight, and the forecast and the alert limits keep their real
/// meaning.
pub struct DemoClock {
    hours: std::sync::Arc<crate::domain::HallSpec>,
    speed: f64,
    /// Until this instant the clock runs at `fast`: a fresh demo lives its
    /// last working days at that pace, then goes on at `speed`.
    catch_up: Option<(DateTime<Utc>, f64)>,
    origin: std::time::Instant,
    /// Real seconds since `origin` and the demo instant they reached.
    checkpoint: Mutex<(f64, DateTime<Utc>)>,
}

impl DemoClock {
    /// Starts at `start`, or at the next opening of `hours` after it.
    pub fn new(
        hours: std::sync::Arc<crate::domain::HallSpec>,
        start: DateTime<Utc>,
        speed: f64,
    ) -> Self {
        let start = hours.office_deadline(start, 0).unwrap_or(start);
        Self {
            hours,
            speed: speed.max(1.0),
            catch_up: None,
            origin: std::time::Instant::now(),
            checkpoint: Mutex::new((0.0, start)),
        }
    }

    /// Runs at `fast` until the clock reaches `until`, then at its speed.
    /// Nothing changes when `until` is not after the start.
    pub fn catching_up(mut self, until: DateTime<Utc>, fast: f64) -> Self {
        if until > self.reached() {
            self.catch_up = Some((until, fast.max(self.speed)));
        }
        self
    }

    /// Real seconds the catch-up takes from the start (0 without one).
    pub fn catch_up_seconds(&self) -> f64 {
        let start = self.reached();
        self.catch_up.map_or(0.0, |(until, fast)| {
            self.hours.office_seconds(start, until) as f64 / fast
        })
    }

    /// The demo instant of the last reading.
    fn reached(&self) -> DateTime<Utc> {
        match self.checkpoint.lock() {
            Ok(c) => c.1,
            Err(p) => p.into_inner().1,
        }
    }

    fn speed_at(&self, at: DateTime<Utc>) -> f64 {
        match self.catch_up {
            Some((until, fast)) if at < until => fast,
            _ => self.speed,
        }
    }
}

impl Clock for DemoClock {
    fn now(&self) -> DateTime<Utc> {
        let real = self.origin.elapsed().as_secs_f64();
        let mut cp = match self.checkpoint.lock() {
            Ok(c) => c,
            Err(p) => p.into_inner(),
        };
        let (done, at) = *cp;
        let speed = self.speed_at(at);
        let office = ((real - done) * speed).max(0.0);
        let whole = office.floor();
        let fraction = Duration::milliseconds(((office - whole) * 1000.0) as i64);
        if whole < 1.0 {
            return at + fraction;
        }
        let secs = whole as i64;
        // Walk whole office seconds from the checkpoint; the fraction is
        // added on top so the clock never stands still between them.
        let next = self
            .hours
            .office_deadline(at, secs)
            .unwrap_or(at + Duration::seconds(secs));
        // The catch-up ends exactly where it should: what is left of this
        // step runs on at the usual speed from the next reading.
        if let Some((until, _)) = self.catch_up
            && at < until
            && next > until
        {
            let used = self.hours.office_seconds(at, until) as f64 / speed;
            *cp = (done + used, until);
            return until;
        }
        *cp = (done + whole / speed, next);
        next + fraction
    }

    fn rate(&self) -> f64 {
        self.speed_at(self.reached())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::TimeZone;

    use super::*;
    use crate::domain::{OfficeHours, Span};

    #[test]
    fn a_started_clock_runs_on_from_its_start() {
        let start = Utc.with_ymd_and_hms(2026, 11, 23, 1, 0, 0).unwrap();
        let clock = StartedClock::new(start);
        let first = clock.now();
        assert!(first >= start && first < start + Duration::seconds(1));
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert!(clock.now() > first);
    }

    #[test]
    fn the_demo_clock_steps_over_closed_hours() {
        let mut spec = crate::domain::test_spec();
        spec.hours = OfficeHours::default();
        spec.hours.weekly[0] = vec![Span::parse("08:30-12:00").unwrap()];
        spec.hours.weekly[1] = vec![Span::parse("08:30-12:00").unwrap()];
        let tz = chrono_tz::Asia::Shanghai;
        let local = |d, h, m| {
            tz.with_ymd_and_hms(2026, 11, d, h, m, 0)
                .unwrap()
                .with_timezone(&Utc)
        };
        // Sunday evening: the clock starts at Monday's opening.
        let clock = DemoClock::new(Arc::new(spec), local(22, 20, 0), 3600.0 * 1000.0);
        let first = clock.now();
        assert!(
            first >= local(23, 8, 30) && first < local(23, 12, 0),
            "{first}"
        );
        // A real millisecond or so later, hours have passed at this speed;
        // whatever the instant, it is in office hours, and later than before.
        std::thread::sleep(std::time::Duration::from_millis(5));
        let later = clock.now();
        assert!(later > first);
        let t = later.with_timezone(&tz);
        assert!(
            t.format("%H:%M").to_string().as_str() >= "08:30"
                && t.format("%H:%M").to_string().as_str() <= "12:00",
            "{t}"
        );
        assert_eq!(clock.rate(), 3_600_000.0);
    }

    #[test]
    fn a_demo_clock_catches_up_then_runs_at_its_speed() {
        let mut spec = crate::domain::test_spec();
        spec.hours = OfficeHours::weekdays(&["08:30-12:00", "13:30-17:30"]);
        let spec = Arc::new(spec);
        let tz = chrono_tz::Asia::Shanghai;
        let local = |d, h, m| {
            tz.with_ymd_and_hms(2026, 11, d, h, m, 0)
                .unwrap()
                .with_timezone(&Utc)
        };
        // Friday's opening to Tuesday's: Friday and Monday are 15 office
        // hours, which a thousandfold pace passes in 54 real seconds.
        let clock = DemoClock::new(spec.clone(), local(20, 8, 30), 2.0)
            .catching_up(local(24, 8, 30), 1000.0);
        assert!((clock.catch_up_seconds() - 54.0).abs() < 1e-9);
        assert_eq!(clock.rate(), 1000.0);
        // A pace that passes the end in a blink stops there exactly …
        let clock =
            DemoClock::new(spec.clone(), local(20, 8, 30), 2.0).catching_up(local(24, 8, 30), 1e12);
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert_eq!(clock.now(), local(24, 8, 30));
        // … and goes on at the usual speed from there.
        assert_eq!(clock.rate(), 2.0);
        std::thread::sleep(std::time::Duration::from_millis(5));
        let later = clock.now();
        assert!(
            later > local(24, 8, 30) && later < local(24, 8, 31),
            "{later}"
        );
        // An end before the start changes nothing.
        let clock = DemoClock::new(spec, local(24, 9, 0), 2.0).catching_up(local(24, 8, 30), 1e12);
        assert_eq!(clock.rate(), 2.0);
        assert_eq!(clock.catch_up_seconds(), 0.0);
    }
}
