//! Open311 API keys: the list (application, township, issued, revoked), issuing a key to an
//! application for one township (shown once, on the answer to the form, never in an address
//! or a log) and revoking one after a confirmation page. See `docs/open311.md`.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use bianmin_domain::Timestamp;
use bianmin_protocol::ReferenceData;
use maud::{Markup, html};
use serde::Deserialize;

use super::users::{admin_error, area_name};
use super::{Admin, AdminForm, error, notice};
use crate::AppState;
use crate::admin::{self, AdminError, IssuedOpen311Key, MAX_OPEN311_KEY_NAME};
use crate::error::AppError;
use crate::storage::Open311Key;
use crate::web::console::csrf;
use crate::web::console::session::Signed;
use crate::web::console::{OrPage, PageError, blocking, console_page, labels};
use crate::web::i18n::{Lang, PageLang, tr};

/// The page's address.
const PAGE: &str = "/console/admin/open311-keys";

#[derive(Debug, Default, Deserialize)]
pub(crate) struct DoneQuery {
    done: Option<String>,
}

type Listed = (Vec<Open311Key>, Option<ReferenceData>);

async fn load(state: &AppState) -> Result<Listed, AppError> {
    let storage = state.storage.clone();
    blocking(move || Ok((storage.open311_keys()?, storage.reference()?))).await
}

/// What the issue form shows again after a refusal.
#[derive(Default)]
struct IssueForm {
    name: String,
    township: String,
    error: Option<&'static str>,
}

fn render(
    lang: PageLang,
    status: StatusCode,
    signed: &Signed,
    (keys, reference): &Listed,
    message: Option<String>,
    issued: Option<&IssuedOpen311Key>,
    form: &IssueForm,
) -> Response {
    let l = lang.lang;
    let reference = reference.as_ref();
    let body = html! {
        (notice(message))
        @if let Some(i) = issued { (issued_card(l, reference, i)) }
        p {
            (tr(l, "登记的应用凭 API 密钥通过 Open311 GeoReport v2 接口（POST /open311/v2/requests）为群众提交办件，每个密钥只能提交到一个乡镇的村。查询接口无需密钥。",
                "Registered applications file requests for people through the Open311 GeoReport v2 API (POST /open311/v2/requests) with an API key, each key for the villages of one township. Reading needs no key."))
        }
        @if keys.is_empty() {
            p { (tr(l, "还没有发放 API 密钥。", "No API key has been issued yet.")) }
        } @else {
            table.open311-keys {
                thead { tr {
                    th { (tr(l, "编号", "No.")) }
                    th { (tr(l, "应用", "Application")) }
                    th { (tr(l, "乡镇", "Township")) }
                    th { (tr(l, "发放时间", "Issued")) }
                    th { (tr(l, "状态", "State")) }
                    th { (tr(l, "操作", "Action")) }
                } }
                tbody {
                    @for k in keys {
                        tr {
                            td { "#" (k.id) }
                            td { (k.name) }
                            td { (area_name(l, reference, &k.township)) " " span.small { "(" (k.township) ")" } }
                            td { (labels::time(Timestamp(k.created_at))) }
                            td {
                                @match k.revoked_at {
                                    Some(at) => { span.overdue { (tr(l, "已停用", "Revoked")) } br; span.small { (labels::time(Timestamp(at))) } }
                                    None => { (tr(l, "使用中", "Active")) }
                                }
                            }
                            td {
                                @if k.revoked_at.is_none() {
                                    a href={ (PAGE) "/" (k.id) "/revoke" } { (tr(l, "停用…", "Revoke…")) }
                                }
                            }
                        }
                    }
                }
            }
        }
        (issue_form(l, signed, reference, form))
    };
    let mut response = console_page(
        lang,
        status,
        signed,
        tr(l, "Open311 接口密钥", "Open311 API keys"),
        body,
    );
    if issued.is_some() {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

fn issue_form(
    l: Lang,
    signed: &Signed,
    reference: Option<&ReferenceData>,
    f: &IssueForm,
) -> Markup {
    html! {
        form.card #issue-key method="post" action=(PAGE) {
            h2 { (tr(l, "发放 API 密钥", "Issue an API key")) }
            (error(f.error))
            (csrf::field(&signed.csrf))
            label for="k-name" { (tr(l, "应用名称", "The application's name")) }
            input #k-name type="text" name="name" value=(f.name) maxlength=(MAX_OPEN311_KEY_NAME) required;
            label for="k-township" { (tr(l, "可提交办件的乡镇", "The township it files requests in")) }
            @match reference {
                Some(r) => {
                    select #k-township name="township" required {
                        option value="" selected[f.township.is_empty()] { (tr(l, "请选择", "Choose")) }
                        @for t in &r.directory.townships {
                            option value=(t.code) selected[f.township == t.code] {
                                (area_name(l, reference, &t.code)) " (" (t.code) ")"
                            }
                        }
                    }
                }
                None => {
                    input #k-township type="text" name="township" value=(f.township) required inputmode="numeric" maxlength="9";
                }
            }
            p { button type="submit" { (tr(l, "发放密钥", "Issue a key")) } }
            p.small { (tr(l, "密钥只显示一次；中心平台只保存它的哈希值。请通过安全的渠道交给应用的运维方。",
                          "The key is shown once; the hub keeps only its hash. Hand it to the application's operators over a safe channel.")) }
        }
    }
}

fn issued_card(l: Lang, reference: Option<&ReferenceData>, i: &IssuedOpen311Key) -> Markup {
    html! {
        section.card.notice role="status" {
            h2 { (tr(l, "API 密钥（只显示这一次）", "API key (shown this once)")) }
            p {
                (tr(l, "应用：", "Application: ")) strong { (i.record.name) }
                " · " (tr(l, "乡镇：", "Township: ")) (area_name(l, reference, &i.record.township)) " (" (i.record.township) ")"
                " · #" (i.record.id)
            }
            p.code {
                code #open311-key { (i.key) }
            }
            p {
                (tr(l, "应用提交办件时以 api_key 发送它。离开本页后无法再查看；遗失时停用它并重新发放。",
                    "The application sends it as api_key when filing. It cannot be shown again after this page: if it is lost, revoke it and issue a new one."))
            }
        }
    }
}

/// `GET /console/admin/open311-keys`.
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
                "密钥已停用：用它提交的请求从现在起都会被拒绝；已提交的办件不受影响。",
                "The key is revoked: every request sent with it is refused from now on; what it filed stays.",
            )
            .to_string(),
        ),
        Some("already_revoked") => {
            Some(tr(l, "这个密钥早已停用。", "This key was revoked already.").to_string())
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
        &IssueForm::default(),
    ))
}

/// `POST /console/admin/open311-keys`: issues a key and shows it once.
pub(crate) async fn issue(
    lang: PageLang,
    State(state): State<AppState>,
    AdminForm { signed, fields }: AdminForm,
) -> Result<Response, PageError> {
    let l = lang.lang;
    let (name, township) = (fields.text("name"), fields.text("township"));
    let storage = state.storage.clone();
    let (n, t) = (name.clone(), township.clone());
    let issued = blocking(move || {
        Ok(match admin::issue_open311_key(storage.as_ref(), &t, &n) {
            Ok(issued) => Ok(issued),
            Err(AdminError::Invalid(v)) => Err(v.field),
            Err(other) => return Err(admin_error(other)),
        })
    })
    .await
    .or_page(&lang)?;
    let listed = load(&state).await.or_page(&lang)?;
    Ok(match issued {
        Ok(issued) => {
            tracing::info!(admin = %signed.user.id, key = issued.record.id, township = %issued.record.township, "console admin: Open311 key issued");
            render(
                lang,
                StatusCode::OK,
                &signed,
                &listed,
                None,
                Some(&issued),
                &IssueForm::default(),
            )
        }
        Err(field) => {
            let error = if field == "name" {
                tr(
                    l,
                    "请填写应用名称（1 到 100 个字，不含控制字符）。",
                    "Enter the application's name (1 to 100 characters, no control characters).",
                )
            } else {
                tr(
                    l,
                    "请选择目录中的一个乡镇。",
                    "Choose a township of the village directory.",
                )
            };
            render(
                lang,
                StatusCode::UNPROCESSABLE_ENTITY,
                &signed,
                &listed,
                None,
                None,
                &IssueForm {
                    name,
                    township,
                    error: Some(error),
                },
            )
        }
    })
}

async fn key(state: &AppState, id: &str) -> Result<(Open311Key, Option<ReferenceData>), AppError> {
    let not_found = || AppError::new(StatusCode::NOT_FOUND, "not_found", "no such key");
    let id: u64 = id.parse().map_err(|_| not_found())?;
    let storage = state.storage.clone();
    blocking(move || {
        let key = storage.open311_key(id)?.ok_or_else(not_found)?;
        Ok((key, storage.reference()?))
    })
    .await
}

/// `GET /console/admin/open311-keys/{id}/revoke`: asks for confirmation.
pub(crate) async fn confirm_revoke(
    lang: PageLang,
    Admin(signed): Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let l = lang.lang;
    let (k, reference) = key(&state, &id).await.or_page(&lang)?;
    let reference = reference.as_ref();
    let body = html! {
        section.card {
            dl {
                dt { (tr(l, "应用", "Application")) } dd { (k.name) " (#" (k.id) ")" }
                dt { (tr(l, "乡镇", "Township")) } dd { (area_name(l, reference, &k.township)) " (" (k.township) ")" }
                dt { (tr(l, "发放时间", "Issued")) } dd { (labels::time(Timestamp(k.created_at))) }
            }
        }
        @if k.revoked_at.is_some() {
            p.notice { (tr(l, "这个密钥早已停用。", "This key was revoked already.")) }
        } @else {
            form.card #revoke method="post" action={ (PAGE) "/" (k.id) "/revoke" } {
                (csrf::field(&signed.csrf))
                p.error {
                    (tr(l, "停用后，用这个密钥提交的请求都会被拒绝，不能恢复；已提交的办件不受影响。要继续提交，需发放新的密钥。",
                        "Once revoked, every request sent with this key is refused, for good; what it filed stays. To file again, the application needs a new key."))
                }
                p {
                    button type="submit" { (tr(l, "确认停用", "Revoke the key")) }
                    " "
                    a href=(PAGE) { (tr(l, "取消", "Cancel")) }
                }
            }
        }
    };
    Ok(console_page(
        lang,
        StatusCode::OK,
        &signed,
        tr(l, "停用 API 密钥", "Revoke an API key"),
        body,
    ))
}

/// `POST /console/admin/open311-keys/{id}/revoke`.
pub(crate) async fn revoke(
    lang: PageLang,
    State(state): State<AppState>,
    Path(id): Path<String>,
    AdminForm { signed, .. }: AdminForm,
) -> Result<Response, PageError> {
    let (k, _) = key(&state, &id).await.or_page(&lang)?;
    let storage = state.storage.clone();
    let newly =
        blocking(move || admin::revoke_open311_key(storage.as_ref(), k.id).map_err(admin_error))
            .await
            .or_page(&lang)?;
    tracing::info!(admin = %signed.user.id, key = k.id, newly, "console admin: Open311 key revoked");
    let done = if newly { "revoked" } else { "already_revoked" };
    Ok(Redirect::to(&format!("{PAGE}?done={done}")).into_response())
}
