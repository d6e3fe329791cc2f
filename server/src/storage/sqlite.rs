//! The embedded backend: one SQLite database, `bianmin.db`, in the hub's data directory.
//!
//! - WAL journal with `synchronous=FULL`: a commit that returned is on disk and survives a
//!   `kill -9` or a power cut.
//! - Exactly one writer connection (behind a mutex) performs every write, each in one
//!   `BEGIN IMMEDIATE` transaction; reads use a small pool of separate connections, so they
//!   never wait for the writer (WAL readers see the last committed state).
//! - The schema is a list of numbered migrations recorded in `PRAGMA user_version`; a database
//!   written by a newer hub is refused ([`StorageError::TooNew`]) before anything is changed.
//! - Every change-log entry carries its village, township, county and resident, each with an
//!   index on `(key, seq)`, so a device's pull walks only what it may read, in log order, and
//!   stops after a page.

use std::fmt;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use bianmin_document::DocIndex;
use bianmin_document::DocKind;
use bianmin_document::index::NO_DUE as NO_DUE_DATE;
use bianmin_document::model::{AgendaRow, Listing, Page, RequestFilter, RequestRow, RequestSort};
use bianmin_domain::{
    Catalog, Directory, Role, Stage, Status, Timestamp, WorkingCalendar, YearCalendar,
};
use bianmin_protocol::ReferenceData;
use chrono::NaiveDate;
use rusqlite::config::DbConfig;
use rusqlite::types::{Type, ValueRef};
use rusqlite::{
    Connection, OpenFlags, OptionalExtension, Row, Transaction, TransactionBehavior, params,
};
use uuid::Uuid;

use super::codes::{index_scope, parse_rating, parse_stage, rating_name};
use super::{
    AccessChange, AccessChanged, AccountStatus, AuditEntry, BlobReference, Checked, Commit,
    DeviceRecord, DocRecord, Lead, LogEntry, LogNotice, LogPage, NewDevice, Open311Key,
    PendingCode, ReadScope, RequestStat, Result, RevealRecord, SessionRecord, Storage,
    StorageError, TokenHolder, UserRecord,
};

mod access;
mod counters;
mod lists;
mod open311_keys;

/// The database file's name inside the data directory.
pub const DB_FILE: &str = "bianmin.db";

/// How many idle read connections are kept.
const READ_POOL: usize = 4;
/// How long a connection waits for a lock held by another process before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// The most change-log entries one [`Storage::changes_after`] call examines (skipped entries
/// included); the caller continues from the returned cursor.
const MAX_EXAMINED: usize = 10_000;

/// The schema, one step per entry: step `n` (1-based) brings `user_version` from `n - 1` to `n`.
/// Never edit a released step; append a new one.
const MIGRATIONS: &[&str] = &[
    // 1: the initial schema.
    r#"
    CREATE TABLE users (
        id            TEXT PRIMARY KEY NOT NULL,
        name          TEXT NOT NULL UNIQUE,
        display_name  TEXT NOT NULL,
        role          TEXT NOT NULL,
        area          TEXT NOT NULL,
        password_hash TEXT,
        created_at    INTEGER NOT NULL
    ) STRICT;

    CREATE TABLE enrolment_codes (
        code_hash  TEXT PRIMARY KEY NOT NULL,
        user_id    TEXT NOT NULL REFERENCES users (id),
        expires_at INTEGER NOT NULL,
        used_at    INTEGER
    ) STRICT;
    CREATE INDEX enrolment_codes_user ON enrolment_codes (user_id);

    CREATE TABLE devices (
        id          TEXT PRIMARY KEY NOT NULL,
        device_no   INTEGER NOT NULL UNIQUE,
        user_id     TEXT NOT NULL REFERENCES users (id),
        name        TEXT NOT NULL,
        token_hash  TEXT NOT NULL UNIQUE,
        actor       TEXT NOT NULL UNIQUE,
        enrolled_at INTEGER NOT NULL,
        revoked_at  INTEGER
    ) STRICT;
    CREATE INDEX devices_user ON devices (user_id);

    CREATE TABLE reference (
        id        INTEGER PRIMARY KEY CHECK (id = 1),
        version   INTEGER NOT NULL,
        catalog   TEXT,
        directory TEXT
    ) STRICT;
    INSERT INTO reference (id, version) VALUES (1, 0);

    CREATE TABLE calendars (
        year     INTEGER PRIMARY KEY,
        calendar TEXT NOT NULL
    ) STRICT;

    CREATE TABLE documents (
        id            TEXT PRIMARY KEY NOT NULL,
        kind          TEXT NOT NULL CHECK (kind IN ('request', 'agenda')),
        village       TEXT NOT NULL,
        township      TEXT NOT NULL,
        resident_user TEXT,
        snapshot      BLOB NOT NULL,
        updated_at    INTEGER NOT NULL
    ) STRICT;

    CREATE TABLE change_log (
        seq           INTEGER PRIMARY KEY AUTOINCREMENT,
        doc_id        TEXT NOT NULL REFERENCES documents (id),
        hash          BLOB NOT NULL UNIQUE,
        village       TEXT NOT NULL,
        township      TEXT NOT NULL,
        county        TEXT NOT NULL,
        resident_user TEXT,
        device_id     TEXT NOT NULL,
        user_id       TEXT NOT NULL,
        received_at   INTEGER NOT NULL,
        change        BLOB NOT NULL
    ) STRICT;
    CREATE INDEX change_log_village  ON change_log (village, seq);
    CREATE INDEX change_log_township ON change_log (township, seq);
    CREATE INDEX change_log_county   ON change_log (county, seq);
    CREATE INDEX change_log_resident ON change_log (resident_user, seq);
    CREATE INDEX change_log_doc      ON change_log (doc_id, seq);
    "#,
    // 2: the index of documents for the console, the dashboard and the public pages: derived
    // from each document at commit (columns as in the tablet's projection, plus what the
    // dashboard counts), rebuilt from the documents when the calendar changes.
    r#"
    CREATE TABLE request_index (
        id               TEXT PRIMARY KEY NOT NULL REFERENCES documents (id),
        receipt_no       TEXT NOT NULL,
        item_code        TEXT NOT NULL,
        village          TEXT NOT NULL,
        township         TEXT NOT NULL,
        county           TEXT NOT NULL,
        grid             TEXT NOT NULL,
        resident_user    TEXT,
        applicant_masked TEXT NOT NULL,
        status           TEXT NOT NULL,
        conflict         INTEGER NOT NULL,
        clock            TEXT NOT NULL,
        due_date         TEXT NOT NULL,
        filed_at         INTEGER NOT NULL,
        updated_at       INTEGER NOT NULL,
        decided_on       TEXT,
        on_time          INTEGER,
        working_days     INTEGER,
        rating           TEXT
    ) STRICT;
    CREATE INDEX request_index_township ON request_index (township, due_date, receipt_no);
    CREATE INDEX request_index_village  ON request_index (village, due_date, receipt_no);
    CREATE INDEX request_index_county   ON request_index (county, due_date, receipt_no);
    CREATE INDEX request_index_resident ON request_index (resident_user, due_date);

    CREATE TABLE agenda_index (
        id         TEXT PRIMARY KEY NOT NULL REFERENCES documents (id),
        village    TEXT NOT NULL,
        township   TEXT NOT NULL,
        county     TEXT NOT NULL,
        title      TEXT NOT NULL,
        category   TEXT NOT NULL,
        stage      TEXT NOT NULL,
        conflict   INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX agenda_index_village  ON agenda_index (village, updated_at);
    CREATE INDEX agenda_index_township ON agenda_index (township, updated_at);
    CREATE INDEX agenda_index_county   ON agenda_index (county, updated_at);
    "#,
    // 3: which requests refer to which blobs (attachments), for the blob endpoints' read
    // checks, written with the index. Request entries are dropped so that the maintenance
    // thread indexes every request again and fills the table for requests stored before it.
    r#"
    CREATE TABLE blob_refs (
        sha256     TEXT NOT NULL,
        doc_id     TEXT NOT NULL REFERENCES documents (id),
        size       INTEGER NOT NULL,
        media_type TEXT NOT NULL,
        PRIMARY KEY (sha256, doc_id)
    ) STRICT, WITHOUT ROWID;
    DELETE FROM request_index;
    "#,
    // 4: the change log's identity (see `Storage::log_id`).
    r#"
    CREATE TABLE hub_meta (
        key   TEXT PRIMARY KEY NOT NULL,
        value TEXT NOT NULL
    ) STRICT, WITHOUT ROWID;
    INSERT INTO hub_meta (key, value) VALUES ('log_id', lower(hex(randomblob(16))));
    "#,
    // 5: console sessions, kept across restarts (by the hash of their id).
    r#"
    CREATE TABLE console_sessions (
        key        TEXT PRIMARY KEY NOT NULL,
        user_id    TEXT NOT NULL,
        csrf       TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        seen_at    INTEGER NOT NULL
    ) STRICT, WITHOUT ROWID;
    "#,
    // 6: look-up by receipt number, for the check that no two requests share one. Not UNIQUE:
    // hubs from before the check may hold forged copies, which must stay readable.
    r#"
    CREATE INDEX request_index_receipt ON request_index (receipt_no);
    "#,
    // 7: reveals of masked values in the console: who, when, which request and field, never
    // the value.
    r#"
    CREATE TABLE reveal_log (
        seq     INTEGER PRIMARY KEY,
        doc_id  TEXT NOT NULL,
        user_id TEXT NOT NULL,
        field   TEXT NOT NULL,
        at      INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX reveal_log_doc ON reveal_log (doc_id, seq);
    "#,
    // 8: each document's version, one more with each commit that stores it: a commit checked
    // against a version another writer moved on is refused (see `Storage::commit_checked`).
    // Documents stored before count as version 1.
    r#"
    ALTER TABLE documents ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
    "#,
    // 9: each receipt number's request, claimed in the transaction that stores the request:
    // two hub processes storing one number for two new requests cannot both commit (see
    // `Storage::commit_checked`). Requests stored before keep the first filed of a number.
    r#"
    CREATE TABLE receipts (
        receipt_no TEXT PRIMARY KEY NOT NULL,
        doc_id     TEXT NOT NULL
    ) STRICT, WITHOUT ROWID;
    INSERT OR IGNORE INTO receipts (receipt_no, doc_id)
        SELECT receipt_no, id FROM request_index ORDER BY filed_at, id;
    "#,
    // 10: counters shared by everything that uses the database (the console's sign-in
    // throttle, the public look-up's limiter; see `Storage::update_counters`): each key's
    // state, deleted once expired.
    r#"
    CREATE TABLE counters (
        key        TEXT PRIMARY KEY NOT NULL,
        state      BLOB NOT NULL,
        expires_at INTEGER NOT NULL
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX counters_expires ON counters (expires_at);
    "#,
    // 11: resident accounts: a user may be deactivated (no sign-in, devices untouched), and a
    // resident activates their account with a one-time code (its hash kept, like enrolment
    // codes; see `Storage::activate_account`).
    r#"
    ALTER TABLE users ADD COLUMN deactivated_at INTEGER;

    CREATE TABLE activation_codes (
        code_hash  TEXT PRIMARY KEY NOT NULL,
        user_id    TEXT NOT NULL REFERENCES users (id),
        issued_at  INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        used_at    INTEGER
    ) STRICT;
    CREATE INDEX activation_codes_user ON activation_codes (user_id);
    "#,
    // 12: Open311 API keys, each for one application in one township: the key's hash only
    // (like enrolment codes), and when it was revoked (see `Storage::add_open311_key`).
    // AUTOINCREMENT: a number is never given again, since the requests an application filed
    // name their key by it.
    r#"
    CREATE TABLE open311_keys (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        key_hash   TEXT NOT NULL UNIQUE,
        township   TEXT NOT NULL,
        name       TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        revoked_at INTEGER
    ) STRICT;
    "#,
    // 13: the applicant's name in the request index, for the console's search (lists keep
    // showing `applicant_masked`). NULL in the entries written before: `document_ids` counts
    // them as unindexed, so the maintenance thread writes them again, name included.
    r#"
    ALTER TABLE request_index ADD COLUMN applicant_name TEXT;
    "#,
];

/// Claims `receipt_no` for the request `doc_id` (see migration 9). A request the checker
/// believed `new` fails with [`StorageError::Conflict`] if another holds the number; one
/// stored before keeps its number whatever the claims say (hubs from before the check may
/// hold two requests with one number, which must stay readable).
fn claim_receipt(tx: &Transaction<'_>, receipt_no: &str, doc_id: &str, new: bool) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO receipts (receipt_no, doc_id) VALUES (?1, ?2)
         ON CONFLICT (receipt_no) DO NOTHING",
    )
    .db()?
    .execute(params![receipt_no, doc_id])
    .db()?;
    if !new {
        return Ok(());
    }
    let holder: String = tx
        .prepare_cached("SELECT doc_id FROM receipts WHERE receipt_no = ?1")
        .db()?
        .query_row(params![receipt_no], |r| r.get(0))
        .db()?;
    if holder != doc_id {
        let doc = Uuid::parse_str(doc_id).map_err(backend)?;
        return Err(StorageError::Conflict { doc });
    }
    Ok(())
}

/// Writes (or rewrites) a document's index row.
fn write_index(tx: &Transaction<'_>, doc_id: &str, index: &DocIndex) -> Result<()> {
    match index {
        DocIndex::Request(r) => {
            let row = &r.row;
            let due = row
                .due
                .map_or_else(|| NO_DUE_DATE.to_string(), |d| d.to_string());
            tx.prepare_cached(
                "INSERT OR REPLACE INTO request_index (id, receipt_no, item_code, village,
                    township, county, grid, resident_user, applicant_masked, status, conflict,
                    clock, due_date, filed_at, updated_at, decided_on, on_time, working_days,
                    rating, applicant_name)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
                    ?17, ?18, ?19, ?20)",
            )
            .db()?
            .execute(params![
                doc_id,
                row.receipt_no,
                row.item_code,
                row.village,
                area_prefix(&row.village, 9)?,
                area_prefix(&row.village, 6)?,
                row.grid,
                r.resident_user,
                row.applicant_masked,
                row.status.as_str(),
                row.conflict,
                row.clock,
                due,
                row.filed_at.0,
                row.updated_at.0,
                r.decision.map(|d| d.on.to_string()),
                r.decision.map(|d| d.on_time),
                r.decision.map(|d| i64::from(d.working_days)),
                r.rating.map(rating_name),
                r.applicant_name,
            ])
            .db()?;
            // References are append-only in the document: nothing to remove.
            for a in &r.attachments {
                tx.prepare_cached(
                    "INSERT OR IGNORE INTO blob_refs (sha256, doc_id, size, media_type)
                     VALUES (?1, ?2, ?3, ?4)",
                )
                .db()?
                .execute(params![
                    a.sha256,
                    doc_id,
                    to_i64(a.size),
                    a.media_type.as_str()
                ])
                .db()?;
            }
        }
        DocIndex::Agenda(row) => {
            tx.prepare_cached(
                "INSERT OR REPLACE INTO agenda_index (id, village, township, county, title,
                    category, stage, conflict, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )
            .db()?
            .execute(params![
                doc_id,
                row.village,
                area_prefix(&row.village, 9)?,
                area_prefix(&row.village, 6)?,
                row.title,
                row.category,
                row.stage.as_str(),
                row.conflict,
                row.updated_at.0,
            ])
            .db()?;
        }
    }
    Ok(())
}

/// The schema version this code writes.
pub(crate) fn supported_version() -> i64 {
    MIGRATIONS.len() as i64
}

/// The hub's storage in one SQLite file.
pub struct SqliteStorage {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
}

impl fmt::Debug for SqliteStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStorage")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// Converts backend results into [`StorageError::Backend`].
trait Db<T> {
    fn db(self) -> Result<T>;
}

impl<T> Db<T> for rusqlite::Result<T> {
    fn db(self) -> Result<T> {
        self.map_err(|e| StorageError::Backend(e.to_string()))
    }
}

fn backend(what: impl fmt::Display) -> StorageError {
    StorageError::Backend(what.to_string())
}

fn poisoned<T>(_: std::sync::PoisonError<T>) -> StorageError {
    backend("a storage lock was poisoned by a panic in another thread")
}

/// The `table.column` a UNIQUE or PRIMARY KEY constraint failure names, if `e` is one.
fn unique_violation(e: &rusqlite::Error) -> Option<&str> {
    match e {
        rusqlite::Error::SqliteFailure(f, msg)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
        {
            Some(
                msg.as_deref()
                    .and_then(|m| m.rsplit(": ").next())
                    .unwrap_or(""),
            )
        }
        _ => None,
    }
}

/// A conversion failure inside a row mapper.
fn bad_column(idx: usize, ty: Type, why: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(idx, ty, why.into())
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn to_u64(n: i64) -> Result<u64> {
    u64::try_from(n).map_err(|_| backend(format!("negative sequence number {n}")))
}

fn parse_kind(s: &str) -> Option<DocKind> {
    match s {
        "request" => Some(DocKind::Request),
        "agenda" => Some(DocKind::Agenda),
        _ => None,
    }
}

/// The first `digits` characters of a 12-digit village code.
fn area_prefix(village: &str, digits: usize) -> Result<&str> {
    if village.len() != 12 || !village.bytes().all(|b| b.is_ascii_digit()) {
        return Err(backend(format!(
            "village code {village:?} is not 12 digits"
        )));
    }
    Ok(&village[..digits])
}

/// The change-log entries after a cursor (`?3`) whose `column` equals `?2`, in log order, at
/// most `?4`; the bytes of entries sent by device `?1` are not read (NULL). Walks the
/// `(column, seq)` index from the cursor: never the whole log, never a sort. One statement, so
/// one consistent snapshot.
fn log_page_sql(column: &str) -> String {
    format!(
        "SELECT seq, doc_id, CASE WHEN device_id = ?1 THEN NULL ELSE change END
         FROM change_log WHERE {column} = ?2 AND seq > ?3
         ORDER BY seq LIMIT ?4"
    )
}

const USER_COLUMNS: &str = "id, name, display_name, role, area, password_hash, created_at";
const DEVICE_COLUMNS: &str = "id, device_no, user_id, name, actor, enrolled_at, revoked_at";

/// Reads a user from `row`, starting at column `at` (in [`USER_COLUMNS`] order).
fn user_at(row: &Row<'_>, at: usize) -> rusqlite::Result<UserRecord> {
    let role: String = row.get(at + 3)?;
    Ok(UserRecord {
        id: row.get(at)?,
        name: row.get(at + 1)?,
        display_name: row.get(at + 2)?,
        role: Role::parse(&role)
            .map_err(|e| bad_column(at + 3, Type::Text, format!("role {role:?}: {e}")))?,
        area: row.get(at + 4)?,
        password_hash: row.get(at + 5)?,
        created_at: row.get(at + 6)?,
    })
}

/// Reads a device from `row`, starting at column `at` (in [`DEVICE_COLUMNS`] order).
fn device_at(row: &Row<'_>, at: usize) -> rusqlite::Result<DeviceRecord> {
    Ok(DeviceRecord {
        id: row.get(at)?,
        device_no: row.get(at + 1)?,
        user_id: row.get(at + 2)?,
        name: row.get(at + 3)?,
        actor: row.get(at + 4)?,
        enrolled_at: row.get(at + 5)?,
        revoked_at: row.get(at + 6)?,
    })
}

fn user_where(conn: &Connection, column: &str, key: &str) -> Result<Option<UserRecord>> {
    conn.prepare_cached(&format!(
        "SELECT {USER_COLUMNS} FROM users WHERE {column} = ?1"
    ))
    .db()?
    .query_row([key], |r| user_at(r, 0))
    .optional()
    .db()
}

fn to_json<T: serde::Serialize>(what: &str, value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| backend(format!("cannot encode the {what}: {e}")))
}

fn from_json<T: serde::de::DeserializeOwned>(what: &str, json: &str) -> Result<T> {
    serde_json::from_str(json).map_err(|e| backend(format!("the stored {what} is unreadable: {e}")))
}

fn user_version(conn: &Connection) -> Result<i64> {
    conn.pragma_query_value(None, "user_version", |r| r.get(0))
        .db()
}

/// Brings the schema up to date, one transaction per step.
fn migrate(conn: &mut Connection) -> Result<()> {
    let found = user_version(conn)?;
    if found > supported_version() {
        return Err(StorageError::TooNew {
            found,
            supported: supported_version(),
        });
    }
    for (step, sql) in MIGRATIONS.iter().enumerate().skip(found.max(0) as usize) {
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Exclusive)
            .db()?;
        tx.execute_batch(sql)
            .map_err(|e| backend(format!("schema migration {}: {e}", step + 1)))?;
        tx.pragma_update(None, "user_version", step as i64 + 1)
            .db()?;
        tx.commit().db()?;
        tracing::info!(version = step + 1, "hub database migrated");
    }
    Ok(())
}

fn open_reader(path: &Path) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .db()?;
    conn.busy_timeout(BUSY_TIMEOUT).db()?;
    conn.pragma_update(None, "query_only", "ON").db()?;
    stable_plans(&conn)?;
    Ok(conn)
}

/// Turns on SQLite's query planner stability guarantee. Without it, SQLite (3.5x) marks
/// statements whose plan could depend on a bound value (`LIMIT ?`, `column = ?` estimates) to be
/// re-prepared whenever that value is rebound, and rusqlite's statement cache clears the
/// bindings of every statement it hands back: the log page and token queries were re-parsed
/// and re-planned on every request (about a tenth of the hub's CPU under load). The plans
/// never depended on the values: every query here walks a fixed index.
fn stable_plans(conn: &Connection) -> Result<()> {
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)
        .db()?;
    Ok(())
}

/// A read connection checked out of the pool; returned on drop.
struct Reader<'a> {
    pool: &'a Mutex<Vec<Connection>>,
    conn: Option<Connection>,
}

impl Deref for Reader<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn
            .as_ref()
            .expect("a checked-out reader holds its connection until dropped")
    }
}

impl Drop for Reader<'_> {
    fn drop(&mut self) {
        if let (Some(conn), Ok(mut pool)) = (self.conn.take(), self.pool.lock())
            && pool.len() < READ_POOL
        {
            pool.push(conn);
        }
    }
}

impl SqliteStorage {
    /// Opens (creating if needed) the database `bianmin.db` in `dir`, creating `dir` too, and
    /// brings its schema up to date. A database from a newer hub is refused untouched with
    /// [`StorageError::TooNew`].
    pub fn open(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir)
            .map_err(|e| backend(format!("cannot create {}: {e}", dir.display())))?;
        let path = dir.join(DB_FILE);
        let mut writer = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| backend(format!("cannot open {}: {e}", path.display())))?;
        writer.busy_timeout(BUSY_TIMEOUT).db()?;
        // Checked before anything (even the journal mode) is changed.
        let found = user_version(&writer)?;
        if found > supported_version() {
            return Err(StorageError::TooNew {
                found,
                supported: supported_version(),
            });
        }
        let mode: String = writer
            .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
            .db()?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(backend(format!(
                "{} cannot use a write-ahead log (journal mode {mode})",
                path.display()
            )));
        }
        writer.pragma_update(None, "synchronous", "FULL").db()?;
        writer.pragma_update(None, "foreign_keys", "ON").db()?;
        stable_plans(&writer)?;
        migrate(&mut writer)?;
        // Make the new file's directory entry durable too.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        let readers = (0..READ_POOL)
            .map(|_| open_reader(&path))
            .collect::<Result<Vec<_>>>()?;
        Ok(SqliteStorage {
            path,
            writer: Mutex::new(writer),
            readers: Mutex::new(readers),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes a consistent copy of the database to `dest` (a new file), while the hub keeps
    /// serving: `VACUUM INTO` reads one snapshot, so writes made meanwhile are simply not in
    /// it. The copy is compacted and opens like any hub database.
    pub fn backup_into(&self, dest: &Path) -> Result<()> {
        let dest = dest
            .to_str()
            .ok_or_else(|| backend(format!("{} is not a UTF-8 path", dest.display())))?;
        // A connection of its own: the pool's are read-only (SQLite refuses `VACUUM INTO` on
        // them) and the writer must stay free for the devices.
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .db()?;
        conn.busy_timeout(BUSY_TIMEOUT).db()?;
        conn.execute("VACUUM INTO ?1", [dest]).db()?;
        // The copy's change log is another one from the moment it is taken: a hub restored from
        // it tells its devices so, and they start over instead of trusting cursors that point
        // past its end.
        let copy = Connection::open(dest).db()?;
        copy.execute(
            "UPDATE hub_meta SET value = lower(hex(randomblob(16))) WHERE key = 'log_id'",
            [],
        )
        .db()?;
        Ok(())
    }

    fn reader(&self) -> Result<Reader<'_>> {
        let idle = self.readers.lock().map_err(poisoned)?.pop();
        let conn = match idle {
            Some(c) => c,
            None => open_reader(&self.path)?,
        };
        Ok(Reader {
            pool: &self.readers,
            conn: Some(conn),
        })
    }

    fn writer(&self) -> Result<MutexGuard<'_, Connection>> {
        self.writer.lock().map_err(poisoned)
    }

    /// Runs `f` in one immediate transaction on the writer: committed if `f` succeeds, rolled
    /// back otherwise.
    fn write<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut conn = self.writer()?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .db()?;
        let out = f(&tx)?;
        tx.commit().db()?;
        Ok(out)
    }

    /// Stores a group of pushes in one transaction (see [`Storage::commit_checked`]): each
    /// with the version its push was checked against, or `None` to store it whatever the
    /// stored version is.
    fn commit_group<'c, 'a: 'c>(
        &self,
        commits: impl ExactSizeIterator<Item = (&'c Commit<'a>, Option<u64>)> + Clone,
    ) -> Result<Vec<u64>> {
        if commits.len() == 0 {
            return Ok(Vec::new());
        }
        self.write(|tx| {
            let mut upsert = tx
                .prepare_cached(
                    "INSERT INTO documents (id, kind, village, township, resident_user, snapshot,
                        updated_at, version)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 1)
                     ON CONFLICT (id) DO UPDATE SET
                        kind = excluded.kind,
                        village = excluded.village,
                        township = excluded.township,
                        resident_user = excluded.resident_user,
                        snapshot = excluded.snapshot,
                        updated_at = excluded.updated_at,
                        version = documents.version + 1",
                )
                .db()?;
            // A document the checker believed new: stored only if none is.
            let mut create = tx
                .prepare_cached(
                    "INSERT INTO documents (id, kind, village, township, resident_user, snapshot,
                        updated_at, version)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 1)
                     ON CONFLICT (id) DO NOTHING",
                )
                .db()?;
            // A document checked at version ?8: stored only if that is still the stored one.
            let mut update = tx
                .prepare_cached(
                    "UPDATE documents SET kind = ?2, village = ?3, township = ?4,
                        resident_user = ?5, snapshot = ?6, updated_at = ?7, version = ?8 + 1
                     WHERE id = ?1 AND version = ?8",
                )
                .db()?;
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO change_log (doc_id, hash, village, township, county,
                        resident_user, device_id, user_id, received_at, change)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                     ON CONFLICT (hash) DO NOTHING",
                )
                .db()?;
            let mut seqs = Vec::with_capacity(commits.len());
            let mut last = None;
            for (c, base) in commits.clone() {
                let township = area_prefix(c.village, 9)?;
                let county = area_prefix(c.village, 6)?;
                let doc_id = c.doc_id.to_string();
                let document = params![
                    doc_id,
                    c.kind.as_str(),
                    c.village,
                    township,
                    c.resident_user,
                    c.snapshot,
                    c.received_at,
                ];
                let stored = match base {
                    None => upsert.execute(document).db()?,
                    Some(0) => create.execute(document).db()?,
                    Some(base) => update
                        .execute(params![
                            doc_id,
                            c.kind.as_str(),
                            c.village,
                            township,
                            c.resident_user,
                            c.snapshot,
                            c.received_at,
                            to_i64(base),
                        ])
                        .db()?,
                };
                if stored != 1 {
                    // Dropping the transaction rolls the whole group back.
                    return Err(StorageError::Conflict { doc: c.doc_id });
                }
                if let Some(index) = c.index {
                    write_index(tx, &doc_id, index)?;
                    if let DocIndex::Request(r) = index {
                        claim_receipt(tx, &r.row.receipt_no, &doc_id, base == Some(0))?;
                    }
                }
                for (hash, change) in c.changes {
                    let added = insert
                        .execute(params![
                            doc_id,
                            hash.as_slice(),
                            c.village,
                            township,
                            county,
                            c.resident_user,
                            c.device_id,
                            c.user_id,
                            c.received_at,
                            change,
                        ])
                        .db()?;
                    if added == 1 {
                        last = Some(tx.last_insert_rowid());
                    }
                }
                let seq = match last {
                    Some(seq) => seq,
                    None => tx
                        .query_row("SELECT COALESCE(MAX(seq), 0) FROM change_log", [], |r| {
                            r.get(0)
                        })
                        .db()?,
                };
                last = Some(seq);
                seqs.push(to_u64(seq)?);
            }
            Ok(seqs)
        })
    }
}

impl Storage for SqliteStorage {
    fn add_user(&self, user: &UserRecord) -> Result<()> {
        self.write(|tx| {
            let inserted = tx
                .prepare_cached(&format!(
                    "INSERT INTO users ({USER_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
                ))
                .db()?
                .execute(params![
                    user.id,
                    user.name,
                    user.display_name,
                    user.role.as_str(),
                    user.area,
                    user.password_hash,
                    user.created_at,
                ]);
            match inserted {
                Ok(_) => Ok(()),
                Err(e) => Err(match unique_violation(&e) {
                    Some("users.id") => StorageError::Duplicate(format!("user id {}", user.id)),
                    Some(_) => StorageError::Duplicate(format!("user name {}", user.name)),
                    None => backend(e),
                }),
            }
        })
    }

    fn user(&self, id: &str) -> Result<Option<UserRecord>> {
        user_where(&*self.reader()?, "id", id)
    }

    fn user_by_name(&self, name: &str) -> Result<Option<UserRecord>> {
        user_where(&*self.reader()?, "name", name)
    }

    fn users(&self) -> Result<Vec<UserRecord>> {
        let conn = self.reader()?;
        let mut stmt = conn
            .prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users ORDER BY name"))
            .db()?;
        stmt.query_map([], |r| user_at(r, 0))
            .db()?
            .collect::<rusqlite::Result<_>>()
            .db()
    }

    fn set_password(&self, user_id: &str, hash: Option<&str>) -> Result<()> {
        self.write(|tx| access::set_password(tx, user_id, hash))
    }

    fn save_session(&self, session: &SessionRecord) -> Result<()> {
        self.write(|tx| {
            tx.prepare_cached(
                "INSERT OR REPLACE INTO console_sessions (key, user_id, csrf, created_at, seen_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .db()?
            .execute(params![
                session.key,
                session.user_id,
                session.csrf,
                session.created_at,
                session.seen_at
            ])
            .db()?;
            Ok(())
        })
    }

    fn session(&self, key: &str) -> Result<Option<SessionRecord>> {
        self.reader()?
            .prepare_cached(
                "SELECT key, user_id, csrf, created_at, seen_at FROM console_sessions
                 WHERE key = ?1",
            )
            .db()?
            .query_row([key], |r| {
                Ok(SessionRecord {
                    key: r.get(0)?,
                    user_id: r.get(1)?,
                    csrf: r.get(2)?,
                    created_at: r.get(3)?,
                    seen_at: r.get(4)?,
                })
            })
            .optional()
            .db()
    }

    fn delete_session(&self, key: &str) -> Result<()> {
        self.write(|tx| {
            tx.prepare_cached("DELETE FROM console_sessions WHERE key = ?1")
                .db()?
                .execute([key])
                .db()?;
            Ok(())
        })
    }

    fn delete_user_sessions(&self, user_id: &str) -> Result<usize> {
        self.write(|tx| {
            tx.prepare_cached("DELETE FROM console_sessions WHERE user_id = ?1")
                .db()?
                .execute([user_id])
                .db()
        })
    }

    fn expire_sessions(&self, seen_before: i64, created_before: i64) -> Result<usize> {
        self.write(|tx| {
            tx.prepare_cached("DELETE FROM console_sessions WHERE seen_at < ?1 OR created_at < ?2")
                .db()?
                .execute(params![seen_before, created_before])
                .db()
        })
    }

    fn add_enrolment_code(&self, code_hash: &str, user_id: &str, expires_at: i64) -> Result<()> {
        self.write(|tx| {
            if user_where(tx, "id", user_id)?.is_none() {
                return Err(StorageError::NotFound(format!("user {user_id}")));
            }
            tx.execute(
                "INSERT INTO enrolment_codes (code_hash, user_id, expires_at) VALUES (?1, ?2, ?3)",
                params![code_hash, user_id, expires_at],
            )
            .map_err(|e| match unique_violation(&e) {
                Some(_) => StorageError::Duplicate("enrolment code".into()),
                None => backend(e),
            })?;
            Ok(())
        })
    }

    fn redeem_enrolment_code(
        &self,
        code_hash: &str,
        device: &NewDevice,
    ) -> Result<(DeviceRecord, UserRecord)> {
        self.write(|tx| {
            let code: Option<(String, i64, Option<i64>)> = tx
                .query_row(
                    "SELECT user_id, expires_at, used_at FROM enrolment_codes WHERE code_hash = ?1",
                    [code_hash],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()
                .db()?;
            let user_id = match code {
                Some((user_id, expires_at, None)) if expires_at > device.now => user_id,
                _ => return Err(StorageError::CodeInvalid),
            };
            tx.execute(
                "UPDATE enrolment_codes SET used_at = ?1 WHERE code_hash = ?2",
                params![device.now, code_hash],
            )
            .db()?;
            let user = user_where(tx, "id", &user_id)?
                .ok_or_else(|| backend(format!("enrolment code of unknown user {user_id}")))?;
            let last: i64 = tx
                .query_row("SELECT COALESCE(MAX(device_no), 0) FROM devices", [], |r| {
                    r.get(0)
                })
                .db()?;
            let device_no =
                u32::try_from(last + 1).map_err(|_| backend("device numbers are exhausted"))?;
            let record = DeviceRecord {
                id: Uuid::new_v4().to_string(),
                device_no,
                user_id,
                name: device.name.clone(),
                actor: device.actor.clone(),
                enrolled_at: device.now,
                revoked_at: None,
            };
            tx.execute(
                "INSERT INTO devices (id, device_no, user_id, name, token_hash, actor, enrolled_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    record.id,
                    record.device_no,
                    record.user_id,
                    record.name,
                    device.token_hash,
                    record.actor,
                    record.enrolled_at,
                ],
            )
            .map_err(|e| match unique_violation(&e) {
                Some("devices.actor") => {
                    StorageError::Duplicate(format!("device actor {}", record.actor))
                }
                Some("devices.token_hash") => StorageError::Duplicate("device token".into()),
                Some(other) => StorageError::Duplicate(other.to_string()),
                None => backend(e),
            })?;
            Ok((record, user))
        })
    }

    fn token_holder(&self, token_hash: &str) -> Result<Option<TokenHolder>> {
        let conn = self.reader()?;
        conn.prepare_cached(
            "SELECT d.id, d.device_no, d.user_id, d.name, d.actor, d.enrolled_at, d.revoked_at,
                    u.id, u.name, u.display_name, u.role, u.area, u.password_hash, u.created_at,
                    u.deactivated_at
             FROM devices d JOIN users u ON u.id = d.user_id
             WHERE d.token_hash = ?1",
        )
        .db()?
        .query_row([token_hash], |r| {
            Ok(TokenHolder {
                device: device_at(r, 0)?,
                user: user_at(r, 7)?,
                deactivated_at: r.get(14)?,
            })
        })
        .optional()
        .db()
    }

    fn devices(&self) -> Result<Vec<DeviceRecord>> {
        let conn = self.reader()?;
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {DEVICE_COLUMNS} FROM devices ORDER BY device_no"
            ))
            .db()?;
        stmt.query_map([], |r| device_at(r, 0))
            .db()?
            .collect::<rusqlite::Result<_>>()
            .db()
    }

    fn revoke_device(&self, device_id: &str, at: i64) -> Result<bool> {
        self.write(|tx| {
            let changed = tx
                .execute(
                    "UPDATE devices SET revoked_at = ?1 WHERE id = ?2 AND revoked_at IS NULL",
                    params![at, device_id],
                )
                .db()?;
            if changed == 1 {
                return Ok(true);
            }
            let exists = tx
                .query_row("SELECT 1 FROM devices WHERE id = ?1", [device_id], |_| {
                    Ok(())
                })
                .optional()
                .db()?
                .is_some();
            if exists {
                Ok(false)
            } else {
                Err(StorageError::NotFound(format!("device {device_id}")))
            }
        })
    }

    fn add_activation_code(
        &self,
        code_hash: &str,
        user_id: &str,
        issued_at: i64,
        expires_at: i64,
    ) -> Result<()> {
        self.write(|tx| {
            if user_where(tx, "id", user_id)?.is_none() {
                return Err(StorageError::NotFound(format!("user {user_id}")));
            }
            tx.prepare_cached(
                "DELETE FROM activation_codes WHERE user_id = ?1 AND used_at IS NULL",
            )
            .db()?
            .execute([user_id])
            .db()?;
            tx.prepare_cached(
                "INSERT INTO activation_codes (code_hash, user_id, issued_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4)",
            )
            .db()?
            .execute(params![code_hash, user_id, issued_at, expires_at])
            .map_err(|e| match unique_violation(&e) {
                Some(_) => StorageError::Duplicate("activation code".into()),
                None => backend(e),
            })?;
            Ok(())
        })
    }

    fn activate_account(
        &self,
        user_name: &str,
        code_hash: &str,
        password_hash: &str,
        now: i64,
    ) -> Result<UserRecord> {
        self.write(|tx| {
            // The code must be this user's, unused and unexpired, and the account active.
            let user_id: Option<String> = tx
                .prepare_cached(
                    "UPDATE activation_codes SET used_at = ?1
                     WHERE code_hash = ?2 AND used_at IS NULL AND expires_at > ?1
                       AND user_id = (SELECT id FROM users
                                      WHERE name = ?3 AND deactivated_at IS NULL)
                     RETURNING user_id",
                )
                .db()?
                .query_row(params![now, code_hash, user_name], |r| r.get(0))
                .optional()
                .db()?;
            let Some(user_id) = user_id else {
                return Err(StorageError::CodeInvalid);
            };
            tx.prepare_cached("UPDATE users SET password_hash = ?1 WHERE id = ?2")
                .db()?
                .execute(params![password_hash, user_id])
                .db()?;
            tx.prepare_cached("DELETE FROM console_sessions WHERE user_id = ?1")
                .db()?
                .execute([&user_id])
                .db()?;
            user_where(tx, "id", &user_id)?
                .ok_or_else(|| backend(format!("activation code of unknown user {user_id}")))
        })
    }

    fn set_deactivated(&self, user_id: &str, at: Option<i64>) -> Result<bool> {
        self.write(|tx| access::set_deactivated(tx, user_id, at))
    }

    fn account_status(&self, user_id: &str) -> Result<AccountStatus> {
        let conn = self.reader()?;
        let deactivated_at: Option<i64> = conn
            .prepare_cached("SELECT deactivated_at FROM users WHERE id = ?1")
            .db()?
            .query_row([user_id], |r| r.get(0))
            .optional()
            .db()?
            .ok_or_else(|| StorageError::NotFound(format!("user {user_id}")))?;
        let pending_code = conn
            .prepare_cached(
                "SELECT issued_at, expires_at FROM activation_codes
                 WHERE user_id = ?1 AND used_at IS NULL
                 ORDER BY issued_at DESC LIMIT 1",
            )
            .db()?
            .query_row([user_id], |r| {
                Ok(PendingCode {
                    issued_at: r.get(0)?,
                    expires_at: r.get(1)?,
                })
            })
            .optional()
            .db()?;
        Ok(AccountStatus {
            deactivated_at,
            pending_code,
        })
    }

    fn change_access(&self, user_id: &str, change: AccessChange<'_>) -> Result<AccessChanged> {
        self.write(|tx| access::change_access(tx, user_id, change))
    }

    fn set_display_name(&self, user_id: &str, display_name: &str) -> Result<()> {
        self.write(|tx| access::set_display_name(tx, user_id, display_name))
    }

    fn log_id(&self) -> Result<String> {
        self.reader()?
            .query_row("SELECT value FROM hub_meta WHERE key = 'log_id'", [], |r| {
                r.get(0)
            })
            .db()
    }

    fn renew_log_id(&self) -> Result<String> {
        self.write(|tx| {
            tx.query_row(
                "UPDATE hub_meta SET value = lower(hex(randomblob(16))) WHERE key = 'log_id'
                 RETURNING value",
                [],
                |r| r.get(0),
            )
            .db()
        })
    }

    fn reference(&self) -> Result<Option<ReferenceData>> {
        let conn = self.reader()?;
        // One read transaction: the row and the calendars of the same version.
        let tx = conn.unchecked_transaction().db()?;
        let (version, catalog, directory): (i64, Option<String>, Option<String>) = tx
            .query_row(
                "SELECT version, catalog, directory FROM reference WHERE id = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .db()?;
        let (Some(catalog), Some(directory)) = (catalog, directory) else {
            return Ok(None);
        };
        let calendars = tx
            .prepare("SELECT calendar FROM calendars ORDER BY year")
            .db()?
            .query_map([], |r| r.get::<_, String>(0))
            .db()?
            .collect::<rusqlite::Result<Vec<_>>>()
            .db()?
            .iter()
            .map(|json| from_json::<YearCalendar>("calendar", json))
            .collect::<Result<Vec<_>>>()?;
        Ok(Some(ReferenceData {
            version: to_u64(version)?,
            catalog: from_json::<Catalog>("catalog", &catalog)?,
            directory: from_json::<Directory>("directory", &directory)?,
            calendars,
        }))
    }

    fn set_reference(
        &self,
        catalog: Option<&Catalog>,
        directory: Option<&Directory>,
        calendar: Option<&YearCalendar>,
    ) -> Result<u64> {
        let catalog = catalog.map(|c| to_json("catalog", c)).transpose()?;
        let directory = directory.map(|d| to_json("directory", d)).transpose()?;
        let calendar = calendar
            .map(|c| Ok::<_, StorageError>((c.year, to_json("calendar", c)?)))
            .transpose()?;
        self.write(|tx| {
            if let Some(json) = &catalog {
                tx.execute("UPDATE reference SET catalog = ?1 WHERE id = 1", [json])
                    .db()?;
            }
            if let Some(json) = &directory {
                tx.execute("UPDATE reference SET directory = ?1 WHERE id = 1", [json])
                    .db()?;
            }
            if let Some((year, json)) = &calendar {
                tx.execute(
                    "INSERT INTO calendars (year, calendar) VALUES (?1, ?2)
                     ON CONFLICT (year) DO UPDATE SET calendar = excluded.calendar",
                    params![year, json],
                )
                .db()?;
            }
            tx.execute(
                "UPDATE reference SET version = version + 1 WHERE id = 1",
                [],
            )
            .db()?;
            let version: i64 = tx
                .query_row("SELECT version FROM reference WHERE id = 1", [], |r| {
                    r.get(0)
                })
                .db()?;
            to_u64(version)
        })
    }

    fn document(&self, id: Uuid) -> Result<Option<DocRecord>> {
        let conn = self.reader()?;
        conn.prepare_cached("SELECT snapshot, kind, village, version FROM documents WHERE id = ?1")
            .db()?
            .query_row([id.to_string()], |r| {
                let kind: String = r.get(1)?;
                let version: i64 = r.get(3)?;
                Ok(DocRecord {
                    bytes: r.get(0)?,
                    kind: parse_kind(&kind).ok_or_else(|| {
                        bad_column(1, Type::Text, format!("unknown document kind {kind:?}"))
                    })?,
                    village: r.get(2)?,
                    version: u64::try_from(version).map_err(|_| {
                        bad_column(3, Type::Integer, format!("negative version {version}"))
                    })?,
                })
            })
            .optional()
            .db()
    }

    fn document_version(&self, id: Uuid) -> Result<Option<u64>> {
        let conn = self.reader()?;
        let version: Option<i64> = conn
            .prepare_cached("SELECT version FROM documents WHERE id = ?1")
            .db()?
            .query_row([id.to_string()], |r| r.get(0))
            .optional()
            .db()?;
        version.map(to_u64).transpose()
    }

    fn commit_checked(&self, commits: &[Checked<'_>]) -> Result<Vec<u64>> {
        self.commit_group(commits.iter().map(|c| (&c.commit, Some(c.base_version))))
    }

    fn commit_all(&self, commits: &[Commit<'_>]) -> Result<Vec<u64>> {
        self.commit_group(commits.iter().map(|c| (c, None)))
    }

    fn changes_after(
        &self,
        scope: &ReadScope,
        cursor: u64,
        byte_budget: usize,
        exclude_device: Option<&str>,
    ) -> Result<LogPage> {
        let (column, key) = match scope {
            ReadScope::Resident { user } => ("resident_user", user.as_str()),
            ReadScope::Village(code) => ("village", code.as_str()),
            ReadScope::Township(code) => ("township", code.as_str()),
            ReadScope::County(code) => ("county", code.as_str()),
        };
        let conn = self.reader()?;
        // Rows are stepped lazily: the walk stops at the first entry that does not fit.
        let mut stmt = conn.prepare_cached(&log_page_sql(column)).db()?;
        let mut rows = stmt
            .query(params![
                exclude_device,
                key,
                to_i64(cursor),
                (MAX_EXAMINED + 1) as i64
            ])
            .db()?;
        let mut page = LogPage {
            entries: Vec::new(),
            cursor,
            more: false,
        };
        let mut used = 0usize;
        let mut examined = 0usize;
        while let Some(row) = rows.next().db()? {
            if examined == MAX_EXAMINED {
                page.more = true;
                break;
            }
            let seq = to_u64(row.get(0).db()?)?;
            match row.get_ref(2).db()? {
                ValueRef::Null => {}
                ValueRef::Blob(change) => {
                    if !page.entries.is_empty() && used.saturating_add(change.len()) > byte_budget {
                        page.more = true;
                        break;
                    }
                    used += change.len();
                    let doc: String = row.get(1).db()?;
                    let doc_id = Uuid::parse_str(&doc)
                        .map_err(|e| backend(format!("stored document id {doc:?}: {e}")))?;
                    page.entries.push(LogEntry {
                        seq,
                        doc_id,
                        change: change.to_vec(),
                    });
                }
                other => {
                    return Err(backend(format!(
                        "change {seq} is stored as {:?}, not a blob",
                        other.data_type()
                    )));
                }
            }
            page.cursor = seq;
            examined += 1;
        }
        Ok(page)
    }

    fn log_tail(&self, after: u64, limit: usize) -> Result<Vec<LogNotice>> {
        let conn = self.reader()?;
        let mut stmt = conn
            .prepare_cached(
                "SELECT seq, doc_id, village, resident_user, device_id FROM change_log
                 WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            )
            .db()?;
        let rows = stmt
            .query_map(
                params![to_i64(after), i64::try_from(limit).unwrap_or(i64::MAX)],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, Option<String>>(3)?,
                        r.get::<_, String>(4)?,
                    ))
                },
            )
            .db()?
            .collect::<rusqlite::Result<Vec<_>>>()
            .db()?;
        rows.into_iter()
            .map(|(seq, doc, village, resident_user, device_id)| {
                Ok(LogNotice {
                    seq: to_u64(seq)?,
                    doc_id: Uuid::parse_str(&doc)
                        .map_err(|e| backend(format!("stored document id {doc:?}: {e}")))?,
                    village,
                    resident_user,
                    device_id,
                })
            })
            .collect()
    }

    fn log_head(&self) -> Result<u64> {
        let conn = self.reader()?;
        let head: i64 = conn
            .query_row("SELECT COALESCE(MAX(seq), 0) FROM change_log", [], |r| {
                r.get(0)
            })
            .db()?;
        to_u64(head)
    }

    fn audit(&self, doc_id: Uuid) -> Result<Vec<AuditEntry>> {
        let conn = self.reader()?;
        let mut stmt = conn
            .prepare_cached(
                "SELECT seq, hash, device_id, user_id, received_at FROM change_log
                 WHERE doc_id = ?1 ORDER BY seq",
            )
            .db()?;
        let rows = stmt
            .query_map([doc_id.to_string()], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, Vec<u8>>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, i64>(4)?,
                ))
            })
            .db()?
            .collect::<rusqlite::Result<Vec<_>>>()
            .db()?;
        rows.into_iter()
            .map(|(seq, hash, device_id, user_id, received_at)| {
                Ok(AuditEntry {
                    seq: to_u64(seq)?,
                    hash: hex::encode(hash),
                    device_id,
                    user_id,
                    received_at,
                })
            })
            .collect()
    }

    fn requests(
        &self,
        scope: &ReadScope,
        filter: &RequestFilter,
        sort: RequestSort,
        page: Page,
        today: NaiveDate,
        calendar: &WorkingCalendar,
    ) -> Result<Listing<RequestRow>> {
        let conn = self.reader()?;
        bianmin_document::sqlite::list_requests(
            &conn,
            "request_index",
            filter,
            sort,
            page,
            today,
            calendar,
            Some(index_scope(scope)),
        )
        .map_err(|e| match e {
            bianmin_document::Error::Invalid { field, rule } => {
                StorageError::Invalid(format!("{field}: {rule}"))
            }
            other => backend(other),
        })
    }

    fn count_requests(
        &self,
        scope: &ReadScope,
        filter: &RequestFilter,
        today: NaiveDate,
        calendar: &WorkingCalendar,
    ) -> Result<u64> {
        lists::count_requests(&*self.reader()?, scope, filter, today, calendar)
    }

    fn request_ledger(
        &self,
        scope: &ReadScope,
        filter: &RequestFilter,
        today: NaiveDate,
        calendar: &WorkingCalendar,
        max: usize,
    ) -> Result<Listing<RequestRow>> {
        lists::request_ledger(&*self.reader()?, scope, filter, today, calendar, max)
    }

    fn overdue_by_village(
        &self,
        scope: &ReadScope,
        today: NaiveDate,
    ) -> Result<Vec<super::OverdueVillage>> {
        lists::overdue_by_village(&*self.reader()?, scope, today)
    }

    fn request_stats(&self, scope: &ReadScope) -> Result<Vec<RequestStat>> {
        let (column, value) = index_scope(scope);
        let conn = self.reader()?;
        let sql = format!(
            "SELECT village, item_code, status, rating, count(*),
                count(decided_on), COALESCE(sum(on_time), 0), COALESCE(sum(working_days), 0)
             FROM request_index WHERE {column} = ?1
             GROUP BY village, item_code, status, rating
             ORDER BY village, item_code, status, rating"
        );
        let mut stmt = conn.prepare_cached(&sql).db()?;
        let rows = stmt
            .query_map([value], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, i64>(5)?,
                    r.get::<_, i64>(6)?,
                    r.get::<_, i64>(7)?,
                ))
            })
            .db()?
            .collect::<rusqlite::Result<Vec<_>>>()
            .db()?;
        rows.into_iter()
            .map(
                |(village, item_code, status, rating, count, decided, on_time, days)| {
                    Ok(RequestStat {
                        village,
                        item_code,
                        status: Status::parse(&status)
                            .ok_or_else(|| backend(format!("unknown status {status:?}")))?,
                        rating: rating.as_deref().and_then(parse_rating),
                        count: to_u64(count)?,
                        decided: to_u64(decided)?,
                        on_time: to_u64(on_time)?,
                        working_days: to_u64(days)?,
                    })
                },
            )
            .collect()
    }

    fn agenda_rows(&self, scope: &ReadScope, stages: &[Stage]) -> Result<Vec<AgendaRow>> {
        let (column, value) = index_scope(scope);
        if column == "resident_user" {
            return Ok(Vec::new());
        }
        let conn = self.reader()?;
        let sql = format!(
            "SELECT id, village, title, category, stage, conflict, updated_at
             FROM agenda_index WHERE {column} = ?1 ORDER BY updated_at DESC, id"
        );
        let mut stmt = conn.prepare_cached(&sql).db()?;
        let rows = stmt
            .query_map([value], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, bool>(5)?,
                    r.get::<_, i64>(6)?,
                ))
            })
            .db()?
            .collect::<rusqlite::Result<Vec<_>>>()
            .db()?;
        let mut out = Vec::new();
        for (id, village, title, category, stage, conflict, updated_at) in rows {
            let stage =
                parse_stage(&stage).ok_or_else(|| backend(format!("unknown stage {stage:?}")))?;
            if !stages.is_empty() && !stages.contains(&stage) {
                continue;
            }
            out.push(AgendaRow {
                id: Uuid::parse_str(&id).map_err(backend)?,
                village,
                title,
                category,
                stage,
                conflict,
                updated_at: Timestamp(updated_at),
            });
        }
        Ok(out)
    }

    fn reindex(&self, entries: &[(Uuid, u64, DocIndex)]) -> Result<usize> {
        self.write(|tx| {
            let mut written = 0;
            for (id, version, index) in entries {
                let id = id.to_string();
                let stored: Option<i64> = tx
                    .prepare_cached("SELECT version FROM documents WHERE id = ?1")
                    .db()?
                    .query_row(params![id], |r| r.get(0))
                    .optional()
                    .db()?;
                if stored == Some(to_i64(*version)) {
                    write_index(tx, &id, index)?;
                    written += 1;
                }
            }
            Ok(written)
        })
    }

    /// One hub process per SQLite database: it always leads.
    fn lead_maintenance(&self) -> Result<Option<Box<dyn Lead>>> {
        struct Sole;
        impl Lead for Sole {
            fn holds(&mut self) -> bool {
                true
            }
        }
        Ok(Some(Box::new(Sole)))
    }

    fn document_ids(
        &self,
        after: Option<Uuid>,
        limit: usize,
        unindexed: bool,
    ) -> Result<Vec<Uuid>> {
        let conn = self.reader()?;
        let filter = if unindexed {
            // A request's entry from before migration 13 lacks the applicant's name.
            "AND id NOT IN (SELECT id FROM request_index WHERE applicant_name IS NOT NULL)
             AND id NOT IN (SELECT id FROM agenda_index)"
        } else {
            ""
        };
        let sql = format!("SELECT id FROM documents WHERE id > ?1 {filter} ORDER BY id LIMIT ?2");
        let mut stmt = conn.prepare_cached(&sql).db()?;
        let ids = stmt
            .query_map(
                params![
                    after.map(|u| u.to_string()).unwrap_or_default(),
                    limit as i64
                ],
                |r| r.get::<_, String>(0),
            )
            .db()?
            .collect::<rusqlite::Result<Vec<_>>>()
            .db()?;
        ids.iter()
            .map(|id| Uuid::parse_str(id).map_err(backend))
            .collect()
    }

    fn request_by_receipt(&self, receipt_no: &str) -> Result<Option<Uuid>> {
        let conn = self.reader()?;
        let id: Option<String> = conn
            .query_row(
                "SELECT id FROM request_index WHERE receipt_no = ?1 ORDER BY filed_at LIMIT 1",
                params![receipt_no],
                |r| r.get(0),
            )
            .optional()
            .db()?;
        id.map(|id| Uuid::parse_str(&id).map_err(backend))
            .transpose()
    }

    fn last_receipt(&self, prefix: &str) -> Result<Option<String>> {
        let conn = self.reader()?;
        conn.prepare_cached(
            "SELECT receipt_no FROM receipts WHERE receipt_no >= ?1 AND receipt_no < ?2
             ORDER BY length(receipt_no) DESC, receipt_no DESC LIMIT 1",
        )
        .db()?
        .query_row(params![prefix, format!("{prefix}\u{10FFFF}")], |r| r.get(0))
        .optional()
        .db()
    }

    fn blob_references(&self, sha256: &str) -> Result<Vec<BlobReference>> {
        let conn = self.reader()?;
        let mut stmt = conn
            .prepare_cached(
                "SELECT b.doc_id, r.village, r.resident_user, b.size, b.media_type
                 FROM blob_refs b JOIN request_index r ON r.id = b.doc_id
                 WHERE b.sha256 = ?1 ORDER BY b.doc_id",
            )
            .db()?;
        let rows = stmt
            .query_map(params![sha256], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, String>(4)?,
                ))
            })
            .db()?
            .collect::<rusqlite::Result<Vec<_>>>()
            .db()?;
        rows.into_iter()
            .map(|(id, village, resident_user, size, media_type)| {
                Ok(BlobReference {
                    doc_id: Uuid::parse_str(&id).map_err(backend)?,
                    village,
                    resident_user,
                    size: to_u64(size)?,
                    media_type,
                })
            })
            .collect()
    }

    fn counts(&self) -> Result<(u64, u64)> {
        let conn = self.reader()?;
        let (docs, changes): (i64, i64) = conn
            .query_row(
                "SELECT (SELECT count(*) FROM documents), (SELECT count(*) FROM change_log)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .db()?;
        Ok((to_u64(docs)?, to_u64(changes)?))
    }

    fn record_reveal(&self, reveal: &RevealRecord) -> Result<()> {
        self.write(|tx| {
            tx.prepare_cached(
                "INSERT INTO reveal_log (doc_id, user_id, field, at) VALUES (?1, ?2, ?3, ?4)",
            )
            .db()?
            .execute(params![
                reveal.doc_id.to_string(),
                reveal.user_id,
                reveal.field,
                reveal.at
            ])
            .db()?;
            Ok(())
        })
    }

    fn reveals(&self, doc_id: Uuid) -> Result<Vec<RevealRecord>> {
        self.reader()?
            .prepare_cached(
                "SELECT user_id, field, at FROM reveal_log WHERE doc_id = ?1 ORDER BY seq",
            )
            .db()?
            .query_map([doc_id.to_string()], |r| {
                Ok(RevealRecord {
                    doc_id,
                    user_id: r.get(0)?,
                    field: r.get(1)?,
                    at: r.get(2)?,
                })
            })
            .db()?
            .collect::<rusqlite::Result<Vec<_>>>()
            .db()
    }

    fn update_counters(
        &self,
        keys: &[&str],
        now: i64,
        update: &mut super::CounterUpdate<'_>,
    ) -> Result<()> {
        self.write(|tx| counters::update(tx, keys, now, update))
    }

    fn add_open311_key(
        &self,
        key_hash: &str,
        township: &str,
        name: &str,
        created_at: i64,
    ) -> Result<Open311Key> {
        self.write(|tx| open311_keys::add(tx, key_hash, township, name, created_at))
    }

    fn open311_key_by_hash(&self, key_hash: &str) -> Result<Option<Open311Key>> {
        open311_keys::by(&*self.reader()?, "key_hash", &key_hash)
    }

    fn open311_key(&self, id: u64) -> Result<Option<Open311Key>> {
        open311_keys::by(&*self.reader()?, "id", &to_i64(id))
    }

    fn open311_keys(&self) -> Result<Vec<Open311Key>> {
        open311_keys::all(&*self.reader()?)
    }

    fn revoke_open311_key(&self, id: u64, at: i64) -> Result<bool> {
        self.write(|tx| open311_keys::revoke(tx, to_i64(id), at))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use bianmin_domain::demo;

    use super::*;
    use crate::storage::suite;

    fn user(id: &str, name: &str) -> UserRecord {
        UserRecord {
            id: id.into(),
            name: name.into(),
            display_name: "李伟".into(),
            role: Role::Clerk,
            area: "370883101201".into(),
            password_hash: None,
            created_at: 1_772_409_600_000,
        }
    }

    fn push(s: &SqliteStorage, doc: Uuid, seed: u8, n: u8) -> u64 {
        let changes: Vec<([u8; 32], Vec<u8>)> = (0..n)
            .map(|i| {
                (
                    [seed.wrapping_add(i); 32],
                    vec![0x85, 0x6f, 0x4a, 0x83, seed, i],
                )
            })
            .collect();
        s.commit(&Commit {
            doc_id: doc,
            kind: DocKind::Request,
            village: "370883101201",
            resident_user: Some("u-res"),
            snapshot: &[seed; 16],
            changes: &changes,
            device_id: "dev-1",
            user_id: "u-clerk",
            received_at: 1_772_409_600_000,
            index: None,
        })
        .unwrap()
    }

    #[test]
    fn passes_the_shared_suite() {
        let root = tempfile::tempdir().unwrap();
        let n = AtomicUsize::new(0);
        suite::run_all(&|| {
            let dir = root
                .path()
                .join(format!("hub-{}", n.fetch_add(1, Ordering::Relaxed)));
            Box::new(SqliteStorage::open(&dir).unwrap())
        });
    }

    #[test]
    fn open_creates_the_directory_and_configures_the_database() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("data").join("hub");
        let s = SqliteStorage::open(&dir).unwrap();
        assert_eq!(s.path(), dir.join(DB_FILE));
        assert!(s.path().is_file());
        let w = s.writer().unwrap();
        let mode: String = w
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        let sync: i64 = w
            .pragma_query_value(None, "synchronous", |r| r.get(0))
            .unwrap();
        let fk: i64 = w
            .pragma_query_value(None, "foreign_keys", |r| r.get(0))
            .unwrap();
        assert_eq!(
            (mode.as_str(), sync, fk),
            ("wal", 2, 1),
            "WAL, FULL, foreign keys"
        );
        assert_eq!(user_version(&w).unwrap(), supported_version());
        drop(w);
        let r = s.reader().unwrap();
        assert!(
            r.execute("DELETE FROM users", []).is_err(),
            "readers are query-only"
        );
    }

    #[test]
    fn reopening_keeps_data_and_numbering() {
        let root = tempfile::tempdir().unwrap();
        let doc = Uuid::new_v4();
        let last = {
            let s = SqliteStorage::open(root.path()).unwrap();
            s.add_user(&user("u-clerk", "wang.fang")).unwrap();
            s.set_reference(Some(&demo::catalog()), Some(&demo::directory()), None)
                .unwrap();
            s.add_enrolment_code("code", "u-clerk", i64::MAX).unwrap();
            s.redeem_enrolment_code(
                "code",
                &NewDevice {
                    name: "tablet".into(),
                    token_hash: "ab".repeat(32),
                    actor: "cd".repeat(16),
                    now: 1,
                },
            )
            .unwrap();
            push(&s, doc, 1, 3)
        };
        let s = SqliteStorage::open(root.path()).unwrap();
        assert_eq!(s.user_by_name("wang.fang").unwrap().unwrap().id, "u-clerk");
        assert_eq!(s.reference().unwrap().unwrap().version, 1);
        assert_eq!(s.devices().unwrap().len(), 1);
        assert!(s.device_by_token(&"ab".repeat(32)).unwrap().is_some());
        assert_eq!(s.document(doc).unwrap().unwrap().bytes, [1; 16]);
        assert_eq!(s.counts().unwrap(), (1, 3));
        assert!(
            push(&s, doc, 10, 1) > last,
            "numbers continue after a reopen"
        );
        assert_eq!(s.set_reference(None, None, None).unwrap(), 2);
    }

    #[test]
    fn migration_11_keeps_the_users_of_a_version_10_hub_active() {
        let root = tempfile::tempdir().unwrap();
        {
            // A hub database as version 10 wrote it, with a user and an enrolment code.
            let mut c = Connection::open(root.path().join(DB_FILE)).unwrap();
            let tx = c.transaction().unwrap();
            for sql in &MIGRATIONS[..10] {
                tx.execute_batch(sql).unwrap();
            }
            tx.pragma_update(None, "user_version", 10).unwrap();
            tx.execute(
                &format!("INSERT INTO users ({USER_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"),
                params![
                    "u-res",
                    "li.wei",
                    "李伟",
                    "resident",
                    "370883101201",
                    Option::<String>::None,
                    1_772_409_600_000_i64
                ],
            )
            .unwrap();
            tx.execute(
                "INSERT INTO enrolment_codes (code_hash, user_id, expires_at) VALUES ('c', 'u-res', 9)",
                [],
            )
            .unwrap();
            tx.commit().unwrap();
        }
        let s = SqliteStorage::open(root.path()).unwrap();
        assert_eq!(
            s.account_status("u-res").unwrap(),
            AccountStatus::default(),
            "active, no code pending"
        );
        s.add_activation_code("a", "u-res", 1, 100).unwrap();
        let user = s.activate_account("li.wei", "a", "$argon2id$x", 2).unwrap();
        assert_eq!(user.password_hash.as_deref(), Some("$argon2id$x"));
        assert!(s.set_deactivated("u-res", Some(3)).unwrap());
    }

    #[test]
    fn a_newer_database_is_refused_untouched() {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join(DB_FILE);
        {
            let c = Connection::open(&path).unwrap();
            c.execute_batch("CREATE TABLE future (x); PRAGMA user_version = 99;")
                .unwrap();
        }
        match SqliteStorage::open(root.path()) {
            Err(StorageError::TooNew { found, supported }) => {
                assert_eq!((found, supported), (99, MIGRATIONS.len() as i64));
            }
            other => panic!("expected TooNew, got {other:?}"),
        }
        let c = Connection::open(&path).unwrap();
        assert_eq!(user_version(&c).unwrap(), 99);
        let mode: String = c
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "delete", "not even the journal mode was changed");
        let tables: i64 = c
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(tables, 1);
    }

    #[test]
    fn committed_data_survives_drop_and_reopen() {
        let root = tempfile::tempdir().unwrap();
        let docs: Vec<Uuid> = (0..20).map(|_| Uuid::new_v4()).collect();
        {
            let s = SqliteStorage::open(root.path()).unwrap();
            for (i, doc) in docs.iter().enumerate() {
                push(&s, *doc, (i * 4) as u8, 2);
            }
        }
        let s = SqliteStorage::open(root.path()).unwrap();
        assert_eq!(s.counts().unwrap(), (20, 40));
        let page = s
            .changes_after(
                &ReadScope::Village("370883101201".into()),
                0,
                usize::MAX,
                None,
            )
            .unwrap();
        assert_eq!(page.entries.len(), 40);
        assert!(!page.more);
        for doc in &docs {
            assert_eq!(s.audit(*doc).unwrap().len(), 2);
        }
    }

    /// The files as a `kill -9` leaves them (the WAL not checkpointed, no clean close) hold
    /// every commit that returned.
    #[test]
    fn commits_survive_a_crash() {
        let root = tempfile::tempdir().unwrap();
        let live = root.path().join("live");
        let crashed = root.path().join("crashed");
        let s = SqliteStorage::open(&live).unwrap();
        let doc = Uuid::new_v4();
        let last = push(&s, doc, 1, 5);
        std::fs::create_dir_all(&crashed).unwrap();
        for suffix in ["", "-wal"] {
            let name = format!("{DB_FILE}{suffix}");
            std::fs::copy(live.join(&name), crashed.join(&name)).unwrap();
        }
        let wal = std::fs::metadata(crashed.join(format!("{DB_FILE}-wal"))).unwrap();
        assert!(
            wal.len() > 0,
            "the commit is in the WAL, not yet checkpointed"
        );
        let after = SqliteStorage::open(&crashed).unwrap();
        assert_eq!(after.counts().unwrap(), (1, 5));
        assert_eq!(after.audit(doc).unwrap().last().unwrap().seq, last);
        drop(s);
    }

    #[test]
    fn log_pages_walk_an_index_without_sorting() {
        let root = tempfile::tempdir().unwrap();
        let s = SqliteStorage::open(root.path()).unwrap();
        let r = s.reader().unwrap();
        for column in ["resident_user", "village", "township", "county"] {
            let sql = format!("EXPLAIN QUERY PLAN {}", log_page_sql(column));
            let plan: Vec<String> = r
                .prepare(&sql)
                .unwrap()
                .query_map(params![None::<&str>, "x", 0, 10], |row| row.get(3))
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap();
            let plan = plan.join("; ");
            assert!(
                plan.contains(&format!(
                    "USING INDEX change_log_{}",
                    match column {
                        "resident_user" => "resident",
                        other => other,
                    }
                )),
                "{column}: {plan}"
            );
            assert!(!plan.contains("TEMP B-TREE"), "{column}: {plan}");
        }
        let plan: String = r
            .query_row(
                "EXPLAIN QUERY PLAN SELECT seq, hash, device_id, user_id, received_at
                 FROM change_log WHERE doc_id = ?1 ORDER BY seq",
                ["x"],
                |row| row.get(3),
            )
            .unwrap();
        assert!(plan.contains("change_log_doc"), "{plan}");
    }

    /// A device that pushed more than one call examines gets an empty page that moves the
    /// cursor, with `more`, rather than one call walking its whole history.
    #[test]
    fn skipping_is_bounded_per_call() {
        let root = tempfile::tempdir().unwrap();
        let s = SqliteStorage::open(root.path()).unwrap();
        let n = MAX_EXAMINED + 50;
        let changes: Vec<([u8; 32], Vec<u8>)> = (0..n)
            .map(|i| {
                let mut hash = [0; 32];
                hash[..8].copy_from_slice(&(i as u64).to_le_bytes());
                (hash, vec![0x85, 0x6f, 0x4a, 0x83])
            })
            .collect();
        let end = s
            .commit(&Commit {
                doc_id: Uuid::new_v4(),
                kind: DocKind::Agenda,
                village: "370883101201",
                resident_user: None,
                snapshot: b"doc",
                changes: &changes,
                device_id: "dev-1",
                user_id: "u-clerk",
                received_at: 0,
                index: None,
            })
            .unwrap();
        let scope = ReadScope::County("370883".into());
        let first = s.changes_after(&scope, 0, 1 << 20, Some("dev-1")).unwrap();
        assert!(first.entries.is_empty());
        assert_eq!((first.cursor, first.more), (MAX_EXAMINED as u64, true));
        let second = s
            .changes_after(&scope, first.cursor, 1 << 20, Some("dev-1"))
            .unwrap();
        assert_eq!(
            (second.entries.len(), second.cursor, second.more),
            (0, end, false)
        );
        let everything = s.changes_after(&scope, 0, 1 << 20, None).unwrap();
        assert_eq!(everything.entries.len(), MAX_EXAMINED);
        assert!(everything.more);
    }

    #[test]
    fn a_poisoned_lock_is_a_backend_error() {
        let root = tempfile::tempdir().unwrap();
        let s = SqliteStorage::open(root.path()).unwrap();
        std::thread::scope(|t| {
            let _ = t
                .spawn(|| {
                    let _guard = s.writer.lock().unwrap();
                    panic!("a panic while writing");
                })
                .join();
        });
        let r = s.add_user(&user("u", "n"));
        assert!(matches!(r, Err(StorageError::Backend(_))), "{r:?}");
        assert!(s.users().unwrap().is_empty(), "reads still work");
    }

    #[test]
    fn many_concurrent_readers_share_a_small_pool() {
        let root = tempfile::tempdir().unwrap();
        let s = SqliteStorage::open(root.path()).unwrap();
        let doc = Uuid::new_v4();
        push(&s, doc, 1, 2);
        std::thread::scope(|t| {
            for _ in 0..16 {
                t.spawn(|| {
                    for _ in 0..20 {
                        assert_eq!(s.counts().unwrap(), (1, 2));
                        assert!(s.document(doc).unwrap().is_some());
                    }
                });
            }
        });
        assert!(s.readers.lock().unwrap().len() <= READ_POOL);
    }
}
