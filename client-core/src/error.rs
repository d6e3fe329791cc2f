//! The public error of client-core.
//!
//! Small on purpose: each variant is something the app shows or acts on. Messages name fields
//! and rules, never a resident's name, ID number or phone number; storage details are logged
//! (without values) and summarised.

use std::path::PathBuf;

use bianmin_domain::{PermissionError, RuleError, ValidationError};

/// What went wrong; nothing stored was changed by the failed operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input breaks a rule: `field` names what, `rule` says which rule.
    #[error("{field}: {rule}")]
    Invalid {
        /// The field or operation refused.
        field: String,
        /// The rule it broke.
        rule: String,
    },
    /// The store's identity may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// No such request or agenda item in this store.
    #[error("{what} {id} not found in this store")]
    NotFound {
        /// `request` or `agenda item`.
        what: &'static str,
        /// Its identifier.
        id: String,
    },
    /// A store already exists at this path; it was left untouched.
    #[error("a store already exists at {0}")]
    AlreadyExists(PathBuf),
    /// The store was written by a newer version of Bianmin; it was left untouched.
    #[error(
        "the store was written by a newer version of Bianmin (schema {found}; this version \
         knows up to {supported}): update the app; the store was left untouched"
    )]
    TooNew {
        /// The store's schema version.
        found: i64,
        /// The newest this code knows.
        supported: i64,
    },
    /// The file could not be opened as a store: it was moved aside (never deleted, it may hold
    /// unsynced work) and a new store can be enrolled in its place.
    #[error("the store could not be opened ({reason}); it was moved aside to {moved_to}")]
    Quarantined {
        /// Where the file now is.
        moved_to: PathBuf,
        /// What SQLite said.
        reason: String,
    },
    /// Bytes received from elsewhere do not form a valid change of a Bianmin document; nothing
    /// of them was stored.
    #[error("refused remote changes: {0}")]
    Malformed(String),
    /// The database failed; the operation was rolled back.
    #[error("storage failure: {0}")]
    Storage(String),
}

impl From<ValidationError> for Error {
    fn from(e: ValidationError) -> Self {
        Error::Invalid {
            field: e.field,
            rule: e.rule,
        }
    }
}

impl From<PermissionError> for Error {
    fn from(e: PermissionError) -> Self {
        Error::Forbidden(e.to_string())
    }
}

impl From<RuleError> for Error {
    fn from(e: RuleError) -> Self {
        match e {
            RuleError::Invalid(v) => v.into(),
            RuleError::Forbidden(p) => p.into(),
        }
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        tracing::error!(error = %e, "sqlite error");
        Error::Storage(e.to_string())
    }
}

impl From<bianmin_document::layout::DocError> for Error {
    fn from(e: bianmin_document::layout::DocError) -> Self {
        // A document we wrote ourselves failed to decode: the store is damaged.
        tracing::error!(error = %e, "stored document does not decode");
        Error::Storage(e.to_string())
    }
}

impl From<bianmin_document::Error> for Error {
    fn from(e: bianmin_document::Error) -> Self {
        use bianmin_document::Error as D;
        match e {
            D::Invalid { field, rule } => Error::Invalid { field, rule },
            D::Forbidden(why) => Error::Forbidden(why),
            D::NotFound { what, id } => Error::NotFound { what, id },
            D::Malformed(why) => {
                // A document this store holds failed to decode: the store is damaged.
                tracing::error!(error = %why, "stored document does not decode");
                Error::Storage(why)
            }
            D::Storage(why) => Error::Storage(why),
            other => Error::Storage(other.to_string()),
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
