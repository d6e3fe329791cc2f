//! The errors of the domain rules.
//!
//! Every refusal names the field and the rule that failed, in words a clerk can act on. No error
//! ever carries a national ID number, a phone number or a name: `field` is a field's name and
//! `rule` describes the rule, never the rejected value.

use std::fmt;

/// An input that breaks a rule of the domain; nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {rule}")]
pub struct ValidationError {
    /// The field (or the operation) that was refused, e.g. `applicant.id_number`.
    pub field: String,
    /// The rule it broke, e.g. `check digit does not match (GB 11643)`.
    pub rule: String,
}

impl ValidationError {
    /// A refusal of `field` for breaking `rule`.
    pub fn new(field: impl Into<String>, rule: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            rule: rule.into(),
        }
    }
}

/// An identity tried something its role or scope does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not permitted: a {role} {what}")]
pub struct PermissionError {
    /// The role of the identity that was refused.
    pub role: crate::Role,
    /// What it may not do, e.g. `may not approve a request`.
    pub what: String,
}

impl PermissionError {
    pub(crate) fn new(role: crate::Role, what: impl fmt::Display) -> Self {
        Self {
            role,
            what: what.to_string(),
        }
    }
}

/// Why an operation on a document was refused: a broken rule or a missing permission.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    /// The input breaks a validation or workflow rule.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// The identity may not do this.
    #[error(transparent)]
    Forbidden(#[from] PermissionError),
}
