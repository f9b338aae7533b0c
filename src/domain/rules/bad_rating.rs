//! `bad_rating` (差评): a rating of 1 or 2. Its alert stays until a person
//! resolves it with a note on the follow-up (回访, 整改).

use chrono::{DateTime, Utc};

use super::{Def, Param, window_name};
use crate::domain::alert::{Facts, Finding, Rule, Severity, Subject};
use crate::domain::checks::{Aspects, Next};
use crate::domain::hall::Hall;

pub const RULE: Def = Def {
    name: "差评",
    condition: "a rating of 2 (warning) or 1 (critical)",
    severities: &[Severity::Warning, Severity::Critical],
    reads: Aspects::RATINGS,
    time_based: false,
    needs_person: true,
    params: &[] as &[Param],
    prepare: None,
};

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Limits;

/// A bad review is found when it is given. A review never changes once
/// given (一事一评) and its alert stands until a person closes it, so
/// finding it again on every later rating would change nothing, while it
/// would cost a busy hall a finding per bad review of the day on every
/// rating.
pub fn check(hall: &Hall, now: DateTime<Utc>, out: &mut Vec<Finding>, _: &mut Next) {
    for &(at, i) in hall.rated.range((now, 0)..=(now, usize::MAX)) {
        let t = &hall.tickets[i];
        let Some(score) = t.rating.filter(|s| *s <= 2) else {
            continue;
        };
        out.push(Finding {
            rule: Rule::BadRating,
            subject: Subject::Ticket(hall.day, t.no.clone()),
            severity: if score == 1 {
                Severity::Critical
            } else {
                Severity::Warning
            },
            since: at,
            opened: at,
            facts: Facts {
                ticket: Some(i),
                window: t.window,
                ..Facts::default()
            },
            window: t.window.map(|w| hall.spec.windows[w].id.clone()),
            ticket: Some(t.no.clone()),
            service: Some(hall.spec.services[t.service].code.clone()),
        });
    }
}

pub fn say(hall: &Hall, f: &Finding) -> String {
    let Some(t) = f.facts.ticket.map(|i| &hall.tickets[i]) else {
        return String::new();
    };
    let comment = t
        .rating_comment
        .as_deref()
        .map(|c| format!("：{c}"))
        .unwrap_or_default();
    format!(
        "{}办理的 {} 收到差评（{} 分）{comment}",
        window_name(hall, t.window),
        t.no,
        t.rating.unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests {
    use super::super::testing::H;
    use crate::domain::*;

    #[test]
    fn a_bad_rating_stays_until_a_person_resolves_it_with_a_note() {
        let mut h = H::new();
        h.serve("SB");
        h.rate("01", 1);
        assert_eq!(h.severity(Rule::BadRating), Some(Severity::Critical));
        let id = h.last(Rule::BadRating).id.clone();
        assert!(h.last(Rule::BadRating).message.contains("等太久"));
        let now = h.now;
        assert_eq!(
            h.hall
                .act_on_alert(&id, AlertOp::Resolve, "监察员", Some("  "), now),
            Err(AlertRefusal::NoteRequired)
        );
        h.hall
            .act_on_alert(&id, AlertOp::Ack, "监察员", None, now)
            .unwrap();
        assert_eq!(h.last(Rule::BadRating).state, AlertState::Acknowledged);
        assert_eq!(
            h.hall.act_on_alert(&id, AlertOp::Ack, "监察员", None, now),
            Err(AlertRefusal::AlreadyAcknowledged)
        );
        h.at(3600);
        assert_eq!(
            h.severity(Rule::BadRating),
            Some(Severity::Critical),
            "no self-resolution"
        );
        h.hall
            .act_on_alert(
                &id,
                AlertOp::Resolve,
                "监察员",
                Some("已回访，群众表示理解"),
                h.now,
            )
            .unwrap();
        let a = h.last(Rule::BadRating);
        assert_eq!(a.state, AlertState::Resolved);
        assert_eq!(a.resolved.as_ref().unwrap().by, "监察员");
        h.at(3601);
        assert!(
            h.active(Rule::BadRating).is_empty(),
            "a resolved review does not reopen"
        );
        assert_eq!(
            h.hall.act_on_alert(&id, AlertOp::Ack, "x", None, h.now),
            Err(AlertRefusal::AlreadyResolved)
        );
        assert_eq!(
            h.hall.act_on_alert("nope", AlertOp::Ack, "x", None, h.now),
            Err(AlertRefusal::UnknownAlert)
        );
    }

    #[test]
    fn a_rating_of_two_is_a_warning_and_three_is_fine() {
        let mut h = H::new();
        for score in [3, 2] {
            h.serve("SB");
            h.rate("01", score);
        }
        assert_eq!(h.severity(Rule::BadRating), Some(Severity::Warning));
        assert_eq!(h.active(Rule::BadRating).len(), 1);
    }
}
