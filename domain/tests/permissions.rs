//! Who may do what: requests and agenda items, by role and by area.

use bianmin_domain::{
    Action, AgendaAction, AgendaOp, Body, EventId, Field, Identity, Meeting, Notice, Objection,
    PermissionError, Rating, RequestOp, RequestScope, ReviewKind, Role, RuleError, Status,
    ValidationError, authorize_agenda, authorize_request, township_of,
};
use chrono::NaiveDate;

const VILLAGE: &str = "370883101201"; // East Village, Taiping Town
const OTHER_VILLAGE_SAME_TOWNSHIP: &str = "370883101202"; // West Village
const OTHER_TOWNSHIP_VILLAGE: &str = "370883102201"; // Beishan Village, Shiqiang Town

fn resident() -> Identity {
    Identity::new("res-1", Role::Resident, VILLAGE, "phone-1").unwrap()
}
fn clerk() -> Identity {
    Identity::new("clerk-1", Role::Clerk, VILLAGE, "tablet-1").unwrap()
}
fn reviewer() -> Identity {
    Identity::new("rev-1", Role::Reviewer, "370883101", "desktop-1").unwrap()
}
fn admin() -> Identity {
    Identity::new("adm-1", Role::Administrator, "370883", "web").unwrap()
}
fn everyone() -> [Identity; 4] {
    [resident(), clerk(), reviewer(), admin()]
}

/// A request of East Village filed for resident `res-1`.
fn own() -> RequestScope<'static> {
    RequestScope {
        village: VILLAGE,
        resident_user: Some("res-1"),
    }
}

fn assert_refused(err: &PermissionError, role: Role, words: &str) {
    assert_eq!(err.role, role);
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!("not permitted: a {} ", role.as_str())),
        "{msg}"
    );
    assert!(msg.contains(words), "{msg:?} should contain {words:?}");
}

fn actions() -> Vec<(Action, Status, &'static [Role])> {
    use Role::*;
    vec![
        (Action::Submit, Status::Draft, &[Resident, Clerk]),
        (Action::Accept, Status::Submitted, &[Clerk]),
        (
            Action::RefuseToAccept {
                reason: "not of this village".into(),
            },
            Status::Submitted,
            &[Clerk],
        ),
        (Action::Complete, Status::Accepted, &[Clerk]),
        (Action::Forward, Status::Accepted, &[Clerk]),
        (
            Action::ReturnForSupplement {
                missing: vec!["ID card".into()],
                note: String::new(),
            },
            Status::Accepted,
            &[Clerk],
        ),
        (
            Action::ReturnForSupplement {
                missing: vec!["ID card".into()],
                note: String::new(),
            },
            Status::Forwarded,
            &[Reviewer],
        ),
        (
            Action::Supplement {
                provided: vec!["ID card".into()],
            },
            Status::Returned,
            &[Resident, Clerk],
        ),
        (
            Action::Approve {
                note: String::new(),
            },
            Status::Forwarded,
            &[Reviewer],
        ),
        (
            Action::Reject {
                reason: "income above the threshold".into(),
            },
            Status::Forwarded,
            &[Reviewer],
        ),
        (Action::Deliver, Status::Approved, &[Clerk]),
        (
            Action::Withdraw {
                reason: String::new(),
            },
            Status::Forwarded,
            &[Resident, Clerk],
        ),
        (
            Action::Rate {
                rating: Rating::Satisfied,
                comment: String::new(),
            },
            Status::Completed,
            &[Resident, Clerk],
        ),
        (
            Action::Settle {
                keep: EventId::new(),
                note: "checked".into(),
            },
            Status::Forwarded,
            &[Clerk, Reviewer],
        ),
    ]
}

#[test]
fn each_role_may_append_only_its_own_events() {
    let mut checked = 0;
    for (action, status, allowed) in actions() {
        for who in everyone() {
            let result = authorize_request(&who, own(), RequestOp::Append(&action, status));
            if allowed.contains(&who.role) {
                assert_eq!(
                    result,
                    Ok(()),
                    "{} {} from {status}",
                    who.role,
                    action.kind()
                );
            } else {
                let err = result.unwrap_err();
                assert_refused(
                    &err,
                    who.role,
                    &format!(
                        "may not {} a request that is {}",
                        action.kind(),
                        status.as_str()
                    ),
                );
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 14 * 4);
}

#[test]
fn named_refusals_read_well() {
    let approve = Action::Approve {
        note: String::new(),
    };
    let err = authorize_request(
        &resident(),
        own(),
        RequestOp::Append(&approve, Status::Forwarded),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "not permitted: a resident may not approve a request that is forwarded"
    );
    let err = authorize_request(
        &clerk(),
        own(),
        RequestOp::Append(&approve, Status::Forwarded),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "not permitted: a clerk may not approve a request that is forwarded"
    );
    // As the error callers pass on.
    let rule: RuleError = err.into();
    assert!(matches!(rule, RuleError::Forbidden(_)));
    assert!(rule.to_string().contains("a clerk may not approve"));
}

/// Whether `who` may return a request with this status, taking the workflow into account as
/// the device does (permission first, then the transition check).
fn may_return(who: &Identity, status: Status) -> bool {
    let action = Action::ReturnForSupplement {
        missing: vec!["ID card".into()],
        note: String::new(),
    };
    let permitted = authorize_request(who, own(), RequestOp::Append(&action, status)).is_ok();
    let level = bianmin_domain::HandlingLevel::VillageCollectsTownshipHandles;
    let workflow = status_log(status).check(&action, level).is_ok();
    permitted && workflow
}

/// A replayed request in `status` (linear log).
fn status_log(status: Status) -> bianmin_domain::Derived {
    use bianmin_domain::{Event, Stamp, Timestamp};
    let level = bianmin_domain::HandlingLevel::VillageCollectsTownshipHandles;
    let approve = Action::Approve {
        note: String::new(),
    };
    let path: Vec<Action> = match status {
        Status::Draft => vec![],
        Status::Submitted => vec![Action::Submit],
        Status::Accepted => vec![Action::Submit, Action::Accept],
        Status::NotAccepted => vec![
            Action::Submit,
            Action::RefuseToAccept {
                reason: "no".into(),
            },
        ],
        Status::Forwarded => vec![Action::Submit, Action::Accept, Action::Forward],
        Status::Returned => vec![
            Action::Submit,
            Action::Accept,
            Action::ReturnForSupplement {
                missing: vec!["x".into()],
                note: String::new(),
            },
        ],
        Status::Approved => vec![Action::Submit, Action::Accept, Action::Forward, approve],
        Status::Rejected => vec![
            Action::Submit,
            Action::Accept,
            Action::Forward,
            Action::Reject {
                reason: "no".into(),
            },
        ],
        Status::Completed => vec![
            Action::Submit,
            Action::Accept,
            Action::Forward,
            approve,
            Action::Deliver,
        ],
        Status::Withdrawn => vec![
            Action::Submit,
            Action::Withdraw {
                reason: String::new(),
            },
        ],
    };
    let mut events: Vec<Event> = Vec::new();
    for action in path {
        events.push(Event {
            id: EventId::new(),
            after: events.last().map(|e| e.id).into_iter().collect(),
            by: Stamp {
                user: "u".into(),
                role: Role::Clerk,
                device: "t".into(),
                at: Timestamp(0),
            },
            action,
        });
    }
    let derived = bianmin_domain::replay(&events, level);
    assert_eq!(derived.status, status);
    derived
}

#[test]
fn the_reviewer_returns_only_forwarded_requests_the_clerk_only_accepted_ones() {
    for status in Status::ALL {
        assert_eq!(
            may_return(&clerk(), status),
            status == Status::Accepted,
            "clerk, {status}"
        );
        assert_eq!(
            may_return(&reviewer(), status),
            status == Status::Forwarded,
            "reviewer, {status}"
        );
        assert!(!may_return(&resident(), status));
        assert!(!may_return(&admin(), status));
    }
    // The permission itself names the split: the village does not return what the township
    // holds, the township does not return what the village holds.
    let action = Action::ReturnForSupplement {
        missing: vec!["ID card".into()],
        note: String::new(),
    };
    let err = authorize_request(
        &clerk(),
        own(),
        RequestOp::Append(&action, Status::Forwarded),
    )
    .unwrap_err();
    assert_refused(
        &err,
        Role::Clerk,
        "may not return_for_supplement a request that is forwarded",
    );
    let err = authorize_request(
        &reviewer(),
        own(),
        RequestOp::Append(&action, Status::Accepted),
    )
    .unwrap_err();
    assert_refused(&err, Role::Reviewer, "that is accepted");
}

#[test]
fn staff_act_only_within_their_area() {
    let other_clerk =
        Identity::new("clerk-2", Role::Clerk, OTHER_VILLAGE_SAME_TOWNSHIP, "t2").unwrap();
    let other_reviewer = Identity::new("rev-2", Role::Reviewer, "370883102", "d2").unwrap();
    let other_admin = Identity::new("adm-2", Role::Administrator, "370884", "web").unwrap();
    let accept = Action::Accept;
    let approve = Action::Approve {
        note: String::new(),
    };
    let ops = [
        RequestOp::Read,
        RequestOp::Create,
        RequestOp::Comment,
        RequestOp::Edit(Field::Attribute, Status::Draft),
        RequestOp::Append(&accept, Status::Submitted),
        RequestOp::Append(&approve, Status::Forwarded),
    ];
    for op in ops {
        let err = authorize_request(&other_clerk, own(), op).unwrap_err();
        assert_refused(
            &err,
            Role::Clerk,
            "may act only on requests of their own village",
        );
        let err = authorize_request(&other_reviewer, own(), op).unwrap_err();
        assert_refused(
            &err,
            Role::Reviewer,
            "may act only on requests of their own township",
        );
        let err = authorize_request(&other_admin, own(), op).unwrap_err();
        assert_refused(&err, Role::Administrator, "of their own county");
    }
    // The reviewer of Taiping Town covers all its villages, not Shiqiang's.
    let west = RequestScope {
        village: OTHER_VILLAGE_SAME_TOWNSHIP,
        resident_user: None,
    };
    let beishan = RequestScope {
        village: OTHER_TOWNSHIP_VILLAGE,
        resident_user: None,
    };
    assert_eq!(
        authorize_request(
            &reviewer(),
            west,
            RequestOp::Append(&approve, Status::Forwarded)
        ),
        Ok(())
    );
    assert!(authorize_request(&reviewer(), beishan, RequestOp::Read).is_err());
    // The clerk of East Village does not see West Village's requests.
    assert!(authorize_request(&clerk(), west, RequestOp::Read).is_err());
    // The county administrator reads all of them.
    assert_eq!(
        authorize_request(&admin(), beishan, RequestOp::Read),
        Ok(())
    );
}

#[test]
fn residents_act_only_on_their_own_requests() {
    let withdraw = Action::Withdraw {
        reason: String::new(),
    };
    let someone_else = RequestScope {
        village: VILLAGE,
        resident_user: Some("res-2"),
    };
    let walk_in = RequestScope {
        village: VILLAGE,
        resident_user: None,
    };
    for scope in [someone_else, walk_in] {
        for op in [
            RequestOp::Read,
            RequestOp::Comment,
            RequestOp::Append(&withdraw, Status::Submitted),
            RequestOp::Edit(Field::Applicant, Status::Draft),
        ] {
            let err = authorize_request(&resident(), scope, op).unwrap_err();
            assert_refused(&err, Role::Resident, "may act only on their own requests");
        }
    }
    // Their own: read, file, comment, withdraw.
    for op in [
        RequestOp::Read,
        RequestOp::Create,
        RequestOp::Comment,
        RequestOp::Append(&withdraw, Status::Submitted),
    ] {
        assert_eq!(authorize_request(&resident(), own(), op), Ok(()));
    }
    // A clerk acts on every request of the village, registered resident or not.
    assert_eq!(
        authorize_request(
            &clerk(),
            walk_in,
            RequestOp::Append(&withdraw, Status::Submitted)
        ),
        Ok(())
    );
}

#[test]
fn filing_and_commenting() {
    for who in everyone() {
        let create = authorize_request(&who, own(), RequestOp::Create);
        let comment = authorize_request(&who, own(), RequestOp::Comment);
        match who.role {
            Role::Resident | Role::Clerk => {
                assert_eq!(create, Ok(()));
                assert_eq!(comment, Ok(()));
            }
            Role::Reviewer => {
                assert_refused(
                    &create.unwrap_err(),
                    Role::Reviewer,
                    "may not file requests",
                );
                assert_eq!(comment, Ok(()));
            }
            Role::Administrator => {
                assert_refused(
                    &create.unwrap_err(),
                    Role::Administrator,
                    "may not file requests",
                );
                assert_refused(
                    &comment.unwrap_err(),
                    Role::Administrator,
                    "may not comment on requests",
                );
            }
        }
        // Everyone in scope reads.
        assert_eq!(authorize_request(&who, own(), RequestOp::Read), Ok(()));
    }
}

#[test]
fn edits_depend_on_the_status() {
    use Status::*;
    let fields = [
        Field::Applicant,
        Field::Grid,
        Field::Attribute,
        Field::Materials,
    ];
    for status in Status::ALL {
        for field in fields {
            for who in everyone() {
                let may = match who.role {
                    Role::Clerk => matches!(status, Draft | Submitted | Accepted | Returned),
                    Role::Resident => matches!(status, Draft | Returned),
                    Role::Reviewer | Role::Administrator => false,
                };
                let result = authorize_request(&who, own(), RequestOp::Edit(field, status));
                if may {
                    assert_eq!(result, Ok(()), "{} {field:?} {status}", who.role);
                } else {
                    assert_refused(
                        &result.unwrap_err(),
                        who.role,
                        &format!(
                            "may not edit {field:?} of a request that is {}",
                            status.as_str()
                        ),
                    );
                }
            }
        }
    }
    // In words: once forwarded, the record is the township's to judge, not to rewrite.
    let err = authorize_request(
        &clerk(),
        own(),
        RequestOp::Edit(Field::Materials, Forwarded),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "not permitted: a clerk may not edit Materials of a request that is forwarded"
    );
}

fn agenda_actions() -> Vec<AgendaAction> {
    let day: NaiveDate = "2026-03-16".parse().unwrap();
    let notice = Notice {
        text: "决议".into(),
        posted_on: day,
        period_days: 7,
        place: String::new(),
    };
    vec![
        AgendaAction::Meeting(Meeting {
            body: Body::PartyBranch,
            held_on: day,
            entitled: 5,
            present: 5,
            households: None,
            households_represented: None,
            votes_for: 5,
            votes_against: 0,
            abstentions: 0,
            minutes: "记录".into(),
            sign_in_photos: vec![],
        }),
        AgendaAction::ResolutionNotice(notice.clone()),
        AgendaAction::Objection(Objection {
            received_on: day,
            summary: "异议".into(),
            response: String::new(),
        }),
        AgendaAction::ResultsNotice(notice),
        AgendaAction::TownshipReview {
            review: ReviewKind::Recorded,
            comment: "备案".into(),
        },
        AgendaAction::Settle {
            keep: EventId::new(),
            note: "核实".into(),
        },
    ]
}

#[test]
fn agenda_items_by_role() {
    for action in agenda_actions() {
        let kind = action.kind();
        let op = AgendaOp::Append(&action);
        // The clerk records everything the village does, not the township's review.
        let clerk_result = authorize_agenda(&clerk(), VILLAGE, op);
        if kind == "township_review" {
            assert_refused(
                &clerk_result.unwrap_err(),
                Role::Clerk,
                "may not township_review on an agenda item",
            );
        } else {
            assert_eq!(clerk_result, Ok(()), "clerk {kind}");
        }
        // The reviewer only reviews and settles.
        let reviewer_result = authorize_agenda(&reviewer(), VILLAGE, op);
        if matches!(kind, "township_review" | "settle") {
            assert_eq!(reviewer_result, Ok(()), "reviewer {kind}");
        } else {
            assert_refused(
                &reviewer_result.unwrap_err(),
                Role::Reviewer,
                &format!("may not {kind} on an agenda item"),
            );
        }
        // The administrator reads but does not act.
        assert_refused(
            &authorize_agenda(&admin(), VILLAGE, op).unwrap_err(),
            Role::Administrator,
            &format!("may not {kind} on an agenda item"),
        );
    }

    assert_eq!(
        authorize_agenda(&clerk(), VILLAGE, AgendaOp::Create),
        Ok(())
    );
    assert_eq!(authorize_agenda(&clerk(), VILLAGE, AgendaOp::Edit), Ok(()));
    for who in [reviewer(), admin()] {
        assert_eq!(authorize_agenda(&who, VILLAGE, AgendaOp::Read), Ok(()));
        assert_refused(
            &authorize_agenda(&who, VILLAGE, AgendaOp::Create).unwrap_err(),
            who.role,
            "may not open agenda items",
        );
        assert_refused(
            &authorize_agenda(&who, VILLAGE, AgendaOp::Edit).unwrap_err(),
            who.role,
            "may not edit agenda items",
        );
    }
}

#[test]
fn residents_see_agenda_items_only_through_public_notices() {
    let actions = agenda_actions();
    let mut ops = vec![AgendaOp::Read, AgendaOp::Create, AgendaOp::Edit];
    ops.extend(actions.iter().map(AgendaOp::Append));
    for op in ops {
        let err = authorize_agenda(&resident(), VILLAGE, op).unwrap_err();
        assert_eq!(
            err.to_string(),
            "not permitted: a resident may read agenda items only through their village's public notices"
        );
    }
}

#[test]
fn agenda_items_of_another_area_are_refused() {
    let other_clerk =
        Identity::new("clerk-2", Role::Clerk, OTHER_VILLAGE_SAME_TOWNSHIP, "t2").unwrap();
    let other_reviewer = Identity::new("rev-2", Role::Reviewer, "370883102", "d2").unwrap();
    let review = AgendaAction::TownshipReview {
        review: ReviewKind::Comment,
        comment: "ok".into(),
    };
    for op in [AgendaOp::Read, AgendaOp::Create, AgendaOp::Append(&review)] {
        assert_refused(
            &authorize_agenda(&other_clerk, VILLAGE, op).unwrap_err(),
            Role::Clerk,
            "may act only on agenda items in their area",
        );
        assert_refused(
            &authorize_agenda(&other_reviewer, VILLAGE, op).unwrap_err(),
            Role::Reviewer,
            "may act only on agenda items in their area",
        );
    }
    assert_eq!(
        authorize_agenda(
            &reviewer(),
            OTHER_VILLAGE_SAME_TOWNSHIP,
            AgendaOp::Append(&review)
        ),
        Ok(())
    );
}

#[test]
fn identities_are_scoped_to_an_area_of_their_level() {
    let err: ValidationError =
        Identity::new("clerk-1", Role::Clerk, "370883101", "tablet-1").unwrap_err();
    assert_eq!(err.field, "identity.area");
    assert_eq!(err.rule, "a clerk is scoped to an area code of 12 digits");
    let err = Identity::new("rev-1", Role::Reviewer, VILLAGE, "d").unwrap_err();
    assert_eq!(err.rule, "a reviewer is scoped to an area code of 9 digits");
    assert!(Identity::new("adm", Role::Administrator, "37088x", "web").is_err());
    assert_eq!(
        Identity::new(" ", Role::Clerk, VILLAGE, "t")
            .unwrap_err()
            .field,
        "identity.user"
    );
    assert_eq!(
        Identity::new("u", Role::Clerk, VILLAGE, "")
            .unwrap_err()
            .field,
        "identity.device"
    );
    for role in [
        Role::Resident,
        Role::Clerk,
        Role::Reviewer,
        Role::Administrator,
    ] {
        assert_eq!(Role::parse(role.as_str()), Ok(role));
        assert_eq!(role.to_string(), role.as_str());
    }
    assert!(Role::parse("mayor").is_err());
    assert_eq!(township_of(VILLAGE), Some("370883101"));
    assert_eq!(township_of("370883101"), None);
    assert!(reviewer().covers_village(VILLAGE));
    assert!(!reviewer().covers_village(OTHER_TOWNSHIP_VILLAGE));
}
