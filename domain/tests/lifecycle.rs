//! The service-request lifecycle of `domain.md`, transition by transition, on linear logs.

mod common;

use bianmin_domain::{Action, HandlingLevel, Outcome, Rating, Status, ValidationError};
use common::*;

const LEVELS: [HandlingLevel; 3] = [
    HandlingLevel::Village,
    HandlingLevel::VillageCollectsTownshipHandles,
    HandlingLevel::Township,
];

/// One row of the workflow table: the action, the states it may start from and the state it
/// leads to from each of them.
struct Row {
    action: Action,
    allowed: Vec<(Status, Status)>,
}

fn table(level: HandlingLevel) -> Vec<Row> {
    use Status::*;
    let village = level == HandlingLevel::Village;
    let row = |action: Action, allowed: Vec<(Status, Status)>| Row { action, allowed };
    vec![
        row(Action::Submit, vec![(Draft, Submitted)]),
        row(Action::Accept, vec![(Submitted, Accepted)]),
        row(
            refuse("not a resident of this village"),
            vec![(Submitted, NotAccepted)],
        ),
        row(
            Action::Complete,
            if village {
                vec![(Accepted, Completed)]
            } else {
                vec![]
            },
        ),
        row(
            Action::Forward,
            if village {
                vec![]
            } else {
                vec![(Accepted, Forwarded)]
            },
        ),
        row(
            ret(&["ID card"]),
            if village {
                vec![(Accepted, Returned)]
            } else {
                vec![(Accepted, Returned), (Forwarded, Returned)]
            },
        ),
        // `log_to(Returned)` returns from accepted at the village, from forwarded otherwise.
        row(
            supplement(&[MISSING]),
            if village {
                vec![(Returned, Accepted)]
            } else {
                vec![(Returned, Forwarded)]
            },
        ),
        row(approve(), vec![(Forwarded, Approved)]),
        row(
            reject("income above the threshold"),
            vec![(Forwarded, Rejected)],
        ),
        row(Action::Deliver, vec![(Approved, Completed)]),
        row(
            withdraw(),
            vec![
                (Draft, Withdrawn),
                (Submitted, Withdrawn),
                (Accepted, Withdrawn),
                (Forwarded, Withdrawn),
                (Returned, Withdrawn),
            ],
        ),
        row(
            rate(Rating::Satisfied),
            vec![(Completed, Completed), (Rejected, Rejected)],
        ),
    ]
}

/// The refusal expected for `action` from `from` at `level` when the table does not allow it.
fn expected_refusal(action: &Action, from: Status, level: HandlingLevel) -> ValidationError {
    let rule = match (action, from) {
        (Action::Complete, Status::Accepted) if level != HandlingLevel::Village => {
            "only village-level items are completed at the village; forward it to the township"
                .to_string()
        }
        (Action::Forward, Status::Accepted) if level == HandlingLevel::Village => {
            "a village-level item is completed at the village, not forwarded".to_string()
        }
        _ => format!("not allowed while the request is {}", from.as_str()),
    };
    ValidationError::new(action.kind(), rule)
}

#[test]
fn every_status_is_reachable_by_a_linear_log() {
    for level in LEVELS {
        for status in Status::ALL {
            let Some(log) = log_to(status, level) else {
                continue;
            };
            let derived = log.replay(level);
            assert_eq!(derived.status, status, "{level:?}");
            assert!(derived.conflict.is_none());
            assert!(derived.outcomes.iter().all(|o| *o == Outcome::Applied));
            assert_eq!(derived.outcomes.len(), log.events.len());
        }
    }
    // Township-only states cannot be reached for a village item.
    for status in [Status::Forwarded, Status::Approved, Status::Rejected] {
        assert!(log_to(status, HandlingLevel::Village).is_none());
    }
}

#[test]
fn every_transition_applies_from_its_allowed_states_and_is_refused_from_the_others() {
    let mut applied = 0;
    let mut refused = 0;
    for level in LEVELS {
        for row in table(level) {
            for from in Status::ALL {
                let Some(mut log) = log_to(from, level) else {
                    continue;
                };
                let before = log.replay(level);
                assert_eq!(before.status, from);
                let checked = before.check(&row.action, level);
                let allowed = row.allowed.iter().find(|(f, _)| *f == from).map(|p| p.1);
                log.push(row.action.clone());
                let after = log.replay(level);
                let outcome = after.outcomes.last().unwrap();
                let ctx = format!("{} from {from} at {level:?}", row.action.kind());
                match allowed {
                    Some(to) => {
                        assert_eq!(checked, Ok(to), "{ctx}");
                        assert_eq!(*outcome, Outcome::Applied, "{ctx}");
                        assert_eq!(after.status, to, "{ctx}");
                        applied += 1;
                    }
                    None => {
                        let want = expected_refusal(&row.action, from, level);
                        assert_eq!(checked, Err(want.clone()), "{ctx}");
                        // The replay agrees with the check: the event is kept as evidence,
                        // marked invalid with the same words, and changes nothing.
                        assert_eq!(*outcome, Outcome::Invalid(want.to_string()), "{ctx}");
                        assert_eq!(after.status, from, "{ctx}");
                        assert_eq!(after.path, before.path, "{ctx}");
                        refused += 1;
                    }
                }
            }
        }
    }
    // Guard against the loops silently testing nothing.
    assert!(applied >= 40, "{applied}");
    assert!(refused >= 250, "{refused}");
}

#[test]
fn village_item_completes_at_the_village_and_cannot_be_forwarded() {
    let level = HandlingLevel::Village;
    let mut log = log_to(Status::Accepted, level).unwrap();
    let derived = log.replay(level);
    let err = derived.check(&Action::Forward, level).unwrap_err();
    assert_eq!(err.field, "forward");
    assert!(err.rule.contains("completed at the village, not forwarded"));
    assert_eq!(
        derived.check(&Action::Complete, level),
        Ok(Status::Completed)
    );

    log.push(Action::Complete);
    let done = log.replay(level);
    assert_eq!(done.status, Status::Completed);
    assert!(!done.status.is_open());
    // Completed is final: neither forwarding nor completing again.
    assert!(done.check(&Action::Forward, level).is_err());
    assert!(done.check(&Action::Complete, level).is_err());
}

#[test]
fn township_handled_items_cannot_be_completed_at_the_village() {
    for level in [
        HandlingLevel::VillageCollectsTownshipHandles,
        HandlingLevel::Township,
    ] {
        let mut log = log_to(Status::Accepted, level).unwrap();
        let err = log
            .replay(level)
            .check(&Action::Complete, level)
            .unwrap_err();
        assert_eq!(err.field, "complete");
        assert!(
            err.rule.contains("only village-level items"),
            "{}",
            err.rule
        );
        assert!(err.rule.contains("forward it to the township"));

        // A forged complete in the log has no effect.
        log.push(Action::Complete);
        let derived = log.replay(level);
        assert_eq!(derived.status, Status::Accepted);
        assert!(
            matches!(derived.outcomes.last(), Some(Outcome::Invalid(m)) if m.contains("only village-level"))
        );

        // The regular way: forward, approve, deliver.
        log.push(Action::Forward);
        log.push(approve());
        log.push(Action::Deliver);
        assert_eq!(log.replay(level).status, Status::Completed);
    }
}

#[test]
fn the_full_township_path_with_a_return_for_supplement() {
    let level = HandlingLevel::VillageCollectsTownshipHandles;
    let mut log = Log::new();
    let steps = [
        (Action::Submit, Status::Submitted),
        (Action::Accept, Status::Accepted),
        (Action::Forward, Status::Forwarded),
        (ret(&["Income statement"]), Status::Returned),
        (supplement(&["Income statement"]), Status::Forwarded),
        (approve(), Status::Approved),
        (Action::Deliver, Status::Completed),
        (rate(Rating::VerySatisfied), Status::Completed),
    ];
    for (action, want) in steps.iter().cloned() {
        assert_eq!(log.replay(level).check(&action, level), Ok(want));
        log.push(action);
        assert_eq!(log.replay(level).status, want);
    }
    let derived = log.replay(level);
    // The timeline holds the status changes in order; the rating is not one.
    let statuses: Vec<Status> = derived.path.iter().map(|p| p.1).collect();
    assert_eq!(statuses, steps[..7].iter().map(|s| s.1).collect::<Vec<_>>());
    let indices: Vec<usize> = derived.path.iter().map(|p| p.0).collect();
    assert_eq!(indices, (0..7).collect::<Vec<_>>());
    assert_eq!(derived.rating, Some(Rating::VerySatisfied));
    assert!(!derived.follow_up);
}

#[test]
fn return_for_supplement_lists_every_missing_material_once_and_none_blank() {
    let level = HandlingLevel::VillageCollectsTownshipHandles;
    let derived = log_to(Status::Forwarded, level).unwrap().replay(level);
    let refused = |action: Action| derived.check(&action, level).unwrap_err();

    for bad in [ret(&[]), ret(&[""]), ret(&["ID card", "   "]), ret(&["\t"])] {
        let err = refused(bad);
        assert_eq!(err.field, "missing");
        assert!(err.rule.contains("一次性告知"), "{}", err.rule);
        assert!(err.rule.contains("none may be blank"));
    }
    let err = refused(ret(&["ID card", "Income statement", "ID card"]));
    assert_eq!(err.field, "missing");
    assert_eq!(err.rule, "a material is listed twice");

    let long_note = Action::ReturnForSupplement {
        missing: vec!["ID card".into()],
        note: "说".repeat(2001),
    };
    let err = refused(long_note);
    assert_eq!(
        (err.field.as_str(), err.rule.as_str()),
        ("note", "must be at most 2000 characters")
    );

    // A note of exactly 2000 characters and a full list are fine.
    let ok = Action::ReturnForSupplement {
        missing: vec!["ID card".into(), "Income statement".into()],
        note: "说".repeat(2000),
    };
    assert_eq!(derived.check(&ok, level), Ok(Status::Returned));

    // The replay refuses a bad list the same way.
    let mut log = log_to(Status::Forwarded, level).unwrap();
    log.push(ret(&["ID card", "ID card"]));
    let replayed = log.replay(level);
    assert_eq!(replayed.status, Status::Forwarded);
    assert_eq!(
        replayed.outcomes.last(),
        Some(&Outcome::Invalid(
            "missing: a material is listed twice".into()
        ))
    );
}

#[test]
fn supplement_must_provide_every_listed_material() {
    let level = HandlingLevel::VillageCollectsTownshipHandles;
    let mut log = log_to(Status::Forwarded, level).unwrap();
    log.push(ret(&["ID card", "Income statement", "Proof of emergency"]));
    let derived = log.replay(level);
    assert_eq!(derived.status, Status::Returned);
    assert_eq!(
        derived.missing,
        vec!["ID card", "Income statement", "Proof of emergency"]
    );

    let err = derived
        .check(&supplement(&["Income statement"]), level)
        .unwrap_err();
    assert_eq!(err.field, "provided");
    assert_eq!(err.rule, "still missing: ID card, Proof of emergency");

    let err = derived.check(&supplement(&[]), level).unwrap_err();
    assert_eq!(
        err.rule,
        "still missing: ID card, Income statement, Proof of emergency"
    );

    // An incomplete supplement in the log leaves the request returned.
    log.push(supplement(&["ID card"]));
    let still = log.replay(level);
    assert_eq!(still.status, Status::Returned);
    assert!(
        matches!(still.outcomes.last(), Some(Outcome::Invalid(m)) if m.contains("still missing"))
    );
    assert_eq!(still.missing.len(), 3);

    // Everything, in any order and with extras, is accepted.
    log.push(supplement(&[
        "Proof of emergency",
        "Bank card",
        "ID card",
        "Income statement",
    ]));
    let back = log.replay(level);
    assert_eq!(back.status, Status::Forwarded);
    assert!(back.missing.is_empty(), "nothing is missing any more");
}

#[test]
fn supplement_goes_back_to_where_the_request_was_returned_from() {
    for level in [
        HandlingLevel::Village,
        HandlingLevel::VillageCollectsTownshipHandles,
    ] {
        // Returned by the clerk from accepted: back to accepted.
        let mut log = log_to(Status::Accepted, level).unwrap();
        log.push(ret(&["ID card"]));
        assert_eq!(
            log.replay(level).check(&supplement(&["ID card"]), level),
            Ok(Status::Accepted)
        );
        log.push(supplement(&["ID card"]));
        assert_eq!(log.replay(level).status, Status::Accepted, "{level:?}");
    }

    // Returned by the township from forwarded: back to forwarded, not accepted, so the
    // township sees it again without the clerk forwarding a second time.
    let level = HandlingLevel::VillageCollectsTownshipHandles;
    let mut log = log_to(Status::Forwarded, level).unwrap();
    log.push(ret(&["ID card"]));
    log.push(supplement(&["ID card"]));
    let derived = log.replay(level);
    assert_eq!(derived.status, Status::Forwarded);
    assert_eq!(derived.check(&approve(), level), Ok(Status::Approved));
    assert!(derived.check(&Action::Forward, level).is_err());

    // A second round: the new list is what counts, and it goes back to forwarded again.
    log.push(ret(&["Income statement"]));
    let second = log.replay(level);
    assert_eq!(second.missing, vec!["Income statement"]);
    assert!(second.check(&supplement(&["ID card"]), level).is_err());
    log.push(supplement(&["Income statement"]));
    assert_eq!(log.replay(level).status, Status::Forwarded);

    // Returned at the village after accepting, then forwarded after the supplement: a later
    // township return goes back to forwarded.
    let mut log = log_to(Status::Accepted, level).unwrap();
    log.push(ret(&["ID card"]));
    log.push(supplement(&["ID card"]));
    log.push(Action::Forward);
    log.push(ret(&["Income statement"]));
    log.push(supplement(&["Income statement"]));
    assert_eq!(log.replay(level).status, Status::Forwarded);
}

#[test]
fn refusing_and_rejecting_need_a_reason() {
    let level = HandlingLevel::VillageCollectsTownshipHandles;
    let submitted = log_to(Status::Submitted, level).unwrap().replay(level);
    let forwarded = log_to(Status::Forwarded, level).unwrap().replay(level);
    for blank in ["", "   ", "\n\t"] {
        for (derived, action) in [(&submitted, refuse(blank)), (&forwarded, reject(blank))] {
            let err = derived.check(&action, level).unwrap_err();
            assert_eq!(err.field, "reason");
            assert_eq!(err.rule, "a reason is required");
        }
    }
    let long = "理".repeat(2001);
    for (derived, action) in [(&submitted, refuse(&long)), (&forwarded, reject(&long))] {
        let err = derived.check(&action, level).unwrap_err();
        assert_eq!(err.field, "reason");
        assert_eq!(err.rule, "must be at most 2000 characters");
    }

    // A reasonless refusal in the log does not close the request.
    let mut log = log_to(Status::Submitted, level).unwrap();
    log.push(refuse(" "));
    let derived = log.replay(level);
    assert_eq!(derived.status, Status::Submitted);
    assert_eq!(
        derived.outcomes.last(),
        Some(&Outcome::Invalid("reason: a reason is required".into()))
    );
    log.push(refuse("applicant lives in another village"));
    assert_eq!(log.replay(level).status, Status::NotAccepted);
}

#[test]
fn withdrawal_is_allowed_before_a_decision_and_refused_after() {
    let level = HandlingLevel::VillageCollectsTownshipHandles;
    for status in Status::ALL {
        let derived = log_to(status, level).unwrap().replay(level);
        let result = derived.check(&withdraw(), level);
        let before_decision = matches!(
            status,
            Status::Draft
                | Status::Submitted
                | Status::Accepted
                | Status::Forwarded
                | Status::Returned
        );
        if before_decision {
            assert_eq!(result, Ok(Status::Withdrawn), "from {status}");
        } else {
            let err = result.unwrap_err();
            assert_eq!(err.field, "withdraw", "from {status}");
            assert_eq!(
                err.rule,
                format!("not allowed while the request is {}", status.as_str())
            );
        }
    }
    // A withdrawn request stays withdrawn: nothing more happens to it.
    let withdrawn = log_to(Status::Withdrawn, level).unwrap().replay(level);
    for action in [Action::Accept, Action::Submit, rate(Rating::Satisfied)] {
        assert!(withdrawn.check(&action, level).is_err());
    }
}

#[test]
fn rating_only_after_completion_or_rejection() {
    let level = HandlingLevel::VillageCollectsTownshipHandles;
    for status in Status::ALL {
        let derived = log_to(status, level).unwrap().replay(level);
        let result = derived.check(&rate(Rating::Satisfied), level);
        if matches!(status, Status::Completed | Status::Rejected) {
            assert_eq!(result, Ok(status));
        } else {
            let err = result.unwrap_err();
            assert_eq!(err.field, "rate", "{status}");
        }
    }
    // A rating attempted on an approved (not yet delivered) request is not recorded.
    let mut log = log_to(Status::Approved, level).unwrap();
    log.push(rate(Rating::VeryDissatisfied));
    let derived = log.replay(level);
    assert_eq!(derived.rating, None);
    assert!(!derived.follow_up);

    let long = Action::Rate {
        rating: Rating::Satisfied,
        comment: "好".repeat(2001),
    };
    let done = log_to(Status::Completed, level).unwrap().replay(level);
    assert_eq!(done.check(&long, level).unwrap_err().field, "comment");
}

#[test]
fn a_dissatisfied_rating_opens_a_follow_up() {
    let level = HandlingLevel::VillageCollectsTownshipHandles;
    for (rating, follow_up) in [
        (Rating::VerySatisfied, false),
        (Rating::Satisfied, false),
        (Rating::BasicallySatisfied, false),
        (Rating::Dissatisfied, true),
        (Rating::VeryDissatisfied, true),
    ] {
        for status in [Status::Completed, Status::Rejected] {
            let mut log = log_to(status, level).unwrap();
            assert_eq!(log.replay(level).rating, None);
            log.push(Action::Rate {
                rating,
                comment: "窗口态度".into(),
            });
            let derived = log.replay(level);
            assert_eq!(derived.rating, Some(rating));
            assert_eq!(derived.follow_up, follow_up, "{rating:?} on {status}");
            // Rating does not move the request.
            assert_eq!(derived.status, status);
            assert_eq!(derived.path.len(), log.events.len() - 1);
        }
    }
}

#[test]
fn an_invalid_event_is_kept_as_evidence_and_the_log_goes_on() {
    let level = HandlingLevel::VillageCollectsTownshipHandles;
    let mut log = log_to(Status::Submitted, level).unwrap();
    log.push(approve()); // a reviewer cannot approve what was not forwarded
    log.push(Action::Accept); // after the invalid event: its ancestors still count
    log.push(Action::Forward);
    let derived = log.replay(level);
    assert_eq!(derived.outcomes.len(), 4);
    assert_eq!(
        derived.outcomes[1],
        Outcome::Invalid("approve: not allowed while the request is submitted".into())
    );
    assert_eq!(derived.outcomes[2], Outcome::Applied);
    assert_eq!(derived.outcomes[3], Outcome::Applied);
    assert_eq!(derived.status, Status::Forwarded);
    let path: Vec<usize> = derived.path.iter().map(|p| p.0).collect();
    assert_eq!(
        path,
        vec![0, 2, 3],
        "the invalid event is not on the timeline"
    );
}

#[test]
fn settling_without_a_conflict_is_refused() {
    let level = HandlingLevel::VillageCollectsTownshipHandles;
    let mut log = log_to(Status::Forwarded, level).unwrap();
    let tip = log.last().unwrap();
    let derived = log.replay(level);
    let err = derived.check(&settle(tip, "keep it"), level).unwrap_err();
    assert_eq!(err.field, "settle");
    assert_eq!(err.rule, "there is no conflict to settle");
    log.push(settle(tip, "keep it"));
    let after = log.replay(level);
    assert!(matches!(after.outcomes.last(), Some(Outcome::Invalid(_))));
    assert_eq!(after.status, Status::Forwarded);
}

#[test]
fn status_names_and_labels_round_trip() {
    for s in Status::ALL {
        assert_eq!(Status::parse(s.as_str()), Some(s));
        assert_eq!(s.to_string(), s.as_str());
        assert!(!s.label_zh().is_empty());
    }
    assert_eq!(Status::parse("closed"), None);
    assert_eq!(Status::NotAccepted.label_zh(), "不予受理");
    // Open requests are those still waiting for someone's work.
    let open: Vec<Status> = Status::ALL.into_iter().filter(|s| s.is_open()).collect();
    use Status::*;
    assert_eq!(
        open,
        vec![Draft, Submitted, Accepted, Forwarded, Returned, Approved]
    );
}
