//! Live notices for devices connected to any hub process sharing the storage.
//!
//! One notifier per engine (so per hub process), on a thread of its own, turns the change log
//! into [`LiveNotice`]s: it keeps the last log number it published and, whenever it wakes, reads
//! the log after it ([`Storage::log_tail`]) and publishes what it finds into the engine's
//! broadcast, which each device's event stream filters by the device's scope. It wakes when
//!
//! - this process stored a group commit ([`Bell::ring`], from the engine): no added delay for a
//!   hub on its own (SQLite);
//! - the backend hints that another process added to the log ([`Storage::watch_log`]:
//!   PostgreSQL's `NOTIFY`, heard on a connection of its own);
//! - [`POLL`] passed without either: the fallback for hints lost while that connection was
//!   down, and for backends without hints.
//!
//! Every notice is read from the log, in log order, after the last number published, so none is
//! published twice and none is skipped, whichever process stored the change (numbers become
//! visible in order: see [`crate::storage`]). Consecutive entries of one document pushed by one
//! device (one push) make one notice, carrying the last entry's number.

use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::broadcast;
use uuid::Uuid;

use crate::engine::LiveNotice;
use crate::storage::{LogNotice, Storage};

/// How often the notifier reads the log when nothing woke it.
pub const POLL: Duration = Duration::from_millis(500);
/// Log entries read per query; a longer tail is read in several.
const PAGE: usize = 1_000;
/// How long [`start`] waits for the notifier to learn where the log ends (below).
pub const ARM_WAIT: Duration = Duration::from_secs(5);

/// Wakes the notifier: rung by the engine after each group commit, and by the backend's watch.
/// Cheap to clone and to ring; ringing a bell nobody waits on does nothing.
#[derive(Debug, Clone, Default)]
pub struct Bell(Arc<Shared>);

#[derive(Debug, Default)]
struct Shared {
    flags: Mutex<Flags>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct Flags {
    rung: bool,
    ended: bool,
}

impl Bell {
    /// Tells the notifier that the change log may have grown.
    pub fn ring(&self) {
        self.flags().rung = true;
        self.0.changed.notify_all();
    }

    fn end(&self) {
        self.flags().ended = true;
        self.0.changed.notify_all();
    }

    /// Two flags set in single assignments: a poisoned lock is still consistent.
    fn flags(&self) -> MutexGuard<'_, Flags> {
        self.0.flags.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until the bell rings or `timeout` passes (whichever first; a ring since the last
    /// wait counts); `false` once the notifier is to end.
    fn wait(&self, timeout: Duration) -> bool {
        let until = Instant::now() + timeout;
        let mut flags = self.flags();
        loop {
            if flags.ended {
                return false;
            }
            let left = until.saturating_duration_since(Instant::now());
            if flags.rung || left.is_zero() {
                flags.rung = false;
                return true;
            }
            flags = self
                .0
                .changed
                .wait_timeout(flags, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

/// A running notifier: dropping it ends its thread (and the backend's watch with it).
#[derive(Debug)]
pub struct Notifier {
    bell: Bell,
}

impl Drop for Notifier {
    fn drop(&mut self) {
        self.bell.end();
    }
}

/// Starts the notifier of one engine: it publishes into `live` the notices of every change-log
/// entry stored after it started, by this process or any other; `bell` wakes it.
///
/// Returns once the notifier knows where the log ends (the entries before are no news), so
/// that no push stored after this returns goes unannounced, or after [`ARM_WAIT`] if the
/// storage does not answer (then it starts from wherever the log ends when it does).
/// The storage is only ever called on the notifier's own thread.
pub fn start(
    storage: Arc<dyn Storage>,
    live: broadcast::Sender<LiveNotice>,
    bell: Bell,
) -> Notifier {
    let (armed, arming) = mpsc::sync_channel(1);
    let ringer = bell.clone();
    let spawned = std::thread::Builder::new()
        .name("bianmin-notices".into())
        .spawn(move || run(storage.as_ref(), &live, &ringer, &armed));
    match spawned {
        Ok(_) => {
            if arming.recv_timeout(ARM_WAIT).is_err() {
                tracing::warn!(
                    "live notices: the change log's end is not known yet; notices start once \
                     the storage answers"
                );
            }
        }
        Err(e) => tracing::error!(error = %e, "live notices: the notifier thread could not start"),
    }
    Notifier { bell }
}

/// The notifier's thread: see the module docs.
fn run(
    storage: &dyn Storage,
    live: &broadcast::Sender<LiveNotice>,
    bell: &Bell,
    armed: &mpsc::SyncSender<()>,
) {
    let mut failing = false;
    let mut last = loop {
        match storage.log_head() {
            Ok(head) => break head,
            Err(e) => {
                if !std::mem::replace(&mut failing, true) {
                    tracing::warn!(error = %e, "live notices: cannot read the change log's end; retrying");
                }
                if !bell.wait(POLL) {
                    return;
                }
            }
        }
    };
    let _ = armed.try_send(());
    let ringer = bell.clone();
    // Held for as long as the notifier runs: dropping it ends the backend's watch.
    let _watch = match storage.watch_log(Box::new(move || ringer.ring())) {
        Ok(watch) => watch,
        Err(e) => {
            tracing::warn!(error = %e, "live notices: no change-log watch; polling only");
            None
        }
    };
    tracing::debug!(
        from = last,
        "live notices: publishing the change log's new entries"
    );
    while bell.wait(POLL) {
        match publish(storage, live, &mut last) {
            Ok(_) if std::mem::take(&mut failing) => {
                tracing::info!("live notices: the change log can be read again");
            }
            Ok(_) => {}
            Err(e) => {
                if !std::mem::replace(&mut failing, true) {
                    tracing::warn!(error = %e, "live notices: cannot read the change log; retrying");
                }
            }
        }
    }
}

/// Reads the log after `last` to its end and publishes its entries, one notice per run of
/// entries of one document pushed by one device; `last` becomes the last entry published, even
/// if a read fails partway (what was read is published first). Returns the notices published.
fn publish(
    storage: &dyn Storage,
    live: &broadcast::Sender<LiveNotice>,
    last: &mut u64,
) -> crate::storage::Result<usize> {
    let mut run: Option<(Uuid, LiveNotice)> = None;
    let mut sent = 0;
    let mut send = |notice: LiveNotice| {
        // Nobody listening is fine.
        let _ = live.send(notice);
        sent += 1;
    };
    let outcome = loop {
        let page = match storage.log_tail(*last, PAGE) {
            Ok(page) => page,
            Err(e) => break Err(e),
        };
        let full = page.len() >= PAGE;
        for entry in page {
            *last = entry.seq;
            match &mut run {
                Some((doc, notice)) if continues(*doc, notice, &entry) => notice.seq = entry.seq,
                _ => {
                    if let Some((_, done)) = run.replace((entry.doc_id, notice_of(entry))) {
                        send(done);
                    }
                }
            }
        }
        if !full {
            break Ok(());
        }
    };
    if let Some((_, done)) = run {
        send(done);
    }
    outcome.map(|()| sent)
}

/// Whether `entry` belongs to the same push as the run of `doc` that made `notice`.
fn continues(doc: Uuid, notice: &LiveNotice, entry: &LogNotice) -> bool {
    doc == entry.doc_id
        && notice.from_device == entry.device_id
        && notice.village == entry.village
        && notice.resident_user == entry.resident_user
}

fn notice_of(entry: LogNotice) -> LiveNotice {
    LiveNotice {
        seq: entry.seq,
        village: entry.village,
        resident_user: entry.resident_user,
        from_device: entry.device_id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::Commit;
    use crate::storage::sqlite::SqliteStorage;
    use bianmin_document::DocKind;

    const EAST: &str = "370883101201";
    const WEST: &str = "370883101202";

    fn commit(s: &dyn Storage, doc: Uuid, village: &str, device: &str, seeds: &[u8]) -> u64 {
        let changes: Vec<([u8; 32], Vec<u8>)> = seeds
            .iter()
            .map(|&n| ([n; 32], vec![0x85, 0x6f, 0x4a, 0x83, n]))
            .collect();
        s.commit(&Commit {
            doc_id: doc,
            kind: DocKind::Agenda,
            village,
            resident_user: None,
            snapshot: b"doc",
            changes: &changes,
            device_id: device,
            user_id: "user",
            received_at: 1,
            index: None,
        })
        .unwrap()
    }

    /// The next notice, waiting at most 10 s.
    fn next(rx: &mut broadcast::Receiver<LiveNotice>) -> LiveNotice {
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            match rx.try_recv() {
                Ok(n) => return n,
                Err(broadcast::error::TryRecvError::Empty) if Instant::now() < until => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) => panic!("no notice: {e:?}"),
            }
        }
    }

    #[test]
    fn notices_come_from_the_log_once_each_whoever_wrote_it() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Arc::new(SqliteStorage::open(dir.path()).unwrap());
        // Written before the notifier started: no news.
        commit(&*storage, Uuid::new_v4(), EAST, "dev-old", &[1]);
        let (live, mut rx) = broadcast::channel(64);
        let bell = Bell::default();
        let notifier = start(storage.clone(), live, bell.clone());

        // A local group commit, rung: one notice per push, with its last number.
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let seqs = storage
            .commit_all(&[
                Commit {
                    doc_id: a,
                    kind: DocKind::Agenda,
                    village: EAST,
                    resident_user: None,
                    snapshot: b"a",
                    changes: &[([2; 32], vec![2]), ([3; 32], vec![3])],
                    device_id: "dev-a",
                    user_id: "u",
                    received_at: 1,
                    index: None,
                },
                Commit {
                    doc_id: b,
                    kind: DocKind::Request,
                    village: WEST,
                    resident_user: Some("res"),
                    snapshot: b"b",
                    changes: &[([4; 32], vec![4])],
                    device_id: "dev-b",
                    user_id: "u",
                    received_at: 1,
                    index: None,
                },
            ])
            .unwrap();
        bell.ring();
        let first = next(&mut rx);
        assert_eq!(
            first,
            LiveNotice {
                seq: seqs[0],
                village: EAST.into(),
                resident_user: None,
                from_device: "dev-a".into()
            }
        );
        let second = next(&mut rx);
        assert_eq!(
            second,
            LiveNotice {
                seq: seqs[1],
                village: WEST.into(),
                resident_user: Some("res".into()),
                from_device: "dev-b".into()
            }
        );

        // Another process's commit (another connection to the same database), never rung:
        // the poll finds it.
        let other = SqliteStorage::open(dir.path()).unwrap();
        let seq = commit(&other, Uuid::new_v4(), WEST, "dev-elsewhere", &[5]);
        let third = next(&mut rx);
        assert_eq!(
            (third.seq, third.from_device.as_str()),
            (seq, "dev-elsewhere")
        );

        // Rung again with nothing new: nothing is published twice.
        bell.ring();
        std::thread::sleep(POLL * 2);
        assert!(matches!(
            rx.try_recv(),
            Err(broadcast::error::TryRecvError::Empty)
        ));
        drop(notifier);
    }

    #[test]
    fn a_long_tail_is_read_in_pages_without_splitting_a_push() {
        let dir = tempfile::tempdir().unwrap();
        let storage = SqliteStorage::open(dir.path()).unwrap();
        let (live, mut rx) = broadcast::channel(4 * PAGE);
        // One push longer than a page, then pushes alternating between two documents.
        let big: Vec<([u8; 32], Vec<u8>)> = (0..PAGE as u32 + 7)
            .map(|i| {
                let mut hash = [0u8; 32];
                hash[..4].copy_from_slice(&i.to_le_bytes());
                (hash, vec![1, 2, 3])
            })
            .collect();
        let doc = Uuid::new_v4();
        let end_of_big = storage
            .commit(&Commit {
                doc_id: doc,
                kind: DocKind::Agenda,
                village: EAST,
                resident_user: None,
                snapshot: b"doc",
                changes: &big,
                device_id: "dev-a",
                user_id: "u",
                received_at: 1,
                index: None,
            })
            .unwrap();
        let (x, y) = (Uuid::new_v4(), Uuid::new_v4());
        let mut expected = vec![end_of_big];
        for (i, doc) in [x, y, x, x].into_iter().enumerate() {
            expected.push(commit(&storage, doc, EAST, "dev-b", &[200 + i as u8]));
        }
        // x twice in a row from one device: one run.
        expected.remove(3);
        let mut last = 0;
        let sent = publish(&storage, &live, &mut last).unwrap();
        assert_eq!(sent, expected.len());
        assert_eq!(last, *expected.last().unwrap());
        let got: Vec<u64> = (0..sent).map(|_| rx.try_recv().unwrap().seq).collect();
        assert_eq!(got, expected);
        assert_eq!(
            publish(&storage, &live, &mut last).unwrap(),
            0,
            "nothing twice"
        );
    }
}
