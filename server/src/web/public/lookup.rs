//! A resident's status look-up, without signing in: the receipt number and the last four
//! characters of the applicant's ID number show that one request's status, deadline and
//! decision, and nothing else (no name, ID number, phone, materials or history).
//!
//! A wrong receipt number and a wrong ID ending get the same answer, after a delay, and both
//! count against the client and the receipt number ([`super::limiter`]): the look-up must not
//! become a way to find out ID numbers. A look-up whose attempt cannot be counted (the storage
//! failed) is refused with 503 before anything is looked up, never answered past the limits.
//! The form is posted, so the ID ending never lands in a URL, a log line or the browser's
//! history, and answers are not cached. The receipt number alone may come in the address,
//! `GET /lookup?receipt_no=…` (the QR code printed on a receipt or notice): it fills the form
//! in, and the resident types only the ID ending.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::{Extension, Form};
use bianmin_document::model::RequestDetail;
use bianmin_domain::{Action, Clock, ReceiptNo, Status, Urgency, mask_personal_numbers};
use maud::{Markup, html};
use serde::Deserialize;

use super::limiter::{ClientKey, now_ms};
use super::{Public, blocking, nav};
use crate::AppState;
use crate::web::console::token;
use crate::web::cookies;
use crate::web::i18n::{Lang, PageLang, tr};
use crate::web::layout::page_with_status;

/// The look-up form.
#[derive(Debug, Default, Deserialize)]
pub struct LookupForm {
    /// The receipt number, e.g. `370883101201-007-000042`.
    #[serde(default)]
    pub receipt_no: String,
    /// The last four characters of the applicant's ID number.
    #[serde(default)]
    pub id_last4: String,
    /// The form's token, matched against its cookie: a look-up posted from another site (a
    /// page that would make its visitors' phones guess for it) is refused.
    #[serde(default)]
    pub token: String,
}

/// What the look-up shows: status, deadline, decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// None yet.
    Pending,
    /// Approved by the township (and perhaps delivered).
    Approved,
    /// Completed at the village.
    Completed,
    /// Rejected, with the reason given.
    Rejected(String),
    /// Not accepted, with the reason given.
    NotAccepted(String),
    /// Withdrawn by the applicant.
    Withdrawn,
    /// Concurrent decisions wait for staff to settle them.
    BeingSettled,
}

/// The decision shown for a request.
pub fn decision(detail: &RequestDetail) -> Decision {
    if detail.conflict.is_some() {
        return Decision::BeingSettled;
    }
    let valid = || detail.history.iter().filter(|h| h.invalid.is_none()).rev();
    let reason = |reject: bool| {
        valid()
            .find_map(|h| match &h.action {
                Action::Reject { reason } if reject => Some(mask_personal_numbers(reason)),
                Action::RefuseToAccept { reason } if !reject => Some(mask_personal_numbers(reason)),
                _ => None,
            })
            .unwrap_or_default()
    };
    match detail.status {
        Status::Approved => Decision::Approved,
        Status::Completed if valid().any(|h| matches!(h.action, Action::Approve { .. })) => {
            Decision::Approved
        }
        Status::Completed => Decision::Completed,
        Status::Rejected => Decision::Rejected(reason(true)),
        Status::NotAccepted => Decision::NotAccepted(reason(false)),
        Status::Withdrawn => Decision::Withdrawn,
        _ => Decision::Pending,
    }
}

/// A status as a resident reads it.
pub fn status_label(status: Status, l: Lang) -> &'static str {
    match status {
        Status::Draft => tr(l, "草稿（尚未提交）", "Draft (not submitted yet)"),
        Status::Submitted => tr(l, "已提交，等待受理", "Submitted, waiting to be accepted"),
        Status::Accepted => tr(l, "已受理，正在办理", "Accepted, being handled"),
        Status::NotAccepted => tr(l, "不予受理", "Not accepted"),
        Status::Forwarded => tr(l, "已上报乡镇审核", "Forwarded to the township for review"),
        Status::Returned => tr(
            l,
            "退回补正：请到便民服务站补齐材料",
            "Returned: please bring the missing materials to the service point",
        ),
        Status::Approved => tr(l, "审核通过，等待送达", "Approved, result to be delivered"),
        Status::Rejected => tr(l, "不予批准", "Rejected"),
        Status::Completed => tr(l, "已办结", "Completed"),
        Status::Withdrawn => tr(l, "已撤回", "Withdrawn"),
    }
}

fn deadline(clock: &Clock, urgency: Urgency, l: Lang) -> Markup {
    match *clock {
        Clock::NotStarted => html! {
            (tr(l, "尚未受理，承诺时限尚未开始计算。",
                "Not accepted yet: the committed time limit has not started."))
        },
        Clock::Running { due } => html! {
            (tr(l, "承诺办结日期：", "To be decided by: ")) strong { (due) }
            @if urgency == Urgency::Overdue {
                " " span.overdue { (tr(l, "（已超期）", "(overdue)")) }
            }
        },
        Clock::Paused { remaining, since } => html! {
            (tr(l, "等待补正，时限暂停，自 ", "Paused while waiting for materials, since "))
            (since)
            (tr(l, " 起；材料补齐后还有 ", "; once they are in, "))
            (remaining)
            (tr(l, " 个工作日。", " working days remain."))
        },
        // The clock stops at the decision, which is not yet the end of the case (an approval
        // still waits for the result to be delivered): say "decided", never "completed".
        Clock::Stopped { due, ended_on } => html! {
            (tr(l, "已于 ", "Decided on ")) (ended_on)
            (tr(l, " 作出决定（承诺时限 ", " (committed date "))
            (due)
            (tr(l, "，", ", "))
            @if ended_on <= due { (tr(l, "按时", "on time")) } @else { span.overdue { (tr(l, "超期", "late")) } }
            (tr(l, "）。", ")."))
        },
    }
}

fn decision_markup(d: &Decision, l: Lang) -> Markup {
    html! {
        @match d {
            Decision::Pending => (tr(l, "尚未作出决定。", "No decision yet.")),
            Decision::Approved => strong { (tr(l, "审核通过", "Approved")) },
            Decision::Completed => strong { (tr(l, "已在村里办结", "Completed at the village")) },
            Decision::Rejected(reason) => {
                strong { (tr(l, "不予批准", "Rejected")) }
                @if !reason.is_empty() { br; (tr(l, "理由：", "Reason: ")) (reason) }
            },
            Decision::NotAccepted(reason) => {
                strong { (tr(l, "不予受理", "Not accepted")) }
                @if !reason.is_empty() { br; (tr(l, "理由：", "Reason: ")) (reason) }
            },
            Decision::Withdrawn => (tr(l, "申请已撤回。", "The application was withdrawn.")),
            Decision::BeingSettled => (tr(l, "工作人员正在核定办理结果，请稍后再查。",
                "Staff are settling the outcome; please check again later.")),
        }
    }
}

/// The cookie that carries the look-up form's token.
const LOOKUP_COOKIE: &str = "bianmin_lookup";

fn form_markup(l: Lang, receipt_no: &str, token: &str) -> Markup {
    // With the receipt number filled in (from a printed QR code), the ID ending is next.
    let prefilled = !receipt_no.is_empty();
    html! {
        form method="post" action="/lookup" {
            input type="hidden" name="token" value=(token);
            label for="receipt_no" { (tr(l, "受理回执号", "Receipt number")) }
            input #receipt_no name="receipt_no" type="text" required maxlength="40"
                value=(receipt_no) placeholder="370883101201-007-000042"
                autocomplete="off" spellcheck="false";
            label for="id_last4" {
                (tr(l, "申请人身份证号码后四位", "Last four characters of the applicant's ID number"))
            }
            input #id_last4 name="id_last4" type="text" required minlength="4" maxlength="4"
                pattern="[0-9Xx]{4}" autocomplete="off" spellcheck="false" inputmode="text"
                autofocus[prefilled];
            p { button type="submit" { (tr(l, "查询", "Check")) } }
        }
        p {
            small {
                (tr(l, "受理回执号印在受理回执上。多次输入错误后需等待一段时间才能再查。",
                    "The receipt number is printed on your receipt. After several wrong tries \
                     you must wait a while before trying again."))
            }
        }
    }
}

fn title(l: Lang) -> &'static str {
    tr(l, "办件查询", "Check a request")
}

/// A page that carries the look-up form: a fresh token in the form and in its cookie.
fn form_page(lang: PageLang, status: StatusCode, body: impl FnOnce(&str) -> Markup) -> Response {
    let l = lang.lang;
    let token = token::random_hex();
    // Never cached, never sent on as a referrer: `web::headers` marks /lookup private.
    let mut response = page_with_status(status, lang, title(l), &nav(l), body(&token));
    response.headers_mut().append(
        header::SET_COOKIE,
        cookies::set(LOOKUP_COOKIE, &token, Some(3600)),
    );
    response
}

/// What `GET /lookup` may carry: the receipt number of a printed QR code.
#[derive(Debug, Default, Deserialize)]
pub struct Prefill {
    /// The receipt number to fill in.
    #[serde(default)]
    pub receipt_no: String,
}

/// `GET /lookup`: the form, with the receipt number of `?receipt_no=` filled in when it is
/// one (anything else is left out; a query that does not parse shows the empty form).
pub async fn form(lang: PageLang, query: Result<Query<Prefill>, QueryRejection>) -> Response {
    let l = lang.lang;
    let receipt_no = query
        .ok()
        .and_then(|Query(p)| ReceiptNo::parse(&p.receipt_no).ok())
        .map(|r| r.as_str().to_string())
        .unwrap_or_default();
    form_page(lang, StatusCode::OK, |t| form_markup(l, &receipt_no, t))
}

fn refused(lang: PageLang, status: StatusCode, message: Markup, receipt_no: &str) -> Response {
    let l = lang.lang;
    form_page(lang, status, |t| {
        html! { p.error { (message) } (form_markup(l, receipt_no, t)) }
    })
}

/// The look-up refused because its attempt could not be counted (the storage failed): 503, and
/// the cause logged. A look-up is never answered past the limits.
fn unavailable(lang: PageLang, receipt_no: &str, why: &dyn std::fmt::Display) -> Response {
    tracing::error!("a look-up refused: its attempt could not be counted: {why}");
    let l = lang.lang;
    let message = html! {
        (tr(l, "查询暂时无法使用，请稍后再试。",
            "Look-ups are unavailable for the moment. Please try again in a minute."))
    };
    let mut response = refused(lang, StatusCode::SERVICE_UNAVAILABLE, message, receipt_no);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(30u32));
    response
}

/// `POST /lookup`: the answer (status, deadline, decision), or one message for "not found or
/// not matching", or 429 after too many failures.
pub async fn submit(
    lang: PageLang,
    client: ClientKey,
    State(state): State<AppState>,
    Extension(public): Extension<Arc<Public>>,
    headers: HeaderMap,
    Form(input): Form<LookupForm>,
) -> Response {
    let l = lang.lang;
    let receipt_no = input.receipt_no.trim().to_string();
    let last4 = input.id_last4.trim().to_ascii_uppercase();
    let shown: String = receipt_no.chars().take(40).collect();
    let own_form =
        cookies::get(&headers, LOOKUP_COOKIE).is_some_and(|c| token::matches(c, &input.token));
    if !own_form {
        let message = html! {
            (tr(l, "查询表单已过期，或来自其他网站。请用下面的表单重新查询。",
                "This form has expired or came from another site. Please use the form below."))
        };
        return refused(lang, StatusCode::FORBIDDEN, message, &shown);
    }
    // The format alone gives nothing away, so it is checked before anything counts.
    if ReceiptNo::parse(&receipt_no).is_err() {
        let message = html! {
            (tr(l, "受理回执号的格式应为 370883101201-007-000042（村代码-设备号-序号）。",
                "A receipt number looks like 370883101201-007-000042 (village-device-number)."))
        };
        return refused(lang, StatusCode::BAD_REQUEST, message, &shown);
    }
    if last4.len() != 4
        || !last4
            .bytes()
            .enumerate()
            .all(|(i, b)| b.is_ascii_digit() || (i == 3 && b == b'X'))
    {
        let message = html! {
            (tr(l, "请填写身份证号码的后四位（数字，最后一位可能是 X）。",
                "Give the last four characters of the ID number (digits; the last may be X)."))
        };
        return refused(lang, StatusCode::BAD_REQUEST, message, &shown);
    }
    let limiter = public.limiter(state.storage.clone());
    let (client_key, receipt_key) = (client.0.clone(), receipt_no.clone());
    let counted =
        tokio::task::spawn_blocking(move || limiter.attempt(&client_key, &receipt_key, now_ms()))
            .await;
    let ticket = match counted {
        Ok(Ok(Ok(ticket))) => ticket,
        Ok(Ok(Err(wait))) => {
            let minutes = wait.as_secs().div_ceil(60).max(1);
            let message = html! {
                (tr(l, "查询失败次数过多。为保护居民信息，请在 ",
                    "Too many unsuccessful look-ups. To protect residents' information, try again in "))
                (minutes)
                (tr(l, " 分钟后再试，或到村便民服务站询问。",
                    " minutes, or ask at the village service point."))
            };
            let mut response = refused(lang, StatusCode::TOO_MANY_REQUESTS, message, &shown);
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(wait.as_secs().max(1)),
            );
            return response;
        }
        // Not counted, so not looked up: never an answer past the limits.
        Ok(Err(e)) => return unavailable(lang, &shown, &e),
        Err(e) => return unavailable(lang, &shown, &e),
    };
    let failure_delay = ticket.failure_delay();
    let engine = state.engine.clone();
    let (r, d) = (receipt_no.clone(), last4);
    let found = blocking(move || {
        let found = engine.lookup_receipt(&r, &d)?;
        if found.is_some() {
            // The answer is shown either way; a success left counted is one failure too many.
            if let Err(e) = ticket.succeeded(now_ms()) {
                tracing::warn!("a successful look-up could not be forgiven: {e}");
            }
        }
        Ok(found)
    })
    .await;
    let detail = match found {
        Ok(Some(detail)) => detail,
        Ok(None) => {
            tokio::time::sleep(failure_delay).await;
            let message = html! {
                (tr(l, "没有找到与受理回执号和身份证号码后四位都相符的办件。请核对后再试。",
                    "No request matches both the receipt number and the ID number's last four \
                     characters. Check them and try again."))
            };
            return refused(lang, StatusCode::OK, message, &shown);
        }
        Err(e) => {
            let body = html! { p.error { (e.message) } };
            return page_with_status(e.status, lang, title(l), &nav(l), body);
        }
    };
    let body = html! {
        section.card {
            h2 { (tr(l, "受理回执号 ", "Receipt ")) (detail.receipt_no) }
            table {
                tbody {
                    tr { th { (tr(l, "状态", "Status")) } td { (status_label(detail.status, l)) } }
                    tr { th { (tr(l, "办理时限", "Deadline")) } td { (deadline(&detail.clock, detail.urgency, l)) } }
                    tr { th { (tr(l, "办理结果", "Decision")) } td { (decision_markup(&decision(&detail), l)) } }
                }
            }
        }
        h2 { (tr(l, "查询其他办件", "Check another request")) }
    };
    form_page(
        lang,
        StatusCode::OK,
        |t| html! { (body) (form_markup(l, "", t)) },
    )
}
