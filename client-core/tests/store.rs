//! The store as a clerk uses it: filing, refusals that change nothing, lists, and the file
//! itself (reopen, quarantine, newer schema).

use bianmin_client_core::{
    Error, FieldEdit, NewRequest, Page, Reference, RequestFilter, RequestSort, Store, StoreConfig,
    UrgencyFilter,
};
use bianmin_domain::{Action, AttrValue, Clock, Identity, Role, Status, Timestamp};
use chrono::NaiveDate;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

const EAST: &str = "370883101201";
const ID: &str = "11010519491231002X";

fn clerk_at(path: &Path, device_no: u32) -> Store {
    let id = Identity::new(
        "clerk-wang",
        Role::Clerk,
        EAST,
        format!("tablet-{device_no}"),
    )
    .unwrap();
    Store::create(
        path,
        StoreConfig {
            identity: id,
            device_no,
            reference: Reference::demo(),
        },
    )
    .unwrap()
}

/// The materials AID-DIBAO requires (domain/demo/service-items.json).
const DIBAO_MATERIALS: [&str; 4] = [
    "ID card",
    "Household register (hukou) booklet",
    "Income statement",
    "Authorisation to check family finances",
];

/// A dibao application with every material it requires received.
fn dibao(name: &str) -> NewRequest {
    NewRequest {
        item_code: "AID-DIBAO".into(),
        applicant_name: name.into(),
        id_number: ID.into(),
        phone: "13812345678".into(),
        grid: "2组".into(),
        attributes: [
            ("household_members".to_string(), AttrValue::Number(3.0)),
            ("monthly_income".to_string(), AttrValue::Number(900.0)),
        ]
        .into(),
        materials_received: DIBAO_MATERIALS.map(String::from).to_vec(),
        resident_user: None,
        submit: true,
    }
}

fn date(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

/// A clock the test moves by hand.
fn settable_clock(store: &mut Store, start: &str) -> Arc<Mutex<Timestamp>> {
    let now = Arc::new(Mutex::new(Timestamp::at_noon(date(start))));
    let read = now.clone();
    store.set_clock(Arc::new(move || *read.lock().unwrap()));
    now
}

#[test]
fn filing_gives_a_receipt_number_and_a_masked_list_row() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = clerk_at(&dir.path().join("t.db"), 7);
    let a = s.file_request(dibao("王秀英")).unwrap();
    let b = s.file_request(dibao("李四")).unwrap();
    assert_eq!(a.receipt_no.as_str(), "370883101201-007-000001");
    assert_eq!(b.receipt_no.as_str(), "370883101201-007-000002");
    assert_eq!(a.status, Status::Submitted);
    assert_eq!(
        a.applicant.id_number, ID,
        "the request's own page shows the full number"
    );

    let row = s
        .find_by_receipt("370883101201-007-000001")
        .unwrap()
        .unwrap();
    assert_eq!(row.id, a.id);
    assert_eq!(row.applicant_masked, "王*英");
    let json = serde_json::to_string(&row).unwrap();
    assert!(
        !json.contains(ID) && !json.contains("13812345678") && !json.contains("王秀英"),
        "list rows carry no personal data"
    );
}

/// The receipt numbers a list shows with `filter`, in receipt order.
fn receipts_of(s: &Store, filter: &RequestFilter) -> Vec<String> {
    let listing = s
        .list_requests(filter, RequestSort::ReceiptNo, Page::default())
        .unwrap();
    assert!(!listing.has_more);
    listing.rows.into_iter().map(|r| r.receipt_no).collect()
}

#[test]
fn lists_search_receipt_numbers_names_and_filing_days_and_count_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = clerk_at(&dir.path().join("t.db"), 5);
    let now = settable_clock(&mut s, "2026-11-02");
    // Filed one a day, 2 to 6 November.
    let names = ["王秀英", "李100%_四", "王五", "Zhang San", "李四"];
    let mut filed = Vec::new();
    for (i, name) in names.iter().enumerate() {
        *now.lock().unwrap() = Timestamp::at_noon(date("2026-11-02") + chrono::Days::new(i as u64));
        filed.push(
            s.file_request(dibao(name))
                .unwrap()
                .receipt_no
                .as_str()
                .to_string(),
        );
    }
    let search = |name: &str| RequestFilter {
        applicant_contains: Some(name.into()),
        ..Default::default()
    };
    let by_name = |name: &str| receipts_of(&s, &search(name));
    assert_eq!(
        by_name("王"),
        [filed[0].as_str(), filed[2].as_str()],
        "part of a name"
    );
    assert_eq!(
        by_name(" 王秀英 "),
        [filed[0].as_str()],
        "a whole name, trimmed"
    );
    assert_eq!(s.count_requests(&search("王")).unwrap(), 2);
    assert_eq!(by_name("李"), [filed[1].as_str(), filed[4].as_str()]);
    for literal in ["%", "_", "0%_四", "100%"] {
        assert_eq!(
            by_name(literal),
            [filed[1].as_str()],
            "{literal} matches itself only"
        );
    }
    assert!(by_name("李_").is_empty(), "_ is not any one character");
    assert_eq!(
        by_name("zhang"),
        [filed[3].as_str()],
        "ASCII letters in any case"
    );
    assert!(by_name("赵").is_empty());

    let by_receipt = |text: &str| {
        receipts_of(
            &s,
            &RequestFilter {
                receipt_contains: Some(text.into()),
                ..Default::default()
            },
        )
    };
    assert_eq!(
        by_receipt(filed[2].as_str()),
        [filed[2].as_str()],
        "a whole number"
    );
    assert_eq!(by_receipt("005-000003"), [filed[2].as_str()], "part of one");
    assert_eq!(
        by_receipt("０００００４"),
        [filed[3].as_str()],
        "typed full-width"
    );
    assert_eq!(by_receipt("-005-").len(), 5);
    assert!(by_receipt("%").is_empty() && by_receipt("_").is_empty());

    // Filing days, both ends included.
    let range = |from: Option<&str>, to: Option<&str>| RequestFilter {
        filed_from: from.map(date),
        filed_to: to.map(date),
        ..Default::default()
    };
    let days = range(Some("2026-11-03"), Some("2026-11-04"));
    assert_eq!(
        receipts_of(&s, &days),
        [filed[1].as_str(), filed[2].as_str()]
    );
    assert_eq!(s.count_requests(&days).unwrap(), 2);
    assert_eq!(
        receipts_of(&s, &range(Some("2026-11-06"), None)),
        [filed[4].as_str()]
    );
    assert_eq!(
        receipts_of(&s, &range(None, Some("2026-11-02"))),
        [filed[0].as_str()]
    );
    assert!(receipts_of(&s, &range(Some("2026-11-05"), Some("2026-11-04"))).is_empty());
    let both = RequestFilter {
        applicant_contains: Some("李".into()),
        filed_from: Some(date("2026-11-05")),
        ..Default::default()
    };
    assert_eq!(receipts_of(&s, &both), [filed[4].as_str()]);

    // The count is of the whole list, whatever the page.
    let all = RequestFilter::default();
    let first = s
        .list_requests(&all, RequestSort::ReceiptNo, Page::first(2))
        .unwrap();
    assert_eq!((first.rows.len(), first.has_more), (2, true));
    assert_eq!(s.count_requests(&all).unwrap(), 5);
}

#[test]
fn a_closed_request_lists_the_day_its_clock_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = clerk_at(&dir.path().join("t.db"), 1);
    let now = settable_clock(&mut s, "2026-11-02");
    let r = s.file_request(dibao("王秀英")).unwrap();
    s.apply(r.id, Action::Accept).unwrap();
    let row = s.request_row(r.id).unwrap().unwrap();
    assert_eq!((row.clock.as_str(), row.decided_on), ("running", None));
    *now.lock().unwrap() = Timestamp::at_noon(date("2026-11-05"));
    s.apply(
        r.id,
        Action::Withdraw {
            reason: "申请人不再需要".into(),
        },
    )
    .unwrap();
    let row = s.request_row(r.id).unwrap().unwrap();
    assert_eq!(row.status, Status::Withdrawn);
    assert_eq!(row.clock, "stopped");
    assert_eq!(row.decided_on, Some(date("2026-11-05")));
}

#[test]
fn a_version_3_store_is_upgraded_and_its_rows_can_be_searched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let (id, receipt) = {
        let mut s = clerk_at(&path, 1);
        settable_clock(&mut s, "2026-11-02");
        let r = s.file_request(dibao("王秀英")).unwrap();
        s.apply(r.id, Action::Accept).unwrap();
        s.apply(
            r.id,
            Action::Withdraw {
                reason: "申请人不再需要".into(),
            },
        )
        .unwrap();
        (r.id, r.receipt_no.as_str().to_string())
    };
    // Step 3's layout exactly: the list rows without the name and the closing day.
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(
            "ALTER TABLE requests DROP COLUMN applicant_name;
             ALTER TABLE requests DROP COLUMN decided_on;
             PRAGMA user_version = 3;",
        )
        .unwrap();
    }
    let s = Store::open(&path).unwrap();
    let found = receipts_of(
        &s,
        &RequestFilter {
            applicant_contains: Some("秀".into()),
            ..Default::default()
        },
    );
    assert_eq!(found, [receipt], "the old row was rewritten with the name");
    let row = s.request_row(id).unwrap().unwrap();
    assert_eq!(row.decided_on, Some(date("2026-11-02")));
    drop(s);
    let c = rusqlite::Connection::open(&path).unwrap();
    let flag: i64 = c
        .query_row(
            "SELECT count(*) FROM meta WHERE key = 'reproject_requests'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(flag, 0, "rewritten once, then the flag is gone");
}

#[test]
fn every_invalid_filing_names_field_and_rule_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = clerk_at(&dir.path().join("t.db"), 1);
    s.file_request(dibao("王秀英")).unwrap();
    let cases: Vec<(NewRequest, &str, &str)> = vec![
        (
            NewRequest {
                id_number: "110105194912310021".into(),
                ..dibao("甲")
            },
            "applicant.id_number",
            "check digit",
        ),
        (
            NewRequest {
                id_number: "1101051949".into(),
                ..dibao("甲")
            },
            "applicant.id_number",
            "18 characters",
        ),
        (
            NewRequest {
                phone: "12345".into(),
                ..dibao("甲")
            },
            "applicant.phone",
            "mobile",
        ),
        (
            NewRequest {
                applicant_name: " ".into(),
                ..dibao("甲")
            },
            "applicant.name",
            "required",
        ),
        (
            NewRequest {
                item_code: "NO-SUCH".into(),
                ..dibao("甲")
            },
            "item_code",
            "not a service item",
        ),
        (
            NewRequest {
                grid: "9组".into(),
                ..dibao("甲")
            },
            "grid",
            "one of the village's grids",
        ),
        (
            NewRequest {
                attributes: [("household_members".to_string(), AttrValue::Number(3.0))].into(),
                ..dibao("甲")
            },
            "attributes.monthly_income",
            "required",
        ),
        (
            NewRequest {
                attributes: [
                    (
                        "household_members".to_string(),
                        AttrValue::Text("three".into()),
                    ),
                    ("monthly_income".to_string(), AttrValue::Number(1.0)),
                ]
                .into(),
                ..dibao("甲")
            },
            "attributes.household_members",
            "number",
        ),
        (
            NewRequest {
                materials_received: vec!["Passport".into()],
                ..dibao("甲")
            },
            "materials",
            "not a material",
        ),
    ];
    for (input, field, rule) in cases {
        match s.file_request(input) {
            Err(Error::Invalid { field: f, rule: r }) => {
                assert_eq!(f, field);
                assert!(r.contains(rule), "{f}: {r} (expected to mention {rule})");
                assert!(!r.contains("110105194912310021"), "no ID number in errors");
            }
            other => panic!("expected Invalid({field}), got {other:?}"),
        }
    }
    assert_eq!(
        s.counts().unwrap(),
        (1, 0),
        "nothing stored by refused filings"
    );
    // The receipt counter did not advance either.
    assert_eq!(
        s.file_request(dibao("乙")).unwrap().receipt_no.as_str(),
        "370883101201-001-000002"
    );
}

#[test]
fn refused_events_and_edits_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = clerk_at(&dir.path().join("t.db"), 1);
    let r = s.file_request(dibao("王秀英")).unwrap();
    let heads = s.heads(r.id).unwrap();

    let err = s
        .apply(
            r.id,
            Action::Approve {
                note: String::new(),
            },
        )
        .unwrap_err();
    assert!(
        matches!(&err, Error::Forbidden(m) if m.contains("clerk") && m.contains("approve")),
        "{err}"
    );
    let err = s.apply(r.id, Action::Forward).unwrap_err();
    assert!(
        matches!(&err, Error::Invalid { field, rule } if field == "forward" && rule.contains("submitted")),
        "{err}"
    );
    let err = s
        .apply(r.id, Action::RefuseToAccept { reason: " ".into() })
        .unwrap_err();
    assert!(
        matches!(&err, Error::Invalid { field, .. } if field == "reason"),
        "{err}"
    );
    let err = s.edit(r.id, FieldEdit::Phone("0000".into())).unwrap_err();
    assert!(
        matches!(&err, Error::Invalid { field, .. } if field == "applicant.phone"),
        "{err}"
    );
    let err = s.comment(r.id, "   ").unwrap_err();
    assert!(
        matches!(&err, Error::Invalid { field, .. } if field == "comment"),
        "{err}"
    );
    assert_eq!(s.heads(r.id).unwrap(), heads, "the document is untouched");
    assert_eq!(s.request(r.id).unwrap().status, Status::Submitted);

    let missing = uuid::Uuid::new_v4();
    assert!(matches!(
        s.apply(missing, Action::Accept),
        Err(Error::NotFound { .. })
    ));
}

#[test]
fn a_request_through_the_village_and_its_edits() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = clerk_at(&dir.path().join("t.db"), 1);
    let now = settable_clock(&mut s, "2026-09-29");
    // The income statement is not brought at filing: accepted with it waived (容缺受理), it
    // is marked received when it comes.
    let r = s
        .file_request(NewRequest {
            materials_received: DIBAO_MATERIALS
                .into_iter()
                .filter(|m| *m != "Income statement")
                .map(String::from)
                .collect(),
            ..dibao("王秀英")
        })
        .unwrap();
    s.apply(
        r.id,
        Action::WaiveMaterial {
            material: "Income statement".into(),
            reason: "申请人承诺三日内补交".into(),
        },
    )
    .unwrap();
    let r = s.apply(r.id, Action::Accept).unwrap();
    // 30 working days from Tue 29 Sep 2026, skipping National Day and counting Sat 10 Oct.
    assert_eq!(
        r.clock,
        Clock::Running {
            due: date("2026-11-16")
        }
    );
    s.edit(r.id, FieldEdit::Phone("139 0000 1111".into()))
        .unwrap();
    s.edit(
        r.id,
        FieldEdit::Material {
            name: "Income statement".into(),
            received: true,
        },
    )
    .unwrap();
    let err = s
        .edit(
            r.id,
            FieldEdit::Attribute {
                code: "monthly_income".into(),
                value: None,
            },
        )
        .unwrap_err();
    assert!(err.to_string().contains("required"), "{err}");
    *now.lock().unwrap() = Timestamp::at_noon(date("2026-10-09"));
    let r = s.apply(r.id, Action::Forward).unwrap();
    assert_eq!(r.status, Status::Forwarded);
    assert_eq!(r.applicant.phone, "13900001111", "stored normalised");
    assert!(r.materials_received.contains("Income statement"));
    let fields: Vec<&str> = r.edits.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["phone", "materials.Income statement"]);
    // A forwarded request is the township's: the village no longer edits it.
    let err = s.edit(r.id, FieldEdit::Grid("1组".into())).unwrap_err();
    assert!(matches!(err, Error::Forbidden(_)), "{err}");
    // Events record who and where.
    let last = r.history.last().unwrap();
    assert_eq!(
        (last.by.user.as_str(), last.by.device.as_str()),
        ("clerk-wang", "tablet-1")
    );
    assert_eq!(last.by.at.china_date(), date("2026-10-09"));
}

#[test]
fn lists_filter_sort_and_page_from_the_projection() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = clerk_at(&dir.path().join("t.db"), 1);
    let now = settable_clock(&mut s, "2026-11-02");
    let mut accepted = Vec::new();
    for i in 0..7 {
        // Accept on successive days: deadlines differ.
        *now.lock().unwrap() = Timestamp::at_noon(date("2026-11-02") + chrono::Days::new(i));
        let r = s.file_request(dibao("王秀英")).unwrap();
        if i % 2 == 0 {
            accepted.push(s.apply(r.id, Action::Accept).unwrap());
        }
    }
    let only_accepted = RequestFilter {
        status: Some(Status::Accepted),
        ..Default::default()
    };
    let page = s
        .list_requests(&only_accepted, RequestSort::Deadline, Page::first(3))
        .unwrap();
    assert_eq!(page.rows.len(), 3);
    assert!(page.has_more);
    let dues: Vec<_> = page.rows.iter().map(|r| r.due.unwrap()).collect();
    assert!(
        dues.windows(2).all(|w| w[0] <= w[1]),
        "sorted by deadline: {dues:?}"
    );
    let rest = s
        .list_requests(
            &only_accepted,
            RequestSort::Deadline,
            Page {
                offset: 3,
                limit: 3,
            },
        )
        .unwrap();
    assert_eq!(rest.rows.len(), 1);
    assert!(!rest.has_more);

    // On the day after the earliest deadline, exactly that request is overdue.
    let earliest = accepted[0].clock.due().unwrap();
    *now.lock().unwrap() = Timestamp::at_noon(earliest + chrono::Days::new(1));
    let overdue = RequestFilter {
        urgency: Some(UrgencyFilter::Overdue),
        ..Default::default()
    };
    let rows = s
        .list_requests(&overdue, RequestSort::Deadline, Page::default())
        .unwrap()
        .rows;
    assert_eq!(
        rows.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![accepted[0].id]
    );
    assert_eq!(
        s.request(accepted[0].id).unwrap().urgency,
        bianmin_domain::Urgency::Overdue
    );

    let submitted = RequestFilter {
        status: Some(Status::Submitted),
        ..Default::default()
    };
    assert_eq!(
        s.list_requests(&submitted, RequestSort::ReceiptNo, Page::default())
            .unwrap()
            .rows
            .len(),
        3
    );
    let err = s
        .list_requests(&submitted, RequestSort::ReceiptNo, Page::first(0))
        .unwrap_err();
    assert!(matches!(err, Error::Invalid { ref field, .. } if field == "page.limit"));
}

#[test]
fn a_reopened_store_keeps_identity_counter_and_work() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let (id, actor) = {
        let mut s = clerk_at(&path, 3);
        let r = s.file_request(dibao("王秀英")).unwrap();
        (r.id, s.actor_hex())
    };
    let mut s = Store::open(&path).unwrap();
    assert_eq!(s.identity().user, "clerk-wang");
    assert_eq!(s.actor_hex(), actor);
    assert_eq!(s.request(id).unwrap().status, Status::Submitted);
    let next = s.file_request(dibao("李四")).unwrap();
    assert_eq!(next.receipt_no.as_str(), "370883101201-003-000002");
    let other = clerk_at(&dir.path().join("u.db"), 4);
    assert_ne!(other.actor_hex(), actor, "two stores never share an actor");
    assert!(matches!(
        Store::create(
            &path,
            StoreConfig {
                identity: s.identity().clone(),
                device_no: 3,
                reference: Reference::demo()
            }
        ),
        Err(Error::AlreadyExists(_))
    ));
}

fn moved_aside(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains(".unreadable-"))
        .collect()
}

#[test]
fn a_file_that_is_not_sqlite_is_moved_aside_never_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let garbage = b"this is not a database, but it may be someone's only copy".repeat(100);
    std::fs::write(&path, &garbage).unwrap();
    match Store::open(&path) {
        Err(Error::Quarantined { moved_to, reason }) => {
            assert!(reason.contains("not a database"), "{reason}");
            assert_eq!(
                std::fs::read(&moved_to).unwrap(),
                garbage,
                "bytes kept as they were"
            );
        }
        other => panic!("expected Quarantined, got {other:?}"),
    }
    assert!(!path.exists(), "the path is free for a new store");
    assert_eq!(moved_aside(dir.path()).len(), 1);
    clerk_at(&path, 1); // a new store can be enrolled in its place
}

#[test]
fn a_store_from_a_newer_version_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    drop(clerk_at(&path, 1));
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.pragma_update(None, "user_version", 99).unwrap();
    }
    let before = std::fs::read(&path).unwrap();
    match Store::open(&path) {
        Err(Error::TooNew {
            found: 99,
            supported,
        }) => {
            assert_eq!(supported, bianmin_client_core::SCHEMA_VERSION)
        }
        other => panic!("expected TooNew, got {other:?}"),
    }
    assert_eq!(std::fs::read(&path).unwrap(), before);
    assert!(moved_aside(dir.path()).is_empty());
}

#[test]
fn another_programs_database_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.db");
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(
            "CREATE TABLE photos (id INTEGER PRIMARY KEY); INSERT INTO photos VALUES (1);",
        )
        .unwrap();
    }
    let err = Store::open(&path).unwrap_err();
    assert!(err.to_string().contains("not a Bianmin store"), "{err}");
    let c = rusqlite::Connection::open(&path).unwrap();
    let n: i64 = c
        .query_row("SELECT count(*) FROM photos", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 1);
    assert!(Store::open(dir.path().join("absent.db")).is_err());
}

#[test]
fn pending_changes_until_acknowledged_and_malformed_remote_bytes_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = clerk_at(&dir.path().join("t.db"), 1);
    let r = s.file_request(dibao("王秀英")).unwrap();
    let pending = s.pending_changes(100).unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].doc_id, r.id);
    assert_eq!(pending[0].kind, "request");
    s.acknowledge(r.id, &pending[0].heads).unwrap();
    assert!(s.pending_changes(100).unwrap().is_empty());
    s.apply(r.id, Action::Accept).unwrap();
    let again = s.pending_changes(100).unwrap();
    assert_eq!(
        again[0].changes.len(),
        1,
        "only the change made since the acknowledgement"
    );

    // A second tablet receives the request; garbage and incomplete change sets are refused.
    let mut t = clerk_at(&dir.path().join("u.db"), 2);
    let heads = t.heads(r.id).unwrap();
    assert!(heads.is_none());
    let err = t.apply_remote(r.id, &[b"garbage".to_vec()]).unwrap_err();
    assert!(matches!(err, Error::Malformed(_)), "{err}");
    let all = s.changes_since(r.id, &[]).unwrap();
    let err = t.apply_remote(r.id, &all[1..]).unwrap_err();
    assert!(err.to_string().contains("earlier changes"), "{err}");
    assert!(t.heads(r.id).unwrap().is_none(), "nothing stored");
    let err = t.apply_remote(uuid::Uuid::new_v4(), &all).unwrap_err();
    assert!(err.to_string().contains("id does not match"), "{err}");
    let applied = t.apply_remote(r.id, &all).unwrap();
    assert!(applied.created);
    assert_eq!(t.request(r.id).unwrap().status, Status::Accepted);
    assert_eq!(t.request_row(r.id).unwrap(), s.request_row(r.id).unwrap());
    assert_eq!(
        t.apply_remote(r.id, &all).unwrap().new_changes,
        0,
        "replays are harmless"
    );
}

#[test]
fn roles_outside_their_scope_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = clerk_at(&dir.path().join("t.db"), 1);
    let r = s.file_request(dibao("王秀英")).unwrap();
    let changes = s.changes_since(r.id, &[]).unwrap();

    // A clerk of another village holding the document may not act on it.
    let west = Identity::new("clerk-li", Role::Clerk, "370883101202", "tablet-9").unwrap();
    let mut w = Store::create(
        dir.path().join("w.db"),
        StoreConfig {
            identity: west,
            device_no: 9,
            reference: Reference::demo(),
        },
    )
    .unwrap();
    w.apply_remote(r.id, &changes).unwrap();
    let err = w.apply(r.id, Action::Accept).unwrap_err();
    assert!(err.to_string().contains("own village"), "{err}");

    // A reviewer may not file requests.
    let reviewer = Identity::new("rev-zhao", Role::Reviewer, "370883101", "desk-1").unwrap();
    let mut rv = Store::create(
        dir.path().join("r.db"),
        StoreConfig {
            identity: reviewer,
            device_no: 5,
            reference: Reference::demo(),
        },
    )
    .unwrap();
    let err = rv.file_request(dibao("王秀英")).unwrap_err();
    assert!(
        matches!(err, Error::Invalid { .. } | Error::Forbidden(_)),
        "{err}"
    );
}

#[test]
fn a_crash_while_creating_leaves_nothing_that_blocks_the_next_attempt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    // What a crash midway through `create` leaves behind: a half-built temporary file.
    std::fs::write(dir.path().join("t.db.creating"), b"").unwrap();
    std::fs::write(dir.path().join("t.db.creating-wal"), b"partial").unwrap();
    assert!(!path.exists(), "nothing half-made at the store's own path");
    let mut s = clerk_at(&path, 1);
    s.file_request(dibao("王秀英")).unwrap();
    drop(s);
    assert!(!dir.path().join("t.db.creating").exists());
    assert_eq!(Store::open(&path).unwrap().counts().unwrap(), (1, 0));
}

#[test]
fn a_version_1_store_is_upgraded_in_place_keeping_its_work() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let id = {
        let mut s = clerk_at(&path, 1);
        s.file_request(dibao("王秀英")).unwrap().id
    };
    // Step 1's layout exactly: what a tablet running the first release holds.
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(
            "DROP TABLE refused_edits; DROP TABLE blob_uploads; DROP TABLE attachment_refs;\n             ALTER TABLE requests DROP COLUMN applicant_name;\n             ALTER TABLE requests DROP COLUMN decided_on;\n             PRAGMA user_version = 1;",
        )
        .unwrap();
    }
    let mut s = Store::open(&path).unwrap();
    assert_eq!(s.request(id).unwrap().status, Status::Submitted);
    assert!(
        s.refused_edits().unwrap().is_empty(),
        "step 2 added the refused-edits table"
    );
    let some_hash = "0".repeat(64);
    assert_eq!(
        s.uploaded_bytes(&some_hash).unwrap(),
        0,
        "step 3 added the upload progress table"
    );
    s.apply(id, Action::Accept).unwrap();
    drop(s);
    let c = rusqlite::Connection::open(&path).unwrap();
    let v: i64 = c
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, bianmin_client_core::SCHEMA_VERSION);
}

#[test]
fn a_pulled_page_is_stored_together_and_a_bad_document_in_it_is_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = clerk_at(&dir.path().join("s.db"), 1);
    let a = s.file_request(dibao("王秀英")).unwrap().id;
    let b = s.file_request(dibao("李四")).unwrap().id;
    let mut t = clerk_at(&dir.path().join("t.db"), 2);
    let page = vec![
        (a, s.changes_since(a, &[]).unwrap()),
        (uuid::Uuid::new_v4(), vec![b"garbage".to_vec()]),
        (b, s.changes_since(b, &[]).unwrap()),
    ];
    let results = t.apply_remote_page(&page).unwrap();
    assert!(results[0].is_ok() && results[2].is_ok());
    assert!(matches!(results[1], Err(Error::Malformed(_))));
    assert_eq!(t.counts().unwrap(), (2, 0));
    assert_eq!(t.request_row(b).unwrap(), s.request_row(b).unwrap());
}
