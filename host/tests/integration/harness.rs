//! Starting the system under test: fresh databases (see [`crate::database`]),
//! and the `comptoir` binary on a free port with a manifest written for
//! the test; [`eventually`] for waiting on what it does.
//!
//! What the whole run shares (the PostgreSQL cluster, the compiled
//! components) lives in [`run_dir`], cleaned up when the process exits.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub use crate::database::TestDb;

/// How often [`eventually`] tries again.
const POLL: Duration = Duration::from_millis(50);
/// How long comptoir may take to serve (it compiles the components on a
/// first start with an empty cache).
pub const STARTUP: Duration = Duration::from_secs(180);

/// Tries `probe` until it returns `Ok` (every 50 ms) and returns that
/// value; once `within` has passed, panics saying `what` never happened,
/// with the last `Err` (what the probe saw instead).
pub async fn eventually<T, E: std::fmt::Display>(
    within: Duration,
    what: &str,
    mut probe: impl AsyncFnMut() -> Result<T, E>,
) -> T {
    let deadline = Instant::now() + within;
    loop {
        match probe().await {
            Ok(value) => return value,
            Err(last) => assert!(
                Instant::now() < deadline,
                "{what}: not within {within:?} (last seen: {last})"
            ),
        }
        tokio::time::sleep(POLL).await;
    }
}

unsafe extern "C" {
    /// C's `atexit(3)`: `f` runs when the process exits normally (libtest
    /// returns from `main` or calls `std::process::exit`; both run it).
    safe fn atexit(f: extern "C" fn()) -> std::ffi::c_int;
}

/// A temporary directory for the whole test run, created on first use:
/// the shared PostgreSQL cluster (`pg/`), the compile cache every comptoir
/// of the run shares (`cache/`). At exit the cluster is stopped and the
/// directory removed.
pub fn run_dir() -> &'static Path {
    static RUN_DIR: OnceLock<PathBuf> = OnceLock::new();
    extern "C" fn clean_up() {
        crate::database::stop_shared();
        if let Some(dir) = RUN_DIR.get() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
    RUN_DIR.get_or_init(|| {
        let dir = temp_dir().keep();
        assert_eq!(atexit(clean_up), 0, "atexit registers the clean-up");
        dir
    })
}

/// The workspace root (where `spin.toml`, `db/` and `target/` are).
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A built component; panics with the fix when it was not built.
pub fn wasm(name: &str) -> PathBuf {
    let path = workspace().join(format!("target/wasm32-wasip2/release/{name}.wasm"));
    assert!(
        path.exists(),
        "{} is missing: run `cargo xtask build` (or `cargo xtask test`)",
        path.display()
    );
    path
}

/// The `wasm32-wasip1` build of `name` (a core module); panics with the
/// fix when it was not built.
pub fn module(name: &str) -> PathBuf {
    let path = workspace().join(format!("target/wasm32-wasip1/release/{name}.wasm"));
    assert!(
        path.exists(),
        "{} is missing: run `cargo xtask build` (or `cargo xtask test`)",
        path.display()
    );
    path
}

/// `wasm` with a custom section appended: the same behaviour, another
/// sha256, so another version.
pub use wasm_variant::variant;

pub async fn deploy(app: &App, component: &str, bytes: Vec<u8>) -> reqwest::Response {
    app.admin_request(
        reqwest::Method::PUT,
        &format!("/admin/components/{component}"),
    )
    .body(bytes)
    .send()
    .await
    .unwrap()
}

/// The version that answered (`comptoir-component: name@sha`).
pub fn version_of(response: &reqwest::Response) -> String {
    response.headers()["comptoir-component"]
        .to_str()
        .unwrap()
        .to_owned()
}

/// Runs the `comptoir` CLI against the admin API at `admin`, with the token
/// read from `state_dir` as a user's CLI would.
pub fn comptoir_cli(admin: &str, state_dir: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_comptoir"))
        .args(args)
        .arg("--admin-url")
        .arg(admin)
        .arg("--state-dir")
        .arg(state_dir)
        .env_remove("COMPTOIR_ADMIN_TOKEN")
        .output()
        .unwrap()
}

/// A temporary directory the `postgres` OS user can traverse.
pub fn temp_dir() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("comptoir-test-")
        .tempdir()
        .unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// One component of a test manifest.
pub struct Component {
    pub id: &'static str,
    pub wasm: PathBuf,
    /// Its `[[trigger.http]]` routes (`/clients/...`, or exact paths).
    pub routes: &'static [&'static str],
    pub db: bool,
    /// Components it may chain to (`http://<id>.spin.internal`), when the
    /// manifest has them.
    pub chains: &'static [&'static str],
}

impl Component {
    pub fn clients() -> Self {
        Self {
            id: "clients",
            wasm: wasm("clients"),
            routes: &["/clients/..."],
            db: true,
            chains: &[PANIER_INTERNAL],
        }
    }

    pub fn panier() -> Self {
        Self {
            id: "panier",
            wasm: wasm("panier"),
            routes: &["/panier/..."],
            db: true,
            chains: &["clients", "catalogue"],
        }
    }

    pub fn commande() -> Self {
        Self {
            id: "commande",
            wasm: wasm("commande"),
            routes: &["/commandes/..."],
            db: true,
            chains: &["panier", PANIER_INTERNAL, CATALOGUE_INTERNAL],
        }
    }

    /// Products, prices and stock (reads need no token).
    pub fn catalogue() -> Self {
        Self {
            id: "catalogue",
            wasm: wasm("catalogue"),
            routes: &["/catalogue/..."],
            db: true,
            chains: &[],
        }
    }

    /// The API documentation: `/openapi.json` and Swagger UI under `/docs`.
    pub fn docs() -> Self {
        Self {
            id: "docs",
            wasm: wasm("docs"),
            routes: &["/openapi.json", "/docs/..."],
            db: false,
            chains: &[],
        }
    }

    /// The four services of the real `spin.toml` (without [`Self::docs`];
    /// the private endpoints, `panier-internal` and `catalogue-internal`,
    /// come with panier and the catalogue).
    pub fn all_services() -> Vec<Self> {
        vec![
            Self::clients(),
            Self::panier(),
            Self::commande(),
            Self::catalogue(),
        ]
    }

    pub fn fault() -> Self {
        Self {
            id: "fault",
            wasm: wasm("testing_fault"),
            routes: &["/fault/..."],
            db: true,
            chains: &[],
        }
    }
}

/// panier's private endpoint: the service-only routes (checkout, forget),
/// reached only by chaining. [`write_manifest`] adds it beside panier.
pub const PANIER_INTERNAL: &str = "panier-internal";

/// The catalogue's private endpoint (stock reservations), beside the catalogue.
pub const CATALOGUE_INTERNAL: &str = "catalogue-internal";

/// Each private endpoint and the component whose `.wasm` and database it shares.
const INTERNAL: [(&str, &str); 2] = [
    (PANIER_INTERNAL, "panier"),
    (CATALOGUE_INTERNAL, "catalogue"),
];

/// The Spin variables of authentication, as the real `spin.toml` declares them.
const AUTH_VARIABLES: &str = "auth_issuer = { required = true }\n\
     auth_jwks = { required = true }\n\
     auth_audience = { default = \"comptoir\" }\n\
     auth_roles_claim = { default = \"/roles\" }\n";

/// Writes a manifest for `components` into `dir` (with `db/` linked to the
/// workspace's migrations).
pub fn write_manifest(dir: &Path, components: &[Component]) -> PathBuf {
    write_manifest_allowing(dir, components, "postgres://{{ db_host }}:{{ db_port }}")
}

/// [`write_manifest`] with `postgres` as each component's database allow-list entry.
pub fn write_manifest_allowing(dir: &Path, components: &[Component], postgres: &str) -> PathBuf {
    let mut toml = String::from(
        "spin_manifest_version = 2\n[application]\nname = \"comptoir-test\"\n\
         [variables]\ndb_host = { default = \"127.0.0.1\" }\ndb_port = { default = \"5432\" }\n",
    );
    toml += AUTH_VARIABLES;
    for c in components.iter().filter(|c| c.db) {
        toml += &format!("{}_db_url = {{ required = true, secret = true }}\n", c.id);
    }
    for (internal, of) in INTERNAL {
        if components.iter().any(|c| c.id == of) {
            // The same .wasm behind a private endpoint, as in spin.toml.
            toml += &format!(
                "[[trigger.http]]\nroute = {{ private = true }}\ncomponent = \"{internal}\"\n\
                 [component.{internal}]\nsource = \"{}\"\n\
                 allowed_outbound_hosts = [\"{postgres}\"]\n\
                 [component.{internal}.variables]\n\
                 db_url = \"{{{{ {of}_db_url }}}}\"\ninternal = \"true\"\n",
                wasm(of).display()
            );
        }
    }
    // A private endpoint is present when the component it shares is.
    let present = |id: &str| {
        let id = INTERNAL
            .iter()
            .find(|(internal, _)| *internal == id)
            .map_or(id, |(_, of)| of);
        components.iter().any(|c| c.id == id)
    };
    for c in components {
        for route in c.routes {
            toml += &format!(
                "[[trigger.http]]\nroute = \"{route}\"\ncomponent = \"{}\"\n",
                c.id
            );
        }
        toml += &format!(
            "[component.{id}]\nsource = \"{}\"\n\
             allowed_outbound_hosts = [\"{postgres}\"{}]\n",
            c.wasm.display(),
            // Only to components of this manifest (Spin refuses chaining
            // to a component the app does not have).
            c.chains
                .iter()
                .filter(|t| present(t))
                .map(|t| format!(", \"http://{t}.spin.internal\""))
                .collect::<String>(),
            id = c.id,
        );
        if c.db {
            toml += &format!(
                "[component.{id}.variables]\ndb_url = \"{{{{ {id}_db_url }}}}\"\n\
                 auth_issuer = \"{{{{ auth_issuer }}}}\"\nauth_jwks = \"{{{{ auth_jwks }}}}\"\n\
                 auth_audience = \"{{{{ auth_audience }}}}\"\n\
                 auth_roles_claim = \"{{{{ auth_roles_claim }}}}\"\n",
                id = c.id
            );
        }
    }
    let link = dir.join("db");
    if !link.exists() {
        std::os::unix::fs::symlink(workspace().join("db"), link).unwrap();
    }
    let path = dir.join("spin.toml");
    std::fs::write(&path, toml).unwrap();
    path
}

/// A running `comptoir up`.
pub struct App {
    pub base: String,
    /// The admin listener's base URL.
    pub admin: String,
    /// The admin bearer token comptoir wrote into its state directory.
    pub token: String,
    pub http: reqwest::Client,
    child: std::sync::Mutex<Child>,
    pub stderr_log: PathBuf,
    /// Whether the child leads its own process group (Spin: the group is
    /// signalled, so its app process stops too).
    group: bool,
}

/// How to start comptoir for a test.
pub struct Launch<'a> {
    pub manifest: &'a Path,
    pub state_dir: &'a Path,
    pub env: Vec<(String, String)>,
    pub args: Vec<String>,
}

impl Launch<'_> {
    /// The environment that points comptoir at `db` for each service.
    pub fn db_env(db: &TestDb) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = db
            .urls
            .iter()
            .map(|(service, url)| {
                (
                    format!("SPIN_VARIABLE_{}_DB_URL", service.to_uppercase()),
                    url.clone(),
                )
            })
            .collect();
        env.push(("SPIN_VARIABLE_DB_PORT".into(), db.port.to_string()));
        env
    }
}

/// The `comptoir up` command for `launch`, with no inherited SPIN_VARIABLE_*.
fn command(launch: &Launch) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_comptoir"));
    command
        .arg("up")
        .arg("--manifest")
        .arg(launch.manifest)
        .arg("--state-dir")
        .arg(launch.state_dir)
        .args(["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])
        .args(&launch.args);
    for (key, _) in std::env::vars() {
        if key.starts_with("SPIN_VARIABLE_") {
            command.env_remove(key);
        }
    }
    command.envs(crate::tokens::variables());
    command.envs(launch.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    command
}

/// Runs `comptoir up` expecting it to fail; returns what it printed.
pub fn spawn_failing(launch: Launch) -> String {
    let output = command(&launch).stdin(Stdio::null()).output().unwrap();
    assert!(
        !output.status.success(),
        "comptoir should have refused to start"
    );
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Starts comptoir and waits until it serves (it says where in its
/// `--ready-file`).
pub async fn spawn(launch: Launch<'_>) -> App {
    let stderr_log = launch.state_dir.join("comptoir.log");
    let log = std::fs::File::create(&stderr_log).unwrap();
    let ready_file = launch.state_dir.join("ready.json");
    // A state directory started in before (a restart) has an old one.
    let _ = std::fs::remove_file(&ready_file);
    // Each version of a component is compiled once per run, not once per
    // test: the state directory's compile cache is the run's.
    let cache = launch.state_dir.join("cache");
    if !cache.exists() {
        let shared = run_dir().join("cache");
        std::fs::create_dir_all(&shared).unwrap();
        std::os::unix::fs::symlink(shared, cache).unwrap();
    }
    let mut child = command(&launch)
        .arg("--ready-file")
        .arg(&ready_file)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("comptoir starts");
    let ready: serde_json::Value = eventually(STARTUP, "comptoir serving", async || {
        if let Ok(bytes) = std::fs::read(&ready_file) {
            return Ok(serde_json::from_slice(&bytes).expect("the ready file is JSON"));
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "comptoir did not start ({status}):\n{}",
                std::fs::read_to_string(&stderr_log).unwrap_or_default()
            );
        }
        Err("no ready file yet")
    })
    .await;
    let base = ready["public"].as_str().unwrap().to_owned();
    let admin = ready["admin"].as_str().unwrap().to_owned();
    let token = std::env::var("COMPTOIR_ADMIN_TOKEN")
        .ok()
        .filter(|_| launch.env.iter().any(|(k, _)| k == "COMPTOIR_ADMIN_TOKEN"))
        .or_else(|| std::fs::read_to_string(launch.state_dir.join("admin-token")).ok())
        .unwrap_or_default();
    let mut app = App::with_child(base, child, stderr_log, false);
    app.admin = admin;
    app.token = token;
    app
}

impl App {
    /// A server started as `child`, answering on `base`, without an admin
    /// listener. Its requests carry a staff token unless they set their
    /// own `Authorization` (see [`Self::as_caller`]).
    pub fn with_child(base: String, child: Child, stderr_log: PathBuf, group: bool) -> Self {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            reqwest::header::AUTHORIZATION,
            format!("Bearer {}", crate::tokens::staff())
                .parse()
                .unwrap(),
        );
        App {
            base,
            admin: String::new(),
            token: String::new(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .default_headers(headers)
                .build()
                .unwrap(),
            child: std::sync::Mutex::new(child),
            stderr_log,
            group,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A request to `path` sent with `token` (`None`: no `Authorization`
    /// at all) instead of the staff token.
    pub fn as_caller(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let request = match token {
            Some(token) => self.http.request(method, self.url(path)).bearer_auth(token),
            None => reqwest::Client::new().request(method, self.url(path)),
        };
        request.timeout(Duration::from_secs(30))
    }

    /// An authenticated request to the admin API.
    pub fn admin_request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.admin))
            .bearer_auth(&self.token)
    }

    /// The admin listener's `GET /metrics`, as text.
    pub async fn metrics(&self) -> String {
        self.http
            .get(format!("{}/metrics", self.admin))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// The admin listener's `GET /metrics`, parsed.
    pub async fn scrape(&self) -> Metrics {
        Metrics::parse(&self.metrics().await)
    }

    /// The sum of the samples of metric `name` (as exposed: a histogram's
    /// `…_count`, `…_bucket`) having every `(label, value)` of `labels`,
    /// from `GET /metrics` now; 0 when there is none. `&[]`: every sample.
    pub async fn metric(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.scrape().await.sum(name, labels)
    }

    /// `GET /admin/components`, as JSON.
    pub async fn inventory(&self) -> serde_json::Value {
        let response = self
            .admin_request(reqwest::Method::GET, "/admin/components")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    pub async fn post_json(&self, path: &str, body: &serde_json::Value) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// A POST with a raw body declared as JSON.
    pub async fn post_raw(&self, path: &str, body: &'static str) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// A POST with a plain-text body.
    pub async fn post_text(&self, path: &str, body: impl Into<String>) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .body(body.into())
            .send()
            .await
            .unwrap()
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http.get(self.url(path)).send().await.unwrap()
    }

    pub async fn put_json(&self, path: &str, body: &serde_json::Value) -> reqwest::Response {
        self.http
            .put(self.url(path))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn delete(&self, path: &str) -> reqwest::Response {
        self.http.delete(self.url(path)).send().await.unwrap()
    }

    /// Puts product `sku` in the catalogue (as staff) at `price_cents`,
    /// with `stock` units available; asserts it was written.
    pub async fn product(&self, sku: &str, price_cents: i64, stock: i64) {
        let response = self
            .put_json(
                &format!("/catalogue/{sku}"),
                &serde_json::json!({"name": format!("Product {sku}"), "price_cents": price_cents, "stock": stock}),
            )
            .await;
        assert!(
            matches!(response.status().as_u16(), 200 | 201),
            "product {sku}: {}",
            response.status()
        );
    }

    /// Product `sku`'s stock as the catalogue shows it now.
    pub async fn stock(&self, sku: &str) -> i64 {
        let product: serde_json::Value = self
            .get(&format!("/catalogue/{sku}"))
            .await
            .json()
            .await
            .unwrap();
        product["stock"].as_i64().unwrap()
    }

    /// Creates a client with `email` (as staff); its id.
    pub async fn new_client(&self, email: &str) -> String {
        let created = self
            .post_json(
                "/clients",
                &serde_json::json!({"name": "Client", "email": email}),
            )
            .await;
        assert_eq!(created.status(), 201);
        let client: serde_json::Value = created.json().await.unwrap();
        client["id"].as_str().unwrap().to_owned()
    }

    /// Places an order from `client`'s cart with Idempotency-Key `key`.
    pub async fn place_order(&self, client: &str, key: &str) -> reqwest::Response {
        self.http
            .post(self.url("/commandes"))
            .header("Idempotency-Key", key)
            .json(&serde_json::json!({"client_id": client}))
            .send()
            .await
            .unwrap()
    }

    /// Adds `quantity` of product `sku` to `client`'s cart.
    pub async fn add_item(&self, client: &str, sku: &str, quantity: i64) -> reqwest::Response {
        self.post_json(
            &format!("/panier/{client}/items"),
            &serde_json::json!({"product_id": sku, "quantity": quantity}),
        )
        .await
    }

    /// Sends SIGTERM and waits for a clean exit; returns the exit status.
    pub fn stop(self) -> std::process::ExitStatus {
        self.terminate()
    }

    /// Kills the server with SIGKILL (its whole group, under Spin) and
    /// waits for it.
    pub fn kill(&self) {
        let mut child = self.child.lock().unwrap();
        if self.group {
            let group = nix::unistd::Pid::from_raw(-(child.id() as i32));
            let _ = nix::sys::signal::kill(group, nix::sys::signal::Signal::SIGKILL);
        } else {
            let _ = child.kill();
        }
        let _ = child.wait();
    }

    /// Sends SIGTERM and waits (up to 10 s, then SIGKILL); returns the exit status.
    pub fn terminate(&self) -> std::process::ExitStatus {
        let mut child = self.child.lock().unwrap();
        let id = child.id() as i32;
        let pid = nix::unistd::Pid::from_raw(if self.group { -id } else { id });
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        for _ in 0..200 {
            if let Ok(Some(status)) = child.try_wait() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
        child.wait().unwrap()
    }
}

impl Drop for App {
    fn drop(&mut self) {
        let running = matches!(self.child.lock().map(|mut c| c.try_wait()), Ok(Ok(None)));
        if running {
            self.terminate();
        }
    }
}

/// A Prometheus text exposition (comptoir's `/metrics`) read with the
/// `prometheus-parse` crate, as xtask reads it: its samples as exposed, a
/// histogram's buckets as `<name>_bucket` samples with their `le` label.
pub struct Metrics {
    samples: Vec<Sample>,
}

/// One sample of a [`Metrics`].
pub struct Sample {
    /// The metric's name as exposed (`…_total`, `…_count`, `…_bucket`).
    pub name: String,
    pub labels: std::collections::HashMap<String, String>,
    pub value: f64,
}

impl Metrics {
    pub fn parse(text: &str) -> Self {
        use prometheus_parse::Value;
        let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
            .expect("a string has no I/O errors");
        let mut samples = Vec::new();
        for sample in scrape.samples {
            let labels = (*sample.labels).clone();
            // The crate gathers a histogram's buckets (a summary's
            // quantiles) into one value: one sample each, as exposed.
            let (name, label, parts): (_, _, Vec<(f64, f64)>) = match sample.value {
                Value::Counter(value) | Value::Gauge(value) | Value::Untyped(value) => {
                    samples.push(Sample {
                        name: sample.metric,
                        labels,
                        value,
                    });
                    continue;
                }
                Value::Histogram(buckets) => (
                    format!("{}_bucket", sample.metric),
                    "le",
                    buckets.iter().map(|b| (b.less_than, b.count)).collect(),
                ),
                Value::Summary(quantiles) => (
                    sample.metric,
                    "quantile",
                    quantiles.iter().map(|q| (q.quantile, q.count)).collect(),
                ),
            };
            for (at, value) in parts {
                let mut labels = labels.clone();
                // As the exposition writes it: `0.005`, `+Inf`.
                let at = if at == f64::INFINITY {
                    "+Inf".to_owned()
                } else {
                    at.to_string()
                };
                labels.insert(label.to_owned(), at);
                samples.push(Sample {
                    name: name.clone(),
                    labels,
                    value,
                });
            }
        }
        Self { samples }
    }

    /// The samples of metric `name` (as exposed) having every
    /// `(label, value)` of `labels` (and maybe others).
    pub fn samples<'a>(
        &'a self,
        name: &'a str,
        labels: &'a [(&str, &str)],
    ) -> impl Iterator<Item = &'a Sample> {
        self.samples.iter().filter(move |s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).is_some_and(|have| have == v))
        })
    }

    /// The sum of [`Self::samples`]`(name, labels)`, or `None` when there
    /// is no such sample.
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.samples(name, labels)
            .map(|s| s.value)
            .reduce(|a, b| a + b)
    }

    /// The sum of [`Self::samples`]`(name, labels)`: 0 when there is none
    /// (a counter not incremented yet has no sample).
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.get(name, labels).unwrap_or(0.0)
    }
}

/// Asserts a problem+json response with `status`; returns its body.
pub async fn problem(response: reqwest::Response, status: u16) -> serde_json::Value {
    assert_eq!(response.status().as_u16(), status, "unexpected status");
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json",
        "errors are problem+json"
    );
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], status);
    assert!(body["title"].is_string() && body["detail"].is_string() && body["type"].is_string());
    body
}

/// comptoir running `components` on a throwaway database.
pub struct Stack {
    pub app: App,
    pub db: TestDb,
    /// Holds the manifest and state; removed when the test ends.
    _dir: tempfile::TempDir,
    /// How comptoir was started (`None` under Spin), to start it again.
    relaunch: Option<Relaunch>,
}

/// What [`Stack::crash_and_restart`] starts comptoir with again.
#[derive(Clone)]
struct Relaunch {
    manifest: PathBuf,
    env: Vec<(String, String)>,
    args: Vec<String>,
}

impl Stack {
    /// comptoir's state directory (admin token, compile cache).
    pub fn state_dir(&self) -> &Path {
        self._dir.path()
    }

    /// Kills comptoir with SIGKILL (no shutdown of any kind), then starts
    /// it again on the same databases and state.
    pub async fn crash_and_restart(&mut self) {
        let Relaunch {
            manifest,
            env,
            args,
        } = self.relaunch.clone().expect("comptoir, not Spin");
        self.app.kill();
        self.app = spawn(Launch {
            manifest: &manifest,
            state_dir: self._dir.path(),
            env,
            args,
        })
        .await;
    }
}

/// Starts a fresh database and comptoir serving `components` (or, for the
/// contract tests under `COMPTOIR_TEST_RUNTIME=spin`, `spin up` serving
/// them: `args` are comptoir's flags and do not apply there).
pub async fn stack(components: Vec<Component>, args: &[&str]) -> Stack {
    stack_with_env(components, args, Vec::new()).await
}

/// [`stack`] with more environment for the server (`SPIN_VARIABLE_*`
/// replacing the run's own, e.g. another identity provider).
pub async fn stack_with_env(
    components: Vec<Component>,
    args: &[&str],
    env: Vec<(String, String)>,
) -> Stack {
    let ids: Vec<&str> = components.iter().filter(|c| c.db).map(|c| c.id).collect();
    let db = TestDb::start(&ids).await;
    let dir = temp_dir();
    let manifest = write_manifest(dir.path(), &components);
    if crate::runtime::current() == crate::runtime::Runtime::Spin {
        let app = crate::runtime::spin_up(&manifest, dir.path(), &db, &env).await;
        return Stack {
            app,
            db,
            _dir: dir,
            relaunch: None,
        };
    }
    let mut launch_env = Launch::db_env(&db);
    launch_env.extend(env);
    launched(db, dir, manifest, launch_env, args).await
}

/// [`stack`] with the databases of the services `own` on a PostgreSQL of
/// the test's own, which it may stop and start again ([`TestDb::pause`],
/// [`TestDb::resume`]): an outage of those services' databases only. The
/// other services' databases are the stack's [`Stack::db`], on the shared
/// cluster; the test's own are returned beside it. comptoir only.
pub async fn stack_with_own_cluster(
    components: Vec<Component>,
    own: &[&str],
    args: &[&str],
) -> (Stack, TestDb) {
    let shared: Vec<&str> = components
        .iter()
        .filter(|c| c.db && !own.contains(&c.id))
        .map(|c| c.id)
        .collect();
    let db = TestDb::start(&shared).await;
    let own_db = TestDb::own_cluster(own).await;
    let dir = temp_dir();
    // Two clusters, two ports: each database URL names its own.
    let manifest = write_manifest_allowing(dir.path(), &components, "postgres://127.0.0.1:*");
    let mut env = Launch::db_env(&db);
    env.extend(Launch::db_env(&own_db));
    (launched(db, dir, manifest, env, args).await, own_db)
}

/// comptoir started with `env` on `manifest`, as a [`Stack`] on `db` that
/// [`Stack::crash_and_restart`] can start again.
async fn launched(
    db: TestDb,
    dir: tempfile::TempDir,
    manifest: PathBuf,
    env: Vec<(String, String)>,
    args: &[&str],
) -> Stack {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let app = spawn(Launch {
        manifest: &manifest,
        state_dir: dir.path(),
        env: env.clone(),
        args: args.clone(),
    })
    .await;
    Stack {
        app,
        db,
        _dir: dir,
        relaunch: Some(Relaunch {
            manifest,
            env,
            args,
        }),
    }
}
