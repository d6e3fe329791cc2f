//! Slowing down guesses at the residents' status look-up.
//!
//! A look-up needs a receipt number and the last four characters of the applicant's ID number.
//! Those four characters are a small secret (about eleven thousand values), so the look-up must
//! not let anyone try them all; nor may a guesser use the limits to lock a resident out of
//! their own receipt. Every attempt counts against three budgets, client first:
//!
//! - the client (its IP address): [`LimiterConfig::max_failures`] failures within
//!   [`LimiterConfig::window`], over all receipts;
//! - the client at this receipt: [`LimiterConfig::pair_max_failures`] within
//!   [`LimiterConfig::long_window`], so one address can spend only a few guesses a day on one
//!   receipt, and cannot use up the receipt's own budget;
//! - the receipt, over all clients, the last resort against guessing from many addresses:
//!   [`LimiterConfig::long_max_failures`] within [`LimiterConfig::long_window`] (using it up
//!   takes many addresses; a guesser who has them still needs months per receipt).
//!
//! Over any budget, attempts are refused (429 with `Retry-After`) *before* the answer is looked
//! at, so a refused attempt tells nothing, right or wrong; each failure is answered after a
//! delay that grows with the client's recent failures.
//!
//! An attempt is counted *before* the look-up and forgiven if it succeeds ([`Ticket::succeeded`]),
//! so parallel requests cannot all slip through before the first failure is recorded.
//!
//! # Shared by every hub process
//!
//! The failure times are kept in the storage ([`Storage::update_counters`]), one row per key,
//! so every hub process on one database spends the same budgets (two instances behind a load
//! balancer do not each allow the full budget) and a restart forgets nothing. The rules are
//! this module's alone: the storage keeps each key's failure times (JSON, milliseconds since
//! the Unix epoch: the one clock the processes share, so keep the hosts' clocks in step) and
//! runs an attempt as one atomic read-modify-write of its three rows. Keys are the SHA-256 of
//! the client and receipt number.
//!
//! The rows are bounded by expiry instead of a count: a row lives until its newest failure
//! leaves its window, and the storage deletes expired rows as it goes. There is no fixed number
//! of keys past which new clients are refused any more.
//!
//! [`Limiter::attempt`] and [`Ticket::succeeded`] are blocking (they read and write the
//! storage): call them from `spawn_blocking`. A storage failure is returned, never taken for
//! "under budget": the caller refuses the look-up.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use sha2::{Digest, Sha256};

use crate::storage::{CounterRow, Storage, StorageError};

/// The limits.
#[derive(Debug, Clone)]
pub struct LimiterConfig {
    /// The short window.
    pub window: Duration,
    /// Failures allowed per client within [`Self::window`].
    pub max_failures: usize,
    /// The long window (a client at a receipt, and a receipt).
    pub long_window: Duration,
    /// Failures allowed per client at one receipt within [`Self::long_window`].
    pub pair_max_failures: usize,
    /// Failures allowed per receipt, over all clients, within [`Self::long_window`].
    pub long_max_failures: usize,
    /// The delay added per recent failure of the client.
    pub delay_step: Duration,
    /// The longest delay.
    pub max_delay: Duration,
}

impl Default for LimiterConfig {
    fn default() -> Self {
        LimiterConfig {
            window: Duration::from_secs(15 * 60),
            max_failures: 5,
            long_window: Duration::from_secs(24 * 3600),
            pair_max_failures: 5,
            long_max_failures: 50,
            delay_step: Duration::from_millis(200),
            max_delay: Duration::from_secs(2),
        }
    }
}

/// The wall clock in milliseconds since the Unix epoch: the time the limiters of every hub
/// process count in (an `Instant` means nothing to another process).
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The storage key of a counter: `prefix`, then the SHA-256 of `parts` (each ended by a NUL),
/// so that keys have one short length and hold nothing typed by a client.
pub(crate) fn counter_key(prefix: &str, parts: &[&str]) -> String {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    format!("{prefix}:{}", hex::encode(hash.finalize()))
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Client,
    Pair,
    Receipt,
}

/// A key: what it counts and its row's key in the storage.
#[derive(Debug, Clone)]
struct Key {
    kind: Kind,
    row: String,
}

/// The look-up limiter: its limits and the storage its counts are kept in (see the module
/// docs). Cheap to clone; clones share the counts, as do limiters of other hub processes on
/// the same storage.
#[derive(Clone)]
pub struct Limiter {
    config: LimiterConfig,
    storage: Arc<dyn Storage>,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// An attempt that was let through; it counts as a failure unless [`Ticket::succeeded`] is
/// called (it was counted when it was let through, so dropping it records nothing).
#[derive(Debug)]
#[must_use = "a ticket tells how long to delay a failure, or forgives a success"]
pub struct Ticket {
    limiter: Limiter,
    keys: [Key; 3],
    at: i64,
    delay: Duration,
}

impl Ticket {
    /// How long to wait before answering that the look-up failed.
    pub fn failure_delay(&self) -> Duration {
        self.delay
    }

    /// The look-up succeeded (and this is `now`): the attempt no longer counts. Blocking.
    pub fn succeeded(self, now: i64) -> Result<(), StorageError> {
        let at = self.at;
        self.limiter.update(&self.keys, now, |all| {
            for times in all.iter_mut() {
                if let Some(pos) = times.iter().rposition(|t| *t == at) {
                    times.remove(pos);
                }
            }
        })
    }
}

impl Limiter {
    /// A limiter with these limits, keeping its counts in `storage`.
    pub fn new(config: LimiterConfig, storage: Arc<dyn Storage>) -> Self {
        Limiter { config, storage }
    }

    /// The limits.
    pub fn config(&self) -> &LimiterConfig {
        &self.config
    }

    /// The key's budget: failures allowed within a window.
    fn budget(&self, kind: Kind) -> (i64, usize) {
        let c = &self.config;
        match kind {
            Kind::Client => (ms(c.window), c.max_failures),
            Kind::Pair => (ms(c.long_window), c.pair_max_failures),
            Kind::Receipt => (ms(c.long_window), c.long_max_failures),
        }
    }

    /// How long a key with failures at `times` (oldest first, none older than its window)
    /// must wait, if it is over its budget at `now`.
    fn wait(&self, kind: Kind, times: &[i64], now: i64) -> Option<i64> {
        let (window, max) = self.budget(kind);
        let max = max.max(1);
        // Under budget once all but `max - 1` of the recent failures have expired.
        (times.len() >= max).then(|| {
            let expiring = times[times.len() - max];
            (expiring + window - now).max(0)
        })
    }

    /// Runs `change` on the keys' failure times (each oldest first, those out of its window at
    /// `now` dropped) as one atomic step of the storage.
    fn update(
        &self,
        keys: &[Key; 3],
        now: i64,
        mut change: impl FnMut(&mut [Vec<i64>]),
    ) -> Result<(), StorageError> {
        let rows: Vec<&str> = keys.iter().map(|k| k.row.as_str()).collect();
        self.storage.update_counters(&rows, now, &mut |stored| {
            let mut all = Vec::with_capacity(keys.len());
            for (key, row) in keys.iter().zip(stored) {
                let (window, _) = self.budget(key.kind);
                let mut times: Vec<i64> = match row {
                    None => Vec::new(),
                    Some(row) => serde_json::from_slice(&row.state).map_err(|e| {
                        StorageError::Backend(format!("a look-up limiter row is unreadable: {e}"))
                    })?,
                };
                times.retain(|t| now - *t < window);
                // Oldest first, whatever the clocks of the processes that wrote them.
                times.sort_unstable();
                all.push(times);
            }
            change(&mut all);
            keys.iter()
                .zip(&all)
                .map(|(key, times)| {
                    let Some(newest) = times.iter().max() else {
                        return Ok(None);
                    };
                    let state = serde_json::to_vec(times).map_err(|e| {
                        StorageError::Backend(format!("cannot encode a limiter row: {e}"))
                    })?;
                    Ok(Some(CounterRow {
                        state,
                        expires_at: newest.saturating_add(self.budget(key.kind).0),
                    }))
                })
                .collect()
        })
    }

    /// Counts an attempt by `client` at `receipt` at `now` (milliseconds since the Unix
    /// epoch), or says how long to wait. Checking the budgets and counting the attempt are one
    /// atomic step. Blocking; a storage failure is an error, never a ticket.
    pub fn attempt(
        &self,
        client: &str,
        receipt: &str,
        now: i64,
    ) -> Result<Result<Ticket, Duration>, StorageError> {
        let receipt = normalise(receipt);
        let keys = [
            Key {
                kind: Kind::Client,
                row: counter_key("lookup:client", &[client]),
            },
            Key {
                kind: Kind::Pair,
                row: counter_key("lookup:pair", &[client, &receipt]),
            },
            Key {
                kind: Kind::Receipt,
                row: counter_key("lookup:receipt", &[&receipt]),
            },
        ];
        let mut verdict = Err(Duration::ZERO);
        self.update(&keys, now, |all| {
            verdict = self.count(&keys, all, now);
        })?;
        Ok(verdict.map(|delay| Ticket {
            limiter: self.clone(),
            keys,
            at: now,
            delay,
        }))
    }

    /// Refuses with the wait if any key is over its budget at `now` (counting nothing), else
    /// counts the attempt under every key and gives the delay for a failure.
    fn count(&self, keys: &[Key; 3], all: &mut [Vec<i64>], now: i64) -> Result<Duration, Duration> {
        let wait = keys
            .iter()
            .zip(all.iter())
            .filter_map(|(key, times)| self.wait(key.kind, times, now))
            .max()
            .unwrap_or(0);
        if wait > 0 {
            let wait = Duration::from_millis(u64::try_from(wait).unwrap_or(0));
            return Err(wait.max(Duration::from_secs(1)));
        }
        let mut delay = Duration::ZERO;
        for (key, times) in keys.iter().zip(all.iter_mut()) {
            times.push(now);
            times.sort_unstable();
            // Keep only what the budget can look at.
            let keep = self.budget(key.kind).1.max(1);
            if times.len() > keep {
                times.drain(..times.len() - keep);
            }
            if key.kind == Kind::Client {
                delay = self
                    .config
                    .delay_step
                    .saturating_mul(u32::try_from(times.len()).unwrap_or(u32::MAX))
                    .min(self.config.max_delay);
            }
        }
        Ok(delay)
    }
}

/// A receipt number as a key: trimmed, case-folded, at most 40 characters (a real one has 23),
/// so look-alike spellings share one budget and no one can make the map hold huge keys.
fn normalise(receipt: &str) -> String {
    receipt
        .trim()
        .chars()
        .filter(|c| !c.is_whitespace())
        .take(40)
        .flat_map(char::to_lowercase)
        .collect()
}

/// The client's address as resolved for this request from a trusted reverse proxy's
/// `X-Forwarded-For` (inserted by [`crate::app`]'s middleware when the hub is configured with
/// trusted proxies, see [`client_ip`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// The client behind the TCP peer `peer`: the peer itself, unless it is one of the `trusted`
/// reverse proxies; then the rightmost `X-Forwarded-For` address (`forwarded_for` holds each
/// header's value) that is not itself a trusted proxy: what the proxies the hub trusts saw.
/// Entries to the left of it are whatever the client wrote, and are never read. A malformed
/// entry where an address should be leaves the proxy's own address (one shared budget rather
/// than one a client could pick).
pub fn client_ip(peer: IpAddr, forwarded_for: &[&str], trusted: &[IpAddr]) -> IpAddr {
    let peer = peer.to_canonical();
    if !trusted.contains(&peer) {
        return peer;
    }
    let entries = forwarded_for
        .iter()
        .flat_map(|h| h.split(','))
        .map(str::trim);
    for entry in entries.collect::<Vec<_>>().into_iter().rev() {
        let parsed = entry
            .parse::<IpAddr>()
            .or_else(|_| entry.parse::<SocketAddr>().map(|a| a.ip()));
        match parsed {
            Ok(ip) if trusted.contains(&ip.to_canonical()) => continue,
            Ok(ip) => return ip.to_canonical(),
            Err(_) => return peer,
        }
    }
    peer
}

/// The client a request comes from, for the limiter: its IP address (an IPv6 address by its
/// /64 network, which one household or phone usually holds whole) when the hub is served with
/// connection info (as `bianmin-server serve` is), else one shared key. Forwarding headers are
/// read only from the reverse proxies the hub is told to trust ([`ClientAddr`]): anyone else
/// can write them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientKey(pub String);

impl ClientKey {
    /// The key of a peer address.
    pub fn of(addr: SocketAddr) -> ClientKey {
        ClientKey(match addr.ip().to_canonical() {
            IpAddr::V4(ip) => ip.to_string(),
            IpAddr::V6(ip) => {
                let s = ip.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        })
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientKey {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        if let Some(ClientAddr(ip)) = parts.extensions.get::<ClientAddr>() {
            return Ok(ClientKey::of(SocketAddr::new(*ip, 0)));
        }
        Ok(parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| ClientKey::of(*addr))
            .unwrap_or_else(|| ClientKey("unknown-peer".to_string())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_addresses_are_read_only_from_trusted_proxies() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let proxy = ip("10.0.0.2");
        let trusted = [proxy, ip("10.0.0.3")];
        let client = ip("203.0.113.5");
        // Not through a trusted proxy: the header is anyone's.
        assert_eq!(client_ip(client, &["198.51.100.1"], &trusted), client);
        // Through one: the address it appended.
        assert_eq!(client_ip(proxy, &["203.0.113.5"], &trusted), client);
        // What the client wrote itself stays to the left and is not read.
        assert_eq!(
            client_ip(proxy, &["198.51.100.1, 203.0.113.5"], &trusted),
            client
        );
        // Two trusted proxies in a row, in two headers.
        assert_eq!(
            client_ip(proxy, &["198.51.100.1, 203.0.113.5", "10.0.0.3"], &trusted),
            client
        );
        // No header, or garbage where the address should be: the proxy's own budget.
        assert_eq!(client_ip(proxy, &[], &trusted), proxy);
        assert_eq!(client_ip(proxy, &["203.0.113.5, junk"], &trusted), proxy);
        // IPv4 in IPv6 and with a port are the same client.
        assert_eq!(
            client_ip(ip("::ffff:10.0.0.2"), &["203.0.113.5:4711"], &trusted),
            client
        );
    }

    use crate::storage::sqlite::SqliteStorage;

    /// A limiter with the default limits over a fresh SQLite storage (kept in its temporary
    /// directory).
    fn limiter() -> (Limiter, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let storage = Arc::new(SqliteStorage::open(dir.path()).unwrap());
        (Limiter::new(LimiterConfig::default(), storage), dir)
    }

    fn attempt(l: &Limiter, client: &str, receipt: &str, now: i64) -> Result<Ticket, Duration> {
        l.attempt(client, receipt, now).unwrap()
    }

    fn rows(dir: &tempfile::TempDir) -> i64 {
        let db = rusqlite::Connection::open(dir.path().join("bianmin.db")).unwrap();
        db.query_row("SELECT count(*) FROM counters", [], |r| r.get(0))
            .unwrap()
    }

    const MIN: Duration = Duration::from_secs(60);
    const MIN_MS: i64 = 60_000;

    #[test]
    fn five_failures_then_wait_for_the_oldest_to_expire() {
        let (l, _dir) = limiter();
        let t0 = now_ms();
        let mut delays = Vec::new();
        for i in 0..5 {
            let ticket = attempt(&l, "1.2.3.4", "R-1", t0 + MIN_MS * i).unwrap();
            delays.push(ticket.failure_delay());
        }
        assert_eq!(
            delays,
            [200, 400, 600, 800, 1000].map(Duration::from_millis),
            "each failure waits longer"
        );
        let wait = attempt(&l, "1.2.3.4", "R-1", t0 + MIN_MS * 5).unwrap_err();
        assert_eq!(
            wait,
            Duration::from_secs(24 * 3600) - MIN * 5,
            "this pair waits a day"
        );
        // Another receipt from the same client: the client is over its budget.
        let wait = attempt(&l, "1.2.3.4", "R-2", t0 + MIN_MS * 5).unwrap_err();
        assert_eq!(wait, MIN * 10, "until the first failure is 15 minutes old");
        // The resident at the same receipt from their own phone is not locked out.
        let at = t0 + MIN_MS * 5;
        attempt(&l, "5.6.7.8", " r-1 ", at)
            .expect("another client at the receipt")
            .succeeded(at)
            .unwrap();
        // Once the client's window passed, it may look up other receipts, but this one only
        // after a day: one address spends at most five guesses a day on a receipt.
        assert!(attempt(&l, "1.2.3.4", "R-2", t0 + MIN_MS * 15).is_ok());
        let wait = attempt(&l, "1.2.3.4", "R-1", t0 + MIN_MS * 16).unwrap_err();
        assert_eq!(wait, Duration::from_secs(24 * 3600) - MIN * 16);
    }

    #[test]
    fn a_success_is_forgiven() {
        let (l, dir) = limiter();
        let t0 = now_ms();
        for i in 0..10 {
            let at = t0 + i * 1_000;
            attempt(&l, "1.2.3.4", "R-1", at)
                .unwrap()
                .succeeded(at)
                .unwrap();
        }
        assert_eq!(rows(&dir), 0, "nothing left counted");
    }

    #[test]
    fn a_receipt_has_a_daily_budget_across_clients() {
        let (l, _dir) = limiter();
        let t0 = now_ms();
        for i in 0..50 {
            // One failure a minute, each from another address: under every other budget.
            let at = t0 + MIN_MS * i;
            let _ = attempt(&l, &format!("10.0.0.{i}"), "R-1", at).unwrap();
        }
        let at = t0 + MIN_MS * 50;
        let wait = attempt(&l, "10.0.1.1", "R-1", at).unwrap_err();
        assert_eq!(wait, Duration::from_secs(24 * 3600) - MIN * 50);
    }

    /// Two limiters on one storage (two hub processes) spend the same budgets.
    #[test]
    fn limiters_on_one_storage_share_their_budgets() {
        let (a, _dir) = limiter();
        let b = Limiter::new(LimiterConfig::default(), a.storage.clone());
        let t0 = now_ms();
        for i in 0..5 {
            let l = if i % 2 == 0 { &a } else { &b };
            let _ = attempt(l, "1.2.3.4", "R-1", t0 + i * 1_000).unwrap();
        }
        assert!(attempt(&a, "1.2.3.4", "R-1", t0 + 5_000).is_err());
        assert!(attempt(&b, "1.2.3.4", "R-1", t0 + 5_000).is_err());
    }

    /// Rows live while their failures are in a window and are deleted once expired: the table
    /// is bounded by expiry, and holds no address or receipt number as given.
    #[test]
    fn rows_expire_and_hold_no_address() {
        let (l, dir) = limiter();
        let t0 = now_ms();
        for i in 0..3 {
            let _ = attempt(&l, &format!("192.0.2.{i}"), &format!("R-{i}"), t0).unwrap();
        }
        assert_eq!(rows(&dir), 9);
        let db = rusqlite::Connection::open(dir.path().join("bianmin.db")).unwrap();
        let keys: String = db
            .query_row("SELECT group_concat(key) FROM counters", [], |r| r.get(0))
            .unwrap();
        assert!(!keys.contains("192.0.2") && !keys.contains("r-1"), "{keys}");
        // Client rows expire after the short window, pairs and receipts after the long one.
        let later = t0 + MIN_MS * 16;
        let _ = attempt(&l, "c9", "r9", later).unwrap();
        assert_eq!(rows(&dir), 9, "three clients gone, three new rows");
        let next_day = t0 + 24 * 60 * MIN_MS + 1;
        attempt(&l, "c9", "r9", next_day)
            .unwrap()
            .succeeded(next_day)
            .unwrap();
        assert_eq!(
            rows(&dir),
            2,
            "only the pair and receipt rows of the attempt at 16 minutes are left"
        );
    }

    #[test]
    fn client_keys() {
        let v4: SocketAddr = "192.0.2.7:5000".parse().unwrap();
        assert_eq!(ClientKey::of(v4).0, "192.0.2.7");
        let v6: SocketAddr = "[2001:db8:1:2:3:4:5:6]:443".parse().unwrap();
        assert_eq!(ClientKey::of(v6).0, "2001:db8:1:2::/64");
        let mapped: SocketAddr = "[::ffff:192.0.2.7]:1".parse().unwrap();
        assert_eq!(ClientKey::of(mapped).0, "192.0.2.7");
    }
}
