//! The sync protocol's messages, shared by the tablet and the hub (see `docs/sync-protocol.md`).
//!
//! JSON over HTTP. Change bytes travel base64-encoded, heads as hex. Every message carries the
//! protocol version; a peer speaking another version gets `unsupported_protocol`.

use bianmin_domain::{Catalog, Directory, Identity, YearCalendar};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

/// The protocol version this code speaks.
pub const PROTOCOL_VERSION: u32 = 1;

/// Bytes carried as base64 text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct B64(pub Vec<u8>);

impl Serialize for B64 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use base64::Engine;
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for B64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use base64::Engine;
        let s = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(s.as_bytes())
            .map(B64)
            .map_err(|_| serde::de::Error::custom("invalid base64"))
    }
}

/// A 32-byte change hash carried as hex.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Head(pub [u8; 32]);

impl Serialize for Head {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(self.0))
    }
}

impl<'de> Deserialize<'de> for Head {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let mut out = [0u8; 32];
        hex::decode_to_slice(s.as_bytes(), &mut out)
            .map_err(|_| serde::de::Error::custom("a head is 64 hex digits"))?;
        Ok(Head(out))
    }
}

/// `POST /api/v1/enrol`: a device presents a one-time code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrolRequest {
    /// The protocol version.
    pub protocol: u32,
    /// The one-time enrolment code an administrator issued.
    pub code: String,
    /// A name for the device (shown to administrators).
    pub device_name: String,
}

/// The reference data every device receives, read-only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReferenceData {
    /// Increases whenever an administrator loads new reference data.
    pub version: u64,
    /// The service-item list.
    pub catalog: Catalog,
    /// The village directory.
    pub directory: Directory,
    /// The working calendars, one per year.
    pub calendars: Vec<YearCalendar>,
}

/// The answer to an enrolment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnrolResponse {
    /// The protocol version.
    pub protocol: u32,
    /// The device's secret token (shown once; the hub keeps only its hash).
    pub token: String,
    /// The device's identifier.
    pub device_id: String,
    /// The device's number, unique in the county (part of receipt numbers).
    pub device_no: u32,
    /// The device's Automerge actor, hex.
    pub actor: String,
    /// Who uses the device.
    pub identity: Identity,
    /// The reference data to start with.
    pub reference: ReferenceData,
}

/// `POST /api/v1/sync`: one round.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncRequest {
    /// The protocol version.
    pub protocol: u32,
    /// Everything up to this position of the hub's change log has been received.
    pub cursor: u64,
    /// The version of the reference data the device holds.
    #[serde(default)]
    pub reference_version: u64,
    /// The device's unacknowledged changes, per document.
    #[serde(default)]
    pub push: Vec<PushDoc>,
    /// The most bytes of changes the device wants in this answer's pull page (`None`: the
    /// hub's own budget). A tablet on a link that keeps dropping asks for smaller pages; the
    /// hub never sends more than its own budget nor less than [`MIN_PULL_BUDGET`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_budget: Option<u64>,
}

/// The hub's pull page: the most bytes of changes one answer carries (a device may ask for
/// less, never more).
pub const MAX_PULL_BUDGET: u64 = 512 * 1024;

/// The smallest pull page a device may ask for (one change may still exceed it: a page holds
/// at least one).
pub const MIN_PULL_BUDGET: u64 = 16 * 1024;

/// The changes of one document a device pushes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushDoc {
    /// The document.
    pub doc: Uuid,
    /// Its changes, in causal order (empty when `saved` carries them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<B64>,
    /// Instead, the whole document in Automerge's saved (compressed) form: a new document's
    /// first push, alone in its round, when that is smaller than its change list. The hub takes
    /// its changes out and checks them as it checks `changes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saved: Option<B64>,
}

/// What the hub did with one pushed document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum PushResult {
    /// Stored (or already held): the hub now has the document at `heads`.
    Accepted {
        /// The document.
        doc: Uuid,
        /// The hub's heads after the push.
        heads: Vec<Head>,
        /// Pushed changes the hub already had.
        duplicates: usize,
    },
    /// Refused; nothing of it was stored.
    Refused {
        /// The document.
        doc: Uuid,
        /// A stable code, e.g. `forbidden`.
        code: String,
        /// What was wrong.
        reason: String,
        /// Pushed changes the hub already held: the device keeps those.
        #[serde(default)]
        held: Vec<Head>,
    },
}

/// The changes of one document the device may read and lacks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullDoc {
    /// The document.
    pub doc: Uuid,
    /// Its changes, in the hub's (causal) order.
    pub changes: Vec<B64>,
}

/// The answer to a round.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncResponse {
    /// The protocol version.
    pub protocol: u32,
    /// One result per pushed document, in order.
    pub results: Vec<PushResult>,
    /// Changes for the device, within the hub's byte budget.
    pub pull: Vec<PullDoc>,
    /// The position to send next time.
    pub cursor: u64,
    /// Whether more changes wait beyond this page.
    pub more: bool,
    /// Newer reference data, when the device's version is out of date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<ReferenceData>,
    /// The identity of the hub's change log, which cursors count in. It changes when the hub
    /// is restored from a backup: a device that read another log starts over (reads this one
    /// from the start and offers its changes again).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
}

/// The body of every error the hub returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// A stable machine code and a message for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// e.g. `unauthorized`, `device_revoked`, `unsupported_protocol`, `bad_request`.
    pub code: String,
    /// What went wrong and what to do.
    pub message: String,
}

/// `POST /api/v1/residents`: a clerk's tablet opens a resident's account over the clerk's own
/// village (see `docs/residents.md`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenResident {
    /// The resident's user name, typed on the phone to activate and sign in: 1 to 64 letters,
    /// digits, `-`, `_` or `.`, unique in the hub.
    pub name: String,
    /// The name shown for the resident (e.g. `王秀英`): 1 to 100 characters.
    pub display_name: String,
    /// The village (12 digits) the account is opened over: the clerk's own when left out (an
    /// administrator's device names one of its county).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub village: Option<String>,
}

/// A resident's account as the clerk's list shows it: no personal numbers, no password, no
/// code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResidentAccount {
    /// The user id: what a request names as its resident (`resident_user`).
    pub user_id: String,
    /// The user name the resident signs in with.
    pub name: String,
    /// The name shown for the resident.
    pub display_name: String,
    /// The resident's village.
    pub village: String,
    /// Whether the resident has chosen a password (activated the account).
    pub activated: bool,
    /// Whether an administrator deactivated the account (it cannot sign in; no code is issued
    /// for it until it is reactivated).
    pub deactivated: bool,
    /// Until when (milliseconds since the Unix epoch) the activation code issued last and not
    /// yet used works, if there is one (it may have expired).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_expires_at: Option<i64>,
}

/// The answer to `GET /api/v1/residents`: the resident accounts the device's user may manage,
/// by user name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResidentList {
    /// The accounts.
    pub residents: Vec<ResidentAccount>,
}

/// The answer to opening an account (`POST /api/v1/residents`) and to issuing a new code
/// (`POST /api/v1/residents/{name}/activation-code`): the one-time activation code, shown this
/// once (the hub keeps only its hash). Its `Debug` leaves the code out.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivationCodeIssued {
    /// The resident's user id (what a request names as its resident, `resident_user`).
    pub user_id: String,
    /// The user name the resident types on the phone with the code.
    pub name: String,
    /// The name shown for the resident.
    pub display_name: String,
    /// The resident's village.
    pub village: String,
    /// The code, `ABCDE-FGHJK`: printed or read out to the resident; case and dash do not
    /// matter when typed. It works once; a newer code replaces it.
    pub code: String,
    /// It works strictly before this time, milliseconds since the Unix epoch.
    pub expires_at: i64,
}

impl std::fmt::Debug for ActivationCodeIssued {
    // Never the code: it is a password until used.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActivationCodeIssued")
            .field("user_id", &self.user_id)
            .field("village", &self.village)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}
