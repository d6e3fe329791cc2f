//! Village agenda items: "four discussions, two opens" (四议两公开).
//!
//! A major village matter passes four meetings and two public notices, in order. Like a
//! request, an agenda item is an append-only log of events; its stage is derived by replaying
//! them. The quorum and majority rules:
//!
//! | body | quorum | adopted when |
//! |---|---|---|
//! | Party branch meeting (stage 1), two committees (stage 2) | more than half of members present | more than half of those present vote for |
//! | Party members' meeting (stage 3) | more than half of members present | more than half of *all* members vote for (Party branch work regulations) |
//! | villagers' meeting (stage 4) | more than half of villagers aged 18+, or representatives of two thirds of households (Art. 22) | more than half of those present (Art. 22) |
//! | representatives' meeting (stage 4) | two thirds of members present (Art. 26) | more than half of those present (Art. 26) |
//!
//! A meeting that misses its quorum or majority is recorded (it happened) but the stage does not
//! advance; another meeting may be held.

use chrono::{Days, NaiveDate};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

use crate::request::{Causality, Frontiers};
use crate::{EventId, Stamp, ValidationError};

/// The six stages, in order, and the end.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// 1. Proposal by the village Party branch meeting (党支部会议提议).
    #[default]
    Proposal,
    /// 2. Consultation by the joint meeting of the two committees (两委会议商议).
    Consultation,
    /// 3. Review by the Party members' meeting (党员大会审议).
    Review,
    /// 4. Resolution by the villagers' (representatives') meeting (村民会议或村民代表会议决议).
    Resolution,
    /// 5. Public notice of the resolution (决议公开).
    ResolutionNotice,
    /// 6. Public notice of the implementation results (实施结果公开).
    ResultsNotice,
    /// All six stages done.
    Done,
}

impl Stage {
    /// The stage's name as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Proposal => "proposal",
            Stage::Consultation => "consultation",
            Stage::Review => "review",
            Stage::Resolution => "resolution",
            Stage::ResolutionNotice => "resolution_notice",
            Stage::ResultsNotice => "results_notice",
            Stage::Done => "done",
        }
    }

    /// The stage's number, 1 to 6 (7 when done).
    pub fn number(self) -> u8 {
        self as u8 + 1
    }

    fn next(self) -> Stage {
        match self {
            Stage::Proposal => Stage::Consultation,
            Stage::Consultation => Stage::Review,
            Stage::Review => Stage::Resolution,
            Stage::Resolution => Stage::ResolutionNotice,
            Stage::ResolutionNotice => Stage::ResultsNotice,
            Stage::ResultsNotice | Stage::Done => Stage::Done,
        }
    }
}

/// The body that holds a meeting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Body {
    /// The village Party branch committee (stage 1).
    PartyBranch,
    /// The joint meeting of the Party branch and villagers' committees (stage 2).
    TwoCommittees,
    /// The Party members' meeting (stage 3).
    PartyMembers,
    /// The villagers' meeting (stage 4).
    VillagersMeeting,
    /// The villagers' representatives' meeting (stage 4).
    RepresentativesMeeting,
}

impl Body {
    fn stage(self) -> Stage {
        match self {
            Body::PartyBranch => Stage::Proposal,
            Body::TwoCommittees => Stage::Consultation,
            Body::PartyMembers => Stage::Review,
            Body::VillagersMeeting | Body::RepresentativesMeeting => Stage::Resolution,
        }
    }
}

/// The record of one meeting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meeting {
    /// Which body met (and so which stage this is).
    pub body: Body,
    /// The day it met.
    pub held_on: NaiveDate,
    /// Members entitled to attend (for a villagers' meeting: villagers aged 18 or over).
    pub entitled: u32,
    /// Members present.
    pub present: u32,
    /// For a villagers' meeting held by household: the village's households.
    #[serde(default)]
    pub households: Option<u32>,
    /// For a villagers' meeting held by household: households represented.
    #[serde(default)]
    pub households_represented: Option<u32>,
    /// Votes for.
    pub votes_for: u32,
    /// Votes against.
    pub votes_against: u32,
    /// Abstentions.
    pub abstentions: u32,
    /// The minutes.
    pub minutes: String,
    /// References to photos of the sign-in sheet.
    #[serde(default)]
    pub sign_in_photos: Vec<String>,
}

/// What a meeting achieved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", content = "why", rename_all = "snake_case")]
pub enum MeetingResult {
    /// Quorum met and the motion adopted: the stage is done.
    Passed,
    /// Too few present to decide anything.
    NoQuorum(String),
    /// Quorate, but the motion did not get its majority.
    NotAdopted(String),
}

impl Meeting {
    /// Checks the record's own consistency.
    pub fn validate(&self) -> Result<(), ValidationError> {
        let err = |field: &str, rule: &str| Err(ValidationError::new(field, rule));
        if self.entitled == 0 {
            return err("meeting.entitled", "must be at least 1");
        }
        if self.present > self.entitled {
            return err(
                "meeting.present",
                "cannot exceed the members entitled to attend",
            );
        }
        let votes =
            u64::from(self.votes_for) + u64::from(self.votes_against) + u64::from(self.abstentions);
        if votes > u64::from(self.present) {
            return err(
                "meeting.votes",
                "for, against and abstaining exceed those present",
            );
        }
        if self.minutes.trim().is_empty() {
            return err("meeting.minutes", "are required");
        }
        match (self.households, self.households_represented) {
            (Some(h), Some(r)) if r > h => {
                return err(
                    "meeting.households_represented",
                    "cannot exceed the households",
                );
            }
            (None, Some(_)) | (Some(_), None) => {
                return err(
                    "meeting.households",
                    "give both households and those represented",
                );
            }
            (Some(_), Some(_)) if self.body != Body::VillagersMeeting => {
                return err(
                    "meeting.households",
                    "only a villagers' meeting counts households",
                );
            }
            _ => {}
        }
        Ok(())
    }

    /// Applies the quorum and majority rules (see the module docs).
    pub fn result(&self) -> MeetingResult {
        let (entitled, present, for_) = (
            u64::from(self.entitled),
            u64::from(self.present),
            u64::from(self.votes_for),
        );
        let quorate = match self.body {
            Body::PartyBranch | Body::TwoCommittees | Body::PartyMembers => present * 2 > entitled,
            Body::VillagersMeeting => {
                let by_households = match (self.households, self.households_represented) {
                    (Some(h), Some(r)) => h > 0 && u64::from(r) * 3 >= u64::from(h) * 2,
                    _ => false,
                };
                present * 2 > entitled || by_households
            }
            Body::RepresentativesMeeting => present * 3 >= entitled * 2,
        };
        if !quorate {
            let rule = match self.body {
                Body::VillagersMeeting => {
                    "needs more than half of villagers aged 18 or over, or representatives of \
                     two thirds of households (Organic Law Art. 22)"
                }
                Body::RepresentativesMeeting => {
                    "needs two thirds or more of the representatives present (Organic Law Art. 26)"
                }
                _ => "needs more than half of the members present",
            };
            return MeetingResult::NoQuorum(rule.into());
        }
        let adopted = match self.body {
            Body::PartyMembers => for_ * 2 > entitled,
            _ => for_ * 2 > present,
        };
        if adopted {
            MeetingResult::Passed
        } else {
            let rule = match self.body {
                Body::PartyMembers => "needs votes for from more than half of all members",
                _ => "needs votes for from more than half of those present",
            };
            MeetingResult::NotAdopted(rule.into())
        }
    }
}

/// A public notice (公开) posted at the village.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    /// The text made public: the resolution, or the results of its implementation.
    pub text: String,
    /// The first day of the notice.
    pub posted_on: NaiveDate,
    /// How many days it stays posted.
    pub period_days: u32,
    /// Where it is posted (notice board, WeChat group...).
    #[serde(default)]
    pub place: String,
}

impl Notice {
    /// The last day of the notice period (the last date chrono knows, for a period that would
    /// end past it: a notice that invalid never passes `Notice::validate`, but a page may
    /// still show what a forged log holds, and must not panic doing so).
    pub fn ends_on(&self) -> NaiveDate {
        self.posted_on
            .checked_add_days(Days::new(u64::from(self.period_days.saturating_sub(1))))
            .unwrap_or(NaiveDate::MAX)
    }

    fn validate(&self) -> Result<(), ValidationError> {
        if self.text.trim().is_empty() {
            return Err(ValidationError::new("notice.text", "is required"));
        }
        if !(1..=365).contains(&self.period_days) {
            return Err(ValidationError::new(
                "notice.period_days",
                "must be 1 to 365 days",
            ));
        }
        Ok(())
    }
}

/// An objection raised while a notice was posted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Objection {
    /// The day it was received.
    pub received_on: NaiveDate,
    /// What it says (no names or ID numbers: it is public).
    pub summary: String,
    /// The village's answer, if given.
    #[serde(default)]
    pub response: String,
}

/// The township's act on an agenda item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewKind {
    /// Reviewed (审核).
    Reviewed,
    /// Put on record (备案).
    Recorded,
    /// A comment only.
    Comment,
}

/// What an agenda event does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AgendaAction {
    /// A meeting of stages 1 to 4.
    Meeting(Meeting),
    /// Post the notice of the resolution (stage 5).
    ResolutionNotice(Notice),
    /// Record an objection to the notice currently posted.
    Objection(Objection),
    /// Post the notice of the implementation results (stage 6).
    ResultsNotice(Notice),
    /// The township's review, record or comment.
    TownshipReview {
        /// Which.
        review: ReviewKind,
        /// The township's words.
        comment: String,
    },
    /// Settle a conflict by keeping one of the concurrent records.
    Settle {
        /// The event kept.
        keep: EventId,
        /// Why.
        note: String,
    },
}

impl AgendaAction {
    /// The action's name as stored.
    pub fn kind(&self) -> &'static str {
        match self {
            AgendaAction::Meeting(_) => "meeting",
            AgendaAction::ResolutionNotice(_) => "resolution_notice",
            AgendaAction::Objection(_) => "objection",
            AgendaAction::ResultsNotice(_) => "results_notice",
            AgendaAction::TownshipReview { .. } => "township_review",
            AgendaAction::Settle { .. } => "settle",
        }
    }
}

/// One entry of an agenda item's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgendaEvent {
    /// Its identifier.
    pub id: EventId,
    /// The tips of the log its author had seen.
    pub after: Vec<EventId>,
    /// Who, where, when.
    pub by: Stamp,
    /// What.
    pub action: AgendaAction,
}

/// The state derived from an agenda item's events.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AgendaState {
    /// The stage awaiting completion.
    pub stage: Stage,
    /// The index of each meeting event with its result.
    pub meetings: Vec<(usize, MeetingResult)>,
    /// The index of the resolution notice event.
    pub resolution_notice: Option<usize>,
    /// The index of the results notice event.
    pub results_notice: Option<usize>,
    /// The indices of objection events.
    pub objections: Vec<usize>,
    /// The indices of township review events.
    pub reviews: Vec<usize>,
    /// Concurrent records of the same stage that a person must settle.
    pub conflict: Option<Vec<EventId>>,
    /// Events refused by the replay, with why (forged or corrupted entries).
    pub invalid: Vec<(usize, String)>,
}

impl AgendaState {
    /// Whether `action` may be appended now, by the stage-order and notice rules.
    pub fn check(
        &self,
        events: &[AgendaEvent],
        action: &AgendaAction,
    ) -> Result<(), ValidationError> {
        let view = View {
            conflict: self.conflict.as_deref(),
            stage: self.stage,
            last_meeting: self.meetings.last().map(|(i, _)| *i),
            last_passed: self
                .meetings
                .iter()
                .rev()
                .find(|(_, r)| *r == MeetingResult::Passed)
                .map(|(i, _)| *i),
            resolution_notice: self.resolution_notice,
            results_notice: self.results_notice,
        };
        view.check(events, action)
    }
}

/// What the stage-order and notice rules look at in a state: [`AgendaState::check`] takes it
/// from a state, the replay from a branch without building the state's list of meetings.
#[derive(Debug, Clone, Copy)]
struct View<'a> {
    conflict: Option<&'a [EventId]>,
    stage: Stage,
    /// The last meeting (the latest in log order).
    last_meeting: Option<usize>,
    /// The last meeting that passed.
    last_passed: Option<usize>,
    resolution_notice: Option<usize>,
    results_notice: Option<usize>,
}

impl View<'_> {
    fn check(&self, events: &[AgendaEvent], action: &AgendaAction) -> Result<(), ValidationError> {
        let kind = action.kind();
        if self.conflict.is_some()
            && !matches!(
                action,
                AgendaAction::Settle { .. } | AgendaAction::TownshipReview { .. }
            )
        {
            return Err(ValidationError::new(
                kind,
                "concurrent records conflict: settle first",
            ));
        }
        match action {
            AgendaAction::Meeting(m) => {
                m.validate()?;
                let stage = m.body.stage();
                if stage != self.stage {
                    return Err(ValidationError::new(
                        "meeting.body",
                        format!(
                            "the item is at stage {} ({}); a meeting of stage {} ({}) is out of order",
                            self.stage.number(),
                            self.stage.as_str(),
                            stage.number(),
                            stage.as_str()
                        ),
                    ));
                }
                if let Some(last) = self.last_meeting
                    && let AgendaAction::Meeting(prev) = &events[last].action
                    && m.held_on < prev.held_on
                {
                    return Err(ValidationError::new(
                        "meeting.held_on",
                        "cannot be before the previous meeting",
                    ));
                }
                Ok(())
            }
            AgendaAction::ResolutionNotice(n) => {
                n.validate()?;
                if self.stage != Stage::ResolutionNotice {
                    return Err(ValidationError::new(
                        kind,
                        "the resolution is made public only after the resolution meeting passed",
                    ));
                }
                let resolved_on = self.last_passed.and_then(|i| match &events[i].action {
                    AgendaAction::Meeting(m) => Some(m.held_on),
                    _ => None,
                });
                if resolved_on.is_some_and(|d| n.posted_on < d) {
                    return Err(ValidationError::new(
                        "notice.posted_on",
                        "cannot be before the resolution was made",
                    ));
                }
                Ok(())
            }
            AgendaAction::ResultsNotice(n) => {
                n.validate()?;
                let Some(res) = self
                    .resolution_notice
                    .and_then(|i| match &events[i].action {
                        AgendaAction::ResolutionNotice(r) => Some(r),
                        _ => None,
                    })
                else {
                    return Err(ValidationError::new(
                        kind,
                        "the results are made public only after the resolution notice",
                    ));
                };
                if self.stage != Stage::ResultsNotice {
                    return Err(ValidationError::new(
                        kind,
                        "the results notice is already posted",
                    ));
                }
                if n.posted_on <= res.ends_on() {
                    return Err(ValidationError::new(
                        "notice.posted_on",
                        format!(
                            "must be after the resolution notice period ends ({})",
                            res.ends_on()
                        ),
                    ));
                }
                Ok(())
            }
            AgendaAction::Objection(o) => {
                if o.summary.trim().is_empty() {
                    return Err(ValidationError::new("objection.summary", "is required"));
                }
                let posted = [self.resolution_notice, self.results_notice]
                    .into_iter()
                    .flatten()
                    .filter_map(|i| match &events[i].action {
                        AgendaAction::ResolutionNotice(n) | AgendaAction::ResultsNotice(n) => {
                            Some(n)
                        }
                        _ => None,
                    })
                    .any(|n| n.posted_on <= o.received_on && o.received_on <= n.ends_on());
                if posted {
                    Ok(())
                } else {
                    Err(ValidationError::new(
                        "objection.received_on",
                        "objections are recorded while a notice is posted",
                    ))
                }
            }
            AgendaAction::TownshipReview { comment, .. } => {
                if comment.trim().is_empty() {
                    Err(ValidationError::new("comment", "is required"))
                } else {
                    Ok(())
                }
            }
            AgendaAction::Settle { keep, note } => match self.conflict {
                None => Err(ValidationError::new(
                    "settle",
                    "there is no conflict to settle",
                )),
                Some(ids) if !ids.contains(keep) => Err(ValidationError::new(
                    "keep",
                    "is not one of the conflicting records",
                )),
                Some(_) if note.trim().is_empty() => {
                    Err(ValidationError::new("note", "a reason is required"))
                }
                Some(_) => Ok(()),
            },
        }
    }
}

/// Replays an agenda item's events into its state.
///
/// Like the request replay (see [`crate::request`]), each record is judged on the state its
/// author had seen (the tips of the branches among its causal ancestors), not on whatever
/// happens to precede it in the log. Records made concurrently on two devices form branches;
/// branches that reach the same stage are merged (every record kept), branches that reach
/// different stages are a conflict that lasts until a `settle` names the branch to keep, whose
/// records and stage then stand. Objections and township reviews do not move the stage: they
/// are kept whenever valid on their author's view. An event naming unknown or later events in
/// `after` is invalid.
///
/// The cost grows linearly with the log for real items (see [`crate::request::replay`]).
pub fn replay_agenda(events: &[AgendaEvent]) -> AgendaState {
    let links: Vec<(EventId, &[EventId])> =
        events.iter().map(|e| (e.id, e.after.as_slice())).collect();
    let mut causal = Frontiers::new(Causality::new(&links));
    // The branch after each stage-moving record (meetings, notices, settles).
    let mut branches: Vec<Option<Branch>> = vec![None; events.len()];
    let mut meetings = MeetingSets::default();
    let (mut objections, mut reviews, mut invalid) = (Vec::new(), Vec::new(), Vec::new());
    for (i, e) in events.iter().enumerate() {
        let tips = causal.tips(i);
        if !causal.causality.well_linked(i) {
            invalid.push((
                i,
                "after names an event that is not earlier in the log".to_string(),
            ));
            continue;
        }
        let (basis, conflict) = merge(&tips, &branches, events);
        let view = basis.view(conflict.as_deref());
        if let Err(e) = view.check(events, &e.action) {
            invalid.push((i, e.to_string()));
            continue;
        }
        // `check` refuses every stage-moving record but a settle while in conflict, so the
        // branches a meeting or notice builds on agree and their meetings are pooled.
        let next = match &e.action {
            AgendaAction::Meeting(m) => {
                let mut next = basis;
                let pooled = meetings.union(tips.iter().map(|&j| branch_of(&branches, j)));
                next.meetings = Some(meetings.push(pooled, i));
                next.last_meeting = Some(i);
                if m.result() == MeetingResult::Passed {
                    next.stage = next.stage.next();
                    next.passed.push(i);
                }
                Some(next)
            }
            AgendaAction::ResolutionNotice(_) => {
                let mut next = basis;
                next.meetings = meetings.union(tips.iter().map(|&j| branch_of(&branches, j)));
                next.resolution_notice = Some(i);
                next.stage = Stage::ResultsNotice;
                Some(next)
            }
            AgendaAction::ResultsNotice(_) => {
                let mut next = basis;
                next.meetings = meetings.union(tips.iter().map(|&j| branch_of(&branches, j)));
                next.results_notice = Some(i);
                next.stage = Stage::Done;
                Some(next)
            }
            // `check` made sure `keep` is one of the conflicting branch tips.
            AgendaAction::Settle { keep, .. } => Some(
                causal
                    .causality
                    .index_of(keep)
                    .and_then(|k| branches[k].clone())
                    .unwrap_or_default(),
            ),
            AgendaAction::Objection(_) => {
                objections.push(i);
                None
            }
            AgendaAction::TownshipReview { .. } => {
                reviews.push(i);
                None
            }
        };
        if next.is_some() {
            branches[i] = next;
            causal.holds_state(i);
        }
    }
    let tips = causal.final_tips();
    let (branch, conflict) = merge(&tips, &branches, events);
    let pooled = match conflict {
        Some(_) => branch.meetings,
        None => meetings.union(tips.iter().map(|&j| branch_of(&branches, j))),
    };
    AgendaState {
        stage: branch.stage,
        meetings: meetings
            .list(pooled)
            .into_iter()
            // Only meetings are ever added to a set.
            .filter_map(|i| match &events[i].action {
                AgendaAction::Meeting(m) => Some((i, m.result())),
                _ => None,
            })
            .collect(),
        resolution_notice: branch.resolution_notice,
        results_notice: branch.results_notice,
        objections,
        reviews,
        conflict,
        invalid,
    }
}

/// The state a branch of an agenda log has reached, as the replay keeps it: what the rules
/// and [`Branch::key`] look at, and the branch's meetings as a node of [`MeetingSets`]. Every
/// failed meeting stays on the record, so copying the list of meetings into each new state
/// would cost the square of the log's length.
#[derive(Debug, Clone, Default)]
struct Branch {
    stage: Stage,
    /// The meetings that passed, oldest first: one per stage passed, so at most four.
    passed: Vec<usize>,
    /// The latest meeting, passed or not.
    last_meeting: Option<usize>,
    resolution_notice: Option<usize>,
    results_notice: Option<usize>,
    /// Every meeting of the branch.
    meetings: Option<usize>,
}

impl Branch {
    /// What makes two branches the same: the stage and the records that decided it (passed
    /// meetings, notices). Concurrent failed meetings do not contradict anything and are
    /// merged; two different passed meetings of a stage, or two notices, are a conflict a
    /// person settles, because which one counts must not be chosen silently.
    fn key(&self) -> (Stage, &[usize], Option<usize>, Option<usize>) {
        (
            self.stage,
            &self.passed,
            self.resolution_notice,
            self.results_notice,
        )
    }

    fn view<'a>(&self, conflict: Option<&'a [EventId]>) -> View<'a> {
        View {
            conflict,
            stage: self.stage,
            last_meeting: self.last_meeting,
            last_passed: self.passed.last().copied(),
            resolution_notice: self.resolution_notice,
            results_notice: self.results_notice,
        }
    }
}

fn branch_of(branches: &[Option<Branch>], j: usize) -> Option<&Branch> {
    branches[j].as_ref()
}

/// The sets of meetings of the branches, shared between the branches built on one another: a
/// set is a meeting added to an earlier set, or the union of the sets of branches merged.
#[derive(Debug, Default)]
struct MeetingSets {
    nodes: Vec<MeetingSet>,
}

#[derive(Debug)]
enum MeetingSet {
    Add(Option<usize>, usize),
    Union(Vec<usize>),
}

impl MeetingSets {
    /// `set` with meeting `i` added.
    fn push(&mut self, set: Option<usize>, i: usize) -> usize {
        self.nodes.push(MeetingSet::Add(set, i));
        self.nodes.len() - 1
    }

    /// The union of the meetings of `branches`.
    fn union<'a>(&mut self, branches: impl Iterator<Item = Option<&'a Branch>>) -> Option<usize> {
        let mut sets: Vec<usize> = branches.flatten().filter_map(|b| b.meetings).collect();
        sets.sort_unstable();
        sets.dedup();
        match sets.as_slice() {
            [] => None,
            [one] => Some(*one),
            _ => {
                self.nodes.push(MeetingSet::Union(sets));
                Some(self.nodes.len() - 1)
            }
        }
    }

    /// The meetings of `set`, in log order.
    fn list(&self, set: Option<usize>) -> Vec<usize> {
        let mut visited = vec![false; self.nodes.len()];
        let mut todo: Vec<usize> = set.into_iter().collect();
        let mut out = Vec::new();
        while let Some(k) = todo.pop() {
            if std::mem::replace(&mut visited[k], true) {
                continue;
            }
            match &self.nodes[k] {
                MeetingSet::Add(rest, i) => {
                    out.push(*i);
                    todo.extend(*rest);
                }
                MeetingSet::Union(sets) => todo.extend(sets),
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// The state of a set of branch tips: the first branch's (in log order) and no conflict when
/// the branches agree (see [`Branch::key`]), the latest meeting being the latest of all of
/// them; otherwise the first branch's state with the conflict (one tip per distinct branch,
/// in log order). The pooled meetings of agreeing branches are built only when needed.
fn merge(
    tips: &[usize],
    branches: &[Option<Branch>],
    events: &[AgendaEvent],
) -> (Branch, Option<Vec<EventId>>) {
    let empty = Branch::default();
    let branch = |j: usize| branch_of(branches, j).unwrap_or(&empty);
    let Some(&first) = tips.first() else {
        return (Branch::default(), None);
    };
    let mut distinct: Vec<usize> = Vec::new();
    if tips.len() > 8 {
        // Many concurrent tips (a forged log): a set keeps this linear in their number.
        let mut keys = HashSet::new();
        distinct.extend(
            tips.iter()
                .copied()
                .filter(|&j| keys.insert(branch(j).key())),
        );
    } else {
        for &j in tips {
            if !distinct.iter().any(|&b| branch(b).key() == branch(j).key()) {
                distinct.push(j);
            }
        }
    }
    let mut state = branch(first).clone();
    if distinct.len() > 1 {
        return (
            state,
            Some(distinct.iter().map(|&j| events[j].id).collect()),
        );
    }
    state.last_meeting = tips.iter().filter_map(|&j| branch(j).last_meeting).max();
    (state, None)
}
