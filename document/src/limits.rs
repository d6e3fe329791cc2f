//! The bounds of a document: how long its texts and how many its entries may be.
//!
//! The tablet refuses input beyond them and the hub refuses changes beyond them, through the
//! same check ([`crate::check`]), so that no document any replica holds costs more than a
//! bounded amount to replay, index and show. A real request has a few dozen entries: the caps
//! are far above any working day's need and far below what would slow a hub.

/// Characters of a comment.
pub const COMMENT_CHARS: usize = 2000;
/// Characters of an agenda item's title.
pub const TITLE_CHARS: usize = 200;
/// Characters of an agenda item's category.
pub const CATEGORY_CHARS: usize = 100;
/// Characters of an agenda item's description.
pub const DESCRIPTION_CHARS: usize = 10_000;
/// Characters of a grid's name (villages without a listed grid take any name).
pub const GRID_CHARS: usize = 50;
/// Characters of a user id naming a registered resident.
pub const USER_CHARS: usize = 100;
/// Bytes of one log entry (an event, comment, edit record or attachment reference) as stored:
/// meeting minutes of 10,000 Chinese characters fit, megabytes do not.
pub const ENTRY_BYTES: usize = 48 * 1024;

/// Lifecycle or agenda events in one document.
pub const EVENTS: usize = 500;
/// Comments in one document.
pub const COMMENTS: usize = 1000;
/// Edit records in one document.
pub const EDITS: usize = 2000;
/// Attachment references in one request.
pub const ATTACHMENTS: usize = 200;
/// Events an entry may name as seen (`after`): the tips of the log its author saw.
pub const AFTER: usize = 16;
/// Automerge operations in one pushed change: a filing with every field is about a hundred.
pub const OPS_PER_CHANGE: usize = 20_000;

/// Bytes of a document pushed in its saved form (a new document's first push): a new request
/// saves to under a kilobyte; this bounds what the hub decompresses for one.
pub const SAVED_PUSH_BYTES: usize = 64 * 1024;
