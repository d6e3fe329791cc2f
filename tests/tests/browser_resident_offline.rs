//! The resident pages on a phone with a weak link (issue 16), in a real headless Chromium
//! emulating a phone, its pages' JavaScript on: a large photo (4000×3000, with EXIF) is scaled
//! on the phone before anything is sent, so the hub receives a picture of at most 1600 px
//! without EXIF, in pieces, and the request is filed; a form filled in while the network is
//! cut (Chromium's offline mode, and the link itself down, so that the service worker is cut
//! off too) is kept on the phone and says so, also after a reload while offline; the hub has
//! nothing until the network returns, then the request is filed exactly once. And without
//! JavaScript the same form still files with its photo in the form.
//!
//! The phone reaches the hub through a loopback link of this file's own ([`Link`]) that can be
//! cut and that records what the phone sent, so that the test sees the bytes the hub received.
//! Chromium's offline mode (chromedriver's `network_conditions`) cuts the page's own requests
//! and fires the page's `offline`/`online` events; it does not reach a service worker's
//! requests (a worker is a target of its own), which the cut link does.
//!
//! Ignored by `cargo test --workspace` (Chromium and chromedriver are not on a fresh machine);
//! `.ci/run` runs them with
//! `cargo test -p bianmin-tests --test browser_resident_offline -- --ignored`.

mod webdriver;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bianmin_server::admin;
use bianmin_tests::hub::{RESIDENT, TestHub};
use fantoccini::{Client, Locator};
use image::codecs::jpeg::JpegEncoder;
use image::{Rgb, RgbImage};
use sha2::{Digest, Sha256};
use webdriver::{Driver, Session, WAIT, click, css, fill, heading, page_text, text};

const PASSWORD: &str = "wang's own 2026";
const FORM: &str = "form[action='/resident/file/SOC-CARD']";
const SAVED: &str = "已保存在本手机，尚未发送";

// ---------------------------------------------------------------------------------------------
// The phone's link to the hub

/// What the phone sent on one connection (bytes towards the hub, in order).
type Sent = Arc<Mutex<Vec<u8>>>;

#[derive(Default)]
struct LinkState {
    down: AtomicBool,
    stop: AtomicBool,
    open: Mutex<Vec<TcpStream>>,
    sent: Mutex<Vec<Sent>>,
}

/// A loopback link between the phone and the hub: forwards both ways, records what the phone
/// sends, and can be cut (every connection closed, new ones refused) and restored.
struct Link {
    url: String,
    addr: SocketAddr,
    state: Arc<LinkState>,
}

/// An HTTP request the phone sent over the link.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    target: String,
    body: Vec<u8>,
}

fn pump(mut from: TcpStream, mut to: TcpStream, record: Option<Sent>) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if let Some(r) = &record {
            r.lock().unwrap().extend_from_slice(&buf[..n]);
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}

impl Link {
    fn start(hub: &str) -> Link {
        let upstream: SocketAddr = hub.trim_start_matches("http://").parse().expect("hub addr");
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind link");
        let addr = listener.local_addr().expect("link addr");
        let state = Arc::new(LinkState::default());
        let shared = state.clone();
        std::thread::spawn(move || {
            for phone in listener.incoming() {
                if shared.stop.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(phone) = phone else { continue };
                if shared.down.load(Ordering::SeqCst) {
                    let _ = phone.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(hub) = TcpStream::connect(upstream) else {
                    let _ = phone.shutdown(Shutdown::Both);
                    continue;
                };
                let record: Sent = Arc::default();
                shared.sent.lock().unwrap().push(record.clone());
                let (Ok(p2), Ok(h2), Ok(p3), Ok(h3)) = (
                    phone.try_clone(),
                    hub.try_clone(),
                    phone.try_clone(),
                    hub.try_clone(),
                ) else {
                    continue;
                };
                shared.open.lock().unwrap().extend([p3, h3]);
                std::thread::spawn(move || pump(phone, hub, Some(record)));
                std::thread::spawn(move || pump(h2, p2, None));
            }
        });
        Link {
            url: format!("http://{addr}"),
            addr,
            state,
        }
    }

    /// The link goes down: every connection is closed at once, new ones are refused.
    fn cut(&self) {
        self.state.down.store(true, Ordering::SeqCst);
        for s in self.state.open.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    /// The link is back.
    fn restore(&self) {
        self.state.down.store(false, Ordering::SeqCst);
    }

    /// Every request the phone sent so far, with its body (as far as it got through).
    fn requests(&self) -> Vec<Seen> {
        let streams: Vec<Vec<u8>> = self
            .state
            .sent
            .lock()
            .unwrap()
            .iter()
            .map(|s| s.lock().unwrap().clone())
            .collect();
        streams.iter().flat_map(|s| parse_requests(s)).collect()
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        self.cut();
        let _ = TcpStream::connect(self.addr);
    }
}

/// The HTTP/1.1 requests in what a phone sent on one connection.
fn parse_requests(mut stream: &[u8]) -> Vec<Seen> {
    let mut out = Vec::new();
    while let Some(end) = stream.windows(4).position(|w| w == b"\r\n\r\n") {
        let head = String::from_utf8_lossy(&stream[..end]).to_string();
        stream = &stream[end + 4..];
        let mut lines = head.lines();
        let mut first = lines.next().unwrap_or_default().split(' ');
        let (method, target) = (
            first.next().unwrap_or_default().to_string(),
            first.next().unwrap_or_default().to_string(),
        );
        let header = |name: &str| {
            head.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case(name)
                    .then(|| v.trim().to_string())
            })
        };
        let mut body = Vec::new();
        if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
            loop {
                let Some(at) = stream.windows(2).position(|w| w == b"\r\n") else {
                    stream = &[];
                    break;
                };
                let size = usize::from_str_radix(
                    String::from_utf8_lossy(&stream[..at])
                        .split(';')
                        .next()
                        .unwrap_or("0")
                        .trim(),
                    16,
                )
                .unwrap_or(0);
                stream = &stream[at + 2..];
                let take = size.min(stream.len());
                body.extend_from_slice(&stream[..take]);
                stream = &stream[(take + 2).min(stream.len())..];
                if size == 0 {
                    break;
                }
            }
        } else {
            let len = header("content-length")
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0)
                .min(stream.len());
            body.extend_from_slice(&stream[..len]);
            stream = &stream[len..];
        }
        out.push(Seen {
            method,
            target,
            body,
        });
    }
    out
}

/// The photos the phone sent in pieces, reassembled: address → bytes (the owner tag, then
/// the picture).
fn uploads(seen: &[Seen]) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    for s in seen.iter().filter(|s| s.method == "PUT") {
        let Some(rest) = s.target.strip_prefix("/resident/uploads/") else {
            continue;
        };
        let (sha, query) = rest.split_once('?').unwrap_or((rest, ""));
        let offset: usize = query
            .split('&')
            .find_map(|p| p.strip_prefix("offset="))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let at = match out.iter().position(|(s, _)| s == sha) {
            Some(at) => at,
            None => {
                out.push((sha.to_string(), Vec::new()));
                out.len() - 1
            }
        };
        let bytes = &mut out[at].1;
        bytes.truncate(offset);
        if bytes.len() == offset {
            bytes.extend_from_slice(&s.body);
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The browser

/// One browser at a time in this test binary: the machine has two cores.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Runs `steps` on a phone (JavaScript on or off), with the address of its chromedriver (for
/// the commands fantoccini has no call for); always closes the browser.
fn on_phone<T, F, Fut>(javascript: bool, steps: F) -> T
where
    F: FnOnce(Client, String) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let driver = Driver::start();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let session = match javascript {
        true => Session::phone(),
        false => Session::phone().without_javascript(),
    };
    runtime.block_on(async {
        let client = driver.open(session).await;
        let outcome = tokio::spawn(steps(client.clone(), driver.url().to_string())).await;
        let _ = client.close().await;
        match outcome {
            Ok(value) => value,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    })
}

/// Chromium's offline mode on or off for the page (chromedriver's `network_conditions`).
async fn offline(c: &Client, driver: &str, offline: bool) {
    let session = c.session_id().await.unwrap().expect("a session");
    let url = format!("{driver}/session/{session}/chromium/network_conditions");
    let body = serde_json::json!({
        "network_conditions": {
            "offline": offline, "latency": 0, "download_throughput": -1, "upload_throughput": -1,
        }
    });
    tokio::task::spawn_blocking(move || {
        ureq::post(&url)
            .send_json(body)
            .expect("chromedriver sets the network conditions");
    })
    .await
    .unwrap();
}

/// Runs `script` (an async function's body ending with `done(value)`) in the page.
async fn run(c: &Client, script: &str) -> serde_json::Value {
    let wrapped = format!("const done = arguments[arguments.length - 1]; {script}");
    c.execute_async(&wrapped, vec![])
        .await
        .expect("a script in the page")
}

/// Waits until `condition` (a script calling `done(true|false)`) holds, up to `within`.
async fn until(c: &Client, what: &str, within: Duration, condition: &str) {
    let deadline = Instant::now() + within;
    loop {
        if run(c, condition).await == serde_json::Value::Bool(true) {
            return;
        }
        assert!(Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits up to `within` for the element `selector` selects to show `words`; its text.
async fn shows_words(c: &Client, selector: &str, words: &str, within: Duration) -> String {
    let deadline = Instant::now() + within;
    loop {
        let shown = match c.find(Locator::Css(selector)).await {
            Ok(e) => e.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if shown.contains(words) {
            return shown;
        }
        assert!(
            Instant::now() < deadline,
            "`{selector}` never showed {words}: {shown}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits up to `within` for an element `selector` selects.
async fn shows(c: &Client, selector: &str, within: Duration) -> fantoccini::elements::Element {
    match c
        .wait()
        .at_most(within)
        .for_element(Locator::Css(selector))
        .await
    {
        Ok(e) => e,
        Err(e) => panic!(
            "no `{selector}` within {within:?} ({e}): {}",
            c.source().await.unwrap_or_default()
        ),
    }
}

/// Activates Wang's account on the phone (her code as the service point gave it).
async fn activate(c: &Client, base: &str, code: &str) {
    c.goto(&format!("{base}/resident/activate")).await.unwrap();
    let form = "form[action='/resident/activate']";
    fill(c, &format!("{form} #name"), RESIDENT).await;
    fill(c, &format!("{form} #code"), code).await;
    fill(c, &format!("{form} #password"), PASSWORD).await;
    fill(c, &format!("{form} #again"), PASSWORD).await;
    click(c, &format!("{form} button[type=submit]")).await;
    heading(c, "我的办件").await;
}

/// Fills in the social security card's form as Wang, with `photo` (a path) as her portrait.
async fn fill_in(c: &Client, photo: &str) {
    fill(c, &format!("{FORM} #id_number"), "11010519491231002x").await;
    fill(c, &format!("{FORM} #phone"), "138 1234 5678").await;
    click(c, &format!("{FORM} #grid option[value='1组']")).await;
    click(c, &format!("{FORM} #attr-reason option[value='lost']")).await;
    css(c, &format!("{FORM} #photo-1"))
        .await
        .send_keys(photo)
        .await
        .expect("choosing the photo");
}

/// A camera's photo of 4000×3000 (detail everywhere, as a sensor gives) with EXIF that says
/// where it was taken, written to `dir`; its path and its bytes.
fn camera_photo(dir: &std::path::Path) -> (String, Vec<u8>) {
    let mut state = 0x9e37_79b9_u32;
    let img = RgbImage::from_fn(4000, 3000, |x, y| {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let noise = (state & 0x3f) as u8;
        Rgb([
            ((x / 16) as u8).wrapping_add(noise),
            ((y / 12) as u8).wrapping_add(noise),
            noise.wrapping_mul(3),
        ])
    });
    let mut jpeg = Vec::new();
    JpegEncoder::new_with_quality(&mut jpeg, 92)
        .encode_image(&img)
        .unwrap();
    // An EXIF segment right after the start: orientation 1 (as taken) and a GPS position.
    let mut tiff = b"MM\0\x2a\0\0\0\x08".to_vec();
    tiff.extend_from_slice(&[0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0]);
    tiff.extend_from_slice(b"GPS 36.1N 120.4E secret place");
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend_from_slice(&tiff);
    let mut bytes = jpeg[..2].to_vec();
    bytes.extend_from_slice(&[0xFF, 0xE1]);
    bytes.extend_from_slice(&((app1.len() + 2) as u16).to_be_bytes());
    bytes.extend_from_slice(&app1);
    bytes.extend_from_slice(&jpeg[2..]);
    let path = dir.join("IMG_2026.jpg");
    std::fs::write(&path, &bytes).unwrap();
    (path.to_str().unwrap().to_string(), bytes)
}

fn documents(hub: &TestHub) -> u64 {
    hub.storage.counts().unwrap().0
}

/// The photos of request `id` as the hub keeps them: each one's width and height.
fn stored_photos(hub: &TestHub, id: uuid::Uuid) -> Vec<(u32, u32)> {
    let user = hub.storage.user_by_name(RESIDENT).unwrap().unwrap();
    let r = hub.state.engine.resident_request(&user, id).unwrap();
    r.detail
        .attachments
        .iter()
        .map(|a| {
            let mut open = hub
                .state
                .blobs
                .as_ref()
                .unwrap()
                .open(&a.sha256)
                .unwrap()
                .expect("stored");
            let mut bytes = Vec::new();
            open.reader.read_to_end(&mut bytes).unwrap();
            let img = image::load_from_memory(&bytes).unwrap();
            (img.width(), img.height())
        })
        .collect()
}

/// The request whose page the phone shows.
async fn request_shown(c: &Client) -> uuid::Uuid {
    let at = c.current_url().await.unwrap();
    let id = at
        .path()
        .strip_prefix("/resident/requests/")
        .unwrap_or_else(|| panic!("not a request's page: {at}"));
    uuid::Uuid::parse_str(id).unwrap()
}

fn code(hub: &TestHub) -> String {
    admin::issue_activation_code(hub.storage.as_ref(), RESIDENT, admin::ACTIVATION_VALIDITY)
        .expect("an activation code")
        .code
}

// ---------------------------------------------------------------------------------------------
// The stories

#[test]
#[ignore = "needs chromium and chromedriver: run by .ci/run"]
fn a_large_photo_is_scaled_on_the_phone_before_it_is_sent() {
    let hub = TestHub::start();
    let dir = tempfile::tempdir().unwrap();
    let (photo, original) = camera_photo(dir.path());
    let link = Link::start(&hub.url);
    let (base, code) = (link.url.clone(), code(&hub));
    let before = documents(&hub);

    let id = on_phone(true, move |c, _| async move {
        activate(&c, &base, &code).await;
        c.goto(&format!("{base}/resident/file/SOC-CARD"))
            .await
            .unwrap();
        fill_in(&c, &photo).await;
        click(&c, &format!("{FORM} button[type=submit]")).await;
        // Filed: the phone goes to the request's page, as without the script.
        heading(&c, "办件详情").await;
        let shown = page_text(&c).await;
        for words in [
            "申请已提交",
            "自助办理",
            "已提交，等待受理",
            "近期免冠照片 ×1",
        ] {
            assert!(shown.contains(words), "{words} in {shown}");
        }
        request_shown(&c).await
    });

    assert_eq!(documents(&hub), before + 1, "one request");
    assert_eq!(stored_photos(&hub, id), [(1600, 1200)]);
    // What crossed the link: the photo in pieces, scaled on the phone to 1600 px, without its
    // EXIF, under the address of its bytes; the form itself without a photo in it.
    let seen = link.requests();
    let sent = uploads(&seen);
    assert_eq!(
        sent.len(),
        1,
        "one photo sent: {:?}",
        sent.iter().map(|s| &s.0).collect::<Vec<_>>()
    );
    let (sha, bytes) = &sent[0];
    assert_eq!(
        &hex::encode(Sha256::digest(bytes)),
        sha,
        "the address is its hash"
    );
    let picture = &bytes[32..];
    let img = image::load_from_memory(picture).expect("a picture");
    assert_eq!(
        (img.width(), img.height()),
        (1600, 1200),
        "scaled on the phone"
    );
    assert!(!picture.windows(6).any(|w| w == b"secret"), "no EXIF left");
    assert!(!picture.windows(4).any(|w| w == b"Exif"), "no EXIF left");
    let pieces: Vec<&Seen> = seen.iter().filter(|s| s.method == "PUT").collect();
    assert!(
        pieces.iter().all(|p| p.body.len() <= 64 * 1024),
        "pieces of 64 KiB at most"
    );
    let up: usize = seen.iter().map(|s| s.body.len()).sum();
    assert!(
        up * 3 < original.len(),
        "far less than the camera's {} bytes went up: {up}",
        original.len()
    );
    let post = seen
        .iter()
        .find(|s| s.method == "POST" && s.target == "/resident/file/SOC-CARD")
        .expect("the form");
    assert!(
        post.body.len() < 8 * 1024,
        "no photo in the form: {}",
        post.body.len()
    );
    assert!(
        String::from_utf8_lossy(&post.body).contains(&format!("photo_sha-1\"\r\n\r\n{sha}")),
        "the form names the photo"
    );
    // The bytes as the phone sent them are not kept.
    assert_eq!(hub.state.blobs.as_ref().unwrap().received(sha).unwrap(), 0);
}

#[test]
#[ignore = "needs chromium and chromedriver: run by .ci/run"]
fn a_form_filled_in_offline_is_kept_on_the_phone_and_sent_once_when_the_network_returns() {
    let hub = TestHub::start();
    let dir = tempfile::tempdir().unwrap();
    let (photo, _) = camera_photo(dir.path());
    let link = Link::start(&hub.url);
    let link = Arc::new(link);
    let (base, code, net) = (link.url.clone(), code(&hub), link.clone());
    let before = documents(&hub);
    let hub = Arc::new(hub);
    let at_hub = hub.clone();

    let id = on_phone(true, move |c, driver| async move {
        activate(&c, &base, &code).await;
        c.goto(&format!("{base}/resident/file/SOC-CARD"))
            .await
            .unwrap();
        // The service worker has taken the page in hand and keeps it for offline use.
        until(
            &c,
            "the service worker controls the page and keeps it",
            WAIT,
            "navigator.serviceWorker.ready.then(() => caches.open('bianmin-resident-pages'))
               .then(c => c.match(location.href))
               .then(hit => done(!!hit && !!navigator.serviceWorker.controller), () => done(false));",
        )
        .await;

        // The network goes while she fills the form in.
        net.cut();
        offline(&c, &driver, true).await;
        fill_in(&c, &photo).await;
        click(&c, &format!("{FORM} button[type=submit]")).await;
        let saved = text(&c, "#outbox .state-saved").await;
        assert!(saved.contains(SAVED), "{saved}");
        let note = shows_words(&c, "#outbox", "网络恢复后会自动发送", WAIT).await;
        assert!(note.contains("社会保障卡申领补换"), "which form: {note}");
        assert_eq!(documents(&at_hub), before, "the hub has nothing");

        // A reload while offline: the page comes from the phone, and still says so.
        c.refresh().await.expect("reload");
        heading(&c, "社会保障卡申领补换").await;
        let saved = text(&c, "#outbox .state-saved").await;
        assert!(saved.contains(SAVED), "after a reload: {saved}");
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(documents(&at_hub), before, "still nothing at the hub");
        assert!(
            text(&c, "#outbox").await.contains(SAVED),
            "nothing sent meanwhile"
        );

        // The network returns: it is sent, once, and the page links to the request.
        net.restore();
        offline(&c, &driver, false).await;
        let sent = shows(&c, "#outbox .state-sent a.button", Duration::from_secs(60)).await;
        let shown = text(&c, "#outbox .state-sent").await;
        assert!(shown.contains("已发送"), "{shown}");
        assert!(
            shown.contains("370883101201-000-000001"),
            "its receipt: {shown}"
        );
        assert_eq!(documents(&at_hub), before + 1, "filed once");
        sent.click().await.expect("the link to the request");
        heading(&c, "办件详情").await;
        let id = request_shown(&c).await;
        let page = page_text(&c).await;
        for words in ["370883101201-000-000001", "自助办理", "近期免冠照片 ×1"] {
            assert!(page.contains(words), "{words} in {page}");
        }
        // Looked at: the phone forgets it; nothing is left to send, on any page.
        c.goto(&format!("{base}/resident/file/SOC-CARD"))
            .await
            .unwrap();
        heading(&c, "社会保障卡申领补换").await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let left = run(
            &c,
            "BianminOutbox.all().then(r => done(r.length), e => done(String(e)));",
        )
        .await;
        assert_eq!(left, serde_json::json!(0), "nothing kept on the phone");
        id
    });
    // However often the phone tried, one request.
    assert_eq!(documents(&hub), before + 1);
    assert_eq!(stored_photos(&hub, id), [(1600, 1200)]);
    let filings = link
        .requests()
        .into_iter()
        .filter(|s| s.method == "POST" && s.target == "/resident/file/SOC-CARD")
        .count();
    assert!(filings >= 1, "{filings}");
}

#[test]
#[ignore = "needs chromium and chromedriver: run by .ci/run"]
fn a_refused_form_comes_back_with_what_was_typed_and_files_once_corrected() {
    let hub = TestHub::start();
    let dir = tempfile::tempdir().unwrap();
    let (photo, _) = camera_photo(dir.path());
    let (base, code) = (hub.url.clone(), code(&hub));
    let before = documents(&hub);
    let hub = Arc::new(hub);
    let at_hub = hub.clone();
    let id = on_phone(true, move |c, _| async move {
        activate(&c, &base, &code).await;
        c.goto(&format!("{base}/resident/file/SOC-CARD"))
            .await
            .unwrap();
        fill_in(&c, &photo).await;
        // An ID number whose check digit is wrong: the hub refuses it, in her language.
        fill(&c, &format!("{FORM} #id_number"), "110105194912310021").await;
        click(&c, &format!("{FORM} button[type=submit]")).await;
        let error = shows_words(&c, &format!("{FORM} .outbox-error"), "身份证号码有误", WAIT).await;
        assert!(error.contains("没有提交"), "{error}");
        assert_eq!(documents(&at_hub), before, "nothing stored");
        // What she typed and photographed is back in the form.
        let kept = run(
            &c,
            "const f = document.querySelector(\"form[action='/resident/file/SOC-CARD']\");
             done([f.elements.phone.value, f.elements.grid.value,
                   document.querySelector('#photo-1').files.length]);",
        )
        .await;
        assert_eq!(kept, serde_json::json!(["138 1234 5678", "1组", 1]));
        // Corrected, it is filed, once.
        fill(&c, &format!("{FORM} #id_number"), "11010519491231002x").await;
        click(&c, &format!("{FORM} button[type=submit]")).await;
        heading(&c, "办件详情").await;
        assert!(page_text(&c).await.contains("申请已提交"));
        request_shown(&c).await
    });
    assert_eq!(documents(&hub), before + 1);
    assert_eq!(stored_photos(&hub, id), [(1600, 1200)]);
}

#[test]
#[ignore = "needs chromium and chromedriver: run by .ci/run"]
fn without_javascript_the_form_still_files_with_its_photo() {
    let hub = TestHub::start();
    let dir = tempfile::tempdir().unwrap();
    let (photo, _) = camera_photo(dir.path());
    let (base, code) = (hub.url.clone(), code(&hub));
    let before = documents(&hub);
    let id = on_phone(false, move |c, _| async move {
        activate(&c, &base, &code).await;
        c.goto(&format!("{base}/resident/file/SOC-CARD"))
            .await
            .unwrap();
        fill_in(&c, &photo).await;
        click(&c, &format!("{FORM} button[type=submit]")).await;
        heading(&c, "办件详情").await;
        let shown = page_text(&c).await;
        assert!(shown.contains("申请已提交"), "{shown}");
        assert!(!shown.contains(SAVED), "nothing kept on the phone: {shown}");
        request_shown(&c).await
    });
    assert_eq!(documents(&hub), before + 1);
    assert_eq!(stored_photos(&hub, id), [(1600, 1200)], "scaled by the hub");
}
