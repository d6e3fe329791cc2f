//! What every replica derives from a document for lists: the list row (the tablet's projection
//! row and the hub's index entry are the same row), and what the hub's dashboard counts.
//!
//! Every value is a pure function of the document and the reference data (never of the local
//! clock or of which device wrote it), so all replicas holding the same document hold the same
//! row; the property tests compare them.

use bianmin_domain::{
    AgendaState, AttachmentRef, Clock, Derived, Rating, Stamp, Status, Timestamp, WorkingCalendar,
    mask_name, replay, replay_agenda,
};

use crate::document::Decoded;
use crate::layout::agenda::AgendaDoc;
use crate::layout::request::RequestDoc;
use crate::model::{AgendaRow, Comment, EditRecord, RequestRow};

/// Stands for "no deadline" in `due_date`, so that the deadline index also orders them last.
pub const NO_DUE: &str = "9999-12-31";

/// The latest device time recorded anywhere in a request.
pub fn request_updated_at(doc: &RequestDoc) -> Timestamp {
    latest_time(
        &doc.created,
        doc.events.iter().map(|e| &e.by),
        &doc.comments,
        &doc.edits,
    )
}

/// The latest device time among a document's creation stamp and its log entries.
fn latest_time<'a>(
    created: &Stamp,
    events: impl Iterator<Item = &'a Stamp>,
    comments: &[Comment],
    edits: &[EditRecord],
) -> Timestamp {
    std::iter::once(created.at)
        .chain(events.map(|s| s.at))
        .chain(comments.iter().map(|c| c.by.at))
        .chain(edits.iter().map(|e| e.by.at))
        .max()
        .unwrap_or(created.at)
}

fn clock_name(c: &Clock) -> &'static str {
    match c {
        Clock::NotStarted => "not_started",
        Clock::Running { .. } => "running",
        Clock::Paused { .. } => "paused",
        Clock::Stopped { .. } => "stopped",
    }
}

/// A request's list row, as the tablet's projection and the hub's index hold it.
pub fn request_row_of(doc: &RequestDoc, derived: &Derived, clock: &Clock) -> RequestRow {
    RequestRow {
        id: doc.id,
        receipt_no: doc.receipt_no.clone(),
        item_code: doc.item_code.clone(),
        village: doc.village.clone(),
        grid: doc.grid.clone(),
        applicant_masked: mask_name(&doc.name),
        status: derived.status,
        conflict: derived.in_conflict() || !doc.field_conflicts.is_empty(),
        clock: clock_name(clock).to_string(),
        due: clock.due(),
        decided_on: match clock {
            Clock::Stopped { ended_on, .. } => Some(*ended_on),
            _ => None,
        },
        filed_at: doc.created.at,
        updated_at: request_updated_at(doc),
    }
}

/// An agenda item's list row.
pub fn agenda_row_of(doc: &AgendaDoc, state: &AgendaState) -> AgendaRow {
    AgendaRow {
        id: doc.id,
        village: doc.village.clone(),
        title: doc.title.clone(),
        category: doc.category.clone(),
        stage: state.stage,
        conflict: state.conflict.is_some() || !doc.field_conflicts.is_empty(),
        updated_at: agenda_updated_at(doc),
    }
}

/// The latest device time recorded anywhere in an agenda item.
pub fn agenda_updated_at(doc: &AgendaDoc) -> Timestamp {
    latest_time(
        &doc.created,
        doc.events.iter().map(|e| &e.by),
        &doc.comments,
        &doc.edits,
    )
}

/// What the hub indexes of a document, for the console's lists, the dashboard and the public
/// notices: computed from the document and the calendar only, like the tablet's projection.
#[derive(Debug, Clone, PartialEq)]
pub enum DocIndex {
    /// A request.
    Request(Box<RequestIndex>),
    /// An agenda item.
    Agenda(AgendaRow),
}

/// A request's index entry.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestIndex {
    /// The list row (the same as on a tablet).
    pub row: RequestRow,
    /// The applicant's name as stored, for the console's search only (lists show
    /// [`RequestRow::applicant_masked`]; the tablet's projection holds it likewise).
    pub applicant_name: String,
    /// The registered resident it belongs to.
    pub resident_user: Option<String>,
    /// When the request's clock ended with a decision, what the dashboard counts of it.
    pub decision: Option<Decision>,
    /// The applicant's satisfaction rating, if given.
    pub rating: Option<Rating>,
    /// The request's attachment references: which blobs (by SHA-256, with their media type
    /// and size) the readers of this request may download and its writers upload.
    pub attachments: Vec<AttachmentRef>,
}

/// How a decided request was decided, for the dashboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// The day the clock stopped (device time, China).
    pub on: chrono::NaiveDate,
    /// Whether that was within the deadline.
    pub on_time: bool,
    /// Working days from acceptance to that day, as the calendar counts them (time waiting for
    /// a supplement included).
    pub working_days: u32,
}

/// A document's index entry (see [`DocIndex`]).
pub fn index_of(decoded: &Decoded, calendar: &WorkingCalendar) -> DocIndex {
    match decoded {
        Decoded::Request(d) => {
            let derived = replay(&d.events, d.level);
            let clock = Clock::compute(&d.events, &derived, d.time_limit_days, calendar);
            let accepted_on = derived
                .path
                .iter()
                .find(|(_, s)| *s == Status::Accepted)
                .and_then(|(i, _)| d.events.get(*i))
                .map(|e| e.by.at.china_date());
            let decision = match (clock, accepted_on) {
                (Clock::Stopped { due, ended_on }, Some(from)) => Some(Decision {
                    on: ended_on,
                    on_time: ended_on <= due,
                    working_days: calendar.working_days_between(from, ended_on),
                }),
                _ => None,
            };
            DocIndex::Request(Box::new(RequestIndex {
                row: request_row_of(d, &derived, &clock),
                applicant_name: d.name.trim().to_string(),
                resident_user: d.resident_user.clone(),
                decision,
                rating: derived.rating,
                attachments: d.attachments.clone().unwrap_or_default(),
            }))
        }
        Decoded::Agenda(a) => DocIndex::Agenda(agenda_row_of(a, &replay_agenda(&a.events))),
    }
}
