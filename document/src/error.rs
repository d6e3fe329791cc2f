//! The document layer's errors: why an authoring request or a change was refused.
//!
//! Messages name fields and rules, never a resident's name, ID number or phone number.

use std::fmt;

use bianmin_domain::{PermissionError, RuleError, ValidationError};

use crate::layout::DocError;

/// Why writing to a document was refused; the document is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
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
    /// The writer may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// No such request or agenda item (or not of the kind asked for).
    #[error("{what} {id} not found")]
    NotFound {
        /// `request` or `agenda item`.
        what: &'static str,
        /// Its identifier.
        id: String,
    },
    /// Bytes do not form a Bianmin document (or a stored one no longer decodes).
    #[error("malformed document: {0}")]
    Malformed(String),
    /// A database read failed (the SQLite list queries).
    #[error("storage failure: {0}")]
    Storage(String),
}

impl Error {
    pub(crate) fn invalid(field: impl Into<String>, rule: impl Into<String>) -> Self {
        Error::Invalid {
            field: field.into(),
            rule: rule.into(),
        }
    }
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

impl From<DocError> for Error {
    fn from(e: DocError) -> Self {
        Error::Malformed(e.0)
    }
}

#[cfg(feature = "sqlite")]
impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        tracing::error!(error = %e, "sqlite error");
        Error::Storage(e.to_string())
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a change was refused (by the tablet before it writes, or by the hub for a push): a
/// stable machine code and a message for people. The message names fields and rules, never
/// personal data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// A stable code, e.g. `forged_actor` (every code is listed in `docs/sync-protocol.md`).
    pub code: &'static str,
    /// What was wrong.
    pub reason: String,
    /// Pushed changes the hub already held (a repeated round mixed with new changes): the
    /// device must not roll those back.
    pub held: Vec<[u8; 32]>,
}

impl Refusal {
    pub(crate) fn new(code: &'static str, reason: impl Into<String>) -> Self {
        Refusal {
            code,
            held: Vec::new(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.reason)
    }
}

impl From<Refusal> for Error {
    /// What a writer sees when its own change fails the check: `invalid` and `schema`
    /// refusals name a field and a rule; `forbidden` ones say what may not be done.
    fn from(r: Refusal) -> Self {
        match r.code {
            "forbidden" => Error::Forbidden(r.reason),
            "invalid" => match r.reason.split_once(": ") {
                Some((field, rule)) => Error::invalid(field, rule),
                None => Error::invalid("document", r.reason),
            },
            _ => Error::invalid(r.code, r.reason),
        }
    }
}
