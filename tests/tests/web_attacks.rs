//! The hub's web side under the attacks it must hold against, replayed over real HTTP against
//! a hub served like `bianmin-server serve` (the same connection limits and time-outs): a
//! parallel sign-in burst, guessing from one address while the owner signs in from another,
//! slow and half-sent requests, too many connections, oversized forms, a planted request id,
//! secure cookies, a revoked device's event stream, and the response headers of every page a
//! reviewer and an administrator can reach.

use std::collections::{BTreeSet, VecDeque};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use bianmin_protocol::{EnrolRequest, EnrolResponse, PROTOCOL_VERSION};
use bianmin_server::web::console::ConsoleConfig;
use bianmin_server::{Limits, admin};
use bianmin_tests::hub::TestHub;

const PASSWORD: &str = admin::DEMO_PASSWORD;
const REVIEWER: &str = "reviewer-taiping";
const ADMIN: &str = "admin";

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into()
}

/// A hub with the demo users, their console passwords and the demo tablet's requests.
fn demo_hub(
    configure: impl FnOnce(bianmin_server::AppState) -> bianmin_server::AppState,
) -> TestHub {
    let hub = TestHub::start_with(configure);
    admin::set_demo_passwords(hub.storage.as_ref()).expect("passwords");
    bianmin_server::demo::load(hub.storage.as_ref(), &hub.state.engine).expect("demo requests");
    hub
}

/// An answer: status, headers (lower-case names) and body.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn cookies(&self) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == "set-cookie")
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

fn answer(resp: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Answer {
    let mut resp = resp.expect("the hub answers");
    let headers = resp
        .headers()
        .iter()
        .map(|(n, v)| (n.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    Answer {
        status: resp.status().as_u16(),
        headers,
        body: resp.body_mut().read_to_string().unwrap_or_default(),
    }
}

/// A browser: its cookies, and an optional `X-Forwarded-For` (the hub trusts loopback as its
/// reverse proxy where a test says so).
#[derive(Debug, Clone, Default)]
struct Browser {
    url: String,
    cookies: Vec<(String, String)>,
    forwarded_for: Option<String>,
    /// Keeps the cookies it has whatever the answers set (a script replaying one form).
    frozen: bool,
}

impl Browser {
    fn new(hub: &TestHub) -> Browser {
        Browser {
            url: hub.url.clone(),
            ..Browser::default()
        }
    }

    fn from(hub: &TestHub, address: &str) -> Browser {
        Browser {
            forwarded_for: Some(address.to_string()),
            ..Browser::new(hub)
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep(&mut self, a: &Answer) {
        if self.frozen {
            return;
        }
        for c in a.cookies() {
            let pair = c.split(';').next().unwrap_or_default();
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            self.cookies.retain(|(n, _)| n != name);
            if !value.is_empty() && !c.contains("Max-Age=0") {
                self.cookies.push((name.to_string(), value.to_string()));
            }
        }
    }

    fn get(&mut self, path: &str) -> Answer {
        let mut req = agent().get(&format!("{}{path}", self.url));
        req = req.header("Cookie", &self.cookie_header());
        if let Some(a) = &self.forwarded_for {
            req = req.header("X-Forwarded-For", a);
        }
        let a = answer(req.call());
        self.keep(&a);
        a
    }

    fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Answer {
        let mut req = agent().post(&format!("{}{path}", self.url));
        req = req.header("Cookie", &self.cookie_header());
        if let Some(a) = &self.forwarded_for {
            req = req.header("X-Forwarded-For", a);
        }
        let a = answer(req.send_form(form.iter().copied()));
        self.keep(&a);
        a
    }

    /// Fetches the sign-in form: its token.
    fn sign_in_form(&mut self) -> String {
        let form = self.get("/console/sign-in");
        assert_eq!(form.status, 200);
        csrf_of(&form.body)
    }

    fn sign_in(&mut self, name: &str, password: &str) -> Answer {
        let token = self.sign_in_form();
        self.post(
            "/console/sign-in",
            &[("csrf", &token), ("name", name), ("password", password)],
        )
    }
}

fn csrf_of(body: &str) -> String {
    let at = body.find(r#"name="csrf" value=""#).expect("a csrf field") + 19;
    body[at..at + 32].to_string()
}

// ---------------------------------------------------------------------------------------------
// Sign-in under attack

#[test]
fn a_burst_of_200_parallel_sign_ins_checks_at_most_five_and_refuses_the_right_password() {
    // Many connections from one address are allowed here: the burst is about sign-in.
    let hub = demo_hub(|s| {
        s.with_limits(Limits {
            max_connections_per_client: 1_000,
            ..Limits::default()
        })
    });
    let mut b = Browser::new(&hub);
    let token = b.sign_in_form();
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let threads: Vec<_> = (0..50)
            .map(|_| {
                let (b, token) = (b.clone(), token.clone());
                s.spawn(move || {
                    let mut b = Browser { frozen: true, ..b };
                    (0..4)
                        .map(|i| {
                            let guess = format!("guess-{i}");
                            b.post(
                                "/console/sign-in",
                                &[("csrf", &token), ("name", REVIEWER), ("password", &guess)],
                            )
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
    assert_eq!(checked + refused, 200, "only 401 and 429: {statuses:?}");
    assert!(
        (1..=5).contains(&checked),
        "at most five checked, {checked} were"
    );
    // The burst went faster than the checks: the guesser goes on one at a time until refused.
    let mut b = Browser { frozen: true, ..b };
    loop {
        let a = b.post(
            "/console/sign-in",
            &[
                ("csrf", &token),
                ("name", REVIEWER),
                ("password", "one more"),
            ],
        );
        match a.status {
            401 => checked += 1,
            429 => break,
            s => panic!("unexpected {s}"),
        }
        assert!(checked <= 5, "a sixth password was checked");
    }
    assert_eq!(checked, 5, "five checked in all");
    // The right password is refused unchecked while the wait lasts.
    let right = b.post(
        "/console/sign-in",
        &[("csrf", &token), ("name", REVIEWER), ("password", PASSWORD)],
    );
    assert_eq!(right.status, 429, "refused while the name waits");
    let retry: u64 = right
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .expect("a Retry-After in seconds");
    assert!(
        (50..=60).contains(&retry),
        "Retry-After is the wait the page states (1 minute): {retry}"
    );
    assert!(
        right
            .cookies()
            .iter()
            .all(|c| !c.contains("bianmin_console="))
    );
}

#[test]
fn a_guesser_on_one_address_does_not_keep_the_owner_on_another_out() {
    let hub = demo_hub(|s| s.with_trusted_proxies(vec!["127.0.0.1".parse().unwrap()]));
    let mut attacker = Browser::from(&hub, "198.51.100.7");
    for i in 0..5 {
        assert_eq!(attacker.sign_in(ADMIN, &format!("guess{i}")).status, 401);
    }
    assert_eq!(attacker.sign_in(ADMIN, PASSWORD).status, 429);
    let mut owner = Browser::from(&hub, "203.0.113.20");
    let signed = owner.sign_in(ADMIN, PASSWORD);
    assert_eq!(signed.status, 303, "the administrator still signs in");
    // Spraying one password over many names from one address makes that address wait.
    let mut sprayer = Browser::from(&hub, "198.51.100.9");
    let answers: Vec<u16> = (0..25)
        .map(|i| sprayer.sign_in(&format!("user{i}"), "Summer2026!").status)
        .collect();
    assert!(answers[..20].iter().all(|s| *s == 401), "{answers:?}");
    assert!(answers[20..].iter().all(|s| *s == 429), "{answers:?}");
}

#[test]
fn sessions_end_when_the_password_is_reset_and_when_an_admin_signs_a_user_out_everywhere() {
    let hub = demo_hub(|s| s);
    let mut reviewer = Browser::new(&hub);
    assert_eq!(reviewer.sign_in(REVIEWER, PASSWORD).status, 303);
    let mut second = Browser::new(&hub);
    assert_eq!(second.sign_in(REVIEWER, PASSWORD).status, 303);
    assert_eq!(reviewer.get("/console/requests").status, 200);

    let mut admin = Browser::new(&hub);
    assert_eq!(admin.sign_in(ADMIN, PASSWORD).status, 303);
    let user = hub
        .storage
        .user_by_name(REVIEWER)
        .unwrap()
        .expect("reviewer");
    let page = admin.get(&format!("/console/admin/users/{}", user.id));
    let token = csrf_of(&page.body);
    let done = admin.post(
        &format!("/console/admin/users/{}/password", user.id),
        &[
            ("csrf", &token),
            ("password", "a new password 2026"),
            ("again", "a new password 2026"),
        ],
    );
    assert_eq!(done.status, 303);
    for b in [&mut reviewer, &mut second] {
        let a = b.get("/console/requests");
        assert_eq!(a.status, 303, "signed out by the new password");
        assert!(
            a.header("location")
                .unwrap()
                .starts_with("/console/sign-in")
        );
    }
    assert_eq!(admin.get("/console/requests").status, 200, "others stay");

    // Sign out everywhere.
    assert_eq!(
        reviewer.sign_in(REVIEWER, "a new password 2026").status,
        303
    );
    let page = admin.get(&format!("/console/admin/users/{}", user.id));
    assert!(page.body.contains("sessions/end"), "the button is there");
    let done = admin.post(
        &format!("/console/admin/users/{}/sessions/end", user.id),
        &[("csrf", &csrf_of(&page.body))],
    );
    assert_eq!(done.status, 303);
    let shown = admin.get(done.header("location").unwrap());
    assert!(
        shown.body.contains("已退出这个用户的 1 个会话"),
        "{}",
        shown.body
    );
    assert_eq!(reviewer.get("/console/requests").status, 303);
}

#[test]
fn a_session_ended_from_the_command_line_ends_in_the_serving_hub_within_seconds() {
    let hub = demo_hub(|s| s);
    let mut reviewer = Browser::new(&hub);
    assert_eq!(reviewer.sign_in(REVIEWER, PASSWORD).status, 303);
    assert_eq!(reviewer.get("/console/requests").status, 200);
    // What `bianmin-server user password` does, on the same data directory.
    admin::set_password(hub.storage.as_ref(), REVIEWER, Some("reset by the county")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while reviewer.get("/console/requests").status == 200 {
        assert!(Instant::now() < deadline, "still signed in after the reset");
        std::thread::sleep(Duration::from_millis(250));
    }
}

// ---------------------------------------------------------------------------------------------
// Slow clients, many connections, large bodies

fn short_limits() -> Limits {
    Limits {
        header_read_timeout: Duration::from_secs(1),
        body_idle_timeout: Duration::from_secs(1),
        page_timeout: Duration::from_secs(2),
        max_connections_per_client: 4,
        ..Limits::default()
    }
}

fn connect(hub: &TestHub) -> TcpStream {
    let addr = hub.url.trim_start_matches("http://");
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(8))).unwrap();
    s
}

/// Reads until the hub closes the connection; what it sent. Panics if it keeps it open.
fn read_until_closed(s: &mut TcpStream) -> String {
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return String::from_utf8_lossy(&all).into_owned(),
            Ok(n) => all.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return String::from_utf8_lossy(&all).into_owned();
            }
            Err(e) => panic!(
                "the connection stayed open ({e}); got {:?}",
                String::from_utf8_lossy(&all)
            ),
        }
    }
}

#[test]
fn half_sent_headers_and_idle_connections_are_closed_after_the_time_out() {
    let hub = demo_hub(|s| s.with_limits(short_limits()));
    let mut half = connect(&hub);
    half.write_all(b"GET /public HTTP/1.1\r\nHost: hub\r\nX-Slow: ")
        .unwrap();
    read_until_closed(&mut half);

    let mut idle = connect(&hub);
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: hub\r\n\r\n")
        .unwrap();
    let answered = read_until_closed(&mut idle);
    assert!(answered.starts_with("HTTP/1.1 200"), "{answered}");
}

#[test]
fn a_stalled_or_trickled_body_is_cut_off() {
    let hub = demo_hub(|s| s.with_limits(short_limits()));
    // Announces 1,000 bytes, sends 10 and stops.
    let mut stalled = connect(&hub);
    stalled
        .write_all(b"POST /lookup HTTP/1.1\r\nHost: hub\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nreceipt=12")
        .unwrap();
    let got = read_until_closed(&mut stalled);
    assert!(
        got.is_empty() || got.starts_with("HTTP/1.1 4"),
        "an error or a closed connection: {got}"
    );
    // Sends one byte every 400 ms: each pause is short, the whole takes too long.
    let mut trickle = connect(&hub);
    trickle
        .write_all(b"POST /lookup HTTP/1.1\r\nHost: hub\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n")
        .unwrap();
    let started = Instant::now();
    let mut answer = String::new();
    trickle
        .set_read_timeout(Some(Duration::from_millis(400)))
        .unwrap();
    while started.elapsed() < Duration::from_secs(10) {
        if trickle.write_all(b"a").is_err() {
            break;
        }
        let mut buf = [0u8; 2048];
        match trickle.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                answer.push_str(&String::from_utf8_lossy(&buf[..n]));
                break;
            }
            Err(_) => continue,
        }
    }
    assert!(
        answer.starts_with("HTTP/1.1 408"),
        "the trickle gets 408 after the page time-out: {answer:?}"
    );
    assert!(answer.contains("request_timeout"), "{answer}");
}

#[test]
fn one_address_cannot_hold_more_than_its_connections() {
    let hub = demo_hub(|s| s.with_limits(short_limits()));
    let held: Vec<TcpStream> = (0..4)
        .map(|_| {
            let mut s = connect(&hub);
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: hub\r\n\r\n")
                .unwrap();
            let mut buf = [0u8; 512];
            assert!(s.read(&mut buf).unwrap() > 0, "answered");
            s
        })
        .collect();
    let mut fifth = connect(&hub);
    let _ = fifth.write_all(b"GET /healthz HTTP/1.1\r\nHost: hub\r\n\r\n");
    assert_eq!(read_until_closed(&mut fifth), "", "closed unanswered");
    drop(held);
    std::thread::sleep(Duration::from_millis(200));
    let a = answer(agent().get(&format!("{}/healthz", hub.url)).call());
    assert_eq!(a.status, 200, "a place again once others closed");
}

#[test]
fn forms_have_a_small_body_limit_and_sync_a_large_one() {
    let hub = demo_hub(|s| s);
    let big = "x".repeat(100 * 1024);
    let a = answer(
        agent()
            .post(&format!("{}/lookup", hub.url))
            .send_form([("receipt", big.as_str()), ("id_last4", "1234")]),
    );
    assert_eq!(a.status, 413, "{}", a.body);
    let a = answer(
        agent()
            .post(&format!("{}/console/sign-in", hub.url))
            .send_form([("name", big.as_str()), ("password", "x")]),
    );
    assert_eq!(a.status, 413);
}

// ---------------------------------------------------------------------------------------------
// Headers, cookies, request ids

#[test]
fn the_hub_makes_its_own_request_ids() {
    let hub = demo_hub(|s| s);
    let a = answer(
        agent()
            .get(&format!("{}/healthz", hub.url))
            .header("X-Request-Id", "planted-by-client")
            .call(),
    );
    let id = a.header("x-request-id").expect("an id");
    assert_ne!(id, "planted-by-client");
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
}

#[test]
fn with_secure_cookies_every_cookie_is_secure_and_the_console_uses_host_prefixed_ones() {
    let hub = demo_hub(|s| {
        s.with_console(ConsoleConfig {
            secure_cookies: true,
            ..ConsoleConfig::default()
        })
    });
    let mut b = Browser::new(&hub);
    let form = b.get("/console/sign-in");
    let cookie = form.cookies()[0];
    assert!(cookie.starts_with("__Host-bianmin_signin="), "{cookie}");
    assert!(
        cookie.contains("; Secure") && cookie.contains("Path=/;"),
        "{cookie}"
    );
    assert!(form.header("strict-transport-security").is_some());
    let signed = b.post(
        "/console/sign-in",
        &[
            ("csrf", &csrf_of(&form.body)),
            ("name", REVIEWER),
            ("password", PASSWORD),
        ],
    );
    assert_eq!(signed.status, 303);
    let session = signed
        .cookies()
        .into_iter()
        .find(|c| c.starts_with("__Host-bianmin_console="))
        .expect("a host-prefixed session cookie");
    assert!(session.contains("Secure"));
    assert_eq!(b.get("/console/requests").status, 200);
    let english = b.get("/public?lang=en");
    assert!(
        english.cookies().iter().all(|c| c.contains("; Secure")),
        "{:?}",
        english.cookies()
    );
}

/// Every `href` of a page that stays on the hub.
fn links(body: &str) -> Vec<String> {
    body.split("href=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(|l| l.replace("&amp;", "&"))
        .filter(|l| l.starts_with('/') && !l.starts_with("//"))
        .collect()
}

/// Crawls every page reachable from `start` (at most `most`), checking each answer's headers.
fn crawl(b: &mut Browser, start: &[&str], most: usize) -> usize {
    let mut seen: BTreeSet<String> = start.iter().map(|s| s.to_string()).collect();
    let mut queue: VecDeque<String> = seen.iter().cloned().collect();
    let mut pages = 0;
    while let Some(path) = queue.pop_front() {
        if pages >= most {
            break;
        }
        let a = b.get(&path);
        pages += 1;
        assert!(a.status < 500, "{path}: {}", a.status);
        let csp = a.header("content-security-policy").unwrap_or_default();
        assert!(
            csp.contains("frame-ancestors 'none'") && csp.contains("form-action 'self'"),
            "{path}: {csp}"
        );
        assert!(!csp.contains("unsafe-inline"), "{path}");
        assert_eq!(
            a.header("x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
        assert_eq!(a.header("x-frame-options"), Some("DENY"), "{path}");
        assert!(a.header("referrer-policy").is_some(), "{path}");
        if path.starts_with("/console") {
            assert_eq!(a.header("cache-control"), Some("no-store"), "{path}");
        }
        let html = a
            .header("content-type")
            .is_some_and(|t| t.starts_with("text/html"));
        if html {
            assert!(!a.body.contains("<script"), "{path}: a script");
            assert!(!a.body.contains("<style"), "{path}: an inline style sheet");
            assert!(!a.body.contains(" style=\""), "{path}: an inline style");
            for l in links(&a.body) {
                // Signing out would end the crawl's session.
                if !l.starts_with("/console/sign-out") && seen.insert(l.clone()) {
                    queue.push_back(l);
                }
            }
        }
    }
    pages
}

#[test]
fn every_page_a_reviewer_an_admin_and_the_public_reach_carries_the_security_headers() {
    let hub = demo_hub(|s| s);
    let mut public = Browser::new(&hub);
    let n = crawl(
        &mut public,
        &["/public", "/lookup", "/console/sign-in"],
        200,
    );
    assert!(n >= 3, "{n} public pages");
    for user in [REVIEWER, ADMIN] {
        let mut b = Browser::new(&hub);
        assert_eq!(b.sign_in(user, PASSWORD).status, 303);
        let n = crawl(&mut b, &["/console/requests", "/console/agenda"], 300);
        assert!(n >= 10, "{user}: only {n} pages");
    }
}

#[test]
fn a_look_up_posted_from_another_site_is_refused_unanswered() {
    let hub = demo_hub(|s| s);
    // A page elsewhere makes its visitor's phone post a guess: no form token, no cookie.
    let forged = answer(agent().post(&format!("{}/lookup", hub.url)).send_form([
        ("receipt_no", "370883101201-001-000001"),
        ("id_last4", "1234"),
    ]));
    assert_eq!(forged.status, 403);
    assert!(forged.body.contains("查询表单已过期"), "{}", forged.body);
    assert!(
        !forged.body.contains("没有找到"),
        "the guess was not checked"
    );
    // The same post from the hub's own form is answered.
    let (cookie, token) = bianmin_tests::raw::lookup_form(&hub.url);
    let own = answer(
        agent()
            .post(&format!("{}/lookup", hub.url))
            .header("Cookie", &cookie)
            .send_form([
                ("receipt_no", "370883101201-001-000001"),
                ("id_last4", "1234"),
                ("token", &token),
            ]),
    );
    assert_eq!(own.status, 200);
    assert!(own.body.contains("没有找到"), "checked: {}", own.body);
    assert_eq!(own.header("cache-control"), Some("no-store"));
}

// ---------------------------------------------------------------------------------------------
// Devices

#[test]
fn a_revoked_devices_event_stream_is_closed() {
    let hub = demo_hub(|s| s);
    let req = EnrolRequest {
        protocol: PROTOCOL_VERSION,
        code: hub.code("clerk-east"),
        device_name: "east tablet".into(),
    };
    let enrolled: EnrolResponse = serde_json::from_str(
        &answer(
            agent()
                .post(&format!("{}/api/v1/enrol", hub.url))
                .send_json(&req),
        )
        .body,
    )
    .expect("enrolled");
    let mut stream = connect(&hub);
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "GET /api/v1/events HTTP/1.1\r\nHost: hub\r\nAuthorization: Bearer {}\r\n\r\n",
        enrolled.token
    )
    .unwrap();
    let mut head = [0u8; 1024];
    let n = stream.read(&mut head).unwrap();
    assert!(String::from_utf8_lossy(&head[..n]).starts_with("HTTP/1.1 200"));
    admin::revoke_device(hub.storage.as_ref(), &enrolled.device_id).unwrap();
    // The stream ends: the last chunk of a chunked body, or the connection closed.
    let mut rest = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                rest.extend_from_slice(&buf[..n]);
                if rest.ends_with(b"0\r\n\r\n") {
                    break;
                }
            }
            Err(e) => panic!("the revoked device's stream stayed open: {e}"),
        }
    }
}
