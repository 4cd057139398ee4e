//! comptoir: a gateway that hosts Spin-compatible WebAssembly components on
//! wasmtime, with several live replicas each, in-process service chaining
//! and one PostgreSQL database per service.
//!
//! # Layout
//!
//! - [`cli`]: flags and subcommands; [`command`]: what each one does;
//!   [`app`]: `up` and `migrate`, start to stop;
//!   [`remote`]: the CLI's admin client (`deploy`, `rollback`, `status`);
//!   [`api`]: the admin API's wire types both sides share.
//! - [`manifest`]: `spin.toml` (components, templates); [`files`]: what a
//!   component may read; [`routes`]: the
//!   route table; [`allowed_hosts`]: the outbound allow-list policy;
//!   [`variables`]: application variables and `spin:variables`;
//!   [`issuer`]: the dev issuer trusted when no identity provider is set.
//! - [`engine`]: the wasmtime engine (pooling, epochs, compile cache).
//! - [`platform`]: the platform world every component must fit.
//! - [`instance`]: a loaded component version and its store data;
//!   [`componentize`]: core modules made components at load.
//! - [`pool`]: replica sets: round-robin, recycling, backpressure, retry;
//!   [`deadline`]: per-request deadlines inside an instance.
//! - [`router`]: the running application; [`server`]: the public listener;
//!   [`cors`]: the origin allow-list; [`problem`]: every error response the
//!   host makes; [`response`]: the shared body type and plain responses.
//! - [`admin`]: the admin listener (metrics, inventory, deploys);
//!   [`deploy`]: hot swap, rollback, `--watch`, canaries; [`canary`]: a
//!   canary's share, counts and verdict; [`metrics`]: Prometheus;
//!   [`fleet`]: gateways sharing desired versions and canaries through a
//!   PostgreSQL control database, versions as OCI artifacts.
//! - [`chaining`]: outbound HTTP = in-process calls to `*.spin.internal`;
//!   [`chain_cache`]: the shared cache of chained `GET`s marked fresh.
//! - [`sockets`]: `wasi:sockets` connections under the allow-list.
//! - [`postgres`]: `spin:postgres` on sqlx, database isolation;
//!   [`outbound_redis`]: `fermyon:spin/redis` connections;
//!   [`key_value`]: Spin's key-value stores (SQLite or PostgreSQL);
//!   [`sqlite`]: Spin's SQLite databases; [`runtime_config`]: which
//!   backend serves each store and database label; [`stores`]: those
//!   stores and databases, opened once for the application;
//!   [`migrate`]: schema migrations; [`cluster`]: the embedded PostgreSQL.
//! - [`bindings`]: host bindings generated from `wit/`.

mod admin;
mod allowed_hosts;
mod api;
mod app;
mod bindings;
mod canary;
mod chain_cache;
mod chaining;
mod cli;
mod cluster;
mod command;
mod componentize;
mod cors;
mod deadline;
mod deploy;
mod engine;
mod files;
mod fleet;
mod instance;
mod issuer;
mod key_value;
mod manifest;
mod metrics;
mod migrate;
mod outbound_redis;
mod platform;
mod pool;
mod postgres;
mod problem;
mod remote;
mod response;
mod router;
mod routes;
mod runtime_config;
mod secret;
mod server;
mod sockets;
mod sqlite;
mod stores;
mod variables;

pub use cli::Cli;
pub use cluster::{Cluster, free_port};
pub use command::run;
pub use engine::{EngineSettings, build as build_engine};
pub use fleet::oci::install_crypto_provider;
pub use key_value::Stores as KeyValueStores;
pub use manifest::{File as ManifestFile, Manifest};
pub use platform::check as check_platform;
pub use runtime_config::RuntimeConfig;
pub use server::HOST_ENDPOINTS;
pub use variables::Variables;
