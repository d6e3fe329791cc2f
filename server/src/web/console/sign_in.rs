//! Signing in and out of the console.
//!
//! The answers never tell whether a user name exists: a wrong name and a wrong password get
//! the same message after the same work (one Argon2 verification), and failures lock a name
//! whether it exists or not. Only once the password is right does the page say that the
//! account's role cannot use the console.

use axum::extract::{Form, Query};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;

use super::csrf::{self, Fields};
use super::session::{Signed, console_role, cookie, safe_next};
use super::token;
use super::{OrPage, PageError, blocking};
use crate::AppState;
use crate::password;
use crate::web::i18n::{PageLang, tr};
use crate::web::layout;

/// The cookie carrying the sign-in form's token (there is no session yet).
const SIGNIN_COOKIE: &str = "bianmin_signin";

/// Where a signed-in user lands.
const HOME: &str = "/console/requests";

#[derive(Debug, Default, Deserialize)]
pub(crate) struct SignInQuery {
    next: Option<String>,
    signed_out: Option<String>,
}

fn signin_cookie(token: &str) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{SIGNIN_COOKIE}={token}; Path=/console; HttpOnly; SameSite=Strict; Max-Age=3600"
    ))
    .expect("hex and ASCII")
}

fn clear_signin_cookie() -> HeaderValue {
    HeaderValue::from_static("bianmin_signin=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// What the sign-in form shows besides its fields.
struct FormState<'a> {
    token: &'a str,
    name: &'a str,
    next: &'a str,
    error: Option<String>,
    notice: Option<&'a str>,
}

fn render(lang: PageLang, status: StatusCode, f: FormState<'_>) -> Response {
    let l = lang.lang;
    let body = html! {
        (super::style())
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
    response
        .headers_mut()
        .append(header::SET_COOKIE, signin_cookie(f.token));
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The sign-in token of this browser: its cookie's, if well formed, else a new one.
fn token_of(headers: &HeaderMap) -> String {
    match cookie(headers, SIGNIN_COOKIE) {
        Some(t) if t.len() == 32 && t.bytes().all(|b| b.is_ascii_hexdigit()) => t.to_string(),
        _ => token::random_hex(),
    }
}

/// `GET /console/sign-in`: the form (or, when signed in already, the queue).
pub(crate) async fn form(
    lang: PageLang,
    signed: Result<Signed, Response>,
    headers: HeaderMap,
    Query(q): Query<SignInQuery>,
) -> Response {
    let next = q.next.as_deref().and_then(safe_next).unwrap_or(HOME);
    if signed.is_ok() {
        return Redirect::to(next).into_response();
    }
    let token = token_of(&headers);
    let notice = q
        .signed_out
        .is_some()
        .then(|| tr(lang.lang, "您已退出登录。", "You have signed out."));
    render(
        lang,
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
    axum::extract::State(state): axum::extract::State<AppState>,
    headers: HeaderMap,
    form: Result<Form<Vec<(String, String)>>, axum::extract::rejection::FormRejection>,
) -> Result<Response, PageError> {
    let l = lang.lang;
    let fields = Fields(form.map(|Form(f)| f).unwrap_or_default());
    let Some(token) = cookie(&headers, SIGNIN_COOKIE).map(str::to_string) else {
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
            status,
            FormState {
                token: &token,
                name: &name,
                next: &next,
                error: Some(error),
                notice: None,
            },
        )
    };
    let locked_message = || {
        tr(
            l,
            "这个用户名登录失败次数过多，已暂时锁定。请 15 分钟后再试，或请管理员重设密码。",
            "Too many failed sign-ins for this user name: it is locked for a while. Try again in 15 minutes, or ask an administrator to reset the password.",
        )
        .to_string()
    };
    if name.is_empty() || typed_password.is_empty() {
        return Ok(again(
            StatusCode::UNPROCESSABLE_ENTITY,
            tr(
                l,
                "请输入用户名和密码。",
                "Enter your user name and password.",
            )
            .into(),
        ));
    }
    if state.console.locked(&name) {
        return Ok(again(StatusCode::TOO_MANY_REQUESTS, locked_message()));
    }
    let storage = state.storage.clone();
    let lookup_name = name.clone();
    let found = blocking(move || {
        let user = storage.user_by_name(&lookup_name)?;
        Ok(match user {
            Some(u) => match u.password_hash.as_deref() {
                Some(hash) if password::verify(&typed_password, hash) => Some(u),
                Some(_) => None,
                None => {
                    password::verify_nothing(&typed_password);
                    None
                }
            },
            None => {
                password::verify_nothing(&typed_password);
                None
            }
        })
    })
    .await
    .or_page(&lang)?;
    Ok(match found {
        Some(user) if console_role(user.role) => {
            state.console.succeeded(&name);
            let (console, user_id) = (state.console.clone(), user.id.clone());
            let id = blocking(move || Ok(console.open(&user_id)?))
                .await
                .or_page(&lang)?;
            tracing::info!(user = %user.id, "console sign-in");
            let mut response = Redirect::to(&next).into_response();
            let h = response.headers_mut();
            h.append(header::SET_COOKIE, state.console.session_cookie(&id));
            h.append(header::SET_COOKIE, clear_signin_cookie());
            response
        }
        Some(user) => {
            tracing::info!(user = %user.id, "console sign-in refused: role");
            again(
                StatusCode::FORBIDDEN,
                tr(
                    l,
                    "这个账号不能登录审核台：审核台只供乡镇审核员和县管理员使用。村代办员和居民请使用便民服务点的平板。",
                    "This account cannot use the console: it is for township reviewers and county administrators. Clerks and residents use the service point's tablet.",
                )
                .into(),
            )
        }
        None => {
            if state.console.failed(&name) {
                again(StatusCode::TOO_MANY_REQUESTS, locked_message())
            } else {
                again(
                    StatusCode::UNAUTHORIZED,
                    tr(
                        l,
                        "用户名或密码不正确。",
                        "The user name or password is wrong.",
                    )
                    .into(),
                )
            }
        }
    })
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
