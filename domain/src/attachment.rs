//! Attachments: photos and scans of an applicant's materials (ID card, household register,
//! appraisals). A request's document holds only a reference to each (content hash, media type,
//! size, which material it shows, who attached it); the bytes travel separately. These are the
//! rules both the tablet and the hub check a reference against.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Stamp, ValidationError};

/// The largest attachment accepted: a phone photo of a document fits well within it.
pub const MAX_ATTACHMENT_BYTES: u64 = 10 * 1024 * 1024;

/// The media types accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MediaType {
    /// `image/jpeg`
    #[serde(rename = "image/jpeg")]
    Jpeg,
    /// `image/png`
    #[serde(rename = "image/png")]
    Png,
    /// `application/pdf`
    #[serde(rename = "application/pdf")]
    Pdf,
}

impl MediaType {
    /// The MIME name.
    pub fn as_str(self) -> &'static str {
        match self {
            MediaType::Jpeg => "image/jpeg",
            MediaType::Png => "image/png",
            MediaType::Pdf => "application/pdf",
        }
    }

    /// Parses a MIME name.
    pub fn parse(s: &str) -> Result<MediaType, ValidationError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "image/jpeg" | "image/jpg" => Ok(MediaType::Jpeg),
            "image/png" => Ok(MediaType::Png),
            "application/pdf" => Ok(MediaType::Pdf),
            _ => Err(ValidationError::new(
                "attachment.media_type",
                "must be a JPEG or PNG photo or a PDF",
            )),
        }
    }

    /// What the first bytes of a file say it is (by its signature, not by its name).
    pub fn sniff(head: &[u8]) -> Option<MediaType> {
        if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(MediaType::Jpeg)
        } else if head.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(MediaType::Png)
        } else if head.starts_with(b"%PDF-") {
            Some(MediaType::Pdf)
        } else {
            None
        }
    }

    /// The usual file extension.
    pub fn extension(self) -> &'static str {
        match self {
            MediaType::Jpeg => "jpg",
            MediaType::Png => "png",
            MediaType::Pdf => "pdf",
        }
    }
}

/// A request's reference to an attachment, as its document holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentRef {
    /// Its identifier.
    pub id: Uuid,
    /// SHA-256 of the bytes, lower-case hex: the blob's address.
    pub sha256: String,
    /// What the bytes are.
    pub media_type: MediaType,
    /// Their length.
    pub size: u64,
    /// The material it shows (one of the service item's materials).
    pub material: String,
    /// Who attached it, where and when.
    pub by: Stamp,
}

/// Checks a content hash: 64 lower-case hex digits.
pub fn validate_sha256(hash: &str) -> Result<(), ValidationError> {
    if hash.len() == 64
        && hash
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        Ok(())
    } else {
        Err(ValidationError::new(
            "attachment.sha256",
            "must be 64 lower-case hexadecimal digits",
        ))
    }
}

impl AttachmentRef {
    /// Checks the reference's own fields (the material is checked against the catalog by the
    /// caller, the signer against the sender).
    pub fn validate(&self) -> Result<(), ValidationError> {
        validate_sha256(&self.sha256)?;
        if self.size == 0 {
            return Err(ValidationError::new("attachment.size", "must not be empty"));
        }
        if self.size > MAX_ATTACHMENT_BYTES {
            return Err(ValidationError::new(
                "attachment.size",
                format!(
                    "must be at most {} MB",
                    MAX_ATTACHMENT_BYTES / (1024 * 1024)
                ),
            ));
        }
        if self.material.trim().is_empty() {
            return Err(ValidationError::new("attachment.material", "is required"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Role, Timestamp};

    fn sample() -> AttachmentRef {
        AttachmentRef {
            id: Uuid::nil(),
            sha256: "a".repeat(64),
            media_type: MediaType::Png,
            size: 1000,
            material: "ID card".into(),
            by: Stamp {
                user: "u".into(),
                role: Role::Clerk,
                device: "d".into(),
                at: Timestamp(0),
            },
        }
    }

    #[test]
    fn references_are_checked() {
        assert!(sample().validate().is_ok());
        let bad_hash = AttachmentRef {
            sha256: "A".repeat(64),
            ..sample()
        };
        assert_eq!(
            bad_hash.validate().unwrap_err().to_string(),
            "attachment.sha256: must be 64 lower-case hexadecimal digits"
        );
        let too_big = AttachmentRef {
            size: MAX_ATTACHMENT_BYTES + 1,
            ..sample()
        };
        assert!(too_big.validate().is_err());
        let empty = AttachmentRef {
            size: 0,
            ..sample()
        };
        assert!(empty.validate().is_err());
        let json = serde_json::to_string(&sample()).unwrap();
        assert!(json.contains("\"media_type\":\"image/png\""), "{json}");
    }

    #[test]
    fn files_are_known_by_their_signature() {
        assert_eq!(
            MediaType::sniff(&[0xFF, 0xD8, 0xFF, 0xE0]),
            Some(MediaType::Jpeg)
        );
        assert_eq!(
            MediaType::sniff(b"\x89PNG\r\n\x1a\n...."),
            Some(MediaType::Png)
        );
        assert_eq!(MediaType::sniff(b"%PDF-1.7"), Some(MediaType::Pdf));
        assert_eq!(MediaType::sniff(b"GIF89a"), None);
        assert_eq!(MediaType::parse("IMAGE/JPEG").unwrap(), MediaType::Jpeg);
        assert!(MediaType::parse("image/gif").is_err());
    }
}
