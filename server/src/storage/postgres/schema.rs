//! The schema: numbered migrations applied once, under a lock, and the advisory lock keys.

use ::postgres::types::Type;
use ::postgres::{Client, Config, NoTls};

use super::{Failure, backend, describe, pg_error};
use crate::storage::{Result, StorageError};

/// The first key of the lock held while migrating.
pub(super) const LOCK_MIGRATIONS: i32 = 0x4249_4d01;
/// The first key of the lock under which change-log numbers are taken (see `log.rs`).
pub(super) const LOCK_CHANGE_LOG: i32 = 0x4249_4d02;
/// The first key of the lock under which device numbers are taken.
pub(super) const LOCK_DEVICES: i32 = 0x4249_4d03;
/// The first key of the lock held by the one process doing background maintenance.
pub(super) const LOCK_MAINTENANCE: i32 = 0x4249_4d04;

/// One migration file, by name, with its SQL.
macro_rules! migration {
    ($file:literal) => {
        (
            $file,
            include_str!(concat!("../../../migrations/postgres/", $file)),
        )
    };
}

/// The schema, one step per file: step `n` (1-based) is `NNNN_*.sql` with `NNNN` = `n`, recorded
/// as version `n` in `schema_migrations`. Never edit a released step; append a new one.
pub(super) const MIGRATIONS: &[(&str, &str)] = &[
    migration!("0001_core.sql"),
    migration!("0002_index.sql"),
    migration!("0003_console.sql"),
    migration!("0004_blobs.sql"),
    migration!("0005_document_version.sql"),
    migration!("0006_receipts.sql"),
    migration!("0007_counters.sql"),
    migration!("0008_resident_accounts.sql"),
    migration!("0009_open311_keys.sql"),
    migration!("0010_index_applicant_name.sql"),
];

/// The newest schema version this code knows.
pub(super) fn supported_version() -> i64 {
    MIGRATIONS.len() as i64
}

/// Refuses a schema name that would need quoting (it goes into `search_path` and DDL).
pub(super) fn check_name(name: &str) -> Result<()> {
    let mut bytes = name.bytes();
    let first_ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b == b'_');
    let rest_ok = bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if first_ok && rest_ok && name.len() <= 63 {
        Ok(())
    } else {
        Err(StorageError::Invalid(format!(
            "schema name {name:?}: use 1 to 63 lower-case letters, digits and _, not starting \
             with a digit"
        )))
    }
}

/// The second key of the schema's advisory locks: FNV-1a of its name. Two schemas with the
/// same hash only wait for each other needlessly.
pub(super) fn lock_scope(schema: &str) -> i32 {
    let hash = schema.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    i32::from_ne_bytes(hash.to_ne_bytes())
}

/// Connects once, brings the schema up to date and disconnects; the schema's name and lock
/// scope. With `schema` given, the schema is created if missing (the connection's search path
/// already names it).
pub(super) fn migrate(config: &Config, schema: Option<&str>) -> Result<(String, i32)> {
    let mut client = config
        .connect(NoTls)
        .map_err(|e| backend(format!("cannot connect to PostgreSQL: {}", describe(&e))))?;
    let name = match schema {
        Some(name) => name.to_string(),
        None => current_schema(&mut client)?,
    };
    let scope = lock_scope(&name);
    lock_and_apply(&mut client, schema.map(|_| name.as_str()), scope)?;
    // Closing the connection releases the session lock.
    client.close().map_err(|e| pg_error(&e))?;
    Ok((name, scope))
}

fn current_schema(client: &mut Client) -> Result<String> {
    let row = client
        .query_typed_one("SELECT current_schema()", &[])
        .map_err(|e| pg_error(&e))?;
    row.try_get::<_, Option<String>>(0)
        .map_err(|e| pg_error(&e))?
        .ok_or_else(|| {
            backend("the search path names no existing schema to keep the hub's tables in")
        })
}

/// Under the migration lock (session-level, so that it spans the migrations' transactions):
/// creates the schema if asked to, checks the recorded versions and applies the missing ones,
/// each in its own transaction. Hubs starting together wait here for one another, and the
/// later ones find everything applied.
fn lock_and_apply(client: &mut Client, create: Option<&str>, scope: i32) -> Result<()> {
    let locked = client.query_typed(
        "SELECT pg_advisory_lock($1, $2)",
        &[(&LOCK_MIGRATIONS, Type::INT4), (&scope, Type::INT4)],
    );
    locked.map_err(|e| pg_error(&e))?;
    if let Some(name) = create {
        // The name was checked: nothing to escape.
        client
            .batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS \"{name}\""))
            .map_err(|e| pg_error(&e))?;
    }
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                version    bigint PRIMARY KEY,
                applied_at timestamptz NOT NULL DEFAULT now()
            )",
        )
        .map_err(|e| pg_error(&e))?;
    let applied = applied_versions(client)?;
    if let Some(&found) = applied.iter().max()
        && found > supported_version()
    {
        return Err(StorageError::TooNew {
            found,
            supported: supported_version(),
        });
    }
    for (step, (file, sql)) in MIGRATIONS.iter().enumerate() {
        let version = step as i64 + 1;
        if !applied.contains(&version) {
            apply(client, version, file, sql)?;
        }
    }
    Ok(())
}

fn applied_versions(client: &mut Client) -> Result<Vec<i64>> {
    client
        .query_typed("SELECT version FROM schema_migrations", &[])
        .map_err(|e| pg_error(&e))?
        .iter()
        .map(|r| r.try_get(0).map_err(|e| pg_error(&e)))
        .collect()
}

fn apply(client: &mut Client, version: i64, file: &str, sql: &str) -> Result<()> {
    apply_in_transaction(client, version, sql).map_err(|e| match StorageError::from(e) {
        StorageError::Backend(why) => backend(format!("schema migration {file}: {why}")),
        other => other,
    })?;
    tracing::info!(version, file, "PostgreSQL schema migrated");
    Ok(())
}

fn apply_in_transaction(client: &mut Client, version: i64, sql: &str) -> Result<(), Failure> {
    let mut tx = client.transaction()?;
    tx.batch_execute(sql)?;
    tx.execute_typed(
        "INSERT INTO schema_migrations (version) VALUES ($1)",
        &[(&version, Type::INT8)],
    )?;
    tx.commit()?;
    Ok(())
}
