//! The words for the domain's values, in Chinese and English, written once for every front end.
//!
//! The server's console and the command line both take their words from here, so a status or
//! an action reads the same wherever a clerk sees it. Pure data: each front end picks a
//! language and adds its own formatting (stage numbers, reasons and notes, machine names).
//!
//! ```
//! use bianmin_domain::{labels, Status};
//! assert_eq!(labels::status(Status::Forwarded).zh, "已上报");
//! assert_eq!(labels::status(Status::Forwarded).en, "Forwarded");
//! ```

use crate::{
    Action, AgendaAction, Body, Clock, HandlingLevel, MeetingResult, PersonalNumberKind, Rating,
    ReviewKind, Role, Stage, Status, Urgency,
};

/// A value's name in Chinese and in English.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Label {
    /// 中文.
    pub zh: &'static str,
    /// English.
    pub en: &'static str,
}

const fn label(zh: &'static str, en: &'static str) -> Label {
    Label { zh, en }
}

// Words that name more than one value: a stage and the agenda action that completes it, a
// request's settlement and an agenda item's.
const RESOLUTION_NOTICE: Label = label("决议公开", "Resolution notice");
const RESULTS_NOTICE: Label = label("实施结果公开", "Results notice");
const SETTLE: Label = label("处理冲突", "Settle conflict");

// A clock's states, by value and by the name a projection stores.
const NOT_STARTED: Label = label("未开始", "Not started");
const RUNNING: Label = label("计时中", "Running");
const PAUSED: Label = label("暂停", "Paused");
const STOPPED: Label = label("已停止", "Stopped");

/// A request's status.
pub fn status(s: Status) -> Label {
    match s {
        Status::Draft => label("草稿", "Draft"),
        Status::Submitted => label("已提交", "Submitted"),
        Status::Accepted => label("已受理", "Accepted"),
        Status::NotAccepted => label("不予受理", "Not accepted"),
        Status::Forwarded => label("已上报", "Forwarded"),
        Status::Returned => label("退回补正", "Returned for supplement"),
        Status::Approved => label("审核通过", "Approved"),
        Status::Rejected => label("不予批准", "Rejected"),
        Status::Completed => label("已办结", "Completed"),
        Status::Withdrawn => label("已撤回", "Withdrawn"),
    }
}

/// The name of a lifecycle action (without its reason, note or materials).
pub fn action(a: &Action) -> Label {
    match a {
        Action::Submit => label("提交", "Submit"),
        Action::Accept => label("受理", "Accept"),
        Action::RefuseToAccept { .. } => label("不予受理", "Refuse to accept"),
        Action::Complete => label("办结", "Complete"),
        Action::Forward => label("上报", "Forward"),
        Action::ReturnForSupplement { .. } => label("退回补正", "Return for supplement"),
        Action::Supplement { .. } => label("补正", "Supplement"),
        Action::Approve { .. } => label("审核通过", "Approve"),
        Action::Reject { .. } => label("不予批准", "Reject"),
        Action::Deliver => label("送达", "Deliver"),
        Action::Withdraw { .. } => label("撤回", "Withdraw"),
        Action::Rate { .. } => label("评价", "Rate"),
        Action::WaiveMaterial { .. } => label("容缺", "Waive material"),
        Action::Settle { .. } => SETTLE,
    }
}

/// A satisfaction rating.
pub fn rating(r: Rating) -> Label {
    match r {
        Rating::VerySatisfied => label("非常满意", "Very satisfied"),
        Rating::Satisfied => label("满意", "Satisfied"),
        Rating::BasicallySatisfied => label("基本满意", "Basically satisfied"),
        Rating::Dissatisfied => label("不满意", "Dissatisfied"),
        Rating::VeryDissatisfied => label("非常不满意", "Very dissatisfied"),
    }
}

/// A role (the English in lower case: it is shown after a person's name).
pub fn role(r: Role) -> Label {
    match r {
        Role::Resident => label("居民", "resident"),
        Role::Clerk => label("代办员", "clerk"),
        Role::Reviewer => label("审核员", "reviewer"),
        Role::Administrator => label("管理员", "administrator"),
    }
}

/// An agenda stage (without its number).
pub fn stage(s: Stage) -> Label {
    match s {
        Stage::Proposal => label("党支部会议提议", "Proposal (Party branch)"),
        Stage::Consultation => label("两委会议商议", "Consultation (two committees)"),
        Stage::Review => label("党员大会审议", "Review (Party members)"),
        Stage::Resolution => label("村民（代表）会议决议", "Resolution (villagers)"),
        Stage::ResolutionNotice => RESOLUTION_NOTICE,
        Stage::ResultsNotice => RESULTS_NOTICE,
        Stage::Done => label("已完成", "Done"),
    }
}

/// The body that holds a meeting.
pub fn body(b: Body) -> Label {
    match b {
        Body::PartyBranch => label("党支部会议", "Party branch meeting"),
        Body::TwoCommittees => label("两委联席会议", "Two committees' joint meeting"),
        Body::PartyMembers => label("党员大会", "Party members' meeting"),
        Body::VillagersMeeting => label("村民会议", "Villagers' meeting"),
        Body::RepresentativesMeeting => label("村民代表会议", "Representatives' meeting"),
    }
}

/// What a meeting achieved (without the reason a motion failed).
pub fn meeting_result(r: &MeetingResult) -> Label {
    match r {
        MeetingResult::Passed => label("通过", "Passed"),
        MeetingResult::NoQuorum(_) => label("不足法定人数", "No quorum"),
        MeetingResult::NotAdopted(_) => label("未获通过", "Not adopted"),
    }
}

/// The kind of a township's review of an agenda item.
pub fn review_kind(k: ReviewKind) -> Label {
    match k {
        ReviewKind::Reviewed => label("审核", "Reviewed"),
        ReviewKind::Recorded => label("备案", "Recorded"),
        ReviewKind::Comment => label("意见", "Comment"),
    }
}

/// The name of an agenda action (without its meeting, notice or comment).
pub fn agenda_action(a: &AgendaAction) -> Label {
    match a {
        AgendaAction::Meeting(_) => label("会议", "Meeting"),
        AgendaAction::ResolutionNotice(_) => RESOLUTION_NOTICE,
        AgendaAction::Objection(_) => label("异议", "Objection"),
        AgendaAction::ResultsNotice(_) => RESULTS_NOTICE,
        AgendaAction::TownshipReview { .. } => label("乡镇审核", "Township review"),
        AgendaAction::Settle { .. } => SETTLE,
    }
}

/// How urgent an open request is; `None` when no clock runs ([`Urgency::None`]).
pub fn urgency(u: Urgency) -> Option<Label> {
    match u {
        Urgency::Overdue => Some(label("已超期", "Overdue")),
        Urgency::DueSoon => Some(label("即将到期", "Due soon")),
        Urgency::OnTrack => Some(label("正常", "On track")),
        Urgency::None => None,
    }
}

/// Which level handles a service item.
pub fn handling_level(l: HandlingLevel) -> Label {
    match l {
        HandlingLevel::Village => label("村级办结", "Village"),
        HandlingLevel::VillageCollectsTownshipHandles => {
            label("村收镇办", "Village collects, township decides")
        }
        HandlingLevel::Township => label("乡镇办理", "Township"),
    }
}

/// The state of a request's clock (without its dates).
pub fn clock(c: &Clock) -> Label {
    match c {
        Clock::NotStarted => NOT_STARTED,
        Clock::Running { .. } => RUNNING,
        Clock::Paused { .. } => PAUSED,
        Clock::Stopped { .. } => STOPPED,
    }
}

/// The state of a clock by the name a projection stores (`not_started`, `running`, `paused`,
/// `stopped`); `None` for any other name.
pub fn clock_state(name: &str) -> Option<Label> {
    match name {
        "not_started" => Some(NOT_STARTED),
        "running" => Some(RUNNING),
        "paused" => Some(PAUSED),
        "stopped" => Some(STOPPED),
        _ => None,
    }
}

/// Whether an ended clock ended within its deadline (the English in lower case: it is shown
/// within a sentence).
pub fn on_time(on_time: bool) -> Label {
    if on_time {
        label("按时", "on time")
    } else {
        label("超期", "late")
    }
}

/// What a personal number found in free text looks like, for a warning.
pub fn personal_number(k: PersonalNumberKind) -> Label {
    match k {
        PersonalNumberKind::NationalId => label("身份证号码", "an ID number"),
        PersonalNumberKind::Mobile => label("手机号码", "a mobile number"),
        PersonalNumberKind::LongNumber => {
            label("银行卡号等长号码", "a bank card or other long number")
        }
    }
}

/// A published holiday's name in one language (`zh`, or English). The calendar format writes
/// both in one string, Chinese first (`春节 Spring Festival`, [`crate::Holiday::name`]): the
/// Chinese name is what comes before the first Latin letter, the English one the rest. A name
/// written in one language only reads as it is in both.
pub fn holiday_name(name: &str, zh: bool) -> &str {
    let name = name.trim();
    let (chinese, english) = match name.find(|c: char| c.is_ascii_alphabetic()) {
        Some(at) => (name[..at].trim(), name[at..].trim()),
        None => (name, ""),
    };
    match (zh, chinese.is_empty(), english.is_empty()) {
        (_, true, _) | (_, _, true) => name,
        (true, false, false) => chinese,
        (false, false, false) => english,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_holiday_reads_in_the_page_language() {
        assert_eq!(holiday_name("元旦 New Year's Day", true), "元旦");
        assert_eq!(holiday_name("元旦 New Year's Day", false), "New Year's Day");
        assert_eq!(
            holiday_name("中秋节 Mid-Autumn Festival", false),
            "Mid-Autumn Festival"
        );
        assert_eq!(holiday_name(" 国庆节 ", false), "国庆节", "Chinese only");
        assert_eq!(
            holiday_name("Labour Day", true),
            "Labour Day",
            "English only"
        );
        let calendar = crate::YearCalendar::from_json(crate::demo::CALENDAR_2026_JSON).unwrap();
        for h in &calendar.holidays {
            let zh = holiday_name(&h.name, true);
            assert!(!zh.contains(|c: char| c.is_ascii_alphabetic()), "{zh}");
            assert!(!holiday_name(&h.name, false).contains(|c: char| !c.is_ascii()));
        }
    }

    #[test]
    fn statuses_have_distinct_words_in_both_languages() {
        let zh: std::collections::BTreeSet<_> = Status::ALL.iter().map(|&s| status(s).zh).collect();
        let en: std::collections::BTreeSet<_> = Status::ALL.iter().map(|&s| status(s).en).collect();
        assert_eq!((zh.len(), en.len()), (Status::ALL.len(), Status::ALL.len()));
    }

    #[test]
    fn a_stage_and_the_action_that_completes_it_share_their_words() {
        let notice = crate::Notice {
            text: String::new(),
            posted_on: "2026-11-25".parse().unwrap(),
            period_days: 10,
            place: String::new(),
        };
        assert_eq!(
            agenda_action(&AgendaAction::ResultsNotice(notice.clone())),
            stage(Stage::ResultsNotice)
        );
        assert_eq!(
            agenda_action(&AgendaAction::ResolutionNotice(notice)),
            stage(Stage::ResolutionNotice)
        );
        let keep = crate::EventId::new();
        let note = String::new();
        assert_eq!(
            action(&Action::Settle {
                keep,
                note: note.clone()
            }),
            agenda_action(&AgendaAction::Settle { keep, note })
        );
    }

    #[test]
    fn clock_states_read_the_same_by_value_and_by_name() {
        assert_eq!(clock_state("not_started"), Some(clock(&Clock::NotStarted)));
        assert_eq!(clock_state("paused").map(|l| l.zh), Some("暂停"));
        assert_eq!(clock_state("closed"), None);
    }
}
