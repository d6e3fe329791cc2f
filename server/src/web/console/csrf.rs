//! Cross-site request forgery: every console form carries its session's token in a hidden
//! field `csrf`, and every POST is refused (403, nothing done) unless the field matches. The
//! sign-in form, which has no session yet, carries a token that must match its own short-lived
//! cookie (`bianmin_signin`, `SameSite=Strict`). The session cookie is `SameSite=Strict` as
//! well, so a forged cross-site form would fail twice.

use axum::extract::{Form, FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};

use super::session::Signed;
use super::token::matches;
use crate::AppState;
use crate::web::i18n::tr;

/// The name of the hidden field.
pub const FIELD: &str = "csrf";

/// The hidden field carrying `token`.
pub(crate) fn field(token: &str) -> Markup {
    html! { input type="hidden" name=(FIELD) value=(token); }
}

/// A submitted form's fields, in order (a field may repeat, like ticked checkboxes).
#[derive(Debug, Clone, Default)]
pub(crate) struct Fields(pub Vec<(String, String)>);

impl Fields {
    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of `name`, or empty.
    pub fn text(&self, name: &str) -> String {
        self.get(name).unwrap_or_default().to_string()
    }

    /// Every value of `name`.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }
}

/// A console form posted by a signed-in user, its CSRF token checked.
#[derive(Debug)]
pub(crate) struct SignedForm {
    /// Who.
    pub signed: Signed,
    /// The fields.
    pub fields: Fields,
}

/// The refusal of a form whose token is missing or wrong.
pub(crate) fn refused(lang: crate::web::i18n::PageLang) -> Response {
    let l = lang.lang;
    crate::web::layout::error_page(
        StatusCode::FORBIDDEN,
        lang,
        tr(
            l,
            "表单已过期或不是从审核台提交的，未做任何操作。请返回页面，刷新后再提交。",
            "This form has expired or did not come from the console: nothing was done. Go back, reload the page and submit again.",
        ),
    )
}

impl FromRequest<AppState> for SignedForm {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let signed = Signed::from_request_parts(&mut parts, state).await?;
        let lang = super::lang_of(&mut parts).await;
        let multipart = parts
            .headers
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("multipart/form-data"));
        let req = Request::from_parts(parts, body);
        let fields = if multipart {
            multipart_fields(req, state).await
        } else {
            Form::<Vec<(String, String)>>::from_request(req, state)
                .await
                .map(|Form(f)| Fields(f))
                .ok()
        };
        let Some(fields) = fields else {
            return Err(refused(lang));
        };
        if !matches(&signed.csrf, fields.get(FIELD).unwrap_or_default()) {
            tracing::warn!(user = %signed.user.id, "console form refused: CSRF token missing or wrong");
            return Err(refused(lang));
        }
        Ok(SignedForm { signed, fields })
    }
}

/// The fields of a form sent as `multipart/form-data` (a form with a file input): a file's
/// content becomes its field's value (the console's uploads are JSON text; bytes that are not
/// UTF-8 are replaced, and the JSON check then names the problem). `None` if the body is not
/// a well-formed multipart body.
async fn multipart_fields(req: Request, state: &AppState) -> Option<Fields> {
    let mut form = axum::extract::Multipart::from_request(req, state)
        .await
        .ok()?;
    let mut fields = Vec::new();
    while let Some(field) = form.next_field().await.ok()? {
        let name = field.name().unwrap_or_default().to_string();
        let bytes = field.bytes().await.ok()?;
        fields.push((name, String::from_utf8_lossy(&bytes).into_owned()));
    }
    Some(Fields(fields))
}
