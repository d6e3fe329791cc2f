//! Administration: users (display names, console passwords, deactivation), enrolment codes,
//! resident accounts (activation codes), devices, Open311 API keys and reference data. Used by the `bianmin-server` subcommands on a
//! data directory and by the console's administration pages.

use std::time::Duration;

use bianmin_domain::{
    Catalog, Directory, Identity, Role, ServiceItem, ValidationError, YearCalendar,
};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::auth;
use crate::password::{self, PasswordError};
use crate::storage::{
    AccessChange, AccessChanged, DeviceRecord, Open311Key, Storage, StorageError, UserRecord,
};

/// Why an administrative action failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// Bad input: the field and the rule.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// Storage said no.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The password was not accepted.
    #[error(transparent)]
    Password(#[from] PasswordError),
    /// Refused, nothing changed: the user is the last administrator who can sign in to the
    /// console, and the change would leave none (see [`Storage::change_access`]).
    #[error(
        "refused: this is the last administrator who can sign in to the console; give another \
         administrator a password first"
    )]
    LastAdministrator,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Adds a user with a role over an area (village code for residents and clerks, township code
/// for reviewers, county code for administrators). The area must exist in the loaded directory.
pub fn add_user(
    storage: &dyn Storage,
    name: &str,
    display_name: &str,
    role: Role,
    area: &str,
) -> Result<UserRecord, AdminError> {
    let name = name.trim();
    if name.is_empty()
        || name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err(ValidationError::new(
            "name",
            "must be 1 to 64 letters, digits, '-', '_' or '.'",
        )
        .into());
    }
    if !display_name.trim().is_empty() {
        check_display_name(display_name)?;
    }
    let id = format!("u-{}", Uuid::new_v4().simple());
    Identity::new(&id, role, area, "-")?;
    if let Some(reference) = storage.reference()? {
        let dir = &reference.directory;
        let known = match role {
            Role::Resident | Role::Clerk => dir.village(area).is_some(),
            Role::Reviewer => dir.townships.iter().any(|t| t.code == area),
            Role::Administrator => dir.county.code == area,
        };
        if !known {
            return Err(
                ValidationError::new("area", "is not in the loaded village directory").into(),
            );
        }
    }
    let user = UserRecord {
        id,
        name: name.to_string(),
        display_name: if display_name.trim().is_empty() {
            name.to_string()
        } else {
            display_name.trim().to_string()
        },
        role,
        area: area.to_string(),
        password_hash: None,
        created_at: now_ms(),
    };
    storage.add_user(&user)?;
    tracing::info!(user = %user.id, role = %role, "user added");
    Ok(user)
}

/// The longest display name, in characters.
pub const MAX_DISPLAY_NAME: usize = 100;

/// Checks a display name (the name shown on requests and pages): 1 to [`MAX_DISPLAY_NAME`]
/// characters once trimmed, without control characters. The error's field is `display_name`.
pub fn check_display_name(display_name: &str) -> Result<(), ValidationError> {
    let name = display_name.trim();
    if name.is_empty()
        || name.chars().count() > MAX_DISPLAY_NAME
        || name.chars().any(char::is_control)
    {
        return Err(ValidationError::new(
            "display_name",
            format!("must be 1 to {MAX_DISPLAY_NAME} characters, without control characters"),
        ));
    }
    Ok(())
}

/// Changes the display name of the user named `user_name` (checked by
/// [`check_display_name`], stored trimmed). Only the name shown changes: the user's id, sign-in
/// name, role and area stay, and so do the events the user made (pages show the name stored
/// now; a request a resident filed keeps the applicant's name it recorded).
pub fn set_display_name(
    storage: &dyn Storage,
    user_name: &str,
    display_name: &str,
) -> Result<UserRecord, AdminError> {
    check_display_name(display_name)?;
    let user = user_named(storage, user_name)?;
    let display_name = display_name.trim().to_string();
    storage.set_display_name(&user.id, &display_name)?;
    tracing::info!(user = %user.id, "display name changed");
    Ok(UserRecord {
        display_name,
        ..user
    })
}

/// Issues a one-time enrolment code for a user's device, valid for `valid_for`. Only the code's
/// hash is stored: the code is shown once. Refused for a deactivated staff user (their devices
/// are refused until they are reactivated).
pub fn issue_enrolment_code(
    storage: &dyn Storage,
    user_name: &str,
    valid_for: Duration,
) -> Result<String, AdminError> {
    let user = storage
        .user_by_name(user_name)?
        .ok_or_else(|| StorageError::NotFound(format!("user '{user_name}'")))?;
    if user.role != Role::Resident && storage.account_status(&user.id)?.deactivated_at.is_some() {
        return Err(ValidationError::new(
            "account",
            "is deactivated: reactivate it before enrolling a device",
        )
        .into());
    }
    let code = auth::new_enrolment_code();
    let expires = now_ms() + valid_for.as_millis() as i64;
    storage.add_enrolment_code(
        &auth::hash_secret(&auth::normalise_code(&code)),
        &user.id,
        expires,
    )?;
    Ok(code)
}

/// Sets (or, with `None`, removes) the console password of the user named `user_name`: only
/// its Argon2id hash is stored, and the user's sessions end. Any role may hold one; only
/// reviewers and administrators may sign in to the console with it. Removing the password of
/// the last administrator who can sign in is refused ([`AdminError::LastAdministrator`]).
pub fn set_password(
    storage: &dyn Storage,
    user_name: &str,
    password: Option<&str>,
) -> Result<UserRecord, AdminError> {
    let user = storage
        .user_by_name(user_name)?
        .ok_or_else(|| StorageError::NotFound(format!("user '{user_name}'")))?;
    let hash = password.map(password::hash).transpose()?;
    match storage.change_access(&user.id, AccessChange::Password(hash.as_deref()))? {
        AccessChanged::Done(_) => {}
        AccessChanged::LastAdministrator => {
            tracing::warn!(user = %user.id, "removing the last administrator's password refused");
            return Err(AdminError::LastAdministrator);
        }
    }
    tracing::info!(user = %user.id, set = hash.is_some(), "console password changed");
    Ok(UserRecord {
        password_hash: hash,
        ..user
    })
}

/// The password `serve --demo` gives the demo reviewer and administrator.
pub const DEMO_PASSWORD: &str = "bianmin-demo";

/// The demo users who may sign in to the console.
pub const DEMO_CONSOLE_USERS: [&str; 2] = ["reviewer-taiping", "admin"];

/// Gives the demo reviewer and administrator [`DEMO_PASSWORD`] unless they already have a
/// password. Returns, for each, whether [`DEMO_PASSWORD`] signs them in (`false` once someone
/// changed it).
pub fn set_demo_passwords(storage: &dyn Storage) -> Result<Vec<(String, bool)>, AdminError> {
    let mut out = Vec::new();
    for name in DEMO_CONSOLE_USERS {
        let Some(user) = storage.user_by_name(name)? else {
            continue;
        };
        let works = match &user.password_hash {
            None => {
                set_password(storage, name, Some(DEMO_PASSWORD))?;
                true
            }
            Some(hash) => password::verify(DEMO_PASSWORD, hash),
        };
        out.push((name.to_string(), works));
    }
    Ok(out)
}

/// How long a resident's activation code works unless said otherwise: two weeks, time for the
/// code printed at the service point to reach the resident's phone.
pub const ACTIVATION_VALIDITY: Duration = Duration::from_secs(14 * 24 * 3600);

/// A resident's one-time activation code, shown once (only its hash is stored).
#[derive(Debug, Clone)]
pub struct ActivationCode {
    /// The code, `ABCDE-FGHJK`: printed or read out to the resident.
    pub code: String,
    /// The resident.
    pub user: UserRecord,
    /// It works strictly before this time, milliseconds since the Unix epoch.
    pub expires_at: i64,
}

fn user_named(storage: &dyn Storage, user_name: &str) -> Result<UserRecord, AdminError> {
    Ok(storage
        .user_by_name(user_name)?
        .ok_or_else(|| StorageError::NotFound(format!("user '{user_name}'")))?)
}

/// Resident accounts only: staff sign in with passwords an administrator sets.
fn resident_only(user: &UserRecord) -> Result<(), AdminError> {
    if user.role == Role::Resident {
        Ok(())
    } else {
        Err(ValidationError::new(
            "role",
            "must be resident: activation codes are for resident accounts \
             (staff: an administrator sets the console password)",
        )
        .into())
    }
}

/// Opens (or resets) the account of the resident named `user_name`: issues a one-time
/// activation code valid for `valid_for`, with which the resident chooses a password on
/// `/resident/activate`. The resident's earlier unused code stops working; a password set
/// before keeps working until the new code is used. Refused for other roles and for a
/// deactivated account (reactivate it first). Only the code's hash is stored: it is shown once.
pub fn issue_activation_code(
    storage: &dyn Storage,
    user_name: &str,
    valid_for: Duration,
) -> Result<ActivationCode, AdminError> {
    let user = user_named(storage, user_name)?;
    resident_only(&user)?;
    if storage.account_status(&user.id)?.deactivated_at.is_some() {
        return Err(ValidationError::new(
            "account",
            "is deactivated: reactivate it before issuing an activation code",
        )
        .into());
    }
    let code = auth::new_enrolment_code();
    let now = now_ms();
    let expires_at = now.saturating_add(i64::try_from(valid_for.as_millis()).unwrap_or(i64::MAX));
    storage.add_activation_code(
        &auth::hash_secret(&auth::normalise_code(&code)),
        &user.id,
        now,
        expires_at,
    )?;
    tracing::info!(user = %user.id, "resident activation code issued");
    Ok(ActivationCode {
        code,
        user,
        expires_at,
    })
}

/// Deactivates the account named `user_name`, of any role: it can no longer sign in (the
/// console, the resident pages), its open sessions end and its unused activation code stops
/// working. A staff user's devices (clerks', reviewers', administrators') are refused from their
/// next request until the account is reactivated, their unsynced work kept on them; a
/// resident's devices keep syncing (revoke them separately). Deactivating the last
/// administrator who can sign in is refused ([`AdminError::LastAdministrator`]). Returns
/// `false` if it was deactivated already.
pub fn deactivate_user(storage: &dyn Storage, user_name: &str) -> Result<bool, AdminError> {
    let user = user_named(storage, user_name)?;
    match storage.change_access(&user.id, AccessChange::Deactivated(Some(now_ms())))? {
        AccessChanged::Done(changed) => {
            tracing::info!(user = %user.id, role = %user.role, changed, "account deactivated");
            Ok(changed)
        }
        AccessChanged::LastAdministrator => {
            tracing::warn!(user = %user.id, "deactivating the last administrator refused");
            Err(AdminError::LastAdministrator)
        }
    }
}

/// Reactivates the account named `user_name`: its password works again, and a staff user's
/// devices sync again. Returns `false` if it was not deactivated.
pub fn reactivate_user(storage: &dyn Storage, user_name: &str) -> Result<bool, AdminError> {
    let user = user_named(storage, user_name)?;
    let changed = storage.set_deactivated(&user.id, None)?;
    tracing::info!(user = %user.id, role = %user.role, changed, "account reactivated");
    Ok(changed)
}

/// Whether `user` is the last administrator who can sign in to the console (active, with a
/// password): removing their password or deactivating them would be refused. For what pages
/// show; the refusal itself is decided by the storage, in the change's transaction.
pub fn is_last_administrator(storage: &dyn Storage, user: &UserRecord) -> Result<bool, AdminError> {
    let signs_in = |u: &UserRecord| -> Result<bool, AdminError> {
        Ok(u.role == Role::Administrator
            && u.password_hash.is_some()
            && storage.account_status(&u.id)?.deactivated_at.is_none())
    };
    if !signs_in(user)? {
        return Ok(false);
    }
    for other in storage.users()? {
        if other.id != user.id && signs_in(&other)? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Whether a deactivated account's devices are refused: staff's are, residents' are not (see
/// [`deactivate_user`]).
pub fn devices_follow_account(role: Role) -> bool {
    role != Role::Resident
}

/// The devices a deactivation stops: the user's devices not revoked, if their role's devices
/// follow the account ([`devices_follow_account`]), by number.
pub fn devices_stopped_by_deactivation(
    storage: &dyn Storage,
    user: &UserRecord,
) -> Result<Vec<DeviceRecord>, AdminError> {
    if !devices_follow_account(user.role) {
        return Ok(Vec::new());
    }
    Ok(storage
        .devices()?
        .into_iter()
        .filter(|d| d.user_id == user.id && d.revoked_at.is_none())
        .collect())
}

/// Revokes a device: its next request is refused.
pub fn revoke_device(storage: &dyn Storage, device_id: &str) -> Result<bool, AdminError> {
    Ok(storage.revoke_device(device_id, now_ms())?)
}

/// The longest name of an application holding an Open311 key, in characters.
pub const MAX_OPEN311_KEY_NAME: usize = 100;

/// An Open311 API key just issued: the key itself, shown this once (only its hash is stored),
/// and its record.
#[derive(Clone)]
pub struct IssuedOpen311Key {
    /// The key, 64 hexadecimal characters: given to the application, sent as `api_key`.
    pub key: String,
    /// What is stored of it.
    pub record: Open311Key,
}

impl std::fmt::Debug for IssuedOpen311Key {
    // Never the key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedOpen311Key")
            .field("record", &self.record)
            .finish_non_exhaustive()
    }
}

/// Issues an Open311 API key to the application named `name`, for filing requests in the
/// villages of `township` (a 9-digit township code of the loaded directory) through
/// `POST /open311/v2/requests`. Only the key's hash is stored: the key is returned this once.
pub fn issue_open311_key(
    storage: &dyn Storage,
    township: &str,
    name: &str,
) -> Result<IssuedOpen311Key, AdminError> {
    let name = name.trim();
    if name.is_empty()
        || name.chars().count() > MAX_OPEN311_KEY_NAME
        || name.chars().any(char::is_control)
    {
        return Err(ValidationError::new(
            "name",
            format!(
                "must be 1 to {MAX_OPEN311_KEY_NAME} characters, without control characters: \
                 the application's name"
            ),
        )
        .into());
    }
    let township = township.trim();
    if township.len() != 9 || !township.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ValidationError::new("township", "must be a 9-digit township code").into());
    }
    let Some(reference) = storage.reference()? else {
        return Err(ValidationError::new(
            "township",
            "cannot be checked: load the village directory first",
        )
        .into());
    };
    if !reference
        .directory
        .townships
        .iter()
        .any(|t| t.code == township)
    {
        return Err(
            ValidationError::new("township", "is not in the loaded village directory").into(),
        );
    }
    let key = auth::new_token();
    let record = storage.add_open311_key(&auth::hash_secret(&key), township, name, now_ms())?;
    tracing::info!(key = record.id, township = %record.township, "Open311 key issued");
    Ok(IssuedOpen311Key { key, record })
}

/// Revokes the Open311 key numbered `id`: every request sent with it from now on is refused
/// (403), and a filing under way with it is refused by the check. Returns `false` if it was
/// revoked already. What the application filed before stays.
pub fn revoke_open311_key(storage: &dyn Storage, id: u64) -> Result<bool, AdminError> {
    let changed = storage.revoke_open311_key(id, now_ms())?;
    tracing::info!(key = id, changed, "Open311 key revoked");
    Ok(changed)
}

/// Loads a service-item catalog (JSON in the format of `domain/demo/service-items.json`).
pub fn load_catalog(storage: &dyn Storage, json: &str) -> Result<u64, AdminError> {
    let catalog = Catalog::from_json(json)?;
    Ok(storage.set_reference(Some(&catalog), None, None)?)
}

/// A fingerprint of a service item as stored (hex SHA-256 of its JSON): an edit form carries
/// the fingerprint of the item it showed, so that [`replace_item`] can tell whether someone
/// changed the item since.
pub fn item_fingerprint(item: &ServiceItem) -> String {
    let json = serde_json::to_vec(item).unwrap_or_default();
    hex::encode(Sha256::digest(json))
}

/// Replaces one item of the loaded catalog (the one with `item.code`) by `item` and loads the
/// whole catalog again exactly as [`load_catalog`] loads a file: the same checks, a new
/// reference-data version, tablets receive it at their next sync. `shown` is the
/// [`item_fingerprint`] of the item the edit started from: if the stored item differs now
/// (another administrator saved it meanwhile), nothing is stored (field `item`). Returns the
/// new version.
pub fn replace_item(
    storage: &dyn Storage,
    item: &ServiceItem,
    shown: &str,
) -> Result<u64, AdminError> {
    let Some(reference) = storage.reference()? else {
        return Err(ValidationError::new("catalog", "is not loaded yet").into());
    };
    let mut catalog = reference.catalog;
    let slot = catalog
        .items
        .iter_mut()
        .find(|i| i.code == item.code)
        .ok_or_else(|| {
            ValidationError::new("item_code", "is not a service item of the loaded catalog")
        })?;
    if item_fingerprint(slot) != shown {
        return Err(ValidationError::new(
            "item",
            "was changed by someone else since the form was opened: open it again",
        )
        .into());
    }
    *slot = item.clone();
    let json = serde_json::to_string(&catalog)
        .map_err(|e| ValidationError::new("catalog", format!("cannot be written as JSON: {e}")))?;
    let version = load_catalog(storage, &json)?;
    tracing::info!(version, "service item replaced");
    Ok(version)
}

/// Loads a village directory (JSON in the format of `domain/demo/villages.json`).
pub fn load_directory(storage: &dyn Storage, json: &str) -> Result<u64, AdminError> {
    let directory = Directory::from_json(json)?;
    Ok(storage.set_reference(None, Some(&directory), None)?)
}

/// Loads one year's holiday calendar (JSON in the format of `domain/demo/calendar-2026.json`).
pub fn load_calendar(storage: &dyn Storage, json: &str) -> Result<u64, AdminError> {
    let calendar = YearCalendar::from_json(json)?;
    Ok(storage.set_reference(None, None, Some(&calendar))?)
}

/// A demo user and a fresh enrolment code for one of their devices.
#[derive(Debug, Clone)]
pub struct DemoUser {
    /// The user.
    pub user: UserRecord,
    /// A one-time enrolment code.
    pub code: String,
}

/// Loads the demo county, catalog and 2026 calendar (if no reference data exists) and one user
/// per role (if absent), and issues each a fresh enrolment code valid for a day.
pub fn load_demo(storage: &dyn Storage) -> Result<Vec<DemoUser>, AdminError> {
    use bianmin_domain::demo;
    if storage.reference()?.is_none() {
        storage.set_reference(Some(&demo::catalog()), Some(&demo::directory()), None)?;
        load_calendar(storage, demo::CALENDAR_2026_JSON)?;
    }
    let people = [
        ("resident-wang", "王秀英", Role::Resident, "370883101201"),
        ("clerk-east", "东村代办员 李娟", Role::Clerk, "370883101201"),
        (
            "reviewer-taiping",
            "太平镇审核员 张伟",
            Role::Reviewer,
            "370883101",
        ),
        ("admin", "示范县管理员 陈静", Role::Administrator, "370883"),
    ];
    let mut out = Vec::new();
    for (name, display, role, area) in people {
        let user = match storage.user_by_name(name)? {
            Some(u) => u,
            None => add_user(storage, name, display, role, area)?,
        };
        let code = issue_enrolment_code(storage, name, Duration::from_secs(24 * 3600))?;
        out.push(DemoUser { user, code });
    }
    Ok(out)
}
