//! The tablet's list projections: one row per document, derived from it
//! ([`bianmin_document::index`]), so lists never load documents. The list queries themselves are
//! [`bianmin_document::sqlite`]'s, shared with the hub's SQLite index.

use bianmin_document::index::{NO_DUE, agenda_row_of, request_row_of};
use bianmin_document::layout::agenda::AgendaDoc;
use bianmin_document::layout::request::RequestDoc;
use bianmin_domain::{AgendaState, Clock, Derived};
use rusqlite::{Transaction, params};

use crate::Result;

/// Writes (or rewrites) a request's row.
pub(crate) fn upsert_request(
    tx: &Transaction<'_>,
    doc: &RequestDoc,
    derived: &Derived,
    clock: &Clock,
) -> Result<()> {
    let row = request_row_of(doc, derived, clock);
    let due = row
        .due
        .map_or_else(|| NO_DUE.to_string(), |d| d.to_string());
    let doc_id = row.id.to_string();
    tx.prepare_cached("DELETE FROM attachment_refs WHERE doc_id = ?1")?
        .execute([&doc_id])?;
    for a in doc.attachments.iter().flatten() {
        tx.prepare_cached(
            "INSERT OR IGNORE INTO attachment_refs (sha256, doc_id, size, media_type)
             VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![
            a.sha256,
            doc_id,
            a.size as i64,
            a.media_type.as_str()
        ])?;
    }
    tx.prepare_cached(
        "INSERT OR REPLACE INTO requests (id, receipt_no, item_code, village, grid, resident_user,
            applicant_masked, status, conflict, clock, due_date, filed_at, updated_at,
            applicant_name, decided_on)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
    )?
    .execute(params![
        row.id.to_string(),
        row.receipt_no,
        row.item_code,
        row.village,
        row.grid,
        doc.resident_user,
        row.applicant_masked,
        row.status.as_str(),
        row.conflict,
        row.clock,
        due,
        row.filed_at.0,
        row.updated_at.0,
        // For searching only: lists read `applicant_masked`.
        doc.name.trim(),
        row.decided_on.map(|d| d.to_string()),
    ])?;
    Ok(())
}

/// Writes (or rewrites) an agenda item's row.
pub(crate) fn upsert_agenda(
    tx: &Transaction<'_>,
    doc: &AgendaDoc,
    state: &AgendaState,
) -> Result<()> {
    let row = agenda_row_of(doc, state);
    tx.prepare_cached(
        "INSERT OR REPLACE INTO agenda_items
            (id, village, title, category, stage, conflict, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        row.id.to_string(),
        row.village,
        row.title,
        row.category,
        row.stage.as_str(),
        row.conflict,
        doc.created.at.0,
        row.updated_at.0,
    ])?;
    Ok(())
}
