//! The platform world (`wit/platform.wit`): checking that a component
//! imports nothing outside it and exports the HTTP handler.

use wasmtime::Engine;
use wasmtime::component::Component;

/// Interface names of the world, read from `wit/` at build time.
mod world {
    include!(concat!(env!("OUT_DIR"), "/platform_world.rs"));
}

/// Splits `ns:pkg/iface@1.2.3` into (`ns:pkg/iface`, `1.2.3`).
fn split(name: &str) -> (&str, Option<&str>) {
    match name.split_once('@') {
        Some((base, version)) => (base, Some(version)),
        None => (name, None),
    }
}

/// Whether `wanted` is served by `offered` under semver: same interface,
/// and the same major version (same minor for 0.x).
fn compatible(wanted: &str, offered: &str) -> bool {
    let ((wanted_base, wanted_v), (offered_base, offered_v)) = (split(wanted), split(offered));
    if wanted_base != offered_base {
        return false;
    }
    let track = |v: Option<&str>| {
        let mut parts = v.unwrap_or("").split('.');
        let major = parts.next().unwrap_or("").to_owned();
        if major == "0" {
            format!("0.{}", parts.next().unwrap_or(""))
        } else {
            major
        }
    };
    track(wanted_v) == track(offered_v)
}

/// Refuses `component` unless every import is in the platform world and it
/// exports `wasi:http/handler`. The error names each offending interface.
pub fn check(engine: &Engine, component: &Component) -> anyhow::Result<()> {
    let ty = component.component_type();
    let outside: Vec<String> = ty
        .imports(engine)
        .map(|(name, _)| name.to_owned())
        .filter(|name| {
            !world::IMPORTS
                .iter()
                .any(|offered| compatible(name, offered))
        })
        .collect();
    if !outside.is_empty() {
        anyhow::bail!(
            "component imports {} outside the comptoir platform world (wit/platform.wit): {}",
            if outside.len() == 1 {
                "an interface"
            } else {
                "interfaces"
            },
            outside.join(", ")
        );
    }
    let exports_handler = ty.exports(engine).any(|(name, _)| {
        world::EXPORTS
            .iter()
            .any(|offered| compatible(name, offered))
    });
    if !exports_handler {
        anyhow::bail!(
            "component does not export {} (is it a Spin HTTP component? a core module needs \
             the component-type section wit-bindgen writes: modules of spin-sdk 1.x and older \
             are not supported)",
            world::EXPORTS.join(" or ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_world_is_what_the_design_says() {
        for expected in [
            "spin:postgres/postgres@4.2.0",
            "spin:variables/variables@3.0.0",
            "spin:key-value/key-value@3.0.0",
            "spin:sqlite/sqlite@3.1.0",
            "fermyon:spin/key-value@2.0.0",
            "fermyon:spin/sqlite@2.0.0",
            "fermyon:spin/variables@2.0.0",
            "wasi:http/client@0.3.0",
            "wasi:cli/environment@0.2.12",
        ] {
            assert!(world::IMPORTS.contains(&expected), "{expected} missing");
        }
        assert!(world::IMPORTS.contains(&"wasi:filesystem/preopens@0.2.12"));
        assert!(world::IMPORTS.contains(&"wasi:http/outgoing-handler@0.2.12"));
        for sockets in [
            "network",
            "instance-network",
            "tcp",
            "tcp-create-socket",
            "udp",
            "udp-create-socket",
            "ip-name-lookup",
        ] {
            let name = format!("wasi:sockets/{sockets}@0.2.12");
            assert!(world::IMPORTS.contains(&name.as_str()), "{name} missing");
        }
        assert_eq!(
            world::EXPORTS,
            [
                "wasi:http/incoming-handler@0.2.12",
                "wasi:http/handler@0.3.0"
            ]
        );
    }

    /// The README's list of what comptoir provides names every interface
    /// the world imports (a WASI package by name, a Spin one in full).
    #[test]
    fn the_readme_lists_every_interface() {
        let readme = include_str!("../../README.md");
        for import in world::IMPORTS {
            let listed = match import.strip_prefix("wasi:") {
                Some(rest) => {
                    let package = rest.split('/').next().unwrap_or_default();
                    readme.contains(&format!("`wasi:{package}`"))
                }
                None => readme.contains(&format!("`{import}`")),
            };
            assert!(listed, "README.md does not list {import}");
        }
    }

    #[test]
    fn semver_compatibility() {
        assert!(compatible("wasi:io/error@0.2.6", "wasi:io/error@0.2.12"));
        assert!(!compatible("wasi:io/error@0.3.0", "wasi:io/error@0.2.12"));
        assert!(!compatible(
            "wasi:filesystem/types@0.2.6",
            "wasi:io/error@0.2.12"
        ));
        assert!(compatible(
            "spin:postgres/postgres@4.0.0",
            "spin:postgres/postgres@4.2.0"
        ));
        assert!(compatible(
            "spin:sqlite/sqlite@3.0.0",
            "spin:sqlite/sqlite@3.1.0"
        ));
    }
}
