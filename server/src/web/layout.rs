//! The page shell: `<head>`, the top bar with the language switch, the main content. Plain
//! CSS for a desk screen and a tablet (`/assets/bianmin.css`), no JavaScript on a desk's pages;
//! a phone's (the resident pages) load the resident scripts, which only add to pages that
//! work without them (`web::resident::assets`).

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};

use super::i18n::{PageLang, tr};

/// A whole page: `title` in the tab and as the heading, `nav` links in the top bar (label,
/// href), then `body`.
pub fn page(lang: PageLang, title: &str, nav: &[(&str, String)], body: Markup) -> Response {
    page_for(Shell::Desk, lang, title, nav, body)
}

/// Who a page's shell is made for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shell {
    /// A desk screen or a tablet (the console, the public pages).
    Desk,
    /// A phone, read by people who may see poorly: the whole page, top bar included, in large
    /// type (`body.phone` in the style sheet); with the resident pages' scripts (deferred,
    /// from the hub, none inline).
    Phone,
}

/// [`page`] with the shell made for `shell`.
pub fn page_for(
    shell: Shell,
    lang: PageLang,
    title: &str,
    nav: &[(&str, String)],
    body: Markup,
) -> Response {
    let l = lang.lang;
    let (body_class, scripts): (_, &[&str]) = match shell {
        Shell::Desk => (None, &[]),
        Shell::Phone => (Some("phone"), &super::resident::assets::scripts()),
    };
    let markup = html! {
        (DOCTYPE)
        html lang=(l.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · " (tr(l, "便民服务", "Bianmin")) }
                link rel="stylesheet" href="/assets/bianmin.css";
                @for src in scripts {
                    script src=(src) defer {}
                }
            }
            body class=[body_class] {
                header.top {
                    a.brand href="/" { (tr(l, "便民服务", "Bianmin")) }
                    nav {
                        @for (label, href) in nav {
                            a href=(href) { (label) }
                        }
                    }
                    a href=(lang.switch) lang=(l.other().code()) {
                        (tr(l, "English", "中文"))
                    }
                }
                main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    };
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        "text/html; charset=utf-8".parse().expect("valid"),
    );
    if lang.chosen {
        headers.insert(header::SET_COOKIE, l.cookie());
    }
    (StatusCode::OK, headers, markup.into_string()).into_response()
}

/// The same page with another status (an error page, a refused form).
pub fn page_with_status(
    status: StatusCode,
    lang: PageLang,
    title: &str,
    nav: &[(&str, String)],
    body: Markup,
) -> Response {
    page_for_with_status(Shell::Desk, status, lang, title, nav, body)
}

/// [`page_for`] with another status.
pub fn page_for_with_status(
    shell: Shell,
    status: StatusCode,
    lang: PageLang,
    title: &str,
    nav: &[(&str, String)],
    body: Markup,
) -> Response {
    let mut response = page_for(shell, lang, title, nav, body);
    *response.status_mut() = status;
    response
}

/// An error page in the request's language.
pub fn error_page(status: StatusCode, lang: PageLang, message: &str) -> Response {
    let l = lang.lang;
    let title = match status {
        StatusCode::NOT_FOUND => tr(l, "未找到", "Not found"),
        StatusCode::FORBIDDEN => tr(l, "无权访问", "Not allowed"),
        StatusCode::TOO_MANY_REQUESTS => tr(l, "请稍后再试", "Try again later"),
        s if s.is_client_error() => tr(l, "请求有误", "Bad request"),
        _ => tr(l, "出错了", "Something went wrong"),
    };
    page_with_status(status, lang, title, &[], html! { p.error { (message) } })
}
