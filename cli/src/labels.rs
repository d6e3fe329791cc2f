//! Chinese and English labels for what the tables show, e.g. `已上报 forwarded`.
//!
//! The Chinese half is the domain's word ([`bianmin_domain::labels`], shared with the
//! console). The English half is always the machine name a script or a flag uses
//! (`forwarded`, `party_branch`), so a clerk reading a table learns the words the commands take.

use std::sync::OnceLock;

use bianmin_domain::labels as words;
use bianmin_domain::{
    Action, AgendaAction, Body, Clock, HandlingLevel, MeetingResult, Rating, ReviewKind, Role,
    Stage, Status, Timestamp, Urgency,
};

/// `已上报 forwarded`.
pub fn status(s: Status) -> String {
    format!("{} {}", words::status(s).zh, s.as_str())
}

/// `4/6 村民（代表）会议决议 resolution`.
pub fn stage(s: Stage) -> String {
    let zh = words::stage(s).zh;
    if s == Stage::Done {
        format!("{zh} {}", s.as_str())
    } else {
        format!("{}/6 {zh} {}", s.number(), s.as_str())
    }
}

/// `党支部会议 party_branch`.
pub fn body(b: Body) -> &'static str {
    static TABLE: OnceLock<Vec<(Body, String)>> = OnceLock::new();
    const ALL: [Body; 5] = [
        Body::PartyBranch,
        Body::TwoCommittees,
        Body::PartyMembers,
        Body::VillagersMeeting,
        Body::RepresentativesMeeting,
    ];
    let name = |b| match b {
        Body::PartyBranch => "party_branch",
        Body::TwoCommittees => "two_committees",
        Body::PartyMembers => "party_members",
        Body::VillagersMeeting => "villagers_meeting",
        Body::RepresentativesMeeting => "representatives_meeting",
    };
    interned(&TABLE, &ALL, b, |b| {
        format!("{} {}", words::body(b).zh, name(b))
    })
}

/// `满意 satisfied`.
pub fn rating(r: Rating) -> &'static str {
    static TABLE: OnceLock<Vec<(Rating, String)>> = OnceLock::new();
    const ALL: [Rating; 5] = [
        Rating::VerySatisfied,
        Rating::Satisfied,
        Rating::BasicallySatisfied,
        Rating::Dissatisfied,
        Rating::VeryDissatisfied,
    ];
    let name = |r| match r {
        Rating::VerySatisfied => "very_satisfied",
        Rating::Satisfied => "satisfied",
        Rating::BasicallySatisfied => "basically_satisfied",
        Rating::Dissatisfied => "dissatisfied",
        Rating::VeryDissatisfied => "very_dissatisfied",
    };
    interned(&TABLE, &ALL, r, |r| {
        format!("{} {}", words::rating(r).zh, name(r))
    })
}

/// `已超期 overdue`, or `-` when no clock runs.
pub fn urgency(u: Urgency) -> &'static str {
    static TABLE: OnceLock<Vec<(Urgency, String)>> = OnceLock::new();
    const ALL: [Urgency; 4] = [
        Urgency::Overdue,
        Urgency::DueSoon,
        Urgency::OnTrack,
        Urgency::None,
    ];
    let name = |u| match u {
        Urgency::Overdue => "overdue",
        Urgency::DueSoon => "due_soon",
        Urgency::OnTrack => "on_track",
        Urgency::None => "",
    };
    interned(&TABLE, &ALL, u, |u| match words::urgency(u) {
        Some(label) => format!("{} {}", label.zh, name(u)),
        None => "-".to_string(),
    })
}

/// `代办员 clerk`.
pub fn role(r: Role) -> String {
    format!("{} {}", words::role(r).zh, r.as_str())
}

/// `村收镇办 village_collects_township_handles`.
pub fn level(l: HandlingLevel) -> &'static str {
    static TABLE: OnceLock<Vec<(HandlingLevel, String)>> = OnceLock::new();
    const ALL: [HandlingLevel; 3] = [
        HandlingLevel::Village,
        HandlingLevel::VillageCollectsTownshipHandles,
        HandlingLevel::Township,
    ];
    let name = |l| match l {
        HandlingLevel::Village => "village",
        HandlingLevel::VillageCollectsTownshipHandles => "village_collects_township_handles",
        HandlingLevel::Township => "township",
    };
    interned(&TABLE, &ALL, l, |l| {
        format!("{} {}", words::handling_level(l).zh, name(l))
    })
}

/// `计时中 running, due 2026-12-01`.
pub fn clock(c: &Clock) -> String {
    let zh = words::clock(c).zh;
    match *c {
        Clock::NotStarted => format!("{zh} not_started"),
        Clock::Running { due } => format!("{zh} running, due {due}"),
        Clock::Paused { remaining, since } => {
            format!("{zh} paused since {since}, {remaining} working days left")
        }
        Clock::Stopped { due, ended_on } => {
            let on_time = words::on_time(ended_on <= due);
            format!(
                "{zh} stopped {ended_on} (due {due}, {} {})",
                on_time.zh, on_time.en
            )
        }
    }
}

/// The projection's clock name (`running`...) with its Chinese label.
pub fn clock_name(name: &str) -> String {
    let zh = words::clock_state(name).map_or("", |l| l.zh);
    format!("{zh} {name}").trim().to_string()
}

/// `上报 forward`, with the action's own words (reasons, materials, ratings) after a colon.
pub fn action(a: &Action) -> String {
    let detail = match a {
        Action::RefuseToAccept { reason } | Action::Reject { reason } => reason.clone(),
        Action::ReturnForSupplement { missing, note } => {
            join_note(&format!("missing: {}", missing.join(", ")), note)
        }
        Action::Supplement { provided } => format!("provided: {}", provided.join(", ")),
        Action::Approve { note } => note.clone(),
        Action::Withdraw { reason } => reason.clone(),
        Action::Rate { rating: r, comment } => join_note(rating(*r), comment),
        Action::WaiveMaterial { material, reason } => join_note(material, reason),
        Action::Settle { keep, note } => join_note(&format!("keep {keep}"), note),
        Action::Submit | Action::Accept | Action::Complete | Action::Forward | Action::Deliver => {
            String::new()
        }
    };
    with_detail(&format!("{} {}", words::action(a).zh, a.kind()), &detail)
}

/// `会议 meeting: 党支部会议 party_branch 2026-11-02, 7/9 present, 6-1-0`.
pub fn agenda_action(a: &AgendaAction) -> String {
    let detail = match a {
        AgendaAction::Meeting(m) => format!(
            "{} {}, {}/{} present, for {} against {} abstain {}",
            body(m.body),
            m.held_on,
            m.present,
            m.entitled,
            m.votes_for,
            m.votes_against,
            m.abstentions
        ),
        AgendaAction::ResolutionNotice(n) | AgendaAction::ResultsNotice(n) => {
            format!("{} to {}, {}", n.posted_on, n.ends_on(), n.text)
        }
        AgendaAction::Objection(o) => {
            join_note(&format!("{}: {}", o.received_on, o.summary), &o.response)
        }
        AgendaAction::TownshipReview { review, comment } => {
            join_note(&review_kind(*review), comment)
        }
        AgendaAction::Settle { keep, note } => join_note(&format!("keep {keep}"), note),
    };
    with_detail(
        &format!("{} {}", words::agenda_action(a).zh, a.kind()),
        &detail,
    )
}

/// `备案 recorded`.
fn review_kind(k: ReviewKind) -> String {
    let name = match k {
        ReviewKind::Reviewed => "reviewed",
        ReviewKind::Recorded => "recorded",
        ReviewKind::Comment => "comment",
    };
    format!("{} {name}", words::review_kind(k).zh)
}

/// `通过 passed`, or why not.
pub fn meeting_result(r: &MeetingResult) -> String {
    let zh = words::meeting_result(r).zh;
    match r {
        MeetingResult::Passed => format!("{zh} passed"),
        MeetingResult::NoQuorum(why) => format!("{zh} no_quorum: {why}"),
        MeetingResult::NotAdopted(why) => format!("{zh} not_adopted: {why}"),
    }
}

/// A device-clock time in China Standard Time, to the minute: `2026-11-23 09:30`.
pub fn time(t: Timestamp) -> String {
    // RFC 3339 in +08:00 is `2026-11-23T09:30:00+08:00`.
    let s = t.to_rfc3339();
    s.get(..16).map_or(s.clone(), |m| m.replace('T', " "))
}

fn join_note(head: &str, note: &str) -> String {
    if note.trim().is_empty() {
        head.to_string()
    } else {
        format!("{head}; {note}")
    }
}

fn with_detail(head: &str, detail: &str) -> String {
    if detail.trim().is_empty() {
        head.to_string()
    } else {
        format!("{head}: {detail}")
    }
}

/// The label of `value` from a table built once from `all`, so that it lives as long as the
/// program (the `&'static str` the callers take); `-` for a value missing from `all`.
fn interned<T: Copy + PartialEq + Send + Sync + 'static>(
    table: &'static OnceLock<Vec<(T, String)>>,
    all: &[T],
    value: T,
    label: impl Fn(T) -> String,
) -> &'static str {
    table
        .get_or_init(|| all.iter().map(|&v| (v, label(v))).collect())
        .iter()
        .find(|(v, _)| *v == value)
        .map_or("-", |(_, s)| s.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_pair_the_domain_word_with_the_machine_name() {
        assert_eq!(
            body(Body::RepresentativesMeeting),
            "村民代表会议 representatives_meeting"
        );
        assert_eq!(
            rating(Rating::BasicallySatisfied),
            "基本满意 basically_satisfied"
        );
        assert_eq!(urgency(Urgency::DueSoon), "即将到期 due_soon");
        assert_eq!(urgency(Urgency::None), "-");
        assert_eq!(level(HandlingLevel::Township), "乡镇办理 township");
        assert_eq!(
            stage(Stage::Resolution),
            "4/6 村民（代表）会议决议 resolution"
        );
        assert_eq!(clock_name("paused"), "暂停 paused");
        assert_eq!(clock_name("odd"), "odd");
    }
}
