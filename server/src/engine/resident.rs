//! What a signed-in resident does on the hub's pages (`/resident`): file a request for
//! themselves with photos of its materials, read their own requests, supplement one that was
//! returned, withdraw one, rate one that is finished.
//!
//! Everything is written as a tablet writes it: by `bianmin_document`'s authoring
//! ([`Document::file_request`], [`Document::author_all`]) under an Automerge actor of the
//! resident's own ([`resident_actor`], derived from the user id like a console user's, with a
//! prefix of its own) and the resident's identity on the pseudo-device [`RESIDENT_DEVICE`],
//! then pushed through the one check, the group commit, the audit and the live notices exactly
//! as a device's push ([`Engine::push_one`]). What a resident may do is the domain's permission
//! table's answer ([`bianmin_domain::authorize_request`]), asked by that check: the hub gives a
//! resident nothing a tablet would not.
//!
//! # Receipt numbers
//!
//! A request filed here gets a receipt number of the hub's own series,
//! `<village>-000-<counter>` ([`ReceiptNo::hub`]): device number 0 is never given to a device
//! (enrolment numbers start at 1) and the check refuses a tablet's receipt that does not carry
//! its own device number, so the series can never collide with a tablet's. The counter is the
//! highest of the village's series claimed so far ([`crate::storage::Storage::last_receipt`])
//! plus one. Filings in this process take turns (`Engine::resident_filing`); a number another
//! hub process claimed first is refused by the check (`duplicate_receipt`) or, if both were
//! checked before either was stored, lost at the group commit's claim (a `Conflict`): either
//! way the filing is written again with the next number. A receipt in the hub's series is also
//! how every replica tells that the resident filed the request themselves
//! ([`bianmin_document::model::self_filed`]).
//!
//! # Photos
//!
//! Photos arrive already scaled and re-encoded (`crate::photos`). Their bytes are stored in the
//! hub's blob store only once the filing (or supplement) has passed the check once, so a
//! refused form stores nothing; then they are complete before the references to them are
//! pushed, as on a tablet. Should the push itself then fail (storage failing twice), the
//! stored photos stay unreferenced: content-addressed, complete, and harmless.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use bianmin_document::model::{NewRequest, RequestDetail};
use bianmin_document::{Authoring, Context, Decoded, Document, Reference, Refusal, check_push};
use bianmin_domain::{
    Action, AttrValue, EventId, HUB_SERIES_DEVICE, Identity, MediaType, Rating, ReceiptNo,
    RequestOp, RequestScope, Role, Timestamp, authorize_request, replay,
};
use bianmin_protocol::PushResult;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::console::{authoring_error, refusal_error};
use super::{Durability, Engine, HubEnv, documents};
use crate::auth::AuthedDevice;
use crate::blobs::{BlobError, BlobStore};
use crate::error::AppError;
use crate::storage::{DeviceRecord, UserRecord};

/// The device recorded in the audit trail (and in every entry's stamp) for what a resident did
/// on the hub's pages.
pub const RESIDENT_DEVICE: &str = "resident-web";

/// How many times a filing is written again when its receipt number was taken meanwhile.
pub(super) const FILING_ATTEMPTS: usize = 8;

/// A resident's Automerge actor on the hub: derived from the user id (the same across sessions
/// and restarts), with a prefix of its own so it differs from the user's console actor and
/// from every device's (which are random).
pub fn resident_actor(user_id: &str) -> String {
    let digest = Sha256::digest(format!("bianmin resident actor\0{user_id}").as_bytes());
    hex::encode(&digest[..16])
}

/// The identity a resident acts with on the hub's pages.
pub fn resident_identity(user: &UserRecord) -> Identity {
    Identity {
        user: user.id.clone(),
        role: user.role,
        area: user.area.clone(),
        device: RESIDENT_DEVICE.to_string(),
    }
}

/// A photo of one material, scaled and re-encoded as JPEG, not stored yet.
#[derive(Clone)]
pub struct Photo {
    /// The material it shows, as the service item names it.
    pub material: String,
    /// The JPEG bytes.
    pub jpeg: Vec<u8>,
}

impl std::fmt::Debug for Photo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Photo")
            .field("material", &self.material)
            .field("bytes", &self.jpeg.len())
            .finish()
    }
}

impl Photo {
    fn sha256(&self) -> String {
        hex::encode(Sha256::digest(&self.jpeg))
    }

    /// The reference to it, as the document holds it.
    fn reference(&self) -> Authoring {
        Authoring::RequestAttachment {
            sha256: self.sha256(),
            media_type: MediaType::Jpeg,
            size: self.jpeg.len() as u64,
            material: self.material.clone(),
        }
    }
}

/// What a resident fills in to file a request for themselves. The applicant is the resident:
/// the name is their account's, the request belongs to their account, whatever a form says.
#[derive(Clone)]
pub struct ResidentFiling {
    /// The service item.
    pub item_code: String,
    /// The resident's national ID number, as typed.
    pub id_number: String,
    /// Their phone number, as typed.
    pub phone: String,
    /// Their grid (villager group).
    pub grid: String,
    /// The item's form.
    pub attributes: BTreeMap<String, AttrValue>,
    /// Photos of the materials.
    pub photos: Vec<Photo>,
}

impl std::fmt::Debug for ResidentFiling {
    // Never the ID number or the phone.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResidentFiling")
            .field("item_code", &self.item_code)
            .field("photos", &self.photos)
            .finish_non_exhaustive()
    }
}

/// What a resident does to one of their requests.
#[derive(Debug, Clone)]
pub enum ResidentAction {
    /// Hand in the materials a return asked for, with a photo of each (补正).
    Supplement {
        /// The photos (at least one per material asked for).
        photos: Vec<Photo>,
    },
    /// Withdraw the request (撤回).
    Withdraw {
        /// Why, if they say.
        reason: String,
    },
    /// Rate the service (好差评).
    Rate {
        /// The rating.
        rating: Rating,
        /// Their words, if any.
        comment: String,
    },
}

/// A request a resident filed.
#[derive(Debug, Clone)]
pub struct Filed {
    /// Its id.
    pub id: Uuid,
    /// Its receipt number, of the hub's series.
    pub receipt_no: ReceiptNo,
    /// It was filed before, by an earlier sending of the same form (the same submission key):
    /// nothing was filed now.
    pub already: bool,
}

/// The id of the request filed by the resident `user_id` with the form whose submission key is
/// `key`: the same form sent twice names the same document, and a document is stored once.
///
/// A name-based UUID (RFC 9562's version 8 with SHA-256, the way its appendix shows): the
/// first 16 bytes of the SHA-256 of both, with the version and variant bits set. The user id
/// is part of the name, so one resident's key can never name another's request.
pub fn resident_filing_id(user_id: &str, key: &str) -> Uuid {
    uuid::Builder::from_custom_bytes(name_bytes("filing", &[user_id, key])).into_uuid()
}

/// The id of the supplement event written by the resident `user_id` into their request
/// `request` with the form whose submission key is `key` (see [`resident_filing_id`]).
pub fn resident_supplement_id(user_id: &str, request: Uuid, key: &str) -> EventId {
    let request = request.to_string();
    EventId(
        uuid::Builder::from_custom_bytes(name_bytes("supplement", &[user_id, &request, key]))
            .into_uuid(),
    )
}

/// The first 16 bytes of the SHA-256 of `what` and `parts`, each ended by a NUL (none of them
/// holds one: user ids, UUIDs and submission keys are printable).
fn name_bytes(what: &str, parts: &[&str]) -> [u8; 16] {
    let mut hash = Sha256::new();
    hash.update(b"bianmin resident ");
    hash.update(what.as_bytes());
    for p in parts {
        hash.update([0]);
        hash.update(p.as_bytes());
    }
    let digest = hash.finalize();
    let mut out = [0u8; 16];
    out.copy_from_slice(&digest[..16]);
    out
}

/// One of a resident's own requests, with what they may do to it now.
#[derive(Debug, Clone)]
pub struct ResidentRequest {
    /// The request.
    pub detail: RequestDetail,
    /// It was returned and waits for the materials listed (补正).
    pub may_supplement: bool,
    /// It may still be withdrawn.
    pub may_withdraw: bool,
    /// It is finished and may be rated.
    pub may_rate: bool,
}

fn not_found() -> AppError {
    AppError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such request of yours",
    )
}

fn not_a_resident() -> AppError {
    AppError::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        "these pages are for residents",
    )
}

fn blob_error(e: BlobError) -> AppError {
    AppError::internal(format!("storing a resident's photo: {e}"))
}

/// Stores `bytes` under their SHA-256 `sha256`, complete (kept once if already there). A
/// partial upload of the same address under way (a tablet's) is continued if it holds a prefix
/// of these bytes, else discarded by the hash check and written anew.
fn store_blob(blobs: &dyn BlobStore, sha256: &str, bytes: &[u8]) -> Result<(), AppError> {
    for _ in 0..3 {
        if blobs.is_complete(sha256).map_err(blob_error)? {
            return Ok(());
        }
        let held = usize::try_from(blobs.received(sha256).map_err(blob_error)?)
            .unwrap_or(usize::MAX)
            .min(bytes.len());
        if held < bytes.len() {
            match blobs.append(sha256, held as u64, &bytes[held..]) {
                Ok(_) => {}
                // Another upload of the same bytes moved on meanwhile: look again.
                Err(BlobError::OffsetMismatch { .. }) => continue,
                Err(e) => return Err(blob_error(e)),
            }
        }
        match blobs.finish(sha256) {
            Ok(()) => return Ok(()),
            // The partial was not a prefix of these bytes: discarded; write them anew.
            Err(BlobError::HashMismatch { .. }) => continue,
            Err(e) => return Err(blob_error(e)),
        }
    }
    Err(AppError::internal(
        "a resident's photo could not be stored: the blob store kept changing",
    ))
}

/// Stores every photo (see [`store_blob`]).
fn store_photos(blobs: Option<&dyn BlobStore>, photos: &[Photo]) -> Result<(), AppError> {
    if photos.is_empty() {
        return Ok(());
    }
    let Some(blobs) = blobs else {
        return Err(AppError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no_blob_store",
            "this hub keeps no attachments",
        ));
    };
    for p in photos {
        store_blob(blobs, &p.sha256(), &p.jpeg)?;
    }
    Ok(())
}

/// The pseudo-device a resident's writes on the hub are pushed from: the hub series' device
/// number, so the check holds a new request to a receipt of the hub's series.
fn resident_device(user: &UserRecord) -> AuthedDevice {
    AuthedDevice {
        device: DeviceRecord {
            id: RESIDENT_DEVICE.to_string(),
            device_no: HUB_SERIES_DEVICE,
            user_id: user.id.clone(),
            name: "resident pages".to_string(),
            actor: resident_actor(&user.id),
            enrolled_at: 0,
            revoked_at: None,
        },
        user: user.clone(),
        identity: resident_identity(user),
        // A pseudo-device of the hub's own: no token.
        token_hash: String::new(),
    }
}

/// What became of one push of a resident's.
pub(super) enum Pushed {
    Stored,
    /// The receipt number was taken meanwhile, or another hub process stored the document
    /// first: write it again.
    Again,
}

/// What writes a new request with the receipt number it is given: the document's id and its
/// changes (see [`Engine::file_in_hub_series`]).
pub(super) type Authored<'a> = dyn Fn(&ReceiptNo) -> Result<(Uuid, Vec<Vec<u8>>), AppError> + 'a;

/// Where [`Engine::file_in_hub_series`] files: as `who` (a pseudo-device of the hub's series)
/// in `village`'s series, checked with `rules`; under the id `keyed` when the filing must be
/// stored once only (a resident's form with its submission key).
pub(super) struct Series<'a> {
    pub(super) who: &'a AuthedDevice,
    pub(super) village: &'a str,
    pub(super) rules: &'a Reference,
    pub(super) keyed: Option<Uuid>,
}

/// How [`Engine::file_in_hub_series`] ended.
pub(super) enum InSeries {
    /// Stored now, with this id and receipt number.
    Stored(Uuid, ReceiptNo),
    /// Stored before (the same form sent again, or by another hub process meanwhile) under
    /// this id: nothing stored now.
    Before(Uuid),
}

impl Engine {
    fn resident_only(user: &UserRecord) -> Result<(), AppError> {
        match user.role {
            Role::Resident => Ok(()),
            _ => Err(not_a_resident()),
        }
    }

    /// The hub's copy of a request of `user`'s, or 404 (for a request that does not exist and
    /// for anyone else's alike).
    fn own_request(&self, user: &UserRecord, id: Uuid) -> Result<Document, AppError> {
        Self::resident_only(user)?;
        let doc = self
            .documents
            .take(id)?
            .current()
            .cloned()
            .ok_or_else(not_found)?;
        let meta = doc.meta();
        let scope = RequestScope {
            village: &meta.village,
            resident_user: meta.resident_user.as_deref(),
        };
        if doc.request_status().is_none()
            || authorize_request(&resident_identity(user), scope, RequestOp::Read).is_err()
        {
            return Err(not_found());
        }
        Ok(doc)
    }

    /// One of `user`'s own requests, with what they may do to it now (each the workflow's and
    /// the permission table's answer); 404 for anyone else's.
    pub fn resident_request(
        &self,
        user: &UserRecord,
        id: Uuid,
    ) -> Result<ResidentRequest, AppError> {
        let doc = self.own_request(user, id)?;
        let reference = self.reference()?;
        let today = Timestamp::now().china_date();
        let detail = doc
            .request_detail(&reference.rules, today)
            .ok_or_else(not_found)?;
        let Decoded::Request(r) = doc.decoded() else {
            return Err(not_found());
        };
        let derived = replay(&r.events, r.level);
        let identity = resident_identity(user);
        let scope = RequestScope {
            village: &r.village,
            resident_user: r.resident_user.as_deref(),
        };
        let may = |action: &Action| {
            derived.check(action, r.level).is_ok()
                && authorize_request(&identity, scope, RequestOp::Append(action, derived.status))
                    .is_ok()
        };
        let may_supplement = may(&Action::Supplement {
            provided: derived.missing.clone(),
        }) && authorize_request(
            &identity,
            scope,
            RequestOp::Edit(bianmin_domain::Field::Materials, derived.status),
        )
        .is_ok();
        let may_withdraw = may(&Action::Withdraw {
            reason: String::new(),
        });
        let may_rate = detail.rating.is_none()
            && may(&Action::Rate {
                rating: Rating::Satisfied,
                comment: String::new(),
            });
        Ok(ResidentRequest {
            detail,
            may_supplement,
            may_withdraw,
            may_rate,
        })
    }

    /// Checks `changes` to document `id` as `who` would push them, storing nothing: so that a
    /// form the rules refuse stores no photo either.
    pub(super) fn check_only(
        &self,
        who: &AuthedDevice,
        id: Uuid,
        changes: &[Vec<u8>],
        rules: &bianmin_document::Reference,
    ) -> Result<Result<(), Refusal>, AppError> {
        let taken = self.documents.take(id)?;
        let env = HubEnv {
            storage: self.storage.as_ref(),
            documents: &self.documents,
        };
        let ctx = Context {
            sender: &who.identity,
            device_no: Some(who.device.device_no),
            reference: rules,
            now: Timestamp::now(),
            env: &env,
        };
        Ok(check_push(taken.current(), id, changes, &who.device.actor, &ctx).map(|_| ()))
    }

    /// Pushes `changes` as `who` and waits until they are stored.
    pub(super) fn push_resident(
        &self,
        who: &AuthedDevice,
        id: Uuid,
        changes: &[Vec<u8>],
        rules: &bianmin_document::Reference,
    ) -> Result<Pushed, AppError> {
        let since = self.documents.generation();
        let mut round = Durability::default();
        let pushed = self
            .push_one(who, id, changes, rules, &mut round)
            .and_then(|result| self.documents.wait(round).map(|()| result));
        match pushed {
            Ok(PushResult::Accepted { .. }) => Ok(Pushed::Stored),
            Ok(PushResult::Refused { code, .. }) if code == "duplicate_receipt" => {
                Ok(Pushed::Again)
            }
            Ok(PushResult::Refused { code, reason, .. }) => Err(refusal_error(&code, reason)),
            Err(e) if e.code == documents::STORE_FAILED && self.documents.raced_since(since) => {
                Ok(Pushed::Again)
            }
            Err(e) => Err(e),
        }
    }

    /// The next receipt number of the hub's series in `village`.
    pub(super) fn next_hub_receipt(&self, village: &str) -> Result<ReceiptNo, AppError> {
        let prefix = format!("{village}-{HUB_SERIES_DEVICE:03}-");
        let last = self
            .storage
            .last_receipt(&prefix)?
            .and_then(|r| ReceiptNo::parse(&r).ok())
            .and_then(|r| r.counter())
            .unwrap_or(0);
        Ok(ReceiptNo::hub(village, last + 1))
    }

    /// Files a request for the signed-in resident `user` with the photos of its materials:
    /// written and checked as a tablet's filing (the item's required attributes, the ID number's
    /// check digit, the phone, the grid, each photo's material), numbered in the hub's receipt
    /// series (see the module docs). The photos are stored once the filing passes the check;
    /// answers once the request is stored. A refusal names the rule broken (422).
    pub fn resident_file(
        &self,
        user: &UserRecord,
        filing: &ResidentFiling,
        blobs: Option<&dyn BlobStore>,
    ) -> Result<Filed, AppError> {
        self.resident_file_once(user, filing, None, blobs)
    }

    /// The request `user` filed with the form whose submission key is `key`, if it is stored
    /// (see [`Engine::resident_file_once`]).
    pub fn resident_filed(&self, user: &UserRecord, key: &str) -> Result<Option<Filed>, AppError> {
        Self::resident_only(user)?;
        self.filed_as(user, resident_filing_id(&user.id, key))
    }

    /// The stored request `id` filed by `user` (by an earlier sending of a form), if stored.
    fn filed_as(&self, user: &UserRecord, id: Uuid) -> Result<Option<Filed>, AppError> {
        let Some(doc) = self.documents.take(id)?.current().cloned() else {
            return Ok(None);
        };
        let taken = || {
            AppError::new(
                StatusCode::CONFLICT,
                "submission_taken",
                "this form's submission key names another document: reload the form",
            )
        };
        let Decoded::Request(r) = doc.decoded() else {
            return Err(taken());
        };
        if r.resident_user.as_deref() != Some(user.id.as_str()) {
            return Err(taken());
        }
        let receipt_no = ReceiptNo::parse(&r.receipt_no)
            .map_err(|_| AppError::internal("a stored request's receipt number does not parse"))?;
        Ok(Some(Filed {
            id,
            receipt_no,
            already: true,
        }))
    }

    /// [`Engine::resident_file`], exactly once per `key` (the form's submission key) when
    /// there is one: the request's id is derived from the resident and the key
    /// (`resident_filing_id`), and a request of that id already stored is the answer
    /// ([`Filed::already`]) instead of a second filing. Two sendings of one form at once, in
    /// this process or in two hub processes sharing the storage, store one document: the group
    /// commit stores a document checked as new only if none of its id is stored
    /// (`Storage::commit_checked`), and the one that loses finds the other's here.
    pub fn resident_file_once(
        &self,
        user: &UserRecord,
        filing: &ResidentFiling,
        key: Option<&str>,
        blobs: Option<&dyn BlobStore>,
    ) -> Result<Filed, AppError> {
        Self::resident_only(user)?;
        let reference = self.reference()?;
        let who = resident_device(user);
        let new = NewRequest {
            item_code: filing.item_code.clone(),
            applicant_name: user.display_name.clone(),
            id_number: filing.id_number.clone(),
            phone: filing.phone.clone(),
            grid: filing.grid.clone(),
            attributes: filing.attributes.clone(),
            // Photos are not the materials in hand: the clerk marks those on receipt.
            materials_received: Vec::new(),
            resident_user: Some(user.id.clone()),
            submit: true,
        };
        let photos: Vec<Authoring> = filing.photos.iter().map(Photo::reference).collect();
        let keyed = key.map(|k| resident_filing_id(&user.id, k));
        let author = |receipt_no: &ReceiptNo| {
            Document::file_request_with_id(
                keyed.unwrap_or_else(Uuid::new_v4),
                &who.device.actor,
                &who.identity,
                Timestamp::now(),
                &reference.rules,
                &new,
                receipt_no,
                &photos,
            )
            .map_err(authoring_error)
        };
        let series = Series {
            who: &who,
            village: &user.area,
            rules: &reference.rules,
            keyed,
        };
        // Filed before by this form, now or after losing a race: that is the answer.
        let stored_before = |id: Uuid| Ok(self.filed_as(user, id)?.is_some());
        let store = &mut || store_photos(blobs, &filing.photos);
        match self.file_in_hub_series(&series, &author, &stored_before, store)? {
            InSeries::Stored(id, receipt_no) => {
                tracing::info!(doc = %id, user = %user.id, receipt = %receipt_no, photos = filing.photos.len(), "a resident filed a request");
                Ok(Filed {
                    id,
                    receipt_no,
                    already: false,
                })
            }
            InSeries::Before(id) => {
                tracing::info!(doc = %id, user = %user.id, "a resident's form arrived again: filed before, nothing filed now");
                self.filed_as(user, id)?
                    .ok_or_else(|| AppError::internal("a filing found stored is gone"))
            }
        }
    }

    /// Files a new request in the hub's receipt series of `series.village` as `series.who`.
    /// `author` writes the request with the receipt number it is given; the changes are
    /// checked without being stored first, then `before_push` runs (once, however often the
    /// filing is written again: for what may be stored only once the filing passed the check,
    /// as a resident's photos are), then they are pushed and stored. The number is the highest
    /// of the village's series claimed so far plus one; filings in this process take turns,
    /// and a number another hub process claimed meanwhile is refused by the check
    /// (`duplicate_receipt`) or lost at the group commit's claim, after which the request is
    /// written again with the next number. With `series.keyed`, a request `stored_before`
    /// finds under an id (before an attempt, or after one was refused or failed because
    /// another sending stored it first) is the answer instead. A refusal names the rule broken.
    pub(super) fn file_in_hub_series(
        &self,
        series: &Series<'_>,
        author: &Authored<'_>,
        stored_before: &dyn Fn(Uuid) -> Result<bool, AppError>,
        before_push: &mut dyn FnMut() -> Result<(), AppError>,
    ) -> Result<InSeries, AppError> {
        let Series {
            who,
            village,
            rules,
            keyed,
        } = *series;
        // One filing at a time in this process: each reads the series' last number after the
        // one before it is stored.
        let _turn = self
            .resident_filing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut ready = false;
        for _ in 0..FILING_ATTEMPTS {
            if let Some(id) = keyed
                && stored_before(id)?
            {
                return Ok(InSeries::Before(id));
            }
            let receipt_no = self.next_hub_receipt(village)?;
            let (id, changes) = author(&receipt_no)?;
            match self.check_only(who, id, &changes, rules)? {
                Ok(()) => {}
                Err(r) if r.code == "duplicate_receipt" => continue,
                // Stored meanwhile by another hub process: checked against it, refused.
                Err(_) if keyed.is_some() && stored_before(id)? => return Ok(InSeries::Before(id)),
                Err(r) => return Err(refusal_error(r.code, r.reason)),
            }
            if !ready {
                before_push()?;
                ready = true;
            }
            match self.push_resident(who, id, &changes, rules) {
                Ok(Pushed::Stored) => return Ok(InSeries::Stored(id, receipt_no)),
                Ok(Pushed::Again) => {
                    tracing::info!(user = %who.identity.user, receipt = %receipt_no, "a receipt number of the hub's series was taken meanwhile; filing again with the next");
                }
                Err(_) if keyed.is_some() && stored_before(id)? => return Ok(InSeries::Before(id)),
                Err(e) => return Err(e),
            }
        }
        Err(AppError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            "the hub is filing many requests at once; try again in a moment",
        ))
    }

    /// Writes `what` into `user`'s own request `id` (404 for anyone else's): checked, stored,
    /// audited and announced like a device's push. Photos of a supplement are stored once the
    /// supplement passes the check. An action lost only because another hub process stored the
    /// request first is written again on the stored request, up to three times more.
    pub fn resident_act(
        &self,
        user: &UserRecord,
        id: Uuid,
        what: &ResidentAction,
        blobs: Option<&dyn BlobStore>,
    ) -> Result<(), AppError> {
        self.resident_act_once(user, id, what, None, blobs)
            .map(|_| ())
    }

    /// Whether `user`'s request `id` holds the supplement sent with the form whose submission
    /// key is `key` (see [`Engine::resident_act_once`]); 404 for anyone else's request.
    pub fn resident_supplemented(
        &self,
        user: &UserRecord,
        id: Uuid,
        key: &str,
    ) -> Result<bool, AppError> {
        let current = self.own_request(user, id)?;
        Ok(holds_event(
            &current,
            resident_supplement_id(&user.id, id, key),
        ))
    }

    /// [`Engine::resident_act`]; a supplement exactly once per `key` (the form's submission
    /// key) when there is one: its event's id is derived from the resident, the request and
    /// the key (`resident_supplement_id`), and a request that holds that event already
    /// answers `true` (written before, by an earlier sending of the same form: nothing was
    /// written now) instead of a second supplement; `false` when written now. A log never holds one event
    /// id twice (the authoring refuses it), so two sendings at once write one supplement; the
    /// later, checked against the earlier, is refused by the workflow and finds it here.
    pub fn resident_act_once(
        &self,
        user: &UserRecord,
        id: Uuid,
        what: &ResidentAction,
        key: Option<&str>,
        blobs: Option<&dyn BlobStore>,
    ) -> Result<bool, AppError> {
        let reference = self.reference()?;
        let who = resident_device(user);
        let event = match (what, key) {
            (ResidentAction::Supplement { .. }, Some(key)) => {
                Some(resident_supplement_id(&user.id, id, key))
            }
            _ => None,
        };
        let done_before = |event: Option<EventId>| -> Result<bool, AppError> {
            let Some(event) = event else {
                return Ok(false);
            };
            let before = holds_event(&self.own_request(user, id)?, event);
            if before {
                tracing::info!(doc = %id, user = %user.id, "a resident's supplement arrived again: written before, nothing written now");
            }
            Ok(before)
        };
        let mut photos_stored = false;
        for _ in 0..4 {
            let current = self.own_request(user, id)?;
            if let Some(event) = event
                && holds_event(&current, event)
            {
                tracing::info!(doc = %id, user = %user.id, "a resident's supplement arrived again: written before, nothing written now");
                return Ok(true);
            }
            let (writes, photos): (Vec<Authoring>, &[Photo]) = match what {
                ResidentAction::Supplement { photos } => {
                    let Decoded::Request(r) = current.decoded() else {
                        return Err(not_found());
                    };
                    // Everything asked for, as the return listed it.
                    let provided = replay(&r.events, r.level).missing;
                    let mut writes: Vec<Authoring> = photos.iter().map(Photo::reference).collect();
                    let action = Action::Supplement { provided };
                    writes.push(match event {
                        Some(id) => Authoring::RequestEventWithId { id, action },
                        None => Authoring::RequestEvent(action),
                    });
                    (writes, photos)
                }
                ResidentAction::Withdraw { reason } => (
                    vec![Authoring::RequestEvent(Action::Withdraw {
                        reason: reason.trim().to_string(),
                    })],
                    &[],
                ),
                ResidentAction::Rate { rating, comment } => (
                    vec![Authoring::RequestEvent(Action::Rate {
                        rating: *rating,
                        comment: comment.trim().to_string(),
                    })],
                    &[],
                ),
            };
            let changes = current
                .author_all(
                    &who.device.actor,
                    &who.identity,
                    Timestamp::now(),
                    &reference.rules,
                    &writes,
                )
                .map_err(authoring_error)?;
            if !photos.is_empty() && !photos_stored {
                if let Err(r) = self.check_only(&who, id, &changes, &reference.rules)? {
                    if done_before(event)? {
                        return Ok(true);
                    }
                    return Err(refusal_error(r.code, r.reason));
                }
                store_photos(blobs, photos)?;
                photos_stored = true;
            }
            match self.push_resident(&who, id, &changes, &reference.rules) {
                Ok(Pushed::Stored) => {
                    tracing::info!(doc = %id, user = %user.id, "a resident's action stored");
                    return Ok(false);
                }
                Ok(Pushed::Again) => {
                    tracing::info!(doc = %id, user = %user.id, "a resident's action lost a race with another hub process; writing it again");
                }
                Err(e) => {
                    if done_before(event)? {
                        return Ok(true);
                    }
                    return Err(e);
                }
            }
        }
        Err(AppError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            "the request keeps changing; try again in a moment",
        ))
    }
}

/// Whether the request `doc` holds the event `event`.
fn holds_event(doc: &Document, event: EventId) -> bool {
    match doc.decoded() {
        Decoded::Request(r) => r.events.iter().any(|e| e.id == event),
        Decoded::Agenda(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forms_ids_are_derived_from_who_sent_it_and_its_key() {
        let a = resident_filing_id("user-1", "k1");
        assert_eq!(
            a,
            resident_filing_id("user-1", "k1"),
            "the same form, the same id"
        );
        assert_ne!(a, resident_filing_id("user-2", "k1"), "another resident's");
        assert_ne!(a, resident_filing_id("user-1", "k2"), "another form");
        assert_eq!(a.get_version_num(), 8);
        assert_eq!(a.get_variant(), uuid::Variant::RFC4122);
        let r = Uuid::from_u128(5);
        let e = resident_supplement_id("user-1", r, "k1");
        assert_eq!(e, resident_supplement_id("user-1", r, "k1"));
        assert_ne!(
            e,
            resident_supplement_id("user-1", Uuid::from_u128(6), "k1")
        );
        assert_ne!(e.0, a, "a supplement's and a filing's ids differ");
        // The parts cannot run into each other.
        assert_ne!(
            resident_filing_id("user-1", "2k"),
            resident_filing_id("user-12", "k")
        );
    }

    #[test]
    fn a_residents_actor_is_its_own() {
        let a = resident_actor("user-1");
        assert_eq!(a, resident_actor("user-1"), "stable");
        assert_eq!(a.len(), 32);
        assert_ne!(a, resident_actor("user-2"));
        assert_ne!(
            a,
            super::super::console_actor("user-1"),
            "not the console's"
        );
    }
}
