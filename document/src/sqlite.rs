//! The list queries over a SQLite table of list rows: the tablet's `requests` projection and
//! the hub's SQLite index have the same columns, so both filter and sort with this one query.

use bianmin_domain::{Stage, Status, Timestamp, WorkingCalendar};
use chrono::NaiveDate;
use rusqlite::{Connection, Row, ToSql};
use uuid::Uuid;

use crate::index::NO_DUE;
use crate::model::{
    AgendaRow, Listing, Page, RequestFilter, RequestRow, RequestSort, UrgencyFilter,
};
use crate::{Error, Result};

const REQUEST_COLUMNS: &str = "id, receipt_no, item_code, village, grid, applicant_masked, \
                               status, conflict, clock, due_date, filed_at, updated_at";

fn request_row(r: &Row<'_>) -> rusqlite::Result<RequestRow> {
    let id: String = r.get(0)?;
    let status: String = r.get(6)?;
    let due: String = r.get(9)?;
    Ok(RequestRow {
        id: Uuid::parse_str(&id).unwrap_or_default(),
        receipt_no: r.get(1)?,
        item_code: r.get(2)?,
        village: r.get(3)?,
        grid: r.get(4)?,
        applicant_masked: r.get(5)?,
        status: Status::parse(&status).unwrap_or(Status::Draft),
        conflict: r.get(7)?,
        clock: r.get(8)?,
        due: if due == NO_DUE {
            None
        } else {
            due.parse().ok()
        },
        filed_at: Timestamp(r.get(10)?),
        updated_at: Timestamp(r.get(11)?),
    })
}

/// One page of requests, read from a projection table only: the tablet's `requests`, or the
/// hub's index (same columns), so both filter and sort the same way.
///
/// `scope` restricts the list to rows whose `column` equals the value (a resident's requests
/// on a resident's device; a township's on the hub).
#[allow(clippy::too_many_arguments)]
pub fn list_requests(
    conn: &Connection,
    table: &'static str,
    filter: &RequestFilter,
    sort: RequestSort,
    page: Page,
    today: NaiveDate,
    cal: &WorkingCalendar,
    scope: Option<(&'static str, &str)>,
) -> Result<Listing<RequestRow>> {
    if page.limit == 0 || page.limit > Page::MAX_LIMIT {
        return Err(Error::Invalid {
            field: "page.limit".into(),
            rule: format!("must be 1 to {}", Page::MAX_LIMIT),
        });
    }
    let scope_clause = scope.map(|(column, _)| {
        debug_assert!(column.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
        format!("{column} = ?")
    });
    let mut clauses: Vec<&str> = Vec::new();
    let mut args: Vec<Box<dyn ToSql>> = Vec::new();
    if let (Some(clause), Some((_, value))) = (&scope_clause, scope) {
        clauses.push(clause);
        args.push(Box::new(value.to_string()));
    }
    let mut arg = |clause: &'static str, v: Option<Box<dyn ToSql>>| {
        clauses.push(clause);
        args.extend(v);
    };
    if let Some(s) = filter.status {
        arg("status = ?", Some(Box::new(s.as_str())));
    }
    if let Some(v) = &filter.item_code {
        arg("item_code = ?", Some(Box::new(v.clone())));
    }
    if let Some(v) = &filter.grid {
        arg("grid = ?", Some(Box::new(v.clone())));
    }
    if let Some(v) = &filter.village {
        arg("village = ?", Some(Box::new(v.clone())));
    }
    if let Some(c) = filter.conflict {
        arg(if c { "conflict != 0" } else { "conflict = 0" }, None);
    }
    if let Some(p) = &filter.receipt_prefix {
        // Receipt numbers are digits and dashes; anything else cannot match.
        let clean: String = p
            .chars()
            .filter(|c| c.is_ascii_digit() || *c == '-')
            .collect();
        arg("receipt_no >= ?", Some(Box::new(clean.clone())));
        arg(
            "receipt_no < ?",
            Some(Box::new(format!("{clean}\u{10FFFF}"))),
        );
    }
    let today_s = today.to_string();
    let soon = cal.add_working_days(today, bianmin_domain::deadline::DUE_SOON_WORKING_DAYS);
    match filter.urgency {
        Some(UrgencyFilter::Overdue) => {
            arg(
                "clock = 'running' AND due_date < ?",
                Some(Box::new(today_s)),
            );
        }
        Some(UrgencyFilter::DueSoon) => {
            arg(
                "clock = 'running' AND due_date >= ?",
                Some(Box::new(today_s)),
            );
            arg("due_date <= ?", Some(Box::new(soon.to_string())));
        }
        Some(UrgencyFilter::OverdueOrDueSoon) => {
            arg(
                "clock = 'running' AND due_date <= ?",
                Some(Box::new(soon.to_string())),
            );
        }
        None => {}
    }
    let order = match sort {
        RequestSort::Deadline => "due_date, receipt_no",
        RequestSort::RecentlyUpdated => "updated_at DESC, receipt_no",
        RequestSort::RecentlyFiled => "filed_at DESC, receipt_no",
        RequestSort::ReceiptNo => "receipt_no",
    };
    let where_ = if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    };
    let sql = format!(
        "SELECT {REQUEST_COLUMNS} FROM {table} {where_} ORDER BY {order} LIMIT {} OFFSET {}",
        page.limit + 1,
        page.offset
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let refs: Vec<&dyn ToSql> = args.iter().map(|b| b.as_ref()).collect();
    let mut rows = stmt
        .query_map(refs.as_slice(), request_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let has_more = rows.len() > page.limit as usize;
    rows.truncate(page.limit as usize);
    Ok(Listing { rows, has_more })
}

/// The projection row of one request (for tests and look-ups by receipt number).
pub fn request_row_by(conn: &Connection, column: &str, value: &str) -> Result<Option<RequestRow>> {
    debug_assert!(matches!(column, "id" | "receipt_no"));
    let sql = format!("SELECT {REQUEST_COLUMNS} FROM requests WHERE {column} = ?1 LIMIT 1");
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query_map([value], request_row)?;
    Ok(rows.next().transpose()?)
}

fn parse_stage(s: &str) -> Stage {
    [
        Stage::Proposal,
        Stage::Consultation,
        Stage::Review,
        Stage::Resolution,
        Stage::ResolutionNotice,
        Stage::ResultsNotice,
        Stage::Done,
    ]
    .into_iter()
    .find(|st| st.as_str() == s)
    .unwrap_or_default()
}

/// One page of agenda items, most recently changed first.
pub fn list_agenda(
    conn: &Connection,
    stage: Option<Stage>,
    page: Page,
) -> Result<Listing<AgendaRow>> {
    if page.limit == 0 || page.limit > Page::MAX_LIMIT {
        return Err(Error::Invalid {
            field: "page.limit".into(),
            rule: format!("must be 1 to {}", Page::MAX_LIMIT),
        });
    }
    let sql = format!(
        "SELECT id, village, title, category, stage, conflict, updated_at FROM agenda_items
         WHERE (?1 IS NULL OR stage = ?1) ORDER BY updated_at DESC, id LIMIT {} OFFSET {}",
        page.limit + 1,
        page.offset
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt
        .query_map([stage.map(Stage::as_str)], |r| {
            let id: String = r.get(0)?;
            let stage: String = r.get(4)?;
            Ok(AgendaRow {
                id: Uuid::parse_str(&id).unwrap_or_default(),
                village: r.get(1)?,
                title: r.get(2)?,
                category: r.get(3)?,
                stage: parse_stage(&stage),
                conflict: r.get(5)?,
                updated_at: Timestamp(r.get(6)?),
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let has_more = rows.len() > page.limit as usize;
    rows.truncate(page.limit as usize);
    Ok(Listing { rows, has_more })
}
