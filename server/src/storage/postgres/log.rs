//! Documents and the change log: group commits, pages of the log, the audit trail, and the
//! notifications that tell other hub processes the log grew (see [`Listener`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ::postgres::fallible_iterator::FallibleIterator;
use ::postgres::types::Type;
use ::postgres::{Client, Config, NoTls, Row, Transaction};
use bianmin_document::{DocIndex, DocKind};
use uuid::Uuid;

use super::index::write_index;
use super::schema::LOCK_CHANGE_LOG;
use super::{Failure, area_prefix, backend, describe, to_i64, to_u64};
use crate::storage::{
    AuditEntry, Commit, DocRecord, LogEntry, LogNotice, LogPage, LogWake, ReadScope, StorageError,
};

/// The channel on which a group commit that added to the change log notifies, once per
/// transaction, with the payload `<schema>:<the log's last number>`.
pub(super) const CHANNEL: &str = "bianmin_log";

/// The most change-log entries one `changes_after` call examines (skipped entries included);
/// the caller continues from the returned cursor.
pub(super) const MAX_EXAMINED: usize = 10_000;
/// The rows one statement of a log page fetches at most. A page is read in chunks, each
/// continuing after the last row of the one before, so that a small byte budget does not
/// fetch [`MAX_EXAMINED`] rows' bytes only to drop them.
const MAX_CHUNK: usize = 4_096;

pub(super) fn document(c: &mut Client, id: Uuid) -> Result<Option<DocRecord>, Failure> {
    let row = c.query_typed_opt(
        "SELECT snapshot, kind, village, version FROM documents WHERE id = $1",
        &[(&id, Type::UUID)],
    )?;
    let Some(r) = row else { return Ok(None) };
    let kind: String = r.try_get(1)?;
    Ok(Some(DocRecord {
        bytes: r.try_get(0)?,
        kind: DocKind::parse(&kind)
            .ok_or_else(|| Failure::Storage(backend(format!("unknown document kind {kind:?}"))))?,
        village: r.try_get(2)?,
        version: to_u64(r.try_get(3)?)?,
    }))
}

pub(super) fn document_version(c: &mut Client, id: Uuid) -> Result<Option<u64>, Failure> {
    let row = c.query_typed_opt(
        "SELECT version FROM documents WHERE id = $1",
        &[(&id, Type::UUID)],
    )?;
    row.map(|r| to_u64(r.try_get(0)?)).transpose()
}

/// Stores a group of accepted pushes in the caller's transaction: the documents and their
/// index entries first, then, under the change log's lock, the changes. Each push comes with
/// the version of its document it was checked against, or `None` to store it whatever the
/// stored version is (see `Storage::commit_checked`).
///
/// Documents are written in id order, each with the last of its pushes (what storing the
/// pushes one after another leaves) and then its index entries in push order: concurrent groups
/// lock document and index rows in one order, so they cannot deadlock on them. A document
/// checked against a version is written only if that version is still the stored one (the
/// `UPDATE` waits for a concurrent writer of the row and then looks at what it committed; a
/// new one's `INSERT` waits likewise for a concurrent insert of the id), else the group fails
/// with [`StorageError::Conflict`] and the caller's transaction is rolled back.
///
/// When the group added to the log, one notification on [`CHANNEL`] goes out with the commit
/// (PostgreSQL sends it only if the transaction commits; each takes a database-wide lock at
/// commit, hence one per transaction, not per change).
pub(super) fn commit_all(
    tx: &mut Transaction<'_>,
    lock_scope: i32,
    schema: &str,
    commits: &[(&Commit<'_>, Option<u64>)],
) -> Result<Vec<u64>, Failure> {
    for (c, _) in commits {
        area_prefix(c.village, 9)?;
    }
    let mut order: Vec<&(&Commit<'_>, Option<u64>)> = commits.iter().collect();
    // Stable: a document's pushes stay in push order.
    order.sort_by_key(|(c, _)| c.doc_id);
    for group in order.chunk_by(|(a, _), (b, _)| a.doc_id == b.doc_id) {
        let (Some((first, base)), Some((last, _))) = (group.first(), group.last()) else {
            continue;
        };
        // Each push of the group builds on the one before: their bases follow one another.
        let pushes = group.len() as u64;
        let chained = group
            .iter()
            .zip(0..)
            .all(|((_, b), i)| *b == base.map(|base| base + i));
        if !chained {
            return Err(StorageError::Conflict { doc: first.doc_id }.into());
        }
        store_document(tx, last, *base, pushes)?;
        for (c, _) in group {
            if let Some(index) = c.index {
                write_index(tx, c.doc_id, index)?;
                if let DocIndex::Request(r) = index {
                    claim_receipt(tx, &r.row.receipt_no, c.doc_id, *base == Some(0))?;
                }
            }
        }
    }
    let commits: Vec<&Commit<'_>> = commits.iter().map(|(c, _)| *c).collect();
    let (seqs, added) = append_changes(tx, lock_scope, &commits)?;
    if let Some(last) = added {
        tx.query_typed(
            "SELECT pg_notify($1, $2)",
            &[
                (&CHANNEL, Type::TEXT),
                (&format!("{schema}:{last}"), Type::TEXT),
            ],
        )?;
    }
    Ok(seqs)
}

/// Claims `receipt_no` for the request `doc_id` (see the `receipts` table, migration 0006). A
/// request the checker believed `new` fails with [`StorageError::Conflict`] if another holds
/// the number; one stored before keeps its number whatever the claims say (hubs from before
/// the check may hold two requests with one number, which must stay readable).
///
/// Two transactions inserting one number: the second waits for the first's row, then finds
/// it taken once the first commits (or inserts it, if the first rolled back).
fn claim_receipt(
    tx: &mut Transaction<'_>,
    receipt_no: &str,
    doc_id: Uuid,
    new: bool,
) -> Result<(), Failure> {
    let params: [(&(dyn ::postgres::types::ToSql + Sync), Type); 2] =
        [(&receipt_no, Type::TEXT), (&doc_id, Type::UUID)];
    if !new {
        tx.execute_typed(
            "INSERT INTO receipts (receipt_no, doc_id) VALUES ($1, $2)
             ON CONFLICT (receipt_no) DO NOTHING",
            &params,
        )?;
        return Ok(());
    }
    // The no-op update locks the row and returns its holder, committed or ours.
    let rows = tx.query_typed(
        "INSERT INTO receipts (receipt_no, doc_id) VALUES ($1, $2)
         ON CONFLICT (receipt_no) DO UPDATE SET doc_id = receipts.doc_id
         RETURNING doc_id",
        &params,
    )?;
    if rows.first().map(|r| r.get::<_, Uuid>(0)) == Some(doc_id) {
        Ok(())
    } else {
        Err(StorageError::Conflict { doc: doc_id }.into())
    }
}

/// Writes a document as `c` has it after `pushes` pushes: its version grows by `pushes`, from
/// `base` if given (0: no document stored yet), else from whatever is stored.
fn store_document(
    tx: &mut Transaction<'_>,
    c: &Commit<'_>,
    base: Option<u64>,
    pushes: u64,
) -> Result<(), Failure> {
    let township = area_prefix(c.village, 9)?;
    let pushes = to_i64(pushes);
    let columns: [(&(dyn ::postgres::types::ToSql + Sync), Type); 7] = [
        (&c.doc_id, Type::UUID),
        (&c.kind.as_str(), Type::TEXT),
        (&c.village, Type::TEXT),
        (&township, Type::TEXT),
        (&c.resident_user, Type::TEXT),
        (&c.snapshot, Type::BYTEA),
        (&c.received_at, Type::INT8),
    ];
    let stored = match base {
        None => {
            let mut params = columns.to_vec();
            params.push((&pushes, Type::INT8));
            tx.execute_typed(
                "INSERT INTO documents (id, kind, village, township, resident_user, snapshot,
                    updated_at, version)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                 ON CONFLICT (id) DO UPDATE SET
                    kind = EXCLUDED.kind,
                    village = EXCLUDED.village,
                    township = EXCLUDED.township,
                    resident_user = EXCLUDED.resident_user,
                    snapshot = EXCLUDED.snapshot,
                    updated_at = EXCLUDED.updated_at,
                    version = documents.version + EXCLUDED.version",
                &params,
            )?
        }
        Some(0) => {
            let mut params = columns.to_vec();
            params.push((&pushes, Type::INT8));
            tx.execute_typed(
                "INSERT INTO documents (id, kind, village, township, resident_user, snapshot,
                    updated_at, version)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                 ON CONFLICT (id) DO NOTHING",
                &params,
            )?
        }
        Some(base) => {
            let base = to_i64(base);
            let mut params = columns.to_vec();
            params.push((&base, Type::INT8));
            params.push((&pushes, Type::INT8));
            tx.execute_typed(
                "UPDATE documents SET kind = $2, village = $3, township = $4,
                    resident_user = $5, snapshot = $6, updated_at = $7, version = $8 + $9
                 WHERE id = $1 AND version = $8",
                &params,
            )?
        }
    };
    if stored == 1 {
        Ok(())
    } else {
        Err(StorageError::Conflict { doc: c.doc_id }.into())
    }
}

/// Appends each push's new changes to the log, in order; for each push, the log's last number
/// once it was stored (the end of the log if it added nothing), and the last number taken if
/// the group added anything.
///
/// Why the lock: a sequence hands out numbers when asked, not when the transaction that asked
/// commits. Were two hubs (or two connections of one) to take 7 and 8 and the one holding 8
/// commit first, a device pulling in between would read 8, move its cursor to 8, and never
/// read 7. So the numbers are taken only while holding the change log's transaction-level
/// advisory lock, which PostgreSQL releases only after the commit is visible to others: the
/// next writer takes its numbers after this one's are readable, numbers become visible in
/// increasing order, and a reader that sees a number sees every smaller one that will ever
/// exist. Everything before (documents, index entries) runs outside the lock, so concurrent
/// groups wait for each other only from here to their commit.
fn append_changes(
    tx: &mut Transaction<'_>,
    lock_scope: i32,
    commits: &[&Commit<'_>],
) -> Result<(Vec<u64>, Option<i64>), Failure> {
    tx.query_typed(
        "SELECT pg_advisory_xact_lock($1, $2)",
        &[(&LOCK_CHANGE_LOG, Type::INT4), (&lock_scope, Type::INT4)],
    )?;
    let mut seqs = Vec::with_capacity(commits.len());
    let mut last = None;
    let mut added = None;
    for c in commits {
        for (hash, change) in c.changes {
            if let Some(seq) = insert_change(tx, c, hash, change)? {
                last = Some(seq);
                added = Some(seq);
            }
        }
        let seq = match last {
            Some(seq) => seq,
            None => tx
                .query_typed_one("SELECT COALESCE(max(seq), 0) FROM change_log", &[])?
                .try_get(0)?,
        };
        last = Some(seq);
        seqs.push(to_u64(seq)?);
    }
    Ok((seqs, added))
}

/// Appends one change; its number, or `None` if the log already holds it.
fn insert_change(
    tx: &mut Transaction<'_>,
    c: &Commit<'_>,
    hash: &[u8; 32],
    change: &[u8],
) -> Result<Option<i64>, Failure> {
    let row = tx.query_typed_opt(
        "INSERT INTO change_log (doc_id, hash, village, township, county, resident_user,
            device_id, user_id, received_at, change)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (hash) DO NOTHING
         RETURNING seq",
        &[
            (&c.doc_id, Type::UUID),
            (&hash.as_slice(), Type::BYTEA),
            (&c.village, Type::TEXT),
            (&area_prefix(c.village, 9)?, Type::TEXT),
            (&area_prefix(c.village, 6)?, Type::TEXT),
            (&c.resident_user, Type::TEXT),
            (&c.device_id, Type::TEXT),
            (&c.user_id, Type::TEXT),
            (&c.received_at, Type::INT8),
            (&change, Type::BYTEA),
        ],
    )?;
    Ok(row.map(|r| r.try_get(0)).transpose()?)
}

/// The change-log column a read scope selects on, and its value.
fn log_scope(scope: &ReadScope) -> (&'static str, &str) {
    match scope {
        ReadScope::Resident { user } => ("resident_user", user.as_str()),
        ReadScope::Village(code) => ("village", code.as_str()),
        ReadScope::Township(code) => ("township", code.as_str()),
        ReadScope::County(code) => ("county", code.as_str()),
    }
}

/// The change-log entries after a cursor (`$3`) whose `column` equals `$2`, in log order, at
/// most `$4`; the bytes of entries sent by device `$1` are not read (NULL). Walks the
/// `(column, seq)` index from the cursor: never the whole log, never a sort.
///
/// The condition is the key range `(column, seq) > ($2, $3) AND column <= $2` (the same rows as
/// `column = $2 AND seq > $3`) and the order `column, seq`: only that index yields this order,
/// so the planner cannot instead walk the primary key from the cursor, filtering by scope,
/// through every other scope's entries.
pub(super) fn log_page_sql(column: &str) -> String {
    format!(
        "SELECT seq, doc_id, CASE WHEN device_id = $1 THEN NULL ELSE change END
         FROM change_log WHERE ({column}, seq) > ($2, $3) AND {column} <= $2
         ORDER BY {column}, seq LIMIT $4"
    )
}

/// A page being filled: the bytes used so far and the rows examined.
struct Walk {
    page: LogPage,
    budget: usize,
    used: usize,
    examined: usize,
}

impl Walk {
    /// Takes the next row of the log; `false` once the page is full (`more` is then set).
    fn take(&mut self, row: &Row) -> Result<bool, Failure> {
        if self.examined == MAX_EXAMINED {
            self.page.more = true;
            return Ok(false);
        }
        let seq = to_u64(row.try_get(0)?)?;
        if let Some(change) = row.try_get::<_, Option<Vec<u8>>>(2)? {
            let fits = self.used.saturating_add(change.len()) <= self.budget;
            if !self.page.entries.is_empty() && !fits {
                self.page.more = true;
                return Ok(false);
            }
            self.used = self.used.saturating_add(change.len());
            self.page.entries.push(LogEntry {
                seq,
                doc_id: row.try_get(1)?,
                change,
            });
        }
        self.page.cursor = seq;
        self.examined += 1;
        Ok(true)
    }
}

/// How many rows the first statement of a page fetches: about what the budget holds, at a
/// couple of hundred bytes a change; later ones fetch twice as many as the one before.
fn first_chunk(budget: usize) -> usize {
    (budget / 256).clamp(16, 1_024)
}

/// Up to `budget` bytes of entries after `cursor` that `scope` reads (at least one if any
/// remains), skipping those sent by `exclude`.
///
/// The page may be read by several statements, each continuing after the last row seen. That
/// is as safe as a device's next call continuing from the cursor: numbers become visible in
/// increasing order (see [`append_changes`]), so nothing can appear behind a row already seen.
pub(super) fn changes_after(
    c: &mut Client,
    scope: &ReadScope,
    cursor: u64,
    budget: usize,
    exclude: Option<&str>,
) -> Result<LogPage, Failure> {
    let (column, key) = log_scope(scope);
    let sql = log_page_sql(column);
    let mut walk = Walk {
        page: LogPage {
            entries: Vec::new(),
            cursor,
            more: false,
        },
        budget,
        used: 0,
        examined: 0,
    };
    let mut chunk = first_chunk(budget);
    loop {
        // One row beyond MAX_EXAMINED tells whether more remain.
        let want = chunk.min(MAX_EXAMINED + 1 - walk.examined);
        let after = to_i64(walk.page.cursor);
        let rows = c.query_typed(
            &sql,
            &[
                (&exclude, Type::TEXT),
                (&key, Type::TEXT),
                (&after, Type::INT8),
                (&(want as i64), Type::INT8),
            ],
        )?;
        for row in &rows {
            if !walk.take(row)? {
                return Ok(walk.page);
            }
        }
        if rows.len() < want {
            return Ok(walk.page);
        }
        chunk = (chunk * 2).min(MAX_CHUNK);
    }
}

/// Up to `limit` entries after `after`, in log order, without their bytes (walks the primary
/// key from `after`). Safe to continue after the last one: see [`append_changes`].
pub(super) fn log_tail(
    c: &mut Client,
    after: u64,
    limit: usize,
) -> Result<Vec<LogNotice>, Failure> {
    c.query_typed(
        "SELECT seq, doc_id, village, resident_user, device_id FROM change_log
         WHERE seq > $1 ORDER BY seq LIMIT $2",
        &[
            (&to_i64(after), Type::INT8),
            (&i64::try_from(limit).unwrap_or(i64::MAX), Type::INT8),
        ],
    )?
    .iter()
    .map(|r| {
        Ok(LogNotice {
            seq: to_u64(r.try_get(0)?)?,
            doc_id: r.try_get(1)?,
            village: r.try_get(2)?,
            resident_user: r.try_get(3)?,
            device_id: r.try_get(4)?,
        })
    })
    .collect()
}

/// The log's last number, 0 while it is empty. Every smaller number that will ever exist is
/// already visible (see [`append_changes`]).
pub(super) fn log_head(c: &mut Client) -> Result<u64, Failure> {
    to_u64(
        c.query_typed_one("SELECT COALESCE(max(seq), 0) FROM change_log", &[])?
            .try_get(0)?,
    )
}

pub(super) fn audit(c: &mut Client, doc_id: Uuid) -> Result<Vec<AuditEntry>, Failure> {
    c.query_typed(
        "SELECT seq, hash, device_id, user_id, received_at FROM change_log
         WHERE doc_id = $1 ORDER BY seq",
        &[(&doc_id, Type::UUID)],
    )?
    .iter()
    .map(|r| {
        Ok(AuditEntry {
            seq: to_u64(r.try_get(0)?)?,
            hash: hex::encode(r.try_get::<_, &[u8]>(1)?),
            device_id: r.try_get(2)?,
            user_id: r.try_get(3)?,
            received_at: r.try_get(4)?,
        })
    })
    .collect()
}

/// How long the listener waits for a notification before it looks whether its watch ended.
const LISTEN_TICK: Duration = Duration::from_millis(200);
/// How often the listening connection is tried with a query: a connection cut without a word
/// (a half-open link) looks just like a quiet one.
const LISTEN_CHECK: Duration = Duration::from_secs(30);
/// How long that query may take before the connection is taken for dead.
const LISTEN_CHECK_TIMEOUT: Duration = Duration::from_secs(10);
/// The first wait before connecting again after a failed attempt; doubled up to
/// [`RECONNECT_MAX`].
const RECONNECT_FIRST: Duration = Duration::from_millis(250);
/// The longest wait between two attempts to connect.
const RECONNECT_MAX: Duration = Duration::from_secs(5);

/// One connection of its own, on a thread of its own, that `LISTEN`s on [`CHANNEL`] and calls
/// `wake` for each notification of its schema's log (and after each (re)connection, since what
/// was notified meanwhile is lost). Connects again whenever the connection is lost, with a log
/// line each way. Ends (closing the connection) within [`LISTEN_TICK`] of `ended` being set,
/// unless it is connecting.
pub(super) struct Listener {
    /// The connection settings, with the listener's `application_name`.
    pub(super) config: Config,
    /// The schema whose notifications count.
    pub(super) schema: String,
    /// Set when the watch ends.
    pub(super) ended: Arc<AtomicBool>,
    /// Told of each notification.
    pub(super) wake: LogWake,
}

/// Why a listening connection ended.
enum Ended {
    /// The watch ended.
    Asked,
    /// The connection broke, in these words.
    Lost(String),
}

impl Listener {
    fn ended(&self) -> bool {
        self.ended.load(Ordering::Acquire)
    }

    /// Listens until the watch ends.
    pub(super) fn run(self) {
        let mut wait = RECONNECT_FIRST;
        // Whether a connection was lost (the next one is "again"), and whether the current
        // outage was reported already (once per outage, not once per attempt).
        let (mut lost, mut reported) = (false, false);
        while !self.ended() {
            let mut client = match self.connect() {
                Ok(client) => client,
                Err(why) => {
                    if !reported {
                        tracing::warn!(
                            error = %why,
                            "change-log listener: cannot connect to PostgreSQL; trying again \
                             (live notices from other hubs come by polling meanwhile)"
                        );
                        reported = true;
                    } else {
                        tracing::debug!(error = %why, "change-log listener: still cannot connect");
                    }
                    self.pause(wait);
                    wait = (wait * 2).min(RECONNECT_MAX);
                    continue;
                }
            };
            if lost {
                tracing::info!(schema = %self.schema, "change-log listener: listening again");
            } else {
                tracing::debug!(schema = %self.schema, "change-log listener: listening");
            }
            (wait, reported) = (RECONNECT_FIRST, false);
            // Whatever was notified while nobody listened is lost: look at the log now.
            (self.wake)();
            match self.listen(&mut client) {
                Ended::Asked => {
                    let _ = client.close();
                    return;
                }
                Ended::Lost(why) => {
                    tracing::warn!(
                        error = %why,
                        schema = %self.schema,
                        "change-log listener: the connection was lost; connecting again"
                    );
                    lost = true;
                }
            }
        }
    }

    fn connect(&self) -> Result<Client, String> {
        let mut client = self.config.connect(NoTls).map_err(|e| describe(&e))?;
        // The channel name is a constant identifier: nothing to quote.
        client
            .batch_execute(&format!("LISTEN {CHANNEL}"))
            .map_err(|e| describe(&e))?;
        Ok(client)
    }

    /// Waits for notifications on `client` until the watch ends or the connection breaks.
    fn listen(&self, client: &mut Client) -> Ended {
        let mut checked = Instant::now();
        loop {
            if self.ended() {
                return Ended::Asked;
            }
            // One notification (woken at once), or a quiet tick, or the server closed the
            // connection (told apart below).
            match client.notifications().timeout_iter(LISTEN_TICK).next() {
                Ok(Some(n)) => {
                    if self.concerns_us(n.payload()) {
                        (self.wake)();
                    }
                }
                Ok(None) => {}
                Err(e) => return Ended::Lost(describe(&e)),
            }
            if client.is_closed() {
                return Ended::Lost("the server closed the connection".into());
            }
            if checked.elapsed() >= LISTEN_CHECK {
                if let Err(e) = client.is_valid(LISTEN_CHECK_TIMEOUT) {
                    return Ended::Lost(describe(&e));
                }
                checked = Instant::now();
            }
        }
    }

    /// Whether a notification's payload is about this schema's log (one without a schema is
    /// taken as a hint too: reading the log costs little).
    fn concerns_us(&self, payload: &str) -> bool {
        match payload.rsplit_once(':') {
            Some((schema, _)) => schema == self.schema,
            None => true,
        }
    }

    /// Sleeps `wait`, in ticks, unless the watch ends first.
    fn pause(&self, wait: Duration) {
        let until = Instant::now() + wait;
        while !self.ended() {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            std::thread::sleep(left.min(LISTEN_TICK));
        }
    }
}
