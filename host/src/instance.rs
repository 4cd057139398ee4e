//! One loaded component version and the per-instance store data.
//!
//! [`ComponentVersion`] is compiled and pre-instantiated once (the linker
//! links exactly the platform world plus nothing the component may not
//! use); every replica then gets a fresh [`Store`] holding an
//! [`InstanceState`].

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use sha2::{Digest as _, Sha256};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Engine, Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::handler::ProxyPre;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::allowed_hosts::AllowedHosts;
use crate::bindings;
use crate::chaining::{self, OutboundHooks};
use crate::componentize::{self, Kind};
use crate::key_value::{HasKeyValue, KeyValueAccess, KeyValueHost};
use crate::manifest::ComponentSpec;
use crate::outbound_redis::{HasRedis, RedisHost};
use crate::platform;
use crate::postgres::{DatabaseAccess, HasPg, PgHost};
use crate::sqlite::{HasSqlite, SqliteAccess, SqliteHost};
use crate::variables::{HasVariables, VariablesHost};

/// What a component may reach, shared by all its instances and versions.
pub struct ComponentEnv {
    pub id: Arc<str>,
    pub variables: Arc<HashMap<String, String>>,
    pub database: Arc<DatabaseAccess>,
    /// The key-value stores it may open (`key_value_stores`).
    pub key_value: Arc<KeyValueAccess>,
    /// The SQLite databases it may open (`sqlite_databases`).
    pub sqlite: Arc<SqliteAccess>,
    pub allowed_hosts: Arc<AllowedHosts>,
    /// The running application, for in-process service chaining.
    pub application: chaining::Application,
    pub max_instance_memory: usize,
    pub metrics: Arc<crate::metrics::Metrics>,
    /// The manifest's `environment`.
    pub environment: Vec<(String, String)>,
    /// The manifest's `files`, assembled: preopened read-only at `/`.
    pub files: Option<std::path::PathBuf>,
}

/// The data of one instance's [`Store`].
pub struct InstanceState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    hooks: OutboundHooks,
    env: Arc<ComponentEnv>,
    limits: StoreLimits,
    /// The requests this instance runs, for the deadline checks.
    pub deadlines: Arc<crate::deadline::Deadlines>,
}

impl WasiView for InstanceState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for InstanceState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

/// The linker every component is instantiated with.
pub fn linker(engine: &Engine) -> anyhow::Result<Linker<InstanceState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi::p3::add_to_linker(&mut linker)?;
    wasmtime_wasi_http::p3::add_to_linker(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    let postgres: fn(&mut InstanceState) -> PgHost<'_> = |s| PgHost {
        table: &mut s.table,
        access: &s.env.database,
    };
    bindings::postgres::add_to_linker::<_, HasPg>(&mut linker, postgres)?;
    bindings::postgres_older::v3::add_to_linker::<_, HasPg>(&mut linker, postgres)?;
    bindings::postgres_older::v2_types::add_to_linker::<_, HasPg>(&mut linker, postgres)?;
    bindings::postgres_older::v2::add_to_linker::<_, HasPg>(&mut linker, postgres)?;
    bindings::variables::add_to_linker::<_, HasVariables>(&mut linker, |s: &mut InstanceState| {
        VariablesHost {
            values: &s.env.variables,
        }
    })?;
    bindings::variables_v2::add_to_linker::<_, HasVariables>(
        &mut linker,
        |s: &mut InstanceState| VariablesHost {
            values: &s.env.variables,
        },
    )?;
    bindings::redis::add_to_linker::<_, HasRedis>(&mut linker, |s: &mut InstanceState| {
        RedisHost {
            table: &mut s.table,
            allowed_hosts: &s.env.allowed_hosts,
        }
    })?;
    let key_value: fn(&mut InstanceState) -> KeyValueHost<'_> = |s| KeyValueHost {
        table: &mut s.table,
        access: &s.env.key_value,
    };
    bindings::key_value::v2::add_to_linker::<_, HasKeyValue>(&mut linker, key_value)?;
    bindings::key_value::v3::add_to_linker::<_, HasKeyValue>(&mut linker, key_value)?;
    let sqlite: fn(&mut InstanceState) -> SqliteHost<'_> = |s| SqliteHost {
        table: &mut s.table,
        access: &s.env.sqlite,
    };
    bindings::sqlite::v2::add_to_linker::<_, HasSqlite>(&mut linker, sqlite)?;
    bindings::sqlite::v3::add_to_linker::<_, HasSqlite>(&mut linker, sqlite)?;
    Ok(linker)
}

/// A compiled, validated, pre-instantiated version of a component.
pub struct ComponentVersion {
    pub env: Arc<ComponentEnv>,
    /// Hex sha256 of the `.wasm`.
    pub sha256: String,
    pub loaded_at: std::time::SystemTime,
    pub pre: ProxyPre<InstanceState>,
    /// What was deployed: a p3 or p2 component, or a core module.
    pub kind: Kind,
    engine: Engine,
    /// [`Self::label`] as a header value, made once (every response carries it).
    header: http::HeaderValue,
}

impl ComponentVersion {
    /// `name@<first 12 hex of sha256>`, as in the `comptoir-component` header.
    pub fn label(&self) -> String {
        label(&self.env.id, &self.sha256)
    }

    /// The `comptoir-component` header of the responses it gives.
    pub fn header(&self) -> &http::HeaderValue {
        &self.header
    }

    /// Compiles `bytes`, checks it against the platform world, links it and
    /// instantiates it once to prove it can be.
    pub async fn load(
        engine: &Engine,
        linker: &Linker<InstanceState>,
        env: Arc<ComponentEnv>,
        bytes: &[u8],
    ) -> anyhow::Result<(Self, Duration)> {
        let sha256 = sha256_hex(bytes);
        let (bytes, was_module) = componentize::componentize(bytes)?;
        let component = Component::new(engine, &bytes)
            .map_err(anyhow::Error::from)
            .context("not a loadable WebAssembly component")?;
        platform::check(engine, &component)?;
        let pre = linker
            .instantiate_pre(&component)
            .map_err(anyhow::Error::from)
            .context("component cannot be linked against the platform")?;
        let (pre, kind) = match wasmtime_wasi_http::p3::bindings::ServicePre::new(pre.clone()) {
            Ok(p3) => (ProxyPre::P3(p3), Kind::P3),
            Err(_) => {
                let p2 = wasmtime_wasi_http::p2::bindings::ProxyPre::new(pre)
                    .map_err(anyhow::Error::from)
                    .context(
                        "component exports neither wasi:http/handler@0.3.x nor \
                         wasi:http/incoming-handler@0.2.x",
                    )?;
                let kind = if was_module { Kind::Module } else { Kind::P2 };
                (ProxyPre::P2(p2), kind)
            }
        };
        let header = http::HeaderValue::from_str(&label(&env.id, &sha256))
            .context("the component id is not a valid header value")?;
        let version = Self {
            env,
            header,
            sha256,
            loaded_at: std::time::SystemTime::now(),
            pre,
            kind,
            engine: engine.clone(),
        };
        let started = Instant::now();
        let mut store = version.store(Duration::from_secs(30));
        version
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(anyhow::Error::from)
            .context("component failed to instantiate")?;
        Ok((version, started.elapsed()))
    }

    /// A fresh store for one instance of this version; a request running
    /// past `timeout` traps it.
    pub fn store(&self, timeout: Duration) -> Store<InstanceState> {
        let env = self.env.clone();
        let mut wasi = WasiCtx::builder();
        wasi.inherit_stdout()
            .inherit_stderr()
            .envs(&env.environment);
        if let Some(files) = &env.files
            && let Err(error) = wasi.preopened_dir(files, "/", FsPerms::ReadOnly)
        {
            // Assembled at start; gone only if removed under us.
            tracing::error!(component = %env.id, error = %format!("{error:#}"), "files unavailable");
        }
        crate::sockets::configure(&mut wasi, &env.allowed_hosts);
        let state = InstanceState {
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            hooks: OutboundHooks::new(
                env.id.clone(),
                env.allowed_hosts.clone(),
                env.application.clone(),
            ),
            limits: StoreLimitsBuilder::new()
                .memory_size(env.max_instance_memory)
                .trap_on_grow_failure(true)
                .build(),
            env,
            deadlines: Arc::new(crate::deadline::Deadlines::new(timeout)),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        // At every epoch tick: trap if a request overran its deadline (a
        // guest loop returns to the host no other way), else yield so that
        // a busy guest does not starve the others.
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|store| {
            if store.data().deadlines.overdue() {
                Ok(wasmtime::UpdateDeadline::Interrupt)
            } else {
                Ok(wasmtime::UpdateDeadline::Yield(1))
            }
        });
        store
    }
}

/// The hex sha256 a version is known by.
/// A component's `.wasm`, read from where the manifest says.
pub fn read_source(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| {
        format!(
            "failed to read {} (build the components first: cargo xtask build)",
            path.display()
        )
    })
}

pub fn sha256_hex(wasm: &[u8]) -> String {
    hex::encode(Sha256::digest(wasm))
}

/// `id@<first 12 hex of sha256>`: how versions are named to people.
pub fn label(id: &str, sha256: &str) -> String {
    format!("{id}@{}", &sha256[..12])
}

/// The environment of `spec` for the running application.
pub fn component_env(
    spec: &ComponentSpec,
    backends: &crate::stores::Backends,
    database: Option<Arc<crate::postgres::Database>>,
    application: chaining::Application,
    max_instance_memory: usize,
    metrics: Arc<crate::metrics::Metrics>,
    files: Option<std::path::PathBuf>,
) -> Arc<ComponentEnv> {
    let allowed_hosts = Arc::new(spec.allowed_hosts.clone());
    let id: Arc<str> = spec.id.as_str().into();
    Arc::new(ComponentEnv {
        id: id.clone(),
        variables: Arc::new(spec.variables.clone().into_iter().collect()),
        database: Arc::new(DatabaseAccess {
            opened: crate::postgres::Opened::new(metrics.db_histogram(&id)),
            component: id,
            database,
            allowed_hosts: allowed_hosts.clone(),
        }),
        key_value: backends.key_value_access(spec),
        sqlite: backends.sqlite_access(spec),
        allowed_hosts,
        application,
        max_instance_memory,
        metrics,
        environment: spec.environment.clone().into_iter().collect(),
        files,
    })
}

#[cfg(test)]
mod tests {
    /// What a guest of each version imports links against the host's linker:
    /// `spin:sqlite@3.0.0` to the 3.1.0 it defines (semver), and 2.0's
    /// `fermyon:spin` interfaces.
    #[test]
    fn older_guests_link() {
        let mut config = wasmtime::Config::new();
        config.wasm_component_model_async(true);
        let engine = wasmtime::Engine::new(&config).unwrap();
        let linker = super::linker(&engine).unwrap();
        let guest = r#"
            (component
              (import "spin:sqlite/sqlite@3.0.0" (instance
                (export "connection" (type (sub resource)))
                (export "[method]connection.changes" (func (param "self" (borrow 0)) (result u64)))
              ))
              (import "fermyon:spin/sqlite@2.0.0" (instance
                (export "connection" (type (sub resource)))
                (type $e (variant (case "no-such-database") (case "access-denied")
                                  (case "invalid-connection") (case "database-full")
                                  (case "io" string)))
                (export "error" (type (eq $e)))
                (export "[static]connection.open"
                  (func (param "database" string) (result (result (own 0) (error 2)))))
              ))
              (import "fermyon:spin/key-value@2.0.0" (instance
                (export "store" (type (sub resource)))
                (type $e (variant (case "store-table-full") (case "no-such-store")
                                  (case "access-denied") (case "other" string)))
                (export "error" (type (eq $e)))
                (export "[static]store.open"
                  (func (param "label" string) (result (result (own 0) (error 2)))))
              ))
              (import "fermyon:spin/variables@2.0.0" (instance
                (type $e (variant (case "invalid-name" string) (case "undefined" string)
                                  (case "provider" string) (case "other" string)))
                (export "error" (type (eq $e)))
                (export "get" (func (param "name" string) (result (result string (error 1)))))
              ))
            )
        "#;
        // The host's wasmtime reads binaries only (no `wat` feature).
        let guest = wat::parse_str(guest).unwrap();
        let component = wasmtime::component::Component::new(&engine, guest).unwrap();
        linker.instantiate_pre(&component).unwrap();
    }
}
