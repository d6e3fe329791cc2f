//! `bianmin-server migrate-to-postgres`: moves a hub from its embedded SQLite database (the
//! data directory's `bianmin.db` and `blobs/`) into a PostgreSQL database, whole, and checks
//! the copy.
//!
//! - **Never a merge**: a target that holds a hub's data (any row beyond the two the
//!   PostgreSQL migrations insert themselves) is refused before anything is written, and again
//!   under table locks inside the copying transaction.
//! - **One consistent state**: every table is read inside one SQLite read transaction (WAL:
//!   one snapshot, whatever a hub still serving commits meanwhile) and written inside one
//!   PostgreSQL transaction, verified before it commits. If the SQLite database changed while
//!   it was copied (a hub still serving), the PostgreSQL transaction is rolled back and the
//!   move refused ([`MigrateError::SourceChanged`]): what that hub accepted meanwhile would
//!   not be in the copy, and its tablets, told it was stored, would never send it again.
//! - **Generic**: every table the two schemas share is copied, each column they share, with
//!   the PostgreSQL types of the prepared `INSERT`'s parameters (text to `uuid` and `date`,
//!   integers to `boolean`, `integer`, `bigint`, blobs to `bytea`), in batches, parents before
//!   children (foreign keys). Identity columns are inserted as they are (`OVERRIDING SYSTEM
//!   VALUE`: the change log keeps its sequence numbers, which are the tablets' cursors) and
//!   their sequences then set past the largest number SQLite ever gave (its `AUTOINCREMENT`
//!   counter included), so that the first change after the move gets a higher number. The
//!   change log's identity (`hub_meta.log_id`) is copied unchanged: tablets go on syncing from
//!   their cursors, they do not start over as after a restore. Tables only one side has are
//!   listed in the report with the reason, and so are the transient tables both have but
//!   the copy leaves out on purpose (the throttling `counters`).
//! - **Attachments**: every complete blob of `blobs/` goes through the PostgreSQL blob store in
//!   pieces of [`PIECE_BYTES`] (never a whole photo in memory) and is checked against its
//!   SHA-256 by the store's `finish`; partial uploads stay behind (their tablets resend them).
//!   Blobs are copied before the tables' transaction (they are content-addressed: a move that
//!   failed and is run again keeps those already there), and once more just before it commits,
//!   for any completed meanwhile.
//! - **Verified**: row counts per table equal on both sides, the change log's last number and
//!   identity equal (inside the transaction, and again through [`Storage`] once committed),
//!   every attachment complete in PostgreSQL with its length. A mismatch is an error naming
//!   the table and both counts.
//!
//! Errors name tables, columns and counts, never a row's values.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ::postgres::types::{ToSql, Type};
use ::postgres::{GenericClient, Statement, Transaction};
use chrono::NaiveDate;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};
use uuid::Uuid;

use super::postgres::{PgStorage, describe};
use super::sqlite::{self, DB_FILE};
use super::{Storage, StorageError};
use crate::blobs::BlobStore;
use crate::blobs::dir::DirBlobStore;
use crate::blobs::postgres::PgBlobStore;

/// How many bytes of an attachment are read and appended at once.
pub const PIECE_BYTES: usize = 1024 * 1024;
/// The most rows one `INSERT` carries.
const BATCH_ROWS: usize = 500;
/// An `INSERT` is sent once its rows hold this many bytes of text and blobs.
const BATCH_BYTES: usize = 4 * 1024 * 1024;
/// PostgreSQL's limit of parameters per statement.
const MAX_PARAMS: usize = 65_535;
/// How long the copy waits for the target's tables to be free of other writers.
const LOCK_TIMEOUT: &str = "30s";
/// How long the SQLite connection waits for a lock held by a hub writing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Rows the PostgreSQL migrations insert themselves: a fresh schema holds them, they are no
/// hub's data, and the copy replaces them with the SQLite hub's.
const SEED_ROWS: &[(&str, &str)] = &[
    (
        "reference",
        "id = 1 AND version = 0 AND catalog IS NULL AND directory IS NULL",
    ),
    ("hub_meta", "key = 'log_id'"),
];

/// PostgreSQL tables filled otherwise than from a SQLite table, and why.
const POSTGRES_OWN: &[(&str, &str)] = &[
    (
        "schema_migrations",
        "PostgreSQL's record of its own schema migrations",
    ),
    (
        "blobs",
        "attachment bytes: filled from blobs/ through the blob store",
    ),
    (
        "blob_chunks",
        "attachment bytes: filled from blobs/ through the blob store",
    ),
    (
        "blob_partials",
        "uploads under way: partial uploads are not moved (tablets resend them)",
    ),
];

/// Tables both sides have that are deliberately not copied, and why.
const TRANSIENT: &[(&str, &str)] = &[(
    "counters",
    "sign-in and look-up throttling counts: transient (a day at most), and the hub's own \
     writes while it still serves would make the move fail; the PostgreSQL hubs count afresh",
)];

/// Why a move failed. Unless the error says otherwise, the PostgreSQL tables were left as
/// they were (attachments already copied stay: they are kept once and reused by the next run).
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// There is no hub database in the data directory.
    #[error("no hub database ({DB_FILE}) in {0}: give the data directory of the hub to move")]
    NoSource(PathBuf),
    /// The SQLite database's schema is not the one this program writes.
    #[error(
        "the hub database is at schema version {found}, this bianmin-server writes version \
         {supported}: {advice}"
    )]
    SchemaVersion {
        /// The database's version.
        found: i64,
        /// This program's.
        supported: i64,
        /// What to do.
        advice: &'static str,
    },
    /// The target holds a hub's data already.
    #[error(
        "the PostgreSQL schema {schema} already holds data (rows: {holding}): a hub is moved \
         only into an empty database, never merged into one in use; nothing was written"
    )]
    TargetNotEmpty {
        /// The target schema.
        schema: String,
        /// Which tables hold how many rows.
        holding: String,
    },
    /// The SQLite database changed while it was copied: a hub still serving it.
    #[error(
        "the hub database changed while it was copied (is the hub still running?): stop it and \
         run the move again; the PostgreSQL tables were left as they were"
    )]
    SourceChanged,
    /// A table's row counts differ after the copy.
    #[error(
        "verification failed: table {table} has {sqlite} rows in SQLite and {postgres} in \
         PostgreSQL"
    )]
    CountMismatch {
        /// The table.
        table: String,
        /// Its rows in SQLite.
        sqlite: u64,
        /// Its rows in PostgreSQL.
        postgres: u64,
    },
    /// Something else differs after the copy (the change log's last number or identity).
    #[error("verification failed: {what} is {sqlite} in SQLite and {postgres} in PostgreSQL")]
    Mismatch {
        /// What.
        what: &'static str,
        /// Its value in SQLite.
        sqlite: String,
        /// Its value in PostgreSQL.
        postgres: String,
    },
    /// A stored value has no PostgreSQL counterpart of the column's type.
    #[error("table {table}, column {column}, row {row}: {why}")]
    Convert {
        /// The table.
        table: String,
        /// The column.
        column: String,
        /// The row's position in the table as read (1-based).
        row: u64,
        /// What was wrong with it (never the value).
        why: String,
    },
    /// The SQLite database could not be read.
    #[error("reading the SQLite database: {0}")]
    Sqlite(String),
    /// PostgreSQL failed.
    #[error("PostgreSQL: {0}")]
    Postgres(String),
    /// An attachment could not be copied or verified.
    #[error("attachment {sha256}: {why}")]
    Blob {
        /// Its address.
        sha256: String,
        /// Why.
        why: String,
    },
    /// The blob directory could not be read.
    #[error("reading {path}: {why}")]
    Files {
        /// What.
        path: String,
        /// Why.
        why: String,
    },
    /// The target storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl From<rusqlite::Error> for MigrateError {
    fn from(e: rusqlite::Error) -> Self {
        MigrateError::Sqlite(e.to_string())
    }
}

impl From<::postgres::Error> for MigrateError {
    fn from(e: ::postgres::Error) -> Self {
        MigrateError::Postgres(describe(&e))
    }
}

/// One table copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableCopy {
    /// Its name.
    pub name: String,
    /// Rows copied (equal on both sides: verified).
    pub rows: u64,
}

/// A table or column left out of the copy: one only one side has, or a transient one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// `table` or `table.column`.
    pub name: String,
    /// Which side has it: `SQLite`, `PostgreSQL`, or `both` for a table deliberately not
    /// copied (transient state).
    pub only_in: &'static str,
    /// Why it is not copied.
    pub why: String,
}

/// What a move copied and verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    /// The PostgreSQL schema written.
    pub schema: String,
    /// The tables copied, in the order written.
    pub tables: Vec<TableCopy>,
    /// Tables and columns left out of the copy.
    pub skipped: Vec<Skipped>,
    /// The change log's last number (the same on both sides).
    pub log_head: u64,
    /// The change log's identity (the same on both sides).
    pub log_id: String,
    /// Attachments copied.
    pub blobs: u64,
    /// Their bytes.
    pub blob_bytes: u64,
    /// Attachments the target held already (from an earlier run that failed later).
    pub blobs_present: u64,
    /// Partial uploads left behind.
    pub partial_uploads: u64,
}

impl MigrationReport {
    /// Rows copied, all tables together.
    pub fn rows(&self) -> u64 {
        self.tables.iter().map(|t| t.rows).sum()
    }
}

impl fmt::Display for MigrationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "moved into PostgreSQL schema {}: {} rows in {} tables",
            self.schema,
            self.rows(),
            self.tables.len()
        )?;
        for t in &self.tables {
            writeln!(f, "  {:<20} {:>10} rows", t.name, t.rows)?;
        }
        writeln!(
            f,
            "change log: last number {}, identity {} (unchanged: tablets sync on from their \
             cursors)",
            self.log_head, self.log_id
        )?;
        writeln!(
            f,
            "attachments: {} copied ({} bytes), {} already there, {} partial uploads left \
             behind (their tablets resend them)",
            self.blobs, self.blob_bytes, self.blobs_present, self.partial_uploads
        )?;
        for s in &self.skipped {
            writeln!(
                f,
                "not copied: {} (only in {}): {}",
                s.name, s.only_in, s.why
            )?;
        }
        write!(
            f,
            "verified: row counts of every table, the change log's last number and identity, \
             every attachment complete"
        )
    }
}

/// Copies the hub in `data_dir` (its `bianmin.db` and `blobs/`) into `target`, which must
/// hold no hub's data, and verifies the copy (see the module docs). Stop the hub first: a hub
/// that writes meanwhile makes the move fail with [`MigrateError::SourceChanged`].
///
/// Blocking: call it from a thread of its own, never on one that drives async tasks.
pub fn migrate_to_postgres(
    data_dir: &Path,
    target: &PgStorage,
) -> Result<MigrationReport, MigrateError> {
    migrate_with(data_dir, target, &mut || {})
}

/// [`migrate_to_postgres`], calling `before_commit` once the tables are copied and verified,
/// right before the source is checked for changes (tests write there).
fn migrate_with(
    data_dir: &Path,
    target: &PgStorage,
    before_commit: &mut dyn FnMut(),
) -> Result<MigrationReport, MigrateError> {
    let source = Source::open(data_dir)?;
    let pool = target
        .pool()
        .ok_or_else(|| MigrateError::Postgres("the storage is closing".into()))?;
    let mut pg = pool
        .get()
        .map_err(|e| MigrateError::Postgres(format!("no connection: {e}")))?;
    let plan = Plan::make(&source.conn, &mut *pg, target.schema())?;
    // Early, before any attachment is written: a live database is refused untouched.
    refuse_if_not_empty(&mut *pg, &plan, target.schema())?;

    // The snapshot every table is read from; attachments are listed after it begins, so
    // every one complete when it was taken is copied.
    let version = source.data_version()?;
    source.begin()?;
    let blob_dir = data_dir.join("blobs");
    let blobs_out = PgBlobStore::new(target);
    let mut blobs = BlobCopy::new(&blob_dir)?;
    blobs.copy_new(&blobs_out)?;

    let mut tx = pg.transaction()?;
    tx.batch_execute(&format!("SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))?;
    let names: Vec<String> = plan.tables.iter().map(|t| ident(&t.name)).collect();
    if !names.is_empty() {
        // No other writer until this commits; readers go on.
        tx.batch_execute(&format!(
            "LOCK TABLE {} IN EXCLUSIVE MODE",
            names.join(", ")
        ))?;
    }
    refuse_if_not_empty(&mut tx, &plan, target.schema())?;
    for (table, seed) in SEED_ROWS {
        if plan.tables.iter().any(|t| t.name == *table) {
            tx.batch_execute(&format!("DELETE FROM {} WHERE {seed}", ident(table)))?;
        }
    }
    let mut tables = Vec::with_capacity(plan.tables.len());
    for t in &plan.tables {
        let rows = copy_table(&source.conn, &mut tx, t)?;
        restart_sequences(&source.conn, &mut tx, t)?;
        tracing::info!(table = %t.name, rows, "table copied");
        tables.push(TableCopy {
            name: t.name.clone(),
            rows,
        });
    }
    let log = verify_tables(&source.conn, &mut tx, &tables)?;
    source.end()?;

    before_commit();
    // Attachments completed while the tables were copied (a hub still serving; refused just
    // below unless it only took uploads).
    blobs.copy_new(&blobs_out)?;
    if source.data_version()? != version {
        // `tx` is dropped: rolled back.
        return Err(MigrateError::SourceChanged);
    }
    tx.commit()?;
    drop(pg);

    // Once more, through the storage the hub will use.
    verify_storage(target, &log)?;
    blobs.verify(&blobs_out)?;
    Ok(MigrationReport {
        schema: target.schema().to_string(),
        tables,
        skipped: plan.skipped,
        log_head: log.head,
        log_id: log.id,
        blobs: blobs.copied,
        blob_bytes: blobs.bytes,
        blobs_present: blobs.present,
        partial_uploads: blobs.partials,
    })
}

/// `name` quoted as an SQL identifier (the same rule in SQLite and PostgreSQL).
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The hub's SQLite database, opened for reading only.
struct Source {
    conn: Connection,
}

impl Source {
    fn open(data_dir: &Path) -> Result<Source, MigrateError> {
        let path = data_dir.join(DB_FILE);
        if !path.is_file() {
            return Err(MigrateError::NoSource(data_dir.to_path_buf()));
        }
        // Read-write without create, as the hub's own readers: a WAL database needs its
        // shared-memory file, which a read-only connection could not make.
        let conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.pragma_update(None, "query_only", "ON")?;
        let found: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        let supported = sqlite::supported_version();
        if found != supported {
            return Err(MigrateError::SchemaVersion {
                found,
                supported,
                advice: if found < supported {
                    "start the hub with this bianmin-server once (it brings the database up to \
                     date), stop it, then move it"
                } else {
                    "move it with the bianmin-server that wrote it"
                },
            });
        }
        Ok(Source { conn })
    }

    /// A number that changes whenever another connection commits to the database.
    fn data_version(&self) -> Result<i64, MigrateError> {
        Ok(self
            .conn
            .pragma_query_value(None, "data_version", |r| r.get(0))?)
    }

    /// Begins the read transaction and takes its snapshot (a deferred transaction takes it at
    /// its first read).
    fn begin(&self) -> Result<(), MigrateError> {
        self.conn.execute_batch("BEGIN DEFERRED")?;
        self.conn
            .query_row("SELECT count(*) FROM sqlite_schema", [], |r| {
                r.get::<_, i64>(0)
            })?;
        Ok(())
    }

    fn end(&self) -> Result<(), MigrateError> {
        self.conn.execute_batch("COMMIT")?;
        Ok(())
    }
}

/// One table to copy.
#[derive(Debug)]
struct TablePlan {
    name: String,
    /// The columns both sides have, in PostgreSQL's order.
    columns: Vec<String>,
    /// Its PostgreSQL identity (or serial) columns among them, with their sequences.
    sequences: Vec<(String, String)>,
}

/// What is copied, in which order, and what is not.
#[derive(Debug)]
struct Plan {
    tables: Vec<TablePlan>,
    skipped: Vec<Skipped>,
}

/// A PostgreSQL column as the catalog describes it.
struct PgColumn {
    name: String,
    generated: bool,
    sequence: Option<String>,
}

impl Plan {
    fn make(
        src: &Connection,
        pg: &mut impl GenericClient,
        schema: &str,
    ) -> Result<Plan, MigrateError> {
        let sqlite_tables: Vec<String> = src
            .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")?
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        let mut pg_tables: BTreeMap<String, Vec<PgColumn>> = BTreeMap::new();
        for row in pg.query(
            "SELECT c.relname::text, a.attname::text, a.attgenerated = 's',
                    pg_get_serial_sequence(format('%I.%I', n.nspname, c.relname), a.attname)
             FROM pg_class c
             JOIN pg_namespace n ON n.oid = c.relnamespace
             JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
             WHERE n.nspname = $1::text AND c.relkind IN ('r', 'p')
             ORDER BY c.relname, a.attnum",
            &[&schema],
        )? {
            pg_tables
                .entry(row.try_get(0)?)
                .or_default()
                .push(PgColumn {
                    name: row.try_get(1)?,
                    generated: row.try_get(2)?,
                    sequence: row.try_get(3)?,
                });
        }
        let mut skipped = Vec::new();
        let mut shared = BTreeMap::new();
        for name in &sqlite_tables {
            if let Some((_, why)) = TRANSIENT.iter().find(|(t, _)| t == name) {
                skipped.push(Skipped {
                    name: name.clone(),
                    only_in: if pg_tables.contains_key(name) {
                        "both"
                    } else {
                        "SQLite"
                    },
                    why: why.to_string(),
                });
                continue;
            }
            let Some(pg_columns) = pg_tables.get(name) else {
                let why = if name.starts_with("sqlite_") {
                    if name == "sqlite_sequence" {
                        "SQLite's AUTOINCREMENT counters: the PostgreSQL sequences are set past \
                         them"
                            .to_string()
                    } else {
                        "SQLite's own bookkeeping".to_string()
                    }
                } else {
                    let rows: i64 =
                        src.query_row(&format!("SELECT count(*) FROM {}", ident(name)), [], |r| {
                            r.get(0)
                        })?;
                    format!("the PostgreSQL schema has no such table; its {rows} rows stay behind")
                };
                skipped.push(Skipped {
                    name: name.clone(),
                    only_in: "SQLite",
                    why,
                });
                continue;
            };
            let sqlite_columns: Vec<String> = src
                .prepare("SELECT name FROM pragma_table_info(?1) ORDER BY cid")?
                .query_map([name], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            for c in &sqlite_columns {
                if !pg_columns.iter().any(|p| p.name == *c && !p.generated) {
                    skipped.push(Skipped {
                        name: format!("{name}.{c}"),
                        only_in: "SQLite",
                        why: "the PostgreSQL table has no such column (or computes it)".into(),
                    });
                }
            }
            let mut columns = Vec::new();
            let mut sequences = Vec::new();
            for p in pg_columns {
                if p.generated {
                    continue;
                }
                if !sqlite_columns.contains(&p.name) {
                    skipped.push(Skipped {
                        name: format!("{name}.{}", p.name),
                        only_in: "PostgreSQL",
                        why: "not in SQLite: left to its default".into(),
                    });
                    continue;
                }
                columns.push(p.name.clone());
                if let Some(seq) = &p.sequence {
                    sequences.push((p.name.clone(), seq.clone()));
                }
            }
            shared.insert(
                name.clone(),
                TablePlan {
                    name: name.clone(),
                    columns,
                    sequences,
                },
            );
        }
        for name in pg_tables.keys() {
            if sqlite_tables.contains(name) {
                continue;
            }
            let why = POSTGRES_OWN
                .iter()
                .chain(TRANSIENT)
                .find(|(t, _)| t == name)
                .map_or(
                    "not in the SQLite database: left as the migrations made it",
                    |(_, why)| why,
                );
            skipped.push(Skipped {
                name: name.clone(),
                only_in: "PostgreSQL",
                why: why.to_string(),
            });
        }
        let tables = parents_first(pg, schema, shared)?;
        Ok(Plan { tables, skipped })
    }
}

/// The tables in an order where each comes after those its foreign keys refer to.
fn parents_first(
    pg: &mut impl GenericClient,
    schema: &str,
    mut tables: BTreeMap<String, TablePlan>,
) -> Result<Vec<TablePlan>, MigrateError> {
    let mut parents: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for row in pg.query(
        "SELECT c.relname::text, p.relname::text
         FROM pg_constraint k
         JOIN pg_class c ON c.oid = k.conrelid
         JOIN pg_class p ON p.oid = k.confrelid
         JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE k.contype = 'f' AND n.nspname = $1::text",
        &[&schema],
    )? {
        let (child, parent): (String, String) = (row.try_get(0)?, row.try_get(1)?);
        if child != parent && tables.contains_key(&child) && tables.contains_key(&parent) {
            parents.entry(child).or_default().insert(parent);
        }
    }
    let mut ordered = Vec::with_capacity(tables.len());
    while !tables.is_empty() {
        let ready: Vec<String> = tables
            .keys()
            .filter(|name| {
                parents
                    .get(*name)
                    .is_none_or(|ps| ps.iter().all(|p| !tables.contains_key(p)))
            })
            .cloned()
            .collect();
        if ready.is_empty() {
            let left: Vec<&str> = tables.keys().map(String::as_str).collect();
            return Err(MigrateError::Postgres(format!(
                "the foreign keys of tables {} form a cycle: no order to copy them in",
                left.join(", ")
            )));
        }
        for name in ready {
            if let Some(t) = tables.remove(&name) {
                ordered.push(t);
            }
        }
    }
    Ok(ordered)
}

/// Refuses a target whose copied tables hold any row but the migrations' own.
fn refuse_if_not_empty(
    pg: &mut impl GenericClient,
    plan: &Plan,
    schema: &str,
) -> Result<(), MigrateError> {
    let mut holding = Vec::new();
    for t in &plan.tables {
        let seed = SEED_ROWS.iter().find(|(name, _)| *name == t.name);
        let sql = match seed {
            Some((_, seed)) => {
                format!("SELECT count(*) FROM {} WHERE NOT ({seed})", ident(&t.name))
            }
            None => format!("SELECT count(*) FROM {}", ident(&t.name)),
        };
        let rows: i64 = pg.query_one(sql.as_str(), &[])?.try_get(0)?;
        if rows > 0 {
            holding.push(format!("{} {rows}", t.name));
        }
    }
    if holding.is_empty() {
        Ok(())
    } else {
        Err(MigrateError::TargetNotEmpty {
            schema: schema.to_string(),
            holding: holding.join(", "),
        })
    }
}

/// A value for a PostgreSQL parameter.
type Param = Box<dyn ToSql + Sync>;

/// NULL as a parameter of type `ty`.
fn null_of(ty: &Type) -> Option<Param> {
    Some(match *ty {
        Type::BOOL => Box::new(None::<bool>),
        Type::INT2 => Box::new(None::<i16>),
        Type::INT4 => Box::new(None::<i32>),
        Type::INT8 => Box::new(None::<i64>),
        Type::FLOAT4 => Box::new(None::<f32>),
        Type::FLOAT8 => Box::new(None::<f64>),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => Box::new(None::<String>),
        Type::BYTEA => Box::new(None::<Vec<u8>>),
        Type::UUID => Box::new(None::<Uuid>),
        Type::DATE => Box::new(None::<NaiveDate>),
        _ => return None,
    })
}

/// A SQLite value as a parameter of type `ty`; why not, without the value.
fn convert(value: ValueRef<'_>, ty: &Type) -> Result<Param, String> {
    let unsupported = || {
        format!(
            "a SQLite {} value has no PostgreSQL {} counterpart",
            value.data_type(),
            ty.name()
        )
    };
    Ok(match value {
        ValueRef::Null => null_of(ty).ok_or_else(unsupported)?,
        ValueRef::Integer(n) => match *ty {
            Type::INT8 => Box::new(n),
            Type::INT4 => Box::new(
                i32::try_from(n).map_err(|_| "an integer too large for integer".to_string())?,
            ),
            Type::INT2 => Box::new(
                i16::try_from(n).map_err(|_| "an integer too large for smallint".to_string())?,
            ),
            Type::BOOL => match n {
                0 => Box::new(false),
                1 => Box::new(true),
                _ => return Err("an integer other than 0 or 1 for a boolean".into()),
            },
            _ => return Err(unsupported()),
        },
        ValueRef::Real(x) => match *ty {
            Type::FLOAT8 => Box::new(x),
            _ => return Err(unsupported()),
        },
        ValueRef::Text(bytes) => {
            let text = std::str::from_utf8(bytes).map_err(|_| "text that is not UTF-8")?;
            match *ty {
                Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => {
                    Box::new(text.to_string())
                }
                Type::UUID => {
                    Box::new(Uuid::parse_str(text).map_err(|_| "text that is not a UUID")?)
                }
                Type::DATE => Box::new(
                    NaiveDate::parse_from_str(text, "%Y-%m-%d")
                        .map_err(|_| "text that is not a date (YYYY-MM-DD)")?,
                ),
                _ => return Err(unsupported()),
            }
        }
        ValueRef::Blob(bytes) => match *ty {
            Type::BYTEA => Box::new(bytes.to_vec()),
            _ => return Err(unsupported()),
        },
    })
}

/// `INSERT` of `rows` rows into the table.
fn insert_sql(t: &TablePlan, rows: usize) -> String {
    let columns: Vec<String> = t.columns.iter().map(|c| ident(c)).collect();
    let n = t.columns.len();
    let values: Vec<String> = (0..rows)
        .map(|r| {
            let row: Vec<String> = (1..=n).map(|c| format!("${}", r * n + c)).collect();
            format!("({})", row.join(", "))
        })
        .collect();
    format!(
        "INSERT INTO {} ({}) OVERRIDING SYSTEM VALUE VALUES {}",
        ident(&t.name),
        columns.join(", "),
        values.join(", ")
    )
}

/// Copies every row of the table from the snapshot into the transaction, in batches; how many.
fn copy_table(
    src: &Connection,
    tx: &mut Transaction<'_>,
    t: &TablePlan,
) -> Result<u64, MigrateError> {
    if t.columns.is_empty() {
        return Ok(0);
    }
    let width = t.columns.len();
    let max_rows = (MAX_PARAMS / width).clamp(1, BATCH_ROWS);
    let mut statements: HashMap<usize, Statement> = HashMap::new();
    let single = tx.prepare(&insert_sql(t, 1))?;
    // The parameters' types are those PostgreSQL gives the columns.
    let types = single.params().to_vec();
    statements.insert(1, single);

    let columns: Vec<String> = t.columns.iter().map(|c| ident(c)).collect();
    let mut select = src.prepare(&format!(
        "SELECT {} FROM {}",
        columns.join(", "),
        ident(&t.name)
    ))?;
    let mut rows = select.query([])?;
    let mut batch: Vec<Param> = Vec::with_capacity(max_rows * width);
    let (mut in_batch, mut bytes, mut read, mut copied) = (0usize, 0usize, 0u64, 0u64);
    while let Some(row) = rows.next()? {
        read += 1;
        for (i, ty) in types.iter().enumerate() {
            let value = row.get_ref(i)?;
            bytes += match value {
                ValueRef::Text(b) | ValueRef::Blob(b) => b.len(),
                _ => 8,
            };
            batch.push(convert(value, ty).map_err(|why| MigrateError::Convert {
                table: t.name.clone(),
                column: t.columns[i].clone(),
                row: read,
                why,
            })?);
        }
        in_batch += 1;
        if in_batch == max_rows || bytes >= BATCH_BYTES {
            copied += insert_batch(tx, t, &mut statements, &mut batch, in_batch)?;
            (in_batch, bytes) = (0, 0);
        }
    }
    if in_batch > 0 {
        copied += insert_batch(tx, t, &mut statements, &mut batch, in_batch)?;
    }
    if copied != read {
        return Err(MigrateError::CountMismatch {
            table: t.name.clone(),
            sqlite: read,
            postgres: copied,
        });
    }
    Ok(copied)
}

fn insert_batch(
    tx: &mut Transaction<'_>,
    t: &TablePlan,
    statements: &mut HashMap<usize, Statement>,
    batch: &mut Vec<Param>,
    rows: usize,
) -> Result<u64, MigrateError> {
    let statement = match statements.get(&rows) {
        Some(s) => s.clone(),
        None => {
            let s = tx.prepare(&insert_sql(t, rows))?;
            statements.insert(rows, s.clone());
            s
        }
    };
    let params: Vec<&(dyn ToSql + Sync)> = batch.iter().map(|p| p.as_ref()).collect();
    let inserted = tx.execute(&statement, &params)?;
    batch.clear();
    Ok(inserted)
}

/// Sets the table's sequences past the largest number used: the largest copied, or SQLite's
/// `AUTOINCREMENT` counter when that is larger (numbers of deleted rows are never given again).
fn restart_sequences(
    src: &Connection,
    tx: &mut Transaction<'_>,
    t: &TablePlan,
) -> Result<(), MigrateError> {
    if t.sequences.is_empty() {
        return Ok(());
    }
    let counter: i64 = if t.sequences.len() == 1 {
        let has_counters: bool = src.query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = \
             'sqlite_sequence')",
            [],
            |r| r.get(0),
        )?;
        if has_counters {
            src.query_row(
                "SELECT COALESCE(MAX(seq), 0) FROM sqlite_sequence WHERE name = ?1",
                [&t.name],
                |r| r.get(0),
            )?
        } else {
            0
        }
    } else {
        0
    };
    for (column, sequence) in &t.sequences {
        let sql = format!(
            "SELECT GREATEST(COALESCE(MAX({}), 0), $1::bigint) FROM {}",
            ident(column),
            ident(&t.name)
        );
        let last: i64 = tx.query_one(sql.as_str(), &[&counter])?.try_get(0)?;
        if last > 0 {
            tx.query_one(
                "SELECT setval($1::text::regclass, $2::bigint, true)",
                &[sequence, &last],
            )?;
        } else {
            tx.query_one("SELECT setval($1::text::regclass, 1, false)", &[sequence])?;
        }
    }
    Ok(())
}

/// What the change log is on both sides after the copy.
#[derive(Debug)]
struct LogState {
    head: u64,
    id: String,
    documents: u64,
    entries: u64,
}

/// Row counts of every copied table, on both sides; the change log's last number and
/// identity. Inside both transactions.
fn verify_tables(
    src: &Connection,
    tx: &mut Transaction<'_>,
    tables: &[TableCopy],
) -> Result<LogState, MigrateError> {
    let mut counts = HashMap::new();
    for t in tables {
        let sql = format!("SELECT count(*) FROM {}", ident(&t.name));
        let sqlite: i64 = src.query_row(&sql, [], |r| r.get(0))?;
        let postgres: i64 = tx.query_one(sql.as_str(), &[])?.try_get(0)?;
        let (sqlite, postgres) = (count(sqlite)?, count(postgres)?);
        if sqlite != postgres || sqlite != t.rows {
            return Err(MigrateError::CountMismatch {
                table: t.name.clone(),
                sqlite,
                postgres,
            });
        }
        counts.insert(t.name.as_str(), sqlite);
    }
    let head_sql = "SELECT COALESCE(MAX(seq), 0) FROM change_log";
    let sqlite_head: i64 = src.query_row(head_sql, [], |r| r.get(0))?;
    let postgres_head: i64 = tx.query_one(head_sql, &[])?.try_get(0)?;
    if sqlite_head != postgres_head {
        return Err(MigrateError::Mismatch {
            what: "the change log's last number",
            sqlite: sqlite_head.to_string(),
            postgres: postgres_head.to_string(),
        });
    }
    let id_sql = "SELECT value FROM hub_meta WHERE key = 'log_id'";
    let sqlite_id: String = src.query_row(id_sql, [], |r| r.get(0))?;
    let postgres_id: Option<String> = tx
        .query_opt(id_sql, &[])?
        .map(|r| r.try_get(0))
        .transpose()?;
    if postgres_id.as_deref() != Some(sqlite_id.as_str()) {
        return Err(MigrateError::Mismatch {
            what: "the change log's identity",
            sqlite: sqlite_id,
            postgres: postgres_id.unwrap_or_else(|| "missing".into()),
        });
    }
    Ok(LogState {
        head: count(sqlite_head)?,
        id: sqlite_id,
        documents: counts.get("documents").copied().unwrap_or(0),
        entries: counts.get("change_log").copied().unwrap_or(0),
    })
}

fn count(n: i64) -> Result<u64, MigrateError> {
    u64::try_from(n).map_err(|_| MigrateError::Sqlite(format!("a negative count or number {n}")))
}

/// The committed copy, read through the storage a hub will use.
fn verify_storage(target: &PgStorage, log: &LogState) -> Result<(), MigrateError> {
    let id = target.log_id()?;
    if id != log.id {
        return Err(MigrateError::Mismatch {
            what: "the change log's identity",
            sqlite: log.id.clone(),
            postgres: id,
        });
    }
    let head = target.log_head()?;
    if head != log.head {
        return Err(MigrateError::Mismatch {
            what: "the change log's last number",
            sqlite: log.head.to_string(),
            postgres: head.to_string(),
        });
    }
    let (documents, entries) = target.counts()?;
    for (table, sqlite, postgres) in [
        ("documents", log.documents, documents),
        ("change_log", log.entries, entries),
    ] {
        if sqlite != postgres {
            return Err(MigrateError::CountMismatch {
                table: table.into(),
                sqlite,
                postgres,
            });
        }
    }
    Ok(())
}

/// The attachments of `blobs/` and what became of them.
struct BlobCopy {
    /// The directory store, if the hub has `blobs/`.
    store: Option<DirBlobStore>,
    root: PathBuf,
    /// Those handled, with their lengths.
    done: BTreeMap<String, u64>,
    copied: u64,
    bytes: u64,
    present: u64,
    partials: u64,
}

fn files_error(path: &Path, e: impl fmt::Display) -> MigrateError {
    MigrateError::Files {
        path: path.display().to_string(),
        why: e.to_string(),
    }
}

fn blob_error(sha256: &str, e: impl fmt::Display) -> MigrateError {
    MigrateError::Blob {
        sha256: sha256.to_string(),
        why: e.to_string(),
    }
}

impl BlobCopy {
    fn new(root: &Path) -> Result<BlobCopy, MigrateError> {
        let store = if root.is_dir() {
            Some(DirBlobStore::open(root).map_err(|e| files_error(root, e))?)
        } else {
            None
        };
        Ok(BlobCopy {
            store,
            root: root.to_path_buf(),
            done: BTreeMap::new(),
            copied: 0,
            bytes: 0,
            present: 0,
            partials: 0,
        })
    }

    /// The complete blobs in the directory: `<2 hex>/<sha256>`, sorted.
    fn list(&self) -> Result<Vec<String>, MigrateError> {
        let mut found = Vec::new();
        if self.store.is_none() {
            return Ok(found);
        }
        let read = |dir: &Path| std::fs::read_dir(dir).map_err(|e| files_error(dir, e));
        for shard in read(&self.root)? {
            let shard = shard.map_err(|e| files_error(&self.root, e))?;
            let Some(prefix) = shard.file_name().to_str().map(str::to_string) else {
                continue;
            };
            let is_shard = prefix.len() == 2
                && prefix.bytes().all(|b| b.is_ascii_hexdigit())
                && shard.path().is_dir();
            if !is_shard {
                continue;
            }
            for blob in read(&shard.path())? {
                let blob = blob.map_err(|e| files_error(&shard.path(), e))?;
                let Some(sha) = blob.file_name().to_str().map(str::to_string) else {
                    continue;
                };
                if bianmin_domain::attachment::validate_sha256(&sha).is_ok()
                    && sha.starts_with(&prefix)
                    && blob.path().is_file()
                {
                    found.push(sha);
                }
            }
        }
        found.sort();
        Ok(found)
    }

    /// Copies the complete blobs not handled yet; counts the partial uploads.
    fn copy_new(&mut self, target: &PgBlobStore) -> Result<(), MigrateError> {
        let Some(store) = &self.store else {
            return Ok(());
        };
        for sha in self.list()? {
            if self.done.contains_key(&sha) {
                continue;
            }
            let Some(blob) = store.open(&sha).map_err(|e| blob_error(&sha, e))? else {
                continue;
            };
            let len = blob.len;
            if target.is_complete(&sha).map_err(|e| blob_error(&sha, e))? {
                self.present += 1;
            } else {
                copy_blob(blob, target, &sha)?;
                self.copied += 1;
                self.bytes += len;
            }
            self.done.insert(sha, len);
        }
        let partial = self.root.join("partial");
        self.partials = if partial.is_dir() {
            std::fs::read_dir(&partial)
                .map_err(|e| files_error(&partial, e))?
                .filter(|e| e.as_ref().is_ok_and(|e| e.path().is_file()))
                .count() as u64
        } else {
            0
        };
        Ok(())
    }

    /// Every blob handled is complete in PostgreSQL with its length.
    fn verify(&self, target: &PgBlobStore) -> Result<(), MigrateError> {
        for (sha, len) in &self.done {
            let complete = target.is_complete(sha).map_err(|e| blob_error(sha, e))?;
            let held = target.received(sha).map_err(|e| blob_error(sha, e))?;
            if !complete || held != *len {
                return Err(blob_error(
                    sha,
                    format!(
                        "verification failed: {len} bytes in blobs/, {held} in PostgreSQL{}",
                        if complete { "" } else { " (incomplete)" }
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// Streams one blob into the store in pieces of [`PIECE_BYTES`]; the store's `finish` checks
/// its SHA-256.
fn copy_blob(
    blob: crate::blobs::OpenBlob,
    target: &PgBlobStore,
    sha: &str,
) -> Result<(), MigrateError> {
    let fail = |e: crate::blobs::BlobError| blob_error(sha, e);
    // What an earlier run that failed midway left.
    target.discard(sha).map_err(fail)?;
    let mut reader = blob.reader;
    let mut piece = vec![0u8; PIECE_BYTES];
    let mut offset = 0u64;
    loop {
        let mut filled = 0;
        while filled < piece.len() {
            let n = reader
                .read(&mut piece[filled..])
                .map_err(|e| blob_error(sha, format!("reading blobs/: {e}")))?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        // The first append starts the upload even for an empty blob.
        if filled > 0 || offset == 0 {
            offset = target.append(sha, offset, &piece[..filled]).map_err(fail)?;
        }
        if filled < piece.len() {
            break;
        }
    }
    if offset != blob.len {
        return Err(blob_error(
            sha,
            format!(
                "{offset} bytes read of {} (the file changed while it was read)",
                blob.len
            ),
        ));
    }
    target.finish(sha).map_err(|e| match e {
        crate::blobs::BlobError::HashMismatch { .. } => blob_error(
            sha,
            "the file in blobs/ does not hash to its name: it is damaged (move it out of blobs/ \
             and run the move again; the tablet that took it can send it again)",
        ),
        other => blob_error(sha, other),
    })
}

#[cfg(test)]
mod tests {
    //! Against a real PostgreSQL server: `BIANMIN_TEST_DATABASE_URL` (default [`DEFAULT_URL`]),
    //! each test in schemas of its own, dropped when it ends, even by a panic. Without a
    //! reachable server the tests say so on stderr and pass, except under CI (`CI` set), where
    //! they fail (the rule of `storage/postgres/tests.rs`).

    use std::sync::Arc;

    use automerge::{ActorId, AutoCommit};
    use bianmin_document::author::{self, Author, NewAttachment};
    use bianmin_document::layout::{agenda as agenda_doc, request as request_doc};
    use bianmin_document::model::{NewAgendaItem, NewRequest, Page, RequestFilter, RequestSort};
    use bianmin_document::{Decoded, DocKind, Reference};
    use bianmin_domain::{AttrValue, MediaType, ReceiptNo, Timestamp, WorkingCalendar};
    use bianmin_protocol::{B64, EnrolRequest, PROTOCOL_VERSION, PushDoc, PushResult, SyncRequest};
    use sha2::{Digest, Sha256};

    use super::*;
    use crate::auth::{self, AuthedDevice};
    use crate::engine::Engine;
    use crate::storage::postgres::testdb::test_db;
    use crate::storage::sqlite::SqliteStorage;
    use crate::storage::{Commit, LogPage, ReadScope, RevealRecord, SessionRecord};

    const EAST: &str = "370883101201";
    const WEST: &str = "370883101202";

    /// A SQLite hub with something in every table.
    struct Hub {
        dir: tempfile::TempDir,
        sqlite: Arc<SqliteStorage>,
        photo: Vec<u8>,
        photo_sha: String,
        partial_sha: String,
        /// The token hashes of East Village's clerk's tablet and of a revoked one.
        east_token: String,
        revoked_token: String,
        east_device: String,
        session_key: String,
        receipt: String,
        resident: String,
    }

    fn changes_of(am: &mut AutoCommit) -> Vec<B64> {
        am.get_changes(&[])
            .into_iter()
            .map(|c| B64(c.raw_bytes().to_vec()))
            .collect()
    }

    /// Demo users, reference data and West Village's demo requests (pushed through the
    /// engine's checks); East Village's clerk enrolled, filing a request with a photo attached
    /// and opening an agenda item; the photo's bytes and half of another upload in `blobs/`;
    /// a revoked device, a console password and session, a reveal.
    fn hub() -> Hub {
        let dir = tempfile::tempdir().unwrap();
        let sqlite = Arc::new(SqliteStorage::open(dir.path()).unwrap());
        let storage: Arc<dyn Storage> = sqlite.clone();
        crate::admin::load_demo(storage.as_ref()).unwrap();
        let engine = Engine::new(storage.clone());
        assert_eq!(crate::demo::load(storage.as_ref(), &engine).unwrap(), 4);

        let enrol = |user: &str| {
            let code = crate::admin::issue_enrolment_code(
                storage.as_ref(),
                user,
                Duration::from_secs(3600),
            )
            .unwrap();
            engine
                .enrol(EnrolRequest {
                    protocol: PROTOCOL_VERSION,
                    code,
                    device_name: format!("{user} 平板"),
                })
                .unwrap()
        };
        let east = enrol("clerk-east");
        let east_token = auth::hash_secret(&east.token);
        let (device, user) = storage.device_by_token(&east_token).unwrap().unwrap();
        let who = AuthedDevice {
            device,
            user,
            identity: east.identity.clone(),
            token_hash: east_token.clone(),
        };
        let reference = Reference {
            catalog: east.reference.catalog.clone(),
            directory: east.reference.directory.clone(),
            calendar: WorkingCalendar::new(east.reference.calendars.clone()),
        };
        let actor: ActorId = east.actor.parse().unwrap();
        let a = Author {
            identity: &east.identity,
            reference: &reference,
            at: Timestamp::now(),
        };

        // More than one piece, so that the copy streams it.
        let photo: Vec<u8> = b"\x89PNG\r\n\x1a\n"
            .iter()
            .copied()
            .chain((0..(PIECE_BYTES as u32 + 300_000)).map(|i| (i % 251) as u8))
            .collect();
        let photo_sha = hex::encode(Sha256::digest(&photo));
        let receipt = ReceiptNo::new(EAST, east.device_no, 1);
        let filed = author::new_request(
            &a,
            &NewRequest {
                item_code: "AID-ELDER-ALLOWANCE".into(),
                applicant_name: "李桂兰".into(),
                id_number: "37088319480607003X".into(),
                phone: "13905371234".into(),
                grid: "2组".into(),
                attributes: [(
                    "bank_account".to_string(),
                    AttrValue::Text("6228 4800 1234 5678".into()),
                )]
                .into_iter()
                .collect(),
                materials_received: vec!["ID card".into()],
                resident_user: None,
                submit: true,
            },
            &receipt,
        )
        .unwrap();
        let mut request = AutoCommit::new().with_actor(actor.clone());
        request_doc::create(&mut request, &filed).unwrap();
        let Decoded::Request(current) = bianmin_document::decode(&request).unwrap() else {
            panic!("a request decodes as a request");
        };
        author::request_attach(
            &a,
            &current,
            &mut request,
            &NewAttachment {
                sha256: photo_sha.clone(),
                media_type: MediaType::Png,
                size: photo.len() as u64,
                material: "ID card",
            },
        )
        .unwrap();
        let opened = author::new_agenda(
            &a,
            &NewAgendaItem {
                title: "修缮东村主路".into(),
                category: "collective assets".into(),
                description: "村道年久失修".into(),
            },
        );
        let mut agenda = AutoCommit::new().with_actor(actor);
        agenda_doc::create(&mut agenda, &opened).unwrap();
        let answer = engine
            .sync(
                &who,
                SyncRequest {
                    pull_budget: None,
                    protocol: PROTOCOL_VERSION,
                    cursor: 0,
                    reference_version: 0,
                    push: vec![
                        PushDoc {
                            doc: filed.id,
                            changes: changes_of(&mut request),
                            saved: None,
                        },
                        PushDoc {
                            doc: opened.id,
                            changes: changes_of(&mut agenda),
                            saved: None,
                        },
                    ],
                },
            )
            .unwrap();
        assert!(
            answer
                .results
                .iter()
                .all(|r| matches!(r, PushResult::Accepted { .. })),
            "{:?}",
            answer.results
        );

        let blobs = DirBlobStore::open(dir.path().join("blobs")).unwrap();
        blobs.append(&photo_sha, 0, &photo).unwrap();
        blobs.finish(&photo_sha).unwrap();
        let partial_sha = hex::encode(Sha256::digest(b"half of a scan"));
        blobs.append(&partial_sha, 0, b"half of").unwrap();

        let lost = enrol("resident-wang");
        assert!(
            storage
                .revoke_device(&lost.device_id, 1_772_409_600_000)
                .unwrap()
        );
        let resident = storage.user_by_name("resident-wang").unwrap().unwrap().id;
        // The resident's account opened with a code since spent, a new code pending; the
        // administrator's account deactivated.
        let at = 1_772_409_600_000;
        let code_hash = |code: &str| auth::hash_secret(code);
        storage
            .add_activation_code(&code_hash("SPENT"), &resident, at, at + 86_400_000)
            .unwrap();
        storage
            .activate_account(
                "resident-wang",
                &code_hash("SPENT"),
                "$argon2id$resident",
                at,
            )
            .unwrap();
        storage
            .add_activation_code(&code_hash("PENDING"), &resident, at, at + 86_400_000)
            .unwrap();
        let admin = storage.user_by_name("admin").unwrap().unwrap();
        assert!(storage.set_deactivated(&admin.id, Some(at)).unwrap());

        let reviewer = storage.user_by_name("reviewer-taiping").unwrap().unwrap();
        storage
            .set_password(
                &reviewer.id,
                Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"),
            )
            .unwrap();
        let session_key = hex::encode(Sha256::digest(b"a session id"));
        storage
            .save_session(&SessionRecord {
                key: session_key.clone(),
                user_id: reviewer.id.clone(),
                csrf: "csrf-token".into(),
                created_at: 1_772_409_600_000,
                seen_at: 1_772_409_660_000,
            })
            .unwrap();
        storage
            .record_reveal(&RevealRecord {
                doc_id: filed.id,
                user_id: reviewer.id,
                field: "applicant.id_number".into(),
                at: 1_772_409_700_000,
            })
            .unwrap();
        // An application's Open311 key, and a revoked one.
        crate::admin::issue_open311_key(storage.as_ref(), "370883101", "12345 热线").unwrap();
        let revoked =
            crate::admin::issue_open311_key(storage.as_ref(), "370883102", "旧应用").unwrap();
        crate::admin::revoke_open311_key(storage.as_ref(), revoked.record.id).unwrap();
        Hub {
            dir,
            sqlite,
            photo,
            photo_sha,
            partial_sha,
            east_token,
            revoked_token: auth::hash_secret(&lost.token),
            east_device: east.device_id,
            session_key,
            receipt: receipt.to_string(),
            resident,
        }
    }

    fn scopes(hub: &Hub) -> Vec<ReadScope> {
        vec![
            ReadScope::County("370883".into()),
            ReadScope::Township("370883101".into()),
            ReadScope::Village(EAST.into()),
            ReadScope::Village(WEST.into()),
            ReadScope::Resident {
                user: hub.resident.clone(),
            },
        ]
    }

    /// Every page of the log `scope` may read, from the start, in small pages.
    fn whole_log(s: &dyn Storage, scope: &ReadScope, exclude: Option<&str>) -> Vec<LogPage> {
        let mut pages = Vec::new();
        let mut cursor = 0;
        loop {
            let page = s.changes_after(scope, cursor, 2_000, exclude).unwrap();
            cursor = page.cursor;
            let more = page.more;
            pages.push(page);
            if !more {
                return pages;
            }
        }
    }

    fn sqlite_count(hub: &Hub, table: &str) -> u64 {
        let conn = Connection::open(hub.dir.path().join(DB_FILE)).unwrap();
        let n: i64 = conn
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap();
        n as u64
    }

    #[test]
    fn the_moved_hub_answers_as_the_sqlite_hub_did() {
        let Some(db) = test_db() else { return };
        let hub = hub();
        let pg = db.storage();
        let report = migrate_to_postgres(hub.dir.path(), &pg).unwrap();

        // Every table the schemas share, with every row.
        let copied: BTreeMap<&str, u64> = report
            .tables
            .iter()
            .map(|t| (t.name.as_str(), t.rows))
            .collect();
        for table in [
            "users",
            "enrolment_codes",
            "devices",
            "reference",
            "calendars",
            "documents",
            "change_log",
            "hub_meta",
            "request_index",
            "agenda_index",
            "blob_refs",
            "console_sessions",
            "reveal_log",
            "receipts",
            "activation_codes",
            "open311_keys",
        ] {
            assert_eq!(
                copied.get(table),
                Some(&sqlite_count(&hub, table)),
                "{table}"
            );
            assert!(copied[table] > 0, "the test hub has rows in {table}");
        }
        assert_eq!(copied.len(), 16, "{copied:?}");
        let position = |name: &str| report.tables.iter().position(|t| t.name == name);
        assert!(position("users") < position("devices"), "parents first");
        assert!(position("documents") < position("change_log"));
        let skipped: BTreeMap<&str, &str> = report
            .skipped
            .iter()
            .map(|s| (s.name.as_str(), s.only_in))
            .collect();
        assert_eq!(
            skipped,
            BTreeMap::from([
                ("sqlite_sequence", "SQLite"),
                ("schema_migrations", "PostgreSQL"),
                ("blobs", "PostgreSQL"),
                ("blob_chunks", "PostgreSQL"),
                ("blob_partials", "PostgreSQL"),
                ("counters", "both"),
            ])
        );
        assert_eq!(
            (report.blobs, report.blob_bytes, report.blobs_present),
            (1, hub.photo.len() as u64, 0)
        );
        assert_eq!(report.partial_uploads, 1);
        let shown = report.to_string();
        assert!(shown.contains("change_log") && shown.contains(&report.log_id));

        let s: &dyn Storage = hub.sqlite.as_ref();
        let p: &dyn Storage = &pg;
        assert_eq!(
            p.log_id().unwrap(),
            s.log_id().unwrap(),
            "no restore is signalled"
        );
        assert_eq!(p.log_head().unwrap(), s.log_head().unwrap());
        assert_eq!(report.log_head, s.log_head().unwrap());
        assert_eq!(p.counts().unwrap(), s.counts().unwrap());
        assert_eq!(p.users().unwrap(), s.users().unwrap());
        for u in s.users().unwrap() {
            assert_eq!(p.user(&u.id).unwrap(), Some(u.clone()));
            assert_eq!(
                p.account_status(&u.id).unwrap(),
                s.account_status(&u.id).unwrap()
            );
            assert_eq!(p.user_by_name(&u.name).unwrap(), Some(u));
        }
        assert_eq!(p.devices().unwrap(), s.devices().unwrap());
        let keys = s.open311_keys().unwrap();
        assert_eq!(p.open311_keys().unwrap(), keys);
        assert!(keys.iter().any(|k| k.revoked_at.is_some()));
        for k in &keys {
            assert_eq!(p.open311_key(k.id).unwrap().as_ref(), Some(k));
        }
        for token in [&hub.east_token, &hub.revoked_token] {
            let found = p.device_by_token(token).unwrap();
            assert!(found.is_some(), "the tablet's token still works");
            assert_eq!(found, s.device_by_token(token).unwrap());
        }
        assert!(
            p.device_by_token(&hub.revoked_token)
                .unwrap()
                .unwrap()
                .0
                .revoked_at
                .is_some()
        );
        assert_eq!(p.reference().unwrap(), s.reference().unwrap());
        assert_eq!(
            p.session(&hub.session_key).unwrap(),
            s.session(&hub.session_key).unwrap()
        );
        assert!(p.session(&hub.session_key).unwrap().is_some());

        let ids = s.document_ids(None, 100, false).unwrap();
        assert_eq!(ids.len(), 6);
        assert_eq!(p.document_ids(None, 100, false).unwrap(), ids);
        assert!(
            p.document_ids(None, 100, true).unwrap().is_empty(),
            "all indexed"
        );
        for id in ids {
            assert_eq!(p.document(id).unwrap(), s.document(id).unwrap());
            assert_eq!(p.audit(id).unwrap(), s.audit(id).unwrap());
            assert_eq!(p.reveals(id).unwrap(), s.reveals(id).unwrap());
        }
        assert_eq!(p.log_tail(0, 1_000).unwrap(), s.log_tail(0, 1_000).unwrap());

        let calendar = WorkingCalendar::new(s.reference().unwrap().unwrap().calendars);
        let today = NaiveDate::from_ymd_opt(2026, 3, 2).unwrap();
        for scope in scopes(&hub) {
            for exclude in [None, Some(hub.east_device.as_str())] {
                assert_eq!(
                    whole_log(p, &scope, exclude),
                    whole_log(s, &scope, exclude),
                    "{scope:?}"
                );
            }
            for sort in [
                RequestSort::Deadline,
                RequestSort::RecentlyUpdated,
                RequestSort::RecentlyFiled,
                RequestSort::ReceiptNo,
            ] {
                let list = |st: &dyn Storage| {
                    st.requests(
                        &scope,
                        &RequestFilter::default(),
                        sort,
                        Page::first(50),
                        today,
                        &calendar,
                    )
                    .unwrap()
                };
                assert_eq!(list(p), list(s), "{scope:?} {sort:?}");
            }
            assert_eq!(
                p.request_stats(&scope).unwrap(),
                s.request_stats(&scope).unwrap()
            );
            assert_eq!(
                p.agenda_rows(&scope, &[]).unwrap(),
                s.agenda_rows(&scope, &[]).unwrap()
            );
        }
        let county = ReadScope::County("370883".into());
        assert!(
            whole_log(s, &county, None).len() > 1,
            "the log is compared page by page"
        );
        assert_eq!(
            p.blob_references(&hub.photo_sha).unwrap(),
            s.blob_references(&hub.photo_sha).unwrap()
        );
        assert_eq!(p.blob_references(&hub.photo_sha).unwrap().len(), 1);
        assert_eq!(
            p.request_by_receipt(&hub.receipt).unwrap(),
            s.request_by_receipt(&hub.receipt).unwrap()
        );

        let blobs = PgBlobStore::new(&pg);
        let mut read = Vec::new();
        blobs
            .open(&hub.photo_sha)
            .unwrap()
            .expect("the photo is in PostgreSQL")
            .reader
            .read_to_end(&mut read)
            .unwrap();
        assert!(read == hub.photo, "the photo's bytes are the same");
        assert_eq!(
            blobs.received(&hub.partial_sha).unwrap(),
            0,
            "partials stay"
        );

        // Key numbers go on after the copied ones (the requests an application filed name
        // their key by number).
        let next = p
            .add_open311_key("after-the-move", "370883101", "next", 0)
            .unwrap();
        assert!(keys.iter().all(|k| k.id < next.id), "{next:?}");

        // Moving again into the database now in use: refused, nothing changes.
        let before = (
            p.counts().unwrap(),
            p.users().unwrap(),
            p.log_head().unwrap(),
        );
        match migrate_to_postgres(hub.dir.path(), &pg) {
            Err(e @ MigrateError::TargetNotEmpty { .. }) => {
                let text = e.to_string();
                assert!(text.contains("users 5"), "{text}");
            }
            other => panic!("a second move must be refused, got {other:?}"),
        }
        let after = (
            p.counts().unwrap(),
            p.users().unwrap(),
            p.log_head().unwrap(),
        );
        assert_eq!(after, before);
    }

    #[test]
    fn a_change_after_the_move_gets_a_number_above_every_copied_one() {
        let Some(db) = test_db() else { return };
        let hub = hub();
        // SQLite never gives a number twice (AUTOINCREMENT), even one whose row is gone: the
        // counter here is past the last row, as after a deleted one.
        let conn = Connection::open(hub.dir.path().join(DB_FILE)).unwrap();
        conn.execute(
            "UPDATE sqlite_sequence SET seq = seq + 10 WHERE name = 'change_log'",
            [],
        )
        .unwrap();
        drop(conn);
        let head = hub.sqlite.log_head().unwrap();
        let pg = db.storage();
        let report = migrate_to_postgres(hub.dir.path(), &pg).unwrap();
        assert_eq!(report.log_head, head);

        let doc = Uuid::new_v4();
        let changes = [([7u8; 32], vec![0x85, 0x6f, 0x4a, 0x83, 1])];
        let seq = pg
            .commit(&Commit {
                doc_id: doc,
                kind: DocKind::Agenda,
                village: EAST,
                resident_user: None,
                snapshot: b"doc",
                changes: &changes,
                device_id: &hub.east_device,
                user_id: "u-clerk",
                received_at: 1_772_409_800_000,
                index: None,
            })
            .unwrap();
        assert_eq!(seq, head + 11, "after SQLite's counter");
        // A tablet whose cursor is the old end reads exactly the new change.
        let page = pg
            .changes_after(&ReadScope::Village(EAST.into()), head, 1 << 20, None)
            .unwrap();
        assert_eq!(
            page.entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
            [seq]
        );
        // The reveal log's numbers go on too.
        pg.record_reveal(&RevealRecord {
            doc_id: doc,
            user_id: "u-reviewer".into(),
            field: "applicant.phone".into(),
            at: 1_772_409_900_000,
        })
        .unwrap();
        assert_eq!(pg.reveals(doc).unwrap().len(), 1);
    }

    #[test]
    fn a_hub_writing_during_the_move_is_refused_and_nothing_is_written() {
        let Some(db) = test_db() else { return };
        let hub = hub();
        let pg = db.storage();
        let sqlite = hub.sqlite.clone();
        let refused = migrate_with(hub.dir.path(), &pg, &mut || {
            // The hub still serving: a console sign-in.
            sqlite
                .save_session(&SessionRecord {
                    key: "another".into(),
                    user_id: "u-x".into(),
                    csrf: "c".into(),
                    created_at: 1,
                    seen_at: 1,
                })
                .unwrap();
        });
        assert!(
            matches!(refused, Err(MigrateError::SourceChanged)),
            "{refused:?}"
        );
        assert_eq!(pg.counts().unwrap(), (0, 0));
        assert!(pg.users().unwrap().is_empty());
        assert_ne!(pg.log_id().unwrap(), hub.sqlite.log_id().unwrap());
        assert!(pg.reference().unwrap().is_none());

        // Once the hub is stopped, the move goes through; the photo copied by the refused
        // run is kept.
        let report = migrate_to_postgres(hub.dir.path(), &pg).unwrap();
        assert_eq!((report.blobs, report.blobs_present), (0, 1));
        assert_eq!(pg.log_id().unwrap(), hub.sqlite.log_id().unwrap());
        assert_eq!(pg.counts().unwrap(), hub.sqlite.counts().unwrap());
    }

    #[test]
    fn only_a_current_hub_database_is_moved() {
        let Some(db) = test_db() else { return };
        let pg = db.storage();
        let empty = tempfile::tempdir().unwrap();
        assert!(matches!(
            migrate_to_postgres(empty.path(), &pg),
            Err(MigrateError::NoSource(_))
        ));
        let old = tempfile::tempdir().unwrap();
        let conn = Connection::open(old.path().join(DB_FILE)).unwrap();
        conn.pragma_update(None, "user_version", 3).unwrap();
        drop(conn);
        match migrate_to_postgres(old.path(), &pg) {
            Err(MigrateError::SchemaVersion { found: 3, .. }) => {}
            other => panic!("an old database must be brought up to date first: {other:?}"),
        }
        assert!(pg.users().unwrap().is_empty());
    }

    #[test]
    fn values_convert_to_the_column_types_or_say_why_without_the_value() {
        let ok = |v: ValueRef<'_>, ty: &Type| convert(v, ty).is_ok();
        assert!(ok(ValueRef::Integer(1), &Type::BOOL));
        assert!(ok(ValueRef::Integer(0), &Type::BOOL));
        assert!(ok(ValueRef::Integer(7), &Type::INT4));
        assert!(ok(ValueRef::Integer(i64::MAX), &Type::INT8));
        assert!(ok(ValueRef::Null, &Type::UUID));
        assert!(ok(ValueRef::Null, &Type::DATE));
        assert!(ok(ValueRef::Text(b"9999-12-31"), &Type::DATE));
        assert!(ok(
            ValueRef::Text(b"67e55044-10b1-426f-9247-bb680e5fe0c8"),
            &Type::UUID
        ));
        assert!(ok(ValueRef::Blob(b"\x00\x01"), &Type::BYTEA));
        for (value, ty) in [
            (ValueRef::Integer(2), Type::BOOL),
            (ValueRef::Integer(1 << 40), Type::INT4),
            (ValueRef::Text(b"13905371234"), Type::UUID),
            (ValueRef::Text(b"13905371234"), Type::DATE),
            (ValueRef::Text(b"13905371234"), Type::INT8),
            (ValueRef::Blob(b"13905371234"), Type::TEXT),
            (ValueRef::Null, Type::JSONB),
        ] {
            let why = convert(value, &ty).expect_err("refused");
            assert!(!why.contains("13905371234"), "{why}");
        }
    }
}
