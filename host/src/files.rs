//! The manifest's `files`: what a component may read, assembled (copied)
//! into one directory per component and preopened read-only at `/`, with
//! Spin's rules for patterns, `{ source, destination }` mappings and
//! `exclude_files`.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use serde::Deserialize;

/// One entry of a component's `files`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Mount {
    /// `"static/**/*"`, `"dir"` or `"file.txt"`: relative to the
    /// application directory, found at the same path in the guest.
    Pattern(String),
    /// `{ source = "host/dir", destination = "/guest/dir" }`.
    Mapping { source: String, destination: String },
}

/// Copies what `mounts` name (relative to `root`, less `exclude`) into
/// `dest`, which is emptied first.
pub fn assemble(
    root: &Path,
    mounts: &[Mount],
    exclude: &[String],
    dest: &Path,
) -> anyhow::Result<()> {
    if dest.exists() {
        std::fs::remove_dir_all(dest).with_context(|| format!("emptying {}", dest.display()))?;
    }
    std::fs::create_dir_all(dest).with_context(|| format!("creating {}", dest.display()))?;
    let exclude = exclude
        .iter()
        .map(|p| {
            glob::Pattern::new(p).with_context(|| format!("invalid exclude_files pattern {p:?}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let copier = Copier { root, exclude };
    for mount in mounts {
        match mount {
            Mount::Pattern(pattern) => copier.pattern(pattern, dest)?,
            Mount::Mapping {
                source,
                destination,
            } => {
                let guest = dest.join(destination.trim_start_matches('/'));
                let host = root.join(source);
                let meta = std::fs::metadata(&host)
                    .with_context(|| format!("files: source {source:?} cannot be read"))?;
                if meta.is_dir() {
                    copier.glob(&host.join("**/*"), &host, &guest)?;
                } else {
                    copy(&host, &guest)?;
                }
            }
        }
    }
    Ok(())
}

struct Copier<'a> {
    root: &'a Path,
    exclude: Vec<glob::Pattern>,
}

impl Copier<'_> {
    fn pattern(&self, pattern: &str, dest: &Path) -> anyhow::Result<()> {
        if pattern == ".." || pattern.ends_with("/..") || pattern == "." || pattern.ends_with("/.")
        {
            bail!(
                "files: the pattern {pattern:?} ends in a directory path; use the \
                 {{ source, destination }} form or a pattern ending in **/*"
            );
        }
        let path = self.root.join(pattern);
        if path.is_dir() {
            self.glob(&path.join("**/*"), self.root, dest)
        } else if path.is_file() {
            copy(&path, &dest.join(pattern))
        } else if pattern.contains(['*', '?', '[']) {
            self.glob(&path, self.root, dest)
        } else {
            bail!("files: {pattern:?} does not exist and is not a glob pattern")
        }
    }

    /// Copies the files `pattern` matches, at their path below `prefix`.
    fn glob(&self, pattern: &Path, prefix: &Path, dest: &Path) -> anyhow::Result<()> {
        let text = pattern
            .to_str()
            .with_context(|| format!("files: {} is not UTF-8", pattern.display()))?;
        for found in glob::glob(text).with_context(|| format!("files: invalid pattern {text:?}"))? {
            let found: PathBuf = found?;
            if !found.is_file() {
                continue;
            }
            let Ok(in_app) = found.strip_prefix(self.root) else {
                bail!("files: {text} reaches outside the application directory");
            };
            if self.exclude.iter().any(|p| p.matches_path(in_app)) {
                continue;
            }
            copy(&found, &dest.join(found.strip_prefix(prefix)?))?;
        }
        Ok(())
    }
}

fn copy(from: &Path, to: &Path) -> anyhow::Result<()> {
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::copy(from, to)
        .with_context(|| format!("files: copying {} to {}", from.display(), to.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for file in files {
            let path = dir.path().join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, file).unwrap();
        }
        dir
    }

    fn listed(dir: &Path) -> Vec<String> {
        let mut found: Vec<String> = glob::glob(&format!("{}/**/*", dir.display()))
            .unwrap()
            .filter_map(Result::ok)
            .filter(|p| p.is_file())
            .map(|p| p.strip_prefix(dir).unwrap().display().to_string())
            .collect();
        found.sort();
        found
    }

    #[test]
    fn patterns_mappings_and_exclusions_as_spin_places_them() {
        let app = tree(&[
            "static/a.txt",
            "static/sub/b.txt",
            "static/c.tmp",
            "data/d.json",
            "e.txt",
        ]);
        let dest = app.path().join("out");
        assemble(
            app.path(),
            &[
                Mount::Pattern("static/**/*".into()),
                Mount::Pattern("e.txt".into()),
                Mount::Mapping {
                    source: "data".into(),
                    destination: "/config".into(),
                },
            ],
            &["static/*.tmp".into()],
            &dest,
        )
        .unwrap();
        assert_eq!(
            listed(&dest),
            ["config/d.json", "e.txt", "static/a.txt", "static/sub/b.txt"]
        );
        assert_eq!(
            std::fs::read_to_string(dest.join("config/d.json")).unwrap(),
            "data/d.json"
        );
    }

    #[test]
    fn a_missing_file_or_a_directory_pattern_is_refused() {
        let app = tree(&["a.txt"]);
        let dest = app.path().join("out");
        let missing = assemble(app.path(), &[Mount::Pattern("nope.txt".into())], &[], &dest);
        assert!(format!("{:#}", missing.unwrap_err()).contains("does not exist"));
        let dots = assemble(app.path(), &[Mount::Pattern("sub/..".into())], &[], &dest);
        assert!(format!("{:#}", dots.unwrap_err()).contains("directory path"));
    }
}
