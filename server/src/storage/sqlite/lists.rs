//! The console's counts, ledger and overdue overview over the request index on SQLite (see
//! the trait's documentation). The conditions are `bianmin_document::sqlite`'s, the ones the
//! lists and the tablet use, so a count always counts what the list shows.

use bianmin_document::model::{Listing, RequestFilter, RequestRow};
use bianmin_domain::WorkingCalendar;
use chrono::NaiveDate;
use rusqlite::Connection;

use super::{Db, backend, index_scope, to_u64};
use crate::storage::{OverdueVillage, ReadScope, Result, StorageError};

/// A list query's error as storage reports it (the page size is the caller's mistake).
fn list_error(e: bianmin_document::Error) -> StorageError {
    match e {
        bianmin_document::Error::Invalid { field, rule } => {
            StorageError::Invalid(format!("{field}: {rule}"))
        }
        other => backend(other),
    }
}

pub(super) fn count_requests(
    conn: &Connection,
    scope: &ReadScope,
    filter: &RequestFilter,
    today: NaiveDate,
    calendar: &WorkingCalendar,
) -> Result<u64> {
    bianmin_document::sqlite::count_requests(
        conn,
        "request_index",
        filter,
        today,
        calendar,
        Some(index_scope(scope)),
    )
    .map_err(list_error)
}

pub(super) fn request_ledger(
    conn: &Connection,
    scope: &ReadScope,
    filter: &RequestFilter,
    today: NaiveDate,
    calendar: &WorkingCalendar,
    max: usize,
) -> Result<Listing<RequestRow>> {
    bianmin_document::sqlite::ledger_requests(
        conn,
        "request_index",
        filter,
        today,
        calendar,
        Some(index_scope(scope)),
        u64::try_from(max).unwrap_or(u64::MAX),
    )
    .map_err(list_error)
}

pub(super) fn overdue_by_village(
    conn: &Connection,
    scope: &ReadScope,
    today: NaiveDate,
) -> Result<Vec<OverdueVillage>> {
    let (column, value) = index_scope(scope);
    // The same condition as the list's urgency filter "overdue".
    let sql = format!(
        "SELECT village, count(*), min(due_date) FROM request_index
         WHERE {column} = ?1 AND clock = 'running' AND due_date < ?2
         GROUP BY village ORDER BY village"
    );
    let mut stmt = conn.prepare_cached(&sql).db()?;
    let rows = stmt
        .query_map([value.to_string(), today.to_string()], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
            ))
        })
        .db()?
        .collect::<rusqlite::Result<Vec<_>>>()
        .db()?;
    rows.into_iter()
        .map(|(village, count, due)| {
            Ok(OverdueVillage {
                village,
                count: to_u64(count)?,
                earliest_due: due
                    .parse()
                    .map_err(|_| backend(format!("a deadline that is not a date: {due:?}")))?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use bianmin_document::model::{Page, RequestSort};
    use bianmin_document::{DocIndex, DocKind, RequestIndex};
    use bianmin_domain::{Status, Timestamp};
    use uuid::Uuid;

    use super::*;
    use crate::storage::sqlite::{DB_FILE, SqliteStorage};
    use crate::storage::{Commit, Storage};

    const EAST: &str = "370883101201";

    fn entry(id: Uuid) -> DocIndex {
        DocIndex::Request(Box::new(RequestIndex {
            row: RequestRow {
                id,
                receipt_no: "370883101201-001-000001".into(),
                item_code: "SOC-CARD".into(),
                village: EAST.into(),
                grid: "1组".into(),
                applicant_masked: "王*英".into(),
                status: Status::Forwarded,
                conflict: false,
                clock: "running".into(),
                due: Some("2026-03-20".parse().unwrap()),
                decided_on: None,
                filed_at: Timestamp(1_772_409_600_000),
                updated_at: Timestamp(1_772_409_600_000),
            },
            applicant_name: "王秀英".into(),
            resident_user: None,
            decision: None,
            rating: None,
            attachments: Vec::new(),
        }))
    }

    /// An entry written before migration 13 (no applicant's name) counts as unindexed, so the
    /// maintenance writes it again, after which the search finds it.
    #[test]
    fn an_entry_without_the_name_is_indexed_again() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStorage::open(dir.path()).unwrap();
        let id = Uuid::new_v4();
        let index = entry(id);
        let change = ([7u8; 32], b"change".to_vec());
        s.commit(&Commit {
            doc_id: id,
            kind: DocKind::Request,
            village: EAST,
            resident_user: None,
            snapshot: b"doc",
            changes: &[change],
            device_id: "dev-a",
            user_id: "user-x",
            received_at: 1_772_409_600_000,
            index: Some(&index),
        })
        .unwrap();
        assert!(s.document_ids(None, 10, true).unwrap().is_empty());
        let raw = Connection::open(dir.path().join(DB_FILE)).unwrap();
        raw.execute("UPDATE request_index SET applicant_name = NULL", [])
            .unwrap();
        assert_eq!(s.document_ids(None, 10, true).unwrap(), [id]);

        let scope = ReadScope::Village(EAST.into());
        let cal = WorkingCalendar::new(vec![]);
        let today: NaiveDate = "2026-03-10".parse().unwrap();
        let by_name = RequestFilter {
            applicant_contains: Some("秀".into()),
            ..RequestFilter::default()
        };
        let found = |s: &SqliteStorage| {
            s.requests(
                &scope,
                &by_name,
                RequestSort::Deadline,
                Page::default(),
                today,
                &cal,
            )
            .unwrap()
            .rows
            .len()
        };
        assert_eq!(found(&s), 0, "the old entry has no name to match");
        assert_eq!(
            s.requests(
                &scope,
                &RequestFilter::default(),
                RequestSort::Deadline,
                Page::default(),
                today,
                &cal
            )
            .unwrap()
            .rows
            .len(),
            1,
            "but it is listed meanwhile"
        );
        assert_eq!(s.reindex(&[(id, 1, index)]).unwrap(), 1);
        assert!(s.document_ids(None, 10, true).unwrap().is_empty());
        assert_eq!(found(&s), 1);
        assert_eq!(
            count_requests(&raw, &scope, &by_name, today, &cal).unwrap(),
            1
        );
    }
}
