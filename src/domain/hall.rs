//! A hall's live state and the one function that changes it.
//!
//! Design: `Hall` does no I/O and never reads a clock. `apply(input, now)` and
//! `tick(now)` are deterministic functions of (state, input, time) that return
//! what should happen; the engine around them stores, answers and broadcasts.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, Utc};

use super::alert::{Action, Alert, AlertState};
use super::checks::Checks;
use super::event::{Input, Outcome, PauseReason, Priority, Refusal, Reply, TicketRequest};
use super::ids::{DeviceId, MsgId, StaffId, TicketNo, TicketToken};
use super::office::OfficeDay;
use super::queue::{QueueKey, Queues};
use super::spec::{DeviceKind, HallSpec};
use super::standing::{ByRule, Escalations};

/// How long a device's message id is remembered for idempotency. The contract
/// promises ids unique for at least 24 hours, so they may repeat after that.
pub const DEDUP_WINDOW: Duration = Duration::hours(24);

/// How many recent calls a hall keeps for screens.
pub const RECENT_CALLS: usize = 10;

/// Where a ticket is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketState {
    Waiting,
    Called,
    Serving,
    Done,
    /// 过号: called and did not come; may be called again the same day.
    Missed,
    /// 取消排队: given up by the citizen from the ticket's phone page.
    Cancelled,
}

/// A ticket issued today.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Ticket {
    pub no: TicketNo,
    /// The service whose queue it is in now.
    pub service: usize,
    /// The service it was issued for.
    pub issued_for: usize,
    pub priority: Priority,
    pub appointment: Option<String>,
    /// Why a green-channel ticket was granted (绿色通道 audit).
    pub green_reason: Option<String>,
    /// The staff member who issued it at a staffed kiosk.
    pub issued_by: Option<StaffId>,
    pub kiosk: DeviceId,
    #[serde(with = "super::checkpoint::instant")]
    pub issued_at: DateTime<Utc>,
    /// When it joined the queue it is in: its issue, or its last transfer.
    /// Waits are measured from here; the queue order keeps `issued_at`.
    #[serde(with = "super::checkpoint::instant")]
    pub queued_at: DateTime<Utc>,
    pub state: TicketState,
    /// The window that called it last.
    pub window: Option<usize>,
    #[serde(with = "super::checkpoint::instant_opt")]
    pub called_at: Option<DateTime<Utc>>,
    #[serde(with = "super::checkpoint::instant_opt")]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(with = "super::checkpoint::instant_opt")]
    pub finished_at: Option<DateTime<Utc>>,
    pub outcome: Option<Outcome>,
    pub rating: Option<u8>,
    #[serde(with = "super::checkpoint::instant_opt")]
    pub rated_at: Option<DateTime<Utc>>,
    pub rating_comment: Option<String>,
    pub transfers: u32,
    pub no_shows: u32,
    /// Its phone page's token, when it has a page.
    pub token: Option<TicketToken>,
    /// When its wait crosses its service's limits: worked out once, not on
    /// every event (see `rules/wait_timeout.rs`). Not kept in a checkpoint.
    #[serde(skip)]
    pub wait_due: DueMemo,
}

/// When a wait that began at an instant crosses the (warning, critical)
/// limits it was last asked about, in office time; `None` when it does not
/// within the week ahead. Derived data, remembered because working office
/// time out is costly and supervision asks about every waiting ticket on
/// every event. It takes no part in comparisons: two tickets are equal
/// whatever either has remembered.
#[derive(Debug, Clone, Default)]
pub struct DueMemo(std::cell::Cell<Option<Due>>);

/// The start and limits asked about, and when each limit falls due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Due {
    base: DateTime<Utc>,
    limits: (i64, i64),
    at: (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
}

impl DueMemo {
    /// When `limits` fall due for a wait that began at `base`, worked out
    /// by `work` unless remembered for the same start and limits (a
    /// transfer starts a new wait in a queue with its own limits).
    pub fn get(
        &self,
        base: DateTime<Utc>,
        limits: (i64, i64),
        work: impl FnOnce() -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
    ) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
        if let Some(due) = self.0.get()
            && due.base == base
            && due.limits == limits
        {
            return due.at;
        }
        let at = work();
        self.0.set(Some(Due { base, limits, at }));
        at
    }
}

impl PartialEq for DueMemo {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for DueMemo {}

impl Ticket {
    pub(super) fn queue_key(&self, index: usize) -> QueueKey {
        QueueKey::new(self.priority, self.issued_at, index)
    }
}

/// Who is at a window.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Staff {
    pub id: StaffId,
    pub name: Option<String>,
}

code_enum! {
/// What a window is doing, as screens and the retained state topic show it:
/// `offline` no staff logged in; `idle` staffed, no current ticket;
/// `calling` a ticket was called and has not started; `serving` a ticket is
/// being served; `paused` 暂停服务.
pub enum WindowStatus {
    Offline,
    Idle,
    Calling,
    Serving,
    Paused,
}
}

impl WindowStatus {
    pub const COUNT: usize = Self::ALL.len();

    pub fn index(self) -> usize {
        self as usize
    }
}

/// How a visit to a window ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum VisitEnd {
    /// Finished with an outcome; service counted from the start, or from
    /// the call when it was never started.
    Served {
        outcome: Outcome,
        #[serde(with = "super::checkpoint::instant")]
        at: DateTime<Utc>,
        service_s: i64,
        /// The cases (件) it counted: its `items`, none for a consultation.
        cases: u32,
        /// An `accepted` finish that opened a case (承诺件 with its
        /// reference and promised days); false for one without (未登记).
        registered: bool,
    },
    /// 过号: the citizen did not come.
    Missed {
        #[serde(with = "super::checkpoint::instant")]
        at: DateTime<Utc>,
    },
    /// Handed to another service's queue.
    Transferred {
        #[serde(with = "super::checkpoint::instant")]
        at: DateTime<Utc>,
    },
}

impl VisitEnd {
    /// When the visit ended.
    pub fn at(&self) -> DateTime<Utc> {
        match *self {
            VisitEnd::Served { at, .. }
            | VisitEnd::Missed { at }
            | VisitEnd::Transferred { at } => at,
        }
    }
}

/// One call of a ticket to a window and how it ended: what the daily
/// figures of services, windows and staff members are counted from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Visit {
    pub ticket: usize,
    pub window: usize,
    /// Who was at the window when it called.
    pub staff: Option<Staff>,
    /// The queue it was called from.
    pub service: usize,
    #[serde(with = "super::checkpoint::instant")]
    pub called_at: DateTime<Utc>,
    /// Office seconds it had waited in the queue it was called from (since
    /// it joined: its issue, or its last transfer); None when it was a
    /// missed ticket called again (the citizen was not waiting).
    pub waited_s: Option<i64>,
    /// Office seconds it had waited in every queue it joined today, this
    /// one included (a transferred ticket's waits added up); None with
    /// `waited_s`.
    pub total_wait_s: Option<i64>,
    /// None while the ticket is at the window.
    pub end: Option<VisitEnd>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WindowState {
    pub staff: Option<Staff>,
    pub paused: Option<PauseReason>,
    /// The ticket at the window (called or serving).
    pub current: Option<usize>,
    /// When the window entered its current status.
    #[serde(with = "super::checkpoint::instant")]
    pub since: DateTime<Utc>,
    /// Tickets this window finished today, whatever the outcome.
    pub served_today: u32,
    /// Cases (件) those tickets handled: each its `items`, a consultation
    /// none.
    pub cases_today: u32,
    /// Seconds of service of the tickets it finished today.
    pub service_s_today: i64,
    /// The last ticket it finished, which an unaddressed rating belongs to.
    pub last_finished: Option<usize>,
    #[serde(with = "super::checkpoint::instant_opt")]
    pub last_call_at: Option<DateTime<Utc>>,
    /// Times of the no-shows in a row since the last ticket it served.
    pub no_show_run: Vec<DateTime<Utc>>,
    /// Tickets it finished today that were rated.
    pub rated_today: u32,
    /// How today's ratings at its pad came (`rules/rating_integrity.rs`).
    pub rating_audit: RatingAudit,
    /// Office seconds spent today in each status before `since`, indexed
    /// by [`WindowStatus::index`].
    pub status_s: [i64; WindowStatus::COUNT],
    /// The visit of its current ticket, by index into the hall's visits.
    pub visit: Option<usize>,
    /// Its last visits' ends and their office seconds from call to end,
    /// newest last: the pace the wait estimate reads (`domain/wait.rs`).
    pub recent: VecDeque<(DateTime<Utc>, i64)>,
}

impl WindowState {
    fn new(now: DateTime<Utc>) -> Self {
        Self {
            staff: None,
            paused: None,
            current: None,
            since: now,
            served_today: 0,
            cases_today: 0,
            service_s_today: 0,
            last_finished: None,
            last_call_at: None,
            no_show_run: Vec::new(),
            rated_today: 0,
            rating_audit: RatingAudit::default(),
            status_s: [0; WindowStatus::COUNT],
            visit: None,
            recent: VecDeque::new(),
        }
    }
}

/// How a window's ratings of the day came, each weighed once when it was
/// taken against the hall's `rating_integrity` limits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RatingAudit {
    /// Ratings sooner after the finish than a citizen could give them.
    pub pressed: u32,
    /// Ratings within the quick limit of the finish.
    pub quick: u32,
    /// Ratings while nobody was logged in at the window.
    pub logged_out: u32,
    /// Ratings pressed or given while logged out, each counted once.
    pub suspect: u32,
}

/// A call as screens show it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CallRecord {
    pub ticket: usize,
    pub window: usize,
    #[serde(with = "super::checkpoint::instant")]
    pub at: DateTime<Utc>,
    pub recall: bool,
}

/// Something the world outside the core should learn about.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// A ticket was called (or recalled) to a window: screens announce it.
    Called(CallRecord),
    /// A window's status, staff, ticket or count changed.
    WindowChanged(usize),
    /// A service's waiting count changed.
    QueueChanged(usize),
    /// A device came online or went offline.
    PresenceChanged { device: DeviceId, online: bool },
    /// A local day ended: its final figures, to keep.
    DayEnded(Box<super::stats::DayFigures>),
    /// A new local day began and the day's state was reset: redraw everything.
    DayStarted(NaiveDate),
    /// An alert opened or changed.
    AlertChanged(String),
    /// A case, card or bad review's follow-up opened or changed.
    Case(super::cases::CaseEffect),
}

/// The result of applying one input.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    /// The answer for the device, for inputs that carry a message id.
    pub reply: Option<Reply>,
    pub effects: Vec<Effect>,
    /// The input was seen before: nothing changed and `reply` repeats the first answer.
    pub duplicate: bool,
    /// The input belongs in the event log (refused ones too, so that a
    /// replay answers their redelivery the same way).
    pub record: bool,
}

/// One hall's state for the current local day.
///
/// It is kept as a checkpoint (`Hall::checkpoint`) without its spec, which
/// the configuration gives again.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Hall {
    #[serde(skip, default = "super::checkpoint::restoring_spec")]
    pub(super) spec: Arc<HallSpec>,
    pub(super) day: NaiveDate,
    pub(super) tickets: Vec<Ticket>,
    pub(super) by_no: HashMap<TicketNo, usize>,
    /// Today's tickets by their phone-page token.
    pub(super) by_token: HashMap<TicketToken, usize>,
    /// The last sequence number issued per service today.
    pub(super) seq: Vec<u32>,
    pub(super) queues: Queues,
    pub(super) windows: Vec<WindowState>,
    pub(super) calls: VecDeque<CallRecord>,
    /// Each device's last known presence and since when.
    pub(super) presence: BTreeMap<DeviceId, (bool, DateTime<Utc>)>,
    /// The replies to the last 24 h of message ids.
    pub(super) seen: super::seen::Seen,
    /// Alerts: active ones and those resolved in the last two days.
    pub(super) alerts: Vec<Alert>,
    /// Each alert's index in `alerts`, by id.
    pub(super) alert_ids: HashMap<String, usize>,
    /// The active alert of each (rule, subject), by index into `alerts`.
    pub(super) open_alerts: ByRule<usize>,
    /// The alerts that may still escalate.
    pub(super) escalations: Escalations,
    /// Conditions a person resolved while they persisted: not reopened
    /// until the condition clears once.
    pub(super) silenced: ByRule<super::alert::Severity>,
    /// Since when each service has been short of at least one window.
    pub(super) gap_since: HashMap<usize, DateTime<Utc>>,
    /// Today's calls and how they ended.
    pub(super) visits: Vec<Visit>,
    /// Today's rated tickets by when they were rated.
    pub(super) rated: BTreeSet<(DateTime<Utc>, usize)>,
    /// Per service, the seconds of service of the tickets finished today
    /// and how many they are: the kiosk's wait estimate, without walking
    /// the day's tickets for every ticket issued.
    pub(super) finished: Vec<(i64, i64)>,
    /// Per service, by the service each ticket was issued for: the tickets
    /// finished today and the cases they counted, which the staffing
    /// advice takes from the day's forecast.
    pub(super) done_for: Vec<super::load::Done>,
    /// Tickets issued per quarter hour on earlier days, newest last.
    pub(super) history: VecDeque<super::load::DayArrivals>,
    /// The arrival profile learnt from `history`, when there is enough.
    pub(super) profile: Option<super::load::ArrivalProfile>,
    /// When each supervision rule was last checked.
    pub(super) checks: Checks,
    /// Today's office hours as instants.
    pub(super) office: OfficeDay,
    /// Today's logins at windows, for attendance.
    pub(super) sessions: Vec<super::duty::Session>,
    /// Per service, today's walk-in tickets: what its daily cap counts.
    pub(super) walk_ins: Vec<u32>,
    /// Per kiosk, when its issuing rate lets the next ticket through
    /// without drawing on its burst (the theoretical arrival time).
    pub(super) kiosk_next: HashMap<DeviceId, DateTime<Utc>>,
    /// Cases, cards and bad reviews' follow-ups: they outlive the day.
    pub(super) cases: super::cases::CaseBook,
    /// Appointments (预约): they outlive the day too.
    pub(super) bookings: super::booking::BookingBook,
    /// Staff lapses on the month's earlier days, for the repeat findings.
    pub(super) month: super::repeat::MonthTally,
}

impl Hall {
    /// A hall at the start of the local day of `now`, with nobody logged in.
    /// Windows are offline since local midnight, so that a hall built at any
    /// moment of the day equals one that was running since it began.
    pub fn new(spec: Arc<HallSpec>, now: DateTime<Utc>) -> Self {
        let services = spec.services.len();
        let windows = spec.windows.len();
        let day = spec.local_date(now);
        let midnight = spec.day_start(day);
        let office = OfficeDay::new(&spec, day);
        Self {
            day,
            tickets: Vec::new(),
            by_no: HashMap::new(),
            by_token: HashMap::new(),
            seq: vec![0; services],
            walk_ins: vec![0; services],
            kiosk_next: HashMap::new(),
            queues: Queues::new(services),
            windows: (0..windows).map(|_| WindowState::new(midnight)).collect(),
            calls: VecDeque::new(),
            presence: BTreeMap::new(),
            seen: super::seen::Seen::default(),
            alerts: Vec::new(),
            alert_ids: HashMap::new(),
            open_alerts: ByRule::default(),
            escalations: Escalations::default(),
            silenced: ByRule::default(),
            gap_since: HashMap::new(),
            visits: Vec::new(),
            rated: BTreeSet::new(),
            finished: vec![(0, 0); services],
            done_for: vec![Default::default(); services],
            history: VecDeque::new(),
            profile: None,
            checks: Checks::default(),
            office,
            sessions: Vec::new(),
            cases: super::cases::CaseBook::default(),
            bookings: super::booking::BookingBook::default(),
            month: super::repeat::MonthTally::default(),
            spec,
        }
    }

    /// The hall's cases, cards and follow-ups.
    pub fn cases(&self) -> &super::cases::CaseBook {
        &self.cases
    }

    /// Puts the case book the store kept in place, before the log of the
    /// days replayed is applied over it (what it already holds is kept).
    pub fn restore_cases(&mut self, book: super::cases::CaseBook) {
        self.cases = book;
    }

    /// The hall's appointments.
    pub fn bookings(&self) -> &super::booking::BookingBook {
        &self.bookings
    }

    /// Puts the appointments the store kept in place, before the log of
    /// the days replayed is applied over them.
    pub fn restore_bookings(&mut self, bookings: Vec<super::booking::Booking>) {
        self.bookings = super::booking::BookingBook::restore(bookings, &self.spec.bookings);
    }

    /// The figures of the current month's earlier days, as the store kept
    /// them: the repeat findings count their lapses (a day the hall ends
    /// itself is counted as it ends).
    pub fn keep_past_days(&mut self, days: &[super::stats::DayFigures]) {
        for d in days {
            self.month.keep(d, self.day);
        }
    }

    pub fn spec(&self) -> &HallSpec {
        &self.spec
    }

    pub fn day(&self) -> NaiveDate {
        self.day
    }

    pub fn tickets(&self) -> &[Ticket] {
        &self.tickets
    }

    pub fn windows(&self) -> &[WindowState] {
        &self.windows
    }

    pub fn ticket(&self, no: &TicketNo) -> Option<&Ticket> {
        self.by_no.get(no).map(|&i| &self.tickets[i])
    }

    pub fn recent_calls(&self) -> impl Iterator<Item = &CallRecord> {
        self.calls.iter()
    }

    pub fn waiting(&self, service: usize) -> usize {
        self.queues.waiting(service)
    }

    pub fn presence(&self) -> &BTreeMap<DeviceId, (bool, DateTime<Utc>)> {
        &self.presence
    }

    /// A window's load against its benchmark: the cases it finished today
    /// over its benchmark (25 unless configured), or at a window whose
    /// benchmark counts people, the tickets it finished.
    pub fn load(&self, window: usize) -> f64 {
        let benchmark = self.spec.windows[window].benchmark.max(1);
        f64::from(self.counted_today(window)) / f64::from(benchmark)
    }

    /// What window `w` finished today in the unit its benchmark counts.
    pub fn counted_today(&self, w: usize) -> u32 {
        let state = &self.windows[w];
        match self.spec.windows[w].counts {
            super::spec::BenchmarkUnit::Cases => state.cases_today,
            super::spec::BenchmarkUnit::People => state.served_today,
        }
    }

    pub fn window_status(&self, window: usize) -> WindowStatus {
        let w = &self.windows[window];
        match (&w.staff, w.paused, w.current) {
            (None, _, _) => WindowStatus::Offline,
            (Some(_), Some(_), _) => WindowStatus::Paused,
            (Some(_), None, Some(t)) if self.tickets[t].state == TicketState::Serving => {
                WindowStatus::Serving
            }
            (Some(_), None, Some(_)) => WindowStatus::Calling,
            (Some(_), None, None) => WindowStatus::Idle,
        }
    }

    /// Applies one input at `now`.
    pub fn apply(&mut self, input: &Input, now: DateTime<Utc>) -> Applied {
        let mut effects = self.roll_day(now);
        self.forget_old_ids(now);
        // Whatever came due before this input, at the time it came due:
        // cards first, which the repeat findings read.
        self.tick_cases(now, &mut effects);
        self.close_bookings(now, &mut effects);
        effects.extend(self.supervise(now));

        if let Some(applied) = self.apply_case_input(input, now, &mut effects) {
            return applied;
        }
        if let Some((reply, changed)) = self.apply_booking(input, now, &mut effects) {
            return Applied {
                duplicate: !changed && matches!(reply, Reply::Booked { .. }),
                reply: Some(reply),
                effects,
                record: changed,
            };
        }

        if let Input::AlertAction {
            alert,
            op,
            by,
            note,
        } = input
        {
            let reply = match self.act_on_alert(alert, *op, by, note.as_deref(), now) {
                Ok(changed) => {
                    effects.extend(changed);
                    Reply::AlertDone {
                        alert: alert.clone(),
                    }
                }
                Err(refusal) => Reply::AlertRefused(refusal),
            };
            let record = matches!(reply, Reply::AlertDone { .. });
            return Applied {
                reply: Some(reply),
                effects,
                duplicate: false,
                record,
            };
        }

        if let Input::GiveUp { token } = input {
            let (reply, changed) = self.give_up(token, now, &mut effects);
            if changed {
                self.checks.changed(input.changes());
                effects.extend(self.supervise(now));
            }
            return Applied {
                duplicate: !changed && matches!(reply, Reply::GaveUp { .. }),
                reply: Some(reply),
                effects,
                record: changed,
            };
        }

        if let Input::Presence { device, online } = input {
            if self.spec.device_kind(device).is_none() {
                return Applied {
                    reply: Some(Reply::Refused(Refusal::with(
                        super::Reason::UnknownDevice,
                        format!("设备 {device} 未登记"),
                    ))),
                    effects,
                    duplicate: false,
                    record: false,
                };
            }
            let record = self.set_presence(device, *online, now, &mut effects);
            if record {
                self.checks.changed(input.changes());
            }
            effects.extend(self.supervise(now));
            return Applied {
                reply: None,
                effects,
                duplicate: false,
                record,
            };
        }

        let Some((device, id)) = self.sender(input) else {
            // A device this hall does not have: refused, and neither logged
            // nor remembered, so stray traffic cannot grow the hall's memory.
            let message = match input {
                Input::Ticket { kiosk, .. } => format!("取号机 {kiosk} 未登记"),
                Input::Window { window, .. } | Input::Rating { window, .. } => {
                    format!("窗口 {window} 未登记")
                }
                _ => super::Reason::UnknownDevice.message().to_owned(),
            };
            return Applied {
                reply: Some(Reply::Refused(Refusal::with(
                    super::Reason::UnknownDevice,
                    message,
                ))),
                effects,
                duplicate: false,
                record: false,
            };
        };
        if let Some(reply) = self.seen.get(&device, &id) {
            return Applied {
                reply: Some(reply.clone()),
                effects,
                duplicate: true,
                record: false,
            };
        }

        let reply = match input {
            Input::Ticket { kiosk, request, .. } => self.issue(kiosk, request, now, &mut effects),
            Input::Window { window, op, .. } => match self.spec.window_index(window) {
                Some(w) => self.window_op(w, op, now, &mut effects),
                None => Reply::Refused(Refusal::new(super::Reason::UnknownDevice)),
            },
            Input::Rating { window, rating, .. } => match self.spec.window_index(window) {
                Some(w) => self.rate(w, rating, now),
                None => Reply::Refused(Refusal::new(super::Reason::UnknownDevice)),
            },
            Input::Presence { .. }
            | Input::AlertAction { .. }
            | Input::Case { .. }
            | Input::CardAction { .. }
            | Input::FollowUpStep { .. }
            | Input::GiveUp { .. }
            | Input::Book { .. }
            | Input::CancelBooking { .. } => unreachable_presence(),
        };
        self.seen.remember(now, device, id.clone(), reply.clone());
        // What this input changed may open or clear alerts at once.
        if reply.refusal().is_none() {
            self.checks.changed(input.changes());
        }
        effects.extend(self.supervise(now));
        self.follow_bad_reviews(&mut effects, now);
        Applied {
            reply: Some(reply),
            effects,
            duplicate: false,
            record: true,
        }
    }

    /// Advances time with no input: starts a new day at local midnight and
    /// runs the supervision rules.
    pub fn tick(&mut self, now: DateTime<Utc>) -> Vec<Effect> {
        self.forget_old_ids(now);
        let mut effects = self.roll_day(now);
        self.tick_cases(now, &mut effects);
        self.close_bookings(now, &mut effects);
        effects.extend(self.supervise(now));
        effects
    }

    /// When `secs` seconds of office time have passed since `base`
    /// (`HallSpec::office_deadline`).
    pub(super) fn office_deadline(&self, base: DateTime<Utc>, secs: i64) -> Option<DateTime<Utc>> {
        self.office.deadline(&self.spec, base, secs)
    }

    /// When `secs` seconds of window `w`'s duty have passed since `base`
    /// (`HallSpec::duty_deadline`).
    pub(super) fn duty_deadline(
        &self,
        w: usize,
        base: DateTime<Utc>,
        secs: i64,
    ) -> Option<DateTime<Utc>> {
        self.spec.duty_deadline(w, base, secs)
    }

    /// The device that sent an input and its message id.
    fn sender(&self, input: &Input) -> Option<(DeviceId, MsgId)> {
        let device = self.spec.device_of(input)?;
        // A kiosk is named by its topic; only a configured one is a sender.
        if matches!(input, Input::Ticket { .. })
            && self.spec.device_kind(device) != Some(DeviceKind::Kiosk)
        {
            return None;
        }
        Some((device.clone(), input.msg_id()?.clone()))
    }

    /// Ends every day before `now`'s, one by one as a live hall ticking
    /// every second would (a day with no events ends too: its rota still
    /// ran), and starts `now`'s.
    fn roll_day(&mut self, now: DateTime<Utc>) -> Vec<Effect> {
        let today = self.spec.local_date(now);
        let mut effects = Vec::new();
        while self.day < today {
            let next = self
                .day
                .succ_opt()
                .map_or(now, |d| self.spec.day_start(d))
                .min(now);
            effects.extend(self.end_day(next));
        }
        effects
    }

    /// Ends the hall's day at `end`, its midnight, and starts the next.
    fn end_day(&mut self, end: DateTime<Utc>) -> Vec<Effect> {
        // What came due before the day ended, at its last instant, as a
        // live hall ticking every second saw it: cards, and the rules whose
        // deadlines passed after the day's last event (a 红牌 issued at the
        // close, a shift not arrived), so a replay finds them on their day.
        let last = end - Duration::milliseconds(1);
        let mut effects = Vec::new();
        self.tick_cases(last, &mut effects);
        self.close_bookings(last, &mut effects);
        effects.extend(self.supervise(last));
        // The day that ended, counted at its midnight, and its arrivals
        // learnt for tomorrow's forecast.
        let ended = self.figures(end, true);
        self.learn_day();
        let fresh = Hall::new(self.spec.clone(), end);
        self.month.keep(&ended, fresh.day);
        self.month.start(fresh.day);
        let today = fresh.day;
        self.day = fresh.day;
        self.tickets = fresh.tickets;
        self.by_no = fresh.by_no;
        self.by_token = fresh.by_token;
        self.seq = fresh.seq;
        self.walk_ins = fresh.walk_ins;
        self.queues = fresh.queues;
        self.windows = fresh.windows;
        self.calls = fresh.calls;
        self.visits = fresh.visits;
        self.rated = fresh.rated;
        self.finished = fresh.finished;
        self.done_for = fresh.done_for;
        // A new day: every rule looks afresh.
        self.checks = fresh.checks;
        self.office = fresh.office;
        self.sessions = fresh.sessions;
        effects.push(Effect::DayEnded(Box::new(ended)));
        effects.push(Effect::DayStarted(today));
        effects.extend(self.end_day_alerts(end));
        effects
    }

    /// At a new day, alerts about yesterday's tickets and counts are over;
    /// a bad review stays until a person records its follow-up.
    fn end_day_alerts(&mut self, now: DateTime<Utc>) -> Vec<Effect> {
        // Stamped at midnight, not when the new day was first noticed, so a
        // replay stamps them alike.
        let midnight = self.spec.day_start(self.day);
        let now = midnight.min(now);
        let mut changed = Vec::new();
        for a in &mut self.alerts {
            if a.is_active() && a.rule.resolves_itself() {
                a.state = AlertState::Resolved;
                a.updated_at = now;
                a.resolved = Some(Action {
                    by: "系统".into(),
                    at: now,
                    note: Some("营业日结束，自动办结".into()),
                });
                changed.push(Effect::AlertChanged(a.id.clone()));
            }
        }
        self.silenced.clear();
        self.gap_since.clear();
        // Keep what is active, and what was resolved within two days.
        let horizon = now - Duration::days(2);
        self.alerts
            .retain(|a| a.is_active() || a.resolved.as_ref().is_some_and(|r| r.at >= horizon));
        self.open_alerts = ByRule::default();
        self.alert_ids.clear();
        for (i, a) in self.alerts.iter().enumerate() {
            self.alert_ids.insert(a.id.clone(), i);
            if a.is_active() {
                self.open_alerts.insert(a.rule, a.subject.clone(), i);
            }
        }
        self.escalations.rebuild(&self.alerts);
        changed
    }

    fn forget_old_ids(&mut self, now: DateTime<Utc>) {
        self.seen.forget_before(now - DEDUP_WINDOW);
    }

    fn set_presence(
        &mut self,
        device: &DeviceId,
        online: bool,
        now: DateTime<Utc>,
        effects: &mut Vec<Effect>,
    ) -> bool {
        if self.spec.device_kind(device).is_none() {
            return false;
        }
        if self
            .presence
            .get(device)
            .is_some_and(|(was, _)| *was == online)
        {
            return false;
        }
        self.presence.insert(device.clone(), (online, now));
        effects.push(Effect::PresenceChanged {
            device: device.clone(),
            online,
        });
        true
    }

    /// Whether kiosk `kiosk` may issue a ticket at `now` under the hall's
    /// issuing rate: None when it may (and the ticket is counted), else
    /// the whole seconds until it may. A burst of `n` per minute, then one
    /// every 60/n seconds.
    fn kiosk_wait_s(&mut self, kiosk: &DeviceId, now: DateTime<Utc>) -> Option<i64> {
        let n = i64::from(self.spec.kiosk_per_minute?);
        let interval = chrono::Duration::milliseconds(60_000 / n);
        let burst = interval * (n - 1) as i32;
        let due = self.kiosk_next.get(kiosk).copied().unwrap_or(now).max(now);
        if due - now > burst {
            let wait = (due - burst - now).num_milliseconds();
            return Some((wait + 999) / 1000);
        }
        self.kiosk_next.insert(kiosk.clone(), due + interval);
        None
    }

    fn issue(
        &mut self,
        kiosk: &DeviceId,
        request: &TicketRequest,
        now: DateTime<Utc>,
        effects: &mut Vec<Effect>,
    ) -> Reply {
        if self.spec.device_kind(kiosk) != Some(DeviceKind::Kiosk) {
            return Reply::Refused(Refusal::with(
                super::Reason::UnknownDevice,
                format!("取号机 {kiosk} 未登记"),
            ));
        }
        let Some(service) = self.spec.service_index(&request.service) else {
            return Reply::Refused(Refusal::with(
                super::Reason::UnknownService,
                format!("服务类别 {} 不存在", request.service),
            ));
        };
        if self.spec.refuse_outside_hours && !self.spec.is_open(now) {
            return Reply::Refused(Refusal::with(
                super::Reason::HallClosed,
                "现在不在办公时间，请在办公时间内取号",
            ));
        }
        if request.priority == Priority::Appointment && request.appointment.is_none() {
            return Reply::Refused(Refusal::with(
                super::Reason::BadRequest,
                "预约取号需要预约号",
            ));
        }
        // A booking reference checks in within its window: the ticket
        // takes the appointment class. Otherwise it is a normal ticket,
        // and the reply says why.
        let next_no = TicketNo::new(&self.spec.services[service].prefix, self.seq[service] + 1);
        let (priority, booking, appointment_note) = match &request.appointment {
            Some(reference) => match self.bookings.check_in_for(
                &self.spec,
                reference,
                &request.service,
                &next_no,
                now,
            ) {
                Ok(n) => (Priority::Appointment, Some(n), None),
                Err(why) => {
                    let p = match request.priority {
                        Priority::Appointment => Priority::Normal,
                        p => p,
                    };
                    (p, None, Some(why))
                }
            },
            None => (request.priority, None, None),
        };
        let green_reason = request
            .green_reason
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty());
        let legacy = request.green_reason.as_deref() == Some(super::event::UNRECORDED_REASON);
        if request.priority == Priority::Green
            && (green_reason.is_none() || (request.issued_by.is_none() && !legacy))
        {
            return Reply::Refused(Refusal::new(super::Reason::GreenReasonRequired));
        }
        // Who granted it must be someone the hall registers, as at a login.
        if request.priority == Priority::Green
            && let Some(by) = &request.issued_by
            && !self.spec.knows_staff(by)
        {
            return Reply::Refused(Refusal::with(
                super::Reason::UnknownStaff,
                format!("工号 {by} 未登记"),
            ));
        }
        // Appointments were promised a slot, and the green channel (granted
        // by staff) is for those who cannot come back: the rest are
        // walk-ins, which the cap counts.
        let walk_in = !matches!(priority, Priority::Appointment | Priority::Green);
        if walk_in
            && let Some(cap) = self.spec.services[service].daily_cap
            && self.walk_ins[service] >= cap
        {
            return Reply::Refused(Refusal::with(
                super::Reason::DailyCap,
                format!(
                    "今日{}号已发完（每日 {cap} 个），请改日再来或预约办理",
                    self.spec.services[service].name
                ),
            ));
        }
        if walk_in && self.spec.issuing_stopped(now) {
            let at = self
                .spec
                .stop_issuing_at(self.spec.local_date(now))
                .map(|t| t.format("%H:%M ").to_string())
                .unwrap_or_default();
            return Reply::Refused(Refusal::with(
                super::Reason::IssuingStopped,
                format!("今日 {at}已停止取号，请明天再来或预约办理"),
            ));
        }
        if let Some(wait_s) = self.kiosk_wait_s(kiosk, now) {
            return Reply::Refused(Refusal::with(
                super::Reason::KioskRate,
                format!("取号过于频繁，请 {wait_s} 秒后再取号"),
            ));
        }
        if walk_in {
            self.walk_ins[service] += 1;
        }
        let green_reason = green_reason
            .filter(|_| request.priority == Priority::Green)
            .map(str::to_owned);
        self.seq[service] += 1;
        let spec = &self.spec.services[service];
        let no = TicketNo::new(&spec.prefix, self.seq[service]);
        let index = self.tickets.len();
        if let Some(n) = booking
            && self.bookings.checked_in(&self.spec.bookings, n, &no, now)
        {
            effects.push(Effect::Case(super::cases::CaseEffect::Booking(n)));
        }
        let ticket = Ticket {
            no: no.clone(),
            service,
            issued_for: service,
            priority,
            appointment: booking.and(request.appointment.clone()),
            green_reason,
            issued_by: request.issued_by.clone(),
            kiosk: kiosk.clone(),
            issued_at: now,
            queued_at: now,
            state: TicketState::Waiting,
            window: None,
            called_at: None,
            started_at: None,
            finished_at: None,
            outcome: None,
            rating: None,
            rated_at: None,
            rating_comment: None,
            transfers: 0,
            no_shows: 0,
            token: request.token.clone(),
            wait_due: DueMemo::default(),
        };
        let key = ticket.queue_key(index);
        self.tickets.push(ticket);
        self.by_no.insert(no.clone(), index);
        if let Some(token) = &request.token {
            self.by_token.insert(token.clone(), index);
        }
        self.queues.push(service, key);
        effects.push(Effect::QueueChanged(service));

        let waiting_ahead = self.queues.ahead_of(service, &key) as u32;
        Reply::Ticket {
            ticket: no,
            service: spec.code.clone(),
            service_name: spec.name.clone(),
            waiting_ahead,
            estimated_wait_s: self.estimate_wait(service, waiting_ahead as usize, now),
            issued_at: now,
            token: request.token.clone(),
            priority,
            appointment_note,
        }
    }

    /// Every ticket still waiting, in the order the default policy would call
    /// them for a window serving every service.
    pub fn waiting_tickets(&self) -> Vec<&Ticket> {
        let all: Vec<usize> = (0..self.spec.services.len()).collect();
        let mut keys: Vec<QueueKey> = all
            .iter()
            .flat_map(|&s| self.queues.iter(s).copied())
            .collect();
        keys.sort();
        keys.iter().map(|k| &self.tickets[k.ticket()]).collect()
    }

    pub(super) fn take_from_queue(&mut self, ticket: usize) -> bool {
        let t = &self.tickets[ticket];
        let key = t.queue_key(ticket);
        self.queues.remove(t.service, &key)
    }

    pub(super) fn put_in_queue(&mut self, ticket: usize) {
        let t = &self.tickets[ticket];
        let key = t.queue_key(ticket);
        self.queues.push(t.service, key);
    }
}

/// Presence is handled before dispatch; keeping the match exhaustive without
/// a panic path.
fn unreachable_presence() -> Reply {
    Reply::Refused(Refusal::new(super::Reason::UnknownOp))
}
