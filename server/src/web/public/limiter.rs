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
//! The state is in memory (a hub restart forgets it) and bounded: when
//! [`LimiterConfig::max_keys`] keys are tracked and none has expired, new keys are refused
//! (fail closed) until some expire.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;

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
    /// The most keys (clients plus receipts) tracked at once.
    pub max_keys: usize,
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
            max_keys: 100_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Client(String),
    Pair(String, String),
    Receipt(String),
}

/// The look-up limiter (one per router).
#[derive(Debug, Default)]
pub struct Limiter {
    config: LimiterConfig,
    attempts: Mutex<HashMap<Key, VecDeque<Instant>>>,
}

/// An attempt that was let through; it counts as a failure unless [`Ticket::succeeded`] is
/// called.
#[derive(Debug)]
#[must_use = "a ticket tells how long to delay a failure, or forgives a success"]
pub struct Ticket<'a> {
    limiter: &'a Limiter,
    keys: [Key; 3],
    at: Instant,
    delay: Duration,
}

impl Ticket<'_> {
    /// How long to wait before answering that the look-up failed.
    pub fn failure_delay(&self) -> Duration {
        self.delay
    }

    /// The look-up succeeded: the attempt no longer counts.
    pub fn succeeded(self) {
        let mut map = self.limiter.lock();
        for key in &self.keys {
            if let Some(times) = map.get_mut(key) {
                if let Some(pos) = times.iter().rposition(|t| *t == self.at) {
                    times.remove(pos);
                }
                if times.is_empty() {
                    map.remove(key);
                }
            }
        }
    }
}

impl Limiter {
    /// A limiter with these limits.
    pub fn new(config: LimiterConfig) -> Self {
        Limiter {
            config,
            attempts: Mutex::new(HashMap::new()),
        }
    }

    /// The limits.
    pub fn config(&self) -> &LimiterConfig {
        &self.config
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, VecDeque<Instant>>> {
        // The map is consistent after any panic (each step is one push or remove).
        self.attempts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The key's budget: failures allowed within a window.
    fn budget(&self, key: &Key) -> (Duration, usize) {
        let c = &self.config;
        match key {
            Key::Client(_) => (c.window, c.max_failures),
            Key::Pair(..) => (c.long_window, c.pair_max_failures),
            Key::Receipt(_) => (c.long_window, c.long_max_failures),
        }
    }

    fn horizon(&self, key: &Key) -> Duration {
        self.budget(key).0
    }

    /// How long `key` must wait, if it is over its budget at `now`.
    fn wait(&self, key: &Key, times: &VecDeque<Instant>, now: Instant) -> Option<Duration> {
        let (window, max) = self.budget(key);
        let recent: Vec<&Instant> = times
            .iter()
            .filter(|t| now.saturating_duration_since(**t) < window)
            .collect();
        // Under budget once all but `max - 1` of the recent failures have expired.
        (recent.len() >= max).then(|| {
            let expiring = recent[recent.len() - max.max(1)];
            (*expiring + window).saturating_duration_since(now)
        })
    }

    /// Counts an attempt by `client` at `receipt` at `now`, or says how long to wait.
    pub fn attempt(
        &self,
        client: &str,
        receipt: &str,
        now: Instant,
    ) -> Result<Ticket<'_>, Duration> {
        let receipt = normalise(receipt);
        let keys = [
            Key::Client(client.to_string()),
            Key::Pair(client.to_string(), receipt.clone()),
            Key::Receipt(receipt),
        ];
        let mut map = self.lock();
        for key in &keys {
            let horizon = self.horizon(key);
            if let Some(times) = map.get_mut(key) {
                while times
                    .front()
                    .is_some_and(|t| now.saturating_duration_since(*t) >= horizon)
                {
                    times.pop_front();
                }
            }
        }
        let mut wait = Duration::ZERO;
        for key in &keys {
            if let Some(w) = map.get(key).and_then(|times| self.wait(key, times, now)) {
                wait = wait.max(w);
            }
        }
        if !wait.is_zero() {
            return Err(wait.max(Duration::from_secs(1)));
        }
        let new_keys = keys.iter().filter(|k| !map.contains_key(*k)).count();
        if map.len() + new_keys > self.config.max_keys {
            map.retain(|key, times| {
                times
                    .back()
                    .is_some_and(|t| now.saturating_duration_since(*t) < self.horizon(key))
            });
            if map.len() + new_keys > self.config.max_keys {
                tracing::warn!("look-up limiter full: refusing new clients until entries expire");
                return Err(self.config.window);
            }
        }
        let mut delay = Duration::ZERO;
        for key in &keys {
            let times = map.entry(key.clone()).or_default();
            times.push_back(now);
            // Keep only what the budget can look at.
            let keep = self.budget(key).1.max(1);
            while times.len() > keep {
                times.pop_front();
            }
            if let Key::Client(_) = key {
                let recent = times
                    .iter()
                    .filter(|t| now.saturating_duration_since(**t) < self.config.window)
                    .count();
                delay = self
                    .config
                    .delay_step
                    .saturating_mul(u32::try_from(recent).unwrap_or(u32::MAX))
                    .min(self.config.max_delay);
            }
        }
        drop(map);
        Ok(Ticket {
            limiter: self,
            keys,
            at: now,
            delay,
        })
    }

    /// How many keys are tracked.
    pub fn tracked(&self) -> usize {
        self.lock().len()
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

    fn limiter() -> Limiter {
        Limiter::new(LimiterConfig {
            max_keys: 9,
            ..LimiterConfig::default()
        })
    }

    const MIN: Duration = Duration::from_secs(60);

    #[test]
    fn five_failures_then_wait_for_the_oldest_to_expire() {
        let l = limiter();
        let t0 = Instant::now();
        let mut delays = Vec::new();
        for i in 0..5 {
            let ticket = l.attempt("1.2.3.4", "R-1", t0 + MIN * i).unwrap();
            delays.push(ticket.failure_delay());
        }
        assert_eq!(
            delays,
            [200, 400, 600, 800, 1000].map(Duration::from_millis),
            "each failure waits longer"
        );
        let wait = l.attempt("1.2.3.4", "R-1", t0 + MIN * 5).unwrap_err();
        assert_eq!(
            wait,
            Duration::from_secs(24 * 3600) - MIN * 5,
            "this pair waits a day"
        );
        // Another receipt from the same client: the client is over its budget.
        let wait = l.attempt("1.2.3.4", "R-2", t0 + MIN * 5).unwrap_err();
        assert_eq!(wait, MIN * 10, "until the first failure is 15 minutes old");
        // The resident at the same receipt from their own phone is not locked out.
        l.attempt("5.6.7.8", " r-1 ", t0 + MIN * 5)
            .expect("another client at the receipt")
            .succeeded();
        // Once the client's window passed, it may look up other receipts, but this one only
        // after a day: one address spends at most five guesses a day on a receipt.
        assert!(l.attempt("1.2.3.4", "R-2", t0 + MIN * 15).is_ok());
        let wait = l.attempt("1.2.3.4", "R-1", t0 + MIN * 16).unwrap_err();
        assert_eq!(wait, Duration::from_secs(24 * 3600) - MIN * 16);
    }

    #[test]
    fn a_success_is_forgiven() {
        let l = limiter();
        let t0 = Instant::now();
        for i in 0..10 {
            l.attempt("1.2.3.4", "R-1", t0 + Duration::from_secs(i))
                .unwrap()
                .succeeded();
        }
        assert_eq!(l.tracked(), 0);
    }

    #[test]
    fn a_receipt_has_a_daily_budget_across_clients() {
        let l = Limiter::new(LimiterConfig::default());
        let t0 = Instant::now();
        for i in 0..50u32 {
            // One failure a minute, each from another address: under every other budget.
            let at = t0 + MIN * i;
            let _ = l.attempt(&format!("10.0.0.{i}"), "R-1", at).unwrap();
        }
        let at = t0 + MIN * 50;
        let wait = l.attempt("10.0.1.1", "R-1", at).unwrap_err();
        assert_eq!(wait, Duration::from_secs(24 * 3600) - MIN * 50);
    }

    #[test]
    fn the_map_is_bounded_and_fails_closed() {
        let l = limiter();
        let t0 = Instant::now();
        for i in 0..3 {
            let _ = l.attempt(&format!("c{i}"), &format!("r{i}"), t0).unwrap();
        }
        assert_eq!(l.tracked(), 9);
        assert!(l.attempt("c9", "r9", t0 + MIN).is_err(), "full: refused");
        // Client keys expire after the short window, pairs and receipts after the long one:
        // three expired clients make room for a new client and pair at a known receipt.
        let later = t0 + MIN * 16;
        assert!(
            l.attempt("c9", "r0", later).is_ok(),
            "expired clients made room"
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
