//! The tablet and the hub decide every change with the same function
//! (`bianmin_document::check_push`), each with a `Context` of its own: the tablet's store with
//! what it holds (`LocalEnv`), the hub with its tables (`HubEnv`). This differential test checks
//! that the two contexts lead to the same decision, operation by operation.
//!
//! Random operations on requests and agenda items, many of them invalid (bad ID numbers,
//! phones, names, grids, attributes and materials; lifecycle events out of order; blank and
//! over-long comments; agenda records out of order or with impossible figures), are performed
//! by random people: the clerk of East Village, the clerk of West Village, a resident of East
//! Village and the reviewer of Taiping Town. For each operation:
//!
//! - the **tablet verdict**: the operation performed through a real client-core [`Store`] of
//!   that person, created with the identity, actor and device number of a device really
//!   enrolled at the hub ([`client::store_from_enrolment`]) and kept in step with the hub by
//!   real syncs. Ok or an error.
//! - the **hub verdict**: the same operation written into the hub's current copy of the
//!   document *without any check*, with the document crate's writer functions
//!   ([`bianmin_document::author`], [`bianmin_document::layout`]) in an `AutoCommit` with the
//!   device's actor, and the raw change bytes posted to `/api/v1/sync` of a real hub with the
//!   device's token. Accepted or refused.
//!
//! The two verdicts must be equal. The one documented exception: a tablet does not know the
//! hub's users (`Residence::Unknown`), so a filing that names as its resident someone who is
//! not a registered resident of the request's village passes on the tablet and is refused by
//! the hub (`invalid`, `resident_user: ...`). That case is generated on purpose and asserted
//! as exactly that.
//!
//! Keeping both sides on the same document: each person has two devices enrolled at the hub,
//! a tablet and a "raw" device. Both sign as the same user in the same role and area. The
//! tablet's store is never written to: every operation is tried on a copy of it (the verdict),
//! which is then thrown away, and the raw device's change is what the hub keeps when it
//! accepts; the tablet then syncs and so holds exactly what the hub holds before the next
//! operation. (One device for both would not do: the tablet's change and the raw change would
//! carry the same actor and sequence number with different contents, and after a filing both
//! would carry the same receipt number.)
//!
//! `PROPTEST_CASES` (default 64) sets the number of cases. A summary of what was accepted and
//! refused, by kind of operation, is printed at the end (`--nocapture` to see it).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use automerge::{ActorId, AutoCommit};
use bianmin_client_core::client::{self, sync};
use bianmin_client_core::protocol::{
    B64, EnrolRequest, EnrolResponse, PROTOCOL_VERSION, PushDoc, PushResult, SyncRequest,
    SyncResponse,
};
use bianmin_client_core::{AgendaEdit, FieldEdit, NewAgendaItem, NewRequest, Store};
use bianmin_document::author::{self, Author};
use bianmin_document::layout::agenda::AgendaDoc;
use bianmin_document::layout::request::RequestDoc;
use bianmin_document::{Decoded, Document, Reference, layout, limits};
use bianmin_domain::{
    Action, AgendaAction, AttrValue, AttributeType, Body, Identity, Meeting, NationalId, Notice,
    Objection, Phone, Rating, ReceiptNo, RequestOp, RequestScope, ReviewKind, Role, ServiceItem,
    Stage, Timestamp, authorize_request, replay, replay_agenda,
};
use bianmin_server::admin;
use bianmin_tests::hub::{CLERK, RESIDENT, REVIEWER, TestHub, quick};
use bianmin_tests::raw::post_json;
use bianmin_tests::{EAST, TAIPING};
use chrono::{Days, NaiveDate};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use uuid::Uuid;

/// West Village (Taiping Town), whose clerk is "the clerk of another village".
const WEST: &str = "370883101202";
const CLERK_WEST: &str = "clerk-west";

// ---------------------------------------------------------------------------------------------
// What is generated

/// Who performs an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Who {
    /// The clerk of East Village.
    Clerk,
    /// The clerk of West Village.
    OtherClerk,
    /// Resident Wang of East Village.
    Resident,
    /// The reviewer of Taiping Town.
    Reviewer,
}

impl Who {
    const ALL: [Who; 4] = [Who::Clerk, Who::OtherClerk, Who::Resident, Who::Reviewer];

    fn user(self) -> &'static str {
        match self {
            Who::Clerk => CLERK,
            Who::OtherClerk => CLERK_WEST,
            Who::Resident => RESIDENT,
            Who::Reviewer => REVIEWER,
        }
    }
}

/// A text as someone might type it; `render` gives it for a field of at most `max` characters.
#[derive(Debug, Clone, Copy)]
enum Text {
    Empty,
    Spaces,
    Normal,
    /// Normal, with surrounding spaces (the writer trims them).
    Padded,
    /// Exactly `max` characters.
    AtMax,
    /// `max + 1` characters.
    OverMax,
}

impl Text {
    fn render(self, normal: &str, max: usize) -> String {
        match self {
            Text::Empty => String::new(),
            Text::Spaces => "   ".into(),
            Text::Normal => normal.into(),
            Text::Padded => format!("  {normal} "),
            Text::AtMax => "字".repeat(max),
            Text::OverMax => "字".repeat(max + 1),
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Name {
    Plain,
    Padded,
    AtMax,
    Blank,
    OverMax,
}

#[derive(Debug, Clone, Copy)]
enum IdNo {
    Valid,
    /// Another valid number, its check digit computed.
    Computed,
    /// Valid, with a lower-case `x` and spaces (the writer normalises it).
    LowerCase,
    WrongCheckDigit,
    Short,
    /// The check digit is right but the 30th of February is no birth date.
    BadDate,
    Blank,
}

#[derive(Debug, Clone, Copy)]
enum PhoneNo {
    Mobile,
    /// `138-1234-5678` (the writer keeps the digits).
    Dashed,
    Landline,
    BadPrefix,
    TenDigits,
    Letters,
    Blank,
}

#[derive(Debug, Clone, Copy)]
enum Grid {
    One,
    Two,
    /// East Village has a 3组, West Village has not.
    Three,
    Padded,
    Unknown,
    Blank,
}

/// One attribute's value, against its specification.
#[derive(Debug, Clone, Copy)]
enum Attr {
    Valid(u8),
    Missing,
    WrongType,
    /// Of the right type but not acceptable (blank, not a date, not in the list, not finite).
    Bad(u8),
}

/// Whom a filing names as its resident.
#[derive(Debug, Clone, Copy)]
enum Named {
    Nobody,
    /// Resident Wang (registered in East Village).
    Wang,
    /// A user who is not a resident (the clerk of East Village).
    NotAResident,
    /// A user the hub does not have.
    Unknown,
    Blank,
    /// 101 characters.
    TooLong,
}

#[derive(Debug, Clone)]
struct Filing {
    /// The catalog item, modulo the number of items plus one (the last: a code not in it).
    item: u8,
    name: Name,
    id_number: IdNo,
    phone: PhoneNo,
    grid: Grid,
    attributes: [Attr; 2],
    extra_attribute: bool,
    /// Which of the item's materials were received (a bit each).
    materials: u8,
    foreign_material: bool,
    resident: Named,
    submit: bool,
}

#[derive(Debug, Clone, Copy)]
enum Missing {
    OneMaterial,
    TwoMaterials,
    Empty,
    Blank,
    Twice,
}

#[derive(Debug, Clone, Copy)]
enum Provided {
    AsAsked,
    Nothing,
    Other,
}

/// A lifecycle event.
#[derive(Debug, Clone)]
enum Act {
    /// A step a person at the screen would most likely take on the request as it stands (valid
    /// for the workflow; allowed for the person if any such step is).
    Natural(u8),
    Submit,
    Accept,
    RefuseToAccept(Text),
    Complete,
    Forward,
    Return(Missing, Text),
    Supplement(Provided),
    Approve(Text),
    Reject(Text),
    Deliver,
    Withdraw(Text),
    Rate(u8, Text),
    /// Waive a material of the item (the slot past the last: one it does not list).
    Waive(u8, Text),
    Settle(Text),
}

#[derive(Debug, Clone, Copy)]
enum EditOf {
    Name(Name),
    IdNumber(IdNo),
    Phone(PhoneNo),
    Grid(Grid),
    /// An attribute of the item (the slot past the last: one it does not have); `None` clears.
    Attribute(u8, Option<Attr>),
    /// A material of the item (the slot past the last: one it does not list).
    Material(u8, bool),
}

#[derive(Debug, Clone, Copy)]
enum MeetingShape {
    Passes,
    NoQuorum,
    NotAdopted,
    PresentOverEntitled,
    VotesOverPresent,
    BlankMinutes,
    NobodyEntitled,
    HouseholdsWithoutRepresented,
}

#[derive(Debug, Clone, Copy)]
enum When {
    Next,
    BeforePrevious,
    OutOfRange,
}

#[derive(Debug, Clone, Copy)]
enum NoticeShape {
    Good,
    BlankText,
    NoDays,
    YearAndADay,
    Early,
    OutOfRange,
}

#[derive(Debug, Clone, Copy)]
enum ObjectionShape {
    WhilePosted,
    Later,
    BlankSummary,
}

/// An agenda record.
#[derive(Debug, Clone)]
enum Record {
    /// The record the item waits for (the next meeting or notice), an objection while a notice
    /// is posted, or a township comment.
    Natural(u8),
    Meeting(u8, MeetingShape, When),
    ResolutionNotice(NoticeShape),
    ResultsNotice(NoticeShape),
    Objection(ObjectionShape),
    Review(u8, Text),
    Settle(Text),
}

#[derive(Debug, Clone, Copy)]
struct AgendaText {
    title: Text,
    category: Text,
    description: Text,
}

#[derive(Debug, Clone)]
enum Op {
    /// The request's next step (see [`Act::Natural`]), by the first person it is allowed to.
    Advance(u8, u8),
    /// The agenda item's next record (see [`Record::Natural`]), by the clerk of its village
    /// (a township review: by the reviewer).
    AdvanceAgenda(u8, u8),
    File(Who, Filing),
    Act(Who, u8, Act),
    Edit(Who, u8, EditOf),
    Comment(Who, u8, Text),
    OpenAgenda(Who, AgendaText),
    Record(Who, u8, Record),
    EditAgenda(Who, u8, u8, Text),
    CommentAgenda(Who, u8, Text),
}

impl Op {
    /// Who performs it (`None`: decided against the document).
    fn who(&self) -> Option<Who> {
        Some(match self {
            Op::Advance(..) | Op::AdvanceAgenda(..) => return None,
            Op::File(w, ..)
            | Op::Act(w, ..)
            | Op::Edit(w, ..)
            | Op::Comment(w, ..)
            | Op::OpenAgenda(w, ..)
            | Op::Record(w, ..)
            | Op::EditAgenda(w, ..)
            | Op::CommentAgenda(w, ..) => *w,
        })
    }
}

fn who() -> impl Strategy<Value = Who> {
    prop_oneof![
        5 => Just(Who::Clerk),
        1 => Just(Who::OtherClerk),
        2 => Just(Who::Resident),
        3 => Just(Who::Reviewer),
    ]
}

/// Mostly the one person who may edit (East Village's clerk), now and then anyone else.
fn editor() -> impl Strategy<Value = Who> {
    prop_oneof![
        6 => Just(Who::Clerk),
        1 => Just(Who::OtherClerk),
        1 => Just(Who::Resident),
        1 => Just(Who::Reviewer),
    ]
}

fn text() -> impl Strategy<Value = Text> {
    prop_oneof![
        1 => Just(Text::Empty),
        1 => Just(Text::Spaces),
        8 => Just(Text::Normal),
        1 => Just(Text::Padded),
        1 => Just(Text::AtMax),
        1 => Just(Text::OverMax),
    ]
}

fn name(valid: bool) -> BoxedStrategy<Name> {
    if valid {
        prop_oneof![6 => Just(Name::Plain), 1 => Just(Name::Padded), 1 => Just(Name::AtMax)].boxed()
    } else {
        prop_oneof![
            6 => Just(Name::Plain),
            1 => Just(Name::Padded),
            1 => Just(Name::AtMax),
            1 => Just(Name::Blank),
            1 => Just(Name::OverMax),
        ]
        .boxed()
    }
}

fn id_no(valid: bool) -> BoxedStrategy<IdNo> {
    let good = prop_oneof![
        4 => Just(IdNo::Valid),
        2 => Just(IdNo::Computed),
        1 => Just(IdNo::LowerCase),
    ];
    if valid {
        good.boxed()
    } else {
        prop_oneof![
            7 => good,
            1 => Just(IdNo::WrongCheckDigit),
            1 => Just(IdNo::Short),
            1 => Just(IdNo::BadDate),
            1 => Just(IdNo::Blank),
        ]
        .boxed()
    }
}

fn phone(valid: bool) -> BoxedStrategy<PhoneNo> {
    let good = prop_oneof![
        4 => Just(PhoneNo::Mobile),
        1 => Just(PhoneNo::Dashed),
        1 => Just(PhoneNo::Landline),
    ];
    if valid {
        good.boxed()
    } else {
        prop_oneof![
            6 => good,
            1 => Just(PhoneNo::BadPrefix),
            1 => Just(PhoneNo::TenDigits),
            1 => Just(PhoneNo::Letters),
            1 => Just(PhoneNo::Blank),
        ]
        .boxed()
    }
}

fn grid(valid: bool) -> BoxedStrategy<Grid> {
    let good = prop_oneof![3 => Just(Grid::One), 2 => Just(Grid::Two), 1 => Just(Grid::Padded)];
    if valid {
        good.boxed()
    } else {
        prop_oneof![
            6 => good,
            2 => Just(Grid::Three),
            1 => Just(Grid::Unknown),
            1 => Just(Grid::Blank),
        ]
        .boxed()
    }
}

fn attr(valid: bool) -> BoxedStrategy<Attr> {
    if valid {
        any::<u8>().prop_map(Attr::Valid).boxed()
    } else {
        prop_oneof![
            7 => any::<u8>().prop_map(Attr::Valid),
            1 => Just(Attr::Missing),
            1 => Just(Attr::WrongType),
            1 => any::<u8>().prop_map(Attr::Bad),
        ]
        .boxed()
    }
}

fn resident(valid: bool) -> BoxedStrategy<Named> {
    if valid {
        prop_oneof![2 => Just(Named::Nobody), 1 => Just(Named::Wang)].boxed()
    } else {
        prop_oneof![
            12 => Just(Named::Nobody),
            3 => Just(Named::Wang),
            1 => Just(Named::NotAResident),
            1 => Just(Named::Unknown),
            1 => Just(Named::Blank),
            1 => Just(Named::TooLong),
        ]
        .boxed()
    }
}

/// A filing, every field valid when `valid` (or flawed here and there otherwise).
fn filing(valid: bool) -> impl Strategy<Value = Filing> {
    let flag = move |p: f64| {
        if valid {
            Just(false).boxed()
        } else {
            proptest::bool::weighted(p).boxed()
        }
    };
    (
        (
            0..=u8::MAX,
            name(valid),
            id_no(valid),
            phone(valid),
            grid(valid),
        ),
        (
            [attr(valid), attr(valid)],
            flag(0.08),
            any::<u8>(),
            flag(0.08),
            resident(valid),
            proptest::bool::weighted(0.85),
        ),
    )
        .prop_map(
            |(
                (item, name, id_number, phone, grid),
                (attributes, extra_attribute, materials, foreign_material, resident, submit),
            )| Filing {
                item,
                name,
                id_number,
                phone,
                grid,
                attributes,
                extra_attribute,
                materials,
                foreign_material,
                resident,
                submit,
            },
        )
}

fn act() -> impl Strategy<Value = Act> {
    let missing = prop_oneof![
        4 => Just(Missing::OneMaterial),
        2 => Just(Missing::TwoMaterials),
        1 => Just(Missing::Empty),
        1 => Just(Missing::Blank),
        1 => Just(Missing::Twice),
    ];
    let provided = prop_oneof![
        4 => Just(Provided::AsAsked),
        1 => Just(Provided::Nothing),
        1 => Just(Provided::Other),
    ];
    prop_oneof![
        30 => any::<u8>().prop_map(Act::Natural),
        1 => Just(Act::Submit),
        2 => Just(Act::Accept),
        1 => text().prop_map(Act::RefuseToAccept),
        1 => Just(Act::Complete),
        2 => Just(Act::Forward),
        2 => (missing, text()).prop_map(|(m, t)| Act::Return(m, t)),
        2 => provided.prop_map(Act::Supplement),
        2 => text().prop_map(Act::Approve),
        1 => text().prop_map(Act::Reject),
        1 => Just(Act::Deliver),
        1 => text().prop_map(Act::Withdraw),
        1 => (0..5u8, text()).prop_map(|(r, t)| Act::Rate(r, t)),
        1 => text().prop_map(Act::Settle),
        2 => (0..6u8, text()).prop_map(|(m, t)| Act::Waive(m, t)),
    ]
}

fn edit_of() -> impl Strategy<Value = EditOf> {
    prop_oneof![
        2 => name(false).prop_map(EditOf::Name),
        2 => id_no(false).prop_map(EditOf::IdNumber),
        2 => phone(false).prop_map(EditOf::Phone),
        2 => grid(false).prop_map(EditOf::Grid),
        3 => (any::<u8>(), proptest::option::weighted(0.85, attr(false)))
            .prop_map(|(s, v)| EditOf::Attribute(s, v)),
        3 => (any::<u8>(), any::<bool>()).prop_map(|(s, r)| EditOf::Material(s, r)),
    ]
}

fn agenda_text(valid: bool) -> BoxedStrategy<AgendaText> {
    if valid {
        Just(AgendaText {
            title: Text::Normal,
            category: Text::Normal,
            description: Text::Normal,
        })
        .boxed()
    } else {
        (text(), text(), text())
            .prop_map(|(title, category, description)| AgendaText {
                title,
                category,
                description,
            })
            .boxed()
    }
}

fn record() -> impl Strategy<Value = Record> {
    let shape = prop_oneof![
        8 => Just(MeetingShape::Passes),
        2 => Just(MeetingShape::NoQuorum),
        2 => Just(MeetingShape::NotAdopted),
        1 => Just(MeetingShape::PresentOverEntitled),
        1 => Just(MeetingShape::VotesOverPresent),
        1 => Just(MeetingShape::BlankMinutes),
        1 => Just(MeetingShape::NobodyEntitled),
        1 => Just(MeetingShape::HouseholdsWithoutRepresented),
    ];
    let when = prop_oneof![
        6 => Just(When::Next),
        1 => Just(When::BeforePrevious),
        1 => Just(When::OutOfRange),
    ];
    let notice = || {
        prop_oneof![
            6 => Just(NoticeShape::Good),
            1 => Just(NoticeShape::BlankText),
            1 => Just(NoticeShape::NoDays),
            1 => Just(NoticeShape::YearAndADay),
            1 => Just(NoticeShape::Early),
            1 => Just(NoticeShape::OutOfRange),
        ]
    };
    let objection = prop_oneof![
        3 => Just(ObjectionShape::WhilePosted),
        1 => Just(ObjectionShape::Later),
        1 => Just(ObjectionShape::BlankSummary),
    ];
    prop_oneof![
        20 => any::<u8>().prop_map(Record::Natural),
        4 => (any::<u8>(), shape, when).prop_map(|(b, s, w)| Record::Meeting(b, s, w)),
        2 => notice().prop_map(Record::ResolutionNotice),
        2 => notice().prop_map(Record::ResultsNotice),
        2 => objection.prop_map(Record::Objection),
        2 => (any::<u8>(), text()).prop_map(|(k, t)| Record::Review(k, t)),
        1 => text().prop_map(Record::Settle),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (any::<u8>(), any::<u8>()).prop_map(|(p, n)| Op::Advance(p, n)),
        5 => (any::<u8>(), any::<u8>()).prop_map(|(p, n)| Op::AdvanceAgenda(p, n)),
        1 => (who(), filing(true)).prop_map(|(w, f)| Op::File(w, f)),
        2 => (who(), filing(false)).prop_map(|(w, f)| Op::File(w, f)),
        8 => (who(), any::<u8>(), act()).prop_map(|(w, p, a)| Op::Act(w, p, a)),
        3 => (editor(), any::<u8>(), edit_of()).prop_map(|(w, p, e)| Op::Edit(w, p, e)),
        2 => (who(), any::<u8>(), text()).prop_map(|(w, p, t)| Op::Comment(w, p, t)),
        1 => (who(), agenda_text(false)).prop_map(|(w, t)| Op::OpenAgenda(w, t)),
        4 => (who(), any::<u8>(), record()).prop_map(|(w, p, r)| Op::Record(w, p, r)),
        1 => (editor(), any::<u8>(), 0..3u8, text()).prop_map(|(w, p, f, t)| Op::EditAgenda(w, p, f, t)),
        1 => (who(), any::<u8>(), text()).prop_map(|(w, p, t)| Op::CommentAgenda(w, p, t)),
    ]
}

/// A case: East Village's clerk files a valid request and opens a valid agenda item, both are
/// taken a random number of steps along their way (so that the operations after them meet
/// every status and stage), then random operations.
fn case() -> impl Strategy<Value = Vec<Op>> {
    // Picks under 192 choose the case's first document; these choose progress.
    let request_steps = prop::collection::vec((0..192u8, 0..2u8), 0..=4);
    let agenda_steps = prop::collection::vec((0..192u8, 0..7u8), 0..=7);
    (
        filing(true),
        agenda_text(true),
        request_steps,
        agenda_steps,
        prop::collection::vec(op(), 4..=10),
    )
        .prop_map(|(f, a, steps, records, ops)| {
            let mut case = vec![Op::File(Who::Clerk, f), Op::OpenAgenda(Who::Clerk, a)];
            case.extend(
                steps
                    .into_iter()
                    .map(|(pick, n)| Op::Advance(pick, 1 + n % 2)),
            );
            case.extend(
                records
                    .into_iter()
                    .map(|(pick, n)| Op::AdvanceAgenda(pick, n)),
            );
            case.extend(ops);
            case
        })
}

// ---------------------------------------------------------------------------------------------
// Operations made concrete against the document as it stands

/// An operation with every value decided, performed the same way on both sides.
#[derive(Debug, Clone)]
enum Concrete {
    File(NewRequest),
    Event(Uuid, Action),
    Edit(Uuid, FieldEdit),
    Comment(Uuid, String),
    OpenAgenda(NewAgendaItem),
    Record(Uuid, AgendaAction),
    EditAgenda(Uuid, AgendaEdit),
    CommentAgenda(Uuid, String),
}

impl Concrete {
    fn kind(&self) -> &'static str {
        match self {
            Concrete::File(_) => "file request",
            Concrete::Event(_, a) => match a {
                Action::Submit => "event submit",
                Action::Accept => "event accept",
                Action::RefuseToAccept { .. } => "event refuse_to_accept",
                Action::Complete => "event complete",
                Action::Forward => "event forward",
                Action::ReturnForSupplement { .. } => "event return_for_supplement",
                Action::Supplement { .. } => "event supplement",
                Action::Approve { .. } => "event approve",
                Action::Reject { .. } => "event reject",
                Action::Deliver => "event deliver",
                Action::Withdraw { .. } => "event withdraw",
                Action::Rate { .. } => "event rate",
                Action::WaiveMaterial { .. } => "event waive_material",
                Action::Settle { .. } => "event settle",
            },
            Concrete::Edit(..) => "edit field",
            Concrete::Comment(..) => "comment request",
            Concrete::OpenAgenda(_) => "open agenda item",
            Concrete::Record(_, a) => match a {
                AgendaAction::Meeting(_) => "agenda meeting",
                AgendaAction::ResolutionNotice(_) => "agenda resolution_notice",
                AgendaAction::Objection(_) => "agenda objection",
                AgendaAction::ResultsNotice(_) => "agenda results_notice",
                AgendaAction::TownshipReview { .. } => "agenda township_review",
                AgendaAction::Settle { .. } => "agenda settle",
            },
            Concrete::EditAgenda(..) => "edit agenda item",
            Concrete::CommentAgenda(..) => "comment agenda item",
        }
    }

    fn doc(&self) -> Option<Uuid> {
        match self {
            Concrete::File(_) | Concrete::OpenAgenda(_) => None,
            Concrete::Event(id, _)
            | Concrete::Edit(id, _)
            | Concrete::Comment(id, _)
            | Concrete::Record(id, _)
            | Concrete::EditAgenda(id, _)
            | Concrete::CommentAgenda(id, _) => Some(*id),
        }
    }
}

/// The ID number's check digit (GB 11643) after 17 digits.
fn with_check_digit(first17: &str) -> String {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = first17
        .bytes()
        .zip(WEIGHTS)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    let check = b"10X98765432"[(sum % 11) as usize] as char;
    format!("{first17}{check}")
}

impl Name {
    fn render(self) -> String {
        match self {
            Name::Plain => "王秀英".into(),
            Name::Padded => " 李建国  ".into(),
            Name::AtMax => "名".repeat(50),
            Name::Blank => "  ".into(),
            Name::OverMax => "名".repeat(51),
        }
    }
}

impl IdNo {
    fn render(self) -> String {
        match self {
            IdNo::Valid => "11010519491231002X".into(),
            IdNo::Computed => with_check_digit("37088319880517001"),
            IdNo::LowerCase => " 11010519491231002x ".into(),
            IdNo::WrongCheckDigit => "110105194912310021".into(),
            IdNo::Short => "11010519491231".into(),
            IdNo::BadDate => with_check_digit("37088319880230001"),
            IdNo::Blank => String::new(),
        }
    }
}

impl PhoneNo {
    fn render(self) -> String {
        match self {
            PhoneNo::Mobile => "13812345678".into(),
            PhoneNo::Dashed => "139-0000-1111".into(),
            PhoneNo::Landline => "0531-88887777".into(),
            PhoneNo::BadPrefix => "12812345678".into(),
            PhoneNo::TenDigits => "1381234567".into(),
            PhoneNo::Letters => "phone".into(),
            PhoneNo::Blank => String::new(),
        }
    }
}

impl Grid {
    fn render(self) -> String {
        match self {
            Grid::One => "1组".into(),
            Grid::Two => "2组".into(),
            Grid::Three => "3组".into(),
            Grid::Padded => " 1组 ".into(),
            Grid::Unknown => "9组".into(),
            Grid::Blank => String::new(),
        }
    }
}

impl Attr {
    /// The value for `spec`, `None` when missing.
    fn render(self, spec: &bianmin_domain::AttributeSpec) -> Option<AttrValue> {
        use AttributeType as T;
        Some(match (self, spec.datatype) {
            (Attr::Missing, _) => return None,
            (Attr::Valid(n), T::Number) => AttrValue::Number(f64::from(n % 9 + 1)),
            (Attr::Valid(n), T::String) => AttrValue::Text(format!("A-{n}")),
            (Attr::Valid(n), T::Text) => AttrValue::Text(format!("说明 {n}")),
            (Attr::Valid(n), T::Datetime) => {
                AttrValue::Text(format!("2026-{:02}-{:02}", n % 12 + 1, n % 28 + 1))
            }
            (Attr::Valid(n), T::Singlevaluelist) => {
                AttrValue::Text(spec.values[usize::from(n) % spec.values.len()].clone())
            }
            (Attr::WrongType, T::Number) => AttrValue::Text("three".into()),
            (Attr::WrongType, _) => AttrValue::Number(3.0),
            (Attr::Bad(n), T::Number) => AttrValue::Number(match n % 3 {
                0 => f64::NAN,
                1 => f64::INFINITY,
                _ => f64::NEG_INFINITY,
            }),
            (Attr::Bad(n), T::String) if n % 2 == 0 => AttrValue::Text("x".repeat(201)),
            (Attr::Bad(_), T::String | T::Text) => AttrValue::Text("  ".into()),
            (Attr::Bad(n), T::Datetime) => {
                AttrValue::Text(if n % 2 == 0 { "2026-13-01" } else { "tomorrow" }.into())
            }
            (Attr::Bad(_), T::Singlevaluelist) => AttrValue::Text("not one of them".into()),
        })
    }
}

fn item_of<'a>(reference: &'a Reference, code: &str) -> Option<&'a ServiceItem> {
    reference.catalog.item(code)
}

/// The materials of an item, or one when it lists none.
fn materials_of(item: Option<&ServiceItem>) -> Vec<String> {
    match item {
        Some(i) if !i.materials.is_empty() => i.materials.clone(),
        _ => vec!["ID card".into()],
    }
}

/// The day agenda dates start from.
fn base_date() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 6, 1).expect("a date")
}

fn plus(d: NaiveDate, n: u64) -> NaiveDate {
    d.checked_add_days(Days::new(n)).expect("a date")
}

fn minus(d: NaiveDate, n: u64) -> NaiveDate {
    d.checked_sub_days(Days::new(n)).expect("a date")
}

/// The latest date an agenda item's records carry (meetings, notices, objections).
fn last_date(d: &AgendaDoc) -> NaiveDate {
    d.events
        .iter()
        .filter_map(|e| match &e.action {
            AgendaAction::Meeting(m) => Some(m.held_on),
            AgendaAction::ResolutionNotice(n) | AgendaAction::ResultsNotice(n) => Some(n.posted_on),
            AgendaAction::Objection(o) => Some(o.received_on),
            _ => None,
        })
        .max()
        .unwrap_or(base_date())
}

/// The notice of event `i`, if it is one.
fn notice_at(d: &AgendaDoc, i: Option<usize>) -> Option<Notice> {
    match &d.events.get(i?)?.action {
        AgendaAction::ResolutionNotice(n) | AgendaAction::ResultsNotice(n) => Some(n.clone()),
        _ => None,
    }
}

fn meeting(body: Body, held_on: NaiveDate, shape: MeetingShape) -> Meeting {
    let entitled: u32 = match body {
        Body::PartyBranch => 5,
        Body::TwoCommittees => 9,
        Body::PartyMembers => 30,
        Body::VillagersMeeting => 400,
        Body::RepresentativesMeeting => 35,
    };
    let present = entitled - entitled / 5;
    let mut m = Meeting {
        body,
        held_on,
        entitled,
        present,
        households: None,
        households_represented: None,
        votes_for: present - 1,
        votes_against: 0,
        abstentions: 1,
        minutes: "会议记录：与会人员一致同意。".into(),
        sign_in_photos: vec!["sign-in-sheet".into()],
    };
    match shape {
        MeetingShape::Passes => {}
        MeetingShape::NoQuorum => {
            m.present = entitled / 3;
            m.votes_for = m.present;
            m.abstentions = 0;
        }
        MeetingShape::NotAdopted => {
            m.votes_for = 0;
            m.votes_against = present;
            m.abstentions = 0;
        }
        MeetingShape::PresentOverEntitled => m.present = entitled + 1,
        MeetingShape::VotesOverPresent => m.votes_against = 2,
        MeetingShape::BlankMinutes => m.minutes = "  ".into(),
        MeetingShape::NobodyEntitled => {
            m.entitled = 0;
            m.present = 0;
            m.votes_for = 0;
            m.abstentions = 0;
        }
        MeetingShape::HouseholdsWithoutRepresented => m.households = Some(412),
    }
    m
}

fn body_of(stage: Stage, pick: u8) -> Body {
    match stage {
        Stage::Proposal => Body::PartyBranch,
        Stage::Consultation => Body::TwoCommittees,
        Stage::Review => Body::PartyMembers,
        _ if pick.is_multiple_of(2) => Body::RepresentativesMeeting,
        _ => Body::VillagersMeeting,
    }
}

fn notice(text: &str, posted_on: NaiveDate) -> Notice {
    Notice {
        text: text.into(),
        posted_on,
        period_days: 10,
        place: "村务公开栏".into(),
    }
}

/// The record an agenda item waits for, or an objection, or a township comment.
fn natural_record(d: &AgendaDoc, pick: u8) -> AgendaAction {
    let state = replay_agenda(&d.events);
    let last = last_date(d);
    let posted =
        notice_at(d, state.results_notice).or_else(|| notice_at(d, state.resolution_notice));
    match (pick % 10, posted) {
        (7 | 8, Some(n)) => {
            return AgendaAction::Objection(Objection {
                received_on: plus(n.posted_on, 1),
                summary: "对补偿标准有疑问".into(),
                response: String::new(),
            });
        }
        (9, _) => {
            return AgendaAction::TownshipReview {
                review: ReviewKind::Comment,
                comment: "镇里已阅".into(),
            };
        }
        _ => {}
    }
    match state.stage {
        Stage::Proposal | Stage::Consultation | Stage::Review | Stage::Resolution => {
            AgendaAction::Meeting(meeting(
                body_of(state.stage, pick / 10),
                plus(last, 1),
                MeetingShape::Passes,
            ))
        }
        Stage::ResolutionNotice => {
            AgendaAction::ResolutionNotice(notice("决议内容", plus(last, 1)))
        }
        Stage::ResultsNotice => {
            let ends = notice_at(d, state.resolution_notice).map_or(last, |n| n.ends_on());
            AgendaAction::ResultsNotice(notice("实施结果", plus(last.max(ends), 1)))
        }
        Stage::Done => AgendaAction::TownshipReview {
            review: ReviewKind::Recorded,
            comment: "已备案".into(),
        },
    }
}

fn record_action(d: &AgendaDoc, r: &Record) -> AgendaAction {
    let state = replay_agenda(&d.events);
    let last = last_date(d);
    let notice_shaped = |shape: NoticeShape, text: &str, good: NaiveDate| {
        let mut n = notice(text, good);
        match shape {
            NoticeShape::Good => {}
            NoticeShape::BlankText => n.text = " ".into(),
            NoticeShape::NoDays => n.period_days = 0,
            NoticeShape::YearAndADay => n.period_days = 366,
            NoticeShape::Early => n.posted_on = minus(last, 30),
            NoticeShape::OutOfRange => n.posted_on = NaiveDate::from_ymd_opt(2101, 1, 1).unwrap(),
        }
        n
    };
    match r {
        Record::Natural(pick) => natural_record(d, *pick),
        Record::Meeting(b, shape, when) => {
            let body = match b % 6 {
                0 => Body::PartyBranch,
                1 => Body::TwoCommittees,
                2 => Body::PartyMembers,
                3 => Body::VillagersMeeting,
                4 => Body::RepresentativesMeeting,
                // Mostly the body the item waits for.
                _ => body_of(state.stage, *b),
            };
            let held_on = match when {
                When::Next => plus(last, 1),
                When::BeforePrevious => minus(last, 10),
                When::OutOfRange => NaiveDate::from_ymd_opt(1999, 12, 31).unwrap(),
            };
            AgendaAction::Meeting(meeting(body, held_on, *shape))
        }
        Record::ResolutionNotice(shape) => {
            AgendaAction::ResolutionNotice(notice_shaped(*shape, "决议内容", plus(last, 1)))
        }
        Record::ResultsNotice(shape) => {
            let ends = notice_at(d, state.resolution_notice).map_or(last, |n| n.ends_on());
            AgendaAction::ResultsNotice(notice_shaped(*shape, "实施结果", plus(last.max(ends), 1)))
        }
        Record::Objection(shape) => {
            let posted = notice_at(d, state.results_notice)
                .or_else(|| notice_at(d, state.resolution_notice));
            let while_posted = posted.map_or(plus(last, 1), |n| plus(n.posted_on, 1));
            let (received_on, summary) = match shape {
                ObjectionShape::WhilePosted => (while_posted, "对补偿标准有疑问"),
                ObjectionShape::Later => (plus(last, 400), "对补偿标准有疑问"),
                ObjectionShape::BlankSummary => (while_posted, "  "),
            };
            AgendaAction::Objection(Objection {
                received_on,
                summary: summary.into(),
                response: String::new(),
            })
        }
        Record::Review(k, t) => AgendaAction::TownshipReview {
            review: match k % 3 {
                0 => ReviewKind::Reviewed,
                1 => ReviewKind::Recorded,
                _ => ReviewKind::Comment,
            },
            comment: t.render("镇里意见", 2000),
        },
        Record::Settle(t) => AgendaAction::Settle {
            keep: d
                .events
                .first()
                .map_or_else(bianmin_domain::EventId::new, |e| e.id),
            note: t.render("保留第一条", 2000),
        },
    }
}

/// The steps the workflow allows on the request as it stands, the one that gets it furthest
/// first.
fn next_steps(d: &RequestDoc, item: Option<&ServiceItem>) -> Vec<Action> {
    let derived = replay(&d.events, d.level);
    let candidates = vec![
        Action::Submit,
        Action::Accept,
        Action::Forward,
        Action::Complete,
        Action::Approve {
            note: "符合条件".into(),
        },
        Action::Deliver,
        Action::Supplement {
            provided: derived.missing.clone(),
        },
        Action::ReturnForSupplement {
            missing: materials_of(item).into_iter().take(1).collect(),
            note: "请补交".into(),
        },
        Action::Rate {
            rating: Rating::Satisfied,
            comment: String::new(),
        },
        Action::WaiveMaterial {
            material: materials_of(item)
                .into_iter()
                .find(|m| !d.materials.contains(m))
                .unwrap_or_else(|| "ID card".into()),
            reason: "申请人年迈，村委会出具证明".into(),
        },
        Action::RefuseToAccept {
            reason: "不属于本村受理范围".into(),
        },
        Action::Reject {
            reason: "收入超过标准".into(),
        },
        Action::Withdraw {
            reason: "申请人撤回".into(),
        },
    ];
    candidates
        .into_iter()
        .filter(|a| derived.check(a, d.level).is_ok())
        .collect()
}

/// Whether `me` may append `action` to the request as it stands.
fn may(me: &Identity, d: &RequestDoc, action: &Action) -> bool {
    let scope = RequestScope {
        village: &d.village,
        resident_user: d.resident_user.as_deref(),
    };
    let status = replay(&d.events, d.level).status;
    authorize_request(me, scope, RequestOp::Append(action, status)).is_ok()
}

/// Two times out of three the first of `n` choices (the furthest step), else any.
fn progress(n: usize, pick: u8) -> usize {
    if !pick.is_multiple_of(3) {
        0
    } else {
        usize::from(pick / 3) % n
    }
}

/// A step a person would most likely take on the request as it stands: one the workflow
/// allows and, if any such step is allowed to `me`, one of those.
fn natural_act(d: &RequestDoc, item: Option<&ServiceItem>, me: &Identity, pick: u8) -> Action {
    let valid = next_steps(d, item);
    let allowed: Vec<&Action> = valid.iter().filter(|a| may(me, d, a)).collect();
    let pool: Vec<&Action> = if !allowed.is_empty() {
        allowed
    } else {
        valid.iter().collect()
    };
    if pool.is_empty() {
        return Action::Submit;
    }
    pool[progress(pool.len(), pick)].clone()
}

fn explicit_act(d: &RequestDoc, item: Option<&ServiceItem>, a: &Act) -> Action {
    let derived = replay(&d.events, d.level);
    let reason = |t: &Text| t.render("理由说明", 2000);
    match a {
        Act::Natural(_) => unreachable!("resolved by natural_act"),
        Act::Submit => Action::Submit,
        Act::Accept => Action::Accept,
        Act::RefuseToAccept(t) => Action::RefuseToAccept { reason: reason(t) },
        Act::Complete => Action::Complete,
        Act::Forward => Action::Forward,
        Act::Return(m, t) => {
            let materials = materials_of(item);
            let missing = match m {
                Missing::OneMaterial => materials.into_iter().take(1).collect(),
                Missing::TwoMaterials => materials.into_iter().take(2).collect(),
                Missing::Empty => vec![],
                Missing::Blank => vec![" ".into()],
                Missing::Twice => vec![materials[0].clone(), materials[0].clone()],
            };
            Action::ReturnForSupplement {
                missing,
                note: reason(t),
            }
        }
        Act::Supplement(p) => Action::Supplement {
            provided: match p {
                Provided::AsAsked => derived.missing.clone(),
                Provided::Nothing => vec![],
                Provided::Other => vec!["Something else".into()],
            },
        },
        Act::Approve(t) => Action::Approve { note: reason(t) },
        Act::Reject(t) => Action::Reject { reason: reason(t) },
        Act::Deliver => Action::Deliver,
        Act::Withdraw(t) => Action::Withdraw { reason: reason(t) },
        Act::Rate(r, t) => Action::Rate {
            rating: [
                Rating::VerySatisfied,
                Rating::Satisfied,
                Rating::BasicallySatisfied,
                Rating::Dissatisfied,
                Rating::VeryDissatisfied,
            ][usize::from(*r) % 5],
            comment: reason(t),
        },
        Act::Waive(m, t) => {
            let materials = materials_of(item);
            Action::WaiveMaterial {
                material: materials
                    .get(usize::from(*m))
                    .cloned()
                    .unwrap_or_else(|| "Something else".into()),
                reason: reason(t),
            }
        }
        Act::Settle(t) => Action::Settle {
            keep: d
                .events
                .last()
                .map_or_else(bianmin_domain::EventId::new, |e| e.id),
            note: reason(t),
        },
    }
}

fn field_edit(item: Option<&ServiceItem>, e: &EditOf) -> FieldEdit {
    match e {
        EditOf::Name(n) => FieldEdit::ApplicantName(n.render()),
        EditOf::IdNumber(i) => FieldEdit::IdNumber(i.render()),
        EditOf::Phone(p) => FieldEdit::Phone(p.render()),
        EditOf::Grid(g) => FieldEdit::Grid(g.render()),
        EditOf::Attribute(slot, value) => {
            let specs = item.map(|i| i.attributes.as_slice()).unwrap_or_default();
            match specs.get(usize::from(*slot) % (specs.len() + 1)) {
                Some(spec) => FieldEdit::Attribute {
                    code: spec.code.clone(),
                    value: value.and_then(|v| v.render(spec)),
                },
                None => FieldEdit::Attribute {
                    code: "no_such_attribute".into(),
                    value: value.map(|_| AttrValue::Text("x".into())),
                },
            }
        }
        EditOf::Material(slot, received) => {
            let materials = item.map(|i| i.materials.as_slice()).unwrap_or_default();
            let name = materials
                .get(usize::from(*slot) % (materials.len() + 1))
                .cloned()
                .unwrap_or_else(|| "Not a material".into());
            FieldEdit::Material {
                name,
                received: *received,
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The hub, the people and their devices

fn post(url: &str, token: Option<&str>, body: &[u8]) -> (u16, String) {
    post_json(url, token, body).expect("the hub answers")
}

/// Enrols a device for `user` over HTTP with a fresh one-time code.
fn enrol(hub: &TestHub, user: &str, name: &str) -> EnrolResponse {
    let req = EnrolRequest {
        protocol: PROTOCOL_VERSION,
        code: hub.code(user),
        device_name: name.into(),
    };
    let (status, text) = post(
        &format!("{}/api/v1/enrol", hub.url),
        None,
        &serde_json::to_vec(&req).unwrap(),
    );
    assert_eq!(status, 200, "{text}");
    serde_json::from_str(&text).expect("an enrolment answer")
}

/// One person: a tablet (its store, never written to but by syncs) and a raw device.
struct Person {
    tablet: EnrolResponse,
    tablet_path: PathBuf,
    /// Whether the hub accepted something since the tablet last synced.
    stale: bool,
    raw: EnrolResponse,
    /// Requests the raw device filed that the hub accepted (its receipt counter).
    raw_filed: u64,
}

/// What the hub made of a push.
#[derive(Debug, Clone, PartialEq, Eq)]
enum HubVerdict {
    Accepted,
    Refused { code: String, reason: String },
}

/// Counts of one kind of operation.
#[derive(Debug, Default, Clone, Copy)]
struct Count {
    accepted: usize,
    refused: usize,
    /// The documented exception (resident unknown to the tablet).
    exception: usize,
    disagreed: usize,
}

struct World {
    hub: TestHub,
    dir: tempfile::TempDir,
    people: BTreeMap<Who, Person>,
    reference: Reference,
    /// Resident Wang's user id.
    wang: String,
    /// The clerk of East Village's user id (a user who is not a resident).
    clerk_id: String,
    trials: u64,
    /// This case's requests and agenda items (those the hub holds).
    requests: Vec<Uuid>,
    agendas: Vec<Uuid>,
    counts: BTreeMap<&'static str, Count>,
    skipped: usize,
    syncs: usize,
    disagreements: Vec<String>,
}

impl World {
    fn new() -> World {
        let hub = TestHub::start();
        admin::add_user(
            hub.storage.as_ref(),
            CLERK_WEST,
            "西村代办员 刘洋",
            Role::Clerk,
            WEST,
        )
        .expect("the West Village clerk");
        let user_id = |name: &str| {
            hub.storage
                .user_by_name(name)
                .unwrap()
                .expect("a demo user")
                .id
        };
        let wang = user_id(RESIDENT);
        let clerk_id = user_id(CLERK);
        // The tablets' stores in memory where there is a tmpfs: each operation copies one and
        // writes to the copy, and fsyncs on a disk are most of that time.
        let shm = Path::new("/dev/shm");
        let dir = if shm.is_dir() {
            tempfile::tempdir_in(shm)
        } else {
            tempfile::tempdir()
        }
        .expect("temp dir");
        let mut people = BTreeMap::new();
        let mut reference = None;
        for who in Who::ALL {
            let tablet = enrol(&hub, who.user(), &format!("{}-tablet", who.user()));
            let raw = enrol(&hub, who.user(), &format!("{}-raw", who.user()));
            assert_eq!(tablet.identity.user, raw.identity.user);
            assert_eq!(tablet.identity.role, raw.identity.role);
            assert_eq!(tablet.identity.area, raw.identity.area);
            let tablet_path = dir.path().join(format!("{}-tablet.db", who.user()));
            let store = client::store_from_enrolment(&tablet_path, &hub.url, &tablet)
                .expect("a tablet store from the enrolment");
            assert_eq!(store.actor_hex(), tablet.actor);
            assert_eq!(store.device_no(), tablet.device_no);
            drop(store);
            reference.get_or_insert_with(|| Reference {
                catalog: raw.reference.catalog.clone(),
                directory: raw.reference.directory.clone(),
                calendar: bianmin_domain::WorkingCalendar::new(raw.reference.calendars.clone()),
            });
            people.insert(
                who,
                Person {
                    tablet,
                    tablet_path,
                    stale: true,
                    raw,
                    raw_filed: 0,
                },
            );
        }
        let reference = reference.expect("reference data");
        assert_eq!(reference.catalog, Reference::demo().catalog);
        assert!(people[&Who::Reviewer].raw.identity.area == TAIPING);
        World {
            hub,
            dir,
            people,
            reference,
            wang,
            clerk_id,
            trials: 0,
            requests: Vec::new(),
            agendas: Vec::new(),
            counts: BTreeMap::new(),
            skipped: 0,
            syncs: 0,
            disagreements: Vec::new(),
        }
    }

    /// The hub's copy of a document: its bytes and decoded.
    fn hub_copy(&self, id: Uuid) -> (Vec<u8>, Document) {
        let record = self
            .hub
            .storage
            .document(id)
            .unwrap()
            .expect("the hub holds the document");
        let doc = Document::load(&record.bytes).expect("the hub's copy loads");
        (record.bytes, doc)
    }

    fn request(&self, pick: u8) -> Option<(Uuid, RequestDoc)> {
        let id = pick_of(&self.requests, pick)?;
        match self.hub_copy(id).1.decoded() {
            Decoded::Request(r) => Some((id, (**r).clone())),
            Decoded::Agenda(_) => unreachable!("a request"),
        }
    }

    fn agenda(&self, pick: u8) -> Option<(Uuid, AgendaDoc)> {
        let id = pick_of(&self.agendas, pick)?;
        match self.hub_copy(id).1.decoded() {
            Decoded::Agenda(a) => Some((id, (**a).clone())),
            Decoded::Request(_) => unreachable!("an agenda item"),
        }
    }

    /// The operation with every value decided against the hub's copy of its document (which
    /// the tablet also holds, when it may); `None` when there is no document to act on.
    fn concrete(&self, op: &Op) -> Option<(Who, Concrete)> {
        let who = match op {
            Op::Advance(pick, n) => {
                let (id, d) = self.request(*pick)?;
                let (who, action) = self.advance(&d, *n);
                return Some((who, Concrete::Event(id, action)));
            }
            Op::AdvanceAgenda(pick, n) => {
                let (id, d) = self.agenda(*pick)?;
                let action = natural_record(&d, *n);
                let who = match action {
                    AgendaAction::TownshipReview { .. } => Who::Reviewer,
                    _ => Who::Clerk,
                };
                return Some((who, Concrete::Record(id, action)));
            }
            other => other.who().expect("a performer"),
        };
        let me = &self.people[&who].raw.identity;
        Some((
            who,
            match op {
                Op::Advance(..) | Op::AdvanceAgenda(..) => unreachable!("returned above"),
                Op::File(_, f) => Concrete::File(self.new_request(f)),
                Op::Act(_, pick, a) => {
                    let (id, d) = self.request(*pick)?;
                    let item = item_of(&self.reference, &d.item_code);
                    let action = match a {
                        Act::Natural(p) => natural_act(&d, item, me, *p),
                        other => explicit_act(&d, item, other),
                    };
                    Concrete::Event(id, action)
                }
                Op::Edit(_, pick, e) => {
                    let (id, d) = self.request(*pick)?;
                    Concrete::Edit(id, field_edit(item_of(&self.reference, &d.item_code), e))
                }
                Op::Comment(_, pick, t) => {
                    let (id, _) = self.request(*pick)?;
                    Concrete::Comment(id, t.render("已电话联系申请人", limits::COMMENT_CHARS))
                }
                Op::OpenAgenda(_, t) => Concrete::OpenAgenda(NewAgendaItem {
                    title: t.title.render("村集体鱼塘承包", limits::TITLE_CHARS),
                    category: t
                        .category
                        .render("collective assets", limits::CATEGORY_CHARS),
                    description: t
                        .description
                        .render("鱼塘承包期满，拟公开招标。", limits::DESCRIPTION_CHARS),
                }),
                Op::Record(_, pick, r) => {
                    let (id, d) = self.agenda(*pick)?;
                    Concrete::Record(id, record_action(&d, r))
                }
                Op::EditAgenda(_, pick, field, t) => {
                    let (id, _) = self.agenda(*pick)?;
                    Concrete::EditAgenda(
                        id,
                        match field % 3 {
                            0 => AgendaEdit::Title(
                                t.render("村集体鱼塘承包（修订）", limits::TITLE_CHARS),
                            ),
                            1 => AgendaEdit::Category(
                                t.render("land contracting", limits::CATEGORY_CHARS),
                            ),
                            _ => AgendaEdit::Description(
                                t.render("修订后的说明。", limits::DESCRIPTION_CHARS),
                            ),
                        },
                    )
                }
                Op::CommentAgenda(_, pick, t) => {
                    let (id, _) = self.agenda(*pick)?;
                    Concrete::CommentAgenda(id, t.render("请尽快公示", limits::COMMENT_CHARS))
                }
            },
        ))
    }

    /// The request's next step and the first person it is allowed to (see [`next_steps`]).
    fn advance(&self, d: &RequestDoc, pick: u8) -> (Who, Action) {
        let item = item_of(&self.reference, &d.item_code);
        let order = [Who::Clerk, Who::Reviewer, Who::Resident, Who::OtherClerk];
        let steps: Vec<(Who, Action)> = next_steps(d, item)
            .into_iter()
            .filter_map(|a| {
                let who = order
                    .into_iter()
                    .find(|w| may(&self.people[w].raw.identity, d, &a))?;
                Some((who, a))
            })
            .collect();
        if steps.is_empty() {
            return (Who::Clerk, Action::Submit);
        }
        steps[progress(steps.len(), pick)].clone()
    }

    fn new_request(&self, f: &Filing) -> NewRequest {
        let items = &self.reference.catalog.items;
        let index = usize::from(f.item) % (items.len() + 1);
        let item = items.get(index);
        let mut attributes = BTreeMap::new();
        if let Some(item) = item {
            for (spec, gen_) in item.attributes.iter().zip(f.attributes) {
                if let Some(v) = gen_.render(spec) {
                    attributes.insert(spec.code.clone(), v);
                }
            }
        }
        if f.extra_attribute {
            attributes.insert("no_such_attribute".into(), AttrValue::Text("x".into()));
        }
        let mut materials: Vec<String> = item
            .map(|i| i.materials.as_slice())
            .unwrap_or_default()
            .iter()
            .enumerate()
            .filter(|(i, _)| f.materials & (1 << (i % 8)) != 0)
            .map(|(_, m)| m.clone())
            .collect();
        if f.foreign_material {
            materials.push("Not a material".into());
        }
        NewRequest {
            item_code: item.map_or_else(|| "NO-SUCH-ITEM".into(), |i| i.code.clone()),
            applicant_name: f.name.render(),
            id_number: f.id_number.render(),
            phone: f.phone.render(),
            grid: f.grid.render(),
            attributes,
            materials_received: materials,
            resident_user: match f.resident {
                Named::Nobody => None,
                Named::Wang => Some(self.wang.clone()),
                Named::NotAResident => Some(self.clerk_id.clone()),
                Named::Unknown => Some("no-such-user".into()),
                Named::Blank => Some("  ".into()),
                Named::TooLong => Some("u".repeat(limits::USER_CHARS + 1)),
            },
            submit: f.submit,
        }
    }

    /// Brings `who`'s tablet in step with the hub.
    fn sync_tablet(&mut self, who: Who) {
        let person = self.people.get_mut(&who).expect("a person");
        if !person.stale {
            return;
        }
        let store = Mutex::new(Store::open(&person.tablet_path).expect("the tablet's store"));
        let report = sync(&store, &quick(), &mut |_| {}).expect("the tablet syncs");
        assert!(
            report.refused.is_empty() && report.pull_errors.is_empty() && report.waiting.is_empty(),
            "the tablet never pushes, and takes everything it pulls: {report:?}"
        );
        assert_eq!(report.accepted, 0, "the tablet's store is never written to");
        person.stale = false;
        self.syncs += 1;
    }

    /// The tablet verdict: the operation tried on a copy of `who`'s tablet (in step with the
    /// hub), thrown away afterwards.
    fn on_tablet(&mut self, who: Who, op: &Concrete) -> Result<(), String> {
        self.sync_tablet(who);
        self.trials += 1;
        let path = self.dir.path().join(format!("trial-{}.db", self.trials));
        let canonical = &self.people[&who].tablet_path;
        std::fs::copy(canonical, &path).expect("copy the tablet's store");
        let wal = |p: &Path, suffix: &str| PathBuf::from(format!("{}{suffix}", p.display()));
        if wal(canonical, "-wal").exists() {
            std::fs::copy(wal(canonical, "-wal"), wal(&path, "-wal")).expect("copy the WAL");
        }
        let verdict = {
            let mut store = Store::open(&path).expect("the trial store opens");
            assert_eq!(store.actor_hex(), self.people[&who].tablet.actor);
            let result = match op {
                Concrete::File(new) => store.file_request(new.clone()).map(drop),
                Concrete::Event(id, a) => store.apply(*id, a.clone()).map(drop),
                Concrete::Edit(id, e) => store.edit(*id, e.clone()).map(drop),
                Concrete::Comment(id, t) => store.comment(*id, t).map(drop),
                Concrete::OpenAgenda(new) => store.create_agenda(new.clone()).map(drop),
                Concrete::Record(id, a) => store.record_agenda(*id, a.clone()).map(drop),
                Concrete::EditAgenda(id, e) => store.edit_agenda(*id, e.clone()).map(drop),
                Concrete::CommentAgenda(id, t) => store.comment_agenda(*id, t).map(drop),
            };
            result.map_err(|e| e.to_string())
        };
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(wal(&path, suffix));
        }
        verdict
    }

    /// The change bytes of the operation written by `who`'s raw device, without any check, into
    /// the hub's copy of the document (or a new one); the document's id with them.
    fn raw_changes(&self, who: Who, op: &Concrete) -> (Uuid, Vec<Vec<u8>>) {
        let person = &self.people[&who];
        let device = &person.raw;
        let actor: ActorId = device.actor.parse().expect("a hex actor");
        let a = Author {
            identity: &device.identity,
            reference: &self.reference,
            at: Timestamp::now(),
        };
        let changes = |am: &mut AutoCommit, since: &[automerge::ChangeHash]| -> Vec<Vec<u8>> {
            am.get_changes(since)
                .iter()
                .map(|c| c.raw_bytes().to_vec())
                .collect()
        };
        match op {
            Concrete::File(new) => {
                let receipt = ReceiptNo::new(
                    &device.identity.area,
                    device.device_no,
                    person.raw_filed + 1,
                );
                let d = author::new_request(&a, new, &receipt)
                    .unwrap_or_else(|_| unknown_item_request(&a, new, &receipt));
                let mut am = AutoCommit::new().with_actor(actor);
                layout::request::create(&mut am, &d).expect("written");
                (d.id, changes(&mut am, &[]))
            }
            Concrete::OpenAgenda(new) => {
                let d = author::new_agenda(&a, new);
                let mut am = AutoCommit::new().with_actor(actor);
                layout::agenda::create(&mut am, &d).expect("written");
                (d.id, changes(&mut am, &[]))
            }
            _ => {
                let id = op.doc().expect("an existing document");
                let (bytes, doc) = self.hub_copy(id);
                let mut am = AutoCommit::load(&bytes).expect("loads").with_actor(actor);
                let before = am.get_heads();
                let written = match (doc.decoded(), op) {
                    (Decoded::Request(d), Concrete::Event(_, action)) => {
                        author::request_event(&a, d, &mut am, action.clone())
                    }
                    (Decoded::Request(d), Concrete::Edit(_, e)) => {
                        author::request_edit(&a, d, &mut am, e)
                    }
                    (Decoded::Request(d), Concrete::Comment(_, t)) => {
                        author::request_comment(&a, d, &mut am, t)
                    }
                    (Decoded::Agenda(d), Concrete::Record(_, action)) => {
                        author::agenda_event(&a, d, &mut am, action.clone())
                    }
                    (Decoded::Agenda(d), Concrete::EditAgenda(_, e)) => {
                        author::agenda_edit(&a, d, &mut am, e)
                    }
                    (Decoded::Agenda(d), Concrete::CommentAgenda(_, t)) => {
                        author::agenda_comment(&a, d, &mut am, t)
                    }
                    _ => unreachable!("operations pick documents of their kind"),
                };
                written.expect("the writer functions write anything");
                (id, changes(&mut am, &before))
            }
        }
    }

    /// The hub verdict: the raw change posted to the hub with the raw device's token.
    fn on_hub(&self, who: Who, doc: Uuid, changes: Vec<Vec<u8>>) -> HubVerdict {
        assert!(!changes.is_empty(), "the operation wrote something");
        let device = &self.people[&who].raw;
        let body = serde_json::to_vec(&SyncRequest {
            pull_budget: None,
            protocol: PROTOCOL_VERSION,
            // Nothing to pull: the raw device only pushes.
            cursor: i64::MAX as u64,
            reference_version: device.reference.version,
            push: vec![PushDoc {
                doc,
                changes: changes.into_iter().map(B64).collect(),
                saved: None,
            }],
        })
        .unwrap();
        let (status, text) = post(
            &format!("{}/api/v1/sync", self.hub.url),
            Some(&device.token),
            &body,
        );
        assert_eq!(status, 200, "the round is answered: {text}");
        let response: SyncResponse = serde_json::from_str(&text).expect("a sync answer");
        assert_eq!(response.results.len(), 1, "{text}");
        match &response.results[0] {
            PushResult::Accepted { doc: d, .. } => {
                assert_eq!(*d, doc);
                HubVerdict::Accepted
            }
            PushResult::Refused {
                doc: d,
                code,
                reason,
                ..
            } => {
                assert_eq!(*d, doc);
                HubVerdict::Refused {
                    code: code.clone(),
                    reason: reason.clone(),
                }
            }
        }
    }

    /// Whether a filing names as its resident someone the hub does not know as a registered
    /// resident of the request's village: the tablet cannot tell (the documented exception).
    fn names_unknown_resident(&self, who: Who, op: &Concrete) -> bool {
        let Concrete::File(new) = op else {
            return false;
        };
        if who == Who::Resident {
            return false;
        }
        let village = &self.people[&who].raw.identity.area;
        new.resident_user
            .as_deref()
            .filter(|u| !u.trim().is_empty())
            .is_some_and(|u| !(u == self.wang && village == EAST))
    }

    /// Runs one operation on both sides and compares the verdicts; `Err` describes a
    /// disagreement.
    fn run(&mut self, step: usize, op: &Op) -> Result<(), String> {
        let Some((who, concrete)) = self.concrete(op) else {
            self.skipped += 1;
            return Ok(());
        };
        let status_before = concrete
            .doc()
            .map(|id| match self.hub_copy(id).1.decoded() {
                Decoded::Request(r) => replay(&r.events, r.level).status.as_str().to_string(),
                Decoded::Agenda(a) => format!("stage {}", replay_agenda(&a.events).stage.as_str()),
            });
        let tablet = self.on_tablet(who, &concrete);
        let (doc, changes) = self.raw_changes(who, &concrete);
        let hub = self.on_hub(who, doc, changes);
        let exception = self.names_unknown_resident(who, &concrete);
        let kind = concrete.kind();
        let count = self.counts.entry(kind).or_default();
        let agreed = match (&tablet, &hub) {
            (Ok(()), HubVerdict::Accepted) => {
                count.accepted += 1;
                true
            }
            (Err(_), HubVerdict::Refused { .. }) => {
                count.refused += 1;
                true
            }
            (Ok(()), HubVerdict::Refused { code, reason })
                if exception && code == "invalid" && reason.starts_with("resident_user:") =>
            {
                count.exception += 1;
                true
            }
            _ => {
                count.disagreed += 1;
                false
            }
        };
        if hub == HubVerdict::Accepted {
            match &concrete {
                Concrete::File(_) => {
                    self.requests.push(doc);
                    self.people.get_mut(&who).expect("a person").raw_filed += 1;
                }
                Concrete::OpenAgenda(_) => self.agendas.push(doc),
                _ => {}
            }
            for p in self.people.values_mut() {
                p.stale = true;
            }
        }
        if agreed {
            return Ok(());
        }
        let message = format!(
            "DISAGREEMENT at operation {step} ({kind}):\n  who: {who:?} ({user}, {role} of {area})\n  \
             operation: {concrete:#?}\n  generated as: {op:?}\n  document: {doc} ({status})\n  \
             tablet verdict: {tablet:?}\n  hub verdict: {hub:?}{note}",
            user = who.user(),
            role = self.people[&who].raw.identity.role.as_str(),
            area = self.people[&who].raw.identity.area,
            status = status_before.as_deref().unwrap_or("new"),
            note = if exception {
                "\n  (the filing names a resident the tablet cannot check)"
            } else {
                ""
            },
        );
        eprintln!("{message}");
        self.disagreements.push(message.clone());
        Err(message)
    }

    fn run_case(&mut self, ops: &[Op]) -> Result<(), String> {
        self.requests.clear();
        self.agendas.clear();
        for (i, op) in ops.iter().enumerate() {
            self.run(i, op)?;
        }
        Ok(())
    }
}

/// Three times out of four the case's first document (so that it goes a long way), else any.
fn pick_of(docs: &[Uuid], pick: u8) -> Option<Uuid> {
    let i = if pick < 192 {
        0
    } else {
        usize::from(pick) % docs.len().max(1)
    };
    docs.get(i).copied()
}

/// A filing of an item the catalog does not have, written as a tablet would write any filing
/// (`author::new_request` refuses to: it copies the item's level and time limit).
fn unknown_item_request(a: &Author<'_>, new: &NewRequest, receipt: &ReceiptNo) -> RequestDoc {
    let mut known = new.clone();
    known.item_code = a.reference.catalog.items[0].code.clone();
    let mut d = author::new_request(a, &known, receipt).expect("a filing of a known item");
    d.item_code = new.item_code.clone();
    d.id_number = NationalId::parse(&new.id_number).map_or_else(
        |_| new.id_number.trim().to_string(),
        |i| i.expose().to_string(),
    );
    d.phone = Phone::parse(&new.phone)
        .map_or_else(|_| new.phone.trim().to_string(), |p| p.expose().to_string());
    d
}

#[test]
fn the_tablet_and_the_hub_decide_every_change_alike() {
    let started = Instant::now();
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    let world = RefCell::new(World::new());
    let mut runner = TestRunner::new(Config {
        cases,
        max_shrink_iters: 256,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&case(), |ops| {
        world
            .borrow_mut()
            .run_case(&ops)
            .map_err(TestCaseError::fail)
    });

    let w = world.into_inner();
    let total = w.counts.values().fold(Count::default(), |t, c| Count {
        accepted: t.accepted + c.accepted,
        refused: t.refused + c.refused,
        exception: t.exception + c.exception,
        disagreed: t.disagreed + c.disagreed,
    });
    eprintln!(
        "\ndifferential: {cases} cases in {:.1} s, {} operations ({} with no document to act on), \
         {} tablet syncs",
        started.elapsed().as_secs_f64(),
        total.accepted + total.refused + total.exception + total.disagreed,
        w.skipped,
        w.syncs,
    );
    eprintln!(
        "  {:<30} {:>8} {:>8} {:>10} {:>10}",
        "operation", "accepted", "refused", "exception", "DISAGREED"
    );
    for (kind, c) in &w.counts {
        eprintln!(
            "  {kind:<30} {:>8} {:>8} {:>10} {:>10}",
            c.accepted, c.refused, c.exception, c.disagreed
        );
    }
    eprintln!(
        "  {:<30} {:>8} {:>8} {:>10} {:>10}",
        "total", total.accepted, total.refused, total.exception, total.disagreed
    );
    if let Err(e) = result {
        panic!(
            "the tablet and the hub disagreed ({} times, shrinking included; each is printed \
             above as it happened); the smallest case: {e}\nthe first disagreement seen:\n{}",
            w.disagreements.len(),
            w.disagreements.first().map_or("", String::as_str)
        );
    }
    assert!(total.accepted > 0, "some operations were accepted by both");
    assert!(total.refused > 0, "some operations were refused by both");
}
