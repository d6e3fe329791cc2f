//! A user's display name (the name shown on requests, lists and pages): the form on the user's
//! page and its check ([`crate::admin::set_display_name`]: 1 to 100 characters, no control
//! characters; nothing stored otherwise).
//!
//! A user's role and area are not edited. A clerk's tablet was enrolled with the identity of
//! that moment (user, role, village): it keeps that village's documents, checks its own writes
//! against that scope and numbers its receipts in that village's series, while the hub would
//! check its pushes against the new one, refuse its offline work and send it another village's
//! documents; and the events the user already made would read as made in the new role. Someone
//! who moves gets a new user (and tablet enrolment), and the old one is deactivated.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};

use super::AdminForm;
use super::users::{Refusal, admin_error, refuse_on_user_page};
use crate::AppState;
use crate::admin::{self, AdminError, MAX_DISPLAY_NAME};
use crate::error::AppError;
use crate::storage::UserRecord;
use crate::web::console::session::Signed;
use crate::web::console::{OrPage, PageError, blocking, csrf};
use crate::web::i18n::{Lang, PageLang, tr};

/// The message for a display name that breaks the rule.
pub(super) fn invalid_message(l: Lang) -> String {
    match l {
        Lang::Zh => format!(
            "显示名称须为 1 到 {MAX_DISPLAY_NAME} 个字符，不能含控制字符（如换行），未做更改。"
        ),
        Lang::En => format!(
            "The display name must be 1 to {MAX_DISPLAY_NAME} characters without control characters (such as line breaks); nothing was changed."
        ),
    }
}

/// The display-name form of a user's page, with a refusal of it and what was typed, if any.
pub(super) fn card(
    l: Lang,
    signed: &Signed,
    user: &UserRecord,
    refused: Option<&Refusal>,
) -> Markup {
    let (message, value) = match refused {
        Some(Refusal::DisplayName { message, typed }) => (Some(message.as_str()), typed.as_str()),
        _ => (None, user.display_name.as_str()),
    };
    html! {
        form.card #edit-user method="post" action={ "/console/admin/users/" (user.id) "/display-name" } {
            h2 { (tr(l, "修改显示名称", "Change the display name")) }
            @if let Some(m) = message { p.error role="alert" { (m) } }
            (csrf::field(&signed.csrf))
            label for="u-display-name" { (tr(l, "显示名称（办件和页面上显示的名称）", "Display name (the name shown on requests and pages)")) }
            input #u-display-name type="text" name="display_name" value=(value) required maxlength=(MAX_DISPLAY_NAME);
            p { button type="submit" { (tr(l, "保存", "Save")) } }
            p.small {
                (tr(l, "用户名、角色和辖区不能修改：平板登记时按当时的角色和村确定身份、可见范围和受理回执号序列，改动会使平板上未同步的办件被拒收。人员调动时请添加新用户，并停用原用户。",
                    "The user name, role and area cannot be changed: a tablet takes its identity, what it may see and its receipt numbers from the role and village it was enrolled with, and a change would make the hub refuse its unsynced work. When someone moves, add a new user and deactivate the old one."))
            }
        }
    }
}

/// `POST /console/admin/users/{id}/display-name`: changes the display name.
pub(crate) async fn set_display_name(
    lang: PageLang,
    State(state): State<AppState>,
    Path(id): Path<String>,
    AdminForm { signed, fields }: AdminForm,
) -> Result<Response, PageError> {
    let typed = fields.text("display_name");
    let (storage, user_id, name) = (state.storage.clone(), id.clone(), typed.clone());
    let changed = blocking(move || {
        let user = storage
            .user(&user_id)?
            .ok_or_else(|| AppError::new(StatusCode::NOT_FOUND, "not_found", "no such user"))?;
        Ok(admin::set_display_name(storage.as_ref(), &user.name, &name))
    })
    .await
    .or_page(&lang)?;
    match changed {
        Ok(user) => {
            tracing::info!(admin = %signed.user.id, user = %user.id, "console admin: display name changed");
            let to = format!("/console/admin/users/{}?done=renamed", user.id);
            Ok(Redirect::to(&to).into_response())
        }
        Err(AdminError::Invalid(v)) if v.field == "display_name" => {
            let refusal = Refusal::DisplayName {
                message: invalid_message(lang.lang),
                typed,
            };
            refuse_on_user_page(lang, &state, &signed, id, refusal).await
        }
        Err(e) => Err(PageError::new(&lang, admin_error(e))),
    }
}
