//! Another version of the same Wasm binary: [`variant`] appends a custom
//! section, so the bytes (and their sha256, comptoir's version) change while
//! what the module or component does stays the same. Used by xtask's
//! benchmarks and by the host's integration tests to swap back and forth.
//!
//! [`with_features`] is the other kind of version: a component of the
//! workspace built with cargo features of its own (a slow or faulty build),
//! which behaves differently.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use wasm_encoder::{CustomSection, Section as _};

/// The custom section [`variant`] appends.
pub const SECTION: &str = "comptoir-variant";

/// `wasm` (a module or a component) with a custom section
/// [`SECTION`] holding `tag` appended: the same behaviour under another
/// sha256. Different tags give different bytes.
pub fn variant(wasm: &[u8], tag: &str) -> Vec<u8> {
    let mut out = wasm.to_vec();
    CustomSection {
        name: Cow::Borrowed(SECTION),
        data: Cow::Borrowed(tag.as_bytes()),
    }
    .append_to(&mut out);
    out
}

/// The target the workspace's components are built for.
pub const WASM_TARGET: &str = "wasm32-wasip2";

/// Component `package` of the cargo workspace at `workspace`, built for
/// [`WASM_TARGET`] (release) with its cargo `features`, in a target
/// directory of its own (`target/features/<package>-<features>`) so that
/// the normal build stays as it is; returns the path of its `.wasm`.
/// Cargo builds it the first time (minutes: the dependencies too) and
/// only checks it is fresh afterwards.
pub fn with_features(
    workspace: &Path,
    package: &str,
    features: &[&str],
) -> std::io::Result<PathBuf> {
    let target_dir = workspace
        .join("target/features")
        .join(format!("{package}-{}", features.join("-")));
    let features: Vec<String> = features.iter().map(|f| format!("{package}/{f}")).collect();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(workspace)
        .args(["build", "--release", "--target", WASM_TARGET, "-p", package])
        .arg("--features")
        .arg(features.join(","))
        .arg("--target-dir")
        .arg(&target_dir)
        .stdin(Stdio::null())
        .output()?;
    if !output.status.success() {
        return Err(std::io::Error::other(format!(
            "cargo build of {package} with {features:?} failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    Ok(target_dir
        .join(WASM_TARGET)
        .join("release")
        .join(format!("{}.wasm", package.replace('-', "_"))))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The smallest component: preamble only (layer 1).
    const COMPONENT: &[u8] = b"\0asm\x0d\0\x01\0";

    /// The original bytes come first, unchanged; the tag is in a custom
    /// section the parser reads back; the result is still valid.
    #[test]
    fn appends_a_custom_section_holding_the_tag() {
        let out = variant(COMPONENT, "swap");
        assert!(out.starts_with(COMPONENT));
        let mut tags = Vec::new();
        for payload in wasmparser::Parser::new(0).parse_all(&out) {
            if let wasmparser::Payload::CustomSection(section) = payload.unwrap() {
                tags.push((section.name().to_owned(), section.data().to_vec()));
            }
        }
        assert_eq!(tags, [(SECTION.to_owned(), b"swap".to_vec())]);
        wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
            .validate_all(&out)
            .unwrap();
    }

    /// A feature the package does not have is cargo's error, returned
    /// (before anything is built).
    #[test]
    fn a_feature_build_fails_with_cargos_reason() {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let error = with_features(&workspace, "wasm-variant", &["no-such-feature"])
            .expect_err("wasm-variant has no such feature");
        assert!(error.to_string().contains("no-such-feature"), "{error}");
    }

    /// Other tags, other bytes; the same tag, the same bytes.
    #[test]
    fn tags_tell_variants_apart() {
        assert_ne!(variant(COMPONENT, "a"), variant(COMPONENT, "b"));
        assert_eq!(variant(COMPONENT, "a"), variant(COMPONENT, "a"));
    }
}
