//! Deactivating and reactivating accounts of every role. Deactivation asks first, on a page of
//! its own that says what will stop: sign-in, the open sessions (ended at once), and for a
//! clerk, reviewer or administrator the devices listed there, which the hub refuses until the
//! account is reactivated (their unsynced work stays on them; see [`crate::auth::Standing`]).
//! An administrator cannot deactivate their own account, nor the last administrator who can
//! sign in: both are refused again when the form comes back, nothing changed.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use bianmin_domain::Role;
use maud::{Markup, html};

use super::users::{
    OneUser, Refusal, admin_error, area_name, last_admin_message, load_user, refuse_on_user_page,
};
use super::{Admin, AdminForm};
use crate::AppState;
use crate::admin::{self, AdminError};
use crate::error::AppError;
use crate::storage::DeviceRecord;
use crate::web::console::csrf;
use crate::web::console::session::Signed;
use crate::web::console::{OrPage, PageError, blocking, console_page, labels};
use crate::web::i18n::{Lang, PageLang, tr};

/// The account card of a clerk's, reviewer's or administrator's page (a resident's page has its
/// own, with the activation code).
pub(super) fn staff_card(l: Lang, signed: &Signed, loaded: &OneUser) -> Markup {
    let user = &loaded.user;
    let base = format!("/console/admin/users/{}", user.id);
    html! {
        section.card #account {
            h2 { (tr(l, "账号状态", "Account")) }
            @match loaded.account.deactivated_at {
                Some(at) => {
                    p {
                        span.overdue { (tr(l, "已停用", "Deactivated")) } " "
                        span.small { (labels::time(bianmin_domain::Timestamp(at))) }
                    }
                    form #reactivate method="post" action={ (base) "/reactivate" } {
                        (csrf::field(&signed.csrf))
                        p { (tr(l, "重新启用后，原密码可以再登录，设备可以再同步（包括停用期间未同步的数据）。",
                                "Once reactivated, the same password signs in again and the devices sync again (what they kept meanwhile included).")) }
                        p { button type="submit" { (tr(l, "重新启用账号", "Reactivate the account")) } }
                    }
                }
                None => {
                    p { (tr(l, "在用", "Active")) }
                    @if user.id == signed.user.id {
                        p.small { (tr(l, "不能停用自己的账号。", "You cannot deactivate your own account.")) }
                    } @else {
                        p { a href={ (base) "/deactivate" } { (tr(l, "停用账号…", "Deactivate the account…")) } }
                    }
                }
            }
        }
    }
}

/// Why an account cannot be deactivated now, if it cannot.
fn refusal(l: Lang, signed: &Signed, loaded: &OneUser) -> Option<String> {
    if loaded.user.id == signed.user.id {
        Some(
            tr(
                l,
                "未做更改：不能停用自己的账号。请另一位管理员操作。",
                "Nothing was changed: you cannot deactivate your own account. Ask another administrator.",
            )
            .to_string(),
        )
    } else if loaded.last_admin {
        Some(last_admin_message(l))
    } else {
        None
    }
}

/// What deactivation stops, said before it is confirmed.
fn consequences(l: Lang, role: Role, devices: &[DeviceRecord]) -> Markup {
    html! {
        @if role == Role::Resident {
            p.error {
                (tr(l, "停用后，居民不能再登录居民页面，已登录的手机立即退出，未使用的激活码作废。居民的设备不受影响（如需要，请在“设备”页面停用）。之后可以重新启用。",
                    "Once deactivated, the resident can no longer sign in to the resident pages, open sessions end at once and an unused activation code stops working. The resident's devices are not affected (revoke them on the Devices page if need be). The account can be reactivated later."))
            }
        } @else {
            p.error {
                (tr(l, "停用后，这个用户不能再登录审核台，已登录的会话立即退出；下列设备从下一次请求起不能同步，直到账号重新启用（未同步的数据保留在设备上，重新启用后照常上传）。",
                    "Once deactivated, this user can no longer sign in to the console and open sessions end at once; the devices below are refused from their next request until the account is reactivated (their unsynced work stays on them and is sent after reactivation)."))
            }
            h2 { (tr(l, "将停止同步的设备", "Devices that stop syncing")) }
            @if devices.is_empty() {
                p { (tr(l, "没有在用的设备。", "No active device.")) }
            } @else {
                ul #stopped-devices {
                    @for d in devices { li { (d.name) " (#" (d.device_no) ")" } }
                }
            }
        }
    }
}

/// `GET /console/admin/users/{id}/deactivate`: asks for confirmation.
pub(crate) async fn confirm_deactivate(
    lang: PageLang,
    Admin(signed): Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let l = lang.lang;
    let loaded = load_user(&state, id).await.or_page(&lang)?;
    let OneUser {
        user,
        devices,
        reference,
        account,
        ..
    } = &loaded;
    let base = format!("/console/admin/users/{}", user.id);
    let stopping: Vec<DeviceRecord> = match admin::devices_follow_account(user.role) {
        true => devices
            .iter()
            .filter(|d| d.revoked_at.is_none())
            .cloned()
            .collect(),
        false => Vec::new(),
    };
    let active_devices = devices.iter().filter(|d| d.revoked_at.is_none()).count();
    let refused = refusal(l, &signed, &loaded);
    let body = html! {
        section.card {
            dl {
                dt { (tr(l, "用户", "User")) } dd { (user.display_name) " · " (user.name) }
                dt { (tr(l, "角色", "Role")) } dd { (labels::role(l, user.role)) }
                dt { (tr(l, "辖区", "Area")) } dd { (area_name(l, reference.as_ref(), &user.area)) }
                dt { (tr(l, "在用设备", "Active devices")) } dd { (active_devices) }
            }
        }
        @if account.deactivated_at.is_some() {
            p.notice { (tr(l, "这个账号早已停用。", "This account was deactivated already.")) }
            p { a href=(base) { (tr(l, "← 返回", "← Back")) } }
        } @else if let Some(why) = refused {
            p.error role="alert" { (why) }
            p { a href=(base) { (tr(l, "← 返回", "← Back")) } }
        } @else {
            form.card #deactivate method="post" action={ (base) "/deactivate" } {
                (csrf::field(&signed.csrf))
                (consequences(l, user.role, &stopping))
                p {
                    button type="submit" { (tr(l, "确认停用", "Deactivate the account")) }
                    " "
                    a href=(base) { (tr(l, "取消", "Cancel")) }
                }
            }
        }
    };
    Ok(console_page(
        lang,
        StatusCode::OK,
        &signed,
        tr(l, "停用账号", "Deactivate an account"),
        body,
    ))
}

/// Deactivates (`active` false) or reactivates the account; ends its sessions in this hub's
/// cache at once when deactivated (storage ended the stored ones).
async fn set_active(
    lang: PageLang,
    state: AppState,
    signed: Signed,
    id: String,
    active: bool,
) -> Result<Response, PageError> {
    let l = lang.lang;
    let loaded = load_user(&state, id.clone()).await.or_page(&lang)?;
    if !active && let Some(why) = refusal(l, &signed, &loaded) {
        return refuse_on_user_page(lang, &state, &signed, id, Refusal::Account(why)).await;
    }
    let user = loaded.user;
    let (storage, console, user_id, name) = (
        state.storage.clone(),
        state.console.clone(),
        user.id.clone(),
        user.name.clone(),
    );
    let changed = blocking(move || {
        let changed = match active {
            true => admin::reactivate_user(storage.as_ref(), &name),
            false => admin::deactivate_user(storage.as_ref(), &name),
        };
        if let (false, Ok(_)) = (active, &changed) {
            console.end_sessions_of(&user_id)?;
        }
        Ok::<_, AppError>(changed)
    })
    .await
    .or_page(&lang)?;
    let changed = match changed {
        Ok(changed) => changed,
        Err(AdminError::LastAdministrator) => {
            let refusal = Refusal::Account(last_admin_message(l));
            return refuse_on_user_page(lang, &state, &signed, id, refusal).await;
        }
        Err(e) => return Err(PageError::new(&lang, admin_error(e))),
    };
    tracing::info!(admin = %signed.user.id, user = %user.id, active, changed, "console admin: account state");
    let done = match (active, changed) {
        (true, _) => "reactivated",
        (false, true) => "deactivated",
        (false, false) => "already_deactivated",
    };
    Ok(Redirect::to(&format!("/console/admin/users/{}?done={done}", user.id)).into_response())
}

/// `POST /console/admin/users/{id}/deactivate`.
pub(crate) async fn deactivate(
    lang: PageLang,
    State(state): State<AppState>,
    Path(id): Path<String>,
    AdminForm { signed, .. }: AdminForm,
) -> Result<Response, PageError> {
    set_active(lang, state, signed, id, false).await
}

/// `POST /console/admin/users/{id}/reactivate`.
pub(crate) async fn reactivate(
    lang: PageLang,
    State(state): State<AppState>,
    Path(id): Path<String>,
    AdminForm { signed, .. }: AdminForm,
) -> Result<Response, PageError> {
    set_active(lang, state, signed, id, true).await
}
