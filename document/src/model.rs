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
    /// The deadline, when one runs.
    pub due: Option<NaiveDate>,
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

/// Which requests a list shows. Empty fields do not filter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
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
