//! # Bianmin FFI: the tablet store for Android, iOS and Python
//!
//! A thin [UniFFI](https://mozilla.github.io/uniffi-rs/) facade over `bianmin-client-core`:
//! one object, [`TabletStore`], for an open store with every operation of client-core (filing
//! and working on requests, agenda items, attachments, lists, enrolment, sync, attachment
//! transfer, live notices, refused edits),
//! the records and enums those operations take and return ([`types`]), one error,
//! [`BianminError`], and four callback interfaces: [`DocumentsListener`] (which documents
//! changed, after a local write or a sync), [`SyncListener`] (sync progress),
//! [`TransferListener`] (attachment transfer progress) and [`HubListener`] (the hub has news).
//!
//! The facade holds no logic of its own: it converts types and errors and locks the store.
//! The store sits behind a mutex inside the object, so the bindings may call it from any
//! thread; a sync locks it only for its database steps (`client::sync` takes the mutex).
//!
//! Bindings are generated from the built library by the `uniffi-bindgen` binary of
//! `ffi/bindgen`; `docs/mobile.md` has the commands for Kotlin, Swift and Python, and
//! `ffi/tests/run-python.sh` runs the Python end-to-end test against a real hub.
//!
//! ```
//! use bianmin_client_core::{Reference, Store, StoreConfig};
//! use bianmin_domain::{Identity, Role};
//! use bianmin_ffi::{BianminError, NewRequest, TabletStore};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let clerk = Identity::new("clerk-1", Role::Clerk, "370883101201", "tablet-1").unwrap();
//! let config = StoreConfig { identity: clerk, device_no: 7, reference: Reference::demo() };
//! let store = TabletStore::from_store(Store::create(dir.path().join("t.db"), config).unwrap());
//! let bad = store.file_request(NewRequest {
//!     item_code: "CIV-RESIDENCE-CERT".into(),
//!     applicant_name: "王秀英".into(),
//!     id_number: "110105194912310021".into(), // wrong check digit
//!     phone: "13812345678".into(),
//!     grid: "1组".into(),
//!     attributes: Default::default(),
//!     materials_received: vec![],
//!     resident_user: None,
//!     submit: true,
//! });
//! let Err(BianminError::Invalid { field_name, rule }) = bad else { panic!() };
//! assert_eq!(field_name, "applicant.id_number");
//! assert!(rule.contains("check digit"));
//! ```

mod error;
mod store;
pub mod types;

pub use error::BianminError;
pub use store::{DocumentsListener, HubListener, SyncListener, TabletStore, TransferListener};
pub use types::*;

uniffi::setup_scaffolding!();
