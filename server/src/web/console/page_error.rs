//! A console page's failure: [`PageError`], an [`AppError`] answered as an error page in the
//! request's language. Handlers return `Result<Response, PageError>` and write
//! `engine_call().or_page(&lang)?` ([`OrPage`]) or `Err(PageError::new(&lang, e))`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::error::AppError;
use crate::web::i18n::{PageLang, tr};
use crate::web::layout;

/// An error as a console page in the request's language. Messages from the engine name rules
/// and fields, never personal data.
#[derive(Debug)]
pub(crate) struct PageError {
    /// The language to answer in.
    pub lang: PageLang,
    /// What failed (its status is the page's).
    pub error: AppError,
}

impl PageError {
    /// `error`, answered in `lang`.
    pub(crate) fn new(lang: &PageLang, error: impl Into<AppError>) -> PageError {
        PageError {
            lang: lang.clone(),
            error: error.into(),
        }
    }

    /// Not found (out of the user's area, or no such thing): the same page either way.
    pub(crate) fn not_found(lang: &PageLang) -> PageError {
        PageError::new(lang, AppError::new(StatusCode::NOT_FOUND, "not_found", ""))
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let PageError { lang, error: e } = self;
        let l = lang.lang;
        let message = match e.status {
            StatusCode::NOT_FOUND => tr(
                l,
                "没有找到：它不存在，或不在您的辖区内。",
                "Not found: it does not exist or is not in your area.",
            )
            .to_string(),
            StatusCode::FORBIDDEN => format!(
                "{} {}",
                tr(l, "您无权这样做。", "You may not do this."),
                e.message
            ),
            StatusCode::SERVICE_UNAVAILABLE => format!(
                "{} {}",
                tr(l, "中心平台暂不可用。", "The hub cannot serve this yet."),
                e.message
            ),
            StatusCode::INTERNAL_SERVER_ERROR => tr(
                l,
                "中心平台未能完成请求，未保存任何内容，请重试。",
                "The hub failed to complete the request; nothing was stored; try again.",
            )
            .to_string(),
            _ => e.message,
        };
        layout::error_page(e.status, lang, &message)
    }
}

/// A result whose error becomes a console error page: `load(..).await.or_page(&lang)?`.
pub(crate) trait OrPage<T> {
    /// The value, or the error as a page in `lang`.
    fn or_page(self, lang: &PageLang) -> Result<T, PageError>;
}

impl<T, E: Into<AppError>> OrPage<T> for Result<T, E> {
    fn or_page(self, lang: &PageLang) -> Result<T, PageError> {
        self.map_err(|e| PageError::new(lang, e))
    }
}
