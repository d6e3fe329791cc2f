//! Offline concurrency: events made on two devices without seeing each other.

mod common;

use bianmin_domain::{
    Action, Conflict, Event, EventId, HandlingLevel, Outcome, Rating, Role, Status, Timestamp,
    replay,
};
use common::*;
use proptest::prelude::*;

const LEVEL: HandlingLevel = HandlingLevel::VillageCollectsTownshipHandles;

/// Submit, accept, forward: the common history both devices have seen.
fn forwarded() -> (Log, EventId) {
    let log = log_to(Status::Forwarded, LEVEL).unwrap();
    let tip = log.last().unwrap();
    (log, tip)
}

#[test]
fn withdraw_and_approve_made_concurrently_conflict_in_either_order() {
    for withdraw_first in [true, false] {
        let (mut log, tip) = forwarded();
        let (w, a) = if withdraw_first {
            let w = log.push_after(vec![tip], withdraw(), "2026-03-05");
            let a = log.push_after(vec![tip], approve(), "2026-03-05");
            (w, a)
        } else {
            let a = log.push_after(vec![tip], approve(), "2026-03-05");
            let w = log.push_after(vec![tip], withdraw(), "2026-03-05");
            (w, a)
        };
        let derived = log.replay(LEVEL);
        assert!(derived.in_conflict(), "withdraw first: {withdraw_first}");
        // Both events took effect on their own branch; neither was dropped.
        assert_eq!(derived.outcomes[3], Outcome::Applied);
        assert_eq!(derived.outcomes[4], Outcome::Applied);
        let want = if withdraw_first {
            vec![(w, Status::Withdrawn), (a, Status::Approved)]
        } else {
            vec![(a, Status::Approved), (w, Status::Withdrawn)]
        };
        assert_eq!(
            derived.conflict,
            Some(Conflict {
                branches: want.clone()
            })
        );
        // The shown status is the first branch's, in log order.
        assert_eq!(derived.status, want[0].1);
    }
}

#[test]
fn status_changes_are_refused_while_in_conflict() {
    let (mut log, tip) = forwarded();
    log.push_after(
        vec![tip],
        reject("income above the threshold"),
        "2026-03-05",
    );
    log.push_after(vec![tip], withdraw(), "2026-03-05");
    let derived = log.replay(LEVEL);
    assert!(derived.in_conflict());
    assert_eq!(derived.status, Status::Rejected);
    for action in [
        Action::Deliver,
        approve(),
        withdraw(),
        ret(&["ID card"]),
        Action::Accept,
    ] {
        let err = derived.check(&action, LEVEL).unwrap_err();
        assert_eq!(err.field, action.kind());
        assert_eq!(
            err.rule,
            "concurrent decisions conflict: settle the conflict first"
        );
    }
    // Rating a request that may have been withdrawn is refused as well: the replay would
    // not apply it (see below), so the device must not append it.
    let rating = rate(Rating::Dissatisfied);
    assert!(derived.check(&rating, LEVEL).is_err());

    // Whatever is appended after both tips without settling has no effect.
    let tips: Vec<EventId> = derived
        .conflict
        .as_ref()
        .unwrap()
        .branches
        .iter()
        .map(|b| b.0)
        .collect();
    log.push_after(tips.clone(), Action::Deliver, "2026-03-06");
    log.push_after(tips, rating, "2026-03-06");
    let after = log.replay(LEVEL);
    assert!(after.in_conflict());
    assert_eq!(
        after.outcomes[5],
        Outcome::Invalid("concurrent decisions conflict; settle the conflict first".into())
    );
    assert_eq!(
        after.outcomes[6],
        Outcome::Invalid("concurrent decisions conflict; settle the conflict first".into())
    );
    assert_eq!(after.rating, None);
    assert!(!after.follow_up);
}

#[test]
fn a_settle_after_both_branches_keeps_the_chosen_one() {
    for keep_approval in [true, false] {
        let (mut log, tip) = forwarded();
        let w = log.push_after(vec![tip], withdraw(), "2026-03-05");
        let a = log.push_after(vec![tip], approve(), "2026-03-05");
        let keep = if keep_approval { a } else { w };
        let want = if keep_approval {
            Status::Approved
        } else {
            Status::Withdrawn
        };
        let derived = log.replay(LEVEL);
        assert_eq!(
            derived.check(&settle(keep, "confirmed with the resident by phone"), LEVEL),
            Ok(want)
        );
        let s = log.push_after(
            vec![w, a],
            settle(keep, "confirmed with the resident by phone"),
            "2026-03-06",
        );
        let settled = log.replay(LEVEL);
        assert_eq!(settled.conflict, None);
        assert_eq!(settled.status, want);
        assert_eq!(settled.outcomes.last(), Some(&Outcome::Applied));
        // Both branches remain in the history.
        assert_eq!(settled.outcomes[3], Outcome::Applied);
        assert_eq!(settled.outcomes[4], Outcome::Applied);
        // The timeline is the kept branch's.
        let last_on_path = settled.path.last().unwrap();
        assert_eq!(log.events[last_on_path.0].id, keep);
        assert_eq!(last_on_path.1, want);

        // Work continues from the kept branch.
        if keep_approval {
            assert_eq!(
                settled.check(&Action::Deliver, LEVEL),
                Ok(Status::Completed)
            );
            log.push_after(vec![s], Action::Deliver, "2026-03-07");
            assert_eq!(log.replay(LEVEL).status, Status::Completed);
        } else {
            assert!(settled.check(&Action::Deliver, LEVEL).is_err());
        }
    }
}

#[test]
fn a_settle_must_name_a_branch_give_a_reason_and_have_seen_the_conflict() {
    let (mut log, tip) = forwarded();
    let w = log.push_after(vec![tip], withdraw(), "2026-03-05");
    let a = log.push_after(vec![tip], approve(), "2026-03-05");
    let derived = log.replay(LEVEL);

    let err = derived.check(&settle(a, "  "), LEVEL).unwrap_err();
    assert_eq!(
        (err.field.as_str(), err.rule.as_str()),
        ("note", "a reason is required")
    );
    let err = derived
        .check(&settle(tip, "keep forward"), LEVEL)
        .unwrap_err();
    assert_eq!(err.field, "keep");
    assert_eq!(err.rule, "is not one of the conflicting branches");
    let err = derived
        .check(&settle(EventId::new(), "x"), LEVEL)
        .unwrap_err();
    assert_eq!(err.field, "keep");

    // The replay agrees: such settles do not end the conflict.
    log.push_after(vec![w, a], settle(a, ""), "2026-03-06");
    log.push_after(vec![w, a], settle(tip, "keep forward"), "2026-03-06");
    // A settle by someone who saw only one branch settles nothing.
    log.push_after(vec![a], settle(a, "approved"), "2026-03-06");
    let after = log.replay(LEVEL);
    for o in &after.outcomes[5..] {
        assert!(matches!(o, Outcome::Invalid(_)), "{o:?}");
    }
    assert!(after.in_conflict());
}

#[test]
fn a_branch_that_continues_unaware_stays_in_the_conflict() {
    // The township approves and the clerk delivers, both unaware of the resident's withdrawal.
    let (mut log, tip) = forwarded();
    let w = log.push_after(vec![tip], withdraw(), "2026-03-05");
    let a = log.push_after(vec![tip], approve(), "2026-03-05");
    let d = log.push_after(vec![a], Action::Deliver, "2026-03-06");
    let derived = log.replay(LEVEL);
    assert_eq!(derived.outcomes[5], Outcome::Applied);
    assert_eq!(
        derived.conflict,
        Some(Conflict {
            branches: vec![(w, Status::Withdrawn), (d, Status::Completed)]
        })
    );
    // Settling keeps the delivered branch.
    log.push_after(
        vec![w, d],
        settle(d, "result already handed over"),
        "2026-03-07",
    );
    let settled = log.replay(LEVEL);
    assert_eq!(settled.conflict, None);
    assert_eq!(settled.status, Status::Completed);
}

#[test]
fn concurrent_identical_accepts_are_not_a_conflict() {
    let mut log = Log::new();
    let s = log.push(Action::Submit);
    let a1 = log.push_after(vec![s], Action::Accept, "2026-03-02");
    let a2 = log.push_after(vec![s], Action::Accept, "2026-03-02");
    let derived = log.replay(LEVEL);
    assert_eq!(derived.conflict, None);
    assert_eq!(derived.status, Status::Accepted);
    assert!(derived.outcomes.iter().all(|o| *o == Outcome::Applied));
    // Work goes on after both.
    assert_eq!(
        derived.check(&Action::Forward, LEVEL),
        Ok(Status::Forwarded)
    );
    log.push_after(vec![a1, a2], Action::Forward, "2026-03-03");
    assert_eq!(log.replay(LEVEL).status, Status::Forwarded);
}

#[test]
fn accept_and_refuse_made_concurrently_conflict() {
    let mut log = Log::new();
    let s = log.push(Action::Submit);
    let a = log.push_after(vec![s], Action::Accept, "2026-03-02");
    let r = log.push_after(vec![s], refuse("incomplete materials"), "2026-03-02");
    let derived = log.replay(LEVEL);
    assert_eq!(
        derived.conflict,
        Some(Conflict {
            branches: vec![(a, Status::Accepted), (r, Status::NotAccepted)]
        })
    );
}

#[test]
fn events_with_unknown_or_later_after_ids_are_invalid() {
    // A withdrawal naming an event nobody has: it cannot have been made on a state we know.
    let (mut log, _) = forwarded();
    log.push_after(vec![EventId::new()], withdraw(), "2026-03-05");
    let derived = log.replay(LEVEL);
    assert!(
        matches!(derived.outcomes[3], Outcome::Invalid(_)),
        "{:?}",
        derived.outcomes[3]
    );
    assert_eq!(derived.status, Status::Forwarded);
    assert_eq!(
        derived.conflict, None,
        "a forged event must not open a conflict"
    );

    // A known parent and a forged one together are just as invalid.
    let (mut log, tip) = forwarded();
    log.push_after(vec![tip, EventId::new()], approve(), "2026-03-05");
    let derived = log.replay(LEVEL);
    assert!(matches!(derived.outcomes[3], Outcome::Invalid(_)));
    assert_eq!(derived.status, Status::Forwarded);

    // An event naming one that comes later in the log (not causal order).
    let mut log = Log::new();
    let later = EventId::new();
    log.push_after(vec![later], Action::Submit, "2026-03-02");
    log.events.push(Event {
        id: later,
        after: vec![],
        by: stamp(Role::Clerk, "2026-03-02"),
        action: Action::Submit,
    });
    let derived = log.replay(LEVEL);
    assert!(matches!(derived.outcomes[0], Outcome::Invalid(_)));
    assert_eq!(derived.outcomes[1], Outcome::Applied);
    assert_eq!(derived.status, Status::Submitted);

    // An event naming itself.
    let mut log = log_to(Status::Submitted, LEVEL).unwrap();
    let me = EventId::new();
    log.events.push(Event {
        id: me,
        after: vec![me],
        by: stamp(Role::Clerk, "2026-03-02"),
        action: Action::Accept,
    });
    assert!(matches!(log.replay(LEVEL).outcomes[1], Outcome::Invalid(_)));
}

#[test]
fn an_invalid_transition_is_marked_invalid() {
    let mut log = log_to(Status::Submitted, LEVEL).unwrap();
    log.push(Action::Deliver);
    let derived = log.replay(LEVEL);
    assert_eq!(
        derived.outcomes[1],
        Outcome::Invalid("deliver: not allowed while the request is submitted".into())
    );
    assert_eq!(derived.status, Status::Submitted);
    assert!(!derived.in_conflict());
}

// ---------------------------------------------------------------------------------------------
// Property tests
// ---------------------------------------------------------------------------------------------

fn action_strategy() -> impl Strategy<Value = (u8, u8)> {
    // (kind, variant) – mapped to an action by `make_action`; `variant` picks between a
    // valid and a broken payload and, for settle, which earlier event it names.
    (0u8..13, any::<u8>())
}

fn make_action(kind: u8, variant: u8, ids: &[EventId]) -> Action {
    let materials = [
        "ID card",
        "Income statement",
        "Household register (hukou) booklet",
    ];
    let m = materials[usize::from(variant) % 3];
    match kind {
        0 => Action::Submit,
        1 => Action::Accept,
        2 => refuse(if variant.is_multiple_of(4) { "" } else { "no" }),
        3 => Action::Complete,
        4 => Action::Forward,
        5 => ret(if variant.is_multiple_of(5) {
            &[]
        } else {
            std::slice::from_ref(&m)
        }),
        6 => supplement(if variant.is_multiple_of(3) {
            &[]
        } else {
            &materials
        }),
        7 => approve(),
        8 => reject(if variant.is_multiple_of(4) { " " } else { "no" }),
        9 => Action::Deliver,
        10 => withdraw(),
        11 => rate(if variant.is_multiple_of(2) {
            Rating::Dissatisfied
        } else {
            Rating::Satisfied
        }),
        _ => settle(
            ids.get(usize::from(variant) % ids.len().max(1))
                .copied()
                .unwrap_or_else(EventId::new),
            if variant.is_multiple_of(7) {
                ""
            } else {
                "settled"
            },
        ),
    }
}

/// Builds a log from generated parts: each event's `after` is a random subset of earlier
/// events, sometimes with an unknown id or an id of a later event.
fn build(parts: &[((u8, u8), Vec<u16>, u8)]) -> Vec<Event> {
    // Deterministic ids so that a failing case can be replayed.
    let ids: Vec<EventId> = (0..parts.len())
        .map(|i| EventId(uuid::Uuid::from_u128(i as u128 + 1)))
        .collect();
    parts
        .iter()
        .enumerate()
        .map(|(i, ((kind, variant), links, odd))| {
            let mut after: Vec<EventId> = links
                .iter()
                .filter(|_| i > 0)
                .map(|l| ids[usize::from(*l) % i])
                .collect();
            match odd % 16 {
                0 => after.push(EventId(uuid::Uuid::from_u128(0xdead_beef))),
                1 => after.push(ids[usize::from(*odd) % ids.len()]), // maybe later or itself
                _ => {}
            }
            Event {
                id: ids[i],
                after,
                by: bianmin_domain::Stamp {
                    user: "u".into(),
                    role: Role::Clerk,
                    device: format!("d{}", odd % 3),
                    at: Timestamp::at_noon(d("2026-03-02")),
                },
                action: make_action(*kind, *variant, &ids[..i]),
            }
        })
        .collect()
}

fn parts_strategy() -> impl Strategy<Value = Vec<((u8, u8), Vec<u16>, u8)>> {
    prop::collection::vec(
        (
            action_strategy(),
            prop::collection::vec(any::<u16>(), 0..3),
            any::<u8>(),
        ),
        0..24,
    )
}

fn level_strategy() -> impl Strategy<Value = HandlingLevel> {
    prop_oneof![
        Just(HandlingLevel::Village),
        Just(HandlingLevel::VillageCollectsTownshipHandles),
        Just(HandlingLevel::Township),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Whatever the log, replay returns, is deterministic and reports on every event.
    #[test]
    fn replay_never_panics_and_is_deterministic(parts in parts_strategy(), level in level_strategy()) {
        let events = build(&parts);
        let first = replay(&events, level);
        let second = replay(&events, level);
        prop_assert_eq!(&first, &second);
        prop_assert_eq!(first.outcomes.len(), events.len());
        if let Some(c) = &first.conflict {
            prop_assert!(c.branches.len() >= 2);
            prop_assert_eq!(first.status, c.branches[0].1);
            // Branches disagree: one per distinct status.
            let mut statuses: Vec<Status> = c.branches.iter().map(|b| b.1).collect();
            statuses.sort();
            statuses.dedup();
            prop_assert_eq!(statuses.len(), c.branches.len());
        }
        // The timeline only holds applied events, in log order.
        for w in first.path.windows(2) {
            prop_assert!(w[0].0 < w[1].0);
        }
        for &(i, _) in &first.path {
            prop_assert_eq!(&first.outcomes[i], &Outcome::Applied);
        }
        prop_assert_eq!(first.follow_up, first.rating.is_some_and(Rating::is_negative));
        // A clone replays to the same state (no hidden dependence on addresses or time).
        let copy = events.clone();
        prop_assert_eq!(replay(&copy, level), first);
    }

    /// What a device checks before appending is what the replay then does: an action the
    /// check allows applies and leads to the status it announced, one it refuses is invalid.
    #[test]
    fn check_agrees_with_replay(
        parts in parts_strategy(),
        level in level_strategy(),
        next in action_strategy(),
    ) {
        let mut events = build(&parts);
        let before = replay(&events, level);
        let ids: Vec<EventId> = events.iter().map(|e| e.id).collect();
        let action = make_action(next.0, next.1, &ids);
        // The author has seen everything (after = every event; ancestors are implied).
        let checked = before.check(&action, level);
        events.push(Event {
            id: EventId(uuid::Uuid::from_u128(u128::MAX)),
            after: ids,
            by: stamp(Role::Clerk, "2026-03-09"),
            action: action.clone(),
        });
        let after = replay(&events, level);
        let outcome = after.outcomes.last().unwrap();
        match checked {
            Ok(status) => {
                prop_assert_eq!(outcome, &Outcome::Applied, "{:?}", action);
                prop_assert!(!after.in_conflict());
                prop_assert_eq!(after.status, status);
            }
            Err(_) => {
                prop_assert!(matches!(outcome, Outcome::Invalid(_)), "{:?}", action);
                prop_assert_eq!(after.status, before.status);
                prop_assert_eq!(after.in_conflict(), before.in_conflict());
            }
        }
    }

    /// Two concurrent events after a common history: the conflict does not depend on which
    /// one the log holds first.
    #[test]
    fn concurrent_order_does_not_change_the_conflict(
        history in 0usize..6,
        x in action_strategy(),
        y in action_strategy(),
        level in level_strategy(),
    ) {
        let path = [
            Action::Submit,
            Action::Accept,
            Action::Forward,
            approve(),
            Action::Deliver,
            rate(Rating::Satisfied),
        ];
        let mut base = Log::new();
        for a in path.iter().take(history) {
            base.push(a.clone());
        }
        let tip: Vec<EventId> = base.last().into_iter().collect();
        let ax = make_action(x.0, x.1, &[]);
        let ay = make_action(y.0, y.1, &[]);
        let mut one = base.clone();
        let ix = one.push_after(tip.clone(), ax.clone(), "2026-03-05");
        let iy = one.push_after(tip.clone(), ay.clone(), "2026-03-05");
        let mut two = base.clone();
        two.events.push(one.events[one.events.len() - 1].clone());
        two.events.push(one.events[one.events.len() - 2].clone());
        let (r1, r2) = (one.replay(level), two.replay(level));
        prop_assert_eq!(r1.in_conflict(), r2.in_conflict());
        if let (Some(c1), Some(c2)) = (&r1.conflict, &r2.conflict) {
            let mut b1 = c1.branches.clone();
            let mut b2 = c2.branches.clone();
            b1.sort();
            b2.sort();
            prop_assert_eq!(b1, b2);
            // The conflict names both events.
            let named: Vec<EventId> = c1.branches.iter().map(|b| b.0).collect();
            prop_assert!(named.contains(&ix) && named.contains(&iy));
        } else {
            prop_assert_eq!(r1.status, r2.status);
        }
    }
}
