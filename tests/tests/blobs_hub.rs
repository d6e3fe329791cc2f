//! Attachment bytes on the hub (`/api/v1/blobs`, see "Attachments" in docs/sync-protocol.md):
//! a clerk's tablet attaches a photo and syncs the request; its bytes are then uploaded over
//! raw HTTP in chunks, resumably, checked (offset, signature, size, hash), and served only to
//! those who may read the request: the township's devices (whole or from an offset) and its
//! reviewer in the console, never a device of another village nor a reviewer of another
//! township.

use std::sync::Mutex;

use bianmin_client_core::client::sync;
use bianmin_domain::{Action, Role};
use bianmin_server::admin;
use bianmin_tests::hub::{CLERK, REVIEWER, TestHub, quick};
use bianmin_tests::social_card_request;
use serde_json::Value as Json;
use uuid::Uuid;

const MIB: usize = 1024 * 1024;

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into()
}

/// An answer: status, headers we look at, body.
struct Reply {
    status: u16,
    headers: ureq::http::HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Json {
        serde_json::from_slice(&self.body).unwrap_or(Json::Null)
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "{}", self.text());
        assert_eq!(self.json()["error"]["code"], code, "{}", self.text());
        assert!(
            !self.json()["error"]["message"]
                .as_str()
                .unwrap_or("")
                .is_empty()
        );
    }

    fn assert_status(&self, received: usize, complete: bool) {
        assert_eq!(self.status, 200, "{}", self.text());
        let j = self.json();
        assert_eq!(j["received"], received as u64, "{j}");
        assert_eq!(j["complete"], complete, "{j}");
    }
}

fn reply(res: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Reply {
    let mut res = res.expect("the hub answers");
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let body = res
        .body_mut()
        .with_config()
        .limit(64 * MIB as u64)
        .read_to_vec()
        .expect("body");
    Reply {
        status,
        headers,
        body,
    }
}

/// A device speaking raw HTTP with its token.
struct Device {
    url: String,
    token: String,
}

impl Device {
    fn of(store: &bianmin_client_core::Store) -> Device {
        let (url, token) = store.server().unwrap().expect("enrolled");
        Device { url, token }
    }

    fn auth(&self) -> String {
        format!("Bearer {}", self.token)
    }

    fn status(&self, sha: &str) -> Reply {
        reply(
            agent()
                .get(&format!("{}/api/v1/blobs/{sha}/status", self.url))
                .header("Authorization", &self.auth())
                .call(),
        )
    }

    fn put(&self, sha: &str, offset: usize, chunk: &[u8]) -> Reply {
        reply(
            agent()
                .put(&format!("{}/api/v1/blobs/{sha}?offset={offset}", self.url))
                .header("Authorization", &self.auth())
                .header("Content-Type", "application/octet-stream")
                .send(chunk),
        )
    }

    fn get(&self, sha: &str, range: Option<&str>) -> Reply {
        let mut req = agent()
            .get(&format!("{}/api/v1/blobs/{sha}", self.url))
            .header("Authorization", &self.auth());
        if let Some(r) = range {
            req = req.header("Range", r);
        }
        reply(req.call())
    }
}

/// A console session over HTTP: signs in with the sign-in form's CSRF token and cookie.
struct Console {
    url: String,
    session: String,
}

fn cookie_of(r: &Reply, name: &str) -> String {
    r.headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.strip_prefix(&format!("{name}=")))
        .and_then(|rest| rest.split(';').next())
        .unwrap_or_else(|| panic!("no {name} cookie"))
        .to_string()
}

impl Console {
    fn sign_in(url: &str, name: &str, password: &str) -> Console {
        let form = reply(agent().get(&format!("{url}/console/sign-in")).call());
        let body = form.text();
        let marker = r#"name="csrf" value=""#;
        let at = body.find(marker).expect("a CSRF field") + marker.len();
        let csrf = &body[at..at + body[at..].find('"').unwrap()];
        let signin = cookie_of(&form, "bianmin_signin");
        let done = reply(
            agent()
                .post(&format!("{url}/console/sign-in"))
                .header("Cookie", &format!("bianmin_signin={signin}"))
                .send_form([
                    ("csrf", csrf),
                    ("name", name),
                    ("password", password),
                    ("next", ""),
                ]),
        );
        assert_eq!(done.status, 303, "{name} signs in: {}", done.text());
        Console {
            url: url.to_string(),
            session: cookie_of(&done, "bianmin_console"),
        }
    }

    fn get(&self, path: &str) -> Reply {
        reply(
            agent()
                .get(&format!("{}{path}", self.url))
                .header("Cookie", &format!("bianmin_console={}", self.session))
                .call(),
        )
    }
}

/// A JPEG-signed photo of 2.5 MiB (three chunks), its bytes varied so that a flipped byte
/// changes the hash.
fn photo() -> Vec<u8> {
    let mut bytes = vec![0xFF, 0xD8, 0xFF, 0xE0];
    bytes
        .extend((0..(5 * MIB / 2 - 4) as u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    bytes
}

#[test]
fn attachment_bytes_are_uploaded_resumably_and_served_to_readers_only() {
    let hub = TestHub::start();
    let storage = hub.storage.as_ref();
    admin::add_user(
        storage,
        "clerk-west",
        "西村代办员",
        Role::Clerk,
        "370883101202",
    )
    .unwrap();
    admin::add_user(
        storage,
        "reviewer-shiqiang",
        "石墙镇审核员",
        Role::Reviewer,
        "370883102",
    )
    .unwrap();
    for name in [REVIEWER, "reviewer-shiqiang"] {
        admin::set_password(storage, name, Some(admin::DEMO_PASSWORD)).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let clerk = Mutex::new(hub.enrol(CLERK, dir.path(), "east-tablet"));
    let west = hub.enrol("clerk-west", dir.path(), "west-tablet");
    let reviewer = hub.enrol(REVIEWER, dir.path(), "township-desk");

    let bytes = photo();
    let (id, reference) = {
        let mut s = clerk.lock().unwrap();
        let id = s.file_request(social_card_request()).unwrap().id;
        let r = s.attach_bytes(id, "ID card", &bytes).unwrap();
        s.apply(id, Action::Accept).unwrap();
        s.apply(id, Action::Forward).unwrap();
        (id, r)
    };
    let sha = reference.sha256.clone();
    assert_eq!(reference.size, bytes.len() as u64);
    let report = sync(&clerk, &quick(), &mut |_| {}).unwrap();
    assert!(report.refused.is_empty(), "{:?}", report.refused);

    let east = Device::of(&clerk.lock().unwrap());
    let west = Device::of(&west);
    let township = Device::of(&reviewer);
    let chunks: Vec<&[u8]> = bytes.chunks(MIB).collect();
    assert_eq!(chunks.len(), 3);

    // Nothing yet: the readers see it missing.
    east.status(&sha).assert_status(0, false);
    township.status(&sha).assert_status(0, false);
    township.get(&sha, None).assert_error(404, "not_uploaded");

    // Refusals that keep nothing: not a JPEG, a wrong offset, a chunk over 1 MiB.
    let mut gif = b"GIF89a".to_vec();
    gif.extend_from_slice(&chunks[0][6..]);
    east.put(&sha, 0, &gif).assert_error(415, "media_type");
    east.status(&sha).assert_status(0, false);
    let wrong = east.put(&sha, 5, chunks[0]);
    wrong.assert_error(409, "offset_mismatch");
    assert_eq!(wrong.json()["received"], 0);
    // The hub answers an over-long chunk at once, without reading it: the answer may reach
    // a client still writing its body, or the client may only see the connection close.
    let too_long = agent()
        .put(&format!("{}/api/v1/blobs/{sha}?offset=0", east.url))
        .header("Authorization", &east.auth())
        .header("Content-Type", "application/octet-stream")
        .send(&bytes[..MIB + 1]);
    if let Ok(res) = too_long {
        reply(Ok(res)).assert_error(413, "chunk_too_large");
    }
    east.status(&sha).assert_status(0, false);

    // A byte corrupted on the way: the whole fails its hash, the partial is dropped, and the
    // upload starts over.
    east.put(&sha, 0, chunks[0]).assert_status(MIB, false);
    let mut corrupted = chunks[1].to_vec();
    corrupted[1000] ^= 0x55;
    east.put(&sha, MIB, &corrupted)
        .assert_status(2 * MIB, false);
    east.put(&sha, 2 * MIB, chunks[2])
        .assert_error(422, "hash_mismatch");
    east.status(&sha).assert_status(0, false);
    township.get(&sha, None).assert_error(404, "not_uploaded");

    // Again, resumed after an interruption: the hub names where to continue.
    east.put(&sha, 0, chunks[0]).assert_status(MIB, false);
    let again = east.put(&sha, 0, chunks[0]);
    again.assert_error(409, "offset_mismatch");
    assert_eq!(again.json()["received"], MIB as u64);
    assert!(
        again.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&MIB.to_string())
    );
    east.status(&sha).assert_status(MIB, false);
    east.put(&sha, MIB, chunks[1]).assert_status(2 * MIB, false);
    // Bytes beyond the reference's size are refused; the partial stays as it was.
    east.put(&sha, 2 * MIB, &bytes[..MIB])
        .assert_error(413, "too_large");
    east.status(&sha).assert_status(2 * MIB, false);
    east.put(&sha, 2 * MIB, chunks[2])
        .assert_status(bytes.len(), true);
    let done = east.status(&sha);
    done.assert_status(bytes.len(), true);
    assert_eq!(done.json()["sha256"], sha);
    // Idempotent: the blob is complete whatever is sent again.
    east.put(&sha, 0, chunks[0])
        .assert_status(bytes.len(), true);

    // A device of another village reads nothing of it, nor may it upload.
    west.status(&sha).assert_error(403, "forbidden");
    west.put(&sha, 0, chunks[0]).assert_error(403, "forbidden");
    west.get(&sha, None).assert_error(403, "forbidden");
    // Nor does anyone download a hash no request refers to.
    township
        .get(&"0".repeat(64), None)
        .assert_error(403, "forbidden");

    // The township's reviewer downloads it, whole and resumed from an offset.
    let whole = township.get(&sha, None);
    assert_eq!(whole.status, 200);
    assert_eq!(whole.header("content-type"), "image/jpeg");
    assert_eq!(whole.header("content-length"), bytes.len().to_string());
    assert!(whole.body == bytes, "the bytes match");
    let rest = township.get(&sha, Some("bytes=1500000-"));
    assert_eq!(rest.status, 206, "{}", rest.text());
    assert_eq!(
        rest.header("content-range"),
        format!("bytes 1500000-{}/{}", bytes.len() - 1, bytes.len())
    );
    assert!(rest.body == bytes[1_500_000..], "the rest matches");
    township
        .get(&sha, Some(&format!("bytes={}-", bytes.len())))
        .assert_error(416, "range_not_satisfiable");

    // The console: the request's page lists it with a link; the bytes are served inline,
    // never sniffed or cached, to the reviewer of the township only.
    let console = Console::sign_in(&hub.url, REVIEWER, admin::DEMO_PASSWORD);
    let page = console.get(&format!("/console/requests/{id}"));
    assert_eq!(page.status, 200);
    let link = format!("/console/requests/{id}/attachments/{sha}");
    assert!(page.text().contains(&link), "{}", page.text());
    let shown = console.get(&link);
    assert_eq!(shown.status, 200, "{}", shown.text());
    assert_eq!(shown.header("content-type"), "image/jpeg");
    assert_eq!(shown.header("content-disposition"), "inline");
    assert_eq!(shown.header("x-content-type-options"), "nosniff");
    assert_eq!(shown.header("cache-control"), "no-store");
    assert!(shown.body == bytes);
    let unknown = console.get(&format!(
        "/console/requests/{id}/attachments/{}",
        "0".repeat(64)
    ));
    assert_eq!(unknown.status, 404);
    let other = Console::sign_in(&hub.url, "reviewer-shiqiang", admin::DEMO_PASSWORD);
    assert_eq!(other.get(&link).status, 404);
    assert_eq!(
        other
            .get(&format!(
                "/console/requests/{}/attachments/{sha}",
                Uuid::new_v4()
            ))
            .status,
        404
    );
    // Signed out: to the sign-in page, nothing served.
    let anonymous = reply(agent().get(&format!("{}{link}", hub.url)).call());
    assert_ne!(anonymous.status, 200);
    assert!(anonymous.body != bytes);
}
