//! `cargo xtask compose up | down | test`: `compose.yaml` run for real —
//! images built (stand-ins where no registry answers), the stack started
//! and checked through NGINX on 127.0.0.1, and stopped again.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use serde_json::json;

use crate::Profile;
use crate::docker::{self, Artifacts, Engine};

pub mod fleet;
mod idp;
pub mod secrets;

use secrets::random_hex;

/// `cargo xtask compose <action>`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Subcommand)]
enum Action {
    /// The user's stack: NGINX on 127.0.0.1:8080, Prometheus on
    /// 127.0.0.1:9090, left running.
    Up(Profile),
    /// Stops and removes the user's stack.
    Down {
        /// Remove its data volumes too.
        #[arg(long)]
        volumes: bool,
    },
    /// A throwaway stack checked end to end, then removed.
    Test(Profile),
}

pub fn run(root: &Path, args: Args) -> anyhow::Result<()> {
    match args.action {
        Action::Up(profile) => up(root, profile.release()),
        Action::Down { volumes } => down(root, volumes),
        Action::Test(profile) => test(root, profile.release()),
    }
}

/// How a stack is started.
pub struct Settings {
    /// The Compose project (container, network and volume prefix).
    pub project: String,
    pub port: u16,
    pub prometheus_port: u16,
    /// The first three bytes of the stack network's /24.
    pub subnet_prefix: String,
    /// Package the release host build (else the debug one the tests made).
    pub release: bool,
    /// Passwords and token for this run only, instead of `.env`'s (which
    /// must then set each to a real value: see `secrets`).
    pub throwaway_secrets: bool,
    /// Take the stack down (volumes too) when the `Stack` is dropped.
    pub teardown: bool,
}

impl Settings {
    /// A stack for a test or drill: its own project, ports and network,
    /// secrets of its own, removed afterwards.
    pub fn throwaway(project: &str, subnet_prefix: &str, release: bool) -> anyhow::Result<Self> {
        Ok(Self {
            project: project.into(),
            port: crate::free_port()?,
            prometheus_port: crate::free_port()?,
            subnet_prefix: subnet_prefix.into(),
            release,
            throwaway_secrets: true,
            teardown: true,
        })
    }
}

/// A running `compose.yaml` stack.
pub struct Stack {
    root: PathBuf,
    pub settings: Settings,
    /// A staff token the stack accepts, when it trusts the dev issuer (a
    /// throwaway stack always does; the user's when `.env` names no
    /// identity provider).
    pub bearer: Option<String>,
    env: Vec<(String, String)>,
    // Dropped after the stack is down.
    engine: Engine,
}

impl Stack {
    pub fn start(root: &Path, settings: Settings) -> anyhow::Result<Self> {
        // Checked before anything is built: a placeholder password stops
        // here, in seconds.
        let secrets = if settings.throwaway_secrets {
            secrets::random()?
        } else {
            secrets::ensure_env_file(root)?;
            Vec::new()
        };
        let work = root.join("target/docker");
        crate::tools::ensure_debian_binary("docker-compose", "docker-compose", &[])?;
        let engine = Engine::ensure(&work)?;
        docker::ensure_base_image(&work)?;
        let mut env = docker::stack_images(root)?;
        crate::build_host(settings.release)?;
        docker::build_comptoir(
            root,
            Artifacts::Host {
                release: settings.release,
            },
            "",
        )?;
        env.extend([
            ("COMPTOIR_PORT".to_owned(), settings.port.to_string()),
            (
                "PROMETHEUS_PORT".to_owned(),
                settings.prometheus_port.to_string(),
            ),
            (
                "COMPTOIR_SUBNET_PREFIX".to_owned(),
                settings.subnet_prefix.clone(),
            ),
        ]);
        env.extend(secrets);
        let bearer = if settings.throwaway_secrets
            || !secrets::IDENTITY.iter().all(|n| secrets::is_set(root, n))
        {
            // The dev issuer: the stack's own for a throwaway one, else the
            // one of `.comptoir/` that `cargo xtask token` mints for.
            let dir = if settings.throwaway_secrets {
                work.join(&settings.project)
            } else {
                root.join(".comptoir")
            };
            let auth = crate::auth::Auth::in_dir(&dir)?;
            let (issuer, jwks) = auth.issuer_and_jwks();
            env.extend([
                ("AUTH_ISSUER".to_owned(), issuer),
                ("AUTH_JWKS".to_owned(), jwks),
            ]);
            let bearer = auth.staff();
            env.push(("K6_BEARER".to_owned(), bearer.clone()));
            Some(bearer)
        } else {
            None
        };
        let stack = Self {
            root: root.to_path_buf(),
            settings,
            bearer,
            env,
            engine,
        };
        crate::step(
            &format!("starting the stack ({})", stack.settings.project),
            || {
                let mut up = stack.compose();
                up.args(["up", "-d", "--remove-orphans"]);
                crate::run(up)?;
                stack.wait_ready()
            },
        )?;
        // Something to sell: k6's order flow (the `load` profile, the
        // drill) orders products of the catalogue's first page. The sample
        // catalogue, put by the staff token, when the catalogue is empty;
        // a stack trusting another identity provider gets none (its
        // tokens are not xtask's to mint).
        if let Some(bearer) = &stack.bearer {
            let loaded = crate::catalogue::seed(&stack.url(""), bearer)
                .context("loading the sample catalogue")?;
            if loaded > 0 {
                eprintln!("    loaded {loaded} sample products into the catalogue");
            }
        }
        Ok(stack)
    }

    /// `docker-compose` for this stack's project, file and variables.
    pub fn compose(&self) -> Command {
        let mut c = Command::new("docker-compose");
        c.current_dir(&self.root)
            .args(["-p", &self.settings.project, "-f", "compose.yaml"])
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        c
    }

    /// The `Authorization` header of [`Self::bearer`] (empty without one).
    pub fn authorization(&self) -> String {
        self.bearer
            .as_deref()
            .map_or_else(String::new, |b| format!("Bearer {b}"))
    }

    /// The value of a variable the stack was started with (its throwaway
    /// secrets included).
    pub fn variable(&self, name: &str) -> Option<&str> {
        self.env
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The public URL, through NGINX.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.settings.port)
    }

    /// The id of a service's container.
    pub fn container(&self, service: &str) -> anyhow::Result<String> {
        let mut ps = self.compose();
        ps.args(["ps", "-q", service]);
        let id = crate::output(ps)?;
        ensure!(!id.is_empty(), "no container for {service}");
        Ok(id)
    }

    /// The fixed address of `comptoir-N` on the stack network.
    pub fn comptoir_address(&self, n: u8) -> String {
        format!("{}.{}", self.settings.subnet_prefix, 10 + n)
    }

    /// Runs `sql` as the superuser in `database`; rows as `|`-separated text.
    pub fn sql(&self, database: &str, sql: &str) -> anyhow::Result<String> {
        let mut psql = self.compose();
        psql.args([
            "exec", "-T", "db", "psql", "-U", "postgres", "-d", database, "-At", "-c", sql,
        ]);
        crate::output(psql)
    }

    fn wait_ready(&self) -> anyhow::Result<()> {
        let url = self.url("/readyz");
        let ready =
            crate::wait::poll(Duration::from_secs(180), Duration::from_millis(500), || {
                Ok((crate::status(&url) == Some(200)).then_some(()))
            })?;
        if ready.is_none() {
            let mut ps = self.compose();
            ps.arg("ps");
            let _ = crate::run(ps);
            let mut logs = self.compose();
            logs.args(["logs", "--tail", "30"]);
            let _ = crate::run(logs);
            bail!("the stack did not answer 200 at {url} within 180 s");
        }
        Ok(())
    }

    /// Ends this command with the stack (and the engine, even if this
    /// command started it) still running.
    fn leave_running(mut self) {
        self.settings.teardown = false;
        self.engine.keep_running();
    }

    fn down(&self) -> anyhow::Result<()> {
        let mut down = self.compose();
        down.args(["down", "--volumes", "--remove-orphans", "--timeout", "15"]);
        crate::run(down)
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        if self.settings.teardown {
            eprintln!("==> taking the stack down ({})", self.settings.project);
            if let Err(error) = self.down() {
                eprintln!("xtask: {error:#}");
            }
        }
    }
}

/// The user's stack: project `comptoir`, NGINX on 127.0.0.1:8080,
/// Prometheus on 127.0.0.1:9090, left running.
fn up(root: &Path, release: bool) -> anyhow::Result<()> {
    let stack = Stack::start(
        root,
        Settings {
            project: "comptoir".into(),
            port: 8080,
            prometheus_port: 9090,
            subnet_prefix: "172.29.80".into(),
            release,
            throwaway_secrets: false,
            teardown: false,
        },
    )?;
    eprintln!(
        "comptoir is up: {} (through NGINX), Prometheus on http://127.0.0.1:9090; `cargo xtask compose down` stops it",
        stack.url("/")
    );
    if stack.bearer.is_some() {
        eprintln!(
            "it trusts the dev issuer of .comptoir/ (no AUTH_ISSUER/AUTH_JWKS in .env): tokens from `cargo xtask token`; an empty catalogue was given the sample products"
        );
    }
    stack.leave_running();
    Ok(())
}

fn down(root: &Path, volumes: bool) -> anyhow::Result<()> {
    let mut down = Command::new("docker-compose");
    down.current_dir(root).args([
        "-p",
        "comptoir",
        "-f",
        "compose.yaml",
        "down",
        "--remove-orphans",
    ]);
    if volumes {
        down.arg("--volumes");
    }
    // compose.yaml requires the secrets to be set even to take it down.
    down.envs(secrets::for_down(root)?);
    crate::run(down)
}

/// The stack, for real: an order through NGINX, both comptoir scraped by
/// Prometheus, the data kept across a database restart; then nothing left.
/// The k6 run's p99 budget against a debug build (two comptoirs, NGINX and
/// PostgreSQL in containers on the same cores): the test checks that no
/// request fails, not how fast a debug build answers.
const DEBUG_P99_MS: u32 = 1000;

fn test(root: &Path, release: bool) -> anyhow::Result<()> {
    let stack = Stack::start(
        root,
        Settings::throwaway("comptoir-test", "172.29.81", release)?,
    )?;
    crate::step("an order through NGINX", || {
        let order = place_order(&stack)?;
        eprintln!("    order {order} placed (201)");
        expect_both_scraped(&stack)?;
        eprintln!("    Prometheus: up == 1 for comptoir-1 and comptoir-2");
        let mut restart = stack.compose();
        restart.args(["restart", "db"]);
        crate::run(restart)?;
        let restarted = Instant::now();
        stack.wait_ready()?;
        eprintln!(
            "    ready again (/readyz 200 through NGINX) {:.1?} after the database restart",
            restarted.elapsed()
        );
        let order_url = stack.url(&format!("/commandes/{order}"));
        let http = crate::http();
        let mut last = None;
        let body = crate::wait::poll(Duration::from_secs(60), Duration::from_millis(500), || {
            let mut response = http
                .get(&order_url)
                .header("authorization", stack.authorization())
                .call()?;
            last = Some(response.status());
            Ok(if response.status() == 200 {
                Some(response.body_mut().read_json::<serde_json::Value>()?)
            } else {
                None
            })
        })?;
        let Some(body) = body else {
            bail!("GET the order after the database restart: {last:?}");
        };
        ensure!(
            body["lines"].as_array().map(Vec::len) == Some(2),
            "the order lost its lines across the restart: {body}"
        );
        eprintln!("    the order and its 2 lines are there after `docker-compose restart db`");
        // The `load` profile: k6 in its container, through NGINX; its
        // thresholds (no failed request) decide the exit status.
        let mut k6 = stack.compose();
        k6.args([
            "--profile",
            "load",
            "run",
            "--rm",
            "-e",
            &format!("P99_MS={}", if release { 0 } else { DEBUG_P99_MS }),
            "k6",
            "run",
            "--vus",
            "4",
            "--duration",
            "5s",
        ])
        .arg("/load/order-flow.js");
        crate::run(k6)?;
        eprintln!("    the k6 service ran the order flow through NGINX with no failed request");
        Ok(())
    })?;
    fleet::check(root, &stack, release)?;
    crate::step(
        "the idp profile: a real OpenID Connect provider's tokens through NGINX",
        || idp::check(root, &stack),
    )?;
    let project = stack.settings.project.clone();
    drop(stack);
    let left = crate::output({
        let mut ps = docker::docker();
        ps.args([
            "ps",
            "-aq",
            "--filter",
            &format!("label=com.docker.compose.project={project}"),
        ]);
        ps
    })?;
    ensure!(left.is_empty(), "containers left after down: {left}");
    eprintln!("    down: no container left");
    Ok(())
}

/// Puts two products into the catalogue (as staff), creates a client,
/// fills its cart with both, places the order.
pub fn place_order(stack: &Stack) -> anyhow::Result<String> {
    let http = crate::http();
    let auth = stack.authorization();
    let products = [
        ("CAFE-250", "Café 250 g", 1250),
        ("THE-100", "Thé 100 g", 499),
    ];
    for (sku, name, price) in products {
        // Ample stock: the k6 run below orders from the same stack.
        let mut put = http
            .put(stack.url(&format!("/catalogue/{sku}")))
            .header("authorization", &auth)
            .send_json(json!({"name": name, "price_cents": price, "stock": 1_000_000}))?;
        let status = put.status();
        let body = put.body_mut().read_to_string().unwrap_or_default();
        ensure!(
            status == 201 || status == 200,
            "PUT /catalogue/{sku} (staff): {status} {body}"
        );
    }
    let email = format!("compose-{}@example.com", random_hex()?);
    let mut client = http
        .post(stack.url("/clients"))
        .header("authorization", &auth)
        .send_json(json!({"name": "Compose", "email": email}))?;
    ensure!(client.status() == 201, "POST /clients: {}", client.status());
    let client: serde_json::Value = client.body_mut().read_json()?;
    let id = client["id"].as_str().context("no client id")?.to_owned();
    for (sku, _, _) in products {
        // Only the product and the quantity: panier takes the name and the
        // price from the catalogue.
        let mut item = http
            .post(stack.url(&format!("/panier/{id}/items")))
            .header("authorization", &auth)
            .send_json(json!({"product_id": sku, "quantity": 2}))?;
        let status = item.status();
        let body = item.body_mut().read_to_string().unwrap_or_default();
        ensure!(
            status == 200,
            "POST /panier/{{id}}/items ({sku}): {status} {body}"
        );
    }
    let mut order = http
        .post(stack.url("/commandes"))
        .header("idempotency-key", random_hex()?)
        .header("authorization", &auth)
        .send_json(json!({"client_id": id}))?;
    let status = order.status();
    let body = order.body_mut().read_to_string()?;
    ensure!(status == 201, "POST /commandes: {status} {body}");
    let order: serde_json::Value = serde_json::from_str(&body)?;
    Ok(order["id"].as_str().context("no order id")?.to_owned())
}

/// Waits until Prometheus reports `up == 1` for both comptoir targets.
fn expect_both_scraped(stack: &Stack) -> anyhow::Result<()> {
    let url = format!(
        "http://127.0.0.1:{}/api/v1/query",
        stack.settings.prometheus_port
    );
    let http = crate::http();
    let mut up: Vec<String> = Vec::new();
    let both = crate::wait::poll(Duration::from_secs(60), Duration::from_secs(1), || {
        up = http
            .get(&url)
            .query("query", r#"up{job="comptoir"}==1"#)
            .call()
            .ok()
            .and_then(|mut r| r.body_mut().read_json::<serde_json::Value>().ok())
            .and_then(|v| v["data"]["result"].as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|r| r["metric"]["instance_name"].as_str().map(str::to_owned))
            .collect();
        Ok(
            (up.iter().any(|i| i == "comptoir-1") && up.iter().any(|i| i == "comptoir-2"))
                .then_some(()),
        )
    })?;
    if both.is_none() {
        bail!("Prometheus does not see both comptoir up (up: {up:?})");
    }
    Ok(())
}
