//! The hub's operations surface, checked the way an operator running several hubs behind a
//! load balancer checks it (see "Monitoring" in docs/operations.md):
//!
//! - `/metrics` parses as the Prometheus text format and tells the truth about what happened:
//!   sync rounds, accepted documents, refusals under their codes, the push latency histogram,
//!   attachment bytes both ways, open event streams, requests by route group (never by raw
//!   path) and the storage's counts; and it carries no personal data, user names, receipt
//!   numbers or tokens;
//! - `/readyz` answers `ready` on a working hub;
//! - a real `bianmin-server serve` sent SIGTERM while a round is under way finishes that round
//!   (the device gets its whole answer), answers `/readyz` with 503 meanwhile, and exits 0;
//! - `--log-format json` writes one JSON object per line; text logs to a pipe carry no colours.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::str::FromStr;
use std::sync::Mutex;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, ObjType, ROOT, ReadDoc, Value};
use bianmin_client_core::client::sync;
use bianmin_domain::{Action, Event, EventId, Stamp, Timestamp};
use bianmin_protocol::{B64, PROTOCOL_VERSION};
use bianmin_server::admin;
use bianmin_server::metrics::{REFUSAL_CODES, ROUTE_GROUPS};
use bianmin_server::storage::sqlite::SqliteStorage;
use bianmin_tests::hub::{CLERK, RESIDENT, TestHub, quick, server_binary};
use bianmin_tests::raw::{agent, post_json};
use bianmin_tests::social_card_request;
use serde_json::{Value as Json, json};
use uuid::Uuid;

/// The personal data of `social_card_request`.
const APPLICANT: &str = "王秀英";
const ID_NUMBER: &str = "11010519491231002X";
const PHONE: &str = "13812345678";

/// Bounded waits for things to happen (never a limit on how fast they happen).
const PATIENCE: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------------
// The Prometheus text format (version 0.0.4), parsed strictly and independently of the hub's
// encoder.

/// One sample line.
#[derive(Debug, Clone)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// The samples of an exposition, every line checked: `# HELP`/`# TYPE` before the samples of
/// their family, names and label names of the allowed characters, label values quoted with
/// their escapes, values numbers, each series once, and each histogram consistent.
fn parse_exposition(text: &str) -> Result<Vec<Sample>, String> {
    fn is_name(s: &str, colon: bool) -> bool {
        let mut chars = s.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || (colon && c == ':'))
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || (colon && c == ':'))
    }
    fn value(s: &str) -> Result<f64, String> {
        match s {
            "+Inf" => Ok(f64::INFINITY),
            "-Inf" => Ok(f64::NEG_INFINITY),
            "NaN" => Ok(f64::NAN),
            v => v.parse().map_err(|_| format!("not a value: {v:?}")),
        }
    }
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut samples: Vec<Sample> = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    if !text.ends_with('\n') {
        return Err("the last line does not end".into());
    }
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# ") {
            let mut words = rest.splitn(3, ' ');
            match (words.next(), words.next(), words.next()) {
                (Some("HELP"), Some(name), Some(_help)) if is_name(name, true) => {}
                (Some("TYPE"), Some(name), Some(kind)) if is_name(name, true) => {
                    if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                        return Err(format!("unknown type: {line}"));
                    }
                    if types.insert(name.to_string(), kind.to_string()).is_some() {
                        return Err(format!("a second TYPE for {name}"));
                    }
                }
                (Some("HELP" | "TYPE"), _, _) => return Err(format!("a bad line: {line}")),
                _ => {} // a comment
            }
            continue;
        }
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name_end, labels_end) = match line.find(['{', ' ']) {
            Some(i) if line.as_bytes()[i] == b'{' => (
                i,
                i + 1 + labels_len(&line[i + 1..]).ok_or(format!("bad labels: {line}"))?,
            ),
            Some(i) => (i, i),
            None => return Err(format!("no value: {line}")),
        };
        let name = &line[..name_end];
        if !is_name(name, true) {
            return Err(format!("a bad metric name: {line}"));
        }
        let labels = if labels_end > name_end {
            parse_labels(&line[name_end + 1..labels_end - 1])?
        } else {
            BTreeMap::new()
        };
        for key in labels.keys() {
            if !is_name(key, false) {
                return Err(format!("a bad label name {key:?}: {line}"));
            }
        }
        let mut rest = line[labels_end..].split_whitespace();
        let v = value(rest.next().ok_or(format!("no value: {line}"))?)?;
        if let Some(ts) = rest.next() {
            ts.parse::<i64>()
                .map_err(|_| format!("a bad timestamp: {line}"))?;
        }
        if rest.next().is_some() {
            return Err(format!("trailing text: {line}"));
        }
        [name, "_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| {
                let base = if *suffix == name {
                    name
                } else {
                    name.strip_suffix(suffix)?
                };
                types
                    .get(base)
                    .filter(|kind| *suffix == name || *kind == "histogram" || *kind == "summary")
                    .map(|_| base)
            })
            .ok_or(format!("a sample before its TYPE: {line}"))?;
        if !seen.insert((name.to_string(), format!("{labels:?}"))) {
            return Err(format!("a series twice: {line}"));
        }
        samples.push(Sample {
            name: name.to_string(),
            labels,
            value: v,
        });
    }
    // Histograms: cumulative buckets, `+Inf` equal to the count.
    for (name, kind) in &types {
        if kind != "histogram" {
            continue;
        }
        let buckets: Vec<&Sample> = samples
            .iter()
            .filter(|s| s.name == format!("{name}_bucket"))
            .collect();
        let mut last = 0.0;
        for b in &buckets {
            if b.value < last {
                return Err(format!("{name}: buckets not cumulative"));
            }
            last = b.value;
        }
        let inf = buckets
            .iter()
            .find(|b| b.labels.get("le").map(String::as_str) == Some("+Inf"))
            .ok_or(format!("{name}: no +Inf bucket"))?;
        let count = samples
            .iter()
            .find(|s| s.name == format!("{name}_count"))
            .ok_or(format!("{name}: no count"))?;
        if inf.value != count.value {
            return Err(format!("{name}: +Inf bucket differs from the count"));
        }
    }
    Ok(samples)
}

/// The length of a label list up to and including its closing `}`.
fn labels_len(s: &str) -> Option<usize> {
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match (quoted, escaped, c) {
            (true, true, _) => escaped = false,
            (true, false, '\\') => escaped = true,
            (_, false, '"') => quoted = !quoted,
            (false, _, '}') => return Some(i + 1),
            _ => {}
        }
    }
    None
}

/// `name="value",…` (a trailing comma allowed).
fn parse_labels(s: &str) -> Result<BTreeMap<String, String>, String> {
    let mut labels = BTreeMap::new();
    let mut rest = s;
    while !rest.is_empty() {
        let (key, after) = rest
            .split_once("=\"")
            .ok_or(format!("a bad label: {rest}"))?;
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next() {
                Some((_, '\\')) => match chars.next() {
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    Some((_, 'n')) => value.push('\n'),
                    _ => return Err(format!("a bad escape: {after}")),
                },
                Some((i, '"')) => break i,
                Some((_, c)) => value.push(c),
                None => return Err(format!("an unclosed label value: {after}")),
            }
        };
        if labels.insert(key.to_string(), value).is_some() {
            return Err(format!("label {key} twice"));
        }
        rest = &after[end + 1..];
        rest = rest.strip_prefix(',').unwrap_or(rest);
        if !rest.is_empty() && rest.starts_with(' ') {
            return Err(format!("a space in labels: {s}"));
        }
    }
    Ok(labels)
}

#[test]
fn the_parser_refuses_what_is_not_the_format() {
    let good = "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"1\\\"2\"} 3\n";
    let samples = parse_exposition(good).unwrap();
    assert_eq!(samples[0].labels["x"], "1\"2");
    for bad in [
        "a_total 1\n",                                              // no TYPE
        "# TYPE a counter\na 1",                                    // no final newline
        "# TYPE a counter\na{x=\"1} 1\n",                           // unclosed value
        "# TYPE a counter\na{x=\"1\"} one\n",                       // not a number
        "# TYPE a counter\na 1\na 2\n",                             // a series twice
        "# TYPE 1a counter\n",                                      // a bad name
        "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_count 1\n", // inconsistent
    ] {
        assert!(parse_exposition(bad).is_err(), "accepted {bad:?}");
    }
}

/// A scrape of `/metrics`: the samples, and the text (to look for what must not be there).
struct Scrape {
    samples: Vec<Sample>,
    text: String,
}

impl Scrape {
    fn of(url: &str) -> Scrape {
        let mut res = agent()
            .get(&format!("{url}/metrics"))
            .call()
            .expect("/metrics answers");
        assert_eq!(res.status().as_u16(), 200);
        let content_type = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        assert!(
            content_type.starts_with("text/plain; version=0.0.4"),
            "{content_type}"
        );
        let text = res.body_mut().read_to_string().expect("the text");
        let samples = parse_exposition(&text).unwrap_or_else(|e| panic!("{e} in\n{text}"));
        Scrape { samples, text }
    }

    /// The value of the series `name` with exactly these labels.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.samples
            .iter()
            .find(|s| {
                s.name == name
                    && s.labels.len() == labels.len()
                    && labels
                        .iter()
                        .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|s| s.value)
    }

    fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.value(name, labels)
            .unwrap_or_else(|| panic!("no {name}{labels:?} in\n{}", self.text))
    }
}

// ---------------------------------------------------------------------------------------------
// Raw HTTP

/// A device speaking raw HTTP with its token and Automerge actor.
struct RawDevice {
    url: String,
    token: String,
    actor: String,
    device_id: String,
    identity: Json,
}

impl RawDevice {
    fn enrol(url: &str, code: &str, name: &str) -> RawDevice {
        let body = json!({"protocol": PROTOCOL_VERSION, "code": code, "device_name": name});
        let (status, text) = post_json(
            &format!("{url}/api/v1/enrol"),
            None,
            body.to_string().as_bytes(),
        )
        .expect("the hub answers");
        assert_eq!(status, 200, "{text}");
        let res: Json = serde_json::from_str(&text).unwrap();
        RawDevice {
            url: url.to_string(),
            token: res["token"].as_str().unwrap().to_string(),
            actor: res["actor"].as_str().unwrap().to_string(),
            device_id: res["device_id"].as_str().unwrap().to_string(),
            identity: res["identity"].clone(),
        }
    }

    /// One round pushing these change bytes for `doc`: the one push result.
    fn push(&self, doc: Uuid, changes: Vec<Vec<u8>>) -> Json {
        let changes: Vec<Json> = changes
            .into_iter()
            .map(|c| serde_json::to_value(B64(c)).unwrap())
            .collect();
        let body = json!({
            "protocol": PROTOCOL_VERSION,
            "cursor": 0,
            "reference_version": 0,
            "push": [{"doc": doc, "changes": changes}],
        });
        let (status, text) = post_json(
            &format!("{}/api/v1/sync", self.url),
            Some(&self.token),
            body.to_string().as_bytes(),
        )
        .expect("the hub answers");
        assert_eq!(status, 200, "{text}");
        let res: Json = serde_json::from_str(&text).unwrap();
        res["results"][0].clone()
    }

    fn stamp(&self) -> Stamp {
        Stamp {
            user: self.identity["user"].as_str().unwrap().to_string(),
            role: serde_json::from_value(self.identity["role"].clone()).unwrap(),
            device: self.device_id.clone(),
            at: Timestamp::now(),
        }
    }
}

/// The change that appends an approval to the hub's copy of `doc`, made with `actor` (a
/// resident approving her own request: refused as `forbidden`).
fn forged_approval(hub: &TestHub, doc: Uuid, actor: &str, by: Stamp) -> Vec<Vec<u8>> {
    let record = hub.storage.document(doc).unwrap().expect("the hub has it");
    let mut am = AutoCommit::load(&record.bytes)
        .unwrap()
        .with_actor(ActorId::from_str(actor).expect("hex actor"));
    let before = am.get_heads();
    let events_list = match am.get(ROOT, "events").unwrap() {
        Some((Value::Object(ObjType::List), id)) => id,
        other => panic!("events is not a list: {other:?}"),
    };
    let events: Vec<Event> = (0..am.length(&events_list))
        .map(|i| {
            let (v, _) = am.get(&events_list, i).unwrap().unwrap();
            serde_json::from_str(&v.into_string().unwrap()).unwrap()
        })
        .collect();
    let tips = events
        .iter()
        .map(|e| e.id)
        .filter(|id| !events.iter().any(|e| e.after.contains(id)))
        .collect();
    let event = Event {
        id: EventId::new(),
        after: tips,
        by,
        action: Action::Approve {
            note: "自己批准".into(),
        },
    };
    let at = am.length(&events_list);
    am.insert(&events_list, at, serde_json::to_string(&event).unwrap())
        .unwrap();
    am.get_changes(&before)
        .into_iter()
        .map(|c| c.raw_bytes().to_vec())
        .collect()
}

/// A small JPEG-signed attachment.
fn photo() -> Vec<u8> {
    let mut bytes = vec![0xFF, 0xD8, 0xFF, 0xE0];
    bytes.extend((0..20_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    bytes
}

/// An open `GET /api/v1/events` whose answer has begun (the stream is open at the hub).
fn open_event_stream(url: &str, token: &str) -> TcpStream {
    let addr = url.strip_prefix("http://").expect("http");
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    write!(
        s,
        "GET /api/v1/events HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\r\n"
    )
    .unwrap();
    let head = read_head(&mut s);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    s
}

/// Reads a response's status line and headers (up to the blank line).
fn read_head(s: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = s.read(&mut byte).expect("the head of an answer");
        assert_eq!(n, 1, "the connection closed in the head: {head:?}");
        head.push(byte[0]);
    }
    String::from_utf8(head).expect("an ASCII head")
}

/// Reads a response's body after its head: by `Content-Length`, or chunked.
fn read_body(s: &mut TcpStream, head: &str) -> Vec<u8> {
    let header = |name: &str| {
        head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    };
    if let Some(len) = header("content-length") {
        let mut body = vec![0u8; len.parse().expect("a length")];
        s.read_exact(&mut body).expect("the whole body");
        return body;
    }
    assert_eq!(
        header("transfer-encoding").as_deref(),
        Some("chunked"),
        "{head}"
    );
    let mut reader = BufReader::new(s);
    let mut body = Vec::new();
    loop {
        let mut size = String::new();
        reader.read_line(&mut size).expect("a chunk size");
        let size = usize::from_str_radix(size.trim(), 16).expect("a hex size");
        let mut chunk = vec![0u8; size + 2];
        reader.read_exact(&mut chunk).expect("a chunk");
        if size == 0 {
            return body;
        }
        body.extend_from_slice(&chunk[..size]);
    }
}

/// Waits (at most [`PATIENCE`]) until `check` holds.
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline {
        if check() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{what}: not within {PATIENCE:?}");
}

fn get(url: &str) -> (u16, String) {
    let mut res = agent().get(url).call().expect("the hub answers");
    let status = res.status().as_u16();
    (status, res.body_mut().read_to_string().unwrap_or_default())
}

// ---------------------------------------------------------------------------------------------
// /metrics and /readyz on a hub in this process

#[test]
fn metrics_show_rounds_refusals_push_times_and_attachment_bytes_and_no_personal_data() {
    let hub = TestHub::start();
    let dir = tempfile::tempdir().unwrap();
    let clerk = Mutex::new(hub.enrol(CLERK, dir.path(), "east-tablet"));
    let wang = hub.storage.user_by_name(RESIDENT).unwrap().unwrap().id;
    let bytes = photo();
    let (request, receipt, sha) = {
        let mut s = clerk.lock().unwrap();
        let mut new = social_card_request();
        new.resident_user = Some(wang);
        let filed = s.file_request(new).unwrap();
        let reference = s.attach_bytes(filed.id, "ID card", &bytes).unwrap();
        s.apply(filed.id, Action::Accept).unwrap();
        s.apply(filed.id, Action::Forward).unwrap();
        (filed.id, filed.receipt_no.to_string(), reference.sha256)
    };
    let report = sync(&clerk, &quick(), &mut |_| {}).unwrap();
    assert_eq!(report.accepted, 1);
    assert!(report.refused.is_empty(), "{:?}", report.refused);
    let (url, token) = clerk.lock().unwrap().server().unwrap().expect("enrolled");

    // The attachment's bytes up, then down.
    let mut up = agent()
        .put(&format!("{url}/api/v1/blobs/{sha}?offset=0"))
        .header("Authorization", &format!("Bearer {token}"))
        .header("Content-Type", "application/octet-stream")
        .send(&bytes[..])
        .unwrap();
    let status: Json = serde_json::from_str(&up.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(status["complete"], true, "{status}");
    let mut down = agent()
        .get(&format!("{url}/api/v1/blobs/{sha}"))
        .header("Authorization", &format!("Bearer {token}"))
        .call()
        .unwrap();
    assert_eq!(down.status().as_u16(), 200);
    let got = down
        .body_mut()
        .with_config()
        .limit(1 << 20)
        .read_to_vec()
        .unwrap();
    assert_eq!(got, bytes);

    // Two refused pushes: the resident approving her own request, and bytes that are no change.
    let resident = RawDevice::enrol(&hub.url, &hub.code(RESIDENT), "wang-phone");
    let forged = forged_approval(&hub, request, &resident.actor, resident.stamp());
    let refused = resident.push(request, forged);
    assert_eq!(refused["code"], "forbidden", "{refused}");
    let garbage = resident.push(Uuid::new_v4(), vec![b"not an automerge change".to_vec()]);
    assert_eq!(garbage["code"], "malformed", "{garbage}");

    // One request of each other route group, and one that matches no route.
    assert_eq!(get(&format!("{url}/public")).0, 200);
    assert_eq!(get(&format!("{url}/console/sign-in")).0, 200);
    assert_eq!(get(&format!("{url}/no/such/{sha}")).0, 404);
    let events = open_event_stream(&url, &token);

    let m = Scrape::of(&url);
    let sync_answers = m.get(
        "bianmin_http_requests_total",
        &[("group", "sync"), ("class", "2xx")],
    );
    let rounds = m.get("bianmin_sync_rounds_total", &[]);
    assert!(
        rounds >= 3.0,
        "the clerk's rounds and the resident's two: {rounds}"
    );
    assert_eq!(
        rounds, sync_answers,
        "every answered round is a 2xx sync request"
    );
    assert_eq!(
        m.get("bianmin_sync_documents_accepted_total", &[]),
        report.accepted as f64
    );
    let refused = |code| m.get("bianmin_sync_documents_refused_total", &[("code", code)]);
    assert_eq!(refused("forbidden"), 1.0);
    assert_eq!(refused("malformed"), 1.0);
    for code in REFUSAL_CODES.into_iter().chain(["other"]) {
        if !["forbidden", "malformed"].contains(&code) {
            assert_eq!(refused(code), 0.0, "{code}");
        }
    }
    // The clerk's round with its push and the resident's two.
    let pushes = m.get("bianmin_sync_push_duration_seconds_count", &[]);
    assert!((3.0..=rounds).contains(&pushes), "{pushes} of {rounds}");
    assert!(m.get("bianmin_sync_push_duration_seconds_sum", &[]) > 0.0);
    assert_eq!(
        m.get(
            "bianmin_sync_push_duration_seconds_bucket",
            &[("le", "+Inf")]
        ),
        pushes
    );
    assert_eq!(
        m.get("bianmin_blob_received_bytes_total", &[]),
        bytes.len() as f64
    );
    assert_eq!(
        m.get("bianmin_blob_sent_bytes_total", &[]),
        bytes.len() as f64
    );
    assert_eq!(m.get("bianmin_event_streams_open", &[]), 1.0);
    let (documents, changes) = hub.storage.counts().unwrap();
    assert_eq!(m.get("bianmin_storage_documents", &[]), documents as f64);
    assert_eq!(m.get("bianmin_storage_changes", &[]), changes as f64);
    assert_eq!(m.get("bianmin_draining", &[]), 0.0);
    for (group, class, at_least) in [
        ("enrol", "2xx", 2.0),
        ("blobs", "2xx", 2.0),
        ("public", "2xx", 1.0),
        ("console", "2xx", 1.0),
        ("other", "4xx", 1.0),
    ] {
        let n = m.get(
            "bianmin_http_requests_total",
            &[("group", group), ("class", class)],
        );
        assert!(n >= at_least, "{group} {class}: {n}");
    }
    // Bounded label sets: route groups and status classes only, never a path.
    for s in m
        .samples
        .iter()
        .filter(|s| s.name == "bianmin_http_requests_total")
    {
        assert!(ROUTE_GROUPS.contains(&s.labels["group"].as_str()), "{s:?}");
        assert!(
            ["1xx", "2xx", "3xx", "4xx", "5xx"].contains(&s.labels["class"].as_str()),
            "{s:?}"
        );
    }
    for secret in [
        APPLICANT,
        ID_NUMBER,
        PHONE,
        CLERK,
        RESIDENT,
        receipt.as_str(),
        token.as_str(),
        resident.token.as_str(),
        resident.device_id.as_str(),
        sha.as_str(),
        "/api/v1",
    ] {
        assert!(!m.text.contains(secret), "{secret:?} in\n{}", m.text);
    }

    // The event stream closed: the gauge comes down.
    drop(events);
    eventually("the closed event stream is no longer counted", || {
        Scrape::of(&url).get("bianmin_event_streams_open", &[]) == 0.0
    });
}

/// On PostgreSQL, `/metrics` shows the process's pool of database connections; an embedded
/// hub, which has none, shows a pool of 0.
#[test]
fn metrics_show_the_database_pool_on_postgres_only() {
    let hub = TestHub::start();
    if hub.storage.connections().is_none() {
        let m = Scrape::of(&hub.url);
        assert_eq!(m.get("bianmin_storage_connections_max", &[]), 0.0);
    }
    let Some(pair) = TestHub::pair() else { return };
    let m = Scrape::of(&pair.a.url);
    // `TestHub`'s pools open at most 8 connections.
    assert_eq!(m.get("bianmin_storage_connections_max", &[]), 8.0);
    let in_use = m.get("bianmin_storage_connections", &[("state", "in_use")]);
    let idle = m.get("bianmin_storage_connections", &[("state", "idle")]);
    assert!(
        in_use + idle >= 1.0,
        "the hub has connected: {in_use} + {idle}"
    );
    assert!(in_use + idle <= 8.0);
}

#[test]
fn readyz_is_ready_on_a_working_hub_and_healthz_stays_ok() {
    let hub = TestHub::start();
    assert_eq!(
        get(&format!("{}/readyz", hub.url)),
        (200, "ready".to_string())
    );
    assert_eq!(
        get(&format!("{}/healthz", hub.url)),
        (200, "ok".to_string())
    );
    // Once shutdown has begun the hub is no longer ready, though it still answers.
    hub.state.metrics.begin_shutdown();
    let (status, reason) = get(&format!("{}/readyz", hub.url));
    assert_eq!((status, reason.as_str()), (503, "shutting down"));
    assert_eq!(
        get(&format!("{}/healthz", hub.url)),
        (200, "ok".to_string())
    );
    assert_eq!(Scrape::of(&hub.url).get("bianmin_draining", &[]), 1.0);
}

// ---------------------------------------------------------------------------------------------
// A real `bianmin-server serve`

/// The hub binary serving a data directory with the demo users, its stderr collected.
struct Process {
    child: Child,
    url: String,
    addr: SocketAddr,
    stderr: Option<JoinHandle<String>>,
}

impl Process {
    fn start(data_dir: &Path, extra: &[&str]) -> Process {
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port");
        let mut child = Command::new(server_binary())
            .arg("--data-dir")
            .arg(data_dir)
            .args(["serve", "--listen", &addr.to_string()])
            .args(extra)
            .env_remove("RUST_LOG")
            .env_remove("BIANMIN_LOG_FORMAT")
            .env_remove("NO_COLOR")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn bianmin-server");
        let mut pipe = child.stderr.take().expect("stderr");
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        });
        let p = Process {
            child,
            url: format!("http://{addr}"),
            addr,
            stderr: Some(stderr),
        };
        eventually("bianmin-server comes up", || {
            ureq::get(&format!("{}/healthz", p.url)).call().is_ok()
        });
        p
    }

    fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// Waits for the process to exit; its status and everything it logged.
    fn exit(mut self) -> (ExitStatus, String) {
        let mut status = None;
        eventually("bianmin-server exits", || {
            status = self.child.try_wait().expect("try_wait");
            status.is_some()
        });
        let logs = self.stderr.take().unwrap().join().expect("stderr");
        (status.unwrap(), logs)
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A data directory with the demo users, and a one-time enrolment code for the clerk.
fn data_dir() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let storage = SqliteStorage::open(dir.path()).unwrap();
    admin::load_demo(&storage).unwrap();
    let code = admin::issue_enrolment_code(&storage, CLERK, Duration::from_secs(3600)).unwrap();
    (dir, code)
}

#[test]
fn sigterm_lets_a_round_under_way_finish_says_not_ready_meanwhile_and_exits_0() {
    let (dir, code) = data_dir();
    let hub = Process::start(dir.path(), &["--log-format", "json"]);
    assert_eq!(
        get(&format!("{}/readyz", hub.url)),
        (200, "ready".to_string())
    );
    let tablet = RawDevice::enrol(&hub.url, &code, "east-tablet");

    // A round whose body is still on its way: the hub has taken it up (it asked for the body
    // with `100 Continue`, after checking the token) and waits for the bytes.
    let body =
        json!({"protocol": PROTOCOL_VERSION, "cursor": 0, "reference_version": 0, "push": []})
            .to_string();
    let mut round = TcpStream::connect(hub.addr).unwrap();
    round.set_read_timeout(Some(PATIENCE)).unwrap();
    write!(
        round,
        "POST /api/v1/sync HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\r\n",
        hub.addr,
        tablet.token,
        body.len()
    )
    .unwrap();
    let go_on = read_head(&mut round);
    assert!(go_on.starts_with("HTTP/1.1 100"), "{go_on}");

    hub.terminate();
    // Draining: new connections are still answered, `/readyz` with 503, `/healthz` with ok.
    let mut reason = String::new();
    eventually("/readyz answers 503 once SIGTERM came", || {
        let (status, text) = get(&format!("{}/readyz", hub.url));
        reason = text;
        status == 503
    });
    assert_eq!(reason, "shutting down");
    assert_eq!(get(&format!("{}/healthz", hub.url)).0, 200);

    // The round's body arrives: the device gets its whole answer.
    round.write_all(body.as_bytes()).unwrap();
    let head = read_head(&mut round);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let answer: Json = serde_json::from_slice(&read_body(&mut round, &head)).expect("JSON");
    assert_eq!(answer["protocol"], PROTOCOL_VERSION, "{answer}");
    assert!(answer["cursor"].is_u64(), "{answer}");
    assert!(answer["log"].is_string(), "{answer}");

    let (status, logs) = hub.exit();
    assert_eq!(status.code(), Some(0), "{logs}");
    // Every line is a JSON object; the drain is logged where it begins and ends.
    let lines: Vec<Json> = logs
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect();
    let message = |l: &Json| l["message"].as_str().unwrap_or("").to_string();
    let begun = lines
        .iter()
        .position(|l| message(l).starts_with("shutdown begun"))
        .unwrap_or_else(|| panic!("no shutdown line in {logs}"));
    assert_eq!(lines[begun]["level"], "INFO");
    assert_eq!(lines[begun]["signal"], "SIGTERM");
    assert!(lines[begun]["timestamp"].is_string());
    let done = lines
        .iter()
        .position(|l| message(l) == "shutdown done")
        .unwrap_or_else(|| panic!("no end of shutdown in {logs}"));
    assert!(begun < done);
}

#[test]
fn text_logs_into_a_pipe_carry_no_colours() {
    let (dir, _) = data_dir();
    let hub = Process::start(dir.path(), &[]);
    assert_eq!(get(&format!("{}/readyz", hub.url)).0, 200);
    hub.terminate();
    let (status, logs) = hub.exit();
    assert_eq!(status.code(), Some(0), "{logs}");
    assert!(logs.contains("INFO"), "{logs}");
    assert!(logs.contains("shutdown begun"), "{logs}");
    assert!(logs.contains("shutdown done"), "{logs}");
    assert!(!logs.contains("\x1b["), "colours in {logs:?}");
    assert!(logs.lines().all(|l| !l.starts_with('{')), "{logs}");
}
