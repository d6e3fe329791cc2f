//! Attachments on the tablet: photos and scans of an applicant's materials.
//!
//! The bytes are files beside the store, `<store>.blobs/<sha256>` (content-addressed: the same
//! photo is stored once), written and flushed to disk before the reference enters the request's
//! document, so a reference never points at bytes this tablet lost. A download in progress is
//! `<sha256>.part`. `blob_uploads` records how much of each blob the hub has acknowledged.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use bianmin_domain::{AttachmentRef, MAX_ATTACHMENT_BYTES, MediaType, ValidationError};
use rusqlite::OptionalExtension;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::Store;
use crate::model::{AttachmentView, TransferState};
use crate::{Error, Result};
use bianmin_document::author::{self, NewAttachment};

fn io_error(what: &str, e: std::io::Error) -> Error {
    Error::Storage(format!("{what}: {e}"))
}

/// Checks an attachment's bytes: size and media type (by signature). Returns the type and hash.
pub(crate) fn inspect(bytes: &[u8]) -> Result<(MediaType, String)> {
    if bytes.is_empty() {
        return Err(ValidationError::new("attachment", "the file is empty").into());
    }
    if bytes.len() as u64 > MAX_ATTACHMENT_BYTES {
        return Err(ValidationError::new(
            "attachment.size",
            format!(
                "must be at most {} MB",
                MAX_ATTACHMENT_BYTES / (1024 * 1024)
            ),
        )
        .into());
    }
    let media_type = MediaType::sniff(bytes).ok_or_else(|| {
        ValidationError::new(
            "attachment.media_type",
            "must be a JPEG or PNG photo or a PDF",
        )
    })?;
    Ok((media_type, hex::encode(Sha256::digest(bytes))))
}

/// Writes `bytes` to `path` durably: a temporary file, flushed, renamed into place, the folder
/// flushed.
fn write_durably(dir: &Path, path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension(format!("tmp-{}", Uuid::new_v4().simple()));
    let written = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        File::open(dir)?.sync_all()
    })();
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written.map_err(|e| io_error("cannot store the attachment", e))
}

impl Store {
    /// The folder holding this store's attachment bytes.
    pub fn blob_dir(&self) -> PathBuf {
        let mut name = self.path.file_name().unwrap_or_default().to_os_string();
        name.push(".blobs");
        self.path.with_file_name(name)
    }

    fn blob_path(&self, sha256: &str) -> PathBuf {
        self.blob_dir().join(sha256)
    }

    /// Attaches the file at `file` to request `id` as a photo or scan of `material` (one of
    /// the service item's materials). Checks the size and the type (JPEG, PNG, PDF, by the
    /// file's signature) and the permission; nothing is stored if a check fails.
    pub fn attach_file(&mut self, id: Uuid, material: &str, file: &Path) -> Result<AttachmentRef> {
        let len = fs::metadata(file)
            .map_err(|e| io_error("cannot read the file", e))?
            .len();
        if len > MAX_ATTACHMENT_BYTES {
            return Err(ValidationError::new(
                "attachment.size",
                format!(
                    "must be at most {} MB",
                    MAX_ATTACHMENT_BYTES / (1024 * 1024)
                ),
            )
            .into());
        }
        let mut bytes = Vec::with_capacity(len as usize);
        File::open(file)
            .and_then(|f| f.take(MAX_ATTACHMENT_BYTES + 1).read_to_end(&mut bytes))
            .map_err(|e| io_error("cannot read the file", e))?;
        self.attach_bytes(id, material, &bytes)
    }

    /// Attaches `bytes` (see [`Store::attach_file`]).
    pub fn attach_bytes(
        &mut self,
        id: Uuid,
        material: &str,
        bytes: &[u8],
    ) -> Result<AttachmentRef> {
        let (media_type, sha256) = inspect(bytes)?;
        let dir = self.blob_dir();
        let path = self.blob_path(&sha256);
        let new = NewAttachment {
            sha256: sha256.clone(),
            media_type,
            size: bytes.len() as u64,
            material,
        };
        let mut added = None;
        self.change_request_then(
            id,
            |a, d, am| {
                added = Some(author::request_attach(a, d, am, &new)?);
                Ok(())
            },
            // The bytes are on disk before the reference is committed.
            || {
                fs::create_dir_all(&dir)
                    .map_err(|e| io_error("cannot create the blob folder", e))?;
                if fs::metadata(&path).ok().map(|m| m.len()) != Some(bytes.len() as u64) {
                    write_durably(&dir, &path, bytes)?;
                }
                Ok(())
            },
        )?;
        let reference = added.ok_or_else(|| Error::Storage("attachment not recorded".into()))?;
        tracing::info!(request = %id, size = reference.size, "attachment added");
        Ok(reference)
    }

    /// How much of a blob the hub has acknowledged.
    pub fn uploaded_bytes(&self, sha256: &str) -> Result<u64> {
        let n: Option<i64> = self
            .conn
            .query_row(
                "SELECT uploaded FROM blob_uploads WHERE sha256 = ?1",
                [sha256],
                |r| r.get(0),
            )
            .optional()?;
        Ok(n.unwrap_or(0).max(0) as u64)
    }

    /// Records that the hub has the first `bytes` of a blob.
    pub fn set_uploaded_bytes(&mut self, sha256: &str, bytes: u64) -> Result<()> {
        self.conn.execute(
            "INSERT INTO blob_uploads (sha256, uploaded) VALUES (?1, ?2)
             ON CONFLICT (sha256) DO UPDATE SET uploaded = max(uploaded, ?2)",
            rusqlite::params![sha256, bytes as i64],
        )?;
        Ok(())
    }

    /// Every blob the stored requests refer to: hash, size, media type.
    pub fn referenced_blobs(&self) -> Result<Vec<(String, u64, MediaType)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT sha256, max(size), min(media_type) FROM attachment_refs
             GROUP BY sha256 ORDER BY sha256",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter()
            .map(|(sha, size, media)| {
                Ok((
                    sha,
                    size.max(0) as u64,
                    MediaType::parse(&media).map_err(Error::from)?,
                ))
            })
            .collect()
    }

    /// The stored requests that refer to a blob (their attachment lists change state when its
    /// bytes arrive).
    pub fn requests_with_blob(&self, sha256: &str) -> Result<Vec<Uuid>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT doc_id FROM attachment_refs WHERE sha256 = ?1 ORDER BY doc_id",
        )?;
        let ids = stmt
            .query_map([sha256], |r| r.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        ids.iter()
            .map(|id| {
                Uuid::parse_str(id).map_err(|_| {
                    Error::Storage("a malformed document id in attachment_refs".into())
                })
            })
            .collect()
    }

    /// What a clerk calls a blob: the receipt number of the first request that refers to it
    /// and the material it was attached as (`None` if no request this identity may read
    /// refers to it).
    pub fn blob_label(&self, sha256: &str) -> Result<Option<(String, String)>> {
        for id in self.requests_with_blob(sha256)? {
            let Ok(detail) = self.request(id) else {
                continue;
            };
            if let Some(a) = detail.attachments.iter().find(|a| a.sha256 == sha256) {
                return Ok(Some((
                    detail.receipt_no.as_str().to_string(),
                    a.material.clone(),
                )));
            }
        }
        Ok(None)
    }

    /// Attachments held here that the hub does not have in full yet: how many, and how many
    /// bytes remain to be sent.
    pub fn pending_uploads(&self) -> Result<(u64, u64)> {
        let mut count = 0;
        let mut bytes = 0;
        for (sha, size, _) in self.referenced_blobs()? {
            let uploaded = self.uploaded_bytes(&sha)?;
            if uploaded < size && self.has_blob(&sha, size) {
                count += 1;
                bytes += size - uploaded;
            }
        }
        Ok((count, bytes))
    }

    /// Whether this tablet holds all of a blob's `size` bytes.
    pub fn has_blob(&self, sha256: &str, size: u64) -> bool {
        fs::metadata(self.blob_path(sha256)).ok().map(|m| m.len()) == Some(size)
    }

    /// Where a download of a blob keeps what arrived so far.
    pub fn partial_blob_path(&self, sha256: &str) -> PathBuf {
        self.blob_path(sha256).with_extension("part")
    }

    /// The complete local file of a blob.
    pub fn blob_file(&self, sha256: &str) -> PathBuf {
        self.blob_path(sha256)
    }

    /// Where a blob's bytes stand on this tablet.
    fn transfer_state(&self, reference: &AttachmentRef) -> Result<TransferState> {
        let path = self.blob_path(&reference.sha256);
        if fs::metadata(&path).ok().map(|m| m.len()) == Some(reference.size) {
            let uploaded = self.uploaded_bytes(&reference.sha256)?;
            return Ok(if uploaded >= reference.size {
                TransferState::Complete
            } else {
                TransferState::Uploading { uploaded }
            });
        }
        let part = path.with_extension("part");
        Ok(match fs::metadata(part) {
            Ok(m) => TransferState::Downloading { have: m.len() },
            Err(_) => TransferState::Missing,
        })
    }

    /// The attachments of request `id` with where their bytes stand.
    pub fn attachments(&self, id: Uuid) -> Result<Vec<AttachmentView>> {
        let detail = self.request(id)?;
        detail
            .attachments
            .into_iter()
            .map(|reference| {
                Ok(AttachmentView {
                    state: self.transfer_state(&reference)?,
                    reference,
                })
            })
            .collect()
    }

    /// The path of an attachment's bytes, checked against its hash, if this tablet has them
    /// all. The request must be one this identity may read.
    pub fn open_attachment(&self, id: Uuid, sha256: &str) -> Result<PathBuf> {
        let detail = self.request(id)?;
        let Some(reference) = detail.attachments.iter().find(|a| a.sha256 == sha256) else {
            return Err(Error::NotFound {
                what: "attachment",
                id: sha256.to_string(),
            });
        };
        let path = self.blob_path(&reference.sha256);
        let bytes = fs::read(&path).map_err(|_| Error::NotFound {
            what: "attachment bytes (not downloaded yet)",
            id: sha256.to_string(),
        })?;
        if hex::encode(Sha256::digest(&bytes)) != reference.sha256 {
            return Err(Error::Storage(
                "the attachment's bytes do not match its hash".into(),
            ));
        }
        Ok(path)
    }
}
