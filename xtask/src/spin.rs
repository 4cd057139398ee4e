//! `spin up` serving the same `spin.toml` and `.wasm` files as comptoir,
//! against databases comptoir already migrated: the benchmark's Spin
//! column. Started by the `spin-up` crate (the same launcher as the host's
//! tests under Spin): in its own process group (Spin serves from a child
//! process), the whole group stopped when dropped.

use std::path::Path;
use std::time::Duration;

/// How long `spin up` may take to print `Serving http://…` (it compiles
/// every component first).
const READY_TIMEOUT: Duration = Duration::from_secs(180);
/// A port found free can be taken before Spin binds it: tries before
/// giving up.
const PORT_TRIES: usize = 3;

/// What `spin --version` prints, to name the Spin a result came from.
pub fn version(spin: &Path) -> String {
    spin_up::version(spin)
}

/// A running `spin up`.
pub struct SpinUp {
    pub base_url: String,
    /// The `spin up` process, leader of its own process group; the group
    /// is stopped when this is dropped.
    running: spin_up::SpinUp,
}

impl SpinUp {
    /// `spin up --from spin.toml` on a free loopback port, with the
    /// `SPIN_VARIABLE_*` of `env` only; its log and state under `dir`.
    pub fn start(
        root: &Path,
        spin: &Path,
        dir: &Path,
        env: &[(String, String)],
    ) -> anyhow::Result<Self> {
        let running = launch(root, spin, dir, env).start()?;
        Ok(Self {
            base_url: running.base_url().to_owned(),
            running,
        })
    }

    /// The `spin up` process: the root of the tree that serves.
    pub fn pid(&self) -> u32 {
        self.running.pid()
    }
}

/// How the benchmarks start `spin up`: from the workspace root `root`.
fn launch(root: &Path, spin: &Path, dir: &Path, env: &[(String, String)]) -> spin_up::Launch {
    let mut launch = spin_up::Launch::new(spin, root.join("spin.toml"), dir);
    launch.current_dir = Some(root.to_path_buf());
    launch.env = env.to_vec();
    launch.port_tries = PORT_TRIES;
    launch.ready_timeout = READY_TIMEOUT;
    launch
}

#[cfg(test)]
mod tests {
    //! No Spin here: a shell script stands in for it, printing what
    //! `spin up` prints (or failing as it does) and noting how it was
    //! started. `$5` is the `--listen` address.

    use std::os::unix::fs::PermissionsExt as _;
    use std::path::PathBuf;
    use std::time::Instant;

    use super::*;

    /// A stand-in `spin` running `script` (sh) in a new directory, and
    /// that directory (removed when dropped).
    struct FakeSpin {
        bin: PathBuf,
        dir: PathBuf,
    }

    impl FakeSpin {
        fn new(script: &str) -> Self {
            let dir = std::env::temp_dir().join(format!(
                "xtask-spin-{}-{}",
                std::process::id(),
                hex::encode(getrandom::u64().unwrap().to_le_bytes())
            ));
            std::fs::create_dir_all(&dir).unwrap();
            let bin = dir.join("spin");
            std::fs::write(&bin, format!("#!/bin/sh\n{script}\n")).unwrap();
            std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
            Self { bin, dir }
        }

        fn read(&self, file: &str) -> String {
            std::fs::read_to_string(self.dir.join(file)).unwrap()
        }

        /// Starts it the way the benchmarks do, from its directory.
        fn start(&self, env: &[(String, String)]) -> anyhow::Result<SpinUp> {
            SpinUp::start(&self.dir, &self.bin, &self.dir.join("work"), env)
        }
    }

    impl Drop for FakeSpin {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    /// Whether process `pid` is gone (or a zombie left to be reaped).
    fn gone(pid: &str) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |stat| {
            stat.rsplit_once(") ").unwrap().1.starts_with('Z')
        })
    }

    /// Serving is read from stdout; the arguments, working directory and
    /// Spin variables are the benchmark's; dropping stops the whole group.
    #[test]
    fn serves_with_the_benchmark_arguments_and_stops_the_group_when_dropped() {
        let spin = FakeSpin::new(
            "echo \"$@\" > args; pwd > cwd; env | grep ^SPIN_VARIABLE_ | sort > env\n\
             sleep 60 & echo $! > sleeper\n\
             echo 'Logging component stdio to \".spin/logs/\"'\n\
             echo \"Serving http://$5\"\n\
             wait",
        );
        let env = [("SPIN_VARIABLE_DB_PORT".to_owned(), "5433".to_owned())];
        let up = spin.start(&env).unwrap();
        let port = up.base_url.strip_prefix("http://127.0.0.1:").unwrap();
        assert!(port.parse::<u16>().is_ok(), "{}", up.base_url);
        assert_eq!(
            spin.read("args").trim(),
            format!(
                "up --from {} --listen 127.0.0.1:{port} --state-dir {}",
                spin.dir.join("spin.toml").display(),
                spin.dir.join("work/.spin").display()
            )
        );
        assert_eq!(spin.read("cwd").trim(), spin.dir.display().to_string());
        assert_eq!(spin.read("env"), "SPIN_VARIABLE_DB_PORT=5433\n");
        let leader = up.pid().to_string();
        let sleeper = spin.read("sleeper").trim().to_owned();
        assert!(!gone(&sleeper), "the app process runs");
        drop(up);
        assert!(gone(&leader), "spin up is stopped");
        let deadline = Instant::now() + Duration::from_secs(5);
        while !gone(&sleeper) {
            assert!(Instant::now() < deadline, "its app process is stopped too");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A `spin up` that exits before serving (not for a port in use) is
    /// an error naming its log, at the first try.
    #[test]
    fn exiting_before_serving_is_an_error() {
        let spin = FakeSpin::new("echo x >> tries; echo 'Error: bad manifest' >&2; exit 1");
        let error = spin.start(&[]).err().unwrap();
        assert!(error.to_string().contains("work/spin.log"), "{error}");
        assert_eq!(spin.read("work/spin.log"), "Error: bad manifest\n");
        assert_eq!(spin.read("tries"), "x\n");
    }

    /// A port taken before Spin binds it is tried again, on another port,
    /// up to [`PORT_TRIES`] times.
    #[test]
    fn a_port_in_use_is_tried_again() {
        let spin = FakeSpin::new(
            "echo \"$5\" >> tries\n\
             if [ $(wc -l < tries) -lt 2 ]; then echo 'Error: address already in use' >&2; exit 1; fi\n\
             echo \"Serving http://$5\"; exec sleep 60",
        );
        let up = spin.start(&[]).unwrap();
        let tries = spin.read("tries");
        assert_eq!(tries.lines().count(), 2, "{tries}");
        assert_eq!(
            up.base_url,
            format!("http://{}", tries.lines().last().unwrap())
        );
        drop(up);

        let spin =
            FakeSpin::new("echo x >> tries; echo 'Error: address already in use' >&2; exit 1");
        let error = spin.start(&[]).err().unwrap();
        assert!(error.to_string().contains("no free port"), "{error}");
        assert_eq!(spin.read("tries").lines().count(), PORT_TRIES);
    }
}
