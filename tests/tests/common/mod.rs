//! What the console's integration tests share: a hub served on a loopback port and as a router,
//! tablets (real client stores) that enrol and sync with it, and a browser that keeps cookies.
//! Each test file includes it with `mod common;`.

// Every test file that includes this module compiles it as its own crate, and none uses every
// item, so without this each would warn about the items only the others use.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use bianmin_client_core::client::{self, SyncError, SyncOptions};
use bianmin_client_core::{NewRequest, Store};
use bianmin_domain::{Action, AttrValue, Timestamp};
use bianmin_server::storage::Storage;
use bianmin_server::storage::sqlite::SqliteStorage;
use bianmin_server::web::console::ConsoleConfig;
use bianmin_server::{AppState, admin, app};
use chrono::NaiveDate;
use http_body_util::BodyExt;
use tower::ServiceExt;
use uuid::Uuid;

pub const PASSWORD: &str = "correct horse 7";
pub const REVIEWER: &str = "reviewer-taiping";
pub const CLERK: &str = "clerk-east";
pub const ADMIN: &str = "admin";

// ---------------------------------------------------------------------------------------------
// A hub, tablets and a browser

pub struct Hub {
    pub app: Router,
    pub state: AppState,
    pub storage: Arc<dyn Storage>,
    pub url: String,
    pub dir: tempfile::TempDir,
}

/// The demo hub, with `config`, after `setup` has run on its storage (on a blocking thread; it
/// adds the test's users and sets their passwords), served on a loopback port for the tablets
/// and as a router for the browser.
pub async fn serve_hub(
    config: ConsoleConfig,
    setup: impl FnOnce(&dyn Storage) + Send + 'static,
) -> Hub {
    let dir = tempfile::tempdir().unwrap();
    let storage: Arc<dyn Storage> = Arc::new(SqliteStorage::open(dir.path()).unwrap());
    let s = storage.clone();
    tokio::task::spawn_blocking(move || {
        admin::load_demo(s.as_ref()).unwrap();
        setup(s.as_ref());
    })
    .await
    .unwrap();
    let state = AppState::new(storage.clone()).with_console(config);
    let app = app(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let served = app.clone();
    tokio::spawn(async move {
        let _ = axum::serve(listener, served).await;
    });
    Hub {
        app,
        state,
        storage,
        url,
        dir,
    }
}

pub fn quick() -> SyncOptions {
    SyncOptions {
        attempts: 3,
        backoff: Duration::from_millis(50),
        ..SyncOptions::default()
    }
}

pub type Tablet = Arc<Mutex<Store>>;

/// Enrols a tablet with `code` (blocking work on a blocking thread).
pub async fn enrol(hub: &Hub, code: &str, name: &'static str) -> Result<Tablet, SyncError> {
    let (url, path, code) = (
        hub.url.clone(),
        hub.dir.path().join(format!("{name}.db")),
        code.to_string(),
    );
    tokio::task::spawn_blocking(move || {
        client::enroll(path, &url, &code, name, &quick()).map(|s| Arc::new(Mutex::new(s)))
    })
    .await
    .unwrap()
}

/// Enrols a tablet for `user` with a code issued on the command line's path.
pub async fn tablet(hub: &Hub, user: &'static str, name: &'static str) -> Tablet {
    let storage = hub.storage.clone();
    let code = tokio::task::spawn_blocking(move || {
        admin::issue_enrolment_code(storage.as_ref(), user, Duration::from_secs(600)).unwrap()
    })
    .await
    .unwrap();
    enrol(hub, &code, name).await.unwrap()
}

/// Runs `f` on the tablet's store on a blocking thread.
pub async fn on<T: Send + 'static>(
    t: &Tablet,
    f: impl FnOnce(&mut Store) -> T + Send + 'static,
) -> T {
    let t = t.clone();
    tokio::task::spawn_blocking(move || f(&mut t.lock().unwrap()))
        .await
        .unwrap()
}

/// Syncs the tablet; the hub refuses none of its changes.
pub async fn try_sync(t: &Tablet) -> Result<(), SyncError> {
    let t = t.clone();
    tokio::task::spawn_blocking(move || {
        let report = client::sync(&t, &quick(), &mut |_| {})?;
        assert!(report.refused.is_empty(), "{:?}", report.refused);
        Ok(())
    })
    .await
    .unwrap()
}

/// [`try_sync`], which must succeed.
pub async fn sync(t: &Tablet) {
    try_sync(t).await.unwrap();
}

pub fn soc_card(name: &str) -> NewRequest {
    NewRequest {
        item_code: "SOC-CARD".into(),
        applicant_name: name.into(),
        id_number: "11010519491231002X".into(),
        phone: "13812345678".into(),
        grid: "1组".into(),
        attributes: [("reason".to_string(), AttrValue::Text("lost".into()))].into(),
        // Every material SOC-CARD requires: `file` accepts it.
        materials_received: vec!["ID card".into(), "Recent photo".into()],
        resident_user: None,
        submit: true,
    }
}

/// Files, accepts (on `accepted_on`, today if `None`) and, if `forward`, forwards a request on
/// the tablet; returns its id and receipt number.
pub async fn file(
    t: &Tablet,
    new: NewRequest,
    accepted_on: Option<NaiveDate>,
    forward: bool,
) -> (Uuid, String) {
    file_waiving(t, new, &[], accepted_on, forward).await
}

/// The reason [`file_waiving`] gives for each waiver.
pub const WAIVER_REASON: &str = "申请人承诺补交";

/// [`file`], waiving each of `waived` (容缺受理, with [`WAIVER_REASON`]) before the acceptance:
/// the request goes on without those materials in hand.
pub async fn file_waiving(
    t: &Tablet,
    new: NewRequest,
    waived: &[&str],
    accepted_on: Option<NaiveDate>,
    forward: bool,
) -> (Uuid, String) {
    let waived: Vec<String> = waived.iter().map(|m| m.to_string()).collect();
    on(t, move |s| {
        if let Some(day) = accepted_on {
            let at = Timestamp::at_noon(day);
            s.set_clock(Arc::new(move || at));
        }
        let r = s.file_request(new).unwrap();
        for material in waived {
            let action = Action::WaiveMaterial {
                material,
                reason: WAIVER_REASON.into(),
            };
            s.apply(r.id, action).unwrap();
        }
        s.apply(r.id, Action::Accept).unwrap();
        if forward {
            s.apply(r.id, Action::Forward).unwrap();
        }
        s.set_clock(Arc::new(Timestamp::now));
        (r.id, r.receipt_no.as_str().to_string())
    })
    .await
}

/// Files, accepts and forwards a request on the tablet today; returns its id.
pub async fn file_and_forward(t: &Tablet, new: NewRequest) -> Uuid {
    file(t, new, None, true).await.0
}

/// An answer, read whole.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub location: Option<String>,
    pub content_type: Option<String>,
    pub disposition: Option<String>,
    pub set_cookies: Vec<String>,
    pub bytes: Vec<u8>,
    /// The bytes as text (lossily: an export need not be UTF-8).
    pub body: String,
}

/// A browser: keeps cookies, never follows redirects.
pub struct Browser {
    pub app: Router,
    pub cookies: BTreeMap<String, String>,
}

pub fn encode(fields: &[(&str, &str)]) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect::<String>()
    };
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The CSRF token of the first form on a page.
pub fn csrf(body: &str) -> String {
    let at = body
        .find(r#"name="csrf" value=""#)
        .unwrap_or_else(|| panic!("no CSRF field in {body}"));
    let rest = &body[at + r#"name="csrf" value=""#.len()..];
    rest[..rest.find('"').unwrap()].to_string()
}

/// The text between `start` and the next `<`.
pub fn text_after<'a>(body: &'a str, start: &str) -> &'a str {
    let at = body
        .find(start)
        .unwrap_or_else(|| panic!("no {start} in {body}"));
    let rest = &body[at + start.len()..];
    &rest[..rest.find('<').unwrap()]
}

/// Every visible form control has an id and a `<label for>` naming it.
pub fn assert_labelled(body: &str) {
    for tag in ["<input", "<select", "<textarea"] {
        for (at, _) in body.match_indices(tag) {
            let end = body[at..].find('>').unwrap() + at;
            let element = &body[at..end];
            if element.contains(r#"type="hidden""#) {
                continue;
            }
            let id_at = element
                .find(" id=\"")
                .unwrap_or_else(|| panic!("a control without id: {element}"));
            let id = &element[id_at + 5..];
            let id = &id[..id.find('"').unwrap()];
            assert!(
                body.contains(&format!(r#"for="{id}""#)),
                "no <label for=\"{id}\">: {element}"
            );
        }
    }
}

impl Browser {
    pub fn new(hub: &Hub) -> Browser {
        Browser {
            app: hub.app.clone(),
            cookies: BTreeMap::new(),
        }
    }

    pub async fn send(&mut self, mut req: Request<Body>) -> Answer {
        if !self.cookies.is_empty() {
            let cookie = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ");
            req.headers_mut()
                .insert(header::COOKIE, cookie.parse().unwrap());
        }
        let res = self.app.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let header_of = |name| {
            res.headers()
                .get(name)
                .map(|v: &header::HeaderValue| v.to_str().unwrap().to_string())
        };
        let location = header_of(header::LOCATION);
        let content_type = header_of(header::CONTENT_TYPE);
        let disposition = header_of(header::CONTENT_DISPOSITION);
        let set_cookies: Vec<String> = res
            .headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect();
        for c in &set_cookies {
            let (k, v) = c.split(';').next().unwrap().split_once('=').unwrap();
            if c.contains("Max-Age=0") {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_string(), v.to_string());
            }
        }
        let bytes = res.into_body().collect().await.unwrap().to_bytes().to_vec();
        Answer {
            status,
            location,
            content_type,
            disposition,
            set_cookies,
            body: String::from_utf8_lossy(&bytes).into_owned(),
            bytes,
        }
    }

    pub async fn get(&mut self, uri: &str) -> Answer {
        self.send(Request::get(uri).body(Body::empty()).unwrap())
            .await
    }

    pub async fn post(&mut self, uri: &str, fields: &[(&str, &str)]) -> Answer {
        self.send(
            Request::post(uri)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(encode(fields)))
                .unwrap(),
        )
        .await
    }

    /// Posts a form of the page at `page`, with that page's CSRF token.
    pub async fn submit(&mut self, page: &str, action: &str, fields: &[(&str, &str)]) -> Answer {
        let token = csrf(&self.get(page).await.body);
        let mut all = vec![("csrf", token.as_str())];
        all.extend_from_slice(fields);
        self.post(action, &all).await
    }

    /// Posts a form as `multipart/form-data`, the way a browser sends a form with a file input:
    /// `fields` as text parts, then `file` as the file part `(field name, file name, bytes)`.
    pub async fn post_multipart(
        &mut self,
        uri: &str,
        fields: &[(&str, &str)],
        file: (&str, &str, &[u8]),
    ) -> Answer {
        const BOUNDARY: &str = "----bianmin-test-boundary-7MA4YWxkTrZu0gW";
        let mut body = Vec::new();
        for (name, value) in fields {
            body.extend_from_slice(
                format!(
                    "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
                )
                .as_bytes(),
            );
        }
        let (name, filename, bytes) = file;
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\nContent-Type: application/json\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
        self.send(
            Request::post(uri)
                .header(
                    header::CONTENT_TYPE,
                    format!("multipart/form-data; boundary={BOUNDARY}"),
                )
                .body(Body::from(body))
                .unwrap(),
        )
        .await
    }

    pub async fn sign_in(&mut self, name: &str, password: &str) -> Answer {
        self.submit(
            "/console/sign-in",
            "/console/sign-in",
            &[("name", name), ("password", password), ("next", "")],
        )
        .await
    }

    /// A browser signed in as `name` with [`PASSWORD`].
    pub async fn signed_in(hub: &Hub, name: &str) -> Browser {
        let mut b = Browser::new(hub);
        let a = b.sign_in(name, PASSWORD).await;
        assert_eq!(a.status, StatusCode::SEE_OTHER, "{name}: {}", a.body);
        b
    }
}
