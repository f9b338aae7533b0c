//! When each supervision rule must be looked at again.
//!
//! What a rule finds changes in two ways only: an input changes a part of
//! the hall the rule reads, or time crosses one of the deadlines in what it
//! reads (a wait reaching its limit, a pause its second limit). So each
//! rule names the parts it reads (`Aspects`), each accepted input the parts
//! it changed, and each check of a time-based rule says when time alone
//! would next change its findings (`Next`). A rule is checked again when an
//! input changed what it reads or that instant has come, and at no other
//! time: between the two it would find exactly what it found last.

use chrono::{DateTime, Duration, Utc};

use super::alert::Rule;
use super::event::{Input, WindowOp};

/// How often a rule whose findings move with every moment is checked while
/// they may (the staffing forecast): the contract's alerts are due within
/// a second of their limit.
pub const RECHECK: Duration = Duration::seconds(1);

/// The parts of a hall's state a rule reads and an input changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Aspects(u8);

impl Aspects {
    pub const NONE: Aspects = Aspects(0);
    /// Waiting tickets.
    pub const QUEUE: Aspects = Aspects(1);
    /// Who is at each window, and whether it is paused.
    pub const STAFF: Aspects = Aspects(1 << 1);
    /// The ticket at each window, called or being served.
    pub const COUNTER: Aspects = Aspects(1 << 2);
    /// What each window finished or missed today.
    pub const DONE: Aspects = Aspects(1 << 3);
    pub const RATINGS: Aspects = Aspects(1 << 4);
    pub const PRESENCE: Aspects = Aspects(1 << 5);
    /// How many tickets each service issued today.
    pub const ISSUED: Aspects = Aspects(1 << 6);
    /// The cards of the case book (issued, closed).
    pub const CARDS: Aspects = Aspects(1 << 7);

    pub const fn or(self, other: Aspects) -> Aspects {
        Aspects(self.0 | other.0)
    }

    pub const fn meets(self, other: Aspects) -> bool {
        self.0 & other.0 != 0
    }
}

impl Input {
    /// What of the hall this input changes when it is accepted (a refused
    /// one changes nothing).
    pub fn changes(&self) -> Aspects {
        match self {
            Input::Ticket { .. } => Aspects::QUEUE.or(Aspects::ISSUED),
            Input::Window { op, .. } => op.changes(),
            Input::Rating { .. } => Aspects::RATINGS,
            Input::Presence { .. } => Aspects::PRESENCE,
            Input::GiveUp { .. } => Aspects::QUEUE,
            Input::Book { .. } | Input::CancelBooking { .. } => Aspects::NONE,
            // Alerts themselves are no part of what a rule reads.
            Input::AlertAction { .. }
            | Input::Case { .. }
            | Input::CardAction { .. }
            | Input::FollowUpStep { .. } => Aspects::NONE,
        }
    }
}

impl WindowOp {
    /// What of the hall the op changes when it is accepted. A window's
    /// status, and so since when it is in it, moves with each of these.
    pub fn changes(&self) -> Aspects {
        use Aspects as A;
        match self {
            WindowOp::Login { .. }
            | WindowOp::Logout
            | WindowOp::Pause { .. }
            | WindowOp::Resume => A::STAFF,
            WindowOp::CallNext | WindowOp::Call { .. } | WindowOp::Transfer { .. } => {
                A::QUEUE.or(A::COUNTER)
            }
            WindowOp::Recall | WindowOp::Start => A::COUNTER,
            WindowOp::NoShow | WindowOp::Finish { .. } => A::COUNTER.or(A::DONE),
        }
    }
}

/// The soonest instant after `now` at which time alone changes what a rule
/// finds, gathered while the rule looks at the hall.
#[derive(Debug, Clone, Copy)]
pub struct Next {
    now: DateTime<Utc>,
    at: Option<DateTime<Utc>>,
}

impl Next {
    pub fn after(now: DateTime<Utc>) -> Self {
        Self { now, at: None }
    }

    /// A deadline in what the rule read: it counts if it is still ahead.
    pub fn deadline(&mut self, at: Option<DateTime<Utc>>) {
        if let Some(t) = at.filter(|t| *t > self.now) {
            self.at = Some(self.at.map_or(t, |a| a.min(t)));
        }
    }

    /// The instant the rule is looking at.
    pub fn now(&self) -> DateTime<Utc> {
        self.now
    }

    pub fn at(self) -> Option<DateTime<Utc>> {
        self.at
    }
}

/// One rule's schedule.
#[derive(Debug, Clone, Copy, Default, serde::Serialize, serde::Deserialize)]
struct Check {
    /// When it was last checked; None: never (a new hall or day).
    #[serde(with = "super::checkpoint::instant_opt")]
    at: Option<DateTime<Utc>>,
    /// When time alone next changes what it finds.
    #[serde(with = "super::checkpoint::instant_opt")]
    next: Option<DateTime<Utc>>,
    /// What it reads changed since it was last checked (while the hall was
    /// closed, when time-based rules are not checked).
    stale: bool,
}

/// When each rule was checked and must be checked again. Bookkeeping, not
/// state: two halls are equal whatever either has checked (a live hall is
/// also looked at on the second's tick, a replayed one only at its events).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Checks([Check; Rule::ALL.len()]);

impl Checks {
    /// Notes that an input changed `changed`: the rules that read it must
    /// be checked again.
    pub fn changed(&mut self, changed: Aspects) {
        for rule in Rule::ALL {
            if rule.reads().meets(changed) {
                self.0[rule as usize].stale = true;
            }
        }
    }

    /// Whether `rule` must be looked at again at `now`: what it reads
    /// changed, it was never checked, the clock went back, or time has
    /// reached a deadline in what it found.
    pub fn due(&self, rule: Rule, now: DateTime<Utc>) -> bool {
        let c = &self.0[rule as usize];
        c.stale
            || match c.at {
                None => true,
                Some(at) => now < at || c.next.is_some_and(|n| now >= n),
            }
    }

    /// `rule` was checked at `now`; time alone changes what it found next
    /// at `next`.
    pub fn mark(&mut self, rule: Rule, now: DateTime<Utc>, next: Option<DateTime<Utc>>) {
        self.0[rule as usize] = Check {
            at: Some(now),
            next,
            stale: false,
        };
    }
}

impl PartialEq for Checks {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
