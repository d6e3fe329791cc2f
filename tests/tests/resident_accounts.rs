//! Resident accounts, through a real hub over HTTP with a browser's cookie jar: an
//! administrator opens the account (a one-time activation code, from the command line's
//! function or the console), the resident activates it on a phone, signs in, and sees the
//! requests a clerk's tablet filed for them (status, deadline, what is missing) and nobody
//! else's; a used code is refused; wrong passwords lock out as in the console; a deactivated
//! resident cannot sign in and their open session ends; residents never reach the console and
//! console users never the resident pages; forms without their token are refused; Chinese by
//! default, English on request.
//!
//! Runs on SQLite, or on PostgreSQL with `BIANMIN_TEST_BACKEND=postgres`.

use std::sync::Mutex;

use bianmin_client_core::client::sync;
use bianmin_client_core::{NewRequest, Store};
use bianmin_document::model::{Page, RequestFilter, RequestSort};
use bianmin_domain::{Action, Role, Timestamp, WorkingCalendar};
use bianmin_server::admin;
use bianmin_server::storage::ReadScope;
use bianmin_tests::hub::{CLERK, RESIDENT, REVIEWER, TestHub, quick};
use bianmin_tests::phone::{Phone, csrf};
use bianmin_tests::social_card_request;

/// The password the resident chooses.
const PASSWORD: &str = "wang's own 2026";
/// Another resident of East Village.
const OTHER: &str = "resident-zhao";
/// The administrator of the demo county.
const ADMIN: &str = "admin";
/// Failures of one name from one client before it waits (`ThrottleConfig::default`).
const PAIR_FAILURES: usize = 5;

/// The text of the first `<p class="error"…>`.
fn error_of(body: &str) -> String {
    let at = body
        .find(r#"<p class="error""#)
        .unwrap_or_else(|| panic!("no error in {body}"));
    body[at..at + body[at..].find("</p>").unwrap()].to_string()
}

// ---------------------------------------------------------------------------------------------
// The hub's people and requests

fn user_id(hub: &TestHub, name: &str) -> String {
    hub.storage.user_by_name(name).unwrap().unwrap().id
}

/// A fresh activation code for `name`, as `bianmin-server user resident-code` issues it.
fn code_for(hub: &TestHub, name: &str) -> String {
    admin::issue_activation_code(hub.storage.as_ref(), name, admin::ACTIVATION_VALIDITY)
        .expect("code")
        .code
}

/// A browser signed in as [`RESIDENT`] after activating the account.
fn activated(hub: &TestHub) -> Phone {
    let code = code_for(hub, RESIDENT);
    let mut b = Phone::new(&hub.url);
    let a = b.activate(RESIDENT, &code, PASSWORD);
    assert_eq!(a.status, 303, "{}", a.body);
    b
}

fn for_resident(resident: &str) -> NewRequest {
    NewRequest {
        resident_user: Some(resident.to_string()),
        ..social_card_request()
    }
}

/// Requests filed at East Village's service point on the clerk's tablet and synced: Wang's
/// accepted one, Wang's returned for a photo, Zhao's, and one for nobody registered. Their
/// receipt numbers, in that order.
fn filed(hub: &TestHub, dir: &std::path::Path) -> [String; 4] {
    let wang = user_id(hub, RESIDENT);
    let zhao = admin::add_user(
        hub.storage.as_ref(),
        OTHER,
        "赵",
        Role::Resident,
        "370883101201",
    )
    .unwrap()
    .id;
    let clerk: Mutex<Store> = Mutex::new(hub.enrol(CLERK, dir, "east"));
    let receipts = {
        let mut s = clerk.lock().unwrap();
        let accepted = s.file_request(for_resident(&wang)).unwrap();
        s.apply(accepted.id, Action::Accept).unwrap();
        let returned = s.file_request(for_resident(&wang)).unwrap();
        s.apply(returned.id, Action::Accept).unwrap();
        s.apply(
            returned.id,
            Action::ReturnForSupplement {
                missing: vec!["Recent photo".into()],
                note: "照片须为白底，电话 13812345678".into(),
            },
        )
        .unwrap();
        let others = s.file_request(for_resident(&zhao)).unwrap();
        let nobodys = s.file_request(social_card_request()).unwrap();
        [accepted, returned, others, nobodys].map(|r| r.receipt_no.as_str().to_string())
    };
    let report = sync(&clerk, &quick(), &mut |_| {}).unwrap();
    assert!(report.refused.is_empty(), "{:?}", report.refused);
    receipts
}

/// The deadline the hub's index holds for the request with `receipt` of `resident`.
fn due_of(hub: &TestHub, resident: &str, receipt: &str) -> Option<chrono::NaiveDate> {
    let reference = hub.storage.reference().unwrap().unwrap();
    let rows = hub
        .storage
        .requests(
            &ReadScope::Resident {
                user: resident.to_string(),
            },
            &RequestFilter::default(),
            RequestSort::RecentlyFiled,
            Page::first(50),
            Timestamp::now().china_date(),
            &WorkingCalendar::new(reference.calendars),
        )
        .unwrap();
    rows.rows
        .into_iter()
        .find(|r| r.receipt_no == receipt)
        .expect("listed")
        .due
}

// ---------------------------------------------------------------------------------------------
// The stories

#[test]
fn a_resident_activates_signs_in_and_sees_their_own_requests_only() {
    let hub = TestHub::start();
    let dir = tempfile::tempdir().unwrap();
    let [accepted, returned, others, nobodys] = filed(&hub, dir.path());
    let wang = user_id(&hub, RESIDENT);
    let mut b = Phone::new(&hub.url);

    // Signed out: to the sign-in page, in Chinese.
    let a = b.get("/resident");
    assert_eq!(
        (a.status, a.location.as_deref()),
        (303, Some("/resident/sign-in"))
    );
    let form = b.get("/resident/sign-in");
    assert_eq!(form.status, 200);
    assert!(form.body.contains("居民登录"), "Chinese by default");
    assert!(form.body.contains(r#"class="resident""#));
    assert_eq!(form.header("cache-control"), Some("no-store"));

    // The administrator opens the account (the command line's function); the code is typed
    // on a phone, in lower case and without its dash.
    let code = code_for(&hub, RESIDENT);
    let typed = code.replace('-', "").to_lowercase();
    let page = b.get("/resident/activate");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("激活居民账号"));
    // Two different new passwords: refused, nothing spent.
    let token = csrf(&page.body);
    let a = b.post(
        "/resident/activate",
        &[
            ("csrf", &token),
            ("name", RESIDENT),
            ("code", &typed),
            ("password", PASSWORD),
            ("again", "something else"),
        ],
    );
    assert_eq!(a.status, 422, "{}", a.body);
    let a = b.activate(RESIDENT, &typed, PASSWORD);
    assert_eq!(a.status, 303, "{}", a.body);
    assert_eq!(a.location.as_deref(), Some("/resident?activated=1"));
    let session = a
        .set_cookies
        .iter()
        .find(|c| c.starts_with("bianmin_resident="))
        .expect("a session cookie");
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(session.contains(attr), "{session}");
    }
    assert!(
        !b.cookies.contains_key("bianmin_console"),
        "no console session"
    );

    // Home: Wang's two requests, with status, deadline and what is missing.
    let home = b.get("/resident?activated=1");
    assert_eq!(home.status, 200, "{}", home.body);
    assert_eq!(home.header("cache-control"), Some("no-store"));
    assert!(home.body.contains("账号已激活"));
    assert!(home.body.contains("我的办件"));
    for receipt in [&accepted, &returned] {
        assert!(home.body.contains(receipt.as_str()), "{receipt} listed");
    }
    assert!(home.body.contains("已受理，正在办理"), "status in words");
    assert!(home.body.contains("退回补正"));
    assert!(
        home.body.contains("社会保障卡申领补换"),
        "the service item's name"
    );
    if let Some(due) = due_of(&hub, &wang, &accepted) {
        assert!(home.body.contains(&due.to_string()), "the deadline {due}");
    }
    assert!(home.body.contains("近期免冠照片"), "what is missing");
    assert!(home.body.contains("照片须为白底"), "the clerk's note");
    // Nobody else's, and no personal number in full.
    for receipt in [&others, &nobodys] {
        assert!(
            !home.body.contains(receipt.as_str()),
            "{receipt} not listed"
        );
    }
    assert!(!home.body.contains("11010519491231002X"), "ID masked");
    assert!(home.body.contains("110105********002X"));
    assert!(
        !home.body.contains("13812345678"),
        "phone masked in the note"
    );
    assert!(
        home.body
            .contains(r#"href="/public/villages/370883101201""#)
    );

    // English on request (and it sticks).
    let en = b.get("/resident?lang=en");
    assert!(en.body.contains("My requests"));
    assert!(
        en.body
            .contains("Social security card application or replacement")
    );
    assert!(en.body.contains("Accepted, being handled"));
    assert!(
        en.body
            .contains("Please bring these to the village service point")
    );
    assert!(en.set_cookies.iter().any(|c| c.starts_with("lang=en")));
    let zh = b.get("/resident?lang=zh");
    assert!(zh.body.contains("我的办件"));

    // The code is spent: a second phone cannot use it.
    let mut other_phone = Phone::new(&hub.url);
    let again = other_phone.activate(RESIDENT, &code, PASSWORD);
    assert_eq!(again.status, 401, "{}", again.body);
    assert!(again.body.contains("激活码"));
    assert!(!other_phone.cookies.contains_key("bianmin_resident"));

    // Sign-out needs the session's token; afterwards the old cookie is dead.
    let old = b.cookies.clone();
    let forged = b.post("/resident/sign-out", &[]);
    assert_eq!(forged.status, 403, "no token: nothing done");
    assert_eq!(b.get("/resident").status, 200, "still signed in");
    let out = b.submit("/resident", "/resident/sign-out", &[]);
    assert_eq!(
        (out.status, out.location.as_deref()),
        (303, Some("/resident/sign-in?signed_out=1"))
    );
    assert!(!b.cookies.contains_key("bianmin_resident"));
    b.cookies = old;
    assert_eq!(b.get("/resident").status, 303, "the old cookie is dead");

    // Signing in again with the chosen password.
    let mut b = Phone::new(&hub.url);
    let wrong = b.sign_in(RESIDENT, "not my password");
    assert_eq!(wrong.status, 401);
    let a = b.sign_in(RESIDENT, PASSWORD);
    assert_eq!(
        (a.status, a.location.as_deref()),
        (303, Some("/resident")),
        "{}",
        a.body
    );
    assert!(b.get("/resident").body.contains(accepted.as_str()));
}

#[test]
fn forms_without_their_token_are_refused() {
    let hub = TestHub::start();
    let code = code_for(&hub, RESIDENT);
    let mut b = Phone::new(&hub.url);
    // No form cookie at all (a form posted from another site).
    let a = b.post(
        "/resident/activate",
        &[
            ("csrf", "0123456789abcdef0123456789abcdef"),
            ("name", RESIDENT),
            ("code", &code),
            ("password", PASSWORD),
            ("again", PASSWORD),
        ],
    );
    assert_eq!(a.status, 403);
    let a = b.post(
        "/resident/sign-in",
        &[("name", RESIDENT), ("password", PASSWORD)],
    );
    assert_eq!(a.status, 403);
    // The cookie, but another token.
    b.get("/resident/activate");
    let a = b.post(
        "/resident/activate",
        &[
            ("csrf", "0123456789abcdef0123456789abcdef"),
            ("name", RESIDENT),
            ("code", &code),
            ("password", PASSWORD),
            ("again", PASSWORD),
        ],
    );
    assert_eq!(a.status, 403);
    assert!(!b.cookies.contains_key("bianmin_resident"));
    // Nothing was spent: the code still works.
    assert_eq!(b.activate(RESIDENT, &code, PASSWORD).status, 303);
}

#[test]
fn wrong_passwords_lock_out_as_in_the_console() {
    let hub = TestHub::start();
    drop(activated(&hub));
    let mut b = Phone::new(&hub.url);
    let mut last = None;
    for n in 1..=PAIR_FAILURES {
        let a = b.sign_in(RESIDENT, &format!("guess {n}"));
        assert_eq!(a.status, 401, "checked and wrong: {}", a.body);
        last = Some(a);
    }
    assert!(
        last.unwrap().body.contains("分钟后再试"),
        "the last failure says to wait"
    );
    // Locked: refused unchecked, even with the right password, with the wait in Retry-After.
    for password in ["guess 6", PASSWORD] {
        let a = b.sign_in(RESIDENT, password);
        assert_eq!(a.status, 429, "{}", a.body);
        let retry = a.retry_after().expect("Retry-After");
        assert!((50..=60).contains(&retry), "Retry-After {retry}");
        assert!(!b.cookies.contains_key("bianmin_resident"));
    }
    let en = b.submit(
        "/resident/sign-in?lang=en",
        "/resident/sign-in?lang=en",
        &[("name", RESIDENT), ("password", PASSWORD)],
    );
    assert_eq!(en.status, 429);
    assert!(en.body.contains("Too many failed attempts"));
    // Guessing activation codes counts against the same account.
    let a = b.submit(
        "/resident/activate",
        "/resident/activate",
        &[
            ("name", RESIDENT),
            ("code", "AAAAA-BBBBB"),
            ("password", PASSWORD),
            ("again", PASSWORD),
        ],
    );
    assert_eq!(a.status, 429);

    // The console's counts are its own: its sign-in from the same client is not locked.
    admin::set_password(hub.storage.as_ref(), REVIEWER, Some(PASSWORD)).unwrap();
    let console = b.console_sign_in(REVIEWER, PASSWORD);
    assert_eq!(console.status, 303, "{}", console.body);
}

#[test]
fn a_deactivated_resident_cannot_sign_in_and_their_open_session_ends() {
    let hub = TestHub::start();
    let dir = tempfile::tempdir().unwrap();
    // The resident's own tablet or phone app, enrolled earlier.
    let device = Mutex::new(hub.enrol(RESIDENT, dir.path(), "wang-phone"));
    let mut b = activated(&hub);
    assert_eq!(b.get("/resident").status, 200);

    // Deactivated from the command line's function: the open session ends at once.
    assert!(admin::deactivate_user(hub.storage.as_ref(), RESIDENT).unwrap());
    assert!(!admin::deactivate_user(hub.storage.as_ref(), RESIDENT).unwrap());
    let a = b.get("/resident");
    assert_eq!(
        (a.status, a.location.as_deref()),
        (303, Some("/resident/sign-in"))
    );
    // The right password: the same refusal as a wrong one.
    let mut b = Phone::new(&hub.url);
    let wrong = b.sign_in(RESIDENT, "not my password");
    let right = b.sign_in(RESIDENT, PASSWORD);
    assert_eq!((wrong.status, right.status), (401, 401));
    assert_eq!(error_of(&right.body), error_of(&wrong.body));
    // No new code while deactivated.
    assert!(
        admin::issue_activation_code(hub.storage.as_ref(), RESIDENT, admin::ACTIVATION_VALIDITY)
            .is_err()
    );
    // The resident's device still syncs.
    sync(&device, &quick(), &mut |_| {}).expect("devices are not affected");

    // Reactivated: the same password works again.
    assert!(admin::reactivate_user(hub.storage.as_ref(), RESIDENT).unwrap());
    let mut b = Phone::new(&hub.url);
    assert_eq!(b.sign_in(RESIDENT, PASSWORD).status, 303);
}

#[test]
fn residents_never_reach_the_console_nor_console_users_the_resident_pages() {
    let hub = TestHub::start();
    let mut b = activated(&hub);
    let session = b.cookies["bianmin_resident"].clone();

    // A signed-in resident opening the console: sent to the console's sign-in.
    for path in ["/console", "/console/requests", "/console/admin/users"] {
        let a = b.get(path);
        assert_eq!(a.status, 303, "{path}");
        assert!(
            a.location
                .as_deref()
                .unwrap()
                .starts_with("/console/sign-in"),
            "{path}"
        );
    }
    // Signing in to the console with the resident's password: refused like a wrong one.
    let a = b.console_sign_in(RESIDENT, PASSWORD);
    assert_eq!(a.status, 401, "{}", a.body);
    assert!(!b.cookies.contains_key("bianmin_console"));
    // The resident's session id under the console's cookie: not a console session.
    b.cookies
        .insert("bianmin_console".to_string(), session.clone());
    assert_eq!(b.get("/console/requests").status, 303);

    // A reviewer with a console password: refused on the resident pages with the same answer
    // as a wrong password.
    admin::set_password(hub.storage.as_ref(), REVIEWER, Some(PASSWORD)).unwrap();
    let mut r = Phone::new(&hub.url);
    let a = r.sign_in(REVIEWER, PASSWORD);
    assert_eq!(a.status, 401, "{}", a.body);
    assert!(!r.cookies.contains_key("bianmin_resident"));
    let wrong = r.sign_in(RESIDENT, "not my password");
    assert_eq!(error_of(&a.body), error_of(&wrong.body));
    // The reviewer's console session id under the resident cookie: no resident page.
    let signed = r.console_sign_in(REVIEWER, PASSWORD);
    assert_eq!(signed.status, 303);
    let console_session = r.cookies["bianmin_console"].clone();
    r.cookies
        .insert("bianmin_resident".to_string(), console_session);
    let a = r.get("/resident");
    assert_eq!(
        (a.status, a.location.as_deref()),
        (303, Some("/resident/sign-in"))
    );
    // An activation code is for residents only.
    assert!(
        admin::issue_activation_code(hub.storage.as_ref(), REVIEWER, admin::ACTIVATION_VALIDITY)
            .is_err()
    );
}

#[test]
fn the_administrator_opens_resets_and_deactivates_accounts_in_the_console() {
    let hub = TestHub::start();
    admin::set_password(hub.storage.as_ref(), ADMIN, Some(PASSWORD)).unwrap();
    let wang = user_id(&hub, RESIDENT);
    let mut console = Phone::new(&hub.url);
    assert_eq!(console.console_sign_in(ADMIN, PASSWORD).status, 303);
    let page = format!("/console/admin/users/{wang}");
    let shown = console.get(&page);
    assert_eq!(shown.status, 200);
    assert!(shown.body.contains("居民账号"));
    assert!(shown.body.contains("未激活"));

    // Issued: shown once, large, never cached.
    let issue = |console: &mut Phone| {
        let a = console.submit(&page, &format!("{page}/activation-code"), &[]);
        assert_eq!(a.status, 200, "{}", a.body);
        assert_eq!(a.header("cache-control"), Some("no-store"));
        assert!(a.body.contains("只显示这一次"));
        let at = a
            .body
            .find(r#"<code id="activation-code">"#)
            .expect("the code")
            + 27;
        a.body[at..at + 11].to_string()
    };
    let first = issue(&mut console);
    let second = issue(&mut console);
    assert_ne!(first, second);
    assert!(console.get(&page).body.contains("尚未使用"));
    // Without the token: nothing issued.
    let forged = console.post(&format!("{page}/activation-code"), &[]);
    assert_eq!(forged.status, 403);

    // The new code replaced the first.
    let mut phone = Phone::new(&hub.url);
    assert_eq!(phone.activate(RESIDENT, &first, PASSWORD).status, 401);
    assert_eq!(phone.activate(RESIDENT, &second, PASSWORD).status, 303);
    assert!(console.get(&page).body.contains("已激活"));

    // Deactivation asks first; a form without its token does nothing.
    let confirm = console.get(&format!("{page}/deactivate"));
    assert_eq!(confirm.status, 200);
    assert!(confirm.body.contains("确认停用"));
    let forged = console.post(&format!("{page}/deactivate"), &[]);
    assert_eq!(forged.status, 403);
    assert_eq!(phone.get("/resident").status, 200, "still signed in");
    let done = console.submit(
        &format!("{page}/deactivate"),
        &format!("{page}/deactivate"),
        &[],
    );
    assert_eq!(
        (done.status, done.location.as_deref()),
        (303, Some(format!("{page}?done=deactivated").as_str()))
    );
    assert_eq!(
        phone.get("/resident").status,
        303,
        "the phone is signed out"
    );
    assert_eq!(phone.sign_in(RESIDENT, PASSWORD).status, 401);
    assert!(console.get(&page).body.contains("已停用"));

    let done = console.submit(&page, &format!("{page}/reactivate"), &[]);
    assert_eq!(done.status, 303);
    assert_eq!(phone.sign_in(RESIDENT, PASSWORD).status, 303);

    // Not for staff: no resident part on a reviewer's page, and the action is refused.
    let reviewer = user_id(&hub, REVIEWER);
    let staff = format!("/console/admin/users/{reviewer}");
    assert!(!console.get(&staff).body.contains("居民账号"));
    let a = console.submit(&staff, &format!("{staff}/activation-code"), &[]);
    assert_eq!(a.status, 422);
}
