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
use std::collections::HashMap;

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
    /// The last day of the notice period.
    pub fn ends_on(&self) -> NaiveDate {
        self.posted_on + Days::new(u64::from(self.period_days.saturating_sub(1)))
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
                if let Some(last) = self.meetings.last()
                    && let AgendaAction::Meeting(prev) = &events[last.0].action
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
                let resolved_on = self
                    .meetings
                    .iter()
                    .rev()
                    .find(|(_, r)| *r == MeetingResult::Passed)
                    .and_then(|(i, _)| match &events[*i].action {
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
            AgendaAction::Settle { keep, note } => match &self.conflict {
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
/// Events apply in log order. An event that no longer fits (a second record of a stage that
/// another device recorded concurrently) is kept and flagged as a conflict when it was made
/// concurrently with the record it clashes with, and marked invalid otherwise.
pub fn replay_agenda(events: &[AgendaEvent]) -> AgendaState {
    let index: HashMap<EventId, usize> =
        events.iter().enumerate().map(|(i, e)| (e.id, i)).collect();
    let mut ancestors: Vec<Vec<bool>> = Vec::with_capacity(events.len());
    for (i, e) in events.iter().enumerate() {
        let mut anc = vec![false; events.len()];
        for p in &e.after {
            if let Some(&j) = index.get(p).filter(|&&j| j < i) {
                anc[j] = true;
                for (k, a) in ancestors[j].iter().enumerate() {
                    anc[k] |= *a;
                }
            }
        }
        ancestors.push(anc);
    }
    let mut st = AgendaState::default();
    // The last event that moved the stage: a clashing event made without seeing it is concurrent.
    let mut last_stage_event: Option<usize> = None;
    for (i, e) in events.iter().enumerate() {
        match st.check(events, &e.action) {
            Ok(()) => match &e.action {
                AgendaAction::Meeting(m) => {
                    let result = m.result();
                    if result == MeetingResult::Passed {
                        st.stage = st.stage.next();
                        last_stage_event = Some(i);
                    }
                    st.meetings.push((i, result));
                }
                AgendaAction::ResolutionNotice(_) => {
                    st.resolution_notice = Some(i);
                    st.stage = Stage::ResultsNotice;
                    last_stage_event = Some(i);
                }
                AgendaAction::ResultsNotice(_) => {
                    st.results_notice = Some(i);
                    st.stage = Stage::Done;
                    last_stage_event = Some(i);
                }
                AgendaAction::Objection(_) => st.objections.push(i),
                AgendaAction::TownshipReview { .. } => st.reviews.push(i),
                AgendaAction::Settle { keep, .. } => {
                    // The first conflicting record is the one that applied; keeping another
                    // puts that one in its place.
                    let ids = st.conflict.take().unwrap_or_default();
                    if let (Some(applied), Some(&kept)) =
                        (ids.first().and_then(|id| index.get(id)), index.get(keep))
                    {
                        for slot in st
                            .meetings
                            .iter_mut()
                            .map(|(i, _)| i)
                            .chain(st.resolution_notice.as_mut())
                            .chain(st.results_notice.as_mut())
                        {
                            if *slot == *applied {
                                *slot = kept;
                            }
                        }
                        if let Some(entry) = st.meetings.iter_mut().find(|(i, _)| *i == kept)
                            && let AgendaAction::Meeting(m) = &events[kept].action
                        {
                            entry.1 = m.result();
                            // The stage follows the kept record: the record that applied first
                            // advanced it, but if the kept one missed its quorum or majority the
                            // stage was not done (without this, keeping the true "no quorum"
                            // record still let the resolution be published).
                            st.stage = if entry.1 == MeetingResult::Passed {
                                m.body.stage().next()
                            } else {
                                m.body.stage()
                            };
                        }
                    }
                }
            },
            Err(err) => {
                let concurrent = last_stage_event.is_some_and(|j| !ancestors[i][j]);
                let clashes = matches!(
                    e.action,
                    AgendaAction::Meeting(_)
                        | AgendaAction::ResolutionNotice(_)
                        | AgendaAction::ResultsNotice(_)
                );
                if concurrent && clashes {
                    let j = last_stage_event.expect("concurrent implies a stage event");
                    let ids = st.conflict.get_or_insert_with(|| vec![events[j].id]);
                    ids.push(e.id);
                } else {
                    st.invalid.push((i, err.to_string()));
                }
            }
        }
    }
    st
}
