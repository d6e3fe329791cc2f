//! What the sync engine needs from the store: the local changes not yet acknowledged by the
//! server, acknowledgements, and applying changes received from elsewhere.
//!
//! Changes cross this boundary as encoded Automerge change bytes and heads as 32-byte hashes,
//! so no Automerge type leaks into the API.

use automerge::{AutoCommit, Change, ChangeHash};
use rusqlite::{OptionalExtension, params};
use uuid::Uuid;

use super::{Store, append_chunk, insert_snapshot, load_doc};
use crate::model::PendingDoc;
use crate::{Error, Result};
use bianmin_document::DocKind;
use bianmin_document::layout as document;

fn to_hashes(heads: &[[u8; 32]]) -> Vec<ChangeHash> {
    heads.iter().map(|h| ChangeHash(*h)).collect()
}

fn from_hashes(heads: &[ChangeHash]) -> Vec<[u8; 32]> {
    heads.iter().map(|h| h.0).collect()
}

fn encode_heads(heads: &[[u8; 32]]) -> Vec<u8> {
    heads.concat()
}

fn decode_heads(bytes: &[u8]) -> Vec<ChangeHash> {
    bytes
        .chunks_exact(32)
        .map(|c| ChangeHash(c.try_into().expect("32 bytes")))
        .collect()
}

/// What applying remote changes did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    /// Whether the document was new to this store.
    pub created: bool,
    /// How many of the changes were new to this store.
    pub new_changes: usize,
}

/// A remote document that passed the checks, decoded, with the bytes to store.
enum Checked {
    Request(document::request::RequestDoc),
    Agenda(document::agenda::AgendaDoc),
}

struct CheckedDoc {
    doc: Checked,
    /// The chunk to append, or `None` for a document new to this store.
    incremental: Option<Vec<u8>>,
    /// The whole document (the snapshot of a new document, or for compaction).
    full: Vec<u8>,
    new_changes: usize,
}

/// Applies untrusted changes and checks the result: every change decodes, no dependency is
/// missing, the saved bytes load back with the same heads, and they decode as a valid document
/// with the expected id. `None` when nothing was new.
fn check_remote(
    mut doc: AutoCommit,
    before: Option<Vec<ChangeHash>>,
    changes: &[Vec<u8>],
    doc_id: Uuid,
) -> Result<Option<CheckedDoc>> {
    let mut decoded = Vec::with_capacity(changes.len());
    let mut new_changes = 0;
    for (i, bytes) in changes.iter().enumerate() {
        let change = Change::from_bytes(bytes.clone())
            .map_err(|e| Error::Malformed(format!("change {i} does not decode: {e}")))?;
        if doc.get_change_by_hash(&change.hash()).is_none() {
            new_changes += 1;
        }
        decoded.push(change);
    }
    if new_changes == 0 {
        return Ok(None);
    }
    doc.apply_changes(decoded)
        .map_err(|e| Error::Malformed(format!("changes do not apply: {e}")))?;
    if !doc.get_missing_deps(&[]).is_empty() {
        return Err(Error::Malformed(
            "the changes depend on earlier changes this device does not have".into(),
        ));
    }
    let full = doc.save();
    let incremental = before.as_ref().map(|b| doc.save_after(b));
    let reloaded = AutoCommit::load(&full)
        .map_err(|e| Error::Malformed(format!("the merged document does not load: {e}")))?;
    let mut reloaded = reloaded;
    if reloaded.get_heads() != doc.get_heads() {
        return Err(Error::Malformed(
            "the merged document does not round-trip".into(),
        ));
    }
    let malformed = |e: document::DocError| Error::Malformed(e.0);
    let (checked, id) = match document::kind_of(&reloaded).map_err(malformed)? {
        DocKind::Request => {
            let d = document::request::read(&reloaded).map_err(malformed)?;
            let id = d.id;
            (Checked::Request(d), id)
        }
        DocKind::Agenda => {
            let d = document::agenda::read(&reloaded).map_err(malformed)?;
            let id = d.id;
            (Checked::Agenda(d), id)
        }
    };
    if id != doc_id {
        return Err(Error::Malformed("the document's id does not match".into()));
    }
    Ok(Some(CheckedDoc {
        doc: checked,
        incremental,
        full,
        new_changes,
    }))
}

impl Store {
    /// The ids of every document in the store.
    pub fn document_ids(&self) -> Result<Vec<Uuid>> {
        let mut stmt = self.conn.prepare("SELECT id FROM documents ORDER BY id")?;
        let ids = stmt.query_map([], |r| r.get::<_, String>(0))?;
        ids.map(|id| Uuid::parse_str(&id?).map_err(|_| Error::Storage("bad document id".into())))
            .collect()
    }

    /// How many documents hold changes made on this device that the hub has not acknowledged
    /// (what [`Store::pending_changes`] lists), without reading the changes.
    pub fn pending_documents(&self) -> Result<usize> {
        let n: i64 = self
            .conn
            .prepare_cached(
                "SELECT count(*) FROM sync_state s
                 JOIN documents d ON d.id = s.doc_id WHERE s.unsynced = 1",
            )?
            .query_row([], |r| r.get(0))?;
        Ok(usize::try_from(n).unwrap_or(0))
    }

    /// Up to `max_docs` documents with changes made on this device that the server has not
    /// acknowledged, each with those changes.
    pub fn pending_changes(&self, max_docs: usize) -> Result<Vec<PendingDoc>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT s.doc_id, s.acked_heads, d.kind FROM sync_state s
             JOIN documents d ON d.id = s.doc_id WHERE s.unsynced = 1 LIMIT ?1",
        )?;
        let rows: Vec<(String, Vec<u8>, String)> = stmt
            .query_map([max_docs as i64], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let mut out = Vec::with_capacity(rows.len());
        for (id, acked, kind) in rows {
            let id = Uuid::parse_str(&id).map_err(|_| Error::Storage("bad document id".into()))?;
            let Some((_, mut doc)) = load_doc(&self.conn, &id, &self.actor)? else {
                continue;
            };
            let changes: Vec<Vec<u8>> = doc
                .get_changes(&decode_heads(&acked))
                .into_iter()
                .filter(|c| c.actor_id() == &self.actor)
                .map(|c| c.raw_bytes().to_vec())
                .collect();
            if changes.is_empty() {
                continue;
            }
            out.push(PendingDoc {
                doc_id: id,
                kind,
                changes,
                heads: from_hashes(&doc.get_heads()),
            });
        }
        Ok(out)
    }

    /// The document in Automerge's saved (compressed) form, if the hub has acknowledged none
    /// of it and every change in it was made on this device (a document filed here that no
    /// one else has touched): what a new document's first push may carry instead of its change
    /// list. A document the hub already holds part of is answered from its sync state alone,
    /// without loading it.
    pub fn saved_form(&self, doc_id: Uuid) -> Result<Option<Vec<u8>>> {
        let acked: Vec<u8> = self
            .conn
            .prepare_cached("SELECT acked_heads FROM sync_state WHERE doc_id = ?1")?
            .query_row([doc_id.to_string()], |r| r.get(0))
            .optional()?
            .unwrap_or_default();
        if !acked.is_empty() {
            return Ok(None);
        }
        let Some((_, mut doc)) = load_doc(&self.conn, &doc_id, &self.actor)? else {
            return Ok(None);
        };
        let own = doc
            .get_changes(&[])
            .iter()
            .all(|c| c.actor_id() == &self.actor);
        Ok(own.then(|| doc.save()))
    }

    /// Records that the server holds the document up to `heads`. Local changes made since stay
    /// pending.
    pub fn acknowledge(&mut self, doc_id: Uuid, heads: &[[u8; 32]]) -> Result<()> {
        let tx = self.write_tx()?;
        let Some((_, mut doc)) = load_doc(&tx, &doc_id, &self.actor)? else {
            return Err(Error::NotFound {
                what: "document",
                id: doc_id.to_string(),
            });
        };
        let remaining = doc
            .get_changes(&to_hashes(heads))
            .iter()
            .any(|c| c.actor_id() == &self.actor);
        tx.prepare_cached(
            "INSERT INTO sync_state (doc_id, acked_heads, unsynced) VALUES (?1, ?2, ?3)
             ON CONFLICT (doc_id) DO UPDATE SET acked_heads = ?2, unsynced = ?3",
        )?
        .execute(params![doc_id.to_string(), encode_heads(heads), remaining])?;
        tx.commit()?;
        Ok(())
    }

    /// The document's current heads, or `None` if the store does not hold it.
    pub fn heads(&self, doc_id: Uuid) -> Result<Option<Vec<[u8; 32]>>> {
        Ok(load_doc(&self.conn, &doc_id, &self.actor)?
            .map(|(_, mut d)| from_hashes(&d.get_heads())))
    }

    /// Every change of the document that a replica at `have` lacks (from any device).
    pub fn changes_since(&self, doc_id: Uuid, have: &[[u8; 32]]) -> Result<Vec<Vec<u8>>> {
        let Some((_, mut doc)) = load_doc(&self.conn, &doc_id, &self.actor)? else {
            return Err(Error::NotFound {
                what: "document",
                id: doc_id.to_string(),
            });
        };
        Ok(doc
            .get_changes(&to_hashes(have))
            .into_iter()
            .map(|c| c.raw_bytes().to_vec())
            .collect())
    }

    /// Applies changes of one document received from elsewhere (the server, or in tests another
    /// replica). Every byte is checked: each change must decode, the changes must not depend on
    /// changes this store lacks, and the result must still be a valid Bianmin document with the
    /// same id. If any check fails, [`Error::Malformed`] is returned and nothing is stored.
    pub fn apply_remote(&mut self, doc_id: Uuid, changes: &[Vec<u8>]) -> Result<Applied> {
        let tx = self.write_tx()?;
        let applied = self.apply_remote_in(&tx, doc_id, changes)?;
        tx.commit()?;
        Ok(applied)
    }

    /// Applies a page of documents received from the hub in ONE transaction (one fsync for the
    /// page instead of one per document: what makes a fresh tablet's first pull fast). Each
    /// document is checked as by [`Store::apply_remote`]; one that fails its checks is skipped,
    /// with its error in the result, and stores nothing; the others are stored together.
    pub fn apply_remote_page(
        &mut self,
        docs: &[(Uuid, Vec<Vec<u8>>)],
    ) -> Result<Vec<Result<Applied>>> {
        let tx = self.write_tx()?;
        let mut results = Vec::with_capacity(docs.len());
        for (doc_id, changes) in docs {
            tx.execute_batch("SAVEPOINT remote_doc")?;
            match self.apply_remote_in(&tx, *doc_id, changes) {
                Ok(applied) => {
                    tx.execute_batch("RELEASE remote_doc")?;
                    results.push(Ok(applied));
                }
                Err(Error::Malformed(why)) => {
                    tx.execute_batch("ROLLBACK TO remote_doc; RELEASE remote_doc")?;
                    results.push(Err(Error::Malformed(why)));
                }
                Err(other) => return Err(other),
            }
        }
        tx.commit()?;
        Ok(results)
    }

    fn apply_remote_in(
        &self,
        tx: &rusqlite::Transaction<'_>,
        doc_id: Uuid,
        changes: &[Vec<u8>],
    ) -> Result<Applied> {
        let existing = load_doc(tx, &doc_id, &self.actor)?;
        let stored_kind = existing.as_ref().map(|(k, _)| *k);
        let actor = self.actor.clone();
        // automerge 0.12 can panic on corrupt changes that pass `Change::from_bytes` (a single
        // flipped bit was enough), and a document that swallowed one may panic later on any
        // call. So everything that touches the untrusted document runs under `catch_unwind`,
        // including a round trip through its saved bytes; only bytes that load back cleanly
        // reach SQLite. On any failure the document is dropped and the transaction rolls back.
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            let (doc, before) = match existing {
                Some((_, mut d)) => {
                    let heads = d.get_heads();
                    (d, Some(heads))
                }
                None => (AutoCommit::new().with_actor(actor), None),
            };
            check_remote(doc, before, changes, doc_id)
        }))
        .unwrap_or_else(|_| Err(Error::Malformed("the changes are corrupt".into())))?;
        let Some(checked) = outcome else {
            return Ok(Applied {
                created: false,
                new_changes: 0,
            });
        };
        let kind = match &checked.doc {
            Checked::Request(_) => DocKind::Request,
            Checked::Agenda(_) => DocKind::Agenda,
        };
        if stored_kind.is_some_and(|k| k != kind) {
            return Err(Error::Malformed("the document changed its kind".into()));
        }
        match &checked.incremental {
            None => insert_snapshot(tx, &doc_id, kind, &checked.full)?,
            Some(bytes) => append_chunk(tx, &doc_id, bytes, || checked.full.clone())?,
        }
        match &checked.doc {
            Checked::Request(d) => super::requests::project(tx, d, &self.reference)?,
            Checked::Agenda(d) => super::agenda::project_agenda(tx, d)?,
        }
        Ok(Applied {
            created: stored_kind.is_none(),
            new_changes: checked.new_changes,
        })
    }
}

/// An edit the hub refused: rolled back on the tablet, but kept visible with the reason.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RefusedEdit {
    /// The document it was made on.
    pub doc_id: Uuid,
    /// The hub's machine code, e.g. `forbidden`.
    pub code: String,
    /// The hub's reason.
    pub reason: String,
    /// What was rolled back, in words (e.g. `event approve`, `field phone`, `new request
    /// 370883101201-007-000003`).
    pub summary: Vec<String>,
    /// When this device learned of the refusal (device clock, ms).
    pub refused_at: i64,
}

fn describe_rollback(
    before: Option<&document::request::RequestDoc>,
    after: Option<&document::request::RequestDoc>,
) -> Vec<String> {
    let mut out = Vec::new();
    match (before, after) {
        (Some(b), None) => out.push(format!("new request {}", b.receipt_no)),
        (Some(b), Some(a)) => {
            let kept: std::collections::BTreeSet<_> = a.events.iter().map(|e| e.id).collect();
            out.extend(
                b.events
                    .iter()
                    .filter(|e| !kept.contains(&e.id))
                    .map(|e| format!("event {}", e.action.kind())),
            );
            let kept: std::collections::BTreeSet<_> = a.comments.iter().map(|c| c.id).collect();
            out.extend(
                b.comments
                    .iter()
                    .filter(|c| !kept.contains(&c.id))
                    .map(|_| "comment".to_string()),
            );
            for (field, changed) in [
                ("name", b.name != a.name),
                ("id_number", b.id_number != a.id_number),
                ("phone", b.phone != a.phone),
                ("grid", b.grid != a.grid),
                ("attributes", b.attributes != a.attributes),
                ("materials", b.materials != a.materials),
            ] {
                if changed {
                    out.push(format!("field {field}"));
                }
            }
        }
        _ => {}
    }
    out
}

impl Store {
    fn meta_get(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()?)
    }

    fn meta_set(&self, tx: &rusqlite::Transaction<'_>, key: &str, value: &str) -> Result<()> {
        tx.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET value = ?2",
            params![key, value],
        )?;
        Ok(())
    }

    /// The identity of the hub's change log this device's cursor refers to (`None` before the
    /// first sync, or for a hub that does not say).
    pub fn hub_log(&self) -> Result<Option<String>> {
        self.meta_get("hub_log")
    }

    /// Records the identity of the hub's change log.
    pub fn set_hub_log(&mut self, log: &str) -> Result<()> {
        let tx = self.write_tx()?;
        self.meta_set(&tx, "hub_log", log)?;
        tx.commit()?;
        Ok(())
    }

    /// Starts syncing over with a hub whose change log is not the one this device read (it was
    /// restored from a backup and may have lost what it accepted since): reads its log from
    /// the start and offers it every change made on this device again (what it still holds
    /// it counts as duplicates). One transaction; nothing local changes.
    pub fn restart_sync(&mut self, log: &str) -> Result<()> {
        let tx = self.write_tx()?;
        tx.execute("UPDATE sync_state SET acked_heads = x'', unsynced = 1", [])?;
        self.meta_set(&tx, "sync_cursor", "0")?;
        self.meta_set(&tx, "hub_log", log)?;
        tx.commit()?;
        tracing::warn!("the hub's change log changed (restored from a backup?): syncing over");
        Ok(())
    }

    /// Records the hub this device syncs with and its device token.
    pub fn set_server(&mut self, url: &str, token: &str) -> Result<()> {
        let tx = self.write_tx()?;
        self.meta_set(&tx, "server_url", url)?;
        self.meta_set(&tx, "device_token", token)?;
        tx.commit()?;
        Ok(())
    }

    /// The hub's URL and this device's token, once enrolled.
    pub fn server(&self) -> Result<Option<(String, String)>> {
        Ok(self
            .meta_get("server_url")?
            .zip(self.meta_get("device_token")?))
    }

    /// How far this device has read the hub's change log.
    pub fn sync_cursor(&self) -> Result<u64> {
        Ok(self
            .meta_get("sync_cursor")?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0))
    }

    /// Records how far the hub's change log has been applied.
    pub fn set_sync_cursor(&mut self, cursor: u64) -> Result<()> {
        let tx = self.write_tx()?;
        self.meta_set(&tx, "sync_cursor", &cursor.to_string())?;
        tx.commit()?;
        Ok(())
    }

    /// The version of the reference data held (0 if never received from a hub).
    pub fn reference_version(&self) -> Result<u64> {
        Ok(self
            .meta_get("reference_version")?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0))
    }

    /// Replaces the reference data with what the hub sent, remembering its version.
    pub fn apply_reference_data(&mut self, data: &crate::protocol::ReferenceData) -> Result<()> {
        self.set_reference(super::Reference {
            catalog: data.catalog.clone(),
            directory: data.directory.clone(),
            calendar: bianmin_domain::WorkingCalendar::new(data.calendars.clone()),
        })?;
        let tx = self.write_tx()?;
        self.meta_set(&tx, "reference_version", &data.version.to_string())?;
        tx.commit()?;
        Ok(())
    }

    /// The hub refused this device's changes to a document: roll the document back to the
    /// last state the hub acknowledged (keeping everything received from the hub), and keep
    /// the refused changes, with the reason, as a [`RefusedEdit`] the clerk sees. Nothing is
    /// deleted: the refused changes' bytes stay in the store.
    ///
    /// `held` lists pushed changes the hub already had: they count as acknowledged and stay.
    pub fn reject_local(
        &mut self,
        doc_id: Uuid,
        code: &str,
        reason: &str,
        held: &[[u8; 32]],
    ) -> Result<RefusedEdit> {
        let tx = self.write_tx()?;
        let Some((kind, mut doc)) = load_doc(&tx, &doc_id, &self.actor)? else {
            return Err(Error::NotFound {
                what: "document",
                id: doc_id.to_string(),
            });
        };
        let acked: Vec<u8> = tx
            .query_row(
                "SELECT acked_heads FROM sync_state WHERE doc_id = ?1",
                [doc_id.to_string()],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or_default();
        let mut have = decode_heads(&acked);
        have.extend(
            held.iter()
                .map(|h| ChangeHash(*h))
                .filter(|h| doc.get_change_by_hash(h).is_some()),
        );
        let refused: Vec<Change> = doc
            .get_changes(&have)
            .into_iter()
            .filter(|c| c.actor_id() == &self.actor)
            .collect();
        let refused_hashes: std::collections::HashSet<ChangeHash> =
            refused.iter().map(|c| c.hash()).collect();
        let all = doc.get_changes(&[]);
        let kept: Vec<&Change> = all
            .iter()
            .filter(|c| !refused_hashes.contains(&c.hash()))
            .collect();
        let deps: std::collections::HashSet<ChangeHash> =
            kept.iter().flat_map(|c| c.deps().iter().copied()).collect();
        let heads: Vec<ChangeHash> = kept
            .iter()
            .map(|c| c.hash())
            .filter(|h| !deps.contains(h))
            .collect();
        let before_req = match kind {
            DocKind::Request => Some(document::request::read(&doc)?),
            DocKind::Agenda => None,
        };
        let mut bytes = Vec::new();
        for c in &refused {
            bytes.extend_from_slice(&(c.raw_bytes().len() as u32).to_le_bytes());
            bytes.extend_from_slice(c.raw_bytes());
        }
        let id = doc_id.to_string();
        let after_req = if kept.is_empty() {
            // The document itself was refused (never accepted by the hub): it leaves the lists;
            // its bytes stay in `refused_edits`.
            tx.execute("DELETE FROM doc_chunks WHERE doc_id = ?1", [&id])?;
            tx.execute("DELETE FROM requests WHERE id = ?1", [&id])?;
            tx.execute("DELETE FROM agenda_items WHERE id = ?1", [&id])?;
            tx.execute("DELETE FROM sync_state WHERE doc_id = ?1", [&id])?;
            tx.execute("DELETE FROM documents WHERE id = ?1", [&id])?;
            None
        } else {
            let mut rolled = doc
                .fork_at(&heads)
                .map_err(|e| Error::Storage(e.to_string()))?;
            rolled.set_actor(self.actor.clone());
            tx.execute("DELETE FROM doc_chunks WHERE doc_id = ?1", [&id])?;
            tx.execute(
                "UPDATE documents SET snapshot = ?2, chunks = 0 WHERE id = ?1",
                params![id, rolled.save()],
            )?;
            tx.execute(
                "UPDATE sync_state SET unsynced = 0 WHERE doc_id = ?1",
                [&id],
            )?;
            match kind {
                DocKind::Request => {
                    let d = document::request::read(&rolled)?;
                    super::requests::project(&tx, &d, &self.reference)?;
                    Some(d)
                }
                DocKind::Agenda => {
                    super::agenda::project_agenda(&tx, &document::agenda::read(&rolled)?)?;
                    None
                }
            }
        };
        let mut summary = describe_rollback(before_req.as_ref(), after_req.as_ref());
        if summary.is_empty() {
            summary.push(format!("changes to {}", kind.as_str()));
        }
        let refused_at = (self.now)().0;
        tx.execute(
            "INSERT INTO refused_edits (doc_id, code, reason, summary, refused_at, changes)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                id,
                code,
                reason,
                serde_json::to_string(&summary).unwrap_or_default(),
                refused_at,
                bytes
            ],
        )?;
        tx.commit()?;
        tracing::warn!(doc = %doc_id, code, "the hub refused local changes; rolled back");
        Ok(RefusedEdit {
            doc_id,
            code: code.into(),
            reason: reason.into(),
            summary,
            refused_at,
        })
    }

    /// The edits the hub refused, newest first.
    pub fn refused_edits(&self) -> Result<Vec<RefusedEdit>> {
        let mut stmt = self.conn.prepare(
            "SELECT doc_id, code, reason, summary, refused_at FROM refused_edits ORDER BY id DESC",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get::<_, String>(3)?,
                r.get(4)?,
            ))
        })?;
        rows.map(|row| {
            let (doc, code, reason, summary, refused_at) = row?;
            Ok(RefusedEdit {
                doc_id: Uuid::parse_str(&doc)
                    .map_err(|_| Error::Storage("bad document id".into()))?,
                code,
                reason,
                summary: serde_json::from_str(&summary).unwrap_or_default(),
                refused_at,
            })
        })
        .collect()
    }
}
