//! `comptoir up`: resolve the manifest, bring up the databases (embedded
//! or configured), migrate them, load the components, serve until told to
//! stop, then shut down in order.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context as _, bail};
use tokio::net::TcpListener;

use crate::admin::{Admin, Token};
use crate::cluster::Cluster;
use crate::deploy;
use crate::engine::{self, EngineSettings};
use crate::fleet::Fleet;
use crate::instance::{self, ComponentVersion};
use crate::manifest::{self, Manifest};
use crate::metrics::Metrics;
use crate::pool::{PoolSettings, ReplicaSet};
use crate::postgres::Database;
use crate::router::Services;
use crate::server::{self, ServerSettings};
use crate::variables::{self, Variables};

/// Everything `comptoir up` needs, validated before anything starts.
#[derive(Debug, Clone)]
pub struct Settings {
    pub manifest: PathBuf,
    pub listen: SocketAddr,
    pub admin_listen: SocketAddr,
    /// Hot-swap a component when its `.wasm` changes on disk.
    pub watch: bool,
    pub state_dir: PathBuf,
    /// Which backend serves each key-value store and SQLite database label.
    pub runtime_config: crate::runtime_config::RuntimeConfig,
    /// SQL run against the `default` SQLite database at start (`--sqlite`).
    pub sqlite_statements: Vec<String>,
    pub pool: PoolSettings,
    pub server: ServerSettings,
    pub max_instance_memory: usize,
    pub db_pool_size: u32,
    /// When canaries are judged and how much worse they may be.
    pub canary: crate::canary::Policy,
    /// The fleet this gateway joins (`--control-url`), if any.
    pub fleet: Option<crate::fleet::Settings>,
    /// Name guest functions for `perf` (`/tmp/perf-<pid>.map`).
    pub perf_map: bool,
    /// Where to say, once serving, on which addresses (`--ready-file`).
    pub ready_file: Option<PathBuf>,
}

/// The databases the application uses, and the cluster if comptoir runs it.
struct Databases {
    cluster: Option<Cluster>,
    variables: Variables,
}

/// Resolves variables, starting the embedded cluster when no database URL
/// is configured.
async fn databases(settings: &Settings, file: &manifest::File) -> anyhow::Result<Databases> {
    let declared = file.declared_variables();
    // One database per `db_url` variable, named after it (`panier_db_url`
    // → `panier`): two components may share one (panier and its private
    // endpoint, panier-internal).
    let db_vars: BTreeMap<String, String> = file
        .db_url_variables()
        .into_values()
        .map(|var| {
            let name = var.strip_suffix("_db_url").unwrap_or(&var).to_owned();
            (var, name)
        })
        .collect();
    let env = |name: &str| std::env::var(name).ok();
    let configured: Vec<_> = db_vars
        .keys()
        .filter(|var| {
            env(&variables::env_name(var)).is_some()
                || declared.get(*var).is_some_and(|d| d.default.is_some())
        })
        .collect();
    if !configured.is_empty() || db_vars.is_empty() {
        let missing: Vec<_> = db_vars
            .keys()
            .filter(|v| !configured.contains(v))
            .map(|v| variables::env_name(v))
            .collect();
        if !missing.is_empty() {
            bail!(
                "some database URLs are configured but not these: {}",
                missing.join(", ")
            );
        }
        let variables = Variables::resolve(
            declared,
            env,
            &crate::issuer::provided(&settings.state_dir)?,
        )?;
        return Ok(Databases {
            cluster: None,
            variables,
        });
    }
    let names: Vec<String> = db_vars.values().cloned().collect();
    let mut cluster = Cluster::start(&settings.state_dir.join("pg")).await?;
    let urls = match cluster.ensure_databases(&names).await {
        Ok(urls) => urls,
        Err(error) => {
            let _ = cluster.stop().await;
            return Err(error);
        }
    };
    let mut provided = crate::issuer::provided(&settings.state_dir)?;
    provided.extend(
        db_vars
            .iter()
            .filter_map(|(var, name)| Some((var.clone(), urls.get(name)?.clone()))),
    );
    provided.insert("db_host".into(), "127.0.0.1".into());
    provided.insert("db_port".into(), cluster.port().to_string());
    let variables = Variables::resolve(declared, env, &provided)?;
    Ok(Databases {
        cluster: Some(cluster),
        variables,
    })
}

/// Opens each service's database pool and applies its migrations.
async fn open_databases(
    manifest: &Manifest,
    pool_size: u32,
    metrics: &Metrics,
) -> anyhow::Result<BTreeMap<String, Arc<Database>>> {
    let mut out = BTreeMap::new();
    for spec in manifest.components.values() {
        let Some(url) = spec.db_url() else { continue };
        let database = Arc::new(Database::new(
            url,
            pool_size,
            metrics.db_histogram(&spec.id),
        )?);
        let count = crate::migrate::run(&manifest.root, &spec.id, &database).await?;
        tracing::info!(service = %spec.id, migrations = count, "database ready");
        out.insert(spec.id.clone(), database);
    }
    Ok(out)
}

/// Applies every service's migrations and exits (`comptoir migrate`).
pub async fn migrate(settings: &Settings) -> anyhow::Result<()> {
    if let Some(fleet) = &settings.fleet {
        crate::fleet::migrate(&fleet.control_url).await?;
    }
    let file = manifest::File::read(&settings.manifest)?;
    let dbs = databases(settings, &file).await?;
    let result = async {
        let manifest = file.resolve(&dbs.variables)?;
        open_databases(&manifest, 2, &Metrics::new()?).await
    }
    .await;
    if let Some(cluster) = dbs.cluster {
        cluster.stop().await?;
    }
    result.map(|_| ())
}

/// Runs the application until `shutdown` resolves.
pub async fn up(settings: Settings, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let started = Instant::now();
    let listener = TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("failed to listen on {}", settings.listen))?;
    let admin_listener = TcpListener::bind(settings.admin_listen)
        .await
        .with_context(|| format!("failed to listen on {} (admin)", settings.admin_listen))?;
    let token = Token::load_or_create(
        std::env::var("COMPTOIR_ADMIN_TOKEN").ok(),
        &settings.state_dir,
    )?;
    let file = manifest::File::read(&settings.manifest)?;
    let dbs = databases(&settings, &file).await?;
    let listeners = Listeners {
        public: listener,
        admin: admin_listener,
        token,
    };
    let result = match file.resolve(&dbs.variables) {
        Ok(manifest) => run(&settings, manifest, listeners, started, shutdown).await,
        Err(error) => Err(error),
    };
    if let Some(path) = &settings.ready_file {
        // No longer serving.
        let _ = std::fs::remove_file(path);
    }
    if let Some(cluster) = dbs.cluster
        && let Err(error) = cluster.stop().await
    {
        tracing::error!(error = %format!("{error:#}"), "PostgreSQL did not stop cleanly");
    }
    result
}

/// Writes `{"public": …, "admin": …}` to `path`: into a temporary file
/// beside it, then renamed over it, so a reader never sees half of it.
fn write_ready_file(path: &Path, public: SocketAddr, admin: SocketAddr) -> anyhow::Result<()> {
    let ready = serde_json::json!({
        "public": format!("http://{public}"),
        "admin": format!("http://{admin}"),
    });
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    std::fs::write(&temporary, ready.to_string())
        .and_then(|()| std::fs::rename(&temporary, path))
        .with_context(|| format!("failed to write the ready file {}", path.display()))
}

/// The sockets `up` serves on, bound before anything else starts.
struct Listeners {
    public: TcpListener,
    admin: TcpListener,
    token: Token,
}

async fn run(
    settings: &Settings,
    manifest: Manifest,
    listeners: Listeners,
    started: Instant,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let metrics = Arc::new(Metrics::new()?);
    crate::stores::check(&settings.runtime_config, &manifest)?;
    let backends = crate::stores::Backends::open(&settings.runtime_config).await?;
    backends
        .run_sqlite_statements(&settings.sqlite_statements)
        .await?;
    let databases = open_databases(&manifest, settings.db_pool_size, &metrics).await?;

    let replicas = u32::try_from(settings.pool.replicas).unwrap_or(u32::MAX);
    let components = u32::try_from(manifest.components.len()).unwrap_or(u32::MAX);
    let concurrency = u32::try_from(settings.pool.max_concurrency).unwrap_or(u32::MAX);
    let engine = engine::build(
        &EngineSettings {
            // Every replica, one being recycled or swapped in per replica,
            // a canary's replicas, and the trial instance of a load; a
            // wasi:http@0.2 guest has an instance per request in flight.
            max_instances: components
                .saturating_mul(replicas.saturating_mul(concurrency.saturating_add(3)))
                .saturating_add(8),
            max_instance_memory: settings.max_instance_memory,
            perf_map: settings.perf_map,
        },
        &settings.state_dir.join("cache"),
    )?;
    engine::spawn_epoch_ticker(&engine);
    let linker = instance::linker(&engine)?;

    // Components reach the application (for chaining) through this handle,
    // set once every component is loaded.
    let handle = crate::chaining::Application::default();
    let mut sets = BTreeMap::new();
    // What each component loaded from, for a fleet to publish.
    let mut loaded = Vec::new();
    for spec in manifest.components.values() {
        let files = if spec.files.is_empty() {
            None
        } else {
            let dir = settings.state_dir.join("files").join(&spec.id);
            crate::files::assemble(&manifest.root, &spec.files, &spec.exclude_files, &dir)
                .with_context(|| format!("component {}", spec.id))?;
            Some(dir)
        };
        let env = instance::component_env(
            spec,
            &backends,
            databases.get(&spec.id).cloned(),
            handle.clone(),
            settings.max_instance_memory,
            metrics.clone(),
            files,
        );
        metrics.register_component(&spec.id);
        let wasm = instance::read_source(&spec.source)?;
        let (version, took) = ComponentVersion::load(&engine, &linker, env, &wasm)
            .await
            .with_context(|| format!("failed to load component {}", spec.source.display()))?;
        if settings.fleet.is_some() {
            loaded.push((spec.id.clone(), wasm));
        }
        tracing::info!(component = %version.label(), instantiation = ?took, "component loaded");
        sets.insert(
            spec.id.clone(),
            ReplicaSet::new(Arc::new(version), settings.pool.clone()),
        );
    }
    let services = Arc::new(Services {
        routes: manifest.routes.clone(),
        components: sets,
        databases,
        engine,
        linker,
        deploying: tokio::sync::Mutex::new(()),
        metrics: metrics.clone(),
        canaries: manifest
            .components
            .keys()
            .map(|id| (id.clone(), crate::canary::Slot::default()))
            .collect(),
        canary_policy: settings.canary.clone(),
        chain_cache: Default::default(),
    });
    let services_weak: std::sync::Weak<Services> = Arc::downgrade(&services);
    let application: std::sync::Weak<dyn crate::chaining::Dispatch> = services_weak;
    let _ = handle.set(application);

    if settings.watch {
        let sources = manifest
            .components
            .values()
            .map(|c| (c.id.clone(), c.source.clone()))
            .collect();
        tokio::spawn(deploy::watch(services.clone(), sources));
    }

    let address = listeners.public.local_addr()?;
    let admin_address = listeners.admin.local_addr()?;
    let fleet = match &settings.fleet {
        Some(fleet) => Some(
            Fleet::join(
                fleet,
                services.clone(),
                &loaded,
                format!("http://{admin_address}"),
            )
            .await
            .context("cannot join the fleet")?,
        ),
        None => None,
    };
    drop(loaded);
    tracing::info!(
        %address,
        admin = %admin_address,
        components = services.components.len(),
        replicas = settings.pool.replicas,
        startup = ?started.elapsed(),
        "comptoir is ready"
    );
    println!(
        "comptoir listening on http://{address} admin http://{admin_address} (ready in {:.2?})",
        started.elapsed()
    );
    if let Some(path) = &settings.ready_file {
        write_ready_file(path, address, admin_address)?;
    }

    // Both listeners stop on the same signal.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let until_stopped = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|s| *s).await;
    };
    let admin = Arc::new(Admin {
        services: services.clone(),
        token: listeners.token,
        metrics,
        fleet: fleet.clone(),
    });
    let admin_task = {
        let server_settings = settings.server.clone();
        let stopped = until_stopped(stopped.clone());
        tokio::spawn(async move {
            let handler = move |request| {
                let admin = admin.clone();
                async move { crate::admin::handle(&admin, request).await }
            };
            server::accept_loop(listeners.admin, handler, &server_settings, stopped).await;
        })
    };
    let public = server::serve(
        listeners.public,
        services,
        settings.server.clone(),
        until_stopped(stopped),
    );
    tokio::pin!(public);
    tokio::select! {
        () = &mut public => {}
        () = shutdown => {
            let _ = stop.send(true);
            public.await;
        }
    }
    let _ = stop.send(true);
    let _ = admin_task.await;
    if let Some(fleet) = fleet {
        // Deploys stop waiting for this gateway.
        fleet.leave().await;
    }
    Ok(())
}
