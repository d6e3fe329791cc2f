//! [`Storage::update_counters`](crate::storage::Storage::update_counters) on PostgreSQL.
//!
//! Each key is locked with a transaction advisory lock on a 64-bit hash of the schema and the
//! key (the one-`bigint` key space, apart from the schema's two-`int4` locks), taken in the
//! order of the hashes so that two calls never wait for each other in a cycle, and held until
//! commit: a call that waited reads what the one before it committed. A row that does not
//! exist yet is locked as well as one that does, with no placeholder row written.
//!
//! Expired rows of other keys are deleted after the commit, in a statement of its own that
//! skips rows another transaction holds: it waits for no one, so it can never close a cycle
//! of waits (inside the transaction it could, with another call deleting this call's keys).

use ::postgres::types::Type;
use ::postgres::{Client, Transaction};

use super::Failure;
use crate::storage::{COUNTER_PURGE_BATCH, CounterRow, CounterUpdate, StorageError};

/// The advisory lock of `key` in `schema`: FNV-1a (64 bits) of both. Two keys with one hash
/// only wait for each other needlessly.
fn lock_key(schema: &str, key: &str) -> i64 {
    let hash = schema
        .bytes()
        .chain([0])
        .chain(key.bytes())
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
    i64::from_ne_bytes(hash.to_ne_bytes())
}

/// Locks `keys`, reads their rows, hands those live at `now` to `update` and writes back what
/// changed, all in `tx`.
pub(super) fn update(
    tx: &mut Transaction<'_>,
    schema: &str,
    keys: &[&str],
    now: i64,
    update: &mut CounterUpdate<'_>,
) -> Result<(), Failure> {
    let mut locks: Vec<i64> = keys.iter().map(|k| lock_key(schema, k)).collect();
    locks.sort_unstable();
    locks.dedup();
    for lock in &locks {
        tx.execute_typed("SELECT pg_advisory_xact_lock($1)", &[(lock, Type::INT8)])?;
    }
    let names: Vec<&str> = keys.to_vec();
    let found = tx.query_typed(
        "SELECT key, state, expires_at FROM counters WHERE key = ANY($1)",
        &[(&names, Type::TEXT_ARRAY)],
    )?;
    let mut stored: Vec<Option<CounterRow>> = vec![None; keys.len()];
    for row in &found {
        let key: &str = row.try_get(0)?;
        if let Some(at) = keys.iter().position(|k| *k == key) {
            stored[at] = Some(CounterRow {
                state: row.try_get(1)?,
                expires_at: row.try_get(2)?,
            });
        }
    }
    let live: Vec<Option<CounterRow>> = stored
        .iter()
        .map(|r| r.clone().filter(|r| r.expires_at > now))
        .collect();
    let wanted = update(&live)?;
    if wanted.len() != keys.len() {
        return Err(Failure::Storage(StorageError::Invalid(format!(
            "{} counter rows returned for {} keys",
            wanted.len(),
            keys.len()
        ))));
    }
    for ((key, old), new) in keys.iter().zip(&stored).zip(wanted) {
        let new = new.filter(|r| r.expires_at > now);
        if new == *old {
            continue;
        }
        match new {
            Some(row) => tx.execute_typed(
                "INSERT INTO counters (key, state, expires_at) VALUES ($1, $2, $3)
                 ON CONFLICT (key) DO UPDATE
                 SET state = excluded.state, expires_at = excluded.expires_at",
                &[
                    (key, Type::TEXT),
                    (&row.state, Type::BYTEA),
                    (&row.expires_at, Type::INT8),
                ],
            )?,
            None => {
                tx.execute_typed("DELETE FROM counters WHERE key = $1", &[(key, Type::TEXT)])?
            }
        };
    }
    Ok(())
}

/// Deletes up to [`COUNTER_PURGE_BATCH`] rows expired at `now`, skipping any another
/// transaction holds (it is at work on them); returns how many. Outside any transaction (see the module docs).
pub(super) fn purge(client: &mut Client, now: i64) -> Result<u64, Failure> {
    Ok(client.execute_typed(
        "DELETE FROM counters WHERE key IN (
             SELECT key FROM counters WHERE expires_at <= $1
             ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED)",
        &[(&now, Type::INT8), (&COUNTER_PURGE_BATCH, Type::INT8)],
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::Storage;
    use crate::storage::postgres::testdb;

    fn put(s: &dyn Storage, key: &str, now: i64, expires_at: i64) {
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
        let Some(db) = testdb::test_db() else { return };
        let schema = db.new_schema();
        let s = db.open(&schema);
        let rows = || -> i64 {
            let mut c = db.client(&schema);
            let counted = c.query_one("SELECT count(*) FROM counters", &[]).unwrap();
            counted.get(0)
        };
        for i in 0..100 {
            put(&s, &format!("old:{i}"), 1_000, 2_000);
        }
        put(&s, "live", 1_000, 10_000);
        assert_eq!(rows(), 101);
        put(&s, "new:1", 3_000, 10_000);
        assert_eq!(
            rows(),
            102 - COUNTER_PURGE_BATCH,
            "one batch of the expired deleted"
        );
        put(&s, "new:2", 3_000, 10_000);
        assert_eq!(rows(), 3, "the rest in the next call; the live rows kept");
    }

    #[test]
    fn lock_keys_depend_on_the_schema_and_the_key() {
        assert_ne!(lock_key("a", "k"), lock_key("b", "k"));
        assert_ne!(lock_key("a", "k1"), lock_key("a", "k2"));
        assert_ne!(lock_key("ab", "c"), lock_key("a", "bc"));
    }
}
