//! The list queries over a SQLite table of list rows: the tablet's `requests` projection and
//! the hub's SQLite index have the same columns, so both filter and sort with this one query,
//! and count ([`count_requests`]) and read a ledger ([`ledger_requests`]) with the very same
//! conditions (the search's `LIKE` patterns: [`crate::model::contains_pattern`]).

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
                               status, conflict, clock, due_date, filed_at, updated_at, \
                               decided_on";

fn request_row(r: &Row<'_>) -> rusqlite::Result<RequestRow> {
    let id: String = r.get(0)?;
    let status: String = r.get(6)?;
    let due: String = r.get(9)?;
    let decided: Option<String> = r.get(12)?;
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
        decided_on: decided.and_then(|d| d.parse().ok()),
        filed_at: Timestamp(r.get(10)?),
        updated_at: Timestamp(r.get(11)?),
    })
}

/// The `WHERE` clause of a request list and its parameters, in order.
struct Conditions {
    clauses: Vec<String>,
    args: Vec<Box<dyn ToSql>>,
}

impl Conditions {
    fn add(&mut self, clause: &str, value: Option<Box<dyn ToSql>>) {
        self.clauses.push(clause.to_string());
        self.args.extend(value);
    }

    fn where_clause(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", self.clauses.join(" AND "))
        }
    }

    fn params(&self) -> Vec<&dyn ToSql> {
        self.args.iter().map(|b| b.as_ref()).collect()
    }
}

/// The conditions of `filter` (and `scope`, see [`list_requests`]) on `today`.
fn conditions(
    filter: &RequestFilter,
    today: NaiveDate,
    cal: &WorkingCalendar,
    scope: Option<(&'static str, &str)>,
) -> Conditions {
    let mut c = Conditions {
        clauses: Vec::new(),
        args: Vec::new(),
    };
    if let Some((column, value)) = scope {
        debug_assert!(column.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
        c.add(&format!("{column} = ?"), Some(Box::new(value.to_string())));
    }
    if let Some(s) = filter.status {
        c.add("status = ?", Some(Box::new(s.as_str())));
    }
    if let Some(v) = &filter.item_code {
        c.add("item_code = ?", Some(Box::new(v.clone())));
    }
    if let Some(v) = &filter.grid {
        c.add("grid = ?", Some(Box::new(v.clone())));
    }
    if let Some(v) = &filter.village {
        c.add("village = ?", Some(Box::new(v.clone())));
    }
    if let Some(conflict) = filter.conflict {
        c.add(
            if conflict {
                "conflict != 0"
            } else {
                "conflict = 0"
            },
            None,
        );
    }
    if let Some(p) = &filter.receipt_prefix {
        // Receipt numbers are digits and dashes; anything else cannot match.
        let clean: String = p
            .chars()
            .filter(|c| c.is_ascii_digit() || *c == '-')
            .collect();
        c.add("receipt_no >= ?", Some(Box::new(clean.clone())));
        c.add(
            "receipt_no < ?",
            Some(Box::new(format!("{clean}\u{10FFFF}"))),
        );
    }
    // `LIKE` folds ASCII letters only (the pattern is lower-cased to match); `%`, `_` and `\`
    // typed in the search are escaped in the pattern.
    if let Some(p) = filter.receipt_pattern() {
        c.add("receipt_no LIKE ? ESCAPE '\\'", Some(Box::new(p)));
    }
    if let Some(p) = filter.applicant_pattern() {
        c.add("applicant_name LIKE ? ESCAPE '\\'", Some(Box::new(p)));
    }
    let (from, to) = filter.filed_bounds();
    if let Some(from) = from {
        c.add("filed_at >= ?", Some(Box::new(from)));
    }
    if let Some(to) = to {
        c.add("filed_at < ?", Some(Box::new(to)));
    }
    let today_s = today.to_string();
    let soon = cal.add_working_days(today, bianmin_domain::deadline::DUE_SOON_WORKING_DAYS);
    match filter.urgency {
        Some(UrgencyFilter::Overdue) => {
            c.add(
                "clock = 'running' AND due_date < ?",
                Some(Box::new(today_s)),
            );
        }
        Some(UrgencyFilter::DueSoon) => {
            c.add(
                "clock = 'running' AND due_date >= ?",
                Some(Box::new(today_s)),
            );
            c.add("due_date <= ?", Some(Box::new(soon.to_string())));
        }
        Some(UrgencyFilter::OverdueOrDueSoon) => {
            c.add(
                "clock = 'running' AND due_date <= ?",
                Some(Box::new(soon.to_string())),
            );
        }
        None => {}
    }
    c
}

/// Reads up to `limit` rows after `offset` and tells whether more follow.
fn select_rows(
    conn: &Connection,
    table: &'static str,
    c: &Conditions,
    order: &str,
    offset: u64,
    limit: u64,
) -> Result<Listing<RequestRow>> {
    let sql = format!(
        "SELECT {REQUEST_COLUMNS} FROM {table} {} ORDER BY {order} LIMIT {} OFFSET {offset}",
        c.where_clause(),
        limit.saturating_add(1),
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt
        .query_map(c.params().as_slice(), request_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let keep = usize::try_from(limit).unwrap_or(usize::MAX);
    let has_more = rows.len() > keep;
    rows.truncate(keep);
    Ok(Listing { rows, has_more })
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
    let order = match sort {
        RequestSort::Deadline => "due_date, receipt_no",
        RequestSort::RecentlyUpdated => "updated_at DESC, receipt_no",
        RequestSort::RecentlyFiled => "filed_at DESC, receipt_no",
        RequestSort::ReceiptNo => "receipt_no",
    };
    let c = conditions(filter, today, cal, scope);
    select_rows(
        conn,
        table,
        &c,
        order,
        u64::from(page.offset),
        u64::from(page.limit),
    )
}

/// How many requests [`list_requests`] lists with this filter and scope over all its pages:
/// one `count(*)` over the same conditions, no row read.
pub fn count_requests(
    conn: &Connection,
    table: &'static str,
    filter: &RequestFilter,
    today: NaiveDate,
    cal: &WorkingCalendar,
    scope: Option<(&'static str, &str)>,
) -> Result<u64> {
    let c = conditions(filter, today, cal, scope);
    let sql = format!("SELECT count(*) FROM {table} {}", c.where_clause());
    let n: i64 = conn
        .prepare_cached(&sql)?
        .query_row(c.params().as_slice(), |r| r.get(0))?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Every request of the list with this filter and scope, in filing order (then by receipt
/// number), at most `max` of them (`has_more` when there are more): a ledger (台账), read by
/// one statement, so from one state of the table, however long.
pub fn ledger_requests(
    conn: &Connection,
    table: &'static str,
    filter: &RequestFilter,
    today: NaiveDate,
    cal: &WorkingCalendar,
    scope: Option<(&'static str, &str)>,
    max: u64,
) -> Result<Listing<RequestRow>> {
    let c = conditions(filter, today, cal, scope);
    select_rows(conn, table, &c, "filed_at, receipt_no", 0, max)
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
