//! The page shell: `<head>`, the top bar with the language switch, the main content. Plain
//! CSS for a desk screen and a tablet, no JavaScript.

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::i18n::{PageLang, tr};

const STYLE: &str = r#"
*{box-sizing:border-box}
body{margin:0;font-family:system-ui,"Noto Sans CJK SC","PingFang SC","Microsoft YaHei",sans-serif;color:#1d2329;background:#f5f6f8;font-size:16px;line-height:1.5}
header.top{display:flex;flex-wrap:wrap;gap:.5rem 1.25rem;align-items:center;padding:.6rem 1rem;background:#a4262c;color:#fff}
header.top a{color:#fff}
header.top .brand{font-weight:700;font-size:1.1rem;text-decoration:none}
header.top nav{display:flex;flex-wrap:wrap;gap:.25rem 1rem;flex:1}
main{max-width:72rem;margin:0 auto;padding:1rem}
h1{font-size:1.4rem;margin:.5rem 0 1rem}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{border-bottom:1px solid #dde1e6;padding:.45rem .6rem;text-align:left;vertical-align:top}
th{background:#eef0f3;font-weight:600}
.overdue{color:#a4262c;font-weight:700}
.due-soon{color:#8a5a00;font-weight:700}
.conflict{background:#fff4e5}
form.inline{display:inline}
label{display:block;margin:.4rem 0 .15rem;font-weight:600}
input,select,textarea,button{font:inherit;padding:.4rem .5rem;border:1px solid #b8bfc7;border-radius:4px}
button{background:#a4262c;color:#fff;border-color:#a4262c;cursor:pointer;min-height:2.5rem}
button.secondary{background:#fff;color:#1d2329;border-color:#b8bfc7}
.error{background:#fde7e9;border:1px solid #a4262c;padding:.6rem .8rem;border-radius:4px}
.notice{background:#e7f3ff;border:1px solid #0b5cad;padding:.6rem .8rem;border-radius:4px}
.cols{display:grid;grid-template-columns:repeat(auto-fit,minmax(18rem,1fr));gap:1rem}
.card{background:#fff;border:1px solid #dde1e6;border-radius:6px;padding:.8rem 1rem}
@media (max-width:40rem){th,td{padding:.35rem .4rem;font-size:.95rem}}
"#;

/// A whole page: `title` in the tab and as the heading, `nav` links in the top bar (label,
/// href), then `body`.
pub fn page(lang: PageLang, title: &str, nav: &[(&str, String)], body: Markup) -> Response {
    let l = lang.lang;
    let markup = html! {
        (DOCTYPE)
        html lang=(l.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · " (tr(l, "便民服务", "Bianmin")) }
                style { (PreEscaped(STYLE)) }
            }
            body {
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
    let mut response = page(lang, title, nav, body);
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
