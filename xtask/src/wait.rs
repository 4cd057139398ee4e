//! Waiting on what xtask starts: polling until something holds, a child
//! process until it serves, and stopping a child (SIGTERM, a grace period,
//! then SIGKILL).

use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use anyhow::bail;
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;

/// Calls `probe` every `every` until it yields a value or fails, for at
/// most `timeout`; `Ok(None)` when the time ran out.
pub fn poll<T>(
    timeout: Duration,
    every: Duration,
    mut probe: impl FnMut() -> anyhow::Result<Option<T>>,
) -> anyhow::Result<Option<T>> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe()? {
            return Ok(Some(value));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        std::thread::sleep(every);
    }
}

/// Waits until `GET url` answers 200 (polled every 100 ms), failing early
/// if `child` (`name`, logging to `log`) exits first.
pub fn serving(
    child: &mut Child,
    url: &str,
    timeout: Duration,
    name: &str,
    log: &Path,
) -> anyhow::Result<()> {
    let ready = poll(timeout, Duration::from_millis(100), || {
        if crate::status(url) == Some(200) {
            return Ok(Some(()));
        }
        if let Some(status) = child.try_wait()? {
            bail!("{name} exited ({status}); see {}", log.display());
        }
        Ok(None)
    })?;
    if ready.is_none() {
        bail!(
            "{name} not answering {url} after {} s; see {}",
            timeout.as_secs(),
            log.display()
        );
    }
    Ok(())
}

/// Who [`stop`] signals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The child alone.
    Process,
    /// The child's process group (it was started as a group leader).
    Group,
}

/// Stops `child`: SIGTERM, up to `grace` to exit, then SIGKILL; reaped
/// either way. A group gets SIGKILL even when its leader is gone, since
/// a child of the leader may still run (an error once it is empty, ignored).
pub fn stop(child: &mut Child, target: Target, grace: Duration) {
    let Ok(pid) = i32::try_from(child.id()).map(Pid::from_raw) else {
        return;
    };
    let _ = match target {
        Target::Process => kill(pid, Signal::SIGTERM),
        Target::Group => killpg(pid, Signal::SIGTERM),
    };
    let _ = poll(grace, Duration::from_millis(50), || Ok(child.try_wait()?));
    if target == Target::Group {
        let _ = killpg(pid, Signal::SIGKILL);
    }
    // Once reaped, `kill` is a no-op: no other process can be hit.
    let _ = child.kill();
    let _ = child.wait();
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::*;

    /// A value ends the wait at once; none until the timeout is `None`; a
    /// failure ends it with the error.
    #[test]
    fn poll_until_a_value_the_timeout_or_an_error() {
        let mut calls = 0;
        let value = poll(Duration::from_secs(5), Duration::ZERO, || {
            calls += 1;
            Ok((calls == 3).then_some(calls))
        });
        assert_eq!(value.unwrap(), Some(3));
        let none = poll(Duration::from_millis(20), Duration::from_millis(5), || {
            Ok(None::<()>)
        });
        assert_eq!(none.unwrap(), None);
        let failed = poll(Duration::from_secs(5), Duration::ZERO, || {
            bail!("gone") as anyhow::Result<Option<()>>
        });
        assert!(failed.is_err());
    }

    /// A child that ignores SIGTERM is killed after the grace period, and
    /// reaped; one that honours it exits well before.
    #[test]
    fn stop_terminates_then_kills() {
        use std::os::unix::process::ExitStatusExt as _;
        // SIGTERM ignored, and still ignored once `exec`'d into sleep.
        let mut stubborn = Command::new("sh")
            .args(["-c", "trap '' TERM; exec sleep 30"])
            .spawn()
            .unwrap();
        let comm = format!("/proc/{}/comm", stubborn.id());
        let execd = poll(Duration::from_secs(10), Duration::from_millis(10), || {
            Ok((std::fs::read_to_string(&comm)?.trim() == "sleep").then_some(()))
        });
        assert!(execd.unwrap().is_some(), "sh never exec'd sleep");
        let started = Instant::now();
        stop(&mut stubborn, Target::Process, Duration::from_millis(300));
        assert!(started.elapsed() >= Duration::from_millis(300));
        assert_eq!(stubborn.wait().unwrap().signal(), Some(9));
        let mut polite = Command::new("sleep").arg("30").spawn().unwrap();
        let started = Instant::now();
        stop(&mut polite, Target::Process, Duration::from_secs(10));
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(polite.wait().unwrap().signal(), Some(15));
    }
}
