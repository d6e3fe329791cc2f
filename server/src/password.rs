//! Console passwords: Argon2id (the `argon2` crate's defaults: 19 MiB, 2 passes, 1 lane, the
//! parameters OWASP recommends), stored as PHC strings (`$argon2id$v=19$m=19456,t=2,p=1$...`) in
//! [`UserRecord::password_hash`](crate::storage::UserRecord::password_hash). Verification reads
//! the parameters from the stored string, so raising them later keeps old hashes working.
//!
//! Hashing takes tens of milliseconds and 19 MiB on purpose: the hub runs it only through a
//! [`HashingPool`], which bounds how many run at once (and so the memory they take) and
//! refuses work beyond a short queue instead of piling it up.

use argon2::password_hash::{Output, PasswordHash, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use rand::Rng;
use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The shortest password accepted.
pub const MIN_LENGTH: usize = 8;
/// The longest password accepted (hashing is bounded; nobody types more).
pub const MAX_LENGTH: usize = 256;

/// Why a password was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    /// Too short or too long.
    #[error("a password must be {MIN_LENGTH} to {MAX_LENGTH} characters")]
    Length,
    /// The hasher failed (never expected with the fixed parameters).
    #[error("password hashing failed")]
    Hashing,
}

/// Runs password hashing on its own `workers` threads, with at most `queue` more jobs
/// waiting at most `wait` each; anything beyond is refused ([`PoolBusy`]). Dedicated threads,
/// not the runtime's blocking pool: Argon2's 19 MiB buffers then live in at most `workers`
/// allocator arenas, so the memory hashing can take is bounded by the worker count however
/// many sign-ins arrive.
pub struct HashingPool {
    jobs: SyncSender<Job>,
    wait: Duration,
}

/// A queued hashing job: it gives up unrun after its deadline.
type Job = Box<dyn FnOnce() + Send>;

impl std::fmt::Debug for HashingPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HashingPool")
            .field("wait", &self.wait)
            .finish_non_exhaustive()
    }
}

/// The pool's settings.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// Hashings running at once (each takes about 19 MiB while it runs).
    pub workers: usize,
    /// Hashings allowed to wait for a worker.
    pub queue: usize,
    /// How long one may wait.
    pub wait: Duration,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            workers: std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 8)),
            queue: 16,
            wait: Duration::from_secs(3),
        }
    }
}

/// The pool is full: answer "busy, try again" (503) without hashing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the hub is busy checking passwords; try again in a few seconds")]
pub struct PoolBusy;

impl HashingPool {
    /// A pool with these settings: starts its worker threads, which end with the pool.
    pub fn new(config: &PoolConfig) -> Self {
        let (jobs, queue) = sync_channel::<Job>(config.queue);
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..config.workers.max(1) {
            let queue = queue.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("password-{n}"))
                .spawn(move || {
                    loop {
                        // The lock is held only while waiting for the next job.
                        let job = queue.lock().unwrap_or_else(PoisonError::into_inner).recv();
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a password worker thread");
            }
        }
        HashingPool {
            jobs,
            wait: config.wait,
        }
    }

    /// Runs `work` (a hash or a verification) on a worker once one is free.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, PoolBusy> {
        let (done, answer) = tokio::sync::oneshot::channel();
        let deadline = Instant::now() + self.wait;
        let job: Job = Box::new(move || {
            // Waited too long (its client has been told "busy"), or nobody waits any more.
            if Instant::now() > deadline || done.is_closed() {
                return;
            }
            // A panic in the hasher is not expected; it refuses this one attempt only.
            let _ = done.send(catch_unwind(AssertUnwindSafe(work)));
        });
        self.jobs.try_send(job).map_err(|_| PoolBusy)?;
        match tokio::time::timeout(self.wait + Duration::from_secs(60), answer).await {
            Ok(Ok(Ok(value))) => Ok(value),
            _ => Err(PoolBusy),
        }
    }
}

/// Hashes `password` with Argon2id and a fresh random 128-bit salt.
pub fn hash(password: &str) -> Result<String, PasswordError> {
    let n = password.chars().count();
    if !(MIN_LENGTH..=MAX_LENGTH).contains(&n) {
        return Err(PasswordError::Length);
    }
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|_| PasswordError::Hashing)?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|_| PasswordError::Hashing)
}

/// Whether `password` matches the PHC string `stored` (`false` for a malformed string, or one
/// that is not Argon2).
pub fn verify(password: &str, stored: &str) -> bool {
    if password.chars().count() > MAX_LENGTH {
        return false;
    }
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    let (Ok(algorithm), Ok(params)) = (
        Algorithm::try_from(parsed.algorithm),
        Params::try_from(&parsed),
    ) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from).transpose() {
        Ok(v) => v.unwrap_or_default(),
        Err(_) => return false,
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let argon = Argon2::new(algorithm, version, params);
    let mut out = vec![0u8; expected.len()];
    // `Output`'s equality is constant-time.
    argon2_into(&argon, password.as_bytes(), salt, &mut out).is_ok()
        && Output::new(&out).is_ok_and(|o| o == expected)
}

thread_local! {
    /// Argon2's working memory, kept by each thread that hashes (the pool's workers): allocated
    /// once instead of 19 MiB per check, which the allocator would otherwise keep piling up.
    static MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Argon2 of `password` with `salt` into `out`, in this thread's reused working memory.
fn argon2_into(
    argon: &Argon2<'_>,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> Result<(), argon2::Error> {
    let blocks = argon.params().block_count();
    MEMORY.with(|memory| {
        let mut memory = memory.borrow_mut();
        if memory.len() != blocks {
            *memory = vec![Block::default(); blocks];
        }
        argon.hash_password_into_with_memory(password, salt, out, &mut memory[..])
    })
}

/// Spends the time of one verification without a stored hash: signing in as a name that does
/// not exist, or has no password, takes as long as a wrong password.
pub fn verify_nothing(password: &str) {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let dummy = DUMMY.get_or_init(|| {
        hash("not a password of anyone").unwrap_or_else(|_| {
            // Unreachable with the fixed parameters; a parseable string keeps the timing.
            format!(
                "$argon2id$v=19$m={},t={},p={}$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
                Params::DEFAULT_M_COST,
                Params::DEFAULT_T_COST,
                Params::DEFAULT_P_COST
            )
        })
    });
    let _ = verify(password, dummy);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argon2id_round_trip() {
        let h = hash("bianmin-demo").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify("bianmin-demo", &h));
        assert!(!verify("bianmin-demo!", &h));
        assert!(!verify("bianmin-demo", "not a hash"));
        assert_ne!(hash("bianmin-demo").unwrap(), h, "salted");
        assert_eq!(hash("short"), Err(PasswordError::Length));
        verify_nothing("anything");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_pool_runs_at_most_its_workers_and_refuses_beyond_its_queue() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let pool = std::sync::Arc::new(HashingPool::new(&PoolConfig {
            workers: 2,
            queue: 3,
            wait: Duration::from_secs(5),
        }));
        let running = std::sync::Arc::new(AtomicUsize::new(0));
        let most = std::sync::Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..12)
            .map(|_| {
                let (pool, running, most) = (pool.clone(), running.clone(), most.clone());
                tokio::spawn(async move {
                    pool.run(move || {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(100));
                        running.fetch_sub(1, Ordering::SeqCst);
                    })
                    .await
                })
            })
            .collect();
        let mut done = 0;
        for t in tasks {
            if t.await.unwrap().is_ok() {
                done += 1;
            }
        }
        assert!(most.load(Ordering::SeqCst) <= 2, "at most two at once");
        assert!(
            (2..=5).contains(&done),
            "two running and three queued at most: {done}"
        );
    }
}
