//! The offline store: one SQLite file per device holding its documents, their list
//! projections, sync bookkeeping and reference data.
//!
//! One connection, which is the only writer (WAL mode, `synchronous=FULL`: a write that returned
//! survives a crash or a power cut). Every operation is one transaction: the document bytes, the
//! projection row and the sync record commit together or not at all.

pub(crate) mod agenda;
mod attachments;
pub(crate) mod requests;
pub mod sync;

use automerge::{ActorId, AutoCommit, ChangeHash};
pub use bianmin_document::Reference;
use bianmin_document::{Context, Document, Environment, Residence, check_push};
use bianmin_domain::{
    Catalog, Directory, Identity, Role, Timestamp, WorkingCalendar, YearCalendar,
};
use rusqlite::{
    Connection, OpenFlags, OptionalExtension, Transaction, TransactionBehavior, params,
};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use uuid::Uuid;

use crate::{Error, Result, schema};
use bianmin_document::layout::DocKind;

/// Incremental saves kept per document before they are folded into its snapshot.
const COMPACT_AFTER_CHUNKS: i64 = 16;

/// What a new store is created with; fixed for its lifetime.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Who uses this device, in which role and area.
    pub identity: Identity,
    /// The device's number, unique in the county (it goes into receipt numbers).
    pub device_no: u32,
    /// The reference data to start with.
    pub reference: Reference,
}

/// A source of the current time (device clock); replaceable in tests.
pub type ClockFn = Arc<dyn Fn() -> Timestamp + Send + Sync>;

/// An open store.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    identity: Identity,
    actor: ActorId,
    device_no: u32,
    reference: Reference,
    now: ClockFn,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .field("role", &self.identity.role)
            .field("area", &self.identity.area)
            .field("device_no", &self.device_no)
            .finish_non_exhaustive()
    }
}

fn configure(conn: &Connection) -> Result<()> {
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(())
}

/// Whether SQLite says the file is not a (healthy) database.
fn is_unreadable(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt)
    )
}

/// Moves an unreadable store (and its WAL files) aside; never deletes anything.
fn quarantine(path: &Path, reason: String) -> Error {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S");
    let moved_to = PathBuf::from(format!("{}.unreadable-{stamp}", path.display()));
    for suffix in ["", "-wal", "-shm"] {
        let from = PathBuf::from(format!("{}{suffix}", path.display()));
        if from.exists() {
            let to = PathBuf::from(format!("{}{suffix}", moved_to.display()));
            if let Err(e) = std::fs::rename(&from, &to) {
                tracing::error!(error = %e, "could not move an unreadable store aside");
                return Error::Storage(format!(
                    "the store is unreadable ({reason}) and could not be moved aside: {e}"
                ));
            }
        }
    }
    tracing::warn!(moved_to = %moved_to.display(), %reason, "unreadable store moved aside");
    Error::Quarantined { moved_to, reason }
}

impl Store {
    /// Creates a new store at `path` for `config`'s identity. Refuses to touch an existing file.
    pub fn create(path: impl AsRef<Path>, config: StoreConfig) -> Result<Store> {
        let actor = ActorId::from(Uuid::new_v4().as_bytes().as_slice());
        Self::create_with_actor(path.as_ref(), config, actor)
    }

    /// Creates a new store for a device the hub enrolled, with the Automerge actor (hex) the
    /// hub assigned to it.
    pub fn create_enrolled(
        path: impl AsRef<Path>,
        config: StoreConfig,
        actor_hex: &str,
    ) -> Result<Store> {
        let actor: ActorId = actor_hex.parse().map_err(|_| Error::Invalid {
            field: "actor".into(),
            rule: "must be hex".into(),
        })?;
        if actor.to_bytes().len() < 8 {
            return Err(Error::Invalid {
                field: "actor".into(),
                rule: "must be at least 8 bytes".into(),
            });
        }
        Self::create_with_actor(path.as_ref(), config, actor)
    }

    fn create_with_actor(path: &Path, config: StoreConfig, actor: ActorId) -> Result<Store> {
        if path.exists() {
            return Err(Error::AlreadyExists(path.to_path_buf()));
        }
        config.identity.validate()?;
        if matches!(config.identity.role, Role::Clerk | Role::Resident)
            && config
                .reference
                .directory
                .village(&config.identity.area)
                .is_none()
        {
            return Err(Error::Invalid {
                field: "identity.area".into(),
                rule: "is not a village of the loaded directory".into(),
            });
        }
        // Built under a temporary name and renamed into place once complete: a crash midway
        // leaves only the temporary file (replaced on the next attempt), never a half-made
        // store at `path` that neither `open` nor `create` would accept.
        let building = PathBuf::from(format!("{}.creating", path.display()));
        for suffix in ["", "-wal", "-shm"] {
            let leftover = PathBuf::from(format!("{}{suffix}", building.display()));
            if leftover.exists() {
                std::fs::remove_file(&leftover).map_err(|e| Error::Storage(e.to_string()))?;
            }
        }
        {
            let mut conn = Connection::open(&building)?;
            configure(&conn)?;
            schema::migrate(&mut conn)?;
            let tx = conn.transaction()?;
            let identity_json = json(&config.identity)?;
            for (k, v) in [
                ("identity", identity_json),
                ("actor", actor.to_hex_string()),
                ("device_no", config.device_no.to_string()),
                ("receipt_counter", "0".to_string()),
            ] {
                tx.execute(
                    "INSERT INTO meta (key, value) VALUES (?1, ?2)",
                    params![k, v],
                )?;
            }
            write_reference(&tx, &config.reference)?;
            // A new store has no row to rewrite.
            tx.execute("DELETE FROM meta WHERE key = ?1", [schema::REPROJECT_KEY])?;
            tx.commit()?;
            // Leaving WAL mode folds the WAL into the file, so the rename moves everything.
            conn.pragma_update(None, "journal_mode", "DELETE")?;
        }
        std::fs::rename(&building, path).map_err(|e| Error::Storage(e.to_string()))?;
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            // Make the rename itself durable.
            if let Ok(dir) = std::fs::File::open(parent) {
                let _ = dir.sync_all();
            }
        }
        let conn = Connection::open(path)?;
        configure(&conn)?;
        Ok(Store {
            conn,
            path: path.to_path_buf(),
            identity: config.identity,
            actor,
            device_no: config.device_no,
            reference: config.reference,
            now: Arc::new(Timestamp::now),
        })
    }

    /// Opens an existing store. Reads only its identity and reference data: the time taken does
    /// not grow with the number of documents (except once, after an upgrade whose migration
    /// added columns to the list rows: every request's row is then rewritten from its
    /// document, in one transaction).
    ///
    /// A file that SQLite cannot read is moved aside ([`Error::Quarantined`]); a store written by
    /// a newer version is refused ([`Error::TooNew`]) and left untouched.
    pub fn open(path: impl AsRef<Path>) -> Result<Store> {
        let path = path.as_ref();
        if !path.is_file() {
            return Err(Error::Invalid {
                field: "store".into(),
                rule: format!("no store file at {}", path.display()),
            });
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        );
        let mut conn = match conn {
            Ok(c) => c,
            Err(e) if is_unreadable(&e) => return Err(quarantine(path, e.to_string())),
            Err(e) => return Err(e.into()),
        };
        let probe: rusqlite::Result<i64> =
            conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0));
        match probe {
            Err(e) if is_unreadable(&e) => {
                drop(conn);
                return Err(quarantine(path, e.to_string()));
            }
            Err(e) => return Err(e.into()),
            Ok(_) => {}
        }
        if schema::version(&conn)? == 0 {
            return Err(Error::Invalid {
                field: "store".into(),
                rule: "is a SQLite database but not a Bianmin store; it was left untouched".into(),
            });
        }
        let found = schema::version(&conn)?;
        if found > schema::VERSION {
            return Err(Error::TooNew {
                found,
                supported: schema::VERSION,
            });
        }
        configure(&conn)?;
        schema::migrate(&mut conn)?;
        let meta = |key: &str| -> Result<String> {
            conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
                .optional()?
                .ok_or_else(|| Error::Storage(format!("store metadata lacks {key}")))
        };
        let identity: Identity = serde_json::from_str(&meta("identity")?)
            .map_err(|e| Error::Storage(format!("store identity: {e}")))?;
        let actor_hex = meta("actor")?;
        let actor: ActorId = actor_hex
            .parse()
            .map_err(|_| Error::Storage("store actor".into()))?;
        let device_no = meta("device_no")?
            .parse()
            .map_err(|_| Error::Storage("store device_no".into()))?;
        let reference = read_reference(&conn)?;
        let reproject: Option<String> = conn
            .query_row(
                "SELECT value FROM meta WHERE key = ?1",
                [schema::REPROJECT_KEY],
                |r| r.get(0),
            )
            .optional()?;
        if reproject.is_some() {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            requests::reproject_all(&tx, &reference)?;
            tx.execute("DELETE FROM meta WHERE key = ?1", [schema::REPROJECT_KEY])?;
            tx.commit()?;
        }
        Ok(Store {
            conn,
            path: path.to_path_buf(),
            identity,
            actor,
            device_no,
            reference,
            now: Arc::new(Timestamp::now),
        })
    }

    /// The identity this store acts as.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The device's number (part of receipt numbers).
    pub fn device_no(&self) -> u32 {
        self.device_no
    }

    /// The device's Automerge actor, as hex (for the server's enrolment record).
    pub fn actor_hex(&self) -> String {
        self.actor.to_hex_string()
    }

    /// The reference data in use.
    pub fn reference(&self) -> &Reference {
        &self.reference
    }

    /// Replaces the reference data (for example after the server sent a new catalog). Requests
    /// keep the level and time limit they were filed with; their deadlines are recomputed with
    /// the new calendar.
    pub fn set_reference(&mut self, reference: Reference) -> Result<()> {
        let tx = self.write_tx()?;
        write_reference(&tx, &reference)?;
        requests::reproject_all(&tx, &reference)?;
        tx.commit()?;
        self.reference = reference;
        Ok(())
    }

    /// Replaces the clock that stamps events (tests and imports use a fixed or simulated one).
    pub fn set_clock(&mut self, now: ClockFn) {
        self.now = now;
    }

    /// The number of requests and agenda items stored.
    pub fn counts(&self) -> Result<(u64, u64)> {
        let count = |table: &str| -> Result<u64> {
            let n: i64 =
                self.conn
                    .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))?;
            Ok(n as u64)
        };
        Ok((count("requests")?, count("agenda_items")?))
    }

    fn author(&self) -> bianmin_document::author::Author<'_> {
        bianmin_document::author::Author {
            identity: &self.identity,
            reference: &self.reference,
            at: (self.now)(),
        }
    }

    /// Begins a write transaction. Writes go through `&mut self` methods, so this connection is
    /// the only writer and the transaction may borrow it shared while the method reads `self`.
    fn write_tx(&self) -> Result<Transaction<'_>> {
        Ok(Transaction::new_unchecked(
            &self.conn,
            TransactionBehavior::Immediate,
        )?)
    }

    /// Runs the one check of every change ([`bianmin_document::check_push`], the hub's) on
    /// what this store just wrote into `am` since `since` (`before` is the document as it was,
    /// `None` for a new one): the tablet stores nothing the hub would refuse.
    fn check_write(
        &self,
        tx: &Transaction<'_>,
        id: Uuid,
        before: Option<&Document>,
        am: &mut AutoCommit,
        since: &[ChangeHash],
    ) -> Result<()> {
        let changes: Vec<Vec<u8>> = am
            .get_changes(since)
            .iter()
            .map(|c| c.raw_bytes().to_vec())
            .collect();
        let env = LocalEnv { tx };
        let ctx = Context {
            sender: &self.identity,
            device_no: Some(self.device_no),
            reference: &self.reference,
            now: (self.now)(),
            env: &env,
        };
        match check_push(before, id, &changes, &self.actor.to_hex_string(), &ctx) {
            Ok(_) => Ok(()),
            Err(refusal) => Err(bianmin_document::Error::from(refusal).into()),
        }
    }

    fn new_doc(&self) -> AutoCommit {
        AutoCommit::new().with_actor(self.actor.clone())
    }
}

/// What a tablet knows around its own writes: its own requests' receipt numbers. It does not
/// know the hub's users (the hub checks residents) and holds only bytes it may read.
struct LocalEnv<'a> {
    tx: &'a Transaction<'a>,
}

impl Environment for LocalEnv<'_> {
    fn residence(&self, _user: &str) -> Residence {
        Residence::Unknown
    }

    fn receipt_taken(&self, receipt_no: &str, doc: Uuid) -> bool {
        self.tx
            .query_row(
                "SELECT 1 FROM requests WHERE receipt_no = ?1 AND id != ?2",
                params![receipt_no, doc.to_string()],
                |_| Ok(()),
            )
            .optional()
            .ok()
            .flatten()
            .is_some()
    }

    fn blob_hidden(&self, _sha256: &str, _sender: &Identity) -> bool {
        false
    }
}

fn json<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| Error::Storage(e.to_string()))
}

fn write_reference(tx: &Transaction<'_>, r: &Reference) -> Result<()> {
    tx.execute("DELETE FROM reference", [])?;
    let put = |kind: String, json: String| -> Result<()> {
        tx.execute(
            "INSERT INTO reference (kind, json) VALUES (?1, ?2)",
            params![kind, json],
        )?;
        Ok(())
    };
    put("catalog".into(), json(&r.catalog)?)?;
    put("directory".into(), json(&r.directory)?)?;
    for y in r.calendar.years() {
        put(format!("calendar:{}", y.year), json(y)?)?;
    }
    Ok(())
}

fn read_reference(conn: &Connection) -> Result<Reference> {
    let mut stmt = conn.prepare("SELECT kind, json FROM reference")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    let mut catalog = None;
    let mut directory = None;
    let mut years = Vec::new();
    for row in rows {
        let (kind, json) = row?;
        let bad = |e: bianmin_domain::ValidationError| Error::Storage(format!("reference {e}"));
        match kind.as_str() {
            "catalog" => catalog = Some(Catalog::from_json(&json).map_err(bad)?),
            "directory" => directory = Some(Directory::from_json(&json).map_err(bad)?),
            k if k.starts_with("calendar:") => {
                years.push(YearCalendar::from_json(&json).map_err(bad)?)
            }
            _ => {}
        }
    }
    Ok(Reference {
        catalog: catalog.ok_or_else(|| Error::Storage("no catalog stored".into()))?,
        directory: directory.ok_or_else(|| Error::Storage("no directory stored".into()))?,
        calendar: WorkingCalendar::new(years),
    })
}

/// Loads a document from its snapshot and incremental chunks.
pub(crate) fn load_doc(
    conn: &Connection,
    id: &Uuid,
    actor: &ActorId,
) -> Result<Option<(DocKind, AutoCommit)>> {
    let row: Option<(String, Vec<u8>, i64)> = conn
        .prepare_cached("SELECT kind, snapshot, chunks FROM documents WHERE id = ?1")?
        .query_row([id.to_string()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    let Some((kind, snapshot, chunks)) = row else {
        return Ok(None);
    };
    let kind =
        DocKind::parse(&kind).ok_or_else(|| Error::Storage("unknown document kind".into()))?;
    let mut doc = AutoCommit::load(&snapshot)
        .map_err(|e| Error::Storage(format!("stored document does not load: {e}")))?;
    if chunks > 0 {
        let mut stmt =
            conn.prepare_cached("SELECT bytes FROM doc_chunks WHERE doc_id = ?1 ORDER BY seq")?;
        let mut rows = stmt.query([id.to_string()])?;
        while let Some(row) = rows.next()? {
            let bytes: Vec<u8> = row.get(0)?;
            doc.load_incremental(&bytes)
                .map_err(|e| Error::Storage(format!("stored document chunk does not load: {e}")))?;
        }
    }
    doc.set_actor(actor.clone());
    Ok(Some((kind, doc)))
}

/// Saves a document: a snapshot when new, otherwise the changes made since `before` as an
/// incremental chunk, folded into a fresh snapshot every [`COMPACT_AFTER_CHUNKS`] writes.
pub(crate) fn save_doc(
    tx: &Transaction<'_>,
    id: &Uuid,
    kind: DocKind,
    doc: &mut AutoCommit,
    before: Option<&[ChangeHash]>,
) -> Result<()> {
    match before {
        None => insert_snapshot(tx, id, kind, &doc.save()),
        Some(before) => {
            let bytes = doc.save_after(before);
            append_chunk(tx, id, &bytes, || doc.save())
        }
    }
}

/// Stores a new document's first snapshot.
pub(crate) fn insert_snapshot(
    tx: &Transaction<'_>,
    id: &Uuid,
    kind: DocKind,
    snapshot: &[u8],
) -> Result<()> {
    tx.prepare_cached("INSERT INTO documents (id, kind, snapshot, chunks) VALUES (?1, ?2, ?3, 0)")?
        .execute(params![id.to_string(), kind.as_str(), snapshot])?;
    Ok(())
}

/// Appends an incremental chunk to a stored document, or, every [`COMPACT_AFTER_CHUNKS`]
/// chunks, replaces snapshot and chunks with `full()`.
pub(crate) fn append_chunk(
    tx: &Transaction<'_>,
    id: &Uuid,
    bytes: &[u8],
    full: impl FnOnce() -> Vec<u8>,
) -> Result<()> {
    if bytes.is_empty() {
        return Ok(());
    }
    let chunks: i64 = tx
        .prepare_cached("SELECT chunks FROM documents WHERE id = ?1")?
        .query_row([id.to_string()], |r| r.get(0))?;
    if chunks + 1 >= COMPACT_AFTER_CHUNKS {
        tx.prepare_cached("UPDATE documents SET snapshot = ?2, chunks = 0 WHERE id = ?1")?
            .execute(params![id.to_string(), full()])?;
        tx.prepare_cached("DELETE FROM doc_chunks WHERE doc_id = ?1")?
            .execute([id.to_string()])?;
    } else {
        tx.prepare_cached("INSERT INTO doc_chunks (doc_id, seq, bytes) VALUES (?1, ?2, ?3)")?
            .execute(params![id.to_string(), chunks + 1, bytes])?;
        tx.prepare_cached("UPDATE documents SET chunks = ?2 WHERE id = ?1")?
            .execute(params![id.to_string(), chunks + 1])?;
    }
    Ok(())
}

/// Records that this device changed a document the server has not acknowledged.
pub(crate) fn mark_unsynced(tx: &Transaction<'_>, id: &Uuid) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO sync_state (doc_id, acked_heads, unsynced) VALUES (?1, x'', 1)
         ON CONFLICT (doc_id) DO UPDATE SET unsynced = 1",
    )?
    .execute([id.to_string()])?;
    Ok(())
}
