//! The service-request lifecycle: events, statuses, and the replay that derives a request's
//! state from its append-only event log.
//!
//! # Why replay, and why `after`
//! A request's status is never stored: two tablets could overwrite it. It is derived by
//! replaying the events, which are only ever appended. Each event names the events its author
//! had seen last (`after`, the tips of the log on the author's device), so the log is a causal
//! graph: an event *descends* from everything reachable through `after`.
//!
//! Two status-changing events that do not descend from one another were made concurrently,
//! offline. When they lead to the same status (two clerks both accept) they agree and nothing
//! is flagged. When they lead to different statuses (a resident withdraws while the township
//! approves) both are kept, the request is **in conflict**, and every branch stays visible
//! until a person appends a [`Action::Settle`] naming the branch to keep.
//!
//! The replay is a pure function of the event list, so every replica holding the same events
//! derives the same state.

use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::rc::Rc;
use std::sync::Arc;
use uuid::Uuid;

use crate::{HandlingLevel, Role, Timestamp, ValidationError};

/// The identifier of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventId(pub Uuid);

impl EventId {
    /// A fresh random identifier.
    pub fn new() -> Self {
        EventId(Uuid::new_v4())
    }
}

impl Default for EventId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Who did something, on which device, and when by the device's clock.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Stamp {
    /// The user.
    pub user: String,
    /// The role the user acted in.
    pub role: Role,
    /// The device.
    pub device: String,
    /// The device's clock at the time.
    pub at: Timestamp,
}

/// A satisfaction rating (好差评).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rating {
    /// 非常满意
    VerySatisfied,
    /// 满意
    Satisfied,
    /// 基本满意
    BasicallySatisfied,
    /// 不满意
    Dissatisfied,
    /// 非常不满意
    VeryDissatisfied,
}

impl Rating {
    /// Whether this rating opens a follow-up.
    pub fn is_negative(self) -> bool {
        matches!(self, Rating::Dissatisfied | Rating::VeryDissatisfied)
    }
}

/// What an event does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Action {
    /// Submit a draft (resident, or clerk as proxy).
    Submit,
    /// Accept the application (受理).
    Accept,
    /// Refuse to accept it (不予受理).
    RefuseToAccept {
        /// Why; required.
        reason: String,
    },
    /// Complete a village-level item at the village (办结).
    Complete,
    /// Forward to the township (上报).
    Forward,
    /// Return for supplement (退回补正), listing every missing material at once (一次性告知).
    ReturnForSupplement {
        /// Every missing material.
        missing: Vec<String>,
        /// Anything else the applicant should know.
        #[serde(default)]
        note: String,
    },
    /// Hand in what was missing (补正).
    Supplement {
        /// The materials now provided; must include every one that was listed as missing.
        provided: Vec<String>,
    },
    /// Approve (审核通过).
    Approve {
        /// An optional note.
        #[serde(default)]
        note: String,
    },
    /// Reject (不予批准).
    Reject {
        /// Why; required.
        reason: String,
    },
    /// Deliver the result to the applicant (送达, 办结).
    Deliver,
    /// Withdraw (撤回), allowed before a decision.
    Withdraw {
        /// Why, if the applicant says.
        #[serde(default)]
        reason: String,
    },
    /// Rate the service (好差评).
    Rate {
        /// The rating.
        rating: Rating,
        /// The applicant's words, if any.
        #[serde(default)]
        comment: String,
    },
    /// Waive one of the item's required materials (容缺受理), with the reason: the request may
    /// then be accepted or approved without it.
    WaiveMaterial {
        /// The material, as the service item names it.
        material: String,
        /// Why it is waived; required.
        reason: String,
    },
    /// Settle a conflict by keeping one of its branches.
    Settle {
        /// The branch tip (one of [`Conflict::branches`]) whose outcome is kept.
        keep: EventId,
        /// Why; required.
        note: String,
    },
}

impl Action {
    /// The action's name as stored, e.g. `return_for_supplement`.
    pub fn kind(&self) -> &'static str {
        match self {
            Action::Submit => "submit",
            Action::Accept => "accept",
            Action::RefuseToAccept { .. } => "refuse_to_accept",
            Action::Complete => "complete",
            Action::Forward => "forward",
            Action::ReturnForSupplement { .. } => "return_for_supplement",
            Action::Supplement { .. } => "supplement",
            Action::Approve { .. } => "approve",
            Action::Reject { .. } => "reject",
            Action::Deliver => "deliver",
            Action::Withdraw { .. } => "withdraw",
            Action::Rate { .. } => "rate",
            Action::WaiveMaterial { .. } => "waive_material",
            Action::Settle { .. } => "settle",
        }
    }

    /// Whether the action leaves the status as it is (a rating, a waiver): such an event
    /// starts no branch of its own.
    pub fn keeps_status(&self) -> bool {
        matches!(self, Action::Rate { .. } | Action::WaiveMaterial { .. })
    }
}

/// A request's status in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Being prepared, not yet submitted.
    Draft,
    /// Submitted, awaiting acceptance.
    Submitted,
    /// Accepted (受理).
    Accepted,
    /// Refused acceptance (不予受理).
    NotAccepted,
    /// Forwarded to the township (上报).
    Forwarded,
    /// Returned for supplement (退回补正); the clock is stopped.
    Returned,
    /// Approved by the township.
    Approved,
    /// Rejected by the township.
    Rejected,
    /// Completed (办结): done at the village, or the result delivered.
    Completed,
    /// Withdrawn by the applicant.
    Withdrawn,
}

impl Status {
    /// Every status, in lifecycle order.
    pub const ALL: [Status; 10] = [
        Status::Draft,
        Status::Submitted,
        Status::Accepted,
        Status::NotAccepted,
        Status::Forwarded,
        Status::Returned,
        Status::Approved,
        Status::Rejected,
        Status::Completed,
        Status::Withdrawn,
    ];

    /// The status's name as stored, e.g. `not_accepted`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Draft => "draft",
            Status::Submitted => "submitted",
            Status::Accepted => "accepted",
            Status::NotAccepted => "not_accepted",
            Status::Forwarded => "forwarded",
            Status::Returned => "returned",
            Status::Approved => "approved",
            Status::Rejected => "rejected",
            Status::Completed => "completed",
            Status::Withdrawn => "withdrawn",
        }
    }

    /// Parses a stored status name.
    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// The Chinese label shown to clerks (see [`labels::status`](crate::labels::status)).
    pub fn label_zh(self) -> &'static str {
        crate::labels::status(self).zh
    }

    /// Whether a decision has been made or the matter is closed: no withdrawal any more.
    pub fn is_decided(self) -> bool {
        matches!(
            self,
            Status::NotAccepted
                | Status::Approved
                | Status::Rejected
                | Status::Completed
                | Status::Withdrawn
        )
    }

    /// Whether the request still waits for someone's work (it counts in work queues).
    pub fn is_open(self) -> bool {
        !matches!(
            self,
            Status::NotAccepted | Status::Rejected | Status::Completed | Status::Withdrawn
        )
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One entry of a request's event log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// The event's identifier.
    pub id: EventId,
    /// The tips of the log its author had seen (empty for the first event).
    pub after: Vec<EventId>,
    /// Who appended it, where and when.
    pub by: Stamp,
    /// What it does.
    pub action: Action,
}

/// The state a branch of the log has reached.
#[derive(Debug, Clone, PartialEq, Eq)]
struct BranchState {
    status: Status,
    /// The status a returned request goes back to on supplement.
    returned_from: Option<Status>,
    /// The materials listed as missing by the last return. Shared, not copied: every state
    /// derived from a return (a withdrawal, a settle keeping it) carries the list on, and a
    /// forged return listing a hundred thousand materials must not be copied once per event.
    missing: Arc<[String]>,
}

impl BranchState {
    fn start() -> BranchState {
        BranchState {
            status: Status::Draft,
            returned_from: None,
            missing: Arc::from([]),
        }
    }
}

fn required_text(field: &str, text: &str) -> Result<(), ValidationError> {
    if text.trim().is_empty() {
        Err(ValidationError::new(field, "a reason is required"))
    } else if text.chars().count() > 2000 {
        Err(ValidationError::new(
            field,
            "must be at most 2000 characters",
        ))
    } else {
        Ok(())
    }
}

/// The workflow table of `domain.md`: the state after `action`, or why it is not allowed.
fn step(
    state: &BranchState,
    action: &Action,
    level: HandlingLevel,
) -> Result<BranchState, ValidationError> {
    use Status::*;
    let refuse = |rule: String| Err(ValidationError::new(action.kind(), rule));
    let from = state.status;
    let to = |status| {
        Ok(BranchState {
            status,
            ..state.clone()
        })
    };
    match (action, from) {
        (Action::Submit, Draft) => to(Submitted),
        (Action::Accept, Submitted) => to(Accepted),
        (Action::RefuseToAccept { reason }, Submitted) => {
            required_text("reason", reason)?;
            to(NotAccepted)
        }
        (Action::Complete, Accepted) if level == HandlingLevel::Village => to(Completed),
        (Action::Complete, Accepted) => refuse(
            "only village-level items are completed at the village; forward it to the township"
                .into(),
        ),
        (Action::Forward, Accepted) if level != HandlingLevel::Village => to(Forwarded),
        (Action::Forward, Accepted) => {
            refuse("a village-level item is completed at the village, not forwarded".into())
        }
        (Action::ReturnForSupplement { missing, note }, Forwarded | Accepted) => {
            if missing.is_empty() || missing.iter().any(|m| m.trim().is_empty()) {
                return Err(ValidationError::new(
                    "missing",
                    "list every missing material at once (一次性告知); none may be blank",
                ));
            }
            let mut sorted = missing.clone();
            sorted.sort();
            sorted.dedup();
            if sorted.len() != missing.len() {
                return Err(ValidationError::new(
                    "missing",
                    "a material is listed twice",
                ));
            }
            if note.chars().count() > 2000 {
                return Err(ValidationError::new(
                    "note",
                    "must be at most 2000 characters",
                ));
            }
            Ok(BranchState {
                status: Returned,
                returned_from: Some(from),
                missing: missing.as_slice().into(),
            })
        }
        (Action::Supplement { provided }, Returned) => {
            // A set, not `provided.contains`: both lists come from devices, and comparing every
            // pair of two long lists would let one event cost seconds.
            let provided: HashSet<&str> = provided.iter().map(String::as_str).collect();
            let absent: Vec<&str> = state
                .missing
                .iter()
                .map(String::as_str)
                .filter(|m| !provided.contains(m))
                .collect();
            if !absent.is_empty() {
                return Err(ValidationError::new(
                    "provided",
                    format!("still missing: {}", absent.join(", ")),
                ));
            }
            let back = state.returned_from.unwrap_or(Accepted);
            Ok(BranchState {
                status: back,
                returned_from: None,
                missing: Arc::from([]),
            })
        }
        (Action::Approve { note }, Forwarded) => {
            if note.chars().count() > 2000 {
                return Err(ValidationError::new(
                    "note",
                    "must be at most 2000 characters",
                ));
            }
            to(Approved)
        }
        (Action::Reject { reason }, Forwarded) => {
            required_text("reason", reason)?;
            to(Rejected)
        }
        (Action::Deliver, Approved) => to(Completed),
        (Action::Withdraw { .. }, s) if !s.is_decided() => to(Withdrawn),
        (Action::Rate { comment, .. }, Completed | Rejected) => {
            if comment.chars().count() > 2000 {
                return Err(ValidationError::new(
                    "comment",
                    "must be at most 2000 characters",
                ));
            }
            to(from)
        }
        (
            Action::WaiveMaterial { material, reason },
            Submitted | Accepted | Forwarded | Returned,
        ) => {
            if material.trim().is_empty() || material.chars().count() > 200 {
                return Err(ValidationError::new(
                    "material",
                    "must be 1 to 200 characters",
                ));
            }
            required_text("reason", reason)?;
            to(from)
        }
        (Action::Settle { .. }, _) => refuse("there is no conflict to settle".into()),
        (_, s) => refuse(format!("not allowed while the request is {}", s.as_str())),
    }
}

/// What the replay made of one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The event took effect on its branch.
    Applied,
    /// The event could not apply to the state its author had seen. Local writes and the server
    /// refuse such events, so this marks a forged or corrupted entry; it is kept (history is
    /// evidence) but has no effect.
    Invalid(String),
}

/// Concurrent branches that reached different statuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// Each branch: its latest event and the status it leads to, in log order.
    pub branches: Vec<(EventId, Status)>,
}

/// The state derived from a request's events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Derived {
    /// The current status; while in conflict, the status of the first branch in log order.
    pub status: Status,
    /// The open conflict, if concurrent decisions disagree.
    pub conflict: Option<Conflict>,
    /// What became of each event, in log order.
    pub outcomes: Vec<Outcome>,
    /// For each event, the status its author had seen (what permissions are judged on);
    /// `None` when the author saw a conflict or the event's basis is unknown.
    pub seen: Vec<Option<Status>>,
    /// The status-changing events along the current branch, oldest first, with the status each
    /// led to: the timeline the working-day clock runs on.
    pub path: Vec<(usize, Status)>,
    /// The materials listed as missing while the request is returned.
    pub missing: Vec<String>,
    /// The latest rating, if any.
    pub rating: Option<Rating>,
    /// Whether a dissatisfied rating asks for a follow-up.
    pub follow_up: bool,
    state: BranchState,
}

impl Derived {
    /// Whether concurrent decisions wait for a person to settle them.
    pub fn in_conflict(&self) -> bool {
        self.conflict.is_some()
    }

    /// The status `action` would lead to now, or why it is not allowed. This is the check a
    /// device makes before appending an event.
    pub fn check(&self, action: &Action, level: HandlingLevel) -> Result<Status, ValidationError> {
        if let Action::Settle { keep, note } = action {
            let Some(conflict) = &self.conflict else {
                return Err(ValidationError::new(
                    "settle",
                    "there is no conflict to settle",
                ));
            };
            required_text("note", note)?;
            return conflict
                .branches
                .iter()
                .find(|(id, _)| id == keep)
                .map(|(_, s)| *s)
                .ok_or_else(|| {
                    ValidationError::new("keep", "is not one of the conflicting branches")
                });
        }
        // Every other action is refused while in conflict, ratings included: `replay` marks
        // anything but a settle made on a conflict as invalid (a rating cannot tell whether
        // the request was completed or withdrawn), so the check must not let a device append
        // an event that its own replay would then discard.
        if self.conflict.is_some() {
            return Err(ValidationError::new(
                action.kind(),
                "concurrent decisions conflict: settle the conflict first",
            ));
        }
        step(&self.state, action, level).map(|s| s.status)
    }
}

/// Replays a request's events (in log order) into its derived state.
///
/// Never panics, whatever the events: an event whose `after` names an unknown or later event,
/// and an event that cannot apply, is marked [`Outcome::Invalid`]; its descendants still build
/// on their other, known ancestors.
///
/// The cost grows with the number of events times the number of concurrent branch tips an
/// event sees (see `Frontiers`): linear for a real log, whatever its length. Logs longer
/// than `bianmin_document::limits::EVENTS` or naming more than `limits::AFTER` parents are replayed
/// the same way; refusing them is the document layer's job.
pub fn replay(events: &[Event], level: HandlingLevel) -> Derived {
    let links: Vec<(EventId, &[EventId])> =
        events.iter().map(|e| (e.id, e.after.as_slice())).collect();
    let mut causal = Frontiers::new(Causality::new(&links));
    let n = events.len();
    let start = BranchState::start();

    // The state each valid status-changing event leads to on its branch.
    let mut states: Vec<Option<BranchState>> = vec![None; n];
    // The timeline of each state, as entries (event, status, previous entry) shared by every
    // branch built on it: copying each branch's whole timeline would cost the square of the
    // log's length.
    let mut trail: Vec<(usize, Status, Option<usize>)> = Vec::new();
    let mut trail_end: Vec<Option<usize>> = vec![None; n];
    let mut outcomes = Vec::with_capacity(n);
    let mut seen_status = Vec::with_capacity(n);
    let mut rating = None;

    for (i, e) in events.iter().enumerate() {
        // Every event's place in the causal graph is recorded, the invalid ones' included:
        // their descendants still see what the invalid event had seen.
        let tips = causal.tips(i);
        // The author saw an event this log does not hold before it (forged, corrupted or out
        // of causal order): the state it was made on is unknown. Applying it to the part we do
        // know (possibly the empty draft) would let, say, a forged withdrawal open a conflict.
        if !causal.causality.well_linked(i) {
            outcomes.push(Outcome::Invalid(
                "after names an event that is not earlier in the log".into(),
            ));
            seen_status.push(None);
            continue;
        }
        let basis = classify(&tips, &states);
        seen_status.push(match &basis {
            Basis::One(Some(j)) => Some(status_of(&states, *j)),
            Basis::One(None) => Some(Status::Draft),
            Basis::Conflict(_) => None,
        });
        let outcome = match basis {
            Basis::Conflict(branches) => {
                match (&e.action, causal.causality.index_of(&settled_branch(e))) {
                    (Action::Settle { note, .. }, Some(k))
                        if branches.contains(&k) && !note.trim().is_empty() =>
                    {
                        states[i] = states[k].clone();
                        trail_end[i] = trail_end[k];
                        causal.holds_state(i);
                        Outcome::Applied
                    }
                    (Action::Settle { .. }, _) => {
                        Outcome::Invalid("settle names no conflicting branch".into())
                    }
                    _ => Outcome::Invalid(
                        "concurrent decisions conflict; settle the conflict first".into(),
                    ),
                }
            }
            Basis::One(from) => {
                let (state, before) = match from {
                    Some(j) => (states[j].as_ref().unwrap_or(&start), trail_end[j]),
                    None => (&start, None),
                };
                match step(state, &e.action, level) {
                    Ok(_) if e.action.keeps_status() => {
                        if let Action::Rate { rating: r, .. } = e.action {
                            rating = Some(r);
                        }
                        Outcome::Applied
                    }
                    Ok(next) => {
                        trail.push((i, next.status, before));
                        trail_end[i] = Some(trail.len() - 1);
                        states[i] = Some(next);
                        causal.holds_state(i);
                        Outcome::Applied
                    }
                    Err(err) => Outcome::Invalid(err.to_string()),
                }
            }
        };
        outcomes.push(outcome);
    }

    let (tip, conflict) = match classify(&causal.final_tips(), &states) {
        Basis::One(tip) => (tip, None),
        Basis::Conflict(branches) => {
            let conflict = Conflict {
                branches: branches
                    .iter()
                    .map(|&j| (events[j].id, status_of(&states, j)))
                    .collect(),
            };
            (Some(branches[0]), Some(conflict))
        }
    };
    let (state, mut entry) = match tip {
        Some(j) => (states[j].clone().unwrap_or(start), trail_end[j]),
        None => (start, None),
    };
    let mut path = Vec::new();
    while let Some(k) = entry {
        let (event, status, before) = trail[k];
        path.push((event, status));
        entry = before;
    }
    path.reverse();
    Derived {
        status: state.status,
        conflict,
        outcomes,
        seen: seen_status,
        path,
        missing: if state.status == Status::Returned {
            state.missing.to_vec()
        } else {
            Vec::new()
        },
        rating,
        follow_up: rating.is_some_and(Rating::is_negative),
        state,
    }
}

fn settled_branch(e: &Event) -> EventId {
    match &e.action {
        Action::Settle { keep, .. } => *keep,
        _ => EventId(Uuid::nil()),
    }
}

/// The causal graph of a log (who descends from whom through `after`), built once, answering
/// "is `j` an ancestor of `i`" in constant time.
///
/// The log is in causal order (an appended event comes after everything its author had seen),
/// so parents precede their children; a parent that does not, or is unknown, is ignored.
///
/// # How ancestry is stored
/// A full ancestry matrix costs the square of the log's length to build and hold, although
/// a real log is a line with short side branches. So the events are cut into *chains*: an
/// event whose only parent is the last event of that parent's chain continues the chain;
/// every other event starts a new one, except that a merge (two or more parents) continues
/// the chain of one parent that is its chain's last event, if any. Along a chain each event is
/// a parent of the next, so an event's ancestors are the events before it on its own chain,
/// plus, for a chain that starts at a fork or passed through a merge, the ancestors of that
/// fork or merge (its *anchor*). Only forks and merges store a bitset of their ancestors; a
/// chain continuing from them refers to it.
///
/// Bits are laid out chain after chain (each chain's events in order), so "the first `k`
/// events of chain `c`" is one contiguous range, set a word at a time when a merge or fork
/// gathers its parents' ancestors.
///
/// The cost: a linear log has one chain and no bitset at all; each fork or merge costs one
/// bitset of `n / 64` words, `n²/64` words in all when every event merges (an adversarial log).
#[derive(Debug)]
pub(crate) struct Causality {
    index: HashMap<EventId, usize>,
    /// Each event's known earlier parents, deduplicated, ascending.
    parents: Vec<Vec<usize>>,
    /// Whether every event named in `after` is known and earlier.
    well_linked: Vec<bool>,
    chain: Vec<usize>,
    /// The event's place on its chain, from 0.
    pos: Vec<usize>,
    /// Where each chain's bits start.
    chain_start: Vec<usize>,
    /// The row of `rows` holding the ancestors of the event's anchor, if it has one.
    anchor: Vec<Option<usize>>,
    /// Words per row.
    width: usize,
    /// The anchors' ancestor bitsets, `width` words each.
    rows: Vec<u64>,
}

impl Causality {
    /// The causal graph of a log given as (id, after) pairs in log order.
    pub(crate) fn new(links: &[(EventId, &[EventId])]) -> Causality {
        let n = links.len();
        // When an id occurs twice, the later occurrence is the one `after` and `keep` name.
        let index: HashMap<EventId, usize> = links
            .iter()
            .enumerate()
            .map(|(i, (id, _))| (*id, i))
            .collect();
        let mut parents = Vec::with_capacity(n);
        let mut well_linked = Vec::with_capacity(n);
        let (mut chain, mut pos) = (Vec::with_capacity(n), Vec::with_capacity(n));
        let mut chain_len: Vec<usize> = Vec::new();
        let mut gathers = Vec::with_capacity(n);
        for (i, (_, after)) in links.iter().enumerate() {
            let mut ps = Vec::with_capacity(after.len());
            let mut well = true;
            for p in after.iter() {
                match index.get(p) {
                    Some(&j) if j < i => ps.push(j),
                    _ => well = false,
                }
            }
            ps.sort_unstable();
            ps.dedup();
            let is_tail = |j: usize| pos[j] + 1 == chain_len[chain[j]];
            let continued = ps.iter().copied().find(|&j| is_tail(j));
            // A fork (the parent's chain goes on elsewhere) or a merge gathers its parents'
            // ancestors into a bitset of its own.
            gathers.push(!ps.is_empty() && (ps.len() > 1 || continued.is_none()));
            match continued {
                Some(j) => {
                    chain.push(chain[j]);
                    pos.push(pos[j] + 1);
                    chain_len[chain[j]] += 1;
                }
                None => {
                    chain.push(chain_len.len());
                    pos.push(0);
                    chain_len.push(1);
                }
            }
            parents.push(ps);
            well_linked.push(well);
        }
        let mut chain_start = Vec::with_capacity(chain_len.len());
        let mut next = 0;
        for len in &chain_len {
            chain_start.push(next);
            next += len;
        }
        let mut causality = Causality {
            index,
            parents,
            well_linked,
            chain,
            pos,
            chain_start,
            anchor: Vec::with_capacity(n),
            width: n.div_ceil(64),
            rows: Vec::new(),
        };
        for (i, gathers) in gathers.into_iter().enumerate() {
            let anchor = if gathers {
                Some(causality.gather(i))
            } else {
                // A root has no anchor; an event continuing its parent's chain shares its
                // parent's.
                causality.parents[i]
                    .first()
                    .and_then(|&j| causality.anchor[j])
            };
            causality.anchor.push(anchor);
        }
        causality
    }

    /// Stores the ancestors of event `i` (every parent, and every parent's ancestors) as a new
    /// row; returns the row.
    fn gather(&mut self, i: usize) -> usize {
        let w = self.width;
        let row = self.rows.len() / w.max(1);
        let mut bits = vec![0u64; w];
        for &j in &self.parents[i] {
            if let Some(a) = self.anchor[j] {
                for (b, r) in bits.iter_mut().zip(&self.rows[a * w..(a + 1) * w]) {
                    *b |= *r;
                }
            }
            // `j` and everything before it on its chain.
            let from = self.chain_start[self.chain[j]];
            set_range(&mut bits, from, from + self.pos[j] + 1);
        }
        self.rows.extend_from_slice(&bits);
        row
    }

    /// Whether event `j` is an ancestor of event `i` (reachable through `after`).
    pub(crate) fn is_ancestor(&self, j: usize, i: usize) -> bool {
        if j >= i {
            return false;
        }
        // On one chain, every earlier event is an ancestor.
        if self.chain[j] == self.chain[i] {
            return true;
        }
        self.anchor[i].is_some_and(|a| {
            let bit = self.chain_start[self.chain[j]] + self.pos[j];
            self.rows[a * self.width + bit / 64] & (1 << (bit % 64)) != 0
        })
    }

    /// Whether every event `i` names in `after` is known and earlier in the log.
    pub(crate) fn well_linked(&self, i: usize) -> bool {
        self.well_linked[i]
    }

    /// The position of the event with this id (the last, if the id occurs twice).
    pub(crate) fn index_of(&self, id: &EventId) -> Option<usize> {
        self.index.get(id).copied()
    }
}

/// Sets bits `from..to`.
fn set_range(bits: &mut [u64], from: usize, to: usize) {
    let mut b = from;
    while b < to {
        let (word, offset) = (b / 64, b % 64);
        let count = (64 - offset).min(to - b);
        let mask = if count == 64 {
            u64::MAX
        } else {
            ((1u64 << count) - 1) << offset
        };
        bits[word] |= mask;
        b += count;
    }
}

/// The branch tips each event sees, computed event by event during a replay.
///
/// An event's *frontier* is the set of the latest stateful events among its ancestors (those
/// no other stateful ancestor descends from): the tips of the branches its author saw, on
/// which the event is judged. A stateful event is one whose replay produced a branch state
/// (a valid status change, a settle; a meeting or notice for agenda items).
///
/// The frontier is not searched for among all ancestors, which would cost the log's length
/// per event. Each event passes on to its children either itself, when it is stateful, or its
/// own frontier; a child's frontier is the union of what its parents pass on, less the events
/// that are ancestors of another element of it. An element `a` passed on by one parent is
/// such an ancestor exactly when it is an ancestor of some parent `q` that did not pass it on
/// (if `q` is stateful, `q` is above it; if not, `a` lies below `q`'s frontier), which is one
/// [`Causality::is_ancestor`] test per element and parent. With a single parent nothing is
/// tested and the parent's set is shared, not copied.
///
/// The cost per event is its parents times the branch tips they see: constant for real logs,
/// and at worst (every event naming many parents, every branch concurrent) the number of
/// events, so `n²` steps in all.
#[derive(Debug)]
pub(crate) struct Frontiers {
    pub(crate) causality: Causality,
    /// What each event passes on to its children, ascending: itself when it holds a state,
    /// otherwise its frontier.
    passed_on: Vec<Rc<[usize]>>,
    holds_state: Vec<bool>,
    /// Stateful events some later stateful event descends from.
    superseded: Vec<bool>,
}

impl Frontiers {
    pub(crate) fn new(causality: Causality) -> Frontiers {
        let n = causality.parents.len();
        Frontiers {
            causality,
            passed_on: Vec::with_capacity(n),
            holds_state: vec![false; n],
            superseded: vec![false; n],
        }
    }

    /// The frontier of event `i`, ascending (log order). Called once per event, in log order,
    /// after every earlier event's [`Frontiers::holds_state`].
    pub(crate) fn tips(&mut self, i: usize) -> Rc<[usize]> {
        debug_assert_eq!(i, self.passed_on.len());
        let parents = &self.causality.parents[i];
        let frontier: Rc<[usize]> = match parents.as_slice() {
            [] => Rc::from([]),
            [p] => self.passed_on[*p].clone(),
            [p, rest @ ..] => {
                let first = &self.passed_on[*p];
                if rest.iter().all(|q| Rc::ptr_eq(&self.passed_on[*q], first)) {
                    first.clone()
                } else {
                    let mut tips: Vec<usize> = parents
                        .iter()
                        .flat_map(|&q| self.passed_on[q].iter().copied())
                        .collect();
                    tips.sort_unstable();
                    tips.dedup();
                    tips.retain(|&a| {
                        !parents.iter().any(|&q| {
                            self.causality.is_ancestor(a, q)
                                && self.passed_on[q].binary_search(&a).is_err()
                        })
                    });
                    // Share a parent's set when it is the same (two views of one state).
                    match parents.iter().find(|&&q| *self.passed_on[q] == *tips) {
                        Some(&q) => self.passed_on[q].clone(),
                        None => Rc::from(tips),
                    }
                }
            }
        };
        self.passed_on.push(frontier.clone());
        frontier
    }

    /// Records that event `i`, whose frontier was just computed, holds a branch state.
    pub(crate) fn holds_state(&mut self, i: usize) {
        // Every stateful event below another one is below one of the frontiers of stateful
        // events, so marking frontiers marks them all.
        for &j in self.passed_on[i].iter() {
            self.superseded[j] = true;
        }
        self.holds_state[i] = true;
        self.passed_on[i] = Rc::from([i]);
    }

    /// The tips of the whole log's branches, ascending: the stateful events no other stateful
    /// event descends from.
    pub(crate) fn final_tips(&self) -> Vec<usize> {
        (0..self.passed_on.len())
            .filter(|&j| self.holds_state[j] && !self.superseded[j])
            .collect()
    }
}

fn status_of(states: &[Option<BranchState>], j: usize) -> Status {
    states[j].as_ref().map_or(Status::Draft, |s| s.status)
}

enum Basis {
    /// One state: the given tip's, or the start state.
    One(Option<usize>),
    /// Tips that disagree on the status, one per distinct status, in log order.
    Conflict(Vec<usize>),
}

fn classify(tips: &[usize], states: &[Option<BranchState>]) -> Basis {
    let Some(&first) = tips.first() else {
        return Basis::One(None);
    };
    // At most one branch per status, so this is at most ten comparisons per tip.
    let mut branches: Vec<usize> = Vec::new();
    for &j in tips {
        if !branches
            .iter()
            .any(|&b| status_of(states, b) == status_of(states, j))
        {
            branches.push(j);
        }
    }
    if branches.len() == 1 {
        Basis::One(Some(first))
    } else {
        Basis::Conflict(branches)
    }
}
