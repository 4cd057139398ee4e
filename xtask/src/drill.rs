//! `cargo xtask drill`: the Compose stack under the k6 order flow through
//! NGINX while one comptoir container is SIGKILLed and started again and
//! the other is cut from the network and reconnected; then every
//! acknowledged order is looked up in PostgreSQL, and once later
//! placements took up what the faults left, every sample SKU's stock is
//! checked to be exact. Report in `target/drill/report.md`; requests and
//! failures per second around each fault (k6's `TICK` lines) drawn in
//! `docs/img/drill-timeline.svg`.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, ensure};

use crate::bench::chart::{self, Span, Timeline};
use crate::compose::{Settings, Stack, fleet};
use crate::docker;

const VUS: u32 = 8;
const DURATION_S: u64 = 60;

/// One injected fault (times in ms since the epoch): when, when it was
/// undone (`docker start`, `docker network connect`), and when the
/// container it hit answered `/readyz` again.
struct Fault {
    what: &'static str,
    at_ms: u128,
    undone_ms: u128,
    back_ms: Option<u128>,
}

pub fn run(root: &Path, release: bool) -> anyhow::Result<()> {
    let stack = Stack::start(
        root,
        Settings::throwaway("comptoir-drill", "172.29.82", release)?,
    )?;
    let out = root.join("target/drill");
    std::fs::create_dir_all(&out)?;
    let console = out.join("k6-console.log");
    let _ = std::fs::remove_file(&console);
    let network = format!("{}_comptoir", stack.settings.project);
    let (first, second) = (
        stack.container("comptoir-1")?,
        stack.container("comptoir-2")?,
    );

    let base_url = stack.url("");
    let run = crate::load::Run {
        scenario: "drill",
        label: "drill".into(),
        base_url: &base_url,
        vus: Some(VUS),
        duration: Some(Duration::from_secs(DURATION_S)),
        env: vec![
            ("BEARER".into(), stack.bearer.clone().unwrap_or_default()),
            ("DRILL_LOG".into(), "1".into()),
            ("K6_CONSOLE_OUTPUT".into(), console.display().to_string()),
        ],
        out: &out,
    };
    let started_ms = now_ms();
    // What the fleet deployed while comptoir-1 was down, and what
    // comptoir-1 served once back.
    let mut fleet_check = None;
    let ((figures, k6_passed), faults) = std::thread::scope(|scope| -> anyhow::Result<_> {
        let k6 = scope.spawn(|| run.execute(root));
        let started = Instant::now();
        let at =
            |s: u64| std::thread::sleep(Duration::from_secs(s).saturating_sub(started.elapsed()));
        let mut faults = Vec::new();

        at(10);
        let mut kill = fault("docker kill comptoir-1 (SIGKILL)");
        crate::output(docker_cmd(&["kill", &first]))?;
        // A fleet deploy while comptoir-1 is down, sent to comptoir-2.
        at(12);
        let deployed = fleet::deploy_clients_variant(root, &stack, 2, "drill")?;
        at(20);
        // The restart policy may have brought it back already.
        kill.undone_ms = now_ms();
        crate::output(docker_cmd(&["start", &first]))?;
        kill.back_ms = back(&stack.comptoir_address(1));
        faults.push(kill);
        let came_back_on = fleet::clients_version(&stack, 1, Duration::from_secs(30))?;
        fleet_check = Some((deployed, came_back_on));

        at(30);
        let mut cut = fault("docker network disconnect comptoir-2");
        crate::output(docker_cmd(&["network", "disconnect", &network, &second]))?;
        at(40);
        cut.undone_ms = now_ms();
        crate::output(docker_cmd(&[
            "network",
            "connect",
            "--ip",
            &stack.comptoir_address(2),
            &network,
            &second,
        ]))?;
        cut.back_ms = back(&stack.comptoir_address(2));
        faults.push(cut);

        Ok((k6.join().expect("k6 thread")?, faults))
    })?;

    let log = std::fs::read_to_string(&console).context("k6 wrote no console log")?;
    let acknowledged: HashMap<String, u64> = log
        .lines()
        .filter_map(|l| l.split("ORDER ").nth(1))
        .filter_map(|rest| {
            let mut words = rest.split([' ', '"']);
            Some((words.next()?.to_owned(), words.next()?.parse().ok()?))
        })
        .collect();
    let failures: Vec<(u128, String)> = log
        .lines()
        .filter_map(|l| l.split("FAIL ").nth(1))
        .filter_map(|rest| {
            let (ms, what) = rest.split_once(' ')?;
            Some((ms.parse().ok()?, what.trim_end_matches('"').to_owned()))
        })
        .collect();

    let stored: HashMap<String, u64> = stack
        .sql(
            "commande",
            "SELECT o.id, count(l.order_id) FROM orders o LEFT JOIN order_lines l ON l.order_id = o.id GROUP BY o.id",
        )?
        .lines()
        .filter_map(|l| {
            let (id, lines) = l.split_once('|')?;
            Some((id.to_owned(), lines.parse().ok()?))
        })
        .collect();
    let missing: Vec<&String> = acknowledged
        .iter()
        .filter(|(id, lines)| stored.get(*id) != Some(lines))
        .map(|(id, _)| id)
        .collect();

    let stock = exact_stock(&stack)?;
    let chart = draw_timeline(root, &log, &faults, started_ms)?;
    let mut report = report(
        &figures,
        &faults,
        &failures,
        acknowledged.len(),
        stored.len(),
        missing.len(),
    );
    report.push_str(&format!(
        "\nstock: {} sample SKUs checked once quiet (stock set = left + in live orders); \
         off: {:?}\n\nk6 thresholds (`load/drill.js`: failed requests ≤ {VUS} VUs × {} faults): {}\n\
         timeline: {}\n",
        stock.checked,
        stock.off,
        faults.len(),
        if k6_passed {
            "held".to_owned()
        } else {
            format!("**failed**: {}", figures.failed_thresholds.join(", "))
        },
        chart.display()
    ));
    let (deployed, came_back_on) = fleet_check.context("the fleet deploy did not run")?;
    report.push_str(&format!(
        "\nfleet: {deployed} deployed through comptoir-2 while comptoir-1 was down; \
         comptoir-1 came back serving {came_back_on}\n"
    ));
    std::fs::write(out.join("report.md"), &report)?;
    eprintln!("{report}");
    drop(stack);
    ensure!(
        came_back_on == deployed,
        "comptoir-1 came back on {came_back_on}, not the fleet's {deployed}"
    );

    ensure!(
        !acknowledged.is_empty(),
        "no order was acknowledged during the drill"
    );
    ensure!(
        missing.is_empty(),
        "{} acknowledged orders are missing or lost lines: {missing:?}",
        missing.len()
    );
    let bound = VUS as u64 * faults.len() as u64;
    ensure!(
        figures.failed <= bound,
        "{} requests failed: more than the {bound} that can be in flight on a lost container",
        figures.failed
    );
    for f in &faults {
        ensure!(
            f.back_ms.is_some(),
            "{}: the container never answered again",
            f.what
        );
    }
    ensure!(
        stock.off.is_empty(),
        "stock is not exact for {:?} (SKU, set, left, in live orders)",
        stock.off
    );
    Ok(())
}

/// The stock check once the drill is over.
struct StockCheck {
    checked: usize,
    /// SKUs where stock set ≠ left + in live orders: (sku, set, left, sold).
    off: Vec<(String, i64, i64, i64)>,
}

/// Lets placements take up what the faults left (pending orders, queued
/// releases: later placements settle them, there is no background task),
/// then checks, for every SKU of the sample catalogue: stock set = stock
/// left + units in live orders.
fn exact_stock(stack: &Stack) -> anyhow::Result<StockCheck> {
    let leftovers = "SELECT (SELECT count(*) FROM orders WHERE status = 'pending') \
                     + (SELECT count(*) FROM stock_releases)";
    let quiet = crate::wait::poll(Duration::from_secs(90), Duration::from_secs(2), || {
        // Its validation takes up pending orders and releases a few seconds old.
        crate::compose::place_order(stack)?;
        Ok((stack.sql("commande", leftovers)?.trim() == "0").then_some(()))
    })?;
    ensure!(
        quiet.is_some(),
        "pending orders or stock releases were left after 90 s of placements"
    );
    let table = |database: &str, sql: &str| -> anyhow::Result<HashMap<String, i64>> {
        Ok(stack
            .sql(database, sql)?
            .lines()
            .filter_map(|l| {
                let (sku, n) = l.split_once('|')?;
                Some((sku.to_owned(), n.parse().ok()?))
            })
            .collect())
    };
    let left = table("catalogue", "SELECT sku, stock FROM products")?;
    let sold = table(
        "commande",
        "SELECT l.product_id, sum(l.quantity) FROM order_lines l \
         JOIN orders o ON o.id = l.order_id WHERE o.status <> 'cancelled' GROUP BY 1",
    )?;
    let sample = crate::catalogue::sample();
    let off = sample
        .iter()
        .filter_map(|p| {
            let left = left.get(&p.sku).copied().unwrap_or(-1);
            let sold = sold.get(&p.sku).copied().unwrap_or(0);
            (p.stock != left + sold).then(|| (p.sku.clone(), p.stock, left, sold))
        })
        .collect();
    Ok(StockCheck {
        checked: sample.len(),
        off,
    })
}

/// `docs/img/drill-timeline.svg`: requests and failures per second from
/// the k6 `log`, the faults shaded; its path.
fn draw_timeline(
    root: &Path,
    log: &str,
    faults: &[Fault],
    started_ms: u128,
) -> anyhow::Result<std::path::PathBuf> {
    let path = root.join(chart::DEFAULT_DIR).join("drill-timeline.svg");
    let title = format!(
        "Drill: order flow through NGINX, {VUS} VUs; each fault shaded until undone, a line once answering again"
    );
    chart::timeline(&path, &title, &timeline(&ticks(log), faults, started_ms))?;
    Ok(path)
}

/// Requests and failed requests per second of the epoch, summed over the
/// VUs' `TICK <epoch s> <requests> <failed>` lines (`load/lib/flow.js`).
fn ticks(log: &str) -> BTreeMap<u64, (u64, u64)> {
    let mut seconds = BTreeMap::new();
    for rest in log.lines().filter_map(|l| l.split("TICK ").nth(1)) {
        let mut words = rest
            .split_whitespace()
            .map(|word| word.trim_end_matches('"').parse::<u64>());
        if let (Some(Ok(second)), Some(Ok(requests)), Some(Ok(failed))) =
            (words.next(), words.next(), words.next())
        {
            let counts = seconds.entry(second).or_insert((0, 0));
            counts.0 += requests;
            counts.1 += failed;
        }
    }
    seconds
}

/// The counts per second and the faults, in seconds from `started_ms`.
fn timeline(seconds: &BTreeMap<u64, (u64, u64)>, faults: &[Fault], started_ms: u128) -> Timeline {
    let from = |ms: u128| (ms as f64 - started_ms as f64) / 1000.0;
    Timeline {
        seconds: seconds
            .iter()
            .map(|(&second, &(requests, failed))| {
                (
                    from(u128::from(second) * 1000),
                    requests as f64,
                    failed as f64,
                )
            })
            .collect(),
        spans: faults
            .iter()
            .map(|f| Span {
                label: f.what.to_owned(),
                from: from(f.at_ms),
                to: from(f.undone_ms),
                mark: f.back_ms.map(from),
            })
            .collect(),
    }
}

fn docker_cmd(args: &[&str]) -> std::process::Command {
    let mut c = docker::docker();
    c.args(args);
    c
}

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default()
}

fn fault(what: &'static str) -> Fault {
    eprintln!("==> {what}");
    let at_ms = now_ms();
    Fault {
        what,
        at_ms,
        undone_ms: at_ms,
        back_ms: None,
    }
}

/// When the comptoir at `address` answers `/readyz` again (within 60 s).
fn back(address: &str) -> Option<u128> {
    let url = format!("http://{address}:8080/readyz");
    crate::wait::poll(Duration::from_secs(60), Duration::from_millis(100), || {
        Ok((crate::status(&url) == Some(200)).then(now_ms))
    })
    .ok()
    .flatten()
}

fn report(
    figures: &crate::load::Figures,
    faults: &[Fault],
    failures: &[(u128, String)],
    acknowledged: usize,
    stored: usize,
    missing: usize,
) -> String {
    let mut text = format!(
        "# Drill: order flow through NGINX, {VUS} VUs, {DURATION_S} s\n\n\
         k6: {figures}\n\n\
         | fault | failed requests after it | last failure after | undone after | answering again after |\n\
         | --- | ---: | ---: | ---: | ---: |\n"
    );
    for (i, fault) in faults.iter().enumerate() {
        let until = faults.get(i + 1).map_or(u128::MAX, |next| next.at_ms);
        let mine: Vec<_> = failures
            .iter()
            .filter(|(ms, _)| *ms >= fault.at_ms && *ms < until)
            .collect();
        let last = mine
            .iter()
            .map(|(ms, _)| format!("{:.1} s", (ms - fault.at_ms) as f64 / 1000.0))
            .next_back()
            .unwrap_or_else(|| "–".into());
        let seconds = |ms: u128| format!("{:.1} s", ms.saturating_sub(fault.at_ms) as f64 / 1000.0);
        let back = fault.back_ms.map_or("never".into(), seconds);
        text.push_str(&format!(
            "| {} | {} | {last} | {} | {back} |\n",
            fault.what,
            mine.len(),
            seconds(fault.undone_ms)
        ));
    }
    let before = failures
        .iter()
        .filter(|(ms, _)| faults.first().is_none_or(|f| *ms < f.at_ms))
        .count();
    text.push_str(&format!(
        "\nfailed before any fault: {before}\n\
         acknowledged orders: {acknowledged}; orders in PostgreSQL: {stored}; \
         acknowledged but missing or with other lines: {missing}\n"
    ));
    if !failures.is_empty() {
        text.push_str("\nfailed requests:\n");
        for (ms, what) in failures {
            text.push_str(&format!("- {ms} {what}\n"));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every VU's ticks are summed per second, in either console form.
    #[test]
    fn ticks_are_summed_per_second() {
        let log = "\
time=\"x\" level=info msg=\"TICK 1000 30 0\" source=console
TICK 1000 25 2
FAIL 1000123 POST http://x/panier 502
TICK 1001 40 1
TICK oops
";
        let seconds = ticks(log);
        assert_eq!(seconds.get(&1000), Some(&(55, 2)));
        assert_eq!(seconds.get(&1001), Some(&(40, 1)));
        assert_eq!(seconds.len(), 2);
    }

    /// Seconds and faults are placed from the start of the run.
    #[test]
    fn timeline_from_the_start() {
        let seconds = BTreeMap::from([(1001, (50, 0)), (1011, (10, 4))]);
        let faults = [Fault {
            what: "docker kill comptoir-1 (SIGKILL)",
            at_ms: 1_010_500,
            undone_ms: 1_020_500,
            back_ms: Some(1_022_000),
        }];
        let t = timeline(&seconds, &faults, 1_000_500);
        assert_eq!(t.seconds, [(0.5, 50.0, 0.0), (10.5, 10.0, 4.0)]);
        let span = &t.spans[0];
        assert_eq!((span.from, span.to, span.mark), (10.0, 20.0, Some(21.5)));
    }
}
