//! Open311 API keys (see `0009_open311_keys.sql` and the trait's documentation).

use ::postgres::types::Type;
use ::postgres::{GenericClient, Row, Transaction};

use super::{Failure, to_u64, unique_violation};
use crate::storage::{Open311Key, StorageError};

const COLUMNS: &str = "id, township, name, created_at, revoked_at";

fn key_of(row: &Row) -> Result<Open311Key, Failure> {
    Ok(Open311Key {
        id: to_u64(row.try_get(0)?)?,
        township: row.try_get(1)?,
        name: row.try_get(2)?,
        created_at: row.try_get(3)?,
        revoked_at: row.try_get(4)?,
    })
}

pub(super) fn add(
    tx: &mut Transaction<'_>,
    key_hash: &str,
    township: &str,
    name: &str,
    created_at: i64,
) -> Result<Open311Key, Failure> {
    let row = tx
        .query_typed_one(
            &format!(
                "INSERT INTO open311_keys (key_hash, township, name, created_at)
                 VALUES ($1, $2, $3, $4) RETURNING {COLUMNS}"
            ),
            &[
                (&key_hash, Type::TEXT),
                (&township, Type::TEXT),
                (&name, Type::TEXT),
                (&created_at, Type::INT8),
            ],
        )
        .map_err(|e| match unique_violation(&e) {
            Some(_) => StorageError::Duplicate("Open311 key".into()).into(),
            None => Failure::from(e),
        })?;
    key_of(&row)
}

pub(super) fn by_hash(
    c: &mut impl GenericClient,
    key_hash: &str,
) -> Result<Option<Open311Key>, Failure> {
    c.query_typed_opt(
        &format!("SELECT {COLUMNS} FROM open311_keys WHERE key_hash = $1"),
        &[(&key_hash, Type::TEXT)],
    )?
    .as_ref()
    .map(key_of)
    .transpose()
}

pub(super) fn by_id(c: &mut impl GenericClient, id: i64) -> Result<Option<Open311Key>, Failure> {
    c.query_typed_opt(
        &format!("SELECT {COLUMNS} FROM open311_keys WHERE id = $1"),
        &[(&id, Type::INT8)],
    )?
    .as_ref()
    .map(key_of)
    .transpose()
}

pub(super) fn all(c: &mut ::postgres::Client) -> Result<Vec<Open311Key>, Failure> {
    c.query_typed(
        &format!("SELECT {COLUMNS} FROM open311_keys ORDER BY id"),
        &[],
    )?
    .iter()
    .map(key_of)
    .collect()
}

pub(super) fn revoke(tx: &mut Transaction<'_>, id: i64, at: i64) -> Result<bool, Failure> {
    // Locks the row: of two revocations at once, the first one's time stays.
    let row = tx.query_typed_opt(
        "SELECT revoked_at FROM open311_keys WHERE id = $1 FOR UPDATE",
        &[(&id, Type::INT8)],
    )?;
    let Some(row) = row else {
        return Err(StorageError::NotFound(format!("Open311 key {id}")).into());
    };
    if row.try_get::<_, Option<i64>>(0)?.is_some() {
        return Ok(false);
    }
    tx.execute_typed(
        "UPDATE open311_keys SET revoked_at = $1 WHERE id = $2",
        &[(&at, Type::INT8), (&id, Type::INT8)],
    )?;
    Ok(true)
}
