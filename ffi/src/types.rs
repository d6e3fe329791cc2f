//! The records and enums the bindings see, mirroring `bianmin_client_core::model` and the domain
//! types they carry, with their conversions. Nothing here decides anything: each conversion is
//! field by field.
//!
//! Identifiers, dates and times cross as custom types (see the bottom of this file): a UUID as
//! its text, an event id as its text, a date as `YYYY-MM-DD`, a timestamp as milliseconds since
//! the Unix epoch (UTC). A malformed UUID or date from the app is refused with
//! [`BianminError::Invalid`] before any store code runs.
//!
//! A few names differ from client-core's where the Rust name would clash in a target language:
//! `DeadlineClock` (Swift has a `Clock` protocol), `Urgency::NotRunning` (Swift's `.none`),
//! `MeetingRecord` and `ObjectionRecord` (Kotlin nests enum variants named `Meeting` and
//! `Objection` inside `AgendaAction`, which would hide records of the same name).

use std::collections::HashMap;

use bianmin_client_core as cc;
use bianmin_domain as domain;
use domain::{EventId, Timestamp};
use uuid::Uuid;

use crate::BianminError;

/// A calendar date; crosses the boundary as `YYYY-MM-DD` text.
pub type CalendarDate = chrono::NaiveDate;

// ----- who -----

/// The role a person acts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum Role {
    /// A resident acting on their own requests.
    Resident,
    /// A village service-point clerk, acting for the whole village.
    Clerk,
    /// A township convenience-center reviewer.
    Reviewer,
    /// An administrator of users, devices and reference data.
    Administrator,
}

impl From<domain::Role> for Role {
    fn from(r: domain::Role) -> Self {
        match r {
            domain::Role::Resident => Role::Resident,
            domain::Role::Clerk => Role::Clerk,
            domain::Role::Reviewer => Role::Reviewer,
            domain::Role::Administrator => Role::Administrator,
        }
    }
}

/// Who uses this store: a user in a role over an area, on a device (assigned at enrolment).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Identity {
    /// The user's identifier.
    pub user: String,
    /// The role.
    pub role: Role,
    /// The area code: village (12 digits), township (9) or county (6).
    pub area: String,
    /// The device's identifier.
    pub device: String,
}

impl From<&domain::Identity> for Identity {
    fn from(i: &domain::Identity) -> Self {
        Identity {
            user: i.user.clone(),
            role: i.role.into(),
            area: i.area.clone(),
            device: i.device.clone(),
        }
    }
}

/// Who did something, on which device, and when by the device's clock.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Stamp {
    /// The user.
    pub user: String,
    /// The role the user acted in.
    pub role: Role,
    /// The device.
    pub device: String,
    /// The device's clock at the time.
    pub at: Timestamp,
}

impl From<domain::Stamp> for Stamp {
    fn from(s: domain::Stamp) -> Self {
        Stamp {
            user: s.user,
            role: s.role.into(),
            device: s.device,
            at: s.at,
        }
    }
}

// ----- requests: inputs -----

/// A value given for a form attribute.
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum AttrValue {
    /// A number attribute's value.
    Number {
        /// The number.
        value: f64,
    },
    /// Any other attribute's value (text, a date `YYYY-MM-DD`, one of a list's values).
    Text {
        /// The text.
        value: String,
    },
}

impl From<AttrValue> for domain::AttrValue {
    fn from(v: AttrValue) -> Self {
        match v {
            AttrValue::Number { value } => domain::AttrValue::Number(value),
            AttrValue::Text { value } => domain::AttrValue::Text(value),
        }
    }
}

impl From<domain::AttrValue> for AttrValue {
    fn from(v: domain::AttrValue) -> Self {
        match v {
            domain::AttrValue::Number(value) => AttrValue::Number { value },
            domain::AttrValue::Text(value) => AttrValue::Text { value },
        }
    }
}

/// What a clerk (or resident) types to file a request.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct NewRequest {
    /// The service item's code (see `TabletStore.service_items`).
    pub item_code: String,
    /// The applicant's name.
    pub applicant_name: String,
    /// The applicant's national ID number.
    pub id_number: String,
    /// The applicant's phone number.
    pub phone: String,
    /// The grid the applicant lives in (one of the village's grids).
    pub grid: String,
    /// The form's attribute values, by attribute code.
    #[uniffi(default)]
    pub attributes: HashMap<String, AttrValue>,
    /// The materials received at filing, as the service item names them.
    #[uniffi(default)]
    pub materials_received: Vec<String>,
    /// The registered resident the request belongs to, if any.
    #[uniffi(default = None)]
    pub resident_user: Option<String>,
    /// Submit at once (the usual case at the service point); `false` keeps a draft.
    #[uniffi(default = true)]
    pub submit: bool,
}

impl From<NewRequest> for cc::NewRequest {
    fn from(n: NewRequest) -> Self {
        cc::NewRequest {
            item_code: n.item_code,
            applicant_name: n.applicant_name,
            id_number: n.id_number,
            phone: n.phone,
            grid: n.grid,
            attributes: n
                .attributes
                .into_iter()
                .map(|(k, v)| (k, v.into()))
                .collect(),
            materials_received: n.materials_received,
            resident_user: n.resident_user,
            submit: n.submit,
        }
    }
}

/// A change to one editable part of a request.
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum FieldEdit {
    /// The applicant's name.
    ApplicantName {
        /// The new name.
        value: String,
    },
    /// The applicant's ID number.
    IdNumber {
        /// The new ID number.
        value: String,
    },
    /// The applicant's phone number.
    Phone {
        /// The new phone number.
        value: String,
    },
    /// The grid.
    Grid {
        /// The new grid.
        value: String,
    },
    /// Set (or, with no value, clear) an attribute.
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

impl From<FieldEdit> for cc::FieldEdit {
    fn from(e: FieldEdit) -> Self {
        match e {
            FieldEdit::ApplicantName { value } => cc::FieldEdit::ApplicantName(value),
            FieldEdit::IdNumber { value } => cc::FieldEdit::IdNumber(value),
            FieldEdit::Phone { value } => cc::FieldEdit::Phone(value),
            FieldEdit::Grid { value } => cc::FieldEdit::Grid(value),
            FieldEdit::Attribute { code, value } => cc::FieldEdit::Attribute {
                code,
                value: value.map(Into::into),
            },
            FieldEdit::Material { name, received } => cc::FieldEdit::Material { name, received },
        }
    }
}

/// A satisfaction rating (好差评).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum Rating {
    /// 非常满意
    VerySatisfied,
    /// 满意
    Satisfied,
    /// 基本满意
    BasicallySatisfied,
    /// 不满意
    Dissatisfied,
    /// 非常不满意
    VeryDissatisfied,
}

impl From<Rating> for domain::Rating {
    fn from(r: Rating) -> Self {
        match r {
            Rating::VerySatisfied => domain::Rating::VerySatisfied,
            Rating::Satisfied => domain::Rating::Satisfied,
            Rating::BasicallySatisfied => domain::Rating::BasicallySatisfied,
            Rating::Dissatisfied => domain::Rating::Dissatisfied,
            Rating::VeryDissatisfied => domain::Rating::VeryDissatisfied,
        }
    }
}

impl From<domain::Rating> for Rating {
    fn from(r: domain::Rating) -> Self {
        match r {
            domain::Rating::VerySatisfied => Rating::VerySatisfied,
            domain::Rating::Satisfied => Rating::Satisfied,
            domain::Rating::BasicallySatisfied => Rating::BasicallySatisfied,
            domain::Rating::Dissatisfied => Rating::Dissatisfied,
            domain::Rating::VeryDissatisfied => Rating::VeryDissatisfied,
        }
    }
}

/// A lifecycle event of a request: what `TabletStore.apply_action` appends.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum Action {
    /// Submit a draft (resident, or clerk as proxy).
    Submit,
    /// Accept the application (受理).
    Accept,
    /// Refuse to accept it (不予受理).
    RefuseToAccept {
        /// Why; required.
        reason: String,
    },
    /// Complete a village-level item at the village (办结).
    Complete,
    /// Forward to the township (上报).
    Forward,
    /// Return for supplement (退回补正), listing every missing material at once.
    ReturnForSupplement {
        /// Every missing material.
        missing: Vec<String>,
        /// Anything else the applicant should know.
        note: String,
    },
    /// Hand in what was missing (补正).
    Supplement {
        /// The materials now provided; must include every one listed as missing.
        provided: Vec<String>,
    },
    /// Approve (审核通过).
    Approve {
        /// An optional note (may be empty).
        note: String,
    },
    /// Reject (不予批准).
    Reject {
        /// Why; required.
        reason: String,
    },
    /// Deliver the result to the applicant (送达, 办结).
    Deliver,
    /// Withdraw (撤回), allowed before a decision.
    Withdraw {
        /// Why, if the applicant says (may be empty).
        reason: String,
    },
    /// Rate the service (好差评).
    Rate {
        /// The rating.
        rating: Rating,
        /// The applicant's words, if any (may be empty).
        comment: String,
    },
    /// Waive one of the item's required materials (容缺受理): the request may then be accepted
    /// or approved without it.
    WaiveMaterial {
        /// The material, as the service item names it.
        material: String,
        /// Why it is waived; required.
        reason: String,
    },
    /// Settle a conflict by keeping one of its branches.
    Settle {
        /// The branch tip (one of the conflict's branches) whose outcome is kept.
        keep: EventId,
        /// Why; required.
        note: String,
    },
}

impl From<Action> for domain::Action {
    fn from(a: Action) -> Self {
        use domain::Action as D;
        match a {
            Action::Submit => D::Submit,
            Action::Accept => D::Accept,
            Action::RefuseToAccept { reason } => D::RefuseToAccept { reason },
            Action::Complete => D::Complete,
            Action::Forward => D::Forward,
            Action::ReturnForSupplement { missing, note } => {
                D::ReturnForSupplement { missing, note }
            }
            Action::Supplement { provided } => D::Supplement { provided },
            Action::Approve { note } => D::Approve { note },
            Action::Reject { reason } => D::Reject { reason },
            Action::Deliver => D::Deliver,
            Action::Withdraw { reason } => D::Withdraw { reason },
            Action::Rate { rating, comment } => D::Rate {
                rating: rating.into(),
                comment,
            },
            Action::WaiveMaterial { material, reason } => D::WaiveMaterial { material, reason },
            Action::Settle { keep, note } => D::Settle { keep, note },
        }
    }
}

impl From<domain::Action> for Action {
    fn from(a: domain::Action) -> Self {
        use domain::Action as D;
        match a {
            D::Submit => Action::Submit,
            D::Accept => Action::Accept,
            D::RefuseToAccept { reason } => Action::RefuseToAccept { reason },
            D::Complete => Action::Complete,
            D::Forward => Action::Forward,
            D::ReturnForSupplement { missing, note } => {
                Action::ReturnForSupplement { missing, note }
            }
            D::Supplement { provided } => Action::Supplement { provided },
            D::Approve { note } => Action::Approve { note },
            D::Reject { reason } => Action::Reject { reason },
            D::Deliver => Action::Deliver,
            D::Withdraw { reason } => Action::Withdraw { reason },
            D::Rate { rating, comment } => Action::Rate {
                rating: rating.into(),
                comment,
            },
            D::WaiveMaterial { material, reason } => Action::WaiveMaterial { material, reason },
            D::Settle { keep, note } => Action::Settle { keep, note },
        }
    }
}

// ----- requests: outputs -----

/// A request's status in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum Status {
    /// Being prepared, not yet submitted.
    Draft,
    /// Submitted, awaiting acceptance.
    Submitted,
    /// Accepted (受理).
    Accepted,
    /// Refused acceptance (不予受理).
    NotAccepted,
    /// Forwarded to the township (上报).
    Forwarded,
    /// Returned for supplement (退回补正); the clock is stopped.
    Returned,
    /// Approved by the township.
    Approved,
    /// Rejected by the township.
    Rejected,
    /// Completed (办结).
    Completed,
    /// Withdrawn by the applicant.
    Withdrawn,
}

impl From<Status> for domain::Status {
    fn from(s: Status) -> Self {
        use domain::Status as D;
        match s {
            Status::Draft => D::Draft,
            Status::Submitted => D::Submitted,
            Status::Accepted => D::Accepted,
            Status::NotAccepted => D::NotAccepted,
            Status::Forwarded => D::Forwarded,
            Status::Returned => D::Returned,
            Status::Approved => D::Approved,
            Status::Rejected => D::Rejected,
            Status::Completed => D::Completed,
            Status::Withdrawn => D::Withdrawn,
        }
    }
}

impl From<domain::Status> for Status {
    fn from(s: domain::Status) -> Self {
        use domain::Status as D;
        match s {
            D::Draft => Status::Draft,
            D::Submitted => Status::Submitted,
            D::Accepted => Status::Accepted,
            D::NotAccepted => Status::NotAccepted,
            D::Forwarded => Status::Forwarded,
            D::Returned => Status::Returned,
            D::Approved => Status::Approved,
            D::Rejected => Status::Rejected,
            D::Completed => Status::Completed,
            D::Withdrawn => Status::Withdrawn,
        }
    }
}

/// Where a request's working-day clock stands (client-core's `Clock`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum DeadlineClock {
    /// Not accepted (yet): no deadline runs.
    NotStarted,
    /// Running towards `due`.
    Running {
        /// The last working day within the committed time limit.
        due: CalendarDate,
    },
    /// Stopped while the request waits for supplement.
    Paused {
        /// Working days left when the materials come back (0 if already past due).
        remaining: u32,
        /// The day the request was returned.
        since: CalendarDate,
    },
    /// Ended by a decision or closure.
    Stopped {
        /// The deadline as it stood.
        due: CalendarDate,
        /// The day the clock ended.
        ended_on: CalendarDate,
    },
}

impl From<domain::Clock> for DeadlineClock {
    fn from(c: domain::Clock) -> Self {
        match c {
            domain::Clock::NotStarted => DeadlineClock::NotStarted,
            domain::Clock::Running { due } => DeadlineClock::Running { due },
            domain::Clock::Paused { remaining, since } => {
                DeadlineClock::Paused { remaining, since }
            }
            domain::Clock::Stopped { due, ended_on } => DeadlineClock::Stopped { due, ended_on },
        }
    }
}

/// How urgent an open request is today.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum Urgency {
    /// Past its deadline.
    Overdue,
    /// Due within two working days.
    DueSoon,
    /// More time left.
    OnTrack,
    /// No running clock (not accepted, paused, or ended); client-core's `Urgency::None`.
    NotRunning,
}

impl From<domain::Urgency> for Urgency {
    fn from(u: domain::Urgency) -> Self {
        match u {
            domain::Urgency::Overdue => Urgency::Overdue,
            domain::Urgency::DueSoon => Urgency::DueSoon,
            domain::Urgency::OnTrack => Urgency::OnTrack,
            domain::Urgency::None => Urgency::NotRunning,
        }
    }
}

/// The applicant, in full: shown only on a request's own page.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Applicant {
    /// Name.
    pub name: String,
    /// National ID number.
    pub id_number: String,
    /// Phone number.
    pub phone: String,
}

/// One entry of a request's history.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct HistoryEntry {
    /// The event's identifier.
    pub id: EventId,
    /// What happened.
    pub action: Action,
    /// Who, on which device, when.
    pub by: Stamp,
    /// `None` if it applied; otherwise why the replay ignored it.
    pub invalid: Option<String>,
}

impl From<cc::HistoryEntry> for HistoryEntry {
    fn from(h: cc::HistoryEntry) -> Self {
        HistoryEntry {
            id: h.id,
            action: h.action.into(),
            by: h.by.into(),
            invalid: h.invalid,
        }
    }
}

/// One branch of a conflict between concurrent decisions.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ConflictBranch {
    /// The branch's latest event (what `Action.Settle` keeps).
    pub tip: EventId,
    /// The status the branch leads to.
    pub status: Status,
}

/// A comment on a request or an agenda item.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Comment {
    /// Its identifier.
    pub id: Uuid,
    /// Who wrote it, where and when.
    pub by: Stamp,
    /// The text.
    pub text: String,
}

impl From<cc::Comment> for Comment {
    fn from(c: cc::Comment) -> Self {
        Comment {
            id: c.id,
            by: c.by.into(),
            text: c.text,
        }
    }
}

/// Who changed which field of a request (the values live in the request).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct EditRecord {
    /// Who, where, when.
    pub by: Stamp,
    /// The field, e.g. `phone` or `attributes.monthly_income`.
    pub field: String,
}

impl From<cc::EditRecord> for EditRecord {
    fn from(e: cc::EditRecord) -> Self {
        EditRecord {
            by: e.by.into(),
            field: e.field,
        }
    }
}

/// A required material waived (容缺受理).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct WaivedMaterial {
    /// The material, as the service item names it.
    pub material: String,
    /// Why it was waived.
    pub reason: String,
}

/// A request with everything its page shows.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct RequestDetail {
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
    /// The registered resident it belongs to.
    pub resident_user: Option<String>,
    /// The applicant.
    pub applicant: Applicant,
    /// The form's values, by attribute code.
    pub attributes: HashMap<String, AttrValue>,
    /// The materials in hand, sorted.
    pub materials_received: Vec<String>,
    /// The current status (derived from the history).
    pub status: Status,
    /// Concurrent decisions waiting to be settled, one entry per branch.
    pub conflict: Option<Vec<ConflictBranch>>,
    /// Fields edited concurrently on two devices: one value was kept, check it.
    pub field_conflicts: Vec<String>,
    /// The working-day clock.
    pub clock: DeadlineClock,
    /// How urgent it is today.
    pub urgency: Urgency,
    /// The materials asked for while it is returned.
    pub missing_materials: Vec<String>,
    /// The item's required materials neither in hand nor waived: while any is left, the
    /// request cannot be accepted or approved (receive them, or waive each with a reason).
    pub outstanding_materials: Vec<String>,
    /// The materials waived (容缺), in log order.
    pub waived_materials: Vec<WaivedMaterial>,
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
    /// Photos and scans of the materials (`TabletStore.attachments` adds where their bytes
    /// stand).
    pub attachments: Vec<Attachment>,
    /// Who filed it.
    pub created: Stamp,
    /// The latest device time recorded in it.
    pub updated_at: Timestamp,
    /// Filed by the resident themselves on the phone (the hub's receipt series).
    pub self_filed: bool,
}

impl From<cc::RequestDetail> for RequestDetail {
    fn from(d: cc::RequestDetail) -> Self {
        let self_filed = d.self_filed();
        RequestDetail {
            id: d.id,
            receipt_no: d.receipt_no.to_string(),
            item_code: d.item_code,
            village: d.village,
            grid: d.grid,
            resident_user: d.resident_user,
            applicant: Applicant {
                name: d.applicant.name,
                id_number: d.applicant.id_number,
                phone: d.applicant.phone,
            },
            attributes: d
                .attributes
                .into_iter()
                .map(|(k, v)| (k, v.into()))
                .collect(),
            materials_received: d.materials_received.into_iter().collect(),
            status: d.status.into(),
            conflict: d.conflict.map(|c| {
                c.branches
                    .into_iter()
                    .map(|(tip, status)| ConflictBranch {
                        tip,
                        status: status.into(),
                    })
                    .collect()
            }),
            field_conflicts: d.field_conflicts,
            clock: d.clock.into(),
            urgency: d.urgency.into(),
            missing_materials: d.missing_materials,
            outstanding_materials: d.outstanding_materials,
            waived_materials: d
                .waived_materials
                .into_iter()
                .map(|(material, reason)| WaivedMaterial { material, reason })
                .collect(),
            rating: d.rating.map(Into::into),
            follow_up: d.follow_up,
            history: d.history.into_iter().map(Into::into).collect(),
            comments: d.comments.into_iter().map(Into::into).collect(),
            edits: d.edits.into_iter().map(Into::into).collect(),
            attachments: d.attachments.into_iter().map(Into::into).collect(),
            created: d.created.into(),
            updated_at: d.updated_at,
            self_filed,
        }
    }
}

// ----- attachments -----

/// What an attachment's bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum MediaType {
    /// `image/jpeg`
    Jpeg,
    /// `image/png`
    Png,
    /// `application/pdf`
    Pdf,
}

impl From<domain::MediaType> for MediaType {
    fn from(m: domain::MediaType) -> Self {
        match m {
            domain::MediaType::Jpeg => MediaType::Jpeg,
            domain::MediaType::Png => MediaType::Png,
            domain::MediaType::Pdf => MediaType::Pdf,
        }
    }
}

/// A photo or scan of one of a request's materials, as the request's document refers to it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Attachment {
    /// Its identifier.
    pub id: Uuid,
    /// SHA-256 of the bytes (lower-case hex): how `TabletStore.open_attachment` names it.
    pub sha256: String,
    /// What the bytes are.
    pub media_type: MediaType,
    /// Their length in bytes.
    pub size: u64,
    /// The material it shows (one of the service item's materials).
    pub material: String,
    /// Who attached it, on which device, when.
    pub by: Stamp,
}

impl From<domain::AttachmentRef> for Attachment {
    fn from(a: domain::AttachmentRef) -> Self {
        Attachment {
            id: a.id,
            sha256: a.sha256,
            media_type: a.media_type.into(),
            size: a.size,
            material: a.material,
            by: a.by.into(),
        }
    }
}

/// Where an attachment's bytes stand on this device.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum TransferState {
    /// Here; the hub has the first `uploaded` bytes (fewer than all): waiting for
    /// `TabletStore.transfer_attachments`.
    Uploading {
        /// Bytes the hub acknowledged.
        uploaded: u64,
    },
    /// Here and at the hub: it can be opened.
    Complete,
    /// Being downloaded: `have` bytes so far.
    Downloading {
        /// Bytes received.
        have: u64,
    },
    /// Not here yet (attached on another device).
    Missing,
}

impl From<cc::TransferState> for TransferState {
    fn from(s: cc::TransferState) -> Self {
        match s {
            cc::TransferState::Uploading { uploaded } => TransferState::Uploading { uploaded },
            cc::TransferState::Complete => TransferState::Complete,
            cc::TransferState::Downloading { have } => TransferState::Downloading { have },
            cc::TransferState::Missing => TransferState::Missing,
        }
    }
}

/// An attachment with where its bytes stand.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct AttachmentStatus {
    /// The attachment.
    pub attachment: Attachment,
    /// Where its bytes stand.
    pub state: TransferState,
}

impl From<cc::AttachmentView> for AttachmentStatus {
    fn from(v: cc::AttachmentView) -> Self {
        AttachmentStatus {
            attachment: v.reference.into(),
            state: v.state.into(),
        }
    }
}

/// Which way a blob is moving.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum TransferDirection {
    /// From this device to the hub.
    Upload,
    /// From the hub to this device.
    Download,
}

/// How far one attachment's transfer has come.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct TransferProgress {
    /// The attachment's bytes (its SHA-256).
    pub sha256: String,
    /// The receipt number of the request it belongs to (empty if none this tablet may read).
    pub receipt_no: String,
    /// The material it was attached as.
    pub material: String,
    /// Tries of it in this run that were cut off.
    pub retries: u32,
    /// Which way.
    pub direction: TransferDirection,
    /// Bytes the other side now holds.
    pub done: u64,
    /// The whole size.
    pub size: u64,
}

impl From<&cc::transfer::TransferProgress> for TransferProgress {
    fn from(p: &cc::transfer::TransferProgress) -> Self {
        TransferProgress {
            sha256: p.sha256.clone(),
            receipt_no: p.receipt_no.clone(),
            material: p.material.clone(),
            retries: p.retries,
            direction: match p.direction {
                cc::transfer::Direction::Upload => TransferDirection::Upload,
                cc::transfer::Direction::Download => TransferDirection::Download,
            },
            done: p.done,
            size: p.size,
        }
    }
}

/// An attachment that could not be moved this time; the next transfer tries it again.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct TransferFailure {
    /// The attachment's bytes (its SHA-256).
    pub sha256: String,
    /// Why.
    pub reason: String,
    /// Whether it was the network or a busy hub (rather than a refusal).
    pub network: bool,
}

/// What a transfer of attachments did.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct TransferReport {
    /// Attachments the hub now holds complete, that this run sent.
    pub uploaded: Vec<String>,
    /// Attachments now complete on this device, that this run received.
    pub downloaded: Vec<String>,
    /// Body bytes sent.
    pub bytes_sent: u64,
    /// Body bytes received.
    pub bytes_received: u64,
    /// Attachments that could not be moved this time.
    pub failed: Vec<TransferFailure>,
    /// The requests whose attachments changed state (what the documents listener was told).
    pub changed: Vec<Uuid>,
}

impl TransferReport {
    pub(crate) fn new(r: cc::transfer::TransferReport, changed: Vec<Uuid>) -> Self {
        TransferReport {
            uploaded: r.uploaded,
            downloaded: r.downloaded,
            bytes_sent: r.bytes_sent,
            bytes_received: r.bytes_received,
            failed: r
                .failed
                .into_iter()
                .map(|f| TransferFailure {
                    sha256: f.sha256,
                    reason: f.reason,
                    network: f.network,
                })
                .collect(),
            changed,
        }
    }
}

/// A request as a list shows it: the applicant's name masked.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
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
    pub due: Option<CalendarDate>,
    /// The day the clock stopped (decision, completion, or withdrawal after acceptance).
    pub decided_on: Option<CalendarDate>,
    /// When it was filed (device clock).
    pub filed_at: Timestamp,
    /// The latest device time recorded in it.
    pub updated_at: Timestamp,
    /// Filed by the resident themselves on the phone (the hub's receipt series): show it
    /// marked "自助".
    pub self_filed: bool,
}

impl From<cc::RequestRow> for RequestRow {
    fn from(r: cc::RequestRow) -> Self {
        let self_filed = r.self_filed();
        RequestRow {
            id: r.id,
            receipt_no: r.receipt_no,
            item_code: r.item_code,
            village: r.village,
            grid: r.grid,
            applicant_masked: r.applicant_masked,
            status: r.status.into(),
            conflict: r.conflict,
            clock: r.clock,
            due: r.due,
            decided_on: r.decided_on,
            filed_at: r.filed_at,
            updated_at: r.updated_at,
            self_filed,
        }
    }
}

/// How urgent requests must be to be listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum UrgencyFilter {
    /// Past their deadline.
    Overdue,
    /// Due within two working days (not yet overdue).
    DueSoon,
    /// Overdue or due soon.
    OverdueOrDueSoon,
}

impl From<UrgencyFilter> for cc::UrgencyFilter {
    fn from(u: UrgencyFilter) -> Self {
        match u {
            UrgencyFilter::Overdue => cc::UrgencyFilter::Overdue,
            UrgencyFilter::DueSoon => cc::UrgencyFilter::DueSoon,
            UrgencyFilter::OverdueOrDueSoon => cc::UrgencyFilter::OverdueOrDueSoon,
        }
    }
}

/// Which requests a list shows. Fields left empty do not filter.
#[derive(Debug, Clone, Default, PartialEq, Eq, uniffi::Record)]
pub struct RequestFilter {
    /// Only this status.
    #[uniffi(default = None)]
    pub status: Option<Status>,
    /// Only this service item.
    #[uniffi(default = None)]
    pub item_code: Option<String>,
    /// Only this grid.
    #[uniffi(default = None)]
    pub grid: Option<String>,
    /// Only this village (for stores that hold several).
    #[uniffi(default = None)]
    pub village: Option<String>,
    /// Only requests in conflict (`true`) or not in conflict (`false`).
    #[uniffi(default = None)]
    pub conflict: Option<bool>,
    /// Only requests this urgent today.
    #[uniffi(default = None)]
    pub urgency: Option<UrgencyFilter>,
    /// Only receipt numbers starting with this.
    #[uniffi(default = None)]
    pub receipt_prefix: Option<String>,
    /// Only receipt numbers containing this text (`%` and `_` match themselves).
    #[uniffi(default = None)]
    pub receipt_contains: Option<String>,
    /// Only applicants whose name contains this text (lists still show it masked).
    #[uniffi(default = None)]
    pub applicant_contains: Option<String>,
    /// Only requests filed on or after this day (China Standard Time).
    #[uniffi(default = None)]
    pub filed_from: Option<CalendarDate>,
    /// Only requests filed on or before this day (China Standard Time).
    #[uniffi(default = None)]
    pub filed_to: Option<CalendarDate>,
}

impl From<RequestFilter> for cc::RequestFilter {
    fn from(f: RequestFilter) -> Self {
        cc::RequestFilter {
            status: f.status.map(Into::into),
            item_code: f.item_code,
            grid: f.grid,
            village: f.village,
            conflict: f.conflict,
            urgency: f.urgency.map(Into::into),
            receipt_prefix: f.receipt_prefix,
            receipt_contains: f.receipt_contains,
            applicant_contains: f.applicant_contains,
            filed_from: f.filed_from,
            filed_to: f.filed_to,
        }
    }
}

/// The order of a request list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, uniffi::Enum)]
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

impl From<RequestSort> for cc::RequestSort {
    fn from(s: RequestSort) -> Self {
        match s {
            RequestSort::Deadline => cc::RequestSort::Deadline,
            RequestSort::RecentlyUpdated => cc::RequestSort::RecentlyUpdated,
            RequestSort::RecentlyFiled => cc::RequestSort::RecentlyFiled,
            RequestSort::ReceiptNo => cc::RequestSort::ReceiptNo,
        }
    }
}

/// Which slice of a list: `limit` rows (1 to 500) after skipping `offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct Page {
    /// Rows to skip.
    #[uniffi(default = 0)]
    pub offset: u32,
    /// Rows to return (1 to 500).
    #[uniffi(default = 50)]
    pub limit: u32,
}

impl Default for Page {
    fn default() -> Self {
        let p = cc::Page::default();
        Page {
            offset: p.offset,
            limit: p.limit,
        }
    }
}

impl From<Page> for cc::Page {
    fn from(p: Page) -> Self {
        cc::Page {
            offset: p.offset,
            limit: p.limit,
        }
    }
}

/// One page of a request list.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RequestListing {
    /// The rows.
    pub rows: Vec<RequestRow>,
    /// Whether more rows follow.
    pub has_more: bool,
}

impl From<cc::Listing<cc::RequestRow>> for RequestListing {
    fn from(l: cc::Listing<cc::RequestRow>) -> Self {
        RequestListing {
            rows: l.rows.into_iter().map(Into::into).collect(),
            has_more: l.has_more,
        }
    }
}

// ----- agenda items -----

/// The six stages of "four discussions, two opens", in order, and the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum Stage {
    /// 1. Proposal by the village Party branch meeting.
    Proposal,
    /// 2. Consultation by the joint meeting of the two committees.
    Consultation,
    /// 3. Review by the Party members' meeting.
    Review,
    /// 4. Resolution by the villagers' (representatives') meeting.
    Resolution,
    /// 5. Public notice of the resolution.
    ResolutionNotice,
    /// 6. Public notice of the implementation results.
    ResultsNotice,
    /// All six stages done.
    Done,
}

impl From<Stage> for domain::Stage {
    fn from(s: Stage) -> Self {
        use domain::Stage as D;
        match s {
            Stage::Proposal => D::Proposal,
            Stage::Consultation => D::Consultation,
            Stage::Review => D::Review,
            Stage::Resolution => D::Resolution,
            Stage::ResolutionNotice => D::ResolutionNotice,
            Stage::ResultsNotice => D::ResultsNotice,
            Stage::Done => D::Done,
        }
    }
}

impl From<domain::Stage> for Stage {
    fn from(s: domain::Stage) -> Self {
        use domain::Stage as D;
        match s {
            D::Proposal => Stage::Proposal,
            D::Consultation => Stage::Consultation,
            D::Review => Stage::Review,
            D::Resolution => Stage::Resolution,
            D::ResolutionNotice => Stage::ResolutionNotice,
            D::ResultsNotice => Stage::ResultsNotice,
            D::Done => Stage::Done,
        }
    }
}

/// The body that holds a meeting (and so which stage it is).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
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

impl From<Body> for domain::Body {
    fn from(b: Body) -> Self {
        use domain::Body as D;
        match b {
            Body::PartyBranch => D::PartyBranch,
            Body::TwoCommittees => D::TwoCommittees,
            Body::PartyMembers => D::PartyMembers,
            Body::VillagersMeeting => D::VillagersMeeting,
            Body::RepresentativesMeeting => D::RepresentativesMeeting,
        }
    }
}

impl From<domain::Body> for Body {
    fn from(b: domain::Body) -> Self {
        use domain::Body as D;
        match b {
            D::PartyBranch => Body::PartyBranch,
            D::TwoCommittees => Body::TwoCommittees,
            D::PartyMembers => Body::PartyMembers,
            D::VillagersMeeting => Body::VillagersMeeting,
            D::RepresentativesMeeting => Body::RepresentativesMeeting,
        }
    }
}

/// The record of one meeting (client-core's `Meeting`).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct MeetingRecord {
    /// Which body met.
    pub body: Body,
    /// The day it met.
    pub held_on: CalendarDate,
    /// Members entitled to attend (for a villagers' meeting: villagers aged 18 or over).
    pub entitled: u32,
    /// Members present.
    pub present: u32,
    /// For a villagers' meeting held by household: the village's households.
    #[uniffi(default = None)]
    pub households: Option<u32>,
    /// For a villagers' meeting held by household: households represented.
    #[uniffi(default = None)]
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
    #[uniffi(default)]
    pub sign_in_photos: Vec<String>,
}

impl From<MeetingRecord> for domain::Meeting {
    fn from(m: MeetingRecord) -> Self {
        domain::Meeting {
            body: m.body.into(),
            held_on: m.held_on,
            entitled: m.entitled,
            present: m.present,
            households: m.households,
            households_represented: m.households_represented,
            votes_for: m.votes_for,
            votes_against: m.votes_against,
            abstentions: m.abstentions,
            minutes: m.minutes,
            sign_in_photos: m.sign_in_photos,
        }
    }
}

impl From<domain::Meeting> for MeetingRecord {
    fn from(m: domain::Meeting) -> Self {
        MeetingRecord {
            body: m.body.into(),
            held_on: m.held_on,
            entitled: m.entitled,
            present: m.present,
            households: m.households,
            households_represented: m.households_represented,
            votes_for: m.votes_for,
            votes_against: m.votes_against,
            abstentions: m.abstentions,
            minutes: m.minutes,
            sign_in_photos: m.sign_in_photos,
        }
    }
}

/// A public notice posted at the village.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Notice {
    /// The text made public.
    pub text: String,
    /// The first day of the notice.
    pub posted_on: CalendarDate,
    /// How many days it stays posted (1 to 365).
    pub period_days: u32,
    /// Where it is posted (notice board, WeChat group...).
    #[uniffi(default = "")]
    pub place: String,
}

impl From<Notice> for domain::Notice {
    fn from(n: Notice) -> Self {
        domain::Notice {
            text: n.text,
            posted_on: n.posted_on,
            period_days: n.period_days,
            place: n.place,
        }
    }
}

impl From<domain::Notice> for Notice {
    fn from(n: domain::Notice) -> Self {
        Notice {
            text: n.text,
            posted_on: n.posted_on,
            period_days: n.period_days,
            place: n.place,
        }
    }
}

/// An objection raised while a notice was posted (client-core's `Objection`).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ObjectionRecord {
    /// The day it was received.
    pub received_on: CalendarDate,
    /// What it says (no names or ID numbers: it is public).
    pub summary: String,
    /// The village's answer, if given.
    #[uniffi(default = "")]
    pub response: String,
}

impl From<ObjectionRecord> for domain::Objection {
    fn from(o: ObjectionRecord) -> Self {
        domain::Objection {
            received_on: o.received_on,
            summary: o.summary,
            response: o.response,
        }
    }
}

impl From<domain::Objection> for ObjectionRecord {
    fn from(o: domain::Objection) -> Self {
        ObjectionRecord {
            received_on: o.received_on,
            summary: o.summary,
            response: o.response,
        }
    }
}

/// The township's act on an agenda item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ReviewKind {
    /// Reviewed (审核).
    Reviewed,
    /// Put on record (备案).
    Recorded,
    /// A comment only.
    Comment,
}

impl From<ReviewKind> for domain::ReviewKind {
    fn from(r: ReviewKind) -> Self {
        match r {
            ReviewKind::Reviewed => domain::ReviewKind::Reviewed,
            ReviewKind::Recorded => domain::ReviewKind::Recorded,
            ReviewKind::Comment => domain::ReviewKind::Comment,
        }
    }
}

impl From<domain::ReviewKind> for ReviewKind {
    fn from(r: domain::ReviewKind) -> Self {
        match r {
            domain::ReviewKind::Reviewed => ReviewKind::Reviewed,
            domain::ReviewKind::Recorded => ReviewKind::Recorded,
            domain::ReviewKind::Comment => ReviewKind::Comment,
        }
    }
}

/// What an agenda event records: what `TabletStore.record_agenda` appends.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum AgendaAction {
    /// A meeting of stages 1 to 4.
    Meeting {
        /// The meeting's record.
        meeting: MeetingRecord,
    },
    /// Post the notice of the resolution (stage 5).
    ResolutionNotice {
        /// The notice.
        notice: Notice,
    },
    /// Record an objection to the notice currently posted.
    Objection {
        /// The objection.
        objection: ObjectionRecord,
    },
    /// Post the notice of the implementation results (stage 6).
    ResultsNotice {
        /// The notice.
        notice: Notice,
    },
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

impl From<AgendaAction> for domain::AgendaAction {
    fn from(a: AgendaAction) -> Self {
        use domain::AgendaAction as D;
        match a {
            AgendaAction::Meeting { meeting } => D::Meeting(meeting.into()),
            AgendaAction::ResolutionNotice { notice } => D::ResolutionNotice(notice.into()),
            AgendaAction::Objection { objection } => D::Objection(objection.into()),
            AgendaAction::ResultsNotice { notice } => D::ResultsNotice(notice.into()),
            AgendaAction::TownshipReview { review, comment } => D::TownshipReview {
                review: review.into(),
                comment,
            },
            AgendaAction::Settle { keep, note } => D::Settle { keep, note },
        }
    }
}

impl From<domain::AgendaAction> for AgendaAction {
    fn from(a: domain::AgendaAction) -> Self {
        use domain::AgendaAction as D;
        match a {
            D::Meeting(m) => AgendaAction::Meeting { meeting: m.into() },
            D::ResolutionNotice(n) => AgendaAction::ResolutionNotice { notice: n.into() },
            D::Objection(o) => AgendaAction::Objection {
                objection: o.into(),
            },
            D::ResultsNotice(n) => AgendaAction::ResultsNotice { notice: n.into() },
            D::TownshipReview { review, comment } => AgendaAction::TownshipReview {
                review: review.into(),
                comment,
            },
            D::Settle { keep, note } => AgendaAction::Settle { keep, note },
        }
    }
}

/// What a meeting achieved.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum MeetingResult {
    /// Quorum met and the motion adopted: the stage is done.
    Passed,
    /// Too few present to decide anything.
    NoQuorum {
        /// The quorum rule that was missed.
        why: String,
    },
    /// Quorate, but the motion did not get its majority.
    NotAdopted {
        /// The majority rule that was missed.
        why: String,
    },
}

impl From<domain::MeetingResult> for MeetingResult {
    fn from(r: domain::MeetingResult) -> Self {
        match r {
            domain::MeetingResult::Passed => MeetingResult::Passed,
            domain::MeetingResult::NoQuorum(why) => MeetingResult::NoQuorum { why },
            domain::MeetingResult::NotAdopted(why) => MeetingResult::NotAdopted { why },
        }
    }
}

/// What a clerk types to open an agenda item.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct NewAgendaItem {
    /// A short title.
    pub title: String,
    /// The kind of matter (collective assets, land contracting, homestead, compensation...).
    pub category: String,
    /// What is proposed.
    pub description: String,
}

impl From<NewAgendaItem> for cc::NewAgendaItem {
    fn from(n: NewAgendaItem) -> Self {
        cc::NewAgendaItem {
            title: n.title,
            category: n.category,
            description: n.description,
        }
    }
}

/// A change to an agenda item's text.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum AgendaEdit {
    /// The title.
    Title {
        /// The new title.
        value: String,
    },
    /// The category.
    Category {
        /// The new category.
        value: String,
    },
    /// The description.
    Description {
        /// The new description.
        value: String,
    },
}

impl From<AgendaEdit> for cc::AgendaEdit {
    fn from(e: AgendaEdit) -> Self {
        match e {
            AgendaEdit::Title { value } => cc::AgendaEdit::Title(value),
            AgendaEdit::Category { value } => cc::AgendaEdit::Category(value),
            AgendaEdit::Description { value } => cc::AgendaEdit::Description(value),
        }
    }
}

/// What a personal number found in a public text looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum PersonalNumberKind {
    /// A national ID number (18 characters, or the old 15 digits).
    NationalId,
    /// A mobile number, with or without `+86`.
    Mobile,
    /// A bank card, a landline with its area code, another number of 11 or more digits.
    LongNumber,
}

impl From<domain::PersonalNumberKind> for PersonalNumberKind {
    fn from(k: domain::PersonalNumberKind) -> Self {
        match k {
            domain::PersonalNumberKind::NationalId => PersonalNumberKind::NationalId,
            domain::PersonalNumberKind::Mobile => PersonalNumberKind::Mobile,
            domain::PersonalNumberKind::LongNumber => PersonalNumberKind::LongNumber,
        }
    }
}

/// A text written for the public (an agenda item's title, notice, objection...) that looks
/// like it holds personal data: show it to the clerk. A warning, not a refusal: the store
/// writes the text all the same.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PublicTextWarning {
    /// The text: `title`, `category`, `description`, `notice.text`, `notice.place`,
    /// `objection.summary` or `objection.response`.
    pub field_name: String,
    /// What its numbers look like, each kind once.
    pub kinds: Vec<PersonalNumberKind>,
}

impl From<cc::PublicTextWarning> for PublicTextWarning {
    fn from(w: cc::PublicTextWarning) -> Self {
        PublicTextWarning {
            field_name: w.field,
            kinds: w.kinds.into_iter().map(Into::into).collect(),
        }
    }
}

/// One entry of an agenda item's history.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
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

impl From<cc::AgendaHistoryEntry> for AgendaHistoryEntry {
    fn from(h: cc::AgendaHistoryEntry) -> Self {
        AgendaHistoryEntry {
            id: h.id,
            action: h.action.into(),
            by: h.by.into(),
            meeting_result: h.meeting_result.map(Into::into),
            invalid: h.invalid,
        }
    }
}

/// An agenda item with everything its page shows.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
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
    /// The stage awaiting completion (derived from the history).
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

impl From<cc::AgendaDetail> for AgendaDetail {
    fn from(d: cc::AgendaDetail) -> Self {
        AgendaDetail {
            id: d.id,
            village: d.village,
            title: d.title,
            category: d.category,
            description: d.description,
            stage: d.stage.into(),
            conflict: d.conflict,
            field_conflicts: d.field_conflicts,
            history: d.history.into_iter().map(Into::into).collect(),
            comments: d.comments.into_iter().map(Into::into).collect(),
            created: d.created.into(),
            updated_at: d.updated_at,
        }
    }
}

/// An agenda item as a list shows it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
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

/// One page of an agenda list.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct AgendaListing {
    /// The rows, most recently changed first.
    pub rows: Vec<AgendaRow>,
    /// Whether more rows follow.
    pub has_more: bool,
}

impl From<cc::Listing<cc::AgendaRow>> for AgendaListing {
    fn from(l: cc::Listing<cc::AgendaRow>) -> Self {
        AgendaListing {
            rows: l
                .rows
                .into_iter()
                .map(|r| AgendaRow {
                    id: r.id,
                    village: r.village,
                    title: r.title,
                    category: r.category,
                    stage: r.stage.into(),
                    conflict: r.conflict,
                    updated_at: r.updated_at,
                })
                .collect(),
            has_more: l.has_more,
        }
    }
}

// ----- reference data -----

/// Which level handles a service item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum HandlingLevel {
    /// Completed at the village service point (村级办结).
    Village,
    /// The village accepts the materials, the township decides (村收镇办).
    VillageCollectsTownshipHandles,
    /// Filed at or for the township center directly.
    Township,
}

impl From<domain::HandlingLevel> for HandlingLevel {
    fn from(l: domain::HandlingLevel) -> Self {
        match l {
            domain::HandlingLevel::Village => HandlingLevel::Village,
            domain::HandlingLevel::VillageCollectsTownshipHandles => {
                HandlingLevel::VillageCollectsTownshipHandles
            }
            domain::HandlingLevel::Township => HandlingLevel::Township,
        }
    }
}

/// The type of a form attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum AttributeType {
    /// A short line of text (up to 200 characters).
    String,
    /// A longer free text.
    Text,
    /// A number (`AttrValue.Number`).
    Number,
    /// A calendar date, `YYYY-MM-DD`.
    Datetime,
    /// One of the listed values.
    Singlevaluelist,
}

impl From<domain::AttributeType> for AttributeType {
    fn from(t: domain::AttributeType) -> Self {
        match t {
            domain::AttributeType::String => AttributeType::String,
            domain::AttributeType::Text => AttributeType::Text,
            domain::AttributeType::Number => AttributeType::Number,
            domain::AttributeType::Datetime => AttributeType::Datetime,
            domain::AttributeType::Singlevaluelist => AttributeType::Singlevaluelist,
        }
    }
}

/// One attribute of a service item's form.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct AttributeSpec {
    /// The attribute's code, the key of its value in a request.
    pub code: String,
    /// Its Chinese label (empty when the catalog gives none: show the English one).
    pub name_zh: String,
    /// Its English label.
    pub name_en: String,
    /// Its type.
    pub datatype: AttributeType,
    /// Whether a request must give it.
    pub required: bool,
    /// The allowed values of a `Singlevaluelist` (what a request stores).
    pub values: Vec<String>,
    /// The same values' Chinese names, in the order of `values` (empty: show the values).
    pub values_zh: Vec<String>,
    /// Whether its value is personal data as a whole (a bank account): show it masked.
    pub sensitive: bool,
}

/// A service item of the published list: what a request can be filed for.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ServiceItem {
    /// Its code, e.g. `AID-DIBAO`.
    pub code: String,
    /// Its Chinese name.
    pub name_zh: String,
    /// Its English name.
    pub name_en: String,
    /// Which level handles it.
    pub level: HandlingLevel,
    /// The committed time limit in working days; 0 means on the spot.
    pub time_limit_days: u32,
    /// The materials an applicant must provide (the names requests record).
    pub materials: Vec<String>,
    /// The same materials' Chinese names, in the order of `materials` (empty: show the names).
    pub materials_zh: Vec<String>,
    /// The attributes its form asks for.
    pub attributes: Vec<AttributeSpec>,
}

impl From<&domain::ServiceItem> for ServiceItem {
    fn from(i: &domain::ServiceItem) -> Self {
        ServiceItem {
            code: i.code.clone(),
            name_zh: i.name_zh.clone(),
            name_en: i.name_en.clone(),
            level: i.level.into(),
            time_limit_days: i.time_limit_days,
            materials: i.materials.clone(),
            materials_zh: i.materials_zh.clone(),
            attributes: i
                .attributes
                .iter()
                .map(|a| AttributeSpec {
                    code: a.code.clone(),
                    name_zh: a.name_zh.clone(),
                    name_en: a.name_en.clone(),
                    datatype: a.datatype.into(),
                    required: a.required,
                    values: a.values.clone(),
                    values_zh: a.values_zh.clone(),
                    sensitive: a.sensitive,
                })
                .collect(),
        }
    }
}

/// A village of the directory, with its township.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Village {
    /// The village code (12 digits).
    pub code: String,
    /// Its Chinese name.
    pub name_zh: String,
    /// Its English name.
    pub name_en: String,
    /// Its township's code (9 digits).
    pub township: String,
    /// Its grids (what `NewRequest.grid` must be one of).
    pub grids: Vec<String>,
    /// Its households.
    pub households: u32,
    /// Its villagers' representatives.
    pub representatives: u32,
}

// ----- sync -----

/// Progress of a sync, after each round.
#[derive(Debug, Clone, Default, PartialEq, Eq, uniffi::Record)]
pub struct SyncProgress {
    /// Rounds done.
    pub rounds: u32,
    /// Documents pushed so far.
    pub docs_pushed: u64,
    /// Documents received so far.
    pub docs_pulled: u64,
    /// Bytes sent so far.
    pub bytes_sent: u64,
    /// Bytes received so far.
    pub bytes_received: u64,
    /// Whether the hub has more to send.
    pub more: bool,
}

impl From<&cc::client::Progress> for SyncProgress {
    fn from(p: &cc::client::Progress) -> Self {
        SyncProgress {
            rounds: p.rounds,
            docs_pushed: p.docs_pushed as u64,
            docs_pulled: p.docs_pulled as u64,
            bytes_sent: p.bytes_sent,
            bytes_received: p.bytes_received,
            more: p.more,
        }
    }
}

/// An edit the hub refused: rolled back on this device, kept visible with the reason.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RefusedEdit {
    /// The document it was made on.
    pub doc_id: Uuid,
    /// The hub's machine code, e.g. `forbidden`.
    pub code: String,
    /// The hub's reason.
    pub reason: String,
    /// What was rolled back, in words (e.g. `event approve`, `field phone`).
    pub summary: Vec<String>,
    /// When this device learned of the refusal (device clock).
    pub refused_at: Timestamp,
}

impl From<cc::RefusedEdit> for RefusedEdit {
    fn from(r: cc::RefusedEdit) -> Self {
        RefusedEdit {
            doc_id: r.doc_id,
            code: r.code,
            reason: r.reason,
            summary: r.summary,
            refused_at: Timestamp(r.refused_at),
        }
    }
}

/// A document the sync could not finish, with why: received from the hub but not applied
/// (fetched again next sync), or, in `SyncReport.waiting`, local changes the hub cannot take yet.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PullError {
    /// The document.
    pub doc_id: Uuid,
    /// Why.
    pub reason: String,
}

/// What a sync did.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SyncReport {
    /// The final progress figures.
    pub progress: SyncProgress,
    /// Documents the hub accepted.
    pub accepted: u64,
    /// Edits the hub refused (rolled back, kept visible; see `TabletStore.refused_edits`).
    pub refused: Vec<RefusedEdit>,
    /// Changes received that were new to this device.
    pub new_changes: u64,
    /// Documents received that could not be applied.
    pub pull_errors: Vec<PullError>,
    /// The documents whose content changed on this device during the sync (received changes
    /// or refused edits rolled back): what the change listener was told.
    pub changed: Vec<Uuid>,
    /// Documents kept as they are and offered again next time because the hub lacks changes
    /// they build on (after the hub was restored from a backup, until their author's device
    /// syncs); `PullError` carries the document and why.
    pub waiting: Vec<PullError>,
    /// Whether the hub turned out to have been restored from a backup, so that this sync
    /// started over (received everything again and offered every local change again).
    pub hub_restored: bool,
}

impl SyncReport {
    pub(crate) fn new(r: cc::client::SyncReport, changed: Vec<Uuid>) -> Self {
        SyncReport {
            progress: (&r.progress).into(),
            accepted: r.accepted as u64,
            refused: r.refused.into_iter().map(Into::into).collect(),
            new_changes: r.new_changes as u64,
            pull_errors: r
                .pull_errors
                .into_iter()
                .map(|(doc_id, reason)| PullError { doc_id, reason })
                .collect(),
            changed,
            waiting: r
                .waiting
                .into_iter()
                .map(|(doc_id, reason)| PullError { doc_id, reason })
                .collect(),
            hub_restored: r.hub_restored,
        }
    }
}

/// Tuning of a sync (client-core's `SyncOptions`); every field has a default.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SyncSettings {
    /// Documents pushed per round.
    #[uniffi(default = 200)]
    pub docs_per_round: u32,
    /// Attempts per round on network errors and hub overload.
    #[uniffi(default = 5)]
    pub attempts: u32,
    /// The first wait between attempts, in milliseconds (doubled each time).
    #[uniffi(default = 500)]
    pub backoff_ms: u64,
    /// How long an exchange may go without a byte moving (per read, per write), in
    /// milliseconds; no limit on an exchange as a whole.
    #[uniffi(default = 30000)]
    pub idle_ms: u64,
}

impl Default for SyncSettings {
    fn default() -> Self {
        let o = cc::client::SyncOptions::default();
        SyncSettings {
            docs_per_round: o.docs_per_round as u32,
            attempts: o.attempts,
            backoff_ms: o.backoff.as_millis() as u64,
            idle_ms: o.idle.as_millis() as u64,
        }
    }
}

impl From<SyncSettings> for cc::client::SyncOptions {
    fn from(s: SyncSettings) -> Self {
        cc::client::SyncOptions {
            docs_per_round: s.docs_per_round as usize,
            attempts: s.attempts,
            backoff: std::time::Duration::from_millis(s.backoff_ms),
            idle: std::time::Duration::from_millis(s.idle_ms),
        }
    }
}

/// How many documents the store holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct StoreCounts {
    /// Service requests.
    pub requests: u64,
    /// Agenda items.
    pub agenda_items: u64,
}

// ----- residents' accounts (on the hub) -----

/// A resident's account as the clerk's list shows it: no personal numbers, no password, no
/// code.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ResidentAccount {
    /// The user id: what a request names as its resident (`NewRequest.resident_user`).
    pub user_id: String,
    /// The user name the resident signs in with.
    pub name: String,
    /// The name shown for the resident.
    pub display_name: String,
    /// The resident's village.
    pub village: String,
    /// Whether the resident has chosen a password (activated the account).
    pub activated: bool,
    /// Whether an administrator deactivated the account.
    pub deactivated: bool,
    /// Until when the last code issued and not yet used works, if there is one (it may have
    /// expired).
    pub code_expires_at: Option<Timestamp>,
}

impl From<cc::residents::ResidentAccount> for ResidentAccount {
    fn from(r: cc::residents::ResidentAccount) -> Self {
        ResidentAccount {
            user_id: r.user_id,
            name: r.name,
            display_name: r.display_name,
            village: r.village,
            activated: r.activated,
            deactivated: r.deactivated,
            code_expires_at: r.code_expires_at.map(Timestamp),
        }
    }
}

/// A resident's one-time activation code, just issued by the hub: shown this once (the hub
/// keeps only its hash), printed or read out to the resident, who types it with the user name
/// on the phone at the hub's `/resident/activate`. Its `Debug` leaves the code out.
#[derive(Clone, PartialEq, Eq, uniffi::Record)]
pub struct ActivationCode {
    /// The resident's user id (for `NewRequest.resident_user`).
    pub user_id: String,
    /// The user name the resident types with the code.
    pub name: String,
    /// The name shown for the resident.
    pub display_name: String,
    /// The resident's village.
    pub village: String,
    /// The code, `ABCDE-FGHJK` (case and dash do not matter when typed). It works once; a
    /// newer code replaces it.
    pub code: String,
    /// It works strictly before this time.
    pub expires_at: Timestamp,
}

impl std::fmt::Debug for ActivationCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActivationCode")
            .field("user_id", &self.user_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl From<cc::residents::ActivationCodeIssued> for ActivationCode {
    fn from(c: cc::residents::ActivationCodeIssued) -> Self {
        ActivationCode {
            user_id: c.user_id,
            name: c.name,
            display_name: c.display_name,
            village: c.village,
            code: c.code,
            expires_at: Timestamp(c.expires_at),
        }
    }
}

// ----- custom types: identifiers, dates and times as text and numbers -----

fn invalid(field: &str, rule: &str) -> BianminError {
    BianminError::Invalid {
        field_name: field.into(),
        rule: rule.into(),
    }
}

uniffi::custom_type!(Uuid, String, {
    remote,
    lower: |id| id.to_string(),
    try_lift: |text| Uuid::parse_str(&text)
        .map_err(|_| invalid("id", "must be a UUID such as 67e55044-10b1-426f-9247-bb680e5fe0c8").into()),
});

uniffi::custom_type!(EventId, String, {
    remote,
    lower: |id| id.0.to_string(),
    try_lift: |text| Uuid::parse_str(&text)
        .map(EventId)
        .map_err(|_| invalid("event id", "must be a UUID, as in a history entry's id").into()),
});

uniffi::custom_type!(CalendarDate, String, {
    remote,
    lower: |date| date.format("%Y-%m-%d").to_string(),
    try_lift: |text| chrono::NaiveDate::parse_from_str(&text, "%Y-%m-%d")
        .map_err(|_| invalid("date", "must be a calendar date written YYYY-MM-DD").into()),
});

uniffi::custom_type!(Timestamp, i64, {
    remote,
    lower: |t| t.0,
    try_lift: |ms| Ok(Timestamp(ms)),
});
