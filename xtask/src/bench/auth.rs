//! The `auth` cell: what verifying an access token costs inside the
//! components, per algorithm and per runtime. k6 (`load/auth.js`) sends
//! `PATCH /clients` at a fixed rate: authenticated first, then a 405 with
//! no database work, so each request is the token check and little else.
//! Rows: a token that is not a JWT (everything but the signature: header,
//! settings, key set; a 401), one token repeated (verified once per
//! instance, then remembered), and a fresh token per request signed with
//! EdDSA, ES256 or RS256 (every request verified). The server's CPU per
//! request comes from `/proc`; "adds" is the difference to the first row.

use std::path::Path;
use std::time::Duration;

use dev_issuer::{Issuer, SigningAlgorithm as Alg, test_signer};

use crate::cpu::Meter;
use crate::load::Run;
use crate::spin::SpinUp;
use crate::stack::{Stack, Topology};

/// `cargo xtask bench auth`.
#[derive(clap::Args)]
pub struct Args {
    /// Requests per second in each run.
    #[arg(long, default_value_t = 200)]
    rate: u32,
    /// Each k6 run.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "10s")]
    duration: Duration,
    /// The debug build of the host (the components are release builds
    /// either way, and the check runs inside them).
    #[command(flatten)]
    profile: crate::Profile,
}

/// What the tokens of one run are.
#[derive(Clone, Copy)]
enum Tokens {
    NotJwt,
    Repeated,
    Fresh(Alg),
}

impl std::fmt::Display for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Tokens::NotJwt => f.write_str("not a JWT (no signature check; 401)"),
            Tokens::Repeated => f.write_str("one EdDSA token repeated (remembered)"),
            Tokens::Fresh(alg) => write!(f, "a fresh {alg:?} token per request"),
        }
    }
}

const ROWS: [Tokens; 5] = [
    Tokens::NotJwt,
    Tokens::Repeated,
    Tokens::Fresh(Alg::EdDSA),
    Tokens::Fresh(Alg::ES256),
    Tokens::Fresh(Alg::RS256),
];

/// The tokens of `tokens` for `count` requests, as a JSON array.
fn mint(tokens: Tokens, count: usize) -> String {
    let ttl = Duration::from_secs(3600);
    let list: Vec<String> = match tokens {
        Tokens::NotJwt => vec!["not-a-jwt".to_owned()],
        Tokens::Repeated => vec![test_signer(Alg::EdDSA).sign(&Issuer::claims("bench", true, ttl))],
        Tokens::Fresh(alg) => {
            let signer = test_signer(alg);
            (0..count)
                .map(|i| signer.sign(&Issuer::claims(&format!("bench-{i}"), true, ttl)))
                .collect()
        }
    };
    serde_json::to_string(&list).expect("strings serialise")
}

/// One server under test: where it answers and the processes to meter.
struct Server<'a> {
    name: &'static str,
    base_url: &'a str,
    pids: Vec<u32>,
}

pub fn bench(root: &Path, args: &Args) -> anyhow::Result<()> {
    let release = args.profile.release();
    crate::build_host(release)?;
    let out = root.join("target/load");
    let work = out.join("work-auth");
    let system = Stack::start_with(
        root,
        &crate::host_binary(release),
        &work,
        Topology::Single { replicas: 4 },
        None,
    )?;
    let spin = crate::tools::spin_binary();
    let spin_up = match &spin {
        Some(spin) => {
            let mut env = crate::stack::shared_db_env(&system.state_dir)?;
            env.extend(system.auth_env.iter().cloned());
            Some(SpinUp::start(
                root,
                spin,
                &out.join("work/spin-auth"),
                &env,
            )?)
        }
        None => None,
    };
    let mut servers = vec![Server {
        name: "comptoir",
        base_url: &system.base_url,
        pids: system.server_pids(),
    }];
    if let Some(up) = &spin_up {
        servers.push(Server {
            name: "Spin",
            base_url: &up.base_url,
            pids: vec![up.pid()],
        });
    }
    let count = (args.rate as u64 * args.duration.as_secs().max(1) * 2) as usize;
    let mut table = format!(
        "| tokens | {} |\n| --- |{}\n",
        servers
            .iter()
            .map(|s| format!("{} µs CPU/request (adds)", s.name))
            .collect::<Vec<_>>()
            .join(" | "),
        " ---: |".repeat(servers.len())
    );
    let mut baseline = vec![None; servers.len()];
    for tokens in ROWS {
        let file = out.join("auth-tokens.json");
        std::fs::write(&file, mint(tokens, count))?;
        let mut cells = Vec::new();
        for (i, server) in servers.iter().enumerate() {
            let run = Run {
                scenario: "auth",
                label: format!("auth-{}-{i}", server.name),
                base_url: server.base_url,
                vus: None,
                duration: None,
                env: vec![
                    ("TOKENS_FILE".into(), file.display().to_string()),
                    ("RATE".into(), args.rate.to_string()),
                    ("DURATION".into(), crate::load::k6_duration(args.duration)),
                    (
                        "EXPECT".into(),
                        if matches!(tokens, Tokens::NotJwt) {
                            "401"
                        } else {
                            "405"
                        }
                        .into(),
                    ),
                ],
                out: &out,
            };
            let meter = Meter::start(&server.pids);
            let (figures, passed) = run.execute(root)?;
            let ms = meter.stop();
            let per_request = (figures.requests > 0).then(|| ms * 1000.0 / figures.requests as f64);
            if !passed {
                eprintln!("    {} ({tokens}): k6 thresholds failed", server.name);
            }
            let base = *baseline[i].get_or_insert(per_request.unwrap_or(0.0));
            cells.push(match per_request {
                Some(us) => format!("{us:.0} ({:+.0})", us - base),
                None => "no requests".to_owned(),
            });
        }
        table += &format!("| {tokens} | {} |\n", cells.join(" | "));
    }
    drop(spin_up);
    drop(system);
    let note = match &spin {
        Some(spin) => format!("Spin: {}.", crate::spin::version(spin)),
        None => "Spin column skipped: no SPIN_BIN and no spin on PATH.".to_owned(),
    };
    let report = format!(
        "## Token verification ({} requests/s, {:?} per run, 4 replicas, {} host)\n\n{table}\n{note}\n",
        args.rate,
        args.duration,
        if release { "release" } else { "debug" }
    );
    println!("{report}");
    std::fs::write(out.join("bench-auth.md"), &report)?;
    Ok(())
}
