//! The `redis` precondition: a throwaway `redis-server` (Debian's
//! `redis-server` package) on a free loopback port, nothing saved to disk,
//! stopped when dropped.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context as _, bail};

/// A running `redis-server`.
pub struct Redis {
    child: Child,
    port: u16,
}

impl Redis {
    /// Whether `redis-server` is on `PATH`.
    pub fn available() -> bool {
        which::which("redis-server").is_ok()
    }

    /// Starts one on a free port, answering on 127.0.0.1 and, where the
    /// machine has it, ::1 (the suite's address is `localhost`).
    pub fn start() -> anyhow::Result<Self> {
        let port = crate::free_port()?;
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1 -::1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting redis-server")?;
        let mut redis = Self { child, port };
        let answered =
            crate::wait::poll(Duration::from_secs(10), Duration::from_millis(50), || {
                Ok(redis.pong().then_some(()))
            })?;
        if answered.is_none() {
            if let Some(status) = redis.child.try_wait()? {
                bail!("redis-server exited ({status})");
            }
            bail!("redis-server did not answer PING on port {port} within 10 s");
        }
        Ok(redis)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether it answers `PING` with `+PONG`.
    fn pong(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let mut reply = [0u8; 7];
        stream.write_all(b"PING\r\n").is_ok()
            && stream.read_exact(&mut reply).is_ok()
            && &reply == b"+PONG\r\n"
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
