//! Signing in and out of the console.
//!
//! The answers never tell whether a user name exists or what role it has: a wrong name, a
//! wrong password and the right password of an account that cannot use the console (a clerk, a
//! resident, a deactivated account) all get the same 401 after the same work (one Argon2
//! verification), and all count as failures. Every
//! attempt is reserved with the [`super::throttle`] before its password is verified, and
//! verified in the hub's bounded [`crate::password::HashingPool`]. The throttle's counts are in
//! the storage, shared by every hub process: reserving and recording run off the async workers,
//! and an attempt that cannot be reserved (the storage failed) is refused unchecked with 503,
//! never let through unthrottled. Failed and refused attempts are logged with the name typed
//! and the client's address (never the password).

use axum::extract::{Form, Query};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;

use axum::extract::State;

use super::csrf::{self, Fields};
use super::session::{
    Console, Signed, console_role, cookie, host_cookie_name, safe_next, set_cookie,
};
use super::throttle::{Attempt, Refused};
use super::token;
use super::{OrPage, PageError, blocking};
use crate::AppState;
use crate::error::AppError;
use crate::password::{self, PoolBusy};
use crate::web::i18n::{Lang, PageLang, tr};
use crate::web::layout;
use crate::web::public::limiter::{ClientKey, now_ms};

/// The cookie carrying the sign-in form's token (there is no session yet).
pub(crate) const SIGNIN_COOKIE: &str = "bianmin_signin";

/// Where a signed-in user lands.
const HOME: &str = "/console/requests";

#[derive(Debug, Default, Deserialize)]
pub(crate) struct SignInQuery {
    next: Option<String>,
    signed_out: Option<String>,
}

/// What the sign-in form shows besides its fields.
struct FormState<'a> {
    token: &'a str,
    name: &'a str,
    next: &'a str,
    error: Option<String>,
    notice: Option<&'a str>,
}

fn render(lang: PageLang, console: &Console, status: StatusCode, f: FormState<'_>) -> Response {
    let l = lang.lang;
    let body = html! {
        @if let Some(n) = f.notice { p.notice role="status" { (n) } }
        @if let Some(e) = &f.error { p.error role="alert" { (e) } }
        form.card.sign-in method="post" action="/console/sign-in" {
            (csrf::field(f.token))
            input type="hidden" name="next" value=(f.next);
            label for="name" { (tr(l, "用户名", "User name")) }
            input #name type="text" name="name" value=(f.name) autocomplete="username"
                autocapitalize="none" spellcheck="false" required autofocus;
            label for="password" { (tr(l, "密码", "Password")) }
            input #password type="password" name="password" autocomplete="current-password" required;
            p { button type="submit" { (tr(l, "登录", "Sign in")) } }
        }
        p { (tr(l, "审核台供乡镇审核员和县管理员使用。", "The console is for township reviewers and county administrators.")) }
    };
    let mut response = layout::page_with_status(
        status,
        lang,
        tr(l, "审核台登录", "Console sign-in"),
        &[],
        body,
    );
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(signin_cookie_name(console), f.token, Some(3600)),
    );
    response
}

fn signin_cookie_name(console: &Console) -> &'static str {
    host_cookie_name(SIGNIN_COOKIE, console.config().secure_cookies)
}

/// `GET /console/sign-in`: the form (or, when signed in already, the queue).
pub(crate) async fn form(
    lang: PageLang,
    State(state): State<AppState>,
    signed: Result<Signed, Response>,
    Query(q): Query<SignInQuery>,
) -> Response {
    let next = q.next.as_deref().and_then(safe_next).unwrap_or(HOME);
    if signed.is_ok() {
        return Redirect::to(next).into_response();
    }
    // A fresh token for every form shown: a token planted in the browser's cookie is never
    // taken over.
    let token = token::random_hex();
    let notice = q
        .signed_out
        .is_some()
        .then(|| tr(lang.lang, "您已退出登录。", "You have signed out."));
    render(
        lang,
        &state.console,
        StatusCode::OK,
        FormState {
            token: &token,
            name: "",
            next,
            error: None,
            notice,
        },
    )
}

/// `POST /console/sign-in`.
pub(crate) async fn submit(
    lang: PageLang,
    State(state): State<AppState>,
    ClientKey(client): ClientKey,
    headers: HeaderMap,
    form: Result<Form<Vec<(String, String)>>, axum::extract::rejection::FormRejection>,
) -> Result<Response, PageError> {
    let fields = match form {
        Ok(Form(f)) => Fields(f),
        Err(rejection) => {
            let error = AppError::new(rejection.status(), "bad_form", rejection.body_text());
            return Err(PageError::new(&lang, error));
        }
    };
    let cookie_token = cookie(&headers, signin_cookie_name(&state.console));
    let Some(token) = cookie_token.map(str::to_string) else {
        return Ok(csrf::refused(lang));
    };
    if !token::matches(&token, fields.get(csrf::FIELD).unwrap_or_default()) {
        return Ok(csrf::refused(lang));
    }
    let name = fields.text("name").trim().to_string();
    let typed_password = fields.text("password");
    let next = fields
        .get("next")
        .and_then(safe_next)
        .unwrap_or(HOME)
        .to_string();
    let again = |status: StatusCode, error: String| {
        render(
            lang.clone(),
            &state.console,
            status,
            FormState {
                token: &token::random_hex(),
                name: &name,
                next: &next,
                error: Some(error),
                notice: None,
            },
        )
    };
    // `Retry-After` in whole seconds, at least one.
    let retry_after = |mut response: Response, wait: std::time::Duration| {
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(wait.as_secs().max(1)),
        );
        response
    };
    if name.is_empty() || typed_password.is_empty() {
        let error = tr(
            lang.lang,
            "请输入用户名和密码。",
            "Enter your user name and password.",
        );
        return Ok(again(StatusCode::UNPROCESSABLE_ENTITY, error.into()));
    }
    // Logged as typed (escaped, cut short): never the password.
    let shown: String = name.chars().take(64).collect();
    // Reserved off the async workers: the throttle's counts are in the storage.
    let throttle = state.console.throttle().clone();
    let (reserve_name, reserve_client) = (name.clone(), client.clone());
    let reserved = tokio::task::spawn_blocking(move || {
        throttle.reserve(&reserve_name, &reserve_client, now_ms())
    })
    .await;
    // Not reserved, so not checked: a password is never verified past the throttle.
    let unavailable = |why: &dyn std::fmt::Display| {
        tracing::error!(user = ?shown, client = %client, "console sign-in refused: the throttle cannot count: {why}");
        let error = tr(
            lang.lang,
            "暂时无法登录，请稍后再试。",
            "Sign-in is unavailable for the moment; try again in a minute.",
        );
        let page = again(StatusCode::SERVICE_UNAVAILABLE, error.into());
        retry_after(page, std::time::Duration::from_secs(30))
    };
    let attempt = match reserved {
        Ok(Ok(Ok(a))) => a,
        Ok(Ok(Err(refused))) => {
            tracing::warn!(user = ?shown, client = %client, ?refused, "console sign-in refused before checking: throttled");
            let wait = match refused {
                Refused::Busy => std::time::Duration::from_secs(1),
                Refused::Wait(wait) => wait,
            };
            let page = again(
                StatusCode::TOO_MANY_REQUESTS,
                refused_message(lang.lang, refused),
            );
            return Ok(retry_after(page, wait));
        }
        Ok(Err(e)) => return Ok(unavailable(&e)),
        Err(e) => return Ok(unavailable(&e)),
    };
    let storage = state.storage.clone();
    let lookup_name = name.clone();
    let checked = state
        .hashing
        .run(move || check_password(storage.as_ref(), &lookup_name, &typed_password))
        .await;
    let user = match checked {
        Err(PoolBusy) => {
            not_tried(attempt).await;
            tracing::warn!(user = ?shown, client = %client, "console sign-in refused: password checks busy");
            let error = tr(
                lang.lang,
                "系统繁忙，请几秒后再试。",
                "The hub is busy; try again in a few seconds.",
            );
            let page = again(StatusCode::SERVICE_UNAVAILABLE, error.into());
            return Ok(retry_after(page, std::time::Duration::from_secs(5)));
        }
        Ok(Err(e)) => {
            not_tried(attempt).await;
            return Err(PageError::new(&lang, e));
        }
        Ok(Ok(Some(user))) if console_role(user.role) => user,
        Ok(Ok(_)) => {
            // 401 always means "checked, and wrong"; 429 "not checked".
            let wait = match blocking(move || Ok(attempt.failed(now_ms())?)).await {
                Ok(wait) => wait,
                Err(e) => {
                    tracing::error!(user = ?shown, client = %client, "a failed sign-in could not be counted yet: {e:?}");
                    std::time::Duration::ZERO
                }
            };
            tracing::warn!(user = ?shown, client = %client, "console sign-in failed");
            let mut error = tr(
                lang.lang,
                "用户名或密码不正确。",
                "The user name or password is wrong.",
            )
            .to_string();
            if !wait.is_zero() {
                tracing::warn!(user = ?shown, client = %client, wait_s = wait.as_secs(), "console sign-in: this client waits before trying this name again");
                error = format!(
                    "{error} {}",
                    refused_message(lang.lang, Refused::Wait(wait))
                );
            }
            return Ok(again(StatusCode::UNAUTHORIZED, error));
        }
    };
    let (console, user_id) = (state.console.clone(), user.id.clone());
    let id = blocking(move || {
        if let Err(e) = attempt.succeeded(now_ms()) {
            tracing::warn!("a successful sign-in could not be recorded: {e}");
        }
        Ok(console.open(&user_id)?)
    })
    .await
    .or_page(&lang)?;
    tracing::info!(user = %user.id, client = %client, "console sign-in");
    let mut response = Redirect::to(&next).into_response();
    let h = response.headers_mut();
    h.append(header::SET_COOKIE, state.console.session_cookie(&id));
    h.append(
        header::SET_COOKIE,
        set_cookie(signin_cookie_name(&state.console), "", Some(0)),
    );
    Ok(response)
}

/// Records that `attempt`'s password was never checked. Outcomes are recorded off the async
/// workers (the throttle's counts are in the storage); one that cannot be recorded is logged,
/// and the attempt's lease then ends and counts it as a failure (see [`super::throttle`]).
async fn not_tried(attempt: Attempt) {
    if let Err(e) = blocking(move || Ok(attempt.not_tried(now_ms())?)).await {
        tracing::warn!("a sign-in attempt not checked could not be recorded: {e:?}");
    }
}

/// The user named `name` if `password` is theirs and their account is not deactivated; the
/// same work (one verification) whether or not the name exists or has a password, and the
/// same answer for a deactivated account as for a wrong password.
fn check_password(
    storage: &dyn crate::storage::Storage,
    name: &str,
    password: &str,
) -> Result<Option<crate::storage::UserRecord>, AppError> {
    let user = storage.user_by_name(name)?;
    let user = match user.as_ref().and_then(|u| u.password_hash.as_deref()) {
        Some(hash) if password::verify(password, hash) => user,
        Some(_) => None,
        None => {
            password::verify_nothing(password);
            None
        }
    };
    match user {
        Some(u) if storage.account_status(&u.id)?.deactivated_at.is_none() => Ok(Some(u)),
        _ => Ok(None),
    }
}

fn refused_message(l: Lang, refused: Refused) -> String {
    match refused {
        Refused::Busy => tr(
            l,
            "这个用户名正在登录，请稍候再试。",
            "A sign-in for this user name is being checked; try again in a moment.",
        )
        .to_string(),
        Refused::Wait(wait) => {
            let minutes = wait.as_secs().div_ceil(60).max(1);
            match l {
                Lang::Zh => {
                    format!("登录失败次数过多，请 {minutes} 分钟后再试，或请管理员重设密码。")
                }
                Lang::En => format!(
                    "Too many failed sign-ins: try again in {minutes} minute(s), or ask an administrator to reset the password."
                ),
            }
        }
    }
}

/// `GET /console/sign-out`: signing out is a form (POST); a link lands on the sign-in page.
pub(crate) async fn sign_out_page() -> Redirect {
    Redirect::to("/console/sign-in")
}

/// `POST /console/sign-out`.
pub(crate) async fn sign_out(
    lang: PageLang,
    axum::extract::State(state): axum::extract::State<AppState>,
    form: csrf::SignedForm,
) -> Result<Response, PageError> {
    let (console, id) = (state.console.clone(), form.signed.session_id.clone());
    blocking(move || Ok(console.close(&id)?))
        .await
        .or_page(&lang)?;
    tracing::info!(user = %form.signed.user.id, "console sign-out");
    let mut response = Redirect::to("/console/sign-in?signed_out=1").into_response();
    response
        .headers_mut()
        .append(header::SET_COOKIE, state.console.clear_session_cookie());
    Ok(response)
}
