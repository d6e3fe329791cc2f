//! Masked values on a request's page, and their reveal.
//!
//! The page shows the applicant's ID number and phone masked, sensitive attributes (a bank
//! account, marked `sensitive` in the catalog) as stars, and anything that looks like an ID,
//! mobile or bank-card number in free text (attribute values, comments, the history's reasons
//! and notes) starred ([`bianmin_domain::mask_personal_numbers`]). A reviewer who needs one
//! value in full presses its "reveal" button: a CSRF-checked POST to
//! `/console/requests/{id}/reveal` naming the field. The hub records who revealed which field
//! of which request, and when (never the value: [`crate::storage::RevealRecord`]), then answers
//! with the page showing that one value, for that response only (never cached): a reload
//! shows it masked again. A GET of the same address only goes back to the page. Only a user
//! who may read the request reaches it; for anyone else it does not exist.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use bianmin_document::model::RequestDetail;
use bianmin_domain::{ServiceItem, Timestamp, mask_personal_numbers};
use maud::{Markup, html};
use uuid::Uuid;

use super::super::csrf::{self, SignedForm};
use super::super::{OrPage, PageError, blocking, labels, parse_id};
use super::{View, load, render};
use crate::AppState;
use crate::error::AppError;
use crate::storage::RevealRecord;
use crate::web::i18n::{PageLang, tr};

/// A value of a request that the page may show masked, as a reveal names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Field {
    /// `applicant.id_number`.
    IdNumber,
    /// `applicant.phone`.
    Phone,
    /// `attributes.<code>`.
    Attribute(String),
    /// `comments.<id>`: a comment's text.
    Comment(Uuid),
    /// `history.<event id>`: an event's reason or note.
    Event(Uuid),
}

impl Field {
    /// The field a form names, if it is one.
    fn parse(raw: &str) -> Option<Field> {
        let id = |s: &str| Uuid::parse_str(s).ok();
        match raw.split_once('.')? {
            ("applicant", "id_number") => Some(Field::IdNumber),
            ("applicant", "phone") => Some(Field::Phone),
            ("attributes", code) if !code.is_empty() => Some(Field::Attribute(code.to_string())),
            ("comments", c) => id(c).map(Field::Comment),
            ("history", e) => id(e).map(Field::Event),
            _ => None,
        }
    }

    /// Its name in a form and in the audit record.
    pub(super) fn name(&self) -> String {
        match self {
            Field::IdNumber => "applicant.id_number".into(),
            Field::Phone => "applicant.phone".into(),
            Field::Attribute(code) => format!("attributes.{code}"),
            Field::Comment(id) => format!("comments.{id}"),
            Field::Event(id) => format!("history.{id}"),
        }
    }

    /// Whether the request has this value.
    fn is_on(&self, d: &RequestDetail) -> bool {
        match self {
            Field::IdNumber | Field::Phone => true,
            Field::Attribute(code) => d.attributes.contains_key(code),
            Field::Comment(id) => d.comments.iter().any(|c| c.id == *id),
            Field::Event(id) => d.history.iter().any(|h| h.id.0 == *id),
        }
    }
}

/// Whether an attribute's whole value is hidden (the catalog marks it sensitive).
pub(super) fn sensitive(item: Option<&ServiceItem>, code: &str) -> bool {
    item.and_then(|i| i.attribute(code))
        .is_some_and(|a| a.sensitive)
}

/// Every character of a sensitive value as a star.
pub(super) fn hidden(raw: &str) -> String {
    "*".repeat(raw.chars().count())
}

/// A value as the page shows it: in full if this response reveals `field`; otherwise
/// `masked`, with a reveal button when that hides anything.
pub(super) fn value(view: View<'_>, field: Field, raw: &str, masked: String) -> Markup {
    let l = view.l;
    if view.revealed == Some(&field) {
        return html! {
            strong.revealed { (raw) }
            " " span.small { (tr(l, "（已显示完整信息，已记录）", "(shown in full; recorded)")) }
        };
    }
    html! {
        (masked)
        @if masked != raw { " " (button(view, &field)) }
    }
}

/// Free text with personal numbers starred, revealable as `field`.
pub(super) fn text(view: View<'_>, field: Field, raw: &str) -> Markup {
    value(view, field, raw, mask_personal_numbers(raw))
}

/// The form that reveals one value.
fn button(view: View<'_>, field: &Field) -> Markup {
    let l = view.l;
    html! {
        form.inline.reveal method="post" action={ "/console/requests/" (view.d.id) "/reveal" } {
            (csrf::field(view.token))
            input type="hidden" name="field" value=(field.name());
            button.secondary type="submit" title=(tr(l, "显示完整信息（将被记录）", "Show in full (recorded)")) {
                (tr(l, "显示", "Reveal"))
            }
        }
    }
}

/// The reveals of this request so far: who, when, which field.
pub(super) fn reveals_section(view: View<'_>) -> Markup {
    let View { l, loaded, .. } = view;
    html! {
        @if !loaded.reveals.is_empty() {
            h3 { (tr(l, "查看完整信息记录", "Values shown in full")) }
            div.scroll {
                table.reveals {
                    thead { tr {
                        th { (tr(l, "时间（服务器）", "When (server time)")) }
                        th { (tr(l, "用户", "User")) }
                        th { (tr(l, "字段", "Field")) }
                    } }
                    tbody {
                        @for r in &loaded.reveals {
                            tr {
                                td { (labels::time(Timestamp(r.at))) }
                                td { (loaded.names.user(&r.user_id)) }
                                td data-field=(r.field) { (view.field(&r.field)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `POST /console/requests/{id}/reveal`: records the reveal of the form's `field`, then
/// answers with the request's page showing that value in full, uncached.
pub(crate) async fn reveal(
    lang: PageLang,
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: SignedForm,
) -> Result<Response, PageError> {
    let SignedForm { signed, fields } = form;
    let id = parse_id(&id).ok_or_else(|| PageError::not_found(&lang))?;
    let field = fields
        .get("field")
        .and_then(Field::parse)
        .ok_or_else(|| PageError::not_found(&lang))?;
    let (user, st, wanted) = (signed.user.clone(), state.clone(), field.clone());
    let loaded = blocking(move || {
        let mut loaded = load(&st, &user, id)?;
        if !wanted.is_on(&loaded.page.detail) {
            return Err(AppError::new(StatusCode::NOT_FOUND, "not_found", ""));
        }
        let record = RevealRecord {
            doc_id: id,
            user_id: user.id.clone(),
            field: wanted.name(),
            at: Timestamp::now().0,
        };
        st.storage.record_reveal(&record)?;
        loaded.reveals.push(record);
        // The record just made names the reviewer, whom the page may not have mentioned yet.
        loaded.names.add(&user);
        Ok(loaded)
    })
    .await
    .or_page(&lang)?;
    let mut response = render(
        lang,
        StatusCode::OK,
        &signed,
        &loaded,
        None,
        None,
        Some(&field),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names_round_trip_and_nothing_else_parses() {
        let id = Uuid::new_v4();
        for f in [
            Field::IdNumber,
            Field::Phone,
            Field::Attribute("bank_account".into()),
            Field::Comment(id),
            Field::Event(id),
        ] {
            assert_eq!(Field::parse(&f.name()), Some(f));
        }
        for bad in [
            "",
            "applicant",
            "applicant.name",
            "attributes.",
            "comments.42",
            "history.",
            "secrets.x",
        ] {
            assert_eq!(Field::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn sensitive_values_are_hidden_whole() {
        assert_eq!(hidden("6228 4800 1234 5678"), "*******************");
        assert_eq!(hidden("账户"), "**");
        let catalog = bianmin_domain::demo::catalog();
        let item = catalog.item("AID-ELDER-ALLOWANCE");
        assert!(sensitive(item, "bank_account"));
        assert!(!sensitive(catalog.item("SOC-CARD"), "reason"));
        assert!(!sensitive(None, "bank_account"));
    }
}
