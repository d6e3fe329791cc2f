//! # Bianmin client-core: the village tablet's offline store
//!
//! A clerk files residents' requests and records village agenda items all day without a
//! network; this crate keeps every keystroke safe and readies it for the next sync.
//!
//! - Each request and each agenda item is an Automerge document (the [`bianmin_document`] layout),
//!   stored in SQLite with a list projection (`projection`) and sync bookkeeping, all written
//!   in one transaction per operation ([`Store`]).
//! - The rules (workflow, deadlines, quorum, permissions, validation) come from
//!   [`bianmin_domain`]; the store checks them before every write and changes nothing when one
//!   fails.
//! - No Automerge type crosses the public API: changes travel as bytes ([`PendingDoc`]).
//! - Residents' accounts live on the hub: [`residents`] opens one (with its one-time
//!   activation code) and issues new codes, over the link, for the clerk's village.
//! - Texts that become public (an agenda item's title, notices, objections) and look like they
//!   hold an ID, mobile or bank-card number get a warning, not a refusal ([`public_text`]).
//!
//! ```
//! use bianmin_client_core::{NewRequest, Reference, Store, StoreConfig};
//! use bianmin_domain::{Action, Identity, Role, Status};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let clerk = Identity::new("clerk-1", Role::Clerk, "370883101201", "tablet-1").unwrap();
//! let mut store = Store::create(
//!     dir.path().join("tablet.db"),
//!     StoreConfig { identity: clerk, device_no: 7, reference: Reference::demo() },
//! ).unwrap();
//! let filed = store.file_request(NewRequest {
//!     item_code: "CIV-RESIDENCE-CERT".into(),
//!     applicant_name: "王秀英".into(),
//!     id_number: "11010519491231002X".into(),
//!     phone: "13812345678".into(),
//!     grid: "1组".into(),
//!     attributes: [("purpose".to_string(), bianmin_domain::AttrValue::Text("school".into()))].into(),
//!     materials_received: vec!["ID card".into()],
//!     resident_user: None,
//!     submit: true,
//! }).unwrap();
//! assert_eq!(filed.receipt_no.as_str(), "370883101201-007-000001");
//! let accepted = store.apply(filed.id, Action::Accept).unwrap();
//! assert_eq!(accepted.status, Status::Accepted);
//! ```

pub mod client;
mod error;
pub mod model;
mod projection;
pub mod public_text;
pub mod residents;
mod schema;
mod store;
pub mod transfer;
pub mod watch;

pub use bianmin_document::{Authoring, DocKind};
/// The sync protocol's messages ([`bianmin_protocol`]).
pub use bianmin_protocol as protocol;
pub use error::{Error, Result};
pub use model::*;
pub use public_text::PublicTextWarning;
pub use schema::VERSION as SCHEMA_VERSION;
pub use store::sync::{Applied, RefusedEdit};
pub use store::{ClockFn, Reference, Store, StoreConfig};
