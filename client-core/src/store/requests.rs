//! Service requests: filing, lifecycle events, edits, comments, reading and lists.

use bianmin_domain::{
    Action, AttrValue, Clock, Event, EventId, NationalId, Phone, ReceiptNo, RequestOp,
    RequestScope, Role, Status, authorize_request, replay, validate_name,
};
use rusqlite::{OptionalExtension, Transaction};
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

use super::{Reference, Store, load_doc, mark_unsynced, save_doc};
use crate::author::{self, Author};
use crate::document::DocKind;
use crate::document::request::{self as doc, RequestDoc};
use crate::model::{
    Applicant, ConflictView, FieldEdit, HistoryEntry, Listing, NewRequest, Page, RequestDetail,
    RequestFilter, RequestRow, RequestSort, outcome_text,
};
use crate::projection;
use crate::{Error, Result};

fn scope(d: &RequestDoc) -> RequestScope<'_> {
    RequestScope {
        village: &d.village,
        resident_user: d.resident_user.as_deref(),
    }
}

/// Builds the page view of a request document.
pub(crate) fn detail(
    d: RequestDoc,
    reference: &Reference,
    today: chrono::NaiveDate,
) -> RequestDetail {
    let derived = replay(&d.events, d.level);
    let clock = Clock::compute(&d.events, &derived, d.time_limit_days, &reference.calendar);
    let updated_at = projection::request_updated_at(&d);
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
        missing_materials: derived.missing.clone(),
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

/// Recomputes one request's projection row from its document.
pub(crate) fn project(tx: &Transaction<'_>, d: &RequestDoc, reference: &Reference) -> Result<()> {
    let derived = replay(&d.events, d.level);
    let clock = Clock::compute(&d.events, &derived, d.time_limit_days, &reference.calendar);
    projection::upsert_request(tx, d, &derived, &clock)
}

/// Recomputes every request's row (after the calendar changed).
pub(crate) fn reproject_all(tx: &Transaction<'_>, reference: &Reference) -> Result<()> {
    let ids: Vec<String> = tx
        .prepare("SELECT id FROM documents WHERE kind = 'request'")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    // Any actor will do: nothing is written to these documents.
    let actor = automerge::ActorId::random();
    for id in ids {
        let id = Uuid::parse_str(&id).map_err(|_| Error::Storage("bad document id".into()))?;
        if let Some((_, am)) = load_doc(tx, &id, &actor)? {
            project(tx, &doc::read(&am)?, reference)?;
        }
    }
    Ok(())
}

impl Store {
    /// Files a resident's request, offline. Checks every field (ID check digit, phone, the item's
    /// required attributes and their types, materials, grid), gives the request its receipt
    /// number, and stores it in one transaction. Nothing is stored if any check fails.
    pub fn file_request(&mut self, new: NewRequest) -> Result<RequestDetail> {
        let village = self.identity.area.clone();
        let resident_user = match self.identity.role {
            Role::Resident => Some(self.identity.user.clone()),
            _ => new.resident_user.clone().filter(|u| !u.trim().is_empty()),
        };
        let scope = RequestScope {
            village: &village,
            resident_user: resident_user.as_deref(),
        };
        authorize_request(&self.identity, scope, RequestOp::Create)?;
        let item = self.reference.catalog.require(&new.item_code)?.clone();
        validate_name(&new.applicant_name)?;
        let id_number = NationalId::parse(&new.id_number)?;
        let phone = Phone::parse(&new.phone)?;
        author::check_grid(&self.reference, &village, &new.grid)?;
        item.check_attributes(&new.attributes)?;
        let mut materials = BTreeSet::new();
        for m in &new.materials_received {
            item.check_material(m)?;
            materials.insert(m.clone());
        }
        let stamp = self.stamp();
        let mut events = Vec::new();
        if new.submit {
            let submit = Action::Submit;
            authorize_request(
                &self.identity,
                scope,
                RequestOp::Append(&submit, Status::Draft),
            )?;
            events.push(Event {
                id: EventId::new(),
                after: vec![],
                by: stamp.clone(),
                action: submit,
            });
        }

        let tx = self.write_tx()?;
        let counter: u64 = tx
            .query_row(
                "SELECT value FROM meta WHERE key = 'receipt_counter'",
                [],
                |r| r.get::<_, String>(0),
            )?
            .parse::<u64>()
            .map_err(|_| Error::Storage("receipt counter".into()))?
            + 1;
        tx.execute(
            "UPDATE meta SET value = ?1 WHERE key = 'receipt_counter'",
            [counter.to_string()],
        )?;
        let receipt_no = ReceiptNo::new(&village, self.device_no, counter);
        let d = RequestDoc {
            id: Uuid::new_v4(),
            receipt_no: receipt_no.to_string(),
            item_code: item.code.clone(),
            village,
            resident_user,
            created: stamp,
            level: item.level,
            time_limit_days: item.time_limit_days,
            name: new.applicant_name.trim().to_string(),
            id_number: id_number.expose().to_string(),
            phone: phone.expose().to_string(),
            grid: new.grid,
            attributes: new.attributes,
            materials,
            events,
            comments: vec![],
            edits: vec![],
            attachments: Some(vec![]),
            field_conflicts: vec![],
        };
        let mut am = self.new_doc();
        doc::create(&mut am, &d)?;
        save_doc(&tx, &d.id, DocKind::Request, &mut am, None)?;
        project(&tx, &d, &self.reference)?;
        mark_unsynced(&tx, &d.id)?;
        tx.commit()?;
        tracing::info!(request = %d.id, receipt = %d.receipt_no, "request filed");
        Ok(detail(d, &self.reference, (self.now)().china_date()))
    }

    /// Runs `f` on a request inside one transaction and stores what it wrote.
    pub(crate) fn change_request(
        &mut self,
        id: Uuid,
        f: impl FnOnce(&Author<'_>, &RequestDoc, &mut automerge::AutoCommit) -> Result<()>,
    ) -> Result<RequestDetail> {
        let tx = self.write_tx()?;
        let (kind, mut am) = load_doc(&tx, &id, &self.actor)?.ok_or_else(|| Error::NotFound {
            what: "request",
            id: id.to_string(),
        })?;
        if kind != DocKind::Request {
            return Err(Error::NotFound {
                what: "request",
                id: id.to_string(),
            });
        }
        let before = am.get_heads();
        let current = doc::read(&am)?;
        f(&self.author(), &current, &mut am)?;
        let updated = doc::read(&am)?;
        save_doc(&tx, &id, DocKind::Request, &mut am, Some(&before))?;
        project(&tx, &updated, &self.reference)?;
        mark_unsynced(&tx, &id)?;
        tx.commit()?;
        Ok(detail(updated, &self.reference, (self.now)().china_date()))
    }

    /// Appends a lifecycle event (accept, forward, approve, withdraw...) after checking the
    /// workflow and this identity's permission. Returns the request as it now stands.
    pub fn apply(&mut self, id: Uuid, action: Action) -> Result<RequestDetail> {
        self.change_request(id, |a, d, am| author::request_event(a, d, am, action))
    }

    /// Edits one field of a request, after checking the new value and the permission.
    pub fn edit(&mut self, id: Uuid, edit: FieldEdit) -> Result<RequestDetail> {
        self.change_request(id, |a, d, am| author::request_edit(a, d, am, &edit))
    }

    /// Adds a comment to a request.
    pub fn comment(&mut self, id: Uuid, text: &str) -> Result<RequestDetail> {
        author::text("comment", text, 2000)?;
        self.change_request(id, |a, d, am| author::request_comment(a, d, am, text))
    }

    /// A request with its full history, if this identity may read it.
    pub fn request(&self, id: Uuid) -> Result<RequestDetail> {
        let not_found = || Error::NotFound {
            what: "request",
            id: id.to_string(),
        };
        let (kind, am) = load_doc(&self.conn, &id, &self.actor)?.ok_or_else(not_found)?;
        if kind != DocKind::Request {
            return Err(not_found());
        }
        let d = doc::read(&am)?;
        authorize_request(&self.identity, scope(&d), RequestOp::Read)?;
        Ok(detail(d, &self.reference, (self.now)().china_date()))
    }

    /// The request with this receipt number, as a list row.
    pub fn find_by_receipt(&self, receipt_no: &str) -> Result<Option<RequestRow>> {
        let r = ReceiptNo::parse(receipt_no)?;
        let row = projection::request_row_by(&self.conn, "receipt_no", r.as_str())?;
        Ok(row.filter(|_| self.identity.role != Role::Resident || self.owns(r.as_str())))
    }

    fn owns(&self, receipt_no: &str) -> bool {
        self.conn
            .query_row(
                "SELECT 1 FROM requests WHERE receipt_no = ?1 AND resident_user = ?2",
                [receipt_no, self.identity.user.as_str()],
                |_| Ok(()),
            )
            .optional()
            .ok()
            .flatten()
            .is_some()
    }

    /// One page of requests, from the projection (no document is loaded). A resident's store
    /// lists only the resident's own requests.
    pub fn list_requests(
        &self,
        filter: &RequestFilter,
        sort: RequestSort,
        page: Page,
    ) -> Result<Listing<RequestRow>> {
        let resident = (self.identity.role == Role::Resident)
            .then_some(("resident_user", self.identity.user.as_str()));
        projection::list_requests(
            &self.conn,
            "requests",
            filter,
            sort,
            page,
            (self.now)().china_date(),
            &self.reference.calendar,
            resident,
        )
    }

    /// The projection row of a request (what lists show).
    pub fn request_row(&self, id: Uuid) -> Result<Option<RequestRow>> {
        projection::request_row_by(&self.conn, "id", &id.to_string())
    }

    /// Attribute values of a request, typed (a helper for forms).
    pub fn attributes(&self, id: Uuid) -> Result<BTreeMap<String, AttrValue>> {
        Ok(self.request(id)?.attributes)
    }
}
