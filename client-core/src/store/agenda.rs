//! Village agenda items ("four discussions, two opens"): opening, recording meetings and
//! notices, township reviews, reading and lists.

use bianmin_domain::{AgendaAction, AgendaOp, Stage, authorize_agenda, replay_agenda};
use uuid::Uuid;

use super::{Store, load_doc, mark_unsynced, save_doc};
use crate::model::{AgendaDetail, AgendaEdit, AgendaRow, Listing, NewAgendaItem, Page};
use crate::projection;
use crate::{Error, Result};
use bianmin_document::Document;
use bianmin_document::author::{self, Author};
use bianmin_document::layout::DocKind;
use bianmin_document::layout::agenda::{self as doc, AgendaDoc};
use bianmin_document::view::agenda_detail;

pub(crate) fn project_agenda(tx: &rusqlite::Transaction<'_>, d: &AgendaDoc) -> Result<()> {
    projection::upsert_agenda(tx, d, &replay_agenda(&d.events))
}

impl Store {
    /// Opens an agenda item for the clerk's village. Its texts become public past the
    /// resolution: [`crate::public_text::new_agenda_warnings`] says whether they look like they
    /// hold personal data (a warning to show, not a refusal: they are written all the same).
    pub fn create_agenda(&mut self, new: NewAgendaItem) -> Result<AgendaDetail> {
        let d = author::new_agenda(&self.author(), &new);
        let tx = self.write_tx()?;
        let mut am = self.new_doc();
        doc::create(&mut am, &d)?;
        self.check_write(&tx, d.id, None, &mut am, &[])?;
        save_doc(&tx, &d.id, DocKind::Agenda, &mut am, None)?;
        project_agenda(&tx, &d)?;
        mark_unsynced(&tx, &d.id)?;
        tx.commit()?;
        Ok(agenda_detail(d))
    }

    fn change_agenda(
        &mut self,
        id: Uuid,
        f: impl FnOnce(&Author<'_>, &AgendaDoc, &mut automerge::AutoCommit) -> Result<()>,
    ) -> Result<AgendaDetail> {
        let not_found = || Error::NotFound {
            what: "agenda item",
            id: id.to_string(),
        };
        let tx = self.write_tx()?;
        let (kind, mut am) = load_doc(&tx, &id, &self.actor)?.ok_or_else(not_found)?;
        if kind != DocKind::Agenda {
            return Err(not_found());
        }
        let before = am.get_heads();
        let original = Document::from_automerge(am.clone())?;
        let current = doc::read(&am)?;
        f(&self.author(), &current, &mut am)?;
        self.check_write(&tx, id, Some(&original), &mut am, &before)?;
        let updated = doc::read(&am)?;
        save_doc(&tx, &id, DocKind::Agenda, &mut am, Some(&before))?;
        project_agenda(&tx, &updated)?;
        mark_unsynced(&tx, &id)?;
        tx.commit()?;
        Ok(agenda_detail(updated))
    }

    /// Records a meeting, a notice, an objection, a township review or a settlement, after
    /// checking stage order, quorum data, notice periods and this identity's permission. A
    /// notice's or an objection's texts are public: see
    /// [`crate::public_text::agenda_action_warnings`].
    pub fn record_agenda(&mut self, id: Uuid, action: AgendaAction) -> Result<AgendaDetail> {
        self.change_agenda(id, |a, d, am| Ok(author::agenda_event(a, d, am, action)?))
    }

    /// Edits an agenda item's title, category or description (public texts: see
    /// [`crate::public_text::agenda_edit_warnings`]).
    pub fn edit_agenda(&mut self, id: Uuid, edit: AgendaEdit) -> Result<AgendaDetail> {
        self.change_agenda(id, |a, d, am| Ok(author::agenda_edit(a, d, am, &edit)?))
    }

    /// Adds a comment to an agenda item.
    pub fn comment_agenda(&mut self, id: Uuid, comment: &str) -> Result<AgendaDetail> {
        self.change_agenda(id, |a, d, am| {
            Ok(author::agenda_comment(a, d, am, comment)?)
        })
    }

    /// An agenda item with its full history, if this identity may read it.
    pub fn agenda(&self, id: Uuid) -> Result<AgendaDetail> {
        let not_found = || Error::NotFound {
            what: "agenda item",
            id: id.to_string(),
        };
        let (kind, am) = load_doc(&self.conn, &id, &self.actor)?.ok_or_else(not_found)?;
        if kind != DocKind::Agenda {
            return Err(not_found());
        }
        let d = doc::read(&am)?;
        authorize_agenda(&self.identity, &d.village, AgendaOp::Read)?;
        Ok(agenda_detail(d))
    }

    /// One page of agenda items, most recently changed first, optionally at one stage.
    pub fn list_agenda(&self, stage: Option<Stage>, page: Page) -> Result<Listing<AgendaRow>> {
        // Everything a store holds is in its identity's area (the server sends nothing else);
        // residents read agenda items only through public notices.
        if self.identity.role == bianmin_domain::Role::Resident {
            authorize_agenda(&self.identity, &self.identity.area, AgendaOp::Read)?;
        }
        Ok(bianmin_document::sqlite::list_agenda(
            &self.conn, stage, page,
        )?)
    }
}
