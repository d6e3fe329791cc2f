//! `bianmin agenda ...`: village agenda items ("four discussions, two opens", 四议两公开):
//! opening them, the meetings of stages 1 to 4 with attendance and votes, the two public
//! notices, objections, the township's review, settling conflicts, edits, comments, lists and
//! the item's page. All offline.
//!
//! A text that becomes public (title, category, description, a notice, an objection) and looks
//! like it holds an ID, mobile or bank-card number is written all the same, with a warning
//! line on stderr ([`bianmin_client_core::public_text`]).

use bianmin_client_core::public_text::{
    agenda_action_warnings, agenda_edit_warnings, new_agenda_warnings,
};
use bianmin_client_core::{
    AgendaDetail, AgendaEdit, NewAgendaItem, Page, PublicTextWarning, Store,
};
use bianmin_domain::{
    AgendaAction, Body, EventId, Meeting, Notice, Objection, ReviewKind, Stage, Timestamp,
};
use chrono::NaiveDate;
use clap::{Args, Subcommand, ValueEnum};
use uuid::Uuid;

use crate::Ctx;
use crate::exit::{CliError, CliResult, Kind};
use crate::render::{self, PageJson};

/// The agenda item a command acts on.
#[derive(Debug, Args)]
pub struct Target {
    /// The agenda item: its id, or its first characters (at least 4) as lists show them.
    #[arg(value_name = "ID")]
    item: String,
}

/// The body that met.
#[derive(Debug, Clone, Copy, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum BodyArg {
    /// Stage 1: village Party branch meeting (党支部会议提议).
    PartyBranch,
    /// Stage 2: joint meeting of the two committees (两委会议商议).
    TwoCommittees,
    /// Stage 3: Party members' meeting (党员大会审议).
    PartyMembers,
    /// Stage 4: villagers' meeting (村民会议决议).
    VillagersMeeting,
    /// Stage 4: villagers' representatives' meeting (村民代表会议决议).
    RepresentativesMeeting,
}

impl From<BodyArg> for Body {
    fn from(b: BodyArg) -> Body {
        match b {
            BodyArg::PartyBranch => Body::PartyBranch,
            BodyArg::TwoCommittees => Body::TwoCommittees,
            BodyArg::PartyMembers => Body::PartyMembers,
            BodyArg::VillagersMeeting => Body::VillagersMeeting,
            BodyArg::RepresentativesMeeting => Body::RepresentativesMeeting,
        }
    }
}

/// A stage, as `--stage` takes it.
#[derive(Debug, Clone, Copy, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum StageArg {
    /// 1. 党支部会议提议
    Proposal,
    /// 2. 两委会议商议
    Consultation,
    /// 3. 党员大会审议
    Review,
    /// 4. 村民(代表)会议决议
    Resolution,
    /// 5. 决议公开
    ResolutionNotice,
    /// 6. 实施结果公开
    ResultsNotice,
    /// All six done.
    Done,
}

impl From<StageArg> for Stage {
    fn from(s: StageArg) -> Stage {
        match s {
            StageArg::Proposal => Stage::Proposal,
            StageArg::Consultation => Stage::Consultation,
            StageArg::Review => Stage::Review,
            StageArg::Resolution => Stage::Resolution,
            StageArg::ResolutionNotice => Stage::ResolutionNotice,
            StageArg::ResultsNotice => Stage::ResultsNotice,
            StageArg::Done => Stage::Done,
        }
    }
}

/// The township's act.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ReviewArg {
    /// Reviewed (审核).
    Reviewed,
    /// Put on record (备案).
    Recorded,
    /// A comment only (意见).
    Comment,
}

impl From<ReviewArg> for ReviewKind {
    fn from(r: ReviewArg) -> ReviewKind {
        match r {
            ReviewArg::Reviewed => ReviewKind::Reviewed,
            ReviewArg::Recorded => ReviewKind::Recorded,
            ReviewArg::Comment => ReviewKind::Comment,
        }
    }
}

/// `bianmin agenda meeting`.
#[derive(Debug, Args)]
pub struct MeetingArgs {
    #[command(flatten)]
    target: Target,
    /// The body that met; it decides the stage (stages must pass in order).
    #[arg(long, value_enum)]
    body: BodyArg,
    /// The day it met, YYYY-MM-DD.
    #[arg(long, value_name = "DATE")]
    held_on: NaiveDate,
    /// Members entitled to attend (for a villagers' meeting: villagers aged 18 or over).
    #[arg(long)]
    entitled: u32,
    /// Members present.
    #[arg(long)]
    present: u32,
    /// Votes for.
    #[arg(long = "for", value_name = "N")]
    votes_for: u32,
    /// Votes against.
    #[arg(long = "against", value_name = "N", default_value_t = 0)]
    votes_against: u32,
    /// Abstentions.
    #[arg(long = "abstain", value_name = "N", default_value_t = 0)]
    abstentions: u32,
    /// For a villagers' meeting held by household: the village's households.
    #[arg(long, requires = "households_represented")]
    households: Option<u32>,
    /// For a villagers' meeting held by household: households represented.
    #[arg(long, requires = "households")]
    households_represented: Option<u32>,
    /// The minutes.
    #[arg(long)]
    minutes: String,
    /// A reference to a photo of the sign-in sheet; repeat for each.
    #[arg(long = "photo", value_name = "REF")]
    photos: Vec<String>,
}

/// `bianmin agenda resolution-notice` and `results-notice`.
#[derive(Debug, Args)]
pub struct NoticeArgs {
    #[command(flatten)]
    target: Target,
    /// The text made public.
    #[arg(long)]
    text: String,
    /// The first day of the notice, YYYY-MM-DD (default: today).
    #[arg(long, value_name = "DATE")]
    posted_on: Option<NaiveDate>,
    /// How many days it stays posted (1 to 365).
    #[arg(long, value_name = "N")]
    days: u32,
    /// Where it is posted (notice board, WeChat group...).
    #[arg(long, default_value = "")]
    place: String,
}

impl NoticeArgs {
    fn notice(self) -> (Target, Notice) {
        (
            self.target,
            Notice {
                text: self.text,
                posted_on: self.posted_on.unwrap_or_else(today),
                period_days: self.days,
                place: self.place,
            },
        )
    }
}

/// What `agenda edit` changes: one field per command.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct EditArgs {
    /// A new title.
    #[arg(long)]
    title: Option<String>,
    /// A new category.
    #[arg(long)]
    category: Option<String>,
    /// A new description.
    #[arg(long)]
    description: Option<String>,
}

/// `bianmin agenda ...`.
#[derive(Debug, Subcommand)]
pub enum AgendaCommand {
    /// Open an agenda item for the village (a major matter: assets, land, homesteads,
    /// compensation...).
    Create {
        /// A short title.
        #[arg(long)]
        title: String,
        /// The kind of matter, e.g. collective assets, land contracting, homestead.
        #[arg(long)]
        category: String,
        /// What is proposed.
        #[arg(long)]
        description: String,
    },
    /// List agenda items, most recently changed first.
    List {
        /// Only items at this stage.
        #[arg(long, value_enum)]
        stage: Option<StageArg>,
        /// Rows per page (1 to 500).
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=500))]
        limit: u32,
        /// Rows to skip.
        #[arg(long, default_value_t = 0)]
        offset: u32,
    },
    /// Show an agenda item's page: stage, history with meeting results, comments.
    Show(Target),
    /// Record a meeting of stages 1 to 4, with attendance and votes; quorum and majority are
    /// checked by the rules of the Organic Law.
    Meeting(MeetingArgs),
    /// Post the public notice of the resolution (stage 5, 决议公开).
    ResolutionNotice(NoticeArgs),
    /// Post the public notice of the implementation results (stage 6, 实施结果公开).
    ResultsNotice(NoticeArgs),
    /// Record an objection raised while a notice is posted.
    Objection {
        #[command(flatten)]
        target: Target,
        /// What it says (it is public: no names or ID numbers).
        #[arg(long)]
        summary: String,
        /// The day it was received, YYYY-MM-DD (default: today).
        #[arg(long, value_name = "DATE")]
        received_on: Option<NaiveDate>,
        /// The village's answer.
        #[arg(long, default_value = "")]
        response: String,
    },
    /// The township's review, record or comment (审核 / 备案; township reviewer).
    Review {
        #[command(flatten)]
        target: Target,
        /// Which.
        #[arg(long, value_enum)]
        kind: ReviewArg,
        /// The township's words.
        #[arg(long)]
        comment: String,
    },
    /// Settle a conflict between concurrent records by keeping one.
    Settle {
        #[command(flatten)]
        target: Target,
        /// The record to keep (from `agenda show`; its first characters are enough).
        #[arg(long, value_name = "EVENT")]
        keep: String,
        /// Why; required.
        #[arg(long)]
        note: String,
    },
    /// Edit the title, category or description.
    Edit {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        change: EditArgs,
    },
    /// Add a comment.
    Comment {
        #[command(flatten)]
        target: Target,
        /// The comment.
        text: String,
    },
}

fn today() -> NaiveDate {
    Timestamp::now().china_date()
}

/// Runs an `agenda` command.
pub fn run(ctx: &Ctx, mut store: Store, cmd: AgendaCommand) -> CliResult {
    use AgendaCommand as C;
    let mut warnings = Vec::new();
    let mut record = |t: Target, action: AgendaAction| -> CliResult<AgendaDetail> {
        let id = resolve(&store, &t.item)?;
        warnings = agenda_action_warnings(&action);
        Ok(store.record_agenda(id, action)?)
    };
    let detail = match cmd {
        C::Create {
            title,
            category,
            description,
        } => {
            let new = NewAgendaItem {
                title,
                category,
                description,
            };
            warnings = new_agenda_warnings(&new);
            store.create_agenda(new)?
        }
        C::List {
            stage,
            limit,
            offset,
        } => {
            let page = Page { offset, limit };
            let listing = store.list_agenda(stage.map(Into::into), page)?;
            return ctx.printer.emit(
                &PageJson::new(&listing, page),
                || render::agenda_list(&listing, page, store.reference()),
                || listing.rows.iter().map(|r| r.id.to_string()).collect(),
            );
        }
        C::Show(t) => store.agenda(resolve(&store, &t.item)?)?,
        C::Meeting(m) => record(
            m.target,
            AgendaAction::Meeting(Meeting {
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
                sign_in_photos: m.photos,
            }),
        )?,
        C::ResolutionNotice(n) => {
            let (t, notice) = n.notice();
            record(t, AgendaAction::ResolutionNotice(notice))?
        }
        C::ResultsNotice(n) => {
            let (t, notice) = n.notice();
            record(t, AgendaAction::ResultsNotice(notice))?
        }
        C::Objection {
            target,
            summary,
            received_on,
            response,
        } => record(
            target,
            AgendaAction::Objection(Objection {
                received_on: received_on.unwrap_or_else(today),
                summary,
                response,
            }),
        )?,
        C::Review {
            target,
            kind,
            comment,
        } => record(
            target,
            AgendaAction::TownshipReview {
                review: kind.into(),
                comment,
            },
        )?,
        C::Settle { target, keep, note } => {
            let id = resolve(&store, &target.item)?;
            let keep = conflict_record(&store.agenda(id)?, &keep)?;
            store.record_agenda(id, AgendaAction::Settle { keep, note })?
        }
        C::Edit { target, change } => {
            let id = resolve(&store, &target.item)?;
            let edit = match (change.title, change.category, change.description) {
                (Some(v), _, _) => AgendaEdit::Title(v),
                (_, Some(v), _) => AgendaEdit::Category(v),
                (_, _, Some(v)) => AgendaEdit::Description(v),
                (None, None, None) => {
                    return Err(CliError::usage("agenda edit: give one field to change"));
                }
            };
            warnings = agenda_edit_warnings(&edit);
            store.edit_agenda(id, edit)?
        }
        C::Comment { target, text } => {
            let id = resolve(&store, &target.item)?;
            store.comment_agenda(id, &text)?
        }
    };
    warn_public(&warnings);
    ctx.printer.emit(
        &detail,
        || render::agenda_detail(&detail, store.reference()),
        || vec![detail.id.to_string()],
    )
}

/// One line on stderr for each public text that looks like it holds personal data, after the
/// write (a warning, not a refusal: the clerk decides). On stderr, so `--json` and `--quiet`
/// output stays what scripts read.
fn warn_public(warnings: &[PublicTextWarning]) {
    for w in warnings {
        let kinds: Vec<String> = w
            .kinds
            .iter()
            .map(|k| {
                let label = bianmin_domain::labels::personal_number(*k);
                format!("{} ({})", label.en, label.zh)
            })
            .collect();
        eprintln!(
            "warning: {} looks like it holds {}; it is public: public pages show such numbers \
             starred, check the text (公开内容疑似含有个人信息，请核对)",
            w.field,
            kinds.join(", ")
        );
    }
}

/// Finds an agenda item by id or by the first characters of its id.
pub fn resolve(store: &Store, reference: &str) -> CliResult<Uuid> {
    let reference = reference.trim().to_ascii_lowercase();
    if let Ok(id) = Uuid::parse_str(&reference) {
        return Ok(id);
    }
    if reference.len() < 4 || !reference.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
        return Err(CliError::invalid(
            "agenda item",
            "give its id or at least its first 4 characters, as `bianmin agenda list` shows them",
        ));
    }
    // client-core looks agenda items up by whole id only; a village holds few, so the list is
    // read page by page (projection rows, no document is loaded).
    let mut found = Vec::new();
    let mut page = Page::first(Page::MAX_LIMIT);
    loop {
        let listing = store.list_agenda(None, page)?;
        found.extend(
            listing
                .rows
                .iter()
                .filter(|r| r.id.to_string().starts_with(&reference))
                .map(|r| r.id),
        );
        if !listing.has_more || found.len() > 1 {
            break;
        }
        page.offset += page.limit;
    }
    match found.as_slice() {
        [one] => Ok(*one),
        [] => Err(CliError::new(
            Kind::InvalidInput,
            format!("agenda item {reference} not found in this store"),
        )
        .with_hint("`bianmin agenda list` shows the items this store holds")),
        _ => Err(CliError::invalid(
            "agenda item",
            format!("{reference} matches several items: give more characters"),
        )),
    }
}

/// The conflicting record named by `keep` (a whole event id or its first characters).
fn conflict_record(detail: &AgendaDetail, keep: &str) -> CliResult<EventId> {
    if let Ok(id) = Uuid::parse_str(keep) {
        return Ok(EventId(id));
    }
    let keep = keep.trim().to_ascii_lowercase();
    let matches: Vec<EventId> = detail
        .conflict
        .iter()
        .flatten()
        .copied()
        .filter(|e| !keep.is_empty() && e.to_string().starts_with(&keep))
        .collect();
    match matches.as_slice() {
        [one] => Ok(*one),
        [] => Err(CliError::invalid(
            "keep",
            "is not one of the item's conflicting records (`bianmin agenda show` lists them)",
        )),
        _ => Err(CliError::invalid(
            "keep",
            "matches several records: give more characters",
        )),
    }
}
