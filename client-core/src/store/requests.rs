//! Service requests: filing, lifecycle events, edits, comments, reading and lists.

use bianmin_domain::{
    Action, AttrValue, Clock, ReceiptNo, RequestOp, RequestScope, Role, authorize_request, replay,
};
use rusqlite::{OptionalExtension, Transaction};
use std::collections::BTreeMap;
use uuid::Uuid;

use super::{Reference, Store, load_doc, mark_unsynced, save_doc};
use crate::model::{
    FieldEdit, Listing, NewRequest, Page, RequestDetail, RequestFilter, RequestRow, RequestSort,
};
use crate::projection;
use crate::{Error, Result};
use bianmin_document::Document;
use bianmin_document::author::{self, Author};
use bianmin_document::layout::DocKind;
use bianmin_document::layout::request::{self as doc, RequestDoc};
use bianmin_document::view::request_detail;

fn scope(d: &RequestDoc) -> RequestScope<'_> {
    RequestScope {
        village: &d.village,
        resident_user: d.resident_user.as_deref(),
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
        let receipt_no = ReceiptNo::new(&self.identity.area, self.device_no, counter);
        let d = author::new_request(&self.author(), &new, &receipt_no)?;
        tx.execute(
            "UPDATE meta SET value = ?1 WHERE key = 'receipt_counter'",
            [counter.to_string()],
        )?;
        let mut am = self.new_doc();
        doc::create(&mut am, &d)?;
        self.check_write(&tx, d.id, None, &mut am, &[])?;
        save_doc(&tx, &d.id, DocKind::Request, &mut am, None)?;
        project(&tx, &d, &self.reference)?;
        mark_unsynced(&tx, &d.id)?;
        tx.commit()?;
        tracing::info!(request = %d.id, receipt = %d.receipt_no, "request filed");
        Ok(request_detail(
            d,
            &self.reference,
            (self.now)().china_date(),
        ))
    }

    /// Runs `f` on a request inside one transaction and stores what it wrote, once the check
    /// accepted it.
    pub(crate) fn change_request(
        &mut self,
        id: Uuid,
        f: impl FnOnce(&Author<'_>, &RequestDoc, &mut automerge::AutoCommit) -> Result<()>,
    ) -> Result<RequestDetail> {
        self.change_request_then(id, f, || Ok(()))
    }

    /// [`Store::change_request`], running `accepted` after the check and before the commit
    /// (what must be durable before the change is: an attachment's bytes).
    pub(crate) fn change_request_then(
        &mut self,
        id: Uuid,
        f: impl FnOnce(&Author<'_>, &RequestDoc, &mut automerge::AutoCommit) -> Result<()>,
        accepted: impl FnOnce() -> Result<()>,
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
        let original = Document::from_automerge(am.clone())?;
        let current = doc::read(&am)?;
        f(&self.author(), &current, &mut am)?;
        self.check_write(&tx, id, Some(&original), &mut am, &before)?;
        accepted()?;
        let updated = doc::read(&am)?;
        save_doc(&tx, &id, DocKind::Request, &mut am, Some(&before))?;
        project(&tx, &updated, &self.reference)?;
        mark_unsynced(&tx, &id)?;
        tx.commit()?;
        Ok(request_detail(
            updated,
            &self.reference,
            (self.now)().china_date(),
        ))
    }

    /// Appends a lifecycle event (accept, forward, approve, withdraw...) after checking the
    /// workflow and this identity's permission. Returns the request as it now stands.
    pub fn apply(&mut self, id: Uuid, action: Action) -> Result<RequestDetail> {
        self.change_request(id, |a, d, am| Ok(author::request_event(a, d, am, action)?))
    }

    /// Edits one field of a request, after checking the new value and the permission.
    pub fn edit(&mut self, id: Uuid, edit: FieldEdit) -> Result<RequestDetail> {
        self.change_request(id, |a, d, am| Ok(author::request_edit(a, d, am, &edit)?))
    }

    /// Adds a comment to a request.
    pub fn comment(&mut self, id: Uuid, text: &str) -> Result<RequestDetail> {
        self.change_request(id, |a, d, am| Ok(author::request_comment(a, d, am, text)?))
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
        Ok(request_detail(
            d,
            &self.reference,
            (self.now)().china_date(),
        ))
    }

    /// The request with this receipt number, as a list row.
    pub fn find_by_receipt(&self, receipt_no: &str) -> Result<Option<RequestRow>> {
        let r = ReceiptNo::parse(receipt_no)?;
        let row = bianmin_document::sqlite::request_row_by(&self.conn, "receipt_no", r.as_str())?;
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
        Ok(bianmin_document::sqlite::list_requests(
            &self.conn,
            "requests",
            filter,
            sort,
            page,
            (self.now)().china_date(),
            &self.reference.calendar,
            resident,
        )?)
    }

    /// How many requests [`Store::list_requests`] lists with this filter over all its pages
    /// (one count over the projection; no row is read).
    pub fn count_requests(&self, filter: &RequestFilter) -> Result<u64> {
        let resident = (self.identity.role == Role::Resident)
            .then_some(("resident_user", self.identity.user.as_str()));
        Ok(bianmin_document::sqlite::count_requests(
            &self.conn,
            "requests",
            filter,
            (self.now)().china_date(),
            &self.reference.calendar,
            resident,
        )?)
    }

    /// The projection row of a request (what lists show).
    pub fn request_row(&self, id: Uuid) -> Result<Option<RequestRow>> {
        Ok(bianmin_document::sqlite::request_row_by(
            &self.conn,
            "id",
            &id.to_string(),
        )?)
    }

    /// Attribute values of a request, typed (a helper for forms).
    pub fn attributes(&self, id: Uuid) -> Result<BTreeMap<String, AttrValue>> {
        Ok(self.request(id)?.attributes)
    }
}
