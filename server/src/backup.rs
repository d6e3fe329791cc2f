//! `bianmin-server backup`: a copy of a hub's data directory taken while it serves.
//!
//! The copy is itself a data directory: `bianmin.db` (a consistent snapshot by `VACUUM INTO`)
//! and `blobs/` (every complete attachment, copied after the snapshot so that every blob the
//! snapshot's requests could have completed is in it; partial uploads are left out: their
//! tablets resend them). `bianmin-server --data-dir COPY serve` serves it as it stands.

use std::fs;
use std::io;
use std::path::Path;

use crate::blobs::dir::DirBlobStore;
use crate::storage::StorageError;
use crate::storage::sqlite::{DB_FILE, SqliteStorage};

/// Why a backup failed. Nothing of a failed backup is left in the destination.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The destination exists and is not an empty directory.
    #[error("{0} already exists and is not empty: back up into a new directory")]
    Exists(String),
    /// The database could not be copied.
    #[error("copying the database: {0}")]
    Storage(#[from] StorageError),
    /// The file system failed.
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// What a backup holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackupReport {
    /// Bytes of the database copy.
    pub database_bytes: u64,
    /// Attachments copied.
    pub blobs: u64,
    /// Their bytes.
    pub blob_bytes: u64,
}

/// Copies the hub's database and complete attachments into `to`, a new (or empty) directory.
pub fn backup(
    storage: &SqliteStorage,
    blobs: &DirBlobStore,
    to: &Path,
) -> Result<BackupReport, BackupError> {
    let created = !to.exists();
    if !created && fs::read_dir(to)?.next().is_some() {
        return Err(BackupError::Exists(to.display().to_string()));
    }
    fs::create_dir_all(to)?;
    let copied = copy(storage, blobs, to);
    if copied.is_err() {
        // Nothing half-written is left to be mistaken for a backup.
        let _ = fs::remove_file(to.join(DB_FILE));
        let _ = fs::remove_dir_all(to.join("blobs"));
        if created {
            let _ = fs::remove_dir(to);
        }
    }
    copied
}

fn copy(
    storage: &SqliteStorage,
    blobs: &DirBlobStore,
    to: &Path,
) -> Result<BackupReport, BackupError> {
    let db = to.join(DB_FILE);
    storage.backup_into(&db)?;
    fs::File::open(&db)?.sync_all()?;
    let database_bytes = fs::metadata(&db)?.len();
    let (blobs, blob_bytes) = blobs.copy_complete_to(&to.join("blobs"))?;
    fs::File::open(to)?.sync_all()?;
    Ok(BackupReport {
        database_bytes,
        blobs,
        blob_bytes,
    })
}

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    use super::*;
    use crate::blobs::BlobStore;
    use crate::storage::Storage;

    #[test]
    fn the_copy_is_a_data_directory_with_the_users_and_the_complete_attachments() {
        let dir = tempfile::tempdir().unwrap();
        let live = dir.path().join("live");
        let storage = SqliteStorage::open(&live).unwrap();
        let users = crate::admin::load_demo(&storage).unwrap().len();
        let blobs = DirBlobStore::open(live.join("blobs")).unwrap();
        let photo = b"\x89PNG\r\n\x1a\n a photo".to_vec();
        let sha = hex::encode(Sha256::digest(&photo));
        blobs.append(&sha, 0, &photo).unwrap();
        blobs.finish(&sha).unwrap();
        let half = hex::encode(Sha256::digest(b"half of something"));
        blobs.append(&half, 0, b"half of").unwrap();

        let copy = dir.path().join("copy");
        let report = backup(&storage, &blobs, &copy).unwrap();
        assert_eq!((report.blobs, report.blob_bytes), (1, photo.len() as u64));
        assert!(report.database_bytes > 0);

        let restored = SqliteStorage::open(&copy).unwrap();
        assert_ne!(
            restored.log_id().unwrap(),
            storage.log_id().unwrap(),
            "the copy's change log has its own identity"
        );
        assert_eq!(restored.users().unwrap().len(), users);
        assert!(
            restored.reference().unwrap().is_some(),
            "reference data came along"
        );
        let restored_blobs = DirBlobStore::open(copy.join("blobs")).unwrap();
        let mut read = Vec::new();
        std::io::Read::read_to_end(
            &mut restored_blobs
                .open(&sha)
                .unwrap()
                .expect("the photo")
                .reader,
            &mut read,
        )
        .unwrap();
        assert_eq!(read, photo);
        assert_eq!(
            restored_blobs.received(&half).unwrap(),
            0,
            "partials stay out"
        );

        // Never into a directory that holds something.
        assert!(matches!(
            backup(&storage, &blobs, &copy),
            Err(BackupError::Exists(_))
        ));
    }
}
