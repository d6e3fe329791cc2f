//! What the sync engine needs from the store: the local changes not yet acknowledged by the
//! server, acknowledgements, and applying changes received from elsewhere.
//!
//! Changes cross this boundary as encoded Automerge change bytes and heads as 32-byte hashes,
//! so no Automerge type leaks into the API.

use automerge::{AutoCommit, Change, ChangeHash};
use rusqlite::{OptionalExtension, params};
use uuid::Uuid;

use super::{Store, load_doc, save_doc};
use crate::document::{self, DocKind};
use crate::model::PendingDoc;
use crate::{Error, Result};

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

impl Store {
    /// The ids of every document in the store.
    pub fn document_ids(&self) -> Result<Vec<Uuid>> {
        let mut stmt = self.conn.prepare("SELECT id FROM documents ORDER BY id")?;
        let ids = stmt.query_map([], |r| r.get::<_, String>(0))?;
        ids.map(|id| Uuid::parse_str(&id?).map_err(|_| Error::Storage("bad document id".into())))
            .collect()
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
        let mut decoded = Vec::with_capacity(changes.len());
        for (i, bytes) in changes.iter().enumerate() {
            let change = Change::from_bytes(bytes.clone())
                .map_err(|e| Error::Malformed(format!("change {i} does not decode: {e}")))?;
            decoded.push(change);
        }
        let tx = self.write_tx()?;
        let existing = load_doc(&tx, &doc_id, &self.actor)?;
        let created = existing.is_none();
        let (mut doc, before) = match existing {
            Some((_, mut d)) => {
                let heads = d.get_heads();
                (d, Some(heads))
            }
            None => (AutoCommit::new().with_actor(self.actor.clone()), None),
        };
        let count_before = before.as_ref().map_or(0, |_| doc.get_changes(&[]).len());
        doc.apply_changes(decoded)
            .map_err(|e| Error::Malformed(format!("changes do not apply: {e}")))?;
        if !doc.get_missing_deps(&[]).is_empty() {
            return Err(Error::Malformed(
                "the changes depend on earlier changes this device does not have".into(),
            ));
        }
        let new_changes = doc.get_changes(&[]).len() - count_before;
        if new_changes == 0 {
            return Ok(Applied {
                created: false,
                new_changes: 0,
            });
        }
        let kind = document::kind_of(&doc).map_err(|e| Error::Malformed(e.0))?;
        match kind {
            DocKind::Request => {
                let d = document::request::read(&doc).map_err(|e| Error::Malformed(e.0))?;
                if d.id != doc_id {
                    return Err(Error::Malformed("the document's id does not match".into()));
                }
                save_doc(&tx, &doc_id, kind, &mut doc, before.as_deref())?;
                super::requests::project(&tx, &d, &self.reference)?;
            }
            DocKind::Agenda => {
                let d = document::agenda::read(&doc).map_err(|e| Error::Malformed(e.0))?;
                if d.id != doc_id {
                    return Err(Error::Malformed("the document's id does not match".into()));
                }
                save_doc(&tx, &doc_id, kind, &mut doc, before.as_deref())?;
                super::agenda::project_agenda(&tx, &d)?;
            }
        }
        let stored_kind: Option<String> = tx
            .query_row(
                "SELECT kind FROM documents WHERE id = ?1",
                [doc_id.to_string()],
                |r| r.get(0),
            )
            .optional()?;
        if stored_kind.as_deref() != Some(kind.as_str()) {
            return Err(Error::Malformed("the document changed its kind".into()));
        }
        tx.commit()?;
        Ok(Applied {
            created,
            new_changes,
        })
    }
}
