//! The SQLite schema, as numbered migrations on `PRAGMA user_version`.
//!
//! Each step runs in its own transaction and sets `user_version` to its number. A database
//! whose version is newer than [`VERSION`] is refused, never downgraded. Never edit a released
//! step: add a new one (and a test that upgrades from a snapshot of the old layout).

use rusqlite::Connection;

use crate::{Error, Result};

/// The schema version this code writes.
pub const VERSION: i64 = MIGRATIONS.len() as i64;

const MIGRATIONS: &[&str] = &[
    // 1: documents, projections, sync state, reference data.
    r#"
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) WITHOUT ROWID;

    -- One Automerge document per request or agenda item: a compacted snapshot plus the
    -- incremental saves since (folded into the snapshot every few writes).
    CREATE TABLE documents (
        id       TEXT PRIMARY KEY,
        kind     TEXT NOT NULL CHECK (kind IN ('request', 'agenda')),
        snapshot BLOB NOT NULL,
        chunks   INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE doc_chunks (
        doc_id TEXT NOT NULL REFERENCES documents(id),
        seq    INTEGER NOT NULL,
        bytes  BLOB NOT NULL,
        PRIMARY KEY (doc_id, seq)
    ) WITHOUT ROWID;

    -- The clerk's lists read only this projection, never the documents. Every column is a
    -- function of the document (and the reference data), so replicas agree on it.
    CREATE TABLE requests (
        id               TEXT PRIMARY KEY REFERENCES documents(id),
        receipt_no       TEXT NOT NULL,
        item_code        TEXT NOT NULL,
        village          TEXT NOT NULL,
        grid             TEXT NOT NULL,
        resident_user    TEXT,
        applicant_masked TEXT NOT NULL,
        status           TEXT NOT NULL,
        conflict         INTEGER NOT NULL,
        clock            TEXT NOT NULL,
        due_date         TEXT NOT NULL,   -- YYYY-MM-DD; '9999-12-31' when no deadline runs
        filed_at         INTEGER NOT NULL,
        updated_at       INTEGER NOT NULL
    );
    CREATE INDEX requests_status_due ON requests (status, due_date, receipt_no);
    CREATE INDEX requests_due ON requests (due_date, receipt_no);
    CREATE INDEX requests_updated ON requests (updated_at);
    CREATE INDEX requests_filed ON requests (filed_at);
    CREATE INDEX requests_receipt ON requests (receipt_no);
    CREATE INDEX requests_village_status ON requests (village, status, due_date);
    CREATE INDEX requests_conflict ON requests (conflict) WHERE conflict != 0;
    CREATE INDEX requests_resident ON requests (resident_user) WHERE resident_user IS NOT NULL;

    CREATE TABLE agenda_items (
        id         TEXT PRIMARY KEY REFERENCES documents(id),
        village    TEXT NOT NULL,
        title      TEXT NOT NULL,
        category   TEXT NOT NULL,
        stage      TEXT NOT NULL,
        conflict   INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    );
    CREATE INDEX agenda_updated ON agenda_items (updated_at);

    -- Sync bookkeeping, committed with the document it describes: the heads the server has
    -- acknowledged, and whether this device has changes beyond them.
    CREATE TABLE sync_state (
        doc_id      TEXT PRIMARY KEY REFERENCES documents(id),
        acked_heads BLOB NOT NULL,
        unsynced    INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX sync_unsynced ON sync_state (unsynced) WHERE unsynced = 1;

    -- Read-only reference data: catalog, directory, one calendar per year.
    CREATE TABLE reference (
        kind TEXT PRIMARY KEY,
        json TEXT NOT NULL
    ) WITHOUT ROWID;
    "#,
    // 2: edits the hub refused, kept visible (and their bytes kept as evidence) after rollback.
    r#"
    CREATE TABLE refused_edits (
        id         INTEGER PRIMARY KEY,
        doc_id     TEXT NOT NULL,
        code       TEXT NOT NULL,
        reason     TEXT NOT NULL,
        summary    TEXT NOT NULL,   -- JSON list of what was refused
        refused_at INTEGER NOT NULL,
        changes    BLOB NOT NULL    -- the refused changes, each prefixed by its u32 length
    );
    CREATE INDEX refused_edits_doc ON refused_edits (doc_id);
    "#,
    // 3: attachments: which blobs the stored requests refer to (a projection, like the list
    // rows) and how much of each the hub has acknowledged (the bytes themselves are files beside
    // the store: `<store>.blobs/<sha256>`).
    r#"
    CREATE TABLE blob_uploads (
        sha256   TEXT PRIMARY KEY NOT NULL,
        uploaded INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE attachment_refs (
        sha256     TEXT NOT NULL,
        doc_id     TEXT NOT NULL,
        size       INTEGER NOT NULL,
        media_type TEXT NOT NULL,
        PRIMARY KEY (sha256, doc_id)
    ) WITHOUT ROWID;
    CREATE INDEX attachment_refs_doc ON attachment_refs (doc_id);
    "#,
    // 4: the applicant's name (for searching lists; lists still show the masked name) and the
    // day the clock stopped. Rows written before lack both: the flag has every request's row
    // rewritten from its document when the store is next opened (see `Store::open`), in the
    // transaction that clears the flag.
    r#"
    ALTER TABLE requests ADD COLUMN applicant_name TEXT NOT NULL DEFAULT '';
    ALTER TABLE requests ADD COLUMN decided_on TEXT;
    INSERT OR REPLACE INTO meta (key, value) VALUES ('reproject_requests', '1');
    "#,
];

/// The `meta` key that asks for every request's projection row to be rewritten (set by a
/// migration that adds columns to it, cleared once done).
pub(crate) const REPROJECT_KEY: &str = "reproject_requests";

/// The schema version of an open database.
pub(crate) fn version(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row("PRAGMA user_version", [], |r| r.get(0))?)
}

/// Brings the database up to [`VERSION`], one step per transaction.
pub(crate) fn migrate(conn: &mut Connection) -> Result<()> {
    let found = version(conn)?;
    if found > VERSION {
        return Err(Error::TooNew {
            found,
            supported: VERSION,
        });
    }
    for (step, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", step as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}
