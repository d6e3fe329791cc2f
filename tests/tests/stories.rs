//! Stories from the village and the township, told with several devices that work offline and
//! exchange their changes afterwards.

use bianmin_client_core::{FieldEdit, NewAgendaItem, NewRequest, Page, RequestFilter, RequestSort};
use bianmin_domain::{
    Action, AgendaAction, AttrValue, Body, Clock, Meeting, Notice, Rating, ReviewKind, Role, Stage,
    Status,
};
use bianmin_tests::{Device, EAST, TAIPING, sync_all};

fn dibao() -> NewRequest {
    NewRequest {
        item_code: "AID-DIBAO".into(),
        applicant_name: "王秀英".into(),
        id_number: "11010519491231002X".into(),
        phone: "13812345678".into(),
        grid: "1组".into(),
        attributes: [
            ("household_members".to_string(), AttrValue::Number(2.0)),
            ("monthly_income".to_string(), AttrValue::Number(600.0)),
        ]
        .into(),
        // Every material AID-DIBAO requires: it can be accepted.
        materials_received: vec![
            "ID card".into(),
            "Household register (hukou) booklet".into(),
            "Income statement".into(),
            "Authorisation to check family finances".into(),
        ],
        resident_user: None,
        submit: true,
    }
}

#[test]
fn filed_offline_approved_at_the_township_delivered_and_rated() {
    let mut clerk = Device::new("clerk-wang", Role::Clerk, EAST, 1, "2026-03-02");
    let mut reviewer = Device::new("rev-zhao", Role::Reviewer, TAIPING, 2, "2026-03-02");

    let r = clerk.store.file_request(dibao()).unwrap();
    clerk.store.apply(r.id, Action::Accept).unwrap();
    clerk.store.apply(r.id, Action::Forward).unwrap();
    sync_all(&mut [&mut clerk, &mut reviewer]);

    let seen = reviewer.store.request(r.id).unwrap();
    assert_eq!(seen.status, Status::Forwarded);
    assert_eq!(seen.receipt_no, r.receipt_no);
    reviewer.set_date("2026-03-10");
    reviewer
        .store
        .apply(
            r.id,
            Action::Approve {
                note: "符合条件".into(),
            },
        )
        .unwrap();
    sync_all(&mut [&mut clerk, &mut reviewer]);

    assert_eq!(clerk.store.request(r.id).unwrap().status, Status::Approved);
    clerk.set_date("2026-03-11");
    clerk.store.apply(r.id, Action::Deliver).unwrap();
    clerk
        .store
        .apply(
            r.id,
            Action::Rate {
                rating: Rating::VerySatisfied,
                comment: String::new(),
            },
        )
        .unwrap();
    sync_all(&mut [&mut clerk, &mut reviewer]);

    let a = clerk.store.request(r.id).unwrap();
    let b = reviewer.store.request(r.id).unwrap();
    assert_eq!(a.status, Status::Completed);
    assert_eq!(a.rating, Some(Rating::VerySatisfied));
    assert_eq!(a.history, b.history);
    assert_eq!(
        clerk.store.heads(r.id).unwrap(),
        reviewer.store.heads(r.id).unwrap()
    );
    // Approved on 10 March, within 30 working days of acceptance on 2 March.
    assert_eq!(a.clock.on_time(), Some(true));
    let who: Vec<(&str, &str)> = a
        .history
        .iter()
        .map(|h| (h.action.kind(), h.by.user.as_str()))
        .collect();
    assert_eq!(
        who,
        [
            ("submit", "clerk-wang"),
            ("accept", "clerk-wang"),
            ("forward", "clerk-wang"),
            ("approve", "rev-zhao"),
            ("deliver", "clerk-wang"),
            ("rate", "clerk-wang"),
        ]
    );
}

#[test]
fn withdrawn_at_the_village_while_the_township_returns_it_both_tablets_show_the_conflict() {
    let mut clerk = Device::new("clerk-wang", Role::Clerk, EAST, 1, "2026-03-02");
    let mut reviewer = Device::new("rev-zhao", Role::Reviewer, TAIPING, 2, "2026-03-02");
    let r = clerk.store.file_request(dibao()).unwrap();
    clerk.store.apply(r.id, Action::Accept).unwrap();
    clerk.store.apply(r.id, Action::Forward).unwrap();
    sync_all(&mut [&mut clerk, &mut reviewer]);

    // Offline on both sides.
    clerk
        .store
        .apply(
            r.id,
            Action::Withdraw {
                reason: "moved away".into(),
            },
        )
        .unwrap();
    reviewer
        .store
        .apply(
            r.id,
            Action::ReturnForSupplement {
                missing: vec!["Income statement".into()],
                note: String::new(),
            },
        )
        .unwrap();
    sync_all(&mut [&mut clerk, &mut reviewer]);

    for device in [&clerk, &reviewer] {
        let seen = device.store.request(r.id).unwrap();
        let conflict = seen.conflict.expect("in conflict");
        let mut statuses: Vec<Status> = conflict.branches.iter().map(|b| b.1).collect();
        statuses.sort();
        assert_eq!(statuses, [Status::Returned, Status::Withdrawn]);
        assert!(device.store.request_row(r.id).unwrap().unwrap().conflict);
        let kinds: Vec<&str> = seen.history.iter().map(|h| h.action.kind()).collect();
        assert!(kinds.contains(&"withdraw") && kinds.contains(&"return_for_supplement"));
    }
    assert_eq!(
        clerk.store.request(r.id).unwrap().status,
        reviewer.store.request(r.id).unwrap().status,
        "both show the same branch first"
    );
    // Nothing moves on until a person settles it.
    let err = clerk.store.apply(
        r.id,
        Action::Supplement {
            provided: vec!["Income statement".into()],
        },
    );
    assert!(err.unwrap_err().to_string().contains("settle"));

    let in_conflict = RequestFilter {
        conflict: Some(true),
        ..Default::default()
    };
    let listed = clerk
        .store
        .list_requests(&in_conflict, RequestSort::Deadline, Page::default())
        .unwrap();
    assert_eq!(listed.rows.len(), 1);

    let withdraw_branch = clerk
        .store
        .request(r.id)
        .unwrap()
        .conflict
        .unwrap()
        .branches
        .into_iter()
        .find(|b| b.1 == Status::Withdrawn)
        .unwrap()
        .0;
    reviewer
        .store
        .apply(
            r.id,
            Action::Settle {
                keep: withdraw_branch,
                note: "居民已撤回".into(),
            },
        )
        .unwrap();
    sync_all(&mut [&mut clerk, &mut reviewer]);
    for device in [&clerk, &reviewer] {
        let seen = device.store.request(r.id).unwrap();
        assert!(seen.conflict.is_none());
        assert_eq!(seen.status, Status::Withdrawn);
        assert!(!device.store.request_row(r.id).unwrap().unwrap().conflict);
    }
}

#[test]
fn two_clerks_accepting_the_same_request_agree_and_are_not_flagged() {
    let mut a = Device::new("clerk-wang", Role::Clerk, EAST, 1, "2026-03-02");
    let mut b = Device::new("clerk-liu", Role::Clerk, EAST, 2, "2026-03-03");
    let r = a.store.file_request(dibao()).unwrap();
    sync_all(&mut [&mut a, &mut b]);
    a.store.apply(r.id, Action::Accept).unwrap();
    b.store.apply(r.id, Action::Accept).unwrap();
    sync_all(&mut [&mut a, &mut b]);
    let seen = b.store.request(r.id).unwrap();
    assert_eq!(seen.status, Status::Accepted);
    assert!(seen.conflict.is_none());
    assert_eq!(
        seen.history.len(),
        3,
        "both acceptances are kept as evidence"
    );
    assert_eq!(a.store.request(r.id).unwrap().clock, seen.clock);
}

#[test]
fn field_edits_on_two_tablets_merge_and_a_same_field_clash_is_flagged() {
    let mut a = Device::new("clerk-wang", Role::Clerk, EAST, 1, "2026-03-02");
    let mut b = Device::new("clerk-liu", Role::Clerk, EAST, 2, "2026-03-02");
    let r = a.store.file_request(dibao()).unwrap();
    sync_all(&mut [&mut a, &mut b]);

    a.store
        .edit(r.id, FieldEdit::Phone("13900001111".into()))
        .unwrap();
    b.store.edit(r.id, FieldEdit::Grid("3组".into())).unwrap();
    sync_all(&mut [&mut a, &mut b]);
    let seen = a.store.request(r.id).unwrap();
    assert_eq!(
        (seen.applicant.phone.as_str(), seen.grid.as_str()),
        ("13900001111", "3组")
    );
    assert!(seen.field_conflicts.is_empty());
    assert_eq!(b.store.request(r.id).unwrap().applicant, seen.applicant);

    a.store
        .edit(r.id, FieldEdit::Phone("13700002222".into()))
        .unwrap();
    b.store
        .edit(r.id, FieldEdit::Phone("13600003333".into()))
        .unwrap();
    sync_all(&mut [&mut a, &mut b]);
    let (sa, sb) = (
        a.store.request(r.id).unwrap(),
        b.store.request(r.id).unwrap(),
    );
    assert_eq!(
        sa.applicant.phone, sb.applicant.phone,
        "both keep the same value"
    );
    assert_eq!(sa.field_conflicts, ["phone"]);
    assert!(a.store.request_row(r.id).unwrap().unwrap().conflict);
    // Someone checks with the resident and types the right number: the clash is over.
    a.store
        .edit(r.id, FieldEdit::Phone("13600003333".into()))
        .unwrap();
    sync_all(&mut [&mut a, &mut b]);
    assert!(b.store.request(r.id).unwrap().field_conflicts.is_empty());
}

#[test]
fn the_clock_stops_while_the_township_waits_for_materials() {
    let mut clerk = Device::new("clerk-wang", Role::Clerk, EAST, 1, "2026-04-01");
    let mut reviewer = Device::new("rev-zhao", Role::Reviewer, TAIPING, 2, "2026-04-01");
    let mut item = dibao();
    item.item_code = "SOC-CARD".into();
    item.attributes = [("reason".to_string(), AttrValue::Text("lost".into()))].into();
    item.materials_received = vec!["ID card".into()];
    let r = clerk.store.file_request(item).unwrap();
    // Accepted without the photo (容缺受理), which the township later asks for.
    clerk
        .store
        .apply(
            r.id,
            Action::WaiveMaterial {
                material: "Recent photo".into(),
                reason: "申请人承诺补交".into(),
            },
        )
        .unwrap();
    clerk.store.apply(r.id, Action::Accept).unwrap(); // Wed 1 April, 10 working days
    clerk.store.apply(r.id, Action::Forward).unwrap();
    let due = clerk.store.request(r.id).unwrap().clock.due().unwrap();
    // 2,3 Apr; 4-6 Qingming; 7-10; 13-16 April: the 10th working day is Thu 16 April.
    assert_eq!(due.to_string(), "2026-04-16");
    sync_all(&mut [&mut clerk, &mut reviewer]);

    reviewer.set_date("2026-04-08");
    reviewer
        .store
        .apply(
            r.id,
            Action::ReturnForSupplement {
                missing: vec!["Recent photo".into()],
                note: String::new(),
            },
        )
        .unwrap();
    sync_all(&mut [&mut clerk, &mut reviewer]);
    let waiting = clerk.store.request(r.id).unwrap();
    assert_eq!(waiting.missing_materials, ["Recent photo"]);
    // Used: 2, 3, 7, 8 April = 4 working days; 6 remain while paused.
    assert!(
        matches!(waiting.clock, Clock::Paused { remaining: 6, .. }),
        "{:?}",
        waiting.clock
    );

    clerk.set_date("2026-04-20");
    let back = clerk
        .store
        .apply(
            r.id,
            Action::Supplement {
                provided: vec!["Recent photo".into()],
            },
        )
        .unwrap();
    assert_eq!(back.status, Status::Forwarded, "back to the township");
    // Counting resumes after Mon 20 April: 21-24, 27, 28 April.
    assert_eq!(back.clock.due().unwrap().to_string(), "2026-04-28");
}

#[test]
fn an_agenda_item_through_four_discussions_and_two_opens_with_the_township_comment() {
    let mut clerk = Device::new("clerk-wang", Role::Clerk, EAST, 1, "2026-05-06");
    let mut reviewer = Device::new("rev-zhao", Role::Reviewer, TAIPING, 2, "2026-05-06");
    let item = clerk
        .store
        .create_agenda(NewAgendaItem {
            title: "村集体鱼塘承包方案".into(),
            category: "collective assets".into(),
            description: "东村集体鱼塘五年承包方案".into(),
        })
        .unwrap();
    let meeting = |body, day: &str, entitled, present, for_| Meeting {
        body,
        held_on: day.parse().unwrap(),
        entitled,
        present,
        households: None,
        households_represented: None,
        votes_for: for_,
        votes_against: present - for_,
        abstentions: 0,
        minutes: "会议记录".into(),
        sign_in_photos: vec![],
    };
    let s = &mut clerk.store;
    s.record_agenda(
        item.id,
        AgendaAction::Meeting(meeting(Body::PartyBranch, "2026-05-06", 5, 5, 5)),
    )
    .unwrap();
    s.record_agenda(
        item.id,
        AgendaAction::Meeting(meeting(Body::TwoCommittees, "2026-05-08", 9, 8, 7)),
    )
    .unwrap();
    s.record_agenda(
        item.id,
        AgendaAction::Meeting(meeting(Body::PartyMembers, "2026-05-12", 30, 24, 20)),
    )
    .unwrap();
    // 23 of East Village's 35 representatives: short of two thirds, nothing can pass.
    let failed = s
        .record_agenda(
            item.id,
            AgendaAction::Meeting(meeting(
                Body::RepresentativesMeeting,
                "2026-05-15",
                35,
                23,
                23,
            )),
        )
        .unwrap();
    assert_eq!(failed.stage, Stage::Resolution);
    let passed = s
        .record_agenda(
            item.id,
            AgendaAction::Meeting(meeting(
                Body::RepresentativesMeeting,
                "2026-05-20",
                35,
                24,
                20,
            )),
        )
        .unwrap();
    assert_eq!(passed.stage, Stage::ResolutionNotice);
    s.record_agenda(
        item.id,
        AgendaAction::ResolutionNotice(Notice {
            text: "决议：鱼塘承包给出价最高者".into(),
            posted_on: "2026-05-21".parse().unwrap(),
            period_days: 7,
            place: "村务公开栏".into(),
        }),
    )
    .unwrap();
    sync_all(&mut [&mut clerk, &mut reviewer]);
    reviewer
        .store
        .record_agenda(
            item.id,
            AgendaAction::TownshipReview {
                review: ReviewKind::Recorded,
                comment: "已备案".into(),
            },
        )
        .unwrap();
    let err = reviewer
        .store
        .record_agenda(
            item.id,
            AgendaAction::Meeting(meeting(Body::PartyBranch, "2026-06-01", 5, 5, 5)),
        )
        .unwrap_err();
    assert!(err.to_string().contains("reviewer"), "{err}");
    sync_all(&mut [&mut clerk, &mut reviewer]);
    let done = clerk
        .store
        .record_agenda(
            item.id,
            AgendaAction::ResultsNotice(Notice {
                text: "承包合同已签订".into(),
                posted_on: "2026-06-15".parse().unwrap(),
                period_days: 7,
                place: "村务公开栏".into(),
            }),
        )
        .unwrap();
    assert_eq!(done.stage, Stage::Done);
    sync_all(&mut [&mut clerk, &mut reviewer]);
    let seen = reviewer.store.agenda(item.id).unwrap();
    assert_eq!(seen.stage, Stage::Done);
    assert_eq!(
        seen.history,
        clerk.store.agenda(item.id).unwrap().history,
        "same record on both"
    );
    assert!(
        seen.history
            .iter()
            .any(|h| matches!(h.action, AgendaAction::TownshipReview { .. }))
    );
    let listed = clerk
        .store
        .list_agenda(Some(Stage::Done), Page::default())
        .unwrap();
    assert_eq!(listed.rows.len(), 1);
}
