//! Users' console access and display names on SQLite (see the trait's documentation): writes
//! inside the writer's immediate transaction. SQLite has one writer, so the check that an
//! administrator who can sign in remains and the change itself are never interleaved with
//! another change.

use rusqlite::{OptionalExtension, Transaction, params};

use super::Db;
use crate::storage::{AccessChange, AccessChanged, Result, StorageError};

fn not_found(user_id: &str) -> StorageError {
    StorageError::NotFound(format!("user {user_id}"))
}

/// Sets or removes a user's password and ends their console sessions.
pub(super) fn set_password(tx: &Transaction<'_>, user_id: &str, hash: Option<&str>) -> Result<()> {
    let changed = tx
        .prepare_cached("UPDATE users SET password_hash = ?1 WHERE id = ?2")
        .db()?
        .execute(params![hash, user_id])
        .db()?;
    if changed != 1 {
        return Err(not_found(user_id));
    }
    tx.prepare_cached("DELETE FROM console_sessions WHERE user_id = ?1")
        .db()?
        .execute([user_id])
        .db()?;
    Ok(())
}

/// Deactivates (ending the user's sessions and voiding their unused activation code) or
/// reactivates a user; whether that changed anything.
pub(super) fn set_deactivated(
    tx: &Transaction<'_>,
    user_id: &str,
    at: Option<i64>,
) -> Result<bool> {
    let current: Option<Option<i64>> = tx
        .prepare_cached("SELECT deactivated_at FROM users WHERE id = ?1")
        .db()?
        .query_row([user_id], |r| r.get(0))
        .optional()
        .db()?;
    let Some(current) = current else {
        return Err(not_found(user_id));
    };
    if current.is_some() == at.is_some() {
        return Ok(false);
    }
    tx.prepare_cached("UPDATE users SET deactivated_at = ?1 WHERE id = ?2")
        .db()?
        .execute(params![at, user_id])
        .db()?;
    if at.is_some() {
        tx.prepare_cached("DELETE FROM console_sessions WHERE user_id = ?1")
            .db()?
            .execute([user_id])
            .db()?;
        tx.prepare_cached("DELETE FROM activation_codes WHERE user_id = ?1 AND used_at IS NULL")
            .db()?
            .execute([user_id])
            .db()?;
    }
    Ok(true)
}

/// Whether the user is an administrator who can sign in and no other administrator can.
fn last_administrator(tx: &Transaction<'_>, user_id: &str) -> Result<bool> {
    let signs_in: Option<bool> = tx
        .prepare_cached(
            "SELECT role = 'administrator' AND password_hash IS NOT NULL
                    AND deactivated_at IS NULL
             FROM users WHERE id = ?1",
        )
        .db()?
        .query_row([user_id], |r| r.get(0))
        .optional()
        .db()?;
    match signs_in {
        None => Err(not_found(user_id)),
        Some(false) => Ok(false),
        Some(true) => {
            let others: i64 = tx
                .prepare_cached(
                    "SELECT COUNT(*) FROM users
                     WHERE role = 'administrator' AND password_hash IS NOT NULL
                       AND deactivated_at IS NULL AND id <> ?1",
                )
                .db()?
                .query_row([user_id], |r| r.get(0))
                .db()?;
            Ok(others == 0)
        }
    }
}

pub(super) fn change_access(
    tx: &Transaction<'_>,
    user_id: &str,
    change: AccessChange<'_>,
) -> Result<AccessChanged> {
    if change.takes_away() && last_administrator(tx, user_id)? {
        return Ok(AccessChanged::LastAdministrator);
    }
    match change {
        AccessChange::Password(hash) => {
            set_password(tx, user_id, hash)?;
            Ok(AccessChanged::Done(true))
        }
        AccessChange::Deactivated(at) => Ok(AccessChanged::Done(set_deactivated(tx, user_id, at)?)),
    }
}

pub(super) fn set_display_name(
    tx: &Transaction<'_>,
    user_id: &str,
    display_name: &str,
) -> Result<()> {
    let changed = tx
        .prepare_cached("UPDATE users SET display_name = ?1 WHERE id = ?2")
        .db()?
        .execute(params![display_name, user_id])
        .db()?;
    match changed {
        1 => Ok(()),
        _ => Err(not_found(user_id)),
    }
}
