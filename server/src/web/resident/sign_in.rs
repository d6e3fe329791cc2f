//! Signing in and out of the resident pages.
//!
//! As in the console, the answer never tells whether a name exists, what role it has or
//! whether the account is deactivated: a wrong name, a wrong password, and the right password
//! of a console user or of a deactivated resident all get the same 401 after the same work
//! (one Argon2 verification), and all count as failures. Every attempt is reserved with the
//! throttle first (see [`super::reserve`]): too many failures answer 429 with `Retry-After`.

use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use bianmin_domain::Role;
use maud::{Markup, html};
use serde::Deserialize;

use super::session::{ResidentForm, SignedResident};
use super::{
    HOME, NotReserved, SESSION_COOKIE, SIGN_IN, busy_message, cookie_name, failed, form_page,
    not_tried, open_session, reserve, retry_after, signed_out_form, unavailable_message,
};
use crate::AppState;
use crate::error::AppError;
use crate::password::{self, PoolBusy};
use crate::storage::{Storage, UserRecord};
use crate::web::console::csrf;
use crate::web::console::{OrPage, PageError, blocking};
use crate::web::cookies;
use crate::web::i18n::{Lang, PageLang, tr};
use crate::web::public::limiter::ClientKey;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct SignInQuery {
    signed_out: Option<String>,
}

fn title(l: Lang) -> &'static str {
    tr(l, "居民登录", "Resident sign-in")
}

fn form_markup(
    l: Lang,
    token: &str,
    name: &str,
    notice: Option<&str>,
    error: Option<&str>,
) -> Markup {
    html! {
        @if let Some(n) = notice { p.notice role="status" { (n) } }
        @if let Some(e) = error { p.error role="alert" { (e) } }
        form.card method="post" action=(SIGN_IN) {
            (csrf::field(token))
            label for="name" { (tr(l, "用户名", "User name")) }
            input #name type="text" name="name" value=(name) autocomplete="username"
                autocapitalize="none" spellcheck="false" required;
            label for="password" { (tr(l, "密码", "Password")) }
            input #password type="password" name="password" autocomplete="current-password" required;
            p { button type="submit" { (tr(l, "登录", "Sign in")) } }
        }
        p {
            (tr(l, "第一次使用？请用村便民服务站给您的激活码",
                "First time here? Use the activation code from your village service point to "))
            a href="/resident/activate" { (tr(l, "激活账号", "activate your account")) }
            (tr(l, "。", "."))
        }
        p.small {
            (tr(l, "忘记密码或账号被停用，请到村便民服务站办理。",
                "Forgot your password, or was your account deactivated? Ask at the village service point."))
        }
    }
}

fn render(
    lang: PageLang,
    state: &AppState,
    status: StatusCode,
    name: &str,
    notice: Option<&str>,
    error: Option<&str>,
) -> Response {
    let l = lang.lang;
    form_page(lang, state, status, title(l), |token| {
        form_markup(l, token, name, notice, error)
    })
}

/// `GET /resident/sign-in`: the form (or, when signed in already, the home page).
pub(crate) async fn form(
    lang: PageLang,
    State(state): State<AppState>,
    signed: Result<SignedResident, Response>,
    Query(q): Query<SignInQuery>,
) -> Response {
    if signed.is_ok() {
        return Redirect::to(HOME).into_response();
    }
    let notice = q
        .signed_out
        .is_some()
        .then(|| tr(lang.lang, "您已退出登录。", "You have signed out."));
    render(lang, &state, StatusCode::OK, "", notice, None)
}

/// `POST /resident/sign-in`.
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
    let typed = fields.text("password");
    if name.is_empty() || typed.is_empty() {
        let error = tr(
            l,
            "请输入用户名和密码。",
            "Enter your user name and password.",
        );
        return Ok(render(
            lang,
            &state,
            StatusCode::UNPROCESSABLE_ENTITY,
            &name,
            None,
            Some(error),
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
                None,
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
                None,
                Some(unavailable_message(l)),
            );
            return Ok(retry_after(page, std::time::Duration::from_secs(30)));
        }
    };
    let storage = state.storage.clone();
    let lookup = name.clone();
    let checked = state
        .hashing
        .run(move || check_resident(storage.as_ref(), &lookup, &typed))
        .await;
    let user = match checked {
        Err(PoolBusy) => {
            not_tried(attempt).await;
            tracing::warn!(user = ?shown, client = %client, "resident sign-in refused: password checks busy");
            let page = render(
                lang,
                &state,
                StatusCode::SERVICE_UNAVAILABLE,
                &name,
                None,
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
            // 401 always means "checked, and wrong"; 429 "not checked".
            let wait = failed(attempt).await;
            tracing::warn!(user = ?shown, client = %client, "resident sign-in failed");
            let mut error = tr(
                l,
                "用户名或密码不正确。",
                "The user name or password is wrong.",
            )
            .to_string();
            if !wait.is_zero() {
                error = format!(
                    "{error} {}",
                    super::refused_message(l, crate::web::console::throttle::Refused::Wait(wait))
                );
            }
            return Ok(render(
                lang,
                &state,
                StatusCode::UNAUTHORIZED,
                &name,
                None,
                Some(&error),
            ));
        }
    };
    tracing::info!(user = %user.id, client = %client, "resident sign-in");
    open_session(&lang, &state, attempt, user.id, HOME).await
}

/// The user named `name` if it is an active resident account and `password` is theirs; the
/// same work (one verification) whatever the name, its role or its state.
fn check_resident(
    storage: &dyn Storage,
    name: &str,
    password: &str,
) -> Result<Option<UserRecord>, AppError> {
    let user = storage.user_by_name(name)?;
    let right = match user.as_ref().and_then(|u| u.password_hash.as_deref()) {
        Some(hash) => password::verify(password, hash),
        None => {
            password::verify_nothing(password);
            false
        }
    };
    let Some(user) = user.filter(|u| right && u.role == Role::Resident) else {
        return Ok(None);
    };
    if storage.account_status(&user.id)?.deactivated_at.is_some() {
        return Ok(None);
    }
    Ok(Some(user))
}

/// `POST /resident/sign-out`: ends the session here and in storage.
pub(crate) async fn sign_out(
    lang: PageLang,
    State(state): State<AppState>,
    form: ResidentForm,
) -> Result<Response, PageError> {
    let (console, id) = (state.console.clone(), form.signed.session_id.clone());
    blocking(move || Ok(console.close(&id)?))
        .await
        .or_page(&lang)?;
    tracing::info!(user = %form.signed.user.id, "resident sign-out");
    let mut response = Redirect::to(&format!("{SIGN_IN}?signed_out=1")).into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        cookies::set(cookie_name(&state, SESSION_COOKIE), "", Some(0)),
    );
    Ok(response)
}
