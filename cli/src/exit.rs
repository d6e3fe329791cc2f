//! Exit codes, and the one error type every command returns.
//!
//! A script tells what happened from the exit code alone; a person reads the message. Messages
//! come from client-core and the domain rules, which name fields and rules and never a
//! resident's name, ID number or phone number; the few messages written here follow the same
//! rule (an attribute's code is named, never its value).

use bianmin_client_core::Error as StoreError;
use bianmin_client_core::client::SyncError;
use serde::Serialize;

/// The exit-code table, as `bianmin --help` and `docs/cli.md` print it.
pub const TABLE: &str = "\
Exit codes:
  0  success
  1  unexpected failure (for example, the output could not be written)
  2  usage: unknown command or flag, missing or malformed argument
  3  bad input: the store refused it (a rule such as an unknown item code or a wrong ID check
     digit, a step the role may not take, no such request or agenda item, store not enrolled)
  4  refused by the hub: a sync finished but the hub refused some pushed work (see `bianmin
     refused`), or the hub refused the enrolment code or this device
  5  no network: the hub could not be reached; the work stays queued for the next sync (also
     when the documents synced but some attachment bytes could not be moved)
  6  storage: no store at the path, not a Bianmin store, written by a newer version,
     unreadable (moved aside), already exists, or a database failure";

/// What kind of failure ended the command; each has its own exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Exit 1.
    Unexpected,
    /// Exit 2 (clap uses 2 for its own usage errors too).
    Usage,
    /// Exit 3.
    InvalidInput,
    /// Exit 4.
    RefusedByHub,
    /// Exit 5.
    NoNetwork,
    /// Exit 6.
    Storage,
}

impl Kind {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            Kind::Unexpected => 1,
            Kind::Usage => 2,
            Kind::InvalidInput => 3,
            Kind::RefusedByHub => 4,
            Kind::NoNetwork => 5,
            Kind::Storage => 6,
        }
    }
}

/// Why a command failed.
#[derive(Debug, Clone, Serialize)]
pub struct CliError {
    /// Which exit code.
    pub kind: Kind,
    /// What went wrong, in words (never a resident's personal data).
    pub message: String,
    /// For a broken rule: the field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// For a broken rule: the rule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// What to do about it, when there is something to say.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl CliError {
    /// An error of `kind` with a message.
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        CliError {
            kind,
            message: message.into(),
            field: None,
            rule: None,
            hint: None,
        }
    }

    /// A malformed command line found by the CLI itself (exit 2, like clap's own).
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(Kind::Usage, message)
    }

    /// A value that breaks a rule (exit 3), in the store's `field: rule` form.
    pub fn invalid(field: impl Into<String>, rule: impl Into<String>) -> Self {
        let (field, rule) = (field.into(), rule.into());
        CliError {
            message: format!("{field}: {rule}"),
            field: Some(field),
            rule: Some(rule),
            ..Self::new(Kind::InvalidInput, "")
        }
    }

    /// Adds what to do about it.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Treats any failure as a storage problem (used while opening a store: whatever stops
    /// it from opening, the store cannot be used).
    pub fn into_storage(mut self) -> Self {
        self.kind = Kind::Storage;
        self
    }

    /// The process exit code.
    pub fn code(&self) -> u8 {
        self.kind.code()
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

impl From<StoreError> for CliError {
    fn from(e: StoreError) -> Self {
        let message = e.to_string();
        match e {
            StoreError::Invalid { field, rule } => CliError::invalid(field, rule),
            StoreError::Forbidden(_) | StoreError::NotFound { .. } => {
                CliError::new(Kind::InvalidInput, message)
            }
            StoreError::Malformed(_) => CliError::new(Kind::RefusedByHub, message),
            StoreError::AlreadyExists(_)
            | StoreError::TooNew { .. }
            | StoreError::Quarantined { .. }
            | StoreError::Storage(_) => CliError::new(Kind::Storage, message),
            // `Error` is non-exhaustive: a variant added later is at least reported.
            _ => CliError::new(Kind::Unexpected, message),
        }
    }
}

impl From<SyncError> for CliError {
    fn from(e: SyncError) -> Self {
        match e {
            SyncError::Network(_) => CliError::new(Kind::NoNetwork, e.to_string()).with_hint(
                "check the link to the hub, then run `bianmin sync` again; nothing was lost",
            ),
            SyncError::Hub { .. } => CliError::new(Kind::RefusedByHub, e.to_string()),
            SyncError::NotEnrolled => CliError::new(Kind::InvalidInput, e.to_string())
                .with_hint("only a store made by `bianmin enroll` can sync"),
            SyncError::Store(inner) => inner.into(),
        }
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        CliError::new(Kind::Unexpected, format!("could not write the output: {e}"))
    }
}

/// Shorthand for the result of a command.
pub type CliResult<T = ()> = Result<T, CliError>;
