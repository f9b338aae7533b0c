//! What `/healthz` reports: is the broker connected, is the store writable.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// Shared health flags, set by the ingest loop and the store writer.
#[derive(Debug, Default)]
pub struct Health {
    /// The broker sessions this instance runs, by partition (`""` when one
    /// instance runs every hall).
    links: Mutex<Vec<(String, Arc<Link>)>>,
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

/// One broker session's two connections, as its ingest loop and its
/// publisher see them.
#[derive(Debug, Default)]
pub struct Link {
    mqtt_connected: AtomicBool,
    outgoing_connected: AtomicBool,
}

impl Link {
    /// Records a change of the ingest connection; true when it changed.
    pub fn set_mqtt(&self, connected: bool) -> bool {
        self.mqtt_connected.swap(connected, Ordering::Relaxed) != connected
    }

    /// Records a change of the outgoing connection (what the server publishes).
    pub fn set_outgoing(&self, connected: bool) {
        self.outgoing_connected.store(connected, Ordering::Relaxed);
    }

    /// Both connections are up: messages arrive and replies leave.
    pub fn connected(&self) -> bool {
        self.mqtt_connected.load(Ordering::Relaxed)
            && self.outgoing_connected.load(Ordering::Relaxed)
    }
}

impl Health {
    /// The link of the broker session `name`, counted from now on.
    pub fn link(&self, name: &str) -> Arc<Link> {
        let link = Arc::new(Link::default());
        if let Ok(mut links) = self.links.lock() {
            links.retain(|(n, _)| n != name);
            links.push((name.to_owned(), link.clone()));
        }
        link
    }

    /// Forgets the session `name`: this instance no longer runs it.
    pub fn drop_link(&self, name: &str) {
        if let Ok(mut links) = self.links.lock() {
            links.retain(|(n, _)| n != name);
        }
    }

    /// Every broker session this instance runs has both connections up
    /// (true when it runs none: an instance of a cluster waiting for a
    /// partition is healthy).
    pub fn mqtt_connected(&self) -> bool {
        self.links
            .lock()
            .map(|links| links.iter().all(|(_, l)| l.connected()))
            .unwrap_or(false)
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
