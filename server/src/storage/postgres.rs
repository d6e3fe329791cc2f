//! The PostgreSQL backend: the hub's tables in one schema of a PostgreSQL database, shared by
//! as many hub processes as run against it.
//!
//! - A pool of connections (`r2d2`, synchronous `postgres` clients, no TLS) serves every
//!   method; each write is one transaction, retried whole when PostgreSQL breaks a deadlock.
//! - The schema is a list of numbered migrations (`server/migrations/postgres/NNNN_*.sql`),
//!   recorded in `schema_migrations`. [`PgBuilder::connect`] applies the missing ones under a
//!   session advisory lock, each in its own transaction, so hubs starting at the same moment
//!   apply each exactly once; a schema written by a newer hub is refused
//!   ([`StorageError::TooNew`]) before anything is changed.
//! - The change log's sequence numbers are taken under a transaction advisory lock held until
//!   commit, so they become visible in the order they were taken: a reader never sees a number
//!   while a smaller one can still appear, and a cursor never skips a change (see
//!   `append_changes` in `log.rs`).
//! - A group commit that added to the change log sends one `NOTIFY bianmin_log` with the payload
//!   `<schema>:<the log's last number>`; [`Storage::watch_log`] `LISTEN`s for it on a connection
//!   of its own (on a thread of its own, connected again whenever it is lost), so that the hubs
//!   sharing a schema hear of each other's pushes at once. A hint only: they read the log itself
//!   ([`Storage::log_tail`]) and poll it as well (see `crate::notices`).
//! - Advisory lock keys are two `int4`s: a constant class per purpose and a hash of the schema
//!   name, so hubs (or tests) in different schemas of one database do not wait for each other.
//! - Server errors become [`StorageError::Backend`] with the server's message and SQLSTATE only:
//!   a server error's detail can quote a row's values.

mod access;
mod accounts;
mod counters;
mod index;
mod log;
mod open311_keys;
mod residents;
mod schema;
#[cfg(test)]
pub(crate) mod testdb;
#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use ::postgres::error::SqlState;
use ::postgres::types::Type;
use ::postgres::{Client, Config, NoTls, Transaction};
use bianmin_document::DocIndex;
use bianmin_document::model::{AgendaRow, Listing, Page, RequestFilter, RequestRow, RequestSort};
use bianmin_domain::{Catalog, Directory, Stage, WorkingCalendar, YearCalendar};
use bianmin_protocol::ReferenceData;
use chrono::NaiveDate;
use r2d2_postgres::PostgresConnectionManager;
use r2d2_postgres::r2d2::{Pool, PooledConnection};
use uuid::Uuid;

use super::{
    AccessChange, AccessChanged, AccountStatus, AuditEntry, BlobReference, Checked, Commit,
    Connections, DeviceRecord, DocRecord, Lead, LogNotice, LogPage, LogWake, LogWatch, NewDevice,
    Open311Key, ReadScope, RequestStat, Result, RevealRecord, SessionRecord, Storage, StorageError,
    TokenHolder, UserRecord,
};

/// Connections the pool opens at most, unless [`PgBuilder::pool_size`] says otherwise.
pub const DEFAULT_POOL_SIZE: u32 = 16;
/// How long opening a connection may take, unless the URL sets `connect_timeout`.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a method waits for a free pooled connection before failing.
const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(30);
/// How often a write transaction is tried when PostgreSQL aborts it to break a deadlock or a
/// serialization conflict. Group commits lock rows in one order and should never deadlock
/// each other; this is the net for whatever does.
const WRITE_ATTEMPTS: u32 = 3;

type Manager = PostgresConnectionManager<NoTls>;

/// The maintenance lead of one process (see [`PgStorage::lead_maintenance`]).
struct PgLead {
    conn: PooledConnection<Manager>,
}

impl Lead for PgLead {
    fn holds(&mut self) -> bool {
        self.conn.is_valid(Duration::from_secs(5)).is_ok()
    }
}

impl Drop for PgLead {
    fn drop(&mut self) {
        // The connection goes back to the pool: without its lock.
        if self
            .conn
            .execute("SELECT pg_advisory_unlock_all()", &[])
            .is_err()
        {
            tracing::debug!("the maintenance lock's connection is gone (and the lock with it)");
        }
    }
}

/// The hub's storage in a PostgreSQL schema.
pub struct PgStorage {
    /// `None` only while the storage is dropped (see its `Drop`).
    pool: Option<Pool<Manager>>,
    /// The schema holding the tables.
    schema: String,
    /// The second key of every advisory lock (see the module docs).
    lock_scope: i32,
    /// The connection settings (for the change-log listener's connection of its own).
    config: Config,
}

impl Drop for PgStorage {
    /// A `postgres` client closes its connection through a small runtime of its own, which
    /// panics on a thread that drives async tasks (a hub's storage is often dropped there, when
    /// the server's state goes at shutdown): inside a runtime, the pool and its idle
    /// connections are dropped on a thread of their own.
    fn drop(&mut self) {
        let Some(pool) = self.pool.take() else {
            return;
        };
        if tokio::runtime::Handle::try_current().is_ok() {
            let closing = std::thread::Builder::new().name("pg-pool-close".into());
            if let Err(e) = closing.spawn(move || drop(pool)) {
                tracing::warn!("cannot close the PostgreSQL connections cleanly: {e}");
            }
        }
    }
}

impl fmt::Debug for PgStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgStorage")
            .field("schema", &self.schema)
            .field("pool_size", &self.pool.as_ref().map(Pool::max_size))
            .finish_non_exhaustive()
    }
}

/// How to open a [`PgStorage`]: [`PgStorage::builder`], then [`PgBuilder::connect`].
#[derive(Clone)]
pub struct PgBuilder {
    url: String,
    schema: Option<String>,
    pool_size: u32,
}

impl fmt::Debug for PgBuilder {
    // Not the URL: it may hold a password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgBuilder")
            .field("schema", &self.schema)
            .field("pool_size", &self.pool_size)
            .finish_non_exhaustive()
    }
}

impl PgBuilder {
    /// Keeps the tables in this schema (created if missing), by setting `search_path` on every
    /// connection. Lower-case ASCII letters, digits and `_`, not starting with a digit. Without
    /// it, the tables go to the first existing schema of the server's search path (`public`).
    pub fn schema(mut self, name: &str) -> Self {
        self.schema = Some(name.to_string());
        self
    }

    /// Opens at most `n` connections (at least 1; [`DEFAULT_POOL_SIZE`] if not set).
    pub fn pool_size(mut self, n: u32) -> Self {
        self.pool_size = n;
        self
    }

    /// Connects, brings the schema up to date and returns the storage. A schema from a newer
    /// hub is refused untouched with [`StorageError::TooNew`].
    pub fn connect(self) -> Result<PgStorage> {
        if self.pool_size == 0 {
            return Err(StorageError::Invalid(
                "the pool size must be at least 1".into(),
            ));
        }
        let config = self.config()?;
        let (schema, lock_scope) = schema::migrate(&config, self.schema.as_deref())?;
        let pool = Pool::builder()
            .max_size(self.pool_size)
            // Connections are opened when needed, not all at start.
            .min_idle(Some(0))
            .connection_timeout(CHECKOUT_TIMEOUT)
            .build(Manager::new(config.clone(), NoTls))
            .map_err(|e| backend(format!("cannot set up the PostgreSQL pool: {e}")))?;
        Ok(PgStorage {
            pool: Some(pool),
            schema,
            lock_scope,
            config,
        })
    }

    /// The connection settings: the URL's, with the schema's search path and a connect timeout.
    fn config(&self) -> Result<Config> {
        let mut config: Config = self.url.parse().map_err(|e| {
            StorageError::Invalid(format!("the PostgreSQL URL is not valid: {}", describe(&e)))
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if let Some(name) = &self.schema {
            schema::check_name(name)?;
            let options = match config.get_options() {
                Some(given) if !given.trim().is_empty() => {
                    format!("{given} -c search_path={name}")
                }
                _ => format!("-c search_path={name}"),
            };
            config.options(&options);
        }
        Ok(config)
    }
}

impl PgStorage {
    /// Connects to the database at `url` (`postgres://user@host:port/db`, or key=value pairs)
    /// with a pool of [`DEFAULT_POOL_SIZE`] connections and brings the schema up to date.
    pub fn connect(url: &str) -> Result<PgStorage> {
        Self::builder(url).connect()
    }

    /// Settings to connect with: a schema, a pool size.
    pub fn builder(url: &str) -> PgBuilder {
        PgBuilder {
            url: url.to_string(),
            schema: None,
            pool_size: DEFAULT_POOL_SIZE,
        }
    }

    /// The schema holding the tables.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// The `application_name` of the connection on which the hubs of `schema` listen for the
    /// change log's notifications (see [`Storage::watch_log`]), as `pg_stat_activity` shows
    /// it: `bianmin-listen:<schema>`, cut to PostgreSQL's 63 bytes.
    pub fn listener_application_name(schema: &str) -> String {
        let mut name = format!("bianmin-listen:{schema}");
        // Schema names are ASCII (see `PgBuilder::schema`); cut on a boundary regardless.
        let mut cut = name.len().min(63);
        while !name.is_char_boundary(cut) {
            cut -= 1;
        }
        name.truncate(cut);
        name
    }

    /// How many hub processes serve this schema now: their listening connections (see
    /// [`PgStorage::listener_application_name`]) in `pg_stat_activity`.
    pub fn serving_hubs(&self) -> Result<u64> {
        let name = Self::listener_application_name(&self.schema);
        self.read(|c| {
            let row = c.query_typed_one(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
                &[(&name, Type::TEXT)],
            )?;
            to_u64(row.try_get::<_, i64>(0)?)
        })
    }

    /// The pool of connections (their search path on the schema), for the attachment store
    /// sharing it: [`crate::blobs::postgres::PgBlobStore::new`]. `None` only while dropped.
    pub(crate) fn pool(&self) -> Option<Pool<Manager>> {
        self.pool.clone()
    }

    fn conn(&self) -> Result<PooledConnection<Manager>> {
        self.pool
            .as_ref()
            .ok_or_else(|| backend("the storage is closing"))?
            .get()
            .map_err(|e| backend(format!("no PostgreSQL connection: {e}")))
    }

    /// Runs `f` on a pooled connection, outside any explicit transaction (each statement sees
    /// the data committed when it starts).
    fn read<T>(&self, f: impl FnOnce(&mut Client) -> Result<T, Failure>) -> Result<T> {
        let mut conn = self.conn()?;
        f(&mut conn).map_err(StorageError::from)
    }

    /// Runs `f` in one transaction: committed if `f` succeeds, rolled back otherwise; tried
    /// again from the start if PostgreSQL aborted it to break a deadlock.
    fn write<T>(&self, mut f: impl FnMut(&mut Transaction<'_>) -> Result<T, Failure>) -> Result<T> {
        let mut conn = self.conn()?;
        let mut attempt = 1;
        loop {
            match transact(&mut conn, &mut f) {
                Err(Failure::Pg(e)) if attempt < WRITE_ATTEMPTS && retryable(&e) => {
                    tracing::debug!(
                        attempt,
                        "a PostgreSQL transaction was aborted; trying again"
                    );
                    attempt += 1;
                }
                other => return other.map_err(StorageError::from),
            }
        }
    }

    /// Stores a group of pushes in one transaction (see `log::commit_all`).
    fn commit_group(&self, commits: &[(&Commit<'_>, Option<u64>)]) -> Result<Vec<u64>> {
        if commits.is_empty() {
            return Ok(Vec::new());
        }
        self.write(|tx| log::commit_all(tx, self.lock_scope, &self.schema, commits))
    }
}

fn transact<T>(
    client: &mut Client,
    f: &mut impl FnMut(&mut Transaction<'_>) -> Result<T, Failure>,
) -> Result<T, Failure> {
    let mut tx = client.transaction()?;
    let out = f(&mut tx)?;
    tx.commit()?;
    Ok(out)
}

pub(crate) fn retryable(e: &::postgres::Error) -> bool {
    matches!(
        e.code(),
        Some(c) if *c == SqlState::T_R_DEADLOCK_DETECTED || *c == SqlState::T_R_SERIALIZATION_FAILURE
    )
}

/// What work on a connection fails with: a storage error already decided, or the driver's
/// error, kept whole until the end so that a deadlock can be retried and a unique violation
/// named.
#[derive(Debug)]
enum Failure {
    Storage(StorageError),
    Pg(::postgres::Error),
}

impl From<::postgres::Error> for Failure {
    fn from(e: ::postgres::Error) -> Self {
        Failure::Pg(e)
    }
}

impl From<StorageError> for Failure {
    fn from(e: StorageError) -> Self {
        Failure::Storage(e)
    }
}

impl From<Failure> for StorageError {
    fn from(f: Failure) -> Self {
        match f {
            Failure::Storage(e) => e,
            Failure::Pg(e) => pg_error(&e),
        }
    }
}

/// A driver error as a [`StorageError::Backend`] (see [`describe`]).
fn pg_error(e: &::postgres::Error) -> StorageError {
    backend(format!("PostgreSQL: {}", describe(e)))
}

/// A driver error in words: for a server error, its message and SQLSTATE only, never its
/// detail (which can quote the values of a row); for others, the error and its causes.
pub(crate) fn describe(e: &::postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{} (SQLSTATE {})", db.message(), db.code().code());
    }
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// The name of the unique constraint `e` violates, if it is a unique violation.
fn unique_violation(e: &::postgres::Error) -> Option<&str> {
    let db = e.as_db_error()?;
    (*db.code() == SqlState::UNIQUE_VIOLATION).then(|| db.constraint().unwrap_or(""))
}

fn backend(what: impl fmt::Display) -> StorageError {
    StorageError::Backend(what.to_string())
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn to_u64(n: i64) -> Result<u64, Failure> {
    u64::try_from(n).map_err(|_| Failure::Storage(backend(format!("negative number {n} stored"))))
}

/// The first `digits` characters of a 12-digit village code.
fn area_prefix(village: &str, digits: usize) -> Result<&str, Failure> {
    if village.len() != 12 || !village.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Failure::Storage(backend(format!(
            "village code {village:?} is not 12 digits"
        ))));
    }
    Ok(&village[..digits])
}

fn to_json<T: serde::Serialize>(what: &str, value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| backend(format!("cannot encode the {what}: {e}")))
}

fn from_json<T: serde::de::DeserializeOwned>(what: &str, json: &str) -> Result<T, Failure> {
    serde_json::from_str(json)
        .map_err(|e| Failure::Storage(backend(format!("the stored {what} is unreadable: {e}"))))
}

impl Storage for PgStorage {
    fn add_user(&self, user: &UserRecord) -> Result<()> {
        self.write(|tx| accounts::add_user(tx, user))
    }

    fn user(&self, id: &str) -> Result<Option<UserRecord>> {
        self.read(|c| accounts::user_where(c, "id", id))
    }

    fn user_by_name(&self, name: &str) -> Result<Option<UserRecord>> {
        self.read(|c| accounts::user_where(c, "name", name))
    }

    fn users(&self) -> Result<Vec<UserRecord>> {
        self.read(accounts::users)
    }

    fn set_password(&self, user_id: &str, hash: Option<&str>) -> Result<()> {
        self.write(|tx| accounts::set_password(tx, user_id, hash))
    }

    fn save_session(&self, session: &SessionRecord) -> Result<()> {
        self.write(|tx| accounts::save_session(tx, session))
    }

    fn session(&self, key: &str) -> Result<Option<SessionRecord>> {
        self.read(|c| accounts::session(c, key))
    }

    fn delete_session(&self, key: &str) -> Result<()> {
        self.write(|tx| {
            tx.execute_typed(
                "DELETE FROM console_sessions WHERE key = $1",
                &[(&key, Type::TEXT)],
            )?;
            Ok(())
        })
    }

    fn delete_user_sessions(&self, user_id: &str) -> Result<usize> {
        self.write(|tx| accounts::delete_user_sessions(tx, user_id))
    }

    fn expire_sessions(&self, seen_before: i64, created_before: i64) -> Result<usize> {
        self.write(|tx| {
            let n = tx.execute_typed(
                "DELETE FROM console_sessions WHERE seen_at < $1 OR created_at < $2",
                &[(&seen_before, Type::INT8), (&created_before, Type::INT8)],
            )?;
            Ok(usize::try_from(n).unwrap_or(usize::MAX))
        })
    }

    fn add_enrolment_code(&self, code_hash: &str, user_id: &str, expires_at: i64) -> Result<()> {
        self.write(|tx| accounts::add_enrolment_code(tx, code_hash, user_id, expires_at))
    }

    fn redeem_enrolment_code(
        &self,
        code_hash: &str,
        device: &NewDevice,
    ) -> Result<(DeviceRecord, UserRecord)> {
        self.write(|tx| accounts::redeem_enrolment_code(tx, self.lock_scope, code_hash, device))
    }

    fn token_holder(&self, token_hash: &str) -> Result<Option<TokenHolder>> {
        self.read(|c| accounts::token_holder(c, token_hash))
    }

    fn devices(&self) -> Result<Vec<DeviceRecord>> {
        self.read(accounts::devices)
    }

    fn revoke_device(&self, device_id: &str, at: i64) -> Result<bool> {
        self.write(|tx| accounts::revoke_device(tx, device_id, at))
    }

    fn add_activation_code(
        &self,
        code_hash: &str,
        user_id: &str,
        issued_at: i64,
        expires_at: i64,
    ) -> Result<()> {
        self.write(|tx| {
            residents::add_activation_code(tx, code_hash, user_id, issued_at, expires_at)
        })
    }

    fn activate_account(
        &self,
        user_name: &str,
        code_hash: &str,
        password_hash: &str,
        now: i64,
    ) -> Result<UserRecord> {
        self.write(|tx| residents::activate_account(tx, user_name, code_hash, password_hash, now))
    }

    fn set_deactivated(&self, user_id: &str, at: Option<i64>) -> Result<bool> {
        self.write(|tx| residents::set_deactivated(tx, user_id, at))
    }

    fn account_status(&self, user_id: &str) -> Result<AccountStatus> {
        self.read(|c| residents::account_status(c, user_id))
    }

    fn change_access(&self, user_id: &str, change: AccessChange<'_>) -> Result<AccessChanged> {
        self.write(|tx| access::change_access(tx, user_id, change))
    }

    fn set_display_name(&self, user_id: &str, display_name: &str) -> Result<()> {
        self.write(|tx| access::set_display_name(tx, user_id, display_name))
    }

    fn add_open311_key(
        &self,
        key_hash: &str,
        township: &str,
        name: &str,
        created_at: i64,
    ) -> Result<Open311Key> {
        self.write(|tx| open311_keys::add(tx, key_hash, township, name, created_at))
    }

    fn open311_key_by_hash(&self, key_hash: &str) -> Result<Option<Open311Key>> {
        self.read(|c| open311_keys::by_hash(c, key_hash))
    }

    fn open311_key(&self, id: u64) -> Result<Option<Open311Key>> {
        self.read(|c| open311_keys::by_id(c, to_i64(id)))
    }

    fn open311_keys(&self) -> Result<Vec<Open311Key>> {
        self.read(open311_keys::all)
    }

    fn revoke_open311_key(&self, id: u64, at: i64) -> Result<bool> {
        self.write(|tx| open311_keys::revoke(tx, to_i64(id), at))
    }

    fn reference(&self) -> Result<Option<ReferenceData>> {
        self.read(accounts::reference)
    }

    fn log_id(&self) -> Result<String> {
        self.read(|c| {
            let row = c.query_typed_one("SELECT value FROM hub_meta WHERE key = 'log_id'", &[])?;
            Ok(row.try_get(0)?)
        })
    }

    fn renew_log_id(&self) -> Result<String> {
        self.read(|c| {
            let row = c.query_typed_one(
                "UPDATE hub_meta SET value = replace(gen_random_uuid()::text, '-', '')
                 WHERE key = 'log_id' RETURNING value",
                &[],
            )?;
            Ok(row.try_get(0)?)
        })
    }

    fn set_reference(
        &self,
        catalog: Option<&Catalog>,
        directory: Option<&Directory>,
        calendar: Option<&YearCalendar>,
    ) -> Result<u64> {
        let catalog = catalog.map(|c| to_json("catalog", c)).transpose()?;
        let directory = directory.map(|d| to_json("directory", d)).transpose()?;
        let calendar = calendar
            .map(|c| Ok::<_, StorageError>((c.year, to_json("calendar", c)?)))
            .transpose()?;
        let parts = accounts::ReferenceParts {
            catalog: catalog.as_deref(),
            directory: directory.as_deref(),
            calendar: calendar.as_ref().map(|(year, json)| (*year, json.as_str())),
        };
        self.write(|tx| accounts::set_reference(tx, &parts))
    }

    fn document(&self, id: Uuid) -> Result<Option<DocRecord>> {
        self.read(|c| log::document(c, id))
    }

    fn document_version(&self, id: Uuid) -> Result<Option<u64>> {
        self.read(|c| log::document_version(c, id))
    }

    fn commit_checked(&self, commits: &[Checked<'_>]) -> Result<Vec<u64>> {
        let commits: Vec<(&Commit<'_>, Option<u64>)> = commits
            .iter()
            .map(|c| (&c.commit, Some(c.base_version)))
            .collect();
        self.commit_group(&commits)
    }

    fn commit_all(&self, commits: &[Commit<'_>]) -> Result<Vec<u64>> {
        let commits: Vec<(&Commit<'_>, Option<u64>)> = commits.iter().map(|c| (c, None)).collect();
        self.commit_group(&commits)
    }

    fn log_tail(&self, after: u64, limit: usize) -> Result<Vec<LogNotice>> {
        self.read(|c| log::log_tail(c, after, limit))
    }

    fn log_head(&self) -> Result<u64> {
        self.read(log::log_head)
    }

    /// `LISTEN`s on a connection of its own, on a thread of its own (see `log::Listener`):
    /// every group commit of any hub on this schema notifies once.
    fn watch_log(&self, wake: LogWake) -> Result<Option<LogWatch>> {
        let ended = Arc::new(AtomicBool::new(false));
        let mut config = self.config.clone();
        config.application_name(&Self::listener_application_name(&self.schema));
        let listener = log::Listener {
            config,
            schema: self.schema.clone(),
            ended: ended.clone(),
            wake,
        };
        std::thread::Builder::new()
            .name("pg-log-listener".into())
            .spawn(move || listener.run())
            .map_err(|e| backend(format!("cannot start the change-log listener: {e}")))?;
        Ok(Some(LogWatch::new(ended)))
    }

    fn changes_after(
        &self,
        scope: &ReadScope,
        cursor: u64,
        byte_budget: usize,
        exclude_device: Option<&str>,
    ) -> Result<LogPage> {
        self.read(|c| log::changes_after(c, scope, cursor, byte_budget, exclude_device))
    }

    fn requests(
        &self,
        scope: &ReadScope,
        filter: &RequestFilter,
        sort: RequestSort,
        page: Page,
        today: NaiveDate,
        calendar: &WorkingCalendar,
    ) -> Result<Listing<RequestRow>> {
        let query = index::list_query(scope, filter, sort, page, today, calendar)?;
        self.read(|c| index::list_requests(c, &query, page))
    }

    fn count_requests(
        &self,
        scope: &ReadScope,
        filter: &RequestFilter,
        today: NaiveDate,
        calendar: &WorkingCalendar,
    ) -> Result<u64> {
        let query = index::conditions(scope, filter, today, calendar);
        self.read(|c| index::count_requests(c, &query))
    }

    fn request_ledger(
        &self,
        scope: &ReadScope,
        filter: &RequestFilter,
        today: NaiveDate,
        calendar: &WorkingCalendar,
        max: usize,
    ) -> Result<Listing<RequestRow>> {
        let query = index::conditions(scope, filter, today, calendar);
        self.read(|c| index::request_ledger(c, &query, max))
    }

    fn overdue_by_village(
        &self,
        scope: &ReadScope,
        today: NaiveDate,
    ) -> Result<Vec<super::OverdueVillage>> {
        self.read(|c| index::overdue_by_village(c, scope, today))
    }

    fn request_stats(&self, scope: &ReadScope) -> Result<Vec<RequestStat>> {
        self.read(|c| index::request_stats(c, scope))
    }

    fn agenda_rows(&self, scope: &ReadScope, stages: &[Stage]) -> Result<Vec<AgendaRow>> {
        self.read(|c| index::agenda_rows(c, scope, stages))
    }

    fn reindex(&self, entries: &[(Uuid, u64, DocIndex)]) -> Result<usize> {
        // In id order (stable), as `commit_all` writes them: concurrent writers lock document
        // and index rows in one order.
        let mut order: Vec<&(Uuid, u64, DocIndex)> = entries.iter().collect();
        order.sort_by_key(|(id, _, _)| *id);
        self.write(|tx| {
            let mut written = 0;
            for (id, version, entry) in &order {
                // Locked against a commit until this transaction ends: one that got there
                // first has moved the version on (and written its own entry).
                let stored = tx.query_typed(
                    "SELECT version FROM documents WHERE id = $1 FOR SHARE",
                    &[(id, Type::UUID)],
                )?;
                if stored.first().map(|r| r.get::<_, i64>(0)) == Some(to_i64(*version)) {
                    index::write_index(tx, *id, entry)?;
                    written += 1;
                }
            }
            Ok(written)
        })
    }

    /// A session advisory lock, held by a connection taken out of the pool for as long as
    /// this process leads: released when the lead is dropped, or by PostgreSQL when that
    /// connection is lost (then [`Lead::holds`] says so).
    fn connections(&self) -> Option<Connections> {
        let pool = self.pool.as_ref()?;
        let state = pool.state();
        Some(Connections {
            in_use: state.connections.saturating_sub(state.idle_connections),
            idle: state.idle_connections,
            max: pool.max_size(),
        })
    }

    fn lead_maintenance(&self) -> Result<Option<Box<dyn Lead>>> {
        let mut conn = self.conn()?;
        let scope = self.lock_scope;
        let held = conn
            .query_typed_one(
                "SELECT pg_try_advisory_lock($1, $2)",
                &[
                    (&schema::LOCK_MAINTENANCE, Type::INT4),
                    (&scope, Type::INT4),
                ],
            )
            .and_then(|row| row.try_get::<_, bool>(0))
            .map_err(|e| pg_error(&e))?;
        Ok(held.then(|| Box::new(PgLead { conn }) as Box<dyn Lead>))
    }

    fn document_ids(
        &self,
        after: Option<Uuid>,
        limit: usize,
        unindexed: bool,
    ) -> Result<Vec<Uuid>> {
        self.read(|c| index::document_ids(c, after, limit, unindexed))
    }

    fn blob_references(&self, sha256: &str) -> Result<Vec<BlobReference>> {
        self.read(|c| index::blob_references(c, sha256))
    }

    fn request_by_receipt(&self, receipt_no: &str) -> Result<Option<Uuid>> {
        self.read(|c| {
            let row = c.query_typed_opt(
                "SELECT id FROM request_index WHERE receipt_no = $1 ORDER BY filed_at, id LIMIT 1",
                &[(&receipt_no, Type::TEXT)],
            )?;
            Ok(row.map(|r| r.try_get(0)).transpose()?)
        })
    }

    fn last_receipt(&self, prefix: &str) -> Result<Option<String>> {
        // The column sorts bytewise ("C"), so the prefix's range is [prefix, prefix + U+10FFFF).
        self.read(|c| {
            let row = c.query_typed_opt(
                "SELECT receipt_no FROM receipts WHERE receipt_no >= $1 AND receipt_no < $2
                 ORDER BY length(receipt_no) DESC, receipt_no DESC LIMIT 1",
                &[
                    (&prefix, Type::TEXT),
                    (&format!("{prefix}\u{10FFFF}"), Type::TEXT),
                ],
            )?;
            Ok(row.map(|r| r.try_get(0)).transpose()?)
        })
    }

    fn audit(&self, doc_id: Uuid) -> Result<Vec<AuditEntry>> {
        self.read(|c| log::audit(c, doc_id))
    }

    fn counts(&self) -> Result<(u64, u64)> {
        self.read(|c| {
            let row = c.query_typed_one(
                "SELECT (SELECT count(*) FROM documents), (SELECT count(*) FROM change_log)",
                &[],
            )?;
            Ok((to_u64(row.try_get(0)?)?, to_u64(row.try_get(1)?)?))
        })
    }

    fn record_reveal(&self, reveal: &RevealRecord) -> Result<()> {
        self.write(|tx| accounts::record_reveal(tx, reveal))
    }

    fn reveals(&self, doc_id: Uuid) -> Result<Vec<RevealRecord>> {
        self.read(|c| accounts::reveals(c, doc_id))
    }

    fn update_counters(
        &self,
        keys: &[&str],
        now: i64,
        update: &mut super::CounterUpdate<'_>,
    ) -> Result<()> {
        super::check_counter_keys(keys)?;
        self.write(|tx| counters::update(tx, &self.schema, keys, now, update))?;
        // Housekeeping once the rows are committed: a failure here loses nothing.
        if let Err(e) = self.read(|c| counters::purge(c, now)) {
            tracing::warn!("cannot delete expired counter rows: {e}");
        }
        Ok(())
    }
}
