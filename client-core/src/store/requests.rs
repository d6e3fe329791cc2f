//! Service requests: filing, lifecycle events, edits, comments, reading and lists.

use bianmin_domain::{
    Action, AttrValue, Clock, Event, EventId, Field, NationalId, Phone, ReceiptNo, RequestOp,
    RequestScope, Role, Status, authorize_request, replay, validate_name,
};
use rusqlite::{OptionalExtension, Transaction};
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

use super::{Reference, Store, load_doc, mark_unsynced, save_doc};
use crate::document::DocKind;
use crate::document::request::{self as doc, Comment, EditRecord, Put, RequestDoc};
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
        self.check_grid(&village, &new.grid)?;
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

    fn check_grid(&self, village: &str, grid: &str) -> Result<()> {
        let known = self.reference.directory.village(village).map(|v| &v.grids);
        match known {
            Some(grids) if !grids.is_empty() && !grids.iter().any(|g| g == grid) => {
                Err(Error::Invalid {
                    field: "grid".into(),
                    rule: format!("must be one of the village's grids: {}", grids.join(", ")),
                })
            }
            _ if grid.trim().is_empty() => Err(Error::Invalid {
                field: "grid".into(),
                rule: "is required".into(),
            }),
            _ => Ok(()),
        }
    }

    /// Runs `f` on a request inside one transaction and stores what it wrote.
    fn change_request(
        &mut self,
        id: Uuid,
        f: impl FnOnce(&Store, &RequestDoc, &mut automerge::AutoCommit) -> Result<()>,
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
        f(self, &current, &mut am)?;
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
        self.change_request(id, |store, d, am| {
            let derived = replay(&d.events, d.level);
            authorize_request(
                &store.identity,
                scope(d),
                RequestOp::Append(&action, derived.status),
            )?;
            derived.check(&action, d.level)?;
            let event = Event {
                id: EventId::new(),
                after: super::log_tips(d.events.iter().map(|e| (e.id, e.after.as_slice()))),
                by: store.stamp(),
                action,
            };
            crate::document::append_log(am, "events", &event)?;
            tracing::info!(request = %d.id, kind = event.action.kind(), "event appended");
            Ok(())
        })
    }

    /// Edits one field of a request, after checking the new value and the permission.
    pub fn edit(&mut self, id: Uuid, edit: FieldEdit) -> Result<RequestDetail> {
        self.change_request(id, |store, d, am| {
            let status = replay(&d.events, d.level).status;
            let item = store.reference.catalog.require(&d.item_code)?;
            let (field, put): (Field, Put<'_>) = match &edit {
                FieldEdit::ApplicantName(n) => {
                    validate_name(n)?;
                    (Field::Applicant, Put::Field("name", n.trim()))
                }
                FieldEdit::IdNumber(raw) => {
                    NationalId::parse(raw)?;
                    (Field::Applicant, Put::Field("id_number", raw.trim()))
                }
                FieldEdit::Phone(raw) => {
                    Phone::parse(raw)?;
                    (Field::Applicant, Put::Field("phone", raw.trim()))
                }
                FieldEdit::Grid(g) => {
                    store.check_grid(&d.village, g)?;
                    (Field::Grid, Put::Field("grid", g.as_str()))
                }
                FieldEdit::Attribute { code, value } => {
                    let spec = item.attribute(code).ok_or_else(|| Error::Invalid {
                        field: format!("attributes.{code}"),
                        rule: format!("is not an attribute of service item {}", item.code),
                    })?;
                    match value {
                        Some(v) => spec.check(v)?,
                        None if spec.required => {
                            return Err(Error::Invalid {
                                field: format!("attributes.{code}"),
                                rule: "is required and cannot be cleared".into(),
                            });
                        }
                        None => {}
                    }
                    (Field::Attribute, Put::Attribute(code, value.as_ref()))
                }
                FieldEdit::Material { name, received } => {
                    item.check_material(name)?;
                    (Field::Materials, Put::Material(name, *received))
                }
            };
            authorize_request(&store.identity, scope(d), RequestOp::Edit(field, status))?;
            // Normalise ID and phone as stored (upper-case X, digits only).
            let normalised;
            let put = match put {
                Put::Field("id_number", raw) => {
                    normalised = NationalId::parse(raw)?.expose().to_string();
                    Put::Field("id_number", &normalised)
                }
                Put::Field("phone", raw) => {
                    normalised = Phone::parse(raw)?.expose().to_string();
                    Put::Field("phone", &normalised)
                }
                other => other,
            };
            let field_name = match &put {
                Put::Field(k, _) => (*k).to_string(),
                Put::Attribute(code, _) => format!("attributes.{code}"),
                Put::Material(name, _) => format!("materials.{name}"),
            };
            doc::put(
                am,
                &put,
                &EditRecord {
                    by: store.stamp(),
                    field: field_name,
                },
            )?;
            Ok(())
        })
    }

    /// Adds a comment to a request.
    pub fn comment(&mut self, id: Uuid, text: &str) -> Result<RequestDetail> {
        let text = text.trim().to_string();
        if text.is_empty() || text.chars().count() > 2000 {
            return Err(Error::Invalid {
                field: "comment".into(),
                rule: "must be 1 to 2000 characters".into(),
            });
        }
        self.change_request(id, |store, d, am| {
            authorize_request(&store.identity, scope(d), RequestOp::Comment)?;
            let c = Comment {
                id: Uuid::new_v4(),
                by: store.stamp(),
                text,
            };
            crate::document::append_log(am, "comments", &c)?;
            Ok(())
        })
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
        let resident =
            (self.identity.role == Role::Resident).then_some(self.identity.user.as_str());
        projection::list_requests(
            &self.conn,
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
