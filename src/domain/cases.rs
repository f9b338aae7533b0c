//! 限时办结: every case a window accepts (承诺件) followed to its promised
//! deadline, and the cards (预警, 黄牌, 红牌) it earns when it runs late.
//!
//! A case opens when a window finishes a ticket `accepted` with a case
//! reference and its promised working days. The back office reports the
//! rest of its life: `suspend` (补正, 特别程序: the clock stops), `resume`,
//! `complete` (办结), `deliver` (出件) and `withdraw`.
//!
//! Deadlines count working days on the hall's calendar: the day of
//! acceptance does not count (开始的当日不计入), nor do the working days of a
//! suspension, from the day it starts to the day it ends. A case is due at
//! the close of office hours of its last working day.
//!
//! Cards, with the hall's [`CardLimits`]: 预警 at the opening of the last
//! `warn_days` working days; 黄牌 at the due close when the case is not
//! complete; 红牌 at the close of the `red_days`th working day after it. A
//! card names the case, its department and the staff member who accepted
//! it. 黄牌 and 红牌 are issued, explained by the department (情况说明), and
//! closed by a supervisor: upheld, or withdrawn on appeal with the reason.
//! A 预警 lapses by itself once the case completes or a 黄牌 follows. Cards
//! are never deleted.
//!
//! The book keeps the next moment each open case changes in an index, so
//! a tick costs the cases due, not the cases open.
//!
//! Pure, like the rest of the core: every function takes `now`.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::event::Reason;
use super::ids::{ServiceCode, StaffId, TicketNo};
use super::spec::HallSpec;

/// When cards are issued, in working days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CardLimits {
    /// 预警 at the opening of the last this many working days (1: the due
    /// day itself). 0: no 预警.
    pub warn_days: u32,
    /// 红牌 at the close of the this-many-th working day after the due day.
    pub red_days: u32,
}

impl Default for CardLimits {
    fn default() -> Self {
        Self {
            warn_days: 1,
            red_days: 3,
        }
    }
}

code_enum! {
/// Where a case is in its life.
pub enum CaseState {
    /// Accepted and running against its deadline.
    Open,
    /// Waiting for the applicant (补正) or a special procedure: the clock
    /// stops.
    Suspended,
    /// 办结: the decision is made.
    Completed,
    /// 出件: the result has reached the applicant.
    Delivered,
    /// Withdrawn by the applicant.
    Withdrawn,
}
}

impl CaseState {
    /// Still running (or stopped) against its deadline.
    pub fn is_pending(self) -> bool {
        matches!(self, CaseState::Open | CaseState::Suspended)
    }
}

code_enum! {
/// What the back office reports of a case.
pub enum CaseOp {
    Suspend,
    Resume,
    Complete,
    Deliver,
    Withdraw,
}
}

/// A case as accepted at a window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCase {
    pub reference: String,
    pub service: ServiceCode,
    /// The department's code, when the service names one.
    pub department: Option<String>,
    /// Who accepted it.
    pub staff: Option<StaffId>,
    pub ticket: Option<TicketNo>,
    pub promised_days: u32,
}

/// One suspension: the local dates it started and (once resumed) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suspension {
    pub from: NaiveDate,
    pub to: Option<NaiveDate>,
}

/// A case (承诺件).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Case {
    pub reference: String,
    pub service: ServiceCode,
    pub department: Option<String>,
    pub staff: Option<StaffId>,
    pub ticket: Option<TicketNo>,
    pub accepted_at: DateTime<Utc>,
    pub promised_days: u32,
    pub state: CaseState,
    pub suspensions: Vec<Suspension>,
    /// When it was completed (办结), delivered or withdrawn.
    pub closed_at: Option<DateTime<Utc>>,
    /// When it is due: None while suspended (the clock stands), or when the
    /// calendar has no working day left to count.
    pub due: Option<DateTime<Utc>>,
    /// The cards it earned, by index into the book's cards.
    pub cards: Vec<usize>,
    /// What the back office reported of it, in order.
    #[serde(default)]
    pub history: Vec<CaseEntry>,
}

/// A back-office report of a case, as it arrives by REST or MQTT: `id` is
/// unique within `source`, the back-office system that sends it, so the
/// same report sent twice (or by both routes) is one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseEvent {
    pub source: String,
    pub id: String,
    #[serde(rename = "ref")]
    pub reference: String,
    pub op: CaseOp,
    /// Why: required to suspend (补正, 特别程序), optional otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A report as the case keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseEntry {
    pub source: String,
    pub id: String,
    pub op: CaseOp,
    pub at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// What a report did: the book's changes, or nothing when it was the
/// repeat of one already taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reported {
    pub effects: Vec<CaseEffect>,
    pub duplicate: bool,
}

impl Case {
    /// Completed after its deadline (or not completed and past it at `now`).
    pub fn is_late(&self, now: DateTime<Utc>) -> bool {
        match (self.due, self.state) {
            (Some(due), CaseState::Completed | CaseState::Delivered) => {
                self.closed_at.is_some_and(|at| at > due)
            }
            (Some(due), CaseState::Open) => now > due,
            _ => false,
        }
    }
}

code_enum! {
/// The colour of a card.
pub enum CardKind: PartialOrd, Ord {
    /// 预警: the deadline is near.
    Warning,
    /// 黄牌: overdue.
    Yellow,
    /// 红牌: overdue by the configured working days.
    Red,
}
}

impl CardKind {
    pub fn label(self) -> &'static str {
        match self {
            CardKind::Warning => "预警",
            CardKind::Yellow => "黄牌",
            CardKind::Red => "红牌",
        }
    }
}

code_enum! {
/// Where a card is in its life.
pub enum CardState {
    /// Issued, waiting for the department's 情况说明.
    Issued,
    /// The department explained it; a supervisor decides.
    Explained,
    /// Closed by a supervisor: the card stands.
    Upheld,
    /// Closed by a supervisor on appeal: the card is withdrawn, with the
    /// reason.
    Withdrawn,
    /// A 预警 that is over: the case completed, or a 黄牌 followed.
    Lapsed,
}
}

impl CardState {
    pub fn is_open(self) -> bool {
        matches!(self, CardState::Issued | CardState::Explained)
    }
}

/// Who did what to a card, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardNote {
    pub by: String,
    pub at: DateTime<Utc>,
    pub text: String,
}

/// What a card is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CardSubject {
    /// A case that ran late (or is about to).
    Case { reference: String },
    /// A step of a bad review's follow-up that ran late.
    FollowUp { id: String, step: FollowStep },
}

/// A card (预警, 黄牌 or 红牌) against a department, for a case or a
/// follow-up step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Card {
    /// `{case}-{kind}` (one card of each colour per case), or
    /// `{follow-up}-{step}-yellow`.
    pub id: String,
    pub kind: CardKind,
    pub subject: CardSubject,
    pub department: Option<String>,
    pub staff: Option<StaffId>,
    pub issued_at: DateTime<Utc>,
    /// The case's deadline when the card was issued.
    pub due: DateTime<Utc>,
    pub state: CardState,
    pub explanation: Option<CardNote>,
    /// The supervisor's decision and its reason.
    pub closure: Option<CardNote>,
}

code_enum! {
/// What a supervisor or a department does to a card.
pub enum CardOp {
    /// The department's 情况说明.
    Explain,
    /// A supervisor upholds it.
    Uphold,
    /// A supervisor withdraws it on appeal.
    Withdraw,
}
}

code_enum! {
/// The steps of a bad review's follow-up, in order.
pub enum FollowStep: PartialOrd, Ord {
    /// 核实: what happened, from the window and the record.
    Verify,
    /// 整改: what the department changed.
    Rectify,
    /// 回访: the citizen called back.
    CallBack,
}
}

impl FollowStep {
    pub fn label(self) -> &'static str {
        match self {
            FollowStep::Verify => "核实",
            FollowStep::Rectify => "整改",
            FollowStep::CallBack => "回访",
        }
    }

    fn next(self) -> Option<FollowStep> {
        match self {
            FollowStep::Verify => Some(FollowStep::Rectify),
            FollowStep::Rectify => Some(FollowStep::CallBack),
            FollowStep::CallBack => None,
        }
    }
}

/// Working days each step of a follow-up may take, counted from the end
/// of the step before (the bad review itself for 核实).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FollowUpLimits {
    pub verify_days: u32,
    pub rectify_days: u32,
    pub call_back_days: u32,
}

impl Default for FollowUpLimits {
    fn default() -> Self {
        Self {
            verify_days: 1,
            rectify_days: 5,
            call_back_days: 5,
        }
    }
}

impl FollowUpLimits {
    pub fn days(&self, step: FollowStep) -> u32 {
        match step {
            FollowStep::Verify => self.verify_days,
            FollowStep::Rectify => self.rectify_days,
            FollowStep::CallBack => self.call_back_days,
        }
    }
}

/// A bad review as the follow-up takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFollowUp {
    /// The id of the review's `bad_rating` alert.
    pub id: String,
    pub ticket: TicketNo,
    pub service: ServiceCode,
    pub department: Option<String>,
    /// Who served the citizen.
    pub staff: Option<StaffId>,
    pub score: u8,
    pub comment: Option<String>,
}

/// One step of a follow-up: when it is due, and its record once done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepRecord {
    pub step: FollowStep,
    pub due: Option<DateTime<Utc>>,
    pub done: Option<CardNote>,
}

/// A bad review's follow-up (差评整改): 核实, 整改, 回访, each with its
/// deadline and note.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FollowUp {
    pub id: String,
    pub ticket: TicketNo,
    pub service: ServiceCode,
    pub department: Option<String>,
    pub staff: Option<StaffId>,
    pub score: u8,
    pub comment: Option<String>,
    pub opened_at: DateTime<Utc>,
    /// The steps begun so far; the last is the current one until the
    /// follow-up is done.
    pub steps: Vec<StepRecord>,
}

impl FollowUp {
    /// The step waiting to be done, if any.
    pub fn current(&self) -> Option<&StepRecord> {
        self.steps.last().filter(|s| s.done.is_none())
    }

    pub fn is_done(&self) -> bool {
        self.current().is_none()
    }

    /// Steps done after their deadline.
    pub fn late_steps(&self) -> usize {
        self.steps
            .iter()
            .filter(|s| match (&s.done, s.due) {
                (Some(done), Some(due)) => done.at > due,
                _ => false,
            })
            .count()
    }
}

/// Why the book refused something. The code is part of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseRefusal {
    /// No case with that reference.
    UnknownCase,
    /// A case with that reference is already open.
    DuplicateCase,
    /// The op cannot happen in the case's state (resume when not
    /// suspended, deliver before complete, anything after withdraw).
    OutOfOrder,
    /// Promised days out of 1–3650, or an empty reference.
    BadCase,
    UnknownCard,
    /// The op cannot happen in the card's state, or to a 预警.
    CardOutOfOrder,
    /// A note is required (情况说明, the reason of a decision, a step's record).
    NoteRequired,
    UnknownFollowUp,
    /// Not the follow-up's current step, or it is done.
    StepOutOfOrder,
    /// The report's id was already used by its source for another report.
    IdReused,
}

impl CaseRefusal {
    /// The reason code, as replies and the store carry it.
    pub fn reason(self) -> Reason {
        match self {
            CaseRefusal::UnknownCase => Reason::UnknownCase,
            CaseRefusal::DuplicateCase => Reason::DuplicateCase,
            CaseRefusal::OutOfOrder => Reason::OutOfOrder,
            CaseRefusal::BadCase => Reason::BadCase,
            CaseRefusal::UnknownCard => Reason::UnknownCard,
            CaseRefusal::CardOutOfOrder => Reason::CardOutOfOrder,
            CaseRefusal::NoteRequired => Reason::NoteRequired,
            CaseRefusal::UnknownFollowUp => Reason::UnknownFollowUp,
            CaseRefusal::StepOutOfOrder => Reason::StepOutOfOrder,
            CaseRefusal::IdReused => Reason::IdReused,
        }
    }

    pub fn code(self) -> &'static str {
        self.reason().code()
    }

    pub fn message(self) -> &'static str {
        self.reason().message()
    }
}

/// What changed in the book.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaseEffect {
    /// A case opened or changed: its reference.
    Case(String),
    /// A card was issued or changed: its index.
    Card(usize),
    /// A follow-up opened or moved on: its index.
    FollowUp(usize),
    /// An appointment was booked, moved, cancelled, checked in or missed
    /// (爽约): its index in the hall's bookings.
    Booking(usize),
}

/// The longest promise the book takes, in working days (ten years).
pub const PROMISED_DAYS_MAX: u32 = 3650;

/// What the deadline index holds: a case or a follow-up, by index.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
enum Item {
    Case(usize),
    FollowUp(usize),
}

/// A hall's cases, bad-review follow-ups and the cards they earn: what
/// outlives the days the hall replays.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CaseBook {
    cases: Vec<Case>,
    by_ref: HashMap<String, usize>,
    cards: Vec<Card>,
    by_card: HashMap<String, usize>,
    follow_ups: Vec<FollowUp>,
    by_follow_up: HashMap<String, usize>,
    /// The next moment each pending case or follow-up changes (a card
    /// falls due): the tick takes what is due from the front.
    next: BTreeSet<(DateTime<Utc>, Item)>,
    /// Each entry of `next`, by item.
    next_of: HashMap<Item, DateTime<Utc>>,
    /// The case each back-office report was taken for, by (source, id).
    by_event: HashMap<(String, String), usize>,
    /// The 红牌, by when they were issued: a month's are a range.
    reds: BTreeSet<(DateTime<Utc>, usize)>,
}

impl CaseBook {
    pub fn cases(&self) -> &[Case] {
        &self.cases
    }

    pub fn cards(&self) -> &[Card] {
        &self.cards
    }

    pub fn case(&self, reference: &str) -> Option<&Case> {
        self.by_ref.get(reference).map(|&i| &self.cases[i])
    }

    /// Case `reference`'s place in the book, and the case.
    pub fn case_at(&self, reference: &str) -> Option<(usize, &Case)> {
        self.by_ref.get(reference).map(|&i| (i, &self.cases[i]))
    }

    pub fn card(&self, id: &str) -> Option<&Card> {
        self.by_card.get(id).map(|&i| &self.cards[i])
    }

    /// How many cases are pending (open or suspended).
    pub fn pending(&self) -> usize {
        self.cases.iter().filter(|c| c.state.is_pending()).count()
    }

    /// Opens a case accepted at `now`, and issues what is already due (a
    /// case accepted late on its only day, say).
    pub fn accept(
        &mut self,
        spec: &HallSpec,
        new: NewCase,
        now: DateTime<Utc>,
    ) -> Result<Vec<CaseEffect>, CaseRefusal> {
        if new.reference.trim().is_empty() || !(1..=PROMISED_DAYS_MAX).contains(&new.promised_days)
        {
            return Err(CaseRefusal::BadCase);
        }
        if let Some(&i) = self.by_ref.get(&new.reference) {
            // The same acceptance again (a replay over a book loaded from
            // the store) is already held.
            let held = &self.cases[i];
            if held.accepted_at == now && held.ticket == new.ticket {
                return Ok(Vec::new());
            }
            return Err(CaseRefusal::DuplicateCase);
        }
        let i = self.cases.len();
        let mut case = Case {
            reference: new.reference,
            service: new.service,
            department: new.department,
            staff: new.staff,
            ticket: new.ticket,
            accepted_at: now,
            promised_days: new.promised_days,
            state: CaseState::Open,
            suspensions: Vec::new(),
            closed_at: None,
            due: None,
            cards: Vec::new(),
            history: Vec::new(),
        };
        case.due = due_of(spec, &case);
        self.by_ref.insert(case.reference.clone(), i);
        self.cases.push(case);
        self.schedule(spec, i);
        let mut effects = vec![CaseEffect::Case(self.cases[i].reference.clone())];
        effects.extend(self.tick(spec, now));
        Ok(effects)
    }

    /// A back-office report at `now`: taken once per (source, id), kept in
    /// the case's history. A suspension needs its reason.
    pub fn report_event(
        &mut self,
        spec: &HallSpec,
        event: &CaseEvent,
        now: DateTime<Utc>,
    ) -> Result<Reported, CaseRefusal> {
        let key = (event.source.clone(), event.id.clone());
        if let Some(&i) = self.by_event.get(&key) {
            let case = &self.cases[i];
            let same = case.reference == event.reference
                && case
                    .history
                    .iter()
                    .any(|h| h.source == event.source && h.id == event.id && h.op == event.op);
            return if same {
                Ok(Reported {
                    effects: Vec::new(),
                    duplicate: true,
                })
            } else {
                Err(CaseRefusal::IdReused)
            };
        }
        let reason = event
            .reason
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty());
        // An unknown case is refused as such, whatever else is wrong.
        if !self.by_ref.contains_key(&event.reference) {
            return Err(CaseRefusal::UnknownCase);
        }
        if event.op == CaseOp::Suspend && reason.is_none() {
            return Err(CaseRefusal::NoteRequired);
        }
        let effects = self.report(spec, &event.reference, event.op, now)?;
        if let Some(&i) = self.by_ref.get(&event.reference) {
            self.cases[i].history.push(CaseEntry {
                source: event.source.clone(),
                id: event.id.clone(),
                op: event.op,
                at: now,
                reason: reason.map(str::to_owned),
            });
            self.by_event.insert(key, i);
        }
        Ok(Reported {
            effects,
            duplicate: false,
        })
    }

    /// A book as the store kept it: cases, cards and follow-ups in the
    /// order they were added. Its deadline index is built again.
    pub fn restore(
        spec: &HallSpec,
        cases: Vec<Case>,
        cards: Vec<Card>,
        follow_ups: Vec<FollowUp>,
    ) -> Self {
        let mut book = CaseBook {
            by_ref: cases
                .iter()
                .enumerate()
                .map(|(i, c)| (c.reference.clone(), i))
                .collect(),
            by_card: cards
                .iter()
                .enumerate()
                .map(|(i, c)| (c.id.clone(), i))
                .collect(),
            by_follow_up: follow_ups
                .iter()
                .enumerate()
                .map(|(i, f)| (f.id.clone(), i))
                .collect(),
            by_event: cases
                .iter()
                .enumerate()
                .flat_map(|(i, c)| {
                    c.history
                        .iter()
                        .map(move |h| ((h.source.clone(), h.id.clone()), i))
                })
                .collect(),
            reds: cards
                .iter()
                .enumerate()
                .filter(|(_, c)| c.kind == CardKind::Red)
                .map(|(i, c)| (c.issued_at, i))
                .collect(),
            cases,
            cards,
            follow_ups,
            ..CaseBook::default()
        };
        for i in 0..book.cases.len() {
            book.schedule(spec, i);
        }
        for f in 0..book.follow_ups.len() {
            if let Some(due) = book.follow_ups[f].current().and_then(|s| s.due) {
                book.plan(Item::FollowUp(f), due);
            }
        }
        book
    }

    pub fn follow_up_at(&self, f: usize) -> &FollowUp {
        &self.follow_ups[f]
    }

    pub fn card_at(&self, c: usize) -> &Card {
        &self.cards[c]
    }

    /// What the back office reports of case `reference` at `now`.
    pub fn report(
        &mut self,
        spec: &HallSpec,
        reference: &str,
        op: CaseOp,
        now: DateTime<Utc>,
    ) -> Result<Vec<CaseEffect>, CaseRefusal> {
        // What was due before the report happened first.
        let mut effects = self.tick(spec, now);
        let &i = self.by_ref.get(reference).ok_or(CaseRefusal::UnknownCase)?;
        let today = spec.local_date(now);
        let case = &mut self.cases[i];
        match (op, case.state) {
            (CaseOp::Suspend, CaseState::Open) => {
                case.state = CaseState::Suspended;
                case.suspensions.push(Suspension {
                    from: today,
                    to: None,
                });
                case.due = None;
            }
            (CaseOp::Resume, CaseState::Suspended) => {
                case.state = CaseState::Open;
                if let Some(s) = case.suspensions.last_mut() {
                    s.to = Some(today);
                }
                case.due = due_of(spec, case);
            }
            (CaseOp::Complete, CaseState::Open | CaseState::Suspended) => {
                if case.state == CaseState::Suspended
                    && let Some(s) = case.suspensions.last_mut()
                {
                    s.to = Some(today);
                    case.due = due_of(spec, case);
                }
                case.state = CaseState::Completed;
                case.closed_at = Some(now);
            }
            (CaseOp::Deliver, CaseState::Completed) => {
                case.state = CaseState::Delivered;
            }
            (CaseOp::Withdraw, CaseState::Open | CaseState::Suspended) => {
                case.state = CaseState::Withdrawn;
                case.closed_at = Some(now);
            }
            _ => return Err(CaseRefusal::OutOfOrder),
        }
        if !self.cases[i].state.is_pending() {
            // A 预警 is over once the case is.
            for &c in &self.cases[i].cards {
                if self.cards[c].kind == CardKind::Warning && self.cards[c].state.is_open() {
                    self.cards[c].state = CardState::Lapsed;
                    effects.push(CaseEffect::Card(c));
                }
            }
        }
        self.schedule(spec, i);
        effects.push(CaseEffect::Case(reference.to_owned()));
        effects.extend(self.tick(spec, now));
        Ok(effects)
    }

    /// Issues the cards due by `now`: the cost is the cases due, whatever
    /// the number open.
    pub fn tick(&mut self, spec: &HallSpec, now: DateTime<Utc>) -> Vec<CaseEffect> {
        let mut effects = Vec::new();
        while let Some(&(at, item)) = self.next.first() {
            if at > now {
                break;
            }
            self.next.remove(&(at, item));
            self.next_of.remove(&item);
            match item {
                Item::Case(i) => {
                    if let Some(kind) = self.due_card(spec, i, at) {
                        effects.extend(self.issue(i, kind, at));
                    }
                    self.schedule(spec, i);
                }
                Item::FollowUp(f) => effects.extend(self.follow_up_overdue(f, at)),
            }
        }
        effects
    }

    /// The 红牌 issued from `from` on, oldest first: a month's without a
    /// walk over every card.
    pub fn reds_since(&self, from: DateTime<Utc>) -> impl Iterator<Item = &Card> {
        self.reds.range((from, 0)..).map(|&(_, c)| &self.cards[c])
    }

    /// When the book next changes by itself.
    pub fn next_due(&self) -> Option<DateTime<Utc>> {
        self.next.first().map(|(at, _)| *at)
    }

    /// A department explains a card, or a supervisor closes it.
    pub fn act_on_card(
        &mut self,
        id: &str,
        op: CardOp,
        by: &str,
        note: &str,
        now: DateTime<Utc>,
    ) -> Result<CaseEffect, CaseRefusal> {
        let &c = self.by_card.get(id).ok_or(CaseRefusal::UnknownCard)?;
        let card = &mut self.cards[c];
        if card.kind == CardKind::Warning {
            return Err(CaseRefusal::CardOutOfOrder);
        }
        let note = note.trim();
        if note.is_empty() {
            return Err(CaseRefusal::NoteRequired);
        }
        let record = CardNote {
            by: by.to_owned(),
            at: now,
            text: note.to_owned(),
        };
        // The same action again (a replay over a book loaded from the
        // store) is already held.
        let held = match op {
            CardOp::Explain => card.explanation.as_ref(),
            CardOp::Uphold | CardOp::Withdraw => card.closure.as_ref(),
        };
        if held == Some(&record) {
            return Ok(CaseEffect::Card(c));
        }
        match (op, card.state) {
            (CardOp::Explain, CardState::Issued) => {
                card.state = CardState::Explained;
                card.explanation = Some(record);
            }
            (CardOp::Uphold, CardState::Issued | CardState::Explained) => {
                card.state = CardState::Upheld;
                card.closure = Some(record);
            }
            (CardOp::Withdraw, CardState::Issued | CardState::Explained) => {
                card.state = CardState::Withdrawn;
                card.closure = Some(record);
            }
            _ => return Err(CaseRefusal::CardOutOfOrder),
        }
        Ok(CaseEffect::Card(c))
    }

    pub fn follow_ups(&self) -> &[FollowUp] {
        &self.follow_ups
    }

    pub fn follow_up(&self, id: &str) -> Option<&FollowUp> {
        self.by_follow_up.get(id).map(|&f| &self.follow_ups[f])
    }

    /// Opens the follow-up of a bad review given at `now`: its 核实 is due
    /// `verify_days` working days on. The same review again changes
    /// nothing (a replay meets what the book already holds).
    pub fn open_follow_up(
        &mut self,
        spec: &HallSpec,
        new: NewFollowUp,
        now: DateTime<Utc>,
    ) -> Vec<CaseEffect> {
        if self.by_follow_up.contains_key(&new.id) {
            return Vec::new();
        }
        let f = self.follow_ups.len();
        let due = step_due(spec, now, spec.follow_up.days(FollowStep::Verify));
        self.by_follow_up.insert(new.id.clone(), f);
        self.follow_ups.push(FollowUp {
            id: new.id,
            ticket: new.ticket,
            service: new.service,
            department: new.department,
            staff: new.staff,
            score: new.score,
            comment: new.comment,
            opened_at: now,
            steps: vec![StepRecord {
                step: FollowStep::Verify,
                due,
                done: None,
            }],
        });
        if let Some(due) = due {
            self.plan(Item::FollowUp(f), due);
        }
        vec![CaseEffect::FollowUp(f)]
    }

    /// Records step `step` of follow-up `id` as done, with its note; the
    /// next step begins, due its working days from now.
    pub fn record_step(
        &mut self,
        spec: &HallSpec,
        id: &str,
        step: FollowStep,
        by: &str,
        note: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<CaseEffect>, CaseRefusal> {
        let &f = self
            .by_follow_up
            .get(id)
            .ok_or(CaseRefusal::UnknownFollowUp)?;
        let note = note.trim();
        let held = self.follow_ups[f].steps.iter().any(|s| {
            s.step == step
                && s.done
                    .as_ref()
                    .is_some_and(|d| d.at == now && d.by == by && d.text == note)
        });
        if held {
            // The same record again (a replay over a stored book).
            return Ok(Vec::new());
        }
        if self.follow_ups[f].current().map(|s| s.step) != Some(step) {
            return Err(CaseRefusal::StepOutOfOrder);
        }
        if note.is_empty() {
            return Err(CaseRefusal::NoteRequired);
        }
        // What fell due before the record first.
        let mut effects = self.tick_follow_up(f, now);
        let follow_up = &mut self.follow_ups[f];
        if let Some(current) = follow_up.steps.last_mut() {
            current.done = Some(CardNote {
                by: by.to_owned(),
                at: now,
                text: note.to_owned(),
            });
        }
        self.unschedule(Item::FollowUp(f));
        if let Some(next) = step.next() {
            let due = step_due(spec, now, spec.follow_up.days(next));
            self.follow_ups[f].steps.push(StepRecord {
                step: next,
                due,
                done: None,
            });
            if let Some(due) = due {
                self.plan(Item::FollowUp(f), due);
            }
        }
        effects.push(CaseEffect::FollowUp(f));
        Ok(effects)
    }

    /// The follow-up's current step, if overdue at `now` and not yet
    /// carded.
    fn tick_follow_up(&mut self, f: usize, now: DateTime<Utc>) -> Vec<CaseEffect> {
        match self.next_of.get(&Item::FollowUp(f)) {
            Some(&at) if at <= now => {
                self.unschedule(Item::FollowUp(f));
                self.follow_up_overdue(f, at)
            }
            _ => Vec::new(),
        }
    }

    /// Follow-up `f`'s current step ran past its deadline at `at`: a 黄牌
    /// for the department.
    fn follow_up_overdue(&mut self, f: usize, at: DateTime<Utc>) -> Vec<CaseEffect> {
        let follow_up = &self.follow_ups[f];
        let Some(step) = follow_up.current() else {
            return Vec::new();
        };
        let id = format!("{}-{}-yellow", follow_up.id, step.step.code());
        if self.by_card.contains_key(&id) {
            return Vec::new();
        }
        let c = self.cards.len();
        self.by_card.insert(id.clone(), c);
        self.cards.push(Card {
            id,
            kind: CardKind::Yellow,
            subject: CardSubject::FollowUp {
                id: follow_up.id.clone(),
                step: step.step,
            },
            department: follow_up.department.clone(),
            staff: follow_up.staff.clone(),
            issued_at: at,
            due: step.due.unwrap_or(at),
            state: CardState::Issued,
            explanation: None,
            closure: None,
        });
        vec![CaseEffect::Card(c)]
    }

    /// The card case `i` earns at `at`, if any is due then and not yet
    /// issued.
    fn due_card(&self, spec: &HallSpec, i: usize, at: DateTime<Utc>) -> Option<CardKind> {
        let case = &self.cases[i];
        if case.state != CaseState::Open {
            return None;
        }
        let moments = card_moments(spec, case)?;
        moments
            .into_iter()
            .filter(|(kind, when)| *when <= at && !self.has_card(i, *kind))
            .map(|(kind, _)| kind)
            .max()
    }

    fn has_card(&self, i: usize, kind: CardKind) -> bool {
        self.cases[i]
            .cards
            .iter()
            .any(|&c| self.cards[c].kind == kind)
    }

    /// Issues a card of `kind` for case `i` at `at` (with any lower colour
    /// the case skipped: a case suspended past two thresholds earns both).
    fn issue(&mut self, i: usize, kind: CardKind, at: DateTime<Utc>) -> Vec<CaseEffect> {
        let mut effects = Vec::new();
        let Some(due) = self.cases[i].due else {
            return effects;
        };
        for k in [CardKind::Warning, CardKind::Yellow, CardKind::Red] {
            if k > kind || self.has_card(i, k) {
                continue;
            }
            // A 预警 is not worth issuing once the case is already late.
            if k == CardKind::Warning && kind != CardKind::Warning {
                continue;
            }
            let case = &self.cases[i];
            let c = self.cards.len();
            let card = Card {
                id: format!("{}-{}", case.reference, card_code(k)),
                kind: k,
                subject: CardSubject::Case {
                    reference: case.reference.clone(),
                },
                department: case.department.clone(),
                staff: case.staff.clone(),
                issued_at: at,
                due,
                state: CardState::Issued,
                explanation: None,
                closure: None,
            };
            self.by_card.insert(card.id.clone(), c);
            if k == CardKind::Red {
                self.reds.insert((at, c));
            }
            self.cards.push(card);
            self.cases[i].cards.push(c);
            effects.push(CaseEffect::Card(c));
        }
        // The case holds its cards: it changed too.
        if !effects.is_empty() {
            effects.push(CaseEffect::Case(self.cases[i].reference.clone()));
        }
        // A 黄牌 or 红牌 ends the 预警.
        if kind != CardKind::Warning {
            for &c in &self.cases[i].cards {
                if self.cards[c].kind == CardKind::Warning && self.cards[c].state.is_open() {
                    self.cards[c].state = CardState::Lapsed;
                    effects.push(CaseEffect::Card(c));
                }
            }
        }
        effects
    }

    /// Puts case `i`'s next moment in the index (or takes it out when it
    /// has none).
    fn schedule(&mut self, spec: &HallSpec, i: usize) {
        self.unschedule(Item::Case(i));
        let case = &self.cases[i];
        if case.state != CaseState::Open {
            return;
        }
        let Some(moments) = card_moments(spec, case) else {
            return;
        };
        let next = moments
            .into_iter()
            .filter(|(kind, _)| !self.has_card(i, *kind))
            .map(|(_, at)| at)
            .min();
        if let Some(at) = next {
            self.plan(Item::Case(i), at);
        }
    }

    fn unschedule(&mut self, item: Item) {
        if let Some(at) = self.next_of.remove(&item) {
            self.next.remove(&(at, item));
        }
    }

    fn plan(&mut self, item: Item, at: DateTime<Utc>) {
        self.unschedule(item);
        self.next.insert((at, item));
        self.next_of.insert(item, at);
    }
}

/// When a step begun at `from` with `days` working days is due: the close
/// of the `days`th working day after `from`'s date.
fn step_due(spec: &HallSpec, from: DateTime<Utc>, days: u32) -> Option<DateTime<Utc>> {
    let day = spec
        .calendar
        .add_working_days(spec.local_date(from), days.max(1))?;
    Some(closing(spec, day))
}

fn card_code(kind: CardKind) -> &'static str {
    match kind {
        CardKind::Warning => "warning",
        CardKind::Yellow => "yellow",
        CardKind::Red => "red",
    }
}

/// When case `case` earns each card: (kind, moment), for an open case with
/// a deadline.
fn card_moments(spec: &HallSpec, case: &Case) -> Option<Vec<(CardKind, DateTime<Utc>)>> {
    let limits = spec.cards;
    let due = case.due?;
    let due_day = spec.local_date(due);
    let cal = &spec.calendar;
    let mut out = vec![(CardKind::Yellow, due)];
    if limits.warn_days > 0 {
        // The opening of the warn_days-th working day counted back from the
        // due day (the due day itself for 1).
        let mut day = due_day;
        for _ in 1..limits.warn_days {
            day = previous_working_day(spec, day)?;
        }
        out.push((CardKind::Warning, opening(spec, day)));
    }
    let red_day = cal.add_working_days(due_day, limits.red_days.max(1))?;
    out.push((CardKind::Red, closing(spec, red_day)));
    Some(out)
}

fn previous_working_day(spec: &HallSpec, date: NaiveDate) -> Option<NaiveDate> {
    let mut d = date.pred_opt()?;
    for _ in 0..(2 * 366) {
        if spec.calendar.is_working_day(d) {
            return Some(d);
        }
        d = d.pred_opt()?;
    }
    None
}

/// The close of the hall's office hours on `date` (its midnight after, when
/// it has none that day).
fn closing(spec: &HallSpec, date: NaiveDate) -> DateTime<Utc> {
    spec.hours
        .spans(date)
        .iter()
        .map(|s| s.end)
        .max()
        .and_then(|end| spec.instant(date, end))
        .unwrap_or_else(|| {
            date.succ_opt()
                .map_or_else(|| spec.day_start(date), |d| spec.day_start(d))
        })
}

/// The opening of the hall's office hours on `date` (its midnight, when it
/// has none that day).
fn opening(spec: &HallSpec, date: NaiveDate) -> DateTime<Utc> {
    spec.hours
        .spans(date)
        .iter()
        .map(|s| s.start)
        .min()
        .and_then(|start| spec.instant(date, start))
        .unwrap_or_else(|| spec.day_start(date))
}

/// Whether `date` falls in one of the case's suspensions (from the day it
/// started to the day it ended, both counted as suspended).
fn suspended_on(case: &Case, date: NaiveDate) -> bool {
    case.suspensions
        .iter()
        .any(|s| s.from <= date && s.to.is_none_or(|to| date <= to))
}

/// When a case is due: the close of office hours on its `promised_days`th
/// working day after the day of acceptance, not counting suspended days.
/// None while it is suspended (the clock stands).
fn due_of(spec: &HallSpec, case: &Case) -> Option<DateTime<Utc>> {
    if case.state == CaseState::Suspended {
        return None;
    }
    let mut day = spec.local_date(case.accepted_at);
    let mut left = case.promised_days;
    let suspended: u32 = case
        .suspensions
        .iter()
        .map(|s| {
            let to = s.to.unwrap_or(s.from);
            (to - s.from).num_days().max(0) as u32 + 1
        })
        .sum();
    let horizon = 2 * 366 + left as usize * 3 + suspended as usize;
    for _ in 0..horizon {
        day = day.succ_opt()?;
        if spec.calendar.is_working_day(day) && !suspended_on(case, day) {
            left -= 1;
            if left == 0 {
                return Some(closing(spec, day));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests;
