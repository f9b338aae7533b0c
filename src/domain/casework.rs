//! The hall and its case book: a window's `accepted` finish opens a case,
//! a bad review opens its follow-up, the back office and supervisors act
//! on cases, cards and follow-ups, and time issues the cards.

use chrono::{DateTime, Utc};

use super::alert::Rule;
use super::cases::{CaseEffect, NewCase, NewFollowUp, Reported};
use super::checks::Aspects;
use super::event::{CaseRef, Input, Reason, Refusal, Reply};
use super::hall::{Applied, Effect, Hall};

impl Hall {
    /// The department code of service `s`.
    fn department_code(&self, s: usize) -> Option<String> {
        self.spec.service_department(s).map(|d| d.code.clone())
    }

    /// Cards that fell due by `now`.
    pub(super) fn tick_cases(&mut self, now: DateTime<Utc>, effects: &mut Vec<Effect>) {
        if self.cases.next_due().is_some_and(|at| at <= now) {
            let spec = self.spec.clone();
            let changed = self.cases.tick(&spec, now);
            self.book_changed(changed, effects);
        }
    }

    /// Hands what changed in the book on as effects; a card that changed
    /// is something the rules that read the cards must look at.
    fn book_changed(&mut self, changed: Vec<CaseEffect>, effects: &mut Vec<Effect>) {
        if changed.iter().any(|e| matches!(e, CaseEffect::Card(_))) {
            self.checks.changed(Aspects::CARDS);
        }
        effects.extend(changed.into_iter().map(Effect::Case));
    }

    /// Opens the case a window accepted for ticket `t`: refused (and the
    /// finish with it, so the terminal can correct it) when its reference
    /// is taken or its promise out of range.
    pub(super) fn accept_case(
        &mut self,
        w: usize,
        t: usize,
        case: &CaseRef,
        promised_days: u32,
        now: DateTime<Utc>,
        effects: &mut Vec<Effect>,
    ) -> Result<(), Refusal> {
        let ticket = &self.tickets[t];
        let new = NewCase {
            reference: case.reference.clone(),
            service: self.spec.services[ticket.service].code.clone(),
            department: self.department_code(ticket.service),
            staff: self.windows[w].staff.as_ref().map(|s| s.id.clone()),
            ticket: Some(ticket.no.clone()),
            promised_days,
        };
        let spec = self.spec.clone();
        match self.cases.accept(&spec, new, now) {
            Ok(changed) => {
                self.book_changed(changed, effects);
                Ok(())
            }
            Err(refusal) => Err(Refusal::with(
                refusal.reason(),
                format!("办件 {}：{}", case.reference, refusal.message()),
            )),
        }
    }

    /// Every bad review among `effects`' new alerts opens its follow-up
    /// (核实 first), named by the alert.
    pub(super) fn follow_bad_reviews(&mut self, effects: &mut Vec<Effect>, now: DateTime<Utc>) {
        let mut opened = Vec::new();
        for e in effects.iter() {
            let Effect::AlertChanged(id) = e else {
                continue;
            };
            let Some(alert) = self.alert(id) else {
                continue;
            };
            if alert.rule != Rule::BadRating || self.cases.follow_up(id).is_some() {
                continue;
            }
            let Some(t) = alert.ticket.as_ref().and_then(|no| self.by_no.get(no)) else {
                continue;
            };
            let ticket = &self.tickets[*t];
            let staff = self
                .visits
                .iter()
                .rev()
                .find(|v| v.ticket == *t)
                .and_then(|v| v.staff.as_ref())
                .map(|s| s.id.clone());
            opened.push(NewFollowUp {
                id: id.clone(),
                ticket: ticket.no.clone(),
                service: self.spec.services[ticket.service].code.clone(),
                department: self.department_code(ticket.service),
                staff,
                score: ticket.rating.unwrap_or(1),
                comment: ticket.rating_comment.clone(),
            });
        }
        let spec = self.spec.clone();
        for new in opened {
            let changed = self.cases.open_follow_up(&spec, new, now);
            self.book_changed(changed, effects);
        }
    }

    /// Applies a case report, card action or follow-up step; None for any
    /// other input. Taken ones are logged; a repeat or refusal is not.
    pub(super) fn apply_case_input(
        &mut self,
        input: &Input,
        now: DateTime<Utc>,
        effects: &mut Vec<Effect>,
    ) -> Option<Applied> {
        let spec = self.spec.clone();
        let result = match input {
            // Only the hall's registered back-office systems report.
            Input::Case { event }
                if !spec.backoffice.iter().any(|b| b.as_str() == event.source) =>
            {
                let message = format!("办件来源 {} 未登记", event.source);
                return Some(Applied {
                    reply: Some(Reply::Refused(Refusal::with(
                        Reason::UnknownDevice,
                        message,
                    ))),
                    effects: std::mem::take(effects),
                    duplicate: false,
                    record: false,
                });
            }
            Input::Case { event } => self
                .cases
                .report_event(&spec, event, now)
                .map(|r| (event.reference.clone(), r)),
            Input::CardAction { card, op, by, note } => {
                self.cases.act_on_card(card, *op, by, note, now).map(|e| {
                    (
                        card.clone(),
                        Reported {
                            effects: vec![e],
                            duplicate: false,
                        },
                    )
                })
            }
            Input::FollowUpStep {
                follow_up,
                step,
                by,
                note,
            } => self
                .cases
                .record_step(&spec, follow_up, *step, by, note, now)
                .map(|effects| {
                    (
                        follow_up.clone(),
                        Reported {
                            effects,
                            duplicate: false,
                        },
                    )
                }),
            _ => return None,
        };
        let (reply, record, duplicate) = match result {
            Ok((subject, reported)) => {
                self.book_changed(reported.effects, effects);
                // A card issued or closed may make a repeat finding.
                effects.extend(self.supervise(now));
                (
                    Reply::CaseTaken {
                        subject,
                        duplicate: reported.duplicate,
                    },
                    !reported.duplicate,
                    reported.duplicate,
                )
            }
            Err(refusal) => (Reply::CaseRefused(refusal), false, false),
        };
        Some(Applied {
            reply: Some(reply),
            effects: std::mem::take(effects),
            duplicate,
            record,
        })
    }
}
