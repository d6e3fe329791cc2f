//! Devices: the list (user, number, enrolled, revoked), one-time enrolment codes for a user's
//! tablet (shown once, on the answer to the form, never in an address or a log), and revoking
//! a device after a confirmation page.

use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use bianmin_domain::Timestamp;
use maud::{Markup, html};
use serde::Deserialize;

use super::users::admin_error;
use super::{Admin, AdminForm, error, notice};
use crate::AppState;
use crate::admin;
use crate::error::AppError;
use crate::storage::{DeviceRecord, UserRecord};
use crate::web::console::csrf;
use crate::web::console::session::Signed;
use crate::web::console::{OrPage, PageError, blocking, console_page, labels};
use crate::web::i18n::{Lang, PageLang, tr};

/// How long a code may stay valid, in hours: the choices offered (the first is the default).
const VALIDITY_HOURS: [u64; 4] = [24, 1, 72, 168];

#[derive(Debug, Default, Deserialize)]
pub(crate) struct DoneQuery {
    done: Option<String>,
}

type Listed = (Vec<DeviceRecord>, Vec<UserRecord>);

async fn load(state: &AppState) -> Result<Listed, AppError> {
    let storage = state.storage.clone();
    blocking(move || Ok((storage.devices()?, storage.users()?))).await
}

fn user_of<'a>(users: &'a [UserRecord], id: &str) -> Option<&'a UserRecord> {
    users.iter().find(|u| u.id == id)
}

/// A freshly issued code, shown once.
struct Issued {
    code: String,
    user: UserRecord,
    expires_at: i64,
}

fn render(
    lang: PageLang,
    status: StatusCode,
    signed: &Signed,
    (devices, users): &Listed,
    message: Option<String>,
    issued: Option<&Issued>,
    refused: Option<&str>,
) -> Response {
    let l = lang.lang;
    let body = html! {
        (notice(message))
        @if let Some(i) = issued { (issued_card(l, i)) }
        @if devices.is_empty() {
            p { (tr(l, "还没有登记的设备。", "No device is enrolled yet.")) }
        } @else {
            table.devices {
                thead { tr {
                    th { (tr(l, "编号", "No.")) }
                    th { (tr(l, "设备名称", "Device name")) }
                    th { (tr(l, "用户", "User")) }
                    th { (tr(l, "登记时间", "Enrolled")) }
                    th { (tr(l, "状态", "State")) }
                    th { (tr(l, "操作", "Action")) }
                } }
                tbody {
                    @for d in devices {
                        tr {
                            td { "#" (d.device_no) }
                            td { (d.name) }
                            td {
                                @match user_of(users, &d.user_id) {
                                    Some(u) => { a href={ "/console/admin/users/" (u.id) } { (u.display_name) } " (" (labels::role(l, u.role)) ")" }
                                    None => { (d.user_id) }
                                }
                            }
                            td { (labels::time(Timestamp(d.enrolled_at))) }
                            td {
                                @match d.revoked_at {
                                    Some(at) => { span.overdue { (tr(l, "已停用", "Revoked")) } br; span.small { (labels::time(Timestamp(at))) } }
                                    None => { (tr(l, "使用中", "Active")) }
                                }
                            }
                            td {
                                @if d.revoked_at.is_none() {
                                    a href={ "/console/admin/devices/" (d.id) "/revoke" } { (tr(l, "停用…", "Revoke…")) }
                                }
                            }
                        }
                    }
                }
            }
        }
        form.card #issue-code method="post" action="/console/admin/devices/code" {
            h2 { (tr(l, "生成一次性登记码", "Issue a one-time enrolment code")) }
            (error(refused))
            (csrf::field(&signed.csrf))
            label for="c-user" { (tr(l, "设备的使用者", "The device's user")) }
            select #c-user name="user" required {
                option value="" { (tr(l, "请选择", "Choose")) }
                @for u in users {
                    option value=(u.id) { (u.display_name) " · " (u.name) " (" (labels::role(l, u.role)) ")" }
                }
            }
            label for="c-valid" { (tr(l, "有效期", "Valid for")) }
            select #c-valid name="hours" {
                @for h in VALIDITY_HOURS {
                    option value=(h) { (validity(l, h)) }
                }
            }
            p { button type="submit" { (tr(l, "生成登记码", "Issue a code")) } }
            p.small { (tr(l, "登记码只显示一次，只能用一次；中心平台只保存它的哈希值。",
                          "The code is shown once and works once; the hub keeps only its hash.")) }
        }
    };
    let mut response = console_page(lang, status, signed, tr(l, "设备", "Devices"), body);
    if issued.is_some() {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

fn validity(l: Lang, hours: u64) -> String {
    match (l, hours) {
        (Lang::Zh, h) if h % 24 == 0 => format!("{} 天", h / 24),
        (Lang::Zh, h) => format!("{h} 小时"),
        (Lang::En, 24) => "1 day".to_string(),
        (Lang::En, h) if h % 24 == 0 => format!("{} days", h / 24),
        (Lang::En, 1) => "1 hour".to_string(),
        (Lang::En, h) => format!("{h} hours"),
    }
}

fn issued_card(l: Lang, i: &Issued) -> Markup {
    html! {
        section.card.notice role="status" {
            h2 { (tr(l, "登记码（只显示这一次）", "Enrolment code (shown this once)")) }
            p {
                (tr(l, "用户：", "User: ")) strong { (i.user.display_name) } " (" (labels::role(l, i.user.role)) ")"
            }
            p.code {
                code #enrolment-code { (i.code) }
            }
            p {
                (tr(l, "有效至 ", "Valid until ")) (labels::time(Timestamp(i.expires_at)))
                (tr(l, "。在平板上登记时输入它；用过一次即失效。", ". Enter it on the tablet when enrolling; it works once."))
            }
        }
    }
}

/// `GET /console/admin/devices`.
pub(crate) async fn list(
    lang: PageLang,
    Admin(signed): Admin,
    State(state): State<AppState>,
    Query(q): Query<DoneQuery>,
) -> Result<Response, PageError> {
    let l = lang.lang;
    let listed = load(&state).await.or_page(&lang)?;
    let message = match q.done.as_deref() {
        Some("revoked") => Some(
            tr(
                l,
                "设备已停用：它的下一次同步会被拒绝，上面尚未同步的工作留在设备上。",
                "The device is revoked: its next sync is refused; unsynced work stays on it.",
            )
            .to_string(),
        ),
        Some("already_revoked") => {
            Some(tr(l, "这台设备早已停用。", "This device was revoked already.").to_string())
        }
        _ => None,
    };
    Ok(render(
        lang,
        StatusCode::OK,
        &signed,
        &listed,
        message,
        None,
        None,
    ))
}

/// `POST /console/admin/devices/code`: issues a code and shows it once.
pub(crate) async fn issue_code(
    lang: PageLang,
    State(state): State<AppState>,
    AdminForm { signed, fields }: AdminForm,
) -> Result<Response, PageError> {
    let l = lang.lang;
    let user_id = fields.text("user");
    let hours: u64 = fields
        .text("hours")
        .parse()
        .ok()
        .filter(|h| VALIDITY_HOURS.contains(h))
        .unwrap_or(VALIDITY_HOURS[0]);
    let storage = state.storage.clone();
    let issued = blocking(move || {
        let Some(user) = storage.user(&user_id)? else {
            return Ok(None);
        };
        let code = admin::issue_enrolment_code(
            storage.as_ref(),
            &user.name,
            Duration::from_secs(hours * 3600),
        )
        .map_err(admin_error)?;
        let expires_at = chrono::Utc::now().timestamp_millis() + (hours * 3600 * 1000) as i64;
        Ok(Some(Issued {
            code,
            user,
            expires_at,
        }))
    })
    .await;
    let listed = load(&state).await.or_page(&lang)?;
    Ok(match issued.or_page(&lang)? {
        Some(issued) => {
            tracing::info!(admin = %signed.user.id, user = %issued.user.id, hours, "console admin: enrolment code issued");
            render(
                lang,
                StatusCode::OK,
                &signed,
                &listed,
                None,
                Some(&issued),
                None,
            )
        }
        None => render(
            lang,
            StatusCode::UNPROCESSABLE_ENTITY,
            &signed,
            &listed,
            None,
            None,
            Some(tr(l, "请选择设备的使用者。", "Choose the device's user.")),
        ),
    })
}

async fn device(
    state: &AppState,
    id: String,
) -> Result<(DeviceRecord, Option<UserRecord>), AppError> {
    let storage = state.storage.clone();
    blocking(move || {
        let device = storage
            .devices()?
            .into_iter()
            .find(|d| d.id == id)
            .ok_or_else(|| AppError::new(StatusCode::NOT_FOUND, "not_found", "no such device"))?;
        let user = storage.user(&device.user_id)?;
        Ok((device, user))
    })
    .await
}

/// `GET /console/admin/devices/{id}/revoke`: asks for confirmation.
pub(crate) async fn confirm_revoke(
    lang: PageLang,
    Admin(signed): Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let l = lang.lang;
    let (d, user) = device(&state, id).await.or_page(&lang)?;
    let body = html! {
        section.card {
            dl {
                dt { (tr(l, "设备", "Device")) } dd { (d.name) " (#" (d.device_no) ")" }
                dt { (tr(l, "用户", "User")) }
                dd { @match &user { Some(u) => { (u.display_name) " (" (labels::role(l, u.role)) ")" } None => { (d.user_id) } } }
                dt { (tr(l, "登记时间", "Enrolled")) } dd { (labels::time(Timestamp(d.enrolled_at))) }
            }
        }
        @if d.revoked_at.is_some() {
            p.notice { (tr(l, "这台设备早已停用。", "This device was revoked already.")) }
        } @else {
            form.card #revoke method="post" action={ "/console/admin/devices/" (d.id) "/revoke" } {
                (csrf::field(&signed.csrf))
                p.error {
                    (tr(l, "停用后，这台设备的下一次同步和所有请求都会被拒绝，不能恢复；它上面尚未同步的工作留在设备上。要继续使用，需用新的登记码重新登记。",
                        "Once revoked, every request of this device is refused, for good; its unsynced work stays on it. To use it again, enrol it anew with a new code."))
                }
                p {
                    button type="submit" { (tr(l, "确认停用", "Revoke the device")) }
                    " "
                    a href="/console/admin/devices" { (tr(l, "取消", "Cancel")) }
                }
            }
        }
    };
    Ok(console_page(
        lang,
        StatusCode::OK,
        &signed,
        tr(l, "停用设备", "Revoke a device"),
        body,
    ))
}

/// `POST /console/admin/devices/{id}/revoke`.
pub(crate) async fn revoke(
    lang: PageLang,
    State(state): State<AppState>,
    Path(id): Path<String>,
    AdminForm { signed, .. }: AdminForm,
) -> Result<Response, PageError> {
    let storage = state.storage.clone();
    let device_id = id.clone();
    let newly =
        blocking(move || admin::revoke_device(storage.as_ref(), &device_id).map_err(admin_error))
            .await
            .or_page(&lang)?;
    tracing::info!(admin = %signed.user.id, device = %id, newly, "console admin: device revoked");
    let done = if newly { "revoked" } else { "already_revoked" };
    Ok(Redirect::to(&format!("/console/admin/devices?done={done}")).into_response())
}
