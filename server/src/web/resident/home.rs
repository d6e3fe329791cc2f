//! The signed-in resident's home: their own requests, newest first, each with its status in
//! words, its deadline and what is missing; and a link to their village's public notices.
//!
//! The list is the request index read in the resident's own scope
//! ([`ReadScope::Resident`]: only requests that name this resident), a page at a time; each
//! listed request's document is read for what the index does not hold (the materials asked
//! for at a return, those still outstanding or waived, a decision's reason). Nothing of anyone
//! else is read, and personal numbers are masked: the applicant's name as the lists show it,
//! the ID number's middle digits, any number typed into a reason or note.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use bianmin_document::Document;
use bianmin_document::model::{Page, RequestDetail, RequestFilter, RequestRow, RequestSort};
use bianmin_domain::{
    Action, Clock, NationalId, Status, Timestamp, Urgency, mask_personal_numbers,
};
use maud::{Markup, html};
use serde::Deserialize;

use super::resident_page;
use super::session::SignedResident;
use crate::AppState;
use crate::error::AppError;
use crate::reference::Current;
use crate::storage::ReadScope;
use crate::web::console::csrf;
use crate::web::console::{OrPage, PageError, blocking};
use crate::web::i18n::{Lang, PageLang, tr};
use crate::web::public::lookup::{Decision, decision, status_label};

/// Requests per page.
const PER_PAGE: u32 = 20;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct HomeQuery {
    /// The page, from 1.
    page: Option<u32>,
    /// Just activated.
    activated: Option<String>,
}

/// One listed request: its row and, when its document could be read, its detail.
struct Listed {
    row: RequestRow,
    detail: Option<RequestDetail>,
}

/// What the page shows.
struct Home {
    requests: Vec<Listed>,
    has_more: bool,
    reference: std::sync::Arc<Current>,
}

/// Reads a page of the resident's own requests and their documents.
fn load(state: &AppState, user_id: &str, page: u32) -> Result<Home, AppError> {
    let reference = state.engine.reference()?;
    let today = Timestamp::now().china_date();
    let scope = ReadScope::Resident {
        user: user_id.to_string(),
    };
    let listing = state.storage.requests(
        &scope,
        &RequestFilter::default(),
        RequestSort::RecentlyFiled,
        Page {
            offset: page.saturating_sub(1).saturating_mul(PER_PAGE),
            limit: PER_PAGE,
        },
        today,
        &reference.rules.calendar,
    )?;
    let mut requests = Vec::with_capacity(listing.rows.len());
    for row in listing.rows {
        let detail = match state.storage.document(row.id)? {
            Some(record) => Document::load(&record.bytes)
                .ok()
                .and_then(|d| d.request_detail(&reference.rules, today))
                // The index said so already; the document must say the same.
                .filter(|d| d.resident_user.as_deref() == Some(user_id)),
            None => None,
        };
        if detail.is_none() {
            tracing::warn!(doc = %row.id, "a resident's listed request could not be read");
        }
        requests.push(Listed { row, detail });
    }
    Ok(Home {
        requests,
        has_more: listing.has_more,
        reference,
    })
}

/// `GET /resident`.
pub(crate) async fn page(
    lang: PageLang,
    signed: SignedResident,
    State(state): State<AppState>,
    Query(q): Query<HomeQuery>,
) -> Result<Response, PageError> {
    let l = lang.lang;
    let page = q.page.unwrap_or(1).clamp(1, 10_000);
    let (s, user_id) = (state.clone(), signed.user.id.clone());
    let home = blocking(move || load(&s, &user_id, page))
        .await
        .or_page(&lang)?;
    let village = &signed.user.area;
    let village_name = home.reference.village_name(l, village);
    let nav = vec![
        (tr(l, "我的办件", "My requests"), super::HOME.to_string()),
        (
            tr(l, "办理新事项", "File a request"),
            super::file::ITEMS.to_string(),
        ),
        (
            tr(l, "村务公开", "Village notices"),
            format!("/public/villages/{village}"),
        ),
    ];
    let body = html! {
        @if q.activated.is_some() {
            p.notice role="status" {
                (tr(l, "账号已激活，您已登录。", "Your account is active and you are signed in."))
            }
        }
        div.whoami {
            p { (tr(l, "您好，", "Hello, ")) strong { (signed.user.display_name) } }
            form method="post" action="/resident/sign-out" {
                (csrf::field(&signed.csrf))
                button.secondary type="submit" { (tr(l, "退出登录", "Sign out")) }
            }
        }
        p {
            a.button href=(super::file::ITEMS) { (tr(l, "办理新事项（可拍照上传材料）", "File a request (with photos of the materials)")) }
        }
        @if home.requests.is_empty() {
            p.card {
                @if page == 1 {
                    (tr(l, "还没有您的办件。您可以在这里直接办理；在村便民服务站办理的事项，代办员的平板同步后也会显示在这里。",
                        "No request of yours yet. You can file one here; what you file at the village service point shows here once the clerk's tablet has synced."))
                } @else {
                    (tr(l, "这一页没有办件。", "No request on this page."))
                }
            }
        }
        @for r in &home.requests { (request_card(l, &home.reference, r)) }
        @if page > 1 || home.has_more {
            nav.pages {
                @if page > 1 {
                    a href={ "/resident?page=" (page - 1) } { (tr(l, "← 较新的办件", "← Newer requests")) }
                }
                @if home.has_more {
                    a href={ "/resident?page=" (page + 1) } { (tr(l, "较早的办件 →", "Older requests →")) }
                }
            }
        }
        section.card.village {
            h2 { (tr(l, "村务公开", "Village notices")) }
            p {
                a href={ "/public/villages/" (village) } {
                    (village_name) (tr(l, "的村务公开（四议两公开）", ": public notices of village matters"))
                }
            }
        }
    };
    Ok(resident_page(
        lang,
        StatusCode::OK,
        tr(l, "我的办件", "My requests"),
        &nav,
        body,
    ))
}

/// One request: what, which receipt, status, deadline, what is missing, the decision.
fn request_card(l: Lang, reference: &Current, r: &Listed) -> Markup {
    let row = &r.row;
    html! {
        section.card.request {
            h2 { a href=(super::request::page_of(row.id)) { (reference.item_name(l, &row.item_code)) } }
            @if row.self_filed() {
                p.tag { (tr(l, "自助办理（手机提交）", "Self-filed (on the phone)")) }
            }
            dl {
                dt { (tr(l, "受理回执号", "Receipt number")) } dd { (row.receipt_no) }
                dt { (tr(l, "申请人", "Applicant")) }
                dd {
                    (row.applicant_masked)
                    @if let Some(d) = &r.detail {
                        " · " (masked_id(&d.applicant.id_number))
                    }
                }
                dt { (tr(l, "状态", "Status")) }
                dd.status { strong { (status_label(row.status, l)) } }
                @match &r.detail {
                    Some(d) => {
                        dt { (tr(l, "办理时限", "Deadline")) } dd { (deadline(l, &d.clock, d.urgency)) }
                        (missing(l, reference, d))
                        (outcome(l, d))
                    }
                    None => {
                        dt { (tr(l, "办理时限", "Deadline")) }
                        dd { @match row.due { Some(due) => { (due) } None => { "—" } } }
                    }
                }
            }
            p { a href=(super::request::page_of(row.id)) { (tr(l, "查看详情和办理经过 →", "Details and history →")) } }
        }
    }
}

/// An ID number with its middle digits masked; a malformed one hidden entirely.
pub(super) fn masked_id(raw: &str) -> String {
    NationalId::parse(raw)
        .map(|id| id.masked())
        .unwrap_or_else(|_| "******************".into())
}

/// The committed deadline as a resident reads it.
pub(super) fn deadline(l: Lang, clock: &Clock, urgency: Urgency) -> Markup {
    match *clock {
        Clock::NotStarted => html! {
            (tr(l, "尚未受理，办理时限尚未开始计算。", "Not accepted yet: the time limit has not started."))
        },
        Clock::Running { due } => html! {
            (tr(l, "承诺在 ", "To be decided by ")) strong.due { (due) }
            (tr(l, " 前办结", ""))
            @if urgency == Urgency::Overdue {
                " " span.overdue { (tr(l, "（已超期）", "(overdue)")) }
            }
        },
        Clock::Paused { remaining, since } => html! {
            (tr(l, "等待补正，时限自 ", "Paused while waiting for materials, since "))
            (since)
            (tr(l, " 起暂停；材料补齐后还有 ", "; once they are in, "))
            (remaining)
            (tr(l, " 个工作日。", " working days remain."))
        },
        Clock::Stopped { due, ended_on } => html! {
            (tr(l, "已于 ", "Ended on ")) (ended_on)
            (tr(l, " 结束（承诺时限 ", " (committed date "))
            (due)
            (tr(l, "）", ")"))
        },
    }
}

/// What is missing: the materials asked for at a return (with the note), or, while the request
/// is open, the required materials not in hand and those accepted on a promise (容缺).
pub(super) fn missing(l: Lang, reference: &Current, d: &RequestDetail) -> Markup {
    let join = |v: &[String]| {
        reference
            .material_labels(&d.item_code, v, l == Lang::Zh)
            .join(tr(l, "、", ", "))
    };
    let open = matches!(
        d.status,
        Status::Draft | Status::Submitted | Status::Accepted | Status::Forwarded
    );
    let note = d
        .history
        .iter()
        .rev()
        .filter(|h| h.invalid.is_none())
        .find_map(|h| match &h.action {
            Action::ReturnForSupplement { note, .. } if !note.trim().is_empty() => {
                Some(mask_personal_numbers(note))
            }
            _ => None,
        });
    let waived: Vec<String> = d.waived_materials.iter().map(|(m, _)| m.clone()).collect();
    // A material not in hand yet whose photo was sent (from the phone, or by the clerk's
    // tablet) waits for the service point to check it rather than for the resident.
    let (photographed, not_sent): (Vec<String>, Vec<String>) = d
        .outstanding_materials
        .iter()
        .cloned()
        .partition(|m| d.attachments.iter().any(|a| a.material == *m));
    html! {
        @if d.status == Status::Returned {
            dt { (tr(l, "需要补交", "To bring")) }
            dd.missing {
                (tr(l, "请带以下材料到村便民服务站补正：", "Please bring these to the village service point: "))
                strong { (join(&d.missing_materials)) }
                @if let Some(note) = note { br; (tr(l, "说明：", "Note: ")) (note) }
            }
        } @else if open {
            @if !not_sent.is_empty() {
                dt { (tr(l, "尚缺材料", "Still missing")) }
                dd.missing { strong { (join(&not_sent)) } }
            }
            @if !photographed.is_empty() {
                dt { (tr(l, "已拍照上传，待服务站核对", "Photos sent, to be checked at the service point")) }
                dd { (join(&photographed)) }
            }
        }
        @if open && !waived.is_empty() {
            dt { (tr(l, "容缺受理，待补交", "Accepted on your promise to bring")) }
            dd.missing { (join(&waived)) }
        }
    }
}

/// The decision, once there is one (with its reason).
pub(super) fn outcome(l: Lang, d: &RequestDetail) -> Markup {
    let reason = |r: &str| html! { @if !r.is_empty() { br; (tr(l, "理由：", "Reason: ")) (r) } };
    html! {
        @match decision(d) {
            Decision::Pending => {},
            Decision::Approved => { dt { (tr(l, "办理结果", "Decision")) } dd { strong { (tr(l, "审核通过", "Approved")) } } },
            Decision::Completed => { dt { (tr(l, "办理结果", "Decision")) } dd { strong { (tr(l, "已办结", "Completed")) } } },
            Decision::Rejected(r) => { dt { (tr(l, "办理结果", "Decision")) } dd { strong { (tr(l, "不予批准", "Rejected")) } (reason(&r)) } },
            Decision::NotAccepted(r) => { dt { (tr(l, "办理结果", "Decision")) } dd { strong { (tr(l, "不予受理", "Not accepted")) } (reason(&r)) } },
            Decision::Withdrawn => { dt { (tr(l, "办理结果", "Decision")) } dd { (tr(l, "已撤回", "Withdrawn")) } },
            Decision::BeingSettled => {
                dt { (tr(l, "办理结果", "Decision")) }
                dd { (tr(l, "工作人员正在核定办理结果，请稍后再看。", "Staff are settling the outcome; please check again later.")) }
            },
        }
    }
}
