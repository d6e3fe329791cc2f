//! The typed views of documents (pages, list rows, list queries) and the inputs of authoring,
//! shared by the tablet's store and the hub's console. No Automerge type appears here.

use bianmin_domain::{
    Action, AgendaAction, AttrValue, Clock, EventId, MeetingResult, Outcome, Rating, ReceiptNo,
    Stage, Stamp, Status, Timestamp, Urgency,
};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

pub use crate::layout::request::{Comment, EditRecord};

/// What a clerk (or resident) types to file a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewRequest {
    /// The service item's code.
    pub item_code: String,
    /// The applicant's name.
    pub applicant_name: String,
    /// The applicant's national ID number.
    pub id_number: String,
    /// The applicant's phone number.
    pub phone: String,
    /// The grid the applicant lives in (one of the village's grids).
    pub grid: String,
    /// The form's attribute values.
    #[serde(default)]
    pub attributes: BTreeMap<String, AttrValue>,
    /// The materials received at filing.
    #[serde(default)]
    pub materials_received: Vec<String>,
    /// The registered resident the request belongs to, if any (a resident's own device sets
    /// this to the resident).
    #[serde(default)]
    pub resident_user: Option<String>,
    /// Submit at once (the usual case at the service point); `false` keeps a draft.
    #[serde(default = "yes")]
    pub submit: bool,
}

fn yes() -> bool {
    true
}

/// A change to one editable part of a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "field", content = "value", rename_all = "snake_case")]
pub enum FieldEdit {
    /// The applicant's name.
    ApplicantName(String),
    /// The applicant's ID number.
    IdNumber(String),
    /// The applicant's phone number.
    Phone(String),
    /// The grid.
    Grid(String),
    /// Set (or, with `None`, clear) an attribute.
    Attribute {
        /// The attribute's code.
        code: String,
        /// Its new value.
        value: Option<AttrValue>,
    },
    /// Mark a material received or not.
    Material {
        /// The material, as the service item lists it.
        name: String,
        /// Whether it is now in hand.
        received: bool,
    },
}

/// The applicant, in full: shown only on a request's own page to someone who may read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applicant {
    /// Name.
    pub name: String,
    /// National ID number.
    pub id_number: String,
    /// Phone number.
    pub phone: String,
}

/// One entry of a request's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// The event's identifier.
    pub id: EventId,
    /// What happened.
    pub action: Action,
    /// Who, on which device, when (device clock).
    pub by: Stamp,
    /// `None` if it applied; otherwise why the replay ignored it.
    pub invalid: Option<String>,
}

/// A conflict between concurrent decisions, as shown to a person who must settle it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConflictView {
    /// Each branch: its latest event and the status it leads to.
    pub branches: Vec<(EventId, Status)>,
}

/// A request with everything its page shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestDetail {
    /// Its identifier.
    pub id: Uuid,
    /// Its receipt number.
    pub receipt_no: ReceiptNo,
    /// The service item.
    pub item_code: String,
    /// The village.
    pub village: String,
    /// The grid.
    pub grid: String,
    /// The registered resident it belongs to.
    pub resident_user: Option<String>,
    /// The applicant.
    pub applicant: Applicant,
    /// The form's values.
    pub attributes: BTreeMap<String, AttrValue>,
    /// The materials in hand.
    pub materials_received: BTreeSet<String>,
    /// The current status (derived).
    pub status: Status,
    /// Concurrent decisions waiting to be settled.
    pub conflict: Option<ConflictView>,
    /// Fields edited concurrently on two devices: one value was kept, check it.
    pub field_conflicts: Vec<String>,
    /// The working-day clock.
    pub clock: Clock,
    /// The committed time limit in working days, as the item had it when the request was
    /// filed (what the clock counts; a later catalog does not change it).
    #[serde(default)]
    pub time_limit_days: u32,
    /// How urgent it is today.
    pub urgency: Urgency,
    /// The materials asked for while it is returned.
    pub missing_materials: Vec<String>,
    /// The item's required materials neither in hand (received, or handed in at a supplement)
    /// nor waived: while any is left, the request cannot be accepted or approved.
    pub outstanding_materials: Vec<String>,
    /// The materials waived (容缺), with the reason, in log order.
    pub waived_materials: Vec<(String, String)>,
    /// The latest rating.
    pub rating: Option<Rating>,
    /// Whether a dissatisfied rating asks for a follow-up.
    pub follow_up: bool,
    /// The lifecycle events, in log order.
    pub history: Vec<HistoryEntry>,
    /// Comments.
    pub comments: Vec<Comment>,
    /// Who edited which field.
    pub edits: Vec<EditRecord>,
    /// References to photos and scans of materials (the bytes: `Store::attachments`).
    pub attachments: Vec<bianmin_domain::AttachmentRef>,
    /// Who filed it.
    pub created: Stamp,
    /// The latest device time recorded in it.
    pub updated_at: Timestamp,
}

/// A request as a list shows it: masked, from the projection, without loading the document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestRow {
    /// Its identifier.
    pub id: Uuid,
    /// Its receipt number.
    pub receipt_no: String,
    /// The service item.
    pub item_code: String,
    /// The village.
    pub village: String,
    /// The grid.
    pub grid: String,
    /// The applicant's name, masked (`张*丰`).
    pub applicant_masked: String,
    /// The status.
    pub status: Status,
    /// Whether it waits for someone to settle a conflict.
    pub conflict: bool,
    /// `not_started`, `running`, `paused` or `stopped`.
    pub clock: String,
    /// The deadline, when one runs (or, once the clock stopped, as it stood then).
    pub due: Option<NaiveDate>,
    /// The day the clock stopped (China Standard Time): the decision, the completion at the
    /// village, or a withdrawal after acceptance; `None` while it has not.
    #[serde(default)]
    pub decided_on: Option<NaiveDate>,
    /// When it was filed (device clock).
    pub filed_at: Timestamp,
    /// The latest device time recorded in it.
    pub updated_at: Timestamp,
}

/// Whether a request with this receipt number was filed by the resident themselves, on the
/// hub (the hub's own receipt series, [`bianmin_domain::HUB_SERIES_DEVICE`]): what lists and
/// pages mark "自助 self-filed". One answer from the document's receipt number, which is fixed
/// at filing and which the check lets no one but a resident's own filing carry, so every
/// replica (the tablet's projection, the hub's index) shows the same without a column of its
/// own.
pub fn self_filed(receipt_no: &str) -> bool {
    ReceiptNo::parse(receipt_no).is_ok_and(|r| r.is_hub_series())
}

impl RequestRow {
    /// Whether the resident filed it themselves on the hub ([`self_filed`]).
    pub fn self_filed(&self) -> bool {
        self_filed(&self.receipt_no)
    }
}

impl RequestDetail {
    /// Whether the resident filed it themselves on the hub ([`self_filed`]).
    pub fn self_filed(&self) -> bool {
        self.receipt_no.is_hub_series()
    }
}

/// How urgent requests must be to be listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UrgencyFilter {
    /// Past their deadline.
    Overdue,
    /// Due within two working days (not yet overdue).
    DueSoon,
    /// Overdue or due soon.
    OverdueOrDueSoon,
}

/// Which requests a list shows. Empty fields do not filter. Its `Debug` shows the name searched
/// for masked, like every name outside a request's own page.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestFilter {
    /// Only this status.
    pub status: Option<Status>,
    /// Only this service item.
    pub item_code: Option<String>,
    /// Only this grid.
    pub grid: Option<String>,
    /// Only this village (for stores that hold several).
    pub village: Option<String>,
    /// Only requests in conflict (`Some(true)`) or not in conflict (`Some(false)`).
    pub conflict: Option<bool>,
    /// Only requests this urgent today.
    pub urgency: Option<UrgencyFilter>,
    /// Only receipt numbers starting with this.
    pub receipt_prefix: Option<String>,
    /// Only receipt numbers containing this text (whole or part; see [`contains_pattern`]).
    /// Full-width digits and dashes, as a Chinese input method types them, count as ASCII.
    #[serde(default)]
    pub receipt_contains: Option<String>,
    /// Only applicants whose name, as stored, contains this text (whole or part; see
    /// [`contains_pattern`]). The name is personal data: lists still show it masked, and the
    /// text is never logged.
    #[serde(default)]
    pub applicant_contains: Option<String>,
    /// Only requests filed on or after this day (China Standard Time, the day of the device
    /// time of filing).
    #[serde(default)]
    pub filed_from: Option<NaiveDate>,
    /// Only requests filed on or before this day (China Standard Time), inclusive.
    #[serde(default)]
    pub filed_to: Option<NaiveDate>,
}

impl std::fmt::Debug for RequestFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestFilter")
            .field("status", &self.status)
            .field("item_code", &self.item_code)
            .field("grid", &self.grid)
            .field("village", &self.village)
            .field("conflict", &self.conflict)
            .field("urgency", &self.urgency)
            .field("receipt_prefix", &self.receipt_prefix)
            .field("receipt_contains", &self.receipt_contains)
            .field(
                "applicant_contains",
                &self
                    .applicant_contains
                    .as_deref()
                    .map(bianmin_domain::mask_name),
            )
            .field("filed_from", &self.filed_from)
            .field("filed_to", &self.filed_to)
            .finish()
    }
}

/// The longest search text taken into account: what is typed beyond it is ignored.
pub const MAX_SEARCH_CHARS: usize = 100;

/// A `LIKE` pattern matching the values that contain `text` as typed (trimmed; at most
/// [`MAX_SEARCH_CHARS`] characters): `%`, `_` and the escape character `\` in it match
/// themselves (use the pattern with `ESCAPE '\'`). ASCII letters are lower-cased, as SQLite's
/// `LIKE` folds them (and only them): a PostgreSQL query folds the column the same way, so that
/// both backends and the tablet match the same rows. `None` for an empty text (no filter).
pub fn contains_pattern(text: &str) -> Option<String> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars().take(MAX_SEARCH_CHARS) {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c.to_ascii_lowercase());
    }
    pattern.push('%');
    Some(pattern)
}

/// Full-width ASCII (U+FF01 to U+FF5E, as a Chinese input method types digits and dashes) as
/// ASCII, and the ideographic space as a space; everything else unchanged.
fn half_width(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            '\u{3000}' => ' ',
            c => c,
        })
        .collect()
}

/// The first millisecond (Unix epoch) of a day in China Standard Time.
fn day_start_ms(day: NaiveDate) -> i64 {
    // Within i64 for every date: chrono's whole range is about 2^53 milliseconds.
    day.and_time(chrono::NaiveTime::MIN)
        .and_utc()
        .timestamp_millis()
        .saturating_sub(8 * 3_600_000)
}

impl RequestFilter {
    /// The `LIKE` pattern of [`RequestFilter::receipt_contains`] ([`contains_pattern`]).
    pub fn receipt_pattern(&self) -> Option<String> {
        contains_pattern(&half_width(self.receipt_contains.as_deref()?))
    }

    /// The `LIKE` pattern of [`RequestFilter::applicant_contains`] ([`contains_pattern`]).
    pub fn applicant_pattern(&self) -> Option<String> {
        contains_pattern(self.applicant_contains.as_deref()?)
    }

    /// The filing times the date range admits, in milliseconds since the Unix epoch: from the
    /// first millisecond of `filed_from` (inclusive) to the first of the day after `filed_to`
    /// (exclusive), each `None` when unbounded.
    pub fn filed_bounds(&self) -> (Option<i64>, Option<i64>) {
        (
            self.filed_from.map(day_start_ms),
            self.filed_to.and_then(|d| d.succ_opt()).map(day_start_ms),
        )
    }
}

/// The order of a list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestSort {
    /// Nearest deadline first; requests without a running deadline last.
    #[default]
    Deadline,
    /// Most recently changed first.
    RecentlyUpdated,
    /// Most recently filed first.
    RecentlyFiled,
    /// By receipt number.
    ReceiptNo,
}

/// Which slice of a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page {
    /// Rows to skip.
    pub offset: u32,
    /// Rows to return (1 to [`Page::MAX_LIMIT`]).
    pub limit: u32,
}

impl Page {
    /// The largest page.
    pub const MAX_LIMIT: u32 = 500;

    /// The first `limit` rows.
    pub fn first(limit: u32) -> Self {
        Page { offset: 0, limit }
    }
}

impl Default for Page {
    fn default() -> Self {
        Page::first(50)
    }
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listing<T> {
    /// The rows.
    pub rows: Vec<T>,
    /// Whether more rows follow.
    pub has_more: bool,
}

/// What a clerk types to open an agenda item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewAgendaItem {
    /// A short title.
    pub title: String,
    /// The kind of matter (collective assets, land contracting, homestead, compensation...).
    pub category: String,
    /// What is proposed.
    pub description: String,
}

/// A change to an agenda item's text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "field", content = "value", rename_all = "snake_case")]
pub enum AgendaEdit {
    /// The title.
    Title(String),
    /// The category.
    Category(String),
    /// The description.
    Description(String),
}

/// One entry of an agenda item's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgendaHistoryEntry {
    /// The event's identifier.
    pub id: EventId,
    /// What happened.
    pub action: AgendaAction,
    /// Who, where, when.
    pub by: Stamp,
    /// For a meeting: what it achieved.
    pub meeting_result: Option<MeetingResult>,
    /// `None` if it applied; otherwise why the replay ignored it.
    pub invalid: Option<String>,
}

/// An agenda item with everything its page shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgendaDetail {
    /// Its identifier.
    pub id: Uuid,
    /// The village.
    pub village: String,
    /// Title.
    pub title: String,
    /// Category.
    pub category: String,
    /// Description.
    pub description: String,
    /// The stage awaiting completion (derived).
    pub stage: Stage,
    /// Concurrent records waiting to be settled.
    pub conflict: Option<Vec<EventId>>,
    /// Fields edited concurrently on two devices.
    pub field_conflicts: Vec<String>,
    /// Every event, in log order.
    pub history: Vec<AgendaHistoryEntry>,
    /// Comments.
    pub comments: Vec<Comment>,
    /// Who opened it.
    pub created: Stamp,
    /// The latest device time recorded in it.
    pub updated_at: Timestamp,
}

/// An agenda item as a list shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgendaRow {
    /// Its identifier.
    pub id: Uuid,
    /// The village.
    pub village: String,
    /// Title.
    pub title: String,
    /// Category.
    pub category: String,
    /// The stage awaiting completion.
    pub stage: Stage,
    /// Whether it waits for someone to settle a conflict.
    pub conflict: bool,
    /// The latest device time recorded in it.
    pub updated_at: Timestamp,
}

/// The reason an event did not apply, for a page's history.
pub fn outcome_text(o: &Outcome) -> Option<String> {
    match o {
        Outcome::Applied => None,
        Outcome::Invalid(why) => Some(why.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_search_text_matches_itself_literally() {
        assert_eq!(contains_pattern("  "), None);
        assert_eq!(contains_pattern(" 王桂 ").as_deref(), Some("%王桂%"));
        assert_eq!(
            contains_pattern("100%_a\\B").as_deref(),
            Some("%100\\%\\_a\\\\b%"),
            "wildcards and the escape character escaped, ASCII lower-cased"
        );
        let long = "张".repeat(MAX_SEARCH_CHARS + 5);
        assert_eq!(
            contains_pattern(&long).unwrap().chars().count(),
            MAX_SEARCH_CHARS + 2
        );
        let f = RequestFilter {
            receipt_contains: Some("３７０８８３－００１".into()),
            ..RequestFilter::default()
        };
        assert_eq!(
            f.receipt_pattern().as_deref(),
            Some("%370883-001%"),
            "full-width digits and dash as typed by an input method"
        );
        assert_eq!(RequestFilter::default().applicant_pattern(), None);
        let by_name = RequestFilter {
            applicant_contains: Some("王秀英".into()),
            ..RequestFilter::default()
        };
        let shown = format!("{by_name:?}");
        assert!(
            shown.contains("王*英") && !shown.contains("王秀英"),
            "{shown}"
        );
    }

    #[test]
    fn a_date_range_covers_whole_days_in_china() {
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        let f = RequestFilter {
            filed_from: Some(d("2026-03-02")),
            filed_to: Some(d("2026-03-03")),
            ..RequestFilter::default()
        };
        let (from, to) = f.filed_bounds();
        let (from, to) = (from.unwrap(), to.unwrap());
        // 2026-03-02T00:00+08:00 is 2026-03-01T16:00Z.
        assert_eq!(from, 1_772_380_800_000);
        assert_eq!(Timestamp(from).china_date(), d("2026-03-02"));
        assert_eq!(Timestamp(from - 1).china_date(), d("2026-03-01"));
        assert_eq!(Timestamp(to - 1).china_date(), d("2026-03-03"));
        assert_eq!(Timestamp(to).china_date(), d("2026-03-04"));
        let open = RequestFilter {
            filed_to: Some(NaiveDate::MAX),
            ..RequestFilter::default()
        };
        assert_eq!(open.filed_bounds(), (None, None), "no day after the last");
    }
}
