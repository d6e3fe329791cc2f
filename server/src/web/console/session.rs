//! Console sessions and sign-in throttling.
//!
//! A session is a random 128-bit id in an `HttpOnly; SameSite=Strict; Path=/` cookie (plus
//! `Secure` when configured), mapped on the hub to the signed-in user and the session's CSRF
//! token. Only the id's SHA-256 is kept, as the key. A session ends at sign-out, after
//! [`ConsoleConfig::idle_timeout`] without a request, [`ConsoleConfig::max_age`] after
//! sign-in, or at the next request once its user is deactivated. Sessions are stored
//! (`Storage::save_session`) and cached in memory, so a restart of the hub signs nobody out;
//! the time of last use is written back at most once a minute.
//!
//! A session cached in this process is checked against storage again at least every
//! [`RECHECK_MS`], so a session ended elsewhere (a password reset from the command line,
//! "sign out everywhere", another hub instance) ends here within seconds.
//!
//! Sign-in throttling is [`super::throttle`]'s; the [`Console`] holds the throttle, whose counts
//! are kept in the same storage as the sessions (shared by every hub process on it).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::HeaderValue;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use bianmin_domain::Role;

use super::PageError;
use super::throttle::{Throttle, ThrottleConfig};
use super::token::random_hex;
use crate::AppState;
use crate::auth::hash_secret;
use crate::error::AppError;
use crate::storage::{SessionRecord, Storage, StorageError, UserRecord};
pub(crate) use crate::web::cookies::{get as cookie, set as set_cookie};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "bianmin_console";

/// How the console keeps sessions and throttles sign-in.
#[derive(Debug, Clone)]
pub struct ConsoleConfig {
    /// Mark every cookie `Secure` and name the session cookie with the `__Host-` prefix (serve
    /// the console over HTTPS, e.g. behind a proxy; the hub then also sends HSTS). Off by
    /// default so that the console works on plain http on the loopback address.
    pub secure_cookies: bool,
    /// A session ends after this long without a request.
    pub idle_timeout: Duration,
    /// A session ends this long after sign-in, however busy.
    pub max_age: Duration,
    /// Sign-in throttling.
    pub throttle: ThrottleConfig,
    /// The address residents reach the hub at (`https://hub.example.cn`, made canonical by
    /// `bianmin_document::notice::lookup_base`), printed on notices as the look-up page's QR
    /// code. `None`: the address the console's browser used (its `Host`, over HTTPS with
    /// [`ConsoleConfig::secure_cookies`]), which is right unless the reviewers reach the hub by
    /// another address than the residents do.
    pub public_url: Option<String>,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig {
            secure_cookies: false,
            idle_timeout: Duration::from_secs(8 * 3600),
            max_age: Duration::from_secs(24 * 3600),
            throttle: ThrottleConfig::default(),
            public_url: None,
        }
    }
}

/// One signed-in session.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    /// The user's id.
    pub user_id: String,
    /// The token every form of this session carries.
    pub csrf: String,
    /// Sign-in and last use, milliseconds since the Unix epoch.
    created: i64,
    seen: i64,
    /// `seen` as last stored.
    stored_seen: i64,
    /// When storage last confirmed the session.
    checked: i64,
}

impl Session {
    fn from_record(r: SessionRecord) -> Session {
        Session {
            user_id: r.user_id,
            csrf: r.csrf,
            created: r.created_at,
            seen: r.seen_at,
            stored_seen: r.seen_at,
            checked: now_ms(),
        }
    }

    fn record(&self, key: &str) -> SessionRecord {
        SessionRecord {
            key: key.to_string(),
            user_id: self.user_id.clone(),
            csrf: self.csrf.clone(),
            created_at: self.created,
            seen_at: self.seen,
        }
    }
}

/// How stale the stored time of last use may get before it is written again.
const SEEN_WRITE_EVERY_MS: i64 = 60_000;

/// How long a cached session is trusted before storage confirms it again.
pub const RECHECK_MS: i64 = 5_000;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The console's state in [`AppState`]: sessions, the sign-in throttle, settings.
pub struct Console {
    config: ConsoleConfig,
    storage: Arc<dyn Storage>,
    sessions: Mutex<HashMap<String, Session>>,
    throttle: Throttle,
}

impl std::fmt::Debug for Console {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Console")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these maps leaves it consistent (each update is one
    // insert or remove), so a poisoned lock is still usable.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Console {
    /// A console with these settings, keeping its sessions in `storage`.
    pub fn new(config: ConsoleConfig, storage: Arc<dyn Storage>) -> Self {
        Console {
            throttle: Throttle::new(config.throttle.clone(), storage.clone()),
            config,
            storage,
            sessions: Mutex::new(HashMap::new()),
        }
    }

    /// Its settings.
    pub fn config(&self) -> &ConsoleConfig {
        &self.config
    }

    /// The sign-in throttle.
    pub fn throttle(&self) -> &Throttle {
        &self.throttle
    }

    /// The number of live sessions this hub process has seen.
    pub fn session_count(&self) -> usize {
        let now = now_ms();
        let mut sessions = lock(&self.sessions);
        sessions.retain(|_, s| self.alive(s, now));
        sessions.len()
    }

    fn alive(&self, s: &Session, now: i64) -> bool {
        now - s.seen < ms(self.config.idle_timeout) && now - s.created < ms(self.config.max_age)
    }

    /// Opens a session for `user_id`; returns its id (for the cookie only). Blocking: stores
    /// the session (and forgets expired ones).
    pub(crate) fn open(&self, user_id: &str) -> Result<String, StorageError> {
        let id = random_hex();
        let key = hash_secret(&id);
        let now = now_ms();
        let session = Session {
            user_id: user_id.to_string(),
            csrf: random_hex(),
            created: now,
            seen: now,
            stored_seen: now,
            checked: now,
        };
        let mut sessions = lock(&self.sessions);
        self.storage.expire_sessions(
            now - ms(self.config.idle_timeout),
            now - ms(self.config.max_age),
        )?;
        self.storage.save_session(&session.record(&key))?;
        sessions.retain(|_, s| self.alive(s, now));
        sessions.insert(key, session);
        Ok(id)
    }

    /// The live session with this id, marked as used now. Blocking: reads a session the hub
    /// has not seen since it started from storage, and writes the time of last use back at
    /// most once a minute.
    pub(crate) fn get(&self, id: &str) -> Result<Option<Session>, StorageError> {
        let key = hash_secret(id);
        let now = now_ms();
        // Held throughout, so that a sign-out cannot interleave with a use.
        let mut sessions = lock(&self.sessions);
        if sessions
            .get(&key)
            .is_some_and(|s| now - s.checked >= RECHECK_MS)
        {
            match self.storage.session(&key)? {
                Some(_) => sessions
                    .get_mut(&key)
                    .into_iter()
                    .for_each(|s| s.checked = now),
                None => {
                    sessions.remove(&key);
                    return Ok(None);
                }
            }
        }
        let session = match sessions.get_mut(&key) {
            Some(s) => s,
            None => match self.storage.session(&key)? {
                Some(r) => sessions
                    .entry(key.clone())
                    .or_insert(Session::from_record(r)),
                None => return Ok(None),
            },
        };
        if !self.alive(session, now) {
            sessions.remove(&key);
            self.storage.delete_session(&key)?;
            return Ok(None);
        }
        session.seen = now;
        if now - session.stored_seen >= SEEN_WRITE_EVERY_MS {
            self.storage.save_session(&session.record(&key))?;
            session.stored_seen = now;
        }
        Ok(Some(session.clone()))
    }

    /// Ends a session. Blocking: forgets it in storage too.
    pub(crate) fn close(&self, id: &str) -> Result<(), StorageError> {
        let key = hash_secret(id);
        let mut sessions = lock(&self.sessions);
        sessions.remove(&key);
        self.storage.delete_session(&key)
    }

    /// Ends every session of `user_id` ("sign out everywhere", or after a new password);
    /// returns how many. Blocking: forgets them in storage too.
    pub(crate) fn end_sessions_of(&self, user_id: &str) -> Result<usize, StorageError> {
        let mut sessions = lock(&self.sessions);
        sessions.retain(|_, s| s.user_id != user_id);
        self.storage.delete_user_sessions(user_id)
    }

    /// The session cookie's name: with `__Host-` when cookies are secure (the browser then
    /// keeps it to this exact origin, over HTTPS, for the whole path).
    pub(crate) fn session_cookie_name(&self) -> &'static str {
        host_cookie_name(SESSION_COOKIE, self.config.secure_cookies)
    }

    /// The `Set-Cookie` value that carries a session id.
    pub(crate) fn session_cookie(&self, id: &str) -> HeaderValue {
        set_cookie(self.session_cookie_name(), id, None)
    }

    /// The `Set-Cookie` value that removes the session cookie.
    pub(crate) fn clear_session_cookie(&self) -> HeaderValue {
        set_cookie(self.session_cookie_name(), "", Some(0))
    }
}

/// `name`, or `__Host-name` when cookies are secure.
pub(crate) fn host_cookie_name(name: &'static str, secure: bool) -> &'static str {
    match (name, secure) {
        (SESSION_COOKIE, true) => "__Host-bianmin_console",
        (super::sign_in::SIGNIN_COOKIE, true) => "__Host-bianmin_signin",
        _ => name,
    }
}

/// Whether a role may use the console.
pub(crate) fn console_role(role: Role) -> bool {
    matches!(role, Role::Reviewer | Role::Administrator)
}

/// The signed-in user of a console request. Without a live session, the request is sent to the
/// sign-in page (which comes back to where it was going).
#[derive(Debug, Clone)]
pub(crate) struct Signed {
    /// The user, as stored now (a changed role takes effect at once).
    pub user: UserRecord,
    /// The session id (from the cookie).
    pub session_id: String,
    /// The session's CSRF token.
    pub csrf: String,
    /// The years of the next [`CALENDAR_AHEAD_DAYS`] days that have no holiday calendar
    /// loaded (their deadlines are only estimated): every page warns while there are any.
    pub calendar_gap: Vec<i32>,
}

/// How far ahead the console wants the holiday calendar loaded.
pub(crate) const CALENDAR_AHEAD_DAYS: u64 = 60;

/// The years from today to [`CALENDAR_AHEAD_DAYS`] ahead with no calendar in `engine`'s
/// reference data (none when the hub has no reference data yet: nothing is counted then).
fn calendar_gap(engine: &crate::engine::Engine) -> Vec<i32> {
    let Ok(reference) = engine.reference() else {
        return Vec::new();
    };
    let today = bianmin_domain::Timestamp::now().china_date();
    let ahead = today
        .checked_add_days(chrono::Days::new(CALENDAR_AHEAD_DAYS))
        .unwrap_or(today);
    reference.rules.calendar.uncovered_years(today, ahead)
}

/// Where the sign-in page sends someone back to: a console path only, never another site.
pub(crate) fn safe_next(next: &str) -> Option<&str> {
    let ok = next.starts_with("/console")
        && !next.contains("//")
        && !next.contains('\\')
        && next
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'<' && b != b'>');
    ok.then_some(next)
}

fn to_sign_in(parts: &Parts) -> Response {
    let path = parts.uri.path();
    let target = if parts.method == axum::http::Method::GET && safe_next(path).is_some() {
        let query = parts
            .uri
            .query()
            .map(|q| format!("?{q}"))
            .unwrap_or_default();
        let next = format!("{path}{query}");
        format!("/console/sign-in?next={}", super::encode_query_value(&next))
    } else {
        "/console/sign-in".to_string()
    };
    Redirect::to(&target).into_response()
}

impl FromRequestParts<AppState> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let Some(id) =
            cookie(&parts.headers, state.console.session_cookie_name()).map(str::to_string)
        else {
            return Err(to_sign_in(parts));
        };
        let (console, storage, engine, session_id) = (
            state.console.clone(),
            state.storage.clone(),
            state.engine.clone(),
            id.clone(),
        );
        let found = tokio::task::spawn_blocking(move || {
            let Some(session) = console.get(&session_id)? else {
                return Ok(None);
            };
            // A deactivated account's sessions end in storage with the deactivation; asking on
            // every request also ends one opened by a sign-in checked just before it.
            let user = match storage.user(&session.user_id)? {
                Some(u) if storage.account_status(&u.id)?.deactivated_at.is_none() => Some(u),
                _ => None,
            };
            Ok::<_, StorageError>(Some((session, user, calendar_gap(&engine))))
        })
        .await;
        let (session, user, calendar_gap) = match found {
            Ok(Ok(Some(found))) => found,
            Ok(Ok(None)) => return Err(to_sign_in(parts)),
            Ok(Err(e)) => {
                let lang = super::lang_of(parts).await;
                return Err(PageError::new(&lang, e).into_response());
            }
            Err(e) => {
                let lang = super::lang_of(parts).await;
                return Err(PageError::new(&lang, AppError::internal(e)).into_response());
            }
        };
        match user {
            Some(user) if console_role(user.role) => Ok(Signed {
                user,
                session_id: id,
                csrf: session.csrf,
                calendar_gap,
            }),
            _ => {
                // The user was removed, deactivated or no longer holds a console role.
                let console = state.console.clone();
                let _ = tokio::task::spawn_blocking(move || console.close(&id)).await;
                Err(to_sign_in(parts))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn storage(dir: &std::path::Path) -> Arc<dyn Storage> {
        Arc::new(crate::storage::sqlite::SqliteStorage::open(dir).unwrap())
    }

    #[test]
    fn sessions_expire_and_close() {
        let dir = tempfile::tempdir().unwrap();
        let console = Console::new(
            ConsoleConfig {
                idle_timeout: Duration::from_millis(50),
                ..ConsoleConfig::default()
            },
            storage(dir.path()),
        );
        let id = console.open("u-1").unwrap();
        assert_eq!(id.len(), 32, "128 bits, hex");
        let s = console.get(&id).unwrap().expect("live");
        assert_eq!(s.user_id, "u-1");
        assert_eq!(s.csrf.len(), 32);
        assert!(console.get("nope").unwrap().is_none());
        std::thread::sleep(Duration::from_millis(80));
        assert!(console.get(&id).unwrap().is_none(), "idle too long");
        let id = console.open("u-1").unwrap();
        console.close(&id).unwrap();
        assert!(console.get(&id).unwrap().is_none());
        assert_eq!(console.session_count(), 0);
    }

    #[test]
    fn a_session_outlives_a_restart_but_not_its_sign_out() {
        let dir = tempfile::tempdir().unwrap();
        let (kept, closed, csrf) = {
            let console = Console::new(ConsoleConfig::default(), storage(dir.path()));
            let kept = console.open("u-1").unwrap();
            let closed = console.open("u-2").unwrap();
            let csrf = console.get(&kept).unwrap().unwrap().csrf;
            console.close(&closed).unwrap();
            (kept, closed, csrf)
        };
        // The hub restarts: a new console over the same data directory.
        let console = Console::new(ConsoleConfig::default(), storage(dir.path()));
        let s = console.get(&kept).unwrap().expect("still signed in");
        assert_eq!((s.user_id.as_str(), s.csrf), ("u-1", csrf));
        assert!(
            console.get(&closed).unwrap().is_none(),
            "signed out stays out"
        );
        // Stored under the id's hash only.
        let stored = storage(dir.path()).session(&hash_secret(&kept)).unwrap();
        assert!(stored.is_some());
        assert!(storage(dir.path()).session(&kept).unwrap().is_none());
    }

    #[test]
    fn sessions_end_everywhere_and_when_storage_ends_them_elsewhere() {
        let dir = tempfile::tempdir().unwrap();
        let console = Console::new(ConsoleConfig::default(), storage(dir.path()));
        let (a, b) = (console.open("u-1").unwrap(), console.open("u-1").unwrap());
        let other = console.open("u-2").unwrap();
        assert_eq!(console.end_sessions_of("u-1").unwrap(), 2);
        assert!(console.get(&a).unwrap().is_none());
        assert!(console.get(&b).unwrap().is_none());
        assert!(console.get(&other).unwrap().is_some());
        // Another process (the command line) ends the session in storage: this console's
        // cached copy is checked again within RECHECK_MS.
        let c = console.open("u-3").unwrap();
        assert!(console.get(&c).unwrap().is_some());
        storage(dir.path()).delete_user_sessions("u-3").unwrap();
        lock(&console.sessions)
            .values_mut()
            .for_each(|s| s.checked -= RECHECK_MS);
        assert!(console.get(&c).unwrap().is_none(), "ended elsewhere");
    }

    #[test]
    fn next_stays_in_the_console() {
        assert_eq!(
            safe_next("/console/requests?status=all"),
            Some("/console/requests?status=all")
        );
        assert_eq!(safe_next("//evil.example/console"), None);
        assert_eq!(safe_next("https://evil.example/console"), None);
        assert_eq!(safe_next("/console//evil"), None);
        assert_eq!(safe_next("/consolex\"><script>"), None);
        assert_eq!(safe_next("/api/v1/sync"), None);
    }
}
