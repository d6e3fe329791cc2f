//! Languages: Chinese (the default) and English. Every string a page shows is written at its
//! call site in both languages, `tr(lang, "中文", "English")`, so no key table can drift from
//! the pages. The language comes from `?lang=` (which also sets the `lang` cookie), else the
//! cookie, else Chinese.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};

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
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| {
            let (k, v) = c.trim().split_once('=')?;
            (k == "lang").then(|| Lang::parse(v)).flatten()
        })
}

/// The request's language (`?lang=` first, then the cookie). Handlers that see `?lang=` should
/// answer with [`Lang::cookie`] so the choice sticks; [`layout::page`](super::layout::page)
/// does that for every page.
#[derive(Debug, Clone, Copy)]
pub struct PageLang {
    /// The language to draw in.
    pub lang: Lang,
    /// Whether it was chosen by `?lang=` on this request.
    pub chosen: bool,
}

impl<S: Send + Sync> FromRequestParts<S> for PageLang {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(match from_query(parts) {
            Some(lang) => PageLang { lang, chosen: true },
            None => PageLang {
                lang: from_cookie(parts).unwrap_or_default(),
                chosen: false,
            },
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
            req = req.header(header::COOKIE, c);
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
}
