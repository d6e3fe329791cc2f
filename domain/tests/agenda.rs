//! "Four discussions, two opens" (四议两公开): stages, quorum and majority rules, notices,
//! objections, township review and concurrent records.

use bianmin_domain::{
    AgendaAction, AgendaEvent, AgendaState, Body, EventId, Meeting, MeetingResult, Notice,
    Objection, ReviewKind, Role, Stage, Stamp, Timestamp, ValidationError, replay_agenda,
};
use chrono::NaiveDate;

fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn meeting(body: Body, on: &str, entitled: u32, present: u32, votes_for: u32) -> Meeting {
    Meeting {
        body,
        held_on: d(on),
        entitled,
        present,
        households: None,
        households_represented: None,
        votes_for,
        votes_against: present - votes_for.min(present),
        abstentions: 0,
        minutes: "会议记录：讨论村集体果园承包方案".into(),
        sign_in_photos: vec!["photo://sign-in-1.jpg".into()],
    }
}

fn by_households(present: u32, households: u32, represented: u32, votes_for: u32) -> Meeting {
    Meeting {
        households: Some(households),
        households_represented: Some(represented),
        ..meeting(
            Body::VillagersMeeting,
            "2026-03-15",
            1000,
            present,
            votes_for,
        )
    }
}

fn notice(on: &str, days: u32) -> Notice {
    Notice {
        text: "村民代表会议决议：果园承包方案".into(),
        posted_on: d(on),
        period_days: days,
        place: "村务公开栏".into(),
    }
}

fn objection(on: &str) -> AgendaAction {
    AgendaAction::Objection(Objection {
        received_on: d(on),
        summary: "承包期限过长".into(),
        response: String::new(),
    })
}

fn review(comment: &str) -> AgendaAction {
    AgendaAction::TownshipReview {
        review: ReviewKind::Reviewed,
        comment: comment.into(),
    }
}

fn settle(keep: EventId, note: &str) -> AgendaAction {
    AgendaAction::Settle {
        keep,
        note: note.into(),
    }
}

#[derive(Debug, Default, Clone)]
struct Item {
    events: Vec<AgendaEvent>,
}

impl Item {
    fn state(&self) -> AgendaState {
        replay_agenda(&self.events)
    }

    fn check(&self, action: &AgendaAction) -> Result<(), ValidationError> {
        self.state().check(&self.events, action)
    }

    /// Appends after the previous event, on the first tablet.
    fn push(&mut self, action: AgendaAction) -> EventId {
        let after = self.events.last().map(|e| e.id).into_iter().collect();
        self.push_after(after, action, "tablet-1")
    }

    fn push_after(&mut self, after: Vec<EventId>, action: AgendaAction, dev: &str) -> EventId {
        let role = match action {
            AgendaAction::TownshipReview { .. } => Role::Reviewer,
            _ => Role::Clerk,
        };
        let id = EventId::new();
        self.events.push(AgendaEvent {
            id,
            after,
            by: Stamp {
                user: format!("u-{role}"),
                role,
                device: dev.into(),
                at: Timestamp::at_noon(d("2026-03-01")),
            },
            action,
        });
        id
    }

    /// Checks, then appends; panics if the check refuses.
    fn record(&mut self, action: AgendaAction) -> EventId {
        if let Err(e) = self.check(&action) {
            panic!("{} refused: {e}", action.kind());
        }
        self.push(action)
    }
}

fn passed(body: Body, on: &str) -> AgendaAction {
    let m = match body {
        Body::PartyBranch => meeting(body, on, 5, 5, 5),
        Body::TwoCommittees => meeting(body, on, 9, 8, 7),
        Body::PartyMembers => meeting(body, on, 40, 30, 25),
        Body::VillagersMeeting => meeting(body, on, 800, 500, 400),
        Body::RepresentativesMeeting => meeting(body, on, 35, 30, 20),
    };
    assert_eq!(m.result(), MeetingResult::Passed);
    AgendaAction::Meeting(m)
}

/// An item with stages 1 to `n` done (meetings on 2, 5, 10 and 15 March 2026).
fn item_through(n: usize) -> Item {
    let mut item = Item::default();
    let meetings = [
        (Body::PartyBranch, "2026-03-02"),
        (Body::TwoCommittees, "2026-03-05"),
        (Body::PartyMembers, "2026-03-10"),
        (Body::RepresentativesMeeting, "2026-03-15"),
    ];
    for (body, on) in meetings.into_iter().take(n) {
        item.record(passed(body, on));
    }
    if n >= 5 {
        // Posted Mon 16 Mar for 7 days: 16..22 Mar.
        item.record(AgendaAction::ResolutionNotice(notice("2026-03-16", 7)));
    }
    if n >= 6 {
        item.record(AgendaAction::ResultsNotice(notice("2026-06-01", 15)));
    }
    item
}

fn no_quorum(r: &MeetingResult) -> &str {
    match r {
        MeetingResult::NoQuorum(why) => why,
        other => panic!("expected no quorum, got {other:?}"),
    }
}

fn not_adopted(r: &MeetingResult) -> &str {
    match r {
        MeetingResult::NotAdopted(why) => why,
        other => panic!("expected not adopted, got {other:?}"),
    }
}

#[test]
fn the_six_stages_in_order() {
    let stages = [
        Stage::Proposal,
        Stage::Consultation,
        Stage::Review,
        Stage::Resolution,
        Stage::ResolutionNotice,
        Stage::ResultsNotice,
        Stage::Done,
    ];
    for (n, want) in stages.iter().enumerate() {
        let st = item_through(n).state();
        assert_eq!(st.stage, *want, "after {n} stages");
        assert_eq!(usize::from(st.stage.number()), n + 1);
        assert!(st.invalid.is_empty());
        assert!(st.conflict.is_none());
    }
    let done = item_through(6).state();
    assert_eq!(done.meetings.len(), 4);
    assert!(done.meetings.iter().all(|m| m.1 == MeetingResult::Passed));
    assert_eq!(done.resolution_notice, Some(4));
    assert_eq!(done.results_notice, Some(5));
    assert_eq!(Stage::ResolutionNotice.as_str(), "resolution_notice");
}

#[test]
fn stage_four_may_be_a_villagers_meeting_instead_of_representatives() {
    let mut item = item_through(3);
    item.record(passed(Body::VillagersMeeting, "2026-03-15"));
    assert_eq!(item.state().stage, Stage::ResolutionNotice);
}

#[test]
fn a_meeting_out_of_order_is_refused() {
    let bodies = [
        (Body::PartyBranch, 1, "proposal"),
        (Body::TwoCommittees, 2, "consultation"),
        (Body::PartyMembers, 3, "review"),
        (Body::VillagersMeeting, 4, "resolution"),
        (Body::RepresentativesMeeting, 4, "resolution"),
    ];
    let names = ["proposal", "consultation", "review", "resolution"];
    for done in 0..=6 {
        let item = item_through(done);
        for (body, stage, name) in bodies {
            let m = passed(body, "2026-07-01");
            let result = item.check(&m);
            if stage == done + 1 {
                assert_eq!(result, Ok(()), "{body:?} after {done}");
                continue;
            }
            let err = result.unwrap_err();
            assert_eq!(err.field, "meeting.body");
            if done < 4 {
                assert_eq!(
                    err.rule,
                    format!(
                        "the item is at stage {} ({}); a meeting of stage {stage} ({name}) is out of order",
                        done + 1,
                        names.get(done).copied().unwrap_or("-")
                    )
                );
            } else {
                assert!(err.rule.ends_with("is out of order"), "{}", err.rule);
            }
        }
    }

    // Skipping the Party members' meeting in the log: kept as evidence, no effect.
    let mut item = item_through(2);
    item.push(passed(Body::RepresentativesMeeting, "2026-03-15"));
    let st = item.state();
    assert_eq!(st.stage, Stage::Review);
    assert_eq!(st.meetings.len(), 2);
    assert_eq!(st.invalid.len(), 1);
    assert_eq!(st.invalid[0].0, 2);
    assert!(st.invalid[0].1.contains("out of order"));
    assert!(st.conflict.is_none(), "made in sequence: not a conflict");
}

#[test]
fn a_meeting_cannot_predate_the_previous_one() {
    let item = item_through(2); // consultation on 5 Mar
    let err = item
        .check(&passed(Body::PartyMembers, "2026-03-04"))
        .unwrap_err();
    assert_eq!(err.field, "meeting.held_on");
    assert_eq!(err.rule, "cannot be before the previous meeting");
    assert_eq!(
        item.check(&passed(Body::PartyMembers, "2026-03-05")),
        Ok(())
    );
}

#[test]
fn representatives_meeting_needs_two_thirds_present_and_a_majority_of_those_present() {
    let reps = |present, votes_for| {
        meeting(
            Body::RepresentativesMeeting,
            "2026-03-15",
            35,
            present,
            votes_for,
        )
    };
    // 23 of 35 is less than two thirds (23 * 3 = 69 < 70).
    let why = no_quorum(&reps(23, 23).result()).to_string();
    assert!(why.contains("two thirds"), "{why}");
    assert!(why.contains("Art. 26"));
    // 24 of 35 is enough (72 >= 70); 13 of 24 is a majority of those present, 12 is not.
    assert_eq!(reps(24, 13).result(), MeetingResult::Passed);
    let why = not_adopted(&reps(24, 12).result()).to_string();
    assert_eq!(why, "needs votes for from more than half of those present");
    // Exactly two thirds is enough: 20 of 30.
    let m = meeting(Body::RepresentativesMeeting, "2026-03-15", 30, 20, 11);
    assert_eq!(m.result(), MeetingResult::Passed);
    let m = meeting(Body::RepresentativesMeeting, "2026-03-15", 30, 19, 19);
    assert!(matches!(m.result(), MeetingResult::NoQuorum(_)));
}

#[test]
fn villagers_meeting_by_adults_or_by_two_thirds_of_households() {
    let adults = |present, votes_for| {
        meeting(
            Body::VillagersMeeting,
            "2026-03-15",
            1000,
            present,
            votes_for,
        )
    };
    // Exactly half of the 1000 adults is not more than half.
    let why = no_quorum(&adults(500, 500).result()).to_string();
    assert!(
        why.contains("more than half of villagers aged 18 or over"),
        "{why}"
    );
    assert!(why.contains("two thirds of households"));
    assert!(why.contains("Art. 22"));
    assert_eq!(adults(501, 251).result(), MeetingResult::Passed);
    // Majority of those present, not of all adults.
    assert_eq!(
        not_adopted(&adults(501, 250).result()),
        "needs votes for from more than half of those present"
    );

    // By households: East Village has 412; two thirds is 274.67, so 275 are needed.
    assert_eq!(
        by_households(300, 412, 275, 151).result(),
        MeetingResult::Passed
    );
    assert!(matches!(
        by_households(300, 412, 274, 300).result(),
        MeetingResult::NoQuorum(_)
    ));
    // Quorate by households, the majority is still of those present.
    assert!(matches!(
        by_households(300, 412, 275, 150).result(),
        MeetingResult::NotAdopted(_)
    ));
    // Either way suffices: many adults, few households represented.
    assert_eq!(
        by_households(600, 412, 10, 301).result(),
        MeetingResult::Passed
    );
}

#[test]
fn party_members_meeting_needs_votes_from_more_than_half_of_all_members() {
    let pm = |present, votes_for| meeting(Body::PartyMembers, "2026-03-10", 40, present, votes_for);
    assert!(matches!(pm(20, 20).result(), MeetingResult::NoQuorum(_)));
    // 21 present, 20 for: a majority of those present but not of all 40 members.
    assert_eq!(
        not_adopted(&pm(21, 20).result()),
        "needs votes for from more than half of all members"
    );
    assert_eq!(pm(21, 21).result(), MeetingResult::Passed);
    assert_eq!(pm(40, 21).result(), MeetingResult::Passed);
}

#[test]
fn party_branch_and_two_committees_need_half_present_and_half_of_those_present() {
    for body in [Body::PartyBranch, Body::TwoCommittees] {
        let m = |entitled, present, votes_for| {
            meeting(body, "2026-03-02", entitled, present, votes_for)
        };
        assert_eq!(
            no_quorum(&m(6, 3, 3).result()),
            "needs more than half of the members present"
        );
        assert_eq!(m(5, 3, 2).result(), MeetingResult::Passed);
        assert!(matches!(m(5, 3, 1).result(), MeetingResult::NotAdopted(_)));
        assert!(matches!(m(7, 4, 2).result(), MeetingResult::NotAdopted(_)));
    }
}

#[test]
fn a_failed_meeting_is_recorded_but_the_stage_does_not_advance() {
    let mut item = item_through(3);
    // 23 of 35 representatives: no quorum.
    let first = AgendaAction::Meeting(meeting(
        Body::RepresentativesMeeting,
        "2026-03-15",
        35,
        23,
        23,
    ));
    item.record(first);
    let st = item.state();
    assert_eq!(st.stage, Stage::Resolution);
    assert_eq!(st.meetings.len(), 4);
    assert_eq!(st.meetings[3].0, 3);
    assert!(matches!(st.meetings[3].1, MeetingResult::NoQuorum(_)));
    assert!(st.invalid.is_empty());
    // The resolution cannot be made public yet.
    let err = item
        .check(&AgendaAction::ResolutionNotice(notice("2026-03-16", 7)))
        .unwrap_err();
    assert_eq!(err.field, "resolution_notice");
    assert!(
        err.rule
            .contains("only after the resolution meeting passed")
    );

    // Quorate but not adopted: 24 present, 12 for.
    item.record(AgendaAction::Meeting(meeting(
        Body::RepresentativesMeeting,
        "2026-03-20",
        35,
        24,
        12,
    )));
    assert_eq!(item.state().stage, Stage::Resolution);
    // A third meeting passes.
    item.record(AgendaAction::Meeting(meeting(
        Body::RepresentativesMeeting,
        "2026-03-27",
        35,
        24,
        13,
    )));
    let st = item.state();
    assert_eq!(st.stage, Stage::ResolutionNotice);
    let results: Vec<bool> = st
        .meetings
        .iter()
        .map(|m| m.1 == MeetingResult::Passed)
        .collect();
    assert_eq!(results, vec![true, true, true, false, false, true]);
    // The notice may not predate the meeting that passed (27 Mar), only the failed ones.
    let err = item
        .check(&AgendaAction::ResolutionNotice(notice("2026-03-21", 7)))
        .unwrap_err();
    assert_eq!(err.field, "notice.posted_on");
    assert_eq!(err.rule, "cannot be before the resolution was made");
    assert_eq!(
        item.check(&AgendaAction::ResolutionNotice(notice("2026-03-27", 7))),
        Ok(())
    );
}

#[test]
fn meeting_records_are_validated() {
    let item = Item::default();
    let refused = |m: Meeting| item.check(&AgendaAction::Meeting(m)).unwrap_err();
    let base = || meeting(Body::PartyBranch, "2026-03-02", 5, 5, 5);

    let err = refused(Meeting {
        present: 6,
        ..base()
    });
    assert_eq!(err.field, "meeting.present");
    assert_eq!(err.rule, "cannot exceed the members entitled to attend");

    let err = refused(Meeting {
        present: 4,
        votes_for: 3,
        votes_against: 1,
        abstentions: 1,
        ..base()
    });
    assert_eq!(err.field, "meeting.votes");
    assert_eq!(err.rule, "for, against and abstaining exceed those present");
    // Votes that add up exactly are fine; fewer (some did not vote) are too.
    for abstentions in [0, 1] {
        let ok = Meeting {
            present: 5,
            votes_for: 3,
            votes_against: 1,
            abstentions,
            ..base()
        };
        assert_eq!(item.check(&AgendaAction::Meeting(ok)), Ok(()));
    }
    // Counts large enough to overflow a u32 sum are still refused, not wrapped.
    let err = refused(Meeting {
        entitled: u32::MAX,
        present: u32::MAX,
        votes_for: u32::MAX,
        votes_against: 1,
        ..base()
    });
    assert_eq!(err.field, "meeting.votes");

    for minutes in ["", "   \n"] {
        let err = refused(Meeting {
            minutes: minutes.into(),
            ..base()
        });
        assert_eq!(
            (err.field.as_str(), err.rule.as_str()),
            ("meeting.minutes", "are required")
        );
    }
    let err = refused(Meeting {
        entitled: 0,
        present: 0,
        votes_for: 0,
        votes_against: 0,
        ..base()
    });
    assert_eq!(err.field, "meeting.entitled");

    // Households: both or neither, represented <= households, villagers' meeting only.
    let villagers = |h, r| Meeting {
        households: h,
        households_represented: r,
        ..meeting(Body::VillagersMeeting, "2026-03-15", 800, 500, 400)
    };
    let item = item_through(3);
    let refused = |m: Meeting| item.check(&AgendaAction::Meeting(m)).unwrap_err();
    assert_eq!(
        refused(villagers(Some(412), Some(413))).field,
        "meeting.households_represented"
    );
    assert_eq!(
        refused(villagers(Some(412), None)).rule,
        "give both households and those represented"
    );
    assert_eq!(
        refused(villagers(None, Some(300))).field,
        "meeting.households"
    );
    let reps = Meeting {
        households: Some(412),
        households_represented: Some(300),
        ..meeting(Body::RepresentativesMeeting, "2026-03-15", 35, 30, 20)
    };
    assert_eq!(
        refused(reps).rule,
        "only a villagers' meeting counts households"
    );
    assert_eq!(
        item.check(&AgendaAction::Meeting(villagers(Some(412), Some(300)))),
        Ok(())
    );

    // An invalid record in the log is kept but changes nothing.
    let mut item = Item::default();
    item.push(AgendaAction::Meeting(Meeting {
        present: 6,
        ..base()
    }));
    let st = item.state();
    assert_eq!(st.stage, Stage::Proposal);
    assert!(st.meetings.is_empty());
    assert_eq!(
        st.invalid,
        vec![(
            0,
            "meeting.present: cannot exceed the members entitled to attend".to_string()
        )]
    );
}

#[test]
fn the_resolution_notice_comes_only_after_stage_four_passed() {
    for n in 0..4 {
        let err = item_through(n)
            .check(&AgendaAction::ResolutionNotice(notice("2026-03-16", 7)))
            .unwrap_err();
        assert_eq!(err.field, "resolution_notice", "after {n} stages");
        assert_eq!(
            err.rule,
            "the resolution is made public only after the resolution meeting passed"
        );
    }
    let item = item_through(4); // resolved 15 Mar
    let check = |n: Notice| item.check(&AgendaAction::ResolutionNotice(n));
    assert_eq!(check(notice("2026-03-15", 7)), Ok(()));
    assert_eq!(
        check(notice("2026-03-14", 7)).unwrap_err().field,
        "notice.posted_on"
    );
    let err = check(Notice {
        text: " ".into(),
        ..notice("2026-03-16", 7)
    })
    .unwrap_err();
    assert_eq!(
        (err.field.as_str(), err.rule.as_str()),
        ("notice.text", "is required")
    );
    for days in [0, 366] {
        let err = check(notice("2026-03-16", days)).unwrap_err();
        assert_eq!(err.field, "notice.period_days");
        assert_eq!(err.rule, "must be 1 to 365 days");
    }
    assert_eq!(check(notice("2026-03-16", 365)), Ok(()));
    assert_eq!(check(notice("2026-03-16", 1)), Ok(()));

    // A second resolution notice is refused once the first is posted.
    let item = item_through(5);
    assert!(
        item.check(&AgendaAction::ResolutionNotice(notice("2026-03-17", 7)))
            .is_err()
    );
}

#[test]
fn the_results_notice_comes_only_after_the_resolution_notice_period() {
    for n in 0..5 {
        let err = item_through(n)
            .check(&AgendaAction::ResultsNotice(notice("2026-06-01", 7)))
            .unwrap_err();
        assert_eq!(err.field, "results_notice", "after {n} stages");
        assert_eq!(
            err.rule,
            "the results are made public only after the resolution notice"
        );
    }
    // Resolution notice posted 16 Mar for 7 days: the last day is Sun 22 Mar.
    let item = item_through(5);
    let st = item.state();
    let AgendaAction::ResolutionNotice(posted) = &item.events[st.resolution_notice.unwrap()].action
    else {
        panic!("the resolution notice")
    };
    assert_eq!(posted.ends_on(), d("2026-03-22"));
    for day in ["2026-03-16", "2026-03-22"] {
        let err = item
            .check(&AgendaAction::ResultsNotice(notice(day, 7)))
            .unwrap_err();
        assert_eq!(err.field, "notice.posted_on");
        assert_eq!(
            err.rule,
            "must be after the resolution notice period ends (2026-03-22)"
        );
    }
    assert_eq!(
        item.check(&AgendaAction::ResultsNotice(notice("2026-03-23", 7))),
        Ok(())
    );
    // Once posted, not again.
    let done = item_through(6);
    let err = done
        .check(&AgendaAction::ResultsNotice(notice("2026-07-01", 7)))
        .unwrap_err();
    assert_eq!(err.rule, "the results notice is already posted");
}

#[test]
fn objections_only_while_a_notice_is_posted() {
    // Nothing posted yet.
    for n in 0..5 {
        let err = item_through(n).check(&objection("2026-03-16")).unwrap_err();
        assert_eq!(err.field, "objection.received_on");
        assert_eq!(err.rule, "objections are recorded while a notice is posted");
    }
    // Resolution notice: 16 to 22 Mar inclusive.
    let mut item = item_through(5);
    for day in ["2026-03-15", "2026-03-23"] {
        assert!(item.check(&objection(day)).is_err(), "{day}");
    }
    for day in ["2026-03-16", "2026-03-19", "2026-03-22"] {
        assert_eq!(item.check(&objection(day)), Ok(()), "{day}");
    }
    let err = item
        .check(&AgendaAction::Objection(Objection {
            received_on: d("2026-03-18"),
            summary: "  ".into(),
            response: String::new(),
        }))
        .unwrap_err();
    assert_eq!(err.field, "objection.summary");

    item.record(objection("2026-03-18"));
    item.record(objection("2026-03-22"));
    // Results notice: 1 to 15 Jun.
    item.record(AgendaAction::ResultsNotice(notice("2026-06-01", 15)));
    assert_eq!(item.check(&objection("2026-06-15")), Ok(()));
    assert!(item.check(&objection("2026-06-16")).is_err());
    assert!(
        item.check(&objection("2026-04-01")).is_err(),
        "between the notices"
    );
    item.record(objection("2026-06-02"));
    item.push(objection("2026-07-01")); // out of any notice: kept as invalid
    let st = item.state();
    assert_eq!(st.objections, vec![5, 6, 8]);
    assert_eq!(st.invalid.len(), 1);
    assert_eq!(st.invalid[0].0, 9);
    assert_eq!(st.stage, Stage::Done);
}

#[test]
fn the_township_reviews_at_any_stage() {
    for n in 0..=6 {
        let mut item = item_through(n);
        item.record(review("程序合规，予以备案"));
        item.record(AgendaAction::TownshipReview {
            review: ReviewKind::Comment,
            comment: "请补充签到表照片".into(),
        });
        let st = item.state();
        assert_eq!(st.reviews, vec![n, n + 1]);
        // A review does not move the stage.
        assert_eq!(st.stage, item_through(n).state().stage);
    }
    let err = Item::default().check(&review(" ")).unwrap_err();
    assert_eq!(
        (err.field.as_str(), err.rule.as_str()),
        ("comment", "is required")
    );
}

#[test]
fn concurrent_records_of_a_stage_conflict_until_settled() {
    // Both tablets record the Party branch meeting without seeing each other.
    let mut item = Item::default();
    let a = item.push_after(vec![], passed(Body::PartyBranch, "2026-03-02"), "tablet-1");
    let b = item.push_after(
        vec![],
        AgendaAction::Meeting(meeting(Body::PartyBranch, "2026-03-02", 5, 4, 4)),
        "tablet-2",
    );
    let st = item.state();
    assert_eq!(st.conflict, Some(vec![a, b]));
    assert!(st.invalid.is_empty(), "a concurrent record is not invalid");

    // Nothing goes on until a person settles, except the township's review.
    let err = item
        .check(&passed(Body::TwoCommittees, "2026-03-05"))
        .unwrap_err();
    assert_eq!(err.field, "meeting");
    assert_eq!(err.rule, "concurrent records conflict: settle first");
    assert_eq!(item.check(&review("两台设备重复录入，请核实")), Ok(()));

    // Settling needs one of the records and a reason.
    let err = item.check(&settle(EventId::new(), "x")).unwrap_err();
    assert_eq!(err.field, "keep");
    let err = item.check(&settle(b, " ")).unwrap_err();
    assert_eq!(
        (err.field.as_str(), err.rule.as_str()),
        ("note", "a reason is required")
    );

    item.push_after(
        vec![a, b],
        settle(b, "sign-in sheet shows 4 present"),
        "tablet-1",
    );
    let st = item.state();
    assert_eq!(st.conflict, None);
    assert_eq!(st.stage, Stage::Consultation);
    assert_eq!(
        st.meetings,
        vec![(1, MeetingResult::Passed)],
        "the kept record counts"
    );
    assert!(st.invalid.is_empty());
    // Work continues.
    item.record(passed(Body::TwoCommittees, "2026-03-05"));
    assert_eq!(item.state().stage, Stage::Review);

    // Without a conflict there is nothing to settle.
    let err = item.check(&settle(a, "again")).unwrap_err();
    assert_eq!(err.field, "settle");
}

#[test]
fn keeping_a_failed_record_leaves_the_stage_where_it_was() {
    // Tablet 1 records the representatives' meeting as passed; tablet 2 records the same
    // meeting with the true count, 23 of 35 present: no quorum.
    let mut item = item_through(3);
    let tip = item.events.last().unwrap().id;
    let a = item.push_after(
        vec![tip],
        passed(Body::RepresentativesMeeting, "2026-03-15"),
        "tablet-1",
    );
    let b = item.push_after(
        vec![tip],
        AgendaAction::Meeting(meeting(
            Body::RepresentativesMeeting,
            "2026-03-15",
            35,
            23,
            23,
        )),
        "tablet-2",
    );
    assert_eq!(item.state().conflict, Some(vec![a, b]));
    item.push_after(
        vec![a, b],
        settle(b, "sign-in sheet: 23 present"),
        "tablet-2",
    );
    let st = item.state();
    assert_eq!(st.conflict, None);
    assert!(matches!(
        st.meetings.last(),
        Some((4, MeetingResult::NoQuorum(_)))
    ));
    // The resolution was not made: the item is still at stage 4 and cannot be published.
    assert_eq!(st.stage, Stage::Resolution);
    assert!(
        item.check(&AgendaAction::ResolutionNotice(notice("2026-03-16", 7)))
            .is_err()
    );
    // A new meeting may be held.
    item.record(AgendaAction::Meeting(meeting(
        Body::RepresentativesMeeting,
        "2026-03-20",
        35,
        30,
        20,
    )));
    assert_eq!(item.state().stage, Stage::ResolutionNotice);
}

#[test]
fn concurrent_resolution_notices_conflict_and_settle() {
    let mut item = item_through(4);
    let tip = item.events.last().unwrap().id;
    let a = item.push_after(
        vec![tip],
        AgendaAction::ResolutionNotice(notice("2026-03-16", 7)),
        "tablet-1",
    );
    let b = item.push_after(
        vec![tip],
        AgendaAction::ResolutionNotice(notice("2026-03-17", 10)),
        "tablet-2",
    );
    assert_eq!(item.state().conflict, Some(vec![a, b]));
    item.push_after(
        vec![a, b],
        settle(b, "the board shows the 17th"),
        "tablet-1",
    );
    let st = item.state();
    assert_eq!(st.conflict, None);
    assert_eq!(st.resolution_notice, Some(5));
    // The kept notice's period (17 to 26 Mar) is the one that counts.
    assert!(
        item.check(&AgendaAction::ResultsNotice(notice("2026-03-26", 7)))
            .is_err()
    );
    assert_eq!(
        item.check(&AgendaAction::ResultsNotice(notice("2026-03-27", 7))),
        Ok(())
    );
    assert_eq!(item.check(&objection("2026-03-26")), Ok(()));
}

#[test]
fn replay_never_panics_on_arbitrary_agenda_logs() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};
    let mut runner = TestRunner::new(Config::with_cases(256));
    let strategy = prop::collection::vec((0u8..9, any::<u8>(), any::<u8>()), 0..20);
    runner
        .run(&strategy, |parts| {
            let mut item = Item::default();
            let mut ids = Vec::new();
            for (i, (kind, a, b)) in parts.iter().enumerate() {
                let on = format!("2026-03-{:02}", 1 + (usize::from(*a) % 28));
                let action = match kind {
                    0 => passed(Body::PartyBranch, &on),
                    1 => passed(Body::TwoCommittees, &on),
                    2 => passed(Body::PartyMembers, &on),
                    3 => AgendaAction::Meeting(meeting(
                        Body::RepresentativesMeeting,
                        &on,
                        35,
                        u32::from(*b) % 36,
                        u32::from(*a) % 36,
                    )),
                    4 => AgendaAction::ResolutionNotice(notice(&on, u32::from(*b) % 30)),
                    5 => AgendaAction::ResultsNotice(notice(&on, 7)),
                    6 => objection(&on),
                    7 => review("ok"),
                    _ => settle(
                        ids.get(usize::from(*b) % ids.len().max(1))
                            .copied()
                            .unwrap_or(EventId(uuid::Uuid::nil())),
                        "n",
                    ),
                };
                let after: Vec<EventId> = if i == 0 || b.is_multiple_of(3) {
                    vec![]
                } else {
                    vec![ids[usize::from(*a) % i]]
                };
                ids.push(item.push_after(after, action, "t"));
            }
            let one = item.state();
            prop_assert_eq!(&one, &item.state());
            prop_assert!(one.stage <= Stage::Done);
            prop_assert!(one.meetings.len() + one.invalid.len() <= item.events.len());
            Ok(())
        })
        .unwrap();
}
