//! Village agenda items ("four discussions, two opens"): opening, recording meetings and
//! notices, township reviews, reading and lists.

use bianmin_domain::{AgendaAction, AgendaOp, Stage, authorize_agenda, replay_agenda};
use uuid::Uuid;

use super::{Store, load_doc, mark_unsynced, save_doc};
use crate::author::{self, Author, text};
use crate::document::DocKind;
use crate::document::agenda::{self as doc, AgendaDoc};
use crate::model::{
    AgendaDetail, AgendaEdit, AgendaHistoryEntry, AgendaRow, Listing, NewAgendaItem, Page,
};
use crate::projection;
use crate::{Error, Result};

pub(crate) fn agenda_detail(d: AgendaDoc) -> AgendaDetail {
    let state = replay_agenda(&d.events);
    let updated_at = projection::agenda_updated_at(&d);
    let history = d
        .events
        .iter()
        .enumerate()
        .map(|(i, e)| AgendaHistoryEntry {
            id: e.id,
            action: e.action.clone(),
            by: e.by.clone(),
            meeting_result: state
                .meetings
                .iter()
                .find(|(j, _)| *j == i)
                .map(|(_, r)| r.clone()),
            invalid: state
                .invalid
                .iter()
                .find(|(j, _)| *j == i)
                .map(|(_, why)| why.clone()),
        })
        .collect();
    AgendaDetail {
        id: d.id,
        village: d.village,
        title: d.title,
        category: d.category,
        description: d.description,
        stage: state.stage,
        conflict: state.conflict,
        field_conflicts: d.field_conflicts,
        history,
        comments: d.comments,
        created: d.created,
        updated_at,
    }
}

pub(crate) fn project_agenda(tx: &rusqlite::Transaction<'_>, d: &AgendaDoc) -> Result<()> {
    projection::upsert_agenda(tx, d, &replay_agenda(&d.events))
}

impl Store {
    /// Opens an agenda item for the clerk's village.
    pub fn create_agenda(&mut self, new: NewAgendaItem) -> Result<AgendaDetail> {
        let village = self.identity.area.clone();
        authorize_agenda(&self.identity, &village, AgendaOp::Create)?;
        let d = AgendaDoc {
            id: Uuid::new_v4(),
            village,
            created: self.stamp(),
            title: text("title", &new.title, 200)?,
            category: text("category", &new.category, 100)?,
            description: text("description", &new.description, 10_000)?,
            events: vec![],
            comments: vec![],
            edits: vec![],
            field_conflicts: vec![],
        };
        let tx = self.write_tx()?;
        let mut am = self.new_doc();
        doc::create(&mut am, &d)?;
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
        let current = doc::read(&am)?;
        f(&self.author(), &current, &mut am)?;
        let updated = doc::read(&am)?;
        save_doc(&tx, &id, DocKind::Agenda, &mut am, Some(&before))?;
        project_agenda(&tx, &updated)?;
        mark_unsynced(&tx, &id)?;
        tx.commit()?;
        Ok(agenda_detail(updated))
    }

    /// Records a meeting, a notice, an objection, a township review or a settlement, after
    /// checking stage order, quorum data, notice periods and this identity's permission.
    pub fn record_agenda(&mut self, id: Uuid, action: AgendaAction) -> Result<AgendaDetail> {
        self.change_agenda(id, |a, d, am| author::agenda_event(a, d, am, action))
    }

    /// Edits an agenda item's title, category or description.
    pub fn edit_agenda(&mut self, id: Uuid, edit: AgendaEdit) -> Result<AgendaDetail> {
        self.change_agenda(id, |a, d, am| author::agenda_edit(a, d, am, &edit))
    }

    /// Adds a comment to an agenda item.
    pub fn comment_agenda(&mut self, id: Uuid, comment: &str) -> Result<AgendaDetail> {
        text("comment", comment, 2000)?;
        self.change_agenda(id, |a, d, am| author::agenda_comment(a, d, am, comment))
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
        projection::list_agenda(&self.conn, stage, page)
    }
}
