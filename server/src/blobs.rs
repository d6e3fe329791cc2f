//! Attachment bytes: a content-addressed store of blobs (photos and scans of materials) and
//! their partial uploads. A request's document refers to a blob by its SHA-256; the bytes
//! arrive in chunks over `PUT /api/v1/blobs/{sha256}` (see [`crate::blob_api`]) and are kept
//! under [`dir::DirBlobStore`]'s directory.
//!
//! Methods are blocking (handlers call them from `spawn_blocking`). An upload appends chunks
//! to a partial file at the offset the hub holds; once it has every byte, [`BlobStore::finish`]
//! checks the hash and moves the partial into the store, where each blob is kept once.

pub mod dir;
pub mod postgres;
pub mod suite;

use std::io::Read;

/// Why a blob operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// The chunk does not start where the hub's partial ends.
    #[error("the hub holds {received} bytes of this blob: send from there")]
    OffsetMismatch {
        /// What the hub holds.
        received: u64,
    },
    /// The bytes do not hash to the address; the partial was discarded.
    #[error("the bytes do not match the SHA-256 {expected}; the upload was discarded")]
    HashMismatch {
        /// The address.
        expected: String,
    },
    /// Not a SHA-256 address (64 lower-case hex digits).
    #[error("not a SHA-256 address")]
    BadAddress,
    /// The file system failed.
    #[error("blob store: {0}")]
    Io(#[from] std::io::Error),
}

/// A stored blob opened for reading.
pub struct OpenBlob {
    /// The bytes.
    pub reader: Box<dyn ReadSeek + Send>,
    /// Their length.
    pub len: u64,
}

impl std::fmt::Debug for OpenBlob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenBlob").field("len", &self.len).finish()
    }
}

/// Something to read a blob from, from any position.
pub trait ReadSeek: Read + std::io::Seek {}
impl<T: Read + std::io::Seek> ReadSeek for T {}

/// The hub's attachment bytes.
pub trait BlobStore: Send + Sync + 'static {
    /// How many bytes of the blob the hub holds: its length when complete, the partial's
    /// length while uploading, 0 if nothing.
    fn received(&self, sha256: &str) -> Result<u64, BlobError>;
    /// Appends `bytes` to the partial at `offset`, durably (synced to disk before answering);
    /// returns the partial's new length. [`BlobError::OffsetMismatch`] if `offset` is not the
    /// partial's length.
    fn append(&self, sha256: &str, offset: u64, bytes: &[u8]) -> Result<u64, BlobError>;
    /// Forgets the partial upload, if any.
    fn discard(&self, sha256: &str) -> Result<(), BlobError>;
    /// Checks the partial's SHA-256 against the address and moves it into the store (kept once
    /// if it is already there). [`BlobError::HashMismatch`] discards the partial.
    fn finish(&self, sha256: &str) -> Result<(), BlobError>;
    /// Whether the blob is stored complete.
    fn is_complete(&self, sha256: &str) -> Result<bool, BlobError>;
    /// The stored blob, `None` if it is not complete.
    fn open(&self, sha256: &str) -> Result<Option<OpenBlob>, BlobError>;
    /// The partial upload's bytes as held now (its length as of the call), `None` if no upload
    /// of this address is under way. Nothing checks them: a caller hashes what it reads. The
    /// resident pages read a photo sent in pieces from here and discard it once used, so that
    /// the bytes as the phone sent them never become a blob anyone could download
    /// (`web::resident::uploads`).
    fn open_partial(&self, sha256: &str) -> Result<Option<OpenBlob>, BlobError>;
    /// Forgets the partial uploads no chunk has reached for `idle` (a tablet lost or wiped
    /// midway); returns how many. A tablet that comes back after that starts its upload over
    /// from the hub's answer (0 bytes held): nothing it holds is lost.
    fn sweep_partials(&self, idle: std::time::Duration) -> Result<usize, BlobError>;
}

/// How long a partial upload may wait for its next chunk before [`sweep`] forgets it: longer
/// than any village stays offline.
pub const PARTIAL_IDLE: std::time::Duration = std::time::Duration::from_secs(30 * 24 * 3600);

/// Runs [`BlobStore::sweep_partials`] now and then every hour, on a thread of its own, for as
/// long as the process runs.
pub fn sweep(blobs: std::sync::Arc<dyn BlobStore>, idle: std::time::Duration) {
    let spawned = std::thread::Builder::new()
        .name("bianmin-blob-sweep".into())
        .spawn(move || {
            loop {
                match blobs.sweep_partials(idle) {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(partials = n, "abandoned partial uploads removed"),
                    Err(e) => tracing::warn!(error = %e, "sweeping partial uploads failed"),
                }
                std::thread::sleep(std::time::Duration::from_secs(3600));
            }
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "the blob sweep thread could not start");
    }
}
