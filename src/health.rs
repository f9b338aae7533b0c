//! What `/healthz` reports: is the broker connected, is the store writable.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// Shared health flags, set by the ingest loop and the store writer.
#[derive(Debug, Default)]
pub struct Health {
    mqtt_connected: AtomicBool,
    outgoing_connected: AtomicBool,
    store_failing: AtomicBool,
    store_error: Mutex<Option<String>>,
    ready: AtomicBool,
    notify_failing: Mutex<Vec<ChannelFailure>>,
}

/// A notification channel failing for longer than `[notify]
/// failing_after_s` allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelFailure {
    pub channel: String,
    /// Its first failed attempt since it last delivered.
    pub since: chrono::DateTime<chrono::Utc>,
    pub error: String,
}

impl Health {
    /// Records a broker connection change; true when it changed.
    pub fn set_mqtt(&self, connected: bool) -> bool {
        self.mqtt_connected.swap(connected, Ordering::Relaxed) != connected
    }

    /// Records a change of the outgoing connection (what the server publishes).
    pub fn set_outgoing(&self, connected: bool) {
        self.outgoing_connected.store(connected, Ordering::Relaxed);
    }

    /// Both broker connections are up: messages arrive and replies leave.
    pub fn mqtt_connected(&self) -> bool {
        self.mqtt_connected.load(Ordering::Relaxed)
            && self.outgoing_connected.load(Ordering::Relaxed)
    }

    /// Records a failed write; true when the store was fine before.
    pub fn set_store_failed(&self, error: &str) -> bool {
        if let Ok(mut e) = self.store_error.lock() {
            *e = Some(error.to_owned());
        }
        !self.store_failing.swap(true, Ordering::Relaxed)
    }

    /// Records a good write; true when the store was failing before.
    pub fn set_store_ok(&self) -> bool {
        let was = self.store_failing.swap(false, Ordering::Relaxed);
        if was && let Ok(mut e) = self.store_error.lock() {
            *e = None;
        }
        was
    }

    /// The last store error while the store is failing.
    pub fn store_error(&self) -> Option<String> {
        if !self.store_failing.load(Ordering::Relaxed) {
            return None;
        }
        self.store_error.lock().ok().and_then(|e| e.clone())
    }

    /// The notification channels failing for too long, as the sender sees
    /// them.
    pub fn set_notify_failing(&self, failing: Vec<ChannelFailure>) {
        if let Ok(mut f) = self.notify_failing.lock() {
            *f = failing;
        }
    }

    pub fn notify_failing(&self) -> Vec<ChannelFailure> {
        self.notify_failing
            .lock()
            .map(|f| f.clone())
            .unwrap_or_default()
    }

    /// Replay finished and traffic is taken.
    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::Relaxed);
    }

    pub fn ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }
}
