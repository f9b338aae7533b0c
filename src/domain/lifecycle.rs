//! The alert lifecycle: findings reconciled into alerts, and a supervisor's
//! action on one.
//!
//! At most one open alert per (rule, subject); a finding of higher severity
//! raises it; a condition that clears resolves its alert by itself, except
//! for rules whose alerts need a person (a bad review). A critical alert
//! nobody acknowledges in time escalates. Times come from the findings
//! (when a threshold was crossed), never from when the check ran, so a
//! replay of the log rebuilds the same alerts.

use chrono::{DateTime, Duration, Utc};

use super::alert::{Action, Alert, AlertOp, AlertRefusal, AlertState, Finding, Rule, Subject};
use super::hall::{Effect, Hall};
use super::rules::{Kind, Param, Setting};

/// The longest note a supervisor may write on an alert, in characters.
pub const MAX_NOTE: usize = 500;

/// When alerts escalate.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// An unacknowledged critical alert escalates after this many seconds.
    pub escalate_after_s: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            escalate_after_s: 600,
        }
    }
}

/// The escalation's configuration key, beside the rules' own.
pub const PARAMS: &[Param] = &[Param {
    key: "escalate_after_min",
    doc: "an unacknowledged critical alert escalates after this long",
    kind: Kind::Minutes,
    get: |t| Setting::Int(t.escalation.escalate_after_s),
    set: |t, v| t.escalation.escalate_after_s = v.int(),
}];

impl Hall {
    /// The rules to check at `now` (time-based ones are silent while the
    /// hall is closed, and checked once it opens).
    fn rules_due(&self, now: DateTime<Utc>) -> Vec<Rule> {
        let mut due: Vec<Rule> = Rule::ALL
            .into_iter()
            .filter(|r| self.checks.due(*r, now))
            .collect();
        if due.iter().any(|r| r.time_based()) && self.spec.open_since(now).is_none() {
            due.retain(|r| !r.time_based());
        }
        due
    }

    /// Reconciles what the rules due at `now` find with the alerts: opens,
    /// raises, escalates and resolves. Rules that are not due (see
    /// `Checks`) would find what they found last, so their alerts stand as
    /// they are. Returns an effect per alert that changed.
    pub fn supervise(&mut self, now: DateTime<Utc>) -> Vec<Effect> {
        let evaluated = self.rules_due(now);
        for &rule in &evaluated {
            if let Some(prepare) = rule.def().prepare {
                prepare(self, now);
            }
        }
        let mut findings = Vec::new();
        for &rule in &evaluated {
            let mut next = super::checks::Next::after(now);
            rule.check(self, now, &mut findings, &mut next);
            self.checks.mark(rule, now, next.at());
        }
        // Open in the order the conditions arose, so ids follow it on replay too.
        findings.sort_by(|a, b| (a.since, a.rule, &a.subject).cmp(&(b.since, b.rule, &b.subject)));
        let mut changed: Vec<String> = Vec::new();
        // Which alerts a finding still holds open: the rest of an evaluated
        // rule's alerts have cleared. Silenced conditions found again stay
        // silenced.
        let mut held: Vec<usize> = Vec::with_capacity(findings.len());
        let mut silenced_present: Vec<(Rule, Subject)> = Vec::new();
        for f in findings {
            // A person resolved this condition: only a higher severity speaks again.
            let silenced_at = self.silenced.get(f.rule, &f.subject);
            if silenced_at.is_some() {
                silenced_present.push((f.rule, f.subject.clone()));
            }
            let silenced = silenced_at.is_some_and(|s| f.severity <= s);
            let open = self.open_alerts.get(f.rule, &f.subject);
            held.extend(open);
            match open {
                _ if silenced => {}
                Some(i) => {
                    if self.alerts[i].rises(&f) {
                        let f = self.tally_at(Some(i), f, now);
                        let message = f.rule.say(self, &f);
                        self.alerts[i].raise(&f, message);
                        self.tally(i, &f);
                        self.escalations.watch(&self.alerts, i);
                        changed.push(self.alerts[i].id.clone());
                    } else if self.alerts[i].tally_moved(&f) {
                        let f = self.tally_at(Some(i), f, now);
                        let message = f.rule.say(self, &f);
                        self.alerts[i].message = message;
                        self.tally(i, &f);
                        changed.push(self.alerts[i].id.clone());
                    }
                }
                None => {
                    let i = self.open_alert(f);
                    held.push(i);
                    changed.push(self.alerts[i].id.clone());
                }
            }
        }
        held.sort_unstable();
        // Conditions that cleared resolve their alerts, for the rules that
        // were evaluated and that do not need a person.
        let mut cleared: Vec<(Rule, Subject)> = Vec::new();
        for &rule in evaluated.iter().filter(|r| r.resolves_itself()) {
            cleared.extend(
                self.open_alerts
                    .of(rule)
                    .filter(|(_, i)| held.binary_search(i).is_err())
                    .map(|(subject, _)| (rule, subject.clone())),
            );
        }
        for (rule, subject) in cleared {
            if let Some(i) = self.open_alerts.remove(rule, &subject) {
                let a = &mut self.alerts[i];
                a.state = AlertState::Resolved;
                a.updated_at = now;
                a.resolved = Some(Action {
                    by: "系统".into(),
                    at: now,
                    note: Some("条件已解除，自动办结".into()),
                });
                changed.push(a.id.clone());
            }
        }
        // A silenced condition that cleared may alert again next time.
        for &rule in &evaluated {
            self.silenced.retain_of(rule, |subject| {
                silenced_present
                    .iter()
                    .any(|(r, s)| *r == rule && s == subject)
            });
        }
        let after = Duration::seconds(self.spec.thresholds.escalation.escalate_after_s);
        self.escalations
            .escalate(&mut self.alerts, now, after, &mut changed);
        changed.sort();
        changed.dedup();
        changed.into_iter().map(Effect::AlertChanged).collect()
    }

    /// The instant a tallying alert's figures are as of, put in the
    /// finding's `at`: when time moved them (the last ticket to pass the
    /// limit, or the rise), else `now` (an input moved them). Both are the
    /// same whether the hall was looked at every second or only at its
    /// inputs, so a replay rebuilds the same alert.
    fn tally_at(&self, alert: Option<usize>, mut f: Finding, now: DateTime<Utc>) -> Finding {
        if !f.rule.tallies() {
            return f;
        }
        let moved_by_time = f.facts.at.filter(|at| {
            alert.is_none_or(|i| *at > self.alerts[i].updated_at || self.alerts[i].rises(&f))
        });
        f.facts.at = Some(match (alert, moved_by_time) {
            (None, Some(at)) => at.max(f.since),
            (None, None) => f.since,
            (Some(i), at) if self.alerts[i].rises(&f) => at.map_or(f.since, |at| at.max(f.since)),
            (Some(_), Some(at)) => at,
            (Some(_), None) => now,
        });
        f
    }

    /// Brings alert `i` of a tallying rule up to a finding put through
    /// `tally_at`: its count, its ticket, the tickets it lists, and when.
    fn tally(&mut self, i: usize, f: &Finding) {
        if !f.rule.tallies() {
            return;
        }
        let listed = f.rule.listed(self, f);
        let a = &mut self.alerts[i];
        a.count = Some(u32::try_from(f.facts.count).unwrap_or(u32::MAX));
        a.ticket = f.ticket.clone();
        a.tickets = listed;
        if let Some(at) = f.facts.at {
            a.updated_at = at;
        }
    }

    /// Opens an alert for a finding with no active alert; its index.
    fn open_alert(&mut self, f: Finding) -> usize {
        let since = f.since;
        let f = self.tally_at(None, f, since);
        let opened = self.spec.local(f.opened);
        let base = format!(
            "{}-{}-{}-{}",
            self.spec.id,
            opened.format("%Y%m%d-%H%M%S"),
            f.rule.code(),
            f.subject.key()
        );
        // The same condition reopened within the same second: rare, and
        // numbered in the order a replay meets it too.
        let mut id = base.clone();
        let mut n = 1;
        while self.alert_ids.contains_key(&id) {
            n += 1;
            id = format!("{base}-{n}");
        }
        let message = f.rule.say(self, &f);
        let (rule, subject) = (f.rule, f.subject.clone());
        let i = self.alerts.len();
        self.alert_ids.insert(id.clone(), i);
        let tallied = f.rule.tallies().then(|| f.clone());
        let wider = f.rule.goes_wider().then_some(f.since);
        self.alerts.push(Alert::from_finding(id, f, message));
        if wider.is_some() {
            // Sent to the supervisors of the wider scope as it opens.
            self.alerts[i].escalated_at = wider;
        }
        if let Some(f) = tallied {
            self.tally(i, &f);
        }
        self.open_alerts.insert(rule, subject, i);
        self.escalations.watch(&self.alerts, i);
        i
    }

    /// A supervisor acknowledges or resolves an alert.
    pub fn act_on_alert(
        &mut self,
        alert: &str,
        op: AlertOp,
        by: &str,
        note: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Effect>, AlertRefusal> {
        let i = *self
            .alert_ids
            .get(alert)
            .ok_or(AlertRefusal::UnknownAlert)?;
        let note = note.map(str::trim).filter(|n| !n.is_empty());
        if note.is_some_and(|n| n.chars().count() > MAX_NOTE) {
            return Err(AlertRefusal::NoteTooLong);
        }
        let a = &mut self.alerts[i];
        match (op, a.state) {
            (_, AlertState::Resolved) => return Err(AlertRefusal::AlreadyResolved),
            (AlertOp::Ack, AlertState::Acknowledged) => {
                return Err(AlertRefusal::AlreadyAcknowledged);
            }
            (AlertOp::Resolve, _) if !a.rule.resolves_itself() && note.is_none() => {
                return Err(AlertRefusal::NoteRequired);
            }
            _ => {}
        }
        let action = Action {
            by: by.to_owned(),
            at: now,
            note: note.map(str::to_owned),
        };
        a.updated_at = now;
        match op {
            AlertOp::Ack => {
                a.state = AlertState::Acknowledged;
                a.acknowledged = Some(action);
            }
            AlertOp::Resolve => {
                a.state = AlertState::Resolved;
                a.resolved = Some(action);
                self.open_alerts.remove(a.rule, &a.subject);
                // Handled by a person: not reopened while the condition lasts,
                // unless it grows worse.
                self.silenced.insert(a.rule, a.subject.clone(), a.severity);
            }
        }
        Ok(vec![Effect::AlertChanged(alert.to_owned())])
    }

    /// Every alert the hall keeps: open and acknowledged ones, and those
    /// resolved recently.
    pub fn alerts(&self) -> &[Alert] {
        &self.alerts
    }

    pub fn alert(&self, id: &str) -> Option<&Alert> {
        self.alert_ids.get(id).map(|&i| &self.alerts[i])
    }
}
