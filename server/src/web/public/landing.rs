//! `GET /`: the hub's front page, for whoever opens its address: the county's name and a card
//! for each way in (a resident's own pages, the status look-up, the village notices, the
//! township's console), each saying who it is for. Public, like the notices: nothing on it
//! needs a sign-in or names anyone.

use axum::extract::State;
use axum::response::Response;
use maud::html;

use super::{blocking, nav};
use crate::AppState;
use crate::web::i18n::{Lang, PageLang, tr};
use crate::web::layout::{error_page, page};

/// One way in: its address, its name and who it is for, in both languages.
struct Entry {
    href: &'static str,
    name: (&'static str, &'static str),
    for_whom: (&'static str, &'static str),
}

/// The ways in, residents' first.
const ENTRIES: [Entry; 4] = [
    Entry {
        href: "/resident",
        name: ("居民自助办事", "Residents: file and follow your requests"),
        for_whom: (
            "在手机上申请、补交材料、查看进度和评价。账号由村便民服务站开通。",
            "File, hand in missing materials, follow and rate your requests on your phone. \
             Your village service point opens your account.",
        ),
    },
    Entry {
        href: "/lookup",
        name: ("办件查询", "Check a request"),
        for_whom: (
            "凭受理回执号和身份证号码后四位查询办理进度，无需登录。",
            "With the receipt number and the last four characters of the ID number, without \
             signing in.",
        ),
    },
    Entry {
        href: "/public",
        name: ("村务公开", "Village notices"),
        for_whom: (
            "各村“四议两公开”的决议和实施结果，无需登录。",
            "Each village's resolutions and their results (“four discussions, two opens”), \
             without signing in.",
        ),
    },
    Entry {
        href: "/console",
        name: ("审核台", "Console"),
        for_whom: (
            "镇便民服务中心审核人员和县管理员登录使用。",
            "For the township's reviewers and the county's administrators (sign-in).",
        ),
    },
];

/// `GET /`.
pub async fn page_for_all(lang: PageLang, State(state): State<AppState>) -> Response {
    let l = lang.lang;
    let county = blocking(move || Ok(state.engine.reference()?.data.directory.county.clone()));
    let county = match county.await {
        Ok(c) => c,
        Err(e) => return error_page(e.status, lang, &e.message),
    };
    let title = match l {
        Lang::Zh => format!("{} · 便民服务", county.name_zh),
        Lang::En => format!("{} · Bianmin services", county.name_en),
    };
    let body = html! {
        div.cols.entries {
            @for e in &ENTRIES {
                section.card {
                    h2 { a href=(e.href) { (tr(l, e.name.0, e.name.1)) } }
                    p { (tr(l, e.for_whom.0, e.for_whom.1)) }
                }
            }
        }
    };
    page(lang, &title, &nav(l), body)
}
