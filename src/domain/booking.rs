//! Appointments (预约): bookings from the booking platform, each for a
//! service and a slot, checked in at the kiosk within a window around the
//! slot's start, and counted as 爽约 when never checked in.
//!
//! Bookings outlive the day (a citizen books a week ahead): the book is
//! kept with the case book in the store and restored at start, the event
//! log being the record it is rebuilt from.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Duration, NaiveDate, Timelike, Utc};
use serde::{Deserialize, Serialize};

use super::event::{Reason, Refusal};
use super::ids::{ServiceCode, TicketNo};
use super::spec::HallSpec;

/// The longest a booking reference may be.
pub const REFERENCE_MAX: usize = 64;

/// How a hall takes appointments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BookingLimits {
    /// The length of a slot in minutes; slots start on its multiples from
    /// midnight (default 30).
    pub slot_min: u32,
    /// Bookings a service takes per slot (default 4).
    pub per_slot: u32,
    /// Check-in opens this many minutes before the slot starts (30).
    pub early_min: u32,
    /// Check-in closes this many minutes after the slot starts (15); a
    /// booking not checked in by then is 爽约.
    pub late_min: u32,
}

impl Default for BookingLimits {
    fn default() -> Self {
        Self {
            slot_min: 30,
            per_slot: 4,
            early_min: 30,
            late_min: 15,
        }
    }
}

/// Where a booking stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BookingState {
    Booked,
    /// Cancelled by the booking platform.
    Cancelled,
    /// Checked in at a kiosk: its ticket is in the appointment class.
    CheckedIn,
    /// 爽约: not checked in by the end of its check-in window.
    NoShow,
}

/// One booking.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Booking {
    pub reference: String,
    pub service: ServiceCode,
    pub slot_start: DateTime<Utc>,
    pub slot_end: DateTime<Utc>,
    pub booked_at: DateTime<Utc>,
    pub state: BookingState,
    pub updated_at: DateTime<Utc>,
    /// The ticket it checked in with.
    pub ticket: Option<TicketNo>,
    pub checked_in_at: Option<DateTime<Utc>>,
}

/// A booking as the platform sends it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookingRequest {
    pub reference: String,
    pub service: ServiceCode,
    pub slot_start: DateTime<Utc>,
    pub slot_end: DateTime<Utc>,
}

/// Every booking of a hall.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BookingBook {
    bookings: Vec<Booking>,
    by_ref: HashMap<String, usize>,
    /// Booked ones by when their check-in window closes: 爽约 then.
    closing: BTreeSet<(DateTime<Utc>, usize)>,
}

impl BookingBook {
    /// The book as the store kept it.
    pub fn restore(bookings: Vec<Booking>, limits: &BookingLimits) -> Self {
        let mut book = Self::default();
        for b in bookings {
            let n = book.bookings.len();
            book.by_ref.insert(b.reference.clone(), n);
            if b.state == BookingState::Booked {
                book.closing.insert((check_in_closes(&b, limits), n));
            }
            book.bookings.push(b);
        }
        book
    }

    pub fn all(&self) -> &[Booking] {
        &self.bookings
    }

    pub fn get(&self, reference: &str) -> Option<(usize, &Booking)> {
        let n = *self.by_ref.get(reference)?;
        Some((n, &self.bookings[n]))
    }

    pub fn at(&self, n: usize) -> &Booking {
        &self.bookings[n]
    }

    /// Books, or moves a booking still booked to another slot or service.
    /// The same booking again changes nothing (`Ok(None)`).
    pub fn book(
        &mut self,
        spec: &HallSpec,
        r: &BookingRequest,
        now: DateTime<Utc>,
    ) -> Result<Option<usize>, Refusal> {
        let limits = &spec.bookings;
        let reference = r.reference.trim();
        if reference.is_empty() || reference.chars().count() > REFERENCE_MAX {
            return Err(Refusal::with(
                Reason::BadRequest,
                "预约号应为 1 到 64 个字符",
            ));
        }
        if spec.service_index(&r.service).is_none() {
            return Err(Refusal::with(
                Reason::UnknownService,
                format!("服务类别 {} 不存在", r.service),
            ));
        }
        check_slot(spec, r.slot_start, r.slot_end, now)?;
        let existing = self.get(reference).map(|(n, b)| (n, b.clone()));
        if let Some((_, b)) = &existing {
            if b.state != BookingState::Booked {
                return Err(Refusal::with(
                    Reason::AppointmentClosed,
                    format!("预约 {reference} 已{}，不能再改", state_words(b.state)),
                ));
            }
            if b.service == r.service && b.slot_start == r.slot_start && b.slot_end == r.slot_end {
                return Ok(None);
            }
        }
        let taken = self
            .bookings
            .iter()
            .filter(|b| {
                b.service == r.service
                    && b.slot_start == r.slot_start
                    && matches!(b.state, BookingState::Booked | BookingState::CheckedIn)
                    && b.reference != reference
            })
            .count();
        if taken >= limits.per_slot as usize {
            return Err(Refusal::with(
                Reason::SlotFull,
                format!("该时段已约满（每时段 {} 个）", limits.per_slot),
            ));
        }
        let n = match existing {
            Some((n, old)) => {
                self.closing.remove(&(check_in_closes(&old, limits), n));
                let b = &mut self.bookings[n];
                b.service = r.service.clone();
                b.slot_start = r.slot_start;
                b.slot_end = r.slot_end;
                b.updated_at = now;
                n
            }
            None => {
                let n = self.bookings.len();
                self.bookings.push(Booking {
                    reference: reference.to_owned(),
                    service: r.service.clone(),
                    slot_start: r.slot_start,
                    slot_end: r.slot_end,
                    booked_at: now,
                    state: BookingState::Booked,
                    updated_at: now,
                    ticket: None,
                    checked_in_at: None,
                });
                self.by_ref.insert(reference.to_owned(), n);
                n
            }
        };
        self.closing
            .insert((check_in_closes(&self.bookings[n], limits), n));
        Ok(Some(n))
    }

    /// Cancels a booking still booked; one cancelled before changes
    /// nothing (`Ok(None)`).
    pub fn cancel(
        &mut self,
        limits: &BookingLimits,
        reference: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<usize>, Refusal> {
        let Some((n, b)) = self.get(reference) else {
            return Err(Refusal::with(
                Reason::UnknownAppointment,
                format!("预约 {reference} 不存在"),
            ));
        };
        match b.state {
            BookingState::Cancelled => Ok(None),
            BookingState::Booked => {
                let closes = check_in_closes(b, limits);
                self.closing.remove(&(closes, n));
                let b = &mut self.bookings[n];
                b.state = BookingState::Cancelled;
                b.updated_at = now;
                Ok(Some(n))
            }
            state => Err(Refusal::with(
                Reason::AppointmentClosed,
                format!("预约 {reference} 已{}，不能取消", state_words(state)),
            )),
        }
    }

    /// Whether a kiosk's reference checks in a ticket `ticket` for
    /// `service` at `now`: the booking's index when it is booked for that
    /// service and `now` is within its check-in window (or it already
    /// checked in with this very ticket, as a replay finds it); else why
    /// not, for the citizen.
    pub fn check_in_for(
        &self,
        spec: &HallSpec,
        reference: &str,
        service: &ServiceCode,
        ticket: &TicketNo,
        now: DateTime<Utc>,
    ) -> Result<usize, String> {
        let limits = &spec.bookings;
        let Some((n, b)) = self.get(reference) else {
            return Err(format!("未查到预约号 {reference}，已按普通号取号"));
        };
        if b.state == BookingState::CheckedIn
            && b.ticket.as_ref() == Some(ticket)
            && b.checked_in_at
                .is_some_and(|at| spec.local_date(at) == spec.local_date(now))
        {
            return Ok(n);
        }
        if b.state != BookingState::Booked {
            return Err(format!(
                "预约 {reference} 已{}，已按普通号取号",
                state_words(b.state)
            ));
        }
        if b.service != *service {
            let name = spec
                .service_index(&b.service)
                .map_or(b.service.to_string(), |s| spec.services[s].name.clone());
            return Err(format!("该预约办理的是{name}，已按普通号取号"));
        }
        let (opens, closes) = (check_in_opens(b, limits), check_in_closes(b, limits));
        if now < opens || now >= closes {
            let hm = |at: DateTime<Utc>| spec.local(at).format("%H:%M").to_string();
            return Err(format!(
                "预约时段 {} {}-{}，签到时间为 {}-{}，已按普通号取号",
                spec.local_date(b.slot_start).format("%m月%d日"),
                hm(b.slot_start),
                hm(b.slot_end),
                hm(opens),
                hm(closes)
            ));
        }
        Ok(n)
    }

    /// Booking `n` checked in with `ticket` at `now`; false when it had
    /// already (nothing changed).
    pub fn checked_in(
        &mut self,
        limits: &BookingLimits,
        n: usize,
        ticket: &TicketNo,
        now: DateTime<Utc>,
    ) -> bool {
        let b = &self.bookings[n];
        if b.state != BookingState::Booked {
            return false;
        }
        let closes = check_in_closes(b, limits);
        self.closing.remove(&(closes, n));
        let b = &mut self.bookings[n];
        b.state = BookingState::CheckedIn;
        b.ticket = Some(ticket.clone());
        b.checked_in_at = Some(now);
        b.updated_at = now;
        true
    }

    /// Bookings whose check-in window closed by `now` without a check-in:
    /// 爽约, stamped when their window closed. Their indices.
    pub fn close_due(&mut self, now: DateTime<Utc>) -> Vec<usize> {
        let mut changed = Vec::new();
        while let Some(&(closes, n)) = self.closing.first() {
            if closes > now {
                break;
            }
            self.closing.pop_first();
            let b = &mut self.bookings[n];
            b.state = BookingState::NoShow;
            b.updated_at = closes;
            changed.push(n);
        }
        changed
    }

    /// Bookings of the local day `date`, for the day's figures.
    pub fn of_day<'a>(
        &'a self,
        spec: &'a HallSpec,
        date: NaiveDate,
    ) -> impl Iterator<Item = &'a Booking> + 'a {
        self.bookings
            .iter()
            .filter(move |b| spec.local_date(b.slot_start) == date)
    }
}

fn check_in_opens(b: &Booking, limits: &BookingLimits) -> DateTime<Utc> {
    b.slot_start - Duration::minutes(i64::from(limits.early_min))
}

fn check_in_closes(b: &Booking, limits: &BookingLimits) -> DateTime<Utc> {
    b.slot_start + Duration::minutes(i64::from(limits.late_min))
}

fn state_words(state: BookingState) -> &'static str {
    match state {
        BookingState::Booked => "预约",
        BookingState::Cancelled => "取消",
        BookingState::CheckedIn => "签到",
        BookingState::NoShow => "爽约",
    }
}

/// A slot is one of the hall's: it starts on the slot grid, lasts one
/// slot, lies within the office hours of its day, and has not ended.
fn check_slot(
    spec: &HallSpec,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), Refusal> {
    let limits = &spec.bookings;
    let bad = |why: String| Err(Refusal::with(Reason::BadSlot, why));
    let len = Duration::minutes(i64::from(limits.slot_min));
    if end - start != len {
        return bad(format!("预约时段应为 {} 分钟", limits.slot_min));
    }
    let local = spec.local(start);
    let minutes = local.hour() * 60 + local.minute();
    if local.second() != 0 || local.nanosecond() != 0 || !minutes.is_multiple_of(limits.slot_min) {
        return bad(format!(
            "预约时段应从整 {} 分钟开始（如 09:00、09:30）",
            limits.slot_min
        ));
    }
    let date = local.date_naive();
    let open_at = |at: DateTime<Utc>| spec.is_open(at);
    if !open_at(start) || !open_at(end - Duration::seconds(1)) || spec.local_date(end) != date {
        return bad("预约时段不在办公时间内".to_owned());
    }
    if end <= now {
        return bad("预约时段已过".to_owned());
    }
    Ok(())
}

impl super::hall::Hall {
    /// Bookings whose check-in window closed by `now`: 爽约.
    pub(super) fn close_bookings(
        &mut self,
        now: DateTime<Utc>,
        effects: &mut Vec<super::hall::Effect>,
    ) {
        for n in self.bookings.close_due(now) {
            effects.push(super::hall::Effect::Case(
                super::cases::CaseEffect::Booking(n),
            ));
        }
    }

    /// The booking platform's booking or cancellation: the reply, and
    /// whether it changed anything.
    pub(super) fn apply_booking(
        &mut self,
        input: &super::event::Input,
        now: DateTime<Utc>,
        effects: &mut Vec<super::hall::Effect>,
    ) -> Option<(super::event::Reply, bool)> {
        use super::event::{Input, Reply};
        let (reference, result) = match input {
            Input::Book { booking, .. } => (
                booking.reference.trim().to_owned(),
                self.bookings.book(&self.spec, booking, now),
            ),
            Input::CancelBooking { reference, .. } => (
                reference.clone(),
                self.bookings.cancel(&self.spec.bookings, reference, now),
            ),
            _ => return None,
        };
        Some(match result {
            Ok(changed) => {
                if let Some(n) = changed {
                    effects.push(super::hall::Effect::Case(
                        super::cases::CaseEffect::Booking(n),
                    ));
                }
                (
                    Reply::Booked {
                        reference,
                        duplicate: changed.is_none(),
                    },
                    changed.is_some(),
                )
            }
            Err(refusal) => (Reply::Refused(refusal), false),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::TimeZone;

    use super::super::*;
    use super::*;

    /// Beijing time on Monday 2026-11-23, `h:m`.
    fn at(h: u32, m: u32) -> DateTime<Utc> {
        chrono_tz::Asia::Shanghai
            .with_ymd_and_hms(2026, 11, 23, h, m, 0)
            .unwrap()
            .to_utc()
    }

    fn hall() -> Hall {
        Hall::new(Arc::new(test_spec()), at(8, 0))
    }

    fn book(hall: &mut Hall, reference: &str, slot: (u32, u32), now: DateTime<Utc>) -> Reply {
        let start = at(slot.0, slot.1);
        hall.apply(
            &Input::Book {
                booking: BookingRequest {
                    reference: reference.into(),
                    service: ServiceCode::parse("SB").unwrap(),
                    slot_start: start,
                    slot_end: start + Duration::minutes(30),
                },
                by: "预约平台".into(),
            },
            now,
        )
        .reply
        .unwrap()
    }

    fn kiosk(hall: &mut Hall, id: &str, reference: &str, now: DateTime<Utc>) -> Reply {
        hall.apply(
            &Input::Ticket {
                kiosk: DeviceId::parse("k1").unwrap(),
                id: MsgId::parse(id).unwrap(),
                request: TicketRequest {
                    service: ServiceCode::parse("SB").unwrap(),
                    priority: Priority::Appointment,
                    appointment: Some(reference.into()),
                    green_reason: None,
                    issued_by: None,
                    token: None,
                },
            },
            now,
        )
        .reply
        .unwrap()
    }

    fn class(r: &Reply) -> (Priority, Option<String>) {
        match r {
            Reply::Ticket {
                priority,
                appointment_note,
                ..
            } => (*priority, appointment_note.clone()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn check_in_opens_thirty_minutes_before_the_slot_and_closes_fifteen_after() {
        let mut h = hall();
        // A 10:00-10:30 slot: check-in from 09:30 until before 10:15.
        assert!(matches!(
            book(&mut h, "A", (10, 0), at(8, 0)),
            Reply::Booked { .. }
        ));
        assert!(matches!(
            book(&mut h, "B", (10, 0), at(8, 0)),
            Reply::Booked { .. }
        ));
        let early = at(9, 30) - Duration::seconds(1);
        let (p, note) = class(&kiosk(&mut h, "k-1", "A", early));
        assert_eq!(p, Priority::Normal);
        assert_eq!(
            note.as_deref(),
            Some("预约时段 11月23日 10:00-10:30，签到时间为 09:30-10:15，已按普通号取号")
        );
        assert_eq!(h.bookings().get("A").unwrap().1.state, BookingState::Booked);
        assert_eq!(
            class(&kiosk(&mut h, "k-2", "A", at(9, 30))),
            (Priority::Appointment, None)
        );
        assert_eq!(
            h.bookings().get("A").unwrap().1.state,
            BookingState::CheckedIn
        );
        assert_eq!(
            h.bookings()
                .get("A")
                .unwrap()
                .1
                .ticket
                .as_ref()
                .unwrap()
                .as_str(),
            "B002"
        );
        // The last second of B's window checks in; at 10:15 it is 爽约.
        let last = at(10, 15) - Duration::seconds(1);
        assert_eq!(
            class(&kiosk(&mut h, "k-3", "B", last)).0,
            Priority::Appointment
        );
        assert!(matches!(
            book(&mut h, "C", (10, 0), at(8, 0)),
            Reply::Booked { .. }
        ));
        let (p, note) = class(&kiosk(&mut h, "k-4", "C", at(10, 15)));
        assert_eq!(p, Priority::Normal);
        assert!(note.unwrap().contains("已爽约"), "closed at 10:15 sharp");
        let c = h.bookings().get("C").unwrap().1;
        assert_eq!((c.state, c.updated_at), (BookingState::NoShow, at(10, 15)));
        // An unknown reference is a normal ticket that says so.
        let (p, note) = class(&kiosk(&mut h, "k-5", "ZZ", at(10, 20)));
        assert_eq!(p, Priority::Normal);
        assert_eq!(note.as_deref(), Some("未查到预约号 ZZ，已按普通号取号"));
        // The day's figures: A on time, B late in its window, C 爽约.
        let f = h.figures(at(10, 20), false).appointments;
        assert_eq!(
            (
                f.booked,
                f.checked_in,
                f.on_time,
                f.served_in_slot,
                f.no_show
            ),
            (3, 2, 1, 0, 1)
        );
        assert_eq!(f.no_show_rate, Some(1.0 / 3.0));
    }

    #[test]
    fn a_booking_not_checked_in_is_a_no_show_when_its_window_closes() {
        let mut h = hall();
        book(&mut h, "A", (9, 0), at(8, 0));
        h.tick(at(9, 15) - Duration::seconds(1));
        assert_eq!(h.bookings().get("A").unwrap().1.state, BookingState::Booked);
        let effects = h.tick(at(9, 15));
        assert!(effects.contains(&Effect::Case(CaseEffect::Booking(0))));
        assert_eq!(h.bookings().get("A").unwrap().1.state, BookingState::NoShow);
        // Too late to cancel or move it now.
        let r = h.apply(
            &Input::CancelBooking {
                reference: "A".into(),
                by: "预约平台".into(),
            },
            at(9, 20),
        );
        assert_eq!(
            r.reply.unwrap().refusal().unwrap().reason,
            Reason::AppointmentClosed
        );
    }

    #[test]
    fn bookings_keep_to_the_slot_grid_the_hours_and_the_capacity() {
        let mut h = hall();
        for n in 0..4 {
            let r = book(&mut h, &format!("R{n}"), (14, 0), at(8, 0));
            assert!(
                matches!(
                    r,
                    Reply::Booked {
                        duplicate: false,
                        ..
                    }
                ),
                "{r:?}"
            );
        }
        let full = book(&mut h, "R4", (14, 0), at(8, 0));
        assert_eq!(full.refusal().unwrap().reason, Reason::SlotFull);
        // The same booking again is one; moving one frees its place.
        assert!(matches!(
            book(&mut h, "R0", (14, 0), at(8, 0)),
            Reply::Booked {
                duplicate: true,
                ..
            }
        ));
        assert!(matches!(
            book(&mut h, "R0", (14, 30), at(8, 0)),
            Reply::Booked {
                duplicate: false,
                ..
            }
        ));
        assert!(matches!(
            book(&mut h, "R4", (14, 0), at(8, 0)),
            Reply::Booked { .. }
        ));
        for (slot, why) in [
            ((9, 10), "off the grid"),
            ((12, 0), "lunch"),
            ((8, 0), "before opening"),
        ] {
            let r = book(&mut h, "X", slot, at(7, 0));
            assert_eq!(r.refusal().unwrap().reason, Reason::BadSlot, "{why}");
        }
        let over = book(&mut h, "X", (9, 0), at(9, 31));
        assert_eq!(over.refusal().unwrap().reason, Reason::BadSlot, "over");
        assert!(h.bookings().get("X").is_none(), "refusals book nothing");
        // Cancelled, then cancelled again: one change.
        let cancel = |h: &mut Hall| {
            h.apply(
                &Input::CancelBooking {
                    reference: "R1".into(),
                    by: "预约平台".into(),
                },
                at(9, 0),
            )
        };
        let first = cancel(&mut h);
        assert!(first.record);
        let again = cancel(&mut h);
        assert!(again.duplicate && !again.record);
    }

    #[test]
    fn a_checked_in_booking_restored_from_the_store_replays_its_check_in() {
        let mut live = hall();
        book(&mut live, "A", (10, 0), at(8, 0));
        let t = kiosk(&mut live, "k-1", "A", at(9, 45));
        assert_eq!(class(&t).0, Priority::Appointment);
        // A restart replays the kiosk's request over the stored book.
        let mut replayed = hall();
        replayed.restore_bookings(live.bookings().all().to_vec());
        let again = kiosk(&mut replayed, "k-1", "A", at(9, 45));
        assert_eq!(again, t);
        assert_eq!(replayed.bookings(), live.bookings());
    }
}

/// A day's appointments, by their slots' day.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AppointmentFigures {
    /// Bookings for the day's slots, cancelled ones included.
    pub booked: u32,
    /// Of them, cancelled by the booking platform.
    pub cancelled: u32,
    /// Checked in at a kiosk within their window.
    pub checked_in: u32,
    /// Checked in before their slot started.
    pub on_time: u32,
    /// Called to a window before their slot ended.
    pub served_in_slot: u32,
    /// 爽约: not checked in by the end of their window.
    pub no_show: u32,
    /// 爽约率: no-shows ÷ bookings not cancelled whose window has closed;
    /// null before any has.
    #[schema(minimum = 0, maximum = 1)]
    pub no_show_rate: Option<f64>,
}

impl super::hall::Hall {
    /// The appointments of the hall's current day.
    pub fn appointment_figures(&self) -> AppointmentFigures {
        let mut f = AppointmentFigures::default();
        for b in self.bookings.of_day(&self.spec, self.day) {
            f.booked += 1;
            match b.state {
                BookingState::Cancelled => f.cancelled += 1,
                BookingState::NoShow => f.no_show += 1,
                BookingState::CheckedIn => {
                    f.checked_in += 1;
                    if b.checked_in_at.is_some_and(|at| at <= b.slot_start) {
                        f.on_time += 1;
                    }
                    let called = b
                        .ticket
                        .as_ref()
                        .and_then(|no| self.ticket(no))
                        .and_then(|t| t.called_at);
                    if called.is_some_and(|at| at < b.slot_end) {
                        f.served_in_slot += 1;
                    }
                }
                BookingState::Booked => {}
            }
        }
        let settled = f.checked_in + f.no_show;
        f.no_show_rate = (settled > 0).then(|| f64::from(f.no_show) / f64::from(settled));
        f
    }
}
