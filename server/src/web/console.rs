//! The township console: server-rendered pages where a township reviewer (or the county
//! administrator) signs in, works through the queue of forwarded requests nearest their
//! deadline, decides them, and reviews the villages' agenda items. See `docs/console.md`.
//!
//! Every page reads through the engine's console API ([`crate::engine::Engine`]), which keeps
//! each user to their own area; every action is written by the engine as an event under the
//! user's own Automerge actor and reaches the village tablets on their next sync.
//!
//! - [`session`]: sessions (stored, cached in memory), the `session::Signed` extractor.
//! - [`throttle`]: sign-in attempts reserved before verifying, per name, client and both.
//! - [`csrf`]: the token every form carries and the `csrf::SignedForm` extractor that checks
//!   it on every POST.
//! - `token`: random tokens and their comparison (session ids, CSRF tokens), which `session`
//!   and `csrf` both use; `csrf` depends on `session`, never the other way.
//! - `page_error`: `PageError`, a failure answered as an error page in the request's
//!   language, which every handler returns as its `Err`.
//! - `sign_in`: the sign-in and sign-out pages. `queue`: the work queue (search, filters,
//!   counts) and its request ledger exports ([`super::ledger`]). `request_page`: a
//!   request's page and its actions. `print`: a request's printable notices (receipt, notice
//!   of materials to supply, decision). `agenda`: agenda items and the township review.
//! - `dashboard`: the dashboard page and its CSV and XLSX exports ([`super::dashboard`]).
//! - `admin`: the administrators' pages (users and passwords, devices and enrolment codes,
//!   the service-item catalog, the holiday calendar); reviewers get 403.
//! - `labels`: the two-language words for the domain's values.

pub mod csrf;
pub(crate) mod labels;
mod page_error;
pub mod session;
pub mod throttle;
pub(crate) mod token;

mod admin;
mod agenda;
mod dashboard;
mod print;
mod queue;
mod request_page;
mod sign_in;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use bianmin_domain::Role;
use maud::{Markup, html};

pub(crate) use page_error::{OrPage, PageError};
pub use session::{Console, ConsoleConfig};

use super::i18n::{Lang, PageLang, tr};
use super::layout;
use crate::AppState;
use crate::error::AppError;

/// The console's routes (merged into [`super::routes`]).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console", get(queue::queue))
        .route("/console/requests", get(queue::queue))
        .route("/console/sign-in", get(sign_in::form).post(sign_in::submit))
        .route(
            "/console/sign-out",
            get(sign_in::sign_out_page).post(sign_in::sign_out),
        )
        .route("/console/requests/{id}", get(request_page::show))
        .route(
            "/console/requests/{id}/reveal",
            get(request_page::back_to_page).post(request_page::reveal),
        )
        .route(
            "/console/requests/{id}/attachments/{sha256}",
            get(request_page::attachment),
        )
        .route("/console/requests/{id}/print/{kind}", get(print::show))
        .route("/console/notice.css", get(print::stylesheet))
        .route(
            "/console/requests/{id}/{action}",
            get(request_page::back_to_page).post(request_page::act),
        )
        .route("/console/agenda", get(agenda::list))
        .route("/console/agenda/{id}", get(agenda::show))
        .route(
            "/console/agenda/{id}/{action}",
            get(agenda::back_to_page).post(agenda::act),
        )
        .route("/console/dashboard", get(dashboard::page))
        .route("/console/dashboard.csv", get(dashboard::csv))
        .route("/console/dashboard.xlsx", get(dashboard::xlsx))
        .route("/console/ledger.csv", get(queue::ledger_csv))
        .route("/console/ledger.xlsx", get(queue::ledger_xlsx))
        .merge(admin::routes())
}

/// The console's routes that take an uploaded file (merged into [`super::import_routes`]).
pub fn import_routes() -> Router<AppState> {
    admin::import_routes()
}

/// The request's language.
pub(crate) async fn lang_of(parts: &mut Parts) -> PageLang {
    match PageLang::from_request_parts(parts, &()).await {
        Ok(lang) => lang,
        Err(never) => match never {},
    }
}

/// How a console user's action on a document ended, unless it failed otherwise (then
/// [`store_action`] answers with its error page).
pub(crate) enum Acted {
    /// Stored: answer with this (a redirect to the page).
    Stored(Response),
    /// Not stored for a reason the user can fix: show the form again with this status and
    /// message.
    Refused(StatusCode, String),
}

/// Stores a console user's action on document `id` under their own actor, once `visible` has
/// checked that they may read the document (out of their area it is not found, as for reading,
/// never "forbidden"); on success the answer is a redirect to `done`.
pub(crate) async fn store_action(
    lang: &PageLang,
    state: &crate::AppState,
    user: &crate::storage::UserRecord,
    id: uuid::Uuid,
    built: Result<bianmin_document::Authoring, String>,
    visible: impl FnOnce(&crate::engine::Engine, &crate::storage::UserRecord) -> Result<(), AppError>
    + Send
    + 'static,
    done: String,
) -> Result<Acted, PageError> {
    let authoring = match built {
        Ok(a) => a,
        Err(message) => return Ok(Acted::Refused(StatusCode::UNPROCESSABLE_ENTITY, message)),
    };
    let engine = state.engine.clone();
    let user = user.clone();
    let stored = blocking(move || {
        visible(&engine, &user)?;
        engine.console_act(&user, id, &authoring)
    })
    .await;
    match stored {
        Ok(()) => Ok(Acted::Stored(Redirect::to(&done).into_response())),
        Err(e)
            if matches!(
                e.status,
                StatusCode::UNPROCESSABLE_ENTITY | StatusCode::CONFLICT
            ) =>
        {
            let l = lang.lang;
            Ok(Acted::Refused(
                e.status,
                format!("{}{}", tr(l, "未保存：", "Not stored: "), e.message),
            ))
        }
        Err(e) => Err(PageError::new(lang, e)),
    }
}

pub(crate) use super::blocking;

/// The top-bar links of every signed-in page (the administration pages for administrators).
pub(crate) fn nav(l: Lang, role: Role) -> Vec<(&'static str, String)> {
    let mut links = vec![
        (tr(l, "待办", "Queue"), "/console/requests".to_string()),
        (
            tr(l, "村务议题", "Agenda items"),
            "/console/agenda".to_string(),
        ),
        (
            tr(l, "统计分析", "Dashboard"),
            "/console/dashboard".to_string(),
        ),
    ];
    if role == Role::Administrator {
        links.extend(admin::nav(l));
    }
    links
}

/// The line above each signed-in page: who is signed in, and the sign-out button.
pub(crate) fn signed_in_bar(l: Lang, signed: &session::Signed) -> Markup {
    html! {
        form.inline.whoami method="post" action="/console/sign-out" {
            (csrf::field(&signed.csrf))
            span { (tr(l, "已登录：", "Signed in: ")) strong { (signed.user.display_name) } " (" (labels::role(l, signed.user.role)) ") " }
            button.secondary type="submit" { (tr(l, "退出登录", "Sign out")) }
        }
    }
}

/// A signed-in page.
pub(crate) fn console_page(
    lang: PageLang,
    status: StatusCode,
    signed: &session::Signed,
    title: &str,
    body: Markup,
) -> Response {
    let l = lang.lang;
    let nav = nav(l, signed.user.role);
    let nav: Vec<(&str, String)> = nav.iter().map(|(a, b)| (*a, b.clone())).collect();
    layout::page_with_status(
        status,
        lang,
        title,
        &nav,
        html! {
            div.bar { (signed_in_bar(l, signed)) }
            (calendar_warning(l, signed))
            (body)
        },
    )
}

/// The warning every page shows while the holiday calendar misses a year of the next 60 days:
/// deadlines running into it are only estimated (Monday to Friday). An administrator gets the
/// link to load it; a reviewer is told whom to ask.
fn calendar_warning(l: Lang, signed: &session::Signed) -> Markup {
    let years: Vec<String> = signed.calendar_gap.iter().map(i32::to_string).collect();
    if years.is_empty() {
        return html! {};
    }
    let years = years.join(tr(l, "、", ", "));
    html! {
        p.error.calendar-gap role="alert" {
            @match l {
                Lang::Zh => { "节假日日历缺少 " (years) " 年：今后 " (session::CALENDAR_AHEAD_DAYS) " 天内落在该年的办理期限只能按周一至周五估算，不含法定节假日和调休。" },
                Lang::En => { "The holiday calendar has no " (years) ": deadlines in the next " (session::CALENDAR_AHEAD_DAYS) " days that fall in it are only estimated, Monday to Friday, without public holidays or adjusted working days." },
            }
            " "
            @if signed.user.role == Role::Administrator {
                a href="/console/admin/calendar" { (tr(l, "载入该年的日历", "Load that year's calendar")) }
            } @else {
                (tr(l, "请县管理员载入该年的日历。", "Ask the county administrator to load it."))
            }
        }
    }
}

/// Percent-encodes a query-string value.
pub(crate) fn encode_query_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A path id: a UUID, or nothing (answered as not found).
pub(crate) fn parse_id(raw: &str) -> Option<uuid::Uuid> {
    uuid::Uuid::parse_str(raw).ok()
}

/// Names for the users and devices a page mentions (events carry ids).
pub(crate) struct Names {
    users: std::collections::HashMap<String, String>,
    devices: std::collections::HashMap<String, String>,
}

impl Names {
    /// The display names of these users and the names of every device.
    pub(crate) fn load<'a>(
        storage: &dyn crate::storage::Storage,
        user_ids: impl IntoIterator<Item = &'a str>,
    ) -> Result<Names, AppError> {
        let ids: std::collections::BTreeSet<&str> = user_ids.into_iter().collect();
        let mut users = std::collections::HashMap::new();
        for id in ids {
            if let Some((key, _village)) = crate::engine::parse_application_user(id) {
                // An application filing through Open311 is no user: it goes by the name the
                // administrator gave its key, which reads the same in either language.
                let name = match storage.open311_key(key)? {
                    Some(k) => format!("{} (Open311)", k.name),
                    None => "Open311".to_string(),
                };
                users.insert(id.to_string(), name);
            } else if let Some(u) = storage.user(id)? {
                users.insert(id.to_string(), u.display_name);
            }
        }
        let devices = storage
            .devices()?
            .into_iter()
            .map(|d| (d.id, format!("{} (#{})", d.name, d.device_no)))
            .collect();
        Ok(Names { users, devices })
    }

    /// Adds `user`'s display name (a user the page mentions since it was loaded).
    pub(crate) fn add(&mut self, user: &crate::storage::UserRecord) {
        self.users
            .insert(user.id.clone(), user.display_name.clone());
    }

    /// A user's display name (the id if unknown).
    pub(crate) fn user(&self, id: &str) -> String {
        self.users
            .get(id)
            .cloned()
            .unwrap_or_else(|| id.to_string())
    }

    /// A device's name and number (the console, or the id if unknown).
    pub(crate) fn device(&self, l: Lang, id: &str) -> String {
        if id == crate::engine::CONSOLE_DEVICE {
            return tr(l, "审核台（网页）", "Console (web)").to_string();
        }
        if id == crate::engine::OPEN311_DEVICE {
            return tr(l, "Open311 接口", "Open311 interface").to_string();
        }
        self.devices
            .get(id)
            .cloned()
            .unwrap_or_else(|| id.to_string())
    }
}

/// When the hub received each event and comment of a document: the audit entry of the change
/// that carried it, by the entry's id (missing for a change not yet on disk).
pub(crate) fn received_by_entry(
    storage: &dyn crate::storage::Storage,
    doc_id: uuid::Uuid,
    audit: &[crate::storage::AuditEntry],
) -> Result<std::collections::HashMap<uuid::Uuid, crate::storage::AuditEntry>, AppError> {
    let Some(record) = storage.document(doc_id)? else {
        return Ok(Default::default());
    };
    let Ok(mut doc) = bianmin_document::Document::load(&record.bytes) else {
        return Ok(Default::default());
    };
    let carriers = doc.log_carriers();
    let by_hash: std::collections::HashMap<&str, &crate::storage::AuditEntry> =
        audit.iter().map(|a| (a.hash.as_str(), a)).collect();
    Ok(carriers
        .events
        .into_iter()
        .chain(carriers.comments)
        .filter_map(|(id, hash)| {
            let entry = by_hash.get(hex::encode(hash).as_str())?;
            Some((id, (*entry).clone()))
        })
        .collect())
}
