//! Schema migrations: `db/<service>/migrations` applied to each service's
//! own database with `sqlx::migrate`, before anything is served.

use std::path::Path;

use anyhow::Context as _;

use crate::postgres::Database;

/// Applies the migrations of `service` (if it has any); returns how many
/// the folder holds.
pub async fn run(root: &Path, service: &str, database: &Database) -> anyhow::Result<usize> {
    let dir = root.join("db").join(service).join("migrations");
    if !dir.is_dir() {
        return Ok(0);
    }
    let migrator = sqlx::migrate::Migrator::new(dir.as_path())
        .await
        .with_context(|| format!("failed to read {}", dir.display()))?;
    migrator
        .run(database.pool())
        .await
        .with_context(|| format!("failed to migrate the {service} database"))?;
    Ok(migrator.iter().count())
}
