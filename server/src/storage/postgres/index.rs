//! The index of documents: written with each commit (or by a reindex), read by the console's
//! lists, the dashboard, the public notices and the blob endpoints.

use ::postgres::types::{ToSql, Type};
use ::postgres::{Client, Row, Transaction};
use bianmin_document::index::NO_DUE;
use bianmin_document::model::{
    AgendaRow, Listing, Page, RequestFilter, RequestRow, RequestSort, UrgencyFilter,
};
use bianmin_document::{DocIndex, RequestIndex};
use bianmin_domain::deadline::DUE_SOON_WORKING_DAYS;
use bianmin_domain::{Stage, Status, Timestamp, WorkingCalendar};
use chrono::NaiveDate;
use uuid::Uuid;

use super::{Failure, area_prefix, backend, to_i64, to_u64};
use crate::storage::codes::{index_scope, parse_rating, parse_stage, rating_name};
use crate::storage::{BlobReference, OverdueVillage, ReadScope, RequestStat, StorageError};

/// The date standing for "no deadline" in `due_date`.
fn no_due() -> NaiveDate {
    NO_DUE.parse().unwrap_or(NaiveDate::MAX)
}

fn bad(what: String) -> Failure {
    Failure::Storage(backend(what))
}

/// Writes (or rewrites) a document's index entry.
pub(super) fn write_index(
    tx: &mut Transaction<'_>,
    id: Uuid,
    index: &DocIndex,
) -> Result<(), Failure> {
    match index {
        DocIndex::Request(r) => {
            write_request(tx, id, r)?;
            // References are append-only in the document: nothing to remove.
            for a in &r.attachments {
                tx.execute_typed(
                    "INSERT INTO blob_refs (sha256, doc_id, size, media_type)
                     VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                    &[
                        (&a.sha256, Type::TEXT),
                        (&id, Type::UUID),
                        (&to_i64(a.size), Type::INT8),
                        (&a.media_type.as_str(), Type::TEXT),
                    ],
                )?;
            }
            Ok(())
        }
        DocIndex::Agenda(row) => write_agenda(tx, id, row),
    }
}

fn write_request(tx: &mut Transaction<'_>, id: Uuid, r: &RequestIndex) -> Result<(), Failure> {
    let row = &r.row;
    tx.execute_typed(
        "INSERT INTO request_index (id, receipt_no, item_code, village, township, county, grid,
            resident_user, applicant_masked, status, conflict, clock, due_date, filed_at,
            updated_at, decided_on, on_time, working_days, rating, applicant_name)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
            $18, $19, $20)
         ON CONFLICT (id) DO UPDATE SET receipt_no = EXCLUDED.receipt_no,
            item_code = EXCLUDED.item_code, village = EXCLUDED.village,
            township = EXCLUDED.township, county = EXCLUDED.county, grid = EXCLUDED.grid,
            resident_user = EXCLUDED.resident_user, applicant_masked = EXCLUDED.applicant_masked,
            status = EXCLUDED.status, conflict = EXCLUDED.conflict, clock = EXCLUDED.clock,
            due_date = EXCLUDED.due_date, filed_at = EXCLUDED.filed_at,
            updated_at = EXCLUDED.updated_at, decided_on = EXCLUDED.decided_on,
            on_time = EXCLUDED.on_time, working_days = EXCLUDED.working_days,
            rating = EXCLUDED.rating, applicant_name = EXCLUDED.applicant_name",
        &[
            (&id, Type::UUID),
            (&row.receipt_no, Type::TEXT),
            (&row.item_code, Type::TEXT),
            (&row.village, Type::TEXT),
            (&area_prefix(&row.village, 9)?, Type::TEXT),
            (&area_prefix(&row.village, 6)?, Type::TEXT),
            (&row.grid, Type::TEXT),
            (&r.resident_user, Type::TEXT),
            (&row.applicant_masked, Type::TEXT),
            (&row.status.as_str(), Type::TEXT),
            (&row.conflict, Type::BOOL),
            (&row.clock, Type::TEXT),
            (&row.due.unwrap_or_else(no_due), Type::DATE),
            (&row.filed_at.0, Type::INT8),
            (&row.updated_at.0, Type::INT8),
            (&r.decision.map(|d| d.on), Type::DATE),
            (&r.decision.map(|d| d.on_time), Type::BOOL),
            (&r.decision.map(|d| to_i32(d.working_days)), Type::INT4),
            (&r.rating.map(rating_name), Type::TEXT),
            (&r.applicant_name, Type::TEXT),
        ],
    )?;
    Ok(())
}

fn write_agenda(tx: &mut Transaction<'_>, id: Uuid, row: &AgendaRow) -> Result<(), Failure> {
    tx.execute_typed(
        "INSERT INTO agenda_index (id, village, township, county, title, category, stage,
            conflict, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (id) DO UPDATE SET village = EXCLUDED.village,
            township = EXCLUDED.township, county = EXCLUDED.county, title = EXCLUDED.title,
            category = EXCLUDED.category, stage = EXCLUDED.stage, conflict = EXCLUDED.conflict,
            updated_at = EXCLUDED.updated_at",
        &[
            (&id, Type::UUID),
            (&row.village, Type::TEXT),
            (&area_prefix(&row.village, 9)?, Type::TEXT),
            (&area_prefix(&row.village, 6)?, Type::TEXT),
            (&row.title, Type::TEXT),
            (&row.category, Type::TEXT),
            (&row.stage.as_str(), Type::TEXT),
            (&row.conflict, Type::BOOL),
            (&row.updated_at.0, Type::INT8),
        ],
    )?;
    Ok(())
}

fn to_i32(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// A statement's conditions and their parameters, numbered in order.
#[derive(Default)]
pub(super) struct Query {
    conditions: Vec<String>,
    params: Vec<(Box<dyn ToSql + Sync>, Type)>,
}

impl std::fmt::Debug for Query {
    // Not the values: a filter may hold what a clerk typed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Query")
            .field("conditions", &self.conditions)
            .finish_non_exhaustive()
    }
}

impl Query {
    /// Adds a parameter; its placeholder (`$n`).
    fn param<T: ToSql + Sync + 'static>(&mut self, value: T, ty: Type) -> String {
        self.params.push((Box::new(value), ty));
        format!("${}", self.params.len())
    }

    /// Adds a condition; `?` in it stands for the value's parameter.
    fn when<T: ToSql + Sync + 'static>(&mut self, condition: &str, value: T, ty: Type) {
        let placeholder = self.param(value, ty);
        self.conditions
            .push(condition.replacen('?', &placeholder, 1));
    }

    /// Adds a condition without a parameter.
    fn when_plain(&mut self, condition: &str) {
        self.conditions.push(condition.to_string());
    }

    /// `WHERE` and the conditions, or nothing.
    fn where_clause(&self) -> String {
        if self.conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", self.conditions.join(" AND "))
        }
    }

    fn params(&self) -> Vec<(&(dyn ToSql + Sync), Type)> {
        self.params
            .iter()
            .map(|(v, ty)| (v.as_ref(), ty.clone()))
            .collect()
    }
}

/// A request list's conditions and order.
#[derive(Debug)]
pub(super) struct ListQuery {
    query: Query,
    order: &'static str,
}

const REQUEST_COLUMNS: &str = "id, receipt_no, item_code, village, grid, applicant_masked, \
                               status, conflict, clock, due_date, filed_at, updated_at, \
                               decided_on";

/// The conditions and order of a request list, as the tablet's list query has them (see
/// `bianmin_document::sqlite::list_requests`); [`StorageError::Invalid`] for a bad page size.
pub(super) fn list_query(
    scope: &ReadScope,
    filter: &RequestFilter,
    sort: RequestSort,
    page: Page,
    today: NaiveDate,
    cal: &WorkingCalendar,
) -> crate::storage::Result<ListQuery> {
    if page.limit == 0 || page.limit > Page::MAX_LIMIT {
        return Err(StorageError::Invalid(format!(
            "page.limit: must be 1 to {}",
            Page::MAX_LIMIT
        )));
    }
    let query = conditions(scope, filter, today, cal);
    let order = match sort {
        RequestSort::Deadline => "due_date, receipt_no",
        RequestSort::RecentlyUpdated => "updated_at DESC, receipt_no",
        RequestSort::RecentlyFiled => "filed_at DESC, receipt_no",
        RequestSort::ReceiptNo => "receipt_no",
    };
    Ok(ListQuery { query, order })
}

/// The conditions of a request list within `scope` (without its order and page).
pub(super) fn conditions(
    scope: &ReadScope,
    filter: &RequestFilter,
    today: NaiveDate,
    cal: &WorkingCalendar,
) -> Query {
    let mut query = Query::default();
    let (column, value) = index_scope(scope);
    query.when(&format!("{column} = ?"), value.to_string(), Type::TEXT);
    filter_conditions(&mut query, filter);
    urgency_conditions(&mut query, filter.urgency, today, cal);
    query
}

/// Folds ASCII capitals to lower case and nothing else, as SQLite's `LIKE` does (the patterns
/// are lower-cased likewise, see `bianmin_document::model::contains_pattern`), so that both
/// backends find the same rows.
const FOLD_ASCII: &str = "'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz'";

fn filter_conditions(q: &mut Query, filter: &RequestFilter) {
    if let Some(s) = filter.status {
        q.when("status = ?", s.as_str(), Type::TEXT);
    }
    if let Some(v) = &filter.item_code {
        q.when("item_code = ?", v.clone(), Type::TEXT);
    }
    if let Some(v) = &filter.grid {
        q.when("grid = ?", v.clone(), Type::TEXT);
    }
    if let Some(v) = &filter.village {
        q.when("village = ?", v.clone(), Type::TEXT);
    }
    match filter.conflict {
        Some(true) => q.when_plain("conflict"),
        Some(false) => q.when_plain("NOT conflict"),
        None => {}
    }
    if let Some(p) = &filter.receipt_prefix {
        // Receipt numbers are digits and dashes; anything else cannot match. The column sorts
        // bytewise ("C"), so the prefix's range is [prefix, prefix + U+10FFFF).
        let clean: String = p
            .chars()
            .filter(|c| c.is_ascii_digit() || *c == '-')
            .collect();
        q.when("receipt_no >= ?", clean.clone(), Type::TEXT);
        q.when("receipt_no < ?", format!("{clean}\u{10FFFF}"), Type::TEXT);
    }
    // `%`, `_` and `\` typed in a search are escaped in the pattern.
    if let Some(p) = filter.receipt_pattern() {
        q.when(
            &format!("translate(receipt_no, {FOLD_ASCII}) LIKE ? ESCAPE '\\'"),
            p,
            Type::TEXT,
        );
    }
    if let Some(p) = filter.applicant_pattern() {
        q.when(
            &format!("translate(applicant_name, {FOLD_ASCII}) LIKE ? ESCAPE '\\'"),
            p,
            Type::TEXT,
        );
    }
    let (from, to) = filter.filed_bounds();
    if let Some(from) = from {
        q.when("filed_at >= ?", from, Type::INT8);
    }
    if let Some(to) = to {
        q.when("filed_at < ?", to, Type::INT8);
    }
}

fn urgency_conditions(
    q: &mut Query,
    urgency: Option<UrgencyFilter>,
    today: NaiveDate,
    cal: &WorkingCalendar,
) {
    let soon = cal.add_working_days(today, DUE_SOON_WORKING_DAYS);
    match urgency {
        Some(UrgencyFilter::Overdue) => {
            q.when("clock = 'running' AND due_date < ?", today, Type::DATE);
        }
        Some(UrgencyFilter::DueSoon) => {
            q.when("clock = 'running' AND due_date >= ?", today, Type::DATE);
            q.when("due_date <= ?", soon, Type::DATE);
        }
        Some(UrgencyFilter::OverdueOrDueSoon) => {
            q.when("clock = 'running' AND due_date <= ?", soon, Type::DATE);
        }
        None => {}
    }
}

/// One page of the request index: `page.limit` rows, one more fetched to tell `has_more`.
pub(super) fn list_requests(
    c: &mut Client,
    list: &ListQuery,
    page: Page,
) -> Result<Listing<RequestRow>, Failure> {
    let sql = format!(
        "SELECT {REQUEST_COLUMNS} FROM request_index {} ORDER BY {} LIMIT {} OFFSET {}",
        list.query.where_clause(),
        list.order,
        u64::from(page.limit) + 1,
        page.offset
    );
    let mut rows = c
        .query_typed(&sql, &list.query.params())?
        .iter()
        .map(request_row)
        .collect::<Result<Vec<_>, _>>()?;
    let has_more = rows.len() > page.limit as usize;
    rows.truncate(page.limit as usize);
    Ok(Listing { rows, has_more })
}

/// How many rows the conditions admit.
pub(super) fn count_requests(c: &mut Client, query: &Query) -> Result<u64, Failure> {
    let sql = format!(
        "SELECT count(*) FROM request_index {}",
        query.where_clause()
    );
    let row = c.query_typed_one(&sql, &query.params())?;
    to_u64(row.try_get(0)?)
}

/// Every row the conditions admit, in filing order, at most `max` (one more is read to tell
/// `has_more`).
pub(super) fn request_ledger(
    c: &mut Client,
    query: &Query,
    max: usize,
) -> Result<Listing<RequestRow>, Failure> {
    let sql = format!(
        "SELECT {REQUEST_COLUMNS} FROM request_index {} ORDER BY filed_at, receipt_no LIMIT {}",
        query.where_clause(),
        max.saturating_add(1)
    );
    let mut rows = c
        .query_typed(&sql, &query.params())?
        .iter()
        .map(request_row)
        .collect::<Result<Vec<_>, _>>()?;
    let has_more = rows.len() > max;
    rows.truncate(max);
    Ok(Listing { rows, has_more })
}

/// Per village within `scope`, the requests overdue on `today` (the list's condition) and
/// their earliest deadline.
pub(super) fn overdue_by_village(
    c: &mut Client,
    scope: &ReadScope,
    today: NaiveDate,
) -> Result<Vec<OverdueVillage>, Failure> {
    let (column, value) = index_scope(scope);
    let sql = format!(
        "SELECT village, count(*), min(due_date) FROM request_index
         WHERE {column} = $1 AND clock = 'running' AND due_date < $2
         GROUP BY village ORDER BY village"
    );
    c.query_typed(&sql, &[(&value, Type::TEXT), (&today, Type::DATE)])?
        .iter()
        .map(|r| {
            Ok(OverdueVillage {
                village: r.try_get(0)?,
                count: to_u64(r.try_get(1)?)?,
                earliest_due: r.try_get(2)?,
            })
        })
        .collect()
}

fn request_row(r: &Row) -> Result<RequestRow, Failure> {
    let status: String = r.try_get(6)?;
    let due: NaiveDate = r.try_get(9)?;
    Ok(RequestRow {
        id: r.try_get(0)?,
        receipt_no: r.try_get(1)?,
        item_code: r.try_get(2)?,
        village: r.try_get(3)?,
        grid: r.try_get(4)?,
        applicant_masked: r.try_get(5)?,
        status: Status::parse(&status).ok_or_else(|| bad(format!("unknown status {status:?}")))?,
        conflict: r.try_get(7)?,
        clock: r.try_get(8)?,
        due: (due != no_due()).then_some(due),
        decided_on: r.try_get(12)?,
        filed_at: Timestamp(r.try_get(10)?),
        updated_at: Timestamp(r.try_get(11)?),
    })
}

pub(super) fn request_stats(
    c: &mut Client,
    scope: &ReadScope,
) -> Result<Vec<RequestStat>, Failure> {
    let (column, value) = index_scope(scope);
    let sql = format!(
        "SELECT village, item_code, status, rating, count(*), count(decided_on),
            count(*) FILTER (WHERE on_time), COALESCE(sum(working_days), 0)
         FROM request_index WHERE {column} = $1
         GROUP BY village, item_code, status, rating
         ORDER BY village, item_code, status, rating NULLS FIRST"
    );
    c.query_typed(&sql, &[(&value, Type::TEXT)])?
        .iter()
        .map(|r| {
            let status: String = r.try_get(2)?;
            let rating: Option<String> = r.try_get(3)?;
            Ok(RequestStat {
                village: r.try_get(0)?,
                item_code: r.try_get(1)?,
                status: Status::parse(&status)
                    .ok_or_else(|| bad(format!("unknown status {status:?}")))?,
                rating: rating.as_deref().and_then(parse_rating),
                count: to_u64(r.try_get(4)?)?,
                decided: to_u64(r.try_get(5)?)?,
                on_time: to_u64(r.try_get(6)?)?,
                working_days: to_u64(r.try_get(7)?)?,
            })
        })
        .collect()
}

pub(super) fn agenda_rows(
    c: &mut Client,
    scope: &ReadScope,
    stages: &[Stage],
) -> Result<Vec<AgendaRow>, Failure> {
    let (column, value) = index_scope(scope);
    if column == "resident_user" {
        return Ok(Vec::new());
    }
    let stages: Vec<&str> = stages.iter().map(|s| s.as_str()).collect();
    let sql = format!(
        "SELECT id, village, title, category, stage, conflict, updated_at
         FROM agenda_index WHERE {column} = $1 AND (cardinality($2) = 0 OR stage = ANY($2))
         ORDER BY updated_at DESC, id"
    );
    c.query_typed(&sql, &[(&value, Type::TEXT), (&stages, Type::TEXT_ARRAY)])?
        .iter()
        .map(|r| {
            let stage: String = r.try_get(4)?;
            Ok(AgendaRow {
                id: r.try_get(0)?,
                village: r.try_get(1)?,
                title: r.try_get(2)?,
                category: r.try_get(3)?,
                stage: parse_stage(&stage)
                    .ok_or_else(|| bad(format!("unknown stage {stage:?}")))?,
                conflict: r.try_get(5)?,
                updated_at: Timestamp(r.try_get(6)?),
            })
        })
        .collect()
}

pub(super) fn document_ids(
    c: &mut Client,
    after: Option<Uuid>,
    limit: usize,
    unindexed: bool,
) -> Result<Vec<Uuid>, Failure> {
    let mut q = Query::default();
    if let Some(after) = after {
        q.when("id > ?", after, Type::UUID);
    }
    if unindexed {
        // A request's entry from before migration 0010 lacks the applicant's name.
        q.when_plain(
            "NOT EXISTS (SELECT 1 FROM request_index r
                         WHERE r.id = documents.id AND r.applicant_name IS NOT NULL)
             AND NOT EXISTS (SELECT 1 FROM agenda_index a WHERE a.id = documents.id)",
        );
    }
    let limit = q.param(i64::try_from(limit).unwrap_or(i64::MAX), Type::INT8);
    let sql = format!(
        "SELECT id FROM documents {} ORDER BY id LIMIT {limit}",
        q.where_clause()
    );
    c.query_typed(&sql, &q.params())?
        .iter()
        .map(|r| Ok(r.try_get(0)?))
        .collect()
}

pub(super) fn blob_references(c: &mut Client, sha256: &str) -> Result<Vec<BlobReference>, Failure> {
    c.query_typed(
        "SELECT b.doc_id, r.village, r.resident_user, b.size, b.media_type
         FROM blob_refs b JOIN request_index r ON r.id = b.doc_id
         WHERE b.sha256 = $1 ORDER BY b.doc_id",
        &[(&sha256, Type::TEXT)],
    )?
    .iter()
    .map(|r| {
        Ok(BlobReference {
            doc_id: r.try_get(0)?,
            village: r.try_get(1)?,
            resident_user: r.try_get(2)?,
            size: to_u64(r.try_get(3)?)?,
            media_type: r.try_get(4)?,
        })
    })
    .collect()
}
