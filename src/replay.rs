//! Rebuilding halls from the event log: at start, every hall from the
//! days it remembers; on demand, a past day's figures.
//!
//! Halls share nothing, so each hall's events are folded on their own, in
//! log order, and the halls are spread over the machine's cores as their
//! logs arrive from the store: the result is the same as folding the whole
//! log in order on one core, and folding starts while later halls are
//! still being read.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use chrono::{DateTime, NaiveDate, Utc};
use tracing::{error, info};

use crate::config::Settings;
use crate::domain::{CaseBook, DEDUP_WINDOW, DayFigures, Effect, Hall, HallSpec, Input};
use crate::store::{HallLog, StoredBook};

/// Where a hall's replay begins: the local midnight of the day that was
/// `replay_days` (at least the 24 h of id memory) ago, so no day is folded
/// from partway through.
pub fn hall_replay_start(spec: &HallSpec, replay_days: u32, now: DateTime<Utc>) -> DateTime<Utc> {
    let back = DEDUP_WINDOW.max(chrono::Duration::days(i64::from(replay_days)));
    spec.day_start(spec.local_date(now - back))
}

/// The earliest replay start of all halls.
pub fn replay_start(settings: &Settings, now: DateTime<Utc>) -> DateTime<Utc> {
    settings
        .halls
        .iter()
        .map(|h| hall_replay_start(h, settings.server.replay_days, now))
        .min()
        .unwrap_or(now)
}

/// What a replay rebuilt.
pub struct Replayed {
    /// Every hall as it was, brought up to `now`; in the order the halls
    /// were given.
    pub halls: Vec<ReplayedHall>,
    /// The figures of the days that ended during the replay.
    pub days: Vec<DayFigures>,
}

/// One hall a replay rebuilt.
pub struct ReplayedHall {
    pub hall: Hall,
    /// What changed in the last step up to `now` (alerts that came due
    /// while the server was down), for the hall task to publish.
    pub pending: Vec<Effect>,
    /// The hall's stored events its kept checkpoint lacks (all of them
    /// when it has none).
    pub unsaved: usize,
}

/// What a hall is folded over: a fresh hall at the replay's start, or the
/// hall its checkpoint holds.
pub enum Base {
    /// The log from the replay's start, over what the hall learns from the
    /// days before and its stored case book.
    Start {
        start: DateTime<Utc>,
        before: Before,
        book: StoredBook,
    },
    /// The log after the hall's checkpoint, over the hall it holds.
    Checkpoint(Box<Hall>),
}

/// What a hall learns from the days before its replay starts: the
/// tickets it issued (its forecast's arrival profile) and the kept figures
/// of the month's earlier days (the repeat findings' tally).
#[derive(Debug, Default)]
pub struct Before {
    pub arrivals: Vec<DateTime<Utc>>,
    pub days: Vec<DayFigures>,
}

/// One hall to fold: its place, spec, what it is folded over and the log
/// to fold.
struct Job {
    index: usize,
    spec: Arc<HallSpec>,
    base: Base,
    log: HallLog,
}

/// One hall after its replay.
struct Folded {
    hall: ReplayedHall,
    days: Vec<DayFigures>,
}

/// Folds halls on as many threads as the machine has cores, each as soon
/// as it is handed over.
pub struct Replay {
    jobs: mpsc::Sender<Job>,
    workers: Vec<JoinHandle<Vec<(usize, Folded)>>>,
}

impl Replay {
    /// Starts the folding threads; every hall is brought up to `now`.
    pub fn start(now: DateTime<Utc>) -> Self {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        let workers = (0..threads)
            .map(|_| {
                let queue = queue.clone();
                std::thread::spawn(move || {
                    let mut done = Vec::new();
                    // The lock is held only to take the next hall.
                    while let Some(job) = queue.lock().ok().and_then(|q| q.recv().ok()) {
                        done.push((job.index, fold_hall(job, now)));
                    }
                    done
                })
            })
            .collect();
        Self { jobs, workers }
    }

    /// Hands a hall's log over to be folded over `base`. `index` is the
    /// hall's place in what `finish` returns.
    pub fn fold(&self, index: usize, spec: Arc<HallSpec>, base: Base, log: HallLog) {
        let job = Job {
            index,
            spec,
            base,
            log,
        };
        // The workers stop only when this sender is dropped, in `finish`.
        if let Err(mpsc::SendError(job)) = self.jobs.send(job) {
            error!(hall = %job.spec.id, "The replay's threads are gone; hall not replayed.");
        }
    }

    /// Waits for every hall handed over, and returns them in the order of
    /// their indices. Blocks: call it off the async runtime.
    pub fn finish(self) -> Replayed {
        drop(self.jobs);
        let mut folded: Vec<(usize, Folded)> = self
            .workers
            .into_iter()
            .flat_map(|h| match h.join() {
                Ok(done) => done,
                // A fold does not panic on stored input; if one did, the
                // same panic is raised here as it would be on one thread.
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect();
        folded.sort_by_key(|(i, _)| *i);
        let mut days = Vec::new();
        let halls = folded
            .into_iter()
            .map(|(_, f)| {
                days.extend(f.days);
                f.hall
            })
            .collect();
        Replayed { halls, days }
    }
}

/// One hall's events folded over its base (a fresh hall from its start,
/// or its checkpoint), then brought up to `now`.
fn fold_hall(job: Job, now: DateTime<Utc>) -> Folded {
    let mut days = Vec::new();
    // What the replay changed in the case book: what the stored book
    // lacks (a change whose rows were not written), kept again at start.
    let mut book_changes = Vec::new();
    let mut hall = match job.base {
        Base::Start {
            start,
            before,
            book,
        } => {
            let begin = first_day(start, &before, &book, &job.log, &job.spec, now);
            let StoredBook {
                cases,
                cards,
                follow_ups,
                bookings,
            } = book;
            let mut hall = Hall::new(job.spec.clone(), begin);
            hall.restore_cases(CaseBook::restore(&job.spec, cases, cards, follow_ups));
            hall.restore_bookings(bookings);
            hall.learn_arrivals(&before.arrivals);
            hall.keep_past_days(&before.days);
            hall
        }
        Base::Checkpoint(hall) => *hall,
    };
    apply_log(&mut hall, &job.log, |effects| {
        for e in effects {
            match e {
                Effect::DayEnded(f) => days.push(*f),
                Effect::Case(_) => book_changes.push(e),
                _ => {}
            }
        }
    });
    // Coming up on a new day is no news; alerts that came due are.
    let mut pending = hall.tick(now);
    for e in &pending {
        if let Effect::DayEnded(f) = e {
            days.push((**f).clone());
        }
    }
    pending.retain(|e| !matches!(e, Effect::DayStarted(_) | Effect::DayEnded(_)));
    book_changes.dedup();
    pending.extend(book_changes);
    Folded {
        hall: ReplayedHall {
            hall,
            pending,
            unsaved: job.log.len(),
        },
        days,
    }
}

/// Where a hall's fold begins: its replay start, except for a hall with no
/// record before it (a new store, or a hall just added), which begins on
/// the day of its first event, or today without one. The days before were
/// not watched: a rota nobody was seen on then is no absence, and ending
/// them would count every staff member absent.
fn first_day(
    start: DateTime<Utc>,
    before: &Before,
    book: &StoredBook,
    log: &HallLog,
    spec: &HallSpec,
    now: DateTime<Utc>,
) -> DateTime<Utc> {
    if !before.days.is_empty() || !before.arrivals.is_empty() || !book.cases.is_empty() {
        return start;
    }
    let first = log
        .entries()
        .find_map(Result::ok)
        .map_or(now, |e| e.received_at);
    spec.day_start(spec.local_date(first)).max(start)
}

/// Applies each event of `log` to `hall` at the time it was received,
/// handing the effects of each to `effects`. An event that cannot be read
/// is logged and skipped.
fn apply_log(hall: &mut Hall, log: &HallLog, mut effects: impl FnMut(Vec<Effect>)) {
    for entry in log.entries() {
        let parsed = entry.map_err(|text| text.chars().take(80).collect::<String>());
        match parsed.and_then(|e| {
            serde_json::from_str::<Input>(e.input)
                .map(|input| (e, input))
                .map_err(|err| format!("seq {}: {err}", e.seq))
        }) {
            Ok((e, input)) => effects(hall.apply(&input, e.received_at).effects),
            Err(error) => error!(%error, "Stored event cannot be read; skipped."),
        }
    }
}

/// Counts a past day's figures again from its log: a fresh hall at the
/// day's start, the day's events folded over it, closed at its end.
pub fn count_day(spec: Arc<HallSpec>, log: &HallLog, date: NaiveDate) -> DayFigures {
    let start = spec.day_start(date);
    let end = date.succ_opt().map_or(start, |d| spec.day_start(d));
    let mut hall = Hall::new(spec, start);
    apply_log(&mut hall, log, drop);
    hall.tick(end - chrono::Duration::milliseconds(1));
    hall.figures(end, true)
}

/// What `hallwatch rebuild` made of one hall: its case book folded again
/// from the whole event log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rebuilt {
    pub hall: String,
    pub events: usize,
    pub cases: usize,
    pub cards: usize,
    pub follow_ups: usize,
}

/// Rebuilds every hall's case book (cases, cards, follow-ups, and the
/// appointments kept beside them) from its whole
/// event log, up to `now`, and keeps it in place of the stored one. For a
/// stopped server: the book is replaced hall by hall.
pub async fn rebuild(
    store: &crate::store::Store,
    halls: &[Arc<HallSpec>],
    now: DateTime<Utc>,
) -> Result<Vec<Rebuilt>, crate::store::StoreError> {
    use crate::store::{BookRow, Record};
    let mut out = Vec::new();
    for spec in halls {
        let id = spec.id.as_str();
        let log = store
            .hall_log(id, DateTime::<Utc>::UNIX_EPOCH, DateTime::<Utc>::MAX_UTC)
            .await?;
        let start = log
            .entries()
            .find_map(Result::ok)
            .map_or(now, |e| e.received_at);
        let events = log.len();
        let spec = spec.clone();
        let hall = tokio::task::spawn_blocking(move || {
            let mut hall = Hall::new(spec, start);
            apply_log(&mut hall, &log, |_| {});
            hall.tick(now);
            hall
        })
        .await
        .map_err(|e| crate::store::StoreError::Corrupt(format!("rebuild of {id}: {e}")))?;
        let book = hall.cases();
        let mut rows = Vec::new();
        for (n, c) in book.cases().iter().enumerate() {
            rows.push(Record::Book(BookRow::of_case(id, n, c, now)));
        }
        for (n, c) in book.cards().iter().enumerate() {
            rows.push(Record::Book(BookRow::of_card(id, n, c, now)));
        }
        for (n, f) in book.follow_ups().iter().enumerate() {
            rows.push(Record::Book(BookRow::of_follow_up(id, n, f, now)));
        }
        for (n, b) in hall.bookings().all().iter().enumerate() {
            rows.push(Record::Book(BookRow::of_booking(id, n, b, now)));
        }
        // The checkpoint holds the book as it was: the next start folds
        // the whole log over the rebuilt one.
        store.clear_checkpoint(id).await?;
        store.clear_case_book(id).await?;
        store.write(&rows).await?;
        info!(
            hall = id,
            events,
            cases = book.cases().len(),
            cards = book.cards().len(),
            follow_ups = book.follow_ups().len(),
            "Rebuilt the case book from the event log."
        );
        out.push(Rebuilt {
            hall: id.to_owned(),
            events,
            cases: book.cases().len(),
            cards: book.cards().len(),
            follow_ups: book.follow_ups().len(),
        });
    }
    Ok(out)
}
