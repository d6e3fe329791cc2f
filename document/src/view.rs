//! The page views of documents (what a request's or an agenda item's page shows), built the
//! same way on the tablet and in the hub's console.

use bianmin_domain::{
    Action, Clock, Outcome, ReceiptNo, outstanding_materials, replay, replay_agenda,
};

use crate::Reference;
use crate::index;
use crate::layout::agenda::AgendaDoc;
use crate::layout::request::RequestDoc;
use crate::model::{
    AgendaDetail, AgendaHistoryEntry, Applicant, ConflictView, HistoryEntry, RequestDetail,
    outcome_text,
};

/// Builds the page view of a request document.
pub fn request_detail(
    d: RequestDoc,
    reference: &Reference,
    today: chrono::NaiveDate,
) -> RequestDetail {
    let derived = replay(&d.events, d.level);
    let clock = Clock::compute(&d.events, &derived, d.time_limit_days, &reference.calendar);
    let updated_at = index::request_updated_at(&d);
    let applied: Vec<&Action> = d
        .events
        .iter()
        .zip(&derived.outcomes)
        .filter(|(_, o)| **o == Outcome::Applied)
        .map(|(e, _)| &e.action)
        .collect();
    let outstanding = reference
        .catalog
        .item(&d.item_code)
        .map_or_else(Vec::new, |item| {
            outstanding_materials(item, &d.materials, applied.iter().copied())
                .into_iter()
                .map(str::to_string)
                .collect()
        });
    let waived = applied
        .iter()
        .filter_map(|a| match a {
            Action::WaiveMaterial { material, reason } => Some((material.clone(), reason.clone())),
            _ => None,
        })
        .collect();
    let history = d
        .events
        .iter()
        .zip(&derived.outcomes)
        .map(|(e, o)| HistoryEntry {
            id: e.id,
            action: e.action.clone(),
            by: e.by.clone(),
            invalid: outcome_text(o),
        })
        .collect();
    RequestDetail {
        id: d.id,
        receipt_no: ReceiptNo::parse(&d.receipt_no)
            .unwrap_or_else(|_| ReceiptNo::new(&d.village, 0, 0)),
        item_code: d.item_code,
        village: d.village,
        grid: d.grid,
        resident_user: d.resident_user,
        applicant: Applicant {
            name: d.name,
            id_number: d.id_number,
            phone: d.phone,
        },
        attributes: d.attributes,
        materials_received: d.materials,
        status: derived.status,
        conflict: derived.conflict.as_ref().map(|c| ConflictView {
            branches: c.branches.clone(),
        }),
        field_conflicts: d.field_conflicts,
        urgency: clock.urgency(today, &reference.calendar),
        clock,
        time_limit_days: d.time_limit_days,
        missing_materials: derived.missing.clone(),
        outstanding_materials: outstanding,
        waived_materials: waived,
        rating: derived.rating,
        follow_up: derived.follow_up,
        history,
        comments: d.comments,
        edits: d.edits,
        attachments: d.attachments.unwrap_or_default(),
        created: d.created,
        updated_at,
    }
}

/// Builds the page view of an agenda document.
pub fn agenda_detail(d: AgendaDoc) -> AgendaDetail {
    let state = replay_agenda(&d.events);
    let updated_at = index::agenda_updated_at(&d);
    let history = d
        .events
        .iter()
        .enumerate()
        .map(|(i, e)| AgendaHistoryEntry {
            id: e.id,
            action: e.action.clone(),
            by: e.by.clone(),
            meeting_result: state
                .meetings
                .iter()
                .find(|(j, _)| *j == i)
                .map(|(_, r)| r.clone()),
            invalid: state
                .invalid
                .iter()
                .find(|(j, _)| *j == i)
                .map(|(_, why)| why.clone()),
        })
        .collect();
    AgendaDetail {
        id: d.id,
        village: d.village,
        title: d.title,
        category: d.category,
        description: d.description,
        stage: state.stage,
        conflict: state.conflict,
        field_conflicts: d.field_conflicts,
        history,
        comments: d.comments,
        created: d.created,
        updated_at,
    }
}
