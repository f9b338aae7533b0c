//! Window-terminal operations and ratings: when each is allowed, and what it changes.

use chrono::{DateTime, Utc};

use super::event::{ITEMS_MAX, Outcome, RatingInput, Reason, Refusal, Reply, WindowOp};
use super::hall::{CallRecord, Effect, Hall, RECENT_CALLS, Staff, TicketState, Visit, VisitEnd};

fn refuse(reason: Reason) -> Reply {
    Reply::Refused(Refusal::new(reason))
}

fn ok(ticket: Option<&super::TicketNo>) -> Reply {
    Reply::Window {
        ticket: ticket.cloned(),
    }
}

impl Hall {
    /// One window-terminal command. Refusals change nothing.
    pub(super) fn window_op(
        &mut self,
        w: usize,
        op: &WindowOp,
        now: DateTime<Utc>,
        effects: &mut Vec<Effect>,
    ) -> Reply {
        let before = self.window_status(w);
        let reply = match op {
            WindowOp::Login { staff, staff_name } => {
                if !self.spec.knows_staff(staff) {
                    return Reply::Refused(Refusal::with(
                        Reason::UnknownStaff,
                        format!("工号 {staff} 未登记"),
                    ));
                }
                if self.windows[w].current.is_some() {
                    return refuse(Reason::Busy);
                }
                let registered = self
                    .spec
                    .staff_index(staff)
                    .map(|i| self.spec.staff[i].name.clone());
                self.attendance_login(w, staff, now);
                let win = &mut self.windows[w];
                win.staff = Some(Staff {
                    id: staff.clone(),
                    name: staff_name.clone().or(registered),
                });
                win.paused = None;
                ok(None)
            }
            WindowOp::Logout => {
                let win = &mut self.windows[w];
                if win.staff.is_none() {
                    return refuse(Reason::NotLoggedIn);
                }
                if win.current.is_some() {
                    return refuse(Reason::Busy);
                }
                win.staff = None;
                win.paused = None;
                self.attendance_logout(w, now);
                ok(None)
            }
            WindowOp::Pause { reason } => {
                let win = &mut self.windows[w];
                if win.staff.is_none() {
                    return refuse(Reason::NotLoggedIn);
                }
                if win.current.is_some() {
                    return refuse(Reason::Busy);
                }
                win.paused = Some(*reason);
                ok(None)
            }
            WindowOp::Resume => {
                let win = &mut self.windows[w];
                if win.paused.is_none() {
                    return refuse(Reason::NotPaused);
                }
                win.paused = None;
                ok(None)
            }
            WindowOp::CallNext => {
                if let Some(r) = self.may_call(w) {
                    return r;
                }
                let services = self.spec.windows[w].services.clone();
                match self.queues.next_for(&services) {
                    None => ok(None),
                    Some((service, key)) => {
                        self.queues.remove(service, &key);
                        effects.push(Effect::QueueChanged(service));
                        self.call(w, key.ticket(), now, effects)
                    }
                }
            }
            WindowOp::Call { ticket } => {
                if let Some(r) = self.may_call(w) {
                    return r;
                }
                let Some(&t) = self.by_no.get(ticket) else {
                    return Reply::Refused(Refusal::with(
                        Reason::UnknownTicket,
                        format!("号码 {ticket} 不存在"),
                    ));
                };
                let state = self.tickets[t].state;
                if !matches!(state, TicketState::Waiting | TicketState::Missed) {
                    return Reply::Refused(Refusal::with(
                        Reason::UnknownTicket,
                        format!("号码 {ticket} 不在等候或过号状态"),
                    ));
                }
                let service = self.tickets[t].service;
                if !self.spec.windows[w].services.contains(&service) {
                    return Reply::Refused(Refusal::with(
                        Reason::NotServable,
                        format!("本窗口不能办理{}业务", self.spec.services[service].name),
                    ));
                }
                if state == TicketState::Waiting {
                    self.take_from_queue(t);
                    effects.push(Effect::QueueChanged(service));
                }
                self.call(w, t, now, effects)
            }
            WindowOp::Recall => {
                let Some(t) = self.current_in(w, &[TicketState::Called]) else {
                    return refuse(Reason::NoCurrentTicket);
                };
                self.windows[w].last_call_at = Some(now);
                self.record_call(
                    CallRecord {
                        ticket: t,
                        window: w,
                        at: now,
                        recall: true,
                    },
                    effects,
                );
                ok(Some(&self.tickets[t].no))
            }
            WindowOp::Start => {
                let Some(t) = self.current_in(w, &[TicketState::Called]) else {
                    return refuse(Reason::NoCurrentTicket);
                };
                let ticket = &mut self.tickets[t];
                ticket.state = TicketState::Serving;
                ticket.started_at = Some(now);
                ok(Some(&self.tickets[t].no))
            }
            WindowOp::NoShow => {
                let Some(t) = self.current_in(w, &[TicketState::Called]) else {
                    return refuse(Reason::NoCurrentTicket);
                };
                let ticket = &mut self.tickets[t];
                ticket.state = TicketState::Missed;
                ticket.no_shows += 1;
                self.end_visit(w, VisitEnd::Missed { at: now });
                self.windows[w].current = None;
                self.windows[w].no_show_run.push(now);
                ok(Some(&self.tickets[t].no))
            }
            WindowOp::Finish {
                outcome,
                items,
                case,
            } => {
                if !(1..=ITEMS_MAX).contains(items) {
                    return Reply::Refused(Refusal::with(
                        Reason::BadRequest,
                        format!("办理事项数应为 1 到 {ITEMS_MAX}"),
                    ));
                }
                let Some(t) = self.current_in(w, &[TicketState::Called, TicketState::Serving])
                else {
                    return refuse(Reason::NoCurrentTicket);
                };
                // An accepted case with its promise is followed to its
                // deadline; one without (a version 1 terminal) is counted
                // as unregistered by the day's figures.
                if *outcome == Outcome::Accepted
                    && let Some(case) = case
                    && let Some(days) = case.promised_days
                    && let Err(refusal) = self.accept_case(w, t, case, days, now, effects)
                {
                    return Reply::Refused(refusal);
                }
                let registered = *outcome == Outcome::Accepted
                    && case.as_ref().is_some_and(|c| c.promised_days.is_some());
                self.finish(w, t, *outcome, *items, registered, now);
                ok(Some(&self.tickets[t].no))
            }
            WindowOp::Transfer { to_service } => {
                let Some(t) = self.current_in(w, &[TicketState::Called, TicketState::Serving])
                else {
                    return refuse(Reason::NoCurrentTicket);
                };
                let target = match self.spec.service_index(to_service) {
                    Some(s) if s != self.tickets[t].service => s,
                    Some(_) => {
                        return Reply::Refused(Refusal::with(
                            Reason::UnknownService,
                            "不能转到本号码当前的服务类别",
                        ));
                    }
                    None => {
                        return Reply::Refused(Refusal::with(
                            Reason::UnknownService,
                            format!("服务类别 {to_service} 不存在"),
                        ));
                    }
                };
                self.end_visit(w, VisitEnd::Transferred { at: now });
                let ticket = &mut self.tickets[t];
                ticket.service = target;
                ticket.queued_at = now;
                ticket.state = TicketState::Waiting;
                ticket.transfers += 1;
                ticket.called_at = None;
                ticket.started_at = None;
                self.windows[w].current = None;
                self.put_in_queue(t);
                effects.push(Effect::QueueChanged(target));
                ok(Some(&self.tickets[t].no))
            }
        };
        if self.window_status(w) != before {
            let office = self.spec.office_seconds(self.windows[w].since, now);
            let win = &mut self.windows[w];
            win.status_s[before.index()] += office;
            win.since = now;
        }
        effects.push(Effect::WindowChanged(w));
        reply
    }

    /// Why window `w` may not call now, if it may not.
    fn may_call(&self, w: usize) -> Option<Reply> {
        let win = &self.windows[w];
        if win.staff.is_none() {
            Some(refuse(Reason::NotLoggedIn))
        } else if win.paused.is_some() {
            Some(refuse(Reason::Paused))
        } else if win.current.is_some() {
            Some(refuse(Reason::Busy))
        } else {
            None
        }
    }

    /// The window's current ticket, if it is in one of `states`.
    fn current_in(&self, w: usize, states: &[TicketState]) -> Option<usize> {
        self.windows[w]
            .current
            .filter(|&t| states.contains(&self.tickets[t].state))
    }

    fn call(&mut self, w: usize, t: usize, now: DateTime<Utc>, effects: &mut Vec<Effect>) -> Reply {
        // A missed ticket called again was not waiting in the queue. Waits
        // count office time, as the wait alerts do.
        let waiting = self.tickets[t].state == TicketState::Waiting;
        let waited_s = waiting.then(|| self.spec.office_seconds(self.tickets[t].queued_at, now));
        // A transferred ticket waited in earlier queues too.
        let earlier: i64 = if self.tickets[t].transfers > 0 {
            self.visits
                .iter()
                .filter(|v| v.ticket == t)
                .filter_map(|v| v.waited_s)
                .sum()
        } else {
            0
        };
        let ticket = &mut self.tickets[t];
        self.visits.push(Visit {
            ticket: t,
            window: w,
            staff: self.windows[w].staff.clone(),
            service: ticket.service,
            called_at: now,
            waited_s,
            total_wait_s: waited_s.map(|w| w + earlier),
            end: None,
        });
        self.windows[w].visit = Some(self.visits.len() - 1);
        ticket.state = TicketState::Called;
        ticket.window = Some(w);
        ticket.called_at = Some(now);
        ticket.started_at = None;
        let gap = self.windows[w]
            .recent
            .back()
            .map(|&(end, _)| self.spec.office_seconds(end, now));
        let win = &mut self.windows[w];
        if let Some(gap) = gap {
            win.count_turnaround(gap);
        }
        win.current = Some(t);
        win.last_call_at = Some(now);
        self.record_call(
            CallRecord {
                ticket: t,
                window: w,
                at: now,
                recall: false,
            },
            effects,
        );
        ok(Some(&self.tickets[t].no))
    }

    fn record_call(&mut self, call: CallRecord, effects: &mut Vec<Effect>) {
        self.calls.push_front(call.clone());
        self.calls.truncate(RECENT_CALLS);
        effects.push(Effect::Called(call));
    }

    fn finish(
        &mut self,
        w: usize,
        t: usize,
        outcome: Outcome,
        items: u32,
        registered: bool,
        now: DateTime<Utc>,
    ) {
        let cases = outcome.cases(items);
        let ticket = &mut self.tickets[t];
        // Finishing a called ticket counts its service from the call.
        let from = ticket.started_at.or(ticket.called_at).unwrap_or(now);
        ticket.state = TicketState::Done;
        ticket.finished_at = Some(now);
        ticket.outcome = Some(outcome);
        // Service counts office time, as the service alerts do.
        let service_s = self.spec.office_seconds(from, now);
        if let Some((total, n)) = self.finished.get_mut(ticket.service) {
            *total += service_s;
            *n += 1;
        }
        if let Some(done) = self.done_for.get_mut(ticket.issued_for) {
            done.tickets += 1;
            done.cases = done.cases.saturating_add(cases);
        }
        self.end_visit(
            w,
            VisitEnd::Served {
                outcome,
                at: now,
                service_s,
                cases,
                registered,
            },
        );
        let win = &mut self.windows[w];
        win.current = None;
        win.served_today += 1;
        win.cases_today = win.cases_today.saturating_add(cases);
        win.no_show_run.clear();
        win.service_s_today += service_s;
        win.last_finished = Some(t);
    }

    /// Closes the visit of window `w`'s current ticket.
    fn end_visit(&mut self, w: usize, end: VisitEnd) {
        if let Some(v) = self.windows[w].visit.take()
            && let Some(visit) = self.visits.get_mut(v)
        {
            visit.end = Some(end);
            let called = visit.called_at;
            let at = end.at();
            let took = self.spec.office_seconds(called, at);
            self.windows[w].keep_pace(at, took);
        }
    }

    /// A rating from window `w`'s pad: for the given ticket, or the last one it finished.
    pub(super) fn rate(&mut self, w: usize, rating: &RatingInput, now: DateTime<Utc>) -> Reply {
        if !(1..=5).contains(&rating.score) {
            return Reply::Refused(Refusal::with(Reason::BadRequest, "评价分值应为 1 到 5"));
        }
        let t = match &rating.ticket {
            Some(no) => match self.by_no.get(no) {
                Some(&t) => t,
                None => {
                    return Reply::Refused(Refusal::with(
                        Reason::UnknownTicket,
                        format!("号码 {no} 不存在"),
                    ));
                }
            },
            // Without a number, only the window's last finish, and only
            // shortly after it: a late press would land on whoever was last.
            None => match self.windows[w].last_finished {
                Some(t) => {
                    let limit = self.spec.thresholds.rating_integrity.untagged_s;
                    let since = self.tickets[t]
                        .finished_at
                        .map_or(i64::MAX, |at| (now - at).num_milliseconds());
                    if rating.recent_only && since > super::rules::RatingLimits::ms(limit) {
                        return Reply::Refused(Refusal::with(
                            Reason::NoTicket,
                            format!(
                                "本窗口最近办结的 {} 已超过 {} 秒，评价须注明号码",
                                self.tickets[t].no, limit
                            ),
                        ));
                    }
                    t
                }
                None => {
                    return Reply::Refused(Refusal::with(
                        Reason::UnknownTicket,
                        "本窗口今天还没有办结的业务可评价",
                    ));
                }
            },
        };
        let ticket = &mut self.tickets[t];
        if ticket.state != TicketState::Done || ticket.window != Some(w) {
            return Reply::Refused(Refusal::with(
                Reason::UnknownTicket,
                format!("号码 {} 未在本窗口办结，不能评价", ticket.no),
            ));
        }
        if ticket.rating.is_some() {
            return Reply::Refused(Refusal::with(
                Reason::AlreadyRated,
                format!("号码 {} 已评价，一事一评", ticket.no),
            ));
        }
        ticket.rating = Some(rating.score);
        ticket.rated_at = Some(now);
        self.rated.insert((now, t));
        ticket.rating_comment = rating.comment.clone();
        self.windows[w].rated_today += 1;
        self.audit_rating(w, t, now);
        let ticket = &self.tickets[t];
        Reply::Rating {
            ticket: ticket.no.clone(),
            score: rating.score,
        }
    }

    /// Weighs a rating just taken from window `w`'s pad for ticket `t`:
    /// how soon after the finish it came, and whether anyone was logged in.
    fn audit_rating(&mut self, w: usize, t: usize, now: DateTime<Utc>) {
        use super::rules::RatingLimits;
        let limits = &self.spec.thresholds.rating_integrity;
        let after = self.tickets[t]
            .finished_at
            .map_or(i64::MAX, |at| (now - at).num_milliseconds());
        let pressed = after < RatingLimits::ms(limits.staff_press_s);
        let quick = after <= RatingLimits::ms(limits.quick_s);
        let logged_out = self.windows[w].staff.is_none();
        let audit = &mut self.windows[w].rating_audit;
        audit.pressed += u32::from(pressed);
        audit.quick += u32::from(quick);
        audit.logged_out += u32::from(logged_out);
        audit.suspect += u32::from(pressed || logged_out);
    }
}
