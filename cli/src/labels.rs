//! Chinese and English labels for what the tables show, e.g. `已上报 forwarded`.
//!
//! The English half is always the machine name a script or a flag uses (`forwarded`,
//! `party_branch`), so a clerk reading a table learns the words the commands take.

use bianmin_domain::{
    Action, AgendaAction, Body, Clock, HandlingLevel, MeetingResult, Rating, ReviewKind, Role,
    Stage, Status, Timestamp, Urgency,
};

/// `已上报 forwarded`.
pub fn status(s: Status) -> String {
    format!("{} {}", s.label_zh(), s.as_str())
}

/// `4/6 村民(代表)会议决议 resolution`.
pub fn stage(s: Stage) -> String {
    let zh = match s {
        Stage::Proposal => "党支部会议提议",
        Stage::Consultation => "两委会议商议",
        Stage::Review => "党员大会审议",
        Stage::Resolution => "村民(代表)会议决议",
        Stage::ResolutionNotice => "决议公开",
        Stage::ResultsNotice => "实施结果公开",
        Stage::Done => "已完成",
    };
    if s == Stage::Done {
        format!("{zh} {}", s.as_str())
    } else {
        format!("{}/6 {zh} {}", s.number(), s.as_str())
    }
}

/// `党支部会议 party_branch`.
pub fn body(b: Body) -> &'static str {
    match b {
        Body::PartyBranch => "党支部会议 party_branch",
        Body::TwoCommittees => "两委联席会议 two_committees",
        Body::PartyMembers => "党员大会 party_members",
        Body::VillagersMeeting => "村民会议 villagers_meeting",
        Body::RepresentativesMeeting => "村民代表会议 representatives_meeting",
    }
}

/// `满意 satisfied`.
pub fn rating(r: Rating) -> &'static str {
    match r {
        Rating::VerySatisfied => "非常满意 very_satisfied",
        Rating::Satisfied => "满意 satisfied",
        Rating::BasicallySatisfied => "基本满意 basically_satisfied",
        Rating::Dissatisfied => "不满意 dissatisfied",
        Rating::VeryDissatisfied => "非常不满意 very_dissatisfied",
    }
}

/// `已超期 overdue`.
pub fn urgency(u: Urgency) -> &'static str {
    match u {
        Urgency::Overdue => "已超期 overdue",
        Urgency::DueSoon => "即将到期 due_soon",
        Urgency::OnTrack => "正常 on_track",
        Urgency::None => "-",
    }
}

/// `代办员 clerk`.
pub fn role(r: Role) -> String {
    let zh = match r {
        Role::Resident => "居民",
        Role::Clerk => "代办员",
        Role::Reviewer => "审核员",
        Role::Administrator => "管理员",
    };
    format!("{zh} {}", r.as_str())
}

/// `村收镇办 village_collects_township_handles`.
pub fn level(l: HandlingLevel) -> &'static str {
    match l {
        HandlingLevel::Village => "村级办结 village",
        HandlingLevel::VillageCollectsTownshipHandles => {
            "村收镇办 village_collects_township_handles"
        }
        HandlingLevel::Township => "镇级办理 township",
    }
}

/// `计时中 running, due 2026-12-01`.
pub fn clock(c: &Clock) -> String {
    match *c {
        Clock::NotStarted => "未开始 not_started".into(),
        Clock::Running { due } => format!("计时中 running, due {due}"),
        Clock::Paused { remaining, since } => {
            format!("暂停 paused since {since}, {remaining} working days left")
        }
        Clock::Stopped { due, ended_on } => {
            let on_time = if ended_on <= due {
                "按时 on time"
            } else {
                "超期 late"
            };
            format!("已停止 stopped {ended_on} (due {due}, {on_time})")
        }
    }
}

/// The projection's clock name (`running`...) with its Chinese label.
pub fn clock_name(name: &str) -> String {
    let zh = match name {
        "not_started" => "未开始",
        "running" => "计时中",
        "paused" => "暂停",
        "stopped" => "已停止",
        _ => "",
    };
    format!("{zh} {name}").trim().to_string()
}

/// `上报 forward`, with the action's own words (reasons, materials, ratings) after a colon.
pub fn action(a: &Action) -> String {
    let zh = match a {
        Action::Submit => "提交",
        Action::Accept => "受理",
        Action::RefuseToAccept { .. } => "不予受理",
        Action::Complete => "办结",
        Action::Forward => "上报",
        Action::ReturnForSupplement { .. } => "退回补正",
        Action::Supplement { .. } => "补正",
        Action::Approve { .. } => "审核通过",
        Action::Reject { .. } => "不予批准",
        Action::Deliver => "送达",
        Action::Withdraw { .. } => "撤回",
        Action::Rate { .. } => "评价",
        Action::Settle { .. } => "裁定冲突",
    };
    let detail = match a {
        Action::RefuseToAccept { reason } | Action::Reject { reason } => reason.clone(),
        Action::ReturnForSupplement { missing, note } => {
            join_note(&format!("missing: {}", missing.join(", ")), note)
        }
        Action::Supplement { provided } => format!("provided: {}", provided.join(", ")),
        Action::Approve { note } => note.clone(),
        Action::Withdraw { reason } => reason.clone(),
        Action::Rate { rating: r, comment } => join_note(rating(*r), comment),
        Action::Settle { keep, note } => join_note(&format!("keep {keep}"), note),
        Action::Submit | Action::Accept | Action::Complete | Action::Forward | Action::Deliver => {
            String::new()
        }
    };
    with_detail(&format!("{zh} {}", a.kind()), &detail)
}

/// `会议 meeting: 党支部会议 party_branch 2026-11-02, 7/9 present, 6-1-0`.
pub fn agenda_action(a: &AgendaAction) -> String {
    match a {
        AgendaAction::Meeting(m) => with_detail(
            "会议 meeting",
            &format!(
                "{} {}, {}/{} present, for {} against {} abstain {}",
                body(m.body),
                m.held_on,
                m.present,
                m.entitled,
                m.votes_for,
                m.votes_against,
                m.abstentions
            ),
        ),
        AgendaAction::ResolutionNotice(n) => with_detail(
            "决议公开 resolution_notice",
            &format!("{} to {}, {}", n.posted_on, n.ends_on(), n.text),
        ),
        AgendaAction::ResultsNotice(n) => with_detail(
            "结果公开 results_notice",
            &format!("{} to {}, {}", n.posted_on, n.ends_on(), n.text),
        ),
        AgendaAction::Objection(o) => with_detail(
            "异议 objection",
            &join_note(&format!("{}: {}", o.received_on, o.summary), &o.response),
        ),
        AgendaAction::TownshipReview { review, comment } => {
            let kind = match review {
                ReviewKind::Reviewed => "审核 reviewed",
                ReviewKind::Recorded => "备案 recorded",
                ReviewKind::Comment => "意见 comment",
            };
            with_detail(&format!("乡镇 township {kind}"), comment)
        }
        AgendaAction::Settle { keep, note } => {
            with_detail("裁定冲突 settle", &join_note(&format!("keep {keep}"), note))
        }
    }
}

/// `通过 passed`, or why not.
pub fn meeting_result(r: &MeetingResult) -> String {
    match r {
        MeetingResult::Passed => "通过 passed".into(),
        MeetingResult::NoQuorum(why) => format!("不足法定人数 no_quorum: {why}"),
        MeetingResult::NotAdopted(why) => format!("未通过 not_adopted: {why}"),
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
