//! Which alerts stand, kept so that a check looks only at what it may
//! change: the active alert of each rule and subject, the conditions a
//! person silenced, and the alerts that may still escalate.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};

use super::alert::{Alert, Rule, Subject};

/// A value per (rule, subject), kept per rule, so a check of one rule
/// walks only its own: a busy day's bad reviews stay open until a person
/// closes them, and would otherwise be walked on every check of every other
/// rule.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ByRule<V>([HashMap<Subject, V>; Rule::ALL.len()]);

impl<V> Default for ByRule<V> {
    fn default() -> Self {
        Self(std::array::from_fn(|_| HashMap::new()))
    }
}

impl<V: Copy> ByRule<V> {
    pub fn get(&self, rule: Rule, subject: &Subject) -> Option<V> {
        self.0[rule as usize].get(subject).copied()
    }

    pub fn insert(&mut self, rule: Rule, subject: Subject, value: V) {
        self.0[rule as usize].insert(subject, value);
    }

    pub fn remove(&mut self, rule: Rule, subject: &Subject) -> Option<V> {
        self.0[rule as usize].remove(subject)
    }

    /// The entries of one rule.
    pub fn of(&self, rule: Rule) -> impl Iterator<Item = (&Subject, V)> {
        self.0[rule as usize].iter().map(|(s, &v)| (s, v))
    }

    /// Keeps the entries of one rule that `keep` says to.
    pub fn retain_of(&mut self, rule: Rule, mut keep: impl FnMut(&Subject) -> bool) {
        self.0[rule as usize].retain(|s, _| keep(s));
    }

    /// Every value.
    pub fn values(&self) -> impl Iterator<Item = V> + '_ {
        self.0.iter().flat_map(|m| m.values().copied())
    }

    pub fn len(&self) -> usize {
        self.0.iter().map(HashMap::len).sum()
    }

    pub fn clear(&mut self) {
        self.0.iter_mut().for_each(HashMap::clear);
    }
}

/// The alerts that may still escalate (critical, open, not escalated), by
/// index into the hall's alerts: only these are looked at as time passes,
/// and only once the first of them may be due. Bookkeeping: an index may
/// linger after its alert stopped qualifying, until the next look drops it,
/// so two halls are equal whatever this holds.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Escalations {
    watched: Vec<usize>,
    /// The earliest `critical_at` among `watched`, when known: none of
    /// them is due before it plus the escalation delay. Unknown (`None`)
    /// after a checkpoint is restored, until the next look.
    #[serde(skip)]
    earliest: Option<DateTime<Utc>>,
}

impl Escalations {
    /// Notes an alert that opened or rose, if it may escalate.
    pub fn watch(&mut self, alerts: &[Alert], i: usize) {
        let Some(critical) = alerts
            .get(i)
            .filter(|a| a.may_escalate())
            .and_then(|a| a.critical_at)
        else {
            return;
        };
        self.earliest = match self.earliest {
            Some(e) => Some(e.min(critical)),
            None if self.watched.is_empty() => Some(critical),
            // Others of unknown times: the next look finds out.
            None => None,
        };
        if !self.watched.contains(&i) {
            self.watched.push(i);
        }
    }

    /// Escalates what is due at `now` (see `Alert::escalate`), keeping the
    /// rest; the ids of those that escalated go to `changed`.
    pub fn escalate(
        &mut self,
        alerts: &mut [Alert],
        now: DateTime<Utc>,
        after: Duration,
        changed: &mut Vec<String>,
    ) {
        if self.watched.is_empty() || self.earliest.is_some_and(|e| now < e + after) {
            return;
        }
        let mut earliest = None::<DateTime<Utc>>;
        self.watched.retain(|&i| {
            let Some(a) = alerts.get_mut(i) else {
                return false;
            };
            if a.escalate(now, after) {
                changed.push(a.id.clone());
            }
            let keep = a.may_escalate();
            if let Some(c) = a.critical_at.filter(|_| keep) {
                earliest = Some(earliest.map_or(c, |e| e.min(c)));
            }
            keep
        });
        self.earliest = earliest;
    }

    /// Starts again from `alerts` (their indices moved).
    pub fn rebuild(&mut self, alerts: &[Alert]) {
        self.watched.clear();
        self.earliest = None;
        for i in 0..alerts.len() {
            self.watch(alerts, i);
        }
    }
}

impl PartialEq for Escalations {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
