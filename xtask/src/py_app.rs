//! The Python test app (`components/testing/py-app`, a Spin app made with
//! componentize-py): built when componentize-py is installed (`pip install
//! componentize-py`), skipped with a line saying so otherwise; rebuilt only
//! when its sources or `wit/` changed (componentize-py takes ~20 s).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use crate::{run, step};

/// The app's directory, from the workspace root.
const SOURCE: &str = "components/testing/py-app";
/// The component, from the workspace root (the integration tests read it).
pub const OUTPUT: &str = "target/py-app/py_app.wasm";

/// Builds the app into [`OUTPUT`] unless componentize-py is missing (then
/// says it skipped) or the output is newer than every input.
pub fn build(root: &Path) -> anyhow::Result<()> {
    let Ok(componentize) = which::which("componentize-py") else {
        eprintln!(
            "\x1b[1m==> Python test app skipped\x1b[0m: componentize-py is not installed \
             (pip install componentize-py); the outside_apps tests say so too"
        );
        return Ok(());
    };
    let output = root.join(OUTPUT);
    let mut inputs = files(&root.join(SOURCE))?;
    inputs.extend(files(&root.join("wit"))?);
    if !stale(&output, &inputs)? {
        return Ok(());
    }
    step("building the Python test app (componentize-py)", || {
        std::fs::create_dir_all(output.parent().expect("OUTPUT is in a directory"))?;
        let mut c = Command::new(componentize);
        // Its own world, over comptoir's wit/ (the Spin and WASI packages).
        c.current_dir(root)
            .args(["-d", "wit", "-d", &format!("{SOURCE}/wit")])
            .args(["-w", "testing:py-app/py-app", "componentize"])
            .args(["-p", SOURCE, "app", "-o", OUTPUT]);
        run(c)
    })
}

/// Every file under `dir`, recursively, but Python's `__pycache__` (the
/// build writes it).
fn files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.ends_with("__pycache__") {
            continue;
        }
        if path.is_dir() {
            found.extend(files(&path)?);
        } else {
            found.push(path);
        }
    }
    Ok(found)
}

/// Whether `output` is missing or older than one of `inputs`.
fn stale(output: &Path, inputs: &[PathBuf]) -> anyhow::Result<bool> {
    let Ok(built) = std::fs::metadata(output).and_then(|m| m.modified()) else {
        return Ok(true);
    };
    let mut newest = SystemTime::UNIX_EPOCH;
    for input in inputs {
        newest = newest.max(std::fs::metadata(input)?.modified()?);
    }
    Ok(newest > built)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Built when missing or older than an input, not otherwise.
    #[test]
    fn rebuilds_only_what_changed() {
        let dir = std::env::temp_dir().join(format!("xtask-py-app-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (input, output) = (dir.join("app.py"), dir.join("app.wasm"));
        std::fs::write(&input, "").unwrap();
        assert!(stale(&output, std::slice::from_ref(&input)).unwrap());
        std::fs::write(&output, "").unwrap();
        let at = |path: &Path, secs| {
            let time = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(secs);
            std::fs::File::options()
                .write(true)
                .open(path)
                .unwrap()
                .set_modified(time)
                .unwrap();
        };
        at(&input, 1_000);
        at(&output, 2_000);
        assert!(!stale(&output, std::slice::from_ref(&input)).unwrap());
        at(&input, 3_000);
        assert!(stale(&output, &[input]).unwrap());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
