//! Languages: Chinese (the default) and English. Every string a page shows is written at its
//! call site in both languages, `tr(lang, "中文", "English")`, so no key table can drift from
//! the pages. The language comes from `?lang=` (which also sets the `lang` cookie), else the
//! cookie, else Chinese.

use axum::extract::FromRequestParts;
use axum::http::HeaderValue;
use axum::http::request::Parts;

/// A page language.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Lang {
    /// 中文 (the default).
    #[default]
    Zh,
    /// English.
    En,
}

impl Lang {
    /// The code used in `?lang=`, the cookie and `<html lang>`.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }

    /// The other language (what the switch offers).
    pub fn other(self) -> Lang {
        match self {
            Lang::Zh => Lang::En,
            Lang::En => Lang::Zh,
        }
    }

    /// Parses `zh`, `zh-CN`, `en` (case-insensitive).
    pub fn parse(s: &str) -> Option<Lang> {
        match s.to_ascii_lowercase().as_str() {
            "zh" | "zh-cn" => Some(Lang::Zh),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The `Set-Cookie` value that remembers this language for a year.
    pub fn cookie(self) -> HeaderValue {
        HeaderValue::from_str(&format!(
            "lang={}; Path=/; Max-Age=31536000; SameSite=Lax",
            self.code()
        ))
        .expect("ASCII")
    }
}

/// The string in `lang`.
pub fn tr(lang: Lang, zh: &'static str, en: &'static str) -> &'static str {
    match lang {
        Lang::Zh => zh,
        Lang::En => en,
    }
}

fn from_query(parts: &Parts) -> Option<Lang> {
    parts.uri.query()?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == "lang").then(|| Lang::parse(v)).flatten()
    })
}

fn from_cookie(parts: &Parts) -> Option<Lang> {
    super::cookies::get(&parts.headers, "lang").and_then(Lang::parse)
}

/// The request's language (`?lang=` first, then the cookie). Handlers that see `?lang=` should
/// answer with [`Lang::cookie`] so the choice sticks; [`layout::page`](super::layout::page)
/// does that for every page.
#[derive(Debug, Clone)]
pub struct PageLang {
    /// The language to draw in.
    pub lang: Lang,
    /// Whether it was chosen by `?lang=` on this request.
    pub chosen: bool,
    /// The link of the language switch: this page's query (its filters, its page) with the
    /// other language.
    pub switch: String,
}

/// `?` + the query without its `lang` pairs + `lang=<other>`.
fn switch_href(parts: &Parts, other: Lang) -> String {
    let mut href = String::from("?");
    for pair in parts.uri.query().unwrap_or_default().split('&') {
        let key = pair.split_once('=').map_or(pair, |(k, _)| k);
        if !pair.is_empty() && key != "lang" {
            href.push_str(pair);
            href.push('&');
        }
    }
    href.push_str("lang=");
    href.push_str(other.code());
    href
}

impl<S: Send + Sync> FromRequestParts<S> for PageLang {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let (lang, chosen) = match from_query(parts) {
            Some(lang) => (lang, true),
            None => (from_cookie(parts).unwrap_or_default(), false),
        };
        Ok(PageLang {
            lang,
            chosen,
            switch: switch_href(parts, lang.other()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;

    async fn lang_of(uri: &str, cookie: Option<&str>) -> PageLang {
        let mut req = Request::builder().uri(uri);
        if let Some(c) = cookie {
            req = req.header(axum::http::header::COOKIE, c);
        }
        let (mut parts, ()) = req.body(()).unwrap().into_parts();
        PageLang::from_request_parts(&mut parts, &()).await.unwrap()
    }

    #[tokio::test]
    async fn query_then_cookie_then_chinese() {
        assert_eq!(lang_of("/", None).await.lang, Lang::Zh);
        assert_eq!(lang_of("/?lang=en", None).await.lang, Lang::En);
        assert!(lang_of("/?lang=en", None).await.chosen);
        assert_eq!(lang_of("/", Some("a=b; lang=en")).await.lang, Lang::En);
        assert_eq!(lang_of("/?lang=zh", Some("lang=en")).await.lang, Lang::Zh);
        assert_eq!(lang_of("/?lang=fr", Some("lang=xx")).await.lang, Lang::Zh);
        assert_eq!(tr(Lang::En, "状态", "Status"), "Status");
    }

    #[tokio::test]
    async fn the_switch_keeps_the_page_query() {
        assert_eq!(lang_of("/console", None).await.switch, "?lang=en");
        assert_eq!(
            lang_of(
                "/console?village=370883101201&status=forwarded&lang=zh",
                None
            )
            .await
            .switch,
            "?village=370883101201&status=forwarded&lang=en"
        );
        assert_eq!(
            lang_of("/x?lang=en&page=2", None).await.switch,
            "?page=2&lang=zh-CN"
        );
    }
}
