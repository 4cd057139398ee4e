//! comptoir: a gateway that hosts Spin-compatible WebAssembly components on
//! wasmtime, with several live replicas each, in-process service chaining
//! and one PostgreSQL database per service.
//!
//! # Layout
//!
//! - [`cli`]: flags and subcommands; [`app`]: `up` and `migrate`, start to stop;
//!   [`remote`]: the CLI's admin client (`deploy`, `rollback`, `status`).
//! - [`manifest`]: `spin.toml` (routes, components, allow-lists);
//!   [`variables`]: application variables and `spin:variables`.
//! - [`engine`]: the wasmtime engine (pooling, epochs, compile cache).
//! - [`platform`]: the platform world every component must fit.
//! - [`instance`]: a loaded component version and its store data.
//! - [`pool`]: replica sets: round-robin, recycling, backpressure;
//!   [`deadline`]: per-request deadlines inside an instance.
//! - [`router`]: the running application; [`server`]: the public listener;
//!   [`cors`]: the origin allow-list; [`problem`]: every error response the host makes.
//! - [`admin`]: the admin listener (metrics, inventory, deploys);
//!   [`deploy`]: hot swap, rollback, `--watch`, canaries; [`canary`]: a
//!   canary's share, counts and verdict; [`metrics`]: Prometheus.
//! - [`chaining`]: outbound HTTP = in-process calls to `*.spin.internal`.
//! - [`postgres`]: `spin:postgres` on sqlx, database isolation;
//!   [`migrate`]: schema migrations; [`cluster`]: the embedded PostgreSQL.
//! - [`bindings`]: host bindings generated from `wit/`.

pub mod admin;
pub mod app;
pub mod bindings;
pub mod canary;
pub mod chaining;
pub mod cli;
pub mod cluster;
pub mod cors;
pub mod deadline;
pub mod deploy;
pub mod engine;
pub mod instance;
pub mod manifest;
pub mod metrics;
pub mod migrate;
pub mod platform;
pub mod pool;
pub mod postgres;
pub mod problem;
pub mod remote;
pub mod router;
pub mod server;
pub mod variables;
