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
