//! `cargo xtask bench canary`: the `canary` k6 scenario against a release
//! comptoir — a faulty panier as a canary (rolled back by comptoir), then a
//! good one (promoted) — with every failed request placed on the timeline.

use std::path::Path;

use anyhow::{Context as _, bail};

use super::spread::Spread;
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
    #[command(flatten)]
    runs: super::Runs,
}

/// One round of the scenario: what both canaries did and the public
/// requests that failed around them.
struct Round {
    requests: u64,
    thresholds_held: bool,
    faulty: Course,
    good: Course,
    /// Failed requests before the faulty canary, during it (deploy to
    /// decision), after its rollback, during the good one, after its
    /// promotion.
    before: usize,
    during_faulty: usize,
    after_rollback: usize,
    during_good: usize,
    after_promotion: usize,
}

impl Round {
    /// Every target of the scenario held in this round.
    fn met(&self) -> bool {
        self.thresholds_held
            && self.faulty.state == "rolled_back"
            && self.good.state == "promoted"
            && self.during_faulty as u64 <= self.faulty.canary_requests
            && self.before + self.after_rollback + self.during_good + self.after_promotion == 0
    }
}

pub fn canary(root: &Path, args: &Args) -> anyhow::Result<()> {
    crate::build_release()?;
    let faulty = build_faulty_panier(root)?;
    let out = root.join("target/load");
    let good = out.join("panier-good.wasm");
    let panier = std::fs::read(root.join("target/wasm32-wasip2/release/panier.wasm"))?;
    std::fs::create_dir_all(&out)?;
    std::fs::write(&good, wasm_variant::variant(&panier, "canary-good"))?;

    let system = Stack::start(root, &out.join("work"), Topology::Single { replicas: 4 })?;
    let mut rounds = Vec::new();
    for round in 1..=args.runs.runs {
        rounds.push(self::round(
            root,
            &out,
            &system,
            (&faulty, &good),
            args.vus,
            round,
        )?);
    }
    let table = render(&rounds, args.vus);
    println!("\n{table}");
    std::fs::write(out.join("bench-canary.md"), &table)?;
    if !rounds.iter().all(Round::met) {
        bail!(
            "the canary scenario missed a target (see above and {})",
            out.join("canary-console-*.log").display()
        );
    }
    Ok(())
}

/// Round `round` of the `canary` scenario (60 s): the faulty canary at
/// 5 s, the good one 10 s after its decision; every failure placed.
fn round(
    root: &Path,
    out: &Path,
    system: &Stack,
    (faulty, good): (&Path, &Path),
    vus: u32,
    round: u32,
) -> anyhow::Result<Round> {
    let console = out.join(format!("canary-console-{round}.log"));
    let _ = std::fs::remove_file(&console);
    let run = Run {
        scenario: "canary",
        label: format!("canary-{round}"),
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
        out,
    };
    eprintln!(
        "\x1b[1m==> round {round}: order flow ({vus} VUs, 60 s): a faulty canary of panier at 5 s, a good one 10 s after its decision\x1b[0m"
    );
    let (figures, thresholds_held) = run.execute(root)?;
    let log = std::fs::read_to_string(&console)
        .with_context(|| format!("k6 wrote no console log at {}", console.display()))?;
    let (failures, faulty, good) = parse(&log)?;
    let between = |from: u64, to: u64| failures.iter().filter(|t| (from..to).contains(*t)).count();
    Ok(Round {
        requests: figures.requests,
        thresholds_held,
        before: between(0, faulty.started_ms),
        during_faulty: between(faulty.started_ms, faulty.decided_ms + 1),
        after_rollback: between(faulty.decided_ms + 1, good.started_ms),
        during_good: between(good.started_ms, good.decided_ms + 1),
        after_promotion: between(good.decided_ms + 1, u64::MAX),
        faulty,
        good,
    })
}

/// A row per round and canary, then the targets: the timings as medians
/// (min–max) over the rounds, the decisions as how many rounds held.
fn render(rounds: &[Round], vus: u32) -> String {
    let mut t = format!(
        "Canary deploys of panier ({SHARE} % of its requests) under the order flow ({vus} VUs, \
         4 replicas, release build), {} round(s) of 60 s.\n\n\
         | round | canary | decision | time to decide | canary requests | canary 5xx | failed requests during | failed after |\n\
         | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: |\n",
        rounds.len()
    );
    for (i, r) in rounds.iter().enumerate() {
        for (name, c, during, after) in [
            (
                "faulty build (1 request in 5 answers 500)",
                &r.faulty,
                r.during_faulty,
                r.after_rollback,
            ),
            ("good build", &r.good, r.during_good, r.after_promotion),
        ] {
            t += &format!(
                "| {} | {name} | {} | {:.2} s | {} | {} | {during} | {after} |\n",
                i + 1,
                c.state,
                c.seconds_to_decide,
                c.canary_requests,
                c.canary_5xx
            );
        }
    }
    let requests: u64 = rounds.iter().map(|r| r.requests).sum();
    let before: usize = rounds.iter().map(|r| r.before).sum();
    t += &format!("\n{requests} requests in all; failed before any canary: {before}.\n");
    if let Some(r) = rounds.first() {
        t += &format!(
            "Reasons comptoir logged (round 1):\n- faulty: {}\n- good: {}\n",
            r.faulty.reason, r.good.reason
        );
    }
    let seconds = |c: fn(&Round) -> &Course| {
        Spread::of(rounds.iter().map(|r| c(r).seconds_to_decide))
            .map_or(String::new(), |s| format!("{} s", s.show(2)))
    };
    let count = |held: fn(&Round) -> bool| rounds.iter().filter(|r| held(r)).count();
    let all = rounds.len();
    let in_rounds = |n: usize| format!("in {n} of {all} round(s)");
    t += "\n";
    let rolled_back = count(|r| r.faulty.state == "rolled_back");
    t += &verdict(
        "the faulty canary is rolled back automatically",
        rolled_back == all,
        format!(
            "{}, after {}",
            in_rounds(rolled_back),
            seconds(|r| &r.faulty)
        ),
    );
    let contained =
        count(|r| r.during_faulty as u64 <= r.faulty.canary_requests && r.after_rollback == 0);
    let failed = Spread::of(rounds.iter().map(|r| r.during_faulty as f64))
        .map_or(String::new(), |s| s.show(0));
    t += &verdict(
        "failed requests ≤ what the canary took, none after the rollback",
        contained == all,
        format!(
            "{}; {failed} failed during the faulty canary",
            in_rounds(contained)
        ),
    );
    let promoted = count(|r| r.good.state == "promoted");
    t += &verdict(
        "the good canary is promoted automatically",
        promoted == all,
        format!("{}, after {}", in_rounds(promoted), seconds(|r| &r.good)),
    );
    let clean = count(|r| r.before + r.during_good + r.after_promotion == 0);
    t += &verdict(
        "0 failed requests during and after the promotion",
        clean == all,
        in_rounds(clean),
    );
    let held = count(|r| r.thresholds_held);
    t += &format!("- k6's own thresholds held {}\n", in_rounds(held));
    t
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

    /// The timings are medians over the rounds; a decision holds only if
    /// it held in every round.
    #[test]
    fn rounds_are_summed_up() {
        let course = |state: &str, seconds, requests| Course {
            state: state.to_owned(),
            seconds_to_decide: seconds,
            canary_requests: requests,
            ..Course::default()
        };
        let round = |faulty_seconds, good_state: &str| Round {
            requests: 1000,
            thresholds_held: true,
            faulty: course("rolled_back", faulty_seconds, 40),
            good: course(good_state, 3.0, 200),
            before: 0,
            during_faulty: 5,
            after_rollback: 0,
            during_good: 0,
            after_promotion: 0,
        };
        let rounds = [
            round(0.7, "promoted"),
            round(0.9, "promoted"),
            round(0.6, "aborted"),
        ];
        let text = render(&rounds, 10);
        assert!(
            text.contains(
                "rolled back automatically: **met** — in 3 of 3 round(s), after 0.70 (0.60–0.90) s"
            ),
            "{text}"
        );
        assert!(
            text.contains("promoted automatically: **missed** — in 2 of 3 round(s)"),
            "{text}"
        );
        assert!(
            text.contains("| 3 | good build | aborted | 3.00 s | 200 | 0 | 0 | 0 |"),
            "{text}"
        );
        assert!(rounds[0].met() && !rounds[2].met());
    }
}
