//! Throttling console sign-in against guessing, bursts and lock-out abuse.
//!
//! Every attempt is *reserved* before its password is verified, and its keys are checked and
//! marked in the same atomic step, so parallel requests cannot all slip past a check made
//! before the first failure is counted. Failures count under three keys:
//!
//! - the user name together with the client (its address): [`ThrottleConfig::pair_failures`]
//!   failures make that client wait before it may try that name again;
//! - the client alone, across names ([`ThrottleConfig::client_failures`]), against spraying one
//!   password over many names;
//! - the name alone, across clients ([`ThrottleConfig::name_failures`], a much higher figure),
//!   the last resort against guessing from many addresses.
//!
//! A key over its figure waits a delay that doubles with each further failure, from
//! [`ThrottleConfig::first_delay`] up to [`ThrottleConfig::max_delay`]: there is no hard lock
//! that an attacker can hold forever, and an attacker on one address delays only themselves
//! for a name (the name's own figure needs many addresses). Failures are forgotten after
//! [`ThrottleConfig::quiet`] without one. At most one verification per name and
//! [`ThrottleConfig::client_in_flight`] per client run at once; a success forgives the name and
//! client pair only and never clears a wait set meanwhile by other attempts.
//!
//! # Shared by every hub process
//!
//! The counts are kept in the storage ([`Storage::update_counters`]), one row per key, so every
//! hub process on one database counts the same failures (two instances behind a load balancer
//! do not each allow the full budget) and a restart forgets nothing. The rules are this module's
//! alone: the storage keeps each key's state (JSON of its `Entry`) and runs a reservation or an
//! outcome as one atomic read-modify-write of the three rows. Keys are the SHA-256 of the name
//! and client, so the table holds no typed name (nor a password typed into the name field).
//! Times are wall-clock milliseconds since the Unix epoch, the one clock the processes share
//! (keep the hosts' clocks in step: a skew between them shifts waits by as much).
//!
//! An attempt in flight holds a *lease* on its keys until its outcome is recorded. An attempt
//! abandoned half-way (a dropped connection) counts as a failure, recorded from its `Drop`;
//! one whose process died before recording anything counts as a failure once its lease
//! ([`LEASE`]) runs out, so a crash neither leaks a verification slot nor forgives a guess.
//!
//! The rows are bounded by expiry instead of a count: each lives while its failures matter
//! (until [`ThrottleConfig::quiet`] after the last, or the end of its wait or lease), and the
//! storage deletes expired rows as it goes. There is no fixed number of keys past which new
//! names are refused any more.
//!
//! Every method here is blocking (it reads and writes the storage): call it from
//! `spawn_blocking`. A storage failure is returned, never taken for "not throttled": the caller
//! refuses the sign-in.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::storage::{CounterRow, Storage, StorageError};
use crate::web::public::limiter::{counter_key, now_ms};

/// The throttle's figures.
#[derive(Debug, Clone)]
pub struct ThrottleConfig {
    /// Failures of one name from one client before that pair waits.
    pub pair_failures: u32,
    /// Failures of one client, over all names, before the client waits.
    pub client_failures: u32,
    /// Failures of one name, over all clients, before the name waits.
    pub name_failures: u32,
    /// The first wait; each further failure doubles it.
    pub first_delay: Duration,
    /// The longest wait.
    pub max_delay: Duration,
    /// Failures are forgotten after this long without a new one.
    pub quiet: Duration,
    /// Verifications one client may have running at once.
    pub client_in_flight: u32,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        ThrottleConfig {
            pair_failures: 5,
            client_failures: 20,
            name_failures: 100,
            first_delay: Duration::from_secs(60),
            max_delay: Duration::from_secs(15 * 60),
            quiet: Duration::from_secs(15 * 60),
            client_in_flight: 2,
        }
    }
}

/// How long a reserved attempt holds its keys at most: far longer than a verification takes
/// (a few seconds in the hashing pool's queue, then one Argon2 hash). An attempt whose outcome
/// is not recorded by then (its process died) counts as a failure.
pub const LEASE: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Pair,
    Client,
    Name,
}

/// A key: what it counts and its row's key in the storage.
#[derive(Debug, Clone)]
struct Key {
    kind: Kind,
    row: String,
}

/// One key's state, as stored (JSON).
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Entry {
    /// Failures since the last quiet spell.
    #[serde(default)]
    failures: u32,
    /// The last failure's time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_failure: Option<i64>,
    /// The key waits until then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    wait_until: Option<i64>,
    /// Attempts in flight.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    leases: Vec<Lease>,
}

/// An attempt in flight: its id and when its lease ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Lease {
    id: u64,
    until: i64,
}

impl Entry {
    fn load(row: &Option<CounterRow>) -> Result<Entry, StorageError> {
        match row {
            None => Ok(Entry::default()),
            Some(row) => serde_json::from_slice(&row.state).map_err(|e| {
                StorageError::Backend(format!("a sign-in throttle row is unreadable: {e}"))
            }),
        }
    }

    /// The row to store: kept while its failures, wait or leases matter (see the module docs),
    /// `None` when nothing does.
    fn row(&self, quiet: i64) -> Result<Option<CounterRow>, StorageError> {
        let expires_at = [
            self.last_failure.map(|t| t.saturating_add(quiet)),
            self.wait_until,
        ]
        .into_iter()
        .chain(
            self.leases
                .iter()
                .map(|l| Some(l.until.saturating_add(quiet))),
        )
        .flatten()
        .max();
        let Some(expires_at) = expires_at else {
            return Ok(None);
        };
        let state = serde_json::to_vec(self)
            .map_err(|e| StorageError::Backend(format!("cannot encode a throttle row: {e}")))?;
        Ok(Some(CounterRow { state, expires_at }))
    }

    /// Removes the lease `id`; whether it was there.
    fn take_lease(&mut self, id: u64) -> bool {
        let before = self.leases.len();
        self.leases.retain(|l| l.id != id);
        self.leases.len() < before
    }
}

/// Why an attempt was not let through to verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Another sign-in for this name, or too many from this client, is being checked.
    Busy,
    /// Too many failures: try again after this long.
    Wait(Duration),
}

/// How a reserved attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Failed,
    Succeeded,
    NotTried,
}

/// The sign-in throttle: its figures and the storage its counts are kept in (see the module
/// docs). Cheap to clone; clones share the counts, as do throttles of other hub processes on
/// the same storage.
#[derive(Clone)]
pub struct Throttle {
    config: ThrottleConfig,
    storage: Arc<dyn Storage>,
}

impl std::fmt::Debug for Throttle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Throttle")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// A reserved attempt. It counts as a failure unless [`Attempt::succeeded`] or
/// [`Attempt::not_tried`] records otherwise: an attempt dropped half-way (e.g. by a dropped
/// connection) is counted from its `Drop`, on a blocking thread when dropped inside a tokio
/// runtime; one never recorded at all (its process died) once its lease ends.
#[derive(Debug)]
#[must_use = "an attempt counts as a failure unless it succeeded"]
pub struct Attempt {
    throttle: Throttle,
    keys: [Key; 3],
    lease: u64,
    recorded: bool,
}

impl Attempt {
    /// The password was right at `now`: the name and client pair's failures are forgiven.
    /// Blocking.
    pub fn succeeded(mut self, now: i64) -> Result<(), StorageError> {
        self.record(Outcome::Succeeded, now).map(drop)
    }

    /// The password was never checked (the hub was busy): the attempt does not count.
    /// Blocking.
    pub fn not_tried(mut self, now: i64) -> Result<(), StorageError> {
        self.record(Outcome::NotTried, now).map(drop)
    }

    /// The password was wrong at `now`: counts the failure. Returns how long this client must
    /// now wait before trying this name again (zero if it need not). Blocking.
    pub fn failed(mut self, now: i64) -> Result<Duration, StorageError> {
        self.record(Outcome::Failed, now)
    }

    fn record(&mut self, outcome: Outcome, now: i64) -> Result<Duration, StorageError> {
        // Once only, whether or not the storage takes it: if it does not, the lease ends and
        // counts the attempt as a failure.
        self.recorded = true;
        self.throttle.record(&self.keys, self.lease, outcome, now)
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        if self.recorded {
            return;
        }
        self.recorded = true;
        let (throttle, keys, lease) = (self.throttle.clone(), self.keys.clone(), self.lease);
        let count = move || {
            if let Err(e) = throttle.record(&keys, lease, Outcome::Failed, now_ms()) {
                tracing::warn!(
                    "an abandoned sign-in attempt could not be counted (it will be once its \
                     lease ends): {e}"
                );
            }
        };
        // The storage may not be used on a thread that drives async tasks (the PostgreSQL
        // client panics there).
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn_blocking(count)),
            Err(_) => count(),
        }
    }
}

/// The key a name is counted under: case and surrounding spaces ignored, at most 64
/// characters.
fn name_key(name: &str) -> String {
    name.trim()
        .chars()
        .take(64)
        .flat_map(char::to_lowercase)
        .collect()
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The time from `now` until `until`, if that is later.
fn until(now: i64, until: i64) -> Option<Duration> {
    (until > now).then(|| Duration::from_millis(u64::try_from(until - now).unwrap_or(0)))
}

impl Throttle {
    /// A throttle with these figures, keeping its counts in `storage`.
    pub fn new(config: ThrottleConfig, storage: Arc<dyn Storage>) -> Self {
        Throttle { config, storage }
    }

    /// Its figures.
    pub fn config(&self) -> &ThrottleConfig {
        &self.config
    }

    fn limit(&self, kind: Kind) -> u32 {
        match kind {
            Kind::Pair => self.config.pair_failures,
            Kind::Client => self.config.client_failures,
            Kind::Name => self.config.name_failures,
        }
    }

    fn keys(name: &str, client: &str) -> [Key; 3] {
        let name = name_key(name);
        [
            Key {
                kind: Kind::Pair,
                row: counter_key("signin:pair", &[&name, client]),
            },
            Key {
                kind: Kind::Client,
                row: counter_key("signin:client", &[client]),
            },
            Key {
                kind: Kind::Name,
                row: counter_key("signin:name", &[&name]),
            },
        ]
    }

    fn count_failure(&self, kind: Kind, e: &mut Entry, now: i64) {
        if e.last_failure
            .is_some_and(|t| now - t >= ms(self.config.quiet))
        {
            e.failures = 0;
        }
        e.failures = e.failures.saturating_add(1);
        e.last_failure = Some(e.last_failure.map_or(now, |t| t.max(now)));
        let limit = self.limit(kind).max(1);
        if e.failures >= limit {
            let doublings = (e.failures - limit).min(20);
            let delay = self
                .config
                .first_delay
                .saturating_mul(1 << doublings)
                .min(self.config.max_delay);
            // Never shorten a wait already set.
            let until = now.saturating_add(ms(delay));
            e.wait_until = Some(e.wait_until.map_or(until, |u| u.max(until)));
        }
    }

    /// Counts the leases that ended by `now` as failures, each at its end (their attempts'
    /// processes died before recording an outcome).
    fn settle(&self, kind: Kind, e: &mut Entry, now: i64) {
        let mut ended: Vec<i64> = e
            .leases
            .iter()
            .filter(|l| l.until <= now)
            .map(|l| l.until)
            .collect();
        if ended.is_empty() {
            return;
        }
        e.leases.retain(|l| l.until > now);
        ended.sort_unstable();
        for at in ended {
            self.count_failure(kind, e, at);
        }
    }

    /// Runs `change` on the entries of `keys` as one atomic step of the storage.
    fn update(
        &self,
        keys: &[Key; 3],
        now: i64,
        mut change: impl FnMut(&mut [Entry]),
    ) -> Result<(), StorageError> {
        let rows: Vec<&str> = keys.iter().map(|k| k.row.as_str()).collect();
        let quiet = ms(self.config.quiet);
        self.storage.update_counters(&rows, now, &mut |stored| {
            let mut entries = stored
                .iter()
                .map(Entry::load)
                .collect::<Result<Vec<_>, _>>()?;
            for (key, e) in keys.iter().zip(entries.iter_mut()) {
                self.settle(key.kind, e, now);
            }
            change(&mut entries);
            entries.iter().map(|e| e.row(quiet)).collect()
        })
    }

    /// Reserves an attempt by `client` to sign in as `name` at `now` (milliseconds since the
    /// Unix epoch), or says why not. Blocking; a storage failure is an error, never a
    /// reservation.
    pub fn reserve(
        &self,
        name: &str,
        client: &str,
        now: i64,
    ) -> Result<Result<Attempt, Refused>, StorageError> {
        let keys = Self::keys(name, client);
        let lease = Lease {
            id: rand::random(),
            until: now.saturating_add(ms(LEASE)),
        };
        let mut verdict = Err(Refused::Busy);
        self.update(&keys, now, |entries| {
            verdict = self.admit(&keys, entries, now);
            if verdict.is_ok() {
                for e in entries.iter_mut() {
                    e.leases.push(lease);
                }
            }
        })?;
        Ok(verdict.map(|()| Attempt {
            throttle: self.clone(),
            keys,
            lease: lease.id,
            recorded: false,
        }))
    }

    /// Whether an attempt on these entries may go ahead at `now`.
    fn admit(&self, keys: &[Key; 3], entries: &[Entry], now: i64) -> Result<(), Refused> {
        let wait = entries
            .iter()
            .filter_map(|e| until(now, e.wait_until?))
            .max();
        if let Some(wait) = wait {
            return Err(Refused::Wait(wait.max(Duration::from_secs(1))));
        }
        let busy = |kind: Kind, e: &Entry| {
            let in_flight = e.leases.len();
            match kind {
                Kind::Name => in_flight >= 1,
                Kind::Client => in_flight >= self.config.client_in_flight.max(1) as usize,
                Kind::Pair => false,
            }
        };
        if keys.iter().zip(entries).any(|(k, e)| busy(k.kind, e)) {
            return Err(Refused::Busy);
        }
        Ok(())
    }

    /// Records how the attempt holding `lease` ended; the wait its keys now have.
    fn record(
        &self,
        keys: &[Key; 3],
        lease: u64,
        outcome: Outcome,
        now: i64,
    ) -> Result<Duration, StorageError> {
        let mut wait = Duration::ZERO;
        self.update(keys, now, |entries| {
            for (key, e) in keys.iter().zip(entries.iter_mut()) {
                // A lease already gone ended and was counted as a failure: not counted twice.
                let held = e.take_lease(lease);
                match (outcome, key.kind) {
                    (Outcome::Failed, _) if held => self.count_failure(key.kind, e, now),
                    (Outcome::Succeeded, Kind::Pair) => {
                        e.failures = 0;
                        e.last_failure = None;
                    }
                    _ => {}
                }
            }
            wait = entries
                .iter()
                .filter_map(|e| until(now, e.wait_until?))
                .max()
                .unwrap_or_default();
        })?;
        Ok(wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::sqlite::SqliteStorage;

    const SECOND: i64 = 1_000;

    /// A throttle over a fresh SQLite storage (kept in its temporary directory).
    fn throttle() -> (Throttle, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let storage = Arc::new(SqliteStorage::open(dir.path()).unwrap());
        (Throttle::new(config(), storage), dir)
    }

    fn config() -> ThrottleConfig {
        ThrottleConfig {
            pair_failures: 3,
            client_failures: 5,
            name_failures: 8,
            first_delay: Duration::from_secs(10),
            max_delay: Duration::from_secs(40),
            quiet: Duration::from_secs(100),
            client_in_flight: 2,
        }
    }

    fn reserve(t: &Throttle, name: &str, client: &str, now: i64) -> Result<Attempt, Refused> {
        t.reserve(name, client, now).unwrap()
    }

    fn fail_at(t: &Throttle, name: &str, client: &str, now: i64) -> Duration {
        reserve(t, name, client, now).unwrap().failed(now).unwrap()
    }

    fn fail(t: &Throttle, name: &str, client: &str) -> Duration {
        fail_at(t, name, client, now_ms())
    }

    fn rows(dir: &tempfile::TempDir) -> i64 {
        let db = rusqlite::Connection::open(dir.path().join("bianmin.db")).unwrap();
        db.query_row("SELECT count(*) FROM counters", [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn one_verification_per_name_at_a_time_and_a_bounded_number_per_client() {
        let (t, _dir) = throttle();
        let now = now_ms();
        let first = reserve(&t, "Admin", "1.1.1.1", now).unwrap();
        assert_eq!(
            reserve(&t, " admin ", "2.2.2.2", now).unwrap_err(),
            Refused::Busy
        );
        let second = reserve(&t, "other", "1.1.1.1", now).unwrap();
        assert_eq!(
            reserve(&t, "third", "1.1.1.1", now).unwrap_err(),
            Refused::Busy
        );
        second.succeeded(now).unwrap();
        first.succeeded(now).unwrap();
        assert!(reserve(&t, "admin", "1.1.1.1", now).is_ok());
    }

    #[test]
    fn a_pair_waits_after_its_failures_and_the_wait_doubles_up_to_the_cap() {
        let (t, _dir) = throttle();
        assert_eq!(fail(&t, "admin", "a"), Duration::ZERO);
        assert_eq!(fail(&t, "admin", "a"), Duration::ZERO);
        let wait = fail(&t, "admin", "a");
        assert!(wait > Duration::from_secs(9) && wait <= Duration::from_secs(10));
        let refused = reserve(&t, "admin", "a", now_ms()).unwrap_err();
        assert!(matches!(refused, Refused::Wait(w) if w > Duration::from_secs(9)));
        // Another client is not held up by this one's failures.
        let now = now_ms();
        reserve(&t, "admin", "b", now)
            .unwrap()
            .succeeded(now)
            .unwrap();
        // Later failures of the pair, each once the wait is over, double the wait up to the
        // cap.
        let mut later = now_ms() + 11 * SECOND;
        assert_eq!(fail_at(&t, "admin", "a", later), Duration::from_secs(20));
        later += 21 * SECOND;
        assert_eq!(fail_at(&t, "admin", "a", later), Duration::from_secs(40));
        later += 41 * SECOND;
        assert_eq!(fail_at(&t, "admin", "a", later), Duration::from_secs(40));
    }

    #[test]
    fn a_success_forgives_the_pair_but_never_a_wait_set_by_others() {
        let (t, _dir) = throttle();
        for client in ["a", "b", "c", "d"] {
            fail(&t, "admin", client);
            fail(&t, "admin", client);
        }
        // 8 failures over four clients: the name itself waits, for everyone.
        assert!(matches!(
            reserve(&t, "admin", "e", now_ms()),
            Err(Refused::Wait(_))
        ));
        let (t, _dir) = throttle();
        fail(&t, "admin", "a");
        fail(&t, "admin", "a");
        let now = now_ms();
        reserve(&t, "admin", "a", now)
            .unwrap()
            .succeeded(now)
            .unwrap();
        // The pair starts again from zero: two more failures do not make it wait.
        assert_eq!(fail(&t, "admin", "a"), Duration::ZERO);
        assert_eq!(fail(&t, "admin", "a"), Duration::ZERO);
    }

    #[test]
    fn spraying_many_names_from_one_client_makes_the_client_wait() {
        let (t, _dir) = throttle();
        for i in 0..5 {
            fail(&t, &format!("user{i}"), "a");
        }
        assert!(matches!(
            reserve(&t, "user9", "a", now_ms()),
            Err(Refused::Wait(_))
        ));
        assert!(reserve(&t, "user9", "b", now_ms()).is_ok());
    }

    #[test]
    fn an_abandoned_attempt_counts_as_a_failure() {
        let (t, _dir) = throttle();
        for _ in 0..3 {
            drop(reserve(&t, "admin", "a", now_ms()).unwrap());
        }
        assert!(matches!(
            reserve(&t, "admin", "a", now_ms()),
            Err(Refused::Wait(_))
        ));
    }

    /// An attempt whose process died before it recorded an outcome holds the name only until
    /// its lease ends, and then counts as a failure.
    #[test]
    fn an_attempt_of_a_process_that_died_counts_once_its_lease_ends() {
        let (t, _dir) = throttle();
        let t0 = now_ms();
        let lease = ms(LEASE);
        for i in 0..3 {
            let at = t0 + i * (lease + SECOND);
            // Never recorded: the process "died".
            std::mem::forget(reserve(&t, "admin", "a", at).unwrap());
            assert_eq!(
                reserve(&t, "admin", "b", at + lease - 1).unwrap_err(),
                Refused::Busy,
                "the name is held while the lease lasts"
            );
        }
        // Three leases ended: three failures of the pair, which now waits.
        let after = t0 + 3 * (lease + SECOND);
        assert!(matches!(
            reserve(&t, "admin", "a", after),
            Err(Refused::Wait(_))
        ));
        // A late outcome of an ended lease is not counted again.
        let (t, _dir) = throttle();
        let attempt = reserve(&t, "admin", "a", t0).unwrap();
        let late = t0 + lease + SECOND;
        assert_eq!(attempt.failed(late).unwrap(), Duration::ZERO);
        assert_eq!(
            fail_at(&t, "admin", "a", late),
            Duration::ZERO,
            "two so far"
        );
        assert!(
            fail_at(&t, "admin", "a", late) > Duration::ZERO,
            "the third"
        );
    }

    /// Two throttles on one storage (two hub processes) count the same failures.
    #[test]
    fn throttles_on_one_storage_share_their_counts() {
        let (a, _dir) = throttle();
        let b = Throttle::new(config(), a.storage.clone());
        assert_eq!(fail(&a, "admin", "x"), Duration::ZERO);
        assert_eq!(fail(&b, "admin", "x"), Duration::ZERO);
        assert!(fail(&a, "admin", "x") > Duration::ZERO);
        assert!(matches!(
            reserve(&b, "admin", "x", now_ms()),
            Err(Refused::Wait(_))
        ));
        let held = reserve(&a, "other", "y", now_ms()).unwrap();
        assert_eq!(
            reserve(&b, "other", "z", now_ms()).unwrap_err(),
            Refused::Busy
        );
        held.not_tried(now_ms()).unwrap();
        assert!(reserve(&b, "other", "z", now_ms()).is_ok());
    }

    /// Rows live while they matter and are deleted once expired: the table is bounded by
    /// expiry, and holds no name as typed.
    #[test]
    fn rows_expire_and_hold_no_name() {
        let (t, dir) = throttle();
        let t0 = now_ms();
        fail_at(&t, "Secret Name", "a", t0);
        fail_at(&t, "two", "a", t0);
        // One client key, and a pair and a name key for each name.
        assert_eq!(rows(&dir), 5);
        let db = rusqlite::Connection::open(dir.path().join("bianmin.db")).unwrap();
        let stored: String = db
            .query_row(
                "SELECT group_concat(key || CAST(state AS TEXT)) FROM counters",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(!stored.to_lowercase().contains("secret"), "{stored}");
        // Once the failures are forgotten, any later call deletes the expired rows; a success
        // leaves none behind.
        let later = t0 + 101 * SECOND;
        reserve(&t, "three", "b", later)
            .unwrap()
            .succeeded(later)
            .unwrap();
        assert_eq!(rows(&dir), 0);
    }
}
