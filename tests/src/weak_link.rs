//! A village on a weak link (issue 14), shared by `tests/weak_link.rs` and
//! `benches/weak_link.rs`: a real hub served in this process, one clerk tablet enrolled through
//! a [`CutProxy`] shaped like a village's mobile link, and the clerk running `bianmin sync` over
//! and over (the documents, then the attachments' bytes, as the command does) while the test
//! watches what the township holds.
//!
//! What counts is what the hub holds (its storage and its blob store), looked at from outside
//! the link: the tablet's own view could be wrong, the hub's is what the reviewer sees.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use bianmin_client_core::Store;
use bianmin_client_core::client::{self, SyncOptions};
use bianmin_client_core::transfer::transfer_attachments;
use bianmin_server::blobs::BlobStore;
use uuid::Uuid;

use crate::hub::{CLERK, REVIEWER, TestHub};
use crate::proxy::{CutProxy, SeenRequest};
use crate::social_card_request;

/// The shape of a link: bandwidth (each way), one-way latency, and the bytes after which every
/// connection is cut (0: never).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    /// Bits per second each way (0: no limit).
    pub bits_per_sec: u64,
    /// One-way latency.
    pub latency: Duration,
    /// Every connection is closed after this many bytes went through it (0: never).
    pub cut_after: usize,
}

impl Link {
    /// The village link of issue 14: 64 kbit/s, 300 ms one way, every connection cut after
    /// 200 KB.
    pub const VILLAGE: Link = Link {
        bits_per_sec: 64_000,
        latency: Duration::from_millis(300),
        cut_after: 200_000,
    };

    /// Shapes `proxy` like this link.
    pub fn apply(&self, proxy: &CutProxy) {
        proxy
            .limit(self.bits_per_sec)
            .latency(self.latency)
            .cut_connections_after(self.cut_after);
    }
}

/// A photo of `size` bytes that the hub and the tablet take for a JPEG (it starts with the
/// JPEG signature `FF D8 FF` and ends with its end marker `FF D9`), its middle random (so that
/// nothing on the way could shrink it); `seed` tells photos apart.
pub fn photo(size: usize, seed: u32) -> Vec<u8> {
    assert!(size >= 6, "a photo needs room for its markers");
    let mut b = vec![0xFF, 0xD8, 0xFF, 0xE0];
    let mut x = seed.wrapping_mul(2_654_435_761) | 1;
    b.extend((0..size - 6).map(|_| {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x as u8
    }));
    b.extend([0xFF, 0xD9]);
    b
}

/// The offsets each `PUT` of blob `sha` asked the hub to append at, in the order they reached
/// it (read from the requests the proxy passed on).
pub fn upload_offsets(requests: &[SeenRequest], sha: &str) -> Vec<(Instant, u64)> {
    let prefix = format!("/api/v1/blobs/{sha}?");
    requests
        .iter()
        .filter(|r| r.method == "PUT" && r.target.starts_with(&prefix))
        .filter_map(|r| {
            let query = &r.target[prefix.len()..];
            let offset = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("offset="))?
                .parse()
                .ok()?;
            Some((r.at, offset))
        })
        .collect()
}

/// Uploads that started again from offset 0 after bytes of the same blob had been sent: every
/// `PUT` at offset 0 after a blob's first one.
pub fn upload_restarts(requests: &[SeenRequest], shas: &[String]) -> usize {
    shas.iter()
        .map(|sha| {
            upload_offsets(requests, sha)
                .iter()
                .skip(1)
                .filter(|(_, offset)| *offset == 0)
                .count()
        })
        .sum()
}

/// What the clerk filed so far.
#[derive(Debug, Clone, Default)]
struct Filed {
    requests: Vec<Uuid>,
    /// The photos' SHA-256 and size.
    photos: Vec<(String, u64)>,
}

/// When things arrived at the hub, as seen by [`Village::observe`].
#[derive(Debug, Default)]
struct Seen {
    requests: HashMap<Uuid, Instant>,
    photos: HashMap<String, Instant>,
}

/// A township hub and one village clerk's tablet enrolled through a weak link.
#[derive(Debug)]
pub struct Village {
    /// The hub (in this process, on a loopback port).
    pub hub: TestHub,
    /// The link between the tablet and the hub.
    pub proxy: CutProxy,
    /// The clerk's tablet (East Village).
    pub tablet: Mutex<Store>,
    filed: Mutex<Filed>,
    seen: Mutex<Seen>,
    dir: tempfile::TempDir,
}

/// A poisoned lock only means a thread of the test panicked: carry on to report it.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Village {
    /// A hub and a clerk's tablet enrolled through a proxy shaped like `link` (the enrolment
    /// itself goes through before the link is shaped: it is not what is measured).
    pub fn start(link: Link) -> Arc<Village> {
        let hub = TestHub::start();
        let upstream: SocketAddr = hub
            .url
            .trim_start_matches("http://")
            .parse()
            .expect("the hub's address");
        let proxy = CutProxy::start(upstream);
        let dir = tempfile::tempdir().expect("temp dir");
        let tablet = client::enroll(
            dir.path().join("east-tablet.db"),
            &proxy.url,
            &hub.code(CLERK),
            "east-tablet",
            &SyncOptions::default(),
        )
        .expect("enrol the clerk's tablet through the proxy");
        link.apply(&proxy);
        Arc::new(Village {
            hub,
            proxy,
            tablet: Mutex::new(tablet),
            filed: Mutex::default(),
            seen: Mutex::default(),
            dir,
        })
    }

    /// A reviewer's desk at the township, enrolled with the hub directly (not over the
    /// village's link).
    pub fn reviewer(&self) -> Mutex<Store> {
        Mutex::new(self.hub.enrol(REVIEWER, self.dir.path(), "township-desk"))
    }

    /// The clerk files `n` social security card requests (no photos).
    pub fn file_requests(&self, n: usize) -> Vec<Uuid> {
        let ids: Vec<Uuid> = {
            let mut tablet = lock(&self.tablet);
            (0..n)
                .map(|_| {
                    tablet
                        .file_request(social_card_request())
                        .expect("file a request")
                        .id
                })
                .collect()
        };
        lock(&self.filed).requests.extend(&ids);
        ids
    }

    /// The clerk files `n` requests, each with a photo of its applicant's ID card of `size`
    /// bytes; returns the requests and the photos' SHA-256.
    pub fn file_with_photos(&self, n: usize, size: usize, seed: u32) -> (Vec<Uuid>, Vec<String>) {
        let ids = self.file_requests(n);
        let mut shas = Vec::new();
        {
            let mut tablet = lock(&self.tablet);
            for (i, id) in ids.iter().enumerate() {
                let bytes = photo(size, seed.wrapping_add(i as u32));
                let reference = tablet
                    .attach_bytes(*id, "ID card", &bytes)
                    .expect("attach a photo");
                shas.push(reference.sha256);
            }
        }
        lock(&self.filed)
            .photos
            .extend(shas.iter().map(|s| (s.clone(), size as u64)));
        (ids, shas)
    }

    /// The bytes of every change on the tablet the hub has not acknowledged, as the sync
    /// protocol carries them (base64): what the documents weigh before any framing.
    pub fn unsent_document_bytes(&self) -> u64 {
        lock(&self.tablet)
            .pending_changes(100_000)
            .expect("pending changes")
            .iter()
            .flat_map(|d| &d.changes)
            .map(|c| (c.len() as u64).div_ceil(3) * 4)
            .sum()
    }

    fn blobs(&self) -> &dyn BlobStore {
        self.hub
            .state
            .blobs
            .as_deref()
            .expect("the test hub has a blob store")
    }

    /// How many bytes of a photo the hub holds, and whether it holds it whole (verified).
    pub fn photo_at_hub(&self, sha: &str) -> (u64, bool) {
        let blobs = self.blobs();
        (
            blobs.received(sha).expect("blob status"),
            blobs.is_complete(sha).expect("blob status"),
        )
    }

    /// Looks at what the hub holds now (requests first, then photos, so that a request seen
    /// in the same look as a photo's completion is never taken to have come first) and notes
    /// when each filed request and photo first was there.
    pub fn observe(&self) {
        let Filed {
            requests: ids,
            photos: shas,
        } = lock(&self.filed).clone();
        let known: Vec<Uuid> = {
            let seen = lock(&self.seen);
            ids.into_iter()
                .filter(|id| !seen.requests.contains_key(id))
                .collect()
        };
        let arrived: Vec<Uuid> = known
            .into_iter()
            .filter(|id| {
                self.hub
                    .storage
                    .document(*id)
                    .expect("hub storage")
                    .is_some()
            })
            .collect();
        let now = Instant::now();
        lock(&self.seen)
            .requests
            .extend(arrived.into_iter().map(|id| (id, now)));
        let done: Vec<String> = shas
            .into_iter()
            .filter(|(sha, _)| !lock(&self.seen).photos.contains_key(sha))
            .filter(|(sha, _)| self.blobs().is_complete(sha).expect("blob status"))
            .map(|(sha, _)| sha)
            .collect();
        let now = Instant::now();
        lock(&self.seen)
            .photos
            .extend(done.into_iter().map(|sha| (sha, now)));
    }

    /// When the hub was first seen holding request `id` (see [`Village::observe`]).
    pub fn request_arrived(&self, id: Uuid) -> Option<Instant> {
        lock(&self.seen).requests.get(&id).copied()
    }

    /// When the hub was first seen holding photo `sha` whole.
    pub fn photo_arrived(&self, sha: &str) -> Option<Instant> {
        lock(&self.seen).photos.get(sha).copied()
    }

    /// How many of `ids` the hub holds (as last observed).
    pub fn requests_at_hub(&self, ids: &[Uuid]) -> usize {
        let seen = lock(&self.seen);
        ids.iter()
            .filter(|id| seen.requests.contains_key(id))
            .count()
    }

    /// How many of `shas` the hub holds whole (as last observed).
    pub fn photos_at_hub(&self, shas: &[String]) -> usize {
        let seen = lock(&self.seen);
        shas.iter()
            .filter(|sha| seen.photos.contains_key(*sha))
            .count()
    }

    /// What the hub holds of everything filed: requests stored plus photo bytes received. Goes
    /// up whenever anything gets through.
    fn progress(&self) -> u64 {
        let Filed {
            requests: ids,
            photos: shas,
        } = lock(&self.filed).clone();
        let requests = self.requests_at_hub(&ids) as u64;
        let bytes: u64 = shas.iter().map(|(sha, _)| self.photo_at_hub(sha).0).sum();
        requests + bytes
    }

    /// A line about where things stand, for a failure's message.
    pub fn state(&self) -> String {
        let Filed {
            requests: ids,
            photos: shas,
        } = lock(&self.filed).clone();
        let photos: Vec<String> = shas
            .iter()
            .map(|(sha, size)| {
                let (received, complete) = self.photo_at_hub(sha);
                format!(
                    "{}…: {received}/{size}{}",
                    &sha[..8],
                    if complete { " complete" } else { "" }
                )
            })
            .collect();
        let (up, down) = self.proxy.bytes();
        format!(
            "the hub holds {} of {} requests; photos at the hub [{}]; link: {up} B up, {down} B \
             down, {} connections, {} cut",
            self.requests_at_hub(&ids),
            ids.len(),
            photos.join(", "),
            self.proxy.connections(),
            self.proxy.cuts(),
        )
    }

    /// Watches the hub until `done` holds (checked after each look, every 250 ms). Fails when
    /// nothing more reaches the hub for `stall` (a link on which nothing gets through any more)
    /// or at `deadline`; the message says where things stood. Returns when `done` first held.
    pub fn wait_until(
        &self,
        what: &str,
        stall: Duration,
        deadline: Instant,
        mut done: impl FnMut(&Village) -> bool,
    ) -> Result<Instant, String> {
        let mut last = (self.progress(), Instant::now());
        loop {
            self.observe();
            if done(self) {
                return Ok(Instant::now());
            }
            let now = Instant::now();
            let progress = self.progress();
            if progress != last.0 {
                last = (progress, now);
            } else if now - last.1 >= stall {
                return Err(format!(
                    "waiting for {what}: nothing more reached the hub for {} s; {}",
                    stall.as_secs(),
                    self.state()
                ));
            }
            if now >= deadline {
                return Err(format!("waiting for {what}: out of time; {}", self.state()));
            }
            thread::sleep(Duration::from_millis(250));
        }
    }
}

/// What the clerk's syncs came to.
#[derive(Debug, Clone, Default)]
pub struct ClerkLog {
    /// `sync` runs, and how many failed (no connection, after its retries).
    pub syncs: usize,
    /// How many of them failed.
    pub failed_syncs: usize,
    /// Attachment transfer runs, and how many left a photo for the next run.
    pub transfers: usize,
    /// How many of them left a photo for the next run (or failed).
    pub unfinished_transfers: usize,
    /// Progress reports heard from the transfers.
    pub progress_reports: usize,
    /// The last failure's message.
    pub last_error: Option<String>,
}

/// The clerk running `bianmin sync` over and over on a thread of its own: the documents, then
/// (if the hub answered) the attachments' bytes, with the command's default options; a second
/// after a run that left something for later, half a second after one that left nothing.
#[derive(Debug)]
pub struct Clerk {
    village: Arc<Village>,
    stop: Arc<AtomicBool>,
    transferring: Arc<AtomicBool>,
    log: Arc<Mutex<ClerkLog>>,
    handle: Option<JoinHandle<()>>,
}

impl Clerk {
    /// Starts the clerk's syncing.
    pub fn start(village: &Arc<Village>) -> Clerk {
        let stop = Arc::new(AtomicBool::new(false));
        let transferring = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(ClerkLog::default()));
        let handle = {
            let (village, stop, transferring, log) = (
                village.clone(),
                stop.clone(),
                transferring.clone(),
                log.clone(),
            );
            thread::spawn(move || run(&village, &stop, &transferring, &log))
        };
        Clerk {
            village: village.clone(),
            stop,
            transferring,
            log,
            handle: Some(handle),
        }
    }

    /// Whether the clerk's sync is moving attachment bytes right now.
    pub fn transferring(&self) -> bool {
        self.transferring.load(Ordering::SeqCst)
    }

    /// What the syncs came to so far.
    pub fn log(&self) -> ClerkLog {
        lock(&self.log).clone()
    }

    /// Stops after the run under way and waits for it.
    pub fn finish(mut self) -> ClerkLog {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
        self.log()
    }
}

impl Drop for Clerk {
    /// A clerk given up on (a failed test): the link goes down so that the run under way ends
    /// soon, and the thread is left to end on its own.
    fn drop(&mut self) {
        if self.handle.is_some() {
            self.stop.store(true, Ordering::SeqCst);
            self.village.proxy.drop_for(Duration::from_secs(24 * 3600));
        }
    }
}

fn run(village: &Village, stop: &AtomicBool, transferring: &AtomicBool, log: &Mutex<ClerkLog>) {
    let opts = SyncOptions::default();
    while !stop.load(Ordering::SeqCst) {
        let synced = client::sync(&village.tablet, &opts, &mut |_| {});
        let mut later = false;
        {
            let mut log = lock(log);
            log.syncs += 1;
            if let Err(e) = &synced {
                log.failed_syncs += 1;
                log.last_error = Some(format!("sync: {e}"));
                later = true;
            }
        }
        if synced.is_ok() && !stop.load(Ordering::SeqCst) {
            transferring.store(true, Ordering::SeqCst);
            let mut reports = 0;
            let moved = transfer_attachments(&village.tablet, &opts, &mut |_| reports += 1);
            transferring.store(false, Ordering::SeqCst);
            let mut log = lock(log);
            log.transfers += 1;
            log.progress_reports += reports;
            match moved {
                Ok(report) if report.failed.is_empty() => {}
                Ok(report) => {
                    log.unfinished_transfers += 1;
                    log.last_error = report
                        .failed
                        .first()
                        .map(|f| format!("transfer: {}", f.reason));
                    later = true;
                }
                Err(e) => {
                    log.unfinished_transfers += 1;
                    log.last_error = Some(format!("transfer: {e}"));
                    later = true;
                }
            }
        }
        thread::sleep(Duration::from_millis(if later { 1000 } else { 500 }));
    }
}
