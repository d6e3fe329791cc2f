//! A request's printable notices: `GET /console/requests/{id}/print/{kind}` with `kind` one of
//! `receipt` (受理回执), `supplement` (补正告知书) and `decision` (准予/不予批准决定书). Each is
//! one A4 sheet, written by [`bianmin_document::notice`] (the same sheet the clerk's command
//! line prints from a tablet), with the QR code of the residents' look-up page for its receipt
//! number, in a page of its own: a toolbar on screen (back to the request, the request's other
//! notices, the language, how to print) that the print style sheet leaves out, and no top bar.
//! The style sheet is `GET /console/notice.css` ([`bianmin_document::notice::STYLESHEET`]).
//!
//! Read like the request's page: out of the user's area the request is not found. Never
//! cached (`no-store`): a notice carries the applicant's masked name and ID number.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bianmin_document::model::RequestDetail;
use bianmin_document::notice::{self, Notice, NoticeKind};
use bianmin_domain::Timestamp;
use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::session::Signed;
use super::{OrPage, PageError, blocking, parse_id};
use crate::AppState;
use crate::web::i18n::{Lang, PageLang, tr};

/// The notices' language for a page's.
fn notice_lang(l: Lang) -> notice::Lang {
    match l {
        Lang::Zh => notice::Lang::Zh,
        Lang::En => notice::Lang::En,
    }
}

/// The address residents reach the hub at: `--public-url` when given, else the address this
/// browser used (its `Host`, over HTTPS when the hub is configured for it); `None` without a
/// usable `Host`.
fn public_base(state: &AppState, headers: &HeaderMap) -> Option<String> {
    let config = state.console.config();
    if let Some(url) = &config.public_url {
        return Some(url.clone());
    }
    let host = headers.get(header::HOST)?.to_str().ok()?;
    let scheme = if config.secure_cookies {
        "https"
    } else {
        "http"
    };
    notice::lookup_base(&format!("{scheme}://{host}"))
}

/// The printable notices of a request as it stands, as links for its page: (address, label).
pub(crate) fn links(l: Lang, d: &RequestDetail) -> Vec<(String, &'static str)> {
    notice::available(d)
        .into_iter()
        .map(|kind| {
            (
                format!("/console/requests/{}/print/{}", d.id, kind.slug()),
                kind.label(notice_lang(l)),
            )
        })
        .collect()
}

/// `GET /console/requests/{id}/print/{kind}`: the notice, or why the request has none of that
/// kind now (409, with the toolbar back to the request).
pub(crate) async fn show(
    lang: PageLang,
    signed: Signed,
    State(state): State<AppState>,
    Path((id, kind)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let id = parse_id(&id).ok_or_else(|| PageError::not_found(&lang))?;
    let kind = NoticeKind::from_slug(&kind).ok_or_else(|| PageError::not_found(&lang))?;
    let base = public_base(&state, &headers);
    let user = signed.user.clone();
    let (detail, reference) = blocking(move || {
        let page = state.engine.console_request(&user, id)?;
        Ok((page.detail, state.engine.reference()?))
    })
    .await
    .or_page(&lang)?;
    let l = notice_lang(lang.lang);
    let today = Timestamp::now().china_date();
    let built = Notice::build(kind, &detail, &reference.rules, l, base.as_deref(), today);
    Ok(match built {
        Ok(notice) => {
            let title = format!("{} {}", notice.title(), notice.receipt_no);
            let sheet = PreEscaped(notice.sheet());
            page(&lang, StatusCode::OK, &title, &detail, kind, sheet)
        }
        Err(why) => {
            let title = format!("{} {}", kind.label(l), detail.receipt_no.as_str());
            let body = html! { p.notice-none role="alert" { (why.message(l)) } };
            page(&lang, StatusCode::CONFLICT, &title, &detail, kind, body)
        }
    })
}

/// The print page: the toolbar (screen only), then `sheet`.
fn page(
    lang: &PageLang,
    status: StatusCode,
    title: &str,
    d: &RequestDetail,
    current: NoticeKind,
    sheet: Markup,
) -> Response {
    let l = lang.lang;
    let here = format!("/console/requests/{}/print/{}", d.id, current.slug());
    let markup = html! {
        (DOCTYPE)
        html lang=(l.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · " (tr(l, "便民服务", "Bianmin")) }
                link rel="stylesheet" href="/console/notice.css";
            }
            body {
                nav.toolbar aria-label=(tr(l, "打印", "Printing")) {
                    a href={ "/console/requests/" (d.id) } { (tr(l, "← 返回办件", "← Back to the request")) }
                    @for (href, label) in links(l, d) {
                        @if href == here {
                            span.current aria-current="page" { (label) }
                        } @else {
                            a href=(href) { (label) }
                        }
                    }
                    a href=(lang.switch) lang=(l.other().code()) { (tr(l, "English", "中文")) }
                    span.hint {
                        (tr(l, "用浏览器的“打印”（Ctrl+P）在 A4 纸上打印，或选“另存为 PDF”。",
                            "Print with the browser's Print (Ctrl+P) on A4 paper, or choose “Save as PDF”."))
                    }
                }
                main { (sheet) }
            }
        }
    };
    let mut response = (status, markup).into_response();
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if lang.chosen {
        h.insert(header::SET_COOKIE, l.cookie());
    }
    response
}

/// `GET /console/notice.css`: the notices' print style sheet.
pub(crate) async fn stylesheet() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/css; charset=utf-8"),
        )],
        notice::STYLESHEET,
    )
        .into_response()
}
