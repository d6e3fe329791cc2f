//! Console passwords: Argon2id (the `argon2` crate's defaults: 19 MiB, 2 passes, 1 lane, the
//! parameters OWASP recommends), stored as PHC strings (`$argon2id$v=19$m=19456,t=2,p=1$...`) in
//! [`UserRecord::password_hash`](crate::storage::UserRecord::password_hash). Verification reads
//! the parameters from the stored string, so raising them later keeps old hashes working.
//!
//! Hashing takes tens of milliseconds on purpose: call these from blocking threads.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Argon2, Params};
use rand::RngCore;

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
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
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
}
