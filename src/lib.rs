//! hallwatch: a real-time monitoring server for public service halls
//! (政务服务中心, 便民服务中心).
//!
//! Events flow one way, from devices to screens:
//!
//! - `domain/`: the pure core. Halls, services, windows, tickets, the queue
//!   policy, load against the benchmark, the supervision rules (one file
//!   each under `domain/rules/`) and the alert lifecycle. No I/O, no async,
//!   no clock: every decision the product makes is made here.
//! - `config`: the TOML settings, validated into the domain's hall specs.
//! - `engine/`: one task per hall owning its `Hall`; the registry of halls.
//!   It hands the adapters typed messages: records and what follows their
//!   commit (`out`), messages for the broker (`Publisher`), messages for
//!   screens (`frames`).
//! - `store/`: the event log in SQLite or PostgreSQL; the batching writer,
//!   which reports what it committed.
//! - `mqtt/`: the wire contract (topics, payload types, schemas), the ingest
//!   loop, acknowledgements and replies after commit, the publisher.
//! - `http/`: REST, the WebSocket channels (one relay, `ws::open`), the
//!   embedded screens, `/codes.js`.
//! - `replay`: halls rebuilt from their checkpoints and the event log; `figures`: a past day's
//!   figures, kept or counted again.
//! - `contract`: what is generated from the code (schemas, OpenAPI, lists).
//! - `audit`: the tamper-evident chain of supervision records (pure).
//! - `notify/`: notifications to supervisors' phones: messages, channel
//!   bodies, signatures, routes, retries and rate limits (pure); the
//!   outbox's sender, its HTTP client and a webhook receiver (adapters).
//! - `app`: build, run and shut down. `broker` and `sim` serve the demo.
//!
//! Dependencies point one way: `domain` depends on nothing here; `config`
//! and `store` on `domain`; `replay` on `domain`, `config` and `store`;
//! `engine` on `domain` and `store`'s records; `figures` on `store` and
//! `replay`; the adapters `mqtt` and `http` on `engine`, `domain` and
//! `store` (never the other way, and never on each other); `contract`
//! reads the adapters' types; `app` wires everything. `clock`, `health`
//! and `metrics` are leaves any part may use.
//! `docs/architecture.md` tells where each decision lives and how to add a
//! rule, an op or an endpoint.

pub mod app;
pub mod audit;
pub mod board;
pub mod booking_desk;
#[cfg(feature = "demo-broker")]
pub mod broker;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod contract;
pub mod desk;
pub mod domain;
pub mod engine;
pub mod figures;
pub mod health;
pub mod http;
pub mod metrics;
pub mod mqtt;
pub mod notify;
pub mod partition;
pub mod replay;
pub mod sim;
pub mod store;

/// A number from a name, the same in every process and on every machine
/// (unlike the standard library's hasher): where a name's place falls in a
/// range, so that names spread over it (an instance's first partition to
/// take, a hall's moment for its checkpoints).
pub fn spread(name: &str) -> u64 {
    name.bytes()
        .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)))
}

/// The example configuration, also used by `hallwatch demo`.
pub const EXAMPLE_CONFIG: &str = include_str!("../hallwatch.example.toml");
