//! Users, devices, enrolment codes, console sessions, reveals and reference data.

use ::postgres::types::Type;
use ::postgres::{GenericClient, Row, Transaction};
use bianmin_domain::{Catalog, Directory, Role, YearCalendar};
use bianmin_protocol::ReferenceData;
use uuid::Uuid;

use super::schema::LOCK_DEVICES;
use super::{Failure, backend, from_json, to_u64, unique_violation};
use crate::storage::{
    DeviceRecord, NewDevice, RevealRecord, SessionRecord, StorageError, TokenHolder, UserRecord,
};

const USER_COLUMNS: &str = "id, name, display_name, role, area, password_hash, created_at";
const DEVICE_COLUMNS: &str = "id, device_no, user_id, name, actor, enrolled_at, revoked_at";

/// Reads a user from `row`, starting at column `at` (in [`USER_COLUMNS`] order).
fn user_at(row: &Row, at: usize) -> Result<UserRecord, Failure> {
    let role: String = row.try_get(at + 3)?;
    Ok(UserRecord {
        id: row.try_get(at)?,
        name: row.try_get(at + 1)?,
        display_name: row.try_get(at + 2)?,
        role: Role::parse(&role)
            .map_err(|e| Failure::Storage(backend(format!("stored role {role:?}: {e}"))))?,
        area: row.try_get(at + 4)?,
        password_hash: row.try_get(at + 5)?,
        created_at: row.try_get(at + 6)?,
    })
}

/// Reads a device from `row`, starting at column `at` (in [`DEVICE_COLUMNS`] order).
fn device_at(row: &Row, at: usize) -> Result<DeviceRecord, Failure> {
    let device_no: i64 = row.try_get(at + 1)?;
    Ok(DeviceRecord {
        id: row.try_get(at)?,
        device_no: u32::try_from(device_no)
            .map_err(|_| Failure::Storage(backend(format!("stored device number {device_no}"))))?,
        user_id: row.try_get(at + 2)?,
        name: row.try_get(at + 3)?,
        actor: row.try_get(at + 4)?,
        enrolled_at: row.try_get(at + 5)?,
        revoked_at: row.try_get(at + 6)?,
    })
}

/// The user whose `column` (`id` or `name`) is `key`.
pub(super) fn user_where(
    c: &mut impl GenericClient,
    column: &'static str,
    key: &str,
) -> Result<Option<UserRecord>, Failure> {
    debug_assert!(matches!(column, "id" | "name"));
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE {column} = $1");
    c.query_typed_opt(&sql, &[(&key, Type::TEXT)])?
        .map(|r| user_at(&r, 0))
        .transpose()
}

pub(super) fn users(c: &mut ::postgres::Client) -> Result<Vec<UserRecord>, Failure> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY name");
    c.query_typed(&sql, &[])?
        .iter()
        .map(|r| user_at(r, 0))
        .collect()
}

pub(super) fn add_user(tx: &mut Transaction<'_>, user: &UserRecord) -> Result<(), Failure> {
    let sql = format!("INSERT INTO users ({USER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)");
    let inserted = tx.execute_typed(
        &sql,
        &[
            (&user.id, Type::TEXT),
            (&user.name, Type::TEXT),
            (&user.display_name, Type::TEXT),
            (&user.role.as_str(), Type::TEXT),
            (&user.area, Type::TEXT),
            (&user.password_hash, Type::TEXT),
            (&user.created_at, Type::INT8),
        ],
    );
    match inserted {
        Ok(_) => Ok(()),
        Err(e) => Err(match unique_violation(&e) {
            Some("users_pkey") => StorageError::Duplicate(format!("user id {}", user.id)).into(),
            Some(_) => StorageError::Duplicate(format!("user name {}", user.name)).into(),
            None => e.into(),
        }),
    }
}

pub(super) fn set_password(
    tx: &mut Transaction<'_>,
    user_id: &str,
    hash: Option<&str>,
) -> Result<(), Failure> {
    let changed = tx.execute_typed(
        "UPDATE users SET password_hash = $1 WHERE id = $2",
        &[(&hash, Type::TEXT), (&user_id, Type::TEXT)],
    )?;
    if changed != 1 {
        return Err(StorageError::NotFound(format!("user {user_id}")).into());
    }
    delete_user_sessions(tx, user_id)?;
    Ok(())
}

pub(super) fn save_session(
    tx: &mut Transaction<'_>,
    session: &SessionRecord,
) -> Result<(), Failure> {
    tx.execute_typed(
        "INSERT INTO console_sessions (key, user_id, csrf, created_at, seen_at)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (key) DO UPDATE SET user_id = EXCLUDED.user_id, csrf = EXCLUDED.csrf,
            created_at = EXCLUDED.created_at, seen_at = EXCLUDED.seen_at",
        &[
            (&session.key, Type::TEXT),
            (&session.user_id, Type::TEXT),
            (&session.csrf, Type::TEXT),
            (&session.created_at, Type::INT8),
            (&session.seen_at, Type::INT8),
        ],
    )?;
    Ok(())
}

pub(super) fn session(
    c: &mut ::postgres::Client,
    key: &str,
) -> Result<Option<SessionRecord>, Failure> {
    let row = c.query_typed_opt(
        "SELECT key, user_id, csrf, created_at, seen_at FROM console_sessions WHERE key = $1",
        &[(&key, Type::TEXT)],
    )?;
    let Some(r) = row else { return Ok(None) };
    Ok(Some(SessionRecord {
        key: r.try_get(0)?,
        user_id: r.try_get(1)?,
        csrf: r.try_get(2)?,
        created_at: r.try_get(3)?,
        seen_at: r.try_get(4)?,
    }))
}

pub(super) fn delete_user_sessions(
    tx: &mut Transaction<'_>,
    user_id: &str,
) -> Result<usize, Failure> {
    let n = tx.execute_typed(
        "DELETE FROM console_sessions WHERE user_id = $1",
        &[(&user_id, Type::TEXT)],
    )?;
    Ok(usize::try_from(n).unwrap_or(usize::MAX))
}

pub(super) fn add_enrolment_code(
    tx: &mut Transaction<'_>,
    code_hash: &str,
    user_id: &str,
    expires_at: i64,
) -> Result<(), Failure> {
    if user_where(tx, "id", user_id)?.is_none() {
        return Err(StorageError::NotFound(format!("user {user_id}")).into());
    }
    tx.execute_typed(
        "INSERT INTO enrolment_codes (code_hash, user_id, expires_at) VALUES ($1, $2, $3)",
        &[
            (&code_hash, Type::TEXT),
            (&user_id, Type::TEXT),
            (&expires_at, Type::INT8),
        ],
    )
    .map_err(|e| match unique_violation(&e) {
        Some(_) => StorageError::Duplicate("enrolment code".into()).into(),
        None => Failure::from(e),
    })?;
    Ok(())
}

/// Marks the code used if it is valid at `now`; the user it was made for.
fn use_code(tx: &mut Transaction<'_>, code_hash: &str, now: i64) -> Result<String, Failure> {
    let row = tx.query_typed_opt(
        "UPDATE enrolment_codes SET used_at = $1
         WHERE code_hash = $2 AND used_at IS NULL AND expires_at > $1
         RETURNING user_id",
        &[(&now, Type::INT8), (&code_hash, Type::TEXT)],
    )?;
    match row {
        Some(r) => Ok(r.try_get(0)?),
        None => Err(StorageError::CodeInvalid.into()),
    }
}

pub(super) fn redeem_enrolment_code(
    tx: &mut Transaction<'_>,
    lock_scope: i32,
    code_hash: &str,
    device: &NewDevice,
) -> Result<(DeviceRecord, UserRecord), Failure> {
    // Device numbers are the largest so far plus one: hubs sharing the database take them one
    // at a time (released at commit or rollback).
    tx.query_typed(
        "SELECT pg_advisory_xact_lock($1, $2)",
        &[(&LOCK_DEVICES, Type::INT4), (&lock_scope, Type::INT4)],
    )?;
    let user_id = use_code(tx, code_hash, device.now)?;
    let user = user_where(tx, "id", &user_id)?.ok_or_else(|| {
        Failure::Storage(backend(format!("enrolment code of unknown user {user_id}")))
    })?;
    let last: i64 = tx
        .query_typed_one("SELECT COALESCE(max(device_no), 0) FROM devices", &[])?
        .try_get(0)?;
    let device_no = u32::try_from(last + 1)
        .map_err(|_| Failure::Storage(backend("device numbers are exhausted")))?;
    let record = DeviceRecord {
        id: Uuid::new_v4().to_string(),
        device_no,
        user_id,
        name: device.name.clone(),
        actor: device.actor.clone(),
        enrolled_at: device.now,
        revoked_at: None,
    };
    insert_device(tx, &record, &device.token_hash)?;
    Ok((record, user))
}

fn insert_device(
    tx: &mut Transaction<'_>,
    record: &DeviceRecord,
    token_hash: &str,
) -> Result<(), Failure> {
    tx.execute_typed(
        "INSERT INTO devices (id, device_no, user_id, name, token_hash, actor, enrolled_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            (&record.id, Type::TEXT),
            (&i64::from(record.device_no), Type::INT8),
            (&record.user_id, Type::TEXT),
            (&record.name, Type::TEXT),
            (&token_hash, Type::TEXT),
            (&record.actor, Type::TEXT),
            (&record.enrolled_at, Type::INT8),
        ],
    )
    .map_err(|e| match unique_violation(&e) {
        Some("devices_actor_key") => {
            StorageError::Duplicate(format!("device actor {}", record.actor)).into()
        }
        Some("devices_token_hash_key") => StorageError::Duplicate("device token".into()).into(),
        Some(other) => StorageError::Duplicate(other.to_string()).into(),
        None => Failure::from(e),
    })?;
    Ok(())
}

pub(super) fn token_holder(
    c: &mut ::postgres::Client,
    token_hash: &str,
) -> Result<Option<TokenHolder>, Failure> {
    let row = c.query_typed_opt(
        "SELECT d.id, d.device_no, d.user_id, d.name, d.actor, d.enrolled_at, d.revoked_at,
                u.id, u.name, u.display_name, u.role, u.area, u.password_hash, u.created_at,
                u.deactivated_at
         FROM devices d JOIN users u ON u.id = d.user_id
         WHERE d.token_hash = $1",
        &[(&token_hash, Type::TEXT)],
    )?;
    row.map(|r| {
        Ok(TokenHolder {
            device: device_at(&r, 0)?,
            user: user_at(&r, 7)?,
            deactivated_at: r.try_get(14)?,
        })
    })
    .transpose()
}

pub(super) fn devices(c: &mut ::postgres::Client) -> Result<Vec<DeviceRecord>, Failure> {
    let sql = format!("SELECT {DEVICE_COLUMNS} FROM devices ORDER BY device_no");
    c.query_typed(&sql, &[])?
        .iter()
        .map(|r| device_at(r, 0))
        .collect()
}

pub(super) fn revoke_device(
    tx: &mut Transaction<'_>,
    device_id: &str,
    at: i64,
) -> Result<bool, Failure> {
    let changed = tx.execute_typed(
        "UPDATE devices SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
        &[(&at, Type::INT8), (&device_id, Type::TEXT)],
    )?;
    if changed == 1 {
        return Ok(true);
    }
    let exists = tx
        .query_typed_opt(
            "SELECT 1 FROM devices WHERE id = $1",
            &[(&device_id, Type::TEXT)],
        )?
        .is_some();
    if exists {
        Ok(false)
    } else {
        Err(StorageError::NotFound(format!("device {device_id}")).into())
    }
}

/// The reference data: the row and the calendars read by one statement (one snapshot).
pub(super) fn reference(c: &mut ::postgres::Client) -> Result<Option<ReferenceData>, Failure> {
    let row = c.query_typed_one(
        "SELECT version, catalog, directory,
            ARRAY(SELECT calendar FROM calendars ORDER BY year)
         FROM reference WHERE id = 1",
        &[],
    )?;
    let version: i64 = row.try_get(0)?;
    let catalog: Option<String> = row.try_get(1)?;
    let directory: Option<String> = row.try_get(2)?;
    let (Some(catalog), Some(directory)) = (catalog, directory) else {
        return Ok(None);
    };
    let calendars = row
        .try_get::<_, Vec<String>>(3)?
        .iter()
        .map(|json| from_json::<YearCalendar>("calendar", json))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(ReferenceData {
        version: to_u64(version)?,
        catalog: from_json::<Catalog>("catalog", &catalog)?,
        directory: from_json::<Directory>("directory", &directory)?,
        calendars,
    }))
}

/// The parts of the reference data to replace, encoded.
#[derive(Debug)]
pub(super) struct ReferenceParts<'a> {
    pub catalog: Option<&'a str>,
    pub directory: Option<&'a str>,
    pub calendar: Option<(i32, &'a str)>,
}

pub(super) fn set_reference(
    tx: &mut Transaction<'_>,
    parts: &ReferenceParts<'_>,
) -> Result<u64, Failure> {
    if let Some(json) = parts.catalog {
        tx.execute_typed(
            "UPDATE reference SET catalog = $1 WHERE id = 1",
            &[(&json, Type::TEXT)],
        )?;
    }
    if let Some(json) = parts.directory {
        tx.execute_typed(
            "UPDATE reference SET directory = $1 WHERE id = 1",
            &[(&json, Type::TEXT)],
        )?;
    }
    if let Some((year, json)) = parts.calendar {
        tx.execute_typed(
            "INSERT INTO calendars (year, calendar) VALUES ($1, $2)
             ON CONFLICT (year) DO UPDATE SET calendar = EXCLUDED.calendar",
            &[(&year, Type::INT4), (&json, Type::TEXT)],
        )?;
    }
    let version: i64 = tx
        .query_typed_one(
            "UPDATE reference SET version = version + 1 WHERE id = 1 RETURNING version",
            &[],
        )?
        .try_get(0)?;
    to_u64(version)
}

pub(super) fn record_reveal(
    tx: &mut Transaction<'_>,
    reveal: &RevealRecord,
) -> Result<(), Failure> {
    tx.execute_typed(
        "INSERT INTO reveal_log (doc_id, user_id, field, at) VALUES ($1, $2, $3, $4)",
        &[
            (&reveal.doc_id, Type::UUID),
            (&reveal.user_id, Type::TEXT),
            (&reveal.field, Type::TEXT),
            (&reveal.at, Type::INT8),
        ],
    )?;
    Ok(())
}

pub(super) fn reveals(
    c: &mut ::postgres::Client,
    doc_id: Uuid,
) -> Result<Vec<RevealRecord>, Failure> {
    c.query_typed(
        "SELECT user_id, field, at FROM reveal_log WHERE doc_id = $1 ORDER BY seq",
        &[(&doc_id, Type::UUID)],
    )?
    .iter()
    .map(|r| {
        Ok(RevealRecord {
            doc_id,
            user_id: r.try_get(0)?,
            field: r.try_get(1)?,
            at: r.try_get(2)?,
        })
    })
    .collect()
}
