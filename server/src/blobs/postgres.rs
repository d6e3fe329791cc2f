//! The blob store in PostgreSQL, in the schema of a [`PgStorage`] and over its pool, so that
//! every hub sharing the database serves every attachment and an upload may send each chunk to
//! a different hub (tables in `migrations/postgres/0004_blobs.sql`).
//!
//! - An upload takes a number when its first chunk arrives. Its bytes are rows of
//!   `blob_chunks(upload, start, bytes)`, at most [`CHUNK_BYTES`] each, keyed by the position of
//!   their first byte; `blob_partials(sha256, upload, received, touched_at)` says how far it
//!   got and when a chunk last arrived.
//! - [`BlobStore::append`] is one transaction that locks the partial's row (`FOR UPDATE`, or
//!   the insert of a new one) before comparing the offset: of two hubs appending at the same
//!   offset, one appends and the other, waiting on the row, then finds the new length and is
//!   refused with [`BlobError::OffsetMismatch`]. It answers once committed.
//! - [`BlobStore::finish`] hashes the partial row by row under the same lock, then hands its
//!   number over to `blobs(sha256, upload, len)`: no byte is copied, and a second upload of a
//!   stored blob is dropped, so each blob is kept once.
//! - A stored blob is read through a reader that fetches the row holding its position when it
//!   needs it, on a pooled connection taken for that query only: a reader holds one row at most
//!   and no connection between reads, however slowly its download goes.
//! - Idleness is measured with the database's clock (`now()`), the same for every hub.
//! - Database failures are [`BlobError::Io`] errors (kind `Other`) with the server's message
//!   and SQLSTATE only, never its detail; bad stored data is an `InvalidData` error.

use std::fmt;
use std::io::{self, Read, Seek, SeekFrom};
use std::sync::Arc;
use std::time::Duration;

use ::postgres::types::Type;
use ::postgres::{Client, NoTls, Transaction};
use bianmin_domain::attachment::validate_sha256;
use r2d2_postgres::PostgresConnectionManager;
use r2d2_postgres::r2d2::{Pool, PooledConnection};
use sha2::{Digest, Sha256};

use super::{BlobError, BlobStore, OpenBlob};
use crate::storage::postgres::{PgStorage, describe, retryable};

/// The most bytes one row of `blob_chunks` holds (an append longer than this is split), and so
/// the most a reader holds at once.
pub const CHUNK_BYTES: usize = 256 * 1024;
/// How often a transaction is tried when PostgreSQL aborts it to break a deadlock.
const WRITE_ATTEMPTS: u32 = 3;
/// Idle times beyond this are taken as this (a longer one could not be subtracted from `now()`).
const MAX_IDLE: Duration = Duration::from_secs(1000 * 365 * 24 * 3600);

type Manager = PostgresConnectionManager<NoTls>;

/// The pool, shared by the store and its open readers.
struct Connections(Option<Pool<Manager>>);

impl Drop for Connections {
    /// As [`PgStorage`]'s: a `postgres` client closed on a thread that drives async tasks
    /// panics, and the last reader of a download may well be dropped there (the download
    /// ended); inside a runtime, the last handle on the pool is dropped on a thread of its own.
    fn drop(&mut self) {
        let Some(pool) = self.0.take() else {
            return;
        };
        if tokio::runtime::Handle::try_current().is_ok() {
            let closing = std::thread::Builder::new().name("pg-blobs-close".into());
            if let Err(e) = closing.spawn(move || drop(pool)) {
                tracing::warn!("cannot close the PostgreSQL connections cleanly: {e}");
            }
        }
    }
}

impl Connections {
    fn get(&self) -> io::Result<PooledConnection<Manager>> {
        self.0
            .as_ref()
            .ok_or_else(|| io::Error::other("the blob store is closing"))?
            .get()
            .map_err(|e| io::Error::other(format!("no PostgreSQL connection: {e}")))
    }
}

/// Attachment bytes in PostgreSQL (see the module docs).
pub struct PgBlobStore {
    pool: Arc<Connections>,
}

impl fmt::Debug for PgBlobStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgBlobStore")
            .field("pool_size", &self.pool.0.as_ref().map(Pool::max_size))
            .finish_non_exhaustive()
    }
}

/// What work in a transaction fails with: a blob error already decided, or the driver's error,
/// kept whole so that a deadlock can be retried.
#[derive(Debug)]
enum Failure {
    Blob(BlobError),
    Pg(::postgres::Error),
}

impl From<::postgres::Error> for Failure {
    fn from(e: ::postgres::Error) -> Self {
        Failure::Pg(e)
    }
}

impl From<BlobError> for Failure {
    fn from(e: BlobError) -> Self {
        Failure::Blob(e)
    }
}

impl From<Failure> for BlobError {
    fn from(f: Failure) -> Self {
        match f {
            Failure::Blob(e) => e,
            Failure::Pg(e) => BlobError::Io(pg_error(&e)),
        }
    }
}

/// A driver error as an I/O error: for a server error, its message and SQLSTATE only, never its
/// detail (which can quote a row); for others, the error and its causes.
fn pg_error(e: &::postgres::Error) -> io::Error {
    io::Error::other(format!("PostgreSQL: {}", describe(e)))
}

/// Stored data this code did not write as it is.
fn corrupt(what: impl fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("blob store: {what}"))
}

fn stored_u64(n: i64) -> Result<u64, BlobError> {
    u64::try_from(n).map_err(|_| BlobError::Io(corrupt(format!("negative number {n} stored"))))
}

fn to_i64(n: u64) -> Result<i64, BlobError> {
    i64::try_from(n).map_err(|_| BlobError::Io(corrupt(format!("position {n} is too large"))))
}

fn checked(sha256: &str) -> Result<&str, BlobError> {
    validate_sha256(sha256).map_err(|_| BlobError::BadAddress)?;
    Ok(sha256)
}

/// The partial's number and length, its row locked until the transaction ends; `None` if there
/// is none.
fn lock_partial(tx: &mut Transaction<'_>, sha256: &str) -> Result<Option<(i64, u64)>, Failure> {
    let row = tx.query_typed_opt(
        "SELECT upload, received FROM blob_partials WHERE sha256 = $1 FOR UPDATE",
        &[(&sha256, Type::TEXT)],
    )?;
    match row {
        Some(row) => Ok(Some((row.try_get(0)?, stored_u64(row.try_get(1)?)?))),
        None => Ok(None),
    }
}

/// The partial's number and length, locked, made empty if there was none. Of two hubs starting
/// the same upload at once, the second waits for the first's insert, then locks its row.
fn lock_or_start_partial(tx: &mut Transaction<'_>, sha256: &str) -> Result<(i64, u64), Failure> {
    // The partial can go (finished, discarded, swept) between the two statements: then look
    // again. Each round ends unless another hub starts and removes an upload meanwhile.
    for _ in 0..WRITE_ATTEMPTS {
        if let Some(found) = lock_partial(tx, sha256)? {
            return Ok(found);
        }
        let inserted = tx.query_typed_opt(
            "INSERT INTO blob_partials (sha256, received, touched_at) VALUES ($1, 0, now())
             ON CONFLICT (sha256) DO NOTHING RETURNING upload",
            &[(&sha256, Type::TEXT)],
        )?;
        if let Some(row) = inserted {
            return Ok((row.try_get(0)?, 0));
        }
    }
    Err(BlobError::Io(io::Error::other(
        "the partial upload kept changing under this chunk: send it again",
    ))
    .into())
}

/// Removes the partial and its bytes, if any (one statement: atomic on its own).
fn delete_partial(tx: &mut Transaction<'_>, sha256: &str) -> Result<(), Failure> {
    tx.execute_typed(
        "WITH gone AS (DELETE FROM blob_partials WHERE sha256 = $1 RETURNING upload)
         DELETE FROM blob_chunks WHERE upload IN (SELECT upload FROM gone)",
        &[(&sha256, Type::TEXT)],
    )?;
    Ok(())
}

/// Whether the upload's `received` bytes hash to `sha256`, read one row at a time.
fn hashes_to(
    tx: &mut Transaction<'_>,
    upload: i64,
    received: u64,
    sha256: &str,
) -> Result<bool, Failure> {
    let mut hasher = Sha256::new();
    let mut next = 0u64;
    while next < received {
        let start = to_i64(next)?;
        let row = tx.query_typed_opt(
            "SELECT bytes FROM blob_chunks WHERE upload = $1 AND start = $2",
            &[(&upload, Type::INT8), (&start, Type::INT8)],
        )?;
        let bytes: Vec<u8> = match row {
            Some(row) => row.try_get(0)?,
            None => {
                return Err(BlobError::Io(corrupt(format!(
                    "the partial upload lacks its bytes from {next} (of {received})"
                )))
                .into());
            }
        };
        let end = next.saturating_add(bytes.len() as u64);
        if bytes.is_empty() || end > received {
            return Err(BlobError::Io(corrupt(format!(
                "the partial upload's row at {next} does not fit its length {received}"
            )))
            .into());
        }
        hasher.update(&bytes);
        next = end;
    }
    Ok(hex::encode(hasher.finalize()) == sha256)
}

impl PgBlobStore {
    /// A store in `storage`'s schema (its tables come with the storage's migrations), over its
    /// pool of connections. It may outlive `storage`: it holds the pool as well.
    pub fn new(storage: &PgStorage) -> PgBlobStore {
        PgBlobStore {
            pool: Arc::new(Connections(storage.pool())),
        }
    }

    /// Runs `f` on a pooled connection, outside any explicit transaction.
    fn read<T>(&self, f: impl FnOnce(&mut Client) -> Result<T, Failure>) -> Result<T, BlobError> {
        let mut conn = self.pool.get()?;
        f(&mut conn).map_err(BlobError::from)
    }

    /// Runs `f` in one transaction: committed if `f` succeeds, rolled back otherwise; tried
    /// again from the start if PostgreSQL aborted it to break a deadlock.
    fn write<T>(
        &self,
        mut f: impl FnMut(&mut Transaction<'_>) -> Result<T, Failure>,
    ) -> Result<T, BlobError> {
        let mut conn = self.pool.get()?;
        let mut attempt = 1;
        loop {
            let done = conn
                .transaction()
                .map_err(Failure::from)
                .and_then(|mut tx| {
                    let out = f(&mut tx)?;
                    tx.commit()?;
                    Ok(out)
                });
            match done {
                Err(Failure::Pg(e)) if attempt < WRITE_ATTEMPTS && retryable(&e) => {
                    tracing::debug!(
                        attempt,
                        "a PostgreSQL transaction was aborted; trying again"
                    );
                    attempt += 1;
                }
                other => return other.map_err(BlobError::from),
            }
        }
    }

    /// The stored blob's reader, `None` if it is not complete.
    fn reader(&self, sha256: &str) -> Result<Option<PgBlobReader>, BlobError> {
        let sha256 = checked(sha256)?;
        let row = self.read(|c| {
            Ok(c.query_typed_opt(
                "SELECT upload, len FROM blobs WHERE sha256 = $1",
                &[(&sha256, Type::TEXT)],
            )?)
        })?;
        let Some(row) = row else {
            return Ok(None);
        };
        let upload: i64 = row.try_get(0).map_err(|e| BlobError::Io(pg_error(&e)))?;
        let len: i64 = row.try_get(1).map_err(|e| BlobError::Io(pg_error(&e)))?;
        Ok(Some(PgBlobReader {
            pool: Arc::clone(&self.pool),
            upload,
            len: stored_u64(len)?,
            pos: 0,
            chunk_start: 0,
            chunk: Vec::new(),
        }))
    }
}

impl BlobStore for PgBlobStore {
    fn received(&self, sha256: &str) -> Result<u64, BlobError> {
        let sha256 = checked(sha256)?;
        let held: i64 = self.read(|c| {
            let row = c.query_typed_one(
                "SELECT coalesce(
                     (SELECT len FROM blobs WHERE sha256 = $1),
                     (SELECT received FROM blob_partials WHERE sha256 = $1),
                     0)",
                &[(&sha256, Type::TEXT)],
            )?;
            Ok(row.try_get(0)?)
        })?;
        stored_u64(held)
    }

    fn append(&self, sha256: &str, offset: u64, bytes: &[u8]) -> Result<u64, BlobError> {
        let sha256 = checked(sha256)?;
        self.write(|tx| {
            let (upload, received) = lock_or_start_partial(tx, sha256)?;
            if offset != received {
                // Rolled back: a partial made for this chunk goes with it.
                return Err(BlobError::OffsetMismatch { received }.into());
            }
            let mut at = received;
            for piece in bytes.chunks(CHUNK_BYTES) {
                let start = to_i64(at)?;
                tx.execute_typed(
                    "INSERT INTO blob_chunks (upload, start, bytes) VALUES ($1, $2, $3)",
                    &[
                        (&upload, Type::INT8),
                        (&start, Type::INT8),
                        (&piece, Type::BYTEA),
                    ],
                )?;
                at += piece.len() as u64;
            }
            let held = to_i64(at)?;
            tx.execute_typed(
                "UPDATE blob_partials SET received = $2, touched_at = now() WHERE sha256 = $1",
                &[(&sha256, Type::TEXT), (&held, Type::INT8)],
            )?;
            Ok(at)
        })
    }

    fn discard(&self, sha256: &str) -> Result<(), BlobError> {
        let sha256 = checked(sha256)?;
        self.write(|tx| delete_partial(tx, sha256))
    }

    fn finish(&self, sha256: &str) -> Result<(), BlobError> {
        let sha256 = checked(sha256)?;
        let matched = self.write(|tx| {
            let partial = lock_partial(tx, sha256)?;
            let stored = tx
                .query_typed_opt(
                    "SELECT 1 FROM blobs WHERE sha256 = $1",
                    &[(&sha256, Type::TEXT)],
                )?
                .is_some();
            if stored {
                // Kept once: this upload's copy goes.
                delete_partial(tx, sha256)?;
                return Ok(true);
            }
            let Some((upload, received)) = partial else {
                return Err(BlobError::Io(io::Error::new(
                    io::ErrorKind::NotFound,
                    "no upload of this blob is under way",
                ))
                .into());
            };
            if !hashes_to(tx, upload, received, sha256)? {
                delete_partial(tx, sha256)?;
                return Ok(false);
            }
            let len = to_i64(received)?;
            tx.execute_typed(
                "INSERT INTO blobs (sha256, upload, len) VALUES ($1, $2, $3)",
                &[
                    (&sha256, Type::TEXT),
                    (&upload, Type::INT8),
                    (&len, Type::INT8),
                ],
            )?;
            // The bytes now belong to the blob: only the partial's row goes.
            tx.execute_typed(
                "DELETE FROM blob_partials WHERE sha256 = $1",
                &[(&sha256, Type::TEXT)],
            )?;
            Ok(true)
        })?;
        if matched {
            Ok(())
        } else {
            Err(BlobError::HashMismatch {
                expected: sha256.to_string(),
            })
        }
    }

    fn is_complete(&self, sha256: &str) -> Result<bool, BlobError> {
        let sha256 = checked(sha256)?;
        self.read(|c| {
            let row = c.query_typed_opt(
                "SELECT 1 FROM blobs WHERE sha256 = $1",
                &[(&sha256, Type::TEXT)],
            )?;
            Ok(row.is_some())
        })
    }

    fn open(&self, sha256: &str) -> Result<Option<OpenBlob>, BlobError> {
        Ok(self.reader(sha256)?.map(|reader| OpenBlob {
            len: reader.len,
            reader: Box::new(reader),
        }))
    }

    fn open_partial(&self, sha256: &str) -> Result<Option<OpenBlob>, BlobError> {
        let sha256 = checked(sha256)?;
        let row = self.read(|c| {
            Ok(c.query_typed_opt(
                "SELECT upload, received FROM blob_partials WHERE sha256 = $1",
                &[(&sha256, Type::TEXT)],
            )?)
        })?;
        let Some(row) = row else {
            return Ok(None);
        };
        let upload: i64 = row.try_get(0).map_err(|e| BlobError::Io(pg_error(&e)))?;
        let received: i64 = row.try_get(1).map_err(|e| BlobError::Io(pg_error(&e)))?;
        // The rows up to `received` are committed with it and never change while the partial
        // lasts; the reader stops there whatever arrives later.
        let len = stored_u64(received)?;
        Ok(Some(OpenBlob {
            len,
            reader: Box::new(PgBlobReader {
                pool: Arc::clone(&self.pool),
                upload,
                len,
                pos: 0,
                chunk_start: 0,
                chunk: Vec::new(),
            }),
        }))
    }

    fn sweep_partials(&self, idle: Duration) -> Result<usize, BlobError> {
        let idle_ms = idle.min(MAX_IDLE).as_millis() as f64;
        // A partial an append holds is waited for, then looked at again: just touched, it stays.
        // A clock set back makes every age negative: nothing is removed then.
        let removed: i64 = self.write(|tx| {
            let row = tx.query_typed_one(
                "WITH gone AS (
                     DELETE FROM blob_partials
                     WHERE touched_at <= now() - $1 * interval '1 millisecond'
                     RETURNING upload
                 ), bytes AS (
                     DELETE FROM blob_chunks WHERE upload IN (SELECT upload FROM gone)
                 )
                 SELECT count(*) FROM gone",
                &[(&idle_ms, Type::FLOAT8)],
            )?;
            Ok(row.try_get(0)?)
        })?;
        Ok(usize::try_from(removed).unwrap_or(0))
    }
}

/// A stored blob read a row at a time (see the module docs).
struct PgBlobReader {
    pool: Arc<Connections>,
    upload: i64,
    len: u64,
    /// Where the next read starts (may lie past the end, as a file's).
    pos: u64,
    /// The row last fetched, and where its first byte lies.
    chunk_start: u64,
    chunk: Vec<u8>,
}

impl fmt::Debug for PgBlobReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgBlobReader")
            .field("upload", &self.upload)
            .field("len", &self.len)
            .field("pos", &self.pos)
            .finish_non_exhaustive()
    }
}

impl PgBlobReader {
    fn holds(&self, pos: u64) -> bool {
        pos >= self.chunk_start && pos - self.chunk_start < self.chunk.len() as u64
    }

    /// Fetches the row holding `self.pos` (which is before the end).
    fn fetch(&mut self) -> io::Result<()> {
        // The row held goes first: at most one is held at a time.
        self.chunk = Vec::new();
        let pos = i64::try_from(self.pos).map_err(|_| corrupt("position out of range"))?;
        let mut conn = self.pool.get()?;
        let row = conn
            .query_typed_opt(
                "SELECT start, bytes FROM blob_chunks WHERE upload = $1 AND start <= $2
                 ORDER BY start DESC LIMIT 1",
                &[(&self.upload, Type::INT8), (&pos, Type::INT8)],
            )
            .map_err(|e| pg_error(&e))?;
        drop(conn);
        let missing = || corrupt(format!("the stored blob lacks its bytes at {pos}"));
        let row = row.ok_or_else(missing)?;
        let start: i64 = row.try_get(0).map_err(|e| pg_error(&e))?;
        let bytes: Vec<u8> = row.try_get(1).map_err(|e| pg_error(&e))?;
        let start = u64::try_from(start).map_err(|_| missing())?;
        self.chunk_start = start;
        self.chunk = bytes;
        if !self.holds(self.pos) {
            self.chunk = Vec::new();
            return Err(missing());
        }
        Ok(())
    }
}

impl Read for PgBlobReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() || self.pos >= self.len {
            return Ok(0);
        }
        if !self.holds(self.pos) {
            self.fetch()?;
        }
        // `holds` makes the difference smaller than the row's length.
        let within = usize::try_from(self.pos - self.chunk_start).unwrap_or(usize::MAX);
        let available = self.chunk.get(within..).unwrap_or_default();
        let to_end = usize::try_from(self.len - self.pos).unwrap_or(usize::MAX);
        let n = available.len().min(buf.len()).min(to_end);
        buf[..n].copy_from_slice(&available[..n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for PgBlobReader {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let (base, delta) = match to {
            SeekFrom::Start(n) => {
                self.pos = n;
                return Ok(n);
            }
            SeekFrom::End(d) => (self.len, d),
            SeekFrom::Current(d) => (self.pos, d),
        };
        match base.checked_add_signed(delta) {
            Some(pos) => {
                self.pos = pos;
                Ok(pos)
            }
            None => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek to a negative or overflowing position",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Barrier;

    use super::*;
    use crate::blobs::PARTIAL_IDLE;
    use crate::storage::postgres::testdb::{TestDb, test_db};

    /// A blob store in a fresh schema of the test server, and the schema.
    fn store(db: &TestDb) -> (PgBlobStore, String) {
        let schema = db.new_schema();
        (PgBlobStore::new(&db.open(&schema)), schema)
    }

    fn sha(bytes: &[u8]) -> String {
        hex::encode(Sha256::digest(bytes))
    }

    /// Bytes that are not all alike, different for each `seed`.
    fn sample(len: usize, seed: u8) -> Vec<u8> {
        (0..len)
            .map(|i| ((i % 251) as u8).wrapping_add(seed))
            .collect()
    }

    fn read_all(store: &dyn BlobStore, sha256: &str) -> Vec<u8> {
        let mut open = store.open(sha256).unwrap().expect("stored");
        let mut out = Vec::new();
        open.reader.read_to_end(&mut out).unwrap();
        assert_eq!(out.len() as u64, open.len);
        out
    }

    fn count(client: &mut Client, sql: &str) -> i64 {
        client.query_one(sql, &[]).unwrap().get(0)
    }

    #[test]
    fn passes_the_shared_suite() {
        let Some(db) = test_db() else { return };
        crate::blobs::suite::run_all(&|| Box::new(store(&db).0));
        assert_eq!(db.schemas.lock().unwrap().len(), 8, "a schema per check");
    }

    /// Two hubs on one database: the chunks of one upload land on each in turn.
    #[test]
    fn an_upload_may_alternate_between_hubs() {
        let Some(db) = test_db() else { return };
        let schema = db.new_schema();
        let hubs = [
            PgBlobStore::new(&db.open(&schema)),
            PgBlobStore::new(&db.open(&schema)),
        ];
        let bytes = sample(700_000, 3);
        let h = sha(&bytes);
        for (i, piece) in bytes.chunks(100_000).enumerate() {
            let (this, other) = (&hubs[i % 2], &hubs[(i + 1) % 2]);
            let offset = (i * 100_000) as u64;
            assert_eq!(this.received(&h).unwrap(), offset);
            assert_eq!(other.received(&h).unwrap(), offset);
            if i > 0 {
                // A chunk sent again to the other hub after this one acknowledged it.
                match other.append(&h, offset - 100_000, &bytes[..100_000]) {
                    Err(BlobError::OffsetMismatch { received }) => assert_eq!(received, offset),
                    r => panic!("expected an offset mismatch, got {r:?}"),
                }
            }
            assert_eq!(
                this.append(&h, offset, piece).unwrap(),
                offset + piece.len() as u64
            );
        }
        assert!(!hubs[0].is_complete(&h).unwrap());
        hubs[1].finish(&h).unwrap();
        for hub in &hubs {
            assert!(hub.is_complete(&h).unwrap());
            assert_eq!(hub.received(&h).unwrap(), 700_000);
            assert_eq!(read_all(hub, &h), bytes);
        }
        let mut c = db.client(&schema);
        assert_eq!(count(&mut c, "SELECT count(*) FROM blob_partials"), 0);
        // 100 000-byte chunks fit a row each: the bytes were not copied or split on finishing.
        assert_eq!(count(&mut c, "SELECT count(*) FROM blob_chunks"), 7);
    }

    /// Waits until exactly `waiters` connections wait on the locks of the connection whose
    /// backend is `holder` (directly, or queued behind one another).
    fn wait_for_blocked(watcher: &mut Client, holder: i32, waiters: i64) {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let blocked: i64 = watcher
                .query_one(
                    "WITH RECURSIVE w(pid) AS (
                         SELECT pid FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))
                         UNION
                         SELECT a.pid FROM pg_stat_activity a, w
                         WHERE w.pid = ANY(pg_blocking_pids(a.pid))
                     ) SELECT count(*) FROM w",
                    &[&holder],
                )
                .unwrap()
                .get(0);
            if blocked == waiters {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{blocked} of {waiters} appends wait"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Two hubs append the same chunk at the same offset: one appends it, the other is told
    /// where the upload now stands. Both ways in: starting an upload, and continuing one.
    #[test]
    fn of_two_appends_at_one_offset_exactly_one_lands() {
        let Some(db) = test_db() else { return };
        let schema = db.new_schema();
        let hubs = [
            PgBlobStore::new(&db.open(&schema)),
            PgBlobStore::new(&db.open(&schema)),
        ];
        let bytes = sample(400_000, 9);
        let h = sha(&bytes);
        let race = |offset: usize, end: usize, hold: &dyn Fn(&mut Client) -> i32| {
            let mut holder = db.client(&schema);
            let mut watcher = db.client(&schema);
            holder.batch_execute("BEGIN").unwrap();
            let holder_pid = hold(&mut holder);
            let results: Vec<Result<u64, BlobError>> = std::thread::scope(|s| {
                let runs: Vec<_> = hubs
                    .iter()
                    .map(|hub| {
                        let (piece, h) = (&bytes[offset..end], &h);
                        s.spawn(move || hub.append(h, offset as u64, piece))
                    })
                    .collect();
                wait_for_blocked(&mut watcher, holder_pid, 2);
                holder.batch_execute("ROLLBACK").unwrap();
                runs.into_iter().map(|r| r.join().unwrap()).collect()
            });
            let landed = results.iter().filter(|r| r.is_ok()).count();
            assert_eq!(landed, 1, "{results:?}");
            for r in &results {
                match r {
                    Ok(held) => assert_eq!(*held, end as u64),
                    Err(BlobError::OffsetMismatch { received }) => {
                        assert_eq!(*received, end as u64)
                    }
                    Err(e) => panic!("unexpected {e:?}"),
                }
            }
            assert_eq!(hubs[0].received(&h).unwrap(), end as u64);
        };
        let pid =
            |c: &mut Client| -> i32 { c.query_one("SELECT pg_backend_pid()", &[]).unwrap().get(0) };
        // Starting: both wait on a row another transaction is inserting, which it rolls back.
        race(0, 150_000, &|c| {
            c.execute(
                "INSERT INTO blob_partials (sha256, received, touched_at) VALUES ($1, 0, now())",
                &[&h],
            )
            .unwrap();
            pid(c)
        });
        // Continuing: both wait on the partial's row another transaction holds.
        race(150_000, 400_000, &|c| {
            c.execute(
                "SELECT 1 FROM blob_partials WHERE sha256 = $1 FOR UPDATE",
                &[&h],
            )
            .unwrap();
            pid(c)
        });
        hubs[1].finish(&h).unwrap();
        assert_eq!(read_all(&hubs[0], &h), bytes);

        // And without anything holding them back, many times over.
        for round in 0..20u8 {
            let bytes = sample(20_000 + usize::from(round), round);
            let h = sha(&bytes);
            let barrier = Barrier::new(2);
            for (offset, end) in [(0, 5_000), (5_000, bytes.len())] {
                let results: Vec<Result<u64, BlobError>> = std::thread::scope(|s| {
                    let runs: Vec<_> = hubs
                        .iter()
                        .map(|hub| {
                            let (barrier, piece, h) = (&barrier, &bytes[offset..end], &h);
                            s.spawn(move || {
                                barrier.wait();
                                hub.append(h, offset as u64, piece)
                            })
                        })
                        .collect();
                    runs.into_iter().map(|r| r.join().unwrap()).collect()
                });
                assert_eq!(
                    results.iter().filter(|r| r.is_ok()).count(),
                    1,
                    "{results:?}"
                );
                assert!(results.iter().any(|r| matches!(
                    r,
                    Err(BlobError::OffsetMismatch { received }) if *received == end as u64
                )));
            }
            hubs[usize::from(round % 2)].finish(&h).unwrap();
            assert_eq!(read_all(&hubs[0], &h), bytes);
        }
    }

    /// Idleness is the database's time since the last chunk; the swept partial's bytes go too.
    #[test]
    fn only_partials_idle_for_long_are_swept() {
        let Some(db) = test_db() else { return };
        let (store, schema) = store(&db);
        let (old, recent) = (sha(b"old upload"), sha(b"recent"));
        store.append(&old, 0, b"old").unwrap();
        store.append(&recent, 0, b"rec").unwrap();
        let mut c = db.client(&schema);
        c.execute(
            "UPDATE blob_partials SET touched_at = now() - interval '31 days' WHERE sha256 = $1",
            &[&old],
        )
        .unwrap();
        assert_eq!(store.sweep_partials(PARTIAL_IDLE).unwrap(), 1);
        assert_eq!(
            store.received(&old).unwrap(),
            0,
            "the abandoned upload is gone"
        );
        assert_eq!(store.received(&recent).unwrap(), 3, "a recent one is kept");
        assert_eq!(
            count(&mut c, "SELECT count(*) FROM blob_chunks"),
            1,
            "and its bytes"
        );
        assert_eq!(store.sweep_partials(PARTIAL_IDLE).unwrap(), 0);
        assert_eq!(store.sweep_partials(Duration::MAX).unwrap(), 0);
        // Its tablet, back after all, starts over from 0.
        assert_eq!(store.append(&old, 0, b"old upload").unwrap(), 10);
        store.finish(&old).unwrap();
        assert_eq!(read_all(&store, &old), b"old upload");
        // Idle for no time at all: every partial.
        assert_eq!(store.sweep_partials(Duration::ZERO).unwrap(), 1);
        assert_eq!(store.received(&recent).unwrap(), 0);
        assert!(
            store.is_complete(&old).unwrap(),
            "a complete blob is never swept"
        );
    }

    /// A 1 MiB blob uploaded in pieces that are not whole rows, read from many positions,
    /// holding one row at most.
    #[test]
    fn a_large_blob_reads_from_any_position() {
        let Some(db) = test_db() else { return };
        let (store, _) = store(&db);
        let bytes = sample(1024 * 1024, 1);
        let h = sha(&bytes);
        for (i, piece) in bytes.chunks(300_001).enumerate() {
            store.append(&h, (i * 300_001) as u64, piece).unwrap();
        }
        store.finish(&h).unwrap();
        let mut reader = store.reader(&h).unwrap().expect("stored");
        let len = bytes.len() as u64;
        assert_eq!(reader.len, len);
        let mut buf = vec![0u8; 70_000];
        for start in [
            0u64,
            1,
            262_143,
            262_144,
            300_000,
            300_001,
            524_288,
            600_002,
            777_777,
            1_000_000,
            len - 1,
        ] {
            assert_eq!(reader.seek(SeekFrom::Start(start)).unwrap(), start);
            let want = &bytes[start as usize..][..(len - start).min(70_000) as usize];
            reader.read_exact(&mut buf[..want.len()]).unwrap();
            assert_eq!(&buf[..want.len()], want, "read from {start}");
            assert!(reader.chunk.len() <= CHUNK_BYTES);
        }
        // Back and forth from the current position and the end.
        assert_eq!(reader.seek(SeekFrom::End(-10)).unwrap(), len - 10);
        let mut tail = Vec::new();
        reader.read_to_end(&mut tail).unwrap();
        assert_eq!(tail, &bytes[bytes.len() - 10..]);
        assert_eq!(
            reader.seek(SeekFrom::Current(-500_000)).unwrap(),
            len - 500_000
        );
        let mut rest = Vec::new();
        reader.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, &bytes[bytes.len() - 500_000..]);
        // Past the end reads nothing; before the start is refused.
        assert_eq!(reader.seek(SeekFrom::Start(len + 5)).unwrap(), len + 5);
        assert_eq!(reader.read(&mut buf).unwrap(), 0);
        assert!(reader.seek(SeekFrom::Current(-(len as i64) - 6)).is_err());
        assert!(reader.seek(SeekFrom::End(-(len as i64) - 1)).is_err());
        // And the whole through `open`.
        assert_eq!(read_all(&store, &h), bytes);
    }

    /// Finishing hands the rows over; a second upload of the same bytes and a mismatch leave no
    /// row behind.
    #[test]
    fn each_blob_is_kept_once_and_nothing_is_left_behind() {
        let Some(db) = test_db() else { return };
        let (store, schema) = store(&db);
        let mut c = db.client(&schema);
        let bytes = sample(600_000, 5);
        let h = sha(&bytes);
        store.append(&h, 0, &bytes).unwrap();
        assert_eq!(count(&mut c, "SELECT count(*) FROM blob_chunks"), 3);
        assert_eq!(
            count(
                &mut c,
                "SELECT max(octet_length(bytes))::bigint FROM blob_chunks"
            ),
            CHUNK_BYTES as i64
        );
        store.finish(&h).unwrap();
        store.append(&h, 0, &bytes[..100]).unwrap();
        store.append(&h, 100, &bytes[100..]).unwrap();
        // 100 bytes, then 599 900 in rows of 256 KiB at most: 4 more rows.
        assert_eq!(count(&mut c, "SELECT count(*) FROM blob_chunks"), 7);
        store.finish(&h).unwrap();
        assert_eq!(count(&mut c, "SELECT count(*) FROM blob_chunks"), 3);
        assert_eq!(count(&mut c, "SELECT count(*) FROM blobs"), 1);
        assert_eq!(count(&mut c, "SELECT count(*) FROM blob_partials"), 0);
        assert_eq!(read_all(&store, &h), bytes);

        let other = sha(b"the real bytes");
        store.append(&other, 0, b"other bytes!!!").unwrap();
        assert!(matches!(
            store.finish(&other),
            Err(BlobError::HashMismatch { .. })
        ));
        assert_eq!(count(&mut c, "SELECT count(*) FROM blob_chunks"), 3);
        assert_eq!(count(&mut c, "SELECT count(*) FROM blob_partials"), 0);
        // Finishing what was never uploaded is an error, not a blob.
        match store.finish(&other) {
            Err(BlobError::Io(e)) => assert_eq!(e.kind(), io::ErrorKind::NotFound),
            r => panic!("expected not found, got {r:?}"),
        }
        assert!(!store.is_complete(&other).unwrap());
    }

    /// Rows gone missing are errors, never a panic or wrong bytes.
    #[test]
    fn missing_rows_are_errors() {
        let Some(db) = test_db() else { return };
        let (store, schema) = store(&db);
        let mut c = db.client(&schema);
        let bytes = sample(600_000, 7);
        let h = sha(&bytes);
        store.append(&h, 0, &bytes).unwrap();
        store.finish(&h).unwrap();
        c.execute(
            "DELETE FROM blob_chunks WHERE start = $1",
            &[&(CHUNK_BYTES as i64)],
        )
        .unwrap();
        let mut open = store.open(&h).unwrap().expect("stored");
        let mut head = vec![0u8; 1000];
        open.reader.read_exact(&mut head).unwrap();
        assert_eq!(head, &bytes[..1000]);
        let mut out = Vec::new();
        let e = open.reader.read_to_end(&mut out).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert!(out.len() < bytes.len());

        let other = sample(300_000, 8);
        let o = sha(&other);
        store.append(&o, 0, &other).unwrap();
        c.execute("DELETE FROM blob_chunks WHERE start = 0 AND upload = (SELECT upload FROM blob_partials)", &[])
            .unwrap();
        match store.finish(&o) {
            Err(BlobError::Io(e)) => assert_eq!(e.kind(), io::ErrorKind::InvalidData),
            r => panic!("expected an error, got {r:?}"),
        }
        assert!(!store.is_complete(&o).unwrap());
    }

    /// A store, and a reader of it, dropped on a thread that drives async tasks (a download
    /// ending) close their connections elsewhere instead of panicking.
    #[test]
    fn dropping_inside_a_runtime_does_not_panic() {
        let Some(db) = test_db() else { return };
        let (store, _) = store(&db);
        let h = sha(b"abc");
        store.append(&h, 0, b"abc").unwrap();
        store.finish(&h).unwrap();
        let mut open = store.open(&h).unwrap().expect("stored");
        let mut first = [0u8; 1];
        open.reader.read_exact(&mut first).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async move {
            drop(store);
            drop(open);
        });
    }
}
