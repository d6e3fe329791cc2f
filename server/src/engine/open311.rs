//! What a registered application does through the Open311 GeoReport v2 API (`POST requests`,
//! `crate::web::open311::post`): file a request for a person in a village of its API key's
//! township.
//!
//! # Who files
//!
//! The request is written exactly as a resident's own filing on the resident pages
//! (`super::resident`): by `bianmin_document`'s authoring ([`Document::file_request`]), checked
//! by the one `check_push` with the hub's environment, stored by the group commit with its audit
//! record and live notice, and numbered in the village's hub receipt series
//! (`Engine::file_in_hub_series` of `super::resident`, with the resident pages' lock, receipt counter, dry-run
//! check and push: the two series of filings take turns and never share a number).
//!
//! The author is a pseudo-identity of the application *in that village*, not a person's
//! account and not a domain role of its own:
//!
//! - role [`Role::Resident`]: the domain lets only a resident's own filing carry a receipt of the
//!   hub's series (the series is what every replica reads as "filed by the person, not at the
//!   service point"), and a resident may do nothing but file, comment, supplement, withdraw
//!   and rate their own requests: an application is given nothing a resident's phone is not;
//! - user `open311:<key number>:<village>` ([`application_user`]), which is also the request's
//!   `resident_user`: the request belongs to that pseudo-resident, whom no account, session or
//!   device can ever be (the hub's own user ids are `u-…`), so it reaches nobody's phone and,
//!   once filed, only the village's staff act on it, as on any request;
//! - the pseudo-device [`OPEN311_DEVICE`], with the hub series' device number, and an Automerge
//!   actor derived from the user ([`application_actor`]).
//!
//! The check asks the hub whether a request's `resident_user` is a registered resident of its
//! village. For an application user the hub answers yes while the key is not revoked and the
//! village lies in the key's township ([`residence`]): a key revoked while a filing is under way
//! is refused by the check itself, and no tablet can give a request to an application of
//! another township.
//!
//! The person's name, ID number and phone go into the request as a resident's do (visible to
//! the staff handling it, never published, never logged); what they wrote besides the form
//! (description, address, a link to a photo) becomes a comment on the request.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use bianmin_document::model::NewRequest;
use bianmin_document::{Authoring, Document, Residence};
use bianmin_domain::{
    AttrValue, HUB_SERIES_DEVICE, Identity, ReceiptNo, Role, Timestamp, township_of,
};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::Engine;
use super::console::authoring_error;
use super::resident::{InSeries, Series};
use crate::auth::AuthedDevice;
use crate::error::AppError;
use crate::storage::{DeviceRecord, Open311Key, Storage, UserRecord};

/// The device recorded in the audit trail (and in every entry's stamp) for what an application
/// filed through Open311.
pub const OPEN311_DEVICE: &str = "open311";

/// The start of every application user's id.
const USER_PREFIX: &str = "open311:";

/// The pseudo-user an application with key number `key` files as in `village` (see the module
/// docs): `open311:<key>:<village>`.
pub fn application_user(key: u64, village: &str) -> String {
    format!("{USER_PREFIX}{key}:{village}")
}

/// The key number and the village of an application user's id; `None` for any other id (and
/// for one not written as [`application_user`] writes it).
pub fn parse_application_user(user: &str) -> Option<(u64, &str)> {
    let (key, village) = user.strip_prefix(USER_PREFIX)?.split_once(':')?;
    let number: u64 = key.parse().ok()?;
    (number.to_string() == key && township_of(village).is_some()).then_some((number, village))
}

/// An application user's Automerge actor: derived from the user id (the same across requests
/// and restarts), with a prefix of its own so that it is no console user's, resident's or
/// device's.
pub fn application_actor(user: &str) -> String {
    let digest = Sha256::digest(format!("bianmin open311 actor\0{user}").as_bytes());
    hex::encode(&digest[..16])
}

/// Whether the application user `user` is a resident of a village, for the check: of its own
/// village while its key is not revoked and the village lies in the key's township. `None` if
/// `user` is not an application user. A storage failure answers "not a resident" (the strict
/// way).
pub(super) fn residence(storage: &dyn Storage, user: &str) -> Option<Residence> {
    let (key, village) = parse_application_user(user)?;
    Some(match storage.open311_key(key) {
        Ok(Some(k))
            if k.revoked_at.is_none() && township_of(village) == Some(k.township.as_str()) =>
        {
            Residence::Village(village.to_string())
        }
        _ => Residence::NotResident,
    })
}

/// What an application files for a person: the village, the service item and its form, and the
/// person's own fields, already read from the request (each checked again by the document's
/// check).
#[derive(Clone)]
pub struct ApplicationFiling {
    /// The village (12-digit code).
    pub village: String,
    /// The service item.
    pub item_code: String,
    /// The applicant's name.
    pub applicant_name: String,
    /// The applicant's national ID number.
    pub id_number: String,
    /// The applicant's phone number.
    pub phone: String,
    /// The applicant's grid (villager group), `""` in a village without grids.
    pub grid: String,
    /// The item's form.
    pub attributes: BTreeMap<String, AttrValue>,
    /// What the person wrote besides the form, written as a comment on the request.
    pub note: Option<String>,
}

impl std::fmt::Debug for ApplicationFiling {
    // Never the name, the ID number, the phone, the grid, the form or the note.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApplicationFiling")
            .field("village", &self.village)
            .field("item_code", &self.item_code)
            .finish_non_exhaustive()
    }
}

/// A request an application filed.
#[derive(Debug, Clone)]
pub struct Posted {
    /// Its id.
    pub id: Uuid,
    /// Its receipt number, of the hub's series.
    pub receipt_no: ReceiptNo,
}

fn forbidden(message: impl Into<String>) -> AppError {
    AppError::new(StatusCode::FORBIDDEN, "forbidden", message)
}

/// The pseudo-device an application's filing in `village` is pushed from (see the module
/// docs).
fn application_device(key: &Open311Key, village: &str) -> AuthedDevice {
    let user = application_user(key.id, village);
    AuthedDevice {
        device: DeviceRecord {
            id: OPEN311_DEVICE.to_string(),
            device_no: HUB_SERIES_DEVICE,
            user_id: user.clone(),
            name: "Open311 GeoReport v2".to_string(),
            actor: application_actor(&user),
            enrolled_at: key.created_at,
            revoked_at: key.revoked_at,
        },
        identity: Identity {
            user: user.clone(),
            role: Role::Resident,
            area: village.to_string(),
            device: OPEN311_DEVICE.to_string(),
        },
        user: UserRecord {
            id: user.clone(),
            name: user,
            display_name: key.name.clone(),
            role: Role::Resident,
            area: village.to_string(),
            password_hash: None,
            created_at: key.created_at,
        },
        // A pseudo-device of the hub's own: no token.
        token_hash: String::new(),
    }
}

impl Engine {
    /// Files `filing` for the application holding `key`: in the key's township only (403
    /// otherwise, and for a revoked key), authored and checked as a resident's own filing (the
    /// item's required attributes, the ID number's check digit, the phone, the grid), numbered
    /// in the village's hub series, with the person's note as a comment. Answers once the
    /// request is stored; a refusal names the rule broken (422), and stores nothing.
    pub fn application_file(
        &self,
        key: &Open311Key,
        filing: &ApplicationFiling,
    ) -> Result<Posted, AppError> {
        if key.revoked_at.is_some() {
            return Err(forbidden(
                "this api_key was revoked: ask the people who run the county's hub for a new one",
            ));
        }
        if township_of(&filing.village) != Some(key.township.as_str()) {
            return Err(forbidden(format!(
                "this api_key files requests in the villages of township {} only",
                key.township
            )));
        }
        let reference = self.reference()?;
        let who = application_device(key, &filing.village);
        let new = NewRequest {
            item_code: filing.item_code.clone(),
            applicant_name: filing.applicant_name.clone(),
            id_number: filing.id_number.clone(),
            phone: filing.phone.clone(),
            grid: filing.grid.clone(),
            attributes: filing.attributes.clone(),
            // Nothing was handed in: the clerk marks the materials on receipt.
            materials_received: Vec::new(),
            resident_user: Some(who.identity.user.clone()),
            submit: true,
        };
        let then: Vec<Authoring> = filing
            .note
            .iter()
            .map(|n| Authoring::RequestComment(n.clone()))
            .collect();
        let author = |receipt_no: &ReceiptNo| {
            Document::file_request(
                &who.device.actor,
                &who.identity,
                Timestamp::now(),
                &reference.rules,
                &new,
                receipt_no,
                &then,
            )
            .map_err(authoring_error)
        };
        let series = Series {
            who: &who,
            village: &filing.village,
            rules: &reference.rules,
            keyed: None,
        };
        let InSeries::Stored(id, receipt_no) =
            self.file_in_hub_series(&series, &author, &|_| Ok(false), &mut || Ok(()))?
        else {
            return Err(AppError::internal(
                "an unkeyed filing was found stored before",
            ));
        };
        tracing::info!(doc = %id, key = key.id, receipt = %receipt_no, "an Open311 application filed a request");
        Ok(Posted { id, receipt_no })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_application_user_names_its_key_and_village_and_nothing_else_parses_as_one() {
        let user = application_user(12, "370883101201");
        assert_eq!(user, "open311:12:370883101201");
        assert_eq!(parse_application_user(&user), Some((12, "370883101201")));
        for other in [
            "u-0123456789abcdef",
            "open311:12",
            "open311::370883101201",
            "open311:+12:370883101201",
            "open311:012:370883101201",
            "open311:12:370883101",
            "open311:12:370883101201:x",
            "open311:x:370883101201",
        ] {
            assert_eq!(parse_application_user(other), None, "{other}");
        }
    }

    #[test]
    fn an_applications_actor_is_its_own() {
        let a = application_actor("open311:1:370883101201");
        assert_eq!(a.len(), 32);
        assert_eq!(a, application_actor("open311:1:370883101201"), "stable");
        assert_ne!(a, application_actor("open311:1:370883101202"));
        assert_ne!(a, super::super::resident_actor("open311:1:370883101201"));
        assert_ne!(a, super::super::console_actor("open311:1:370883101201"));
    }
}
