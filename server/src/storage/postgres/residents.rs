//! Resident accounts: one-time activation codes (their hashes) and deactivation (see
//! `0008_resident_accounts.sql` and the trait's documentation).

use ::postgres::types::Type;
use ::postgres::{GenericClient, Transaction};

use super::accounts::{delete_user_sessions, user_where};
use super::{Failure, backend, unique_violation};
use crate::storage::{AccountStatus, PendingCode, StorageError, UserRecord};

fn not_found(user_id: &str) -> Failure {
    StorageError::NotFound(format!("user {user_id}")).into()
}

/// Deletes the user's unused activation code, if any.
fn void_pending(tx: &mut Transaction<'_>, user_id: &str) -> Result<(), Failure> {
    tx.execute_typed(
        "DELETE FROM activation_codes WHERE user_id = $1 AND used_at IS NULL",
        &[(&user_id, Type::TEXT)],
    )?;
    Ok(())
}

pub(super) fn add_activation_code(
    tx: &mut Transaction<'_>,
    code_hash: &str,
    user_id: &str,
    issued_at: i64,
    expires_at: i64,
) -> Result<(), Failure> {
    // Locks the user's row: two codes issued at once for one user leave one of them.
    let found = tx.query_typed_opt(
        "SELECT 1 FROM users WHERE id = $1 FOR UPDATE",
        &[(&user_id, Type::TEXT)],
    )?;
    if found.is_none() {
        return Err(not_found(user_id));
    }
    void_pending(tx, user_id)?;
    tx.execute_typed(
        "INSERT INTO activation_codes (code_hash, user_id, issued_at, expires_at)
         VALUES ($1, $2, $3, $4)",
        &[
            (&code_hash, Type::TEXT),
            (&user_id, Type::TEXT),
            (&issued_at, Type::INT8),
            (&expires_at, Type::INT8),
        ],
    )
    .map_err(|e| match unique_violation(&e) {
        Some(_) => StorageError::Duplicate("activation code".into()).into(),
        None => Failure::from(e),
    })?;
    Ok(())
}

pub(super) fn activate_account(
    tx: &mut Transaction<'_>,
    user_name: &str,
    code_hash: &str,
    password_hash: &str,
    now: i64,
) -> Result<UserRecord, Failure> {
    // The user's row is locked first, so a deactivation committing meanwhile is either seen
    // here or waits for this activation (and then ends the sessions it leaves).
    let user = tx.query_typed_opt(
        "SELECT id FROM users WHERE name = $1 AND deactivated_at IS NULL FOR UPDATE",
        &[(&user_name, Type::TEXT)],
    )?;
    let Some(user) = user else {
        return Err(StorageError::CodeInvalid.into());
    };
    let user_id: String = user.try_get(0)?;
    let used = tx.execute_typed(
        "UPDATE activation_codes SET used_at = $1
         WHERE code_hash = $2 AND user_id = $3 AND used_at IS NULL AND expires_at > $1",
        &[
            (&now, Type::INT8),
            (&code_hash, Type::TEXT),
            (&user_id, Type::TEXT),
        ],
    )?;
    if used != 1 {
        return Err(StorageError::CodeInvalid.into());
    }
    tx.execute_typed(
        "UPDATE users SET password_hash = $1 WHERE id = $2",
        &[(&password_hash, Type::TEXT), (&user_id, Type::TEXT)],
    )?;
    delete_user_sessions(tx, &user_id)?;
    user_where(tx, "id", &user_id)?.ok_or_else(|| {
        Failure::Storage(backend(format!(
            "activation code of unknown user {user_id}"
        )))
    })
}

pub(super) fn set_deactivated(
    tx: &mut Transaction<'_>,
    user_id: &str,
    at: Option<i64>,
) -> Result<bool, Failure> {
    let row = tx.query_typed_opt(
        "SELECT deactivated_at FROM users WHERE id = $1 FOR UPDATE",
        &[(&user_id, Type::TEXT)],
    )?;
    let Some(row) = row else {
        return Err(not_found(user_id));
    };
    let current: Option<i64> = row.try_get(0)?;
    if current.is_some() == at.is_some() {
        return Ok(false);
    }
    tx.execute_typed(
        "UPDATE users SET deactivated_at = $1 WHERE id = $2",
        &[(&at, Type::INT8), (&user_id, Type::TEXT)],
    )?;
    if at.is_some() {
        delete_user_sessions(tx, user_id)?;
        void_pending(tx, user_id)?;
    }
    Ok(true)
}

pub(super) fn account_status(
    c: &mut impl GenericClient,
    user_id: &str,
) -> Result<AccountStatus, Failure> {
    let row = c
        .query_typed_opt(
            "SELECT u.deactivated_at, a.issued_at, a.expires_at
             FROM users u
             LEFT JOIN LATERAL (
                 SELECT issued_at, expires_at FROM activation_codes
                 WHERE user_id = u.id AND used_at IS NULL
                 ORDER BY issued_at DESC LIMIT 1
             ) a ON true
             WHERE u.id = $1",
            &[(&user_id, Type::TEXT)],
        )?
        .ok_or_else(|| not_found(user_id))?;
    let issued_at: Option<i64> = row.try_get(1)?;
    let expires_at: Option<i64> = row.try_get(2)?;
    Ok(AccountStatus {
        deactivated_at: row.try_get(0)?,
        pending_code: issued_at
            .zip(expires_at)
            .map(|(issued_at, expires_at)| PendingCode {
                issued_at,
                expires_at,
            }),
    })
}
