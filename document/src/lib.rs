//! # Bianmin document: requests and agenda items as Automerge documents
//!
//! The layer between the pure rules of [`bianmin_domain`] and the two places documents live,
//! the clerk's tablet (`bianmin-client-core`) and the township hub (`bianmin-server`). Both
//! depend on this crate; neither depends on the other.
//!
//! - [`layout`]: the Automerge layout of each kind of document, the only code that knows it;
//!   reading a document decodes it into domain values and checks the layout.
//! - [`author`]: writing to a document as someone (a lifecycle event, a field edit, a comment,
//!   an attachment reference).
//! - [`check`]: the one decision whether a change is acceptable, given the sender's identity,
//!   the reference data and the document before it. The hub runs it on every pushed change;
//!   the tablet runs it on its own changes before it stores them.
//! - [`Document`]: one document as a whole (load, save, heads, changes, where it belongs);
//!   [`view`]: the page views; [`index`]: the list row and the hub's index entry;
//!   [`model`]: the typed values of both; `sqlite` (feature `sqlite`): the list queries over a
//!   SQLite table of list rows; `notice` (feature `notice`): the printable notices of a request
//!   (receipt, notice of materials to supply, decision) as HTML with a QR code, and as text.
//!
//! No Automerge type crosses this crate's API except through [`Document`] and the layout
//! functions, which take the `AutoCommit` the caller owns.

pub mod author;
pub mod check;
mod document;
mod error;
pub mod index;
pub mod layout;
pub mod limits;
pub mod model;
#[cfg(feature = "notice")]
pub mod notice;
mod reference;
#[cfg(feature = "sqlite")]
pub mod sqlite;
pub mod view;

pub use author::Authoring;
pub use check::{AcceptedPush, Context, Environment, Residence, changes_of_saved, check_push};
pub use document::{Decoded, DocMeta, Document, LogCarriers, decode};
pub use error::{Error, Refusal, Result};
pub use index::{Decision, DocIndex, RequestIndex};
pub use layout::DocKind;
pub use reference::Reference;
