//! Activating a resident account: the user name and the one-time activation code from the
//! service point, and a new password twice. The account is then active and signed in here;
//! every other session of it ends (the same page resets a forgotten password with a new code).
//!
//! A wrong name, a wrong, used, replaced or expired code, another role's name and a deactivated
//! account all get the same 401 after the same work (the new password is hashed first, in the
//! bounded pool), and count against the sign-in throttle under the resident keys: guessing
//! codes is as slow as guessing passwords.

use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use bianmin_domain::Role;
use maud::{Markup, html};

use super::{
    HOME, NotReserved, busy_message, failed, form_page, not_tried, open_session, reserve,
    retry_after, signed_out_form, unavailable_message,
};
use crate::AppState;
use crate::auth;
use crate::error::AppError;
use crate::password::{self, MAX_LENGTH, MIN_LENGTH, PoolBusy};
use crate::storage::{Storage, StorageError, UserRecord};
use crate::web::console::csrf;
use crate::web::console::throttle::Refused;
use crate::web::console::{PageError, blocking};
use crate::web::i18n::{Lang, PageLang, tr};
use crate::web::public::limiter::{ClientKey, now_ms};

fn title(l: Lang) -> &'static str {
    tr(l, "激活居民账号", "Activate your resident account")
}

fn form_markup(l: Lang, token: &str, name: &str, error: Option<&str>) -> Markup {
    html! {
        p {
            (tr(l, "村便民服务站为您开通账号时，会给您一个一次性激活码。请输入用户名和激活码，并设置您自己的密码。",
                "When your village service point opens your account, it gives you a one-time activation code. Enter your user name and the code, and choose a password of your own."))
        }
        @if let Some(e) = error { p.error role="alert" { (e) } }
        form.card method="post" action="/resident/activate" {
            (csrf::field(token))
            label for="name" { (tr(l, "用户名", "User name")) }
            input #name type="text" name="name" value=(name) autocomplete="username"
                autocapitalize="none" spellcheck="false" required;
            label for="code" { (tr(l, "激活码（例如 ABCDE-FGHJK）", "Activation code (like ABCDE-FGHJK)")) }
            input #code type="text" name="code" autocomplete="one-time-code"
                autocapitalize="characters" spellcheck="false" required maxlength="32";
            label for="password" {
                (tr(l, "新密码（至少 8 个字符）", "New password (at least 8 characters)"))
            }
            input #password type="password" name="password" autocomplete="new-password"
                required minlength="8" maxlength="256";
            label for="again" { (tr(l, "再输入一次新密码", "The new password again")) }
            input #again type="password" name="again" autocomplete="new-password"
                required minlength="8" maxlength="256";
            p { button type="submit" { (tr(l, "激活并登录", "Activate and sign in")) } }
        }
        p.small {
            (tr(l, "激活码只能用一次。忘记密码时，请到村便民服务站领取新的激活码，在这里重新设置。",
                "A code works once. Forgot your password? Ask the service point for a new code and set a new password here."))
        }
    }
}

fn render(
    lang: PageLang,
    state: &AppState,
    status: StatusCode,
    name: &str,
    error: Option<&str>,
) -> Response {
    let l = lang.lang;
    form_page(lang, state, status, title(l), |token| {
        form_markup(l, token, name, error)
    })
}

/// `GET /resident/activate`: the form.
pub(crate) async fn form(lang: PageLang, State(state): State<AppState>) -> Response {
    render(lang, &state, StatusCode::OK, "", None)
}

/// Why a typed new password is not taken, before anything is checked.
fn password_problem(l: Lang, password: &str, again: &str) -> Option<String> {
    let chars = password.chars().count();
    if password != again {
        Some(
            tr(
                l,
                "两次输入的新密码不一致。",
                "The two new passwords differ.",
            )
            .to_string(),
        )
    } else if !(MIN_LENGTH..=MAX_LENGTH).contains(&chars) {
        Some(match l {
            Lang::Zh => format!("密码须为 {MIN_LENGTH} 到 {MAX_LENGTH} 个字符。"),
            Lang::En => format!("A password must be {MIN_LENGTH} to {MAX_LENGTH} characters."),
        })
    } else {
        None
    }
}

/// `POST /resident/activate`.
pub(crate) async fn submit(
    lang: PageLang,
    State(state): State<AppState>,
    ClientKey(client): ClientKey,
    headers: HeaderMap,
    form: Result<Form<Vec<(String, String)>>, axum::extract::rejection::FormRejection>,
) -> Result<Response, PageError> {
    let l = lang.lang;
    let fields = match signed_out_form(&lang, &state, &headers, form)? {
        Ok(fields) => fields,
        Err(refused) => return Ok(refused),
    };
    let name = fields.text("name").trim().to_string();
    let code = auth::normalise_code(&fields.text("code"));
    let (new_password, again) = (fields.text("password"), fields.text("again"));
    let problem = if name.is_empty() || code.is_empty() {
        Some(
            tr(
                l,
                "请输入用户名和激活码。",
                "Enter your user name and the activation code.",
            )
            .to_string(),
        )
    } else {
        password_problem(l, &new_password, &again)
    };
    if let Some(problem) = problem {
        return Ok(render(
            lang,
            &state,
            StatusCode::UNPROCESSABLE_ENTITY,
            &name,
            Some(&problem),
        ));
    }
    let shown: String = name.chars().take(64).collect();
    let attempt = match reserve(&state, l, &name, &client).await {
        Ok(attempt) => attempt,
        Err(NotReserved::Throttled(wait, message)) => {
            let page = render(
                lang,
                &state,
                StatusCode::TOO_MANY_REQUESTS,
                &name,
                Some(&message),
            );
            return Ok(retry_after(page, wait));
        }
        Err(NotReserved::Unavailable) => {
            let page = render(
                lang,
                &state,
                StatusCode::SERVICE_UNAVAILABLE,
                &name,
                Some(unavailable_message(l)),
            );
            return Ok(retry_after(page, std::time::Duration::from_secs(30)));
        }
    };
    let storage = state.storage.clone();
    let who = name.clone();
    let activated = state
        .hashing
        .run(move || activate(storage.as_ref(), &who, &code, &new_password))
        .await;
    let user = match activated {
        Err(PoolBusy) => {
            not_tried(attempt).await;
            tracing::warn!(user = ?shown, client = %client, "resident activation refused: password hashing busy");
            let page = render(
                lang,
                &state,
                StatusCode::SERVICE_UNAVAILABLE,
                &name,
                Some(busy_message(l)),
            );
            return Ok(retry_after(page, std::time::Duration::from_secs(5)));
        }
        Ok(Err(e)) => {
            not_tried(attempt).await;
            return Err(PageError::new(&lang, e));
        }
        Ok(Ok(Some(user))) => user,
        Ok(Ok(None)) => {
            let wait = failed(attempt).await;
            tracing::warn!(user = ?shown, client = %client, "resident activation failed");
            let mut error = tr(
                l,
                "用户名或激活码不正确，或激活码已用过、已过期。请核对，或到村便民服务站重新领取。",
                "The user name or the activation code is wrong, or the code was used or has expired. Check them, or ask the service point for a new code.",
            )
            .to_string();
            if !wait.is_zero() {
                error = format!("{error} {}", super::refused_message(l, Refused::Wait(wait)));
            }
            return Ok(render(
                lang,
                &state,
                StatusCode::UNAUTHORIZED,
                &name,
                Some(&error),
            ));
        }
    };
    tracing::info!(user = %user.id, client = %client, "resident account activated");
    // Storage ended the account's stored sessions; this hub's cache forgets them at once.
    let (console, user_id) = (state.console.clone(), user.id.clone());
    blocking(move || Ok(console.end_sessions_of(&user_id)?))
        .await
        .map_err(|e| PageError::new(&lang, e))?;
    open_session(
        &lang,
        &state,
        attempt,
        user.id,
        &format!("{HOME}?activated=1"),
    )
    .await
}

/// Hashes the new password, then activates the resident account `name` with the (normalised)
/// `code`: `None` for any mismatch (see the module docs), after the same work.
fn activate(
    storage: &dyn Storage,
    name: &str,
    code: &str,
    new_password: &str,
) -> Result<Option<UserRecord>, AppError> {
    let hash = password::hash(new_password)
        .map_err(|e| AppError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", e.to_string()))?;
    let resident = storage
        .user_by_name(name)?
        .is_some_and(|u| u.role == Role::Resident);
    if !resident {
        return Ok(None);
    }
    match storage.activate_account(name, &auth::hash_secret(code), &hash, now_ms()) {
        Ok(user) => Ok(Some(user)),
        Err(StorageError::CodeInvalid) => Ok(None),
        Err(e) => Err(e.into()),
    }
}
