//! The rules of a village agenda item's document.

use bianmin_domain::{
    AgendaAction, AgendaEvent, AgendaOp, authorize_agenda, check_date_in_range, replay_agenda,
};
use chrono::NaiveDate;
use uuid::Uuid;

use super::{
    Context, added_records, after_bounded, append_only, edits_recorded, entry_size, forbidden,
    invalid, invalid_field, new_entries, outcome, signed, text, within,
};
use crate::error::Refusal;
use crate::layout::agenda::AgendaDoc;
use crate::limits;

/// Checks an agenda document `new`, created by this change (`old` is `None`) or changed from
/// `old`.
pub(super) fn check(
    old: Option<&AgendaDoc>,
    new: &AgendaDoc,
    doc_id: Uuid,
    ctx: &Context<'_>,
) -> Result<(), Refusal> {
    within("event", new.events.len(), limits::EVENTS)?;
    within("comment", new.comments.len(), limits::COMMENTS)?;
    within("edit record", new.edits.len(), limits::EDITS)?;
    match old {
        None => created(new, doc_id, ctx)?,
        Some(old) => changed(old, new, ctx)?,
    }
    let (old_events, old_comments) = old.map_or((&[][..], &[][..]), |o| (&o.events, &o.comments));
    append_only(old_events, &new.events, |e| e.id.0, "event")?;
    append_only(old_comments, &new.comments, |c| c.id, "comment")?;
    for (_, c) in new_entries(old_comments, &new.comments, |c| c.id) {
        signed(&c.by, ctx, "comment")?;
        text("comment", &c.text, limits::COMMENT_CHARS)?;
        // Anyone who may read an agenda item may comment on it.
        authorize_agenda(ctx.sender, &new.village, AgendaOp::Read).map_err(forbidden)?;
    }
    events(old_events, new, ctx)
}

fn fields_valid(a: &AgendaDoc) -> Result<(), Refusal> {
    text("title", &a.title, limits::TITLE_CHARS)?;
    text("category", &a.category, limits::CATEGORY_CHARS)?;
    text("description", &a.description, limits::DESCRIPTION_CHARS)
}

/// An agenda edit record names one of the editable fields.
fn edit_field(field: &str) -> Result<(), Refusal> {
    if crate::layout::agenda::FIELD_KEYS.contains(&field) {
        Ok(())
    } else {
        Err(invalid_field("edit.field", "is not an editable field"))
    }
}

fn created(a: &AgendaDoc, doc_id: Uuid, ctx: &Context<'_>) -> Result<(), Refusal> {
    if a.id != doc_id {
        return Err(Refusal::new("schema", "the document's id does not match"));
    }
    authorize_agenda(ctx.sender, &a.village, AgendaOp::Create).map_err(forbidden)?;
    signed(&a.created, ctx, "agenda item")?;
    if ctx.reference.directory.village(&a.village).is_none() {
        return Err(invalid_field(
            "village",
            "is not a village of the directory",
        ));
    }
    fields_valid(a)?;
    let added = added_records(&[], &a.edits)?;
    for e in &added {
        entry_size("edit record", e)?;
        edit_field(&e.field)?;
    }
    edits_recorded(&[], &added, ctx)
}

fn changed(old: &AgendaDoc, new: &AgendaDoc, ctx: &Context<'_>) -> Result<(), Refusal> {
    if old.id != new.id || old.village != new.village || old.created != new.created {
        return Err(Refusal::new(
            "immutable",
            "a field fixed at creation was changed",
        ));
    }
    authorize_agenda(ctx.sender, &new.village, AgendaOp::Read).map_err(forbidden)?;
    let added = added_records(&old.edits, &new.edits)?;
    for e in &added {
        entry_size("edit record", e)?;
        edit_field(&e.field)?;
    }
    let changed: Vec<String> = [
        ("title", &old.title, &new.title),
        ("category", &old.category, &new.category),
        ("description", &old.description, &new.description),
    ]
    .into_iter()
    .filter(|(_, a, b)| a != b)
    .map(|(k, ..)| k.to_string())
    .collect();
    if !changed.is_empty() {
        authorize_agenda(ctx.sender, &new.village, AgendaOp::Edit).map_err(forbidden)?;
        fields_valid(new)?;
    }
    edits_recorded(&changed, &added, ctx)
}

/// The dates an agenda action carries: each must lie in the range the calendar covers.
fn dates(action: &AgendaAction) -> Vec<(&'static str, NaiveDate)> {
    match action {
        AgendaAction::Meeting(m) => vec![("meeting.held_on", m.held_on)],
        AgendaAction::ResolutionNotice(n) | AgendaAction::ResultsNotice(n) => {
            vec![("notice.posted_on", n.posted_on)]
        }
        AgendaAction::Objection(o) => vec![("objection.received_on", o.received_on)],
        AgendaAction::TownshipReview { .. } | AgendaAction::Settle { .. } => Vec::new(),
    }
}

fn events(old_events: &[AgendaEvent], new: &AgendaDoc, ctx: &Context<'_>) -> Result<(), Refusal> {
    let fresh = new_entries(old_events, &new.events, |e| e.id.0);
    if fresh.is_empty() {
        return Ok(());
    }
    for (_, e) in &fresh {
        signed(&e.by, ctx, "event")?;
        after_bounded(&e.after)?;
        entry_size("event", *e)?;
        for (field, d) in dates(&e.action) {
            check_date_in_range(field, d).map_err(invalid)?;
        }
        authorize_agenda(ctx.sender, &new.village, AgendaOp::Append(&e.action))
            .map_err(forbidden)?;
    }
    let state = replay_agenda(&new.events);
    for (i, e) in fresh {
        if let Some((_, why)) = state.invalid.iter().find(|(j, _)| *j == i) {
            return Err(outcome(e.action.kind(), why));
        }
    }
    Ok(())
}
