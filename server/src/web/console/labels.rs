//! The console's words for the domain's values, in the page's language (the words themselves
//! are [`bianmin_domain::labels`], shared with the command line), and small formatting
//! helpers (times in China Standard Time, masked personal data, reference-data names).

use bianmin_domain::labels::{self as words, Label};
use bianmin_domain::{
    Action, AgendaAction, Body, MeetingResult, NationalId, Phone, Rating, ReviewKind, Role,
    ServiceItem, Stage, Status, Timestamp, Urgency,
};
use chrono::{DateTime, FixedOffset};

use crate::reference::Current;
use crate::web::i18n::{Lang, tr};

/// A domain label's words in `l`.
fn pick(l: Lang, label: Label) -> &'static str {
    tr(l, label.zh, label.en)
}

/// A status.
pub fn status(l: Lang, s: Status) -> &'static str {
    pick(l, words::status(s))
}

/// The name of a lifecycle action.
pub fn action(l: Lang, a: &Action) -> &'static str {
    pick(l, words::action(a))
}

/// What an action says besides its name (reason, note, materials), if anything; materials by
/// their names in `l` when the request's `item` gives them.
pub fn action_detail(l: Lang, a: &Action, item: Option<&ServiceItem>) -> String {
    let material = |m: &str| {
        item.map_or(m, |i| i.material_label(m, l == Lang::Zh))
            .to_string()
    };
    let join = |v: &[String]| {
        v.iter()
            .map(|m| material(m))
            .collect::<Vec<_>>()
            .join(tr(l, "、", ", "))
    };
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
        Action::WaiveMaterial {
            material: material_name,
            reason,
        } => {
            format!("{}{}{reason}", material(material_name), tr(l, "：", ": "))
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
    pick(l, words::rating(r))
}

/// A role.
pub fn role(l: Lang, r: Role) -> &'static str {
    pick(l, words::role(r))
}

/// An agenda stage, with its number.
pub fn stage(l: Lang, s: Stage) -> String {
    let name = pick(l, words::stage(s));
    if s == Stage::Done {
        name.to_string()
    } else {
        format!("{}/6 {name}", s.number())
    }
}

/// The body that held a meeting.
pub fn body(l: Lang, b: Body) -> &'static str {
    pick(l, words::body(b))
}

/// A meeting's result.
pub fn meeting_result(l: Lang, r: &MeetingResult) -> String {
    let name = pick(l, words::meeting_result(r));
    match r {
        MeetingResult::Passed => name.to_string(),
        MeetingResult::NoQuorum(why) | MeetingResult::NotAdopted(why) => {
            format!("{name}（{why}）")
        }
    }
}

/// A township review's kind.
pub fn review_kind(l: Lang, k: ReviewKind) -> &'static str {
    pick(l, words::review_kind(k))
}

/// The name of an agenda action.
pub fn agenda_action(l: Lang, a: &AgendaAction) -> &'static str {
    pick(l, words::agenda_action(a))
}

/// How urgent, as a short label and its CSS class (nothing for a request on track).
pub fn urgency(l: Lang, u: Urgency) -> Option<(&'static str, &'static str)> {
    let class = match u {
        Urgency::Overdue => "overdue",
        Urgency::DueSoon => "due-soon",
        Urgency::OnTrack | Urgency::None => return None,
    };
    words::urgency(u).map(|label| (pick(l, label), class))
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

impl Current {
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
