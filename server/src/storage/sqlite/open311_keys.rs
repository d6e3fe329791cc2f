//! Open311 API keys on SQLite (migration 12; see the trait's documentation): writes inside the
//! writer's immediate transaction, reads on a reader connection.

use rusqlite::types::{ToSql, Type};
use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};

use super::{Db, backend, bad_column, to_u64, unique_violation};
use crate::storage::{Open311Key, Result, StorageError};

const COLUMNS: &str = "id, township, name, created_at, revoked_at";

fn key_at(row: &Row<'_>) -> rusqlite::Result<Open311Key> {
    let id: i64 = row.get(0)?;
    Ok(Open311Key {
        id: u64::try_from(id)
            .map_err(|_| bad_column(0, Type::Integer, format!("negative key number {id}")))?,
        township: row.get(1)?,
        name: row.get(2)?,
        created_at: row.get(3)?,
        revoked_at: row.get(4)?,
    })
}

pub(super) fn add(
    tx: &Transaction<'_>,
    key_hash: &str,
    township: &str,
    name: &str,
    created_at: i64,
) -> Result<Open311Key> {
    let id: i64 = tx
        .prepare_cached(
            "INSERT INTO open311_keys (key_hash, township, name, created_at)
             VALUES (?1, ?2, ?3, ?4) RETURNING id",
        )
        .db()?
        .query_row(params![key_hash, township, name, created_at], |r| r.get(0))
        .map_err(|e| match unique_violation(&e) {
            Some(_) => StorageError::Duplicate("Open311 key".into()),
            None => backend(e),
        })?;
    Ok(Open311Key {
        id: to_u64(id)?,
        township: township.to_string(),
        name: name.to_string(),
        created_at,
        revoked_at: None,
    })
}

/// The key whose `column` (`id` or `key_hash`, never anything typed) equals `value`.
pub(super) fn by(conn: &Connection, column: &str, value: &dyn ToSql) -> Result<Option<Open311Key>> {
    conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM open311_keys WHERE {column} = ?1"
    ))
    .db()?
    .query_row([value], key_at)
    .optional()
    .db()
}

pub(super) fn all(conn: &Connection) -> Result<Vec<Open311Key>> {
    conn.prepare_cached(&format!("SELECT {COLUMNS} FROM open311_keys ORDER BY id"))
        .db()?
        .query_map([], key_at)
        .db()?
        .collect::<rusqlite::Result<_>>()
        .db()
}

pub(super) fn revoke(tx: &Transaction<'_>, id: i64, at: i64) -> Result<bool> {
    let changed = tx
        .prepare_cached(
            "UPDATE open311_keys SET revoked_at = ?1 WHERE id = ?2 AND revoked_at IS NULL",
        )
        .db()?
        .execute(params![at, id])
        .db()?;
    if changed == 1 {
        return Ok(true);
    }
    let exists = tx
        .prepare_cached("SELECT 1 FROM open311_keys WHERE id = ?1")
        .db()?
        .query_row([id], |_| Ok(()))
        .optional()
        .db()?
        .is_some();
    if exists {
        Ok(false)
    } else {
        Err(StorageError::NotFound(format!("Open311 key {id}")))
    }
}
