//! The console's words for the domain's values, in both languages, and small formatting
//! helpers (times in China Standard Time, masked personal data, reference-data names).

use bianmin_domain::{
    Action, AgendaAction, Body, MeetingResult, NationalId, Phone, Rating, ReviewKind, Role, Stage,
    Status, Timestamp, Urgency,
};
use chrono::{DateTime, FixedOffset};

use super::session::ConsoleReference;
use crate::web::i18n::{Lang, tr};

/// A status.
pub fn status(l: Lang, s: Status) -> &'static str {
    match s {
        Status::Draft => tr(l, "草稿", "Draft"),
        Status::Submitted => tr(l, "已提交", "Submitted"),
        Status::Accepted => tr(l, "已受理", "Accepted"),
        Status::NotAccepted => tr(l, "不予受理", "Not accepted"),
        Status::Forwarded => tr(l, "已上报", "Forwarded"),
        Status::Returned => tr(l, "退回补正", "Returned for supplement"),
        Status::Approved => tr(l, "审核通过", "Approved"),
        Status::Rejected => tr(l, "不予批准", "Rejected"),
        Status::Completed => tr(l, "已办结", "Completed"),
        Status::Withdrawn => tr(l, "已撤回", "Withdrawn"),
    }
}

/// The name of a lifecycle action.
pub fn action(l: Lang, a: &Action) -> &'static str {
    match a {
        Action::Submit => tr(l, "提交", "Submit"),
        Action::Accept => tr(l, "受理", "Accept"),
        Action::RefuseToAccept { .. } => tr(l, "不予受理", "Refuse to accept"),
        Action::Complete => tr(l, "办结", "Complete"),
        Action::Forward => tr(l, "上报", "Forward"),
        Action::ReturnForSupplement { .. } => tr(l, "退回补正", "Return for supplement"),
        Action::Supplement { .. } => tr(l, "补正", "Supplement"),
        Action::Approve { .. } => tr(l, "审核通过", "Approve"),
        Action::Reject { .. } => tr(l, "不予批准", "Reject"),
        Action::Deliver => tr(l, "送达", "Deliver"),
        Action::Withdraw { .. } => tr(l, "撤回", "Withdraw"),
        Action::Rate { .. } => tr(l, "评价", "Rate"),
        Action::Settle { .. } => tr(l, "处理冲突", "Settle conflict"),
    }
}

/// What an action says besides its name (reason, note, materials), if anything.
pub fn action_detail(l: Lang, a: &Action) -> String {
    let join = |v: &[String]| v.join(tr(l, "、", ", "));
    match a {
        Action::RefuseToAccept { reason } | Action::Reject { reason } => {
            format!("{}{reason}", tr(l, "理由：", "Reason: "))
        }
        Action::ReturnForSupplement { missing, note } => {
            let mut s = format!("{}{}", tr(l, "缺少材料：", "Missing: "), join(missing));
            if !note.trim().is_empty() {
                s.push_str(tr(l, "；说明：", "; note: "));
                s.push_str(note);
            }
            s
        }
        Action::Supplement { provided } => {
            format!("{}{}", tr(l, "补交材料：", "Provided: "), join(provided))
        }
        Action::Approve { note } | Action::Withdraw { reason: note } => note.clone(),
        Action::Rate { rating: r, comment } => {
            let mut s = rating(l, *r).to_string();
            if !comment.trim().is_empty() {
                s.push_str(tr(l, "：", ": "));
                s.push_str(comment);
            }
            s
        }
        Action::Settle { keep, note } => format!(
            "{}{}；{}",
            tr(l, "保留分支 ", "kept branch "),
            short_id(&keep.to_string()),
            note
        ),
        Action::Submit | Action::Accept | Action::Complete | Action::Forward | Action::Deliver => {
            String::new()
        }
    }
}

/// A rating.
pub fn rating(l: Lang, r: Rating) -> &'static str {
    match r {
        Rating::VerySatisfied => tr(l, "非常满意", "Very satisfied"),
        Rating::Satisfied => tr(l, "满意", "Satisfied"),
        Rating::BasicallySatisfied => tr(l, "基本满意", "Basically satisfied"),
        Rating::Dissatisfied => tr(l, "不满意", "Dissatisfied"),
        Rating::VeryDissatisfied => tr(l, "非常不满意", "Very dissatisfied"),
    }
}

/// A role.
pub fn role(l: Lang, r: Role) -> &'static str {
    match r {
        Role::Resident => tr(l, "居民", "resident"),
        Role::Clerk => tr(l, "代办员", "clerk"),
        Role::Reviewer => tr(l, "审核员", "reviewer"),
        Role::Administrator => tr(l, "管理员", "administrator"),
    }
}

/// An agenda stage, with its number.
pub fn stage(l: Lang, s: Stage) -> String {
    let name = match s {
        Stage::Proposal => tr(l, "党支部会议提议", "Proposal (Party branch)"),
        Stage::Consultation => tr(l, "两委会议商议", "Consultation (two committees)"),
        Stage::Review => tr(l, "党员大会审议", "Review (Party members)"),
        Stage::Resolution => tr(l, "村民（代表）会议决议", "Resolution (villagers)"),
        Stage::ResolutionNotice => tr(l, "决议公开", "Resolution notice"),
        Stage::ResultsNotice => tr(l, "实施结果公开", "Results notice"),
        Stage::Done => tr(l, "已完成", "Done"),
    };
    if s == Stage::Done {
        name.to_string()
    } else {
        format!("{}/6 {name}", s.number())
    }
}

/// The body that held a meeting.
pub fn body(l: Lang, b: Body) -> &'static str {
    match b {
        Body::PartyBranch => tr(l, "党支部会议", "Party branch meeting"),
        Body::TwoCommittees => tr(l, "两委联席会议", "Two committees' joint meeting"),
        Body::PartyMembers => tr(l, "党员大会", "Party members' meeting"),
        Body::VillagersMeeting => tr(l, "村民会议", "Villagers' meeting"),
        Body::RepresentativesMeeting => tr(l, "村民代表会议", "Representatives' meeting"),
    }
}

/// A meeting's result.
pub fn meeting_result(l: Lang, r: &MeetingResult) -> String {
    match r {
        MeetingResult::Passed => tr(l, "通过", "Passed").to_string(),
        MeetingResult::NoQuorum(why) => format!("{}（{why}）", tr(l, "不足法定人数", "No quorum")),
        MeetingResult::NotAdopted(why) => format!("{}（{why}）", tr(l, "未获通过", "Not adopted")),
    }
}

/// A township review's kind.
pub fn review_kind(l: Lang, k: ReviewKind) -> &'static str {
    match k {
        ReviewKind::Reviewed => tr(l, "审核", "Reviewed"),
        ReviewKind::Recorded => tr(l, "备案", "Recorded"),
        ReviewKind::Comment => tr(l, "意见", "Comment"),
    }
}

/// The name of an agenda action.
pub fn agenda_action(l: Lang, a: &AgendaAction) -> &'static str {
    match a {
        AgendaAction::Meeting(_) => tr(l, "会议", "Meeting"),
        AgendaAction::ResolutionNotice(_) => tr(l, "决议公开", "Resolution notice"),
        AgendaAction::Objection(_) => tr(l, "异议", "Objection"),
        AgendaAction::ResultsNotice(_) => tr(l, "实施结果公开", "Results notice"),
        AgendaAction::TownshipReview { .. } => tr(l, "乡镇审核", "Township review"),
        AgendaAction::Settle { .. } => tr(l, "处理冲突", "Settle conflict"),
    }
}

/// How urgent, as a short label and its CSS class.
pub fn urgency(l: Lang, u: Urgency) -> Option<(&'static str, &'static str)> {
    match u {
        Urgency::Overdue => Some((tr(l, "已超期", "Overdue"), "overdue")),
        Urgency::DueSoon => Some((tr(l, "即将到期", "Due soon"), "due-soon")),
        Urgency::OnTrack | Urgency::None => None,
    }
}

/// A time as `2026-11-23 14:05:09` in China Standard Time.
pub fn time(t: Timestamp) -> String {
    let tz = FixedOffset::east_opt(8 * 3600).expect("UTC+8 is valid");
    DateTime::from_timestamp_millis(t.0)
        .unwrap_or(DateTime::UNIX_EPOCH)
        .with_timezone(&tz)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// The first 8 characters of an identifier.
pub fn short_id(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

/// An ID number masked (region and last four kept); a malformed one is hidden entirely.
pub fn masked_id(raw: &str) -> String {
    NationalId::parse(raw)
        .map(|id| id.masked())
        .unwrap_or_else(|_| "******************".into())
}

/// A phone number masked (first three and last four kept); a malformed one is hidden entirely.
pub fn masked_phone(raw: &str) -> String {
    Phone::parse(raw)
        .map(|p| p.masked())
        .unwrap_or_else(|_| "***********".into())
}

impl ConsoleReference {
    /// A village's name (its code if unknown).
    pub fn village_name(&self, l: Lang, code: &str) -> String {
        match self.data.directory.village(code) {
            Some(v) => match l {
                Lang::Zh => v.name_zh.clone(),
                Lang::En => v.name_en.clone(),
            },
            None => code.to_string(),
        }
    }

    /// A service item's name (its code if unknown).
    pub fn item_name(&self, l: Lang, code: &str) -> String {
        match self.data.catalog.item(code) {
            Some(i) => match l {
                Lang::Zh => i.name_zh.clone(),
                Lang::En => i.name_en.clone(),
            },
            None => code.to_string(),
        }
    }

    /// The villages a user's area covers, by code.
    pub fn villages_in(&self, area: &str) -> Vec<(String, String, String)> {
        self.data
            .directory
            .townships
            .iter()
            .flat_map(|t| &t.villages)
            .filter(|v| v.code.starts_with(area))
            .map(|v| (v.code.clone(), v.name_zh.clone(), v.name_en.clone()))
            .collect()
    }
}
