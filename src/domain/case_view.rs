//! Cases, cards and follow-ups as screens, the REST API and integrations
//! see them: names beside codes, times in the hall's zone, and the words a
//! supervisor reads.

use chrono::{DateTime, FixedOffset, Utc};
use serde::Serialize;

use super::cases::{
    Card, CardKind, CardNote, CardState, CardSubject, Case, CaseEntry, CaseState, FollowStep,
    FollowUp, StepRecord,
};
use super::hall::Hall;
use super::ids::{HallId, ServiceCode, StaffId, TicketNo};

/// Who did what to a card, and when.
#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema, utoipa::ToSchema)]
pub struct NoteView {
    /// The name of the token that wrote it.
    pub by: String,
    pub at: DateTime<FixedOffset>,
    pub text: String,
}

/// A 限时办结 card (the `card` message of the supervisors' channel and of
/// `{prefix}/{hall}/card`).
#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema, utoipa::ToSchema)]
pub struct CardView {
    /// `{case}-{kind}` for a case, `{follow-up}-{step}-yellow` for a
    /// follow-up step.
    pub id: String,
    /// `warning` (预警), `yellow` (黄牌) or `red` (红牌).
    pub kind: CardKind,
    /// 预警, 黄牌 or 红牌.
    pub label: String,
    /// `issued` → `explained` (the department's 情况说明) → `upheld` or
    /// `withdrawn` (closed by a supervisor); `lapsed` for a 预警 that is
    /// over (the case completed in time, or a 黄牌 followed).
    pub state: CardState,
    pub hall: HallId,
    pub hall_name: String,
    /// The case it is for (办件编号), if it is for a case.
    pub case: Option<String>,
    /// The bad review's follow-up it is for, if it is for one.
    pub follow_up: Option<String>,
    /// The follow-up step that ran late.
    pub step: Option<FollowStep>,
    pub service: Option<ServiceCode>,
    pub service_name: Option<String>,
    /// The department it is against (进驻单位).
    pub department: Option<String>,
    pub department_name: Option<String>,
    /// The staff member who accepted the case (or served the citizen).
    pub staff: Option<StaffId>,
    pub staff_name: Option<String>,
    pub issued_at: DateTime<FixedOffset>,
    /// The deadline it is measured against.
    pub due: DateTime<FixedOffset>,
    /// The card in Chinese words.
    pub message: String,
    /// The department's 情况说明.
    pub explanation: Option<NoteView>,
    /// The supervisor's decision and its reason.
    pub closure: Option<NoteView>,
}

/// A case (承诺件) as the 限时办结 view shows it.
#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema, utoipa::ToSchema)]
pub struct CaseView {
    /// 办件编号.
    #[serde(rename = "ref")]
    pub reference: String,
    pub state: CaseState,
    pub service: ServiceCode,
    pub service_name: String,
    pub department: Option<String>,
    pub department_name: Option<String>,
    /// Who accepted it (工号).
    pub staff: Option<StaffId>,
    pub staff_name: Option<String>,
    pub ticket: Option<TicketNo>,
    pub accepted_at: DateTime<FixedOffset>,
    /// 承诺时限, in working days.
    pub promised_days: u32,
    /// Due at the close of office hours of its last working day; null
    /// while suspended (the clock stands).
    pub due: Option<DateTime<FixedOffset>>,
    /// Seconds from now to `due`, negative when overdue; null without a
    /// due time or once closed.
    pub due_in_s: Option<i64>,
    /// Overdue now, or closed after its deadline.
    pub late: bool,
    /// When it was completed, delivered or withdrawn.
    pub closed_at: Option<DateTime<FixedOffset>>,
    /// The ids of the cards it earned.
    pub cards: Vec<String>,
    /// The back office's reports, in order.
    pub history: Vec<CaseEntryView>,
}

/// A back-office report as the case keeps it.
#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema, utoipa::ToSchema)]
pub struct CaseEntryView {
    pub source: String,
    pub id: String,
    pub op: super::cases::CaseOp,
    pub at: DateTime<FixedOffset>,
    pub reason: Option<String>,
}

/// A step of a follow-up.
#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema, utoipa::ToSchema)]
pub struct StepView {
    /// `verify` (核实), `rectify` (整改) or `call_back` (回访).
    pub step: FollowStep,
    pub label: String,
    pub due: Option<DateTime<FixedOffset>>,
    pub done: Option<NoteView>,
    /// Done after its deadline (or still open past it).
    pub late: bool,
}

/// A bad review's follow-up (差评整改).
#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema, utoipa::ToSchema)]
pub struct FollowUpView {
    /// The id of the bad_rating alert that opened it.
    pub id: String,
    pub ticket: TicketNo,
    pub service: ServiceCode,
    pub service_name: String,
    pub department: Option<String>,
    pub department_name: Option<String>,
    pub staff: Option<StaffId>,
    pub staff_name: Option<String>,
    pub score: u8,
    pub comment: Option<String>,
    pub opened_at: DateTime<FixedOffset>,
    /// The step to do next; null once called back.
    pub current: Option<FollowStep>,
    pub steps: Vec<StepView>,
}

/// The 限时办结 view of a hall: open cases by time left, cards newest
/// first, open follow-ups.
#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema, utoipa::ToSchema)]
pub struct CaseBoard {
    pub hall: HallId,
    pub hall_name: String,
    /// Cases still running or suspended, soonest due first (suspended
    /// last).
    pub open: Vec<CaseView>,
    /// Every card still open, and those closed in the last 30 days, newest
    /// first.
    pub cards: Vec<CardView>,
    /// Follow-ups not yet called back.
    pub follow_ups: Vec<FollowUpView>,
}

impl Hall {
    fn local(&self, at: DateTime<Utc>) -> DateTime<FixedOffset> {
        self.spec.local(at).fixed_offset()
    }

    fn note_view(&self, n: &CardNote) -> NoteView {
        NoteView {
            by: n.by.clone(),
            at: self.local(n.at),
            text: n.text.clone(),
        }
    }

    fn department_name(&self, code: Option<&str>) -> Option<String> {
        self.spec.department(code?).map(|d| d.name.clone())
    }

    fn staff_name(&self, id: Option<&StaffId>) -> Option<String> {
        let i = self.spec.staff_index(id?)?;
        Some(self.spec.staff[i].name.clone())
    }

    fn service_name(&self, code: &ServiceCode) -> Option<String> {
        let s = self.spec.service_index(code)?;
        Some(self.spec.services[s].name.clone())
    }

    /// Card `n` of the book.
    pub fn card_view(&self, n: usize) -> CardView {
        self.card_view_of(self.cases.card_at(n))
    }

    pub fn card_view_of(&self, card: &Card) -> CardView {
        let (case, follow_up, step, service) = match &card.subject {
            CardSubject::Case { reference } => (
                Some(reference.clone()),
                None,
                None,
                self.cases.case(reference).map(|c| c.service.clone()),
            ),
            CardSubject::FollowUp { id, step } => (
                None,
                Some(id.clone()),
                Some(*step),
                self.cases.follow_up(id).map(|f| f.service.clone()),
            ),
        };
        let service_name = service.as_ref().and_then(|s| self.service_name(s));
        let due = self.local(card.due);
        let what = match (&case, &follow_up, step) {
            (Some(r), _, _) => format!("办件 {r}"),
            (_, Some(_), Some(step)) => format!("差评整改“{}”环节", step.label()),
            _ => String::from("办件"),
        };
        let service_words = service_name
            .as_deref()
            .map(|s| format!("{s} "))
            .unwrap_or_default();
        let when = due.format("%m月%d日 %H:%M");
        let message = match card.kind {
            CardKind::Warning => format!("{service_words}{what} 临近办结时限（{when} 到期）"),
            CardKind::Yellow => format!("{service_words}{what} 已超过办结时限（{when} 到期）"),
            CardKind::Red => {
                format!("{service_words}{what} 严重超期（{when} 到期），已亮红牌")
            }
        };
        CardView {
            id: card.id.clone(),
            kind: card.kind,
            label: card.kind.label().to_owned(),
            state: card.state,
            hall: self.spec.id.clone(),
            hall_name: self.spec.name.clone(),
            case,
            follow_up,
            step,
            service,
            service_name,
            department: card.department.clone(),
            department_name: self.department_name(card.department.as_deref()),
            staff: card.staff.clone(),
            staff_name: self.staff_name(card.staff.as_ref()),
            issued_at: self.local(card.issued_at),
            due,
            message,
            explanation: card.explanation.as_ref().map(|n| self.note_view(n)),
            closure: card.closure.as_ref().map(|n| self.note_view(n)),
        }
    }

    fn entry_view(&self, e: &CaseEntry) -> CaseEntryView {
        CaseEntryView {
            source: e.source.clone(),
            id: e.id.clone(),
            op: e.op,
            at: self.local(e.at),
            reason: e.reason.clone(),
        }
    }

    pub fn case_view(&self, case: &Case, now: DateTime<Utc>) -> CaseView {
        let cards = case
            .cards
            .iter()
            .map(|&n| self.cases.card_at(n).id.clone())
            .collect();
        CaseView {
            reference: case.reference.clone(),
            state: case.state,
            service: case.service.clone(),
            service_name: self.service_name(&case.service).unwrap_or_default(),
            department: case.department.clone(),
            department_name: self.department_name(case.department.as_deref()),
            staff: case.staff.clone(),
            staff_name: self.staff_name(case.staff.as_ref()),
            ticket: case.ticket.clone(),
            accepted_at: self.local(case.accepted_at),
            promised_days: case.promised_days,
            due: case.due.map(|d| self.local(d)),
            due_in_s: case
                .due
                .filter(|_| case.state == CaseState::Open)
                .map(|d| (d - now).num_seconds()),
            late: case.is_late(now),
            closed_at: case.closed_at.map(|d| self.local(d)),
            cards,
            history: case.history.iter().map(|e| self.entry_view(e)).collect(),
        }
    }

    fn step_view(&self, s: &StepRecord, now: DateTime<Utc>) -> StepView {
        let done = s.done.as_ref().map(|n| self.note_view(n));
        let late = match (s.due, &s.done) {
            (Some(due), Some(n)) => n.at > due,
            (Some(due), None) => now > due,
            _ => false,
        };
        StepView {
            step: s.step,
            label: s.step.label().to_owned(),
            due: s.due.map(|d| self.local(d)),
            done,
            late,
        }
    }

    pub fn follow_up_view(&self, f: &FollowUp, now: DateTime<Utc>) -> FollowUpView {
        FollowUpView {
            id: f.id.clone(),
            ticket: f.ticket.clone(),
            service: f.service.clone(),
            service_name: self.service_name(&f.service).unwrap_or_default(),
            department: f.department.clone(),
            department_name: self.department_name(f.department.as_deref()),
            staff: f.staff.clone(),
            staff_name: self.staff_name(f.staff.as_ref()),
            score: f.score,
            comment: f.comment.clone(),
            opened_at: self.local(f.opened_at),
            current: f.current().map(|s| s.step),
            steps: f.steps.iter().map(|s| self.step_view(s, now)).collect(),
        }
    }

    /// Every card still open, and those closed in the last 30 days,
    /// newest first: what the 限时办结 view and a console's snapshot show.
    pub fn recent_cards(&self, now: DateTime<Utc>) -> Vec<CardView> {
        let recent = now - chrono::Duration::days(30);
        let mut cards: Vec<&Card> = self
            .cases
            .cards()
            .iter()
            .filter(|c| {
                c.state.is_open()
                    || c.closure.as_ref().is_none_or(|n| n.at >= recent) && c.issued_at >= recent
            })
            .collect();
        cards.sort_by(|a, b| b.issued_at.cmp(&a.issued_at).then(a.id.cmp(&b.id)));
        cards.into_iter().map(|c| self.card_view_of(c)).collect()
    }

    /// The hall's 限时办结 view at `now`.
    pub fn case_board(&self, now: DateTime<Utc>) -> CaseBoard {
        let mut open: Vec<&Case> = self
            .cases
            .cases()
            .iter()
            .filter(|c| c.state.is_pending())
            .collect();
        open.sort_by_key(|c| (c.due.is_none(), c.due, c.accepted_at));
        CaseBoard {
            hall: self.spec.id.clone(),
            hall_name: self.spec.name.clone(),
            open: open.into_iter().map(|c| self.case_view(c, now)).collect(),
            cards: self.recent_cards(now),
            follow_ups: self
                .cases
                .follow_ups()
                .iter()
                .filter(|f| !f.is_done())
                .map(|f| self.follow_up_view(f, now))
                .collect(),
        }
    }
}
