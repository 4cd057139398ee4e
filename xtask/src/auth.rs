//! Access tokens for the workflows. `cargo xtask token` mints one for the
//! dev issuer `comptoir up` trusts (its key in `.comptoir/`); the
//! workflows that start their own servers ([`Auth::in_dir`]) make every
//! process they start (comptoir, `spin up`, containers) trust one dev
//! issuer through `SPIN_VARIABLE_AUTH_*`, and give k6, schemathesis and
//! their own requests its tokens.

use std::path::{Path, PathBuf};
use std::time::Duration;

use dev_issuer::{Issuer, KEY_FILE, SigningAlgorithm, test_signer};

/// How long a workflow's tokens live: longer than any workflow runs.
const WORKFLOW_TTL: Duration = Duration::from_secs(12 * 3600);

/// `cargo xtask token`: a token for the dev issuer of a local `comptoir up`.
#[derive(clap::Args)]
pub struct TokenArgs {
    /// With the `staff` role (every record; customers reach their own).
    #[arg(long)]
    staff: bool,
    /// The subject (`sub`): who the caller is [default: dev-staff with
    /// --staff, dev-customer without].
    #[arg(long)]
    sub: Option<String>,
    /// How long the token is valid.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    ttl: Duration,
    /// comptoir's state directory, where `comptoir up` keeps the dev
    /// issuer's key (created there if `comptoir up` has not run yet).
    #[arg(long, default_value = ".comptoir")]
    state_dir: PathBuf,
    /// Print the dev issuer's JWKS instead (what another server, e.g. the
    /// Compose stack, needs as SPIN_VARIABLE_AUTH_JWKS to trust it).
    #[arg(long)]
    jwks: bool,
}

/// Prints a token for `args` on stdout (alone, for `$(cargo xtask token)`).
pub fn token(root: &Path, args: &TokenArgs) -> anyhow::Result<()> {
    let dir = root.join(&args.state_dir);
    let issuer = Issuer::load_or_create(&dir.join(KEY_FILE))?;
    if args.jwks {
        println!("{}", issuer.jwks());
        return Ok(());
    }
    let default = if args.staff {
        "dev-staff"
    } else {
        "dev-customer"
    };
    let sub = args.sub.as_deref().unwrap_or(default);
    println!("{}", issuer.token(sub, args.staff, args.ttl));
    Ok(())
}

/// The dev issuer of one workflow run.
pub struct Auth {
    issuer: Issuer,
}

impl Auth {
    /// The issuer whose key is kept in `dir` (created there if need be).
    pub fn in_dir(dir: &Path) -> anyhow::Result<Self> {
        Ok(Self {
            issuer: Issuer::load_or_create(&dir.join(KEY_FILE))?,
        })
    }

    /// Its `iss` and JWKS (what `compose.yaml` takes as `AUTH_ISSUER` and
    /// `AUTH_JWKS`).
    pub fn issuer_and_jwks(&self) -> (String, String) {
        (dev_issuer::ISSUER.to_owned(), self.issuer.jwks())
    }

    /// The `SPIN_VARIABLE_AUTH_*` that make a server trust it, and the
    /// fixed test keys of each algorithm (`crates/dev-issuer/testdata`,
    /// which `cargo xtask bench auth` signs with): only for the workflows'
    /// throwaway servers on loopback, never a stack a user keeps.
    pub fn variables_with_test_keys(&self) -> Vec<(String, String)> {
        let test_keys: Vec<_> = [
            SigningAlgorithm::EdDSA,
            SigningAlgorithm::ES256,
            SigningAlgorithm::RS256,
        ]
        .into_iter()
        .map(test_signer)
        .collect();
        self.issuer
            .variables_trusting(&test_keys.iter().collect::<Vec<_>>())
    }

    /// A staff token (what the workflows send).
    pub fn staff(&self) -> String {
        self.issuer.token("xtask-staff", true, WORKFLOW_TTL)
    }
}
