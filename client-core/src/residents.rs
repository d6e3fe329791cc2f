//! Residents' accounts from the tablet: the clerk lists the village's resident accounts, opens
//! one for a resident at the service point, and issues a new one-time activation code when a
//! resident lost theirs or forgot the password (`docs/residents.md`). The resident then
//! activates the account on a phone at the hub's `/resident/activate`.
//!
//! Unlike everything else a clerk does, these need the link: an account lives on the hub, and
//! the code is made there and shown once. Without the link nothing is sent and nothing changes
//! ([`AccountError::Offline`]). The store is locked only to read the hub's address and this
//! device's token, never across the network.
//!
//! Opening is never retried by itself: when the link breaks after the request went out, the
//! hub may have opened the account ([`AccountError::Interrupted`]); opening it again is then
//! refused as `409 name_taken`, and the clerk issues a new code with
//! [`new_activation_code`] instead. Listing is retried like a sync round (it changes nothing);
//! issuing a code is not (each one voids the one before, so the clerk decides).

use std::sync::Mutex;

use serde::de::DeserializeOwned;

use crate::Store;
use crate::client::{SyncOptions, agent, base, pause};
pub use crate::protocol::{ActivationCodeIssued, ResidentAccount};
use crate::protocol::{ErrorBody, OpenResident, ResidentList};

/// Why a call about residents' accounts did not complete.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// The hub could not be reached at all: nothing was sent, nothing changed.
    #[error(
        "no connection to the hub ({0}): opening resident accounts and issuing their codes \
         needs the link to the hub; nothing was changed"
    )]
    Offline(String),
    /// The link broke after the request went out and before its answer arrived: the hub may
    /// have done it.
    #[error(
        "the link to the hub broke before its answer arrived ({0}): the hub may have done it; \
         list the residents to see"
    )]
    Interrupted(String),
    /// The hub refused, with its reason (e.g. `409 name_taken`, `404 not_found`,
    /// `403 forbidden`, `422 invalid` with the field and the rule).
    #[error("the hub refused: {code}: {message}")]
    Hub {
        /// HTTP status.
        status: u16,
        /// The hub's machine code.
        code: String,
        /// The hub's message.
        message: String,
    },
    /// The store has not been enrolled with a hub (a practice store).
    #[error("this store is not enrolled with a hub, which keeps residents' accounts")]
    NotEnrolled,
    /// The local store failed.
    #[error(transparent)]
    Store(#[from] crate::Error),
}

/// The largest answer read: a county's list of residents is far smaller.
const MAX_ANSWER: u64 = 16 * 1024 * 1024;

/// The resident accounts this device's user may manage (a clerk: their village's), by user
/// name.
pub fn list_residents(
    store: &Mutex<Store>,
    opts: &SyncOptions,
) -> Result<Vec<ResidentAccount>, AccountError> {
    let (url, token) = hub(store)?;
    let (agent, url) = (agent(opts.idle), format!("{url}/api/v1/residents"));
    let mut wait = opts.backoff;
    let mut attempt = 1;
    loop {
        let sent = agent
            .get(&url)
            .header("Authorization", &bearer(&token))
            .call();
        match answer::<ResidentList>(sent) {
            Err(AccountError::Interrupted(_)) if attempt < opts.attempts => {
                std::thread::sleep(pause(wait, None));
                wait = wait.saturating_mul(2);
                attempt += 1;
            }
            other => return other.map(|list| list.residents),
        }
    }
}

/// Opens the account of a resident of this clerk's village: `name` is the user name the
/// resident will type on the phone (letters, digits, `-`, `_`, `.`), `display_name` their name
/// as shown (e.g. `王秀英`). Returns the one-time activation code, shown this once. Sent once,
/// never retried (see the module's docs).
pub fn open_resident(
    store: &Mutex<Store>,
    name: &str,
    display_name: &str,
    opts: &SyncOptions,
) -> Result<ActivationCodeIssued, AccountError> {
    let (url, token) = hub(store)?;
    let body = OpenResident {
        name: name.to_string(),
        display_name: display_name.to_string(),
        village: None,
    };
    let sent = agent(opts.idle)
        .post(&format!("{url}/api/v1/residents"))
        .header("Authorization", &bearer(&token))
        .send_json(&body);
    answer(sent)
}

/// Issues a new one-time activation code for the resident named `name` (of this clerk's
/// village): for an account whose code was lost or expired, or whose password was forgotten.
/// The resident's earlier unused code stops working. Not retried by itself.
pub fn new_activation_code(
    store: &Mutex<Store>,
    name: &str,
    opts: &SyncOptions,
) -> Result<ActivationCodeIssued, AccountError> {
    let (url, token) = hub(store)?;
    let url = format!("{url}/api/v1/residents/{}/activation-code", segment(name));
    let sent = agent(opts.idle)
        .post(&url)
        .header("Authorization", &bearer(&token))
        .send_empty();
    answer(sent)
}

/// The hub's address and this device's token, read under the lock.
fn hub(store: &Mutex<Store>) -> Result<(String, String), AccountError> {
    let s = store
        .lock()
        .map_err(|_| crate::Error::Storage("the store lock was poisoned".into()))?;
    let (url, token) = s.server()?.ok_or(AccountError::NotEnrolled)?;
    Ok((base(&url).to_string(), token))
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// A user name as one segment of a path: letters, digits, `-` and `_` as they are, every
/// other byte (`.` included, so that `..` stays a name) percent-encoded.
fn segment(name: &str) -> String {
    name.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Whether the request surely never reached the hub: no connection was made at all (the hub
/// unreachable, as a sync finds it, or no connection within the connect timeout).
fn never_sent(e: &ureq::Error) -> bool {
    crate::client::unreachable(e)
        || matches!(
            e,
            ureq::Error::Timeout(ureq::Timeout::Connect | ureq::Timeout::Resolve)
        )
}

/// The hub's answer: the message, or its error decoded.
fn answer<T: DeserializeOwned>(
    sent: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> Result<T, AccountError> {
    let mut resp = sent.map_err(|e| {
        if never_sent(&e) {
            AccountError::Offline(e.to_string())
        } else {
            AccountError::Interrupted(e.to_string())
        }
    })?;
    let status = resp.status().as_u16();
    let body = resp
        .body_mut()
        .with_config()
        .limit(MAX_ANSWER)
        .read_to_vec()
        .map_err(|e| AccountError::Interrupted(e.to_string()))?;
    if status >= 400 {
        let (code, message) = match serde_json::from_slice::<ErrorBody>(&body) {
            Ok(e) => (e.error.code, e.error.message),
            Err(_) => ("http_error".to_string(), format!("HTTP {status}")),
        };
        return Err(AccountError::Hub {
            status,
            code,
            message,
        });
    }
    serde_json::from_slice(&body).map_err(|e| AccountError::Hub {
        status,
        code: "bad_response".into(),
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_name_stays_one_segment_of_the_path() {
        assert_eq!(segment("resident-wang_2"), "resident-wang_2");
        assert_eq!(segment(".."), "%2E%2E");
        assert_eq!(segment("a/b?c"), "a%2Fb%3Fc");
        assert_eq!(segment("王"), "%E7%8E%8B");
    }

    #[test]
    fn a_practice_store_is_told_it_has_no_hub_and_nothing_is_sent() {
        let dir = tempfile::tempdir().unwrap();
        let clerk = bianmin_domain::Identity::new(
            "clerk-1",
            bianmin_domain::Role::Clerk,
            "370883101201",
            "tablet-1",
        )
        .unwrap();
        let store = Store::create(
            dir.path().join("t.db"),
            crate::StoreConfig {
                identity: clerk,
                device_no: 1,
                reference: crate::Reference::demo(),
            },
        )
        .unwrap();
        let store = Mutex::new(store);
        let opts = SyncOptions::default();
        assert!(matches!(
            open_resident(&store, "resident-li", "李", &opts),
            Err(AccountError::NotEnrolled)
        ));
        assert!(matches!(
            list_residents(&store, &opts),
            Err(AccountError::NotEnrolled)
        ));
    }
}
