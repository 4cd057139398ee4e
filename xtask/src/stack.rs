//! Running comptoir for load tests: one process with N replicas, or two
//! processes sharing the databases behind NGINX, its catalogue holding the
//! sample products. Everything on loopback, on free ports, stopped when
//! dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;

/// What to run.
#[derive(Debug, Clone, Copy)]
pub enum Topology {
    /// One comptoir process with this many replicas per component.
    Single { replicas: u32 },
    /// Two comptoir processes (this many replicas each) behind NGINX.
    Nginx { replicas: u32 },
}

impl std::fmt::Display for Topology {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Topology::Single { replicas } => write!(f, "1 process, {replicas} replica(s)"),
            Topology::Nginx { replicas } => {
                write!(f, "2 processes × {replicas} replicas behind NGINX")
            }
        }
    }
}

/// A running system under load.
pub struct Stack {
    /// Where clients send requests (comptoir, or NGINX).
    pub base_url: String,
    /// The admin API of the (first) comptoir process.
    pub admin_url: String,
    pub token: String,
    /// A staff access token every process of the stack accepts (minted
    /// with the staff role: it also loads the sample catalogue).
    pub bearer: String,
    /// The `SPIN_VARIABLE_AUTH_*` every process of the stack has (give
    /// them to another server sharing its databases).
    pub auth_env: Vec<(String, String)>,
    /// The first process's state directory (its embedded PostgreSQL).
    pub state_dir: PathBuf,
    /// Every comptoir process's admin API (the first one first).
    admin_urls: Vec<String>,
    processes: Vec<Child>,
}

/// How long a comptoir process may take to answer `/readyz` (it compiles
/// the components and starts PostgreSQL first).
const READY_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a process has to exit after SIGTERM before it gets SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);

fn spawn_comptoir(
    root: &Path,
    binary: &Path,
    state_dir: &Path,
    (port, admin_port): (u16, u16),
    replicas: u32,
    flags: &[&str],
    env: &[(String, String)],
) -> anyhow::Result<Child> {
    std::fs::create_dir_all(state_dir)?;
    let log = state_dir.join("comptoir.log");
    let mut command = Command::new(binary);
    command
        .current_dir(root)
        .arg("up")
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--admin-listen", &format!("127.0.0.1:{admin_port}")])
        .args(["--replicas", &replicas.to_string()])
        .args(flags)
        .arg("--state-dir")
        .arg(state_dir)
        .env("RUST_LOG", "comptoir=warn,warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log)?);
    with_variables(&mut command, env);
    let mut child = command
        .spawn()
        .context("failed to start target/release/comptoir")?;
    crate::wait::serving(
        &mut child,
        &format!("http://127.0.0.1:{port}/readyz"),
        READY_TIMEOUT,
        "comptoir",
        &log,
    )?;
    Ok(child)
}

/// Gives `command` the `SPIN_VARIABLE_*` of `env` in place of this
/// process's own (so a setting of the caller's shell cannot leak in).
pub fn with_variables(command: &mut Command, env: &[(String, String)]) {
    for (key, _) in std::env::vars() {
        if key.starts_with("SPIN_VARIABLE_") {
            command.env_remove(key);
        }
    }
    command.envs(env.iter().map(|(k, v)| (k, v)));
}

/// The database URLs of the embedded cluster in `state_dir`, as the
/// environment of a second process sharing it (comptoir or `spin up`).
pub fn shared_db_env(state_dir: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let port = std::fs::read_to_string(state_dir.join("pg/port"))?
        .trim()
        .to_owned();
    let secrets: serde_json::Value =
        serde_json::from_slice(&std::fs::read(state_dir.join("pg/secrets.json"))?)?;
    let mut env = vec![
        ("SPIN_VARIABLE_DB_HOST".to_owned(), "127.0.0.1".to_owned()),
        ("SPIN_VARIABLE_DB_PORT".to_owned(), port.clone()),
    ];
    for (service, password) in secrets["roles"]
        .as_object()
        .context("no roles in secrets.json")?
    {
        env.push((
            format!("SPIN_VARIABLE_{}_DB_URL", service.to_uppercase()),
            format!(
                "postgres://{service}:{}@127.0.0.1:{port}/{service}",
                password.as_str().unwrap_or_default()
            ),
        ));
    }
    Ok(env)
}

/// The superuser URL of the embedded cluster in `state_dir`.
pub fn superuser_url(state_dir: &Path, database: &str) -> anyhow::Result<String> {
    let port = std::fs::read_to_string(state_dir.join("pg/port"))?
        .trim()
        .to_owned();
    let secrets: serde_json::Value =
        serde_json::from_slice(&std::fs::read(state_dir.join("pg/secrets.json"))?)?;
    Ok(format!(
        "postgres://comptoir:{}@127.0.0.1:{port}/{database}",
        secrets["superuser"].as_str().unwrap_or_default()
    ))
}

impl Stack {
    /// Starts `topology` (release build) with a fresh embedded database
    /// under `work`.
    pub fn start(root: &Path, work: &Path, topology: Topology) -> anyhow::Result<Self> {
        Self::start_with(
            root,
            &root.join("target/release/comptoir"),
            work,
            topology,
            None,
        )
    }

    /// [`Stack::start`] with more `comptoir up` flags.
    pub fn start_flags(
        root: &Path,
        work: &Path,
        topology: Topology,
        flags: &[&str],
    ) -> anyhow::Result<Self> {
        let binary = root.join("target/release/comptoir");
        Self::start_full(root, &binary, work, topology, None, flags)
    }

    /// [`Stack::start`] with another `binary`, and the (first) admin
    /// listener on `admin_port` if given.
    pub fn start_with(
        root: &Path,
        binary: &Path,
        work: &Path,
        topology: Topology,
        admin_port: Option<u16>,
    ) -> anyhow::Result<Self> {
        Self::start_full(root, binary, work, topology, admin_port, &[])
    }

    fn start_full(
        root: &Path,
        binary: &Path,
        work: &Path,
        topology: Topology,
        admin_port: Option<u16>,
        flags: &[&str],
    ) -> anyhow::Result<Self> {
        let state_dir = work.join("state");
        let _ = std::fs::remove_dir_all(&state_dir);
        let auth = crate::auth::Auth::in_dir(work)?;
        let auth_env = auth.variables_with_test_keys();
        let port = crate::free_port()?;
        let admin_port = match admin_port {
            Some(port) => port,
            None => crate::free_port()?,
        };
        let replicas = match topology {
            Topology::Single { replicas } | Topology::Nginx { replicas } => replicas,
        };
        let first = spawn_comptoir(
            root,
            binary,
            &state_dir,
            (port, admin_port),
            replicas,
            flags,
            &auth_env,
        )?;
        let token = std::fs::read_to_string(state_dir.join("admin-token"))?
            .trim()
            .to_owned();
        let mut stack = Self {
            base_url: format!("http://127.0.0.1:{port}"),
            admin_url: format!("http://127.0.0.1:{admin_port}"),
            token,
            bearer: auth.staff(),
            auth_env: auth_env.clone(),
            state_dir: state_dir.clone(),
            admin_urls: vec![format!("http://127.0.0.1:{admin_port}")],
            processes: vec![first],
        };
        if let Topology::Nginx { replicas } = topology {
            let (second_port, second_admin) = (crate::free_port()?, crate::free_port()?);
            let mut env = shared_db_env(&state_dir)?;
            env.extend(auth_env);
            let second = spawn_comptoir(
                root,
                binary,
                &work.join("state-2"),
                (second_port, second_admin),
                replicas,
                flags,
                &env,
            )?;
            stack.processes.insert(0, second);
            stack
                .admin_urls
                .push(format!("http://127.0.0.1:{second_admin}"));
            let nginx_port = crate::free_port()?;
            let nginx = start_nginx(root, work, &[port, second_port], nginx_port)?;
            stack.processes.insert(0, nginx);
            stack.base_url = format!("http://127.0.0.1:{nginx_port}");
            let url = format!("{}/readyz", stack.base_url);
            let nginx = stack.processes.first_mut().context("NGINX was started")?;
            crate::wait::serving(
                nginx,
                &url,
                Duration::from_secs(10),
                "NGINX",
                &work.join("nginx/error.log"),
            )?;
        }
        // Something to sell (k6, the benchmarks, schemathesis): the sample
        // catalogue, put by the stack's staff token. A stack of another
        // application (`--manifest`: the hello benchmark's) has no
        // catalogue.
        let other_app = flags
            .iter()
            .any(|f| *f == "--manifest" || f.starts_with("--manifest="));
        if !other_app {
            let loaded = crate::catalogue::seed(&stack.base_url, &stack.bearer)
                .context("loading the sample catalogue")?;
            eprintln!("    loaded {loaded} sample products into the catalogue");
        }
        Ok(stack)
    }

    /// Connections open on the embedded PostgreSQL (all databases).
    pub fn database_connections(&self) -> Option<u64> {
        let url = superuser_url(&self.state_dir, "postgres").ok()?;
        let output = Command::new("psql")
            .args([
                "-tA",
                &url,
                "-c",
                "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'",
            ])
            .output()
            .ok()?;
        String::from_utf8_lossy(&output.stdout).trim().parse().ok()
    }

    /// The processes that serve: NGINX and every comptoir. (The embedded
    /// PostgreSQL is none of their descendants: `pg_ctl` detaches it.)
    pub fn server_pids(&self) -> Vec<u32> {
        self.processes.iter().map(Child::id).collect()
    }

    /// Every comptoir process's admin API: where its `/metrics` are.
    pub fn admin_urls(&self) -> &[String] {
        &self.admin_urls
    }

    /// The embedded PostgreSQL's postmaster, parent of every backend.
    pub fn postgres_pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.state_dir.join("pg/data/postmaster.pid"))
            .ok()?
            .lines()
            .next()?
            .trim()
            .parse()
            .ok()
    }

    /// Resident memory of the (first) comptoir process, in bytes.
    pub fn rss_bytes(&self) -> Option<u64> {
        rss_of(self.processes.last()?.id())
    }
}

/// Resident memory of process `pid`, in bytes.
fn rss_of(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: u64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// Samples comptoir's RSS every 5 s while a load runs.
pub struct RssSampler {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<Vec<(Duration, u64)>>,
}

impl RssSampler {
    pub fn start(stack: &Stack) -> Self {
        let pid = stack.processes.last().map(Child::id).unwrap_or(0);
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let started = Instant::now();
            let mut samples = Vec::new();
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                if let Some(rss) = rss_of(pid) {
                    samples.push((started.elapsed(), rss));
                }
                for _ in 0..50 {
                    if flag.load(std::sync::atomic::Ordering::Relaxed) {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
            samples
        });
        Self { stop, thread }
    }

    pub fn stop(self) -> Vec<(Duration, u64)> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.join().unwrap_or_default()
    }

    /// RSS after warm-up (the sample nearest 30 s, or the first), at the
    /// end, and the peak.
    pub fn report(samples: &[(Duration, u64)]) -> Option<String> {
        let mib = |b: u64| b as f64 / 1048576.0;
        let warm = samples
            .iter()
            .find(|(t, _)| *t >= Duration::from_secs(30))
            .or(samples.first())?;
        let end = samples.last()?;
        let peak = samples.iter().map(|(_, r)| *r).max()?;
        Some(format!(
            "comptoir RSS: {:.1} MiB after warm-up ({:.0} s), {:.1} MiB at the end ({:.0} s), peak {:.1} MiB",
            mib(warm.1),
            warm.0.as_secs_f64(),
            mib(end.1),
            end.0.as_secs_f64(),
            mib(peak)
        ))
    }
}

fn start_nginx(root: &Path, work: &Path, upstreams: &[u16], listen: u16) -> anyhow::Result<Child> {
    let nginx = crate::tools::ensure_debian_binary("nginx", "nginx", &["/usr/sbin/nginx"])?;
    let prefix = work.join("nginx");
    std::fs::create_dir_all(&prefix)?;
    let template = std::fs::read_to_string(root.join("deploy/nginx.conf"))?;
    let servers: String = upstreams
        .iter()
        .map(|p| format!("        server 127.0.0.1:{p} max_fails=3 fail_timeout=5s;\n"))
        .collect();
    let mut config = String::new();
    let mut in_upstream_servers = false;
    for line in template.lines() {
        if line.trim_start().starts_with("server 127.0.0.1:") {
            if !in_upstream_servers {
                config.push_str(&servers);
                in_upstream_servers = true;
            }
            continue;
        }
        if line.trim_start().starts_with("listen 127.0.0.1:") {
            config.push_str(&format!("        listen 127.0.0.1:{listen};\n"));
            continue;
        }
        config.push_str(line);
        config.push('\n');
    }
    let conf = prefix.join("nginx.conf");
    std::fs::write(&conf, config)?;
    let child = Command::new(nginx)
        .arg("-p")
        .arg(&prefix)
        .arg("-c")
        .arg(&conf)
        .args(["-g", "daemon off;"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(prefix.join("stderr.log"))?)
        .spawn()
        .context("failed to start nginx")?;
    Ok(child)
}

impl Drop for Stack {
    fn drop(&mut self) {
        // NGINX first, then the second comptoir, then the one owning PostgreSQL.
        for child in &mut self.processes {
            crate::wait::stop(child, crate::wait::Target::Process, STOP_TIMEOUT);
        }
    }
}
