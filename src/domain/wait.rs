//! Estimated waits: when a ticket is likely called, from what the hall is
//! doing now (docs/domain.md, "Estimated waits").
//!
//! A service's queue is drained by the windows on duty that may serve it, at
//! each window's recent pace: the mean time from call to end of its last
//! visits (with the turn to the next call, when it came within two minutes), weighed with the service's time of the day (or its expected
//! time) while it has few. A window shared by several services gives each
//! the share of its calls that its queue holds of theirs, so it counts once
//! across them, as in the staffing flow. Windows idle now call at once; the
//! rest free up, on average, halfway through a visit. The office seconds
//! that gives become wall-clock seconds over the lunch break.

use chrono::{DateTime, Duration, Utc};

use super::hall::{Hall, TicketState, WindowState};

/// How many visits a window's pace is the mean of.
pub const PACE_VISITS: usize = 20;

/// Visits that ended longer ago than this say nothing of the pace now.
const PACE_HORIZON: Duration = Duration::hours(2);

/// The oldest end of a visit that still says something of the pace at
/// `now` (none before the earliest time there is: every visit counts).
/// Worked out once per estimate: comparing instants is far cheaper than
/// subtracting them for every visit of every window.
fn pace_since(now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    now.checked_sub_signed(PACE_HORIZON)
}

/// A window that calls again within this long after a visit ended was
/// turning to the next citizen, not idle: the gap counts in that visit's
/// time.
const TURNAROUND_MAX_S: i64 = 120;

/// How many visits the prior pace counts as, against a window's own.
const PRIOR_WEIGHT: f64 = 2.0;

impl WindowState {
    /// Remembers a visit that ended at `at` after `secs` office seconds.
    pub(super) fn keep_pace(&mut self, at: DateTime<Utc>, secs: i64) {
        if self.recent.len() == PACE_VISITS {
            self.recent.pop_front();
        }
        self.recent.push_back((at, secs.max(0)));
    }

    /// Adds the gap between the last visit's end and the next call to that
    /// visit's time, when it was a turn to the next citizen.
    pub(super) fn count_turnaround(&mut self, gap: i64) {
        if let Some((_, secs)) = self.recent.back_mut()
            && (0..=TURNAROUND_MAX_S).contains(&gap)
        {
            *secs += gap;
        }
    }
}

impl Hall {
    /// Seconds until a ticket of `service` with `ahead` tickets before it
    /// is likely called, at `now`.
    pub fn estimate_wait(&self, service: usize, ahead: usize, now: DateTime<Utc>) -> u32 {
        let since = pace_since(now);
        let mut on_duty = false;
        let mut rate = 0.0;
        let mut free = 0.0;
        for w in self.open_windows_serving(service) {
            on_duty = true;
            let share = self.queue_share(w, service);
            rate += share / self.pace_s(w, since);
            if self.windows[w].current.is_none() {
                free += share;
            }
        }
        if !on_duty {
            // Nobody on duty for it yet: the windows that serve it, as they
            // will be when they open.
            for w in (0..self.spec.windows.len())
                .filter(|&w| self.spec.windows[w].services.contains(&service))
            {
                rate += self.queue_share(w, service) / self.pace_s(w, since);
            }
        }
        if rate <= 0.0 {
            // A service no window serves: one window at its expected pace.
            rate = 1.0 / self.prior_pace_s(service);
        }
        let before = ahead as f64 - free;
        if before < 0.0 {
            return 0;
        }
        let office_s = ((before + 0.5) / rate).round().clamp(0.0, 1e9) as i64;
        let wall_s = self
            .office_deadline(now, office_s)
            .map_or(office_s, |due| (due - now).num_seconds().max(office_s));
        u32::try_from(wall_s).unwrap_or(u32::MAX)
    }

    /// The wait a ticket of each service taken at `now` would have.
    pub fn service_waits(&self, now: DateTime<Utc>) -> Vec<u32> {
        (0..self.spec.services.len())
            .map(|s| self.estimate_wait(s, self.waiting(s), now))
            .collect()
    }

    /// How many wait before ticket `t` and its estimated wait, while it
    /// waits.
    pub fn ticket_wait(&self, t: usize, now: DateTime<Utc>) -> Option<(usize, u32)> {
        let ticket = self.tickets.get(t)?;
        if ticket.state != TicketState::Waiting {
            return None;
        }
        let ahead = self.ahead_of(t);
        Some((ahead, self.estimate_wait(ticket.service, ahead, now)))
    }

    /// How many tickets are called before waiting ticket `t`.
    fn ahead_of(&self, t: usize) -> usize {
        let ticket = &self.tickets[t];
        self.queues.ahead_of(ticket.service, &ticket.queue_key(t))
    }

    /// The share of window `w`'s calls that go to `service`: its queue's
    /// share of the queues the window serves (an even share when they are
    /// all empty).
    pub(super) fn queue_share(&self, w: usize, service: usize) -> f64 {
        let served = &self.spec.windows[w].services;
        let total: usize = served.iter().map(|&s| self.waiting(s)).sum();
        if total == 0 {
            1.0 / served.len().max(1) as f64
        } else {
            self.waiting(service) as f64 / total as f64
        }
    }

    /// Window `w`'s recent pace: office seconds per visit, its last visits
    /// weighed with the prior of the services it serves.
    fn pace_s(&self, w: usize, since: Option<DateTime<Utc>>) -> f64 {
        let served = &self.spec.windows[w].services;
        let prior =
            served.iter().map(|&s| self.prior_pace_s(s)).sum::<f64>() / served.len().max(1) as f64;
        let (sum, n) = self.windows[w]
            .recent
            .iter()
            .filter(|(at, _)| since.is_none_or(|since| *at >= since))
            .fold((0.0, 0.0), |(sum, n), (_, s)| (sum + *s as f64, n + 1.0));
        ((sum + PRIOR_WEIGHT * prior) / (n + PRIOR_WEIGHT)).max(1.0)
    }

    /// A service's time per ticket before a window's own pace is known:
    /// its mean today, or its expected time.
    fn prior_pace_s(&self, service: usize) -> f64 {
        match self.finished.get(service) {
            Some(&(total, n)) if n > 0 => total as f64 / n as f64,
            _ => f64::from(self.spec.services[service].expected_service_s),
        }
        .max(1.0)
    }
}
