//! Reads the platform world from `wit/` so the host can refuse, at load
//! time, a component importing anything outside it.

use std::fmt::Write as _;
use std::path::PathBuf;

fn main() {
    let wit = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("../wit");
    println!("cargo:rerun-if-changed={}", wit.display());
    let mut resolve = wit_parser::Resolve::default();
    let (package, _) = resolve.push_dir(&wit).expect("wit/ parses");
    let world = resolve
        .select_world(&[package], Some("platform"))
        .expect("wit/ has a `platform` world");
    let names = |items: &wit_parser::IndexMap<wit_parser::WorldKey, wit_parser::WorldItem>| {
        items
            .iter()
            .filter_map(|(_, item)| match item {
                wit_parser::WorldItem::Interface { id, .. } => resolve.id_of(*id),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    let world = &resolve.worlds[world];
    let mut out = String::new();
    for (constant, list) in [
        ("IMPORTS", names(&world.imports)),
        ("EXPORTS", names(&world.exports)),
    ] {
        writeln!(out, "pub const {constant}: &[&str] = &[").unwrap();
        for name in list {
            writeln!(out, "    {name:?},").unwrap();
        }
        writeln!(out, "];").unwrap();
    }
    let dest = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("platform_world.rs");
    std::fs::write(dest, out).unwrap();
}
