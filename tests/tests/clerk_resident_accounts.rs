//! A clerk opens a resident's account from the village tablet (issue 16), through a real hub:
//! the tablet (client-core) opens it and gets the one-time activation code; the resident
//! activates it on a phone over HTTP, signs in and sees the request the clerk filed for her;
//! the clerk issues a new code and the old one stops working. A clerk of another village can
//! neither list, open in, nor reset this village's accounts; residents', reviewers' and revoked
//! devices are refused; bad and taken names are refused with nothing stored; without the link
//! the tablet says so and nothing changes.
//!
//! Runs on SQLite, or on PostgreSQL with `BIANMIN_TEST_BACKEND=postgres`.

use std::path::Path;
use std::sync::Mutex;

use bianmin_client_core::Store;
use bianmin_client_core::client::sync;
use bianmin_client_core::residents::{
    AccountError, ActivationCodeIssued, list_residents, new_activation_code, open_resident,
};
use bianmin_domain::Role;
use bianmin_server::admin;
use bianmin_tests::hub::{CLERK, RESIDENT, REVIEWER, TestHub, quick};
use bianmin_tests::phone::Phone;
use bianmin_tests::{EAST, social_card_request};
use serde_json::{Value, json};

/// West Village, East Village's neighbour in Taiping Town.
const WEST: &str = "370883101202";
/// The clerk of West Village this test adds.
const WEST_CLERK: &str = "clerk-west";
/// The resident the East clerk opens an account for.
const LI: &str = "resident-li";
/// The password she chooses.
const PASSWORD: &str = "li's own 2026 pw";

// ---------------------------------------------------------------------------------------------
// The tablets

fn tablet(hub: &TestHub, user: &str, dir: &Path, name: &str) -> Mutex<Store> {
    Mutex::new(hub.enrol(user, dir, name))
}

/// A hub with a clerk for West Village too.
fn hub_with_west_clerk() -> TestHub {
    let hub = TestHub::start();
    admin::add_user(
        hub.storage.as_ref(),
        WEST_CLERK,
        "西村代办员",
        Role::Clerk,
        WEST,
    )
    .expect("the West clerk");
    hub
}

fn open_li(clerk: &Mutex<Store>) -> ActivationCodeIssued {
    open_resident(clerk, LI, "李秀兰", &quick()).expect("the account opened")
}

/// The hub's refusal: status and machine code.
#[track_caller]
fn refusal<T: std::fmt::Debug>(result: Result<T, AccountError>) -> (u16, String, String) {
    match result {
        Err(AccountError::Hub {
            status,
            code,
            message,
        }) => (status, code, message),
        other => panic!("expected the hub's refusal, got {other:?}"),
    }
}

/// Every user name the hub holds.
fn user_names(hub: &TestHub) -> Vec<String> {
    hub.storage
        .users()
        .unwrap()
        .into_iter()
        .map(|u| u.name)
        .collect()
}

/// The device token a store holds (what an attacker with the tablet would have).
fn token_of(store: &Mutex<Store>) -> String {
    store.lock().unwrap().server().unwrap().expect("enrolled").1
}

/// Raw HTTP to the API with a device token: status and JSON body.
fn api(hub: &TestHub, token: &str, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let url = format!("{}{path}", hub.url);
    let auth = format!("Bearer {token}");
    let sent = match (method, body) {
        ("GET", _) => agent.get(&url).header("Authorization", &auth).call(),
        (_, Some(body)) => agent
            .post(&url)
            .header("Authorization", &auth)
            .header("Content-Type", "application/json")
            .send(body),
        (_, None) => agent.post(&url).header("Authorization", &auth).send_empty(),
    };
    let mut resp = sent.expect("the hub answers");
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    let value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    (status, value)
}

// ---------------------------------------------------------------------------------------------
// The stories

#[test]
fn a_clerk_opens_an_account_on_the_tablet_and_the_resident_activates_it_and_sees_her_request() {
    let hub = TestHub::start();
    let dir = tempfile::tempdir().unwrap();
    let clerk = tablet(&hub, CLERK, dir.path(), "east");

    let issued = open_li(&clerk);
    assert_eq!(
        (
            issued.name.as_str(),
            issued.display_name.as_str(),
            issued.village.as_str()
        ),
        (LI, "李秀兰", EAST)
    );
    let code = &issued.code;
    assert_eq!(code.len(), 11, "ABCDE-FGHJK");
    assert_eq!(code.as_bytes()[5], b'-');
    let days = (issued.expires_at - chrono::Utc::now().timestamp_millis()) as f64 / 86_400_000.0;
    assert!((13.9..=14.0).contains(&days), "valid 14 days, not {days}");
    assert!(
        !format!("{issued:?}").contains(code.as_str()),
        "Debug leaves the code out"
    );

    // On the hub: a resident of East Village, under the id the tablet was told.
    let stored = hub.storage.user_by_name(LI).unwrap().expect("stored");
    assert_eq!(
        (stored.id.as_str(), stored.role),
        (issued.user_id.as_str(), Role::Resident)
    );
    assert_eq!(stored.area, EAST);

    // The village's list: Li waiting for activation with her code, and Wang (the demo's).
    let list = list_residents(&clerk, &quick()).unwrap();
    let li = list.iter().find(|r| r.name == LI).expect("Li listed");
    assert!(!li.activated && !li.deactivated);
    assert_eq!(li.code_expires_at, Some(issued.expires_at));
    assert!(list.iter().any(|r| r.name == RESIDENT));
    assert!(list.iter().all(|r| r.village == EAST));

    // The clerk files a request for her and syncs.
    let filed = {
        let mut s = clerk.lock().unwrap();
        s.file_request(bianmin_client_core::NewRequest {
            resident_user: Some(issued.user_id.clone()),
            applicant_name: "李秀兰".into(),
            ..social_card_request()
        })
        .unwrap()
    };
    let report = sync(&clerk, &quick(), &mut |_| {}).unwrap();
    assert!(report.refused.is_empty(), "{:?}", report.refused);

    // On her phone: the code as typed from the paper (lower case, no dash), a new password.
    let typed = code.replace('-', "").to_lowercase();
    let mut phone = Phone::new(&hub.url);
    let a = phone.activate(LI, &typed, PASSWORD);
    assert_eq!(a.status, 303, "{}", a.body);
    assert_eq!(a.location.as_deref(), Some("/resident?activated=1"));
    let home = phone.get("/resident");
    assert_eq!(home.status, 200);
    assert!(
        home.body.contains(filed.receipt_no.as_str()),
        "her request is on her page"
    );

    // Signed in again on another phone with her password; the clerk sees her activated.
    let mut again = Phone::new(&hub.url);
    assert_eq!(again.sign_in(LI, PASSWORD).status, 303);
    assert!(
        again
            .get("/resident")
            .body
            .contains(filed.receipt_no.as_str())
    );
    let list = list_residents(&clerk, &quick()).unwrap();
    let li = list.iter().find(|r| r.name == LI).unwrap();
    assert!(li.activated);
    assert_eq!(li.code_expires_at, None, "the code is spent");
}

#[test]
fn the_clerk_issues_a_new_code_and_the_old_one_no_longer_works() {
    let hub = TestHub::start();
    let dir = tempfile::tempdir().unwrap();
    let clerk = tablet(&hub, CLERK, dir.path(), "east");
    let first = open_li(&clerk);

    let second = new_activation_code(&clerk, LI, &quick()).unwrap();
    assert_eq!(second.user_id, first.user_id);
    assert_ne!(second.code, first.code);
    let mut phone = Phone::new(&hub.url);
    let old = phone.activate(LI, &first.code, PASSWORD);
    assert_eq!(
        old.status, 401,
        "the replaced code is refused: {}",
        old.body
    );
    assert!(!phone.cookies.contains_key("bianmin_resident"));
    assert_eq!(phone.activate(LI, &second.code, PASSWORD).status, 303);

    // A forgotten password: a third code, and she chooses another.
    let third = new_activation_code(&clerk, LI, &quick()).unwrap();
    let mut new_phone = Phone::new(&hub.url);
    assert_eq!(
        new_phone.activate(LI, &third.code, "a new one 2026").status,
        303
    );
    assert_eq!(Phone::new(&hub.url).sign_in(LI, PASSWORD).status, 401);
    assert_eq!(
        Phone::new(&hub.url).sign_in(LI, "a new one 2026").status,
        303
    );
    // A code is spent once used: the second one is no good now either.
    assert_eq!(
        Phone::new(&hub.url)
            .activate(LI, &second.code, PASSWORD)
            .status,
        401
    );

    // An account the administrator deactivated gets no code from the tablet; the list says
    // why.
    admin::deactivate_user(hub.storage.as_ref(), LI).unwrap();
    let (status, code, message) = refusal(new_activation_code(&clerk, LI, &quick()));
    assert_eq!(
        (status, code.as_str()),
        (409, "resident_deactivated"),
        "{message}"
    );
    let list = list_residents(&clerk, &quick()).unwrap();
    assert!(list.iter().find(|r| r.name == LI).unwrap().deactivated);
    admin::reactivate_user(hub.storage.as_ref(), LI).unwrap();
    assert!(new_activation_code(&clerk, LI, &quick()).is_ok());
}

#[test]
fn a_clerk_of_another_village_can_neither_list_open_in_nor_reset_this_villages_accounts() {
    let hub = hub_with_west_clerk();
    let dir = tempfile::tempdir().unwrap();
    let east = tablet(&hub, CLERK, dir.path(), "east");
    let west = tablet(&hub, WEST_CLERK, dir.path(), "west");
    let li = open_li(&east);
    let before = user_names(&hub);
    let token = token_of(&west);

    // Listing: West's own only (none yet); asking for East's is refused.
    assert!(list_residents(&west, &quick()).unwrap().is_empty());
    let (status, body) = api(
        &hub,
        &token,
        "GET",
        &format!("/api/v1/residents?village={EAST}"),
        None,
    );
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("forbidden")),
        "{body}"
    );
    assert!(!body.to_string().contains(LI), "{body}");

    // Opening over East: refused, nothing stored.
    let open = json!({"name": "resident-sun", "display_name": "孙", "village": EAST}).to_string();
    let (status, body) = api(&hub, &token, "POST", "/api/v1/residents", Some(&open));
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("forbidden")),
        "{body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("own village")
    );

    // Resetting East's resident: exactly the answer an unknown name gets.
    let of_east = refusal(new_activation_code(&west, LI, &quick()));
    assert_eq!((of_east.0, of_east.1.as_str()), (404, "not_found"));
    let unknown = refusal(new_activation_code(&west, "resident-nobody", &quick()));
    assert_eq!(of_east, unknown);
    let (_, body) = api(
        &hub,
        &token,
        "POST",
        &format!("/api/v1/residents/{LI}/activation-code"),
        None,
    );
    let (_, nobody) = api(
        &hub,
        &token,
        "POST",
        "/api/v1/residents/resident-nobody/activation-code",
        None,
    );
    assert_eq!(
        body, nobody,
        "nothing tells an account of East from no account at all"
    );

    // Nothing changed: no user added, and Li's code from East still works.
    assert_eq!(user_names(&hub), before);
    assert_eq!(
        Phone::new(&hub.url).activate(LI, &li.code, PASSWORD).status,
        303
    );

    // West's clerk opens accounts in West, which East's clerk cannot touch.
    let sun = open_resident(&west, "resident-sun", "孙", &quick()).unwrap();
    assert_eq!(sun.village, WEST);
    let names: Vec<String> = list_residents(&west, &quick())
        .unwrap()
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(names, ["resident-sun"]);
    assert_eq!(
        refusal(new_activation_code(&east, "resident-sun", &quick())).0,
        404
    );
    assert!(
        list_residents(&east, &quick())
            .unwrap()
            .iter()
            .all(|r| r.name != "resident-sun")
    );
}

#[test]
fn residents_reviewers_and_revoked_devices_are_refused_and_nothing_is_stored() {
    let hub = TestHub::start();
    let dir = tempfile::tempdir().unwrap();
    let resident = tablet(&hub, RESIDENT, dir.path(), "wang-phone");
    let reviewer = tablet(&hub, REVIEWER, dir.path(), "taiping-desk");
    let clerk = tablet(&hub, CLERK, dir.path(), "east");
    let before = user_names(&hub);

    for device in [&resident, &reviewer] {
        let (status, code, message) =
            refusal(open_resident(device, "resident-zhou", "周", &quick()));
        assert_eq!((status, code.as_str()), (403, "forbidden"), "{message}");
        assert!(
            message.contains("may not open resident accounts"),
            "{message}"
        );
        assert_eq!(refusal(list_residents(device, &quick())).0, 403);
        assert_eq!(
            refusal(new_activation_code(device, RESIDENT, &quick())).0,
            403
        );
    }

    // The clerk's tablet, revoked (lost): refused from its next request on.
    let device = clerk.lock().unwrap().identity().device.clone();
    assert!(admin::revoke_device(hub.storage.as_ref(), &device).unwrap());
    let (status, code, _) = refusal(open_resident(&clerk, "resident-zhou", "周", &quick()));
    assert_eq!((status, code.as_str()), (403, "device_revoked"));
    assert_eq!(
        refusal(new_activation_code(&clerk, RESIDENT, &quick())).1,
        "device_revoked"
    );
    assert_eq!(
        refusal(list_residents(&clerk, &quick())).1,
        "device_revoked"
    );

    // No token, or a made-up one.
    let (status, _) = api(&hub, "not-a-token", "GET", "/api/v1/residents", None);
    assert_eq!(status, 401);

    assert_eq!(user_names(&hub), before, "nothing stored");
    let wang = hub.storage.user_by_name(RESIDENT).unwrap().unwrap();
    let status = hub.storage.account_status(&wang.id).unwrap();
    assert_eq!(status.pending_code, None, "no code issued for Wang");
}

#[test]
fn bad_and_taken_names_are_refused_with_the_field_and_rule_and_nothing_is_stored() {
    let hub = TestHub::start();
    let dir = tempfile::tempdir().unwrap();
    let clerk = tablet(&hub, CLERK, dir.path(), "east");
    let before = user_names(&hub);
    let long = "李".repeat(101);

    let cases: [(&str, &str, u16, &str, &str); 8] = [
        ("bad name!", "李", 422, "invalid", "name: must be 1 to 64"),
        ("", "李", 422, "invalid", "name: must be 1 to 64"),
        (
            "13812345678",
            "李",
            422,
            "invalid",
            "name: must not be an ID, phone",
        ),
        (
            "resident-zhou",
            "   ",
            422,
            "invalid",
            "display_name: must be 1 to 100",
        ),
        (
            "resident-zhou",
            &long,
            422,
            "invalid",
            "display_name: must be 1 to 100",
        ),
        (
            "resident-zhou",
            "周 11010519491231002X",
            422,
            "invalid",
            "display_name: must not hold",
        ),
        (RESIDENT, "王秀英", 409, "name_taken", "name: is taken"),
        (CLERK, "李", 409, "name_taken", "name: is taken"),
    ];
    for (name, display, status, code, says) in cases {
        let (got, got_code, message) = refusal(open_resident(&clerk, name, display, &quick()));
        assert_eq!(
            (got, got_code.as_str()),
            (status, code),
            "{name}: {message}"
        );
        assert!(message.starts_with(says), "{name}: {message}");
        for personal in ["13812345678", "11010519491231002X"] {
            assert!(!message.contains(personal), "{message}");
        }
    }

    // Bodies the hub cannot take: too large, not JSON, not the message.
    let token = token_of(&clerk);
    let huge = json!({"name": "resident-zhou", "display_name": "周".repeat(4000)}).to_string();
    let (status, body) = api(&hub, &token, "POST", "/api/v1/residents", Some(&huge));
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (413, Some("payload_too_large"))
    );
    let (status, body) = api(
        &hub,
        &token,
        "POST",
        "/api/v1/residents",
        Some("{\"name\": "),
    );
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("bad_request"))
    );
    let (status, _) = api(
        &hub,
        &token,
        "POST",
        "/api/v1/residents",
        Some("{\"name\": \"x\"}"),
    );
    assert_eq!(status, 400, "display_name missing");
    let odd = json!({"name": "resident-zhou", "display_name": "周", "village": "east"}).to_string();
    let (status, _) = api(&hub, &token, "POST", "/api/v1/residents", Some(&odd));
    assert_eq!(status, 403, "not the clerk's village");

    assert_eq!(user_names(&hub), before, "nothing stored");

    // A retry after a lost answer: the second opening is refused as taken, and the clerk
    // issues a new code instead, which works.
    let first = open_resident(&clerk, "resident-zhou", "周", &quick()).unwrap();
    let (status, code, _) = refusal(open_resident(&clerk, "resident-zhou", "周", &quick()));
    assert_eq!((status, code.as_str()), (409, "name_taken"));
    let again = new_activation_code(&clerk, "resident-zhou", &quick()).unwrap();
    assert_eq!(again.user_id, first.user_id);
    assert_eq!(
        Phone::new(&hub.url)
            .activate("resident-zhou", &again.code, PASSWORD)
            .status,
        303
    );
}

#[test]
fn without_the_link_the_tablet_says_so_and_nothing_changes() {
    let dir = tempfile::tempdir().unwrap();
    let hub = TestHub::start();
    let clerk = tablet(&hub, CLERK, dir.path(), "east");
    let url = hub.url.clone();
    drop(hub);

    let offline = open_resident(&clerk, LI, "李秀兰", &quick());
    let Err(e @ AccountError::Offline(_)) = offline else {
        panic!("expected offline, got {offline:?}");
    };
    assert!(e.to_string().contains("needs the link to the hub"), "{e}");
    assert!(e.to_string().contains("nothing was changed"), "{e}");
    assert!(matches!(
        list_residents(&clerk, &quick()),
        Err(AccountError::Offline(_))
    ));
    assert!(matches!(
        new_activation_code(&clerk, RESIDENT, &quick()),
        Err(AccountError::Offline(_))
    ));
    // The store still knows its hub and is otherwise untouched.
    assert_eq!(clerk.lock().unwrap().server().unwrap().unwrap().0, url);
}
