//! The anti-abuse counts are the database's, not a hub process's: the console's sign-in
//! throttle and the public look-up's limiter keep them in the storage
//! (`Storage::update_counters`), so two instances behind a load balancer spend one budget
//! between them, and a restart forgets nothing. Each test would fail if the counts were kept
//! per process: the guesses are spread so that no one instance (or no one life of a hub) sees
//! enough of them to refuse on its own.
//!
//! The two-instance tests need the PostgreSQL test database (`BIANMIN_TEST_DATABASE_URL`,
//! default `postgres://postgres@127.0.0.1:5432/test`): without it they say so on stderr and
//! pass, except under CI (`CI` set), where they fail. The SQLite test restarts the real
//! `bianmin-server` binary on one data directory.

use std::path::Path;

use bianmin_server::admin;
use bianmin_server::storage::Storage;
use bianmin_server::storage::sqlite::SqliteStorage;
use bianmin_tests::hub::{HubPair, HubProcess, REVIEWER, TestHub};
use bianmin_tests::raw::lookup_form;

const PASSWORD: &str = admin::DEMO_PASSWORD;
/// Failures of one name from one client before it waits (`ThrottleConfig::default`).
const PAIR_FAILURES: usize = 5;
/// Look-up failures of one client at one receipt, and of one client, before it waits
/// (`LimiterConfig::default`).
const LOOKUP_FAILURES: usize = 5;
/// A well-formed receipt number no request has: every look-up of it fails.
const RECEIPT: &str = "370883101201-099-000042";

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into()
}

/// An answer: its status, `Retry-After` and body.
#[derive(Debug)]
struct Answer {
    status: u16,
    retry_after: Option<u64>,
    body: String,
}

fn answer(resp: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Answer {
    let mut resp = resp.expect("the hub answers");
    let retry_after = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok()?.parse().ok());
    Answer {
        status: resp.status().as_u16(),
        retry_after,
        body: resp.body_mut().read_to_string().unwrap_or_default(),
    }
}

/// The console's sign-in form as one browser holds it: its cookie and token. The token lives
/// in the cookie, so every instance (and every life of a hub) takes the pair.
#[derive(Debug, Clone)]
struct SignInForm {
    cookie: String,
    token: String,
}

impl SignInForm {
    fn from(url: &str) -> SignInForm {
        let mut resp = agent()
            .get(&format!("{url}/console/sign-in"))
            .call()
            .expect("the sign-in form");
        let cookie = resp
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.starts_with("bianmin_signin="))
            .and_then(|c| c.split(';').next())
            .expect("the form's cookie")
            .to_string();
        let body = resp.body_mut().read_to_string().expect("the form");
        let at = body.find(r#"name="csrf" value=""#).expect("a csrf field") + 19;
        SignInForm {
            cookie,
            token: body[at..at + 32].to_string(),
        }
    }

    /// Signs in as `name` with `password` at the hub at `url`.
    fn sign_in(&self, url: &str, name: &str, password: &str) -> Answer {
        answer(
            agent()
                .post(&format!("{url}/console/sign-in?lang=en"))
                .header("Cookie", &self.cookie)
                .send_form([
                    ("csrf", self.token.as_str()),
                    ("name", name),
                    ("password", password),
                ]),
        )
    }
}

/// Looks up [`RECEIPT`] with a wrong ID ending at the hub at `url`.
fn guess(url: &str, last4: &str) -> Answer {
    let (cookie, token) = lookup_form(url);
    answer(
        agent()
            .post(&format!("{url}/lookup?lang=en"))
            .header("Cookie", &cookie)
            .send_form([
                ("receipt_no", RECEIPT),
                ("id_last4", last4),
                ("token", &token),
            ]),
    )
}

/// A wrong password, checked: 401.
fn assert_checked(a: &Answer, what: &str) {
    assert_eq!(a.status, 401, "{what}: {}", excerpt(&a.body));
}

/// Refused unchecked, with the wait of the first lock (one minute) in `Retry-After`.
fn assert_locked(a: &Answer, what: &str) {
    assert_eq!(a.status, 429, "{what}: {}", excerpt(&a.body));
    let retry = a.retry_after.expect("a Retry-After in seconds");
    assert!((50..=60).contains(&retry), "{what}: Retry-After {retry}");
    assert!(a.body.contains("Too many failed sign-ins"), "{what}");
}

/// A failed look-up, counted: 200 with the one message for "no such request".
fn assert_not_found(a: &Answer, what: &str) {
    assert_eq!(a.status, 200, "{what}: {}", excerpt(&a.body));
    assert!(a.body.contains("No request matches"), "{what}");
}

/// A look-up refused before it is looked at.
fn assert_refused(a: &Answer, what: &str) {
    assert_eq!(a.status, 429, "{what}: {}", excerpt(&a.body));
    assert!(a.retry_after.is_some_and(|s| s > 0), "{what}");
    assert!(a.body.contains("Too many unsuccessful look-ups"), "{what}");
}

/// The page's message, for a failing assertion.
fn excerpt(body: &str) -> String {
    let at = body.find(r#"class="error""#).unwrap_or(0);
    body[at..].chars().take(300).collect()
}

#[test]
fn wrong_passwords_spread_over_two_instances_count_against_one_budget() {
    let Some(pair) = TestHub::pair() else { return };
    admin::set_demo_passwords(pair.a.storage.as_ref()).expect("passwords");
    let urls = [pair.a.url.as_str(), pair.b.url.as_str()];
    let form = SignInForm::from(urls[0]);
    // Alternating: neither instance sees more than three of the five.
    for i in 0..PAIR_FAILURES {
        let a = form.sign_in(urls[i % 2], REVIEWER, &format!("guess-{i}"));
        assert_checked(&a, &format!("guess {i}"));
    }
    // The five are counted together: the name waits on both instances, even for the right
    // password.
    for (url, which) in urls.iter().zip(["A", "B"]) {
        let a = form.sign_in(url, REVIEWER, PASSWORD);
        assert_locked(&a, &format!("the right password on instance {which}"));
    }
}

#[test]
fn a_parallel_burst_over_two_instances_checks_at_most_the_budget() {
    let Some(pair) = TestHub::pair() else { return };
    admin::set_demo_passwords(pair.a.storage.as_ref()).expect("passwords");
    let urls = [pair.a.url.as_str(), pair.b.url.as_str()];
    let form = SignInForm::from(urls[0]);
    // Four clients' worth of guesses at once, two threads on each instance: one verification
    // per name at a time across both, and five in all.
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let (form, url) = (&form, urls[t % 2]);
                s.spawn(move || {
                    (0..6)
                        .map(|i| {
                            form.sign_in(url, REVIEWER, &format!("burst-{t}-{i}"))
                                .status
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        threads
            .into_iter()
            .flat_map(|t| t.join().expect("a client"))
            .collect()
    });
    let mut checked = statuses.iter().filter(|s| **s == 401).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(checked + refused, 24, "only 401 and 429: {statuses:?}");
    assert!(
        (1..=PAIR_FAILURES).contains(&checked),
        "at most {PAIR_FAILURES} checked over both instances, {checked} were: {statuses:?}"
    );
    // The burst went faster than the checks: one at a time, alternating, until refused.
    for i in 0.. {
        let a = form.sign_in(urls[i % 2], REVIEWER, "one more");
        match a.status {
            401 => checked += 1,
            429 => break,
            s => panic!("unexpected {s}: {}", excerpt(&a.body)),
        }
        assert!(checked <= PAIR_FAILURES, "a sixth password was checked");
    }
    assert_eq!(checked, PAIR_FAILURES, "five checked in all");
}

#[test]
fn lookup_guesses_spread_over_two_instances_spend_one_budget() {
    let Some(pair) = TestHub::pair() else { return };
    let urls = [pair.a.url.as_str(), pair.b.url.as_str()];
    for i in 0..LOOKUP_FAILURES {
        let a = guess(urls[i % 2], &format!("{:04}", 1000 + i));
        assert_not_found(&a, &format!("guess {i}"));
    }
    for (url, which) in urls.iter().zip(["A", "B"]) {
        assert_refused(&guess(url, "1234"), &format!("on instance {which}"));
    }
}

#[test]
fn the_counts_survive_a_restart_of_every_instance() {
    let Some(HubPair { a, b, schema }) = TestHub::pair() else {
        return;
    };
    admin::set_demo_passwords(a.storage.as_ref()).expect("passwords");
    let form = SignInForm::from(&a.url);
    for (i, url) in [&a.url, &b.url, &a.url, &b.url].into_iter().enumerate() {
        assert_checked(
            &form.sign_in(url, REVIEWER, &format!("guess-{i}")),
            &format!("guess {i}"),
        );
        assert_not_found(&guess(url, &format!("{:04}", 2000 + i)), "a look-up");
    }
    // Both instances go; a new one starts on the database.
    drop(a);
    drop(b);
    let c = TestHub::start_on(&schema);
    // Its first failure is the fifth: it already tells the client to wait, and the next
    // attempt is refused.
    let fifth = form.sign_in(&c.url, REVIEWER, "guess-4");
    assert_checked(&fifth, "the fifth guess, after the restart");
    assert!(
        fifth.body.contains("Too many failed sign-ins"),
        "the wait is named"
    );
    assert_locked(
        &form.sign_in(&c.url, REVIEWER, PASSWORD),
        "the right password after the restart",
    );
    assert_not_found(&guess(&c.url, "2004"), "the fifth look-up");
    assert_refused(&guess(&c.url, "2005"), "a look-up after the restart");
}

/// A storage that cannot keep the counts fails closed: sign-in and look-up are refused (503,
/// with a message and `Retry-After`), never let through unthrottled. Here the counts' table is
/// gone from under the running instances.
#[test]
fn without_the_counts_sign_in_and_look_up_are_refused_not_let_through() {
    let Some(pair) = TestHub::pair() else { return };
    admin::set_demo_passwords(pair.a.storage.as_ref()).expect("passwords");
    let form = SignInForm::from(&pair.a.url);
    let mut db = postgres::Client::connect(&pair.schema.url, postgres::NoTls).expect("connect");
    db.batch_execute(&format!("DROP TABLE \"{}\".counters", pair.schema.name))
        .expect("drop the counters");
    for url in [&pair.a.url, &pair.b.url] {
        let a = form.sign_in(url, REVIEWER, PASSWORD);
        assert_eq!(a.status, 503, "{}", excerpt(&a.body));
        assert!(a.retry_after.is_some_and(|s| s > 0));
        assert!(
            a.body.contains("Sign-in is unavailable"),
            "{}",
            excerpt(&a.body)
        );
        let a = guess(url, "1234");
        assert_eq!(a.status, 503, "{}", excerpt(&a.body));
        assert!(a.retry_after.is_some_and(|s| s > 0));
        assert!(
            a.body.contains("Look-ups are unavailable"),
            "{}",
            excerpt(&a.body)
        );
        assert!(!a.body.contains("No request matches"), "not looked up");
    }
}

/// Writes the demo users and their console passwords into a SQLite data directory.
fn prepare(data: &Path) {
    let storage = SqliteStorage::open(data).expect("storage");
    admin::load_demo(&storage as &dyn Storage).expect("demo data");
    admin::set_demo_passwords(&storage as &dyn Storage).expect("passwords");
}

#[test]
fn on_sqlite_the_counts_survive_a_restart_of_the_hub() {
    let data = tempfile::tempdir().unwrap();
    prepare(data.path());
    let mut hub = HubProcess::start(data.path(), None);
    let form = SignInForm::from(&hub.url);
    for i in 0..PAIR_FAILURES - 1 {
        assert_checked(
            &form.sign_in(&hub.url, REVIEWER, &format!("guess-{i}")),
            &format!("guess {i}"),
        );
        assert_not_found(&guess(&hub.url, &format!("{:04}", 3000 + i)), "a look-up");
    }
    // Killed (as by a power cut) and started again on the same data directory.
    hub.restart();
    let fifth = form.sign_in(&hub.url, REVIEWER, "guess-4");
    assert_checked(&fifth, "the fifth guess, after the restart");
    assert!(
        fifth.body.contains("Too many failed sign-ins"),
        "the wait is named"
    );
    assert_locked(
        &form.sign_in(&hub.url, REVIEWER, PASSWORD),
        "the right password after the restart",
    );
    assert_not_found(&guess(&hub.url, "3004"), "the fifth look-up");
    assert_refused(&guess(&hub.url, "3005"), "a look-up after the restart");
}
