//! The `comptoir` commands and `up` flags the README and docs/ show,
//! checked against the real command line so the text cannot drift.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::error::ErrorKind;
use clap::{CommandFactory as _, Parser as _};

use super::Cli;

/// README.md and every page of docs/.
fn documents() -> Vec<(PathBuf, String)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = vec![root.join("README.md")];
    for entry in std::fs::read_dir(root.join("docs")).expect("docs/ is readable") {
        let path = entry.expect("a docs/ entry").path();
        if path.extension().is_some_and(|e| e == "md") {
            files.push(path);
        }
    }
    files
        .into_iter()
        .map(|f| {
            let text = std::fs::read_to_string(&f).expect("a readable document");
            (f, text)
        })
        .collect()
}

/// Every `comptoir <subcommand> …` in `text` (also as `target/debug/comptoir`
/// or `/usr/local/bin/comptoir`), as its arguments, up to whatever ends a
/// command in prose or shell. Synopses with placeholders are skipped, and
/// so is a bare subcommand in prose ("`comptoir deploy` acts on one
/// process" names the command, it does not run it).
fn invocations(text: &str) -> Vec<Vec<String>> {
    let subcommands: Vec<String> = Cli::command()
        .get_subcommands()
        .map(|s| s.get_name().to_owned())
        .collect();
    let mut found = Vec::new();
    let mut in_code = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        // A shell comment in a code block is prose.
        let line = match line.find(" #") {
            Some(at) if in_code => &line[..at],
            _ => line,
        };
        for (at, _) in line.match_indices("comptoir ") {
            let before = line[..at].chars().last();
            if before.is_some_and(|c| !matches!(c, ' ' | '/' | '`' | '(' | '$')) {
                continue;
            }
            let rest = &line[at + "comptoir ".len()..];
            let end = rest
                .find(['`', '#', '|', ')', ';', '&', '"', ','])
                .unwrap_or(rest.len());
            let words: Vec<String> = rest[..end]
                .split_whitespace()
                .map(|w| w.strip_suffix('.').unwrap_or(w).to_owned())
                .collect();
            let Some(first) = words.first() else { continue };
            let synopsis = words.iter().any(|w| w.contains(['<', '[', '…', '|']));
            let mention = !in_code && words.len() == 1;
            if subcommands.contains(first) && !synopsis && !mention {
                found.push(words);
            }
        }
    }
    found
}

#[test]
fn every_documented_command_parses() {
    let mut count = 0;
    for (file, text) in documents() {
        for words in invocations(&text) {
            let argv = std::iter::once("comptoir".to_owned()).chain(words.iter().cloned());
            match Cli::try_parse_from(argv) {
                Ok(_) => {}
                // `--help` and `--version` are answers, not mistakes.
                Err(e)
                    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {}
                Err(e) => panic!(
                    "{}: `comptoir {}` does not parse: {e}",
                    file.display(),
                    words.join(" ")
                ),
            }
            count += 1;
        }
    }
    assert!(
        count >= 8,
        "only {count} `comptoir` commands found in the docs"
    );
}

/// The flags table of docs/operations.md ("Configuration") names every
/// flag of `comptoir up` with its environment variable, and nothing else.
#[test]
fn the_flags_table_is_the_cli() {
    let (_, text) = documents()
        .into_iter()
        .find(|(f, _)| f.ends_with("docs/operations.md"))
        .expect("docs/operations.md");
    let documented: BTreeMap<String, String> = text
        .lines()
        .filter_map(|row| {
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            let flag = cells.get(1)?.strip_prefix("`--")?.strip_suffix('`')?;
            let env = cells.get(2)?.trim_start_matches('`');
            let env = env.split(['`', ' ']).next()?;
            Some((flag.to_owned(), env.to_owned()))
        })
        .collect();
    let cli = Cli::command();
    let up = cli.find_subcommand("up").expect("an up subcommand");
    let actual: BTreeMap<String, String> = up
        .get_arguments()
        .filter_map(|a| {
            let long = a.get_long()?;
            let env = a.get_env()?.to_string_lossy().into_owned();
            Some((long.to_owned(), env))
        })
        .collect();
    assert_eq!(
        documented, actual,
        "docs/operations.md's flags table vs `comptoir up`"
    );
}
