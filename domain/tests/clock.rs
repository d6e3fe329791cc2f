//! The working-day clock (承诺时限) on the official 2026 calendar.
//!
//! Expected dates are worked out by hand in the comments. 2026 facts used (demo calendar):
//! 1-3 Jan, 15-23 Feb, 4-6 Apr, 1-5 May, 1-7 Oct are days off; Sun 4 Jan, Sat 14 Feb,
//! Sat 9 May and Sat 10 Oct are adjusted working days.

mod common;

use bianmin_domain::{
    Action, Clock, Event, EventId, HandlingLevel, Rating, Role, Stamp, Status, Timestamp, Urgency,
    WorkingCalendar, demo, replay,
};
use common::*;

const TOWNSHIP: HandlingLevel = HandlingLevel::VillageCollectsTownshipHandles;

fn cal() -> WorkingCalendar {
    demo::calendar()
}

/// The committed time limit of a demo service item, checked against the catalog so that the
/// tests follow the published list.
fn limit(code: &str, expected: u32) -> u32 {
    let item = demo::catalog();
    let item = item.item(code).expect("demo item");
    assert_eq!(item.time_limit_days, expected, "{code}");
    item.time_limit_days
}

fn clock(log: &Log, level: HandlingLevel, days: u32) -> Clock {
    let derived = replay(&log.events, level);
    Clock::compute(&log.events, &derived, days, &cal())
}

/// A request submitted the day before `accepted_on` and accepted on `accepted_on`.
fn accepted_on(date: &str) -> Log {
    let mut log = Log::new();
    log.push_on(Action::Submit, date);
    log.push_on(Action::Accept, date);
    log
}

#[test]
fn no_clock_before_acceptance() {
    let days = limit("AID-TEMP", 10);
    for status in [
        Status::Draft,
        Status::Submitted,
        Status::NotAccepted,
        Status::Withdrawn,
    ] {
        let log = log_to(status, TOWNSHIP).unwrap();
        let c = clock(&log, TOWNSHIP, days);
        assert_eq!(c, Clock::NotStarted, "{status}");
        assert_eq!(c.due(), None);
        assert_eq!(c.on_time(), None);
        assert_eq!(c.urgency(d("2027-01-01"), &cal()), Urgency::None);
    }
}

#[test]
fn the_clock_starts_the_day_after_acceptance() {
    let days = limit("AID-TEMP", 10);
    // Accepted Mon 2 Mar 2026; 10 working days: 3,4,5,6, 9,10,11,12,13, 16 -> Mon 16 Mar.
    let log = accepted_on("2026-03-02");
    assert_eq!(
        clock(&log, TOWNSHIP, days),
        Clock::Running {
            due: d("2026-03-16")
        }
    );
    // Forwarding does not restart it.
    let mut log = log;
    log.push_on(Action::Forward, "2026-03-04");
    assert_eq!(clock(&log, TOWNSHIP, days).due(), Some(d("2026-03-16")));
}

#[test]
fn holidays_are_skipped() {
    let days = limit("SOC-PENSION-ENROL", 5);
    // Accepted Thu 30 Apr; 1-5 May off (Labour Day); Wed 6 (1), Thu 7 (2), Fri 8 (3),
    // Sat 9 adjusted (4), Sun 10 off, Mon 11 (5) -> Mon 11 May.
    let log = accepted_on("2026-04-30");
    assert_eq!(clock(&log, TOWNSHIP, days).due(), Some(d("2026-05-11")));

    // Accepted Fri 13 Feb, 3 days: Sat 14 adjusted (1), 15-23 Spring Festival off,
    // Tue 24 (2), Wed 25 (3) -> Wed 25 Feb.
    let days = limit("CIV-BIRTH-REG", 3);
    let log = accepted_on("2026-02-13");
    assert_eq!(clock(&log, TOWNSHIP, days).due(), Some(d("2026-02-25")));
}

#[test]
fn an_adjusted_working_sunday_counts() {
    // Accepted Wed 31 Dec 2025; 1-3 Jan off; Sun 4 Jan is a working day (调休), so one
    // working day later is that Sunday, two is Mon 5 Jan.
    let log = accepted_on("2025-12-31");
    assert_eq!(clock(&log, TOWNSHIP, 1).due(), Some(d("2026-01-04")));
    assert_eq!(clock(&log, TOWNSHIP, 2).due(), Some(d("2026-01-05")));
}

#[test]
fn an_adjusted_working_saturday_counts() {
    // Accepted Tue 29 Sep; Wed 30 Sep (1); 1-7 Oct off; Thu 8 (2), Fri 9 (3),
    // Sat 10 Oct adjusted (4), Sun 11 off, Mon 12 (5).
    let log = accepted_on("2026-09-29");
    assert_eq!(clock(&log, TOWNSHIP, 4).due(), Some(d("2026-10-10")));
    let days = limit("SOC-PENSION-ENROL", 5);
    assert_eq!(clock(&log, TOWNSHIP, days).due(), Some(d("2026-10-12")));
}

#[test]
fn the_clock_stops_while_returned_and_resumes_after_the_supplement() {
    let days = limit("AID-TEMP", 10);
    let mut log = accepted_on("2026-03-02"); // Mon
    log.push_on(Action::Forward, "2026-03-03");
    // Returned Thu 5 Mar: Tue 3, Wed 4, Thu 5 used (the day of the return counts) -> 7 left.
    log.push_on(ret(&["Proof of emergency"]), "2026-03-05");
    let paused = clock(&log, TOWNSHIP, days);
    assert_eq!(
        paused,
        Clock::Paused {
            remaining: 7,
            since: d("2026-03-05")
        }
    );
    assert_eq!(paused.due(), None);
    // Not overdue on Mon 16 Mar, the original deadline, nor long after: the clock is stopped.
    assert_eq!(paused.urgency(d("2026-03-16"), &cal()), Urgency::None);
    assert_eq!(paused.urgency(d("2026-04-30"), &cal()), Urgency::None);

    // Materials back Mon 16 Mar; counting resumes Tue 17: 17,18,19,20, 23,24,25 -> Wed 25 Mar.
    log.push_on(supplement(&["Proof of emergency"]), "2026-03-16");
    let running = clock(&log, TOWNSHIP, days);
    assert_eq!(
        running,
        Clock::Running {
            due: d("2026-03-25")
        }
    );

    // Approved on the due day: on time. A day later: late.
    let mut on_time = log.clone();
    on_time.push_on(approve(), "2026-03-25");
    let c = clock(&on_time, TOWNSHIP, days);
    assert_eq!(
        c,
        Clock::Stopped {
            due: d("2026-03-25"),
            ended_on: d("2026-03-25")
        }
    );
    assert_eq!(c.on_time(), Some(true));
    let mut late = log;
    late.push_on(approve(), "2026-03-26");
    assert_eq!(clock(&late, TOWNSHIP, days).on_time(), Some(false));
}

#[test]
fn two_returns_each_stop_the_clock() {
    let days = limit("AID-TEMP", 10);
    let mut log = accepted_on("2026-03-02"); // Mon
    // Returned by the clerk Wed 4 Mar: Tue 3, Wed 4 used -> 8 left.
    log.push_on(ret(&["ID card"]), "2026-03-04");
    // Back Fri 6 Mar (to accepted); counting resumes Mon 9.
    log.push_on(supplement(&["ID card"]), "2026-03-06");
    log.push_on(Action::Forward, "2026-03-09");
    // Returned by the township Wed 11 Mar: Mon 9, Tue 10, Wed 11 used -> 5 left.
    log.push_on(ret(&["Proof of emergency"]), "2026-03-11");
    assert_eq!(
        clock(&log, TOWNSHIP, days),
        Clock::Paused {
            remaining: 5,
            since: d("2026-03-11")
        }
    );
    // Back Thu 19 Mar; resumes Fri 20: 20, 23, 24, 25, 26 -> Thu 26 Mar.
    log.push_on(supplement(&["Proof of emergency"]), "2026-03-19");
    assert_eq!(clock(&log, TOWNSHIP, days).due(), Some(d("2026-03-26")));
}

#[test]
fn a_supplement_on_a_weekend_resumes_on_the_next_working_day() {
    let days = limit("AID-TEMP", 10);
    let mut log = accepted_on("2026-03-02");
    log.push_on(Action::Forward, "2026-03-03");
    log.push_on(ret(&["ID card"]), "2026-03-05"); // 7 left, as above
    // Back Sat 7 Mar; Fri 6 does not count (paused); Mon 9 is the first counted day:
    // 9,10,11,12,13, 16,17 -> Tue 17 Mar.
    log.push_on(supplement(&["ID card"]), "2026-03-07");
    assert_eq!(clock(&log, TOWNSHIP, days).due(), Some(d("2026-03-17")));
}

#[test]
fn a_return_on_the_due_day_leaves_no_days_but_is_not_late() {
    let days = limit("SOC-PENSION-ENROL", 5);
    // Accepted Mon 2 Mar, 5 days: 3,4,5,6,9 -> due Mon 9 Mar.
    let mut log = accepted_on("2026-03-02");
    log.push_on(Action::Forward, "2026-03-03");
    assert_eq!(clock(&log, TOWNSHIP, days).due(), Some(d("2026-03-09")));
    // The township returns it on Mon 9 Mar, the last day: all 5 days are used, none missed.
    log.push_on(ret(&["ID card"]), "2026-03-09");
    assert_eq!(
        clock(&log, TOWNSHIP, days),
        Clock::Paused {
            remaining: 0,
            since: d("2026-03-09")
        }
    );
    // Back Wed 11 Mar. No working day is left, and none has been exceeded: the township must
    // decide on Wed 11 itself (counting would resume on Thu 12 with nothing left).
    log.push_on(supplement(&["ID card"]), "2026-03-11");
    let c = clock(&log, TOWNSHIP, days);
    assert_eq!(
        c,
        Clock::Running {
            due: d("2026-03-11")
        }
    );
    assert_eq!(c.urgency(d("2026-03-11"), &cal()), Urgency::DueSoon);
    assert_eq!(c.urgency(d("2026-03-12"), &cal()), Urgency::Overdue);
    let mut decided = log;
    decided.push_on(approve(), "2026-03-11");
    assert_eq!(clock(&decided, TOWNSHIP, days).on_time(), Some(true));
}

#[test]
fn a_return_after_the_deadline_keeps_the_missed_deadline() {
    let days = limit("SOC-PENSION-ENROL", 5);
    // Due Mon 9 Mar as above; returned Wed 11 Mar (7 working days used, 2 too many).
    let mut log = accepted_on("2026-03-02");
    log.push_on(Action::Forward, "2026-03-03");
    log.push_on(ret(&["ID card"]), "2026-03-11");
    assert_eq!(
        clock(&log, TOWNSHIP, days),
        Clock::Paused {
            remaining: 0,
            since: d("2026-03-11")
        }
    );
    // The supplement does not buy new time: still due Mon 9 Mar, overdue.
    log.push_on(supplement(&["ID card"]), "2026-03-13");
    let c = clock(&log, TOWNSHIP, days);
    assert_eq!(c.due(), Some(d("2026-03-09")));
    assert_eq!(c.urgency(d("2026-03-13"), &cal()), Urgency::Overdue);
    log.push_on(approve(), "2026-03-13");
    assert_eq!(clock(&log, TOWNSHIP, days).on_time(), Some(false));
}

#[test]
fn urgency_overdue_due_soon_on_track() {
    let cal = cal();
    // Due Wed 25 Mar 2026.
    let c = Clock::Running {
        due: d("2026-03-25"),
    };
    // Fri 20 Mar: Mon 23, Tue 24, Wed 25 still to go (3 > 2) -> on track.
    assert_eq!(c.urgency(d("2026-03-20"), &cal), Urgency::OnTrack);
    // Sun 22 Mar: also 3 working days to go.
    assert_eq!(c.urgency(d("2026-03-22"), &cal), Urgency::OnTrack);
    // Mon 23 Mar: Tue 24, Wed 25 (2) -> due soon.
    assert_eq!(c.urgency(d("2026-03-23"), &cal), Urgency::DueSoon);
    // On the due day itself: due soon, not overdue (overdue is today > due).
    assert_eq!(c.urgency(d("2026-03-25"), &cal), Urgency::DueSoon);
    assert_eq!(c.urgency(d("2026-03-26"), &cal), Urgency::Overdue);

    // Working days, not calendar days: due Fri 9 Oct (accepted Tue 29 Sep, 3 days:
    // 30 Sep, 8 Oct, 9 Oct). On Wed 30 Sep only 8 and 9 Oct remain, although nine calendar
    // days do -> due soon. On Tue 29 Sep three remain -> on track.
    let log = accepted_on("2026-09-29");
    let c = clock(&log, TOWNSHIP, 3);
    assert_eq!(c.due(), Some(d("2026-10-09")));
    assert_eq!(c.urgency(d("2026-09-29"), &cal), Urgency::OnTrack);
    assert_eq!(c.urgency(d("2026-09-30"), &cal), Urgency::DueSoon);
    assert_eq!(c.urgency(d("2026-10-05"), &cal), Urgency::DueSoon);
    assert_eq!(c.urgency(d("2026-10-10"), &cal), Urgency::Overdue);

    // A stopped clock is never urgent.
    let stopped = Clock::Stopped {
        due: d("2026-03-25"),
        ended_on: d("2026-03-30"),
    };
    assert_eq!(stopped.urgency(d("2026-04-30"), &cal), Urgency::None);
}

#[test]
fn the_clock_ends_on_the_decision() {
    let days = limit("AID-TEMP", 10); // accepted Mon 2 Mar -> due Mon 16 Mar
    for (decision, role_status) in [
        (approve(), Status::Approved),
        (reject("income above the threshold"), Status::Rejected),
        (withdraw(), Status::Withdrawn),
    ] {
        let mut log = accepted_on("2026-03-02");
        log.push_on(Action::Forward, "2026-03-03");
        log.push_on(decision, "2026-03-10");
        assert_eq!(replay(&log.events, TOWNSHIP).status, role_status);
        let c = clock(&log, TOWNSHIP, days);
        assert_eq!(
            c,
            Clock::Stopped {
                due: d("2026-03-16"),
                ended_on: d("2026-03-10")
            },
            "{role_status}"
        );
        assert_eq!(c.on_time(), Some(true));
        assert_eq!(c.urgency(d("2026-03-20"), &cal()), Urgency::None);
    }

    // Approved in time, delivered after the deadline: the decision is what counts.
    let mut log = accepted_on("2026-03-02");
    log.push_on(Action::Forward, "2026-03-03");
    log.push_on(approve(), "2026-03-16");
    log.push_on(Action::Deliver, "2026-03-20");
    log.push_on(rate(Rating::Satisfied), "2026-03-21");
    let c = clock(&log, TOWNSHIP, days);
    assert_eq!(c.on_time(), Some(true));
    assert_eq!(
        c,
        Clock::Stopped {
            due: d("2026-03-16"),
            ended_on: d("2026-03-16")
        }
    );
}

#[test]
fn village_items_end_on_completion() {
    // A residence certificate is issued on the spot (0 days): due the day of acceptance.
    let days = limit("CIV-RESIDENCE-CERT", 0);
    let mut log = accepted_on("2026-03-02");
    assert_eq!(
        clock(&log, HandlingLevel::Village, days).due(),
        Some(d("2026-03-02"))
    );
    let mut next_day = log.clone();
    log.push_on(Action::Complete, "2026-03-02");
    assert_eq!(
        clock(&log, HandlingLevel::Village, days).on_time(),
        Some(true)
    );
    next_day.push_on(Action::Complete, "2026-03-03");
    assert_eq!(
        clock(&next_day, HandlingLevel::Village, days),
        Clock::Stopped {
            due: d("2026-03-02"),
            ended_on: d("2026-03-03")
        }
    );
    assert_eq!(
        clock(&next_day, HandlingLevel::Village, days).on_time(),
        Some(false)
    );

    // Mediation: 15 days from Mon 30 Mar: 31 Mar, 1,2,3 Apr (4), 4-6 Apr Qingming off,
    // 7,8,9,10 (8), 13..17 (13), 20, 21 (15) -> Tue 21 Apr.
    let days = limit("CIV-MEDIATION", 15);
    let log = accepted_on("2026-03-30");
    assert_eq!(
        clock(&log, HandlingLevel::Village, days).due(),
        Some(d("2026-04-21"))
    );
}

#[test]
fn withdrawn_while_returned_stops_the_clock() {
    let days = limit("AID-TEMP", 10);
    let mut log = accepted_on("2026-03-02");
    log.push_on(Action::Forward, "2026-03-03");
    log.push_on(ret(&["ID card"]), "2026-03-05");
    log.push_on(withdraw(), "2026-03-20");
    let c = clock(&log, TOWNSHIP, days);
    assert!(
        matches!(c, Clock::Stopped { ended_on, .. } if ended_on == d("2026-03-20")),
        "{c:?}"
    );
    assert_eq!(c.urgency(d("2026-03-20"), &cal()), Urgency::None);
}

#[test]
fn days_are_counted_on_china_standard_time() {
    // Accepted at 01:00 on Mon 2 Mar in Beijing, which is still Sunday 1 Mar in UTC: the
    // clock starts from Mon 2 Mar, so 1 working day later is Tue 3 Mar (not Mon 2 Mar).
    let utc_sunday_evening = Timestamp::at_noon(d("2026-03-01")).0 + 13 * 3600 * 1000;
    assert_eq!(Timestamp(utc_sunday_evening).china_date(), d("2026-03-02"));
    let by = |role| Stamp {
        user: "u".into(),
        role,
        device: "tablet-1".into(),
        at: Timestamp(utc_sunday_evening),
    };
    let submit = EventId::new();
    let events = vec![
        Event {
            id: submit,
            after: vec![],
            by: by(Role::Resident),
            action: Action::Submit,
        },
        Event {
            id: EventId::new(),
            after: vec![submit],
            by: by(Role::Clerk),
            action: Action::Accept,
        },
    ];
    let derived = replay(&events, TOWNSHIP);
    assert_eq!(
        Clock::compute(&events, &derived, 1, &cal()).due(),
        Some(d("2026-03-03"))
    );
}

#[test]
fn the_clock_follows_the_kept_branch_after_a_settle() {
    let days = limit("AID-TEMP", 10);
    let mut log = accepted_on("2026-03-02");
    let f = log.push_on(Action::Forward, "2026-03-03");
    let w = log.push_after(vec![f], withdraw(), "2026-03-05");
    let a = log.push_after(vec![f], approve(), "2026-03-20");
    log.push_after(vec![w, a], settle(a, "resident confirmed"), "2026-03-21");
    let c = clock(&log, TOWNSHIP, days);
    assert_eq!(
        c,
        Clock::Stopped {
            due: d("2026-03-16"),
            ended_on: d("2026-03-20")
        }
    );
    assert_eq!(c.on_time(), Some(false));
}
