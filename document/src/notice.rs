//! Printable notices of a request, in Chinese or English: the acceptance receipt (受理回执), the
//! notice of materials to supply (补正告知书: every missing material at once, and that the clock
//! stops) and the decision notice (准予批准决定书 / 不予批准决定书, with the reason), each an A4
//! sheet of HTML with its print style sheet ([`STYLESHEET`]) and a QR code of the residents'
//! look-up address for that receipt number, or plain text.
//!
//! One implementation for both sides: the hub's console prints all three (the server's
//! `web/console/print.rs` wraps [`Notice::sheet`] in its page) and the clerk's command line
//! prints the receipt from the tablet's own store, offline (`bianmin request receipt`:
//! [`Notice::html_document`] or [`Notice::text`]). It is plain string building, every value
//! escaped here, so that the tablet side needs no template engine.
//!
//! What a notice says is decided once, by [`Notice::build`], from the request and the reference
//! data: the township from the village directory, the item's name and committed time limit from
//! the catalog, the dates from the events' device times (China Standard Time), the deadline
//! from the working-day clock. The paper leaves the office: the applicant's name and ID number
//! are masked (`王*英`, `110105********002X`), never whole, and ID, mobile and bank-card numbers
//! typed into a reason or note are starred.
//!
//! Enabled by the crate's `notice` feature (the hub and the command line; the tablet library
//! goes without).

mod qr;

use std::fmt::Write as _;

use bianmin_domain::{Action, Clock, NationalId, Role, Status, mask_name, mask_personal_numbers};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::Reference;
use crate::model::{HistoryEntry, RequestDetail};

/// The print style sheet of every notice: an A4 page (`@page`), the sheet on screen, and in
/// print only the sheet (toolbars and the hub's top bar left out).
pub const STYLESHEET: &str = include_str!("notice/notice.css");

/// A notice's language.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lang {
    /// 中文 (the default).
    #[default]
    Zh,
    /// English.
    En,
}

impl Lang {
    /// The code of `<html lang>`.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }
}

fn tr<'a>(l: Lang, zh: &'a str, en: &'a str) -> &'a str {
    match l {
        Lang::Zh => zh,
        Lang::En => en,
    }
}

/// Which notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    /// The acceptance receipt (受理回执).
    Receipt,
    /// The notice of materials to supply (补正告知书).
    Supplement,
    /// The decision notice (准予批准决定书 or 不予批准决定书).
    Decision,
}

impl NoticeKind {
    /// Every kind, in the order a request meets them.
    pub const ALL: [NoticeKind; 3] = [
        NoticeKind::Receipt,
        NoticeKind::Supplement,
        NoticeKind::Decision,
    ];

    /// Its name in addresses: `receipt`, `supplement`, `decision`.
    pub fn slug(self) -> &'static str {
        match self {
            NoticeKind::Receipt => "receipt",
            NoticeKind::Supplement => "supplement",
            NoticeKind::Decision => "decision",
        }
    }

    /// The kind named `slug` in an address.
    pub fn from_slug(slug: &str) -> Option<NoticeKind> {
        NoticeKind::ALL.into_iter().find(|k| k.slug() == slug)
    }

    /// What people call it (the decision notice without saying which).
    pub fn label(self, l: Lang) -> &'static str {
        match self {
            NoticeKind::Receipt => tr(l, "受理回执", "Acceptance receipt"),
            NoticeKind::Supplement => tr(l, "补正告知书", "Notice of materials to supply"),
            NoticeKind::Decision => tr(l, "决定书", "Decision notice"),
        }
    }
}

/// Why a notice cannot be printed for a request as it stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotPrintable {
    /// It has not been accepted (or was refused): no receipt, nothing to notify.
    NotAccepted,
    /// It was never returned for supplement.
    NeverReturned,
    /// No decision (approval or rejection) has been made on it.
    NotDecided,
    /// Decisions made offline on two sides wait for someone to settle them.
    InConflict,
}

impl NotPrintable {
    /// The reason, for people.
    pub fn message(self, l: Lang) -> &'static str {
        match self {
            NotPrintable::NotAccepted => tr(
                l,
                "这件申请尚未受理，没有受理回执或告知书可打印。",
                "This request has not been accepted: there is no receipt or notice to print.",
            ),
            NotPrintable::NeverReturned => tr(
                l,
                "这件申请没有退回补正过，没有补正告知书。",
                "This request was never returned for supplement: there is no such notice.",
            ),
            NotPrintable::NotDecided => tr(
                l,
                "这件申请还没有审核决定，没有决定书。",
                "No decision has been made on this request yet: there is no decision notice.",
            ),
            NotPrintable::InConflict => tr(
                l,
                "这件申请有离线时作出的不同决定，处理冲突后才能打印决定书。",
                "Different decisions were made offline on this request: settle the conflict \
                 before printing a decision notice.",
            ),
        }
    }
}

impl std::fmt::Display for NotPrintable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message(Lang::En))
    }
}

impl std::error::Error for NotPrintable {}

/// The deadline as a notice states it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Deadline {
    /// Running: to be decided by `due`.
    Due {
        /// The last working day within the committed time limit.
        due: NaiveDate,
    },
    /// Stopped while the materials are awaited.
    Paused {
        /// The day it was returned.
        since: NaiveDate,
        /// Working days left once the materials are in.
        remaining: u32,
    },
    /// Ended by a decision or closure.
    Ended {
        /// The deadline as it stood.
        due: NaiveDate,
        /// The day it ended.
        ended_on: NaiveDate,
    },
}

/// Who returned a request for supplement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReturnedBy {
    /// The township's reviewer.
    Township,
    /// The village service point's clerk.
    Village,
}

/// What one kind of notice adds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Particulars {
    /// The acceptance receipt.
    Receipt,
    /// The notice of materials to supply: the latest return for supplement.
    Supplement {
        /// The day it was returned (device time, China Standard Time).
        returned_on: NaiveDate,
        /// Who returned it.
        by: ReturnedBy,
        /// Every material asked for, all at once.
        missing: Vec<String>,
        /// The reviewer's or clerk's note, personal numbers starred.
        note: String,
    },
    /// The decision notice.
    Decision {
        /// Approved (准予批准) or not (不予批准).
        approved: bool,
        /// The day of the decision (device time, China Standard Time).
        decided_on: NaiveDate,
        /// The reason of a rejection, or the note of an approval; personal numbers starred.
        text: String,
    },
}

/// One notice, ready to print: every value as the paper shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notice {
    /// The language it is written in.
    pub lang: Lang,
    /// The township's name (its code when the directory does not know the village).
    pub township: String,
    /// The village's name (its code when unknown).
    pub village: String,
    /// The receipt number (受理回执号).
    pub receipt_no: String,
    /// The service item's code.
    pub item_code: String,
    /// The service item's name (its code when the catalog does not know it).
    pub item_name: String,
    /// The applicant's name, masked.
    pub applicant_name: String,
    /// The applicant's ID number, masked.
    pub applicant_id: String,
    /// The day it was filed.
    pub filed_on: NaiveDate,
    /// The day it was accepted.
    pub accepted_on: NaiveDate,
    /// The committed time limit in working days (as the item had it when the request was
    /// filed).
    pub time_limit_days: u32,
    /// The deadline on the working-day clock.
    pub deadline: Deadline,
    /// The materials in hand.
    pub materials_received: Vec<String>,
    /// The materials accepted without (容缺), to be handed in later.
    pub materials_waived: Vec<String>,
    /// The residents' look-up address of this receipt number (the QR code), when known.
    pub lookup_url: Option<String>,
    /// The day it is printed.
    pub printed_on: NaiveDate,
    /// What its kind adds.
    pub particulars: Particulars,
}

/// The base address residents reach the hub at, made canonical (no trailing `/`), or `None` if
/// `url` is not a plain `http://` or `https://` address (no query, fragment, quote, space or
/// angle bracket: it is printed and put in a QR code).
pub fn lookup_base(url: &str) -> Option<String> {
    let url = url.trim().trim_end_matches('/');
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let host = rest.split('/').next().unwrap_or_default();
    let plain = |c: char| c.is_ascii_graphic() && !"?#\"'<>\\`{}|^".contains(c);
    (!host.is_empty() && !host.starts_with('@') && rest.chars().all(plain)).then(|| url.to_string())
}

/// The residents' look-up page with `receipt_no` filled in: `{base}/lookup?receipt_no=…`.
pub fn lookup_url(base: &str, receipt_no: &str) -> String {
    let mut encoded = String::with_capacity(receipt_no.len());
    for b in receipt_no.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            encoded.push(b as char);
        } else {
            let _ = write!(encoded, "%{b:02X}");
        }
    }
    format!("{}/lookup?receipt_no={encoded}", base.trim_end_matches('/'))
}

/// The notices that can be printed for the request as it stands.
pub fn available(d: &RequestDetail) -> Vec<NoticeKind> {
    NoticeKind::ALL
        .into_iter()
        .filter(|&k| particulars(k, d).is_ok())
        .collect()
}

/// The events the replay applied, latest first.
fn applied(d: &RequestDetail) -> impl Iterator<Item = &HistoryEntry> {
    d.history.iter().rev().filter(|h| h.invalid.is_none())
}

fn accepted_on(d: &RequestDetail) -> Option<NaiveDate> {
    d.history
        .iter()
        .filter(|h| h.invalid.is_none())
        .find(|h| matches!(h.action, Action::Accept))
        .map(|h| h.by.at.china_date())
}

fn particulars(kind: NoticeKind, d: &RequestDetail) -> Result<Particulars, NotPrintable> {
    if accepted_on(d).is_none() || matches!(d.clock, Clock::NotStarted) {
        return Err(NotPrintable::NotAccepted);
    }
    match kind {
        NoticeKind::Receipt => Ok(Particulars::Receipt),
        NoticeKind::Supplement => applied(d)
            .find_map(|h| match &h.action {
                Action::ReturnForSupplement { missing, note } => Some(Particulars::Supplement {
                    returned_on: h.by.at.china_date(),
                    by: match h.by.role {
                        Role::Reviewer | Role::Administrator => ReturnedBy::Township,
                        Role::Clerk | Role::Resident => ReturnedBy::Village,
                    },
                    missing: missing.clone(),
                    note: mask_personal_numbers(note.trim()),
                }),
                _ => None,
            })
            .ok_or(NotPrintable::NeverReturned),
        NoticeKind::Decision => {
            if d.conflict.is_some() {
                return Err(NotPrintable::InConflict);
            }
            // Delivered after the approval, a request is completed; a village item completed at
            // the village has no approval, so no decision notice.
            let approved = match d.status {
                Status::Approved | Status::Completed => true,
                Status::Rejected => false,
                _ => return Err(NotPrintable::NotDecided),
            };
            applied(d)
                .find_map(|h| match &h.action {
                    Action::Approve { note } if approved => Some((h, note)),
                    Action::Reject { reason } if !approved => Some((h, reason)),
                    _ => None,
                })
                .map(|(h, text)| Particulars::Decision {
                    approved,
                    decided_on: h.by.at.china_date(),
                    text: mask_personal_numbers(text.trim()),
                })
                .ok_or(NotPrintable::NotDecided)
        }
    }
}

impl Notice {
    /// The notice of `kind` for request `d`, in `lang`, printed on `printed_on`; with the QR
    /// code of the look-up page under `lookup_base` (see [`lookup_base`]) when one is given.
    /// Refused when the request has nothing of that kind to notify ([`NotPrintable`]).
    pub fn build(
        kind: NoticeKind,
        d: &RequestDetail,
        reference: &Reference,
        lang: Lang,
        lookup_base: Option<&str>,
        printed_on: NaiveDate,
    ) -> Result<Notice, NotPrintable> {
        let mut particulars = particulars(kind, d)?;
        let accepted_on = accepted_on(d).ok_or(NotPrintable::NotAccepted)?;
        let deadline = match d.clock {
            Clock::NotStarted => return Err(NotPrintable::NotAccepted),
            Clock::Running { due } => Deadline::Due { due },
            Clock::Paused { remaining, since } => Deadline::Paused { since, remaining },
            Clock::Stopped { due, ended_on } => Deadline::Ended { due, ended_on },
        };
        let directory = &reference.directory;
        let township = directory
            .townships
            .iter()
            .find(|t| t.villages.iter().any(|v| v.code == d.village));
        let township = match township {
            Some(t) => tr(lang, &t.name_zh, &t.name_en).to_string(),
            None => bianmin_domain::township_of(&d.village)
                .unwrap_or(&d.village)
                .to_string(),
        };
        let village = match directory.village(&d.village) {
            Some(v) => tr(lang, &v.name_zh, &v.name_en).to_string(),
            None => d.village.clone(),
        };
        let item = reference.catalog.item(&d.item_code);
        let item_name = match item {
            Some(i) => tr(lang, &i.name_zh, &i.name_en).to_string(),
            None => d.item_code.clone(),
        };
        // Materials by their names in the notice's language, when the catalog gives them.
        let material = |m: &String| {
            item.map_or(m.as_str(), |i| i.material_label(m, lang == Lang::Zh))
                .to_string()
        };
        if let Particulars::Supplement { missing, .. } = &mut particulars {
            *missing = missing.iter().map(material).collect();
        }
        let applicant_id = NationalId::parse(&d.applicant.id_number)
            .map(|id| id.masked())
            .unwrap_or_else(|_| "*".repeat(18));
        Ok(Notice {
            lang,
            township,
            village,
            receipt_no: d.receipt_no.as_str().to_string(),
            item_code: d.item_code.clone(),
            item_name,
            applicant_name: mask_name(&d.applicant.name),
            applicant_id,
            filed_on: d.created.at.china_date(),
            accepted_on,
            time_limit_days: d.time_limit_days,
            deadline,
            materials_received: d.materials_received.iter().map(material).collect(),
            materials_waived: d
                .waived_materials
                .iter()
                .map(|(m, _)| material(m))
                .collect(),
            lookup_url: lookup_base.map(|base| lookup_url(base, d.receipt_no.as_str())),
            printed_on,
            particulars,
        })
    }

    /// Which notice it is.
    pub fn kind(&self) -> NoticeKind {
        match self.particulars {
            Particulars::Receipt => NoticeKind::Receipt,
            Particulars::Supplement { .. } => NoticeKind::Supplement,
            Particulars::Decision { .. } => NoticeKind::Decision,
        }
    }

    /// Its title: 受理回执, 补正告知书, 准予批准决定书 or 不予批准决定书.
    pub fn title(&self) -> &'static str {
        let l = self.lang;
        match self.particulars {
            Particulars::Receipt => tr(l, "受理回执", "Acceptance receipt"),
            Particulars::Supplement { .. } => tr(l, "补正告知书", "Notice of materials to supply"),
            Particulars::Decision { approved: true, .. } => {
                tr(l, "准予批准决定书", "Decision notice: approved")
            }
            Particulars::Decision {
                approved: false, ..
            } => tr(l, "不予批准决定书", "Decision notice: not approved"),
        }
    }

    /// Who issues it: the township's convenience service center.
    pub fn issuer(&self) -> String {
        match self.lang {
            Lang::Zh => format!("{}便民服务中心", self.township),
            Lang::En => format!("{} Convenience Service Center", self.township),
        }
    }

    fn service_point(&self) -> String {
        match self.lang {
            Lang::Zh => format!("{}便民服务站", self.village),
            Lang::En => format!("{} service point", self.village),
        }
    }

    fn list(&self, items: &[String]) -> String {
        items.join(tr(self.lang, "、", ", "))
    }

    /// The paragraphs of its text, in order (plain text, not escaped).
    fn paragraphs(&self) -> Vec<Paragraph> {
        let l = self.lang;
        let (name, item, no) = (&self.applicant_name, &self.item_name, &self.receipt_no);
        let mut out = Vec::new();
        match &self.particulars {
            Particulars::Receipt => {
                out.push(Paragraph::Lead(match l {
                    Lang::Zh => format!(
                        "您申请的“{item}”已于 {} 受理。承诺时限按工作日计算，法定节假日不计，\
                         补正材料期间不计入。请妥善保管本回执，凭受理回执号和申请人身份证号码\
                         后四位查询办理进度。",
                        self.accepted_on
                    ),
                    Lang::En => format!(
                        "Your application for “{item}” was accepted on {}. The committed time \
                         limit counts working days (public holidays excluded; time spent \
                         waiting for materials does not count). Keep this receipt: with its \
                         receipt number and the last four characters of the applicant's ID \
                         number you can check the progress.",
                        self.accepted_on
                    ),
                }));
            }
            Particulars::Supplement {
                returned_on,
                by,
                missing,
                note,
            } => {
                out.push(Paragraph::Salutation(format!("{name}{}", tr(l, "：", ":"))));
                out.push(Paragraph::Lead(match l {
                    Lang::Zh => format!(
                        "您申请的“{item}”（受理回执号：{no}），经审查，申请材料不齐全或者不符合\
                         要求。现一次性告知，请补正以下全部材料："
                    ),
                    Lang::En => format!(
                        "Your application for “{item}” (receipt no. {no}) was examined and its \
                         materials are incomplete or not as required. Here is, all at once, \
                         every material to supply:"
                    ),
                }));
                out.push(Paragraph::Missing(missing.clone()));
                if !note.is_empty() {
                    let who = match by {
                        ReturnedBy::Township => tr(l, "乡镇审核意见：", "The township's note: "),
                        ReturnedBy::Village => {
                            tr(l, "便民服务站说明：", "The service point's note: ")
                        }
                    };
                    out.push(Paragraph::Reason(format!("{who}{note}")));
                }
                let left = match self.deadline {
                    Deadline::Paused { remaining, .. } => match l {
                        Lang::Zh => format!("，剩余 {remaining} 个工作日"),
                        Lang::En => format!(", with {remaining} working days left"),
                    },
                    _ => String::new(),
                };
                out.push(Paragraph::Clock(match l {
                    Lang::Zh => format!(
                        "补正期间不计入承诺办理时限：时限自 {returned_on} 退回之日起暂停计算，\
                         材料补齐后继续计算{left}。"
                    ),
                    Lang::En => format!(
                        "The time spent supplying materials does not count: the committed time \
                         limit stopped on {returned_on}, the day it was returned, and runs on \
                         once the materials are in{left}."
                    ),
                }));
                out.push(Paragraph::Plain(match l {
                    Lang::Zh => format!("请将上述材料交到{}。", self.service_point()),
                    Lang::En => {
                        format!(
                            "Please bring these materials to the {}.",
                            self.service_point()
                        )
                    }
                }));
            }
            Particulars::Decision {
                approved,
                decided_on,
                text,
            } => {
                out.push(Paragraph::Salutation(format!("{name}{}", tr(l, "：", ":"))));
                let accepted = self.accepted_on;
                out.push(Paragraph::Lead(match (l, approved) {
                    (Lang::Zh, true) => format!(
                        "您于 {accepted} 提出的“{item}”申请（受理回执号：{no}），经审核，符合\
                         规定，于 {decided_on} 决定准予批准。"
                    ),
                    (Lang::Zh, false) => format!(
                        "您于 {accepted} 提出的“{item}”申请（受理回执号：{no}），经审核，于 \
                         {decided_on} 决定不予批准。"
                    ),
                    (Lang::En, true) => format!(
                        "Your application for “{item}” (receipt no. {no}), accepted on \
                         {accepted}, was examined and on {decided_on} it was decided to approve \
                         it."
                    ),
                    (Lang::En, false) => format!(
                        "Your application for “{item}” (receipt no. {no}), accepted on \
                         {accepted}, was examined and on {decided_on} it was decided not to \
                         approve it."
                    ),
                }));
                if *approved {
                    if !text.is_empty() {
                        out.push(Paragraph::Reason(format!(
                            "{}{text}",
                            tr(l, "审核意见：", "Note: ")
                        )));
                    }
                    out.push(Paragraph::Plain(match l {
                        Lang::Zh => format!("办理结果由{}送达。", self.service_point()),
                        Lang::En => format!(
                            "The result will be delivered to you by the {}.",
                            self.service_point()
                        ),
                    }));
                } else {
                    out.push(Paragraph::Reason(format!(
                        "{}{text}",
                        tr(l, "理由：", "Reason: ")
                    )));
                    out.push(Paragraph::Plain(
                        tr(
                            l,
                            "如对本决定不服，可以自收到本决定书之日起六十日内依法申请行政复议，\
                             或者六个月内依法向人民法院提起行政诉讼。",
                            "If you disagree with this decision, you may apply for \
                             administrative reconsideration within sixty days of receiving this \
                             notice, or bring an administrative lawsuit before the people's \
                             court within six months, as the law provides.",
                        )
                        .to_string(),
                    ));
                }
            }
        }
        out
    }

    /// The facts table: label and value (plain text, not escaped).
    fn facts(&self) -> Vec<(&'static str, String)> {
        let l = self.lang;
        let item = match l {
            Lang::Zh => format!("{}（{}）", self.item_name, self.item_code),
            Lang::En => format!("{} ({})", self.item_name, self.item_code),
        };
        let mut rows = vec![
            (tr(l, "服务事项", "Service item"), item),
            (tr(l, "申请人", "Applicant"), self.applicant_name.clone()),
            (tr(l, "身份证号", "ID number"), self.applicant_id.clone()),
            (tr(l, "受理地点", "Accepted at"), self.service_point()),
            (tr(l, "申请日期", "Filed on"), self.filed_on.to_string()),
            (
                tr(l, "受理日期", "Accepted on"),
                self.accepted_on.to_string(),
            ),
        ];
        let days = self.time_limit_days;
        rows.push((
            tr(l, "承诺时限", "Committed time limit"),
            match l {
                Lang::Zh => format!("{days} 个工作日"),
                Lang::En => format!("{days} working days"),
            },
        ));
        rows.push((
            tr(l, "办理期限", "Deadline"),
            match (l, self.deadline) {
                (Lang::Zh, Deadline::Due { due }) => format!("{due} 前办结"),
                (Lang::En, Deadline::Due { due }) => format!("to be decided by {due}"),
                (Lang::Zh, Deadline::Paused { since, remaining }) => format!(
                    "补正期间暂停计时（自 {since} 起），材料补齐后剩余 {remaining} 个工作日"
                ),
                (Lang::En, Deadline::Paused { since, remaining }) => format!(
                    "paused while materials are awaited (since {since}); {remaining} working \
                     days left once they are in"
                ),
                (Lang::Zh, Deadline::Ended { due, ended_on }) => {
                    format!("{due}（已于 {ended_on} 办结）")
                }
                (Lang::En, Deadline::Ended { due, ended_on }) => {
                    format!("{due} (ended on {ended_on})")
                }
            },
        ));
        match &self.particulars {
            Particulars::Receipt => {
                let received = match self.materials_received.is_empty() {
                    true => "—".to_string(),
                    false => self.list(&self.materials_received),
                };
                rows.push((tr(l, "已收材料", "Materials received"), received));
                if !self.materials_waived.is_empty() {
                    rows.push((
                        tr(
                            l,
                            "容缺受理（待补交）",
                            "Accepted without (to hand in later)",
                        ),
                        self.list(&self.materials_waived),
                    ));
                }
            }
            Particulars::Supplement { returned_on, .. } => {
                rows.push((tr(l, "退回日期", "Returned on"), returned_on.to_string()));
            }
            Particulars::Decision { decided_on, .. } => {
                rows.push((tr(l, "决定日期", "Decided on"), decided_on.to_string()));
            }
        }
        rows
    }

    fn qr_caption(&self) -> &'static str {
        tr(
            self.lang,
            "扫码查询办理进度（需输入身份证号码后四位）",
            "Scan to check the progress (with the last four characters of the ID number)",
        )
    }

    /// The sheet as HTML, `<article class="notice">…</article>`, every value escaped: what the
    /// hub puts in its print page and [`Notice::html_document`] in a file. Styled by
    /// [`STYLESHEET`].
    pub fn sheet(&self) -> String {
        let l = self.lang;
        let mut out = String::new();
        let _ = write!(
            out,
            "<article class=\"notice notice-{}\" lang=\"{}\">\
             <header class=\"notice-head\">\
             <p class=\"notice-issuer\">{}</p>\
             <h1 class=\"notice-title\">{}</h1>\
             <p class=\"notice-no\">{}<strong class=\"receipt-no\">{}</strong></p>\
             </header>",
            self.kind().slug(),
            l.code(),
            escape(&self.issuer()),
            escape(self.title()),
            tr(l, "受理回执号：", "Receipt no.: "),
            escape(&self.receipt_no),
        );
        out.push_str("<div class=\"notice-body\"><div class=\"notice-text\">");
        for p in self.paragraphs() {
            p.write_html(&mut out);
        }
        out.push_str("<table class=\"notice-facts\"><tbody>");
        for (label, value) in self.facts() {
            let _ = write!(
                out,
                "<tr><th scope=\"row\">{}</th><td>{}</td></tr>",
                escape(label),
                escape(&value)
            );
        }
        out.push_str("</tbody></table></div>");
        out.push_str(&self.qr_block());
        out.push_str("</div>");
        let _ = write!(
            out,
            "<footer class=\"notice-foot\"><p class=\"notice-printed\">{}{}</p>\
             <p class=\"notice-seal\">{}{}</p></footer></article>",
            tr(l, "打印日期：", "Printed on "),
            self.printed_on,
            escape(&self.issuer()),
            tr(l, "（盖章）", " (seal)"),
        );
        out
    }

    fn qr_block(&self) -> String {
        let l = self.lang;
        let code = self
            .lookup_url
            .as_deref()
            .and_then(|url| Some((url, qr::svg(url, self.qr_caption())?)));
        match code {
            Some((url, svg)) => format!(
                "<aside class=\"notice-qr\">{svg}<p>{}</p><p class=\"notice-url\">{}</p></aside>",
                escape(self.qr_caption()),
                escape(url),
            ),
            None => format!(
                "<aside class=\"notice-qr notice-qr-none\"><p>{}</p></aside>",
                tr(
                    l,
                    "本设备不知道乡镇平台的查询地址（尚未登记），未印二维码。可到便民服务站查询办理进度。",
                    "This device does not know the hub's look-up address (not enrolled): no \
                     QR code. The service point can tell the progress.",
                )
            ),
        }
    }

    /// A whole HTML file: the sheet with the style sheet inline, to open in a browser and print
    /// (what the clerk's command line writes).
    pub fn html_document(&self) -> String {
        format!(
            "<!DOCTYPE html>\n<html lang=\"{}\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>{} {}</title><style>\n{STYLESHEET}</style></head><body>\n{}\n</body></html>\n",
            self.lang.code(),
            escape(self.title()),
            escape(&self.receipt_no),
            self.sheet(),
        )
    }

    /// The notice as plain text, for a terminal or a receipt printer: the same words, the
    /// facts one a line, the look-up address written out instead of the QR code.
    pub fn text(&self) -> String {
        let l = self.lang;
        let mut out = String::new();
        let _ = writeln!(out, "{}", self.issuer());
        let _ = writeln!(out, "{}", self.title());
        let _ = writeln!(
            out,
            "{}{}",
            tr(l, "受理回执号：", "Receipt no.: "),
            self.receipt_no
        );
        out.push('\n');
        for p in self.paragraphs() {
            match p {
                Paragraph::Missing(items) => {
                    for (i, m) in items.iter().enumerate() {
                        let _ = writeln!(out, "  {}. {m}", i + 1);
                    }
                }
                Paragraph::Salutation(t)
                | Paragraph::Lead(t)
                | Paragraph::Reason(t)
                | Paragraph::Clock(t)
                | Paragraph::Plain(t) => {
                    let _ = writeln!(out, "{t}");
                }
            }
        }
        out.push('\n');
        for (label, value) in self.facts() {
            let _ = writeln!(out, "{label}{}{value}", tr(l, "：", ": "));
        }
        out.push('\n');
        match &self.lookup_url {
            Some(url) => {
                let _ = writeln!(out, "{}{}{url}", self.qr_caption(), tr(l, "：", ": "));
            }
            None => {
                let _ = writeln!(
                    out,
                    "{}",
                    tr(
                        l,
                        "（本设备尚未登记到乡镇平台，不知道查询地址。）",
                        "(This device is not enrolled with a hub: no look-up address.)"
                    )
                );
            }
        }
        let _ = writeln!(
            out,
            "{}{}",
            tr(l, "打印日期：", "Printed on "),
            self.printed_on
        );
        out
    }
}

/// A paragraph of a notice's text.
enum Paragraph {
    /// To whom (`王*英：`).
    Salutation(String),
    /// The opening sentence.
    Lead(String),
    /// The materials to supply, numbered.
    Missing(Vec<String>),
    /// A reason or note, set apart.
    Reason(String),
    /// What happens to the clock.
    Clock(String),
    /// Anything else.
    Plain(String),
}

impl Paragraph {
    fn write_html(&self, out: &mut String) {
        let (class, text) = match self {
            Paragraph::Missing(items) => {
                out.push_str("<ol class=\"missing\">");
                for m in items {
                    let _ = write!(out, "<li>{}</li>", escape(m));
                }
                out.push_str("</ol>");
                return;
            }
            Paragraph::Salutation(t) => ("salutation", t),
            Paragraph::Lead(t) => ("lead", t),
            Paragraph::Reason(t) => ("reason", t),
            Paragraph::Clock(t) => ("clock", t),
            Paragraph::Plain(t) => ("plain", t),
        };
        let _ = write!(out, "<p class=\"{class}\">{}</p>", escape(text));
    }
}

/// `text` safe between HTML tags and inside a quoted attribute.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests;
