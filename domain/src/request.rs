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
use std::collections::HashMap;
use std::fmt;
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
            Action::Settle { .. } => "settle",
        }
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

    /// The Chinese label shown to clerks.
    pub fn label_zh(self) -> &'static str {
        match self {
            Status::Draft => "草稿",
            Status::Submitted => "已提交",
            Status::Accepted => "已受理",
            Status::NotAccepted => "不予受理",
            Status::Forwarded => "已上报",
            Status::Returned => "退回补正",
            Status::Approved => "审核通过",
            Status::Rejected => "不予批准",
            Status::Completed => "已办结",
            Status::Withdrawn => "已撤回",
        }
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
    /// The materials listed as missing by the last return.
    missing: Vec<String>,
}

impl BranchState {
    const START: BranchState = BranchState {
        status: Status::Draft,
        returned_from: None,
        missing: Vec::new(),
    };
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
                missing: missing.clone(),
            })
        }
        (Action::Supplement { provided }, Returned) => {
            let absent: Vec<&str> = state
                .missing
                .iter()
                .filter(|m| !provided.contains(m))
                .map(String::as_str)
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
                missing: Vec::new(),
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
pub fn replay(events: &[Event], level: HandlingLevel) -> Derived {
    let ancestors = ancestry(events);
    let n = events.len();
    let index: HashMap<EventId, usize> =
        events.iter().enumerate().map(|(i, e)| (e.id, i)).collect();

    // The state each valid status-changing event leads to on its branch, and its path.
    let mut states: Vec<Option<BranchState>> = vec![None; n];
    let mut paths: Vec<Vec<(usize, Status)>> = vec![Vec::new(); n];
    let mut outcomes = Vec::with_capacity(n);
    let mut seen_status = Vec::with_capacity(n);
    let mut rating = None;

    for (i, e) in events.iter().enumerate() {
        // The author saw an event this log does not hold before it (forged, corrupted or out
        // of causal order): the state it was made on is unknown. Applying it to the part we do
        // know (possibly the empty draft) would let, say, a forged withdrawal open a conflict.
        if e.after.iter().any(|p| index.get(p).is_none_or(|&j| j >= i)) {
            outcomes.push(Outcome::Invalid(
                "after names an event that is not earlier in the log".into(),
            ));
            seen_status.push(None);
            continue;
        }
        let seen = (0..i).filter(|&j| ancestors[i][j] && states[j].is_some());
        let basis = classify(branch_tips(seen, &ancestors), &states);
        seen_status.push(match &basis {
            Basis::One(Some(j)) => Some(status_of(&states, *j)),
            Basis::One(None) => Some(Status::Draft),
            Basis::Conflict(_) => None,
        });
        let outcome = match basis {
            Basis::Conflict(branches) => match (&e.action, index.get(&settled_branch(e))) {
                (Action::Settle { note, .. }, Some(&k))
                    if branches.contains(&k) && !note.trim().is_empty() =>
                {
                    states[i] = states[k].clone();
                    paths[i] = paths[k].clone();
                    Outcome::Applied
                }
                (Action::Settle { .. }, _) => {
                    Outcome::Invalid("settle names no conflicting branch".into())
                }
                _ => Outcome::Invalid("made while in conflict without settling it".into()),
            },
            Basis::One(from) => {
                let (state, path) = match from {
                    Some(j) => (
                        states[j].clone().unwrap_or(BranchState::START),
                        paths[j].clone(),
                    ),
                    None => (BranchState::START, Vec::new()),
                };
                match step(&state, &e.action, level) {
                    Ok(_) if matches!(e.action, Action::Rate { .. }) => {
                        if let Action::Rate { rating: r, .. } = e.action {
                            rating = Some(r);
                        }
                        Outcome::Applied
                    }
                    Ok(next) => {
                        let mut path = path;
                        path.push((i, next.status));
                        states[i] = Some(next);
                        paths[i] = path;
                        Outcome::Applied
                    }
                    Err(err) => Outcome::Invalid(err.to_string()),
                }
            }
        };
        outcomes.push(outcome);
    }

    let all = (0..n).filter(|&j| states[j].is_some());
    let (tip, conflict) = match classify(branch_tips(all, &ancestors), &states) {
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
    let (state, path) = match tip {
        Some(j) => (
            states[j].clone().unwrap_or(BranchState::START),
            paths[j].clone(),
        ),
        None => (BranchState::START, Vec::new()),
    };
    Derived {
        status: state.status,
        conflict,
        outcomes,
        seen: seen_status,
        path,
        missing: if state.status == Status::Returned {
            state.missing.clone()
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

/// `ancestors[i][j]`: event `j` is reachable from event `i` through `after`.
///
/// The log is in causal order (an appended event comes after everything its author had seen),
/// so parents precede their children; a parent that does not, or is unknown, is ignored.
fn ancestry(events: &[Event]) -> Vec<Vec<bool>> {
    let links: Vec<(EventId, &[EventId])> =
        events.iter().map(|e| (e.id, e.after.as_slice())).collect();
    ancestry_of(&links)
}

/// The ancestry matrix of a causal log given as (id, after) pairs in log order.
pub(crate) fn ancestry_of(links: &[(EventId, &[EventId])]) -> Vec<Vec<bool>> {
    let index: HashMap<EventId, usize> = links
        .iter()
        .enumerate()
        .map(|(i, (id, _))| (*id, i))
        .collect();
    let n = links.len();
    let mut ancestors: Vec<Vec<bool>> = Vec::with_capacity(n);
    for (i, (_, after)) in links.iter().enumerate() {
        let mut anc = vec![false; n];
        for p in after.iter() {
            if let Some(&j) = index.get(p).filter(|&&j| j < i) {
                anc[j] = true;
                for (k, a) in ancestors[j].iter().enumerate() {
                    anc[k] |= *a;
                }
            }
        }
        ancestors.push(anc);
    }
    ancestors
}

/// The candidates that no other candidate descends from: the tips of the branches.
pub(crate) fn branch_tips(
    candidates: impl Iterator<Item = usize>,
    ancestors: &[Vec<bool>],
) -> Vec<usize> {
    let c: Vec<usize> = candidates.collect();
    c.iter()
        .copied()
        .filter(|&a| !c.iter().any(|&b| b != a && ancestors[b][a]))
        .collect()
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

fn classify(tips: Vec<usize>, states: &[Option<BranchState>]) -> Basis {
    let Some(&first) = tips.first() else {
        return Basis::One(None);
    };
    let mut branches: Vec<usize> = Vec::new();
    for &j in &tips {
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
