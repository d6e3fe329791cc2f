//! Throttling console sign-in against guessing, bursts and lock-out abuse.
//!
//! Every attempt is *reserved* before its password is verified, and its keys are checked and
//! marked in the same critical section, so parallel requests cannot all slip past a check
//! made before the first failure is counted. Failures count under three keys:
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
//! The state is in memory (a restart forgets it) and bounded: with
//! [`ThrottleConfig::max_keys`] keys tracked and none expired, new keys are refused (fail
//! closed) until some expire.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

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
    /// The most keys tracked at once.
    pub max_keys: usize,
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
            max_keys: 100_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Pair(String, String),
    Client(String),
    Name(String),
}

#[derive(Debug, Default)]
struct Entry {
    failures: u32,
    last_failure: Option<Instant>,
    wait_until: Option<Instant>,
    in_flight: u32,
}

impl Entry {
    /// Whether the entry still matters at `now` (else it may be dropped).
    fn live(&self, now: Instant, quiet: Duration) -> bool {
        self.in_flight > 0
            || self.wait_until.is_some_and(|u| now < u)
            || self.last_failure.is_some_and(|t| now - t < quiet)
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

/// The sign-in throttle (one per hub process).
#[derive(Debug, Default)]
pub struct Throttle {
    config: ThrottleConfig,
    entries: Mutex<HashMap<Key, Entry>>,
}

/// A reserved attempt. It counts as a failure unless [`Attempt::succeeded`] is called (an
/// attempt abandoned half-way, e.g. by a dropped connection, counts too).
#[derive(Debug)]
#[must_use = "an attempt counts as a failure unless it succeeded"]
pub struct Attempt<'a> {
    throttle: &'a Throttle,
    keys: [Key; 3],
    outcome: Outcome,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Failed,
    Succeeded,
    NotTried,
}

impl Attempt<'_> {
    /// The password was right: the name and client pair's failures are forgiven.
    pub fn succeeded(mut self) {
        self.outcome = Outcome::Succeeded;
    }

    /// The password was never checked (the hub was busy): the attempt does not count.
    pub fn not_tried(mut self) {
        self.outcome = Outcome::NotTried;
    }

    /// The password was wrong: counted when the attempt is dropped. Returns how long this
    /// client must now wait before trying this name again (zero if it need not).
    pub fn failed(self) -> Duration {
        let (throttle, keys) = (self.throttle, self.keys.clone());
        drop(self);
        let now = Instant::now();
        let entries = throttle.lock();
        keys.iter()
            .filter_map(|k| entries.get(k)?.wait_until)
            .map(|u| u.saturating_duration_since(now))
            .max()
            .unwrap_or_default()
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        let now = Instant::now();
        let mut entries = self.throttle.lock();
        for key in &self.keys {
            let Some(e) = entries.get_mut(key) else {
                continue;
            };
            e.in_flight = e.in_flight.saturating_sub(1);
            match (self.outcome, key) {
                (Outcome::Failed, _) => self.throttle.count_failure(key, e, now),
                (Outcome::Succeeded, Key::Pair(..)) => {
                    e.failures = 0;
                    e.last_failure = None;
                }
                _ => {}
            }
        }
    }
}

fn lock_ignoring_poison<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Each update leaves the map consistent, so a panic elsewhere does not spoil it.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The key a name is counted under: case and surrounding spaces ignored, at most 64
/// characters (no one can make the map hold huge keys).
fn name_key(name: &str) -> String {
    name.trim()
        .chars()
        .take(64)
        .flat_map(char::to_lowercase)
        .collect()
}

impl Throttle {
    /// A throttle with these figures.
    pub fn new(config: ThrottleConfig) -> Self {
        Throttle {
            config,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// Its figures.
    pub fn config(&self) -> &ThrottleConfig {
        &self.config
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Key, Entry>> {
        lock_ignoring_poison(&self.entries)
    }

    fn limit(&self, key: &Key) -> u32 {
        match key {
            Key::Pair(..) => self.config.pair_failures,
            Key::Client(_) => self.config.client_failures,
            Key::Name(_) => self.config.name_failures,
        }
    }

    fn count_failure(&self, key: &Key, e: &mut Entry, now: Instant) {
        if e.last_failure.is_some_and(|t| now - t >= self.config.quiet) {
            e.failures = 0;
        }
        e.failures = e.failures.saturating_add(1);
        e.last_failure = Some(now);
        let limit = self.limit(key).max(1);
        if e.failures >= limit {
            let doublings = (e.failures - limit).min(20);
            let delay = self
                .config
                .first_delay
                .saturating_mul(1 << doublings)
                .min(self.config.max_delay);
            // Never shorten a wait already set.
            let until = now + delay;
            e.wait_until = Some(e.wait_until.map_or(until, |u| u.max(until)));
        }
    }

    /// Reserves an attempt by `client` to sign in as `name` at `now`, or says why not.
    pub fn reserve(&self, name: &str, client: &str, now: Instant) -> Result<Attempt<'_>, Refused> {
        let name = name_key(name);
        let keys = [
            Key::Pair(name.clone(), client.to_string()),
            Key::Client(client.to_string()),
            Key::Name(name),
        ];
        let mut entries = self.lock();
        let wait = keys
            .iter()
            .filter_map(|k| entries.get(k)?.wait_until)
            .filter(|u| now < *u)
            .map(|u| u - now)
            .max();
        if let Some(wait) = wait {
            return Err(Refused::Wait(wait.max(Duration::from_secs(1))));
        }
        let busy = |k: &Key, e: &Entry| match k {
            Key::Name(_) => e.in_flight >= 1,
            Key::Client(_) => e.in_flight >= self.config.client_in_flight.max(1),
            Key::Pair(..) => false,
        };
        if keys
            .iter()
            .any(|k| entries.get(k).is_some_and(|e| busy(k, e)))
        {
            return Err(Refused::Busy);
        }
        self.make_room(&mut entries, &keys, now)?;
        for key in &keys {
            entries.entry(key.clone()).or_default().in_flight += 1;
        }
        Ok(Attempt {
            throttle: self,
            keys,
            outcome: Outcome::Failed,
        })
    }

    fn make_room(
        &self,
        entries: &mut HashMap<Key, Entry>,
        keys: &[Key],
        now: Instant,
    ) -> Result<(), Refused> {
        let new = keys.iter().filter(|k| !entries.contains_key(*k)).count();
        if entries.len() + new <= self.config.max_keys {
            return Ok(());
        }
        entries.retain(|_, e| e.live(now, self.config.quiet));
        if entries.len() + new <= self.config.max_keys {
            return Ok(());
        }
        tracing::warn!("console sign-in throttle full: refusing new names until entries expire");
        Err(Refused::Wait(self.config.first_delay))
    }

    /// How many keys are tracked.
    pub fn tracked(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle() -> Throttle {
        Throttle::new(ThrottleConfig {
            pair_failures: 3,
            client_failures: 5,
            name_failures: 8,
            first_delay: Duration::from_secs(10),
            max_delay: Duration::from_secs(40),
            quiet: Duration::from_secs(100),
            client_in_flight: 2,
            max_keys: 100,
        })
    }

    fn fail(t: &Throttle, name: &str, client: &str) -> Duration {
        t.reserve(name, client, Instant::now()).unwrap().failed()
    }

    #[test]
    fn one_verification_per_name_at_a_time_and_a_bounded_number_per_client() {
        let t = throttle();
        let now = Instant::now();
        let first = t.reserve("Admin", "1.1.1.1", now).unwrap();
        assert_eq!(
            t.reserve(" admin ", "2.2.2.2", now).unwrap_err(),
            Refused::Busy
        );
        let second = t.reserve("other", "1.1.1.1", now).unwrap();
        assert_eq!(
            t.reserve("third", "1.1.1.1", now).unwrap_err(),
            Refused::Busy
        );
        second.succeeded();
        first.succeeded();
        assert!(t.reserve("admin", "1.1.1.1", now).is_ok());
    }

    #[test]
    fn a_pair_waits_after_its_failures_and_the_wait_doubles_up_to_the_cap() {
        let t = throttle();
        assert_eq!(fail(&t, "admin", "a"), Duration::ZERO);
        assert_eq!(fail(&t, "admin", "a"), Duration::ZERO);
        let wait = fail(&t, "admin", "a");
        assert!(wait > Duration::from_secs(9) && wait <= Duration::from_secs(10));
        let refused = t.reserve("admin", "a", Instant::now()).unwrap_err();
        assert!(matches!(refused, Refused::Wait(w) if w > Duration::from_secs(9)));
        // Another client is not held up by this one's failures.
        t.reserve("admin", "b", Instant::now()).unwrap().succeeded();
        // Later failures of the pair double the wait, up to the cap.
        let later = Instant::now() + Duration::from_secs(11);
        let entries = &mut t.lock();
        let key = Key::Pair("admin".into(), "a".into());
        let e = entries.get_mut(&key).unwrap();
        t.count_failure(&key, e, later);
        assert_eq!(e.wait_until.unwrap() - later, Duration::from_secs(20));
        t.count_failure(&key, e, later);
        t.count_failure(&key, e, later);
        assert_eq!(e.wait_until.unwrap() - later, Duration::from_secs(40));
    }

    #[test]
    fn a_success_forgives_the_pair_but_never_a_wait_set_by_others() {
        let t = throttle();
        for client in ["a", "b", "c", "d"] {
            fail(&t, "admin", client);
            fail(&t, "admin", client);
        }
        // 8 failures over four clients: the name itself waits, for everyone.
        assert!(matches!(
            t.reserve("admin", "e", Instant::now()),
            Err(Refused::Wait(_))
        ));
        let t = throttle();
        fail(&t, "admin", "a");
        fail(&t, "admin", "a");
        t.reserve("admin", "a", Instant::now()).unwrap().succeeded();
        // The pair starts again from zero: two more failures do not make it wait.
        assert_eq!(fail(&t, "admin", "a"), Duration::ZERO);
        assert_eq!(fail(&t, "admin", "a"), Duration::ZERO);
    }

    #[test]
    fn spraying_many_names_from_one_client_makes_the_client_wait() {
        let t = throttle();
        for i in 0..5 {
            fail(&t, &format!("user{i}"), "a");
        }
        assert!(matches!(
            t.reserve("user9", "a", Instant::now()),
            Err(Refused::Wait(_))
        ));
        assert!(t.reserve("user9", "b", Instant::now()).is_ok());
    }

    #[test]
    fn an_abandoned_attempt_counts_as_a_failure() {
        let t = throttle();
        for _ in 0..3 {
            drop(t.reserve("admin", "a", Instant::now()).unwrap());
        }
        assert!(matches!(
            t.reserve("admin", "a", Instant::now()),
            Err(Refused::Wait(_))
        ));
    }

    #[test]
    fn the_map_is_bounded_and_fails_closed() {
        let t = Throttle::new(ThrottleConfig {
            max_keys: 7,
            ..ThrottleConfig::default()
        });
        // Two names from one client: 1 client key + 2 × (pair, name) = 5 keys.
        fail(&t, "one", "a");
        fail(&t, "two", "a");
        assert!(matches!(
            t.reserve("three", "b", Instant::now()),
            Err(Refused::Wait(_))
        ));
        assert!(t.tracked() <= 7);
    }
}
