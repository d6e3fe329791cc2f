//! A resident's phone with the pages' script, as it speaks to the hub over HTTP (issue 16, weak
//! links): photos sent in pieces to `/resident/uploads/{sha256}` (the resident's owner tag,
//! then the photo; the address its SHA-256), resumed from the hub's count after a link cut off
//! mid-piece; the form then names each photo by its address, and the hub takes it through the
//! same scaling as a photo in the form, keeping nothing of the bytes as the phone sent them.
//! Every form carries a submission key: sent again (the answer was lost, the phone sent what
//! it saved twice, two hub processes took it at once), it files one request and one
//! supplement, and answers with them. Bad input (not a photo, too large, another resident's
//! photo, no CSRF token, signed out) gets a clear answer in the page's language and stores
//! nothing.
//!
//! Runs on SQLite, or on PostgreSQL with `BIANMIN_TEST_BACKEND=postgres`; the two-process test
//! needs the PostgreSQL of this machine.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use bianmin_client_core::Store;
use bianmin_client_core::client::sync;
use bianmin_document::model::FieldEdit;
use bianmin_domain::{Action, Role, Status};
use bianmin_server::{Limits, admin};
use bianmin_tests::hub::{CLERK, RESIDENT, TestHub, quick};
use bianmin_tests::phone::{Answer, Part, Phone, agent, error_of, field};
use bianmin_tests::proxy::CutProxy;
use image::codecs::jpeg::JpegEncoder;
use image::{Rgb, RgbImage};
use sha2::{Digest, Sha256};
use uuid::Uuid;

const PASSWORD: &str = "wang's own 2026";
const OTHER: &str = "resident-zhao";
const EAST: &str = "370883101201";
const PIECE: usize = 64 * 1024;

// ---------------------------------------------------------------------------------------------
// A phone over HTTP, with the upload script's calls

/// The phone of `name`, who activated the account and stays signed in.
fn activated(hub: &TestHub, name: &str) -> Phone {
    Phone::activated(hub, name, PASSWORD)
}

/// What the resident pages' script does with photos, done by hand.
trait Pieces {
    fn session(&mut self) -> Session;
    fn held(&mut self, sha: &str) -> Result<u64, Box<Answer>>;
    fn send_pieces(&mut self, s: &Session, upload: &Upload) -> Answer;
}

impl Pieces for Phone {
    /// What the script asks first: the session's token and owner tag.
    fn session(&mut self) -> Session {
        let a = self.get("/resident/uploads");
        assert_eq!(a.status, 200, "{}", a.body);
        assert_eq!(
            a.headers.get("cache-control").map(String::as_str),
            Some("no-store")
        );
        let j = a.json();
        assert_eq!(j["piece"], PIECE);
        Session {
            csrf: j["csrf"].as_str().unwrap().to_string(),
            owner: hex::decode(j["owner"].as_str().unwrap()).unwrap(),
        }
    }

    /// How many bytes of `sha` the hub holds (`None`: refused, with the answer).
    fn held(&mut self, sha: &str) -> Result<u64, Box<Answer>> {
        let a = self.get(&format!("/resident/uploads/{sha}"));
        match a.status {
            200 => Ok(a.json()["received"].as_u64().unwrap()),
            _ => Err(Box::new(a)),
        }
    }

    /// Sends `upload` in pieces from what the hub holds; the last answer.
    fn send_pieces(&mut self, s: &Session, upload: &Upload) -> Answer {
        let mut offset = self.held(&upload.sha).expect("status") as usize;
        loop {
            let end = (offset + PIECE).min(upload.bytes.len());
            let a = self.put(
                &upload.piece_path(offset),
                &s.csrf,
                &upload.bytes[offset..end],
            );
            if a.status != 200 {
                return a;
            }
            let j = a.json();
            if j["complete"] == true {
                return a;
            }
            offset = j["received"].as_u64().unwrap() as usize;
        }
    }
}

/// What the script learns from `/resident/uploads`.
struct Session {
    csrf: String,
    owner: Vec<u8>,
}

/// A photo as the script sends it: the owner tag, then the JPEG; its address.
struct Upload {
    bytes: Vec<u8>,
    sha: String,
}

impl Upload {
    fn of(s: &Session, photo: &[u8]) -> Upload {
        let mut bytes = s.owner.clone();
        bytes.extend_from_slice(photo);
        let sha = hex::encode(Sha256::digest(&bytes));
        Upload { bytes, sha }
    }

    fn piece_path(&self, offset: usize) -> String {
        format!(
            "/resident/uploads/{}?offset={offset}&size={}",
            self.sha,
            self.bytes.len()
        )
    }
}

/// A real JPEG photo, different for each `seed`.
fn jpeg(width: u32, height: u32, seed: u8) -> Vec<u8> {
    let img = RgbImage::from_fn(width, height, |x, y| {
        Rgb([(x / 7) as u8 ^ seed, (y / 5) as u8, seed.wrapping_mul(37)])
    });
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, 90)
        .encode_image(&img)
        .unwrap();
    out
}

/// A JPEG photo with detail everywhere (noise, as a camera's sensor gives): large for its size.
fn detailed_jpeg(width: u32, height: u32) -> Vec<u8> {
    let mut state = 0x2545_f491_u32;
    let img = RgbImage::from_fn(width, height, |_, _| {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let [a, b, c, _] = state.to_le_bytes();
        Rgb([a, b, c])
    });
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, 85)
        .encode_image(&img)
        .unwrap();
    out
}

/// The request id in a redirect to its page, and what the page says was done.
fn filed_at(location: &str) -> (Uuid, String) {
    let rest = location
        .strip_prefix("/resident/requests/")
        .unwrap_or_else(|| panic!("not a request page: {location}"));
    let id = Uuid::parse_str(&rest[..36]).unwrap();
    (id, rest[36..].trim_start_matches("?done=").to_string())
}

/// Wang's answers on the social security card form, with its token and submission key.
fn card_form<'a>(csrf: &'a str, key: &'a str) -> Vec<Part<'a>> {
    vec![
        Part::Text("csrf", csrf),
        Part::Text("submission", key),
        Part::Text("id_number", "11010519491231002x"),
        Part::Text("phone", "138 1234 5678"),
        Part::Text("grid", "1组"),
        Part::Text("attr.reason", "lost"),
    ]
}

/// Documents the hub holds.
fn documents(hub: &TestHub) -> u64 {
    hub.storage.counts().unwrap().0
}

fn blobs(hub: &TestHub) -> &dyn bianmin_server::blobs::BlobStore {
    hub.state.blobs.as_deref().unwrap()
}

fn synced(store: &Mutex<Store>) {
    let report = sync(store, &quick(), &mut |_| {}).unwrap();
    assert!(report.refused.is_empty(), "{:?}", report.refused);
}

// ---------------------------------------------------------------------------------------------
// The stories

#[test]
fn a_photo_sent_in_pieces_goes_on_from_the_hubs_count_after_a_cut() {
    let hub = TestHub::start();
    let mut wang = activated(&hub, RESIDENT);
    let s = wang.session();
    assert_eq!(s.owner.len(), 32);
    let photo = detailed_jpeg(800, 600);
    assert!(photo.len() > 3 * PIECE, "several pieces: {}", photo.len());
    let upload = Upload::of(&s, &photo);

    // The first piece goes straight to the hub.
    assert_eq!(wang.held(&upload.sha).unwrap(), 0);
    let a = wang.put(&upload.piece_path(0), &s.csrf, &upload.bytes[..PIECE]);
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.json()["received"], PIECE as u64);
    assert_eq!(a.json()["complete"], false);

    // The second crosses a link that drops after some 20 KB of it.
    let link = CutProxy::start(hub.url.trim_start_matches("http://").parse().unwrap());
    let mut through = wang.via(&link.url);
    link.cut_connections_after(20_000);
    let cut = agent()
        .put(&format!("{}{}", link.url, upload.piece_path(PIECE)))
        .header("Cookie", &through.cookie_header())
        .header("X-CSRF-Token", &s.csrf)
        .send(&upload.bytes[PIECE..2 * PIECE]);
    assert!(
        cut.is_err() || cut.as_ref().is_ok_and(|r| r.status() != 200),
        "the piece did not get through whole"
    );
    link.cut_connections_after(0);
    // The hub kept what arrived of it: the phone asks, and goes on from there.
    let deadline = Instant::now() + Duration::from_secs(10);
    let held = loop {
        let held = through.held(&upload.sha).unwrap();
        if held > PIECE as u64 || Instant::now() > deadline {
            break held as usize;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        held > PIECE && held < 2 * PIECE,
        "part of the cut piece kept: {held}"
    );
    // A piece sent again from where the phone thought it was is told where the hub is.
    let stale = through.put(
        &upload.piece_path(PIECE),
        &s.csrf,
        &upload.bytes[PIECE..2 * PIECE],
    );
    assert_eq!(stale.status, 409, "{}", stale.body);
    assert_eq!(stale.json()["received"], held as u64);
    let last = through.send_pieces(&s, &upload);
    assert_eq!(last.status, 200, "{}", last.body);
    assert_eq!(last.json()["complete"], true);
    assert_eq!(last.json()["received"], upload.bytes.len() as u64);
    let ups: Vec<_> = link
        .requests()
        .into_iter()
        .filter(|r| r.method == "PUT")
        .collect();
    assert!(
        ups.iter()
            .any(|r| r.target.contains(&format!("offset={held}&"))),
        "resumed at the hub's count: {ups:?}"
    );
    // Not a blob anyone can fetch: a partial upload, the resident's.
    assert!(!blobs(&hub).is_complete(&upload.sha).unwrap());

    // The form names it by its address: filed with the photo scaled as the hub keeps photos,
    // and the bytes as the phone sent them are gone.
    let form = wang.get("/resident/file/SOC-CARD");
    let (csrf, key) = (field(&form.body, "csrf"), field(&form.body, "submission"));
    let mut parts = card_form(&csrf, &key);
    parts.push(Part::Text("photo_sha-1", &upload.sha));
    parts.push(Part::Text("photo_name-1", "IMG_0002.jpg"));
    let before = documents(&hub);
    let a = wang.post_multipart("/resident/file/SOC-CARD", &parts);
    assert_eq!(a.status, 303, "{}", a.body);
    let (id, done) = filed_at(a.location.as_deref().unwrap());
    assert_eq!(done, "filed");
    assert_eq!(documents(&hub), before + 1);
    let user = hub.storage.user_by_name(RESIDENT).unwrap().unwrap();
    let r = hub.state.engine.resident_request(&user, id).unwrap();
    let stored: Vec<_> = r.detail.attachments.iter().collect();
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(stored[0].material, "Recent photo");
    let scaled = bianmin_server::photos::scale(&photo).unwrap();
    assert_eq!(stored[0].sha256, scaled.sha256, "re-encoded by the hub");
    assert!(blobs(&hub).is_complete(&scaled.sha256).unwrap());
    assert_eq!(blobs(&hub).received(&upload.sha).unwrap(), 0, "discarded");
    assert!(blobs(&hub).open_partial(&upload.sha).unwrap().is_none());
    assert!(!blobs(&hub).is_complete(&upload.sha).unwrap());
}

#[test]
fn a_form_sent_again_files_once_and_answers_with_what_it_filed() {
    let hub = TestHub::start();
    let dir = tempfile::tempdir().unwrap();
    let clerk = Mutex::new(hub.enrol(CLERK, dir.path(), "east"));
    let mut wang = activated(&hub, RESIDENT);
    let s = wang.session();

    // Without the script: the form the hub drew, with its photo, posted twice (a reload that
    // posts again, a second tap): one request, and the second answer shows it.
    let form = wang.get("/resident/file/SOC-CARD");
    let (csrf, key) = (field(&form.body, "csrf"), field(&form.body, "submission"));
    assert!(key.len() >= 16, "{key}");
    assert_ne!(
        key,
        field(&wang.get("/resident/file/SOC-CARD").body, "submission"),
        "a fresh key in every form drawn"
    );
    let photo = jpeg(800, 600, 1);
    let mut parts = card_form(&csrf, &key);
    parts.push(Part::File("photo-0", "id.jpg", "image/jpeg", &photo));
    let before = documents(&hub);
    let first = wang.post_multipart("/resident/file/SOC-CARD", &parts);
    assert_eq!(first.status, 303, "{}", first.body);
    let (id, done) = filed_at(first.location.as_deref().unwrap());
    assert_eq!(done, "filed");
    let again = wang.post_multipart("/resident/file/SOC-CARD", &parts);
    assert_eq!(again.status, 303, "{}", again.body);
    assert_eq!(
        filed_at(again.location.as_deref().unwrap()),
        (id, "received".into())
    );
    let page = wang.get(again.location.as_deref().unwrap());
    assert!(
        page.body.contains("这份表单之前已经收到，没有重复提交"),
        "{}",
        page.body
    );
    assert!(page.body.contains(&format!("{EAST}-000-000001")));
    assert_eq!(documents(&hub), before + 1, "one request");

    // With the script: a photo sent in pieces, the form naming it, sent three times (the
    // answers lost on the way back): one request, whose photo was used and discarded once.
    let other = Upload::of(&s, &jpeg(640, 480, 2));
    assert_eq!(wang.send_pieces(&s, &other).status, 200);
    let key = "0123456789abcdef0123456789abcdef";
    let mut parts = card_form(&s.csrf, key);
    parts.push(Part::Text("photo_sha-0", &other.sha));
    parts.push(Part::Text("photo_name-0", "id.jpg"));
    let answers: Vec<Answer> = (0..3)
        .map(|_| wang.post_multipart("/resident/file/SOC-CARD", &parts))
        .collect();
    let (second, done) = filed_at(answers[0].location.as_deref().unwrap());
    assert_eq!(done, "filed");
    for a in &answers[1..] {
        assert_eq!(a.status, 303, "{}", a.body);
        assert_eq!(
            filed_at(a.location.as_deref().unwrap()),
            (second, "received".into())
        );
    }
    assert_ne!(second, id);
    assert_eq!(documents(&hub), before + 2);
    assert_eq!(
        hub.storage
            .last_receipt(&format!("{EAST}-000-"))
            .unwrap()
            .as_deref(),
        Some(format!("{EAST}-000-000002").as_str()),
        "no number taken by the sendings again"
    );

    // A supplement sent twice: one supplement. Sent again after the clerk returned the request
    // a second time: still the one it was, not an answer to the new return.
    synced(&clerk);
    let return_for = |missing: &str| {
        let mut c = clerk.lock().unwrap();
        if c.request(second).unwrap().status == Status::Submitted {
            for m in ["ID card", "Recent photo"] {
                c.edit(
                    second,
                    FieldEdit::Material {
                        name: m.into(),
                        received: true,
                    },
                )
                .unwrap();
            }
            c.apply(second, Action::Accept).unwrap();
        }
        c.apply(
            second,
            Action::ReturnForSupplement {
                missing: vec![missing.into()],
                note: String::new(),
            },
        )
        .unwrap();
        drop(c);
        synced(&clerk);
    };
    return_for("Recent photo");
    let page = wang.get(&format!("/resident/requests/{second}"));
    let supplement_key = field(&page.body, "submission");
    let csrf = field(&page.body, "csrf");
    let again_photo = jpeg(900, 1200, 4);
    let parts = [
        Part::Text("csrf", &csrf),
        Part::Text("submission", &supplement_key),
        Part::File("photo-0", "IMG_0003.jpg", "image/jpeg", &again_photo),
    ];
    let path = format!("/resident/requests/{second}/supplement");
    let a = wang.post_multipart(&path, &parts);
    assert_eq!(a.status, 303, "{}", a.body);
    assert!(
        a.location
            .as_deref()
            .unwrap()
            .ends_with("?done=supplemented")
    );
    let a = wang.post_multipart(&path, &parts);
    assert_eq!(a.status, 303, "{}", a.body);
    assert!(
        a.location.as_deref().unwrap().ends_with("?done=received"),
        "{a:?}"
    );
    synced(&clerk);
    return_for("ID card");
    let a = wang.post_multipart(&path, &parts);
    assert!(
        a.location.as_deref().unwrap().ends_with("?done=received"),
        "{a:?}"
    );
    synced(&clerk);
    let d = clerk.lock().unwrap().request(second).unwrap();
    let supplements = d
        .history
        .iter()
        .filter(|h| matches!(h.action, Action::Supplement { .. }))
        .count();
    assert_eq!(supplements, 1, "{:#?}", d.history);
    assert_eq!(d.status, Status::Returned, "the second return still waits");
}

#[test]
fn two_hub_processes_taking_one_form_at_once_file_it_once() {
    // The same form sent to two hub processes on one PostgreSQL database at the same moment,
    // several times over: one request, and every answer names it.
    let Some(pair) = TestHub::pair() else { return };
    let signed_in = activated(&pair.a, RESIDENT);
    let before = documents(&pair.a);
    for round in 0..4 {
        let key = format!("two-processes-{round}-0123456789");
        let csrf = field(
            &signed_in
                .via(&pair.a.url)
                .get("/resident/file/SOC-CARD")
                .body,
            "csrf",
        );
        let barrier = std::sync::Barrier::new(4);
        let answers: Vec<(Uuid, String)> = std::thread::scope(|s| {
            let runs: Vec<_> = [&pair.a, &pair.b, &pair.a, &pair.b]
                .into_iter()
                .map(|hub| {
                    let (mut phone, key, csrf, barrier) =
                        (signed_in.via(&hub.url), &key, &csrf, &barrier);
                    s.spawn(move || {
                        barrier.wait();
                        let a =
                            phone.post_multipart("/resident/file/SOC-CARD", &card_form(csrf, key));
                        assert_eq!(a.status, 303, "{}", a.body);
                        filed_at(a.location.as_deref().unwrap())
                    })
                })
                .collect();
            runs.into_iter().map(|r| r.join().unwrap()).collect()
        });
        let id = answers[0].0;
        assert!(answers.iter().all(|(i, _)| *i == id), "{answers:?}");
        assert_eq!(
            answers.iter().filter(|(_, done)| done == "filed").count(),
            1,
            "filed by one sending: {answers:?}"
        );
        assert_eq!(documents(&pair.a), before + round + 1, "round {round}");
    }
}

#[test]
fn bad_uploads_get_a_clear_answer_and_store_nothing() {
    const LIMIT: usize = 256 * 1024;
    let hub = TestHub::start_with(|s| {
        s.with_limits(Limits {
            photo_body_bytes: LIMIT,
            ..Limits::default()
        })
    });
    admin::add_user(hub.storage.as_ref(), OTHER, "赵", Role::Resident, EAST).unwrap();
    let mut wang = activated(&hub, RESIDENT);
    let mut zhao = activated(&hub, OTHER);
    let (s, z) = (wang.session(), zhao.session());
    assert_ne!(s.owner, z.owner, "each resident's own tag");
    let counts = hub.storage.counts().unwrap();

    // Not a photo: refused at its first piece, in Chinese, nothing kept.
    let text = Upload::of(
        &s,
        b"this is not a photo at all, only words that say it is one\n",
    );
    let a = wang.put(&text.piece_path(0), &s.csrf, &text.bytes);
    assert_eq!(a.status, 415, "{}", a.body);
    assert!(a.message().contains("发送的文件不是照片"), "{}", a.body);
    assert_eq!(blobs(&hub).received(&text.sha).unwrap(), 0);

    // Larger than the limit: refused before a byte is kept, whatever the pieces say.
    let big = Upload::of(&s, &{
        let mut v = jpeg(64, 64, 1);
        v.resize(LIMIT + 1, 0);
        v
    });
    let a = wang.put(&big.piece_path(0), &s.csrf, &big.bytes[..PIECE]);
    assert_eq!(a.status, 413, "{}", a.body);
    assert!(
        a.message().contains("照片太大：一张最多 1 MB"),
        "{}",
        a.body
    );
    let small = Upload::of(&s, &jpeg(200, 100, 2));
    let lying = format!(
        "/resident/uploads/{}?offset=0&size={}",
        small.sha,
        small.bytes.len() - 10
    );
    let a = wang.put(&lying, &s.csrf, &small.bytes);
    assert_eq!(a.status, 413, "more than its size said: {}", a.body);
    assert_eq!(blobs(&hub).received(&small.sha).unwrap(), 0);
    let a = wang.put(&small.piece_path(0), &s.csrf, &vec![0u8; 300 * 1024]);
    assert_eq!(a.status, 413, "a piece too large: {}", a.body);

    // No CSRF token, a wrong one, signed out: refused, nothing kept.
    let a = wang.put(&small.piece_path(0), "", &small.bytes);
    assert_eq!(a.status, 403, "{}", a.body);
    assert!(a.message().contains("未做任何操作"), "{}", a.body);
    let a = wang.put(
        &small.piece_path(0),
        "0123456789abcdef0123456789abcdef",
        &small.bytes,
    );
    assert_eq!(a.status, 403, "{}", a.body);
    let mut stranger = Phone::new(&hub.url);
    let a = stranger.put(&small.piece_path(0), &s.csrf, &small.bytes);
    assert_eq!(a.status, 401, "{}", a.body);
    assert_eq!(stranger.get("/resident/uploads").status, 401);
    assert_eq!(blobs(&hub).received(&small.sha).unwrap(), 0);

    // Another resident's photo: Zhao can neither send under Wang's tag, nor see, extend or use
    // Wang's upload; whatever he tries, nothing of it is stored.
    let wangs = Upload::of(&s, &jpeg(300, 200, 5));
    let a = zhao.put(&wangs.piece_path(0), &z.csrf, &wangs.bytes[..1000]);
    assert_eq!(a.status, 403, "{}", a.body);
    assert!(a.message().contains("不是从您的账号发送的"), "{}", a.body);
    let half = wangs.bytes.len() / 2;
    assert_eq!(
        wang.put(&wangs.piece_path(0), &s.csrf, &wangs.bytes[..half])
            .status,
        200
    );
    assert_eq!(zhao.held(&wangs.sha).unwrap_err().status, 403);
    let a = zhao.put(&wangs.piece_path(half), &z.csrf, &wangs.bytes[half..]);
    assert_eq!(a.status, 403, "{}", a.body);
    assert_eq!(wang.held(&wangs.sha).unwrap(), half as u64, "untouched");
    assert_eq!(wang.send_pieces(&s, &wangs).json()["complete"], true);
    let form = zhao.get("/resident/file/SOC-CARD");
    let (csrf, key) = (field(&form.body, "csrf"), field(&form.body, "submission"));
    let mut parts = card_form(&csrf, &key);
    parts.push(Part::Text("photo_sha-0", &wangs.sha));
    parts.push(Part::Text("photo_name-0", "id.jpg"));
    let a = zhao.post_multipart("/resident/file/SOC-CARD", &parts);
    assert_eq!(a.status, 422, "{}", a.body);
    assert!(
        error_of(&a.body).contains("没有收到“居民身份证”的照片（id.jpg）"),
        "{}",
        a.body
    );
    assert_eq!(
        a.headers
            .get("x-bianmin-missing-upload")
            .map(String::as_str),
        Some("1")
    );
    assert_eq!(
        wang.held(&wangs.sha).unwrap(),
        wangs.bytes.len() as u64,
        "still Wang's"
    );

    // A photo not sent whole yet, or never: the same answer; the phone sends it again.
    let mut parts = card_form(&s.csrf, "0000111122223333");
    parts.push(Part::Text("photo_sha-0", &small.sha));
    let a = wang.post_multipart("/resident/file/SOC-CARD", &parts);
    assert_eq!(a.status, 422, "{}", a.body);
    assert!(
        error_of(&a.body).contains("没有收到“居民身份证”的照片"),
        "{}",
        a.body
    );

    // In English on request.
    wang.get("/resident?lang=en");
    let a = wang.put(&text.piece_path(0), &s.csrf, &text.bytes);
    assert_eq!(a.status, 415);
    assert!(
        a.message().contains("The file sent is not a photo"),
        "{}",
        a.body
    );
    let a = wang.put(&big.piece_path(0), &s.csrf, &big.bytes[..PIECE]);
    assert!(
        a.message()
            .contains("The photo is too large: at most 1 MB each"),
        "{}",
        a.body
    );
    let a = wang.post_multipart("/resident/file/SOC-CARD", &parts);
    assert!(
        error_of(&a.body).contains("The photo of “ID card” (photo) did not arrive whole"),
        "{}",
        a.body
    );

    // Nothing of any of it was filed.
    assert_eq!(hub.storage.counts().unwrap(), counts);
    assert_eq!(
        hub.storage.last_receipt(&format!("{EAST}-000-")).unwrap(),
        None
    );
}
