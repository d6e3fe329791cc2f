//! Warnings for texts a clerk writes for the public.
//!
//! An agenda item's title, category and description, its notices (text and place) and its
//! objections (summary and answer) are published on the hub's public pages once the item is
//! past its resolution. Those pages star anything that looks like an ID, mobile or bank-card
//! number ([`bianmin_domain::mask_personal_numbers`]), but a notice with a row of stars in it
//! is still a notice that should have been written otherwise, and its text stays in the
//! document. So the tablet tells the clerk before: these functions return one warning per such
//! text. A warning is not a refusal: the store writes the text all the same (a number may be
//! one the village means to publish, like a service hotline that happens to be long), and the
//! app or the command line shows the warning so the clerk can edit the text.
//!
//! ```
//! use bianmin_client_core::public_text::{agenda_action_warnings, PublicTextWarning};
//! use bianmin_domain::{AgendaAction, Notice, PersonalNumberKind};
//! let notice = Notice {
//!     text: "补偿款咨询：１３８ １２３４ ５６７８".into(),
//!     posted_on: "2026-05-21".parse().unwrap(),
//!     period_days: 7,
//!     place: "村务公开栏".into(),
//! };
//! assert_eq!(
//!     agenda_action_warnings(&AgendaAction::ResolutionNotice(notice)),
//!     [PublicTextWarning { field: "notice.text".into(), kinds: vec![PersonalNumberKind::Mobile] }]
//! );
//! ```

use bianmin_domain::{AgendaAction, PersonalNumberKind, find_personal_numbers};
use serde::{Deserialize, Serialize};

use crate::model::{AgendaEdit, NewAgendaItem};

/// A text written for the public that looks like it holds personal data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicTextWarning {
    /// The text, named as errors name fields: `title`, `category`, `description`,
    /// `notice.text`, `notice.place`, `objection.summary` or `objection.response`.
    pub field: String,
    /// What its numbers look like, each kind once, in the order they appear.
    pub kinds: Vec<PersonalNumberKind>,
}

/// The warnings for a new agenda item's texts.
pub fn new_agenda_warnings(new: &NewAgendaItem) -> Vec<PublicTextWarning> {
    warnings([
        ("title", new.title.as_str()),
        ("category", &new.category),
        ("description", &new.description),
    ])
}

/// The warnings for a record's public texts: a notice's text and place, an objection's summary
/// and answer. Minutes, the township's words and settlement notes are never published.
pub fn agenda_action_warnings(action: &AgendaAction) -> Vec<PublicTextWarning> {
    match action {
        AgendaAction::ResolutionNotice(n) | AgendaAction::ResultsNotice(n) => {
            warnings([("notice.text", n.text.as_str()), ("notice.place", &n.place)])
        }
        AgendaAction::Objection(o) => warnings([
            ("objection.summary", o.summary.as_str()),
            ("objection.response", &o.response),
        ]),
        AgendaAction::Meeting(_)
        | AgendaAction::TownshipReview { .. }
        | AgendaAction::Settle { .. } => Vec::new(),
    }
}

/// The warnings for an edit of an agenda item's title, category or description.
pub fn agenda_edit_warnings(edit: &AgendaEdit) -> Vec<PublicTextWarning> {
    match edit {
        AgendaEdit::Title(v) => warnings([("title", v.as_str())]),
        AgendaEdit::Category(v) => warnings([("category", v.as_str())]),
        AgendaEdit::Description(v) => warnings([("description", v.as_str())]),
    }
}

fn warnings<'a>(
    texts: impl IntoIterator<Item = (&'static str, &'a str)>,
) -> Vec<PublicTextWarning> {
    texts
        .into_iter()
        .filter_map(|(field, text)| {
            let mut kinds = Vec::new();
            for n in find_personal_numbers(text) {
                if !kinds.contains(&n.kind) {
                    kinds.push(n.kind);
                }
            }
            (!kinds.is_empty()).then(|| PublicTextWarning {
                field: field.to_string(),
                kinds,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use PersonalNumberKind::{LongNumber, Mobile, NationalId};
    use bianmin_domain::{Meeting, Objection};

    fn warning(field: &str, kinds: &[PersonalNumberKind]) -> PublicTextWarning {
        PublicTextWarning {
            field: field.into(),
            kinds: kinds.to_vec(),
        }
    }

    #[test]
    fn each_public_text_is_checked_and_named() {
        let new = NewAgendaItem {
            title: "补偿款发放 2026年".into(),
            category: "compensation".into(),
            description: "户主 110105 19491231 002X，电话 +86 138 1234 5678，再次 13912345678"
                .into(),
        };
        assert_eq!(
            new_agenda_warnings(&new),
            [warning("description", &[NationalId, Mobile])]
        );
        let objection = AgendaAction::Objection(Objection {
            received_on: "2026-05-21".parse().unwrap(),
            summary: "打入账户 6222 0212 3456 7890 123".into(),
            response: "已回电１３８１２３４５６７８".into(),
        });
        assert_eq!(
            agenda_action_warnings(&objection),
            [
                warning("objection.summary", &[LongNumber]),
                warning("objection.response", &[Mobile])
            ]
        );
        assert_eq!(
            agenda_edit_warnings(&AgendaEdit::Title("联系 138-1234-5678".into())),
            [warning("title", &[Mobile])]
        );
        assert_eq!(
            agenda_edit_warnings(&AgendaEdit::Description("面积 1200 平方米".into())),
            []
        );
    }

    #[test]
    fn texts_that_are_never_published_are_not_checked() {
        let meeting = AgendaAction::Meeting(Meeting {
            body: bianmin_domain::Body::PartyBranch,
            held_on: "2026-05-21".parse().unwrap(),
            entitled: 5,
            present: 5,
            households: None,
            households_represented: None,
            votes_for: 5,
            votes_against: 0,
            abstentions: 0,
            minutes: "记录人电话 13812345678".into(),
            sign_in_photos: vec![],
        });
        assert_eq!(agenda_action_warnings(&meeting), []);
    }
}
