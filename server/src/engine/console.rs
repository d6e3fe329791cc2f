//! What the web side of the hub asks of the engine: township users reading and acting in the
//! console (without a tablet), public notices, and the residents' status look-up.
//!
//! A console user's action is written into the document by the same authoring code a tablet
//! uses ([`Document::author`]), under an Automerge actor of the user's own (derived from the
//! user id; only the hub writes with it, one push at a time per document), then pushed through
//! the same check, group commit, audit and live notice as a device's push. The audit records
//! the device as [`CONSOLE_DEVICE`].

use axum::http::StatusCode;
use bianmin_document::Authoring;
use bianmin_document::Document;
use bianmin_document::model::{
    AgendaDetail, AgendaRow, Listing, Page, RequestDetail, RequestFilter, RequestRow, RequestSort,
};
use bianmin_domain::{
    Identity, NationalId, RequestOp, RequestScope, Role, Stage, Timestamp, authorize_agenda,
    authorize_request,
};
use bianmin_protocol::PushResult;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{Durability, Engine, documents, read_scope};
use crate::auth::AuthedDevice;
use crate::error::AppError;
use crate::storage::{
    AuditEntry, DeviceRecord, OverdueVillage, ReadScope, RequestStat, UserRecord,
};

/// The device recorded in the audit trail for what a user did in the console.
pub const CONSOLE_DEVICE: &str = "console";

/// The stages at which an agenda item is on public notice (and stays public after).
pub const PUBLIC_STAGES: [Stage; 3] = [Stage::ResolutionNotice, Stage::ResultsNotice, Stage::Done];

/// A console user's Automerge actor: derived from the user id, so it is the same across
/// sessions and restarts and differs from every device's (which are random).
pub fn console_actor(user_id: &str) -> String {
    let digest = Sha256::digest(format!("bianmin console actor\0{user_id}").as_bytes());
    hex::encode(&digest[..16])
}

/// The identity a console user acts with.
pub fn console_identity(user: &UserRecord) -> Identity {
    Identity {
        user: user.id.clone(),
        role: user.role,
        area: user.area.clone(),
        device: CONSOLE_DEVICE.to_string(),
    }
}

/// A request's page for a console user: the request and its audit trail (who sent each change,
/// from which device, when the hub received it).
#[derive(Debug, Clone)]
pub struct RequestPage {
    /// The request.
    pub detail: RequestDetail,
    /// Its audit trail.
    pub audit: Vec<AuditEntry>,
}

fn not_found(what: &str) -> AppError {
    AppError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no such {what} in your area"),
    )
}

/// A refusal of the one check, as the console shows it: the rule broken (422) or the
/// permission missing (403) like any form error; anything else is a conflict with what the
/// hub holds (409).
pub(super) fn refusal_error(code: &str, reason: String) -> AppError {
    match code {
        "invalid" => AppError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", reason),
        "forbidden" => AppError::new(StatusCode::FORBIDDEN, "forbidden", reason),
        _ => AppError::new(
            StatusCode::CONFLICT,
            "refused",
            format!("the hub refused the change ({code}): {reason}"),
        ),
    }
}

/// An error from authoring, as the console shows it.
pub(super) fn authoring_error(e: bianmin_document::Error) -> AppError {
    match e {
        bianmin_document::Error::Invalid { .. } => {
            AppError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", e.to_string())
        }
        bianmin_document::Error::Forbidden(_) => {
            AppError::new(StatusCode::FORBIDDEN, "forbidden", e.to_string())
        }
        bianmin_document::Error::NotFound { what, .. } => not_found(what),
        other => AppError::internal(other),
    }
}

impl Engine {
    fn console_scope(user: &UserRecord) -> Result<ReadScope, AppError> {
        match user.role {
            Role::Reviewer | Role::Administrator => Ok(read_scope(user.role, &user.id, &user.area)),
            _ => Err(AppError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "the console is for township reviewers and administrators",
            )),
        }
    }

    /// A page of the requests in the user's area (a reviewer's township, an administrator's
    /// county), filtered and sorted as on a tablet.
    pub fn console_requests(
        &self,
        user: &UserRecord,
        filter: &RequestFilter,
        sort: RequestSort,
        page: Page,
    ) -> Result<Listing<RequestRow>, AppError> {
        let scope = Self::console_scope(user)?;
        let reference = self.reference()?;
        let today = Timestamp::now().china_date();
        Ok(self
            .storage
            .requests(&scope, filter, sort, page, today, &reference.rules.calendar)?)
    }

    /// How many requests in the user's area `filter` lists, over all its pages.
    pub fn console_request_count(
        &self,
        user: &UserRecord,
        filter: &RequestFilter,
    ) -> Result<u64, AppError> {
        let scope = Self::console_scope(user)?;
        let reference = self.reference()?;
        let today = Timestamp::now().china_date();
        Ok(self
            .storage
            .count_requests(&scope, filter, today, &reference.rules.calendar)?)
    }

    /// The request ledger (台账) of the user's area with `filter`, in filing order: at most
    /// `max` rows (`has_more` when there are more).
    pub fn console_ledger(
        &self,
        user: &UserRecord,
        filter: &RequestFilter,
        max: usize,
    ) -> Result<Listing<RequestRow>, AppError> {
        let scope = Self::console_scope(user)?;
        let reference = self.reference()?;
        let today = Timestamp::now().china_date();
        Ok(self
            .storage
            .request_ledger(&scope, filter, today, &reference.rules.calendar, max)?)
    }

    /// The villages of the user's area with overdue requests today: how many, and the earliest
    /// deadline among them.
    pub fn console_overdue(&self, user: &UserRecord) -> Result<Vec<OverdueVillage>, AppError> {
        let scope = Self::console_scope(user)?;
        let today = Timestamp::now().china_date();
        Ok(self.storage.overdue_by_village(&scope, today)?)
    }

    /// The dashboard's counts for the user's area.
    pub fn console_stats(&self, user: &UserRecord) -> Result<Vec<RequestStat>, AppError> {
        let scope = Self::console_scope(user)?;
        Ok(self.storage.request_stats(&scope)?)
    }

    /// The agenda items of the user's area, at `stages` (all if empty).
    pub fn console_agenda_items(
        &self,
        user: &UserRecord,
        stages: &[Stage],
    ) -> Result<Vec<AgendaRow>, AppError> {
        let scope = Self::console_scope(user)?;
        Ok(self.storage.agenda_rows(&scope, stages)?)
    }

    /// The hub's copy of a document, read without keeping it out of the cache.
    fn read_document(&self, id: Uuid) -> Result<Option<Document>, AppError> {
        let taken = self.documents.take(id)?;
        Ok(taken.current().cloned())
    }

    /// A request's page, if it is in the user's area.
    pub fn console_request(&self, user: &UserRecord, id: Uuid) -> Result<RequestPage, AppError> {
        Self::console_scope(user)?;
        let reference = self.reference()?;
        let today = Timestamp::now().china_date();
        let detail = self
            .read_document(id)?
            .and_then(|d| d.request_detail(&reference.rules, today))
            .ok_or_else(|| not_found("request"))?;
        let identity = console_identity(user);
        let scope = RequestScope {
            village: &detail.village,
            resident_user: detail.resident_user.as_deref(),
        };
        authorize_request(&identity, scope, RequestOp::Read).map_err(|_| not_found("request"))?;
        let audit = self.storage.audit(id)?;
        Ok(RequestPage { detail, audit })
    }

    /// An agenda item, if it is in the user's area.
    pub fn console_agenda(&self, user: &UserRecord, id: Uuid) -> Result<AgendaDetail, AppError> {
        Self::console_scope(user)?;
        let detail = self
            .read_document(id)?
            .and_then(|d| d.agenda_detail())
            .ok_or_else(|| not_found("agenda item"))?;
        authorize_agenda(
            &console_identity(user),
            &detail.village,
            bianmin_domain::AgendaOp::Read,
        )
        .map_err(|_| not_found("agenda item"))?;
        Ok(detail)
    }

    /// Writes `what` into document `id` as `user` working in the console: checked, stored,
    /// audited and announced like a device's push. Answers once it is on disk. An action lost
    /// only because another hub process stored the document (or another of its group commit)
    /// first is written again on the stored document, up to three times more.
    pub fn console_act(
        &self,
        user: &UserRecord,
        id: Uuid,
        what: &Authoring,
    ) -> Result<(), AppError> {
        // A person waits on this answer and has no retry of their own, unlike a tablet.
        let mut again = 3;
        loop {
            let since = self.documents.generation();
            match self.console_act_once(user, id, what) {
                Err(e)
                    if again > 0
                        && e.code == documents::STORE_FAILED
                        && self.documents.raced_since(since) =>
                {
                    again -= 1;
                    tracing::info!(doc = %id, user = %user.id, "a console action lost a race with another hub process; writing it again");
                }
                done => return done,
            }
        }
    }

    /// [`Engine::console_act`] once: authored on the document as this process holds it now.
    fn console_act_once(
        &self,
        user: &UserRecord,
        id: Uuid,
        what: &Authoring,
    ) -> Result<(), AppError> {
        Self::console_scope(user)?;
        let reference = self.reference()?;
        let identity = console_identity(user);
        let actor = console_actor(&user.id);
        let current = self.read_document(id)?.ok_or_else(|| match what {
            Authoring::RequestEvent(_) | Authoring::RequestComment(_) => not_found("request"),
            _ => not_found("agenda item"),
        })?;
        let changes = current
            .author(&actor, &identity, Timestamp::now(), &reference.rules, what)
            .map_err(authoring_error)?;
        let who = AuthedDevice {
            device: DeviceRecord {
                id: CONSOLE_DEVICE.to_string(),
                device_no: 0,
                user_id: user.id.clone(),
                name: "console".to_string(),
                actor,
                enrolled_at: 0,
                revoked_at: None,
            },
            user: user.clone(),
            identity,
            // The console's own pseudo-device: no token.
            token_hash: String::new(),
        };
        let mut round = Durability::default();
        let result = self.push_one(&who, id, &changes, &reference.rules, &mut round)?;
        self.documents.wait(round)?;
        match result {
            PushResult::Accepted { .. } => {
                tracing::info!(doc = %id, user = %user.id, "console action stored");
                Ok(())
            }
            PushResult::Refused { code, reason, .. } => Err(refusal_error(&code, reason)),
        }
    }

    /// The agenda items of one village on public notice, with their records, for anyone.
    pub fn public_agenda(&self, village: &str) -> Result<Vec<AgendaDetail>, AppError> {
        let rows = self
            .storage
            .agenda_rows(&ReadScope::Village(village.to_string()), &PUBLIC_STAGES)?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            if let Some(d) = self.read_document(row.id)?.and_then(|d| d.agenda_detail()) {
                out.push(d);
            }
        }
        Ok(out)
    }

    /// A resident's look-up: the request with this receipt number, if the last four characters
    /// of its applicant's ID number are `id_last4` (case-insensitive). `None` for any mismatch,
    /// so a caller cannot tell a wrong receipt from a wrong ID.
    pub fn lookup_receipt(
        &self,
        receipt_no: &str,
        id_last4: &str,
    ) -> Result<Option<RequestDetail>, AppError> {
        let receipt_no = receipt_no.trim();
        let last4 = id_last4.trim().to_ascii_uppercase();
        let Some(village) = receipt_no.get(..12) else {
            return Ok(None);
        };
        if last4.chars().count() != 4 || !village.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(None);
        }
        let reference = self.reference()?;
        let today = Timestamp::now().china_date();
        let filter = RequestFilter {
            receipt_prefix: Some(receipt_no.to_string()),
            ..RequestFilter::default()
        };
        let rows = self.storage.requests(
            &ReadScope::Village(village.to_string()),
            &filter,
            RequestSort::ReceiptNo,
            Page {
                offset: 0,
                limit: 2,
            },
            today,
            &reference.rules.calendar,
        )?;
        let Some(row) = rows.rows.into_iter().find(|r| r.receipt_no == receipt_no) else {
            return Ok(None);
        };
        let Some(detail) = self
            .read_document(row.id)?
            .and_then(|d| d.request_detail(&reference.rules, today))
        else {
            return Ok(None);
        };
        let matches = NationalId::parse(&detail.applicant.id_number)
            .map(|id| id.expose().ends_with(&last4))
            .unwrap_or(false);
        Ok(matches.then_some(detail))
    }
}
