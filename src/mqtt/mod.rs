//! The MQTT adapter: topics and payloads of the wire contract (see
//! `mqtt/README.md`), the ingest loop, what follows a commit (acks and
//! replies), and the publisher of what hall tasks say.

pub mod acks;
pub mod acl;
pub mod client;
pub mod delivery;
pub mod ingest;
pub mod link;
pub mod outbox;
pub mod outgoing;
pub mod payload;
mod pending;
pub mod topic;
pub mod wire;
