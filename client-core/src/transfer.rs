//! Moving attachment bytes between a tablet and the hub, after the document sync and apart from
//! it (a large photo never holds up the requests themselves).
//!
//! Uploads go in pieces, each one acknowledged: a transfer cut at any point resumes from the
//! last byte the hub holds (asked with `GET .../status`; the hub keeps the part of a cut piece
//! that reached it), never from zero. Pieces start small and grow while the link carries them
//! (`Pace`: from [`FIRST_PIECE`] doubling up to [`CHUNK`] while each crosses within ten
//! seconds, halved after a cut). Before each
//! piece, documents filed meanwhile are synced first: a new request never waits behind a
//! photo. Downloads ask for the rest with `Range: bytes=N-` and append what arrives to a partial
//! file, so a cut download resumes from what it already has. A blob is kept only once its
//! SHA-256 matches. The store's lock is held only for short bookkeeping steps. The protocol is in
//! `docs/sync-protocol.md` ("Attachments").

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::Store;
use crate::client::{SyncError, SyncOptions, agent, answer_wait, base, lock};
use crate::protocol::ErrorBody;

/// The largest uploaded piece.
pub const CHUNK: usize = 256 * 1024;

/// The first piece of an upload, and the size a cut halves back towards.
pub const FIRST_PIECE: usize = 32 * 1024;

/// The smallest piece (a link that carries less between cuts still moves forward: the hub
/// keeps what arrived).
const SMALLEST_PIECE: usize = 8 * 1024;

/// A piece that the link carries within this long is followed by one twice as large.
const PIECE_TARGET: Duration = Duration::from_secs(10);

/// How large the next upload piece is: doubled after each piece acknowledged within
/// [`PIECE_TARGET`] up to [`CHUNK`], halved after one that took more than twice that or was
/// cut, down to the smallest piece. On a slow link pieces stay small, so that the wait for
/// each answer (see `client::answer_wait`) stays short and a cut costs little.
#[derive(Debug, Clone, Copy)]
struct Pace {
    piece: usize,
}

impl Pace {
    fn new() -> Pace {
        Pace { piece: FIRST_PIECE }
    }

    /// A piece was acknowledged `took` after it was sent.
    fn acknowledged(&mut self, took: Duration) {
        if took < PIECE_TARGET {
            self.piece = (self.piece * 2).min(CHUNK);
        } else if took > PIECE_TARGET * 2 {
            self.shrink();
        }
    }

    fn shrink(&mut self) {
        self.piece = (self.piece / 2).max(SMALLEST_PIECE);
    }
}

/// Which way a blob is moving.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From this tablet to the hub.
    Upload,
    /// From the hub to this tablet.
    Download,
}

/// How far one blob's transfer has come: told after each acknowledged chunk (upload) or each
/// [`CHUNK`] bytes received (download), and once when it completes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferProgress {
    /// The blob.
    pub sha256: String,
    /// The receipt number of the request it belongs to, and the material it was attached as
    /// (what a clerk calls it); empty if no readable request refers to it.
    pub receipt_no: String,
    /// The material.
    pub material: String,
    /// Tries of this blob in this run that were cut off or refused for now.
    pub retries: u32,
    /// Which way.
    pub direction: Direction,
    /// Bytes the other side now holds.
    pub done: u64,
    /// The blob's size.
    pub size: u64,
}

/// The progress reports of one blob's transfer, by how much the other side holds.
fn progress_of(
    store: &Mutex<Store>,
    sha: &str,
    direction: Direction,
    size: u64,
    retries: u32,
) -> impl Fn(u64) -> TransferProgress {
    let (receipt_no, material) = lock(store)
        .ok()
        .and_then(|s| s.blob_label(sha).ok().flatten())
        .unwrap_or_default();
    let sha = sha.to_string();
    move |done| TransferProgress {
        sha256: sha.clone(),
        receipt_no: receipt_no.clone(),
        material: material.clone(),
        retries,
        direction,
        done,
        size,
    }
}

/// A blob that could not be moved this time (it is tried again next time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferFailure {
    /// The blob.
    pub sha256: String,
    /// Why.
    pub reason: String,
    /// Whether it was the network (or a busy hub) rather than a refusal: the next run may well
    /// succeed without anyone doing anything.
    pub network: bool,
}

/// What a transfer run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransferReport {
    /// Blobs the hub now holds complete, that this run sent (some of).
    pub uploaded: Vec<String>,
    /// Blobs now complete on this tablet, that this run received (some of).
    pub downloaded: Vec<String>,
    /// Body bytes sent.
    pub bytes_sent: u64,
    /// Body bytes received.
    pub bytes_received: u64,
    /// Blobs that could not be moved this time (they are tried again next time).
    pub failed: Vec<TransferFailure>,
}

#[derive(Debug, Deserialize)]
struct BlobStatus {
    received: u64,
    complete: bool,
}

#[derive(Debug, Deserialize)]
struct OffsetMismatch {
    received: u64,
}

/// What one attempt at a blob came to.
enum Step {
    /// Try again (network trouble): from where the other side stands. `true` if the attempt
    /// moved some bytes for good (the count of failed attempts then starts over).
    Retry(String, bool),
    /// Give up on this blob for this run.
    Fail(String),
}

impl Step {
    fn net(e: impl std::fmt::Display) -> Step {
        Step::Retry(e.to_string(), false)
    }
}

fn hub_error(status: u16, body: &[u8]) -> String {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(e) => format!("{} ({status}): {}", e.error.code, e.error.message),
        Err(_) => format!("HTTP {status}"),
    }
}

/// Uploads every blob this tablet holds that the hub lacks, then downloads every blob the
/// stored requests refer to that this tablet lacks. Each blob is retried `opts.attempts` times
/// on network errors (resuming each time); a blob that still fails is reported and left for the
/// next run. `on_progress` hears how each blob is coming along.
pub fn transfer_attachments(
    store: &Mutex<Store>,
    opts: &SyncOptions,
    on_progress: &mut dyn FnMut(&TransferProgress),
) -> Result<TransferReport, SyncError> {
    let (url, token, blobs) = {
        let s = lock(store)?;
        let (url, token) = s.server()?.ok_or(SyncError::NotEnrolled)?;
        let blobs: Vec<(String, u64, bool, u64)> = s
            .referenced_blobs()?
            .into_iter()
            .map(|(sha, size, _)| {
                let have = s.has_blob(&sha, size);
                let uploaded = s.uploaded_bytes(&sha).unwrap_or(0);
                (sha, size, have, uploaded)
            })
            .collect();
        (base(&url).to_string(), token, blobs)
    };
    let agent = agent(opts.idle);
    let auth = format!("Bearer {token}");
    let hub = Hub {
        agent: &agent,
        url: &url,
        auth: &auth,
        opts,
    };
    let mut report = TransferReport::default();
    let mut pace = Pace::new();
    for (sha, size, have, uploaded) in &blobs {
        if *have && uploaded < size {
            let mut held = None;
            let outcome = retried(opts, |retries| {
                let blob = Blob {
                    sha,
                    size: *size,
                    retries,
                };
                upload(
                    store,
                    &hub,
                    blob,
                    &mut pace,
                    &mut held,
                    &mut report,
                    on_progress,
                )
            });
            match outcome {
                Ok(()) => report.uploaded.push(sha.clone()),
                Err(failure) => report.failed.push(failure.of(sha)),
            }
        }
    }
    for (sha, size, have, _) in &blobs {
        if !*have {
            let outcome = retried(opts, |retries| {
                let blob = Blob {
                    sha,
                    size: *size,
                    retries,
                };
                download(store, &hub, blob, &mut report, on_progress)
            });
            match outcome {
                Ok(true) => report.downloaded.push(sha.clone()),
                Ok(false) => {}
                Err(failure) => report.failed.push(failure.of(sha)),
            }
        }
    }
    Ok(report)
}

/// Syncs the documents filed or changed since the transfer began, before the next piece: a
/// request never waits behind a photo. A failure here is left to the next sync.
fn documents_first(store: &Mutex<Store>, opts: &SyncOptions) {
    let pending = lock(store)
        .ok()
        .and_then(|s| s.pending_documents().ok())
        .is_some_and(|n| n > 0);
    if pending && let Err(e) = crate::client::sync(store, opts, &mut |_| {}) {
        tracing::debug!(error = %e, "documents could not be synced between attachment pieces");
    }
}

/// One blob to move: its hash and size, and how many tries before this one were cut off.
#[derive(Debug, Clone, Copy)]
struct Blob<'a> {
    sha: &'a str,
    size: u64,
    retries: u32,
}

/// The hub's address and this device's credentials, for one run.
struct Hub<'a> {
    agent: &'a ureq::Agent,
    url: &'a str,
    auth: &'a str,
    /// For the document syncs between pieces.
    opts: &'a SyncOptions,
}

/// Why a blob was given up on for this run.
struct GaveUp {
    reason: String,
    network: bool,
}

impl GaveUp {
    fn of(self, sha: &str) -> TransferFailure {
        TransferFailure {
            sha256: sha.to_string(),
            reason: self.reason,
            network: self.network,
        }
    }
}

/// Runs `f` until it succeeds, fails for good, or fails `opts.attempts` times in a row without
/// moving any bytes (a link that drops every few hundred kilobytes still gets a 5 MB photo
/// through: every attempt that made progress resets the count and the wait).
/// `f` is told how many tries before it were cut off (the retries shown to the clerk).
fn retried<T>(opts: &SyncOptions, mut f: impl FnMut(u32) -> Result<T, Step>) -> Result<T, GaveUp> {
    let mut wait = opts.backoff;
    let mut failures = 0;
    let mut retries = 0;
    loop {
        let outcome = f(retries);
        retries += 1;
        match outcome {
            Ok(v) => return Ok(v),
            Err(Step::Fail(reason)) => {
                return Err(GaveUp {
                    reason,
                    network: false,
                });
            }
            Err(Step::Retry(_, true)) => {
                failures = 0;
                wait = opts.backoff;
            }
            Err(Step::Retry(why, false)) => {
                failures += 1;
                if failures >= opts.attempts.max(1) {
                    // Say what happened: a busy hub is not a missing link.
                    let what = if why.starts_with("hub answered") {
                        "the hub is busy"
                    } else {
                        "the link to the hub dropped"
                    };
                    return Err(GaveUp {
                        reason: format!("{what} ({why}); it is tried again at the next sync"),
                        network: true,
                    });
                }
                std::thread::sleep(wait);
                wait = wait.saturating_mul(2);
            }
        }
    }
}

fn read_body(resp: &mut ureq::http::Response<ureq::Body>, limit: u64) -> Result<Vec<u8>, Step> {
    resp.body_mut()
        .with_config()
        .limit(limit)
        .read_to_vec()
        .map_err(Step::net)
}

/// Sends the rest of one blob, piece by piece, from what the hub holds. `held` is what the hub
/// was known to hold before this attempt (`None` on the first): more now means the last
/// attempt moved bytes even though it was cut (the hub kept them).
fn upload(
    store: &Mutex<Store>,
    hub: &Hub<'_>,
    Blob { sha, size, retries }: Blob<'_>,
    pace: &mut Pace,
    held: &mut Option<u64>,
    report: &mut TransferReport,
    on_progress: &mut dyn FnMut(&TransferProgress),
) -> Result<(), Step> {
    let Hub {
        agent,
        url,
        auth,
        opts,
    } = *hub;
    let told = progress_of(store, sha, Direction::Upload, size, retries);
    let status_url = format!("{url}/api/v1/blobs/{sha}/status");
    let mut resp = agent
        .get(&status_url)
        .header("Authorization", auth)
        .call()
        .map_err(Step::net)?;
    let code = resp.status().as_u16();
    let body = read_body(&mut resp, 64 * 1024)?;
    report.bytes_received += body.len() as u64;
    if code >= 500 || code == 429 {
        return Err(Step::Retry(format!("hub answered {code}"), false));
    }
    if code != 200 {
        return Err(Step::Fail(hub_error(code, &body)));
    }
    let status: BlobStatus =
        serde_json::from_slice(&body).map_err(|e| Step::Fail(format!("bad status answer: {e}")))?;
    let mut offset = status.received;
    // Bytes kept from a cut piece count as progress, like acknowledged ones.
    let start = held.map_or(offset, |h| h.min(offset));
    *held = Some(offset);
    let moved = |offset: u64| offset > start;
    let mut done = status.complete;
    let path = lock(store)
        .map_err(|e| Step::Fail(e.to_string()))?
        .blob_file(sha);
    let mut file = File::open(&path).map_err(|e| Step::Fail(format!("the local copy: {e}")))?;
    let mut restarts = 0;
    while !done {
        documents_first(store, opts);
        let mut chunk = vec![0; pace.piece.min((size - offset.min(size)) as usize)];
        file.seek(SeekFrom::Start(offset))
            .and_then(|_| file.read_exact(&mut chunk))
            .map_err(|e| Step::Fail(format!("the local copy: {e}")))?;
        let put_url = format!("{url}/api/v1/blobs/{sha}?offset={offset}");
        let started = Instant::now();
        let sent = agent
            .put(&put_url)
            .config()
            .timeout_per_read(Some(answer_wait(agent, chunk.len())))
            .build()
            .header("Authorization", auth)
            .header("Content-Type", "application/octet-stream")
            .send(&chunk[..]);
        // Counted whether or not the answer came back: the bytes left this tablet.
        report.bytes_sent += chunk.len() as u64;
        let mut resp = sent.map_err(|e| {
            pace.shrink();
            Step::Retry(e.to_string(), moved(offset))
        })?;
        let code = resp.status().as_u16();
        let body = read_body(&mut resp, 64 * 1024).map_err(|e| match e {
            Step::Retry(why, _) => Step::Retry(why, moved(offset)),
            other => other,
        })?;
        report.bytes_received += body.len() as u64;
        match code {
            200 => {
                let st: BlobStatus = serde_json::from_slice(&body)
                    .map_err(|e| Step::Fail(format!("bad upload answer: {e}")))?;
                offset = st.received;
                *held = Some(offset);
                done = st.complete;
                pace.acknowledged(started.elapsed());
                let acknowledged = if done { size } else { offset };
                lock(store)
                    .map_err(|e| Step::Fail(e.to_string()))?
                    .set_uploaded_bytes(sha, acknowledged)
                    .map_err(|e| Step::Fail(e.to_string()))?;
                on_progress(&told(acknowledged));
            }
            409 => {
                // The hub holds another amount (an earlier answer was lost): go on from there.
                let m: OffsetMismatch = serde_json::from_slice(&body)
                    .map_err(|_| Step::Fail(hub_error(code, &body)))?;
                offset = m.received;
            }
            422 if restarts < 2 => {
                // The hub found the whole did not match its hash (a chunk was damaged on the
                // way) and dropped what it had: start again.
                restarts += 1;
                offset = 0;
            }
            c if c >= 500 || c == 429 => {
                return Err(Step::Retry(format!("hub answered {c}"), moved(offset)));
            }
            c => return Err(Step::Fail(hub_error(c, &body))),
        }
    }
    lock(store)
        .map_err(|e| Step::Fail(e.to_string()))?
        .set_uploaded_bytes(sha, size)
        .map_err(|e| Step::Fail(e.to_string()))?;
    Ok(())
}

/// Receives the rest of one blob into its partial file; keeps it once the hash matches.
/// `Ok(false)` if the hub does not have it yet (its tablet has not uploaded it).
fn download(
    store: &Mutex<Store>,
    hub: &Hub<'_>,
    Blob { sha, size, retries }: Blob<'_>,
    report: &mut TransferReport,
    on_progress: &mut dyn FnMut(&TransferProgress),
) -> Result<bool, Step> {
    let Hub {
        agent, url, auth, ..
    } = *hub;
    let told = progress_of(store, sha, Direction::Download, size, retries);
    let (dir, part, finished) = {
        let s = lock(store).map_err(|e| Step::Fail(e.to_string()))?;
        (s.blob_dir(), s.partial_blob_path(sha), s.blob_file(sha))
    };
    fs::create_dir_all(&dir).map_err(|e| Step::Fail(e.to_string()))?;
    let have = fs::metadata(&part).map(|m| m.len()).unwrap_or(0).min(size);
    if have < size {
        let mut resp = agent
            .get(&format!("{url}/api/v1/blobs/{sha}"))
            .header("Authorization", auth)
            .header("Range", &format!("bytes={have}-"))
            .call()
            .map_err(Step::net)?;
        let code = resp.status().as_u16();
        match code {
            200 | 206 => {}
            404 => return Ok(false),
            c if c >= 500 || c == 429 => {
                return Err(Step::Retry(format!("hub answered {c}"), false));
            }
            c => {
                let body = read_body(&mut resp, 64 * 1024)?;
                return Err(Step::Fail(hub_error(c, &body)));
            }
        }
        let mut out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&part)
            .map_err(|e| Step::Fail(e.to_string()))?;
        // What the file holds before this answer's bytes.
        let mut held = have;
        if code == 200 && have > 0 {
            // The hub sent the whole: start the partial over.
            out.set_len(0).map_err(|e| Step::Fail(e.to_string()))?;
            held = 0;
        }
        let mut reader = resp.body_mut().with_config().limit(size + 1).reader();
        let mut buf = vec![0; 64 * 1024];
        let mut cut = None;
        let mut arrived = 0u64;
        loop {
            match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    out.write_all(&buf[..n])
                        .map_err(|e| Step::Fail(e.to_string()))?;
                    report.bytes_received += n as u64;
                    let before = arrived;
                    arrived += n as u64;
                    if before / CHUNK as u64 != arrived / CHUNK as u64 {
                        on_progress(&told(held + arrived));
                    }
                }
                Err(e) => {
                    cut = Some(e.to_string());
                    break;
                }
            }
        }
        // What arrived is kept, even from a cut connection: the next attempt goes on from it.
        out.sync_all().map_err(|e| Step::Fail(e.to_string()))?;
        if let Some(why) = cut {
            return Err(Step::Retry(why, arrived > 0));
        }
    }
    let bytes = fs::read(&part).map_err(|e| Step::Fail(e.to_string()))?;
    if bytes.len() as u64 != size || hex::encode(Sha256::digest(&bytes)) != sha {
        let _ = fs::remove_file(&part);
        return Err(Step::Retry(
            "the received bytes do not match the attachment's hash; fetching again".into(),
            false,
        ));
    }
    fs::rename(&part, &finished).map_err(|e| Step::Fail(e.to_string()))?;
    if let Ok(d) = File::open(&dir) {
        let _ = d.sync_all();
    }
    // It came from the hub: nothing to upload.
    lock(store)
        .map_err(|e| Step::Fail(e.to_string()))?
        .set_uploaded_bytes(sha, size)
        .map_err(|e| Step::Fail(e.to_string()))?;
    on_progress(&told(size));
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_grow_while_the_link_carries_them_quickly_and_shrink_when_it_does_not() {
        let mut pace = Pace::new();
        pace.acknowledged(Duration::from_secs(2));
        assert_eq!(pace.piece, 2 * FIRST_PIECE);
        for _ in 0..10 {
            pace.acknowledged(Duration::from_secs(1));
        }
        assert_eq!(pace.piece, CHUNK, "never past the largest piece");
        pace.acknowledged(PIECE_TARGET + Duration::from_secs(1));
        assert_eq!(
            pace.piece, CHUNK,
            "a piece that took a little long keeps the size"
        );
        pace.acknowledged(PIECE_TARGET * 3);
        assert_eq!(
            pace.piece,
            CHUNK / 2,
            "one that took far too long halves it"
        );
        for _ in 0..10 {
            pace.shrink();
        }
        assert_eq!(
            pace.piece, SMALLEST_PIECE,
            "cuts never go below the smallest piece"
        );
    }
}
