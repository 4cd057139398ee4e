//! The `cargo xtask` invocations README.md, docs/ and `.ci/run` show,
//! parsed by the real command line so the text cannot drift from it.

use std::path::PathBuf;

use clap::Parser as _;
use clap::error::ErrorKind;

use crate::{Cli, root};

/// The files whose commands a reader copies.
fn documents() -> Vec<PathBuf> {
    let root = root();
    let mut files = vec![root.join("README.md"), root.join(".ci/run")];
    let docs = std::fs::read_dir(root.join("docs")).expect("docs/ is readable");
    for entry in docs {
        let path = entry.expect("a docs/ entry").path();
        if path.extension().is_some_and(|e| e == "md") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// Every `cargo xtask …` in `text`, as its arguments: the words after
/// `cargo xtask` up to whatever ends a command in prose or shell (a
/// backtick, a comment, a pipe, a closing parenthesis…). Synopses with
/// placeholders (`<scenario>`, `[--vus N]`) are not invocations.
pub fn invocations(text: &str) -> Vec<Vec<String>> {
    const MARK: &str = "cargo xtask ";
    let mut found = Vec::new();
    for line in text.lines() {
        let mut rest = line;
        while let Some(at) = rest.find(MARK) {
            rest = &rest[at + MARK.len()..];
            let end = rest
                .find(['`', '#', '|', ')', ';', '&', '"', '\'', ',', '('])
                .unwrap_or(rest.len());
            let words: Vec<String> = rest[..end]
                .split_whitespace()
                .map(|w| w.strip_suffix('.').unwrap_or(w).to_owned())
                .collect();
            let synopsis = words
                .iter()
                .any(|w| w.contains(['<', '[', '…', '|']) || w.ends_with("..."));
            if !words.is_empty() && !synopsis {
                found.push(words);
            }
        }
    }
    found
}

#[test]
fn finds_invocations_in_prose_and_shell() {
    let text = "Run `cargo xtask test -- stock::` or \
                TOKEN=$(cargo xtask token --staff) # comment\n\
                cargo xtask load order-flow --vus 10   # ten\n\
                `cargo xtask load <scenario> [--vus N]` is a synopsis";
    assert_eq!(
        invocations(text),
        [
            vec!["test", "--", "stock::"],
            vec!["token", "--staff"],
            vec!["load", "order-flow", "--vus", "10"],
        ]
    );
}

#[test]
fn every_documented_invocation_parses() {
    let mut count = 0;
    for file in documents() {
        let text = std::fs::read_to_string(&file).expect("a readable document");
        for words in invocations(&text) {
            let argv = std::iter::once("cargo xtask".to_owned()).chain(words.iter().cloned());
            match Cli::try_parse_from(argv) {
                Ok(_) => {}
                // `--help` and `--version` are answers, not mistakes.
                Err(e)
                    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {}
                Err(e) => panic!(
                    "{}: `cargo xtask {}` does not parse: {e}",
                    file.display(),
                    words.join(" ")
                ),
            }
            count += 1;
        }
    }
    // The README's quick start and the docs show dozens: finding few
    // means the extraction broke, not that everything is fine.
    assert!(count >= 20, "only {count} `cargo xtask` invocations found");
}
