//! `cargo xtask bench canary`: the `canary` k6 scenario against a release
//! comptoir — a faulty panier as a canary (rolled back by comptoir), then a
//! good one (promoted) — with every failed request placed on the timeline.

use std::path::Path;

use anyhow::{Context as _, bail};

use super::verdict;
use crate::load::Run;
use crate::stack::{Stack, Topology};
use crate::step;

/// The canaries' share of panier's requests.
const SHARE: u8 = 10;

/// What the scenario logged about one canary.
#[derive(Debug, Default)]
struct Course {
    started_ms: u64,
    decided_ms: u64,
    state: String,
    canary_requests: u64,
    canary_5xx: u64,
    seconds_to_decide: f64,
    reason: String,
}

/// `cargo xtask bench canary`.
#[derive(clap::Args)]
pub struct Args {
    /// Virtual users running the order flow.
    #[arg(long, default_value_t = 10)]
    vus: u32,
}

pub fn canary(root: &Path, args: &Args) -> anyhow::Result<()> {
    crate::build_release()?;
    let vus = args.vus;
    let faulty = build_faulty_panier(root)?;
    let out = root.join("target/load");
    let good = out.join("panier-good.wasm");
    let panier = std::fs::read(root.join("target/wasm32-wasip2/release/panier.wasm"))?;
    std::fs::create_dir_all(&out)?;
    std::fs::write(&good, wasm_variant::variant(&panier, "canary-good"))?;

    let system = Stack::start(root, &out.join("work"), Topology::Single { replicas: 4 })?;
    let console = out.join("canary-console.log");
    let _ = std::fs::remove_file(&console);
    let run = Run {
        scenario: "canary",
        label: "canary".into(),
        base_url: &system.base_url,
        vus: None,
        duration: None,
        env: vec![
            ("VUS".into(), vus.to_string()),
            ("DURATION".into(), "60s".into()),
            ("ADMIN_URL".into(), system.admin_url.clone()),
            ("ADMIN_TOKEN".into(), system.token.clone()),
            ("BEARER".into(), system.bearer.clone()),
            ("CANARY_SHARE".into(), SHARE.to_string()),
            ("CANARY_FAULTY".into(), faulty.display().to_string()),
            ("CANARY_GOOD".into(), good.display().to_string()),
            ("DRILL_LOG".into(), "1".into()),
            ("K6_CONSOLE_OUTPUT".into(), console.display().to_string()),
        ],
        out: &out,
    };
    eprintln!(
        "\x1b[1m==> order flow ({vus} VUs, 60 s): a faulty canary of panier at 5 s, a good one 10 s after its decision\x1b[0m"
    );
    let (figures, thresholds) = run.execute(root)?;
    let log = std::fs::read_to_string(&console)
        .with_context(|| format!("k6 wrote no console log at {}", console.display()))?;
    let (failures, faulty_course, good_course) = parse(&log)?;
    let between = |from: u64, to: u64| failures.iter().filter(|t| (from..to).contains(*t)).count();
    let before = between(0, faulty_course.started_ms);
    let during_faulty = between(faulty_course.started_ms, faulty_course.decided_ms + 1);
    let after_rollback = between(faulty_course.decided_ms + 1, good_course.started_ms);
    let during_good = between(good_course.started_ms, good_course.decided_ms + 1);
    let after_promotion = between(good_course.decided_ms + 1, u64::MAX);

    let table = format!(
        "Canary deploys of panier ({SHARE} % of its requests) under the order flow ({vus} VUs, \
         4 replicas, release build), {} requests in 60 s.\n\n\
         | canary | decision | time to decide | canary requests | canary 5xx | failed requests during | failed after |\n\
         | --- | --- | ---: | ---: | ---: | ---: | ---: |\n\
         | faulty build (1 request in 5 answers 500) | {} | {:.2} s | {} | {} | {during_faulty} | {after_rollback} |\n\
         | good build | {} | {:.2} s | {} | {} | {during_good} | {after_promotion} |\n\n\
         Failed requests before any canary: {before}. Reasons logged by comptoir:\n\
         - faulty: {}\n- good: {}\n\n{}{}{}{}",
        figures.requests,
        faulty_course.state,
        faulty_course.seconds_to_decide,
        faulty_course.canary_requests,
        faulty_course.canary_5xx,
        good_course.state,
        good_course.seconds_to_decide,
        good_course.canary_requests,
        good_course.canary_5xx,
        faulty_course.reason,
        good_course.reason,
        verdict(
            "the faulty canary is rolled back automatically",
            faulty_course.state == "rolled_back",
            format!(
                "{} after {:.2} s",
                faulty_course.state, faulty_course.seconds_to_decide
            )
        ),
        verdict(
            "failed requests ≤ what the canary took, none after the rollback",
            during_faulty as u64 <= faulty_course.canary_requests && after_rollback == 0,
            format!(
                "{during_faulty} failed of {} canary requests; {after_rollback} after",
                faulty_course.canary_requests
            )
        ),
        verdict(
            "the good canary is promoted automatically",
            good_course.state == "promoted",
            format!(
                "{} after {:.2} s",
                good_course.state, good_course.seconds_to_decide
            )
        ),
        verdict(
            "0 failed requests during and after the promotion",
            before + during_good + after_promotion == 0,
            format!("{} failed", before + during_good + after_promotion)
        ),
    );
    println!("\n{table}");
    std::fs::write(out.join("bench-canary.md"), &table)?;
    let met = thresholds
        && faulty_course.state == "rolled_back"
        && good_course.state == "promoted"
        && during_faulty as u64 <= faulty_course.canary_requests
        && before + after_rollback + during_good + after_promotion == 0;
    if !met {
        bail!(
            "the canary scenario missed a target (see above and {})",
            console.display()
        );
    }
    Ok(())
}

/// panier built with `fault-injection` (one request in five answers 500),
/// in a target directory of its own so the real build stays as it is.
fn build_faulty_panier(root: &Path) -> anyhow::Result<std::path::PathBuf> {
    step("building a faulty panier (feature fault-injection)", || {
        Ok(wasm_variant::with_features(
            root,
            "panier",
            &["fault-injection"],
        )?)
    })
}

/// The failure times and both canaries' courses in the scenario's log.
fn parse(log: &str) -> anyhow::Result<(Vec<u64>, Course, Course)> {
    let mut failures = Vec::new();
    let (mut faulty, mut good) = (Course::default(), Course::default());
    for line in log.lines() {
        // k6 may wrap console lines: `time=… level=info msg="FAIL …" source=console`.
        let message = line.split_once("msg=\"").map_or(line, |(_, rest)| {
            rest.rsplit_once("\" source=")
                .map_or(rest.trim_end_matches('"'), |(m, _)| m)
        });
        let words: Vec<&str> = message.split_whitespace().collect();
        match words.as_slice() {
            ["FAIL", at, ..] => failures.push(at.parse()?),
            ["CANARY", at, which, ..] => {
                if let Some(c) = pick(which, &mut faulty, &mut good) {
                    c.started_ms = at.parse()?;
                }
            }
            [
                "DECISION",
                at,
                which,
                state,
                requests,
                errors,
                seconds,
                reason @ ..,
            ] => {
                if let Some(c) = pick(which, &mut faulty, &mut good) {
                    c.decided_ms = at.parse()?;
                    c.state = (*state).to_owned();
                    c.canary_requests = requests.parse()?;
                    c.canary_5xx = errors.parse()?;
                    c.seconds_to_decide = seconds.parse()?;
                    c.reason = reason.join(" ");
                }
            }
            _ => {}
        }
    }
    for (name, c) in [("faulty", &faulty), ("good", &good)] {
        if c.started_ms == 0 || c.decided_ms == 0 {
            bail!("the {name} canary was not started and decided within the run");
        }
    }
    Ok((failures, faulty, good))
}

fn pick<'a>(which: &str, faulty: &'a mut Course, good: &'a mut Course) -> Option<&'a mut Course> {
    match which {
        "faulty" => Some(faulty),
        "good" => Some(good),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scenario_log_is_read_in_either_form() {
        let log = "\
time=\"x\" level=info msg=\"CANARY 1000 faulty panier@aaa\" source=console
FAIL 1500 POST http://127.0.0.1/panier/x/items 500
time=\"y\" level=info msg=\"DECISION 2000 faulty rolled_back 30 6 1.00 5xx rate 20.0 % (6 of 30) vs 0.0 % on stable\"
CANARY 9000 good panier@bbb
DECISION 12000 good promoted 200 0 3.00 no worse than stable
";
        let (failures, faulty, good) = parse(log).unwrap();
        assert_eq!(failures, vec![1500]);
        assert_eq!((faulty.started_ms, faulty.decided_ms), (1000, 2000));
        assert_eq!(faulty.state, "rolled_back");
        assert_eq!((faulty.canary_requests, faulty.canary_5xx), (30, 6));
        assert_eq!(
            faulty.reason,
            "5xx rate 20.0 % (6 of 30) vs 0.0 % on stable"
        );
        assert_eq!(
            (good.state.as_str(), good.seconds_to_decide),
            ("promoted", 3.0)
        );
        assert!(parse("CANARY 1 faulty v\n").is_err());
    }
}
