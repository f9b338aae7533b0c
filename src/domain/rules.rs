//! The supervision rules of DOMAIN.md, each a function of the hall and the
//! time that says what is wrong now. `Hall::supervise` turns findings into
//! alerts (see `alert.rs`).

use chrono::{DateTime, Duration, Utc};

use super::alert::{
    Action, Alert, AlertOp, AlertRefusal, AlertState, Finding, Rule, Severity, Subject,
};
use super::hall::{Effect, Hall, TicketState};

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
    /// When `secs` of office time will have passed since `base`, if by `now`.
    fn due(&self, base: DateTime<Utc>, secs: i64, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.spec.office_deadline(base, secs).filter(|d| *d <= now)
    }

    /// The severity reached at `now`, counting office time from `base`
    /// against (warning, critical) seconds.
    fn graded(
        &self,
        base: DateTime<Utc>,
        now: DateTime<Utc>,
        (warn, crit): (i64, i64),
    ) -> Option<Grade> {
        let first = self.due(base, warn, now)?;
        Some(grade_at(first, self.due(base, crit, now), (warn, crit)))
    }

    /// Everything wrong in the hall at `now`, by rule, and the rules that
    /// were evaluated (time-based ones are silent while the hall is closed).
    pub fn findings(&self, now: DateTime<Utc>) -> (Vec<Finding>, Vec<Rule>) {
        let open_since = self.spec.open_since(now);
        let mut out = Vec::new();
        let mut evaluated = Vec::new();
        for rule in Rule::ALL {
            if rule.time_based() && open_since.is_none() {
                continue;
            }
            evaluated.push(rule);
            match rule {
                Rule::WaitTimeout => self.wait_timeout(now, &mut out),
                Rule::QueueBacklog => self.queue_backlog(now, &mut out),
                Rule::WindowOverload => self.window_overload(now, &mut out),
                Rule::WindowUnattended => self.window_unattended(now, &mut out),
                Rule::IdleWithQueue => self.idle_with_queue(now, &mut out),
                Rule::PauseTooLong => self.pause_too_long(now, &mut out),
                Rule::ServiceTimeout => self.service_timeout(now, &mut out),
                Rule::CallUnanswered => self.call_unanswered(now, &mut out),
                Rule::NoShowStreak => self.no_show_streak(&mut out),
                Rule::BadRating => self.bad_rating(&mut out),
                Rule::DeviceOffline => self.device_offline(now, &mut out),
                Rule::RatingMissing => self.rating_missing(now, &mut out),
                Rule::StaffingGap => self.staffing_gap(now, &mut out),
            }
        }
        (out, evaluated)
    }

    fn window_finding(
        &self,
        w: usize,
        rule: Rule,
        severity: Severity,
        since: DateTime<Utc>,
        message: String,
    ) -> Finding {
        Finding {
            rule,
            subject: Subject::Window(self.spec.windows[w].id.clone()),
            severity,
            since,
            opened: since,
            message,
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
        now: DateTime<Utc>,
        limits: (i64, i64),
        describe: impl Fn(i64) -> String,
    ) -> Option<Finding> {
        let g = self.graded(base, now, limits)?;
        let mut f = self.window_finding(w, rule, g.severity, g.since, describe(minutes(g.limit)));
        f.opened = g.first;
        Some(f)
    }

    /// Waiting tickets past their service's limits. This runs on every
    /// event and a busy hall has hundreds waiting, so each ticket's
    /// deadlines are worked out once, and the walk of each priority class
    /// stops at the first ticket not yet due: the rest of its class were
    /// issued later, so fall due later (the limits are the queue's own).
    fn wait_timeout(&self, now: DateTime<Utc>, out: &mut Vec<Finding>) {
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
                            self.spec.office_deadline(t.issued_at, limits.0),
                            self.spec.office_deadline(t.issued_at, limits.1),
                        )
                    });
                    let Some(first) = warn_at.filter(|d| *d <= now) else {
                        break;
                    };
                    self.wait_finding(t, first, crit_at.filter(|d| *d <= now), limits, out);
                }
            }
        }
    }

    fn wait_finding(
        &self,
        t: &super::hall::Ticket,
        first: DateTime<Utc>,
        crit_due: Option<DateTime<Utc>>,
        limits: (i64, i64),
        out: &mut Vec<Finding>,
    ) {
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
            message: format!("{}（{}）已等候超过 {} 分钟", t.no, svc.name, minutes(limit)),
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
                    message: format!("{}排队 {} 人，开放窗口 {:.1} 个", svc.name, waiting, open),
                    window: None,
                    ticket: None,
                    service: Some(svc.code.clone()),
                });
            }
        }
    }

    /// A service short of at least one window for the configured time. When
    /// each gap began is kept by `track_staffing_gaps`.
    fn staffing_gap(&self, now: DateTime<Utc>, out: &mut Vec<Finding>) {
        let hold = secs(self.spec.thresholds.staffing_gap_s);
        for st in self.staffing(now) {
            let svc = &self.spec.services[st.service];
            let Some(&began) = self.gap_since.get(&st.service) else {
                continue;
            };
            if !st.short_of_a_window() || now < began + hold {
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
                message: format!(
                    "{}类窗口不足已持续 {} 分钟，建议增开窗口",
                    svc.name,
                    minutes(self.spec.thresholds.staffing_gap_s)
                ),
                window: None,
                ticket: None,
                service: Some(svc.code.clone()),
            });
        }
    }

    /// Notes when each service's shortfall of windows began, or that it ended.
    fn track_staffing_gaps(&mut self, now: DateTime<Utc>) {
        if self.spec.open_since(now).is_none() {
            return;
        }
        for st in self.staffing(now) {
            if st.short_of_a_window() {
                self.gap_since.entry(st.service).or_insert(now);
            } else {
                self.gap_since.remove(&st.service);
            }
        }
    }

    fn window_overload(&self, now: DateTime<Utc>, out: &mut Vec<Finding>) {
        let (notice, warning) = self.spec.thresholds.overload;
        for (w, spec) in self.spec.windows.iter().enumerate() {
            let load = self.load(w);
            let severity = if load >= warning {
                Severity::Warning
            } else if load >= notice {
                Severity::Notice
            } else {
                continue;
            };
            let served = self.windows[w].served_today;
            let message = format!(
                "{}今日已办 {} 件，为基准 {} 件的 {:.0}%",
                spec.name,
                served,
                spec.benchmark,
                load * 100.0
            );
            out.push(self.window_finding(w, Rule::WindowOverload, severity, now, message));
        }
    }

    fn window_unattended(&self, now: DateTime<Utc>, out: &mut Vec<Finding>) {
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
                now,
                limits,
                |m| format!("{}空岗已超过 {m} 分钟", spec.name),
            ));
        }
    }

    fn idle_with_queue(&self, now: DateTime<Utc>, out: &mut Vec<Finding>) {
        let limit = self.spec.thresholds.idle_with_queue_s;
        for (w, spec) in self.spec.windows.iter().enumerate() {
            let state = &self.windows[w];
            if state.staff.is_none() || state.paused.is_some() || state.current.is_some() {
                continue;
            }
            // The oldest ticket it may serve, by when it joined the queue.
            let Some(first_waiting) = self
                .tickets
                .iter()
                .filter(|t| t.state == TicketState::Waiting && spec.services.contains(&t.service))
                .map(|t| t.issued_at)
                .min()
            else {
                continue;
            };
            let base = state.since.max(first_waiting);
            if let Some(due) = self.due(base, limit, now) {
                let message = format!("{}有群众等候但已 {} 分钟未叫号", spec.name, minutes(limit));
                out.push(self.window_finding(
                    w,
                    Rule::IdleWithQueue,
                    Severity::Warning,
                    due,
                    message,
                ));
            }
        }
    }

    fn pause_too_long(&self, now: DateTime<Utc>, out: &mut Vec<Finding>) {
        let limits = self.spec.thresholds.pause_s;
        for (w, spec) in self.spec.windows.iter().enumerate() {
            let state = &self.windows[w];
            if state.staff.is_none() || state.paused.is_none() {
                continue;
            }
            out.extend(
                self.graded_window(w, Rule::PauseTooLong, state.since, now, limits, |m| {
                    format!("{}暂停服务已超过 {m} 分钟", spec.name)
                }),
            );
        }
    }

    fn service_timeout(&self, now: DateTime<Utc>, out: &mut Vec<Finding>) {
        for (w, spec) in self.spec.windows.iter().enumerate() {
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
            }) = self.graded(started, now, limits)
            {
                let mut f = self.window_finding(
                    w,
                    Rule::ServiceTimeout,
                    severity,
                    since,
                    format!(
                        "{}办理 {}（{}）已超过 {} 分钟",
                        spec.name,
                        ticket.no,
                        svc.name,
                        minutes(limit)
                    ),
                );
                f.subject = Subject::Ticket(self.day, ticket.no.clone());
                f.ticket = Some(ticket.no.clone());
                f.service = Some(svc.code.clone());
                f.opened = first;
                out.push(f);
            }
        }
    }

    fn call_unanswered(&self, now: DateTime<Utc>, out: &mut Vec<Finding>) {
        let limit = self.spec.thresholds.call_unanswered_s;
        for (w, spec) in self.spec.windows.iter().enumerate() {
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
            if let Some(due) = self.due(called, limit, now) {
                let mut f = self.window_finding(
                    w,
                    Rule::CallUnanswered,
                    Severity::Notice,
                    due,
                    format!(
                        "{} 呼叫到{}后 {} 分钟未开始办理",
                        ticket.no,
                        spec.name,
                        minutes(limit)
                    ),
                );
                f.subject = Subject::Ticket(self.day, ticket.no.clone());
                f.ticket = Some(ticket.no.clone());
                out.push(f);
            }
        }
    }

    fn no_show_streak(&self, out: &mut Vec<Finding>) {
        let th = &self.spec.thresholds;
        for (w, spec) in self.spec.windows.iter().enumerate() {
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
                let message = format!(
                    "{} {} 分钟内连续过号 {} 次，请核实",
                    spec.name,
                    minutes(th.no_show_within_s),
                    n
                );
                out.push(self.window_finding(
                    w,
                    Rule::NoShowStreak,
                    Severity::Warning,
                    r[n - 1],
                    message,
                ));
            }
        }
    }

    fn bad_rating(&self, out: &mut Vec<Finding>) {
        for t in &self.tickets {
            let (Some(score), Some(at)) = (t.rating, t.rated_at) else {
                continue;
            };
            if score > 2 {
                continue;
            }
            let window = t.window.map(|w| &self.spec.windows[w]);
            let comment = t
                .rating_comment
                .as_deref()
                .map(|c| format!("：{c}"))
                .unwrap_or_default();
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
                message: format!(
                    "{}办理的 {} 收到差评（{} 分）{}",
                    window.map_or("", |w| w.name.as_str()),
                    t.no,
                    score,
                    comment
                ),
                window: window.map(|w| w.id.clone()),
                ticket: Some(t.no.clone()),
                service: Some(self.spec.services[t.service].code.clone()),
            });
        }
    }

    fn device_offline(&self, now: DateTime<Utc>, out: &mut Vec<Finding>) {
        let limit = self.spec.thresholds.device_offline_s;
        for (device, (online, since)) in &self.presence {
            if *online {
                continue;
            }
            let Some(due) = self.due(*since, limit, now) else {
                continue;
            };
            let (what, window) = match self.spec.device_kind(device) {
                Some(super::DeviceKind::Kiosk) => ("取号机".to_owned(), None),
                Some(super::DeviceKind::Terminal(w)) => {
                    (format!("{}窗口终端", self.spec.windows[w].name), Some(w))
                }
                Some(super::DeviceKind::Rater(w)) => {
                    (format!("{}评价器", self.spec.windows[w].name), Some(w))
                }
                None => continue,
            };
            out.push(Finding {
                rule: Rule::DeviceOffline,
                subject: Subject::Device(device.clone()),
                severity: Severity::Warning,
                since: due,
                opened: due,
                message: format!(
                    "{what}（{device}）离线已超过 {} 分钟",
                    minutes(limit).max(1)
                ),
                window: window.map(|w| self.spec.windows[w].id.clone()),
                ticket: None,
                service: None,
            });
        }
    }

    fn rating_missing(&self, now: DateTime<Utc>, out: &mut Vec<Finding>) {
        let th = &self.spec.thresholds;
        for (w, spec) in self.spec.windows.iter().enumerate() {
            let state = &self.windows[w];
            if state.served_today < th.rating_after {
                continue;
            }
            let share = f64::from(state.rated_today) / f64::from(state.served_today);
            if share < th.rating_share {
                let message = format!(
                    "{}今日评价率 {:.0}%（{}/{}），低于 {:.0}%",
                    spec.name,
                    share * 100.0,
                    state.rated_today,
                    state.served_today,
                    th.rating_share * 100.0
                );
                out.push(self.window_finding(
                    w,
                    Rule::RatingMissing,
                    Severity::Notice,
                    now,
                    message,
                ));
            }
        }
    }

    /// Reconciles the findings at `now` with the alerts: opens, raises,
    /// escalates and resolves. Returns an effect per alert that changed.
    pub fn supervise(&mut self, now: DateTime<Utc>) -> Vec<Effect> {
        self.track_staffing_gaps(now);
        let (mut findings, evaluated) = self.findings(now);
        // Open in the order the conditions arose, so ids follow it on replay too.
        findings.sort_by(|a, b| (a.since, a.rule, &a.subject).cmp(&(b.since, b.rule, &b.subject)));
        let mut changed: Vec<String> = Vec::new();
        let mut present = std::collections::HashSet::new();
        for f in findings {
            present.insert((f.rule, f.subject.clone()));
            // A person resolved this condition: only a higher severity speaks again.
            if self
                .silenced
                .get(&(f.rule, f.subject.clone()))
                .is_some_and(|s| f.severity <= *s)
            {
                continue;
            }
            match self.open_alerts.get(&(f.rule, f.subject.clone())) {
                Some(&i) => {
                    if self.alerts[i].raise(&f) {
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
                    while self.alerts.iter().any(|a| a.id == id) {
                        n += 1;
                        id = format!("{base}-{n}");
                    }
                    let key = (f.rule, f.subject.clone());
                    self.alerts.push(Alert::from_finding(id.clone(), f));
                    self.open_alerts.insert(key, self.alerts.len() - 1);
                    changed.push(id);
                }
            }
        }
        // Conditions that cleared resolve their alerts, for the rules that
        // were evaluated and that do not need a person.
        let cleared: Vec<(Rule, Subject)> = self
            .open_alerts
            .keys()
            .filter(|k| k.0.resolves_itself() && evaluated.contains(&k.0) && !present.contains(*k))
            .cloned()
            .collect();
        for key in cleared {
            if let Some(i) = self.open_alerts.remove(&key) {
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
        self.silenced
            .retain(|k, _| !evaluated.contains(&k.0) || present.contains(k));
        let after = secs(self.spec.thresholds.escalate_after_s);
        for &i in self.open_alerts.values() {
            if self.alerts[i].escalate(now, after) {
                changed.push(self.alerts[i].id.clone());
            }
        }
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
        let i = self
            .alerts
            .iter()
            .position(|a| a.id == alert)
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
                let key = (a.rule, a.subject.clone());
                self.open_alerts.remove(&key);
                // Handled by a person: not reopened while the condition lasts,
                // unless it grows worse.
                self.silenced.insert(key, a.severity);
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
        self.alerts.iter().find(|a| a.id == id)
    }
}
