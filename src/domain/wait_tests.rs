//! The wait estimate against the waits a scripted day actually gave.

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::*;

/// 00:00 Beijing time on Monday 2026-11-23, plus `s` seconds.
fn at(s: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 16, 0, 0).unwrap() + Duration::seconds(s)
}

const H: i64 = 3600;

/// What a window is doing in the scripted day, and until when.
#[derive(Clone, Copy, PartialEq)]
enum Doing {
    /// Ready to call at the instant.
    Free,
    /// Called a ticket; the citizen walks up (or never comes).
    Calling {
        shows: bool,
    },
    Serving,
}

struct Day {
    hall: Hall,
    n: u32,
    /// Each ticket's estimate when issued and when it was first called.
    issued: Vec<(i64, u32, Option<i64>)>,
}

impl Day {
    fn apply(&mut self, input: Input, now: i64) -> Reply {
        self.hall.apply(&input, at(now)).reply.expect("a reply")
    }
    fn id(&mut self) -> MsgId {
        self.n += 1;
        MsgId::parse(&format!("m{}", self.n)).unwrap()
    }
    fn op(&mut self, w: usize, op: WindowOp, now: i64) -> Reply {
        let id = self.id();
        let window = self.hall.spec().windows[w].id.clone();
        self.apply(Input::Window { window, id, op }, now)
    }
}

/// A weekday of three services and four windows, one of them shared:
/// arrivals with a morning peak, service times the configuration does not
/// know (it expects 600 s of each), staff at different paces, no-shows,
/// a lunch break that the waiting span. Returns (estimate, actual) pairs.
fn scripted_day(seed: u64) -> Vec<(u32, i64)> {
    let mut spec = test_spec();
    let mut extra = spec.windows[0].clone();
    extra.id = WindowId::parse("04").unwrap();
    extra.services = vec![0, 1, 2];
    extra.terminal = DeviceId::parse("w04").unwrap();
    extra.rater = DeviceId::parse("r04").unwrap();
    spec.windows.push(extra);
    let mut day = Day {
        hall: Hall::new(Arc::new(spec), at(0)),
        n: 0,
        issued: Vec::new(),
    };
    let mut rng = SmallRng::seed_from_u64(seed);
    // Mean service seconds per service, and each window's pace.
    let service_mean = [480.0, 300.0, 900.0];
    let pace = [0.9, 1.2, 1.0, 1.1];
    // Tickets per hour per service, by hour of the day from 09:00.
    let per_hour = |hour: i64| match hour {
        9 => 1.0,
        10 => 1.4,
        11 => 1.0,
        13 | 14 => 0.8,
        15 | 16 => 1.0,
        _ => 0.0,
    };
    let base = [12.0, 8.0, 4.5];
    let open = [(9 * H, 12 * H), (13 * H + 1800, 17 * H + 1800)];
    let is_open = |t: i64| open.iter().any(|&(a, b)| t >= a && t < b);
    let exp = |rng: &mut SmallRng, mean: f64| -mean * (1.0 - rng.random::<f64>()).ln();

    for w in 0..4 {
        let id = day.id();
        let window = day.hall.spec().windows[w].id.clone();
        let staff = StaffId::parse(&format!("S00{w}")).unwrap();
        day.apply(
            Input::Window {
                window,
                id,
                op: WindowOp::Login {
                    staff,
                    staff_name: None,
                },
            },
            9 * H - 60,
        );
    }
    let mut next_arrival: Vec<i64> = (0..3).map(|_| 9 * H).collect();
    let mut windows = [(9 * H, Doing::Free); 4];
    let mut current: [Option<usize>; 4] = [None; 4];
    let end = 17 * H + 1800;
    loop {
        let (wi, wt) = windows
            .iter()
            .enumerate()
            .map(|(i, (t, _))| (i, *t))
            .min_by_key(|&(_, t)| t)
            .unwrap();
        let (si, st) = next_arrival
            .iter()
            .enumerate()
            .map(|(i, t)| (i, *t))
            .min_by_key(|&(_, t)| t)
            .unwrap();
        let now = wt.min(st);
        if now >= end {
            break;
        }
        if st <= wt {
            // A citizen takes a ticket, while the kiosk issues.
            let rate = base[si] * per_hour(st / H);
            if rate > 0.0 && is_open(st) && st < 17 * H {
                let id = day.id();
                let reply = day.apply(
                    Input::Ticket {
                        kiosk: DeviceId::parse("k1").unwrap(),
                        id,
                        request: TicketRequest {
                            service: day.hall.spec().services[si].code.clone(),
                            priority: Priority::Normal,
                            appointment: None,
                            green_reason: None,
                            issued_by: None,
                            token: None,
                        },
                    },
                    st,
                );
                let Reply::Ticket {
                    estimated_wait_s, ..
                } = reply
                else {
                    panic!("{reply:?}")
                };
                day.issued.push((st, estimated_wait_s, None));
            }
            let gap = if rate > 0.0 {
                exp(&mut rng, H as f64 / rate)
            } else {
                300.0
            };
            next_arrival[si] = st + gap.max(1.0) as i64;
            continue;
        }
        let (t, doing) = windows[wi];
        match doing {
            Doing::Free => {
                if !is_open(t) {
                    windows[wi] = (t + 60, Doing::Free);
                    continue;
                }
                let reply = day.op(wi, WindowOp::CallNext, t);
                match reply {
                    Reply::Window {
                        ticket: Some(no), ..
                    } => {
                        let ti = day.hall.tickets().iter().position(|x| x.no == no).unwrap();
                        if day.issued[ti].2.is_none() {
                            day.issued[ti].2 = Some(t);
                        }
                        current[wi] = Some(ti);
                        let shows = rng.random::<f64>() > 0.05;
                        let walk = if shows {
                            20 + rng.random_range(0..40)
                        } else {
                            90
                        };
                        windows[wi] = (t + walk, Doing::Calling { shows });
                    }
                    _ => windows[wi] = (t + 15, Doing::Free),
                }
            }
            Doing::Calling { shows: true } => {
                day.op(wi, WindowOp::Start, t);
                let s = day.hall.tickets()[current[wi].unwrap()].service;
                // Erlang-3: a service time's spread is about 0.6 of its mean.
                let mean = service_mean[s] * pace[wi] / 3.0;
                let took = (0..3).map(|_| exp(&mut rng, mean)).sum::<f64>().max(60.0) as i64;
                windows[wi] = (t + took, Doing::Serving);
            }
            Doing::Calling { shows: false } => {
                day.op(wi, WindowOp::NoShow, t);
                windows[wi] = (t + 10, Doing::Free);
            }
            Doing::Serving => {
                day.op(
                    wi,
                    WindowOp::Finish {
                        outcome: Outcome::Completed,
                        case: None,
                        items: 1,
                    },
                    t,
                );
                let gap = 10 + rng.random_range(0..30);
                windows[wi] = (t + gap, Doing::Free);
            }
        }
    }
    day.issued
        .iter()
        .filter_map(|&(issued, est, called)| Some((est, called? - issued)))
        .collect()
}

fn median(mut xs: Vec<i64>) -> i64 {
    xs.sort_unstable();
    xs[xs.len() / 2]
}

#[test]
fn the_wait_estimate_is_within_five_minutes_or_thirty_percent_on_a_scripted_day() {
    for seed in 1..=6 {
        let pairs = scripted_day(seed);
        assert!(pairs.len() > 80, "a busy day: {} tickets", pairs.len());
        let error = median(
            pairs
                .iter()
                .map(|&(e, a)| (i64::from(e) - a).abs())
                .collect(),
        );
        let actual = median(pairs.iter().map(|&(_, a)| a).collect());
        let bias = median(pairs.iter().map(|&(e, a)| i64::from(e) - a).collect());
        let bound = 300.max(actual * 3 / 10);
        println!(
            "seed {seed}: {} tickets called, median actual wait {actual} s, \
             median absolute error {error} s (bound {bound} s), median error {bias} s",
            pairs.len()
        );
        assert!(error <= bound, "seed {seed}: {error} s > {bound} s");
    }
}

#[test]
fn a_wait_spanning_the_lunch_break_counts_it() {
    let mut spec = test_spec();
    spec.services[2].expected_service_s = 1200;
    let mut hall = Hall::new(Arc::new(spec), at(0));
    let kiosk = DeviceId::parse("k1").unwrap();
    let mut wait = None;
    for i in 0..3 {
        let reply = hall
            .apply(
                &Input::Ticket {
                    kiosk: kiosk.clone(),
                    id: MsgId::parse(&format!("k{i}")).unwrap(),
                    request: TicketRequest {
                        service: ServiceCode::parse("QY").unwrap(),
                        priority: Priority::Normal,
                        appointment: None,
                        green_reason: None,
                        issued_by: None,
                        token: None,
                    },
                },
                at(11 * H + 1800),
            )
            .reply;
        if let Some(Reply::Ticket {
            estimated_wait_s, ..
        }) = reply
        {
            wait = Some(estimated_wait_s);
        }
    }
    // The third ticket at 11:30 with two ahead at one window (03) of
    // 1,200 s a ticket: 2.5 × 1,200 = 3,000 office seconds, of which
    // 1,800 before noon and 1,200 after 13:30, so 1 h 30 min of lunch
    // makes 8,400 s.
    assert_eq!(wait, Some(8400));
}
