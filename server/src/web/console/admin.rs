//! The administrators' pages of the console: users, roles, console passwords and resident
//! accounts (`users`), display names (`profile`), deactivation and reactivation of every role
//! (`accounts`), devices and one-time enrolment codes (`devices`), the API keys of
//! applications filing through Open311 (`open311_keys`), the service-item catalog and the
//! holiday calendar, their downloads (`reference`) and the form editing one service item
//! (`catalog_item`). Only administrators may open them; a reviewer gets 403,
//! someone signed out is sent to the sign-in page.
//!
//! Every action goes through [`crate::admin`] (the same functions as the command line), every
//! form carries the session's CSRF token, and every action is written to the log with the
//! administrator's and the target's ids only: never names, enrolment codes, API keys or
//! passwords.

mod accounts;
mod catalog_item;
mod devices;
mod open311_keys;
mod profile;
mod reference;
mod users;

use axum::Router;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::Response;
use axum::routing::{get, post};
use bianmin_domain::Role;
use maud::{Markup, html};

use super::csrf::{Fields, SignedForm};
use super::session::Signed;
use super::{console_page, lang_of};
use crate::AppState;
use crate::web::i18n::{Lang, PageLang, tr};

/// The administration routes (merged into [`super::routes`]).
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/admin", get(users::list))
        .route("/console/admin/users", get(users::list).post(users::add))
        .route("/console/admin/users/{id}", get(users::show))
        .route(
            "/console/admin/users/{id}/password",
            get(users::back_to_user).post(users::set_password),
        )
        .route(
            "/console/admin/users/{id}/password/clear",
            get(users::back_to_user).post(users::clear_password),
        )
        .route("/console/admin/devices", get(devices::list))
        .route("/console/admin/devices/code", post(devices::issue_code))
        .route(
            "/console/admin/devices/{id}/revoke",
            get(devices::confirm_revoke).post(devices::revoke),
        )
        .route(
            "/console/admin/open311-keys",
            get(open311_keys::list).post(open311_keys::issue),
        )
        .route(
            "/console/admin/open311-keys/{id}/revoke",
            get(open311_keys::confirm_revoke).post(open311_keys::revoke),
        )
        .route(
            "/console/admin/users/{id}/sessions/end",
            get(users::back_to_user).post(users::end_sessions),
        )
        .route(
            "/console/admin/users/{id}/activation-code",
            get(users::back_to_user).post(users::issue_activation_code),
        )
        .route(
            "/console/admin/users/{id}/deactivate",
            get(accounts::confirm_deactivate).post(accounts::deactivate),
        )
        .route(
            "/console/admin/users/{id}/reactivate",
            get(users::back_to_user).post(accounts::reactivate),
        )
        .route(
            "/console/admin/users/{id}/display-name",
            get(users::back_to_user).post(profile::set_display_name),
        )
        .route(
            "/console/admin/catalog.json",
            get(reference::download_catalog),
        )
        .route(
            "/console/admin/calendar.json",
            get(reference::download_calendar),
        )
        .route(
            "/console/admin/catalog/items/{code}",
            get(catalog_item::edit).post(catalog_item::save),
        )
}

/// The administration routes that take a reference-data file (a larger body limit).
pub(crate) fn import_routes() -> Router<AppState> {
    Router::new()
        .route(
            "/console/admin/catalog",
            get(reference::catalog).post(reference::load_catalog),
        )
        .route(
            "/console/admin/calendar",
            get(reference::calendar).post(reference::load_calendar),
        )
}

/// The administration links of the top bar.
pub(crate) fn nav(l: Lang) -> Vec<(&'static str, String)> {
    vec![
        (tr(l, "用户", "Users"), "/console/admin/users".to_string()),
        (
            tr(l, "设备", "Devices"),
            "/console/admin/devices".to_string(),
        ),
        (
            tr(l, "Open311 密钥", "Open311 keys"),
            "/console/admin/open311-keys".to_string(),
        ),
        (
            tr(l, "服务事项", "Service items"),
            "/console/admin/catalog".to_string(),
        ),
        (
            tr(l, "节假日", "Holidays"),
            "/console/admin/calendar".to_string(),
        ),
    ]
}

/// The answer to a console user who is not an administrator: 403, nothing done.
fn forbidden(lang: PageLang, signed: &Signed) -> Response {
    let l = lang.lang;
    console_page(
        lang,
        StatusCode::FORBIDDEN,
        signed,
        tr(l, "无权访问", "Not allowed"),
        html! {
            p.error role="alert" {
                (tr(l, "管理页面只供县管理员使用，未做任何操作。",
                    "The administration pages are for administrators only; nothing was done."))
            }
        },
    )
}

/// A signed-in administrator.
pub(crate) struct Admin(pub Signed);

impl FromRequestParts<AppState> for Admin {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let signed = Signed::from_request_parts(parts, state).await?;
        if signed.user.role != Role::Administrator {
            let lang = lang_of(parts).await;
            tracing::warn!(user = %signed.user.id, "console administration refused: role");
            return Err(forbidden(lang, &signed));
        }
        Ok(Admin(signed))
    }
}

/// A form posted by a signed-in administrator, its CSRF token checked (first, so a forged form
/// is refused the same way for everyone).
pub(crate) struct AdminForm {
    /// Who.
    pub signed: Signed,
    /// The fields.
    pub fields: Fields,
}

impl FromRequest<AppState> for AdminForm {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let lang = lang_of(&mut parts).await;
        let SignedForm { signed, fields } =
            SignedForm::from_request(Request::from_parts(parts, body), state).await?;
        if signed.user.role != Role::Administrator {
            tracing::warn!(user = %signed.user.id, "console administration refused: role");
            return Err(forbidden(lang, &signed));
        }
        Ok(AdminForm { signed, fields })
    }
}

/// The message of a page after an action, if any.
fn notice(message: Option<String>) -> Markup {
    html! {
        @if let Some(m) = message { p.notice role="status" { (m) } }
    }
}

/// The message of a refused form.
fn error(message: Option<&str>) -> Markup {
    html! {
        @if let Some(m) = message { p.error role="alert" { (m) } }
    }
}
