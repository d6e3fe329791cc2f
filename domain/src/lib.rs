//! # Bianmin's domain rules
//!
//! Pure code, no I/O: the rules of `docs/domain.md` that the village tablet
//! (`bianmin-client-core`) and the township server (`bianmin-server`) both apply.
//!
//! - [`request`]: the service-request lifecycle, replayed from an append-only causal event log;
//!   concurrent decisions that disagree become a [`Conflict`] a person settles.
//! - [`deadline`]: the working-day [`Clock`] (stopped while waiting for supplement) on a
//!   [`WorkingCalendar`] loaded as data per year ([`calendar`]).
//! - [`agenda`]: "four discussions, two opens" with the quorum and majority rules.
//! - [`permission`]: one function per document kind answering "may this identity do this".
//! - [`personal`]: national ID numbers (GB 11643) and phone numbers, checked and masked.
//! - [`free_text`]: ID, mobile and bank-card numbers found in free text however they were
//!   typed (full-width, spaced, with `+86`), to star on public pages and in the console.
//! - [`catalog`]: service items, their typed attributes, and the village directory.
//! - [`materials`]: a request is accepted or approved only with every required material in
//!   hand or waived with a reason.
//! - [`receipt`]: receipt numbers unique across devices without asking the server.
//!
//! ```
//! use bianmin_domain::{demo, Clock, Status};
//! let cal = demo::calendar();
//! // Accepted on Tuesday 29 September 2026 with a limit of 5 working days: National Day
//! // (1 to 7 October) does not count, Saturday 10 October (调休) does.
//! let accepted: chrono::NaiveDate = "2026-09-29".parse().unwrap();
//! assert_eq!(cal.add_working_days(accepted, 5).to_string(), "2026-10-12");
//! # let _ = (Clock::NotStarted, Status::Draft);
//! ```

pub mod agenda;
pub mod attachment;
pub mod calendar;
pub mod catalog;
pub mod deadline;
pub mod demo;
mod error;
pub mod free_text;
pub mod identity;
pub mod labels;
pub mod materials;
pub mod permission;
pub mod personal;
pub mod receipt;
pub mod request;
mod time;

pub use agenda::{
    AgendaAction, AgendaEvent, AgendaState, Body, Meeting, MeetingResult, Notice, Objection,
    ReviewKind, Stage, replay_agenda,
};
pub use attachment::{AttachmentRef, MAX_ATTACHMENT_BYTES, MediaType};
pub use calendar::{
    CALENDAR_FIRST_DATE, CALENDAR_FIRST_YEAR, CALENDAR_LAST_DATE, CALENDAR_LAST_YEAR, Holiday,
    WorkingCalendar, YearCalendar, check_date_in_range,
};
pub use catalog::{
    AttrValue, AttributeSpec, AttributeType, Catalog, Directory, HandlingLevel,
    MAX_TIME_LIMIT_DAYS, ServiceItem, Village, check_time_limit,
};
pub use deadline::{Clock, Urgency};
pub use error::{PermissionError, RuleError, ValidationError};
pub use free_text::{
    PersonalNumber, PersonalNumberKind, find_personal_numbers, looks_personal,
    mask_personal_numbers,
};
pub use identity::{Identity, Role, township_of};
pub use materials::{check_materials, outstanding_materials};
pub use permission::{
    AgendaOp, Field, RequestOp, RequestScope, authorize_agenda, authorize_request,
};
pub use personal::{NationalId, Phone, mask_name, validate_name};
pub use receipt::{HUB_SERIES_DEVICE, ReceiptNo};
pub use request::{
    Action, Conflict, Derived, Event, EventId, Outcome, Rating, Stamp, Status, replay,
};
pub use time::{DEVICE_TIME_FLOOR, DEVICE_TIME_MAX_AHEAD_MS, Timestamp, check_device_time};
