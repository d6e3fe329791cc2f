//! The typed inputs and outputs of the store's API. No Automerge type appears here; the views
//! shared with the hub (pages, list rows, list queries) come from `bianmin_document::model`.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use bianmin_document::model::*;

/// The local changes of one document that the server has not acknowledged yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingDoc {
    /// The document.
    pub doc_id: Uuid,
    /// `request` or `agenda`.
    pub kind: String,
    /// Encoded Automerge changes made on this device, in causal order.
    pub changes: Vec<Vec<u8>>,
    /// The document's heads (32-byte change hashes) once these changes are applied.
    pub heads: Vec<[u8; 32]>,
}

/// Where an attachment's bytes stand on this tablet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum TransferState {
    /// Here, and the hub has the first `uploaded` bytes (fewer than all).
    Uploading {
        /// Bytes the hub acknowledged.
        uploaded: u64,
    },
    /// Here and at the hub.
    Complete,
    /// Being downloaded: `have` bytes so far.
    Downloading {
        /// Bytes received.
        have: u64,
    },
    /// Not here yet (attached on another device).
    Missing,
}

/// An attachment of a request with where its bytes stand (as JSON: the reference's fields and
/// `state`, side by side).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttachmentView {
    /// The reference the request's document holds.
    #[serde(flatten)]
    pub reference: bianmin_domain::AttachmentRef,
    /// Where its bytes stand.
    #[serde(flatten)]
    pub state: TransferState,
}
