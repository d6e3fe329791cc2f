//! Users' console access and display names (see the trait's documentation).
//!
//! A change that may take an administrator's sign-in away first locks every administrator's
//! row, in id order: two such changes (from two hub processes, or the command line beside a
//! hub) then run one after the other, and the second counts the administrators who can still
//! sign in after the first committed (each statement of a `READ COMMITTED` transaction sees
//! what was committed before it started).

use ::postgres::Transaction;
use ::postgres::types::Type;

use super::Failure;
use super::accounts::set_password;
use super::residents::set_deactivated;
use crate::storage::{AccessChange, AccessChanged, StorageError};

fn not_found(user_id: &str) -> Failure {
    StorageError::NotFound(format!("user {user_id}")).into()
}

/// Whether the user is an administrator who can sign in and no other administrator can.
fn last_administrator(tx: &mut Transaction<'_>, user_id: &str) -> Result<bool, Failure> {
    tx.query_typed(
        "SELECT id FROM users WHERE role = 'administrator' ORDER BY id FOR UPDATE",
        &[],
    )?;
    let row = tx.query_typed_opt(
        "SELECT role = 'administrator' AND password_hash IS NOT NULL AND deactivated_at IS NULL
         FROM users WHERE id = $1",
        &[(&user_id, Type::TEXT)],
    )?;
    let Some(row) = row else {
        return Err(not_found(user_id));
    };
    if !row.try_get::<_, bool>(0)? {
        return Ok(false);
    }
    let others: i64 = tx
        .query_typed_one(
            "SELECT COUNT(*) FROM users
             WHERE role = 'administrator' AND password_hash IS NOT NULL
               AND deactivated_at IS NULL AND id <> $1",
            &[(&user_id, Type::TEXT)],
        )?
        .try_get(0)?;
    Ok(others == 0)
}

pub(super) fn change_access(
    tx: &mut Transaction<'_>,
    user_id: &str,
    change: AccessChange<'_>,
) -> Result<AccessChanged, Failure> {
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
    tx: &mut Transaction<'_>,
    user_id: &str,
    display_name: &str,
) -> Result<(), Failure> {
    let changed = tx.execute_typed(
        "UPDATE users SET display_name = $1 WHERE id = $2",
        &[(&display_name, Type::TEXT), (&user_id, Type::TEXT)],
    )?;
    match changed {
        1 => Ok(()),
        _ => Err(not_found(user_id)),
    }
}
