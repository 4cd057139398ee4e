//! CPU time of process trees, from `/proc/<pid>/stat`: how the project's
//! "CPU per order flow" is measured. A tree is a process and all its live
//! descendants; each one's reaped children count too (`cutime`, `cstime`),
//! so a child that exits during a run is neither lost nor counted twice.
//! A client this process runs to completion (k6, pgbench) is measured by
//! [`reaped_children_ms`] instead: once reaped, it is in no tree.

use std::collections::HashMap;
use std::process::Command;

/// Clock ticks per second when `getconf CLK_TCK` does not answer (Linux's
/// value on every common architecture).
const DEFAULT_CLK_TCK: f64 = 100.0;

/// CPU spent by some process trees between [`Meter::start`] and
/// [`Meter::stop`].
pub struct Meter {
    roots: Vec<u32>,
    started: u64,
}

impl Meter {
    /// Starts measuring the trees rooted at `roots`.
    pub fn start(roots: &[u32]) -> Self {
        Self {
            roots: roots.to_vec(),
            started: ticks(roots),
        }
    }

    /// CPU milliseconds the trees spent since [`Meter::start`].
    pub fn stop(self) -> f64 {
        ticks(&self.roots).saturating_sub(self.started) as f64 * 1000.0 / clock_ticks_per_s()
    }
}

/// CPU milliseconds `run` took, measured as the growth of this process's
/// reaped children's time (`getrusage(RUSAGE_CHILDREN)`): what the child
/// that `run` spawns and waits for spent, and its reaped descendants.
/// Only meaningful when `run` reaps nothing else.
pub fn reaped_children_ms<T>(run: impl FnOnce() -> T) -> (T, f64) {
    let before = children_ms();
    let out = run();
    (out, children_ms() - before)
}

/// User + system CPU of every reaped child so far, in milliseconds.
fn children_ms() -> f64 {
    use nix::sys::resource::{UsageWho, getrusage};
    getrusage(UsageWho::RUSAGE_CHILDREN).map_or(0.0, |usage| {
        let ms =
            |t: nix::sys::time::TimeVal| t.tv_sec() as f64 * 1000.0 + t.tv_usec() as f64 / 1000.0;
        ms(usage.user_time()) + ms(usage.system_time())
    })
}

/// Ticks spent so far by the trees rooted at `roots` (a process listed
/// twice, or inside another's tree, counts once).
fn ticks(roots: &[u32]) -> u64 {
    let table = processes();
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for (&pid, stat) in &table {
        children.entry(stat.ppid).or_default().push(pid);
    }
    let mut seen = std::collections::HashSet::new();
    let mut stack = roots.to_vec();
    let mut total = 0;
    while let Some(pid) = stack.pop() {
        if !seen.insert(pid) {
            continue;
        }
        if let Some(stat) = table.get(&pid) {
            total += stat.ticks;
        }
        stack.extend(children.get(&pid).into_iter().flatten());
    }
    total
}

/// What the tree walk needs of one `/proc/<pid>/stat`.
struct Stat {
    ppid: u32,
    /// utime + stime + cutime + cstime.
    ticks: u64,
}

/// Every process visible in `/proc`, by pid.
fn processes() -> HashMap<u32, Stat> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return HashMap::new();
    };
    dir.filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            Some((pid, parse_stat(&text)?))
        })
        .collect()
}

/// Parses `/proc/<pid>/stat`; the command name, in parentheses, may itself
/// hold spaces and parentheses, so fields are counted after the last `)`.
fn parse_stat(text: &str) -> Option<Stat> {
    let fields: Vec<&str> = text.rsplit_once(')')?.1.split_whitespace().collect();
    // After the name: state (field 3 of proc(5)), ppid (4), …, utime (14),
    // stime (15), cutime (16), cstime (17).
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    Some(Stat {
        ppid: u32::try_from(field(4)?).ok()?,
        ticks: field(14)? + field(15)? + field(16)? + field(17)?,
    })
}

fn clock_ticks_per_s() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .filter(|t: &f64| *t > 0.0)
        .unwrap_or(DEFAULT_CLK_TCK)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A command name with spaces and parentheses does not shift the fields.
    #[test]
    fn stat_fields_are_counted_after_the_name() {
        let stat = parse_stat(
            "42 (spin (trigger) x) S 7 42 42 0 -1 4194560 100 0 0 0 11 22 3 4 20 0 5 0 100 0 0",
        )
        .expect("a well-formed stat line");
        assert_eq!(stat.ppid, 7);
        assert_eq!(stat.ticks, 11 + 22 + 3 + 4);
    }

    /// A busy child's CPU shows up once it is reaped.
    #[test]
    fn reaped_child_cpu_is_seen() {
        let (status, ms) = reaped_children_ms(|| {
            Command::new("sh")
                .args(["-c", "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done"])
                .status()
        });
        assert!(status.expect("sh runs").success());
        assert!(ms > 0.0, "no CPU seen for a busy child");
    }

    /// This process's own CPU shows up: busy reading /proc, it spends some.
    #[test]
    fn own_cpu_is_seen() {
        let pid = std::process::id();
        let before = ticks(&[pid]);
        let seen = crate::wait::poll(
            std::time::Duration::from_secs(10),
            std::time::Duration::ZERO,
            || Ok((ticks(&[pid]) != before).then_some(())),
        );
        assert!(seen.unwrap().is_some(), "no CPU seen in 10 s");
    }
}
