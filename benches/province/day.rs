//! A day in every hall of the province: windows log in at opening,
//! citizens arrive on the demo simulator's day profile (a mid-morning
//! peak, a lunch dip, a smaller afternoon peak), take a ticket, are called
//! by the first free window, served and mostly rate the service; a few do
//! not come when called. The windows log out when their queue is empty
//! after closing.
//!
//! Every hall is simulated as a queue with its windows as servers, so each
//! `call_next` is sent only when a ticket waits and each op is valid: the
//! run measures work done, not refusals.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::region::{Hall, Province, window_id};

/// Simulated seconds from 08:30 (opening) to 17:30 (closing).
pub const DAY_S: f64 = 9.0 * 3600.0;
/// Simulated hours start at 08:30.
pub const OPENS_H: f64 = 8.5;
/// Tickets stop half an hour before closing (停止取号).
const LAST_TICKET_S: f64 = DAY_S - 1800.0;

/// A device of a hall.
#[derive(Debug, Clone, Copy)]
pub enum Device {
    Kiosk(u8),
    Window(u16),
    Rater(u16),
}

/// What a device says.
#[derive(Debug, Clone, Copy)]
pub enum Op {
    Login,
    Logout,
    Request { service: u8 },
    CallNext,
    Start,
    Finish { rejected: bool },
    NoShow,
    Rating { score: u8 },
}

/// One message of the day.
#[derive(Debug, Clone, Copy)]
pub struct Event {
    /// Simulated seconds from opening.
    pub at: f64,
    pub hall: u32,
    pub device: Device,
    pub op: Op,
}

impl Event {
    /// Its topic and payload, with `id` as its message id.
    pub fn wire(&self, province: &Province, id: &str) -> (String, Vec<u8>) {
        let hall = &province.halls[self.hall as usize];
        let topic = match self.device {
            Device::Kiosk(k) => format!("hallwatch/{}/kiosk/k{k}/request", hall.id),
            Device::Window(w) => {
                format!(
                    "hallwatch/{}/window/{}/command",
                    hall.id,
                    window_id(w.into())
                )
            }
            Device::Rater(w) => {
                format!("hallwatch/{}/rater/{}/rating", hall.id, window_id(w.into()))
            }
        };
        let body = match self.op {
            Op::Login => {
                let staff = match self.device {
                    Device::Window(w) => w + 1,
                    Device::Kiosk(_) | Device::Rater(_) => 0,
                };
                serde_json::json!({"id": id, "op": "login", "staff": format!("S{staff:02}")})
            }
            Op::Logout => serde_json::json!({"id": id, "op": "logout"}),
            Op::Request { service } => serde_json::json!({
                "id": id,
                "service": hall.services[usize::from(service)].0,
                "priority": "normal",
            }),
            Op::CallNext => serde_json::json!({"id": id, "op": "call_next"}),
            Op::Start => serde_json::json!({"id": id, "op": "start"}),
            Op::Finish { rejected } => serde_json::json!({
                "id": id,
                "op": "finish",
                "outcome": if rejected { "rejected" } else { "completed" },
            }),
            Op::NoShow => serde_json::json!({"id": id, "op": "no_show"}),
            Op::Rating { score } => serde_json::json!({"id": id, "score": score}),
        };
        (topic, body.to_string().into_bytes())
    }

    /// The device's id, as the message id's prefix.
    pub fn device_id(&self) -> String {
        match self.device {
            Device::Kiosk(k) => format!("k{k}"),
            Device::Window(w) => format!("w{}", window_id(w.into())),
            Device::Rater(w) => format!("r{}", window_id(w.into())),
        }
    }
}

/// Arrival times drawn from the simulator's day profile, on a five-minute
/// grid from opening to the last ticket.
struct Arrivals {
    cumulative: Vec<f64>,
}

const BIN_S: f64 = 300.0;

impl Arrivals {
    fn new() -> Self {
        let bins = (LAST_TICKET_S / BIN_S) as usize;
        let mut total = 0.0;
        let cumulative = (0..bins)
            .map(|b| {
                let hour = OPENS_H + (b as f64 + 0.5) * BIN_S / 3600.0;
                total += hallwatch::sim::profile_weight(hour);
                total
            })
            .collect();
        Self { cumulative }
    }

    fn draw(&self, rng: &mut SmallRng) -> f64 {
        let total = *self.cumulative.last().unwrap_or(&1.0);
        let u = rng.random_range(0.0..total);
        let b = self.cumulative.partition_point(|c| *c <= u);
        (b as f64 + rng.random_range(0.0..1.0)) * BIN_S
    }
}

/// The day of every hall, `scale` times the ordinary number of citizens,
/// in the order of its simulated time.
pub fn plan(province: &Province, scale: f64, seed: u64) -> Vec<Event> {
    let arrivals = Arrivals::new();
    let mut all = Vec::new();
    for (i, hall) in province.halls.iter().enumerate() {
        let mut rng =
            SmallRng::seed_from_u64(seed ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        hall_day(hall, i as u32, scale, &arrivals, &mut rng, &mut all);
    }
    // Stable: within a hall, an event generated earlier at the same time
    // (a request before the call that takes it) stays first.
    all.sort_by(|a, b| a.at.total_cmp(&b.at));
    all
}

fn hall_day(
    hall: &Hall,
    index: u32,
    scale: f64,
    arrivals: &Arrivals,
    rng: &mut SmallRng,
    out: &mut Vec<Event>,
) {
    let ev = |at: f64, device: Device, op: Op| Event {
        at,
        hall: index,
        device,
        op,
    };
    // Windows log in in the first minutes of the day.
    let mut free_at: Vec<f64> = (0..hall.windows)
        .map(|w| {
            let at = rng.random_range(0.0..120.0);
            out.push(ev(at, Device::Window(w as u16), Op::Login));
            at + 1.0
        })
        .collect();
    let expected = (hall.windows * hall.citizens_per_window) as f64 * scale;
    let citizens = (expected * rng.random_range(0.85..1.15)).round().max(1.0) as usize;
    let mut times: Vec<f64> = (0..citizens).map(|_| arrivals.draw(rng)).collect();
    times.sort_by(f64::total_cmp);
    for arrived in times {
        // The first service is the commonest.
        let n = hall.services.len();
        let service = if rng.random_bool(0.4) {
            0
        } else {
            rng.random_range(0..n)
        };
        let kiosk = rng.random_range(1..=hall.kiosks);
        out.push(ev(
            arrived,
            Device::Kiosk(kiosk as u8),
            Op::Request {
                service: service as u8,
            },
        ));
        // The window free first calls the head of the queue.
        let (w, free) = free_at
            .iter()
            .copied()
            .enumerate()
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap_or((0, 0.0));
        let called = free.max(arrived + 1.0);
        let window = Device::Window(w as u16);
        out.push(ev(called, window, Op::CallNext));
        if rng.random_bool(0.03) {
            // Not there: 过号 after two minutes.
            out.push(ev(called + 120.0, window, Op::NoShow));
            free_at[w] = called + 150.0;
            continue;
        }
        let started = called + rng.random_range(30.0..90.0);
        let finished = started + rng.random_range(180.0..780.0);
        out.push(ev(started, window, Op::Start));
        out.push(ev(
            finished,
            window,
            Op::Finish {
                rejected: rng.random_bool(0.08),
            },
        ));
        if rng.random_bool(0.8) {
            let score = match rng.random_range(0..100) {
                0..85 => 5,
                85..95 => 4,
                95..98 => 3,
                98..99 => 2,
                _ => 1,
            };
            out.push(ev(
                finished + rng.random_range(5.0..25.0),
                Device::Rater(w as u16),
                Op::Rating { score },
            ));
        }
        free_at[w] = finished + rng.random_range(30.0..60.0);
    }
    for (w, free) in free_at.into_iter().enumerate() {
        out.push(ev(
            free.max(DAY_S) + rng.random_range(0.0..300.0),
            Device::Window(w as u16),
            Op::Logout,
        ));
    }
}
