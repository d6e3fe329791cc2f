//! Users and roles: the list, adding a user (name, display name, role, area), and a user's
//! page where the display name is changed (`profile`), the console password is set or removed
//! (a ticked confirmation, checked again here; never the last administrator's), the user is
//! signed out everywhere, the account deactivated or reactivated (`accounts`) and, for a
//! resident, the resident account opened or reset (a one-time activation code, shown once).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use bianmin_domain::Role;
use bianmin_protocol::ReferenceData;
use maud::{Markup, html};
use serde::Deserialize;

use super::{Admin, AdminForm, accounts, error, notice, profile};
use crate::AppState;
use crate::admin::{self, ActivationCode, AdminError};
use crate::error::AppError;
use crate::password::{MAX_LENGTH, MIN_LENGTH, PasswordError};
use crate::storage::{AccountStatus, DeviceRecord, StorageError, UserRecord};
use crate::web::console::csrf;
use crate::web::console::session::Signed;
use crate::web::console::{OrPage, PageError, blocking, console_page, labels};
use crate::web::i18n::{Lang, PageLang, tr};

/// The roles, in the order the form offers them.
const ROLES: [Role; 4] = [
    Role::Resident,
    Role::Clerk,
    Role::Reviewer,
    Role::Administrator,
];

#[derive(Debug, Default, Deserialize)]
pub(crate) struct DoneQuery {
    done: Option<String>,
    /// Sessions ended, after "sign out everywhere".
    ended: Option<usize>,
}

/// An area's name from the directory: the county, a township or a village (its code if unknown).
pub(super) fn area_name(l: Lang, reference: Option<&ReferenceData>, area: &str) -> String {
    let pick = |zh: &str, en: &str| match l {
        Lang::Zh => zh.to_string(),
        Lang::En => en.to_string(),
    };
    let Some(dir) = reference.map(|r| &r.directory) else {
        return area.to_string();
    };
    if dir.county.code == area {
        return pick(&dir.county.name_zh, &dir.county.name_en);
    }
    for t in &dir.townships {
        if t.code == area {
            return pick(&t.name_zh, &t.name_en);
        }
        if let Some(v) = t.villages.iter().find(|v| v.code == area) {
            return pick(&v.name_zh, &v.name_en);
        }
    }
    area.to_string()
}

/// What the add form shows again after a refusal.
#[derive(Default)]
struct AddForm {
    name: String,
    display_name: String,
    role: String,
    area: String,
    error: Option<String>,
}

fn render_list(
    lang: PageLang,
    status: StatusCode,
    signed: &Signed,
    (users, devices, reference): &Listed,
    message: Option<String>,
    form: &AddForm,
) -> Response {
    let l = lang.lang;
    let reference = reference.as_ref();
    let body = html! {
        (notice(message))
        table.users {
            thead { tr {
                th { (tr(l, "用户名", "User name")) }
                th { (tr(l, "显示名称", "Display name")) }
                th { (tr(l, "角色", "Role")) }
                th { (tr(l, "辖区", "Area")) }
                th { (tr(l, "审核台密码", "Console password")) }
                th { (tr(l, "在用设备", "Active devices")) }
            } }
            tbody {
                @for u in users {
                    tr {
                        td { a href={ "/console/admin/users/" (u.id) } { (u.name) } }
                        td { (u.display_name) }
                        td { (labels::role(l, u.role)) }
                        td { (area_name(l, reference, &u.area)) " " span.small { "(" (u.area) ")" } }
                        td { @if u.password_hash.is_some() { (tr(l, "已设置", "set")) } @else { "—" } }
                        td { (devices.iter().filter(|d| d.user_id == u.id && d.revoked_at.is_none()).count()) }
                    }
                }
            }
        }
        (add_form(l, signed, reference, form))
    };
    console_page(
        lang,
        status,
        signed,
        tr(l, "用户和角色", "Users and roles"),
        body,
    )
}

fn add_form(l: Lang, signed: &Signed, reference: Option<&ReferenceData>, f: &AddForm) -> Markup {
    html! {
        form.card #add-user method="post" action="/console/admin/users" {
            h2 { (tr(l, "添加用户", "Add a user")) }
            (error(f.error.as_deref()))
            (csrf::field(&signed.csrf))
            label for="u-name" { (tr(l, "用户名（登录用，字母、数字、- _ .）", "User name (for signing in: letters, digits, - _ .)")) }
            input #u-name type="text" name="name" value=(f.name) maxlength="64" required
                autocapitalize="none" spellcheck="false";
            label for="u-display" { (tr(l, "显示名称", "Display name")) }
            input #u-display type="text" name="display_name" value=(f.display_name) maxlength="100";
            label for="u-role" { (tr(l, "角色", "Role")) }
            select #u-role name="role" required {
                option value="" selected[f.role.is_empty()] { (tr(l, "请选择", "Choose")) }
                @for r in ROLES {
                    option value=(r.as_str()) selected[f.role == r.as_str()] { (labels::role(l, r)) }
                }
            }
            label for="u-area" {
                (tr(l, "辖区（居民、代办员选村，审核员选乡镇，管理员选县）",
                    "Area (a village for residents and clerks, a township for reviewers, the county for administrators)"))
            }
            @match reference {
                Some(r) => {
                    select #u-area name="area" required {
                        option value="" selected[f.area.is_empty()] { (tr(l, "请选择", "Choose")) }
                        @let dir = &r.directory;
                        option value=(dir.county.code) selected[f.area == dir.county.code] {
                            (area_name(l, reference, &dir.county.code)) " (" (dir.county.code) ")"
                        }
                        @for t in &dir.townships {
                            option value=(t.code) selected[f.area == t.code] {
                                "— " (area_name(l, reference, &t.code)) " (" (t.code) ")"
                            }
                            @for v in &t.villages {
                                option value=(v.code) selected[f.area == v.code] {
                                    "—— " (area_name(l, reference, &v.code)) " (" (v.code) ")"
                                }
                            }
                        }
                    }
                }
                None => {
                    input #u-area type="text" name="area" value=(f.area) required inputmode="numeric";
                }
            }
            p { button type="submit" { (tr(l, "添加", "Add")) } }
            p.small {
                (tr(l, "添加后，在用户页面设置审核台密码，或在“设备”页面为其平板生成登记码。",
                    "Then set a console password on the user's page, or issue an enrolment code for their tablet on the Devices page."))
            }
        }
    }
}

type Listed = (Vec<UserRecord>, Vec<DeviceRecord>, Option<ReferenceData>);

async fn load_list(state: &AppState) -> Result<Listed, AppError> {
    let storage = state.storage.clone();
    blocking(move || Ok((storage.users()?, storage.devices()?, storage.reference()?))).await
}

/// `GET /console/admin/users`.
pub(crate) async fn list(
    lang: PageLang,
    Admin(signed): Admin,
    State(state): State<AppState>,
    Query(q): Query<DoneQuery>,
) -> Result<Response, PageError> {
    let l = lang.lang;
    let listed = load_list(&state).await.or_page(&lang)?;
    let message = match q.done.as_deref() {
        Some("added") => Some(tr(l, "用户已添加。", "The user was added.").to_string()),
        _ => None,
    };
    Ok(render_list(
        lang,
        StatusCode::OK,
        &signed,
        &listed,
        message,
        &AddForm::default(),
    ))
}

/// Why a user could not be added, in the page's language.
fn add_error(l: Lang, name: &str, e: &AdminError) -> Option<String> {
    Some(match e {
        AdminError::Invalid(v) if v.field == "name" => tr(
            l,
            "用户名须为 1 到 64 个字母、数字、“-”、“_”或“.”（不能有空格或汉字）。",
            "The user name must be 1 to 64 letters, digits, '-', '_' or '.' (no spaces).",
        )
        .to_string(),
        AdminError::Invalid(v) if v.field == "identity.area" => tr(
            l,
            "辖区与角色不符：居民和代办员选村（12 位代码），审核员选乡镇（9 位），管理员选县（6 位）。",
            "The area does not fit the role: a village (12 digits) for residents and clerks, a township (9) for reviewers, the county (6) for administrators.",
        )
        .to_string(),
        AdminError::Invalid(v) if v.field == "display_name" => profile::invalid_message(l),
        AdminError::Invalid(v) if v.field == "area" => tr(
            l,
            "辖区不在已加载的村庄目录中。",
            "The area is not in the loaded village directory.",
        )
        .to_string(),
        AdminError::Storage(StorageError::Duplicate(_)) => format!(
            "{}{name}{}",
            tr(l, "用户名“", "The user name '"),
            tr(
                l,
                "”已被使用，请换一个。",
                "' is taken already: choose another."
            )
        ),
        _ => return None,
    })
}

/// `POST /console/admin/users`: adds a user.
pub(crate) async fn add(
    lang: PageLang,
    State(state): State<AppState>,
    AdminForm { signed, fields }: AdminForm,
) -> Result<Response, PageError> {
    let l = lang.lang;
    let mut form = AddForm {
        name: fields.text("name").trim().to_string(),
        display_name: fields.text("display_name").trim().to_string(),
        role: fields.text("role"),
        area: fields.text("area").trim().to_string(),
        error: None,
    };
    let role = Role::parse(&form.role).ok();
    let refused = if role.is_none() {
        Some(tr(l, "请选择角色。", "Choose a role.").to_string())
    } else if form.area.is_empty() {
        Some(tr(l, "请选择辖区。", "Choose an area.").to_string())
    } else if !form.display_name.is_empty()
        && admin::check_display_name(&form.display_name).is_err()
    {
        Some(profile::invalid_message(l))
    } else {
        None
    };
    if refused.is_none()
        && let Some(role) = role
    {
        let storage = state.storage.clone();
        let (name, display, area) = (
            form.name.clone(),
            form.display_name.clone(),
            form.area.clone(),
        );
        let added = blocking(move || {
            Ok(admin::add_user(
                storage.as_ref(),
                &name,
                &display,
                role,
                &area,
            ))
        })
        .await
        .or_page(&lang)?;
        match added {
            Ok(user) => {
                tracing::info!(admin = %signed.user.id, user = %user.id, role = %role, "console admin: user added");
                return Ok(Redirect::to("/console/admin/users?done=added").into_response());
            }
            Err(e) => match add_error(l, &form.name, &e) {
                Some(message) => form.error = Some(message),
                None => return Err(PageError::new(&lang, admin_error(e))),
            },
        }
    } else {
        form.error = refused;
    }
    tracing::info!(admin = %signed.user.id, "console admin: adding a user refused");
    let listed = load_list(&state).await.or_page(&lang)?;
    Ok(render_list(
        lang,
        StatusCode::UNPROCESSABLE_ENTITY,
        &signed,
        &listed,
        None,
        &form,
    ))
}

/// An administrative failure as the console's error.
pub(super) fn admin_error(e: AdminError) -> AppError {
    match e {
        AdminError::Storage(s) => AppError::from(s),
        AdminError::Invalid(v) => {
            AppError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", v.to_string())
        }
        AdminError::Password(p) => {
            AppError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", p.to_string())
        }
        AdminError::LastAdministrator => {
            AppError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", e.to_string())
        }
    }
}

/// Why the last administrator who can sign in keeps their access, in the page's language.
pub(super) fn last_admin_message(l: Lang) -> String {
    tr(
        l,
        "未做更改：这是唯一能登录审核台的管理员。请先为另一位管理员设置密码，再删除这位的密码或停用其账号。",
        "Nothing was changed: this is the only administrator who can sign in to the console. Give another administrator a password first, then remove this one's or deactivate the account.",
    )
    .to_string()
}

/// A user's page's data.
pub(super) struct OneUser {
    /// The user.
    pub user: UserRecord,
    /// Their devices, revoked ones included.
    pub devices: Vec<DeviceRecord>,
    /// The reference data (area names).
    pub reference: Option<ReferenceData>,
    /// Deactivation and a pending activation code.
    pub account: AccountStatus,
    /// Whether they are the last administrator who can sign in.
    pub last_admin: bool,
}

pub(super) async fn load_user(state: &AppState, id: String) -> Result<OneUser, AppError> {
    let storage = state.storage.clone();
    blocking(move || {
        let user = storage
            .user(&id)?
            .ok_or_else(|| AppError::new(StatusCode::NOT_FOUND, "not_found", "no such user"))?;
        let devices = storage
            .devices()?
            .into_iter()
            .filter(|d| d.user_id == user.id)
            .collect();
        let account = storage.account_status(&user.id)?;
        let last_admin =
            admin::is_last_administrator(storage.as_ref(), &user).map_err(admin_error)?;
        Ok(OneUser {
            user,
            devices,
            reference: storage.reference()?,
            account,
            last_admin,
        })
    })
    .await
}

/// Which form of a user's page a refusal belongs to, with its message.
pub(super) enum Refusal {
    /// Setting the password.
    SetPassword(String),
    /// Removing the password.
    ClearPassword(String),
    /// The display name, with what was typed.
    DisplayName { message: String, typed: String },
    /// Deactivation or reactivation.
    Account(String),
}

/// What a user's page shows besides the user.
#[derive(Default)]
pub(super) struct Shown<'a> {
    /// The notice after an action.
    pub message: Option<String>,
    /// A refused form.
    pub refused: Option<Refusal>,
    /// An activation code just issued.
    pub issued: Option<&'a ActivationCode>,
}

/// The user's page, answered with `status`.
pub(super) fn render_user(
    lang: PageLang,
    status: StatusCode,
    signed: &Signed,
    loaded: &OneUser,
    shown: Shown<'_>,
) -> Response {
    let l = lang.lang;
    let OneUser {
        user,
        devices,
        reference,
        account,
        ..
    } = loaded;
    let refused = shown.refused.as_ref();
    let refused_in = |pick: fn(&Refusal) -> Option<&str>| refused.and_then(pick);
    let body = html! {
        (notice(shown.message))
        (error(refused_in(|r| match r { Refusal::Account(m) => Some(m), _ => None })))
        @if let Some(issued) = shown.issued { (activation_card(l, issued)) }
        @if user.role == Role::Resident { (resident_account(l, signed, user, account)) }
        (summary(l, user, reference.as_ref()))
        (profile::card(l, signed, user, refused))
        (set_password_card(l, signed, user, refused_in(|r| match r { Refusal::SetPassword(m) => Some(m), _ => None })))
        (clear_password_card(l, signed, loaded, refused_in(|r| match r { Refusal::ClearPassword(m) => Some(m), _ => None })))
        (end_sessions_card(l, signed, user))
        @if user.role != Role::Resident { (accounts::staff_card(l, signed, loaded)) }
        (devices_card(l, devices))
        p { a href="/console/admin/users" { (tr(l, "← 全部用户", "← All users")) } }
    };
    let mut response = console_page(lang, status, signed, &user.display_name, body);
    if shown.issued.is_some() {
        // Shown once: never kept by the browser or a proxy (`web::headers` adds the same to
        // every console answer; said here too because it matters most here).
        response.headers_mut().insert(
            axum::http::header::CACHE_CONTROL,
            axum::http::HeaderValue::from_static("no-store"),
        );
    }
    response
}

fn summary(l: Lang, user: &UserRecord, reference: Option<&ReferenceData>) -> Markup {
    html! {
        section.card {
            dl {
                dt { (tr(l, "用户名", "User name")) } dd { (user.name) }
                dt { (tr(l, "显示名称", "Display name")) } dd { (user.display_name) }
                dt { (tr(l, "角色", "Role")) } dd { (labels::role(l, user.role)) }
                dt { (tr(l, "辖区", "Area")) } dd { (area_name(l, reference, &user.area)) " (" (user.area) ")" }
                dt { (tr(l, "添加时间", "Added")) } dd { (labels::time(bianmin_domain::Timestamp(user.created_at))) }
                dt { (tr(l, "审核台密码", "Console password")) }
                dd {
                    @if user.password_hash.is_some() { (tr(l, "已设置", "Set")) } @else { (tr(l, "未设置（不能登录审核台）", "None (cannot sign in to the console)")) }
                    @if !crate::web::console::session::console_role(user.role) {
                        br; span.small { (tr(l, "这个角色不能登录审核台。", "This role cannot sign in to the console.")) }
                    }
                }
            }
        }
    }
}

fn set_password_card(l: Lang, signed: &Signed, user: &UserRecord, refused: Option<&str>) -> Markup {
    let base = format!("/console/admin/users/{}", user.id);
    html! {
        form.card #set-password method="post" action={ (base) "/password" } {
            h2 { (tr(l, "设置审核台密码", "Set the console password")) }
            (error(refused))
            (csrf::field(&signed.csrf))
            label for="p-new" { (tr(l, "新密码（8 到 256 个字符）", "New password (8 to 256 characters)")) }
            input #p-new type="password" name="password" autocomplete="new-password" required minlength="8" maxlength="256";
            label for="p-again" { (tr(l, "再输入一次", "Again")) }
            input #p-again type="password" name="again" autocomplete="new-password" required minlength="8" maxlength="256";
            p { button type="submit" { (tr(l, "设置密码", "Set password")) } }
            p.small { (tr(l, "只保存密码的哈希值。设置新密码后，这个用户所有已登录的会话都会退出。",
                          "Only the password's hash is stored. Setting a new password signs this user out of every open session.")) }
        }
    }
}

/// Removing the password: a ticked confirmation (checked again by [`clear_password`]), plain
/// words when it is the administrator's own, and no form for the last administrator who can
/// sign in.
fn clear_password_card(
    l: Lang,
    signed: &Signed,
    loaded: &OneUser,
    refused: Option<&str>,
) -> Markup {
    let user = &loaded.user;
    if user.password_hash.is_none() {
        return html! {};
    }
    let own = user.id == signed.user.id;
    let base = format!("/console/admin/users/{}", user.id);
    html! {
        section.card #clear-password {
            h2 { (tr(l, "删除审核台密码", "Remove the console password")) }
            (error(refused))
            @if loaded.last_admin {
                p { (tr(l, "不能删除：这是唯一能登录审核台的管理员。请先为另一位管理员设置密码。",
                        "Not possible: this is the only administrator who can sign in to the console. Give another administrator a password first.")) }
            } @else {
                form method="post" action={ (base) "/password/clear" } {
                    (csrf::field(&signed.csrf))
                    @if own {
                        p.error #own-password-warning {
                            strong { (tr(l, "这是您自己的密码。", "This is your own password.")) }
                            " "
                            (tr(l, "删除后您会立即退出审核台，并且不能再登录，直到另一位管理员为您设置新密码（或在中心平台的服务器上用命令行设置）。",
                                "Once it is removed you are signed out at once and cannot sign in again until another administrator sets you a new password (or it is set with the command line on the hub's machine)."))
                        }
                    } @else {
                        p { (tr(l, "删除后这个用户不能再登录审核台，已登录的会话也随即退出。",
                                "No more sign-ins afterwards, and every open session of this user is signed out.")) }
                    }
                    div.confirm {
                        input #clear-confirm type="checkbox" name="confirm" value="yes" required;
                        label.inline for="clear-confirm" {
                            " "
                            @if own { (tr(l, "我明白删除后自己将无法登录，确认删除", "I understand I will not be able to sign in: remove my password")) }
                            @else { (tr(l, "确认删除这个用户的审核台密码", "Remove this user's console password")) }
                        }
                    }
                    p { button type="submit" { (tr(l, "删除密码", "Remove password")) } }
                }
            }
        }
    }
}

fn end_sessions_card(l: Lang, signed: &Signed, user: &UserRecord) -> Markup {
    let base = format!("/console/admin/users/{}", user.id);
    html! {
        form.card #end-sessions method="post" action={ (base) "/sessions/end" } {
            h2 { (tr(l, "退出所有会话", "Sign out everywhere")) }
            (csrf::field(&signed.csrf))
            p { (tr(l, "这个用户在所有电脑上的审核台会话立即退出（例如电脑丢失或密码可能泄露时）。",
                    "Ends this user's console sessions on every computer at once (a lost computer, a password that may have leaked).")) }
            p { button.secondary type="submit" { (tr(l, "退出所有会话", "Sign out everywhere")) } }
        }
    }
}

fn devices_card(l: Lang, devices: &[DeviceRecord]) -> Markup {
    html! {
        section.card {
            h2 { (tr(l, "设备", "Devices")) }
            @if devices.is_empty() {
                p { (tr(l, "没有登记的设备。", "No enrolled device.")) }
            } @else {
                ul {
                    @for d in devices {
                        li {
                            (d.name) " (#" (d.device_no) ") "
                            @if d.revoked_at.is_some() { (tr(l, "已停用", "revoked")) } @else { (tr(l, "使用中", "active")) }
                        }
                    }
                }
            }
            p { a href="/console/admin/devices" { (tr(l, "生成登记码或停用设备", "Issue an enrolment code or revoke a device")) } }
        }
    }
}

/// Answers a refused form of a user's page: the page again, 422, the refusal in its form.
pub(super) async fn refuse_on_user_page(
    lang: PageLang,
    state: &AppState,
    signed: &Signed,
    id: String,
    refusal: Refusal,
) -> Result<Response, PageError> {
    tracing::info!(admin = %signed.user.id, "console admin: a user's form refused");
    let loaded = load_user(state, id).await.or_page(&lang)?;
    let shown = Shown {
        refused: Some(refusal),
        ..Shown::default()
    };
    Ok(render_user(
        lang,
        StatusCode::UNPROCESSABLE_ENTITY,
        signed,
        &loaded,
        shown,
    ))
}

/// The resident account's part of a resident's page: its state, a new activation code, and
/// deactivation or reactivation.
fn resident_account(
    l: Lang,
    signed: &Signed,
    user: &UserRecord,
    account: &AccountStatus,
) -> Markup {
    let base = format!("/console/admin/users/{}", user.id);
    let now = chrono::Utc::now().timestamp_millis();
    html! {
        section.card #resident-account {
            h2 { (tr(l, "居民账号（手机登录）", "Resident account (sign-in on a phone)")) }
            dl {
                dt { (tr(l, "状态", "State")) }
                dd {
                    @match account.deactivated_at {
                        Some(at) => {
                            span.overdue { (tr(l, "已停用", "Deactivated")) }
                            " " span.small { (labels::time(bianmin_domain::Timestamp(at))) }
                        }
                        None if user.password_hash.is_some() => { (tr(l, "已激活", "Active")) }
                        None => { (tr(l, "未激活（尚未设置密码）", "Not activated (no password yet)")) }
                    }
                }
                dt { (tr(l, "激活码", "Activation code")) }
                dd {
                    @match account.pending_code {
                        Some(c) if c.expires_at > now => {
                            (tr(l, "已生成、尚未使用，有效至 ", "Issued, not used yet, valid until "))
                            (labels::time(bianmin_domain::Timestamp(c.expires_at)))
                        }
                        Some(c) => {
                            (tr(l, "已过期（", "Expired ("))
                            (labels::time(bianmin_domain::Timestamp(c.expires_at)))
                            (tr(l, "）", ")"))
                        }
                        None => { "—" }
                    }
                }
            }
            @if account.deactivated_at.is_none() {
                form #issue-activation method="post" action={ (base) "/activation-code" } {
                    (csrf::field(&signed.csrf))
                    p.small {
                        (tr(l, "生成一次性激活码，打印或当面读给居民；居民在手机上打开“居民服务”（/resident/activate），输入用户名、激活码并设置密码。新激活码生成后，旧的未用激活码立即失效；原密码在新激活码使用前仍然有效。",
                            "Issue a one-time activation code to print or read out to the resident, who opens the resident pages (/resident/activate) on a phone and enters the user name, the code and a new password. A new code voids the earlier unused one; a password set before keeps working until the new code is used."))
                    }
                    p { button type="submit" { (tr(l, "生成激活码", "Issue an activation code")) } }
                }
                p { a href={ (base) "/deactivate" } { (tr(l, "停用账号…", "Deactivate the account…")) } }
            } @else {
                form #reactivate method="post" action={ (base) "/reactivate" } {
                    (csrf::field(&signed.csrf))
                    p { (tr(l, "重新启用后，居民可以用原来的密码登录。",
                            "Once reactivated, the resident signs in with the same password as before.")) }
                    p { button type="submit" { (tr(l, "重新启用账号", "Reactivate the account")) } }
                }
            }
        }
    }
}

/// A freshly issued activation code, large, for printing or reading out.
fn activation_card(l: Lang, issued: &ActivationCode) -> Markup {
    html! {
        section.card.notice.activation role="status" {
            h2 { (tr(l, "居民激活码（只显示这一次）", "Resident activation code (shown this once)")) }
            p { (tr(l, "居民：", "Resident: ")) strong { (issued.user.display_name) } " · " (tr(l, "用户名 ", "user name ")) strong { (issued.user.name) } }
            p.code.big-code { code #activation-code { (issued.code) } }
            p {
                (tr(l, "有效至 ", "Valid until ")) (labels::time(bianmin_domain::Timestamp(issued.expires_at)))
                (tr(l, "。请居民在手机上打开 /resident/activate，输入用户名、这个激活码，并设置自己的密码。激活码用过一次即失效。",
                    ". The resident opens /resident/activate on a phone and enters the user name, this code and a password of their own. The code works once."))
            }
        }
    }
}

/// The notice after an action named by `done`.
fn done_message(l: Lang, done: &str, user: &UserRecord, ended: usize) -> Option<String> {
    let resident = user.role == Role::Resident;
    Some(match done {
        "password_set" => tr(l, "审核台密码已设置。", "The console password is set.").to_string(),
        "password_cleared" => {
            tr(l, "审核台密码已删除。", "The console password is removed.").to_string()
        }
        "renamed" => tr(l, "显示名称已更改。", "The display name is changed.").to_string(),
        "deactivated" if resident => tr(
            l,
            "居民账号已停用：不能再登录，已登录的会话已退出；设备不受影响。",
            "The resident account is deactivated: no more sign-in, open sessions ended; devices are not affected.",
        )
        .to_string(),
        "deactivated" => tr(
            l,
            "账号已停用：不能再登录审核台，已登录的会话已退出；其设备在重新启用前不能同步，未同步的数据保留在设备上。",
            "The account is deactivated: no more console sign-in, open sessions ended; its devices cannot sync until it is reactivated, their unsynced work kept on them.",
        )
        .to_string(),
        "already_deactivated" => {
            tr(l, "这个账号早已停用。", "This account was deactivated already.").to_string()
        }
        "reactivated" if resident => tr(
            l,
            "居民账号已重新启用。",
            "The resident account is active again.",
        )
        .to_string(),
        "reactivated" => tr(
            l,
            "账号已重新启用：原密码可以登录，设备可以同步。",
            "The account is active again: the same password signs in and its devices sync.",
        )
        .to_string(),
        "signed_out" => match l {
            Lang::Zh => format!("已退出这个用户的 {ended} 个会话。"),
            Lang::En => format!("{ended} session(s) of this user signed out."),
        },
        _ => return None,
    })
}

/// `GET /console/admin/users/{id}`.
pub(crate) async fn show(
    lang: PageLang,
    Admin(signed): Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<DoneQuery>,
) -> Result<Response, PageError> {
    let loaded = load_user(&state, id).await.or_page(&lang)?;
    let message = q
        .done
        .as_deref()
        .and_then(|done| done_message(lang.lang, done, &loaded.user, q.ended.unwrap_or(0)));
    let shown = Shown {
        message,
        ..Shown::default()
    };
    Ok(render_user(lang, StatusCode::OK, &signed, &loaded, shown))
}

/// `GET` on a form's address (a reload): back to the user's page.
pub(crate) async fn back_to_user(Path(id): Path<String>) -> Response {
    let id: String = id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    Redirect::to(&format!("/console/admin/users/{id}")).into_response()
}

async fn change_password(
    lang: PageLang,
    state: AppState,
    signed: Signed,
    id: String,
    password: Option<String>,
) -> Result<Response, PageError> {
    let (storage, console) = (state.storage.clone(), state.console.clone());
    let user_id = id.clone();
    let set = password.is_some();
    // Hashing runs in the bounded pool, like every password check.
    let changed = state
        .hashing
        .run(move || {
            let user = storage
                .user(&user_id)?
                .ok_or_else(|| AppError::new(StatusCode::NOT_FOUND, "not_found", "no such user"))?;
            let changed = admin::set_password(storage.as_ref(), &user.name, password.as_deref());
            if changed.is_ok() {
                // Storage ended the stored sessions; this hub's cache forgets them at once.
                console.end_sessions_of(&user.id)?;
            }
            Ok::<_, AppError>(changed)
        })
        .await
        .map_err(|busy| AppError::new(StatusCode::SERVICE_UNAVAILABLE, "busy", busy.to_string()))
        .and_then(|r| r)
        .or_page(&lang)?;
    let l = lang.lang;
    match changed {
        Ok(user) => {
            tracing::info!(admin = %signed.user.id, user = %user.id, set, "console admin: console password changed");
            if !set && user.id == signed.user.id {
                // Their own: the session just ended.
                return Ok(Redirect::to("/console/sign-in").into_response());
            }
            let done = if set {
                "password_set"
            } else {
                "password_cleared"
            };
            Ok(
                Redirect::to(&format!("/console/admin/users/{}?done={done}", user.id))
                    .into_response(),
            )
        }
        Err(AdminError::Password(PasswordError::Length)) => {
            let refusal = Refusal::SetPassword(length_message(l));
            refuse_on_user_page(lang, &state, &signed, id, refusal).await
        }
        Err(AdminError::LastAdministrator) => {
            let refusal = Refusal::ClearPassword(last_admin_message(l));
            refuse_on_user_page(lang, &state, &signed, id, refusal).await
        }
        Err(e) => Err(PageError::new(&lang, admin_error(e))),
    }
}

fn length_message(l: Lang) -> String {
    match l {
        Lang::Zh => format!("密码须为 {MIN_LENGTH} 到 {MAX_LENGTH} 个字符。"),
        Lang::En => format!("A password must be {MIN_LENGTH} to {MAX_LENGTH} characters."),
    }
}

/// `POST /console/admin/users/{id}/password`: sets the console password.
pub(crate) async fn set_password(
    lang: PageLang,
    State(state): State<AppState>,
    Path(id): Path<String>,
    AdminForm { signed, fields }: AdminForm,
) -> Result<Response, PageError> {
    let l = lang.lang;
    let password = fields.text("password");
    if password != fields.text("again") {
        let message = tr(
            l,
            "两次输入的密码不一致，未做更改。",
            "The two passwords differ; nothing was changed.",
        )
        .to_string();
        return refuse_on_user_page(lang, &state, &signed, id, Refusal::SetPassword(message)).await;
    }
    change_password(lang, state, signed, id, Some(password)).await
}

/// `POST /console/admin/users/{id}/sessions/end`: signs the user out everywhere.
pub(crate) async fn end_sessions(
    lang: PageLang,
    State(state): State<AppState>,
    Path(id): Path<String>,
    AdminForm { signed, .. }: AdminForm,
) -> Result<Response, PageError> {
    let (storage, console, user_id) = (state.storage.clone(), state.console.clone(), id.clone());
    let (user, ended) = blocking(move || {
        let user = storage
            .user(&user_id)?
            .ok_or_else(|| AppError::new(StatusCode::NOT_FOUND, "not_found", "no such user"))?;
        let ended = console.end_sessions_of(&user.id)?;
        Ok((user, ended))
    })
    .await
    .or_page(&lang)?;
    tracing::info!(admin = %signed.user.id, user = %user.id, ended, "console admin: user signed out everywhere");
    let done = format!(
        "/console/admin/users/{}?done=signed_out&ended={ended}",
        user.id
    );
    Ok(Redirect::to(&done).into_response())
}

/// `POST /console/admin/users/{id}/password/clear`: removes the console password, only with its
/// confirmation ticked (`confirm=yes`); never the last administrator's who can sign in.
pub(crate) async fn clear_password(
    lang: PageLang,
    State(state): State<AppState>,
    Path(id): Path<String>,
    AdminForm { signed, fields }: AdminForm,
) -> Result<Response, PageError> {
    if fields.get("confirm") != Some("yes") {
        let message = tr(
            lang.lang,
            "请先勾选确认框：未做任何更改。",
            "Tick the confirmation first: nothing was changed.",
        )
        .to_string();
        return refuse_on_user_page(lang, &state, &signed, id, Refusal::ClearPassword(message))
            .await;
    }
    change_password(lang, state, signed, id, None).await
}

/// A resident user of the page's id, or the reason not: 404 for no such user, 422 for another
/// role (the form is only shown on residents' pages).
async fn resident(state: &AppState, id: String) -> Result<UserRecord, AppError> {
    let storage = state.storage.clone();
    let user = blocking(move || {
        storage
            .user(&id)?
            .ok_or_else(|| AppError::new(StatusCode::NOT_FOUND, "not_found", "no such user"))
    })
    .await?;
    if user.role != Role::Resident {
        return Err(AppError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            "activation codes are for resident accounts only",
        ));
    }
    Ok(user)
}

/// `POST /console/admin/users/{id}/activation-code`: issues a resident's activation code and
/// shows it once.
pub(crate) async fn issue_activation_code(
    lang: PageLang,
    State(state): State<AppState>,
    Path(id): Path<String>,
    AdminForm { signed, .. }: AdminForm,
) -> Result<Response, PageError> {
    let user = resident(&state, id.clone()).await.or_page(&lang)?;
    let storage = state.storage.clone();
    let issued = blocking(move || {
        admin::issue_activation_code(storage.as_ref(), &user.name, admin::ACTIVATION_VALIDITY)
            .map_err(admin_error)
    })
    .await
    .or_page(&lang)?;
    tracing::info!(admin = %signed.user.id, user = %issued.user.id, "console admin: resident activation code issued");
    let loaded = load_user(&state, id).await.or_page(&lang)?;
    let shown = Shown {
        issued: Some(&issued),
        ..Shown::default()
    };
    Ok(render_user(lang, StatusCode::OK, &signed, &loaded, shown))
}
