//! [`Storage::update_counters`](crate::storage::Storage::update_counters) on SQLite: the rows
//! are read and written inside the writer's immediate transaction, which already excludes every
//! other writer (of this process and of any other on the file), so nothing more is locked.

use rusqlite::{OptionalExtension, Transaction, params};

use super::Db;
use crate::storage::{
    COUNTER_PURGE_BATCH, CounterRow, CounterUpdate, Result, StorageError, check_counter_keys,
};

/// Reads the rows of `keys`, hands those live at `now` to `update`, writes back what changed,
/// and deletes up to [`COUNTER_PURGE_BATCH`] expired rows of other keys; all in `tx`.
pub(super) fn update(
    tx: &Transaction<'_>,
    keys: &[&str],
    now: i64,
    update: &mut CounterUpdate<'_>,
) -> Result<()> {
    check_counter_keys(keys)?;
    let mut stored = Vec::with_capacity(keys.len());
    for key in keys {
        let row = tx
            .prepare_cached("SELECT state, expires_at FROM counters WHERE key = ?1")
            .db()?
            .query_row([key], |r| {
                Ok(CounterRow {
                    state: r.get(0)?,
                    expires_at: r.get(1)?,
                })
            })
            .optional()
            .db()?;
        stored.push(row);
    }
    let live: Vec<Option<CounterRow>> = stored
        .iter()
        .map(|r| r.clone().filter(|r| r.expires_at > now))
        .collect();
    let wanted = update(&live)?;
    if wanted.len() != keys.len() {
        return Err(StorageError::Invalid(format!(
            "{} counter rows returned for {} keys",
            wanted.len(),
            keys.len()
        )));
    }
    for ((key, old), new) in keys.iter().zip(&stored).zip(wanted) {
        let new = new.filter(|r| r.expires_at > now);
        if new == *old {
            continue;
        }
        match new {
            Some(row) => tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO counters (key, state, expires_at) VALUES (?1, ?2, ?3)",
                )
                .db()?
                .execute(params![key, row.state, row.expires_at])
                .db()?,
            None => tx
                .prepare_cached("DELETE FROM counters WHERE key = ?1")
                .db()?
                .execute([key])
                .db()?,
        };
    }
    tx.prepare_cached(
        "DELETE FROM counters WHERE key IN
            (SELECT key FROM counters WHERE expires_at <= ?1 ORDER BY expires_at LIMIT ?2)",
    )
    .db()?
    .execute(params![now, COUNTER_PURGE_BATCH])
    .db()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::Storage;
    use crate::storage::sqlite::SqliteStorage;

    fn rows(s: &SqliteStorage) -> i64 {
        let conn = rusqlite::Connection::open(s.path()).unwrap();
        conn.query_row("SELECT count(*) FROM counters", [], |r| r.get(0))
            .unwrap()
    }

    fn put(s: &SqliteStorage, key: &str, now: i64, expires_at: i64) {
        s.update_counters(&[key], now, &mut |_| {
            Ok(vec![Some(CounterRow {
                state: vec![1],
                expires_at,
            })])
        })
        .unwrap();
    }

    /// Rows of keys no one touches again are deleted once expired, a batch per call: the
    /// table holds the live rows and a bounded number of dead ones.
    #[test]
    fn expired_rows_of_other_keys_are_purged_in_batches() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStorage::open(dir.path()).unwrap();
        for i in 0..100 {
            put(&s, &format!("old:{i}"), 1_000, 2_000);
        }
        put(&s, "live", 1_000, 10_000);
        assert_eq!(rows(&s), 101);
        put(&s, "new:1", 3_000, 10_000);
        assert_eq!(
            rows(&s),
            102 - COUNTER_PURGE_BATCH,
            "one batch of the expired deleted"
        );
        put(&s, "new:2", 3_000, 10_000);
        assert_eq!(rows(&s), 3, "the rest in the next call; the live rows kept");
    }
}
