//! The demo's booking platform (预约平台): it books the halls' coming
//! slots through the same hall calls the REST route makes, about one slot
//! in three of each service ([`books`]), under references the simulator's
//! citizens bring to the kiosk ([`reference`]); most of them check in and
//! the rest become 爽约, so the appointment figures move.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Timelike, Utc};
use tokio_util::sync::CancellationToken;
use tracing::debug;

use crate::clock::Clock;
use crate::domain::{BookingRequest, HallSpec, Input, ServiceCode};
use crate::engine::Registry;

/// Bookings the platform makes per service and slot, at most.
pub const PER_SLOT: u32 = 1;

/// Whether the platform books the `k`-th place of `service`'s slot at
/// `slot`: about one slot in three of each service, spread so that every
/// service has some.
pub fn books(hall: &HallSpec, service: &ServiceCode, slot: DateTime<Utc>, k: u32) -> bool {
    let s = hall.service_index(service).unwrap_or(0) as i64;
    k < PER_SLOT && (slot.timestamp() / 60 + s * 7 + i64::from(k)).rem_euclid(3) == 0
}

/// How far ahead the platform books.
const AHEAD: chrono::Duration = chrono::Duration::hours(3);

/// The reference of the `k`-th booking of `service`'s slot starting at
/// `slot` in `hall`: what the platform books and a simulated citizen
/// brings to the kiosk.
pub fn reference(hall: &HallSpec, service: &ServiceCode, slot: DateTime<Utc>, k: u32) -> String {
    let local = hall.local(slot);
    format!("YY{}-{service}-{k}", local.format("%Y%m%d%H%M"))
}

/// Runs the platform until `stop`: each real second it books the slots
/// that start within the next three hours and are not booked yet.
pub async fn run(registry: Registry, clock: Arc<dyn Clock>, stop: CancellationToken) {
    let mut booked: HashSet<String> = HashSet::new();
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
        let now = clock.now();
        for hall in registry.all() {
            let spec = hall.spec.clone();
            let step = chrono::Duration::minutes(i64::from(spec.bookings.slot_min));
            let into = i64::from(spec.local(now).num_seconds_from_midnight()) % step.num_seconds();
            // Whole seconds: a slot starts on the minute.
            let Some(mut slot) = DateTime::from_timestamp(now.timestamp() - into, 0) else {
                continue;
            };
            slot += step;
            while slot < now + AHEAD {
                if spec.is_open(slot) && spec.is_open(slot + step - chrono::Duration::seconds(1)) {
                    for s in &spec.services {
                        for k in 0..PER_SLOT.min(spec.bookings.per_slot) {
                            let r = reference(&spec, &s.code, slot, k);
                            if !books(&spec, &s.code, slot, k) || booked.contains(&r) {
                                continue;
                            }
                            let input = Input::Book {
                                booking: BookingRequest {
                                    reference: r.clone(),
                                    service: s.code.clone(),
                                    slot_start: slot,
                                    slot_end: slot + step,
                                },
                                by: "预约平台（演示）".into(),
                            };
                            match hall.booking(input).await {
                                Some(Ok(_)) => {
                                    booked.insert(r);
                                }
                                Some(Err(why)) => {
                                    debug!(booking = %r, reason = why.reason.code(), "Demo booking refused.");
                                    booked.insert(r);
                                }
                                None => return,
                            }
                        }
                    }
                }
                slot += step;
            }
        }
        // The references of slots long gone are not asked about again.
        if booked.len() > 50_000 {
            booked.clear();
        }
    }
}
