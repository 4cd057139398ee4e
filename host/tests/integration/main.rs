//! Integration tests: the real `comptoir` binary, the real compiled
//! components and a real PostgreSQL (fresh databases for every test on a
//! cluster the test binary shares), over real HTTP.
//!
//! Build the components first (`cargo xtask test` does). With
//! `COMPTOIR_TEST_RUNTIME=spin` the contract tests (`clients`, `orders`,
//! `docs`) run against a real `spin up` instead (see `runtime`).

mod access;
mod canary;
mod chain_cache;
mod clients;
mod database;
mod docs;
mod fleet;
mod hardening;
mod harness;
mod idp;
mod isolation;
mod key_value;
mod kinds;
mod lifecycle;
mod observability;
mod orders;
mod outage;
mod outside_apps;
mod registry;
mod replicas;
mod runtime;
mod spin_shape;
mod stock;
mod tokens;
