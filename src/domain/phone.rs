//! A ticket's phone page (`/t/{token}`): what the citizen holding it may
//! see, and giving it up (取消排队).
//!
//! The page shows one ticket and nothing of anybody else: its number and
//! service, how many are ahead, the estimated wait, the window once it is
//! called, and the hall's hours today. No personal data is ever kept with a
//! ticket, so none can leak through it.

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use serde::Serialize;

use super::event::{Priority, Reason, Refusal, Reply};
use super::hall::{Effect, Hall, TicketState};
use super::ids::{ServiceCode, TicketNo, TicketToken, WindowId};
use super::view::HallInfo;

/// The ticket's page as the phone draws it.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct TicketPage {
    pub hall: HallInfo,
    /// The hall's current local day: the token is good until it ends.
    pub date: NaiveDate,
    pub ticket: TicketNo,
    pub service: ServiceCode,
    /// The service's display name, e.g. 社会保障.
    pub service_name: String,
    pub priority: Priority,
    /// `waiting`, `called`, `serving`, `done`, `missed` (过号) or
    /// `cancelled` (given up from this page).
    #[schema(value_type = String, example = "waiting")]
    pub state: TicketState,
    /// Tickets called before it, while it waits.
    pub ahead: Option<usize>,
    /// Seconds until it is likely called, while it waits.
    pub estimated_wait_s: Option<u32>,
    /// Few enough are ahead that the citizen should come back to the hall
    /// now (at most `near` ahead, `[phone] near_ahead`).
    pub near: bool,
    /// The window that called it, once it is called (the last one, for a
    /// missed ticket).
    pub window: Option<PageWindow>,
    /// When it was last called.
    pub called_at: Option<DateTime<FixedOffset>>,
    pub issued_at: DateTime<FixedOffset>,
    /// Today's office hours, in order (`09:00-12:00`); the gaps between
    /// them are the lunch break. Empty: closed today.
    pub hours: Vec<String>,
    /// Whether the hall is open at `at`.
    pub open: bool,
    /// Whether the citizen may still give it up: while it waits or after
    /// it was missed.
    pub can_give_up: bool,
    /// When the page was taken.
    pub at: DateTime<FixedOffset>,
}

/// A window as the phone page names it.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct PageWindow {
    pub id: WindowId,
    /// e.g. 5号窗口.
    pub name: String,
    /// The floor or area of the hall, when configured.
    pub zone: Option<String>,
}

impl Hall {
    /// Today's ticket holding `token`.
    fn by_token(&self, token: &TicketToken) -> Option<usize> {
        self.by_token.get(token).copied()
    }

    /// The page of today's ticket holding `token`, at `now`; None for a
    /// token of no ticket today (a wrong one, or yesterday's).
    pub fn ticket_page(
        &self,
        token: &TicketToken,
        now: DateTime<Utc>,
        near: usize,
    ) -> Option<TicketPage> {
        let t = self.by_token(token)?;
        let ticket = &self.tickets[t];
        let spec = &self.spec.services[ticket.service];
        let wait = self.ticket_wait(t, now);
        let window = ticket.window.map(|w| {
            let w = &self.spec.windows[w];
            PageWindow {
                id: w.id.clone(),
                name: w.name.clone(),
                zone: w.zone.clone(),
            }
        });
        let local = |at: DateTime<Utc>| self.spec.local(at).fixed_offset();
        Some(TicketPage {
            hall: self.info(),
            date: self.day,
            ticket: ticket.no.clone(),
            service: spec.code.clone(),
            service_name: spec.name.clone(),
            priority: ticket.priority,
            state: ticket.state,
            ahead: wait.map(|(ahead, _)| ahead),
            estimated_wait_s: wait.map(|(_, s)| s),
            near: wait.is_some_and(|(ahead, _)| ahead <= near),
            window,
            called_at: ticket.called_at.map(local),
            issued_at: local(ticket.issued_at),
            hours: self.hours_today(),
            open: self.spec.is_open(now),
            can_give_up: matches!(ticket.state, TicketState::Waiting | TicketState::Missed),
            at: local(now),
        })
    }

    /// The citizen gives up the ticket holding `token`: a waiting ticket
    /// leaves its queue, a missed one can no longer be called again. The
    /// reply, and whether anything changed (a ticket given up before is
    /// answered again, unchanged).
    pub(super) fn give_up(
        &mut self,
        token: &TicketToken,
        now: DateTime<Utc>,
        effects: &mut Vec<Effect>,
    ) -> (Reply, bool) {
        let Some(t) = self.by_token(token) else {
            return (
                Reply::Refused(Refusal::with(Reason::UnknownTicket, "号码不存在或已过期")),
                false,
            );
        };
        let no = self.tickets[t].no.clone();
        match self.tickets[t].state {
            TicketState::Cancelled => return (Reply::GaveUp { ticket: no }, false),
            TicketState::Waiting => {
                self.take_from_queue(t);
                effects.push(Effect::QueueChanged(self.tickets[t].service));
            }
            TicketState::Missed => {}
            TicketState::Called | TicketState::Serving => {
                return (
                    Reply::Refused(Refusal::with(
                        Reason::UnknownTicket,
                        "该号已叫号，请到窗口办理",
                    )),
                    false,
                );
            }
            TicketState::Done => {
                return (
                    Reply::Refused(Refusal::with(Reason::UnknownTicket, "该号已办结")),
                    false,
                );
            }
        }
        let ticket = &mut self.tickets[t];
        ticket.state = TicketState::Cancelled;
        ticket.finished_at = Some(now);
        (Reply::GaveUp { ticket: no }, true)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::{DateTime, Duration, TimeZone, Utc};

    use super::super::*;

    /// 10:00 Beijing time on Monday 2026-11-23, plus `s` seconds.
    fn at(s: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap() + Duration::seconds(s)
    }

    fn token(n: u8) -> TicketToken {
        TicketToken::from_random([n; 12])
    }

    fn issue(hall: &mut Hall, n: u8, now: DateTime<Utc>) -> Reply {
        hall.apply(
            &Input::Ticket {
                kiosk: DeviceId::parse("k1").unwrap(),
                id: MsgId::parse(&format!("k-{n}")).unwrap(),
                request: TicketRequest {
                    service: ServiceCode::parse("QY").unwrap(),
                    priority: Priority::Normal,
                    appointment: None,
                    green_reason: None,
                    issued_by: None,
                    token: Some(token(n)),
                },
            },
            now,
        )
        .reply
        .unwrap()
    }

    fn window(hall: &mut Hall, n: u32, op: WindowOp, now: DateTime<Utc>) -> Reply {
        hall.apply(
            &Input::Window {
                window: WindowId::parse("03").unwrap(),
                id: MsgId::parse(&format!("w-{n}")).unwrap(),
                op,
            },
            now,
        )
        .reply
        .unwrap()
    }

    #[test]
    fn a_ticket_page_follows_its_ticket_from_issue_to_call_and_missed() {
        let mut hall = Hall::new(Arc::new(test_spec()), at(0));
        for n in 1..=5 {
            let reply = issue(&mut hall, n, at(i64::from(n)));
            let Reply::Ticket { token: t, .. } = reply else {
                panic!("{reply:?}")
            };
            assert_eq!(t, Some(token(n)));
        }
        let page = hall.ticket_page(&token(5), at(10), 3).unwrap();
        assert_eq!(page.ticket.as_str(), "Q005");
        assert_eq!(page.service_name, "登记注册");
        assert_eq!(page.state, TicketState::Waiting);
        assert_eq!(page.ahead, Some(4));
        assert!(!page.near, "4 ahead is not near at 3");
        // Nobody is at window 03: (4 + ½) × 600 s.
        assert_eq!(page.estimated_wait_s, Some(2700));
        assert_eq!(page.hours, ["09:00-12:00", "13:30-17:30"]);
        assert!(page.open && page.can_give_up);
        assert!(page.window.is_none());
        assert!(hall.ticket_page(&token(9), at(10), 3).is_none());

        let login = WindowOp::Login {
            staff: StaffId::parse("S001").unwrap(),
            staff_name: None,
        };
        window(&mut hall, 1, login, at(20));
        window(&mut hall, 2, WindowOp::CallNext, at(30));
        let page = hall.ticket_page(&token(5), at(31), 3).unwrap();
        assert_eq!(page.ahead, Some(3));
        assert!(page.near);
        for n in 3..=8 {
            let op = match n % 2 {
                1 => WindowOp::NoShow,
                _ => WindowOp::CallNext,
            };
            window(&mut hall, n, op, at(40 + i64::from(n)));
        }
        // Q001 to Q003 were missed; Q004 is at the window, then missed too.
        window(&mut hall, 9, WindowOp::NoShow, at(60));
        window(&mut hall, 10, WindowOp::CallNext, at(70));
        let page = hall.ticket_page(&token(5), at(71), 3).unwrap();
        assert_eq!(page.state, TicketState::Called);
        assert_eq!(page.window.as_ref().unwrap().name, "3号窗口");
        assert!(page.ahead.is_none() && page.estimated_wait_s.is_none());
        assert!(!page.can_give_up);
        let (reply, changed) = hall.give_up(&token(5), at(72), &mut Vec::new());
        assert!(!changed && reply.refusal().is_some(), "called: {reply:?}");
        window(&mut hall, 11, WindowOp::NoShow, at(90));
        let page = hall.ticket_page(&token(5), at(91), 3).unwrap();
        assert_eq!(page.state, TicketState::Missed);
        assert!(page.can_give_up);
        assert_eq!(page.window.unwrap().id.as_str(), "03");
    }

    #[test]
    fn giving_up_leaves_the_queue_once_and_is_counted_apart() {
        let mut hall = Hall::new(Arc::new(test_spec()), at(0));
        issue(&mut hall, 1, at(1));
        issue(&mut hall, 2, at(2));
        let applied = hall.apply(&Input::GiveUp { token: token(1) }, at(3));
        assert_eq!(
            applied.reply,
            Some(Reply::GaveUp {
                ticket: TicketNo::parse("Q001").unwrap()
            })
        );
        assert!(applied.record && !applied.duplicate);
        assert_eq!(hall.waiting(2), 1);
        assert_eq!(
            hall.ticket_page(&token(2), at(4), 3).unwrap().ahead,
            Some(0)
        );
        // Again: answered alike, nothing changes, nothing to log.
        let again = hall.apply(&Input::GiveUp { token: token(1) }, at(5));
        assert_eq!(again.reply, applied.reply);
        assert!(!again.record && again.duplicate);
        let f = hall.hall_figures();
        assert_eq!(f.cancelled, Some(1));
        assert_eq!(f.missed, 0);
        // A token of no ticket changes nothing.
        let wrong = hall.apply(&Input::GiveUp { token: token(7) }, at(6));
        assert_eq!(
            wrong.reply.unwrap().refusal().unwrap().reason,
            Reason::UnknownTicket
        );
        assert!(!wrong.record);
        // The next day, yesterday's tokens open nothing.
        let tomorrow = at(86_400);
        hall.tick(tomorrow);
        assert!(hall.ticket_page(&token(2), tomorrow, 3).is_none());
    }
}
