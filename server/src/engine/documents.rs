//! The hub's documents between the check and the disk, and the group commit.
//!
//! A push is checked against the hub's copy of its document while that document's stripe lock
//! is held, so pushes to one document are checked one after the other and pushes to different
//! documents in parallel. An accepted push is not written at once: its document goes into
//! `unsettled` (the copy ahead of the disk, which later pushes build on) and its commit into a
//! queue. A round answers only when everything it queued is durable: the first round that
//! waits while nobody is writing becomes the leader and stores the whole queue, its own pushes
//! and those of every round that queued meanwhile, in one transaction
//! ([`Storage::commit_checked`]); the others wait for it. One fsync then serves many rounds.
//!
//! If that transaction fails, nothing of it is stored, every document ahead of the disk is
//! dropped (the next push reloads it from storage), the generation moves on, and every round
//! that queued or read something of the lost state answers with an error, so no device is
//! told that a change was stored when it was not. Documents that are on disk stay in a
//! bounded LRU cache (`durable`); `unsettled` is small (what one transaction holds).
//!
//! Several hub processes may share the storage, each with copies of its own. Every copy
//! carries the stored version it is at (or, ahead of the disk, will be at), and every queued
//! push the version it was checked against. Before a push is checked against a cached copy,
//! one look-up of the stored version ([`Storage::document_version`]) tells whether another
//! process stored the document since; if so, the copy is loaded again. Another process can
//! still store the document between that look-up and the group commit: storage then refuses
//! the whole group ([`StorageError::Conflict`]), which fails like any other failed group, and
//! the stale copy is dropped. Such a loss is a race, not a fault: [`Documents::raced_since`]
//! tells the engine, which checks the round once more against the fresh copy.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use axum::http::StatusCode;
use bianmin_document::DocKind;
use bianmin_document::{DocIndex, Document};
use lru::LruCache;
use uuid::Uuid;

use crate::error::AppError;
use crate::notices::Bell;
use crate::storage::{Checked, Commit, Storage, StorageError};

/// Pushes to documents whose ids fall in different stripes are checked in parallel.
const STRIPES: usize = 64;

/// The code of the answer of a round whose group commit failed (see [`lost_round`]).
pub const STORE_FAILED: &str = "store_failed";

/// Every state change under this lock is a few assignments that cannot panic halfway, so a
/// panic elsewhere while it was held leaves it consistent: recover the guard.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// An accepted push waiting in the queue, owning what [`Commit`] borrows.
#[derive(Debug)]
pub struct Queued {
    /// Its place in the queue (set when it is queued).
    pub(super) ticket: u64,
    /// The stored version of the document the push was checked against, 0 for a new one (set
    /// when it is queued).
    pub(super) base_version: u64,
    /// The document.
    pub doc_id: Uuid,
    /// Request or agenda item.
    pub kind: DocKind,
    /// Its village.
    pub village: String,
    /// Its resident, for requests.
    pub resident_user: Option<String>,
    /// The whole document after the push.
    pub snapshot: Vec<u8>,
    /// The new changes: hash and bytes.
    pub changes: Vec<([u8; 32], Vec<u8>)>,
    /// The sending device.
    pub device_id: String,
    /// The sending user.
    pub user_id: String,
    /// When the hub received them.
    pub received_at: i64,
    /// The document's index entry after the push.
    pub index: DocIndex,
}

impl Queued {
    fn as_checked(&self) -> Checked<'_> {
        Checked {
            commit: Commit {
                doc_id: self.doc_id,
                kind: self.kind,
                village: &self.village,
                resident_user: self.resident_user.as_deref(),
                snapshot: &self.snapshot,
                changes: &self.changes,
                device_id: &self.device_id,
                user_id: &self.user_id,
                received_at: self.received_at,
                index: Some(&self.index),
            },
            base_version: self.base_version,
        }
    }
}

/// A decoded copy of a document and the stored version it is at (ahead of the disk: will be
/// at once its queued pushes are stored).
struct Held {
    version: u64,
    doc: Document,
}

struct State {
    /// Documents as they are on disk (as they were when last read or written here).
    durable: LruCache<Uuid, Held>,
    /// Documents ahead of the disk, with the ticket of their last queued push.
    unsettled: HashMap<Uuid, (u64, Held)>,
    queue: Vec<Queued>,
    next_ticket: u64,
    /// Every ticket below this one is stored (or lost with a failed generation).
    settled: u64,
    writing: bool,
    /// Moves on each time a group commit fails.
    generation: u64,
    /// The generation the last failure other than a lost race ([`StorageError::Conflict`])
    /// started (0: none yet).
    faulted: u64,
}

/// The hub's documents: see the module docs.
pub struct Documents {
    storage: Arc<dyn Storage>,
    stripes: Vec<Mutex<()>>,
    /// Held while a new document is checked and queued: what a new request must not share with
    /// another (its receipt number) is checked against every document, not one stripe's, so
    /// two new documents are never checked at once. Taken after the stripe, never before.
    filing: Mutex<()>,
    state: Mutex<State>,
    settled: Condvar,
    /// Rung after each group commit that added to the change log: the notifier reads the log
    /// and tells the connected devices (see [`crate::notices`]).
    bell: Bell,
}

impl std::fmt::Debug for Documents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = lock(&self.state);
        f.debug_struct("Documents")
            .field("durable", &st.durable.len())
            .field("unsettled", &st.unsettled.len())
            .field("queued", &st.queue.len())
            .field("generation", &st.generation)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy)]
enum Origin {
    Durable,
    Unsettled(u64),
}

/// What a round must wait for before it answers: the last ticket it depends on, and the
/// generation it saw.
#[derive(Debug, Default)]
pub struct Durability {
    upto: Option<(u64, u64)>,
}

impl Durability {
    fn note(&mut self, ticket: u64, generation: u64) {
        self.upto = Some(match self.upto {
            // A round's tickets only grow; a changed generation must stay visible.
            Some((t, g)) => (t.max(ticket), g.min(generation)),
            None => (ticket, generation),
        });
    }
}

/// A document taken out for a check, with its stripe locked. Dropped unchanged, it goes back
/// where it came from; [`Taken::accept`] replaces it.
pub struct Taken<'a> {
    docs: &'a Documents,
    _stripe: MutexGuard<'a, ()>,
    /// For a document the hub does not have yet.
    _filing: Option<MutexGuard<'a, ()>>,
    id: Uuid,
    doc: Option<Document>,
    /// The stored version `doc` is at (ahead of the disk: will be at), 0 for a new document.
    version: u64,
    origin: Origin,
    generation: u64,
}

impl std::fmt::Debug for Taken<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Taken")
            .field("id", &self.id)
            .field("version", &self.version)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

fn lost_round() -> AppError {
    AppError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        STORE_FAILED,
        "the hub could not store a round this one depends on; nothing of it was kept: sync again",
    )
}

impl Documents {
    /// Empty, keeping up to `capacity` durable documents decoded.
    pub fn new(storage: Arc<dyn Storage>, capacity: NonZeroUsize, bell: Bell) -> Self {
        Documents {
            storage,
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
            filing: Mutex::new(()),
            state: Mutex::new(State {
                durable: LruCache::new(capacity),
                unsettled: HashMap::new(),
                queue: Vec::new(),
                next_ticket: 0,
                settled: 0,
                writing: false,
                generation: 0,
                faulted: 0,
            }),
            settled: Condvar::new(),
            bell,
        }
    }

    /// The stored document and its version; `(None, 0)` if none is stored.
    fn load(&self, id: Uuid) -> Result<(Option<Document>, u64), AppError> {
        match self.storage.document(id)? {
            Some(record) => Ok((
                Some(Document::load(&record.bytes).map_err(AppError::internal)?),
                record.version,
            )),
            None => Ok((None, 0)),
        }
    }

    /// A copy taken from `durable`, if it is still the stored version; else the stored
    /// document, loaded again (another process stored it since).
    fn current_or_reload(&self, id: Uuid, held: Held) -> Result<(Option<Document>, u64), AppError> {
        if self.storage.document_version(id)? == Some(held.version) {
            return Ok((Some(held.doc), held.version));
        }
        tracing::debug!(doc = %id, cached = held.version, "the cached copy is stale; loading the stored one");
        self.load(id)
    }

    /// Takes document `id` out for a check (`None` inside if the hub does not have it): its
    /// stripe (and, for a new document, the filing lock) stays locked until the [`Taken`] is
    /// dropped. A cached copy is first checked to be the stored version (another hub process
    /// may have stored the document since), and loaded again if it is not; a copy ahead of the
    /// disk is not (if another process stored the document meanwhile, the group commit of the
    /// pushes it holds fails, and so will anything queued on top of them).
    pub fn take(&self, id: Uuid) -> Result<Taken<'_>, AppError> {
        let stripe = lock(&self.stripes[(id.as_u128() % STRIPES as u128) as usize]);
        let (found, generation) = {
            let mut st = lock(&self.state);
            let found = match st.unsettled.remove(&id) {
                Some((ticket, held)) => Some((Origin::Unsettled(ticket), held)),
                None => st.durable.pop(&id).map(|held| (Origin::Durable, held)),
            };
            (found, st.generation)
        };
        let (origin, (doc, version)) = match found {
            Some((Origin::Unsettled(ticket), held)) => {
                (Origin::Unsettled(ticket), (Some(held.doc), held.version))
            }
            Some((Origin::Durable, held)) => (Origin::Durable, self.current_or_reload(id, held)?),
            // Not in memory: what is on disk is the latest this process can know (the stripe
            // is held).
            None => (Origin::Durable, self.load(id)?),
        };
        let filing = doc.is_none().then(|| lock(&self.filing));
        Ok(Taken {
            docs: self,
            _stripe: stripe,
            _filing: filing,
            id,
            doc,
            version,
            origin,
            generation,
        })
    }

    /// Runs `f` on `ids` one stripe at a time: for each stripe, with only that stripe locked
    /// (no push to those documents is checked meanwhile; pushes to every other stripe go on),
    /// `f` gets a reader of the documents' latest copies and the ids of the stripe.
    pub fn by_stripe(
        &self,
        ids: &[Uuid],
        mut f: impl FnMut(
            &dyn Fn(Uuid) -> Result<Option<(Document, u64)>, AppError>,
            &[Uuid],
        ) -> Result<(), AppError>,
    ) -> Result<(), AppError> {
        let mut groups: Vec<Vec<Uuid>> = vec![Vec::new(); STRIPES];
        for id in ids {
            groups[(id.as_u128() % STRIPES as u128) as usize].push(*id);
        }
        for (stripe, group) in groups.iter().enumerate().filter(|(_, g)| !g.is_empty()) {
            let _held = lock(&self.stripes[stripe]);
            f(&|id| self.stored(id), group)?;
        }
        Ok(())
    }

    /// Whether a request accepted but not yet stored (other than `except`) has this receipt
    /// number: the index on disk does not know it yet.
    pub fn queued_receipt(&self, receipt_no: &str, except: Uuid) -> bool {
        lock(&self.state)
            .unsettled
            .iter()
            .any(|(id, (_, held))| *id != except && held.doc.receipt_no() == Some(receipt_no))
    }

    /// The stored copy of a document with its version: cached (if still the stored version) or
    /// on disk; `None` if none is stored, or if this process is storing a newer one (whose
    /// commit writes its own index entry). The caller holds its stripe.
    fn stored(&self, id: Uuid) -> Result<Option<(Document, u64)>, AppError> {
        let cached = {
            let st = lock(&self.state);
            if st.unsettled.contains_key(&id) {
                return Ok(None);
            }
            st.durable.peek(&id).map(|held| Held {
                version: held.version,
                doc: held.doc.clone(),
            })
        };
        let (doc, version) = match cached {
            Some(held) => self.current_or_reload(id, held)?,
            None => self.load(id)?,
        };
        Ok(doc.map(|doc| (doc, version)))
    }

    /// The generation now: moves on with each failed group commit (see
    /// [`Documents::raced_since`]).
    pub fn generation(&self) -> u64 {
        lock(&self.state).generation
    }

    /// Whether every group commit that failed since `generation` failed only because another
    /// hub process stored one of its documents first ([`StorageError::Conflict`]): a round
    /// lost with them may be checked once more against the stored documents, where a real
    /// failure (a full disk, a lost database) is answered at once.
    pub fn raced_since(&self, generation: u64) -> bool {
        lock(&self.state).faulted <= generation
    }

    /// Waits until everything `round` queued or read is stored; the first waiter while nobody
    /// writes stores the whole queue. An error if a group commit it depended on failed.
    pub fn wait(&self, round: Durability) -> Result<(), AppError> {
        let Some((ticket, generation)) = round.upto else {
            return Ok(());
        };
        let mut st = lock(&self.state);
        loop {
            if st.generation != generation {
                return Err(lost_round());
            }
            if st.settled > ticket {
                return Ok(());
            }
            if st.writing {
                st = self
                    .settled
                    .wait(st)
                    .unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            let batch = std::mem::take(&mut st.queue);
            let end = batch.last().map_or(st.settled, |q| q.ticket + 1);
            st.writing = true;
            drop(st);
            let commits: Vec<Checked<'_>> = batch.iter().map(Queued::as_checked).collect();
            let stored = self.storage.commit_checked(&commits);
            st = lock(&self.state);
            match stored {
                Ok(_) => {
                    for q in &batch {
                        if st.unsettled.get(&q.doc_id).map(|(t, _)| *t) == Some(q.ticket)
                            && let Some((_, held)) = st.unsettled.remove(&q.doc_id)
                        {
                            st.durable.put(q.doc_id, held);
                        }
                    }
                    if batch.iter().any(|q| !q.changes.is_empty()) {
                        self.bell.ring();
                    }
                    st.settled = end;
                    tracing::debug!(pushes = batch.len(), "group commit stored");
                }
                Err(e) => {
                    st.generation += 1;
                    if let StorageError::Conflict { doc } = e {
                        // Another process stored `doc` after this one read its version: its
                        // copy here is stale.
                        tracing::info!(%doc, pushes = batch.len(), "another hub process stored a document of this group first; the pushes are dropped");
                        st.durable.pop(&doc);
                    } else {
                        tracing::error!(error = %e, pushes = batch.len(), "group commit failed; the pushes are dropped");
                        st.faulted = st.generation;
                    }
                    st.unsettled.clear();
                    st.queue.clear();
                    st.settled = st.next_ticket;
                }
            }
            st.writing = false;
            self.settled.notify_all();
        }
    }

    /// Whether a decoded copy of `id` is held (cached or ahead of the disk).
    #[cfg(test)]
    fn holds(&self, id: Uuid) -> bool {
        let st = lock(&self.state);
        st.unsettled.contains_key(&id) || st.durable.contains(&id)
    }
}

impl Taken<'_> {
    /// The hub's copy, `None` for a new document.
    pub fn current(&self) -> Option<&Document> {
        self.doc.as_ref()
    }

    /// The hub's copy, to read what needs `&mut` (heads).
    pub fn current_mut(&mut self) -> Option<&mut Document> {
        self.doc.as_mut()
    }

    /// Leaves the document as it was (a refused or repeated push); the round still waits for
    /// the document's queued pushes, since it tells the device what the hub holds.
    pub fn keep(self, round: &mut Durability) {
        if let Origin::Unsettled(ticket) = self.origin {
            round.note(ticket, self.generation);
        }
    }

    /// Replaces the document with `doc` and queues `commit` to store it, checked against the
    /// version the document was taken at. An error (and nothing queued) if a group commit
    /// failed since the document was taken.
    pub fn accept(
        mut self,
        doc: Document,
        mut commit: Queued,
        round: &mut Durability,
    ) -> Result<(), AppError> {
        let mut st = lock(&self.docs.state);
        if st.generation != self.generation {
            return Err(lost_round());
        }
        commit.ticket = st.next_ticket;
        commit.base_version = self.version;
        st.next_ticket += 1;
        let held = Held {
            version: self.version + 1,
            doc,
        };
        st.unsettled.insert(self.id, (commit.ticket, held));
        round.note(commit.ticket, self.generation);
        st.queue.push(commit);
        // Replaced: nothing to put back.
        self.doc = None;
        Ok(())
    }
}

impl Drop for Taken<'_> {
    fn drop(&mut self) {
        let Some(doc) = self.doc.take() else {
            return;
        };
        let held = Held {
            version: self.version,
            doc,
        };
        let mut st = lock(&self.docs.state);
        match self.origin {
            // A copy ahead of the disk is only good while its generation lasts.
            Origin::Unsettled(_) if st.generation != self.generation => {}
            Origin::Unsettled(ticket) if ticket >= st.settled => {
                st.unsettled.insert(self.id, (ticket, held));
            }
            _ => {
                st.durable.put(self.id, held);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::sqlite::SqliteStorage;
    use automerge::{ActorId, AutoCommit};
    use bianmin_document::author::{self, Author};
    use bianmin_document::layout::request as request_doc;
    use bianmin_document::model::NewRequest;
    use bianmin_document::{Context, Decoded, Environment, Reference, Residence, check_push};
    use bianmin_domain::{AttrValue, Identity, ReceiptNo, Role, Timestamp};

    const EAST: &str = "370883101201";

    /// A clerk's device writing real request documents with the document layer (what a
    /// tablet writes with), one Automerge document per request.
    struct Clerk {
        identity: Identity,
        actor: ActorId,
        reference: Reference,
        docs: HashMap<Uuid, AutoCommit>,
    }

    impl Clerk {
        fn new() -> Clerk {
            Clerk {
                identity: Identity::new("clerk-east", Role::Clerk, EAST, "tablet-1").unwrap(),
                actor: ActorId::random(),
                reference: Reference::demo(),
                docs: HashMap::new(),
            }
        }

        fn author(&self) -> Author<'_> {
            Author {
                identity: &self.identity,
                reference: &self.reference,
                at: Timestamp::now(),
            }
        }

        /// Files a request; returns its id and the filing's changes.
        fn file(&mut self) -> (Uuid, Vec<Vec<u8>>) {
            let new = NewRequest {
                item_code: "SOC-CARD".into(),
                applicant_name: "王秀英".into(),
                id_number: "11010519491231002X".into(),
                phone: "13812345678".into(),
                grid: "1组".into(),
                attributes: [("reason".to_string(), AttrValue::Text("lost".into()))].into(),
                materials_received: vec!["ID card".into(), "Recent photo".into()],
                resident_user: None,
                submit: true,
            };
            let receipt = ReceiptNo::new(EAST, 1, self.docs.len() as u64 + 1);
            let filed = author::new_request(&self.author(), &new, &receipt).unwrap();
            let mut am = AutoCommit::new().with_actor(self.actor.clone());
            request_doc::create(&mut am, &filed).unwrap();
            self.docs.insert(filed.id, am);
            (filed.id, self.changes_since(filed.id, &[]))
        }

        /// Comments on a request; returns the comment's changes.
        fn comment(&mut self, id: Uuid, text: &str) -> Vec<Vec<u8>> {
            let heads = self.heads(id);
            let mut am = self.docs.remove(&id).unwrap();
            let Decoded::Request(d) = bianmin_document::decode(&am).unwrap() else {
                panic!("a request");
            };
            author::request_comment(&self.author(), &d, &mut am, text).unwrap();
            self.docs.insert(id, am);
            self.changes_since(id, &heads)
        }

        /// Another device of the same clerk, holding a copy of every document this one has.
        fn fork(&mut self) -> Clerk {
            let actor = ActorId::random();
            let docs = self
                .docs
                .iter_mut()
                .map(|(id, am)| (*id, am.fork().with_actor(actor.clone())))
                .collect();
            Clerk {
                identity: self.identity.clone(),
                actor,
                reference: Reference::demo(),
                docs,
            }
        }

        /// Applies changes another device made (a pull).
        fn receive(&mut self, id: Uuid, changes: &[Vec<u8>]) {
            let am = self.docs.get_mut(&id).unwrap();
            for c in changes {
                am.load_incremental(c).unwrap();
            }
        }

        fn heads(&mut self, id: Uuid) -> Vec<[u8; 32]> {
            self.docs
                .get_mut(&id)
                .unwrap()
                .get_heads()
                .iter()
                .map(|h| h.0)
                .collect()
        }

        fn changes_since(&mut self, id: Uuid, heads: &[[u8; 32]]) -> Vec<Vec<u8>> {
            let have: Vec<automerge::ChangeHash> =
                heads.iter().map(|h| automerge::ChangeHash(*h)).collect();
            let am = self.docs.get_mut(&id).unwrap();
            am.get_changes(&have)
                .iter()
                .map(|c| c.raw_bytes().to_vec())
                .collect()
        }
    }

    /// A hub that knows no resident, receipt or blob (these tests are about storing).
    struct Nothing;

    impl Environment for Nothing {
        fn residence(&self, _: &str) -> Residence {
            Residence::NotResident
        }
        fn receipt_taken(&self, _: &str, _: Uuid) -> bool {
            false
        }
        fn blob_hidden(&self, _: &str, _: &Identity) -> bool {
            false
        }
    }

    /// Checks `changes` of `id` against what `docs` holds and, if accepted, queues them as
    /// sent from `village` (a bad village code makes the group commit fail in storage).
    fn push(
        docs: &Documents,
        clerk: &Clerk,
        id: Uuid,
        changes: &[Vec<u8>],
        village: &str,
        round: &mut Durability,
    ) -> Result<(), AppError> {
        let taken = docs.take(id)?;
        let ctx = Context {
            sender: &clerk.identity,
            device_no: Some(1),
            reference: &clerk.reference,
            now: Timestamp::now(),
            env: &Nothing,
        };
        let accepted = check_push(
            taken.current(),
            id,
            changes,
            &clerk.actor.to_hex_string(),
            &ctx,
        )
        .expect("accepted");
        let doc = accepted.doc.expect("new changes");
        let meta = doc.meta();
        let index = doc.index(&clerk.reference.calendar);
        taken.accept(
            doc,
            Queued {
                ticket: 0,
                base_version: 0,
                doc_id: id,
                kind: meta.kind,
                village: village.to_string(),
                resident_user: None,
                snapshot: accepted.saved.expect("saved"),
                changes: accepted.new_changes,
                device_id: "dev-1".into(),
                user_id: "clerk-east".into(),
                received_at: 1,
                index,
            },
            round,
        )
    }

    fn documents(dir: &std::path::Path) -> (Arc<SqliteStorage>, Documents) {
        let storage = Arc::new(SqliteStorage::open(&dir.join("hub")).unwrap());
        let docs = Documents::new(
            storage.clone(),
            NonZeroUsize::new(8).unwrap(),
            Bell::default(),
        );
        (storage, docs)
    }

    /// Another hub process's documents on the same storage.
    fn another_process(storage: &Arc<SqliteStorage>) -> Documents {
        Documents::new(
            storage.clone(),
            NonZeroUsize::new(8).unwrap(),
            Bell::default(),
        )
    }

    /// The stored document of `id` and its version.
    fn stored(storage: &SqliteStorage, id: Uuid) -> (Document, u64) {
        let record = storage.document(id).unwrap().expect("stored");
        (Document::load(&record.bytes).unwrap(), record.version)
    }

    /// Whether `doc` holds every change of `changes`.
    fn holds_all(doc: &mut Document, changes: &[Vec<u8>]) -> bool {
        let have = doc.changes_since(&[]);
        changes.iter().all(|c| have.contains(c))
    }

    #[test]
    fn later_pushes_build_on_queued_ones_and_a_failed_group_loses_them_all() {
        let dir = tempfile::tempdir().unwrap();
        let (storage, docs) = documents(dir.path());
        let mut clerk = Clerk::new();
        let (id, filed) = clerk.file();
        let comment = clerk.comment(id, "called the applicant");

        // Round 1 queues the filing (with a village code storage will refuse); round 2 queues
        // the comment on top of it before anything is written.
        let mut round1 = Durability::default();
        push(&docs, &clerk, id, &filed, "not-a-village", &mut round1).unwrap();
        let mut round2 = Durability::default();
        push(&docs, &clerk, id, &comment, EAST, &mut round2).unwrap();
        assert_eq!(storage.counts().unwrap(), (0, 0), "nothing written yet");

        let e = docs.wait(round1).unwrap_err();
        assert_eq!(e.code, "store_failed");
        let e = docs.wait(round2).unwrap_err();
        assert_eq!(e.code, "store_failed", "round 2 built on the lost push");
        assert!(!docs.raced_since(0), "a failure, not a lost race");
        assert_eq!(
            storage.counts().unwrap(),
            (0, 0),
            "nothing of the group kept"
        );
        assert!(
            docs.take(id).unwrap().current().is_none(),
            "the copy ahead of the disk is dropped"
        );

        // The device repeats both rounds: stored, and the hub's copy holds both.
        let mut again = Durability::default();
        push(&docs, &clerk, id, &filed, EAST, &mut again).unwrap();
        push(&docs, &clerk, id, &comment, EAST, &mut again).unwrap();
        docs.wait(again).unwrap();
        assert_eq!(storage.counts().unwrap(), (1, 2));
        let stored = Document::load(&storage.document(id).unwrap().unwrap().bytes).unwrap();
        let mut taken = docs.take(id).unwrap();
        let mut cached = taken.current_mut().unwrap().clone();
        drop(taken);
        assert_eq!(stored.clone().heads(), cached.heads());
        assert_eq!(cached.heads(), clerk.heads(id));
    }

    #[test]
    fn concurrent_rounds_are_stored_before_they_answer() {
        let dir = tempfile::tempdir().unwrap();
        let (storage, docs) = documents(dir.path());
        let mut clerk = Clerk::new();
        // 12 documents, each filed and commented: 24 pushes from 6 threads, two documents per
        // thread and every document's comment pushed by another thread than its filing.
        /// A document, its filing's changes and its comment's.
        type Work = (Uuid, Vec<Vec<u8>>, Vec<Vec<u8>>);
        let work: Vec<Work> = (0..12)
            .map(|_| {
                let (id, filed) = clerk.file();
                (id, filed, clerk.comment(id, "documents checked"))
            })
            .collect();
        let store = Mutex::new(clerk);
        std::thread::scope(|s| {
            for t in 0..6 {
                let (docs, storage, work, store) = (&docs, &storage, &work, &store);
                s.spawn(move || {
                    let mut round = Durability::default();
                    let mine = [&work[2 * t], &work[2 * t + 1]];
                    for (id, filed, _) in mine {
                        let s = store.lock().unwrap();
                        push(docs, &s, *id, filed, EAST, &mut round).unwrap();
                    }
                    docs.wait(round).unwrap();
                    for (id, ..) in mine {
                        assert!(storage.document(*id).unwrap().is_some(), "stored on answer");
                    }
                });
            }
        });
        std::thread::scope(|s| {
            for t in 0..6 {
                let (docs, work, store) = (&docs, &work, &store);
                s.spawn(move || {
                    let mut round = Durability::default();
                    for (id, _, comment) in [&work[(2 * t + 3) % 12], &work[(2 * t + 4) % 12]] {
                        let s = store.lock().unwrap();
                        push(docs, &s, *id, comment, EAST, &mut round).unwrap();
                    }
                    docs.wait(round).unwrap();
                });
            }
        });
        assert_eq!(storage.counts().unwrap(), (12, 24));
        let mut clerk = store.into_inner().unwrap();
        for (id, ..) in &work {
            let mut stored =
                Document::load(&storage.document(*id).unwrap().unwrap().bytes).unwrap();
            assert_eq!(stored.heads(), clerk.heads(*id));
        }
    }

    #[test]
    fn a_copy_another_process_stored_since_is_loaded_again_before_the_check() {
        let dir = tempfile::tempdir().unwrap();
        let (storage, a) = documents(dir.path());
        let b = another_process(&storage);
        let mut clerk = Clerk::new();
        let (id, filed) = clerk.file();
        let mut round = Durability::default();
        push(&a, &clerk, id, &filed, EAST, &mut round).unwrap();
        a.wait(round).unwrap();
        assert!(a.holds(id), "A keeps the request it stored");
        assert_eq!(stored(&storage, id).1, 1);

        // Another tablet's comment goes through B: stored, version 2; A's copy is stale.
        let mut other = clerk.fork();
        let theirs = other.comment(id, "phoned the applicant");
        let mut round = Durability::default();
        push(&b, &other, id, &theirs, EAST, &mut round).unwrap();
        b.wait(round).unwrap();
        assert_eq!(stored(&storage, id).1, 2);

        // The first tablet pulls it and comments on top, through A: checked against the
        // stored document (A's stale copy lacks the comment this one builds on, and would
        // refuse it as missing_dependencies), accepted and stored.
        clerk.receive(id, &theirs);
        let mine = clerk.comment(id, "documents complete");
        let mut round = Durability::default();
        push(&a, &clerk, id, &mine, EAST, &mut round).unwrap();
        a.wait(round).unwrap();
        let (mut doc, version) = stored(&storage, id);
        assert_eq!(version, 3);
        assert!(holds_all(&mut doc, &theirs) && holds_all(&mut doc, &mine));
        assert_eq!(doc.heads(), clerk.heads(id));
    }

    #[test]
    fn a_conflict_from_storage_drops_the_copy_and_the_next_take_reloads() {
        let dir = tempfile::tempdir().unwrap();
        let (storage, a) = documents(dir.path());
        let b = another_process(&storage);
        let mut clerk = Clerk::new();
        let (id, filed) = clerk.file();
        let mut round = Durability::default();
        push(&a, &clerk, id, &filed, EAST, &mut round).unwrap();
        a.wait(round).unwrap();
        let mut other = clerk.fork();

        // A checks and queues a comment against version 1 ...
        let before = a.generation();
        let mine = clerk.comment(id, "called the applicant");
        let mut round_a = Durability::default();
        push(&a, &clerk, id, &mine, EAST, &mut round_a).unwrap();
        // ... and B stores a concurrent one before A's group commit runs.
        let theirs = other.comment(id, "photo received");
        let mut round_b = Durability::default();
        push(&b, &other, id, &theirs, EAST, &mut round_b).unwrap();
        b.wait(round_b).unwrap();

        // A's group commit is refused: nothing of it stored, the round told to sync again, the
        // loss taken for a race, and A holds no copy of the document any more.
        let e = a.wait(round_a).unwrap_err();
        assert_eq!(e.code, STORE_FAILED);
        assert!(a.raced_since(before), "a lost race, not a failure");
        assert!(!a.holds(id), "the stale copy is dropped");
        let (mut doc, version) = stored(&storage, id);
        assert_eq!(version, 2);
        assert!(holds_all(&mut doc, &theirs) && !holds_all(&mut doc, &mine));
        assert_eq!(storage.counts().unwrap().1, filed.len() as u64 + 1);

        // The next take reloads the stored document: it has B's comment.
        let mut taken = a.take(id).unwrap();
        assert_eq!(taken.current_mut().unwrap().heads(), doc.heads());
        drop(taken);

        // The round sent again is checked against it, and both comments are kept.
        let mut again = Durability::default();
        push(&a, &clerk, id, &mine, EAST, &mut again).unwrap();
        a.wait(again).unwrap();
        let (mut doc, version) = stored(&storage, id);
        assert_eq!(version, 3);
        assert!(holds_all(&mut doc, &theirs) && holds_all(&mut doc, &mine));
        clerk.receive(id, &theirs);
        assert_eq!(doc.heads(), clerk.heads(id));
    }
}
