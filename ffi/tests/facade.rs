//! The facade as the apps see it, without a hub: a clerk's store opened through `TabletStore`,
//! requests and agenda items worked on through the binding types, the documents listener told
//! of every write, and client-core's errors arriving as the right `BianminError` with messages
//! that name the field and never the resident's data.

use std::sync::{Arc, Mutex};

use bianmin_client_core::{Reference, Store, StoreConfig};
use bianmin_domain::{Identity, Role as CoreRole};
use bianmin_ffi::*;
use uuid::Uuid;

const EAST: &str = "370883101201";

/// A listener that records what it was told.
#[derive(Debug, Default, Clone)]
struct Recorder(Arc<Mutex<Vec<Vec<Uuid>>>>);

impl DocumentsListener for Recorder {
    fn documents_changed(&self, doc_ids: Vec<Uuid>) {
        self.0.lock().unwrap().push(doc_ids);
    }
}

impl Recorder {
    fn calls(&self) -> Vec<Vec<Uuid>> {
        self.0.lock().unwrap().clone()
    }
}

/// A store made by client-core (as enrolment would), reopened through the facade.
fn store_at(dir: &std::path::Path, user: &str, role: CoreRole, area: &str) -> Arc<TabletStore> {
    let path = dir.join(format!("{user}.db"));
    let config = StoreConfig {
        identity: Identity::new(user, role, area, format!("{user}-tablet")).unwrap(),
        device_no: 7,
        reference: Reference::demo(),
    };
    drop(Store::create(&path, config).unwrap());
    TabletStore::open(path.display().to_string()).unwrap()
}

fn soc_card() -> NewRequest {
    NewRequest {
        item_code: "SOC-CARD".into(),
        applicant_name: "王秀英".into(),
        id_number: "11010519491231002X".into(),
        phone: "13812345678".into(),
        grid: "1组".into(),
        attributes: [(
            "reason".to_string(),
            AttrValue::Text {
                value: "lost".into(),
            },
        )]
        .into(),
        materials_received: vec!["ID card".into()],
        resident_user: None,
        submit: true,
    }
}

#[test]
fn a_clerk_files_works_on_and_finds_a_request_and_the_listener_hears_each_write() {
    let dir = tempfile::tempdir().unwrap();
    let clerk = store_at(dir.path(), "clerk-east", CoreRole::Clerk, EAST);
    let heard = Recorder::default();
    clerk.set_documents_listener(Box::new(heard.clone()));

    assert_eq!(
        clerk.identity().unwrap(),
        bianmin_ffi::Identity {
            user: "clerk-east".into(),
            role: Role::Clerk,
            area: EAST.into(),
            device: "clerk-east-tablet".into(),
        }
    );
    assert_eq!(clerk.device_no().unwrap(), 7);
    assert_eq!(clerk.server_url().unwrap(), None, "not enrolled");
    let items = clerk.service_items().unwrap();
    let card = items.iter().find(|i| i.code == "SOC-CARD").unwrap();
    assert_eq!(card.level, HandlingLevel::VillageCollectsTownshipHandles);
    assert_eq!(card.attributes[0].datatype, AttributeType::Singlevaluelist);
    let east = clerk
        .villages()
        .unwrap()
        .into_iter()
        .find(|v| v.code == EAST)
        .unwrap();
    assert!(east.grids.contains(&"1组".to_string()));

    let filed = clerk.file_request(soc_card()).unwrap();
    assert_eq!(filed.status, Status::Submitted);
    assert_eq!(filed.receipt_no, "370883101201-007-000001");
    assert_eq!(filed.applicant.id_number, "11010519491231002X");
    assert_eq!(
        filed.attributes.get("reason"),
        Some(&AttrValue::Text {
            value: "lost".into()
        })
    );
    assert_eq!(filed.clock, DeadlineClock::NotStarted);
    assert_eq!(filed.urgency, Urgency::NotRunning);
    let id = filed.id;

    // The photo is brought after filing: marked received, the request can be accepted.
    assert_eq!(
        filed.outstanding_materials,
        ["Recent photo".to_string()],
        "without it the request cannot be accepted"
    );
    clerk
        .edit_request(
            id,
            FieldEdit::Material {
                name: "Recent photo".into(),
                received: true,
            },
        )
        .unwrap();
    clerk.apply_action(id, Action::Accept).unwrap();
    let edited = clerk
        .edit_request(
            id,
            FieldEdit::Phone {
                value: "139 1234 5678".into(),
            },
        )
        .unwrap();
    assert_eq!(edited.applicant.phone, "13912345678", "stored normalised");
    assert!(edited.outstanding_materials.is_empty());
    clerk.comment_request(id, "结果请送到家".into()).unwrap();
    let forwarded = clerk.apply_action(id, Action::Forward).unwrap();
    assert_eq!(forwarded.status, Status::Forwarded);
    assert!(matches!(forwarded.clock, DeadlineClock::Running { .. }));
    assert_eq!(
        forwarded.materials_received,
        ["ID card".to_string(), "Recent photo".to_string()]
    );
    assert_eq!(forwarded.comments[0].text, "结果请送到家");
    assert_eq!(forwarded.edits.len(), 2);

    // Every write was heard, each naming the request.
    assert_eq!(heard.calls(), vec![vec![id]; 6]);

    let history = clerk.request_history(id).unwrap();
    let actions: Vec<Action> = history.iter().map(|h| h.action.clone()).collect();
    assert_eq!(actions, [Action::Submit, Action::Accept, Action::Forward]);
    assert!(history.iter().all(|h| h.invalid.is_none()));
    assert!(history.iter().all(|h| h.by.role == Role::Clerk));
    assert_eq!(clerk.request(id).unwrap(), forwarded);

    // Lists: filtered, masked.
    let queue = clerk
        .list_requests(
            RequestFilter {
                status: Some(Status::Forwarded),
                ..RequestFilter::default()
            },
            RequestSort::Deadline,
            Page::default(),
        )
        .unwrap();
    assert_eq!(queue.rows.len(), 1);
    assert!(!queue.has_more);
    assert_eq!(queue.rows[0].id, id);
    assert_eq!(queue.rows[0].applicant_masked, "王*英");
    // Searched by part of the name as stored, counted over the whole list.
    let by_name = RequestFilter {
        applicant_contains: Some("秀".into()),
        ..RequestFilter::default()
    };
    assert_eq!(clerk.count_requests(by_name.clone()).unwrap(), 1);
    let found = clerk
        .list_requests(by_name, RequestSort::Deadline, Page::default())
        .unwrap();
    assert_eq!(found.rows[0].id, id);
    assert_eq!(found.rows[0].applicant_masked, "王*英");
    assert_eq!(queue.rows[0].clock, "running");
    assert!(queue.rows[0].due.is_some());
    let none = clerk
        .list_requests(
            RequestFilter {
                status: Some(Status::Approved),
                ..RequestFilter::default()
            },
            RequestSort::RecentlyFiled,
            Page {
                offset: 0,
                limit: 10,
            },
        )
        .unwrap();
    assert!(none.rows.is_empty());

    // Paging over three requests, two at a time.
    clerk.file_request(soc_card()).unwrap();
    clerk.file_request(soc_card()).unwrap();
    let first = clerk
        .list_requests(
            RequestFilter::default(),
            RequestSort::ReceiptNo,
            Page {
                offset: 0,
                limit: 2,
            },
        )
        .unwrap();
    assert_eq!(first.rows.len(), 2);
    assert!(first.has_more);
    let rest = clerk
        .list_requests(
            RequestFilter::default(),
            RequestSort::ReceiptNo,
            Page {
                offset: 2,
                limit: 2,
            },
        )
        .unwrap();
    assert_eq!(rest.rows.len(), 1);
    assert!(!rest.has_more);
    assert_eq!(rest.rows[0].receipt_no, "370883101201-007-000003");

    let found = clerk
        .find_by_receipt("370883101201-007-000001".into())
        .unwrap()
        .unwrap();
    assert_eq!(found.id, id);
    assert_eq!(
        clerk
            .find_by_receipt("370883101201-007-000099".into())
            .unwrap(),
        None
    );
    assert_eq!(
        clerk.counts().unwrap(),
        StoreCounts {
            requests: 3,
            agenda_items: 0
        }
    );

    // After the listener is removed, writes are no longer heard.
    clerk.clear_documents_listener();
    let before = heard.calls().len();
    clerk.comment_request(id, "再次确认地址".into()).unwrap();
    assert_eq!(heard.calls().len(), before);
}

#[test]
fn errors_arrive_as_the_right_variant_naming_the_field_but_never_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let clerk = store_at(dir.path(), "clerk-east", CoreRole::Clerk, EAST);
    let heard = Recorder::default();
    clerk.set_documents_listener(Box::new(heard.clone()));

    let bad_id = "110105194912310021"; // the check digit should be X
    let err = clerk
        .file_request(NewRequest {
            id_number: bad_id.into(),
            ..soc_card()
        })
        .unwrap_err();
    let BianminError::Invalid { field_name, rule } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(field_name, "applicant.id_number");
    assert_eq!(rule, "check digit does not match (GB 11643)");
    assert_eq!(
        err.to_string(),
        "applicant.id_number: check digit does not match (GB 11643)"
    );
    assert!(!format!("{err} {err:?}").contains(bad_id));

    let bad_phone = "1381234567"; // one digit short
    let err = clerk
        .file_request(NewRequest {
            phone: bad_phone.into(),
            ..soc_card()
        })
        .unwrap_err();
    assert!(
        matches!(&err, BianminError::Invalid { field_name, .. } if field_name == "applicant.phone"),
        "{err:?}"
    );
    assert!(!format!("{err} {err:?}").contains(bad_phone));

    let err = clerk
        .file_request(NewRequest {
            attributes: Default::default(),
            ..soc_card()
        })
        .unwrap_err();
    assert!(
        matches!(&err, BianminError::Invalid { field_name, .. } if field_name == "attributes.reason"),
        "{err:?}"
    );

    // Nothing was stored and nobody was told of anything.
    assert_eq!(clerk.counts().unwrap().requests, 0);
    assert!(heard.calls().is_empty());

    let id = clerk.file_request(soc_card()).unwrap().id;
    let err = clerk
        .apply_action(
            id,
            Action::Approve {
                note: String::new(),
            },
        )
        .unwrap_err();
    assert!(matches!(err, BianminError::Forbidden { .. }), "{err:?}");
    assert!(err.to_string().contains("clerk"), "{err}");

    let missing = Uuid::new_v4();
    let err = clerk.request(missing).unwrap_err();
    assert_eq!(
        err,
        BianminError::NotFound {
            detail: format!("request {missing} not found in this store")
        }
    );
    assert!(matches!(
        clerk.agenda(missing).unwrap_err(),
        BianminError::NotFound { .. }
    ));

    let err = clerk.comment_request(id, "   ".into()).unwrap_err();
    assert_eq!(err.to_string(), "comment: must be 1 to 2000 characters");

    let err = clerk.find_by_receipt("42".into()).unwrap_err();
    assert!(
        matches!(&err, BianminError::Invalid { field_name, .. } if field_name == "receipt_no"),
        "{err:?}"
    );

    // A store that was never enrolled cannot sync, and says so.
    #[derive(Debug)]
    struct Quiet;
    impl SyncListener for Quiet {
        fn sync_progress(&self, _: SyncProgress) {}
    }
    assert_eq!(
        clerk.sync(Box::new(Quiet), None).unwrap_err(),
        BianminError::NotEnrolled
    );
}

#[test]
fn opening_a_missing_or_unreadable_store_says_what_happened() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nothing-here.db");
    let err = TabletStore::open(missing.display().to_string()).unwrap_err();
    assert!(
        matches!(&err, BianminError::Invalid { field_name, .. } if field_name == "store"),
        "{err:?}"
    );

    let garbage = dir.path().join("garbage.db");
    std::fs::write(&garbage, vec![0x5a; 8192]).unwrap();
    let err = TabletStore::open(garbage.display().to_string()).unwrap_err();
    let BianminError::Quarantined { moved_to, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(std::path::Path::new(moved_to).exists(), "moved aside, kept");
    assert!(!garbage.exists());
}

#[test]
fn an_agenda_item_is_opened_recorded_edited_and_listed_through_the_facade() {
    let dir = tempfile::tempdir().unwrap();
    let clerk = store_at(dir.path(), "clerk-east", CoreRole::Clerk, EAST);
    let heard = Recorder::default();
    clerk.set_documents_listener(Box::new(heard.clone()));

    let item = clerk
        .create_agenda(NewAgendaItem {
            title: "村集体鱼塘承包方案".into(),
            category: "collective assets".into(),
            description: "东村集体鱼塘五年承包方案".into(),
        })
        .unwrap();
    assert_eq!(item.stage, Stage::Proposal);
    let meeting = |body, held_on: &str, entitled, present, votes_for| AgendaAction::Meeting {
        meeting: MeetingRecord {
            body,
            held_on: held_on.parse().unwrap(),
            entitled,
            present,
            households: None,
            households_represented: None,
            votes_for,
            votes_against: present - votes_for,
            abstentions: 0,
            minutes: "会议记录".into(),
            sign_in_photos: vec![],
        },
    };
    let after = clerk
        .record_agenda(item.id, meeting(Body::PartyBranch, "2026-05-06", 5, 5, 5))
        .unwrap();
    assert_eq!(after.stage, Stage::Consultation);
    // Two of nine present: recorded, but the stage does not move.
    let short = clerk
        .record_agenda(item.id, meeting(Body::TwoCommittees, "2026-05-08", 9, 2, 2))
        .unwrap();
    assert_eq!(short.stage, Stage::Consultation);
    assert!(matches!(
        short.history[1].meeting_result,
        Some(MeetingResult::NoQuorum { .. })
    ));
    // Out of order: a stage-4 meeting now is refused, naming the rule.
    let err = clerk
        .record_agenda(
            item.id,
            meeting(Body::RepresentativesMeeting, "2026-05-09", 35, 30, 30),
        )
        .unwrap_err();
    assert!(
        matches!(&err, BianminError::Invalid { field_name, rule } if field_name == "meeting.body" && rule.contains("out of order")),
        "{err:?}"
    );

    clerk
        .edit_agenda(
            item.id,
            AgendaEdit::Title {
                value: "东村鱼塘承包方案".into(),
            },
        )
        .unwrap();
    let commented = clerk
        .comment_agenda(item.id, "请附上评估报告".into())
        .unwrap();
    assert_eq!(commented.title, "东村鱼塘承包方案");
    assert_eq!(commented.comments[0].text, "请附上评估报告");

    let history = clerk.agenda_history(item.id).unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[0].meeting_result, Some(MeetingResult::Passed));
    let AgendaAction::Meeting { meeting } = &history[0].action else {
        panic!("{:?}", history[0].action)
    };
    assert_eq!(meeting.held_on.to_string(), "2026-05-06");

    let listed = clerk
        .list_agenda(Some(Stage::Consultation), Page::default())
        .unwrap();
    assert_eq!(listed.rows.len(), 1);
    assert_eq!(listed.rows[0].title, "东村鱼塘承包方案");
    assert!(
        clerk
            .list_agenda(Some(Stage::Done), Page::default())
            .unwrap()
            .rows
            .is_empty()
    );
    assert_eq!(clerk.agenda(item.id).unwrap(), commented);
    assert_eq!(heard.calls(), vec![vec![item.id]; 5]);
}

#[test]
fn a_photo_is_attached_listed_and_opened_through_the_facade() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_at(dir.path(), "clerk-1", CoreRole::Clerk, EAST);
    let heard = Recorder::default();
    let id = store.file_request(soc_card()).unwrap().id;
    store.set_documents_listener(Box::new(heard.clone()));

    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend((0..50_000u32).map(|i| (i % 251) as u8));
    let file = dir.path().join("id-card.png");
    std::fs::write(&file, &png).unwrap();
    let added = store
        .attach_file(id, "ID card".into(), file.display().to_string())
        .unwrap();
    assert_eq!(
        heard.calls(),
        vec![vec![id]],
        "the listener hears the attachment"
    );
    assert_eq!(
        (added.media_type, added.size, added.material.as_str()),
        (MediaType::Png, png.len() as u64, "ID card")
    );
    assert_eq!(store.request(id).unwrap().attachments, vec![added.clone()]);
    assert_eq!(
        store.attachments(id).unwrap(),
        vec![AttachmentStatus {
            attachment: added.clone(),
            state: TransferState::Uploading { uploaded: 0 },
        }]
    );
    let opened = store.open_attachment(id, added.sha256.clone()).unwrap();
    assert_eq!(std::fs::read(opened).unwrap(), png);

    // Refusals name the rule; nothing is added.
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "not a photo").unwrap();
    let Err(BianminError::Invalid { field_name, .. }) =
        store.attach_file(id, "ID card".into(), text.display().to_string())
    else {
        panic!("a text file was attached")
    };
    assert_eq!(field_name, "attachment.media_type");
    let Err(BianminError::Invalid { field_name, .. }) =
        store.attach_bytes(id, "a bank statement".into(), png.clone())
    else {
        panic!("a material the item does not list was accepted")
    };
    assert!(field_name.contains("material"), "{field_name}");
    assert!(matches!(
        store.open_attachment(id, "0".repeat(64)),
        Err(BianminError::NotFound { .. })
    ));
    assert_eq!(store.attachments(id).unwrap().len(), 1);
    assert_eq!(heard.calls().len(), 1, "refusals are not changes");
}

#[test]
fn public_texts_that_look_like_personal_data_get_warnings_through_the_facade() {
    let dir = tempfile::tempdir().unwrap();
    let clerk = store_at(dir.path(), "clerk-east", CoreRole::Clerk, EAST);
    let new = NewAgendaItem {
        title: "补偿款发放".into(),
        category: "compensation".into(),
        description: "户主电话１３８ １２３４ ５６７８".into(),
    };
    let warning = |field_name: &str, kinds: &[PersonalNumberKind]| PublicTextWarning {
        field_name: field_name.into(),
        kinds: kinds.to_vec(),
    };
    assert_eq!(
        clerk.new_agenda_warnings(new.clone()),
        [warning("description", &[PersonalNumberKind::Mobile])]
    );
    // A warning, not a refusal: the item is opened with the text as typed.
    assert_eq!(
        clerk.create_agenda(new).unwrap().description,
        "户主电话１３８ １２３４ ５６７８"
    );
    let notice = AgendaAction::ResolutionNotice {
        notice: Notice {
            text: "打入账户 6222 0212 3456 7890 123".into(),
            posted_on: "2026-05-21".parse().unwrap(),
            period_days: 7,
            place: "村委会 +86 139 8765 4321".into(),
        },
    };
    assert_eq!(
        clerk.agenda_action_warnings(notice),
        [
            warning("notice.text", &[PersonalNumberKind::LongNumber]),
            warning("notice.place", &[PersonalNumberKind::Mobile])
        ]
    );
    let edit = AgendaEdit::Title {
        value: "2026年度补偿款发放".into(),
    };
    assert_eq!(clerk.agenda_edit_warnings(edit), []);
}
