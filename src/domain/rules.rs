//! The supervision rules of DOMAIN.md, each a function of the hall and the
//! time that says what is wrong now. `Hall::supervise` turns findings into
//! alerts (see `alert.rs`).

use chrono::{DateTime, Duration, Utc};

use super::alert::{
    Action, Alert, AlertOp, AlertRefusal, AlertState, Finding, Rule, Severity, Subject,
};
use super::checks::{Next, RECHECK};
use super::hall::{Effect, Hall, TicketState};
use super::say::Say;

/// The longest note a supervisor may write on an alert, in characters.
pub const MAX_NOTE: usize = 500;

fn secs(s: i64) -> Duration {
    Duration::seconds(s)
}

fn minutes(s: i64) -> i64 {
    s / 60
}

/// A severity reached over office time: which, since when, at which
/// limit, and when the first (warning) limit was crossed.
struct Grade {
    severity: Severity,
    since: DateTime<Utc>,
    limit: i64,
    first: DateTime<Utc>,
}

/// The grade of a condition whose warning limit fell due at `first` and
/// whose critical one at `crit_due`, if it has.
fn grade_at(
    first: DateTime<Utc>,
    crit_due: Option<DateTime<Utc>>,
    (warn, crit): (i64, i64),
) -> Grade {
    match crit_due {
        Some(since) => Grade {
            severity: Severity::Critical,
            since,
            limit: crit,
            first,
        },
        None => Grade {
            severity: Severity::Warning,
            since: first,
            limit: warn,
            first,
        },
    }
}

impl Hall {
    /// When `secs` of office time will have passed since `base`, if by
    /// `now`; a deadline still ahead goes to `next`.
    fn due(
        &self,
        base: DateTime<Utc>,
        secs: i64,
        now: DateTime<Utc>,
        next: &mut Next,
    ) -> Option<DateTime<Utc>> {
        let at = self.office_deadline(base, secs);
        next.deadline(at);
        at.filter(|d| *d <= now)
    }

    /// The severity reached at `now`, counting office time from `base`
    /// against (warning, critical) seconds.
    fn graded(
        &self,
        base: DateTime<Utc>,
        now: DateTime<Utc>,
        (warn, crit): (i64, i64),
        next: &mut Next,
    ) -> Option<Grade> {
        // The critical limit comes after the warning: ahead of it only once
        // the warning has passed.
        let first = self.due(base, warn, now, next)?;
        Some(grade_at(
            first,
            self.due(base, crit, now, next),
            (warn, crit),
        ))
    }

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

    /// What `rule` finds wrong in the hall at `now`, added to `out`, and
    /// when time alone next changes that.
    fn findings(
        &self,
        now: DateTime<Utc>,
        rule: Rule,
        out: &mut Vec<Finding>,
    ) -> Option<DateTime<Utc>> {
        let mut next = Next::after(now);
        let n = &mut next;
        match rule {
            Rule::WaitTimeout => self.wait_timeout(now, out, n),
            Rule::QueueBacklog => self.queue_backlog(now, out),
            Rule::WindowOverload => self.window_overload(now, out),
            Rule::WindowUnattended => self.window_unattended(out, n),
            Rule::IdleWithQueue => self.idle_with_queue(now, out, n),
            Rule::PauseTooLong => self.pause_too_long(out, n),
            Rule::ServiceTimeout => self.service_timeout(now, out, n),
            Rule::CallUnanswered => self.call_unanswered(now, out, n),
            Rule::NoShowStreak => self.no_show_streak(out),
            Rule::BadRating => self.bad_rating(now, out),
            Rule::DeviceOffline => self.device_offline(now, out, n),
            Rule::RatingMissing => self.rating_missing(now, out),
            Rule::StaffingGap => self.staffing_gap(now, out, n),
        }
        next.at()
    }

    fn window_finding(
        &self,
        w: usize,
        rule: Rule,
        severity: Severity,
        since: DateTime<Utc>,
        say: Say,
    ) -> Finding {
        Finding {
            rule,
            subject: Subject::Window(self.spec.windows[w].id.clone()),
            severity,
            since,
            opened: since,
            say,
            window: Some(self.spec.windows[w].id.clone()),
            ticket: None,
            service: None,
        }
    }

    /// A window's finding for a rule graded by time since `base`, if due.
    fn graded_window(
        &self,
        w: usize,
        rule: Rule,
        base: DateTime<Utc>,
        limits: (i64, i64),
        next: &mut Next,
        say: impl Fn(i64) -> Say,
    ) -> Option<Finding> {
        let g = self.graded(base, next.now(), limits, next)?;
        let mut f = self.window_finding(w, rule, g.severity, g.since, say(minutes(g.limit)));
        f.opened = g.first;
        Some(f)
    }

    /// Waiting tickets past their service's limits. This runs on every
    /// event and a busy hall has hundreds waiting, so each ticket's
    /// deadlines are worked out once, and the walk of each priority class
    /// stops at the first ticket not yet due: the rest of its class were
    /// issued later, so fall due later (the limits are the queue's own).
    fn wait_timeout(&self, now: DateTime<Utc>, out: &mut Vec<Finding>, next: &mut Next) {
        for (s, svc) in self.spec.services.iter().enumerate() {
            let limits = (i64::from(svc.wait_limit_s.0), i64::from(svc.wait_limit_s.1));
            for class in self.queues.by_class(s) {
                for i in class {
                    let t = &self.tickets[i];
                    if t.state != TicketState::Waiting {
                        continue;
                    }
                    let (warn_at, crit_at) = t.wait_due.get(limits, || {
                        (
                            self.office_deadline(t.issued_at, limits.0),
                            self.office_deadline(t.issued_at, limits.1),
                        )
                    });
                    next.deadline(crit_at);
                    let Some(first) = warn_at.filter(|d| *d <= now) else {
                        next.deadline(warn_at);
                        break;
                    };
                    self.wait_finding(i, first, crit_at.filter(|d| *d <= now), limits, out);
                }
            }
        }
    }

    fn wait_finding(
        &self,
        ticket: usize,
        first: DateTime<Utc>,
        crit_due: Option<DateTime<Utc>>,
        limits: (i64, i64),
        out: &mut Vec<Finding>,
    ) {
        let t = &self.tickets[ticket];
        let svc = &self.spec.services[t.service];
        let Grade {
            severity,
            since,
            limit,
            first,
        } = grade_at(first, crit_due, limits);
        out.push(Finding {
            rule: Rule::WaitTimeout,
            subject: Subject::Ticket(self.day, t.no.clone()),
            severity,
            since,
            opened: first,
            say: Say::Wait {
                ticket,
                minutes: minutes(limit),
            },
            window: None,
            ticket: Some(t.no.clone()),
            service: Some(svc.code.clone()),
        });
    }

    /// Open windows serving a service; one serving k services counts 1/k.
    pub fn open_windows_for(&self, service: usize) -> f64 {
        self.spec
            .windows
            .iter()
            .enumerate()
            .filter(|(i, w)| {
                w.services.contains(&service)
                    && self.windows[*i].staff.is_some()
                    && self.windows[*i].paused.is_none()
            })
            .map(|(_, w)| 1.0 / w.services.len() as f64)
            .sum()
    }

    fn queue_backlog(&self, now: DateTime<Utc>, out: &mut Vec<Finding>) {
        let limit = self.spec.thresholds.backlog_per_window;
        for (s, svc) in self.spec.services.iter().enumerate() {
            let waiting = self.waiting(s);
            let open = self.open_windows_for(s);
            // A shared window counts 1/k; with none open, the queue itself counts.
            let per_window = if open > 0.0 {
                waiting as f64 / open
            } else {
                waiting as f64
            };
            if per_window > limit {
                out.push(Finding {
                    rule: Rule::QueueBacklog,
                    subject: Subject::Service(svc.code.clone()),
                    severity: Severity::Warning,
                    since: now,
                    opened: now,
                    say: Say::Backlog {
                        service: s,
                        waiting,
                        open,
                    },
                    window: None,
                    ticket: None,
                    service: Some(svc.code.clone()),
                });
            }
        }
    }

    /// A service short of at least one window for the configured time.
    /// When each gap began is kept by `track_staffing_gaps`, just before.
    ///
    /// The forecast falls as the day passes with no new ticket, so time
    /// alone can end a gap, never begin one: while one lasts, the rule is
    /// checked again every second.
    fn staffing_gap(&self, now: DateTime<Utc>, out: &mut Vec<Finding>, next: &mut Next) {
        let hold = secs(self.spec.thresholds.staffing_gap_s);
        if !self.gap_since.is_empty() {
            next.deadline(Some(now + RECHECK));
        }
        for (&service, &began) in &self.gap_since {
            let svc = &self.spec.services[service];
            if now < began + hold {
                continue;
            }
            out.push(Finding {
                rule: Rule::StaffingGap,
                subject: Subject::Service(svc.code.clone()),
                severity: Severity::Notice,
                since: began + hold,
                opened: began + hold,
                // The figures move with the clock; the message names the
                // shortfall, and the manager's view shows the numbers.
                say: Say::StaffingGap {
                    service,
                    minutes: minutes(self.spec.thresholds.staffing_gap_s),
                },
                window: None,
                ticket: None,
                service: Some(svc.code.clone()),
            });
        }
    }

    /// Notes when each service's shortfall of windows began, or that it ended.
    fn track_staffing_gaps(&mut self, now: DateTime<Utc>) {
        for (service, short) in self.short_of_a_window(now).into_iter().enumerate() {
            if short {
                self.gap_since.entry(service).or_insert(now);
            } else {
                self.gap_since.remove(&service);
            }
        }
    }

    fn window_overload(&self, now: DateTime<Utc>, out: &mut Vec<Finding>) {
        let (notice, warning) = self.spec.thresholds.overload;
        for w in 0..self.spec.windows.len() {
            let load = self.load(w);
            let severity = if load >= warning {
                Severity::Warning
            } else if load >= notice {
                Severity::Notice
            } else {
                continue;
            };
            let say = Say::Overload {
                window: w,
                served: self.windows[w].served_today,
                load,
            };
            out.push(self.window_finding(w, Rule::WindowOverload, severity, now, say));
        }
    }

    fn window_unattended(&self, out: &mut Vec<Finding>, next: &mut Next) {
        let limits = self.spec.thresholds.unattended_s;
        for (w, spec) in self.spec.windows.iter().enumerate() {
            let state = &self.windows[w];
            if !spec.on_rota || state.staff.is_some() {
                continue;
            }
            out.extend(self.graded_window(
                w,
                Rule::WindowUnattended,
                state.since,
                limits,
                next,
                |minutes| Say::Unattended { window: w, minutes },
            ));
        }
    }

    fn idle_with_queue(&self, now: DateTime<Utc>, out: &mut Vec<Finding>, next: &mut Next) {
        let limit = self.spec.thresholds.idle_with_queue_s;
        // Each service's oldest waiting ticket, looked up once: windows share
        // services.
        let oldest: Vec<Option<DateTime<Utc>>> = (0..self.spec.services.len())
            .map(|s| self.queues.oldest(s))
            .collect();
        for (w, spec) in self.spec.windows.iter().enumerate() {
            let state = &self.windows[w];
            if state.staff.is_none() || state.paused.is_some() || state.current.is_some() {
                continue;
            }
            // The oldest ticket it may serve, by when it was issued.
            let Some(first_waiting) = spec
                .services
                .iter()
                .filter_map(|&s| oldest.get(s).copied().flatten())
                .min()
            else {
                continue;
            };
            let base = state.since.max(first_waiting);
            if let Some(due) = self.due(base, limit, now, next) {
                let say = Say::IdleWithQueue {
                    window: w,
                    minutes: minutes(limit),
                };
                out.push(self.window_finding(w, Rule::IdleWithQueue, Severity::Warning, due, say));
            }
        }
    }

    fn pause_too_long(&self, out: &mut Vec<Finding>, next: &mut Next) {
        let limits = self.spec.thresholds.pause_s;
        for (w, state) in self.windows.iter().enumerate() {
            if state.staff.is_none() || state.paused.is_none() {
                continue;
            }
            out.extend(self.graded_window(
                w,
                Rule::PauseTooLong,
                state.since,
                limits,
                next,
                |minutes| Say::Paused { window: w, minutes },
            ));
        }
    }

    fn service_timeout(&self, now: DateTime<Utc>, out: &mut Vec<Finding>, next: &mut Next) {
        for w in 0..self.spec.windows.len() {
            let Some(t) = self.windows[w].current else {
                continue;
            };
            let ticket = &self.tickets[t];
            let Some(started) = ticket
                .started_at
                .filter(|_| ticket.state == TicketState::Serving)
            else {
                continue;
            };
            let svc = &self.spec.services[ticket.service];
            let limits = (
                i64::from(svc.service_limit_s.0),
                i64::from(svc.service_limit_s.1),
            );
            if let Some(Grade {
                severity,
                since,
                limit,
                first,
            }) = self.graded(started, now, limits, next)
            {
                let say = Say::ServiceLong {
                    window: w,
                    ticket: t,
                    minutes: minutes(limit),
                };
                let mut f = self.window_finding(w, Rule::ServiceTimeout, severity, since, say);
                f.subject = Subject::Ticket(self.day, ticket.no.clone());
                f.ticket = Some(ticket.no.clone());
                f.service = Some(svc.code.clone());
                f.opened = first;
                out.push(f);
            }
        }
    }

    fn call_unanswered(&self, now: DateTime<Utc>, out: &mut Vec<Finding>, next: &mut Next) {
        let limit = self.spec.thresholds.call_unanswered_s;
        for w in 0..self.spec.windows.len() {
            let Some(t) = self.windows[w].current else {
                continue;
            };
            let ticket = &self.tickets[t];
            let Some(called) = ticket
                .called_at
                .filter(|_| ticket.state == TicketState::Called)
            else {
                continue;
            };
            if let Some(due) = self.due(called, limit, now, next) {
                let say = Say::CallUnanswered {
                    window: w,
                    ticket: t,
                    minutes: minutes(limit),
                };
                let mut f =
                    self.window_finding(w, Rule::CallUnanswered, Severity::Notice, due, say);
                f.subject = Subject::Ticket(self.day, ticket.no.clone());
                f.ticket = Some(ticket.no.clone());
                out.push(f);
            }
        }
    }

    fn no_show_streak(&self, out: &mut Vec<Finding>) {
        let th = &self.spec.thresholds;
        for w in 0..self.spec.windows.len() {
            let run = &self.windows[w].no_show_run;
            let n = th.no_show_streak.max(1);
            if run.len() < n {
                continue;
            }
            // Any n in a row within the window of time.
            let hit = run
                .windows(n)
                .find(|r| r[n - 1] - r[0] <= secs(th.no_show_within_s));
            if let Some(r) = hit {
                let say = Say::NoShows {
                    window: w,
                    minutes: minutes(th.no_show_within_s),
                    n,
                };
                out.push(self.window_finding(
                    w,
                    Rule::NoShowStreak,
                    Severity::Warning,
                    r[n - 1],
                    say,
                ));
            }
        }
    }

    /// A bad review is found when it is given. A review never changes once
    /// given (一事一评) and its alert stands until a person closes it, so
    /// finding it again on every later rating would change nothing, while
    /// it would cost a busy hall a finding per bad review of the day on
    /// every rating.
    fn bad_rating(&self, now: DateTime<Utc>, out: &mut Vec<Finding>) {
        for &(at, i) in self.rated.range((now, 0)..=(now, usize::MAX)) {
            let t = &self.tickets[i];
            let Some(score) = t.rating.filter(|s| *s <= 2) else {
                continue;
            };
            let window = t.window.map(|w| &self.spec.windows[w]);
            out.push(Finding {
                rule: Rule::BadRating,
                subject: Subject::Ticket(self.day, t.no.clone()),
                severity: if score == 1 {
                    Severity::Critical
                } else {
                    Severity::Warning
                },
                since: at,
                opened: at,
                say: Say::BadRating { ticket: i },
                window: window.map(|w| w.id.clone()),
                ticket: Some(t.no.clone()),
                service: Some(self.spec.services[t.service].code.clone()),
            });
        }
    }

    fn device_offline(&self, now: DateTime<Utc>, out: &mut Vec<Finding>, next: &mut Next) {
        let limit = self.spec.thresholds.device_offline_s;
        for (device, (online, since)) in &self.presence {
            if *online {
                continue;
            }
            let Some(due) = self.due(*since, limit, now, next) else {
                continue;
            };
            let window = match self.spec.device_kind(device) {
                Some(super::DeviceKind::Kiosk) => None,
                Some(super::DeviceKind::Terminal(w) | super::DeviceKind::Rater(w)) => Some(w),
                None => continue,
            };
            out.push(Finding {
                rule: Rule::DeviceOffline,
                subject: Subject::Device(device.clone()),
                severity: Severity::Warning,
                since: due,
                opened: due,
                say: Say::Offline {
                    minutes: minutes(limit).max(1),
                },
                window: window.map(|w| self.spec.windows[w].id.clone()),
                ticket: None,
                service: None,
            });
        }
    }

    fn rating_missing(&self, now: DateTime<Utc>, out: &mut Vec<Finding>) {
        let th = &self.spec.thresholds;
        for w in 0..self.spec.windows.len() {
            let state = &self.windows[w];
            if state.served_today < th.rating_after {
                continue;
            }
            let share = f64::from(state.rated_today) / f64::from(state.served_today);
            if share < th.rating_share {
                let say = Say::RatingMissing {
                    window: w,
                    rated: state.rated_today,
                    served: state.served_today,
                    share,
                };
                out.push(self.window_finding(w, Rule::RatingMissing, Severity::Notice, now, say));
            }
        }
    }

    /// Reconciles what the rules due at `now` find with the alerts: opens,
    /// raises, escalates and resolves. Rules that are not due (see
    /// `Checks`) would find what they found last, so their alerts stand as
    /// they are. Returns an effect per alert that changed.
    pub fn supervise(&mut self, now: DateTime<Utc>) -> Vec<Effect> {
        let evaluated = self.rules_due(now);
        if evaluated.contains(&Rule::StaffingGap) {
            self.track_staffing_gaps(now);
        }
        let mut findings = Vec::new();
        for &rule in &evaluated {
            let next = self.findings(now, rule, &mut findings);
            self.checks.mark(rule, now, next);
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
                        let message = self.say(&f);
                        self.alerts[i].raise(&f, message);
                        self.escalations.watch(&self.alerts, i);
                        changed.push(self.alerts[i].id.clone());
                    }
                }
                None => {
                    let opened = self.spec.local(f.opened);
                    let base = format!(
                        "{}-{}-{}-{}",
                        self.spec.id,
                        opened.format("%Y%m%d-%H%M%S"),
                        f.rule.code(),
                        f.subject.key()
                    );
                    // The same condition reopened within the same second: rare,
                    // and numbered in the order a replay meets it too.
                    let mut id = base.clone();
                    let mut n = 1;
                    while self.alert_ids.contains_key(&id) {
                        n += 1;
                        id = format!("{base}-{n}");
                    }
                    let message = self.say(&f);
                    let (rule, subject) = (f.rule, f.subject.clone());
                    let i = self.alerts.len();
                    self.alert_ids.insert(id.clone(), i);
                    self.alerts
                        .push(Alert::from_finding(id.clone(), f, message));
                    self.open_alerts.insert(rule, subject, i);
                    self.escalations.watch(&self.alerts, i);
                    held.push(i);
                    changed.push(id);
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
        let after = secs(self.spec.thresholds.escalate_after_s);
        self.escalations
            .escalate(&mut self.alerts, now, after, &mut changed);
        changed.sort();
        changed.dedup();
        changed.into_iter().map(Effect::AlertChanged).collect()
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
            (AlertOp::Resolve, _) if a.rule == Rule::BadRating && note.is_none() => {
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
