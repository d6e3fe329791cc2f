//! The rules of a service request's document.

use bianmin_domain::{
    AttachmentRef, Event, Field, NationalId, Outcome, Phone, ReceiptNo, RequestOp, RequestScope,
    Role, Status, authorize_request, check_materials, check_time_limit, replay, validate_name,
};
use uuid::Uuid;

use super::{
    Context, Residence, Written, added_records, after_bounded, append_only, edits_recorded,
    entry_size, forbidden, invalid, invalid_field, new_entries, outcome, signed, text, within,
};
use crate::error::Refusal;
use crate::layout::request::RequestDoc;
use crate::limits;

fn scope(r: &RequestDoc) -> RequestScope<'_> {
    RequestScope {
        village: &r.village,
        resident_user: r.resident_user.as_deref(),
    }
}

/// Checks a request document `new`, created by this change (`old` is `None`) or changed from
/// `old`.
pub(super) fn check(
    old: Option<&RequestDoc>,
    new: &RequestDoc,
    doc_id: Uuid,
    written: &Written,
    ctx: &Context<'_>,
) -> Result<(), Refusal> {
    bounded(new)?;
    let status_before = match old {
        None => {
            created(new, doc_id, ctx)?;
            Status::Draft
        }
        Some(old) => {
            unchanged_at_filing(old, new)?;
            authorize_request(ctx.sender, scope(new), RequestOp::Read).map_err(forbidden)?;
            replay(&old.events, old.level).status
        }
    };
    let (old_events, old_comments) = old.map_or((&[][..], &[][..]), |o| (&o.events, &o.comments));
    append_only(old_events, &new.events, |e| e.id.0, "event")?;
    append_only(old_comments, &new.comments, |c| c.id, "comment")?;
    match old {
        Some(old) => fields(old, new, status_before, ctx)?,
        // Edits made offline after filing, pushed with the filing: signed by the sender.
        None => new_edits(&new.edits, ctx)?,
    }
    events(old_events, new, status_before, written, ctx)?;
    for (_, c) in new_entries(old_comments, &new.comments, |c| c.id) {
        signed(&c.by, ctx, "comment")?;
        text("comment", &c.text, limits::COMMENT_CHARS)?;
        authorize_request(ctx.sender, scope(new), RequestOp::Comment).map_err(forbidden)?;
    }
    let old_attachments = old.and_then(|o| o.attachments.as_deref());
    attachments(old_attachments.unwrap_or_default(), new, status_before, ctx)
}

/// The caps of [`crate::limits`].
fn bounded(r: &RequestDoc) -> Result<(), Refusal> {
    within("event", r.events.len(), limits::EVENTS)?;
    within("comment", r.comments.len(), limits::COMMENTS)?;
    within("edit record", r.edits.len(), limits::EDITS)?;
    let attachments = r.attachments.as_deref().unwrap_or_default();
    within("attachment", attachments.len(), limits::ATTACHMENTS)?;
    Ok(())
}

/// A new request: filed by the sender in its own scope, for a real item and village, with a
/// receipt number of the sender's own device that no other request has.
fn created(r: &RequestDoc, doc_id: Uuid, ctx: &Context<'_>) -> Result<(), Refusal> {
    if r.id != doc_id {
        return Err(Refusal::new("schema", "the document's id does not match"));
    }
    authorize_request(ctx.sender, scope(r), RequestOp::Create).map_err(forbidden)?;
    signed(&r.created, ctx, "request")?;
    resident(r, ctx)?;
    if ctx.reference.directory.village(&r.village).is_none() {
        return Err(invalid_field(
            "village",
            "is not a village of the directory",
        ));
    }
    receipt(r, ctx)?;
    let item = ctx
        .reference
        .catalog
        .item(&r.item_code)
        .ok_or_else(|| invalid_field("item_code", "is not a service item of the catalog"))?;
    if item.level != r.level {
        return Err(invalid_field(
            "level",
            "differs from the catalog's handling level",
        ));
    }
    // Offline filing keeps the limit the tablet's catalog promised, within the domain's bound.
    check_time_limit(r.time_limit_days).map_err(invalid)?;
    if r.attachments.is_none() {
        return Err(Refusal::new(
            "schema",
            "a new request has no attachments list",
        ));
    }
    applicant(r, ctx)?;
    item.check_attributes(&r.attributes).map_err(invalid)?;
    for m in &r.materials {
        item.check_material(m).map_err(invalid)?;
    }
    Ok(())
}

/// A request may name only a registered resident of its own village (it is then sent to that
/// resident's devices).
fn resident(r: &RequestDoc, ctx: &Context<'_>) -> Result<(), Refusal> {
    let Some(user) = &r.resident_user else {
        return Ok(());
    };
    if user.trim().is_empty() || user.chars().count() > limits::USER_CHARS {
        return Err(invalid_field(
            "resident_user",
            format_args!("must be 1 to {} characters", limits::USER_CHARS),
        ));
    }
    match ctx.env.residence(user) {
        Residence::Unknown => Ok(()),
        Residence::Village(v) if v == r.village => Ok(()),
        _ => Err(invalid_field(
            "resident_user",
            "is not a registered resident of the request's village",
        )),
    }
}

/// The receipt number: of the request's village and the sender's device, unique.
fn receipt(r: &RequestDoc, ctx: &Context<'_>) -> Result<(), Refusal> {
    let receipt = ReceiptNo::parse(&r.receipt_no).map_err(invalid)?;
    if receipt.as_str() != r.receipt_no {
        return Err(invalid_field("receipt_no", "has surrounding spaces"));
    }
    if receipt.village() != r.village {
        return Err(invalid_field(
            "receipt_no",
            "does not start with the request's village",
        ));
    }
    if let Some(device_no) = ctx.device_no
        && receipt.device_no() != Some(device_no)
    {
        return Err(invalid_field(
            "receipt_no",
            format_args!("does not carry the sending device's number ({device_no:03})"),
        ));
    }
    // The hub's series says "filed by the resident themselves" (lists show it): only a
    // resident's own filing may carry it. Tablets never reach it anyway (their receipts carry
    // their own device number, never 000); this keeps the marker true on every replica.
    if receipt.is_hub_series() && r.created.role != Role::Resident {
        return Err(invalid_field(
            "receipt_no",
            "the hub's series (000) is only for requests residents file themselves",
        ));
    }
    if ctx.env.receipt_taken(&r.receipt_no, r.id) {
        return Err(Refusal::new(
            "duplicate_receipt",
            "receipt_no: another request already has this receipt number",
        ));
    }
    Ok(())
}

/// The applicant's fields and the grid: valid, and stored in their normal form.
fn applicant(r: &RequestDoc, ctx: &Context<'_>) -> Result<(), Refusal> {
    validate_name(&r.name).map_err(invalid)?;
    if r.name.trim() != r.name {
        return Err(invalid_field("applicant.name", "has surrounding spaces"));
    }
    if NationalId::parse(&r.id_number).map_err(invalid)?.expose() != r.id_number {
        return Err(invalid_field("id_number", "is not in its normal form"));
    }
    if Phone::parse(&r.phone).map_err(invalid)?.expose() != r.phone {
        return Err(invalid_field("phone", "is not in its normal form"));
    }
    text("grid", &r.grid, limits::GRID_CHARS)?;
    if let Some(v) = ctx.reference.directory.village(&r.village)
        && !v.grids.is_empty()
        && !v.grids.contains(&r.grid)
    {
        return Err(invalid_field(
            "grid",
            format_args!("must be one of the village's grids: {}", v.grids.join(", ")),
        ));
    }
    Ok(())
}

fn unchanged_at_filing(old: &RequestDoc, new: &RequestDoc) -> Result<(), Refusal> {
    let fixed = old.id == new.id
        && old.receipt_no == new.receipt_no
        && old.item_code == new.item_code
        && old.village == new.village
        && old.resident_user == new.resident_user
        && old.created == new.created
        && old.level == new.level
        && old.time_limit_days == new.time_limit_days;
    if !fixed {
        return Err(Refusal::new(
            "immutable",
            "a field fixed at filing was changed",
        ));
    }
    if old.attachments.is_some() != new.attachments.is_some() {
        return Err(Refusal::new(
            "schema",
            "the attachments list was added to or removed from a request",
        ));
    }
    Ok(())
}

/// The editable fields that differ, by the name their edit records give them.
fn changed_fields(old: &RequestDoc, new: &RequestDoc) -> Vec<(Field, String)> {
    let mut changed = Vec::new();
    for (key, a, b) in [
        ("name", &old.name, &new.name),
        ("id_number", &old.id_number, &new.id_number),
        ("phone", &old.phone, &new.phone),
    ] {
        if a != b {
            changed.push((Field::Applicant, key.to_string()));
        }
    }
    if old.grid != new.grid {
        changed.push((Field::Grid, "grid".to_string()));
    }
    let codes = old.attributes.keys().chain(new.attributes.keys());
    let mut codes: Vec<&String> = codes.collect();
    codes.dedup();
    for code in codes {
        if old.attributes.get(code) != new.attributes.get(code) {
            changed.push((Field::Attribute, format!("attributes.{code}")));
        }
    }
    for m in old.materials.symmetric_difference(&new.materials) {
        changed.push((Field::Materials, format!("materials.{m}")));
    }
    changed.sort_by(|a, b| a.1.cmp(&b.1));
    changed.dedup_by(|a, b| a.1 == b.1);
    changed
}

/// The field an edit record names, as permissions know it.
fn field_of(record: &str) -> Option<Field> {
    match record {
        "name" | "id_number" | "phone" => Some(Field::Applicant),
        "grid" => Some(Field::Grid),
        r if r.starts_with("attributes.") => Some(Field::Attribute),
        r if r.starts_with("materials.") => Some(Field::Materials),
        _ => None,
    }
}

/// The edit records of a new document (edits made offline after filing, pushed with it):
/// bounded, of editable fields, signed by the sender.
fn new_edits(
    edits: &[crate::layout::request::EditRecord],
    ctx: &Context<'_>,
) -> Result<(), Refusal> {
    let added = added_records(&[], edits)?;
    for e in &added {
        entry_size("edit record", e)?;
        field_of(&e.field)
            .ok_or_else(|| invalid_field("edit.field", "is not an editable field"))?;
    }
    edits_recorded(&[], &added, ctx)
}

/// Changed fields and new edit records: each allowed for the sender on the status before,
/// every change recorded, and the result valid. A new document's fields were checked whole by
/// [`created`].
fn fields(
    old: &RequestDoc,
    new: &RequestDoc,
    status_before: Status,
    ctx: &Context<'_>,
) -> Result<(), Refusal> {
    let added = added_records(&old.edits, &new.edits)?;
    for e in &added {
        entry_size("edit record", e)?;
        let field = field_of(&e.field)
            .ok_or_else(|| invalid_field("edit.field", "is not an editable field"))?;
        // Recording an edit is editing, even when the value ends up as it was.
        authorize_request(
            ctx.sender,
            scope(new),
            RequestOp::Edit(field, status_before),
        )
        .map_err(forbidden)?;
    }
    let changed = changed_fields(old, new);
    for (field, _) in &changed {
        authorize_request(
            ctx.sender,
            scope(new),
            RequestOp::Edit(*field, status_before),
        )
        .map_err(forbidden)?;
    }
    let names: Vec<String> = changed.iter().map(|(_, n)| n.clone()).collect();
    edits_recorded(&names, &added, ctx)?;
    if changed.is_empty() {
        return Ok(());
    }
    applicant(new, ctx)?;
    let Some(item) = ctx.reference.catalog.item(&new.item_code) else {
        return Ok(());
    };
    for spec in item.attributes.iter().filter(|s| s.required) {
        if old.attributes.contains_key(&spec.code) && !new.attributes.contains_key(&spec.code) {
            return Err(invalid_field(
                &format!("attributes.{}", spec.code),
                "is required and cannot be cleared",
            ));
        }
    }
    if changed.iter().any(|(f, _)| *f == Field::Attribute) {
        item.check_attributes(&new.attributes).map_err(invalid)?;
    }
    for m in new.materials.difference(&old.materials) {
        item.check_material(m).map_err(invalid)?;
    }
    Ok(())
}

/// New lifecycle events: signed by the sender, valid on the state their author saw, allowed.
fn events(
    old_events: &[Event],
    new: &RequestDoc,
    status_before: Status,
    written: &Written,
    ctx: &Context<'_>,
) -> Result<(), Refusal> {
    let fresh = new_entries(old_events, &new.events, |e| e.id.0);
    if fresh.is_empty() {
        return Ok(());
    }
    for (_, e) in &fresh {
        signed(&e.by, ctx, "event")?;
        after_bounded(&e.after)?;
        entry_size("event", *e)?;
    }
    let derived = replay(&new.events, new.level);
    for (i, e) in fresh {
        // Who may do it is asked first: a clerk's approval is forbidden, not out of order.
        let seen = derived.seen[i].unwrap_or(status_before);
        authorize_request(ctx.sender, scope(new), RequestOp::Append(&e.action, seen))
            .map_err(forbidden)?;
        if let Outcome::Invalid(why) = &derived.outcomes[i] {
            return Err(outcome(e.action.kind(), why));
        }
        materials(new, &derived.outcomes, i, written, ctx)?;
    }
    Ok(())
}

/// An acceptance or approval (event `i`) needs every material of the item in hand when it was
/// written, or waived by a valid event before it ([`check_materials`]).
fn materials(
    r: &RequestDoc,
    outcomes: &[Outcome],
    i: usize,
    written: &Written,
    ctx: &Context<'_>,
) -> Result<(), Refusal> {
    let Some(item) = ctx.reference.catalog.item(&r.item_code) else {
        return Ok(());
    };
    let earlier = r.events[..i]
        .iter()
        .zip(outcomes)
        .filter(|(_, o)| **o == Outcome::Applied)
        .map(|(e, _)| &e.action);
    let received = written.materials(r.events[i].id).unwrap_or(&r.materials);
    check_materials(&r.events[i].action, item, received, earlier).map_err(invalid)
}

/// Attachment references added by a change: append-only, signed by the sender, valid, of one
/// of the item's materials, allowed to the sender (attaching is editing the materials), each
/// file once per material, and of bytes the sender has or may read.
fn attachments(
    old_list: &[AttachmentRef],
    new: &RequestDoc,
    status_before: Status,
    ctx: &Context<'_>,
) -> Result<(), Refusal> {
    let Some(list) = &new.attachments else {
        return Ok(());
    };
    append_only(old_list, list, |a| a.id, "attachment")?;
    for (i, a) in new_entries(old_list, list, |a| a.id) {
        signed(&a.by, ctx, "attachment")?;
        a.validate().map_err(invalid)?;
        entry_size("attachment", a)?;
        if let Some(item) = ctx.reference.catalog.item(&new.item_code) {
            item.check_material(&a.material).map_err(invalid)?;
        }
        authorize_request(
            ctx.sender,
            scope(new),
            RequestOp::Edit(Field::Materials, status_before),
        )
        .map_err(forbidden)?;
        if list[..i]
            .iter()
            .any(|e| e.sha256 == a.sha256 && e.material == a.material)
        {
            return Err(invalid_field(
                "attachment",
                format_args!("this file is already attached as {}", a.material),
            ));
        }
        if ctx.env.blob_hidden(&a.sha256, ctx.sender) {
            return Err(Refusal::new(
                "forbidden",
                "attachment: refers to a file the sender may not read",
            ));
        }
    }
    Ok(())
}
