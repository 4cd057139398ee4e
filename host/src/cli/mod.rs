//! Command-line interface: `comptoir up | migrate | deploy | …`. Flags
//! also read `COMPTOIR_*` environment variables; defaults are named
//! constants.
//!
//! - [`settings`]: what the flags mean (the application's settings).
//! - `documented` (tests): the commands and flags the docs show parse.

#[cfg(test)]
mod documented;
mod settings;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:8081";
pub const DEFAULT_ADMIN_URL: &str = "http://127.0.0.1:8081";
pub const DEFAULT_REPLICAS: u16 = 4;
/// Spin's p3 default: concurrent requests per instance.
pub const DEFAULT_MAX_CONCURRENCY: u16 = 16;
/// Spin's p3 default: requests before an instance is recycled.
pub const DEFAULT_MAX_REQUESTS: u64 = 128;
pub const DEFAULT_MAX_QUEUE: usize = 256;
pub const DEFAULT_REQUEST_TIMEOUT: &str = "30s";
pub const DEFAULT_MAX_INSTANCE_MEMORY_MIB: u16 = 64;
pub const DEFAULT_MAX_BODY: usize = 1024 * 1024;
pub const DEFAULT_DB_POOL_SIZE: u32 = 32;
pub const DEFAULT_CANARY_MIN_REQUESTS: u64 = 200;
pub const DEFAULT_CANARY_WINDOW: &str = "60s";
/// Longest request URI (414 beyond).
pub const MAX_URI: usize = 8 * 1024;
/// Largest request head hyper buffers (431 beyond).
pub const MAX_HEAD: usize = 64 * 1024;

#[derive(Debug, Parser)]
#[command(
    name = "comptoir",
    version,
    about = "Order management as WebAssembly component microservices"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// The runtime's worker threads, when the command sets them.
    pub fn worker_threads(&self) -> Option<usize> {
        match &self.command {
            Command::Up(args) => args.threads.map(usize::from),
            _ => None,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start the gateway (and, with no database URL configured, an embedded PostgreSQL).
    Up(Box<UpArgs>),
    /// Apply every service's database migrations, then exit.
    Migrate(CommonArgs),
    /// Hot-swap a component of a running comptoir with a new .wasm (or, with
    /// --canary, send it a share of the requests until it is judged).
    Deploy {
        /// The component (as named in spin.toml).
        component: String,
        /// The new .wasm, or an artifact in a registry pinned by digest
        /// (`oci://REGISTRY/REPOSITORY@sha256:…`, fleets only).
        file: PathBuf,
        /// Deploy as a canary taking this percentage of the component's
        /// requests; promoted or rolled back automatically once judged.
        #[arg(long, value_name = "PERCENT", value_parser = clap::value_parser!(u8).range(1..=99))]
        canary: Option<u8>,
        /// With --canary: wait for the decision, and fail if it was rolled back.
        #[arg(long, requires = "canary")]
        wait: bool,
        #[command(flatten)]
        remote: RemoteArgs,
    },
    /// Promote a component's running canary now.
    Promote {
        component: String,
        #[command(flatten)]
        remote: RemoteArgs,
    },
    /// Roll a component's running canary back now.
    Abort {
        component: String,
        #[command(flatten)]
        remote: RemoteArgs,
    },
    /// Swap a component back to the version before its last deploy.
    Rollback {
        component: String,
        #[command(flatten)]
        remote: RemoteArgs,
    },
    /// Show the running components, versions and replicas (and, in a
    /// fleet, every gateway and what it runs).
    Status {
        #[command(flatten)]
        remote: RemoteArgs,
    },
}

/// How the CLI reaches a running comptoir's admin API.
#[derive(Debug, Args)]
pub struct RemoteArgs {
    /// The admin listener of the running comptoir.
    #[arg(long, env = "COMPTOIR_ADMIN_URL", default_value = DEFAULT_ADMIN_URL)]
    pub admin_url: String,
    /// Where the running comptoir keeps its state (the admin token is read
    /// from `<state-dir>/admin-token` unless COMPTOIR_ADMIN_TOKEN is set).
    #[arg(long, env = "COMPTOIR_STATE_DIR", default_value = ".comptoir")]
    pub state_dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct CommonArgs {
    /// The Spin manifest of the application.
    #[arg(long, env = "COMPTOIR_MANIFEST", default_value = "spin.toml")]
    pub manifest: PathBuf,
    /// Where comptoir keeps its state (embedded database, compile cache, admin token).
    #[arg(long, env = "COMPTOIR_STATE_DIR", default_value = ".comptoir")]
    pub state_dir: PathBuf,
    /// A PostgreSQL URL: gateways given the same one form a fleet sharing
    /// each component's desired version and canary (`migrate` prepares it).
    #[arg(long, env = "COMPTOIR_CONTROL_URL", value_name = "URL")]
    pub control_url: Option<String>,
}

/// How a gateway takes part in a fleet (with `--control-url`).
#[derive(Debug, Clone, Args)]
pub struct FleetArgs {
    /// This gateway's name in the fleet (default: host name and process id).
    #[arg(long, env = "COMPTOIR_GATEWAY_NAME")]
    pub gateway_name: Option<String>,
    /// An OCI registry deploys are pushed to, as Wasm OCI artifacts
    /// (`http://host:port/prefix` for one without TLS); without one, the
    /// control database holds the versions.
    #[arg(long, env = "COMPTOIR_REGISTRY", value_name = "URL")]
    pub registry: Option<String>,
    /// A registry reached over plain HTTP when deploying by `oci://`
    /// reference (repeatable).
    #[arg(
        long = "insecure-registry",
        env = "COMPTOIR_INSECURE_REGISTRIES",
        value_delimiter = ',',
        value_name = "HOST:PORT"
    )]
    pub insecure_registries: Vec<String>,
}

#[derive(Debug, Args)]
pub struct UpArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Public listener address.
    #[arg(long, env = "COMPTOIR_LISTEN", default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,
    /// Admin listener address (metrics, deploys); keep it on loopback.
    #[arg(long, env = "COMPTOIR_ADMIN_LISTEN", default_value = DEFAULT_ADMIN_LISTEN)]
    pub admin_listen: SocketAddr,
    /// Hot-swap a component when its .wasm changes on disk.
    #[arg(long, env = "COMPTOIR_WATCH")]
    pub watch: bool,
    /// Worker threads serving requests (default: one per core). Fewer
    /// threads than cores spend less CPU per request when the machine is
    /// shared (e.g. with the embedded PostgreSQL), at some peak throughput.
    #[arg(long, env = "COMPTOIR_THREADS", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub threads: Option<u16>,
    /// Live instances per component.
    #[arg(long, env = "COMPTOIR_REPLICAS", default_value_t = DEFAULT_REPLICAS, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub replicas: u16,
    /// What a trap takes down: `request` (one request per instance at a
    /// time: only the request that trapped fails) or `instance` (requests
    /// share an instance, up to --max-concurrency; the others in it fail
    /// too unless they can be replayed). `request` costs no more CPU per
    /// order flow (`cargo xtask bench isolation`).
    #[arg(long, env = "COMPTOIR_ISOLATION", value_enum, default_value_t = Isolation::Request)]
    pub isolation: Isolation,
    /// Concurrent requests per instance (with `--isolation instance`).
    #[arg(long, env = "COMPTOIR_MAX_CONCURRENCY", default_value_t = DEFAULT_MAX_CONCURRENCY, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub max_concurrency: u16,
    /// Requests an instance serves before it is recycled.
    #[arg(long, env = "COMPTOIR_MAX_REQUESTS", default_value_t = DEFAULT_MAX_REQUESTS, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_requests: u64,
    /// Requests that may wait when every replica is full (then 503).
    #[arg(long, env = "COMPTOIR_MAX_QUEUE", default_value_t = DEFAULT_MAX_QUEUE)]
    pub max_queue: usize,
    /// Per-request deadline (e.g. 30s, 500ms).
    #[arg(long, env = "COMPTOIR_REQUEST_TIMEOUT", default_value = DEFAULT_REQUEST_TIMEOUT, value_parser = parse_duration)]
    pub request_timeout: Duration,
    /// Linear-memory limit per instance, in MiB.
    #[arg(long, env = "COMPTOIR_MAX_INSTANCE_MEMORY", default_value_t = DEFAULT_MAX_INSTANCE_MEMORY_MIB, value_parser = clap::value_parser!(u16).range(1..=4096))]
    pub max_instance_memory: u16,
    /// Largest request body accepted, in bytes (then 413).
    #[arg(long, env = "COMPTOIR_MAX_BODY", default_value_t = DEFAULT_MAX_BODY)]
    pub max_body: usize,
    /// An origin allowed to call the API from a browser (repeatable; none by default).
    #[arg(
        long = "cors-origin",
        env = "COMPTOIR_CORS_ORIGINS",
        value_delimiter = ','
    )]
    pub cors_origins: Vec<String>,
    /// Connections per service database pool.
    #[arg(long, env = "COMPTOIR_DB_POOL_SIZE", default_value_t = DEFAULT_DB_POOL_SIZE, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub db_pool_size: u32,
    #[command(flatten)]
    pub canary: CanaryArgs,
    #[command(flatten)]
    pub fleet: FleetArgs,
    /// Send no `comptoir-component` response header (the version that
    /// answered; the only header comptoir adds): responses then carry
    /// exactly the headers `spin up` would send.
    #[arg(long, env = "COMPTOIR_NO_VERSION_HEADER")]
    pub no_version_header: bool,
    /// Write /tmp/perf-<pid>.map so that `perf record`/`perf report` name
    /// the components' functions (for profiling).
    #[arg(long, env = "COMPTOIR_PERF_MAP")]
    pub perf_map: bool,
    /// Once serving, write `{"public": "http://…", "admin": "http://…"}`
    /// to this file (atomically; removed at exit), for whatever waits for
    /// comptoir to be ready (with port 0, to learn the ports).
    #[arg(long, env = "COMPTOIR_READY_FILE", value_name = "PATH")]
    pub ready_file: Option<PathBuf>,
    /// Spin's runtime configuration file: the backend of each key-value
    /// store (`[key_value_store.NAME]`) and SQLite database
    /// (`[sqlite_database.NAME]`); without it only `default` exists, in
    /// the state directory.
    #[arg(long, env = "COMPTOIR_RUNTIME_CONFIG_FILE", value_name = "PATH")]
    pub runtime_config_file: Option<PathBuf>,
    /// SQL to run against the `default` SQLite database before serving, as
    /// `spin up --sqlite`: statements, or `@path` of a file of them;
    /// repeatable, run in order.
    #[arg(long = "sqlite", env = "COMPTOIR_SQLITE", value_name = "SQL")]
    pub sqlite_statements: Vec<String>,
}

/// How canaries (`comptoir deploy --canary`) are judged.
#[derive(Debug, Clone, Args)]
pub struct CanaryArgs {
    /// A canary is judged after this many requests…
    #[arg(long = "canary-min-requests", env = "COMPTOIR_CANARY_MIN_REQUESTS", default_value_t = DEFAULT_CANARY_MIN_REQUESTS, value_parser = clap::value_parser!(u64).range(1..))]
    pub min_requests: u64,
    /// …or after this long, on what it saw (none at all: rolled back).
    #[arg(long = "canary-window", env = "COMPTOIR_CANARY_WINDOW", default_value = DEFAULT_CANARY_WINDOW, value_parser = parse_duration)]
    pub window: Duration,
    /// Percentage points its 5xx, trap and deadline-kill rates may exceed
    /// the stable version's.
    #[arg(long = "canary-max-error-increase", env = "COMPTOIR_CANARY_MAX_ERROR_INCREASE", default_value_t = 1.0, value_parser = percentage_points)]
    pub max_error_increase: f64,
    /// Percentage points its share of 4xx answers may exceed the stable
    /// version's (a lost route answers 404).
    #[arg(long = "canary-max-4xx-increase", env = "COMPTOIR_CANARY_MAX_4XX_INCREASE", default_value_t = 5.0, value_parser = percentage_points)]
    pub max_4xx_increase: f64,
    /// How many times the stable version's p99 its p99 may be (a p99
    /// within 5 ms of stable's always passes).
    #[arg(long = "canary-max-p99-ratio", env = "COMPTOIR_CANARY_MAX_P99_RATIO", default_value_t = 1.5, value_parser = ratio)]
    pub max_p99_ratio: f64,
}

/// A number of percentage points, 0 to 100.
fn percentage_points(raw: &str) -> Result<f64, String> {
    match raw.parse::<f64>() {
        Ok(n) if (0.0..=100.0).contains(&n) => Ok(n),
        _ => Err(format!(
            "{raw:?} is not a number of percentage points from 0 to 100"
        )),
    }
}

/// A ratio of at least 1.
fn ratio(raw: &str) -> Result<f64, String> {
    match raw.parse::<f64>() {
        Ok(n) if n >= 1.0 && n.is_finite() => Ok(n),
        _ => Err(format!("{raw:?} is not a ratio of at least 1")),
    }
}

/// How far a trap reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Isolation {
    /// Up to `--max-concurrency` requests share an instance: a trap ends
    /// all of them (idempotent body-less ones are replayed elsewhere).
    Instance,
    /// An instance serves one request at a time: a trap fails only the
    /// request that caused it; the others queue for a free instance.
    Request,
}

/// A positive duration: `30s`, `500ms`, `2m` (humantime) or plain seconds.
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let duration = match raw.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => humantime::parse_duration(raw)
            .map_err(|error| format!("invalid duration {raw:?}: {error}"))?,
    };
    if duration.is_zero() {
        return Err("duration must be positive".into());
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert!(parse_duration("0s").is_err());
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn worker_threads_are_set_by_up_only() {
        let threads = |args: &[&str]| {
            Cli::try_parse_from(args.iter().copied()).map(|cli| cli.worker_threads())
        };
        assert_eq!(threads(&["comptoir", "up"]).unwrap(), None);
        assert_eq!(
            threads(&["comptoir", "up", "--threads", "1"]).unwrap(),
            Some(1)
        );
        assert!(threads(&["comptoir", "up", "--threads", "0"]).is_err());
        assert_eq!(threads(&["comptoir", "migrate"]).unwrap(), None);
    }

    #[test]
    fn the_cli_is_well_formed() {
        use clap::CommandFactory as _;
        Cli::command().debug_assert();
    }
}
