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

use super::spread::Spread;
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
    #[command(flatten)]
    runs: super::Runs,
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
    // CPU-µs per request, by server, row and round.
    let mut measured = vec![vec![Vec::new(); ROWS.len()]; servers.len()];
    for (row, tokens) in ROWS.into_iter().enumerate() {
        for round in 1..=args.runs.runs {
            // Minted each round: a fresh token must not be one an instance
            // remembers from the round before.
            let file = out.join("auth-tokens.json");
            std::fs::write(&file, mint(tokens, count))?;
            for (i, server) in servers.iter().enumerate() {
                let us = measure(root, &out, server, tokens, &file, args)?;
                eprintln!(
                    "    {} ({tokens}), run {round}: {us:.0} µs CPU/request",
                    server.name
                );
                measured[i][row].push(us);
            }
        }
    }
    let table = render(&servers, &measured);
    drop(spin_up);
    drop(system);
    let note = match &spin {
        Some(spin) => format!("Spin: {}.", crate::spin::version(spin)),
        None => "Spin column skipped: no SPIN_BIN and no spin on PATH.".to_owned(),
    };
    let report = format!(
        "## Token verification ({} requests/s, {:?} per run, {} run(s) per cell taking turns, \
         4 replicas, {} host)\n\nMedians (min–max); \"adds\" is the difference to the first \
         row, run by run.\n\n{table}\n{note}\n",
        args.rate,
        args.duration,
        args.runs.runs,
        if release { "release" } else { "debug" }
    );
    println!("{report}");
    std::fs::write(out.join("bench-auth.md"), &report)?;
    Ok(())
}

/// One k6 run of `tokens` (read from `file`) against `server`: its CPU-µs
/// per request (NaN when no request was made).
fn measure(
    root: &Path,
    out: &Path,
    server: &Server,
    tokens: Tokens,
    file: &Path,
    args: &Args,
) -> anyhow::Result<f64> {
    let expect = if matches!(tokens, Tokens::NotJwt) {
        "401"
    } else {
        "405"
    };
    let run = Run {
        scenario: "auth",
        label: format!("auth-{}", server.name),
        base_url: server.base_url,
        vus: None,
        duration: None,
        env: vec![
            ("TOKENS_FILE".into(), file.display().to_string()),
            ("RATE".into(), args.rate.to_string()),
            ("DURATION".into(), crate::load::k6_duration(args.duration)),
            ("EXPECT".into(), expect.into()),
        ],
        out,
    };
    let meter = Meter::start(&server.pids);
    let (figures, passed) = run.execute(root)?;
    let ms = meter.stop();
    if !passed {
        eprintln!("    {} ({tokens}): k6 thresholds failed", server.name);
    }
    Ok(if figures.requests > 0 {
        ms * 1000.0 / figures.requests as f64
    } else {
        f64::NAN
    })
}

/// The table: a row per kind of token, a column per server, each cell the
/// median CPU-µs per request (min–max) and what it adds to the first row.
fn render(servers: &[Server], measured: &[Vec<Vec<f64>>]) -> String {
    let mut table = format!(
        "| tokens | {} |\n| --- |{}\n",
        servers
            .iter()
            .map(|s| format!("{} µs CPU/request (adds)", s.name))
            .collect::<Vec<_>>()
            .join(" | "),
        " ---: |".repeat(servers.len())
    );
    for (row, tokens) in ROWS.iter().enumerate() {
        let cells: Vec<String> = measured
            .iter()
            .map(|rows| {
                let runs = &rows[row];
                let adds = Spread::of(runs.iter().zip(&rows[0]).map(|(us, base)| us - base));
                match (Spread::of(runs.iter().copied()), adds) {
                    (Some(us), Some(adds)) => format!("{} ({})", us.show(0), signed(&adds)),
                    _ => "no requests".to_owned(),
                }
            })
            .collect();
        table += &format!("| {tokens} | {} |\n", cells.join(" | "));
    }
    table
}

/// `+150 (+120–+170)`: a difference with its sign.
fn signed(s: &Spread) -> String {
    if format!("{:.0}", s.min) == format!("{:.0}", s.max) {
        format!("{:+.0}", s.median)
    } else {
        format!("{:+.0}, {:+.0}–{:+.0}", s.median, s.min, s.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each cell is the median over runs; "adds" is taken run by run
    /// against the first row's run of the same round.
    #[test]
    fn cells_are_medians_and_differences_run_by_run() {
        let servers = [Server {
            name: "comptoir",
            base_url: "http://127.0.0.1:1",
            pids: vec![],
        }];
        let base = vec![100.0, 110.0, 90.0];
        let mut rows = vec![base; ROWS.len()];
        rows[4] = vec![600.0, 590.0, 650.0];
        let table = render(&servers, &[rows]);
        assert!(
            table.contains("| not a JWT (no signature check; 401) | 100 (90–110) (+0) |"),
            "{table}"
        );
        assert!(
            table.contains("| a fresh RS256 token per request | 600 (590–650) (+500, +480–+560) |"),
            "{table}"
        );
    }
}
