//! hallwatch: a real-time monitoring server for public service halls
//! (政务服务中心, 便民服务中心).
//!
//! Events flow one way, from devices to screens:
//!
//! - `domain/`: the pure core. Halls, services, windows, tickets, the queue
//!   policy, load against the benchmark. No I/O, no async, no clock.
//! - `config`: the TOML settings, validated into the domain's hall specs.
//! - `mqtt/`: topics and payloads of the wire contract, the ingest loop and
//!   the outgoing connection that carries what the server publishes.
//! - `engine`: one task per hall owning its `Hall`; the registry of halls.
//! - `store/`: the event log in SQLite or PostgreSQL; the batching writer
//!   that acknowledges messages to the broker only after they are committed.
//! - `http/`: REST, the display WebSocket, the embedded screens.
//! - `replay`: halls rebuilt from the event log, at start and for past days.
//! - `app`: build, run and shut down. `broker` and `sim` serve the demo.

pub mod app;
#[cfg(feature = "demo-broker")]
pub mod broker;
pub mod clock;
pub mod config;
pub mod contract;
pub mod domain;
pub mod engine;
pub mod figures;
pub mod health;
pub mod http;
pub mod metrics;
pub mod mqtt;
pub mod replay;
pub mod sim;
pub mod store;

/// The example configuration, also used by `hallwatch demo`.
pub const EXAMPLE_CONFIG: &str = include_str!("../hallwatch.example.toml");
