//! The hub's storage, behind a trait the sync engine, the console and the public pages use
//! without knowing the backend. [`sqlite::SqliteStorage`] is the embedded backend;
//! [`postgres::PgStorage`] keeps the same data in a PostgreSQL schema that several hub
//! processes can share. Every backend must pass the shared suite in [`suite`].
//!
//! Methods are blocking: call them from `spawn_blocking` or a thread of one's own, never on a
//! thread that drives async tasks (the PostgreSQL client would panic there).
//! [`Storage::commit_all`] is one transaction: for each accepted push, the document's
//! new snapshot, its new changes appended to the change log with increasing sequence numbers,
//! and the audit record of who sent them and when the hub received them, together or not at
//! all. The engine groups the pushes of concurrent rounds into one such transaction. Sequence
//! numbers become visible in the order they were taken (SQLite has one writer; PostgreSQL
//! takes them under a lock held until commit), so a reader's cursor never skips a change.
//!
//! Every stored document has a version: 1 when it is first stored, one more with each commit
//! that stores it. Several hub processes sharing the storage each check pushes against copies
//! of their own, so the engine stores through [`Storage::commit_checked`], which says which
//! version each push was checked against: a document whose stored version moved on meanwhile
//! (another process stored it first) is not overwritten, and the whole transaction fails with
//! [`StorageError::Conflict`] (optimistic concurrency). [`Storage::document_version`] tells
//! whether a cached copy is still the stored one.

mod codes;
pub mod migrate;
pub mod postgres;
pub mod sqlite;
pub mod suite;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bianmin_document::DocIndex;
use bianmin_document::DocKind;
use bianmin_document::model::{AgendaRow, Listing, Page, RequestFilter, RequestRow, RequestSort};
use bianmin_domain::{
    Catalog, Directory, Rating, Role, Stage, Status, WorkingCalendar, YearCalendar,
};
use bianmin_protocol::ReferenceData;
use chrono::NaiveDate;
use uuid::Uuid;

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The enrolment code is unknown, already used or expired.
    #[error("the enrolment code is unknown, already used or expired")]
    CodeInvalid,
    /// A unique name is taken (e.g. a user name).
    #[error("{0} already exists")]
    Duplicate(String),
    /// Something named does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// A query's parameters are out of range (e.g. a page size).
    #[error("{0}")]
    Invalid(String),
    /// The database is from a newer version of the hub.
    #[error(
        "the hub's database was written by a newer version (schema {found}, this one knows {supported})"
    )]
    TooNew {
        /// Its schema version.
        found: i64,
        /// The newest this code knows.
        supported: i64,
    },
    /// A document was stored by someone else (another hub process) since the version a commit
    /// was checked against: nothing of the commit's transaction was stored. Check the push
    /// again against the stored document.
    #[error("document {doc} was changed by another hub process since it was read")]
    Conflict {
        /// The document.
        doc: Uuid,
    },
    /// The backend failed.
    #[error("storage backend: {0}")]
    Backend(String),
}

/// Shorthand.
pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// A console session as stored, so that a restart of the hub signs nobody out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// SHA-256 of the session id (the id itself is only in the user's cookie).
    pub key: String,
    /// The signed-in user.
    pub user_id: String,
    /// The token every form of the session carries.
    pub csrf: String,
    /// Sign-in time, milliseconds since the Unix epoch.
    pub created_at: i64,
    /// Last use as last recorded, milliseconds since the Unix epoch.
    pub seen_at: i64,
}

/// A console user was shown one of a request's masked values in full (a reveal): who, when,
/// which request, which field. Never the value itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevealRecord {
    /// The request.
    pub doc_id: Uuid,
    /// The console user.
    pub user_id: String,
    /// Which value: `applicant.id_number`, `attributes.bank_account`, `comments.<id>`, ...
    pub field: String,
    /// When, milliseconds since the Unix epoch (server time).
    pub at: i64,
}

/// What authenticating a device's request reads, in one lookup: the device holding the token,
/// its user, and whether that user's account is deactivated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenHolder {
    /// The device (revoked ones too: the caller refuses them with a clear error).
    pub device: DeviceRecord,
    /// Its user.
    pub user: UserRecord,
    /// When the user's account was deactivated, milliseconds since the Unix epoch, if it is.
    pub deactivated_at: Option<i64>,
}

/// A person who may use the hub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// Stable identifier (goes into every event the user makes).
    pub id: String,
    /// Sign-in name, unique.
    pub name: String,
    /// Name shown to others.
    pub display_name: String,
    /// Role.
    pub role: Role,
    /// The area code the role covers (village, township or county).
    pub area: String,
    /// Argon2id hash for console sign-in, if the user has a password.
    pub password_hash: Option<String>,
    /// Milliseconds since the epoch.
    pub created_at: i64,
}

/// What a user's account holds besides its [`UserRecord`]: whether it is deactivated, and the
/// one-time activation code waiting to be used (resident accounts, see
/// [`Storage::add_activation_code`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AccountStatus {
    /// When the account was deactivated, milliseconds since the Unix epoch, if it is: it
    /// cannot sign in (its devices are not affected).
    pub deactivated_at: Option<i64>,
    /// The activation code issued and not yet used, if any (it may have expired since).
    pub pending_code: Option<PendingCode>,
}

/// An activation code issued and not yet used: when, and until when it works.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PendingCode {
    /// When it was issued, milliseconds since the Unix epoch.
    pub issued_at: i64,
    /// It works strictly before this time, milliseconds since the Unix epoch.
    pub expires_at: i64,
}

/// A change to a user's console access, made by [`Storage::change_access`] only if an
/// administrator who can sign in remains afterwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessChange<'a> {
    /// Sets (`Some`, an Argon2id PHC string) or removes (`None`) the console password, as
    /// [`Storage::set_password`] does.
    Password(Option<&'a str>),
    /// Deactivates the user at this time (`Some`) or reactivates them (`None`), as
    /// [`Storage::set_deactivated`] does.
    Deactivated(Option<i64>),
}

impl AccessChange<'_> {
    /// Whether the change can take sign-in away: removing a password, deactivating.
    pub fn takes_away(&self) -> bool {
        matches!(
            self,
            AccessChange::Password(None) | AccessChange::Deactivated(Some(_))
        )
    }
}

/// What [`Storage::change_access`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessChanged {
    /// The change was made; `false` if it changed nothing (a deactivated user deactivated
    /// again, an active one reactivated). Setting or removing a password always counts.
    Done(bool),
    /// Nothing was changed: the user is the last administrator who can sign in (active, with
    /// a console password), and the change would leave the county with none.
    LastAdministrator,
}

/// An API key for filing requests through Open311 GeoReport v2 (`POST requests`, see
/// `docs/open311.md`), as stored: issued by an administrator to one application for one
/// township. The key itself is shown once when issued; only its SHA-256 is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Open311Key {
    /// Its number, given by the storage (1, 2, ...; never given again).
    pub id: u64,
    /// The township (9-digit area code) whose villages it may file requests in.
    pub township: String,
    /// The application's name, as the administrator gave it.
    pub name: String,
    /// When it was issued, milliseconds since the Unix epoch.
    pub created_at: i64,
    /// When it was revoked, if it was: it is then refused.
    pub revoked_at: Option<i64>,
}

/// An enrolled device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRecord {
    /// Stable identifier.
    pub id: String,
    /// Number unique in the hub (part of receipt numbers).
    pub device_no: u32,
    /// The user it was enrolled for.
    pub user_id: String,
    /// A name given at enrolment.
    pub name: String,
    /// Its Automerge actor, hex.
    pub actor: String,
    /// Milliseconds since the epoch.
    pub enrolled_at: i64,
    /// When it was revoked, if it was.
    pub revoked_at: Option<i64>,
}

/// What a device presents at enrolment, already hashed where secret.
#[derive(Debug, Clone)]
pub struct NewDevice {
    /// The device's chosen name.
    pub name: String,
    /// SHA-256 of its token, hex.
    pub token_hash: String,
    /// The actor assigned to it, hex.
    pub actor: String,
    /// Milliseconds since the epoch.
    pub now: i64,
}

/// A stored document with what its read scope is keyed on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocRecord {
    /// The saved Automerge document.
    pub bytes: Vec<u8>,
    /// Request or agenda item.
    pub kind: DocKind,
    /// Its village.
    pub village: String,
    /// Its version: 1 when first stored, one more with each commit that stored it since.
    pub version: u64,
}

/// Who may read what: the change log is filtered by this.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadScope {
    /// A resident's own requests.
    Resident {
        /// The resident user's id.
        user: String,
    },
    /// Everything of one village.
    Village(String),
    /// Everything of one township's villages.
    Township(String),
    /// Everything of one county.
    County(String),
}

/// One accepted push, to be stored in one transaction.
#[derive(Debug, Clone)]
pub struct Commit<'a> {
    /// The document.
    pub doc_id: Uuid,
    /// Request or agenda item.
    pub kind: DocKind,
    /// Its village (its township is the code's first 9 digits).
    pub village: &'a str,
    /// The resident it belongs to, for requests.
    pub resident_user: Option<&'a str>,
    /// The whole document after the push.
    pub snapshot: &'a [u8],
    /// The new changes, in causal order: hash and bytes.
    pub changes: &'a [([u8; 32], Vec<u8>)],
    /// The sending device.
    pub device_id: &'a str,
    /// The sending user.
    pub user_id: &'a str,
    /// When the hub received them, milliseconds since the epoch.
    pub received_at: i64,
    /// The document's index entry after the push (lists, dashboard, public pages).
    pub index: Option<&'a DocIndex>,
}

/// A [`Commit`] with the version of the stored document its push was checked against, for
/// [`Storage::commit_checked`].
#[derive(Debug, Clone)]
pub struct Checked<'a> {
    /// The push.
    pub commit: Commit<'a>,
    /// The document's version the push was checked against; 0 for a document the checker
    /// believed new (none stored). A later push to the same document in the same group builds
    /// on the earlier one: its base is the earlier one's plus one.
    pub base_version: u64,
}

/// The dashboard's counts of requests with one village, service item, status and rating.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestStat {
    /// The village.
    pub village: String,
    /// The service item.
    pub item_code: String,
    /// The status.
    pub status: Status,
    /// The satisfaction rating, if given.
    pub rating: Option<Rating>,
    /// How many requests.
    pub count: u64,
    /// Of those, how many were decided with the clock running (see
    /// [`bianmin_document::Decision`]).
    pub decided: u64,
    /// Of the decided, how many within the deadline.
    pub on_time: u64,
    /// The decided ones' working days from acceptance to decision, summed.
    pub working_days: u64,
}

/// The requests of one village whose clock runs past their deadline (see
/// [`Storage::overdue_by_village`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverdueVillage {
    /// The village.
    pub village: String,
    /// How many of its requests are overdue.
    pub count: u64,
    /// The earliest deadline among them: the most overdue one's.
    pub earliest_due: NaiveDate,
}

/// One entry of the change log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// Its position in the log.
    pub seq: u64,
    /// The document.
    pub doc_id: Uuid,
    /// The change's bytes.
    pub change: Vec<u8>,
}

/// A page of the change log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogPage {
    /// The entries, in log order.
    pub entries: Vec<LogEntry>,
    /// The position to continue from.
    pub cursor: u64,
    /// Whether entries remain beyond `cursor`.
    pub more: bool,
}

/// One change-log entry without its bytes: what a live notice is made of (see
/// [`Storage::log_tail`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogNotice {
    /// Its position in the log.
    pub seq: u64,
    /// The document.
    pub doc_id: Uuid,
    /// The document's village.
    pub village: String,
    /// Its resident, for requests.
    pub resident_user: Option<String>,
    /// The device that pushed the change.
    pub device_id: String,
}

/// A backend's pool of database connections at one moment (see [`Storage::connections`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connections {
    /// Open, lent out now.
    pub in_use: u32,
    /// Open, idle in the pool.
    pub idle: u32,
    /// The most the pool opens.
    pub max: u32,
}

/// The background maintenance held by this process (see [`Storage::lead_maintenance`]):
/// released when dropped.
pub trait Lead: Send {
    /// Whether this process still holds it: `false` once the hold is lost (e.g. with the
    /// database connection holding it), after which another process may take it.
    fn holds(&mut self) -> bool;
}

/// What [`Storage::watch_log`] calls when the change log may have grown.
pub type LogWake = Box<dyn Fn() + Send + 'static>;

/// A backend's watch of the change log (see [`Storage::watch_log`]): it lasts until this is
/// dropped.
#[derive(Debug)]
pub struct LogWatch {
    ended: Arc<AtomicBool>,
}

impl LogWatch {
    /// A watch that ends when `ended` is set, which dropping the watch does.
    pub fn new(ended: Arc<AtomicBool>) -> LogWatch {
        LogWatch { ended }
    }
}

impl Drop for LogWatch {
    fn drop(&mut self) {
        self.ended.store(true, Ordering::Release);
    }
}

/// A request document's reference to a blob (an attachment), with what read scopes are keyed
/// on and what the reference says of the bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobReference {
    /// The request.
    pub doc_id: Uuid,
    /// Its village.
    pub village: String,
    /// The registered resident it belongs to.
    pub resident_user: Option<String>,
    /// The blob's length, as the reference gives it.
    pub size: u64,
    /// Its media type (MIME name), as the reference gives it.
    pub media_type: String,
}

impl BlobReference {
    /// Whether `scope` may read the request holding the reference.
    pub fn readable_in(&self, scope: &ReadScope) -> bool {
        match scope {
            ReadScope::Resident { user } => self.resident_user.as_deref() == Some(user.as_str()),
            ReadScope::Village(v) => self.village == *v,
            ReadScope::Township(code) | ReadScope::County(code) => {
                self.village.starts_with(code.as_str())
            }
        }
    }
}

/// The audit record of one accepted change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Its position in the change log.
    pub seq: u64,
    /// The change hash, hex.
    pub hash: String,
    /// The device that sent it.
    pub device_id: String,
    /// The user of that device.
    pub user_id: String,
    /// When the hub received it, milliseconds since the epoch.
    pub received_at: i64,
}

/// One row of [`Storage::update_counters`]: a small piece of state that every hub process
/// sharing the storage reads and writes in turn (the sign-in throttle's and the look-up
/// limiter's counts), and when it may be forgotten.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CounterRow {
    /// The state, encoded by its owner: the storage never looks inside.
    pub state: Vec<u8>,
    /// When the row may be forgotten, milliseconds since the Unix epoch: from then on it reads
    /// as absent, and it is deleted.
    pub expires_at: i64,
}

/// What [`Storage::update_counters`] calls with the current rows of its keys (in the order of
/// the keys, `None` for a row absent or expired): the rows to store in their place (`None`
/// deletes), or an error that leaves them all as they were.
pub type CounterUpdate<'a> =
    dyn FnMut(&[Option<CounterRow>]) -> Result<Vec<Option<CounterRow>>> + 'a;

/// The longest key [`Storage::update_counters`] takes, in bytes.
pub const MAX_COUNTER_KEY: usize = 128;

/// The most expired counter rows of other keys one [`Storage::update_counters`] deletes:
/// enough to outpace the rows a call can add, few enough to keep every call short.
pub(crate) const COUNTER_PURGE_BATCH: i64 = 64;

/// Refuses counter keys that are empty, too long or repeated (both backends).
pub(crate) fn check_counter_keys(keys: &[&str]) -> Result<()> {
    for (i, key) in keys.iter().enumerate() {
        if key.is_empty() || key.len() > MAX_COUNTER_KEY {
            return Err(StorageError::Invalid(format!(
                "a counter key must be 1 to {MAX_COUNTER_KEY} bytes, not {}",
                key.len()
            )));
        }
        if keys[..i].contains(key) {
            return Err(StorageError::Invalid(
                "a counter key is given twice".to_string(),
            ));
        }
    }
    Ok(())
}

/// The hub's storage.
pub trait Storage: Send + Sync + 'static {
    /// Adds a user; [`StorageError::Duplicate`] if the name is taken.
    fn add_user(&self, user: &UserRecord) -> Result<()>;
    /// The user with this id.
    fn user(&self, id: &str) -> Result<Option<UserRecord>>;
    /// The user with this sign-in name.
    fn user_by_name(&self, name: &str) -> Result<Option<UserRecord>>;
    /// Every user, by name.
    fn users(&self) -> Result<Vec<UserRecord>>;
    /// Sets (or, with `None`, removes) a user's console password: an Argon2id PHC string, never
    /// the password itself. Ends the user's console sessions in the same transaction (whoever
    /// knew the old password is signed out). [`StorageError::NotFound`] if there is no such
    /// user.
    fn set_password(&self, user_id: &str, hash: Option<&str>) -> Result<()>;

    /// Stores a console session, or updates it (same key).
    fn save_session(&self, session: &SessionRecord) -> Result<()>;
    /// The stored console session with this key.
    fn session(&self, key: &str) -> Result<Option<SessionRecord>>;
    /// Forgets a console session (sign-out); nothing if there is none.
    fn delete_session(&self, key: &str) -> Result<()>;
    /// Forgets every console session of a user ("sign out everywhere"); returns how many.
    fn delete_user_sessions(&self, user_id: &str) -> Result<usize>;
    /// Forgets the sessions last seen before `seen_before` or created before `created_before`
    /// (both milliseconds since the Unix epoch); returns how many.
    fn expire_sessions(&self, seen_before: i64, created_before: i64) -> Result<usize>;

    /// Stores a one-time enrolment code (its hash) for a user, valid until `expires_at`.
    fn add_enrolment_code(&self, code_hash: &str, user_id: &str, expires_at: i64) -> Result<()>;
    /// Redeems a code exactly once and creates the device with the next device number.
    fn redeem_enrolment_code(
        &self,
        code_hash: &str,
        device: &NewDevice,
    ) -> Result<(DeviceRecord, UserRecord)>;
    /// The device holding this token (by hash), its user and whether the user's account is
    /// deactivated, in one read (every device request asks it); revoked devices are returned
    /// too (the caller refuses them with a clear error).
    fn token_holder(&self, token_hash: &str) -> Result<Option<TokenHolder>>;
    /// The device holding this token (by hash) and its user ([`Storage::token_holder`]).
    fn device_by_token(&self, token_hash: &str) -> Result<Option<(DeviceRecord, UserRecord)>> {
        Ok(self.token_holder(token_hash)?.map(|h| (h.device, h.user)))
    }
    /// Every device, by number.
    fn devices(&self) -> Result<Vec<DeviceRecord>>;
    /// Revokes a device; `false` if it was already revoked.
    fn revoke_device(&self, device_id: &str, at: i64) -> Result<bool>;

    /// Stores a one-time activation code (its hash) for a user's account, issued at
    /// `issued_at` and valid until `expires_at`. The user's earlier unused code, if any, is
    /// deleted in the same transaction: only the newest code works. [`StorageError::NotFound`]
    /// if there is no such user, [`StorageError::Duplicate`] if the hash is taken.
    fn add_activation_code(
        &self,
        code_hash: &str,
        user_id: &str,
        issued_at: i64,
        expires_at: i64,
    ) -> Result<()>;
    /// Activates the account named `user_name` with a code, in one transaction: if `code_hash`
    /// is that user's unused code, valid at `now`, and the account is not deactivated, the
    /// code is marked used and the user's password becomes `password_hash` (an Argon2id PHC
    /// string), which ends the user's sessions as [`Storage::set_password`] does. Returns the
    /// user as stored now. [`StorageError::CodeInvalid`] otherwise (an unknown name, another
    /// user's code, a code used, expired or replaced, a deactivated account), nothing changed.
    fn activate_account(
        &self,
        user_name: &str,
        code_hash: &str,
        password_hash: &str,
        now: i64,
    ) -> Result<UserRecord>;
    /// Deactivates a user at `at` (`Some`) or reactivates it (`None`); returns whether that
    /// changed anything (`false` if it already was so). Deactivating ends the user's sessions
    /// and deletes their unused activation code in the same transaction; their devices and
    /// password are kept (reactivating lets the same password sign in again).
    /// [`StorageError::NotFound`] if there is no such user.
    fn set_deactivated(&self, user_id: &str, at: Option<i64>) -> Result<bool>;
    /// The user's [`AccountStatus`]; [`StorageError::NotFound`] if there is no such user.
    fn account_status(&self, user_id: &str) -> Result<AccountStatus>;
    /// Makes `change` to a user's console access in one transaction, unless it takes sign-in
    /// away ([`AccessChange::takes_away`]) from an administrator who is active and holds a
    /// password while no other administrator does: then nothing changes and the answer is
    /// [`AccessChanged::LastAdministrator`]. Concurrent changes are serialised, so two
    /// administrators removing each other's passwords at once cannot both succeed.
    /// [`StorageError::NotFound`] if there is no such user.
    fn change_access(&self, user_id: &str, change: AccessChange<'_>) -> Result<AccessChanged>;
    /// Sets the name shown for a user (already checked by the caller).
    /// [`StorageError::NotFound`] if there is no such user.
    fn set_display_name(&self, user_id: &str, display_name: &str) -> Result<()>;

    /// Stores a new Open311 API key (the hex SHA-256 of the key, never the key) for an
    /// application named `name` in `township`, issued at `created_at`, and returns it with the
    /// number the storage gave it. [`StorageError::Duplicate`] if the hash is taken.
    fn add_open311_key(
        &self,
        key_hash: &str,
        township: &str,
        name: &str,
        created_at: i64,
    ) -> Result<Open311Key>;
    /// The Open311 key with this hash, revoked ones included (the caller refuses those).
    fn open311_key_by_hash(&self, key_hash: &str) -> Result<Option<Open311Key>>;
    /// The Open311 key with this number, revoked ones included.
    fn open311_key(&self, id: u64) -> Result<Option<Open311Key>>;
    /// Every Open311 key, revoked ones included, by number.
    fn open311_keys(&self) -> Result<Vec<Open311Key>>;
    /// Revokes an Open311 key at `at`; `false` if it was revoked already (the first revocation's
    /// time stays). [`StorageError::NotFound`] if there is no such key.
    fn revoke_open311_key(&self, id: u64, at: i64) -> Result<bool>;

    /// The reference data, if any has been loaded.
    fn reference(&self) -> Result<Option<ReferenceData>>;
    /// The identity of the change log (random, made with the database; a backup's copy gets a
    /// new one, so that devices notice a restored hub and start over).
    fn log_id(&self) -> Result<String>;
    /// Gives the change log a new identity and returns it: for a database restored from a
    /// dump or a copy made by hand, so that devices notice the restore, read the log from the
    /// start and hand back what the hub forgot. Every hub process on the database must be
    /// stopped first (a running one keeps the identity it read).
    fn renew_log_id(&self) -> Result<String>;
    /// Replaces the parts given (a calendar replaces its own year) and bumps the version.
    fn set_reference(
        &self,
        catalog: Option<&Catalog>,
        directory: Option<&Directory>,
        calendar: Option<&YearCalendar>,
    ) -> Result<u64>;

    /// A stored document.
    fn document(&self, id: Uuid) -> Result<Option<DocRecord>>;
    /// A stored document's version (see [`DocRecord::version`]), `None` if none is stored: one
    /// primary-key look-up, to tell whether a cached copy is still current.
    fn document_version(&self, id: Uuid) -> Result<Option<u64>>;
    /// Stores accepted pushes in one transaction, in order (see the module docs): all of them
    /// or none. Each document is stored only if its stored version is still the one its push
    /// was checked against ([`Checked::base_version`]; for 0, only if none is stored), and its
    /// version then grows by one per push; otherwise nothing of the group is stored and the
    /// answer is [`StorageError::Conflict`] naming the document. Returns, for each push, the
    /// change log's last sequence number once it was stored.
    fn commit_checked(&self, commits: &[Checked<'_>]) -> Result<Vec<u64>>;
    /// Stores pushes in one transaction like [`Storage::commit_checked`], without looking at
    /// the stored versions (tools, imports and tests that write alone); each stored document's
    /// version still grows by one per push.
    fn commit_all(&self, commits: &[Commit<'_>]) -> Result<Vec<u64>>;
    /// Stores one accepted push; returns the last sequence number used.
    fn commit(&self, commit: &Commit<'_>) -> Result<u64> {
        let seqs = self.commit_all(std::slice::from_ref(commit))?;
        seqs.first()
            .copied()
            .ok_or_else(|| StorageError::Backend("a commit returned no sequence number".into()))
    }
    /// Up to `byte_budget` bytes of change-log entries after `cursor` that `scope` may read
    /// (at least one entry if any remains), skipping those sent by `exclude_device`.
    fn changes_after(
        &self,
        scope: &ReadScope,
        cursor: u64,
        byte_budget: usize,
        exclude_device: Option<&str>,
    ) -> Result<LogPage>;
    /// The change-log entries after `after`, in log order, at most `limit` of them: for each,
    /// its document's scope and the device that pushed it, without the change's bytes. Numbers
    /// become visible in order (see the module docs), so reading on after the last entry
    /// returned never skips one, and every hub process sharing the storage reads the same
    /// entries: what live notices are made of.
    fn log_tail(&self, after: u64, limit: usize) -> Result<Vec<LogNotice>>;
    /// The change log's last number (0 while it is empty).
    fn log_head(&self) -> Result<u64>;
    /// Starts calling `wake` whenever another process may have added to the change log, until
    /// the returned [`LogWatch`] is dropped; `None` (the default) when the backend has no such
    /// signal. A hint only, and one that can be lost (while the backend reconnects, say): what
    /// was added is read with [`Storage::log_tail`], and the caller polls as well.
    fn watch_log(&self, wake: LogWake) -> Result<Option<LogWatch>> {
        drop(wake);
        Ok(None)
    }
    /// One page of the request index within `scope`, filtered and sorted as a tablet's list
    /// (`today` and `calendar` decide the urgency filters).
    fn requests(
        &self,
        scope: &ReadScope,
        filter: &RequestFilter,
        sort: RequestSort,
        page: Page,
        today: NaiveDate,
        calendar: &WorkingCalendar,
    ) -> Result<Listing<RequestRow>>;
    /// How many requests [`Storage::requests`] lists within `scope` with `filter`, over all its
    /// pages: one count over the same conditions, no row read.
    fn count_requests(
        &self,
        scope: &ReadScope,
        filter: &RequestFilter,
        today: NaiveDate,
        calendar: &WorkingCalendar,
    ) -> Result<u64>;
    /// The request ledger (台账): every request within `scope` that `filter` lists, in filing
    /// order (then by receipt number), at most `max` of them (`has_more` if there are more),
    /// read by one statement, so from one state of the index.
    fn request_ledger(
        &self,
        scope: &ReadScope,
        filter: &RequestFilter,
        today: NaiveDate,
        calendar: &WorkingCalendar,
        max: usize,
    ) -> Result<Listing<RequestRow>>;
    /// For each village within `scope` with requests whose clock runs past its deadline on
    /// `today` (the urgency filter "overdue"), how many and the earliest deadline, by village
    /// code.
    fn overdue_by_village(
        &self,
        scope: &ReadScope,
        today: NaiveDate,
    ) -> Result<Vec<OverdueVillage>>;
    /// The dashboard's counts within `scope`.
    fn request_stats(&self, scope: &ReadScope) -> Result<Vec<RequestStat>>;
    /// The agenda items within `scope` at one of `stages` (any stage if empty), most recently
    /// changed first.
    fn agenda_rows(&self, scope: &ReadScope, stages: &[Stage]) -> Result<Vec<AgendaRow>>;
    /// Rewrites index entries (after the calendar changed, or for documents stored before the
    /// index existed), each made from its document at the version given: written only if that
    /// is still the stored version (else the commit that moved it on wrote a newer entry, which
    /// stays). Returns how many were written.
    fn reindex(&self, entries: &[(Uuid, u64, DocIndex)]) -> Result<usize>;
    /// Tries to become the one process doing the hub's background maintenance (the index
    /// rewrites of `Engine::reindex`) among those sharing this storage: `None` while another
    /// holds it. Held until the [`Lead`] is dropped or lost.
    fn lead_maintenance(&self) -> Result<Option<Box<dyn Lead>>>;
    /// Up to `limit` document ids after `after`, in id order; if `unindexed`, only those
    /// without an index entry or with one written before the index held all it holds now (a
    /// request's entry without the applicant's name), which the maintenance writes again.
    fn document_ids(&self, after: Option<Uuid>, limit: usize, unindexed: bool)
    -> Result<Vec<Uuid>>;

    /// The request documents whose index entry refers to the blob `sha256` (written with the
    /// index, see [`Commit::index`]), in document id order.
    fn blob_references(&self, sha256: &str) -> Result<Vec<BlobReference>>;

    /// The request that has this receipt number, if any (from the index).
    fn request_by_receipt(&self, receipt_no: &str) -> Result<Option<Uuid>>;
    /// The highest receipt number claimed for a stored request (the `receipts` table, see
    /// [`Storage::commit_checked`]) that starts with `prefix`: the longest, then the greatest,
    /// since counters outgrow their padding. The hub's own series
    /// ([`bianmin_domain::HUB_SERIES_DEVICE`]) goes on from it.
    fn last_receipt(&self, prefix: &str) -> Result<Option<String>>;

    /// The audit trail of a document, in log order.
    fn audit(&self, doc_id: Uuid) -> Result<Vec<AuditEntry>>;
    /// The number of documents and of change-log entries.
    fn counts(&self) -> Result<(u64, u64)>;
    /// The backend's pool of database connections now, if it has one (for `/metrics`; no I/O).
    fn connections(&self) -> Option<Connections> {
        None
    }

    /// Records a reveal (see [`RevealRecord`]); the console writes it before it shows the value.
    fn record_reveal(&self, reveal: &RevealRecord) -> Result<()>;
    /// The reveals of a document, oldest first.
    fn reveals(&self, doc_id: Uuid) -> Result<Vec<RevealRecord>>;

    /// Reads and rewrites the counter rows of `keys` (distinct, each at most
    /// [`MAX_COUNTER_KEY`] bytes) as one atomic step: while `update` runs, no other call for any
    /// of these keys, in this process or another sharing the storage, reads or writes them.
    /// `update` gets the rows as they are at `now` (milliseconds since the Unix epoch; an expired
    /// row reads as absent) and returns one row (or `None`) per key to store instead; rows it
    /// returns unchanged are not written. `update` may be called again if the backend retries
    /// the transaction: only the last call's answer is stored. Expired rows, of these keys and
    /// some of others, are deleted on the way, so the rows kept are those still live.
    fn update_counters(
        &self,
        keys: &[&str],
        now: i64,
        update: &mut CounterUpdate<'_>,
    ) -> Result<()>;
}
