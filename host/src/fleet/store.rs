//! The control database: every statement a gateway of a fleet runs on it.
//!
//! PostgreSQL does the coordination: a row lock (`FOR UPDATE`) makes one
//! change or one canary decision at a time, a unique index allows one
//! running canary per component, and `NOTIFY` (sent at commit) wakes every
//! gateway to converge.

use std::collections::BTreeMap;

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{Postgres, Row as _, Transaction};

use crate::canary::stats::Counts;

/// The channel gateways `LISTEN` on; the payload names the component.
pub const CHANNEL: &str = "comptoir_fleet";

/// The control schema, embedded in the binary (`host/migrations`).
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Why the control database refused a change (nothing changed).
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("a canary of {0} is running: promote or abort it first")]
    CanaryRunning(String),
    #[error("{0} has no previous version to roll back to")]
    NoPrevious(String),
    #[error("the control database: {0}")]
    Database(#[from] sqlx::Error),
}

/// A pool on the control database, as one named gateway.
#[derive(Clone)]
pub struct Store {
    pool: PgPool,
    pub gateway: String,
}

/// The desired version of a component.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Desired {
    pub component: String,
    pub digest: String,
    pub previous: Option<String>,
    pub generation: i64,
    /// Seconds since it was set (by the database's clock).
    pub age_s: f64,
}

/// A fleet canary, running or decided.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct CanaryRow {
    pub id: i64,
    pub component: String,
    pub digest: String,
    pub stable: String,
    pub share: i16,
    pub state: String,
    pub reason: Option<String>,
    pub manual: bool,
    /// Seconds since it started (by the database's clock).
    pub elapsed_s: f64,
}

/// A gateway as it last reported itself.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct GatewayRow {
    pub name: String,
    pub admin_url: Option<String>,
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub running: sqlx::types::Json<BTreeMap<String, String>>,
    pub refused: sqlx::types::Json<BTreeMap<String, Refusal>>,
    pub converged_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Seconds since it last reported (by the database's clock).
    pub silent_s: f64,
}

/// A desired version a gateway would not run, and why.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Refusal {
    pub digest: String,
    pub reason: String,
}

/// Where an artifact is: its bytes here, or a registry reference.
#[derive(Debug, Clone)]
pub struct Stored {
    pub content: Option<Vec<u8>>,
    pub reference: Option<String>,
}

impl Store {
    /// A small pool on `url` (the listener has a connection of its own).
    pub async fn connect(url: &str, gateway: String) -> anyhow::Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(std::time::Duration::from_secs(5))
            .connect(url)
            .await
            .map_err(|e| anyhow::anyhow!("cannot reach the control database: {e}"))?;
        Ok(Self { pool, gateway })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Applies the control schema (`comptoir migrate`, and at `up`).
    pub async fn migrate(&self) -> anyhow::Result<usize> {
        MIGRATOR.run(&self.pool).await?;
        Ok(MIGRATOR.iter().count())
    }

    pub async fn has_artifact(&self, digest: &str) -> Result<bool, sqlx::Error> {
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM artifacts WHERE digest = $1)")
            .bind(digest)
            .fetch_one(&self.pool)
            .await
    }

    /// Records an artifact (its bytes, or where a registry holds them);
    /// one already recorded is kept as it is.
    pub async fn put_artifact(
        &self,
        digest: &str,
        size: usize,
        content: Option<&[u8]>,
        reference: Option<&str>,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO artifacts (digest, size, content, reference) VALUES ($1, $2, $3, $4)
             ON CONFLICT (digest) DO NOTHING",
        )
        .bind(digest)
        .bind(i64::try_from(size).unwrap_or(i64::MAX))
        .bind(content)
        .bind(reference)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn artifact(&self, digest: &str) -> Result<Option<Stored>, sqlx::Error> {
        let row = sqlx::query("SELECT content, reference FROM artifacts WHERE digest = $1")
            .bind(digest)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|row| Stored {
            content: row.get("content"),
            reference: row.get("reference"),
        }))
    }

    /// Every component's desired version.
    pub async fn desired(&self) -> Result<Vec<Desired>, sqlx::Error> {
        sqlx::query_as(
            "SELECT component, digest, previous, generation,
                    extract(epoch FROM now() - updated_at)::float8 AS age_s
             FROM desired ORDER BY component",
        )
        .fetch_all(&self.pool)
        .await
    }

    /// Makes `digest` the desired version of `component` (`running`: the
    /// version it replaces when the fleet had none desired yet); refused
    /// while a canary of it runs. Returns the new generation.
    pub async fn set_desired(
        &self,
        component: &str,
        digest: &str,
        running: &str,
    ) -> Result<i64, Refused> {
        let mut tx = self.pool.begin().await?;
        lock_component(&mut tx, component).await?;
        if running_canary(&mut tx, component).await?.is_some() {
            return Err(Refused::CanaryRunning(component.to_owned()));
        }
        let generation = upsert_desired(&mut tx, component, digest, running, &self.gateway).await?;
        notify(&mut tx, component).await?;
        tx.commit().await?;
        Ok(generation)
    }

    /// Swaps `component`'s desired and previous versions.
    pub async fn roll_back(&self, component: &str) -> Result<Desired, Refused> {
        let mut tx = self.pool.begin().await?;
        lock_component(&mut tx, component).await?;
        if running_canary(&mut tx, component).await?.is_some() {
            return Err(Refused::CanaryRunning(component.to_owned()));
        }
        let desired: Option<Desired> = sqlx::query_as(
            "UPDATE desired SET digest = previous, previous = digest,
                    generation = generation + 1, updated_at = now(), updated_by = $2
             WHERE component = $1 AND previous IS NOT NULL
             RETURNING component, digest, previous, generation, 0::float8 AS age_s",
        )
        .bind(component)
        .bind(&self.gateway)
        .fetch_optional(&mut *tx)
        .await?;
        let desired = desired.ok_or_else(|| Refused::NoPrevious(component.to_owned()))?;
        notify(&mut tx, component).await?;
        tx.commit().await?;
        Ok(desired)
    }

    /// Starts a fleet canary of `digest` beside `stable`.
    pub async fn start_canary(
        &self,
        component: &str,
        digest: &str,
        stable: &str,
        share: u8,
    ) -> Result<i64, Refused> {
        let mut tx = self.pool.begin().await?;
        lock_component(&mut tx, component).await?;
        if running_canary(&mut tx, component).await?.is_some() {
            return Err(Refused::CanaryRunning(component.to_owned()));
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO canaries (component, digest, stable, share) VALUES ($1, $2, $3, $4)
             RETURNING id",
        )
        .bind(component)
        .bind(digest)
        .bind(stable)
        .bind(i16::from(share))
        .fetch_one(&mut *tx)
        .await?;
        notify(&mut tx, component).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Running canaries, and each component's last decided one.
    pub async fn canaries(&self) -> Result<Vec<CanaryRow>, sqlx::Error> {
        sqlx::query_as(
            "SELECT DISTINCT ON (component) id, component, digest, stable, share, state,
                    reason, manual, extract(epoch FROM now() - started_at)::float8 AS elapsed_s
             FROM canaries ORDER BY component, id DESC",
        )
        .fetch_all(&self.pool)
        .await
    }

    /// Publishes this gateway's counts of canary `id`.
    pub async fn publish_counts(
        &self,
        id: i64,
        stable: &Counts,
        canary: &Counts,
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        for (side, counts) in [("stable", stable), ("canary", canary)] {
            sqlx::query(
                "INSERT INTO canary_counts (canary, gateway, side, requests, server_errors,
                     client_errors, traps, deadline_kills, latency)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                 ON CONFLICT (canary, gateway, side) DO UPDATE SET
                     requests = excluded.requests, server_errors = excluded.server_errors,
                     client_errors = excluded.client_errors, traps = excluded.traps,
                     deadline_kills = excluded.deadline_kills, latency = excluded.latency,
                     updated_at = now()",
            )
            .bind(id)
            .bind(&self.gateway)
            .bind(side)
            .bind(signed(counts.requests))
            .bind(signed(counts.server_errors))
            .bind(signed(counts.client_errors))
            .bind(signed(counts.traps))
            .bind(signed(counts.deadline_kills))
            .bind(
                counts
                    .latency
                    .iter()
                    .map(|n| signed(*n))
                    .collect::<Vec<_>>(),
            )
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await
    }

    /// Every gateway's counts of canary `id`, summed: (stable, canary).
    pub async fn summed_counts(&self, id: i64) -> Result<(Counts, Counts), sqlx::Error> {
        sum_counts(&self.pool, id).await
    }

    /// Decides canary `id` if it is still running and nobody else is
    /// deciding it: `decide` sees the summed counts and the seconds since
    /// it started, and returns the verdict (state, reason) or `None` to
    /// keep watching. A promotion makes it the desired version.
    pub async fn decide_canary(
        &self,
        id: i64,
        manual: bool,
        decide: impl FnOnce(&Counts, &Counts, f64) -> Option<(&'static str, String)>,
    ) -> Result<Option<CanaryRow>, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let row: Option<CanaryRow> = sqlx::query_as(
            "SELECT id, component, digest, stable, share, state, reason, manual,
                    extract(epoch FROM now() - started_at)::float8 AS elapsed_s
             FROM canaries WHERE id = $1 AND state = 'running' FOR UPDATE SKIP LOCKED",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(mut row) = row else {
            return Ok(None);
        };
        let (stable, canary) = sum_counts(&mut *tx, id).await?;
        let Some((state, reason)) = decide(&stable, &canary, row.elapsed_s) else {
            return Ok(None);
        };
        sqlx::query(
            "UPDATE canaries SET state = $2, reason = $3, manual = $4, decided_at = now(),
                    decided_by = $5
             WHERE id = $1",
        )
        .bind(id)
        .bind(state)
        .bind(&reason)
        .bind(manual)
        .bind(&self.gateway)
        .execute(&mut *tx)
        .await?;
        if state == "promoted" {
            lock_component(&mut tx, &row.component).await?;
            upsert_desired(
                &mut tx,
                &row.component,
                &row.digest,
                &row.stable,
                &self.gateway,
            )
            .await?;
        }
        notify(&mut tx, &row.component).await?;
        tx.commit().await?;
        row.state = state.to_owned();
        row.reason = Some(reason);
        row.manual = manual;
        Ok(Some(row))
    }

    /// The running canary of `component`, if any.
    pub async fn running_canary(&self, component: &str) -> Result<Option<i64>, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let id = running_canary(&mut tx, component).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Records whether this gateway prepared `digest` of `component` (and
    /// asks the others to, by `NOTIFY`).
    pub async fn stage(
        &self,
        component: &str,
        digest: &str,
        refused: Option<&str>,
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO staging (component, digest, gateway, ok, reason) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (component, digest, gateway) DO UPDATE SET
                 ok = excluded.ok, reason = excluded.reason, at = now()",
        )
        .bind(component)
        .bind(digest)
        .bind(&self.gateway)
        .bind(refused.is_none())
        .bind(refused)
        .execute(&mut *tx)
        .await?;
        notify(&mut tx, component).await?;
        tx.commit().await
    }

    /// Versions other gateways prepared in the last minute that this one
    /// has not answered for yet: (component, digest).
    pub async fn staging_requests(&self) -> Result<Vec<(String, String)>, sqlx::Error> {
        sqlx::query_as(
            "SELECT DISTINCT s.component, s.digest FROM staging s
             WHERE s.at > now() - interval '60 seconds'
               AND NOT EXISTS (SELECT 1 FROM staging m WHERE m.component = s.component
                               AND m.digest = s.digest AND m.gateway = $1)",
        )
        .bind(&self.gateway)
        .fetch_all(&self.pool)
        .await
    }

    /// Every gateway's answer for `digest` of `component`: gateway → the
    /// reason it refused, or `None` when it prepared it.
    pub async fn staged(
        &self,
        component: &str,
        digest: &str,
    ) -> Result<BTreeMap<String, Option<String>>, sqlx::Error> {
        let rows: Vec<(String, Option<String>)> = sqlx::query_as(
            "SELECT gateway, CASE WHEN ok THEN NULL ELSE coalesce(reason, 'refused') END
             FROM staging WHERE component = $1 AND digest = $2",
        )
        .bind(component)
        .bind(digest)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().collect())
    }

    /// Says this gateway is alive, what it runs and refused, and whether
    /// it runs every desired version.
    pub async fn report(
        &self,
        admin_url: &str,
        started_at: chrono::DateTime<chrono::Utc>,
        running: &BTreeMap<String, String>,
        refused: &BTreeMap<String, Refusal>,
        converged: bool,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO gateways (name, admin_url, started_at, seen_at, running, refused,
                                   converged_at)
             VALUES ($1, $2, $3, now(), $4, $5, CASE WHEN $6 THEN now() END)
             ON CONFLICT (name) DO UPDATE SET
                 admin_url = excluded.admin_url, started_at = excluded.started_at,
                 seen_at = now(), running = excluded.running, refused = excluded.refused,
                 converged_at = CASE
                     WHEN NOT $6 THEN NULL
                     WHEN gateways.converged_at IS NOT NULL
                          AND gateways.running = excluded.running THEN gateways.converged_at
                     ELSE now() END",
        )
        .bind(&self.gateway)
        .bind(admin_url)
        .bind(started_at)
        .bind(sqlx::types::Json(running))
        .bind(sqlx::types::Json(refused))
        .bind(converged)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Says this gateway is alive (once it has reported itself).
    pub async fn heartbeat(&self) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE gateways SET seen_at = now() WHERE name = $1")
            .bind(&self.gateway)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Removes this gateway from the fleet's list (it is stopping).
    pub async fn leave(&self) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM gateways WHERE name = $1")
            .bind(&self.gateway)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Every gateway that reported in the last `within_s` seconds.
    pub async fn gateways(&self, within_s: f64) -> Result<Vec<GatewayRow>, sqlx::Error> {
        sqlx::query_as(
            "SELECT name, admin_url, started_at, running, refused, converged_at,
                    extract(epoch FROM now() - seen_at)::float8 AS silent_s
             FROM gateways WHERE seen_at > now() - make_interval(secs => $1)
             ORDER BY name",
        )
        .bind(within_s)
        .fetch_all(&self.pool)
        .await
    }
}

/// Serialises changes to one component (its desired row may not exist yet).
async fn lock_component(tx: &mut Transaction<'_, Postgres>, component: &str) -> sqlx::Result<()> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('comptoir_fleet'), hashtext($1))")
        .bind(component)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

async fn running_canary(
    tx: &mut Transaction<'_, Postgres>,
    component: &str,
) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar("SELECT id FROM canaries WHERE component = $1 AND state = 'running'")
        .bind(component)
        .fetch_optional(&mut **tx)
        .await
}

/// Sets the desired version; the one it replaces (or `running`, the first
/// time) becomes the previous one. Returns the new generation.
async fn upsert_desired(
    tx: &mut Transaction<'_, Postgres>,
    component: &str,
    digest: &str,
    running: &str,
    by: &str,
) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "INSERT INTO desired (component, digest, previous, generation, updated_by)
         VALUES ($1, $2, $3, 1, $4)
         ON CONFLICT (component) DO UPDATE SET
             previous = CASE WHEN desired.digest = excluded.digest THEN desired.previous
                             ELSE desired.digest END,
             digest = excluded.digest, generation = desired.generation + 1,
             updated_at = now(), updated_by = excluded.updated_by
         RETURNING generation",
    )
    .bind(component)
    .bind(digest)
    .bind((running != digest).then_some(running))
    .bind(by)
    .fetch_one(&mut **tx)
    .await
}

async fn notify(tx: &mut Transaction<'_, Postgres>, component: &str) -> sqlx::Result<()> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(CHANNEL)
        .bind(component)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

async fn sum_counts<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    id: i64,
) -> sqlx::Result<(Counts, Counts)> {
    let rows = sqlx::query(
        "SELECT side, requests, server_errors, client_errors, traps, deadline_kills, latency
         FROM canary_counts WHERE canary = $1",
    )
    .bind(id)
    .fetch_all(executor)
    .await?;
    let (mut stable, mut canary) = (Counts::default(), Counts::default());
    for row in rows {
        let counts = Counts {
            requests: unsigned(row.get("requests")),
            server_errors: unsigned(row.get("server_errors")),
            client_errors: unsigned(row.get("client_errors")),
            traps: unsigned(row.get("traps")),
            deadline_kills: unsigned(row.get("deadline_kills")),
            latency: row
                .get::<Vec<i64>, _>("latency")
                .into_iter()
                .map(unsigned)
                .collect(),
        };
        match row.get::<String, _>("side").as_str() {
            "stable" => stable.add(&counts),
            _ => canary.add(&counts),
        }
    }
    Ok((stable, canary))
}

fn signed(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn unsigned(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}
