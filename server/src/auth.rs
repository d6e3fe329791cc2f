//! Device authentication: random tokens stored only as SHA-256 hashes, and the extractor that
//! turns `Authorization: Bearer <token>` into the calling device and its user: refused when
//! the token is unknown, the device revoked, or its user a deactivated staff user.

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use bianmin_domain::Identity;
use rand::Rng;
use sha2::{Digest, Sha256};

use crate::AppState;
use crate::error::AppError;
use crate::storage::{DeviceRecord, Storage, StorageError, UserRecord};

/// A new random secret of 256 bits, as URL-safe text.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// A short one-time enrolment code a clerk can type: 10 characters from an alphabet without
/// look-alikes (about 50 bits), valid for a limited time and for one use.
pub fn new_enrolment_code() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    (0..10)
        .map(|i| {
            let c = ALPHABET[(rng.next_u32() as usize) % ALPHABET.len()] as char;
            if i == 5 {
                format!("-{c}")
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// The hex SHA-256 of a secret (codes are normalised: case and dashes ignored).
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Normalises a typed enrolment code before hashing.
pub fn normalise_code(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// Whether the device holding a token may use the hub.
#[derive(Debug, Clone)]
pub enum Standing {
    /// Yes: the device and its user.
    Allowed(Box<(DeviceRecord, UserRecord)>),
    /// No device holds the token.
    Unknown,
    /// The device was revoked.
    Revoked,
    /// Its user is a staff user (a clerk, a reviewer, an administrator) whose account is
    /// deactivated: refused until the account is reactivated (see
    /// [`crate::admin::deactivate_user`]). Revoking the device instead would strand its
    /// unsynced work for good; this keeps it for a reactivation.
    AccountDeactivated,
}

/// The [`Standing`] of the device with this token hash, as stored now. Blocking (storage).
pub fn device_standing(storage: &dyn Storage, token_hash: &str) -> Result<Standing, StorageError> {
    let Some(holder) = storage.token_holder(token_hash)? else {
        return Ok(Standing::Unknown);
    };
    if holder.device.revoked_at.is_some() {
        return Ok(Standing::Revoked);
    }
    if crate::admin::devices_follow_account(holder.user.role) && holder.deactivated_at.is_some() {
        return Ok(Standing::AccountDeactivated);
    }
    Ok(Standing::Allowed(Box::new((holder.device, holder.user))))
}

/// The device that made a request, authenticated by its token.
#[derive(Debug, Clone)]
pub struct AuthedDevice {
    /// The device.
    pub device: DeviceRecord,
    /// Its user.
    pub user: UserRecord,
    /// The identity its changes are checked against.
    pub identity: Identity,
    /// The hash of the token it presented (to check it again later, e.g. on a long stream).
    pub token_hash: String,
}

impl FromRequestParts<AppState> for AuthedDevice {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                AppError::unauthorized("send the device token as 'Authorization: Bearer <token>'")
            })?;
        let token = header
            .strip_prefix("Bearer ")
            .ok_or_else(|| {
                AppError::unauthorized("the Authorization header must be 'Bearer <token>'")
            })?
            .trim();
        let token_hash = hash_secret(token);
        let (storage, hash) = (state.storage.clone(), token_hash.clone());
        let found = tokio::task::spawn_blocking(move || device_standing(storage.as_ref(), &hash))
            .await
            .map_err(AppError::internal)??;
        let (device, user) = match found {
            Standing::Allowed(found) => *found,
            Standing::Unknown => {
                return Err(AppError::unauthorized(
                    "unknown device token: enrol the device again",
                ));
            }
            Standing::Revoked => {
                return Err(AppError::new(
                    StatusCode::FORBIDDEN,
                    "device_revoked",
                    "this device was revoked by an administrator: its unsynced work stays on \
                     it; ask for a new enrolment",
                ));
            }
            Standing::AccountDeactivated => {
                return Err(AppError::new(
                    StatusCode::FORBIDDEN,
                    "account_deactivated",
                    "this device's user account was deactivated by an administrator: its \
                     unsynced work stays on it and is sent once the account is reactivated",
                ));
            }
        };
        let identity = Identity {
            user: user.id.clone(),
            role: user.role,
            area: user.area.clone(),
            device: device.id.clone(),
        };
        Ok(AuthedDevice {
            device,
            user,
            identity,
            token_hash,
        })
    }
}
