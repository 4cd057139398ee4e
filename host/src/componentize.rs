//! Core WebAssembly modules (`wasm32-wasip1`, as Spin's older SDKs build
//! them) made components at load, as `spin up` does: `wit-component` with
//! the WASI preview1 reactor adapter of the wasmtime release comptoir runs.

use std::borrow::Cow;

use anyhow::Context as _;
use wasi_preview1_component_adapter_provider::{
    WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
};

/// What a deployed `.wasm` is, as people name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A component exporting `wasi:http/handler@0.3.x` (spin-sdk 6 and later).
    P3,
    /// A component exporting `wasi:http/incoming-handler@0.2.x`.
    P2,
    /// A core module (p1) exporting `wasi:http/incoming-handler@0.2.x`
    /// through its component-type section, componentized at load.
    Module,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::P3 => "p3-component",
            Kind::P2 => "p2-component",
            Kind::Module => "p1-module",
        }
    }

    /// Whether one instance may serve several requests, at once or in turn.
    /// A `wasi:http@0.2` guest gets a fresh instance per request, as under
    /// Spin and `wasmtime serve` (its globals may assume so).
    pub fn reuses_instances(self) -> bool {
        self == Kind::P3
    }
}

/// `bytes` as a component: as given when it is one, componentized when it
/// is a core module. The flag says whether it was a module.
pub fn componentize(bytes: &[u8]) -> anyhow::Result<(Cow<'_, [u8]>, bool)> {
    if !wasmparser::Parser::is_core_wasm(bytes) {
        return Ok((Cow::Borrowed(bytes), false));
    }
    let component = wit_component::ComponentEncoder::default()
        .validate(true)
        .module(bytes)
        .context("a core module comptoir cannot make a component of")?
        .adapter(
            WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME,
            WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
        )
        .context("the WASI preview1 adapter does not fit")?
        .encode()
        .context("the core module cannot be made a component")?;
    Ok((Cow::Owned(component), true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_component_is_left_as_it_is() {
        // The smallest component: the preamble with layer 1.
        let component = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];
        let (out, was_module) = componentize(&component).unwrap();
        assert!(!was_module);
        assert_eq!(&*out, &component);
    }

    #[test]
    fn a_core_module_becomes_a_component() {
        // The smallest core module: the preamble with version 1.
        let module = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
        let (out, was_module) = componentize(&module).unwrap();
        assert!(was_module);
        assert!(!wasmparser::Parser::is_core_wasm(&out));
        assert!(wasmparser::Parser::is_component(&out));
    }
}
