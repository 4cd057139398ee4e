//! What the flags mean: the [`Settings`] `up` and `migrate` run with, and
//! the [`Policy`] canaries are judged by, from the parsed flags.

use std::time::Duration;

use super::{
    CanaryArgs, CommonArgs, DEFAULT_ADMIN_LISTEN, DEFAULT_CANARY_MIN_REQUESTS,
    DEFAULT_CANARY_WINDOW, DEFAULT_LISTEN, FleetArgs, Isolation, MAX_HEAD, MAX_URI, UpArgs,
    parse_duration,
};
use crate::app::Settings;
use crate::canary::Policy;
use crate::cors::Cors;
use crate::pool::PoolSettings;
use crate::server::ServerSettings;

impl CommonArgs {
    /// Settings for commands that only touch the databases.
    pub fn settings(&self) -> Settings {
        UpArgs {
            common: CommonArgs {
                manifest: self.manifest.clone(),
                state_dir: self.state_dir.clone(),
                control_url: self.control_url.clone(),
            },
            listen: DEFAULT_LISTEN.parse().expect("constant address"),
            admin_listen: DEFAULT_ADMIN_LISTEN.parse().expect("constant address"),
            watch: false,
            threads: None,
            replicas: 1,
            isolation: Isolation::Request,
            max_concurrency: 1,
            max_requests: 1,
            max_queue: 0,
            request_timeout: Duration::from_secs(1),
            max_instance_memory: 1,
            max_body: 0,
            db_pool_size: 2,
            cors_origins: Vec::new(),
            canary: CanaryArgs::default(),
            fleet: FleetArgs {
                gateway_name: None,
                registry: None,
                insecure_registries: Vec::new(),
            },
            no_version_header: false,
            perf_map: false,
            ready_file: None,
            runtime_config_file: None,
            sqlite_statements: Vec::new(),
        }
        .settings()
        .expect("constant settings are valid")
    }
}

impl UpArgs {
    /// The validated settings of `up`.
    pub fn settings(&self) -> anyhow::Result<Settings> {
        Ok(Settings {
            manifest: self.common.manifest.clone(),
            listen: self.listen,
            admin_listen: self.admin_listen,
            watch: self.watch,
            state_dir: self.common.state_dir.clone(),
            runtime_config: crate::runtime_config::RuntimeConfig::read(
                self.runtime_config_file.as_deref(),
                &self.common.state_dir,
            )?,
            sqlite_statements: self.sqlite_statements.clone(),
            pool: PoolSettings {
                replicas: usize::from(self.replicas),
                max_concurrency: match self.isolation {
                    Isolation::Instance => usize::from(self.max_concurrency),
                    Isolation::Request => 1,
                },
                max_requests: self.max_requests,
                max_queue: self.max_queue,
                request_timeout: self.request_timeout,
            },
            server: ServerSettings {
                max_body: self.max_body,
                max_uri: MAX_URI,
                max_head: MAX_HEAD,
                header_read_timeout: Duration::from_secs(10),
                body_read_timeout: Duration::from_secs(15),
                shutdown_grace: Duration::from_secs(8),
                cors: Cors::new(&self.cors_origins)?,
                version_header: !self.no_version_header,
            },
            max_instance_memory: usize::from(self.max_instance_memory) * 1024 * 1024,
            db_pool_size: self.db_pool_size,
            canary: self.canary.policy(),
            fleet: self
                .common
                .control_url
                .as_ref()
                .map(|url| crate::fleet::Settings {
                    control_url: url.clone(),
                    gateway: self
                        .fleet
                        .gateway_name
                        .clone()
                        .unwrap_or_else(default_gateway_name),
                    registry: self.fleet.registry.clone(),
                    insecure_registries: self.fleet.insecure_registries.clone(),
                }),
            perf_map: self.perf_map,
            ready_file: self.ready_file.clone(),
        })
    }
}

/// The host name in a container (where comptoir is process 1, and a
/// restart keeps the name), else `<host name>:<process id>` (unique on a
/// host running several).
fn default_gateway_name() -> String {
    let host = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "gateway".to_owned());
    match std::process::id() {
        1 => host,
        pid => format!("{host}:{pid}"),
    }
}

impl CanaryArgs {
    /// The rules canaries are judged by.
    pub fn policy(&self) -> Policy {
        Policy {
            min_requests: self.min_requests,
            window: self.window,
            max_error_increase: self.max_error_increase / 100.0,
            max_4xx_increase: self.max_4xx_increase / 100.0,
            max_p99_ratio: self.max_p99_ratio,
        }
    }
}

/// The flags' defaults (for commands that start no canary).
impl Default for CanaryArgs {
    fn default() -> Self {
        Self {
            min_requests: DEFAULT_CANARY_MIN_REQUESTS,
            window: parse_duration(DEFAULT_CANARY_WINDOW).expect("constant duration"),
            max_error_increase: 1.0,
            max_4xx_increase: 5.0,
            max_p99_ratio: 1.5,
        }
    }
}
