//! Five devices and one hub, random work and random syncs, some of them cut off after the hub
//! handled the round but before the device saw the answer. Whatever happened, once every
//! device has synced until nothing moves:
//! - the hub and every device hold the same document (same heads), every device shows the same
//!   request page and the same list row;
//! - nothing a device committed locally was lost, except edits the hub refused, and those are
//!   gone everywhere and listed in the refused edits of the device that made them.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use bianmin_client_core::client::{self, SyncError, SyncOptions, sync};
use bianmin_client_core::{EditRecord, Error, FieldEdit, NewRequest, RequestDetail, Store};
use bianmin_document::Document as HubDocument;
use bianmin_domain::{Action, AttrValue, EventId, Role};
use bianmin_server::admin;
use bianmin_tests::hub::{CLERK, REVIEWER, TestHub, quick};
use bianmin_tests::proxy::CutProxy;
use bianmin_tests::{EAST, TAIPING};
use proptest::prelude::*;
use proptest::test_runner::Config;
use uuid::Uuid;

/// The devices: three clerk tablets of East Village (two of them the same clerk's) and two
/// reviewer devices of Taiping Town.
const DEVICES: [(&str, Role); 5] = [
    (CLERK, Role::Clerk),
    (CLERK, Role::Clerk),
    ("clerk-east-2", Role::Clerk),
    (REVIEWER, Role::Reviewer),
    ("reviewer-taiping-2", Role::Reviewer),
];

const PHONES: [&str; 4] = ["13812345678", "13900001111", "15011112222", "18633334444"];
const GRIDS: [&str; 3] = ["1组", "2组", "3组"];

#[derive(Debug, Clone, Copy)]
enum Op {
    File,
    /// The next step of the request's life for this device's role (what a person at the
    /// screen would most likely do).
    Advance(u8),
    Accept,
    Forward,
    ReturnForSupplement,
    Supplement,
    Approve,
    Reject,
    Withdraw,
    Deliver,
    Settle(u8),
    EditPhone(u8),
    EditGrid(u8),
    Comment,
}

#[derive(Debug, Clone)]
enum Step {
    /// A device does something locally to one of the requests it holds (`pick` chooses which,
    /// in filing order).
    Op { device: usize, op: Op, pick: u8 },
    /// A device syncs.
    Sync { device: usize },
    /// Every device syncs once, in turn (the end of the day).
    SyncAll,
    /// A device syncs, and the first round's answer is lost after the hub handled it.
    CutOff { device: usize },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        24 => any::<u8>().prop_map(Op::Advance),
        3 => Just(Op::Accept),
        3 => Just(Op::Forward),
        2 => Just(Op::ReturnForSupplement),
        2 => Just(Op::Supplement),
        2 => Just(Op::Approve),
        1 => Just(Op::Reject),
        1 => Just(Op::Withdraw),
        1 => Just(Op::Deliver),
        2 => any::<u8>().prop_map(Op::Settle),
        3 => any::<u8>().prop_map(Op::EditPhone),
        2 => any::<u8>().prop_map(Op::EditGrid),
        2 => Just(Op::Comment),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    let device = 0..DEVICES.len();
    prop_oneof![
        1 => (0..3usize).prop_map(|device| Step::Op { device, op: Op::File, pick: 0 }),
        12 => (device.clone(), op(), any::<u8>())
            .prop_map(|(device, op, pick)| Step::Op { device, op, pick }),
        3 => device.clone().prop_map(|device| Step::Sync { device }),
        1 => Just(Step::SyncAll),
        2 => device.prop_map(|device| Step::CutOff { device }),
    ]
}

/// Heads as sorted hex strings (readable in a failure).
fn hex(heads: Vec<[u8; 32]>) -> Vec<String> {
    let mut out: Vec<String> = heads
        .iter()
        .map(|h| h.iter().map(|b| format!("{b:02x}")).collect())
        .collect();
    out.sort();
    out
}

/// Whether the request waits for someone in this role to act.
fn waits_for(d: &RequestDetail, is_clerk: bool) -> bool {
    use bianmin_domain::Status::*;
    d.conflict.is_some()
        || match is_clerk {
            true => matches!(d.status, Submitted | Accepted | Returned | Approved),
            false => d.status == Forwarded,
        }
}

/// The likely next step for a request in this state.
fn advance(d: &RequestDetail, is_clerk: bool, choice: u8) -> Op {
    use bianmin_domain::Status::*;
    if d.conflict.is_some() {
        return Op::Settle(choice);
    }
    match (d.status, is_clerk) {
        // Now and then the applicant changes their mind.
        (Submitted | Accepted | Forwarded | Returned, true) if choice.is_multiple_of(8) => {
            Op::Withdraw
        }
        (Submitted, true) => Op::Accept,
        // Correcting the applicant's details is common, and from a stale tablet it is what
        // the hub refuses (the request may have moved on).
        (Accepted, true) => [
            Op::Forward,
            Op::Forward,
            Op::Forward,
            Op::EditPhone(choice),
            Op::EditGrid(choice),
        ][choice as usize % 5],
        (Returned, true) => Op::Supplement,
        (Approved, true) => Op::Deliver,
        (Forwarded, false) => [
            Op::Approve,
            Op::Approve,
            Op::ReturnForSupplement,
            Op::Reject,
        ][choice as usize % 4],
        _ => Op::Comment,
    }
}

/// Something a device committed locally and must not lose.
#[derive(Debug, Clone, PartialEq)]
enum Item {
    Event(EventId, &'static str),
    Comment(Uuid),
    Edit(EditRecord),
}

#[derive(Debug)]
struct Committed {
    device: usize,
    doc: Uuid,
    item: Item,
}

#[derive(Debug, Default)]
struct Figures {
    ops: usize,
    nothing_to_do: usize,
    local_refusals: usize,
    syncs: usize,
    cut_offs: usize,
    refused_by_hub: usize,
    refused_edits: usize,
    statuses: BTreeMap<&'static str, usize>,
    conflicts: usize,
    events: usize,
}

struct World {
    hub: TestHub,
    proxy: CutProxy,
    devices: Vec<Mutex<Store>>,
    /// Requests in filing order.
    filed: Vec<Uuid>,
    committed: Vec<Committed>,
    figures: Figures,
    _dir: tempfile::TempDir,
}

fn soc_card() -> NewRequest {
    NewRequest {
        item_code: "SOC-CARD".into(),
        applicant_name: "王秀英".into(),
        id_number: "11010519491231002X".into(),
        phone: PHONES[0].into(),
        grid: GRIDS[0].into(),
        attributes: [("reason".to_string(), AttrValue::Text("lost".into()))].into(),
        materials_received: vec!["ID card".into(), "Recent photo".into()],
        resident_user: None,
        submit: true,
    }
}

fn cut_off_options() -> SyncOptions {
    SyncOptions {
        attempts: 1,
        backoff: Duration::from_millis(10),
        ..SyncOptions::default()
    }
}

impl World {
    fn new() -> World {
        let hub = TestHub::start();
        admin::add_user(hub.storage.as_ref(), "clerk-east-2", "", Role::Clerk, EAST).unwrap();
        admin::add_user(
            hub.storage.as_ref(),
            "reviewer-taiping-2",
            "",
            Role::Reviewer,
            TAIPING,
        )
        .unwrap();
        let upstream: SocketAddr = hub.url.trim_start_matches("http://").parse().unwrap();
        let proxy = CutProxy::start(upstream);
        let dir = tempfile::tempdir().unwrap();
        let devices = DEVICES
            .iter()
            .enumerate()
            .map(|(i, (user, _))| {
                let name = format!("device-{i}");
                Mutex::new(
                    client::enroll(
                        dir.path().join(format!("{name}.db")),
                        &proxy.url,
                        &hub.code(user),
                        &name,
                        &quick(),
                    )
                    .expect("enrol"),
                )
            })
            .collect();
        World {
            hub,
            proxy,
            devices,
            filed: Vec::new(),
            committed: Vec::new(),
            figures: Figures::default(),
            _dir: dir,
        }
    }

    fn run(&mut self, step: &Step) {
        match *step {
            Step::Op { device, op, pick } => self.op(device, op, pick),
            Step::Sync { device } => {
                let report = sync(&self.devices[device], &quick(), &mut |_| {})
                    .unwrap_or_else(|e| panic!("device {device} could not sync: {e}"));
                assert!(report.pull_errors.is_empty(), "{:?}", report.pull_errors);
                self.figures.syncs += 1;
            }
            Step::SyncAll => {
                for device in 0..self.devices.len() {
                    self.run(&Step::Sync { device });
                }
            }
            Step::CutOff { device } => {
                self.proxy.cut_next_response();
                let outcome = sync(&self.devices[device], &cut_off_options(), &mut |_| {});
                assert!(
                    !self.proxy.armed(),
                    "the cut-off round never got an answer from the hub"
                );
                assert!(
                    matches!(outcome, Err(SyncError::Network(_))),
                    "a round whose answer was lost must fail as a network error: {outcome:?}"
                );
                self.figures.cut_offs += 1;
            }
        }
    }

    fn op(&mut self, device: usize, op: Op, pick: u8) {
        let is_clerk = DEVICES[device].1 == Role::Clerk;
        let (before, outcome) = {
            let mut s = self.devices[device].lock().unwrap();
            if let Op::File = op {
                if !is_clerk {
                    return;
                }
                (None, s.file_request(soc_card()))
            } else {
                let held: Vec<Uuid> = self
                    .filed
                    .iter()
                    .copied()
                    .filter(|id| s.heads(*id).unwrap().is_some())
                    .collect();
                if held.is_empty() {
                    // Nothing to act on yet: a clerk files one, a reviewer's device syncs.
                    self.figures.nothing_to_do += 1;
                    drop(s);
                    return if is_clerk {
                        self.op(device, Op::File, pick)
                    } else {
                        self.run(&Step::Sync { device })
                    };
                }
                // The next step goes to a request waiting for this device's role, if any;
                // anything else mostly to one of the latest few, so that requests live long.
                let waiting: Vec<Uuid> = match op {
                    Op::Advance(_) => held
                        .iter()
                        .copied()
                        .filter(|id| waits_for(&s.request(*id).unwrap(), is_clerk))
                        .collect(),
                    _ => Vec::new(),
                };
                let id = if !waiting.is_empty() {
                    waiting[pick as usize % waiting.len()]
                } else if pick < 192 {
                    held[held.len() - 1 - pick as usize % held.len().min(3)]
                } else {
                    held[pick as usize % held.len()]
                };
                let before = s.request(id).unwrap();
                let op = match op {
                    Op::Advance(choice) => advance(&before, is_clerk, choice),
                    other => other,
                };
                let outcome = match op {
                    Op::File | Op::Advance(_) => unreachable!(),
                    Op::Accept => s.apply(id, Action::Accept),
                    Op::Forward => s.apply(id, Action::Forward),
                    Op::ReturnForSupplement => s.apply(
                        id,
                        Action::ReturnForSupplement {
                            missing: vec!["ID card".into()],
                            note: String::new(),
                        },
                    ),
                    Op::Supplement => s.apply(
                        id,
                        Action::Supplement {
                            provided: vec!["ID card".into()],
                        },
                    ),
                    Op::Approve => s.apply(
                        id,
                        Action::Approve {
                            note: "符合条件".into(),
                        },
                    ),
                    Op::Reject => s.apply(
                        id,
                        Action::Reject {
                            reason: "材料不符".into(),
                        },
                    ),
                    Op::Withdraw => s.apply(
                        id,
                        Action::Withdraw {
                            reason: "moved away".into(),
                        },
                    ),
                    Op::Deliver => s.apply(id, Action::Deliver),
                    Op::Settle(branch) => match &before.conflict {
                        Some(c) if !c.branches.is_empty() => s.apply(
                            id,
                            Action::Settle {
                                keep: c.branches[branch as usize % c.branches.len()].0,
                                note: "checked with the applicant".into(),
                            },
                        ),
                        _ => return,
                    },
                    Op::EditPhone(i) => s.edit(
                        id,
                        FieldEdit::Phone(PHONES[i as usize % PHONES.len()].into()),
                    ),
                    Op::EditGrid(i) => {
                        s.edit(id, FieldEdit::Grid(GRIDS[i as usize % GRIDS.len()].into()))
                    }
                    Op::Comment => s.comment(id, "已电话联系申请人"),
                };
                (Some(before), outcome)
            }
        };
        let after = match outcome {
            Ok(d) => d,
            Err(Error::Invalid { .. } | Error::Forbidden(_)) => {
                self.figures.local_refusals += 1;
                return;
            }
            Err(e) => panic!("device {device}: {op:?} failed: {e}"),
        };
        self.figures.ops += 1;
        if before.is_none() {
            self.filed.push(after.id);
        }
        self.record(device, before.as_ref(), &after);
    }

    /// Records what the operation added to the request.
    fn record(&mut self, device: usize, before: Option<&RequestDetail>, after: &RequestDetail) {
        let old_events: BTreeSet<EventId> = before
            .map(|b| b.history.iter().map(|h| h.id).collect())
            .unwrap_or_default();
        let old_comments: BTreeSet<Uuid> = before
            .map(|b| b.comments.iter().map(|c| c.id).collect())
            .unwrap_or_default();
        let mut added = Vec::new();
        for h in &after.history {
            if !old_events.contains(&h.id) {
                added.push(Item::Event(h.id, h.action.kind()));
            }
        }
        for c in &after.comments {
            if !old_comments.contains(&c.id) {
                added.push(Item::Comment(c.id));
            }
        }
        let mut old_edits: Vec<&EditRecord> =
            before.map(|b| b.edits.iter().collect()).unwrap_or_default();
        for e in &after.edits {
            match old_edits.iter().position(|o| *o == e) {
                Some(p) => {
                    old_edits.remove(p);
                }
                None => added.push(Item::Edit(e.clone())),
            }
        }
        assert!(
            !added.is_empty(),
            "a successful operation added nothing to the request"
        );
        for item in added {
            self.committed.push(Committed {
                device,
                doc: after.id,
                item,
            });
        }
    }

    /// Every device syncs, pass after pass, until two full passes move nothing.
    fn settle_down(&mut self) {
        self.proxy.disarm();
        let mut quiet = 0;
        let mut passes = 0;
        while quiet < 2 {
            passes += 1;
            assert!(passes <= 12, "the devices did not become quiescent");
            let mut moved = false;
            for (i, device) in self.devices.iter().enumerate() {
                let report = sync(device, &quick(), &mut |_| {})
                    .unwrap_or_else(|e| panic!("device {i} could not sync: {e}"));
                assert!(report.pull_errors.is_empty(), "{:?}", report.pull_errors);
                moved |= report.new_changes > 0
                    || report.progress.docs_pushed > 0
                    || !report.refused.is_empty();
            }
            quiet = if moved { 0 } else { quiet + 1 };
        }
    }

    fn check(&mut self) {
        for (i, device) in self.devices.iter().enumerate() {
            let pending = device.lock().unwrap().pending_changes(usize::MAX).unwrap();
            assert!(
                pending.is_empty(),
                "device {i} still has unsynced changes after quiescence: {:?}",
                pending.iter().map(|p| p.doc_id).collect::<Vec<_>>()
            );
        }
        let mut ids: BTreeSet<Uuid> = self.filed.iter().copied().collect();
        for device in &self.devices {
            ids.extend(device.lock().unwrap().document_ids().unwrap());
        }
        let mut finals: BTreeMap<Uuid, RequestDetail> = BTreeMap::new();
        for id in &ids {
            let record = self
                .hub
                .storage
                .document(*id)
                .unwrap()
                .unwrap_or_else(|| panic!("the hub does not hold request {id}"));
            let mut hub_doc = HubDocument::load(&record.bytes).unwrap();
            let hub_heads = hex(hub_doc.heads());
            let mut first: Option<(RequestDetail, _)> = None;
            for (i, device) in self.devices.iter().enumerate() {
                let s = device.lock().unwrap();
                let heads = hex(s
                    .heads(*id)
                    .unwrap()
                    .unwrap_or_else(|| panic!("device {i} does not hold request {id}")));
                assert_eq!(heads, hub_heads, "device {i} and the hub differ on {id}");
                let mut detail = s.request(*id).unwrap();
                let row = s.request_row(*id).unwrap().expect("list row");
                assert_eq!(
                    Some(detail.status),
                    hub_doc.request_status(),
                    "device {i} and the hub derive different statuses for {id}"
                );
                assert_eq!(row.status, detail.status, "device {i}: row and page differ");
                match &first {
                    None => first = Some((detail, row)),
                    Some((d0, r0)) => {
                        // Urgency depends on the day the page is read.
                        detail.urgency = d0.urgency;
                        assert_eq!(&detail, d0, "devices 0 and {i} show {id} differently");
                        assert_eq!(&row, r0, "devices 0 and {i} list {id} differently");
                    }
                }
            }
            finals.insert(*id, first.expect("five devices").0);
        }

        // Nothing committed was lost, except what the hub refused.
        let mut missing: BTreeMap<(usize, Uuid), Vec<String>> = BTreeMap::new();
        for c in &self.committed {
            let d = &finals[&c.doc];
            let present = match &c.item {
                Item::Event(id, _) => d.history.iter().any(|h| h.id == *id),
                Item::Comment(id) => d.comments.iter().any(|x| x.id == *id),
                Item::Edit(e) => d.edits.contains(e),
            };
            if present {
                continue;
            }
            let what = match &c.item {
                Item::Event(_, kind) => format!("event {kind}"),
                Item::Comment(_) => "comment".to_string(),
                Item::Edit(e) => format!("edit {}", e.field),
            };
            missing.entry((c.device, c.doc)).or_default().push(what);
        }
        let mut refused: BTreeMap<(usize, Uuid), Vec<String>> = BTreeMap::new();
        self.figures.refused_edits = 0;
        for (i, device) in self.devices.iter().enumerate() {
            for r in device.lock().unwrap().refused_edits().unwrap() {
                self.figures.refused_edits += 1;
                assert!(
                    r.summary.iter().all(|s| !s.starts_with("new request")),
                    "the hub refused a request filed by a clerk of its own village: {r:?}"
                );
                refused.entry((i, r.doc_id)).or_default().extend(
                    r.summary
                        .iter()
                        .filter(|s| s.starts_with("event ") || *s == "comment")
                        .cloned(),
                );
            }
        }
        let keys: BTreeSet<(usize, Uuid)> = missing.keys().chain(refused.keys()).copied().collect();
        for key in keys {
            let mut lost: Vec<String> = missing
                .get(&key)
                .into_iter()
                .flatten()
                .filter(|s| !s.starts_with("edit "))
                .cloned()
                .collect();
            let lost_edits = missing
                .get(&key)
                .is_some_and(|m| m.iter().any(|s| s.starts_with("edit ")));
            let mut listed = refused.get(&key).cloned().unwrap_or_default();
            lost.sort();
            listed.sort();
            assert_eq!(
                lost, listed,
                "device {} on request {}: what disappeared differs from what the hub refused",
                key.0, key.1
            );
            if lost_edits {
                assert!(
                    refused.contains_key(&key),
                    "device {} lost a field edit on {} that the hub never refused",
                    key.0,
                    key.1
                );
            }
        }
        let refused_entries: usize = refused.values().map(Vec::len).sum();
        self.figures.refused_by_hub = refused_entries;
        for d in finals.values() {
            *self.figures.statuses.entry(d.status.as_str()).or_default() += 1;
            self.figures.conflicts += usize::from(d.conflict.is_some());
            self.figures.events += d.history.len();
        }
    }
}

proptest! {
    #![proptest_config(Config {
        // PROPTEST_CASES=200 for a longer soak.
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(16),
        max_shrink_iters: 128,
        failure_persistence: None,
        ..Config::default()
    })]

    #[test]
    fn devices_converge_and_lose_nothing_but_what_the_hub_refused(
        steps in prop::collection::vec(step(), 10..=60)
    ) {
        let mut world = World::new();
        for step in &steps {
            world.run(step);
        }
        world.settle_down();
        world.check();
        let f = &world.figures;
        eprintln!(
            "{} steps: {} requests, {} operations ({} refused locally, {} with nothing to act on), \
             {} syncs, {} cut off ({} responses cut), {} refused edits with {} events/comments, \
             {} items checked",
            steps.len(),
            world.filed.len(),
            f.ops,
            f.local_refusals,
            f.nothing_to_do,
            f.syncs,
            f.cut_offs,
            world.proxy.cuts(),
            f.refused_edits,
            f.refused_by_hub,
            world.committed.len(),
        );
        eprintln!(
            "    final: {} events, {} in conflict, statuses {:?}",
            f.events, f.conflicts, f.statuses
        );
    }
}

/// Runs a scripted story through the same machinery and checks as the property.
fn story(steps: &[Step]) -> World {
    let mut world = World::new();
    for step in steps {
        world.run(step);
    }
    world.settle_down();
    world.check();
    world
}

/// The second clerk's tablet (a different clerk of the same village).
const OTHER_CLERK: usize = 2;
/// The first reviewer's device.
const REVIEWER_DESK: usize = 3;

fn act(device: usize, op: Op) -> Step {
    Step::Op {
        device,
        op,
        pick: 0,
    }
}

fn synced(device: usize) -> Step {
    Step::Sync { device }
}

fn cut(device: usize) -> Step {
    Step::CutOff { device }
}

/// The first tablet files and accepts a request; the other clerk forwards it, so the first
/// tablet is now stale ("accepted") without knowing.
fn forwarded_behind_the_first_tablet() -> Vec<Step> {
    vec![
        act(0, Op::File),
        act(0, Op::Accept),
        synced(0),
        synced(OTHER_CLERK),
        act(OTHER_CLERK, Op::Forward),
        synced(OTHER_CLERK),
    ]
}

#[test]
fn a_stale_edit_refused_after_a_cut_off_round_keeps_what_the_hub_already_stored() {
    let mut steps = forwarded_behind_the_first_tablet();
    steps.extend([
        // A comment whose round is cut off after the hub stored it, then a phone edit the hub
        // must refuse (the request is forwarded there).
        act(0, Op::Comment),
        cut(0),
        act(0, Op::EditPhone(1)),
        synced(0),
        // Work goes on on the rolled-back tablet.
        act(0, Op::Comment),
        synced(0),
    ]);
    let world = story(&steps);
    let id = world.filed[0];
    let refused = world.devices[0].lock().unwrap().refused_edits().unwrap();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0].doc_id, id);
    assert_eq!(refused[0].code, "forbidden");
    assert_eq!(
        refused[0].summary,
        ["field phone"],
        "only the edit is rolled back"
    );
    for device in &world.devices {
        let d = device.lock().unwrap().request(id).unwrap();
        assert_eq!(
            d.comments.len(),
            2,
            "the comment the hub stored stays everywhere, and the later one arrives"
        );
        assert_eq!(d.applicant.phone, PHONES[0], "the refused phone is nowhere");
        assert_eq!(d.status, bianmin_domain::Status::Forwarded);
    }
    assert_eq!(world.proxy.cuts(), 1);
}

#[test]
fn a_refusal_whose_answer_was_lost_is_refused_again_with_what_was_built_on_it() {
    let mut steps = forwarded_behind_the_first_tablet();
    steps.extend([
        // The hub refuses the stale edit, but the answer is lost; a comment made afterwards
        // builds on the refused edit and goes down with it, listed.
        act(0, Op::EditGrid(1)),
        cut(0),
        act(0, Op::Comment),
        synced(0),
        // The township returns it; the rolled-back tablet supplements it.
        synced(REVIEWER_DESK),
        act(REVIEWER_DESK, Op::ReturnForSupplement),
        synced(REVIEWER_DESK),
        synced(0),
        act(0, Op::Supplement),
        synced(0),
    ]);
    let world = story(&steps);
    let id = world.filed[0];
    let refused = world.devices[0].lock().unwrap().refused_edits().unwrap();
    assert_eq!(refused.len(), 1, "{refused:?}");
    let mut summary = refused[0].summary.clone();
    summary.sort();
    assert_eq!(summary, ["comment", "field grid"]);
    for device in &world.devices {
        let d = device.lock().unwrap().request(id).unwrap();
        assert!(d.comments.is_empty());
        assert_eq!(d.grid, GRIDS[0]);
        assert_eq!(d.status, bianmin_domain::Status::Forwarded, "supplemented");
        let kinds: Vec<&str> = d.history.iter().map(|h| h.action.kind()).collect();
        assert_eq!(
            kinds,
            [
                "submit",
                "accept",
                "forward",
                "return_for_supplement",
                "supplement"
            ]
        );
    }
    assert_eq!(world.figures.refused_by_hub, 1);
    assert_eq!(world.proxy.cuts(), 1);
}
