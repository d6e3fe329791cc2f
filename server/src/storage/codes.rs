//! How both backends write the domain's values into their tables: one spelling for each, so
//! that a database moved from one backend to the other (`migrate-to-postgres`) reads the same.

use bianmin_domain::{Rating, Stage};

use super::ReadScope;

pub(crate) fn rating_name(r: Rating) -> &'static str {
    match r {
        Rating::VerySatisfied => "very_satisfied",
        Rating::Satisfied => "satisfied",
        Rating::BasicallySatisfied => "basically_satisfied",
        Rating::Dissatisfied => "dissatisfied",
        Rating::VeryDissatisfied => "very_dissatisfied",
    }
}

pub(crate) fn parse_rating(s: &str) -> Option<Rating> {
    [
        Rating::VerySatisfied,
        Rating::Satisfied,
        Rating::BasicallySatisfied,
        Rating::Dissatisfied,
        Rating::VeryDissatisfied,
    ]
    .into_iter()
    .find(|r| rating_name(*r) == s)
}

pub(crate) fn parse_stage(s: &str) -> Option<Stage> {
    [
        Stage::Proposal,
        Stage::Consultation,
        Stage::Review,
        Stage::Resolution,
        Stage::ResolutionNotice,
        Stage::ResultsNotice,
        Stage::Done,
    ]
    .into_iter()
    .find(|st| st.as_str() == s)
}

/// The index column a read scope selects on, and its value.
pub(crate) fn index_scope(scope: &ReadScope) -> (&'static str, &str) {
    match scope {
        ReadScope::Resident { user } => ("resident_user", user.as_str()),
        ReadScope::Village(code) => ("village", code.as_str()),
        ReadScope::Township(code) => ("township", code.as_str()),
        ReadScope::County(code) => ("county", code.as_str()),
    }
}
