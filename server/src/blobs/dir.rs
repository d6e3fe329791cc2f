//! The blob store in a directory: each blob at `<root>/<first 2 hex digits>/<sha256>`, each
//! partial upload at `<root>/partial/<sha256>`. Appends are synced before they are
//! acknowledged; a finished blob is renamed into place and its directory synced, so a crash
//! leaves either the partial or the blob, never a torn blob.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use bianmin_domain::attachment::validate_sha256;
use sha2::{Digest, Sha256};

use super::{BlobError, BlobStore, OpenBlob};

/// Blobs in a directory (see the module docs).
#[derive(Debug)]
pub struct DirBlobStore {
    root: PathBuf,
    /// Serialises writers: two uploads of the same blob never interleave their appends.
    write: Mutex<()>,
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    // Directories can be opened and synced on Unix; elsewhere renames are durable enough.
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

fn checked(sha256: &str) -> Result<&str, BlobError> {
    validate_sha256(sha256).map_err(|_| BlobError::BadAddress)?;
    Ok(sha256)
}

impl DirBlobStore {
    /// A store in `root` (created with its `partial/` directory if missing).
    pub fn open(root: impl Into<PathBuf>) -> io::Result<DirBlobStore> {
        let root = root.into();
        fs::create_dir_all(root.join("partial"))?;
        Ok(DirBlobStore {
            root,
            write: Mutex::new(()),
        })
    }

    /// Its directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn partial(&self, sha256: &str) -> PathBuf {
        self.root.join("partial").join(sha256)
    }

    fn blob(&self, sha256: &str) -> PathBuf {
        self.root.join(&sha256[..2]).join(sha256)
    }

    /// Copies every complete blob (not the partial uploads) into `dest`, laid out as a blob
    /// store of its own, each file flushed; returns how many and their bytes.
    pub fn copy_complete_to(&self, dest: &Path) -> io::Result<(u64, u64)> {
        let (mut count, mut bytes) = (0, 0);
        fs::create_dir_all(dest.join("partial"))?;
        for shard in fs::read_dir(&self.root)? {
            let shard = shard?;
            let name = shard.file_name();
            // The two-hex-digit folders hold the blobs; `partial/` and anything else are not.
            let is_shard = name.len() == 2
                && name
                    .to_str()
                    .is_some_and(|n| n.bytes().all(|b| b.is_ascii_hexdigit()));
            if !is_shard || !shard.file_type()?.is_dir() {
                continue;
            }
            let into = dest.join(&name);
            fs::create_dir_all(&into)?;
            for blob in fs::read_dir(shard.path())? {
                let blob = blob?;
                let Some(sha) = blob.file_name().to_str().map(str::to_string) else {
                    continue;
                };
                if checked(&sha).is_err() || !blob.file_type()?.is_file() {
                    continue;
                }
                let target = into.join(&sha);
                bytes += fs::copy(blob.path(), &target)?;
                File::open(&target)?.sync_all()?;
                count += 1;
            }
            sync_dir(&into)?;
        }
        sync_dir(dest)?;
        Ok((count, bytes))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        // The guarded data is nothing: a panic elsewhere leaves no state to distrust.
        self.write.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn len_of(path: &Path) -> io::Result<Option<u64>> {
    match fs::metadata(path) {
        Ok(m) => Ok(Some(m.len())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

fn open_file(path: &Path) -> Result<Option<OpenBlob>, BlobError> {
    match File::open(path) {
        Ok(file) => {
            let len = file.metadata()?.len();
            Ok(Some(OpenBlob {
                reader: Box::new(file),
                len,
            }))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// A reader that ends at `len` bytes, whatever the file grows to meanwhile.
struct Bounded {
    inner: Box<dyn super::ReadSeek + Send>,
    len: u64,
    pos: u64,
}

impl Read for Bounded {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = usize::try_from(self.len.saturating_sub(self.pos)).unwrap_or(usize::MAX);
        let want = buf.len().min(left);
        if want == 0 {
            return Ok(0);
        }
        let n = self.inner.read(&mut buf[..want])?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl std::io::Seek for Bounded {
    fn seek(&mut self, to: std::io::SeekFrom) -> io::Result<u64> {
        let to = match to {
            std::io::SeekFrom::End(d) => {
                std::io::SeekFrom::Start(self.len.checked_add_signed(d).ok_or_else(|| {
                    io::Error::new(io::ErrorKind::InvalidInput, "before the start")
                })?)
            }
            other => other,
        };
        self.pos = self.inner.seek(to)?;
        Ok(self.pos)
    }
}

fn remove(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

impl BlobStore for DirBlobStore {
    fn sweep_partials(&self, idle: std::time::Duration) -> Result<usize, BlobError> {
        let _guard = self.lock();
        let dir = self.root.join("partial");
        let now = std::time::SystemTime::now();
        let mut removed = 0;
        for entry in fs::read_dir(&dir)? {
            let entry = entry?;
            let modified = entry.metadata()?.modified()?;
            // A clock set back makes every age negative: nothing is removed then.
            if now.duration_since(modified).is_ok_and(|age| age >= idle) {
                remove(&entry.path())?;
                removed += 1;
            }
        }
        if removed > 0 {
            sync_dir(&dir)?;
        }
        Ok(removed)
    }

    fn received(&self, sha256: &str) -> Result<u64, BlobError> {
        let sha256 = checked(sha256)?;
        if let Some(len) = len_of(&self.blob(sha256))? {
            return Ok(len);
        }
        Ok(len_of(&self.partial(sha256))?.unwrap_or(0))
    }

    fn append(&self, sha256: &str, offset: u64, bytes: &[u8]) -> Result<u64, BlobError> {
        let sha256 = checked(sha256)?;
        let _guard = self.lock();
        let path = self.partial(sha256);
        let fresh = !path.exists();
        let mut file = OpenOptions::new().create(true).append(true).open(&path)?;
        let len = file.metadata()?.len();
        if offset != len {
            if fresh {
                drop(file);
                remove(&path)?;
            }
            return Err(BlobError::OffsetMismatch { received: len });
        }
        if let Err(e) = file.write_all(bytes).and_then(|()| file.sync_data()) {
            // Leave the partial as it was acknowledged.
            let _ = file.set_len(len);
            let _ = file.sync_all();
            return Err(e.into());
        }
        if fresh {
            file.sync_all()?;
            sync_dir(&self.root.join("partial"))?;
        }
        Ok(len + bytes.len() as u64)
    }

    fn discard(&self, sha256: &str) -> Result<(), BlobError> {
        let sha256 = checked(sha256)?;
        let _guard = self.lock();
        remove(&self.partial(sha256))?;
        sync_dir(&self.root.join("partial"))?;
        Ok(())
    }

    fn finish(&self, sha256: &str) -> Result<(), BlobError> {
        let sha256 = checked(sha256)?;
        let _guard = self.lock();
        let partial = self.partial(sha256);
        let target = self.blob(sha256);
        if target.exists() {
            remove(&partial)?;
            return Ok(());
        }
        let mut file = File::open(&partial)?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        drop(file);
        if hex::encode(hasher.finalize()) != sha256 {
            remove(&partial)?;
            sync_dir(&self.root.join("partial"))?;
            return Err(BlobError::HashMismatch {
                expected: sha256.to_string(),
            });
        }
        let shard = target.parent().expect("a blob path has a shard directory");
        fs::create_dir_all(shard)?;
        fs::rename(&partial, &target)?;
        sync_dir(shard)?;
        sync_dir(&self.root.join("partial"))?;
        Ok(())
    }

    fn is_complete(&self, sha256: &str) -> Result<bool, BlobError> {
        let sha256 = checked(sha256)?;
        Ok(self.blob(sha256).exists())
    }

    fn open(&self, sha256: &str) -> Result<Option<OpenBlob>, BlobError> {
        let sha256 = checked(sha256)?;
        open_file(&self.blob(sha256))
    }

    fn open_partial(&self, sha256: &str) -> Result<Option<OpenBlob>, BlobError> {
        let sha256 = checked(sha256)?;
        // Under the writers' lock: the length read is one an append left, never half of one.
        let _guard = self.lock();
        let Some(open) = open_file(&self.partial(sha256))? else {
            return Ok(None);
        };
        // An append after this call grows the file: read no further than its length now.
        let len = open.len;
        Ok(Some(OpenBlob {
            reader: Box::new(Bounded {
                inner: open.reader,
                len,
                pos: 0,
            }),
            len,
        }))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn sha(bytes: &[u8]) -> String {
        hex::encode(Sha256::digest(bytes))
    }

    fn read_all(store: &DirBlobStore, sha256: &str) -> Vec<u8> {
        let mut open = store.open(sha256).unwrap().expect("stored");
        let mut out = Vec::new();
        open.reader.read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn passes_the_shared_suite() {
        let root = tempfile::tempdir().unwrap();
        let n = AtomicUsize::new(0);
        crate::blobs::suite::run_all(&|| {
            let dir = root
                .path()
                .join(format!("blobs-{}", n.fetch_add(1, Ordering::Relaxed)));
            Box::new(DirBlobStore::open(dir).unwrap())
        });
    }

    #[test]
    fn a_blob_lies_under_its_hash_and_its_partial_goes_once_finished() {
        let dir = tempfile::tempdir().unwrap();
        let store = DirBlobStore::open(dir.path().join("blobs")).unwrap();
        let bytes: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
        let h = sha(&bytes);
        store.append(&h, 0, &bytes).unwrap();
        assert!(dir.path().join("blobs/partial").join(&h).exists());
        store.finish(&h).unwrap();
        assert!(!dir.path().join("blobs/partial").join(&h).exists());
        assert!(dir.path().join("blobs").join(&h[..2]).join(&h).exists());
        // Kept once: a second upload of the same bytes leaves no partial behind.
        store.append(&h, 0, &bytes).unwrap();
        store.finish(&h).unwrap();
        assert!(!dir.path().join("blobs/partial").join(&h).exists());
        // A mismatch leaves no partial file either.
        let other = sha(b"the real bytes");
        store.append(&other, 0, b"other bytes!!!").unwrap();
        assert!(store.finish(&other).is_err());
        assert!(!dir.path().join("blobs/partial").join(&other).exists());
    }

    #[test]
    fn only_partials_idle_for_long_are_swept() {
        let dir = tempfile::tempdir().unwrap();
        let store = DirBlobStore::open(dir.path()).unwrap();
        let (old, recent) = (sha(b"old upload"), sha(b"recent"));
        store.append(&old, 0, b"old").unwrap();
        store.append(&recent, 0, b"rec").unwrap();
        let month_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(31 * 86_400);
        File::options()
            .write(true)
            .open(dir.path().join("partial").join(&old))
            .unwrap()
            .set_modified(month_ago)
            .unwrap();

        assert_eq!(store.sweep_partials(crate::blobs::PARTIAL_IDLE).unwrap(), 1);
        assert_eq!(
            store.received(&old).unwrap(),
            0,
            "the abandoned upload is gone"
        );
        assert_eq!(store.received(&recent).unwrap(), 3, "a recent one is kept");
        // Its tablet, back after all, starts over from 0.
        assert_eq!(store.append(&old, 0, b"old upload").unwrap(), 10);
        store.finish(&old).unwrap();
    }

    #[test]
    fn partials_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let h = sha(b"abcdef");
        {
            let store = DirBlobStore::open(dir.path()).unwrap();
            store.append(&h, 0, b"abc").unwrap();
        }
        let store = DirBlobStore::open(dir.path()).unwrap();
        assert_eq!(store.received(&h).unwrap(), 3);
        store.append(&h, 3, b"def").unwrap();
        store.finish(&h).unwrap();
        assert_eq!(read_all(&store, &h), b"abcdef");
    }
}
