//! Residents' accounts from a clerk's tablet (`docs/residents.md`, `docs/sync-protocol.md`):
//! the list of a village's resident accounts, opening one with its one-time activation code,
//! and issuing a new code. Who may: [`authorize_resident_account`], the domain's one rule (the
//! village's own clerk, or an administrator of its county). The accounts themselves are made
//! by [`admin::add_user`] and [`admin::issue_activation_code`], as the console and the command
//! line make them.
//!
//! A resident of a village the device may not manage is answered exactly like one that does not
//! exist (404): nobody learns which user names are taken elsewhere from here, except by trying
//! to open one (409, since names are unique in the hub). Logs carry ids only, never the code.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use bianmin_domain::permission::authorize_resident_account;
use bianmin_domain::{Identity, Role, ValidationError, looks_personal};
use bianmin_protocol::{ActivationCodeIssued, OpenResident, ResidentAccount, ResidentList};

use super::ApiJson;
use crate::AppState;
use crate::admin::{self, ActivationCode, AdminError};
use crate::auth::AuthedDevice;
use crate::error::AppError;
use crate::storage::{AccountStatus, Storage, StorageError, UserRecord};

/// The largest body these endpoints take: a user name and a display name need far less.
const BODY_BYTES: usize = 4 * 1024;

/// The longest display name, in characters (as the console's form takes it).
const MAX_DISPLAY_NAME: usize = 100;

/// The longest user name (as [`admin::add_user`] takes it): a longer one in an address is
/// answered as unknown without asking storage.
const MAX_USER_NAME: usize = 64;

/// The routes: `GET` and `POST /api/v1/residents`, `POST
/// /api/v1/residents/{name}/activation-code`.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/residents", get(list).post(open))
        .route("/api/v1/residents/{name}/activation-code", post(reset))
        .layer(DefaultBodyLimit::max(BODY_BYTES))
}

/// The query of `GET /api/v1/residents`.
#[derive(Debug, serde::Deserialize)]
struct ListQuery {
    /// One village (12 digits); by default the device user's own area.
    village: Option<String>,
}

/// `GET /api/v1/residents[?village=CODE]`: the resident accounts the device's user may manage,
/// by user name.
async fn list(
    State(state): State<AppState>,
    who: AuthedDevice,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<ResidentList>, AppError> {
    let Query(query) = query.map_err(|e| AppError::bad_request(e.body_text()))?;
    let area = match query.village {
        Some(v) => village_code(&v)?,
        None => who.identity.area.clone(),
    };
    permitted(&who.identity, &area)?;
    let storage = state.storage.clone();
    let residents = blocking(move || residents_in(storage.as_ref(), &who.identity, &area)).await?;
    Ok(Json(ResidentList { residents }))
}

/// `POST /api/v1/residents`: opens a resident's account over the clerk's village (or the one
/// named) and issues its activation code. `201` with the code; nothing stored on any refusal.
async fn open(
    State(state): State<AppState>,
    who: AuthedDevice,
    ApiJson(req): ApiJson<OpenResident>,
) -> Result<(StatusCode, Json<ActivationCodeIssued>), AppError> {
    let village = req
        .village
        .clone()
        .unwrap_or_else(|| who.identity.area.clone());
    permitted(&who.identity, &village)?;
    let village = village_code(&village)?;
    let (name, display) = checked_names(&req)?;
    let storage = state.storage.clone();
    let issued =
        blocking(move || open_account(storage.as_ref(), &name, &display, &village)).await?;
    tracing::info!(device = %who.device.id, user = %issued.user_id, "resident account opened from a device");
    Ok((StatusCode::CREATED, Json(issued)))
}

/// `POST /api/v1/residents/{name}/activation-code`: a new code for a resident the device's
/// user may manage; the earlier unused one stops working.
async fn reset(
    State(state): State<AppState>,
    who: AuthedDevice,
    name: Result<Path<String>, PathRejection>,
) -> Result<Json<ActivationCodeIssued>, AppError> {
    let Path(name) = name.map_err(|e| AppError::bad_request(e.body_text()))?;
    // A device that may manage no accounts at all is told so, whoever it names.
    permitted(&who.identity, &who.identity.area)?;
    let (storage, identity) = (state.storage.clone(), who.identity.clone());
    let issued = blocking(move || new_code(storage.as_ref(), &identity, &name)).await?;
    tracing::info!(device = %who.device.id, user = %issued.user_id, "resident activation code issued from a device");
    Ok(Json(issued))
}

/// Runs storage work off the async workers (the PostgreSQL client blocks).
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, AppError> + Send + 'static,
) -> Result<T, AppError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(AppError::internal)?
}

/// 403 unless the domain lets `who` manage the accounts of `area`.
fn permitted(who: &Identity, area: &str) -> Result<(), AppError> {
    authorize_resident_account(who, area)
        .map_err(|e| AppError::new(StatusCode::FORBIDDEN, "forbidden", e.to_string()))
}

/// 422 with the field and the rule.
fn invalid(field: &str, rule: &str) -> AppError {
    AppError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
        ValidationError::new(field, rule).to_string(),
    )
}

fn village_code(v: &str) -> Result<String, AppError> {
    let v = v.trim();
    if v.len() == 12 && v.bytes().all(|b| b.is_ascii_digit()) {
        Ok(v.to_string())
    } else {
        Err(invalid("village", "must be a 12-digit village code"))
    }
}

/// The user name (its form is [`admin::add_user`]'s to check) and the display name, trimmed;
/// neither may hold a personal number, since both are shown in lists.
fn checked_names(req: &OpenResident) -> Result<(String, String), AppError> {
    let name = req.name.trim();
    if looks_personal(name) {
        return Err(invalid(
            "name",
            "must not be an ID, phone or bank-card number: user names are shown in lists",
        ));
    }
    let display = req.display_name.trim();
    if display.is_empty()
        || display.chars().count() > MAX_DISPLAY_NAME
        || display.chars().any(char::is_control)
    {
        return Err(invalid(
            "display_name",
            "must be 1 to 100 characters, without control characters: the resident's name",
        ));
    }
    if looks_personal(display) {
        return Err(invalid(
            "display_name",
            "must not hold an ID, phone or bank-card number: it is shown in lists",
        ));
    }
    Ok((name.to_string(), display.to_string()))
}

/// The resident accounts in `area` that `who` may manage, with their state.
fn residents_in(
    storage: &dyn Storage,
    who: &Identity,
    area: &str,
) -> Result<Vec<ResidentAccount>, AppError> {
    let mut out = Vec::new();
    for user in storage.users()? {
        if user.role != Role::Resident
            || !user.area.starts_with(area)
            || authorize_resident_account(who, &user.area).is_err()
        {
            continue;
        }
        let status = storage.account_status(&user.id)?;
        out.push(account(user, status));
    }
    Ok(out)
}

fn account(user: UserRecord, status: AccountStatus) -> ResidentAccount {
    ResidentAccount {
        activated: user.password_hash.is_some(),
        deactivated: status.deactivated_at.is_some(),
        code_expires_at: status.pending_code.map(|c| c.expires_at),
        user_id: user.id,
        name: user.name,
        display_name: user.display_name,
        village: user.area,
    }
}

/// Adds the resident and issues the code.
fn open_account(
    storage: &dyn Storage,
    name: &str,
    display: &str,
    village: &str,
) -> Result<ActivationCodeIssued, AppError> {
    let user = admin::add_user(storage, name, display, Role::Resident, village).map_err(refusal)?;
    let code = admin::issue_activation_code(storage, &user.name, admin::ACTIVATION_VALIDITY)
        .map_err(|e| {
            tracing::error!(user = %user.id, "a resident account was opened without its activation code");
            let mut err = refusal(e);
            err.message = "the account was opened but its activation code could not be issued: \
                           issue one with POST /api/v1/residents/{name}/activation-code"
                .into();
            err
        })?;
    Ok(issued(code))
}

/// A new code for the resident named `name`, if `who` may manage their account.
fn new_code(
    storage: &dyn Storage,
    who: &Identity,
    name: &str,
) -> Result<ActivationCodeIssued, AppError> {
    let unknown = || {
        AppError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no resident account of that user name in your area",
        )
    };
    if name.is_empty() || name.len() > MAX_USER_NAME {
        return Err(unknown());
    }
    let user = storage
        .user_by_name(name)?
        .filter(|u| u.role == Role::Resident && authorize_resident_account(who, &u.area).is_ok())
        .ok_or_else(unknown)?;
    let code = admin::issue_activation_code(storage, &user.name, admin::ACTIVATION_VALIDITY)
        .map_err(refusal)?;
    Ok(issued(code))
}

fn issued(code: ActivationCode) -> ActivationCodeIssued {
    ActivationCodeIssued {
        user_id: code.user.id,
        name: code.user.name,
        display_name: code.user.display_name,
        village: code.user.area,
        code: code.code,
        expires_at: code.expires_at,
    }
}

/// An administrative refusal as the API's error. The messages name the field and the rule,
/// never the value (a taken name is not repeated).
fn refusal(e: AdminError) -> AppError {
    match e {
        AdminError::Storage(StorageError::Duplicate(_)) => AppError::new(
            StatusCode::CONFLICT,
            "name_taken",
            "name: is taken by another account: choose another user name (if this resident's \
             account was opened already, issue a new code for it instead)",
        ),
        AdminError::Invalid(v) if v.field == "account" => AppError::new(
            StatusCode::CONFLICT,
            "resident_deactivated",
            "account: is deactivated: an administrator reactivates it before a new code is \
             issued",
        ),
        // `add_user` names the village the area.
        AdminError::Invalid(v) if v.field.ends_with("area") => invalid("village", &v.rule),
        AdminError::Invalid(v) => invalid(&v.field, &v.rule),
        AdminError::Storage(s) => AppError::from(s),
        // Passwords and administrators are not what these endpoints change.
        other => AppError::internal(other),
    }
}
