//! `wasmtime serve` (the official CLI) serving the hello component the
//! cell compares comptoir with.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use anyhow::Context as _;

use super::READY_TIMEOUT;

/// A running `wasmtime serve`, stopped when dropped.
pub(super) struct WasmtimeServe {
    pub(super) base_url: String,
    child: Child,
}

impl WasmtimeServe {
    /// `wasmtime serve` of `wasm` with `flags` (for a wasi:http@0.3
    /// component: p3 and the component model's async ABI on) on a free
    /// loopback port.
    pub(super) fn start(
        wasmtime: &Path,
        flags: &[&str],
        wasm: &Path,
        dir: &Path,
    ) -> anyhow::Result<Self> {
        let port = crate::free_port()?;
        let log = dir.join("wasmtime.log");
        let child = Command::new(wasmtime)
            .arg("serve")
            .args(flags)
            .args(["--addr", &format!("127.0.0.1:{port}")])
            .arg(wasm)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .spawn()
            .with_context(|| format!("failed to start {}", wasmtime.display()))?;
        let mut serve = Self {
            base_url: format!("http://127.0.0.1:{port}"),
            child,
        };
        let url = format!("{}/", serve.base_url);
        crate::wait::serving(
            &mut serve.child,
            &url,
            READY_TIMEOUT,
            "wasmtime serve",
            &log,
        )?;
        Ok(serve)
    }

    pub(super) fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for WasmtimeServe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
