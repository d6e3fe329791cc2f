//! The one error the bindings raise: Kotlin `BianminException`, Swift `BianminError`, Python
//! `bianmin_ffi.BianminError`.
//!
//! Each variant maps one of client-core's errors and keeps its message, which names fields and
//! rules and never a resident's name, ID number or phone number. Variant fields are not called
//! `message` or `field`: Kotlin error classes generate a `message` property and `field` means
//! the backing field inside it.

use bianmin_client_core::Error as CoreError;
use bianmin_client_core::client::SyncError;

/// What went wrong; nothing stored was changed by the failed operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum BianminError {
    /// The input breaks a rule: `field_name` names what, `rule` says which rule.
    #[error("{field_name}: {rule}")]
    Invalid {
        /// The field or operation refused, e.g. `applicant.id_number`.
        field_name: String,
        /// The rule it broke, e.g. `check digit does not match (GB 11643)`.
        rule: String,
    },
    /// The store's identity may not do this.
    #[error("{detail}")]
    Forbidden {
        /// What may not be done, e.g. `not permitted: a clerk may not approve a request`.
        detail: String,
    },
    /// No such request, agenda item or attachment in this store (or an attachment whose bytes
    /// have not arrived yet).
    #[error("{detail}")]
    NotFound {
        /// Which one was looked for.
        detail: String,
    },
    /// A store already exists at the path; it was left untouched.
    #[error("{detail}")]
    AlreadyExists {
        /// Where.
        detail: String,
    },
    /// The store was written by a newer version of Bianmin; it was left untouched.
    #[error("{detail}")]
    StoreTooNew {
        /// The versions, and what to do.
        detail: String,
    },
    /// The file could not be opened as a store: it was moved aside (never deleted) to
    /// `moved_to`, and a new store can be enrolled in its place.
    #[error("{detail}")]
    Quarantined {
        /// Where the unreadable file now is.
        moved_to: String,
        /// What happened.
        detail: String,
    },
    /// Bytes received do not form a valid change of a Bianmin document; none was stored.
    #[error("{detail}")]
    Malformed {
        /// What was wrong with them.
        detail: String,
    },
    /// The database failed; the operation was rolled back.
    #[error("{detail}")]
    Storage {
        /// What failed.
        detail: String,
    },
    /// The hub could not be reached (after retries); unsynced work stays queued.
    #[error("{detail}")]
    Network {
        /// What the connection said.
        detail: String,
    },
    /// The hub refused the exchange (a used enrolment code, a revoked device...); retrying
    /// will not help.
    #[error("{detail}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The hub's machine code, e.g. `device_revoked`.
        code: String,
        /// What the hub said, e.g. `the hub refused the request: device_revoked: ...`.
        detail: String,
    },
    /// The store has not been enrolled with a hub, so it cannot sync.
    #[error("this store is not enrolled with a hub")]
    NotEnrolled,
}

impl From<CoreError> for BianminError {
    fn from(e: CoreError) -> Self {
        let detail = e.to_string();
        match e {
            CoreError::Invalid { field, rule } => BianminError::Invalid {
                field_name: field,
                rule,
            },
            CoreError::Forbidden(_) => BianminError::Forbidden { detail },
            CoreError::NotFound { .. } => BianminError::NotFound { detail },
            CoreError::AlreadyExists(_) => BianminError::AlreadyExists { detail },
            CoreError::TooNew { .. } => BianminError::StoreTooNew { detail },
            CoreError::Quarantined { moved_to, .. } => BianminError::Quarantined {
                moved_to: moved_to.display().to_string(),
                detail,
            },
            CoreError::Malformed(_) => BianminError::Malformed { detail },
            CoreError::Storage(_) => BianminError::Storage { detail },
            // client-core's error is non-exhaustive; a variant added later reads as a storage
            // failure, with its own message, until it gets a variant here.
            _ => BianminError::Storage { detail },
        }
    }
}

impl From<SyncError> for BianminError {
    fn from(e: SyncError) -> Self {
        let detail = e.to_string();
        match e {
            SyncError::Network(_) => BianminError::Network { detail },
            SyncError::Hub { status, code, .. } => BianminError::Refused {
                status,
                code,
                detail,
            },
            SyncError::NotEnrolled => BianminError::NotEnrolled,
            SyncError::Store(inner) => inner.into(),
        }
    }
}
