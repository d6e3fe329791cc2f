//! The hub's documents between the check and the disk, and the group commit.
//!
//! A push is checked against the hub's copy of its document while that document's stripe lock
//! is held, so pushes to one document are checked one after the other and pushes to different
//! documents in parallel. An accepted push is not written at once: its document goes into
//! `unsettled` (the copy ahead of the disk, which later pushes build on) and its commit into a
//! queue. A round answers only when everything it queued is durable: the first round that
//! waits while nobody is writing becomes the leader and stores the whole queue, its own pushes
//! and those of every round that queued meanwhile, in one transaction
//! ([`Storage::commit_all`]); the others wait for it. One fsync then serves many rounds.
//!
//! If that transaction fails, nothing of it is stored, every document ahead of the disk is
//! dropped (the next push reloads it from storage), the generation moves on, and every round
//! that queued or read something of the lost state answers with an error, so no device is
//! told that a change was stored when it was not. Documents that are on disk stay in a
//! bounded LRU cache (`durable`); `unsettled` is small (what one transaction holds).

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
use crate::storage::{Commit, Storage};

/// Pushes to documents whose ids fall in different stripes are checked in parallel.
const STRIPES: usize = 64;

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
    fn as_commit(&self) -> Commit<'_> {
        Commit {
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
        }
    }
}

struct State {
    /// Documents as they are on disk.
    durable: LruCache<Uuid, Document>,
    /// Documents ahead of the disk, with the ticket of their last queued push.
    unsettled: HashMap<Uuid, (u64, Document)>,
    queue: Vec<Queued>,
    next_ticket: u64,
    /// Every ticket below this one is stored (or lost with a failed generation).
    settled: u64,
    writing: bool,
    /// Moves on each time a group commit fails.
    generation: u64,
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
    origin: Origin,
    generation: u64,
}

impl std::fmt::Debug for Taken<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Taken")
            .field("id", &self.id)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

fn lost_round() -> AppError {
    AppError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "store_failed",
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
            }),
            settled: Condvar::new(),
            bell,
        }
    }

    /// Takes document `id` out for a check (`None` inside if the hub does not have it): its
    /// stripe (and, for a new document, the filing lock) stays locked until the [`Taken`] is
    /// dropped.
    pub fn take(&self, id: Uuid) -> Result<Taken<'_>, AppError> {
        let stripe = lock(&self.stripes[(id.as_u128() % STRIPES as u128) as usize]);
        let (found, generation) = {
            let mut st = lock(&self.state);
            let found = match st.unsettled.remove(&id) {
                Some((ticket, doc)) => Some((Origin::Unsettled(ticket), doc)),
                None => st.durable.pop(&id).map(|doc| (Origin::Durable, doc)),
            };
            (found, st.generation)
        };
        let (origin, doc) = match found {
            Some((origin, doc)) => (origin, Some(doc)),
            None => {
                // Not in memory, so what is on disk is the latest (the stripe is held).
                let doc = match self.storage.document(id)? {
                    Some(record) => {
                        Some(Document::load(&record.bytes).map_err(AppError::internal)?)
                    }
                    None => None,
                };
                (Origin::Durable, doc)
            }
        };
        let filing = doc.is_none().then(|| lock(&self.filing));
        Ok(Taken {
            docs: self,
            _stripe: stripe,
            _filing: filing,
            id,
            doc,
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
            &dyn Fn(Uuid) -> Result<Option<Document>, AppError>,
            &[Uuid],
        ) -> Result<(), AppError>,
    ) -> Result<(), AppError> {
        let mut groups: Vec<Vec<Uuid>> = vec![Vec::new(); STRIPES];
        for id in ids {
            groups[(id.as_u128() % STRIPES as u128) as usize].push(*id);
        }
        for (stripe, group) in groups.iter().enumerate().filter(|(_, g)| !g.is_empty()) {
            let _held = lock(&self.stripes[stripe]);
            f(&|id| self.latest(id), group)?;
        }
        Ok(())
    }

    /// Whether a request accepted but not yet stored (other than `except`) has this receipt
    /// number: the index on disk does not know it yet.
    pub fn queued_receipt(&self, receipt_no: &str, except: Uuid) -> bool {
        lock(&self.state)
            .unsettled
            .iter()
            .any(|(id, (_, doc))| *id != except && doc.receipt_no() == Some(receipt_no))
    }

    /// The latest copy of a document: queued, cached, or on disk. The caller holds its stripe.
    fn latest(&self, id: Uuid) -> Result<Option<Document>, AppError> {
        {
            let st = lock(&self.state);
            if let Some((_, doc)) = st.unsettled.get(&id) {
                return Ok(Some(doc.clone()));
            }
            if let Some(doc) = st.durable.peek(&id) {
                return Ok(Some(doc.clone()));
            }
        }
        match self.storage.document(id)? {
            Some(record) => Ok(Some(
                Document::load(&record.bytes).map_err(AppError::internal)?,
            )),
            None => Ok(None),
        }
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
            let commits: Vec<Commit<'_>> = batch.iter().map(Queued::as_commit).collect();
            let stored = self.storage.commit_all(&commits);
            st = lock(&self.state);
            match stored {
                Ok(_) => {
                    for q in &batch {
                        if st.unsettled.get(&q.doc_id).map(|(t, _)| *t) == Some(q.ticket)
                            && let Some((_, doc)) = st.unsettled.remove(&q.doc_id)
                        {
                            st.durable.put(q.doc_id, doc);
                        }
                    }
                    if batch.iter().any(|q| !q.changes.is_empty()) {
                        self.bell.ring();
                    }
                    st.settled = end;
                    tracing::debug!(pushes = batch.len(), "group commit stored");
                }
                Err(e) => {
                    tracing::error!(error = %e, pushes = batch.len(), "group commit failed; the pushes are dropped");
                    st.generation += 1;
                    st.unsettled.clear();
                    st.queue.clear();
                    st.settled = st.next_ticket;
                }
            }
            st.writing = false;
            self.settled.notify_all();
        }
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

    /// Replaces the document with `doc` and queues `commit` to store it. An error (and nothing
    /// queued) if a group commit failed since the document was taken.
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
        st.next_ticket += 1;
        st.unsettled.insert(self.id, (commit.ticket, doc));
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
        let mut st = lock(&self.docs.state);
        match self.origin {
            // A copy ahead of the disk is only good while its generation lasts.
            Origin::Unsettled(_) if st.generation != self.generation => {}
            Origin::Unsettled(ticket) if ticket >= st.settled => {
                st.unsettled.insert(self.id, (ticket, doc));
            }
            _ => {
                st.durable.put(self.id, doc);
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
}
