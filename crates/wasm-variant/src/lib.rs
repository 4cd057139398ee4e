//! Another version of the same Wasm binary: [`variant`] appends a custom
//! section, so the bytes (and their sha256, comptoir's version) change while
//! what the module or component does stays the same. Used by xtask's
//! benchmarks and by the host's integration tests to swap back and forth.

use std::borrow::Cow;

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

    /// Other tags, other bytes; the same tag, the same bytes.
    #[test]
    fn tags_tell_variants_apart() {
        assert_ne!(variant(COMPONENT, "a"), variant(COMPONENT, "b"));
        assert_eq!(variant(COMPONENT, "a"), variant(COMPONENT, "a"));
    }
}
