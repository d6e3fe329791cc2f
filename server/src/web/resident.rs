//! The resident pages (`/resident/…`): a resident signs in on their own phone, sees their own
//! requests (status, deadline, what is missing, history), files new ones with photos of the
//! materials, supplements a returned one, withdraws, rates a finished one; and finds a link to
//! their village's public notices. Chinese by default, English with `?lang=en`; large type for a small screen; plain
//! forms that work without JavaScript. See `docs/residents.md`.
//!
//! With JavaScript (progressive enhancement, `assets`): photos are scaled on the phone and sent
//! in resumable pieces (`uploads`), a form filled in while the link is down is kept on the phone
//! and sent when it returns, and a service worker keeps the pages visited for offline use.
//! Every form that writes carries a submission key, so that whatever sends it twice, it is
//! written once.
//!
//! A resident account is opened by an administrator (console or command line): a one-time
//! activation code ([`crate::admin::issue_activation_code`]) printed or read out at the
//! service point, with which the resident chooses a password here (`activate`). Only
//! residents sign in here, and residents never reach the console: each side checks the role
//! on every request, and each has its own session cookie.
//!
//! What the console has, reused rather than copied:
//!
//! - sessions: the console's [`Console`](super::console::Console) keeps these too (stored,
//!   cached, checked again every few seconds, the same time-outs), under the cookie
//!   `bianmin_resident`; the role decides which side a session may use.
//! - sign-in throttling: the console's [`Throttle`](super::console::throttle::Throttle) with
//!   the same figures and lockout, its keys (name, client) prefixed with [`THROTTLE_PREFIX`] so
//!   residents' failures and the console's never count against each other.
//! - passwords: hashed and verified in the hub's bounded [`crate::password::HashingPool`].
//! - CSRF: the session's token in every form once signed in (`session::ResidentForm`); before
//!   that, a token matched against the short-lived cookie `bianmin_resident_form`, as the
//!   console's sign-in does.
//! - storage calls run off the async workers (the PostgreSQL client panics on them).
//!
//! Modules: `session` (the signed-in resident and their forms), `sign_in`, `activate`, `home`
//! (their requests), `file` (filing a request with photos of its materials), `request` (one
//! request: history, supplement, withdrawal, rating), `upload` (forms with photos: size, token,
//! scaling, submission keys), `uploads` (photos sent in pieces by the script), `assets` (the
//! scripts and the service worker). Writing goes through the engine
//! ([`crate::engine::Engine::resident_file_once`], [`crate::engine::Engine::resident_act_once`]):
//! the document layer's authoring and check, as on a tablet. Every answer but the scripts' is
//! `Cache-Control: no-store`: they carry a session's page or its forms.

mod activate;
pub(crate) mod assets;
mod file;
mod home;
mod request;
mod session;
mod sign_in;
mod upload;
mod uploads;

use axum::Router;
use axum::extract::Form;
use axum::extract::rejection::FormRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::{Markup, html};

use super::console::throttle::{Attempt, Refused};
use super::console::{PageError, blocking};
use super::cookies;
use super::i18n::{Lang, PageLang, tr};
use super::layout;
use crate::AppState;
use crate::error::AppError;
use crate::web::console::csrf::{self, Fields};
use crate::web::public::limiter::now_ms;

/// The resident pages' routes (merged into [`super::routes`]).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/resident", get(home::page))
        .route("/resident/", get(|| async { Redirect::to(HOME) }))
        .route(
            "/resident/sign-in",
            get(sign_in::form).post(sign_in::submit),
        )
        .route(
            "/resident/sign-out",
            get(|| async { Redirect::to(HOME) }).post(sign_in::sign_out),
        )
        .route(
            "/resident/activate",
            get(activate::form).post(activate::submit),
        )
        .route(file::ITEMS, get(file::items))
        .route("/resident/file/{code}", get(file::form))
        .route("/resident/requests/{id}", get(request::page))
        .route(
            "/resident/requests/{id}/withdraw",
            get(request::withdraw_form).post(request::withdraw),
        )
        .route("/resident/requests/{id}/rate", post(request::rate))
        .route("/resident/uploads", get(uploads::session))
        .route("/resident/uploads/{sha256}", get(uploads::status))
        .layer(axum::middleware::map_response(no_store))
        // The scripts: cached for long under addresses that change with their content.
        .merge(assets::routes())
}

/// The resident pages' routes that take photos (merged into [`super::photo_routes`], with the
/// photo forms' body and time limits): filing a request, supplementing one, a photo's piece.
pub fn photo_routes() -> Router<AppState> {
    Router::new()
        .route("/resident/file/{code}", post(file::submit))
        .route(
            "/resident/requests/{id}/supplement",
            post(request::supplement),
        )
        .route(
            "/resident/uploads/{sha256}",
            axum::routing::put(uploads::put_piece),
        )
        // The uploads under way of each resident, in this process (see `uploads`).
        .layer(axum::Extension(uploads::UnderWay::default()))
        .layer(axum::middleware::map_response(no_store))
}

/// Where a signed-in resident lands.
const HOME: &str = "/resident";
/// The sign-in page.
const SIGN_IN: &str = "/resident/sign-in";

/// The resident session's cookie.
pub const SESSION_COOKIE: &str = "bianmin_resident";
/// The cookie carrying a sign-in or activation form's token (there is no session yet).
pub const FORM_COOKIE: &str = "bianmin_resident_form";

/// What the throttle's keys (name and client) start with on the resident side.
pub const THROTTLE_PREFIX: &str = "resident:";

async fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A cookie's name: with `__Host-` when cookies are secure (HTTPS), like the console's.
fn cookie_name(state: &AppState, name: &'static str) -> &'static str {
    match (name, state.console.config().secure_cookies) {
        (SESSION_COOKIE, true) => "__Host-bianmin_resident",
        (FORM_COOKIE, true) => "__Host-bianmin_resident_form",
        _ => name,
    }
}

/// The form token from its cookie, if it matches the one posted.
fn form_token_matches(state: &AppState, headers: &HeaderMap, posted: &str) -> bool {
    cookies::get(headers, cookie_name(state, FORM_COOKIE))
        .is_some_and(|c| super::console::token::matches(c, posted))
}

/// A resident page: the phone's shell (large type, the top bar too), the top bar's links, then
/// `body` (`.resident`: full-width fields and buttons).
fn resident_page(
    lang: PageLang,
    status: StatusCode,
    title: &str,
    nav: &[(&str, String)],
    body: Markup,
) -> Response {
    layout::page_for_with_status(
        layout::Shell::Phone,
        status,
        lang,
        title,
        nav,
        html! { div.resident { (body) } },
    )
}

/// The top bar's links before signing in.
fn signed_out_nav(l: Lang) -> Vec<(&'static str, String)> {
    vec![
        (tr(l, "登录", "Sign in"), SIGN_IN.to_string()),
        (
            tr(l, "激活账号", "Activate your account"),
            "/resident/activate".to_string(),
        ),
        (tr(l, "村务公开", "Village notices"), "/public".to_string()),
    ]
}

/// A pre-session form page (sign-in, activation): a fresh token in the form (`form(token)`)
/// and in its cookie, an hour long.
fn form_page(
    lang: PageLang,
    state: &AppState,
    status: StatusCode,
    title: &str,
    form: impl FnOnce(&str) -> Markup,
) -> Response {
    let l = lang.lang;
    let token = super::console::token::random_hex();
    let mut response = resident_page(lang, status, title, &signed_out_nav(l), form(&token));
    response.headers_mut().append(
        header::SET_COOKIE,
        cookies::set(cookie_name(state, FORM_COOKIE), &token, Some(3600)),
    );
    response
}

/// The fields of a form posted before signing in (sign-in, activation) once its token matches
/// the one in its cookie; else the refusal page to answer with (403, nothing done).
fn signed_out_form(
    lang: &PageLang,
    state: &AppState,
    headers: &HeaderMap,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<Result<Fields, Response>, PageError> {
    let fields = match form {
        Ok(Form(f)) => Fields(f),
        Err(rejection) => {
            let error = AppError::new(rejection.status(), "bad_form", rejection.body_text());
            return Err(PageError::new(lang, error));
        }
    };
    if !form_token_matches(state, headers, fields.get(csrf::FIELD).unwrap_or_default()) {
        return Ok(Err(refused_form(lang.clone())));
    }
    Ok(Ok(fields))
}

/// The refusal of a form whose token is missing or wrong: 403, nothing done.
fn refused_form(lang: PageLang) -> Response {
    let l = lang.lang;
    let body = html! {
        p.error role="alert" {
            (tr(l, "表单已过期或不是从本网站提交的，未做任何操作。请返回，刷新页面后再提交。",
                "This form has expired or did not come from this site: nothing was done. Go back, reload the page and submit again."))
        }
        p { a href=(HOME) { (tr(l, "返回居民服务", "Back to the resident pages")) } }
    };
    resident_page(
        lang,
        StatusCode::FORBIDDEN,
        tr(l, "无法提交", "Not submitted"),
        &signed_out_nav(l),
        body,
    )
}

/// `response` with `Retry-After` in whole seconds, at least one.
fn retry_after(mut response: Response, wait: std::time::Duration) -> Response {
    response.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(wait.as_secs().max(1)),
    );
    response
}

/// Why a sign-in or an activation was refused before it was checked.
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
                Lang::Zh => format!(
                    "失败次数过多，请 {minutes} 分钟后再试；忘记密码请到村便民服务站重新领取激活码。"
                ),
                Lang::En => format!(
                    "Too many failed attempts: try again in {minutes} minute(s). Forgot your password? Ask at the village service point for a new activation code."
                ),
            }
        }
    }
}

/// What the caller answers when an attempt was not reserved.
enum NotReserved {
    /// Throttled: 429 with this wait, and the message.
    Throttled(std::time::Duration, String),
    /// The throttle cannot count (the storage failed): 503, never let through unthrottled.
    Unavailable,
}

/// Reserves an attempt by `client` on the account `name` with the console's throttle, under
/// the resident side's own keys, off the async workers.
async fn reserve(
    state: &AppState,
    l: Lang,
    name: &str,
    client: &str,
) -> Result<Attempt, NotReserved> {
    let throttle = state.console.throttle().clone();
    let (name_key, client_key) = (
        format!("{THROTTLE_PREFIX}{name}"),
        format!("{THROTTLE_PREFIX}{client}"),
    );
    let shown: String = name.chars().take(64).collect();
    let reserved =
        tokio::task::spawn_blocking(move || throttle.reserve(&name_key, &client_key, now_ms()))
            .await;
    match reserved {
        Ok(Ok(Ok(attempt))) => Ok(attempt),
        Ok(Ok(Err(refused))) => {
            tracing::warn!(user = ?shown, client = %client, ?refused, "resident sign-in refused before checking: throttled");
            let wait = match refused {
                Refused::Busy => std::time::Duration::from_secs(1),
                Refused::Wait(wait) => wait,
            };
            Err(NotReserved::Throttled(wait, refused_message(l, refused)))
        }
        Ok(Err(e)) => {
            tracing::error!(user = ?shown, client = %client, "resident sign-in refused: the throttle cannot count: {e}");
            Err(NotReserved::Unavailable)
        }
        Err(e) => {
            tracing::error!(user = ?shown, client = %client, "resident sign-in refused: the throttle cannot count: {e}");
            Err(NotReserved::Unavailable)
        }
    }
}

/// Records a failed attempt (off the async workers); how long this client now waits before
/// trying this name again.
async fn failed(attempt: Attempt) -> std::time::Duration {
    match blocking(move || Ok(attempt.failed(now_ms())?)).await {
        Ok(wait) => wait,
        Err(e) => {
            tracing::error!("a failed resident sign-in could not be counted yet: {e:?}");
            std::time::Duration::ZERO
        }
    }
}

/// Records that an attempt was never checked (the hub was busy).
async fn not_tried(attempt: Attempt) {
    if let Err(e) = blocking(move || Ok(attempt.not_tried(now_ms())?)).await {
        tracing::warn!("a resident sign-in attempt not checked could not be recorded: {e:?}");
    }
}

/// Opens a session for `user_id` after a successful attempt and answers with a redirect to
/// `to`, the session cookie set and the form cookie removed.
async fn open_session(
    lang: &PageLang,
    state: &AppState,
    attempt: Attempt,
    user_id: String,
    to: &str,
) -> Result<Response, PageError> {
    let console = state.console.clone();
    let id = blocking(move || {
        if let Err(e) = attempt.succeeded(now_ms()) {
            tracing::warn!("a successful resident sign-in could not be recorded: {e}");
        }
        Ok(console.open(&user_id)?)
    })
    .await
    .map_err(|e| PageError::new(lang, e))?;
    let mut response = Redirect::to(to).into_response();
    let h = response.headers_mut();
    h.append(
        header::SET_COOKIE,
        cookies::set(cookie_name(state, SESSION_COOKIE), &id, None),
    );
    h.append(
        header::SET_COOKIE,
        cookies::set(cookie_name(state, FORM_COOKIE), "", Some(0)),
    );
    Ok(response)
}

/// A busy hashing pool, as the page says it.
fn busy_message(l: Lang) -> &'static str {
    tr(
        l,
        "系统繁忙，请几秒后再试。",
        "The hub is busy; try again in a few seconds.",
    )
}

/// The throttle could not count, as the page says it.
fn unavailable_message(l: Lang) -> &'static str {
    tr(
        l,
        "暂时无法登录，请稍后再试。",
        "Sign-in is unavailable for the moment; try again in a minute.",
    )
}
