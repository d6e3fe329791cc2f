//! The cost of the largest request document the rules allow, run by hand and read by a person
//! (no assertion on time):
//!
//! ```text
//! cargo bench -p bianmin-tests --bench largest
//! ```
//!
//! - (a) `bianmin_document::check_push` (the one check the tablet runs on its writes and the
//!   hub on every push) of the largest request document [`limits`] allow: `limits::EVENTS`
//!   events (a submission, an acceptance and return-for-supplement / supplement cycles),
//!   `limits::COMMENTS` comments, `limits::EDITS` edit records (phone and attribute edits) and
//!   `limits::ATTACHMENTS` attachment references, written with the document crate's writer
//!   functions. Pushed as a new document in one change, and in one change per entry (as a
//!   tablet that worked offline pushes it), and one more entry pushed onto the document when
//!   it is (all but) full: time per push. Twice: with every text at its longest (comments of
//!   `limits::COMMENT_CHARS` characters, return notes of 2,000) and with short texts.
//! - (b) `Document::load` + `request_detail` of that document: the work of the console's
//!   request page.
//! - (c) `bianmin_domain::replay` against the number of events (10 to 2,000), for a linear
//!   chain and for logs with concurrent branches, with the ratio `t(n) / t(n/2)`: about 2 when
//!   the cost is linear, 4 when quadratic.
//!
//! `BENCH_BUDGET_MS` (default 400) is the time spent per measurement (at least 3 runs).

use std::hint::black_box;
use std::time::{Duration, Instant};

use automerge::{ActorId, AutoCommit};
use bianmin_document::author::{self, Author, NewAttachment};
use bianmin_document::layout::{self, request::RequestDoc};
use bianmin_document::model::{FieldEdit, NewRequest};
use bianmin_document::{
    Context, Decoded, Document, Environment, Reference, Residence, check_push, limits,
};
use bianmin_domain::{
    Action, AttrValue, Event, EventId, HandlingLevel, Identity, MediaType, ReceiptNo, Role, Stamp,
    Timestamp, replay,
};
use uuid::Uuid;

const EAST: &str = "370883101201";
/// The item filed: four materials, two number attributes, forwarded to the township.
const ITEM: &str = "AID-DIBAO";

/// What the tablet knows about the world, as far as this check is concerned: nothing taken,
/// nothing hidden (the hub's answers are database look-ups, not measured here).
struct Env;

impl Environment for Env {
    fn residence(&self, _user: &str) -> Residence {
        Residence::Unknown
    }
    fn receipt_taken(&self, _receipt_no: &str, _doc: Uuid) -> bool {
        false
    }
    fn blob_hidden(&self, _sha256: &str, _sender: &Identity) -> bool {
        false
    }
}

fn budget() -> Duration {
    Duration::from_millis(
        std::env::var("BENCH_BUDGET_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(400),
    )
}

/// The median and the fastest time of `f`, run for the budget (at least 3 times).
fn measure(mut f: impl FnMut()) -> (Duration, Duration) {
    let budget = budget();
    let started = Instant::now();
    let mut times = Vec::new();
    while times.len() < 3 || (started.elapsed() < budget && times.len() < 10_000) {
        let t = Instant::now();
        f();
        times.push(t.elapsed());
    }
    times.sort();
    (times[times.len() / 2], times[0])
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1e3)
}

fn us(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e6)
}

fn mib(n: usize) -> String {
    format!("{:.2}", n as f64 / (1024.0 * 1024.0))
}

// ---------------------------------------------------------------------------------------------
// (a), (b): the largest request document

/// One write to the document, as a tablet makes it.
#[derive(Debug, Clone)]
enum Write {
    Event(Action),
    Comment(String),
    Edit(FieldEdit),
    Attach(usize),
}

/// The writes after the filing (which carries the submission), in order: events interleaved
/// with comments, edits and attachments, ending with the last event and the last comment.
fn writes(long: bool, materials: &[String]) -> Vec<Write> {
    // Long texts are of varied characters, as people write them: repeated ones would compress
    // to nothing in the saved document.
    let note = |i: usize| {
        if long {
            hanzi(i as u64 + 1, 2000)
        } else {
            "请补交材料".to_string()
        }
    };
    let comment = |i: usize| {
        if long {
            hanzi(0x1_0000 + i as u64, limits::COMMENT_CHARS)
        } else {
            format!("已电话联系申请人 #{i}")
        }
    };
    let mut events = vec![Action::Accept];
    while events.len() + 1 < limits::EVENTS {
        events.push(Action::ReturnForSupplement {
            missing: materials.to_vec(),
            note: note(events.len()),
        });
        events.push(Action::Supplement {
            provided: materials.to_vec(),
        });
    }
    assert_eq!(events.len() + 1, limits::EVENTS, "with the submission");
    let mut others = Vec::new();
    let (mut c, mut e, mut a, mut round) = (0, 0, 0, 0);
    while c < limits::COMMENTS - 1 || e < limits::EDITS || a < limits::ATTACHMENTS {
        round += 1;
        if c < limits::COMMENTS - 1 {
            others.push(Write::Comment(comment(c)));
            c += 1;
        }
        for _ in 0..2 {
            if e < limits::EDITS {
                others.push(Write::Edit(if e % 2 == 0 {
                    FieldEdit::Phone(format!("138{:08}", e))
                } else {
                    FieldEdit::Attribute {
                        code: "household_members".into(),
                        value: Some(AttrValue::Number((e % 9 + 1) as f64)),
                    }
                }));
                e += 1;
            }
        }
        if a < limits::ATTACHMENTS && (round % 5 == 0 || c == limits::COMMENTS - 1) {
            others.push(Write::Attach(a));
            a += 1;
        }
    }
    let last_event = events.pop().expect("events");
    let per_event = others.len().div_ceil(events.len());
    let mut out = Vec::new();
    let mut rest = others.into_iter();
    for ev in events {
        out.push(Write::Event(ev));
        out.extend(rest.by_ref().take(per_event));
    }
    out.extend(rest);
    out.push(Write::Event(last_event));
    out.push(Write::Comment(comment(limits::COMMENTS - 1)));
    out
}

/// `n` Chinese characters drawn from the common range, the same for the same `seed`.
fn hanzi(seed: u64, n: usize) -> String {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    (0..n)
        .map(|_| char::from_u32(0x4E00 + rng.below(0x5000) as u32).expect("a CJK character"))
        .collect()
}

/// The largest document, built with the writer functions by East Village's clerk.
struct Largest {
    id: Uuid,
    /// The whole document in one change.
    one: Vec<u8>,
    /// The whole document in one change per entry (the filing first).
    many: Vec<Vec<u8>>,
    /// The whole document, saved.
    saved: Vec<u8>,
    decoded: RequestDoc,
}

fn build(long: bool, reference: &Reference, clerk: &Identity, actor: &ActorId) -> Largest {
    let item = reference.catalog.item(ITEM).expect("the item");
    let materials = item.materials.clone();
    let plan = writes(long, &materials);
    let start = Timestamp::now().0 - (plan.len() as i64 + 10) * 1000;
    let at = |i: usize| Timestamp(start + i as i64 * 1000);
    let new = NewRequest {
        item_code: ITEM.into(),
        applicant_name: "王秀英".into(),
        id_number: "11010519491231002X".into(),
        phone: "13812345678".into(),
        grid: "1组".into(),
        attributes: [
            ("household_members".to_string(), AttrValue::Number(3.0)),
            ("monthly_income".to_string(), AttrValue::Number(800.0)),
        ]
        .into(),
        materials_received: materials.clone(),
        resident_user: None,
        submit: true,
    };
    let mut results: Vec<(Uuid, Vec<Vec<u8>>, AutoCommit)> = Vec::new();
    for commit_each in [false, true] {
        let author_at = |i: usize| Author {
            identity: clerk,
            reference,
            at: at(i),
        };
        let mut d = author::new_request(&author_at(0), &new, &ReceiptNo::new(EAST, 7, 1))
            .expect("a valid filing");
        // Both forms are the same document.
        if let Some((prev, ..)) = results.first() {
            d.id = *prev;
        }
        let mut am = AutoCommit::new().with_actor(actor.clone());
        layout::request::create(&mut am, &d).expect("written");
        let mut changes = Vec::new();
        let mut take = |am: &mut AutoCommit| {
            let hash = am.commit().expect("something was written");
            let change = am.get_change_by_hash(&hash).expect("the change");
            changes.push(change.raw_bytes().to_vec());
        };
        if commit_each {
            take(&mut am);
        }
        for (i, w) in plan.iter().enumerate() {
            let a = author_at(i + 1);
            match w {
                Write::Event(action) => {
                    author::request_event(&a, &d, &mut am, action.clone()).expect("written");
                    // The next event's `after` is the tips of the log: keep the log in step.
                    d.events = layout::read_log(&am, "events").expect("events");
                }
                Write::Comment(text) => author::request_comment(&a, &d, &mut am, text).unwrap(),
                Write::Edit(edit) => author::request_edit(&a, &d, &mut am, edit).unwrap(),
                Write::Attach(n) => {
                    let sha256 = format!("{:064x}", n + 1);
                    author::request_attach(
                        &a,
                        &d,
                        &mut am,
                        &NewAttachment {
                            sha256,
                            media_type: MediaType::Jpeg,
                            size: 180_000,
                            material: &materials[n % materials.len()],
                        },
                    )
                    .expect("written");
                }
            }
            if commit_each {
                take(&mut am);
            }
        }
        if !commit_each {
            take(&mut am);
        }
        results.push((d.id, changes, am));
    }
    let (id, one, _) = results.remove(0);
    let (id2, many, mut am) = results.remove(0);
    assert_eq!(id, id2);
    assert_eq!(one.len(), 1);
    match prefix(&one, 1).decoded() {
        Decoded::Request(r) => assert_eq!(r.comments.len(), limits::COMMENTS, "all in one change"),
        Decoded::Agenda(_) => unreachable!("a request"),
    }
    let saved = am.save();
    let decoded = layout::request::read(&am).expect("a request");
    assert_eq!(decoded.events.len(), limits::EVENTS);
    assert_eq!(decoded.comments.len(), limits::COMMENTS);
    assert_eq!(decoded.edits.len(), limits::EDITS);
    assert_eq!(
        decoded.attachments.as_ref().map(Vec::len),
        Some(limits::ATTACHMENTS)
    );
    Largest {
        id,
        one: one.into_iter().next().expect("one change"),
        many,
        saved,
        decoded,
    }
}

/// The document made of the first `n` changes.
fn prefix(changes: &[Vec<u8>], n: usize) -> Document {
    let mut am = AutoCommit::new();
    am.load_incremental(&changes[..n].concat())
        .expect("changes load");
    Document::from_automerge(am).expect("a document")
}

/// A measured push: what, onto which copy (`None`: a new document), which changes.
type Push<'a> = (&'static str, Option<&'a Document>, Vec<Vec<u8>>);

fn part_a_b() {
    let reference = Reference::demo();
    let clerk = Identity::new("clerk-east", Role::Clerk, EAST, "device-east-1").expect("identity");
    let actor = ActorId::from(Uuid::new_v4().as_bytes().as_slice());
    let actor_hex = actor.to_hex_string();
    let env = Env;
    let ctx = || Context {
        sender: &clerk,
        device_no: Some(7),
        reference: &reference,
        now: Timestamp::now(),
        env: &env,
    };
    println!(
        "(a) check_push of the largest request document: {} events, {} comments, {} edit \
         records, {} attachment references",
        limits::EVENTS,
        limits::COMMENTS,
        limits::EDITS,
        limits::ATTACHMENTS
    );
    println!(
        "{:<12} {:<44} {:>8} {:>10} {:>11} {:>9}",
        "texts", "push", "changes", "MiB sent", "median ms", "min ms"
    );
    let mut pages = Vec::new();
    for long in [true, false] {
        let texts = if long { "longest" } else { "short" };
        let built = Instant::now();
        let l = build(long, &reference, &clerk, &actor);
        let build_time = built.elapsed();
        let ok = |r: Result<bianmin_document::AcceptedPush, bianmin_document::Refusal>| {
            let accepted = r.unwrap_or_else(|e| panic!("the largest document is allowed: {e}"));
            black_box(accepted);
        };
        let n = l.many.len();
        let full_comment = prefix(&l.many, n - 1);
        let full_event = prefix(&l.many, n - 2);
        let rows: Vec<Push<'_>> = vec![
            ("new document, one change", None, vec![l.one.clone()]),
            ("new document, one change per entry", None, l.many.clone()),
            (
                "1 comment onto the full document",
                Some(&full_comment),
                vec![l.many[n - 1].clone()],
            ),
            (
                "the last event onto the full document",
                Some(&full_event),
                vec![l.many[n - 2].clone()],
            ),
        ];
        for (what, current, changes) in rows {
            let bytes: usize = changes.iter().map(Vec::len).sum();
            let (median, min) =
                measure(|| ok(check_push(current, l.id, &changes, &actor_hex, &ctx())));
            println!(
                "{texts:<12} {what:<44} {:>8} {:>10} {:>11} {:>9}",
                changes.len(),
                mib(bytes),
                ms(median),
                ms(min)
            );
        }
        println!(
            "{texts:<12} (built in {:.1} s; saved document {} MiB, largest entry {} bytes)",
            build_time.as_secs_f64(),
            mib(l.saved.len()),
            largest_entry(&l.decoded)
        );
        pages.push((texts, l));
    }

    println!();
    println!("(b) the console's request page: Document::load + request_detail of that document");
    println!("(fastest of the runs: the least disturbed by whatever else the machine does)");
    println!(
        "{:<12} {:>10} {:>12} {:>12} {:>12}",
        "texts", "MiB", "load ms", "detail ms", "both ms"
    );
    let today = Timestamp::now().china_date();
    for (texts, l) in &pages {
        let (_, load) = measure(|| {
            black_box(Document::load(&l.saved).expect("loads"));
        });
        let doc = Document::load(&l.saved).expect("loads");
        let (_, detail) = measure(|| {
            black_box(doc.request_detail(&reference, today).expect("a request"));
        });
        let (_, both) = measure(|| {
            let doc = Document::load(&l.saved).expect("loads");
            black_box(doc.request_detail(&reference, today).expect("a request"));
        });
        println!(
            "{texts:<12} {:>10} {:>12} {:>12} {:>12}",
            mib(l.saved.len()),
            ms(load),
            ms(detail),
            ms(both)
        );
    }
}

fn largest_entry(d: &RequestDoc) -> usize {
    let size = |v: serde_json::Result<Vec<u8>>| v.map_or(0, |v| v.len());
    d.events
        .iter()
        .map(|e| size(serde_json::to_vec(e)))
        .chain(d.comments.iter().map(|c| size(serde_json::to_vec(c))))
        .max()
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------------------------
// (c) replay against the number of events

const LEVEL: HandlingLevel = HandlingLevel::VillageCollectsTownshipHandles;

fn id(i: usize) -> EventId {
    EventId(Uuid::from_u128(i as u128 + 1))
}

fn stamp(role: Role, device: usize) -> Stamp {
    Stamp {
        user: format!("u-{}", role.as_str()),
        role,
        device: format!("dev-{device}"),
        at: Timestamp(1_780_000_000_000),
    }
}

fn ret() -> Action {
    Action::ReturnForSupplement {
        missing: vec!["Income statement".into()],
        note: String::new(),
    }
}

fn supplement() -> Action {
    Action::Supplement {
        provided: vec!["Income statement".into()],
    }
}

#[derive(Default)]
struct Log(Vec<Event>);

impl Log {
    fn push(&mut self, after: Vec<EventId>, action: Action) -> EventId {
        let i = self.0.len();
        let role = match action {
            Action::Approve { .. } | Action::Reject { .. } | Action::ReturnForSupplement { .. } => {
                Role::Reviewer
            }
            _ => Role::Clerk,
        };
        self.0.push(Event {
            id: id(i),
            after,
            by: stamp(role, i % 3),
            action,
        });
        id(i)
    }

    fn start(&mut self) -> EventId {
        let tip = self.push(vec![], Action::Submit);
        let tip = self.push(vec![tip], Action::Accept);
        self.push(vec![tip], Action::Forward)
    }
}

/// Submit, accept, forward, then return / supplement cycles: one chain.
fn linear(n: usize) -> Vec<Event> {
    let mut log = Log::default();
    let mut tip = log.start();
    while log.0.len() < n {
        let r = log.push(vec![tip], ret());
        tip = log.push(vec![r], supplement());
    }
    log.0.truncate(n);
    log.0
}

/// Like [`linear`], but every other cycle branches: two reviewers return it at once (they
/// agree; the supplement names both), or the township approves while it is returned (a
/// conflict, settled, then supplemented).
fn concurrent(n: usize) -> Vec<Event> {
    let mut log = Log::default();
    let mut tip = log.start();
    let mut cycle = 0;
    while log.0.len() < n {
        cycle += 1;
        match cycle % 4 {
            1 => {
                let a = log.push(vec![tip], ret());
                let b = log.push(vec![tip], ret());
                tip = log.push(vec![a, b], supplement());
            }
            3 => {
                let r = log.push(vec![tip], ret());
                let a = log.push(
                    vec![tip],
                    Action::Approve {
                        note: String::new(),
                    },
                );
                let s = log.push(
                    vec![r, a],
                    Action::Settle {
                        keep: r,
                        note: "材料仍缺".into(),
                    },
                );
                tip = log.push(vec![s], supplement());
            }
            _ => {
                let r = log.push(vec![tip], ret());
                tip = log.push(vec![r], supplement());
            }
        }
    }
    log.0.truncate(n);
    log.0
}

/// A tiny deterministic generator (xorshift).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }
}

/// Sixteen devices appending concurrently: every event names up to `limits::AFTER` parents
/// among the last 32 events, with actions of every kind (most of them then invalid).
fn many_devices(n: usize) -> Vec<Event> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut log = Log::default();
    log.start();
    while log.0.len() < n {
        let len = log.0.len();
        let parents = 1 + rng.below(limits::AFTER);
        let mut after: Vec<EventId> = (0..parents)
            .map(|_| id(len - 1 - rng.below(len.min(32))))
            .collect();
        after.sort();
        after.dedup();
        let action = match rng.below(8) {
            0 | 1 => ret(),
            2 | 3 => supplement(),
            4 => Action::Approve {
                note: String::new(),
            },
            5 => Action::Withdraw {
                reason: String::new(),
            },
            6 => Action::Settle {
                keep: after[0],
                note: "保留".into(),
            },
            _ => Action::Forward,
        };
        log.push(after, action);
    }
    log.0
}

/// A log of `n` events of some shape.
type Shape = fn(usize) -> Vec<Event>;

fn part_c() {
    println!();
    println!(
        "(c) replay time against event count (ratio t(n)/t(n/2): 2 linear, 4 quadratic); \
         documents hold at most {} events",
        limits::EVENTS
    );
    println!("(fastest of the runs; each size measured once, t(n/2) is the row of n/2)");
    println!(
        "{:<30} {:>6} {:>12} {:>14} {:>7}",
        "shape", "n", "t(n) µs", "t(n/2) µs", "ratio"
    );
    let shapes: [(&str, Shape); 3] = [
        ("linear chain", linear),
        ("concurrent branches", concurrent),
        ("16 devices, 16 parents", many_devices),
    ];
    const SIZES: [usize; 7] = [10, 50, 100, 250, 500, 1000, 2000];
    for (name, shape) in shapes {
        let mut times = std::collections::BTreeMap::new();
        for n in SIZES.into_iter().flat_map(|n| [n / 2, n]) {
            times.entry(n).or_insert_with(|| {
                let events = shape(n);
                assert_eq!(events.len(), n);
                measure(|| {
                    black_box(replay(black_box(&events), LEVEL));
                })
                .1
            });
        }
        for n in SIZES {
            let (full, half) = (times[&n], times[&(n / 2)]);
            println!(
                "{name:<30} {n:>6} {:>12} {:>14} {:>7.2}",
                us(full),
                us(half),
                full.as_secs_f64() / half.as_secs_f64()
            );
        }
    }
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is understood.
    part_a_b();
    part_c();
}
