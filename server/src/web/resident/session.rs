//! The signed-in resident of a request ([`SignedResident`]) and a form they posted, its CSRF
//! token checked ([`ResidentForm`]).
//!
//! The session is the console's kind ([`crate::web::console::Console`]) under the resident
//! cookie. On every request the user is read again: a session whose user is not a resident (a
//! console user's session id put in this cookie), no longer exists, or was deactivated is
//! closed, and the request goes to the sign-in page. Deactivation also ends the stored sessions
//! (`Storage::set_deactivated`); the check here makes it take effect on the very next request
//! in every hub process, without waiting for the session cache's recheck.

use axum::extract::{Form, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use bianmin_domain::Role;

use super::{SESSION_COOKIE, SIGN_IN, cookie_name, refused_form};
use crate::AppState;
use crate::error::AppError;
use crate::storage::{StorageError, UserRecord};
use crate::web::console::csrf::{FIELD, Fields};
use crate::web::console::token::matches;
use crate::web::console::{PageError, lang_of};
use crate::web::cookies;

/// A signed-in resident.
#[derive(Debug, Clone)]
pub(crate) struct SignedResident {
    /// The resident, as stored now.
    pub user: UserRecord,
    /// The session id (from the cookie).
    pub session_id: String,
    /// The session's CSRF token.
    pub csrf: String,
}

/// What a session's user may be: a resident whose account is active.
enum Found {
    Resident(UserRecord, String),
    NoSession,
    NotAllowed,
}

impl FromRequestParts<AppState> for SignedResident {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let to_sign_in = || Redirect::to(SIGN_IN).into_response();
        let Some(id) =
            cookies::get(&parts.headers, cookie_name(state, SESSION_COOKIE)).map(str::to_string)
        else {
            return Err(to_sign_in());
        };
        let (console, storage, session_id) =
            (state.console.clone(), state.storage.clone(), id.clone());
        let found = tokio::task::spawn_blocking(move || {
            let Some(session) = console.get(&session_id)? else {
                return Ok(Found::NoSession);
            };
            let Some(user) = storage.user(&session.user_id)? else {
                return Ok(Found::NotAllowed);
            };
            if user.role != Role::Resident
                || storage.account_status(&user.id)?.deactivated_at.is_some()
            {
                return Ok(Found::NotAllowed);
            }
            Ok::<_, StorageError>(Found::Resident(user, session.csrf))
        })
        .await;
        match found {
            Ok(Ok(Found::Resident(user, csrf))) => Ok(SignedResident {
                user,
                session_id: id,
                csrf,
            }),
            Ok(Ok(Found::NoSession)) => Err(to_sign_in()),
            Ok(Ok(Found::NotAllowed)) => {
                // Not a resident, removed, or deactivated: the session ends here.
                let console = state.console.clone();
                let closed = tokio::task::spawn_blocking(move || console.close(&id)).await;
                if !matches!(closed, Ok(Ok(()))) {
                    tracing::warn!("a resident session refused could not be closed");
                }
                Err(to_sign_in())
            }
            Ok(Err(e)) => {
                let lang = lang_of(parts).await;
                Err(PageError::new(&lang, e).into_response())
            }
            Err(e) => {
                let lang = lang_of(parts).await;
                Err(PageError::new(&lang, AppError::internal(e)).into_response())
            }
        }
    }
}

/// A form posted by a signed-in resident (URL-encoded: sign-out, withdrawing, rating), its
/// CSRF token checked: refused with 403 (nothing done) if the token is missing or wrong. Forms
/// with photos are multipart and read by `upload`, which checks the same token.
#[derive(Debug)]
pub(crate) struct ResidentForm {
    /// Who.
    pub signed: SignedResident,
    /// The fields.
    pub fields: Fields,
}

impl FromRequest<AppState> for ResidentForm {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let signed = SignedResident::from_request_parts(&mut parts, state).await?;
        let lang = lang_of(&mut parts).await;
        let req = Request::from_parts(parts, body);
        let Ok(Form(fields)) = Form::<Vec<(String, String)>>::from_request(req, state).await else {
            return Err(refused_form(lang));
        };
        let fields = Fields(fields);
        if !matches(&signed.csrf, fields.get(FIELD).unwrap_or_default()) {
            tracing::warn!(user = %signed.user.id, "resident form refused: CSRF token missing or wrong");
            return Err(refused_form(lang));
        }
        Ok(ResidentForm { signed, fields })
    }
}
